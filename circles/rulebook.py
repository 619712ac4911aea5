"""Configuration as data: facility types, walking speeds and rulebooks.

Every number circles uses to judge a community lives in a YAML file with its source:
``circles/config/facility_types.yaml`` (what a facility type is and how OSM tags it),
``circles/config/speeds.yaml`` (walking-speed profiles) and ``circles/rules/*.yaml``
(one rulebook profile per file). Users can pass their own files instead.

Rulebook schema (``schema_version: 2``; the full commented reference is
``circles/rules/README.md``)
---------------------------------------------------------------------------------
A profile file has ``profile``, ``name_zh``, ``name_en`` and a list ``rules``. Each rule is
one of two kinds:

``spatial`` (the rule has a ``facility_type``)
    Residents should reach a facility of that type on foot within ``threshold_min``
    minutes (at the rule's ``speed_profile``) or within ``threshold_m`` metres (the
    standard's own distance). Optional: ``min_size_m2`` (+ ``size_kind`` building|land),
    ``min_count`` (facilities the community should reach), ``capacity`` (a per-population
    supply target checked with a two-step floating catchment, :mod:`circles.capacity`),
    ``applies_to`` (``all`` or ``new_communities``: a size the standard sets only for new
    communities is reported, never used for a verdict).
``checklist`` (no facility type)
    An item of the standard that cannot be measured from maps (property management,
    governance, utilities …). It appears in the ledger with status ``to_assess``.

How a spatial rule decides (``check``): ``reach`` (default) is the walking threshold above;
``supply`` judges a quantity the standard sets (car spaces per household) from the
``capacity`` of the community's own facilities, with walking minutes as evidence only, and is
``to_assess`` without capacities; ``presence`` asks for one facility in or at the community
(inside its boundary or within the threshold of a resident). ``required`` says what an absent
item is: ``true`` (default) a ``gap``; ``conditional`` (具备条件的, "where conditions allow") or
``as_needed`` (GB 50180-2018 △, 按需配建) that status instead, never a gap.

Only spatial rules are in :attr:`Rulebook.rules` (what the pipeline searches, and what
``types_used``, ``speed_of`` and ``threshold_m`` are about); checklist items are in
:attr:`Rulebook.checklist` and are consumed by :mod:`circles.ledger`.

Every rule carries ``source: {doc, clause}`` and ``verified`` (true only when every number of
the rule was read in a cited source); ``unverified`` names the fields that were not. An
unverified number yields a warning in the ledger, not a hard verdict.

User files
----------
A user file may start from a shipped profile (or another file) and change it::

    extends: complete_community_2020
    profile: my_city                  # optional
    overrides:                        # change fields of existing rules
      kindergarten: {threshold_min: 10, source: {doc: 本市规定, clause: 第3条}, verified: true}
    remove: [park_15min]              # drop rules
    rules:                            # add local rules (new ids)
      - {id: library, facility_type: community_service, threshold_min: 15, ...}

An override that changes a number without saying ``verified`` makes the rule unverified,
and the rule's source then names the user file. Every mistake raises :class:`ConfigError`
naming the file and the rule.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ._config import config_file, read_yaml
from .errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "complete_community_2020"

#: The six categories of the 2020 complete-community standard (完整居住社区建设标准（试行）).
CATEGORIES = {
    "basic_public_service": ("基本公共服务设施", "Basic public services"),
    "convenience_commerce": ("便民商业服务设施", "Convenience commerce"),
    "municipal_infrastructure": ("市政配套基础设施", "Municipal infrastructure"),
    "public_space": ("公共活动空间", "Public activity space"),
    "property_management": ("物业管理全覆盖", "Property management"),
    "governance": ("社区管理机制", "Community governance"),
}
#: Life-circle levels a rule can belong to (GB 50180-2018 levels; the complete community).
LEVELS = {
    "5": ("五分钟生活圈", "5-minute life circle"),
    "10": ("十分钟生活圈", "10-minute life circle"),
    "15": ("十五分钟生活圈", "15-minute life circle"),
    "block": ("居住街坊", "Residential block"),
    "complete_community": ("完整居住社区", "Complete community"),
}
APPLIES_TO = ("all", "new_communities")
SIZE_KINDS = ("building", "land")
CAPACITY_MEASURES = ("capacity", "size_m2")
CAPACITY_DEMANDS = ("residents", "households", "elderly", "children")
#: The residents a rule serves (``serves``): everyone, the over-60s or the under-6s (circles.population).
SERVES = ("all", "elderly", "children")
#: Words for a demand unit in a target ('每100户', '每千名60岁以上老人').
_DEMAND_ZH = {"households": "户", "residents": "人", "elderly": "名60岁以上老人", "children": "名6岁以下儿童"}
#: Where a capacity's supply is counted: within walking reach (2SFCA) or the community's own.
CAPACITY_BASES = ("accessible", "own")
#: How a spatial rule decides its status (see the module docstring).
CHECKS = ("reach", "supply", "presence")
#: What an absent item is: required (a gap), where conditions allow, or as needed (△).
REQUIRED = ("required", "conditional", "as_needed")

#: Fields any rule entry may carry (anything else is a typo and an error); a checklist item has only these.
CHECKLIST_KEYS = {
    "id",
    "kind",
    "name_zh",
    "name_en",
    "item",
    "category",
    "level",
    "requirement_zh",
    "priority",
    "elderly_child",
    "keywords_zh",
    "source",
    "verified",
    "unverified",
    "note",
    "number_sources",
}
#: Fields a spatial rule may carry besides.
SPATIAL_KEYS = CHECKLIST_KEYS | {
    "facility_type",
    "threshold_min",
    "threshold_m",
    "speed_profile",
    "min_size_m2",
    "size_kind",
    "min_count",
    "capacity",
    "applies_to",
    "required",
    "check",
    "recommended_size_m2",
    "serves",
    "serves_source",
    "per_community",
}
CAPACITY_KEYS = {"measure", "demand", "per", "target", "unit_zh", "applies_to", "source", "verified", "note", "basis"}
#: Fields whose change by a user override makes the number "not from the cited source".
NUMERIC_KEYS = (
    "threshold_min",
    "threshold_m",
    "speed_profile",
    "min_size_m2",
    "min_count",
    "capacity",
    "applies_to",
    "size_kind",
    "required",
    "check",
    "recommended_size_m2",
)
FILE_KEYS = {
    "schema_version",
    "profile",
    "name_zh",
    "name_en",
    "description",
    "status",
    "extends",
    "overrides",
    "remove",
    "rules",
    "levels",
    "non_inclusive_levels",
    "notes",
    "facility_types",
    "distance_reading",
}

#: How rules stated in minutes are read as distances (see circles/config/speeds.yaml).
DISTANCE_READINGS = ("life_circle", "speed")


def selector_matches(selector: Mapping[str, str], tags: Mapping[str, Any]) -> bool:
    """True if every key/value of ``selector`` is in ``tags`` ("*" matches any value)."""
    for key, value in selector.items():
        have = tags.get(key)
        if have is None or (isinstance(have, float) and have != have):
            return False
        if value != "*" and str(have) != str(value):
            return False
    return True


@dataclass(frozen=True)
class FacilityType:
    """A kind of facility and how to recognise it in OSM."""

    id: str
    name_zh: str
    name_en: str
    osm_tags: tuple[Mapping[str, str], ...] = ()
    exclude_tags: tuple[Mapping[str, str], ...] = ()
    name_regex_zh: str | None = None
    #: names that are never this type whatever their tags (a 皮肤病医院 tagged amenity=hospital is
    #: not a 社区卫生服务站; a 邮政储蓄银行 is a bank, not a post office)
    exclude_name_regex_zh: str | None = None

    def matches_tags(self, tags: Mapping[str, Any]) -> bool:
        """True if ``tags`` match one selector and no exclusion (by tag or by name).

        Parameters
        ----------
        tags : mapping
            OSM tags of one element.
        """
        if any(selector_matches(sel, tags) for sel in self.exclude_tags):
            return False
        if self.exclude_name_regex_zh and re.search(self.exclude_name_regex_zh, str(tags.get("name", "") or "")):
            return False
        return any(selector_matches(sel, tags) for sel in self.osm_tags)


@dataclass(frozen=True)
class SpeedProfile:
    """A walking speed with its source."""

    id: str
    m_per_min: float
    description: str
    source: str
    verified: bool


@dataclass(frozen=True)
class CapacityTarget:
    """A supply target per population, e.g. 30 m² of service space per 100 households.

    ``target`` may be None: the accessible supply (2SFCA) is then reported without a verdict.
    """

    measure: str  # facility column: "capacity" (places, beds, spaces) or "size_m2"
    demand: str  # "residents", "households", or an age group ("elderly", "children")
    per: float  # target is per this many demand units
    target: float | None
    unit_zh: str = ""
    applies_to: str = "all"
    source: str = ""
    verified: bool = False
    note: str = ""
    basis: str = "accessible"  # "accessible": 2SFCA within the threshold; "own": inside the community

    def describe_zh(self) -> str:
        """The target in words, e.g. '每100户不少于30平方米'."""
        unit = self.unit_zh or ("平方米" if self.measure == "size_m2" else "个")
        who = _DEMAND_ZH.get(self.demand, "人")
        per = "" if self.per == 1 else f"{self.per:g}"
        whose = "社区自有" if self.basis == "own" else "可达"
        if self.target is None:
            return f"按每{per}{who}{whose}{unit}统计（无标准值）"
        return f"每{per}{who}不少于{self.target:g}{unit}"


@dataclass(frozen=True)
class Rule:
    """One requirement of a rulebook.

    A spatial rule (``kind == "spatial"``): residents reach a facility type within a walking
    threshold, optionally of a minimum size, number or capacity. A checklist rule
    (``kind == "checklist"``): an item a person assesses; ``facility_type`` is empty and
    ``threshold_min`` is NaN.
    """

    id: str
    facility_type: str
    name_zh: str
    name_en: str
    threshold_min: float
    speed_profile: str
    priority: int
    source_doc: str
    source_clause: str
    verified: bool
    note: str = ""
    kind: str = "spatial"
    item: str = ""
    category: str = ""
    level: str = ""
    requirement_zh: str = ""
    distance_m: float | None = None
    min_size_m2: float | None = None
    size_kind: str = "building"
    min_count: int = 1
    capacity: CapacityTarget | None = None
    applies_to: str = "all"
    elderly_child: bool = False
    keywords_zh: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    defined_in: str = ""
    required: str = "required"
    check: str = "reach"
    recommended_size_m2: float | None = None
    number_sources: tuple[tuple[str, str], ...] = ()
    #: The residents the rule serves (:data:`SERVES`), and where that reading comes from.
    serves: str = "all"
    serves_source: str = ""
    #: the standard asks one facility per community (items 1–5): one inside the boundary counts
    #: as in the community whatever the distance to its street
    per_community: bool = False

    @property
    def source(self) -> str:
        """Document and clause as one string."""
        return f"{self.source_doc} {self.source_clause}".strip()

    @property
    def provenance(self) -> dict[str, str]:
        """Where each number of the rule comes from (field -> source, or "no source found")."""
        return dict(self.number_sources)

    @property
    def stated_in_metres(self) -> bool:
        """True when the rule states its threshold as a distance (``threshold_m``)."""
        return self.distance_m is not None

    @property
    def is_spatial(self) -> bool:
        return self.kind == "spatial"

    @property
    def size_applies(self) -> bool:
        """True when ``min_size_m2`` is a verdict (not only information for new communities)."""
        return self.min_size_m2 is not None and self.applies_to == "all"


@dataclass
class Rulebook:
    """A rulebook profile with the facility types and speed profiles it refers to.

    Attributes
    ----------
    rules : list of Rule
        Spatial rules only (each with a facility type): what the pipeline searches.
    checklist : list of Rule
        Non-spatial items (status ``to_assess`` in the ledger).
    extends : list of str
        The chain of files this rulebook was built from, base first.
    changes : list of str
        Local changes made by user files (overrides, removals, additions), for the ledger.
    """

    profile: str
    name_zh: str
    name_en: str
    rules: list[Rule]
    facility_types: dict[str, FacilityType]
    speeds: dict[str, SpeedProfile]
    path: str = ""
    speed_override: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    checklist: list[Rule] = field(default_factory=list)
    extends: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    levels: dict[str, Any] = field(default_factory=dict)
    #: ``life_circle``: minutes read as the GB 50180-2018 life-circle distances
    #: (``life_circle_m``: minutes -> metres); ``speed``: minutes × walking speed.
    distance_reading: str = "speed"
    life_circle_m: dict[float, float] = field(default_factory=dict)
    life_circle_source: str = ""

    def speed_of(self, rule: Rule) -> float:
        """Walking speed (m/min) used for ``rule``.

        Under the life-circle reading a rule of 5/10/15 minutes (or of 300/500/1,000 m) walks at
        the speed that makes its minutes and metres the same number (10 min = 500 m: 50 m/min), so
        that what is checked, printed and mapped agree; other rules use their profile's speed.
        """
        if self.speed_override is not None:
            return float(self.speed_override)
        if self.distance_reading == "life_circle":
            level = self.life_circle_minutes(rule)
            if level is not None:
                return self.life_circle_m[level] / level
        return self.speeds[rule.speed_profile].m_per_min

    def life_circle_minutes(self, rule: Rule) -> float | None:
        """The life-circle level (minutes) a rule is read at, or None (not a level's number)."""
        if rule.distance_m is None:
            return float(rule.threshold_min) if float(rule.threshold_min) in self.life_circle_m else None
        for mins, metres in self.life_circle_m.items():
            if abs(metres - float(rule.distance_m)) < 1e-9:
                return mins
        return None

    def threshold_m(self, rule: Rule) -> float:
        """The rule's threshold as a walking distance in metres.

        A rule given in metres (``threshold_m`` in the file) keeps its distance whatever the
        speed; a rule given in minutes is minutes × speed.
        """
        if rule.distance_m is not None:
            return float(rule.distance_m)
        level = self.life_circle_minutes(rule) if self.speed_override is None else None
        if self.distance_reading == "life_circle" and level is not None:
            return self.life_circle_m[level]
        return rule.threshold_min * self.speed_of(rule)

    def reading_of(self, rule: Rule) -> str:
        """How the rule's threshold was read, as a code: ``metres`` (stated in metres),
        ``life_circle`` (minutes read as the GB 50180-2018 distance) or ``speed``."""
        if rule.distance_m is not None:
            return "metres"
        if self.speed_override is None and self.distance_reading == "life_circle" and self.life_circle_minutes(rule):
            return "life_circle"
        return "speed"

    def threshold_minutes(self, rule: Rule) -> float:
        """The rule's threshold in minutes at the speed in use."""
        if rule.distance_m is not None:
            return float(rule.distance_m) / self.speed_of(rule)
        return rule.threshold_min

    def types_used(self) -> list[str]:
        """Facility types the spatial rules refer to, in rule order, without repeats."""
        seen: list[str] = []
        for r in self.rules:
            if r.facility_type and r.facility_type not in seen:
                seen.append(r.facility_type)
        return seen

    def all_items(self) -> list[Rule]:
        """Spatial rules and checklist items, in file order (the ledger's order)."""
        order = self.extra.get("order")
        items = {r.id: r for r in self.rules + self.checklist}
        if order:
            return [items[i] for i in order if i in items]
        return self.rules + self.checklist

    def rule(self, rule_id: str) -> Rule:
        """The rule (spatial or checklist) with id ``rule_id``."""
        for r in self.rules + self.checklist:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def _require(entry: Mapping[str, Any], key: str, label: str, what: str, kind: type | tuple = str):
    if key not in entry or entry[key] is None:
        raise ConfigError(f"{label}: {what}: missing field '{key}'")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{label}: {what}: field '{key}' should be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _parse_facility_types(
    entries: Any, label: str, known: Mapping[str, FacilityType] | None = None, key: str = "facility_types"
) -> dict[str, FacilityType]:
    """Validate a list of facility-type entries; ids must be new (not in ``known``)."""
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{label}: expected a non-empty list '{key}'")
    known = known or {}
    out: dict[str, FacilityType] = {}
    for i, e in enumerate(entries):
        what = f"facility type #{i + 1}"
        if not isinstance(e, dict):
            raise ConfigError(f"{label}: {what}: expected a mapping")
        fid = _require(e, "id", label, what)
        what = f"facility type '{fid}'"
        if fid in out or fid in known:
            raise ConfigError(
                f"{label}: {what}: duplicate id (already defined" + ("" if fid in out else " by circles/config") + ")"
            )
        sels = []
        for k in ("osm_tags", "exclude_tags"):
            raw = e.get(k) or []
            if not isinstance(raw, list) or not all(isinstance(s, dict) and s for s in raw):
                raise ConfigError(f"{label}: {what}: '{k}' should be a list of non-empty mappings")
            sels.append(tuple({str(a): str(b) for a, b in s.items()} for s in raw))
        for key in ("name_regex_zh", "exclude_name_regex_zh"):
            if e.get(key) is not None:
                try:
                    re.compile(e[key])
                except re.error as exc:
                    raise ConfigError(f"{label}: {what}: '{key}' is not a valid regular expression: {exc}") from None
        out[fid] = FacilityType(
            id=fid,
            name_zh=_require(e, "name_zh", label, what),
            name_en=_require(e, "name_en", label, what),
            osm_tags=sels[0],
            exclude_tags=sels[1],
            name_regex_zh=e.get("name_regex_zh"),
            exclude_name_regex_zh=e.get("exclude_name_regex_zh"),
        )
    return out


def load_facility_types(path: str | Path | None = None) -> dict[str, FacilityType]:
    """Load facility types from ``path`` (default: the packaged file).

    Returns
    -------
    dict
        Facility types by id, in file order.
    """
    data, label = config_file("facility_types.yaml", path)
    return _parse_facility_types(data.get("facility_types"), label)


def load_extra_facility_types(known: Mapping[str, FacilityType] | None = None) -> dict[str, FacilityType]:
    """The facility types the shipped rulebooks add (``circles/config/facility_types_extra.yaml``:
    waste points, public toilets, schools, elderly homes), minus those ``known`` already has."""
    data, label = config_file("facility_types_extra.yaml")
    known = dict(known or {})
    entries = [e for e in (data.get("facility_types") or []) if not (isinstance(e, dict) and e.get("id") in known)]
    return _parse_facility_types(entries, label) if entries else {}


def load_speeds(path: str | Path | None = None) -> tuple[dict[str, SpeedProfile], str]:
    """Load walking-speed profiles; returns (profiles by id, default profile id)."""
    data, label = config_file("speeds.yaml", path)
    out: dict[str, SpeedProfile] = {}
    for i, e in enumerate(data.get("profiles") or []):
        what = f"speed profile #{i + 1}"
        pid = _require(e, "id", label, what)
        speed = _require(e, "m_per_min", label, f"speed profile '{pid}'", (int, float))
        if speed <= 0:
            raise ConfigError(f"{label}: speed profile '{pid}': 'm_per_min' must be positive, got {speed}")
        out[pid] = SpeedProfile(
            pid, float(speed), str(e.get("description", "")), str(e.get("source", "")), bool(e.get("verified", False))
        )
    default = data.get("default")
    if default not in out:
        raise ConfigError(f"{label}: 'default' should name one of the profiles {sorted(out)}, got {default!r}")
    return out, default


def load_life_circle(path: str | Path | None = None) -> dict[str, Any]:
    """The life-circle reading of minutes (``life_circle`` in speeds.yaml): default reading,
    metres by minutes, source."""
    data, label = config_file("speeds.yaml", path)
    lc = data.get("life_circle") or {}
    table = lc.get("metres_by_minutes") or {}
    if not isinstance(table, dict) or not all(
        isinstance(v, (int, float)) and v > 0 and isinstance(k, (int, float)) and k > 0 for k, v in table.items()
    ):
        raise ConfigError(f"{label}: life_circle.metres_by_minutes should map minutes to positive metres")
    reading = str(lc.get("default_reading", "speed"))
    if reading not in DISTANCE_READINGS:
        raise ConfigError(f"{label}: life_circle.default_reading should be one of {', '.join(DISTANCE_READINGS)}")
    return {
        "default_reading": reading,
        "metres_by_minutes": {float(k): float(v) for k, v in table.items()},
        "source": str(lc.get("source", "") or "no source found"),
        "verified": bool(lc.get("verified", False)),
    }


def available_profiles() -> list[str]:
    """Names of the rulebook profiles shipped with circles."""
    return sorted(p.name[:-5] for p in resources.files("circles.rules").iterdir() if p.name.endswith(".yaml"))


# ----------------------------------------------------------------------------- loading


def _number(
    e: Mapping[str, Any],
    key: str,
    label: str,
    what: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    positive: bool = True,
) -> float | int | None:
    v = e.get(key)
    if v is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(v, bool) or not isinstance(v, kinds) or (isinstance(v, float) and math.isnan(v)):
        want = "a whole number" if integer else "a number"
        raise ConfigError(f"{label}: {what}: '{key}' should be {want}, got {v!r}")
    if positive and not v > 0:
        raise ConfigError(f"{label}: {what}: '{key}' should be positive, got {v}")
    if lo is not None and v < lo or hi is not None and v > hi:
        raise ConfigError(f"{label}: {what}: '{key}' should be between {lo:g} and {hi:g}, got {v}")
    return v


def _source(e: Mapping[str, Any], label: str, what: str, key: str = "source") -> tuple[str, str]:
    src = e.get(key)
    if not isinstance(src, dict) or not src.get("doc"):
        raise ConfigError(f"{label}: {what}: '{key}' should be a mapping with at least 'doc' (and 'clause')")
    return str(src.get("doc")), str(src.get("clause", "") or "")


def _str_list(e: Mapping[str, Any], key: str, label: str, what: str) -> tuple[str, ...]:
    v = e.get(key)
    if v is None:
        return ()
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, (str, int)) and str(x).strip() for x in v):
        raise ConfigError(f"{label}: {what}: '{key}' should be a list of words, got {v!r}")
    return tuple(str(x) for x in v)


