"""Generate synthetic Chinese cities for the city-scale benchmark (issues 15 and 16), deterministically.

One city is a folder with the three inputs of ``circles run`` (and a summary):

* ``network.osm.bz2`` (and/or ``network.osm``): OpenStreetMap XML in longitude/latitude near
  a Chinese city (default origin 120.57 E, 32.37 N, Rugao). A jittered grid of ~75 m blocks:
  arterials every 8th line (``highway=primary`` / ``secondary``, named), ``residential``
  streets, some ``footway`` / ``path`` segments and diagonal footways across blocks, curved
  ways with intermediate nodes (removed by OSMnx's simplification), dead-end stubs, a few
  removed links, rivers crossed only by bridges (arterials and some streets), lakes without
  streets, and non-walkable ways that the walking filter must drop (``highway=motorway`` with
  a ``motorway_link``, a ``foot=no`` viaduct, ``access=private`` driveways). Rivers and lakes
  are drawn too (``waterway=river``, ``natural=water``). Unique positive ids, ``<bounds>``.
  The size is set by the number of street junctions **after** simplification (the nodes of
  circles' walking network): ``--nodes``.
* ``communities.geojson``: a jittered tile grid of 600 m communities (``--communities``; 400
  -> 20 x 20, 2025 -> 45 x 45) centred in the street grid, with ``id``, ``name`` (幸福社区-017
  style), ``population``, ``households``, ``population_estimated`` (true) and ``street``
  (街道, the district: 3-5 x 3-5 tiles, 9-25 communities each).
* ``facilities.geojson``: ``--per-type`` facilities for every facility type of
  ``circles.rulebook.load_facility_types()`` (read at generation time, so new types are
  included), clustered unevenly near the streets (some communities lack some types), 3 %
  placed more than 250 m from any walkable street (in lakes, or outside the city) so that
  circles sets them aside; ``capacity`` / ``size_m2`` for some; 40 % of parks are polygons.
* ``buildings.geojson`` with ``--buildings``: residential footprints with ``floor_area_m2``.
* ``city.json``: what was generated (junctions expected after simplification, counts, the
  ids of the far facilities and of the nodes only non-walkable ways make junctions).

Presets: ``city100k`` (~100,000 junctions, 400 communities, 500 per type), ``city1m``
(~1,000,000 junctions, 2,025 communities, 2,000 per type), ``city10k`` (10,000, 40, 50) and
``tiny`` (for tests). ``--cities K`` writes K cities (seeds ``seed + k``, places on a lattice
that never overlaps) into ``--out`` plus ``cities.yaml`` for ``circles batch``.

Usage::

    python bench/gen_city.py --preset city100k            # -> bench/data/generated/city100k/
    python bench/gen_city.py --preset city1m
    python bench/gen_city.py --preset city100k --cities 8  # -> bench/data/generated/batch_city100k_8/
    python bench/gen_city.py --nodes 20000 --communities 64 --per-type 80 --out /tmp/c20k

Everything is vectorised numpy; the same arguments and seed give byte-identical files.
"""

from __future__ import annotations

import argparse
import bz2
import json
import math
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

BENCH = Path(__file__).resolve().parent
GENERATED = BENCH / "data" / "generated"

#: Default south-west corner of the first city (Rugao, Jiangsu).
ORIGIN = (120.57, 32.37)
M_PER_DEG_LAT = 111_320.0
SEED = 20240915

SPACING_M = (60.0, 90.0)  # street spacing range: ~75 m blocks
NODE_JITTER_M = 8.0
ARTERIAL_EVERY = 8  # every 8th row/column is an arterial (~600 m apart)
PRIMARY_EVERY = 16
REMOVE_SHARE = 0.03  # residential links removed
FOOTWAY_SHARE, PATH_SHARE = 0.03, 0.02  # residential links that are footways / paths
DIAGONAL_SHARE = 0.03  # blocks crossed by a diagonal footway
STUB_SHARE = 0.02  # junctions with a dead-end stub
BRIDGE_SHARE = 0.15  # residential streets that cross a river (arterials always do)
RIVER_EVERY_ROWS = 160
LAKE_RADIUS_M = (380.0, 520.0)
LAKES_PER_COMMUNITY = 1 / 40
LAKE_AREA_OUTSIDE_M2 = 40e6  # one lake per 40 km² outside the communities
COMMUNITY_M = 600.0
COMMUNITY_JITTER_M = 60.0
DISTRICT_SIDE = (3, 6)  # communities per district side: 3-5, so 9-25 communities per street (街道)
FAR_SHARE = 0.03
FAR_MIN_M = 265.0  # far facilities are at least this far from any walkable street
NEAR_OFFSET_M = (5.0, 40.0)  # other facilities stand this far beside their street
MAX_ATTACH_M = 250.0
GRID_SPACING_M = 40.0

PRESETS: dict[str, dict[str, int]] = {
    "city100k": {"nodes": 100_000, "communities": 400, "per_type": 500},
    "city1m": {"nodes": 1_000_000, "communities": 2025, "per_type": 2000},
    "city10k": {"nodes": 10_000, "communities": 40, "per_type": 50},
    "tiny": {"nodes": 1_500, "communities": 4, "per_type": 5},
}

PRIMARY, SECONDARY, RESIDENTIAL, FOOTWAY, PATH, SERVICE = range(6)
HIGHWAY = ("primary", "secondary", "residential", "footway", "path", "service")


def _words(text: str) -> tuple[str, ...]:
    """Space-separated words as a tuple."""
    return tuple(text.split())


ROAD_WORDS = _words(
    "人民 解放 中山 建设 青年 和平 胜利 新华 长江 黄河 海阳 益寿 福寿 宁海 文峰 工农 通扬 环城 花园 振兴 "
    "兴源 惠民 迎春 江海 大同 朝阳 光明 跃进 红星 团结 育才 丰收 桃园 学府 龙游 永安 万寿 仙鹤 金沙 银杏"
)
COMMUNITY_WORDS = _words(
    "幸福 和平 新华 光明 文化 建设 友谊 胜利 长江 人民 花园 阳光 锦绣 育才 春晖 桃园 龙湖 滨河 东方 金城 "
    "安居 和谐 振兴 新民 惠民 福寿 康乐 丰乐 百花 翠竹 紫薇 海棠 碧水 云龙 凤凰 银河 明珠 华庭 景苑 名都"
)
STREET_WORDS = _words(
    "城东 城西 城南 城北 东陈 白蒲 丁堰 林梓 江安 搬经 石庄 九华 磨头 下原 吴窑 袁桥 如城 海阳 开发区 港城 "
    "新桥 永兴 秦灶 唐闸 天生港 钟秀 陈桥 五一 任港 文峰 观音山 狼山 崇川 学田 虹桥 和平桥 城港 幸福 中兴 北郊"
)

