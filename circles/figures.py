"""Static figures for printed reports: one PNG per community (and an overview).

Each figure has the map's content on paper: the walking network, community boundaries
(coloured by their worst status), facilities by type, the 5/10/15-minute walking areas of one
facility type, resident points coloured by walking minutes to that type (residents beyond the
type's threshold get a black ring), a north arrow, a scale bar, a legend, the gap table and
"© OpenStreetMap contributors". The type is the community's worst-off type that has
facilities (as on the HTML map); ``types=[...]`` writes one figure per community and type.

Matplotlib is used without pyplot (``Figure`` + the Agg canvas), so importing this module never
changes the backend of a notebook. Chinese labels need a CJK font: one installed on the system
(Debian ``fonts-noto-cjk``, WenQuanYi, SimHei, Microsoft YaHei, PingFang …) is found and used;
without one a warning is logged and the labels are written in English.
"""

from __future__ import annotations

import glob
import logging
import warnings
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from shapely.geometry.polygon import orient

from . import _display
from ._labels import (
    ATTRIBUTION,
    LABELS,
    MINUTE_BINS,
    MINUTE_COLOURS,
    NONE_COLOUR,
    STATUS_COLOURS,
    STATUS_ORDER,
    SUBTITLE,
    UNPLACED_COLOUR,
)

log = logging.getLogger(__name__)

#: Font families tried for Chinese, in order.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "Hiragino Sans GB",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
#: Where fonts installed after Matplotlib built its font cache are looked for.
CJK_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK*-Regular.tt[cf]",
    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
    "/usr/share/fonts/**/NotoSans*SC*.[ot]t[fc]",
    "/usr/share/fonts/**/wqy-*.tt[cf]",
    "/usr/share/fonts/**/SourceHanSans*.[ot]t[fc]",
    "/usr/share/fonts/**/DroidSansFallback*.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.tt[cf]",
    "C:/Windows/Fonts/simhei.ttf",
)
A4_LANDSCAPE = (11.69, 8.27)

_font_cache: dict[str, str | None] = {}


def cjk_font() -> str | None:
    """Name of a font family with Chinese glyphs, or None (found once per process)."""
    if "cjk" in _font_cache:
        return _font_cache["cjk"]

    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((f for f in CJK_FAMILIES if f in names), None)

    name = known()
    if name is None:
        for pattern in CJK_FILES:
            for path in sorted(glob.glob(pattern, recursive=True)):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # pragma: no cover - unreadable font file
                    continue
        name = known()
    _font_cache["cjk"] = name
    return name


def _labels(lang: str) -> tuple[str, str | None]:
    """The language to write in and the font family (falls back to English without a CJK font)."""
    font = cjk_font()
    if lang == "zh" and font is None:
        log.warning(
            "no CJK font found (install fonts-noto-cjk): the figures are labelled in English and "
            "Chinese names may show as boxes"
        )
        return "en", None
    return lang, font


def _nice_length(width_m: float) -> float:
    """A round scale-bar length about a fifth of ``width_m``."""
    target = width_m / 5
    base = 10 ** np.floor(np.log10(target))
    return float(max(b * base for b in (1, 2, 5) if b * base <= target))


def _scale_bar(ax, x0: float, y0: float, x1: float, y1: float) -> None:
    length = _nice_length(x1 - x0)
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    h = 0.008 * (y1 - y0)
    ax.add_patch(Rectangle((bx, by), length / 2, h, facecolor="#222", edgecolor="#222", zorder=20))
    ax.add_patch(Rectangle((bx + length / 2, by), length / 2, h, facecolor="#fff", edgecolor="#222", zorder=20))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx + length / 2, by + 2.2 * h, label, ha="center", va="bottom", fontsize=8, zorder=20)