def _number_sources(e: Mapping[str, Any], label: str, what: str) -> tuple[tuple[str, str], ...]:
    """``number_sources``: field -> where its number comes from ("no source found" when recalled)."""
    raw = e.get("number_sources")
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
        raise ConfigError(f"{label}: {what}: 'number_sources' should map a field to the text of its source")
    return tuple((str(k), str(v)) for k, v in raw.items())


def _capacity(raw: Any, label: str, what: str) -> CapacityTarget | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: {what}: 'capacity' should be a mapping (measure, demand, per, target)")
    bad = sorted(set(raw) - CAPACITY_KEYS)
    if bad:
        raise ConfigError(
            f"{label}: {what}: unknown field(s) in 'capacity': {', '.join(bad)} "
            f"(known: {', '.join(sorted(CAPACITY_KEYS))})"
        )
    w = f"{what}: capacity"
    measure = _choice(raw, "measure", CAPACITY_MEASURES, "capacity", label, w)
    demand = _choice(raw, "demand", CAPACITY_DEMANDS, "residents", label, w)
    per = _number(raw, "per", label, w)
    if per is None:
        raise ConfigError(f"{label}: {w}: missing field 'per' (the target is per this many {demand})")
    target = _number(raw, "target", label, w)
    applies = _choice(raw, "applies_to", APPLIES_TO, "all", label, w)
    src = ""
    if raw.get("source") is not None:
        doc, clause = _source(raw, label, w)
        src = f"{doc} {clause}".strip()
    if target is not None and "verified" not in raw:
        raise ConfigError(f"{label}: {w}: 'verified' should be true or false (a target needs its status)")
    ver = raw.get("verified", False)
    if not isinstance(ver, bool):
        raise ConfigError(f"{label}: {w}: 'verified' should be true or false, got {ver!r}")
    basis = _choice(raw, "basis", CAPACITY_BASES, "accessible", label, w)
    return CapacityTarget(
        basis=basis,
        measure=measure,
        demand=demand,
        per=float(per),
        target=None if target is None else float(target),
        unit_zh=str(raw.get("unit_zh", "")),
        applies_to=applies,
        source=src,
        verified=ver,
        note=str(raw.get("note", "")),
    )


