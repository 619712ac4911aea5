"""Report-grade static figures: the gaps per community, an overview and one figure per community.

``write_figures`` writes, at 300 dpi:

``gaps.png`` (then ``gaps_2.png`` … when there are many communities)
    The first figure: a community × item grid of statuses (each cell coloured and marked,
    readable in grey print), communities sorted by their gaps, the 一老一幼 items first, with
    a bar of gap/undersized/partial items per community.
``overview.png``
    All communities (boundaries in their worst status), facilities, the walking areas of one
    type and the residents coloured by their walk to it; the status counts per community.
``<id>.png``
    One per community: its map and its status table (item, threshold as the rule states it,
    status, share of residents within the threshold, nearest-facility minutes).

Every figure states the date, 编制单位 (``author``), the input files and "© OpenStreetMap
contributors" whenever OSM data is used; estimated populations say（估算）. Residents are
coloured relative to the shown rule's threshold: within it, up to twice it, beyond; a type
without data is grey, without a ring. Facilities are dark squares with their type's letter, so
their colour never competes with the status and minute colours (all colour-blind-safe, from
:mod:`circles._labels`).

Everything is laid out in points from measured text with the typesetting toolkit
(:mod:`circles._typeset`: fonts, wrapping, the page, tables, legends): long names wrap, nothing
is drawn outside the page. The maps, status tables and footers made here also make the pages
of the printed report (:mod:`circles.report`).

Matplotlib is used without pyplot (``Figure`` + the Agg canvas), so importing this module never
changes the backend of a notebook. Chinese labels need a CJK font: one installed on the system
(Debian ``fonts-noto-cjk``, WenQuanYi, SimHei, Microsoft YaHei, PingFang …) is found and used;
without one a warning is logged and the labels are written in English.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from shapely.geometry.polygon import orient
from tqdm.auto import tqdm

from . import _display, _typeset
from ._labels import (
    ATTRIBUTION,
    FACILITY_FOCUS_COLOUR,
    FACILITY_ICON_COLOUR,
    ICON_TEXT,
    REACH_COLOURS,
    REPORT_LABELS,
    STATUS_COLOURS,
    STATUS_MARK,
    STATUS_ORDER,
    STREET_COLOUR,
    TERMINAL_LABELS,
    WALK_AREA_COLOUR,
    rule_name,
    status_name,
    threshold_text,
    type_name,
)
from ._summary import community_ranking
from ._typeset import (
    A4_LANDSCAPE,
    A4_PORTRAIT,
    MARGIN,
    Key,
    KeyGroup,
    Sheet,
    Table,
    Typesetter,
    draw_legend,
    header,
    legend_height,
    line_height,
    rc,
)
from .options import OutputOptions, build

#: The figures' names; the typesetting toolkit they are drawn with is :mod:`circles._typeset`.
__all__ = [
    "Context",
    "DPI",
    "MapPlan",
    "Meta",
    "community_figure",
    "community_stems",
    "community_title",
    "context",
    "counts_table",
    "draw_map",
    "footer",
    "footer_text",
    "gaps_chunks",
    "gaps_figure",
    "gaps_file_names",
    "icon_letters",
    "item_label",
    "landscape_figure",
    "plan_map",
    "reach_classes",
    "report_date",
    "run_meta",
    "status_table",
    "subtitle",
    "type_has_no_data",
    "type_threshold",
    "uses_osm",
    "write_figures",
]

log = logging.getLogger(__name__)

#: Resolution of the PNG figures.
DPI = 300


def _labels(lang: str) -> tuple[str, str | None]:
    """The language to write in and the font family (falls back to English without a CJK font)."""
    font = _typeset.cjk_font()  # looked up in _typeset at each call: a test replacing it there reaches here
    if lang == "zh" and font is None:
        log.warning(
            "no CJK font found (install fonts-noto-cjk): the figures are labelled in English and "
            "Chinese names may show as boxes"
        )
        return "en", None
    return lang, font


# ---------------------------------------------------------------------------------------------
# What every figure states: date, author, data sources
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meta:
    """What every figure and report page states about the run."""

    date: str
    author: str
    files: tuple[str, ...]
    osm: bool
    standard: str
    version: str


def report_date(date: str | dt.date | None = None) -> str:
    """The date shown (ISO): ``date``; else ``SOURCE_DATE_EPOCH`` (reproducible builds); else today."""
    if isinstance(date, dt.date):
        return date.isoformat()
    if date:
        return dt.date.fromisoformat(str(date)).isoformat()
    from ._outputs import source_date_epoch

    epoch = source_date_epoch()
    if epoch is not None:
        return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).date().isoformat()
    return dt.date.today().isoformat()


_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.xml", ".pbf")
_OSM_IDS = ("node/", "way/", "relation/")


def uses_osm(result: Any) -> bool:
    """True when any input of ``result`` comes from OpenStreetMap (network, facilities or boundaries)."""
    net = str(result.inputs.get("network", "")).lower()
    if net == "online" or net.endswith(_OSM_SUFFIXES):
        return True
    source = str(getattr(result.network, "source", "")).lower()
    if "osm" in source or "openstreetmap" in source:
        return True
    fac = result.facilities
    if "source" in fac and fac["source"].astype(str).str.contains("openstreetmap|osm", case=False, regex=True).any():
        return True
    for frame in (fac, result.communities):
        if "id" in frame and frame["id"].astype(str).str.startswith(_OSM_IDS).any():
            return True
    return False


def run_meta(result: Any, lang: str, author: str = "", date: str | dt.date | None = None) -> Meta:
    """The :class:`Meta` of a run."""
    from . import __version__

    files = []
    for key in ("boundaries", "facilities", "network", "buildings"):
        v = str(result.inputs.get(key, "") or "")
        if v:
            files.append(v if v == "online" else Path(v).name)
    rb = result.rulebook
    standard = (rb.name_zh if lang == "zh" else rb.name_en) or rb.name_zh or rb.profile
    return Meta(
        date=report_date(date),
        author=str(author or "").strip(),
        files=tuple(files),
        osm=uses_osm(result),
        standard=str(standard),
        version=__version__,
    )


def footer_text(meta: Meta, lang: str, with_author_placeholder: bool = False) -> str:
    """One paragraph: 编制单位, date, standard, software; the data files and the OSM attribution."""
    lab = REPORT_LABELS[lang]
    c = lab["colon"]
    parts = []
    if meta.author or with_author_placeholder:
        parts.append(f"{lab['author']}{c}{meta.author or lab['not_given']}")
    parts += [
        f"{lab['date']}{c}{meta.date}",
        f"{lab['standard']}{c}{meta.standard}",
        f"{lab['software']}{c}circles {meta.version}",
    ]
    data = lab["sep"].join(meta.files)
    if meta.osm:
        data = f"{data}；{lab['osm']}" if lang == "zh" else f"{data}; {lab['osm']}"
    parts.append(f"{lab['data']}{c}{data}")
    return ("　" if lang == "zh" else "   ").join(parts)


# ---------------------------------------------------------------------------------------------
# Everything a figure needs, prepared once per run
# ---------------------------------------------------------------------------------------------


@dataclass
class Context:
    """Display data of a run, prepared once for all figures and report pages."""

    result: Any
    lang: str
    families: list[str]
    p: _display.Prepared
    streets: gpd.GeoDataFrame
    iso: gpd.GeoDataFrame
    rules: dict[str, Any]
    first_rule: dict[str, Any]
    order: list[str]
    meta: Meta
    letters: dict[str, str]
    ranking: list[str]
    gaps_by: dict[str, pd.DataFrame]
    present: set[str]
    ts: Typesetter
    #: no font with Chinese glyphs was found: the text is English, Chinese names show as boxes
    font_missing: bool = False

    @property
    def lab(self) -> dict[str, str]:
        return REPORT_LABELS[self.lang]

    def with_families(self, families: Sequence[str]) -> Context:
        """The same context measuring and drawing text in ``families``."""
        from dataclasses import replace

        return replace(self, families=list(families), ts=Typesetter(families))


def icon_letters(types: Sequence[str], names: dict[str, str], lang: str) -> dict[str, str]:
    """One distinct letter per facility type (``ICON_TEXT``, else a character of its name)."""
    used: set[str] = set()
    out: dict[str, str] = {}
    for t in types:
        pref = ICON_TEXT.get(t)
        cands = [pref[0 if lang == "zh" else 1]] if pref else []
        name = names.get(t, t)
        cands += list(name) if lang == "zh" else [name[:2], name[:1].upper() + name[1:2]]
        cands += [f"{t[:1].upper()}{i}" for i in range(2, 30)]
        letter = next(c for c in cands if c.strip() and c not in used)
        used.add(letter)
        out[t] = letter
    return out


def context(result: Any, lang: str = "zh", *, author: str = "", date: str | dt.date | None = None) -> Context:
    """Prepare the display data of ``result`` for :func:`write_figures` and the report.

    Parameters
    ----------
    result : circles.pipeline.Result
    lang : {"zh", "en"}
        English without a CJK font.
    author : str
        编制单位, printed on every figure.
    date : str or date, optional
        Date printed (default: ``SOURCE_DATE_EPOCH`` or today).
    """
    lang, font = _labels(lang)
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    kw = _display.map_inputs(result)
    p = _display.prepare(**kw, lang=lang)
    metric = p.metric
    streets = kw["streets"].to_crs(metric)
    streets = gpd.GeoDataFrame(
        geometry=streets.geometry.simplify(_display.STREET_TOLERANCE_M).values, crs=metric
    ).reset_index(drop=True)
    iso = kw["isochrones"].to_crs(metric)
    iso = gpd.GeoDataFrame(
        {"facility_type": iso["facility_type"].to_numpy(), "minutes": iso["minutes"].to_numpy()},
        geometry=iso.geometry.simplify(_display.AREA_TOLERANCE_M).values,
        crs=metric,
    )
    iso = iso[~iso.geometry.is_empty & iso.geometry.notna()].reset_index(drop=True)
    rb = result.rulebook
    rules = {r.id: r for r in rb.rules}
    first_rule: dict[str, Any] = {}
    for r in rb.rules:
        first_rule.setdefault(r.facility_type, r)
    in_gaps = list(dict.fromkeys(p.gaps["rule_id"].astype(str)))
    known = [r.id for r in rb.rules if r.id in in_gaps] + [i for i in in_gaps if i not in rules]
    order = [i for i in known if i in rules and rules[i].elderly_child] + [
        i for i in known if not (i in rules and rules[i].elderly_child)
    ]
    names = {t: type_name(rb.facility_types[t], lang) for t in p.types}
    p.names.update(names)
    gaps = p.gaps
    return Context(
        result=result,
        lang=lang,
        families=families,
        p=p,
        streets=streets,
        iso=iso,
        rules=rules,
        first_rule=first_rule,
        order=order,
        meta=run_meta(result, lang, author, date),
        letters=icon_letters(p.types, names, lang),
        ranking=community_ranking(gaps, list(p.comm["id"])),
        gaps_by={str(k): g for k, g in gaps.groupby("community_id", sort=False)},
        present=set(p.fac["facility_type"]),
        ts=Typesetter(families),
        font_missing=font is None,
    )


# ---------------------------------------------------------------------------------------------
# Rows of the tables
# ---------------------------------------------------------------------------------------------


def item_label(ctx: Context, rule_id: str, star: bool = True) -> str:
    """An item's name (``rule_name``), starred when it is an 一老一幼 item."""
    r = ctx.rules.get(rule_id)
    if r is None:
        sub = ctx.p.gaps[ctx.p.gaps["rule_id"].astype(str) == rule_id]
        return str(sub["facility_name_zh"].iloc[0]) if len(sub) else rule_id
    name = rule_name(r, ctx.lang)
    return f"★{name}" if star and r.elderly_child else name


