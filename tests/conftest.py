"""Shared fixtures. Tests never touch the network: all data is in the repository.

Plain helper functions and paths are in ``helpers.py`` (pytest puts this folder on the import path).
"""

from __future__ import annotations

import geopandas as gpd
import pytest

from circles import demo, pipeline


@pytest.fixture(scope="session")
def demo_result():
    """The embedded demo analysed once per test session (every test that only reads it uses this)."""
    return pipeline.analyse(progress=False)


@pytest.fixture(scope="session")
def demo_facilities() -> gpd.GeoDataFrame:
    return gpd.read_file(demo.DEMO_FACILITIES)