def _choice(e: Mapping[str, Any], key: str, choices: Any, default: Any, label: str, what: str) -> Any:
    """The value of ``key`` (``default`` when absent), which must be one of ``choices``.

    Parameters
    ----------
    e : mapping
        The entry.
    key : str
        The field.
    choices : collection
        The allowed values.
    default : object
        The value when the field is absent.
    label, what : str
        The file and the entry, for the error.

    Raises
    ------
    ConfigError
        When the value is not one of ``choices``.
    """
    value = e.get(key, default)
    if value not in choices:
        raise ConfigError(f"{label}: {what}: '{key}' should be one of {', '.join(choices)}, got {value!r}")
    return value


def _flag(e: Mapping[str, Any], key: str, label: str, what: str) -> bool:
    """The true/false field ``key`` (False when absent).

    Raises
    ------
    ConfigError
        When the value is not a boolean.
    """
    value = e.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{label}: {what}: '{key}' should be true or false, got {value!r}")
    return value


def _rule_kind(e: Mapping[str, Any], label: str, what: str) -> str:
    """The rule's kind (``spatial`` or ``checklist``), after checking its fields are known.

    Raises
    ------
    ConfigError
        When the kind cannot be told or a field is unknown for that kind.
    """
    kind = e.get("kind") or ("spatial" if e.get("facility_type") is not None else None)
    if kind not in ("spatial", "checklist"):
        raise ConfigError(
            f"{label}: {what}: give a 'facility_type' (a spatial rule) or 'kind: checklist' (an item a person assesses)"
        )
    allowed = SPATIAL_KEYS if kind == "spatial" else CHECKLIST_KEYS
    bad = sorted(k for k in e if k not in allowed and not k.startswith("__"))
    if bad:
        raise ConfigError(
            f"{label}: {what}: unknown field(s) {', '.join(bad)} for a {kind} rule "
            f"(known: {', '.join(sorted(allowed))})"
        )
    return kind


