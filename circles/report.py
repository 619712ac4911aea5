"""The printed report, ``report.pdf``: A4 portrait, written page by page with Matplotlib's PDF backend.

Pages, each with the date, 编制单位, the data sources and "第 n 页 / 共 N 页":

1. the cover: title, 编制单位, date, data sources, the standard; the number of communities and
   items by status; every item's communities by status (the 一老一幼 items first); what the
   statuses mean (``no_data``, ``conditional``, ``as_needed`` …); notes on estimated
   populations and unverified numbers; the contents;
2. the gaps per community (:func:`circles.figures.gaps_figure`, several pages for many
   communities);
3. the overview map;
4. one page per community: its map, legend and status table (item, threshold, status, share of
   residents within the threshold, nearest-facility minutes), continued on the next page when
   it is long.

Every page is planned (its text measured and wrapped) before the first is written, so the page
count is known; pages are then drawn and written one at a time (:class:`PdfPages`), so memory
stays flat for hundreds of communities.

Fonts are embedded as TrueType (Type 42). Matplotlib cannot embed a CFF-flavoured OpenType
font (Noto Sans CJK, Source Han Sans) correctly as Type 42, so the characters the report uses
are taken from the CJK font into a TrueType-outline subset (fontTools: subset, then cubic to
quadratic curves), cached in ``~/.cache/circles/fonts`` (``XDG_CACHE_HOME``) and embedded.
The same inputs give the same bytes (no creation date in the file; the date shown is
``date``, ``SOURCE_DATE_EPOCH`` or today).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from tqdm.auto import tqdm

from . import _display, _labels, _typeset, figures
from ._labels import (
    REPORT_LABELS,
    STATUS_COLOURS,
    STATUS_MARK,
    STATUS_MEANING,
    STATUS_ORDER,
    TERMINAL_LABELS,
    status_name,
)
from ._typeset import A4_PORTRAIT, MARGIN, Sheet, Table, Typesetter, draw_legend, header, legend_height, line_height, rc
from .figures import Context, draw_map, footer, footer_text, plan_map

log = logging.getLogger(__name__)

#: Bumped when the font subset is built differently (invalidates the cache).
_FONT_FORMAT = "1"
#: Font subsets kept in the cache (about 100 KB each; one regular and one bold per run's characters).
_FONTS_KEPT = 40
#: Statuses the cover always explains.
EXPLAINED = ("no_data", "conditional", "as_needed")
_LEGEND_COLS = 3
_TABLE_SIZE = 8.0

Page = Callable[[str], Figure]


# ---------------------------------------------------------------------------------------------
# A TrueType subset of the CJK font
# ---------------------------------------------------------------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for d in (Path(base) / "circles" / "fonts", Path(tempfile.gettempdir()) / "circles-fonts"):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    raise OSError("no writable folder for the report's font subset")  # pragma: no cover


def _face_index(path: str, family: str) -> int:
    """Index of ``family`` in a font collection (.ttc), 0 for a single font."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    from fontTools.ttLib import TTCollection  # type: ignore[import-untyped]  # fontTools ships no types

    coll = TTCollection(path, lazy=True)
    try:
        for i, f in enumerate(coll.fonts):
            names = {rec.toUnicode() for rec in f["name"].names if rec.nameID in (1, 16)}
            if family in names:
                return i
    finally:
        coll.close()
    return 0


def _cff_to_glyf(font: Any) -> None:
    """Replace a font's CFF outlines by TrueType ones (cubic curves made quadratic)."""
    from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped]  # no types
    from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]  # no types
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    gs = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(gs)
        gs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    del font["CFF "]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, g in glyphs.items():
        hmtx[name] = (hmtx[name][0], getattr(g, "xMin", 0))
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for attr in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attr, 0)
    maxp.compile(font)
    post = font["post"]
    post.formatType = 3.0
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"


