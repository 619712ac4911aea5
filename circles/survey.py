"""Survey answers read back from a filled ledger: the 核实结果 block closes 无数据 and 待核.

The ledger's 待核实事项 sheet asks the street office, row by row, whether the community has the
item: 核实结果 (有/无), 核实设施名称, 核实位置 (an address, or ``经度,纬度`` in WGS-84) and
核实面积（m²）或规模. Fed back with ``circles run --ledger PREVIOUS`` (the run's option
``survey``), the answers enter the analysis before anything is measured:

- **无** (verified absent): the facility type is *surveyed* in that community — its absence is a
  finding. The row is measured like a type declared ``--surveyed``, for that community only: a
  gap (or partial, when some residents reach one elsewhere), no longer 无数据 or 未见.
- **有** (verified present) with a name: a facility of the item's type, at the given point, or —
  for an address or no location — at the community's representative point, an estimate its
  ``source`` says so. Its source names the ledger file, sheet and row. When the input already
  has exactly one facility of that type and name, the answer gives that facility's size
  instead of adding a second one.
- **a size** (面积或规模): the facility's ``size_m2`` (or the rule's capacity measure, e.g. beds),
  so that a ``reach_size_unverified`` row is checked (met, or undersized).

Bad answers — a 有 without a name, a location outside the community, a size that is not a
number, a row that no longer matches a community and rule — are reported in the run's input
problems (``input_problems.csv``) and as warnings, naming the workbook, sheet, row and column;
the cell itself is still carried into the new ledger (:mod:`circles.cycle`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from ._labels import LEDGER_COLUMNS, OFFICIAL_COLUMNS, SURVEY_WORDS, SURVEY_YES_NO, rule_name
from .cycle import SURVEY_COLUMNS, Entry, FilledLedger, _text
from .rulebook import Rule, Rulebook

log = logging.getLogger(__name__)

#: The column of the communities holding the types surveyed on site there (comma-separated).
SURVEYED_COLUMN = "surveyed_types"
#: The survey block's columns (keys of :data:`circles._labels.OFFICIAL_COLUMNS`).
SURVEY_BLOCK = SURVEY_COLUMNS

_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m²|㎡|m2|平方米|平米|平方|床|张|个|人|位|辆|处)?\s*$", re.IGNORECASE)
#: Units that make a size answer a floor area (others, e.g. 床, a capacity).
_AREA_UNITS = ("m²", "㎡", "m2", "平方米", "平米", "平方")
_LONLAT = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,，、\s]\s*(-?\d{1,2}(?:\.\d+)?)\s*$")


@dataclass
class Answers:
    """What the survey answers of a filled ledger add to a run.

    Attributes
    ----------
    surveyed : dict
        Community id -> facility types verified absent there (surveyed in that community).
    facilities : list of dict
        Verified presences, one per answer: ``id``, ``facility_type``, ``name``, ``lon``, ``lat``,
        ``source``, ``estimated`` and the size column (``size_m2`` or the capacity measure).
    sizes : list of tuple
        ``(facility id, column, value, source)``: sizes given for facilities already in the input.
    problems : list of dict
        Bad answers as rows of the run's input problems (``source_file``, ``row_number``,
        ``field``, ``value``, ``reason``).
    """

    surveyed: dict[str, set[str]] = field(default_factory=dict)
    facilities: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[tuple[str, str, float, str]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> str:
        """One line for the log and the run's warnings."""
        return SURVEY_WORDS["report"].format(
            absent=sum(len(v) for v in self.surveyed.values()),
            present=len(self.facilities),
            sized=len(self.sizes),
            bad=len(self.problems),
        )


def _column_letter(j: int) -> str:
    s, n = "", j + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


