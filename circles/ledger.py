"""The investigation ledger (完整社区建设工作台账): one row per community × item of the
rulebook, for the officials who fill the gaps.

The Rugao plan asks each pilot to "排查…基本情况…形成具体实施项目清单，建立完整社区建设工作台账"
(phase 2). :func:`build_ledger` turns the gap report (spatial rules) and the rulebook's
checklist items (status ``to_assess``) into that ledger:

- the standard's requirement, the current state in numbers, the gap, the evidence (nearest
  facilities with walking minutes, residents uncovered, undersized facilities, supply per
  population);
- a priority: items needing action first — "一老一幼" (elderly and young children) items
  before the others, then by residents affected — then items to survey, items to assess on
  site, and items already met;
- the suggested kind of action: ``new_build``, ``share`` (a facility of the type is within
  :data:`SHARE_FACTOR` × the threshold: share it with the neighbouring community, as the plans
  themselves propose for 幼托), ``upgrade`` (too small), ``survey`` (no data, or a checklist
  item to assess on site), ``none``;
- the lead and supporting departments (``circles/config/departments.yaml``: the Rugao leading
  group's member units);
- for the Rugao pilot communities (``circles/config/rugao_pilot.yaml``): whether the plan
  already lists a project for the item (``in_plan``), lists only the problem
  (``problem_listed``), or the gap is a ``new_finding``.

Rugao pilot communities
-----------------------
:func:`apply_pilot_attributes` recognises 孔庙, 迎新 and 仙鹤 by the boundary's ``name`` (e.g.
"孔庙社区", "孔庙", "如城街道孔庙社区"). It then takes the plan's population when the boundary
has none (population 0) or only an estimate (``population_estimated`` true), and the plan's
households when the boundary has no ``households``; the columns ``population_source`` and
``households_source`` say which was used. No open geometry of these boundaries exists: the
user digitises them from the plan's wording (孔庙: east and south the moat 护城河, west 海阳路,
north 中山路; 迎新: east 碧霞路, west 海阳路, south 中山路, north 如泰河; 仙鹤: north 如泰河,
south 老通扬运河, east 茅雉河, west 东皋路/万寿路) — see ``docs/rugao.md``. The ledger's
summary compares the digitised area with the plan's (0.3 / 0.42 / 0.9 km²).

Outputs: ``ledger.csv`` (UTF-8 with BOM) and ``ledger.xlsx`` (a summary sheet, one sheet per
community, a notes sheet; Chinese headers on row 1, English on row 2, frozen, filtered).
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
from ._labels import ACTION_ZH, LEDGER_COLUMNS, PLAN_STATUS_ZH, STATUS_FILL, STATUS_ZH, SUMMARY_COLUMNS
from ._sheets import append_row, save_workbook, write_csv
from .errors import ConfigError
from .gaps import warning_text
from .rulebook import CATEGORIES, LEVELS, Rule, Rulebook

log = logging.getLogger(__name__)

#: A gap is "share with the neighbouring community" when a facility of the type is within
#: this many times the rule's threshold of the community's residents (a circles heuristic).
SHARE_FACTOR = 2.0


WIDTHS = {
    "community_name": 16,
    "priority": 7,
    "item_name": 22,
    "status_zh": 10,
    "action_zh": 16,
    "lead_department": 22,
    "plan_status_zh": 14,
    "requirement": 48,
    "current_state": 44,
    "gap": 36,
    "residents_affected": 10,
    "evidence": 60,
    "priority_group": 9,
    "support_departments": 26,
    "plan_reference": 44,
    "finding_kind": 10,
    "warning": 40,
    "item": 20,
    "category": 14,
    "level": 12,
    "rule_id": 20,
    "facility_type": 16,
    "status": 10,
    "action": 10,
    "plan_status": 12,
    "verified": 8,
    "source": 40,
    "residents": 9,
    "households": 9,
    "population_source": 30,
    "households_source": 30,
    "community_id": 18,
    "pilot": 12,
    "plan_area_km2": 10,
    "boundary_area_km2": 10,
    "elderly_child_open": 24,
    "in_plan": 9,
    "new_finding": 9,
    "top_priorities": 60,
    "undersized": 8,
    "no_data": 8,
    "to_assess": 8,
    "ok": 8,
    "gap_count": 8,
    "partial": 8,
}
WRAP = {
    "requirement",
    "current_state",
    "gap",
    "evidence",
    "plan_reference",
    "warning",
    "source",
    "top_priorities",
    "elderly_child_open",
    "support_departments",
    "lead_department",
    "population_source",
    "households_source",
    "item_name",
}


# ----------------------------------------------------------------------------- data files


@dataclass
class Departments:
    """Department names and who leads which ledger item."""

    names: dict[str, str]
    by_rule: dict[str, dict]
    by_facility_type: dict[str, dict]
    by_category: dict[str, dict]
    default: dict
    always_support: list[str]
    path: str = ""

    def assign(self, rule: Rule) -> tuple[str, str]:
        """(lead, support) department names for ``rule``, joined with '、'."""
        for table, key in (
            (self.by_rule, rule.id),
            (self.by_facility_type, rule.facility_type),
            (self.by_category, rule.category),
        ):
            if key and key in table:
                entry = table[key]
                break
        else:
            entry = self.default
        lead = list(entry.get("lead") or [])
        support = [d for d in list(entry.get("support") or []) + self.always_support if d not in lead]
        support = list(dict.fromkeys(support))
        return "、".join(self.names[d] for d in lead), "、".join(self.names[d] for d in support)


def load_departments(path: str | Path | None = None) -> Departments:
    """The department mapping (default: ``circles/config/departments.yaml``, Rugao's leading group)."""
    data, label = config_file("departments.yaml", path)
    deps = data.get("departments")
    if not isinstance(deps, dict) or not deps:
        raise ConfigError(f"{label}: expected a mapping 'departments' (id -> name_zh)")
    names = {}
    for k, v in deps.items():
        if not isinstance(v, dict) or not v.get("name_zh"):
            raise ConfigError(f"{label}: department '{k}': missing 'name_zh'")
        names[str(k)] = str(v["name_zh"])

    def table(key: str) -> dict[str, dict]:
        t = data.get(key) or {}
        if not isinstance(t, dict):
            raise ConfigError(f"{label}: '{key}' should be a mapping")
        for k, e in t.items():
            if not isinstance(e, dict) or not e.get("lead"):
                raise ConfigError(f"{label}: {key}: '{k}': expected a mapping with a 'lead' list")
            for d in list(e.get("lead") or []) + list(e.get("support") or []):
                if d not in names:
                    raise ConfigError(f"{label}: {key}: '{k}': unknown department '{d}' (known: {', '.join(names)})")
        return {str(k): e for k, e in t.items()}

    default = data.get("default") or {"lead": []}
    always = list(data.get("always_support") or [])
    for d in always + list(default.get("lead") or []):
        if d not in names:
            raise ConfigError(f"{label}: unknown department '{d}' (known: {', '.join(names)})")
    return Departments(
        names=names,
        by_rule=table("by_rule"),
        by_facility_type=table("by_facility_type"),
        by_category=table("by_category"),
        default=default,
        always_support=always,
        path=label,
    )


@dataclass
class PilotEntry:
    """A problem or a planned project of a pilot community's plan."""

    no: int
    text: str
    covers: tuple[str, ...] = ()


@dataclass
class PilotCommunity:
    """A pilot community as its plan describes it."""

    id: str
    name_zh: str
    aliases: tuple[str, ...]
    area_km2: float | None
    households: float | None
    population: float | None
    population_note: str = ""
    boundary_zh: str = ""
    attachment: str = ""
    problems: list[PilotEntry] = field(default_factory=list)
    projects: list[PilotEntry] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pilot:
    """A city's pilot plan: its communities and where the figures come from."""

    communities: list[PilotCommunity]
    source: str
    path: str = ""

    def match(self, name: Any) -> PilotCommunity | None:
        """The pilot community whose name or alias matches ``name`` (see :func:`normalise_name`)."""
        key = normalise_name(name)
        if not key:
            return None
        for c in self.communities:
            if key in {normalise_name(a) for a in (c.name_zh,) + c.aliases}:
                return c
        return None


_PREFIXES = ("江苏省", "南通市", "如皋市", "如城街道", "如城")
_SUFFIXES = ("社区居民委员会", "居民委员会", "社区居委会", "居委会", "社区", " community")


def normalise_name(name: Any) -> str:
    """A community name without spaces, city/street prefixes and 社区/居委会 suffixes, lower-case.

    >>> normalise_name("如城街道 孔庙社区")
    '孔庙'
    """
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    s = re.sub(r"\s+", "", str(name)).lower()
    changed = True
    while changed and s:
        changed = False
        for p in _PREFIXES:
            if s.startswith(p) and len(s) > len(p):
                s, changed = s[len(p) :], True
        for suf in _SUFFIXES:
            suf = suf.replace(" ", "")
            if s.endswith(suf) and len(s) > len(suf):
                s, changed = s[: -len(suf)], True
    return s


def _pilot_num(c: Mapping[str, Any], key: str, where: str) -> float | None:
    """A non-negative number of a pilot community entry (None when absent)."""
    v = c.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ConfigError(f"{where}: '{key}' should be a non-negative number, got {v!r}")
    return float(v)


def _pilot_entries(c: Mapping[str, Any], key: str, where: str) -> list[PilotEntry]:
    """The numbered problems or projects of a pilot community entry."""
    lst = c.get(key) or []
    if not isinstance(lst, list):
        raise ConfigError(f"{where}: '{key}' should be a list")
    res = []
    for j, e in enumerate(lst):
        if not isinstance(e, dict) or not e.get("text"):
            raise ConfigError(f"{where}: {key} #{j + 1}: expected a mapping with 'text'")
        res.append(
            PilotEntry(
                no=int(e.get("no", j + 1)),
                text=str(e["text"]),
                covers=tuple(str(x) for x in (e.get("covers") or [])),
            )
        )
    return res


def load_pilot(path: str | Path | None = None) -> Pilot:
    """A pilot plan as data (default: ``circles/config/rugao_pilot.yaml``, the Rugao 2023 plan)."""
    data, label = config_file("rugao_pilot.yaml", path)
    raw = data.get("communities")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{label}: expected a non-empty list 'communities'")
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict) or not c.get("id") or not c.get("name_zh"):
            raise ConfigError(f"{label}: community #{i + 1}: expected a mapping with 'id' and 'name_zh'")
        what = f"community '{c['id']}'"

        known = {
            "id",
            "name_zh",
            "aliases",
            "area_km2",
            "households",
            "population",
            "population_note",
            "boundary_zh",
            "attachment",
            "problems",
            "projects",
        }
        out.append(
            PilotCommunity(
                id=str(c["id"]),
                name_zh=str(c["name_zh"]),
                aliases=tuple(str(a) for a in (c.get("aliases") or [])),
                area_km2=_pilot_num(c, "area_km2", f"{label}: {what}"),
                households=_pilot_num(c, "households", f"{label}: {what}"),
                population=_pilot_num(c, "population", f"{label}: {what}"),
                population_note=str(c.get("population_note", "")),
                boundary_zh=str(c.get("boundary_zh", "")),
                attachment=str(c.get("attachment", "")),
                problems=_pilot_entries(c, "problems", f"{label}: {what}"),
                projects=_pilot_entries(c, "projects", f"{label}: {what}"),
                extra={k: v for k, v in c.items() if k not in known},
            )
        )
    src = data.get("source") or {}
    return Pilot(communities=out, source=str(src.get("doc", "")) if isinstance(src, dict) else str(src), path=label)


