"""Walking-network build from OSM files: time and peak memory, one child process per measurement.

Compares ``circles.network.read_walk_network(path)`` (no cache) of this checkout with the same
call in another circles source tree (``--old``: e.g. ``git archive <commit> | tar -x -C DIR``),
so the pyosmium builder can be measured against the OSMnx/pyrosm path it replaced.

Usage::

    python bench/gen_osm_city.py /tmp/city100k.osm --street-nodes 100000 --pbf
    python bench/bench_osm_build.py FILE [FILE ...] [--old DIR] [--repeat 2] [--out results.md]

Each row: wall time and CPU time (all threads) of the build, imports excluded and reported
apart; peak resident memory of the child (``ru_maxrss``, imports included); nodes and edges.
On a shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
t0 = time.perf_counter()
import circles.network as network
import_s = time.perf_counter() - t0
t, c = time.perf_counter(), time.process_time()
net = network.read_walk_network(sys.argv[1])
build_s, cpu_s = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"import_s": import_s, "build_s": build_s, "cpu_s": cpu_s, "nodes": net.n_nodes, "edges": net.n_edges,
                  "length_km": float(net.length.sum()) / 1000, "crs": net.crs, "module": network.__file__,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(source: Path, path: Path, timeout: float) -> dict:
    """One child process building the network of ``path`` with the circles found in ``source``."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(source)], capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else f"exit {out.returncode}"}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if not res["module"].startswith(str(source)):
        raise SystemExit(f"child imported {res['module']}, not from {source}")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--old", type=Path, help="another circles source tree to compare with")
    ap.add_argument("--repeat", type=int, default=2, help="runs per cell; the fastest is kept")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    a = ap.parse_args(argv)
    sources = [("new", ROOT)] + ([("old", a.old.resolve())] if a.old else [])
    rows = []
    for f in a.files:
        for label, src in sources:
            best: dict = {}
            for _ in range(a.repeat):
                r = measure(src, f, a.timeout)
                if "error" in r or not best or r["build_s"] < best["build_s"]:
                    best = r
                if "error" in r:
                    break
            rows.append((f.name, f.stat().st_size / 1e6, label, best))
            print(f.name, label, best, flush=True)
    load = os.getloadavg()
    lines = [
        f"Network build (read_walk_network, no cache), {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}; best of {a.repeat}.",
        "",
        "| file | MB | code | build s | CPU s | import s | peak MB | nodes | edges | km |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, mb, label, r in rows:
        if "error" in r:
            lines.append(f"| {name} | {mb:.1f} | {label} | failed: {r['error'][:80]} | | | | | | |")
            continue
        lines.append(
            f"| {name} | {mb:.1f} | {label} | {r['build_s']:.2f} | {r['cpu_s']:.2f} | {r['import_s']:.2f} | "
            f"{r['peak_mb']:.0f} | "
            f"{r['nodes']:,} | {r['edges']:,} | {r['length_km']:.1f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if a.out:
        a.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
