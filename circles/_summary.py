"""The terminal summary of ``circles run``, in the language of the maps.

Columns are aligned by display width (a Chinese character takes two columns of a terminal,
``unicodedata.east_asian_width``), every line fits in :data:`WIDTH` columns (long lists are
wrapped, and shortened to "…等N项"), and the last lines name the file to open first. The text
comes from :mod:`circles._labels`; this module only lays it out (it never prints).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ._labels import STATUS_ORDER, TERMINAL_LABELS, rule_name, status_name, type_name
from .gaps import surveyed_reasons

#: Widest line of the summary, in terminal columns.
WIDTH = 100
#: Communities listed in the table (the worst first); the rest are counted.
MAX_ROWS = 40
#: How many communities with population 0 the summary names before "等".
NO_RESIDENTS_NAMED = 5
_GAP = "  "


def char_width(ch: str) -> int:
    """Terminal columns taken by ``ch`` (2 for wide and full-width characters, 0 for combining)."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(s: str) -> int:
    """Terminal columns taken by ``s``."""
    return sum(char_width(ch) for ch in s)


def truncate(s: str, width: int) -> str:
    """``s`` cut to ``width`` columns, ending in "…" when cut."""
    if display_width(s) <= width:
        return s
    out, w = "", 0
    for ch in s:
        cw = char_width(ch)
        if w + cw > width - 1:
            break
        out += ch
        w += cw
    return out + "…"


def pad(s: str, width: int, align: str = "left") -> str:
    """``s`` padded with spaces to ``width`` columns (cut first when longer)."""
    s = truncate(s, width)
    fill = " " * (width - display_width(s))
    return fill + s if align == "right" else s + fill


_NO_BREAK_BEFORE = set("，。、；：？！）》」』】〕,.;:?!)]}%…·”’/")
_NO_BREAK_AFTER = set("（《「『【〔([{“‘")


#: A short bracketed group ("（250米）") is never broken.
_SHORT_GROUP = re.compile(r"[（(][^（）()]{1,6}[）)]")


def tokens(s: str) -> list[str]:
    """Break opportunities: every wide character, Latin words with their trailing space, short
    bracketed groups whole; no break before closing or after opening punctuation."""
    out: list[str] = []
    buf = ""
    pos = 0
    for m in [*_SHORT_GROUP.finditer(s), None]:
        end = m.start() if m is not None else len(s)
        for ch in s[pos:end]:
            if char_width(ch) == 2:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            elif ch == " ":
                out.append(buf + ch)
                buf = ""
            else:
                buf += ch
        if m is not None:
            if buf:
                out.append(buf)
                buf = ""
            out.append(m.group(0))
            pos = m.end()
    if buf:
        out.append(buf)
    glued: list[str] = []
    for t in out:
        if glued and (t[0] in _NO_BREAK_BEFORE or glued[-1][-1] in _NO_BREAK_AFTER):
            glued[-1] += t
        else:
            glued.append(t)
    return glued


def wrap(s: str, width: int = WIDTH, indent: str = "") -> list[str]:
    """``s`` in lines of at most ``width`` columns; lines after the first start with ``indent``.
    A single word longer than a line (a long path) is cut between characters."""
    lines: list[str] = []
    cur = ""
    for tok in tokens(s):
        limit = width - (display_width(indent) if lines else 0)
        if cur and display_width((cur + tok).rstrip()) > limit:
            lines.append(cur.rstrip())
            cur = tok.lstrip()
        else:
            cur += tok
        limit = width - display_width(indent)
        while display_width(cur.rstrip()) > limit:
            head = truncate(cur, limit + 1)[:-1]
            while len(head) > 1 and cur[len(head)] in _NO_BREAK_BEFORE:
                head = head[:-1]
            lines.append(head)
            cur = cur[len(head) :]
    lines.append(cur.rstrip())
    return [lines[0]] + [indent + line for line in lines[1:]]


