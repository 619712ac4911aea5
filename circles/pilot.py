"""A city's pilot plan as data: its communities (names, figures, problems, projects, measures,
what exists), phases and units, and how boundaries are matched to it.

The default is the Rugao 2023 complete-community pilot (``circles/config/rugao_pilot.yaml``).
:func:`apply_pilot_attributes` gives matching boundaries the plan's figures, :func:`default_rules`
the plan's rulebook profile; :func:`circles.ledger.build_ledger` cross-checks the ledger rows
against the plan's entries (``covers``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._config import config_file
from ._labels import SOURCE_ZH
from .errors import ConfigError
from .rulebook import DEFAULT_PROFILE

if TYPE_CHECKING:
    from .ledger import Departments

log = logging.getLogger(__name__)


@dataclass
class PilotEntry:
    """A problem, project, measure or existing facility of a pilot community's plan."""

    no: int
    text: str
    covers: tuple[str, ...] = ()
    action: str = ""
    quote: str = ""
    section: str = ""
    investment_wan: float | None = None
    count: int | None = None


@dataclass(frozen=True)
class PilotPlace:
    """Where a pilot lies: a point (WGS-84 lon/lat) and how far from it a boundary may lie.

    A boundary named like a pilot community is that community only when its representative point
    lies within ``radius_km`` of (``lon``, ``lat``): the names (迎新, 仙鹤 …) are common.
    """

    name: str
    lon: float
    lat: float
    radius_km: float
    source: str

    def distance_km(self, lon: float, lat: float) -> float:
        """Great-circle distance in km from the place to (``lon``, ``lat``) (haversine)."""
        p1, p2 = math.radians(self.lat), math.radians(lat)
        dp, dl = p2 - p1, math.radians(lon - self.lon)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


#: Mean Earth radius (IUGG), for the haversine distance of :meth:`PilotPlace.distance_km`.
_EARTH_RADIUS_KM = 6371.0088


