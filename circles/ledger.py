"""The 工作台账 (complete-community work ledger): one row per community × item of the rulebook,
in the form the Rugao plan asks for, for the officials who fill the gaps.

The Rugao plan's phase 2 (认真排查，明确工作任务) asks each pilot to "形成具体实施项目清单，建立完整社区
建设工作台账，细化工作任务，明确推进序时", with "分管领导、责任科室和联络员" and a monthly report of
progress. :func:`build_ledger` turns the gap report (spatial rules) and the rulebook's checklist
items (status ``to_assess``) into that ledger:

- the standard's requirement with the numbers that were checked (标准要求), the current state
  in numbers (现状), the gap (缺口), the residents affected, the basis (依据: document, clause and
  which numbers are unverified) and remarks (备注: the plan, warnings, nearest facilities);
- a priority within each community: items needing action first — "一老一幼" items before the
  others, then by residents affected — then items to survey, items to assess on site, items the
  standard asks "where conditions allow" or "as needed", and items already met;
- the suggested action: ``new_build``, ``share`` (an item ``circles/config/sharing.yaml`` lists
  as shareable, whose facility nearest to the community's uncovered residents lies inside another
  community's boundary, within :data:`SHARE_FACTOR` × the threshold of their median walk; for a
  community below the standard's population scale (0.5万) such a basic service within the
  rulebook's ``share_within_m``; or the plan's own measure,
  e.g. 迎新's 共建共享幼托资源), ``upgrade`` (too small), ``survey`` (no data, a checklist item, or
  a facility the plan says exists), ``consider`` (具备条件时 / 按需配建), ``none``;
- the lead unit (牵头单位, always a government department) and the responsible units (责任单位,
  companies included): the neutral default by role (``circles/config/departments.yaml``), a
  city's own list (``--departments FILE``), and for the Rugao pilot communities the leading
  group's units (``circles/config/rugao_pilot.yaml``);
- blank columns for the officials (责任人, 推进情况, 投资估算 unless the plan gives it) and the
  deadline (完成时限: for Rugao the end of the plan's phase 3, 2024年8月底; blank elsewhere);
- for the Rugao pilot communities: whether the plan already covers the item — by the item each
  project, measure, existing facility or problem is about (``covers:`` in the plan's data,
  reviewed by hand, never by keywords).

Rugao pilot communities
-----------------------
:func:`apply_pilot_attributes` recognises 孔庙, 迎新 and 仙鹤 by the boundary's ``name`` (e.g.
"孔庙社区", "孔庙", "如城街道孔庙社区") AND its place (within the plan's ``place``: Rugao; a
迎新社区 elsewhere is not the pilot, and a warning says so). It then takes the plan's population when the boundary
has none (population 0) or only an estimate (``population_estimated`` true), and the plan's
households when the boundary has no ``households``; the columns ``population_source`` and
``households_source`` say which was used, ``street`` the plan's street (如城街道). No open
geometry of these boundaries exists: see ``docs/rugao.md``. When any boundary matches, the
default rulebook is the plan's (``rules_profile``: ``rugao_2023``, :func:`default_rules`).

Outputs: ``ledger.csv`` (UTF-8 with BOM, English keys: :data:`circles._labels.LEDGER_COLUMNS`)
and ``ledger.xlsx``: 工作台账 (all open items of all communities), 汇总 (one row per community),
one sheet per community, 数据 data (every row and column with the English keys) and 说明
(statuses, actions, the plan's phases). Every sheet prints on A4 landscape, one page wide, with
the header row on every page, a page header (title, date) and page numbers.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._config import config_file
from ._labels import (
    ACTION_ZH,
    FIELD_ZH,
    LEDGER_ACTION_MEANING,
    LEDGER_COLUMNS,
    LEDGER_STATUS_MEANING,
    LEDGER_STATUS_ORDER,
    LEDGER_TITLES,
    OFFICIAL_COLUMNS,
    PLAN_STATUS_ZH,
    PROJECT_WORDS,
    READING_ZH,
    SOURCE_ZH,
    STATUS_ZH,
    SUMMARY_COLUMNS,
    rule_name,
    threshold_text,
)
from ._sheets import column_lists, write_csv
from .cycle import Carried
from .departments import DEPARTMENT_KINDS, Departments, _departments_from, load_departments  # noqa: F401  (re-exported)
from .errors import ConfigError
from .gaps import warning_text
from .pilot import (  # noqa: F401  (re-exported: the pilot model moved to circles.pilot)
    PLAN_ACTIONS,
    Phase,
    Pilot,
    PilotCommunity,
    PilotEntry,
    apply_pilot_attributes,
    default_rules,
    load_pilot,
    match_communities,
    normalise_name,
    pilots_of,
)
from .rulebook import CATEGORIES, LEVELS, Rule, Rulebook

log = logging.getLogger(__name__)

#: The three lists of ``circles/config/sharing.yaml``, each facility type with its reason.
SHARING_LISTS = ("shareable", "own", "outlets")


def load_share_factor(path: str | Path | None = None) -> tuple[float, str]:
    """How near a neighbour's facility must be for sharing, and where that number comes from.

    Parameters
    ----------
    path : str or Path, optional
        A file of the layout of ``circles/config/sharing.yaml`` (default: that file).

    Returns
    -------
    factor : float
        ``share_factor.value``: a gap is "share with the neighbouring community" when a facility
        of the type is within this many times the rule's threshold of the uncovered residents.
    source : str
        ``share_factor.source`` ("no source found" when it has none).

    Raises
    ------
    ConfigError
        Naming the file, when the entry is missing, not a positive number or without a source.
    """
    data, label = config_file("sharing.yaml", path)
    entry = data.get("share_factor")
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: share_factor: expected a mapping with value and source, got {entry!r}")
    value, source = entry.get("value"), entry.get("source")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{label}: share_factor.value: expected a positive number, got {value!r}")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{label}: share_factor.source: expected where the number comes from, got {source!r}")
    return float(value), source.strip()


#: A gap is "share with the neighbouring community" when a facility of the type is within
#: this many times the rule's threshold of the community's residents (``circles/config/sharing.yaml``).
SHARE_FACTOR, SHARE_FACTOR_SOURCE = load_share_factor()


def load_sharing(path: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Which items a community may share with a neighbour (``shareable``), which it must have
    itself (``own``: one per residents' committee) and which are laid out as a network of
    outlets (``outlets``: 优化网点布局): facility type -> reason, from ``circles/config/sharing.yaml``
    or the user's file ``path`` (same layout)."""
    data, label = config_file("sharing.yaml", path)
    out: dict[str, dict[str, str]] = {}
    seen: dict[str, str] = {}
    for key in SHARING_LISTS:
        entries = data.get(key) or {}
        if not isinstance(entries, dict):
            raise ConfigError(f"{label}: {key}: expected facility type: reason, got {type(entries).__name__}")
        for t, why in entries.items():
            if not isinstance(why, str) or not why.strip():
                raise ConfigError(f"{label}: {key}.{t}: expected the reason (text), got {why!r}")
            if t in seen:
                raise ConfigError(f"{label}: {t} is in both {seen[t]} and {key}")
            seen[t] = key
        out[key] = {str(t): str(w) for t, w in entries.items()}
    return out