def community_ranking(gaps: pd.DataFrame, ids: Sequence[str] | None = None) -> list[str]:
    """Community ids, the most gaps and undersized items first, then partial ones, then input order."""
    cid = gaps["community_id"].astype(str)
    order = [str(i) for i in ids] if ids is not None else list(dict.fromkeys(cid))
    counts = pd.crosstab(cid, gaps["status"])

    def n(c: str, s: str) -> int:
        return int(counts.at[c, s]) if c in counts.index and s in counts.columns else 0

    pos = {c: i for i, c in enumerate(order)}
    return sorted(order, key=lambda c: (-(n(c, "gap") + n(c, "undersized")), -n(c, "partial"), pos[c]))


def wrap_list(items: Sequence[str], width: int, sep: str, head: str = "", indent: str = "") -> list[str]:
    """``head`` then ``items`` joined by ``sep``, broken between items (an item breaks only when it
    is longer than a line); lines after the first start with ``indent``."""
    lines: list[str] = []
    cur = head
    for i, item in enumerate(items):
        piece = item + (sep if i < len(items) - 1 else "")
        if display_width(cur + piece) <= width or not cur.strip() or cur == indent:
            cur += piece
        else:
            lines.append(cur.rstrip())
            cur = indent + piece
    lines.append(cur.rstrip())
    out: list[str] = []
    for line in lines:
        out += wrap(line, width, indent) if display_width(line) > width else [line]
    return out


def _list_text(names: Sequence[str], width: int, lab: Mapping[str, str], max_lines: int = 2) -> list[str]:
    """Names in lines of ``width`` columns, broken between names; shortened to "…等N项"."""
    for k in range(len(names), 0, -1):
        shown = list(names[:k])
        if k < len(names):
            shown[-1] += lab["more"].format(n=len(names))
        lines = wrap_list(shown, width, lab["sep"])
        if len(lines) <= max_lines:
            return lines
    return [truncate(names[0], width - 12) + lab["more"].format(n=len(names))]


def _surveyed_lines(result, lab: dict[str, str], lang: str, width: int, quantity: set[str]) -> list[str]:
    """Which types were judged surveyed and why; which are evidence of presence only; which
    have no data."""
    rb = result.rulebook
    fac = result.facilities  # every input facility, placed or set aside (also in a partitioned run)
    from_field = surveyed_reasons(fac, ())
    present = set(fac["facility_type"].astype(str))
    out: list[str] = []
    used = [t for t in rb.types_used() if t not in quantity]

    def names(ts: list[str]) -> list[str]:
        return [type_name(rb.facility_types[t], lang) for t in ts]

    for why in ("declared", "field"):
        ts = [t for t in used if t in result.surveyed and (from_field.get(t) == "field") == (why == "field")]
        if ts:
            out += wrap_list(names(ts), width, lab["sep"], head=lab[f"surveyed_{why}"], indent="  ")
    seen = [t for t in used if t not in result.surveyed and t in present]
    if seen:
        out += wrap_list(names(seen), width, lab["sep"], head=lab["presence_only"], indent="  ")
    unsurveyed = [t for t in used if t not in result.surveyed and t not in present]
    if unsurveyed:
        out += wrap_list(names(unsurveyed), width, lab["sep"], head=lab["no_data"].format(types=""), indent="  ")
    if seen or unsurveyed:
        out += wrap("  " + lab["no_data_hint"], width, "  ")
    return out


