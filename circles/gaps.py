"""The gap report: per community and spatial rule, the share of residents within the walking
threshold, whether what they reach is big enough, and a status.

Statuses
--------
``ok``          the covered share reaches the target (default: every resident), with facilities
                of the standard's size, number and capacity where the input says so
``partial``     some residents are within the threshold, not enough (the evidence says how
                many residents are beyond)
``gap``         no resident is within the threshold (the type was declared surveyed)
``undersized``  enough residents are within the threshold, but what they reach is below the
                standard: a facility smaller than ``min_size_m2`` (when the input gives
                ``size_m2``, or for land sizes the outline of an area feature), fewer facilities
                than ``min_count``, or less supply per population than the rule's capacity
                target (two-step floating catchment, :mod:`circles.capacity`; only when the
                input gives capacities or sizes)
``reach_size_unverified``
                enough residents are within the threshold, but the size or capacity the rule
                checks (``min_size_m2``, a capacity target) is not in the input for what they
                reach: an open item to survey, never ``ok`` (column ``size_checked`` 0)
``unseen``      the type was not declared surveyed (``--surveyed`` or a true ``surveyed`` field
                of the facilities), and some residents see none within the threshold: the
                facilities in the data (OpenStreetMap, a POI table) prove presence, not
                absence. Verify on site; never a gap
``no_data``     the input says nothing about this facility type (no facility of it and not
                declared surveyed), or the community has no resident to measure (column
                ``no_data_reason``). Not a gap.
``to_assess``   a checklist item of the rulebook (property management, governance …): a
                person assesses it. Such items are not in this report (it has one row per
                community × *spatial* rule); :mod:`circles.ledger` adds them to the ledger.
                In this report: a ``check: supply`` rule (a quantity the standard sets, such as
                car spaces per household) when the input gives no capacities, or when the
                target applies to new communities only and the community is not flagged new.
``conditional`` the standard asks for the item only "where conditions allow" (具备条件的,
                ``required: conditional``) and no resident reaches one (or, for a
                ``presence`` check, none is in or at the community): reported, never a gap.
``as_needed``   a GB 50180-2018 △ item (根据实际情况按需配建, ``required: as_needed``) that no
                resident reaches: reported, never a gap.

How a rule decides (``check`` in the rulebook): ``reach`` (walking threshold, the statuses
above); ``supply`` (the capacity of the facilities *inside* the community's boundary against its
households, e.g. car spaces per household; walking minutes are evidence only); ``presence`` (a
facility inside the boundary or within the threshold of a resident). A capacity with ``basis:
own`` (the 2022 pilot notice's 30 m² of community service space per 100 households) is checked
against the floor area inside the boundary; the two-step floating catchment stays in the
evidence as the accessibility view. An optional boolean column ``new_community`` on the
communities makes targets for new communities (``applies_to: new_communities``) a verdict there.

A facility whose size is unknown is not small (absence of data is not a finding), and not checked
either: the row is ``reach_size_unverified`` until the size is given.
Sizes and targets the standard sets only for new communities (``applies_to:
new_communities``) are reported in the evidence, never used for the status. A rule whose
numbers are unverified keeps its status, with a warning (``verified`` false, ``warning``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from tqdm.auto import tqdm

from . import capacity as cap
from ._arrays import unique_ints
from ._labels import COLUMNS_ZH, FIELD_ZH, NAME_MATCH_ZH, threshold_text
from ._safety import map_threads
from .access import Access
from .rulebook import Rule, Rulebook
from .survey import surveyed_in

log = logging.getLogger(__name__)

#: Evidence of a row whose type was surveyed in that community only (a ledger's 核实结果 无).
SURVEYED_ON_SITE = "surveyed on site in this community (the ledger's 核实结果: 无): absence is a finding"


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` weighted by ``weights`` (``inf`` allowed; NaN if no weight)."""
    if len(values) == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, 0.5 * cum[-1])])


def surveyed_reasons(facilities: pd.DataFrame, declared: Iterable[str] = ()) -> dict[str, str]:
    """Facility types judged surveyed (their list complete), each with why, as a code:
    ``declared`` (``--surveyed``) or ``field`` (a facility of the type has a true ``surveyed``
    column: the rows of a 排查 that lists the type completely).

    A facility found in OpenStreetMap or a POI table is evidence of presence, not a survey:
    such types are measured, but absence near a community is ``unseen``, never a gap.
    """
    out = dict.fromkeys((str(t) for t in declared), "declared")
    if "surveyed" in facilities.columns and len(facilities):
        flag = facilities["surveyed"].map(_truthy).to_numpy(dtype=bool)
        for t in sorted(set(facilities["facility_type"].astype(str).to_numpy()[flag])):
            out.setdefault(t, "field")
    return out


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "y", "是", "t")
    try:
        return bool(v) and not pd.isna(v)
    except (TypeError, ValueError):
        return False


def surveyed_types(facilities: gpd.GeoDataFrame, declared: Iterable[str] = ()) -> set[str]:
    """Facility types judged surveyed: declared (``--surveyed``) or by the facilities' own
    ``surveyed`` field (see :func:`surveyed_reasons`). Having facilities of a type does not
    make it surveyed."""
    return set(surveyed_reasons(facilities, declared))


def _fmt_min(v: float) -> str:
    return "none within the search limit" if not np.isfinite(v) else f"{v:.1f} min"


def unverified_text(rule: Rule) -> str:
    """The rule's unverified numbers, comma-separated ('' when the rule is verified)."""
    if rule.verified:
        return ""
    return ", ".join(rule.unverified) if rule.unverified else "numbers"


def warning_text(rule: Rule) -> str:
    """Chinese/English warning for a rule with unverified numbers ('' when verified)."""
    if rule.verified:
        return ""
    fields = "、".join(FIELD_ZH.get(f, f) for f in rule.unverified) or "数值"
    return f"{fields}未经官方文本核实，结论仅作提示 / unverified {unverified_text(rule)}: a warning, not a verdict"


def _own_evidence(
    rule: Rule, n_own: int, total: float, per: float, known: bool, households: float, target_applies: bool
) -> str:
    """English evidence for a community's own supply (facilities inside its boundary)."""
    c = rule.capacity
    assert c is not None
    what = "floor area" if c.measure == "size_m2" else "capacity"
    head = f"{n_own} inside the community"
    if not known:
        if c.demand == "households" and not np.isfinite(households):
            return f"{head}; own {what} per household not checked: the community has no household figure"
        return f"{head}; own {what} not checked: the input does not give {c.measure} for every one of them"
    tgt = "no target" if c.target is None else f"target {c.target:g}"
    scope = "" if target_applies else " for new communities: information only"
    return f"{head}, own {what} {total:.0f}: {per:.3g} {_supply_unit(rule)} ({tgt}{scope})"