class _Reader:
    """Reads the answers of one filled ledger against this run's communities and rules."""

    def __init__(self, filled: FilledLedger, communities: gpd.GeoDataFrame, rulebook: Rulebook) -> None:
        self.filled = filled
        self.comms = communities.to_crs(4326) if communities.crs is not None else communities
        self.ids = self.comms["id"].astype(str).tolist()
        self.by_name = {str(n): str(i) for i, n in zip(self.ids, self.comms["name"], strict=True)}
        self.rules = {r.id: r for r in rulebook.all_items()}
        self.rule_by_name = {rule_name(r, "zh"): r for r in rulebook.all_items()}
        self.geom = dict(zip(self.ids, self.comms.geometry, strict=True))
        self.out = Answers()

    def problem(self, e: Entry, col: str, reason: str) -> None:
        """Report a bad answer: workbook, sheet, row, column, what was wrong and what was written."""
        j = e.columns.get(col)
        letter = _column_letter(j) if j is not None else "?"
        header = OFFICIAL_COLUMNS.get(col, LEDGER_COLUMNS.get(col, col))
        value = _text(e.cells.get(col))
        where = f"{e.sheet}!{letter}{e.row}"
        self.out.problems.append(
            {
                "source_file": str(self.filled.path),
                "row_number": e.row,
                "field": f"{where} {header}",
                "value": value,
                "reason": reason,
            }
        )
        where_parts = {"file": self.filled.path.name, "sheet": e.sheet, "row": e.row, "col": letter}
        log.warning("%s", SURVEY_WORDS["problem"].format(**where_parts, header=header, reason=reason, value=value))

    def target(self, e: Entry) -> tuple[str, Rule] | None:
        """The community id and the rule an entry speaks of (None: not in this run)."""
        if e.key[0] == "id":
            cid, rule = e.key[1], self.rules.get(e.key[2])
            return (cid, rule) if cid in self.geom and rule is not None else None
        if e.key[0] == "name":
            by_name, rule2 = self.by_name.get(e.key[1]), self.rule_by_name.get(e.key[2])
            return (by_name, rule2) if by_name is not None and rule2 is not None else None
        return None

    def read(self, e: Entry) -> None:
        """One row's answer."""
        answer = _text(e.cells.get("survey_result"))
        if not answer:
            return
        found = _yes_no(answer)
        if found is None:
            self.problem(e, "survey_result", SURVEY_WORDS["not_yes_no"])
            return
        where = self.target(e)
        if where is None:
            self.problem(e, "survey_result", SURVEY_WORDS["no_match"])
            return
        cid, rule = where
        if not rule.is_spatial:
            log.info("%s!%d: %s", e.sheet, e.row, SURVEY_WORDS["not_spatial"])
            return
        if not found:
            self.out.surveyed.setdefault(cid, set()).add(rule.facility_type)
            return
        self.present(e, cid, rule)

    def present(self, e: Entry, cid: str, rule: Rule) -> None:
        """A verified presence: a facility (or the size of one the input has)."""
        name = _text(e.cells.get("survey_name"))
        if not name:
            self.problem(e, "survey_name", SURVEY_WORDS["no_name"])
            return
        source = SURVEY_WORDS["source"].format(file=self.filled.path.name, sheet=e.sheet, row=e.row)
        size, unit = self.size(e)
        measure = "size_m2" if unit.lower() in _AREA_UNITS else "capacity" if unit else _measure_of(rule)
        point, note = self.location(e, cid)
        if point is None:
            return
        self.out.facilities.append(
            {
                "id": f"survey-{cid}-{rule.id}",
                "facility_type": rule.facility_type,
                "name": name,
                "lon": point.x,
                "lat": point.y,
                "source": f"{source}；{note}",
                "estimated": note != SURVEY_WORDS["at_point"],
                measure: size,
            }
        )

    def size(self, e: Entry) -> tuple[float, str]:
        """The answer's size and its unit as written (NaN when not given or not readable; the
        latter reported).
        """
        text = _text(e.cells.get("survey_size"))
        if not text:
            return float("nan"), ""
        m = _NUMBER.match(text)
        if m is None or float(m.group(1)) <= 0:
            self.problem(e, "survey_size", SURVEY_WORDS["bad_size"])
            return float("nan"), ""
        return float(m.group(1)), m.group(2) or ""

    def location(self, e: Entry, cid: str) -> tuple[Point | None, str]:
        """The facility's point and how it was found; (None, …) for a point outside the community."""
        text = _text(e.cells.get("survey_location"))
        shape = self.geom[cid]
        m = _LONLAT.match(text) if text else None
        if m is None:
            return shape.representative_point(), SURVEY_WORDS["estimated"].format(text=text or "—")
        point = Point(float(m.group(1)), float(m.group(2)))
        if not shape.covers(point):
            self.problem(e, "survey_location", SURVEY_WORDS["outside"])
            return None, ""
        return point, SURVEY_WORDS["at_point"]


