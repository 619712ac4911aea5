"""Walled compounds (封闭小区) and their gates: residents leave a closed compound through a gate.

A compound (a community polygon) is **closed** when

- walls or fences (OSM ``barrier=wall|fence`` ways) run along at least
  :data:`WALL_SHARE` of its outline (within :data:`NEAR_M` metres), or
- the boundaries say so (a ``closed`` field that is true), or
- a gates file is given (``--gates FILE``, points) and some of its gates lie on the outline.

Its gates are the gate points (OSM ``barrier=gate|lift_gate`` nodes and ``entrance=*`` nodes
of the network file, or the gates file) within :data:`NEAR_M` metres of its outline, moved onto
the outline (the opening is there). A gate
whose ``access`` is ``private`` or ``no`` serves the compound's own residents only. A closed
compound without any gate is left open (a warning says so: nobody would get out).

Attachment: every point (resident, facility access point) meets the street network by a
straight leg. With closed compounds, a leg never crosses a compound's outline other than at a
gate (a gap of :data:`GATE_GAP_M` metres around it): a point inside a closed compound attaches
to a street inside it, or walks straight to one of its gates and on from the gate's place on
the street (leg = point→gate + gate→street); a point outside never attaches through a wall.
The network itself is not changed (a street through a gate stays open to all).

Limits (said in the README): the walk from a point to a gate is a straight line inside the
compound (no internal paths are modelled; in a concave compound a gate whose straight line
would cross the outline is not used); each point keeps one attachment, the gate or inside
street nearest to it, so a resident whose best route leaves by a farther gate is counted
through the nearest one (an overestimate, never an underestimate, of the time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError

log = logging.getLogger(__name__)

#: Share of the outline that walls must follow for the compound to count as closed
#: (circles assumption, no source found: OSM walls are often mapped on some sides only).
WALL_SHARE = 0.25
#: Walls and gates this close to the outline (metres) belong to it (circles assumption).
NEAR_M = 15.0
#: The opening a gate leaves in the outline (metres either side; circles assumption).
GATE_GAP_M = 3.0
PRIVATE = ("private", "no")
GATE_TAGS = ("gate", "lift_gate")


@dataclass
class Compounds:
    """The closed compounds of a run and their gates (network CRS).

    Attributes
    ----------
    table : GeoDataFrame
        ``compound_id`` (the community id), ``name``, ``closed_by`` (``walls``, ``boundaries``
        or ``gates file``), polygon geometry.
    gates : GeoDataFrame
        ``gate_id``, ``compound_id``, ``private`` (bool), ``source``, point geometry.
    walls : shapely geometry
        The outlines of the closed compounds with the public gates' gaps cut out (a private
        gate is no gap for a street leg: the compound's residents use it as a gate).
    """

    table: gpd.GeoDataFrame
    gates: gpd.GeoDataFrame
    walls: object
    #: The outlines with every gate's gap cut out (for the walk from a point to a gate).
    walls_to_gates: object = None

    def __len__(self) -> int:
        return len(self.table)


def osm_walls_and_gates(path: str | Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Wall/fence lines and gate points of an OSM file (EPSG:4326)."""
    from ._osmium import read_features  # noqa: PLC0415

    walls = read_features(path, lambda t: t.get("barrier") in ("wall", "fence"), keys=["barrier"])
    gates = read_features(
        path, lambda t: t.get("barrier") in GATE_TAGS or "entrance" in t, keys=["barrier", "entrance"]
    )
    w = gpd.GeoDataFrame(
        {"osm_id": [f"{f.element}/{f.osm_id}" for f in walls]},
        geometry=[f.geometry.boundary if f.geometry.geom_type == "Polygon" else f.geometry for f in walls],
        crs="EPSG:4326",
    )
    g = gpd.GeoDataFrame(
        {
            "gate_id": [f"{f.element}/{f.osm_id}" for f in gates if f.element == "node"],
            "access": [f.tags.get("access", "") for f in gates if f.element == "node"],
            "source": "OSM",
        },
        geometry=[f.geometry for f in gates if f.element == "node"],
        crs="EPSG:4326",
    )
    return w, g


