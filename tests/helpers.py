"""Helpers shared by the tests (import them: ``from helpers import write_geojson``).

Fixtures live in ``conftest.py``; plain functions and paths live here, so that no test
imports from ``conftest``.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd

TESTS = Path(__file__).resolve().parent
TEST_DATA = TESTS / "data"
WEST_OAKLAND = TEST_DATA / "west_oakland.osm.bz2"


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write ``gdf`` as GeoJSON (overwriting) and return the path."""
    if path.exists():
        path.unlink()
    gdf.to_file(path, driver="GeoJSON")
    return path


def write_raw_geojson(features: list[dict], path: Path, crs: str | None = None) -> Path:
    """Write a FeatureCollection by hand (to produce inputs GeoPandas would refuse to write)."""
    fc: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path
