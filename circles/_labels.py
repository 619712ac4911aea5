"""Every name, header, status label and colour shown to a user, in one place.

Statuses, the Chinese headers of the gap report and the ledger, the map's labels and the
colours of statuses, facility types and walking minutes are defined here once and used by the
tables, workbooks, maps and figures alike. Facility type names come from
``circles/config/facility_types.yaml``.
"""

from __future__ import annotations

from typing import Any

#: Every status a rule can have for a community. ``conditional``: the standard asks for the item
#: only "where conditions allow" (具备条件的), and it is absent: reported, never a gap.
#: ``as_needed``: a GB 50180-2018 △ item (根据实际情况按需配建) that is absent: never a gap.
STATUSES = ("ok", "partial", "gap", "undersized", "no_data", "to_assess", "conditional", "as_needed")

#: Columns of the gap report, in order, with their Chinese headers (used in gaps.xlsx).
COLUMNS_ZH = {
    "community_id": "社区编号",
    "community_name": "社区名称",
    "rule_id": "规则编号",
    "facility_type": "设施类型",
    "facility_name_zh": "设施名称",
    "threshold_min": "步行时间阈值（分钟）",
    "speed_m_per_min": "步行速度（米/分钟）",
    "threshold_m": "阈值距离（米）",
    "status": "状态",
    "covered_share": "覆盖居民比例",
    "residents": "居民人数",
    "residents_uncovered": "未覆盖居民人数",
    "residents_unplaced": "未能定位居民人数",
    "population_estimated": "人口为估算值",
    "nearest_min_median": "最近设施步行时间中位数（分钟）",
    "nearest_min_max": "最近设施步行时间最大值（分钟）",
    "facilities_within": "阈值内设施数",
    "evidence": "依据",
    "verified": "标准数值已核实",
    "source": "标准出处",
    # added with the ledger (schema 2)
    "level": "生活圈层级",
    "item": "标准条目",
    "category": "类别",
    "households": "户数",
    "nearest_min_min": "最近居民到最近设施步行时间（分钟）",
    "nearest_facilities": "最近设施（步行时间、服务居民）",
    "min_size_m2": "最小规模（平方米）",
    "min_count": "最少设施数",
    "covered_share_adequate": "可达达标设施的居民比例",
    "residents_undersized": "仅可达规模不足设施的居民",
    "facilities_undersized": "阈值内规模不足设施数",
    "undersized_facilities": "规模不足设施",
    "supply_measure": "供给指标",
    "supply_accessible": "可达供给（两步移动搜索法）",
    "supply_target": "供给标准",
    "supply_unit": "供给单位",
    "supply_complete": "供给数据完整",
    "unverified": "未核实数值",
    "warning": "提示",
    # added with issue 12 (the standard read as written)
    "required": "配建要求",
    "check": "判定方式",
    "supply_basis": "供给口径",
    "facilities_own": "社区内设施数",
    "supply_own": "社区自有供给",
}

STATUS_ZH = {
    "ok": "达标",
    "partial": "部分覆盖",
    "gap": "缺口",
    "undersized": "规模不足",
    "no_data": "无数据",
    "to_assess": "待评估",
    "conditional": "具备条件时配建",
    "as_needed": "按需配建",
}

#: Excel fill colour of each status (gap report and ledger).
STATUS_FILL = {
    "ok": "C6EFCE",
    "partial": "FFEB9C",
    "gap": "FFC7CE",
    "undersized": "F8CBAD",
    "no_data": "D9D9D9",
    "to_assess": "DDEBF7",
    "conditional": "E4DFEC",
    "as_needed": "EDEDED",
}

#: Field names of a rule (``unverified``) in Chinese, for warnings.
FIELD_ZH = {
    "threshold_min": "步行时间阈值",
    "threshold_m": "步行距离阈值",
    "min_size_m2": "最小规模",
    "capacity": "供给标准",
    "min_count": "设施数量",
    "level": "层级归属",
    "name_zh": "条目名称",
    "required": "是否必配",
    "speed_profile": "步行速度",
    "applies_to": "适用范围",
    "check": "判定方式",
    "recommended_size_m2": "建议规模",
}

