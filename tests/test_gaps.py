"""Every status of the gap report produced on purpose, on the embedded demo (real OSM data)."""

from __future__ import annotations

import dataclasses
import textwrap

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from helpers import write_geojson

from circles import demo, pipeline
from circles._labels import COLUMNS_ZH, STATUSES
from circles.gaps import compute_gaps

DAHUA = "way/1041416781"  # 大华花园别墅: food market and pharmacy within reach of all its residents
REQUIRED = [
    "community_id",
    "community_name",
    "rule_id",
    "facility_type",
    "threshold_min",
    "status",
    "covered_share",
    "residents",
    "residents_uncovered",
    "nearest_min_median",
    "nearest_min_max",
    "facilities_within",
    "evidence",
    "verified",
    "source",
]


def _all_reach(result, rule: str) -> str:
    """A community every resident of which is within the rule's threshold of a facility."""
    g = result.gaps
    sel = g[(g["rule_id"] == rule) & (g["covered_share"] == 1.0)]
    assert len(sel), rule
    return str(sel["community_id"].iloc[0])


def _without_sizes(result, ftype: str) -> pd.DataFrame:
    """``result``'s gap report with the sizes of ``ftype`` removed from the input."""
    fac = result.access.facilities.copy()
    fac.loc[fac["facility_type"] == ftype, "size_m2"] = np.nan
    acc = dataclasses.replace(result.access, facilities=fac)
    return compute_gaps(result.communities.to_crs("EPSG:4326"), acc, result.rulebook, result.surveyed)


def _row(gaps: pd.DataFrame, cid: str, rule: str) -> pd.Series:
    sel = gaps[(gaps["community_id"] == cid) & (gaps["rule_id"] == rule)]
    assert len(sel) == 1
    return sel.iloc[0]


def _points_of(result, cid: str) -> gpd.GeoSeries:
    res = result.residents
    return res[res["community_id"] == cid].geometry.to_crs("EPSG:4326")


def test_columns_and_one_row_per_community_and_spatial_rule(demo_result):
    g = demo_result.gaps
    assert set(REQUIRED) <= set(g.columns)
    assert list(g.columns) == list(COLUMNS_ZH)
    assert len(g) == len(demo_result.communities) * len(demo_result.rulebook.rules)
    assert set(g["status"]) <= set(STATUSES)
    # checklist items live in the ledger; here to_assess is only a quantity rule without capacities
    checks = {r.id: r.check for r in demo_result.rulebook.rules}
    assert set(g.loc[g["status"] == "to_assess", "rule_id"].map(checks)) == {"supply"}


def test_ok_partial_gap_no_data_in_the_demo(demo_result):
    # every type with facilities in the input declared surveyed: absence is then a finding
    g = compute_gaps(
        demo_result.communities.to_crs("EPSG:4326"),
        demo_result.access,
        demo_result.rulebook,
        _present_types(demo_result),
    )
    assert _row(g, DAHUA, "food_market")["status"] == "ok"  # no size to check
    part = g[g["status"] == "partial"].iloc[0]
    assert 0 < part["covered_share"] < 1 and part["residents_uncovered"] > 0
    assert f"{part['residents_uncovered']:.0f} of" in part["evidence"] and "residents beyond" in part["evidence"]
    gap = g[g["status"] == "gap"].iloc[0]
    assert gap["covered_share"] == 0 and gap["residents_uncovered"] == gap["residents"]
    # no childcare in the OSM extract and none declared surveyed: no data, not a gap
    nd = g[g["rule_id"] == "childcare"]
    assert (nd["status"] == "no_data").all()
    assert nd["evidence"].str.contains("absence in the data is not a gap").all()


def test_removed_type_declared_surveyed_is_a_gap(tmp_path, demo_facilities):
    fac = demo_facilities[demo_facilities["facility_type"] != "kindergarten"]
    path = write_geojson(fac, tmp_path / "facilities.geojson")
    r = pipeline.analyse(
        demo.DEMO_BOUNDARIES,
        path,
        demo.DEMO_OSM,
        buildings=demo.DEMO_BUILDINGS,
        surveyed=["kindergarten"],
        progress=False,
    )
    k = r.gaps[r.gaps["rule_id"] == "kindergarten"]
    assert (k["status"] == "gap").all()
    assert k["evidence"].str.contains("declared surveyed").all()
    # the same input without the declaration: no data
    g2 = compute_gaps(r.communities.to_crs("EPSG:4326"), r.access, r.rulebook, r.surveyed - {"kindergarten"})
    assert (g2.loc[g2["rule_id"] == "kindergarten", "status"] == "no_data").all()


