"""Several items in the spaces a community already has (一址多用, 盘活存量).

Given existing spaces (idle rooms, a neighbourhood centre, a vacated shop), each with its floor
area and optionally its cost, choose which spaces to use and which items go into each so that
the most residents are newly covered, the 一老一幼 items first, under a budget:

- an item fits a space when the space's floor area holds the minimum areas of all the items
  put into it (:func:`item_area`: the rule's ``min_size_m2``, or its per-household floor-area
  target for the households of the space's community; a rule with neither needs 0 m² and the
  output says so);
- residents count for an item when they are not within its walking threshold today and are
  within it of the space (the same along-street measure as every other result);
- each item has a weight (``circles/config/inventory_weights.yaml``: 一老一幼 first, with the
  reason); the plan maximises the weighted residents newly covered;
- with a budget (万元), the costs of the spaces used stay within it (a space without a cost
  counts as free, and the output says its cost is unknown).

Community-sized cases are solved exactly (``scipy.optimize.milp``, HiGHS, under a time
limit); beyond the size limit greedy (by weighted gain, and by gain per cost when a budget
binds) with the LP relaxation's bound stated as the gap when it can be computed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from . import _covering

log = logging.getLogger(__name__)

#: A tie-break per space used, in the objective's units (weighted residents): among equally
#: good plans the one using fewer spaces wins; far below one resident, so it never trades coverage.
_SPACE_TIE = 1e-4


@dataclass
class Item:
    """One item (rule) that may go into the spaces.

    ``a``: spaces × resident points (bool), the points not covered today that the space
    reaches; ``w``: residents per point; ``need_m2``: the area the item needs in each space;
    ``weight``: its weight in the objective.
    """

    rule_id: str
    a: sparse.csr_matrix
    w: np.ndarray
    need_m2: np.ndarray
    weight: float = 1.0

    def __post_init__(self) -> None:
        self.a = sparse.csr_matrix(self.a, dtype=bool)
        self.w = np.asarray(self.w, dtype=float)
        self.need_m2 = np.asarray(self.need_m2, dtype=float)


@dataclass
class Plan:
    """The chosen (space, item) pairs and what is proven about them.

    ``served[(s, t)]`` is the residents item ``t`` newly covers from space ``s`` (each resident
    counted once per item, for the first space in the order the greedy reading gives).
    ``bound`` is an upper bound on the weighted value (None when unknown).
    """

    pairs: list[tuple[int, int]]
    served: dict[tuple[int, int], float]
    value: float
    method: str
    bound: float | None = None
    optimal: bool = False
    seconds: float = 0.0
    bound_from: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        """The relative gap to the best bound known (0 when proven optimal, None when unknown)."""
        if self.optimal:
            return 0.0
        if self.bound is None or self.bound <= 0:
            return None
        return max(0.0, (self.bound - self.value) / self.bound)


def evaluate(items: list[Item], pairs) -> tuple[float, dict[tuple[int, int], float]]:
    """Weighted value of ``pairs`` and the residents each pair newly covers.

    Per item, its spaces are taken greedily (the one covering most first), so that a resident
    reached from two chosen spaces is counted once, for the first.
    """
    served: dict[tuple[int, int], float] = {}
    value = 0.0
    for t, it in enumerate(items):
        spaces = [s for s, tt in pairs if tt == t]
        if not spaces:
            continue
        p = _covering.Problem(a=it.a, w=it.w)
        order = _covering.greedy_order(p, spaces)
        for s, got in zip(order, _covering.evaluate(p, order), strict=True):
            served[(s, t)] = got
        value += it.weight * math.fsum(served[(s, t)] for s in spaces)
    return value, served


def _fits(items, area, s, t, used_area) -> bool:
    return items[t].need_m2[s] <= area[s] - used_area[s] + 1e-9


def greedy(
    items: list[Item], area: np.ndarray, cost: np.ndarray, budget: float | None, *, per_cost: bool = False
) -> Plan:
    """Add the (space, item) pair with the largest weighted gain (or gain per added cost) that
    still fits the space's area and the budget, until none gains.
    """
    t0 = time.perf_counter()
    n_s = len(area)
    covered = [np.zeros(len(it.w), dtype=bool) for it in items]
    used_area = np.zeros(n_s)
    used = np.zeros(n_s, dtype=bool)
    spent = 0.0
    pairs: list[tuple[int, int]] = []
    while True:
        best, best_key = None, 0.0
        for t, it in enumerate(items):
            gain = it.weight * np.asarray(it.a.astype(float) @ np.where(covered[t], 0.0, it.w)).ravel()
            for s in map(int, np.flatnonzero(gain > 0)):
                if (s, t) in pairs or not _fits(items, area, s, t, used_area):
                    continue
                extra = 0.0 if used[s] else float(cost[s])
                if budget is not None and spent + extra > budget + 1e-9:
                    continue
                key = gain[s] / max(extra, 1e-9) if per_cost and extra > 0 else gain[s] * (1e12 if per_cost else 1)
                if key > best_key:
                    best, best_key = (s, t), key
        if best is None:
            break
        s, t = best
        pairs.append(best)
        lo, hi = items[t].a.indptr[s], items[t].a.indptr[s + 1]
        covered[t][items[t].a.indices[lo:hi]] = True
        used_area[s] += items[t].need_m2[s]
        spent += 0.0 if used[s] else float(cost[s])
        used[s] = True
    value, served = evaluate(items, pairs)
    return Plan(pairs, served, value, "greedy", seconds=time.perf_counter() - t0)


def _model(items: list[Item], area: np.ndarray, cost: np.ndarray, budget: float | None):
    """Variables: u (spaces used), y (space–item pairs), z (resident groups per item)."""
    from scipy.optimize import LinearConstraint

    n_s = len(area)
    pair_s: list[int] = []
    pair_t: list[int] = []
    grp_w: list[float] = []
    links: list[tuple[np.ndarray, np.ndarray]] = []
    for t, it in enumerate(items):
        a, w = _covering.merge_points(_covering.Problem(a=it.a, w=it.w))
        ok = np.flatnonzero((it.need_m2 <= area + 1e-9) & (np.asarray(a.sum(axis=1)).ravel() > 0))
        base = len(pair_s)
        pair_s += ok.tolist()
        pair_t += [t] * len(ok)
        pos = np.full(n_s, -1)
        pos[ok] = base + np.arange(len(ok))
        g0 = len(grp_w)
        grp_w += (it.weight * w).tolist()
        coo = a.tocoo()
        keep = pos[coo.row] >= 0
        links.append((g0 + coo.col[keep], pos[coo.row[keep]]))
    n_p, n_g = len(pair_s), len(grp_w)
    ps, pt = np.array(pair_s, dtype=np.int64), np.array(pair_t, dtype=np.int64)
    nv = n_s + n_p + n_g
    zc = n_s + n_p + np.arange(n_g)
    gi = np.concatenate([x[0] for x in links]) if links else np.zeros(0, np.int64)
    pj = np.concatenate([x[1] for x in links]) if links else np.zeros(0, np.int64)
    # z_g - Σ y_p (pairs reaching g) ≤ 0
    cover = sparse.csr_matrix(
        (np.r_[np.ones(n_g), -np.ones(len(gi))], (np.r_[np.arange(n_g), gi], np.r_[zc, n_s + pj])), shape=(n_g, nv)
    )
    # Σ need·y over the space's items − area·u ≤ 0
    need = np.array([items[t].need_m2[s] for s, t in zip(ps, pt, strict=True)])
    room = sparse.csr_matrix(
        (np.r_[need, -area], (np.r_[ps, np.arange(n_s)], np.r_[n_s + np.arange(n_p), np.arange(n_s)])),
        shape=(n_s, nv),
    )
    # y_p − u_s ≤ 0
    open_ = sparse.csr_matrix(
        (np.r_[np.ones(n_p), -np.ones(n_p)], (np.r_[np.arange(n_p), np.arange(n_p)], np.r_[n_s + np.arange(n_p), ps])),
        shape=(n_p, nv),
    )
    cons = [LinearConstraint(cover, -np.inf, 0.0), LinearConstraint(room, -np.inf, 0.0)]
    if n_p:
        cons.append(LinearConstraint(open_, -np.inf, 0.0))
    if budget is not None:
        cons.append(LinearConstraint(sparse.csr_matrix(np.r_[cost, np.zeros(n_p + n_g)][None, :]), -np.inf, budget))
    c = np.r_[np.full(n_s, _SPACE_TIE), np.zeros(n_p), -np.array(grp_w)]
    integrality = np.r_[np.ones(n_s + n_p), np.zeros(n_g)]
    return c, cons, integrality, nv, ps, pt


def model_size(items: list[Item]) -> int:
    """Space–group pairs of the exact model (limited by :data:`circles._covering.EXACT_MAX_PAIRS`)."""
    return sum(_covering.model_size(_covering.Problem(a=it.a, w=it.w)) for it in items)


def exact(
    items: list[Item],
    area: np.ndarray,
    cost: np.ndarray,
    budget: float | None,
    *,
    time_limit: float = _covering.EXACT_TIME_LIMIT_S,
    relax: bool = False,
) -> tuple[Plan | None, float | None]:
    """The exact plan (``relax``: only the LP relaxation's bound). Returns (plan, bound)."""
    from scipy.optimize import Bounds, milp

    t0 = time.perf_counter()
    c, cons, integrality, nv, ps, pt = _model(items, area, cost, budget)
    res = milp(
        c,
        constraints=cons,
        integrality=np.zeros(nv) if relax else integrality,
        bounds=Bounds(np.zeros(nv), np.ones(nv)),
        options={"time_limit": float(time_limit), "mip_rel_gap": _covering.EXACT_REL_GAP, "disp": False},
    )
    n_s = len(area)
    slack = _SPACE_TIE * n_s  # the tie-break can lower the objective by at most this much
    if relax:
        return None, (-float(res.fun) + slack) if res.x is not None else None
    dual = getattr(res, "mip_dual_bound", None)
    bound = -float(dual) + slack if dual is not None and np.isfinite(dual) else None
    if res.x is None:
        return None, bound
    y = res.x[n_s : n_s + len(ps)] > 0.5
    pairs = [(int(s), int(t)) for s, t in zip(ps[y], pt[y], strict=True)]
    value, served = evaluate(items, pairs)
    optimal = res.status == 0
    plan = Plan(pairs, served, value, "exact", bound=value if optimal else bound, optimal=optimal, bound_from="milp")
    plan.seconds = time.perf_counter() - t0
    return plan, bound


def solve(
    items: list[Item],
    area,
    cost=None,
    budget: float | None = None,
    *,
    method: str = "auto",
    time_limit: float = _covering.EXACT_TIME_LIMIT_S,
) -> Plan:
    """Choose the spaces and the items in each (see the module docstring).

    ``method``: ``auto`` (exact up to :data:`circles._covering.EXACT_MAX_PAIRS`, greedy with
    the LP bound beyond), ``exact`` or ``greedy``.
    """
    if method not in ("auto", "exact", "greedy", "polish"):
        raise ValueError(f"unknown method {method!r}; one of auto, exact, greedy")
    area = np.asarray(area, dtype=float)
    if len(area) == 0 or model_size(items) == 0:  # no space reaches anyone left uncovered
        return Plan([], {}, 0.0, "exact", bound=0.0, optimal=True, bound_from="milp")
    cost = np.zeros(len(area)) if cost is None else np.nan_to_num(np.asarray(cost, dtype=float), nan=0.0)
    plan = greedy(items, area, cost, budget)
    if budget is not None:
        alt = greedy(items, area, cost, budget, per_cost=True)
        plan = alt if alt.value > plan.value + 1e-9 else plan
    big = model_size(items) > _covering.EXACT_MAX_PAIRS
    if method == "greedy" or (method in ("auto", "polish") and big):
        _, lp = exact(items, area, cost, budget, time_limit=time_limit, relax=True)
        if lp is not None:
            plan.bound, plan.bound_from = lp, "lp"
            plan.optimal = plan.value >= lp * (1 - _covering.EXACT_REL_GAP)
        return plan
    ex, bound = exact(items, area, cost, budget, time_limit=time_limit)
    if ex is None or ex.value < plan.value - 1e-9:
        if bound is not None:
            plan.bound, plan.bound_from = bound, "milp"
            plan.optimal = plan.value >= bound * (1 - _covering.EXACT_REL_GAP)
        return plan
    return ex


# ---------------------------------------------------------------------------------------------
# On an analysis: spaces file → items → plan → ledger rows, space table, map data
# ---------------------------------------------------------------------------------------------


def load_weights(path=None) -> dict:
    """The item weights (``circles/config/inventory_weights.yaml`` or the user's file)."""
    from ._config import config_file
    from .errors import ConfigError

    data, label = config_file("inventory_weights.yaml", path)
    for key in ("elderly_child", "default"):
        entry = data.get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("weight"), (int, float)) or entry["weight"] < 0:
            raise ConfigError(f"{label}: '{key}' needs a non-negative 'weight' and its 'reason'")
    return data