def _threshold(ctx: Context, rule_id: str, row: Any, factor: float = 1.0) -> str:
    r = ctx.rules.get(rule_id)
    metres = r is not None and r.distance_m is not None
    return threshold_text(float(row.threshold_min) * factor, float(row.threshold_m) * factor, metres, ctx.lang)


def _minutes(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return f"{f:.1f}" if np.isfinite(f) else "—"


def status_table(ctx: Context, cid: str, width: float, size: float) -> Table:
    """The status table of community ``cid`` (item, threshold, status, share, nearest minutes)."""
    lab = ctx.lab
    sub = ctx.gaps_by.get(str(cid), ctx.p.gaps.iloc[:0])
    by_rule = {str(r.rule_id): r for r in sub.itertuples()}
    rows: list[list[str]] = []
    fills: list[list[str | None]] = []
    for rid in ctx.order:
        r = by_rule.get(rid)
        if r is None:
            continue
        share = getattr(r, "covered_share", np.nan)
        near = (
            f"{_minutes(getattr(r, 'nearest_min_median', np.nan))} / {_minutes(getattr(r, 'nearest_min_max', np.nan))}"
        )
        rows.append(
            [
                item_label(ctx, rid),
                _threshold(ctx, rid, r),
                status_name(r.status, ctx.lang),
                "—" if pd.isna(share) else f"{share:.0%}",
                "—" if r.status == "no_data" else near,
            ]
        )
        fills.append([None, None, STATUS_COLOURS.get(r.status), None, None])
    frac = np.array([0.34, 0.22, 0.13, 0.11, 0.2])
    return Table(
        header=[lab["item"], lab["threshold"], lab["status"], lab["covered"], lab["nearest"]],
        rows=rows,
        widths=list(frac * width),
        align=["left", "left", "left", "right", "right"],
        fills=fills,
        size=size,
    )


def counts_table(ctx: Context, width: float, size: float, cids: Sequence[str] | None = None) -> Table:
    """Status counts per community (the overview's table), worst communities first."""
    gaps = ctx.p.gaps
    counts = gaps.groupby(["community_id", "status"]).size().unstack(fill_value=0)
    shown = [s for s in STATUS_ORDER if s in counts.columns]
    names = dict(zip(ctx.p.comm["id"], ctx.p.comm["name"].astype(str), strict=True))
    rows = []
    for cid in cids if cids is not None else ctx.ranking:
        c = counts.loc[cid] if cid in counts.index else pd.Series(dtype=int)
        rows.append([names.get(cid, cid)] + [str(int(c.get(s, 0))) for s in shown])
    n = len(shown)
    first = min(0.34, 1 - 0.1 * n) if n else 1.0
    widths = [first * width] + [(1 - first) * width / max(n, 1)] * n
    return Table(
        header=[_community_word(ctx.lang)] + [status_name(s, ctx.lang) for s in shown],
        rows=rows,
        widths=widths,
        align=["left"] + ["right"] * n,
        size=size,
    )


def _community_word(lang: str) -> str:
    return "社区" if lang == "zh" else "Community"


# ---------------------------------------------------------------------------------------------
# Maps
# ---------------------------------------------------------------------------------------------


def _nice_length(width_m: float) -> float:
    """A round scale-bar length about a fifth of ``width_m``."""
    target = width_m / 5
    base = 10 ** np.floor(np.log10(target))
    return float(max(b * base for b in (1, 2, 5) if b * base <= target))


def _scale_bar(ax, x0: float, y0: float, x1: float, y1: float, size: float) -> None:
    length = _nice_length(x1 - x0)
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    h = 0.008 * (y1 - y0)
    ax.add_patch(Rectangle((bx, by), length / 2, h, facecolor="#222", edgecolor="#222", zorder=20))
    ax.add_patch(Rectangle((bx + length / 2, by), length / 2, h, facecolor="#fff", edgecolor="#222", zorder=20))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(
        bx + length / 2,
        by + 2.2 * h,
        label,
        ha="center",
        va="bottom",
        fontsize=size,
        zorder=20,
        bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=0.8),
    )