def _common_fields(e: Mapping[str, Any], rid: str, label: str, what: str) -> dict[str, Any]:
    """The fields every rule has (spatial or checklist), validated: :class:`Rule` keywords.

    Parameters
    ----------
    e : mapping
        The rule entry.
    rid : str
        Its id.
    label, what : str
        The file that defines the rule and the rule, for errors.

    Raises
    ------
    ConfigError
        On a missing source or status, or an unknown category or level.
    """
    doc, clause = _source(e, label, what)
    if "verified" not in e or not isinstance(e["verified"], bool):
        raise ConfigError(f"{label}: {what}: 'verified' should be true or false")
    category = e.get("category", "")
    if category and category not in CATEGORIES:
        raise ConfigError(f"{label}: {what}: unknown category '{category}' (known: {', '.join(CATEGORIES)})")
    level = str(e.get("level", "") or "")
    if level and level not in LEVELS:
        raise ConfigError(f"{label}: {what}: unknown level '{level}' (known: {', '.join(LEVELS)})")
    prio = _number(e, "priority", label, what, integer=True)
    ec = _flag(e, "elderly_child", label, what)
    return dict(
        id=rid,
        name_zh=str(e.get("name_zh", "")),
        name_en=str(e.get("name_en", "")),
        priority=int(prio if prio is not None else 9),
        source_doc=doc,
        source_clause=clause,
        verified=e["verified"],
        note=str(e.get("note", "") or ""),
        item=str(e.get("item", "") or ""),
        category=category,
        level=level,
        requirement_zh=str(e.get("requirement_zh", "") or ""),
        elderly_child=ec,
        keywords_zh=_str_list(e, "keywords_zh", label, what),
        unverified=_str_list(e, "unverified", label, what),
        defined_in=label,
        number_sources=_number_sources(e, label, what),
    )


