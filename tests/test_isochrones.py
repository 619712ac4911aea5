"""Isochrone polygons on a hand-drawn network, and the vectorised street cutting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from shapely.ops import substring

from circles import isochrones, reach
from circles.network import WalkNetwork

# UTM-sized coordinates: the polygons are built near a local origin and moved back
X0, Y0 = 440_000.0, 4_420_000.0


def _river_network() -> WalkNetwork:
    """Street A (y = 0, x = 0…1000) with a closed block south of its west end (y = -60,
    x = 0…300), and street B 15 m north of A, joined to A only by a bridge at x = 1000.

    ::

        4 ------------------------ B ------------------------ 3
        0 ---- 1 ------------------ A ----------------------- 2
        |      |
        5 ---- 6
    """
    xy = np.array([(0, 0), (300, 0), (1000, 0), (1000, 15), (0, 15), (0, -60), (300, -60)], dtype=float)
    uv = np.array([(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 1)])
    geoms = np.array([shapely.LineString([xy[a] + (X0, Y0), xy[b] + (X0, Y0)]) for a, b in uv], dtype=object)
    return WalkNetwork(
        crs="EPSG:32650",
        node_ids=np.arange(len(xy)),
        x=xy[:, 0] + X0,
        y=xy[:, 1] + Y0,
        u=uv[:, 0],
        v=uv[:, 1],
        length=shapely.length(geoms),
        geometry=geoms,
    )


@pytest.fixture(scope="module")
def river():
    net = _river_network()
    att = reach.attach_points(net, np.array([X0 + 1.0]), np.array([Y0]))
    graph = reach.split_graph(net, att)
    dist, _ = reach.nearest(graph, graph.leaf[:1])
    return net, graph, dist


def _inside(poly, pts) -> np.ndarray:
    p = shapely.points(np.asarray(pts, dtype=float) + (X0, Y0))
    return shapely.intersects(poly, p)


def test_hand_drawn_case(river):
    net, graph, dist = river
    # 400 m from x = 1: street A up to x = 401; the whole block (its far corner is 359 m
    # away); none of B (the bridge is 999 m away)
    poly = isochrones.isochrone_polygon(net, graph, dist, 400.0)
    assert _inside(poly, [(10, 0), (200, 0), (390, 0), (0, -30), (300, -30), (150, -60)]).all()
    assert _inside(poly, [(150, -30)]).all()  # the enclosed block is filled
    assert not _inside(poly, [(50, 15), (200, 15), (350, 15)]).any()  # B is cut out though within the band
    assert not _inside(poly, [(420, 0), (700, 0)]).any()  # A beyond the limit
    q = isochrones.polygon_quality(net, graph, dist, 400.0, poly, spacing=1.0)
    assert q["reachable"] == pytest.approx(400 + 60 + 300 + 60, abs=2)  # 1 m samples along 821 m
    assert q["missed"] == 0 and q["leak"] == 0
    # the convex hull of the reached nodes misses the reachable part of A beyond x = 300
    hull = isochrones.convex_hull_polygon(net, graph, dist, 400.0)
    assert isochrones.polygon_quality(net, graph, dist, 400.0, hull, spacing=1.0)["missed"] > 0


def test_limits_nest(river):
    net, graph, dist = river
    polys = [isochrones.isochrone_polygon(net, graph, dist, lim) for lim in (100.0, 250.0, 400.0, 900.0)]
    for small, large in itertools.pairwise(polys):
        assert small.difference(large).area < 1e-3 * small.area
        assert large.area > small.area


def test_substrings_match_shapely():
    from circles import demo, network

    demo_net = network.read_walk_network(demo.DEMO_OSM)
    rng = np.random.default_rng(3)
    edges = rng.choice(demo_net.n_edges, 400)
    lines = demo_net.geometry[edges]
    length = shapely.length(lines)
    a, b = rng.random(400) * length, rng.random(400) * length
    start, end = np.minimum(a, b), np.maximum(a, b)
    start[:40] = 0.0
    end[40:80] = length[40:80]
    got = isochrones.substrings(lines, start, end)
    for g, line, s, t in zip(got, lines, start, end, strict=True):
        ref = substring(line, s, t)
        assert g.length == pytest.approx(t - s, abs=1e-6)
        assert shapely.hausdorff_distance(g, ref) < 1e-6


def test_city_wide_band_coarsens_its_grid_but_keeps_the_streets():
    """A union over a whole city would need a huge grid: the cells grow instead, and the
    band still holds every street and about the right area (streets × twice the buffer)."""
    lines = np.array(
        [
            shapely.LineString([(X0, Y0), (X0 + 30_000, Y0)]),
            shapely.LineString([(X0, Y0 + 30_000), (X0 + 30_000, Y0 + 30_000)]),
            shapely.LineString([(X0, Y0), (X0, Y0 + 30_000)]),
        ],
        dtype=object,
    )
    band = isochrones._band(lines, 20.0)
    assert shapely.contains(band, shapely.segmentize(lines, 50.0)).all()
    assert band.area == pytest.approx(90_000 * 40, rel=0.05)
