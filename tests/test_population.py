"""Population in: a population raster summed to resident points, counts per 社区/街道 spread by
floor area, real counts winning over estimates (circles.population), checked by hand."""

from __future__ import annotations

import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from circles.errors import InputError
from circles.population import apply_population, read_totals, set_populations
from circles.residents import place_residents

CRS = "EPSG:32650"  # UTM 50N (Beijing), metres
X0, Y0 = 440_000.0, 4_420_000.0


def _communities(estimated=(True, True, False), pops=(50.0, 50.0, 1000.0)) -> gpd.GeoDataFrame:
    """A and B side by side (200 × 200 m each), C above A (a community with a real count)."""
    return gpd.GeoDataFrame(
        {
            "id": ["A", "B", "C"],
            "name": ["甲", "乙", "丙"],
            "street": ["东街道", "东街道", "西街道"],
            "population": list(pops),
            "population_estimated": list(estimated),
        },
        geometry=[
            box(X0, Y0, X0 + 200, Y0 + 200),
            box(X0 + 200, Y0, X0 + 400, Y0 + 200),
            box(X0, Y0 + 200, X0 + 200, Y0 + 400),
        ],
        crs=CRS,
    )


def _write_raster(path, values: np.ndarray, nodata: float = -99999.0) -> None:
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=1,
        dtype="float32",
        crs=CRS,
        transform=Affine(100.0, 0.0, X0, 0.0, -100.0, Y0 + 400),  # 100 m cells, top-left at (X0, Y0 + 400)
        nodata=nodata,
    ) as dst:
        dst.write(values.astype("float32"), 1)


def test_raster_sums_to_resident_points(tmp_path):
    # 4 rows (y from Y0+400 down to Y0) × 5 columns (x from X0 to X0+500); the last column lies
    # outside every community; row 0-1 cover C (x < 200) and nothing (x ≥ 200); rows 2-3 cover A and B.
    values = np.array(
        [
            [9, 9, 50, 50, 100],
            [9, 9, 50, 50, 100],
            [1, 2, 3, 4, 100],
            [5, 6, -99999, 8, 100],
        ],
        dtype=float,
    )
    tif = tmp_path / "pop.tif"
    _write_raster(tif, values)
    comms = _communities()
    res = place_residents(comms, None, grid_spacing=100.0)  # grid points at the cell centres
    pops, out = apply_population(comms, res, raster=tif)
    # hand sums: A = cells (x 0-200, y 0-200) = 1+2+5+6; B = 3+4+8 (one nodata cell)
    assert pops.population.tolist()[:2] == [14.0, 15.0]
    assert pops.source.tolist() == ["raster", "raster", "count"]
    assert pops.estimated.tolist() == [True, True, False]
    # C has a real count: the grid's 36 people there do not replace its 1000
    assert pops.population.iloc[2] == 1000.0
    assert out.loc[out["community_id"] == "C", "population"].sum() == pytest.approx(1000.0)
    # each grid point sits on a cell centre: it receives exactly that cell
    got = {
        (round(p.x - X0), round(p.y - Y0)): v
        for p, v in zip(out.geometry, out["population"], strict=True)
        if p.y < Y0 + 200
    }
    assert got == {
        (50, 150): 1,
        (150, 150): 2,
        (250, 150): 3,
        (350, 150): 4,
        (50, 50): 5,
        (150, 50): 6,
        (250, 50): 0,
        (350, 50): 8,
    }
    assert set(out["population_source"]) == {"raster", "count"}
    # the ledger's words and the estimate flag reach the communities
    c2 = set_populations(comms, pops)
    assert c2["population_source"].str.contains("估算").tolist() == [True, True, False]
    assert c2["population"].tolist() == [14.0, 15.0, 1000.0]


def test_raster_nearest_point_keeps_totals(tmp_path):
    """Cells go to the nearest resident point of their community: the community totals are the
    zonal sums whatever the points (buildings here, not on the cell centres)."""
    values = np.zeros((4, 5))
    values[2:, :4] = [[10, 20, 30, 40], [50, 60, 70, 80]]
    tif = tmp_path / "pop.tif"
    _write_raster(tif, values)
    comms = _communities()
    blds = gpd.GeoDataFrame(
        {"id": ["b1", "b2", "b3"], "floor_area_m2": [100.0, 100.0, 100.0]},
        geometry=[
            box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30),  # near A's lower-left
            box(X0 + 160, Y0 + 160, X0 + 190, Y0 + 190),  # near A's upper-right
            box(X0 + 300, Y0 + 100, X0 + 320, Y0 + 120),  # B's only building
        ],
        crs=CRS,
    )
    res = place_residents(comms, blds)
    pops, out = apply_population(comms, res, raster=tif)
    assert pops.population.tolist()[:2] == [10 + 20 + 50 + 60, 30 + 40 + 70 + 80]
    by_origin = dict(zip(out["origin"], out["population"], strict=False))
    # b1's centre is (20, 20), b2's (175, 175) (relative to X0, Y0). A's cell centres:
    # (50, 150) = 10: to b1 √(30² + 130²) = 133.4, to b2 √(125² + 25²) = 127.5 -> b2
    # (150, 150) = 20 -> b2 (35.4); (50, 50) = 50 -> b1 (42.4); (150, 50) = 60: b1 133.4, b2 127.5 -> b2
    assert by_origin["building b1"] == pytest.approx(50)
    assert by_origin["building b2"] == pytest.approx(10 + 20 + 60)
    assert by_origin["building b3"] == pytest.approx(220)


