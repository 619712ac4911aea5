"""The whole analysis as one call: load → network → residents → reach → gaps → outputs.

>>> from circles import pipeline
>>> result = pipeline.analyse()            # the embedded demo
>>> paths = pipeline.write_outputs(result, "results")
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _outputs, export, gates, isochrones, mapping, population
from ._sheets import write_csv
from .access import Access
from .errors import OptionError
from .gaps import surveyed_types
from .indicators import city_indicators, resident_composite
from .ledger import Departments, build_ledger
from .network import WalkNetwork
from .options import OutputOptions, RunOptions, Sources, build
from .rulebook import Rulebook

# the stages, and the names that moved to circles.stages, still importable from here
from .stages import (  # noqa: F401  — re-exports (ONLINE, check_shift, first_rules, rule_limits …)
    ISOCHRONE_MINUTES,
    ONLINE,
    Area,
    AreasAfterDistances,
    Inputs,
    SideProcess,
    area_boxes,
    check_facilities_placed,
    check_network_covers,
    check_shift,
    draw_areas,
    first_rules,
    input_label,
    input_labels,
    load_inputs,
    measure_area,
    network_checks,
    open_network,
    projected,
    rule_limits,
    search_limit_m,
    shift_warnings,
    type_counts,
    type_speeds,
)

log = logging.getLogger(__name__)


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
    #: Closed compounds, their gates and the detours they cause (``gates`` of :func:`analyse`;
    #: :func:`circles.gates.detour_table`), written as ``gates.csv``.
    gates: pd.DataFrame | None = None

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


def analyse(
    boundaries: str | Path | None = None,
    facilities: str | Path | gpd.GeoDataFrame | None = None,
    network: str | Path | WalkNetwork | None = None,
    *,
    options: RunOptions | None = None,
    progress: bool = True,
    **overrides: Any,
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
    options : RunOptions, optional
        The analysis options (:class:`circles.options.RunOptions`); default: its defaults.
    progress : bool
        Show progress bars on the long steps.
    **overrides
        Any option of :class:`~circles.options.RunOptions` by name, over ``options``
        (``analyse(b, f, n, speed=60)``); an unknown name raises :class:`OptionError`.
        Each option is described in :class:`circles.options.RunOptions`.
    """
    opts = build(RunOptions, options, **overrides)
    timings: dict[str, float] = {}
    timed = _outputs.timed
    with timed(timings, "load"):
        inp = load_inputs(Sources(boundaries, facilities, network), opts)
    with timed(timings, "network"):
        net = open_network(inp, opts.cache_dir)
    warnings = [*inp.warnings, *network_checks(inp, net)]
    comms_p, facs_p, blds_p = projected(inp, net.crs)
    compounds = gates.load_compounds(opts.gates, inp.network, comms_p) if opts.gates is not None else None
    surveyed = surveyed_types(inp.facility_table, opts.surveyed)
    area = Area(comms_p, blds_p, facs_p, compounds)
    longest = max(inp.rulebook.threshold_m(r) for r in inp.rulebook.rules)
    areas = AreasAfterDistances(net, inp.rulebook, area_boxes(comms_p, longest), progress=progress)
    measured = measure_area(net, area, inp.rulebook, surveyed, opts, progress=progress, after_distances=areas)
    comms_p = measured.communities  # with the populations counted (totals, raster)
    timings.update(measured.timings)
    acc = measured.access
    warnings += check_facilities_placed(acc.facilities, opts.max_attach_m, input_label(inp.facilities))
    with timed(timings, "gaps"):
        ledger = build_ledger(measured.gaps, comms_p, inp.rulebook, departments=inp.departments)
        ledger = population.annotate_ledger(ledger, measured.gaps)
    with timed(timings, "isochrones"):  # drawn by the workers since the distances were known
        iso = areas.result()
    return Result(
        communities=comms_p,
        facilities=acc.facilities,
        residents=acc.residents,
        gaps=measured.gaps,
        isochrones=iso,
        network=net,
        rulebook=inp.rulebook,
        access=acc,
        surveyed=surveyed,
        type_speed=type_speeds(inp.rulebook),
        timings=timings,
        warnings=warnings,
        ledger=ledger,
        gates=measured.gates,
        **from_inputs(inp),
    )


