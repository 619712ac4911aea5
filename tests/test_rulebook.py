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
    assert {"complete_community_2020", "gb50180_2018", "rugao_2023"} <= set(available_profiles())


def test_complete_community_covers_the_six_categories_and_twenty_items():
    rb = load_rulebook("complete_community_2020")
    items = rb.all_items()
    assert {r.category for r in items} == set(CATEGORIES)
    numbers = {int(r.item.split()[0]) for r in items if r.item[0].isdigit()}
    assert numbers == set(range(1, 21)), "every item 1–20 of the 2020 standard has a rule or a checklist row"
    # rows added from the pilot plans say so in their item
    # the rows the Rugao plans add (消防, 适儿化改造) live in rugao_2023, never in other cities' runs
    assert {r.item for r in items if not r.item[0].isdigit()} == set()
    rugao = load_rulebook("rugao_2023").all_items()
    added = {r.item for r in rugao if not r.item[0].isdigit() and r.kind == "checklist"}
    assert added == {"补充 消防", "补充 适儿化改造"}
    assert not any("如皋" in r.source for r in items)
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
    # 以800平方米为宜: a recommended size, never a floor; checked: the community's own 30 m² per 100 households
    assert cs.min_size_m2 is None and cs.recommended_size_m2 == 800 and cs.capacity.basis == "own"
    assert "建标167-2014" not in cs.source  # named by the Rugao plan: cited in Rugao runs only
    assert "建标167-2014，如皋试点方案所引" in load_rulebook("rugao_2023").rule("community_service").source
    assert cs.provenance["recommended_size_m2"].startswith("no source found")
    parking = rb.rule("car_parking")
    assert parking.check == "supply" and parking.capacity.basis == "own"
    assert parking.capacity.target == 1.0 and parking.capacity.applies_to == "new_communities"
    assert rb.rule("parcel_point").min_count == 2
    waste = rb.rule("waste_point")
    assert waste.distance_m == 70 and waste.verified is True and "CJJ 27" in waste.source and "3.2.5" in waste.source
    toilet = rb.rule("public_toilet")
    assert toilet.distance_m == 300 and not toilet.verified and "threshold_m" in toilet.unverified
    assert rb.rule("smart_property_platform").verified is False  # its item name was never seen in a source


def test_elderly_station_has_no_size_and_the_day_care_centre_is_conditional():
    rb = load_rulebook("complete_community_2020")
    station = rb.rule("elderly_care")
    assert station.min_size_m2 is None and station.required == "required"
    centre = rb.rule("elderly_day_care")
    assert centre.facility_type == "elderly_day_care" and centre.required == "conditional"
    assert centre.min_size_m2 == 350 and centre.item == station.item == "4 老年服务站"
    assert rb.rule("ebike_charging").required == "conditional" and rb.rule("ebike_charging").check == "presence"


def test_elderly_and_child_items_at_the_300_m_radius():
    rb = load_rulebook("complete_community_2020")
    for rid in ("kindergarten", "childcare", "elderly_care", "elderly_day_care"):
        r = rb.rule(rid)
        assert r.distance_m == 300 and r.stated_in_metres, rid
        assert rb.threshold_m(r) == 300
        assert "300米" in r.requirement_zh, rid
    # a different walking speed never changes the radius
    slow = load_rulebook("complete_community_2020", speed_override=40)
    assert slow.threshold_m(slow.rule("kindergarten")) == 300
    # no shipped rule walks at a slow profile silently
    for name in ("complete_community_2020", "gb50180_2018", "rugao_2023"):
        assert {r.speed_profile for r in load_rulebook(name).rules} == {"adult"}, name


def test_slower_walkers_are_a_stated_option():
    from pathlib import Path

    opt = Path(__file__).resolve().parents[1] / "docs" / "slow_walkers.yaml"
    rb = load_rulebook(opt)
    k = rb.rule("kindergarten")
    assert k.speed_profile == "child" and rb.threshold_m(k) == pytest.approx(250)
    assert not k.verified and str(opt) in k.source and "changed locally" in k.provenance["threshold_min"]
    assert rb.rule("elderly_care").speed_profile == "elderly"
    assert any("kindergarten" in ch for ch in rb.changes)


