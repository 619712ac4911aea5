"""The ledger's month-to-month cycle: a filled ledger read back loses no entry (issue 23).

The workbook is filled the way people fill it — cells typed in, rows re-sorted, a column hidden
and another moved, a sheet renamed, a date typed as text, a column and a row added by hand —
then read back and carried into the next run's ledger; every entered cell must be found again,
on its row or on the sheet of kept entries.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from circles import cycle
from circles._labels import CYCLE_WORDS, OFFICIAL_COLUMNS, PROJECT_COLUMNS, PROJECT_WORDS
from circles.ledger import ledger_for, write_ledger_xlsx

HEAD = {v: k for k, v in OFFICIAL_COLUMNS.items()}


@pytest.fixture(scope="module")
def demo_ledger(demo_result):
    """The demo's ledger after a survey of four types (so that its first sheet, the items that
    need action, has rows; the other open items are on the 待核实事项 sheet)."""
    import dataclasses

    from circles.gaps import compute_gaps

    surveyed = {"kindergarten", "clinic", "pharmacy", "convenience_store"}
    g = compute_gaps(demo_result.communities, demo_result.access, demo_result.rulebook, surveyed)
    return ledger_for(dataclasses.replace(demo_result, gaps=g, surveyed=surveyed, ledger=None))


def _header_row(ws) -> int:
    """The 1-based row of a sheet's header (below the 填报 block)."""
    return next(r for r in range(1, 13) if {"社区", "事项"} <= {c.value for c in ws[r]})


def _columns(ws) -> dict[str, int]:
    """Column key -> 1-based column index of a sheet's header row."""
    return {HEAD[c.value]: c.column for c in ws[_header_row(ws)] if c.value in HEAD}


def _fill(path, out):
    """Fill a written ledger as a street office would; return what was typed, by key."""
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    cols = _columns(ws)
    top = _header_row(ws)
    typed: dict[tuple[str, str], str] = {}
    survey = wb.worksheets[1]  # the 待核实事项 sheet: survey answers
    scols, stop = _columns(survey), _header_row(survey)
    for r in range(stop + 1, stop + 9):
        key = survey.cell(r, scols["key"]).value
        survey.cell(r, scols["survey_result"]).value = f"有，社区东门{r}0平方米"
        typed[(key, "survey_result")] = f"有，社区东门{r}0平方米"
        survey.cell(r, scols["survey_name"]).value = f"东门服务站{r}"
        typed[(key, "survey_name")] = f"东门服务站{r}"
    _fill_projects(wb, typed)
    n = ws.max_row
    assert n > top + 12, "the demo after a survey has items that need action"
    for r in range(top + 1, top + 13):
        key = ws.cell(r, cols["key"]).value
        for col, text in (
            ("person_in_charge", f"王{r}"),
            ("progress", f"第{r}项已立项" if r % 3 else "已完成"),
        ):
            if text:
                ws.cell(r, cols[col]).value = text
                typed[(key, col)] = text
        ws.cell(r, cols["deadline"]).value = "2023年6月底" if r % 2 else dt.datetime(2023, 9, 30)
        typed[(key, "deadline")] = "2023年6月底" if r % 2 else "2023-09-30"
        ws.cell(r, cols["investment_wan"]).value = 12.5
        typed[(key, "investment_wan")] = "12.5"
    # an extra column people added, and a row added by hand at the bottom
    extra = ws.max_column + 1
    ws.cell(top, extra).value = "联络员"
    ws.cell(top + 1, extra).value = "李联络"
    typed[(ws.cell(top + 1, cols["key"]).value, "+联络员")] = "李联络"
    ws.cell(n + 1, cols["community_name"]).value = "手工社区"
    ws.cell(n + 1, cols["item_name"]).value = "加装电梯"
    ws.cell(n + 1, cols["progress"]).value = "入户征求意见中"
    typed[("hand", "progress")] = "入户征求意见中"
    # re-sorted: the first two data rows swapped; a column hidden, another moved to the end
    a = [c.value for c in ws[top + 1]]
    b = [c.value for c in ws[top + 2]]
    for j, v in enumerate(b, start=1):
        ws.cell(top + 1, j).value = v
    for j, v in enumerate(a, start=1):
        ws.cell(top + 2, j).value = v
    ws.column_dimensions["B"].hidden = True
    req = cols["action_zh"]
    last = ws.max_column + 1
    for r in range(top, ws.max_row + 1):
        ws.cell(r, last).value = ws.cell(r, req).value
    ws.delete_cols(req)
    ws.title = "台账（街道填报）"
    wb.save(out)
    return typed


