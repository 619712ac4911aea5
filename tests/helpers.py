"""Helpers shared by the tests (import them: ``from helpers import write_geojson``).

Fixtures live in ``conftest.py``; plain functions and paths live here, so that no test
imports from ``conftest``.
"""

from __future__ import annotations

import bz2
import gzip
import json
import re
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


ANDORRA = TESTS.parent / "bench" / "data" / "andorra.osm.pbf"

CLIP_LON = 116.352  # the demo cut at this meridian: a clipped extract


# ---------------------------------------------------------------------------- helpers
def open_osm_bytes(path: Path):
    """Open an OSM XML file (plain, .bz2 or .gz) for reading bytes."""
    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def to_osm_xml(path: Path, out: Path) -> Path:
    """Convert any OSM file to OSM XML with pyosmium's writer (the reference reads only XML)."""
    import osmium

    with osmium.SimpleWriter(str(out), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(path)):
            writer.add(obj)
    return out


def clip_osm(src: Path, out: Path, max_lon: float) -> Path:
    """A clipped extract: ``src`` without its nodes east of ``max_lon`` (ways and relations kept)."""
    with open_osm_bytes(src) as fh:
        text = fh.read().decode("utf-8")

    def keep(m: re.Match) -> str:
        lon = float(re.search(r'lon="([-\d.]+)"', m.group(0)).group(1))
        return "" if lon > max_lon else m.group(0)

    out.write_text(re.sub(r"<node [^>]*?(?:/>|>.*?</node>)", keep, text, flags=re.S), encoding="utf-8")
    return out
