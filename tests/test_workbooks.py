"""The workbooks written with XlsxWriter (issue 25) read back with openpyxl as the ledger and
gap report say: every cell's value from the DataFrame, the official styles, the sheet settings,
text never turned into a formula, the same bytes run to run; and the CSV tables written by
polars are the bytes pandas writes."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from circles import _sheets, export, ledger
from circles._labels import (
    ACTION_COLUMNS,
    COLUMNS_ZH,
    FILL_IN_BLOCK,
    LEDGER_BOOLEAN,
    OFFICIAL_COLUMNS,
    STATUS_FILL,
    STATUS_ZH,
    SURVEY_COLUMNS,
    YES_NO,
)


def _plain(v):
    """What a cell should hold for the DataFrame value ``v`` (computed here, not by circles)."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    return None if v == "" else v


def _fill(cell) -> str | None:
    return str(cell.fill.fgColor.rgb)[-6:] if cell.fill.fill_type == "solid" else None


@pytest.fixture(scope="module")
def demo_ledger_book(demo_result, tmp_path_factory):
    """The demo's ledger after a survey of four types: items that need action and items to survey."""
    import dataclasses

    from circles.gaps import compute_gaps

    surveyed = {"kindergarten", "clinic", "pharmacy", "convenience_store"}
    g = compute_gaps(demo_result.communities, demo_result.access, demo_result.rulebook, surveyed)
    led = ledger.ledger_for(dataclasses.replace(demo_result, gaps=g, surveyed=surveyed, ledger=None))
    path = tmp_path_factory.mktemp("wb") / "ledger.xlsx"
    ledger.write_ledger_xlsx(led, path, demo_result.communities, rulebook=demo_result.rulebook, date="2026年1月")
    return led, path, openpyxl.load_workbook(path)


@pytest.mark.parametrize(
    ("sheet", "shown", "actionable"), [("工作台账", ACTION_COLUMNS, True), ("待核实事项", SURVEY_COLUMNS, False)]
)
def test_official_sheet_cells_and_styles(demo_ledger_book, sheet, shown, actionable):
    """The items that need action on 工作台账, the other open items on 待核实事项, each below the
    填报 block (row 1) and an empty row, with its columns; every cell as the DataFrame says."""
    led, _, wb = demo_ledger_book
    ws = wb[sheet]
    items = ledger.open_items(led)
    items = items[items["status"].isin(ledger.ACTIONABLE) == actionable]
    cols = [c for c in shown if c not in ("street", "in_plan")]  # the demo knows no street, no plan
    assert [ws.cell(1, c).value for c in range(1, ws.max_column + 1) if ws.cell(1, c).value] == list(FILL_IN_BLOCK)
    assert all(c.value is None for c in ws[2])
    assert [c.value for c in ws[3]] == [OFFICIAL_COLUMNS[c] for c in cols]
    assert ws.max_row == 3 + len(items) and len(items) > 5
    gap_col = cols.index("gap") if "gap" in cols else None
    for i, rec in enumerate(items.to_dict("records")):
        row = ws[i + 4]
        for j, c in enumerate(cols):
            v = rec.get(c)
            if c == "no":
                want = i + 1
            elif c in LEDGER_BOOLEAN and isinstance(v, (bool, np.bool_)):
                want = YES_NO[bool(v)]
            else:
                want = _plain(v)
            assert row[j].value == want, (i, c)
            assert row[j].font.name == ledger.LEDGER_FONT and row[j].border.left.style == "thin"
            assert row[j].alignment.wrap_text
            if c == "residents_affected" and want is not None:
                assert row[j].number_format == "0"
        if gap_col is not None:
            assert _fill(row[gap_col]) == STATUS_FILL[rec["status"]]
        assert ws.row_dimensions[i + 4].height >= ledger.LINE_PT
    head = ws["A3"]
    assert head.font.b and head.font.name == ledger.LEDGER_FONT and _fill(head) == "DDEBF7"
    assert head.alignment.horizontal == "center"
    assert ws.freeze_panes == "A4"
    assert ws.auto_filter.ref == f"A3:{get_column_letter(len(cols))}{3 + len(items)}"
    assert ws.print_title_rows == "$3:$3"
    assert ws.oddHeader.right.text == "日期：2026年1月"