def read_gates(path: str | Path) -> gpd.GeoDataFrame:
    """A gates file: points with optional ``id`` and ``access`` (EPSG:4326 out)."""
    from .load import read_vector, to_wgs84  # noqa: PLC0415

    gdf = read_vector(path)
    bad = [i for i, g in enumerate(gdf.geometry) if g is None or g.geom_type != "Point"]
    if bad:
        raise InputError("expected a Point (a gate)", path=str(path), feature=str(bad[0] + 1), field="geometry")
    gdf = to_wgs84(gdf, str(path))
    ids = gdf["id"].astype(str) if "id" in gdf else pd.Series([f"gate-{i + 1}" for i in range(len(gdf))])
    access = gdf["access"].fillna("").astype(str) if "access" in gdf else ""
    return gpd.GeoDataFrame(
        {"gate_id": ids.to_numpy(), "access": access, "source": Path(path).name},
        geometry=gdf.geometry.values,
        crs="EPSG:4326",
    )


def find_compounds(
    communities: gpd.GeoDataFrame,
    walls: gpd.GeoDataFrame | None,
    gates: gpd.GeoDataFrame | None,
    *,
    gates_file: bool = False,
) -> Compounds:
    """The closed compounds among ``communities`` (all in one projected CRS) and their gates.

    Parameters
    ----------
    communities : GeoDataFrame
        ``id``, ``name``, optional ``closed``, polygons.
    walls : GeoDataFrame, optional
        Wall/fence lines.
    gates : GeoDataFrame, optional
        Gate points (``gate_id``, ``access``, ``source``).
    gates_file : bool
        The gates come from a gates file: a compound with one of them on its outline is closed.
    """
    wall_geom = shapely.union_all(walls.geometry.values) if walls is not None and len(walls) else None
    closed_field = (
        communities["closed"].map(lambda v: str(v).strip().lower() in ("true", "1", "yes", "是"))
        if "closed" in communities
        else pd.Series(False, index=communities.index)
    )
    rows, gate_rows = [], []
    for i, (cid, name, poly) in enumerate(
        zip(communities["id"], communities["name"], communities.geometry, strict=True)
    ):
        outline = poly.boundary
        mine = gates[gates.geometry.distance(outline) <= NEAR_M] if gates is not None and len(gates) else gates
        by = ""
        if bool(closed_field.iloc[i]):
            by = "boundaries"
        elif wall_geom is not None and outline.length > 0:
            share = outline.intersection(wall_geom.buffer(NEAR_M)).length / outline.length
            by = "walls" if share >= WALL_SHARE else ""
        if not by and gates_file and mine is not None and len(mine):
            by = "gates file"
        if not by:
            continue
        if mine is None or not len(mine):
            log.warning("compound %s (%s) is closed (%s) but has no gate: it is left open", cid, name, by)
            continue
        rows.append({"compound_id": str(cid), "name": str(name), "closed_by": by, "geometry": poly})
        for gid, acc, src, pt in zip(mine["gate_id"], mine["access"], mine["source"], mine.geometry, strict=True):
            gate_rows.append(
                {
                    "gate_id": str(gid),
                    "compound_id": str(cid),
                    "private": str(acc).strip().lower() in PRIVATE,
                    "source": src,
                    # the opening is where the gate meets the outline (OSM gates sit on the street a
                    # few metres off the mapped outline)
                    "geometry": outline.interpolate(outline.project(pt)),
                }
            )
    crs = communities.crs
    table = gpd.GeoDataFrame(
        rows, columns=["compound_id", "name", "closed_by", "geometry"], geometry="geometry", crs=crs
    )
    gts = gpd.GeoDataFrame(
        gate_rows, columns=["gate_id", "compound_id", "private", "source", "geometry"], geometry="geometry", crs=crs
    )
    walls_cut = shapely.union_all(table.geometry.boundary.values) if len(table) else shapely.GeometryCollection()
    to_gates = walls_cut
    if len(gts):
        to_gates = walls_cut.difference(shapely.union_all(gts.geometry.buffer(GATE_GAP_M).values))
    public = gts[~gts["private"].astype(bool)] if len(gts) else gts
    if len(public):
        walls_cut = walls_cut.difference(shapely.union_all(public.geometry.buffer(GATE_GAP_M).values))
    log.info("%d closed compounds, %d gates", len(table), len(gts))
    return Compounds(table=table, gates=gts, walls=walls_cut, walls_to_gates=to_gates)


