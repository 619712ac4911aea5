"""The workbooks circles writes — the gap report (``gaps.xlsx``) and the ledger officials print
and sign (``ledger.xlsx``) — written with XlsxWriter, row by row (``constant_memory``).

openpyxl builds every cell as a Python object before it saves; XlsxWriter streams each row to
disk as it is written, about three times faster and in a fraction of the memory on a city's
ledger. openpyxl stays for reading people's workbooks (:mod:`circles._tables`).

The same content gives the same bytes: XlsxWriter stamps its zip entries with a fixed time, and
the document's dates are fixed here (:data:`DOC_DATE`). Text is always written as text — a
name such as ``=HYPERLINK(...)`` is never a formula (see :mod:`circles._sheets`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from xlsxwriter.worksheet import Worksheet

from ._labels import LEDGER_BOOLEAN, LEDGER_PERCENT, LEDGER_TITLES, STATUS_FILL, YES_NO
from ._sheets import cell_value, column_lists

log = logging.getLogger(__name__)

#: Creation and modification date written into every workbook (a fixed date keeps the bytes
#: the same from run to run; the page header carries the ledger's own date).
DOC_DATE = dt.datetime(2000, 1, 1)
#: Spreadsheet default font size (points) for text without a font of its own.
DEFAULT_PT = 11


# --------------------------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------------------------


def new_workbook(path: str | Path) -> xlsxwriter.Workbook:
    """An XlsxWriter workbook at ``path`` that streams rows (``constant_memory``), never turns
    text into formulas, numbers or links, and carries the fixed :data:`DOC_DATE`.
    """
    wb = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
        },
    )
    wb.set_properties({"created": DOC_DATE})
    return wb


class Formats:
    """The cell formats of one workbook, made once per distinct set of properties."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.wb = wb
        self._made: dict[tuple, Any] = {}

    def get(self, **props: Any) -> Any:
        """The format with ``props`` (XlsxWriter's format properties), or None for no format."""
        if not props:
            return None
        key = tuple(sorted(props.items()))
        if key not in self._made:
            self._made[key] = self.wb.add_format(dict(props))
        return self._made[key]


def write_value(ws: Worksheet, row: int, col: int, v: Any, fmt: Any = None) -> None:
    """Write one plain value (see :func:`circles._sheets.cell_value`): text always as text,
    booleans as booleans, numbers as numbers, empty (None or empty text) as a (formatted) blank.
    """
    if v is None or (isinstance(v, str) and not v):
        if fmt is not None:
            ws.write_blank(row, col, None, fmt)
    elif isinstance(v, str):
        if not v.isprintable():  # control characters a workbook cannot hold (issue 20); tested first in C
            v = ILLEGAL_CHARACTERS_RE.sub("", v)
        ws.write_string(row, col, v, fmt)
    elif isinstance(v, bool):
        ws.write_boolean(row, col, v, fmt)
    elif isinstance(v, (int, float)):
        ws.write_number(row, col, v, fmt)
    elif isinstance(v, (dt.datetime, dt.date)):
        ws.write_datetime(row, col, v, fmt)
    else:
        ws.write_string(row, col, str(v), fmt)


def write_row(ws: Worksheet, row: int, values: Sequence[Any], formats: Sequence[Any] | None = None) -> None:
    """Write ``values`` (already plain, :func:`circles._sheets.cell_value`) from column A."""
    for j, v in enumerate(values):
        write_value(ws, row, j, v, formats[j] if formats is not None else None)


def set_width(ws: Worksheet, col: int, width: float, hidden: bool = False) -> None:
    """Set column ``col`` to the stored width ``width`` (as openpyxl stores it; XlsxWriter adds
    its 5-pixel cell padding to the width it is given, taken off here); ``hidden`` hides it.
    """
    ws.set_column(col, col, width - 5 / 7 if width > 1 + 5 / 7 else width, None, {"hidden": hidden})


def _header_text(text: str) -> str:
    """Text for a page header or footer: '&' starts a code there and is doubled."""
    return str(text).replace("&", "&&")


