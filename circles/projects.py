"""The 实施项目清单: one row per project, with its schedule (推进序时) and a 推进情况 column per
reporting month.

The Rugao plan's phase 2 asks each community to 形成具体实施项目清单, 建立工作台账, 明确推进序时,
and phase 3 has every unit report each month, naming 分管领导、责任科室和联络员. This module
makes that list:

- for a pilot community (matched to the plan when the ledger was made): the plan's projects,
  verbatim, with the ledger items each one addresses (its ``covers``) and its 计划投资;
- for any other community: the proposed builds, one project per community and item (the
  ledger's items that need action), with the 建议措施 as the content.

Each project has a 推进序时 cell per phase of the plan (from the survey phase on, headed with
the phase's dates in a pilot's ledger, with the phase's task elsewhere: another city's dates are
its own), write-in 分管领导 / 责任科室 / 联络员 cells, and one 推进情况 column per month of the
plan's implementation phase (Rugao: 2023-04 … 2024-08; elsewhere as many months from the
ledger's own month on, :func:`ledger_months`). A hidden 台账编号 ties
each row to next month's workbook: :func:`carry_projects` puts what people wrote back on the
row of the same key, and keeps what it cannot place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._labels import PROJECT_COLUMNS, PROJECT_WORDS
from .pilot import Phase, Pilot

log = logging.getLogger(__name__)

#: Columns people write in (besides the phase and month columns).
PROJECT_WRITE_IN = ("leader", "section", "liaison")


def phase_key(p: Phase) -> str:
    """The column key of a phase's 推进序时."""
    return f"phase_{p.no}"


def month_key(month: str) -> str:
    """The column key of a month's 推进情况 (``month_2023-04``)."""
    return f"month_{month}"


def _month_index(text: str) -> int:
    y, m = text.split("-")
    return int(y) * 12 + int(m) - 1