def from_inputs(inp: Inputs) -> dict[str, Any]:
    """The fields of a :class:`Result` that come from its inputs as loaded."""
    return {
        "input_problems": inp.problems,
        "district_field": inp.run.district_field,
        "departments": inp.departments,
        "inputs": input_labels(inp),
        "input_files": inp.input_files,
        "options": inp.options,
        "started": inp.started,
    }


def build_map(result: Result, lang: str = "zh", offline: bool = False):
    """The folium map of ``result`` (the overview)."""
    return mapping.result_map(result, lang=lang, offline=offline)


def write_outputs(
    result: Result,
    out_dir: str | Path = "results",
    *,
    options: OutputOptions | None = None,
    progress: bool = False,
    previous_ledger: Any = None,
    **overrides: Any,
) -> dict[str, Path]:
    """Write every output of ``result`` into ``out_dir``.

    gaps.csv/xlsx, ledger.csv/xlsx, access.csv, facilities.csv, indicators.csv,
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
    options : OutputOptions, optional
        What to write (:class:`circles.options.OutputOptions`); default: its defaults.
    progress : bool
        Progress bars (stderr) for the figures and the report.
    **overrides
        Any option of :class:`~circles.options.OutputOptions` by name, over ``options``:

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
    community_maps : "auto", "all", "none" or community ids
        Which communities get their own map in ``community_maps/`` (:func:`circles.mapping.write_maps`).
    table_format : {"csv", "parquet"}
        Format of the per-resident table: ``access.csv`` or, for big runs, ``access.parquet``
        (same columns; needs pyarrow).
    previous_ledger : circles.cycle.FilledLedger, optional
        Last month's filled ledger (:func:`circles.cycle.read_filled_ledger`): what people wrote
        in it is carried into the new ``ledger.xlsx`` / ``ledger.csv``, items now met are closed
        (已销号), and the workbook read is kept as ``ledger_previous.xlsx``.

    Returns
    -------
    dict of str to Path
        Every output written, by name (their final paths).
    """
    opts = build(OutputOptions, options, **overrides)
    if previous_ledger is None and opts.ledger is not None:
        from . import cycle

        previous_ledger = cycle.read_filled_ledger(opts.ledger)  # before the folder that may hold it is replaced
    timings: dict[str, float] = {}
    inputs = [f.get("path") for f in result.input_files.values()]
    with _outputs.atomic_folder(out_dir, inputs=inputs) as stage:
        paths = _write_all(result, stage.path, timings, opts, progress=progress, previous_ledger=previous_ledger)
        stage.info.update(run_info(result, output_timings=timings, output_options=opts.record()))
    final = {k: stage.final(p) for k, p in paths.items()}
    final["run_info"] = stage.out / _outputs.RUN_INFO
    log.info("wrote %s", ", ".join(str(p) for p in final.values()))
    return final


def run_info(result: Result, *, output_timings: dict[str, float], output_options: dict[str, Any]) -> dict[str, Any]:
    """What ``run_info.json`` says about a result.

    The folder writer adds the command, the run id, the start and end times and the list of
    outputs.
    """
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


def _write_ledger(
    result: Result, out: Path, options: OutputOptions, previous_ledger: Any, side: SideProcess
) -> dict[str, Path]:
    """Write the ledger (CSV here, XLSX by the ``side`` worker), carried forward from ``previous_ledger`` when given.

    Residents' notes (``options.opinions``) are written beside it and fill its 居民意见 sheet;
    what the carry-forward reports joins ``result.warnings``.
    """
    from . import ledger as ledger_mod

    paths: dict[str, Path] = {}
    lang = options.lang
    led = result.ledger if result.ledger is not None else ledger_mod.ledger_for(result)
    carried = None
    if previous_ledger is not None:
        from . import cycle
        from .figures import report_date

        run_day = dt.date.fromisoformat(report_date(options.date))
        carried = cycle.carry_forward(led, previous_ledger, date=run_day)
        led = carried.ledger
        result.warnings.extend(carried.report)
        paths["ledger_previous"] = cycle.keep_copy(previous_ledger, out / "ledger_previous.xlsx")
    opinion_rows = None
    if options.opinions is not None:  # residents' notes from the maps, beside the ledger
        from . import opinions

        notes = opinions.read_opinions(options.opinions, result.communities, result.rulebook, lang=lang)
        paths.update(opinions.write_opinions(notes, out, lang=lang))
        opinion_rows = opinions.opinions_table(notes, lang)  # the ledger's 居民意见 sheet
    paths["ledger_csv"] = ledger_mod.write_ledger_csv(led, out / "ledger.csv")
    side.start(
        "ledger_xlsx",
        ledger_mod.write_ledger_xlsx,
        led,
        out / "ledger.xlsx",
        result.communities,
        rulebook=result.rulebook,
        carried=carried,
        opinions=opinion_rows,
    )
    return paths


