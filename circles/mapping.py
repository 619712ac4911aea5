"""Folium maps of the results: communities, facilities, walking areas and residents.

With ``offline=True`` the HTML is self-contained: Leaflet's JavaScript and CSS are inlined
from the ``xstatic-leaflet`` package and the street network is the basemap (no tiles).
Every map carries "© OpenStreetMap contributors".
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from jinja2 import Template

from .gaps import STATUS_ZH

log = logging.getLogger(__name__)

ATTRIBUTION = "© OpenStreetMap contributors"
#: One colour per facility type (colour-blind-friendly first eight: Okabe–Ito).
TYPE_COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#000000",
                "#8C564B", "#17BECF", "#7F7F7F", "#BCBD22", "#9467BD", "#FF9896"]
STATUS_COLOURS = {"ok": "#1a9850", "partial": "#fdae61", "gap": "#d73027", "no_data": "#999999"}
LABELS = {
    "zh": {"communities": "社区边界", "facilities": "设施", "streets": "步行路网", "residents": "居民点",
           "within": "内", "walk": "步行", "min": "分钟", "covered": "可达", "uncovered": "不可达",
           "legend": "图例", "status": "状态", "item": "项目"},
    "en": {"communities": "Communities", "facilities": "Facilities", "streets": "Walking network",
           "residents": "Residents", "within": "within", "walk": "walk", "min": "min", "covered": "covered",
           "uncovered": "not covered", "legend": "Legend", "status": "Status", "item": "Item"},
}


class _Attribution(MacroElement):
    """Adds the OSM attribution to the map's attribution control (also without tiles)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
    """)

    def __init__(self, text: str):
        super().__init__()
        self._name = "Attribution"
        self.text = text


def _type_colour(types: list[str]) -> dict[str, str]:
    return {t: TYPE_COLOURS[i % len(TYPE_COLOURS)] for i, t in enumerate(types)}


def _legend_html(title: str, entries: list[tuple[str, str]], statuses: dict[str, str]) -> str:
    rows = "".join(f'<div><span style="display:inline-block;width:10px;height:10px;border-radius:5px;'
                   f'background:{c};margin-right:4px"></span>{html.escape(n)}</div>' for n, c in entries)
    st = "".join(f'<span style="background:{c};color:#fff;padding:0 3px;margin-right:2px">{html.escape(n)}</span>'
                 for n, c in statuses.items())
    return (f'<div id="circles-legend" style="position:fixed;bottom:30px;left:10px;z-index:9999;background:#fff;'
            f'padding:6px 8px;border:1px solid #888;font:12px sans-serif;max-height:50%;overflow:auto">'
            f'<b>{html.escape(title)}</b>{rows}<div style="margin-top:4px">{st}</div>'
            f'<div style="margin-top:4px;color:#555">{ATTRIBUTION}</div></div>')


def _community_popup(row: pd.Series, gaps: pd.DataFrame, lang: str) -> str:
    sub = gaps[gaps["community_id"] == row["id"]]
    lab = LABELS[lang]
    trs = "".join(
        f"<tr><td>{html.escape(str(r.facility_name_zh if lang == 'zh' else r.rule_id))}</td>"
        f"<td>{r.threshold_min:g}</td>"
        f"<td style='color:{STATUS_COLOURS.get(r.status, '#000')}'>"
        f"{html.escape(STATUS_ZH.get(r.status, r.status) if lang == 'zh' else r.status)}</td>"
        f"<td>{'' if pd.isna(r.covered_share) else f'{r.covered_share:.0%}'}</td></tr>"
        for r in sub.itertuples())
    est = " (估算)" if lang == "zh" and row.get("population_estimated") else (
        " (estimated)" if row.get("population_estimated") else "")
    return (f"<b>{html.escape(str(row['name']))}</b><br>{html.escape(str(row['id']))}<br>"
            f"{'人口' if lang == 'zh' else 'population'}: {row['population']:.0f}{est}"
            f"<table style='font-size:11px'><tr><th>{lab['item']}</th><th>{lab['min']}</th>"
            f"<th>{lab['status']}</th><th>%</th></tr>{trs}</table>")


def make_map(communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, residents: gpd.GeoDataFrame,
             isochrones: gpd.GeoDataFrame, gaps: pd.DataFrame, streets: gpd.GeoDataFrame, *,
             types: list[str], type_names: dict[str, tuple[str, str]], thresholds: dict[str, float],
             speeds: dict[str, float], lang: str = "zh", offline: bool = False) -> folium.Map:
    """Build the results map.

    Parameters
    ----------
    communities, facilities, residents, isochrones, streets : GeoDataFrame
        Any CRS (converted to EPSG:4326). ``residents`` carries ``dist_<type>`` columns (m).
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
    """
    if lang not in LABELS:
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    lab = LABELS[lang]
    comm = communities.to_crs("EPSG:4326")
    minx, miny, maxx, maxy = comm.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15, tiles=None, control_scale=True)
    if not offline:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", attr=ATTRIBUTION).add_to(m)
        folium.TileLayer("CartoDB positron", name="CartoDB Positron", show=False).add_to(m)
    _Attribution(ATTRIBUTION).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    colours = _type_colour(types)
    name_of = {t: (type_names[t][0] if lang == "zh" else type_names[t][1]) for t in types}

    st = streets.to_crs("EPSG:4326")[["geometry"]]
    folium.GeoJson(st, name=lab["streets"], style_function=lambda f: {"color": "#777", "weight": 1.5,
                                                                       "opacity": 0.8},
                   control=True).add_to(m)

    for (t, mins), grp in isochrones.groupby(["facility_type", "minutes"], sort=False):
        if t not in colours:
            continue
        fg = folium.FeatureGroup(name=f"{name_of[t]} {lab['walk']} {mins:g} {lab['min']}", show=False)
        folium.GeoJson(grp[["facility_type", "minutes", "geometry"]],
                       style_function=lambda f, c=colours[t], mm=mins: {
                           "color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.25 if mm <= 5 else 0.12}
                       ).add_to(fg)
        fg.add_to(m)

    status_of = gaps.groupby("community_id")["status"].agg(
        lambda s: "gap" if (s == "gap").any() else ("partial" if (s == "partial").any() else
                                                    ("ok" if (s == "ok").any() else "no_data")))
    comm = comm.assign(worst=comm["id"].map(status_of).fillna("no_data"))
    comm["popup_html"] = [_community_popup(r, gaps, lang) for _, r in comm.iterrows()]
    cfg = folium.FeatureGroup(name=lab["communities"], show=True)
    folium.GeoJson(comm[["id", "name", "worst", "popup_html", "geometry"]],
                   style_function=lambda f: {"color": STATUS_COLOURS.get(f["properties"]["worst"], "#333"),
                                             "weight": 2, "fillOpacity": 0.05},
                   tooltip=folium.GeoJsonTooltip(["name"], labels=False),
                   popup=folium.GeoJsonPopup(["popup_html"], labels=False, max_width=420)).add_to(cfg)
    cfg.add_to(m)

    res = residents.to_crs("EPSG:4326")
    for i, t in enumerate(types):
        thr_m = thresholds[t] * speeds[t]
        d = res[f"dist_{t}"].to_numpy(dtype=float)
        covered = np.where(np.isnan(d), False, d <= thr_m + 1e-9)
        minutes = np.where(np.isnan(d), None, np.round(d / speeds[t], 1))
        pts = gpd.GeoDataFrame({"point_id": res["point_id"], "minutes": minutes,
                                "covered": covered, "placed": res["placed"]}, geometry=res.geometry.values,
                               crs="EPSG:4326")
        fg = folium.FeatureGroup(name=f"{lab['residents']}: {name_of[t]} {thresholds[t]:g} {lab['min']}",
                                 show=(i == 0))
        folium.GeoJson(
            pts, marker=folium.CircleMarker(radius=4, weight=1, fill=True, fill_opacity=0.9),
            style_function=lambda f: {"color": "#1a9850" if f["properties"]["covered"] else "#d73027",
                                      "fillColor": "#1a9850" if f["properties"]["covered"] else "#d73027"},
            tooltip=folium.GeoJsonTooltip(["point_id", "minutes"], aliases=["", lab["min"]]),
        ).add_to(fg)
        fg.add_to(m)

    fac = facilities.to_crs("EPSG:4326")
    for t in types:
        sub = fac[fac["facility_type"] == t]
        if not len(sub):
            continue
        rp = sub.geometry.representative_point()
        fg = folium.FeatureGroup(name=f"{lab['facilities']}: {name_of[t]} ({len(sub)})", show=True)
        popup_rows = pd.DataFrame({
            "name": sub["name"].fillna("").astype(str).to_numpy(),
            "facility_type": [name_of[t]] * len(sub),
            "id": sub["id"].astype(str).to_numpy(),
            "source": (sub["source"].fillna("").astype(str).to_numpy() if "source" in sub else [""] * len(sub)),
            "placed": np.where(sub["placed"], "", sub["set_aside_reason"]),
        })
        folium.GeoJson(
            gpd.GeoDataFrame(popup_rows, geometry=rp.values, crs="EPSG:4326"),
            marker=folium.CircleMarker(radius=6, weight=2, color="#fff", fill=True, fill_color=colours[t],
                                       fill_opacity=1.0),
            style_function=lambda f, c=colours[t]: {"fillColor": c},
            popup=folium.GeoJsonPopup(["name", "facility_type", "id", "source", "placed"], labels=True),
        ).add_to(fg)
        fg.add_to(m)

    folium.LayerControl(collapsed=True).add_to(m)
    legend = _legend_html(lab["legend"], [(name_of[t], colours[t]) for t in types],
                          {(STATUS_ZH[s] if lang == "zh" else s): c for s, c in STATUS_COLOURS.items()})
    m.get_root().html.add_child(Element(legend))
    return m


def _inline_leaflet_assets() -> tuple[str, str]:
    from xstatic.pkg import leaflet as xl

    base = Path(xl.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        img = base / match.group(1)
        if not img.exists():
            return match.group(0)
        return f"url(data:image/png;base64,{base64.b64encode(img.read_bytes()).decode()})"

    css = re.sub(r"url\((images/[^)]+\.png)\)", data_uri, css)
    return js, css


def save_map(m: folium.Map, path: str | Path, offline: bool = False) -> Path:
    """Write the map's HTML. With ``offline`` the file needs no network at all."""
    path = Path(path)
    page = m.get_root().render()
    if offline:
        js, css = _inline_leaflet_assets()
        page = re.sub(r'<script src="https://[^"]*leaflet(?:@[\d.]+)?/dist/leaflet\.js"></script>',
                      lambda _: f"<script>{js}</script>", page)
        page = re.sub(r'<link rel="stylesheet" href="https://[^"]*leaflet(?:@[\d.]+)?/dist/leaflet\.css"/>',
                      lambda _: f"<style>{css}</style>", page)
        page = re.sub(r'<script src="https?://[^"]*"></script>\s*', "", page)
        page = re.sub(r'<link rel="stylesheet" href="https?://[^"]*"/>\s*', "", page)
    path.write_text(page, encoding="utf-8")
    return path
