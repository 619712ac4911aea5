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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _outputs, demo, export, isochrones, mapping
from ._sheets import write_csv
from .access import Access, compute_access
from .errors import InputError, OptionError, check_option
from .gaps import compute_gaps, surveyed_types
from .indicators import city_indicators
from .ledger import Departments, build_ledger, load_departments
from .load import (
    TABLE_SUFFIXES,
    check_facilities,
    load_buildings,
    load_communities,
    load_facilities,
    load_facility_table,
)
from .network import WalkNetwork, read_walk_network
from .pilot import apply_pilot_attributes, default_rules
from .reach import DEFAULT_MAX_ATTACH_M
from .residents import DEFAULT_GRID_SPACING_M, overlapping_communities, place_residents
from .rulebook import Rulebook, load_rulebook

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
    #: The walking distances (None after a partitioned run: there is no single graph).
    access: Access | None
    surveyed: set[str]
    type_speed: dict[str, float]
    inputs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    input_problems: pd.DataFrame | None = None
    #: The investigation ledger (circles.ledger): one row per community × rulebook item.
    ledger: pd.DataFrame | None = None
    #: Column of the communities naming their district (街道), for per-district indicators.
    district_field: str | None = None
    #: A city's own units for the ledger (``departments`` of :func:`analyse`), if given.
    departments: Departments | None = None
    #: Each input file's path, size and SHA-256 (for ``run_info.json``), by role.
    input_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The analysis options as given (for ``run_info.json``).
    options: dict[str, Any] = field(default_factory=dict)
    #: When the analysis started (UTC, ISO 8601).
    started: str = ""
    #: Per facility type, how many facilities each resident point reaches within the type's first
    #: rule's threshold (the ``within_<type>`` columns of access.csv); computed from ``access`` when None.
    within_counts: dict[str, np.ndarray] | None = None

    def summary(self) -> pd.DataFrame:
        """Status counts per community (rows) for the terminal."""
        tab = pd.crosstab([self.gaps["community_id"], self.gaps["community_name"]], self.gaps["status"])
        shown = ("gap", "partial", "undersized", "ok", "no_data", "to_assess", "conditional", "as_needed")
        for s in shown:
            if s not in tab:
                tab[s] = 0
        tab = tab[list(shown)]
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
    """Would a GCJ-02/BD-09 correction bring the facilities onto the streets? (EPSG:4326 in;
    areas and lines are represented by a point inside them.)"""
    from .chinacrs import detect_shift, in_china

    pts = gpd.GeoDataFrame(geometry=facilities.geometry.representative_point().values, crs=facilities.crs)
    if len(pts) < 3 or not in_china(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()).mean() > 0.5:
        return None
    edges = net.edges_gdf().to_crs("EPSG:4326")
    return detect_shift(pts, edges)


def rule_limits(rulebook: Rulebook) -> dict[str, dict[float, list[str]]]:
    """Facility type -> threshold distance (metres) -> the rules checked at it."""
    out: dict[str, dict[float, list[str]]] = {}
    for r in rulebook.rules:
        out.setdefault(r.facility_type, {}).setdefault(round(rulebook.threshold_m(r), 6), []).append(r.id)
    return out


def area_boxes(communities: gpd.GeoDataFrame, reach_m: float) -> np.ndarray:
    """Where walking areas are read: each community's bounding box widened by ``reach_m``."""
    b = communities.geometry.bounds.to_numpy()
    return b + np.array([-reach_m, -reach_m, reach_m, reach_m])


def type_speeds(rulebook: Rulebook) -> dict[str, float]:
    """Speed used to turn metres into minutes per facility type (its first rule's speed)."""
    return {t: rulebook.speed_of(r) for t, r in first_rules(rulebook).items()}


def search_limit_m(rulebook: Rulebook, max_minutes: float) -> float:
    """Where walking searches stop (metres): ``max_minutes`` at the fastest speed, at least the
    longest threshold."""
    fastest = max(rulebook.speed_of(r) for r in rulebook.rules)
    return max(max_minutes * fastest, max(rulebook.threshold_m(r) for r in rulebook.rules))