@pytest.fixture(scope="module")
def sized_result(tmp_path_factory, demo_result):
    """Demo facilities plus sizes and capacities:

    - every clinic 50 m² (the rule asks 120 m²);
    - a childcare point with 0.01 places at each resident point of 大华花园别墅 (target 4.5 per 1000);
    - one parcel point at 大华花园别墅's first resident point (the rule asks at least 2 within reach);
    - every community-service facility 1000 m² (above 800 m²; no household figure is needed for the size).
    """
    tmp = tmp_path_factory.mktemp("sized")
    fac = gpd.read_file(demo.DEMO_FACILITIES)
    fac["size_m2"] = np.where(
        fac["facility_type"] == "clinic", 50.0, np.where(fac["facility_type"] == "community_service", 1000.0, np.nan)
    )
    fac["capacity"] = np.nan
    pts = _points_of(demo_result, DAHUA)
    extra = [
        {
            "id": f"test/childcare/{i}",
            "name": f"托育点{i}",
            "facility_type": "childcare",
            "capacity": 0.01,
            "size_m2": np.nan,
            "geometry": p,
        }
        for i, p in enumerate(pts)
    ]
    extra += [
        {
            "id": f"test/clinic/{i}",
            "name": f"社区卫生服务站{i}",
            "facility_type": "clinic",
            "capacity": np.nan,
            "size_m2": 50.0,
            "geometry": p,
        }
        for i, p in enumerate(pts)
    ]
    extra.append(
        {
            "id": "test/parcel/1",
            "name": "快递柜",
            "facility_type": "parcel_point",
            "capacity": np.nan,
            "size_m2": np.nan,
            "geometry": pts.iloc[0],
        }
    )
    fac = pd.concat([fac, gpd.GeoDataFrame(extra, geometry="geometry", crs="EPSG:4326")], ignore_index=True)
    path = write_geojson(gpd.GeoDataFrame(fac, geometry="geometry", crs="EPSG:4326"), tmp / "facilities.geojson")
    return pipeline.analyse(demo.DEMO_BOUNDARIES, path, demo.DEMO_OSM, buildings=demo.DEMO_BUILDINGS, progress=False)


def test_undersized_by_size(sized_result, demo_result):
    cid = _all_reach(sized_result, "clinic")
    before = _row(_without_sizes(sized_result, "clinic"), cid, "clinic")
    row = _row(sized_result.gaps, cid, "clinic")
    assert before["status"] == "reach_size_unverified"  # reached, size not in the input
    assert row["status"] == "undersized"
    assert row["covered_share"] == 1.0 and row["covered_share_adequate"] == 0.0
    assert row["residents_undersized"] == row["residents"]
    assert "below 120 m²" in row["evidence"] and "50 m²" in row["undersized_facilities"]
    assert row["verified"] is False or row["verified"] == False  # noqa: E712  (120 m² is unverified: a warning)
    # communities not all within reach stay so: too far is the first problem
    was_open = demo_result.gaps[(demo_result.gaps["rule_id"] == "clinic") & (demo_result.gaps["status"] == "unseen")]
    for other in set(was_open["community_id"]) - {DAHUA}:  # the test clinics stand in 大华花园别墅
        assert _row(sized_result.gaps, other, "clinic")["status"] == "unseen"


def test_undersized_by_capacity_two_step_fca(sized_result):
    row = _row(sized_result.gaps, DAHUA, "childcare")
    assert row["covered_share"] == 1.0
    assert row["status"] == "undersized"
    assert row["supply_accessible"] < 4.5 and row["supply_target"] == 4.5
    assert "2SFCA" in row["evidence"]