def apply_pilot_attributes(communities: pd.DataFrame, pilot: Pilot | None = None) -> pd.DataFrame:
    """Add the pilot plan's attributes to communities whose name matches a pilot community.

    The plan's population replaces the boundary's when the boundary has none (0) or only an
    estimate (``population_estimated``); the plan's households fill a missing ``households``.

    Returns
    -------
    DataFrame (same type as ``communities``)
        A copy with ``households`` (NaN when unknown), ``pilot_id``, ``pilot_name``,
        ``plan_area_km2``, ``population_source`` and ``households_source``.
    """
    pilot = pilot if pilot is not None else load_pilot()
    out = communities.copy()
    if "households" not in out.columns:
        out["households"] = np.nan
    out["households"] = pd.to_numeric(out["households"], errors="coerce").astype(float)
    est_col = (
        out["population_estimated"] if "population_estimated" in out.columns else pd.Series(False, index=out.index)
    )
    method = out["population_method"] if "population_method" in out.columns else pd.Series("", index=out.index)
    pid, pname, parea, psrc, hsrc = [], [], [], [], []
    seen: dict[str, str] = {}
    for idx in out.index:
        name = out.at[idx, "name"]
        p = pilot.match(name)
        est = bool(est_col.loc[idx])
        pop = float(out.at[idx, "population"])
        hh = out.at[idx, "households"]
        base = "边界文件 boundary file"
        if est:
            m = str(method.loc[idx] or "")
            src = f"估算值 estimate ({m})" if m else "估算值 estimate (boundary file)"
        else:
            src = base
        hs = base if pd.notna(hh) else "未知 unknown"
        if p is not None:
            if p.id in seen:
                log.warning("boundaries '%s' and '%s' both match the pilot community %s", seen[p.id], name, p.name_zh)
            seen[p.id] = str(name)
            if (pop <= 0 or est) and p.population:
                out.at[idx, "population"] = p.population
                if "population_estimated" in out.columns:
                    out.at[idx, "population_estimated"] = False
                src = f"试点方案 Rugao pilot plan: {p.population_note or p.population}（{p.attachment}）"
            if pd.isna(hh) and p.households:
                out.at[idx, "households"] = p.households
                hs = f"试点方案 Rugao pilot plan: {p.households:.0f}户（{p.attachment}）"
        pid.append(p.id if p else "")
        pname.append(p.name_zh if p else "")
        parea.append(p.area_km2 if p and p.area_km2 is not None else np.nan)
        psrc.append(src)
        hsrc.append(hs)
    out["pilot_id"] = pid
    out["pilot_name"] = pname
    out["plan_area_km2"] = parea
    out["population_source"] = psrc
    out["households_source"] = hsrc
    n = sum(bool(x) for x in pid)
    if n:
        log.info("%d communities match the pilot plan (%s)", n, pilot.path)
    return out