def print_setup(
    ws: Worksheet,
    title: str,
    subtitle: str = "",
    *,
    date: str | None = None,
    header_rows: int = 1,
    first_row: int = 0,
    fit_width: bool = True,
) -> None:
    """Print settings of a sheet meant for paper: A4 landscape, fitted to one page wide (as many
    pages tall as needed), ``header_rows`` rows from ``first_row`` repeated on every page, a page header
    with the title (left), the subtitle (centre) and the date (right: ``date``, or the print
    date), and the page number with the page count in the footer. Without ``fit_width`` the
    sheet prints at full size, across as many pages as its page breaks say.
    """
    ws.set_paper(9)  # A4
    ws.set_landscape()
    if fit_width:
        ws.fit_to_pages(1, 0)
    if header_rows:
        ws.repeat_rows(first_row, first_row + header_rows - 1)
    ws.set_margins(left=0.3, right=0.3, top=0.7, bottom=0.6)
    ws.center_horizontally()
    right = f"{LEDGER_TITLES['date']}{_header_text(date)}" if date else LEDGER_TITLES["print_date"]
    header = f"&L&10 {_header_text(title)}&C&10 {_header_text(subtitle)}&R&9 {right}"
    ws.set_header(header, {"margin": 0.3})
    ws.set_footer(f"&C&9 {LEDGER_TITLES['footer']}", {"margin": 0.3})


def report_formats(fmt: Formats) -> dict[str, Any]:
    """The cell formats of the report workbooks (progress, acceptance): a shaded header, wrapped
    text, shares as percentages, whole numbers, and a red fill for overdue rows.
    """
    cell = {"border": 1, "valign": "top"}
    return {
        "head": fmt.get(bold=True, bg_color="#DDEBF7", border=1, text_wrap=True, valign="vcenter"),
        "text": fmt.get(**cell, text_wrap=True),
        "pct": fmt.get(**cell, num_format="0.0%"),
        "num": fmt.get(**cell, num_format="#,##0"),
        "late": fmt.get(**cell, text_wrap=True, bg_color="#FFC7CE"),
    }


def report_sheet(
    wb: xlsxwriter.Workbook,
    fmt: Formats,
    name: str,
    headers: Sequence[str],
    widths: Sequence[float],
    *,
    title: str,
    date: str,
    rows: int,
) -> Worksheet:
    """A sheet of a report workbook (progress, acceptance): the header row, column widths,
    frozen and filtered under the header (``rows`` rows follow), printed like the ledger (A4
    landscape, one page wide, the header row on every page, title / sheet / date above, page
    numbers below). The caller writes the rows.
    """
    ws = wb.add_worksheet(name)
    for j, w in enumerate(widths):
        set_width(ws, j, w)
    write_row(ws, 0, list(headers), [report_formats(fmt)["head"]] * len(headers))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(1, rows), _last_col(len(headers)))
    print_setup(ws, title, name, date=date)
    return ws


def _last_col(n_cols: int) -> int:
    return max(0, n_cols - 1)


# --------------------------------------------------------------------------------------------
# The gap report
# --------------------------------------------------------------------------------------------


def _gaps_width(c: str, headers: Mapping[str, str]) -> float:
    return 60 if c == "evidence" else min(40, max(10, len(headers.get(c, c)) * 2 + 2, len(c) + 2))


