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


# --- figures and report pages ------------------------------------------------------------------


def text_boxes(fig, dpi: float = 300) -> list[tuple[str, object, object]]:
    """Every visible text of ``fig`` drawn at ``dpi``: (text, artist, display box clipped to its clip box)."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig.set_dpi(dpi)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        box = t.get_window_extent(renderer)
        clip = t.get_clip_box() if t.get_clip_on() else None
        if clip is not None:
            box = Bbox.intersection(box, clip)
            if box is None:
                continue
        out.append((t.get_text(), t, box))
    return out


def layout_problems(fig, dpi: float = 300, tol: float = 0.5) -> list[str]:
    """What is wrong with the layout of ``fig`` drawn at ``dpi`` (empty when nothing):

    - a text whose drawn box leaves the page;
    - a table-cell or legend text (gid ``cell:x0:x1``, in points) wider than its cell;
    - two page-level texts (titles, tables, legends, footers) whose boxes overlap.
    """
    boxes = text_boxes(fig, dpi)
    W, H = fig.bbox.width, fig.bbox.height
    problems = [
        f"outside the page: {s!r}"
        for s, _, b in boxes
        if b.x0 < -tol or b.y0 < -tol or b.x1 > W + tol or b.y1 > H + tol
    ]
    for s, t, b in boxes:
        gid = t.get_gid() or ""
        if gid.startswith("cell:"):
            x0, x1 = (float(v) * dpi / 72 for v in gid.split(":")[1:])
            if b.x0 < x0 - tol or b.x1 > x1 + tol:
                problems.append(f"wider than its cell: {s!r}")
    page = [(s, b) for s, t, b in boxes if t.axes is None]
    for i, (s1, b1) in enumerate(page):
        for s2, b2 in page[i + 1 :]:
            if b1.x0 + tol < b2.x1 and b2.x0 + tol < b1.x1 and b1.y0 + tol < b2.y1 and b2.y0 + tol < b1.y1:
                problems.append(f"overlap: {s1!r} / {s2!r}")
    return problems


def trimmed_result(result, n: int, rename: dict | None = None):
    """``result`` reduced to its first ``n`` communities (names changed by ``rename``: id -> name)."""
    import dataclasses

    ids = [str(i) for i in result.communities["id"].iloc[:n]]
    comm = result.communities[result.communities["id"].astype(str).isin(ids)].copy()
    gaps = result.gaps[result.gaps["community_id"].astype(str).isin(ids)].copy()
    res = result.residents[result.residents["community_id"].astype(str).isin(ids)].copy()
    for cid, name in (rename or {}).items():
        comm.loc[comm["id"].astype(str) == cid, "name"] = name
        gaps.loc[gaps["community_id"].astype(str) == cid, "community_name"] = name
    return dataclasses.replace(result, communities=comm, gaps=gaps, residents=res)
