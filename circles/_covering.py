"""Covering problems behind siting: greedy with its data-dependent bounds, clean-up moves, and
exact models for ``scipy.optimize.milp`` (HiGHS).

Two questions on a coverage matrix ``A`` (candidates × resident points, ``A[j, i]`` true when
candidate ``j`` reaches point ``i``) with weights ``w`` (residents per point):

- **maximal covering** (best ``k``): choose ``k`` candidates covering the most weight;
- **partial set cover** (fewest sites): choose the fewest candidates covering at least ``need``.

With capacities (``cap[j]`` residents) a site serves at most ``cap[j]`` of the residents it
reaches. The greedy answers serve each site's nearest uncovered points up to its capacity (whole
points), in the order the sites are chosen; the exact models let a point's residents be shared
between sites (a flow), which can only serve more, so their bound holds for both readings.

Every answer carries a :class:`Solution`: the chosen sites, the weight each serves, and what is
proven about it (``bound``: an upper bound on the best coverage, or a lower bound on the fewest
sites; ``optimal``: proven). All comparisons with ``need`` use exactly summed weights
(:func:`math.fsum`), never a rounded share.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

log = logging.getLogger(__name__)

#: Seconds HiGHS may spend on one exact siting model (the ``--time-limit`` option's default).
EXACT_TIME_LIMIT_S = 10.0
#: Largest model solved exactly by default: candidate–resident-group pairs of the coverage
#: matrix after identical resident points are merged (a community with a few hundred
#: candidates; a city goes to greedy + polish with its bound).
EXACT_MAX_PAIRS = 200_000
#: Relative gap at which HiGHS stops and the answer is reported as proven optimal.
EXACT_REL_GAP = 1e-6


@dataclass
class Problem:
    """A covering problem: boolean ``a`` (candidates × points, CSR), weights, capacities.

    ``dist`` (same pattern as ``a``) orders each site's points nearest first when capacities
    apply; ``placed`` marks candidates that may be chosen (placed on the network; all by
    default), kept as ``usable``.
    """

    a: sparse.csr_matrix
    w: np.ndarray
    cap: np.ndarray | None = None
    dist: sparse.csr_matrix | None = None
    placed: np.ndarray | None = None
    usable: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.a = sparse.csr_matrix(self.a, dtype=bool)
        self.a.eliminate_zeros()
        self.a.sort_indices()
        self.w = np.asarray(self.w, dtype=float)
        n = self.a.shape[0]
        self.usable = np.ones(n, dtype=bool) if self.placed is None else np.asarray(self.placed, dtype=bool)
        if not self.usable.all():
            keep = sparse.diags(self.usable.astype(float))
            self.a = sparse.csr_matrix(keep @ self.a, dtype=bool)
            self.a.eliminate_zeros()

    @property
    def m(self) -> int:
        return int(self.a.shape[0])

    def covered(self, sites) -> np.ndarray:
        """Points reached by any of ``sites`` (boolean, capacities ignored)."""
        if len(sites) == 0:
            return np.zeros(len(self.w), dtype=bool)
        return np.asarray(self.a[list(sites)].sum(axis=0)).ravel() > 0

    def reachable(self) -> float:
        """Weight that all usable candidates together cover (capacities ignored)."""
        return math.fsum(self.w[self.covered(np.flatnonzero(self.usable))])


@dataclass
class Solution:
    """Chosen sites (in the order given), the weight each serves and what is proven.

    ``bound`` is an upper bound on the best coverage (best ``k``) or a lower bound on the
    number of sites (fewest sites); None when nothing is known beyond the greedy guarantee.
    """

    sites: list[int]
    served: list[float]
    method: str
    bound: float | None = None
    optimal: bool = False
    seconds: float = 0.0
    bound_from: str = "greedy"  # "greedy" (data-dependent bound) or "milp" (the model's dual bound)

    @property
    def value(self) -> float:
        return math.fsum(self.served)


# ---------------------------------------------------------------------------------------------
# Evaluation: serve sites in order (nearest first up to capacity)
# ---------------------------------------------------------------------------------------------


def _serve(p: Problem, site: int, covered: np.ndarray) -> np.ndarray:
    lo, hi = p.a.indptr[site], p.a.indptr[site + 1]
    cols = p.a.indices[lo:hi]
    free = ~covered[cols]
    if p.cap is None or not np.isfinite(p.cap[site]):
        return cols[free]
    d = p.dist.data[lo:hi][free] if p.dist is not None else np.zeros(int(free.sum()))
    order = cols[free][np.argsort(d, kind="stable")]
    cum = np.cumsum(p.w[order])
    return order[: int(np.searchsorted(cum, p.cap[site], side="right"))]


def evaluate(p: Problem, sites) -> list[float]:
    """Weight each site serves when the sites are opened in this order."""
    covered = np.zeros(len(p.w), dtype=bool)
    out = []
    for s in sites:
        got = _serve(p, int(s), covered)
        covered[got] = True
        out.append(math.fsum(p.w[got]))
    return out


def _gains(p: Problem, covered: np.ndarray) -> np.ndarray:
    gain = np.asarray(p.a.astype(float) @ np.where(covered, 0.0, p.w)).ravel()
    if p.cap is not None:
        gain = np.minimum(gain, p.cap)
    gain[~p.usable] = -1.0
    return gain


def greedy_order(p: Problem, sites) -> list[int]:
    """``sites`` reordered greedily: each next one serves the most of what is left."""
    left = [int(s) for s in sites]
    covered = np.zeros(len(p.w), dtype=bool)
    out = []
    sub = sparse.csr_matrix(p.a[left], dtype=float) if left else sparse.csr_matrix((0, len(p.w)))
    while left:
        if p.cap is None:
            gains = np.asarray(sub @ np.where(covered, 0.0, p.w)).ravel()
        else:
            gains = np.array([math.fsum(p.w[_serve(p, s, covered)]) for s in left])
        i = int(np.argmax(gains))
        best = left.pop(i)
        if p.cap is None:
            sub = sparse.csr_matrix(sub[np.arange(sub.shape[0]) != i])
        covered[_serve(p, best, covered)] = True
        out.append(best)
    return out


# ---------------------------------------------------------------------------------------------
# Greedy with data-dependent bounds
# ---------------------------------------------------------------------------------------------


def _top_sum(gains: np.ndarray, k: int) -> float:
    pos = gains[gains > 0]
    if len(pos) <= k:
        return math.fsum(pos)
    return math.fsum(np.partition(pos, len(pos) - k)[len(pos) - k :])


def _min_count(gains: np.ndarray, short: float) -> int:
    """Fewest of ``gains`` whose sum reaches ``short`` (a lower bound on the sites still needed)."""
    if short <= 0:
        return 0
    g = np.sort(gains[gains > 0])[::-1]
    cum = np.cumsum(g)
    n = int(np.searchsorted(cum, short * (1 - 1e-12), side="left")) + 1
    return min(n, len(g)) if len(g) else 0


def greedy(p: Problem, k: int | None = None, need: float | None = None) -> Solution:
    """Greedy: add the site serving the most until ``k`` sites, ``need`` covered, or no gain.

    Without capacities the coverage is submodular, so after any step ``t`` the optimum with
    ``k`` sites is at most ``f(S_t)`` + the ``k`` largest gains (Minoux 1978; Leskovec et al.
    2007), and fewest sites reaching ``need`` needs at least as many sites as the fewest
    largest gains summing to ``need − f(S_t)``. The best of these over the steps is kept as
    ``bound``. With capacities no bound is claimed.
    """
    t0 = time.perf_counter()
    covered = np.zeros(len(p.w), dtype=bool)
    sites: list[int] = []
    served: list[float] = []
    limit = p.m if k is None else k
    ub, lb = math.inf, 0
    done = 0.0
    while True:
        gains = _gains(p, covered)
        if p.cap is None:
            if k is not None:
                ub = min(ub, done + _top_sum(gains, k))
            if need is not None:
                lb = max(lb, _min_count(gains, need - done))
        if len(sites) >= limit or (need is not None and done >= need):
            break
        best = int(np.argmax(gains)) if len(gains) else 0
        if not len(gains) or gains[best] <= 0:
            break
        got = _serve(p, best, covered)
        covered[got] = True
        sites.append(best)
        served.append(math.fsum(p.w[got]))
        done = math.fsum(p.w[covered])
    bound: float | None = None
    if p.cap is None:
        bound = ub if k is not None else float(lb)
    return Solution(sites, served, "greedy", bound=bound, seconds=time.perf_counter() - t0)


def prune(p: Problem, sol: Solution, need: float) -> Solution:
    """Drop every site whose removal still leaves ``need`` covered (smallest contribution first)."""
    by_served = sorted(range(len(sol.sites)), key=lambda i: (sol.served[i], sol.sites[i]))
    sites = set(sol.sites)
    if p.cap is None:
        cnt = np.asarray(p.a[sol.sites].astype(float).sum(axis=0)).ravel() if sol.sites else np.zeros(len(p.w))
        done = math.fsum(p.w[cnt > 0])
        for i in by_served:
            s = sol.sites[i]
            cols = p.a.indices[p.a.indptr[s] : p.a.indptr[s + 1]]
            lost = math.fsum(p.w[cols[cnt[cols] == 1]])
            if done - lost >= need:
                sites.discard(s)
                cnt[cols] -= 1
                done = math.fsum(p.w[cnt > 0])
    else:
        for i in by_served:
            rest = [x for x in sol.sites if x in sites and x != sol.sites[i]]
            if math.fsum(evaluate(p, rest)) >= need:
                sites.discard(sol.sites[i])
    order = greedy_order(p, [x for x in sol.sites if x in sites])
    return Solution(
        order,
        evaluate(p, order),
        sol.method + "+prune",
        bound=sol.bound,
        optimal=sol.optimal,
        seconds=sol.seconds,
        bound_from=sol.bound_from,
    )


def shrink(p: Problem, sol: Solution, need: float, max_seconds: float = EXACT_TIME_LIMIT_S) -> Solution:
    """Fewest sites by local search (no capacities): with one site fewer, greedy then the
    1-swap polish; while that still covers ``need``, keep it and try one fewer again."""
    if p.cap is not None or not sol.sites:
        return sol
    t0 = time.perf_counter()
    best = sol
    while len(best.sites) > 1 and time.perf_counter() - t0 < max_seconds:
        left = max_seconds - (time.perf_counter() - t0)
        trial = polish(p, greedy(p, k=len(best.sites) - 1), left)
        if trial.value < need:
            break
        best = prune(p, trial, need)
    if best is sol:
        return sol
    return Solution(
        best.sites,
        best.served,
        sol.method + "+shrink",
        bound=sol.bound,
        seconds=sol.seconds + time.perf_counter() - t0,
        bound_from=sol.bound_from,
    )


def polish(p: Problem, sol: Solution, max_seconds: float = EXACT_TIME_LIMIT_S) -> Solution:
    """1-swap local search for best ``k`` (no capacities): swap a chosen site for an unchosen
    one while that covers more; the best swap of each pass is taken, until none helps."""
    if p.cap is not None or not sol.sites:
        return sol
    t0 = time.perf_counter()
    af = p.a.astype(float)
    chosen = list(sol.sites)
    while time.perf_counter() - t0 < max_seconds:
        cnt = np.asarray(af[chosen].sum(axis=0)).ravel()
        best = (1e-9 * max(1.0, float(p.w.sum())), -1, -1)
        for pos, i in enumerate(chosen):
            mine = np.zeros(len(p.w), dtype=bool)
            mine[p.a.indices[p.a.indptr[i] : p.a.indptr[i + 1]]] = True
            only = mine & (cnt == 1)
            loss = math.fsum(p.w[only])
            free = np.where((cnt == 0) | only, p.w, 0.0)
            gain = np.asarray(af @ free).ravel()
            gain[~p.usable] = -np.inf
            gain[chosen] = -np.inf
            j = int(np.argmax(gain))
            if gain[j] - loss > best[0]:
                best = (gain[j] - loss, pos, j)
        if best[1] < 0:
            break
        chosen[best[1]] = best[2]
    order = greedy_order(p, chosen)
    return Solution(
        order,
        evaluate(p, order),
        sol.method + "+polish",
        bound=sol.bound,
        seconds=sol.seconds + time.perf_counter() - t0,
        bound_from=sol.bound_from,
    )


# ---------------------------------------------------------------------------------------------
# Exact models (scipy.optimize.milp, HiGHS)
# ---------------------------------------------------------------------------------------------


def merge_points(p: Problem) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Resident points reached by exactly the same candidates merged into one group.

    Returns the candidates × groups matrix and the groups' weights; points nobody reaches are
    left out (no model can cover them).
    """
    at = p.a.T.tocsr()
    keys: dict[bytes, int] = {}
    group = np.full(at.shape[0], -1)
    for i in range(at.shape[0]):
        lo, hi = at.indptr[i], at.indptr[i + 1]
        if hi == lo:
            continue
        group[i] = keys.setdefault(at.indices[lo:hi].tobytes(), len(keys))
    ok = group >= 0
    n = len(keys)
    w = np.bincount(group[ok], weights=p.w[ok], minlength=n)
    first = np.zeros(n, dtype=np.int64)
    first[group[ok][::-1]] = np.flatnonzero(ok)[::-1]
    return sparse.csr_matrix(at[first].T, dtype=bool), w


