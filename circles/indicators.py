"""City indicators: the figures a city health check (城市体检) reports, from the gap report.

For every spatial rule, over all communities and per district (``district_field``, e.g. 街道):
the share of residents within the rule's walking threshold and the share of communities that
meet the rule (status ``ok``, or an absent ``conditional``/``as_needed`` item); and one row per
scope for the communities where every spatial rule is met (the spatial part of a
complete-community rate, 完整居住社区达标率: checklist items cannot be judged from maps and
are left out, which the row says).

Equity (per rule and scope): the Gini and Theil (T) indices of the covered share across the
assessed communities, each weighted by its placed residents — 0 when every community has the
same share; NaN when no resident is covered (no share to compare). City-wide rows split the
Theil index into its part within districts and between them (``district_field``): T =
Σ_g s_g T_g + Σ_g s_g ln(μ_g / μ), with s_g a district's share of the covered residents.

Residents in communities where a rule has no data (``no_data``: no facility of the type in
the input and not declared surveyed; ``to_assess``: a survey row) are counted apart: absence
in the data is not absence on the ground, so they are neither covered nor uncovered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._labels import STATUSES

#: Columns of ``indicators.csv`` with their Chinese headers (documented in the README).
INDICATOR_COLUMNS = {
    "scope": "范围",
    "district": "街道（片区）",
    "rule_id": "规则编号",
    "indicator_zh": "指标",
    "facility_type": "设施类型",
    "threshold_min": "步行时间阈值（分钟）",
    "threshold_m": "阈值距离（米）",
    "communities": "社区数",
    "communities_ok": "达标社区数",
    "communities_ok_share": "社区达标率",
    "communities_assessed": "有数据的社区数",
    "residents": "居民人数",
    "residents_assessed": "有数据的居民人数",
    "residents_covered": "覆盖居民人数",
    "residents_covered_share": "居民覆盖率",
    "residents_no_data": "无数据社区居民人数",
    "population_estimated": "人口含估算值",
    "gini_covered_share": "社区间覆盖率基尼系数（按人口加权）",
    "theil_covered_share": "社区间覆盖率泰尔指数（按人口加权）",
    "theil_within": "泰尔指数：街道内部分",
    "theil_between": "泰尔指数：街道间部分",
    "note": "说明",
}
ALL_RULES = "all_spatial_rules"
CITY = "city"
#: Statuses that say nothing about the ground: left out of the shares.
NOT_ASSESSED = ("no_data", "to_assess")
#: The gap report's columns the indicators read (the others are not copied per scope).
_USED = (
    "community_id",
    "rule_id",
    "status",
    "facility_type",
    "facility_name_zh",
    "threshold_min",
    "threshold_m",
    "covered_share",
    "residents",
    "residents_unplaced",
    "population_estimated",
)
#: Statuses that meet the standard: ``ok``, and an absent item the standard asks for only where
#: conditions allow (``conditional``) or as needed (``as_needed``).
MEETS = ("ok", "conditional", "as_needed")


def _weighted(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """``x`` and ``w`` as float arrays, the total weight W and the weighted mean μ (NaN when W ≤ 0)."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    W = float(w.sum())
    return x, w, W, float((w * x).sum() / W) if W > 0 else float("nan")


def weighted_gini(x: np.ndarray, w: np.ndarray) -> float:
    """Gini index of ``x`` with weights ``w``: Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ)
    (NaN when the weighted mean μ is 0 or there is no weight).
    """
    x, w, W, mu = _weighted(x, w)
    if not mu > 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    w_before = np.cumsum(w) - w
    wx_before = np.cumsum(w * x) - w * x
    # ordered pairs: Σ_i Σ_j = 2 Σ_i w_i Σ_{j before i} w_j (x_i − x_j)
    return float(2 * (w * (x * w_before - wx_before)).sum() / (2 * W * W * mu))


def weighted_theil(x: np.ndarray, w: np.ndarray) -> float:
    """Theil T index of ``x`` with weights ``w``: (1/W) Σ w_i (x_i/μ) ln(x_i/μ), 0·ln 0 = 0
    (NaN when μ is 0 or there is no weight).
    """
    x, w, W, mu = _weighted(x, w)
    if not mu > 0:
        return float("nan")
    r = x / mu
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, r * np.log(r), 0.0)
    return float((w * terms).sum() / W)


