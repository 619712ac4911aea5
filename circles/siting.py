"""Propose sites for new facilities that cover the most uncovered residents.

The coverage of a candidate site is measured on the street network exactly like existing
facilities (attachment on an edge, bounded search). Two questions are answered:

- the best ``k`` sites (:func:`best_k`, maximal covering);
- the fewest sites reaching a target share (:func:`fewest_sites`, partial set cover). If the
  target cannot be reached from the candidates, the best achievable share is returned and
  said so.

Both are solved exactly (``scipy.optimize.milp``, HiGHS, under a time limit) for
community-sized cases, and beyond that by greedy (at least 1 − 1/e ≈ 63 % of the optimal
coverage, Nemhauser, Wolsey & Fisher 1978; at most ln(n) + 1 times the fewest sites, Chvátal
1979) followed by a 1-swap polish (best ``k``) or the removal of redundant sites and a search with
one site fewer while the target holds (fewest). Every
answer says what is proven in its ``guarantee`` column: proven optimal, or the gap to the best
bound known (the MILP's dual bound, or greedy's data-dependent bound). See
:mod:`circles._covering`.

With capacities (``capacity`` per candidate, in residents), a site only counts the residents
it can serve: its nearest uncovered residents up to its capacity.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from . import _covering, reach
from ._labels import SITING_GUARANTEE
from .network import WalkNetwork

log = logging.getLogger(__name__)

#: Spacing (metres) of generated candidate sites along streets when the user gives none.
CANDIDATE_SPACING_M = 60.0
#: How far (metres) a site's description looks for a named street when the street it lies on
#: has no name (a compound's service road): "学院路 · 85 米" says more than a blank. A display
#: choice, no source.
NAMED_STREET_RADIUS_M = 200.0


@dataclass
class Coverage:
    """Which uncovered residents each candidate reaches within the threshold.

    Attributes
    ----------
    reach : scipy.sparse.csr_matrix
        candidates × residents; an explicit entry for each resident a candidate reaches,
        holding the walking distance in metres plus 1 mm (so that a zero distance is kept).
    weight : ndarray
        Residents each resident point stands for.
    candidates : GeoDataFrame
        Candidate sites (network CRS) with ``candidate_id`` and ``placed``.
    """

    reach: sparse.csr_matrix
    weight: np.ndarray
    candidates: gpd.GeoDataFrame

    @property
    def matrix(self) -> np.ndarray:
        """Dense boolean candidates × residents matrix (small cases only)."""
        return self.reach.toarray() > 0

    @classmethod
    def from_dense(
        cls, matrix: np.ndarray, weight: np.ndarray, candidates: gpd.GeoDataFrame, dist: np.ndarray | None = None
    ) -> Coverage:
        """Build from a dense boolean matrix (and optional distances), e.g. for tests."""
        d = np.where(matrix, (dist if dist is not None else np.zeros(matrix.shape)) + _MM, 0.0)
        return cls(reach=sparse.csr_matrix(d), weight=np.asarray(weight, dtype=float), candidates=candidates)


_MM = 1e-3


def street_candidates(net: WalkNetwork, area, spacing: float = CANDIDATE_SPACING_M) -> gpd.GeoDataFrame:
    """Candidate sites every ``spacing`` metres along the streets inside ``area`` (network CRS)."""
    shapely.prepare(area)
    hit = np.flatnonzero(shapely.intersects(area, net.geometry))
    xs, ys = [], []
    for e in hit:
        g = net.geometry[e].intersection(area)
        for part in shapely.get_parts(g):
            if part.geom_type != "LineString" or part.length == 0:
                continue
            n = max(1, int(part.length // spacing))
            pts = shapely.line_interpolate_point(part, (np.arange(n) + 0.5) * part.length / n)
            xs.extend(shapely.get_x(pts))
            ys.extend(shapely.get_y(pts))
    xy = np.unique(np.round(np.column_stack([xs, ys]), 1), axis=0) if xs else np.zeros((0, 2))
    return gpd.GeoDataFrame(
        {"candidate_id": [f"street-{i + 1}" for i in range(len(xy))]}, geometry=shapely.points(xy), crs=net.crs
    )


def coverage(
    net: WalkNetwork,
    residents: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    limit_m: float,
    max_attach_m: float = reach.DEFAULT_MAX_ATTACH_M,
    progress: bool = False,
) -> Coverage:
    """Walking reach of every candidate over the resident points (all in the network CRS).

    One bounded search per candidate over the residents near it (:func:`circles.reach.reach_pairs`).

    Parameters
    ----------
    residents : GeoDataFrame
        Points with ``population``.
    candidates : GeoDataFrame
        Points with ``candidate_id`` (optional ``capacity``).
    limit_m : float
        The threshold distance.
    max_attach_m : float
        Farthest a resident or candidate may lie from a street.
    progress : bool
        Show a progress bar over the candidates.
    """
    nr = len(residents)
    x = np.r_[residents.geometry.x.to_numpy(), candidates.geometry.x.to_numpy()]
    y = np.r_[residents.geometry.y.to_numpy(), candidates.geometry.y.to_numpy()]
    att = reach.attach_points(net, x, y, max_attach_m)
    is_cand = np.arange(len(x)) >= nr
    g = reach.split_graph(net, reach.Attachment(att.edge, att.offset, att.leg, att.attached & is_cand))
    targets = reach.locate(net, g, reach.Attachment(att.edge[:nr], att.offset[:nr], att.leg[:nr], att.attached[:nr]))
    c_leaf = g.leaf[nr:]
    cand = candidates.copy()
    cand["placed"] = c_leaf >= 0
    ok_c = np.flatnonzero(c_leaf >= 0)
    rows, cols, dist = reach.reach_pairs(
        g, [c_leaf[[c]] for c in ok_c], targets, limit_m, progress="candidate sites" if progress else None
    )
    m = sparse.csr_matrix((dist + _MM, (ok_c[rows], cols)), shape=(len(cand), nr))
    return Coverage(reach=m, weight=residents["population"].to_numpy(dtype=float), candidates=cand)


def _capacity(cov: Coverage) -> np.ndarray | None:
    if "capacity" not in cov.candidates:
        return None
    cap = pd.to_numeric(cov.candidates["capacity"], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(cap), np.inf, cap)


def problem(cov: Coverage) -> _covering.Problem:
    """The covering problem of ``cov``: reach, weights, capacities, placed candidates."""
    placed = cov.candidates["placed"].to_numpy(bool) if "placed" in cov.candidates else None
    return _covering.Problem(a=cov.reach > 0, w=cov.weight, cap=_capacity(cov), dist=cov.reach, placed=placed)


#: How :func:`best_k` and :func:`fewest_sites` choose: ``auto`` solves exactly up to
#: ``_covering.EXACT_MAX_PAIRS`` and uses greedy + polish beyond.
METHODS = ("auto", "exact", "polish", "greedy")


def _solve(p: _covering.Problem, method: str, time_limit: float, *, k=None, need=None) -> _covering.Solution:
    """One answer by ``method`` (see :data:`METHODS`), with what is proven about it."""
    if method not in METHODS:
        raise ValueError(f"unknown siting method {method!r}; one of {', '.join(METHODS)}")
    sol = _covering.greedy(p, k=k, need=need)
    if method == "greedy":
        return sol
    if k is not None:
        sol = _covering.polish(p, sol, time_limit)
    else:
        sol = _covering.shrink(p, _covering.prune(p, sol, need), need, time_limit)
    if method == "polish" or (method == "auto" and _covering.model_size(p) > _covering.EXACT_MAX_PAIRS):
        return sol
    ex, bound = _covering.exact(p, k=k, need=need, time_limit=time_limit)
    if ex is None:
        _covering.tighter(sol, bound, "milp", maximise=k is not None)
        return sol
    return _covering.better(ex, sol, maximise=k is not None)


def guarantee(sol: _covering.Solution, *, best_k: bool, lang: str = "en") -> str:
    """What is proven about ``sol``, in words (the ``guarantee`` column)."""
    g = SITING_GUARANTEE[lang]
    source = g["src_milp"] if sol.bound_from == "milp" else g["src_greedy"]
    if sol.optimal and sol.method == "exact":
        return g["optimal"]
    if sol.bound is None or (best_k and not np.isfinite(sol.bound)):
        return g["greedy_k" if best_k else "greedy_n"]
    if best_k:
        gap = max(0.0, (sol.bound - sol.value) / sol.bound) if sol.bound > 0 else 0.0
        if gap <= _covering.EXACT_REL_GAP:
            return g["optimal_bound"].format(source=source)
        return g["gap_k"].format(gap=gap, source=source, bound=sol.bound)
    extra = len(sol.sites) - int(sol.bound)
    if extra <= 0:
        return g["optimal_bound"].format(source=source)
    return g["gap_n"].format(extra=extra, source=source, bound=int(sol.bound))


_TABLE = ["rank", "candidate_id", "residents_covered", "cumulative_residents", "cumulative_share", "guarantee"]


def _table(cov: Coverage, sol: _covering.Solution, text: str) -> pd.DataFrame:
    total = math.fsum(cov.weight)
    cum = np.cumsum(sol.served) if sol.served else np.zeros(0)
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(sol.sites) + 1),
            "candidate_id": cov.candidates["candidate_id"].to_numpy()[sol.sites] if sol.sites else [],
            "residents_covered": np.round(sol.served, 1),
            "cumulative_residents": np.round(cum, 1),
            "cumulative_share": np.round(cum / total, 4) if total else np.nan,
        },
        columns=_TABLE[:-1],
    )
    out["guarantee"] = text
    return out


def best_k(
    cov: Coverage, k: int, *, method: str = "auto", time_limit: float = _covering.EXACT_TIME_LIMIT_S, lang: str = "en"
) -> pd.DataFrame:
    """The ``k`` sites covering the most uncovered residents (maximal covering).

    ``method`` (see :data:`METHODS`): greedy; greedy then 1-swap polish; the exact model
    (``scipy.optimize.milp``) under ``time_limit`` seconds; ``auto``: exact for
    community-sized cases, greedy + polish beyond.

    Returns
    -------
    DataFrame
        One row per chosen site, the one serving most first: ``rank``, ``candidate_id``,
        ``residents_covered`` (by this site), ``cumulative_residents``, ``cumulative_share``
        (of all resident weight given), ``guarantee`` (proven optimal, or the gap to the
        best bound known).
    """
    sol = _solve(problem(cov), method, time_limit, k=k)
    if len(sol.sites) < k:
        log.info("no candidate covers anyone else after %d sites", len(sol.sites))
    return _table(cov, sol, guarantee(sol, best_k=True, lang=lang))


def fewest_sites(
    cov: Coverage,
    target_share: float = 1.0,
    max_sites: int | None = None,
    *,
    method: str = "auto",
    time_limit: float = _covering.EXACT_TIME_LIMIT_S,
    lang: str = "en",
) -> tuple[pd.DataFrame, str]:
    """Fewest sites covering ``target_share`` of the resident weight given (partial set cover).

    The target is compared with exactly summed weights, never a rounded share. When the
    candidates cannot reach it, the answer covers everything they can reach and says so.

    Returns
    -------
    sites : DataFrame
        As :func:`best_k`.
    note : str
        Whether the target was reached, or the best achievable share.
    """
    if not 0 < target_share <= 1:
        raise ValueError(f"target share must be in (0, 1], got {target_share}")
    p = problem(cov)
    total = math.fsum(cov.weight)
    need = target_share * total
    can = p.reachable()
    small = method == "exact" or (method == "auto" and _covering.model_size(p) <= _covering.EXACT_MAX_PAIRS)
    if p.cap is not None and small:  # with capacities, what all candidates together can serve
        full, _ = _covering.exact(p, k=p.m, time_limit=time_limit)
        can = min(can, full.value) if full is not None else can
    reach_all = need > can
    if max_sites is not None:  # a cap on the number of sites: greedy (then pruned) within it
        sol = _covering.greedy(p, k=max_sites, need=min(need, can))
        sol = sol if method == "greedy" else _covering.prune(p, sol, min(need, sol.value))
    else:
        sol = _solve(p, method, time_limit, need=min(need, can))
    got = sol.value
    share = got / total if total else 0.0
    if not reach_all and got >= need * (1 - 1e-12):
        note = f"{len(sol.sites)} site(s) cover {share:.0%} of the residents (target {target_share:.0%})"
    else:
        note = (
            f"target {target_share:.0%} cannot be reached from these candidates: the best achievable is "
            f"{share:.0%} with {len(sol.sites)} site(s)"
        )
    return _table(cov, sol, guarantee(sol, best_k=False, lang=lang)), note


def exhaustive_best_k(cov: Coverage, k: int) -> tuple[float, tuple[int, ...]]:
    """Optimal coverage with ``k`` sites by trying every combination (small cases only; no capacities)."""
    from itertools import combinations

    best = -1.0
    best_set: tuple[int, ...] = ()
    for combo in combinations(range(len(cov.candidates)), k):
        w = cov.weight[cov.matrix[list(combo)].any(axis=0)].sum()
        if w > best:
            best, best_set = float(w), combo
    return best, best_set


def _residents_and_area(result, community_id: str | None) -> tuple[gpd.GeoDataFrame, shapely.Geometry]:
    """The residents and the area (projected) of one community, or of all of them together.

    Raises
    ------
    ValueError
        For an unknown community.
    """
    res = result.residents
    comms = result.communities
    if community_id is None:
        return res, comms.union_all()
    if community_id not in set(comms["id"]):
        raise ValueError(f"unknown community '{community_id}'")
    return res[res["community_id"] == community_id], comms.loc[comms["id"] == community_id].geometry.iloc[0]


def _candidate_sites(result, area, candidates: gpd.GeoDataFrame | None, search_margin_m: float) -> gpd.GeoDataFrame:
    """The user's candidate sites in the network CRS (with a ``candidate_id``), or street points.

    Without candidates: points along the streets of ``area`` and ``search_margin_m`` around.
    """
    if candidates is None:
        return street_candidates(result.network, area.buffer(search_margin_m))
    cands = candidates.to_crs(result.network.crs).copy()
    if "candidate_id" not in cands:
        cands["candidate_id"] = [f"candidate-{i + 1}" for i in range(len(cands))]
    cands["candidate_id"] = cands["candidate_id"].astype(str)
    return cands


def _fewest_to_target(
    cov: Coverage, target_share: float, total: float, already: float, method: str, time_limit: float, lang: str
) -> tuple[pd.DataFrame, str]:
    """The fewest sites that bring the covered share to ``target_share``, and what they achieve.

    Parameters
    ----------
    cov : Coverage
        Which uncovered residents each candidate reaches.
    target_share : float
        Share of all the residents to cover.
    total, already : float
        Residents in all, and those already covered.
    method, time_limit, lang
        As in :func:`fewest_sites`.
    """
    need = max(0.0, target_share * total - already)
    uncov_target = min(1.0, need / cov.weight.sum()) if cov.weight.sum() else 1.0
    sites, _ = fewest_sites(cov, max(uncov_target, 1e-9), method=method, time_limit=time_limit, lang=lang)
    reached = already + (sites["cumulative_residents"].iloc[-1] if len(sites) else 0.0)
    note = (
        f"{len(sites)} site(s) bring coverage to {reached / total:.0%} (target {target_share:.0%})"
        if reached >= target_share * total - 1e-6
        else f"target {target_share:.0%} cannot be reached from these candidates: best achievable "
        f"{reached / total:.0%} with {len(sites)} site(s)"
    )
    return sites, note


def _located(sites: pd.DataFrame, cov: Coverage, already: float, total: float) -> pd.DataFrame:
    """The chosen sites with ``lon``/``lat`` (WGS-84) and the covered share after each site."""
    pos = {c: i for i, c in enumerate(cov.candidates["candidate_id"])}
    ll = cov.candidates.to_crs("EPSG:4326")
    sites = sites.copy()
    idx = [pos[c] for c in sites["candidate_id"]]
    sites.insert(2, "lon", ll.geometry.x.to_numpy()[idx].round(7) if idx else [])
    sites.insert(3, "lat", ll.geometry.y.to_numpy()[idx].round(7) if idx else [])
    sites["covered_share_after"] = ((already + sites["cumulative_residents"]) / total).round(4)
    return sites


def propose_sites(  # noqa: PLR0913 — the site command's question: rule, community, candidates, k or target, method
    result,
    rule_id: str,
    *,
    community_id: str | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    k: int | None = None,
    target_share: float = 1.0,
    search_margin_m: float = 100.0,
    progress: bool = False,
    method: str = "auto",
    time_limit: float = _covering.EXACT_TIME_LIMIT_S,
    lang: str = "en",
) -> tuple[pd.DataFrame, str]:
    """Sites for a new facility of ``rule_id``'s type that cover the residents it leaves uncovered.

    Parameters
    ----------
    result : circles.pipeline.Result
        A finished analysis (current facilities).
    rule_id : str
        The rule (facility type and threshold) to satisfy.
    community_id : str, optional
        One community; by default all of them together.
    candidates : GeoDataFrame, optional
        Sites the user can build on (vacant plots, community rooms): points with
        ``candidate_id`` (optional ``capacity``), any CRS. Default: points every 60 m along
        the streets inside the community (or communities) and ``search_margin_m`` around.
    k : int, optional
        Answer "the best k sites"; without it, "the fewest sites reaching ``target_share`` of
        the community's residents" (counting those already covered).
    progress : bool
        Show a progress bar over the candidate sites.
    method : str
        See :data:`METHODS` (``auto``: exact for community-sized cases).
    time_limit : float
        Seconds the exact model may take (:data:`circles._covering.EXACT_TIME_LIMIT_S`).
    lang : {"en", "zh"}
        Language of the ``guarantee`` column.

    Returns
    -------
    sites : DataFrame
        Chosen sites with ``lon``, ``lat``, residents newly covered and the community's
        covered share after each site.
    note : str
        What was achieved, with the greedy guarantee.
    """
    rb = result.rulebook
    rule = next((r for r in rb.rules if r.id == rule_id), None)
    if rule is None:
        raise ValueError(f"unknown rule '{rule_id}'; rules: {', '.join(r.id for r in rb.rules)}")
    limit = rb.threshold_m(rule)
    res, area = _residents_and_area(result, community_id)
    total = float(res["population"].sum())
    dist = res[f"dist_{rule.facility_type}"].fillna(np.inf).to_numpy()
    already = float(res.loc[dist <= limit, "population"].sum())
    todo = res[(dist > limit) & res["placed"].to_numpy()]
    cands = _candidate_sites(result, area, candidates, search_margin_m)
    within = f"{limit:.0f} m ({rb.threshold_minutes(rule):.1f} min)"
    base = f"{already / total:.0%} of {total:.0f} residents already within {within}" if total else "no residents"
    if len(todo) == 0 or len(cands) == 0:
        why = "everyone placed is already covered" if len(todo) == 0 else "no candidate site"
        return pd.DataFrame(
            columns=["rank", "candidate_id", "lon", "lat", "residents_covered", "covered_share_after"]
        ), f"{base}; {why}"
    cov = coverage(result.network, todo, cands, limit, progress=progress)
    if k is not None:
        sites = best_k(cov, k, method=method, time_limit=time_limit, lang=lang)
        note = f"best {len(sites)} of {k} site(s) asked"
    else:
        sites, note = _fewest_to_target(cov, target_share, total, already, method, time_limit, lang)
    sites = _located(sites, cov, already, total)
    return sites, f"{base}; {note}"


# --------------------------------------------------------------------------------------------
# Output: the community each site serves, its nearest street, and a map
# --------------------------------------------------------------------------------------------


def _nearest_street(net: WalkNetwork, points: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Per point, the street to name it by and its distance (metres, 0.1 m): the nearest street
    when it has a name; else the nearest named street within :data:`NAMED_STREET_RADIUS_M`;
    else the nearest street, unnamed (``""``; every name empty when the network has none).
    """
    from ._display import street_names_of

    (_, edge), dist = net.edge_tree().query_nearest(points, return_distance=True, all_matches=False)
    street = street_names_of(net)
    if street is None:
        return [""] * len(points), np.round(dist, 1)
    names = [str(street[e]) if street[e] else "" for e in edge]
    named = np.flatnonzero(street != "")
    blank = [i for i, v in enumerate(names) if not v]
    if blank and len(named):
        tree = shapely.STRtree(net.geometry[named])
        (pi, ni), d = tree.query_nearest(
            points[blank], max_distance=NAMED_STREET_RADIUS_M, return_distance=True, all_matches=False
        )
        for j, k, dj in zip(pi, ni, d, strict=True):
            names[blank[j]], dist[blank[j]] = str(street[named[k]]), dj
    return names, np.round(dist, 1)


