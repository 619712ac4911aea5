"""From GeoDataFrames to walking distances.

Attach residents and facilities to the network and run one multi-source search per facility
type (the core lives in :mod:`circles.reach`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from tqdm.auto import tqdm

from . import reach
from ._safety import map_threads
from .network import WalkNetwork

log = logging.getLogger(__name__)

#: Spacing (metres) of access points along the outline of an area or line facility (a park
#: is reached at its edge, not at its centre).
ACCESS_POINT_SPACING_M = 50.0
MAX_ACCESS_POINTS = 400


def _outline_points(g, spacing: float) -> np.ndarray:
    """Access points of an area or line facility: its outline every ``spacing`` metres (at most
    :data:`MAX_ACCESS_POINTS`), then its representative point; of a MultiPoint, its points.
    """
    if g.geom_type == "MultiPoint":
        return np.array([(p.x, p.y) for p in g.geoms], dtype=np.float64).reshape(-1, 2)
    line = g.boundary if g.geom_type in ("Polygon", "MultiPolygon") else g
    n = int(min(MAX_ACCESS_POINTS, max(4, np.ceil(line.length / spacing))))
    dists = np.linspace(0, line.length, n, endpoint=False) if line.length > 0 else np.zeros(1)
    sample = (
        shapely.line_interpolate_point(line, dists)
        if line.geom_type != "MultiLineString"
        else [line.interpolate(d) for d in dists]
    )
    rp = g.representative_point()
    return np.array([(p.x, p.y) for p in sample] + [(rp.x, rp.y)], dtype=np.float64)


def facility_access_points(facilities: gpd.GeoDataFrame, spacing: float = ACCESS_POINT_SPACING_M) -> pd.DataFrame:
    """Points where each facility can be reached (projected CRS).

    A point facility is its own access point; an area or a line is reached anywhere on its
    outline, sampled every ``spacing`` metres (plus its representative point).

    Returns
    -------
    DataFrame
        ``facility`` (row position in ``facilities``), ``x``, ``y``: each facility's points
        together, facilities in order.
    """
    geoms = np.asarray(facilities.geometry.values, dtype=object)
    point = shapely.get_type_id(geoms) == 0  # most facilities: one access point, read at once
    other = {int(i): _outline_points(geoms[i], spacing) for i in np.flatnonzero(~point)}
    counts = np.ones(len(geoms), dtype=np.int64)
    counts[np.fromiter(other, dtype=np.int64, count=len(other))] = [len(pts) for pts in other.values()]
    start = np.cumsum(counts) - counts
    x, y = np.empty(int(counts.sum())), np.empty(int(counts.sum()))
    x[start[point]], y[start[point]] = shapely.get_x(geoms[point]), shapely.get_y(geoms[point])
    for i, pts in other.items():
        x[start[i] : start[i] + counts[i]], y[start[i] : start[i] + counts[i]] = pts[:, 0], pts[:, 1]
    return pd.DataFrame({"facility": np.repeat(np.arange(len(geoms), dtype=np.int64), counts), "x": x, "y": y})


@dataclass
class _OnStreets:
    """The facilities on the streets and each type's walking distances: what
    :class:`FacilityReach` and :class:`Access` both carry.

    Attributes
    ----------
    facilities : GeoDataFrame
        Input facilities plus ``placed``, ``snap_m`` (nearest-street distance of the closest
        access point) and ``set_aside_reason`` (empty when placed).
    types : list of str
        The facility types searched.
    limit_m : float
        The search limit (metres): distances beyond it are unknown, reported as unreachable.
    max_attach_m : float
        The attachment cap (metres).
    graph : SplitGraph
        The network split at the facility access points only (searches stay small).
    attachment : Attachment
        Where the points meet the network.
    access_points : DataFrame
        Facility access points (``facility`` row position, ``x``, ``y``), in attachment order.
    facility_leaves : dict
        Facility row position -> its leaf nodes on ``graph``.
    node_dist : dict
        Type -> distance (metres) of every split-graph node (``inf`` beyond ``limit_m``).
    """

    facilities: gpd.GeoDataFrame
    types: list[str]
    limit_m: float
    max_attach_m: float
    graph: reach.SplitGraph
    attachment: reach.Attachment
    access_points: pd.DataFrame
    facility_leaves: dict[int, np.ndarray]
    node_dist: dict[str, np.ndarray]


@dataclass
class Access(_OnStreets):
    """Walking distances from every resident point to each facility type (and what
    :class:`_OnStreets` carries).

    Attributes
    ----------
    residents : GeoDataFrame
        Input resident points plus ``placed``, ``snap_m`` and, per type ``t``, ``dist_<t>``
        (metres, NaN beyond the search limit or unreachable) and ``nearest_<t>`` (facility id).
    attachment : Attachment
        Where the resident points (first) and then the facility access points meet the network
        (``graph.leaf`` and ``graph.position`` list the residents first too, never attached).
    targets : Targets
        Where each resident point lies on the split graph (residents are not graph nodes:
        the graph is split only at facility access points, so searches stay small).
    """

    residents: gpd.GeoDataFrame
    targets: reach.Targets
    _pairs: dict[str, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def type_positions(self, ftype: str) -> np.ndarray:
        """Row positions (in ``facilities``) of the placed facilities of ``ftype``."""
        fac = self.facilities
        return np.flatnonzero((fac["facility_type"] == ftype).to_numpy() & fac["placed"].to_numpy())

    def prepare_within(self, limits: dict[str, float], progress: bool = False) -> None:
        """Measure every (facility, resident) pair within the given limit of each type (metres).

        One sweep over the city; :meth:`facilities_within` then answers any limit up to it from
        these pairs. Cost and memory follow the number of pairs.
        """
        todo = {t: float(lim) for t, lim in limits.items() if t not in self._pairs or self._pairs[t][0] < lim}
        if not todo:
            return
        positions = {t: self.type_positions(t) for t in todo}
        rows = np.concatenate([np.zeros(0, dtype=np.int64), *positions.values()]).astype(np.int64)
        groups = [self.facility_leaves[int(p)] for p in rows]
        lims = np.repeat([todo[t] for t in todo], [len(positions[t]) for t in todo]).astype(float)
        g, r, d = reach.reach_pairs(
            self.graph, groups, self.targets, lims, progress="facilities within reach" if progress else None
        )
        # the groups are listed type by type and the pairs come ordered by group: each type's
        # pairs are one run (found by bisection, not by comparing every pair with every type)
        ends = np.cumsum([len(positions[t]) for t in todo])
        bounds = [int(b) for b in np.searchsorted(g, np.concatenate([[0], ends]))]
        for i, (t, lim) in enumerate(todo.items()):
            sel = slice(bounds[i], bounds[i + 1])
            self._pairs[t] = (lim, rows[g[sel]], r[sel], d[sel])

    def facilities_within(self, ftype: str, limit_m: float) -> tuple[np.ndarray, sparse.csr_matrix]:
        """Which placed facilities of ``ftype`` each resident reaches within ``limit_m``.

        Returns
        -------
        positions : ndarray
            Row positions (in ``facilities``) of the placed facilities of the type.
        matrix : scipy.sparse.csr_matrix of bool
            facilities (in ``positions`` order) × residents; unplaced residents reach none.
        """
        limit_m = float(limit_m)
        if ftype not in self._pairs or self._pairs[ftype][0] < limit_m - 1e-9:
            self.prepare_within({ftype: limit_m})
        _, rows, res, dist = self._pairs[ftype]
        pos = self.type_positions(ftype)
        keep = dist <= limit_m
        row_of = np.full(len(self.facilities), -1, dtype=np.int64)
        row_of[pos] = np.arange(len(pos))
        mat = sparse.csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (row_of[rows[keep]], res[keep])), shape=(len(pos), len(self.targets))
        )
        return pos, mat

    def counts_within(self, ftype: str, limit_m: float) -> np.ndarray:
        """Number of facilities of ``ftype`` each resident reaches within ``limit_m`` metres."""
        return np.asarray(self.facilities_within(ftype, limit_m)[1].sum(axis=0)).ravel().astype(np.int64)

    def facility_distances(self, row: int) -> np.ndarray:
        """Distance (m) of every split-graph node from one facility (row position).

        Bounded by the search limit; all ``inf`` if the facility was not placed.
        """
        leaves = self.facility_leaves.get(int(row))
        if leaves is None:
            return np.full(self.graph.n_nodes, np.inf)
        return reach.nearest(self.graph, leaves, limit=self.limit_m)[0]


def _place_facilities(
    facilities: gpd.GeoDataFrame, ap: pd.DataFrame, ap_leaf: np.ndarray, ap_leg: np.ndarray, max_attach_m: float
) -> tuple[gpd.GeoDataFrame, dict[int, np.ndarray]]:
    """The facilities with ``placed``, ``snap_m`` and ``set_aside_reason``, and each placed one's leaves.

    Parameters
    ----------
    facilities : GeoDataFrame
        The facilities.
    ap : DataFrame
        Their access points (:func:`facility_access_points`).
    ap_leaf, ap_leg : ndarray
        Each access point's leaf node on the split graph (-1: not attached) and its distance
        to the street.
    max_attach_m : float
        The attachment cap, for the reason a facility is set aside.

    Returns
    -------
    facilities : GeoDataFrame
        A copy with the three columns added.
    leaves : dict
        Facility row position -> its leaf nodes.
    """
    fac = facilities.copy()
    leaves: dict[int, np.ndarray] = {}
    snap = np.full(len(fac), np.nan)
    if len(ap):
        grp = pd.DataFrame({"f": ap["facility"], "leaf": ap_leaf, "leg": ap_leg})
        snap_s = grp.groupby("f")["leg"].min()
        snap[snap_s.index.to_numpy()] = snap_s.to_numpy()
        ok = ap_leaf >= 0  # each facility's leaves in access-point order, facilities ascending
        f, lv = ap["facility"].to_numpy()[ok], np.asarray(ap_leaf)[ok]
        order = np.argsort(f, kind="stable")
        f, lv = f[order], lv[order]
        if len(f):
            starts = np.flatnonzero(np.r_[True, f[1:] != f[:-1]])
            leaves = {int(k): part for k, part in zip(f[starts], np.split(lv, starts[1:]), strict=True)}
    fac["placed"] = [i in leaves for i in range(len(fac))]
    fac["snap_m"] = np.round(snap, 1)
    fac["set_aside_reason"] = [
        "" if ok else f"nearest street is {s:.0f} m away, beyond the {max_attach_m:g} m attachment cap"
        for ok, s in zip(fac["placed"], snap, strict=True)
    ]
    return fac, leaves


def _searches(
    graph: reach.SplitGraph,
    fac: gpd.GeoDataFrame,
    leaves: dict[int, np.ndarray],
    types: list[str],
    limit_m: float,
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One bounded multi-source search per facility type: each type's distance of every
    split-graph node and the facility row nearest to it (-1 where none within ``limit_m``).
    """
    leaf_owner = np.full(graph.n_nodes, -1, dtype=np.int32)  # leaf node -> facility row
    for f, lv in leaves.items():
        leaf_owner[lv] = f
    ftype = fac["facility_type"].to_numpy()
    bar = tqdm(total=len(types), desc="walking times", unit="type", disable=not progress, leave=False)

    def search(t: str) -> tuple[np.ndarray, np.ndarray]:
        rows = np.flatnonzero(ftype == t)
        src = (
            np.concatenate([leaves[int(r)] for r in rows if int(r) in leaves])
            if any(r in leaves for r in rows)
            else np.zeros(0, dtype=np.int64)
        )
        dist, origin = reach.nearest(graph, src, limit=limit_m)
        bar.update(1)
        return dist, np.where(origin >= 0, leaf_owner[np.maximum(origin, 0)], -1).astype(np.int32)

    graph.shared_by_threads()
    found = map_threads(search, list(types))  # the types side by side, one per core
    bar.close()
    node_dist = {t: f[0] for t, f in zip(types, found, strict=True)}
    nearest_row = {t: f[1] for t, f in zip(types, found, strict=True)}
    return node_dist, nearest_row


