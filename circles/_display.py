"""Display data shared by the maps and the figures: layers prepared once (simplified, in
WGS-84, rounded), popups, status colours per community and the type shown on opening."""

from __future__ import annotations

import html
import numbers
import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._labels import FACILITY_FIELDS, LABELS, STATUS_COLOURS, STATUS_ORDER, TYPE_COLOURS, status_name

#: Display simplification tolerances (metres).
STREET_TOLERANCE_M = 2.0

AREA_TOLERANCE_M = 5.0

BOUNDARY_TOLERANCE_M = 0.5

#: Decimals of longitude/latitude kept (6 ≈ 0.1 m).
COORD_DECIMALS = 6


def metric_crs(gdf: gpd.GeoDataFrame):
    if gdf.crs is None:
        raise ValueError("the map layers need a CRS")
    return gdf.crs if gdf.crs.is_projected else gdf.estimate_utm_crs()


def display_geometries(geoms: gpd.GeoSeries, tolerance: float) -> np.ndarray:
    """Simplified (metres, in the series' metric CRS), WGS-84, rounded geometries."""
    g = geoms.simplify(tolerance, preserve_topology=True) if tolerance > 0 and len(geoms) else geoms
    g = g.to_crs("EPSG:4326")
    return shapely.transform(np.asarray(g.values, dtype=object), lambda c: np.round(c, COORD_DECIMALS))


def polygonal(g):
    """The polygons of ``g`` (walking areas can come as geometry collections)."""
    if g is None or g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def worst_status(statuses: pd.Series) -> str:
    present = set(statuses)
    for s in STATUS_ORDER:
        if s in present:
            return s
    return "no_data"


def text_colour(bg: str) -> str:
    r, g, b = (int(bg[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


@dataclass
class Prepared:
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


def chip(s: str, lang: str) -> str:
    return (
        f'<span class="circles-chip" style="background:{STATUS_COLOURS.get(s, "#666")}">'
        f"{html.escape(status_name(s, lang))}</span>"
    )


def rule_label(r, names: dict[str, str], lang: str) -> str:
    name = getattr(r, "facility_name_zh", None) if lang == "zh" else None
    if not isinstance(name, str) or not name:
        name = names.get(r.facility_type, r.facility_type)
    rid = str(r.rule_id)
    if lang == "en" and rid != r.facility_type:
        name = f"{name} ({rid})"
    return name


def gap_table(sub: pd.DataFrame, names: dict[str, str], lab: dict, lang: str) -> str:
    rows = []
    for r in sub.itertuples():
        share = getattr(r, "covered_share", np.nan)
        med = getattr(r, "nearest_min_median", np.nan)
        rows.append(
            f"<tr><td>{html.escape(rule_label(r, names, lang))}</td><td>{r.threshold_min:g}</td>"
            f"<td>{chip(r.status, lang)}</td>"
            f"<td>{'' if pd.isna(share) else f'{share:.0%}'}</td>"
            f"<td>{'' if pd.isna(med) or not np.isfinite(med) else f'{med:.1f}'}</td></tr>"
        )
    return (
        f"<table><tr><th>{lab['item']}</th><th>{lab['min']}</th><th>{lab['status']}</th>"
        f"<th>{lab['share']}</th><th>{lab['median']}</th></tr>{''.join(rows)}</table>"
    )


def community_popup(row, sub: pd.DataFrame, names: dict[str, str], lab: dict, lang: str, link: str | None) -> str:
    pop = row.get("population", np.nan)
    est = lab["estimated"] if bool(row.get("population_estimated", False)) else ""
    pop_txt = f"{lab['population']}: {pop:.0f}{est}<br>" if pd.notna(pop) else ""
    a = f' · <a href="{html.escape(link)}">{lab["open_map"]} ↗</a>' if link else ""
    return (
        f"<b>{html.escape(str(row['name']))}</b>{a}<br><small>{html.escape(str(row['id']))}</small><br>"
        f"{pop_txt}{gap_table(sub, names, lab, lang)}"
    )


def facility_popup(row, type_name: str, lab: dict, lang: str, area_m2: float | None) -> str:
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


def resident_codes(d: np.ndarray, placed: np.ndarray, speed: float, thr_min: float) -> np.ndarray:
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


def prepare(
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
) -> Prepared:
    if lang not in LABELS:
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    lab = LABELS[lang]
    metric = metric_crs(communities)
    names = {t: (type_names[t][0] if lang == "zh" else type_names[t][1]) for t in types}
    colours = type_colours(types, set(facilities["facility_type"]))

    comm = communities.to_crs(metric).reset_index(drop=True)
    comm["id"] = comm["id"].astype(str)
    gaps = gaps.copy()
    gaps["community_id"] = gaps["community_id"].astype(str)
    gaps = gaps[gaps["facility_type"].isin(types)] if "facility_type" in gaps else gaps
    worst = gaps.groupby("community_id")["status"].agg(worst_status)
    comm["worst"] = comm["id"].map(worst).fillna("no_data")
    status_by = status_by_type(gaps)
    comm["popup"] = [
        community_popup(r, gaps[gaps["community_id"] == r["id"]], names, lab, lang, (links or {}).get(r["id"]))
        for _, r in comm.iterrows()
    ]
    comm["disp"] = display_geometries(comm.geometry, BOUNDARY_TOLERANCE_M)
    comm_bounds = shapely.bounds(comm.to_crs("EPSG:4326").geometry.values)

    fac = facilities.to_crs(metric)
    fac = fac[fac["facility_type"].isin(types)].reset_index(drop=True)
    is_area = fac.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    area = np.where(is_area, fac.geometry.area, np.nan)
    fac_areas = np.array([None] * len(fac), dtype=object)
    if is_area.any():
        fac_areas[is_area] = display_geometries(fac.geometry[is_area], BOUNDARY_TOLERANCE_M)
    pts = gpd.GeoSeries(fac.geometry.representative_point(), crs=metric)
    ll = pts.to_crs("EPSG:4326")
    popups = []
    for i, r in enumerate(fac.to_dict("records")):
        r["placed"] = bool(r.get("placed", True))
        popups.append(facility_popup(r, names[r["facility_type"]], lab, lang, float(area[i]) if is_area[i] else None))
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
        codes[t] = None if np.isnan(d).all() else resident_codes(d, placed, speeds[t], thresholds[t])
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
    streets_disp = display_geometries(st.geometry, STREET_TOLERANCE_M)
    streets_bounds = shapely.bounds(np.asarray(st.geometry.values, dtype=object))

    iso = isochrones[isochrones["facility_type"].isin(types)].to_crs(metric)
    iso = pd.DataFrame(
        {
            "facility_type": iso["facility_type"].to_numpy(),
            "minutes": iso["minutes"].to_numpy(),
            "disp": [polygonal(g) for g in display_geometries(iso.geometry, AREA_TOLERANCE_M)],
        }
    )
    return Prepared(
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


def type_colours(types: list[str], present: set[str]) -> dict[str, str]:
    """A colour per type; the types that have facilities (``present``) get distinct ones first."""
    ordered = [t for t in types if t in present] + [t for t in types if t not in present]
    return {t: TYPE_COLOURS[i % len(TYPE_COLOURS)] for i, t in enumerate(ordered)}


def status_by_type(gaps: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Community id -> facility type -> worst status of the type's rules."""
    out: dict[str, dict[str, str]] = {}
    for (cid, t), s in gaps.groupby([gaps["community_id"].astype(str), "facility_type"])["status"]:
        out.setdefault(cid, {})[t] = worst_status(s)
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