def model_size(p: Problem) -> int:
    """Candidate–group pairs of the exact model (what :data:`EXACT_MAX_PAIRS` limits)."""
    a, _ = merge_points(p)
    return int(a.nnz)


def _solve(c, cons, integrality, bounds, time_limit: float):
    from scipy.optimize import milp

    return milp(
        c,
        constraints=cons,
        integrality=integrality,
        bounds=bounds,
        options={"time_limit": float(time_limit), "mip_rel_gap": EXACT_REL_GAP, "disp": False},
    )


def _uncapacitated(p: Problem, k: int | None, need: float | None, time_limit: float):
    """x (sites, binary) then z (groups, [0, 1]): z_i ≤ Σ_j A_ji x_j."""
    from scipy.optimize import Bounds, LinearConstraint

    a, w = merge_points(p)
    m, n = a.shape
    link = sparse.hstack([-a.T.astype(float), sparse.identity(n)]).tocsr()
    cons = [LinearConstraint(link, -np.inf, 0.0)]
    ub = np.r_[p.usable.astype(float), np.ones(n)]
    if k is not None:
        cons.append(LinearConstraint(sparse.csr_matrix(np.r_[np.ones(m), np.zeros(n)][None, :]), -np.inf, k))
        c = np.r_[np.zeros(m), -w]
    else:
        cons.append(LinearConstraint(sparse.csr_matrix(np.r_[np.zeros(m), w][None, :]), need, np.inf))
        c = np.r_[np.ones(m), np.zeros(n)]
    res = _solve(c, cons, np.r_[np.ones(m), np.zeros(n)], Bounds(np.zeros(m + n), ub), time_limit)
    return res, m


