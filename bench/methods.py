"""One benchmark measurement, run as a child process by ``bench/run.py``.

Usage::

    python bench/methods.py METHOD DATASET [--variant V] [--work DIR] [--out DIR] [--profile FILE]

METHOD is one of ``circles``, ``scipy``, ``osmnx``, ``pandana``, ``cityseer``, ``build``,
``isochrones``. The child imports what the method needs (timed apart as ``import_s``), then
times the run from files on disk to per-resident answers in memory (``wall_s``, split into
``phases``), and writes ``<out>/<dataset>__<method>__<variant>.json`` with its peak memory
(``ru_maxrss`` of this process) and ``.npy`` with the per-resident answers:

* distance methods: float64 array (types x residents), metres to the nearest facility of each
  type, ``inf`` where none is within the limit (or, for circles, the resident is not attached);
* ``osmnx`` (the notebook recipe gives polygons, not distances): bool array (types x
  residents), resident inside the convex hull of at least one (sampled) facility of the type.

Node-snapping peers (bare SciPy, pandana, cityseer) report, per resident, the value at the
resident's nearest network node plus the straight-line distance from the resident to that
node, so that every method answers "how far is this resident's walk".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    LIMIT_M,
    MAX_ATTACH_M,
    SPEED_M_PER_MIN,
    WORK,
    Timer,
    dataset_meta,
    peak_rss_mb,
    read_net_arrays,
    read_net_geometry,
    read_points,
)  # noqa: E402

SEED = 20240915
#: OSMnx recipe: above this many facilities, time a fixed sample and extrapolate linearly
RECIPE_FULL_MAX = 400
RECIPE_SAMPLE = 50
#: Isochrones: facilities sampled and limits (5, 10, 15 min at 66.7 m/min)
ISO_FACILITIES = 50
ISO_MINUTES = (5, 10, 15)
#: circles and bare SciPy repeat their searches this many more times after the timed run;
#: the best of all is reported as ``search_best_s`` (robust to a busy machine)
SEARCH_REPEATS = 3


class Result(dict):
    """What a child reports; ``answers`` is saved next to the JSON as ``.npy``."""

    answers: np.ndarray | None = None
    attached: np.ndarray | None = None  # circles: residents attached to a street


# --------------------------------------------------------------------------------- circles


def run_circles(meta: dict, variant: str, limit: float, subset: list[int] | None = None) -> Result:
    """circles end to end: network file, points, attach, split, one bounded search per type.

    Follows the engine as ``circles.access.compute_access`` uses it: all points attached at
    once (residents first); with ``circles.reach.locate`` (current engine) the streets are
    split at the facilities only and residents are located on the split segments; without
    it (older engine) every point becomes a leaf of the split graph.

    ``subset`` (facility rows) restricts the facilities: used untimed, as the reference for
    the sampled OSMnx recipe."""
    t = time.perf_counter()
    import pandas  # noqa: F401  (read_points; imported here as in the other methods)

    from circles import reach
    from circles.network import read_walk_network

    import_s = time.perf_counter() - t
    has_locate = hasattr(reach, "locate")

    T = Timer()
    with T("network"):
        if variant.startswith("npz"):
            net = read_walk_network(meta["network"])
        elif variant == "source":
            net = read_walk_network(meta["source"])  # OSM XML / PBF, no cache
        elif variant == "graphml":
            net = read_walk_network(meta["source"], cache_dir=meta["graphml_cache"])
        else:
            raise ValueError(variant)
    with T("points"):
        rx, ry, ftype, fx, fy, labels = read_points(meta)
        if subset is not None:
            ftype, fx, fy = ftype[subset], fx[subset], fy[subset]
    nr = len(rx)
    with T("attach"):
        att = reach.attach_points(net, np.r_[rx, fx], np.r_[ry, fy], MAX_ATTACH_M)
    with T("split"):
        if has_locate:
            is_fac = np.arange(len(att.edge)) >= nr
            graph = reach.split_graph(net, reach.Attachment(att.edge, att.offset, att.leg, att.attached & is_fac))
            targets = reach.locate(
                net, graph, reach.Attachment(att.edge[:nr], att.offset[:nr], att.leg[:nr], att.attached[:nr])
            )
            placed = targets.placed
        else:
            graph = reach.split_graph(net, att)
            placed = graph.leaf[:nr] >= 0
    sources = []
    for k in range(len(labels)):
        src = graph.leaf[nr + np.flatnonzero(ftype == k)]
        sources.append(src[src >= 0])
    dists = []
    with T("search"):  # the nearest() calls alone
        for src in sources:
            dists.append(reach.nearest(graph, src, limit)[0])
    with T("extract"):
        out = np.full((len(labels), nr), np.inf)
        for k, d in enumerate(dists):
            if has_locate:
                out[k] = targets.distance(d)
            else:
                out[k, placed] = d[graph.leaf[:nr][placed]]
        out[out > limit] = np.inf
    wall = T.total()
    search_runs = [T.phases["search"]]
    for _ in range(SEARCH_REPEATS):  # untimed for wall: search alone again
        t = time.perf_counter()
        for src in sources:
            reach.nearest(graph, src, limit)
        search_runs.append(time.perf_counter() - t)
    r = Result(
        import_s=import_s,
        wall_s=wall,
        phases=T.phases,
        search_best_s=min(search_runs),
        extra={
            "engine": "split at facilities + locate residents" if has_locate else "leaf per point",
            "residents_not_attached": int((~placed).sum()),
            "facilities_not_attached": int((graph.leaf[nr:] < 0).sum()),
            "split_nodes": int(graph.n_nodes),
            "split_edges": int(graph.matrix.nnz),
        },
    )
    r.answers = out
    r.attached = placed
    return r


# ------------------------------------------------------------------------------ bare SciPy


def _node_csr(a: dict):
    """Symmetric-by-``directed=False`` CSR of the node graph, parallel edges reduced to the
    shortest (CSR construction would add them up)."""
    from scipy import sparse

    n = len(a["x"])
    lo = np.minimum(a["u"], a["v"])
    hi = np.maximum(a["u"], a["v"])
    w = np.maximum(a["length"], 1e-6)
    keep = lo != hi
    lo, hi, w = lo[keep], hi[keep], w[keep]
    order = np.lexsort((w, hi, lo))
    lo, hi, w = lo[order], hi[order], w[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
    return sparse.csr_matrix((w[first], (lo[first], hi[first])), shape=(n, n))


def run_scipy(meta: dict, variant: str, limit: float) -> Result:
    """The bare limit: snap to nearest nodes, one min_only Dijkstra per type on the node graph."""
    t = time.perf_counter()
    import pandas  # noqa: F401  (read_points)
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    import_s = time.perf_counter() - t

    T = Timer()
    with T("network"):
        a = read_net_arrays(meta["network"])
        m = _node_csr(a)
    with T("points"):
        rx, ry, ftype, fx, fy, labels = read_points(meta)
    with T("snap"):
        tree = cKDTree(np.column_stack([a["x"], a["y"]]))
        leg, rnode = tree.query(np.column_stack([rx, ry]))
        _, fnode = tree.query(np.column_stack([fx, fy]))
    dists = []
    with T("search"):
        for k in range(len(labels)):
            src = np.unique(fnode[ftype == k])
            dists.append(dijkstra(m, directed=False, indices=src, min_only=True, limit=limit))
    with T("extract"):
        out = np.vstack([d[rnode] + leg for d in dists])
    wall = T.total()
    search_runs = [T.phases["search"]]
    for _ in range(SEARCH_REPEATS):
        t = time.perf_counter()
        for k in range(len(labels)):
            dijkstra(m, directed=False, indices=np.unique(fnode[ftype == k]), min_only=True, limit=limit)
        search_runs.append(time.perf_counter() - t)
    r = Result(import_s=import_s, wall_s=wall, phases=T.phases, search_best_s=min(search_runs))
    r.answers = out
    return r


# ------------------------------------------------------------------------------- OSMnx recipe


def run_osmnx(meta: dict, variant: str, limit: float) -> Result:
    """The OSMnx notebook recipe: ego_graph(radius=limit, distance="length") around each
    facility's nearest node, convex hull of the subgraph's nodes; a resident is covered when
    it lies in a hull. Above RECIPE_FULL_MAX facilities, a fixed sample is timed and the
    per-facility part is extrapolated linearly."""
    t = time.perf_counter()
    import geopandas as gpd
    import networkx as nx
    import osmnx as ox
    import shapely
    from shapely.geometry import Point

    import_s = time.perf_counter() - t

    T = Timer()
    with T("network"):
        a = read_net_arrays(meta["network"])
        G = nx.MultiDiGraph(crs=a["crs"])
        ids = a["node_ids"].tolist()
        G.add_nodes_from((n, {"x": x, "y": y}) for n, x, y in zip(ids, a["x"].tolist(), a["y"].tolist(), strict=True))
        nid = a["node_ids"]
        us, vs, ls = nid[a["u"]].tolist(), nid[a["v"]].tolist(), a["length"].tolist()
        G.add_edges_from((p, q, {"length": w}) for p, q, w in zip(us, vs, ls, strict=True))
        G.add_edges_from((q, p, {"length": w}) for p, q, w in zip(us, vs, ls, strict=True))
    with T("points"):
        rx, ry, ftype, fx, fy, labels = read_points(meta)
    n_fac = len(fx)
    sample = np.arange(n_fac)
    if n_fac > RECIPE_FULL_MAX and variant != "full":
        sample = np.sort(np.random.default_rng(SEED).choice(n_fac, RECIPE_SAMPLE, replace=False))
    with T("snap"):
        fnode = ox.distance.nearest_nodes(G, fx, fy)
    hulls = []
    with T("ego_hull"):
        for node in fnode[sample]:
            sub = nx.ego_graph(G, node, radius=limit, distance="length")
            pts = [Point(d["x"], d["y"]) for _, d in sub.nodes(data=True)]
            hulls.append(gpd.GeoSeries(pts).union_all().convex_hull)
    covered = np.zeros((len(labels), len(rx)), dtype=bool)
    with T("cover"):
        res_pts = shapely.points(rx, ry)
        hulls_a = np.array(hulls, dtype=object)
        for k in range(len(labels)):
            hk = hulls_a[ftype[sample] == k]
            if len(hk):
                ir, _ = shapely.STRtree(hk).query(res_pts, predicate="intersects")
                covered[k, np.unique(ir)] = True
    wall = T.total()
    r = Result(
        import_s=import_s,
        wall_s=wall,
        phases=T.phases,
        extra={"sample": sample.tolist(), "facilities_timed": int(len(sample)), "facilities": n_fac},
    )
    if len(sample) < n_fac:
        scale = n_fac / len(sample)
        per_fac = T.phases["ego_hull"]
        r["measured_wall_s"] = wall
        r["wall_s"] = wall - per_fac + per_fac * scale
        r["extrapolated"] = True
        r["note"] = (
            f"ego_graph + hull timed on a fixed sample of {len(sample)} of {n_fac} facilities and "
            f"scaled x{scale:.0f} ({per_fac / len(sample) * 1e3:.1f} ms per facility); the "
            f"point-in-hull step is timed with the sample's hulls only; agreement is on the sample"
        )
    r.answers = covered
    return r


# ------------------------------------------------------------------------------------ pandana


def run_pandana(meta: dict, variant: str, limit: float) -> Result:
    """pandana: Network (contraction hierarchies built in the constructor), set_pois and
    nearest_pois(num_pois=1) per type; residents read their nearest node's value."""
    t = time.perf_counter()
    import pandana
    import pandas as pd

    import_s = time.perf_counter() - t

    T = Timer()
    with T("network"):
        a = read_net_arrays(meta["network"])
    with T("points"):
        rx, ry, ftype, fx, fy, labels = read_points(meta)
    with T("prepare"):  # includes CH preprocessing
        nid = a["node_ids"]
        net = pandana.Network(
            pd.Series(a["x"], index=nid),
            pd.Series(a["y"], index=nid),
            pd.Series(nid[a["u"]]),
            pd.Series(nid[a["v"]]),
            pd.DataFrame({"length": a["length"]}),
            twoway=True,
        )
    with T("set_pois"):
        for k, lab in enumerate(labels):
            sel = ftype == k
            net.set_pois(category=lab, maxdist=limit, maxitems=1, x_col=pd.Series(fx[sel]), y_col=pd.Series(fy[sel]))
    res = []
    with T("search"):
        for lab in labels:
            res.append(net.nearest_pois(limit, lab, num_pois=1, max_distance=np.inf)[1])
    with T("snap"):
        rnode = net.get_node_ids(pd.Series(rx), pd.Series(ry)).to_numpy()
        pos = pd.Index(nid).get_indexer(rnode)
        leg = np.hypot(a["x"][pos] - rx, a["y"][pos] - ry)
    with T("extract"):
        out = np.vstack([s.reindex(rnode).to_numpy(float) + leg for s in res])
        out[out > limit + leg.max() + 1] = np.inf
    r = Result(import_s=import_s, wall_s=T.total(), phases=T.phases)
    r.answers = out
    return r


