"""Folium maps of the results: communities, facilities, walking areas and residents.

Two kinds of map, written by :func:`write_maps`:

* the **overview** (``map.html``): every community, coloured by its worst status, with a
  table of statuses and a link to each community's map;
* one map **per community** (``community_maps/<id>.html``): zoomed on it, its surroundings
  (facilities, walking areas and streets within reach), its residents and its full gap table.

Each map has: community boundaries (popup with the gap table), facilities by type (a coloured
letter icon, popup with name, type, source, size/capacity when known and why a facility was
set aside; clustered when there are many), 5/10/15-minute walking areas per type (toggleable),
resident points coloured by walking minutes to the type chosen in the map's selector (residents
beyond the type's threshold get a black ring; hovering shows the minutes, a click or tap on a
resident lists its minutes to every type), the walking network as a light layer, a legend,
a layer control, a metric scale bar and "© OpenStreetMap contributors". Labels are Chinese by
default (``lang="zh"``) or English.

With ``offline=True`` the HTML is self-contained (:func:`save_map` inlines Leaflet and, when
used, Leaflet.markercluster from the ``xstatic-*`` packages) and there are no tiles: the
walking network is the basemap. Online maps use OpenStreetMap tiles.
Gaode/Amap tiles are left out on purpose: they are in GCJ-02, shifted by a few hundred metres
from the WGS-84 data, which would put every resident and facility in the wrong street.

Large inputs: geometries are simplified for display (streets 2 m, walking areas 5 m,
boundaries 0.5 m) and rounded to 6 decimals (~0.1 m); residents are sent once as compact
integer arrays and drawn by one canvas layer (not one object per point); facilities are
clustered above :data:`CLUSTER_MIN` markers.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from jinja2 import Template

from ._assets import read_asset
from .gaps import STATUS_ZH

log = logging.getLogger(__name__)

ATTRIBUTION = "© OpenStreetMap contributors"
#: One colour per facility type (colour-blind-friendly first eight: Okabe–Ito).
TYPE_COLOURS = [
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#D55E00",
    "#0072B2",
    "#CC79A7",
    "#F0E442",
    "#000000",
    "#8C564B",
    "#17BECF",
    "#7F7F7F",
    "#BCBD22",
    "#9467BD",
    "#FF9896",
]
STATUS_COLOURS = {
    "gap": "#d73027",
    "undersized": "#f46d43",
    "partial": "#fdae61",
    "ok": "#1a9850",
    "no_data": "#999999",
    "to_assess": "#4575b4",
}
#: Worst first: a community's colour is the worst status among its rules.
STATUS_ORDER = ("gap", "undersized", "partial", "ok", "to_assess", "no_data")
#: Resident colour classes: walking minutes up to each bound, then beyond the last one.
MINUTE_BINS = (5, 10, 15, 30)
MINUTE_COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
NONE_COLOUR = "#542788"  # no facility of the type within the search limit
UNPLACED_COLOUR = "#bdbdbd"  # resident point that could not be attached to the network
#: Cluster the facility markers of a map when it has more than this many.
CLUSTER_MIN = 150
MAX_ZOOM = 19
#: Opening a map never zooms in further than this (a small community keeps its surroundings).
FIT_MAX_ZOOM = 17
#: Send resident point ids to the map (for the tooltip) up to this many points.
MAX_POINT_IDS = 20_000
#: Display simplification tolerances (metres).
STREET_TOLERANCE_M = 2.0
AREA_TOLERANCE_M = 5.0
BOUNDARY_TOLERANCE_M = 0.5
#: Decimals of longitude/latitude kept (6 ≈ 0.1 m).
COORD_DECIMALS = 6

#: Letter on each facility type's icon (Chinese, English); other types use their name's start.
ICON_TEXT = {
    "elderly_care": ("老", "El"),
    "childcare": ("托", "Ch"),
    "kindergarten": ("幼", "K"),
    "clinic": ("医", "+"),
    "community_service": ("服", "CS"),
    "food_market": ("菜", "M"),
    "convenience_store": ("便", "S"),
    "parcel_point": ("快", "Pa"),
    "car_parking": ("停", "P"),
    "ev_charging": ("充", "EV"),
    "ebike_charging": ("电", "eB"),
    "fitness": ("健", "F"),
    "park": ("园", "Pk"),
    "school_primary": ("小", "PS"),
    "school_middle": ("中", "MS"),
    "sports": ("体", "Sp"),
    "culture": ("文", "Cu"),
    "pharmacy": ("药", "Ph"),
}
#: Facility columns shown in the popup when present (column -> (Chinese, English) label).
FACILITY_FIELDS = {"capacity": ("容量", "capacity"), "size_m2": ("规模（平方米）", "size (m²)")}

LABELS = {
    "zh": {
        "title": "社区生活圈步行可达性",
        "communities": "社区边界",
        "facilities": "设施",
        "streets": "步行路网",
        "residents": "居民点（按所选设施步行时间着色）",
        "walk_area": "步行范围",
        "min": "分钟",
        "legend": "图例",
        "status": "状态",
        "item": "项目",
        "share": "覆盖",
        "median": "中位时间",
        "colour_by": "居民点着色依据",
        "uncovered": "黑圈：超出所选设施的步行阈值（不可达）",
        "none": "搜索范围内无此类设施",
        "unplaced": "未能接入步行路网",
        "type": "类型",
        "name": "名称",
        "id": "编号",
        "source": "来源",
        "area": "占地面积（平方米）",
        "set_aside": "未纳入计算",
        "population": "人口",
        "estimated": "（估算）",
        "community": "社区",
        "overview": "← 总览图",
        "open_map": "社区图",
        "status_table": "各社区状态",
        "gap_table": "生活圈配套状态",
        "threshold": "阈值",
        "boundary": "社区边界颜色 = 最差状态",
        "other": "其他社区",
        "areas_note": "步行范围（按设施类型、分钟，可在图层中开关）",
        "resident": "居民点",
        "colon": "：",
        "unnamed": "（未命名）",
        "beyond": "超出阈值",
        "nodata": "无数据（输入中无此类设施）",
    },
    "en": {
        "title": "Walking access to community facilities",
        "communities": "Communities",
        "facilities": "Facilities",
        "streets": "Walking network",
        "residents": "Residents (coloured by walk to the selected type)",
        "walk_area": "walking area",
        "min": "min",
        "legend": "Legend",
        "status": "Status",
        "item": "Item",
        "share": "covered",
        "median": "median",
        "colour_by": "Colour residents by",
        "uncovered": "black ring: beyond the selected type's threshold (not covered)",
        "none": "none of this type within reach",
        "unplaced": "not attached to the network",
        "type": "type",
        "name": "name",
        "id": "id",
        "source": "source",
        "area": "footprint (m²)",
        "set_aside": "set aside",
        "population": "population",
        "estimated": " (estimated)",
        "community": "community",
        "overview": "← overview",
        "open_map": "map",
        "status_table": "Status per community",
        "gap_table": "Facility status",
        "threshold": "threshold",
        "boundary": "boundary colour = worst status",
        "other": "other communities",
        "areas_note": "walking areas (per type and minutes, toggle them in the layers)",
        "resident": "resident",
        "colon": ": ",
        "unnamed": "(unnamed)",
        "beyond": "beyond threshold",
        "nodata": "no data (none of this type in the input)",
    },
}
STATUS_EN = {
    "ok": "ok",
    "partial": "partial",
    "gap": "gap",
    "undersized": "undersized",
    "no_data": "no data",
    "to_assess": "to assess",
}

_LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
_LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"
_CLUSTER_CDN = "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.4.1/"


# --------------------------------------------------------------------------------------------
# JavaScript and CSS of the map (written for this project; Leaflet 1.9 API only)
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Folium elements
# --------------------------------------------------------------------------------------------


def _js(obj: Any) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


class _Setup(JSCSSMixin, MacroElement):
    """The map's CSS and JavaScript, panes, attribution and scale bar (first child of the map)."""

    _template = Template("""
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
        {% macro script(this, kwargs) %}{{ this.js }}
        circles.setup({{ this._parent.get_name() }}, {{ this.opts }});
        {% endmacro %}
    """)

    def __init__(self, css: str, opts: dict, cluster: bool):
        super().__init__()
        self._name = "CirclesSetup"
        self.css, self.js, self.opts = css, read_asset("map.js"), _js(opts)
        self.default_js = [("leaflet_markercluster", _CLUSTER_CDN + "leaflet.markercluster.js")] if cluster else []
        self.default_css = (
            [
                ("markercluster_css", _CLUSTER_CDN + "MarkerCluster.css"),
                ("markercluster_default_css", _CLUSTER_CDN + "MarkerCluster.Default.css"),
            ]
            if cluster
            else []
        )