SHARING = load_sharing()
#: One per residents' committee (2020 standard item 1: 一个社区综合服务站 …): never shared.
NOT_SHARED_TYPES = tuple(SHARING["own"])
#: Shops and stops (便民商业网点, 公交站点): their answer is the layout of the outlet network
#: (优化网点布局), not sharing a neighbour's.
OUTLET_TYPES = tuple(SHARING["outlets"])
#: Items a community may meet with a neighbouring community's facility (共建共享).
SHAREABLE_TYPES = tuple(SHARING["shareable"])

#: Statuses that need action (a gap to close) and statuses that are not met (open items).
ACTIONABLE = ("gap", "partial", "undersized")
OPEN = LEDGER_STATUS_ORDER[:-1]  # all but "ok"
#: Order of the statuses in a community's ledger (actionable first, met last).
STATUS_CLASS = {
    "gap": 0,
    "partial": 0,
    "undersized": 0,
    "reach_size_unverified": 1,
    "unseen": 1,
    "no_data": 1,
    "to_assess": 2,
    "conditional": 3,
    "as_needed": 3,
    "ok": 4,
}

#: Width (Excel characters) of a column officials write in by hand: about 12 characters of
#: handwriting on the printed page (issue 23; a usability choice, no standard sets it).
WRITE_IN_WIDTH = 12
#: Column widths (Excel characters) of the official sheets: together about one A4 landscape
#: page at a readable size (the page is fitted to one page wide).
OFFICIAL_WIDTHS = {
    "no": 4,
    "street": 5,
    "community_name": 7,
    "category_zh": 6,
    "item_name": 7,
    "current_state": 14,
    "gap": 9,
    "residents_affected": 5,
    "action_zh": 8,
    "lead_unit": 7,
    "responsible_units": 8,
    "person_in_charge": WRITE_IN_WIDTH,
    "deadline": WRITE_IN_WIDTH,
    "progress": WRITE_IN_WIDTH,
    "survey_result": 6,
    "survey_name": WRITE_IN_WIDTH,
    "survey_location": WRITE_IN_WIDTH,
    "survey_size": 8,
    "investment_wan": WRITE_IN_WIDTH,
    "in_plan": 5,
    "requirement": 21,
    "basis": 17,
    "remarks": 19,
    "key": 9,
}
#: Widths of the printed 工作台账 sheet (items that need action): the plan's columns without the
#: reference texts, so the text columns are wide enough to take two or three lines a row
#: (about ten rows to an A4 landscape page, fitted to one page wide at about 8 points).
ACTION_WIDTHS = {
    **OFFICIAL_WIDTHS,
    "category_zh": 9,
    "item_name": 9,
    "current_state": 30,
    "gap": 16,
    "action_zh": 14,
    "responsible_units": 7,
    "remarks": 50,
}
#: Widths of the printed 待核实事项 sheet: 缺口 (what is unknown) and 备注 wide, the 核实结果 block
#: (有/无, name, location, size) wide enough to write in.
SURVEY_WIDTHS = {
    **OFFICIAL_WIDTHS,
    "community_name": 10,
    "category_zh": 9,
    "item_name": 9,
    "gap": 40,
    "lead_unit": 9,
    "survey_result": 5,
    "survey_size": 7,
    "remarks": 48,
}
SUMMARY_WIDTHS = {
    "community_name": 10,
    "street": 7,
    "pilot": 8,
    "population_source": 16,
    "households_source": 16,
    "elderly_child_open": 16,
    "scale_note": 16,
    "top_priorities": 30,
    "community_id": 10,
}
#: Font of the official sheets (the usual font of Chinese official documents; a viewer without
#: it substitutes a CJK font).
LEDGER_FONT = "宋体"
#: Wide columns of the data sheet (long text).
DATA_WIDE = {
    "requirement",
    "current_state",
    "remarks",
    "gap",
    "basis",
    "evidence",
    "warning",
    "plan_reference",
    "source",
}
#: Font size (points) of the official sheets, the height of one line of it in a cell, the
#: width of a CJK character in Excel's width units (about 2 at 11 points; LibreOffice draws it
#: a little narrower) and the cap Excel puts on a row.
FONT_PT = 11
LINE_PT = 15.0
CJK_UNITS = 2.0
MAX_ROW_PT = 409.0
#: Above this many communities the workbook has no sheet per community and no data sheet
#: (hundreds of tabs help nobody and cost minutes): the 工作台账 sheet holds every open item,
#: filtered by 社区, and ledger.csv every row. A usability choice, no standard sets it.
MAX_COMMUNITY_SHEETS = 60
#: Numeric columns (centred, no wrapping) of the official sheets.
NUMERIC = {"no", "residents_affected", "investment_wan", "in_plan"}


# ----------------------------------------------------------------------------- units


# ----------------------------------------------------------------------------- reading one row


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _covers(rule: Rule, entries: Iterable[PilotEntry], rule_ids: Iterable[str] = ()) -> list[PilotEntry]:
    """The entries whose ``covers`` names the rule's id. A facility type in ``covers`` stands
    for the rules of that type only when it is not itself a rule id of the rulebook (so that a
    plan written for complete_community_2020 still speaks to e.g. gb50180_2018's rules)."""
    ids = set(rule_ids)
    ft = rule.facility_type
    return [e for e in entries if rule.id in e.covers or (ft and ft in e.covers and ft not in ids)]


def _thr(g: Mapping[str, Any], rule: Rule) -> str:
    """The rule's threshold as its rule states it ('300米', '10分钟（667米）')."""
    return threshold_text(_num(g["threshold_min"]), _num(g["threshold_m"]), rule.stated_in_metres, "zh")


