"""The ledger's month-to-month cycle: read back a ledger people filled in, carry what they wrote
into the next run's ledger, close (销号) the items now met and keep every entry.

The Rugao plan's phase 3 (协同推进，定期调度) has the street office and every member unit report
each month on the ledger (每月…报送工作推进情况). circles writes a fresh ledger on every run;
this module makes sure nothing the officials wrote in the previous one is lost:

- :func:`read_filled_ledger` reads a filled ``ledger.xlsx`` (or a previous output folder) with
  openpyxl. It finds the ledger tables by their headers, not by sheet names or column
  positions, so re-sorted or filtered rows, hidden or moved columns, renamed sheets and extra
  columns are read as well. Every row becomes an :class:`Entry` keyed by its 台账编号 (community
  id and rule id) or, for a workbook without that column, by 社区 and 事项.
- :func:`carry_forward` puts each entry's write-in cells (责任人, 完成时限, 推进情况, 投资估算,
  备注, 核实结果, and any column people added) on the new ledger's row of the same key, marks
  new open items 新增, moves items the new run finds met to the 已销号 table (with the date and
  the measured change of the covered share) and keeps every entry that has no row any more, or
  that could not be placed, on a table of its own with the reason.

Nothing here guesses: a cell that cannot be placed is reported, never dropped.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._labels import (
    CYCLE_COLUMNS,
    CYCLE_WORDS,
    HEADER_ALIASES,
    LEDGER_COLUMNS,
    LEDGER_TITLES,
    OFFICIAL_COLUMNS,
    PROJECT_COLUMNS,
    STATUS_ZH,
)
from .errors import InputError

log = logging.getLogger(__name__)

#: Columns officials write in; their cells are always carried.
SURVEY_COLUMNS = ("survey_result", "survey_name", "survey_location", "survey_size")
WRITE_IN = ("person_in_charge", "deadline", "progress", "investment_wan", "remarks", *SURVEY_COLUMNS)
#: Of those, the ones circles itself may prefill: a cell is carried only where it differs from
#: what circles wrote (the previous run's ``ledger.csv`` or the workbook's data sheet), or, when
#: that is unknown, from what the new run writes.
PREFILLED = ("deadline", "investment_wan", "remarks")
#: Statuses of open items (the ledger's 工作台账 sheet lists exactly these); ``open`` is an
#: item read from a filled workbook that does not say its status (it was on the 工作台账 sheet).
OPEN_STATUSES = (*(s for s in STATUS_ZH if s != "ok"), "open")
#: Header rows are looked for in the first rows of each sheet.
HEADER_SCAN_ROWS = 12
#: A sheet is a ledger table when its header row names at least this many ledger columns.
MIN_HEADERS = 3
#: Words in 推进情况 that mean the unit reports the work done (to be checked by the next run).
DONE_WORDS = ("已完成", "完成", "竣工", "已建成", "已投用", "已投入使用")


def _norm_header(text: Any) -> str:
    """A header as compared: no spaces or line breaks, brackets half-width, lower case."""
    s = re.sub(r"\s+", "", str(text or ""))
    return s.replace("（", "(").replace("）", ")").lower()


def _header_keys() -> dict[str, str]:
    """Header text (Chinese official headers, the cycle's headers and the English keys) -> key."""
    keys: dict[str, str] = {}
    for k, zh in {**OFFICIAL_COLUMNS, **CYCLE_COLUMNS}.items():
        keys[_norm_header(zh)] = k
    for k in LEDGER_COLUMNS:
        keys.setdefault(_norm_header(k), k)
    for k in CYCLE_COLUMNS:
        keys.setdefault(_norm_header(k), k)
    for zh, k in HEADER_ALIASES.items():
        keys.setdefault(_norm_header(zh), k)
    return keys


@dataclass
class Entry:
    """One row of a filled ledger, as people left it.

    Attributes
    ----------
    sheet, row : str, int
        Where it was read (the sheet's name and the 1-based row number).
    key : tuple of str
        ``("id", community_id, rule_id)`` when the row has a 台账编号, else
        ``("name", community_name, item_name)``.
    cells : dict
        Every non-empty cell of the row by column key (unknown headers keep their text).
    open_sheet : bool
        Read from the sheet of open items (工作台账): the item was open in that ledger.
    closed_sheet : bool
        Read from the 已销号 sheet: closed in an earlier month.
    """

    sheet: str
    row: int
    key: tuple[str, str, str]
    cells: dict[str, Any]
    open_sheet: bool = False
    closed_sheet: bool = False
    kept_sheet: bool = False
    #: Read from the 实施项目清单 (carried by :func:`circles.projects.carry_projects`).
    project_sheet: bool = False
    #: Column key -> 0-based column of the sheet (to name a cell in a report).
    columns: dict[str, int] = field(default_factory=dict)


@dataclass
class FilledLedger:
    """What :func:`read_filled_ledger` found: the entries, what circles wrote there (when the
    previous ``ledger.csv`` or the data sheet was found) and the cells it could not read.
    """

    path: Path
    data: bytes = b""
    entries: list[Entry] = field(default_factory=list)
    generated: pd.DataFrame | None = None
    unreadable: list[str] = field(default_factory=list)

    def survey_carried(self) -> list[Entry]:
        """The survey answers (核实结果 …) circles carried into that ledger for rows no longer on
        its 待核实事项 sheet (a surveyed absence is a gap now, on the 工作台账 sheet without the
        survey block): read from what circles wrote (the data sheet or ``ledger.csv``), so that
        they keep their effect month after month. Rows people answered themselves come first.
        """
        gen = self.generated
        if gen is None or "survey_result" not in gen.columns or not len(gen):
            return []
        answered = {e.key for e in self.entries if _text(e.cells.get("survey_result"))}
        out = []
        cols = [c for c in SURVEY_COLUMNS if c in gen.columns]
        for n, rec in enumerate(gen[["community_id", "rule_id", *cols]].itertuples(index=False), start=2):
            key = ("id", str(rec[0]), str(rec[1]))
            cells = {c: v for c, v in zip(cols, rec[2:], strict=True) if _text(v)}
            if cells.get("survey_result") and key not in answered:
                sheet = "ledger.csv" if self.path.with_name("ledger.csv").is_file() else LEDGER_TITLES["data"]
                out.append(Entry(sheet, n, key, {**cells, "key": f"{key[1]}/{key[2]}"}, columns={}))
        return out

    def open_keys(self) -> set[tuple[str, str, str]]:
        """Keys of the items that were open in that ledger."""
        keys = {e.key for e in self.entries if e.open_sheet}
        if self.generated is not None and len(self.generated):
            g = self.generated[self.generated["status"].isin(OPEN_STATUSES)]
            keys |= {("id", str(c), str(r)) for c, r in zip(g["community_id"], g["rule_id"], strict=True)}
        return keys


# ----------------------------------------------------------------------------- reading


def _ledger_file(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "ledger.xlsx"
    if not p.is_file():
        raise InputError("no filled ledger here: expected ledger.xlsx or the output folder holding it", path=str(path))
    if p.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError("a filled ledger must be an .xlsx workbook (save it from WPS/Excel as .xlsx)", path=str(p))
    return p


def _find_header(rows: list[tuple[Any, ...]], known: Mapping[str, str]) -> tuple[int, dict[int, str]] | None:
    """The header row (0-based) and its columns (index -> key; unknown headers as ``+text``)."""
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        cols: dict[int, str] = {}
        hits = 0
        for j, v in enumerate(row):
            h = _norm_header(v)
            if not h:
                continue
            if h in known:
                cols[j] = known[h]
                hits += 1
            else:
                cols[j] = "+" + str(v).strip()
        if hits >= MIN_HEADERS and ("item_name" in cols.values() or "key" in cols.values()):
            return i, cols
    return None


def _text(v: Any) -> str:
    """A cell as text: empty for None/NaN, whole floats without ``.0``, dates as ISO dates."""
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _entry_key(cells: Mapping[str, Any]) -> tuple[str, str, str] | None:
    key = _text(cells.get("key"))
    if key and "/" in key:
        cid, rid = key.rsplit("/", 1)
        return ("id", cid, rid)
    name, item = _text(cells.get("community_name")), _text(cells.get("item_name"))
    if name and item:
        return ("name", name, item)
    return None


def _sheet_entries(ws, known: Mapping[str, str], out: FilledLedger, first: bool) -> bool:
    """Read the ledger table of ``ws`` into ``out``; False when the sheet holds none."""
    rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
    found = _find_header(rows, known)
    if found is None:
        return False
    head, cols = found
    title = ws.title
    kind = _sheet_kind(title, cols, first)
    if kind == "data":
        return False
    for i, row in enumerate(rows[head + 1 :], start=head + 2):
        cells = {cols[j]: v for j, v in enumerate(row) if j in cols and _text(v) != ""}
        cells.pop("no", None)
        if not cells:
            continue
        key = _entry_key(cells)
        if key is None:
            out.unreadable.append(f"{title}!{i}: {CYCLE_WORDS['no_key']}")
            key = ("row", title, str(i))
        out.entries.append(
            Entry(
                title,
                i,
                key,
                cells,
                open_sheet=kind == "open",
                closed_sheet=kind == "closed",
                kept_sheet=kind == "kept",
                project_sheet=kind == "projects",
                columns={k: j for j, k in cols.items()},
            )
        )
    return True


def _sheet_kind(title: str, cols: Mapping[int, str], first: bool) -> str:
    """``open`` (工作台账: the first ledger table, whatever its name, and 待核实事项), ``closed`` (已销号),
    ``kept``, ``community`` or ``data``.
    """
    values = set(cols.values())
    if "+" + PROJECT_COLUMNS["content"] in values:
        return "projects"
    if "rule_id" in values and "status" in values and "action_zh" not in values:
        return "data"
    if title.strip() in (LEDGER_TITLES["reference"], LEDGER_TITLES["opinions"]) and "key" not in values:
        return "data"  # what circles wrote for reading (标准要求与依据, 居民意见), nothing to carry
    if "closed_on" in values:
        return "closed"
    if "kept_reason" in values:
        return "kept"
    if first or title.strip() in (CYCLE_WORDS["open_sheet"], LEDGER_TITLES["survey"]):
        return "open"
    return "community"


def _data_sheet(wb) -> pd.DataFrame | None:
    """The workbook's data sheet (English keys): what circles wrote, or None."""
    for ws in wb.worksheets:
        rows = [tuple(r) for r in ws.iter_rows(values_only=True, max_row=1)]
        if rows and {"community_id", "rule_id", "status"} <= {_text(v) for v in rows[0]}:
            data = list(ws.iter_rows(values_only=True))
            return pd.DataFrame(data[1:], columns=[_text(v) for v in data[0]])
    return None


def read_filled_ledger(path: str | Path) -> FilledLedger:
    """Read a ledger people filled in.

    Parameters
    ----------
    path : path
        A filled ``ledger.xlsx``, or a previous output folder holding one (its ``ledger.csv``
        then tells which cells circles wrote itself).

    Returns
    -------
    FilledLedger

    Raises
    ------
    InputError
        The file is missing, not a workbook, or holds no ledger table.
    """
    import io

    from openpyxl import load_workbook

    p = _ledger_file(path)
    data = p.read_bytes()
    try:
        wb = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise InputError(f"cannot read the filled ledger: {exc}", path=str(p)) from exc
    out = FilledLedger(p, data)
    known = _header_keys()
    tables = 0
    for ws in wb.worksheets:
        tables += _sheet_entries(ws, known, out, first=tables == 0)
    if not out.entries:
        raise InputError(
            "no ledger table found: no sheet has a header row with 社区 and 事项 (or 台账编号)", path=str(p)
        )
    csv = p.parent / "ledger.csv"
    if csv.is_file():
        out.generated = pd.read_csv(csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    else:
        out.generated = _data_sheet(wb)
    if out.generated is not None:
        out.generated = out.generated.astype(str).replace({"None": "", "nan": ""})
    log.info("read %d rows from the filled ledger %s", len(out.entries), p)
    return out


# ----------------------------------------------------------------------------- dates


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})(?:\s*[-/.月]\s*(\d{1,2}))?\s*(日|号|月底|月末|底|末)?")


def parse_date(value: Any) -> dt.date | None:
    """A date from a cell as people type it: a date cell, ``2024-08-31``, ``2024/8/31``,
    ``2024.8``, ``2024年8月31日``, ``2024年8月底`` (the month's last day), an Excel serial
    number. None when no full date can be read (e.g. ``8月底`` without a year).
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        v = float(value)
        if 20000 < v < 80000:  # an Excel serial day (1954-2119)
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(v))
        return None
    m = _DATE.search(str(value))
    if not m:
        return None
    y, mo = int(m.group(1)), int(m.group(2))
    if not 1 <= mo <= 12:
        return None
    last = calendar.monthrange(y, mo)[1]
    day = int(m.group(3)) if m.group(3) else last
    if not 1 <= day <= last:
        return None
    return dt.date(y, mo, day)


# ----------------------------------------------------------------------------- carrying


@dataclass
class Carried:
    """The new ledger with the previous entries carried forward.

    Attributes
    ----------
    ledger : DataFrame
        The new ledger, with ``ledger_change`` (新增 / 延续 / 已报完成) and the carried cells.
    closed : DataFrame
        Items closed (销号): this run's and every earlier month's, never deleted.
    kept : DataFrame
        Entries with no row in the new ledger (or that could not be placed), with the reason.
    report : list of str
        One line per kind of thing done, for the log and the run's summary.
    """

    ledger: pd.DataFrame
    closed: pd.DataFrame
    kept: pd.DataFrame
    report: list[str]
    #: The rows of last month's 实施项目清单 (carried when the new one is written).
    projects: list[Entry] = field(default_factory=list)


def _index(ledger: pd.DataFrame) -> tuple[dict[tuple[str, str, str], int], set[tuple[str, str, str]]]:
    """Row position of every key of the new ledger (by id and by names); ambiguous name keys."""
    idx: dict[tuple[str, str, str], int] = {}
    ambiguous: set[tuple[str, str, str]] = set()
    for i, (cid, rid, name, item) in enumerate(
        zip(ledger["community_id"], ledger["rule_id"], ledger["community_name"], ledger["item_name"], strict=True)
    ):
        idx[("id", str(cid), str(rid))] = i
        nk = ("name", _text(name), _text(item))
        if nk in idx:
            ambiguous.add(nk)
        idx[nk] = i
    return idx, ambiguous


def _generated_value(gen: pd.DataFrame | None, e: Entry, col: str) -> str | None:
    """What circles wrote in ``col`` of the entry's row in that ledger (None: unknown)."""
    if gen is None or col not in gen.columns or e.key[0] == "row":
        return None
    if e.key[0] == "id":
        m = gen[(gen["community_id"] == e.key[1]) & (gen["rule_id"] == e.key[2])]
    else:
        m = gen[(gen["community_name"] == e.key[1]) & (gen["item_name"] == e.key[2])]
    return _text(m.iloc[0][col]) if len(m) else None


def _written(e: Entry, gen: pd.DataFrame | None, new_row: Mapping[str, Any] | None) -> dict[str, Any]:
    """The cells of ``e`` that people wrote (not what circles wrote)."""
    out: dict[str, Any] = {}
    for col, v in e.cells.items():
        if col.startswith("+"):
            out[col] = v
            continue
        if col not in WRITE_IN:
            continue
        if col in PREFILLED:
            before = _generated_value(gen, e, col)
            if before is None and new_row is not None:
                before = _text(new_row.get(col))
            if before is not None and _same(before, v):
                continue
        out[col] = v
    return out


def _same(a: Any, b: Any) -> bool:
    ta, tb = _text(a), _text(b)
    if ta == tb:
        return True
    try:
        return math.isclose(float(ta), float(tb))
    except ValueError:
        return False


def _merge_cells(target: dict[str, Any], cells: Mapping[str, Any], e: Entry, conflicts: list[dict[str, Any]]) -> None:
    for col, v in cells.items():
        if col in target and not _same(target[col], v):
            conflicts.append(_kept_row(e, {col: v}, CYCLE_WORDS["conflict"].format(sheet=e.sheet, row=e.row)))
            continue
        target[col] = v


def _kept_row(e: Entry, cells: Mapping[str, Any], reason: str) -> dict[str, Any]:
    heads = {**OFFICIAL_COLUMNS, **CYCLE_COLUMNS}
    text = "；".join(f"{heads.get(k, k.lstrip('+'))}：{_text(v)}" for k, v in cells.items())
    return {
        "kept_reason": reason,
        "community_name": _text(e.cells.get("community_name")) or (e.key[1] if e.key[0] == "name" else ""),
        "item_name": _text(e.cells.get("item_name")) or (e.key[2] if e.key[0] == "name" else ""),
        "key": _text(e.cells.get("key")),
        "source_cell": f"{e.sheet}!{e.row}",
        "entries": text,
    }


def _share(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _closed_row(
    row: Mapping[str, Any], cells: Mapping[str, Any], date: dt.date, before: Any, after: Any
) -> dict[str, Any]:
    b, a = _share(before), _share(after)
    change = (
        CYCLE_WORDS["share_change"].format(before=b * 100, after=a * 100)
        if np.isfinite(b) and np.isfinite(a)
        else CYCLE_WORDS["met_now"]
    )
    return {
        "street": _text(row.get("street")),
        "community_name": row["community_name"],
        "item_name": row["item_name"],
        "closed_on": date.isoformat(),
        "closed_how": change,
        "lead_unit": row.get("lead_unit", ""),
        "person_in_charge": _text(cells.get("person_in_charge")),
        "progress": _text(cells.get("progress")),
        "investment_wan": _text(cells.get("investment_wan")),
        "remarks": _text(cells.get("remarks")),
        "key": row["key"],
    }


def _reported_done(progress: Any) -> bool:
    text = _text(progress)
    return bool(text) and any(w in text for w in DONE_WORDS) and "未完成" not in text


def _apply_cells(ledger: pd.DataFrame, i: int, cells: Mapping[str, Any], extra_cols: list[str]) -> None:
    for col, v in cells.items():
        if col.startswith("+"):
            if col not in ledger.columns:
                ledger[col] = ""
                extra_cols.append(col)
            ledger.at[i, col] = _text(v)
        elif col == "investment_wan":
            num = _share(v)
            ledger.at[i, col] = num if np.isfinite(num) else ledger.at[i, col]
            if not np.isfinite(num):
                ledger.at[i, "remarks"] = "；".join(
                    x for x in (_text(ledger.at[i, "remarks"]), f"投资估算：{_text(v)}") if x
                )
        else:
            ledger.at[i, col] = _text(v)


def carry_forward(
    ledger: pd.DataFrame, previous: FilledLedger, *, date: dt.date | None = None, new_gaps: pd.DataFrame | None = None
) -> Carried:
    """Carry a filled ledger's entries into the new ``ledger`` (see the module's docstring).

    Parameters
    ----------
    ledger : DataFrame
        The new run's ledger (:func:`circles.ledger.build_ledger`).
    previous : FilledLedger
        :func:`read_filled_ledger` of last month's filled ledger.
    date : date, optional
        The date of this run (销号 date); default today.
    new_gaps : DataFrame, optional
        Unused hook kept for the acceptance report (the covered share is read from ``ledger``).

    Returns
    -------
    Carried
    """
    date = date or dt.date.today()
    led = ledger.copy().reset_index(drop=True)
    if "key" not in led.columns:
        led["key"] = led["community_id"].astype(str) + "/" + led["rule_id"].astype(str)
    for col in ("survey_result", "ledger_change"):
        if col not in led.columns:
            led[col] = ""
    led["person_in_charge"] = led["person_in_charge"].astype(object)
    led["progress"] = led["progress"].astype(object)
    led["deadline"] = led["deadline"].astype(object)
    led["remarks"] = led["remarks"].astype(object)
    idx, ambiguous = _index(led)
    gen = previous.generated
    per_row: dict[int, dict[str, Any]] = {}
    kept: list[dict[str, Any]] = []
    closed_before: list[dict[str, Any]] = []
    for e in [*previous.entries, *previous.survey_carried()]:
        if e.closed_sheet:
            closed_before.append({k: _text(v) for k, v in e.cells.items()})
            continue
        if e.kept_sheet:
            kept.append({k: _text(v) for k, v in e.cells.items()})
            continue
        if e.project_sheet:
            continue
        i = idx.get(e.key)
        if e.key in ambiguous:
            i = None
        written = _written(e, gen, led.iloc[i].to_dict() if i is not None else None)
        if i is None:
            if written or e.key[0] == "row":
                reason = CYCLE_WORDS["ambiguous"] if e.key in ambiguous else CYCLE_WORDS["no_row"]
                kept.append(_kept_row(e, written or e.cells, reason))
            continue
        if written:
            _merge_cells(per_row.setdefault(i, {}), written, e, kept)
    extra_cols: list[str] = []
    for i, cells in per_row.items():
        _apply_cells(led, i, cells, extra_cols)
    closed = _mark_changes(led, previous.open_keys(), _previous_shares(gen), per_row, date)
    closed_df = pd.DataFrame(closed_before + closed, columns=list(CLOSED_COLUMNS))
    kept_df = pd.DataFrame(kept, columns=list(KEPT_COLUMNS))
    report = [
        CYCLE_WORDS["report"].format(
            read=len(previous.entries),
            carried=len(per_row),
            new=int((led["ledger_change"] == CYCLE_WORDS["new"]).sum()),
            closed=len(closed),
            kept=len(kept_df),
        )
    ]
    report += [CYCLE_WORDS["unreadable"].format(where=u) for u in previous.unreadable]
    for line in report:
        log.info(line)
    return Carried(led, closed_df, kept_df, report, [e for e in previous.entries if e.project_sheet])


def _mark_changes(
    led: pd.DataFrame,
    was_open: set[tuple[str, str, str]],
    prev_share: Mapping[tuple[str, str], Any],
    per_row: Mapping[int, Mapping[str, Any]],
    date: dt.date,
) -> list[dict[str, Any]]:
    """Mark each row of ``led`` 新增 / 延续 / 已报完成 / 销号; return the rows closed now."""
    closed: list[dict[str, Any]] = []
    for i, row in led.iterrows():
        keys = {
            ("id", str(row["community_id"]), str(row["rule_id"])),
            ("name", _text(row["community_name"]), _text(row["item_name"])),
        }
        opened = bool(keys & was_open)
        if row["status"] in OPEN_STATUSES:
            if not opened:
                led.at[i, "ledger_change"] = CYCLE_WORDS["new"]
            elif _reported_done(row["progress"]):
                led.at[i, "ledger_change"] = CYCLE_WORDS["reported_done"]
            else:
                led.at[i, "ledger_change"] = CYCLE_WORDS["continued"]
        elif opened:
            before = prev_share.get((str(row["community_id"]), str(row["rule_id"])))
            closed.append(_closed_row(row, per_row.get(int(i), {}), date, before, row.get("covered_share")))
            led.at[i, "ledger_change"] = CYCLE_WORDS["closed"]
    return closed


def _previous_shares(gen: pd.DataFrame | None) -> dict[tuple[str, str], Any]:
    if gen is None or "covered_share" not in gen.columns:
        return {}
    return {
        (str(c), str(r)): s for c, r, s in zip(gen["community_id"], gen["rule_id"], gen["covered_share"], strict=True)
    }


#: Columns of the 已销号 table and of the kept-entries table (keys; headers in CYCLE_COLUMNS).
CLOSED_COLUMNS = (
    "street",
    "community_name",
    "item_name",
    "closed_on",
    "closed_how",
    "lead_unit",
    "person_in_charge",
    "progress",
    "investment_wan",
    "remarks",
    "key",
)
KEPT_COLUMNS = ("kept_reason", "community_name", "item_name", "key", "source_cell", "entries")


def entered_cells(previous: FilledLedger) -> list[tuple[str, str, str]]:
    """Every cell people wrote in a filled ledger: (sheet!row, column, text) — for checks."""
    out = []
    prefilled = {"+" + PROJECT_COLUMNS[k] for k in ("project_no", "content", "items", "investment_wan")}
    for e in previous.entries:
        for col, v in _written(e, previous.generated, None).items():
            if e.project_sheet and col in prefilled:  # what circles wrote on the 实施项目清单
                continue
            out.append((f"{e.sheet}!{e.row}", col, _text(v)))
    return out


def closed_in(closed: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The rows of the 已销号 table closed between ``start`` and ``end`` (inclusive)."""
    on = closed["closed_on"].map(parse_date)
    keep = [d is not None and start <= d <= end for d in on]
    return closed[np.asarray(keep, dtype=bool)] if len(closed) else closed


def as_rows(df: pd.DataFrame, cols: Iterable[str]) -> list[list[Any]]:
    """``df``'s columns ``cols`` as rows of plain values (for the workbook writers)."""
    cols = list(cols)
    return [[_text(v) for v in r] for r in df.reindex(columns=cols).itertuples(index=False)]


def keep_copy(previous: FilledLedger, path: str | Path) -> Path:
    """A byte copy of the filled workbook that was read (so the month's entries stay on disk
    beside the new ledger even when the new run replaces the folder that held them).
    """
    path = Path(path)
    path.write_bytes(previous.data)
    return path
