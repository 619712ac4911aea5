"""The investigation ledger: rows, priorities, actions, departments, XLSX for officials, Rugao."""

from __future__ import annotations

import textwrap

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest

from circles import demo, ledger, pipeline
from circles.errors import ConfigError

ACTIONABLE = ("gap", "partial", "undersized")


@pytest.fixture(scope="module")
def demo_ledger(demo_result) -> pd.DataFrame:
    assert demo_result.ledger is not None
    return demo_result.ledger


def test_one_row_per_community_and_item(demo_result, demo_ledger):
    rb = demo_result.rulebook
    assert list(demo_ledger.columns) == list(ledger.LEDGER_COLUMNS)
    assert len(demo_ledger) == len(demo_result.communities) * (len(rb.rules) + len(rb.checklist))
    # checklist items are rows for a person to assess, never dropped
    chk = demo_ledger[demo_ledger["rule_id"].isin([r.id for r in rb.checklist])]
    assert len(chk) == len(demo_result.communities) * len(rb.checklist)
    assert (chk["status"] == "to_assess").all() and (chk["status_zh"] == "待评估").all()
    assert (chk["action"] == "survey").all() and chk["action_zh"].str.contains("现场评估").all()
    # spatial rows carry the gap report's status
    sp = demo_ledger.merge(
        demo_result.gaps[["community_id", "rule_id", "status"]], on=["community_id", "rule_id"], suffixes=("", "_gaps")
    )
    assert (sp["status"] == sp["status_gaps"]).all()
    assert set(demo_ledger["action"]) <= {"new_build", "share", "upgrade", "survey", "none"}


def test_requirement_state_gap_and_evidence(demo_ledger):
    row = demo_ledger[
        (demo_ledger["community_id"] == "way/860342589") & (demo_ledger["rule_id"] == "kindergarten")
    ].iloc[0]
    assert row["status"] == "partial"
    assert "检查口径" in row["requirement"] and "250米" in row["requirement"]
    assert "覆盖" in row["current_state"] and "最近居民步行" in row["current_state"]
    assert "名居民超出" in row["gap"]
    assert "最近设施：未来之星实验幼儿园" in row["evidence"] and "分钟" in row["evidence"]
    assert row["residents_affected"] > 0
    assert row["finding_kind"] == "提示 warning" and "未经官方文本核实" in row["warning"]


def test_priority_elderly_child_first_then_residents(demo_ledger):
    for cid, sub in demo_ledger.groupby("community_id", sort=False):
        assert list(sub["priority"]) == list(range(1, len(sub) + 1))
        klass = sub["status"].map({"gap": 0, "partial": 0, "undersized": 0, "no_data": 1, "to_assess": 2, "ok": 3})
        assert klass.is_monotonic_increasing, cid
        act = sub[sub["status"].isin(ACTIONABLE)]
        ec = (act["priority_group"] == "一老一幼").to_numpy()
        assert not ec.any() or ec[: ec.sum()].all(), "一老一幼 items come first"
        rest = act[act["priority_group"] != "一老一幼"]["residents_affected"].to_numpy()
        assert (np.diff(rest) <= 0).all(), "then by residents affected"


def test_actions(demo_ledger):
    gaps = demo_ledger[demo_ledger["status"] == "gap"]
    share = gaps[gaps["action"] == "share"]
    assert len(share) and share["action_zh"].str.contains("相邻设施最近").all()
    assert (demo_ledger.loc[demo_ledger["status"] == "ok", "action"] == "none").all()
    assert (demo_ledger.loc[demo_ledger["status"] == "no_data", "action"] == "survey").all()


def test_departments_follow_the_leading_group(demo_ledger):
    lead = demo_ledger.drop_duplicates("rule_id").set_index("rule_id")
    assert lead.loc["elderly_care", "lead_department"] == "市民政局"
    assert lead.loc["childcare", "lead_department"] == "市卫生健康委员会"
    assert lead.loc["clinic", "lead_department"] == "市卫生健康委员会"
    assert lead.loc["kindergarten", "lead_department"] == "市教育局"
    assert lead.loc["food_market", "lead_department"] == "市商务局"
    assert lead.loc["property_management", "lead_department"] == "市住房和城乡建设局"
    assert lead.loc["car_parking", "lead_department"] == "市公安局、市城市管理局"
    assert lead.loc["ebike_charging", "lead_department"] == "国家电网如皋市供电分公司、市住房和城乡建设局"
    assert "市消防救援大队" in lead.loc["ebike_charging", "support_departments"]
    assert lead.loc["parcel_point", "lead_department"].startswith("中国邮政")
    assert lead.loc["fitness", "lead_department"] == "市文体广电和旅游局"
    assert lead.loc["barrier_free", "lead_department"] == "市残疾人联合会"
    # the street office carries out every item: it leads or supports each row
    both = demo_ledger["lead_department"] + "、" + demo_ledger["support_departments"]
    assert both.str.contains("高新区（如城街道）", regex=False).all()
    assert lead.loc["governance_mechanism", "lead_department"] == "高新区（如城街道）"


