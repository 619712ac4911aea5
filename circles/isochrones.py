"""Walking areas for display, drawn from the same walking times as the gap report.

A point belongs to the walking area within ``L`` metres when the walk from it — straight to
its nearest street (the access leg, at most the attachment cap), then along the streets — is
at most ``L``: exactly the measure the gap report applies to residents. So residents counted
as covered lie inside the drawn area and uncovered ones outside (up to the raster resolution),
blocks are filled where their homes are covered through their access legs, and the far bank
of a river, whose homes reach their own street first, stays out.

The walk is evaluated on a raster: streets are sampled every half cell with their exact
network distance (cut exactly inside edges), every cell takes its nearest street sample by a
Euclidean distance transform (its leg), and the area is the filled contour of leg + network
distance at ``L`` (linear interpolation between cell centres). Areas are drawn only where they
are read — in tiles over the communities and their surroundings — so a whole city costs what
its communities cost. Coverage decisions never use these polygons: they use the network times.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from shapely.geometry import Polygon
from tqdm.auto import tqdm

from ._arrays import unique_ints
from ._safety import lower_priority, worker_context, worker_cores
from .network import WalkNetwork, street_arrays
from .reach import DEFAULT_MAX_ATTACH_M, SplitGraph

log = logging.getLogger(__name__)

#: Raster cell (metres) of the walking-area field for small regions.
AREA_CELL_M = 5.0
#: Side (metres) of the tiles a large region is drawn in.
AREA_TILE_M = 4000.0
#: A region with more cells than this (at :data:`AREA_CELL_M`) is drawn with coarser cells.
AREA_MAX_CELLS = 16_000_000
#: Largest cell (metres) used for a very large region.
AREA_MAX_CELL_M = 10.0
#: Areas are simplified by this much (metres) before they are written: the raster draws them
#: with a vertex every few metres, far more than a map shows.
DISPLAY_TOLERANCE_M = 1.0
#: Field values are clamped to the limit ± this many cells before contouring (see
#: :func:`field_polygons`).
FIELD_RAMP_CELLS = 2.0
#: Half-width (metres) of the exact bands added along reachable streets, or cut along
#: unreachable ones, where the raster cannot tell two nearby streets apart.
STREET_BAND_M = 1.5
#: Half-width (metres) of the band kept along a reachable street crossing a cut.
KEEP_M = 0.05
#: Draw walking areas in worker processes from this many tasks (tiles, or groups of types in
#: a tile) on, when the number of workers is not given.
PARALLEL_MIN_TASKS = 2
#: At most this many worker processes by default (each holds a tile's fields).
MAX_AREA_WORKERS = 8
#: Value standing for "not reachable" in the field (contours need finite numbers).
_FAR = 1e9

#: A rectangle (xmin, ymin, xmax, ymax) in the network CRS.
Box = tuple[float, float, float, float]


@dataclass
class AreaField:
    """The walk (metres) from every cell of a raster to the nearest facility, per type.

    ``x``, ``y`` are the cell-centre coordinates (network CRS); ``fields[t]`` has shape
    ``(len(y), len(x))``, :data:`_FAR` where no facility is within reach or the cell is
    beyond the attachment cap from every street.
    """

    x: np.ndarray
    y: np.ndarray
    fields: dict[str, np.ndarray]
    #: The street samples the field was drawn from: coordinates, split-graph segment, position.
    samples: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    #: Per field, the four cell values around each street sample, the sample's place between
    #: them, and their least and greatest (:func:`_drawn_inside` reads them for every limit).
    corners: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)
    #: Per field, the exact walk to each street sample.
    walks: dict[str, np.ndarray] = field(default_factory=dict)


def _segment_samples(net: WalkNetwork, graph: SplitGraph, box: Box, step: float):
    """Points every ``step`` metres along the street segments that meet ``box``: their
    coordinates, segment and position along the segment's edge.

    Coordinates are interpolated on the straight pieces of the edge geometries with plain
    array arithmetic (millions of samples for a city tile)."""
    x0, y0, x1, y1 = box
    eb = _edge_bounds(net)
    e = graph.seg_edge
    near = (eb[e, 0] <= x1) & (eb[e, 2] >= x0) & (eb[e, 1] <= y1) & (eb[e, 3] >= y0)
    seg = np.flatnonzero(near)
    length = graph.seg_s1[seg] - graph.seg_s0[seg]
    n = np.maximum(1, np.ceil(length / step).astype(np.int64)) + 1
    which = np.repeat(seg, n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    pos = graph.seg_s0[which] + k / np.repeat(n - 1, n) * np.repeat(length, n)
    pts = _points_along(net, e[which], pos)
    inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    return pts[inside], which[inside], pos[inside]


def _points_along(net: WalkNetwork, edge: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Coordinates of the points ``pos`` metres along edges ``edge`` (clamped to the edge)."""
    from .reach import _pieces

    p = _pieces(net)
    scale = float(net.length.max(initial=0.0)) + 1.0  # keys edge + position never collide
    key = p.edge + p.start / scale
    piece = np.searchsorted(key, edge + np.clip(pos, 0, None) / scale, side="right") - 1
    piece = np.clip(piece, p.first[edge], p.first[edge + 1] - 1)
    t = np.clip((pos - p.start[piece]) / np.where(p.length[piece] > 0, p.length[piece], 1.0), 0.0, 1.0)
    return p.a[piece] + t[:, None] * p.ab[piece]