def _threshold(e: Mapping[str, Any], label: str, what: str, speed: float) -> tuple[float | None, float]:
    """The rule's threshold: (distance in metres or None, minutes at ``speed``).

    Exactly one of ``threshold_min`` (walking minutes) and ``threshold_m`` (walking metres)
    is given; a distance is read as minutes at ``speed`` (m/min).

    Raises
    ------
    ConfigError
        When both or neither are given, or the value is out of range.
    """
    has_min, has_m = e.get("threshold_min") is not None, e.get("threshold_m") is not None
    if has_min == has_m:
        raise ConfigError(
            f"{label}: {what}: give exactly one of 'threshold_min' (walking minutes) or "
            f"'threshold_m' (walking metres)" + ("; got both" if has_min else "; got neither")
        )
    if has_min:
        thr = _number(e, "threshold_min", label, what)
        if thr is None or not 0 < thr <= 120:
            raise ConfigError(f"{label}: {what}: 'threshold_min' should be between 0 and 120 minutes, got {thr}")
        return None, float(thr)
    dist_given = _number(e, "threshold_m", label, what, hi=10000)
    dist = float(dist_given) if dist_given is not None else 0.0
    return dist, dist / speed


def _verdict_fields(e: Mapping[str, Any], label: str, what: str) -> dict[str, Any]:
    """How a spatial rule decides: required, check, capacity and whom it serves (:class:`Rule` keywords).

    Raises
    ------
    ConfigError
        On a value outside its choices or a supply check without a capacity.
    """
    req = e.get("required", True)
    req = "required" if req is True else req
    if req not in REQUIRED:
        raise ConfigError(
            f"{label}: {what}: 'required' should be true, 'conditional' (具备条件的) or 'as_needed' (△ 按需配建), "
            f"got {req!r}"
        )
    check = _choice(e, "check", CHECKS, "reach", label, what)
    capacity = _capacity(e.get("capacity"), label, what)
    if check == "supply" and capacity is None:
        raise ConfigError(f"{label}: {what}: 'check: supply' needs a 'capacity' (the quantity the standard sets)")
    rec = _number(e, "recommended_size_m2", label, what)
    serves = _choice(e, "serves", SERVES, "all", label, what)
    serves_source = str(e.get("serves_source", "") or "")
    if serves != "all" and not serves_source:
        raise ConfigError(f"{label}: {what}: 'serves: {serves}' needs 'serves_source' (where that reading comes from)")
    return dict(
        required=req,
        check=check,
        recommended_size_m2=None if rec is None else float(rec),
        capacity=capacity,
        serves=serves,
        serves_source=serves_source,
        per_community=_flag(e, "per_community", label, what),
    )