def _edge_candidates(net, x: np.ndarray, y: np.ndarray, pts: np.ndarray, max_m: float):
    """(point, edge, offset, distance, foot x, foot y) for every edge within ``max_m`` of each point."""
    tree = net.edge_tree()
    qi, qe = tree.query(shapely.buffer(shapely.points(x[pts], y[pts]), max_m))
    p = shapely.points(x[pts][qi], y[pts][qi])
    geom = net.geometry[qe]
    off = shapely.line_locate_point(geom, p)
    foot = shapely.line_interpolate_point(geom, off)
    d = shapely.distance(p, foot)
    fxy = shapely.get_coordinates(foot)
    ok = d <= max_m
    return pts[qi][ok], qe[ok], off[ok], d[ok], fxy[ok, 0], fxy[ok, 1]


def constrain(
    net, att, x: np.ndarray, y: np.ndarray, n_res: int, comp: Compounds, resident_of: np.ndarray, max_m: float
):
    """The attachment ``att`` of points ``(x, y)`` with no leg crossing a closed compound's
    outline except at a gate (see the module docstring).

    Parameters
    ----------
    net : WalkNetwork
    att : circles.reach.Attachment
        The plain attachment (nearest street).
    x, y : ndarray
        All points: the ``n_res`` resident points first, then facility access points.
    comp : Compounds
    resident_of : ndarray of str
        The community of each resident point (private gates serve a compound's own residents).
    max_m : float
        The attachment cap for street legs.
    """
    from .reach import Attachment, attach_points  # noqa: PLC0415

    if not len(comp):
        return att
    walls, to_gates = comp.walls, comp.walls_to_gates
    shapely.prepare(walls)
    shapely.prepare(to_gates)
    n = len(x)
    inside = np.full(n, -1)
    ci, pi = comp.table.geometry.sindex.query(shapely.points(x, y), predicate="within")
    inside[ci] = pi  # the compound a point is in (one of them where compounds overlap)
    # legs as they are: do they cross a wall?
    foot = shapely.line_interpolate_point(net.geometry[np.maximum(att.edge, 0)], att.offset)
    legs = shapely.linestrings(np.stack([np.c_[x, y], shapely.get_coordinates(foot)], axis=1))
    redo = np.flatnonzero((inside >= 0) | (att.attached & shapely.intersects(legs, walls)))
    if not len(redo):
        return att
    edge, offset, leg = att.edge.copy(), att.offset.copy(), att.leg.copy()
    best = np.full(n, np.inf)
    edge[redo], offset[redo] = -1, 0.0
    # streets: the nearest leg that crosses no wall
    p_, e_, o_, d_, fx, fy = _edge_candidates(net, x, y, redo, max_m)
    seg = shapely.linestrings(np.stack([np.c_[x[p_], y[p_]], np.c_[fx, fy]], axis=1))
    ok = ~shapely.intersects(seg, walls)
    _take(best, edge, offset, leg, p_[ok], e_[ok], o_[ok], d_[ok])
    # gates of the compound the point is in
    gates = comp.gates
    if len(gates):
        gx, gy = gates.geometry.x.to_numpy(), gates.geometry.y.to_numpy()
        gatt = attach_points(net, gx, gy, max_m)
        comp_pos = pd.Index(comp.table["compound_id"]).get_indexer(gates["compound_id"])
        private = gates["private"].to_numpy(dtype=bool)
        own_compound = comp.table["compound_id"].to_numpy()
        for k in np.flatnonzero(gatt.attached):
            pts = redo[inside[redo] == comp_pos[k]]
            if private[k]:  # the compound's own residents only
                is_res = pts < n_res
                own = np.zeros(len(pts), dtype=bool)
                own[is_res] = resident_of[pts[is_res]] == own_compound[comp_pos[k]]
                pts = pts[own]
            if not len(pts):
                continue
            seg = shapely.linestrings(np.stack([np.c_[x[pts], y[pts]], np.tile([gx[k], gy[k]], (len(pts), 1))], axis=1))
            fine = ~shapely.intersects(seg, to_gates)
            d = np.hypot(x[pts] - gx[k], y[pts] - gy[k]) + gatt.leg[k]
            m = len(pts[fine])
            _take(best, edge, offset, leg, pts[fine], np.full(m, gatt.edge[k]), np.full(m, gatt.offset[k]), d[fine])
    lost = redo[edge[redo] < 0]
    if len(lost):
        log.warning("%d points could not reach a street without crossing a compound wall", len(lost))
    return Attachment(edge, offset, leg, edge >= 0)