# ----------------------------------------------------------------------------------- cityseer


def run_cityseer(meta: dict, variant: str, limit: float) -> Result:
    """cityseer: networkx MultiGraph with string node keys -> network_structure_from_nx ->
    layers.compute_accessibilities (nearest distance per land-use key, one flat decay);
    residents read their nearest node's value."""
    t = time.perf_counter()
    import geopandas as gpd
    import networkx as nx
    import shapely
    from cityseer import rustalgos
    from cityseer.metrics import layers
    from cityseer.tools import io
    from scipy.spatial import cKDTree

    import_s = time.perf_counter() - t

    T = Timer()
    with T("network"):
        a = read_net_arrays(meta["network"])
        geom = read_net_geometry(meta["network"])
    with T("points"):
        rx, ry, ftype, fx, fy, labels = read_points(meta)
    with T("convert"):
        keys = [f"n{i}" for i in a["node_ids"].tolist()]
        if variant == "direct":
            # the documented Rust API (rustalgos.graph.NetworkStructure), skipping networkx:
            # one street node per node, one street edge per direction (geometry aligned to
            # its start node), added grouped by start node as io.network_structure_from_nx
            # does (adding them edge by edge makes cityseer's search ~1.7x slower)
            ns = rustalgos.graph.NetworkStructure()
            idx = [
                ns.add_street_node(k, x, y, True, 1.0)
                for k, x, y in zip(keys, a["x"].tolist(), a["y"].tolist(), strict=True)
            ]
            wkt = np.r_[
                shapely.to_wkt(geom, rounding_precision=-1),
                shapely.to_wkt(shapely.reverse(geom), rounding_precision=-1),
            ]
            n_e = len(a["u"])
            start, end = np.r_[a["u"], a["v"]], np.r_[a["v"], a["u"]]
            order = np.lexsort((end, start))
            for p, q, j in zip(start[order].tolist(), end[order].tolist(), order.tolist(), strict=True):
                ns.add_street_edge(idx[p], idx[q], j % n_e, keys[p], keys[q], wkt[j])
            ns.validate()
            ns.build_edge_rtree()
            nodes_gdf = gpd.GeoDataFrame(
                {"ns_node_idx": idx, "x": a["x"], "y": a["y"]},
                index=keys,
                geometry=shapely.points(a["x"], a["y"]),
                crs=a["crs"],
            )
        else:
            # the documented path: a networkx MultiGraph (string keys, x/y, "geom") and
            # io.network_structure_from_nx
            G = nx.MultiGraph()
            G.graph["crs"] = a["crs"]
            G.add_nodes_from(
                (k, {"x": x, "y": y}) for k, x, y in zip(keys, a["x"].tolist(), a["y"].tolist(), strict=True)
            )
            G.add_edges_from(
                (keys[p], keys[q], {"geom": g}) for p, q, g in zip(a["u"].tolist(), a["v"].tolist(), geom, strict=True)
            )
            nodes_gdf, _edges_gdf, ns = io.network_structure_from_nx(G)
        data = gpd.GeoDataFrame(
            {"landuse": np.asarray(labels, dtype=object)[ftype]}, geometry=shapely.points(fx, fy), crs=a["crs"]
        )
    with T("search"):
        nodes_gdf = layers.compute_accessibilities(
            data,
            "landuse",
            list(labels),
            nodes_gdf,
            ns,
            max_netw_assign_dist=MAX_ATTACH_M,
            distances=[int(limit)],
            decay_fn="1",
        )
    with T("snap"):
        nx_, ny_ = shapely.get_x(nodes_gdf.geometry.values), shapely.get_y(nodes_gdf.geometry.values)
        leg, pos = cKDTree(np.column_stack([nx_, ny_])).query(np.column_stack([rx, ry]))
    with T("extract"):
        cols = [f"cc_{lab}_nearest_max_{int(limit)}" for lab in labels]
        out = np.vstack([nodes_gdf[c].to_numpy(float)[pos] + leg for c in cols])
        out[~np.isfinite(out)] = np.inf
    r = Result(import_s=import_s, wall_s=T.total(), phases=T.phases)
    r.answers = out
    return r