def _spatial_fields(
    e: Mapping[str, Any],
    label: str,
    what: str,
    ftypes: Mapping[str, FacilityType],
    speeds: Mapping[str, SpeedProfile],
    speed_override: float | None,
) -> dict[str, Any]:
    """The fields of a spatial rule beyond the common ones, validated: :class:`Rule` keywords.

    ``e`` is the rule entry, ``what`` names it; the other parameters are those of :func:`_parse_rule`.

    Raises
    ------
    ConfigError
        On an unknown facility type or speed profile, or a bad threshold, size or choice.
    """
    ftype = _require(e, "facility_type", label, what)
    if ftype not in ftypes:
        raise ConfigError(f"{label}: {what}: unknown facility_type '{ftype}' (known: {', '.join(ftypes)})")
    prof = e.get("speed_profile", "adult")
    if prof not in speeds:
        raise ConfigError(f"{label}: {what}: unknown speed_profile '{prof}' (known: {', '.join(speeds)})")
    speed = float(speed_override) if speed_override else speeds[prof].m_per_min
    dist, thr_min = _threshold(e, label, what, speed)
    size = _number(e, "min_size_m2", label, what)
    size_kind = _choice(e, "size_kind", SIZE_KINDS, "building", label, what)
    count = _number(e, "min_count", label, what, integer=True)
    applies = _choice(e, "applies_to", APPLIES_TO, "all", label, what)
    return dict(
        facility_type=ftype,
        threshold_min=thr_min,
        speed_profile=prof,
        distance_m=dist,
        min_size_m2=None if size is None else float(size),
        size_kind=size_kind,
        min_count=int(count or 1),
        applies_to=applies,
        **_verdict_fields(e, label, what),
    )


def _parse_rule(
    e: Any,
    i: int,
    label: str,
    ftypes: Mapping[str, FacilityType],
    speeds: Mapping[str, SpeedProfile],
    speed_override: float | None,
) -> Rule:
    """Validate one rule entry and build the :class:`Rule` (every error names file and rule).

    Parameters
    ----------
    e : object
        The rule entry (a mapping; ``__file__`` names the file that defined or last changed it).
    i : int
        Its index in the rulebook, for an entry without an id.
    label : str
        The rulebook, for errors.
    ftypes, speeds : mapping
        The known facility types and speed profiles.
    speed_override : float, optional
        The walking speed (m/min) for every rule, instead of the profile's.

    Raises
    ------
    ConfigError
        Naming the file and the rule, on any mistake.
    """
    if not isinstance(e, dict):
        raise ConfigError(f"{label}: rule #{i + 1}: expected a mapping")
    rid = _require(e, "id", label, f"rule #{i + 1}")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", rid):
        raise ConfigError(f"{label}: rule '{rid}': 'id' should use letters, digits, '_', '-' or '.' only")
    what = f"rule '{rid}'"
    label = e.get("__file__", label)
    kind = _rule_kind(e, label, what)
    common = _common_fields(e, rid, label, what)
    if kind == "checklist":
        if not common["name_zh"]:
            raise ConfigError(f"{label}: {what}: missing field 'name_zh' (a checklist item needs a name)")
        return Rule(facility_type="", threshold_min=float("nan"), speed_profile="", kind="checklist", **common)
    spatial = _spatial_fields(e, label, what, ftypes, speeds, speed_override)
    ft = ftypes[spatial["facility_type"]]
    common["name_zh"] = common["name_zh"] or ft.name_zh
    common["name_en"] = common["name_en"] or ft.name_en
    return Rule(kind="spatial", **spatial, **common)