def item_weight(rule, weights: dict) -> tuple[float, str]:
    """The weight of ``rule``'s item and its reason."""
    entry = (weights.get("rules") or {}).get(rule.id)
    if entry is None:
        entry = weights["elderly_child" if rule.elderly_child else "default"]
    return float(entry["weight"]), " ".join(str(entry.get("reason", "")).split())


def item_area(rule, households: float) -> tuple[float, str]:
    """Floor area (m²) the item of ``rule`` needs in a space whose community has ``households``,
    and where the number comes from.

    The larger of the rule's ``min_size_m2`` and its per-household floor-area target (e.g.
    30 m² per 100 households) for those households; ``recommended_size_m2`` (以…为宜) is never
    a floor. A rule with neither needs 0 m², and the basis says so.
    """
    parts: list[tuple[float, str]] = []
    if rule.min_size_m2 is not None:
        parts.append((float(rule.min_size_m2), f"min_size_m2 {rule.min_size_m2:g} m²"))
    cap = rule.capacity
    if cap is not None and cap.measure == "size_m2" and cap.demand == "households" and cap.target is not None:
        if np.isfinite(households):
            need = cap.target * households / cap.per
            parts.append((need, f"{cap.target:g} m² per {cap.per:g} households × {households:g} households"))
        else:
            parts.append((0.0, "per-household target, but the community has no household figure"))
    if not parts:
        return 0.0, "no size in the rulebook: needs 0 m²"
    need, basis = max(parts, key=lambda x: x[0])
    return need, basis