def _resident_columns(res: gpd.GeoDataFrame, targets: reach.Targets, fr: FacilityReach) -> None:
    """Add ``dist_<type>`` and ``nearest_<type>`` to ``res`` (NaN and "" beyond the search limit)."""
    fac_ids = fr.facilities["id"].astype(str).to_numpy()
    for t in fr.types:
        dist = fr.node_dist[t]
        d = targets.distance(dist)
        row = targets.origin(dist, fr.nearest_row[t])
        finite = np.isfinite(d) & (d <= fr.limit_m)
        res[f"dist_{t}"] = np.where(finite, d, np.nan)
        res[f"nearest_{t}"] = np.where(finite & (row >= 0), fac_ids[np.maximum(row, 0)], "").astype(object)


def _log_not_attached(res: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, max_attach_m: float) -> None:
    """Warn of the residents not attached and the facilities set aside (beyond the cap)."""
    n_unplaced = int((~res["placed"]).sum())
    if n_unplaced:
        log.warning(
            "%d of %d resident points are further than %g m from any street and were not attached",
            n_unplaced,
            len(res),
            max_attach_m,
        )
    n_fac_out = int((~fac["placed"]).sum())
    if n_fac_out:
        log.warning(
            "%d facilities are further than %g m from any street and were set aside (listed in the output)",
            n_fac_out,
            max_attach_m,
        )


