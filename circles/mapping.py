"""Folium/Leaflet maps of the results: communities, facilities, walking areas and residents.

Two kinds of map, written by :func:`write_maps`:

* the **overview** (``map.html``): every community coloured by how many items fail there (a
  sequential colour-blind-safe scale with its legend) and labelled with its name, a table of
  communities sorted worst first with a link to each community's map (and "map failed: …" if
  one could not be written), the selected item's facilities, walking area and — when the city
  is small enough — its residents;
* one map **per community** (``community_maps/<id>.html``): zoomed on it, its surroundings
  (facilities, walking areas and streets within reach), its residents and its full status
  table. They are written in parallel worker processes, can be limited to some communities
  (``community_maps``), and a failure in one is logged and listed, never losing the run.

Every map has one item selector (the rulebook's items, each with its one name and its threshold
as the rule states it): residents are coloured by their walk to that item relative to its
threshold (within / up to 2× / beyond, not covered ringed in black; grey without a ring where the
input has no data for it), and the facilities and the walking area shown follow it (one
5/10/15-minute choice). The layout fits a phone, a projector and a laptop: a compact header and
one sheet (legend, tables, layers) that starts collapsed at the bottom of a small screen and
sits at the side of a large one; popups fit the free part of the screen and open clear of the
panels. A tap on a resident lists its walk to every item. All text from the inputs (names, ids,
sources) is escaped.

With ``offline=True`` the HTML is self-contained (:func:`save_map` inlines Leaflet and, when
used, Leaflet.markercluster from the ``xstatic-*`` packages) and there are no tiles: the
walking network is the basemap. Online maps use OpenStreetMap tiles.
Gaode/Amap tiles are left out on purpose: they are in GCJ-02, shifted by a few hundred metres
from the WGS-84 data, which would put every resident and facility in the wrong street.

Large inputs: coordinates are sent as integer steps of 10⁻⁶ degree; geometries are simplified
for display (streets 2 m, walking areas 0.6 m so that a covered resident stays inside its drawn
area, boundaries 0.5 m); residents are drawn by one canvas layer; facilities are clustered above
:data:`CLUSTER_MIN` markers. The overview leaves out residents above
:data:`MAX_OVERVIEW_POINTS` points and streets or walking areas above their coordinate budgets
(the legend says so): the community maps have them.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import multiprocessing
import os
import re
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template

from ._arrays import unique_ints
from ._assets import read_asset
from ._display import (
    AREA_TOLERANCE_M,
    BOUNDARY_TOLERANCE_M,
    RESIDENT_CLASSES,
    STREET_TOLERANCE_M,
    Encoder,
    Prepared,
    chip,
    clip_simplify,
    community_file_name,
    gap_table,
    map_inputs,
    pick_rule,
    polygonal,
    prepare,
    text_colour,
)
from ._labels import (
    ATTRIBUTION,
    FACILITY_FIELDS,
    FAIL_COLOURS,
    FAILING_STATUSES,
    ICON_TEXT,
    LIVE_LABELS,
    MAP_LABELS,
    MINUTE_BINS,
    MINUTE_COLOURS,
    NONE_COLOUR,
    REACH_COLOURS,
    STATUS_COLOURS,
    STATUS_EN,
    STATUS_ORDER,
    STATUS_ZH,
    UNPLACED_COLOUR,
    status_name,
    threshold_text,
)
from ._safety import worker_context

log = logging.getLogger(__name__)

__all__ = [
    "ATTRIBUTION",
    "CLUSTER_MIN",
    "Extra",
    "FAIL_COLOURS",
    "MAX_OVERVIEW_POINTS",
    "MINUTE_BINS",
    "MINUTE_COLOURS",
    "NONE_COLOUR",
    "REACH_COLOURS",
    "STATUS_COLOURS",
    "UNPLACED_COLOUR",
    "inline_assets",
    "make_map",
    "result_map",
    "save_map",
    "write_maps",
]

#: Cluster the facility markers of a map when it has more than this many.
CLUSTER_MIN = 150
MAX_ZOOM = 19
#: Opening a map never zooms in further than this (a small community keeps its surroundings).
FIT_MAX_ZOOM = 17
#: Send resident point ids to the map (for the tooltip) up to this many points.
MAX_POINT_IDS = 20_000
#: The overview draws residents only up to this many points (the community maps always do).
MAX_OVERVIEW_POINTS = 20_000
#: The overview draws the streets / walking areas only up to this many coordinates.
MAX_OVERVIEW_STREET_COORDS = 400_000
MAX_OVERVIEW_AREA_COORDS = 300_000
#: A community's map shows streets, facilities and walking areas this far around it (metres) at
#: least (walking areas are cut with the same box as the streets; a piece left detached from every
#: facility of its type by the cut is dropped).
MIN_REACH_M = 1050.0
#: A community's map shows facilities up to twice their type's threshold and this margin around it.
FACILITY_MARGIN_M = 150.0
#: A community's map opens on it with at least this margin (metres) around it.
FOCUS_MARGIN_M = 120.0
#: Width in pixels of the picture of the streets on the overview of a city with too many to draw as lines.
STREET_RASTER_PX = 2048
#: Write community maps in worker processes from this many maps on (``workers=None``).
PARALLEL_MIN_MAPS = 16
#: With ``community_maps="auto"`` (the default) every community gets its own map up to this
#: many communities; a whole city gets the overview only, and the maps it asks for
#: (``"all"`` or ids): 2,000 maps took seven minutes and gigabytes. A usability choice.
AUTO_COMMUNITY_MAPS = 100
MAX_WORKERS = 8
#: Road name labels: one per this many metres of a named street; at most this many per map.
ROAD_LABEL_EVERY_M = 350.0
MAX_ROAD_LABELS = 4000

_LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
_LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"
_CLUSTER_CDN = "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.4.1/"


# --------------------------------------------------------------------------------------------
# Folium elements
# --------------------------------------------------------------------------------------------


def _js(obj: Any) -> str:
    """JSON safe inside a <script> element: nothing in it can end the script (``</``) or open
    a comment (``<!``), the only ways text can leave a script element's raw text."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("</", "<\\/").replace("<!", "\\u003c!").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


class _Literal(Element):
    """Text placed in the page as it is, never read as a template."""

    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


class _Macro(MacroElement):
    """A MacroElement whose output is never read as a template again.

    Folium's ``MacroElement.render`` wraps what a macro produced in ``Element(text)``, which
    compiles that text as a Jinja template and renders it a second time: a community named
    ``{{ 7*7 }}`` would come out as "49", and Jinja syntax in the inputs would run in the
    Python process that writes the map. Here the output goes into the page literally.
    """

    def render(self, **kwargs):
        figure = cast(Figure, self.get_root())
        for part in ("header", "html", "script"):
            macro = self._template.module.__dict__.get(part)
            if macro is not None:
                getattr(figure, part).add_child(_Literal(macro(self, kwargs)), name=self.get_name())
        for _, element in self._children.items():
            element.render(**kwargs)


class _Setup(JSCSSMixin, _Macro):
    """The map's CSS and JavaScript, panes, attribution, scale bar and zoom buttons."""

    _template = Template("""
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
        {% macro script(this, kwargs) %}{{ this.js }}
        circles.setup({{ this._parent.get_name() }}, {{ this.opts }});
        {% endmacro %}
    """)

    def __init__(self, css: str, opts: dict, cluster: bool):
        super().__init__()
        self._name = "CirclesSetup"
        self.css, self.js, self.opts = css, read_asset("map.js") + read_asset("live.js"), _js(opts)
        self.default_js = [("leaflet_markercluster", _CLUSTER_CDN + "leaflet.markercluster.js")] if cluster else []
        self.default_css = (
            [
                ("markercluster_css", _CLUSTER_CDN + "MarkerCluster.css"),
                ("markercluster_default_css", _CLUSTER_CDN + "MarkerCluster.Default.css"),
            ]
            if cluster
            else []
        )


class _App(_Macro):
    """Every layer, the header and the sheet (one call with the map's data)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        circles.app({{ this._parent.get_name() }}, {{ this.data }}, {{ this.opts }});
        {% endmacro %}
    """)

    def __init__(self, data: dict, opts: dict):
        super().__init__()
        self._name = "CirclesApp"
        self.data, self.opts = _js(data), _js(opts)


@dataclass
class Extra:
    """What a what-if or siting map adds to a results map.

    ``title``, ``legend`` and the tabs' ``html`` are HTML whose input text the caller escaped;
    ``marks`` are groups of points: ``{"name", "kind": "ring"|"pin"|"num"|"dot"|"area", "colour",
    "byRule" (optional: shown only with that item), "items": [[lat, lon, label, hover title, popup
    HTML, rule id]]}``; an ``area`` item adds its rings (``[[[lat, lon], …], …]``) as a seventh
    element, drawn as a walking area around the point.
    """

    title: str | None = None
    legend: str = ""
    tabs: list[dict] = field(default_factory=list)
    marks: list[dict] = field(default_factory=list)
    rule: str | None = None
    tab: str | None = None
    page_title: str | None = None