def _refuse_first(out: pd.DataFrame, bad: pd.Series, field: str, expected: str, path: str) -> None:
    """Raise the one-line InputError naming the first space where ``bad`` holds, its ``field`` and value.

    Parameters
    ----------
    out : DataFrame
        The spaces, with ``space_id``.
    bad : Series of bool
        Which spaces are refused.
    field, expected : str
        The column and what it should hold.
    path : str
        The file, for the message.
    """
    from .errors import InputError

    if bad.any():
        raise InputError(
            f"{out.loc[bad, field].iloc[0]!r}: {expected}",
            path=path,
            feature=out.loc[bad, "space_id"].iloc[0],
            field=field,
        )


def read_spaces(spaces, path: str = "spaces") -> pd.DataFrame:
    """Check a spaces table: ``id`` (or ``space_id``), ``area_m2`` > 0, optional ``name`` and
    ``cost_wan`` ≥ 0; one line error naming the feature and field otherwise.
    """
    from .errors import InputError

    out = spaces.copy()
    if "space_id" not in out:
        out["space_id"] = out["id"] if "id" in out else [f"space-{i + 1}" for i in range(len(out))]
    out["space_id"] = out["space_id"].astype(str)
    if out["space_id"].duplicated().any():
        dup = out.loc[out["space_id"].duplicated(), "space_id"].iloc[0]
        raise InputError("the id appears twice; each space needs its own id", path=path, feature=dup, field="id")
    if "area_m2" not in out:
        raise InputError("missing: each space needs its floor area in m² (area_m2)", path=path, field="area_m2")
    area = pd.to_numeric(out["area_m2"], errors="coerce")
    _refuse_first(out, ~(area > 0) | ~np.isfinite(area), "area_m2", "expected a floor area in m² above 0", path)
    out["area_m2"] = area.astype(float)
    cost = pd.to_numeric(out["cost_wan"], errors="coerce") if "cost_wan" in out else pd.Series(np.nan, index=out.index)
    if "cost_wan" in out:
        given = out["cost_wan"].notna() & (out["cost_wan"].astype(str).str.strip() != "")
        _refuse_first(out, given & (cost.isna() | (cost < 0)), "cost_wan", "expected a cost in 万元, 0 or more", path)
    out["cost_wan"] = cost.astype(float)
    if "name" not in out:
        out["name"] = out["space_id"]
    out["name"] = out["name"].fillna(out["space_id"]).astype(str)
    if out.geometry.isna().any() or out.geometry.is_empty.any():
        sid = out.loc[out.geometry.isna() | out.geometry.is_empty, "space_id"].iloc[0]
        raise InputError("no location: each space needs a point or outline", path=path, feature=sid, field="geometry")
    return out