def requirement_text(rule: Rule, g: Mapping[str, Any] | None) -> str:
    """标准要求: the standard's words, then exactly what was checked (检查口径), with the numbers
    that were checked."""
    text = rule.requirement_zh or rule_name(rule, "zh")
    if not rule.is_spatial or g is None:
        return text
    thr = _thr(g, rule)
    reading = str(g.get("distance_reading") or "")
    speed = (
        READING_ZH.get(reading, "")
        if reading != "speed"
        else READING_ZH["speed"].format(speed=f"{_num(g['speed_m_per_min']):g}")
    )
    c = rule.capacity
    parts: list[str] = []
    if rule.check == "supply" and c is not None:
        scope = "" if c.applies_to == "all" else "（新建社区作判定，既有社区列出数量待核查）"
        target = c.describe_zh() if c.target is not None else f"按户统计社区内{c.unit_zh or '数量'}（无判定值）"
        parts.append(f"社区内设施{target}{scope}")  # a quantity: no walking distance is checked
    elif rule.check == "presence":
        parts.append(f"社区内或步行{thr}内有此设施{speed}")
    else:
        parts.append(f"步行{thr}内可达{speed}")
        if rule.min_size_m2 is not None:
            scope = "" if rule.size_applies else "（仅新建社区，既有社区仅供参考）"
            kind = "用地" if rule.size_kind == "land" else "建筑面积"
            parts.append(f"{kind}不小于{rule.min_size_m2:g}平方米{scope}")
        if rule.min_count > 1:
            parts.append(f"至少{rule.min_count}处")
        if c is not None and c.target is not None:
            scope = "" if c.applies_to == "all" else "（仅新建社区）"
            whose = "社区自有" if c.basis == "own" else "步行范围内可达"
            parts.append(f"{whose}{c.describe_zh()}{scope}")
    if rule.recommended_size_m2 is not None and "为宜" not in text:
        parts.append(f"建筑面积以{rule.recommended_size_m2:g}平方米为宜（建议规模，不作判定）")
    if rule.required == "conditional":
        parts.append("具备条件的配建，缺少不计为缺口")
    elif rule.required == "as_needed":
        parts.append("△按需配建，缺少不计为缺口")
    return f"{text}。检查口径：" + "，".join(parts)


def _own_text(rule: Rule, g: Mapping[str, Any]) -> str:
    """The community's own supply in words ('' when the rule does not count it)."""
    c = rule.capacity
    own_n, own = _num(g.get("facilities_own")), _num(g.get("supply_own"))
    if c is None or not (c.basis == "own" or rule.check == "supply") or not np.isfinite(own_n):
        return ""
    unit = c.unit_zh or ("平方米" if c.measure == "size_m2" else "个")
    who = "户" if c.demand == "households" else "人"
    per = "" if c.per == 1 else f"{c.per:g}"
    return f"社区内设施{own_n:.0f}处" + (f"，每{per}{who}{own:.3g}{unit}" if np.isfinite(own) else "")


def _unmeasured(rule: Rule, g: Mapping[str, Any], status: str) -> tuple[str, str, float, str] | None:
    """(现状, 缺口, affected, evidence) of a row without measured numbers; None for a measured row."""
    c = rule.capacity
    if status == "no_data":
        if str(g.get("no_data_reason") or "") == "not_surveyed":
            return (
                "输入数据中没有此类设施，且未声明已调查",
                "未知：需补充调查（数据缺失不等于缺口）",
                float("nan"),
                "开放数据对社区设施覆盖不全；实地调查后可用 --surveyed 声明",
            )
        return ("社区内没有可测量的居民点", "未知", float("nan"), str(g.get("evidence") or ""))
    if status == "to_assess" and not np.isfinite(_num(g.get("covered_share"))):
        need = c.describe_zh() if c is not None and c.target is not None else "数量"
        return ("输入数据中没有此类设施", f"待调查：清点社区内数量（{need}）", float("nan"), "")
    return None


def _state_lines(rule: Rule, g: Mapping[str, Any]) -> list[str]:
    """现状 of a measured row, part by part."""
    c = rule.capacity
    placed = _num(g["residents"]) - _num(g["residents_unplaced"])
    cov = placed - _num(g["residents_uncovered"])
    own_txt = _own_text(rule, g)
    state = [own_txt] if own_txt else []
    state += [
        f"步行{_thr(g, rule)}内覆盖{_num(g['covered_share']):.1%}居民（{cov:.0f}/{placed:.0f}人）",
        f"范围内设施{_num(g['facilities_within']):.0f}处",
    ]
    near_min, med = _num(g["nearest_min_min"]), _num(g["nearest_min_median"])
    if np.isfinite(near_min):
        state.append(f"最近居民步行{near_min:.1f}分钟，居民中位数{med:.1f}分钟")
    else:
        state.append("搜索范围内无此类设施")
    n_small = _num(g.get("facilities_undersized"))
    if n_small and n_small > 0:
        state.append(
            f"其中规模不足{n_small:.0f}处"
            if rule.size_applies
            else f"其中{n_small:.0f}处小于新建社区规模标准（既有社区仅供参考）"
        )
    if _num(g.get("size_checked")) == 0.0:
        state.append("输入未给出" + _unchecked_zh(rule) + "，规模未核")
    sup = _num(g.get("supply_accessible"))
    if np.isfinite(sup):
        view = "（可达性参考）" if c is not None and c.basis == "own" else ""
        state.append(
            f"步行范围内可达供给{sup:.3g}{g['supply_unit']}{view}"
            + ("" if g.get("supply_complete") in (True, 1.0) else "（部分设施缺数据，为下限）")
        )
    return state


def _undersized_gap(rule: Rule, g: Mapping[str, Any], placed: float) -> tuple[str, float]:
    """缺口 and residents affected of an ``undersized`` row: every shortfall the row has."""
    c = rule.capacity
    own, sup = _num(g.get("supply_own")), _num(g.get("supply_accessible"))
    n_small, res_und = _num(g.get("facilities_undersized")), _num(g.get("residents_undersized"))
    bits: list[str] = []
    affected = float("nan")
    if rule.check == "supply" and c is not None and c.target is not None and np.isfinite(own):
        unit = c.unit_zh or "个"
        bits.append(f"社区内每户{own:.3g}{unit} < 标准{c.target:g}{unit}")
        affected = placed
    if res_und and res_und > 0:
        bits.append(f"{res_und:.0f}名居民仅能到达规模不足（<{rule.min_size_m2:g}平方米）的设施")
        affected = res_und
    if rule.min_count > 1 and _num(g["facilities_within"]) - (n_small or 0) < rule.min_count:
        bits.append(
            f"范围内达标设施{_num(g['facilities_within']) - (n_small or 0):.0f}处，标准要求至少{rule.min_count}处"
        )
        affected = placed
    tgt = _num(g.get("supply_target"))
    if c is not None and c.basis == "own" and rule.check != "supply" and np.isfinite(own) and np.isfinite(tgt):
        if own < tgt:
            bits.append(f"社区自有{own:.3g}{g['supply_unit']} < 标准{tgt:g}（缺{tgt - own:.3g}）")
            affected = placed
    elif np.isfinite(sup) and np.isfinite(tgt) and sup < tgt:
        bits.append(f"可达供给{sup:.3g} < 标准{tgt:g}{g['supply_unit']}（缺{tgt - sup:.3g}）")
        affected = placed
    return "；".join(bits), affected


