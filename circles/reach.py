"""The reach engine: exact walking distances along streets from facilities to residents.

Points (residents, facility access points) attach to the nearest point *on an edge*
(interpolated, not the nearest node); the access leg counts in the distance. Edges are
split at every attachment, and each point hangs off its attachment as a leaf, so one
bounded multi-source Dijkstra per facility type (SciPy's compiled ``csgraph.dijkstra``)
gives every resident the exact along-street distance to the nearest facility.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from tqdm.auto import tqdm

from ._arrays import unique_ints
from ._safety import map_threads, thread_count
from .network import WalkNetwork

# the default maximum distance from a point to the street it attaches to (metres), declared with
# the options; points further away are reported with their distance and not attached
from .options import DEFAULT_MAX_ATTACH_M

log = logging.getLogger(__name__)


_EPS = 1e-6  # metres; zero-length segments are given this weight (SciPy drops explicit zeros)
_BOX_M = 40.0  # half-width of the first candidate search around a point (metres)


@dataclass
class Attachment:
    """Where points meet the network.

    Attributes
    ----------
    edge : ndarray of int64
        Edge index, -1 where the point is not attached.
    offset : ndarray of float64
        Distance along the edge geometry from its ``u`` end (metres).
    leg : ndarray of float64
        Straight distance from the point to the edge (metres): the nearest-street distance,
        also for points that were not attached.
    attached : ndarray of bool
    """

    edge: np.ndarray
    offset: np.ndarray
    leg: np.ndarray
    attached: np.ndarray

    def split(self, n: int) -> tuple[Attachment, Attachment]:
        """The first ``n`` points and the rest."""
        head = Attachment(self.edge[:n], self.offset[:n], self.leg[:n], self.attached[:n])
        return head, Attachment(self.edge[n:], self.offset[n:], self.leg[n:], self.attached[n:])

    @staticmethod
    def joined(first: Attachment, then: Attachment) -> Attachment:
        """The points of ``first``, then those of ``then``."""
        return Attachment(
            np.r_[first.edge, then.edge],
            np.r_[first.offset, then.offset],
            np.r_[first.leg, then.leg],
            np.r_[first.attached, then.attached],
        )


def attach_points(
    net: WalkNetwork, x: np.ndarray, y: np.ndarray, max_distance: float = DEFAULT_MAX_ATTACH_M
) -> Attachment:
    """Attach points (network CRS) to the nearest position on an edge.

    Exact: the nearest of all straight pieces of all edge geometries, the candidate edges
    found through an R-tree and the pieces measured with plain vector arithmetic (ties go
    to the lowest edge).

    Parameters
    ----------
    net : WalkNetwork
    x, y : array-like
        Point coordinates in the network CRS.
    max_distance : float
        Points further than this from every edge are not attached.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.zeros(n)
    leg = np.full(n, np.nan)
    if n == 0 or net.n_edges == 0:
        return Attachment(edge, offset, leg, np.zeros(n, dtype=bool))
    pieces = _pieces(net)
    ip, iseg, dist, t = _nearest_pieces_threaded(pieces, x, y)
    leg[ip] = dist
    ok = dist <= max_distance
    ip, iseg, t = ip[ok], iseg[ok], t[ok]
    edge[ip] = pieces.edge[iseg]
    offset[ip] = np.clip(pieces.start[iseg] + t * pieces.length[iseg], 0.0, net.length[edge[ip]])
    return Attachment(edge, offset, leg, edge >= 0)


@dataclass
class _Pieces:
    """The straight pieces of all edge geometries, in edge order, and an R-tree of the edges."""

    edge: np.ndarray  # edge of each piece
    first: np.ndarray  # pieces of edge e: first[e] .. first[e + 1] - 1
    a: np.ndarray  # (n, 2) start point
    ab: np.ndarray  # (n, 2) end minus start
    length: np.ndarray  # piece length
    start: np.ndarray  # distance along the edge where the piece starts
    tree: shapely.STRtree


def _pieces(net: WalkNetwork) -> _Pieces:
    """The pieces of ``net`` (cached on it)."""
    cached = net.cache.get("pieces")
    if cached is not None and cached[0] == net.n_edges:
        return cached[1]
    xy, gi = shapely.get_coordinates(net.geometry, return_index=True)
    same = gi[1:] == gi[:-1]
    a, edge = xy[:-1][same], gi[:-1][same]
    ab = xy[1:][same] - a
    length = np.hypot(ab[:, 0], ab[:, 1])
    first = np.searchsorted(edge, np.arange(net.n_edges + 1))
    start = np.cumsum(length) - length
    start -= start[first[:-1]][edge]
    p = _Pieces(edge=edge, first=first, a=a, ab=ab, length=length, start=start, tree=net.edge_tree())
    net.cache["pieces"] = (net.n_edges, p)
    return p


