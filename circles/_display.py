"""Display data shared by the maps and the figures: layers prepared once (valid geometries in a
metric CRS), popups, the status and failing-item count of every community, the class of every
resident for every item, and compact coordinate encoding for the HTML maps.

Geometry is handled defensively: every input geometry is made valid once, every later step
(clipping, simplification) runs on valid geometry in metres and is wrapped per feature (a
feature that still fails is logged and left out, never the map), and rounding to micro-degrees
happens last, in NumPy, on coordinates that no geometry library sees again.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from ._labels import (
    FAIL_COLOURS,
    FAILING_STATUSES,
    LABELS,
    MAP_LABELS,
    STATUS_COLOURS,
    STATUS_ORDER,
    TYPE_COLOURS,
    status_name,
    threshold_text,
)

log = logging.getLogger(__name__)

#: Display simplification tolerances (metres).
STREET_TOLERANCE_M = 2.0
#: Walking areas move by at most 1 m when drawn, so a resident counted as covered stays inside its
#: drawn area: GEOS's topology-preserving simplification can stray up to ~1.25 × its tolerance
#: (measured on the demo), plus 0.08 m of rounding to 10⁻⁶ degree.
AREA_TOLERANCE_M = 0.6
BOUNDARY_TOLERANCE_M = 0.5

#: Decimals of longitude/latitude kept (6 ≈ 0.1 m).
COORD_DECIMALS = 6

#: Resident classes for the selected item (the map's colours, in this order).
RESIDENT_CLASSES = ("within", "double", "beyond", "unplaced", "nodata")


def metric_crs(gdf: gpd.GeoDataFrame):
    if gdf.crs is None:
        raise ValueError("the map layers need a CRS")
    return gdf.crs if gdf.crs.is_projected else gdf.estimate_utm_crs()


# --------------------------------------------------------------------------------------------
# Geometry that never fails a map
# --------------------------------------------------------------------------------------------


def polygonal(g):
    """The polygons of ``g`` (walking areas can come as geometry collections), or None."""
    if g is None or g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def _valid_one(g, kind: str, what: str):
    if g is None or g.is_empty:
        return None
    try:
        if not g.is_valid:
            with np.errstate(invalid="ignore"):  # GEOS warns on rings that collapse
                g = shapely.make_valid(g)
        if kind == "polygon":
            g = polygonal(g)
        elif kind == "line":
            parts = [p for p in shapely.get_parts(g) if p.geom_type in ("LineString", "MultiLineString")]
            g = shapely.multilinestrings(parts) if len(parts) > 1 else (parts[0] if parts else None)
        return None if g is None or g.is_empty else g
    except Exception as exc:  # GEOS raises GEOSException and ValueError on broken input
        log.warning("left out one %s that could not be repaired (%s)", what, exc)
        return None


def valid_geometries(geoms, kind: str, what: str = "geometry") -> np.ndarray:
    """Every geometry made valid (``kind`` ``"polygon"``: its polygonal parts; ``"line"``: its
    lines); None where nothing drawable is left. Never raises."""
    arr = np.asarray(geoms, dtype=object)
    out = np.empty(len(arr), dtype=object)
    if not len(arr):
        return out
    # the common case in bulk: valid, non-empty, already of the right kind
    present = np.array([g is not None for g in arr], dtype=bool)
    ok = np.zeros(len(arr), dtype=bool)
    if present.any():
        g = arr[present]
        tid = shapely.get_type_id(g)
        right = np.isin(tid, [3, 6]) if kind == "polygon" else (np.isin(tid, [1, 5]) if kind == "line" else tid >= 0)
        with np.errstate(invalid="ignore"):
            ok[present] = right & shapely.is_valid(g) & ~shapely.is_empty(g)
    out[ok] = arr[ok]
    for i in np.flatnonzero(present & ~ok):
        out[i] = _valid_one(arr[i], kind, what)
    return out


def clip_simplify(geoms, box: tuple[float, float, float, float] | None, tolerance: float, what: str) -> np.ndarray:
    """Clip valid metric geometries to ``box`` (or not), then simplify by ``tolerance`` metres
    keeping them valid; one feature that fails is logged and dropped (never the whole map)."""
    arr = np.asarray(geoms, dtype=object)
    out = np.empty(len(arr), dtype=object)
    for i, g in enumerate(arr):
        if g is None:
            continue
        try:
            if box is not None:
                g = shapely.clip_by_rect(g, *box)
            if g.is_empty:
                continue
            if tolerance > 0:
                g = shapely.simplify(g, tolerance, preserve_topology=True)
            if g.is_empty:
                continue
            out[i] = g
        except Exception as exc:  # a degenerate piece left after clipping: draw the rest of the map
            log.warning("left out one %s of the map (%s)", what, exc)
    return out


class Encoder:
    """Coordinates as compact integers for the HTML maps: micro-degrees relative to an origin,
    each ring or line as ``[x0, y0, dx1, dy1, …]`` (the first pair from the origin, then steps).

    Rounding happens here, after every geometry operation: nothing rounded goes back to GEOS.
    """

    def __init__(self, crs, origin: tuple[int, int]):
        self._to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        self.origin = origin

    def micro(self, xy: np.ndarray) -> np.ndarray:
        lon, lat = self._to_wgs.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.round(np.asarray(lon) * 1e6), np.round(np.asarray(lat) * 1e6)]).astype(np.int64)

    def _flat(self, coords: np.ndarray, starts: np.ndarray, closed: bool) -> list[list[int]]:
        """Rings/lines given by ``starts`` offsets into ``coords`` (metric), as flat delta ints."""
        if not len(coords):
            return []
        ints = self.micro(coords)
        ints[:, 0] -= self.origin[0]
        ints[:, 1] -= self.origin[1]
        ends = np.r_[starts[1:], len(coords)]
        delta = ints.copy()
        delta[1:] -= ints[:-1]
        delta[starts] = ints[starts]
        flat = delta.ravel().tolist()
        out = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            stop = e - 1 if closed else e  # a closed ring's last point repeats its first
            piece = flat[2 * s : 2 * stop]
            if len(piece) >= (6 if closed else 4):
                out.append(piece)
        return out

    def lines(self, geoms) -> list[list[list[int]]]:
        """One entry per geometry: its lines (empty list for None/empty)."""
        arr = np.asarray(geoms, dtype=object)
        ok = np.array([g is not None and not g.is_empty for g in arr], dtype=bool)
        out: list[list[list[int]]] = [[] for _ in range(len(arr))]
        if not ok.any():
            return out
        parts, owner = shapely.get_parts(arr[ok], return_index=True)
        owner = np.flatnonzero(ok)[owner]
        coords, idx = shapely.get_coordinates(parts, return_index=True)
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]]) if len(idx) else np.zeros(0, int)
        part_of_start = idx[starts] if len(idx) else np.zeros(0, int)
        ints = self._flat(coords, starts, closed=False) if len(coords) else []
        # _flat drops too-short pieces: recompute which survived
        lengths = np.diff(np.r_[starts, len(coords)])
        keep = lengths >= 2
        for piece, p in zip(ints, part_of_start[keep].tolist(), strict=True):
            out[int(owner[p])].append(piece)
        return out

    def polygons(self, geoms) -> list[list[list[list[int]]]]:
        """One entry per geometry: its polygons, each a list of rings (exterior first)."""
        arr = np.asarray(geoms, dtype=object)
        ok = np.array([g is not None and not g.is_empty for g in arr], dtype=bool)
        out: list[list[list[list[int]]]] = [[] for _ in range(len(arr))]
        if not ok.any():
            return out
        polys, owner = shapely.get_parts(arr[ok], return_index=True)
        owner = np.flatnonzero(ok)[owner]
        rings, poly_of_ring = shapely.get_rings(polys, return_index=True)
        coords, ring_of_coord = shapely.get_coordinates(rings, return_index=True)
        if not len(coords):
            return out
        starts = np.flatnonzero(np.r_[True, ring_of_coord[1:] != ring_of_coord[:-1]])
        lengths = np.diff(np.r_[starts, len(coords)])
        ring_ids = ring_of_coord[starts]
        pieces = self._flat(coords, starts, closed=True)
        kept = ring_ids[lengths - 1 >= 3]
        # a ring that lost its points is dropped; a polygon whose exterior is dropped is dropped
        current: dict[int, list] = {}
        first_ring = np.r_[True, poly_of_ring[1:] != poly_of_ring[:-1]]
        for piece, r in zip(pieces, kept.tolist(), strict=True):
            pi = int(poly_of_ring[r])
            if first_ring[r]:
                current[pi] = [piece]
                out[int(owner[pi])].append(current[pi])
            elif pi in current:
                current[pi].append(piece)
        return out


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def worst_status(statuses: pd.Series) -> str:
    present = set(statuses)
    for s in STATUS_ORDER:
        if s in present:
            return s
    return "no_data"


def text_colour(bg: str) -> str:
    r, g, b = (int(bg[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


@functools.lru_cache(maxsize=256)
def chip(s: str, lang: str) -> str:
    """A status as a coloured label (HTML; made once per status and language)."""
    bg = STATUS_COLOURS.get(s, "#666")
    return (
        f'<span class="circles-chip" style="background:{bg};color:{text_colour(bg)}">'
        f"{html.escape(status_name(s, lang))}</span>"
    )


def fail_classes(n_rules: int) -> list[tuple[int, int]]:
    """Ranges of failing-item counts, one per colour of :data:`FAIL_COLOURS`: 0, then up to four
    equal ranges over 1..``n_rules``."""
    n = max(int(n_rules), 1)
    k = min(len(FAIL_COLOURS) - 1, n)
    edges = np.unique(np.round(np.linspace(1, n + 1, k + 1)).astype(int))
    return [(0, 0)] + [(int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def fail_class(n: int, classes: list[tuple[int, int]]) -> int:
    for i, (lo, hi) in enumerate(classes):
        if lo <= n <= hi:
            return i
    return len(classes) - 1


@dataclass(frozen=True)
class RuleView:
    """One item of the rulebook as the map shows it."""

    id: str
    type: str
    name: str
    thr_m: float
    thr_min: float
    in_metres: bool
    speed: float
    text: str  # the threshold as the rule states it


def rule_label(r, names: dict[str, str], lang: str) -> str:
    """The one name of a gap-report row's item (``rule_name`` when :func:`prepare` added it)."""
    name = getattr(r, "rule_name", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(r, "facility_name_zh", None) if lang == "zh" else None
    if not isinstance(name, str) or not name:
        name = names.get(r.facility_type, r.facility_type)
    return name


class _Row:
    """A gap-report record with attribute access (as ``itertuples`` gives, without its cost)."""

    def __init__(self, rec: dict):
        self.__dict__.update(rec)


def _share(v) -> str:
    return "" if v is None or pd.isna(v) else f"{v:.0%}"


_GAP_COLS = ("rule_id", "rule_name", "facility_name_zh", "facility_type", "threshold_min", "status", "covered_share")


def gap_table(sub, names: dict[str, str], lab: dict, lang: str, rules: dict | None = None) -> str:
    """The status table of one community (escaped HTML), worst first; rows carry their rule id.

    ``sub``: its gap-report rows, as a DataFrame or as a list of records (dicts).
    """
    recs = sub[[c for c in _GAP_COLS if c in sub]].to_dict("records") if isinstance(sub, pd.DataFrame) else list(sub)
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    order = sorted(range(len(recs)), key=lambda i: (rank.get(recs[i].get("status"), len(rank)), i))
    rows = []
    for i in order:
        rec = recs[i]
        rid = str(rec["rule_id"])
        rv = (rules or {}).get(rid)
        thr = rv.text if rv is not None else f"{rec['threshold_min']:g} {lab['min']}"
        rows.append(
            f'<tr data-rule="{html.escape(rid)}"><td>{html.escape(rule_label(_Row(rec), names, lang))}</td>'
            f"<td>{html.escape(thr)}</td><td>{chip(str(rec['status']), lang)}</td>"
            f"<td>{_share(rec.get('covered_share', np.nan))}</td></tr>"
        )
    return (
        f'<table class="circles-gaps"><tr><th>{lab["item"]}</th><th>{lab["threshold"]}</th>'
        f"<th>{lab['status']}</th><th>{lab['share']}</th></tr>{''.join(rows)}</table>"
    )


def community_popup(row, sub: pd.DataFrame, names, lab: dict, lang: str, link: str | None, rules=None) -> str:
    pop = row.get("population", np.nan)
    est = lab["estimated"] if bool(row.get("population_estimated", False)) else ""
    pop_txt = f"{lab['population']}: {pop:.0f}{est}<br>" if pd.notna(pop) else ""
    a = f' · <a href="{html.escape(link)}">{lab["open_map"]} ↗</a>' if link else ""
    fails = MAP_LABELS[lang]["fails_n"].format(n=int(row.get("fails", 0)))
    return (
        f"<b>{html.escape(str(row['name']))}</b>{a}<br><small>{html.escape(str(row['id']))} · "
        f"{html.escape(fails)}</small><br>{pop_txt}{gap_table(sub, names, lab, lang, rules)}"
    )


def _texts(col: pd.Series) -> list[str]:
    """A column as display text: '' for missing, numbers without trailing zeros."""
    out = []
    for v in col.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out.append("")
        elif isinstance(v, numbers.Number) and not isinstance(v, bool):
            out.append(f"{v:g}")
        else:
            out.append(str(v))
    return out


def resident_codes(d: np.ndarray, placed: np.ndarray, speed: float, thr_min: float) -> np.ndarray:
    """Walking minutes ×10 as integers, nudged so that ``code <= thr×10`` ⇔ covered exactly as the
    gap report counts it (distance ≤ threshold × speed); -1: none reachable, -2: not placed."""
    thr10 = int(round(thr_min * 10))
    with np.errstate(invalid="ignore"):
        m10 = np.round(d / speed * 10)
        covered = d <= thr_min * speed + 1e-9
        double = d <= 2 * thr_min * speed + 1e-9
    # nudged at the threshold and at twice it, so that the classes drawn from the codes are
    # those of the distances (a 50 m/min reading rounds 5 m into one tenth of a minute)
    beyond = np.maximum(m10, 2 * thr10 + 1)
    code = np.where(covered, np.minimum(m10, thr10), np.where(double, np.clip(m10, thr10 + 1, 2 * thr10), beyond))
    code = np.where(np.isnan(d), -1, code)
    code = np.where(placed, code, -2)
    return code.astype(np.int64)


def resident_classes(d: np.ndarray | None, placed: np.ndarray, thr_m: float, nodata: np.ndarray) -> np.ndarray:
    """Class of every resident for one item (index into :data:`RESIDENT_CLASSES`): within the
    threshold exactly as the gap report counts it (distance ≤ threshold + 1 µm), up to twice it,
    beyond (or none reachable); not attached to the network; no data for the item (``nodata``:
    where the gap report says ``no_data``, a resident not within the threshold is not known to
    lack the item)."""
    n = len(placed)
    if d is None:
        cls = np.full(n, 4, dtype=np.int8)
    else:
        dd = np.nan_to_num(np.asarray(d, dtype=float), nan=np.inf)
        cls = np.where(dd <= thr_m + 1e-6, 0, np.where(dd <= 2 * thr_m + 1e-6, 1, 2)).astype(np.int8)
        # without data a resident is never "not covered"; one with a facility within reach still is covered
        cls[nodata & (cls != 0)] = 4
    cls[~placed] = 3
    return cls


# --------------------------------------------------------------------------------------------
# Everything a map or figure needs, prepared once
# --------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    lang: str
    lab: dict
    types: list[str]
    names: dict[str, str]
    colours: dict[str, str]
    thresholds: dict[str, float]  # per type: its first item's threshold in minutes (figures)
    metric: Any
    comm: gpd.GeoDataFrame  # metric (valid), with worst status, fails, popups
    comm_bounds4326: np.ndarray  # (n, 4)
    fac: gpd.GeoDataFrame  # metric points (representative) + popup + display lat/lon
    fac_areas: np.ndarray  # metric polygons of facilities drawn as areas (None for points)
    res: gpd.GeoDataFrame  # metric points
    res_codes: dict[str, np.ndarray | None]  # per type, minutes ×10 (figures)
    res_lonlat: np.ndarray  # (n, 2) integer micro-degrees
    streets: gpd.GeoDataFrame  # metric, valid, one row per street piece, with "name"
    streets_bounds: np.ndarray  # metric (n, 4)
    iso: gpd.GeoDataFrame  # metric: facility_type, minutes, distance_m, community_id (None: all)
    gaps: pd.DataFrame
    status_by: dict[str, dict[str, str]]  # community -> type -> worst status of the type's rules
    rules: list[RuleView] = field(default_factory=list)
    rule_status: dict[str, dict[str, str]] = field(default_factory=dict)  # rule -> community -> status
    res_dist: dict[str, np.ndarray | None] = field(default_factory=dict)  # per type, metres (NaN: none)
    res_class: dict[str, np.ndarray] = field(default_factory=dict)  # per rule, see resident_classes
    fail_ranges: list[tuple[int, int]] = field(default_factory=list)
    #: items without any data in the input (no facility of their type, not surveyed)
    no_data_rules: set[str] = field(default_factory=set)
    #: community id -> the live what-if payload of its map (circles._live)
    live: dict[str, dict] = field(default_factory=dict)

    @property
    def rule_by_id(self) -> dict[str, RuleView]:
        return {r.id: r for r in self.rules}


def _rule_views(rules, types, type_names, thresholds, speeds, lang) -> list[RuleView]:
    if rules is None:  # one item per type (a map made without a rulebook)
        rules = [
            {
                "id": t,
                "facility_type": t,
                "name_zh": type_names[t][0],
                "name_en": type_names[t][1],
                "threshold_min": thresholds[t],
                "threshold_m": thresholds[t] * speeds[t],
                "in_metres": False,
                "speed": speeds[t],
            }
            for t in types
        ]
    out = []
    for r in rules:
        if r["facility_type"] not in types:
            continue
        name = r["name_zh"] if lang == "zh" else (r.get("name_en") or r["name_zh"])
        out.append(
            RuleView(
                id=str(r["id"]),
                type=r["facility_type"],
                name=str(name),
                thr_m=float(r["threshold_m"]),
                thr_min=float(r["threshold_min"]),
                in_metres=bool(r.get("in_metres", False)),
                speed=float(r["speed"]),
                text=threshold_text(
                    float(r["threshold_min"]), float(r["threshold_m"]), bool(r.get("in_metres", False)), lang
                ),
            )
        )
    return out


#: The layers :func:`prepare` takes, in order (by position or by name).
LAYERS = ("communities", "facilities", "residents", "isochrones", "gaps", "streets")
#: Its other inputs (by name): required, then optional.
_REQUIRED = ("types", "type_names", "thresholds", "speeds")
_OPTIONAL = ("links", "rules", "surveyed")


def prepare(*layers: Any, lang: str, **inputs: Any) -> Prepared:
    """Prepare the layers of the maps and figures from the inputs :func:`map_inputs` gives.

    ``layers`` (or by name): ``communities``, ``facilities``, ``residents``, ``isochrones``,
    ``gaps``, ``streets``. By name: ``types``, ``type_names`` (type -> (Chinese, English)),
    ``thresholds`` and ``speeds`` (per type), optional ``links`` (community -> its map),
    ``rules`` (the rulebook's items: id, facility_type, name_zh, name_en, threshold_min,
    threshold_m, in_metres, speed; without, one item per type from ``thresholds``) and
    ``surveyed`` (the types the input speaks about; an item of a type outside it with no
    facility in the input has no data, whatever status the gap report gives it, e.g. a
    quantity item to assess). ``streets`` may carry a ``name`` column (street names are drawn
    where present).
    """
    if lang not in LABELS:
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    given = {**dict(zip(LAYERS, layers, strict=False)), **inputs}
    unknown_args = set(given) - {*LAYERS, *_REQUIRED, *_OPTIONAL}
    missing = [k for k in (*LAYERS, *_REQUIRED) if k not in given]
    if len(layers) > len(LAYERS) or unknown_args or missing:
        raise TypeError(f"prepare(): unknown {sorted(unknown_args)}, missing {missing}")
    return _prepare(given, lang)


def _prepare(given: dict[str, Any], lang: str) -> Prepared:
    """The steps of :func:`prepare`."""
    communities, facilities, residents, isochrones, gaps, streets = (given[k] for k in LAYERS)
    types, type_names, thresholds, speeds = (given[k] for k in _REQUIRED)
    links, rules, surveyed = given.get("links"), given.get("rules"), given.get("surveyed")
    lab = LABELS[lang]
    metric = metric_crs(communities)
    names = {t: (type_names[t][0] if lang == "zh" else type_names[t][1]) for t in types}
    rviews = _rule_views(rules, types, type_names, thresholds, speeds, lang)
    parts = _prepare_communities(communities, gaps, types, rviews, names, lang, metric, links)
    present = set(facilities["facility_type"].astype(str))
    unknown = {t for t in types if surveyed is not None and t not in set(surveyed) and t not in present}
    return Prepared(
        lang=lang,
        lab=lab,
        types=list(types),
        names=names,
        colours=type_colours(types, set(facilities["facility_type"])),
        thresholds=dict(thresholds),
        metric=metric,
        rules=rviews,
        no_data_rules={rv.id for rv in rviews if rv.type in unknown},
        **parts,
        **_prepare_facilities(facilities, types, metric),
        **_prepare_residents(residents, types, metric, speeds, thresholds, rviews, parts["rule_status"], unknown),
        **_prepare_streets(streets, metric),
        iso=_prepare_areas(isochrones, types, metric, speeds),
    )


def _prepare_gaps(gaps: pd.DataFrame, types, rmap: dict[str, RuleView]) -> pd.DataFrame:
    """The gap report of the items shown, ids as text, each row with its item's name."""
    gaps = gaps.copy()
    gaps["community_id"] = gaps["community_id"].astype(str)
    if "rule_id" not in gaps:
        gaps["rule_id"] = gaps["facility_type"]
    gaps["rule_id"] = gaps["rule_id"].astype(str)
    gaps = gaps[gaps["facility_type"].isin(types)] if "facility_type" in gaps else gaps
    gaps["rule_name"] = [rmap[r].name if r in rmap else "" for r in gaps["rule_id"]]
    return gaps


def _prepare_communities(
    communities, gaps, types, rviews: list[RuleView], names, lang: str, metric, links
) -> dict[str, Any]:
    """Step 1: communities (metric, valid) with their worst status, failing items, class and
    popup; the gap report by rule and community; the outlines' WGS-84 bounds."""
    rmap = {r.id: r for r in rviews}
    lab = LABELS[lang]
    comm = communities.to_crs(metric).reset_index(drop=True)
    comm["id"] = comm["id"].astype(str)
    comm["geometry"] = valid_geometries(comm.geometry.values, "polygon", "community boundary")
    gaps = _prepare_gaps(gaps, types, rmap)
    worst = gaps.groupby("community_id")["status"].agg(worst_status)
    comm["worst"] = comm["id"].map(worst).fillna("no_data")
    fails = gaps[gaps["status"].isin(FAILING_STATUSES)].groupby("community_id").size()
    comm["fails"] = comm["id"].map(fails).fillna(0).astype(int)
    ranges = fail_classes(len(rviews) or len(types))
    comm["fail_class"] = [fail_class(n, ranges) for n in comm["fails"]]
    rule_status: dict[str, dict[str, str]] = {}
    for rid, cid, s in zip(gaps["rule_id"], gaps["community_id"], gaps["status"], strict=True):
        rule_status.setdefault(rid, {})[cid] = s
    by_comm: dict[str, list[dict]] = {}
    for rec in gaps[[c for c in _GAP_COLS if c in gaps] + ["community_id"]].to_dict("records"):
        by_comm.setdefault(rec["community_id"], []).append(rec)
    comm["popup"] = [
        community_popup(r, by_comm.get(r["id"], []), names, lab, lang, (links or {}).get(r["id"]), rmap)
        for r in comm.drop(columns="geometry").to_dict("records")
    ]
    ok_geom = comm.geometry.notna().to_numpy()
    comm_bounds = np.full((len(comm), 4), np.nan)
    if ok_geom.any():
        comm_bounds[ok_geom] = shapely.bounds(comm[ok_geom].to_crs("EPSG:4326").geometry.values)
    return {
        "comm": comm,
        "comm_bounds4326": comm_bounds,
        "gaps": gaps,
        "status_by": status_by_type(gaps),
        "rule_status": rule_status,
        "fail_ranges": ranges,
    }


def _prepare_facilities(facilities, types, metric) -> dict[str, Any]:
    """Step 2: facilities of the types shown as metric points (an area's representative point)
    with what their popups show and their WGS-84 position; the outlines of those drawn as areas."""
    fac = facilities.to_crs(metric)
    fac = fac[fac["facility_type"].isin(types) & fac.geometry.notna() & ~fac.geometry.is_empty].reset_index(drop=True)
    is_area = fac.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    area = np.where(is_area, fac.geometry.area, np.nan)
    fac_areas = np.array([None] * len(fac), dtype=object)
    if is_area.any():
        fac_areas[is_area] = valid_geometries(fac.geometry[is_area].values, "polygon", "facility area")
    pts = gpd.GeoSeries(fac.geometry.representative_point(), crs=metric)
    ll = pts.to_crs("EPSG:4326")
    placed_f = fac["placed"].fillna(True).astype(bool).to_numpy() if "placed" in fac else np.ones(len(fac), bool)
    fields = {
        "source": _texts(fac["source"]) if "source" in fac else [""] * len(fac),
        "capacity": _texts(fac["capacity"]) if "capacity" in fac else [""] * len(fac),
        "size_m2": _texts(fac["size_m2"]) if "size_m2" in fac else [""] * len(fac),
        "area_m2": [f"{a:,.0f}" if is_area[i] and a else "" for i, a in enumerate(area)],
        "reason": [
            "" if pl else (t or "—")
            for pl, t in zip(
                placed_f,
                _texts(fac["set_aside_reason"]) if "set_aside_reason" in fac else [""] * len(fac),
                strict=True,
            )
        ],
    }
    fac = gpd.GeoDataFrame(
        {
            "facility_type": fac["facility_type"].to_numpy(),
            "id": fac["id"].astype(str).to_numpy() if "id" in fac else np.arange(len(fac)).astype(str),
            "name": fac["name"].fillna("").astype(str).to_numpy() if "name" in fac else [""] * len(fac),
            "placed": placed_f,
            **fields,
            "lat": np.round(ll.y.to_numpy(), COORD_DECIMALS),
            "lon": np.round(ll.x.to_numpy(), COORD_DECIMALS),
        },
        geometry=pts.values,
        crs=metric,
    )
    return {"fac": fac, "fac_areas": fac_areas}


def _prepare_residents(
    residents, types, metric, speeds, thresholds, rviews: list[RuleView], rule_status, unknown: set[str]
) -> dict[str, Any]:
    """Step 3: resident points (metric) with, per type, their distances and minute codes and,
    per item, their classes (``unknown``: types nothing in the input speaks about)."""
    res = residents.to_crs(metric).reset_index(drop=True)
    placed = res["placed"].fillna(False).astype(bool).to_numpy() if "placed" in res else np.ones(len(res), bool)
    comm_of = res["community_id"].astype(str).to_numpy()
    codes: dict[str, np.ndarray | None] = {}
    dists: dict[str, np.ndarray | None] = {}
    for t in types:
        col = f"dist_{t}"
        if col not in res:
            codes[t] = dists[t] = None
            continue
        d = res[col].to_numpy(dtype=float)
        dists[t] = d
        codes[t] = None if np.isnan(d).all() else resident_codes(d, placed, speeds[t], thresholds[t])
    classes: dict[str, np.ndarray] = {}
    codes_of, uniques = pd.factorize(pd.Series(comm_of, dtype=object))
    for rv in rviews:
        st = rule_status.get(rv.id, {})
        if rv.type in unknown:  # nothing in the input about this type: no data, whatever the status
            st = dict.fromkeys(st, "no_data")
        nd_comm = np.array([st.get(c) == "no_data" for c in uniques], dtype=bool)
        nodata = nd_comm[codes_of] if len(uniques) else np.zeros(len(res), bool)
        if not st:  # the gap report says nothing about this item: no data
            nodata = np.ones(len(res), bool)
        classes[rv.id] = resident_classes(dists.get(rv.type), placed, rv.thr_m, nodata)
    res_ll = res.geometry.to_crs("EPSG:4326")
    lonlat = np.column_stack([np.round(res_ll.x.to_numpy() * 1e6), np.round(res_ll.y.to_numpy() * 1e6)])
    res = gpd.GeoDataFrame(
        {
            "point_id": res["point_id"].astype(str).to_numpy()
            if "point_id" in res
            else np.arange(len(res)).astype(str),
            "community_id": comm_of,
            "placed": placed,
        },
        geometry=res.geometry.values,
        crs=metric,
    )
    return {
        "res": res,
        "res_codes": codes,
        "res_lonlat": lonlat.astype(np.int64),
        "res_dist": dists,
        "res_class": classes,
    }


def _same_line_again(geoms: np.ndarray) -> np.ndarray:
    """Whether each line repeats an earlier one, maybe reversed (both directions of a street).

    Only lines with the same two ends can be the same; those (and closed lines, and any geometry
    that is not a single line) are compared in full, as normalised WKB: a city's two million
    streets are not all normalised and serialised to find the few that repeat. The ends are
    compared by a hash (a collision only adds a line to compare)."""
    single = np.flatnonzero(shapely.get_type_id(geoms) == 1)
    compare = np.ones(len(geoms), dtype=bool)
    if len(single):
        xy, which = shapely.get_coordinates(geoms[single], return_index=True)
        start = np.searchsorted(which, np.arange(len(single) + 1))
        first, last = xy[start[:-1]], xy[start[1:] - 1]
        swap = (first[:, 0] > last[:, 0]) | ((first[:, 0] == last[:, 0]) & (first[:, 1] > last[:, 1]))
        lo, hi = np.where(swap[:, None], last, first), np.where(swap[:, None], first, last)
        key = np.zeros(len(single), dtype=np.uint64)
        for column in (lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]):
            key = key * np.uint64(1_000_003) + pd.util.hash_array(column)
        closed = (first == last).all(axis=1)  # normalising may start a closed line elsewhere
        compare[single] = pd.Series(key).duplicated(keep=False).to_numpy() | closed
    again = np.zeros(len(geoms), dtype=bool)
    if compare.any():
        norm = shapely.normalize(geoms[compare])
        again[compare] = pd.Series(shapely.to_wkb(norm)).duplicated().to_numpy()
    return again


