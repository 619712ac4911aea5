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
import signal
import sys
import threading
from pathlib import Path

import pandas as pd

from . import __version__
from ._sheets import write_csv
from .errors import CirclesError, OptionError, check_option

log = logging.getLogger("circles")


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--boundaries", help="community polygons (GeoJSON/GPKG/SHP) with id, name, population")
    p.add_argument(
        "--facilities",
        help="facilities: a vector file with id, facility_type, name, or a CSV/XLSX "
        "table (Amap/Baidu export, department spreadsheet) with coordinates and a type or category",
    )
    p.add_argument(
        "--network",
        help="walking network: .osm, .osm.bz2, .osm.gz, .pbf, .graphml, .npz, or 'online' "
        "(OSMnx download around the communities; needs internet)",
    )
    p.add_argument("--buildings", help="residential buildings (id, optional floor_area_m2); default: a grid")
    p.add_argument("--out", default="results", help="output folder (default: results/)")
    p.add_argument(
        "--rules",
        default=None,
        help="rulebook profile name or YAML file (default: complete_community_2020, or rugao_2023 when a "
        "boundary is a Rugao pilot community); a file may 'extends: <profile>' and override or add rules",
    )
    p.add_argument(
        "--departments",
        default=None,
        help="YAML of your city's units for the ledger's lead and responsible units (example: "
        "docs/departments_example.yaml); default: neutral units by role (Rugao's for its pilot communities)",
    )
    p.add_argument(
        "--profile",
        default=None,
        choices=_profiles(),
        help="shipped rulebook profile, same as --rules NAME (complete_community_2020 or "
        "gb50180_2018: the 5/10/15-minute levels, each checked separately)",
    )
    p.add_argument(
        "--surveyed",
        type=_csv_list,
        default=[],
        help="facility types surveyed on the ground, comma-separated: their absence is a gap",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="walking speed in m/min for every rule (default: each rule's profile; adult 66.7)",
    )
    p.add_argument(
        "--distance-reading",
        choices=("life_circle", "speed"),
        default=None,
        help="how rules in minutes are read: life_circle (default: GB 50180-2018 5/10/15 min = 300/500/1000 m) "
        "or speed (minutes × walking speed)",
    )
    p.add_argument(
        "--target-share", type=float, default=1.0, help="share of residents within the threshold for 'ok' (default 1.0)"
    )
    p.add_argument(
        "--max-attach", type=float, default=250.0, help="max distance (m) from a point to its street (default 250)"
    )
    p.add_argument(
        "--grid-spacing",
        type=float,
        default=40.0,
        help="resident grid spacing (m) where there are no buildings (default 40)",
    )
    p.add_argument(
        "--crs",
        default=None,
        help="CRS of inputs that declare none: wgs84, gcj02 (Amap/Tencent), bd09 (Baidu) or EPSG:…",
    )
    p.add_argument(
        "--facilities-crs",
        default=None,
        help="CRS of the facilities only (e.g. gcj02 for an Amap export); default --crs",
    )
    p.add_argument(
        "--encoding",
        default=None,
        help="encoding of a CSV facility table (default: detected among UTF-8, UTF-8-BOM, GBK/GB18030)",
    )
    p.add_argument(
        "--categories",
        default=None,
        help="YAML of extra category mappings (Amap codes, Baidu tags, Chinese words) for tables",
    )
    p.add_argument(
        "--cache",
        default=".circles_cache",
        help="folder for the cached walking network (default .circles_cache; '' to disable)",
    )
    p.add_argument(
        "--lang",
        choices=["zh", "en"],
        default="zh",
        help="language of the maps, figures, report and summary (default zh)",
    )
    p.add_argument(
        "--online-map", action="store_true", help="map with online tiles instead of the self-contained offline map"
    )
    p.add_argument(
        "--facility-isochrones",
        action="store_true",
        help="also write the 5/10/15-minute walking area of every facility",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures and the printed report.pdf (faster)")
    p.add_argument(
        "--district-field",
        default=None,
        help="column of the boundaries naming each community's district (e.g. 街道): indicators.csv then "
        "also reports each district",
    )
    p.add_argument(
        "--format",
        dest="table_format",
        choices=["csv", "parquet"],
        default="csv",
        help="format of the per-resident table: access.csv (default) or access.parquet for big runs",
    )
    p.add_argument(
        "--author",
        default="",
        help="编制单位: the organisation preparing the figures and report.pdf (printed on every page)",
    )
    _add_force(p)


def _add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an --out that holds files circles did not write (they are kept; an output of the "
        "same name replaces one); inputs are never overwritten",
    )


def _add_map_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--community-maps",
        default="auto",
        metavar="auto|all|none|ID,…",
        help="which communities get their own map in community_maps/ (default auto: all up to 100 communities, "
        "the overview only above; written in parallel)",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from . import _outputs, _summary, pipeline

    _check_inputs(args)
    progress = sys.stderr.isatty()
    if args.dask:
        if args.facility_isochrones:
            raise OptionError(
                "facility_isochrones", True, "off with --dask (per-facility areas need the whole city's graph)"
            )
        if args.tile_km is not None:
            check_option("tile_km", args.tile_km, low=0.0, high=10_000.0, low_open=True, what="a tile side in km")
    # the output folder is checked, probed and locked before any work, and held until written
    with _outputs.claim(args.out, inputs=_input_paths(args), force=args.force):
        if args.dask:
            from . import distributed

            result = distributed.analyse_partitioned(
                args.boundaries,
                args.facilities,
                args.network,
                dask=args.dask,
                tile_m=args.tile_km * 1000.0 if args.tile_km else None,
                **_analysis_kwargs(args),
            )
        else:
            result = pipeline.analyse(args.boundaries, args.facilities, args.network, **_analysis_kwargs(args))
        paths = pipeline.write_outputs(
            result,
            args.out,
            lang=args.lang,
            offline=not args.online_map,
            facility_isochrones=args.facility_isochrones,
            figures=not args.no_figures,
            table_format=args.table_format,
            author=args.author,
            progress=progress,
            community_maps=args.community_maps,
        )
    lines = _summary.summary_lines(result, paths, args.lang, version=__version__, author=args.author)
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
    _check_inputs(args)
    with _outputs.claim(args.out, inputs=_input_paths(args), force=args.force):
        result = pipeline.analyse(args.boundaries, args.facilities, args.network, **_analysis_kwargs(args))
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

    paths = extract(args.osm, args.out)
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


def _profiles() -> list[str]:
    from .rulebook import available_profiles

    return available_profiles()


def _analysis_kwargs(args: argparse.Namespace) -> dict:
    return dict(
        buildings=args.buildings,
        rules=args.rules,
        departments=args.departments,
        surveyed=args.surveyed,
        speed=args.speed,
        target_share=args.target_share,
        max_attach_m=args.max_attach,
        grid_spacing_m=args.grid_spacing,
        crs=args.crs,
        facilities_crs=args.facilities_crs,
        encoding=args.encoding,
        categories=args.categories,
        district_field=args.district_field,
        distance_reading=args.distance_reading,
        cache_dir=args.cache or None,
        progress=sys.stderr.isatty(),
    )


def _check_inputs(args: argparse.Namespace) -> None:
    """Everything that can be checked before any work: the three inputs given together, the
    numeric options finite and in range."""
    from .pipeline import check_options

    user = [args.boundaries, args.facilities, args.network]
    if any(user) and not all(user):
        raise CirclesError("give all three of --boundaries, --facilities and --network (or none, for the demo)")
    check_options(
        speed=args.speed,
        target_share=args.target_share,
        max_attach_m=args.max_attach,
        grid_spacing_m=args.grid_spacing,
    )


def _input_paths(args: argparse.Namespace) -> list[str]:
    """The files of the user's that no output may replace."""
    names = ("boundaries", "facilities", "network", "buildings", "rules", "categories", "scenario", "candidates")
    return [str(v) for v in (getattr(args, n, None) for n in names) if v and Path(str(v)).exists()]


def _cmd_whatif(args: argparse.Namespace) -> int:
    from . import _outputs
    from .whatif import run_whatif

    _check_inputs(args)
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
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print("planned facilities (attach_m: distance to the street walking starts from):")
        print(planned[["id", "action", "facility_type", "attach_m", "residents_newly_covered"]].to_string(index=False))
        for w in planned.loc[planned["warning"] != "", ["id", "warning"]].itertuples(index=False):
            print(f"WARNING: planned facility {w.id}: {w.warning}")
        moved = (comp["residents_newly_covered"].fillna(0) > 0.5) | (
            comp["residents_no_longer_covered"].fillna(0) > 0.5
        )
        changed = comp[comp["status_changed"] | moved]
        if len(changed):
            print(
                changed[
                    [
                        "community_name",
                        "rule_id",
                        "status_current",
                        "status_scenario",
                        "residents_newly_covered",
                        "residents_no_longer_covered",
                    ]
                ].to_string(index=False)
            )
        else:
            print("no change in coverage under this scenario")
        nd = changed[(changed["status_current"] == "no_data") & (changed["status_scenario"] == "no_data")]
        for rule_id, grp in nd.groupby("rule_id"):
            print(
                f"{rule_id}: not surveyed today, so the statuses stay no_data (a plan never creates gaps); "
                f"{grp['residents_newly_covered'].sum():.0f} residents newly within reach"
            )
    print("outputs: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_site(args: argparse.Namespace) -> int:
    import geopandas as gpd

    from . import _outputs, mapping, pipeline
    from .load import read_vector, to_wgs84
    from .siting import describe_sites, propose_sites, site_map

    _check_inputs(args)
    if args.k is not None:
        check_option("k", args.k, low=1, high=10_000, what="the number of sites to propose")
    check_option("target", args.target, low=0.0, high=1.0, low_open=True, what="the target share of residents")
    with _outputs.claim(args.out, inputs=_input_paths(args), force=args.force):
        result = pipeline.analyse(args.boundaries, args.facilities, args.network, **_analysis_kwargs(args))
        cands = None
        if args.candidates:
            cands = to_wgs84(read_vector(args.candidates), args.candidates, args.crs)
            if "candidate_id" not in cands and "id" in cands:
                cands = cands.rename(columns={"id": "candidate_id"})
        communities = [args.community] if args.community else [None]
        if args.each:
            communities = list(result.communities["id"])
        frames = []
        for cid in communities:
            sites, note = propose_sites(
                result, args.rule, community_id=cid, candidates=cands, k=args.k, progress=True, target_share=args.target
            )
            sites = describe_sites(result, args.rule, sites, community_id=cid)
            print(f"{cid or 'all communities'}: {note}")
            if len(sites):
                with pd.option_context("display.width", 200):
                    print(sites.drop(columns=["guarantee"]).to_string(index=False))
            frames.append(sites.assign(question=cid or "all", note=note))
        table = pd.concat(frames, ignore_index=True)
        # one table per rule: other rules' tables in the folder are kept
        names = [f"sites_{args.rule}.csv"]
        with _outputs.atomic_folder(args.out, update=True) as stage:
            write_csv(table, stage.path / names[0])
            if len(table):
                gpd.GeoDataFrame(
                    table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326"
                ).to_file(stage.path / f"sites_{args.rule}.geojson", driver="GeoJSON")
                names.append(f"sites_{args.rule}.geojson")
            m = site_map(result, args.rule, table, lang=args.lang, offline=not args.online_map)
            mapping.save_map(m, stage.path / f"sites_{args.rule}.html", offline=not args.online_map)
            names.append(f"sites_{args.rule}.html")
            stage.info.update(pipeline.run_info(result, output_timings={}, output_options={"rule": args.rule}))
            if args.candidates:
                stage.info["inputs"]["candidates"] = _outputs.describe_input(args.candidates)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``circles`` command."""
    parser = argparse.ArgumentParser(
        prog="circles",
        description="Walking-distance gap analysis of community "
        "facilities (complete community / 15-minute life circle).",
    )
    parser.add_argument("--version", action="version", version=f"circles {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the gap analysis (the embedded demo without inputs)")
    _add_run_args(p_run)
    _add_map_args(p_run)
    p_run.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run in partitions on Dask, with the same results: local:N (N worker processes on this machine), "
        "a scheduler address (tcp://host:8786) or a scheduler file (scheduler.json)",
    )
    p_run.add_argument(
        "--tile-km",
        type=float,
        default=None,
        help="with --dask and no --district-field: side in km of the square tiles communities are grouped in "
        "(default: four times the distance the walks reach, 18 km with the shipped rules)",
    )
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
    p_demo.add_argument("--out", default=str(DATA_DIR), help="output folder (default: circles/data/)")
    p_demo.set_defaults(func=_cmd_demo_data)
    p_ext = sub.add_parser(
        "extract", help="communities, residential buildings and facilities of any OSM file, as GeoJSON inputs"
    )
    p_ext.add_argument("--osm", required=True, help="OSM file: .osm, .osm.bz2, .osm.gz, .xml or .pbf")
    p_ext.add_argument("--out", required=True, help="output folder for communities/buildings/facilities.geojson")
    p_ext.set_defaults(func=_cmd_extract)
    p_whatif = sub.add_parser("whatif", help="apply a scenario of planned projects and compare with today")
    _add_run_args(p_whatif)
    _add_map_args(p_whatif)
    p_whatif.add_argument(
        "--scenario", required=True, help="facilities file with an 'action' column: add / remove / resize"
    )
    p_whatif.set_defaults(func=_cmd_whatif, out="results/whatif")
    p_site = sub.add_parser("site", help="propose sites for a new facility that close a rule's gap")
    _add_run_args(p_site)
    p_site.add_argument("--rule", required=True, help="rule id (see `circles rules`), e.g. kindergarten")
    p_site.add_argument("--community", help="one community id (default: all communities together)")
    p_site.add_argument("--each", action="store_true", help="answer for every community separately")
    p_site.add_argument("--k", type=int, default=None, help="the best K sites (default: fewest reaching --target)")
    p_site.add_argument("--target", type=float, default=1.0, help="target share of residents (default 1.0)")
    p_site.add_argument(
        "--candidates",
        help="candidate sites file (points, candidate_id, optional capacity); "
        "default: points every 60 m along the streets",
    )
    p_site.set_defaults(func=_cmd_site, out="results/sites")
    p_cmp = sub.add_parser("compare", help="tracking: compare the gap reports of two runs")
    p_cmp.add_argument("before", help="output folder of the earlier run")
    p_cmp.add_argument("after", help="output folder of the later run")
    p_cmp.add_argument("--out", default="results/comparison.csv", help="comparison CSV to write")
    _add_force(p_cmp)
    p_cmp.set_defaults(func=_cmd_compare)
    p_rules = sub.add_parser("rules", help="print the rules, thresholds, speeds and sources in use")
    p_rules.add_argument("--rules", default="complete_community_2020")
    p_rules.add_argument("--profile", default=None, choices=_profiles())
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "profile", None):
        if args.rules not in (None, "complete_community_2020", args.profile):
            parser.error("give either --profile or --rules, not both")
        args.rules = args.profile
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, _on_terminate)
    try:
        return args.func(args)
    except CirclesError as exc:
        print(f"circles: error: {exc}", file=sys.stderr)
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


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write_crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a log file in the temporary folder
    (``$TMPDIR``, else ``/tmp``); return its path (or say where the traceback went)."""
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
