"""The typesetting toolkit of circles' printed pages: fonts, measured text, pages, tables, legends.

Everything is laid out in points from measured text: :class:`Typesetter` measures and wraps
text in a font family list (Chinese anywhere, Latin at spaces), :class:`Sheet` is a page whose
artists are placed in points from its top-left corner, :class:`Table` a table with wrapped
cells that splits over pages, :func:`draw_legend` legend groups of swatches and labels. The
figures (:mod:`circles.figures`), the printed report (:mod:`circles.report`), the monthly
progress report (:mod:`circles.progress`) and the acceptance report (:mod:`circles.acceptance`)
are built from them.

Matplotlib is used without pyplot (``Figure`` + the Agg canvas), so importing this module never
changes the backend of a notebook. Chinese text needs a CJK font: :func:`cjk_font` finds one
installed on the system (Debian ``fonts-noto-cjk``, WenQuanYi, SimHei, Microsoft YaHei,
PingFang …), or returns None. Callers look it up through this module (``_typeset.cjk_font()``),
so that a test replacing it here reaches every caller.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Rectangle
from matplotlib.transforms import Affine2D, Transform

from . import _display
from ._summary import _NO_BREAK_BEFORE
from ._summary import tokens as _tokens

try:
    from matplotlib.ft2font import LoadFlags

    _NO_HINTING: Any = LoadFlags.NO_HINTING
except ImportError:  # pragma: no cover - Matplotlib < 3.10
    from matplotlib.ft2font import LOAD_NO_HINTING as _NO_HINTING  # type: ignore[attr-defined, no-redef]  # old name

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
#: Page sizes in inches.
A4_LANDSCAPE = (11.69, 8.27)
A4_PORTRAIT = (8.27, 11.69)
#: Page margin in points.
MARGIN = 26.0
#: Widths measured with the font are widened by this factor (raster hinting is a little wider).
_SAFETY = 1.03

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


# ---------------------------------------------------------------------------------------------
# Text: measured widths, wrapping
# ---------------------------------------------------------------------------------------------


class Typesetter:
    """Measures and wraps text in a font family list (widths in points).

    Parameters
    ----------
    families : sequence of str
        Font families, the first with Chinese glyphs (Matplotlib falls back along the list).
    """

    def __init__(self, families: Sequence[str]) -> None:
        self.families = list(families)
        self._fonts: dict[str, list[Any]] = {}
        self._advance: dict[tuple[str, str], float] = {}
        self._cache: dict[tuple[str, float, str], float] = {}

    def prop(self, size: float, weight: str = "normal") -> FontProperties:
        """Font properties for ``size`` points."""
        return FontProperties(family=self.families, size=size, weight=weight)

    def _font_list(self, weight: str) -> list[Any]:
        fonts = self._fonts.get(weight)
        if fonts is None:
            fonts = []
            for fam in self.families:
                try:
                    path = font_manager.findfont(FontProperties(family=fam, weight=weight), fallback_to_default=False)
                except ValueError:
                    continue
                fonts.append(font_manager.get_font(path))
            self._fonts[weight] = fonts
        return fonts

    def _char(self, ch: str, weight: str) -> float:
        """Advance width of ``ch`` at 1 pt, from the first font of the list that has it."""
        key = (ch, weight)
        adv = self._advance.get(key)
        if adv is None:
            adv = 0.6
            for font in self._font_list(weight):
                if font.get_char_index(ord(ch)):
                    font.set_size(100, 72)
                    adv = font.load_char(ord(ch), flags=_NO_HINTING).linearHoriAdvance / 65536 / 100
                    break
            self._advance[key] = adv
        return adv

    def width(self, s: str, size: float, weight: str = "normal") -> float:
        """Width of ``s`` in points (the sum of its characters' advances, widened a little)."""
        key = (s, size, weight)
        w = self._cache.get(key)
        if w is None:
            w = sum(self._char(ch, weight) for ch in s) * size * _SAFETY
            self._cache[key] = w
        return w

    def truncate(self, s: str, width: float, size: float, weight: str = "normal") -> str:
        """``s`` shortened with "…" to fit ``width``."""
        if self.width(s, size, weight) <= width:
            return s
        k = len(s)
        while k > 1 and self.width(s[:k] + "…", size, weight) > width:
            k -= 1
        return s[:k] + "…"

    def wrap(
        self, s: str, width: float, size: float, weight: str = "normal", max_lines: int | None = None
    ) -> list[str]:
        """``s`` broken into lines no wider than ``width`` (CJK anywhere, Latin at spaces)."""
        lines: list[str] = []
        for para in str(s).split("\n"):
            cur = ""
            for tok in _tokens(para):
                cand = cur + tok
                if cur and self.width(cand.rstrip(), size, weight) > width:
                    lines.append(cur.rstrip())
                    cur = tok.lstrip()
                else:
                    cur = cand
                while len(cur) > 1 and self.width(cur.rstrip(), size, weight) > width:
                    k = len(cur) - 1
                    while k > 1 and self.width(cur[:k], size, weight) > width:
                        k -= 1
                    while k > 1 and cur[k] in _NO_BREAK_BEFORE:
                        k -= 1
                    lines.append(cur[:k])
                    cur = cur[k:]
            lines.append(cur.rstrip())
        if max_lines is not None and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = self.truncate(lines[-1] + "…", width, size, weight)
        return lines


def line_height(size: float) -> float:
    """Distance between the lines of a paragraph set in ``size`` points."""
    return size * 1.32


# ---------------------------------------------------------------------------------------------
# A page laid out in points from its top-left corner
# ---------------------------------------------------------------------------------------------


class Sheet:
    """A figure whose artists are placed in points from the top-left corner of the page."""

    def __init__(self, size: tuple[float, float], ts: Typesetter) -> None:
        self.fig = Figure(figsize=size)
        FigureCanvasAgg(self.fig)
        self.ts = ts
        self.W, self.H = size[0] * 72.0, size[1] * 72.0
        self.T: Transform = (
            Affine2D().scale(1.0, -1.0).translate(0.0, self.H).scale(1 / 72.0) + self.fig.dpi_scale_trans
        )

    def text(self, x: float, y: float, s: str, size: float, **kw: Any) -> None:
        """One line of text whose top-left (``va="top"``) corner is at ``x, y``."""
        kw.setdefault("va", "top")
        kw.setdefault("ha", "left")
        self.fig.text(x, y, s, transform=self.T, fontsize=size, **kw)

    def lines(self, x: float, y: float, lines: Sequence[str], size: float, **kw: Any) -> float:
        """Lines of text from ``y`` down; return their height."""
        lh = line_height(size)
        for i, s in enumerate(lines):
            if s:
                self.text(x, y + i * lh, s, size, **kw)
        return lh * len(lines)

    def paragraph(self, x: float, y: float, width: float, s: str, size: float, **kw: Any) -> float:
        """``s`` wrapped to ``width``; return its height."""
        return self.lines(x, y, self.ts.wrap(s, width, size, kw.get("fontweight", "normal")), size, **kw)

    def rect(self, x: float, y: float, w: float, h: float, **kw: Any) -> None:
        """A rectangle with top-left corner ``x, y``."""
        self.fig.add_artist(Rectangle((x, y), w, h, transform=self.T, **kw))

    def hline(self, x0: float, x1: float, y: float, **kw: Any) -> None:
        """A horizontal line."""
        self.fig.add_artist(Line2D([x0, x1], [y, y], transform=self.T, **kw))

    def axes(self, x: float, y: float, w: float, h: float):
        """An axes filling the box with top-left corner ``x, y``."""
        return self.fig.add_axes((x / self.W, 1 - (y + h) / self.H, w / self.W, h / self.H))


def header(sheet: Sheet, title: str, sub: str, width: float, title_size: float = 15) -> float:
    """Title and subtitle at the top margin; return the height used."""
    ts = sheet.ts
    tl = ts.wrap(title, width, title_size, "bold", max_lines=2)
    h = sheet.lines(MARGIN, MARGIN, tl, title_size, fontweight="bold", color="#111")
    if sub:
        h += 2 + sheet.lines(MARGIN, MARGIN + h + 2, ts.wrap(sub, width, 8.5, max_lines=3), 8.5, color="#333")
    return h


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


@dataclass
class Table:
    """A table with wrapped cells; widths in points."""

    header: list[str]
    rows: list[list[str]]
    widths: list[float]
    align: list[str] | None = None
    fills: list[list[str | None]] | None = None
    size: float = 7.5
    pad: float = 2.6
    _header_lines: list[list[str]] = field(default_factory=list, repr=False)
    _row_lines: list[list[list[str]]] = field(default_factory=list, repr=False)

    def measure(self, ts: Typesetter) -> None:
        """Wrap every cell (once)."""
        if self._header_lines and len(self._row_lines) == len(self.rows):
            return
        inner = [w - 2 * self.pad for w in self.widths]
        self._header_lines = [ts.wrap(h, w, self.size, "bold") for h, w in zip(self.header, inner, strict=True)]
        self._row_lines = [[ts.wrap(c, w, self.size) for c, w in zip(r, inner, strict=True)] for r in self.rows]

    def _height(self, cells: list[list[str]]) -> float:
        return max(len(c) for c in cells) * line_height(self.size) + 2 * self.pad

    def header_height(self, ts: Typesetter) -> float:
        self.measure(ts)
        return self._height(self._header_lines)

    def row_heights(self, ts: Typesetter) -> list[float]:
        self.measure(ts)
        return [self._height(c) for c in self._row_lines]

    def height(self, ts: Typesetter, rows: range | None = None) -> float:
        """Header plus ``rows`` (all by default)."""
        hs = self.row_heights(ts)
        rows = rows if rows is not None else range(len(hs))
        return self.header_height(ts) + sum(hs[i] for i in rows)

    def fit(self, ts: Typesetter, start: int, space: float) -> int:
        """How many rows from ``start`` fit in ``space`` points under the header."""
        hs = self.row_heights(ts)
        used = self.header_height(ts)
        n = 0
        for h in hs[start:]:
            if used + h > space + 0.5:
                break
            used += h
            n += 1
        return n

    def draw(self, sheet: Sheet, x: float, y: float, rows: range | None = None) -> float:
        """Draw the header and ``rows`` with top-left corner ``x, y``; return the height."""
        ts = sheet.ts
        self.measure(ts)
        rows = rows if rows is not None else range(len(self.rows))
        align = self.align or ["left"] * len(self.widths)
        total_w = sum(self.widths)

        def draw_row(y0: float, cells: list[list[str]], fills: Sequence[str | None], bold: bool) -> float:
            h = self._height(cells)
            xx = x
            for j, (lines, w) in enumerate(zip(cells, self.widths, strict=True)):
                fill = fills[j]
                if fill:
                    sheet.rect(xx, y0, w, h, facecolor=fill, edgecolor="none", zorder=1)
                colour = _display.text_colour(fill) if fill and fill.startswith("#") and len(fill) == 7 else "#111"
                a = align[j]
                tx = xx + self.pad if a == "left" else (xx + w - self.pad if a == "right" else xx + w / 2)
                sheet.lines(
                    tx,
                    y0 + self.pad,
                    lines,
                    self.size,
                    ha=a,
                    color=colour,
                    fontweight="bold" if bold else "normal",
                    zorder=3,
                    gid=f"cell:{xx:.2f}:{xx + w:.2f}",  # the cell's edges (points), for checks
                )
                xx += w
            sheet.hline(x, x + total_w, y0 + h, color="#c8c8c8", linewidth=0.5, zorder=2)
            return h

        h = draw_row(y, self._header_lines, ["#ececec"] * len(self.widths), True)
        sheet.hline(x, x + total_w, y, color="#888", linewidth=0.7, zorder=2)
        for i in rows:
            fills = self.fills[i] if self.fills is not None else [None] * len(self.widths)
            h += draw_row(y + h, self._row_lines[i], fills, False)
        return h


# ---------------------------------------------------------------------------------------------
# Legends
# ---------------------------------------------------------------------------------------------


@dataclass
class Key:
    """One legend entry: a swatch (``dot``, ``icon``, ``line``, ``area``, ``cell``) and a label."""

    label: str
    kind: str
    face: str = "none"
    edge: str = "none"
    lw: float = 0.6
    size: float = 6.0
    style: Any = "-"
    letter: str = ""
    alpha: float = 1.0


@dataclass
class KeyGroup:
    """Legend entries under a title."""

    title: str
    keys: list[Key]


_SWATCH = 15.0


def _legend_rows(ts: Typesetter, group: KeyGroup, width: float, ncol: int, size: float) -> list[list[list[str]]]:
    col_w = width / ncol
    labels = [ts.wrap(k.label, col_w - _SWATCH - 4, size) for k in group.keys]
    return [labels[i : i + ncol] for i in range(0, len(labels), ncol)]


def legend_height(ts: Typesetter, groups: Sequence[KeyGroup], width: float, ncol: int, size: float) -> float:
    """Height of :func:`draw_legend`'s output."""
    lh = line_height(size)
    h = 0.0
    for g in groups:
        if not g.keys:
            continue
        h += lh + 1 if g.title else 0
        h += sum(max(len(c) for c in row) * lh + 1.5 for row in _legend_rows(ts, g, width, ncol, size))
        h += 4
    return h


def _swatch(sheet: Sheet, k: Key, x: float, y: float, size: float) -> None:
    cx, cy = x + _SWATCH / 2, y + line_height(size) / 2
    if k.kind == "dot":
        sheet.fig.add_artist(
            Circle((cx, cy), k.size / 2, transform=sheet.T, facecolor=k.face, edgecolor=k.edge, linewidth=k.lw)
        )
    elif k.kind == "icon":
        s = k.size
        sheet.rect(cx - s / 2, cy - s / 2, s, s, facecolor=k.face, edgecolor=k.edge, linewidth=k.lw, linestyle=k.style)
        if k.letter:
            sheet.text(cx, cy, k.letter, size * 0.78, ha="center", va="center", color="#fff")
    elif k.kind == "line":
        sheet.fig.add_artist(
            Line2D(
                [x + 1, x + _SWATCH - 1], [cy, cy], transform=sheet.T, color=k.edge, linewidth=k.lw, linestyle=k.style
            )
        )
    elif k.kind == "area":
        sheet.rect(x + 1, cy - 4, _SWATCH - 2, 8, facecolor=k.face, alpha=k.alpha, edgecolor=k.edge, linewidth=k.lw)
    elif k.kind == "cell":
        sheet.rect(x + 1, cy - 5, _SWATCH - 2, 10, facecolor=k.face, edgecolor="#fff", linewidth=0.5)
        if k.letter:
            sheet.text(cx, cy, k.letter, size * 0.8, ha="center", va="center", color=_display.text_colour(k.face))


def draw_legend(
    sheet: Sheet, x: float, y: float, groups: Sequence[KeyGroup], width: float, ncol: int, size: float
) -> float:
    """Legend groups from ``x, y`` down, ``ncol`` columns each; return the height."""
    ts = sheet.ts
    lh = line_height(size)
    col_w = width / ncol
    y0 = y
    for g in groups:
        if not g.keys:
            continue
        if g.title:
            sheet.text(x, y, g.title, size, fontweight="bold", color="#222")
            y += lh + 1
        rows = _legend_rows(ts, g, width, ncol, size)
        for r, row in enumerate(rows):
            for c, lines in enumerate(row):
                k = g.keys[r * ncol + c]
                xx = x + c * col_w
                _swatch(sheet, k, xx, y, size)
                sheet.lines(xx + _SWATCH + 4, y, lines, size, color="#222", gid=f"cell:{xx:.2f}:{xx + col_w:.2f}")
            y += max(len(c) for c in row) * lh + 1.5
        y += 4
    return y - y0


# ---------------------------------------------------------------------------------------------
# Matplotlib settings, checks
# ---------------------------------------------------------------------------------------------


def rc(families: Sequence[str]) -> dict[Any, Any]:
    """Matplotlib settings of every figure and report page."""
    return {
        "font.family": list(families),
        "axes.unicode_minus": False,
        "pdf.fonttype": 42,
        "path.simplify": True,
        # names and 编制单位 are the user's text: '$' and '^' are printed, never read as mathtext or TeX
        "text.parse_math": False,
        "text.usetex": False,
    }


def text_artists(fig: Figure) -> Iterable[Any]:
    """Every visible text of ``fig`` (for checks that nothing leaves the page)."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