def _fill_projects(wb, typed: dict) -> None:
    """The 实施项目清单: people, a phase's 推进序时, this month's 推进情况 and a hidden month's."""
    ws = wb[PROJECT_WORDS["sheet"]]
    top = next(r for r in range(1, 13) if ws.cell(r, 1).value == "序号")
    heads = {c.value: c.column for c in ws[top] if c.value}
    key_col = heads[PROJECT_COLUMNS["key"]]
    months = [h for h in heads if str(h).endswith("推进情况")]
    assert len(months) == 17  # 2023-04 … 2024-08, the plan's phase 3
    hidden_cols = {j for d in ws.column_dimensions.values() if d.hidden for j in range(d.min, d.max + 1)}
    hidden = [h for h in months if heads[h] in hidden_cols]
    assert len(hidden) == 16  # only the ledger's own month is shown
    phase = next(h for h in heads if str(h).startswith("推进序时"))
    assert ws.max_row > top + 3, "the surveyed demo has projects"
    for r in range(top + 1, top + 4):
        key = ws.cell(r, key_col).value
        for head, text in (
            (PROJECT_COLUMNS["leader"], f"张副主任{r}"),
            (PROJECT_COLUMNS["liaison"], f"联络员小李{r}"),
            (phase, f"{r}日前完成选址"),
            (months[0], f"四月已立项{r}"),
            (hidden[-1], f"八月已竣工{r}"),
        ):
            ws.cell(r, heads[head]).value = text
            typed[("project", f"{key}|{head}")] = text


def _texts(workbook) -> list[tuple[str, int, str]]:
    """Every non-empty cell of a workbook as (sheet, row, text); dates as ISO dates."""
    wb = load_workbook(workbook, data_only=True)
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if isinstance(v, dt.datetime):
                    v = v.date().isoformat()
                if v is not None:
                    out.append((ws.title, c.row, str(v)))
    return out


def _missing(workbook, typed: dict) -> list:
    """The typed entries not found in any cell of ``workbook``."""
    texts = _texts(workbook)
    return [(k, v) for k, v in typed.items() if not any(v in t for _, _, t in texts)]


def test_filled_ledger_round_trip_loses_no_entry(demo_result, demo_ledger, tmp_path):
    first = write_ledger_xlsx(demo_ledger, tmp_path / "ledger.xlsx", demo_result.communities)
    filled = tmp_path / "filled.xlsx"
    typed = _fill(first, filled)
    prev = cycle.read_filled_ledger(filled)
    carried = cycle.carry_forward(demo_ledger, prev, date=dt.date(2023, 6, 30))
    again = write_ledger_xlsx(
        demo_ledger, tmp_path / "again.xlsx", demo_result.communities, carried=carried, date="2023-06-30"
    )
    missing = _missing(again, typed)
    assert not missing, missing
    led = carried.ledger.set_index("key")
    for (key, col), text in typed.items():
        if key in ("hand", "project"):
            continue
        cell = led.loc[key, col]
        if col == "deadline" and isinstance(cell, dt.datetime):
            cell = cell.date().isoformat()
        assert str(cell) == text or np.isclose(float(cell), float(text)), (key, col, cell)
    # the row added by hand is kept, with its text, on the kept sheet
    assert (carried.kept["community_name"] == "手工社区").sum() == 1
    assert "入户征求意见中" in carried.kept.loc[carried.kept["community_name"] == "手工社区", "entries"].iloc[0]


def test_nothing_typed_means_nothing_carried(demo_result, demo_ledger, tmp_path):
    """An untouched ledger read back carries no cell: prefilled text is not taken for an entry."""
    first = write_ledger_xlsx(demo_ledger, tmp_path / "ledger.xlsx", demo_result.communities)
    prev = cycle.read_filled_ledger(first)
    assert cycle.entered_cells(prev) == []
    carried = cycle.carry_forward(demo_ledger, prev, date=dt.date(2023, 6, 30))
    assert carried.kept.empty and carried.closed.empty
    open_rows = carried.ledger[carried.ledger["status"].isin(cycle.OPEN_STATUSES)]
    assert (open_rows["ledger_change"] == CYCLE_WORDS["continued"]).all()


