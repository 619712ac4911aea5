"""The monthly progress report (月报) of the leading group's office, from a filled ledger.

The Rugao plan's phase 3 asks the street office and every member unit to report each month
(每月…报送工作推进情况). :func:`progress_report` takes last month's filled ledger (and, when
given, a newer run whose analysis may close items) and counts, per community, per street and
per lead unit: open items, items overdue against their 完成时限 as of the report date,
items the unit reports done but the analysis has not yet confirmed, items closed this month
(销号) and in all, and the completion rate. :func:`write_progress` writes ``progress.xlsx``
(XlsxWriter) and ``progress.pdf`` (Matplotlib's PDF backend: a one-page summary, then one page
per lead unit with its open items).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import cycle
from ._labels import OFFICIAL_COLUMNS, PROGRESS_COLUMNS, PROGRESS_WORDS

__all__ = ["PROGRESS_WORDS", "Progress", "progress_report", "write_progress_pdf", "write_progress_xlsx"]
from .errors import InputError

if TYPE_CHECKING:  # _typeset imports Matplotlib: loaded only when the PDF is written
    from ._typeset import Table

log = logging.getLogger(__name__)

#: Columns of the item lists (open, overdue, closed this month), in order.
ITEM_COLUMNS = (
    "street",
    "community_name",
    "item_name",
    "lead_unit",
    "person_in_charge",
    "deadline",
    "progress",
    "state",
)
#: Counts of each group, in order.
COUNT_COLUMNS = ("open", "overdue", "reported_done", "closed_month", "closed_total", "rate")


@dataclass
class Progress:
    """The month's state of the ledger.

    Attributes
    ----------
    date : date
        The report date (items whose 完成时限 is before it and still open are overdue).
    items : DataFrame
        Every open item with ``state`` (逾期 / 已报完成，待核验 / 时限不明 / 进行中).
    closed : DataFrame
        Every item closed (销号), with ``closed_on``.
    by_street, by_community, by_unit : DataFrame
        :data:`COUNT_COLUMNS` per group.
    notes : list of str
        What was read and how (for the report's first page).
    """

    date: dt.date
    items: pd.DataFrame
    closed: pd.DataFrame
    by_street: pd.DataFrame
    by_community: pd.DataFrame
    by_unit: pd.DataFrame
    notes: list[str]

    def closed_this_month(self) -> pd.DataFrame:
        """Items closed from the first day of the report's month to the report date."""
        return cycle.closed_in(self.closed, self.date.replace(day=1), self.date)


def _run_ledger(run: str | Path) -> pd.DataFrame:
    path = Path(run) / "ledger.csv"
    if not path.is_file():
        raise InputError("no ledger.csv in this folder: give the output folder of a circles run", path=str(run))
    led = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    led["covered_share"] = pd.to_numeric(led.get("covered_share"), errors="coerce")
    return led


def _entries_ledger(previous: cycle.FilledLedger) -> pd.DataFrame:
    """A ledger made of the filled workbook's own rows (when it has no data sheet and no
    ``ledger.csv`` beside it): every row of its first table is an open item.
    """
    rows = []
    for e in previous.entries:
        if not e.open_sheet or e.key[0] == "row":
            continue
        cid, rid = (e.key[1], e.key[2]) if e.key[0] == "id" else ("", "")
        rows.append(
            {
                **{k: cycle._text(v) for k, v in e.cells.items() if not k.startswith("+")},
                "community_id": cid,
                "rule_id": rid,
                "status": "open",
                "covered_share": np.nan,
            }
        )
    led = pd.DataFrame(rows)
    for col in ("street", "community_name", "item_name", "lead_unit", "person_in_charge", "deadline", "progress"):
        if col not in led.columns:
            led[col] = ""
    led["remarks"] = led.get("remarks", "")
    return led


def _state(row: pd.Series, date: dt.date) -> str:
    due = cycle.parse_date(row["deadline"])
    if cycle._reported_done(row["progress"]):
        return PROGRESS_WORDS["reported_done"]
    if due is not None and due < date:
        return PROGRESS_WORDS["overdue"]
    if due is None and cycle._text(row["deadline"]):
        return PROGRESS_WORDS["unclear_deadline"]
    if not cycle._text(row["progress"]):
        return PROGRESS_WORDS["not_reported"]
    return PROGRESS_WORDS["under_way"]


#: Order of the states in the item lists: what needs the office's attention first.
STATE_ORDER = ("overdue", "unclear_deadline", "not_reported", "under_way", "reported_done")


def _counts(items: pd.DataFrame, closed: pd.DataFrame, month: pd.DataFrame, by: str) -> pd.DataFrame:
    keys = sorted(set(items[by].astype(str)) | set(closed.get(by, pd.Series(dtype=str)).astype(str)))
    rows = []
    for k in keys:
        it = items[items[by].astype(str) == k]
        n_closed = int((closed[by].astype(str) == k).sum()) if by in closed.columns else 0
        n_open = len(it)
        rows.append(
            {
                by: k,
                "open": n_open,
                "overdue": int((it["state"] == PROGRESS_WORDS["overdue"]).sum()),
                "reported_done": int((it["state"] == PROGRESS_WORDS["reported_done"]).sum()),
                "closed_month": int((month[by].astype(str) == k).sum()) if by in month.columns else 0,
                "closed_total": n_closed,
                "rate": n_closed / (n_closed + n_open) if n_closed + n_open else np.nan,
            }
        )
    df = pd.DataFrame(rows, columns=[by, *COUNT_COLUMNS])
    total = {by: PROGRESS_WORDS["total"], **{c: df[c].sum() for c in COUNT_COLUMNS if c != "rate"}}
    done, left = total["closed_total"], total["open"]
    total["rate"] = done / (done + left) if done + left else np.nan
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def progress_report(ledger: str | Path, *, date: dt.date, run: str | Path | None = None) -> Progress:
    """The month's progress from a filled ledger.

    Parameters
    ----------
    ledger : path
        Last month's filled ``ledger.xlsx`` (or its folder).
    date : date
        The report date.
    run : path, optional
        The output folder of a newer run: items it finds met are closed (销号) on ``date``.

    Returns
    -------
    Progress
    """
    previous = cycle.read_filled_ledger(ledger)
    notes = [PROGRESS_WORDS["read"].format(path=previous.path.name, n=len(previous.entries))]
    if run is not None:
        current = _run_ledger(run)
        notes.append(PROGRESS_WORDS["with_run"].format(path=Path(run).name))
    elif previous.generated is not None:
        current = previous.generated.copy()
        current["covered_share"] = pd.to_numeric(current.get("covered_share"), errors="coerce")
    else:
        current = _entries_ledger(previous)
        notes.append(PROGRESS_WORDS["no_data_sheet"])
    carried = cycle.carry_forward(current, previous, date=date)
    led = carried.ledger
    items = led[led["status"].isin(cycle.OPEN_STATUSES)].copy()
    for col in ITEM_COLUMNS[:-1]:
        items[col] = items[col].map(cycle._text) if col in items.columns else ""
    items["state"] = [_state(r, date) for _, r in items.iterrows()]
    rank = {PROGRESS_WORDS[k]: i for i, k in enumerate(STATE_ORDER)}
    items["_rank"] = items["state"].map(rank)
    items = items.sort_values("_rank", kind="stable").drop(columns="_rank").reset_index(drop=True)
    closed = carried.closed.copy()
    if "street" not in closed.columns or not closed["street"].astype(str).str.len().any():
        streets = dict(zip(led["key"].astype(str), led["street"].map(cycle._text), strict=True))
        closed["street"] = closed["key"].astype(str).map(streets).fillna("")
    month = cycle.closed_in(closed, date.replace(day=1), date)
    notes += carried.report[1:]  # the cells that could not be placed (the first line speaks of carrying)
    return Progress(
        date=date,
        items=items,
        closed=closed,
        by_street=_counts(items, closed, month, "street"),
        by_community=_counts(items, closed, month, "community_name"),
        by_unit=_counts(items, closed, month, "lead_unit"),
        notes=notes,
    )


# ----------------------------------------------------------------------------- writing


def _headers(cols: Sequence[str]) -> list[str]:
    heads = {**OFFICIAL_COLUMNS, **PROGRESS_COLUMNS}
    return [heads.get(c, c) for c in cols]


def write_progress_xlsx(p: Progress, path: str | Path) -> Path:
    """``progress.xlsx``: 汇总 (per street, per unit), 按社区, 逾期事项, 本月销号, 全部待办.

    Same content, same bytes (the document's date is fixed to the report date).
    """
    from .workbooks import Formats, new_workbook, report_formats, report_sheet, write_value

    path = Path(path)
    wb = new_workbook(path)
    wb.set_properties(
        {"title": PROGRESS_WORDS["title"], "created": dt.datetime.combine(p.date, dt.time()), "author": "circles"}
    )
    fmt = Formats(wb)
    f = report_formats(fmt)
    sheets = [
        (PROGRESS_WORDS["sheet_street"], p.by_street, ["street", *COUNT_COLUMNS]),
        (PROGRESS_WORDS["sheet_unit"], p.by_unit, ["lead_unit", *COUNT_COLUMNS]),
        (PROGRESS_WORDS["sheet_community"], p.by_community, ["community_name", *COUNT_COLUMNS]),
        (PROGRESS_WORDS["sheet_overdue"], p.items[p.items["state"] == PROGRESS_WORDS["overdue"]], list(ITEM_COLUMNS)),
        (PROGRESS_WORDS["sheet_closed"], p.closed_this_month(), list(cycle.CLOSED_COLUMNS[:-1])),
        (PROGRESS_WORDS["sheet_open"], p.items, list(ITEM_COLUMNS)),
    ]
    for name, df, cols in sheets:
        widths = [9 if c in COUNT_COLUMNS else (24 if c in ("progress", "closed_how", "remarks") else 14) for c in cols]
        ws = report_sheet(
            wb, fmt, name, _headers(cols), widths, title=PROGRESS_WORDS["title"], date=p.date.isoformat(), rows=len(df)
        )
        for i, rec in enumerate(df.reindex(columns=cols).itertuples(index=False), start=1):
            overdue = "state" in cols and rec[cols.index("state")] == PROGRESS_WORDS["overdue"]
            for j, (c, v) in enumerate(zip(cols, rec, strict=True)):
                if c == "rate":
                    write_value(ws, i, j, float(v) if pd.notna(v) else None, f["pct"])
                elif c in COUNT_COLUMNS:
                    write_value(ws, i, j, int(v), f["text"])
                else:
                    write_value(ws, i, j, cycle._text(v), f["late"] if overdue else f["text"])
    wb.close()
    return path


def _fmt(v: object, col: str) -> str:
    if col == "rate":
        num = float(v) if isinstance(v, (int, float, np.number)) else float("nan")
        return "—" if np.isnan(num) else f"{num * 100:.0f}%"
    return cycle._text(v)


def write_progress_pdf(p: Progress, path: str | Path) -> Path:
    """``progress.pdf``: a one-page summary, then one page (or more) per lead unit."""
    import matplotlib

    from . import _typeset
    from .report import pdf_font

    path = Path(path)
    family = _typeset.cjk_font()
    chars = set(PROGRESS_WORDS["title"] + "第页共/ 0123456789")
    for df in (p.items, p.by_street, p.by_unit, p.by_community):
        for v in df.astype(str).to_numpy().ravel():
            chars |= set(str(v))
    for words in (PROGRESS_WORDS, PROGRESS_COLUMNS, OFFICIAL_COLUMNS, dict(enumerate(p.notes))):
        for v in words.values():
            chars |= set(str(v))
    families = [pdf_font(family, chars), "DejaVu Sans"] if family else ["DejaVu Sans"]
    meta = {"Title": PROGRESS_WORDS["title"], "Creator": "circles", "CreationDate": None, "ModDate": None}
    with matplotlib.rc_context(_typeset.rc(families)):
        save_numbered(path, _pages(p, _typeset.Typesetter(families)), meta)
    return path


def save_numbered(path: Path, pages: Iterable[Any], meta: dict[str, Any]) -> None:
    """Save Matplotlib pages as one PDF, each with 第 n 页 / 共 N 页 at the foot (a reader of a
    many-page report finds and cites pages by number).
    """
    from matplotlib.backends.backend_pdf import PdfPages

    from ._labels import REPORT_LABELS

    figs = list(pages)
    with PdfPages(path, metadata=meta) as pdf:
        for n, fig in enumerate(figs, start=1):
            label = REPORT_LABELS["zh"]["page"].format(n=n, total=len(figs))
            fig.text(0.5, 0.015, label, ha="center", va="bottom", fontsize=8, color="#444")
            pdf.savefig(fig)


def _table(df: pd.DataFrame, cols: list[str], width: float, size: float) -> Table:
    from ._typeset import Table

    share = {"community_name": 1.2, "item_name": 1.4, "progress": 2.0, "lead_unit": 1.4, "street": 1.0}
    w = np.array([share.get(c, 0.8) for c in cols])
    widths = list(w / w.sum() * width)
    rows = [
        [_fmt(v, c) for c, v in zip(cols, r, strict=True)] for r in df.reindex(columns=cols).itertuples(index=False)
    ]
    fills = [
        ["#FFC7CE" if "state" in cols and r[cols.index("state")] == PROGRESS_WORDS["overdue"] else None] * len(cols)
        for r in rows
    ]
    align = ["right" if c in COUNT_COLUMNS else "left" for c in cols]
    return Table(_headers(cols), rows, widths, align=align, fills=fills, size=size)


def _pages(p: Progress, ts):
    """The report's pages as Matplotlib figures."""
    from ._typeset import A4_LANDSCAPE, MARGIN, Sheet

    def new_page(title: str, sub: str):
        sheet = Sheet(A4_LANDSCAPE, ts)
        y = MARGIN
        sheet.text(MARGIN, y, title, 15, fontweight="bold")
        y += 22
        sheet.text(MARGIN, y, sub, 9, color="#444")
        return sheet, y + 18

    width = A4_LANDSCAPE[0] * 72 - 2 * MARGIN
    bottom = A4_LANDSCAPE[1] * 72 - MARGIN
    title = PROGRESS_WORDS["title"]
    sub = PROGRESS_WORDS["as_of"].format(date=p.date.isoformat())
    sheet = Sheet(A4_LANDSCAPE, ts)
    sheet.text(MARGIN, MARGIN, title, 15, fontweight="bold")
    y = MARGIN + 22 + sheet.paragraph(MARGIN, MARGIN + 22, width, sub + "　" + "；".join(p.notes), 9, color="#444") + 8
    by = p.by_street if p.by_street["street"].astype(str).str.len().gt(0).iloc[:-1].any() else p.by_community
    key = "street" if by is p.by_street else "community_name"
    for df, cols in ((by, [key, *COUNT_COLUMNS]), (p.by_unit, ["lead_unit", *COUNT_COLUMNS])):
        t = _table(df, cols, width, 8.0)
        n = t.fit(ts, 0, bottom - y)
        y += t.draw(sheet, MARGIN, y, range(n)) + 14
    yield sheet.fig
    for unit, sub_items in p.items.groupby("lead_unit", sort=True):
        has_street = sub_items["street"].astype(str).str.len().gt(0).any()
        cols = [c for c in ITEM_COLUMNS if c != "lead_unit" and (c != "street" or has_street)]
        t = _table(sub_items, cols, width, 8.0)
        start = 0
        counts = p.by_unit[p.by_unit["lead_unit"] == unit].iloc[0]
        head = PROGRESS_WORDS["unit_line"].format(
            open=int(counts["open"]), overdue=int(counts["overdue"]), closed=int(counts["closed_month"])
        )
        while True:
            sheet, y = new_page(f"{PROGRESS_WORDS['unit']}{unit}", f"{sub}　{head}")
            n = max(1, t.fit(ts, start, bottom - y))
            t.draw(sheet, MARGIN, y, range(start, min(start + n, len(t.rows))))
            yield sheet.fig
            start += n
            if start >= len(t.rows):
                break