def test_new_items_bus_stop_and_canteen():
    rb = load_rulebook("complete_community_2020")
    bus = rb.rule("bus_stop")
    assert bus.facility_type == "bus_stop" and bus.threshold_min == 10 and bus.item == "11 慢行系统"
    assert {"highway": "bus_stop"} in rb.facility_types["bus_stop"].osm_tags
    assert rb.facility_types["bus_stop"].matches_tags({"public_transport": "platform", "bus": "yes"})
    assert not rb.facility_types["bus_stop"].matches_tags({"public_transport": "platform", "railway": "platform"})
    canteen = rb.rule("canteen")
    assert canteen.facility_type == "canteen" and canteen.elderly_child and "食堂" in canteen.source
    # a workplace canteen is not a community canteen
    assert not rb.facility_types["canteen"].matches_tags({"amenity": "canteen"})


def _level_suffix(level: str) -> tuple[str, str]:
    zh = {"5": "五分钟", "10": "十分钟", "15": "十五分钟"}[level]
    return f"（{zh}）", f"({level}-minute level)"


@pytest.mark.parametrize("profile", ["complete_community_2020", "gb50180_2018", "rugao_2023"])
def test_one_name_per_item(profile):
    from circles._labels import rule_name, type_name

    rb = load_rulebook(profile)
    for r in rb.rules:
        ft = rb.facility_types[r.facility_type]
        if r.level in ("complete_community", "block"):
            # the same short term for the facility type and its complete-community rules
            assert rule_name(r, "zh") == type_name(ft, "zh"), (r.id, r.name_zh, ft.name_zh)
            assert rule_name(r, "en") == type_name(ft, "en"), (r.id, r.name_en, ft.name_en)
        else:
            zh, en = _level_suffix(r.level)
            assert r.name_zh.endswith(zh) and r.name_en.endswith(en), r.id
    names = [rule_name(r, "zh") for r in rb.all_items()]
    assert len(names) == len(set(names)), "no two items of a profile share a name"


@pytest.mark.parametrize("profile", ["complete_community_2020", "gb50180_2018", "rugao_2023"])
def test_every_unverified_number_says_where_it_comes_from(profile):
    rb = load_rulebook(profile)
    for r in rb.all_items():
        assert r.source_doc, r.id
        for f in r.unverified:
            assert f in r.provenance, f"{r.id}: unverified {f} has no number_sources entry"
        for f, text in r.provenance.items():
            if "commonly cited" in text or "recalled" in text:
                assert "no source found" in text or "http" in text, (r.id, f, text)


def test_gb50180_levels_are_separate_rules():
    rb = load_rulebook("gb50180_2018")
    assert rb.extra["non_inclusive_levels"] is True
    by_level = {}
    for r in rb.rules:
        by_level.setdefault(r.level, []).append(r)
    assert set(by_level) == {"5", "10", "15"}
    for level, dist in (("5", 300), ("10", 500), ("15", 1000)):
        assert {rb.threshold_m(r) for r in by_level[level]} == {dist}, level
    # ▲ required, △ as needed (托儿所 and 社区卫生服务站 at the five-minute level)
    assert rb.rule("lc5_childcare").required == "as_needed" and rb.rule("lc5_clinic").required == "as_needed"
    for rid in (
        "lc5_multi_sport",
        "lc5_shops",
        "lc10_bus_stop",
        "lc15_outpatient",
        "lc15_nursing_home",
        "lc15_bus_stop",
    ):
        assert rb.rule(rid).required == "required", rid
    assert rb.rule("lc5_elderly_care").facility_type == "elderly_day_care"
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