# --------------------------------------------------------------------------------------------
# Building one map
# --------------------------------------------------------------------------------------------


def _icon_text(t: str, p: Prepared) -> str:
    if t in ICON_TEXT:
        return ICON_TEXT[t][0 if p.lang == "zh" else 1]
    name = p.names.get(t) or t
    return name[:1] if p.lang == "zh" else name[:2]


def _bounds_js(b) -> list[float]:
    return [round(float(v), 6) for v in b]


def _area_text(minutes: float, distance: float, lang: str) -> str:
    if abs(minutes - round(minutes)) < 1e-6:
        return threshold_text(float(minutes), float(distance), False, lang)
    return threshold_text(float(minutes), float(distance), True, lang)


def _merge(pieces: list):
    """The union of polygon pieces (None when there are none); on failure the pieces as they are."""
    pieces = [g for g in pieces if g is not None and not g.is_empty]
    if len(pieces) <= 1:
        return pieces[0] if pieces else None
    try:
        return polygonal(shapely.union_all(np.asarray(pieces, dtype=object)))
    except Exception as exc:  # GEOS topology errors: draw the pieces with their seams
        log.warning("walking-area pieces could not be merged (%s)", exc)
        return shapely.MultiPolygon([q for g in pieces for q in shapely.get_parts(g)])


def _attached(area, p: Prepared, ftype: str):
    """The parts of a (clipped) walking area of ``ftype`` that touch a facility of that type: a
    part the cut left detached from every facility would float with nothing to explain it."""
    if area is None or area.is_empty:
        return None
    sel = p.fac["facility_type"].to_numpy() == ftype
    if not sel.any():
        return None
    own = [g for g in p.fac_areas[sel] if g is not None] + list(p.fac.geometry.values[sel])
    parts = shapely.get_parts(area)
    tree = shapely.STRtree(np.asarray(own, dtype=object))
    hit = unique_ints(tree.query(parts, predicate="dwithin", distance=1.0)[0])
    if not len(hit):
        return None
    return shapely.union_all(parts[hit]) if len(hit) > 1 else parts[hit[0]]


def _n_coords(geoms) -> int:
    """Coordinates of ``geoms`` (None counts 0)."""
    return int(shapely.get_num_coordinates(np.asarray(geoms, dtype=object)).sum()) if len(geoms) else 0


def _to_lonlat(p: Prepared, pts) -> np.ndarray:
    s = gpd.GeoSeries(pts, crs=p.metric).to_crs("EPSG:4326")
    return np.column_stack([s.x.to_numpy(), s.y.to_numpy()])


