"""circles: which everyday facilities can residents not reach on foot in 5, 10 or 15 minutes?

The modules read like the pipeline:

- :mod:`circles.load`       inputs in, validated
- :mod:`circles.network`    the walking network
- :mod:`circles.residents`  resident points carrying population
- :mod:`circles.reach`      exact along-street distances (the fast core); :mod:`circles.access` wraps it
- :mod:`circles.rulebook`   the standard as data
- :mod:`circles.gaps`       the gap report; :mod:`circles.ledger` the investigation ledger (工作台账)
- :mod:`circles.isochrones`, :mod:`circles.mapping`, :mod:`circles.figures`, :mod:`circles.export`   outputs
- :mod:`circles.pipeline`   everything in one call; :mod:`circles.cli` the command line

The names most notebooks need are importable from the package itself, loaded on first use so
that ``import circles`` stays fast::

    import circles
    result = circles.analyse()                 # the embedded demo
    circles.write_outputs(result, "results")
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .errors import CirclesError, ConfigError, InputError, OptionError, OutputError

try:
    __version__ = version("circles")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0+unknown"

#: Public name -> module it lives in (imported lazily by :func:`__getattr__`).
_LAZY = {
    "analyse": "pipeline",
    "write_outputs": "pipeline",
    "Result": "pipeline",
    "load_rulebook": "rulebook",
    "Rulebook": "rulebook",
    "read_walk_network": "network",
    "WalkNetwork": "network",
    "extract": "extract",
}

__all__ = [
    "CirclesError",
    "ConfigError",
    "InputError",
    "OptionError",
    "OutputError",
    "Result",
    "Rulebook",
    "WalkNetwork",
    "__version__",
    "analyse",
    "extract",
    "load_rulebook",
    "read_walk_network",
    "write_outputs",
]

if TYPE_CHECKING:  # pragma: no cover
    from .extract import extract
    from .network import WalkNetwork, read_walk_network
    from .pipeline import Result, analyse, write_outputs
    from .rulebook import Rulebook, load_rulebook


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'circles' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