def _prepare_streets(streets, metric) -> dict[str, Any]:
    """Step 4: streets (metric, valid), one row per street piece (both directions once), named."""
    st = streets.to_crs(metric)
    st = st[st.geometry.notna() & ~st.geometry.is_empty]
    st = st[~_same_line_again(np.asarray(st.geometry.values, dtype=object))]
    street_names = _street_names(st["name"]) if "name" in st.columns else np.full(len(st), "", dtype=object)
    st = gpd.GeoDataFrame(
        {"name": street_names},
        geometry=valid_geometries(st.geometry.values, "line", "street"),
        crs=metric,
    )
    st = st[st.geometry.notna()].reset_index(drop=True)
    streets_bounds = shapely.bounds(np.asarray(st.geometry.values, dtype=object)) if len(st) else np.zeros((0, 4))
    return {"streets": st, "streets_bounds": streets_bounds}


def _prepare_areas(isochrones, types, metric, speeds) -> gpd.GeoDataFrame:
    """Step 5: walking areas of the types shown (metric): type, minutes, distance, community."""
    iso = isochrones[isochrones["facility_type"].isin(types)].to_crs(metric)
    spd = iso["speed_m_per_min"].to_numpy(dtype=float) if "speed_m_per_min" in iso else None
    if "distance_m" in iso:
        dist_m = iso["distance_m"].to_numpy(dtype=float)
    else:
        dist_m = np.array(
            [
                m * (spd[i] if spd is not None else speeds[t])
                for i, (t, m) in enumerate(zip(iso["facility_type"], iso["minutes"], strict=True))
            ],
            dtype=float,
        )
    cid = (
        iso["community_id"].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        if "community_id" in iso
        else pd.Series([None] * len(iso))
    )
    iso = gpd.GeoDataFrame(
        {
            "facility_type": iso["facility_type"].to_numpy(),
            "minutes": iso["minutes"].to_numpy(dtype=float),
            "distance_m": dist_m,
            "community_id": cid.to_numpy(dtype=object),
        },
        geometry=valid_geometries(iso.geometry.values, "polygon", "walking area"),
        crs=metric,
    )
    iso = iso[iso.geometry.notna()].reset_index(drop=True)
    return iso