# ----------------------------------------------------------------------------- network build


def run_build(meta: dict, variant: str, limit: float) -> Result:
    """Network from the source OSM file: cold (read + build + flatten) or from the GraphML
    cache (``load_network(..., cache_dir=...)`` when the cache exists, + flatten)."""
    t = time.perf_counter()
    import osmnx  # noqa: F401  (circles imports it lazily inside the build functions: count it here)

    from circles.network import graph_from_osm_xml, graph_from_pbf, load_network, to_walk_network

    import_s = time.perf_counter() - t

    T = Timer()
    src = meta["source"]
    if variant == "cold":
        with T("graph"):
            G = graph_from_pbf(src) if src.endswith(".pbf") else graph_from_osm_xml(src)
    elif variant == "cached":
        with T("graph"):
            G = load_network(src, cache_dir=meta["graphml_cache"])
    else:
        raise ValueError(variant)
    with T("flatten"):
        net = to_walk_network(G)
    return Result(
        import_s=import_s, wall_s=T.total(), phases=T.phases, extra={"nodes": net.n_nodes, "edges": net.n_edges}
    )


# -------------------------------------------------------------------------------- isochrones


def run_isochrones(meta: dict, variant: str, limit: float) -> Result:
    """~50 random facilities x {5, 10, 15} min: circles' isochrone_polygon vs the convex hull
    of reached nodes, timed per polygon and scored with polygon_quality."""
    t = time.perf_counter()
    from circles.isochrones import convex_hull_polygon, isochrone_polygon, polygon_quality
    from circles.network import load_walk_network
    from circles.reach import attach_points, nearest, split_graph

    import_s = time.perf_counter() - t

    T = Timer()
    with T("setup"):
        net = load_walk_network(meta["network"])
        rx, ry, ftype, fx, fy, labels = read_points(meta)
        pick = np.random.default_rng(SEED).choice(len(fx), min(ISO_FACILITIES, len(fx)), replace=False)
        att = attach_points(net, fx[pick], fy[pick], MAX_ATTACH_M)
        graph = split_graph(net, att)
        # one untimed polygon first: the lazy imports (contourpy, scipy.ndimage) and the cached
        # local edge geometries belong to the first call of a run, not to every polygon
        first = int(np.flatnonzero(graph.leaf >= 0)[0])
        isochrone_polygon(
            net,
            graph,
            nearest(graph, graph.leaf[first : first + 1], ISO_MINUTES[-1] * SPEED_M_PER_MIN)[0],
            ISO_MINUTES[-1] * SPEED_M_PER_MIN,
        )
    limits = [m * SPEED_M_PER_MIN for m in ISO_MINUTES]
    rows = {
        m: {
            "circles_ms": [],
            "hull_ms": [],
            "circles_cpu_ms": [],
            "circles_err": [],
            "hull_err": [],
            "circles_missed": [],
            "circles_leak": [],
            "hull_missed": [],
            "hull_leak": [],
        }
        for m in ISO_MINUTES
    }
    search_ms = []
    t_poly = time.perf_counter()
    for i in range(len(pick)):
        leaf = graph.leaf[i]
        if leaf < 0:
            continue
        t = time.perf_counter()
        dist, _ = nearest(graph, np.array([leaf]), max(limits))
        search_ms.append(1e3 * (time.perf_counter() - t))
        for m, lim in zip(ISO_MINUTES, limits, strict=True):
            t, c = time.perf_counter(), time.process_time()
            poly = isochrone_polygon(net, graph, dist, lim)
            rows[m]["circles_ms"].append(1e3 * (time.perf_counter() - t))
            rows[m]["circles_cpu_ms"].append(1e3 * (time.process_time() - c))
            t = time.perf_counter()
            hull = convex_hull_polygon(net, graph, dist, lim)
            rows[m]["hull_ms"].append(1e3 * (time.perf_counter() - t))
            for name, p in (("circles", poly), ("hull", hull)):
                q = polygon_quality(net, graph, dist, lim, p)
                rows[m][f"{name}_err"].append(q["missed_share"] + q["leak_share"])
                rows[m][f"{name}_missed"].append(q["missed_share"])
                rows[m][f"{name}_leak"].append(q["leak_share"])
    summary = {}
    for m in ISO_MINUTES:
        s = {}
        for k, v in rows[m].items():
            v = np.asarray(v)
            s[f"{k}_mean"] = float(v.mean()) if len(v) else None
            s[f"{k}_max"] = float(v.max()) if len(v) else None
        s["polygons"] = len(rows[m]["circles_ms"])
        summary[str(m)] = s
    T.total()
    T.phases["polygons"] = time.perf_counter() - t_poly
    return Result(
        import_s=import_s,
        wall_s=T.total(),
        phases=T.phases,
        extra={
            "facilities": int(len(search_ms)),
            "search_ms_mean": float(np.mean(search_ms)),
            "limits_m": limits,
            "by_minutes": summary,
        },
    )