def _to_assess_gap(rule: Rule, g: Mapping[str, Any]) -> str:
    c, own = rule.capacity, _num(g.get("supply_own"))
    if c is not None and c.target is not None and np.isfinite(own):
        return f"待核查：新建社区标准{c.describe_zh()}，既有社区统筹解决"
    return "待核查：输入未给出数量（容量）" if not np.isfinite(own) else "待核查（标准未规定判定值）"


def _gap_text(rule: Rule, g: Mapping[str, Any], status: str) -> tuple[str, float]:
    """缺口 of a measured row and the residents it affects (NaN: not counted)."""
    placed = _num(g["residents"]) - _num(g["residents_unplaced"])
    unc, thr = _num(g["residents_uncovered"]), _thr(g, rule)
    if status == "undersized":
        return _undersized_gap(rule, g, placed)
    texts: dict[str, tuple[str, float]] = {
        "ok": ("无", float("nan")),
        "gap": (f"全部{placed:.0f}名居民步行{thr}内无此设施", placed),
        "partial": (f"{unc:.0f}名居民超出步行{thr}范围", unc),
        "unseen": (f"{unc:.0f}名居民步行{thr}内未见此设施（此类设施未声明已调查，未见不等于缺口）", unc),
        "reach_size_unverified": ("规模待核：可达，但输入未给出" + _unchecked_zh(rule), float("nan")),
        "conditional": (
            "具备条件时配建："
            + ("社区内及步行范围内均无" if rule.check == "presence" else f"{unc:.0f}名居民步行{thr}内无此设施"),
            float("nan"),
        ),
        "as_needed": (f"按需配建（△）：{unc:.0f}名居民步行{thr}内无此设施", float("nan")),
    }
    if status == "to_assess":
        return _to_assess_gap(rule, g), float("nan")
    return texts.get(status, ("", float("nan")))


def _own_shortfall(rule: Rule, g: Mapping[str, Any], status: str) -> str:
    """For a gap or partial row, the community's own supply below the target ('' otherwise)."""
    c, own = rule.capacity, _num(g.get("supply_own"))
    if status not in ("gap", "partial") or c is None or c.basis != "own" or c.target is None:
        return ""
    if not np.isfinite(own) or own >= c.target:
        return ""
    return f"；社区自有{own:.3g}{g['supply_unit']} < 标准{c.target:g}（缺{c.target - own:.3g}）"


def _evidence_zh(g: Mapping[str, Any]) -> str:
    """The row's evidence in Chinese: nearest and undersized facilities, residents not placed."""
    ev: list[str] = []
    if g.get("nearest_facilities"):
        ev.append(f"最近设施：{g['nearest_facilities']}")
    if g.get("undersized_facilities"):
        ev.append(f"规模不足：{g['undersized_facilities']}")
    return "；".join(ev + _people_notes(g))


def _people_notes(g: Mapping[str, Any]) -> list[str]:
    """What to know of a row's residents: some not placed on the network, an estimated population."""
    notes = []
    if _num(g["residents_unplaced"]) > 0:
        notes.append(f"{_num(g['residents_unplaced']):.0f}人未能定位到路网")
    if bool(g.get("population_estimated")):
        notes.append("人口为估算值")
    return notes


def _state_gap_evidence(rule: Rule, g: Mapping[str, Any], status: str) -> tuple[str, str, float, str]:
    """(现状, 缺口, residents affected, evidence) in Chinese for a spatial row."""
    unmeasured = _unmeasured(rule, g, status)
    if unmeasured is not None:
        return unmeasured
    gap_txt, affected = _gap_text(rule, g, status)
    return "；".join(_state_lines(rule, g)), gap_txt + _own_shortfall(rule, g, status), affected, _evidence_zh(g)


def _unchecked_zh(rule: Rule) -> str:
    """What a size check needs from the input, in Chinese ('建筑面积（标准：不小于120平方米）')."""
    parts = []
    if rule.size_applies:
        kind = "用地面积" if rule.size_kind == "land" else "建筑面积"
        parts.append(f"{kind}（标准：不小于{rule.min_size_m2:g}平方米）")
    c = rule.capacity
    if c is not None and c.target is not None and rule.check != "supply":
        what = "面积" if c.measure == "size_m2" else "容量"
        parts.append(f"{what}（标准：{c.describe_zh()}）")
    return "、".join(parts) or "规模"


def _short_evidence(g: Mapping[str, Any]) -> str:
    """The nearest facility (name, minutes) and the population caveats, for 备注."""
    bits = []
    near = str(g.get("nearest_facilities") or "").split("; ")[0]
    near = re.sub(r"^[a-z]+/\d+:[a-z_]+", "未命名设施", near)  # an unnamed facility shows its id
    if near:
        bits.append(f"最近：{near}")
    return "；".join(bits + _people_notes(g))


def _action(rule: Rule, g: Mapping[str, Any] | None, status: str) -> str:
    """The suggested action from the status and the walking evidence."""
    if status == "ok":
        return "none"
    if status in ("conditional", "as_needed"):
        return "consider"
    if status in ("no_data", "to_assess", "reach_size_unverified", "unseen") or g is None:
        return "survey"
    if status == "undersized":
        short_count = (
            rule.min_count > 1
            and _num(g["facilities_within"]) - (_num(g.get("facilities_undersized")) or 0) < rule.min_count
        )
        return "new_build" if short_count and not _num(g.get("residents_undersized")) else "upgrade"
    if rule.facility_type in OUTLET_TYPES:
        return "optimise"  # shops and stops: the network of outlets is laid out, not shared
    far = _num(g.get("uncovered_nearest_min"))
    if _in_neighbour(rule, g) and np.isfinite(far) and far <= SHARE_FACTOR * _num(g["threshold_min"]):
        return "share"
    return "new_build"


def _in_neighbour(rule: Rule, g: Mapping[str, Any]) -> bool:
    """The item may be shared and the facility nearest to the community's uncovered residents
    lies inside another community's boundary (never inside the community's own)."""
    if rule.facility_type not in SHAREABLE_TYPES:
        return False
    holders = [c for c in str(g.get("uncovered_nearest_community") or "").split(";") if c]
    return bool(holders) and str(g.get("community_id")) not in holders


def _uncovered_m(g: Mapping[str, Any] | None) -> float:
    """Walking metres of the community's uncovered residents (median) to their nearest facility."""
    if g is None:
        return float("nan")
    return _num(g.get("uncovered_nearest_min")) * _num(g["speed_m_per_min"])