def _month_text(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def reporting_months(pilot: Pilot) -> list[str]:
    """The months of the plan's implementation phase (its :attr:`Pilot.deadline_phase`): from the
    month after the previous phase's end to the phase's own end (Rugao: 2023-04 … 2024-08).
    Empty when the plan has no such phase.
    """
    if pilot.deadline_phase is None:
        return []
    phases = sorted(pilot.phases, key=lambda p: p.no)
    pos = next((i for i, p in enumerate(phases) if p.no == pilot.deadline_phase), None)
    if pos is None:
        return []
    end = _month_index(phases[pos].end)
    start = _month_index(phases[pos - 1].end) + 1 if pos > 0 else end
    return [_month_text(i) for i in range(start, end + 1)]


def is_pilot_ledger(ledger: pd.DataFrame) -> bool:
    """Whether any community of ``ledger`` matched a pilot community when it was made (its rows
    say whether the plan covers them: ``in_plan`` not empty).
    """
    return "in_plan" in ledger.columns and bool(ledger["in_plan"].notna().any())


def _ledger_day(date: str | None) -> Any:
    """The day a ledger is dated (as people write dates; default, or when it is not a date: today)."""
    import datetime as dt

    from .cycle import parse_date

    return (parse_date(date) if date else None) or dt.date.today()


def ledger_months(ledger: pd.DataFrame, pilot: Pilot, date: str | None = None) -> list[str]:
    """The reporting months of the 实施项目清单 of ``ledger`` dated ``date``.

    A pilot's ledger reports over its plan's implementation phase (:func:`reporting_months`;
    Rugao: 2023-04 … 2024-08). Another city's ledger has no dates of its own: it reports over as
    many months (the plan's phase length, 17 for Rugao), from the ledger's own month on. Entries
    of a month outside that window are carried under their own header (:func:`carry_projects`).
    """
    months = reporting_months(pilot)
    if not months or is_pilot_ledger(ledger):
        return months
    day = _ledger_day(date)
    start = day.year * 12 + day.month - 1
    return [_month_text(i) for i in range(start, start + len(months))]


def current_month(months: list[str], date: str | None = None) -> str:
    """The reporting month of a ledger dated ``date`` (as people write dates; default, or when
    it is not a date: today), held to ``months``
    (before the first: the first; after the last: the last); '' without months.
    """
    if not months:
        return ""
    day = _ledger_day(date)
    return min(max(f"{day.year:04d}-{day.month:02d}", months[0]), months[-1])


def schedule_phases(pilot: Pilot) -> list[Phase]:
    """The phases a project is scheduled in: from the survey phase (排查) on."""
    first = pilot.survey_phase if pilot.survey_phase is not None else min((p.no for p in pilot.phases), default=0)
    return [p for p in sorted(pilot.phases, key=lambda p: p.no) if p.no >= first]


def project_headers(pilot: Pilot, months: Iterable[str], dated: bool = True) -> dict[str, str]:
    """Column key -> header of the 实施项目清单: the month headers carry their dates, the phase
    headers the plan's dates when ``dated`` (a pilot's ledger), else the phase's task.
    """
    heads = dict(PROJECT_COLUMNS)
    phases = {
        phase_key(p): (
            PROJECT_WORDS["phase_head"].format(name=p.name_zh, period=p.period_zh)
            if dated
            else PROJECT_WORDS["phase_task_head"].format(task=p.text_zh)
        )
        for p in schedule_phases(pilot)
    }
    months_h = {month_key(m): PROJECT_WORDS["month_head"].format(year=int(m[:4]), month=int(m[5:])) for m in months}
    out = {k: heads[k] for k in ("no", "community_name", "project_no", "content", "items", "investment_wan")}
    out.update(phases)
    out.update({k: heads[k] for k in PROJECT_WRITE_IN})
    out.update(months_h)
    out["key"] = heads["key"]
    return out


def _items_of(rows: pd.DataFrame, covers: Iterable[str]) -> str:
    """The ledger items (事项) of a community that a project's ``covers`` names."""
    cov = set(covers)
    if not cov:
        return ""
    hit = rows["rule_id"].astype(str).isin(cov) | rows["facility_type"].astype(str).isin(cov)
    hit |= rows["item"].astype(str).isin(cov)
    return "、".join(dict.fromkeys(rows.loc[hit, "item_name"].astype(str)))


def _pilot_rows(rows: pd.DataFrame, cid: str, name: str, entry: Any, pilot_id: str) -> dict[str, Any]:
    return {
        "community_name": name,
        "project_no": entry.no,
        "content": entry.text,
        "items": _items_of(rows, entry.covers),
        "investment_wan": entry.investment_wan if entry.investment_wan is not None else np.nan,
        "source": PROJECT_WORDS["from_plan"],
        "key": f"project:{cid}:{pilot_id}-{entry.no}",
    }


def _build_rows(rows: pd.DataFrame, cid: str, name: str) -> list[dict[str, Any]]:
    """The proposed builds of a non-pilot community: one per item that needs action."""
    from .ledger import ACTIONABLE

    act = rows[rows["status"].isin(ACTIONABLE)]
    out = []
    for n, (item, g) in enumerate(act.groupby("item_name", sort=False), start=1):
        inv = pd.to_numeric(g["investment_wan"], errors="coerce")
        out.append(
            {
                "community_name": name,
                "project_no": n,
                "content": "；".join(dict.fromkeys(g["action_zh"].astype(str))),
                "items": str(item),
                "investment_wan": float(inv.sum()) if inv.notna().any() else np.nan,
                "source": PROJECT_WORDS["from_gaps"],
                "key": f"project:{cid}:{item}",
            }
        )
    return out


#: The ledger columns the 实施项目清单 is made from.
_PROJECT_INPUTS = (
    "community_id",
    "community_name",
    "in_plan",
    "rule_id",
    "facility_type",
    "item",
    "item_name",
    "status",
    "investment_wan",
    "action_zh",
)


def project_table(ledger: pd.DataFrame, pilot: Pilot, months: Iterable[str]) -> pd.DataFrame:
    """The 实施项目清单's rows (see the module's docstring), in the ledger's community order.

    Parameters
    ----------
    ledger : DataFrame
        :func:`circles.ledger.build_ledger`; a community whose rows say whether the plan covers
        them (``in_plan`` not empty) is a pilot community.
    pilot : Pilot
        The plan (projects, phases).
    months : iterable of str
        The reporting months (``YYYY-MM``), one 推进情况 column each.

    Returns
    -------
    DataFrame
        Columns: the keys of :func:`project_headers` (write-in columns empty) and ``source``.
    """
    heads = project_headers(pilot, months, dated=is_pilot_ledger(ledger))
    recs: list[dict[str, Any]] = []
    used = [c for c in _PROJECT_INPUTS if c in ledger]  # a city's ledger is wide: only these are split
    for cid, rows in ledger[used].groupby("community_id", sort=False):
        name = str(rows["community_name"].iloc[0])
        c = pilot.match_name(name) if rows["in_plan"].notna().any() else None
        if c is not None:
            recs += [_pilot_rows(rows, str(cid), name, e, c.id) for e in c.projects]
        else:
            recs += _build_rows(rows, str(cid), name)
    df = pd.DataFrame(recs, columns=[*heads, "source"])
    df["no"] = range(1, len(df) + 1)
    for k in heads:
        if k.startswith(("phase_", "month_")) or k in PROJECT_WRITE_IN:
            df[k] = ""
    return df


def _norm(text: Any) -> str:
    from .cycle import _norm_header

    return _norm_header(text)


def carry_projects(
    table: pd.DataFrame, entries: Iterable[Any], headers: Mapping[str, str]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Put what people wrote on last month's 实施项目清单 (``entries``: its rows, read by
    :func:`circles.cycle.read_filled_ledger`) on the rows of the same 台账编号.

    Write-in cells (推进序时, 分管领导, 责任科室, 联络员, each month's 推进情况) are carried; 计划投资
    when it differs from the plan's; a column people added is added. A row whose key is not in
    the new table, or a cell under a header the new table does not have, is kept (returned as
    rows of the 保留的填报 sheet), never dropped.
    """
    from .cycle import _kept_row, _same, _text

    out = table.copy().astype({k: object for k in table.columns if k != "no"})
    by_head = {_norm(h): k for k, h in headers.items()}
    pos = {str(k): i for i, k in enumerate(out["key"])}
    kept: list[dict[str, Any]] = []
    for e in entries:
        i = pos.get(_text(e.cells.get("key")))
        cells = {}
        for col, v in e.cells.items():
            k = by_head.get(_norm(col.lstrip("+")), col)
            if k in ("no", "key", "community_name", "project_no", "content", "items"):
                continue
            if k == "investment_wan" and i is not None and _same(out.at[i, k], v):
                continue
            cells[k] = v
        if not cells:
            continue
        if i is None:
            shown = {headers.get(k, k): v for k, v in cells.items()}
            kept.append(
                {
                    **_kept_row(e, shown, PROJECT_WORDS["no_row"]),
                    "item_name": _text(e.cells.get("+" + PROJECT_COLUMNS["content"])),
                }
            )
            continue
        for k, v in cells.items():
            if k not in out.columns:
                out[k] = ""
            out.at[i, k] = _text(v)
    return out, kept