def status_table(result: Any, lang: str, width: int = WIDTH, max_rows: int = MAX_ROWS) -> list[str]:
    """Status counts per community (worst first) with the gap items, aligned for CJK."""
    lab = TERMINAL_LABELS[lang]
    gaps = result.gaps
    cid = gaps["community_id"].astype(str)
    statuses = [s for s in STATUS_ORDER if (gaps["status"] == s).any()]
    counts = pd.crosstab(cid, gaps["status"])
    comm = result.communities
    names = dict(zip(comm["id"].astype(str), comm["name"].astype(str), strict=True))
    ranking = community_ranking(gaps, list(names))
    rules = {r.id: r for r in result.rulebook.rules}
    gap_items: dict[str, list[str]] = {}
    for row in gaps[gaps["status"] == "gap"].itertuples():
        rule = rules.get(str(row.rule_id))
        name = rule_name(rule, lang) if rule is not None else str(row.rule_id)
        gap_items.setdefault(str(row.community_id), []).append(name)

    heads = [status_name(s, lang) for s in statuses]
    col_w = [max(display_width(h), 3) for h in heads]
    name_w = min(max([display_width(lab["community"])] + [display_width(names[c]) for c in ranking]), 24)
    prefix_w = name_w + sum(len(_GAP) + w for w in col_w) + len(_GAP)
    list_w = width - prefix_w
    inline = list_w >= 24

    def prefix(cells: list[str]) -> str:
        out = pad(cells[0], name_w)
        for c, w in zip(cells[1:], col_w, strict=True):
            out += _GAP + pad(c, w, "right")
        return out + _GAP

    lines = [lab["table_title"], (prefix([lab["community"], *heads]) + (lab["gap_items"] if inline else "")).rstrip()]
    for c in ranking[:max_rows]:
        cells = [names[c]] + [str(int(counts.at[c, s])) if c in counts.index else "0" for s in statuses]
        items = gap_items.get(c, [])
        if inline:
            text = _list_text(items, list_w, lab) if items else [""]
            lines.append((prefix(cells) + text[0]).rstrip())
            lines += [(" " * prefix_w + t).rstrip() for t in text[1:]]
        else:
            lines.append(prefix(cells).rstrip())
            if items:
                lines += ["    " + t for t in _list_text(items, width - 4, lab)]
    if len(ranking) > max_rows:
        more = len(ranking) - max_rows
        lines.append(lab["more_rows"].format(n=more))
    return lines


def _font_missing() -> bool:
    """No font with Chinese glyphs: the report and figures fell back to English."""
    from . import _typeset

    return _typeset.cjk_font() is None


def _count_png(folder: Path | None) -> int:
    return len(list(folder.glob("*.png"))) if folder is not None and folder.is_dir() else 0


def _no_residents_lines(comm: pd.DataFrame, lab: Mapping[str, str], width: int) -> list[str]:
    """A line naming the communities with population 0 (nothing to measure there), if any."""
    pop = pd.to_numeric(comm["population"], errors="coerce").fillna(0).to_numpy()
    names = [str(v) for v in comm.loc[pop <= 0, "name"]]
    if not names:
        return []
    shown = lab["name_sep"].join(names[:NO_RESIDENTS_NAMED]) + (
        lab["names_more"] if len(names) > NO_RESIDENTS_NAMED else ""
    )
    return wrap(lab["no_residents"].format(n=len(names), total=len(comm), names=shown), width, "  ")


def summary_lines(
    result: Any,
    paths: Mapping[str, Path],
    lang: str = "zh",
    *,
    version: str = "",
    author: str = "",
    width: int = WIDTH,
) -> list[str]:
    """The whole summary ``circles run`` prints, one string per line.

    Parameters
    ----------
    result : circles.pipeline.Result
    paths : mapping
        What :func:`circles.pipeline.write_outputs` returned.
    lang : {"zh", "en"}
    version : str
        circles' version, for the first line.
    author : str
        编制单位 given (an empty one with a report prints a hint).
    width : int
        Widest line in terminal columns.
    """
    lab = TERMINAL_LABELS[lang]
    fac = result.facilities
    n_aside = int((~fac["placed"].astype(bool)).sum()) if "placed" in fac else 0
    out: list[str] = []
    out += wrap(
        lab["head"].format(
            version=version,
            n_comm=len(result.communities),
            n_fac=len(fac),
            n_aside=n_aside,
            n_res=len(result.residents),
            nodes=result.network.n_nodes,
            edges=result.network.n_edges,
        ),
        width,
        "  ",
    )
    out.append("")
    out += status_table(result, lang, width)
    out.append("")
    comm = result.communities
    if "population_estimated" in comm and bool(comm["population_estimated"].astype(bool).any()):
        out += wrap(lab["estimated"], width, "  ")
    out += _no_residents_lines(comm, lab, width)
    rb = result.rulebook
    # quantity rules (a rulebook's ``check: supply``) without data are survey rows, not no_data
    quantity = {r.facility_type for r in rb.rules if getattr(r, "check", "") == "supply"}
    out += _surveyed_lines(result, lab, lang, width, quantity)
    if "input_problems" in paths:
        n = len(result.input_problems) if result.input_problems is not None else 0
        out += path_line(lab["problems"], paths["input_problems"], width, n=n)
    for w in result.warnings:
        out += wrap(lab["warning"].format(text=w), width, "  ")
    if ("report" in paths or "figures" in paths) and _font_missing():
        out += wrap(lab["font_missing"], width, "  ")
    out.append("")
    folder = Path(paths["map"]).parent if "map" in paths else Path(".")
    items = []
    if "report" in paths:
        items.append(lab["out_report"])
    items += [lab["out_ledger"], lab["out_gaps"]]
    if "figures" in paths:
        items.append(lab["out_figures"].format(n=_count_png(Path(paths["figures"]))))
    maps_dir = Path(paths["community_maps"]) if "community_maps" in paths else None
    n_maps = sum(1 for _ in maps_dir.glob("*.html")) if maps_dir is not None and maps_dir.is_dir() else 0
    items += [lab["out_maps"].format(n=n_maps) if n_maps else lab["out_map_only"], lab["out_data"]]
    out += path_line(lab["outputs"], folder, width)
    out += wrap_list(items, width, lab["sep"], head="  ", indent="  ")
    if "report" in paths and not author:
        out += wrap(lab["author_hint"], width, "  ")
    out.append("")
    if "map" in paths:
        out += path_line(lab["open_first"], paths["map"], width)
    if "ledger_xlsx" in paths:
        out += path_line(lab["open_ledger"], paths["ledger_xlsx"], width)
    if "report" in paths:
        out += path_line(lab["open_report"], paths["report"], width)
    return out