def test_undersized_by_count(sized_result):
    row = _row(sized_result.gaps, DAHUA, "parcel_point")
    assert row["covered_share"] == 1.0 and row["facilities_within"] == 1
    assert row["status"] == "undersized"
    assert "the standard asks at least 2" in row["evidence"]


def test_undersized_actions_in_the_ledger(sized_result):
    led = sized_result.ledger.set_index(["community_id", "rule_id"])
    clinic = led.loc[(_all_reach(sized_result, "clinic"), "clinic")]
    assert clinic["status_zh"] == "规模不足" and clinic["action"] == "upgrade"
    assert "仅能到达规模不足" in clinic["gap"] and "规模不足：" in clinic["evidence"]
    assert led.loc[(DAHUA, "parcel_point"), "action"] == "new_build"
    assert "标准要求至少2处" in led.loc[(DAHUA, "parcel_point"), "gap"]
    child = led.loc[(DAHUA, "childcare")]
    assert child["action"] == "upgrade" and "可达供给" in child["gap"] and child["priority_group"] == "一老一幼"


def test_community_service_size_is_the_own_floor_area_per_household(sized_result, demo_result):
    # 石科院生活区's community service station (多用厅) lies inside its boundary and within reach
    cid = "way/595108678"
    assert _row(demo_result.gaps, cid, "community_service")["status"] == "reach_size_unverified"
    row = _row(sized_result.gaps, cid, "community_service")
    hh = demo_result.communities.set_index("id").loc[cid, "households"]
    assert row["facilities_own"] == 1
    assert row["supply_own"] == pytest.approx(1000 / hh * 100, rel=1e-3)  # m² per 100 households
    assert row["status"] == "ok"  # 1000 m² for 448 households ≥ 30 m² per 100
    # 800 m² (以800平方米为宜) is never a floor: a 200 m² station serving 448 households is enough (≥134 m²)
    fac = sized_result.access.facilities.copy()
    fac.loc[fac["facility_type"] == "community_service", "size_m2"] = 200.0
    g = compute_gaps(
        sized_result.communities.to_crs("EPSG:4326"),
        dataclasses.replace(sized_result.access, facilities=fac),
        sized_result.rulebook,
        sized_result.surveyed,
    )
    assert _row(g, cid, "community_service")["status"] == "ok"
    # below 30 m² per 100 households: undersized, whatever the 2SFCA accessibility view says
    fac.loc[fac["facility_type"] == "community_service", "size_m2"] = 100.0
    g = compute_gaps(
        sized_result.communities.to_crs("EPSG:4326"),
        dataclasses.replace(sized_result.access, facilities=fac),
        sized_result.rulebook,
        sized_result.surveyed,
    )
    row = _row(g, cid, "community_service")
    assert row["status"] == "undersized" and row["supply_own"] == pytest.approx(100 / hh * 100, rel=1e-3)
    assert "own floor area" in row["evidence"] and "accessibility view" in row["evidence"]


def test_capacity_above_target_is_ok(sized_result):
    # the same childcare points with 50 places each instead of 0.01
    fac = sized_result.access.facilities.copy()
    fac.loc[fac["id"].str.startswith("test/childcare/"), "capacity"] = 50.0
    acc = dataclasses.replace(sized_result.access, facilities=fac)
    g = compute_gaps(sized_result.communities.to_crs("EPSG:4326"), acc, sized_result.rulebook, sized_result.surveyed)
    row = _row(g, DAHUA, "childcare")
    assert row["status"] == "ok" and row["supply_accessible"] > 4.5


def test_user_override_makes_kindergarten_undersized(tmp_path, demo_facilities):
    rules = tmp_path / "my_rules.yaml"
    rules.write_text(
        textwrap.dedent("""
        extends: complete_community_2020
        overrides:
          kindergarten: {threshold_min: 15, min_size_m2: 3150}
    """),
        encoding="utf-8",
    )
    fac = demo_facilities.copy()
    fac["size_m2"] = np.where(fac["facility_type"] == "kindergarten", 1200.0, np.nan)
    path = write_geojson(fac, tmp_path / "facilities.geojson")
    r = pipeline.analyse(
        demo.DEMO_BOUNDARIES, path, demo.DEMO_OSM, buildings=demo.DEMO_BUILDINGS, rules=rules, progress=False
    )
    k = r.gaps[r.gaps["rule_id"] == "kindergarten"]
    und = k[k["status"] == "undersized"]
    assert len(und) >= 1
    assert (und["threshold_min"] == 15).all()
    assert und["evidence"].str.contains("below 3150 m²").all()
    assert (~und["verified"].astype(bool)).all() and und["source"].str.contains("my_rules.yaml").all()
    assert und["warning"].str.contains("unverified").all()