def _supply_unit(rule: Rule) -> str:
    c = rule.capacity
    if c is None:
        return ""
    unit = c.unit_zh or ("平方米" if c.measure == "size_m2" else "个")
    who = "户" if c.demand == "households" else "人"
    return f"{unit}/{c.per:g}{who}"


def _reached_by_community(fmat: sparse.csr_matrix, comm_index: np.ndarray, n_comm: int) -> list[np.ndarray]:
    """For each community, the facilities (rows of ``fmat``) that at least one of its residents reaches."""
    coo = fmat.tocoo()
    c = comm_index[coo.col]
    ok = c >= 0
    nf = max(fmat.shape[0], 1)
    key = unique_ints(c[ok].astype(np.int64) * nf + coo.row[ok])
    cc, ff = key // nf, key % nf
    bounds = np.searchsorted(cc, np.arange(n_comm + 1))
    return [ff[bounds[i] : bounds[i + 1]] for i in range(n_comm)]


def facilities_inside(communities: pd.DataFrame, facilities: gpd.GeoDataFrame, ftype: str) -> dict[str, np.ndarray]:
    """Row positions (in ``facilities``) of the facilities of ``ftype`` inside each community.

    A facility is inside when its representative point lies within the boundary; placed or set
    aside alike (a quantity inside the boundary counts even when its street is far). Without
    geometries or coordinate systems every community has none.
    """
    ids = communities["id"].astype(str).tolist()
    out = {cid: np.zeros(0, dtype=int) for cid in ids}
    if not isinstance(communities, gpd.GeoDataFrame) or communities.crs is None or facilities.crs is None:
        return out
    sel = np.flatnonzero((facilities["facility_type"].astype(str) == ftype).to_numpy())
    if not len(sel):
        return out
    pts = facilities.geometry.iloc[sel].representative_point()
    comm = communities.to_crs(facilities.crs)
    # one spatial join for all communities: (facility point, community) pairs
    p_idx, c_idx = comm.sindex.query(pts.values, predicate="within")
    order = np.lexsort((p_idx, c_idx))
    p_idx, c_idx = p_idx[order], c_idx[order]
    bounds = np.flatnonzero(np.r_[True, c_idx[1:] != c_idx[:-1], True]) if len(c_idx) else np.zeros(1, dtype=int)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out[ids[c_idx[a]]] = sel[p_idx[a:b]]
    return out


def locate_uncovered_nearest(
    gaps: pd.DataFrame, communities: pd.DataFrame, facilities: gpd.GeoDataFrame
) -> pd.DataFrame:
    """``gaps`` with ``uncovered_nearest_community`` read again against ``communities``: for a
    report computed on part of a city (a partition), the whole city's boundaries, so that a
    facility inside a community outside the part is located as in a single run."""
    where = dict(zip(facilities["id"].astype(str), facility_communities(communities, facilities), strict=True))
    out = gaps.copy()
    out["uncovered_nearest_community"] = out["uncovered_nearest_id"].astype(str).map(where).fillna("")
    return out


def own_supply(
    facilities: gpd.GeoDataFrame, positions: np.ndarray, measure: str, size_kind: str = "building"
) -> tuple[float, bool]:
    """Total ``measure`` (capacity or size) of the facilities at ``positions``, and whether
    every one of them gives it (NaN and False when the input has no such column at all)."""
    if not _has_measure(facilities, measure, size_kind):
        return float("nan"), False
    return _own_total(cap.facility_capacity(facilities, positions, measure, size_kind))


def _has_measure(facilities: gpd.GeoDataFrame, measure: str, size_kind: str) -> bool:
    """Whether the input can give ``measure``: its column, or land sizes measured from outlines."""
    return measure in facilities.columns or (measure == "size_m2" and size_kind == "land")


def _own_total(vals: np.ndarray) -> tuple[float, bool]:
    """Sum of ``vals`` (NaN skipped) and whether every one is known; (0, True) when none."""
    if len(vals) == 0:
        return 0.0, True
    return float(np.nansum(vals)), bool(np.isfinite(vals).all())


def _measure_values(facilities: gpd.GeoDataFrame, type_pos: np.ndarray, measure: str, size_kind: str) -> np.ndarray:
    """Per facility row: ``measure`` for the rows ``type_pos`` (one type), NaN elsewhere.

    Read once per rule, so that a community's own supply is a lookup, not a new selection of
    the facility table (:func:`own_supply` per community cost communities × table width).
    """
    out = np.full(len(facilities), np.nan)
    out[type_pos] = cap.facility_capacity(facilities, type_pos, measure, size_kind)
    return out


def reach_status(covered: float, share: float, share_ok: float, target_share: float, short: bool) -> str:
    """Status of a reach check from a community's numbers.

    ``covered``: residents within the threshold; ``share``/``share_ok``: shares of placed
    residents within the threshold of any / of an adequate facility; ``short``: fewer
    facilities than the minimum count, or supply below its target.
    """
    if covered <= 0:
        return "gap"
    if share_ok >= target_share - 1e-9 and not short:
        return "ok"
    if share >= target_share - 1e-9:
        return "undersized"
    return "partial"


def supply_status(per_unit: float, target: float | None, target_applies: bool, known: bool) -> str:
    """Status of a ``check: supply`` rule: the community's own quantity per demand unit against
    the target (``to_assess`` without data, without a target, or when the target is for new
    communities only and this one is not new)."""
    if not known or not np.isfinite(per_unit) or target is None or not target_applies:
        return "to_assess"
    return "ok" if per_unit >= target - 1e-9 else "undersized"


def presence_status(n_inside: int, covered: float) -> str:
    """Status of a ``check: presence`` rule: one facility in the community or within the
    threshold of one of its residents is enough."""
    return "ok" if n_inside > 0 or covered > 0 else "gap"


def absent_status(status: str, required: str) -> str:
    """What an absent (or not fully reached) item is, by the rule's ``required``: a gap for a
    required item; ``conditional`` (具备条件的) or ``as_needed`` (△) otherwise, never a gap."""
    if required in ("conditional", "as_needed") and status in ("gap", "partial"):
        return required
    return status


@dataclass
class _Stats:
    """Per-community numbers of one rule, computed for all communities at once."""

    placed_pop: np.ndarray
    unplaced_pop: np.ndarray
    covered: np.ndarray
    covered_ok: np.ndarray
    n_placed: np.ndarray  # placed resident points
    minimum: np.ndarray  # nearest-facility minutes: least, largest and weighted median
    maximum: np.ndarray
    median: np.ndarray
    best_id: np.ndarray  # facility nearest to the community's closest resident ("" when none)
    nearest_text: list[str]
    uncovered_min: np.ndarray  # weighted median minutes of the uncovered residents to their nearest
    uncovered_id: np.ndarray  # facility nearest to the most uncovered residents ("" when none)


