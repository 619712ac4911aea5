"""The one reader of circles' YAML files: the packaged configuration (``circles/config/``),
the rulebooks (``circles/rules/``) and the user's own files of either kind."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from .errors import ConfigError

#: libyaml's safe loader when PyYAML was built with it (several times faster), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path | str | None, package: str | None = None, name: str | None = None) -> tuple[dict, str]:
    """A YAML mapping from ``path``, or from the packaged file ``name`` of ``package``;
    returns (data, label for messages). Raises ConfigError naming the file."""
    if package is not None:
        if name is None:
            raise ValueError("read_yaml: a packaged file needs its name")
        ref = resources.files(package).joinpath(name)
        label = f"{package.replace('.', '/')}/{name}"
        text = ref.read_text(encoding="utf-8")
    else:
        if path is None:
            raise ValueError("read_yaml: give a path or a package and a name")
        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{label}: file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{label}: is a folder, expected a YAML file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{label}: not UTF-8 text ({exc})") from None
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping at the top level")
    return data, label


def config_file(name: str, path: str | Path | None = None) -> tuple[dict, str]:
    """The user's file ``path`` when given, else the packaged ``circles/config/<name>``;
    returns (data, label for messages)."""
    return read_yaml(None, "circles.config", name) if path is None else read_yaml(path)
