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


def test_tiles_cover_the_boxes_and_large_regions_get_coarser_cells():
    tiles = isochrones.area_tiles(np.array([[100.0, 100.0, 5000.0, 900.0]]), tile=2000.0)
    assert tiles == [(0.0, 0.0, 2000.0, 2000.0), (2000.0, 0.0, 4000.0, 2000.0), (4000.0, 0.0, 6000.0, 2000.0)]
    small = isochrones._cell_for(tiles)
    city = isochrones._cell_for(isochrones.area_tiles(np.array([[0.0, 0.0, 60_000.0, 60_000.0]])))
    assert small == isochrones.AREA_CELL_M
    assert isochrones.AREA_CELL_M < city <= isochrones.AREA_MAX_CELL_M


def test_areas_drawn_in_tiles_match_one_piece(river, monkeypatch):
    """Tiles are cut exactly at their edges: together they draw the same area as one piece."""
    net, graph, dist = river
    whole = isochrones.isochrone_polygon(net, graph, dist, 400.0)
    monkeypatch.setattr(isochrones, "AREA_TILE_M", 150.0)
    box = np.array([[X0 - 300, Y0 - 300, X0 + 1300, Y0 + 300]])
    parts = [poly for _, _, _, poly in isochrones.iter_areas(net, graph, {"t": dist}, {"t": [400.0]}, box)]
    assert len(parts) >= 10
    union = shapely.union_all(parts)
    read = whole.intersection(shapely.box(*box[0]))  # areas are drawn only where they are read
    assert read.area < whole.area
    assert union.symmetric_difference(read).area < 1e-3 * read.area


# --------------------------------------------------------------------------------------------
# Walking areas drawn in worker processes (issue 25): the same bytes as one process
# --------------------------------------------------------------------------------------------


def _demo_areas(result, workers: int):
    from circles import pipeline

    rb = result.rulebook
    return isochrones.type_isochrones(
        result.access,
        result.network,
        pipeline.type_speeds(rb),
        minutes=pipeline.ISOCHRONE_MINUTES,
        rule_limits=pipeline.rule_limits(rb),
        boxes=pipeline.area_boxes(result.communities, max(rb.threshold_m(r) for r in rb.rules)),
        workers=workers,
    )


@pytest.mark.parametrize("tile_m", [isochrones.AREA_TILE_M, 700.0])
def test_parallel_walking_areas_are_byte_identical(demo_result, tmp_path, monkeypatch, tile_m):
    """Two worker processes (types split within the demo's single tile, or many small tiles)
    give the same GeoJSON bytes as one process."""
    from circles import export

    monkeypatch.setattr(isochrones, "AREA_TILE_M", tile_m)
    serial = _demo_areas(demo_result, workers=1)
    parallel = _demo_areas(demo_result, workers=2)
    assert len(serial) > 10
    assert serial["tile"].nunique() >= (10 if tile_m < 1000 else 1)  # many tiles, or one tile split by type
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = export.write_geojson(serial, tmp_path / "a" / "isochrones.geojson").read_bytes()
    b = export.write_geojson(parallel, tmp_path / "b" / "isochrones.geojson").read_bytes()
    assert a == b


def test_area_workers_not_started_draw_here_and_a_failing_hand_over_is_raised(demo_result, monkeypatch):
    """The inputs are handed to the workers in a thread: workers that cannot start leave the
    areas to this process (the same areas); any other failure there is raised where the areas
    are read, not lost with the thread."""
    serial = _demo_areas(demo_result, workers=1)

    def no_pool(workers):
        raise OSError("no processes here")

    monkeypatch.setattr(isochrones, "area_pool", no_pool)
    here = _demo_areas(demo_result, workers=2)
    assert serial.geometry.to_wkb().tolist() == here.geometry.to_wkb().tolist()

    def broken(*args):
        raise ValueError("the inputs could not be written")

    monkeypatch.setattr(isochrones, "_share_inputs", broken)
    with pytest.raises(ValueError, match="could not be written"):
        _demo_areas(demo_result, workers=2)


def test_area_tasks_keep_the_serial_order():
    """Tasks run tile by tile, types in order, split in consecutive groups when tiles are few."""
    tiles = [(0.0, 0.0, 1.0, 1.0), (1.0, 0.0, 2.0, 1.0)]
    limits = {"a": [1.0], "b": [2.0], "c": [3.0], "d": [4.0], "e": [5.0]}
    one = isochrones.area_tasks(tiles, limits, 1)
    assert [(t, list(lim)) for t, lim in one] == [(tiles[0], list("abcde")), (tiles[1], list("abcde"))]
    four = isochrones.area_tasks(tiles, limits, 4)  # 2 tiles, 4 workers: 4 groups of types each
    flat = [(tile, k) for tile, lim in four for k in lim]
    assert flat == [(tile, k) for tile in tiles for k in "abcde"]
    assert len(four) == 2 * 3  # 5 types in groups of 2, 2, 1
    assert isochrones.area_workers(1, None) == 1
    assert isochrones.area_workers(10, 3) == 3
    assert isochrones.area_workers(2, 8) == 2