def _project(p: _Pieces, pt: np.ndarray, edge: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Every piece of each (point ``pt``, ``edge``) pair, grouped by point in the order of ``pt``.

    Each as (point, piece, distance, position 0…1 of the foot on the piece).
    """
    n = p.first[edge + 1] - p.first[edge]
    pair = np.repeat(np.arange(len(edge)), n)
    seg = p.first[edge][pair] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    i = pt[pair]
    a, ab = p.a[seg], p.ab[seg]
    dx, dy = x[i] - a[:, 0], y[i] - a[:, 1]
    ll = ab[:, 0] ** 2 + ab[:, 1] ** 2
    t = np.clip(np.divide(dx * ab[:, 0] + dy * ab[:, 1], ll, out=np.zeros_like(ll), where=ll > 0), 0.0, 1.0)
    return i, seg, np.hypot(dx - t * ab[:, 0], dy - t * ab[:, 1]), t


def _group_min(qi: np.ndarray, qe: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The position of the pair of least ``d`` in each group of ``qi`` (sorted).

    Ties go to the lowest ``qe``; the pairs are not all sorted.
    """
    starts = np.flatnonzero(np.r_[True, qi[1:] != qi[:-1]])
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(qi)]))
    dmin = np.minimum.reduceat(d, starts)
    key = np.where(d == dmin[group], qe, np.iinfo(np.int64).max)
    pos = np.flatnonzero(key == np.minimum.reduceat(key, starts)[group])
    return pos[np.r_[True, group[pos][1:] != group[pos][:-1]]]


#: Points from which :func:`attach_points` spreads them over the search threads (each point's
#: nearest piece is its own, so the answers do not change). No source: a tuning value.
_ATTACH_THREADED_MIN = 40_000


def _nearest_pieces_threaded(p: _Pieces, x: np.ndarray, y: np.ndarray):
    """:func:`_nearest_pieces` of the points in :func:`circles._safety.thread_count` consecutive parts side by
    side (the R-tree's search and the arithmetic release Python's lock), joined in order.
    """
    k = thread_count() if len(x) >= _ATTACH_THREADED_MIN else 1
    if k <= 1:
        return _nearest_pieces(p, x, y)
    cuts = np.linspace(0, len(x), k + 1).astype(np.int64)
    parts = map_threads(
        lambda ab: _nearest_pieces(p, x[ab[0] : ab[1]], y[ab[0] : ab[1]]), list(zip(cuts[:-1], cuts[1:], strict=True))
    )
    i = np.concatenate([part[0] + a for part, a in zip(parts, cuts[:-1], strict=True)])
    return i, *(np.concatenate([part[j] for part in parts]) for j in (1, 2, 3))


def _nearest_pieces(p: _Pieces, x: np.ndarray, y: np.ndarray, box: float = _BOX_M):
    """Nearest edge piece of every point: (point index, piece, distance, position on piece).

    Fast path: candidate edges are those whose envelope meets a square of half-width ``box``
    around the point; any edge within ``box`` of the point is among them, so a nearest
    candidate within ``box`` is exact. Points with none that close fall back to the tree's
    nearest-neighbour search. Distances to the pieces of the candidate edges are plain
    vector arithmetic; ties go to the lowest piece, hence the lowest edge.
    """
    qi, qe = p.tree.query(shapely.box(x - box, y - box, x + box, y + box))
    if len(qi) and (np.diff(qi) < 0).any():
        order = np.argsort(qi, kind="stable")
        qi, qe = qi[order], qe[order]
    i, seg, d, t = _project(p, qi, qe, x, y)
    if len(i):
        best = _group_min(i, seg, d)
        best = best[d[best] <= box]
        i, seg, d, t = i[best], seg[best], d[best], t[best]
    unplaced = np.ones(len(x), dtype=bool)
    unplaced[i] = False
    rest = np.flatnonzero(unplaced)
    if len(rest):
        rp, re_ = p.tree.query_nearest(shapely.points(x[rest], y[rest]), all_matches=True)
        order = np.lexsort((re_, rp))
        ri, rseg, rd, rt = _project(p, rest[rp[order]], re_[order], x, y)
        best = _group_min(ri, rseg, rd)
        i, seg, d, t = np.r_[i, ri[best]], np.r_[seg, rseg[best]], np.r_[d, rd[best]], np.r_[t, rt[best]]
    return i, seg, d, t