def test_data_sheet_follows_the_dataframe(demo_ledger_book):
    led, _, wb = demo_ledger_book
    ws = wb["数据 data"]
    assert [c.value for c in ws[1]] == list(led.columns)  # driven by the ledger's columns
    for i, rec in enumerate(led.to_dict("records")):
        for j, c in enumerate(led.columns):
            v = rec[c]
            want = YES_NO[bool(v)] if c in LEDGER_BOOLEAN and isinstance(v, (bool, np.bool_)) else _plain(v)
            assert ws.cell(row=i + 2, column=j + 1).value == want, (i, c)


def test_workbook_bytes_are_reproducible(demo_result, tmp_path):
    led = demo_result.ledger
    a = ledger.write_ledger_xlsx(led, tmp_path / "a.xlsx", demo_result.communities, date="x").read_bytes()
    b = ledger.write_ledger_xlsx(led, tmp_path / "b.xlsx", demo_result.communities, date="x").read_bytes()
    assert a == b
    with zipfile.ZipFile(io.BytesIO(a)) as z:
        assert len({i.date_time for i in z.infolist()}) == 1 and z.infolist()[0].date_time[0] == 1980
    g1 = export.write_gaps_xlsx(demo_result.gaps, tmp_path / "g1.xlsx").read_bytes()
    g2 = export.write_gaps_xlsx(demo_result.gaps, tmp_path / "g2.xlsx").read_bytes()
    assert g1 == g2


def test_formula_like_text_stays_text(demo_result, tmp_path):
    led = demo_result.ledger.copy()
    risky = ['=HYPERLINK("http://example.com","x")', "+1", "-2", "@SUM(A1)"]
    led.loc[led.index[:4], "community_name"] = risky
    ws = openpyxl.load_workbook(ledger.write_ledger_xlsx(led, tmp_path / "l.xlsx"))["数据 data"]
    col = list(led.columns).index("community_name") + 1
    for k, text in enumerate(risky):
        cell = ws.cell(row=k + 2, column=col)
        assert cell.value == text and cell.data_type == "s"
    gaps = demo_result.gaps.copy()
    gaps.loc[gaps.index[0], "community_name"] = risky[0]
    gs = openpyxl.load_workbook(export.write_gaps_xlsx(gaps, tmp_path / "g.xlsx"))["gaps"]
    cell = gs.cell(row=3, column=list(gaps.columns).index("community_name") + 1)
    assert cell.value == risky[0] and cell.data_type == "s"


def test_gaps_workbook_cells_and_settings(demo_result, tmp_path):
    gaps = demo_result.gaps
    ws = openpyxl.load_workbook(export.write_gaps_xlsx(gaps, tmp_path / "g.xlsx"))["gaps"]
    cols = list(gaps.columns)
    assert [c.value for c in ws[1]] == [COLUMNS_ZH.get(c, c) for c in cols]
    assert [c.value for c in ws[2]] == cols
    assert ws["A1"].font.b and ws["A2"].font.b
    s = cols.index("status")
    share = cols.index("covered_share")
    for i, rec in enumerate(gaps.itertuples(index=False)):
        row = ws[i + 3]
        for j, v in enumerate(rec):
            want = _plain(v)
            if j == s:
                want = f"{STATUS_ZH[v]} {v}"
                assert _fill(row[j]) == STATUS_FILL[v]
            assert row[j].value == want, (i, cols[j])
        if isinstance(row[share].value, float):
            assert row[share].number_format == "0.0%"
    assert ws.freeze_panes == "C3"
    assert ws.auto_filter.ref == f"A2:{get_column_letter(len(cols))}{2 + len(gaps)}"
    assert ws.print_title_rows == "$1:$2"
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9


