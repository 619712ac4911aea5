"""Generate the synthetic benchmark city (data set "grid"), deterministically.

A jittered street grid of about 100,000 nodes (316 x 317 intersections, street spacing
drawn between 50 and 100 m, every intersection moved by up to +-12 m, 3 % of the street
segments removed, only the largest connected piece kept), 4 facility types of 1,000
facilities each placed on random streets, and 50,000 residents spread uniformly over the
city's bounding box.

Writes, into the output folder:

* ``network.npz``     the walking network, circles format (``circles.network.save_walk_network``)
* ``residents.csv``   ``x,y`` (metres, EPSG:32650)
* ``facilities.csv``  ``type,x,y``

Usage: ``python bench/gen_grid.py OUT_DIR [--seed 20240915]``. Generation is not timed by
the benchmark; ``bench/run.py`` calls it once and reuses the files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

NX, NY = 316, 317  # intersections per row / column: 100,172 before cleaning
SPACING = (50.0, 100.0)  # street spacing range (m)
JITTER = 12.0  # max node displacement (m)
REMOVE_SHARE = 0.03  # share of street segments removed
N_TYPES = 4
N_PER_TYPE = 1000
N_RESIDENTS = 50_000
CRS = "EPSG:32650"  # UTM 50N, around Beijing
ORIGIN = (440_000.0, 4_420_000.0)
FACILITY_OFFSET = 30.0  # facilities stand up to this far from their street (m)


def _largest_component(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    _, labels = connected_components(m, directed=False)
    big = np.bincount(labels).argmax()
    return labels == big


def make_network(rng: np.random.Generator, nx: int = NX, ny: int = NY):
    xs = ORIGIN[0] + np.r_[0.0, np.cumsum(rng.uniform(*SPACING, nx - 1))]
    ys = ORIGIN[1] + np.r_[0.0, np.cumsum(rng.uniform(*SPACING, ny - 1))]
    gx, gy = np.meshgrid(xs, ys, indexing="xy")  # shape (NY, NX)
    x = gx.ravel() + rng.uniform(-JITTER, JITTER, gx.size)
    y = gy.ravel() + rng.uniform(-JITTER, JITTER, gy.size)
    idx = np.arange(nx * ny).reshape(ny, nx)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) >= REMOVE_SHARE
    u, v = u[keep], v[keep]
    alive = _largest_component(len(x), u, v)
    new_index = np.cumsum(alive) - 1
    ok = alive[u] & alive[v]
    u, v = new_index[u[ok]], new_index[v[ok]]
    x, y = x[alive], y[alive]
    node_ids = np.flatnonzero(alive).astype(np.int64) + 1
    return node_ids, x, y, u.astype(np.int64), v.astype(np.int64)


def points_on_streets(rng, x, y, u, v, n):
    e = rng.integers(0, len(u), n)
    t = rng.random(n)
    dx, dy = x[v[e]] - x[u[e]], y[v[e]] - y[u[e]]
    length = np.hypot(dx, dy)
    side = rng.uniform(-FACILITY_OFFSET, FACILITY_OFFSET, n)
    px = x[u[e]] + t * dx - side * dy / length
    py = y[u[e]] + t * dy + side * dx / length
    return px, py


def generate(
    out: Path,
    seed: int = 20240915,
    nx: int = NX,
    ny: int = NY,
    per_type: int = N_PER_TYPE,
    residents: int = N_RESIDENTS,
) -> dict:
    import shapely

    from circles.network import WalkNetwork, save_walk_network

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    node_ids, x, y, u, v = make_network(rng, nx, ny)
    coords = np.stack([np.column_stack([x[u], y[u]]), np.column_stack([x[v], y[v]])], axis=1)
    geometry = shapely.linestrings(coords)
    length = shapely.length(geometry)
    net = WalkNetwork(
        crs=CRS,
        node_ids=node_ids,
        x=x,
        y=y,
        u=u,
        v=v,
        length=np.asarray(length, float),
        geometry=np.asarray(geometry, dtype=object),
        source=f"bench/gen_grid.py seed={seed}",
    )
    save_walk_network(net, out / "network.npz")
    fx, fy, ft = [], [], []
    for k in range(N_TYPES):
        px, py = points_on_streets(rng, x, y, u, v, per_type)
        fx.append(px)
        fy.append(py)
        ft.append(np.full(per_type, k))
    with open(out / "facilities.csv", "w") as fh:
        fh.write("type,x,y\n")
        for t, a, b in zip(np.concatenate(ft), np.concatenate(fx), np.concatenate(fy), strict=True):
            fh.write(f"t{t},{a:.3f},{b:.3f}\n")
    rx = rng.uniform(x.min(), x.max(), residents)
    ry = rng.uniform(y.min(), y.max(), residents)
    with open(out / "residents.csv", "w") as fh:
        fh.write("x,y\n")
        for a, b in zip(rx, ry, strict=True):
            fh.write(f"{a:.3f},{b:.3f}\n")
    return {
        "nodes": int(len(x)),
        "edges": int(len(u)),
        "facilities": N_TYPES * per_type,
        "residents": residents,
        "crs": CRS,
        "seed": seed,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=20240915)
    a = ap.parse_args(argv)
    print(generate(a.out, a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