def type_counts(access: Access, rulebook: Rulebook) -> dict[str, np.ndarray]:
    """Per facility type, how many facilities each resident point reaches within the type's first
    rule's threshold (the ``within_<type>`` columns of access.csv)."""
    first_rule = first_rules(rulebook)
    return {t: access.counts_within(t, rulebook.threshold_m(first_rule[t])) for t in rulebook.types_used()}


def shift_warnings(facilities: gpd.GeoDataFrame, net: WalkNetwork, facilities_crs: str | None) -> list[str]:
    """The warning that facilities taken as WGS-84 sit off the streets the way GCJ-02 or BD-09
    coordinates would (none when another CRS was declared)."""
    out: list[str] = []
    if facilities_crs is None or chinacrs_name(facilities_crs) == "wgs84":
        shift = check_shift(facilities, net)
        if shift is not None and shift.suggestion:
            out.append(shift.message)
            log.warning("%s", shift.message)
    return out


@dataclass
class Inputs:
    """The inputs of a run, loaded and checked (EPSG:4326), before the network."""

    boundaries: str | Path
    facilities: str | Path | gpd.GeoDataFrame
    network: str | Path | WalkNetwork
    buildings: str | Path | None
    rulebook: Rulebook
    communities: gpd.GeoDataFrame
    facility_table: gpd.GeoDataFrame
    building_table: gpd.GeoDataFrame | None
    problems: pd.DataFrame
    facilities_crs: str | None
    departments: Departments | None
    input_files: dict[str, dict[str, Any]]
    #: Repairs made to the boundaries (each also a row of ``problems``).
    warnings: list[str]
    demo: bool
    #: The run's options as ``run_info.json`` reports them (numbers checked).
    options: dict[str, Any]
    #: When loading started (UTC, ISO 8601).
    started: str


def load_inputs(
    boundaries: str | Path | None = None,
    facilities: str | Path | gpd.GeoDataFrame | None = None,
    network: str | Path | WalkNetwork | None = None,
    *,
    buildings: str | Path | None = None,
    rules: str | Path | None = None,
    departments: str | Path | Departments | None = None,
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
    district_field: str | None = None,
    distance_reading: str | None = None,
) -> Inputs:
    """Check the options and load and check the inputs of :func:`analyse` (same parameters);
    the embedded demo's when none of ``boundaries``, ``facilities`` and ``network`` is given.
    Raises :class:`circles.errors.OptionError` or :class:`circles.errors.InputError` naming the
    option, or the file, the row and the field."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    checked = check_options(
        speed=speed,
        target_share=target_share,
        max_attach_m=max_attach_m,
        grid_spacing_m=grid_spacing_m,
        max_minutes=max_minutes,
    )
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
    if boundaries is None or facilities is None or network is None:
        raise InputError("give all three of boundaries, facilities and network (or none, for the demo)")
    repairs: list[dict] = []
    comms = load_communities(boundaries, crs=crs, keep=[district_field] if district_field else [], problems=repairs)
    for outer, inner in overlapping_communities(comms):
        msg = f"community {outer} contains most of community {inner}: their shared residents are counted in {inner}"
        log.warning(msg)
        repairs.append(
            {
                "source_file": str(boundaries),
                "row_number": int(np.flatnonzero(comms["id"].astype(str).to_numpy() == outer)[0]) + 1,
                "field": "geometry",
                "value": f"{outer} ⊃ {inner}",
                "reason": "overlapping boundaries (kept; no resident counted twice)",
                "message": msg,
            }
        )
    comms = apply_pilot_attributes(comms, street_field=district_field)  # the Rugao pilot's figures; 街道
    rulebook = load_rulebook(
        rules if rules is not None else default_rules(comms), speed_override=speed, distance_reading=distance_reading
    )
    deps = load_departments(departments) if isinstance(departments, (str, Path)) else departments
    unknown = [t for t in surveyed if t not in rulebook.facility_types]
    if unknown:
        raise InputError(
            f"unknown facility type(s) declared surveyed: {', '.join(unknown)}; "
            f"known: {', '.join(rulebook.facility_types)}",
            field="surveyed",
        )
    input_files = _describe_inputs(boundaries, facilities, network, buildings, rulebook.path, categories)
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
    _check_some_facilities(facs, problems, input_label(facilities))
    blds = load_buildings(buildings, crs=crs) if buildings is not None else None
    warnings: list[str] = []
    for rep in repairs:
        warnings.append(rep.pop("message"))
        log.warning("%s", warnings[-1])
    if repairs:
        problems = pd.concat([problems, pd.DataFrame(repairs)], ignore_index=True)
    if blds is not None:
        _check_buildings(comms, blds, str(buildings))
    _check_grid_size(comms, grid_spacing_m)
    return Inputs(
        boundaries=boundaries,
        facilities=facilities,
        network=network,
        buildings=buildings,
        rulebook=rulebook,
        communities=comms,
        facility_table=facs,
        building_table=blds,
        problems=problems,
        facilities_crs=fcrs,
        departments=deps,
        input_files=input_files,
        warnings=warnings,
        demo=demo_run,
        options={
            **checked,
            "rules": str(rules),
            "profile": rulebook.profile,
            "surveyed": sorted(surveyed),
            "demo": demo_run,
            **{
                k: None if v is None else str(v)
                for k, v in {
                    "crs": crs,
                    "facilities_crs": facilities_crs,
                    "encoding": encoding,
                    "categories": categories,
                    "cache_dir": cache_dir,
                }.items()
            },
        },
        started=started,
    )


def input_labels(inp: Inputs) -> dict[str, str]:
    """Short names of a run's inputs (``Result.inputs``)."""
    return {
        "boundaries": str(inp.boundaries),
        "facilities": input_label(inp.facilities),
        "network": input_label(inp.network),
        "buildings": "" if inp.buildings is None else str(inp.buildings),
        "rules": str(inp.rulebook.path),
    }