def _access_table(result: Result) -> pd.DataFrame:
    """Per resident: walking distance and time to each type, and the composite columns.

    Raises
    ------
    ValueError
        When the result has neither walking distances nor counts within reach.
    """
    if result.within_counts is not None:
        counts = result.within_counts
    elif result.access is not None:
        counts = type_counts(result.access, result.rulebook)
    else:
        raise ValueError("the result has neither walking distances (access) nor within_counts")
    acc = export.access_table(result.residents, result.rulebook.types_used(), result.type_speed, counts)
    composite = resident_composite(
        result.residents,
        result.rulebook,
        result.surveyed,
        float(result.options.get("max_minutes", RunOptions().max_minutes)),
    )
    return pd.concat([acc, composite.set_axis(acc.index)], axis=1)


def _write_tables(result: Result, out: Path, options: OutputOptions) -> dict[str, Path]:
    """Write the tables: access (CSV or Parquet), indicators, facilities, gates, input problems."""
    paths: dict[str, Path] = {}
    acc = _access_table(result)
    if options.table_format == "parquet":
        paths["access"] = export.write_parquet(acc, out / "access.parquet")
    else:
        paths["access_csv"] = write_csv(acc, out / "access.csv")
    paths["indicators"] = write_csv(
        city_indicators(result.gaps, result.communities, result.district_field), out / "indicators.csv"
    )
    paths["facilities_csv"] = write_csv(export.facilities_table(result.facilities), out / "facilities.csv")
    if result.gates is not None:
        paths["gates_csv"] = write_csv(result.gates, out / "gates.csv")
    if result.input_problems is not None and len(result.input_problems):
        paths["input_problems"] = write_csv(result.input_problems, out / "input_problems.csv")
    return paths


def _write_isochrones(result: Result, out: Path, options: OutputOptions, side: SideProcess) -> dict[str, Path]:
    """Write the walking areas (by the ``side`` worker), and each facility's own when asked (``facility_isochrones``).

    Raises
    ------
    OptionError
        For per-facility areas of a partitioned run (no whole-city graph).
    """
    paths: dict[str, Path] = {}
    side.start("isochrones", export.write_geojson, result.isochrones, out / "isochrones.geojson")
    if options.facility_isochrones:
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
    return paths


def _write_all(
    result: Result,
    out: Path,
    timings: dict[str, float],
    options: OutputOptions,
    *,
    progress: bool = False,
    previous_ledger: Any = None,
) -> dict[str, Path]:
    """Write every output file into ``out`` (a fresh folder); time each stage in ``timings``."""
    timed = _outputs.timed
    paths: dict[str, Path] = {}
    lang, offline, figures, community_maps = options.lang, options.offline, options.figures, options.community_maps
    side = SideProcess()  # the workbooks and the areas are written by a worker while this process goes on
    with timed(timings, "gaps"):
        paths["gaps_csv"] = export.write_gaps_csv(result.gaps, out / "gaps.csv")
        side.start("gaps_xlsx", export.write_gaps_xlsx, result.gaps, out / "gaps.xlsx")
    with timed(timings, "ledger"):
        paths.update(_write_ledger(result, out, options, previous_ledger, side))
    with timed(timings, "tables"):
        paths.update(_write_tables(result, out, options))
    with timed(timings, "isochrones"):
        paths.update(_write_isochrones(result, out, options, side))
    with timed(timings, "maps"):
        map_paths = mapping.write_maps(
            result, out, lang=lang, offline=offline, community_maps=community_maps, progress=progress
        )
        paths["map"] = map_paths[0]
        paths["community_maps"] = out / "community_maps"
    with timed(timings, "workbooks"):  # waiting for the worker writing them
        paths.update(side.results())
    if figures:
        from . import figures as figs
        from . import report

        with timed(timings, "figures"):
            ctx = figs.context(result, lang, author=options.author, date=options.date)
            figs.write_figures(result, out / "figures", ctx=ctx, progress=progress)
            paths["figures"] = out / "figures"
        with timed(timings, "report"):
            paths["report"] = report.write_report(result, out / "report.pdf", ctx=ctx, progress=progress)
    return paths