def path_line(template: str, path: Any, width: int = WIDTH, **kw: Any) -> list[str]:
    """``template`` with ``{path}``; when too wide, the path goes whole on a line of its own (a
    path is never broken: it must stay copyable)."""
    line = template.format(path=path, **kw)
    if display_width(line) <= width:
        return [line]
    return [template.format(path="", **kw).rstrip(), f"  {path}"]


# --------------------------------------------------------------------------------------------
# circles whatif and circles site: their tables in the run's language
# --------------------------------------------------------------------------------------------


def table_lines(heads: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Columns aligned by display width (CJK takes two columns); ``right``: right-aligned columns."""
    widths = [display_width(h) for h in heads]
    for row in rows:
        widths = [max(w, display_width(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return _GAP.join(
            pad(c, w, "right" if i in right else "left") for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(heads)] + [line(r) for r in rows]


def whole(v: Any) -> str:
    """A number rounded half up to a whole one ('' when unknown): 1130.5 → '1131'."""
    if v is None or v == "" or pd.isna(v):
        return ""
    return str(int(math.floor(float(v) + 0.5)))


def people(v: Any) -> str:
    """Residents as whole people ('' when unknown)."""
    return whole(v)


def percent(v: Any) -> str:
    """A share as a whole percentage ('—' when unknown)."""
    return "—" if v is None or pd.isna(v) else f"{float(v):.0%}"


def minutes_text(v: float) -> str:
    """Walking minutes rounded for reading: 4.49775 → '4.5', 10.0 → '10'."""
    return f"{round(float(v), 1):g}"


def whatif_lines(
    comp: pd.DataFrame, planned: pd.DataFrame, type_names: Mapping[str, str], lang: str, width: int = WIDTH
) -> list[str]:
    """What ``circles whatif`` prints: the planned facilities (distance to the street, residents
    newly covered, warnings), the communities and items whose coverage changes (statuses in
    words, whole people), and the items that stay without data.

    Parameters
    ----------
    comp : DataFrame
        The comparison table (:func:`circles.whatif.compare_gaps`).
    planned : DataFrame
        The planned facilities table (:func:`circles.whatif.planned_facilities`).
    type_names : mapping
        Facility type id -> name in ``lang``.
    lang : {"zh", "en"}
    """
    from ._labels import SCENARIO_TERMINAL

    lab = SCENARIO_TERMINAL[lang]

    def item(row: Any) -> str:
        name = type_names.get(str(row.facility_type), str(row.facility_type))
        return str(lab["item_minutes"].format(name=name, minutes=minutes_text(row.threshold_min)))

    out = [lab["wi_planned"]]
    rows = [
        [
            str(r.id),
            lab["wi_actions"].get(str(r.action), str(r.action)),
            type_names.get(str(r.facility_type), str(r.facility_type)),
            whole(r.attach_m),
            people(r.residents_newly_covered),
            people(r.residents_no_longer_covered),
        ]
        for r in planned.itertuples(index=False)
    ]
    out += ["  " + s for s in table_lines(lab["wi_cols"], rows, right=(3, 4, 5))]
    for r in planned.loc[planned["warning"].fillna("") != ""].itertuples(index=False):
        out += wrap(lab["wi_warning"].format(id=r.id, text=r.warning), width, "  ")
    moved = (comp["residents_newly_covered"].fillna(0) > 0.5) | (comp["residents_no_longer_covered"].fillna(0) > 0.5)
    changed = comp[comp["status_changed"] | moved]
    if not len(changed):
        return [*out, lab["wi_none"]]
    rows = [
        [
            str(r.community_name),
            item(r),
            status_name(str(r.status_current), lang),
            status_name(str(r.status_scenario), lang),
            f"{percent(r.covered_share_current)} → {percent(r.covered_share_scenario)}",
            people(r.residents_newly_covered),
            people(r.residents_no_longer_covered),
        ]
        for r in changed.itertuples(index=False)
    ]
    out += [lab["wi_changes"]] + ["  " + s for s in table_lines(lab["wi_change_cols"], rows, right=(4, 5, 6))]
    nd = changed[(changed["status_current"] == "no_data") & (changed["status_scenario"] == "no_data")]
    for _, grp in nd.groupby("rule_id", sort=False):
        n = people(grp["residents_newly_covered"].sum())
        out += wrap(lab["wi_no_data"].format(item=item(next(grp.itertuples(index=False))), n=n), width, "  ")
    return out


def site_question_line(
    name: str, total: float, already: float, n_todo: int, sites: pd.DataFrame, ask: Mapping[str, Any], lang: str
) -> str:
    """The line that opens one question of ``circles site``: who is already within reach, and
    what the proposal achieves (``ask``: ``k`` or ``target``, and ``minutes``)."""
    from ._labels import SCENARIO_TERMINAL

    lab = SCENARIO_TERMINAL[lang]
    if not total:
        return f"{name}：{lab['site_no_residents']}" if lang == "zh" else f"{name}: {lab['site_no_residents']}"
    base = lab["site_base"].format(
        name=name, share=percent(already / total), total=people(total), minutes=minutes_text(ask["minutes"])
    )
    n = len(sites)
    if n_todo == 0 or n == 0:
        return base + lab["sep"] + lab["site_covered_all" if n_todo == 0 else "site_no_candidate"]
    share = percent(sites["covered_share_after"].iloc[-1]) if n else percent(already / total)
    if ask.get("k") is not None:
        return base + lab["sep"] + lab["site_best_k"].format(n=n, k=ask["k"])
    target = float(ask["target"])
    reached = float(sites["covered_share_after"].iloc[-1]) if n else already / total
    key = "site_target_met" if reached >= target - 1e-4 else "site_target_missed"
    return base + lab["sep"] + lab[key].format(n=n, share=share, target=percent(target))


def site_lines(sites: pd.DataFrame, lang: str) -> list[str]:
    """The proposed sites of one question: rank, the community served, the nearest street, whole
    people newly covered, the covered share after, and where (lon/lat)."""
    from ._labels import MAP_LABELS, SCENARIO_TERMINAL
    from .mapping import _street_text

    ml = MAP_LABELS[lang]
    rows = []
    for r in sites.itertuples(index=False):
        rows.append(
            [
                str(r.rank),
                str(r.community_name or r.community_id),
                _street_text(str(r.street_name or ""), float(r.street_m), ml),
                people(r.residents_covered),
                percent(r.covered_share_after),
                f"{float(r.lon):.6f}",
                f"{float(r.lat):.6f}",
            ]
        )
    return ["  " + s for s in table_lines(SCENARIO_TERMINAL[lang]["site_cols"], rows, right=(0, 3, 4))]