@dataclass(frozen=True)
class NearestIds:
    """Per resident, the id of its nearest facility of a type, as a code: ``ids[code]`` is the
    id, code -1 (and ``ids[-1]``) the empty text of a resident with none. The codes follow the
    ids' sorted order, so sorting by code sorts by id; made once per type, not per rule."""

    codes: np.ndarray
    ids: np.ndarray  # the distinct ids, sorted, then ""

    @classmethod
    def of(cls, values: Any) -> NearestIds:
        """The codes of ``values`` (ids as text, "" for none)."""
        codes, uniques = pd.factorize(pd.Series(values, dtype=object).astype(str), sort=True)
        ids = np.asarray(uniques, dtype=object)
        if len(ids) and ids[0] == "":  # "" sorts first: it becomes -1
            codes, ids = codes - 1, ids[1:]
        return cls(codes.astype(np.int64), np.append(ids, "").astype(object))


def _community_stats(  # noqa: PLR0913 — split in issue 21 by the verdicts work
    comm_index: np.ndarray,
    n_comm: int,
    weight: np.ndarray,
    placed: np.ndarray,
    minutes: np.ndarray,
    within: np.ndarray,
    within_ok: np.ndarray,
    nearest: NearestIds,
    names: dict[str, str],
    top: int = 3,
) -> _Stats:
    """Sums, extremes, weighted medians and nearest-facility lists per community (grouped array
    operations: the cost follows the residents, not residents × communities)."""
    known = comm_index >= 0
    pl = known & placed

    def total(mask: np.ndarray) -> np.ndarray:
        return np.bincount(comm_index[mask], weights=weight[mask], minlength=n_comm)

    c, m, w, code = comm_index[pl], minutes[pl], weight[pl], nearest.codes[pl]
    order = np.lexsort((m, c))  # by community, then minutes (ties in input order)
    c, m, w, code = c[order], m[order], w[order], code[order]
    start = np.searchsorted(c, np.arange(n_comm))
    end = np.searchsorted(c, np.arange(n_comm), side="right")
    has = end > start
    first, last = np.minimum(start, len(m) - 1), np.maximum(end - 1, 0)
    minimum = np.where(has, m[first] if len(m) else np.nan, np.nan)
    maximum = np.where(has, m[last] if len(m) else np.nan, np.nan)
    median = np.full(n_comm, np.nan)
    cum = np.cumsum(w)
    before = np.where(start > 0, cum[np.maximum(start - 1, 0)] if len(cum) else 0.0, 0.0)
    tot_w = np.where(has, (cum[last] if len(cum) else 0.0) - before, 0.0)
    ok = has & (tot_w > 0)
    if ok.any():
        # the first resident at or past half the weight (a tolerance absorbs the rounding of the
        # running sum: with equal weights the lower middle is taken, as within one community)
        k = np.searchsorted(cum, before[ok] + 0.5 * tot_w[ok] - 1e-9 * tot_w[ok])
        median[ok] = m[np.clip(k, start[ok], end[ok] - 1)]
    best_id = np.where(has & np.isfinite(minimum), nearest.ids[code[first]] if len(code) else "", "")
    return _Stats(
        placed_pop=total(pl),
        unplaced_pop=total(known & ~placed),
        covered=total(pl & within),
        covered_ok=total(pl & within_ok),
        n_placed=end - start,
        minimum=minimum,
        maximum=maximum,
        median=median,
        best_id=best_id,
        nearest_text=_nearest_lists(c, m, w, NearestIds(code, nearest.ids), n_comm, names, top),
        uncovered_min=np.full(n_comm, np.nan),
        uncovered_id=np.full(n_comm, "", dtype=object),
    )


def uncovered_nearest(
    comm_index: np.ndarray,
    n_comm: int,
    weight: np.ndarray,
    uncovered: np.ndarray,
    minutes: np.ndarray,
    nearest: NearestIds,
) -> tuple[np.ndarray, np.ndarray]:
    """Per community, for its residents outside the threshold (``uncovered``): the weighted
    median of their walking minutes to their nearest facility of the type (NaN when none can
    walk to one), and the facility that is nearest to most of them (by population; ties: the
    fewer minutes, then the id; "" when none).

    These are the numbers a 共建共享 suggestion quotes: the walk of the residents a shared facility
    would serve, not that of the community's best-placed resident.
    """
    sel = uncovered & (comm_index >= 0)
    c, m, w, code = comm_index[sel], minutes[sel], weight[sel], nearest.codes[sel]
    median = np.full(n_comm, np.nan)
    fac = np.full(n_comm, "", dtype=object)
    ok = np.isfinite(m) & (code >= 0) & (w > 0)
    if not ok.any():
        return median, fac
    # facility ids as codes in the sorted ids' order: the same order, without string columns
    df = pd.DataFrame({"c": c[ok], "m": m[ok], "w": w[ok], "id": code[ok]}).sort_values(["c", "m"], kind="stable")
    cum = df.groupby("c")["w"].cumsum().to_numpy()
    tot = df.groupby("c")["w"].transform("sum").to_numpy()
    # the first resident at or past half the weight (as the community's own median)
    first = df.assign(past=cum >= 0.5 * tot - 1e-9 * tot)[lambda d: d["past"]].groupby("c")["m"].first()
    median[first.index.to_numpy()] = first.to_numpy()
    per = df.groupby(["c", "id"], sort=False).agg(w=("w", "sum"), m=("m", "min")).reset_index()
    per = per.sort_values(["c", "w", "m", "id"], ascending=[True, False, True, True], kind="stable")
    best = per.groupby("c")["id"].first()
    fac[best.index.to_numpy()] = nearest.ids[best.to_numpy()].tolist()
    return median, fac


def facility_communities(communities: pd.DataFrame, facilities: gpd.GeoDataFrame) -> np.ndarray:
    """Per facility row: the ids of the communities whose boundary holds its representative point
    (sorted, joined by ";"; "" outside every boundary or without geometries and coordinate systems)."""
    out = np.full(len(facilities), "", dtype=object)
    if (
        not len(facilities)
        or not isinstance(communities, gpd.GeoDataFrame)
        or communities.crs is None
        or facilities.crs is None
    ):
        return out
    pts = facilities.geometry.representative_point()
    comm = communities.to_crs(facilities.crs)
    ids = comm["id"].astype(str).to_numpy()
    p_idx, c_idx = comm.sindex.query(pts.values, predicate="within")
    if not len(p_idx):
        return out
    names = ids[c_idx]
    order = np.lexsort((names, p_idx))  # by facility, then community id
    p_idx, names = p_idx[order], names[order]
    out[p_idx] = names  # a facility inside one boundary (the most): its community
    starts = np.flatnonzero(np.r_[True, p_idx[1:] != p_idx[:-1]])
    ends = np.r_[starts[1:], len(p_idx)]
    for a, b in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
        out[p_idx[a]] = ";".join(names[a:b])  # inside overlapping boundaries: all of them
    return out