def _capacitated(p: Problem, k: int | None, need: float | None, time_limit: float):
    """x (sites, binary) then s (site–group pairs, residents served, continuous)."""
    from scipy.optimize import Bounds, LinearConstraint

    if p.cap is None:
        raise ValueError("the capacitated model needs capacities")
    a, w = merge_points(p)
    m, n = a.shape
    coo = a.tocoo()
    pj, pi = coo.row, coo.col
    npair = len(pj)
    reach_w = np.bincount(pj, weights=w[pi], minlength=m)
    cap = np.minimum(np.where(np.isfinite(p.cap), p.cap, np.inf), reach_w)
    r = np.arange(npair)
    per_group = sparse.csr_matrix((np.ones(npair), (pi, m + r)), shape=(n, m + npair))
    per_site = sparse.csr_matrix(
        (np.r_[-cap, np.ones(npair)], (np.r_[np.arange(m), pj], np.r_[np.arange(m), m + r])), shape=(m, m + npair)
    )
    per_pair = sparse.csr_matrix(
        (np.r_[-w[pi], np.ones(npair)], (np.r_[r, r], np.r_[pj, m + r])), shape=(npair, m + npair)
    )
    cons = [
        LinearConstraint(per_group, -np.inf, w),
        LinearConstraint(per_site, -np.inf, 0.0),
        LinearConstraint(per_pair, -np.inf, 0.0),
    ]
    if k is not None:
        cons.append(LinearConstraint(sparse.csr_matrix(np.r_[np.ones(m), np.zeros(npair)][None, :]), -np.inf, k))
        c = np.r_[np.zeros(m), -np.ones(npair)]
    else:
        cons.append(LinearConstraint(sparse.csr_matrix(np.r_[np.zeros(m), np.ones(npair)][None, :]), need, np.inf))
        c = np.r_[np.ones(m), np.zeros(npair)]
    ub = np.r_[p.usable.astype(float), w[pi]]
    res = _solve(c, cons, np.r_[np.ones(m), np.zeros(npair)], Bounds(np.zeros(m + npair), ub), time_limit)
    served = None
    if res.x is not None:
        served = np.bincount(pj, weights=res.x[m:], minlength=m)
    return res, m, served