def write_gaps_workbook(
    gaps: pd.DataFrame,
    path: str | Path,
    *,
    headers: Mapping[str, str],
    status_zh: Mapping[str, str],
    print_title: str,
    title: str = "gaps",
) -> Path:
    """The gap report as one sheet: Chinese headers (``headers``), English keys below, frozen
    at C3, filtered, status cells coloured (``status_zh`` names the statuses), shares as
    percentages, set up for A4 landscape.
    """
    path = Path(path)
    wb = new_workbook(path)
    fmt = Formats(wb)
    ws = wb.add_worksheet(title[:31])
    cols = list(gaps.columns)
    for j, c in enumerate(cols):
        set_width(ws, j, _gaps_width(c, headers))
    bold = fmt.get(bold=True, text_wrap=True, valign="top")
    write_row(ws, 0, [headers.get(c, c) for c in cols], [bold] * len(cols))
    write_row(ws, 1, cols, [bold] * len(cols))
    status_col = cols.index("status") if "status" in cols else None
    percent = {i for i, c in enumerate(cols) if c in ("covered_share", "covered_share_adequate")}
    share = fmt.get(num_format="0.0%")
    for r, rec in enumerate(zip(*column_lists(gaps), strict=True), start=2):
        for j, v in enumerate(rec):
            v = cell_value(v)
            f = None
            if j == status_col:
                f = fmt.get(pattern=1, bg_color="#" + STATUS_FILL.get(v, "FFFFFF"))
                if v in status_zh:
                    v = f"{status_zh[v]} {v}"
            elif j in percent and isinstance(v, (int, float)):
                f = share
            write_value(ws, r, j, v, f)
    ws.freeze_panes(2, 2)
    ws.autofilter(1, 0, 1 + len(gaps), _last_col(len(cols)))
    print_setup(ws, print_title, header_rows=2)
    wb.close()
    return path


# --------------------------------------------------------------------------------------------
# The ledger (工作台账)
# --------------------------------------------------------------------------------------------


def _lines(value: Any, width: float) -> int:
    """Lines a wrapped cell needs at the ledger's font size in a column ``width`` characters
    wide (a CJK character is about ``CJK_UNITS`` width units, other characters about one).
    """
    if value is None or value == "":
        return 1
    return _text_lines(str(value), float(width))


@functools.lru_cache(maxsize=1 << 16)
def _text_lines(text: str, width: float) -> int:
    """:func:`_lines` of a text (cached: a city's ledger repeats the same texts in every
    community).
    """
    from .ledger import CJK_UNITS

    per_line = max(1.0, width - 0.8)
    n = 0
    for part in text.split("\n"):
        w = sum(CJK_UNITS if ord(ch) >= 0x2E80 else 1.05 for ch in part)
        n += max(1, math.ceil(w / per_line))
    return n


def _row_height(values: Sequence[Any], widths: Sequence[float]) -> float:
    """Row height (points) that shows every wrapped line (spreadsheets do not grow rows on
    opening).
    """
    from .ledger import LINE_PT, MAX_ROW_PT

    lines = max((_lines(v, w) for v, w in zip(values, widths, strict=True)), default=1)
    return min(MAX_ROW_PT, 3 + LINE_PT * lines)


def _ledger_value(key: str, v: Any) -> Any:
    """A ledger value as the official sheets show it (booleans as 是/否), made plain."""
    if key in LEDGER_BOOLEAN and isinstance(v, (bool, np.bool_)):
        return YES_NO[bool(v)]
    return cell_value(v)


def _official_formats(fmt: Formats) -> dict[str, Any]:
    from .ledger import FONT_PT, LEDGER_FONT

    base = {"font_name": LEDGER_FONT, "font_size": FONT_PT, "border": 1, "border_color": "#808080"}
    wrap = {"text_wrap": True, "valign": "top"}
    out = {
        "head": fmt.get(
            **base, bold=True, text_wrap=True, valign="vcenter", align="center", pattern=1, bg_color="#DDEBF7"
        ),
        "text": fmt.get(**base, **wrap),
        "number": fmt.get(**base, **wrap, align="center"),
        "count": fmt.get(**base, **wrap, align="center", num_format="0"),
    }
    for k, v in STATUS_FILL.items():
        out[f"status_{k}"] = fmt.get(**base, **wrap, pattern=1, bg_color="#" + v)
    return out


#: Columns of the official sheets that are written but hidden (not printed): the 台账编号 that
#: ties a filled ledger's row to next month's (:mod:`circles.cycle`); unhiding it is harmless.
HIDDEN_COLUMNS = ("key",)


