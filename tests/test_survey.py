"""Survey answers fed back through the engine (issue 23, item 3): the 核实结果 block of the
ledger's 待核实事项 sheet, filled by script, read back by ``analyse(survey=…)``.

- a 无 row comes back as a gap (the type surveyed in that community only);
- a 有 row comes back as a facility at the given point, whose covered residents are checked
  against a plain NetworkX Dijkstra on an edge-split graph built in the tests;
- a size completes the size check of a ``reach_size_unverified`` row;
- bad answers are reported naming the workbook, sheet, row and column.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from openpyxl import load_workbook
from test_reach import nx_split_graph

from circles import pipeline
from circles._labels import LEDGER_TITLES, OFFICIAL_COLUMNS, SURVEY_WORDS
from circles.ledger import write_ledger_xlsx
from circles.survey import SURVEY_BLOCK

HEAD = {v: k for k, v in OFFICIAL_COLUMNS.items()}


def _survey_sheet(wb):
    ws = wb[LEDGER_TITLES["survey"]]
    top = next(r for r in range(1, 13) if {"社区", "事项"} <= {c.value for c in ws[r]})
    cols = {HEAD[c.value]: c.column for c in ws[top] if c.value in HEAD}
    rows = {ws.cell(r, cols["key"]).value: r for r in range(top + 1, ws.max_row + 1)}
    return ws, cols, rows


def _pick(gaps, rule_id, status, n=1):
    rows = gaps[(gaps["rule_id"] == rule_id) & (gaps["status"] == status) & (gaps["residents"] > 0)]
    return [str(c) for c in rows.sort_values("residents", ascending=False)["community_id"].head(n)]


@pytest.fixture(scope="module")
def surveyed_run(demo_result, tmp_path_factory):
    """The demo ledger with survey answers typed in, and the demo analysed again with them."""
    tmp = tmp_path_factory.mktemp("survey")
    path = write_ledger_xlsx(demo_result.ledger, tmp / "ledger.xlsx", demo_result.communities)
    gaps = demo_result.gaps
    absent = _pick(gaps, "childcare", "no_data")[0]
    present, bad_name, bad_place = _pick(gaps, "elderly_care", "no_data", 3)
    sized = _pick(gaps, "community_service", "reach_size_unverified")[0]
    # a resident point of the community, as WGS-84: inside its boundary
    res = demo_result.residents
    mine = res[(res["community_id"].astype(str) == present) & res["placed"]]
    pt = mine.to_crs(4326).geometry.iloc[0]
    wb = load_workbook(path)
    ws, cols, rows = _survey_sheet(wb)
    assert set(SURVEY_BLOCK) <= set(cols), "the survey sheet has the 核实结果 block"
    typed = {
        f"{absent}/childcare": ("无", None, None, None),
        f"{present}/elderly_care": ("有", "核实养老服务站", f"{pt.x:.7f},{pt.y:.7f}", "300平方米"),
        f"{bad_name}/elderly_care": ("有", None, "东门", None),
        f"{bad_place}/elderly_care": ("有", "远处的站", "0.5,0.5", "很大"),
        f"{sized}/community_service": ("有", "多用厅", None, "100000"),
    }
    for key, values in typed.items():
        for col, v in zip(SURVEY_BLOCK, values, strict=True):
            if v is not None:
                ws.cell(rows[key], cols[col]).value = v
    wb.save(path)
    after = pipeline.analyse(progress=False, survey=path)
    return {
        "after": after,
        "absent": absent,
        "present": present,
        "bad_name": bad_name,
        "bad_place": bad_place,
        "sized": sized,
        "rows": rows,
        "cols": cols,
        "path": path,
        "point": pt,
    }


def _row(gaps, cid, rule_id):
    return gaps[(gaps["community_id"].astype(str) == cid) & (gaps["rule_id"] == rule_id)].iloc[0]


def test_absent_becomes_a_gap(demo_result, surveyed_run):
    after, cid = surveyed_run["after"].gaps, surveyed_run["absent"]
    row = _row(after, cid, "childcare")
    # the demo has no childcare at all: a surveyed absence is a gap for every resident
    assert row["status"] == "gap"
    assert row["covered_share"] == 0
    assert bool(row["surveyed"])
    assert "核实结果" in row["evidence"]
    # only that community: the others stay 无数据
    others = after[(after["rule_id"] == "childcare") & (after["community_id"].astype(str) != cid)]
    before = demo_result.gaps[(demo_result.gaps["rule_id"] == "childcare")]
    assert set(others["status"]) == set(before[before["community_id"].astype(str) != cid]["status"]) == {"no_data"}


def test_present_becomes_a_facility_that_covers_residents(surveyed_run):
    run = surveyed_run["after"]
    cid = surveyed_run["present"]
    fac = run.facilities
    new = fac[fac["id"] == f"survey-{cid}-elderly_care"]
    assert len(new) == 1
    f = new.iloc[0]
    assert f["name"] == "核实养老服务站"
    assert f["size_m2"] == 300
    assert "ledger.xlsx" in f["source"] and LEDGER_TITLES["survey"] in f["source"]
    assert str(surveyed_run["rows"][f"{cid}/elderly_care"]) in f["source"]
    assert SURVEY_WORDS["at_point"] in f["source"]
    pt = surveyed_run["point"]
    got = fac[fac["id"] == f["id"]].to_crs(4326).geometry.iloc[0]
    assert got.distance(pt) < 1e-6
    # covered residents against a plain Dijkstra from the new facility's access points
    acc, net = run.access, run.network
    n_res = len(acc.residents)
    ap = acc.access_points
    k_fac = int(np.flatnonzero((fac["id"] == f["id"]).to_numpy())[0])
    srcs = [("leaf", n_res + k) for k in range(len(ap)) if ap["facility"].iloc[k] == k_fac]
    assert srcs
    H = nx_split_graph(net, acc.attachment)
    ref = nx.multi_source_dijkstra_path_length(H, srcs)
    rule = next(r for r in run.rulebook.rules if r.id == "elderly_care")
    thr = run.rulebook.threshold_m(rule)
    res = acc.residents
    own = np.flatnonzero((res["community_id"].astype(str) == cid).to_numpy() & res["placed"].to_numpy())
    pop = res["population"].to_numpy(dtype=float)
    covered = sum(pop[i] for i in own if ref.get(("leaf", int(i)), np.inf) <= thr + 1e-6)
    share = covered / pop[own].sum()
    assert share > 0
    row = _row(run.gaps, cid, "elderly_care")
    assert row["covered_share"] == pytest.approx(share, abs=1e-4)
    assert row["status"] != "no_data"


def test_size_completes_the_size_check(demo_result, surveyed_run):
    cid = surveyed_run["sized"]
    assert _row(demo_result.gaps, cid, "community_service")["status"] == "reach_size_unverified"
    run = surveyed_run["after"]
    fac = run.facilities
    hall = fac[(fac["facility_type"] == "community_service") & (fac["name"] == "多用厅")]
    assert len(hall) == 1 and hall.iloc[0]["size_m2"] == 100000  # the input's facility, not a second one
    row = _row(run.gaps, cid, "community_service")
    assert row["size_checked"] == 1
    assert row["status"] in ("ok", "undersized")


def test_bad_answers_are_reported_with_their_cell(surveyed_run):
    probs = surveyed_run["after"].input_problems
    rows, cols = surveyed_run["rows"], surveyed_run["cols"]
    sheet = LEDGER_TITLES["survey"]

    def cell(col, key):
        from openpyxl.utils import get_column_letter

        return f"{sheet}!{get_column_letter(cols[col])}{rows[key]}"

    fields = list(probs["field"].astype(str))
    reasons = list(probs["reason"].astype(str))
    for col, key, reason in (
        ("survey_name", f"{surveyed_run['bad_name']}/elderly_care", SURVEY_WORDS["no_name"]),
        ("survey_location", f"{surveyed_run['bad_place']}/elderly_care", SURVEY_WORDS["outside"]),
        ("survey_size", f"{surveyed_run['bad_place']}/elderly_care", SURVEY_WORDS["bad_size"]),
    ):
        hits = [i for i, f in enumerate(fields) if f.startswith(cell(col, key))]
        assert hits, (col, key, fields)
        assert reasons[hits[0]] == reason
        assert str(surveyed_run["path"]) in str(probs.iloc[hits[0]]["source_file"])
    # nothing was made of the bad presences
    fac = surveyed_run["after"].facilities
    for k in ("bad_name", "bad_place"):
        assert not (fac["id"] == f"survey-{surveyed_run[k]}-elderly_care").any()
