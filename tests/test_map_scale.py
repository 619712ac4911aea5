"""Issue 15: maps of a whole city. A synthetic city of 400 communities and 90,000 resident points
(a street grid, every facility type of the rulebook, city-wide walking areas with degenerate
pieces) gives an overview that stays small and opens fast, community maps of a few hundred KB
written in worker processes, and a community whose map cannot be drawn is listed, not fatal.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from map_browser import Browsers, errors, js, open_map, open_map_timed

from circles import _display, mapping
from circles.rulebook import load_rulebook

#: Targets for a 400-community, 90,000-point city (load: CPU seconds of the page, see open_map_timed).
OVERVIEW_MAX_BYTES = 15_000_000
OVERVIEW_MAX_LOAD_S = 5.0
COMMUNITY_MAX_BYTES = 600_000


class _Net:
    """The two things the maps read from a walking network."""

    def __init__(self, edges: gpd.GeoDataFrame):
        self._edges = edges
        self.n_edges = len(edges)

    def edges_gdf(self) -> gpd.GeoDataFrame:
        return self._edges


def synthetic_city(side: int = 20, per_community: int = 225, seed: int = 0):
    """A result-like object: ``side``² communities of 600 m, a 75 m street grid, the rulebook's
    types with 100 facilities each, city-wide 5/10/15-minute areas (unions of discs, plus a
    bow-tie, a collapsing sliver and a geometry collection), random walking distances."""
    rng = np.random.default_rng(seed)
    crs, x0, y0, cell = "EPSG:32650", 440_000.0, 4_420_000.0, 600.0
    rb = load_rulebook()
    types = rb.types_used()
    n = side * side
    ids = [f"c{i:03d}" for i in range(n)]
    boxes = [
        shapely.box(
            x0 + (i % side) * cell,
            y0 + (i // side) * cell,
            x0 + (i % side + 1) * cell - 30,
            y0 + (i // side + 1) * cell - 30,
        )
        for i in range(n)
    ]
    boxes[-1] = shapely.LineString([(x0, y0), (x0 + 10, y0)])  # no usable boundary: its map fails
    comms = gpd.GeoDataFrame(
        {"id": ids, "name": [f"幸福社区-{i:03d}" for i in range(n)], "population": 2000.0}, geometry=boxes, crs=crs
    )
    k = n * per_community
    ci = np.repeat(np.arange(n), per_community)
    rx = x0 + (ci % side) * cell + rng.uniform(10, cell - 40, k)
    ry = y0 + (ci // side) * cell + rng.uniform(10, cell - 40, k)
    res = {
        "point_id": [f"{ids[c]}#{j}" for j, c in enumerate(ci)],
        "community_id": np.array(ids)[ci],
        "placed": rng.random(k) > 0.01,
        "population": 9.0,
    }
    for t in types:
        d = rng.gamma(2.0, 350.0, k)
        d[rng.random(k) < 0.02] = np.nan
        res[f"dist_{t}"] = d
    residents = gpd.GeoDataFrame(res, geometry=gpd.points_from_xy(rx, ry), crs=crs)
    size = side * cell
    nf = 100
    fac = gpd.GeoDataFrame(
        {
            "id": [f"f{j}" for j in range(nf * len(types))],
            "facility_type": np.repeat(types, nf),
            "name": [f"设施{j}" for j in range(nf * len(types))],
            "source": "synthetic",
            "placed": True,
        },
        geometry=gpd.points_from_xy(
            x0 + rng.uniform(0, size, nf * len(types)), y0 + rng.uniform(0, size, nf * len(types))
        ),
        crs=crs,
    )
    speeds = {t: 66.7 for t in types}
    rows = []
    for t in types:
        pts = fac[fac["facility_type"] == t].geometry.values
        # the 5/10/15-minute areas and one at each item's own threshold
        dists = sorted({m * 66.7 for m in (5, 10, 15)} | {rb.threshold_m(r) for r in rb.rules if r.facility_type == t})
        for d in dists:
            rows.append(
                {
                    "facility_type": t,
                    "minutes": round(d / 66.7, 4),
                    "speed_m_per_min": 66.7,
                    "distance_m": d,
                    "geometry": shapely.union_all(shapely.buffer(pts, d * 0.7, quad_segs=6)),
                }
            )
    bx, by = x0 + 600 * 3 + 100, y0 + 600 * 5 + 100
    for g in (
        shapely.Polygon([(bx, by), (bx + 50, by + 50), (bx + 50, by), (bx, by + 50)]),
        shapely.Polygon([(bx, by), (bx + 1e-7, by), (bx, by + 1e-7)]),
        shapely.GeometryCollection([shapely.Point(bx, by), shapely.LineString([(bx, by), (bx + 9, by)])]),
    ):
        rows.append(
            {"facility_type": types[0], "minutes": 5, "speed_m_per_min": 66.7, "distance_m": 333.5, "geometry": g}
        )
    iso = gpd.GeoDataFrame(rows, crs=crs)
    lines = []
    for a in range(0, int(size) + 1, 75):
        for b in range(0, int(size), 75):
            lines.append(shapely.LineString([(x0 + a, y0 + b), (x0 + a, y0 + b + 75)]))
            lines.append(shapely.LineString([(x0 + b, y0 + a), (x0 + b + 75, y0 + a)]))
    edges = gpd.GeoDataFrame(geometry=lines, crs=crs)
    statuses = np.array(["ok", "partial", "gap", "no_data", "undersized"])
    gaps = pd.DataFrame(
        [
            {
                "community_id": c,
                "community_name": f"幸福社区-{i:03d}",
                "rule_id": r.id,
                "facility_type": r.facility_type,
                "facility_name_zh": r.name_zh,
                "threshold_min": rb.threshold_minutes(r),
                "status": statuses[rng.integers(0, 5)],
                "covered_share": rng.random(),
                "nearest_min_median": rng.uniform(0, 30),
            }
            for i, c in enumerate(ids)
            for r in rb.rules
        ]
    )
    return SimpleNamespace(
        communities=comms,
        facilities=fac,
        residents=residents,
        isochrones=iso,
        gaps=gaps,
        network=_Net(edges),
        rulebook=rb,
        type_speed=speeds,
    )


@pytest.fixture(scope="module")
def city():
    return synthetic_city()


@pytest.fixture(scope="module")
def browsers(tmp_path_factory):
    b = Browsers(tmp_path_factory)
    yield b
    b.close()


def test_a_city_of_400_communities(city, browsers, tmp_path, capsys):
    assert len(city.communities) == 400 and len(city.residents) == 90_000
    ids = list(city.communities["id"])
    some = ids[:10] + ids[-2:]  # ...and the last one cannot be drawn
    t0 = time.perf_counter()
    paths = mapping.write_maps(city, tmp_path, community_maps=some, workers=2, progress=True)
    build_s = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert "community maps" in err and "12/12" in err  # the progress bar counts maps
    overview = paths[0]
    assert [p.name for p in paths[1:]] == [_display.community_file_name(c) for c in some[:-1]]
    # the overview: communities, names and links, no 90,000 points
    size = overview.stat().st_size
    assert size < OVERVIEW_MAX_BYTES, f"overview {size / 1e6:.1f} MB"
    page = overview.read_text(encoding="utf-8")
    assert '"res":null' in page and "居民点共90000个" in page
    for p in paths[1:]:
        assert p.stat().st_size < COMMUNITY_MAX_BYTES, (p.name, p.stat().st_size)
    drv = browsers("laptop")
    load_s, cpu_s = open_map_timed(drv, overview, 60.0)
    assert errors(drv) == []
    # the page's own work (CPU of its renderer): the wall time on this shared machine grows with its load
    assert cpu_s < OVERVIEW_MAX_LOAD_S, f"overview needs {cpu_s:.1f} s of CPU (ready in {load_s:.1f} s)"
    assert js(drv, "return document.querySelectorAll('path.circles-community').length") == 399
    assert js(drv, "return document.querySelectorAll('.circles-label span').length") == 399
    links = js(
        drv, "return Array.from(document.querySelectorAll('.circles-status a')).map(a => a.getAttribute('href'))"
    )
    assert sorted(links) == sorted(f"community_maps/{_display.community_file_name(c)}" for c in some[:-1])
    # the community whose map failed is listed, with the reason
    failed = js(
        drv,
        "return Array.from(document.querySelectorAll('.circles-status .circles-warn')).map(e => e.textContent)",
    )
    assert len(failed) == 1 and "地图生成失败" in failed[0] and "no usable boundary" in failed[0]
    # a community map opens with its residents
    load_c = open_map(drv, paths[1], 15.0)
    assert js(drv, "return circles.current.points._n") == int((city.residents["community_id"] == some[0]).sum())
    assert js(drv, "return document.querySelectorAll('path.circles-area').length") >= 1
    print(
        f"city: overview {size / 1e6:.2f} MB ready in {load_s:.2f} s ({cpu_s:.2f} s CPU); community maps "
        f"{max(p.stat().st_size for p in paths[1:]) / 1e3:.0f} KB at most, ready in {load_c:.2f} s; "
        f"written in {build_s:.0f} s"
    )


def test_a_small_city_keeps_its_residents_on_the_overview(city, tmp_path):
    small = synthetic_city(side=6, per_community=200, seed=1)
    page = mapping.save_map(mapping.result_map(small), tmp_path / "m.html", offline=True).read_text(encoding="utf-8")
    assert '"res":null' not in page and '"x0":' in page


def test_repeated_streets_found_as_by_comparing_every_line():
    """Both directions of a street are drawn once. The repeats are found among the lines with the
    same two ends (closed lines, multi-lines and hash collisions compared in full) exactly as by
    comparing every line's normalised WKB: reversed, closed lines started elsewhere, multi-lines."""
    rng = np.random.default_rng(1)
    for _ in range(500):
        n = int(rng.integers(0, 40))
        pts = rng.integers(0, 3, (n, 4, 2)).astype(float)
        geoms: list = []
        for i in range(n):
            k, r = int(rng.integers(2, 5)), rng.random()
            g = shapely.LineString(pts[i, :k])
            if r < 0.3 and geoms:
                g = shapely.reverse(geoms[int(rng.integers(0, len(geoms)))])
            elif r < 0.4:
                g = shapely.MultiLineString([g, shapely.LineString(pts[i, :2][::-1] + 5)])
            elif r < 0.5:
                g = shapely.LineString(np.r_[pts[i, :k], pts[i, :1]])  # closed
            geoms.append(g)
        arr = np.empty(n, dtype=object)
        arr[:] = geoms
        every = pd.Series(shapely.to_wkb(shapely.normalize(arr)), dtype=object).duplicated().to_numpy()
        assert np.array_equal(_display._same_line_again(arr), every)