def _default_rules(result) -> list:
    rb = result.rulebook
    out = []
    for r in rb.rules:
        if not r.is_spatial or not r.facility_type or r.size_kind == "land":
            continue
        if f"dist_{r.facility_type}" in result.residents:
            out.append(r)
    return out


def plan_inventory(  # noqa: PLR0913 — the site command's inputs: result, spaces, rules, budget, method, limits
    result,
    spaces,
    *,
    rules: list[str] | None = None,
    budget: float | None = None,
    community_id: str | None = None,
    method: str = "auto",
    time_limit: float = _covering.EXACT_TIME_LIMIT_S,
    weights_path=None,
    path: str = "spaces",
):
    """Which items go into which existing spaces (see the module docstring).

    Parameters
    ----------
    result : circles.pipeline.Result
    spaces : GeoDataFrame
        Checked by :func:`read_spaces` (any CRS): ``space_id``, ``name``, ``area_m2``,
        optional ``cost_wan`` (万元).
    rules : list of str, optional
        Items to place (rule ids); default every spatial rule whose facility is a building
        (land rules such as parks need land, not a floor space).
    budget : float, optional
        Total cost of the spaces used, 万元.
    community_id : str, optional
        Count only this community's residents.

    Returns
    -------
    pairs : DataFrame
        One row per (space, item) chosen, with the residents newly covered, the area, the
        weight and its reason, and the plan's guarantee.
    spaces : DataFrame
        Every input space: used or not, its items and area used, or why not.
    plan : Plan
    newly : GeoDataFrame
        The resident points newly covered (EPSG:4326): ``rule_id``, ``space_id``, ``population``.
    """
    import geopandas as gpd

    from . import siting

    sp = read_spaces(spaces, path).to_crs(result.network.crs)
    pts = sp.geometry.representative_point()
    rb = result.rulebook
    chosen = _default_rules(result) if rules is None else [rb.rule(r) for r in rules]
    weights = load_weights(weights_path)
    comms = result.communities.to_crs(result.network.crs)
    where = gpd.sjoin(gpd.GeoDataFrame(geometry=pts.values, crs=comms.crs), comms[["id", "geometry"]], how="left")
    where = where[~where.index.duplicated()]
    sp["community_id"] = ["" if pd.isna(v) else str(v) for v in where["id"]]
    hh = comms.set_index(comms["id"].astype(str))["households"] if "households" in comms else pd.Series(dtype=float)
    sp_hh = np.array([float(hh.get(c, np.nan)) if c else np.nan for c in sp["community_id"]], dtype=float)
    res = result.residents
    if community_id is not None:
        res = res[res["community_id"] == community_id]
    items, todo_of, info = [], [], []
    cands = gpd.GeoDataFrame({"candidate_id": sp["space_id"].to_numpy()}, geometry=pts.values, crs=sp.crs)
    for r in chosen:
        limit = rb.threshold_m(r)
        dist = res[f"dist_{r.facility_type}"].fillna(np.inf).to_numpy()
        todo = res[(dist > limit) & res["placed"].to_numpy()]
        need = [item_area(r, h) for h in sp_hh]
        w, why = item_weight(r, weights)
        if len(todo):
            cov = siting.coverage(result.network, todo, cands, limit)
            a = cov.reach > 0
        else:
            a = sparse.csr_matrix((len(sp), 0), dtype=bool)
        area_need = np.array([n for n, _ in need], dtype=float)
        items.append(Item(r.id, a, todo["population"].to_numpy(dtype=float), area_need, weight=w))
        todo_of.append(todo)
        info.append((r, [b for _, b in need], why))
    plan = solve(
        items, sp["area_m2"].to_numpy(), sp["cost_wan"].to_numpy(), budget, method=method, time_limit=time_limit
    )
    return _tables(result, sp, items, info, todo_of, plan)