def official_table(
    ws: Worksheet,
    fmt: Formats,
    df: pd.DataFrame,
    cols: list[str],
    headers: Mapping[str, str],
    widths: Mapping[str, float],
    *,
    fill_in: bool = False,
) -> int:
    """One header row of Chinese headers, then the rows; status fill on 缺口, wrapped text,
    rows as tall as their text, frozen under the header, filtered. With ``fill_in`` the
    填报单位 / 填报人 / 联系电话 / 填报日期 block comes first (row 1, then an empty row), above
    the header. Returns the header's (0-based) row. A column with a negative width is hidden
    (the 台账编号 always is).
    """
    from .ledger import NUMERIC

    f = _official_formats(fmt)
    w = [abs(float(widths.get(c, 8))) for c in cols]
    # hidden (never making a row taller): the 台账编号, and a column given a negative width
    shown = [c not in HIDDEN_COLUMNS and float(widths.get(c, 8)) > 0 for c in cols]
    for j, width in enumerate(w):
        set_width(ws, j, width, hidden=not shown[j])
    w_shown = [width for width, s in zip(w, shown, strict=True) if s]
    top = _fill_in_block(ws, fmt, w, [not s for s in shown]) if fill_in else 0
    head = [headers.get(c, c) for c in cols]
    ws.set_row(top, _row_height(head, w))
    write_row(ws, top, head, [f["head"]] * len(cols))
    col_fmt = [f["number"] if c in NUMERIC else f["text"] for c in cols]
    fill_col = cols.index("gap") if "gap" in cols else None
    statuses = list(df["status"]) if "status" in df.columns else None
    for i, rec in enumerate(zip(*column_lists(df, cols), strict=True)):
        values = [i + 1 if c == "no" else _ledger_value(c, v) for c, v in zip(cols, rec, strict=True)]
        formats = [
            f["count"] if c == "residents_affected" and v is not None else cf
            for c, v, cf in zip(cols, values, col_fmt, strict=True)
        ]
        if fill_col is not None and statuses is not None:
            formats[fill_col] = f.get(f"status_{statuses[i]}", f["text"])
        ws.set_row(top + i + 1, _row_height([v for v, s in zip(values, shown, strict=True) if s], w_shown))
        write_row(ws, top + i + 1, values, formats)
    ws.freeze_panes(top + 1, 0)
    ws.autofilter(top, 0, top + len(df), _last_col(len(cols)))
    return top


def _fill_in_block(ws: Worksheet, fmt: Formats, widths: Sequence[float], hidden: Sequence[bool]) -> int:
    """The 填报单位 / 填报人 / 联系电话 / 填报日期 line in row 1 (each label at the start of a
    merged, underlined stretch of the page's columns: about a quarter of the width each, 填报单位
    the widest), an empty row below it; returns the next free row (2).
    """
    from ._labels import FILL_IN_BLOCK
    from .ledger import FONT_PT, LEDGER_FONT

    shown = [j for j, h in enumerate(hidden) if not h]
    total = sum(widths[j] for j in shown)
    share = (0.34, 0.22, 0.22, 0.22)  # of the printed width; 填报单位 names a unit, the widest
    cum = list(itertools.accumulate(widths[j] for j in shown))
    ends: list[int] = []  # the last shown column (index into ``shown``) of each stretch
    for k in range(1, min(len(share), len(shown))):
        want = total * sum(share[:k])
        lo = ends[-1] + 1 if ends else 0
        hi = len(shown) - 1 - (min(len(share), len(shown)) - k)  # leave a column for each stretch after
        ends.append(min(hi, max(lo, next(n for n, c in enumerate(cum) if c >= want))))
    ends.append(len(shown) - 1)
    spans = [(shown[a + 1], shown[b]) for a, b in zip([-1, *ends], ends, strict=False)]
    cell = fmt.get(font_name=LEDGER_FONT, font_size=FONT_PT + 1, bottom=1, valign="bottom")
    ws.set_row(0, 3 + 1.6 * 15)
    for label, (a, b) in zip(FILL_IN_BLOCK, spans, strict=False):
        if a == b:
            ws.write_string(0, a, label, cell)
        else:
            ws.merge_range(0, a, 0, b, label, cell)
    return 2