class _JsLayer(Layer):
    """A layer made by one of the ``circles.*`` factories, listed in the layer control."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = {{ this.factory }}({{ this.data }}, {{ this.opts }});
        {% endmacro %}
    """)

    def __init__(self, name: str, factory: str, data: str, opts: dict, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "CirclesLayer"
        self.factory, self.data, self.opts = factory, data, _js(opts)


class _Controls(MacroElement):
    """Title, resident-colour selector, legend and status table (after the layers)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        circles.controls({{ this._parent.get_name() }}, {{ this.points }}, {{ this.opts }});
        {% endmacro %}
    """)

    def __init__(self, points: str | None, opts: dict):
        super().__init__()
        self._name = "CirclesControls"
        self.points = points or "null"
        self.opts = _js(opts)


# --------------------------------------------------------------------------------------------
# Preparing the data once (simplified, projected to WGS-84, rounded)
# --------------------------------------------------------------------------------------------


def _metric_crs(gdf: gpd.GeoDataFrame):
    if gdf.crs is None:
        raise ValueError("the map layers need a CRS")
    return gdf.crs if gdf.crs.is_projected else gdf.estimate_utm_crs()


def _display(geoms: gpd.GeoSeries, tolerance: float) -> np.ndarray:
    """Simplified (metres, in the series' metric CRS), WGS-84, rounded geometries."""
    g = geoms.simplify(tolerance, preserve_topology=True) if tolerance > 0 and len(geoms) else geoms
    g = g.to_crs("EPSG:4326")
    return shapely.transform(np.asarray(g.values, dtype=object), lambda c: np.round(c, COORD_DECIMALS))