ACTION_ZH = {
    "new_build": "新建（补建）",
    "share": "与相邻社区共建共享",
    "upgrade": "提档升级（扩建扩容）",
    "survey": "补充调查或现场评估",
    "consider": "评估条件或需求后配建",
    "none": "保持",
}

PLAN_STATUS_ZH = {
    "in_plan": "已列入方案",
    "measure_listed": "方案举措已提及（未列项目）",
    "exists_per_plan": "方案称已有，位置待核实",
    "problem_listed": "方案已列问题（未列项目）",
    "new_finding": "新发现",
    "not_in_plan": "方案未涉及",
    "": "",
}

#: The official sheets of the ledger (工作台账): columns in the order the plan's ledger asks for,
#: with their Chinese headers. ``no`` (序号) is numbered per sheet; the other keys are columns of
#: :func:`circles.ledger.build_ledger` (and of ``ledger.csv``).
OFFICIAL_COLUMNS = {
    "no": "序号",
    "street": "街道",
    "community_name": "社区",
    "category_zh": "类别",
    "item_name": "事项",
    "current_state": "现状",
    "gap": "缺口",
    "residents_affected": "受影响居民",
    "action_zh": "建议措施",
    "lead_unit": "牵头单位",
    "responsible_units": "责任单位",
    "person_in_charge": "责任人",
    "deadline": "完成时限",
    "progress": "推进情况",
    "investment_wan": "投资估算（万元）",
    "in_plan": "是否已列入方案",
    "requirement": "标准要求",
    "basis": "依据",
    "remarks": "备注",
}

#: Every ledger column (``ledger.csv`` and the technical sheet), in order, with a Chinese
#: description: the official columns first, then the machine-readable ones.
LEDGER_COLUMNS = {
    **{k: v for k, v in OFFICIAL_COLUMNS.items() if k != "no"},
    "community_id": "社区编号",
    "priority": "社区内优先序",
    "rule_id": "规则编号",
    "facility_type": "设施类型",
    "item": "标准条目",
    "category": "类别代码",
    "level": "层级",
    "status": "状态代码",
    "status_zh": "状态",
    "required": "配建要求",
    "action": "措施代码",
    "plan_status": "方案关系代码",
    "plan_status_zh": "与试点方案关系",
    "plan_reference": "方案对应内容",
    "priority_group": "优先类别",
    "finding_kind": "结论性质",
    "warning": "提示",
    "verified": "标准数值已核实",
    "source": "标准出处",
    "evidence": "计算依据",
    "covered_share": "覆盖居民比例",
    "residents": "居民人数",
    "households": "户数",
    "population_source": "人口来源",
    "households_source": "户数来源",
    "below_scale": "低于完整社区人口规模",
}

#: Ledger columns that hold shares (shown as percentages) and booleans (shown as 是/否).
LEDGER_PERCENT = ("covered_share",)
LEDGER_BOOLEAN = ("in_plan", "verified", "below_scale")
YES_NO = {True: "是", False: "否"}

SUMMARY_COLUMNS = {
    "community_name": "社区",
    "street": "街道",
    "pilot": "对应试点社区",
    "residents": "居民人数",
    "population_source": "人口来源",
    "households": "户数",
    "households_source": "户数来源",
    "plan_area_km2": "方案面积（平方公里）",
    "boundary_area_km2": "边界面积（平方公里）",
    "gap": "缺口",
    "partial": "部分覆盖",
    "undersized": "规模不足",
    "no_data": "无数据",
    "to_assess": "待评估",
    "conditional": "具备条件时配建",
    "as_needed": "按需配建",
    "ok": "达标",
    "elderly_child_open": "一老一幼待解决项",
    "in_plan": "已列入方案",
    "new_finding": "新发现",
    "scale_note": "人口规模",
    "top_priorities": "优先事项（前五）",
    "community_id": "社区编号",
}

