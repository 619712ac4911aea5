"""The one reader of circles' YAML files: the packaged configuration (``circles/config/``),
the rulebooks (``circles/rules/``) and the user's own files of either kind."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from ._safety import special_file_error
from .errors import ConfigError

#: libyaml's safe loader when PyYAML was built with it (several times faster), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Largest YAML file read (rulebooks, departments, batch files, configuration). Reason: the
#: largest packaged rulebook is about 40 KB and a 300-city batch file about 100 KB; 16 MiB
#: leaves a wide margin. No source: a safety cap.
YAML_MAX_BYTES = 16 << 20
#: Most values (scalars, lists, mappings) a YAML file may hold once its aliases (``*name``) are
#: expanded. Reason: a 1 KB alias bomb ("billion laughs") expands to billions of values and
#: filled 3 GiB in 40 s; the largest packaged file holds a few thousand. No source: a safety cap.
YAML_MAX_NODES = 1_000_000


def _expanded_nodes(text: str, label: str) -> int:
    """The number of values the YAML ``text`` holds with every alias expanded, counted on the
    parser's events (nothing is built); stops with ConfigError past :data:`YAML_MAX_NODES`."""
    sizes: dict[str, int] = {}  # anchor -> expanded size of the anchored value
    stack: list[list] = [[None, 0]]  # open collections: [anchor, size so far]
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        stack[-1][1] += size
        if stack[-1][1] > YAML_MAX_NODES:
            raise ConfigError(
                f"{label}: expands to more than {YAML_MAX_NODES:,} values through its aliases (*name): a YAML bomb, "
                "not a circles file (limit circles._config.YAML_MAX_NODES)"
            )
    return int(stack[0][1])


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
        special = special_file_error(path)
        if special is not None:
            raise ConfigError(str(special))
        try:
            size = Path(path).stat().st_size
            if size > YAML_MAX_BYTES:
                raise ConfigError(
                    f"{label}: {size / 2**20:,.1f} MiB, over the limit of {YAML_MAX_BYTES / 2**20:g} MiB for a YAML "
                    "file (circles._config.YAML_MAX_BYTES)"
                )
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{label}: file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{label}: is a folder, expected a YAML file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{label}: not UTF-8 text ({exc})") from None
    try:
        _expanded_nodes(text, label)
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