def data_table(ws: Worksheet, fmt: Formats, df: pd.DataFrame) -> None:
    """Every column with its English key as the header: shares as percentages, booleans 是/否."""
    from .ledger import DATA_WIDE

    cols = list(df.columns)
    w = [24.0 if c in DATA_WIDE else 10.0 for c in cols]
    for j, width in enumerate(w):
        set_width(ws, j, width)
    ws.set_row(0, _row_height(cols, w))
    write_row(ws, 0, cols, [fmt.get(bold=True)] * len(cols))
    text = fmt.get(text_wrap=True, valign="top")
    percent = fmt.get(text_wrap=True, valign="top", num_format="0.0%")
    for i, rec in enumerate(df.to_dict("records"), start=1):
        values = [_ledger_value(c, rec.get(c)) for c in cols]
        formats = [
            percent if c in LEDGER_PERCENT and isinstance(v, (int, float)) else text
            for c, v in zip(cols, values, strict=True)
        ]
        ws.set_row(i, _row_height(values, w))
        write_row(ws, i, values, formats)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(df), _last_col(len(cols)))


def notes_table(ws: Worksheet, fmt: Formats, lines: Iterable[tuple[str, str]]) -> None:
    """The 说明 sheet: two wrapped columns, the first line as a title."""
    w = [34.0, 90.0]
    set_width(ws, 0, w[0])
    set_width(ws, 1, w[1])
    wrap = fmt.get(text_wrap=True, valign="top")
    first = fmt.get(text_wrap=True, valign="top", bold=True, font_size=13)
    for i, (a, b) in enumerate(lines):
        values = [cell_value(a), cell_value(b)]
        ws.set_row(i, _row_height(values, w))
        write_row(ws, i, values, [first if i == 0 else wrap, wrap])


def _cycle_sheets(wb: xlsxwriter.Workbook, fmt: Formats, carried: Any, title: str, date: str | None) -> None:
    """The 已销号 and 保留的填报 sheets of a carried ledger (written empty or not, so that next
    month's reading finds them).
    """
    from . import ledger as lg
    from ._labels import CYCLE_COLUMNS, CYCLE_WORDS, OFFICIAL_COLUMNS
    from .cycle import CLOSED_COLUMNS, KEPT_COLUMNS

    headers = {**OFFICIAL_COLUMNS, **CYCLE_COLUMNS}
    widths = {
        **lg.OFFICIAL_WIDTHS,
        "closed_on": 8,
        "closed_how": 16,
        "kept_reason": 16,
        "source_cell": 9,
        "entries": 30,
    }
    for name, df, cols in (
        (CYCLE_WORDS["closed_sheet"], carried.closed, list(CLOSED_COLUMNS)),
        (CYCLE_WORDS["kept_sheet"], carried.kept, list(KEPT_COLUMNS)),
    ):
        sh = wb.add_worksheet(name)
        official_table(sh, fmt, df, ["no", *cols], headers, widths)
        print_setup(sh, title, f"{title}（{name}）", date=date)


def _pilot_ids(ledger: pd.DataFrame, communities: pd.DataFrame, pilot: Any) -> list[str]:
    """Each community's pilot id as the ledger recorded it: a pilot community's rows (matched by
    name and place when the ledger was made) say whether the plan covers them (``in_plan`` is
    是/否), other communities' rows leave it empty.
    """
    matched = {str(i) for i in ledger.loc[ledger["in_plan"].notna(), "community_id"]}
    out = []
    for i, name in zip(communities["id"].astype(str), communities["name"], strict=True):
        c = pilot.match_name(name) if i in matched else None
        out.append(c.id if c is not None else "")
    return out


def reference_table(ledger: pd.DataFrame) -> pd.DataFrame:
    """The 标准要求与依据 sheet's rows: one per item and requirement text (the texts the printed
    sheets leave out), in the items' order, with the communities it applies to when a text
    differs between communities.
    """
    from ._labels import REFERENCE_COLUMNS

    cols = ["category_zh", "item_name", "requirement", "basis"]
    if not len(ledger):
        return pd.DataFrame(columns=list(REFERENCE_COLUMNS))
    df = ledger[[*cols, "community_name"]].astype(str)
    grouped = df.groupby(cols, sort=False)["community_name"].agg(lambda x: "、".join(dict.fromkeys(x)))
    out = grouped.reset_index().rename(columns={"community_name": "communities"})
    several = out.groupby("item_name", sort=False)["item_name"].transform("size") > 1
    out.loc[~several, "communities"] = ""  # the same text for every community: no list needed
    out.insert(0, "no", range(1, len(out) + 1))
    return out[list(REFERENCE_COLUMNS)]