def test_met_item_is_closed_with_the_measured_change_and_new_items_marked(demo_result, demo_ledger, tmp_path):
    first = write_ledger_xlsx(demo_ledger, tmp_path / "ledger.xlsx", demo_result.communities)
    wb = load_workbook(first)
    ws = wb.worksheets[0]
    cols, top = _columns(ws), _header_row(ws)
    key_closed = ws.cell(top + 1, cols["key"]).value
    ws.cell(top + 1, cols["progress"]).value = "已完成，6月投用"
    wb.save(first)
    prev = cycle.read_filled_ledger(first)
    # next month: that item is met, and an item met before is now open
    nxt = demo_ledger.copy()
    i = nxt.index[nxt["key"] == key_closed][0]
    j = nxt.index[nxt["status"] == "ok"][0]
    before = nxt.at[i, "covered_share"]
    nxt.at[i, "status"] = "ok"
    nxt.at[i, "covered_share"] = 1.0
    nxt.at[j, "status"] = "gap"
    carried = cycle.carry_forward(nxt, prev, date=dt.date(2023, 7, 31))
    closed = carried.closed.set_index("key")
    assert list(closed.index) == [key_closed]
    assert closed.loc[key_closed, "closed_on"] == "2023-07-31"
    assert closed.loc[key_closed, "progress"] == "已完成，6月投用"
    if np.isfinite(before):
        assert f"{before * 100:.1f}%" in closed.loc[key_closed, "closed_how"]
    assert carried.ledger.at[j, "ledger_change"] == CYCLE_WORDS["new"]
    # the closed sheet is read back next month and kept, never deleted
    again = write_ledger_xlsx(nxt, tmp_path / "next.xlsx", demo_result.communities, carried=carried)
    later = cycle.carry_forward(nxt, cycle.read_filled_ledger(again), date=dt.date(2023, 8, 31))
    assert key_closed in set(later.closed["key"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024年8月底", dt.date(2024, 8, 31)),
        ("2024年2月", dt.date(2024, 2, 29)),
        ("2023/6/5", dt.date(2023, 6, 5)),
        ("2023.6.5", dt.date(2023, 6, 5)),
        ("2023-06-30", dt.date(2023, 6, 30)),
        ("2023年6月30日前", dt.date(2023, 6, 30)),
        (45107, dt.date(2023, 6, 30)),
        ("8月底", None),
        ("2023年13月", None),
        ("尽快", None),
    ],
)
def test_dates_typed_as_people_type_them(text, expected):
    assert cycle.parse_date(text) == expected


def test_a_workbook_without_a_ledger_is_refused(tmp_path):
    from openpyxl import Workbook

    from circles.errors import InputError

    wb = Workbook()
    wb.active.append(["a", "b"])
    wb.save(tmp_path / "x.xlsx")
    with pytest.raises(InputError, match="no ledger table"):
        cycle.read_filled_ledger(tmp_path / "x.xlsx")
    with pytest.raises(InputError, match="expected ledger.xlsx"):
        cycle.read_filled_ledger(tmp_path)


def test_the_data_sheet_tells_prefilled_text_from_entries(demo_result, demo_ledger, tmp_path):
    """A remark circles wrote is not an entry; a remark people changed is, even when the new run's
    remark differs."""
    first = write_ledger_xlsx(demo_ledger, tmp_path / "ledger.xlsx", demo_result.communities)
    wb = load_workbook(first)
    ws = wb.worksheets[0]
    cols, top = _columns(ws), _header_row(ws)
    key = ws.cell(top + 2, cols["key"]).value
    ws.cell(top + 2, cols["remarks"]).value = "居民代表建议设在社区东门"
    wb.save(first)
    prev = cycle.read_filled_ledger(first)
    assert prev.generated is not None
    nxt = demo_ledger.copy()
    nxt["remarks"] = nxt["remarks"].astype(str) + "（新）"
    carried = cycle.carry_forward(nxt, prev, date=dt.date(2023, 6, 30))
    led = carried.ledger.set_index("key")
    assert led.loc[key, "remarks"] == "居民代表建议设在社区东门"
    other = led.index[(led.index != key) & led["status"].isin(cycle.OPEN_STATUSES)][0]
    assert str(led.loc[other, "remarks"]).endswith("（新）")
    assert isinstance(carried.ledger, pd.DataFrame)


