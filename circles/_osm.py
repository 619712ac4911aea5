"""Read OpenStreetMap XML files (``.osm``, ``.osm.bz2``, ``.osm.gz``) into plain Python data.

OSMnx turns every way of a file into a street edge and fails on ways whose nodes were
clipped away, and its feature reader skips ``type=boundary`` relations (residents'
committee boundaries). This module reads the file once, keeps every element with its tags
and id, trims ways to the nodes present, and builds point/line/polygon geometries,
including boundary and multipolygon relations.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.ops import polygonize, unary_union

from .errors import InputError

log = logging.getLogger(__name__)

#: Keys that make a closed way an area (a polygon) rather than a line.
AREA_KEYS = (
    "building",
    "landuse",
    "leisure",
    "amenity",
    "shop",
    "natural",
    "place",
    "healthcare",
    "tourism",
    "office",
    "social_facility",
    "man_made",
    "parking",
)


@dataclass
class OsmData:
    """Elements of one OSM XML file."""

    path: str
    nodes: dict[int, tuple[float, float]] = field(default_factory=dict)
    node_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    ways: dict[int, list[int]] = field(default_factory=dict)
    way_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    relations: dict[int, list[tuple[str, int, str]]] = field(default_factory=dict)
    relation_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] | None = None
    trimmed_ways: int = 0


def open_osm(path: str | Path):
    """Open an OSM XML file, transparently decompressing ``.bz2`` and ``.gz``."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    name = p.name.lower()
    if name.endswith(".pbf"):
        raise InputError("this is a PBF file; read it with circles.network.graph_from_pbf", path=str(p))
    if name.endswith(".bz2"):
        return bz2.open(p, "rb")
    if name.endswith(".gz"):
        return gzip.open(p, "rb")
    return open(p, "rb")


def read_osm(path: str | Path) -> OsmData:
    """Parse an OSM XML file.

    Ways that reference nodes missing from the file (clipped extracts) are trimmed to the
    nodes present; the count is kept in ``trimmed_ways``.

    Raises
    ------
    InputError
        If the file is missing or is not OSM XML.
    """
    data = OsmData(path=str(path))
    tags: dict[str, str] = {}
    refs: list[int] = []
    members: list[tuple[str, int, str]] = []
    try:
        with open_osm(path) as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                tag = el.tag
                if event == "start":
                    if tag in ("node", "way", "relation"):
                        tags, refs, members = {}, [], []
                    continue
                if tag == "tag":
                    tags[el.get("k")] = el.get("v")
                elif tag == "nd":
                    refs.append(int(el.get("ref")))
                elif tag == "member":
                    members.append((el.get("type"), int(el.get("ref")), el.get("role") or ""))
                elif tag == "node":
                    nid = int(el.get("id"))
                    data.nodes[nid] = (float(el.get("lon")), float(el.get("lat")))
                    if tags:
                        data.node_tags[nid] = tags
                    el.clear()
                elif tag == "way":
                    data.ways[int(el.get("id"))] = refs
                    if tags:
                        data.way_tags[int(el.get("id"))] = tags
                    el.clear()
                elif tag == "relation":
                    rid = int(el.get("id"))
                    data.relations[rid] = members
                    data.relation_tags[rid] = tags
                    el.clear()
                elif tag == "bounds":
                    data.bounds = (
                        float(el.get("minlon")),
                        float(el.get("minlat")),
                        float(el.get("maxlon")),
                        float(el.get("maxlat")),
                    )
    except ET.ParseError as exc:
        raise InputError(f"not a readable OSM XML file ({exc})", path=str(path)) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read the file ({exc})", path=str(path)) from None
    if not data.nodes:
        raise InputError("no OSM nodes found: is this an OSM XML file?", path=str(path))
    for wid, nds in data.ways.items():
        kept = [n for n in nds if n in data.nodes]
        if len(kept) != len(nds):
            data.trimmed_ways += 1
            data.ways[wid] = kept
    if data.trimmed_ways:
        log.info("%s: %d ways referenced nodes missing from the file and were trimmed", path, data.trimmed_ways)
    return data


def selector_matches(selector: Mapping[str, str], tags: Mapping[str, str]) -> bool:
    """True if every key/value of ``selector`` is in ``tags`` ("*" matches any value)."""
    for key, value in selector.items():
        have = tags.get(key)
        if have is None or (isinstance(have, float) and have != have):
            return False
        if value != "*" and str(have) != str(value):
            return False
    return True


# ---------------------------------------------------------------- walkable ways
# Mirrors OSMnx's "walk" network filter (osmnx._overpass._get_network_filter("walk")):
# unanchored regular expressions, as Overpass applies them.
_WALK_EXCLUDE = {
    "area": re.compile("yes"),
    "access": re.compile("private"),
    "highway": re.compile(
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|"
        "proposed|raceway|razed|rest_area|services"
    ),
    "foot": re.compile("no"),
    "service": re.compile("private"),
    "sidewalk": re.compile("separate"),
    "sidewalk:both": re.compile("separate"),
    "sidewalk:left": re.compile("separate"),
    "sidewalk:right": re.compile("separate"),
}


def is_walkable(tags: Mapping[str, str]) -> bool:
    """True if a way with these tags belongs to the walking network (OSMnx's walk filter)."""
    if "highway" not in tags:
        return False
    for key, rx in _WALK_EXCLUDE.items():
        value = tags.get(key)
        if value is not None and rx.search(value):
            return False
    return True