#: Widths (Excel characters) of the 标准要求与依据 and 居民意见 sheets.
REFERENCE_WIDTHS = {"no": 4, "category_zh": 8, "item_name": 12, "requirement": 60, "basis": 50, "communities": 20}
OPINION_WIDTHS = {"community_name": 12, "item_name": 12, "texts": 70}


def _opinion_sheet(wb: xlsxwriter.Workbook, fmt: Formats, opinions: pd.DataFrame, title: str, date: str | None) -> None:
    """The 居民意见 sheet: per community and item, the count of each kind of note and the texts."""
    from ._labels import OPINION_COLUMNS

    counts = [c for c in opinions.columns if c not in (*OPINION_COLUMNS, "community_id", "rule_id")]
    cols = ["no", "community_name", "item_name", *counts, "texts"]
    heads = {"no": "序号", **OPINION_COLUMNS, **{c: str(c) for c in counts}}
    widths = {**OPINION_WIDTHS, "no": 4, **{c: 8 for c in counts}}
    sh = wb.add_worksheet(LEDGER_TITLES["opinions"])
    official_table(sh, fmt, opinions, cols, heads, widths)
    print_setup(sh, title, f"{title}（{LEDGER_TITLES['opinions']}）", date=date)


#: Widths of the 实施项目清单 (phase, month and write-in columns: 10-11 characters to write in).
PROJECT_WIDTHS = {"no": 4, "community_name": 12, "project_no": 5, "content": 20, "items": 9, "investment_wan": 7}
#: Write-in width of the 实施项目清单's phase and person columns (a date, a name).
PROJECT_WRITE_WIDTH = 10
#: Width of a month's 推进情况 (a short sentence).
PROJECT_MONTH_WIDTH = 11


def _project_sheet(
    wb: xlsxwriter.Workbook, fmt: Formats, ledger: pd.DataFrame, pilot: Any, carried: Any, date: str | None
) -> list:
    """The 实施项目清单 sheet (:mod:`circles.projects`), last month's entries carried; returns the
    entries it could not place (for the 保留的填报 sheet).

    Every reporting month has its 推进情况 column; the ledger's own month (``date``, default
    today, held to the reporting months) is shown and printed beside the project, its 推进序时
    and people, one page wide; the other months are hidden columns (their entries are kept
    and carried every month; unhide them to see or print them).
    """
    from . import projects as pj
    from ._labels import PROJECT_WORDS

    months = pj.ledger_months(ledger, pilot, date)
    heads = pj.project_headers(pilot, months, dated=pj.is_pilot_ledger(ledger))
    table = pj.project_table(ledger, pilot, months)
    kept: list = []
    if carried is not None and carried.projects:
        table, kept = pj.carry_projects(table, carried.projects, heads)
    added = [c for c in table.columns if str(c).startswith("+")]
    cols = [c for c in heads if c != "key"] + added + ["key"]
    widths = {
        c: PROJECT_WIDTHS.get(c, PROJECT_MONTH_WIDTH if c.startswith("month_") else PROJECT_WRITE_WIDTH) for c in cols
    }
    widths["key"] = 9
    shown = pj.month_key(pj.current_month(months, date))
    for c in cols:
        if c.startswith("month_") and c != shown:
            widths[c] = -widths[c]  # hidden
    ws = wb.add_worksheet(PROJECT_WORDS["sheet"])
    top = official_table(ws, fmt, table, cols, {**heads, **{c: c[1:] for c in added}}, widths, fill_in=True)
    title = LEDGER_TITLES["title"]
    print_setup(ws, title, f"{title}（{PROJECT_WORDS['sheet']}）", date=date, first_row=top)
    return kept