def _open_rulebook(ref: str | Path, base_dir: Path | None) -> tuple[dict, str, Path | None]:
    """Read a rulebook named by ``ref``: a shipped profile, or a file (relative to ``base_dir``).

    Returns
    -------
    data : dict
        The file's top-level mapping.
    label : str
        The file, for messages.
    here : Path or None
        The folder the file's own ``extends`` is read from (None for a shipped profile).

    Raises
    ------
    ConfigError
        When ``ref`` is neither a shipped profile nor an existing file.
    """
    text = str(ref)
    if text in available_profiles() and not (base_dir is not None and (base_dir / text).is_file()):
        data, label = read_yaml(None, "circles.rules", f"{text}.yaml")
        return data, label, None
    p = Path(text)
    if not p.is_absolute() and base_dir is not None and (base_dir / p).exists():
        p = base_dir / p
    if not p.exists():
        raise ConfigError(
            f"{text}: no such rulebook file, and not a shipped profile (shipped: {', '.join(available_profiles())})"
        )
    data, label = read_yaml(p)
    return data, label, p.resolve().parent


def _apply_removes(
    data: Mapping[str, Any], label: str, parent: Any, by_id: dict[str, dict], changes: list[str]
) -> None:
    """Drop the rules ``data`` lists under ``remove`` from ``by_id``, noting each in ``changes``.

    Raises
    ------
    ConfigError
        When ``remove`` is not a list or names a rule the parent does not have.
    """
    removes = data.get("remove") or []
    if not isinstance(removes, list):
        raise ConfigError(f"{label}: 'remove' should be a list of rule ids")
    for rid in removes:
        if rid not in by_id:
            raise ConfigError(f"{label}: remove: rule '{rid}' is not in {parent} (known: {', '.join(by_id)})")
        del by_id[rid]
        changes.append(f"{label}: removed rule '{rid}'")