#: Median floor area (m²) by facility type; other types get DEFAULT_SIZE_M2.
SIZE_M2 = {
    "park": 6000.0,
    "food_market": 1500.0,
    "car_parking": 2500.0,
    "community_service": 600.0,
    "fitness": 800.0,
    "kindergarten": 3000.0,
    "elderly_care": 500.0,
}
DEFAULT_SIZE_M2 = 250.0
#: Median capacity (places, beds, spaces, chargers) of the types that have one.
CAPACITY = {
    "childcare": 60,
    "kindergarten": 270,
    "elderly_care": 40,
    "car_parking": 120,
    "ev_charging": 10,
    "ebike_charging": 40,
}


# ------------------------------------------------------------------------------------------
# Street network (local metres: x east, y north, origin at the south-west grid corner)
# ------------------------------------------------------------------------------------------


@dataclass
class Streets:
    """The walkable street graph before it is written as OSM (edge level, no intermediates)."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    cls: np.ndarray
    bridge: np.ndarray
    line: np.ndarray
    pos: np.ndarray
    kind: np.ndarray  # 0 grid street, 1 diagonal footway, 2 dead-end stub
    line_name: dict[int, str]
    rows: int
    cols: int
    width: float
    height: float
    core: tuple[float, float, float, float]  # community area: x0, y0, x1, y1
    tiles: tuple[int, int]  # community rows, columns
    lakes: np.ndarray  # (n, 3): cx, cy, r
    rivers: list[np.ndarray]  # centre lines, (n, 2)
    lcc: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # node in the largest piece
    junction: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def junctions(self) -> int:
        """Nodes of the simplified walking graph: junctions and dead ends of the largest piece."""
        return int(self.junction.sum())


def _tile_shape(n_communities: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n_communities))
    return math.ceil(n_communities / cols), cols


def make_streets(rng: np.random.Generator, rows: int, cols: int, n_communities: int) -> Streets:
    """A jittered street grid of ``rows`` x ``cols`` intersections with rivers, lakes, stubs.

    Raises
    ------
    ValueError
        If the grid is too small to hold the communities with a margin around them.
    """
    sx = np.r_[0.0, np.cumsum(rng.uniform(*SPACING_M, cols - 1))]
    sy = np.r_[0.0, np.cumsum(rng.uniform(*SPACING_M, rows - 1))]
    width, height = float(sx[-1]), float(sy[-1])
    trows, tcols = _tile_shape(n_communities)
    cw, ch = tcols * COMMUNITY_M, trows * COMMUNITY_M
    x0, y0 = (width - cw) / 2, (height - ch) / 2
    if min(x0, y0) < COMMUNITY_M / 2:
        raise ValueError(
            f"a {rows} x {cols} street grid ({width / 1000:.1f} x {height / 1000:.1f} km) cannot hold "
            f"{n_communities} communities of {COMMUNITY_M:.0f} m with a margin: ask for more nodes"
        )
    n = rows * cols
    gx, gy = np.meshgrid(sx, sy)
    x = gx.ravel() + rng.uniform(-NODE_JITTER_M, NODE_JITTER_M, n)
    y = gy.ravel() + rng.uniform(-NODE_JITTER_M, NODE_JITTER_M, n)
    alive = np.ones(n, bool)
    idx = np.arange(n).reshape(rows, cols)

    # rivers: each runs west-east between two grid rows, meandering by up to 3 rows
    n_rivers = max(1, round(rows / RIVER_EVERY_ROWS))
    gaps = np.empty((n_rivers, cols), np.int64)
    cc = np.arange(cols)
    for k in range(n_rivers):
        base = int((k + 0.5) * rows / n_rivers)
        period, phase = rng.uniform(40, 80), rng.uniform(0, 2 * np.pi)
        gaps[k] = np.clip(base + np.round(3 * np.sin(2 * np.pi * cc / period + phase)), 1, rows - 3)
    rivers = [np.column_stack([sx, (sy[g] + sy[g + 1]) / 2]) for g in gaps]

    # lakes: no streets inside; some in the community area, some outside
    n_core = max(1, round(n_communities * LAKES_PER_COMMUNITY))
    r_core = rng.uniform(*LAKE_RADIUS_M, n_core)
    lx = x0 + r_core + rng.random(n_core) * np.maximum(cw - 2 * r_core, 0)
    ly = y0 + r_core + rng.random(n_core) * np.maximum(ch - 2 * r_core, 0)
    n_out = int((width * height - cw * ch) / LAKE_AREA_OUTSIDE_M2)
    ox, oy = rng.uniform(0, width, n_out), rng.uniform(0, height, n_out)
    r_out = rng.uniform(*LAKE_RADIUS_M, n_out)
    outside = (ox < x0 - r_out) | (ox > x0 + cw + r_out) | (oy < y0 - r_out) | (oy > y0 + ch + r_out)
    lakes = np.column_stack([np.r_[lx, ox[outside]], np.r_[ly, oy[outside]], np.r_[r_core, r_out[outside]]])
    for cx, cy, r in lakes:
        c0, c1 = np.searchsorted(sx, [cx - r - 2 * NODE_JITTER_M, cx + r + 2 * NODE_JITTER_M])
        r0, r1 = np.searchsorted(sy, [cy - r - 2 * NODE_JITTER_M, cy + r + 2 * NODE_JITTER_M])
        sub = idx[r0:r1, c0:c1].ravel()
        alive[sub[np.hypot(x[sub] - cx, y[sub] - cy) < r]] = False

    # street classes: arterials every 8th line, primary every 16th
    def classes(k: int) -> np.ndarray:
        phase = int(rng.integers(0, PRIMARY_EVERY))
        i = (np.arange(k) - phase) % PRIMARY_EVERY
        return np.where(i == 0, PRIMARY, np.where(i % ARTERIAL_EVERY == 0, SECONDARY, RESIDENTIAL)).astype(np.int8)

    row_cls, col_cls = classes(rows), classes(cols)
    line_name: dict[int, str] = {}
    for r in np.flatnonzero(row_cls != RESIDENTIAL):
        w = ROAD_WORDS[(3 * int(r)) % len(ROAD_WORDS)]
        line_name[int(r)] = f"{w}路" if r < 3 * len(ROAD_WORDS) else f"{w}{int(r)}路"
    for c in np.flatnonzero(col_cls != RESIDENTIAL):
        w = ROAD_WORDS[(5 * int(c) + 1) % len(ROAD_WORDS)]
        line_name[rows + int(c)] = f"{w}大道" if c < 5 * len(ROAD_WORDS) else f"{w}{int(c)}大道"

    # horizontal edges, line = row; vertical edges, line = rows + column (ordered along the line)
    hu, hv = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    hr, hc = np.repeat(np.arange(rows), cols - 1), np.tile(np.arange(cols - 1), rows)
    vu, vv = idx[:-1, :].T.ravel(), idx[1:, :].T.ravel()
    vc, vr = np.repeat(np.arange(cols), rows - 1), np.tile(np.arange(rows - 1), cols)
    hcls, vcls = row_cls[hr], col_cls[vc]
    cross_h = np.zeros(len(hu), bool)
    cross_v = np.zeros(len(vu), bool)
    bank = np.zeros((rows, cols), bool)
    for g in gaps:
        cross_h |= (hr > g[hc]) != (hr > g[hc + 1])
        cross_v |= vr == g[vc]
        bank[g, cc] = True
        bank[g + 1, cc] = True
    bridge_col = (col_cls != RESIDENTIAL) | (rng.random(cols) < BRIDGE_SHARE)
    keep_h = ~cross_h | (hcls != RESIDENTIAL)
    keep_v = ~cross_v | bridge_col[vc]
    bridge_h, bridge_v = cross_h & keep_h, cross_v & keep_v

    u = np.r_[hu[keep_h], vu[keep_v]]
    v = np.r_[hv[keep_h], vv[keep_v]]
    cls = np.r_[hcls[keep_h], vcls[keep_v]]
    bridge = np.r_[bridge_h[keep_h], bridge_v[keep_v]]
    line = np.r_[hr[keep_h], rows + vc[keep_v]].astype(np.int64)
    pos = np.r_[hc[keep_h], vr[keep_v]].astype(np.int64)

    # a few removed links, footway and path segments among the residential streets
    res = (cls == RESIDENTIAL) & ~bridge
    draw = rng.random(len(u))
    keep = alive[u] & alive[v] & ~(res & (draw < REMOVE_SHARE))
    draw = rng.random(len(u))
    cls = np.where(res & (draw < FOOTWAY_SHARE), FOOTWAY, cls)
    cls = np.where(res & (draw >= FOOTWAY_SHARE) & (draw < FOOTWAY_SHARE + PATH_SHARE), PATH, cls).astype(np.int8)
    u, v, cls, bridge, line, pos = u[keep], v[keep], cls[keep], bridge[keep], line[keep], pos[keep]
    next_line = rows + cols

    # diagonal footways across some blocks (never across a river)
    br, bc = np.nonzero(rng.random((rows - 1, cols - 1)) < DIAGONAL_SHARE)
    anti = rng.random(len(br)) < 0.5
    du = idx[br, np.where(anti, bc + 1, bc)]
    dv = idx[br + 1, np.where(anti, bc, bc + 1)]
    ok = alive[du] & alive[dv]
    for g in gaps:
        ok &= (br > g[np.where(anti, bc + 1, bc)]) == (br + 1 > g[np.where(anti, bc, bc + 1)])
    du, dv = du[ok], dv[ok]

    # dead-end stubs into blocks (not from river banks, not into lakes)
    cand = np.flatnonzero(alive & ~bank.ravel() & (rng.random(n) < STUB_SHARE))
    ang = np.pi / 4 + (np.pi / 2) * rng.integers(0, 4, len(cand)) + rng.uniform(-0.3, 0.3, len(cand))
    length = rng.uniform(25, 45, len(cand))
    ex, ey = x[cand] + length * np.cos(ang), y[cand] + length * np.sin(ang)
    dry = np.ones(len(cand), bool)
    for cx, cy, r in lakes:
        dry &= np.hypot(ex - cx, ey - cy) > r + 10
    cand, ex, ey = cand[dry], ex[dry], ey[dry]
    stub_cls = np.where(rng.random(len(cand)) < 0.5, SERVICE, RESIDENTIAL).astype(np.int8)
    stub_nodes = n + np.arange(len(cand))
    x, y = np.r_[x, ex], np.r_[y, ey]

    nd, ns = len(du), len(cand)
    u = np.r_[u, du, cand]
    v = np.r_[v, dv, stub_nodes]
    cls = np.r_[cls, np.full(nd, FOOTWAY, np.int8), stub_cls]
    bridge = np.r_[bridge, np.zeros(nd + ns, bool)]
    line = np.r_[line, next_line + np.arange(nd + ns)]
    pos = np.r_[pos, np.zeros(nd + ns, np.int64)]
    kind = np.r_[np.zeros(len(u) - nd - ns, np.int8), np.ones(nd, np.int8), np.full(ns, 2, np.int8)]
    order = np.lexsort((pos, line))
    st = Streets(
        x=x,
        y=y,
        u=u[order].astype(np.int64),
        v=v[order].astype(np.int64),
        cls=cls[order],
        bridge=bridge[order],
        line=line[order],
        pos=pos[order],
        kind=kind[order],
        line_name=line_name,
        rows=rows,
        cols=cols,
        width=width,
        height=height,
        core=(x0, y0, x0 + cw, y0 + ch),
        tiles=(trows, tcols),
        lakes=lakes,
        rivers=rivers,
    )
    _find_junctions(st)
    return st


def _find_junctions(st: Streets) -> None:
    """Mark the largest connected piece and its junctions (degree != 2), as OSMnx simplifies."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(st.x)
    deg = np.bincount(st.u, minlength=n) + np.bincount(st.v, minlength=n)
    m = coo_matrix((np.ones(len(st.u), np.int8), (st.u, st.v)), shape=(n, n))
    _, labels = connected_components(m, directed=False)
    used = deg > 0
    big = np.bincount(labels[used]).argmax()
    st.lcc = used & (labels == big)
    st.junction = st.lcc & (deg != 2)


