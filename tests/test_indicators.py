"""City indicators (indicators.csv): coverage and compliance per rule, city-wide and per district."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circles import cli, indicators, pipeline
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
            pipeline.demo.DEMO_BOUNDARIES,
            pipeline.demo.DEMO_FACILITIES,
            pipeline.demo.DEMO_OSM,
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
