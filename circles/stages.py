"""The stages of a run, written once: every way of running circles is a sequence of these calls.

* :func:`load_inputs` — the inputs read and checked (EPSG:4326), with the options' record;
* :func:`open_network` — the walking network (a file, a download, or one already in memory);
* :func:`network_checks` — refusals and warnings that need the network;
* :func:`measure_area` — facility walks → residents → their walks → within → gaps on a network
  and its communities:
  the whole city in :func:`circles.pipeline.analyse`, one partition in
  :func:`circles.distributed.run_partition` (the parallel path maps the serial unit);
* :func:`draw_areas` — the walking areas of each facility type.

Each stage takes the options it needs from :class:`circles.options.RunOptions`; the rulebook's
derived numbers (the first rule of a type, speeds, the search limit) are here too, so that the
serial and partitioned runs read them the same way.
"""

from __future__ import annotations

import logging
import multiprocessing
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _outputs, demo, isochrones, population
from . import gates as gates_mod
from ._safety import start_workers, worker_context, worker_cores
from .access import Access, FacilityReach, compute_access, facility_reach
from .errors import InputError, OptionError
from .gaps import compute_gaps
from .ledger import Departments, load_departments
from .load import (
    TABLE_SUFFIXES,
    check_facilities,
    load_buildings,
    load_communities,
    load_facilities,
    load_facility_table,
)
from .network import WalkNetwork, read_walk_network
from .options import RunOptions, Sources
from .pilot import apply_pilot_attributes, default_rules
from .residents import overlapping_communities, place_residents
from .rulebook import Rulebook, load_rulebook

log = logging.getLogger(__name__)

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


def first_rules(rulebook: Rulebook) -> dict:
    """The first rule of each facility type.

    Its speed and threshold stand for the type in per-resident tables and on the map.
    """
    out: dict = {}
    for r in rulebook.rules:
        out.setdefault(r.facility_type, r)
    return out


def check_shift(facilities: gpd.GeoDataFrame, net: WalkNetwork):
    """Whether a GCJ-02/BD-09 correction would bring the facilities onto the streets.

    The facilities are in EPSG:4326; areas and lines are represented by a point inside them.
    """
    from .chinacrs import in_china, shift_report

    pts = facilities.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    if len(pts) < 3 or not in_china(x, y).mean() > 0.5:
        return None
    return shift_report(x, y, net.edge_tree(), net.crs)


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


def longest_by_type(rulebook: Rulebook) -> dict[str, float]:
    """Facility type -> the longest threshold distance (metres) of its rules."""
    longest: dict[str, float] = {}
    for r in rulebook.rules:
        longest[r.facility_type] = max(longest.get(r.facility_type, 0.0), rulebook.threshold_m(r))
    return longest


def search_limit_m(rulebook: Rulebook, max_minutes: float) -> float:
    """Where walking searches stop (metres).

    ``max_minutes`` at the fastest speed, at least the longest threshold.
    """
    fastest = max(rulebook.speed_of(r) for r in rulebook.rules)
    return max(max_minutes * fastest, max(rulebook.threshold_m(r) for r in rulebook.rules))


def type_counts(access: Access, rulebook: Rulebook) -> dict[str, np.ndarray]:
    """Per facility type, how many facilities each resident point reaches.

    Within the type's first rule's threshold: the ``within_<type>`` columns of access.csv.
    """
    first_rule = first_rules(rulebook)
    return {t: access.counts_within(t, rulebook.threshold_m(first_rule[t])) for t in rulebook.types_used()}