def theil_split(x: np.ndarray, w: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """The Theil T index split into (within groups, between groups); they add up to
    :func:`weighted_theil`. A group whose mean is 0 adds nothing to either part.
    """
    x, w, groups = np.asarray(x, dtype=float), np.asarray(w, dtype=float), np.asarray(groups)
    W = w.sum()
    if W <= 0 or (w * x).sum() <= 0:
        return float("nan"), float("nan")
    mu = float((w * x).sum() / W)
    within = between = 0.0
    for g in dict.fromkeys(groups.tolist()):
        sel = groups == g
        wg, xg = w[sel], x[sel]
        mug = float((wg * xg).sum() / wg.sum()) if wg.sum() > 0 else 0.0
        if mug <= 0:
            continue
        share = float((wg * xg).sum() / (W * mu))
        within += share * weighted_theil(xg, wg)
        between += share * float(np.log(mug / mu))
    return within, between


def _arrays(g: pd.DataFrame) -> dict[str, np.ndarray]:
    """The gap rows' values the indicators add up, as arrays made once (each scope and rule
    then takes its rows by position instead of filtering a table).
    """
    placed = (g["residents"] - g["residents_unplaced"].fillna(0)).clip(lower=0)
    estimated = g["population_estimated"]
    return {
        "assessed": (~g["status"].isin(NOT_ASSESSED)).to_numpy(),
        "meets": g["status"].isin(MEETS).to_numpy(),
        "residents": g["residents"].to_numpy(dtype=float),
        "placed": placed.to_numpy(dtype=float),
        "share": g["covered_share"].to_numpy(dtype=float),
        "estimated": (estimated.notna() & estimated.astype(bool)).to_numpy(),
        "district": g["_district"].to_numpy(dtype=object),
    }


def _equity(a: dict[str, np.ndarray], rows: np.ndarray, split: bool) -> dict:
    """Gini and Theil of the covered share over the assessed communities of one rule (``rows``
    of :func:`_arrays`); the Theil index split by district when ``split``.
    """
    share, placed = a["share"][rows], a["placed"][rows]
    sel = a["assessed"][rows] & ~np.isnan(share) & (placed > 0)
    x, w = share[sel], placed[sel]
    out = {
        "gini_covered_share": round(max(weighted_gini(x, w), 0.0), 4),  # both are ≥ 0 (rounding aside)
        "theil_covered_share": round(max(weighted_theil(x, w), 0.0), 4),
        "theil_within": np.nan,
        "theil_between": np.nan,
    }
    if split:
        within, between = theil_split(x, w, a["district"][rows][sel])
        out["theil_within"], out["theil_between"] = round(within, 4), round(between, 4)
    return out


def _rule_rows(a: dict[str, np.ndarray], rows: np.ndarray) -> dict:
    """Indicator values of one rule over the communities of ``rows`` (of :func:`_arrays`)."""
    assessed, placed, residents = a["assessed"][rows], a["placed"][rows], a["residents"][rows]
    share = a["share"][rows]
    covered = float(np.nansum(np.where(assessed, np.where(np.isnan(share), 0.0, share) * placed, 0.0)))
    res_assessed = float(np.nansum(placed[assessed]))
    n_assessed = int(assessed.sum())
    n_ok = int(a["meets"][rows].sum())
    return {
        "communities": len(rows),
        "communities_ok": n_ok,
        "communities_ok_share": round(n_ok / n_assessed, 4) if n_assessed else np.nan,
        "communities_assessed": n_assessed,
        "residents": int(round(float(np.nansum(residents)))),
        "residents_assessed": int(round(res_assessed)),
        "residents_covered": int(round(covered)),
        "residents_covered_share": round(covered / res_assessed, 4) if res_assessed > 0 else np.nan,
        "residents_no_data": int(round(float(np.nansum(residents[~assessed])))),
        "population_estimated": bool(a["estimated"][rows].any()),
    }


def _all_rules_row(g: pd.DataFrame) -> dict:
    """Communities where every spatial rule is ``ok``.

    A community with any ``no_data`` rule is not assessed.
    """
    per = g.groupby("community_id", sort=False)
    statuses = per["status"].agg(lambda s: tuple(s))
    residents = per["residents"].first()
    estimated = per["population_estimated"].first()
    complete = statuses.map(lambda s: all(x in MEETS for x in s))
    assessed = statuses.map(lambda s: not any(x in NOT_ASSESSED for x in s))
    n_assessed = int(assessed.sum())
    return {
        "communities": len(statuses),
        "communities_ok": int(complete.sum()),
        "communities_ok_share": round(int(complete.sum()) / n_assessed, 4) if n_assessed else np.nan,
        "communities_assessed": n_assessed,
        "residents": int(round(residents.sum())),
        "residents_assessed": int(round(residents[assessed].sum())),
        "residents_covered": int(round(residents[complete].sum())),
        "residents_covered_share": round(residents[complete].sum() / residents[assessed].sum(), 4)
        if residents[assessed].sum() > 0
        else np.nan,
        "residents_no_data": int(round(residents[~assessed].sum())),
        "population_estimated": bool(estimated.any()),
    }


def city_indicators(gaps: pd.DataFrame, communities: pd.DataFrame, district_field: str | None = None) -> pd.DataFrame:
    """Coverage and compliance per rule, for the whole run and per district.

    Parameters
    ----------
    gaps : DataFrame
        The gap report (:func:`circles.gaps.compute_gaps`).
    communities : DataFrame
        ``id`` and, when ``district_field`` is given, that column.
    district_field : str, optional
        Column of ``communities`` naming each community's district (街道); rows per district
        follow the city-wide rows.

    Returns
    -------
    DataFrame
        Columns :data:`INDICATOR_COLUMNS`; one row per (scope, rule) plus one
        ``all_spatial_rules`` row per scope.
    """
    g = gaps.loc[gaps["status"].isin(STATUSES), [c for c in _USED if c in gaps]].reset_index(drop=True)
    g["community_id"] = g["community_id"].astype(str)
    g["_district"] = ""
    if district_field is not None:
        district = dict(
            zip(communities["id"].astype(str), communities[district_field].fillna("").astype(str), strict=True)
        )
        g["_district"] = g["community_id"].map(district).fillna("")
    a = _arrays(g)
    by_rule = g.groupby("rule_id", sort=False).indices
    scopes: list[tuple[str, str, pd.DataFrame, dict]] = [(CITY, "", g, by_rule)]
    if district_field is not None:
        by_district_rule = g.groupby(["_district", "rule_id"], sort=False).indices
        for name, pos in sorted(g.groupby("_district", sort=False).indices.items()):
            own = {rid: by_district_rule[(name, rid)] for rid in by_rule if (name, rid) in by_district_rule}
            scopes.append(("district", name, g.iloc[pos], own))
    rows = []
    rule_order = list(dict.fromkeys(g["rule_id"]))
    for scope, name, sub, rule_rows in scopes:
        for rid in rule_order:
            if rid not in rule_rows:
                continue
            r = rule_rows[rid]
            first = g.iloc[int(r[0])]
            rows.append(
                {
                    "scope": scope,
                    "district": name,
                    "rule_id": rid,
                    "indicator_zh": f"{first['facility_name_zh']}步行{first['threshold_min']:g}分钟"
                    f"（{first['threshold_m']:.0f}米）居民覆盖率",
                    "facility_type": first["facility_type"],
                    "threshold_min": first["threshold_min"],
                    "threshold_m": first["threshold_m"],
                    **_rule_rows(a, r),
                    **_equity(a, r, scope == CITY and district_field is not None),
                    "note": "",
                }
            )
        if len(sub):
            rows.append(
                {
                    "scope": scope,
                    "district": name,
                    "rule_id": ALL_RULES,
                    "indicator_zh": "全部空间要素达标的社区（完整居住社区达标率的空间部分，不含清单项）",
                    "facility_type": "",
                    "threshold_min": np.nan,
                    "threshold_m": np.nan,
                    **_all_rules_row(sub),
                    "note": "checklist items (to_assess) are not part of this rate",
                }
            )
    return pd.DataFrame(rows, columns=list(INDICATOR_COLUMNS))


#: Columns the per-resident composite adds to ``access.csv``.
COMPOSITE_COLUMNS = {
    "items_within": "步行阈值内可达的要素数",
    "items_assessed": "参与统计的要素数",
    "mean_minutes": "各要素最近设施平均步行时间（分钟）",
}


def resident_composite(residents: pd.DataFrame, rulebook, surveyed: set[str], max_minutes: float) -> pd.DataFrame:
    """Per resident point, over the spatial rules whose facility type the input speaks about
    (``surveyed``): how many it meets within the rule's threshold (``items_within``), how many
    there are (``items_assessed``), and the mean walking minutes to the nearest facility over
    them (``mean_minutes``; a facility beyond the search is counted at ``max_minutes``, so the
    mean is then a lower bound). NaN for points not placed on the network.

    Parameters
    ----------
    residents : DataFrame
        ``placed`` and ``dist_<type>`` (metres) per point (:attr:`circles.access.Access.residents`).
    rulebook : circles.rulebook.Rulebook
    surveyed : set of str
    max_minutes : float
    """
    rules = [r for r in rulebook.rules if r.facility_type in surveyed and f"dist_{r.facility_type}" in residents]
    n = len(residents)
    within = np.zeros(n)
    minutes = np.zeros(n)
    for r in rules:
        dist = residents[f"dist_{r.facility_type}"].to_numpy(dtype=float)
        within += np.nan_to_num(dist, nan=np.inf) <= rulebook.threshold_m(r) + 1e-6
        minutes += np.minimum(np.nan_to_num(dist / rulebook.speed_of(r), nan=max_minutes), max_minutes)
    placed = residents["placed"].to_numpy(dtype=bool) if "placed" in residents else np.ones(n, dtype=bool)
    k = len(rules)
    return pd.DataFrame(
        {
            "items_within": np.where(placed, within, np.nan),
            "items_assessed": k,
            "mean_minutes": np.where(placed & (k > 0), np.round(minutes / max(k, 1), 2), np.nan),
        },
        index=residents.index,
    )