def test_area_workers_run_below_this_process():
    """The area workers run :data:`~circles._safety.BACKGROUND_NICENESS` steps lower than the
    process that starts them (at most 19, the lowest), so that the analysis and the tables go
    first on a machine with fewer cores than processes."""
    import os

    from circles._safety import BACKGROUND_NICENESS

    here = os.nice(0)
    with isochrones.area_pool(1) as pool:
        there = pool.submit(os.nice, 0).result()
    assert there == min(19, here + BACKGROUND_NICENESS)
    assert os.nice(0) == here  # this process keeps its own


def test_shared_inputs_round_trip(river, tmp_path):
    """The workers read the network, split graph and distances back from plain .npy files
    exactly: same arrays, same edge lines (coordinate for coordinate), and the same areas."""
    net, graph, dist = river
    isochrones._share_inputs(tmp_path, net, graph, {"t": dist})
    assert not list(tmp_path.glob("*.pkl"))
    net2, graph2, dists2 = isochrones._read_shared(str(tmp_path))
    for name in ("node_ids", "x", "y", "u", "v", "length"):
        np.testing.assert_array_equal(getattr(net2, name), getattr(net, name))
    assert net2.crs == net.crs
    assert shapely.equals_exact(net2.geometry, net.geometry, tolerance=0).all()
    for name in ("leaf", "position", "seg_edge", "seg_s0", "seg_s1", "seg_a", "seg_b", "xy"):
        np.testing.assert_array_equal(getattr(graph2, name), getattr(graph, name))
    assert (graph2.matrix != graph.matrix).nnz == 0
    np.testing.assert_array_equal(dists2["t"], dist)
    a = isochrones.isochrone_polygon(net, graph, dist, 400.0)
    b = isochrones.isochrone_polygon(net2, graph2, dists2["t"], 400.0)
    assert shapely.to_wkb(a) == shapely.to_wkb(b)
    isochrones._WORKER.clear()


def test_edge_lines_that_cannot_travel_as_coordinates(river):
    """A network whose edge lines are not plain 2D lines is drawn in this process."""
    net, _, _ = river
    assert isochrones._shareable(net)
    z = WalkNetwork(
        net.crs,
        net.node_ids,
        net.x,
        net.y,
        net.u,
        net.v,
        net.length,
        shapely.force_3d(net.geometry),
    )
    assert not isochrones._shareable(z)


def test_segments_of_edges_are_those_of_a_full_scan():
    """The edge -> segments index answers as a scan of every segment would (ascending)."""
    rng = np.random.default_rng(4)
    for _ in range(300):
        n_edges = int(rng.integers(1, 40))
        seg_edge = rng.integers(0, n_edges, int(rng.integers(0, 120)))
        graph = reach.SplitGraph(*(None,) * 4, seg_edge, *(None,) * 4)  # type: ignore[arg-type]
        for _ in range(3):  # the index is made once and read again
            edges = np.unique(rng.integers(0, n_edges, int(rng.integers(0, 8))))
            got = isochrones._segments_of(graph, n_edges, edges)
            assert np.array_equal(got, np.flatnonzero(np.isin(seg_edge, edges)))


def test_drawn_inside_reads_the_band_only_and_answers_as_a_full_reading():
    """Whether street samples lie inside the drawn contour: only samples whose cells straddle
    ``limit ± ramp`` are interpolated, and the answer is that of interpolating every sample."""
    rng = np.random.default_rng(9)
    cell = 5.0
    x, y = np.arange(40) * cell + 2.5, np.arange(30) * cell + 2.5
    values = np.where(rng.random((30, 40)) < 0.1, isochrones._FAR, rng.uniform(0, 400, (30, 40)))
    pts = np.column_stack([rng.uniform(0, 200, 5000), rng.uniform(0, 150, 5000)])
    field = isochrones.AreaField(x, y, {"t": values}, (pts, np.zeros(5000, dtype=int), np.zeros(5000)))
    ramp = isochrones.FIELD_RAMP_CELLS * cell
    fx = np.clip((pts[:, 0] - x[0]) / cell, 0, len(x) - 1.000001)
    fy = np.clip((pts[:, 1] - y[0]) / cell, 0, len(y) - 1.000001)
    i, j = fy.astype(int), fx.astype(int)
    tx, ty = fx - j, fy - i
    for limit in (50.0, 200.0, 333.3, 390.0):
        z = [
            np.clip(values[a, b], limit - ramp, limit + ramp)
            for a, b in ((i, j), (i, j + 1), (i + 1, j), (i + 1, j + 1))
        ]
        full = (z[0] * (1 - tx) + z[1] * tx) * (1 - ty) + (z[2] * (1 - tx) + z[3] * tx) * ty <= limit
        got = isochrones._drawn_inside(field, "t", limit)
        assert 0 < got.sum() < len(got)
        assert np.array_equal(got, full), limit
