"""The rulebook as data: shipped profiles, the loader's errors, user override files."""

from __future__ import annotations

import math
import textwrap

import pytest

from circles import cli
from circles.errors import ConfigError
from circles.rulebook import CATEGORIES, available_profiles, load_rulebook


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


# ----------------------------------------------------------------------------- shipped profiles


def test_shipped_profiles():
    assert {"complete_community_2020", "gb50180_2018"} <= set(available_profiles())


def test_complete_community_covers_the_six_categories_and_twenty_items():
    rb = load_rulebook("complete_community_2020")
    items = rb.all_items()
    assert {r.category for r in items} == set(CATEGORIES)
    numbers = {int(r.item.split()[0]) for r in items}
    assert numbers == set(range(1, 21)), "every item 1–20 of the 2020 standard has a rule or a checklist row"
    # non-spatial items are checklist rows, never silently dropped
    checklist = {r.id for r in rb.checklist}
    assert {
        "property_management",
        "smart_property_platform",
        "governance_mechanism",
        "comprehensive_management",
        "community_culture",
        "barrier_free",
        "utilities",
        "slow_traffic",
    } <= checklist
    for r in rb.checklist:
        assert r.facility_type == "" and math.isnan(r.threshold_min)
    # every rule names its source and says whether its numbers were verified
    for r in items:
        assert r.source_doc and isinstance(r.verified, bool), r.id
        if not r.verified:
            assert r.unverified, f"{r.id}: an unverified rule names its unverified fields"


def test_types_used_are_spatial_only():
    rb = load_rulebook("complete_community_2020")
    assert all(r.facility_type for r in rb.rules)
    assert set(rb.types_used()) == {r.facility_type for r in rb.rules}
    assert "" not in rb.types_used()
    # the pipeline's calls work on every spatial rule
    for r in rb.rules:
        assert rb.threshold_m(r) > 0 and rb.speed_of(r) > 0


def test_numbers_from_the_sources():
    rb = load_rulebook("complete_community_2020")
    cs = rb.rule("community_service")
    assert cs.capacity.target == 30 and cs.capacity.per == 100 and cs.capacity.demand == "households"
    assert cs.capacity.verified is True  # 2022 pilot notice, verified (secondary)
    assert cs.verified is False and "min_size_m2" in cs.unverified  # 800 m² is commonly cited only
    parking = rb.rule("car_parking").capacity
    assert parking.target == 1.0 and parking.applies_to == "new_communities"
    assert rb.rule("parcel_point").min_count == 2
    assert rb.rule("waste_point").distance_m == 70


def test_gb50180_levels_are_separate_rules():
    rb = load_rulebook("gb50180_2018")
    assert rb.extra["non_inclusive_levels"] is True
    by_level = {}
    for r in rb.rules:
        by_level.setdefault(r.level, []).append(r)
    assert set(by_level) == {"5", "10", "15"}
    for level, dist in (("5", 300), ("10", 500), ("15", 1000)):
        assert {rb.threshold_m(r) for r in by_level[level]} == {dist}, level
    parks = {r.level: r for r in rb.rules if r.facility_type == "park"}
    assert set(parks) == {"5", "10", "15"}
    assert parks["5"].min_size_m2 < parks["10"].min_size_m2 < parks["15"].min_size_m2
    assert parks["10"].verified is True  # 1 ha, 500 m: Encyclopedia of China entry
    # a higher-level type is never counted for a lower-level rule
    assert all(r.facility_type not in ("middle_school", "elderly_home") for r in by_level["5"] + by_level["10"])
    # distances stay fixed when the walking speed changes; minutes follow
    fast = load_rulebook("gb50180_2018", speed_override=100)
    r = fast.rule("lc10_park")
    assert fast.threshold_m(r) == 500 and fast.threshold_minutes(r) == pytest.approx(5.0)


# ----------------------------------------------------------------------------- loader errors

BASE = """
    profile: t
    rules:
      - id: {rid}
        {body}
"""

