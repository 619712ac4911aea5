"""Walking-area polygons for display, cut exactly from the network times.

Each street segment is kept up to the point where the walking distance reaches the limit
(an exact cut, also inside edges), buffered by a few metres with flat ends, and the city
blocks enclosed by reachable streets are filled unless an unreachable street runs inside
them (so areas behind a river or a rail line stay open), and a narrow cut is made along
unreachable streets nearby. Coverage decisions never use
these polygons: they use the network times.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.ops import substring

from .network import WalkNetwork
from .reach import SplitGraph

log = logging.getLogger(__name__)

#: Half-width (metres) of the band drawn along reachable streets.
DEFAULT_BUFFER_M = 20.0
#: Half-width (metres) of the cut along unreachable streets near the area.
DEFAULT_GAP_M = 2.0
#: Half-width (metres) of the band kept along reachable streets inside a cut.
KEEP_M = 0.05


def _cut(net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float):
    """Reachable and unreachable pieces of every segment, as (edge, start, end) arrays."""
    s0, s1 = graph.seg_s0, graph.seg_s1
    length = s1 - s0
    da, db = dist[graph.seg_a], dist[graph.seg_b]
    a = np.clip(limit - da, 0, None)  # reach into the segment from its start
    b = np.clip(limit - db, 0, None)  # from its end
    whole = a + b >= length
    a = np.minimum(a, length)
    b = np.minimum(b, length)
    e = graph.seg_edge
    reach_parts = [
        (e[whole], s0[whole], s1[whole]),
        (e[~whole & (a > 0)], s0[~whole & (a > 0)], (s0 + a)[~whole & (a > 0)]),
        (e[~whole & (b > 0)], (s1 - b)[~whole & (b > 0)], s1[~whole & (b > 0)]),
    ]
    un = ~whole
    unreach = (e[un], (s0 + a)[un], (s1 - b)[un])
    cat = tuple(np.concatenate([p[k] for p in reach_parts]) for k in range(3))
    return cat, unreach


def _lines(net: WalkNetwork, edge: np.ndarray, start: np.ndarray, end: np.ndarray) -> list:
    out = []
    full_len = net.length[edge]
    for e, s, t, L in zip(edge, start, end, full_len):
        if t - s <= 1e-9:
            continue
        g = net.geometry[e]
        out.append(g if (s <= 1e-9 and t >= L - 1e-9) else substring(g, s, t))
    return out


def reachable_lines(net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float) -> list:
    """Street pieces within ``limit`` metres (exact cut inside edges)."""
    (e, s, t), _ = _cut(net, graph, dist, limit)
    return _lines(net, e, s, t)


def isochrone_polygon(net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float,
                      buffer_m: float = DEFAULT_BUFFER_M, gap_m: float = DEFAULT_GAP_M):
    """The walking area within ``limit`` metres of the sources that produced ``dist``.

    Reachable street pieces (cut exactly inside edges) are buffered by ``buffer_m`` with
    flat ends; blocks enclosed by reachable streets are filled unless an unreachable street
    runs inside them; finally a ``gap_m`` band around every unreachable street piece nearby
    is cut out, so that no unreachable street lies inside the area.

    Parameters
    ----------
    net : WalkNetwork
    graph : SplitGraph
    dist : ndarray
        Distance of every split-graph node (from :func:`circles.reach.nearest`).
    limit : float
        Walking distance in metres.
    buffer_m : float
        Half-width of the band along reachable streets.
    gap_m : float
        Half-width of the cut along unreachable streets.

    Returns
    -------
    shapely geometry
        Polygon or MultiPolygon (empty polygon when nothing is reachable).
    """
    (e, s, t), (ue, us, ut) = _cut(net, graph, dist, limit)
    lines = _lines(net, e, s, t)
    if not lines:
        return Polygon()
    lines = np.array(lines, dtype=object)
    # simplified by 0.5 m and with few segments per round join: a display band, and the union
    # of thousands of buffers is the cost of an isochrone
    band = shapely.union_all(shapely.buffer(shapely.simplify(lines, 0.5), buffer_m, quad_segs=2,
                                            cap_style="flat", join_style="round"))
    # unreachable street pieces whose edge lies near the area
    minx, miny, maxx, maxy = band.bounds
    eb = _edge_bounds(net)
    keep = ut - us > 1e-6
    near = keep & (eb[ue, 0] <= maxx) & (eb[ue, 2] >= minx) & (eb[ue, 1] <= maxy) & (eb[ue, 3] >= miny)
    unreach = np.array(_lines(net, ue[near], us[near], ut[near]), dtype=object)
    polys = list(getattr(band, "geoms", [band]))
    holes = [(pi, Polygon(r)) for pi, p in enumerate(polys) for r in p.interiors]
    if holes:
        blocked = np.zeros(len(holes), dtype=bool)
        if len(unreach):
            tree = shapely.STRtree(unreach)
            hit, _ = tree.query(np.array([h for _, h in holes], dtype=object), predicate="intersects")
            blocked[np.unique(hit)] = True
        out = []
        for pi, p in enumerate(polys):
            kept = [h.exterior.coords for (qi, h), b in zip(holes, blocked) if qi == pi and b]
            out.append(Polygon(p.exterior.coords, kept))
        band = shapely.union_all(out) if len(out) > 1 else out[0]
    if len(unreach) and gap_m > 0:
        shapely.prepare(band)
        inside = unreach[shapely.intersects(band, unreach)]
        if len(inside):
            cut = shapely.union_all(shapely.buffer(inside, gap_m, cap_style="flat"))
            # where an unreachable street crosses a reachable one (bridges, tunnels), the
            # reachable street stays in the area: a thin band along it is added back
            shapely.prepare(cut)
            crossing = lines[shapely.intersects(cut, lines)]
            band = band.difference(cut)
            if len(crossing):
                thin = shapely.union_all(shapely.buffer(crossing, KEEP_M, cap_style="flat"))
                band = shapely.union_all([band, thin])
    return band


def _edge_bounds(net: WalkNetwork) -> np.ndarray:
    cached = getattr(net, "_bounds", None)
    if cached is None or len(cached) != net.n_edges:
        cached = shapely.bounds(net.geometry)
        net._bounds = cached
    return cached


def _on_output_grid(geoms: np.ndarray) -> np.ndarray:
    """Snap polygons to the 1e-7° grid of the GeoJSON output, keeping them valid and polygonal
    (slivers that collapse to lines on the grid are dropped)."""
    out = []
    for g in shapely.set_precision(shapely.make_valid(geoms), 1e-7):
        if g.geom_type == "GeometryCollection":
            polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
            g = shapely.union_all(polys) if polys else Polygon()
        if g.geom_type == "Polygon":
            g = shapely.MultiPolygon([g]) if not g.is_empty else g
        out.append(g)
    return np.array(out, dtype=object)


def convex_hull_polygon(net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float):
    """The OSMnx notebook recipe: convex hull of the reached network nodes (for comparison)."""
    n = net.n_nodes
    ok = np.flatnonzero(dist[:n] <= limit)
    if len(ok) < 3:
        return Polygon()
    return shapely.MultiPoint(np.column_stack([net.x[ok], net.y[ok]])).convex_hull


def polygon_quality(net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float, polygon,
                    spacing: float = 5.0) -> dict:
    """Sample points along every street; how well does ``polygon`` match the network reach?

    Returns
    -------
    dict
        ``missed`` = reachable samples outside the polygon, ``leak`` = unreachable samples
        inside it, both as a share of reachable samples; and the sample counts.
    """
    s0, s1, e = graph.seg_s0, graph.seg_s1, graph.seg_edge
    length = s1 - s0
    n = np.maximum(1, np.ceil(length / spacing).astype(int))
    seg = np.repeat(np.arange(len(s0)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    frac = (k + 0.5) / n[seg]
    pos = s0[seg] + frac * length[seg]
    d = np.minimum(dist[graph.seg_a][seg] + (pos - s0[seg]), dist[graph.seg_b][seg] + (s1[seg] - pos))
    reachable = d <= limit
    pts = shapely.line_interpolate_point(net.geometry[e[seg]], pos)
    shapely.prepare(polygon)
    inside = shapely.contains(polygon, pts) | shapely.touches(polygon, pts)
    n_reach = int(reachable.sum())
    missed = int((reachable & ~inside).sum())
    leak = int((~reachable & inside).sum())
    return {"samples": int(len(pts)), "reachable": n_reach, "missed": missed, "leak": leak,
            "missed_share": missed / n_reach if n_reach else 0.0, "leak_share": leak / n_reach if n_reach else 0.0}


def type_isochrones(access, net: WalkNetwork, speeds: dict[str, float], minutes=(5, 10, 15),
                    buffer_m: float = DEFAULT_BUFFER_M) -> gpd.GeoDataFrame:
    """Union walking areas per facility type at each of ``minutes`` (EPSG:4326).

    ``speeds`` maps each facility type to the walking speed (m/min) used for it.
    """
    rows = []
    for t in access.types:
        dist = access.node_dist.get(t)
        if dist is None or not np.isfinite(dist).any():
            continue
        for mins in minutes:
            limit = mins * speeds[t]
            if limit > access.limit_m + 1e-9:
                continue
            poly = isochrone_polygon(net, access.graph, dist, limit, buffer_m)
            if poly.is_empty:
                continue
            rows.append({"facility_type": t, "minutes": mins, "speed_m_per_min": speeds[t],
                         "distance_m": round(limit, 1), "geometry": poly})
    gdf = gpd.GeoDataFrame(rows, columns=["facility_type", "minutes", "speed_m_per_min", "distance_m", "geometry"],
                           geometry="geometry", crs=net.crs).to_crs("EPSG:4326")
    gdf["geometry"] = _on_output_grid(gdf.geometry.values)
    return gdf


def facility_isochrones(access, net: WalkNetwork, speeds: dict[str, float], minutes=(5, 10, 15),
                        types: list[str] | None = None, buffer_m: float = DEFAULT_BUFFER_M) -> gpd.GeoDataFrame:
    """Walking areas of each placed facility at each of ``minutes`` (EPSG:4326).

    Columns: ``facility_id``, ``facility_type``, ``minutes``, ``distance_m``, geometry.
    """
    fac = access.facilities
    rows = []
    for pos in range(len(fac)):
        t = fac["facility_type"].iloc[pos]
        if (types is not None and t not in types) or not fac["placed"].iloc[pos] or t not in speeds:
            continue
        dist = access.facility_distances(pos)
        for mins in minutes:
            limit = mins * speeds[t]
            if limit > access.limit_m + 1e-9:
                continue
            poly = isochrone_polygon(net, access.graph, dist, limit, buffer_m)
            if not poly.is_empty:
                rows.append({"facility_id": fac["id"].iloc[pos], "facility_type": t, "minutes": mins,
                             "distance_m": round(limit, 1), "geometry": poly})
    gdf = gpd.GeoDataFrame(rows, columns=["facility_id", "facility_type", "minutes", "distance_m", "geometry"],
                           geometry="geometry", crs=net.crs).to_crs("EPSG:4326")
    gdf["geometry"] = _on_output_grid(gdf.geometry.values)
    return gdf