def _action_text(
    action: str, g: Mapping[str, Any] | None, status: str, why: str = "", names: Mapping[str, Any] | None = None
) -> str:
    """The action in words; a 共建共享 names the neighbour (``names``: community id -> name) and
    the uncovered residents' median walk to its facility."""
    base = ACTION_ZH[action]
    if why:
        return f"{base}（{why}）"
    if action == "share" and g is not None:
        held = [c for c in str(g.get("uncovered_nearest_community") or "").split(";") if c]
        who = "、".join(str((names or {}).get(c) or c) for c in held) or "相邻社区"
        return f"{base}（未覆盖居民步行{_num(g['uncovered_nearest_min']):.1f}分钟至{who}的设施）"
    if action == "survey" and status == "to_assess":
        return "现场评估（对照标准逐项核查）" if g is None else "现场核查数量（标准规定数量）"
    if action == "survey" and status == "no_data":
        return "补充调查（核实设施现状）"
    if action == "survey" and status == "reach_size_unverified":
        return "现场核实规模（面积、容量）"
    if action == "survey" and status == "unseen":
        return "现场核实（数据中未见，未经调查）"
    if action == "consider":
        return "具备条件时配建（评估条件）" if status == "conditional" else "按需配建（评估需求）"
    return base


def _scale(rulebook: Rulebook) -> tuple[float, float, float]:
    """(lower population bound, upper bound, share_within_m) of the complete community."""
    lv = rulebook.levels.get("complete_community") or {}
    pop = lv.get("population") or [float("nan"), float("nan")]
    return _num(pop[0]), _num(pop[1]), _num(lv.get("share_within_m"))


def _wan(n: float) -> str:
    return f"{n / 10000:g}万"


def _basis(rule: Rule) -> str:
    """依据: document and clause, and which numbers are not verified."""
    text = rule.source
    if not rule.verified:
        fields = "、".join(FIELD_ZH.get(f, f) for f in rule.unverified) or "数值"
        text += f"（未核实：{fields}）"
    return text


#: Statuses that say "not there" in the data: a facility the plan records replaces them.
_ABSENT = ("gap", "partial", "unseen", "no_data")


def _plan_check(rule: Rule, p: PilotCommunity, pilot: Pilot, order: Mapping[str, int], status: str) -> dict[str, Any]:
    """The plan cross-check of one row, in levels: a project about the item (已列入方案), a
    facility the plan records as existing (an input, with the plan's action: 提标改造 / 盘活利用),
    a 举措 naming the item, a problem the plan lists, or a new finding."""
    proj = _covers(rule, p.projects, order)
    exist = _covers(rule, p.existing, order)
    meas = _covers(rule, p.measures, order) + _covers(rule, pilot.city_measures, order)
    prob = _covers(rule, p.problems, order)
    out: dict[str, Any] = {
        "plan_status": "",
        "plan_ref": "",
        "invest": float("nan"),
        "remarks": [],
        "action": "",
        "why": "",
        "exists": "",
    }
    open_ = status != "ok"
    if exist and open_:
        out["exists"] = "、".join(e.text for e in exist)
        planned = next((e.action for e in exist if e.action), "")
        out["action"], out["why"] = (
            (planned, "方案所载现有设施") if planned else ("survey", "方案称已有，核实位置并补录")
        )
        out["remarks"].append(f"方案称已有（{out['exists']}），输入数据未显示：核实位置后补录")
    if proj:
        out["plan_status"] = "in_plan"
        out["plan_ref"] = "；".join(f"项目{e.no}：{_short(e.text, 36)}" for e in proj)
        quotes = [f"方案措施：{e.quote}" for e in proj if e.quote]
        out["remarks"].append("已列入方案 " + out["plan_ref"] + ("；" + "；".join(quotes) if quotes else ""))
        invs = [e.investment_wan for e in proj if e.investment_wan is not None]
        out["invest"] = float(sum(invs)) if invs else float("nan")
        planned = next((e.action for e in proj if e.action), "")
        if planned and open_:
            out["action"], out["why"] = planned, "方案措施"
    elif exist and open_:
        out["plan_status"] = "exists_per_plan"
        out["plan_ref"] = "；".join(f"方案概况：{e.text}" for e in exist)
    elif meas:
        out["plan_status"] = "measure_listed"
        out["plan_ref"] = "；".join(f"方案举措（{e.section}）：{_short(e.text, 36)}" for e in meas)
        out["remarks"].append(out["plan_ref"])
    elif prob and open_:
        out["plan_status"] = "problem_listed"
        out["plan_ref"] = "；".join(f"问题{e.no}：{_short(e.text, 36)}" for e in prob)
        out["remarks"].append(f"方案已列问题（{out['plan_ref']}），未列项目")
    elif status in ACTIONABLE:
        out["plan_status"] = "new_finding"
        out["remarks"].append("新发现：方案未涉及")
    elif status in OPEN:
        out["plan_status"] = "not_in_plan"
    return out


# ----------------------------------------------------------------------------- the ledger


@dataclass
class _Community:
    """What the rows of one community share: who it is, its people and the units."""

    cid: str
    name: Any
    street: str
    pop: float
    hh: float
    pop_src: str
    hh_src: str
    below: bool
    scale_note: str
    deps: Departments
    plan: PilotCommunity | None


def _community(
    c: Mapping[str, Any],
    p: PilotCommunity | None,
    pilot: Pilot,
    departments: Departments | None,
    default_deps: Departments,
    lo: float,
) -> _Community:
    """A community's shared values (``lo``: the standard's smallest population of a community;
    its units: ``departments``, else the plan's for a pilot community, else ``default_deps``).
    """
    deps = departments or (pilot.departments if p is not None and pilot.departments is not None else default_deps)
    pop, hh = _num(c["population"]), _num(c.get("households"))
    street = c.get("street", "")
    street = "" if street is None or (isinstance(street, float) and math.isnan(street)) else str(street)
    pop_src = str(
        c.get("population_source", "")
        or (SOURCE_ZH["estimate"] if bool(c.get("population_estimated")) else SOURCE_ZH["boundary"])
    )
    hh_src = str(c.get("households_source", "") or (SOURCE_ZH["boundary"] if np.isfinite(hh) else SOURCE_ZH["unknown"]))
    below = bool(np.isfinite(pop) and np.isfinite(lo) and 0 < pop < lo)
    scale_note = f"人口{pop:.0f}人，低于完整居住社区{_wan(lo)}人：统筹联动周边社区、共建共享" if below else ""
    return _Community(str(c["id"]), c["name"], street, pop, hh, pop_src, hh_src, below, scale_note, deps, p)


