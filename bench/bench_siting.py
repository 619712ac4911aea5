"""Siting benchmark (issue: what-if and siting): 500 candidate sites and 50,000 residents on
the generated 100,000-node grid (``bench/gen_grid.py``), from files, in one process.

Usage: python bench/bench_siting.py [GRID_DIR]   (default bench/work/grid; generated if missing)

Prints one JSON line: wall time of each stage, peak memory, the greedy results. Target: the
whole siting run (load, attach, 500 bounded searches, greedy best-k and fewest-sites) < 10 s.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    t_start = time.perf_counter()
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    from circles import network, siting

    grid = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "work" / "grid"
    if not (grid / "network.npz").exists():
        subprocess.run([sys.executable, str(Path(__file__).parent / "gen_grid.py"), str(grid)], check=True)
    t = {}
    t0 = time.perf_counter()
    net = network.load_walk_network(grid / "network.npz")
    res = pd.read_csv(grid / "residents.csv")
    t["load_s"] = time.perf_counter() - t0
    rng = np.random.default_rng(7)
    edges = rng.choice(net.n_edges, 500, replace=False)
    pts = shapely.line_interpolate_point(net.geometry[edges], rng.uniform(0, 1, 500), normalized=True)
    cands = gpd.GeoDataFrame({"candidate_id": [f"c{i}" for i in range(500)]}, geometry=pts, crs=net.crs)
    people = gpd.GeoDataFrame({"population": np.full(len(res), 2.5)},
                              geometry=gpd.points_from_xy(res["x"], res["y"]), crs=net.crs)
    t0 = time.perf_counter()
    cov = siting.coverage(net, people, cands, limit_m=5 * 66.7)
    t["coverage_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    best = siting.best_k(cov, 20)
    t["best_k20_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    few, note = siting.fewest_sites(cov, 0.9)
    t["fewest_s"] = time.perf_counter() - t0
    t["total_s"] = time.perf_counter() - t_start
    out = {k: round(v, 3) for k, v in t.items()}
    out.update(nodes=net.n_nodes, candidates=500, residents=len(res),
               best20_share=float(best["cumulative_share"].iloc[-1]), fewest_note=note,
               peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               target_10s="PASS" if t["total_s"] < 10 else "FAIL")
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