def _ledger_communities(ledger: pd.DataFrame, communities: pd.DataFrame | None, pilot: Any) -> pd.DataFrame:
    """The communities of the ledger (from its rows when not given), with the pilot id each
    matched when the ledger was made.
    """
    if communities is None:
        communities = (
            ledger[["community_id", "community_name"]]
            .drop_duplicates()
            .rename(columns={"community_id": "id", "community_name": "name"})
        )
        communities["population"] = np.nan
    if "pilot_id" not in communities.columns and "in_plan" in ledger.columns:
        # the ledger says which communities matched a pilot community (by name and place) when made
        communities = communities.assign(pilot_id=_pilot_ids(ledger, communities, pilot))
    return communities


def _fill_in_columns(
    ledger: pd.DataFrame, carried: Any
) -> tuple[pd.DataFrame, list[str], list[str], Mapping[str, str]]:
    """The ledger to write (the carried one, when last month's is carried), the columns of the
    工作台账 and 待核实事项 sheets and their headers: 街道 when known, the plan's columns in a pilot
    run; with ``carried``, 台账变化 after 事项 and the columns people added before the hidden key.
    """
    from . import ledger as lg
    from ._labels import ACTION_COLUMNS, CYCLE_COLUMNS, OFFICIAL_COLUMNS, SURVEY_COLUMNS

    act_cols = lg.shown_columns(ledger, ACTION_COLUMNS)
    survey_cols = lg.shown_columns(ledger, SURVEY_COLUMNS)
    if carried is None:
        return ledger, act_cols, survey_cols, OFFICIAL_COLUMNS
    ledger = carried.ledger
    added = [str(c) for c in ledger.columns if str(c).startswith("+")]  # columns people added
    for cols in (act_cols, survey_cols):
        cols.insert(cols.index("item_name") + 1, "ledger_change")
        cols[-1:-1] = added  # before the hidden key
    return ledger, act_cols, survey_cols, {**OFFICIAL_COLUMNS, **CYCLE_COLUMNS, **{c: c[1:] for c in added}}


def _fill_in_sheets(
    wb: xlsxwriter.Workbook,
    fmt: Formats,
    ledger: pd.DataFrame,
    columns: tuple[list[str], list[str]],
    heads: Mapping[str, str],
    date: str | None,
) -> None:
    """工作台账 (the open items that need action) and 待核实事项 (the other open items), each
    under its 填报 block.
    """
    from . import ledger as lg

    title = LEDGER_TITLES["title"]
    open_rows = lg.open_items(ledger)
    action = open_rows["status"].isin(lg.ACTIONABLE)
    for name, rows, cols, widths, sub in (
        ("ledger", open_rows[action], columns[0], lg.ACTION_WIDTHS, "需行动事项"),
        ("survey", open_rows[~action], columns[1], lg.SURVEY_WIDTHS, LEDGER_TITLES["survey"]),
    ):
        ws = wb.add_worksheet(LEDGER_TITLES[name])
        top = official_table(ws, fmt, rows.reset_index(drop=True), cols, heads, widths, fill_in=True)
        print_setup(ws, title, f"{title}（{sub}）", date=date, first_row=top)


def _reference_sheets(
    wb: xlsxwriter.Workbook, fmt: Formats, ledger: pd.DataFrame, communities: pd.DataFrame, date: str | None
) -> None:
    """汇总 (one row per community) and 标准要求与依据 (the long texts, one row per item)."""
    from . import ledger as lg
    from ._labels import REFERENCE_COLUMNS, SUMMARY_COLUMNS

    title = LEDGER_TITLES["title"]
    summary = lg.ledger_summary(ledger, communities)
    scols = lg.shown_columns(ledger, SUMMARY_COLUMNS)
    sh = wb.add_worksheet(LEDGER_TITLES["summary"])
    official_table(sh, fmt, summary, scols, SUMMARY_COLUMNS, lg.SUMMARY_WIDTHS)
    print_setup(sh, title, f"{title}（汇总）", date=date)
    ref = wb.add_worksheet(LEDGER_TITLES["reference"])
    official_table(ref, fmt, reference_table(ledger), list(REFERENCE_COLUMNS), REFERENCE_COLUMNS, REFERENCE_WIDTHS)
    print_setup(ref, title, f"{title}（{LEDGER_TITLES['reference']}）", date=date)