def _north_arrow(ax, text: str, size: float) -> None:
    ax.annotate(
        text,
        xy=(0.95, 0.95),
        xytext=(0.95, 0.86),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=size,
        fontweight="bold",
        zorder=20,
        bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=1.0),
        arrowprops=dict(facecolor="#222", edgecolor="#222", width=3.5, headwidth=10, headlength=9),
    )


def _lines(ax, geoms, **kw) -> None:
    """Draw the lines (or polygon outlines) of ``geoms`` as one collection."""
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return
    b = shapely.boundary(geoms)
    lines = np.where(shapely.get_dimensions(geoms) == 2, b, geoms)
    parts = shapely.get_parts(shapely.get_parts(lines))
    parts = parts[~shapely.is_empty(parts)]
    ax.add_collection(LineCollection([shapely.get_coordinates(g) for g in parts], **kw))


def _polygons(ax, geoms, **kw) -> None:
    """Fill the polygons of ``geoms`` (holes kept) as one patch."""
    verts, codes = [], []
    for g in shapely.get_parts(np.asarray(geoms, dtype=object)):
        if g.geom_type != "Polygon" or g.is_empty:
            continue
        g = orient(g, 1.0)
        for ring in [g.exterior, *g.interiors]:
            c = np.asarray(ring.coords)
            verts.append(c)
            codes.append([MplPath.MOVETO] + [MplPath.LINETO] * (len(c) - 2) + [MplPath.CLOSEPOLY])
    if verts:
        ax.add_patch(PathPatch(MplPath(np.concatenate(verts), np.concatenate(codes)), **kw))


