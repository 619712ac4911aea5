"""What-if scenarios, siting and tracking."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from helpers import write_raw_geojson

from circles import cli, demo, pipeline, siting, whatif
from circles.errors import InputError


def _coverage_from_matrix(matrix: np.ndarray, weight: np.ndarray) -> siting.Coverage:
    cands = gpd.GeoDataFrame(
        {"candidate_id": [f"c{i}" for i in range(matrix.shape[0])], "placed": True},
        geometry=gpd.points_from_xy(np.zeros(matrix.shape[0]), np.zeros(matrix.shape[0])),
    )
    return siting.Coverage.from_dense(matrix, weight, cands)


def test_greedy_against_exhaustive_search_on_random_cases():
    """Greedy best-k never falls below its 1 − 1/e guarantee; report how close it comes."""
    rng = np.random.default_rng(0)
    ratios = []
    for _trial in range(200):
        n_c, n_r = rng.integers(4, 10), rng.integers(5, 30)
        matrix = rng.random((n_c, n_r)) < rng.uniform(0.1, 0.5)
        weight = rng.uniform(1, 50, n_r)
        cov = _coverage_from_matrix(matrix, weight)
        for k in (1, 2, 3):
            opt, _ = siting.exhaustive_best_k(cov, k)
            got = siting.best_k(cov, k, method="greedy")
            greedy = got["cumulative_residents"].iloc[-1] if len(got) else 0.0
            if opt > 0:
                ratios.append(greedy / opt)
            assert greedy >= (1 - 1 / math.e) * opt - 0.2  # rounding to 0.1 in the table
            if k == 1:
                assert greedy == pytest.approx(opt, abs=0.1)  # one site: greedy is exact
    ratios = np.array(ratios)
    print(
        f"greedy/optimal over {len(ratios)} cases: min {ratios.min():.3f}, mean {ratios.mean():.4f}, "
        f"optimal in {np.mean(ratios > 0.999):.0%}"
    )
    assert ratios.mean() > 0.95


def test_greedy_against_exhaustive_on_the_demo(demo_result):
    res = demo_result.residents
    rule = next(r for r in demo_result.rulebook.rules if r.id == "kindergarten")
    limit = demo_result.rulebook.threshold_m(rule)
    comm = "way/860342589"  # 静淑苑
    todo = res[(res["community_id"] == comm) & (res["dist_kindergarten"].fillna(np.inf) > limit) & res["placed"]]
    area = demo_result.communities.set_index("id").loc[comm, "geometry"].buffer(100)
    cands = siting.street_candidates(demo_result.network, area).iloc[::3].head(14)
    cov = siting.coverage(demo_result.network, todo, cands, limit)
    assert cov.matrix.any()
    for k in (1, 2, 3):
        opt, _ = siting.exhaustive_best_k(cov, k)
        greedy = siting.best_k(cov, k, method="greedy")["cumulative_residents"].iloc[-1]
        assert greedy >= (1 - 1 / math.e) * opt
        assert greedy / opt > 0.9, f"k={k}: greedy {greedy:.0f} vs optimal {opt:.0f}"


def test_coverage_equals_plain_dijkstra(demo_result):
    """Every candidate's reach (who, and how far) against NetworkX over an independently
    built edge-split graph with residents and candidates as leaves."""
    import networkx as nx
    from test_reach import nx_split_graph

    from circles import reach

    net = demo_result.network
    rng = np.random.default_rng(5)
    n_res, n_cand = 600, 25
    x = rng.uniform(net.x.min(), net.x.max(), n_res + n_cand)
    y = rng.uniform(net.y.min(), net.y.max(), n_res + n_cand)
    pts = gpd.points_from_xy(x, y)
    people = gpd.GeoDataFrame(
        {"population": rng.integers(1, 9, n_res).astype(float)}, geometry=pts[:n_res], crs=net.crs
    )
    cands = gpd.GeoDataFrame({"candidate_id": [f"c{i}" for i in range(n_cand)]}, geometry=pts[n_res:], crs=net.crs)
    limit = 400.0
    cov = siting.coverage(net, people, cands, limit)
    att = reach.attach_points(net, x, y)
    H = nx_split_graph(net, att)
    checked = 0
    for c in range(n_cand):
        row = cov.reach.getrow(c)
        mine = dict(zip(row.indices.tolist(), (row.data - 1e-3).tolist(), strict=True))
        if not att.attached[n_res + c]:
            assert not mine and not cov.candidates["placed"].iloc[c]
            continue
        d = nx.single_source_dijkstra_path_length(H, ("leaf", n_res + c), cutoff=limit + 1.0)
        theirs = {r: d[("leaf", r)] for r in range(n_res) if ("leaf", r) in d and d[("leaf", r)] <= limit}
        assert set(mine) == set(theirs), f"candidate {c}"
        for r, v in theirs.items():
            assert mine[r] == pytest.approx(v, abs=1e-6)
        checked += len(theirs)
    assert checked > 100


def test_fewest_sites_reaches_target_or_says_best_achievable():
    matrix = np.array([[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=bool)
    weight = np.array([10, 10, 10, 10, 10.0])
    cov = _coverage_from_matrix(matrix, weight)
    sites, note = siting.fewest_sites(cov, 0.8)
    assert list(sites["candidate_id"]) == ["c0", "c1"] and "80%" in note
    sites, note = siting.fewest_sites(cov, 1.0)  # resident 5 is out of reach of every candidate
    assert "cannot be reached" in note and "80%" in note


def test_capacities_are_respected():
    matrix = np.array([[1, 1, 1, 1], [0, 0, 1, 1]], dtype=bool)
    weight = np.array([40, 40, 40, 40.0])
    cov = _coverage_from_matrix(matrix, weight)
    cov = siting.Coverage.from_dense(
        matrix,
        weight,
        cov.candidates.assign(capacity=[80, np.nan]),
        dist=np.array([[1, 2, 3, 4], [0, 0, 1, 1]], dtype=float),
    )
    sites = siting.best_k(cov, 2)
    assert sites["residents_covered"].tolist() == [80, 80]  # the nearest two, then the other two


def _point_off_street(net, near, metres: float):
    """A point about ``metres`` from the nearest street, searched outwards from ``near`` (network CRS)."""
    tree = shapely.STRtree(net.geometry)
    for r in range(0, 1500, 10):
        for a in np.linspace(0, 2 * np.pi, 72, endpoint=False):
            p = shapely.Point(near.x + r * np.cos(a), near.y + r * np.sin(a))
            _, d = tree.query_nearest(p, return_distance=True)
            if abs(d[0] - metres) < 1.0:
                return p, float(d[0])
    raise AssertionError("no such point")


def test_whatif_explains_itself(tmp_path, demo_result, capsys):
    """Build the first proposed kindergarten (siting and the what-if run agree), a kindergarten
    198 m from its street (the run says how far, and when it changes nothing) and an elderly-care station
    (a type nobody surveyed: it creates no gap, and the residents it reaches are counted)."""
    comm = "way/860342589"
    sites, note = siting.propose_sites(demo_result, "kindergarten", community_id=comm, k=1)
    assert len(sites) == 1
    site = sites.iloc[0]
    net = demo_result.network
    centre = demo_result.communities.set_index("id").loc[comm, "geometry"].centroid
    far, far_d = _point_off_street(net, centre, 198.0)
    street = shapely.STRtree(net.geometry).query_nearest(centre)[0]
    on_street = net.geometry[street].interpolate(0.5, normalized=True)
    ll = gpd.GeoSeries([far, on_street], crs=net.crs).to_crs("EPSG:4326")
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
            "properties": {"id": "planned-kg", "action": "add", "facility_type": "kindergarten", "name": "规划幼儿园"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [ll.iloc[0].x, ll.iloc[0].y]},
            "properties": {"id": "far-kg", "action": "add", "facility_type": "kindergarten", "name": "远处幼儿园"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [ll.iloc[1].x, ll.iloc[1].y]},
            "properties": {"id": "care-1", "action": "add", "facility_type": "elderly_care", "name": "养老驿站"},
        },
    ]
    scenario = write_raw_geojson(feats, tmp_path / "plan.geojson")
    out = tmp_path / "wi"
    code = cli.main(["whatif", "--scenario", str(scenario), "--out", str(out), "--community-maps", "none"])
    assert code == 0
    printed = capsys.readouterr().out
    comp = pd.read_csv(out / "comparison.csv", encoding="utf-8-sig")
    planned = pd.read_csv(out / "planned_facilities.csv", encoding="utf-8-sig", keep_default_na=False).set_index("id")
    diff = gpd.read_file(out / "difference.geojson")
    # siting and the what-if run agree
    row = comp[(comp["community_id"] == comm) & (comp["rule_id"] == "kindergarten")].iloc[0]
    assert row["covered_share_scenario"] == pytest.approx(site["covered_share_after"], abs=2e-3)
    assert row["residents_newly_covered"] == pytest.approx(site["residents_covered"], abs=1.0)
    # every resident newly within reach of a kindergarten is counted for the planned one nearest to it
    kg_all = diff[(diff["rule_id"] == "kindergarten") & (diff["change"] == "newly covered")]["population"].sum()
    both = planned.loc[["planned-kg", "far-kg"], "residents_newly_covered"].astype(float).sum()
    assert both == pytest.approx(kg_all, abs=0.5)
    assert float(planned.loc["planned-kg", "residents_newly_covered"]) >= site["residents_covered"] - 1.0
    kg = diff[(diff["rule_id"] == "kindergarten") & (diff["community_id"] == comm)]
    assert (kg["change"] == "newly covered").all() and len(kg) > 0
    assert kg["population"].sum() == pytest.approx(site["residents_covered"], abs=1.0)
    # the far kindergarten: its distance to the street (measured here), a warning, no effect
    assert float(planned.loc["far-kg", "attach_m"]) == pytest.approx(far_d, abs=0.5)
    assert "198" in planned.loc["far-kg", "warning"]
    if float(planned.loc["far-kg", "residents_newly_covered"]) == 0:  # 198 m off the street and then a walk
        assert "未使任何居民新覆盖" in planned.loc["far-kg", "warning"]
    assert "警告：规划设施 far-kg" in printed and "198" in printed  # the terminal speaks the run's language
    assert float(planned.loc["care-1", "attach_m"]) < 100 and "100" not in planned.loc["care-1", "warning"]
    # a plan never creates gaps: elderly care stays no_data (not surveyed today)...
    care = comp[comp["rule_id"] == "elderly_care"]
    assert (care["status_current"] == "no_data").all() and (care["status_scenario"] == "no_data").all()
    assert not ((comp["status_scenario"] == "gap") & (comp["status_current"] != "gap")).any()
    # ...and the residents it reaches are counted per community, as the difference layer has them
    reached = diff[(diff["rule_id"] == "elderly_care") & (diff["change"] == "newly covered")]
    per = reached.groupby("community_id")["population"].sum()
    assert len(per) and per.sum() > 0
    for cid, pop in per.items():
        got = care.loc[care["community_id"] == cid, "residents_newly_covered"].iloc[0]
        assert got == pytest.approx(pop, abs=0.2)
    assert float(planned.loc["care-1", "residents_newly_covered"]) == pytest.approx(per.sum(), abs=0.5)
    assert "老年服务站" in printed and "现状未调查" in printed
    # whole people and whole metres in the terminal, never the raw floats of the tables
    assert "1408.1" not in printed and not __import__("re").search(r"\d\.\d{3,}", printed.split("输出：")[0])
    for r in comp[comp["residents_newly_covered"] > 0.5].itertuples():
        assert f"{math.floor(r.residents_newly_covered + 0.5):.0f}" in printed
    # the map: titled, localised, a legend, the planned facilities
    html = (out / "whatif_map.html").read_text(encoding="utf-8")
    for text in ("规划情景：实施后与现状对比", "因规划新覆盖", "planned-kg", "far-kg", "© OpenStreetMap contributors"):
        assert text in html, text
    assert (out / "scenario" / "gaps.csv").exists() and (out / "current" / "gaps.csv").exists()


def test_whatif_map_in_english(demo_result, tmp_path):
    scenario = gpd.GeoDataFrame(
        {"id": ["x1"], "action": ["add"], "facility_type": ["clinic"], "name": ["New clinic"]},
        geometry=[demo_result.communities.to_crs("EPSG:4326").geometry.iloc[0].centroid],
        crs="EPSG:4326",
    )
    diff = whatif.difference_layer(demo_result, demo_result)
    m = whatif.difference_map(demo_result, demo_result, diff, scenario, lang="en", scenario_name="plan.geojson")
    page = m.get_root().render()
    for text in ("Scenario: after the planned projects", "Planned facilities", "newly covered", "plan.geojson"):
        assert text in page, text
    for text in ("规划情景", "图例", "情景文件"):
        assert text not in page, text


def test_resize_without_a_size_is_an_error_naming_the_row(tmp_path, demo_result):
    fac = demo_result.facilities.to_crs("EPSG:4326")[["id", "facility_type", "name", "geometry"]]
    target = str(fac["id"].iloc[2])
    bad = write_raw_geojson(
        [
            {"type": "Feature", "geometry": None, "properties": {"id": target, "action": "resize", "capacity": 80}},
            {"type": "Feature", "geometry": None, "properties": {"id": target, "action": "resize"}},
        ],
        tmp_path / "resize.geojson",
    )
    with pytest.raises(InputError, match=r"resize\.geojson.*\(row 2\).*'size_m2'") as err:
        whatif.load_scenario(bad, demo_result.rulebook.facility_types)
    assert "size_m2 or capacity" in str(err.value) and target in str(err.value)
    sc = gpd.GeoDataFrame({"id": [target], "action": ["resize"]}, geometry=[None], crs="EPSG:4326")
    with pytest.raises(InputError, match=r"\(row 1\).*size_m2 or capacity"):
        whatif.apply_scenario(fac, sc)


def test_site_command_writes_what_the_api_proposes(tmp_path, demo_result, capsys):
    """`circles site` on the demo: the same best sites as the Python API, as CSV and GeoJSON,
    with the community each serves and its nearest street, and a map of them."""
    comm = "way/860342589"
    code = cli.main(["site", "--rule", "kindergarten", "--community", comm, "--k", "2", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_csv(tmp_path / "sites_kindergarten.csv", keep_default_na=False)
    api, note = siting.propose_sites(demo_result, "kindergarten", community_id=comm, k=2)
    assert list(table["candidate_id"]) == list(api["candidate_id"]) and len(table) == 2
    assert np.allclose(table["residents_covered"], api["residents_covered"])
    assert (np.diff(table["covered_share_after"]) >= 0).all()
    name = demo_result.communities.set_index("id").loc[comm, "name"]
    assert (table["community_id"] == comm).all() and (table["community_name"] == name).all()
    assert (table["note"] == note).all()
    # the street each site is named by, measured here: the nearest street when it has a name,
    # else the nearest named one within NAMED_STREET_RADIUS_M (the demo's OSM names its streets)
    net = demo_result.network
    pts = gpd.GeoSeries(gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326").to_crs(net.crs)
    assert net.name is not None and {"清华东路", "学院路"} <= set(net.name)
    for p, got, metres in zip(pts.values, table["street_name"], table["street_m"], strict=True):
        d = shapely.distance(net.geometry, p)
        named = np.array([bool(n) for n in net.name])
        if net.name[int(np.argmin(d))]:
            assert (got, metres) == (net.name[int(np.argmin(d))], pytest.approx(d.min(), abs=0.06))
        elif d[named].min() <= siting.NAMED_STREET_RADIUS_M:
            k = np.flatnonzero(named)[int(np.argmin(d[named]))]
            assert (got, metres) == (net.name[k], pytest.approx(d[k], abs=0.06))
        else:
            assert (got, metres) == ("", pytest.approx(d.min(), abs=0.06))
    assert any(table["street_name"])
    pts = gpd.read_file(tmp_path / "sites_kindergarten.geojson")
    assert np.allclose(pts.geometry.x, table["lon"]) and np.allclose(pts.geometry.y, table["lat"])
    out = capsys.readouterr().out
    # the question in the run's language, figures computed here: share, whole people, minutes
    res = demo_result.residents[demo_result.residents["community_id"] == comm]
    total = res["population"].sum()
    limit = demo_result.rulebook.threshold_m(demo_result.rulebook.rule("kindergarten"))
    already = res.loc[res["dist_kindergarten"].fillna(np.inf) <= limit + 1e-6, "population"].sum()
    assert f"{name}：现状 {already / total:.0%} 的 {total:.0f} 名居民在 5 分钟步行范围内" in out
    assert "按要求给出 2 处" in out and "4.49775" not in out and "sites_kindergarten.html" in out
    for v in table["residents_covered"]:
        assert f" {math.floor(v + 0.5):.0f} " in out
    html = (tmp_path / "sites_kindergarten.html").read_text(encoding="utf-8")
    assert "选址建议：幼儿园" in html and name in html and "* Leaflet 1.9" in html


def test_siting_across_communities_names_the_community_each_site_serves(demo_result):
    sites, _ = siting.propose_sites(demo_result, "kindergarten", k=3)
    out = siting.describe_sites(demo_result, "kindergarten", sites)
    res = demo_result.residents
    rule = demo_result.rulebook.rule("kindergarten")
    limit = demo_result.rulebook.threshold_m(rule)
    todo = res[(res["dist_kindergarten"].fillna(np.inf) > limit) & res["placed"]]
    cands = gpd.GeoDataFrame(
        {"candidate_id": out["candidate_id"]},
        geometry=gpd.points_from_xy(out["lon"], out["lat"]),
        crs="EPSG:4326",
    ).to_crs(demo_result.network.crs)
    cov = siting.coverage(demo_result.network, todo, cands, limit)
    for i, row in enumerate(out.itertuples()):
        reached = todo.iloc[cov.reach.getrow(i).indices]
        best = reached.groupby("community_id")["population"].sum().idxmax()
        assert row.community_id == best
        assert row.community_name == demo_result.communities.set_index("id").loc[best, "name"]


def test_removing_facilities_in_a_scenario_shows_gaps(tmp_path, demo_facilities):
    shops = demo_facilities[demo_facilities["facility_type"] == "food_market"]
    feats = [{"type": "Feature", "geometry": None, "properties": {"id": i, "action": "remove"}} for i in shops["id"]]
    scenario = write_raw_geojson(feats, tmp_path / "close.geojson")
    _, comp = whatif.run_whatif(scenario, tmp_path / "wi", progress=False, community_maps="none")
    fm = comp[comp["rule_id"] == "food_market"]
    # present today (evidence), none in the scenario, nobody declared a survey: 'unseen', not no_data
    assert (fm["status_scenario"] == "unseen").all()
    assert (fm["status_current"] != "gap").any()


def test_scenario_errors_name_file_row_and_field(tmp_path, demo_result):
    fac = demo_result.facilities.to_crs("EPSG:4326")[["id", "facility_type", "name", "geometry"]]
    bad_remove = write_raw_geojson(
        [{"type": "Feature", "geometry": None, "properties": {"id": "no-such-id", "action": "remove"}}],
        tmp_path / "a.geojson",
    )
    sc = whatif.load_scenario(bad_remove, demo_result.rulebook.facility_types)
    with pytest.raises(InputError, match=r"a\.geojson.*'no-such-id' \(row 1\).*'id'"):
        whatif.apply_scenario(fac, sc, path=str(bad_remove))
    bad_action = write_raw_geojson(
        [{"type": "Feature", "geometry": None, "properties": {"id": "x", "action": "demolish"}}], tmp_path / "b.geojson"
    )
    with pytest.raises(InputError, match=r"b\.geojson.*'action'.*add, remove, resize"):
        whatif.load_scenario(bad_action, demo_result.rulebook.facility_types)
    dup = write_raw_geojson(
        [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [116.35, 40.0]},
                "properties": {"id": fac["id"].iloc[0], "action": "add", "facility_type": "clinic"},
            }
        ],
        tmp_path / "c.geojson",
    )
    with pytest.raises(InputError, match="already exists"):
        whatif.apply_scenario(fac, whatif.load_scenario(dup, demo_result.rulebook.facility_types), path="c.geojson")


def test_resize_changes_capacity(demo_result):
    fac = demo_result.facilities.to_crs("EPSG:4326")[["id", "facility_type", "name", "geometry"]].copy()
    target = fac["id"].iloc[3]
    sc = gpd.GeoDataFrame({"id": [target], "action": ["resize"], "capacity": [120]}, geometry=[None], crs="EPSG:4326")
    out = whatif.apply_scenario(fac, sc)
    assert out.loc[out["id"] == target, "capacity"].iloc[0] == 120
    assert len(out) == len(fac)


def test_tracking_compares_two_runs(tmp_path, demo_result, demo_facilities, capsys):
    before = tmp_path / "2024"
    pipeline.write_outputs(demo_result, before)
    extra = demo_facilities.iloc[[0]].copy()
    extra["id"], extra["facility_type"] = "new-clinic", "clinic"
    fpath = tmp_path / "f.geojson"
    pd.concat([demo_facilities, extra], ignore_index=True).to_file(fpath, driver="GeoJSON")
    later = pipeline.analyse(demo.DEMO_BOUNDARIES, fpath, demo.DEMO_OSM, buildings=demo.DEMO_BUILDINGS, progress=False)
    after = tmp_path / "2025"
    pipeline.write_outputs(later, after)
    code = cli.main(["compare", str(before), str(after), "--out", str(tmp_path / "cmp.csv")])
    assert code == 0
    comp = pd.read_csv(tmp_path / "cmp.csv")
    assert len(comp) == len(demo_result.gaps)
    clinic = comp[comp["rule_id"] == "clinic"]
    assert (clinic["covered_share_after"] >= clinic["covered_share_before"] - 1e-9).all()
    others = comp[comp["rule_id"] != "clinic"]
    assert not others["status_changed"].any()


def test_site_map_draws_each_catchment_and_the_residents_newly_covered(demo_result):
    """The site map of two proposed kindergartens: each site's walking area holds the site, the
    resident points marked as newly covered are beyond the threshold today and, in the community
    asked about, their residents add up to what the proposal says the sites cover."""
    import json

    comm = "way/860342589"
    sites, _ = siting.propose_sites(demo_result, "kindergarten", community_id=comm, k=2)
    sites = siting.describe_sites(demo_result, "kindergarten", sites, community_id=comm)
    m = siting.site_map(demo_result, "kindergarten", sites)
    app = next(c for c in m._children.values() if type(c).__name__ == "_App")
    marks = {g["kind"]: g for g in json.loads(app.data)["marks"]}
    assert set(marks) == {"area", "dot", "num"}
    areas = marks["area"]["items"]
    assert len(areas) == 2 and all(it[5] == "kindergarten" for it in areas)
    for it, site in zip(areas, sites.itertuples(), strict=True):
        poly = shapely.Polygon([(lon, lat) for lat, lon in it[6][0]], [[(lo, la) for la, lo in r] for r in it[6][1:]])
        assert poly.buffer(1e-5).contains(shapely.Point(site.lon, site.lat))
    res = demo_result.residents
    ll = res.geometry.to_crs("EPSG:4326")
    at = {(round(p.y, 7), round(p.x, 7)): i for i, p in enumerate(ll)}
    rows = [at[(it[0], it[1])] for it in marks["dot"]["items"]]
    limit = demo_result.rulebook.threshold_m(demo_result.rulebook.rule("kindergarten"))
    assert (res["dist_kindergarten"].fillna(np.inf).to_numpy()[rows] > limit).all()
    # the table counts the community asked about; the map marks neighbours' residents reached too
    mine = res["community_id"].astype(str).to_numpy()[rows] == comm
    assert res["population"].to_numpy()[rows][mine].sum() == pytest.approx(sites["residents_covered"].sum(), abs=1.0)