# --------------------------------------------------------------------------------------------
# CSV: polars writes the bytes pandas writes
# --------------------------------------------------------------------------------------------


def _both(df: pd.DataFrame, tmp_path, monkeypatch) -> tuple[bytes, bytes, bool]:
    pytest.importorskip("polars")
    used = _sheets._polars_frame(_sheets.csv_safe(df)) is not None
    fast = _sheets.write_csv(df, tmp_path / "fast.csv").read_bytes()
    with monkeypatch.context() as m:
        m.setattr(_sheets, "_polars_frame", lambda df: None)
        slow = _sheets.write_csv(df, tmp_path / "slow.csv").read_bytes()
    return fast, slow, used


def test_csv_same_bytes_on_demo_tables(demo_result, tmp_path, monkeypatch):
    from circles import pipeline

    counts = pipeline.type_counts(demo_result.access, demo_result.rulebook)
    tables = {
        "access": export.access_table(
            demo_result.residents, demo_result.rulebook.types_used(), demo_result.type_speed, counts
        ),
        "gaps": demo_result.gaps,
        "ledger": demo_result.ledger,
        "facilities": export.facilities_table(demo_result.facilities),
    }
    for name, df in tables.items():
        fast, slow, used = _both(df, tmp_path, monkeypatch)
        assert used, name  # polars wrote it
        assert fast == slow, name
        assert fast.startswith(b"\xef\xbb\xbf") and b"\r\n" not in fast


def test_csv_same_bytes_on_awkward_values(tmp_path, monkeypatch):
    n = 12
    df = pd.DataFrame(
        {
            "f": [0.1 + 0.2, 1.0, 1e-05, 1.5e-4, 1e16, 2.5e22, -0.0, np.nan, 1 / 3, 5e-324, 123456.789, 100.0],
            "g": np.linspace(0, 1, n),
            "i": np.arange(n, dtype=np.int64) - 5,
            "b": [True, False] * 6,
            "s": ["a,b", 'q"x', "l\nm", "", "  x ", None, "中文", "=1+1", "-3", "x\r\ny", "é", "#"],
            "o": pd.Series([1, "x", 2.5, None, True, np.nan, 1e-7, "", "+a", "b", 3, "c"], dtype=object),
            "t": pd.Series(["x", None, "", "y"] * 3, dtype="string"),
        }
    )
    fast, slow, used = _both(df, tmp_path, monkeypatch)
    assert used
    assert fast == slow
    one, one_slow, used_one = _both(df[["s"]], tmp_path, monkeypatch)
    assert not used_one and one == one_slow  # one column: pandas writes it
    # a lone carriage return: pandas leaves it unquoted, polars would quote it: pandas writes it
    cr = df.assign(s=["a\rb"] + ["x"] * (n - 1))
    got, want, used_cr = _both(cr, tmp_path, monkeypatch)
    assert not used_cr and got == want


def test_control_characters_are_stripped(demo_result, tmp_path):
    """A control character a workbook cannot hold is removed (it stopped the whole run before),
    tab and line feed are kept."""
    gaps = demo_result.gaps.copy()
    col = list(gaps.columns).index("community_name") + 1
    gaps.loc[gaps.index[0], "community_name"] = "a\x01b\x0bc"
    ws = openpyxl.load_workbook(export.write_gaps_xlsx(gaps, tmp_path / "g.xlsx"))["gaps"]
    assert ws.cell(row=3, column=col).value == "abc"
    gaps.loc[gaps.index[0], "community_name"] = "tab\tand\nnew line"  # allowed: kept as they are
    ws = openpyxl.load_workbook(export.write_gaps_xlsx(gaps, tmp_path / "g.xlsx"))["gaps"]
    assert ws.cell(row=3, column=col).value == "tab\tand\nnew line"
