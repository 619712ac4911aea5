"""Walking-area polygons for display, cut exactly from the network times.

Each street segment is kept up to the point where the walking distance reaches the limit
(an exact cut, also inside edges) and drawn as a band of about 20 m (the contour of a
distance field on a 5 m grid, which is far faster than a union of buffers); the city blocks
enclosed by reachable streets are filled unless an unreachable street runs inside them (so
areas behind a river or a rail line stay open), and a narrow cut is made along unreachable
streets nearby. Coverage decisions never use these polygons: they use the network times.
"""

from __future__ import annotations

import logging
from typing import cast

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon

from .network import WalkNetwork
from .reach import SplitGraph

log = logging.getLogger(__name__)

#: Half-width (metres) of the band drawn along reachable streets.
DEFAULT_BUFFER_M = 20.0
#: Half-width (metres) of the cut along unreachable streets near the area.
DEFAULT_GAP_M = 2.0
#: Cell size (metres) of the distance-field grid the band is drawn from.
RASTER_CELL_M = 5.0
#: Largest grid (cells); a larger area (a whole city's union) gets proportionally coarser cells.
RASTER_MAX_CELLS = 4_000_000
#: Half-width (metres) of the band kept along reachable streets inside a cut.
KEEP_M = 0.05


def _cut(net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float, margin: float = 0.0):
    """Reachable and unreachable pieces of every segment, as (edge, start, end) arrays.

    Unreachable pieces are shortened by ``margin`` metres where they meet a reachable one.
    """
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
    unreach = (e[un], (s0 + a + margin * (a > 0))[un], (s1 - b - margin * (b > 0))[un])
    cat = tuple(np.concatenate([p[k] for p in reach_parts]) for k in range(3))
    return cat, unreach


def _lines(
    net: WalkNetwork, edge: np.ndarray, start: np.ndarray, end: np.ndarray, geoms: np.ndarray | None = None
) -> np.ndarray:
    """The pieces ``start``..``end`` (metres along the edge) of edges ``edge``, as an object
    array of LineStrings (empty pieces left out), cut from ``geoms`` (default: the edges'
    own geometries)."""
    geoms = net.geometry if geoms is None else geoms
    keep = end - start > 1e-9
    edge, start, end = edge[keep], start[keep], end[keep]
    out = np.empty(len(edge), dtype=object)
    if not len(edge):
        return out
    full = (start <= 1e-9) & (end >= net.length[edge] - 1e-9)
    out[full] = geoms[edge[full]]
    if not full.all():
        out[~full] = substrings(geoms[edge[~full]], start[~full], end[~full])
    return out


