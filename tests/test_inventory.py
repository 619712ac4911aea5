"""Several items in existing spaces (`circles site --inventory`): the exact plan equals brute
force over every assignment; areas come from the rulebook; the CLI writes ledger-ready rows."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from helpers import write_raw_geojson

from circles import cli, inventory, siting


def _brute_force(items, area, cost, budget) -> float:
    """Best weighted value over every assignment of item subsets to spaces (independent of the model)."""
    n_s, n_t = len(area), len(items)
    best = 0.0
    for combo in itertools.product(range(2**n_t), repeat=n_s):
        chosen = [[t for t in range(n_t) if combo[s] >> t & 1] for s in range(n_s)]
        if any(sum(items[t].need_m2[s] for t in chosen[s]) > area[s] for s in range(n_s)):
            continue
        if budget is not None and sum(cost[s] for s in range(n_s) if chosen[s]) > budget:
            continue
        value = 0.0
        for t, it in enumerate(items):
            rows = [s for s in range(n_s) if t in chosen[s]]
            if rows:
                reached = it.a.toarray()[rows].any(axis=0)
                value += it.weight * math.fsum(it.w[reached])
        best = max(best, value)
    return best


def test_hand_made_case_against_brute_force():
    """Four spaces, three items: day care (350 m², weight 2), service station (30 m²), toilet (no size).
    The big hall can take everything, but the budget forces two small spaces."""
    day = inventory.Item(
        "day", [[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1]], [50, 40, 30, 20], [350] * 4, 2
    )
    svc = inventory.Item("svc", [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], [100, 80, 60], [30] * 4, 1)
    wc = inventory.Item("wc", [[1, 0], [0, 1], [0, 0], [1, 1]], [10, 10], [0] * 4, 1)
    area, cost = np.array([400.0, 360.0, 200.0, 900.0]), np.array([20.0, 15.0, 10.0, 60.0])
    items = [day, svc, wc]
    for budget in (None, 35.0, 30.0, 12.0):
        plan = inventory.solve(items, area, cost, budget, method="exact")
        assert plan.optimal
        assert plan.value == pytest.approx(_brute_force(items, area, cost, budget)), budget
        for s in {s for s, _ in plan.pairs}:  # the plan respects every space's area
            assert sum(items[t].need_m2[s] for ss, t in plan.pairs if ss == s) <= area[s]
        if budget is not None:
            assert sum(cost[s] for s in {s for s, _ in plan.pairs}) <= budget
    plan = inventory.solve(items, area, cost, 30.0, method="exact")
    assert plan.value == pytest.approx(_brute_force(items, area, cost, 30.0))


def test_random_cases_against_brute_force():
    rng = np.random.default_rng(11)
    for _ in range(25):
        n_s = int(rng.integers(3, 5))
        items = []
        for t in range(3):
            n = int(rng.integers(2, 8))
            need = rng.choice([0.0, 30.0, 120.0, 350.0], n_s)
            items.append(
                inventory.Item(f"r{t}", rng.random((n_s, n)) < 0.4, rng.integers(1, 60, n), need, [2, 1, 1][t])
            )
        area = rng.choice([100.0, 200.0, 400.0, 600.0], n_s)
        cost = rng.choice([10.0, 20.0, 50.0], n_s)
        budget = float(rng.choice([30.0, 60.0, 1000.0]))
        best = _brute_force(items, area, cost, budget)
        exact = inventory.solve(items, area, cost, budget, method="exact")
        assert exact.value == pytest.approx(best)
        greedy = inventory.solve(items, area, cost, budget, method="greedy")
        assert greedy.value <= best + 1e-9
        if greedy.bound is not None:  # the LP bound is a true upper bound
            assert greedy.bound >= best - 1e-6


def test_item_areas_come_from_the_rulebook(demo_result):
    rb = demo_result.rulebook
    need, basis = inventory.item_area(rb.rule("elderly_day_care"), 500.0)
    assert need == 350 and "min_size_m2" in basis
    need, basis = inventory.item_area(rb.rule("community_service"), 1200.0)
    assert need == pytest.approx(30 * 1200 / 100) and "households" in basis
    need, basis = inventory.item_area(rb.rule("kindergarten"), 1200.0)
    assert need == 0 and "no size" in basis
    w, why = inventory.item_weight(rb.rule("kindergarten"), inventory.load_weights())
    w2, _ = inventory.item_weight(rb.rule("clinic"), inventory.load_weights())
    assert w > w2 and "一老一幼" in why


def test_site_inventory_on_the_demo(tmp_path, demo_result, capsys):
    comms = demo_result.communities.to_crs("EPSG:3857")
    pts = comms.geometry.representative_point().to_crs("EPSG:4326")
    specs = [("活动室", 420, 35), ("闲置商铺", 180, 20), ("邻里中心", 900, 80), ("物业用房", 60, 5)]
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [pts.iloc[i].x, pts.iloc[i].y]},
            "properties": {"id": f"sp{i + 1}", "name": n, "area_m2": a, "cost_wan": c},
        }
        for i, (n, a, c) in enumerate(specs)
    ]
    path = write_raw_geojson(feats, tmp_path / "spaces.geojson")
    rules = "elderly_day_care,community_service,kindergarten,clinic"
    out = tmp_path / "inv"
    code = cli.main(["site", "--inventory", str(path), "--budget", "60", "--rule", rules, "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    plan = pd.read_csv(out / "inventory_plan.csv", keep_default_na=False)
    spaces = pd.read_csv(out / "inventory_spaces.csv", keep_default_na=False)
    assert list(spaces["space_id"]) == ["sp1", "sp2", "sp3", "sp4"]  # every space, used or why not
    assert (spaces.loc[~spaces["used"], "reason"] != "").all()
    assert spaces.loc[spaces["used"], "cost_wan"].sum() <= 60
    for s in spaces[spaces["used"]].itertuples():
        assert s.area_used_m2 <= s.area_m2
    assert len(plan) and "proven optimal" in plan["guarantee"].iloc[0] and "已证明最优" in printed
    assert all(r.space_name in r.action_zh and r.item_name in r.action_zh for r in plan.itertuples())
    # the cost is given once per space used (a ledger sum counts it once)
    costs = pd.to_numeric(plan["investment_wan"], errors="coerce")
    assert costs.groupby(plan["space_id"]).apply(lambda c: c.notna().sum()).eq(1).all()
    # residents newly covered, independently: the uncovered residents within the rule's reach of the space
    res = demo_result.residents
    for rule_id, grp in plan.groupby("rule_id"):
        rule = demo_result.rulebook.rule(rule_id)
        limit = demo_result.rulebook.threshold_m(rule)
        todo = res[(res[f"dist_{rule.facility_type}"].fillna(np.inf) > limit) & res["placed"]]
        cands = gpd.GeoDataFrame(
            {"candidate_id": grp["space_id"].to_numpy()},
            geometry=gpd.points_from_xy(grp["lon"], grp["lat"]),
            crs="EPSG:4326",
        ).to_crs(demo_result.network.crs)
        cov = siting.coverage(demo_result.network, todo, cands, limit)
        reached = (cov.reach > 0).toarray().any(axis=0)
        assert grp["residents_newly_covered"].sum() == pytest.approx(
            todo["population"].to_numpy()[reached].sum(), abs=0.5
        )
    newly = gpd.read_file(out / "inventory_newly_covered.geojson")
    assert newly["population"].sum() == pytest.approx(plan["residents_newly_covered"].sum(), abs=1.0)
    assert (out / "inventory_plan.xlsx").exists() and (out / "inventory_plan.geojson").exists()


@pytest.mark.parametrize(
    ("props", "words"),
    [
        ({"id": "a", "name": "活动室"}, ["spaces.geojson", "field 'area_m2'", "floor area"]),
        ({"id": "a", "area_m2": -5}, ["spaces.geojson", "feature a", "field 'area_m2'", "above 0"]),
        ({"id": "a", "area_m2": 80, "cost_wan": "很多"}, ["feature a", "field 'cost_wan'", "万元"]),
    ],
)
def test_bad_spaces_give_one_line_naming_feature_and_field(tmp_path, capsys, props, words):
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.35, 40.0]}, "properties": props}]
    path = write_raw_geojson(feats, tmp_path / "spaces.geojson")
    code = cli.main(["site", "--inventory", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "o").exists()


def test_time_limit_must_be_positive(tmp_path, capsys):
    code = cli.main(["site", "--rule", "park", "--time-limit", "0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and "--time-limit" in err