METHODS = {
    "circles": run_circles,
    "scipy": run_scipy,
    "osmnx": run_osmnx,
    "pandana": run_pandana,
    "cityseer": run_cityseer,
    "build": run_build,
    "isochrones": run_isochrones,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("method", choices=sorted(METHODS))
    ap.add_argument("dataset")
    ap.add_argument("--variant", default="default")
    ap.add_argument("--limit", type=float, default=LIMIT_M, help="search limit in metres; 'inf' for none")
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--out", type=Path, default=WORK / "out")
    ap.add_argument("--profile", type=Path, help="write a cProfile listing of the run here")
    ap.add_argument("--subset", type=Path, help="circles only: JSON list of facility rows to use")
    a = ap.parse_args(argv)
    meta = dataset_meta(a.dataset, a.work)
    a.out.mkdir(parents=True, exist_ok=True)
    key = f"{a.dataset}__{a.method}__{a.variant}"
    base = {"method": a.method, "dataset": a.dataset, "variant": a.variant, "limit_m": a.limit}
    run = METHODS[a.method]
    if a.subset:
        import functools

        run = functools.partial(run, subset=json.loads(a.subset.read_text()))
    try:
        if a.profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            r = prof.runcall(run, meta, a.variant, a.limit)
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(45)
            a.profile.parent.mkdir(parents=True, exist_ok=True)
            a.profile.write_text(buf.getvalue())
        else:
            r = run(meta, a.variant, a.limit)
        out = base | {"ok": True} | dict(r)
        if Timer.last is not None and Timer.last.cpu_s is not None:
            out["cpu_s"] = Timer.last.cpu_s
        if r.answers is not None:
            np.save(a.out / f"{key}.npy", r.answers)
        if r.attached is not None:
            np.save(a.out / f"{key}.attached.npy", r.attached)
    except Exception as exc:  # report, don't crash the whole benchmark
        out = base | {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    out["peak_rss_mb"] = peak_rss_mb()
    (a.out / f"{key}.json").write_text(json.dumps(out, indent=1, default=float))
    print(
        json.dumps(
            {k: out.get(k) for k in ("method", "dataset", "variant", "ok", "wall_s", "peak_rss_mb", "error")},
            default=float,
        )
    )
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