def shift_warnings(facilities: gpd.GeoDataFrame, net: WalkNetwork, facilities_crs: str | None) -> list[str]:
    """The warning that facilities sit off the streets as shifted coordinates do.

    Facilities taken as WGS-84 that sit off the streets the way GCJ-02 or BD-09 coordinates
    would; none when another CRS was declared.
    """
    out: list[str] = []
    if facilities_crs is None or chinacrs_name(facilities_crs) == "wgs84":
        shift = check_shift(facilities, net)
        if shift is not None and shift.suggestion:
            out.append(shift.message)
            log.warning("%s", shift.message)
    elif chinacrs_name(facilities_crs) in ("gcj02", "bd09"):
        message = check_declared_shift(facilities, net, chinacrs_name(facilities_crs))
        if message:
            out.append(message)
            log.warning("%s", message)
    return out


def check_declared_shift(facilities: gpd.GeoDataFrame, net: WalkNetwork, name: str) -> str | None:
    """Did the declared GCJ-02/BD-09 correction make things worse? ``facilities`` are the
    corrected points (EPSG:4326); the coordinates as given are recovered and, taken as WGS-84,
    compared with the corrected ones by their distance to the streets (the test of
    :func:`circles.chinacrs.decide_shift`). Returns the warning, or None.
    """
    from .chinacrs import decide_shift, in_china, street_distances, wgs84_to_bd09, wgs84_to_gcj02

    pts = facilities.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    if len(pts) < 3 or not in_china(x, y).mean() > 0.5:
        return None
    gx, gy = (wgs84_to_gcj02 if name == "gcj02" else wgs84_to_bd09)(x, y)
    tree = net.edge_tree()
    corrected, as_given = street_distances(x, y, tree, net.crs), street_distances(gx, gy, tree, net.crs)
    worse, _ = decide_shift(corrected, as_given, as_given)
    if worse is None:
        return None
    return (
        f"the facilities were declared {name} (--facilities-crs) and corrected to WGS-84, but the correction moves "
        f"them away from the streets (median {np.nanmedian(corrected):.0f} m from a street after it, "
        f"{np.nanmedian(as_given):.0f} m as given): they are probably WGS-84 already; leave out --facilities-crs {name}"
    )


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
    #: The run's options, checked.
    run: RunOptions = field(default_factory=RunOptions)