def reach_classes(
    codes: np.ndarray | None, placed: np.ndarray, threshold_min: float, no_data: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Class of each resident relative to the threshold, and whether it gets a ring.

    Parameters
    ----------
    codes : array of int or None
        Walking minutes × 10 (``_display.resident_codes``; -1 none reachable, -2 not placed),
        or None when the type has no distances (no facility of it).
    placed : array of bool
    threshold_min : float
        The shown rule's threshold in minutes.
    no_data : bool
        The type has no data: a resident not within the threshold is ``nodata`` (grey, no ring:
        it is not known to lack the facility); one with a facility within reach is still covered
        (as on the maps).

    Returns
    -------
    classes : array of str
        ``within`` (≤ threshold), ``double`` (≤ 2 × threshold), ``beyond`` (further, or nothing
        reachable), ``nodata`` or ``unplaced`` (keys of ``REACH_COLOURS``).
    ring : array of bool
        Residents beyond the threshold (not covered).
    """
    placed = np.asarray(placed, dtype=bool)
    n = len(placed)
    if no_data:
        cls, _ = reach_classes(codes, placed, threshold_min)
        cls[(cls != "within") & placed] = "nodata"
        return cls, np.zeros(n, bool)
    if codes is None:
        codes = np.where(placed, -1, -2)
    codes = np.asarray(codes)
    thr10 = threshold_min * 10
    cls = np.full(n, "beyond", dtype=object)
    cls[(codes >= 0) & (codes <= 2 * thr10 + 1e-9)] = "double"
    cls[(codes >= 0) & (codes <= thr10 + 1e-9)] = "within"
    cls[codes == -2] = "unplaced"
    cls[~placed] = "unplaced"
    ring = (cls == "double") | (cls == "beyond")
    return cls, ring


def type_has_no_data(ctx: Context, ftype: str, focus: str | None) -> bool:
    """True when the type's status is ``no_data`` in the community (overview: in every community)."""
    sb = ctx.p.status_by
    if focus is not None:
        return sb.get(str(focus), {}).get(ftype, "no_data") == "no_data"
    return all(v.get(ftype, "no_data") == "no_data" for v in sb.values())


def _view(ctx: Context, focus: str | None, aspect: float) -> tuple[float, float, float, float]:
    comm = ctx.p.comm
    if focus is not None:
        fi = int(np.flatnonzero(comm["id"].to_numpy() == str(focus))[0])
        x0, y0, x1, y1 = comm.geometry.iloc[fi].bounds
        margin = max(250.0, 0.15 * max(x1 - x0, y1 - y0))
    else:
        x0, y0, x1, y1 = comm.total_bounds
        margin = max(100.0, 0.05 * max(x1 - x0, y1 - y0))
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    w, h = x1 - x0, y1 - y0
    if w / h < aspect:
        extra = (h * aspect - w) / 2
        x0, x1 = x0 - extra, x1 + extra
    else:
        extra = (w / aspect - h) / 2
        y0, y1 = y0 - extra, y1 + extra
    return x0, y0, x1, y1


#: From this many residents on a map, they are small dots without rings.
_DENSE = 5000


@dataclass
class MapPlan:
    """What a map shows (computed before drawing, so that its legend can be measured)."""

    focus: str | None
    ftype: str
    view: tuple[float, float, float, float]
    fi: int | None
    no_data: bool
    iso: gpd.GeoDataFrame
    minutes: list[float]
    sel: np.ndarray
    classes: np.ndarray
    ring: np.ndarray
    fac: gpd.GeoDataFrame
    present: list[str]
    groups: list[KeyGroup]
    crowded: bool = False


def plan_map(ctx: Context, focus: str | None, ftype: str, aspect: float) -> MapPlan:
    """The content and the legend of the map of ``focus`` (None: all) coloured by ``ftype``, for a
    box of width/height ``aspect``."""
    p, lab, lang = ctx.p, ctx.lab, ctx.lang
    x0, y0, x1, y1 = _view(ctx, focus, aspect)
    view = shapely.box(x0, y0, x1, y1)
    comm = p.comm
    fi = None if focus is None else int(np.flatnonzero(comm["id"].to_numpy() == str(focus))[0])
    no_data = type_has_no_data(ctx, ftype, focus)
    iso = ctx.iso[ctx.iso["facility_type"] == ftype]
    iso = iso[iso.intersects(view)] if len(iso) and not no_data else iso.iloc[:0]
    minutes = [float(m) for m in sorted(iso["minutes"].unique())]
    res = p.res
    sel = (res["community_id"].to_numpy() == str(focus)) if fi is not None else np.ones(len(res), bool)
    codes = p.res_codes.get(ftype)
    thr = float(p.thresholds[ftype])
    cls, ring = reach_classes(None if codes is None else codes[sel], res["placed"].to_numpy()[sel], thr, no_data)
    fac = p.fac.iloc[np.sort(p.fac.sindex.query(view, predicate="intersects"))] if len(p.fac) else p.fac
    in_view = set(fac["facility_type"])
    present = [t for t in p.types if t in in_view]

    tname = p.names[ftype]
    crowded = len(fac) > 150  # a city: small squares without letters
    if crowded:
        fac_keys = [Key(p.names[ftype], "icon", face=FACILITY_FOCUS_COLOUR, edge="#fff", size=6)] * (ftype in present)
        fac_keys.append(Key(lab["other_facilities"], "icon", face=FACILITY_ICON_COLOUR, edge="#fff", size=4.5))
    else:
        fac_keys = [
            Key(
                p.names[t],
                "icon",
                face=FACILITY_FOCUS_COLOUR if t == ftype else FACILITY_ICON_COLOUR,
                edge="#fff",
                letter=ctx.letters[t],
                size=10,
            )
            for t in sorted(present, key=lambda t: t != ftype)
        ]
    if len(fac) and not fac["placed"].all():
        fac_keys.append(Key(lab["facility_unplaced"], "icon", face="none", edge="#444", style="--", size=9))
    thr, thr_m, metres = type_threshold(ctx, ftype)
    t1 = threshold_text(thr, thr_m, metres, lang)
    t2 = threshold_text(2 * thr, 2 * thr_m, metres, lang)
    if no_data:
        res_keys = [Key(lab["no_data_dots"], "dot", face=REACH_COLOURS["nodata"], edge="#fff", size=6)]
    else:
        res_keys = [
            Key(lab["within"].format(thr=t1), "dot", face=REACH_COLOURS["within"], edge="#fff", size=6),
            Key(lab["double"].format(thr2=t2), "dot", face=REACH_COLOURS["double"], edge="#111", lw=1.0, size=6),
            Key(lab["beyond"].format(thr2=t2), "dot", face=REACH_COLOURS["beyond"], edge="#111", lw=1.0, size=6),
        ]
        if int(sel.sum()) < _DENSE:  # thousands of dots are drawn without rings
            res_keys.append(Key(lab["beyond_ring"], "dot", face="#fff", edge="#111", lw=1.0, size=6))
    if (cls == "unplaced").any():
        res_keys.append(Key(lab["unplaced"], "dot", face=REACH_COLOURS["unplaced"], edge="#777", size=6))
    other: list[Key] = []
    if minutes:
        other.append(
            Key(
                lab["walk_area"].format(type=tname, minutes="/".join(f"{m:g}" for m in minutes)),
                "area",
                face=WALK_AREA_COLOUR,
                alpha=0.2,
                edge=WALK_AREA_COLOUR,
            )
        )
    shown = comm if fi is None else comm.iloc[[fi]]
    worst = [s for s in STATUS_ORDER if (shown["worst"] == s).any()]
    other.append(
        Key(
            lab["boundary"].format(status=lab["sep"].join(status_name(s, lang) for s in worst)),
            "line",
            edge=STATUS_COLOURS.get(worst[0], "#333") if worst else "#333",
            lw=2.2,
        )
    )
    if fi is not None:
        other.append(Key(lab["other_communities"], "line", edge="#777", lw=0.9, style=(0, (3, 3))))
    other.append(Key(lab["streets"], "line", edge=STREET_COLOUR, lw=1.0))
    groups = [
        KeyGroup(lab["facilities"], fac_keys),
        KeyGroup(lab["residents"].format(type=tname), res_keys),
        KeyGroup(lab["other_keys"], other),
    ]
    return MapPlan(
        focus, ftype, (x0, y0, x1, y1), fi, no_data, iso, minutes, sel, cls, ring, fac, present, groups, crowded
    )


def draw_map(sheet: Sheet, box: tuple[float, float, float, float], ctx: Context, plan: MapPlan) -> None:
    """Draw ``plan`` in ``box`` (points: left, top, width, height): streets, walking areas,
    communities, residents, facilities, then the frame (scale bar, north arrow, attribution)."""
    x, y, w, h = box
    ax = sheet.axes(x, y, w, h)
    x0, y0, x1, y1 = plan.view
    view = shapely.box(x0, y0, x1, y1)
    scale = min(1.0, max(0.6, w / 520))  # smaller text and marks on small maps
    idx = ctx.streets.sindex.query(view, predicate="intersects")
    _lines(ax, ctx.streets.geometry.values[np.sort(idx)], colors=STREET_COLOUR, linewidths=0.6, zorder=1)
    _draw_areas(ax, plan)
    _draw_communities(ax, ctx, plan, view, scale)
    _draw_residents(ax, ctx, plan, scale)
    _draw_facilities(ax, ctx, plan, scale)
    _draw_frame(ax, ctx, plan, scale)


def _draw_areas(ax: Any, plan: MapPlan) -> None:
    """The walking areas of the plan's minutes, the longest palest, the item's own solid."""
    x0, y0, x1, y1 = plan.view
    bands = sorted(plan.iso.groupby("minutes"), key=lambda kv: -kv[0]) if plan.minutes else []
    for rank, (_m, grp) in enumerate(bands):
        clipped = shapely.clip_by_rect(np.asarray(grp.geometry.values, dtype=object), x0, y0, x1, y1)
        _polygons(ax, clipped, facecolor=WALK_AREA_COLOUR, alpha=0.07 + 0.05 * rank, edgecolor="none", zorder=2)
        _lines(
            ax,
            clipped,
            colors=WALK_AREA_COLOUR,
            linewidths=0.8,
            linestyles="-" if rank == len(bands) - 1 else "--",
            zorder=2,
        )


def _draw_communities(ax: Any, ctx: Context, plan: MapPlan, view: Any, scale: float) -> None:
    """Community outlines in their worst status's colour (the neighbours dashed) and, on the
    overview, their names."""
    p = ctx.p
    comm = p.comm
    fi = plan.fi
    if fi is not None:
        others = comm[(np.arange(len(comm)) != fi) & comm.intersects(view).to_numpy()]
        if len(others):
            _lines(ax, others.geometry.values, colors="#777", linewidths=0.9, linestyles=(0, (3, 3)), zorder=3)
    shown = comm if fi is None else comm.iloc[[fi]]
    for wst, grp in shown.groupby("worst"):
        _lines(
            ax,
            grp.geometry.values,
            colors=STATUS_COLOURS.get(wst, "#333"),
            linewidths=(2.6 if fi is not None else 1.6) * scale,
            zorder=4,
        )
    if fi is None and len(comm) <= 80:
        for _, r in comm.iterrows():
            c = r.geometry.representative_point()
            ax.text(
                c.x,
                c.y,
                str(r["name"]),
                fontsize=6 * scale,
                ha="center",
                va="center",
                zorder=7,
                color="#222",
                clip_on=True,
                bbox=dict(facecolor="white", alpha=0.65, edgecolor="none", pad=0.5),
            )


def _draw_residents(ax: Any, ctx: Context, plan: MapPlan, scale: float) -> None:
    """Resident points coloured relative to the threshold (ringed beyond it when few)."""
    p = ctx.p
    res = p.res
    sel, cls, ring = plan.sel, plan.classes, plan.ring
    n_sel = int(sel.sum())
    size = (30 if n_sel < 500 else (12 if n_sel < _DENSE else 3)) * scale**2
    if n_sel:
        faces = [REACH_COLOURS[c] for c in cls]
        if n_sel < _DENSE:
            edges = np.where(ring, "#111", np.where(cls == "unplaced", "#777", "#fff"))
            widths = np.where(ring, 1.2, 0.4)
        else:  # thousands of small dots: rings and edges would hide the colours
            edges = np.where(cls == "unplaced", "#777", "none")
            widths = np.where(cls == "unplaced", 0.3, 0.0)
        ax.scatter(
            res.geometry.x.to_numpy()[sel],
            res.geometry.y.to_numpy()[sel],
            s=size,
            c=faces,
            edgecolors=list(edges),
            linewidths=widths.tolist(),
            zorder=6.5,  # above the other types' facilities, below the shown type's
            gid="residents",
        )


def _draw_facilities(ax: Any, ctx: Context, plan: MapPlan, scale: float) -> None:
    """Facilities: dark squares with the type's letter (the item's type larger, black); set-aside
    ones dashed."""
    fac = plan.fac
    crowded = plan.crowded
    for t in plan.present:
        sub = fac[fac["facility_type"] == t]
        big = t == plan.ftype
        colour = FACILITY_FOCUS_COLOUR if big else FACILITY_ICON_COLOUR
        ms = ((5.5 if big else 3.5) if crowded else (11.0 if big else 8.5)) * scale
        on, off = sub[sub["placed"]], sub[~sub["placed"]]
        ax.scatter(
            on.geometry.x,
            on.geometry.y,
            s=ms**2,
            marker="s",
            c=colour,
            edgecolors="#fff",
            linewidths=0.3 if crowded else 0.6,
            zorder=8 if big else 6,
            gid=f"facilities:{t}",
        )
        if len(off):
            ax.scatter(
                off.geometry.x,
                off.geometry.y,
                s=ms**2,
                marker="s",
                facecolors="none",
                edgecolors=colour,
                linewidths=1.0,
                linestyle="--",
                zorder=6,
            )
        if not crowded:
            for g in on.geometry:
                ax.text(
                    g.x,
                    g.y,
                    ctx.letters[t],
                    fontsize=ms * 0.62,
                    ha="center",
                    va="center",
                    color="#fff",
                    zorder=9 if big else 6.1,
                    clip_on=True,
                )


def _draw_frame(ax: Any, ctx: Context, plan: MapPlan, scale: float) -> None:
    """Limits, no ticks, a thin frame, the scale bar, the north arrow and the attribution."""
    x0, y0, x1, y1 = plan.view
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor("#888")
        s.set_linewidth(0.6)
    _scale_bar(ax, x0, y0, x1, y1, 7 * scale)
    _north_arrow(ax, ctx.lab["north"], 10 * scale)
    if ctx.meta.osm:
        ax.text(
            0.995,
            0.005,
            ATTRIBUTION,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=6.5,
            color="#333",
            zorder=20,
            bbox=dict(facecolor="white", alpha=0.75, edgecolor="none", pad=1),
        )


def type_threshold(ctx: Context, ftype: str) -> tuple[float, float, bool]:
    """The shown rule's threshold of a type: minutes, metres, and whether the rule states metres."""
    rule = ctx.first_rule.get(ftype)
    thr = float(ctx.p.thresholds[ftype])
    if rule is not None and rule.distance_m is not None:
        return thr, float(rule.distance_m), True
    return thr, thr * float(ctx.result.type_speed.get(ftype, np.nan)), False


def subtitle(ctx: Context, ftype: str, focus: str | None) -> str:
    """What the residents' colours mean (the shown rule and its threshold)."""
    lab = ctx.lab
    tname = ctx.p.names[ftype]
    if type_has_no_data(ctx, ftype, focus):
        return lab["subtitle_nodata"].format(type=tname)
    rule = ctx.first_rule.get(ftype)
    thr, thr_m, metres = type_threshold(ctx, ftype)
    rname = rule_name(rule, ctx.lang) if rule is not None else tname
    key = "subtitle" if rname == tname else "subtitle_rule"
    return lab[key].format(type=tname, rule=rname, thr=threshold_text(thr, thr_m, metres, ctx.lang))


def community_title(ctx: Context, cid: str) -> str:
    """ "Name · 人口 304（估算）· 户数 131"."""
    lab = ctx.lab
    comm = ctx.p.comm
    r = comm.iloc[int(np.flatnonzero(comm["id"].to_numpy() == str(cid))[0])]
    parts = [str(r["name"])]
    pop = r.get("population", np.nan)
    if pd.notna(pop):
        est = lab["estimated"] if bool(r.get("population_estimated", False)) else ""
        parts.append(f"{lab['population']} {float(pop):,.0f}{est}")
    hh = r.get("households", np.nan)
    if hh is not None and pd.notna(hh):
        parts.append(f"{lab['households']} {float(hh):,.0f}")
    return " · ".join(parts)


def footer(sheet: Sheet, ctx: Context, page: str = "", placeholder: bool = False) -> float:
    """Date, author, data sources (and the page number) at the bottom margin; return its height."""
    size = 6.5
    width = sheet.W - 2 * MARGIN
    pw = sheet.ts.width(page, size) + 12 if page else 0.0
    lines = sheet.ts.wrap(footer_text(ctx.meta, ctx.lang, placeholder), width - pw, size)
    h = line_height(size) * len(lines)
    top = sheet.H - MARGIN - h
    sheet.hline(MARGIN, sheet.W - MARGIN, top - 4, color="#bbb", linewidth=0.5)
    sheet.lines(MARGIN, top, lines, size, color="#444")
    if page:
        sheet.text(sheet.W - MARGIN, top, page, size, ha="right", color="#444")
    return h + 6


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------


def landscape_figure(ctx: Context, focus: str | None, ftype: str) -> Figure:
    """An A4 landscape figure: the map on the left, the status table and the legend on the right."""
    with matplotlib.rc_context(rc(ctx.families)), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        return _landscape_figure(ctx, focus, ftype)


def _landscape_figure(ctx: Context, focus: str | None, ftype: str) -> Figure:
    sheet = Sheet(A4_LANDSCAPE, ctx.ts)
    lab = ctx.lab
    W, H = sheet.W, sheet.H
    title = community_title(ctx, focus) if focus is not None else REPORT_LABELS[ctx.lang]["overview_title"]
    if focus is None:
        title = f"{title} · {ctx.meta.standard}"
    top = MARGIN + header(sheet, title, subtitle(ctx, ftype, focus), W - 2 * MARGIN) + 8
    bottom = H - MARGIN - footer(sheet, ctx) - 6
    body = bottom - top
    map_w = 0.60 * (W - 2 * MARGIN)
    plan = plan_map(ctx, focus, ftype, map_w / body)
    draw_map(sheet, (MARGIN, top, map_w, body), ctx, plan)
    groups = plan.groups
    px = MARGIN + map_w + 14
    pw = W - MARGIN - px
    for tsize, lsize, ncol in ((7.5, 7.0, 2), (7.0, 6.5, 2), (6.5, 6.0, 2), (6.0, 5.5, 2)):
        table = status_table(ctx, focus, pw, tsize) if focus is not None else counts_table(ctx, pw, tsize)
        lh = legend_height(sheet.ts, groups, pw, ncol, lsize)
        space = body - lh - line_height(9) - 12
        n = table.fit(sheet.ts, 0, space)
        if n == len(table.rows):
            break
    y = top
    sheet.text(px, y, lab["community_table"] if focus is not None else lab["counts_table"], 9, fontweight="bold")
    y += line_height(9) + 2
    y += table.draw(sheet, px, y, range(n))
    if n < len(table.rows):
        y += 3
        more = lab["more_communities" if focus is None else "more_items"].format(n=len(table.rows) - n)
        y += sheet.paragraph(px, y, pw, more, tsize, color="#333", fontstyle="italic")
    draw_legend(sheet, px, bottom - lh, groups, pw, ncol, lsize)
    return sheet.fig


def community_figure(ctx: Context, focus: str | None, ftype: str | None = None) -> Figure:
    """The landscape figure of community ``focus`` (None: all communities), residents coloured by
    their walk to ``ftype`` (default: the community's worst-off type that has facilities)."""
    if ftype is None:
        ftype = _display.pick_type(ctx.p.types, ctx.present, ctx.p.status_by, focus)
    return landscape_figure(ctx, focus, ftype)


def gaps_chunks(ctx: Context, size: tuple[float, float] = A4_PORTRAIT) -> list[list[str]]:
    """The communities of each page of the gaps grid, in ranking order."""
    per = _gaps_rows_per_page(ctx, size)
    ids = ctx.ranking
    return [ids[i : i + per] for i in range(0, len(ids), per)] or [[]]


_ROW_H = 12.5


def _gaps_layout(ctx: Context, size: tuple[float, float]) -> dict[str, Any]:
    ts = ctx.ts
    W = size[0] * 72
    avail = W - 2 * MARGIN
    n = max(len(ctx.order), 1)
    names = [str(v) for v in ctx.p.comm["name"]]
    name_w = min(max([ts.width(s, 7.5) for s in names] + [40.0]) + 6, 0.3 * avail)
    count_w = 78.0
    cell = min(22.0, (avail - name_w - count_w - 6) / n)
    lsize = min(7.0, max(5.0, cell * 0.45))
    max_lines = max(1, int(cell // line_height(lsize)))
    labels = [ts.wrap(item_label(ctx, rid), 100, lsize, max_lines=max_lines) for rid in ctx.order]
    band = max(max(ts.width(line, lsize) for line in lab) for lab in labels) + 6 if labels else 20.0
    return dict(avail=avail, name_w=name_w, count_w=count_w, cell=cell, lsize=lsize, labels=labels, band=band)


def _gaps_legend(ctx: Context) -> list[KeyGroup]:
    present = set(ctx.p.gaps["status"])
    keys = [
        Key(status_name(s, ctx.lang), "cell", face=STATUS_COLOURS[s], letter=STATUS_MARK[ctx.lang][s])
        for s in STATUS_ORDER
        if s in present
    ]
    return [KeyGroup(REPORT_LABELS[ctx.lang]["legend"], keys)]


def _gaps_fixed_height(ctx: Context, size: tuple[float, float]) -> tuple[float, float]:
    """Space above the rows (header, column band) and below them (legend, footer)."""
    lay = _gaps_layout(ctx, size)
    ts = ctx.ts
    W = size[0] * 72
    lab = ctx.lab
    head = line_height(14) + 2 + len(ts.wrap(lab["gaps_subtitle"], W - 2 * MARGIN, 8.5, max_lines=3)) * line_height(8.5)
    above = MARGIN + head + 10 + lay["band"] + 4
    foot = len(ts.wrap(footer_text(ctx.meta, ctx.lang), W - 2 * MARGIN - 80, 6.5)) * line_height(6.5) + 6
    below = legend_height(ts, _gaps_legend(ctx), W - 2 * MARGIN, 4, 7.0) + line_height(7) + 8 + foot + MARGIN + 6
    return above, below


def _gaps_rows_per_page(ctx: Context, size: tuple[float, float]) -> int:
    above, below = _gaps_fixed_height(ctx, size)
    return max(5, int((size[1] * 72 - above - below) // _ROW_H))


def gaps_figure(
    ctx: Context,
    cids: Sequence[str],
    *,
    size: tuple[float, float] = A4_PORTRAIT,
    part: tuple[int, int] = (1, 1),
    page: str = "",
    fit: bool = False,
) -> Figure:
    """The gaps per community: a community × item grid of statuses, a bar of each community's
    gap/undersized/partial items; ``cids`` in ranking order. ``fit``: the page is only as high as
    its content (a figure rather than a page)."""
    if fit:
        above, below = _gaps_fixed_height(ctx, size)
        size = (size[0], (above + len(cids) * _ROW_H + below) / 72.0)
    with matplotlib.rc_context(rc(ctx.families)), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        return _gaps_figure(ctx, cids, size, part, page)


def _gaps_figure(
    ctx: Context, cids: Sequence[str], size: tuple[float, float], part: tuple[int, int], page: str
) -> Figure:
    sheet = Sheet(size, ctx.ts)
    lab, lang = ctx.lab, ctx.lang
    lay = _gaps_layout(ctx, size)
    W = sheet.W
    title = lab["gaps_title"] + (f" ({part[0]}/{part[1]})" if part[1] > 1 else "")
    top = MARGIN + header(sheet, title, lab["gaps_subtitle"], W - 2 * MARGIN, 14) + 10
    x0 = MARGIN
    gx = x0 + lay["name_w"]
    cell = lay["cell"]
    band = lay["band"]
    # column labels, rotated, bottom-aligned on the grid
    for j, lines in enumerate(lay["labels"]):
        cx = gx + (j + 0.5) * cell
        sheet.fig.text(
            cx,
            top + band,
            "\n".join(lines),
            transform=sheet.T,
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=lay["lsize"],
            linespacing=1.1,
            multialignment="left",
            color="#222",
        )
    cx0 = gx + len(ctx.order) * cell + 6
    sheet.lines(
        cx0,
        top + band - 2 * line_height(6.5),
        ctx.ts.wrap(lab["gaps_count"], lay["count_w"], 6.5, max_lines=2),
        6.5,
        color="#222",
    )
    y = top + band + 4
    gaps = ctx.p.gaps
    status = {(str(r.community_id), str(r.rule_id)): str(r.status) for r in gaps.itertuples()}
    names = dict(zip(ctx.p.comm["id"], ctx.p.comm["name"].astype(str), strict=True))
    counts = gaps.groupby(["community_id", "status"]).size().unstack(fill_value=0)

    def c(cid: str, s: str) -> int:
        return int(counts.loc[cid, s]) if cid in counts.index and s in counts.columns else 0

    totals = [c(k, "gap") + c(k, "undersized") + c(k, "partial") for k in ctx.ranking]
    vmax = max(totals + [1])
    bar_w = lay["count_w"] - 26
    mark = STATUS_MARK[lang]
    for i, cid in enumerate(cids):
        yy = y + i * _ROW_H
        if i % 2 == 1:
            sheet.rect(x0, yy, gx - x0, _ROW_H, facecolor="#f4f4f4", edgecolor="none")
        sheet.text(
            x0 + 2,
            yy + _ROW_H / 2,
            ctx.ts.truncate(names.get(cid, cid), lay["name_w"] - 6, 7.5),
            7.5,
            va="center",
            color="#111",
        )
        for j, rid in enumerate(ctx.order):
            s = status.get((cid, rid))
            if s is None:
                continue
            colour = STATUS_COLOURS.get(s, "#fff")
            sheet.rect(gx + j * cell, yy, cell, _ROW_H, facecolor=colour, edgecolor="#fff", linewidth=0.8)
            sheet.text(
                gx + (j + 0.5) * cell,
                yy + _ROW_H / 2,
                mark.get(s, ""),
                min(7.0, cell * 0.5),
                ha="center",
                va="center",
                color=_display.text_colour(colour),
            )
        g, u, pa = c(cid, "gap"), c(cid, "undersized"), c(cid, "partial")
        bx = cx0
        for n_s, s in ((g, "gap"), (u, "undersized"), (pa, "partial")):
            if n_s:
                bw = bar_w * n_s / vmax
                sheet.rect(bx, yy + 2.5, bw, _ROW_H - 5, facecolor=STATUS_COLOURS[s], edgecolor="none")
                bx += bw
        sheet.text(bx + 3, yy + _ROW_H / 2, f"{g}/{u}/{pa}", 6.5, va="center", color="#222")
    y += len(cids) * _ROW_H + 8
    sheet.text(x0, y, lab["elderly_child_note"], 7, color="#222")
    y += line_height(7) + 4
    draw_legend(sheet, x0, y, _gaps_legend(ctx), W - 2 * MARGIN, 4, 7.0)
    footer(sheet, ctx, page)
    return sheet.fig


def community_stems(ids: list[str], reserved: set[str]) -> dict[str, str]:
    """File name (without ``.png``) of each community's figure: its id made safe
    (:func:`circles._display.community_file_name`), never one of the figures' own names
    (``gaps``, ``gaps_2``, ``overview`` …) nor another community's, ignoring case (Windows and
    macOS folders): such a name gets ``_`` and the first 8 hex digits of the id's SHA-256."""
    import hashlib

    used = {r.lower() for r in reserved}
    reserved_low = set(used)
    out: dict[str, str] = {}
    plain = [_display.community_file_name(cid)[:-5] for cid in ids]
    counts = Counter(s.lower() for s in plain)
    clashing = {s for s, n in counts.items() if n > 1 or s in reserved_low or re.fullmatch(r"gaps_\d+", s)}
    for cid, stem in zip(ids, plain, strict=True):
        if stem.lower() in clashing:
            stem = f"{stem}_{hashlib.sha256(str(cid).encode()).hexdigest()[:8]}"
        while stem.lower() in used:  # a hash-suffixed name that is itself another id (never in practice)
            stem += "_"
        used.add(stem.lower())
        out[cid] = stem
    return out


def gaps_file_names(n: int) -> list[str]:
    """``gaps.png``, then ``gaps_2.png`` …"""
    return ["gaps.png"] + [f"gaps_{i}.png" for i in range(2, n + 1)]


def _savefig(fig: Figure, path: Path, dpi: int, meta: Meta) -> None:
    fig.savefig(
        path,
        dpi=dpi,
        pil_kwargs={"compress_level": 3},  # a few per cent larger, twice as fast to write at 300 dpi
        metadata={
            "Software": f"circles {meta.version}",
            "Copyright": ATTRIBUTION if meta.osm else "",
            "Author": meta.author,
        },
    )


def write_figures(
    result: Any,
    out_dir: str | Path,
    options: OutputOptions | None = None,
    *,
    types: list[str] | None = None,
    dpi: int = DPI,
    overview: bool = True,
    progress: bool = False,
    ctx: Context | None = None,
    **overrides: Any,
) -> list[Path]:
    """Write the figures of ``result`` into ``out_dir``; return their paths.

    ``gaps.png`` (…), ``overview.png`` and one figure per community (or per community and type);
    the folder is created if missing.

    Parameters
    ----------
    result : circles.pipeline.Result
    out_dir : path
    options : OutputOptions, optional
        The run's output options (:class:`circles.options.OutputOptions`; default: its
        defaults): the figures use its ``lang``, ``author`` (编制单位, printed on every figure)
        and ``date`` (printed; default ``SOURCE_DATE_EPOCH`` or today).
    types : list of str, optional
        One figure per community and type (``<id>_<type>.png``) instead of one per community
        coloured by its worst-off type.
    dpi : int
        Resolution (default 300).
    overview : bool
        Also write ``gaps.png`` (…) and ``overview.png``.
    progress : bool
        Show a progress bar (stderr).
    ctx : Context, optional
        Display data already prepared by :func:`context` (shared with the report); its
        language, author and date are then those of the figures.
    **overrides
        Any option of :class:`~circles.options.OutputOptions` by name, over ``options``
        (``lang="en"``, ``author=…``, ``date="2026-01-02"``).
    """
    opts = build(OutputOptions, options, **overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = ctx or context(result, opts.lang, author=opts.author, date=opts.date)
    p = ctx.p
    bad_types = [t for t in (types or []) if t not in p.types]
    if bad_types:
        raise ValueError(f"unknown facility type(s): {', '.join(bad_types)}")
    jobs: list[tuple[str, Any, Path]] = []
    if overview:
        chunks = gaps_chunks(ctx)
        for i, (chunk, name) in enumerate(zip(chunks, gaps_file_names(len(chunks)), strict=True)):
            jobs.append(("gaps", (chunk, (i + 1, len(chunks))), out / name))
        jobs.append(("map", (None, _display.pick_type(p.types, ctx.present, p.status_by)), out / "overview.png"))
    stems = community_stems(list(p.comm["id"]), {"overview", "gaps"})
    for cid in p.comm["id"]:
        stem = stems[cid]
        if types:
            jobs += [("map", (cid, t), out / f"{stem}_{t}.png") for t in types]
        else:
            jobs.append(("map", (cid, _display.pick_type(p.types, ctx.present, p.status_by, cid)), out / f"{stem}.png"))
    paths: list[Path] = []
    desc = TERMINAL_LABELS[ctx.lang]["progress_figures"]
    with matplotlib.rc_context(rc(ctx.families)), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        for kind, args, path in tqdm(jobs, desc=desc, unit="", disable=not progress, leave=False):
            if kind == "gaps":
                fig = gaps_figure(ctx, args[0], size=A4_PORTRAIT, part=args[1], fit=True)
            else:
                fig = landscape_figure(ctx, args[0], args[1])
            _savefig(fig, path, dpi, ctx.meta)
            fig.clear()
            paths.append(path)
    log.info("wrote %d figures in %s", len(paths), out)
    return paths
