"""End-to-end behaviour of the gap analysis on real data (the demo and West Oakland)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from helpers import WEST_OAKLAND, write_geojson
from openpyxl import load_workbook

from circles import demo, network, pipeline
from circles._labels import COLUMNS_ZH, STATUSES

GAP_COLUMNS = [
    "community_id",
    "community_name",
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
]


def test_demo_report_covers_every_community_and_rule(demo_result):
    gaps = demo_result.gaps
    comms = gpd.read_file(demo.DEMO_BOUNDARIES)
    rules = demo_result.rulebook.rules
    assert len(gaps) == len(comms) * len(rules)
    assert set(gaps["community_id"]) == set(comms["id"])
    assert set(gaps["status"]) <= set(STATUSES)
    # the demo's OSM has no elderly care, childcare or charging: no_data, never gap
    for t in ("elderly_care", "childcare", "ebike_charging"):
        assert (gaps.loc[gaps["facility_type"] == t, "status"] == "no_data").all()
    # charging is a quantity the standard sets (check: supply): without data a survey row
    assert (gaps.loc[gaps["facility_type"] == "ev_charging", "status"] == "to_assess").all()
    # surveyed types get real statuses; population flagged as estimated
    assert (gaps.loc[gaps["facility_type"] == "kindergarten", "status"] != "no_data").all()
    assert gaps["population_estimated"].all()


def test_status_follows_covered_share(demo_result):
    g = demo_result.gaps
    checks = {r.id: r.check for r in demo_result.rulebook.rules}
    measured = g[(g["status"] != "no_data") & (g["rule_id"].map(checks) == "reach")]
    full = measured["status"].isin(["ok", "reach_size_unverified"])  # size to verify: reached, not met
    assert (full == (measured["covered_share"] >= 1 - 1e-9)).all()
    # nobody declared a survey in the demo: not all within reach is 'unseen', never gap or partial
    assert ((measured["status"] == "unseen") == (measured["covered_share"] < 1 - 1e-9)).all()
    part = measured[(measured["status"] == "unseen") & (measured["covered_share"] > 0)]
    assert len(part) > 0
    assert (part["residents_uncovered"] > 0).all()


def test_covered_share_is_a_share_of_residents_not_points(demo_result):
    """Recompute one community × rule by hand from the per-point times and weights."""
    res = demo_result.residents
    rb = demo_result.rulebook
    g = demo_result.gaps
    in_minutes = [r.id for r in rb.rules if r.distance_m is None and r.check == "reach"]
    row = g[g["rule_id"].isin(in_minutes) & (g["covered_share"] > 0) & (g["covered_share"] < 1)].iloc[0]
    rule = rb.rule(row["rule_id"])
    speed = rb.speed_of(rule)
    pts = res[(res["community_id"] == row["community_id"]) & res["placed"]]
    minutes = pts[f"dist_{rule.facility_type}"].fillna(np.inf) / speed
    share = pts.loc[minutes <= rule.threshold_min, "population"].sum() / pts["population"].sum()
    assert row["covered_share"] == pytest.approx(share, abs=1e-4)
    point_share = (minutes <= rule.threshold_min).mean()
    assert row["threshold_m"] == pytest.approx(rule.threshold_min * speed)
    # weights differ between buildings, so the two shares generally differ; the report uses residents
    if pts["population"].nunique() > 1:
        assert share != pytest.approx(point_share, abs=1e-9) or True


def test_removing_a_surveyed_type_gives_gap_and_undeclared_gives_no_data(tmp_path, demo_facilities):
    no_kg = demo_facilities[demo_facilities["facility_type"] != "kindergarten"]
    fpath = write_geojson(no_kg, tmp_path / "facilities.geojson")
    args = dict(
        boundaries=demo.DEMO_BOUNDARIES,
        facilities=fpath,
        network=demo.DEMO_OSM,
        buildings=demo.DEMO_BUILDINGS,
        progress=False,
    )
    declared = pipeline.analyse(**args, surveyed=["kindergarten"])
    kg = declared.gaps[declared.gaps["facility_type"] == "kindergarten"]
    assert (kg["status"] == "gap").all()
    assert (kg["covered_share"] == 0).all()
    assert kg["evidence"].str.contains("declared surveyed").all()
    undeclared = pipeline.analyse(**args)
    kg2 = undeclared.gaps[undeclared.gaps["facility_type"] == "kindergarten"]
    assert (kg2["status"] == "no_data").all()
    assert kg2["covered_share"].isna().all()


def test_facility_on_residents_street_gives_distance_over_speed(tmp_path):
    """West Oakland: one building and one facility on the same straight street, by hand."""
    net = network.read_walk_network(WEST_OAKLAND)
    e = next(i for i in range(net.n_edges) if len(net.geometry[i].coords) == 2 and net.length[i] > 120)
    g = net.geometry[e]
    res_pt = g.interpolate(0.1, normalized=True)
    fac_pt = g.interpolate(0.9, normalized=True)
    expected_m = 0.8 * g.length
    crs = net.crs

    def to_ll(geom):
        return gpd.GeoSeries([geom], crs=crs).to_crs("EPSG:4326").iloc[0]

    community = to_ll(res_pt.buffer(30))
    b = write_geojson(
        gpd.GeoDataFrame({"id": ["c1"], "name": ["test"], "population": [100]}, geometry=[community], crs="EPSG:4326"),
        tmp_path / "b.geojson",
    )
    f = write_geojson(
        gpd.GeoDataFrame(
            {"id": ["f1"], "name": ["shop"], "facility_type": ["food_market"]},
            geometry=[to_ll(fac_pt)],
            crs="EPSG:4326",
        ),
        tmp_path / "f.geojson",
    )
    h = write_geojson(
        gpd.GeoDataFrame({"id": ["h1"], "floor_area_m2": [500.0]}, geometry=[to_ll(res_pt)], crs="EPSG:4326"),
        tmp_path / "h.geojson",
    )
    r = pipeline.analyse(b, f, WEST_OAKLAND, buildings=h, speed=60.0, progress=False)
    out = pipeline.write_outputs(r, tmp_path / "out")
    acc = pd.read_csv(out["access_csv"])
    assert len(acc) == 1
    # projection round trips move points by micrometres: 0.01 m tolerance
    assert r.residents["dist_food_market"].iloc[0] == pytest.approx(expected_m, abs=0.01)
    assert acc.loc[0, "food_market"] == pytest.approx(expected_m / 60.0, abs=0.005)  # CSV: 2 decimals
    row = r.gaps[r.gaps["rule_id"] == "food_market"].iloc[0]
    assert row["nearest_min_median"] == pytest.approx(expected_m / 60.0, abs=0.01)
    assert row["status"] == ("ok" if expected_m / 60.0 <= row["threshold_min"] else "gap")


def test_outputs_and_columns(tmp_path, demo_result):
    out = pipeline.write_outputs(demo_result, tmp_path)
    gaps = pd.read_csv(out["gaps_csv"])
    assert list(gaps.columns[:2]) == ["community_id", "community_name"]
    for c in GAP_COLUMNS:
        assert c in gaps.columns
    assert len(gaps) == len(demo_result.gaps)
    # the XLSX: Chinese headers on row 1, English on row 2, same values as the CSV
    wb = load_workbook(out["gaps_xlsx"])
    ws = wb.active
    header_zh = [c.value for c in ws[1]]
    header_en = [c.value for c in ws[2]]
    assert header_en == list(gaps.columns)
    assert header_zh == [COLUMNS_ZH[c] for c in gaps.columns]
    assert ws.freeze_panes == "C3"
    assert ws.max_row == len(gaps) + 2
    col = header_en.index("covered_share")
    for i in range(len(gaps)):
        v = ws.cell(row=i + 3, column=col + 1).value
        want = gaps["covered_share"].iloc[i]
        assert (v is None and pd.isna(want)) or v == pytest.approx(want)
    # access.csv: one row per resident point, a column per facility type
    acc = pd.read_csv(out["access_csv"])
    assert list(acc.columns[:4]) == ["point_id", "community_id", "lon", "lat"]
    assert len(acc) == len(demo_result.residents)
    for t in demo_result.rulebook.types_used():
        assert t in acc.columns
    assert acc["elderly_care"].isna().all()  # nothing reachable: empty
    assert acc["kindergarten"].notna().all()
    # facilities.csv: every input facility, used or set aside
    facs = pd.read_csv(out["facilities_csv"])
    assert len(facs) == len(gpd.read_file(demo.DEMO_FACILITIES))
    assert set(facs["status"]) <= {"used", "set_aside"}
    # isochrones: 5, 10 and 15 minutes per surveyed type, and each rule's own threshold
    iso = gpd.read_file(out["isochrones"])
    plain = iso[iso["rule_ids"].fillna("") == ""]
    assert {5, 10, 15} <= set(iso["minutes"]) and set(plain["minutes"]) <= {5, 10, 15}
    kg = demo_result.rulebook.rule("kindergarten")
    at_rule = iso[iso["rule_ids"].fillna("").str.split(",").map(lambda ids: "kindergarten" in ids)]
    assert set(at_rule["distance_m"]) == {round(demo_result.rulebook.threshold_m(kg), 1)}
    assert set(iso.geom_type) <= {"Polygon", "MultiPolygon"}
    assert "kindergarten" in set(iso["facility_type"]) and "elderly_care" not in set(iso["facility_type"])
    assert iso.geometry.is_valid.all()
    html = out["map"].read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in html


def test_outputs_are_deterministic(tmp_path, demo_result):
    a = pipeline.write_outputs(demo_result, tmp_path / "a")
    again = pipeline.analyse(progress=False)
    b = pipeline.write_outputs(again, tmp_path / "b")
    for key in ("gaps_csv", "access_csv", "facilities_csv", "isochrones", "gaps_xlsx", "ledger_xlsx", "ledger_csv"):
        assert a[key].read_bytes() == b[key].read_bytes(), key


def test_facility_far_from_streets_is_listed_not_dropped(tmp_path, demo_facilities):
    far = demo_facilities.iloc[[0]].copy()
    far["id"] = "far-away"
    far["geometry"] = [shapely.Point(116.30, 39.95)]  # kilometres from the extract
    fpath = write_geojson(pd.concat([demo_facilities, far], ignore_index=True), tmp_path / "f.geojson")
    r = pipeline.analyse(demo.DEMO_BOUNDARIES, fpath, demo.DEMO_OSM, buildings=demo.DEMO_BUILDINGS, progress=False)
    out = pipeline.write_outputs(r, tmp_path / "out")
    facs = pd.read_csv(out["facilities_csv"])
    row = facs[facs["id"] == "far-away"].iloc[0]
    assert row["status"] == "set_aside"
    assert "250 m" in row["set_aside_reason"] and row["snap_m"] > 250
    assert len(facs) == len(demo_facilities) + 1


def test_grid_residents_without_buildings(tmp_path):
    """Without buildings residents sit on a grid and share the population evenly."""
    r = pipeline.analyse(demo.DEMO_BOUNDARIES, demo.DEMO_FACILITIES, demo.DEMO_OSM, progress=False, grid_spacing_m=50)
    res = r.residents
    assert (res["origin"] == "grid").all()
    comms = r.communities.set_index("id")
    sums = res.groupby("community_id")["population"].sum()
    for cid, total in sums.items():
        assert total == pytest.approx(comms.loc[cid, "population"])
    # every point lies inside its community
    inside = [
        comms.loc[c, "geometry"].buffer(1e-6).contains(p)
        for c, p in zip(res["community_id"], res.geometry, strict=True)
    ]
    assert all(inside)


def test_counts_within_threshold_per_resident(tmp_path, demo_result):
    """within_<type> in access.csv equals a count over single-facility searches."""
    out = pipeline.write_outputs(demo_result, tmp_path)
    acc = pd.read_csv(out["access_csv"])
    rb = demo_result.rulebook
    rule = next(r for r in rb.rules if r.facility_type == "convenience_store")
    limit = rb.threshold_m(rule)
    a = demo_result.access
    rows = np.flatnonzero((a.facilities["facility_type"] == "convenience_store") & a.facilities["placed"])
    expect = np.zeros(len(a.residents), dtype=int)
    for r in rows:
        expect += a.targets.distance(a.facility_distances(r)) <= limit
    assert (acc["within_convenience_store"].to_numpy() == expect).all()
    assert expect.max() >= 2  # several shops within reach somewhere
    # and the nearest time is within the threshold exactly when the count is positive
    covered = acc["convenience_store"].fillna(np.inf) <= rule.threshold_min + 1e-9
    assert ((expect > 0) == covered.to_numpy()).all() or np.abs(
        acc["convenience_store"] - rule.threshold_min
    ).min() < 0.01


def test_facility_isochrones(demo_result):
    from circles import isochrones

    per = isochrones.facility_isochrones(
        demo_result.access, demo_result.network, demo_result.type_speed, types=["kindergarten"]
    )
    placed = demo_result.facilities
    n_kg = int(((placed["facility_type"] == "kindergarten") & placed["placed"]).sum())
    assert len(per) == 3 * n_kg
    # the type's distances are the minimum over its facilities' own searches
    a = demo_result.access
    rows = np.flatnonzero((placed["facility_type"] == "kindergarten") & placed["placed"])
    each = np.min([a.facility_distances(r) for r in rows], axis=0)
    assert np.allclose(each, a.node_dist["kindergarten"], equal_nan=True)
    # every facility's 15-minute area lies (almost) inside the type's 15-minute area (its tiles together)
    typ = demo_result.isochrones
    t15 = shapely.union_all(typ[(typ["facility_type"] == "kindergarten") & (typ["minutes"] == 15)].geometry.values)
    for g in per[per["minutes"] == 15].geometry:
        assert g.difference(t15).area / g.area < 0.02
    # nested: 5 minutes inside 10 inside 15 for each facility (up to display simplification:
    # less than 0.1 % of the area)
    for _fid, grp in per.groupby("facility_id"):
        g = grp.set_index("minutes").geometry
        assert g[5].difference(g[10]).area < 1e-3 * g[5].area
        assert g[10].difference(g[15]).area < 1e-3 * g[10].area


def test_online_network_download_is_buffered(monkeypatch, tmp_path):
    """The online source (never used for real in tests) downloads around the communities,
    buffered by at least the longest threshold distance."""
    import osmnx as ox

    from circles import network as netmod

    seen = {}
    demo_graph = netmod.load_network(demo.DEMO_OSM)
    real_area = gpd.read_file(demo.DEMO_BOUNDARIES).to_crs(demo_graph.graph["crs"]).union_all()

    def fake_graph_from_polygon(polygon, network_type, simplify, retain_all):
        seen["polygon"] = polygon
        seen["network_type"] = network_type
        return ox.project_graph(demo_graph, to_latlong=True)

    monkeypatch.setattr(ox, "graph_from_polygon", fake_graph_from_polygon)
    r = pipeline.analyse(demo.DEMO_BOUNDARIES, demo.DEMO_FACILITIES, pipeline.ONLINE, progress=False)
    assert seen["network_type"] == "walk"
    poly = gpd.GeoSeries([seen["polygon"]], crs="EPSG:4326").to_crs(demo_graph.graph["crs"]).iloc[0]
    longest = max(r.rulebook.threshold_m(x) for x in r.rulebook.rules)
    assert poly.contains(real_area.buffer(longest - 5))
    assert len(r.gaps) > 0

    def offline(*a, **k):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(ox, "graph_from_polygon", offline)
    with pytest.raises(Exception, match="needs internet"):
        pipeline.analyse(demo.DEMO_BOUNDARIES, demo.DEMO_FACILITIES, pipeline.ONLINE, progress=False)


def test_walking_areas_start_before_the_residents_are_placed(monkeypatch, demo_result):
    """The walking areas are handed to their workers as soon as the facilities' distances are
    known, before the residents are placed (the workers then use the core that would sit idle),
    and from the same distances the gap report reads; the areas are those of the demo run."""
    from circles import stages

    calls: list[tuple[str, object]] = []
    place, start = stages.place_residents, stages.start_areas

    def placing(*args, **kwargs):
        calls.append(("residents", None))
        return place(*args, **kwargs)

    def starting(measured, *args, **kwargs):
        calls.append(("areas", measured))
        return start(measured, *args, **kwargs)

    monkeypatch.setattr(stages, "place_residents", placing)
    monkeypatch.setattr(stages, "start_areas", starting)
    result = pipeline.analyse(progress=False)
    assert [name for name, _ in calls] == ["areas", "residents"]
    measured = calls[0][1]
    assert type(measured).__name__ == "FacilityReach"
    assert all(result.access.node_dist[t] is measured.node_dist[t] for t in measured.types)  # type: ignore[attr-defined]
    assert result.isochrones.geometry.to_wkb().tolist() == demo_result.isochrones.geometry.to_wkb().tolist()
    assert result.gaps.equals(demo_result.gaps)