def streets_for(seed: int, target_nodes: int, n_communities: int) -> Streets:
    """The street grid whose junction count after simplification is closest to ``target_nodes``.

    The grid shape is refined a few times from the measured share of grid nodes that end up
    as junctions (lakes, rivers, removed links and stubs move it away from 1).
    """
    rows = cols = max(12, math.ceil(math.sqrt(target_nodes / 0.95)))
    best: Streets | None = None
    for _ in range(4):
        st = make_streets(np.random.default_rng([seed, 1]), rows, cols, n_communities)
        if best is None or abs(st.junctions - target_nodes) < abs(best.junctions - target_nodes):
            best = st
        if abs(st.junctions - target_nodes) <= 0.003 * target_nodes:
            break
        share = st.junctions / (rows * cols)
        rows = max(12, round(math.sqrt(target_nodes / share)))
        cols = max(12, round(target_nodes / (share * rows)))
    assert best is not None
    return best


# ------------------------------------------------------------------------------------------
# Curves and the OSM file
# ------------------------------------------------------------------------------------------


def _bends(rng: np.random.Generator, st: Streets) -> tuple[np.ndarray, np.ndarray]:
    """Intermediate nodes per edge and the signed bend amplitude (m)."""
    ne = len(st.u)
    k = np.zeros(ne, np.int64)
    amp = np.zeros(ne)
    cell = (np.floor(st.x[st.u] / 800).astype(np.int64) * 7919 + np.floor(st.y[st.u] / 800).astype(np.int64)) % 1000
    curvy_cell = rng.random(1000) < 0.2
    local = np.isin(st.cls, (RESIDENTIAL, FOOTWAY, PATH)) & ~st.bridge
    p = np.where(curvy_cell[cell], 0.8, 0.2)
    bend = local & (rng.random(ne) < p)
    k[bend] = rng.integers(1, 5, int(bend.sum()))
    amp[bend] = rng.uniform(4, 14, int(bend.sum())) * rng.choice([-1.0, 1.0], int(bend.sum()))
    art = np.isin(st.cls, (PRIMARY, SECONDARY)) & ~st.bridge & (rng.random(ne) < 0.3)
    k[art] = rng.integers(1, 3, int(art.sum()))
    amp[art] = rng.uniform(0.5, 3, int(art.sum())) * rng.choice([-1.0, 1.0], int(art.sum()))
    diag = st.kind == 1
    k[diag] = 2
    amp[diag] = rng.uniform(5, 12, int(diag.sum())) * rng.choice([-1.0, 1.0], int(diag.sum()))
    stub = st.kind == 2
    k[stub], amp[stub] = 0, 0.0
    return k, amp


