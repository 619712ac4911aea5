"""Command-line interface: a thin layer over :mod:`circles.pipeline`.

circles run                      # the embedded demo
circles run --boundaries B --facilities F --network N --out results/
circles demo-data                # regenerate the demo inputs from the OSM file
circles rules                    # list the rulebook in use
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from . import __version__
from ._sheets import write_csv
from .errors import CirclesError

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
        default="complete_community_2020",
        help="rulebook profile name or YAML file (default: complete_community_2020); a file may "
        "'extends: <profile>' and override or add rules",
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
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="map labels (default zh)")
    p.add_argument(
        "--online-map", action="store_true", help="map with online tiles instead of the self-contained offline map"
    )
    p.add_argument(
        "--facility-isochrones",
        action="store_true",
        help="also write the 5/10/15-minute walking area of every facility",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the static PNG figures (faster)")


def _add_map_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--community-maps",
        default="all",
        metavar="all|none|ID,…",
        help="which communities get their own map in community_maps/ (default all; written in parallel)",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from . import pipeline

    _check_inputs(args)
    result = pipeline.analyse(args.boundaries, args.facilities, args.network, **_analysis_kwargs(args))
    paths = pipeline.write_outputs(
        result,
        args.out,
        lang=args.lang,
        offline=not args.online_map,
        facility_isochrones=args.facility_isochrones,
        figures=not args.no_figures,
        community_maps=args.community_maps,
    )
    n_res = len(result.residents)
    print(
        f"circles {__version__}: {len(result.communities)} communities, {len(result.facilities)} facilities "
        f"({int((~result.facilities['placed']).sum())} set aside), {n_res} resident points, "
        f"network {result.network.n_nodes} nodes / {result.network.n_edges} edges"
    )
    est = bool(result.communities["population_estimated"].any())
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(result.summary().to_string())
    if est:
        print("population: estimated (see population_method in the boundaries file)")
    unsurveyed = [t for t in result.rulebook.types_used() if t not in result.surveyed]
    if unsurveyed:
        print(f"no_data (not in the input, not declared surveyed): {', '.join(unsurveyed)}")
    if result.input_problems is not None and len(result.input_problems):
        print(f"{len(result.input_problems)} input rows set aside: see input_problems.csv")
    for w in result.warnings:
        print(f"WARNING: {w}")
    print("outputs: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    from . import figures, mapping, pipeline

    # the maps need resident points, the network and the walking areas, which a finished run's
    # files do not hold: the analysis is run again (the cached network makes it quick)
    _check_inputs(args)
    result = pipeline.analyse(args.boundaries, args.facilities, args.network, **_analysis_kwargs(args))
    paths = mapping.write_maps(
        result, args.out, lang=args.lang, offline=not args.online_map, community_maps=args.community_maps
    )
    print(f"maps: {paths[0]} and {len(paths) - 1} community maps in {paths[0].parent / 'community_maps'}")
    if not args.no_figures:
        figs = figures.write_figures(result, Path(args.out) / "figures", lang=args.lang)
        print(f"figures: {len(figs)} PNG in {figs[0].parent}")
    return 0


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from . import demo

    paths = demo.build_demo_data(args.osm, args.out)
    for k, p in paths.items():
        print(f"{k}: {p}")
    return 0


def _cmd_rules(args: argparse.Namespace) -> int:
    from .rulebook import load_rulebook

    rb = load_rulebook(args.rules, speed_override=args.speed)
    rows = [
        {
            "rule": r.id,
            "type": r.facility_type,
            "name": r.name_zh,
            "min": r.threshold_min,
            "m/min": rb.speed_of(r),
            "metres": round(rb.threshold_m(r)),
            "verified": r.verified,
            "source": r.source,
        }
        for r in rb.rules
    ]
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(f"{rb.profile}: {rb.name_zh} ({rb.path})")
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
        surveyed=args.surveyed,
        speed=args.speed,
        target_share=args.target_share,
        max_attach_m=args.max_attach,
        grid_spacing_m=args.grid_spacing,
        crs=args.crs,
        facilities_crs=args.facilities_crs,
        encoding=args.encoding,
        categories=args.categories,
        cache_dir=args.cache or None,
        progress=sys.stderr.isatty(),
    )


def _check_inputs(args: argparse.Namespace) -> None:
    user = [args.boundaries, args.facilities, args.network]
    if any(user) and not all(user):
        raise CirclesError("give all three of --boundaries, --facilities and --network (or none, for the demo)")


def _cmd_whatif(args: argparse.Namespace) -> int:
    from .whatif import run_whatif

    _check_inputs(args)
    paths, comp = run_whatif(
        args.scenario,
        args.out,
        boundaries=args.boundaries,
        facilities=args.facilities,
        network=args.network,
        offline=not args.online_map,
        lang=args.lang,
        community_maps=args.community_maps,
        **_analysis_kwargs(args),
    )
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

    from . import mapping, pipeline
    from .load import read_vector, to_wgs84
    from .siting import describe_sites, propose_sites, site_map

    _check_inputs(args)
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.concat(frames, ignore_index=True)
    write_csv(table, out / f"sites_{args.rule}.csv")
    outputs = [out / f"sites_{args.rule}.csv"]
    if len(table):
        gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326").to_file(
            out / f"sites_{args.rule}.geojson", driver="GeoJSON"
        )
        outputs.append(out / f"sites_{args.rule}.geojson")
    m = site_map(result, args.rule, table, lang=args.lang, offline=not args.online_map)
    outputs.append(mapping.save_map(m, out / f"sites_{args.rule}.html", offline=not args.online_map))
    print("outputs: " + ", ".join(str(p) for p in outputs))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .whatif import compare_runs

    comp = compare_runs(args.before, args.after)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(comp, out)
    summary = comp.groupby("change").size()
    print(summary.to_string())
    print(f"outputs: {out}")
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
    p_run.set_defaults(func=_cmd_run)
    p_map = sub.add_parser("map", help="write the overview map, one map and one PNG figure per community")
    _add_run_args(p_map)
    _add_map_args(p_map)

    p_map.set_defaults(func=_cmd_map)
    from .demo import DATA_DIR, DEMO_OSM

    p_demo = sub.add_parser("demo-data", help="regenerate the demo inputs from the OSM file")
    p_demo.add_argument("--osm", default=str(DEMO_OSM), help="OSM XML file (default: the embedded extract)")
    p_demo.add_argument("--out", default=str(DATA_DIR), help="output folder (default: data/)")
    p_demo.set_defaults(func=_cmd_demo_data)
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
    p_cmp.set_defaults(func=_cmd_compare)
    p_rules = sub.add_parser("rules", help="print the rules, thresholds, speeds and sources in use")
    p_rules.add_argument("--rules", default="complete_community_2020")
    p_rules.add_argument("--profile", default=None, choices=_profiles())
    p_rules.add_argument("--speed", type=float, default=None)
    p_rules.set_defaults(func=_cmd_rules)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``circles`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "profile", None):
        if args.rules not in ("complete_community_2020", args.profile):
            parser.error("give either --profile or --rules, not both")
        args.rules = args.profile
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except CirclesError as exc:
        print(f"circles: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("circles: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else is a bug: a short message, the details in a log file
        log_path = _write_crash_log(exc)
        print(
            f"circles: internal error ({type(exc).__name__}: {exc}); please report it with the log {log_path}",
            file=sys.stderr,
        )
        return 3


def _write_crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a log file; return its path."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    with tempfile.NamedTemporaryFile("w", prefix="circles-error-", suffix=".log", delete=False) as fh:
        fh.write(f"circles {__version__}\n{' '.join(sys.argv)}\n\n{text}")
    return fh.name


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