def test_new_community_sizes_are_information_only(demo_result):
    # the 4000 m² pocket-park size applies to new communities: small parks are reported, never a verdict
    g = demo_result.gaps[demo_result.gaps["rule_id"] == "park"]
    assert "undersized" not in set(g["status"])
    info = g[g["facilities_undersized"].fillna(0) > 0]
    assert len(info) and info["evidence"].str.contains("information only").all()


# ----------------------------------------------------------------------------- statuses from numbers


def test_status_functions_decide_from_a_communitys_numbers():
    from circles.gaps import absent_status, presence_status, reach_status, supply_status

    assert reach_status(0, 0.0, 0.0, 1.0, False) == "gap"
    assert reach_status(10, 0.5, 0.5, 1.0, False) == "partial"
    assert reach_status(10, 1.0, 1.0, 1.0, False) == "ok"
    assert reach_status(10, 1.0, 1.0, 1.0, True) == "undersized"
    assert reach_status(10, 1.0, 0.4, 1.0, False) == "undersized"
    assert supply_status(0.5, 1.0, True, True) == "undersized"
    assert supply_status(1.2, 1.0, True, True) == "ok"
    assert supply_status(0.5, 1.0, False, True) == "to_assess"  # target for new communities only
    assert supply_status(float("nan"), 1.0, True, False) == "to_assess"  # no capacities: survey
    assert presence_status(1, 0) == "ok" and presence_status(0, 5) == "ok" and presence_status(0, 0) == "gap"
    assert absent_status("gap", "conditional") == "conditional"
    assert absent_status("partial", "as_needed") == "as_needed"
    assert absent_status("gap", "required") == "gap"
    assert absent_status("undersized", "conditional") == "undersized"


def test_radius_is_the_number_checked(demo_result):
    """Kindergartens: covered residents are exactly those within 300 m of walking (independent check)."""
    rb = demo_result.rulebook
    assert rb.threshold_m(rb.rule("kindergarten")) == 300
    res = demo_result.residents
    for cid, sub in res[res["placed"]].groupby("community_id"):
        row = _row(demo_result.gaps, cid, "kindergarten")
        want = (sub["population"] * (sub["dist_kindergarten"] <= 300 + 1e-6)).sum() / sub["population"].sum()
        assert row["covered_share"] == pytest.approx(want, abs=1e-4), cid
        assert row["threshold_m"] == 300


@pytest.fixture(scope="module")
def quantities(demo_result):
    """The demo with capacities for car parks, an e-bike charging place and elderly facilities.

    In 石科院生活区 (448 households): car parks inside its boundary get capacities; an e-bike
    place is put inside 大华花园别墅; a 200 m² elderly service station at 大华花园别墅's first
    resident point; elderly day care declared surveyed and absent.
    """
    acc = demo_result.access
    fac = acc.facilities.copy()
    comms = demo_result.communities.to_crs("EPSG:4326")
    return fac, comms


def _with(demo_result, fac, comms, surveyed=(), rules=None):
    acc = dataclasses.replace(demo_result.access, facilities=fac)
    return compute_gaps(comms, acc, rules or demo_result.rulebook, demo_result.surveyed | set(surveyed))