ERRORS = [
    (
        "facility_type: nursery_x\n        threshold_min: 5\n        source: {doc: X}\n        verified: true",
        "unknown facility_type 'nursery_x'",
    ),
    ("facility_type: kindergarten\n        threshold_min: 5\n        verified: true", "'source'"),
    ("facility_type: kindergarten\n        threshold_min: 5\n        source: {doc: X}", "'verified'"),
    (
        "facility_type: kindergarten\n        threshold_min: 5\n        threshold_m: 300\n        source: {doc: X}\n"
        "        verified: true",
        "exactly one of 'threshold_min'",
    ),
    ("facility_type: kindergarten\n        source: {doc: X}\n        verified: true", "got neither"),
    (
        "facility_type: kindergarten\n        threshold_mins: 5\n        source: {doc: X}\n        verified: true",
        "unknown field(s) threshold_mins",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: 500\n        source: {doc: X}\n        verified: true",
        "between 0 and 120",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: five\n        source: {doc: X}\n        verified: true",
        "'threshold_min' should be a number",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: 5\n        category: shops\n        source: {doc: X}\n"
        "        verified: true",
        "unknown category 'shops'",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: 5\n        level: 7\n        source: {doc: X}\n"
        "        verified: true",
        "unknown level '7'",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: 5\n        min_size_m2: -3\n        source: {doc: X}\n"
        "        verified: true",
        "'min_size_m2' should be positive",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: 5\n"
        "        capacity: {measure: capacity, demand: pets, per: 1}\n"
        "        source: {doc: X}\n        verified: true",
        "'demand' should be one of",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: 5\n"
        "        capacity: {measure: capacity, per: 1000, target: 4}\n"
        "        source: {doc: X}\n        verified: true",
        "capacity: 'verified'",
    ),
    (
        "facility_type: kindergarten\n        threshold_min: 5\n        speed_profile: jogger\n"
        "        source: {doc: X}\n        verified: true",
        "unknown speed_profile 'jogger'",
    ),
    ("kind: checklist\n        source: {doc: X}\n        verified: true", "missing field 'name_zh'"),
    (
        "kind: checklist\n        name_zh: 物业\n        threshold_min: 5\n"
        "        source: {doc: X}\n        verified: true",
        "unknown field(s) threshold_min for a checklist rule",
    ),
    ("name_zh: 物业\n        source: {doc: X}\n        verified: true", "give a 'facility_type'"),
]


@pytest.mark.parametrize("body, message", ERRORS)
def test_loader_errors_name_the_file_and_the_rule(tmp_path, body, message):
    p = _write(tmp_path, "bad.yaml", BASE.format(rid="my_rule", body=body))
    with pytest.raises(ConfigError) as exc:
        load_rulebook(p)
    text = str(exc.value)
    assert str(p) in text
    assert "rule 'my_rule'" in text
    assert message in text


def test_duplicate_rule_id(tmp_path):
    p = _write(
        tmp_path,
        "dup.yaml",
        """
        rules:
          - {id: a, facility_type: clinic, threshold_min: 5, source: {doc: X}, verified: true}
          - {id: a, facility_type: park, threshold_min: 5, source: {doc: X}, verified: true}
    """,
    )
    with pytest.raises(ConfigError, match=r"dup\.yaml: rule 'a': duplicate rule id"):
        load_rulebook(p)


