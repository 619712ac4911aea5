"""Source categories -> facility types (circles._categories and config/poi_categories.yaml)."""

from __future__ import annotations

import pandas as pd
import pytest

from circles._categories import FACILITY_TYPES, GENERIC, categorise, load_categories, normalise_typecode
from circles.errors import ConfigError

EXPECTED_IDS = {
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
    "elderly_home",
    "primary_school",
    "middle_school",
    "waste_point",
    "public_toilet",
}


def types_of(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


# --------------------------------------------------------------------------- the packaged file


def test_packaged_mapping_is_valid_and_documented():
    assert set(FACILITY_TYPES) == EXPECTED_IDS
    cmap = load_categories()
    entries = (
        list(cmap.amap_codes.values())
        + list(cmap.amap_prefixes.values())
        + list(cmap.tags.values())
        + [e for _, e in cmap.keywords]
    )
    assert all(e.type in EXPECTED_IDS or e.type in (None, GENERIC) for e in entries)
    # every code/tag entry names where it came from; unverified ones exist and say so
    coded = list(cmap.amap_codes.values()) + list(cmap.amap_prefixes.values()) + list(cmap.tags.values())
    assert all(e.sources for e in coded)
    assert any(not e.verified for e in coded) and any(e.verified for e in coded)
    assert all(set(e.sources) <= set(cmap.sources) for e in coded)
    assert all(s.get("url") for s in cmap.sources.values())
    # every facility type can be reached by at least one keyword
    assert {e.type for _, e in cmap.keywords} >= EXPECTED_IDS


# --------------------------------------------------------------------------- Amap typecodes


@pytest.mark.parametrize(
    "code, expected",
    [
        ("011100", "ev_charging"),  # 汽车服务;充电站
        ("060200", "convenience_store"),  # 便民商店/便利店
        ("060400", "food_market"),  # 超级市场
        ("060703", "food_market"),  # 综合市场;农副产品市场
        ("070500", "parcel_point"),  # 物流速递
        ("080111", "fitness"),  # 运动场馆;健身中心
        ("090100", None),  # 综合医院 (prefix 0901): not primary care
        ("090300", "clinic"),  # 诊所
        ("090601", "pharmacy"),  # 医药保健销售店;药房 (prefix 0906, unverified)
        ("110101", "park"),  # 公园广场;公园
        ("141204", "kindergarten"),  # 学校;幼儿园
        ("150904", "car_parking"),  # 停车场;公共停车场 (prefix 1509)
        ("150909", None),  # 停车场出入口: not a second car park
        ("141203", "primary_school"),  # 小学
        ("050100", None),  # 中餐厅
        ("90300", "clinic"),  # Excel dropped the leading zero
        (90300, "clinic"),
        (90300.0, "clinic"),
    ],
)
def test_amap_single_codes(code, expected):
    df = pd.DataFrame({"typecode": [code]})
    types, report = categorise(df, typecode_col="typecode")
    assert types_of(types) == [expected]
    assert report.empty, "known codes (even non-facilities) are not reported as unknown"


def test_amap_joined_codes_match_each():
    df = pd.DataFrame({"typecode": ["060703|060706", "050100|060200", "999999|141204", " 070500 | 050000 "]})
    types, report = categorise(df, typecode_col="typecode")
    assert types_of(types) == ["food_market", "convenience_store", "kindergarten", "parcel_point"]
    assert report.empty, "rows that got a type report nothing"


def test_normalise_typecode():
    assert normalise_typecode("090300") == "090300"
    assert normalise_typecode(60200) == "060200"
    assert normalise_typecode("６０２００") == "060200"  # full-width digits
    assert normalise_typecode("abc") is None and normalise_typecode("0903") is None
    assert normalise_typecode(None) is None and normalise_typecode(float("nan")) is None


# --------------------------------------------------------------------------- Baidu tags / Amap type names


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("医疗;诊所", "clinic"),
        ("医疗;药店", "pharmacy"),
        ("购物;超市", "food_market"),
        ("购物;便利店", "convenience_store"),
        ("交通设施;停车场", "car_parking"),
        ("交通设施;充电站", "ev_charging"),
        ("教育培训;幼儿园", "kindergarten"),
        ("旅游景点;公园", "park"),
        ("旅游景点;公园;城市公园", "park"),  # a third level falls back to the two-level tag
        ("生活服务;物流公司", "parcel_point"),
        ("运动健身;健身中心", "fitness"),
        ("医疗；诊所", "clinic"),  # full-width semicolon
        ("医疗保健服务;诊所;诊所", "clinic"),  # Amap type names work in the tag column too
        ("科教文化服务;学校;幼儿园", "kindergarten"),
        ("交通设施服务;停车场;停车场出入口", None),
        ("美食;中餐厅", None),
    ],
)
def test_baidu_tags_and_amap_type_names(tag, expected):
    types, report = categorise(pd.DataFrame({"tag": [tag]}), tag_col="tag")
    assert types_of(types) == [expected]
    assert report.empty


# --------------------------------------------------------------------------- keywords and precedence


