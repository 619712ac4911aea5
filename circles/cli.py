"""Command-line interface: a thin layer over :mod:`circles.pipeline`.

circles run                      # the embedded demo
circles run --boundaries B --facilities F --network N --out results/
circles run ... --dask local:2   # in partitions on Dask (same results)
circles batch cities.yaml --out results/batch [--dask ADDRESS]
circles extract --osm F --out D  # communities, buildings, facilities of any OSM file
circles demo-data                # regenerate the demo inputs from the OSM file
circles rules                    # list the rulebook in use
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import __version__
from ._safety import fewer_malloc_arenas
from ._sheets import write_csv
from .errors import CirclesError, OptionError, check_option

if TYPE_CHECKING:
    from .options import RunOptions, Sources

log = logging.getLogger("circles")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """The inputs, the analysis options and the output options (all declared in :mod:`circles.options`)."""
    from .options import OutputOptions, RunOptions, Sources, add_arguments

    add_arguments(p, Sources)
    p.add_argument("--out", default="results", help="output folder (default: results/)")
    add_arguments(p, RunOptions)
    add_arguments(p, OutputOptions)
    _add_force(p)


def _add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an --out that holds files circles did not write (they are kept; an output of the "
        "same name replaces one); inputs are never overwritten",
    )


def _add_map_args(p: argparse.ArgumentParser) -> None:
    from .options import OutputOptions, add_arguments

    add_arguments(p, OutputOptions, groups=("maps",))


def _cmd_run(args: argparse.Namespace) -> int:
    from . import _outputs, _summary, pipeline
    from .options import DaskOptions, OutputOptions, as_dict, from_args

    sources, run = _check_inputs(args)
    output = from_args(OutputOptions, args)
    dask = from_args(DaskOptions, args)
    previous = None
    if output.ledger:
        from . import cycle

        previous = cycle.read_filled_ledger(output.ledger)  # read whole before the folder may be replaced
        run = run.updated(survey=output.ledger)  # its 核实结果 answers enter the analysis (circles.survey)
    progress = sys.stderr.isatty()
    if dask.dask and output.facility_isochrones:
        raise OptionError(
            "facility_isochrones", True, "off with --dask (per-facility areas need the whole city's graph)"
        )
    if dask.dask and (run.population_raster or run.population_totals or run.gates):
        raise CirclesError("--population-raster, --population-totals and --gates do not work with --dask yet")
    # the output folder is checked, probed and locked before any work, and held until written
    with _outputs.claim(args.out, inputs=_input_paths(args), force=args.force):
        if dask.dask:
            from . import distributed

            result = distributed.analyse_partitioned(
                sources.boundaries,
                sources.facilities,
                sources.network,
                dask=dask.dask,
                tile_m=dask.tile_km * 1000.0 if dask.tile_km else None,
                options=run,
                progress=progress,
            )
        else:
            result = pipeline.analyse(
                sources.boundaries, sources.facilities, sources.network, options=run, progress=progress
            )
        paths = pipeline.write_outputs(result, args.out, progress=progress, previous_ledger=previous, **as_dict(output))
    lines = _summary.summary_lines(result, paths, output.lang, version=__version__, author=output.author)
    if "opinions_by_community" in paths:
        from ._labels import LIVE_LABELS

        n_notes = len(pd.read_csv(paths["opinions"], encoding="utf-8-sig"))
        lines.append(LIVE_LABELS[output.lang]["opinions_line"].format(n=n_notes, path=paths["opinions_by_community"]))
    print("\n".join(lines))
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import run_batch

    def line(rep) -> None:
        if rep.status == "ok":
            print(f"{rep.city}: ok in {rep.seconds:.1f} s, {rep.communities} communities -> {rep.out_dir}")
        else:
            print(f"{rep.city}: FAILED after {rep.seconds:.1f} s: {rep.error}")
        sys.stdout.flush()

    result = run_batch(
        args.cities, args.out, dask=args.dask, cache=args.cache, outputs_by=args.outputs_by, on_city=line
    )
    failed = [r.city for r in result.reports if r.status != "ok"]
    print(
        f"{len(result.reports) - len(failed)} of {len(result.reports)} cities finished"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    print("outputs: " + ", ".join(str(p) for p in result.paths.values()))
    return 0 if not failed else 1


def _cmd_map(args: argparse.Namespace) -> int:
    from . import _outputs, figures, mapping, pipeline

    # the maps need resident points, the network and the walking areas, which a finished run's
    # files do not hold: the analysis is run again (the cached network makes it quick). The maps
    # replace those of the folder; a run's other outputs there are kept.
    sources, run = _check_inputs(args)
    with _outputs.claim(args.out, inputs=_input_paths(args), force=args.force):
        # never a mix of two analyses: the folder's run must be this one (inputs before the work, options after)
        _outputs.check_same_analysis(args.out, _main_inputs(args))
        result = pipeline.analyse(
            sources.boundaries, sources.facilities, sources.network, options=run, progress=sys.stderr.isatty()
        )
        _outputs.check_same_analysis(args.out, result.input_files, result.options)
        timings: dict[str, float] = {}
        with _outputs.atomic_folder(args.out, update=True) as stage:
            with _outputs.timed(timings, "maps"):
                paths = mapping.write_maps(
                    result,
                    stage.path,
                    lang=args.lang,
                    offline=not args.online_map,
                    community_maps=args.community_maps,
                    progress=sys.stderr.isatty(),
                )
            figs = []
            if not args.no_figures:
                with _outputs.timed(timings, "figures"):
                    figs = figures.write_figures(
                        result, stage.path / "figures", lang=args.lang, author=args.author, progress=sys.stderr.isatty()
                    )
            stage.info.update(
                pipeline.run_info(
                    result,
                    output_timings=timings,
                    output_options={"lang": args.lang, "offline": not args.online_map, "figures": bool(figs)},
                )
            )
    overview = stage.final(paths[0])
    print(f"maps: {overview} and {len(paths) - 1} community maps in {overview.parent / 'community_maps'}")
    if figs:
        print(f"figures: {len(figs)} PNG in {stage.final(figs[0]).parent}")
    return 0


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from . import demo

    paths = demo.build_demo_data(args.osm, args.out)
    for k, p in paths.items():
        print(f"{k}: {p}")
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from .extract import extract

    paths = extract(args.osm, args.out, units=args.units, force=args.force)
    for k, p in paths.items():
        print(f"{k}: {p}")
    return 0


def _cmd_rules(args: argparse.Namespace) -> int:
    from .rulebook import load_rulebook

    rb = load_rulebook(args.rules, speed_override=args.speed, distance_reading=args.distance_reading)
    rows = [
        {
            "rule": r.id,
            "type": r.facility_type,
            "name": r.name_zh,
            "min": "—" if r.check == "supply" else f"{rb.threshold_minutes(r):.3g}",
            "m/min": f"{rb.speed_of(r):.3g}",
            "metres": "—" if r.check == "supply" else round(rb.threshold_m(r)),
            "reading": rb.reading_of(r),
            "verified": r.verified,
            "source": r.source,
        }
        for r in rb.rules
    ]
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(f"{rb.profile}: {rb.name_zh} ({rb.path})")
        if rb.distance_reading == "life_circle" and rb.speed_override is None:
            print(f"minutes read as life-circle distances: {rb.life_circle_source}")
        print(pd.DataFrame(rows).to_string(index=False))
        if rb.checklist:
            print("checklist items (status to_assess in the ledger):")
            print(
                pd.DataFrame(
                    [
                        {"rule": r.id, "item": r.item, "name": r.name_zh, "verified": r.verified, "source": r.source}
                        for r in rb.checklist
                    ]
                ).to_string(index=False)
            )
        for change in rb.changes:
            print(f"local change: {change}")
    return 0


def _analysis_kwargs(args: argparse.Namespace) -> dict:
    """The analysis options of the command line by name, and ``progress``."""
    from .options import RunOptions, as_dict, from_args

    return {**as_dict(from_args(RunOptions, args)), "progress": sys.stderr.isatty()}


def _check_inputs(args: argparse.Namespace) -> tuple[Sources, RunOptions]:
    """Check everything that can be checked before any work.

    The three inputs given together, the options in range (checked when the options are made).
    """
    from .options import RunOptions, Sources, from_args

    user = [args.boundaries, args.facilities, args.network]
    if any(user) and not all(user):
        raise CirclesError("give all three of --boundaries, --facilities and --network (or none, for the demo)")
    if getattr(args, "community_maps", None):
        from .demo import DEMO_BOUNDARIES
        from .load import check_community_choice

        check_community_choice(args.boundaries or DEMO_BOUNDARIES, args.community_maps)
    _check_cache_outside_out(args)
    return from_args(Sources, args), from_args(RunOptions, args)


def _check_cache_outside_out(args: argparse.Namespace) -> None:
    """A cache folder inside --out would be replaced with the outputs (and is refused after the work otherwise)."""
    cache, out = getattr(args, "cache", None), getattr(args, "out", None)
    if not cache or not out or "://" in str(cache):
        return
    c, o = Path(cache).expanduser().resolve(), Path(out).expanduser().resolve()
    if c == o or o in c.parents:
        raise CirclesError(
            f"--cache {cache} lies inside --out {out}: circles replaces the output folder as a whole, so the cache "
            "would be lost with every run; keep the cache elsewhere (e.g. --cache cache/ beside the outputs)"
        )


def _main_inputs(args: argparse.Namespace) -> dict[str, str]:
    """The boundaries, facilities and network files of a command (the demo's when none is given)."""
    from . import demo

    if not (args.boundaries or args.facilities or args.network):
        return {"boundaries": str(demo.DEMO_BOUNDARIES), "facilities": str(demo.DEMO_FACILITIES)}
    given = {"boundaries": args.boundaries, "facilities": args.facilities, "network": args.network}
    return {k: str(v) for k, v in given.items() if v and Path(str(v)).is_file()}


def _input_paths(args: argparse.Namespace) -> list[str]:
    """The files of the user's that no output may replace."""
    names = (
        "boundaries",
        "facilities",
        "network",
        "buildings",
        "rules",
        "categories",
        "scenario",
        "candidates",
        "population_raster",
        "population_totals",
        "gates",
    )
    return [str(v) for v in (getattr(args, n, None) for n in names) if v and Path(str(v)).exists()]


def _cmd_whatif(args: argparse.Namespace) -> int:
    from . import _outputs, _summary
    from ._labels import SCENARIO_TERMINAL
    from .whatif import run_whatif

    sources, run = _check_inputs(args)
    with _outputs.atomic_folder(args.out, inputs=_input_paths(args), force=args.force) as stage:
        staged, comp = run_whatif(
            args.scenario,
            stage.path,
            boundaries=args.boundaries,
            facilities=args.facilities,
            network=args.network,
            offline=not args.online_map,
            lang=args.lang,
            community_maps=args.community_maps,
            **_analysis_kwargs(args),
        )
        stage.info["scenario"] = _outputs.describe_input(args.scenario)
    paths = {k: stage.final(p) for k, p in staged.items()}
    planned = pd.read_csv(paths["planned"], encoding="utf-8-sig", keep_default_na=False)
    for line in _summary.whatif_lines(comp, planned, _type_names(args.lang), args.lang):
        print(line)
    print(SCENARIO_TERMINAL[args.lang]["outputs_files"].format(paths=", ".join(str(p) for p in paths.values())))
    return 0


def _type_names(lang: str) -> dict[str, str]:
    """Facility type id -> its name in ``lang`` (the packaged types)."""
    from ._labels import type_name
    from .rulebook import load_facility_types

    return {t: type_name(ft, lang) for t, ft in load_facility_types().items()}


def _cmd_site(args: argparse.Namespace) -> int:
    import geopandas as gpd

    from . import _outputs, mapping, pipeline
    from ._covering import EXACT_TIME_LIMIT_S
    from ._labels import SCENARIO_TERMINAL
    from .export import geojson_file
    from .load import load_candidates
    from .siting import describe_sites, propose_sites, site_map

    sources, run = _check_inputs(args)
    if args.time_limit is None:
        args.time_limit = EXACT_TIME_LIMIT_S
    check_option("time_limit", args.time_limit, low=0.0, high=86_400, low_open=True, what="seconds for the exact model")
    if args.inventory:
        return _cmd_site_inventory(args)
    if not args.rule:
        raise OptionError("rule", args.rule, "a rule id (see `circles rules`), or --inventory")
    if args.k is not None:
        check_option("k", args.k, low=1, high=10_000, what="the number of sites to propose")
    check_option("target", args.target, low=0.0, high=1.0, low_open=True, what="the target share of residents")
    cands = load_candidates(args.candidates, args.crs) if args.candidates else None  # checked before the work
    with _outputs.claim(args.out, inputs=_input_paths(args), force=args.force):
        result = pipeline.analyse(
            sources.boundaries, sources.facilities, sources.network, options=run, progress=sys.stderr.isatty()
        )
        communities = [args.community] if args.community else [None]
        if args.each:
            communities = list(result.communities["id"])
        frames = []
        for cid in communities:
            sites, note = propose_sites(
                result,
                args.rule,
                community_id=cid,
                candidates=cands,
                k=args.k,
                progress=True,
                target_share=args.target,
                method=args.method,
                time_limit=args.time_limit,
                lang=args.lang,
            )
            sites = describe_sites(result, args.rule, sites, community_id=cid)
            _print_site_question(result, args, cid, sites)
            frames.append(sites.assign(question=cid or "all", note=note))
        table = pd.concat(frames, ignore_index=True)
        # one table per rule: other rules' tables in the folder are kept
        names = [f"sites_{args.rule}.csv"]
        with _outputs.atomic_folder(args.out, update=True) as stage:
            write_csv(table, stage.path / names[0])
            if len(table):
                geojson_file(
                    gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326"),
                    stage.path / f"sites_{args.rule}.geojson",
                )
                names.append(f"sites_{args.rule}.geojson")
            m = site_map(result, args.rule, table, lang=args.lang, offline=not args.online_map)
            mapping.save_map(m, stage.path / f"sites_{args.rule}.html", offline=not args.online_map)
            names.append(f"sites_{args.rule}.html")
            stage.info.update(pipeline.run_info(result, output_timings={}, output_options={"rule": args.rule}))
            if args.candidates:
                stage.info["inputs"]["candidates"] = _outputs.describe_input(args.candidates)
    print(SCENARIO_TERMINAL[args.lang]["outputs_files"].format(paths=", ".join(str(stage.out / n) for n in names)))
    return 0


def _print_site_question(result, args: argparse.Namespace, cid: str | None, sites: pd.DataFrame) -> None:
    """One question of ``circles site`` in the run's language: who is within reach today, what
    the proposal achieves, its guarantee and its sites (whole people, rounded minutes).
    """
    import numpy as np

    from . import _summary
    from ._labels import SCENARIO_TERMINAL, SITING_GUARANTEE

    rule = result.rulebook.rule(args.rule)
    limit = result.rulebook.threshold_m(rule)
    res = result.residents if cid is None else result.residents[result.residents["community_id"] == cid]
    dist = res[f"dist_{rule.facility_type}"].fillna(np.inf).to_numpy()
    names = dict(zip(result.communities["id"].astype(str), result.communities["name"].astype(str), strict=True))
    name = SCENARIO_TERMINAL[args.lang]["all_communities"] if cid is None else names.get(str(cid), str(cid))
    ask = {"k": args.k, "target": args.target, "minutes": result.rulebook.threshold_minutes(rule)}
    print(
        _summary.site_question_line(
            name,
            float(res["population"].sum()),
            float(res.loc[dist <= limit, "population"].sum()),
            int(((dist > limit) & res["placed"].to_numpy()).sum()),
            sites,
            ask,
            args.lang,
        )
    )
    if len(sites):
        colon = "：" if args.lang == "zh" else ": "
        print(f"  {SITING_GUARANTEE[args.lang]['label']}{colon}{sites['guarantee'].iloc[0]}")
        for line in _summary.site_lines(sites, args.lang):
            print(line)


def _cmd_site_inventory(args: argparse.Namespace) -> int:
    """`circles site --inventory`: which items go into which existing spaces."""
    from . import _outputs, inventory, pipeline
    from .load import read_vector, to_wgs84

    if args.budget is not None:
        check_option("budget", args.budget, low=0.0, high=1e9, what="a budget in 万元")
    rules = [r.strip() for r in args.rule.split(",") if r.strip()] if args.rule else None
    spaces = to_wgs84(read_vector(args.inventory), args.inventory, args.crs)
    inventory.read_spaces(spaces, args.inventory)  # bad spaces fail before the analysis
    with _outputs.claim(args.out, inputs=[*_input_paths(args), args.inventory], force=args.force):
        result = pipeline.analyse(args.boundaries, args.facilities, args.network, **_analysis_kwargs(args))
        pairs, table, plan, newly = inventory.plan_inventory(
            result,
            spaces,
            rules=rules,
            budget=args.budget,
            community_id=args.community,
            method=args.method,
            time_limit=args.time_limit,
            path=args.inventory,
        )
        for line in inventory.summary_lines(pairs, table, plan, args.budget, args.lang):
            print(line)
        with _outputs.atomic_folder(args.out, update=True) as stage:
            names = inventory.write_inventory(stage.path, pairs, table, newly)
            stage.info.update(pipeline.run_info(result, output_timings={}, output_options={"inventory": True}))
            stage.info["inputs"]["inventory"] = _outputs.describe_input(args.inventory)
    print("outputs: " + ", ".join(str(stage.out / n) for n in names))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from . import _outputs
    from .whatif import compare_runs, gaps_file

    before, after = gaps_file(args.before), gaps_file(args.after)
    comp = compare_runs(args.before, args.after)

    def ours(p: Path) -> bool:
        with open(p, encoding="utf-8-sig", errors="replace") as fh:
            return fh.readline().strip().startswith("community_id,community_name,rule_id")

    with _outputs.atomic_file(args.out, inputs=[before, after], force=args.force, ours=ours) as tmp:
        write_csv(comp, tmp)
    summary = comp.groupby("change").size()
    print(summary.to_string())
    print(f"outputs: {args.out}")
    return 0


def _cmd_progress(args: argparse.Namespace) -> int:
    import datetime as dt

    from . import _outputs
    from .progress import PROGRESS_WORDS, progress_report, write_progress_pdf, write_progress_xlsx

    try:
        date = dt.date.fromisoformat(args.date)
    except ValueError:
        raise OptionError("date", args.date, "a date as YYYY-MM-DD, e.g. 2023-06-30") from None
    rep = progress_report(args.ledger, date=date, run=args.run)
    with _outputs.atomic_folder(args.out, inputs=[args.ledger, args.run], force=args.force) as stage:
        write_progress_xlsx(rep, stage.path / "progress.xlsx")
        write_progress_pdf(rep, stage.path / "progress.pdf")
        stage.info.update({"date": date.isoformat(), "inputs": {"ledger": _outputs.describe_input(args.ledger)}})
    total = rep.by_unit.iloc[-1]
    print(
        f"{PROGRESS_WORDS['title']}（{PROGRESS_WORDS['as_of'].format(date=date.isoformat())}）："
        + PROGRESS_WORDS["unit_line"].format(
            open=int(total["open"]), overdue=int(total["overdue"]), closed=int(total["closed_month"])
        )
    )
    for line in rep.notes:
        print(line)
    print(f"outputs: {args.out}/progress.xlsx, {args.out}/progress.pdf")
    return 0


def _cmd_acceptance(args: argparse.Namespace) -> int:
    import datetime as dt

    from . import _outputs
    from .acceptance import ACCEPTANCE_WORDS, acceptance, write_acceptance_pdf, write_acceptance_xlsx
    from .figures import report_date

    try:
        date = dt.date.fromisoformat(report_date(args.date))
    except ValueError:
        raise OptionError("date", args.date, "a date as YYYY-MM-DD, e.g. 2024-09-30") from None
    acc = acceptance(args.before, args.after)
    with _outputs.atomic_folder(args.out, inputs=[args.before, args.after], force=args.force) as stage:
        write_acceptance_xlsx(acc, stage.path / "acceptance.xlsx", date)
        write_acceptance_pdf(acc, stage.path / "acceptance.pdf", date)
    changed = acc.items[acc.items["status_before"] != acc.items["status_after"]]
    print(f"{ACCEPTANCE_WORDS['title']}：{len(changed)}/{len(acc.items)}")
    print(f"outputs: {args.out}/acceptance.xlsx, {args.out}/acceptance.pdf")
    return 0


def _add_site_parser(sub) -> None:
    """The ``site`` command: where new facilities (or several items in existing spaces) should go."""
    p_site = sub.add_parser("site", help="propose sites for a new facility that close a rule's gap")
    _add_run_args(p_site)
    p_site.add_argument(
        "--rule",
        help="rule id (see `circles rules`), e.g. kindergarten; with --inventory a comma-separated list "
        "(default: every building item)",
    )
    p_site.add_argument("--community", help="one community id (default: all communities together)")
    p_site.add_argument("--each", action="store_true", help="answer for every community separately")
    p_site.add_argument("--k", type=int, default=None, help="the best K sites (default: fewest reaching --target)")
    p_site.add_argument("--target", type=float, default=1.0, help="target share of residents (default 1.0)")
    p_site.add_argument(
        "--candidates",
        help="candidate sites file (points, candidate_id, optional capacity); "
        "default: points every 60 m along the streets",
    )
    p_site.add_argument(
        "--method",
        choices=["auto", "exact", "polish", "greedy"],
        default="auto",
        help="auto (default): exact for community-sized cases, greedy + polish beyond",
    )
    p_site.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds the exact model may take (default 10); the answer then states its gap",
    )
    p_site.add_argument(
        "--inventory",
        help="existing spaces (points or outlines: id, name, area_m2, optional cost_wan): "
        "choose which items go into which space (一址多用)",
    )
    p_site.add_argument("--budget", type=float, help="with --inventory: total cost of the spaces used, 万元")
    p_site.set_defaults(func=_cmd_site, out="results/sites")