@dataclass
class _Draft:
    """One row while it is made: the verdict and the texts the plan and the scale may change."""

    status: str
    state: str
    gap: str
    affected: float
    evidence: str
    action: str
    why: str = ""
    remarks: list[str] = field(default_factory=list)
    plan_status: str = ""
    plan_ref: str = ""
    in_plan: bool | None = None
    invest: float = float("nan")


def _draft(rule: Rule, g: Mapping[str, Any] | None) -> _Draft:
    """The row as measured (a checklist item: to assess on site)."""
    status = g["status"] if g is not None else "to_assess"
    if g is not None:
        state, gap_txt, affected, evidence = _state_gap_evidence(rule, g, status)
    else:
        state, gap_txt, affected, evidence = "需人工评估（无法从地图数据判断）", "待现场评估", float("nan"), ""
    return _Draft(status, state, gap_txt, affected, evidence, _action(rule, g, status))


def _apply_plan(d: _Draft, rule: Rule, cm: _Community, pilot: Pilot, order: Mapping[str, int]) -> None:
    """What the pilot plan says of the item: its project or measure, what it says exists."""
    if cm.plan is None:
        return
    pc = _plan_check(rule, cm.plan, pilot, order, d.status)
    d.plan_status, d.plan_ref, d.invest = pc["plan_status"], pc["plan_ref"], pc["invest"]
    d.remarks += pc["remarks"]
    if pc["action"]:
        d.action, d.why = pc["action"], pc["why"]
    if pc["exists"]:
        # what the plan says exists is an input to verify, never a gap (现有，方案所载，位置待核)
        d.status = "to_assess" if d.status in _ABSENT else d.status
        d.state = f"现有，方案所载，位置待核：{pc['exists']}；{d.state}"
        d.gap = "方案所载现有设施，位置待核实后补录；" + d.gap if d.status == "to_assess" else d.gap
    # 是 only for a project whose subject is the item (汇总 counts the same rows)
    d.in_plan = d.plan_status == "in_plan"


def _apply_scale(d: _Draft, rule: Rule, g: Mapping[str, Any] | None, cm: _Community, share_m: float) -> None:
    """A community below the standard's population: basic services shared with the neighbours."""
    if not cm.below or d.status == "ok":
        return
    d.remarks.append(cm.scale_note)
    near = _uncovered_m(g)
    if (
        not d.why
        and g is not None
        and rule.category == "basic_public_service"
        and _in_neighbour(rule, g)
        and d.status in ("gap", "partial")
        and np.isfinite(near)
        and np.isfinite(share_m)
        and near <= share_m
    ):
        d.action, d.why = "share", f"统筹联动周边社区，未覆盖居民步行{near:.0f}米至相邻社区设施"


def _apply_remarks(d: _Draft, rule: Rule, g: Mapping[str, Any] | None) -> str:
    """The remarks on the verdict's nature and evidence; returns the finding kind (判定 / 提示)."""
    if d.status in ("conditional", "as_needed"):
        d.remarks.append("具备条件的配建项目，不计为缺口" if d.status == "conditional" else "△按需配建项目，不计为缺口")
    finding = ""
    if d.status in ACTIONABLE:
        finding = "判定 verdict" if rule.verified else "提示 warning"
        if not rule.verified:
            d.remarks.insert(0, "结论仅作提示（数值未核实，见依据）")
    if g is not None and d.status != "ok":
        d.remarks.append(_short_evidence(g))
    return finding


def _item_row(
    rule: Rule,
    g: Mapping[str, Any] | None,
    cm: _Community,
    pilot: Pilot,
    order: Mapping[str, int],
    names: Mapping[str, Any],
    share_m: float,
) -> dict[str, Any]:
    """One ledger row: a community × rulebook item."""
    d = _draft(rule, g)
    _apply_plan(d, rule, cm, pilot, order)
    _apply_scale(d, rule, g, cm, share_m)
    finding = _apply_remarks(d, rule, g)
    lead, support = cm.deps.assign(rule)
    is_open = d.status in OPEN
    return {
        "street": cm.street,
        "community_name": cm.name,
        "category_zh": CATEGORIES.get(rule.category, (rule.category,))[0] if rule.category else "",
        "item_name": rule_name(rule, "zh"),
        "current_state": d.state,
        "gap": d.gap,
        "residents_affected": d.affected if np.isfinite(d.affected) else np.nan,
        "action_zh": _action_text(d.action, g, d.status, d.why, names),
        "lead_unit": lead,
        "responsible_units": support,
        "person_in_charge": "",
        "deadline": pilot.deadline_text(d.action) if cm.plan is not None and is_open else "",
        "progress": "",
        "investment_wan": d.invest if np.isfinite(d.invest) else np.nan,
        "in_plan": d.in_plan,
        "requirement": requirement_text(rule, g),
        "basis": _basis(rule),
        "remarks": "；".join(d.remarks),
        "community_id": cm.cid,
        "priority": 0,
        "rule_id": rule.id,
        "facility_type": rule.facility_type,
        "item": rule.item,
        "category": rule.category,
        "level": LEVELS.get(rule.level, (rule.level,))[0] if rule.level else "",
        "status": d.status,
        "status_zh": STATUS_ZH.get(d.status, d.status),
        "required": rule.required if rule.is_spatial else "",
        "action": d.action,
        "plan_status": d.plan_status,
        "plan_status_zh": PLAN_STATUS_ZH[d.plan_status],
        "plan_reference": d.plan_ref,
        "priority_group": "一老一幼" if rule.elderly_child else "",
        "finding_kind": finding,
        "warning": warning_text(rule),
        "verified": rule.verified,
        "source": rule.source,
        "evidence": d.evidence,
        "covered_share": _num(g.get("covered_share")) if g is not None else np.nan,
        "residents": int(round(cm.pop)) if np.isfinite(cm.pop) else np.nan,
        "households": int(round(cm.hh)) if np.isfinite(cm.hh) else np.nan,
        "population_source": cm.pop_src,
        "households_source": cm.hh_src,
        "below_scale": cm.below,
        "_order": order[rule.id],
        "_rprio": rule.priority,
        "_ec": 0 if rule.elderly_child else 1,
    }


def _sorted_ledger(rows: list[dict[str, Any]], communities: pd.DataFrame) -> pd.DataFrame:
    """The rows in the ledger's order (community, then priority) with the blank write-in columns."""
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    df["_k"] = df["status"].map(STATUS_CLASS)
    df["_aff"] = -df["residents_affected"].fillna(0)
    corder = {cid: i for i, cid in enumerate(communities["id"].astype(str))}
    df["_c"] = df["community_id"].map(corder)
    df = df.sort_values(["_c", "_k", "_ec", "_aff", "_rprio", "_order"], kind="stable")
    df["priority"] = df.groupby("_c").cumcount() + 1
    for col in ("survey_result", "survey_name", "survey_location", "survey_size"):
        df[col] = ""
    df["key"] = df["community_id"].astype(str) + "/" + df["rule_id"].astype(str)
    return df[list(LEDGER_COLUMNS)].reset_index(drop=True)