def test_parking_is_spaces_per_household_not_walking(demo_result, quantities):
    from circles.gaps import facilities_inside

    fac, comms = quantities
    cid = "way/595108678"
    inside = facilities_inside(comms, fac, "car_parking")[cid]
    assert len(inside) >= 1
    hh = float(comms.set_index("id").loc[cid, "households"])
    # no capacities in the input: a survey row, whatever the walking minutes
    row = _row(demo_result.gaps, cid, "car_parking")
    assert row["status"] == "to_assess" and row["check"] == "supply"
    fac = fac.copy()
    fac["capacity"] = np.nan
    fac.loc[fac.index[inside], "capacity"] = 0.5 * hh / len(inside)  # 0.5 spaces per household
    g = _with(demo_result, fac, comms)
    row = _row(g, cid, "car_parking")
    assert row["supply_own"] == pytest.approx(0.5) and row["status"] == "to_assess"  # existing: figure only
    new = comms.assign(new_community=comms["id"] == cid)
    g = _with(demo_result, fac, new)
    assert _row(g, cid, "car_parking")["status"] == "undersized"  # a new community: ≥1 per household
    fac.loc[fac.index[inside], "capacity"] = 1.2 * hh / len(inside)
    g = _with(demo_result, fac, new)
    assert _row(g, cid, "car_parking")["status"] == "ok"


def test_conditional_items_are_never_gaps(demo_result, quantities):
    fac, comms = quantities
    # declared surveyed and absent: the e-bike place and the day-care centre are 'conditional'
    g = _with(demo_result, fac, comms, surveyed=["ebike_charging", "elderly_day_care", "elderly_care"])
    for rid in ("ebike_charging", "elderly_day_care"):
        assert set(g.loc[g["rule_id"] == rid, "status"]) == {"conditional"}, rid
    assert set(g.loc[g["rule_id"] == "elderly_care", "status"]) == {"gap"}  # the station itself is required
    # one e-bike place inside 大华花园别墅 is enough there (presence in or at the community)
    pt = comms.set_index("id").loc[DAHUA, "geometry"].representative_point()
    extra = gpd.GeoDataFrame(
        [
            {"id": "t/eb", "name": "电动自行车充电棚", "facility_type": "ebike_charging", "geometry": pt},
            {"id": "t/el", "name": "老年服务站", "facility_type": "elderly_care", "size_m2": 200.0, "geometry": pt},
        ],
        crs="EPSG:4326",
    ).to_crs(fac.crs)
    extra["placed"] = False
    fac2 = pd.concat([fac, extra], ignore_index=True)
    g = _with(demo_result, fac2, comms, surveyed=["ebike_charging", "elderly_day_care", "elderly_care"])
    assert _row(g, DAHUA, "ebike_charging")["status"] == "ok"
    assert _row(g, DAHUA, "ebike_charging")["facilities_own"] == 1
    # a 200 m² elderly service station is never 'undersized': the station has no size of its own
    assert "undersized" not in set(g.loc[g["rule_id"] == "elderly_care", "status"])


def test_gb50180_as_needed_items(tmp_path, demo_facilities):
    fac = demo_facilities[demo_facilities["facility_type"] != "kindergarten"]
    path = write_geojson(fac, tmp_path / "facilities.geojson")
    r = pipeline.analyse(
        demo.DEMO_BOUNDARIES,
        path,
        demo.DEMO_OSM,
        buildings=demo.DEMO_BUILDINGS,
        rules="gb50180_2018",
        surveyed=["childcare", "kindergarten"],
        progress=False,
    )
    g = r.gaps
    # 托儿所 (△) absent: as needed, never a gap; 幼儿园 (▲) absent: a gap
    assert set(g.loc[g["rule_id"] == "lc5_childcare", "status"]) == {"as_needed"}
    assert set(g.loc[g["rule_id"] == "lc5_kindergarten", "status"]) == {"gap"}
    led = r.ledger
    row = led[led["rule_id"] == "lc5_childcare"].iloc[0]
    assert row["status_zh"] == "按需配建" and row["action"] == "consider" and "不计为缺口" in row["remarks"]


# ----------------------------------------------------------------------------- issue 22: claim only what was checked


def _present_types(result) -> set[str]:
    return set(result.access.facilities["facility_type"].astype(str))