def _polygonal(g):
    """The polygons of ``g`` (walking areas can come as geometry collections)."""
    if g is None or g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def _fc(geoms, props: list[dict] | None = None) -> str:
    """A GeoJSON FeatureCollection string (skips empty geometries)."""
    feats = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        p = _js(props[i]) if props is not None else "{}"
        feats.append('{"type":"Feature","properties":' + p + ',"geometry":' + shapely.to_geojson(g) + "}")
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def _worst(statuses: pd.Series) -> str:
    present = set(statuses)
    for s in STATUS_ORDER:
        if s in present:
            return s
    return "no_data"


def _text_colour(bg: str) -> str:
    r, g, b = (int(bg[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


@dataclass
class _Prepared:
    lang: str
    lab: dict
    types: list[str]
    names: dict[str, str]
    colours: dict[str, str]
    thresholds: dict[str, float]
    metric: Any
    comm: gpd.GeoDataFrame  # metric, with worst status, popups, display geometry "disp"
    comm_bounds4326: np.ndarray  # (n, 4)
    fac: gpd.GeoDataFrame  # metric points (representative) + popup + display lat/lon
    fac_areas: np.ndarray  # display polygons (None for points)
    res: gpd.GeoDataFrame  # metric points
    res_codes: dict[str, np.ndarray | None]
    res_lonlat: np.ndarray  # (n, 2) integer micro-degrees
    streets_disp: np.ndarray
    streets_bounds: np.ndarray  # metric (n, 4)
    iso: pd.DataFrame  # facility_type, minutes, disp
    gaps: pd.DataFrame
    status_by: dict[str, dict[str, str]]  # community -> type -> worst status of the type's rules


def _status_name(s: str, lang: str) -> str:
    return STATUS_ZH.get(s, s) if lang == "zh" else STATUS_EN.get(s, s)


def _chip(s: str, lang: str) -> str:
    return (
        f'<span class="circles-chip" style="background:{STATUS_COLOURS.get(s, "#666")}">'
        f"{html.escape(_status_name(s, lang))}</span>"
    )


def _rule_label(r, names: dict[str, str], lang: str) -> str:
    name = getattr(r, "facility_name_zh", None) if lang == "zh" else None
    if not isinstance(name, str) or not name:
        name = names.get(r.facility_type, r.facility_type)
    rid = str(r.rule_id)
    if lang == "en" and rid != r.facility_type:
        name = f"{name} ({rid})"
    return name


def _gap_table(sub: pd.DataFrame, names: dict[str, str], lab: dict, lang: str) -> str:
    rows = []
    for r in sub.itertuples():
        share = getattr(r, "covered_share", np.nan)
        med = getattr(r, "nearest_min_median", np.nan)
        rows.append(
            f"<tr><td>{html.escape(_rule_label(r, names, lang))}</td><td>{r.threshold_min:g}</td>"
            f"<td>{_chip(r.status, lang)}</td>"
            f"<td>{'' if pd.isna(share) else f'{share:.0%}'}</td>"
            f"<td>{'' if pd.isna(med) or not np.isfinite(med) else f'{med:.1f}'}</td></tr>"
        )
    return (
        f"<table><tr><th>{lab['item']}</th><th>{lab['min']}</th><th>{lab['status']}</th>"
        f"<th>{lab['share']}</th><th>{lab['median']}</th></tr>{''.join(rows)}</table>"
    )


def _community_popup(row, sub: pd.DataFrame, names: dict[str, str], lab: dict, lang: str, link: str | None) -> str:
    pop = row.get("population", np.nan)
    est = lab["estimated"] if bool(row.get("population_estimated", False)) else ""
    pop_txt = f"{lab['population']}: {pop:.0f}{est}<br>" if pd.notna(pop) else ""
    a = f' · <a href="{html.escape(link)}">{lab["open_map"]} ↗</a>' if link else ""
    return (
        f"<b>{html.escape(str(row['name']))}</b>{a}<br><small>{html.escape(str(row['id']))}</small><br>"
        f"{pop_txt}{_gap_table(sub, names, lab, lang)}"
    )


def _facility_popup(row, type_name: str, lab: dict, lang: str, area_m2: float | None) -> str:
    name = row.get("name")
    items = [
        (lab["name"], name if isinstance(name, str) and name else lab["unnamed"]),
        (lab["type"], type_name),
        (lab["id"], row.get("id")),
    ]
    if isinstance(row.get("source"), str) and row.get("source"):
        items.append((lab["source"], row.get("source")))
    for col, (zh, en) in FACILITY_FIELDS.items():
        v = row.get(col)
        if v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v) != "":
            items.append((zh if lang == "zh" else en, f"{v:g}" if isinstance(v, numbers.Number) else v))
    if area_m2:
        items.append((lab["area"], f"{area_m2:,.0f}"))
    if not row.get("placed", True):
        items.append((lab["set_aside"], row.get("set_aside_reason") or "—"))
    trs = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in items)
    return f'<table class="circles-popup">{trs}</table>'


def _resident_codes(d: np.ndarray, placed: np.ndarray, speed: float, thr_min: float) -> np.ndarray:
    """Walking minutes ×10 as integers, nudged so that ``code <= thr×10`` ⇔ covered exactly as the
    gap report counts it (distance ≤ threshold × speed); -1: none reachable, -2: not placed."""
    thr10 = int(round(thr_min * 10))
    with np.errstate(invalid="ignore"):
        m10 = np.round(d / speed * 10)
        covered = d <= thr_min * speed + 1e-9
    code = np.where(covered, np.minimum(m10, thr10), np.maximum(m10, thr10 + 1))
    code = np.where(np.isnan(d), -1, code)
    code = np.where(placed, code, -2)
    return code.astype(np.int64)


def _prepare(
    communities,
    facilities,
    residents,
    isochrones,
    gaps,
    streets,
    *,
    types,
    type_names,
    thresholds,
    speeds,
    lang,
    links=None,
) -> _Prepared:
    if lang not in LABELS:
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    lab = LABELS[lang]
    metric = _metric_crs(communities)
    names = {t: (type_names[t][0] if lang == "zh" else type_names[t][1]) for t in types}
    colours = type_colours(types, set(facilities["facility_type"]))

    comm = communities.to_crs(metric).reset_index(drop=True)
    comm["id"] = comm["id"].astype(str)
    gaps = gaps.copy()
    gaps["community_id"] = gaps["community_id"].astype(str)
    gaps = gaps[gaps["facility_type"].isin(types)] if "facility_type" in gaps else gaps
    worst = gaps.groupby("community_id")["status"].agg(_worst)
    comm["worst"] = comm["id"].map(worst).fillna("no_data")
    status_by = status_by_type(gaps)
    comm["popup"] = [
        _community_popup(r, gaps[gaps["community_id"] == r["id"]], names, lab, lang, (links or {}).get(r["id"]))
        for _, r in comm.iterrows()
    ]
    comm["disp"] = _display(comm.geometry, BOUNDARY_TOLERANCE_M)
    comm_bounds = shapely.bounds(comm.to_crs("EPSG:4326").geometry.values)

    fac = facilities.to_crs(metric)
    fac = fac[fac["facility_type"].isin(types)].reset_index(drop=True)
    is_area = fac.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    area = np.where(is_area, fac.geometry.area, np.nan)
    fac_areas = np.array([None] * len(fac), dtype=object)
    if is_area.any():
        fac_areas[is_area] = _display(fac.geometry[is_area], BOUNDARY_TOLERANCE_M)
    pts = gpd.GeoSeries(fac.geometry.representative_point(), crs=metric)
    ll = pts.to_crs("EPSG:4326")
    popups = []
    for i, r in enumerate(fac.to_dict("records")):
        r["placed"] = bool(r.get("placed", True))
        popups.append(_facility_popup(r, names[r["facility_type"]], lab, lang, float(area[i]) if is_area[i] else None))
    fac = gpd.GeoDataFrame(
        {
            "facility_type": fac["facility_type"].to_numpy(),
            "name": fac["name"].fillna("").astype(str).to_numpy() if "name" in fac else [""] * len(fac),
            "placed": fac["placed"].fillna(True).astype(bool).to_numpy() if "placed" in fac else True,
            "popup": popups,
            "lat": np.round(ll.y.to_numpy(), COORD_DECIMALS),
            "lon": np.round(ll.x.to_numpy(), COORD_DECIMALS),
        },
        geometry=pts.values,
        crs=metric,
    )

    res = residents.to_crs(metric).reset_index(drop=True)
    placed = res["placed"].fillna(False).astype(bool).to_numpy() if "placed" in res else np.ones(len(res), bool)
    codes: dict[str, np.ndarray | None] = {}
    for t in types:
        col = f"dist_{t}"
        if col not in res:
            codes[t] = None
            continue
        d = res[col].to_numpy(dtype=float)
        codes[t] = None if np.isnan(d).all() else _resident_codes(d, placed, speeds[t], thresholds[t])
    res_ll = res.geometry.to_crs("EPSG:4326")
    lonlat = np.column_stack([np.round(res_ll.x.to_numpy() * 1e6), np.round(res_ll.y.to_numpy() * 1e6)])
    res = gpd.GeoDataFrame(
        {
            "point_id": res["point_id"].astype(str).to_numpy()
            if "point_id" in res
            else np.arange(len(res)).astype(str),
            "community_id": res["community_id"].astype(str).to_numpy(),
            "placed": placed,
        },
        geometry=res.geometry.values,
        crs=metric,
    )

    st = streets.to_crs(metric)
    st = st[~st.geometry.is_empty & st.geometry.notna()]
    norm = shapely.normalize(np.asarray(st.geometry.values, dtype=object))
    st = st[~pd.Series(shapely.to_wkb(norm)).duplicated().to_numpy()]  # both directions of a street
    streets_disp = _display(st.geometry, STREET_TOLERANCE_M)
    streets_bounds = shapely.bounds(np.asarray(st.geometry.values, dtype=object))

    iso = isochrones[isochrones["facility_type"].isin(types)].to_crs(metric)
    iso = pd.DataFrame(
        {
            "facility_type": iso["facility_type"].to_numpy(),
            "minutes": iso["minutes"].to_numpy(),
            "disp": [_polygonal(g) for g in _display(iso.geometry, AREA_TOLERANCE_M)],
        }
    )
    return _Prepared(
        lang=lang,
        lab=lab,
        types=list(types),
        names=names,
        colours=colours,
        thresholds=dict(thresholds),
        metric=metric,
        comm=comm,
        comm_bounds4326=comm_bounds,
        fac=fac,
        fac_areas=fac_areas,
        res=res,
        res_codes=codes,
        res_lonlat=lonlat.astype(np.int64),
        streets_disp=streets_disp,
        streets_bounds=streets_bounds,
        iso=iso,
        gaps=gaps,
        status_by=status_by,
    )


# --------------------------------------------------------------------------------------------
# Building one map
# --------------------------------------------------------------------------------------------


def type_colours(types: list[str], present: set[str]) -> dict[str, str]:
    """A colour per type; the types that have facilities (``present``) get distinct ones first."""
    ordered = [t for t in types if t in present] + [t for t in types if t not in present]
    return {t: TYPE_COLOURS[i % len(TYPE_COLOURS)] for i, t in enumerate(ordered)}


def status_by_type(gaps: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Community id -> facility type -> worst status of the type's rules."""
    out: dict[str, dict[str, str]] = {}
    for (cid, t), s in gaps.groupby([gaps["community_id"].astype(str), "facility_type"])["status"]:
        out.setdefault(cid, {})[t] = _worst(s)
    return out


def pick_type(
    types: list[str], present: set[str], status_by: dict[str, dict[str, str]], focus: str | None = None
) -> str:
    """The type residents are coloured by on opening: the worst-off type that has facilities
    (in community ``focus``, or in the most communities)."""
    with_fac = [t for t in types if t in present] or list(types)
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    if focus is not None:
        st = status_by.get(str(focus), {})
        return min(with_fac, key=lambda t: (rank.get(st.get(t, "no_data"), 99), types.index(t)))
    bad = {t: sum(1 for v in status_by.values() if v.get(t) in ("gap", "undersized", "partial")) for t in with_fac}
    return max(with_fac, key=lambda t: (bad[t], -types.index(t)))


def _default_type(p: _Prepared, focus: str | None) -> str:
    return pick_type(p.types, set(p.fac["facility_type"]), p.status_by, focus)


def _legend(p: _Prepared, default_type: str, show_residents: bool) -> str:
    lab = p.lab
    fac_types = [t for t in p.types if (p.fac["facility_type"] == t).any()]
    rows = [f"<details open><summary>{lab['legend']}</summary><div class='circles-grid'>"]
    for t in fac_types:
        txt = html.escape(_icon_text(t, p))
        rows.append(
            f'<div><span class="circles-fac circles-mini cf-{p.types.index(t)}">{txt}</span>'
            f"{html.escape(p.names[t])}</div>"
        )
    rows.append("</div>")
    if show_residents:
        lo = 0
        bins = []
        for b in MINUTE_BINS:
            bins.append(f"{lo}–{b}")
            lo = b
        bins.append(f"&gt;{MINUTE_BINS[-1]}")
        rows.append(f"<div style='margin-top:4px'><b>{html.escape(lab['resident'])}</b> ({lab['min']})</div>")
        rows.append(
            "".join(
                f'<span style="margin-right:6px;white-space:nowrap"><span class="circles-dot" '
                f'style="background:{c}"></span>{b}</span>'
                for b, c in zip(bins, MINUTE_COLOURS, strict=True)
            )
        )
        rows.append(f'<div><span class="circles-dot" style="background:{NONE_COLOUR}"></span>{lab["none"]}</div>')
        rows.append(
            f'<div><span class="circles-dot" style="background:{UNPLACED_COLOUR}"></span>{lab["unplaced"]}</div>'
        )
        thr = f'<span class="circles-thr">{p.thresholds[default_type]:g}</span>'
        rows.append(f'<div><span class="circles-ring"></span>{lab["uncovered"]} ({thr} {lab["min"]})</div>')
    rows.append(
        f"<div style='margin-top:4px'>{lab['boundary']}: "
        + " ".join(_chip(s, p.lang) for s in STATUS_ORDER if s != "to_assess")
        + "</div>"
    )
    rows.append(f'<div><span class="circles-sw" style="background:#888;opacity:.35"></span>{lab["areas_note"]}</div>')
    rows.append(f'<div style="margin-top:3px;color:#444">{ATTRIBUTION}</div></details>')
    return "".join(rows)


def _icon_text(t: str, p: _Prepared) -> str:
    if t in ICON_TEXT:
        return ICON_TEXT[t][0 if p.lang == "zh" else 1]
    name = p.names.get(t) or t
    return name[:1] if p.lang == "zh" else name[:2]


def _bounds_js(b) -> list[float]:
    return [round(float(v), COORD_DECIMALS) for v in b]


def _build(
    p: _Prepared,
    *,
    offline: bool,
    focus: str | None = None,
    links: dict[str, str] | None = None,
    overview_href: str | None = None,
    cluster_min: int = CLUSTER_MIN,
) -> folium.Map:
    lab = p.lab
    comm = p.comm
    if focus is not None:
        hits = np.flatnonzero(comm["id"].to_numpy() == str(focus))
        if not len(hits):
            raise ValueError(f"unknown community {focus!r}")
        fi = int(hits[0])
        reach_m = max([p.thresholds[t] for t in p.types] + [15.0]) * 70.0
        fx0, fy0, fx1, fy1 = comm.geometry.iloc[fi].bounds
        box = (fx0 - reach_m, fy0 - reach_m, fx1 + reach_m, fy1 + reach_m)
        box_poly = gpd.GeoSeries([shapely.box(*box)], crs=p.metric).to_crs("EPSG:4326").iloc[0]
        box4326 = box_poly.bounds
        bounds = p.comm_bounds4326[fi]
    else:
        fi, box, box4326 = None, None, None
        b = p.comm_bounds4326
        bounds = [b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()]
    cy, cx = (bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2

    def in_box(bx: np.ndarray) -> np.ndarray:
        if box is None:
            return np.ones(len(bx), bool)
        return (bx[:, 2] >= box[0]) & (bx[:, 0] <= box[2]) & (bx[:, 3] >= box[1]) & (bx[:, 1] <= box[3])

    fac = p.fac
    fac_keep = in_box(
        np.column_stack([fac.geometry.x, fac.geometry.y, fac.geometry.x, fac.geometry.y])
        if len(fac)
        else np.zeros((0, 4))
    )
    cluster = int(fac_keep.sum()) > cluster_min

    m = folium.Map(
        location=[cy, cx], zoom_start=15, tiles=None, control_scale=False, prefer_canvas=False, zoom_control=True
    )
    # only Leaflet itself: no jQuery/Bootstrap/awesome-markers from CDNs
    m.default_js = [("leaflet", _LEAFLET_JS)]
    m.default_css = [("leaflet_css", _LEAFLET_CSS)]
    css = read_asset("map.css") + "".join(
        f".cf-{i}{{background:{c};color:{_text_colour(c)}}}" for i, c in enumerate(p.colours[t] for t in p.types)
    )
    _Setup(css, {"offline": offline, "attribution": ATTRIBUTION, "maxZoom": MAX_ZOOM}, cluster).add_to(m)
    if not offline:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", attr=ATTRIBUTION, max_zoom=MAX_ZOOM).add_to(m)

    # streets (the basemap when offline)
    keep = in_box(p.streets_bounds)
    streets = p.streets_disp[keep]
    if len(streets):
        merged = [shapely.multilinestrings(shapely.get_parts(streets))]
        _JsLayer(
            lab["streets"],
            "circles.streets",
            _fc(merged),
            {
                "color": "#8a8a8a" if offline else "#555",
                "weight": 1.6 if offline else 1.2,
                "opacity": 0.9 if offline else 0.5,
            },
        ).add_to(m)

    dtype = _default_type(p, focus)
    # walking areas per type and minutes
    minutes_all = sorted(p.iso["minutes"].unique())
    for t in p.types:
        for mins in minutes_all:
            sub = p.iso[(p.iso["facility_type"] == t) & (p.iso["minutes"] == mins)]
            geoms = [g for g in sub["disp"] if g is not None]
            if box4326 is not None:
                geoms = [shapely.clip_by_rect(g, *box4326) for g in geoms]
            geoms = [g for g in geoms if g is not None and not g.is_empty]
            if not geoms:
                continue
            rank = minutes_all.index(mins)
            _JsLayer(
                f'<span style="color:{p.colours[t]}">■</span> {html.escape(p.names[t])} '
                f"{lab['walk_area']} {mins:g} {lab['min']}",
                "circles.areas",
                _fc(geoms),
                {
                    "color": p.colours[t],
                    "weight": 1.5,
                    "fill": max(0.08, 0.3 - 0.1 * rank),
                    "dash": None if rank == 0 else "5 4",
                },
                show=(t == dtype),
            ).add_to(m)

    # communities
    if focus is not None:
        near = in_box(shapely.bounds(np.asarray(comm.geometry.values, dtype=object)))
        idx = np.flatnonzero(near)
        props = [
            {
                "c": STATUS_COLOURS.get(comm["worst"].iat[i], "#333") if i == fi else "#777",
                "w": 3.5 if i == fi else 1.5,
                "f": 0.06 if i == fi else 0.0,
                "d": None if i == fi else "4 4",
                "p": comm["popup"].iat[i],
            }
            for i in idx
        ]
    else:
        idx = np.arange(len(comm))
        props = [
            {
                "c": STATUS_COLOURS.get(comm["worst"].iat[i], "#333"),
                "w": 2.5,
                "f": 0.06,
                "d": None,
                "p": comm["popup"].iat[i],
            }
            for i in idx
        ]
    _JsLayer(lab["communities"], "circles.communities", _fc(comm["disp"].to_numpy()[idx], props), {}).add_to(m)

    # residents
    res_sel = (p.res["community_id"].to_numpy() == str(focus)) if focus is not None else np.ones(len(p.res), bool)
    points_var = None
    if res_sel.any():
        ll = p.res_lonlat[res_sel]
        x0, y0 = int(ll[:, 0].min()), int(ll[:, 1].min())
        cid_list = list(comm["id"])
        cindex = {c: i for i, c in enumerate(cid_list)}
        ccodes = np.array([cindex.get(c, -1) for c in p.res["community_id"].to_numpy()[res_sel]])
        cn = [str(n) for n in comm["name"]] + [""]
        ccodes = np.where(ccodes < 0, len(cn) - 1, ccodes)
        data = {
            "x0": x0,
            "y0": y0,
            "x": (ll[:, 0] - x0).tolist(),
            "y": (ll[:, 1] - y0).tolist(),
            "c": ccodes.tolist(),
            "cn": cn,
            "id": p.res["point_id"].to_numpy()[res_sel].tolist() if res_sel.sum() <= MAX_POINT_IDS else None,
            "u": np.flatnonzero(~p.res["placed"].to_numpy()[res_sel]).tolist(),
            "m": {t: (None if p.res_codes[t] is None else p.res_codes[t][res_sel].tolist()) for t in p.types},
        }
        colours = list(MINUTE_COLOURS) + [NONE_COLOUR, UNPLACED_COLOUR]
        layer = _JsLayer(
            lab["residents"],
            "new circles.Points",
            _js(data),
            {
                "type": dtype,
                "thr": {t: p.thresholds[t] for t in p.types},
                "bins": list(MINUTE_BINS),
                "colours": colours,
                "names": p.names,
                # types the input says nothing about (no_data everywhere): no finding
                "nd": sorted(set(p.types) - set(p.gaps.loc[p.gaps["status"] != "no_data", "facility_type"])),
                "lab": {k: lab[k] for k in ("min", "none", "unplaced", "beyond", "nodata")},
            },
        )
        layer.add_to(m)
        points_var = layer.get_name()

    # facilities per type
    for t in p.types:
        sel = fac_keep & (fac["facility_type"].to_numpy() == t)
        if not sel.any():
            continue
        sub = fac[sel]
        pts = [
            [float(a), float(b), int(pl), nm, pu]
            for a, b, pl, nm, pu in zip(sub["lat"], sub["lon"], sub["placed"], sub["name"], sub["popup"], strict=True)
        ]
        areas = [g for g in p.fac_areas[sel] if g is not None]
        ti = p.types.index(t)
        _JsLayer(
            f'<span class="circles-fac circles-mini cf-{ti}"></span>{lab["facilities"]}{lab["colon"]}'
            f"{html.escape(p.names[t])} ({len(sub)})",
            "circles.facilities",
            '{"pts":' + _js(pts) + ',"areas":' + (_fc(areas) if areas else "null") + "}",
            {"cls": f"cf-{ti}", "txt": html.escape(_icon_text(t, p)), "cluster": cluster, "colour": p.colours[t]},
        ).add_to(m)

    folium.LayerControl(collapsed=True, position="topright").add_to(m)

    # title, selector, legend, table
    if focus is not None:
        row = comm.iloc[fi]
        back = (
            f'<br><small><a href="{html.escape(overview_href)}">{lab["overview"]}</a></small>' if overview_href else ""
        )
        title = (
            f"{html.escape(str(row['name']))} <small>{_chip(row['worst'], p.lang)} "
            f"{html.escape(lab['title'])}</small>{back}"
        )
        sub = p.gaps[p.gaps["community_id"] == row["id"]]
        table = f"<details open><summary>{lab['gap_table']}</summary>{_gap_table(sub, p.names, lab, p.lang)}</details>"
    else:
        title = html.escape(lab["title"])
        counts = p.gaps.groupby(["community_id", "status"]).size().unstack(fill_value=0)
        shown = [s for s in STATUS_ORDER if s in counts.columns]
        head = "".join(f"<th>{_chip(s, p.lang)}</th>" for s in shown)
        trs = []
        for i, r in comm.iterrows():
            c = counts.loc[r["id"]] if r["id"] in counts.index else pd.Series(dtype=int)
            link = (links or {}).get(r["id"])
            a = f' <a href="{html.escape(link)}">↗</a>' if link else ""
            trs.append(
                f"<tr data-b='{_js(_bounds_js(p.comm_bounds4326[i]))}'><td>"
                f'<span class="circles-dot" style="background:{STATUS_COLOURS.get(r["worst"], "#333")}">'
                f"</span>{html.escape(str(r['name']))}{a}</td>"
                + "".join(f"<td>{int(c.get(s, 0))}</td>" for s in shown)
                + "</tr>"
            )
        table = (
            f"<details open><summary>{lab['status_table']}</summary><table><tr><th>{lab['community']}</th>"
            f"{head}</tr>{''.join(trs)}</table></details>"
        )
    opts = {
        "title": title,
        "legend": _legend(p, dtype, points_var is not None),
        "table": table,
        "thr": {t: p.thresholds[t] for t in p.types},
        "bounds": _bounds_js(bounds),
        "fitMaxZoom": FIT_MAX_ZOOM,
    }
    if points_var is not None:
        options = "".join(
            f'<option value="{html.escape(t)}">{html.escape(p.names[t])} ({p.thresholds[t]:g} {lab["min"]})</option>'
            for t in p.types
        )
        opts["selector"] = f"<label>{lab['colour_by']}<br><select>{options}</select></label>"
    _Controls(points_var, opts).add_to(m)
    return m


def make_map(
    communities: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    residents: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    gaps: pd.DataFrame,
    streets: gpd.GeoDataFrame,
    *,
    types: list[str],
    type_names: dict[str, tuple[str, str]],
    thresholds: dict[str, float],
    speeds: dict[str, float],
    lang: str = "zh",
    offline: bool = False,
    focus: str | None = None,
    links: dict[str, str] | None = None,
    overview_href: str | None = None,
    cluster_min: int = CLUSTER_MIN,
) -> folium.Map:
    """Build the results map (the overview, or one community's map with ``focus``).

    Parameters
    ----------
    communities, facilities, residents, isochrones, streets : GeoDataFrame
        Any CRS (a projected one is used for simplification). ``communities`` has ``id``,
        ``name`` (``population`` optional); ``facilities`` ``id``, ``facility_type``, optional
        ``name``, ``source``, ``placed``, ``set_aside_reason``, ``capacity``, ``size_m2``;
        ``residents`` ``community_id``, ``dist_<type>`` (m), optional ``point_id``, ``placed``;
        ``isochrones`` ``facility_type``, ``minutes``.
    gaps : DataFrame
        The gap report.
    types : list of str
        Facility types to show, in order.
    type_names : dict
        Type id -> (Chinese name, English name).
    thresholds, speeds : dict
        Type id -> threshold (minutes) and walking speed (m/min) used to colour residents.
    lang : {"zh", "en"}
    offline : bool
        No tiles; the street network is the basemap (inline the assets with :func:`save_map`).
    focus : str, optional
        A community id: zoom on it, show its surroundings, its residents and its gap table.
    links : dict, optional
        Community id -> link (relative URL) to its own map, shown in the overview.
    overview_href : str, optional
        Link back to the overview, shown on a community's map.
    cluster_min : int
        Cluster the facility markers when the map has more than this many.
    """
    p = _prepare(
        communities,
        facilities,
        residents,
        isochrones,
        gaps,
        streets,
        types=types,
        type_names=type_names,
        thresholds=thresholds,
        speeds=speeds,
        lang=lang,
        links=links,
    )
    return _build(p, offline=offline, focus=focus, links=links, overview_href=overview_href, cluster_min=cluster_min)


# --------------------------------------------------------------------------------------------
# From an analysis result; writing
# --------------------------------------------------------------------------------------------


def map_inputs(result) -> dict[str, Any]:
    """The keyword arguments of :func:`make_map` for a :class:`circles.pipeline.Result`."""
    rb = result.rulebook
    types = rb.types_used()
    first_rule: dict[str, Any] = {}
    for r in rb.rules:
        if getattr(r, "facility_type", None):
            first_rule.setdefault(r.facility_type, r)
    return dict(
        communities=result.communities,
        facilities=result.facilities,
        residents=result.residents,
        isochrones=result.isochrones,
        gaps=result.gaps,
        streets=result.network.edges_gdf(),
        types=types,
        type_names={t: (rb.facility_types[t].name_zh, rb.facility_types[t].name_en) for t in types},
        thresholds={t: first_rule[t].threshold_min for t in types},
        speeds={t: result.type_speed[t] for t in types},
    )


def community_file_name(community_id: str) -> str:
    """File name (without folder) of a community's map: its id made safe for any file system."""
    safe = re.sub(r"[^\w.-]+", "_", str(community_id), flags=re.UNICODE).strip("._") or "community"
    return f"{safe[:100]}.html"


def write_maps(
    result, out_dir: str | Path, *, lang: str = "zh", offline: bool = True, communities: bool = True
) -> list[Path]:
    """Write the overview ``out_dir/map.html`` and one map per community in
    ``out_dir/community_maps/``; return the paths, the overview first."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kw = map_inputs(result)
    ids = [str(c) for c in result.communities["id"]]
    files: dict[str, str] = {}
    if communities:
        used: set[str] = set()
        for cid in ids:
            name = community_file_name(cid)
            stem, k = name[:-5], 1
            while name.lower() in used:
                k += 1
                name = f"{stem}_{k}.html"
            used.add(name.lower())
            files[cid] = name
    links = {cid: f"community_maps/{f}" for cid, f in files.items()}
    p = _prepare(**kw, lang=lang, links=links)
    paths = [save_map(_build(p, offline=offline, links=links), out / "map.html", offline=offline)]
    if communities:
        (out / "community_maps").mkdir(exist_ok=True)
        for cid in ids:
            m = _build(p, offline=offline, focus=cid, overview_href="../map.html")
            paths.append(save_map(m, out / "community_maps" / files[cid], offline=offline))
    log.info("wrote %d maps in %s", len(paths), out)
    return paths


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
            return (
                "<script>" + files[name].read_text(encoding="utf-8").replace("</script", "<\\/script") + "</script>\n"
            )
        if "markercluster" in name:
            raise RuntimeError("offline clustered map: install xstatic-leaflet-markercluster")
        log.debug("offline map: dropped %s", match.group(1))
        return ""

    def style(match: re.Match) -> str:
        name = match.group(1).rsplit("/", 1)[-1]
        if name in files:
            return "<style>" + _inline_css(files[name]) + "</style>\n"
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