def edge_polylines(st: Streets, k: np.ndarray, amp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every edge as a polyline: points ``px[off[e]:off[e + 1]]`` (its end nodes included).

    Intermediate points sit on a sine arch of amplitude ``amp`` beside the straight line.
    """
    ne = len(st.u)
    count = k + 2
    off = np.r_[0, np.cumsum(count)]
    e = np.repeat(np.arange(ne), count)
    j = np.arange(off[-1]) - off[e]
    t = j / (k[e] + 1)
    x0, y0, x1, y1 = st.x[st.u][e], st.y[st.u][e], st.x[st.v][e], st.y[st.v][e]
    dx, dy = x1 - x0, y1 - y0
    ln = np.hypot(dx, dy)
    ln[ln == 0] = 1.0
    s = amp[e] * np.sin(np.pi * t)
    return x0 + t * dx - s * dy / ln, y0 + t * dy + s * dx / ln, off


def to_lonlat(x: np.ndarray, y: np.ndarray, origin: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Local metres to longitude/latitude (equirectangular around ``origin``)."""
    lon0, lat0 = origin
    return lon0 + x / (M_PER_DEG_LAT * math.cos(math.radians(lat0))), lat0 + y / M_PER_DEG_LAT


@dataclass
class OsmExtras:
    """Non-walkable ways and water, each with its own nodes (local metres)."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    ways: list[tuple[list[int], str]] = field(default_factory=list)  # (node indices or -id refs, tag XML)
    junctions: list[int] = field(default_factory=list)  # extra-node indices that only non-walkable ways join

    def node(self, px: float, py: float) -> int:
        self.x.append(float(px))
        self.y.append(float(py))
        return len(self.x) - 1


def _tags(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in pairs)


def _extras(rng: np.random.Generator, st: Streets) -> OsmExtras:
    """Motorway (+ link), a foot=no viaduct, private driveways, rivers and lakes.

    Refs to street nodes are encoded as ``-(index + 1)`` (street node index), extra nodes as
    their index in the extras.
    """
    ex = OsmExtras()
    w, h = st.width, st.height
    lcc_nodes = np.flatnonzero(st.junction)
    # motorway across the city, grade-separated (own nodes), one link down to a street junction
    n_mw = max(4, int(math.hypot(w, h) / 150))
    t = np.linspace(0.03, 0.97, n_mw)
    mw = [ex.node(w * a, h * (0.15 + 0.7 * a) + 40 * math.sin(7 * a)) for a in t]
    ex.ways.append((mw, _tags([("highway", "motorway"), ("oneway", "yes"), ("ref", "G15"), ("name", "沈海高速")])))
    mid = mw[n_mw // 2]
    target = lcc_nodes[np.argmin(np.hypot(st.x[lcc_nodes] - ex.x[mid], st.y[lcc_nodes] - ex.y[mid] - 150))]
    link = [mid] + [
        ex.node(ex.x[mid] + f * (st.x[target] - ex.x[mid]), ex.y[mid] + f * (st.y[target] - ex.y[mid]))
        for f in (0.35, 0.7)
    ]
    ex.ways.append((link + [-(int(target) + 1)], _tags([("highway", "motorway_link"), ("oneway", "yes")])))
    ex.junctions += [mw[0], mw[-1], mid]
    # a foot=no viaduct between two rows, with a foot=no ramp branching off
    vy = h * 0.37 + 37.0
    vx = np.linspace(0.2 * w, 0.8 * w, max(3, int(0.6 * w / 100)))
    via = [ex.node(px, vy) for px in vx]
    ex.ways.append((via, _tags([("highway", "primary"), ("foot", "no"), ("bridge", "yes"), ("layer", "2")])))
    vm = via[len(via) // 2]
    ramp = [vm, ex.node(ex.x[vm] + 60, vy + 30), ex.node(ex.x[vm] + 120, vy + 45)]
    ex.ways.append((ramp, _tags([("highway", "primary_link"), ("foot", "no")])))
    ex.junctions += [via[0], via[-1], vm, ramp[-1]]
    # private driveways: dead ends from street junctions
    pick = rng.choice(lcc_nodes, size=min(5, len(lcc_nodes)), replace=False)
    for a in np.sort(pick):
        end = ex.node(st.x[a] + 20, st.y[a] + 25)
        ex.ways.append(([-(int(a) + 1), end], _tags([("highway", "service"), ("access", "private")])))
        ex.junctions.append(end)
    # rivers and lakes (no highway: never part of the walking network)
    for i, r in enumerate(st.rivers):
        ids = [ex.node(px, py) for px, py in r]
        ex.ways.append((ids, _tags([("waterway", "river"), ("name", f"{ROAD_WORDS[i % len(ROAD_WORDS)]}河")])))
    ang = np.linspace(0, 2 * np.pi, 25)[:-1]
    for cx, cy, r in st.lakes:
        ring = [ex.node(cx + (r - 25) * math.cos(a), cy + (r - 25) * math.sin(a)) for a in ang]
        ex.ways.append((ring + [ring[0]], _tags([("natural", "water"), ("water", "lake")])))
    return ex


def _chunks_of(lines: Iterator[str], size: int = 8 << 20) -> Iterator[bytes]:
    buf: list[str] = []
    n = 0
    for s in lines:
        buf.append(s)
        n += len(s)
        if n >= size:
            yield "".join(buf).encode("utf-8")
            buf, n = [], 0
    if buf:
        yield "".join(buf).encode("utf-8")


def write_osm(
    st: Streets,
    k: np.ndarray,
    amp: np.ndarray,
    ex: OsmExtras,
    out: Path,
    origin: tuple[float, float],
    formats: tuple[str, ...] = ("bz2",),
    jobs: int = 1,
) -> dict:
    """Write the city as OSM XML (``network.osm.bz2`` and/or ``network.osm``).

    Street ways follow grid lines and break at random, at class changes, bridges and
    missing links. Street nodes are numbered first (1, 2, ...), then intermediate nodes,
    then the nodes of non-walkable ways and water. ``.bz2`` output is compressed in
    independent 8 MB streams (``jobs`` threads; identical bytes whatever ``jobs``).

    Returns
    -------
    dict
        ``osm_nodes``, ``osm_ways``, ``nonwalk_junction_ids``, ``bounds``.
    """
    rng = np.random.default_rng([len(st.u), 7])
    used = np.zeros(len(st.x), bool)
    used[st.u] = True
    used[st.v] = True
    node_id = np.zeros(len(st.x), np.int64)
    node_id[used] = np.arange(1, int(used.sum()) + 1)
    n_street = int(used.sum())
    px, py, off = edge_polylines(st, k, amp)
    interior = np.ones(len(px), bool)
    interior[off[:-1]] = False
    interior[off[1:] - 1] = False
    n_inter = int(interior.sum())
    inter_id = n_street + 1 + np.arange(n_inter)
    extra_base = n_street + n_inter + 1

    # ways: break where the line, class or bridge changes, a link is missing, or at random
    ne = len(st.u)
    first = np.ones(ne, bool)
    first[1:] = (
        (st.line[1:] != st.line[:-1])
        | (st.pos[1:] != st.pos[:-1] + 1)
        | (st.cls[1:] != st.cls[:-1])
        | (st.bridge[1:] != st.bridge[:-1])
    )
    p_break = np.where(np.isin(st.cls, (PRIMARY, SECONDARY)), 0.04, np.where(st.cls == RESIDENTIAL, 0.25, 0.5))
    first |= rng.random(ne) < p_break
    last = np.r_[first[1:], True]
    # refs: each edge contributes its start node and interior nodes; the last edge of a way its end too
    count = 1 + k + last
    start = np.r_[0, np.cumsum(count)[:-1]]
    refs = np.empty(int(count.sum()), np.int64)
    refs[start] = node_id[st.u]
    e_int = np.repeat(np.arange(ne), k)
    j_int = np.arange(len(e_int)) - np.repeat(np.cumsum(k) - k, k)
    refs[start[e_int] + 1 + j_int] = inter_id
    refs[(start + 1 + k)[last]] = node_id[st.v[last]]
    way_first = np.flatnonzero(first)
    way_off = np.r_[start[way_first], len(refs)]
    n_street_ways = len(way_first)

    all_x = np.r_[st.x[used], px[interior], np.asarray(ex.x)]
    all_y = np.r_[st.y[used], py[interior], np.asarray(ex.y)]
    lon, lat = to_lonlat(all_x, all_y, origin)
    bounds = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    tag_cache: dict[tuple[int, bool, str], str] = {}

    def street_tags(e: int) -> str:
        key = (int(st.cls[e]), bool(st.bridge[e]), st.line_name.get(int(st.line[e]), ""))
        s = tag_cache.get(key)
        if s is None:
            pairs = [("highway", HIGHWAY[key[0]])]
            if key[2] and key[0] in (PRIMARY, SECONDARY):
                pairs.append(("name", key[2]))
            if key[1]:
                pairs += [("bridge", "yes"), ("layer", "1")]
            s = tag_cache[key] = _tags(pairs)
        return s

    def lines() -> Iterator[str]:
        yield '<?xml version="1.0" encoding="UTF-8"?>\n'
        yield '<osm version="0.6" generator="circles bench/gen_city.py">\n'
        yield (
            f' <bounds minlat="{bounds[1]:.7f}" minlon="{bounds[0]:.7f}" '
            f'maxlat="{bounds[3]:.7f}" maxlon="{bounds[2]:.7f}"/>\n'
        )
        step = 200_000
        for a in range(0, len(lon), step):
            ids = range(a + 1, min(a + step, len(lon)) + 1)
            yield "".join(
                f' <node id="{i}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>\n'
                for i, la, lo in zip(ids, lat[a : a + step].tolist(), lon[a : a + step].tolist(), strict=True)
            )
        wstep = 50_000
        for a in range(0, n_street_ways, wstep):
            b = min(a + wstep, n_street_ways)
            nds = [f'  <nd ref="{r}"/>\n' for r in refs[way_off[a] : way_off[b]].tolist()]
            base = way_off[a]
            parts = []
            for w in range(a, b):
                parts.append(f' <way id="{w + 1}" version="1">\n')
                parts.append("".join(nds[way_off[w] - base : way_off[w + 1] - base]))
                parts.append(street_tags(int(way_first[w])))
                parts.append(" </way>\n")
            yield "".join(parts)
        for i, (nodes, tags) in enumerate(ex.ways):
            ids = [int(node_id[-r - 1]) if r < 0 else extra_base + r for r in nodes]
            yield f' <way id="{n_street_ways + i + 1}" version="1">\n'
            yield "".join(f'  <nd ref="{r}"/>\n' for r in ids)
            yield tags
            yield " </way>\n"
        yield "</osm>\n"

    out.mkdir(parents=True, exist_ok=True)
    chunks = list(_chunks_of(lines())) if len(formats) > 1 else _chunks_of(lines())
    for fmt in formats:
        if fmt == "osm":
            with open(out / "network.osm", "wb") as fh:
                for c in chunks:
                    fh.write(c)
        elif fmt == "bz2":
            with open(out / "network.osm.bz2", "wb") as fh, ThreadPoolExecutor(max(1, jobs)) as pool:
                window: list = []  # a few chunks in flight: memory stays bounded
                for c in chunks:
                    window.append(pool.submit(bz2.compress, c, 9))
                    if len(window) > 2 * max(1, jobs):
                        fh.write(window.pop(0).result())
                for f in window:
                    fh.write(f.result())
        else:
            raise ValueError(f"unknown OSM format {fmt!r}: bz2 or osm")
    return {
        "osm_nodes": int(len(lon)),
        "osm_ways": int(n_street_ways + len(ex.ways)),
        "street_ways": int(n_street_ways),
        "intermediate_nodes": n_inter,
        "nonwalk_junction_ids": [int(extra_base + j) for j in ex.junctions],
        "bounds": [round(b, 7) for b in bounds],
    }


# ------------------------------------------------------------------------------------------
# Communities, facilities, buildings
# ------------------------------------------------------------------------------------------


def _ring(xs: np.ndarray, ys: np.ndarray, origin: tuple[float, float]) -> list[list[float]]:
    lon, lat = to_lonlat(np.asarray(xs, float), np.asarray(ys, float), origin)
    pts = [[round(a, 7), round(b, 7)] for a, b in zip(lon.tolist(), lat.tolist(), strict=True)]
    return pts + [pts[0]]


def _write_geojson(path: Path, features: list[dict]) -> None:
    """A FeatureCollection, one feature per line (deterministic, NaN written as null)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for i, f in enumerate(features):
            fh.write(json.dumps(f, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
            fh.write(",\n" if i < len(features) - 1 else "\n")
        fh.write("]}\n")


def _split(n: int, rng: np.random.Generator) -> np.ndarray:
    """Band index of each of ``n`` tile rows (or columns): bands of 3-5, the last at least 3."""
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(*DISTRICT_SIDE)))
    sizes[-1] -= sum(sizes) - n
    i = len(sizes) - 2  # a short last band borrows from the ones before it
    while sizes[-1] < DISTRICT_SIDE[0] and i >= 0:
        if sizes[i] > DISTRICT_SIDE[0]:
            sizes[i] -= 1
            sizes[-1] += 1
        else:
            i -= 1
    if sizes[-1] < DISTRICT_SIDE[0] and len(sizes) > 1:
        last = sizes.pop()
        sizes[-1] += last
    return np.repeat(np.arange(len(sizes)), sizes)


def make_communities(
    rng: np.random.Generator,
    st: Streets,
    n: int,
    origin: tuple[float, float],
    prefix: str = "",
    districts: np.random.Generator | None = None,
) -> tuple[list[dict], list[np.ndarray]]:
    """Jittered 600 m tiles (shared corners and side midpoints, so no gap and no overlap),
    grouped into streets (街道) of 3-5 x 3-5 tiles (``districts`` draws their sizes).

    Returns the GeoJSON features and each tile's outline in local metres.
    """
    import shapely

    trows, tcols = st.tiles
    x0, y0 = st.core[0], st.core[1]
    px = (
        x0
        + COMMUNITY_M * np.arange(tcols + 1)[None, :]
        + rng.uniform(-1, 1, (trows + 1, tcols + 1)) * COMMUNITY_JITTER_M
    )
    py = (
        y0
        + COMMUNITY_M * np.arange(trows + 1)[:, None]
        + rng.uniform(-1, 1, (trows + 1, tcols + 1)) * COMMUNITY_JITTER_M
    )
    hm = rng.uniform(-25, 25, (trows + 1, tcols))  # bend of west-east sides (north-south offset)
    vm = rng.uniform(-25, 25, (trows, tcols + 1))
    rng_d = districts if districts is not None else rng
    rp, cpi = _split(trows, rng_d), _split(tcols, rng_d)
    district_of: dict[int, int] = {}
    pop = np.clip(rng.lognormal(math.log(7000), 0.45, n), 1500, 25000).round()
    hh_size = rng.uniform(2.5, 3.0, n)
    feats, outlines = [], []
    for kk in range(n):
        i, j = divmod(kk, tcols)
        i = trows - 1 - i  # numbered from the north-west corner
        xs = [px[i, j], (px[i, j] + px[i, j + 1]) / 2, px[i, j + 1], px[i, j + 1] + vm[i, j + 1], px[i + 1, j + 1]]
        xs += [(px[i + 1, j] + px[i + 1, j + 1]) / 2, px[i + 1, j], px[i, j] + vm[i, j]]
        ys = [py[i, j], (py[i, j] + py[i, j + 1]) / 2 + hm[i, j], py[i, j + 1], (py[i, j + 1] + py[i + 1, j + 1]) / 2]
        ys += [py[i + 1, j + 1], (py[i + 1, j] + py[i + 1, j + 1]) / 2 + hm[i + 1, j], py[i + 1, j]]
        ys += [(py[i, j] + py[i + 1, j]) / 2]
        outline = np.column_stack([xs, ys])
        outlines.append(outline)
        d = district_of.setdefault(int(rp[i] * tcols + cpi[j]), len(district_of))
        sw = STREET_WORDS[d % len(STREET_WORDS)] + ("" if d < len(STREET_WORDS) else str(d // len(STREET_WORDS) + 1))
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    "id": f"{prefix}C{kk + 1:04d}",
                    "name": f"{COMMUNITY_WORDS[kk % len(COMMUNITY_WORDS)]}社区-{kk + 1:03d}",
                    "population": int(pop[kk]),
                    "households": int(round(pop[kk] / hh_size[kk])),
                    "population_estimated": True,
                    "street": f"{sw}街道",
                },
                "geometry": {"type": "Polygon", "coordinates": [_ring(outline[:, 0], outline[:, 1], origin)]},
            }
        )
    bad = [f["properties"]["id"] for f, o in zip(feats, outlines, strict=True) if not shapely.Polygon(o).is_valid]
    if bad:  # cannot happen while the jitter stays well below the tile size
        raise ValueError(f"invalid community outlines: {', '.join(bad[:5])}")
    return feats, outlines