def load_inputs(sources: Sources, options: RunOptions) -> Inputs:
    """Load and check the inputs of a run.

    The embedded demo's when none of ``boundaries``, ``facilities`` and ``network`` is given;
    ``options`` were checked when made.

    Raises
    ------
    InputError
        Naming the file, the row and the field.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    boundaries, facilities, network = sources.boundaries, sources.facilities, sources.network
    buildings, surveyed, crs, grid_spacing_m = options.buildings, options.surveyed, options.crs, options.grid_spacing_m
    district_field, departments, categories = options.district_field, options.departments, options.categories
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
    comms = load_communities(
        boundaries,
        crs=crs,
        keep=[district_field] if district_field else [],
        problems=repairs,
        encoding=options.encoding,
        layer=options.layer,
    )
    _warn_overlaps(comms, str(boundaries), repairs)
    # the Rugao pilot's figures (boundaries named like a pilot community lying at its place); 街道
    pilot_warnings: list[str] = []
    comms = apply_pilot_attributes(
        comms, street_field=district_field, place_check=options.pilot_place_check, warnings=pilot_warnings
    )
    rules = options.rules
    rulebook = load_rulebook(
        rules if rules is not None else default_rules(comms),
        speed_override=options.speed,
        distance_reading=options.distance_reading,
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
    for role in ("population_raster", "population_totals", "gates"):
        extra = getattr(options, role)
        if extra is not None and Path(extra).exists():
            input_files[role] = _outputs.describe_input(extra)
    fcrs = options.facilities_crs or crs
    facs, problems = _load_facility_input(facilities, rulebook, fcrs, options)
    blds = load_buildings(buildings, crs=crs) if buildings is not None else None
    warnings: list[str] = list(pilot_warnings)  # logged when found
    for rep in repairs:
        warnings.append(rep.pop("message"))
        log.warning("%s", warnings[-1])
    if options.survey is not None:  # the ledger's 核实结果: surveyed types and verified facilities
        comms, facs, bad = _survey_answers(options.survey, comms, facs, rulebook, warnings)
        repairs += bad
    if repairs:
        problems = pd.concat([problems, pd.DataFrame(repairs)], ignore_index=True)
    if blds is not None:
        _check_buildings(comms, blds, str(buildings))
    _check_grid_size(comms, grid_spacing_m)
    _check_ground(comms, options)
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
        options=_record(options, profile=rulebook.profile, demo=demo_run),
        started=started,
        run=options,
    )


def _survey_answers(
    ledger: str | Path, comms: gpd.GeoDataFrame, facs: gpd.GeoDataFrame, rulebook: Rulebook, warnings: list[str]
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[dict[str, Any]]]:
    """The survey answers of a filled ledger (:mod:`circles.survey`) applied to the inputs:
    the communities with the types surveyed there, the facilities with the verified ones; the
    bad answers as rows of the input problems (each also a warning).
    """
    from . import cycle, survey

    answers = survey.read_answers(cycle.read_filled_ledger(ledger), comms, rulebook)
    comms, facs = survey.apply_answers(comms, facs, answers)
    warnings.append(answers.report())
    log.info("%s", warnings[-1])
    for p in answers.problems:
        warnings.append(f"{p['source_file']} {p['field']}: {p['reason']}: {p['value']}")
    return comms, facs, list(answers.problems)


def _load_facility_input(
    facilities: Any, rulebook: Rulebook, fcrs: str | None, options: RunOptions
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The facilities (a vector file, a table, or a GeoDataFrame in memory) and the table's
    problems (rows set aside, with their reason).
    """
    problems = pd.DataFrame(columns=["source_file", "row_number", "field", "value", "reason"])
    if isinstance(facilities, gpd.GeoDataFrame):
        facs = check_facilities(facilities, "facilities (in memory)", rulebook.facility_types, crs=fcrs)
    elif str(facilities).lower().endswith(TABLE_SUFFIXES):
        facs, problems = load_facility_table(
            facilities,
            rulebook.facility_types,
            crs=fcrs,
            encoding=options.encoding,
            categories=options.categories,
            sheet=options.sheet,
        )
    else:
        facs = load_facilities(facilities, rulebook.facility_types, crs=fcrs)
    _check_some_facilities(facs, problems, input_label(facilities))
    return facs, problems


def _check_ground(comms: gpd.GeoDataFrame, options: RunOptions) -> None:
    """The population sources and the gates file, checked before any work."""
    population.check_inputs(comms, options.population_raster, options.population_totals)
    if options.gates is not None and str(options.gates) != "osm" and not Path(options.gates).exists():
        raise InputError(
            "no such file (a gates file, or 'osm' for the network file's walls and gates)", path=str(options.gates)
        )


def _warn_overlaps(comms: gpd.GeoDataFrame, source: str, repairs: list[dict]) -> None:
    """Boundaries that contain most of another: warned and listed in the input problems (each
    shared resident is counted once, in the smaller community: :func:`circles.residents.place_residents`).
    """
    for outer, inner in overlapping_communities(comms):
        msg = f"community {outer} contains most of community {inner}: their shared residents are counted in {inner}"
        log.warning(msg)
        repairs.append(
            {
                "source_file": source,
                "row_number": int(np.flatnonzero(comms["id"].astype(str).to_numpy() == outer)[0]) + 1,
                "field": "geometry",
                "value": f"{outer} ⊃ {inner}",
                "reason": "overlapping boundaries (kept; no resident counted twice)",
                "message": msg,
            }
        )


def _record(options: RunOptions, *, profile: str, demo: bool) -> dict[str, Any]:
    """The options as ``run_info.json`` reports them.

    With the profile used and whether the run is the demo's.
    """
    out: dict[str, Any] = {}
    for key, value in options.record().items():
        out[key] = value
        if key == "rules":
            out["profile"] = profile
        elif key == "surveyed":
            out["demo"] = demo
    return out