def _build_font(src: str, face: int, text: str, family: str, style: str, out: Path) -> None:
    from fontTools import subset  # type: ignore[import-untyped]  # fontTools ships no types
    from fontTools.ttLib import TTFont

    font = TTFont(src, fontNumber=face, lazy=True)
    opts = subset.Options()
    opts.layout_features = []
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.hinting = False
    opts.desubroutinize = True
    opts.drop_tables += ["VORG", "BASE", "vhea", "vmtx", "GSUB", "GPOS", "GDEF", "DSIG"]
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)
    if "CFF " in font:
        _cff_to_glyf(font)
    name = font["name"]
    name.names = [rec for rec in name.names if rec.nameID in (0, 13, 14)]  # copyright and licence
    full = f"{family} {style}"
    for nid, value in ((1, family), (2, style), (3, full), (4, full), (6, full.replace(" ", "-"))):
        name.setName(value, nid, 3, 1, 0x409)
    font["OS/2"].usWeightClass = 700 if style == "Bold" else 400
    font.recalcTimestamp = False
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    font.save(str(tmp))
    font.close()
    os.replace(tmp, out)


def pdf_font(family: str, chars: Iterable[str]) -> str:
    """A TrueType-outline subset of font ``family`` (regular and, when installed, bold) holding
    ``chars``, registered with Matplotlib; return its family name.

    Built once per font and character set (a few seconds for a CFF font) and cached on disk.
    """
    text = "".join(sorted(set(chars)))
    regular = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
    bold = font_manager.findfont(FontProperties(family=family, weight="bold"), fallback_to_default=False)
    faces = [("Regular", regular)] + ([("Bold", bold)] if bold != regular else [])
    st = os.stat(regular)
    key = hashlib.sha256(f"{_FONT_FORMAT}|{regular}|{bold}|{st.st_size}|{text}".encode()).hexdigest()[:16]
    name = f"circles CJK {key}"
    known = {(f.name, f.weight) for f in font_manager.fontManager.ttflist}
    cache = _cache_dir()
    for style, src in faces:
        out = cache / f"circles-cjk-{key}-{style.lower()}.ttf"
        if out.exists():
            os.utime(out)  # recently used: kept by _prune
        else:
            log.info("building the report font from %s (%s, %d characters)", src, style, len(text))
            _build_font(src, _face_index(src, family), text, name, style, out)
        if (name, 700 if style == "Bold" else 400) not in known:
            font_manager.fontManager.addfont(str(out))
    _prune(cache)
    return name