#: What each status means, for the ledger's notes sheet (in the ledger's order).
LEDGER_STATUS_MEANING = {
    "gap": "步行范围内无此设施（标准要求配建）",
    "partial": "部分居民超出步行范围",
    "undersized": "可达，但规模、数量或容量低于标准",
    "no_data": "无数据（未调查），不等于缺口",
    "to_assess": "待评估：清单项，或标准规定数量而输入未给出，需现场核查",
    "conditional": "具备条件时配建：标准写“具备条件的”，缺少不计为缺口",
    "as_needed": "按需配建：GB 50180-2018 △项，缺少不计为缺口",
    "ok": "达标",
}

#: What the suggested actions mean ({factor}: the share factor, {scale}: the population floor).
LEDGER_ACTION_MEANING = {
    "share": (
        "相邻设施在阈值{factor}倍步行时间内；人口不足{scale}人的社区，基本公共服务设施在统筹范围内；或方案本身的措施"
    ),
    "survey": "补充调查、现场评估，或方案称已有而数据未显示",
    "consider": "具备条件时或按需配建：评估条件或需求",
}

#: Titles of the ledger workbook's sheets and page headers.
LEDGER_TITLES = {
    "ledger": "工作台账",
    "title": "完整社区建设工作台账",
    "summary": "汇总",
    "data": "数据 data",
    "notes": "说明",
    "footer": "第 &P 页，共 &N 页",
    "date": "日期：",
    "print_date": "打印日期：&D",
}

ATTRIBUTION = "© OpenStreetMap contributors"

#: One colour per facility type (colour-blind-friendly first eight: Okabe–Ito).
TYPE_COLOURS = [
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#D55E00",
    "#0072B2",
    "#CC79A7",
    "#F0E442",
    "#000000",
    "#8C564B",
    "#17BECF",
    "#7F7F7F",
    "#BCBD22",
    "#9467BD",
    "#FF9896",
]

STATUS_COLOURS = {
    "gap": "#d73027",
    "undersized": "#f46d43",
    "partial": "#fdae61",
    "ok": "#1a9850",
    "no_data": "#999999",
    "to_assess": "#4575b4",
    "conditional": "#9e9ac8",
    "as_needed": "#bdbdbd",
}

#: Worst first: a community's colour is the worst status among its rules.
STATUS_ORDER = ("gap", "undersized", "partial", "ok", "conditional", "as_needed", "to_assess", "no_data")

#: Resident colour classes: walking minutes up to each bound, then beyond the last one.
MINUTE_BINS = (5, 10, 15, 30)

MINUTE_COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")

NONE_COLOUR = "#542788"  # no facility of the type within the search limit

UNPLACED_COLOUR = "#bdbdbd"  # resident point that could not be attached to the network

#: Letter on each facility type's icon (Chinese, English); other types use their name's start.
ICON_TEXT = {
    "elderly_care": ("老", "El"),
    "childcare": ("托", "Ch"),
    "kindergarten": ("幼", "K"),
    "clinic": ("医", "+"),
    "community_service": ("服", "CS"),
    "food_market": ("菜", "M"),
    "convenience_store": ("便", "S"),
    "parcel_point": ("快", "Pa"),
    "car_parking": ("停", "P"),
    "ev_charging": ("充", "EV"),
    "ebike_charging": ("电", "eB"),
    "fitness": ("健", "F"),
    "park": ("园", "Pk"),
    "school_primary": ("小", "PS"),
    "school_middle": ("中", "MS"),
    "sports": ("体", "Sp"),
    "culture": ("文", "Cu"),
    "pharmacy": ("药", "Ph"),
    "elderly_day_care": ("照", "DC"),
    "bus_stop": ("公", "B"),
    "canteen": ("食", "Ca"),
}

#: Facility columns shown in the popup when present (column -> (Chinese, English) label).
FACILITY_FIELDS = {"capacity": ("容量", "capacity"), "size_m2": ("规模（平方米）", "size (m²)")}

