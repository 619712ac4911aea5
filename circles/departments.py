"""Who does what in the gap ledger: the units by role and who leads each item (``--departments``).

The neutral default by role is ``circles/config/departments.yaml``; a city's own file (same
schema, e.g. ``docs/departments_example.yaml``) names the roles and changes the tables. Every
value is checked: a wrong shape is a :class:`circles.errors.ConfigError` naming the file and
the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import config_file, read_yaml
from .errors import ConfigError
from .rulebook import Rule


@dataclass
class Departments:
    """Units by role and who leads which ledger item.

    ``names``/``kinds``: role id -> the unit's name and kind (``government``,
    ``organisation``, ``company``). Only government units lead (the loader checks it).
    """

    names: dict[str, str]
    kinds: dict[str, str]
    by_rule: dict[str, dict]
    by_facility_type: dict[str, dict]
    by_category: dict[str, dict]
    default: dict
    always_support: list[str]
    name_zh: str = ""
    path: str = ""

    def entry(self, rule: Rule) -> dict:
        """The table entry (lead, support) that applies to ``rule``."""
        for table, key in (
            (self.by_rule, rule.id),
            (self.by_facility_type, rule.facility_type),
            (self.by_category, rule.category),
        ):
            if key and key in table:
                return table[key]
        return self.default

    def assign(self, rule: Rule) -> tuple[str, str]:
        """(lead unit, responsible units) for ``rule``, each joined with '、'."""
        entry = self.entry(rule)
        lead = list(entry.get("lead") or [])
        support = [d for d in list(entry.get("support") or []) + self.always_support if d not in lead]
        support = list(dict.fromkeys(support))
        return "、".join(self.names[d] for d in lead), "、".join(self.names[d] for d in support)


DEPARTMENT_KINDS = ("government", "organisation", "company")
_DEPT_TABLES = ("by_rule", "by_facility_type", "by_category")


def _check_id_list(value: Any, where: str) -> None:
    """A list of department ids (text), or nothing; anything else is refused naming the key."""
    if value is None:
        return
    if isinstance(value, str):
        raise ConfigError(
            f"{where}: expected a list of department ids, got the text {value!r}; write [{value}] for one department"
        )
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of department ids, got {type(value).__name__} {value!r}")
    for d in value:
        if not isinstance(d, (str, int)) or isinstance(d, bool):
            raise ConfigError(f"{where}: expected a list of department ids (text), got the item {d!r}")


def _departments_from(  # noqa: C901 — a departments file validated key by key, each with its message
    data: Mapping[str, Any], label: str, base: Departments | None = None
) -> Departments:
    """Validate a departments mapping; over ``base`` (its names and tables are the fallback)."""
    deps = data.get("departments")
    if base is None and (not isinstance(deps, dict) or not deps):
        raise ConfigError(f"{label}: expected a mapping 'departments' (role id -> name_zh, kind)")
    if deps is not None and not isinstance(deps, dict):
        raise ConfigError(f"{label}: 'departments' should be a mapping (role id -> name_zh, kind)")
    names = dict(base.names) if base else {}
    kinds = dict(base.kinds) if base else {}
    for k, v in (deps or {}).items():
        if not isinstance(v, dict) or not v.get("name_zh") or not isinstance(v["name_zh"], (str, int)):
            raise ConfigError(f"{label}: department '{k}': missing 'name_zh'")
        kind = v.get("kind", kinds.get(str(k), "government"))
        if not isinstance(kind, str) or kind not in DEPARTMENT_KINDS:
            raise ConfigError(
                f"{label}: department '{k}': 'kind' should be one of {', '.join(DEPARTMENT_KINDS)}, got {kind!r}"
            )
        names[str(k)] = str(v["name_zh"])
        kinds[str(k)] = str(kind)

    def check(where: str, entry: Any) -> dict:
        if not isinstance(entry, dict) or not entry.get("lead"):
            raise ConfigError(f"{label}: {where}: expected a mapping with a 'lead' list")
        for key in ("lead", "support"):
            _check_id_list(entry.get(key), f"{label}: {where}: '{key}'")
        for d in list(entry.get("lead") or []) + list(entry.get("support") or []):
            if d not in names:
                raise ConfigError(f"{label}: {where}: unknown department '{d}' (known: {', '.join(names)})")
        for d in entry.get("lead") or []:
            if kinds[d] != "government":
                raise ConfigError(
                    f"{label}: {where}: '{d}' ({names[d]}) is a {kinds[d]}: a lead unit (牵头单位) must be a "
                    "government department; list it under 'support' (责任单位)"
                )
        return dict(entry)

    tables: dict[str, dict[str, dict]] = {}
    for key in _DEPT_TABLES:
        t = data.get(key) or {}
        if not isinstance(t, dict):
            raise ConfigError(f"{label}: '{key}' should be a mapping")
        merged = dict(getattr(base, key)) if base else {}
        merged.update({str(k): check(f"{key}: '{k}'", e) for k, e in t.items()})
        tables[key] = merged
    if data.get("default") is not None:
        default = check("default", data["default"])
    else:
        default = base.default if base else {"lead": []}
    always = data.get("always_support")
    _check_id_list(always, f"{label}: 'always_support'")
    always_list = list(always) if always is not None else (list(base.always_support) if base else [])
    for d in always_list:
        if d not in names:
            raise ConfigError(f"{label}: always_support: unknown department '{d}' (known: {', '.join(names)})")
    # the base's own entries must still be valid with the new kinds (a role renamed as a company)
    for key in _DEPT_TABLES:
        for k, e in tables[key].items():
            check(f"{key}: '{k}'", e)
    return Departments(
        names=names,
        kinds=kinds,
        by_rule=tables["by_rule"],
        by_facility_type=tables["by_facility_type"],
        by_category=tables["by_category"],
        default=default,
        always_support=always_list,
        name_zh=str(data.get("name_zh", "") or (base.name_zh if base else "")),
        path=label,
    )


def load_departments(path: str | Path | None = None) -> Departments:
    """Units per ledger item.

    Without ``path``: the neutral default by role (``circles/config/departments.yaml``). With a
    city's file (same schema, e.g. ``docs/departments_example.yaml``): its units name the roles,
    its tables change who leads what, and anything it does not give comes from the default.
    """
    data, label = config_file("departments.yaml")
    base = _departments_from(data, label)
    if path is None:
        return base
    data, label = read_yaml(path)
    return _departments_from(data, label, base)


__all__ = ["DEPARTMENT_KINDS", "Departments", "load_departments"]