def input_labels(inp: Inputs) -> dict[str, str]:
    """Short names of a run's inputs (``Result.inputs``)."""
    return {
        "boundaries": str(inp.boundaries),
        "facilities": input_label(inp.facilities),
        "network": input_label(inp.network),
        "buildings": "" if inp.buildings is None else str(inp.buildings),
        "rules": str(inp.rulebook.path),
    }


MAX_GRID_POINTS = 2_000_000


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
    """Refuse a buildings file that matches no community (surely the wrong file or CRS).

    The communities without buildings are logged (their residents go on a grid, by design).
    """
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
    reached[idx[0]] = True
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


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def open_network(inp: Inputs, cache_dir: str | Path | None) -> WalkNetwork:
    """The walking network of ``inp``.

    Used as it is when already in memory, downloaded for :data:`ONLINE`, else read (and cached
    in ``cache_dir``).
    """
    network = inp.network
    if isinstance(network, WalkNetwork):
        return network
    start_workers()  # the fork server's imports overlap the reading (the walking areas use it)
    if str(network) == ONLINE:
        return _download_network(inp.communities, inp.rulebook, cache_dir)
    return read_walk_network(network, cache_dir=cache_dir)


def network_checks(inp: Inputs, net: WalkNetwork) -> list[str]:
    """Refuse a network that reaches none of the communities.

    Returns the warnings about a network that reaches few of them and about facilities that sit
    off the streets as shifted coordinates do.
    """
    warnings = check_network_covers(inp.communities, net, input_label(inp.network), inp.run.max_attach_m)
    return warnings + shift_warnings(inp.facility_table, net, inp.facilities_crs)