# ----------------------------------------------------------------------------- the ledger


def _plan_match(rule: Rule, entries: Iterable[PilotEntry]) -> list[tuple[PilotEntry, str]]:
    hits = []
    for e in entries:
        if rule.id in e.covers:
            hits.append((e, rule.id))
        elif rule.facility_type and rule.facility_type in e.covers:
            hits.append((e, rule.facility_type))
        else:
            kw = next((k for k in rule.keywords_zh if k in e.text), None)
            if kw:
                hits.append((e, f"关键词 {kw}"))
    return hits


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _requirement(rule: Rule, g: Mapping[str, Any] | None) -> str:
    text = rule.requirement_zh or rule.name_zh
    if not rule.is_spatial or g is None:
        return text
    parts = [
        f"步行{_num(g['threshold_min']):.3g}分钟（{_num(g['threshold_m']):.0f}米，按{_num(g['speed_m_per_min']):g}米/分钟）内可达"
    ]
    if rule.min_size_m2 is not None:
        scope = "" if rule.size_applies else "（仅新建社区）"
        parts.append(f"规模不小于{rule.min_size_m2:g}平方米{scope}")
    if rule.min_count > 1:
        parts.append(f"至少{rule.min_count}处")
    if rule.capacity is not None:
        scope = "" if rule.capacity.applies_to == "all" else "（仅新建社区）"
        parts.append(rule.capacity.describe_zh() + scope)
    return f"{text}。检查口径：" + "，".join(parts)