def write_walk_xml(data: OsmData, out_path: str | Path) -> int:
    """Write the walkable ways of ``data`` (and their nodes) as a small OSM XML file.

    Returns the number of ways written.
    """
    ways = [w for w, t in data.way_tags.items() if is_walkable(t) and len(data.ways.get(w, [])) >= 2]
    used = sorted({n for w in ways for n in data.ways[w]})
    keep_tags = (
        "highway",
        "name",
        "access",
        "area",
        "foot",
        "service",
        "oneway",
        "junction",
        "bridge",
        "tunnel",
        "width",
        "ref",
    )
    with open(out_path, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="circles">\n')
        for n in used:
            lon, lat = data.nodes[n]
            fh.write(f' <node id="{n}" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
        for w in ways:
            fh.write(f' <way id="{w}">\n')
            fh.write("".join(f'  <nd ref="{n}"/>\n' for n in data.ways[w]))
            for k in keep_tags:
                v = data.way_tags[w].get(k)
                if v is not None:
                    fh.write(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>\n")
            fh.write(" </way>\n")
        fh.write("</osm>\n")
    return len(ways)


# ---------------------------------------------------------------- geometries
def _way_coords(data: OsmData, wid: int) -> list[tuple[float, float]]:
    return [data.nodes[n] for n in data.ways.get(wid, [])]


def way_geometry(data: OsmData, wid: int) -> LineString | Polygon | None:
    """Geometry of a way: a polygon if it is closed and carries an area key, else a line."""
    nds = data.ways.get(wid, [])
    coords = _way_coords(data, wid)
    if len(coords) < 2:
        return None
    tags = data.way_tags.get(wid, {})
    closed = len(nds) >= 4 and nds[0] == nds[-1]
    is_area = tags.get("area") == "yes" or (tags.get("area") != "no" and any(k in tags for k in AREA_KEYS))
    if closed and is_area:
        poly = Polygon(coords)
        if not poly.is_valid:
            poly = shapely.make_valid(poly)
        return poly
    return LineString(coords)


def relation_geometry(data: OsmData, rid: int, close_open: bool = False) -> Polygon | MultiPolygon | None:
    """Polygon of a ``multipolygon`` or ``boundary`` relation from its way members.

    Outer and inner rings are assembled from member ways (merging ways that share end
    nodes); missing members are skipped. Returns None if no ring can be closed, unless
    ``close_open`` is set: then open outer linework is closed with a straight line (an
    approximation the caller must report).
    """
    outer: list[list[int]] = []
    inner: list[list[int]] = []
    for mtype, ref, role in data.relations.get(rid, []):
        if mtype != "way" or ref not in data.ways:
            continue
        coords = _way_coords(data, ref)
        if len(coords) < 2:
            continue
        (inner if role == "inner" else outer).append(LineString(coords))
    if not outer:
        return None

    def rings(lines):
        return list(polygonize(unary_union(lines)))

    outer_polys = rings(outer)
    if not outer_polys and close_open:
        merged = shapely.line_merge(shapely.union_all(outer))
        parts = getattr(merged, "geoms", [merged])
        outer_polys = [Polygon(list(p.coords)) for p in parts if len(p.coords) >= 3]
        outer_polys = [p if p.is_valid else shapely.make_valid(p) for p in outer_polys]
        if outer_polys:
            log.warning(
                "relation %s: outer ring is open (members missing from the file); closed with a straight line", rid
            )
    if not outer_polys:
        return None
    geom = unary_union(outer_polys)
    if inner:
        holes = rings(inner)
        if holes:
            geom = geom.difference(unary_union(holes))
    return shapely.make_valid(geom) if not geom.is_valid else geom


def features(data: OsmData, keep: Callable[[Mapping[str, str]], bool]) -> gpd.GeoDataFrame:
    """All elements whose tags satisfy ``keep``, as a GeoDataFrame in EPSG:4326.

    Columns: ``osm_element`` (node/way/relation), ``osm_id``, ``tags`` (dict) and geometry.
    """
    rows = []
    for nid, tags in data.node_tags.items():
        if keep(tags):
            rows.append(("node", nid, tags, Point(data.nodes[nid])))
    for wid, tags in data.way_tags.items():
        if keep(tags):
            g = way_geometry(data, wid)
            if g is not None:
                rows.append(("way", wid, tags, g))
    for rid, tags in data.relation_tags.items():
        if tags.get("type") in ("multipolygon", "boundary") and keep(tags):
            g = relation_geometry(data, rid)
            if g is not None:
                rows.append(("relation", rid, tags, g))
    return gpd.GeoDataFrame(
        {"osm_element": [r[0] for r in rows], "osm_id": [r[1] for r in rows], "tags": [r[2] for r in rows]},
        geometry=[r[3] for r in rows],
        crs="EPSG:4326",
    )


def iter_tagged(data: OsmData) -> Iterable[tuple[str, int, dict[str, str]]]:
    """Every tagged element as (element type, id, tags)."""
    for nid, t in data.node_tags.items():
        yield "node", nid, t
    for wid, t in data.way_tags.items():
        yield "way", wid, t
    for rid, t in data.relation_tags.items():
        yield "relation", rid, t