LABELS = {
    "zh": {
        "title": "社区生活圈步行可达性",
        "communities": "社区边界",
        "facilities": "设施",
        "streets": "步行路网",
        "residents": "居民点（按所选设施步行时间着色）",
        "walk_area": "步行范围",
        "min": "分钟",
        "legend": "图例",
        "status": "状态",
        "item": "项目",
        "share": "覆盖",
        "median": "中位时间",
        "colour_by": "居民点着色依据",
        "uncovered": "黑圈：超出所选设施的步行阈值（不可达）",
        "none": "搜索范围内无此类设施",
        "unplaced": "未能接入步行路网",
        "type": "类型",
        "name": "名称",
        "id": "编号",
        "source": "来源",
        "area": "占地面积（平方米）",
        "set_aside": "未纳入计算",
        "population": "人口",
        "estimated": "（估算）",
        "community": "社区",
        "overview": "← 总览图",
        "open_map": "社区图",
        "status_table": "各社区状态",
        "gap_table": "生活圈配套状态",
        "threshold": "阈值",
        "boundary": "社区边界颜色 = 最差状态",
        "other": "其他社区",
        "areas_note": "步行范围（按设施类型、分钟，可在图层中开关）",
        "resident": "居民点",
        "colon": "：",
        "unnamed": "（未命名）",
        "beyond": "超出阈值",
        "nodata": "无数据（输入中无此类设施）",
    },
    "en": {
        "title": "Walking access to community facilities",
        "communities": "Communities",
        "facilities": "Facilities",
        "streets": "Walking network",
        "residents": "Residents (coloured by walk to the selected type)",
        "walk_area": "walking area",
        "min": "min",
        "legend": "Legend",
        "status": "Status",
        "item": "Item",
        "share": "covered",
        "median": "median",
        "colour_by": "Colour residents by",
        "uncovered": "black ring: beyond the selected type's threshold (not covered)",
        "none": "none of this type within reach",
        "unplaced": "not attached to the network",
        "type": "type",
        "name": "name",
        "id": "id",
        "source": "source",
        "area": "footprint (m²)",
        "set_aside": "set aside",
        "population": "population",
        "estimated": " (estimated)",
        "community": "community",
        "overview": "← overview",
        "open_map": "map",
        "status_table": "Status per community",
        "gap_table": "Facility status",
        "threshold": "threshold",
        "boundary": "boundary colour = worst status",
        "other": "other communities",
        "areas_note": "walking areas (per type and minutes, toggle them in the layers)",
        "resident": "resident",
        "colon": ": ",
        "unnamed": "(unnamed)",
        "beyond": "beyond threshold",
        "nodata": "no data (none of this type in the input)",
    },
}

STATUS_EN = {
    "ok": "ok",
    "partial": "partial",
    "gap": "gap",
    "undersized": "undersized",
    "no_data": "no data",
    "to_assess": "to assess",
    "conditional": "where conditions allow",
    "as_needed": "as needed",
}

SUBTITLE = {
    "zh": "居民点按步行至「{type}」的时间着色（阈值 {thr} 分钟）",
    "en": "Residents coloured by walking time to: {type} (threshold {thr} min)",
}


def status_name(status: str, lang: str) -> str:
    """The status as shown to a reader: Chinese (``lang="zh"``) or English."""
    return STATUS_ZH.get(status, status) if lang == "zh" else STATUS_EN.get(status, status)


def rule_name(rule: Any, lang: str) -> str:
    """The one name of a rule's item, as every table, legend, popup, figure and the ledger show it."""
    return str(rule.name_zh if lang == "zh" else rule.name_en or rule.name_zh)


def type_name(ftype: Any, lang: str) -> str:
    """The one name of a facility type (a :class:`circles.rulebook.FacilityType`)."""
    return str(ftype.name_zh if lang == "zh" else ftype.name_en or ftype.name_zh)


def threshold_text(threshold_min: float, threshold_m: float, stated_in_metres: bool, lang: str) -> str:
    """A walking threshold the way its rule states it: "5分钟（300米）" for a rule in minutes,
    "300米" for a rule in metres (never "1.05 分钟" for a 70 m rule)."""
    m = f"{threshold_m:.0f}"
    if stated_in_metres:
        return f"{m}米" if lang == "zh" else f"{m} m"
    mins = f"{threshold_min:.3g}"
    return f"{mins}分钟（{m}米）" if lang == "zh" else f"{mins} min ({m} m)"
