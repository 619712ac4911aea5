"""Shared fixtures. Tests never touch the network: all data is in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest

from circles import demo, pipeline

TESTS = Path(__file__).resolve().parent
TEST_DATA = TESTS / "data"
WEST_OAKLAND = TEST_DATA / "west_oakland.osm.bz2"


@pytest.fixture(scope="session")
def demo_result():
    """The embedded demo analysed once per test session."""
    return pipeline.analyse(progress=False)


@pytest.fixture(scope="session")
def demo_facilities() -> gpd.GeoDataFrame:
    return gpd.read_file(demo.DEMO_FACILITIES)


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write ``gdf`` as GeoJSON (overwriting) and return the path."""
    if path.exists():
        path.unlink()
    gdf.to_file(path, driver="GeoJSON")
    return path


def write_raw_geojson(features: list[dict], path: Path, crs: str | None = None) -> Path:
    """Write a FeatureCollection by hand (to produce inputs GeoPandas would refuse to write)."""
    fc = {"type": "FeatureCollection", "features": features}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path