def _segments(st: Streets, k: np.ndarray, amp: np.ndarray):
    """Pieces of the walkable streets of the largest connected piece: (x0, y0, x1, y1)."""
    keep = st.lcc[st.u]
    px, py, off = edge_polylines(st, k, amp)
    s = np.ones(len(px), bool)
    s[off[1:] - 1] = False  # a piece starts at every point but an edge's last
    e = np.repeat(np.arange(len(st.u)), np.diff(off))
    s &= keep[e]
    i = np.flatnonzero(s)
    return px[i], py[i], px[i + 1], py[i + 1]


def _distance_to_segments(qx, qy, seg, tree, reach: float) -> np.ndarray:
    """Exact distance from each query point to the nearest piece within ``reach`` (else inf)."""
    x0, y0, x1, y1 = seg
    out = np.full(len(qx), np.inf)
    half = float(np.max(np.hypot(x1 - x0, y1 - y0))) / 2
    for i, near in enumerate(tree.query_ball_point(np.column_stack([qx, qy]), reach + half)):
        if not near:
            continue
        near = np.asarray(near)
        dx, dy = x1[near] - x0[near], y1[near] - y0[near]
        ll = np.maximum(dx * dx + dy * dy, 1e-12)
        t = np.clip(((qx[i] - x0[near]) * dx + (qy[i] - y0[near]) * dy) / ll, 0, 1)
        out[i] = float(np.min(np.hypot(x0[near] + t * dx - qx[i], y0[near] + t * dy - qy[i])))
    return out