def test_unchecked_size_is_not_met(demo_result, sized_result):
    """Without floor areas a clinic in reach is 'reachable, size to verify', never ok;
    with sizes the same row is checked (50 m² < 120 m²: undersized; 150 m²: ok)."""
    cid = _all_reach(sized_result, "clinic")
    row = _row(_without_sizes(sized_result, "clinic"), cid, "clinic")
    assert row["covered_share"] == 1.0
    assert row["status"] == "reach_size_unverified" and row["size_checked"] == 0.0
    assert _row(sized_result.gaps, cid, "clinic")["status"] == "undersized"
    fac = sized_result.access.facilities.copy()
    fac.loc[fac["facility_type"] == "clinic", "size_m2"] = 150.0
    g = compute_gaps(
        sized_result.communities.to_crs("EPSG:4326"),
        dataclasses.replace(sized_result.access, facilities=fac),
        sized_result.rulebook,
        sized_result.surveyed,
    )
    row = _row(g, cid, "clinic")
    assert row["status"] == "ok" and row["size_checked"] == 1.0
    # nowhere in the demo is a size-checking rule ok without its size
    sized_rules = {r.id for r in demo_result.rulebook.rules if r.size_applies}
    d = demo_result.gaps
    assert not ((d["status"] == "ok") & d["rule_id"].isin(sized_rules)).any()


def test_unchecked_own_floor_area_is_not_met(demo_result):
    # 石科院生活区's station is inside and within reach, but its floor area (30 m² per 100
    # households) is not in the input: not 达标
    row = _row(demo_result.gaps, "way/595108678", "community_service")
    assert row["covered_share"] == 1.0 and row["status"] == "reach_size_unverified"
    led = demo_result.ledger.set_index(["community_id", "rule_id"]).loc[("way/595108678", "community_service")]
    assert led["status_zh"] == "可达·规模待核" and led["action"] == "survey"
    assert "规模未核" in led["current_state"] and "达标" not in led["current_state"]


def test_facilities_in_the_data_do_not_make_a_type_surveyed(demo_result):
    """Kindergartens from OSM are evidence of presence: a community none reaches is 'unseen', never a
    gap; declared surveyed, the same rows are gaps."""
    g = demo_result.gaps
    k = g[g["rule_id"] == "kindergarten"]
    assert "kindergarten" not in demo_result.surveyed
    assert "gap" not in set(k["status"]) and "partial" not in set(k["status"])
    not_all = k["covered_share"] < 1.0
    assert not_all.any() and (k.loc[not_all, "status"] == "unseen").all()
    assert not k["surveyed"].astype(bool).any()
    declared = compute_gaps(
        demo_result.communities.to_crs("EPSG:4326"), demo_result.access, demo_result.rulebook, {"kindergarten"}
    )
    kd = declared[declared["rule_id"] == "kindergarten"]
    want = np.where(kd["covered_share"] == 0, "gap", np.where(kd["covered_share"] < 1, "partial", "x"))
    got = kd["status"].to_numpy()
    assert (got[want != "x"] == want[want != "x"]).all()
    # the ledger never asks to build where nobody surveyed
    led = demo_result.ledger
    assert not ((led["status"] == "unseen") & (led["action"] != "survey")).any()
    assert (led.loc[led["status"] == "unseen", "status_zh"] == "未见·待核实").all()


def test_surveyed_by_a_field_of_the_facilities_table(demo_facilities):
    from circles.gaps import surveyed_reasons, surveyed_types

    fac = demo_facilities.copy()
    assert surveyed_types(fac) == set()  # present is not surveyed
    fac["surveyed"] = np.where(fac["facility_type"] == "kindergarten", "是", "")
    assert surveyed_reasons(fac, ["clinic"]) == {"clinic": "declared", "kindergarten": "field"}


def test_a_facility_inside_the_boundary_is_in_the_community(demo_result, quantities):
    """Items 1–5 ask one facility per community: a kindergarten inside the boundary counts even when
    it is set aside (too far from a street) and no resident walks to it."""
    fac, comms = quantities
    rb = demo_result.rulebook
    assert rb.rule("kindergarten").per_community and not rb.rule("pharmacy").per_community
    g0 = _with(demo_result, fac, comms, surveyed=["kindergarten"])
    k0 = g0[(g0["rule_id"] == "kindergarten") & (g0["status"] == "gap")]
    assert len(k0)
    cid = str(k0["community_id"].iloc[0])
    pt = comms.set_index("id").loc[cid, "geometry"].representative_point()
    extra = gpd.GeoDataFrame(
        [{"id": "t/kg", "name": "社区幼儿园", "facility_type": "kindergarten", "geometry": pt}], crs="EPSG:4326"
    ).to_crs(fac.crs)
    extra["placed"] = False
    g = _with(demo_result, pd.concat([fac, extra], ignore_index=True), comms, surveyed=["kindergarten"])
    row = _row(g, cid, "kindergarten")
    assert row["facilities_own"] == 1 and row["covered_share"] == 0.0
    assert row["status"] in ("ok", "reach_size_unverified")