def _gap_rows(gaps: pd.DataFrame) -> dict[tuple[str, Any], dict[str, Any]]:
    """(community id, rule id) -> the gap row as a dict, keyed as ``itertuples()._asdict()``.

    Each column is read once as a list (Python scalars, as iterating a column gives): iterating
    the text columns element by element cost more than the ledger's own rows at city size.
    """
    if gaps.empty:
        return {}
    fields = next(gaps.head(1).itertuples(index=False))._fields  # the names itertuples gives
    rows = [dict(zip(fields, values, strict=True)) for values in zip(*column_lists(gaps), strict=True)]
    return {(str(r["community_id"]), r["rule_id"]): r for r in rows}


def build_ledger(
    gaps: pd.DataFrame,
    communities: pd.DataFrame,
    rulebook: Rulebook,
    *,
    departments: Departments | None = None,
    pilot: Pilot | None = None,
) -> pd.DataFrame:
    """The ledger: one row per community × rulebook item (spatial rules and checklist items).

    Parameters
    ----------
    gaps : DataFrame
        Output of :func:`circles.gaps.compute_gaps`.
    communities : DataFrame
        ``id``, ``name``, ``population``; optional ``households``, ``street`` and the columns of
        :func:`apply_pilot_attributes` (``pilot_id``, ``population_source`` …).
    rulebook : Rulebook
    departments : Departments, optional
        A city's own units (:func:`load_departments` with a file) for every community. Default:
        the pilot plan's units for its pilot communities, the neutral default elsewhere.
    pilot : Pilot, optional
        Default: the packaged Rugao plan. Matching uses ``pilot_id`` when present, else the name.

    Returns
    -------
    DataFrame
        Columns :data:`circles._labels.LEDGER_COLUMNS`, sorted by community then priority.
    """
    pilot = pilot if pilot is not None else load_pilot()
    default_deps = load_departments()
    by_key = _gap_rows(gaps)
    names = dict(zip(communities["id"].astype(str), communities["name"], strict=True))
    lo, _hi, share_m = _scale(rulebook)
    order = {r.id: i for i, r in enumerate(rulebook.all_items())}
    rows = []
    for (_, c), p in zip(communities.iterrows(), pilots_of(communities, pilot), strict=True):
        cm = _community(c, p, pilot, departments, default_deps, lo)
        for rule in rulebook.all_items():
            g = by_key.get((cm.cid, rule.id)) if rule.is_spatial else None
            if rule.is_spatial and g is None:
                raise ValueError(f"the gap report has no row for community {cm.cid!r} and rule {rule.id!r}")
            rows.append(_item_row(rule, g, cm, pilot, order, names, share_m))
    return _sorted_ledger(rows, communities)


#: Columns that speak of a pilot plan: shown only when a community of the run matched one.
PILOT_COLUMNS = ("pilot", "plan_area_km2", "in_plan", "new_finding")