def _add_tracking_parsers(sub) -> None:
    """The commands of the pilot's cycle: ``compare``, ``progress`` (月报) and ``acceptance`` (验收)."""
    p_cmp = sub.add_parser("compare", help="tracking: compare the gap reports of two runs")
    p_cmp.add_argument("before", help="output folder of the earlier run")
    p_cmp.add_argument("after", help="output folder of the later run")
    p_cmp.add_argument("--out", default="results/comparison.csv", help="comparison CSV to write")
    _add_force(p_cmp)
    p_cmp.set_defaults(func=_cmd_compare)
    p_prog = sub.add_parser("progress", help="the monthly progress report (月报) from a filled ledger")
    p_prog.add_argument("--ledger", required=True, help="the filled ledger.xlsx (or the output folder holding it)")
    p_prog.add_argument("--run", default=None, help="output folder of a newer run: items it finds met are closed")
    p_prog.add_argument("--date", required=True, help="report date, YYYY-MM-DD (items due before it are overdue)")
    p_prog.add_argument("--out", default="results/progress", help="folder for progress.xlsx and progress.pdf")
    _add_force(p_prog)
    p_prog.set_defaults(func=_cmd_progress)
    p_acc = sub.add_parser("acceptance", help="acceptance report (考核验收): the baseline run against the run now")
    p_acc.add_argument("before", help="output folder of the baseline run")
    p_acc.add_argument("after", help="output folder of the run at acceptance")
    p_acc.add_argument("--date", default=None, help="date printed on the report, YYYY-MM-DD (default today)")
    p_acc.add_argument("--out", default="results/acceptance", help="folder for acceptance.xlsx and acceptance.pdf")
    _add_force(p_acc)
    p_acc.set_defaults(func=_cmd_acceptance)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``circles`` command."""
    parser = argparse.ArgumentParser(
        prog="circles",
        description="Walking-distance gap analysis of community "
        "facilities (complete community / 15-minute life circle).",
    )
    parser.add_argument("--version", action="version", version=f"circles {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    from .options import DaskOptions, add_arguments, profiles

    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the gap analysis (the embedded demo without inputs)")
    _add_run_args(p_run)
    _add_map_args(p_run)
    add_arguments(p_run, DaskOptions)
    p_run.set_defaults(func=_cmd_run)
    p_batch = sub.add_parser("batch", help="run many cities listed in a YAML file, each a Dask task with --dask")
    p_batch.add_argument(
        "cities",
        help="batch file: 'defaults' (circles run options, _ for -) and 'cities' (name, boundaries, facilities, "
        "network and options); paths relative to the file",
    )
    p_batch.add_argument("--out", default="results/batch", help="output folder, one folder per city (results/batch)")
    p_batch.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run the cities on Dask: local:N, a scheduler address (tcp://host:8786) or a scheduler file; "
        "without, one after another in this process",
    )
    p_batch.add_argument(
        "--cache",
        default=None,
        help="network cache of every city, a folder every worker reaches (default: each city's cache option, "
        "else .circles_cache here)",
    )
    p_batch.add_argument(
        "--outputs-by",
        choices=["auto", "workers", "client"],
        default="auto",
        help="who writes each city's files: the workers straight into --out (a folder they all reach) or this "
        "process from what they send back (default: workers on local:N, this process otherwise)",
    )
    p_batch.set_defaults(func=_cmd_batch)
    p_map = sub.add_parser("map", help="write the overview map, one map and one PNG figure per community")
    _add_run_args(p_map)
    _add_map_args(p_map)

    p_map.set_defaults(func=_cmd_map)
    from .demo import DATA_DIR, DEMO_OSM

    p_demo = sub.add_parser("demo-data", help="regenerate the demo inputs from the OSM file")
    p_demo.add_argument("--osm", default=str(DEMO_OSM), help="OSM file (default: the embedded extract)")
    p_demo.add_argument("--out", default=str(DATA_DIR), help="output folder (default: data/ of the repository)")
    p_demo.set_defaults(func=_cmd_demo_data)
    p_ext = sub.add_parser(
        "extract", help="communities, residential buildings and facilities of any OSM file, as GeoJSON inputs"
    )
    p_ext.add_argument("--osm", required=True, help="OSM file: .osm, .osm.bz2, .osm.gz, .xml or .pbf")
    p_ext.add_argument("--out", required=True, help="output folder for communities/buildings/facilities.geojson")
    p_ext.add_argument(
        "--units",
        choices=["communities", "residential", "blocks", "hex"],
        default="communities",
        help="analysis units: OSM's communities (default), or, for files without them, every residential area "
        "(residential; unnamed ones named after the nearest street), street blocks with homes (blocks) or H3 "
        "hexagons over the homes (hex, needs pip install 'circles[units]')",
    )
    p_ext.add_argument(
        "--force", action="store_true", help="replace files of those names that circles extract did not write"
    )
    p_ext.set_defaults(func=_cmd_extract)
    p_whatif = sub.add_parser("whatif", help="apply a scenario of planned projects and compare with today")
    _add_run_args(p_whatif)
    _add_map_args(p_whatif)
    p_whatif.add_argument(
        "--scenario", required=True, help="facilities file with an 'action' column: add / remove / resize"
    )
    p_whatif.set_defaults(func=_cmd_whatif, out="results/whatif")
    _add_site_parser(sub)
    _add_tracking_parsers(sub)
    p_rules = sub.add_parser("rules", help="print the rules, thresholds, speeds and sources in use")
    p_rules.add_argument("--rules", default="complete_community_2020")
    p_rules.add_argument("--profile", default=None, choices=profiles())
    p_rules.add_argument("--speed", type=float, default=None)
    p_rules.add_argument("--distance-reading", choices=("life_circle", "speed"), default=None)
    p_rules.set_defaults(func=_cmd_rules)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) turned into an exception, so that partial outputs are cleaned up."""