def _road_labels(p: Prepared, keep: np.ndarray) -> list[list]:
    """One label per :data:`ROAD_LABEL_EVERY_M` of each named street: [lat, lon, name, '', angle]."""
    st = p.streets[keep]
    st = st[st["name"] != ""]
    if not len(st):
        return []
    pts, names, angles = [], [], []
    for name, grp in st.groupby("name", sort=True):
        merged = shapely.line_merge(shapely.multilinestrings(shapely.get_parts(grp.geometry.values)))
        for line in shapely.get_parts(merged):
            length = line.length
            if length < 60:
                continue
            k = max(1, int(length // ROAD_LABEL_EVERY_M))
            for f in (np.arange(k) + 0.5) / k:
                a = line.interpolate(max(0.0, f * length - 5))
                b = line.interpolate(min(length, f * length + 5))
                ang = -np.degrees(np.arctan2(b.y - a.y, b.x - a.x))
                ang = (ang + 90) % 180 - 90  # never upside down
                pts.append(line.interpolate(f * length))
                names.append(str(name))
                angles.append(round(float(ang), 1))
        if len(pts) >= MAX_ROAD_LABELS:
            break
    ll = _to_lonlat(p, pts)
    return [[round(float(y), 6), round(float(x), 6), n, "", a] for (x, y), n, a in zip(ll, names, angles, strict=True)]


def _rule_opts(p: Prepared, focus: str | None) -> list[dict]:
    ml = MAP_LABELS[p.lang]
    out = []
    for r in p.rules:
        st = p.rule_status.get(r.id, {})
        if r.id in p.no_data_rules:
            st = dict.fromkeys(st, "no_data")
        if focus is not None:
            s = p.rule_status.get(r.id, {}).get(str(focus), "no_data")
            nodata = "all" if st.get(str(focus), "no_data") == "no_data" else ""
            note = status_name(s, p.lang)
        else:
            vals = list(st.values())
            n_nd = sum(1 for v in vals if v == "no_data")
            nodata = "all" if vals and n_nd == len(vals) else ("some" if n_nd else "")
            if not vals:
                nodata = "all"
            n_fail = sum(1 for v in vals if v in FAILING_STATUSES)
            note = ml["status_n"].format(n=n_fail) if n_fail else ""
        out.append(
            {
                "id": r.id,
                "type": r.type,
                "name": r.name,
                "text": r.text,
                "thrM": round(r.thr_m, 3),
                "thrMin": round(r.thr_min, 4),
                "inM": r.in_metres,
                "speed": r.speed,
                "nodata": nodata,
                "note": note,
            }
        )
    return out


def _fail_legend(p: Prepared) -> str:
    ml = MAP_LABELS[p.lang]
    sep = "、" if p.lang == "zh" else ", "
    head = ml["fails"].format(statuses=sep.join(status_name(s, p.lang) for s in FAILING_STATUSES))
    cells = []
    for (lo, hi), colour in zip(p.fail_ranges, FAIL_COLOURS, strict=False):
        txt = f"{lo}" if lo == hi else f"{lo}–{hi}"
        cells.append(
            f'<span><span class="circles-sw" style="background:{colour};border:1px solid #4d4d4d"></span>{txt}</span>'
        )
    return f'<div class="circles-lh">{html.escape(head)}</div><div class="circles-scale">{"".join(cells)}</div>'


def _status_table(p: Prepared, links: dict[str, str], failed: dict[str, str]) -> str:
    ml, lab = MAP_LABELS[p.lang], p.lab
    counts = p.gaps.groupby(["community_id", "status"]).size().unstack(fill_value=0)
    shown = [s for s in STATUS_ORDER if s in counts.columns]
    comm = p.comm.assign(
        _gap=[int(counts.loc[c, "gap"]) if "gap" in counts.columns and c in counts.index else 0 for c in p.comm["id"]],
        _i=np.arange(len(p.comm)),
    )
    order = comm.sort_values(["fails", "_gap", "name", "id"], ascending=[False, False, True, True], kind="stable")
    head = "".join(f'<th class="n">{chip(s, p.lang)}</th>' for s in shown)
    trs = []
    for _, r in order.iterrows():
        c = counts.loc[r["id"]] if r["id"] in counts.index else pd.Series(dtype=int)
        link = links.get(r["id"])
        a = f' <a href="{html.escape(link)}" title="{html.escape(lab["open_map"])}">↗</a>' if link else ""
        why = failed.get(r["id"])
        warn = f'<div class="circles-warn">{html.escape(ml["map_failed"].format(why=why))}</div>' if why else ""
        b = p.comm_bounds4326[int(r["_i"])]
        data_b = f" data-b='{_js(_bounds_js(b))}'" if np.isfinite(b).all() else ""
        trs.append(
            f"<tr{data_b}><td>"
            f'<span class="circles-sw" style="background:{FAIL_COLOURS[int(r["fail_class"])]};'
            f'border:1px solid #4d4d4d"></span>{html.escape(str(r["name"]))}{a}{warn}</td>'
            f'<td class="n"><b>{int(r["fails"])}</b></td>'
            + "".join(f'<td class="n">{int(c.get(s, 0))}</td>' for s in shown)
            + "</tr>"
        )
    return (
        f'<table class="circles-status"><tr><th>{html.escape(lab["community"])}</th>'
        f'<th class="n">{html.escape(ml["failing"])}</th>{head}</tr>{"".join(trs)}</table>'
    )


@dataclass
class _View:
    """What one map shows: the overview (``focus`` None) or one community's surroundings."""

    p: Prepared
    focus: str | None
    fi: int | None  # the community's row, None for the overview
    box: tuple[float, float, float, float] | None  # metric box of what a community's map draws
    bounds: np.ndarray  # WGS-84 bounds of the communities shown
    enc: Encoder
    notes: dict[str, str] = field(default_factory=dict)  # what was left out, and why

    def in_box(self, bx: np.ndarray) -> np.ndarray:
        """Which of the metric bounds ``bx`` (n, 4) meet the box (all without one)."""
        box = self.box
        if box is None:
            return np.ones(len(bx), bool)
        return (bx[:, 2] >= box[0]) & (bx[:, 0] <= box[2]) & (bx[:, 3] >= box[1]) & (bx[:, 1] <= box[3])


def _view(p: Prepared, focus: str | None) -> _View:
    """Step 1: the community shown (checked), the box drawn around it and the coordinate origin."""
    comm = p.comm
    if focus is None:
        b = p.comm_bounds4326[np.isfinite(p.comm_bounds4326).all(axis=1)]
        bounds = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
        fi, box = None, None
    else:
        hits = np.flatnonzero(comm["id"].to_numpy() == str(focus))
        if not len(hits):
            raise ValueError(f"unknown community {focus!r}")
        fi = int(hits[0])
        geom = comm.geometry.iloc[fi]
        if geom is None:
            raise ValueError(f"community {focus!r} has no usable boundary")
        reach_m = max([r.thr_m for r in p.rules] + [MIN_REACH_M])
        fx0, fy0, fx1, fy1 = geom.bounds
        box = (fx0 - reach_m, fy0 - reach_m, fx1 + reach_m, fy1 + reach_m)
        bounds = p.comm_bounds4326[fi]
    origin = (int(np.floor(bounds[0] * 1e6)), int(np.floor(bounds[1] * 1e6)))
    return _View(p=p, focus=focus, fi=fi, box=box, bounds=bounds, enc=Encoder(p.metric, origin))


def _streets_layer(v: _View) -> tuple[list, dict | None, list]:
    """Step 2: the streets (the basemap offline; an image on a large overview) and their names."""
    p = v.p
    keep = v.in_box(p.streets_bounds)
    if not keep.any():
        return [], None, []
    n = _n_coords(p.streets.geometry.values[keep])
    if v.focus is None and n > MAX_OVERVIEW_STREET_COORDS:
        streets_img = _street_raster(p, p.streets.geometry.values[keep])
        v.notes["streets"] = "raster" if streets_img else "many"
        log.info("overview map: %d street coordinates, drawn as an image", n)
        return [], streets_img, []
    streets: list = []
    simple = clip_simplify(p.streets.geometry.values[keep], None, STREET_TOLERANCE_M, "street")
    pieces = [g for g in simple if g is not None]
    if pieces:
        merged = shapely.line_merge(shapely.multilinestrings(shapely.get_parts(np.asarray(pieces, dtype=object))))
        streets = v.enc.lines([merged])
    return streets, None, _road_labels(p, keep)


def _areas_layer(v: _View) -> dict[str, list[dict]]:
    """Step 3: walking areas per type, one entry per distance (a community's own areas when the
    run drew them per community), cut with the box of the streets, detached pieces dropped."""
    p, iso = v.p, v.p.iso
    if len(iso):
        if v.focus is not None:
            own = iso["community_id"].to_numpy() == str(v.focus)
            iso = iso[own] if own.any() else iso[pd.isna(iso["community_id"]).to_numpy()]
        else:
            shared = pd.isna(iso["community_id"]).to_numpy()
            iso = iso[shared] if shared.any() else iso
    areas: dict[str, list[dict]] = {}
    if not len(iso):
        return areas
    clipped = clip_simplify(iso.geometry.values, v.box, 0.0, "walking area")
    if v.focus is None and _n_coords(clipped) > MAX_OVERVIEW_AREA_COORDS:
        v.notes["areas"] = "many"
        log.info("overview map: walking areas too large, left to the community maps")
        return areas
    # one area per type and distance: pieces (tiles, several rows) merged, so that no seam is drawn
    iso = iso.assign(_d=np.round(iso["distance_m"].to_numpy(dtype=float), 1), _i=np.arange(len(iso)))
    groups = list(iso.groupby(["facility_type", "_d"], sort=True))
    merged = [_merge([clipped[i] for i in grp["_i"]]) for _, grp in groups]
    if v.box is not None:
        merged = [_attached(g, p, str(t)) for ((t, _d), _grp), g in zip(groups, merged, strict=True)]
    polys = v.enc.polygons(clip_simplify(merged, None, AREA_TOLERANCE_M, "walking area"))
    for ((t, d), grp), feat in zip(groups, polys, strict=True):
        if not feat:  # nothing left to draw: no button, no legend entry
            continue
        mins = float(grp["minutes"].iloc[0])
        areas.setdefault(str(t), []).append(
            {"m": round(mins, 4), "d": float(d), "t": _area_text(mins, float(d), p.lang), "g": [feat] if feat else []}
        )
    return areas


def _facilities_kept(v: _View) -> np.ndarray:
    """Step 4a: the facilities a map shows; a community's map those that could matter to it: up
    to twice the largest threshold of their type (the farthest class of its residents' dots) and
    a margin."""
    p, fac = v.p, v.p.fac
    fx, fy = (fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()) if len(fac) else (np.zeros(0), np.zeros(0))
    keep = v.in_box(np.column_stack([fx, fy, fx, fy]) if len(fac) else np.zeros((0, 4)))
    if v.fi is not None and len(fac):
        cx0, cy0, cx1, cy1 = p.comm.geometry.iloc[v.fi].bounds
        reach_of = {t: max([r.thr_m for r in p.rules if r.type == t] + [0.0]) for t in p.types}
        radius = np.array([2 * reach_of.get(t, 0.0) + FACILITY_MARGIN_M for t in fac["facility_type"]])
        keep &= (fx >= cx0 - radius) & (fx <= cx1 + radius) & (fy >= cy0 - radius) & (fy <= cy1 + radius)
    return keep


def _facilities_layer(v: _View, fac_keep: np.ndarray) -> tuple[dict[str, list], dict[str, list], dict[str, dict]]:
    """Step 4b: per type, the facilities' points (their popups are built, escaped, in the
    browser), the outlines of those that are areas, and the type's legend entry."""
    p, fac = v.p, v.p.fac
    fac_pts: dict[str, list] = {}
    fac_areas: dict[str, list] = {}
    types_opts: dict[str, dict] = {}
    for ti, t in enumerate(p.types):
        sel = fac_keep & (fac["facility_type"].to_numpy() == t)
        sub = fac[sel]
        types_opts[t] = {
            "name": p.names[t],
            "colour": p.colours[t],
            "i": ti,
            "icon": _icon_text(t, p),
            "n": int(sel.sum()),
            "aside": int((~sub["placed"].to_numpy(dtype=bool)).sum()),
        }
        if not sel.any():
            continue
        # [lat, lon, placed, name, id, source, capacity, size, footprint, set-aside reason]
        cols = ("name", "id", "source", "capacity", "size_m2", "area_m2", "reason")
        fac_pts[t] = [
            list(row)
            for row in zip(
                sub["lat"].astype(float),
                sub["lon"].astype(float),
                sub["placed"].astype(int),
                *(sub[c] for c in cols),
                strict=True,
            )
        ]
        ag = [g for g in p.fac_areas[sel] if g is not None]
        if ag:
            fa = v.enc.polygons(clip_simplify(ag, None, BOUNDARY_TOLERANCE_M, "facility area"))
            fac_areas[t] = [f for f in fa if f]
    return fac_pts, fac_areas, types_opts


def _residents_shown(v: _View, ml: dict) -> np.ndarray:
    """Step 5a: the resident points a map draws (a community's own; all on a small overview)."""
    p = v.p
    if v.focus is not None:
        return p.res["community_id"].to_numpy() == str(v.focus)
    if len(p.res) <= MAX_OVERVIEW_POINTS:
        return np.ones(len(p.res), bool)
    v.notes["residents"] = ml["many_residents"].format(n=len(p.res))
    return np.zeros(len(p.res), bool)


def _communities_layer(v: _View, res_sel: np.ndarray, ml: dict) -> tuple[list, list]:
    """Step 6: the community outlines with their popups, and their name labels (the community
    shown first, then the most failing items, then the largest)."""
    p, comm, fi = v.p, v.p.comm, v.fi
    if v.focus is not None:
        cb = shapely.bounds(np.asarray(comm.geometry.values, dtype=object))
        idx = np.flatnonzero(v.in_box(np.nan_to_num(cb, nan=np.inf)) & comm.geometry.notna().to_numpy())
    else:
        idx = np.flatnonzero(comm.geometry.notna().to_numpy())
    cpolys = v.enc.polygons(clip_simplify(comm.geometry.values[idx], None, BOUNDARY_TOLERANCE_M, "community boundary"))
    comm_data = []
    label_rows = []
    geoms = np.asarray(comm.geometry.values[idx], dtype=object)
    rep_ll = _to_lonlat(p, shapely.point_on_surface(geoms)) if len(idx) else np.zeros((0, 2))
    area = shapely.area(geoms) if len(idx) else np.zeros(0)
    for k, i in enumerate(idx):
        if not cpolys[k]:
            continue
        row = comm.iloc[i]
        fails = int(row["fails"])
        comm_data.append([cpolys[k], str(row["name"]), fails, int(row["fail_class"]), row["popup"], int(i == fi)])
        text = "" if res_sel.any() else ml["fails_n"].format(n=fails)
        label = [round(float(rep_ll[k, 1]), 6), round(float(rep_ll[k, 0]), 6), str(row["name"]), text, 0]
        label_rows.append((0 if i == fi else 1, -fails, -float(area[k]), k, label))
    return comm_data, [r[-1] for r in sorted(label_rows, key=lambda r: r[:4])]


def _residents_layer(v: _View, res_sel: np.ndarray) -> dict | None:
    """Step 5b: the resident points drawn (micro-degrees from a corner), their community, their
    distance to every type and their class per item (one character each)."""
    p, comm = v.p, v.p.comm
    if not res_sel.any():
        return None
    ll = p.res_lonlat[res_sel]
    x0, y0 = int(ll[:, 0].min()), int(ll[:, 1].min())
    cindex = {c: i for i, c in enumerate(comm["id"])}
    ccodes = np.array([cindex.get(c, -1) for c in p.res["community_id"].to_numpy()[res_sel]])
    cn = [str(n) for n in comm["name"]] + [""]
    ccodes = np.where(ccodes < 0, len(cn) - 1, ccodes)
    dists = {}
    for t in p.types:
        d = p.res_dist.get(t)
        if d is not None:
            dd = d[res_sel]
            dists[t] = np.where(np.isnan(dd), -1, np.round(np.nan_to_num(dd, nan=-1))).astype(np.int64).tolist()
    return {
        "x0": x0,
        "y0": y0,
        "x": (ll[:, 0] - x0).tolist(),
        "y": (ll[:, 1] - y0).tolist(),
        "c": ccodes.tolist(),
        "cn": cn,
        "id": p.res["point_id"].to_numpy()[res_sel].tolist() if res_sel.sum() <= MAX_POINT_IDS else None,
        "d": dists,
        "k": {rid: (cls[res_sel] + 48).astype(np.uint8).tobytes().decode("ascii") for rid, cls in p.res_class.items()},
    }


def _opening_bounds(v: _View, rule: str, fac_keep: np.ndarray, extra: Extra | None) -> np.ndarray:
    """Step 7: the view on opening: a community with its nearest facility of the item shown; the
    planned facilities and proposed sites in view."""
    bounds = _focus_view(v.p, v.fi, rule, fac_keep) if v.fi is not None else v.bounds
    pins = [it for g in (extra.marks if extra else []) if g.get("kind") != "ring" for it in g["items"]]
    if pins:
        lat = np.array([it[0] for it in pins], dtype=float)
        lon = np.array([it[1] for it in pins], dtype=float)
        bounds = np.array(
            [min(bounds[0], lon.min()), min(bounds[1], lat.min()), max(bounds[2], lon.max()), max(bounds[3], lat.max())]
        )
    return bounds


def _header(
    v: _View, ml: dict, links: dict[str, str], failed: dict[str, str] | None, overview_href: str | None, extra
) -> tuple[str, list[dict], str, str]:
    """Step 8: the title, the tabs (a community's status table, or the overview's table), the
    page title and the legend."""
    p, lab, lang = v.p, v.p.lab, v.p.lang
    if v.fi is not None:
        row = p.comm.iloc[v.fi]
        esc_href = html.escape(overview_href) if overview_href else ""
        back = f'<a href="{esc_href}" title="{html.escape(lab["overview"])}">←</a> ' if overview_href else ""
        fails = html.escape(ml["fails_n"].format(n=int(row["fails"])))
        title = f"{back}{html.escape(str(row['name']))} <small>{fails}</small>"
        sub = p.gaps[p.gaps["community_id"] == row["id"]]
        back_row = f'<p><a href="{esc_href}">{lab["overview"]}</a></p>' if overview_href else ""
        table = gap_table(sub, p.names, lab, lang, p.rule_by_id) + back_row
        tabs = [{"key": "community", "label": ml["tab_community"], "html": table}]
        page_title = f"{row['name']} · {lab['title']}"
    else:
        title = html.escape(lab["title"])
        tabs = [{"key": "table", "label": ml["tab_table"], "html": _status_table(p, links, failed or {})}]
        page_title = lab["title"]
    if extra is not None:
        title = extra.title or title
        tabs = tabs + extra.tabs
        page_title = extra.page_title or page_title
    legend = _fail_legend(p) + (extra.legend if extra else "")
    if v.notes.get("streets"):
        legend += f'<div class="circles-muted">{html.escape(_many_streets(lang, v.notes["streets"]))}</div>'
    legend += f'<div class="circles-muted">{ATTRIBUTION}</div>'
    return title, tabs, page_title, legend


def _page_labels(lab: dict, ml: dict, lang: str) -> dict:
    """Every word the page's script shows."""
    return {
        **{k: lab[k] for k in ("min",)},
        **ml,
        **{f"f_{k}": lab[k] for k in ("name", "type", "id", "source", "area", "set_aside", "unnamed")},
        "f_capacity": FACILITY_FIELDS["capacity"][0 if lang == "zh" else 1],
        "f_size": FACILITY_FIELDS["size_m2"][0 if lang == "zh" else 1],
        **LIVE_LABELS[lang],
        **{f"st_{k}": v for k, v in (STATUS_ZH if lang == "zh" else STATUS_EN).items()},
    }


def _folium_map(p: Prepared, data: dict, opts: dict, page_title: str, offline: bool, bounds: np.ndarray) -> folium.Map:
    """Step 9: the folium page: Leaflet alone (no CDN extras), the styles, the app and its data."""
    cy, cx = (bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2
    m = folium.Map(
        location=[float(cy), float(cx)],
        zoom_start=15,
        tiles=None,
        control_scale=False,
        prefer_canvas=False,
        zoom_control=False,
    )
    # only Leaflet itself: no jQuery/Bootstrap/awesome-markers from CDNs
    m.default_js = [("leaflet", _LEAFLET_JS)]
    m.default_css = [("leaflet_css", _LEAFLET_CSS)]
    css = read_asset("map.css") + "".join(
        f".cf-{i}{{background:{c};color:{text_colour(c)}}}" for i, c in enumerate(p.colours[t] for t in p.types)
    )
    root = cast(Figure, m.get_root())
    root.header.add_child(_Literal(f"<title>{html.escape(str(page_title))}</title>"), name="circles_title")
    _Setup(css, {"offline": offline, "attribution": ATTRIBUTION, "maxZoom": MAX_ZOOM}, opts["cluster"]).add_to(m)
    if not offline:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", attr=ATTRIBUTION, max_zoom=MAX_ZOOM).add_to(m)
    _App(data, opts).add_to(m)
    return m


def _build(
    p: Prepared,
    *,
    offline: bool,
    focus: str | None = None,
    links: dict[str, str] | None = None,
    overview_href: str | None = None,
    cluster_min: int = CLUSTER_MIN,
    failed: dict[str, str] | None = None,
    extra: Extra | None = None,
) -> folium.Map:
    """One map page from prepared layers: the steps above, then the page's data and options."""
    ml = MAP_LABELS[p.lang]
    v = _view(p, focus)
    streets, streets_img, roads = _streets_layer(v)
    areas = _areas_layer(v)
    fac_keep = _facilities_kept(v)
    fac_pts, fac_areas, types_opts = _facilities_layer(v, fac_keep)
    res_sel = _residents_shown(v, ml)
    comm_data, labels = _communities_layer(v, res_sel, ml)
    res_data = _residents_layer(v, res_sel)
    rule = (extra.rule if extra and extra.rule else None) or pick_rule(p, focus)
    bounds = _opening_bounds(v, rule, fac_keep, extra)
    title, tabs, page_title, legend = _header(v, ml, links or {}, failed, overview_href, extra)
    data = {
        "o": list(v.enc.origin),
        "streets": streets,
        "streetsImg": streets_img,
        "roads": roads,
        "comm": comm_data,
        "labels": labels,
        "fac": fac_pts,
        "facAreas": fac_areas,
        "areas": areas,
        "res": res_data,
        "marks": extra.marks if extra else [],
        "live": p.live.get("" if focus is None else str(focus)) if extra is None else None,
    }
    opts = {
        "title": title,
        "rules": _rule_opts(p, focus),
        "rule": rule,
        "types": types_opts,
        "dot": [REACH_COLOURS[k] for k in RESIDENT_CLASSES],
        "failColours": list(FAIL_COLOURS),
        "lab": _page_labels(p.lab, ml, p.lang),
        "tabs": tabs,
        "tab": extra.tab if extra else None,
        "legend": legend,
        "bounds": _bounds_js(bounds),
        "fitMaxZoom": FIT_MAX_ZOOM,
        "focus": focus is not None,
        "cluster": int(fac_keep.sum()) > cluster_min,
        "unplaced": bool((~p.res["placed"].to_numpy()[res_sel]).any()) if res_sel.any() else False,
        "noResidents": v.notes.get("residents"),
        "noAreas": ml["many_areas"] if v.notes.get("areas") else None,
        "street": {
            "color": "#8a8a8a" if offline else "#555",
            "weight": 1.6 if offline else 1.2,
            "opacity": 0.9 if offline else 0.5,
        },
    }
    return _folium_map(p, data, opts, page_title, offline, bounds)


def _focus_view(p: Prepared, fi: int, rule: str, fac_keep: np.ndarray) -> np.ndarray:
    """Opening view of a community's map (WGS-84 bounds): the community with a margin, and the
    facility of the item shown that is nearest to it (when it is within the map)."""
    geom = p.comm.geometry.iloc[fi]
    x0, y0, x1, y1 = geom.bounds
    margin = max(FOCUS_MARGIN_M, 0.25 * max(x1 - x0, y1 - y0))
    box = [x0 - margin, y0 - margin, x1 + margin, y1 + margin]
    rv = p.rule_by_id.get(rule)
    if rv is not None and len(p.fac):
        sel = fac_keep & (p.fac["facility_type"].to_numpy() == rv.type)
        if sel.any():
            d = shapely.distance(geom, np.asarray(p.fac.geometry.values[sel], dtype=object))
            near = p.fac.geometry.values[sel][int(np.argmin(d))]
            box = [
                min(box[0], near.x - 60),
                min(box[1], near.y - 60),
                max(box[2], near.x + 60),
                max(box[3], near.y + 60),
            ]
    ll = _to_lonlat(p, shapely.points([(box[0], box[1]), (box[2], box[3]), (box[0], box[3]), (box[2], box[1])]))
    return np.array([ll[:, 0].min(), ll[:, 1].min(), ll[:, 0].max(), ll[:, 1].max()])


def _many_streets(lang: str, how: str) -> str:
    if how == "raster":
        return (
            "总览图的步行路网为图片（放大后不清晰），街道细节请打开各社区图。"
            if lang == "zh"
            else "The overview draws the walking network as a picture: open a community's map for street detail."
        )
    return (
        "步行路网较大，总览图不显示，请打开各社区图查看。"
        if lang == "zh"
        else "The walking network is too large for the overview: open a community's map."
    )


#: The street picture's line: its colour, its width in pixels (0.7 pt at 100 dpi, as the
#: matplotlib drawing it replaced) and the length in pixels between the points it is sampled at.
STREET_RASTER_RGB = (0x8A, 0x8A, 0x8A)
STREET_RASTER_WIDTH_PX = 0.97
STREET_RASTER_STEP_PX = 0.5
#: Opacity levels of the picture (a 16-entry palette, one grey) and segments drawn per pass.
STREET_RASTER_LEVELS = 16
STREET_RASTER_CHUNK = 1_000_000


def line_coverage(a: np.ndarray, b: np.ndarray, width: int, height: int) -> np.ndarray:
    """How much of each pixel the segments ``a[i]``–``b[i]`` cover (0–1), anti-aliased.

    ``a`` and ``b`` are (n, 2) pixel positions (x right, y down; pixel (i, j) spans [i, i+1) ×
    [j, j+1)). Each segment is sampled every :data:`STREET_RASTER_STEP_PX` or closer, each
    sample carries the length it stands for and is shared bilinearly between the four
    pixel centres around it; a pixel's cover is that length times the line width
    (:data:`STREET_RASTER_WIDTH_PX`), at most 1. Segments are drawn
    :data:`STREET_RASTER_CHUNK` at a time so the samples never take more memory than that.
    """
    acc = np.zeros(width * height)
    for lo in range(0, len(a), STREET_RASTER_CHUNK):
        pa, pb = a[lo : lo + STREET_RASTER_CHUNK], b[lo : lo + STREET_RASTER_CHUNK]
        d = pb - pa
        length = np.hypot(d[:, 0], d[:, 1])
        n = np.maximum(1, np.ceil(length / STREET_RASTER_STEP_PX)).astype(np.int64)
        seg = np.repeat(np.arange(len(pa)), n)
        k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        t = (k + 0.5) / n[seg]
        fx = pa[seg, 0] + d[seg, 0] * t - 0.5
        fy = pa[seg, 1] + d[seg, 1] * t - 0.5
        weight = (length / n)[seg]
        ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        ax, ay = fx - ix, fy - iy
        for dx, dy, share in (
            (0, 0, (1 - ax) * (1 - ay)),
            (1, 0, ax * (1 - ay)),
            (0, 1, (1 - ax) * ay),
            (1, 1, ax * ay),
        ):
            x, y = ix + dx, iy + dy
            ok = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            acc += np.bincount(y[ok] * width + x[ok], weights=(weight * share)[ok], minlength=width * height)
    return np.minimum(acc * STREET_RASTER_WIDTH_PX, 1.0).reshape(height, width)


def _street_raster(p: Prepared, geoms) -> dict | None:
    """The streets as one transparent PNG in Web Mercator (what Leaflet stretches an image in),
    for an overview whose streets are too many to send as lines: {"url": data URI, "b": bounds}.

    Drawn with :func:`line_coverage` (numpy): a grey line whose opacity is the share of each
    pixel it covers, in :data:`STREET_RASTER_LEVELS` levels.
    """
    import io

    from PIL import Image
    from pyproj import Transformer

    try:
        xy, idx = shapely.get_coordinates(np.asarray(geoms, dtype=object), return_index=True)
        if not len(xy):
            return None
        mx, my = Transformer.from_crs(p.metric, "EPSG:3857", always_xy=True).transform(xy[:, 0], xy[:, 1])
        x0, y0, x1, y1 = float(mx.min()), float(my.min()), float(mx.max()), float(my.max())
        side = max(x1 - x0, y1 - y0)
        w = max(64, int(round(STREET_RASTER_PX * (x1 - x0) / side)))
        h = max(64, int(round(STREET_RASTER_PX * (y1 - y0) / side)))
        px = np.column_stack([(mx - x0) / (x1 - x0 or 1.0) * w, (y1 - my) / (y1 - y0 or 1.0) * h])
        same = idx[1:] == idx[:-1]  # consecutive points of one street
        cover = line_coverage(px[:-1][same], px[1:][same], w, h)
        levels = np.rint(cover * (STREET_RASTER_LEVELS - 1)).astype(np.uint8)
        img = Image.frombytes("P", (w, h), levels.tobytes())
        img.putpalette(list(STREET_RASTER_RGB) * STREET_RASTER_LEVELS)
        alpha = bytes(round(255 * k / (STREET_RASTER_LEVELS - 1)) for k in range(STREET_RASTER_LEVELS))
        out = io.BytesIO()
        img.save(out, format="PNG", optimize=True, transparency=alpha)
    except Exception as exc:  # the overview is drawn without streets rather than not at all
        log.warning("overview streets could not be drawn as an image (%s)", exc)
        return None
    corners = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (lon0, lon1), (lat0, lat1) = corners.transform([x0, x1], [y0, y1])
    return {
        "url": "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii"),
        "b": [[round(float(lat0), 6), round(float(lon0), 6)], [round(float(lat1), 6), round(float(lon1), 6)]],
    }


def make_map(
    *layers: Any,
    offline: bool = False,
    focus: str | None = None,
    overview_href: str | None = None,
    cluster_min: int = CLUSTER_MIN,
    extra: Extra | None = None,
    **inputs: Any,
) -> folium.Map:
    """Build the results map (the overview, or one community's map with ``focus``).

    Parameters
    ----------
    *layers, **inputs
        What :func:`circles._display.prepare` takes (by position or by name), as
        :func:`circles._display.map_inputs` gives them: ``communities``, ``facilities``,
        ``residents``, ``isochrones``, ``gaps``, ``streets`` (any CRS; a projected one is used
        for simplification); ``types`` (facility types to show, in order), ``type_names`` (type
        id -> (Chinese name, English name)), ``thresholds`` and ``speeds`` (type id -> minutes and
        m/min, for items when ``rules`` is None), ``lang`` ("zh" by default, or "en"), ``links``
        (community id -> relative URL of its own map, shown in the overview), ``rules`` (the
        rulebook's items; default one per type) and ``surveyed`` (types the input speaks about:
        an item of another type without facilities is drawn as "no data").
    offline : bool
        No tiles; the street network is the basemap (inline the assets with :func:`save_map`).
    focus : str, optional
        A community id: zoom on it, show its surroundings, its residents and its status table.
    overview_href : str, optional
        Link back to the overview, shown on a community's map.
    cluster_min : int
        Cluster the facility markers when the map has more than this many.
    extra : Extra, optional
        Title, tabs, legend and marks of a what-if or siting map.
    """
    inputs.setdefault("lang", "zh")
    p = prepare(*layers, **inputs)
    return _build(
        p,
        offline=offline,
        focus=focus,
        links=inputs.get("links"),
        overview_href=overview_href,
        cluster_min=cluster_min,
        extra=extra,
    )


def result_map(
    result, *, lang: str = "zh", offline: bool = True, focus: str | None = None, extra: Extra | None = None
) -> folium.Map:
    """The map of a :class:`circles.pipeline.Result`.

    Parameters
    ----------
    result : circles.pipeline.Result
    lang : {"zh", "en"}
    offline : bool
        No tiles (save with :func:`save_map` ``offline=True`` to inline Leaflet).
    focus : str, optional
        A community id: that community's map; default the overview.
    extra : Extra, optional
        What a what-if or siting map adds (title, tabs, legend rows, marks).

    Returns
    -------
    folium.Map
    """
    if focus is None or extra is not None:
        return make_map(**map_inputs(result), lang=lang, offline=offline, focus=focus, extra=extra)
    p = prepare(**map_inputs(result), lang=lang)
    p.live = live_payloads(result, p, [str(focus)])
    return _build(p, offline=offline, focus=focus)


def live_payloads(result, p: Prepared, ids: list[str], overview: bool = False) -> dict[str, dict]:
    """The live what-if payload (:mod:`circles._live`) of each community map in ``ids``: its
    walking graph with the engine's attachment of its residents (in the map's order) and of the
    facilities around it; with ``overview``, the overview's too (key ``""``: one community at a
    time). Empty after a partitioned run (no single graph)."""
    from ._live import community_payload, overview_payload

    if getattr(result, "access", None) is None:
        return {}
    comm_of = p.res["community_id"].astype(str).to_numpy()
    if len(p.res) != len(result.residents) or not np.array_equal(
        p.res["point_id"].astype(str).to_numpy(), result.residents["point_id"].astype(str).to_numpy()
    ):
        log.warning("live what-if left out: the map's residents are not the analysis' residents")
        return {}
    out: dict[str, dict] = {}
    if overview and len(p.res) <= MAX_OVERVIEW_POINTS:  # the overview draws every resident
        try:
            whole = overview_payload(result, np.arange(len(p.res)))
        except ValueError as exc:
            log.warning("live what-if left out of the overview: %s", exc)
            whole = None
        if whole is not None:
            out[""] = whole
    for cid in ids:
        try:
            payload = community_payload(result, cid, np.flatnonzero(comm_of == cid))
        except ValueError as exc:
            log.warning("live what-if left out of the map of community %s: %s", cid, exc)
            continue
        if payload is not None:
            out[cid] = payload
    return out


# --------------------------------------------------------------------------------------------
# Writing: the overview and the community maps (in parallel, failures listed)
# --------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(p: Prepared, offline: bool) -> None:
    _WORKER["p"], _WORKER["offline"] = p, offline


def _one_map(cid: str, path: str) -> tuple[str, str | None, int]:
    """Write one community's map; return (id, error or None, bytes). Never raises."""
    try:
        m = _build(_WORKER["p"], offline=_WORKER["offline"], focus=cid, overview_href="../map.html")
        out = save_map(m, path, offline=_WORKER["offline"])
        return cid, None, out.stat().st_size
    except Exception as exc:  # one community's map must never lose the run
        log.warning("map of community %s failed: %s: %s", cid, type(exc).__name__, exc, exc_info=True)
        return cid, f"{type(exc).__name__}: {exc}", 0


def _select_communities(ids: list[str], community_maps) -> list[str]:
    if community_maps == "auto":
        if len(ids) <= AUTO_COMMUNITY_MAPS:
            return list(ids)
        log.info(
            "%d communities, more than %d: the overview only; ask for community maps with "
            "--community-maps all or --community-maps ID,ID (community_maps= in write_maps)",
            len(ids),
            AUTO_COMMUNITY_MAPS,
        )
        return []
    if community_maps is None or community_maps is True or community_maps == "all":
        return list(ids)
    if community_maps is False or community_maps == "none":
        return []
    wanted = [s.strip() for s in community_maps.split(",")] if isinstance(community_maps, str) else list(community_maps)
    wanted = [str(w) for w in wanted if str(w)]
    unknown = [w for w in wanted if w not in set(ids)]
    if unknown:
        raise ValueError(f"unknown community id(s) for community maps: {', '.join(unknown)}")
    return [c for c in ids if c in set(wanted)]


def _write_community_maps(
    p: Prepared, jobs: list[tuple[str, Path]], offline: bool, workers: int | None, progress: bool
) -> dict[str, str | None]:
    """Write the maps of ``jobs`` ((community id, path) pairs); return id -> error (None: written)."""
    from tqdm.auto import tqdm

    n = len(jobs)
    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if n >= PARALLEL_MIN_MAPS else 1
    workers = max(1, min(int(workers), n)) if n else 1
    if workers > 1 and multiprocessing.current_process().daemon:
        # a daemonic process (a Dask worker running a city of a batch) may not start processes
        log.info("community maps written in this process (it may not start worker processes)")
        workers = 1
    done: dict[str, str | None] = {}
    bar = tqdm(total=n, desc="community maps", unit="map", disable=not progress)
    try:
        if workers > 1:
            try:
                with ProcessPoolExecutor(
                    max_workers=workers, mp_context=worker_context(), initializer=_init_worker, initargs=(p, offline)
                ) as ex:
                    futs = [ex.submit(_one_map, cid, str(path)) for cid, path in jobs]
                    for fut in as_completed(futs):
                        cid, err, _size = fut.result()
                        done[cid] = err
                        bar.update(1)
            except BrokenProcessPool as exc:  # a worker died (out of memory?): finish here
                log.warning("community map workers stopped (%s); writing the remaining maps in this process", exc)
        _init_worker(p, offline)
        for cid, path in jobs:
            if cid in done:
                continue
            done[cid] = _one_map(cid, str(path))[1]
            bar.update(1)
    finally:
        bar.close()
    return done


def write_maps(
    result,
    out_dir: str | Path,
    *,
    lang: str = "zh",
    offline: bool = True,
    community_maps: str | Iterable[str] | bool = "auto",
    workers: int | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Write the overview ``out_dir/map.html`` and the community maps in ``out_dir/community_maps/``.

    Parameters
    ----------
    result : circles.pipeline.Result
    out_dir : path
    lang : {"zh", "en"}
    offline : bool
        Self-contained maps (no tiles, Leaflet inlined).
    community_maps : "auto", "all", "none" or community ids (a list, or "ID,ID")
        Which communities get their own map; ``"auto"``: all of them up to
        :data:`AUTO_COMMUNITY_MAPS` communities, none above (the overview only).
    workers : int, optional
        Worker processes for the community maps (default: one per core from
        :data:`PARALLEL_MIN_MAPS` maps on, else in this process). Same files either way.
    progress : bool, optional
        Progress bar over the community maps (default: when stderr is a terminal).

    Returns
    -------
    list of Path
        The overview first, then the community maps written. A community map that failed is
        logged and listed in the overview's table ("map failed: …"); the run goes on.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kw = map_inputs(result)
    ids = [str(c) for c in result.communities["id"]]
    chosen = _select_communities(ids, community_maps)
    files: dict[str, str] = {}
    used: set[str] = set()
    for cid in ids:
        name = community_file_name(cid)
        stem, k = name[:-5], 1
        while name.lower() in used:
            k += 1
            name = f"{stem}_{k}.html"
        used.add(name.lower())
        if cid in chosen:
            files[cid] = name
    links = {cid: f"community_maps/{f}" for cid, f in files.items()}
    p = prepare(**kw, lang=lang, links=links)
    p.live = live_payloads(result, p, [cid for cid in ids if cid in files], overview=True)
    failed: dict[str, str] = {}
    written: list[Path] = []
    if files:
        folder = out / "community_maps"
        folder.mkdir(exist_ok=True)
        jobs = [(cid, folder / files[cid]) for cid in ids if cid in files]
        if progress is None:
            progress = sys.stderr.isatty()
        done = _write_community_maps(p, jobs, offline, workers, progress)
        for cid, path in jobs:
            if done.get(cid):
                failed[cid] = str(done[cid])
            else:
                written.append(path)
        if failed:
            log.warning("%d community map(s) failed: %s", len(failed), ", ".join(failed))
    ok_links = {cid: link for cid, link in links.items() if cid not in failed}
    if failed:  # no link to a map that is not there; the reason is listed instead
        p = prepare(**kw, lang=lang, links=ok_links)
        p.live = {}
    overview = save_map(_build(p, offline=offline, links=ok_links, failed=failed), out / "map.html", offline=offline)
    log.info("wrote the overview and %d community maps in %s", len(written), out)
    return [overview, *written]


# --------------------------------------------------------------------------------------------
# Saving (offline: Leaflet inlined)
# --------------------------------------------------------------------------------------------


def _asset_files() -> dict[str, Path]:
    """Local copies of the JS/CSS a map may reference, by file name."""
    from xstatic.pkg import leaflet as xl

    files = {"leaflet.js": Path(xl.BASE_DIR) / "leaflet.js", "leaflet.css": Path(xl.BASE_DIR) / "leaflet.css"}
    try:
        from xstatic.pkg import leaflet_markercluster as xm
    except ImportError:  # pragma: no cover - a dependency; only needed for clustered maps
        xm = None
    if xm is not None:
        base = Path(xm.BASE_DIR)
        for f in ("leaflet.markercluster.js", "MarkerCluster.css", "MarkerCluster.Default.css"):
            files[f] = base / f
    return files


def _inline_css(path: Path) -> str:
    css = path.read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        img = path.parent / match.group(1)
        if not img.exists():
            return match.group(0)
        return f"url(data:image/png;base64,{base64.b64encode(img.read_bytes()).decode()})"

    return re.sub(r"url\((images/[^)]+\.png)\)", data_uri, css)


@cache
def _inlined(name: str) -> str:
    files = _asset_files()
    if name.endswith(".css"):
        return "<style>" + _inline_css(files[name]) + "</style>\n"
    return "<script>" + files[name].read_text(encoding="utf-8").replace("</script", "<\\/script") + "</script>\n"


_REMOTE_SCRIPT = re.compile(r'<script\s+src="((?:https?:)?//[^"]+)"\s*>\s*</script>\s*')
_REMOTE_CSS = re.compile(r'<link\s+rel="stylesheet"\s+href="((?:https?:)?//[^"]+)"\s*/?>\s*')
_ANY_REMOTE = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["\']?(?:https?:)?//', re.I)


def inline_assets(page: str) -> str:
    """Replace the remote Leaflet (and markercluster) scripts and styles of ``page`` by their
    content from the ``xstatic-*`` packages; drop any other remote script or stylesheet."""
    files = _asset_files()

    def script(match: re.Match) -> str:
        name = match.group(1).rsplit("/", 1)[-1]
        if name in files:
            return _inlined(name)
        if "markercluster" in name:
            raise RuntimeError("offline clustered map: install xstatic-leaflet-markercluster")
        log.debug("offline map: dropped %s", match.group(1))
        return ""

    def style(match: re.Match) -> str:
        name = match.group(1).rsplit("/", 1)[-1]
        if name in files:
            return _inlined(name)
        log.debug("offline map: dropped %s", match.group(1))
        return ""

    page = _REMOTE_SCRIPT.sub(script, page)
    page = _REMOTE_CSS.sub(style, page)
    left = _ANY_REMOTE.search(page)
    if left:
        raise RuntimeError(f"offline map still references a remote resource: {left.group(0)}")
    return page


def _stable_ids(page: str) -> str:
    """Replace folium's random element ids by numbers in order of appearance (same map, same file)."""
    order: dict[str, str] = {}

    def sub(match: re.Match) -> str:
        return "_" + order.setdefault(match.group(1), f"{len(order):032x}")

    return re.sub(r"_([0-9a-f]{32})(?![0-9a-zA-Z])", sub, page)


def save_map(m: folium.Map, path: str | Path, offline: bool = False) -> Path:
    """Write the map's HTML. With ``offline`` the file needs no network at all."""
    path = Path(path)
    page = _stable_ids(m.get_root().render())
    if offline:
        page = inline_assets(page)
    path.write_text(page, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# The what-if map (data from circles.whatif, drawn here)
# --------------------------------------------------------------------------------------------


def _whatif_marks(diff: gpd.GeoDataFrame, ml: dict) -> list[dict]:
    """Rings around the residents whose coverage changes, shown with their own item only."""
    from ._labels import CHANGE_COLOURS

    marks: list[dict] = []
    if not len(diff):
        return marks
    d = diff.to_crs("EPSG:4326")
    for change, key in (("newly covered", "newly"), ("no longer covered", "lost")):
        sub = d[d["change"] == change]
        if len(sub):
            marks.append(
                {
                    "name": ml[key],
                    "kind": "ring",
                    "colour": CHANGE_COLOURS[key],
                    "byRule": True,
                    "items": [
                        [round(float(g.y), 6), round(float(g.x), 6), "", "", None, str(r)]
                        for g, r in zip(sub.geometry, sub["rule_id"], strict=True)
                    ],
                }
            )
    return marks


def _planned_pins(after, planned: pd.DataFrame, points: list, lang: str) -> list:
    """One pin per planned facility: its action's mark and its type's letter, shown with its type only."""
    from ._labels import LABELS, PLANNED_ICONS

    lab, ml = LABELS[lang], MAP_LABELS[lang]
    esc = html.escape
    rb = after.rulebook
    items = []
    for pl, pt in zip(planned.itertuples(index=False), points, strict=True):
        if pt is None:
            continue
        ftype = str(pl.facility_type)
        ft = rb.facility_types.get(ftype)
        tname = esc((ft.name_zh if lang == "zh" else ft.name_en) if ft is not None else ftype)
        letter = ICON_TEXT[ftype][0 if lang == "zh" else 1] if ftype in ICON_TEXT else ""
        attach = "" if pd.isna(pl.attach_m) else f"{pl.attach_m:.0f}"
        popup = (
            f"<b>{esc(str(pl.name) or tname)}</b><table>"
            f"<tr><td>{esc(lab['type'])}</td><td>{tname}</td></tr>"
            f"<tr><td>{esc(ml['planned'])}</td><td>{esc(ml['act_' + pl.action])}</td></tr>"
            f"<tr><td>{esc(ml['attach'])}</td><td>{attach}</td></tr>"
            f"<tr><td>{esc(ml['newly_n'])}</td><td>{pl.residents_newly_covered:.0f}</td></tr>"
            f"<tr><td>{esc(ml['lost_n'])}</td><td>{pl.residents_no_longer_covered:.0f}</td></tr></table>"
            + (f'<div class="circles-warn">{esc(pl.warning)}</div>' if pl.warning else "")
        )
        items.append(
            [
                round(float(pt.y), 6),
                round(float(pt.x), 6),
                PLANNED_ICONS.get(pl.action, "•") + letter,
                str(pl.name or tname),
                popup,
                ftype,
            ]
        )
    return items


def _whatif_tables(after, comparison: pd.DataFrame, planned: pd.DataFrame, lang: str) -> tuple[str, str, pd.DataFrame]:
    """The change table (whole people, newly and no longer covered) and the planned-facility table."""
    from ._labels import LABELS, rule_name

    lab, ml = LABELS[lang], MAP_LABELS[lang]
    esc = html.escape
    names = {r.id: rule_name(r, lang) for r in after.rulebook.rules}
    lost = comparison.get("residents_no_longer_covered", pd.Series(0.0, index=comparison.index)).fillna(0)
    changed = comparison[
        comparison["status_changed"] | (comparison["residents_newly_covered"].fillna(0) > 0.5) | (lost > 0.5)
    ]
    trs = []
    for r in changed.itertuples(index=False):
        newly = 0 if pd.isna(r.residents_newly_covered) else r.residents_newly_covered
        gone = getattr(r, "residents_no_longer_covered", 0)
        gone = 0 if pd.isna(gone) else gone
        trs.append(
            f'<tr data-rule="{esc(str(r.rule_id))}"><td>{esc(str(r.community_name))}</td>'
            f"<td>{esc(names.get(str(r.rule_id), str(r.rule_id)))}</td>"
            f"<td>{chip(str(r.status_current), lang) if isinstance(r.status_current, str) else ''} → "
            f"{chip(str(r.status_scenario), lang) if isinstance(r.status_scenario, str) else ''}</td>"
            f'<td class="n">{newly:.0f}</td><td class="n">{gone:.0f}</td></tr>'
        )
    changes = (
        f'<div class="circles-scroll"><table class="circles-changes"><tr><th>{esc(lab["community"])}</th>'
        f"<th>{esc(lab['item'])}</th><th>{esc(ml['before'])} → {esc(ml['after'])}</th>"
        f'<th class="n">{esc(ml["newly_n"])}</th><th class="n">{esc(ml["lost_n"])}</th></tr>'
        + "".join(trs)
        + "</table></div>"
        if trs
        else f"<p>{esc(ml['changes_none'])}</p>"
    )
    ptrs = "".join(
        f"<tr><td>{esc(str(r.name) or str(r.id))}</td>"
        f'<td>{esc(ml["act_" + r.action])}</td><td class="n">{"" if pd.isna(r.attach_m) else f"{r.attach_m:.0f}"}</td>'
        f'<td class="n">{r.residents_newly_covered:.0f}</td><td class="n">{r.residents_no_longer_covered:.0f}</td></tr>'
        + (f'<tr><td colspan="5" class="circles-warn">{esc(r.warning)}</td></tr>' if r.warning else "")
        for r in planned.itertuples(index=False)
    )
    planned_html = (
        f'<div class="circles-scroll"><table class="circles-planned"><tr><th>{esc(lab["name"])}</th>'
        f'<th>{esc(ml["planned"])}</th><th class="n">{esc(ml["attach"])}</th><th class="n">{esc(ml["newly_n"])}</th>'
        f'<th class="n">{esc(ml["lost_n"])}</th></tr>{ptrs}</table></div>'
    )
    return changes, planned_html, changed


def whatif_map(  # noqa: PLR0913 — both results, the scenario, its tables and the page options
    before,
    after,
    diff: gpd.GeoDataFrame,
    points: list,
    *,
    comparison: pd.DataFrame,
    planned: pd.DataFrame,
    lang: str = "zh",
    offline: bool = True,
    scenario_name: str = "",
) -> folium.Map:
    """The what-if map: the results after the scenario, the residents whose coverage changes
    ringed (for the selected item), the planned facilities (each with its type, shown with the
    items of its type), tables of the changes and of the planned facilities; every text from the
    inputs escaped.

    Parameters
    ----------
    before, after : circles.pipeline.Result
        Today and under the scenario.
    diff : GeoDataFrame
        :func:`circles.whatif.difference_layer`.
    points : list
        Where each planned facility is drawn (:func:`circles.whatif.planned_points`).
    comparison, planned : DataFrame
        :func:`circles.whatif.compare_gaps` and :func:`circles.whatif.planned_facilities`.
    lang : {"zh", "en"}
    offline : bool
    scenario_name : str
        Shown in the title.
    """
    from ._labels import CHANGE_COLOURS, PLANNED_ICONS

    ml = MAP_LABELS[lang]
    esc = html.escape
    rb = after.rulebook
    marks = _whatif_marks(diff, ml)
    items = _planned_pins(after, planned, points, lang)
    if items:
        marks.append(
            {"name": ml["planned"], "kind": "pin", "colour": CHANGE_COLOURS["add"], "byType": True, "items": items}
        )
    changes, planned_html, changed = _whatif_tables(after, comparison, planned, lang)
    gain = changed.groupby("rule_id")["residents_newly_covered"].sum() if len(changed) else pd.Series(dtype=float)
    rule = str(gain.idxmax()) if len(gain) and gain.max() > 0 else None
    if rule is None and len(planned):
        t = planned["facility_type"].iloc[0]
        rule = next((r.id for r in rb.rules if r.facility_type == t), None)
    legend = (
        f'<div class="circles-lh">{esc(ml["whatif_sub"])}</div>'
        f'<div><span class="circles-ring" style="border-color:{CHANGE_COLOURS["newly"]}"></span>'
        f"{esc(ml['newly'])}</div>"
        f'<div><span class="circles-ring" style="border-color:{CHANGE_COLOURS["lost"]}"></span>'
        f"{esc(ml['lost'])}</div>"
        f'<div><span class="circles-sw" style="background:{CHANGE_COLOURS["add"]}"></span>{esc(ml["planned"])}: '
        f"{PLANNED_ICONS['add']} {esc(ml['act_add'])} · {PLANNED_ICONS['remove']} {esc(ml['act_remove'])} · "
        f"{PLANNED_ICONS['resize']} {esc(ml['act_resize'])}</div>"
    )
    title = esc(ml["whatif_title"]) + (
        f" <small>{esc(ml['scenario'])}: {esc(scenario_name)}</small>" if scenario_name else ""
    )
    extra = Extra(
        title=title,
        legend=legend,
        tabs=[
            {"key": "changes", "label": ml["tab_changes"], "html": changes},
            {"key": "planned", "label": ml["tab_planned"], "html": planned_html},
        ],
        marks=marks,
        rule=rule,
        page_title=ml["whatif_title"],
    )
    return result_map(after, lang=lang, offline=offline, extra=extra)


# --------------------------------------------------------------------------------------------
# The site map (data from circles.siting, drawn here)
# --------------------------------------------------------------------------------------------


def _street_text(name: str, metres: float, ml: dict) -> str:
    """'xx路 · 35 米', or '35 米' without a name; never '（无名道路）(0 米)'."""
    dist = f"{metres:.0f} {ml['metres']}" if np.isfinite(metres) and metres >= 1 else ""
    if name:
        return f"{name} · {dist}" if dist else name
    return dist


def _lat_lon_rings(geom, crs) -> list[list[list[float]]]:
    """Every ring of a (multi)polygon in ``crs`` as [[lat, lon], …] (7 decimals)."""
    g = gpd.GeoSeries([geom], crs=crs).to_crs("EPSG:4326").iloc[0]
    rings = []
    for poly in getattr(g, "geoms", [g]):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            rings.append([[round(float(y), 7), round(float(x), 7)] for x, y in xy])
    return rings


def _site_reach(result, rule, sites: pd.DataFrame) -> tuple[list, np.ndarray]:
    """Each site's walking area within the rule's threshold (rings, [] when it meets no street)
    and, per resident point of today's result, whether a site newly covers it (beyond the
    threshold today, within it of a site: :func:`circles.siting.coverage`)."""
    from . import reach
    from .isochrones import isochrone_polygon
    from .siting import coverage

    net = result.network
    limit = result.rulebook.threshold_m(rule)
    max_attach = result.access.max_attach_m if result.access is not None else reach.DEFAULT_MAX_ATTACH_M
    pts = gpd.GeoSeries(gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326").to_crs(net.crs)
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    att = reach.attach_points(net, x, y, max_attach)
    graph = reach.split_graph(net, att)
    areas: list[list] = []
    for i in range(len(sites)):
        if graph.leaf[i] < 0:
            areas.append([])
            continue
        dist, _ = reach.nearest(graph, np.array([graph.leaf[i]]), limit)
        areas.append(_lat_lon_rings(isochrone_polygon(net, graph, dist, limit, max_attach_m=max_attach), net.crs))
    res = result.residents
    d = res[f"dist_{rule.facility_type}"].fillna(np.inf).to_numpy()
    todo = np.flatnonzero((d > limit + 1e-6) & res["placed"].to_numpy())
    newly = np.zeros(len(res), dtype=bool)
    if len(todo):
        cands = gpd.GeoDataFrame({"candidate_id": [str(i) for i in range(len(sites))]}, geometry=pts.values)
        cov = coverage(net, res.iloc[todo].to_crs(net.crs), cands, limit, max_attach)
        newly[todo[cov.reach.indices]] = True
    return areas, newly


def _site_marks(result, rule, sites: pd.DataFrame, items: list, ml: dict) -> list[dict]:
    """The site map's marks: walking areas, the resident points newly covered, the numbered sites."""
    from ._labels import CHANGE_COLOURS, SITE_COLOUR

    if not items:
        return []
    areas, newly = _site_reach(result, rule, sites)
    minutes = f"{result.rulebook.threshold_minutes(rule):g}"
    area_items = [[*it[:4], "", it[5], rings] for it, rings in zip(items, areas, strict=True) if rings]
    res = result.residents
    ll = res.loc[newly].geometry.to_crs("EPSG:4326")
    dots = [[round(float(pt.y), 7), round(float(pt.x), 7), "", "", "", rule.id] for pt in ll]
    marks = []
    if area_items:
        marks.append(
            {
                "name": ml["site_area"].format(minutes=minutes),
                "kind": "area",
                "colour": SITE_COLOUR,
                "byRule": True,
                "items": area_items,
            }
        )
    if dots:
        marks.append(
            {"name": ml["site_newly"], "kind": "dot", "colour": CHANGE_COLOURS["newly"], "byRule": True, "items": dots}
        )
    marks.append({"name": ml["site"], "kind": "num", "colour": SITE_COLOUR, "byRule": True, "items": items})
    return marks


def site_map(result, rule_id: str, sites: pd.DataFrame, *, lang: str = "zh", offline: bool = True) -> folium.Map:
    """The proposed sites over today's results for one item (:func:`circles.siting.site_map`).

    Each site is numbered in the table's order and named by the community it serves (hover title
    and popup); its popup gives its street and the residents it newly covers (whole people); the
    marks show with their own item only. No internal id is shown. Every text from the inputs is
    escaped.
    """
    from ._labels import rule_name

    ml = MAP_LABELS[lang]
    esc = html.escape
    rule = next(r for r in result.rulebook.rules if r.id == rule_id)
    item = rule_name(rule, lang)
    items, trs = [], []
    for k, r in enumerate(sites.itertuples(index=False), start=1):
        comm_name = str(r.community_name or r.community_id)
        street = _street_text(str(r.street_name or ""), float(r.street_m), ml)
        share = "" if pd.isna(r.covered_share_after) else f"{r.covered_share_after:.0%}"
        rows = [(ml["serves"], comm_name)]
        if street:
            rows.append((ml["street"], street))
        rows += [(ml["site_covered"], f"{r.residents_covered:.0f}"), (ml["site_share"], share)]
        popup = (
            f"<b>{esc(ml['site'])} {k} · {esc(comm_name)}</b><table>"
            + "".join(f"<tr><td>{esc(a)}</td><td>{esc(v)}</td></tr>" for a, v in rows)
            + "</table>"
        )
        items.append(
            [round(float(r.lat), 7), round(float(r.lon), 7), str(k), f"{ml['site']} {k} · {comm_name}", popup, rule_id]
        )
        trs.append(
            f"<tr><td>{k}</td><td>{esc(comm_name)}"
            + (f"<br><small>{esc(street)}</small>" if street else "")
            + f'</td><td class="n">{r.residents_covered:.0f}</td><td class="n">{share}</td></tr>'
        )
    table = (
        f'<div class="circles-scroll"><table class="circles-sites"><tr><th>{esc(ml["rank"])}</th>'
        f'<th>{esc(ml["serves"])}</th><th class="n">{esc(ml["site_covered"])}</th>'
        f'<th class="n">{esc(ml["site_share"])}</th></tr>{"".join(trs)}</table></div>'
    )
    marks = _site_marks(result, rule, sites, items, ml)
    legend = f'<div class="circles-lh">{esc(ml["site_sub"])}</div>' + "".join(
        f'<div><span class="circles-sw circles-sw-{g["kind"]}" style="background:{g["colour"]}"></span>'
        f"{esc(g['name'])}</div>"
        for g in reversed(marks)
    )
    focus = None
    served = {c for c in sites.get("community_id", pd.Series(dtype=str)) if c}
    if len(served) == 1 and next(iter(served)) in set(result.communities["id"].astype(str)):
        focus = next(iter(served))
    extra = Extra(
        title=esc(ml["site_title"].format(item=item)),
        legend=legend,
        tabs=[{"key": "sites", "label": ml["tab_sites"], "html": table}],
        marks=marks,
        rule=rule_id,
        tab="sites",
        page_title=ml["site_title"].format(item=item),
    )
    return result_map(result, lang=lang, offline=offline, focus=focus, extra=extra)
