"""Many cities: ``circles batch`` one after another against ``--dask local:N`` (issue 16).

Each mode runs in its own child process; the parent prints and writes the table. Measured:
wall time of the whole batch, each city's time (``batch_report.csv``), peak memory of the
process running the batch and, on Dask, of every worker (``ru_maxrss``, read on each worker
before the cluster closes), and the machine's load average before and after. From the serial
per-city cost it projects the time for all ~300 prefecture-level cities.

    python bench/bench_batch.py --demo 4                 # 4 small cities cut from the embedded demo
    python bench/bench_batch.py --cities DIR/cities.yaml # e.g. written by bench/gen_city.py --cities K
    python bench/bench_batch.py --cities DIR/cities.yaml --workers 2 --results bench/results

Options: ``--workers N`` (default 2), ``--modes serial,dask`` (default both), ``--work DIR``
(outputs; default ``bench/work/batch``), ``--results DIR`` (also write ``batch.md`` and
``batch.json`` there). The network cache is shared by both modes and built before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PREFECTURE_CITIES = 300


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def demo_batch(k: int, work: Path) -> Path:
    """``k`` cities cut from the demo (communities split west to east; the demo's facilities,
    buildings and network for each) and their ``cities.yaml``."""
    import geopandas as gpd
    import numpy as np

    from circles import demo

    comms = gpd.read_file(demo.DEMO_BOUNDARIES)
    x = comms.geometry.representative_point().x.to_numpy()
    groups = np.array_split(np.argsort(x, kind="stable"), k)
    lines = [
        "# the embedded demo cut into cities (bench/bench_batch.py --demo)",
        f"defaults: {{no_figures: true, facilities: {demo.DEMO_FACILITIES}, network: {demo.DEMO_OSM}, "
        f"buildings: {demo.DEMO_BUILDINGS}}}",
        "cities:",
    ]
    for i, rows in enumerate(groups):
        name = f"demo_{i + 1:02d}"
        (work / name).mkdir(parents=True, exist_ok=True)
        path = work / name / "communities.geojson"
        if path.exists():
            path.unlink()
        comms.iloc[np.sort(rows)].to_file(path, driver="GeoJSON")
        lines.append(f"  - {{name: {name}, boundaries: {name}/communities.geojson}}")
    cfg = work / "cities.yaml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def child(mode: str, cfg: Path, out: Path, cache: Path, workers: int, report: Path) -> None:
    """One measurement (in a child process): the batch, serial or on a local Dask cluster."""
    from circles.batch import run_batch

    rec: dict = {"mode": mode, "workers": workers if mode == "dask" else 1, "load_before": os.getloadavg()}
    t0 = time.perf_counter()
    if mode == "serial":
        result = run_batch(cfg, out, cache=cache)
    else:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"},
            ) as cluster,
            Client(cluster) as client,
        ):
            rec["cluster_start_s"] = round(time.perf_counter() - t0, 2)
            result = run_batch(cfg, out, dask=client, cache=cache)
            rec["worker_peak_mb"] = sorted(round(v, 1) for v in client.run(_peak_mb).values())
    rec["wall_s"] = round(time.perf_counter() - t0, 2)
    rec["peak_mb"] = round(_peak_mb(), 1)
    rec["load_after"] = os.getloadavg()
    rec["cities"] = [r.row() for r in result.reports]
    report.write_text(json.dumps(rec, indent=1), encoding="utf-8")


def _warm_cache(cfg: Path, cache: Path) -> None:
    """Build every city's network cache before timing (both modes then start alike)."""
    from circles.batch import read_batch
    from circles.network import read_walk_network

    for c in read_batch(cfg):
        read_walk_network(c.args.network, cache_dir=cache)


def table(records: list[dict]) -> str:
    lines = [
        "| mode | workers | wall (s) | cluster start (s) | cities ok | mean city wall / CPU (s) | "
        "peak MB (batch process) | peak MB per worker | load before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ok = [c for c in r["cities"] if c["status"] == "ok"]
        mean = sum(c["seconds"] for c in ok) / len(ok) if ok else float("nan")
        cpu = sum(c.get("cpu_seconds", float("nan")) for c in ok) / len(ok) if ok else float("nan")
        lines.append(
            f"| {r['mode']} | {r['workers']} | {r['wall_s']:.1f} | {r.get('cluster_start_s', 0):.1f} | "
            f"{len(ok)}/{len(r['cities'])} | {mean:.1f} / {cpu:.1f} | {r['peak_mb']:.0f} | "
            f"{', '.join(f'{v:.0f}' for v in r.get('worker_peak_mb', [])) or '—'} | "
            f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} |"
        )
    serial = next((r for r in records if r["mode"] == "serial"), None)
    dask = next((r for r in records if r["mode"] == "dask"), None)
    if serial and dask:
        lines.append("")
        lines.append(f"Speed-up of the batch on {dask['workers']} workers: {serial['wall_s'] / dask['wall_s']:.2f}×.")
    if serial:
        ok = [c for c in serial["cities"] if c["status"] == "ok"]
        per_city = serial["wall_s"] / len(serial["cities"])
        cpu = sum(c["cpu_seconds"] for c in ok) / len(ok) if ok else float("nan")
        hours = PREFECTURE_CITIES * cpu / 3600
        lines.append(
            f"Serial cost per city here: {per_city:.1f} s wall, {cpu:.1f} s CPU. All {PREFECTURE_CITIES} "
            f"prefecture-level cities of this size: {hours:.1f} CPU-hours, so about {hours:.1f} / W hours on W "
            "workers with a free core each (cities are independent tasks: the batch scales with workers until the "
            "largest city is the last one left). Scale the per-city cost to your cities' sizes."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--cities", type=Path, help="a batch file (cities.yaml)")
    src.add_argument("--demo", type=int, help="cut the demo into this many cities")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--modes", default="serial,dask")
    ap.add_argument("--work", type=Path, default=BENCH / "work" / "batch")
    ap.add_argument("--results", type=Path, default=None)
    ap.add_argument("--child", choices=["serial", "dask"], help=argparse.SUPPRESS)
    ap.add_argument("--cfg", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    work = args.work.resolve()
    cache = work / "cache"
    if args.child:
        child(args.child, args.cfg, work / f"out_{args.child}", cache, args.workers, args.report)
        return 0
    work.mkdir(parents=True, exist_ok=True)
    cfg = args.cities.resolve() if args.cities else demo_batch(args.demo or 4, work)
    _warm_cache(cfg, cache)
    records = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        report = work / f"{mode}.json"
        cmd = [sys.executable, __file__, "--child", mode, "--cfg", str(cfg), "--report", str(report)]
        cmd += ["--work", str(work), "--workers", str(args.workers)]
        print(f"{mode}: {' '.join(cmd)}", flush=True)
        subprocess.run(cmd, check=True)
        records.append(json.loads(report.read_text(encoding="utf-8")))
    text = table(records)
    head = (
        f"Batch `{cfg}` on {platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}); "
        "the machine is shared: see the load average."
    )
    print(head + "\n\n" + text)
    if args.results:
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "batch.md").write_text(f"# circles batch\n\n{head}\n\n{text}\n", encoding="utf-8")
        (args.results / "batch.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