@dataclass
class PilotCommunity:
    """A pilot community as its plan describes it."""

    id: str
    name_zh: str
    aliases: tuple[str, ...]
    area_km2: float | None
    households: float | None
    population: float | None
    population_note: str = ""
    boundary_zh: str = ""
    attachment: str = ""
    street: str = ""
    problems: list[PilotEntry] = field(default_factory=list)
    projects: list[PilotEntry] = field(default_factory=list)
    measures: list[PilotEntry] = field(default_factory=list)
    existing: list[PilotEntry] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: where the community lies (its own ``place``, else the plan's)
    place: PilotPlace | None = None


@dataclass
class Phase:
    """A phase of the plan (四、组织实施), verbatim."""

    no: int
    name_zh: str
    text_zh: str
    period_zh: str
    end: str  # "YYYY-MM"

    def label(self) -> str:
        """'第三阶段：协同推进，定期调度（2023年4月至2024年8月）'."""
        return f"{self.name_zh}：{self.text_zh}（{self.period_zh}）"


@dataclass
class Pilot:
    """A city's pilot plan: its communities, phases, units and where the figures come from."""

    communities: list[PilotCommunity]
    source: str
    path: str = ""
    phases: list[Phase] = field(default_factory=list)
    deadline_phase: int | None = None
    #: the phase whose end is the 完成时限 of survey rows (排查: Rugao's phase 2)
    survey_phase: int | None = None
    rules_profile: str = ""
    departments: Departments | None = None
    city_measures: list[PilotEntry] = field(default_factory=list)
    reporting_zh: str = ""
    #: where the pilot city lies (the place of communities without their own)
    place: PilotPlace | None = None

    def match(
        self, name: Any, lonlat: tuple[float, float] | None = None, *, place_check: bool = True
    ) -> PilotCommunity | None:
        """The pilot community named ``name`` that lies at ``lonlat``.

        Parameters
        ----------
        name : str
            A boundary's name, matched to a community's name or alias (:func:`normalise_name`).
        lonlat : (float, float), optional
            The boundary's representative point (WGS-84). ``None`` (place unknown) matches no
            community that has a place.
        place_check : bool
            ``False`` matches by the name alone (``--no-pilot-place-check``).
        """
        c = self.match_name(name)
        if c is None or not place_check or c.place is None:
            return c
        if lonlat is None or c.place.distance_km(*lonlat) > c.place.radius_km:
            return None
        return c

    def match_name(self, name: Any) -> PilotCommunity | None:
        """The pilot community whose name or alias matches ``name``, wherever it lies."""
        key = normalise_name(name)
        if not key:
            return None
        for c in self.communities:
            if key in {normalise_name(a) for a in (c.name_zh,) + c.aliases}:
                return c
        return None

    def deadline_text(self, action: str = "") -> str:
        """完成时限 of an open item: the end of :attr:`survey_phase` for a survey, else of
        :attr:`deadline_phase` ('2024年8月底'); '' when the plan gives no such phase.
        """
        no = self.survey_phase if action == "survey" and self.survey_phase is not None else self.deadline_phase
        ph = next((p for p in self.phases if p.no == no), None)
        if ph is None:
            return ""
        year, month = ph.end.split("-")
        return f"{int(year)}年{int(month)}月底"


_PREFIXES = ("江苏省", "南通市", "如皋市", "如城街道", "如城")
_SUFFIXES = ("社区居民委员会", "居民委员会", "社区居委会", "居委会", "社区", " community")


def normalise_name(name: Any) -> str:
    """A community name without spaces, city/street prefixes and 社区/居委会 suffixes, lower-case.

    >>> normalise_name("如城街道 孔庙社区")
    '孔庙'
    """
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    s = re.sub(r"\s+", "", str(name)).lower()
    changed = True
    while changed and s:
        changed = False
        for p in _PREFIXES:
            if s.startswith(p) and len(s) > len(p):
                s, changed = s[len(p) :], True
        for suf in _SUFFIXES:
            suf = suf.replace(" ", "")
            if s.endswith(suf) and len(s) > len(suf):
                s, changed = s[: -len(suf)], True
    return s


def _pilot_num(c: Mapping[str, Any], key: str, where: str) -> float | None:
    """A non-negative number of a pilot community entry (None when absent)."""
    v = c.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ConfigError(f"{where}: '{key}' should be a non-negative number, got {v!r}")
    return float(v)


#: Actions a plan entry may name (``action``): renovate = 提标改造, revitalise = 盘活利用.
PLAN_ACTIONS = ("share", "upgrade", "new_build", "renovate", "revitalise")


def _entry_no(e: Mapping[Any, Any], default: int) -> int:
    """An entry's number: YAML 1.1 reads the key ``no`` as false, so both are looked up."""
    v = e.get("no", e.get(False, default))
    return int(v) if isinstance(v, (int, float, str)) and not isinstance(v, bool) else default


def _pilot_entries(c: Mapping[str, Any], key: str, where: str) -> list[PilotEntry]:
    """The numbered problems, projects, measures or existing facilities of a plan entry."""
    lst = c.get(key) or []
    if not isinstance(lst, list):
        raise ConfigError(f"{where}: '{key}' should be a list")
    res = []
    for j, e in enumerate(lst):
        if not isinstance(e, dict) or not e.get("text"):
            raise ConfigError(f"{where}: {key} #{j + 1}: expected a mapping with 'text'")
        covers = e.get("covers")
        if covers is None:
            raise ConfigError(
                f"{where}: {key} #{j + 1}: missing 'covers' (the rule ids it is about, reviewed by hand; [] for none)"
            )
        if not isinstance(covers, list):
            raise ConfigError(f"{where}: {key} #{j + 1}: 'covers' should be a list of rule ids")
        action = str(e.get("action", "") or "")
        if action and action not in PLAN_ACTIONS:
            raise ConfigError(
                f"{where}: {key} #{j + 1}: 'action' should be one of {', '.join(PLAN_ACTIONS)}, got {action!r}"
            )
        inv = _pilot_num(e, "investment_wan", f"{where}: {key} #{j + 1}")
        cnt = _pilot_num(e, "count", f"{where}: {key} #{j + 1}")
        res.append(
            PilotEntry(
                no=_entry_no(e, j + 1),
                text=str(e["text"]),
                covers=tuple(str(x) for x in covers),
                action=action,
                quote=str(e.get("quote", "") or ""),
                section=str(e.get("section", "") or ""),
                investment_wan=inv,
                count=None if cnt is None else int(cnt),
            )
        )
    return res


_COMMUNITY_KEYS = {
    "id",
    "name_zh",
    "aliases",
    "area_km2",
    "households",
    "population",
    "population_note",
    "boundary_zh",
    "attachment",
    "street",
    "problems",
    "projects",
    "measures",
    "existing",
    "place",
}


def _place(raw: Any, where: str) -> PilotPlace | None:
    """A ``place`` mapping (name, lon, lat, radius_km, source) of the plan or of a community."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'place' should be a mapping with name, lon, lat, radius_km and source")
    nums = {}
    for key, lo, hi in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0), ("radius_km", 0.0, 20000.0)):
        v = raw.get(key)
        bad = not isinstance(v, (int, float)) or isinstance(v, bool)
        if bad or not lo <= v <= hi or (key == "radius_km" and v <= 0):  # type: ignore[operator]
            raise ConfigError(f"{where}: place '{key}' should be a number in [{lo:g}, {hi:g}], got {v!r}")
        nums[key] = float(v)  # type: ignore[arg-type]
    if not raw.get("source"):
        raise ConfigError(f"{where}: place needs a 'source' (or 'no source found')")
    return PilotPlace(
        name=str(raw.get("name", "") or ""),
        lon=nums["lon"],
        lat=nums["lat"],
        radius_km=nums["radius_km"],
        source=str(raw["source"]),
    )


def load_pilot(path: str | Path | None = None) -> Pilot:
    """A pilot plan as data (default: ``circles/config/rugao_pilot.yaml``, the Rugao 2023 plan)."""
    data, label = config_file("rugao_pilot.yaml", path)
    raw = data.get("communities")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{label}: expected a non-empty list 'communities'")
    city_place = _place(data.get("place"), label)
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict) or not c.get("id") or not c.get("name_zh"):
            raise ConfigError(f"{label}: community #{i + 1}: expected a mapping with 'id' and 'name_zh'")
        where = f"{label}: community '{c['id']}'"
        out.append(
            PilotCommunity(
                id=str(c["id"]),
                name_zh=str(c["name_zh"]),
                aliases=tuple(str(a) for a in (c.get("aliases") or [])),
                area_km2=_pilot_num(c, "area_km2", where),
                households=_pilot_num(c, "households", where),
                population=_pilot_num(c, "population", where),
                population_note=str(c.get("population_note", "")),
                boundary_zh=str(c.get("boundary_zh", "")),
                attachment=str(c.get("attachment", "")),
                street=str(c.get("street", "") or ""),
                problems=_pilot_entries(c, "problems", where),
                projects=_pilot_entries(c, "projects", where),
                measures=_pilot_entries(c, "measures", where),
                existing=_pilot_entries(c, "existing", where),
                extra={k: v for k, v in c.items() if k not in _COMMUNITY_KEYS},
                place=_place(c.get("place"), where) or city_place,
            )
        )
    phases = []
    for j, ph in enumerate(data.get("phases") or []):
        if not isinstance(ph, dict) or not re.fullmatch(r"\d{4}-\d{2}", str(ph.get("end", ""))):
            raise ConfigError(f"{label}: phases #{j + 1}: expected name_zh, text_zh, period_zh and end 'YYYY-MM'")
        phases.append(
            Phase(
                no=_entry_no(ph, j + 1),
                name_zh=str(ph.get("name_zh", "")),
                text_zh=str(ph.get("text_zh", "")),
                period_zh=str(ph.get("period_zh", "")),
                end=str(ph["end"]),
            )
        )
    dphase = data.get("deadline_phase")
    if dphase is not None and dphase not in {p.no for p in phases}:
        raise ConfigError(f"{label}: 'deadline_phase' {dphase!r} is not one of the phases")
    sphase = data.get("survey_phase")
    if sphase is not None and sphase not in {p.no for p in phases}:
        raise ConfigError(f"{label}: 'survey_phase' {sphase!r} is not one of the phases")
    deps = None
    if data.get("departments") is not None:
        if not isinstance(data["departments"], dict):
            raise ConfigError(f"{label}: 'departments' should be a mapping (the schema of departments.yaml)")
        base_data, base_label = config_file("departments.yaml")
        from .ledger import _departments_from  # the departments loader (ledger imports this module)

        deps = _departments_from(data["departments"], f"{label}: departments", _departments_from(base_data, base_label))
    src = data.get("source") or {}
    return Pilot(
        communities=out,
        source=str(src.get("doc", "")) if isinstance(src, dict) else str(src),
        path=label,
        phases=phases,
        deadline_phase=None if dphase is None else int(dphase),
        survey_phase=None if sphase is None else int(sphase),
        rules_profile=str(data.get("rules_profile", "") or ""),
        departments=deps,
        city_measures=_pilot_entries(data, "city_measures", label),
        reporting_zh=str(data.get("reporting_zh", "") or ""),
        place=city_place,
    )


def _lonlats(communities: pd.DataFrame) -> list[tuple[float, float] | None]:
    """Each community's representative point in WGS-84 lon/lat (``None`` when unknown: no geometry,
    no CRS or an empty geometry).
    """
    geom = communities.geometry if "geometry" in communities.columns and hasattr(communities, "crs") else None
    if geom is None or communities.crs is None:
        return [None] * len(communities)
    pts = geom.representative_point().to_crs(4326)
    return [None if p is None or p.is_empty else (float(p.x), float(p.y)) for p in pts]


def _not_pilot_text(name: Any, c: PilotCommunity, lonlat: tuple[float, float] | None) -> str:
    """Why a boundary named like a pilot community is not that community."""
    place = c.place
    assert place is not None  # a name match without a place is a match
    head = f"community {name} is named like the {place.name} pilot community {c.name_zh} but"
    if lonlat is None:
        where = "its place is unknown (no geometry or no coordinate system)"
    else:
        where = f"lies at {lonlat[0]:.4f},{lonlat[1]:.4f}, {place.distance_km(*lonlat):.0f} km from {place.name}"
    return (
        f"{head} {where}: not treated as the pilot (a pilot community lies within {place.radius_km:g} km of "
        f"{place.lon:.4f},{place.lat:.4f}; --no-pilot-place-check matches by the name alone)"
    )


def match_communities(
    communities: pd.DataFrame,
    pilot: Pilot | None = None,
    *,
    place_check: bool = True,
    warnings: list[str] | None = None,
) -> list[PilotCommunity | None]:
    """The pilot community of each boundary: named like it and lying at its place.

    A boundary named like a pilot community that lies elsewhere (or whose place is unknown) is no
    pilot community, and a warning says so once per boundary.

    Parameters
    ----------
    communities : DataFrame
        With ``name``; a GeoDataFrame's geometry gives the place (its representative point).
    place_check : bool
        ``False`` matches by the name alone (``--no-pilot-place-check``).
    warnings : list of str, optional
        Receives the warnings too (the run's ``Result.warnings``).
    """
    pilot = pilot if pilot is not None else load_pilot()
    names = list(communities["name"])
    by_name = [pilot.match_name(n) for n in names]
    pts = _lonlats(communities) if place_check and any(c is not None for c in by_name) else [None] * len(names)
    out: list[PilotCommunity | None] = []
    for name, c, ll in zip(names, by_name, pts, strict=True):
        m = pilot.match(name, ll, place_check=place_check) if c is not None else None
        if c is not None and m is None:
            text = _not_pilot_text(name, c, ll)
            log.warning("%s", text)
            if warnings is not None:
                warnings.append(text)
        out.append(m)
    return out


def pilots_of(communities: pd.DataFrame, pilot: Pilot) -> list[PilotCommunity | None]:
    """The pilot community of each row: by ``pilot_id`` when :func:`apply_pilot_attributes` has set
    it, else by name and place (:func:`match_communities`).
    """
    if "pilot_id" in communities.columns:
        ids = {c.id: c for c in pilot.communities}
        return [ids.get(str(x or "")) for x in communities["pilot_id"]]
    return match_communities(communities, pilot)


def default_rules(communities: pd.DataFrame, pilot: Pilot | None = None, *, place_check: bool = True) -> str:
    """The rulebook to use when none is asked for: the pilot plan's (``rules_profile``) when a
    community is one of its pilot communities (by name and place: ``pilot_id`` when
    :func:`apply_pilot_attributes` has set it, else :func:`match_communities`), else
    ``complete_community_2020``.
    """
    pilot = pilot if pilot is not None else load_pilot()
    if "pilot_id" in communities.columns:
        matched = any(m is not None for m in pilots_of(communities, pilot))
    else:
        matched = any(m is not None for m in match_communities(communities, pilot, place_check=place_check))
    if pilot.rules_profile and matched:
        log.info("boundaries match the pilot plan %s: rulebook %s", pilot.path, pilot.rules_profile)
        return pilot.rules_profile
    return DEFAULT_PROFILE


def apply_pilot_attributes(
    communities: pd.DataFrame,
    pilot: Pilot | None = None,
    street_field: str | None = None,
    *,
    place_check: bool = True,
    warnings: list[str] | None = None,
) -> pd.DataFrame:
    """Add the pilot plan's attributes to the pilot communities: boundaries named like one that lie
    at its place (:func:`match_communities`; ``place_check=False``: by the name alone; the
    warnings about boundaries named like one that lie elsewhere are logged and added to
    ``warnings``).

    The plan's population replaces the boundary's when the boundary has none (0) or only an
    estimate (``population_estimated``); the plan's households fill a missing ``households``.

    Returns
    -------
    DataFrame (same type as ``communities``)
        A copy with ``households`` (NaN when unknown), ``pilot_id``, ``pilot_name``,
        ``plan_area_km2``, ``population_source``, ``households_source`` and ``street`` (the
        boundary's own ``street`` when it has one — or its ``street_field`` (``--district-field``,
        the ledger's 街道) — else the plan's, else empty).
    """
    pilot = pilot if pilot is not None else load_pilot()
    out = communities.copy()
    if "households" not in out.columns:
        out["households"] = np.nan
    out["households"] = pd.to_numeric(out["households"], errors="coerce").astype(float)
    est_col = (
        out["population_estimated"] if "population_estimated" in out.columns else pd.Series(False, index=out.index)
    )
    method = out["population_method"] if "population_method" in out.columns else pd.Series("", index=out.index)
    street_col = out["street"] if "street" in out.columns else pd.Series("", index=out.index)
    if street_field and street_field in out.columns:
        own = street_col.where(street_col.notna() & (street_col.astype(str) != ""), out[street_field])
        street_col = own.where(own.notna(), "")
    pid, pname, parea, psrc, hsrc, street = [], [], [], [], [], []
    seen: dict[str, str] = {}
    matches = match_communities(out, pilot, place_check=place_check, warnings=warnings)
    for idx, p in zip(out.index, matches, strict=True):
        name = out.at[idx, "name"]
        est = bool(est_col.loc[idx])
        pop = float(out.at[idx, "population"])
        hh = out.at[idx, "households"]
        base = SOURCE_ZH["boundary"]
        if est:
            m = str(method.loc[idx] or "")
            # the Chinese sheets carry no English: an English method note stays in the data sheet
            src = f"{SOURCE_ZH['estimate']}（{m}）" if m and not re.search(r"[A-Za-z]", m) else SOURCE_ZH["estimate"]
        else:
            src = base
        hs = base if pd.notna(hh) else SOURCE_ZH["unknown"]
        if p is not None:
            if p.id in seen:
                log.warning("boundaries '%s' and '%s' both match the pilot community %s", seen[p.id], name, p.name_zh)
            seen[p.id] = str(name)
            if (pop <= 0 or est) and p.population:
                out.at[idx, "population"] = p.population
                if "population_estimated" in out.columns:
                    out.at[idx, "population_estimated"] = False
                src = f"试点方案 pilot plan: {p.population_note or p.population}（{p.attachment}）"
            if pd.isna(hh) and p.households:
                out.at[idx, "households"] = p.households
                hs = f"试点方案 pilot plan: {p.households:.0f}户（{p.attachment}）"
        own_street = street_col.loc[idx]
        own_street = (
            "" if own_street is None or (isinstance(own_street, float) and math.isnan(own_street)) else own_street
        )
        street.append(str(own_street) or (p.street if p else ""))
        pid.append(p.id if p else "")
        pname.append(p.name_zh if p else "")
        parea.append(p.area_km2 if p and p.area_km2 is not None else np.nan)
        psrc.append(src)
        hsrc.append(hs)
    out["pilot_id"] = pid
    out["pilot_name"] = pname
    out["plan_area_km2"] = parea
    out["population_source"] = psrc
    out["households_source"] = hsrc
    out["street"] = street
    n = sum(bool(x) for x in pid)
    if n:
        log.info("%d communities match the pilot plan (%s)", n, pilot.path)
    return out