def _patched(old: Mapping[str, Any], patch: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Rule entry ``old`` changed by ``patch`` (an override in ``label``).

    A new threshold replaces the other kind of threshold; a changed number marks the rule
    unverified and its source "changed locally", unless the patch states them itself.
    """
    new = dict(old)
    new.update(patch)
    if "threshold_min" in patch and "threshold_m" not in patch:
        new.pop("threshold_m", None)
    if "threshold_m" in patch and "threshold_min" not in patch:
        new.pop("threshold_min", None)
    touched = [k for k in NUMERIC_KEYS if k in patch and patch[k] != old.get(k)]
    if touched and "verified" not in patch:
        new["verified"] = False
        new["unverified"] = sorted(set(old.get("unverified") or []) | set(touched))
    if touched and "number_sources" not in patch:
        ns = dict(old.get("number_sources") or {})
        ns.update({k: f"changed locally in {label}" for k in touched})
        new["number_sources"] = ns
    if touched and "source" not in patch:
        src = dict(old.get("source") or {})
        src["clause"] = (f"{src.get('clause', '')}; changed locally in {label} ({', '.join(touched)})").lstrip("; ")
        new["source"] = src
    new["__file__"] = label
    return new


def _apply_overrides(
    data: Mapping[str, Any], label: str, parent: Any, by_id: dict[str, dict], entries: list[dict], changes: list[str]
) -> list[dict]:
    """``entries`` with the rules ``data`` changes under ``overrides`` patched (``by_id`` too).

    Raises
    ------
    ConfigError
        When an override is not a mapping, names a rule the parent does not have, or changes an id.
    """
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{label}: 'overrides' should be a mapping: rule id -> fields to change")
    for rid, patch in overrides.items():
        if rid not in by_id:
            raise ConfigError(
                f"{label}: overrides: rule '{rid}' is not in {parent} "
                f"(known: {', '.join(by_id)}); add new rules under 'rules'"
            )
        if not isinstance(patch, dict) or not patch:
            raise ConfigError(f"{label}: overrides: rule '{rid}': expected a mapping of fields to change")
        if "id" in patch and patch["id"] != rid:
            raise ConfigError(f"{label}: overrides: rule '{rid}': the id cannot be changed")
        new = _patched(by_id[rid], patch, label)
        by_id[rid] = new
        entries = [new if e["id"] == rid else e for e in entries]
        changes.append(f"{label}: rule '{rid}' changed ({', '.join(sorted(patch))})")
    return entries


def _add_own_rules(
    data: Mapping[str, Any], label: str, parent: Any, by_id: dict[str, dict], entries: list[dict], changes: list[str]
) -> None:
    """Append the file's own ``rules`` to ``entries`` (and ``by_id``); ids must be new.

    Raises
    ------
    ConfigError
        When ``rules`` is not a list of mappings with new ids.
    """
    own = data.get("rules")
    if own is None:
        own = []
    if not isinstance(own, list):
        raise ConfigError(f"{label}: 'rules' should be a list of rules")
    for i, e in enumerate(own):
        if not isinstance(e, dict):
            raise ConfigError(f"{label}: rule #{i + 1}: expected a mapping")
        rid = _require(e, "id", label, f"rule #{i + 1}")
        if rid in by_id:
            where = by_id[rid].get("__file__", label)
            raise ConfigError(
                f"{label}: rule '{rid}': duplicate rule id (already in {where}"
                + ("; use 'overrides' to change it)" if where != label else ")")
            )
        e = dict(e)
        e["__file__"] = label
        by_id[rid] = e
        entries.append(e)
        if parent is not None:
            changes.append(f"{label}: added rule '{rid}'")


def _resolve(
    ref: str | Path, seen: list[str], base_dir: Path | None = None
) -> tuple[list[dict], dict, str, list[str], list[str]]:
    """Raw rule entries of ``ref`` after its ``extends`` chain and its own changes.

    Returns (entries, top-level data, label, chain of labels base first, changes).
    Each entry carries ``__file__``: the file that defined or last changed it. The top-level
    data's ``__types__`` lists (label, facility_types entries) of every file of the chain.
    """
    data, label, here = _open_rulebook(ref, base_dir)
    if label in seen:
        raise ConfigError(f"{label}: 'extends' loops back to a file already in the chain ({' -> '.join(seen)})")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise ConfigError(
            f"{label}: unknown top-level field(s) {', '.join(unknown)} (known: {', '.join(sorted(FILE_KEYS))})"
        )
    seen = seen + [label]
    changes: list[str] = []
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str) or not parent.strip():
            raise ConfigError(f"{label}: 'extends' should name a shipped profile or a rulebook file, got {parent!r}")
        entries, pdata, _, chain, changes = _resolve(parent, seen, here)
        merged_top = {k: v for k, v in pdata.items() if k not in ("rules", "overrides", "remove", "extends")}
    else:
        for key in ("overrides", "remove"):
            if data.get(key):
                raise ConfigError(f"{label}: '{key}' needs 'extends' (the profile or file it changes)")
        entries, chain, merged_top = [], [], {"__types__": []}
    types_chain = list(merged_top.get("__types__", []))
    if data.get("facility_types") is not None:
        types_chain.append((label, data["facility_types"]))
    chain = chain + [label]
    by_id = {e["id"]: e for e in entries}
    _apply_removes(data, label, parent, by_id, changes)
    entries = [e for e in entries if e["id"] in by_id]
    entries = _apply_overrides(data, label, parent, by_id, entries, changes)
    _add_own_rules(data, label, parent, by_id, entries, changes)
    merged_top.update(
        {k: v for k, v in data.items() if k not in ("rules", "overrides", "remove", "extends", "facility_types")}
    )
    merged_top["__types__"] = types_chain
    return entries, merged_top, label, chain, changes


def _parse_rules(
    entries: list[dict],
    label: str,
    ftypes: Mapping[str, FacilityType],
    speeds: Mapping[str, SpeedProfile],
    speed_override: float | None,
) -> tuple[list[Rule], list[Rule]]:
    """Every entry parsed (:func:`_parse_rule`): the spatial rules and the checklist items.

    Raises
    ------
    ConfigError
        On a bad entry, or when no rule is spatial (nothing to measure).
    """
    spatial: list[Rule] = []
    checklist: list[Rule] = []
    for i, e in enumerate(entries):
        r = _parse_rule(e, i, label, ftypes, speeds, speed_override)
        (spatial if r.is_spatial else checklist).append(r)
    if not spatial:
        raise ConfigError(f"{label}: no spatial rule (a rule with a facility_type): nothing to measure")
    for r in spatial + checklist:
        if not r.verified and not r.unverified:
            log.debug("%s: rule '%s' is unverified without naming the field", r.defined_in, r.id)
    return spatial, checklist


def _distance_reading(asked: str | None, top: Mapping[str, Any], lc: Mapping[str, Any], label: str) -> str:
    """The distance reading: the one ``asked``, else the rulebook's, else speeds.yaml's default.

    Raises
    ------
    ConfigError
        When it is not one of :data:`DISTANCE_READINGS`.
    """
    reading = asked or str(top.get("distance_reading") or lc["default_reading"])
    if reading not in DISTANCE_READINGS:
        raise ConfigError(
            f"{label}: 'distance_reading' should be one of {', '.join(DISTANCE_READINGS)}, got {reading!r}"
        )
    return reading


def load_rulebook(
    profile_or_path: str | Path = DEFAULT_PROFILE,
    *,
    facility_types: Mapping[str, FacilityType] | None = None,
    speeds: Mapping[str, SpeedProfile] | None = None,
    speed_override: float | None = None,
    distance_reading: str | None = None,
) -> Rulebook:
    """Load a rulebook profile by name (shipped) or from a YAML file path.

    Parameters
    ----------
    profile_or_path : str or Path
        A shipped profile name (see :func:`available_profiles`) or a path to a YAML file,
        which may ``extends`` a profile and override, remove or add rules.
    facility_types, speeds : mapping, optional
        Defaults to the packaged files.
    speed_override : float, optional
        Walking speed in m/min used for every rule instead of its profile's speed (implies the
        ``speed`` distance reading).
    distance_reading : {"life_circle", "speed"}, optional
        How minutes are read as distances; default: the file's ``distance_reading``, else
        ``default_reading`` of circles/config/speeds.yaml.

    Raises
    ------
    ConfigError
        Naming the file and the rule, on any mistake.
    """
    ftypes = dict(facility_types) if facility_types is not None else load_facility_types()
    ftypes.update(load_extra_facility_types(ftypes))
    if speeds is None:
        speeds, _ = load_speeds()
    speeds = dict(speeds)
    if speed_override is not None and not speed_override > 0:
        raise ConfigError(f"walking speed must be positive, got {speed_override}")
    entries, top, label, chain, changes = _resolve(profile_or_path, [])
    for tlabel, tentries in top.pop("__types__", []):
        ftypes.update(_parse_facility_types(tentries, tlabel, ftypes))
    if not entries:
        raise ConfigError(f"{label}: expected a non-empty list 'rules'")
    spatial, checklist = _parse_rules(entries, label, ftypes, speeds, speed_override)
    levels = top.get("levels") or {}
    if not isinstance(levels, dict):
        raise ConfigError(f"{label}: 'levels' should be a mapping level -> description")
    lc = load_life_circle()
    reading = _distance_reading(distance_reading, top, lc, label)
    default_name = Path(str(profile_or_path)).stem
    return Rulebook(
        profile=str(top.get("profile", default_name)),
        name_zh=str(top.get("name_zh", "")),
        name_en=str(top.get("name_en", "")),
        rules=spatial,
        facility_types=ftypes,
        speeds=speeds,
        path=label,
        speed_override=speed_override,
        extra={
            "order": [e["id"] for e in entries],
            "non_inclusive_levels": bool(top.get("non_inclusive_levels", False)),
            "description": str(top.get("description", "") or ""),
        },
        checklist=checklist,
        extends=chain,
        changes=changes,
        levels=levels,
        distance_reading=reading,
        life_circle_m=lc["metres_by_minutes"],
        life_circle_source=lc["source"],
    )