def shown_columns(ledger: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """The official columns worth showing for this ledger: 街道 only when known, the plan's
    columns (是否已列入方案, 对应试点社区, 方案面积, 已列入方案, 新发现) only when a community of the run
    matched a pilot plan (another city's ledger never shows Rugao's columns)."""
    cols = list(columns)
    if "street" in ledger.columns and not ledger["street"].astype(str).str.len().gt(0).any():
        cols = [c for c in cols if c != "street"]
    if "plan_status" in ledger.columns and not ledger["plan_status"].astype(str).str.len().gt(0).any():
        cols = [c for c in cols if c not in PILOT_COLUMNS]
    return cols


def open_items(ledger: pd.DataFrame) -> pd.DataFrame:
    """The rows not met (every status but ``ok``), community by community in priority order."""
    return ledger[ledger["status"].isin(OPEN)].reset_index(drop=True)


def ledger_summary(ledger: pd.DataFrame, communities: pd.DataFrame) -> pd.DataFrame:
    """One row per community: residents, households and their sources, the pilot match, counts
    per status, open 一老一幼 items, plan matches, the population scale and the top priorities."""
    rows = []
    area = None
    try:
        if hasattr(communities, "crs") and communities.crs is not None:
            proj = (
                communities if not communities.crs.is_geographic else communities.to_crs(communities.estimate_utm_crs())
            )
            area = dict(zip(communities["id"].astype(str), proj.geometry.area / 1e6, strict=True))
    except Exception:  # geometry problems never stop the ledger
        area = None
    # every figure per community at once (grouped), then one row per community in their order
    by = ledger["community_id"].astype(str)
    first = ledger.groupby(by, sort=False)[
        ["street", "residents", "population_source", "households", "households_source"]
    ].nth(0)
    first.index = pd.Index(by.loc[first.index].to_numpy())
    counts = pd.crosstab(by, ledger["status"])
    act = ledger[ledger["status"].isin(ACTIONABLE)]
    act_by = by.loc[act.index]
    ec = act[act["priority_group"] == "一老一幼"].groupby(act_by, sort=False)["item_name"].agg("、".join)
    top_rows = act.groupby(act_by, sort=False).head(5)
    top = (
        (top_rows["priority"].astype(str) + ". " + top_rows["item_name"] + "（" + top_rows["status_zh"] + "）")
        .groupby(by.loc[top_rows.index], sort=False)
        .agg("；".join)
    )
    below = ledger["below_scale"].astype(bool).groupby(by, sort=False).any()
    in_plan = (ledger["plan_status"] == "in_plan").groupby(by, sort=False).sum()
    new_finding = (ledger["plan_status"] == "new_finding").groupby(by, sort=False).sum()
    for _, c in communities.iterrows():
        cid = str(c["id"])
        has = cid in first.index
        f: Any = first.loc[cid] if has else {}
        cnt = counts.loc[cid] if cid in counts.index else None
        rows.append(
            {
                "community_name": c["name"],
                "street": f["street"] if has else "",
                "pilot": str(c.get("pilot_name", "") or ""),
                "residents": f["residents"] if has else np.nan,
                "population_source": f["population_source"] if has else "",
                "households": f["households"] if has else np.nan,
                "households_source": f["households_source"] if has else "",
                "plan_area_km2": _num(c.get("plan_area_km2")),
                "boundary_area_km2": round(area[cid], 3) if area and cid in area else np.nan,
                **{st: int(cnt.get(st, 0)) if cnt is not None else 0 for st in STATUS_CLASS},
                "elderly_child_open": ec.get(cid, ""),
                "in_plan": int(in_plan.get(cid, 0)),
                "new_finding": int(new_finding.get(cid, 0)),
                "scale_note": "低于0.5万人：统筹联动周边社区" if bool(below.get(cid, False)) else "",
                "top_priorities": top.get(cid, ""),
                "community_id": cid,
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def unmatched_plan_projects(
    ledger: pd.DataFrame, communities: pd.DataFrame, pilot: Pilot | None = None
) -> pd.DataFrame:
    """Planned projects of the matched pilot communities that no ledger item refers to (work the
    plan lists beyond the standard's items, e.g. lifts, 雪亮工程, epidemic supplies)."""
    pilot = pilot if pilot is not None else load_pilot()
    rows = []
    for (_, c), p in zip(communities.iterrows(), pilots_of(communities, pilot), strict=True):
        if p is None:
            continue
        refs = " ".join(ledger.loc[ledger["community_id"] == str(c["id"]), "plan_reference"].astype(str))
        for e in p.projects:
            if f"项目{e.no}：" not in refs:
                rows.append({"community_name": c["name"], "project_no": e.no, "project": e.text})
    return pd.DataFrame(rows, columns=["community_name", "project_no", "project"])


# ----------------------------------------------------------------------------- writing


def write_ledger_csv(ledger: pd.DataFrame, path: str | Path) -> Path:
    """The ledger as UTF-8 CSV with a BOM and the English keys of
    :data:`circles._labels.LEDGER_COLUMNS` (formula-like text neutralised)."""
    path = Path(path)
    write_csv(ledger, path)
    return path


def write_ledger_xlsx(
    ledger: pd.DataFrame,
    path: str | Path,
    communities: pd.DataFrame | None = None,
    *,
    rulebook: Rulebook | None = None,
    pilot: Pilot | None = None,
    date: str | None = None,
    carried: Carried | None = None,
    opinions: pd.DataFrame | None = None,
) -> Path:
    """The ledger as the workbook officials print and sign: see
    :func:`circles.workbooks.write_ledger_workbook` (where the workbook code lives)."""
    from .workbooks import write_ledger_workbook

    return write_ledger_workbook(
        ledger, path, communities, rulebook=rulebook, pilot=pilot, date=date, carried=carried, opinions=opinions
    )


def _notes(
    ledger: pd.DataFrame, communities: pd.DataFrame, rulebook: Rulebook | None, pilot: Pilot
) -> list[tuple[str, str]]:
    """The lines of the 说明 sheet."""
    lines: list[tuple[str, str]] = [(f"{LEDGER_TITLES['title']} 说明", "")]
    lines.append(
        (
            "分社区打印",
            f"每个事项只占一行（只在一处填报）：打印某个社区的事项，请在“{LEDGER_TITLES['ledger']}”"
            f"“{LEDGER_TITLES['survey']}”表按“社区”列筛选后打印",
        )
    )
    lines.append(
        (
            "标准要求、依据",
            f"见“{LEDGER_TITLES['reference']}”表（按事项）；数据表（隐藏、不打印）含每行的全部字段",
        )
    )
    if len(communities) > MAX_COMMUNITY_SHEETS:
        lines.append(
            (
                "数据表",
                f"共{len(communities)}个社区，超过{MAX_COMMUNITY_SHEETS}个，未附数据表："
                "每个社区的全部事项（含已达标项）见 ledger.csv",
            )
        )
    if rulebook is not None:
        lines.append(("规则集", f"{rulebook.profile}: {rulebook.name_zh} ({rulebook.path})"))
        if len(rulebook.extends) > 1:
            lines.append(("继承", " -> ".join(rulebook.extends)))
        for ch in rulebook.changes:
            lines.append(("本地修改", ch))
    lines.append(("", ""))
    lines.append(("状态（缺口列的底色）", "含义"))
    for st, m in LEDGER_STATUS_MEANING.items():
        lines.append((STATUS_ZH[st], m))
    lines.append(("", ""))
    lines.append(("建议措施", ""))
    lo = _scale(rulebook)[0] if rulebook is not None else float("nan")
    explain = {
        k: v.format(factor=f"{SHARE_FACTOR:g}", scale=_wan(lo) if np.isfinite(lo) else "")
        for k, v in LEDGER_ACTION_MEANING.items()
    }
    for a, zh in ACTION_ZH.items():
        lines.append((zh, explain.get(a, "")))
    lines.append(("", ""))
    lines.append(
        (
            "优先序",
            "先需行动项（一老一幼优先，再按受影响居民数），再补充调查、现场评估、具备条件时或按需配建，最后已达标项",
        )
    )
    lines.append(("结论性质", "提示 = 标准数值未经官方文本核实，仅作提示，不作定论（见“依据”列）"))
    lines.append(("责任人、推进情况", "由牵头单位填写；投资估算（万元）在方案给出时填入"))
    lines.append((PROJECT_WORDS["sheet"], PROJECT_WORDS["notes"]))
    lines.append((OFFICIAL_COLUMNS["survey_result"], PROJECT_WORDS["survey_notes"]))
    lines.append(("牵头单位、责任单位", "牵头单位均为政府部门；供电、邮政、通信、有线等企业只作责任单位"))
    if pilot.phases and any(str(x) for x in ledger.get("deadline", pd.Series(dtype=str)) if x):
        lines.append(("", ""))
        lines.append(("试点工作阶段（方案原文）", pilot.source))
        for ph in pilot.phases:
            lines.append((ph.name_zh, f"{ph.text_zh}（{ph.period_zh}）"))
        lines.append(("完成时限", f"试点社区待办事项默认为第{pilot.deadline_phase}阶段末（{pilot.deadline_text()}）"))
        if pilot.survey_phase is not None:
            lines.append(
                (
                    "",
                    f"调查、核实类事项为第{pilot.survey_phase}阶段末（{pilot.deadline_text('survey')}，方案：认真排查）",
                )
            )
        if pilot.reporting_zh:
            lines.append(("报送", pilot.reporting_zh))
    extra = unmatched_plan_projects(ledger, communities, pilot)
    if len(extra):
        lines.append(("", ""))
        lines.append(("试点方案中标准条目以外的项目", ""))
        for r in extra.itertuples():
            lines.append((f"{r.community_name} 项目{r.project_no}", r.project))
    return lines


def ledger_for(result, *, departments: Departments | None = None, pilot: Pilot | None = None) -> pd.DataFrame:
    """The ledger of a :class:`circles.pipeline.Result`."""
    return build_ledger(result.gaps, result.communities, result.rulebook, departments=departments, pilot=pilot)
