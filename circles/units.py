"""Analysis units for an OSM file that has no named community (``circles extract --units``).

Most residential areas in Chinese OSM extracts are unnamed and few carry ``admin_level=10``
boundaries, so ``circles extract`` may find no community at all. Generated units:

- ``residential``: every ``landuse=residential`` area, named or not; an unnamed one is named
  after the nearest named street (``<street>旁住区1`` …) and marked generated;

- ``blocks``: street blocks — the faces of the walking network (every street line
  polygonised), kept when a home (residential building) stands in them;
- ``hex``: H3 hexagons (the ``h3`` package, optional extra ``units``) at resolution
  :data:`HEX_RESOLUTION` over the homes.

Each unit is marked ``generated`` and named after its kind and number (街区 1, 六边形 1 …),
numbered from north-west to south-east; its population is estimated from the floor area of
its homes like an OSM community's (:func:`circles.extract.read_osm_layers`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from .errors import InputError

log = logging.getLogger(__name__)

UNITS = ("communities", "residential", "blocks", "hex")
#: H3 resolution of hexagon units: resolution 8 cells are about 0.74 km² (edge about 530 m),
#: near the size of a 社区 (H3 documentation, cell statistics table).
HEX_RESOLUTION = 8
#: Faces of the street network smaller than this are slivers between carriageways, not blocks
#: (m²; circles assumption, no source found).
MIN_BLOCK_M2 = 500.0


def _h3():
    try:
        import h3  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise InputError("hexagon units need the optional extra 'units' (h3): pip install 'circles[units]'") from None
    return h3


def _numbered(polys: list, kind: str, name_zh: str, crs) -> gpd.GeoDataFrame:
    """Units in a stable order (north-west first), ids ``<kind>/<n>``."""
    gdf = gpd.GeoDataFrame(geometry=polys, crs=crs)
    c = gdf.geometry.representative_point()
    order = np.lexsort((np.round(c.x.to_numpy(), 1), -np.round(c.y.to_numpy(), 1)))
    gdf = gdf.iloc[order].reset_index(drop=True)
    n = np.arange(1, len(gdf) + 1)
    gdf.insert(0, "id", [f"{kind}/{k}" for k in n])
    gdf.insert(1, "name", [f"{name_zh}{k}" for k in n])
    gdf.insert(2, "kind", kind)
    gdf.insert(3, "osm_element", "")
    gdf.insert(4, "geometry_note", "generated unit (circles extract --units): not an official boundary")
    return gdf


def block_units(osm_path: str | Path, homes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Street blocks with homes: the faces of the OSM file's walking network (EPSG:4326)."""
    from .network import osm_walk_network  # noqa: PLC0415

    net = osm_walk_network(osm_path, retain_all=True)
    lines = shapely.union_all(net.geometry)  # nodes at every crossing
    faces = [f for f in shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))) if f.area >= MIN_BLOCK_M2]
    if not faces or homes.empty:
        return _numbered([], "block", "街区", "EPSG:4326")
    pts = homes.to_crs(net.crs).geometry.representative_point()
    tree = shapely.STRtree(faces)
    _, hit = tree.query(pts.values, predicate="within")
    kept = [faces[i] for i in sorted(set(hit.tolist()))]
    log.info("%d street blocks, %d with homes", len(faces), len(kept))
    return _numbered(kept, "block", "街区", net.crs).to_crs("EPSG:4326")


def hex_units(homes: gpd.GeoDataFrame, resolution: int = HEX_RESOLUTION) -> gpd.GeoDataFrame:
    """H3 hexagons holding a home (EPSG:4326)."""
    h3 = _h3()
    if homes.empty:
        return _numbered([], "hex", "六边形", "EPSG:4326")
    pts = homes.to_crs(homes.estimate_utm_crs()).geometry.representative_point().to_crs("EPSG:4326")
    cells = sorted({h3.latlng_to_cell(y, x, resolution) for x, y in zip(pts.x, pts.y, strict=True)})
    polys = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    gdf = _numbered(polys, "hex", "六边形", "EPSG:4326")
    gdf["geometry_note"] = gdf["geometry_note"] + f" (H3 resolution {resolution})"
    return gdf


def homes_for_units(homes: gpd.GeoDataFrame, feats) -> gpd.GeoDataFrame:
    """The homes of a file without communities: a building typed as a home (``residential``,
    ``apartments`` …), or a plain ``building=yes`` standing in a ``landuse=residential`` area
    (named or not) — elsewhere a plain building may be a shop or an office.
    """
    areas = [
        f.geometry
        for f in feats
        if f.tags.get("landuse") == "residential" and f.geometry.geom_type in ("Polygon", "MultiPolygon")
    ]
    typed = np.array([t.get("building") != "yes" for t in homes["tags"]], dtype=bool)
    if not areas or homes.empty:
        return homes[typed]
    inside = np.zeros(len(homes), dtype=bool)
    which, _ = shapely.STRtree(areas).query(homes.geometry.representative_point().values, predicate="within")
    inside[which] = True
    return homes[typed | inside]


def residential_units(osm_path: str | Path, feats) -> gpd.GeoDataFrame:
    """Every ``landuse=residential`` area of the file (EPSG:4326); an unnamed one takes the name
    of the nearest named street.
    """
    from . import _osmium  # noqa: PLC0415

    areas = [
        f
        for f in feats
        if f.tags.get("landuse") == "residential" and f.geometry.geom_type in ("Polygon", "MultiPolygon")
    ]
    if not areas:
        return _numbered([], "residential", "住区", "EPSG:4326")
    gdf = gpd.GeoDataFrame(
        {
            "id": [f"{f.element}/{f.osm_id}" for f in areas],
            "name": [f.tags.get("name", "") for f in areas],
            "kind": "residential",
            "osm_element": [f"{f.element}/{f.osm_id}" for f in areas],
            "geometry_note": "",
        },
        geometry=[f.geometry for f in areas],
        crs="EPSG:4326",
    ).sort_values("id", ignore_index=True)
    unnamed = gdf["name"] == ""
    if unnamed.any():
        streets = _osmium.read_features(osm_path, lambda t: "highway" in t and bool(t.get("name")), keys=["highway"])
        utm = gdf.estimate_utm_crs()
        lines = gpd.GeoSeries([f.geometry for f in streets], crs="EPSG:4326").to_crs(utm)
        names = [f.tags["name"] for f in streets]
        count: dict[str, int] = {}
        for i in np.flatnonzero(unnamed.to_numpy()):
            street = ""
            if len(lines):
                street = names[int(lines.distance(gdf.geometry.iloc[[i]].to_crs(utm).iloc[0]).to_numpy().argmin())]
            count[street] = count.get(street, 0) + 1
            gdf.loc[i, "name"] = f"{street or '未命名'}旁住区{count[street]}"
            gdf.loc[i, "geometry_note"] = (
                "generated name (circles extract --units residential): an unnamed landuse=residential area, "
                "named after the nearest named street"
            )
    return gdf


def build_units(kind: str, osm_path: str | Path, homes: gpd.GeoDataFrame, feats=()) -> gpd.GeoDataFrame:
    """Units of ``kind`` (``residential``, ``blocks`` or ``hex``) over the homes of an OSM file."""
    if kind == "residential":
        return residential_units(osm_path, feats)
    if kind == "blocks":
        return block_units(osm_path, homes)
    if kind == "hex":
        return hex_units(homes)
    raise InputError(f"unknown units {kind!r}; expected one of {', '.join(UNITS)}", field="units")
