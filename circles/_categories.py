"""Map source categories (Amap typecodes, Baidu tags, Chinese words) to circles facility types.

The mapping lives in ``circles/config/poi_categories.yaml`` (with the source of every entry
and whether it was verified); users can add or override entries with a file or dict of the
same structure. :func:`categorise` looks at up to four columns of a table, in this order:

1. an explicit type column (our ids such as ``kindergarten``, or Chinese words such as
   ``日间照料中心``),
2. Amap typecodes (6 digits; several joined by ``|`` are tried in order; exact code, then
   the longest matching prefix),
3. Baidu tags (``医疗;诊所``) or Amap type names (``医疗保健服务;诊所;诊所``),
4. Chinese keywords in the name (ordered: the first word found wins).

The first column that decides wins. An entry with ``type: null`` decides "not a facility we
count" (e.g. restaurants, the gate of a car park); ``type: generic`` marks a known but too
vague category and lets the next column decide.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ._config import config_file, read_yaml
from .errors import ConfigError

log = logging.getLogger(__name__)

#: circles facility type ids (fixed).
FACILITY_TYPES: tuple[str, ...] = (
    "elderly_care",
    "childcare",
    "kindergarten",
    "clinic",
    "pharmacy",
    "car_parking",
    "ev_charging",
    "ebike_charging",
    "food_market",
    "convenience_store",
    "parcel_point",
    "park",
    "fitness",
    "community_service",
    "elderly_day_care",
    "bus_stop",
    "canteen",
    # types of circles/config/facility_types_extra.yaml (the Rugao and GB 50180-2018 rules)
    "elderly_home",
    "primary_school",
    "middle_school",
    "waste_point",
    "public_toilet",
)
#: Special ``type`` value: known category, too vague to decide; the next column decides.
GENERIC = "generic"

PACKAGED_FILE = "poi_categories.yaml"
REPORT_COLUMNS = ["source", "value", "count"]

_TOP_KEYS = {"schema_version", "sources", "amap", "baidu", "keywords", "notes"}
_AMAP_KEYS = {"codes", "prefixes", "type_names", "notes"}
_BAIDU_KEYS = {"tags", "notes"}
_ENTRY_KEYS = {"type", "label", "verified", "sources", "notes"}


@dataclass(frozen=True)
class Entry:
    """One mapping: a source category and the facility type it means.

    Attributes
    ----------
    type : str or None
        A facility type id, :data:`GENERIC`, or None ("not a facility we count").
    label : str
        The category's own name (e.g. ``医疗保健服务;诊所``), for people.
    verified : bool
        True only when the pairing was seen in the cited sources.
    sources : tuple of str
        Ids from the file's ``sources`` list.
    notes : str
        Caveats.
    """

    type: str | None
    label: str = ""
    verified: bool = False
    sources: tuple[str, ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class CategoryMap:
    """A validated mapping: one file, possibly layered over others.

    Attributes
    ----------
    amap_codes : dict
        Exact 6-digit Amap typecodes → :class:`Entry`.
    amap_prefixes : dict
        Amap typecode prefixes (1–5 digits; 2 = 大类, 4 = 中类) → :class:`Entry`.
    tags : dict
        Normalised ``level1;level2[;level3]`` tags (Baidu tags and Amap type names) → :class:`Entry`.
    keywords : tuple of (word, Entry)
        Ordered; the first word contained in the text wins.
    sources : dict
        Source id → its record (title, url, …).
    origins : tuple of str
        The file (or ``<extra_mappings dict>``) this layer was read from.
    fallback : CategoryMap or None
        The map consulted when this one has no entry (see :meth:`merged_with`).
    """

    amap_codes: dict[str, Entry] = field(default_factory=dict)
    amap_prefixes: dict[str, Entry] = field(default_factory=dict)
    tags: dict[str, Entry] = field(default_factory=dict)
    keywords: tuple[tuple[str, Entry], ...] = ()
    sources: dict[str, dict] = field(default_factory=dict)
    origins: tuple[str, ...] = ()
    fallback: CategoryMap | None = None

    def merged_with(self, other: CategoryMap) -> CategoryMap:
        """Return ``other`` layered over this map: every lookup asks ``other`` first
        (its exact codes, then its prefixes; its tags; its keywords) and falls back to this map."""
        if other.fallback is None:
            return replace(other, fallback=self)
        return replace(other, fallback=self.merged_with(other.fallback))

    @property
    def layers(self) -> tuple[CategoryMap, ...]:
        """This map and its fallbacks, highest precedence first."""
        return (self,) + (self.fallback.layers if self.fallback is not None else ())

    # ---------------------------------------------------------------- lookups

    def lookup_code(self, code: str) -> Entry | None:
        """Entry for a normalised 6-digit Amap typecode: exact code, else longest prefix
        (in each layer, the user's first)."""
        for layer in self.layers:
            if code in layer.amap_codes:
                return layer.amap_codes[code]
            for n in range(5, 0, -1):
                entry = layer.amap_prefixes.get(code[:n])
                if entry is not None:
                    return entry
        return None

    def lookup_tag(self, tag: str) -> Entry | None:
        """Entry for a normalised tag, trying its full text, then fewer ``;`` levels."""
        levels = tag.split(";")
        for layer in self.layers:
            for n in range(len(levels), 0, -1):
                entry = layer.tags.get(";".join(levels[:n]))
                if entry is not None:
                    return entry
        return None

    def lookup_text(self, text: str) -> tuple[str, Entry] | None:
        """First keyword contained in ``text`` (NFKC-normalised), with its entry."""
        norm = unicodedata.normalize("NFKC", text)
        for layer in self.layers:
            for word, entry in layer.keywords:
                if word in norm:
                    return word, entry
        return None

    @property
    def all_sources(self) -> dict[str, dict]:
        """Sources of every layer."""
        out: dict[str, dict] = {}
        for layer in reversed(self.layers):
            out.update(layer.sources)
        return out


# --------------------------------------------------------------------------- loading


def _type_value(value: Any, where: str, origin: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        v = value.strip()
        if v in FACILITY_TYPES or v == GENERIC:
            return v
    raise ConfigError(
        f"{origin}: {where}: unknown facility type id {value!r}; expected one of "
        f"{', '.join(FACILITY_TYPES)}, '{GENERIC}' or null"
    )


def _entry(raw: Any, where: str, origin: str, known_sources: set[str]) -> Entry:
    """Validate one mapping entry (a dict with ``type``, or just the type id / null)."""
    if raw is None or isinstance(raw, str):
        return Entry(type=_type_value(raw, where, origin))
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: {where}: expected a facility type id or a mapping with 'type', got {raw!r}")
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(f"{origin}: {where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}")
    if "type" not in raw:
        raise ConfigError(f"{origin}: {where}: missing 'type' (a facility type id, '{GENERIC}' or null)")
    verified = raw.get("verified", False)
    if not isinstance(verified, bool):
        raise ConfigError(f"{origin}: {where}: 'verified' must be true or false, got {verified!r}")
    sources = raw.get("sources") or []
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{origin}: {where}: 'sources' must be a list of source ids")
    missing = [s for s in sources if s not in known_sources]
    if missing:
        raise ConfigError(f"{origin}: {where}: source id(s) {missing} are not in the 'sources' list")
    return Entry(
        type=_type_value(raw["type"], where, origin),
        label=str(raw.get("label") or ""),
        verified=verified,
        sources=tuple(sources),
        notes=str(raw.get("notes") or ""),
    )


def _section(doc: Mapping, key: str, allowed: set[str], origin: str) -> Mapping:
    sec = doc.get(key) or {}
    if not isinstance(sec, Mapping):
        raise ConfigError(f"{origin}: '{key}' must be a mapping")
    unknown = set(sec) - allowed
    if unknown:
        raise ConfigError(f"{origin}: {key}: unknown key(s) {sorted(map(str, unknown))}; allowed: {sorted(allowed)}")
    return sec


def _table(sec: Mapping, key: str, origin: str) -> Mapping:
    table = sec.get(key) or {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"{origin}: {key} must be a mapping of category → type")
    return table


def _code_key(key: Any, where: str, origin: str, lengths: Iterable[int]) -> str:
    if not isinstance(key, str):
        raise ConfigError(
            f"{origin}: {where}[{key!r}]: codes must be quoted strings in YAML "
            f'(e.g. "060200"; unquoted numbers lose their leading zeros)'
        )
    k = key.strip()
    if not (k.isascii() and k.isdigit() and len(k) in tuple(lengths)):
        want = "a 6-digit code" if tuple(lengths) == (6,) else "a 1–5 digit code prefix"
        raise ConfigError(f"{origin}: {where}[{key!r}]: bad code, expected {want}")
    return k


def _keywords(raw: Any, origin: str, known_sources: set[str]) -> tuple[tuple[str, Entry], ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):  # {word: type, …} shorthand, order kept
        raw = [{"word": w, "type": t} for w, t in raw.items()]
    if not isinstance(raw, list):
        raise ConfigError(f"{origin}: keywords must be a list of {{word, type}} entries")
    out: list[tuple[str, Entry]] = []
    for i, item in enumerate(raw):
        where = f"keywords[{i}]"
        if not isinstance(item, Mapping) or "word" not in item:
            raise ConfigError(f"{origin}: {where}: expected {{word: ..., type: ...}}, got {item!r}")
        word = item["word"]
        if not isinstance(word, str) or not word.strip():
            raise ConfigError(f"{origin}: {where}: 'word' must be a non-empty string, got {word!r}")
        word = unicodedata.normalize("NFKC", word.strip())
        rest = {k: v for k, v in item.items() if k != "word"}
        out.append((word, _entry(rest, f"{where} ({word})", origin, known_sources)))
    return tuple(out)


def _parse(doc: Any, origin: str, inherited_sources: Mapping[str, dict] | None = None) -> CategoryMap:
    """Validate a parsed YAML document and build a :class:`CategoryMap`."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"{origin}: unknown top-level key(s) {sorted(map(str, unknown))}; allowed: {sorted(_TOP_KEYS)}"
        )
    if doc.get("schema_version", 1) != 1:
        raise ConfigError(f"{origin}: schema_version {doc.get('schema_version')!r} not supported (expected 1)")

    sources: dict[str, dict] = {}
    for i, s in enumerate(doc.get("sources") or []):
        if not isinstance(s, Mapping) or not isinstance(s.get("id"), str):
            raise ConfigError(f"{origin}: sources[{i}]: each source needs an 'id'")
        sources[s["id"]] = dict(s)
    known = set(sources) | set(inherited_sources or {})

    amap = _section(doc, "amap", _AMAP_KEYS, origin)
    baidu = _section(doc, "baidu", _BAIDU_KEYS, origin)
    codes = {}
    for key, raw in _table(amap, "codes", origin).items():
        k = _code_key(key, "amap.codes", origin, (6,))
        codes[k] = _entry(raw, f"amap.codes[{k!r}]", origin, known)
    prefixes = {}
    for key, raw in _table(amap, "prefixes", origin).items():
        k = _code_key(key, "amap.prefixes", origin, range(1, 6))
        prefixes[k] = _entry(raw, f"amap.prefixes[{k!r}]", origin, known)
    tags = {}
    for section, key in ((amap, "type_names"), (baidu, "tags")):  # Baidu last: wins a clash
        prefix = "amap" if section is amap else "baidu"
        for tag, raw in _table(section, key, origin).items():
            if not isinstance(tag, str) or not _norm_tag(tag):
                raise ConfigError(f"{origin}: {prefix}.{key}[{tag!r}]: expected a text tag such as '医疗;诊所'")
            tags[_norm_tag(tag)] = _entry(raw, f"{prefix}.{key}[{tag!r}]", origin, known)
    return CategoryMap(
        amap_codes=codes,
        amap_prefixes=prefixes,
        tags=tags,
        keywords=_keywords(doc.get("keywords"), origin, known),
        sources=sources,
        origins=(origin,),
    )


@functools.lru_cache(maxsize=1)
def _packaged() -> CategoryMap:
    data, origin = config_file(PACKAGED_FILE)
    return _parse(data, origin)


def load_categories(path: str | Path | None = None) -> CategoryMap:
    """Load and validate a category mapping file.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file with the structure of the packaged ``poi_categories.yaml``. By default
        the packaged file (read with :mod:`importlib.resources`).

    Returns
    -------
    CategoryMap

    Raises
    ------
    circles.errors.ConfigError
        (a ValueError) naming the file and the entry: unknown facility type id, a code that
        is not 6 digits (or a 1–5 digit prefix), an unquoted numeric code, unknown keys.
    """
    if path is None:
        return _packaged()
    p = Path(path)
    return _parse(read_yaml(p)[0], str(p), _packaged().sources)


def _extra_map(extra: str | Path | Mapping | None) -> CategoryMap | None:
    if extra is None:
        return None
    if isinstance(extra, Mapping):
        return _parse(extra, "<extra_mappings dict>", _packaged().sources)
    if isinstance(extra, (str, Path)):
        return load_categories(extra)
    raise TypeError(f"extra_mappings must be a YAML path or a dict, not {type(extra).__name__}")


# --------------------------------------------------------------------------- values


def _norm_tag(tag: str) -> str:
    t = unicodedata.normalize("NFKC", str(tag)).replace("；", ";")
    return ";".join(p.strip() for p in t.split(";") if p.strip())


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            value = int(value)
    t = str(value).strip()
    return t or None


def normalise_typecode(value: Any) -> str | None:
    """Normalise one Amap typecode: ``90300`` / ``90300.0`` (Excel lost the zero) → ``"090300"``.

    Returns None when the value is not a 5–6 digit code.
    """
    t = _text(value)
    if t is None:
        return None
    t = unicodedata.normalize("NFKC", t)
    if t.isascii() and t.isdigit() and len(t) in (5, 6):
        return t.zfill(6)
    return None


def _split(value: Any) -> list[str]:
    t = _text(value)
    if t is None:
        return []
    return [p.strip() for p in unicodedata.normalize("NFKC", t).split("|") if p.strip()]


def _decide(entries: list[Entry | None]) -> tuple[str | None, bool]:
    """From the entries of one cell's parts: (type or None, decided?).

    The first part mapped to a facility type wins; parts mapped to null decide "none" when
    no part is a facility; generic and unknown parts leave the decision open.
    """
    saw_null = False
    for e in entries:
        if e is None or e.type == GENERIC:
            continue
        if e.type is None:
            saw_null = True
            continue
        return e.type, True
    return None, saw_null


def _type_column_value(cmap: CategoryMap, value: Any) -> tuple[str | None, bool]:
    t = _text(value)
    if t is None:
        return None, False
    key = re.sub(r"[\s\-]+", "_", unicodedata.normalize("NFKC", t).lower())
    if key in FACILITY_TYPES:
        return key, True
    hit = cmap.lookup_text(t)
    if hit is None or hit[1].type == GENERIC:
        return None, False
    return hit[1].type, True  # a null (veto) word decides "not a facility"


@dataclass
class _RowTyper:
    """Types one row from its columns, in order: type word, typecodes, tags, name.

    Typecode and tag lookups are cached across rows. A column that does not decide records
    what it did not know in ``misses`` as ``(source, value)``.
    """

    cmap: CategoryMap
    code_cache: dict[str, Entry | None] = field(default_factory=dict)
    tag_cache: dict[str, Entry | None] = field(default_factory=dict)

    def by_type(self, value: Any, misses: list[tuple[str, str]]) -> tuple[str | None, bool]:
        """From an explicit type: (type or None, decided?)."""
        result, decided = _type_column_value(self.cmap, value)
        type_text = _text(value)
        if not decided and type_text:
            misses.append(("type", type_text))
        return result, decided

    def by_codes(self, value: Any, misses: list[tuple[str, str]]) -> tuple[str | None, bool]:
        """From Amap typecodes: (type or None, decided?)."""
        entries = []
        for part in _split(value):
            code = normalise_typecode(part)
            if code is None:
                entry = None
            elif code in self.code_cache:
                entry = self.code_cache[code]
            else:
                entry = self.code_cache.setdefault(code, self.cmap.lookup_code(code))
            entries.append(entry)
            if entry is None:
                misses.append(("amap_typecode", code or part))
        return _decide(entries)

    def by_tags(self, value: Any, misses: list[tuple[str, str]]) -> tuple[str | None, bool]:
        """From Baidu tags or Amap type names: (type or None, decided?)."""
        entries = []
        for part in _split(value):
            tag = _norm_tag(part)
            if tag not in self.tag_cache:
                self.tag_cache[tag] = self.cmap.lookup_tag(tag)
            entries.append(self.tag_cache[tag])
            if self.tag_cache[tag] is None:
                misses.append(("tag", tag))
        return _decide(entries)

    def by_name(self, value: Any, misses: list[tuple[str, str]]) -> tuple[str | None, bool]:
        """From the facility's name, by the ordered keywords: (type or None, decided?)."""
        name = _text(value)
        hit = self.cmap.lookup_text(name) if name else None
        if hit is not None and hit[1].type != GENERIC:
            return hit[1].type, True
        if name:
            misses.append(("name", name))
        return None, False


def _unknown_report(unknown: Mapping[tuple[str, str], int]) -> pd.DataFrame:
    """The values no mapping knew, with their counts, most frequent first (``REPORT_COLUMNS``)."""
    report = pd.DataFrame([(s, v, n) for (s, v), n in unknown.items()], columns=REPORT_COLUMNS)
    report = report.sort_values(["count", "source", "value"], ascending=[False, True, True], ignore_index=True)
    report["count"] = report["count"].astype(int)
    return report


def categorise(
    df: pd.DataFrame,
    typecode_col: str | None = None,
    tag_col: str | None = None,
    type_col: str | None = None,
    name_col: str | None = None,
    extra_mappings: str | Path | Mapping | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """Assign a circles facility type to every row of a facility table.

    Parameters
    ----------
    df : DataFrame
        The facility table (e.g. from :func:`circles._tables.read_facility_table`).
    typecode_col : str, optional
        Amap typecodes (``"090300"``, ``"060703|060706"``; numbers that lost their leading
        zero in Excel are repaired).
    tag_col : str, optional
        Baidu tags (``"医疗;诊所"``) or Amap type names (``"医疗保健服务;诊所;诊所"``).
    type_col : str, optional
        An explicit type: one of our ids, or Chinese words (``"日间照料中心"``).
    name_col : str, optional
        Facility names, searched for the ordered keywords.
    extra_mappings : str, Path or dict, optional
        A YAML file (or the equivalent dict) with the structure of ``poi_categories.yaml``;
        its entries take precedence over the packaged ones (its keywords are tried first).

    Returns
    -------
    types : Series
        ``string`` dtype, same index as ``df``: a facility type id or ``<NA>``.
    report : DataFrame
        Columns ``source, value, count``: the type words, typecodes, tags and names of the
        rows left without a type that no mapping knew, with how many rows had each, most
        frequent first. Values mapped to null (known non-facilities) are not reported.

    Raises
    ------
    ValueError
        If no column is given or a named column is missing; ConfigError for a bad mapping.
    """
    cols = {"type_col": type_col, "typecode_col": typecode_col, "tag_col": tag_col, "name_col": name_col}
    given = {k: v for k, v in cols.items() if v is not None}
    if not given:
        raise ValueError(f"categorise: give at least one of {', '.join(cols)}; columns: {list(df.columns)}")
    for k, v in given.items():
        if v not in df.columns:
            raise ValueError(f"categorise: {k}={v!r} is not a column; columns: {list(df.columns)}")

    cmap = _packaged()
    extra = _extra_map(extra_mappings)
    if extra is not None:
        cmap = cmap.merged_with(extra)

    typer = _RowTyper(cmap)
    steps = [
        (c, f)
        for c, f in (
            (type_col, typer.by_type),
            (typecode_col, typer.by_codes),
            (tag_col, typer.by_tags),
            (name_col, typer.by_name),
        )
        if c is not None
    ]
    out: list[Any] = []
    unknown: dict[tuple[str, str], int] = {}
    for _, row in df.iterrows():
        misses: list[tuple[str, str]] = []
        result, decided = None, False
        for col, step in steps:
            if decided:
                break
            result, decided = step(row[col], misses)
        out.append(result if result is not None else pd.NA)
        if not decided:  # rows decided "not a facility" have nothing unknown to report
            for m in misses:
                unknown[m] = unknown.get(m, 0) + 1

    types = pd.Series(out, index=df.index, dtype="string", name="facility_type")
    report = _unknown_report(unknown)
    n_typed = int(types.notna().sum())
    log.info("categorise: %d of %d rows typed; %d distinct unknown values", n_typed, len(df), len(report))
    return types, report


__all__ = ["CategoryMap", "Entry", "FACILITY_TYPES", "GENERIC", "categorise", "load_categories", "normalise_typecode"]