@dataclass
class SplitGraph:
    """The network split at every attached point, as a symmetric CSR matrix.

    Node numbering: ``0..n_nodes-1`` are the network nodes; then one node per attached
    point where it meets its edge; then one leaf node per attached point. ``leaf[i]`` is the
    leaf of point ``i`` (-1 if not attached). The ``seg_*`` arrays describe every street
    segment of the split graph: its edge, its offsets ``s0 < s1`` along the edge geometry and
    its end nodes ``a`` (at ``s0``) and ``b`` (at ``s1``). ``xy`` holds the coordinates of every
    node (a point's two nodes both sit where it meets its edge): a path of length ``L`` never
    leaves the disc of radius ``L`` around its start, which lets searches run on a local piece
    of the graph (:func:`reach_pairs`).
    """

    matrix: sparse.csr_matrix
    n_base: int
    leaf: np.ndarray
    position: np.ndarray
    seg_edge: np.ndarray
    seg_s0: np.ndarray
    seg_s1: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    xy: np.ndarray | None = None
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        """The number of nodes of the split graph."""
        return self.matrix.shape[0]

    def with_points_before(self, n: int) -> SplitGraph:
        """The same graph with ``n`` points that are not attached listed before its own
        (``leaf`` and ``position`` lengthened): the residents, placed after the facility
        searches ran (:func:`circles.access.compute_access`). Arrays and caches are shared.
        """
        pad = np.full(n, -1, dtype=np.int64)
        out = replace(self, leaf=np.r_[pad, self.leaf], position=np.r_[pad, self.position])
        if "both_ways" in self.__dict__:  # made once per graph (a second of a city's time)
            out.__dict__["both_ways"] = self.__dict__["both_ways"]
        return out

    @cached_property
    def both_ways(self) -> sparse.csr_matrix:
        """``matrix`` (one triangle) with every segment stored in both directions.

        Searched as a directed graph it gives the same distances, and SciPy no longer builds
        the transpose on every call (the cost of a short search on a large graph).
        """
        return (self.matrix + self.matrix.T).tocsr()

    def shared_by_threads(self) -> SplitGraph:
        """Make what the graph's searches share now, once (:attr:`both_ways`, the node cells of
        local searches), before several threads each make a cached value not made yet.
        """
        _ = self.both_ways
        if self.xy is not None and len(self.xy):
            _node_cells(self)
        return self