def _edge_bounds(net: WalkNetwork) -> np.ndarray:
    cached = net.cache.get("edge_bounds")
    if cached is None or len(cached) != net.n_edges:
        cached = shapely.bounds(net.geometry)
        net.cache["edge_bounds"] = cached
    return cached


def access_field(
    net: WalkNetwork,
    graph: SplitGraph,
    node_dists: dict[str, np.ndarray],
    box: Box,
    cell: float = AREA_CELL_M,
    max_attach_m: float = DEFAULT_MAX_ATTACH_M,
) -> AreaField:
    """The walk from every cell of ``box`` to the nearest facility, for each type of ``node_dists``.

    Parameters
    ----------
    net, graph
        The network and the split graph the distances were measured on.
    node_dists : dict
        Facility type -> distance (metres) of every split-graph node (``inf`` beyond reach).
    box : (xmin, ymin, xmax, ymax)
        The region (network CRS); streets up to ``max_attach_m`` beyond it are taken into account.
    cell : float
        Raster cell size in metres.
    max_attach_m : float
        Cells farther than this from every street are not reachable (as residents there
        would not be placed).
    """
    from scipy import ndimage

    pad = max_attach_m + 2 * cell
    x0 = np.floor((box[0] - pad) / cell) * cell
    y0 = np.floor((box[1] - pad) / cell) * cell
    nx = int(np.ceil((box[2] + pad - x0) / cell))
    ny = int(np.ceil((box[3] + pad - y0) / cell))
    xs = x0 + (np.arange(nx) + 0.5) * cell
    ys = y0 + (np.arange(ny) + 0.5) * cell
    pts, seg, pos = _segment_samples(net, graph, (x0, y0, x0 + nx * cell, y0 + ny * cell), cell / 2)
    if not len(pts):
        return AreaField(xs, ys, {t: np.full((ny, nx), _FAR) for t in node_dists}, (pts, seg, pos))
    ix = np.clip(((pts[:, 0] - x0) // cell).astype(np.int64), 0, nx - 1)
    iy = np.clip(((pts[:, 1] - y0) // cell).astype(np.int64), 0, ny - 1)
    flat = iy * nx + ix
    # each street cell keeps the sample nearest its centre: the field then follows the street
    # linearly and its contour crosses the street where the walk reaches the limit
    off = np.hypot(pts[:, 0] - xs[ix], pts[:, 1] - ys[iy])
    order = np.lexsort((off, flat))
    first = order[np.r_[True, flat[order][1:] != flat[order][:-1]]]
    chosen = np.full(ny * nx, -1, dtype=np.int64)
    chosen[flat[first]] = first
    marked = (chosen >= 0).reshape(ny, nx)
    _, (iy_near, ix_near) = ndimage.distance_transform_edt(~marked, return_indices=True)
    sample = chosen[(iy_near * nx + ix_near).ravel()]  # every cell's nearest street sample
    cy, cx = np.divmod(np.arange(ny * nx), nx)
    leg = np.hypot(xs[cx] - pts[sample, 0], ys[cy] - pts[sample, 1])
    far = leg > max_attach_m
    # the raster cannot place a street more finely than half a cell diagonal: the cells around a
    # street take its own distance, so that the contour meets the street where the walk ends
    leg = np.maximum(leg - cell * np.sqrt(0.5), 0.0)
    seg_s = seg[sample]
    along_a = pos[sample] - graph.seg_s0[seg_s]
    along_b = graph.seg_s1[seg_s] - pos[sample]
    a_node, b_node = graph.seg_a[seg_s], graph.seg_b[seg_s]
    fields = {}
    for t, dist in node_dists.items():
        f = np.minimum(dist[a_node] + along_a, dist[b_node] + along_b) + leg
        f[far | ~np.isfinite(f)] = _FAR
        fields[t] = f.reshape(ny, nx)
    return AreaField(xs, ys, fields, (pts, seg, pos))


def field_polygons(field: AreaField, values: np.ndarray, limits, clip: Box | None = None) -> list:
    """The parts of the raster where ``values`` ≤ each of ``limits`` (interpolated contours),
    optionally clipped to a box: one valid Polygon or MultiPolygon per limit (empty when nothing
    is within it).

    The values are clamped to ``limit ± FIELD_RAMP_CELLS`` cells before contouring: between a
    cell well inside and one well outside (two streets, one reachable, a few metres apart) the
    contour then runs midway, instead of hugging the inside cell because the far street is
    thousands of metres away; along a street, where the walk grows smoothly, the contour still
    crosses exactly where it reaches the limit.
    """
    import contourpy

    limits = [float(v) for v in limits]
    out = [Polygon() for _ in limits]
    ramp = FIELD_RAMP_CELLS * float(field.x[1] - field.x[0]) if len(field.x) > 1 else 1.0
    for i, limit in enumerate(limits):
        inside = values <= limit
        if not inside.any():
            continue
        # contour only the window around the cells within the limit (small areas stay cheap)
        rows = np.flatnonzero(inside.any(axis=1))
        cols = np.flatnonzero(inside.any(axis=0))
        r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, len(field.y))
        c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, len(field.x))
        z = np.clip(values[r0:r1, c0:c1], limit - ramp, limit + ramp)
        gen = contourpy.contour_generator(field.x[c0:c1], field.y[r0:r1], z, fill_type=contourpy.FillType.OuterOffset)
        filled = gen.filled(limit - 2 * ramp, limit)
        points = cast("list[np.ndarray]", filled[0])
        offsets = cast("list[np.ndarray]", filled[1])
        if not points:
            continue
        sizes = np.concatenate([np.diff(off) for off in offsets])
        ring_poly = np.repeat(np.arange(len(offsets)), [len(off) - 1 for off in offsets])
        rings = shapely.linearrings(np.concatenate(points), indices=np.repeat(np.arange(len(sizes)), sizes))
        polys = shapely.polygons(rings, indices=ring_poly)
        area = shapely.multipolygons(polys) if len(polys) > 1 else polys[0]
        if clip is not None:
            area = shapely.clip_by_rect(area, *clip)
        out[i] = _polygonal(area)
    return out


def isochrone_polygon(
    net: WalkNetwork,
    graph: SplitGraph,
    dist: np.ndarray,
    limit: float,
    cell: float = AREA_CELL_M,
    max_attach_m: float = DEFAULT_MAX_ATTACH_M,
):
    """The walking area within ``limit`` metres of the sources that produced ``dist``.

    Parameters
    ----------
    net : WalkNetwork
    graph : SplitGraph
    dist : ndarray
        Distance of every split-graph node (from :func:`circles.reach.nearest`).
    limit : float
        Walking distance in metres (access leg included).
    cell : float
        Raster cell size in metres.
    max_attach_m : float
        Farthest a point may lie from its street.

    Returns
    -------
    shapely geometry
        Polygon or MultiPolygon (empty polygon when nothing is reachable).
    """
    xy = graph.xy
    if xy is None:
        raise ValueError("the split graph has no node coordinates")
    reached = np.flatnonzero(dist <= limit)
    if not len(reached):
        return Polygon()
    lo = xy[reached].min(axis=0) - max_attach_m
    hi = xy[reached].max(axis=0) + max_attach_m
    field = access_field(net, graph, {"_": dist}, (lo[0], lo[1], hi[0], hi[1]), cell, max_attach_m)
    area = field_polygons(field, field.fields["_"], [limit])[0]
    return refine_on_streets(area, net, graph, field, "_", dist, limit)


def _sample_walks(graph: SplitGraph, dist: np.ndarray, seg: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Exact network distance of street samples (segment ``seg``, position ``pos`` along its edge)."""
    return np.minimum(
        dist[graph.seg_a[seg]] + (pos - graph.seg_s0[seg]), dist[graph.seg_b[seg]] + (graph.seg_s1[seg] - pos)
    )


def _drawn_inside(area_field: AreaField, kind: str, limit: float) -> np.ndarray:
    """Whether the street samples fall inside the contour at ``limit`` of the field ``kind``
    (bilinear reading of the clamped field, as :func:`field_polygons` draws it).

    Only the samples whose four cells straddle the clamped band are read: the others' cells
    all clamp to one side, ``limit ± ramp``, which a weighted mean cannot move across ``limit``."""
    cell = float(area_field.x[1] - area_field.x[0]) if len(area_field.x) > 1 else 1.0
    ramp = FIELD_RAMP_CELLS * cell if len(area_field.x) > 1 else 1.0
    got = area_field.corners.get(kind)
    if got is None:
        assert area_field.samples is not None
        xy = area_field.samples[0]
        nx, ny = len(area_field.x), len(area_field.y)
        fx = np.clip((xy[:, 0] - area_field.x[0]) / cell, 0, nx - 1.000001)
        fy = np.clip((xy[:, 1] - area_field.y[0]) / cell, 0, ny - 1.000001)
        i, j = fy.astype(np.int64), fx.astype(np.int64)
        i1, j1 = np.minimum(i + 1, ny - 1), np.minimum(j + 1, nx - 1)
        values = area_field.fields[kind]
        c = np.stack([values[i, j], values[i, j1], values[i1, j], values[i1, j1]])
        got = (c, fx - j, fy - i, c.min(axis=0), c.max(axis=0))
        area_field.corners[kind] = got
    c, tx, ty, lo, hi = got
    inside = hi <= limit - ramp
    k = np.flatnonzero((lo < limit + ramp) & ~inside)
    z = np.clip(c[:, k], limit - ramp, limit + ramp)
    tx, ty = tx[k], ty[k]
    v = (z[0] * (1 - tx) + z[1] * tx) * (1 - ty) + (z[2] * (1 - tx) + z[3] * tx) * ty
    inside[k] = v <= limit
    return inside


def refine_on_streets(
    area, net: WalkNetwork, graph: SplitGraph, area_field: AreaField, kind: str, dist: np.ndarray, limit: float
):
    """Correct the raster area exactly where it disagrees with the streets.

    A raster cannot tell apart two streets a couple of metres apart (a road and its sidewalk,
    one reachable and one not). Where a street sample's side of the drawn area differs from its
    walk, the segment's reachable pieces (cut exactly inside the edge) are added as a thin band
    and its unreachable pieces cut out, except where they cross a reachable street (bridges).
    """
    if area_field.samples is None or area.is_empty:
        return area
    _, seg, pos = area_field.samples
    d = area_field.walks.get(kind)
    if d is None:
        d = area_field.walks[kind] = _sample_walks(graph, dist, seg, pos)
    drawn = _drawn_inside(area_field, kind, limit)
    wrong = unique_ints(seg[(d <= limit) != drawn])
    if not len(wrong):
        return area
    (re, rs, rt), (ue, us, ut) = _cut_segments(graph, dist, limit, wrong, margin=KEEP_M)
    reach_lines = substrings_of(net, re, rs, rt)
    unreach_lines = substrings_of(net, ue, us, ut)
    if len(reach_lines):
        area = shapely.union(
            area, shapely.buffer(shapely.multilinestrings(reach_lines), STREET_BAND_M, cap_style="flat")
        )
    if len(unreach_lines):
        cut = shapely.buffer(shapely.multilinestrings(unreach_lines), STREET_BAND_M, cap_style="flat")
        # a reachable street crossing the cut (bridge, tunnel) stays in the area
        near = _segments_of(graph, net.n_edges, _edges_meeting(net, cut))
        if len(near):
            (ce, cs, ct), _ = _cut_segments(graph, dist, limit, near)
            crossing = substrings_of(net, ce, cs, ct)
            if len(crossing):
                cut = cut.difference(shapely.buffer(shapely.multilinestrings(crossing), KEEP_M, cap_style="flat"))
        area = area.difference(cut)
    return _polygonal(area)


def _edges_meeting(net: WalkNetwork, geom) -> np.ndarray:
    """The edges whose line meets ``geom``, found part by part in the network's R-tree: a cut
    spread over a whole tile only tests the streets near its pieces."""
    return unique_ints(net.edge_tree().query(shapely.get_parts(geom), predicate="intersects")[1])


def _segments_of(graph: SplitGraph, n_edges: int, edges: np.ndarray) -> np.ndarray:
    """The split-graph segments of ``edges`` (ascending), through an edge -> segments index made
    once per graph: a cut meets a few streets, and scanning every segment of a city for each cut
    was a tenth of the walking areas' time."""
    index = graph.cache.get("edge_segments")
    if index is None:
        order = np.argsort(graph.seg_edge, kind="stable")
        first = np.searchsorted(graph.seg_edge[order], np.arange(n_edges + 1))
        index = graph.cache["edge_segments"] = (order, first)
    order, first = index
    start, count = first[edges], first[edges + 1] - first[edges]
    at = np.repeat(start - np.cumsum(count) + count, count) + np.arange(count.sum())
    return np.sort(order[at])


def _cut_segments(graph: SplitGraph, dist: np.ndarray, limit: float, segs: np.ndarray, margin: float = 0.0):
    """Reachable and unreachable pieces of the segments ``segs`` as (edge, start, end) arrays;
    unreachable pieces stop ``margin`` metres short of a reachable one."""
    s0, s1 = graph.seg_s0[segs], graph.seg_s1[segs]
    length = s1 - s0
    a = np.clip(limit - dist[graph.seg_a[segs]], 0, None)
    b = np.clip(limit - dist[graph.seg_b[segs]], 0, None)
    whole = a + b >= length
    a, b = np.minimum(a, length), np.minimum(b, length)
    e = graph.seg_edge[segs]
    fa, fb = ~whole & (a > 0), ~whole & (b > 0)
    reach = (
        np.concatenate([e[whole], e[fa], e[fb]]),
        np.concatenate([s0[whole], s0[fa], (s1 - b)[fb]]),
        np.concatenate([s1[whole], (s0 + a)[fa], s1[fb]]),
    )
    un = ~whole
    unreach = (e[un], (s0 + a + margin * (a > 0))[un], (s1 - b - margin * (b > 0))[un])
    return reach, unreach


def substrings_of(net: WalkNetwork, edge: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The pieces ``start``..``end`` metres along edges ``edge`` (empty pieces left out)."""
    keep = end - start > 1e-6
    if not keep.any():
        return np.empty(0, dtype=object)
    return substrings(net.geometry[edge[keep]], start[keep], end[keep])


def area_tiles(boxes: np.ndarray, tile: float | None = None) -> list[Box]:
    """Square tiles of side ``tile`` (default :data:`AREA_TILE_M`) covering the boxes (rows
    ``xmin, ymin, xmax, ymax``): only tiles that meet a box, on a grid aligned to whole tiles."""
    tile = AREA_TILE_M if tile is None else tile
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    out: set[tuple[int, int]] = set()
    for x0, y0, x1, y1 in boxes:
        for i in range(int(np.floor(x0 / tile)), int(np.floor(x1 / tile)) + 1):
            for j in range(int(np.floor(y0 / tile)), int(np.floor(y1 / tile)) + 1):
                out.add((i, j))
    return [(i * tile, j * tile, (i + 1) * tile, (j + 1) * tile) for i, j in sorted(out)]


def _cell_for(tiles: list[Box]) -> float:
    area = sum((t[2] - t[0]) * (t[3] - t[1]) for t in tiles)
    cell = AREA_CELL_M
    while area / cell**2 > AREA_MAX_CELLS and cell < AREA_MAX_CELL_M:
        cell = min(cell * 1.25, AREA_MAX_CELL_M)
    return cell


def _draw_tile(
    net: WalkNetwork,
    graph: SplitGraph,
    node_dists: dict[str, np.ndarray],
    limits: dict[str, list[float]],
    tile: Box,
    cell: float,
    max_attach_m: float,
) -> list[tuple[str, float, object]]:
    """The walking areas of one tile for the types of ``limits`` (in its order): (type, limit,
    polygon), empty areas left out."""
    field = access_field(net, graph, {t: node_dists[t] for t in limits}, tile, cell, max_attach_m)
    out = []
    for t, lims in limits.items():
        for lim, poly in zip(lims, field_polygons(field, field.fields[t], lims), strict=True):
            poly = refine_on_streets(poly, net, graph, field, t, node_dists[t], lim)
            poly = _polygonal(shapely.clip_by_rect(poly, *tile)) if not poly.is_empty else poly
            if not poly.is_empty:
                out.append((t, lim, poly))
    return out


def _display(polys: list, crs) -> np.ndarray:
    """Areas as written: simplified by :data:`DISPLAY_TOLERANCE_M` (Douglas-Peucker; the
    topology-preserving variant costs minutes on a city), in EPSG:4326, snapped to the output
    grid (validity restored there). Each area on its own: drawn per tile, in a worker or here,
    the bytes are the same."""
    geoms = np.empty(len(polys), dtype=object)
    geoms[:] = polys
    if not len(geoms):
        return geoms
    geoms = shapely.simplify(geoms, DISPLAY_TOLERANCE_M, preserve_topology=False)
    lonlat = gpd.GeoSeries(geoms, crs=crs).to_crs("EPSG:4326")
    return _on_output_grid(np.asarray(lonlat.values, dtype=object))


def _tile_areas(
    net: WalkNetwork,
    graph: SplitGraph,
    node_dists: dict[str, np.ndarray],
    task: tuple[Box, dict[str, list[float]]],
    cell: float,
    max_attach_m: float,
    display: bool,
) -> list[tuple[str, float, object]]:
    """The serial unit: one task's areas (:func:`_draw_tile`), made ready for display when
    ``display`` (:func:`_display`)."""
    tile, limits = task
    areas = _draw_tile(net, graph, node_dists, limits, tile, cell, max_attach_m)
    if not display:
        return areas
    shown = _display([poly for _, _, poly in areas], net.crs)
    return [(t, lim, poly) for (t, lim, _), poly in zip(areas, shown, strict=True)]


#: What a worker process draws from: the inputs of the last shared folder it read.
_WORKER: dict[str, object] = {}


def _share_inputs(folder: Path, net: WalkNetwork, graph: SplitGraph, node_dists: dict[str, np.ndarray]) -> None:
    """Write the walking-area inputs to ``folder`` as plain ``.npy`` arrays (no pickle), read
    by every worker from the page cache (memory-mapped): the network is handed over once,
    not pickled geometry by geometry for each worker. Edge lines travel as their coordinates."""
    coords, index = shapely.get_coordinates(net.geometry, return_index=True)
    m = graph.matrix.tocsr()
    arrays = {
        **street_arrays(net),
        "coords": coords,
        "coord_edge": index,
        "m_data": m.data,
        "m_indices": m.indices,
        "m_indptr": m.indptr,
        "leaf": graph.leaf,
        "position": graph.position,
        "seg_edge": graph.seg_edge,
        "seg_s0": graph.seg_s0,
        "seg_s1": graph.seg_s1,
        "seg_a": graph.seg_a,
        "seg_b": graph.seg_b,
    }
    if graph.xy is not None:
        arrays["xy"] = graph.xy
    for i, dist in enumerate(node_dists.values()):
        arrays[f"dist_{i}"] = dist
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
    meta = {"crs": net.crs, "source": net.source, "n_base": int(graph.n_base), "shape": list(m.shape)}
    meta["types"] = list(node_dists)
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def _shareable(net: WalkNetwork) -> bool:
    """Whether the edge lines can travel as their coordinates: plain 2D lines of 2+ points."""
    g = net.geometry
    return bool(
        len(g) == 0
        or (
            (shapely.get_type_id(g) == 1).all()
            and not shapely.has_z(g).any()
            and (shapely.get_num_coordinates(g) >= 2).all()
        )
    )


def _read_shared(folder: str) -> tuple[WalkNetwork, SplitGraph, dict[str, np.ndarray]]:
    """The inputs written by :func:`_share_inputs` (read once per worker and folder)."""
    if _WORKER.get("folder") != folder:
        _WORKER.clear()
        base = Path(folder)
        meta = json.loads((base / "meta.json").read_text(encoding="utf-8"))

        def arr(name: str) -> np.ndarray:
            return np.load(base / f"{name}.npy", mmap_mode="r", allow_pickle=False)

        coords, edge = np.asarray(arr("coords")), np.asarray(arr("coord_edge"))
        lines = shapely.linestrings(coords, indices=edge) if len(coords) else np.empty(0, dtype=object)
        net = WalkNetwork(meta["crs"], arr("node_ids"), arr("x"), arr("y"), arr("u"), arr("v"), arr("length"), lines)
        net.source = meta["source"]
        matrix = sparse.csr_matrix((arr("m_data"), arr("m_indices"), arr("m_indptr")), shape=tuple(meta["shape"]))
        graph = SplitGraph(
            matrix,
            meta["n_base"],
            arr("leaf"),
            arr("position"),
            arr("seg_edge"),
            arr("seg_s0"),
            arr("seg_s1"),
            arr("seg_a"),
            arr("seg_b"),
            arr("xy") if (base / "xy.npy").exists() else None,
        )
        dists = {t: arr(f"dist_{i}") for i, t in enumerate(meta["types"])}
        _WORKER.update(folder=folder, inputs=(net, graph, dists))
    return cast("tuple[WalkNetwork, SplitGraph, dict[str, np.ndarray]]", _WORKER["inputs"])


def _worker_tile(
    job: tuple[str, tuple[Box, dict[str, list[float]]], float, float, bool],
) -> list[tuple[str, float, object]]:
    folder, task, cell, max_attach_m, display = job
    net, graph, node_dists = _read_shared(folder)
    return _tile_areas(net, graph, node_dists, task, cell, max_attach_m, display)


def area_workers(n_tasks: int, workers: int | None = None) -> int:
    """How many processes draw ``n_tasks`` walking-area tasks: ``workers`` (at most one per
    task), or by default one per available core (at most :data:`MAX_AREA_WORKERS`) from
    :data:`PARALLEL_MIN_TASKS` tasks on. 1 in a daemonic process (a Dask worker), which may not
    start processes."""
    if workers is None:
        workers = min(worker_cores(), MAX_AREA_WORKERS) if n_tasks >= PARALLEL_MIN_TASKS else 1
    workers = max(1, min(int(workers), n_tasks))
    if workers > 1 and multiprocessing.current_process().daemon:
        log.info("walking areas drawn in this process (it may not start worker processes)")
        workers = 1
    return workers


def area_tasks(
    tiles: list[Box], limits: dict[str, list[float]], workers: int
) -> list[tuple[Box, dict[str, list[float]]]]:
    """The tasks (tile, the types it draws with their limits) in the order a single process
    draws them: tile by tile, types in order. With fewer tiles than two per worker, each tile's
    types are split into consecutive groups so that every worker has work."""
    types = list(limits)
    groups = 1
    if workers > 1 and tiles and types:
        groups = min(len(types), max(1, -(-2 * workers // len(tiles))))
    size = -(-len(types) // groups) if types else 1
    parts = [types[i : i + size] for i in range(0, len(types), size)] or [[]]
    return [(tile, {t: limits[t] for t in part}) for tile in tiles for part in parts]


@dataclass(frozen=True)
class _How:
    """How an :class:`_AreaRun` draws: the attachment cap, progress bar, workers, and whether the
    polygons come as written (simplified, EPSG:4326, on the output grid: :func:`_display`),
    made ready where they were drawn."""

    max_attach_m: float = DEFAULT_MAX_ATTACH_M
    progress: bool = False
    workers: int | None = None
    display: bool = False


def iter_areas(
    net: WalkNetwork,
    graph: SplitGraph,
    node_dists: dict[str, np.ndarray],
    limits: dict[str, Iterable[float]],
    boxes: np.ndarray,
    *,
    max_attach_m: float = DEFAULT_MAX_ATTACH_M,
    progress: bool = False,
    workers: int | None = None,
) -> Iterator[tuple[str, float, Box, object]]:
    """Walking areas tile by tile over the region ``boxes``: (type, limit, tile, polygon).

    The tiles (and, with few tiles, groups of types) are drawn in ``workers`` processes (see
    :func:`area_workers`; 1 draws here) and yielded in the order one process draws them, so the
    areas are the same, in the same order, whatever the number of workers.
    """
    return _AreaRun(net, graph, node_dists, limits, boxes, _How(max_attach_m, progress, workers)).areas()


def area_pool(workers: int) -> ProcessPoolExecutor:
    """The worker processes that draw walking areas: started by the fork server, and run at a
    lower priority (:func:`circles._safety.lower_priority`) so that the analysis, the tables and
    the ledger go first where the cores are fewer than the processes."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(), initializer=lower_priority)


@dataclass
class _Handover:
    """The worker side of an :class:`_AreaRun`, made in a thread beside this process's work: the
    folder of shared inputs, the pool and the tasks handed to it."""

    folder: str | None = None
    pool: ProcessPoolExecutor | None = None
    futures: list[Future] = field(default_factory=list)
    thread: threading.Thread | None = None
    #: What stopped the thread otherwise than the workers' not starting: raised by :meth:`_AreaRun.areas`.
    error: BaseException | None = None


def _hand_over(
    handover: _Handover,
    inputs: tuple[WalkNetwork, SplitGraph, dict[str, np.ndarray]],
    workers: int,
    jobs: list[tuple[tuple[Box, dict[str, list[float]]], float, float, bool]],
) -> None:
    """Write the shared inputs, start ``workers`` processes and submit the ``jobs`` (in a thread
    beside this process's work; none submitted where the workers cannot start)."""
    try:
        folder = handover.folder = tempfile.mkdtemp(prefix="circles-areas-")
        _share_inputs(Path(folder), *inputs)
        handover.pool = area_pool(workers)
        handover.futures = [handover.pool.submit(_worker_tile, (folder, *job)) for job in jobs]
    except (OSError, BrokenProcessPool, RuntimeError) as exc:
        log.warning("walking-area workers not started (%s); drawing in this process", exc)
        handover.futures = []
    except BaseException as exc:  # handed to the thread that reads the areas, raised there
        handover.error = exc
        handover.futures = []


def _close_run(handover: _Handover) -> None:
    if handover.thread is not None:
        handover.thread.join()
    if handover.pool is not None:
        handover.pool.shutdown(wait=True, cancel_futures=True)
    if handover.folder is not None:
        shutil.rmtree(handover.folder, ignore_errors=True)


class _AreaRun:
    """Walking areas being drawn: a thread started when the run is made writes the shared inputs
    and hands every task to the worker processes (this process is free for other work meanwhile),
    and :meth:`areas` reads them back in the order one process draws them, drawing here whatever
    the workers could not."""

    def __init__(
        self,
        net: WalkNetwork,
        graph: SplitGraph,
        node_dists: dict[str, np.ndarray],
        limits: dict[str, Iterable[float]],
        boxes: np.ndarray,
        how: _How,
    ) -> None:
        tiles = area_tiles(boxes)
        lo, hi = np.asarray(boxes)[:, :2].min(axis=0), np.asarray(boxes)[:, 2:].max(axis=0)
        tiles = [(max(t[0], lo[0]), max(t[1], lo[1]), min(t[2], hi[0]), min(t[3], hi[1])) for t in tiles]
        self.cell = _cell_for(tiles)
        if self.cell > AREA_CELL_M:
            log.info("walking areas over %d tiles drawn on a %.1f m grid", len(tiles), self.cell)
        lims = {t: list(v) for t, v in limits.items()}
        n = area_workers(len(tiles) * max(1, len(lims)), how.workers)
        if n > 1 and not _shareable(net):
            log.info("walking areas drawn in this process (edge lines other than plain 2D lines)")
            n = 1
        self.inputs = (net, graph, node_dists)
        self.how = how
        self.tasks = area_tasks(tiles, lims, n)
        self.handover = _Handover()
        if n > 1:  # the inputs written and the pool started in a thread: this process goes on meanwhile
            jobs = [(task, self.cell, how.max_attach_m, how.display) for task in self.tasks]
            self.handover.thread = threading.Thread(
                target=_hand_over, args=(self.handover, self.inputs, n, jobs), name="circles-areas", daemon=True
            )
            self.handover.thread.start()
        self._close = weakref.finalize(self, _close_run, self.handover)

    def areas(self) -> Iterator[tuple[str, float, Box, object]]:
        """(type, limit, tile, polygon) of every task, in order; the workers stop at the end."""
        net, graph, node_dists = self.inputs
        bar = tqdm(total=len(self.tasks), desc="walking areas", unit="tile", disable=not self.how.progress, leave=False)
        done = 0
        try:
            if self.handover.thread is not None:
                self.handover.thread.join()
            if self.handover.error is not None:
                raise self.handover.error
            try:
                for (tile, _), future in zip(self.tasks, self.handover.futures, strict=False):
                    for t, lim, poly in future.result():
                        yield t, lim, tile, poly
                    done += 1
                    bar.update(1)
            except BrokenProcessPool as exc:  # a worker died (out of memory?): finish here
                log.warning("walking-area workers stopped (%s); drawing the remaining tiles in this process", exc)
            for task in self.tasks[done:]:
                for t, lim, poly in _tile_areas(
                    net, graph, node_dists, task, self.cell, self.how.max_attach_m, self.how.display
                ):
                    yield t, lim, task[0], poly
                bar.update(1)
        finally:
            bar.close()
            self._close()


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


def _polygonal(g):
    """``g`` made valid, keeping only its polygons (a Polygon or MultiPolygon)."""
    if not g.is_valid:
        g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        g = shapely.union_all(parts) if parts else Polygon()
    return g


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


def start_type_isochrones(
    access,
    net: WalkNetwork,
    speeds: dict[str, float],
    minutes=(5, 10, 15),
    *,
    rule_limits: dict[str, dict[float, list[str]]] | None = None,
    boxes: np.ndarray | None = None,
    progress: bool = False,
    workers: int | None = None,
) -> PendingAreas:
    """Start drawing the walking areas per facility type (EPSG:4326), in tiles over ``boxes``:
    the tasks go to the worker processes now, :meth:`PendingAreas.result` collects them.

    Areas are drawn at each of ``minutes`` (at the type's speed in ``speeds``) and at each rule
    threshold of ``rule_limits`` (type -> distance in metres -> rule ids), so that the area of a
    rule holds exactly the residents the gap report counts as covered. Without ``boxes`` the
    whole network extent is drawn.

    Columns: ``facility_type``, ``minutes``, ``speed_m_per_min``, ``distance_m``, ``rule_ids``
    (comma-separated, empty for a plain 5/10/15-minute area), ``tile`` (the tile's lower-left
    corner in metres, ``x_y``), geometry. One row per type, distance and tile.

    ``workers``: processes drawing the tiles (default: one per core when there are several
    tiles or types; see :func:`area_workers`); the result is the same whatever the number.
    """
    if boxes is None:
        boxes = np.array([[net.x.min(), net.y.min(), net.x.max(), net.y.max()]])
    limits: dict[str, dict[float, list[str]]] = {}
    for t in access.types:
        dist = access.node_dist.get(t)
        if dist is None or not np.isfinite(dist).any():
            continue
        per = limits.setdefault(t, {})
        for mins in minutes:
            lim = round(mins * speeds[t], 6)
            if lim <= access.limit_m + 1e-9:
                per.setdefault(lim, [])
        for lim, ids in (rule_limits or {}).get(t, {}).items():
            if lim <= access.limit_m + 1e-9:
                per.setdefault(round(lim, 6), []).extend(ids)
    node_dists = {t: access.node_dist[t] for t in limits}
    how = _How(access.max_attach_m, progress, workers, display=True)
    sorted_limits: dict[str, Iterable[float]] = {t: sorted(v) for t, v in limits.items()}
    run = _AreaRun(net, access.graph, node_dists, sorted_limits, boxes, how)
    return PendingAreas(run, limits, speeds)


class PendingAreas:
    """Walking areas handed to the worker processes (:func:`start_type_isochrones`)."""

    def __init__(self, run: _AreaRun, limits: dict[str, dict[float, list[str]]], speeds: dict[str, float]) -> None:
        self.run, self.limits, self.speeds = run, limits, speeds

    def result(self) -> gpd.GeoDataFrame:
        """The areas as :func:`type_isochrones` returns them (waits for the workers)."""
        rows = []
        limits, speeds = self.limits, self.speeds
        for t, lim, tile, poly in self.run.areas():
            rows.append(
                {
                    "facility_type": t,
                    "minutes": round(lim / speeds[t], 2),
                    "speed_m_per_min": speeds[t],
                    "distance_m": round(lim, 1),
                    "rule_ids": ",".join(limits[t][lim]),
                    "tile": f"{tile[0]:.0f}_{tile[1]:.0f}",
                    "geometry": poly,
                }
            )
        columns = ["facility_type", "minutes", "speed_m_per_min", "distance_m", "rule_ids", "tile", "geometry"]
        # the polygons come simplified, in EPSG:4326 and on the output grid (drawn per tile)
        gdf = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs="EPSG:4326")
        if len(gdf):
            gdf = gdf.sort_values(["facility_type", "distance_m", "tile"], kind="stable").reset_index(drop=True)
        return gdf[~gdf.geometry.is_empty].reset_index(drop=True)


def type_isochrones(
    access, net: WalkNetwork, speeds: dict[str, float], minutes=(5, 10, 15), **how: Any
) -> gpd.GeoDataFrame:
    """Walking areas per facility type (EPSG:4326), in tiles: :func:`start_type_isochrones`
    (``how``: its keywords ``rule_limits``, ``boxes``, ``progress``, ``workers``; the columns),
    waiting for the result."""
    return start_type_isochrones(access, net, speeds, minutes, **how).result()


def facility_isochrones(
    access,
    net: WalkNetwork,
    speeds: dict[str, float],
    minutes=(5, 10, 15),
    types: list[str] | None = None,
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
        lims = [m * speeds[t] for m in minutes if m * speeds[t] <= access.limit_m + 1e-9]
        reached = np.flatnonzero(dist <= max(lims, default=0.0))
        if not len(reached):
            continue
        xy = access.graph.xy[reached]
        box = (*(xy.min(axis=0) - access.max_attach_m), *(xy.max(axis=0) + access.max_attach_m))
        field = access_field(net, access.graph, {t: dist}, box, AREA_CELL_M, access.max_attach_m)
        mins_ok = [m for m in minutes if m * speeds[t] <= access.limit_m + 1e-9]
        polys = field_polygons(field, field.fields[t], [m * speeds[t] for m in mins_ok])
        for mins, poly in zip(mins_ok, polys, strict=True):
            limit = mins * speeds[t]
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