def _data_sheet(
    wb: xlsxwriter.Workbook, fmt: Formats, ledger: pd.DataFrame, communities: pd.DataFrame, date: str | None
) -> None:
    """The hidden 数据 data sheet (read back by the cycle, never printed); none for a city of
    more than :data:`circles.ledger.MAX_COMMUNITY_SHEETS` communities (ledger.csv has every row).
    """
    from . import ledger as lg

    if len(communities) > lg.MAX_COMMUNITY_SHEETS:
        log.info(
            "ledger.xlsx: %d communities, more than %d: no data sheet (ledger.csv has every row)",
            len(communities),
            lg.MAX_COMMUNITY_SHEETS,
        )
        return
    title = LEDGER_TITLES["title"]
    data = wb.add_worksheet(LEDGER_TITLES["data"])
    data_table(data, fmt, ledger)
    print_setup(data, title, f"{title}（数据）", date=date)
    data.hide()


def write_ledger_workbook(
    ledger: pd.DataFrame,
    path: str | Path,
    communities: pd.DataFrame | None = None,
    *,
    rulebook: Any = None,
    pilot: Any = None,
    date: str | None = None,
    carried: Any = None,
    opinions: pd.DataFrame | None = None,
) -> Path:
    """The ledger as the workbook officials print, fill in and sign.

    Sheets, in order: 工作台账 (the items that need action — gap, partial, undersized — of all
    communities, one row each, with blank columns at least 12 characters wide for 责任人 /
    完成时限 / 推进情况 / 投资估算), 待核实事项 (the other open items: to survey, to assess, to
    verify, with a 核实结果 column), 汇总 (one row per community), 标准要求与依据 (the long
    reference texts, one row per item), 居民意见 (residents' notes, when ``opinions`` is given:
    :func:`circles.opinions.opinions_table`), 数据 data (every column of the ledger with its
    English key, as in ``ledger.csv``: a hidden sheet, never printed) and 说明. The two sheets
    people fill in start with a 填报单位 / 填报人 / 联系电话 / 填报日期 line above the header.
    Every printed sheet: A4 landscape, one page wide, header row on every page, a page header
    with the title and the date (``date``, default the print date) and page numbers. Text from
    the inputs is stored as text, never as a formula.

    There is no sheet per community: each row is written once, so that it is filled in once
    (the same row on two sheets invites two different entries for one item), and the printed
    ledger stays short; a community's rows print from either sheet filtered by 社区.

    With ``carried`` (:func:`circles.cycle.carry_forward`: last month's filled ledger carried
    into this one) the official sheets gain a 台账变化 column (新增 / 延续 / 销号 …), and two
    sheets follow the reference sheet: 已销号 (items closed, this month's and earlier ones)
    and 保留的填报 (entries with no row in this ledger, with the reason).
    """
    from . import ledger as lg

    path = Path(path)
    pilot = pilot if pilot is not None else lg.load_pilot()
    communities = _ledger_communities(ledger, communities, pilot)
    ledger, act_cols, survey_cols, heads = _fill_in_columns(ledger, carried)
    title = LEDGER_TITLES["title"]
    wb = new_workbook(path)
    fmt = Formats(wb)
    _fill_in_sheets(wb, fmt, ledger, (act_cols, survey_cols), heads, date)
    kept_projects = _project_sheet(wb, fmt, ledger, pilot, carried, date)
    _reference_sheets(wb, fmt, ledger, communities, date)
    if opinions is not None:
        _opinion_sheet(wb, fmt, opinions, title, date)
    if carried is not None:
        if kept_projects:
            carried = dataclasses.replace(carried, kept=pd.concat([carried.kept, pd.DataFrame(kept_projects)]))
        _cycle_sheets(wb, fmt, carried, title, date)
    _data_sheet(wb, fmt, ledger, communities, date)
    notes = wb.add_worksheet(LEDGER_TITLES["notes"])
    notes_table(notes, fmt, lg._notes(ledger, communities, rulebook, pilot))
    print_setup(notes, title, f"{title}（说明）", date=date, header_rows=0)
    wb.close()
    return path