def test_a_type_read_from_an_osm_name_is_marked_to_verify():
    from circles.gaps import _display_names

    fac = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["北京熙仁社区卫生服务站", "物美", ""],
            "match": ["name matches /社区卫生服务/", "tag shop=supermarket", "name matches /x/"],
        }
    )
    names = _display_names(fac)
    assert names["a"] == "北京熙仁社区卫生服务站（名称匹配·待核实）" and names["b"] == "物美"
    assert names["c"] == "未命名设施（名称匹配·待核实）"
    assert _display_names(fac.drop(columns="match"))["a"] == "北京熙仁社区卫生服务站"


def test_a_resident_inside_two_boundaries_is_counted_once():
    """A campus containing a compound: the compound's residents belong to the compound only, and
    the campus keeps its population on its own points."""
    from shapely.geometry import box

    from circles.residents import overlapping_communities, place_residents

    comms = gpd.GeoDataFrame(
        {"id": ["campus", "compound"], "population": [1000.0, 200.0]},
        geometry=[box(0, 0, 400, 400), box(100, 100, 200, 200)],
        crs="EPSG:32650",
    )
    assert overlapping_communities(comms) == [("campus", "compound")]
    res = place_residents(comms, grid_spacing=50)
    inner = res.geometry.within(box(100, 100, 200, 200))
    assert set(res.loc[inner, "community_id"]) == {"compound"}  # never also the campus's
    assert res.groupby("community_id")["population"].sum().to_dict() == pytest.approx(
        {"campus": 1000.0, "compound": 200.0}
    )
    assert res.geometry.apply(lambda p: (p.x, p.y)).is_unique


class _LineAccess:
    """Walking along a straight street: the distance is |x − x_facility| (metres)."""

    def __init__(self, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, ftype: str) -> None:
        rx = residents.geometry.x.to_numpy()
        fx = facilities.geometry.x.to_numpy()
        self.d = np.abs(rx[None, :] - fx[:, None])  # facilities × residents
        near = self.d.argmin(axis=0)
        self.residents = residents.assign(
            placed=True, **{f"dist_{ftype}": self.d.min(axis=0), f"nearest_{ftype}": facilities["id"].to_numpy()[near]}
        )
        self.facilities = facilities.assign(placed=True, facility_type=ftype)
        self.max_attach_m = 50.0

    def facilities_within(self, ftype: str, limit_m: float):
        from scipy import sparse

        return np.arange(len(self.facilities)), sparse.csr_matrix(self.d <= limit_m + 1e-6)


def line_case(fac_x: list[float], only: str | None = None):
    """Two communities side by side on one street: A (0–1000 m: residents at 400, 600, 800 and
    900 m, 100/300/100/100 people) and B (1000–2000 m: 1200 and 1800 m, 100 each), parks at
    ``fac_x``; the park rule (5 minutes, read as 300 m) without its size, so reach decides."""
    from shapely.geometry import Point, box

    from circles.rulebook import load_rulebook

    crs = "EPSG:32650"
    comms = gpd.GeoDataFrame(
        {"id": ["A", "B"], "name": ["甲", "乙"], "population": [600.0, 200.0], "population_estimated": False},
        geometry=[box(0, 0, 1000, 100), box(1000, 0, 2000, 100)],
        crs=crs,
    )
    xs, pops = [400, 600, 800, 900, 1200, 1800], [100, 300, 100, 100, 100, 100]
    res = gpd.GeoDataFrame(
        {"community_id": ["A"] * 4 + ["B"] * 2, "population": np.array(pops, dtype=float)},
        geometry=[Point(x, 50) for x in xs],
        crs=crs,
    )
    fac = gpd.GeoDataFrame(
        {"id": [f"p{i}" for i in range(len(fac_x))], "name": [f"公园{i}" for i in range(len(fac_x))]},
        geometry=[Point(x, 50) for x in fac_x],
        crs=crs,
    )
    rb = load_rulebook()
    rule = dataclasses.replace(rb.rule("park"), min_size_m2=None)
    rb = dataclasses.replace(rb, rules=[rule])
    part = comms if only is None else comms[comms["id"] == only]
    gaps = compute_gaps(part, _LineAccess(res, fac, "park"), rb, {"park"})  # type: ignore[arg-type]
    return rb, gaps.set_index("community_id"), comms, fac


