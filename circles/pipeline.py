"""The whole analysis as one call: load → network → residents → reach → gaps → outputs.

>>> from circles import pipeline
>>> result = pipeline.analyse()            # the embedded demo
>>> paths = pipeline.write_outputs(result, "results")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from . import demo, export, isochrones, mapping
from ._sheets import write_csv
from .access import Access, compute_access
from .errors import InputError
from .gaps import compute_gaps, surveyed_types
from .ledger import apply_pilot_attributes, build_ledger
from .load import (
    TABLE_SUFFIXES,
    check_facilities,
    load_buildings,
    load_communities,
    load_facilities,
    load_facility_table,
)
from .network import WalkNetwork, read_walk_network
from .reach import DEFAULT_MAX_ATTACH_M
from .residents import DEFAULT_GRID_SPACING_M, place_residents
from .rulebook import DEFAULT_PROFILE, Rulebook, load_rulebook

log = logging.getLogger(__name__)

#: Walking searches stop at this many minutes; nearest-facility times beyond it are reported
#: as "none reachable".
DEFAULT_MAX_MINUTES = 60.0
ISOCHRONE_MINUTES = (5, 10, 15)


#: Pass as ``network`` to download the walking network with OSMnx (needs internet).
ONLINE = "online"


def _download_network(comms: gpd.GeoDataFrame, rulebook: Rulebook, cache_dir) -> WalkNetwork:
    """Walking network around the communities, buffered by the longest threshold distance."""
    from .network import graph_from_polygon_online, to_walk_network

    buffer_m = max(rulebook.threshold_m(r) for r in rulebook.rules)
    try:
        G = graph_from_polygon_online(comms.union_all(), buffer_m=buffer_m)
    except Exception as exc:  # OSMnx raises many kinds of network errors
        raise InputError(
            f"downloading the walking network failed ({type(exc).__name__}: {exc}); "
            "this needs internet access to the Overpass API — pass --network FILE instead",
            field="network",
        ) from None
    return to_walk_network(G, source=f"OSMnx download, {buffer_m:.0f} m around the communities")


@dataclass
class Result:
    """Everything one analysis produced (GeoDataFrames in the network's projected CRS)."""

    communities: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    residents: gpd.GeoDataFrame
    gaps: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    network: WalkNetwork
    rulebook: Rulebook
    access: Access
    surveyed: set[str]
    type_speed: dict[str, float]
    inputs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    input_problems: pd.DataFrame | None = None
    #: The investigation ledger (circles.ledger): one row per community × rulebook item.
    ledger: pd.DataFrame | None = None

    def summary(self) -> pd.DataFrame:
        """Status counts per community (rows) for the terminal."""
        tab = pd.crosstab([self.gaps["community_id"], self.gaps["community_name"]], self.gaps["status"])
        for s in ("gap", "partial", "undersized", "ok", "no_data"):
            if s not in tab:
                tab[s] = 0
        tab = tab[["gap", "partial", "undersized", "ok", "no_data"]]
        gaps_list = (
            self.gaps[self.gaps["status"] == "gap"].groupby("community_id")["rule_id"].agg(lambda s: ", ".join(s))
        )
        tab["gap items"] = [gaps_list.get(cid, "") for cid, _ in tab.index]
        return tab


def first_rules(rulebook: Rulebook) -> dict:
    """The first rule of each facility type: its speed and threshold stand for the type in
    per-resident tables and on the map."""
    out: dict = {}
    for r in rulebook.rules:
        out.setdefault(r.facility_type, r)
    return out


def check_shift(facilities: gpd.GeoDataFrame, net: WalkNetwork):
    """Would a GCJ-02/BD-09 correction bring the facilities onto the streets? (EPSG:4326 in)."""
    from .chinacrs import detect_shift, in_china

    pts = facilities[facilities.geom_type == "Point"]
    if len(pts) < 3 or not in_china(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()).mean() > 0.5:
        return None
    edges = net.edges_gdf().to_crs("EPSG:4326")
    return detect_shift(pts, edges)


def type_speeds(rulebook: Rulebook) -> dict[str, float]:
    """Speed used to turn metres into minutes per facility type (its first rule's speed)."""
    return {t: rulebook.speed_of(r) for t, r in first_rules(rulebook).items()}


def analyse(
    boundaries: str | Path | None = None,
    facilities: str | Path | gpd.GeoDataFrame | None = None,
    network: str | Path | WalkNetwork | None = None,
    *,
    buildings: str | Path | None = None,
    rules: str | Path = DEFAULT_PROFILE,
    surveyed: Iterable[str] = (),
    speed: float | None = None,
    target_share: float = 1.0,
    max_attach_m: float = DEFAULT_MAX_ATTACH_M,
    grid_spacing_m: float = DEFAULT_GRID_SPACING_M,
    max_minutes: float = DEFAULT_MAX_MINUTES,
    cache_dir: str | Path | None = None,
    crs: str | None = None,
    facilities_crs: str | None = None,
    encoding: str | None = None,
    categories: str | Path | None = None,
    progress: bool = True,
) -> Result:
    """Run the gap analysis.

    With no ``boundaries``/``facilities``/``network`` the embedded demo is used (Beijing
    Haidian, OpenStreetMap), with its residential buildings.

    Parameters
    ----------
    boundaries : path
        Community polygons with ``id``, ``name``, ``population``.
    facilities : path or GeoDataFrame
        Facilities with ``id``, ``facility_type`` and optional ``name``.
    network : path, "online" or WalkNetwork
        A :class:`WalkNetwork` already loaded is used as it is (what-if runs reuse one).
        ``"online"`` downloads it with OSMnx (needs internet), buffered by the longest
        threshold distance around the communities. Otherwise an OSM XML (``.osm``,
        ``.osm.bz2``, ``.osm.gz``), PBF, GraphML or circles ``.npz`` walking network.
    buildings : path, optional
        Residential buildings (``id``, optional ``floor_area_m2``); without, residents are
        placed on a grid inside each community.
    rules : str or path
        Rulebook profile name or YAML file.
    surveyed : iterable of str
        Facility types declared surveyed: absence of them is then a gap, not ``no_data``.
    speed : float, optional
        Walking speed (m/min) for every rule instead of each rule's profile.
    target_share : float
        Share of residents within the threshold for ``ok``.
    max_attach_m : float
        Maximum distance from a point to the street it attaches to.
    grid_spacing_m : float
        Spacing of resident grid points where there are no buildings.
    max_minutes : float
        Search limit in minutes (at the fastest speed used).
    cache_dir : path, optional
        Where to cache the built walking network (GraphML).
    crs : str, optional
        CRS of input files that declare none (default: WGS-84 if they look like lon/lat):
        ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:…``.
    facilities_crs : str, optional
        CRS of the facilities only (Amap/Baidu lists are GCJ-02/BD-09); default ``crs``.
        When facilities are taken as WGS-84 but sit systematically off the streets in a way
        the GCJ-02 or BD-09 correction would fix, a warning says so (``Result.warnings``).
    encoding : str, optional
        Encoding of a CSV facility table (default: detected).
    categories : path, optional
        The user's extra category mappings (Amap codes, Baidu tags, Chinese words) for tables.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    demo_run = boundaries is None and facilities is None and network is None
    if demo_run:
        boundaries, facilities, network = demo.DEMO_BOUNDARIES, demo.DEMO_FACILITIES, demo.DEMO_OSM
        buildings = demo.DEMO_BUILDINGS if buildings is None else buildings
        for p in (boundaries, facilities, network, buildings):
            if not Path(p).exists():
                raise InputError(
                    "the embedded demo data is missing: run circles from a clone of the repository "
                    "(pip install -e .) or pass --boundaries, --facilities and --network",
                    path=str(p),
                )
    elif boundaries is None or facilities is None or network is None:
        raise InputError("give all three of boundaries, facilities and network (or none, for the demo)")
    rulebook = load_rulebook(rules, speed_override=speed)
    unknown = [t for t in surveyed if t not in rulebook.facility_types]
    if unknown:
        raise InputError(
            f"unknown facility type(s) declared surveyed: {', '.join(unknown)}; "
            f"known: {', '.join(rulebook.facility_types)}",
            field="surveyed",
        )
    comms = load_communities(boundaries, crs=crs)
    comms = apply_pilot_attributes(comms)  # the Rugao pilot's figures for matching names
    fcrs = facilities_crs or crs
    problems = pd.DataFrame(columns=["source_file", "row_number", "field", "value", "reason"])
    if isinstance(facilities, gpd.GeoDataFrame):
        facs = check_facilities(facilities, "facilities (in memory)", rulebook.facility_types, crs=fcrs)
    elif str(facilities).lower().endswith(TABLE_SUFFIXES):
        facs, problems = load_facility_table(
            facilities, rulebook.facility_types, crs=fcrs, encoding=encoding, categories=categories
        )
    else:
        facs = load_facilities(facilities, rulebook.facility_types, crs=fcrs)
    blds = load_buildings(buildings, crs=crs) if buildings is not None else None
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    net: WalkNetwork
    if isinstance(network, WalkNetwork):
        net = network
    elif str(network) == ONLINE:
        net = _download_network(comms, rulebook, cache_dir)
    else:
        net = read_walk_network(network, cache_dir=cache_dir)
    timings["network"] = time.perf_counter() - t
    warnings = []
    if fcrs is None or str(fcrs).lower().replace("-", "") in ("wgs84", "epsg:4326"):
        shift = check_shift(facs, net)
        if shift is not None and shift.suggestion:
            warnings.append(shift.message)
            log.warning("%s", shift.message)

    t = time.perf_counter()
    comms_p = comms.to_crs(net.crs)
    facs_p = facs.to_crs(net.crs)
    blds_p = blds.to_crs(net.crs) if blds is not None else None
    residents = place_residents(comms_p, blds_p, grid_spacing=grid_spacing_m)
    timings["residents"] = time.perf_counter() - t

    t = time.perf_counter()
    types = rulebook.types_used()
    speeds = type_speeds(rulebook)
    fastest = max(rulebook.speed_of(r) for r in rulebook.rules)
    limit_m = max(max_minutes * fastest, max(rulebook.threshold_m(r) for r in rulebook.rules))
    acc = compute_access(net, residents, facs_p, types, limit_m=limit_m, max_attach_m=max_attach_m, progress=progress)
    timings["reach"] = time.perf_counter() - t

    t = time.perf_counter()
    surveyed_set = surveyed_types(facs, surveyed)
    gaps = compute_gaps(comms, acc, rulebook, surveyed_set, target_share=target_share)
    ledger = build_ledger(gaps, comms, rulebook)
    timings["gaps"] = time.perf_counter() - t

    t = time.perf_counter()
    iso = isochrones.type_isochrones(acc, net, speeds, minutes=ISOCHRONE_MINUTES)
    timings["isochrones"] = time.perf_counter() - t
    return Result(
        communities=comms_p,
        facilities=acc.facilities,
        residents=acc.residents,
        gaps=gaps,
        isochrones=iso,
        network=net,
        rulebook=rulebook,
        access=acc,
        surveyed=surveyed_set,
        type_speed=speeds,
        timings=timings,
        warnings=warnings,
        input_problems=problems,
        ledger=ledger,
        inputs={
            "boundaries": str(boundaries),
            "facilities": str(facilities),
            "network": str(network),
            "buildings": "" if buildings is None else str(buildings),
            "rules": rulebook.path,
        },
    )


def build_map(result: Result, lang: str = "zh", offline: bool = False):
    """The folium map of ``result`` (the overview)."""
    return mapping.result_map(result, lang=lang, offline=offline)


def write_outputs(
    result: Result,
    out_dir: str | Path = "results",
    *,
    lang: str = "zh",
    offline: bool = True,
    facility_isochrones: bool = False,
    figures: bool = False,
    community_maps="all",
) -> dict[str, Path]:
    """Write gaps.csv/xlsx, ledger.csv/xlsx, access.csv, facilities.csv, isochrones.geojson,
    map.html with one map per community (community_maps/) and PNG figures (figures/).

    Parameters
    ----------
    out_dir : path
        Created if missing.
    lang : {"zh", "en"}
        Map labels.
    offline : bool
        Self-contained map (no tiles, Leaflet inlined); default True so it opens anywhere.
    facility_isochrones : bool
        Also write ``facility_isochrones.geojson``: the 5/10/15-minute area of every facility.
    figures : bool
        Also write static PNG figures (``figures/``: an overview and one per community);
        ``circles run`` does, unless ``--no-figures``.
    community_maps : "all", "none" or community ids
        Which communities get their own map in ``community_maps/`` (:func:`circles.mapping.write_maps`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "gaps_csv": export.write_gaps_csv(result.gaps, out / "gaps.csv"),
        "gaps_xlsx": export.write_gaps_xlsx(result.gaps, out / "gaps.xlsx"),
    }
    from . import ledger as ledger_mod

    led = result.ledger if result.ledger is not None else ledger_mod.ledger_for(result)
    paths["ledger_csv"] = ledger_mod.write_ledger_csv(led, out / "ledger.csv")
    paths["ledger_xlsx"] = ledger_mod.write_ledger_xlsx(
        led, out / "ledger.xlsx", result.communities, rulebook=result.rulebook
    )
    first_rule = first_rules(result.rulebook)
    counts = {
        t: result.access.counts_within(t, result.rulebook.threshold_m(first_rule[t]))
        for t in result.rulebook.types_used()
    }
    acc = export.access_table(result.residents, result.rulebook.types_used(), result.type_speed, counts)
    write_csv(acc, out / "access.csv")
    paths["access_csv"] = out / "access.csv"
    write_csv(export.facilities_table(result.facilities), out / "facilities.csv")
    paths["facilities_csv"] = out / "facilities.csv"
    paths["isochrones"] = export.write_geojson(result.isochrones, out / "isochrones.geojson")
    if result.input_problems is not None and len(result.input_problems):
        write_csv(result.input_problems, out / "input_problems.csv")
        paths["input_problems"] = out / "input_problems.csv"
    if facility_isochrones:
        per = isochrones.facility_isochrones(
            result.access, result.network, result.type_speed, minutes=ISOCHRONE_MINUTES
        )
        paths["facility_isochrones"] = export.write_geojson(per, out / "facility_isochrones.geojson")
    map_paths = mapping.write_maps(result, out, lang=lang, offline=offline, community_maps=community_maps)
    paths["map"] = map_paths[0]
    paths["community_maps"] = out / "community_maps"
    if figures:
        from . import figures as figs

        figs.write_figures(result, out / "figures", lang=lang)
        paths["figures"] = out / "figures"
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
