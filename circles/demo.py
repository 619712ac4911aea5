"""The embedded demo: communities, buildings and facilities extracted from a real OSM file.

``build_demo_data`` regenerates ``circles/data/boundaries/communities.geojson``,
``circles/data/buildings.geojson`` and ``circles/data/facilities.geojson`` from ``circles/data/cau_haidian.osm.bz2``
(run ``circles demo-data``), so every demo input can be audited back to an OSM element.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import yaml

from . import _osm as osm
from .rulebook import FacilityType, load_facility_types

log = logging.getLogger(__name__)

#: Root of the repository data folder (present in a clone / editable install).
DATA_DIR = Path(__file__).resolve().parent / "data"
DEMO_OSM = DATA_DIR / "cau_haidian.osm.bz2"
DEMO_BOUNDARIES = DATA_DIR / "boundaries" / "communities.geojson"
DEMO_FACILITIES = DATA_DIR / "facilities.geojson"
DEMO_BUILDINGS = DATA_DIR / "buildings.geojson"
#: Facility types surveyed in the demo although OSM holds none of them: none. OSM absence is not a survey.
DEMO_SURVEYED: tuple[str, ...] = ()


def load_population_config(path: str | Path | None = None) -> dict:
    """The population-estimation parameters (``circles/config/population.yaml``)."""
    if path is None:
        text = resources.files("circles.config").joinpath("population.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return yaml.safe_load(text)


#: Elements carrying one of these keys are never facilities by name alone (a subway stop
#: named 奥林匹克公园 is not a park; a boundary named 居委会 is not a service station).
NAME_MATCH_VETO_KEYS = (
    "highway",
    "railway",
    "public_transport",
    "route",
    "boundary",
    "landuse",
    "place",
    "type",
    "natural",
    "waterway",
)


def classify_facility(tags: Mapping[str, str], ftypes: Mapping[str, FacilityType]) -> list[tuple[str, str]]:
    """Facility types an OSM element belongs to, each with the reason.

    Tags decide first. The Chinese name is used only for elements that no tag classifies
    (OSM in China often carries just a building and a name) and that are not transport
    stops, boundaries or areas.
    """
    out = []
    for ft in ftypes.values():
        if ft.matches_tags(tags):
            sel = next(s for s in ft.osm_tags if osm.selector_matches(s, tags))
            out.append((ft.id, "tag " + ";".join(f"{k}={v}" for k, v in sel.items())))
    name = tags.get("name", "") or ""
    if out or not name or any(k in tags for k in NAME_MATCH_VETO_KEYS):
        return out
    for ft in ftypes.values():
        if (
            ft.name_regex_zh
            and re.search(ft.name_regex_zh, name)
            and not any(osm.selector_matches(s, tags) for s in ft.exclude_tags)
        ):
            out.append((ft.id, f"name matches /{ft.name_regex_zh}/"))
    return out


def extract_facilities(data: osm.OsmData, ftypes: Mapping[str, FacilityType] | None = None) -> gpd.GeoDataFrame:
    """Every element of ``data`` that is a facility of a known type, one row per (element, type)."""
    ftypes = ftypes or load_facility_types()
    rows = []
    for element, oid, tags in osm.iter_tagged(data):
        matches = classify_facility(tags, ftypes)
        if not matches:
            continue
        if element == "node":
            geom = osm.Point(data.nodes[oid])
        elif element == "way":
            geom = osm.way_geometry(data, oid)
        else:
            geom = osm.relation_geometry(data, oid) if tags.get("type") in ("multipolygon", "boundary") else None
        if geom is None:
            log.warning("%s/%s matches %s but has no geometry in the file; skipped", element, oid, matches)
            continue
        for ftype, reason in matches:
            rows.append(
                {
                    "id": f"{element}/{oid}:{ftype}",
                    "name": tags.get("name", ""),
                    "facility_type": ftype,
                    "source": "OpenStreetMap",
                    "osm_element": f"{element}/{oid}",
                    "match": reason,
                    "osm_tags": json.dumps(tags, ensure_ascii=False, sort_keys=True),
                    "geometry": geom,
                }
            )
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    return gdf.sort_values("id").reset_index(drop=True)


def _levels(tags: Mapping[str, str], cfg: dict) -> tuple[float, bool]:
    raw = tags.get("building:levels")
    if raw:
        try:
            v = float(str(raw).split(";")[0])
            if v > 0:
                return v, False
        except ValueError:
            pass
    dl = cfg["default_levels"]
    return float(dl.get(tags.get("building"), dl["default"])), True


def extract_communities_and_buildings(
    data: osm.OsmData, cfg: dict | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Communities (named residential areas and residents'-committee boundaries) and their homes.

    Population is estimated from residential building floor area (footprint × storeys ÷
    floor area per person, ``circles/config/population.yaml``); communities without a
    residential building get the mean density of the others. Both are marked estimates.
    """
    cfg = cfg or load_population_config()
    rows = []
    for element, oid, tags in osm.iter_tagged(data):
        is_res = tags.get("landuse") == "residential" and tags.get("name")
        is_committee = tags.get("boundary") == "administrative" and tags.get("admin_level") == "10"
        if not (is_res or is_committee):
            continue
        note = ""
        if element == "way":
            geom = osm.way_geometry(data, oid)
        elif element == "relation":
            geom = osm.relation_geometry(data, oid)
            if geom is None:
                geom = osm.relation_geometry(data, oid, close_open=True)
                missing = [ref for t, ref, _ in data.relations[oid] if t == "way" and ref not in data.ways]
                note = (
                    f"partial boundary: member way(s) {', '.join(map(str, missing))} are not in the extract; "
                    "the open ring was closed with a straight line"
                )
        else:
            continue
        if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon"):
            log.warning("%s/%s (%s) has no closed area in the file; skipped", element, oid, tags.get("name"))
            continue
        rows.append(
            {
                "id": f"{element}/{oid}",
                "name": tags.get("name"),
                "kind": "residents_committee" if is_committee else "residential_compound",
                "osm_element": f"{element}/{oid}",
                "geometry_note": note,
                "geometry": geom,
            }
        )
    comms = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").sort_values("id").reset_index(drop=True)

    res_values = set(cfg["residential_building_values"])
    non_res = set(cfg["non_residential_keys"])
    bld = osm.features(data, lambda t: t.get("building") in res_values and not (non_res & set(t)))
    bld = bld[bld.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    utm = comms.estimate_utm_crs()
    bld_p = bld.to_crs(utm)
    lv = [_levels(t, cfg) for t in bld["tags"]]
    bld["levels"] = [v for v, _ in lv]
    bld["levels_estimated"] = [e for _, e in lv]
    bld["footprint_m2"] = bld_p.area.round(1)
    bld["floor_area_m2"] = (bld["footprint_m2"] * bld["levels"]).round(1)
    bld["id"] = [f"{e}/{i}" for e, i in zip(bld["osm_element"], bld["osm_id"], strict=True)]
    bld["building"] = [t.get("building") for t in bld["tags"]]
    bld["name"] = [t.get("name", "") for t in bld["tags"]]
    # A building is a home when its centre lies in a residential area.
    pts = gpd.GeoDataFrame(bld[["id"]], geometry=bld_p.representative_point(), crs=utm)
    comms_p = comms.to_crs(utm)
    inside = gpd.sjoin(pts, comms_p[["id", "geometry"]].rename(columns={"id": "community_id"}), predicate="within")
    bld = bld[bld["id"].isin(inside["id"])]
    bld = (
        bld[["id", "name", "building", "levels", "levels_estimated", "footprint_m2", "floor_area_m2", "geometry"]]
        .sort_values("id")
        .reset_index(drop=True)
    )
    bld["population_estimated"] = True

    per_person = float(cfg["floor_area_per_person_m2"])
    floor_by_comm = inside.merge(bld[["id", "floor_area_m2"]], on="id").groupby("community_id")["floor_area_m2"].sum()
    comms["area_m2"] = comms_p.area.round(0).values
    comms["residential_floor_area_m2"] = comms["id"].map(floor_by_comm).fillna(0.0).round(0)
    comms["population"] = (comms["residential_floor_area_m2"] / per_person).round(0)
    has = comms["population"] > 0
    density = comms.loc[has, "population"].sum() / comms.loc[has, "area_m2"].sum() if has.any() else 0.0
    comms.loc[~has, "population"] = (comms.loc[~has, "area_m2"] * density).round(0)
    comms["households"] = (comms["population"] / float(cfg["persons_per_household"])).round(0)
    comms["population_estimated"] = True
    comms["population_method"] = np.where(
        has,
        f"residential floor area / {per_person} m² per person",
        f"no residential building in OSM: area × mean density of the other communities ({density * 1e4:.0f} per ha)",
    )
    comms["population"] = comms["population"].astype(int)
    comms["households"] = comms["households"].astype(int)
    cols = [
        "id",
        "name",
        "kind",
        "population",
        "households",
        "population_estimated",
        "population_method",
        "area_m2",
        "residential_floor_area_m2",
        "osm_element",
        "geometry_note",
        "geometry",
    ]
    return comms[cols], bld


def build_demo_data(osm_path: str | Path = DEMO_OSM, out_dir: str | Path = DATA_DIR) -> dict[str, Path]:
    """Regenerate the demo's communities, buildings and facilities from ``osm_path``.

    Returns
    -------
    dict
        Paths written, by kind.
    """
    out = Path(out_dir)
    (out / "boundaries").mkdir(parents=True, exist_ok=True)
    data = osm.read_osm(osm_path)
    comms, bld = extract_communities_and_buildings(data)
    fac = extract_facilities(data)
    paths = {
        "boundaries": out / "boundaries" / "communities.geojson",
        "buildings": out / "buildings.geojson",
        "facilities": out / "facilities.geojson",
    }
    for key, gdf in (("boundaries", comms), ("buildings", bld), ("facilities", fac)):
        gdf = gdf.copy()
        gdf["geometry"] = gdf.geometry.set_precision(1e-7)
        if paths[key].exists():
            paths[key].unlink()
        gdf.to_file(paths[key], driver="GeoJSON", COORDINATE_PRECISION=7, WRITE_NAME="NO")
        log.info("wrote %s (%d features)", paths[key], len(gdf))
    return paths