def exact(p: Problem, *, k: int | None = None, need: float | None = None, time_limit: float = EXACT_TIME_LIMIT_S):
    """Solve best ``k`` (``k``) or fewest sites (``need``) with HiGHS under ``time_limit``.

    Returns a :class:`Solution` (None when HiGHS found no feasible answer in time) and the
    proven bound (coverage upper bound, or sites lower bound; None when unknown).
    """
    t0 = time.perf_counter()
    if model_size(p) == 0:  # no candidate reaches anyone: nothing to choose, proven
        return Solution([], [], "exact", bound=0.0, optimal=True, bound_from="milp"), 0.0
    if p.cap is None:
        res, m = _uncapacitated(p, k, need, time_limit)
        served_by = None
    else:
        res, m, served_by = _capacitated(p, k, need, time_limit)
    dual = getattr(res, "mip_dual_bound", None)
    bound: float | None = None
    if dual is not None and np.isfinite(dual):
        bound = -float(dual) if k is not None else math.ceil(float(dual) - 1e-6)
    if res.x is None:
        log.info("exact siting: no answer within %.1f s (%s)", time_limit, res.message)
        return None, bound
    sites = [int(j) for j in np.flatnonzero(res.x[:m] > 0.5)]
    if served_by is None:
        order = greedy_order(p, sites)
        served = evaluate(p, order)
    else:
        order = sorted(sites, key=lambda j: (-served_by[j], j))
        served = [float(served_by[j]) for j in order]
    keep = [i for i, v in enumerate(served) if v > 0]  # a site the model opened that serves nobody
    order, served = [order[i] for i in keep], [served[i] for i in keep]
    optimal = res.status == 0
    if optimal:
        bound = math.fsum(served) if k is not None else float(len(sites))
    sol = Solution(
        order, served, "exact", bound=bound, optimal=optimal, seconds=time.perf_counter() - t0, bound_from="milp"
    )
    return sol, bound


def tighter(sol: Solution, bound: float | None, source: str, *, maximise: bool) -> None:
    """Keep ``bound`` on ``sol`` when it is tighter than the one it has (and say where it is from)."""
    if bound is None:
        return
    if sol.bound is None or (bound < sol.bound if maximise else bound > sol.bound):
        sol.bound, sol.bound_from = bound, source
    if maximise:
        sol.optimal = sol.optimal or sol.value >= sol.bound * (1 - EXACT_REL_GAP)
    else:
        sol.optimal = sol.optimal or len(sol.sites) <= sol.bound


def better(a: Solution | None, b: Solution, *, maximise: bool) -> Solution:
    """The better of two answers (more coverage, or fewer sites), keeping the tighter bound."""
    if a is None:
        return b
    if maximise:
        win, other = (a, b) if a.value >= b.value - 1e-9 else (b, a)
    else:
        win, other = (a, b) if len(a.sites) <= len(b.sites) else (b, a)
    tighter(win, other.bound, other.bound_from, maximise=maximise)
    tighter(win, win.bound, win.bound_from, maximise=maximise)
    return win
