"""Configuration as data: facility types, walking speeds and rulebooks.

Every number circles uses to judge a community lives in a YAML file with its source:
``circles/config/facility_types.yaml`` (what a facility type is and how OSM tags it),
``circles/config/speeds.yaml`` (walking-speed profiles) and ``circles/rules/*.yaml``
(one rulebook profile per file). Users can pass their own files instead.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError
from .osm import selector_matches

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "complete_community_2020"


@dataclass(frozen=True)
class FacilityType:
    """A kind of facility and how to recognise it in OSM."""

    id: str
    name_zh: str
    name_en: str
    osm_tags: tuple[Mapping[str, str], ...] = ()
    exclude_tags: tuple[Mapping[str, str], ...] = ()
    name_regex_zh: str | None = None

    def matches_tags(self, tags: Mapping[str, Any]) -> bool:
        """True if ``tags`` match one selector and no exclusion.

        Parameters
        ----------
        tags : mapping
            OSM tags of one element.
        """
        if any(selector_matches(sel, tags) for sel in self.exclude_tags):
            return False
        if any(selector_matches(sel, tags) for sel in self.osm_tags):
            return True
        return False


@dataclass(frozen=True)
class SpeedProfile:
    """A walking speed with its source."""

    id: str
    m_per_min: float
    description: str
    source: str
    verified: bool


@dataclass(frozen=True)
class Rule:
    """One requirement: residents reach a facility type within a walking threshold."""

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

    @property
    def source(self) -> str:
        """Document and clause as one string."""
        return f"{self.source_doc} {self.source_clause}".strip()


@dataclass
class Rulebook:
    """A rulebook profile with the facility types and speed profiles it refers to."""

    profile: str
    name_zh: str
    name_en: str
    rules: list[Rule]
    facility_types: dict[str, FacilityType]
    speeds: dict[str, SpeedProfile]
    path: str = ""
    speed_override: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def speed_of(self, rule: Rule) -> float:
        """Walking speed (m/min) used for ``rule``."""
        if self.speed_override is not None:
            return float(self.speed_override)
        return self.speeds[rule.speed_profile].m_per_min

    def threshold_m(self, rule: Rule) -> float:
        """The rule's threshold as a walking distance in metres."""
        return rule.threshold_min * self.speed_of(rule)

    def types_used(self) -> list[str]:
        """Facility types the rules refer to, in rule order, without repeats."""
        seen: list[str] = []
        for r in self.rules:
            if r.facility_type not in seen:
                seen.append(r.facility_type)
        return seen


def _read_yaml(path: Path | str, package: str | None = None, name: str | None = None) -> tuple[dict, str]:
    if package is not None:
        ref = resources.files(package).joinpath(name)
        label = f"{package.replace('.', '/')}/{name}"
        text = ref.read_text(encoding="utf-8")
    else:
        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{label}: file not found") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{label}: not UTF-8 text ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping at the top level")
    return data, label


def _require(entry: Mapping[str, Any], key: str, label: str, what: str, kind: type | tuple = str):
    if key not in entry or entry[key] is None:
        raise ConfigError(f"{label}: {what}: missing field '{key}'")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{label}: {what}: field '{key}' should be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def load_facility_types(path: str | Path | None = None) -> dict[str, FacilityType]:
    """Load facility types from ``path`` (default: the packaged file).

    Returns
    -------
    dict
        Facility types by id, in file order.
    """
    data, label = (_read_yaml(None, "circles.config", "facility_types.yaml") if path is None
                   else _read_yaml(path))
    entries = data.get("facility_types")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{label}: expected a non-empty list 'facility_types'")
    out: dict[str, FacilityType] = {}
    for i, e in enumerate(entries):
        what = f"facility type #{i + 1}"
        if not isinstance(e, dict):
            raise ConfigError(f"{label}: {what}: expected a mapping")
        fid = _require(e, "id", label, what)
        what = f"facility type '{fid}'"
        if fid in out:
            raise ConfigError(f"{label}: {what}: duplicate id")
        sels = []
        for key in ("osm_tags", "exclude_tags"):
            raw = e.get(key) or []
            if not isinstance(raw, list) or not all(isinstance(s, dict) and s for s in raw):
                raise ConfigError(f"{label}: {what}: '{key}' should be a list of non-empty mappings")
            sels.append(tuple({str(k): str(v) for k, v in s.items()} for s in raw))
        rx = e.get("name_regex_zh")
        if rx is not None:
            try:
                re.compile(rx)
            except re.error as exc:
                raise ConfigError(f"{label}: {what}: 'name_regex_zh' is not a valid regular expression: {exc}") from None
        out[fid] = FacilityType(id=fid, name_zh=_require(e, "name_zh", label, what),
                                name_en=_require(e, "name_en", label, what),
                                osm_tags=sels[0], exclude_tags=sels[1], name_regex_zh=rx)
    return out