def test_monthly_progress_counts_overdue_and_closed(demo_result, demo_ledger, tmp_path):
    """circles progress: overdue against 完成时限 as of the date, closed by a newer run, per unit."""
    from circles import progress
    from circles._labels import PROGRESS_WORDS
    from circles.cli import main

    folder = tmp_path / "may"
    folder.mkdir()
    demo_ledger.to_csv(folder / "ledger.csv", index=False, encoding="utf-8-sig")
    write_ledger_xlsx(demo_ledger, folder / "ledger.xlsx", demo_result.communities)
    wb = load_workbook(folder / "ledger.xlsx")
    ws = wb.worksheets[0]
    cols, top = _columns(ws), _header_row(ws)
    due = {}
    for r in range(top + 1, top + 21):
        key = ws.cell(r, cols["key"]).value
        deadline = ("2023年5月底", "2023/7/31", dt.datetime(2023, 6, 15), "年底前")[r % 4]
        ws.cell(r, cols["deadline"]).value = deadline
        ws.cell(r, cols["progress"]).value = "施工中"
        due[key] = deadline
    wb.save(folder / "ledger.xlsx")
    # a newer run in which the first of those items is met
    june = tmp_path / "june"
    june.mkdir()
    newer = demo_ledger.copy()
    first_key = ws.cell(top + 1, cols["key"]).value
    newer.loc[newer["key"] == first_key, "status"] = "ok"
    newer.to_csv(june / "ledger.csv", index=False, encoding="utf-8-sig")

    rep = progress.progress_report(folder, date=dt.date(2023, 6, 30), run=june)
    expected_overdue = {k for k, d in due.items() if d in ("2023年5月底",) or isinstance(d, dt.datetime)}
    expected_overdue.discard(first_key)
    got = set(rep.items.loc[rep.items["state"] == PROGRESS_WORDS["overdue"], "key"])
    assert got == expected_overdue
    assert set(rep.items.loc[rep.items["state"] == PROGRESS_WORDS["unclear_deadline"], "key"]) == {
        k for k, d in due.items() if d == "年底前"
    } - {first_key}
    assert list(rep.closed_this_month()["key"]) == [first_key]
    total = rep.by_unit.iloc[-1]
    assert total["closed_month"] == 1 and total["overdue"] == len(expected_overdue)
    assert total["open"] == len(rep.items) == int(newer["status"].isin(cycle.OPEN_STATUSES).sum())
    by_unit = rep.by_unit.iloc[:-1].set_index("lead_unit")
    assert by_unit["overdue"].sum() == len(expected_overdue)

    out = tmp_path / "report"
    assert (
        main(["progress", "--ledger", str(folder), "--run", str(june), "--date", "2023-06-30", "--out", str(out)]) == 0
    )
    first_bytes = (out / "progress.xlsx").read_bytes()
    sheets = load_workbook(out / "progress.xlsx").sheetnames
    assert PROGRESS_WORDS["sheet_overdue"] in sheets and PROGRESS_WORDS["sheet_closed"] in sheets
    overdue_sheet = load_workbook(out / "progress.xlsx")[PROGRESS_WORDS["sheet_overdue"]]
    assert overdue_sheet.max_row - 1 == len(expected_overdue)
    import subprocess

    text = subprocess.run(["pdftotext", str(out / "progress.pdf"), "-"], capture_output=True, text=True).stdout
    assert PROGRESS_WORDS["title"] in text and "逾期" in text
    assert (
        main(["progress", "--ledger", str(folder), "--run", str(june), "--date", "2023-06-30", "--out", str(out)]) == 0
    )
    assert (out / "progress.xlsx").read_bytes() == first_bytes  # same inputs, same bytes
    assert main(["progress", "--ledger", str(folder), "--date", "30/06/2023", "--out", str(out)]) == 2