def _nearest_lists(
    c: np.ndarray,
    m: np.ndarray,
    w: np.ndarray,
    nearest: NearestIds,
    n_comm: int,
    names: dict[str, str],
    top: int,
) -> list[str]:
    """'name 3.2–5.0分钟（120人最近）; …' per community: the ``top`` facilities nearest to its
    residents, with the span of minutes and the residents each is nearest to (``nearest``: the
    codes of the residents ``c``, ``m``, ``w`` describe)."""
    out = [""] * n_comm
    code, uid = nearest.codes, nearest.ids
    ok = np.isfinite(m) & (code >= 0)
    if not ok.any():
        return out
    fcode = code[ok]
    key = c[ok].astype(np.int64) * len(uid) + fcode
    order = np.argsort(key, kind="stable")
    key, mm, ww = key[order], m[ok][order], w[ok][order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    lo = np.minimum.reduceat(mm, starts)
    hi = np.maximum.reduceat(mm, starts)
    tot = np.add.reduceat(ww, starts)
    comm, fac = key[starts] // len(uid), key[starts] % len(uid)
    pick = np.lexsort((fac, lo, comm))  # per community: nearest first, ties by id (codes sort as ids)
    comm, fac, lo, hi, tot = comm[pick], fac[pick], lo[pick], hi[pick], tot[pick]
    rank = np.arange(len(comm)) - np.searchsorted(comm, comm)
    parts: list[list[str]] = [[] for _ in range(n_comm)]
    for k in np.flatnonzero(rank < top):
        fid = str(uid[fac[k]])
        span = f"{lo[k]:.1f}" if abs(hi[k] - lo[k]) < 0.05 else f"{lo[k]:.1f}–{hi[k]:.1f}"
        parts[int(comm[k])].append(f"{names.get(fid) or fid} {span}分钟（{tot[k]:.0f}人最近）")
    return ["; ".join(p) for p in parts]


@dataclass
class _Context:
    """What every rule reads: residents, facilities and the communities as arrays."""

    communities: gpd.GeoDataFrame
    access: Access
    comm_ids: np.ndarray
    comm_index: np.ndarray  # per resident: position of its community (-1 when none)
    weight: np.ndarray
    placed: np.ndarray
    names: dict[str, str]
    fac_ids: np.ndarray
    hh_of: dict[str, float]
    new_of: dict[str, bool]
    surveyed: set[str]
    present: set[str]  # types with at least one facility in the input (evidence of presence)
    surveyed_in: dict[str, set[str]]  # community id -> types surveyed on site there (circles.survey)
    reach_cache: dict[tuple[str, float], tuple[np.ndarray, sparse.csr_matrix]]
    inside_cache: dict[str, dict[str, np.ndarray]]
    nearest_cache: dict[str, NearestIds]
    community_of: dict[str, str]  # facility id -> the communities holding it (facility_communities)


def _display_names(fac: pd.DataFrame) -> dict[str, str]:
    """Facility id -> name as the tables show it; a facility typed from its OpenStreetMap name
    alone (``match`` 'name matches …') says so: its type is to verify (名称匹配·待核实)."""
    names = fac["name"].astype(str).to_numpy().copy()
    if "match" in fac.columns:
        by_name = fac["match"].astype(str).str.startswith("name matches").to_numpy()
        names[by_name] = [f"{n or '未命名设施'}{NAME_MATCH_ZH}" for n in names[by_name]]
    return dict(zip(fac["id"].astype(str), names, strict=True))


def _context(communities: gpd.GeoDataFrame, access: Access, surveyed: set[str]) -> _Context:
    res, fac = access.residents, access.facilities
    hh_of: dict[str, float] = {}
    if "households" in communities.columns:
        hh_of = dict(
            zip(communities["id"].astype(str), pd.to_numeric(communities["households"], errors="coerce"), strict=True)
        )
    new_of: dict[str, bool] = {}
    if "new_community" in communities.columns:
        new_of = dict(
            zip(communities["id"].astype(str), communities["new_community"].fillna(False).astype(bool), strict=True)
        )
    comm_ids = communities["id"].astype(str).to_numpy()
    return _Context(
        communities=communities,
        access=access,
        comm_ids=comm_ids,
        comm_index=pd.Index(comm_ids).get_indexer(res["community_id"].astype(str).to_numpy()),
        weight=res["population"].to_numpy(dtype=float),
        placed=res["placed"].to_numpy(),
        names=_display_names(fac),
        fac_ids=fac["id"].astype(str).to_numpy(),
        hh_of=hh_of,
        new_of=new_of,
        surveyed=surveyed,
        present=set(fac["facility_type"].astype(str)),
        surveyed_in=surveyed_in(communities),
        reach_cache={},
        inside_cache={},
        nearest_cache={},
        community_of=dict(zip(fac["id"].astype(str), facility_communities(communities, fac), strict=True)),
    )


@dataclass
class _RuleMeasure:
    """Step 1 (measure), one rule for all communities: who reaches what, of what size."""

    thr_m: float
    thr_min: float
    reading: str  # how the threshold was read (Rulebook.reading_of)
    speed: float
    is_surveyed: bool  # declared surveyed: absence is a finding
    measured: bool  # surveyed, or facilities of the type in the input
    n_of_type: int
    n_placed_type: int
    fpos: np.ndarray  # facility rows within reach of some resident
    reached_by: list[np.ndarray]  # per community: positions in fpos reached by its residents
    sizes: np.ndarray  # per fpos: size (NaN unknown)
    small: np.ndarray  # per fpos: below the rule's minimum size
    adequate: np.ndarray  # per fpos: counts for the verdict (not small where the size applies)
    supply: cap.SupplyResult | None
    inside: dict[str, np.ndarray]
    needs_inside: bool
    measure_given: bool
    measure_values: np.ndarray  # per facility row: the capacity measure (NaN unknown or other types)
    type_sizes: np.ndarray  # per facility row: size (NaN unknown, other types, or no minimum size)
    facilities: gpd.GeoDataFrame
    stats: _Stats
    covered_checked: np.ndarray  # per community: residents reaching an adequate facility of known size


def _nearest_ids(ctx: _Context, t: str) -> NearestIds:
    """The residents' nearest facility of type ``t`` as codes (made once per type)."""
    if t not in ctx.nearest_cache:
        ctx.nearest_cache[t] = NearestIds.of(ctx.access.residents[f"nearest_{t}"])
    return ctx.nearest_cache[t]


def _reach_matrix(ctx: _Context, t: str, thr_m: float, usable: bool) -> tuple[np.ndarray, sparse.csr_matrix]:
    if not usable:
        return np.zeros(0, dtype=int), sparse.csr_matrix((0, len(ctx.access.residents)), dtype=bool)
    key = (t, round(thr_m, 6))
    if key not in ctx.reach_cache:
        ctx.reach_cache[key] = ctx.access.facilities_within(t, thr_m)
    return ctx.reach_cache[key]


def _accessible_supply(
    ctx: _Context, rule: Rule, thr_m: float, reach: tuple[np.ndarray, sparse.csr_matrix]
) -> cap.SupplyResult | None:
    """Supply against demand (2SFCA), where the rule has a capacity and the input the measure."""
    c, fac = rule.capacity, ctx.access.facilities
    if c is None or not len(reach[0]):
        return None
    if not ((c.measure in fac.columns) or (c.measure == "size_m2" and rule.size_kind == "land")):
        return None
    supply = cap.accessible_supply(
        ctx.access,
        rule.facility_type,
        thr_m,
        c.measure,
        c.demand,
        c.per,
        ctx.communities,
        size_kind=rule.size_kind,
        reach=reach,
    )
    return supply if supply.known.any() else None


def _measure_rule(ctx: _Context, rulebook: Rulebook, rule: Rule) -> _RuleMeasure:
    """Step 1: the rule's numbers for every community at once."""
    res, fac = ctx.access.residents, ctx.access.facilities
    t = rule.facility_type
    speed = rulebook.speed_of(rule)
    thr_m = rulebook.threshold_m(rule)
    dist = res[f"dist_{t}"].to_numpy(dtype=float)
    minutes = np.where(np.isnan(dist), np.inf, dist / speed)
    within_any = np.nan_to_num(dist, nan=np.inf) <= thr_m + 1e-6
    is_surveyed = t in ctx.surveyed
    measured = is_surveyed or t in ctx.present
    of_type = (fac["facility_type"] == t).to_numpy()
    n_placed_type = int((of_type & fac["placed"].to_numpy()).sum())
    fpos, fmat = _reach_matrix(ctx, t, thr_m, measured and n_placed_type > 0)
    type_sizes = _type_sizes(fac, of_type, rule)
    sizes = type_sizes[fpos]
    small = (~np.isnan(sizes)) & (sizes < (rule.min_size_m2 or 0) - 1e-9)
    adequate = ~small if rule.size_applies else np.ones(len(fpos), dtype=bool)
    reach_ok = _reaches(fmat, adequate, len(res))
    # a size the rule checks is checked only where the input gives it
    sized = adequate & ~np.isnan(sizes) if rule.size_applies else adequate
    reach_checked = _reaches(fmat, sized, len(res)) & within_any & ctx.placed & (ctx.comm_index >= 0)
    covered_checked = np.bincount(
        ctx.comm_index[reach_checked], weights=ctx.weight[reach_checked], minlength=len(ctx.comm_ids)
    )
    c = rule.capacity
    needs_inside = rule.check in ("supply", "presence") or (c is not None and c.basis == "own") or rule.per_community
    if needs_inside and t not in ctx.inside_cache:
        ctx.inside_cache[t] = facilities_inside(ctx.communities, fac, t)
    measure_given = False
    measure_values = np.full(len(fac), np.nan)
    if c is not None:
        measure_values = _measure_values(fac, np.flatnonzero(of_type), c.measure, rule.size_kind)
        measure_given = bool(np.isfinite(measure_values).any())
    stats = _community_stats(
        ctx.comm_index,
        len(ctx.comm_ids),
        ctx.weight,
        ctx.placed,
        minutes,
        within_any,
        reach_ok & within_any,
        _nearest_ids(ctx, t),
        ctx.names,
    )
    stats.uncovered_min, stats.uncovered_id = uncovered_nearest(
        ctx.comm_index,
        len(ctx.comm_ids),
        ctx.weight,
        ctx.placed & ~within_any,
        minutes,
        _nearest_ids(ctx, t),
    )
    return _RuleMeasure(
        thr_m=thr_m,
        thr_min=rulebook.threshold_minutes(rule),
        reading=rulebook.reading_of(rule),
        speed=speed,
        is_surveyed=is_surveyed,
        measured=measured,
        n_of_type=int(of_type.sum()),
        n_placed_type=n_placed_type,
        fpos=fpos,
        reached_by=_reached_by_community(fmat, ctx.comm_index, len(ctx.comm_ids)),
        sizes=sizes,
        small=small,
        adequate=adequate,
        supply=_accessible_supply(ctx, rule, thr_m, (fpos, fmat)),
        inside=ctx.inside_cache.get(t, {}),
        needs_inside=needs_inside,
        measure_given=measure_given,
        measure_values=measure_values,
        type_sizes=type_sizes,
        facilities=fac,
        stats=stats,
        covered_checked=covered_checked,
    )


def _type_sizes(facilities: gpd.GeoDataFrame, of_type: np.ndarray, rule: Rule) -> np.ndarray:
    """Per facility row: the size in m² of the rule's type (NaN unknown, for other types, or
    when the rule sets no minimum size), read once per rule for every community."""
    out = np.full(len(facilities), np.nan)
    if rule.min_size_m2 is not None:
        pos = np.flatnonzero(of_type)
        out[pos] = cap.facility_sizes(facilities, pos, rule.size_kind)
    return out


def _reaches(fmat: sparse.csr_matrix, rows: np.ndarray, n_res: int) -> np.ndarray:
    """Per resident: reaches at least one of the facilities ``rows`` (a mask over fmat's rows)."""
    if not fmat.shape[0]:
        return np.zeros(n_res, dtype=bool)
    return np.asarray(fmat[np.flatnonzero(rows)].sum(axis=0)).ravel() > 0


@dataclass
class _CommunityMeasure:
    """Step 1 (measure), one rule and one community."""

    placed_pop: float
    unplaced_pop: float
    covered: float
    covered_ok: float
    share: float
    share_ok: float
    reached: np.ndarray  # positions in fpos (ascending) reached by a resident of the community
    within: int
    within_adequate: int
    small_reached: np.ndarray  # positions in fpos (ascending) of the small facilities reached
    n_small: int
    few: bool
    target_applies: bool
    sup_val: float
    sup_complete: Any
    cap_short: bool
    own_pos: np.ndarray
    own_total: float
    own_per: float
    own_known: bool
    hh: float
    size_checked: float  # 1.0 / 0.0 when the rule checks a size or capacity, NaN when it checks none


def _measure_community(ctx: _Context, rule: Rule, m: _RuleMeasure, ci: int, cid: str, pop: float) -> _CommunityMeasure:
    """Step 1 for one community: shares, counts, sizes and supplies."""
    st, c = m.stats, rule.capacity
    placed_pop, covered, covered_ok = float(st.placed_pop[ci]), float(st.covered[ci]), float(st.covered_ok[ci])
    hh = ctx.hh_of.get(cid, np.nan)
    reached = m.reached_by[ci]  # ascending positions in fpos: the cost follows the community's reach
    within = len(reached)
    within_adequate = int(m.adequate[reached].sum())
    small_reached = reached[m.small[reached]]
    target_applies = c is not None and (c.applies_to == "all" or ctx.new_of.get(cid, False))
    sup_val, sup_complete, cap_short = np.nan, np.nan, False
    if m.supply is not None and c is not None:
        sup_val = m.supply.per_community.get(cid, np.nan)
        sup_complete = bool(m.supply.known[reached].all()) if within else True
        cap_short = bool(
            c.basis == "accessible"
            and c.target is not None
            and target_applies
            and sup_complete
            and np.isfinite(sup_val)
            and sup_val < c.target - 1e-9
        )
    own_pos = m.inside.get(cid, np.zeros(0, dtype=int))
    own_per, own_known, own_total = np.nan, False, np.nan
    if c is not None and (c.basis == "own" or rule.check == "supply"):
        own_total, own_complete = (
            _own_total(m.measure_values[own_pos])
            if _has_measure(ctx.access.facilities, c.measure, rule.size_kind)
            else (float("nan"), False)
        )
        demand_val = hh if c.demand == "households" else float(pop)
        own_known = bool(m.measure_given and own_complete and np.isfinite(demand_val) and demand_val > 0)
        if own_known:
            own_per = own_total / demand_val * c.per
        if c.basis == "own" and own_known and c.target is not None and target_applies:
            cap_short = bool(own_per < c.target - 1e-9)
    size_checked = _size_checked(rule, m, cm_checked=float(m.covered_checked[ci]), covered_ok=covered_ok)
    if c is not None and c.target is not None and target_applies and rule.check != "supply":
        cap_checked = own_known if c.basis == "own" else bool(sup_complete is True and np.isfinite(sup_val))
        size_checked = float(bool(cap_checked) and size_checked != 0.0)
    return _CommunityMeasure(
        size_checked=size_checked,
        placed_pop=placed_pop,
        unplaced_pop=float(st.unplaced_pop[ci]),
        covered=covered,
        covered_ok=covered_ok,
        share=covered / placed_pop if placed_pop > 0 else np.nan,
        share_ok=covered_ok / placed_pop if placed_pop > 0 else np.nan,
        reached=reached,
        within=within,
        within_adequate=within_adequate,
        small_reached=small_reached,
        n_small=len(small_reached),
        few=rule.min_count > 1 and within_adequate < rule.min_count,
        target_applies=target_applies,
        sup_val=sup_val,
        sup_complete=sup_complete,
        cap_short=cap_short,
        own_pos=own_pos,
        own_total=own_total,
        own_per=own_per,
        own_known=own_known,
        hh=hh,
    )


def _size_checked(rule: Rule, m: _RuleMeasure, cm_checked: float, covered_ok: float) -> float:
    """1.0 when every resident counted as reaching an adequate facility reaches one whose size
    the input gives (a size the rule checks), 0.0 when not, NaN when the rule checks no size."""
    if not rule.size_applies:
        return np.nan
    return float(cm_checked >= covered_ok - 1e-9)


def _inside_status(rule: Rule, m: _RuleMeasure, cm: _CommunityMeasure) -> str:
    """A per-community item (one facility per community) with a facility inside the boundary: it
    is in the community whatever its walk; its size, where the rule checks one, decides."""
    if cm.cap_short:
        return "undersized"
    if rule.size_applies:
        sizes = m.type_sizes[cm.own_pos]
        if (sizes < (rule.min_size_m2 or 0) - 1e-9).all() and np.isfinite(sizes).all():
            return "undersized"
        if not np.isfinite(sizes).any():
            return "reach_size_unverified"
    return "ok"


def no_data_reason(rule: Rule, is_surveyed: bool, placed_pop: float, pop: float) -> str:
    """Why a row has no measured verdict, as a code ('' when it has one): ``not_surveyed``
    (no facility of the type in the input and not declared surveyed), ``no_residents`` or
    ``not_placed`` (no resident point on the network). ``is_surveyed``: declared surveyed or
    facilities of the type in the input."""
    if not is_surveyed:
        return "not_surveyed"
    if placed_pop <= 0:
        return "no_residents" if pop <= 0 else "not_placed"
    return ""


def _classify(
    rule: Rule, m: _RuleMeasure, cm: _CommunityMeasure, reason: str, target_share: float, surveyed: bool
) -> str:
    """Step 2: the status from the measured numbers and the reason code.

    ``ok`` only when every part the rule checks was checked: a reach verdict whose size or
    capacity the input does not give is ``reach_size_unverified``. Absence of a type nobody
    declared surveyed (its facilities are evidence of presence only) is ``unseen``, never a gap.
    ``surveyed``: the type is surveyed in this community (declared, or a ledger's 核实结果 无).
    """
    if reason == "not_surveyed":
        return "to_assess" if rule.check == "supply" else "no_data"
    if reason:
        return "no_data"
    c = rule.capacity
    if rule.check == "supply" and c is not None:
        status = supply_status(cm.own_per, c.target, cm.target_applies, cm.own_known)
    elif rule.check == "presence":
        status = presence_status(len(cm.own_pos), cm.covered)
    else:
        status = reach_status(cm.covered, cm.share, cm.share_ok, target_share, cm.few or cm.cap_short)
        if rule.per_community and len(cm.own_pos) and status in ("gap", "partial"):
            status = _inside_status(rule, m, cm)
        if status == "ok" and cm.size_checked == 0.0:
            status = "reach_size_unverified"
    status = absent_status(status, rule.required)
    if not surveyed and status in ("gap", "partial"):
        return "unseen"
    return status


def _small_text(ctx: _Context, m: _RuleMeasure, cm: _CommunityMeasure) -> str:
    small_list = [
        f"{ctx.names.get(ctx.fac_ids[p]) or ctx.fac_ids[p]} {s:.0f} m²"
        for p, s in sorted(zip(m.fpos[cm.small_reached], m.sizes[cm.small_reached], strict=True), key=lambda x: -x[1])
    ]
    return "; ".join(small_list[:5]) + (f"; … {len(small_list) - 5} more" if len(small_list) > 5 else "")


def _no_data_evidence(rule: Rule, ft: Any, reason: str, max_attach_m: float) -> str:
    if reason == "not_surveyed" and rule.check == "supply":
        c = rule.capacity
        return (
            f"no {ft.name_en.lower()} ({ft.name_zh}) in the input: the standard sets a "
            f"quantity ({c.describe_zh() if c is not None else ''}); count it on site"
        )
    if reason == "not_surveyed":
        return (
            f"no {ft.name_en.lower()} ({ft.name_zh}) in the input and the type was not "
            "declared surveyed: absence in the data is not a gap"
        )
    if reason == "no_residents":
        return "the community has no residents"
    return f"no resident point within {max_attach_m:g} m of a street"


def _reach_evidence(
    ctx: _Context, rule: Rule, ft: Any, m: _RuleMeasure, cm: _CommunityMeasure, ci: int, target_share: float
) -> list[str]:
    st, ev = m.stats, []
    if m.n_of_type == 0:
        ev.append(f"declared surveyed, and the input has no {ft.name_en.lower()}")
    elif m.n_placed_type == 0:
        ev.append(f"all {m.n_of_type} {ft.name_en.lower()} facilities were set aside (too far from a street)")
    mn, med = float(st.minimum[ci]), float(st.median[ci])
    if np.isfinite(mn):
        bid = str(st.best_id[ci])
        ev.append(f"nearest: {ctx.names.get(bid) or bid} ({bid}) {mn:.1f} min from the closest resident point")
        ev.append(f"median resident {_fmt_min(med)}")
    thr = threshold_text(m.thr_min, m.thr_m, rule.stated_in_metres, "en")
    if cm.share < target_share - 1e-9 and m.n_placed_type:
        ev.append(f"{cm.placed_pop - cm.covered:.0f} of {cm.placed_pop:.0f} residents beyond {thr}")
    if cm.n_small:
        verdict = "" if rule.size_applies else " (the minimum applies to new communities: information only)"
        ev.append(
            f"{cm.n_small} facilit{'y' if cm.n_small == 1 else 'ies'} within reach below "
            f"{rule.min_size_m2:g} m²: {_small_text(ctx, m, cm)}{verdict}"
        )
    if rule.size_applies and cm.covered_ok < cm.covered - 1e-9:
        ev.append(f"{cm.covered - cm.covered_ok:.0f} residents reach only facilities below {rule.min_size_m2:g} m²")
    if cm.few:
        ev.append(
            f"{cm.within_adequate} facilit{'y' if cm.within_adequate == 1 else 'ies'} within reach, "
            f"the standard asks at least {rule.min_count}"
        )
    c = rule.capacity
    if c is not None and (c.basis == "own" or rule.check == "supply"):
        ev.append(
            _own_evidence(rule, len(cm.own_pos), cm.own_total, cm.own_per, cm.own_known, cm.hh, cm.target_applies)
        )
    if rule.check == "presence":
        ev.append(f"{len(cm.own_pos)} inside the community; {cm.covered:.0f} residents within {thr} of one")
    return ev


def _supply_evidence(rule: Rule, m: _RuleMeasure, cm: _CommunityMeasure) -> list[str]:
    c, ev = rule.capacity, list[str]()
    if c is None:
        return ev
    if m.supply is not None and np.isfinite(cm.sup_val):
        tgt = f" against a target of {c.target:g}" if c.target is not None else " (no target)"
        if c.basis == "own":
            tgt = " (accessibility view; the target is checked on the community's own supply)"
        scope = " (target for new communities: information only)" if not cm.target_applies else ""
        lb = "" if cm.sup_complete else " — lower bound: some facilities within reach have no " + c.measure
        ev.append(f"accessible supply (2SFCA) {cm.sup_val:.3g} {_supply_unit(rule)}{tgt}{scope}{lb}")
    elif m.supply is not None and c.demand == "households" and not np.isfinite(cm.hh):
        ev.append("supply per household not checked: the community has no household figure")
    elif c.target is not None and cm.within:
        ev.append(f"supply target not checked: the input gives no {c.measure}")
    return ev


def _evidence(
    ctx: _Context, rule: Rule, ft: Any, m: _RuleMeasure, cm: _CommunityMeasure, ci: int, target_share: float
) -> str:
    """Step 3: the English evidence of a measured row (words only; the verdict is made)."""
    ev = _reach_evidence(ctx, rule, ft, m, cm, ci, target_share) + _supply_evidence(rule, m, cm)
    if cm.unplaced_pop > 0:
        ev.append(f"{cm.unplaced_pop:.0f} residents not placed on the network")
    if not rule.verified:
        ev.append(
            "threshold not verified against the official text: a warning, not a verdict"
            if not rule.unverified or any(f.startswith("threshold") for f in rule.unverified)
            else f"{unverified_text(rule)} not verified against the official text: a warning, not a verdict"
        )
    return "; ".join(ev)


def _row_base(rule_cols: dict[str, Any], cid: str, cname: Any, pop: float, est: Any, hh: float) -> dict[str, Any]:
    """The columns every row has, whatever its status: the rule's (:func:`_rule_columns`, made
    once per rule) and the community's."""
    row = dict(rule_cols)
    row.update(
        community_id=cid,
        community_name=cname,
        residents=int(round(pop)),
        population_estimated=bool(est),
        households=float(hh) if pd.notna(hh) else np.nan,
    )
    return row


def _rule_columns(rule: Rule, m: _RuleMeasure) -> dict[str, Any]:
    """The columns of a row that depend on the rule only, in the order of the row."""
    c = rule.capacity
    return {
        "community_id": "",
        "community_name": "",
        "rule_id": rule.id,
        "facility_type": rule.facility_type,
        "facility_name_zh": rule.name_zh,
        "threshold_min": round(m.thr_min, 2),
        "speed_m_per_min": m.speed,
        "threshold_m": round(m.thr_m, 1),
        "distance_reading": m.reading,
        "residents": 0,
        "residents_unplaced": 0,
        "population_estimated": False,
        "verified": rule.verified,
        "source": rule.source,
        "level": rule.level,
        "item": rule.item,
        "category": rule.category,
        "households": np.nan,
        "min_size_m2": rule.min_size_m2 if rule.min_size_m2 is not None else np.nan,
        "min_count": rule.min_count,
        "unverified": unverified_text(rule),
        "warning": warning_text(rule),
        "supply_measure": c.measure if c is not None else "",
        "supply_unit": _supply_unit(rule),
        "supply_target": (c.target if c is not None and c.target is not None else np.nan),
        "required": rule.required,
        "check": rule.check,
        "supply_basis": c.basis if c is not None else "",
        "facilities_own": np.nan,
        "supply_own": np.nan,
    }


#: The measured columns of a row with no measurement, in order: numbers unknown (NaN), texts empty.
_EMPTY_TEXTS = ("undersized_facilities", "nearest_facilities", "uncovered_nearest_id", "uncovered_nearest_community")
_EMPTY = {
    c: "" if c in _EMPTY_TEXTS else np.nan
    for c in (
        "covered_share",
        "residents_uncovered",
        "nearest_min_median",
        "nearest_min_max",
        "nearest_min_min",
        "facilities_within",
        "covered_share_adequate",
        "residents_undersized",
        "facilities_undersized",
        "undersized_facilities",
        "nearest_facilities",
        "supply_accessible",
        "supply_complete",
        "uncovered_nearest_min",
        "uncovered_nearest_id",
        "uncovered_nearest_community",
    )
}


def _rnd(v: float, nd: int) -> float:
    return round(v, nd) if np.isfinite(v) else np.nan


def _measured_columns(ctx: _Context, m: _RuleMeasure, cm: _CommunityMeasure, ci: int) -> dict[str, Any]:
    """The measured numbers of a row with a verdict."""
    st = m.stats
    return dict(
        covered_share=round(cm.share, 4),
        residents_uncovered=int(round(cm.placed_pop - cm.covered)),
        nearest_min_median=_rnd(float(st.median[ci]), 2),
        nearest_min_max=_rnd(float(st.maximum[ci]), 2),
        nearest_min_min=_rnd(float(st.minimum[ci]), 2),
        facilities_within=cm.within,
        covered_share_adequate=round(cm.share_ok, 4),
        residents_undersized=int(round(cm.covered - cm.covered_ok)),
        facilities_undersized=cm.n_small,
        undersized_facilities=_small_text(ctx, m, cm),
        nearest_facilities=st.nearest_text[ci],
        supply_accessible=_rnd(cm.sup_val, 3),
        supply_complete=cm.sup_complete,
        facilities_own=len(cm.own_pos) if m.needs_inside else np.nan,
        supply_own=_rnd(cm.own_per, 3),
        uncovered_nearest_min=_rnd(float(st.uncovered_min[ci]), 2),
        uncovered_nearest_id=str(st.uncovered_id[ci]),
        uncovered_nearest_community=ctx.community_of.get(str(st.uncovered_id[ci]), ""),
    )


def _measure_rules(ctx: _Context, rulebook: Rulebook) -> dict[str, _RuleMeasure]:
    """Step 1 of every rule, the facility types side by side (:func:`circles._safety.map_threads`:
    their sorting and grouping release Python's lock); each type's rules in one thread, so the
    caches a type fills are filled once. Rule id -> its measure."""
    by_type: dict[str, list[Rule]] = {}
    for rule in rulebook.rules:
        by_type.setdefault(rule.facility_type, []).append(rule)

    def measure(rules: list[Rule]) -> list[_RuleMeasure]:
        return [_measure_rule(ctx, rulebook, rule) for rule in rules]

    found = map_threads(measure, list(by_type.values()))
    return {
        rule.id: m for rules, ms in zip(by_type.values(), found, strict=True) for rule, m in zip(rules, ms, strict=True)
    }


def _rule_rows(
    ctx: _Context, rulebook: Rulebook, rule: Rule, target_share: float, m: _RuleMeasure
) -> list[dict[str, Any]]:
    """The rows of one rule (measured by :func:`_measure_rule`): classify, then the evidence,
    community by community."""
    ft = rulebook.facility_types[rule.facility_type]
    comms = ctx.communities
    rule_cols = _rule_columns(rule, m)
    rows = []
    for ci, (cid, cname, pop, est) in enumerate(
        zip(ctx.comm_ids, comms["name"], comms["population"], comms["population_estimated"], strict=True)
    ):
        cm = _measure_community(ctx, rule, m, ci, cid, float(pop))
        row = _row_base(rule_cols, cid, cname, float(pop), est, cm.hh)
        on_site = not m.is_surveyed and rule.facility_type in ctx.surveyed_in.get(cid, ())
        surveyed = m.is_surveyed or on_site
        reason = no_data_reason(rule, m.measured or on_site, cm.placed_pop, float(pop))
        status = _classify(rule, m, cm, reason, target_share, surveyed)
        row.update(no_data_reason=reason, size_checked=cm.size_checked, surveyed=surveyed)
        row["residents_unplaced"] = int(round(cm.unplaced_pop))
        if reason:
            row.update(_EMPTY, status=status, evidence=_no_data_evidence(rule, ft, reason, ctx.access.max_attach_m))
        else:
            row.update(_measured_columns(ctx, m, cm, ci))
            evidence = _evidence(ctx, rule, ft, m, cm, ci, target_share)
            if on_site:
                evidence = "; ".join(x for x in (SURVEYED_ON_SITE, evidence) if x)
            row.update(status=status, evidence=evidence)
        rows.append(row)
    return rows


def compute_gaps(
    communities: gpd.GeoDataFrame,
    access: Access,
    rulebook: Rulebook,
    surveyed: set[str],
    target_share: float = 1.0,
    progress: bool = False,
    present: set[str] | None = None,
) -> pd.DataFrame:
    """One row per community × spatial rule (see the module docstring for statuses).

    Parameters
    ----------
    communities : GeoDataFrame
        ``id``, ``name``, ``population``, ``population_estimated``; optional ``households``.
    access : Access
        Output of :func:`circles.access.compute_access`.
    rulebook : Rulebook
        Only its spatial rules (:attr:`Rulebook.rules`) are measured; checklist items go to
        the ledger (:func:`circles.ledger.build_ledger`).
    surveyed : set of str
        Facility types the input speaks about (see :func:`surveyed_types`).
    target_share : float
        Share of residents that must be within the threshold for ``ok`` (default 1.0).
    progress : bool
        Show a progress bar over the rules.
    present : set of str, optional
        Types whose facilities are evidence of presence (measured; absence ``unseen``). Default:
        the types with a facility in ``access.facilities``; a what-if passes today's.
    """
    if not 0 < target_share <= 1:
        raise ValueError(f"target share must be in (0, 1], got {target_share}")
    ctx = _context(communities, access, surveyed)
    if present is not None:
        ctx.present = set(present)
    measures = _measure_rules(ctx, rulebook)
    rows = []
    for rule in tqdm(rulebook.rules, desc="gap report", unit="rule", disable=not progress, leave=False):
        rows += _rule_rows(ctx, rulebook, rule, target_share, measures[rule.id])
    df = pd.DataFrame(rows, columns=list(COLUMNS_ZH))
    order = {cid: i for i, cid in enumerate(communities["id"].astype(str))}
    df["_c"] = df["community_id"].map(order)
    df["_r"] = df["rule_id"].map({r.id: i for i, r in enumerate(rulebook.rules)})
    return df.sort_values(["_c", "_r"]).drop(columns=["_c", "_r"]).reset_index(drop=True)