def make_facilities(
    rng: np.random.Generator,
    st: Streets,
    seg,
    types: dict,
    per_type: int,
    origin: tuple[float, float],
    prefix: str = "",
) -> tuple[list[dict], list[str]]:
    """Facilities of every type, clustered unevenly near the streets; a few far from any street.

    Returns the GeoJSON features and the ids of the far ones (which circles must set aside).
    """
    from scipy.spatial import cKDTree

    x0s, y0s, x1s, y1s = seg
    mx, my = (x0s + x1s) / 2, (y0s + y1s) / 2
    tree = cKDTree(np.column_stack([mx, my]))
    cx0, cy0, cx1, cy1 = st.core
    core_lakes = st.lakes[
        (st.lakes[:, 0] > cx0) & (st.lakes[:, 0] < cx1) & (st.lakes[:, 1] > cy0) & (st.lakes[:, 1] < cy1)
    ]
    core_lakes = core_lakes[core_lakes[:, 2] - FAR_MIN_M - 20 > 10]
    feats: list[dict] = []
    far_ids: list[str] = []
    seq = 0
    for tname, ftype in types.items():
        short = ftype.name_zh.split("（")[0].split("(")[0]
        n_far = max(1, round(FAR_SHARE * per_type)) if per_type >= 3 else 0
        n_near = per_type - n_far
        # clusters: most in the community area, some anywhere; uneven weights and spreads
        n_cl = max(2, per_type // 20)
        in_core = rng.random(n_cl) < 0.85
        ccx = np.where(in_core, rng.uniform(cx0, cx1, n_cl), rng.uniform(0, st.width, n_cl))
        ccy = np.where(in_core, rng.uniform(cy0, cy1, n_cl), rng.uniform(0, st.height, n_cl))
        sig = rng.uniform(150, 900, n_cl)
        sizes = rng.multinomial(n_near, rng.dirichlet(np.full(n_cl, 0.6)))
        cl = np.repeat(np.arange(n_cl), sizes)
        qx = np.clip(ccx[cl] + rng.normal(0, 1, n_near) * sig[cl], 0, st.width)
        qy = np.clip(ccy[cl] + rng.normal(0, 1, n_near) * sig[cl], 0, st.height)
        _, near = tree.query(np.column_stack([qx, qy]))
        t = rng.uniform(0.1, 0.9, n_near)
        dx, dy = x1s[near] - x0s[near], y1s[near] - y0s[near]
        ln = np.maximum(np.hypot(dx, dy), 1e-9)
        side = rng.uniform(*NEAR_OFFSET_M, n_near) * rng.choice([-1.0, 1.0], n_near)
        fx = x0s[near] + t * dx - side * dy / ln
        fy = y0s[near] + t * dy + side * dx / ln
        # far: inside lakes of the community area, or outside the city
        far_x: list[float] = []
        far_y: list[float] = []
        for _ in range(50):
            if len(far_x) >= n_far:
                break
            m = 2 * (n_far - len(far_x))
            if len(core_lakes) and rng.random() < 0.67:
                lk = core_lakes[rng.integers(0, len(core_lakes), m)]
                a, rr = rng.uniform(0, 2 * np.pi, m), np.sqrt(rng.random(m)) * (lk[:, 2] - FAR_MIN_M - 20)
                cx, cy = lk[:, 0] + rr * np.cos(a), lk[:, 1] + rr * np.sin(a)
            else:
                a = rng.uniform(0, 2 * np.pi, m)
                d = rng.uniform(FAR_MIN_M + 100, FAR_MIN_M + 900, m)
                cx = np.clip(st.width / 2 + np.cos(a) * st.width, -d, st.width + d)
                cy = np.clip(st.height / 2 + np.sin(a) * st.height, -d, st.height + d)
            ok = _distance_to_segments(cx, cy, seg, tree, FAR_MIN_M) > FAR_MIN_M
            far_x += cx[ok].tolist()
            far_y += cy[ok].tolist()
        far_x, far_y = far_x[:n_far], far_y[:n_far]
        allx, ally = np.r_[fx, far_x], np.r_[fy, far_y]
        is_far = np.r_[np.zeros(n_near, bool), np.ones(len(far_x), bool)]
        order = rng.permutation(len(allx))
        allx, ally, is_far = allx[order], ally[order], is_far[order]
        lon, lat = to_lonlat(allx, ally, origin)
        size = np.where(
            rng.random(len(allx)) < 0.6,
            np.round(rng.lognormal(math.log(SIZE_M2.get(tname, DEFAULT_SIZE_M2)), 0.5, len(allx))),
            np.nan,
        )
        cap = CAPACITY.get(tname)
        capacity = (
            np.where(rng.random(len(allx)) < 0.5, np.maximum(1, rng.poisson(cap, len(allx))), -1)
            if cap
            else np.full(len(allx), -1)
        )
        polygon = (rng.random(len(allx)) < 0.4) & ~is_far if tname == "park" else np.zeros(len(allx), bool)
        pw, ph, pa = rng.uniform(60, 250, len(allx)), rng.uniform(60, 250, len(allx)), rng.uniform(0, np.pi, len(allx))
        for i in range(len(allx)):
            seq += 1
            fid = f"{prefix}F{seq:06d}"
            props: dict = {"id": fid, "name": f"{short}-{i + 1:04d}", "facility_type": tname}
            if capacity[i] >= 0:
                props["capacity"] = int(capacity[i])
            if polygon[i]:
                c, s = math.cos(pa[i]), math.sin(pa[i])
                hx = np.array([-1, 1, 1, -1]) * pw[i] / 2
                hy = np.array([-1, -1, 1, 1]) * ph[i] / 2
                ring = _ring(allx[i] + c * hx - s * hy, ally[i] + s * hx + c * hy, origin)
                geom = {"type": "Polygon", "coordinates": [ring]}
            else:
                if not np.isnan(size[i]):
                    props["size_m2"] = float(size[i])
                geom = {"type": "Point", "coordinates": [round(float(lon[i]), 7), round(float(lat[i]), 7)]}
            if is_far[i]:
                far_ids.append(fid)
            feats.append({"type": "Feature", "properties": props, "geometry": geom})
    return feats, far_ids


def make_buildings(
    rng: np.random.Generator, st: Streets, outlines: list[np.ndarray], origin: tuple[float, float], prefix: str = ""
) -> list[dict]:
    """Residential footprints (32 x 12 m slabs every 45 x 40 m inside each community, not in lakes)."""
    import shapely

    feats = []
    seq = 0
    for outline in outlines:
        poly = shapely.Polygon(outline)
        minx, miny, maxx, maxy = poly.bounds
        gx, gy = np.meshgrid(np.arange(minx + 30, maxx, 45.0), np.arange(miny + 25, maxy, 40.0))
        gx, gy = gx.ravel(), gy.ravel()
        inside = shapely.contains_xy(poly, gx, gy) & (rng.random(len(gx)) < 0.7)
        for cx, cy, r in st.lakes:
            inside &= np.hypot(gx - cx, gy - cy) > r + 20
        floors = rng.integers(6, 19, len(gx))
        for bx, by, fl in zip(gx[inside].tolist(), gy[inside].tolist(), floors[inside].tolist(), strict=True):
            seq += 1
            ring = _ring(
                np.array([bx - 16, bx + 16, bx + 16, bx - 16]), np.array([by - 6, by - 6, by + 6, by + 6]), origin
            )
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"id": f"{prefix}B{seq:07d}", "floor_area_m2": float(32 * 12 * fl)},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            )
    return feats