def test_a_ledger_saved_by_libreoffice_reads_back(demo_result, demo_ledger, tmp_path):
    """The filled workbook saved again by LibreOffice Calc (as an office would) loses no entry."""
    import shutil
    import subprocess

    first = write_ledger_xlsx(demo_ledger, tmp_path / "ledger.xlsx", demo_result.communities)
    filled = tmp_path / "filled.xlsx"
    typed = _fill(first, filled)
    lo = tmp_path / "lo"
    profile = tmp_path / "profile"
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "xlsx", "--outdir", str(lo)]
        + [str(filled)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    prev = cycle.read_filled_ledger(lo / "filled.xlsx")
    carried = cycle.carry_forward(demo_ledger, prev, date=dt.date(2023, 6, 30))
    again = write_ledger_xlsx(demo_ledger, tmp_path / "again.xlsx", demo_result.communities, carried=carried)
    missing = _missing(again, typed)
    assert not missing, missing
    # the survey answers read from LibreOffice's file are those of the file it read
    from circles import survey

    mine = survey.read_answers(cycle.read_filled_ledger(filled), demo_result.communities, demo_result.rulebook)
    theirs = survey.read_answers(prev, demo_result.communities, demo_result.rulebook)
    assert mine.facilities and pd.DataFrame(theirs.facilities).equals(pd.DataFrame(mine.facilities))
    assert theirs.surveyed == mine.surveyed
    assert [p["field"] for p in theirs.problems] == [p["field"] for p in mine.problems]


def test_a_ledger_edited_in_libreoffice_loses_no_entry(demo_result, demo_ledger, tmp_path):
    """The ledger filled inside LibreOffice Calc (tests/lo_edit.py drives Calc through UNO: cells
    typed, a date made by Calc, a column added, one hidden, the rows sorted by 社区, the sheet
    renamed, saved as xlsx by Calc) comes back with every entry on its item's row."""
    import json
    import shutil
    import subprocess

    system_python = shutil.which("python3", path="/usr/bin")
    if shutil.which("soffice") is None or system_python is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    if subprocess.run([system_python, "-c", "import uno"], capture_output=True).returncode:
        pytest.skip("LibreOffice's Python bridge (python3-uno) is not installed")
    first = write_ledger_xlsx(demo_ledger, tmp_path / "ledger.xlsx", demo_result.communities)
    edited = tmp_path / "edited.xlsx"
    script = Path(__file__).with_name("lo_edit.py")
    done = subprocess.run(
        [system_python, str(script), str(first), str(edited), str(tmp_path / "profile")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    typed = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(typed) >= 10 and {f for _, f, _ in typed} >= {"person_in_charge", "progress", "deadline", "+联络员"}
    prev = cycle.read_filled_ledger(edited)
    carried = cycle.carry_forward(demo_ledger, prev, date=dt.date(2023, 6, 30))
    led = carried.ledger.set_index("key")
    for key, field, text in typed:
        cell = led.loc[key, field]
        if isinstance(cell, (dt.datetime, dt.date)):
            cell = cell.isoformat()[:10]
        assert str(cell) == text, (key, field, cell)
    again = write_ledger_xlsx(demo_ledger, tmp_path / "again.xlsx", demo_result.communities, carried=carried)
    assert not _missing(again, {(k, f): t for k, f, t in typed})


def _run_folder(folder, result, gaps):
    from circles._sheets import write_csv
    from circles.export import access_table, write_gaps_csv
    from circles.indicators import city_indicators

    folder.mkdir()
    write_gaps_csv(gaps, folder / "gaps.csv")
    write_csv(city_indicators(gaps, result.communities), folder / "indicators.csv")
    acc = access_table(result.residents, result.rulebook.types_used(), result.type_speed)
    write_csv(acc, folder / "access.csv")
    return folder


def test_acceptance_report_shows_the_change_between_two_runs(demo_result, tmp_path):
    """circles acceptance: an item made ok between the runs reads 已达标, the city's covered share
    changes by exactly the residents it gained, and the PDF has the before/after pages."""
    import subprocess

    from circles import acceptance
    from circles._labels import ACCEPTANCE_CHANGES
    from circles.cli import main

    before = demo_result.gaps
    after = before.copy()
    row = after.index[after["status"].isin(("gap", "partial", "unseen")) & (after["residents_uncovered"] > 0)][0]
    gained = float(after.at[row, "residents_uncovered"])
    rid = after.at[row, "rule_id"]
    after.at[row, "status"] = "ok"
    after.at[row, "residents_uncovered"] = 0
    after.at[row, "covered_share"] = 1.0
    b = _run_folder(tmp_path / "base", demo_result, before)
    a = _run_folder(tmp_path / "now", demo_result, after)
    acc = acceptance.acceptance(b, a)
    changed = acc.items[acc.items["change"] == ACCEPTANCE_CHANGES["now ok"]]
    assert len(changed) == 1 and changed.iloc[0]["rule_id"] == rid
    assert changed.iloc[0]["residents_newly_covered"] == pytest.approx(gained)
    city = acc.city.set_index("rule_id").loc[rid]
    assert city["residents_after"] - city["residents_before"] == pytest.approx(gained, abs=1)
    others = acc.city[acc.city["rule_id"] != rid]["covered_change"].dropna()
    assert (others.abs() < 1e-12).all()

    out = tmp_path / "acc"
    assert main(["acceptance", str(b), str(a), "--date", "2024-09-30", "--out", str(out)]) == 0
    wb = load_workbook(out / "acceptance.xlsx")
    assert len(wb.sheetnames) == 2
    text = subprocess.run(["pdftotext", str(out / "acceptance.pdf"), "-"], capture_output=True, text=True).stdout
    assert "基期" in text and "验收" in text and "已达标" in text