def test_rugao_profile_adds_the_plans_15_minute_facilities():
    rb = load_rulebook("rugao_2023")
    base = load_rulebook("complete_community_2020")
    assert rb.extends[0].endswith("complete_community_2020.yaml")
    assert {r.id for r in base.rules} < {r.id for r in rb.rules}
    added = {r.id: r for r in rb.rules if r.id.startswith("rugao_")}
    assert {r.facility_type for r in added.values()} == {"primary_school", "middle_school", "elderly_home", "clinic"}
    assert rb.threshold_m(added["rugao_primary_school"]) == 500
    assert {rb.threshold_m(r) for k, r in added.items() if k != "rugao_primary_school"} == {1000}
    assert all("如皋" in r.source for r in added.values())
    assert rb.levels["complete_community"]["population"] == [5000, 12000]  # inherited


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
    (
        "facility_type: kindergarten\n        threshold_min: 5\n        required: maybe\n"
        "        source: {doc: X}\n        verified: true",
        "'required' should be true, 'conditional'",
    ),
    (
        "facility_type: car_parking\n        threshold_min: 5\n        check: supply\n"
        "        source: {doc: X}\n        verified: true",
        "'check: supply' needs a 'capacity'",
    ),
    (
        "facility_type: car_parking\n        threshold_min: 5\n        check: walk\n"
        "        source: {doc: X}\n        verified: true",
        "'check' should be one of",
    ),
    (
        "facility_type: car_parking\n        threshold_min: 5\n"
        "        capacity: {measure: capacity, demand: households, per: 1, basis: mine}\n"
        "        source: {doc: X}\n        verified: true",
        "'basis' should be one of",
    ),
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
          - id: service_centre_15min
            facility_type: community_service
            name_zh: 社区服务中心（十五分钟）
            threshold_m: 1000
            source: {doc: 本市规定, clause: 第5条}
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
    assert rb.rule("service_centre_15min").facility_type == "community_service"
    assert len(rb.rules) == len(base.rules)  # one removed, one added
    assert len(rb.checklist) == len(base.checklist)  # checklist inherited
    assert rb.extends == ["circles/rules/complete_community_2020.yaml", str(p)]
    assert any("kindergarten" in ch for ch in rb.changes) and any("service_centre_15min" in ch for ch in rb.changes)
    # the package's profile is untouched: the 300 m radius
    assert base.rule("kindergarten").distance_m == 300


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
          - id: library
            name_zh: 社区图书室
            name_en: Community library
            osm_tags: [{amenity: library}]
            name_regex_zh: "图书室|图书馆"
        rules:
          - {id: library, facility_type: library, threshold_min: 10, source: {doc: 本市规定}, verified: true}
    """,
    )
    rb = load_rulebook(p)
    assert "library" in rb.facility_types and "library" in rb.types_used()
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


# ----------------------------------------------------------------------------- issue 22: one distance convention


def test_life_circle_minutes_read_as_gb50180_distances():
    """GB 50180-2018 表 3.0.4: 5 / 10 / 15 minutes are 300 / 500 / 1,000 m (not 334 / 667 m), and a
    300 m rule is the 5-minute level: minutes and metres are one number per rule."""
    from circles.rulebook import load_life_circle

    lc = load_life_circle()
    assert lc["metres_by_minutes"] == {5.0: 300.0, 10.0: 500.0, 15.0: 1000.0}
    assert "GB 50180-2018" in lc["source"] and lc["verified"] is False  # a planner's reading [rec]
    rb = load_rulebook()
    assert rb.distance_reading == "life_circle"
    want = {"community_service": 500, "clinic": 500, "bus_stop": 500, "convenience_store": 300, "park_15min": 1000}
    for rid, metres in want.items():
        r = rb.rule(rid)
        assert rb.threshold_m(r) == metres, rid
        assert rb.threshold_minutes(r) * rb.speed_of(r) == pytest.approx(metres), rid
        assert rb.reading_of(r) == "life_circle"
    k = rb.rule("kindergarten")  # stated as 300 m
    assert rb.reading_of(k) == "metres" and rb.threshold_minutes(k) == pytest.approx(5.0)


def test_speed_reading_is_a_stated_option():
    rb = load_rulebook(distance_reading="speed")
    r = rb.rule("community_service")
    assert rb.reading_of(r) == "speed" and rb.threshold_m(r) == pytest.approx(10 * 66.7)
    # an explicit walking speed reads every minute rule by speed
    rb = load_rulebook(speed_override=50.0)
    assert rb.threshold_m(rb.rule("convenience_store")) == pytest.approx(250.0)
    with pytest.raises(ConfigError, match="distance_reading"):
        load_rulebook(distance_reading="fast")


def test_rules_command_prints_the_checked_numbers(capsys):
    from circles.cli import main

    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
    assert "4.497751" not in out and "667" not in out.split("checklist")[0]
    assert " 500 life_circle" in lines["community_service"]
    assert "—" in lines["car_parking"]  # item 10: a quantity, no walking distance


def test_distance_reading_flag(capsys):
    from circles.cli import main

    assert main(["rules", "--distance-reading", "speed"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("community_service"))
    assert " 667 " in line and " speed " in line


def test_childcare_places_are_cited_as_the_five_year_plan_target():
    c = load_rulebook().rule("childcare")
    assert "十四五" in c.requirement_zh and "非本标准原文" in c.requirement_zh
    assert "no source found" not in dict(c.number_sources).get("capacity", "")


def test_gb_park_sizes_are_new_build_figures():
    """GB 50180-2018 4.0.4 sets park sizes for new life circles; 4.0.5 lets old districts fall short:
    an existing community is never 规模不足 by them."""
    rb = load_rulebook("gb50180_2018")
    for rid in ("lc5_park", "lc10_park", "lc15_park"):
        r = rb.rule(rid)
        assert r.min_size_m2 is not None and r.applies_to == "new_communities" and not r.size_applies, rid