def _take(best, edge, offset, leg, pts, e, o, d) -> None:
    """Keep, per point, the candidate of least leg (ties: the first given)."""
    if not len(pts):
        return
    order = np.lexsort((np.arange(len(pts)), d, pts))
    pts, e, o, d = pts[order], e[order], o[order], d[order]
    first = np.r_[True, pts[1:] != pts[:-1]]
    pts, e, o, d = pts[first], e[first], o[first], d[first]
    better = d < best[pts]
    pts, e, o, d = pts[better], e[better], o[better], d[better]
    best[pts], edge[pts], offset[pts], leg[pts] = d, e, o, d


def detour_table(
    comp: Compounds, gated: pd.DataFrame, free: pd.DataFrame, types: list[str], speeds: dict
) -> pd.DataFrame:
    """Per compound: its gates and the detour they cause — per resident point and facility
    type, walking minutes to the nearest facility through the gates minus ignoring the walls
    (median and max over the compound's points and types, both reachable).
    """
    rows = []
    for c in comp.table.itertuples(index=False):
        mine = (gated["community_id"].astype(str) == c.compound_id).to_numpy()
        g = comp.gates[comp.gates["compound_id"] == c.compound_id]
        diffs = []
        for t in types:
            a = gated.loc[mine, f"dist_{t}"].to_numpy(dtype=float)
            b = free.loc[mine, f"dist_{t}"].to_numpy(dtype=float)
            both = np.isfinite(a) & np.isfinite(b)
            diffs.append((a[both] - b[both]) / speeds[t])
        d = np.concatenate(diffs) if diffs else np.zeros(0)
        rows.append(
            {
                "compound_id": c.compound_id,
                "name": c.name,
                "closed_by": c.closed_by,
                "gates": "; ".join(g["gate_id"].astype(str)),
                "gates_public": int((~g["private"]).sum()),
                "gates_private": int(g["private"].sum()),
                "resident_points": int(mine.sum()),
                "residents": round(float(gated.loc[mine, "population"].sum())),
                "detour_min_median": round(float(np.median(d)), 2) if len(d) else np.nan,
                "detour_min_max": round(float(d.max()), 2) if len(d) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def load_compounds(option: str | Path, network_source: object, communities: gpd.GeoDataFrame) -> Compounds:
    """The closed compounds of a run: ``option`` is a gates file, or ``osm`` for the walls and
    gates of the OSM network file (``network_source``); ``communities`` in the network CRS.
    """
    walls = None
    if str(option) == "osm":
        from ._osmium import osm_format  # noqa: PLC0415

        if not isinstance(network_source, (str, Path)) or osm_format(network_source) is None:
            raise InputError("--gates osm needs an OSM network file (.osm, .osm.bz2, .pbf)", field="gates")
        walls, gates = osm_walls_and_gates(network_source)
        walls = walls.to_crs(communities.crs)
        from_file = False
    else:
        gates = read_gates(option)
        from_file = True
    return find_compounds(communities, walls, gates.to_crs(communities.crs), gates_file=from_file)


def constrainer(net, comp: Compounds, residents: pd.DataFrame, max_m: float):
    """The ``constrain`` hook of :func:`circles.access.compute_access` for ``comp``."""
    resident_of = residents["community_id"].astype(str).to_numpy()

    def hook(att, x, y, n_res):
        return constrain(net, att, x, y, n_res, comp, resident_of, max_m)

    return hook