def test_department_file_errors(tmp_path):
    p = tmp_path / "deps.yaml"
    p.write_text("departments: {a: {name_zh: 甲}}\nby_facility_type: {clinic: {lead: [b]}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"deps\.yaml: by_facility_type: 'clinic': unknown department 'b'"):
        ledger.load_departments(p)


# ----------------------------------------------------------------------------- files


def test_csv_and_xlsx_read_back(tmp_path, demo_result, demo_ledger):
    csv = ledger.write_ledger_csv(demo_ledger, tmp_path / "ledger.csv")
    xlsx = ledger.write_ledger_xlsx(
        demo_ledger, tmp_path / "ledger.xlsx", demo_result.communities, rulebook=demo_result.rulebook
    )
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(csv, encoding="utf-8-sig")
    wb = openpyxl.load_workbook(xlsx)
    names = demo_result.communities["name"].tolist()
    assert wb.sheetnames[0] == "汇总 summary" and wb.sheetnames[-1] == "说明 notes"
    assert wb.sheetnames[1:-1] == names
    keys = list(ledger.LEDGER_COLUMNS)
    for name in names:
        ws = wb[name]
        assert [c.value for c in ws[1]] == [ledger.LEDGER_COLUMNS[k] for k in keys]
        assert [c.value for c in ws[2]] == keys
        assert ws.freeze_panes == "D3"
        assert ws.auto_filter.ref == f"A2:{openpyxl.utils.get_column_letter(len(keys))}{ws.max_row}"
        assert ws.column_dimensions["L"].width == ledger.WIDTHS["evidence"]
        rows = [[c.value for c in r] for r in ws.iter_rows(min_row=3)]
        sub = back[back["community_name"] == name]
        assert len(rows) == len(sub)
        for got, (_, want) in zip(rows, sub.iterrows(), strict=True):
            for k, g in zip(keys, got, strict=True):
                w = want[k]
                if g is None or g == "":
                    assert pd.isna(w) or w == "", (name, k)
                elif isinstance(g, (int, float)) and not isinstance(g, bool):
                    assert float(g) == pytest.approx(float(w)), (name, k)
                else:
                    assert str(g) == str(w), (name, k)
    summ = wb["汇总 summary"]
    assert [c.value for c in summ[2]] == list(ledger.SUMMARY_COLUMNS)
    assert summ.freeze_panes == "C3" and summ.auto_filter.ref.startswith("A2:")
    assert summ.max_row == 2 + len(names)
    counts = {r[0].value: r for r in summ.iter_rows(min_row=3)}
    gap_col = list(ledger.SUMMARY_COLUMNS).index("gap")
    for cid, sub in back.groupby("community_id"):
        assert counts[cid][gap_col].value == int((sub["status"] == "gap").sum())


def test_write_outputs_writes_the_ledger(tmp_path, demo_result):
    paths = pipeline.write_outputs(demo_result, tmp_path)
    assert paths["ledger_csv"].exists() and paths["ledger_xlsx"].exists()


# ----------------------------------------------------------------------------- Rugao


def test_normalise_and_match_names():
    pilot = ledger.load_pilot()
    for name in ("孔庙社区", "孔庙", " 如城街道孔庙社区 ", "孔庙社区居民委员会", "如皋市如城街道孔庙社区", "Kongmiao"):
        assert pilot.match(name).id == "kongmiao", name
    assert pilot.match("迎新社区居委会").id == "yingxin"
    assert pilot.match("仙鹤").id == "xianhe"
    assert pilot.match("孔庙东社区") is None and pilot.match("") is None and pilot.match(None) is None
    k = pilot.match("孔庙")
    assert (k.area_km2, k.households, k.population) == (0.3, 1682, 5433)
    x = pilot.match("仙鹤")
    assert (x.area_km2, x.households, x.population) == (0.9, 1723, 4572)
    assert len(pilot.match("迎新").projects) == 10


def test_pilot_file_errors(tmp_path):
    p = tmp_path / "pilot.yaml"
    p.write_text("communities:\n  - {id: a, name_zh: 甲, population: many}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pilot\.yaml: community 'a': 'population'"):
        ledger.load_pilot(p)


@pytest.fixture(scope="module")
def rugao_result(tmp_path_factory):
    """The demo with three communities renamed after the Rugao pilots.

    静淑苑 -> 孔庙社区 (estimated population: the plan's 5433 is used), 石科院生活区 -> 如城街道迎新社区
    (population declared, not estimated: kept; households missing: the plan's 1309), 学士居 -> 仙鹤.
    """
    tmp = tmp_path_factory.mktemp("rugao")
    b = gpd.read_file(demo.DEMO_BOUNDARIES)
    b["name"] = b["name"].replace({"静淑苑": "孔庙社区", "石科院生活区": "如城街道迎新社区", "学士居": "仙鹤"})
    b.loc[b["name"] == "如城街道迎新社区", "population_estimated"] = False
    b = b.drop(columns=["households"])
    path = tmp / "boundaries.geojson"
    b.to_file(path, driver="GeoJSON")
    return pipeline.analyse(path, demo.DEMO_FACILITIES, demo.DEMO_OSM, buildings=demo.DEMO_BUILDINGS, progress=False)


def test_rugao_attributes(rugao_result):
    c = rugao_result.communities.set_index("name")
    assert c.loc["孔庙社区", "pilot_id"] == "kongmiao"
    assert c.loc["孔庙社区", "population"] == 5433 and c.loc["孔庙社区", "households"] == 1682
    assert "试点方案" in c.loc["孔庙社区", "population_source"]
    assert not c.loc["孔庙社区", "population_estimated"]
    assert c.loc["如城街道迎新社区", "population"] == 1039  # the boundary's own figure is kept
    assert c.loc["如城街道迎新社区", "population_source"].startswith("边界文件")
    assert c.loc["如城街道迎新社区", "households"] == 1309
    assert "试点方案" in c.loc["如城街道迎新社区", "households_source"]
    assert c.loc["仙鹤", "population"] == 4572
    assert c.loc["双泉嘉苑", "pilot_id"] == "" and c.loc["双泉嘉苑", "households_source"] == "未知 unknown"
    # residents follow the plan's population
    res = rugao_result.residents
    kid = c.loc["孔庙社区", "id"]
    assert res.loc[res["community_id"] == kid, "population"].sum() == pytest.approx(5433)


def test_rugao_plan_matching(rugao_result):
    led = rugao_result.ledger
    k = led[led["community_name"] == "孔庙社区"].set_index("rule_id")
    assert k.loc["car_parking", "plan_status"] == "in_plan" and "项目4" in k.loc["car_parking", "plan_reference"]
    assert k.loc["community_service", "plan_status"] == "in_plan"
    assert k.loc["kindergarten", "status"] in ACTIONABLE and k.loc["kindergarten", "plan_status"] == "new_finding"
    assert k.loc["kindergarten", "plan_status_zh"] == "新发现"
    y = led[led["community_name"] == "如城街道迎新社区"].set_index("rule_id")
    assert y.loc["kindergarten", "plan_status"] == "in_plan" and "项目6" in y.loc["kindergarten", "plan_reference"]
    assert y.loc["food_market", "plan_status"] == "in_plan"  # 农贸市场升级改造
    x = led[led["community_name"] == "仙鹤"].set_index("rule_id")
    # 仙鹤 lists "卫生设施不足" as a problem but plans no project for it
    assert (
        x.loc["public_toilet", "plan_status"] == "problem_listed"
        and "问题3" in x.loc["public_toilet", "plan_reference"]
    )
    assert x.loc["ebike_charging", "plan_status"] == "in_plan"
    # keyword matching: a checklist item found through the rule's keywords_zh
    assert k.loc["governance_mechanism", "plan_status"] == "in_plan"
    # communities outside the pilot have no plan column
    other = led[led["community_name"] == "双泉嘉苑"]
    assert (other["plan_status"] == "").all()


def test_rugao_summary_and_notes(tmp_path, rugao_result):
    summ = ledger.ledger_summary(rugao_result.ledger, rugao_result.communities).set_index("community_name")
    assert summ.loc["孔庙社区", "pilot"] == "孔庙社区" and summ.loc["孔庙社区", "plan_area_km2"] == 0.3
    assert summ.loc["孔庙社区", "boundary_area_km2"] > 0
    assert summ.loc["孔庙社区", "in_plan"] > 0 and summ.loc["孔庙社区", "new_finding"] > 0
    xlsx = ledger.write_ledger_xlsx(
        rugao_result.ledger, tmp_path / "l.xlsx", rugao_result.communities, rulebook=rugao_result.rulebook
    )
    notes = [r[1].value for r in openpyxl.load_workbook(xlsx)["说明 notes"].iter_rows()]
    assert any(v and "如皋" in str(v) for v in notes)


def test_keywords_are_data(tmp_path, rugao_result):
    # a user rule with its own keywords is matched to the plan without code changes
    rules = tmp_path / "r.yaml"
    rules.write_text(
        textwrap.dedent("""
        extends: complete_community_2020
        rules:
          - {id: lifts, kind: checklist, name_zh: 既有住宅加装电梯, keywords_zh: [加装电梯],
             source: {doc: 如皋试点方案}, verified: true}
    """),
        encoding="utf-8",
    )
    from circles.rulebook import load_rulebook

    rb = load_rulebook(rules)
    led = ledger.build_ledger(rugao_result.gaps.assign(), rugao_result.communities, rb)
    row = led[(led["community_name"] == "孔庙社区") & (led["rule_id"] == "lifts")].iloc[0]
    assert (
        row["status"] == "to_assess" and row["plan_status"] == "in_plan" and "关键词 加装电梯" in row["plan_reference"]
    )