def test_file_level_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such rulebook file"):
        load_rulebook(tmp_path / "missing.yaml")
    bad = _write(tmp_path, "bad.yaml", "rules: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_rulebook(bad)
    typo = _write(tmp_path, "typo.yaml", "extend: complete_community_2020\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown top-level field\(s\) extend"):
        load_rulebook(typo)
    only_list = _write(
        tmp_path,
        "only.yaml",
        """
        rules:
          - {id: c, kind: checklist, name_zh: 物业, source: {doc: X}, verified: true}
    """,
    )
    with pytest.raises(ConfigError, match="no spatial rule"):
        load_rulebook(only_list)
    orphan = _write(tmp_path, "orphan.yaml", "overrides: {kindergarten: {threshold_min: 3}}\nrules: []\n")
    with pytest.raises(ConfigError, match="'overrides' needs 'extends'"):
        load_rulebook(orphan)


# ----------------------------------------------------------------------------- user files


def test_override_file(tmp_path):
    p = _write(
        tmp_path,
        "my_rules.yaml",
        """
        extends: complete_community_2020
        profile: rugao_local
        overrides:
          kindergarten: {threshold_min: 10}
          clinic: {threshold_m: 800, source: {doc: 本市规定, clause: 第3条}, verified: true}
        remove: [park_15min]
        rules:
          - id: canteen
            facility_type: community_service
            name_zh: 社区食堂
            threshold_min: 10
            source: {doc: 2022 complete-community pilot notice, clause: 食堂}
            verified: true
    """,
    )
    rb = load_rulebook(p)
    base = load_rulebook("complete_community_2020")
    assert rb.profile == "rugao_local"
    k = rb.rule("kindergarten")
    assert k.threshold_min == 10
    assert k.verified is False and "threshold_min" in k.unverified
    assert str(p) in k.source and k.defined_in == str(p)
    c = rb.rule("clinic")
    assert rb.threshold_m(c) == 800 and c.distance_m == 800 and c.verified is True and c.source == "本市规定 第3条"
    assert "park_15min" not in {r.id for r in rb.rules}
    assert rb.rule("canteen").facility_type == "community_service"
    assert len(rb.rules) == len(base.rules)  # one removed, one added
    assert len(rb.checklist) == len(base.checklist)  # checklist inherited
    assert rb.extends == ["circles/rules/complete_community_2020.yaml", str(p)]
    assert any("kindergarten" in ch for ch in rb.changes) and any("canteen" in ch for ch in rb.changes)
    # the package's profile is untouched
    assert base.rule("kindergarten").threshold_min == 5


def test_override_errors_name_the_file_and_rule(tmp_path):
    p = _write(tmp_path, "o.yaml", "extends: complete_community_2020\noverrides: {kindergartn: {threshold_min: 9}}\n")
    with pytest.raises(ConfigError, match=r"o\.yaml: overrides: rule 'kindergartn' is not in complete_community_2020"):
        load_rulebook(p)
    p = _write(
        tmp_path, "o2.yaml", "extends: complete_community_2020\noverrides: {kindergarten: {threshold_min: 999}}\n"
    )
    with pytest.raises(ConfigError, match=r"o2\.yaml: rule 'kindergarten': 'threshold_min' should be between"):
        load_rulebook(p)
    p = _write(tmp_path, "o3.yaml", "extends: complete_community_2020\nremove: [nothing]\n")
    with pytest.raises(ConfigError, match=r"o3\.yaml: remove: rule 'nothing'"):
        load_rulebook(p)
    p = _write(
        tmp_path,
        "o4.yaml",
        """
        extends: complete_community_2020
        rules:
          - {id: clinic, facility_type: clinic, threshold_min: 5, source: {doc: X}, verified: true}
    """,
    )
    with pytest.raises(ConfigError, match=r"o4\.yaml: rule 'clinic': duplicate rule id .*use 'overrides'"):
        load_rulebook(p)
    p = _write(tmp_path, "o5.yaml", "extends: no_such_profile\n")
    with pytest.raises(ConfigError, match="no_such_profile: no such rulebook file"):
        load_rulebook(p)


def test_extends_chain_of_user_files_and_loops(tmp_path):
    _write(tmp_path, "city.yaml", "extends: complete_community_2020\noverrides: {park: {threshold_min: 8}}\n")
    street = _write(tmp_path, "street.yaml", "extends: city.yaml\noverrides: {fitness: {threshold_min: 7}}\n")
    rb = load_rulebook(street)
    assert rb.rule("park").threshold_min == 8 and rb.rule("fitness").threshold_min == 7
    assert len(rb.extends) == 3
    _write(tmp_path, "a.yaml", "extends: b.yaml\n")
    b = _write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_rulebook(b)


def test_local_facility_type_in_a_rules_file(tmp_path):
    p = _write(
        tmp_path,
        "local.yaml",
        """
        extends: complete_community_2020
        facility_types:
          - id: canteen
            name_zh: 社区食堂
            name_en: Community canteen
            osm_tags: [{amenity: social_facility, social_facility: soup_kitchen}]
            name_regex_zh: "社区食堂|助餐"
        rules:
          - {id: canteen, facility_type: canteen, threshold_min: 10, source: {doc: 2022 pilot notice}, verified: true}
    """,
    )
    rb = load_rulebook(p)
    assert "canteen" in rb.facility_types and "canteen" in rb.types_used()
    bad = _write(
        tmp_path,
        "bad_local.yaml",
        """
        extends: complete_community_2020
        facility_types:
          - {id: clinic, name_zh: 诊所, name_en: Clinic}
    """,
    )
    with pytest.raises(ConfigError, match=r"bad_local\.yaml: facility type 'clinic': duplicate id"):
        load_rulebook(bad)


def test_cli_rules_lists_checklist_and_local_changes(tmp_path, capsys):
    p = _write(
        tmp_path, "my_rules.yaml", "extends: complete_community_2020\noverrides: {kindergarten: {threshold_min: 10}}\n"
    )
    assert cli.main(["rules", "--rules", str(p)]) == 0
    out = capsys.readouterr().out
    assert "checklist items" in out and "property_management" in out
    assert "local change" in out and "kindergarten" in out
    assert cli.main(["rules", "--profile", "gb50180_2018"]) == 0
    assert "lc15_middle_school" in capsys.readouterr().out
    bad = _write(tmp_path, "bad.yaml", BASE.format(rid="x", body="facility_type: nope\n        threshold_min: 5"))
    assert cli.main(["rules", "--rules", str(bad)]) == 2
    assert "rule 'x'" in capsys.readouterr().err