def analyse(
    boundaries: str | Path | None = None,
    facilities: str | Path | gpd.GeoDataFrame | None = None,
    network: str | Path | WalkNetwork | None = None,
    *,
    buildings: str | Path | None = None,
    rules: str | Path | None = None,
    departments: str | Path | Departments | None = None,
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
    district_field: str | None = None,
    distance_reading: str | None = None,
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
    rules : str or path, optional
        Rulebook profile name or YAML file. Default: the pilot plan's profile (``rugao_2023``)
        when a boundary's name matches a pilot community of ``circles/config/rugao_pilot.yaml``,
        else ``complete_community_2020`` (:func:`circles.pilot.default_rules`).
    departments : path or Departments, optional
        A city's own units for the ledger's 牵头单位 / 责任单位 (schema of
        ``circles/config/departments.yaml``; example ``docs/departments_example.yaml``), for
        every community. Default: the Rugao leading group's units for the Rugao pilot
        communities, the neutral units by role elsewhere.
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
    district_field : str, optional
        Column of the boundaries naming each community's district (e.g. 街道): indicators are
        then also reported per district.
    distance_reading : {"life_circle", "speed"}, optional
        How rules in minutes are read as distances (default: the rulebook's, else the GB
        50180-2018 life-circle distances 300 / 500 / 1,000 m; ``speed``: minutes × speed).
    progress : bool
        Show progress bars on the long steps.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    inp = load_inputs(
        boundaries,
        facilities,
        network,
        buildings=buildings,
        rules=rules,
        departments=departments,
        surveyed=surveyed,
        speed=speed,
        target_share=target_share,
        max_attach_m=max_attach_m,
        grid_spacing_m=grid_spacing_m,
        max_minutes=max_minutes,
        cache_dir=cache_dir,
        crs=crs,
        facilities_crs=facilities_crs,
        encoding=encoding,
        categories=categories,
        district_field=district_field,
        distance_reading=distance_reading,
    )
    rulebook, comms, facs, blds, problems = (
        inp.rulebook,
        inp.communities,
        inp.facility_table,
        inp.building_table,
        inp.problems,
    )
    network = inp.network
    warnings = list(inp.warnings)
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
    warnings += check_network_covers(comms, net, input_label(network), max_attach_m)
    warnings += shift_warnings(facs, net, inp.facilities_crs)

    t = time.perf_counter()
    comms_p = comms.to_crs(net.crs)
    facs_p = facs.to_crs(net.crs)
    blds_p = blds.to_crs(net.crs) if blds is not None else None
    residents = place_residents(comms_p, blds_p, grid_spacing=grid_spacing_m, progress=progress)
    timings["residents"] = time.perf_counter() - t

    t = time.perf_counter()
    types = rulebook.types_used()
    speeds = type_speeds(rulebook)
    limit_m = search_limit_m(rulebook, max_minutes)
    acc = compute_access(net, residents, facs_p, types, limit_m=limit_m, max_attach_m=max_attach_m, progress=progress)
    timings["reach"] = time.perf_counter() - t
    warnings += check_facilities_placed(acc.facilities, max_attach_m, input_label(inp.facilities))

    t = time.perf_counter()
    longest: dict[str, float] = {}
    for r in rulebook.rules:
        longest[r.facility_type] = max(longest.get(r.facility_type, 0.0), rulebook.threshold_m(r))
    acc.prepare_within(longest, progress=progress)
    timings["within"] = time.perf_counter() - t

    t = time.perf_counter()
    surveyed_set = surveyed_types(facs, surveyed)
    gaps = compute_gaps(comms, acc, rulebook, surveyed_set, target_share=target_share, progress=progress)
    ledger = build_ledger(gaps, comms, rulebook, departments=inp.departments)
    timings["gaps"] = time.perf_counter() - t

    t = time.perf_counter()
    iso = isochrones.type_isochrones(
        acc,
        net,
        speeds,
        minutes=ISOCHRONE_MINUTES,
        rule_limits=rule_limits(rulebook),
        boxes=area_boxes(comms_p, max(rulebook.threshold_m(r) for r in rulebook.rules)),
        progress=progress,
    )
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
        district_field=district_field,
        departments=inp.departments,
        inputs=input_labels(inp),
        input_files=inp.input_files,
        options=inp.options,
        started=inp.started,
    )