def test_the_uncovered_residents_nearest_facility_and_minutes():
    """The facility serving the residents outside the threshold, its community (point in polygon)
    and their median walk, against a hand computation."""
    rb, g, _, _ = line_case([1100.0])
    thr_m, speed = g.loc["A", "threshold_m"], g.loc["A", "speed_m_per_min"]
    assert thr_m == 300  # 5 minutes read as the GB 50180-2018 300 m
    # A: 800 and 900 m covered (300, 200 m); 400 and 600 m uncovered (700, 500 m; 100, 300
    # people): sorted 500, 700 m, half of the 400 uncovered people is reached at 500 m
    assert g.loc["A", "status"] == "partial"
    assert g.loc["A", "uncovered_nearest_min"] == pytest.approx(round(500 / speed, 2))
    assert g.loc["A", "nearest_min_min"] == pytest.approx(round(200 / speed, 2))  # the best-placed
    assert (g.loc["A", "uncovered_nearest_id"], g.loc["A", "uncovered_nearest_community"]) == ("p0", "B")
    # B: 1800 m uncovered (700 m) and served by its own park
    assert g.loc["B", "uncovered_nearest_min"] == pytest.approx(round(700 / speed, 2))
    assert g.loc["B", "uncovered_nearest_community"] == "B"
    # a second park inside A
    _, g2, _, _ = line_case([150.0, 1100.0])
    # A: 400 m covered by p0 (250 m); 600 m uncovered (450 m from p0, 500 m from p1)
    assert g2.loc["A", "uncovered_nearest_id"] == "p0" and g2.loc["A", "uncovered_nearest_community"] == "A"
    assert g2.loc["A", "uncovered_nearest_min"] == pytest.approx(round(450 / speed, 2))


def test_a_covered_community_has_no_uncovered_nearest():
    _, g, _, _ = line_case([600.0, 1500.0])
    # every resident within 300 m: nothing uncovered
    assert g.loc["A", "status"] == g.loc["B", "status"] == "ok"
    assert np.isnan(g.loc["B", "uncovered_nearest_min"]) and g.loc["B", "uncovered_nearest_id"] == ""


def test_a_partition_locates_the_facility_among_the_whole_citys_boundaries():
    """A report made for A alone (a partition) does not see B's boundary: located again against
    the whole city's, the neighbour's park is in B, as in the single run."""
    from circles.gaps import locate_uncovered_nearest

    _, part, comms, fac = line_case([1100.0], only="A")
    assert part.loc["A", "uncovered_nearest_community"] == ""
    whole = locate_uncovered_nearest(part.reset_index(), comms, fac)
    assert whole.set_index("community_id").loc["A", "uncovered_nearest_community"] == "B"


def test_nearest_ids_as_codes_sort_as_the_ids():
    """Residents' nearest facility ids as codes (made once per type): the codes give the ids
    back, "" is -1, and ordering by code is ordering by id (Chinese ids, Arrow strings too)."""
    from circles.gaps import NearestIds

    rng = np.random.default_rng(8)
    pool = np.array(["", "a", "b", "Z", "孔庙", "仙鹤", "n10", "n9", "é", "a b"], dtype=object)
    for _ in range(200):
        values = pool[rng.integers(0, len(pool), int(rng.integers(0, 30)))]
        for given in (values, pd.Series(values, dtype="string[pyarrow]")):
            got = NearestIds.of(given)
            assert got.ids[got.codes].tolist() == values.tolist()
            assert ((got.codes == -1) == (values == "")).all()
            named = sorted({v for v in values if v})
            assert got.ids[:-1].tolist() == named and got.ids[-1] == ""