def _on_terminate(signum: int, frame: object) -> None:
    raise _Terminated(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``circles`` command.

    Exit codes: 0 done; 2 a problem with the inputs, options or output folder (one line
    saying what to correct); 3 an internal error (a short message and the log file to
    report); 130 interrupted (Ctrl-C or a termination signal; the output folder unchanged).
    """
    fewer_malloc_arenas()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "rules" and args.profile:
        if args.rules not in ("complete_community_2020", args.profile):
            parser.error("give either --profile or --rules, not both")
        args.rules = args.profile
    terminal = logging.StreamHandler()
    terminal.setFormatter(_TerminalFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[terminal])
    import tempfile

    # named now, so that worker processes forked later write their tracebacks to the same file
    _DETAILS["path"] = os.path.join(tempfile.gettempdir(), f"circles-details-{os.getpid()}.log")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, _on_terminate)
    try:
        from ._outputs import source_date_epoch

        source_date_epoch()  # checked before the work: the PDF writer fails on a bad one
        return args.func(args)
    except CirclesError as exc:
        print(f"circles: error: {_terminal_safe(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        why = f" ({exc})" if isinstance(exc, _Terminated) else ""
        print(f"circles: interrupted{why}; the output folder is as it was before this run", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else is a bug: a short message, the details in a log file
        log_path = _write_crash_log(exc)
        print(
            f"circles: internal error ({type(exc).__name__}: {_short(exc)}); please report it with the log {log_path}",
            file=sys.stderr,
        )
        return 3
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _terminal_safe(text: str) -> str:
    """``text`` without ESC, C1 and other control characters (a name could otherwise set the
    window title, clear the screen or write the clipboard).
    """
    from .load import CONTROL_CHARS

    return CONTROL_CHARS.sub("", text)


class _TerminalFormatter(logging.Formatter):
    """Log lines for the terminal: one line each, control characters removed; a traceback
    (a failing map worker's, say) goes to a details file named at the end of the line.
    """

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            details = self.formatException(record.exc_info) if record.exc_info else (record.exc_text or "")
            where = _write_details(f"{record.levelname} {record.name}: {record.getMessage()}\n{details}\n")
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
            record.msg, record.args = f"{record.getMessage()} (details in {where})", None
        return _terminal_safe(super().format(record))


#: Where tracebacks logged during this command go (one file per command, shared by its worker processes).
_DETAILS: dict[str, str] = {}


def _write_details(text: str) -> str:
    import tempfile

    path = _DETAILS.setdefault("path", os.path.join(tempfile.gettempdir(), f"circles-details-{os.getpid()}.log"))
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError:
        return "(no log file: the temporary folder cannot be written)"
    return path


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(_terminal_safe(str(exc)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write_crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a log file in the temporary folder.

    The folder is ``$TMPDIR``, else ``/tmp``; returns the log's path (or says where the
    traceback went).
    """
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="circles-error-", suffix=".log", delete=False, encoding="utf-8"
        ) as fh:
            fh.write(f"circles {__version__}\n{' '.join(sys.argv)}\n\n{text}")
    except OSError:  # no temporary folder to write to: the traceback goes to the terminal instead
        print(text, file=sys.stderr)
        return "(printed above: the temporary folder cannot be written)"
    return fh.name


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