def _yes_no(answer: str) -> bool | None:
    """True for 有, False for 无, None for anything else (the first word decides)."""
    a = answer.strip()
    if any(a.startswith(w) for w in SURVEY_YES_NO["no"]):
        return False
    if any(a.startswith(w) for w in SURVEY_YES_NO["yes"]):
        return True
    return None


def _measure_of(rule: Rule) -> str:
    """The facility column a size answer fills: ``size_m2``, unless the rule checks only a
    capacity measured otherwise (places, beds).
    """
    c = rule.capacity
    if rule.min_size_m2 is None and c is not None and c.measure != "size_m2":
        return c.measure
    return "size_m2"


def read_answers(filled: FilledLedger, communities: gpd.GeoDataFrame, rulebook: Rulebook) -> Answers:
    """The survey answers of a filled ledger, checked against this run's communities and rules.

    Parameters
    ----------
    filled : FilledLedger
        :func:`circles.cycle.read_filled_ledger` of the filled workbook.
    communities : GeoDataFrame
        The run's communities (``id``, ``name``, polygons).
    rulebook : Rulebook

    Returns
    -------
    Answers
        One answer per row (a row read twice — on the survey sheet and on a sheet people
        copied it to — counts once: the first).
    """
    reader = _Reader(filled, communities, rulebook)
    seen: set[tuple[str, str, str]] = set()
    for e in [*filled.entries, *filled.survey_carried()]:
        if e.closed_sheet or e.kept_sheet or e.key in seen or not _text(e.cells.get("survey_result")):
            continue
        seen.add(e.key)
        reader.read(e)
    log.info("%s", reader.out.report())
    return reader.out


def apply_answers(
    communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, answers: Answers
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The communities with the types surveyed there (:data:`SURVEYED_COLUMN`) and the
    facilities with the verified ones added (sizes given to those the input has by name).
    """
    comms = communities.copy()
    comms[SURVEYED_COLUMN] = [",".join(sorted(answers.surveyed.get(str(i), ()))) for i in comms["id"].astype(str)]
    facs = facilities.copy()
    rows = []
    for f in answers.facilities:
        same = (facs["facility_type"].astype(str) == f["facility_type"]) & (facs["name"].astype(str) == f["name"])
        measure = next(k for k in f if k in ("size_m2", "capacity"))
        if int(same.sum()) == 1:  # the input has it: the answer gives its size
            if np.isfinite(f[measure]):
                if measure not in facs.columns:
                    facs[measure] = np.nan
                i = facs.index[same.to_numpy()][0]
                facs.at[i, measure] = f[measure]
                answers.sizes.append((str(facs.at[i, "id"]), measure, float(f[measure]), f["source"]))
            continue
        rows.append(f)
    if rows:
        add = gpd.GeoDataFrame(
            pd.DataFrame(rows).drop(columns=["lon", "lat", "estimated"]),
            geometry=gpd.points_from_xy([r["lon"] for r in rows], [r["lat"] for r in rows]),
            crs="EPSG:4326",
        )
        if "source" not in facs.columns:
            facs["source"] = ""
        facs = gpd.GeoDataFrame(pd.concat([facs, add], ignore_index=True), geometry="geometry", crs=facs.crs)
        answers.facilities = rows
    else:
        answers.facilities = []
    return comms, facs


def surveyed_in(communities: pd.DataFrame) -> dict[str, set[str]]:
    """Community id -> the types surveyed on site there (from :data:`SURVEYED_COLUMN`)."""
    if SURVEYED_COLUMN not in communities.columns:
        return {}
    return {
        str(i): {t for t in str(v or "").split(",") if t}
        for i, v in zip(communities["id"], communities[SURVEYED_COLUMN], strict=True)
    }