def test_missing_rasterio_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rasterio", None)
    comms = _communities()
    res = place_residents(comms, None, grid_spacing=100.0)
    with pytest.raises(InputError, match=r"circles\[population\]"):
        apply_population(comms, res, raster=tmp_path / "pop.tif")


def test_totals_per_district_spread_by_floor_area(tmp_path):
    comms = _communities()
    blds = gpd.GeoDataFrame(
        {"id": ["a1", "a2", "b1", "c1"], "floor_area_m2": [300.0, 100.0, 600.0, 50.0]},
        geometry=[
            box(X0 + 10, Y0 + 10, X0 + 50, Y0 + 50),
            box(X0 + 100, Y0 + 100, X0 + 150, Y0 + 150),
            box(X0 + 250, Y0 + 50, X0 + 300, Y0 + 100),
            box(X0 + 50, Y0 + 250, X0 + 100, Y0 + 300),
        ],
        crs=CRS,
    )
    res = place_residents(comms, blds)
    csv = tmp_path / "totals.csv"
    csv.write_text("street,常住人口\n东街道,2000\n", encoding="utf-8")
    pops, out = apply_population(comms, res, totals=csv)
    # 东街道 = A (400 m² of floor) + B (600 m²): 2000 × 0.4, 2000 × 0.6
    assert pops.population.tolist() == [800.0, 1200.0, 1000.0]
    assert pops.source.tolist() == ["totals", "totals", "count"]
    assert pops.estimated.tolist() == [True, True, False]  # a spread is an estimate
    pts = dict(zip(out["origin"], out["population"], strict=True))
    assert pts["building a1"] == pytest.approx(600.0)
    assert pts["building a2"] == pytest.approx(200.0)
    assert pts["building b1"] == pytest.approx(1200.0)


def test_totals_per_community_are_counts_and_win(tmp_path):
    comms = _communities()
    res = place_residents(comms, None, grid_spacing=100.0)
    csv = tmp_path / "totals.csv"
    csv.write_text("id,population\nA,400\nC,900\n", encoding="utf-8")
    pops, out = apply_population(comms, res, totals=csv)
    assert pops.population.tolist() == [400.0, 50.0, 900.0]
    assert pops.source.tolist() == ["totals", "estimate", "totals"]
    assert pops.estimated.tolist() == [False, True, False]
    assert out.loc[out["community_id"] == "A", "population"].tolist() == [100.0] * 4


def test_totals_grid_spread_by_ground_area(tmp_path):
    """Without buildings a district count is shared by ground area (A and B equal: half each)."""
    comms = _communities()
    res = place_residents(comms, None, grid_spacing=100.0)
    csv = tmp_path / "t.csv"
    csv.write_text("street,人口\n东街道,300\n西街道,80\n", encoding="utf-8")
    pops, _ = apply_population(comms, res, totals=csv)
    assert pops.population.tolist() == [150.0, 150.0, 80.0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("street,population\n北街道,10\n", "no community has street"),
        ("street,population\n东街道,-1\n", "expected a count"),
        ("street,name,population\n东街道,甲,1\n", "exactly one column"),
        ("street,count\n东街道,1\n", "no population column"),
    ],
)
def test_totals_refusals(tmp_path, text, match):
    csv = tmp_path / "t.csv"
    csv.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        read_totals(csv, _communities())


def test_totals_xlsx(tmp_path):
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"name": ["甲", "乙"], "人口": [10, 20]}).to_excel(path, index=False)
    key, totals = read_totals(path, _communities())
    assert key == "name" and totals == {"甲": 10.0, "乙": 20.0}


# --- through the whole run: totals, and an age group on the synthetic city ----------------------


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from synthetic_city import make_city

    folder = tmp_path_factory.mktemp("city")
    paths = make_city(folder, nx=14, ny=8)
    comms = gpd.read_file(paths["boundaries"])
    comms["share_60plus"] = 0.25
    comms.loc[comms["id"] == "c011", "share_60plus"] = np.nan
    comms.loc[comms["id"] == "c011", "pop_60plus"] = 700.0  # a count wins over a share
    paths["aged"] = folder / "aged.geojson"
    comms.to_file(paths["aged"], driver="GeoJSON")
    return paths, comms