@dataclass
class FacilityReach(_OnStreets):
    """The facilities on the streets and each type's walking distances, before any resident is
    attached (:func:`facility_reach`): what the walking areas are drawn from, while the
    residents are still being placed. ``attachment`` and ``graph.leaf``: the access points only.

    Attributes
    ----------
    nearest_row : dict
        Type -> the facility row nearest to every node (-1 where none).
    """

    nearest_row: dict[str, np.ndarray]


def _on_streets(
    net: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    ap: pd.DataFrame,
    att: reach.Attachment,
    types: list[str],
    limits: tuple[float, float],
    progress: bool,
) -> FacilityReach:
    """The facilities whose access points meet the network at ``att``, and the searches from them."""
    limit_m, max_attach_m = limits
    graph = reach.split_graph(net, att)
    fac, leaves = _place_facilities(facilities, ap, graph.leaf, att.leg, max_attach_m)
    node_dist, nearest_row = _searches(graph, fac, leaves, types, limit_m, progress)
    return FacilityReach(fac, list(types), limit_m, max_attach_m, graph, att, ap, leaves, node_dist, nearest_row)


def facility_reach(
    net: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    types: list[str],
    *,
    limit_m: float,
    max_attach_m: float = reach.DEFAULT_MAX_ATTACH_M,
    progress: bool = False,
) -> FacilityReach:
    """Attach the facilities and run one bounded multi-source Dijkstra per type (no residents).

    :func:`compute_access` then places the residents on the result; the distances are the same
    as when everything is attached at once (each point meets its own nearest street).
    """
    ap = facility_access_points(facilities)
    att = reach.attach_points(net, ap["x"].to_numpy(), ap["y"].to_numpy(), max_attach_m)
    return _on_streets(net, facilities, ap, att, types, (limit_m, max_attach_m), progress)