def split_graph(net: WalkNetwork, att: Attachment) -> SplitGraph:
    """Build the edge-split graph for the attached points of ``att``."""
    n = net.n_nodes
    pid = np.flatnonzero(att.attached)
    k = len(pid)
    pos_node = n + np.arange(k)
    leaf_node = n + k + np.arange(k)
    e = att.edge[pid]
    s = att.offset[pid]
    order = np.lexsort((s, e))
    e_sorted, s_sorted, pos_sorted = e[order], s[order], pos_node[order]
    # chains along split edges: u -> p1 -> ... -> pm -> v
    starts = np.r_[True, e_sorted[1:] != e_sorted[:-1]] if k else np.zeros(0, dtype=bool)
    ends = np.r_[e_sorted[1:] != e_sorted[:-1], True] if k else np.zeros(0, dtype=bool)
    prev_node = np.where(starts, net.u[e_sorted], np.r_[-1, pos_sorted[:-1]] if k else pos_sorted)
    prev_off = np.where(starts, 0.0, np.r_[0.0, s_sorted[:-1]] if k else s_sorted)
    a_i = [prev_node, pos_sorted[ends]]
    a_j = [pos_sorted, net.v[e_sorted[ends]]]
    a_w = [s_sorted - prev_off, net.length[e_sorted[ends]] - s_sorted[ends]]
    # edges with no point on them
    has_point = np.zeros(net.n_edges, dtype=bool)
    has_point[e] = True
    free = ~has_point
    a_i.append(net.u[free])
    a_j.append(net.v[free])
    a_w.append(net.length[free])
    # leaves
    a_i.append(pos_node)
    a_j.append(leaf_node)
    a_w.append(att.leg[pid])
    # street segments (for isochrones): the chains and the free edges, without the leaves
    seg_edge = np.concatenate([e_sorted, e_sorted[ends], np.flatnonzero(free)])
    seg_s0 = np.concatenate([prev_off, s_sorted[ends], np.zeros(free.sum())])
    seg_s1 = np.concatenate([s_sorted, net.length[e_sorted[ends]], net.length[free]])
    seg_a = np.concatenate(a_i[:3]).astype(np.int64)
    seg_b = np.concatenate(a_j[:3]).astype(np.int64)
    i = np.concatenate(a_i).astype(np.int64)
    j = np.concatenate(a_j).astype(np.int64)
    w = np.maximum(np.concatenate(a_w), _EPS)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo != hi
    lo, hi, w = lo[keep], hi[keep], w[keep]
    # parallel edges between the same two nodes: keep the shortest (CSR would add them up)
    order = np.lexsort((w, hi, lo))
    lo, hi, w = lo[order], hi[order], w[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
    lo, hi, w = lo[first], hi[first], w[first]
    total = n + 2 * k
    m = sparse.csr_matrix((w, (lo, hi)), shape=(total, total))
    leaf = np.full(len(att.edge), -1, dtype=np.int64)
    leaf[pid] = leaf_node
    position = np.full(len(att.edge), -1, dtype=np.int64)
    position[pid] = pos_node
    xy = np.empty((total, 2))
    xy[:n, 0], xy[:n, 1] = net.x, net.y
    if k:
        at = shapely.line_interpolate_point(net.geometry[e], s)
        xy[n : n + k] = shapely.get_coordinates(at)
        xy[n + k :] = xy[n : n + k]
    return SplitGraph(
        xy=xy,
        matrix=m,
        n_base=n,
        leaf=leaf,
        position=position,
        seg_edge=seg_edge,
        seg_s0=seg_s0,
        seg_s1=seg_s1,
        seg_a=seg_a,
        seg_b=seg_b,
    )


@dataclass
class Targets:
    """Points placed on a split graph without being part of it (residents).

    A target lies on one street segment of the split graph, between its end nodes ``a`` and
    ``b``; every path to it enters the segment through one of them, so its distance is
    ``min(dist[a] + wa, dist[b] + wb)`` exactly (``wa``, ``wb``: the way along the segment
    plus the access leg). ``a == -1`` for points that were not attached. Keeping residents
    out of the graph keeps the searches as small as the street network itself.
    """

    a: np.ndarray
    b: np.ndarray
    wa: np.ndarray
    wb: np.ndarray

    @property
    def placed(self) -> np.ndarray:
        """Whether each target is attached to the network."""
        return self.a >= 0

    def __len__(self) -> int:
        return len(self.a)

    def subset(self, index) -> Targets:
        """The targets at ``index``."""
        return Targets(self.a[index], self.b[index], self.wa[index], self.wb[index])

    def distance(self, node_dist: np.ndarray) -> np.ndarray:
        """Distance of every target given the distances of the graph nodes (``inf`` if unplaced).

        ``node_dist`` may be 1-D (nodes) or 2-D (searches × nodes).
        """
        a = np.maximum(self.a, 0)
        b = np.maximum(self.b, 0)
        d = np.minimum(node_dist[..., a] + self.wa, node_dist[..., b] + self.wb)
        return np.where(self.placed, d, np.inf)

    def origin(self, node_dist: np.ndarray, node_origin: np.ndarray) -> np.ndarray:
        """The search source nearest to each target (from :func:`nearest`'s ``origin``)."""
        a = np.maximum(self.a, 0)
        b = np.maximum(self.b, 0)
        via_a = node_dist[a] + self.wa <= node_dist[b] + self.wb
        return np.where(self.placed, np.where(via_a, node_origin[a], node_origin[b]), -9999)


def locate(net: WalkNetwork, graph: SplitGraph, att: Attachment) -> Targets:
    """Place the attached points of ``att`` on the segments of ``graph`` (see :class:`Targets`)."""
    n = len(att.edge)
    a = np.full(n, -1, dtype=np.int64)
    b = np.full(n, -1, dtype=np.int64)
    wa = np.full(n, np.inf)
    wb = np.full(n, np.inf)
    ok = np.flatnonzero(att.attached)
    if len(ok):
        scale = net.length + 1.0
        seg_key = graph.seg_edge + graph.seg_s0 / scale[graph.seg_edge]
        order = np.argsort(seg_key, kind="stable")
        e, s = att.edge[ok], att.offset[ok]
        k = order[np.searchsorted(seg_key[order], e + s / scale[e], side="right") - 1]
        a[ok], b[ok] = graph.seg_a[k], graph.seg_b[k]
        wa[ok] = (s - graph.seg_s0[k]) + att.leg[ok]
        wb[ok] = (graph.seg_s1[k] - s) + att.leg[ok]
    return Targets(a, b, wa, wb)


def nearest(graph: SplitGraph, sources: np.ndarray, limit: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Distance from every node to the nearest of ``sources`` (one multi-source search).

    Parameters
    ----------
    graph : SplitGraph
    sources : ndarray of int
        Node indices to start from (facility leaves).
    limit : float
        Stop the search at this distance (metres); nodes further away get ``inf``.

    Returns
    -------
    dist : ndarray of float64
        Distance in metres (``inf`` where beyond ``limit`` or unreachable).
    origin : ndarray of int64
        The source node nearest to each node (-9999 where none).
    """
    sources = unique_ints(np.asarray(sources, dtype=np.int64))
    if len(sources) and (sources[0] < 0 or sources[-1] >= graph.n_nodes):
        raise ValueError(
            f"source node out of range: {sources[0] if sources[0] < 0 else sources[-1]} "
            "(an unattached point has leaf -1: select attached points only)"
        )
    if len(sources) == 0:
        return np.full(graph.n_nodes, np.inf), np.full(graph.n_nodes, -9999, dtype=np.int64)
    dist, _, origin = dijkstra(
        graph.both_ways, directed=True, indices=sources, min_only=True, limit=limit, return_predecessors=True
    )
    return dist, origin.astype(np.int64)


def counts_within(graph: SplitGraph, source_groups: list[np.ndarray], targets, limit: float) -> np.ndarray:
    """For each target, how many source groups (facilities) lie within ``limit``.

    A group is one facility's access points; it counts once however many of its points
    are in reach. ``targets`` is a :class:`Targets` or an array of graph nodes.
    """
    return reach_matrix(graph, source_groups, targets, limit).sum(axis=0)


def reach_matrix(graph: SplitGraph, source_groups: list[np.ndarray], targets, limit: float) -> np.ndarray:
    """Boolean matrix (groups × targets): is the target within ``limit`` of the group.

    ``targets`` is a :class:`Targets` or an array of graph nodes (see :func:`reach_pairs`).
    """
    group, target, _ = reach_pairs(graph, source_groups, targets, limit)
    out = np.zeros((len(source_groups), len(targets)), dtype=bool)
    out[group, target] = True
    return out


#: Side (metres) of the tiles that group local searches: every search from the groups of one
#: tile runs on the same piece of graph (the tile, widened by the search limit).
TILE_M = 2000.0


def reach_pairs(
    graph: SplitGraph,
    source_groups,
    targets,
    limit: float | np.ndarray,
    progress: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (group, target) pair within ``limit``, with its distance.

    One bounded search per group (a facility's or candidate site's access points). Searches
    run on local pieces of the graph: the groups are gathered in tiles of :data:`TILE_M`
    metres, and each tile's searches use only the nodes within the limit of the tile's groups
    (a path of length ``L`` stays within ``L`` of its start, so the distances are exact), so
    the cost follows the size of each walking area, not of the city. Only the targets on
    street segments next to the nodes a search reaches are measured; memory follows the
    number of pairs.

    Parameters
    ----------
    graph : SplitGraph
    source_groups : sequence of arrays of int
        Graph nodes (leaves) of each group.
    targets : Targets or array of int
        Where to measure (graph nodes stand for targets exactly at a node).
    limit : float or array of float
        Metres; one value for every group, or one per group.
    progress : str, optional
        Show a progress bar over the groups with this label.

    Returns
    -------
    group, target, distance : ndarray
        Pair arrays, ordered by group, then target.
    """
    if not isinstance(targets, Targets):
        nodes = np.asarray(targets, dtype=np.int64)
        targets = Targets(nodes, nodes, np.zeros(len(nodes)), np.zeros(len(nodes)))
    groups = _unique_groups(source_groups)
    for grp in groups:
        if len(grp) and (grp[0] < 0 or grp[-1] >= graph.n_nodes):
            raise ValueError("source node out of range (an unattached point has leaf -1)")
    limits = np.broadcast_to(np.asarray(limit, dtype=float), (len(groups),))
    # the placed targets listed under both end nodes of their segment, grouped by node
    ok = np.flatnonzero(targets.placed)
    by_node = np.r_[targets.a[ok], targets.b[ok]]
    order = np.argsort(by_node, kind="stable")
    target_at = np.r_[ok, ok][order]
    first = np.searchsorted(by_node[order], np.arange(graph.n_nodes + 1))
    bar = tqdm(total=len(groups), desc=progress, unit="search", disable=progress is None, leave=False)

    def search(tiles: list[list[int]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        found_all = []
        for members, sub, to_local, nodes in _local_pieces(graph, groups, limits, tiles):
            found = _tile_pairs(
                sub, to_local, nodes, [groups[i] for i in members], limits[members], targets, first, target_at
            )
            if found is not None:
                gi, who, dist = found
                found_all.append((np.asarray(members, dtype=np.int64)[gi], who, dist))
            bar.update(len(members))
        return found_all

    # the tiles dealt round the threads; every (group, target) pair is found once, so the sort
    # below gives the same arrays whatever the number of threads
    tiles = _tile_members(graph, groups)
    graph.shared_by_threads()
    k = thread_count()
    found = [f for part in map_threads(search, [tiles[i::k] for i in range(k)]) for f in part]
    bar.close()
    g = _concat([f[0] for f in found], np.int64)
    t = _concat([f[1] for f in found], np.int64)
    d = _concat([f[2] for f in found], float)
    order = np.lexsort((t, g))
    return g[order], t[order], d[order]


def _unique_groups(source_groups) -> list[np.ndarray]:
    """Each group's nodes sorted without repeats (as ``np.unique`` per group), in one sort.

    Parameters
    ----------
    source_groups : sequence of arrays of int

    Returns
    -------
    list of ndarray of int64
    """
    arrays = [np.asarray(g, dtype=np.int64).ravel() for g in source_groups]
    if not arrays:
        return []
    sizes = np.array([len(a) for a in arrays])
    label = np.repeat(np.arange(len(arrays)), sizes)
    node = np.concatenate(arrays)
    order = np.lexsort((node, label))
    label, node = label[order], node[order]
    keep = np.r_[True, (node[1:] != node[:-1]) | (label[1:] != label[:-1])] if len(node) else np.zeros(0, dtype=bool)
    label, node = label[keep], node[keep]
    return np.split(node, np.searchsorted(label, np.arange(1, len(arrays))))


def _tile_pairs(
    sub: sparse.csr_matrix,
    to_local: np.ndarray,
    nodes: np.ndarray,
    groups: list[np.ndarray],
    limits: np.ndarray,
    targets: Targets,
    first: np.ndarray,
    target_at: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The (group, target, distance) pairs within the limits of the groups of one tile.

    One SciPy call searches from every source node of the tile (bounded by the largest limit);
    each group keeps the least distance over its nodes.
    """
    src, inv = np.unique(to_local[np.concatenate(groups)], return_inverse=True)
    dist = dijkstra(sub, directed=True, indices=src, limit=float(limits.max()))
    size = np.array([len(g) for g in groups])
    rows = dist[inv]  # one row per (group, source node), grouped by group
    per_group = rows if (size == 1).all() else np.minimum.reduceat(rows, np.r_[0, np.cumsum(size)[:-1]], axis=0)
    gi, loc = np.nonzero(per_group <= limits[:, None])
    if not len(gi):
        return None
    node = nodes[loc]
    lo, n = first[node], first[node + 1] - first[node]
    if not n.sum():
        return None
    pos = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(n.sum())
    pg, pt = np.repeat(gi, n), target_at[pos]
    width = len(targets)
    key = unique_ints(pg * width + pt)
    pg, pt = key // width, key % width
    la, lb = to_local[targets.a[pt]], to_local[targets.b[pt]]
    da = np.where(la >= 0, per_group[pg, np.maximum(la, 0)], np.inf)
    db = np.where(lb >= 0, per_group[pg, np.maximum(lb, 0)], np.inf)
    d = np.minimum(da + targets.wa[pt], db + targets.wb[pt])
    within = d <= limits[pg]
    return pg[within], pt[within], d[within]


def _tile_members(graph: SplitGraph, groups: list[np.ndarray]) -> list[list[int]]:
    """The groups gathered by tile (of :data:`TILE_M`), tile by tile: the tile of a group is that
    of its first node. Graphs without node coordinates are one tile. Empty groups are left out.
    """
    live = [i for i, grp in enumerate(groups) if len(grp)]
    if graph.xy is None or not live:
        return [live] if live else []
    xy = graph.xy
    key = np.array([_tile_key(xy[groups[i][0]]) for i in live], dtype=np.int64)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1], True])
    return [[live[i] for i in order[a:b]] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _local_pieces(graph: SplitGraph, groups: list[np.ndarray], limits: np.ndarray, tiles: list[list[int]]):
    """Yield (group indices, local CSR matrix, global→local node map, local→global nodes) for each
    tile of :func:`_tile_members`.

    A tile's piece holds every node within the largest limit of its groups of the bounding box of
    their nodes. Graphs without node coordinates are searched whole.
    """
    full = graph.both_ways
    n = graph.n_nodes
    if graph.xy is None:
        every = np.arange(n, dtype=np.int64)
        for members in tiles:
            yield members, full, every, every
        return
    xy = graph.xy
    to_local = np.full(n, -1, dtype=np.int64)
    cells = _node_cells(graph)
    for members in tiles:
        pts = xy[np.concatenate([groups[i] for i in members])]
        pad = float(limits[members].max())
        lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
        nodes = cells.nodes_in(lo, hi)
        to_local[nodes] = np.arange(len(nodes))
        rows = full[nodes]
        col = to_local[rows.indices]
        keep = col >= 0
        indptr = _row_counts(rows.indptr, keep)
        sub = sparse.csr_matrix((rows.data[keep], col[keep], indptr), shape=(len(nodes), len(nodes)))
        yield members, sub, to_local, nodes
        to_local[nodes] = -1


def _row_counts(indptr: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """CSR row pointer after dropping the entries where ``keep`` is False."""
    csum = np.r_[0, np.cumsum(keep, dtype=np.int64)]
    return csum[indptr]


def _tile_key(p: np.ndarray) -> int:
    ix, iy = int(np.floor(p[0] / TILE_M)), int(np.floor(p[1] / TILE_M))
    return (ix + (1 << 20)) * (1 << 21) + (iy + (1 << 20))


@dataclass
class _NodeCells:
    """Graph nodes bucketed on a square grid, to list the nodes inside a box quickly."""

    cell: float
    x0: float
    y0: float
    ncx: int
    key: np.ndarray  # sorted cell key of each node in ``order``
    order: np.ndarray
    xy: np.ndarray

    def nodes_in(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        cx0 = max(int((lo[0] - self.x0) // self.cell), 0)
        cx1 = min(int((hi[0] - self.x0) // self.cell), self.ncx - 1)
        cy0 = max(int((lo[1] - self.y0) // self.cell), 0)
        cy1 = int((hi[1] - self.y0) // self.cell)
        if cx1 < cx0 or cy1 < cy0:
            return np.zeros(0, dtype=np.int64)
        parts = []
        for cy in range(cy0, cy1 + 1):
            a = np.searchsorted(self.key, cy * self.ncx + cx0, side="left")
            b = np.searchsorted(self.key, cy * self.ncx + cx1, side="right")
            parts.append(self.order[a:b])
        cand = np.concatenate(parts)
        p = self.xy[cand]
        inside = (p[:, 0] >= lo[0]) & (p[:, 0] <= hi[0]) & (p[:, 1] >= lo[1]) & (p[:, 1] <= hi[1])
        return np.sort(cand[inside])


def _node_cells(graph: SplitGraph) -> _NodeCells:
    cached = graph.cache.get("cells")
    if cached is not None:
        return cached
    xy = graph.xy
    assert xy is not None
    cell = TILE_M / 4
    x0, y0 = float(xy[:, 0].min()), float(xy[:, 1].min())
    cx = ((xy[:, 0] - x0) // cell).astype(np.int64)
    cy = ((xy[:, 1] - y0) // cell).astype(np.int64)
    ncx = int(cx.max()) + 1
    key = cy * ncx + cx
    order = np.argsort(key, kind="stable")
    cells = _NodeCells(cell=cell, x0=x0, y0=y0, ncx=ncx, key=key[order], order=order, xy=xy)
    graph.cache["cells"] = cells
    return cells


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
