"""The acceptance report (考核验收, the plan's phase 4): how the 15-minute circle changed between
the baseline run and now.

The Rugao plan's phase 4 (2024年9月) asks for 考核验收 and 对社区15分钟便民生活圈建设进行跟踪监测和分析.
:func:`acceptance` reads two output folders of ``circles run`` — the baseline (e.g. the survey of
2023年1–3月) and the run at acceptance — and compares them with
:func:`circles.whatif.compare_runs` (per community and item: status and covered share before and
after, residents newly covered) and their ``indicators.csv`` (the city's covered share per
item before and after). :func:`write_acceptance` writes ``acceptance.xlsx`` (XlsxWriter) and a
printable ``acceptance.pdf`` (Matplotlib's PDF backend): the city indicators, the items that
changed, and before/after maps of the residents for the items with the largest change, drawn
from the runs' ``access.csv`` (every resident point's walking time to each facility type).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._labels import ACCEPTANCE_CHANGES, ACCEPTANCE_COLUMNS, ACCEPTANCE_WORDS, ATTRIBUTION, REACH_COLOURS, STATUS_ZH
from .errors import InputError

__all__ = ["ACCEPTANCE_WORDS", "Acceptance", "acceptance", "write_acceptance_pdf", "write_acceptance_xlsx"]

log = logging.getLogger(__name__)

#: Before/after maps are drawn for at most this many items (those with the most residents
#: newly covered): a readable report, not an atlas.
MAX_MAP_ITEMS = 6
#: Columns of the per-community table, in order.
ITEM_COLUMNS = (
    "community_name",
    "item",
    "status_before",
    "status_after",
    "covered_before",
    "covered_after",
    "residents_newly_covered",
    "change",
)
#: Columns of the city indicators table, in order.
CITY_COLUMNS = ("item", "covered_before", "covered_after", "covered_change", "residents_before", "residents_after")


@dataclass
class Acceptance:
    """Two runs compared.

    Attributes
    ----------
    before, after : Path
        The two output folders.
    items : DataFrame
        Per community × item (:data:`ITEM_COLUMNS`, plus ``rule_id``, ``facility_type``).
    city : DataFrame
        Per item, the city's covered share before and after (:data:`CITY_COLUMNS`).
    access_before, access_after : DataFrame or None
        The runs' per-resident tables (for the maps), when both wrote ``access.csv``.
    thresholds : dict
        ``rule_id`` -> (facility type, minutes) for the maps.
    """

    before: Path
    after: Path
    items: pd.DataFrame
    city: pd.DataFrame
    access_before: pd.DataFrame | None
    access_after: pd.DataFrame | None
    thresholds: dict[str, tuple[str, float]]


def _read(folder: Path, name: str, required: bool = True) -> pd.DataFrame | None:
    path = folder / name
    if not path.is_file():
        if required:
            raise InputError(f"no {name} here: give the output folder of a circles run", path=str(folder))
        return None
    try:
        return pd.read_csv(path, encoding="utf-8-sig", dtype={"community_id": str, "rule_id": str})
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot be read as a table written by circles ({exc})", path=str(path)) from None


def _city(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    cols = ["rule_id", "indicator_zh", "residents_covered_share", "residents_covered"]
    b = before[before["scope"] == "city"][cols]
    a = after[after["scope"] == "city"][cols]
    m = b.merge(a, on="rule_id", how="outer", suffixes=("_before", "_after"), sort=False)
    m["item"] = m["indicator_zh_after"].fillna(m["indicator_zh_before"])
    m["covered_before"] = m["residents_covered_share_before"]
    m["covered_after"] = m["residents_covered_share_after"]
    m["covered_change"] = m["covered_after"] - m["covered_before"]
    m["residents_before"] = m["residents_covered_before"]
    m["residents_after"] = m["residents_covered_after"]
    return m[["rule_id", *CITY_COLUMNS]].reset_index(drop=True)


def acceptance(before: str | Path, after: str | Path) -> Acceptance:
    """Compare the baseline run ``before`` with the run at acceptance ``after`` (output folders).

    Raises
    ------
    InputError
        A folder is not the output of ``circles run`` (no ``gaps.csv`` / ``indicators.csv``).
    """
    from .whatif import compare_runs

    b, a = Path(before), Path(after)
    comp = compare_runs(b, a)
    ind_b, ind_a = _read(b, "indicators.csv"), _read(a, "indicators.csv")
    assert ind_b is not None and ind_a is not None  # required=True raised otherwise
    names = dict(zip(ind_a["rule_id"], ind_a["indicator_zh"], strict=False))
    items = pd.DataFrame(
        {
            "community_name": comp["community_name"],
            "item": comp["rule_id"].map(names).fillna(comp["rule_id"]),
            "status_before": comp["status_before"].map(STATUS_ZH).fillna(""),
            "status_after": comp["status_after"].map(STATUS_ZH).fillna(""),
            "covered_before": comp["covered_share_before"],
            "covered_after": comp["covered_share_after"],
            "residents_newly_covered": comp["residents_newly_covered"],
            "change": comp["change"].map(ACCEPTANCE_CHANGES).fillna(comp["change"]),
            "rule_id": comp["rule_id"],
            "facility_type": comp["facility_type"],
        }
    )
    order = items["change"].ne(ACCEPTANCE_CHANGES.get("unchanged", ""))
    items = pd.concat([items[order], items[~order]], ignore_index=True)
    thresholds = {
        str(r.rule_id): (str(r.facility_type), float(r.threshold_min))
        for r in ind_a[ind_a["scope"] == "city"].itertuples()
        if pd.notna(r.threshold_min)
    }
    return Acceptance(
        b,
        a,
        items,
        _city(ind_b, ind_a),
        _read(b, "access.csv", required=False),
        _read(a, "access.csv", required=False),
        thresholds,
    )


# ----------------------------------------------------------------------------- writing


def _pct(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if np.isnan(f) else f"{f * 100:.1f}%"


def _cell(v: Any, col: str) -> str:
    if col.startswith("covered"):
        return _pct(v)
    if col.startswith("residents"):
        try:
            return "" if pd.isna(v) else f"{round(float(v)):,d}"
        except (TypeError, ValueError):
            return ""
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def write_acceptance_xlsx(acc: Acceptance, path: str | Path, date: dt.date) -> Path:
    """``acceptance.xlsx``: 总体指标 (the city per item) and 分社区事项 (per community × item)."""
    from .workbooks import Formats, new_workbook, report_formats, report_sheet, write_value

    path = Path(path)
    wb = new_workbook(path)
    wb.set_properties({"title": ACCEPTANCE_WORDS["title"], "created": dt.datetime.combine(date, dt.time())})
    fmt = Formats(wb)
    f = report_formats(fmt)
    for name, df, cols in (
        (ACCEPTANCE_WORDS["sheet_city"], acc.city, list(CITY_COLUMNS)),
        (ACCEPTANCE_WORDS["sheet_items"], acc.items, list(ITEM_COLUMNS)),
    ):
        widths = [34 if c == "item" else (14 if c in ("community_name", "change") else 11) for c in cols]
        heads = [ACCEPTANCE_COLUMNS[c] for c in cols]
        ws = report_sheet(
            wb, fmt, name, heads, widths, title=ACCEPTANCE_WORDS["title"], date=date.isoformat(), rows=len(df)
        )
        for i, rec in enumerate(df[cols].itertuples(index=False), start=1):
            for j, (c, v) in enumerate(zip(cols, rec, strict=True)):
                if c.startswith(("covered", "residents")):
                    number = None if pd.isna(v) else float(v)
                    write_value(ws, i, j, number, f["pct"] if c.startswith("covered") else f["num"])
                else:
                    write_value(ws, i, j, _cell(v, c), f["text"])
    wb.close()
    return path


def _map_items(acc: Acceptance) -> list[str]:
    """Rules to map: most residents newly covered first, only where both runs have the type."""
    if acc.access_before is None or acc.access_after is None:
        return []
    gain = acc.items.groupby("rule_id")["residents_newly_covered"].sum().sort_values(ascending=False, kind="stable")
    out = []
    for rid, v in gain.items():
        t = acc.thresholds.get(str(rid))
        if t and v > 0 and t[0] in acc.access_before.columns and t[0] in acc.access_after.columns:
            out.append(str(rid))
    return out[:MAX_MAP_ITEMS]


def _draw_residents(ax, access: pd.DataFrame, ftype: str, minutes: float, box: Sequence[float]) -> None:
    t = pd.to_numeric(access[ftype], errors="coerce")
    within = t <= minutes
    lat0 = float(np.nanmean(access["lat"]))
    for mask, colour in ((~within, REACH_COLOURS["beyond"]), (within, REACH_COLOURS["within"])):
        ax.scatter(access.loc[mask, "lon"], access.loc[mask, "lat"], s=6, c=colour, linewidths=0)
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[1], box[3])
    ax.set_aspect(1 / np.cos(np.radians(lat0)))
    ax.set_xticks([])
    ax.set_yticks([])


def _pages(acc: Acceptance, ts, date: dt.date) -> Iterator[Any]:
    from ._typeset import A4_LANDSCAPE, MARGIN, Sheet, Table

    W, H = A4_LANDSCAPE[0] * 72, A4_LANDSCAPE[1] * 72
    width, bottom = W - 2 * MARGIN, H - MARGIN - 14
    sub = ACCEPTANCE_WORDS["subtitle"].format(before=acc.before.name, after=acc.after.name, date=date.isoformat())

    def page(title: str) -> tuple[Any, float]:
        sheet = Sheet(A4_LANDSCAPE, ts)
        sheet.text(MARGIN, MARGIN, title, 15, fontweight="bold")
        sheet.text(MARGIN, MARGIN + 22, sub, 9, color="#444")
        return sheet, MARGIN + 40

    for title, df, cols, share in (
        (ACCEPTANCE_WORDS["sheet_city"], acc.city, list(CITY_COLUMNS), [4, 1, 1, 1, 1, 1]),
        (ACCEPTANCE_WORDS["sheet_items"], _changed_first(acc.items), list(ITEM_COLUMNS), [1.4, 3, 1, 1, 1, 1, 1, 1]),
    ):
        w = np.asarray(share, dtype=float)
        rows = [[_cell(v, c) for c, v in zip(cols, r, strict=True)] for r in df[cols].itertuples(index=False)]
        t = Table([ACCEPTANCE_COLUMNS[c] for c in cols], rows, list(w / w.sum() * width), size=8.0)
        start = 0
        while True:
            sheet, y = page(title)
            n = max(1, t.fit(ts, start, bottom - y))
            t.draw(sheet, MARGIN, y, range(start, min(start + n, len(rows))))
            yield sheet.fig
            start += n
            if start >= len(rows):
                break
    yield from _map_pages(acc, ts, page, width, bottom)


def _changed_first(items: pd.DataFrame) -> pd.DataFrame:
    """The items that changed first (in the table's order), then the unchanged: a reader looks
    for what the pilot changed, not for 200 rows of 无变化.
    """
    same = (items["change"] == ACCEPTANCE_CHANGES["unchanged"]).to_numpy()
    return pd.concat([items[~same], items[same]])


def _map_pages(acc: Acceptance, ts, page, width: float, bottom: float) -> Iterator[Any]:
    from ._typeset import MARGIN

    assert acc.access_before is not None and acc.access_after is not None or not _map_items(acc)
    both = pd.concat([acc.access_before, acc.access_after]) if acc.access_before is not None else None
    for rid in _map_items(acc):
        ftype, minutes = acc.thresholds[rid]
        assert both is not None
        pad = 0.002
        box = (both["lon"].min() - pad, both["lat"].min() - pad, both["lon"].max() + pad, both["lat"].max() + pad)
        name = acc.city.loc[acc.city["rule_id"] == rid, "item"]
        sheet, y = page(f"{ACCEPTANCE_WORDS['map_title']}{name.iloc[0] if len(name) else rid}")
        gap = 16.0
        half = (width - gap) / 2
        for k, (label, access) in enumerate(
            ((ACCEPTANCE_WORDS["before"], acc.access_before), (ACCEPTANCE_WORDS["after"], acc.access_after))
        ):
            x = MARGIN + k * (half + gap)
            sheet.text(x, y, label, 11, fontweight="bold")
            ax = sheet.axes(x, y + 18, half, bottom - y - 40)
            _draw_residents(ax, access, ftype, minutes, box)
        sheet.text(
            MARGIN,
            bottom - 12,
            ACCEPTANCE_WORDS["map_key"].format(minutes=f"{minutes:g}") + "　" + ATTRIBUTION,
            8,
            color="#444",
        )
        yield sheet.fig


def write_acceptance_pdf(acc: Acceptance, path: str | Path, date: dt.date) -> Path:
    """``acceptance.pdf``: the city indicators, the items by community, before/after maps."""
    import matplotlib

    from . import _typeset
    from .progress import save_numbered
    from .report import pdf_font

    path = Path(path)
    family = _typeset.cjk_font()
    chars: set[str] = set()
    for df in (acc.items, acc.city):
        for v in df.to_numpy().ravel():
            chars |= set(str(v))
    for words in (ACCEPTANCE_WORDS, ACCEPTANCE_COLUMNS, ACCEPTANCE_CHANGES):
        for v in words.values():
            chars |= set(str(v))
    chars |= set(ATTRIBUTION + acc.before.name + acc.after.name + "0123456789-%.,第页共/ ")
    families = [pdf_font(family, chars), "DejaVu Sans"] if family else ["DejaVu Sans"]
    meta = {"Title": ACCEPTANCE_WORDS["title"], "Creator": "circles", "CreationDate": None, "ModDate": None}
    with matplotlib.rc_context(_typeset.rc(families)):
        save_numbered(path, _pages(acc, _typeset.Typesetter(families), date), meta)
    return path