def projected(inp: Inputs, crs: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """The communities, facilities and buildings of ``inp`` in the network's ``crs``."""
    blds = inp.building_table.to_crs(crs) if inp.building_table is not None else None
    return inp.communities.to_crs(crs), inp.facility_table.to_crs(crs), blds


# --------------------------------------------------------------------------------------------
# Measuring an area: residents -> reach -> within -> gaps
# --------------------------------------------------------------------------------------------


@dataclass
class AreaResult:
    """What :func:`measure_area` found.

    The walking distances (with the resident points and the facilities' placement) and the gap
    rows of the area's communities.
    """

    access: Access
    gaps: pd.DataFrame
    #: The area's communities with their populations as the run counted them (totals, raster).
    communities: gpd.GeoDataFrame
    #: Seconds spent in each step (``residents``, ``reach``, ``within``, ``gaps``).
    timings: dict[str, float] = field(default_factory=dict)
    #: Per closed compound, its gates and the detours they cause (:func:`circles.gates.detour_table`).
    gates: pd.DataFrame | None = None


@dataclass(frozen=True)
class Area:
    """What :func:`measure_area` measures.

    Communities, their buildings and the facilities searched from, in the network's CRS.
    """

    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    facilities: gpd.GeoDataFrame
    #: Walled compounds and their gates (:func:`circles.gates.load_compounds`), if any.
    compounds: Any = None


def measure_area(
    network: WalkNetwork,
    area: Area,
    rulebook: Rulebook,
    surveyed: set[str],
    options: RunOptions,
    *,
    progress: bool = False,
    after_reach: Callable[[Access], None] | None = None,
    after_distances: Callable[[Access | FacilityReach], None] | None = None,
) -> AreaResult:
    """Facility walks → residents → their walks → within → gaps for the communities of ``area``
    on ``network`` (without walled compounds the facilities are searched before the residents
    are placed, so that ``after_distances`` can start the walking areas early).

    The serial run measures the whole city; a partition measures its communities (and their
    context) on the streets around them, with ``after_reach`` giving the walking distances the
    whole city's facility list (:func:`circles.distributed.run_partition`).

    Parameters
    ----------
    network : WalkNetwork
    area : Area
        In the network's CRS.
    rulebook : Rulebook
    surveyed : set of str
        The facility types the whole input speaks about.
    options : RunOptions
        ``grid_spacing_m``, ``max_minutes``, ``max_attach_m`` and ``target_share`` are used.
    progress : bool
        Progress bars on the long steps.
    after_reach : callable, optional
        Called with the walking distances before the pairs within reach are measured.
    after_distances : callable, optional
        Called with the facilities' walking distances as soon as they are known: before the
        residents are placed (a :class:`~circles.access.FacilityReach`), or with the
        walking distances where walled compounds make both be measured together.
    """
    timed = _outputs.timed
    timings: dict[str, float] = {}
    start_workers()  # the fork server's imports overlap the measuring (walking areas use it)
    measured = None
    if area.compounds is None:  # walls move facilities and residents together: measured below
        with timed(timings, "reach"):
            measured = facility_reach(
                network,
                area.facilities,
                rulebook.types_used(),
                limit_m=search_limit_m(rulebook, options.max_minutes),
                max_attach_m=options.max_attach_m,
                progress=progress,
            )
            if after_distances is not None:
                after_distances(measured)
    with timed(timings, "residents"):
        residents = place_residents(
            area.communities, area.buildings, grid_spacing=options.grid_spacing_m, progress=progress
        )
        _, comms, residents = population.populate(
            area.communities,
            area.communities,
            residents,
            raster=options.population_raster,
            totals=options.population_totals,
        )
    with timed(timings, "reach"):
        acc, gate_table = _reach(network, residents, area, rulebook, options, progress, measured)
        if after_distances is not None and measured is None:
            after_distances(acc)
        measured = None  # its nearest facility of every node and type: no longer read
        if after_reach is not None:
            after_reach(acc)
    with timed(timings, "within"):
        acc.prepare_within(longest_by_type(rulebook), progress=progress)
    with timed(timings, "gaps"):
        gaps = compute_gaps(comms, acc, rulebook, surveyed, target_share=options.target_share, progress=progress)
        gaps = population.group_columns(gaps, comms, {r.id: r.serves for r in rulebook.rules})
    return AreaResult(access=acc, gaps=gaps, communities=comms, timings=timings, gates=gate_table)


def _reach(
    network: WalkNetwork,
    residents: gpd.GeoDataFrame,
    area: Area,
    rulebook: Rulebook,
    options: RunOptions,
    progress: bool,
    measured: FacilityReach | None = None,
) -> tuple[Access, pd.DataFrame | None]:
    """The walking distances; through the gates of walled compounds when ``area`` has them,
    with the detours they cause (the same search ignoring the walls).
    """
    types = rulebook.types_used()
    limit_m = search_limit_m(rulebook, options.max_minutes)
    hook = None
    if area.compounds is not None:
        hook = gates_mod.constrainer(network, area.compounds, residents, options.max_attach_m)
    acc = compute_access(
        network,
        residents,
        area.facilities,
        types,
        limit_m=limit_m,
        max_attach_m=options.max_attach_m,
        progress=progress,
        constrain=hook,
        measured=measured,
    )
    if area.compounds is None:
        return acc, None
    free = compute_access(
        network, residents, area.facilities, types, limit_m=limit_m, max_attach_m=options.max_attach_m
    )
    return acc, gates_mod.detour_table(area.compounds, acc.residents, free.residents, types, type_speeds(rulebook))


def draw_areas(
    access: Access, network: WalkNetwork, rulebook: Rulebook, boxes: np.ndarray, *, progress: bool = False
) -> gpd.GeoDataFrame:
    """The walking areas of each facility type within ``boxes``.

    ``boxes`` has one row per box, in the network's CRS; the areas are drawn at the type's first
    rule's speed and every rule's threshold.
    """
    return start_areas(access, network, rulebook, boxes, progress=progress).result()


class AreasAfterDistances:
    """A :func:`measure_area` ``after_distances`` hook that starts drawing the walking areas
    (:func:`start_areas`) as soon as the facilities' walking distances are known: the worker
    processes draw them while this process places the residents and measures their walks, the
    pairs within reach, the gaps and the ledger. :meth:`result` is :func:`draw_areas`' answer.
    """

    def __init__(self, network: WalkNetwork, rulebook: Rulebook, boxes: np.ndarray, *, progress: bool = False) -> None:
        self.network, self.rulebook, self.boxes, self.progress = network, rulebook, boxes, progress
        self.pending: isochrones.PendingAreas | None = None

    def __call__(self, measured: Access | FacilityReach) -> None:
        """Start the drawing on the walking distances ``measured``."""
        self.pending = start_areas(measured, self.network, self.rulebook, self.boxes, progress=self.progress)

    def result(self) -> gpd.GeoDataFrame:
        """The walking areas (waits for the workers)."""
        if self.pending is None:
            raise RuntimeError("the walking areas were never started (measure_area did not reach its hook)")
        return self.pending.result()


def start_areas(
    access: Access | FacilityReach,
    network: WalkNetwork,
    rulebook: Rulebook,
    boxes: np.ndarray,
    *,
    progress: bool = False,
) -> isochrones.PendingAreas:
    """:func:`draw_areas`, started: the tasks go to the worker processes now."""
    return isochrones.start_type_isochrones(
        access,
        network,
        type_speeds(rulebook),
        minutes=ISOCHRONE_MINUTES,
        rule_limits=rule_limits(rulebook),
        boxes=boxes,
        progress=progress,
    )


#: Worker processes of a :class:`SideProcess`. Three: one for each call a run hands over (the
#: gaps and ledger workbooks, the walking areas' GeoJSON, about 20 s each on a million-node
#: city), so that none waits for another while this process writes the tables and maps; with
#: two, the third call ran alone at the end with one core idle for about 17 s. The cores are
#: shared by the system. No source: measured (issue 25).
SIDE_WORKERS = 3


class SideProcess:
    """Calls run in worker processes while this process goes on: the workbooks and the walking
    areas, written while this process writes the tables and the maps.

    ``side.start(name, fn, *args)`` starts ``fn(*args)``; :meth:`results` waits for every call
    and returns their results by name, then stops the workers. Up to :data:`SIDE_WORKERS` calls
    run at once, the next one starting when a worker is free. On one core, in a daemonic
    process (a Dask worker), or when the workers cannot start or die, the calls run here: the
    same files either way.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._calls: dict[str, tuple[Callable[..., Any], tuple, dict, Future | None]] = {}

    def start(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Start ``fn(*args, **kwargs)`` in the worker (its result in :meth:`results` as ``name``)."""
        future = None
        if worker_cores() >= 2 and not multiprocessing.current_process().daemon:
            try:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(max_workers=SIDE_WORKERS, mp_context=worker_context())
                    # an error before results(): the calls not started are dropped with this object
                    weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
                future = self._pool.submit(fn, *args, **kwargs)
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                log.warning("worker process unavailable (%s); writing here", exc)
        self._calls[name] = (fn, args, kwargs, future)

    def results(self) -> dict[str, Any]:
        """Every call's result by name, in the order started (an error is raised here)."""
        try:
            return {name: self._result(*call) for name, call in self._calls.items()}
        finally:
            self._calls.clear()
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    @staticmethod
    def _result(fn: Callable[..., Any], args: tuple, kwargs: dict, future: Future | None) -> Any:
        if future is not None:
            try:
                return future.result()
            except BrokenProcessPool as exc:  # the worker died (out of memory?): do it here
                log.warning("worker process stopped (%s); writing here", exc)
        return fn(*args, **kwargs)