def describe_sites(result, rule_id: str, sites: pd.DataFrame, community_id: str | None = None) -> pd.DataFrame:
    """The proposed sites with the community each serves and its nearest street.

    Parameters
    ----------
    result : circles.pipeline.Result
    rule_id : str
        The rule the sites were proposed for.
    sites : DataFrame
        From :func:`propose_sites` (``candidate_id``, ``lon``, ``lat`` …).
    community_id : str, optional
        The community the question was about: every site serves it. Otherwise each site serves
        the community with the most residents it newly covers (the one it lies in when it
        covers nobody).

    Returns
    -------
    DataFrame
        ``sites`` with ``community_id``, ``community_name``, ``street_name`` and ``street_m``
        (see :func:`_nearest_street`).
    """
    out = sites.copy()
    comms = result.communities
    names = dict(zip(comms["id"].astype(str), comms["name"].astype(str), strict=True))
    net = result.network
    if not len(out):
        for c in ("community_id", "community_name", "street_name", "street_m"):
            out[c] = pd.Series(dtype=object if c != "street_m" else float)
        return out
    pts = gpd.GeoSeries(gpd.points_from_xy(out["lon"], out["lat"]), crs="EPSG:4326").to_crs(net.crs)
    out["street_name"], out["street_m"] = _nearest_street(net, np.asarray(pts.values, dtype=object))
    if community_id is not None:
        served = [str(community_id)] * len(out)
    else:
        rule = next(r for r in result.rulebook.rules if r.id == rule_id)
        limit = result.rulebook.threshold_m(rule)
        res = result.residents
        dcol = res[f"dist_{rule.facility_type}"].fillna(np.inf).to_numpy()
        todo = res[(dcol > limit) & res["placed"].to_numpy()]
        cands = gpd.GeoDataFrame({"candidate_id": out["candidate_id"].astype(str).to_numpy()}, geometry=pts.values)
        inside = gpd.sjoin(cands, comms[["id", "geometry"]].to_crs(net.crs), how="left", predicate="within")
        inside = inside[~inside.index.duplicated()]
        served = []
        if len(todo):
            cov = coverage(net, todo, cands, limit)
            comm_of = todo["community_id"].astype(str).to_numpy()
            w = todo["population"].to_numpy(dtype=float)
            for i in range(len(cands)):
                lo, hi = cov.reach.indptr[i], cov.reach.indptr[i + 1]
                cols = cov.reach.indices[lo:hi]
                if len(cols):
                    by = pd.Series(w[cols]).groupby(comm_of[cols]).sum()
                    served.append(str(by.sort_values(ascending=False, kind="stable").index[0]))
                else:
                    served.append("" if pd.isna(inside["id"].iloc[i]) else str(inside["id"].iloc[i]))
        else:
            served = ["" if pd.isna(v) else str(v) for v in inside["id"]]
    out["community_id"] = served
    out["community_name"] = [names.get(c, "") for c in served]
    return out


def site_map(result, rule_id: str, sites: pd.DataFrame, *, lang: str = "zh", offline: bool = True):
    """A map of the proposed sites over today's results for the rule.

    The sites are numbered in the order proposed; each one's popup gives the community it
    serves, its nearest street and what it covers, and a table lists them. Every text from the
    inputs is escaped.

    Parameters
    ----------
    result : circles.pipeline.Result
    rule_id : str
    sites : DataFrame
        From :func:`describe_sites`.
    lang : {"zh", "en"}
    offline : bool

    Returns
    -------
    folium.Map
        Focused on the community when every site serves the same one; otherwise the overview.
    """
    from . import mapping

    return mapping.site_map(result, rule_id, sites, lang=lang, offline=offline)