def _street_names(values: pd.Series) -> np.ndarray:
    """:func:`_street_name` of each value, worked out once per distinct name."""
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:  # OSMnx gives a street of several names as a list
        return values.map(_street_name).to_numpy()
    return np.array([*(_street_name(v) for v in uniques), ""], dtype=object)[codes]  # -1 (none): ""


def _street_name(v) -> str:
    """A street's display name ('' when it has none); OSM lists come as lists or 'a;b'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, list | tuple | np.ndarray):
        v = next((str(x) for x in v if isinstance(x, str) and x), "")
    return str(v).split(";")[0].strip()


def type_colours(types: list[str], present: set[str]) -> dict[str, str]:
    """A colour per type; the types that have facilities (``present``) get distinct ones first."""
    ordered = [t for t in types if t in present] + [t for t in types if t not in present]
    return {t: TYPE_COLOURS[i % len(TYPE_COLOURS)] for i, t in enumerate(ordered)}


def status_by_type(gaps: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Community id -> facility type -> worst status of the type's rules."""
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    k = gaps["status"].map(lambda s: rank.get(s, len(rank))).to_numpy()
    df = pd.DataFrame({"c": gaps["community_id"].astype(str).to_numpy(), "t": gaps["facility_type"].to_numpy(), "k": k})
    worst = df.groupby(["c", "t"], sort=False)["k"].min()
    out: dict[str, dict[str, str]] = {}
    for (cid, t), v in worst.items():
        out.setdefault(cid, {})[t] = STATUS_ORDER[v] if v < len(STATUS_ORDER) else "no_data"
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
    bad = {t: sum(1 for v in status_by.values() if v.get(t) in FAILING_STATUSES) for t in with_fac}
    return max(with_fac, key=lambda t: (bad[t], -types.index(t)))