def substrings(lines: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The part of each line between ``start`` and ``end`` metres along it (vectorised
    ``shapely.ops.substring`` for ``0 <= start < end <= length``).

    Each piece runs from the point at ``start`` through the line's own vertices strictly
    between the two positions to the point at ``end``.
    """
    xy, gi = shapely.get_coordinates(lines, return_index=True)
    first = np.r_[True, gi[1:] != gi[:-1]]
    step = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    step[first] = 0.0
    cum = np.cumsum(step)
    cum -= cum[np.flatnonzero(first)][gi]  # distance of every vertex from its line's start
    inner = (cum > start[gi] + 1e-9) & (cum < end[gi] - 1e-9)
    n = len(lines)
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(lines, start))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(lines, end))
    pts = np.concatenate([p0, xy[inner], p1])
    owner = np.concatenate([np.arange(n), gi[inner], np.arange(n)])
    rank = np.concatenate([np.full(n, -1), np.flatnonzero(inner), np.full(n, len(xy))])
    order = np.lexsort((rank, owner))
    return shapely.linestrings(pts[order], indices=owner[order])


def reachable_lines(net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float) -> np.ndarray:
    """Street pieces within ``limit`` metres (exact cut inside edges)."""
    (e, s, t), _ = _cut(net, graph, dist, limit)
    return _lines(net, e, s, t)


def isochrone_polygon(
    net: WalkNetwork,
    graph: SplitGraph,
    dist: np.ndarray,
    limit: float,
    buffer_m: float = DEFAULT_BUFFER_M,
    gap_m: float = DEFAULT_GAP_M,
):
    """The walking area within ``limit`` metres of the sources that produced ``dist``.

    Reachable street pieces (cut exactly inside edges) are drawn as a band of about
    ``buffer_m`` (see :func:`_band`); blocks enclosed by reachable streets are filled unless
    an unreachable street runs inside them; finally a ``gap_m`` band around every unreachable street piece nearby
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
    # the cut along an unreachable piece stops KEEP_M short of the reachable piece it
    # continues, so that the two do not overlap by rounding at the frontier
    (e, s, t), (ue, us, ut) = _cut(net, graph, dist, limit, margin=KEEP_M)
    origin, geoms, eb = _local(net)
    lines = _lines(net, e, s, t, geoms)
    if not len(lines):
        return Polygon()
    band = _band(lines, buffer_m)
    # unreachable street pieces whose edge lies near the area
    minx, miny, maxx, maxy = band.bounds
    keep = ut - us > 1e-6
    near = keep & (eb[ue, 0] <= maxx) & (eb[ue, 2] >= minx) & (eb[ue, 1] <= maxy) & (eb[ue, 3] >= miny)
    unreach = _lines(net, ue[near], us[near], ut[near], geoms)
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
            kept = [h.exterior.coords for (qi, h), b in zip(holes, blocked, strict=True) if qi == pi and b]
            out.append(Polygon(p.exterior.coords, kept))
        band = shapely.union_all(out) if len(out) > 1 else out[0]
    if len(unreach) and gap_m > 0:
        shapely.prepare(band)
        inside = unreach[shapely.intersects(band, unreach)]
        if len(inside):
            cut = shapely.buffer(shapely.multilinestrings(inside), gap_m, cap_style="flat")
            # where an unreachable street crosses a reachable one (bridges, tunnels), the
            # reachable street stays in the area: a thin band along it is spared from the cut
            shapely.prepare(cut)
            crossing = lines[shapely.intersects(cut, lines)]
            if len(crossing):
                cut = cut.difference(shapely.buffer(shapely.multilinestrings(crossing), KEEP_M, cap_style="flat"))
            band = band.difference(cut)
    return shapely.transform(band, lambda c: c + origin)


def _band(lines: np.ndarray, buffer_m: float) -> Polygon:
    """The area within about ``buffer_m`` of ``lines``.

    The union of thousands of buffers is what made an isochrone slow, so the band is the
    ``buffer_m`` contour of a distance field on a :data:`RASTER_CELL_M` grid instead (coarser
    beyond :data:`RASTER_MAX_CELLS` cells, for city-wide unions): the
    lines are sampled at least every half cell, the field is a Euclidean distance transform,
    and the contour is simplified by 0.5 m. Its edge lies within about one cell of the exact buffer's;
    the lines themselves always lie inside, since a cell is much smaller than the band.
    """
    import contourpy
    from scipy import ndimage

    cell = RASTER_CELL_M
    lo, hi = shapely.total_bounds(lines).reshape(2, 2)
    cells = np.prod((hi - lo + 2 * (buffer_m + 3 * cell)) / cell)
    if cells > RASTER_MAX_CELLS:
        cell = float(np.ceil(cell * np.sqrt(cells / RASTER_MAX_CELLS)))
        log.info("walking area of %.0f km²: band drawn on a %g m grid", np.prod(hi - lo) / 1e6, cell)
    xy = _sample(lines, cell / 2)
    pad = buffer_m + 3 * cell
    # the grid is aligned to whole cells, so that nested line sets give nested bands
    x0, y0 = np.floor((xy.min(axis=0) - pad) / cell) * cell
    nx = int(np.ceil((xy[:, 0].max() + pad - x0) / cell)) + 1
    ny = int(np.ceil((xy[:, 1].max() + pad - y0) / cell)) + 1
    free = np.ones((ny, nx), dtype=bool)
    free[np.round((xy[:, 1] - y0) / cell).astype(int), np.round((xy[:, 0] - x0) / cell).astype(int)] = False
    field = ndimage.distance_transform_edt(free) * cell
    gen = contourpy.contour_generator(
        x0 + np.arange(nx) * cell, y0 + np.arange(ny) * cell, field, fill_type=contourpy.FillType.OuterOffset
    )
    filled = gen.filled(-1.0, buffer_m)
    points = cast("list[np.ndarray]", filled[0])
    offsets = cast("list[np.ndarray]", filled[1])
    if not points:
        return Polygon()
    # each filled polygon: its points, and ring offsets (the first ring is the shell)
    sizes = np.concatenate([np.diff(off) for off in offsets])
    ring_poly = np.repeat(np.arange(len(offsets)), [len(off) - 1 for off in offsets])
    rings = shapely.linearrings(np.concatenate(points), indices=np.repeat(np.arange(len(sizes)), sizes))
    polys = shapely.polygons(rings, indices=ring_poly)
    # filled contour polygons never overlap: no union needed
    band = shapely.multipolygons(polys) if len(polys) > 1 else polys[0]
    # plain Douglas-Peucker (much faster than the topology-preserving kind); repaired if needed
    return _polygonal(shapely.simplify(band, 0.5, preserve_topology=False))


def _sample(lines: np.ndarray, step: float) -> np.ndarray:
    """Points along ``lines`` no more than ``step`` apart (their vertices included), as an
    (n, 2) array."""
    xy, gi = shapely.get_coordinates(lines, return_index=True)
    same = gi[1:] == gi[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    n = np.maximum(1, np.ceil(np.hypot(*(b - a).T) / step).astype(np.int64))
    seg = np.repeat(np.arange(len(a)), n)
    frac = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / n[seg]
    return np.concatenate([a[seg] + frac[:, None] * (b - a)[seg], xy])


def _polygonal(g):
    """``g`` made valid, keeping only its polygons (a Polygon or MultiPolygon)."""
    if not g.is_valid:
        g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        g = shapely.union_all(parts) if parts else Polygon()
    return g


def _local(net: WalkNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edge geometries moved next to a whole-kilometre origin, and their bounds.

    Projected coordinates in the millions of metres cost GEOS precision: buffers and
    overlays of the same lines run several times faster near the origin. Cached on ``net``.
    """
    cached = net.cache.get("local")
    if cached is None or len(cached[1]) != net.n_edges:
        origin = np.floor(np.array([np.min(net.x), np.min(net.y)]) / 1000.0) * 1000.0
        geoms = shapely.transform(net.geometry, lambda c: c - origin)
        cached = (origin, geoms, shapely.bounds(geoms))
        net.cache["local"] = cached
    return cached


def _on_output_grid(geoms: np.ndarray) -> np.ndarray:
    """Snap polygons to the 1e-7° grid of the GeoJSON output, keeping them valid and polygonal
    (slivers that collapse to lines on the grid are dropped)."""
    out = []
    for g in shapely.set_precision(shapely.make_valid(geoms), 1e-7):
        g = _polygonal(g)
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


def polygon_quality(
    net: WalkNetwork, graph: SplitGraph, dist: np.ndarray, limit: float, polygon, spacing: float = 5.0
) -> dict:
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
    return {
        "samples": int(len(pts)),
        "reachable": n_reach,
        "missed": missed,
        "leak": leak,
        "missed_share": missed / n_reach if n_reach else 0.0,
        "leak_share": leak / n_reach if n_reach else 0.0,
    }


def type_isochrones(
    access, net: WalkNetwork, speeds: dict[str, float], minutes=(5, 10, 15), buffer_m: float = DEFAULT_BUFFER_M
) -> gpd.GeoDataFrame:
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
            rows.append(
                {
                    "facility_type": t,
                    "minutes": mins,
                    "speed_m_per_min": speeds[t],
                    "distance_m": round(limit, 1),
                    "geometry": poly,
                }
            )
    gdf = gpd.GeoDataFrame(
        rows,
        columns=["facility_type", "minutes", "speed_m_per_min", "distance_m", "geometry"],
        geometry="geometry",
        crs=net.crs,
    ).to_crs("EPSG:4326")
    gdf["geometry"] = _on_output_grid(gdf.geometry.values)
    return gdf


def facility_isochrones(
    access,
    net: WalkNetwork,
    speeds: dict[str, float],
    minutes=(5, 10, 15),
    types: list[str] | None = None,
    buffer_m: float = DEFAULT_BUFFER_M,
) -> gpd.GeoDataFrame:
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
                rows.append(
                    {
                        "facility_id": fac["id"].iloc[pos],
                        "facility_type": t,
                        "minutes": mins,
                        "distance_m": round(limit, 1),
                        "geometry": poly,
                    }
                )
    gdf = gpd.GeoDataFrame(
        rows,
        columns=["facility_id", "facility_type", "minutes", "distance_m", "geometry"],
        geometry="geometry",
        crs=net.crs,
    ).to_crs("EPSG:4326")
    gdf["geometry"] = _on_output_grid(gdf.geometry.values)
    return gdf