def _grid_residents(outlines: list[np.ndarray], spacing: float = GRID_SPACING_M) -> int:
    """Resident points circles places on its default grid (as circles.residents.grid_points)."""
    import shapely

    total = 0
    for o in outlines:
        poly = shapely.Polygon(o)
        minx, miny, maxx, maxy = poly.bounds
        gx, gy = np.meshgrid(np.arange(minx + spacing / 2, maxx, spacing), np.arange(miny + spacing / 2, maxy, spacing))
        total += max(1, int(shapely.contains_xy(poly, gx.ravel(), gy.ravel()).sum()))
    return total


# ------------------------------------------------------------------------------------------
# One city, many cities
# ------------------------------------------------------------------------------------------


def generate_city(
    out: str | Path,
    *,
    nodes: int,
    communities: int,
    per_type: int,
    seed: int = SEED,
    origin: tuple[float, float] = ORIGIN,
    buildings: bool = False,
    formats: tuple[str, ...] = ("bz2",),
    prefix: str = "",
    jobs: int = 1,
    preset: str | None = None,
) -> dict:
    """Generate one city into ``out``; return its summary (also written as ``city.json``).

    Parameters
    ----------
    out : path
        Folder (created).
    nodes : int
        Street junctions wanted after OSMnx's simplification (the walking network's nodes).
    communities : int
        Number of 600 m communities.
    per_type : int
        Facilities per facility type.
    seed : int
        Everything follows from it.
    origin : (lon, lat)
        South-west corner of the street grid.
    buildings : bool
        Also write ``buildings.geojson``.
    formats : tuple of {"bz2", "osm"}
        Which network files to write.
    prefix : str
        Prepended to community, facility and building ids (unique ids across a batch).
    jobs : int
        Threads compressing the ``.bz2``.
    preset : str, optional
        Recorded in ``city.json``.
    """
    from circles.rulebook import load_facility_types

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    st = streets_for(seed, nodes, communities)
    t_streets = time.perf_counter() - t0
    rng_bend, rng_extra, rng_comm, rng_fac, rng_bld = (np.random.default_rng([seed, i]) for i in range(2, 7))
    k, amp = _bends(rng_bend, st)
    ex = _extras(rng_extra, st)
    osm = write_osm(st, k, amp, ex, out, origin, formats=formats, jobs=jobs)
    t_osm = time.perf_counter() - t0 - t_streets
    comm, outlines = make_communities(rng_comm, st, communities, origin, prefix, np.random.default_rng([seed, 7]))
    _write_geojson(out / "communities.geojson", comm)
    seg = _segments(st, k, amp)
    types = load_facility_types()
    facs, far_ids = make_facilities(rng_fac, st, seg, types, per_type, origin, prefix)
    _write_geojson(out / "facilities.geojson", facs)
    files = [f"network.{'osm.bz2' if f == 'bz2' else 'osm'}" for f in formats]
    files += ["communities.geojson", "facilities.geojson"]
    n_bld = 0
    if buildings:
        blds = make_buildings(rng_bld, st, outlines, origin, prefix)
        _write_geojson(out / "buildings.geojson", blds)
        files.append("buildings.geojson")
        n_bld = len(blds)
    streets = sorted({f["properties"]["street"] for f in comm})
    summary = {
        "generator": "bench/gen_city.py",
        "generator_sha": generator_sha(),
        "preset": preset,
        "seed": seed,
        "origin": list(origin),
        "target_nodes": nodes,
        "grid": [st.rows, st.cols],
        "junctions": st.junctions,
        "street_edges_lcc": int(st.lcc[st.u].sum()),
        **osm,
        "extent_km": [round(st.width / 1000, 2), round(st.height / 1000, 2)],
        "communities": communities,
        "community_tiles": list(st.tiles),
        "streets": len(streets),
        "residents_grid40": _grid_residents(outlines),
        "lakes": len(st.lakes),
        "rivers": len(st.rivers),
        "facility_types": list(types),
        "per_type": per_type,
        "facilities": len(facs),
        "area_facilities": sum(f["geometry"]["type"] == "Polygon" for f in facs),
        "far_facility_ids": far_ids,
        "buildings": n_bld,
        "files": files,
    }
    with open(out / "city.json", "w", encoding="utf-8") as fh:
        json.dump(summary, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    summary["seconds"] = {
        "streets": round(t_streets, 2),
        "osm": round(t_osm, 2),
        "total": round(time.perf_counter() - t0, 2),
    }
    return summary


def generator_sha() -> str:
    """Hash of this file: a city generated by another version of it is regenerated by the benchmark."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def city_origins(k: int, width_km: float, height_km: float, origin: tuple[float, float] = ORIGIN) -> list[tuple]:
    """South-west corners of ``k`` cities on a lattice (4 per row) that never overlap."""
    lon0, lat0 = origin
    dlat = (height_km * 1000 + 5000) / M_PER_DEG_LAT
    dlon = (width_km * 1000 + 5000) / (M_PER_DEG_LAT * math.cos(math.radians(lat0 + 2)))
    return [(round(lon0 + (i % 4) * dlon, 4), round(lat0 - (i // 4) * dlat, 4)) for i in range(k)]


def generate_batch(out: str | Path, cities: int, **kw) -> Path:
    """``cities`` cities in ``out/city_01`` ... and ``out/cities.yaml`` for ``circles batch``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = kw.pop("seed", SEED)
    origin = kw.pop("origin", ORIGIN)
    fmt = kw.get("formats", ("bz2",))
    net = "network.osm.bz2" if "bz2" in fmt else "network.osm"
    origins: list[tuple] = []
    lines = [
        "# Synthetic cities written by bench/gen_city.py (paths relative to this file).",
        "defaults: {district_field: street, no_figures: true}   # any `circles run` option, long name with _ for -",
        "cities:",
    ]
    for i in range(cities):
        name = f"city_{i + 1:02d}"
        if not origins:  # the first city fixes the size of a lattice cell
            s = generate_city(out / name, seed=seed, origin=origin, prefix=f"{name}-", **kw)
            origins = city_origins(cities, *s["extent_km"], origin=origin)
        else:
            s = generate_city(out / name, seed=seed + i, origin=origins[i], prefix=f"{name}-", **kw)
        print(_one_line(name, s), flush=True)
        lines.append(
            f"  - {{name: {name}, boundaries: {name}/communities.geojson, "
            f"facilities: {name}/facilities.geojson, network: {name}/{net}}}"
        )
    path = out / "cities.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _one_line(name: str, s: dict) -> str:
    return (
        f"{name}: {s['junctions']:,} junctions ({s['osm_nodes']:,} OSM nodes, {s['osm_ways']:,} ways), "
        f"{s['extent_km'][0]} x {s['extent_km'][1]} km, {s['communities']} communities in {s['streets']} streets, "
        f"~{s['residents_grid40']:,} residents (40 m grid), {s['facilities']:,} facilities "
        f"({len(s['far_facility_ids'])} far), {s['seconds']['total']} s"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), help="city100k, city1m, city10k or tiny")
    ap.add_argument("--nodes", type=int, help="street junctions after simplification")
    ap.add_argument("--communities", type=int, help="number of 600 m communities")
    ap.add_argument("--per-type", type=int, help="facilities per facility type")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--origin", default=f"{ORIGIN[0]},{ORIGIN[1]}", help="LON,LAT of the south-west corner")
    ap.add_argument("--buildings", action="store_true", help="also write buildings.geojson")
    ap.add_argument("--osm", choices=["bz2", "osm", "both"], default="bz2", help="network file(s) to write")
    ap.add_argument("--cities", type=int, default=0, help="write K cities and cities.yaml into --out")
    ap.add_argument("--jobs", type=int, default=1, help="threads compressing the .bz2 (same bytes)")
    ap.add_argument("--out", type=Path, help="output folder (default bench/data/generated/<preset>)")
    a = ap.parse_args(argv)
    params = dict(PRESETS.get(a.preset or "", {}))
    for key in ("nodes", "communities", "per_type"):
        if getattr(a, key) is not None:
            params[key] = getattr(a, key)
    missing = [k for k in ("nodes", "communities", "per_type") if k not in params]
    if missing:
        ap.error(f"give --preset or all of --nodes, --communities, --per-type (missing {', '.join(missing)})")
    label = a.preset or f"city_n{params['nodes']}_c{params['communities']}_p{params['per_type']}"
    formats = {"bz2": ("bz2",), "osm": ("osm",), "both": ("bz2", "osm")}[a.osm]
    lon, lat = (float(v) for v in a.origin.split(","))
    kw = dict(params, seed=a.seed, origin=(lon, lat), buildings=a.buildings, formats=formats, jobs=a.jobs)
    if a.cities:
        out = a.out or GENERATED / f"batch_{label}_{a.cities}"
        path = generate_batch(out, a.cities, preset=a.preset, **kw)
        print(f"wrote {path}")
    else:
        out = a.out or GENERATED / label
        s = generate_city(out, preset=a.preset, **kw)
        print(_one_line(str(out), s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
