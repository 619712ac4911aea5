"""Siting benchmark (issue: what-if and siting): 500 candidate sites and 50,000 residents on
the generated 100,000-node grid (``bench/gen_grid.py``), from files.

Usage::

    python bench/bench_siting.py [--grid DIR] [--results DIR]

runs each method in its own process and writes ``siting.md`` and ``siting.json`` to
``bench/results`` (default):

- ``circles``: load the network file, attach residents and candidates to the nearest point
  on an edge, 500 bounded multi-source searches into a sparse coverage matrix, greedy best-20
  and fewest sites for 90 %.
- ``networkx`` (the baseline, the usual OSMnx-style recipe): build a NetworkX graph from the
  same file, snap residents and candidates to their nearest *node* (a KD-tree, as
  ``osmnx.nearest_nodes`` does), one ``single_source_dijkstra_path_length`` with a cutoff per
  candidate, and the same greedy best-20 over Python sets.

Target: the circles run (load, attach, 500 searches, greedy best-k and fewest-sites) < 10 s.
``python bench/bench_siting.py --method circles`` runs one method and prints its JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
N_CANDIDATES = 500
K = 20
LIMIT_M = 5 * 66.7  # the 5-minute threshold at the default adult speed
POP_PER_POINT = 2.5


def _inputs(grid: Path):
    import numpy as np
    import pandas as pd
    import shapely

    from circles import network

    net = network.load_walk_network(grid / "network.npz")
    res = pd.read_csv(grid / "residents.csv")
    rng = np.random.default_rng(7)
    edges = rng.choice(net.n_edges, N_CANDIDATES, replace=False)
    pts = shapely.line_interpolate_point(net.geometry[edges], rng.uniform(0, 1, N_CANDIDATES), normalized=True)
    return net, res, shapely.get_coordinates(pts)


def run_circles(grid: Path) -> dict:
    t_start = time.perf_counter()
    import geopandas as gpd

    from circles import siting

    t = {"import_s": time.perf_counter() - t_start}
    t_start = t0 = time.perf_counter()
    net, res, cxy = _inputs(grid)
    t["load_s"] = time.perf_counter() - t0
    cands = gpd.GeoDataFrame(
        {"candidate_id": [f"c{i}" for i in range(len(cxy))]},
        geometry=gpd.points_from_xy(cxy[:, 0], cxy[:, 1]),
        crs=net.crs,
    )
    people = gpd.GeoDataFrame(
        {"population": [POP_PER_POINT] * len(res)}, geometry=gpd.points_from_xy(res["x"], res["y"]), crs=net.crs
    )
    t0 = time.perf_counter()
    cov = siting.coverage(net, people, cands, limit_m=LIMIT_M)
    t["coverage_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    best = siting.best_k(cov, K)
    t["best_k_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    few, note = siting.fewest_sites(cov, 0.9)
    t["fewest_s"] = time.perf_counter() - t0
    t["total_s"] = time.perf_counter() - t_start
    return {
        **t,
        "best_k_share": float(best["cumulative_share"].iloc[-1]),
        "best_k_sites": best["candidate_id"].tolist(),
        "fewest_note": note,
    }


def run_networkx(grid: Path) -> dict:
    t_start = time.perf_counter()
    import networkx as nx
    import numpy as np
    from scipy.spatial import cKDTree

    from circles import network  # noqa: F401  (reads the network file in _inputs)

    t = {"import_s": time.perf_counter() - t_start}
    t_start = t0 = time.perf_counter()
    net, res, cxy = _inputs(grid)
    G = nx.Graph()
    G.add_weighted_edges_from(zip(net.u.tolist(), net.v.tolist(), net.length.tolist(), strict=True), weight="length")
    t["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tree = cKDTree(np.column_stack([net.x, net.y]))
    _, r_node = tree.query(res[["x", "y"]].to_numpy())
    _, c_node = tree.query(cxy)
    by_node: dict[int, list[int]] = {}
    for i, n in enumerate(r_node.tolist()):
        by_node.setdefault(n, []).append(i)
    covers = []
    for n in c_node.tolist():
        reached = nx.single_source_dijkstra_path_length(G, n, cutoff=LIMIT_M, weight="length")
        covers.append({i for m in reached for i in by_node.get(m, ())})
    t["coverage_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    covered: set[int] = set()
    chosen = []
    for _ in range(K):
        gains = [len(c - covered) for c in covers]
        best = int(np.argmax(gains))
        if gains[best] == 0:
            break
        chosen.append(f"c{best}")
        covered |= covers[best]
    t["best_k_s"] = time.perf_counter() - t0
    t["total_s"] = time.perf_counter() - t_start
    return {**t, "best_k_share": len(covered) / len(res), "best_k_sites": chosen}


METHODS = {"circles": run_circles, "networkx": run_networkx}


def _child(method: str, grid: Path) -> dict:
    out = METHODS[method](grid)
    out = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _report(rows: dict, grid: Path, results: Path) -> str:
    c, b = rows["circles"], rows["networkx"]
    same = len(set(c["best_k_sites"]) & set(b["best_k_sites"]))
    L = [
        "# Siting benchmark",
        "",
        f"Generated by `python bench/bench_siting.py` on {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
        f"grid `{grid.name}` (bench/gen_grid.py), {N_CANDIDATES} candidates, 50,000 residents "
        f"({POP_PER_POINT} each), limit {LIMIT_M:.1f} m, greedy best-{K}. Each method in its own process.",
        "",
        "`total` runs from the files to the answers, imports excluded (shown apart); circles' total also "
        "includes fewest-sites, which the recipe does not do.",
        "",
        "| method | total s | import s | load s | coverage s | best-k s | fewest s | peak MB | best-k share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        fewest = f"{r['fewest_s']:.3f}" if "fewest_s" in r else "–"
        L.append(
            f"| {name} | {r['total_s']:.2f} | {r['import_s']:.2f} | {r['load_s']:.2f} | {r['coverage_s']:.2f} | "
            f"{r['best_k_s']:.3f} | {fewest} | {r['peak_rss_mb']:.0f} | {r['best_k_share']:.1%} |"
        )
    verdict = "PASS" if c["total_s"] < 10 else "FAIL"
    L += [
        "",
        f"Target: circles < 10 s: {c['total_s']:.2f} s, **{verdict}** (NetworkX recipe: {b['total_s']:.2f} s).",
        f"The two pick {same} of {K} sites alike: the recipe snaps residents and candidates to the nearest "
        "node (no access legs); circles attaches them to the nearest point on a street and counts the "
        "way along it, which costs most of its coverage time. Their shares differ by that snapping, "
        "not by the greedy.",
        "",
        f"circles fewest sites for 90 %: {c['fewest_note']}",
    ]
    text = "\n".join(L) + "\n"
    results.mkdir(parents=True, exist_ok=True)
    (results / "siting.md").write_text(text, encoding="utf-8")
    (results / "siting.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", type=Path, default=HERE / "work" / "grid")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--method", choices=sorted(METHODS), help="run one method here and print its JSON line")
    a = ap.parse_args()
    if not (a.grid / "network.npz").exists():
        subprocess.run([sys.executable, str(HERE / "gen_grid.py"), str(a.grid)], check=True)
    if a.method:
        print(json.dumps(_child(a.method, a.grid), ensure_ascii=False))
        return
    rows = {}
    for m in METHODS:
        p = subprocess.run(
            [sys.executable, __file__, "--method", m, "--grid", str(a.grid)], capture_output=True, text=True, check=True
        )
        rows[m] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"{m}: {rows[m]['total_s']:.2f} s", file=sys.stderr)
    print(_report(rows, a.grid, a.results))


if __name__ == "__main__":
    main()