def guarantee_text(plan: Plan, lang: str = "en") -> str:
    """What is proven about ``plan``, in words."""
    from ._labels import INVENTORY_LABELS

    L = INVENTORY_LABELS[lang]
    if plan.optimal:
        return L["optimal"]
    if plan.gap is None:
        return L["no_bound"]
    return L["gap"].format(gap=plan.gap, source=L["src_" + (plan.bound_from or "lp")])


def _tables(result, sp, items, info, todo_of, plan: Plan):
    import geopandas as gpd

    from ._labels import INVENTORY_LABELS, rule_name

    names = dict(zip(result.communities["id"].astype(str), result.communities["name"].astype(str), strict=True))
    ll = sp.to_crs("EPSG:4326").geometry.representative_point()
    text = guarantee_text(plan)
    rows, newly = [], []
    by_space: dict[int, list[int]] = {}
    for s, t in sorted(plan.pairs):
        by_space.setdefault(s, []).append(t)
    for s, ts in by_space.items():
        space = sp.iloc[s]
        for n, t in enumerate(ts):
            r, basis, why = info[t]
            it = items[t]
            rows.append(
                {
                    "space_id": space["space_id"],
                    "space_name": space["name"],
                    "community_id": space["community_id"],
                    "community_name": names.get(space["community_id"], ""),
                    "rule_id": r.id,
                    "item_name": rule_name(r, "zh"),
                    "elderly_child": bool(r.elderly_child),
                    "residents_newly_covered": round(plan.served.get((s, t), 0.0), 1),
                    "weight": it.weight,
                    "weight_reason": why,
                    "area_needed_m2": round(float(it.need_m2[s]), 1),
                    "area_basis": basis[s],
                    "space_area_m2": float(space["area_m2"]),
                    "investment_wan": float(space["cost_wan"]) if n == 0 and np.isfinite(space["cost_wan"]) else np.nan,
                    "items_in_space": len(ts),
                    "lon": round(float(ll.iloc[s].x), 7),
                    "lat": round(float(ll.iloc[s].y), 7),
                    "guarantee": text,
                }
            )
        for t in ts:
            lo, hi = items[t].a.indptr[s], items[t].a.indptr[s + 1]
            newly.append((t, s, items[t].a.indices[lo:hi]))
    pairs = pd.DataFrame(rows)
    if len(pairs):
        z = INVENTORY_LABELS["zh"]
        pairs.insert(
            0,
            "action_zh",
            [
                z["action"].format(
                    space=r.space_name,
                    area=r.space_area_m2,
                    item=r.item_name,
                    need=r.area_needed_m2,
                    n=r.items_in_space,
                )
                for r in pairs.itertuples()
            ],
        )
    pts = []
    seen: set[tuple[int, int]] = set()
    for t, s, cols in newly:
        todo = todo_of[t]
        for c in cols:
            if (t, int(c)) in seen:
                continue
            seen.add((t, int(c)))
            pts.append(
                (items[t].rule_id, sp["space_id"].iloc[s], float(todo["population"].iloc[c]), todo.geometry.iloc[c])
            )
    newly_gdf = gpd.GeoDataFrame(
        {"rule_id": [p[0] for p in pts], "space_id": [p[1] for p in pts], "population": [p[2] for p in pts]},
        geometry=[p[3] for p in pts],
        crs=result.network.crs,
    ).to_crs("EPSG:4326")
    spaces = _space_table(sp, by_space, items, info)
    return pairs, spaces, plan, newly_gdf