@pytest.mark.parametrize(
    "name, expected",
    [
        ("迎新社区日间照料中心", "elderly_day_care"),  # the standard's conditional day-care centre
        ("孔庙社区居家养老服务驿站", "elderly_care"),  # 养老 before the parcel word 驿站
        ("阳光托儿所", "childcare"),  # 托儿所 is childcare, not kindergarten
        ("如皋市实验幼儿园", "kindergarten"),
        ("仙鹤社区卫生服务站", "clinic"),
        ("仙鹤社区卫生服务中心", "clinic"),  # not the community-service centre
        ("仙鹤社区服务中心", "community_service"),
        ("迎新社区居委会", "community_service"),
        ("迎新社区党群服务驿站", "community_service"),  # 党群 before 驿站
        ("菜鸟驿站(映江花园店)", "parcel_point"),
        ("中国邮政(如皋营业部)", "parcel_point"),
        ("中国邮政储蓄银行", None),  # veto: a bank
        ("瑞丰宠物医院", None),  # veto: not a clinic
        ("小区电动车充电桩", "ebike_charging"),  # 电动车充电 before 充电桩
        ("国家电网充电站", "ev_charging"),
        ("人民公园停车场", "car_parking"),  # a car park, not a park
        ("人民公园", "park"),
        ("苏果便利超市", "convenience_store"),  # 便利超市 before 超市
        ("华润万家超市", "food_market"),
        ("仙鹤农贸市场", "food_market"),
        ("老百姓大药房", "pharmacy"),
        ("全民健身广场", "fitness"),
        ("某某科技有限公司", None),
    ],
)
def test_keywords_in_names(name, expected):
    types, _ = categorise(pd.DataFrame({"name": [name]}), name_col="name")
    assert types_of(types) == [expected]