def _state_gap_evidence(rule: Rule, g: Mapping[str, Any], status: str) -> tuple[str, str, float, str]:
    """(current state, gap, residents affected, evidence) in Chinese for a spatial row."""
    res = _num(g["residents"])
    if status == "no_data":
        no_data_ev = str(g.get("evidence") or "")
        if "not declared surveyed" in no_data_ev:
            return (
                "输入数据中没有此类设施，且未声明已调查",
                "未知：需补充调查（数据缺失不等于缺口）",
                float("nan"),
                "OpenStreetMap等开放数据对中国社区设施覆盖不全；实地调查后可用 --surveyed 声明",
            )
        return ("社区内没有可测量的居民点", "未知", float("nan"), no_data_ev)
    placed = res - _num(g["residents_unplaced"])
    unc = _num(g["residents_uncovered"])
    cov = placed - unc
    share = _num(g["covered_share"])
    thr = f"{_num(g['threshold_min']):.3g}分钟（{_num(g['threshold_m']):.0f}米）"
    state = [
        f"{thr}内覆盖{share:.1%}居民（{cov:.0f}/{placed:.0f}人）",
        f"阈值内设施{_num(g['facilities_within']):.0f}处",
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
    sup = _num(g.get("supply_accessible"))
    if np.isfinite(sup):
        state.append(
            f"可达供给{sup:.3g}{g['supply_unit']}"
            + ("" if g.get("supply_complete") in (True, 1.0) else "（部分设施缺容量数据，为下限）")
        )
    res_und = _num(g.get("residents_undersized"))
    gap_txt, affected = "", float("nan")
    if status == "gap":
        gap_txt, affected = f"全部{placed:.0f}名居民在{thr}内无此设施", placed
    elif status == "partial":
        gap_txt, affected = f"{unc:.0f}名居民超出{thr}步行范围", unc
    elif status == "undersized":
        bits: list[str] = []
        if res_und and res_und > 0:
            bits.append(f"{res_und:.0f}名居民仅能到达规模不足（<{rule.min_size_m2:g}平方米）的设施")
            affected = res_und
        if rule.min_count > 1 and _num(g["facilities_within"]) - (n_small or 0) < rule.min_count:
            bits.append(
                f"阈值内达标设施{_num(g['facilities_within']) - (n_small or 0):.0f}处，标准要求至少{rule.min_count}处"
            )
            affected = placed
        tgt = _num(g.get("supply_target"))
        if np.isfinite(sup) and np.isfinite(tgt) and sup < tgt:
            bits.append(f"可达供给{sup:.3g} < 标准{tgt:g}{g['supply_unit']}（缺{tgt - sup:.3g}）")
            affected = placed
        gap_txt = "；".join(bits)
    ev: list[str] = []
    if g.get("nearest_facilities"):
        ev.append(f"最近设施：{g['nearest_facilities']}")
    if status in ("gap", "partial") and np.isfinite(unc):
        ev.append(f"未覆盖居民{unc:.0f}人（共{placed:.0f}人）")
    if g.get("undersized_facilities"):
        ev.append(f"规模不足：{g['undersized_facilities']}")
    if _num(g["residents_unplaced"]) > 0:
        ev.append(f"{_num(g['residents_unplaced']):.0f}人未能定位到路网")
    if bool(g.get("population_estimated")):
        ev.append("人口为估算值")
    return "；".join(state), gap_txt, affected, "；".join(ev)


def _action(rule: Rule, g: Mapping[str, Any] | None, status: str) -> str:
    if status == "ok":
        return "none"
    if status == "no_data":
        return "survey"
    if status == "to_assess":
        return "survey"
    if g is None:
        return "survey"
    if status == "undersized":
        short_count = (
            rule.min_count > 1
            and _num(g["facilities_within"]) - (_num(g.get("facilities_undersized")) or 0) < rule.min_count
        )
        return "new_build" if short_count and not _num(g.get("residents_undersized")) else "upgrade"
    thr = _num(g["threshold_min"])
    far = _num(g["nearest_min_min"]) if status == "gap" else _num(g["nearest_min_max"])
    return "share" if np.isfinite(far) and far <= SHARE_FACTOR * thr else "new_build"


def _action_text(action: str, g: Mapping[str, Any] | None, status: str) -> str:
    base = ACTION_ZH[action]
    if action == "share" and g is not None:
        return f"{base}（相邻设施最近{_num(g['nearest_min_min']):.1f}分钟）"
    if action == "survey" and status == "to_assess":
        return "现场评估（对照标准逐项核查）"
    if action == "survey" and status == "no_data":
        return "补充调查（核实设施现状）"
    return base


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
        ``id``, ``name``, ``population``; optional ``households`` and the columns of
        :func:`apply_pilot_attributes` (``pilot_id``, ``population_source`` …).
    rulebook : Rulebook
    departments, pilot : optional
        Default: the packaged Rugao files. Pilot matching uses ``pilot_id`` when present,
        else the community name.

    Returns
    -------
    DataFrame
        Columns :data:`LEDGER_COLUMNS`, sorted by community then priority.
    """
    departments = departments if departments is not None else load_departments()
    pilot = pilot if pilot is not None else load_pilot()
    by_key = {(str(r.community_id), r.rule_id): r._asdict() for r in gaps.itertuples(index=False)}
    pilots = {c.id: c for c in pilot.communities}
    rows = []
    order = {r.id: i for i, r in enumerate(rulebook.all_items())}
    for _, c in communities.iterrows():
        cid, cname = str(c["id"]), c["name"]
        p = pilots.get(str(c.get("pilot_id", "") or "")) or pilot.match(cname)
        pop = _num(c["population"])
        hh = _num(c.get("households"))
        pop_src = str(
            c.get("population_source", "")
            or ("估算值 estimate" if bool(c.get("population_estimated")) else "边界文件 boundary file")
        )
        hh_src = str(
            c.get("households_source", "") or ("边界文件 boundary file" if np.isfinite(hh) else "未知 unknown")
        )
        for rule in rulebook.all_items():
            g = by_key.get((cid, rule.id)) if rule.is_spatial else None
            if rule.is_spatial and g is None:
                raise ValueError(f"the gap report has no row for community {cid!r} and rule {rule.id!r}")
            status = g["status"] if g is not None else "to_assess"
            if g is not None:
                state, gap_txt, affected, evidence = _state_gap_evidence(rule, g, status)
            else:
                state, gap_txt, affected, evidence = "需人工评估（无法从地图数据判断）", "未评估", float("nan"), ""
            action = _action(rule, g, status)
            lead, support = departments.assign(rule)
            plan_status, plan_ref = "", ""
            if p is not None:
                proj = _plan_match(rule, p.projects)
                prob = _plan_match(rule, p.problems)
                if proj:
                    plan_status = "in_plan"
                    plan_ref = "；".join(f"项目{e.no}：{_short(e.text)}（{how}）" for e, how in proj)
                elif prob and status != "ok":
                    plan_status = "problem_listed"
                    plan_ref = "；".join(f"问题{e.no}：{_short(e.text)}（{how}）" for e, how in prob)
                elif status in ("gap", "partial", "undersized"):
                    plan_status = "new_finding"
                elif status in ("no_data", "to_assess"):
                    plan_status = "not_in_plan"
            warn = warning_text(rule)
            finding = ""
            if status in ("gap", "partial", "undersized"):
                finding = "判定 verdict" if rule.verified else "提示 warning"
            level = LEVELS.get(rule.level, (rule.level,))[0] if rule.level else ""
            rows.append(
                {
                    "community_name": cname,
                    "priority": 0,
                    "item_name": rule.name_zh,
                    "status_zh": STATUS_ZH.get(status, status),
                    "action_zh": _action_text(action, g, status),
                    "lead_department": lead,
                    "plan_status_zh": PLAN_STATUS_ZH[plan_status],
                    "requirement": _requirement(rule, g),
                    "current_state": state,
                    "gap": gap_txt,
                    "residents_affected": affected if np.isfinite(affected) else np.nan,
                    "evidence": evidence,
                    "priority_group": "一老一幼" if rule.elderly_child else "",
                    "support_departments": support,
                    "plan_reference": plan_ref,
                    "finding_kind": finding,
                    "warning": warn,
                    "item": rule.item,
                    "category": CATEGORIES.get(rule.category, (rule.category,))[0] if rule.category else "",
                    "level": level,
                    "rule_id": rule.id,
                    "facility_type": rule.facility_type,
                    "status": status,
                    "action": action,
                    "plan_status": plan_status,
                    "verified": rule.verified,
                    "source": rule.source,
                    "residents": int(round(pop)) if np.isfinite(pop) else np.nan,
                    "households": int(round(hh)) if np.isfinite(hh) else np.nan,
                    "population_source": pop_src,
                    "households_source": hh_src,
                    "community_id": cid,
                    "_order": order[rule.id],
                    "_rprio": rule.priority,
                    "_ec": 0 if rule.elderly_child else 1,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    klass = {"gap": 0, "partial": 0, "undersized": 0, "no_data": 1, "to_assess": 2, "ok": 3}
    df["_k"] = df["status"].map(klass)
    df["_aff"] = -df["residents_affected"].fillna(0)
    corder = {cid: i for i, cid in enumerate(communities["id"].astype(str))}
    df["_c"] = df["community_id"].map(corder)
    df = df.sort_values(["_c", "_k", "_ec", "_aff", "_rprio", "_order"], kind="stable")
    df["priority"] = df.groupby("_c").cumcount() + 1
    return df[list(LEDGER_COLUMNS)].reset_index(drop=True)


def ledger_summary(ledger: pd.DataFrame, communities: pd.DataFrame) -> pd.DataFrame:
    """One row per community: residents, households and their sources, the pilot match, counts
    per status, open 一老一幼 items, plan matches and the top priorities."""
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
    for _, c in communities.iterrows():
        cid = str(c["id"])
        sub = ledger[ledger["community_id"] == cid]
        counts = sub["status"].value_counts()
        act = sub[sub["status"].isin(["gap", "partial", "undersized"])]
        ec = act[act["priority_group"] == "一老一幼"]["item_name"].tolist()
        top = act.head(5)
        rows.append(
            {
                "community_id": cid,
                "community_name": c["name"],
                "pilot": str(c.get("pilot_name", "") or ""),
                "residents": sub["residents"].iloc[0] if len(sub) else np.nan,
                "population_source": sub["population_source"].iloc[0] if len(sub) else "",
                "households": sub["households"].iloc[0] if len(sub) else np.nan,
                "households_source": sub["households_source"].iloc[0] if len(sub) else "",
                "plan_area_km2": _num(c.get("plan_area_km2")),
                "boundary_area_km2": round(area[cid], 3) if area and cid in area else np.nan,
                **{s: int(counts.get(s, 0)) for s in ("gap", "partial", "undersized", "no_data", "to_assess", "ok")},
                "elderly_child_open": "、".join(ec),
                "in_plan": int((sub["plan_status"] == "in_plan").sum()),
                "new_finding": int((sub["plan_status"] == "new_finding").sum()),
                "top_priorities": "；".join(f"{r.priority}. {r.item_name}（{r.status_zh}）" for r in top.itertuples()),
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def unmatched_plan_projects(
    ledger: pd.DataFrame, communities: pd.DataFrame, pilot: Pilot | None = None
) -> pd.DataFrame:
    """Planned projects of the matched pilot communities that no ledger item refers to
    (work the plan lists beyond the standard, e.g. lifts, roads)."""
    pilot = pilot if pilot is not None else load_pilot()
    rows = []
    for _, c in communities.iterrows():
        p = (
            pilot.match(c["name"])
            if not c.get("pilot_id")
            else next((x for x in pilot.communities if x.id == c.get("pilot_id")), None)
        )
        if p is None:
            continue
        refs = " ".join(ledger.loc[ledger["community_id"] == str(c["id"]), "plan_reference"].astype(str))
        for e in p.projects:
            if f"项目{e.no}：" not in refs:
                rows.append({"community_name": c["name"], "project_no": e.no, "project": e.text})
    return pd.DataFrame(rows, columns=["community_name", "project_no", "project"])


# ----------------------------------------------------------------------------- writing


def write_ledger_csv(ledger: pd.DataFrame, path: str | Path) -> Path:
    """The ledger as UTF-8 CSV with a BOM (opens correctly in Excel with Chinese text)."""
    path = Path(path)
    write_csv(ledger, path)
    return path


def _sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name)).strip("'") or "社区"
    base = base[:31]
    cand, k = base, 2
    while cand.lower() in used or cand.lower() in ("汇总 summary", "说明 notes"):
        suffix = f"_{k}"
        cand = base[: 31 - len(suffix)] + suffix
        k += 1
    used.add(cand.lower())
    return cand


def _write_table(ws, df: pd.DataFrame, headers_zh: Mapping[str, str], freeze: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    cols = list(df.columns)
    ws.append([headers_zh.get(c, c) for c in cols])
    ws.append(cols)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in list(ws[1]) + list(ws[2]):
        cell.font = Font(bold=True) if cell.row == 1 else Font(italic=True, color="595959")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.fill = head_fill
    status_col = cols.index("status_zh") + 1 if "status_zh" in cols else None
    status_key = list(df["status"]) if "status" in cols else None
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    for i, rec in enumerate(df.itertuples(index=False)):
        append_row(ws, rec)
        r = ws.max_row
        for j, c in enumerate(cols, start=1):
            ws.cell(row=r, column=j).alignment = wrap if c in WRAP else top
        if status_col and status_key is not None:
            ws.cell(row=r, column=status_col).fill = PatternFill(
                "solid", fgColor=STATUS_FILL.get(status_key[i], "FFFFFF")
            )
    ws.freeze_panes = freeze
    ws.print_title_rows = "1:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.auto_filter.ref = f"A2:{get_column_letter(max(1, len(cols)))}{max(2, ws.max_row)}"
    for j, c in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(j)].width = WIDTHS.get(c, max(10, min(30, len(c) + 2)))
    ws.row_dimensions[1].height = 30


def write_ledger_xlsx(
    ledger: pd.DataFrame,
    path: str | Path,
    communities: pd.DataFrame | None = None,
    *,
    rulebook: Rulebook | None = None,
    pilot: Pilot | None = None,
) -> Path:
    """The ledger as an Excel workbook for officials.

    Sheets: ``汇总 summary`` (one row per community), one sheet per community (named after
    it, rows in priority order), ``说明 notes`` (statuses, actions, rulebook, plan projects
    beyond the standard). Every table has Chinese headers on row 1 and the English keys on
    row 2, frozen headers, a filter on row 2 and set column widths. The community sheets
    hold exactly the rows and columns of ``ledger.csv``.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    path = Path(path)
    if communities is None:
        communities = (
            ledger[["community_id", "community_name"]]
            .drop_duplicates()
            .rename(columns={"community_id": "id", "community_name": "name"})
        )
        communities["population"] = np.nan
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 summary"
    summary = ledger_summary(ledger, communities)
    _write_table(ws, summary, SUMMARY_COLUMNS, "C3")
    used: set[str] = set()
    for cid, name in zip(communities["id"].astype(str), communities["name"], strict=True):
        sub = ledger[ledger["community_id"] == cid]
        sh = wb.create_sheet(_sheet_name(name or cid, used))
        _write_table(sh, sub, LEDGER_COLUMNS, "D3")
    notes = wb.create_sheet("说明 notes")
    lines: list[tuple[str, str]] = [("完整社区建设工作台账 Complete-community investigation ledger", "")]
    if rulebook is not None:
        lines.append(("规则集 rulebook", f"{rulebook.profile}: {rulebook.name_zh} ({rulebook.path})"))
        if len(rulebook.extends) > 1:
            lines.append(("继承 extends", " -> ".join(rulebook.extends)))
        for ch in rulebook.changes:
            lines.append(("本地修改 local change", ch))
    lines.append(("", ""))
    lines.append(("状态 status", "含义 meaning"))
    meaning = {
        "ok": "覆盖达标 residents within the threshold, facilities big enough",
        "partial": "部分居民超出步行范围 some residents beyond the threshold (see 缺口)",
        "gap": "步行范围内无此设施 no resident within the threshold",
        "undersized": "可达但规模、数量或容量不足 within reach but below the size, number or capacity",
        "no_data": "无数据（未调查），不等于缺口 no data: not surveyed, not a gap",
        "to_assess": "清单项，需人工评估 checklist item for a person to assess",
    }
    for s, m in meaning.items():
        lines.append((f"{STATUS_ZH[s]} {s}", m))
    lines.append(("", ""))
    lines.append(("措施 action", ""))
    for a, zh in ACTION_ZH.items():
        lines.append(
            (
                f"{zh} {a}",
                {
                    "share": f"相邻设施在阈值的{SHARE_FACTOR:g}倍步行时间内 a facility within "
                    f"{SHARE_FACTOR:g}× the threshold"
                }.get(a, ""),
            )
        )
    lines.append(("", ""))
    lines.append(
        ("优先序 priority", "先需行动项（一老一幼优先，再按受影响居民数），再补充调查、现场评估，最后已达标项")
    )
    lines.append(("结论性质 finding", "提示 warning = 标准数值未经官方文本核实，仅作提示，不作定论"))
    if pilot is None:
        pilot = load_pilot()
    extra = unmatched_plan_projects(ledger, communities, pilot)
    if len(extra):
        lines.append(("", ""))
        lines.append(("试点方案中标准条目以外的项目 plan projects beyond the standard's items", ""))
        for r in extra.itertuples():
            lines.append((f"{r.community_name} 项目{r.project_no}", r.project))
    if pilot.source:
        lines.append(("试点方案来源 plan source", pilot.source))
    for a, b in lines:
        notes.append([a, b])
    notes.column_dimensions["A"].width = 40
    notes.column_dimensions["B"].width = 100
    for row in notes.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    notes["A1"].font = Font(bold=True, size=13)
    return save_workbook(wb, path)


def ledger_for(result, *, departments: Departments | None = None, pilot: Pilot | None = None) -> pd.DataFrame:
    """The ledger of a :class:`circles.pipeline.Result`."""
    return build_ledger(result.gaps, result.communities, result.rulebook, departments=departments, pilot=pilot)