def pick_rule(p: Prepared, focus: str | None = None) -> str:
    """The item shown on opening: the worst-off item whose type has facilities (in community
    ``focus``, or failing in the most communities)."""
    present = set(p.fac["facility_type"])
    cands = [r for r in p.rules if r.type in present] or list(p.rules)
    if not cands:
        return ""
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    order = {r.id: i for i, r in enumerate(p.rules)}
    if focus is not None:
        return min(
            cands, key=lambda r: (rank.get(p.rule_status.get(r.id, {}).get(str(focus), "no_data"), 99), order[r.id])
        ).id
    bad = {r.id: sum(1 for s in p.rule_status.get(r.id, {}).values() if s in FAILING_STATUSES) for r in cands}
    return max(cands, key=lambda r: (bad[r.id], -order[r.id])).id


def street_names_of(network) -> np.ndarray | None:
    """The street name of every edge of a walking network (``WalkNetwork.name``), None without."""
    v = getattr(network, "name", None)
    return np.asarray(v, dtype=object) if v is not None and len(v) == network.n_edges else None


def map_inputs(result) -> dict[str, Any]:
    """The keyword arguments of :func:`circles.mapping.make_map` for a :class:`circles.pipeline.Result`."""
    from ._labels import rule_name

    rb = result.rulebook
    types = rb.types_used()
    first_rule: dict[str, Any] = {}
    for r in rb.rules:
        if getattr(r, "facility_type", None):
            first_rule.setdefault(r.facility_type, r)
    streets = result.network.edges_gdf()
    if "name" not in streets.columns:
        names = street_names_of(result.network)
        if names is not None:
            streets["name"] = names
    layers = {k: getattr(result, k) for k in ("communities", "facilities", "residents", "isochrones", "gaps")}
    return dict(
        **layers,
        streets=streets,
        types=types,
        type_names={t: (rb.facility_types[t].name_zh, rb.facility_types[t].name_en) for t in types},
        thresholds={t: first_rule[t].threshold_min for t in types},
        speeds={t: result.type_speed[t] for t in types},
        surveyed=sorted(getattr(result, "surveyed", None) or []) if hasattr(result, "surveyed") else None,
        rules=[
            {
                "id": r.id,
                "facility_type": r.facility_type,
                "name_zh": rule_name(r, "zh"),
                "name_en": rule_name(r, "en"),
                "threshold_min": rb.threshold_minutes(r),
                "threshold_m": rb.threshold_m(r),
                "in_metres": r.distance_m is not None,
                "speed": rb.speed_of(r),
            }
            for r in rb.rules
            if r.facility_type
        ],
    )


def community_file_name(community_id: str) -> str:
    """File name (without folder) of a community's map: its id made safe for any file system."""
    safe = re.sub(r"[^\w.-]+", "_", str(community_id), flags=re.UNICODE).strip("._") or "community"
    return f"{safe[:100]}.html"