def _space_table(sp, by_space, items, info) -> pd.DataFrame:
    from ._labels import INVENTORY_LABELS

    L = INVENTORY_LABELS["en"]
    rows = []
    for s in range(len(sp)):
        ts = by_space.get(s, [])
        fits = [t for t in range(len(items)) if items[t].need_m2[s] <= sp["area_m2"].iloc[s] + 1e-9]
        reaches = [t for t in fits if items[t].a.indptr[s + 1] > items[t].a.indptr[s]]
        if ts:
            why = ""
        elif not fits:
            why = L["why_small"]
        elif not reaches:
            why = L["why_nobody"]
        else:
            why = L["why_other"]
        rows.append(
            {
                "space_id": sp["space_id"].iloc[s],
                "space_name": sp["name"].iloc[s],
                "area_m2": float(sp["area_m2"].iloc[s]),
                "cost_wan": sp["cost_wan"].iloc[s],
                "used": bool(ts),
                "items": ",".join(info[t][0].id for t in ts),
                "area_used_m2": round(sum(float(items[t].need_m2[s]) for t in ts), 1),
                "reason": why,
            }
        )
    return pd.DataFrame(rows)


def write_inventory(folder, pairs: pd.DataFrame, spaces: pd.DataFrame, newly) -> list[str]:
    """Write the plan into ``folder``: ``inventory_plan.csv`` / ``.xlsx`` (rows for the
    ledger), ``inventory_spaces.csv`` (every space, used or why not), and the map data
    ``inventory_plan.geojson`` (spaces used, their items and residents newly covered) and
    ``inventory_newly_covered.geojson`` (the resident points). Returns the file names.
    """
    from pathlib import Path

    import geopandas as gpd

    from ._labels import INVENTORY_HEADERS_ZH, YES_NO
    from ._sheets import cell_value, write_csv
    from .workbooks import Formats, new_workbook, set_width, write_row

    folder = Path(folder)
    names = ["inventory_plan.csv", "inventory_plan.xlsx", "inventory_spaces.csv", "inventory_plan.geojson"]
    write_csv(pairs, folder / names[0])
    wb = new_workbook(folder / names[1])
    ws = wb.add_worksheet("一址多用")
    bold = Formats(wb).get(bold=True)
    write_row(ws, 0, [INVENTORY_HEADERS_ZH.get(c, c) for c in pairs.columns], [bold] * len(pairs.columns))
    for i, c in enumerate(pairs.columns):
        set_width(ws, i, {"action_zh": 48, "weight_reason": 40, "area_basis": 30, "guarantee": 28}.get(c, 14))
    ws.freeze_panes(1, 1)
    for r, row in enumerate(pairs.itertuples(index=False), start=1):
        write_row(ws, r, [YES_NO[bool(v)] if isinstance(v, (bool, np.bool_)) else cell_value(v) for v in row])
    wb.close()
    write_csv(spaces, folder / names[2])
    cols = ["space_id", "space_name", "community_id", "rule_id", "residents_newly_covered", "lon", "lat"]
    per_space = pairs[cols] if len(pairs) else pd.DataFrame(columns=cols)
    per_space = per_space.groupby(
        ["space_id", "space_name", "community_id", "lon", "lat"], sort=True, as_index=False
    ).agg(items=("rule_id", ",".join), residents_newly_covered=("residents_newly_covered", "sum"))
    gpd.GeoDataFrame(
        per_space, geometry=gpd.points_from_xy(per_space["lon"], per_space["lat"]), crs="EPSG:4326"
    ).to_file(folder / names[3], driver="GeoJSON")
    if len(newly):
        newly.to_file(folder / "inventory_newly_covered.geojson", driver="GeoJSON")
        names.append("inventory_newly_covered.geojson")
    return names


def summary_lines(pairs: pd.DataFrame, spaces: pd.DataFrame, plan: Plan, budget: float | None, lang: str) -> list[str]:
    """The terminal summary and table in ``lang``."""
    from ._labels import INVENTORY_COLUMNS, INVENTORY_LABELS

    L = INVENTORY_LABELS[lang]
    covered = float(pairs["residents_newly_covered"].sum()) if len(pairs) else 0.0
    lines = [
        L["head"].format(
            n_pairs=len(pairs),
            n_spaces=int(spaces["used"].sum()),
            n_all=len(spaces),
            covered=covered,
            value=plan.value,
            guarantee=guarantee_text(plan, lang),
        )
    ]
    if budget is not None:
        spent = float(np.nansum(spaces.loc[spaces["used"], "cost_wan"]))
        lines.append(L["budget"].format(spent=spent, budget=budget))
    if len(pairs):
        cols = INVENTORY_COLUMNS[lang]
        show = pairs[list(cols)].rename(columns=cols).astype(object)
        show = show.where(show.notna(), "")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            lines.append(show.to_string(index=False))
    return lines
