"""Files shipped inside the package (JavaScript and CSS of the maps), read when a map is built."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def read_asset(name: str) -> str:
    """The text of ``circles/assets/<name>`` (UTF-8)."""
    return resources.files("circles").joinpath("assets", name).read_text(encoding="utf-8")