def compute_access(  # noqa: PLR0913 — the public entry point; `measured` (issue 25) and `constrain` are alternatives
    net: WalkNetwork,
    residents: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    types: list[str],
    *,
    limit_m: float,
    max_attach_m: float = reach.DEFAULT_MAX_ATTACH_M,
    progress: bool = True,
    constrain: Callable[[reach.Attachment, np.ndarray, np.ndarray, int], reach.Attachment] | None = None,
    measured: FacilityReach | None = None,
) -> Access:
    """Attach points and search, one bounded multi-source Dijkstra per facility type.

    The streets are split at the facility access points only; residents are located on the
    segments.

    Parameters
    ----------
    net : WalkNetwork
    residents, facilities : GeoDataFrame
        In the network CRS. Facilities need ``id`` and ``facility_type``.
    types : list of str
        Facility types to compute.
    limit_m : float
        Search limit in metres.
    max_attach_m : float
        Maximum distance from a point to the street it attaches to.
    constrain : callable, optional
        ``constrain(attachment, x, y, n_residents)`` returns the attachment changed (walled
        compounds: :func:`circles.gates.constrain`); points are the residents, then the
        facility access points.
    measured : FacilityReach, optional
        :func:`facility_reach` of the same facilities, types and limits, already run (not with
        ``constrain``, which moves facilities and residents together).
    """
    _check_measured(measured, types, (limit_m, max_attach_m), constrain is not None)
    n_res = len(residents)
    res_x, res_y = residents.geometry.x.to_numpy(), residents.geometry.y.to_numpy()
    if constrain is None:
        fr = measured or facility_reach(
            net, facilities, types, limit_m=limit_m, max_attach_m=max_attach_m, progress=progress
        )
        res_att = reach.attach_points(net, res_x, res_y, max_attach_m)
    else:
        ap = facility_access_points(facilities)
        x, y = np.r_[res_x, ap["x"].to_numpy()], np.r_[res_y, ap["y"].to_numpy()]
        both = constrain(reach.attach_points(net, x, y, max_attach_m), x, y, n_res)
        res_att, fac_att = both.split(n_res)
        fr = _on_streets(net, facilities, ap, fac_att, types, (limit_m, max_attach_m), progress)
    graph = fr.graph.with_points_before(n_res)
    targets = reach.locate(net, graph, res_att)
    res = residents.copy()
    res["placed"] = targets.placed
    res["snap_m"] = np.round(res_att.leg, 1)
    _resident_columns(res, targets, fr)
    _log_not_attached(res, fr.facilities, max_attach_m)
    on_streets: dict[str, Any] = {f.name: getattr(fr, f.name) for f in fields(_OnStreets)}
    on_streets.update(graph=graph, attachment=reach.Attachment.joined(res_att, fr.attachment))
    return Access(residents=res, targets=targets, **on_streets)


def _check_measured(
    measured: FacilityReach | None, types: list[str], limits: tuple[float, float], constrained: bool
) -> None:
    """Refuse a :class:`FacilityReach` that :func:`compute_access` cannot use as it is."""
    if measured is None:
        return
    if constrained:
        raise ValueError("facility distances measured without the walls cannot be used with constrain")
    if measured.types != list(types) or (measured.limit_m, measured.max_attach_m) != tuple(limits):
        raise ValueError("facility distances measured for other types or limits than asked for")
