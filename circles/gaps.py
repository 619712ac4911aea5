"""The gap report: per community and rule, the share of residents within the walking
threshold, and a status.

Statuses
--------
``ok``       the covered share reaches the target (default: every resident)
``partial``  some residents are within the threshold, not enough
``gap``      no resident is within the threshold (the type was surveyed)
``no_data``  the input says nothing about this facility type (no facility of it and not
             declared surveyed), or the community has no resident to measure. Not a gap:
             OpenStreetMap in China is too sparse to read absence as a gap.
"""

from __future__ import annotations

import logging
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from .access import Access
from .rulebook import Rulebook

log = logging.getLogger(__name__)

STATUSES = ("ok", "partial", "gap", "no_data")

#: Columns of the gap report, in order, with their Chinese headers (used in gaps.xlsx).
COLUMNS_ZH = {
    "community_id": "社区编号",
    "community_name": "社区名称",
    "rule_id": "规则编号",
    "facility_type": "设施类型",
    "facility_name_zh": "设施名称",
    "threshold_min": "步行时间阈值（分钟）",
    "speed_m_per_min": "步行速度（米/分钟）",
    "threshold_m": "阈值距离（米）",
    "status": "状态",
    "covered_share": "覆盖居民比例",
    "residents": "居民人数",
    "residents_uncovered": "未覆盖居民人数",
    "residents_unplaced": "未能定位居民人数",
    "population_estimated": "人口为估算值",
    "nearest_min_median": "最近设施步行时间中位数（分钟）",
    "nearest_min_max": "最近设施步行时间最大值（分钟）",
    "facilities_within": "阈值内设施数",
    "evidence": "依据",
    "verified": "标准数值已核实",
    "source": "标准出处",
}
STATUS_ZH = {"ok": "达标", "partial": "部分覆盖", "gap": "缺口", "no_data": "无数据"}


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` weighted by ``weights`` (``inf`` allowed; NaN if no weight)."""
    if len(values) == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, 0.5 * cum[-1])])


def surveyed_types(facilities: gpd.GeoDataFrame, declared: Iterable[str] = ()) -> set[str]:
    """Facility types the input speaks about: at least one facility of it, or declared surveyed."""
    return set(facilities["facility_type"].astype(str)) | set(declared)


def _fmt_min(v: float) -> str:
    return "none within the search limit" if not np.isfinite(v) else f"{v:.1f} min"


def compute_gaps(communities: gpd.GeoDataFrame, access: Access, rulebook: Rulebook,
                 surveyed: set[str], target_share: float = 1.0) -> pd.DataFrame:
    """One row per community × rule (see the module docstring and README for columns).

    Parameters
    ----------
    communities : GeoDataFrame
        ``id``, ``name``, ``population``, ``population_estimated``.
    access : Access
        Output of :func:`circles.access.compute_access`.
    rulebook : Rulebook
    surveyed : set of str
        Facility types the input speaks about (see :func:`surveyed_types`).
    target_share : float
        Share of residents that must be within the threshold for ``ok`` (default 1.0).
    """
    if not 0 < target_share <= 1:
        raise ValueError(f"target share must be in (0, 1], got {target_share}")
    res = access.residents
    fac = access.facilities
    comm_of = res["community_id"].astype(str).to_numpy()
    weight = res["population"].to_numpy(dtype=float)
    placed = res["placed"].to_numpy()
    names = dict(zip(fac["id"].astype(str), fac["name"].astype(str)))
    rows = []
    reach_cache: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}
    for rule in rulebook.rules:
        t = rule.facility_type
        ft = rulebook.facility_types[t]
        speed = rulebook.speed_of(rule)
        thr_m = rulebook.threshold_m(rule)
        dist = res[f"dist_{t}"].to_numpy(dtype=float)
        minutes = np.where(np.isnan(dist), np.inf, dist / speed)
        is_surveyed = t in surveyed
        n_of_type = int((fac["facility_type"] == t).sum())
        n_placed_type = int(((fac["facility_type"] == t) & fac["placed"]).sum())
        if is_surveyed and n_placed_type:
            key = (t, round(thr_m, 6))
            if key not in reach_cache:
                reach_cache[key] = access.facilities_within(t, thr_m)
            fpos, fmat = reach_cache[key]
        else:
            fpos, fmat = np.zeros(0, dtype=int), np.zeros((0, len(res)), dtype=bool)
        for cid, cname, pop, est in zip(communities["id"].astype(str), communities["name"],
                                        communities["population"], communities["population_estimated"]):
            sel = comm_of == cid
            w_all = weight[sel]
            pl = placed[sel]
            w = w_all[pl]
            m = minutes[sel][pl]
            placed_pop = float(w.sum())
            unplaced_pop = float(w_all[~pl].sum())
            covered = float(w[m <= rule.threshold_min + 1e-9].sum())
            row = {
                "community_id": cid, "community_name": cname, "rule_id": rule.id, "facility_type": t,
                "facility_name_zh": rule.name_zh, "threshold_min": rule.threshold_min,
                "speed_m_per_min": speed, "threshold_m": round(thr_m, 1),
                "residents": int(round(pop)), "residents_unplaced": int(round(unplaced_pop)),
                "population_estimated": bool(est), "verified": rule.verified, "source": rule.source,
            }
            if not is_surveyed:
                row.update(status="no_data", covered_share=np.nan, residents_uncovered=np.nan,
                           nearest_min_median=np.nan, nearest_min_max=np.nan, facilities_within=np.nan,
                           evidence=f"no {ft.name_en.lower()} ({ft.name_zh}) in the input and the type was not "
                                    "declared surveyed: absence in the data is not a gap")
                rows.append(row)
                continue
            if placed_pop <= 0:
                why = ("the community has no residents" if pop <= 0 else
                       f"no resident point within {access.max_attach_m:g} m of a street")
                row.update(status="no_data", covered_share=np.nan, residents_uncovered=np.nan,
                           nearest_min_median=np.nan, nearest_min_max=np.nan, facilities_within=np.nan,
                           evidence=why)
                rows.append(row)
                continue
            share = covered / placed_pop
            status = "ok" if share >= target_share - 1e-9 else ("gap" if covered <= 0 else "partial")
            med = weighted_median(m, w)
            mx = float(m.max()) if len(m) else np.nan
            within = int(fmat[:, np.flatnonzero(sel)].any(axis=1).sum()) if len(fpos) else 0
            near_ids = res.loc[sel, f"nearest_{t}"].to_numpy()[pl]
            finite = np.isfinite(m)
            ev = []
            if n_of_type == 0:
                ev.append(f"declared surveyed, and the input has no {ft.name_en.lower()}")
            elif n_placed_type == 0:
                ev.append(f"all {n_of_type} {ft.name_en.lower()} facilities were set aside (too far from a street)")
            if finite.any():
                best = int(np.argmin(np.where(finite, m, np.inf)))
                ev.append(f"nearest: {names.get(near_ids[best]) or near_ids[best]} ({near_ids[best]}) "
                          f"{m[best]:.1f} min from the closest resident point")
                ev.append(f"median resident {_fmt_min(med)}")
            if status != "ok" and n_placed_type:
                ev.append(f"{placed_pop - covered:.0f} of {placed_pop:.0f} residents beyond {rule.threshold_min:g} min")
            if unplaced_pop > 0:
                ev.append(f"{unplaced_pop:.0f} residents not placed on the network")
            if not rule.verified:
                ev.append("threshold not verified against the official text: a warning, not a verdict")
            row.update(status=status, covered_share=round(share, 4),
                       residents_uncovered=int(round(placed_pop - covered)),
                       nearest_min_median=round(med, 2) if np.isfinite(med) else np.nan,
                       nearest_min_max=round(mx, 2) if np.isfinite(mx) else np.nan,
                       facilities_within=within, evidence="; ".join(ev))
            rows.append(row)
    df = pd.DataFrame(rows, columns=list(COLUMNS_ZH))
    order = {cid: i for i, cid in enumerate(communities["id"].astype(str))}
    df["_c"] = df["community_id"].map(order)
    df["_r"] = df["rule_id"].map({r.id: i for i, r in enumerate(rulebook.rules)})
    return df.sort_values(["_c", "_r"]).drop(columns=["_c", "_r"]).reset_index(drop=True)