def load_speeds(path: str | Path | None = None) -> tuple[dict[str, SpeedProfile], str]:
    """Load walking-speed profiles; returns (profiles by id, default profile id)."""
    data, label = (_read_yaml(None, "circles.config", "speeds.yaml") if path is None else _read_yaml(path))
    out: dict[str, SpeedProfile] = {}
    for i, e in enumerate(data.get("profiles") or []):
        what = f"speed profile #{i + 1}"
        pid = _require(e, "id", label, what)
        speed = _require(e, "m_per_min", label, f"speed profile '{pid}'", (int, float))
        if speed <= 0:
            raise ConfigError(f"{label}: speed profile '{pid}': 'm_per_min' must be positive, got {speed}")
        out[pid] = SpeedProfile(pid, float(speed), str(e.get("description", "")), str(e.get("source", "")),
                                bool(e.get("verified", False)))
    default = data.get("default")
    if default not in out:
        raise ConfigError(f"{label}: 'default' should name one of the profiles {sorted(out)}, got {default!r}")
    return out, default


def available_profiles() -> list[str]:
    """Names of the rulebook profiles shipped with circles."""
    return sorted(p.name[:-5] for p in resources.files("circles.rules").iterdir()
                  if p.name.endswith(".yaml"))


def load_rulebook(profile_or_path: str | Path = DEFAULT_PROFILE, *,
                  facility_types: Mapping[str, FacilityType] | None = None,
                  speeds: Mapping[str, SpeedProfile] | None = None,
                  speed_override: float | None = None) -> Rulebook:
    """Load a rulebook profile by name (shipped) or from a YAML file path.

    Parameters
    ----------
    profile_or_path : str or Path
        A shipped profile name (see :func:`available_profiles`) or a path to a YAML file.
    facility_types, speeds : mapping, optional
        Defaults to the packaged files.
    speed_override : float, optional
        Walking speed in m/min used for every rule instead of its profile's speed.

    Raises
    ------
    ConfigError
        Naming the file and the rule, on any mistake.
    """
    ftypes = dict(facility_types) if facility_types is not None else load_facility_types()
    if speeds is None:
        speeds, _ = load_speeds()
    speeds = dict(speeds)
    text = str(profile_or_path)
    if text in available_profiles():
        data, label = _read_yaml(None, "circles.rules", f"{text}.yaml")
    else:
        if not Path(text).exists():
            raise ConfigError(f"{text}: no such rulebook file, and not a shipped profile "
                              f"(shipped: {', '.join(available_profiles())})")
        data, label = _read_yaml(text)
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{label}: expected a non-empty list 'rules'")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, e in enumerate(raw_rules):
        if not isinstance(e, dict):
            raise ConfigError(f"{label}: rule #{i + 1}: expected a mapping")
        rid = _require(e, "id", label, f"rule #{i + 1}")
        what = f"rule '{rid}'"
        if rid in seen:
            raise ConfigError(f"{label}: {what}: duplicate rule id")
        seen.add(rid)
        ftype = _require(e, "facility_type", label, what)
        if ftype not in ftypes:
            raise ConfigError(f"{label}: {what}: unknown facility_type '{ftype}' (known: {', '.join(ftypes)})")
        thr = _require(e, "threshold_min", label, what, (int, float))
        if not 0 < thr <= 120:
            raise ConfigError(f"{label}: {what}: 'threshold_min' should be between 0 and 120 minutes, got {thr}")
        prof = e.get("speed_profile", "adult")
        if prof not in speeds:
            raise ConfigError(f"{label}: {what}: unknown speed_profile '{prof}' (known: {', '.join(speeds)})")
        src = e.get("source")
        if not isinstance(src, dict) or not src.get("doc"):
            raise ConfigError(f"{label}: {what}: 'source' should be a mapping with at least 'doc' (and 'clause')")
        if "verified" not in e or not isinstance(e["verified"], bool):
            raise ConfigError(f"{label}: {what}: 'verified' should be true or false")
        ft = ftypes[ftype]
        rules.append(Rule(id=rid, facility_type=ftype, name_zh=str(e.get("name_zh", ft.name_zh)),
                          name_en=str(e.get("name_en", ft.name_en)), threshold_min=float(thr),
                          speed_profile=prof, priority=int(e.get("priority", 9)),
                          source_doc=str(src.get("doc")), source_clause=str(src.get("clause", "")),
                          verified=e["verified"], note=str(e.get("note", ""))))
    if speed_override is not None and not speed_override > 0:
        raise ConfigError(f"walking speed must be positive, got {speed_override}")
    return Rulebook(profile=str(data.get("profile", Path(text).stem)), name_zh=str(data.get("name_zh", "")),
                    name_en=str(data.get("name_en", "")), rules=rules, facility_types=ftypes,
                    speeds=speeds, path=label, speed_override=speed_override)