def _north_arrow(ax, text: str) -> None:
    ax.annotate(
        text,
        xy=(0.95, 0.95),
        xytext=(0.95, 0.86),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold",
        zorder=20,
        arrowprops=dict(facecolor="#222", edgecolor="#222", width=4, headwidth=11, headlength=10),
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


def _resident_classes(codes: np.ndarray | None, placed: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour class per resident (as on the HTML map) and whether it is beyond the threshold."""
    n = len(placed)
    if codes is None:
        codes = np.where(placed, -1, -2)
    cls = np.searchsorted(np.array(MINUTE_BINS) * 10, codes, side="left")
    cls = np.where(codes == -1, len(MINUTE_BINS) + 1, cls)
    cls = np.where(codes == -2, len(MINUTE_BINS) + 2, cls)
    ring = (codes < 0) | (codes > thr * 10)
    return cls.reshape(n), ring.reshape(n)


def _table(ax, p: _display.Prepared, focus: str | None, lang: str) -> None:
    lab = p.lab
    ax.set_axis_off()
    if focus is not None:
        sub = p.gaps[p.gaps["community_id"] == str(focus)]
        header = [lab["item"], lab["min"], lab["status"], lab["share"]]
        rows: list[list[str]] = []
        colours: list[str | None] = []
        for r in sub.itertuples():
            share = getattr(r, "covered_share", np.nan)
            rows.append(
                [
                    _display.rule_label(r, p.names, lang)[: 14 if lang == "zh" else 26],
                    f"{r.threshold_min:g}",
                    _display.status_name(r.status, lang),
                    "" if pd.isna(share) else f"{share:.0%}",
                ]
            )
            colours.append(STATUS_COLOURS.get(r.status, "#fff"))
        title = lab["gap_table"]
    else:
        counts = p.gaps.groupby(["community_id", "status"]).size().unstack(fill_value=0)
        shown = [s for s in STATUS_ORDER if s in counts.columns]
        header = [lab["community"]] + [_display.status_name(s, lang) for s in shown]
        rows = []
        colours = []
        for _, r in p.comm.iterrows():
            c = counts.loc[r["id"]] if r["id"] in counts.index else pd.Series(dtype=int)
            rows.append([str(r["name"])[:14]] + [str(int(c.get(s, 0))) for s in shown])
            colours.append(None)
        title = lab["status_table"]
    if not rows:
        return
    fs = 8 if len(rows) <= 24 else 6
    widths = [0.46, 0.14, 0.24, 0.16] if focus is not None else [0.4] + [0.6 / (len(header) - 1)] * (len(header) - 1)
    t = ax.table(cellText=rows, colLabels=header, loc="upper center", cellLoc="left", colLoc="left", colWidths=widths)
    t.auto_set_font_size(False)
    t.set_fontsize(fs)
    t.scale(1, 1.25 if len(rows) <= 24 else 1.0)
    for (i, j), cell in t.get_celld().items():
        cell.set_edgecolor("#ddd")
        if i == 0:
            cell.set_text_props(fontweight="bold")
        elif focus is not None and j == 2:
            cell.set_facecolor(colours[i - 1])
            cell.set_text_props(color="#fff" if colours[i - 1] not in ("#fdae61",) else "#000")
    ax.set_title(title, fontsize=10, loc="left")


def community_figure(
    p: _display.Prepared,
    streets: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    focus: str | None,
    ftype: str,
    lang: str,
) -> Figure:
    """The figure of community ``focus`` (None: all communities) for facility type ``ftype``."""
    lab = LABELS[lang]
    comm = p.comm
    fig = Figure(figsize=A4_LANDSCAPE)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(1, 2, width_ratios=(2.3, 1), left=0.02, right=0.98, top=0.92, bottom=0.03, wspace=0.04)
    ax, tax = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])

    if focus is not None:
        fi = int(np.flatnonzero(comm["id"].to_numpy() == str(focus))[0])
        x0, y0, x1, y1 = comm.geometry.iloc[fi].bounds
    else:
        fi = None
        x0, y0, x1, y1 = comm.total_bounds
    margin = max(250.0, 0.15 * max(x1 - x0, y1 - y0)) if fi is not None else max(100.0, 0.05 * (x1 - x0))
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    # same aspect as the axes (so nothing is cut and the scale bar fits)
    w, h = x1 - x0, y1 - y0
    box_ratio = (2.3 / 3.3 * A4_LANDSCAPE[0] * 0.96) / (A4_LANDSCAPE[1] * 0.89)
    if w / h < box_ratio:
        extra = (h * box_ratio - w) / 2
        x0, x1 = x0 - extra, x1 + extra
    else:
        extra = (w / box_ratio - h) / 2
        y0, y1 = y0 - extra, y1 + extra
    view = shapely.box(x0, y0, x1, y1)

    st = streets[streets.intersects(view)]
    _lines(ax, st.geometry.values, colors="#9a9a9a", linewidths=0.7, zorder=1)
    iso = isochrones[(isochrones["facility_type"] == ftype) & isochrones.intersects(view)]
    colour = p.colours[ftype]
    bands = sorted(iso.groupby("minutes"), key=lambda kv: -kv[0])
    for rank, (_mins, grp) in enumerate(bands):
        clipped = shapely.clip_by_rect(np.asarray(grp.geometry.values, dtype=object), x0, y0, x1, y1)
        _polygons(ax, clipped, facecolor=colour, alpha=0.10 + 0.06 * rank, edgecolor="none", zorder=2)
        _lines(ax, clipped, colors=colour, linewidths=0.8, linestyles="-" if rank == len(bands) - 1 else "--", zorder=2)
    others = comm if fi is None else comm[np.arange(len(comm)) != fi]
    others = others[others.intersects(view)]
    if fi is not None and len(others):
        _lines(ax, others.geometry.values, colors="#777", linewidths=0.9, linestyles=(0, (3, 3)), zorder=3)
    shown = comm if fi is None else comm.iloc[[fi]]
    for w, grp in shown.groupby("worst"):
        _lines(
            ax,
            grp.geometry.values,
            colors=STATUS_COLOURS.get(w, "#333"),
            linewidths=2.4 if fi is not None else 1.6,
            zorder=4,
        )
    for _, r in shown.iterrows():
        if fi is None:
            c = r.geometry.representative_point()
            ax.text(
                c.x,
                c.y,
                str(r["name"]),
                fontsize=6,
                ha="center",
                va="center",
                zorder=7,
                color="#222",
                bbox=dict(facecolor="white", alpha=0.6, edgecolor="none", pad=0.5),
            )

    # residents
    res = p.res
    sel = (res["community_id"].to_numpy() == str(focus)) if fi is not None else np.ones(len(res), bool)
    codes = p.res_codes.get(ftype)
    cls, ring = _resident_classes(
        None if codes is None else codes[sel], res["placed"].to_numpy()[sel], p.thresholds[ftype]
    )
    rx, ry = res.geometry.x.to_numpy()[sel], res.geometry.y.to_numpy()[sel]
    palette = np.array(list(MINUTE_COLOURS) + [NONE_COLOUR, UNPLACED_COLOUR])
    size = 30 if sel.sum() < 500 else (12 if sel.sum() < 5000 else 3)
    if sel.any():
        ax.scatter(
            rx,
            ry,
            s=size,
            c=palette[cls],
            edgecolors=np.where(ring, "#111", "#fff").tolist(),
            linewidths=np.where(ring, 1.3 if size > 10 else 0.6, 0.3).tolist(),
            zorder=5,
        )

    # facilities
    fac = p.fac[p.fac.intersects(view)]
    present = []
    for t in p.types:
        sub = fac[fac["facility_type"] == t]
        if not len(sub):
            continue
        present.append(t)
        big = t == ftype
        on = sub[sub["placed"]]
        off = sub[~sub["placed"]]
        ax.scatter(
            on.geometry.x,
            on.geometry.y,
            s=70 if big else 40,
            c=p.colours[t],
            marker="o",
            edgecolors="#000" if big else "#fff",
            linewidths=1.2 if big else 0.8,
            zorder=6,
        )
        if len(off):
            ax.scatter(
                off.geometry.x,
                off.geometry.y,
                s=40,
                facecolors="none",
                edgecolors=p.colours[t],
                linewidths=1.2,
                linestyle="--",
                zorder=6,
            )

    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for s in ax.spines.values():
        s.set_edgecolor("#888")
    _scale_bar(ax, x0, y0, x1, y1)
    _north_arrow(ax, "北" if lang == "zh" else "N")
    ax.text(
        0.995,
        0.005,
        ATTRIBUTION,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        color="#333",
        zorder=20,
        bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1),
    )

    # legend
    handles: list[Artist] = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=7,
            markerfacecolor=p.colours[t],
            markeredgecolor="#000" if t == ftype else "#fff",
            label=p.names[t],
        )
        for t in present
    ]
    lo, names = 0, []
    for b in MINUTE_BINS:
        names.append(f"{lo}–{b} {lab['min']}")
        lo = b
    names.append(f">{MINUTE_BINS[-1]} {lab['min']}")
    handles += [
        Line2D([], [], marker="o", linestyle="", markersize=5, markerfacecolor=c, markeredgecolor="#fff", label=n)
        for n, c in zip(names, MINUTE_COLOURS, strict=True)
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=5,
            markerfacecolor=NONE_COLOUR,
            markeredgecolor="#fff",
            label=lab["none"],
        ),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=6,
            markerfacecolor="#fff",
            markeredgecolor="#111",
            label=f"{lab['beyond']} ({p.thresholds[ftype]:g} {lab['min']})",
        ),
    ]
    minutes = sorted(iso["minutes"].unique())
    if minutes:
        handles.append(
            Patch(
                facecolor=colour,
                alpha=0.3,
                edgecolor=colour,
                label=f"{p.names[ftype]} {lab['walk_area']} {'/'.join(f'{m:g}' for m in minutes)} {lab['min']}",
            )
        )
    worst = shown["worst"].iloc[0] if fi is not None else None
    handles += [
        Line2D([], [], color=STATUS_COLOURS[s], linewidth=2, label=_display.status_name(s, lang))
        for s in STATUS_ORDER
        if (worst == s if fi is not None else (comm["worst"] == s).any())
    ]
    handles.append(Line2D([], [], color="#9a9a9a", linewidth=1, label=lab["streets"]))
    _table(tax, p, focus, lang)
    leg = tax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 0.0),
        fontsize=6.5,
        frameon=False,
        ncol=2 if len(handles) > 16 else 1,
        title=lab["legend"],
        title_fontsize=8,
        alignment="left",
    )
    leg.set_zorder(30)
    if fi is not None:
        r = comm.iloc[fi]
        pop = r.get("population", np.nan)
        sub = f" · {lab['population']} {pop:.0f}" if pd.notna(pop) else ""
        title = f"{r['name']}{sub}"
    else:
        title = lab["title"]
    fig.suptitle(title, x=0.02, y=0.975, ha="left", fontsize=14, fontweight="bold")
    fig.text(
        0.02, 0.935, SUBTITLE[lang].format(type=p.names[ftype], thr=f"{p.thresholds[ftype]:g}"), fontsize=9, ha="left"
    )
    return fig


def write_figures(
    result,
    out_dir: str | Path,
    *,
    lang: str = "zh",
    types: list[str] | None = None,
    dpi: int = 150,
    overview: bool = True,
) -> list[Path]:
    """Write ``overview.png`` and one PNG per community (``<id>.png``; with ``types`` one per
    community and type, ``<id>_<type>.png``) into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lang, font = _labels(lang)
    kw = _display.map_inputs(result)
    p = _display.prepare(**kw, lang=lang)
    metric = p.metric
    streets = kw["streets"].to_crs(metric)[["geometry"]]
    streets = gpd.GeoDataFrame(geometry=streets.geometry.simplify(_display.STREET_TOLERANCE_M), crs=metric)
    iso = kw["isochrones"].to_crs(metric)
    iso = gpd.GeoDataFrame(
        {"facility_type": iso["facility_type"].to_numpy(), "minutes": iso["minutes"].to_numpy()},
        geometry=iso.geometry.simplify(_display.AREA_TOLERANCE_M).values,
        crs=metric,
    )
    iso = iso[~iso.geometry.is_empty & iso.geometry.notna()]
    present = set(p.fac["facility_type"])
    bad_types = [t for t in (types or []) if t not in p.types]
    if bad_types:
        raise ValueError(f"unknown facility type(s): {', '.join(bad_types)}")
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    paths: list[Path] = []
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        jobs: list[tuple[str | None, str, Path]] = []
        if overview:
            jobs.append((None, _display.pick_type(p.types, present, p.status_by), out / "overview.png"))
        for cid in p.comm["id"]:
            stem = _display.community_file_name(cid)[:-5]
            if types:
                jobs += [(cid, t, out / f"{stem}_{t}.png") for t in types]
            else:
                jobs.append((cid, _display.pick_type(p.types, present, p.status_by, cid), out / f"{stem}.png"))
        for focus, t, path in jobs:
            fig = community_figure(p, streets, iso, focus, t, lang)
            fig.savefig(path, dpi=dpi, metadata={"Software": "circles", "Copyright": ATTRIBUTION})
            paths.append(path)
    log.info("wrote %d figures in %s", len(paths), out)
    return paths
