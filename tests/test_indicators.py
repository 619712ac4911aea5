"""City indicators (indicators.csv): coverage and compliance per rule, city-wide and per district."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circles import cli, demo, indicators, pipeline
from circles.errors import InputError


def _gaps(rows):
    cols = ["community_id", "rule_id", "status", "covered_share", "residents", "residents_unplaced"]
    df = pd.DataFrame(rows, columns=cols)
    df["facility_name_zh"] = "幼儿园"
    df["facility_type"] = "kindergarten"
    df["threshold_min"] = 5.0
    df["threshold_m"] = 300.0
    df["population_estimated"] = False
    return df


def test_hand_computed_case():
    gaps = _gaps(
        [
            ("a", "kg", "ok", 1.0, 1000, 0),
            ("b", "kg", "partial", 0.25, 2000, 400),  # 1600 placed, 400 covered
            ("c", "kg", "no_data", np.nan, 500, 0),  # says nothing: left out of the shares
            ("a", "park", "ok", 1.0, 1000, 0),
            ("b", "park", "conditional", np.nan, 2000, 400),  # meets the standard (absent, where conditions allow)
            ("c", "park", "gap", 0.0, 500, 0),
        ]
    )
    comms = pd.DataFrame({"id": ["a", "b", "c"], "street": ["东街道", "东街道", "西街道"]})
    ind = indicators.city_indicators(gaps, comms, district_field="street")
    city = ind[ind["scope"] == "city"].set_index("rule_id")
    kg = city.loc["kg"]
    assert kg["communities"] == 3 and kg["communities_assessed"] == 2 and kg["communities_ok"] == 1
    assert kg["communities_ok_share"] == pytest.approx(0.5)
    assert kg["residents_assessed"] == 1000 + 1600
    assert kg["residents_covered"] == 1000 + 400
    assert kg["residents_covered_share"] == pytest.approx(1400 / 2600, abs=1e-4)
    assert kg["residents_no_data"] == 500
    park = city.loc["park"]
    assert park["communities_ok"] == 2 and park["communities_assessed"] == 3
    every = city.loc[indicators.ALL_RULES]
    # a: all ok; b: partial kindergarten; c: not assessed (no_data) -> 1 of 2 assessed
    assert every["communities_ok"] == 1 and every["communities_assessed"] == 2
    east = ind[(ind["scope"] == "district") & (ind["district"] == "东街道")].set_index("rule_id")
    west = ind[(ind["scope"] == "district") & (ind["district"] == "西街道")].set_index("rule_id")
    assert east.loc["kg", "residents_covered"] + west.loc["kg", "residents_covered"] == kg["residents_covered"]
    assert west.loc["park", "communities_ok_share"] == 0.0
    assert list(ind.columns) == list(indicators.INDICATOR_COLUMNS)


def test_demo_indicators_follow_the_gap_report(demo_result, tmp_path):
    comms = demo_result.communities
    ind = indicators.city_indicators(demo_result.gaps, comms, district_field="kind")
    city = ind[ind["scope"] == "city"]
    rules = list(dict.fromkeys(demo_result.gaps["rule_id"]))
    assert list(city["rule_id"]) == rules + [indicators.ALL_RULES]
    g = demo_result.gaps
    for rid in rules:
        row = city[city["rule_id"] == rid].iloc[0]
        sub = g[(g["rule_id"] == rid) & ~g["status"].isin(indicators.NOT_ASSESSED)]
        placed = sub["residents"] - sub["residents_unplaced"]
        assert row["residents_covered"] == pytest.approx((sub["covered_share"].fillna(0) * placed).sum(), abs=1)
        per_district = ind[(ind["scope"] == "district") & (ind["rule_id"] == rid)]
        assert per_district["communities"].sum() == row["communities"]
    assert set(ind["district"]) - {""} == set(comms["kind"])


def test_unknown_district_field_is_refused():
    with pytest.raises(InputError, match="street"):
        pipeline.analyse(
            demo.DEMO_BOUNDARIES,
            demo.DEMO_FACILITIES,
            demo.DEMO_OSM,
            district_field="street",
            progress=False,
        )


def test_run_writes_indicators_and_parquet(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "--no-figures", "--out", str(out), "--cache", "", "--format", "parquet"])
    assert code == 0
    ind = pd.read_csv(out / "indicators.csv", encoding="utf-8-sig")
    assert (ind["scope"] == "city").any()
    acc = pd.read_parquet(out / "access.parquet")
    assert not (out / "access.csv").exists()
    assert {"point_id", "community_id", "population"} <= set(acc.columns)


# --- equity: Gini and Theil of the covered share across communities, per resident composite -----


def test_equity_hand_computed():
    """Three assessed communities in two districts, by hand (pairwise Gini, Theil by its formula)."""
    import math

    gaps = _gaps(
        [
            ("a", "kg", "ok", 1.0, 1000, 0),
            ("b", "kg", "partial", 0.25, 2000, 400),  # 1600 placed
            ("c", "kg", "partial", 0.5, 400, 0),
            ("d", "kg", "no_data", np.nan, 9000, 0),  # not assessed: left out
        ]
    )
    comms = pd.DataFrame({"id": ["a", "b", "c", "d"], "street": ["东", "东", "西", "西"]})
    ind = indicators.city_indicators(gaps, comms, district_field="street")
    row = ind[(ind["scope"] == "city") & (ind["rule_id"] == "kg")].iloc[0]
    x = {"a": 1.0, "b": 0.25, "c": 0.5}
    w = {"a": 1000.0, "b": 1600.0, "c": 400.0}
    W = 3000.0
    mu = (1000 * 1.0 + 1600 * 0.25 + 400 * 0.5) / W  # 1600 / 3000
    pairs = sum(w[i] * w[j] * abs(x[i] - x[j]) for i in x for j in x)
    gini = pairs / (2 * W * W * mu)
    assert gini == pytest.approx((2 * (1000 * 1600 * 0.75 + 1000 * 400 * 0.5 + 1600 * 400 * 0.25)) / (2 * 9e6 * mu))
    assert row["gini_covered_share"] == pytest.approx(gini, abs=1e-4)
    theil = sum(w[i] / W * (x[i] / mu) * math.log(x[i] / mu) for i in x)
    assert row["theil_covered_share"] == pytest.approx(theil, abs=1e-4)
    # districts: 东 = a, b (mean 1400/2600), 西 = c (mean 0.5)
    mu_e, mu_w = 1400 / 2600, 0.5
    s_e, s_w = 1400 / 1600, 200 / 1600  # shares of the covered residents
    t_e = sum(w[i] / 2600 * (x[i] / mu_e) * math.log(x[i] / mu_e) for i in ("a", "b"))
    assert row["theil_within"] == pytest.approx(s_e * t_e + s_w * 0.0, abs=1e-4)
    assert row["theil_between"] == pytest.approx(s_e * math.log(mu_e / mu) + s_w * math.log(mu_w / mu), abs=1e-4)
    assert row["theil_within"] + row["theil_between"] == pytest.approx(theil, abs=2e-4)
    # a district row: its own Gini (one community: 0), no split
    west = ind[(ind["scope"] == "district") & (ind["district"] == "西") & (ind["rule_id"] == "kg")].iloc[0]
    assert west["gini_covered_share"] == 0.0 and np.isnan(west["theil_within"])


def test_equity_edge_cases():
    assert indicators.weighted_gini(np.array([0.4, 0.4]), np.array([1.0, 3.0])) == pytest.approx(0.0, abs=1e-12)
    assert indicators.weighted_theil(np.array([0.4, 0.4]), np.array([1.0, 3.0])) == pytest.approx(0.0)
    assert np.isnan(indicators.weighted_gini(np.array([0.0, 0.0]), np.array([1.0, 1.0])))
    # all the covered residents in one of two equal communities: Gini 1/2, Theil ln 2
    assert indicators.weighted_gini(np.array([1.0, 0.0]), np.array([5.0, 5.0])) == pytest.approx(0.5)
    assert indicators.weighted_theil(np.array([1.0, 0.0]), np.array([5.0, 5.0])) == pytest.approx(np.log(2))


def test_resident_composite_by_hand():
    from types import SimpleNamespace

    rules = [
        SimpleNamespace(facility_type="kindergarten", thr=300.0, speed=60.0),
        SimpleNamespace(facility_type="park", thr=600.0, speed=60.0),
        SimpleNamespace(facility_type="clinic", thr=900.0, speed=60.0),  # not surveyed: left out
    ]
    rb = SimpleNamespace(rules=rules, threshold_m=lambda r: r.thr, speed_of=lambda r: r.speed)
    res = pd.DataFrame(
        {
            "placed": [True, True, False],
            "dist_kindergarten": [120.0, 600.0, np.nan],
            "dist_park": [600.0, np.nan, np.nan],  # the second point reaches no park within the search
            "dist_clinic": [60.0, 60.0, np.nan],
        }
    )
    out = indicators.resident_composite(res, rb, {"kindergarten", "park"}, max_minutes=30.0)
    assert out["items_within"].tolist()[:2] == [2, 0]
    assert out["items_assessed"].tolist() == [2, 2, 2]
    # point 1: (2 + 10) / 2 minutes; point 2: (10 + 30 capped) / 2
    assert out["mean_minutes"].tolist()[:2] == [6.0, 20.0]
    assert np.isnan(out["items_within"].iloc[2]) and np.isnan(out["mean_minutes"].iloc[2])