def test_precedence_type_then_code_then_tag_then_name():
    df = pd.DataFrame(
        {
            "type": ["幼儿园", None, None, None, "Clinic", "EV charging"],
            "typecode": ["090300", "090300", None, "999999", None, None],
            "tag": ["购物;超市", "购物;超市", "购物;超市", None, None, None],
            "name": ["菜鸟驿站", "菜鸟驿站", "菜鸟驿站", "菜鸟驿站", "x", "y"],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    types, report = categorise(df, typecode_col="typecode", tag_col="tag", type_col="type", name_col="name")
    assert types.dtype == "string" and list(types.index) == [10, 11, 12, 13, 14, 15]
    assert types_of(types) == ["kindergarten", "clinic", "food_market", "parcel_point", "clinic", "ev_charging"]
    assert report.empty  # row 13's unknown code was rescued by its name


def test_null_code_decides_and_generic_code_defers():
    df = pd.DataFrame({"typecode": ["050100", "090000"], "name": ["社区超市餐厅", "桂山镇社区卫生服务中心"]})
    types, report = categorise(df, typecode_col="typecode", name_col="name")
    # 050100 (restaurant) is a known non-facility: the name is not consulted;
    # 090000 (generic medical place) is too vague: the name decides.
    assert types_of(types) == [None, "clinic"]
    assert report.empty


def test_unknown_values_reported_with_counts():
    df = pd.DataFrame(
        {
            "typecode": ["999999", "999999", "999999", "abc", None, "141204"],
            "tag": [None, None, "外星;基地", None, "外星;基地", None],
            "name": ["甲", "乙", "丙", "丁", "丙", "某幼儿园"],
        }
    )
    types, report = categorise(df, typecode_col="typecode", tag_col="tag", name_col="name")
    assert types_of(types) == [None] * 5 + ["kindergarten"]
    assert list(report.columns) == ["source", "value", "count"]
    rows = {(r.source, r.value): r.count for r in report.itertuples()}
    assert rows[("amap_typecode", "999999")] == 3
    assert rows[("amap_typecode", "abc")] == 1
    assert rows[("tag", "外星;基地")] == 2
    assert rows[("name", "丙")] == 2
    assert report["count"].iloc[0] == 3, "most frequent first"


# --------------------------------------------------------------------------- user mappings


def test_extra_mapping_dict_overrides_packaged():
    df = pd.DataFrame({"typecode": ["141204", "777777"], "name": ["菜鸟驿站", "x"]})
    extra = {
        "amap": {"codes": {"141204": "childcare", "777777": {"type": "fitness", "label": "本地编码"}}},
    }
    types, report = categorise(df, typecode_col="typecode", extra_mappings=extra)
    assert types_of(types) == ["childcare", "fitness"]
    # keywords of the user come first: here a veto on 驿站 beats the packaged 菜鸟 → parcel_point
    types, _ = categorise(df, name_col="name", extra_mappings={"keywords": [{"word": "驿站", "type": None}]})
    assert types_of(types)[0] is None


def test_extra_mapping_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        'amap:\n  prefixes:\n    "0604": convenience_store\n'
        "baidu:\n  tags:\n    购物;超市: {type: convenience_store, sources: [memory_unverified]}\n"
        "keywords:\n  养老: childcare\n",
        encoding="utf-8",
    )
    df = pd.DataFrame({"typecode": ["060400"], "tag": ["购物;超市"], "name": ["养老院"]})
    assert types_of(categorise(df, typecode_col="typecode", extra_mappings=path)[0]) == ["convenience_store"]
    assert types_of(categorise(df, tag_col="tag", extra_mappings=str(path))[0]) == ["convenience_store"]
    assert types_of(categorise(df, name_col="name", extra_mappings=path)[0]) == ["childcare"]
    # the packaged mapping itself is unchanged afterwards
    assert types_of(categorise(df, typecode_col="typecode")[0]) == ["food_market"]


# --------------------------------------------------------------------------- loader errors


@pytest.mark.parametrize(
    "yaml_text, entry, words",
    [
        ('amap:\n  codes:\n    "090300": clinc\n', "amap.codes['090300']", "unknown facility type id 'clinc'"),
        (
            "baidu:\n  tags:\n    医疗;诊所: {type: hospital}\n",
            "baidu.tags['医疗;诊所']",
            "unknown facility type id 'hospital'",
        ),
        (
            "keywords:\n  - {word: 托管, type: after_school}\n",
            "keywords[0] (托管)",
            "unknown facility type id 'after_school'",
        ),
        ('amap:\n  codes:\n    "09030": clinic\n', "amap.codes['09030']", "bad code"),
        ('amap:\n  codes:\n    "09030x": clinic\n', "amap.codes['09030x']", "bad code"),
        ('amap:\n  prefixes:\n    "0903001": clinic\n', "amap.prefixes['0903001']", "bad code"),
        ("amap:\n  codes:\n    060200: convenience_store\n", "amap.codes[24704]", "quoted"),  # YAML read it as octal
        ('amap:\n  codes:\n    "090300": {type: clinic, sources: [nowhere]}\n', "amap.codes['090300']", "nowhere"),
        ("amap:\n  codez: {}\n", "amap", "codez"),
        ("mapping: {}\n", "top-level", "mapping"),
    ],
)
def test_loader_errors_name_file_and_entry(tmp_path, yaml_text, entry, words):
    path = tmp_path / "bad_categories.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_categories(path)
    msg = str(exc.value)
    assert str(path) in msg and entry in msg and words in msg, msg
    assert isinstance(exc.value, ValueError)
    # the same file given to categorise fails the same way
    with pytest.raises(ConfigError, match="bad_categories.yaml"):
        categorise(pd.DataFrame({"name": ["x"]}), name_col="name", extra_mappings=path)


def test_loader_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_categories(tmp_path / "nope.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("amap: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_categories(bad)


def test_categorise_argument_errors():
    df = pd.DataFrame({"name": ["x"]})
    with pytest.raises(ValueError, match="give at least one"):
        categorise(df)
    with pytest.raises(ValueError, match=r"typecode_col='typecode' is not a column.*'name'"):
        categorise(df, typecode_col="typecode")


# ------------------------------------------------------------------ issue 22: types that match the standard's facility


@pytest.mark.parametrize(
    "name, want",
    [
        ("北京京城皮肤病医院", None),  # a specialist hospital is not a 社区卫生服务站
        ("海淀医院", None),
        ("东升社区卫生服务中心", "clinic"),
        ("东升社区医院", "clinic"),
        ("中国邮政储蓄银行", None),  # a bank, not 邮件和快件寄递
        ("中国邮政", "parcel_point"),
        ("石科院小卖部", "convenience_store"),  # never a 综合超市
        ("如城敬老院", "elderly_home"),  # institutional care, not a 老年服务站
        ("仙鹤养老院", "elderly_home"),
        ("居家养老服务站", "elderly_care"),
        ("如皋市实验小学", "primary_school"),
        ("如城初级中学", "middle_school"),
    ],
)
def test_names_typed_as_the_standards_facility(name, want):
    df = pd.DataFrame({"name": [name]})
    got = types_of(categorise(df, name_col="name")[0])[0]
    assert got == want, name


@pytest.mark.parametrize(
    "tags, not_type",
    [
        ({"amenity": "hospital", "name": "北京京城皮肤病医院"}, "clinic"),
        ({"building": "hospital", "name": "北京熙仁医院"}, "clinic"),
        ({"amenity": "clinic", "name": "某某口腔医院"}, "clinic"),
        ({"amenity": "post_office", "name": "中国邮政储蓄银行"}, "parcel_point"),
        ({"shop": "supermarket", "name": "石科院小卖部"}, "food_market"),
        ({"amenity": "social_facility", "social_facility": "nursing_home", "name": "敬老院"}, "elderly_care"),
        ({"name": "仙鹤养老院"}, "elderly_care"),
    ],
)
def test_osm_tags_do_not_override_what_the_name_says(tags, not_type):
    from circles.extract import classify_facility
    from circles.rulebook import load_facility_types

    assert not_type not in {t for t, _ in classify_facility(tags, load_facility_types())}


def test_osm_community_health_centre_tagged_hospital_is_a_clinic():
    from circles.extract import classify_facility
    from circles.rulebook import load_facility_types

    tags = {"amenity": "hospital", "name": "中国农业大学东区社区卫生服务中心"}
    assert [t for t, _ in classify_facility(tags, load_facility_types())] == ["clinic"]
