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
import re
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
from ._display import (
    COORD_DECIMALS,
    Prepared,
    chip,
    community_file_name,
    gap_table,
    map_inputs,
    pick_type,
    prepare,
    text_colour,
)
from ._labels import (
    ATTRIBUTION,
    ICON_TEXT,
    MINUTE_BINS,
    MINUTE_COLOURS,
    NONE_COLOUR,
    STATUS_COLOURS,
    STATUS_ORDER,
    UNPLACED_COLOUR,
)

log = logging.getLogger(__name__)

#: Cluster the facility markers of a map when it has more than this many.
CLUSTER_MIN = 150
MAX_ZOOM = 19
#: Opening a map never zooms in further than this (a small community keeps its surroundings).
FIT_MAX_ZOOM = 17
#: Send resident point ids to the map (for the tooltip) up to this many points.
MAX_POINT_IDS = 20_000


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


def _fc(geoms, props: list[dict] | None = None) -> str:
    """A GeoJSON FeatureCollection string (skips empty geometries)."""
    feats = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        p = _js(props[i]) if props is not None else "{}"
        feats.append('{"type":"Feature","properties":' + p + ',"geometry":' + shapely.to_geojson(g) + "}")
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


# --------------------------------------------------------------------------------------------
# Building one map
# --------------------------------------------------------------------------------------------


def default_type(p: Prepared, focus: str | None) -> str:
    return pick_type(p.types, set(p.fac["facility_type"]), p.status_by, focus)


def _legend(p: Prepared, default_type: str, show_residents: bool) -> str:
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
        + " ".join(chip(s, p.lang) for s in STATUS_ORDER if s != "to_assess")
        + "</div>"
    )
    rows.append(f'<div><span class="circles-sw" style="background:#888;opacity:.35"></span>{lab["areas_note"]}</div>')
    rows.append(f'<div style="margin-top:3px;color:#444">{ATTRIBUTION}</div></details>')
    return "".join(rows)


def _icon_text(t: str, p: Prepared) -> str:
    if t in ICON_TEXT:
        return ICON_TEXT[t][0 if p.lang == "zh" else 1]
    name = p.names.get(t) or t
    return name[:1] if p.lang == "zh" else name[:2]


def _bounds_js(b) -> list[float]:
    return [round(float(v), COORD_DECIMALS) for v in b]


def _build(
    p: Prepared,
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
        f".cf-{i}{{background:{c};color:{text_colour(c)}}}" for i, c in enumerate(p.colours[t] for t in p.types)
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

    dtype = default_type(p, focus)
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
            "m": {t: (None if (rc := p.res_codes[t]) is None else rc[res_sel].tolist()) for t in p.types},
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
            f"{html.escape(str(row['name']))} <small>{chip(row['worst'], p.lang)} "
            f"{html.escape(lab['title'])}</small>{back}"
        )
        sub = p.gaps[p.gaps["community_id"] == row["id"]]
        table = f"<details open><summary>{lab['gap_table']}</summary>{gap_table(sub, p.names, lab, p.lang)}</details>"
    else:
        title = html.escape(lab["title"])
        counts = p.gaps.groupby(["community_id", "status"]).size().unstack(fill_value=0)
        shown = [s for s in STATUS_ORDER if s in counts.columns]
        head = "".join(f"<th>{chip(s, p.lang)}</th>" for s in shown)
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
    p = prepare(
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
    p = prepare(**kw, lang=lang, links=links)
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