def _prune(cache: Path, keep: int = _FONTS_KEPT) -> None:
    """Delete all but the ``keep`` most recently used font subsets."""
    files = sorted(cache.glob("circles-cjk-*.ttf"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        with contextlib.suppress(OSError):  # in use or already gone
            old.unlink()


def report_characters(ctx: Context) -> set[str]:
    """Every character the report can write: the text modules' sources, the data's names, digits."""
    chars = {chr(c) for c in range(0x20, 0x7F)}
    for mod in (_labels, figures, _typeset, sys.modules[__name__]):
        try:
            chars |= set(Path(str(mod.__file__)).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):  # pragma: no cover - installed without sources
            chars |= {c for v in vars(_labels).values() if isinstance(v, dict) for c in repr(v)}
    chars |= set("".join(ctx.p.comm["name"].astype(str)))
    chars |= set("".join(ctx.p.names.values()))
    chars |= set("".join(ctx.letters.values()))
    for r in ctx.rules.values():
        chars |= set(f"{r.name_zh}{r.name_en}")
    if "facility_name_zh" in ctx.p.gaps:
        chars |= set("".join(ctx.p.gaps["facility_name_zh"].dropna().astype(str).unique()))
    chars |= set(footer_text(ctx.meta, "zh", True) + footer_text(ctx.meta, "en", True))
    return {c for c in chars if c.isprintable() or c == " "}


# ---------------------------------------------------------------------------------------------
# Blocks that flow down the cover
# ---------------------------------------------------------------------------------------------


@dataclass
class _Para:
    text: str
    size: float = 9.0
    weight: str = "normal"
    color: str = "#222"
    before: float = 0.0
    after: float = 4.0
    indent: float = 0.0
    keep_with_next: bool = False
    chip: str | None = None  # a status whose colour chip (with its mark) precedes the paragraph
    mark: str = ""

    def _lines(self, ts: Typesetter, width: float) -> list[str]:
        return ts.wrap(self.text, width - self.indent, self.size, self.weight)

    def height(self, ts: Typesetter, width: float) -> float:
        return self.before + len(self._lines(ts, width)) * line_height(self.size) + self.after

    def split(self, ts: Typesetter, width: float, space: float) -> tuple[_Para, _Para] | None:
        return None

    def draw(self, sheet: Sheet, x: float, y: float, width: float) -> None:
        y += self.before
        if self.chip:
            colour = STATUS_COLOURS[self.chip]
            sheet.rect(x, y + 1, 14, line_height(self.size) - 2, facecolor=colour, edgecolor="none")
            sheet.text(
                x + 7,
                y + line_height(self.size) / 2,
                self.mark,
                self.size * 0.8,
                ha="center",
                va="center",
                color=_display.text_colour(colour),
            )
        sheet.lines(
            x + self.indent, y, self._lines(sheet.ts, width), self.size, fontweight=self.weight, color=self.color
        )


@dataclass
class _TableBlock:
    table: Table
    rows: range
    before: float = 2.0
    after: float = 8.0
    keep_with_next: bool = False

    def height(self, ts: Typesetter, width: float) -> float:
        return self.before + self.table.height(ts, self.rows) + self.after

    def split(self, ts: Typesetter, width: float, space: float) -> tuple[_TableBlock, _TableBlock] | None:
        n = self.table.fit(ts, self.rows.start, space - self.before - self.after)
        n = min(n, len(self.rows) - 1)
        if n < 1:
            return None
        a, b = self.rows.start, self.rows.start + n
        return _TableBlock(self.table, range(a, b), self.before, self.after), _TableBlock(
            self.table, range(b, self.rows.stop), self.before, self.after
        )

    def draw(self, sheet: Sheet, x: float, y: float, width: float) -> None:
        self.table.draw(sheet, x, y + self.before, self.rows)


_Block = _Para | _TableBlock


def _flow(blocks: Sequence[_Block], ts: Typesetter, width: float, space: float) -> list[list[_Block]]:
    """Blocks in pages of height ``space``: tables split between rows, headings kept with what follows."""
    pages: list[list[_Block]] = [[]]
    used = 0.0
    queue = list(blocks)
    i = 0
    while i < len(queue):
        b = queue[i]
        h = b.height(ts, width)
        need = h
        if b.keep_with_next and i + 1 < len(queue):
            nxt = queue[i + 1]
            need += min(nxt.height(ts, width), 60.0)
        fits = used + need <= space or not pages[-1]
        if not fits or (used + h > space and not pages[-1]):  # too tall for what is left: split it
            parts = b.split(ts, width, space - used)
            if parts is not None:
                pages[-1].append(parts[0])
                queue[i] = parts[1]
            if parts is not None or not fits:  # the rest (or the whole block) on a new page
                pages.append([])
                used = 0.0
                continue
        pages[-1].append(b)  # it fits, or alone on its page and cannot split
        used += h
        i += 1
    return [p for p in pages if p]


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


def _footer_height(ctx: Context, width: float) -> float:
    probe = REPORT_LABELS[ctx.lang]["page"].format(n=999, total=999)
    pw = ctx.ts.width(probe, 6.5) + 12
    return len(ctx.ts.wrap(footer_text(ctx.meta, ctx.lang, True), width - pw, 6.5)) * line_height(6.5) + 6


def _cover_blocks(ctx: Context, contents: list[str]) -> list[_Block]:
    lab, lang = ctx.lab, ctx.lang
    c = lab["colon"]
    gaps = ctx.p.gaps
    meta = ctx.meta
    rb = ctx.result.rulebook
    blocks: list[_Block] = [
        _Para(lab["report_title"], 18, "bold", "#111", after=6),
        _Para(meta.standard, 12, color="#333", after=10),
    ]
    if ctx.font_missing:  # said first: every Chinese name below is a box
        blocks.insert(1, _Para(lab["font_missing"], 11, "bold", "#B2182B", after=8))
    data = lab["sep"].join(meta.files)
    info = [
        f"{lab['author']}{c}{meta.author or lab['not_given']}",
        f"{lab['date']}{c}{meta.date}",
        f"{lab['standard']}{c}{meta.standard}（{Path(str(rb.path)).name or rb.profile}）"
        if lang == "zh"
        else f"{lab['standard']}{c}{meta.standard} ({Path(str(rb.path)).name or rb.profile})",
        f"{lab['data']}{c}{data}" + (("；" if lang == "zh" else "; ") + lab["osm"] if meta.osm else ""),
        f"{lab['software']}{c}circles {meta.version}",
    ]
    blocks += [_Para(s, 9, after=1.5) for s in info]
    blocks.append(_Para(lab["contents"], 12, "bold", before=10, after=3, keep_with_next=True))
    blocks += [_Para(line, 9, after=1.5) for line in contents]
    n_comm = len(ctx.p.comm)
    statuses = [s for s in STATUS_ORDER if (gaps["status"] == s).any()]
    sentences = [
        lab["summary_status"].format(
            status=status_name(s, lang),
            n=int((gaps["status"] == s).sum()),
            c=int(gaps.loc[gaps["status"] == s, "community_id"].nunique()),
        )
        for s in statuses
    ]
    summary = lab["summary"].format(n_comm=n_comm, n_items=len(ctx.order), n_pairs=len(gaps))
    summary += "" if lang == "zh" else " "
    summary += ("；" if lang == "zh" else "; ").join(sentences) + ("。" if lang == "zh" else ".")
    blocks += [
        _Para(lab["summary_title"], 12, "bold", before=10, after=3, keep_with_next=True),
        _Para(summary, 9, after=3),
    ]
    if rb.checklist:
        blocks.append(_Para(lab["checklist"].format(n=len(rb.checklist)), 9, after=3))
    blocks.append(_Para(lab["items_table"], 10.5, "bold", before=8, after=2, keep_with_next=True))
    table = _items_table(ctx, statuses, A4_PORTRAIT[0] * 72 - 2 * MARGIN)
    blocks.append(_TableBlock(table, range(len(table.rows))))
    blocks.append(_Para(lab["elderly_child_note"], 8, color="#444", after=6))
    blocks.append(_Para(lab["meanings"], 10.5, "bold", before=6, after=4, keep_with_next=True))
    for s in [s for s in STATUS_ORDER if s in statuses or s in EXPLAINED]:
        text = f"{status_name(s, lang)}{c}{STATUS_MEANING[lang][s]}"
        blocks.append(_Para(text, 8.5, indent=20, after=2.5, chip=s, mark=STATUS_MARK[lang][s]))
    notes = []
    comm = ctx.p.comm
    n_est = int(comm["population_estimated"].astype(bool).sum()) if "population_estimated" in comm else 0
    if n_est:
        notes.append(lab["pop_estimated"].format(n=n_est))
    n_unver = sum(1 for rid in ctx.order if rid in ctx.rules and not ctx.rules[rid].verified)
    if n_unver:
        notes.append(lab["unverified"].format(n=n_unver))
    notes.append(lab["walk_note"])
    blocks.append(_Para(lab["notes"], 10.5, "bold", before=6, after=4, keep_with_next=True))
    blocks += [_Para(f"· {n}", 8.5, after=2.5) for n in notes]
    return blocks


def _items_table(ctx: Context, statuses: list[str], width: float) -> Table:
    """Rows: items (一老一幼 first); columns: threshold and the communities per status."""
    gaps = ctx.p.gaps
    counts = gaps.groupby(["rule_id", "status"]).size().unstack(fill_value=0)
    rows: list[list[str]] = []
    fills: list[list[str | None]] = []
    for rid in ctx.order:
        sub = gaps[gaps["rule_id"].astype(str) == rid]
        thr = figures._threshold(ctx, rid, sub.iloc[0]) if len(sub) else ""
        cells = [str(int(counts.at[rid, s])) if rid in counts.index and s in counts.columns else "0" for s in statuses]
        rows.append([figures.item_label(ctx, rid), thr, *cells])
        marked: list[str | None] = [None, None]
        marked += [
            STATUS_COLOURS[s] if cell != "0" and s in ("gap", "undersized") else None
            for s, cell in zip(statuses, cells, strict=True)
        ]
        fills.append(marked)
    n = len(statuses)
    first, second = 0.32, 0.2
    rest = (1 - first - second) / max(n, 1)
    return Table(
        header=[ctx.lab["item"], ctx.lab["threshold"], *(status_name(s, ctx.lang) for s in statuses)],
        rows=rows,
        widths=[first * width, second * width] + [rest * width] * n,
        align=["left", "left"] + ["right"] * n,
        fills=fills,
        size=7.5,
        pad=2.2,
    )


def _draw_blocks(sheet: Sheet, blocks: Sequence[_Block], x: float, y: float, width: float) -> float:
    for b in blocks:
        b.draw(sheet, x, y, width)
        y += b.height(sheet.ts, width)
    return y


def _page_sheet(ctx: Context) -> Sheet:
    return Sheet(A4_PORTRAIT, ctx.ts)


def _scaled(blocks: Sequence[_Block], k: float) -> list[_Block]:
    """``blocks`` with their type and spacing ``k`` times as large."""
    out: list[_Block] = []
    for b in blocks:
        if isinstance(b, _Para):
            out.append(replace(b, size=b.size * k, before=b.before * k, after=b.after * k, indent=b.indent * k))
        else:
            t = replace(b.table, size=b.table.size * k, pad=b.table.pad * k, _header_lines=[], _row_lines=[])
            out.append(replace(b, table=t, before=b.before * k, after=b.after * k))
    return out


def _cover_pages(ctx: Context, contents: list[str]) -> list[Page]:
    width = A4_PORTRAIT[0] * 72 - 2 * MARGIN
    space = A4_PORTRAIT[1] * 72 - 2 * MARGIN - _footer_height(ctx, width) - 8
    blocks = _cover_blocks(ctx, contents)
    pages = _flow(blocks, ctx.ts, width, space)
    for k in (0.93, 0.86):  # a cover a little too long is set a little smaller rather than split
        if len(pages) == 1:
            break
        smaller = _flow(_scaled(blocks, k), ctx.ts, width, space)
        if len(smaller) == 1:
            pages = smaller

    def page(blocks: list[_Block]) -> Page:
        def draw(label: str) -> Figure:
            sheet = _page_sheet(ctx)
            _draw_blocks(sheet, blocks, MARGIN, MARGIN, width)
            footer(sheet, ctx, label, placeholder=True)
            return sheet.fig

        return draw

    return [page(b) for b in pages]


def _gaps_pages(ctx: Context) -> list[Page]:
    chunks = figures.gaps_chunks(ctx, A4_PORTRAIT)

    def page(chunk: list[str], part: tuple[int, int]) -> Page:
        return lambda label: figures.gaps_figure(ctx, chunk, size=A4_PORTRAIT, part=part, page=label)

    return [page(c, (i + 1, len(chunks))) for i, c in enumerate(chunks)]


def _head_height(ts: Typesetter, title: str, sub: str, width: float) -> float:
    """Height of :func:`circles._typeset.header` plus the space under it."""
    h = line_height(15) * len(ts.wrap(title, width, 15, "bold", max_lines=2))
    if sub:
        h += 2 + line_height(8.5) * len(ts.wrap(sub, width, 8.5, max_lines=3))
    return h + 10


def _map_page(ctx: Context, focus: str | None, ftype: str) -> list[Page]:
    """The overview (``focus`` None) or a community: map, legend, status table (continued on
    further pages). Only the layout is kept; each page recomputes its content when drawn, so
    that planning hundreds of communities holds no geometry."""
    lab = ctx.lab
    ts = ctx.ts
    W, H = A4_PORTRAIT[0] * 72, A4_PORTRAIT[1] * 72
    width = W - 2 * MARGIN
    bottom = H - MARGIN - _footer_height(ctx, width) - 8
    title = f"{lab['overview_title']} · {ctx.meta.standard}" if focus is None else figures.community_title(ctx, focus)
    sub = figures.subtitle(ctx, ftype, focus)
    top = MARGIN + _head_height(ts, title, sub, width)
    table = figures.status_table(ctx, focus, width, _TABLE_SIZE) if focus is not None else None
    t_title = line_height(10) + 3
    table_h = table.height(ts) + t_title if table is not None else 0.0
    gap = 10.0
    plan = plan_map(ctx, focus, ftype, width / 330.0)
    leg = 0.0
    map_h = 330.0
    for _ in range(3):  # the legend depends on the view, the view on the space the legend leaves
        leg = max(leg, legend_height(ts, plan.groups, width, _LEGEND_COLS, 7.0))
        avail = bottom - top - leg - gap * 2
        map_h = min(avail - table_h, 0.78 * width) if table is not None else avail
        if table is not None and map_h < 200:
            map_h = min(330.0, avail - t_title - table.header_height(ts) - 40)
        plan = plan_map(ctx, focus, ftype, width / map_h)
    leg = max(leg, legend_height(ts, plan.groups, width, _LEGEND_COLS, 7.0))
    del plan
    y_table = top + map_h + gap + leg + gap
    n_rows = len(table.rows) if table is not None else 0
    n_first = table.fit(ts, 0, bottom - y_table - t_title) if table is not None else 0
    cont = lab["continued"]

    def first(label: str) -> Figure:
        sheet = _page_sheet(ctx)
        plan = plan_map(ctx, focus, ftype, width / map_h)
        header(sheet, title, sub, width)
        draw_map(sheet, (MARGIN, top, width, map_h), ctx, plan)
        draw_legend(sheet, MARGIN, top + map_h + gap, plan.groups, width, _LEGEND_COLS, 7.0)
        if focus is not None and n_first:
            t = figures.status_table(ctx, focus, width, _TABLE_SIZE)
            sheet.text(MARGIN, y_table, lab["community_table"], 10, fontweight="bold")
            t.draw(sheet, MARGIN, y_table + t_title, range(n_first))
        footer(sheet, ctx, label)
        return sheet.fig

    pages: list[Page] = [first]
    if table is None:
        return pages
    ytop = MARGIN + _head_height(ts, title + cont, "", width)
    start = n_first
    while start < n_rows:
        n = max(1, table.fit(ts, start, bottom - ytop - t_title))
        rows = range(start, min(start + n, n_rows))

        def more(label: str, rows: range = rows) -> Figure:
            sheet = _page_sheet(ctx)
            t = figures.status_table(ctx, str(focus), width, _TABLE_SIZE)
            header(sheet, title + cont, "", width)
            sheet.text(MARGIN, ytop, lab["community_table"] + cont, 10, fontweight="bold")
            t.draw(sheet, MARGIN, ytop + t_title, rows)
            footer(sheet, ctx, label)
            return sheet.fig

        pages.append(more)
        start = rows.stop
    return pages


def plan_pages(ctx: Context) -> list[Page]:
    """Every page of the report, planned (text measured) but not drawn."""
    lab = ctx.lab
    p = ctx.p
    gaps_pages = _gaps_pages(ctx)
    overview = _map_page(ctx, None, _display.pick_type(p.types, ctx.present, p.status_by))
    communities: list[Page] = []
    for cid in p.comm["id"]:
        communities += _map_page(ctx, cid, _display.pick_type(p.types, ctx.present, p.status_by, cid))

    def contents(n_cover: int) -> list[str]:
        a = n_cover + 1
        b = a + len(gaps_pages) - 1
        o = b + 1
        c0, c1 = o + 1, o + len(communities)

        def pages(x: int, y: int) -> str:
            return lab["page_one"].format(a=x) if x == y else lab["pages"].format(a=x, b=y)

        return [
            f"{lab['contents_gaps']} …… {pages(a, b)}",
            f"{lab['contents_overview']} …… {pages(o, o)}",
            f"{lab['contents_communities']} …… {pages(c0, c1)}",
        ]

    cover = _cover_pages(ctx, contents(1))
    if len(cover) != 1:
        cover = _cover_pages(ctx, contents(len(cover)))
    return [_in_fonts(ctx, page) for page in cover + gaps_pages + overview + communities]


def _in_fonts(ctx: Context, page: Page) -> Page:
    """``page`` drawn with the report's fonts (text takes its font when it is created)."""

    def draw(label: str) -> Figure:
        with matplotlib.rc_context(rc(ctx.families)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
            return page(label)

    return draw


def write_report(
    result: Any,
    path: str | Path,
    *,
    lang: str = "zh",
    author: str = "",
    date: str | dt.date | None = None,
    progress: bool = False,
    ctx: Context | None = None,
) -> Path:
    """Write ``report.pdf`` (A4, Chinese fonts embedded as TrueType) and return its path.

    Parameters
    ----------
    result : circles.pipeline.Result
    path : path
        The PDF to write (its folder is created).
    lang : {"zh", "en"}
        English without a CJK font.
    author : str
        编制单位, on the cover and every page.
    date : str or date, optional
        The date shown (default: ``SOURCE_DATE_EPOCH`` or today).
    progress : bool
        Show a progress bar (stderr).
    ctx : circles.figures.Context, optional
        Display data already prepared for the figures.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = ctx or figures.context(result, lang, author=author, date=date)
    if ctx.families[0] != "DejaVu Sans":
        try:
            ctx = ctx.with_families([pdf_font(ctx.families[0], report_characters(ctx)), "DejaVu Sans"])
        except Exception as exc:  # fontTools can fail on an unusual font file: embed the font as it is
            log.warning(
                "could not make a TrueType subset of %s (%s: %s); the report embeds the font as it is, "
                "which some PDF readers may not show",
                ctx.families[0],
                type(exc).__name__,
                exc,
            )
    lab = REPORT_LABELS[ctx.lang]
    metadata = {
        "Title": lab["report_title"],
        "Author": ctx.meta.author or None,
        "Subject": ctx.meta.standard,
        "Creator": f"circles {ctx.meta.version}",
        "CreationDate": None,
        "ModDate": None,
    }
    with matplotlib.rc_context(rc(ctx.families)), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        pages = plan_pages(ctx)
        total = len(pages)
        desc = TERMINAL_LABELS[ctx.lang]["progress_report"]
        with PdfPages(out, metadata=metadata) as pdf:
            for i, page in enumerate(tqdm(pages, desc=desc, unit="", disable=not progress, leave=False)):
                fig = page(lab["page"].format(n=i + 1, total=total))
                pdf.savefig(fig)
                fig.clear()
    log.info("wrote %s (%d pages)", out, total)
    return out