#: Ranges of the analysis options: (low, high, low excluded, what the option is).
OPTION_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "speed": (10.0, 300.0, False, "a walking speed in metres per minute (adults walk about 67 m/min = 1.1 m/s)"),
    "target_share": (0.0, 1.0, True, "the share of residents within the threshold for 'ok'"),
    "max_attach_m": (0.0, 2000.0, True, "the farthest distance in metres from a point to its street"),
    "grid_spacing_m": (1.0, 1000.0, False, "the spacing in metres of the resident grid"),
    "max_minutes": (0.0, 600.0, True, "the search limit in minutes"),
}

#: A resident grid finer than this many points over the communities is refused.
MAX_GRID_POINTS = 2_000_000


def check_options(**values: Any) -> dict[str, Any]:
    """Check the analysis options against :data:`OPTION_RANGES` (``None`` = default, not
    checked); return them as floats. Raises :class:`circles.errors.OptionError`."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            out[name] = None
            continue
        low, high, low_open, what = OPTION_RANGES[name]
        out[name] = check_option(name, value, low=low, high=high, low_open=low_open, what=what)
    return out


def chinacrs_name(crs: str) -> str:
    """The normalised name of a CRS option (``wgs84``, ``gcj02``, ``bd09``, ``EPSG:…``)."""
    from .chinacrs import parse_crs_name

    name = parse_crs_name(crs)
    return "wgs84" if name == "EPSG:4326" else name


def input_label(source: object) -> str:
    """A short name for an input given as a path or as data already in memory."""
    if isinstance(source, gpd.GeoDataFrame):
        return f"(in memory: {len(source)} rows)"
    if isinstance(source, WalkNetwork):
        return f"(in memory: network from {source.source or 'unknown source'})"
    return str(source)


def _describe_inputs(*paths: object) -> dict[str, dict[str, Any]]:
    roles = ("boundaries", "facilities", "network", "buildings", "rules", "categories")
    out: dict[str, dict[str, Any]] = {}
    for role, p in zip(roles, paths, strict=True):
        if p is None or str(p) == ONLINE:
            out[role] = {"source": None if p is None else ONLINE}
        elif isinstance(p, (str, Path)) and Path(p).exists():
            out[role] = _outputs.describe_input(p)
        else:
            out[role] = {"source": input_label(p)}  # in memory, or a profile name
    return out


def _check_some_facilities(facs: gpd.GeoDataFrame, problems: pd.DataFrame, label: str) -> None:
    """Refuse facilities of which none is usable: every verdict would be a gap or no data."""
    if len(facs):
        return
    if len(problems):
        reasons = problems.groupby("reason", sort=False)["row_number"].agg(list)
        reasons = reasons.loc[reasons.map(len).sort_values(ascending=False, kind="stable").index]
        top = "; ".join(
            f"{len(rows)} × {r} (row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:3]))}"
            f"{', …' if len(rows) > 3 else ''})"
            for r, rows in reasons.head(3).items()
        )
        raise InputError(
            f"none of the {problems['row_number'].nunique()} rows is usable: {top}; nothing to analyse",
            path=label,
        )
    raise InputError("no facilities: the file has no features; nothing to analyse", path=label)


def _check_buildings(comms: gpd.GeoDataFrame, blds: gpd.GeoDataFrame, path: str) -> None:
    """Refuse a buildings file that matches no community (surely the wrong file or CRS); log the
    communities without buildings (their residents go on a grid, by design)."""
    if not len(blds):
        raise InputError("no buildings: the file has no features; leave out --buildings for a grid", path=path)
    pts = gpd.GeoDataFrame(geometry=blds.geometry.representative_point().values, crs=blds.crs)
    hit = gpd.sjoin(pts, comms[["id", "geometry"]], predicate="within", how="inner")
    matched = set(hit["id"].astype(str))
    if not matched:
        raise InputError(
            f"none of the {len(blds)} buildings lies inside any of the {len(comms)} communities "
            f"(buildings span {_span(blds)}, communities {_span(comms)}): check that it is the buildings "
            "file of these communities and that its CRS is right",
            path=path,
        )
    missing = [str(c) for c in comms["id"] if str(c) not in matched]
    if missing:  # by design (residents.py); each point's origin is in access.csv
        log.info(
            "%s: %d of %d communities have no building inside (%s); their residents are placed on a grid",
            path,
            len(missing),
            len(comms),
            _ids(missing),
        )


def _check_grid_size(comms: gpd.GeoDataFrame, spacing: float) -> None:
    area = float(comms.to_crs(comms.estimate_utm_crs()).area.sum()) if len(comms) else 0.0
    n = area / (spacing * spacing)
    if n > MAX_GRID_POINTS:
        raise OptionError(
            "grid_spacing_m",
            spacing,
            f"a spacing that places at most {MAX_GRID_POINTS:,} resident points; {spacing:g} m would place "
            f"about {n:,.0f} over these communities (at least {np.sqrt(area / MAX_GRID_POINTS):.0f} m)",
        )


def check_network_covers(comms: gpd.GeoDataFrame, net: WalkNetwork, label: str, max_attach_m: float) -> list[str]:
    """Refuse a network that reaches none of the communities; warn when it reaches under half."""
    polys = np.asarray(comms.to_crs(net.crs).geometry.values, dtype=object)
    idx = net.edge_tree().query(polys, predicate="dwithin", distance=max_attach_m)
    reached = np.zeros(len(polys), dtype=bool)
    reached[np.unique(idx[0])] = True
    n = len(polys)
    if n and not reached.any():
        edges = gpd.GeoDataFrame(geometry=net.geometry, crs=net.crs).to_crs("EPSG:4326")
        raise InputError(
            f"the walking network reaches none of the {n} communities: no street within {max_attach_m:g} m "
            f"of any of them (network spans {_span(edges)}, communities {_span(comms)}); check that it is "
            "the network of this area and that the boundaries' CRS is right",
            path=label,
            field="network",
        )
    if reached.sum() * 2 < n:
        missing = [str(c) for c, ok in zip(comms["id"], reached, strict=True) if not ok]
        msg = (
            f"{label}: the walking network reaches only {int(reached.sum())} of {n} communities (no street within "
            f"{max_attach_m:g} m of {_ids(missing)}); their residents cannot reach anything: check that the "
            "network covers the whole study area"
        )
        log.warning("%s", msg)
        return [msg]
    return []


def check_facilities_placed(fac: pd.DataFrame, max_attach_m: float, label: str) -> list[str]:
    """Refuse facilities none of which is near a street; warn when most are not."""
    n = len(fac)
    out = int((~fac["placed"]).sum()) if n else 0
    if not n or out * 2 <= n:
        return []
    snap = fac.loc[~fac["placed"], "snap_m"].to_numpy(dtype=float)
    med = float(np.nanmedian(snap)) if np.isfinite(snap).any() else float("nan")
    where = f"median distance to a street {med:,.0f} m" if np.isfinite(med) else "no street near them"
    hint = "check the facilities' CRS (--facilities-crs) and that the network covers them"
    if out == n:
        raise InputError(
            f"none of the {n} facilities is within {max_attach_m:g} m of a street ({where}); {hint}",
            path=label,
        )
    msg = (
        f"{label}: {out} of {n} facilities ({out / n:.0%}) are farther than {max_attach_m:g} m from any street and "
        f"set aside ({where}); {hint} (each is listed in facilities.csv)"
    )
    log.warning("%s", msg)
    return [msg]


def _span(gdf: gpd.GeoDataFrame) -> str:
    x0, y0, x1, y1 = gdf.to_crs("EPSG:4326").total_bounds
    return f"{x0:.2f}–{x1:.2f} E, {y0:.2f}–{y1:.2f} N"


def _ids(ids: list[str], shown: int = 5) -> str:
    text = ", ".join(f"'{i}'" for i in ids[:shown])
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


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
    table_format: str = "csv",
    author: str = "",
    date: str | None = None,
    progress: bool = False,
    community_maps: Any = "auto",
) -> dict[str, Path]:
    """Write gaps.csv/xlsx, ledger.csv/xlsx, access.csv, facilities.csv, indicators.csv,
    isochrones.geojson, map.html with one map per community (community_maps/), PNG figures
    (figures/), the printed report (report.pdf) and run_info.json (inputs with their SHA-256,
    options, versions, times, stage timings).

    The folder is replaced as a whole, only once every file is written (see
    :mod:`circles._outputs`): an interrupted or failed run leaves the previous outputs as
    they were, and no file of a previous run survives next to the new ones. A folder
    holding files circles did not write, or holding an input, is refused
    (:class:`circles.errors.OutputError`); another run writing the same folder makes this
    one wait a few seconds, then refuse.

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
        Also write the figures (``figures/``: the gaps per community, an overview and one per
        community, 300 dpi PNG) and the printed report (``report.pdf``, A4); ``circles run``
        does, unless ``--no-figures``.
    author : str
        编制单位, printed on the figures and every page of the report.
    date : str, optional
        Date printed on the figures and the report (ISO; default ``SOURCE_DATE_EPOCH`` or today).
    progress : bool
        Progress bars (stderr) for the figures and the report.
    community_maps : "auto", "all", "none" or community ids
        Which communities get their own map in ``community_maps/`` (:func:`circles.mapping.write_maps`).
    table_format : {"csv", "parquet"}
        Format of the per-resident table: ``access.csv`` or, for big runs, ``access.parquet``
        (same columns; needs pyarrow).

    Returns
    -------
    dict of str to Path
        Every output written, by name (their final paths).
    """
    if table_format not in ("csv", "parquet"):
        raise InputError(f"unknown table format {table_format!r}: expected csv or parquet", field="format")
    timings: dict[str, float] = {}
    inputs = [f.get("path") for f in result.input_files.values()]
    with _outputs.atomic_folder(out_dir, inputs=inputs) as stage:
        paths = _write_all(
            result,
            stage.path,
            timings,
            lang=lang,
            offline=offline,
            facility_isochrones=facility_isochrones,
            figures=figures,
            table_format=table_format,
            author=author,
            date=date,
            progress=progress,
            community_maps=community_maps,
        )
        stage.info.update(
            run_info(
                result,
                output_timings=timings,
                output_options={
                    "lang": lang,
                    "offline": offline,
                    "facility_isochrones": facility_isochrones,
                    "figures": figures,
                    "table_format": table_format,
                    "author": author,
                },
            )
        )
    final = {k: stage.final(p) for k, p in paths.items()}
    final["run_info"] = stage.out / _outputs.RUN_INFO
    log.info("wrote %s", ", ".join(str(p) for p in final.values()))
    return final


def run_info(result: Result, *, output_timings: dict[str, float], output_options: dict[str, Any]) -> dict[str, Any]:
    """What ``run_info.json`` says about a result (the folder writer adds the command, the run
    id, the start and end times and the list of outputs)."""
    timings = {k: round(float(v), 3) for k, v in result.timings.items()}
    timings.update({f"write_{k}": round(v, 3) for k, v in output_timings.items()})
    return {
        "started": result.started or None,
        "versions": _outputs.environment(),
        "inputs": result.input_files or {k: {"path": v} for k, v in result.inputs.items()},
        "options": {**result.options, **output_options},
        "rulebook": {"profile": result.rulebook.profile, "path": str(result.rulebook.path)},
        "network": {"source": result.network.source, "nodes": result.network.n_nodes, "edges": result.network.n_edges},
        "counts": {
            "communities": len(result.communities),
            "facilities": len(result.facilities),
            "facilities_set_aside": int((~result.facilities["placed"]).sum()) if "placed" in result.facilities else 0,
            "resident_points": len(result.residents),
            "input_problems": 0 if result.input_problems is None else len(result.input_problems),
        },
        "warnings": list(result.warnings),
        "timings_s": timings,
    }


def _write_all(
    result: Result,
    out: Path,
    timings: dict[str, float],
    *,
    lang: str,
    offline: bool,
    facility_isochrones: bool,
    figures: bool,
    table_format: str = "csv",
    author: str = "",
    date: str | None = None,
    progress: bool = False,
    community_maps: Any = "auto",
) -> dict[str, Path]:
    """Write every output file into ``out`` (a fresh folder); time each stage in ``timings``."""
    from . import ledger as ledger_mod

    timed = _outputs.timed
    paths: dict[str, Path] = {}
    with timed(timings, "gaps"):
        paths["gaps_csv"] = export.write_gaps_csv(result.gaps, out / "gaps.csv")
        paths["gaps_xlsx"] = export.write_gaps_xlsx(result.gaps, out / "gaps.xlsx")
    with timed(timings, "ledger"):
        led = result.ledger if result.ledger is not None else ledger_mod.ledger_for(result)
        paths["ledger_csv"] = ledger_mod.write_ledger_csv(led, out / "ledger.csv")
        paths["ledger_xlsx"] = ledger_mod.write_ledger_xlsx(
            led, out / "ledger.xlsx", result.communities, rulebook=result.rulebook
        )
    with timed(timings, "tables"):
        if result.within_counts is not None:
            counts = result.within_counts
        elif result.access is not None:
            counts = type_counts(result.access, result.rulebook)
        else:
            raise ValueError("the result has neither walking distances (access) nor within_counts")
        acc = export.access_table(result.residents, result.rulebook.types_used(), result.type_speed, counts)
        if table_format == "parquet":
            paths["access"] = export.write_parquet(acc, out / "access.parquet")
        else:
            paths["access_csv"] = write_csv(acc, out / "access.csv")
        paths["indicators"] = write_csv(
            city_indicators(result.gaps, result.communities, result.district_field), out / "indicators.csv"
        )
        paths["facilities_csv"] = write_csv(export.facilities_table(result.facilities), out / "facilities.csv")
        if result.input_problems is not None and len(result.input_problems):
            paths["input_problems"] = write_csv(result.input_problems, out / "input_problems.csv")
    with timed(timings, "isochrones"):
        paths["isochrones"] = export.write_geojson(result.isochrones, out / "isochrones.geojson")
        if facility_isochrones:
            if result.access is None:
                raise OptionError(
                    "facility_isochrones",
                    True,
                    "off for a partitioned (--dask) run: per-facility areas need the whole city's graph",
                )
            per = isochrones.facility_isochrones(
                result.access, result.network, result.type_speed, minutes=ISOCHRONE_MINUTES
            )
            paths["facility_isochrones"] = export.write_geojson(per, out / "facility_isochrones.geojson")
    with timed(timings, "maps"):
        map_paths = mapping.write_maps(
            result, out, lang=lang, offline=offline, community_maps=community_maps, progress=progress
        )
        paths["map"] = map_paths[0]
        paths["community_maps"] = out / "community_maps"
    if figures:
        from . import figures as figs
        from . import report

        with timed(timings, "figures"):
            ctx = figs.context(result, lang, author=author, date=date)
            figs.write_figures(result, out / "figures", ctx=ctx, progress=progress)
            paths["figures"] = out / "figures"
        with timed(timings, "report"):
            paths["report"] = report.write_report(result, out / "report.pdf", ctx=ctx, progress=progress)
    return paths