def test_run_with_totals_per_district(city, tmp_path):
    from circles import pipeline

    paths, comms = city
    csv = tmp_path / "totals.csv"
    csv.write_text("kind,population\n街道0,3000\n", encoding="utf-8")
    r = pipeline.analyse(
        paths["boundaries"],
        paths["facilities"],
        paths["network"],
        rules=paths["rules"],
        population_totals=csv,
        progress=False,
    )
    members = comms.loc[comms["kind"] == "街道0"]
    # no buildings: the district's count is shared by ground area
    area = members.to_crs("EPSG:32650").area
    want = dict(zip(members["id"], 3000 * area / area.sum(), strict=True))
    got = r.communities.set_index("id")["population"]
    for cid, v in want.items():
        assert got[cid] == pytest.approx(v)
    first = r.gaps.drop_duplicates("community_id").set_index("community_id")
    assert first.loc[list(want), "population_estimated"].all()  # a spread is labelled an estimate
    others = comms.loc[comms["kind"] != "街道0", "id"]
    assert not first.loc[list(others), "population_estimated"].any()
    assert set(r.residents.loc[r.residents["community_id"].isin(list(want)), "population_source"]) == {"totals"}
    assert r.options["population_totals"] == str(csv)


def test_elderly_share_changes_an_elderly_rule_not_a_shop_rule(city):
    from circles import pipeline
    from circles.population import group_columns

    paths, comms = city
    r = pipeline.analyse(
        paths["aged"],
        paths["facilities"],
        paths["network"],
        rules=paths["rules"],
        surveyed=("elderly_care", "food_market"),  # a surveyed absence is a gap with residents affected
        progress=False,
    )
    g = r.gaps.set_index(["community_id", "rule_id"])
    pop = r.communities.set_index("id")["population"]
    elderly = g.xs("elderly_care", level="rule_id")
    open_rows = elderly[elderly["residents_uncovered"] > 0]
    assert len(open_rows) >= 2
    for cid, row in open_rows.iterrows():
        share = 700.0 / pop[cid] if cid == "c011" else 0.25
        assert row["serves"] == "elderly"
        assert row["group_uncovered"] == round(row["residents_uncovered"] * share)
    shop = g.xs("food_market", level="rule_id")
    assert (shop["serves"] == "all").all() and shop["group_uncovered"].isna().all()
    # the ledger says it, as an estimate
    led = r.ledger.set_index(["community_id", "rule_id"])
    cid = open_rows.index[open_rows["status"].isin(["gap", "partial"])][0]  # a row the ledger counts as affected
    n = led.loc[(cid, "elderly_care"), "residents_affected"]
    m = round(n * (700.0 / pop[cid] if cid == "c011" else 0.25))
    assert f"受影响居民{n:.0f}人，其中60岁以上约{m:.0f}人" in led.loc[(cid, "elderly_care"), "gap"]
    assert "其中" not in "".join(led.xs("food_market", level="rule_id")["gap"].astype(str))
    # another share: the elderly rule's count moves, the shop rule's does not
    older = r.communities.copy()
    older["share_60plus"] = 0.5
    older["pop_60plus"] = np.nan
    serves = {rule.id: rule.serves for rule in r.rulebook.rules}
    g2 = group_columns(r.gaps, older, serves).set_index(["community_id", "rule_id"])
    e2 = g2.xs("elderly_care", level="rule_id").loc[open_rows.index]
    assert (e2["group_uncovered"] == (open_rows["residents_uncovered"] * 0.5).round()).all()
    assert (e2["group_uncovered"] != open_rows["group_uncovered"]).any()
    assert g2.xs("food_market", level="rule_id")["group_uncovered"].isna().all()
    assert (g2["residents_uncovered"].fillna(-1) == g["residents_uncovered"].fillna(-1)).all()


def test_group_demand_in_2sfca():
    """Demand of an age group: each point's share of its community's over-60s (hand 2SFCA)."""
    from circles.capacity import point_demand, two_step_fca

    comms = pd.DataFrame({"id": ["A", "B"], "population": [100.0, 300.0], "share_60plus": [0.2, 0.5]})
    res = pd.DataFrame({"community_id": ["A", "A", "B"], "population": [40.0, 60.0, 300.0]})
    from circles.population import group_points

    pts = group_points(res, comms)
    demand = point_demand(pts, comms, "elderly")
    assert demand.tolist() == [8.0, 12.0, 150.0]
    # one facility of 34 beds reaching every point: 34 / 170 = 0.2 beds per older resident
    ratio, acc = two_step_fca(np.ones((1, 3), dtype=bool), np.array([34.0]), demand)
    assert ratio[0] == pytest.approx(0.2) and acc == pytest.approx([0.2] * 3)
    assert np.isnan(point_demand(res, comms, "children")).all()  # no figure: no demand guessed


def test_share_out_of_range_is_refused(tmp_path):
    from circles.load import load_communities

    comms = _communities().to_crs("EPSG:4326")
    comms["share_60plus"] = [0.2, 1.4, None]
    path = tmp_path / "b.geojson"
    comms.to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match="share_60plus.*between 0 and 1"):
        load_communities(path)
