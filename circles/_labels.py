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
#: ``reach_size_unverified``: residents reach one, but the size or capacity the rule checks is not
#: in the input (an open item: survey it, never 达标). ``unseen``: a type nobody declared surveyed
#: (facilities from OSM or a POI table are evidence of presence only) is not seen within reach of
#: some residents: verify on site, never a gap.
STATUSES = (
    "ok",
    "partial",
    "gap",
    "undersized",
    "reach_size_unverified",
    "unseen",
    "no_data",
    "to_assess",
    "conditional",
    "as_needed",
)

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
    # added with issue 26 (age groups: circles.population)
    "serves": "服务人群",
    "group_residents": "服务人群人数（估算）",
    "group_uncovered": "未覆盖服务人群（估算）",
    # added with issue 22 (verdicts claim only what was checked): codes, not sentences
    "no_data_reason": "无判定原因（代码）",
    "size_checked": "规模（容量）已核",
    "surveyed": "已声明调查",
    "distance_reading": "距离口径",
    # added with issue 22 item 4 (共建共享 only where it applies): the uncovered residents' nearest
    "uncovered_nearest_min": "未覆盖居民到最近设施步行时间中位数（分钟）",
    "uncovered_nearest_id": "未覆盖居民最近设施编号",
    "uncovered_nearest_community": "该设施所在社区编号",
}

STATUS_ZH = {
    "ok": "达标",
    "partial": "部分覆盖",
    "gap": "缺口",
    "undersized": "规模不足",
    "reach_size_unverified": "可达·规模待核",
    "unseen": "未见·待核实",
    "no_data": "无数据",
    "to_assess": "待评估",
    "conditional": "具备条件时配建",
    "as_needed": "按需配建",
}

#: The statuses in the order of the ledger and its summary: the gap first, then the others of
#: :data:`STATUSES` as listed there (open ones), met ("ok") last.
LEDGER_STATUS_ORDER = ("gap", *(s for s in STATUSES if s not in ("gap", "ok")), "ok")

#: How a walking threshold stated in minutes was read (the ledger's 检查口径), by reading code.
READING_ZH = {
    "life_circle": "（按GB 50180-2018生活圈步行距离）",
    "speed": "（按步速{speed}米/分钟折算）",
    "metres": "",
}

#: After a facility typed from its OpenStreetMap name alone (not its tags): the type is to verify.
NAME_MATCH_ZH = "（名称匹配·待核实）"

#: Where a community's residents and households figures come from (the ledger's Chinese sheets).
SOURCE_ZH = {"boundary": "边界文件", "estimate": "估算值", "unknown": "未知"}

#: Excel fill colour of each status (gap report and ledger).
STATUS_FILL = {
    "ok": "C6EFCE",
    "partial": "FFEB9C",
    "gap": "FFC7CE",
    "undersized": "F8CBAD",
    "reach_size_unverified": "DDEBF7",
    "unseen": "DDEBF7",
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
    "renovate": "提标改造",
    "revitalise": "盘活利用",
    "optimise": "优化网点布局",
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
    "survey_result": "核实结果（有/无）",
    "survey_name": "核实设施名称",
    "survey_location": "核实位置（地址或经度,纬度）",
    "survey_size": "核实面积（m²）或规模",
    "investment_wan": "投资估算（万元）",
    "in_plan": "是否已列入方案",
    "requirement": "标准要求",
    "basis": "依据",
    "remarks": "备注",
    "key": "台账编号",
}

#: Columns of the printed 工作台账 sheet (items that need action: gap, partial, undersized): the
#: plan's columns without the long reference texts (标准要求, 依据: on the 标准要求与依据 sheet,
#: keyed by 事项) and without 核实结果 (survey rows are on their own sheet).
#: 受影响居民 is left to the data sheet (缺口 says it in words: "全部342名居民…"), 类别 to the
#: 标准要求与依据 sheet (by 事项): the page keeps its width for the text people read and write.
ACTION_COLUMNS = tuple(
    k
    for k in OFFICIAL_COLUMNS
    if k
    not in (
        "requirement",
        "basis",
        "survey_result",
        "survey_name",
        "survey_location",
        "survey_size",
        "residents_affected",
        "category_zh",
    )
)
#: Columns of the printed 待核实事项 sheet (open items to survey or assess): what to check (缺口
#: says what is unknown and the measured reach; 现状's full measurement and the 建议措施 — always a
#: survey or an assessment here — are on the data sheet and in ledger.csv) and the 核实结果
#: officials write in (有/无, name, location, floor area or capacity).
SURVEY_COLUMNS = (
    "no",
    "street",
    "community_name",
    "category_zh",
    "item_name",
    "gap",
    "lead_unit",
    "person_in_charge",
    "deadline",
    "survey_result",
    "survey_name",
    "survey_location",
    "survey_size",
    "remarks",
    "key",
)
#: Headers of earlier ledgers still read back (header -> column key).
HEADER_ALIASES = {"核实结果": "survey_result"}
#: Words of the survey answers read back (:mod:`circles.survey`).
SURVEY_YES_NO = {"yes": ("有", "是", "已有"), "no": ("无", "没有", "否")}
SURVEY_WORDS = {
    "not_yes_no": "核实结果应以“有”或“无”开头",
    "no_name": "核实结果为“有”，但未填写核实设施名称",
    "outside": "核实位置不在该社区边界内（应为社区内的经度,纬度，或地址文字）",
    "bad_size": "无法读出面积或规模（应为数字，如 350 或 350平方米）",
    "no_match": "台账编号或社区、事项对应不到本次分析的社区和规则",
    "not_spatial": "该事项不按设施步行可达判定，核实结果仅作记录",
    "source": "台账核实（{file} {sheet}第{row}行）",
    "at_point": "位置为填报的经纬度",
    "estimated": "位置为估计：社区代表点（填报位置：{text}）",
    "problem": "{file} {sheet}第{row}行{col}列（{header}）：{reason}：{value}",
    "report": (
        "台账核实结果：{absent}项核实为无（按缺口判定），{present}处设施核实为有，{sized}处补充了规模，{bad}条无法采用"
    ),
}
#: Columns of the 标准要求与依据 sheet: one row per item and requirement text.
REFERENCE_COLUMNS = {
    "no": "序号",
    "category_zh": "类别",
    "item_name": "事项",
    "requirement": "标准要求",
    "basis": "依据",
    "communities": "适用社区",
}
#: The 填报 block above the printed tables: who filled the sheet in, and when.
FILL_IN_BLOCK = ("填报单位：", "填报人：", "联系电话：", "填报日期：")
#: Columns of the 居民意见 sheet (:func:`circles.opinions.opinions_table`, its note counts
#: keep their own headers).
OPINION_COLUMNS = {"community_name": "社区", "item_name": "事项", "texts": "意见内容"}

#: Headers of the columns and sheets of the month-to-month cycle (:mod:`circles.cycle`): the
#: carried ledger's change mark, the 已销号 sheet and the sheet of kept entries.
CYCLE_COLUMNS = {
    "ledger_change": "台账变化",
    "closed_on": "销号日期",
    "closed_how": "销号依据",
    "kept_reason": "保留原因",
    "source_cell": "原填报位置",
    "entries": "填报内容",
}
#: Words of the cycle, made once here.
CYCLE_WORDS = {
    "open_sheet": "工作台账",
    "closed_sheet": "已销号",
    "kept_sheet": "保留的填报",
    "new": "新增",
    "continued": "延续",
    "closed": "销号",
    "reported_done": "已报完成，待核验",
    "met_now": "本次分析已达标",
    "share_change": "覆盖率由{before:.1f}%升至{after:.1f}%（本次分析已达标）",
    "no_row": "新台账中已无此事项（规则或社区已变更）",
    "ambiguous": "社区与事项名称不唯一，无法定位到一行",
    "conflict": "同一事项在多处填写了不同内容（{sheet}第{row}行），此处保留未采用的一份",
    "no_key": "无社区、事项或台账编号，按人工添加行保留",
    "report": "读取上期台账{read}行：{carried}行的填报已延续，新增事项{new}项，销号{closed}项，保留的填报{kept}条",
    "unreadable": "上期台账中无法定位的行：{where}",
}
#: Headers of the 实施项目清单 sheet (:mod:`circles.projects`; the phase and month headers are made
#: from PROJECT_WORDS with their dates).
PROJECT_COLUMNS = {
    "no": "序号",
    "community_name": "社区",
    "project_no": "项目序号",
    "content": "建设内容",
    "items": "对应事项",
    "investment_wan": "计划投资（万元）",
    "leader": "分管领导",
    "section": "责任科室",
    "liaison": "联络员",
    "key": "台账编号",
}
#: Words of the 实施项目清单.
PROJECT_WORDS = {
    "sheet": "实施项目清单",
    "phase_head": "推进序时：{name}（{period}）",
    "phase_task_head": "推进序时：{task}",
    "month_head": "{year}年{month}月推进情况",
    "from_plan": "试点方案所列项目",
    "from_gaps": "本次分析需行动事项（按社区、事项归并）",
    "no_row": "新清单中已无此项目（方案或需行动事项已变更）",
    "notes": (
        "试点社区列方案所列项目，其他社区按社区、事项归并需行动事项；每月一列推进情况，只显示本期台账所在月份，"
        "其余月份列已隐藏（取消隐藏即可查看、填写），下月运行时全部延续"
    ),
    "survey_notes": (
        "待核实事项填写：有或无；为“有”时填设施名称、位置（地址，或经度,纬度）和面积（平方米）或规模（床、个）。"
        "下月以 --ledger 运行时：核实为无的按缺口判定，核实为有的作为设施计入分析（无经纬度时按社区代表点估计），"
        "填写有误的在 input_problems.csv 中逐格列出"
    ),
}
#: Headers of the monthly progress report (:mod:`circles.progress`) beyond the ledger's own.
PROGRESS_COLUMNS = {
    "state": "推进状态",
    "open": "待办",
    "overdue": "逾期",
    "reported_done": "已报完成待核验",
    "closed_month": "本月销号",
    "closed_total": "累计销号",
    "rate": "完成率",
    **CYCLE_COLUMNS,
}
#: Headers of the acceptance report (:mod:`circles.acceptance`).
ACCEPTANCE_COLUMNS = {
    "community_name": "社区",
    "item": "事项",
    "status_before": "基期状态",
    "status_after": "验收状态",
    "covered_before": "基期覆盖率",
    "covered_after": "验收覆盖率",
    "covered_change": "覆盖率变化",
    "residents_newly_covered": "新覆盖居民（人）",
    "residents_before": "基期覆盖居民（人）",
    "residents_after": "验收覆盖居民（人）",
    "change": "变化",
}
#: Words of the acceptance report.
ACCEPTANCE_WORDS = {
    "title": "完整社区建设考核验收：15分钟生活圈变化",
    "subtitle": "基期：{before}　验收：{after}　日期：{date}",
    "sheet_city": "总体指标",
    "sheet_items": "分社区事项",
    "map_title": "居民步行可达变化：",
    "before": "基期",
    "after": "验收",
    "map_key": "蓝点：{minutes}分钟内可达的居民点；红点：超出",
}
#: The acceptance report's words for the changes of :func:`circles.whatif.compare_gaps`.
ACCEPTANCE_CHANGES = {"unchanged": "无变化", "now ok": "已达标", "no longer ok": "不再达标", "changed": "状态变化"}
#: Words of the monthly progress report.
PROGRESS_WORDS = {
    "title": "完整社区建设工作推进情况月报",
    "as_of": "截至{date}",
    "total": "合计",
    "overdue": "逾期",
    "reported_done": "已报完成，待核验",
    "unclear_deadline": "完成时限无法识别",
    "under_way": "推进中",
    "not_reported": "未报送进展",
    "unit": "牵头单位：",
    "unit_line": "待办{open}项，其中逾期{overdue}项；本月销号{closed}项",
    "read": "读取{path}（{n}行）",
    "with_run": "按最新分析结果（{path}）销号",
    "no_data_sheet": "台账无数据表，第一张表的各行均按待办计",
    "sheet_street": "按街道",
    "sheet_unit": "按牵头单位",
    "sheet_community": "按社区",
    "sheet_overdue": "逾期事项",
    "sheet_closed": "本月销号",
    "sheet_open": "全部待办",
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
    **{s: STATUS_ZH[s] for s in LEDGER_STATUS_ORDER},  # the count of each status, headed by its word
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
    "reach_size_unverified": "可达，但输入未给出标准所查的面积或容量：规模待现场核实，不计为达标",
    "unseen": "数据中未见（此类设施未声明已调查，开放数据只证明“有”）：待现场核实，不等于缺口",
    "no_data": "无数据（未调查），不等于缺口",
    "to_assess": "待评估：清单项，或标准规定数量而输入未给出，需现场核查",
    "conditional": "具备条件时配建：标准写“具备条件的”，缺少不计为缺口",
    "as_needed": "按需配建：GB 50180-2018 △项，缺少不计为缺口",
    "ok": "达标",
}

#: What the suggested actions mean ({factor}: the share factor, {scale}: the population floor).
LEDGER_ACTION_MEANING = {
    "share": (
        "可共享的项目，未覆盖居民最近的设施位于相邻社区内、在阈值{factor}倍步行时间内；"
        "人口不足{scale}人的社区，此类基本公共服务设施在统筹范围内；或方案本身的措施"
    ),
    "survey": "补充调查、现场评估，或方案称已有而数据未显示",
    "consider": "具备条件时或按需配建：评估条件或需求",
    "optimise": "便民商业网点、公交站点：按居民分布优化网点布局（不以相邻社区共建共享代替）",
    "renovate": "方案所载现有设施：提标改造（核实位置后补录）",
    "revitalise": "方案所载现有设施（闲置或待利用）：盘活利用",
}

#: Titles of the ledger workbook's sheets and page headers.
LEDGER_TITLES = {
    "ledger": "工作台账",
    "title": "完整社区建设工作台账",
    "summary": "汇总",
    "survey": "待核实事项",
    "reference": "标准要求与依据",
    "opinions": "居民意见",
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

#: Colour-blind-safe (checked under simulated deutan, protan and tritan vision; Okabe–Ito hues):
#: good is blue, bad is orange to dark red in steps of lightness, never red against green. The
#: first four match the residents' REACH_COLOURS (ok = within, partial = double, gap = beyond).
STATUS_COLOURS = {
    "gap": "#A50026",
    "undersized": "#D55E00",
    "partial": "#E69F00",
    "ok": "#0072B2",
    "no_data": "#969696",
    "to_assess": "#542788",
    "reach_size_unverified": "#542788",  # to verify on site, as to_assess
    "unseen": "#542788",
    "conditional": "#b2abd2",
    "as_needed": "#d9d9d9",
}

#: Worst first: a community's colour is the worst status among its rules.
STATUS_ORDER = (
    "gap",
    "undersized",
    "partial",
    "unseen",
    "reach_size_unverified",
    "ok",
    "conditional",
    "as_needed",
    "to_assess",
    "no_data",
)

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

#: Statuses that count as a failing item (a community's colour on the overview is how many it has).
FAILING_STATUSES = ("gap", "undersized", "partial")

#: Resident dot colours relative to the selected item's threshold (colour-blind safe: blue,
#: orange, dark red differ in lightness too), and for residents the item says nothing about.
REACH_COLOURS = {
    "within": "#0072B2",
    "double": "#E69F00",
    "beyond": "#A50026",
    "unplaced": "#DDDDDD",
    "nodata": "#8C8C8C",
}

#: Sequential grey scale for the number of failing items: no hue the residents (blue, orange, red) or the
#: what-if marks use, so that each hue means one thing on a map.
FAIL_COLOURS = ("#F7F7F7", "#D9D9D9", "#A6A6A6", "#737373", "#404040")

#: The mark of a planned facility on the what-if map, per action.
PLANNED_ICONS = {"add": "★", "remove": "✕", "resize": "↕"}

#: What-if highlights (residents newly covered / no longer covered) and planned facilities.
CHANGE_COLOURS = {"newly": "#1B7837", "lost": "#C51B7D", "add": "#6A3D9A", "remove": "#444444", "resize": "#01665E"}

#: Proposed sites on the siting map.
SITE_COLOUR = "#6A3D9A"

#: Map labels added with the phone layout, the failing-item overview, what-if and siting maps.
MAP_LABELS = {
    "zh": {
        "item": "查看项目",
        "areas": "步行范围",
        "area_off": "关",
        "area_min": "{m}分",
        "area_m": "{m}米",
        "area_thr_min": "{m}分钟（{d}米）",
        "tab_legend": "图例",
        "tab_table": "各社区",
        "tab_layers": "图层",
        "tab_community": "本社区",
        "tab_changes": "变化",
        "tab_planned": "规划设施",
        "tab_sites": "选址",
        "open": "展开",
        "close": "收起",
        "within": "阈值内（已覆盖）",
        "double": "超出阈值，2倍以内",
        "beyond": "超出阈值2倍以上，或无可达设施",
        "ring": "黑圈 = 未覆盖",
        "unplaced": "未能接入步行路网（不计入）",
        "nodata": "无数据（灰色、无黑圈）",
        "nodata_note": "输入中没有此类设施，也未声明已调查：这不是缺口，居民点显示为“无数据”。",
        "nodata_some": "部分社区此项为“无数据”，其居民点显示为灰色。",
        "nodata_partial": "此类设施未经调查（输入中只有部分设施）：阈值内的居民点照常显示，其余为“无数据”，不算缺口。",
        "residents_for": "居民点：步行至「{item}」",
        "fails": "社区颜色 = 未达标项目数（{statuses}）",
        "fails_n": "{n}项未达标",
        "failing": "未达标",
        "map_failed": "地图生成失败：{why}",
        "many_residents": "居民点共{n}个，总览图不显示，请打开各社区图查看。",
        "many_areas": "步行范围数据较大，总览图不显示，请打开各社区图查看。",
        "no_area": "此项阈值（{thr}）没有对应的步行范围。",
        "area_of": "{type}的{thr}步行范围",
        "area_note": "步行范围：只显示所选项目的设施类型",
        "facilities_n": "{type}（{n}处）",
        "facilities_aside": "{type}（{n}处；虚线 = 未纳入计算）",
        "layers_residents": "居民点",
        "layers_communities": "社区边界",
        "layers_labels": "社区名称",
        "layers_streets": "步行路网",
        "layers_roadnames": "道路名称",
        "layers_facilities": "设施（按类型）",
        "only_selected": "只显示所选类型",
        "all_types": "显示全部类型",
        "minutes_to": "步行至各类设施",
        "covered": "已覆盖",
        "not_covered": "未覆盖",
        "none_reach": "搜索范围内无此类设施",
        "metres": "米",
        "threshold": "阈值",
        "status_n": "{n}个社区未达标",
        "whatif_title": "规划情景：实施后与现状对比",
        "whatif_sub": "颜色为实施后的情况；圈出的是因规划而改变的居民点",
        "newly": "因规划新覆盖（绿圈）",
        "lost": "因规划不再覆盖（品红圈）",
        "planned": "规划设施",
        "act_add": "新增",
        "act_remove": "撤除",
        "act_resize": "调整规模",
        "attach": "距最近道路（米）",
        "attach_warn": "距最近道路{m}米（超过{limit}米），步行时间从该道路起算，请核对位置",
        "not_placed": "未能接入步行路网，未计入：{why}",
        "no_effect": "未使任何居民新覆盖",
        "before": "现状",
        "after": "实施后",
        "newly_n": "新覆盖居民（人）",
        "lost_n": "不再覆盖（人）",
        "changes_none": "此情景下没有覆盖变化。",
        "scenario": "情景文件",
        "site_title": "选址建议：{item}",
        "site_sub": "编号为建议顺序；居民点为现状",
        "site": "建议选址",
        "rank": "序号",
        "serves": "服务社区",
        "street": "最近道路",
        "street_m": "距道路（米）",
        "unnamed_street": "（无名道路）",
        "site_covered": "新覆盖（人）",
        "site_share": "累计覆盖",
        "candidate": "候选点",
        "site_area": "建议选址的步行范围（{minutes} 分钟）",
        "site_newly": "建议选址新覆盖的居民点",
    },
    "en": {
        "item": "Item",
        "areas": "Walking area",
        "area_off": "off",
        "area_min": "{m} min",
        "area_m": "{m} m",
        "area_thr_min": "{m} min ({d} m)",
        "tab_legend": "Legend",
        "tab_table": "Communities",
        "tab_layers": "Layers",
        "tab_community": "This community",
        "tab_changes": "Changes",
        "tab_planned": "Planned",
        "tab_sites": "Sites",
        "open": "open",
        "close": "close",
        "within": "within the threshold (covered)",
        "double": "beyond, up to 2× the threshold",
        "beyond": "beyond 2× the threshold, or none within reach",
        "ring": "black ring = not covered",
        "unplaced": "not attached to the network (not counted)",
        "nodata": "no data (grey, no ring)",
        "nodata_note": "No facility of this type in the input and the type was not declared surveyed: "
        "this is not a gap; residents are drawn as 'no data'.",
        "nodata_some": "Some communities have no data for this item: their residents are grey.",
        "nodata_partial": "This type was not surveyed (the input has only some facilities of it): residents "
        "within the threshold are shown as usual, the others as 'no data', not as a gap.",
        "residents_for": "Residents: walk to '{item}'",
        "fails": "Community colour = items failing ({statuses})",
        "fails_n": "{n} failing",
        "failing": "failing",
        "map_failed": "map failed: {why}",
        "many_residents": "{n} resident points: not drawn on the overview; open a community's map.",
        "many_areas": "Walking areas are too large for the overview: open a community's map.",
        "no_area": "No walking area is drawn at this threshold ({thr}).",
        "area_of": "{type}: walking area, {thr}",
        "area_note": "walking areas: only the selected item's facility type",
        "facilities_n": "{type} ({n})",
        "facilities_aside": "{type} ({n}; dashed = set aside)",
        "layers_residents": "Residents",
        "layers_communities": "Community boundaries",
        "layers_labels": "Community names",
        "layers_streets": "Walking network",
        "layers_roadnames": "Street names",
        "layers_facilities": "Facilities by type",
        "only_selected": "selected type only",
        "all_types": "all types",
        "minutes_to": "walk to each type",
        "covered": "covered",
        "not_covered": "not covered",
        "none_reach": "none within reach",
        "metres": "m",
        "threshold": "threshold",
        "status_n": "{n} communities failing",
        "whatif_title": "Scenario: after the planned projects, compared with today",
        "whatif_sub": "Colours show the situation after the projects; rings mark residents whose coverage changes",
        "newly": "newly covered by the plan (green ring)",
        "lost": "no longer covered (magenta ring)",
        "planned": "Planned facilities",
        "act_add": "add",
        "act_remove": "remove",
        "act_resize": "resize",
        "attach": "distance to its street (m)",
        "attach_warn": "{m} m from the nearest street (more than {limit} m): walking starts at that street; "
        "check the location",
        "not_placed": "not attached to the network, not counted: {why}",
        "no_effect": "covers no resident who was not covered before",
        "before": "today",
        "after": "after",
        "newly_n": "residents newly covered",
        "lost_n": "no longer covered",
        "changes_none": "No change in coverage under this scenario.",
        "scenario": "scenario file",
        "site_title": "Proposed sites: {item}",
        "site_sub": "Numbers give the order of the proposal; residents as today",
        "site": "Proposed site",
        "rank": "rank",
        "serves": "serves",
        "street": "nearest street",
        "street_m": "to the street (m)",
        "unnamed_street": "(unnamed street)",
        "site_covered": "residents newly covered",
        "site_share": "covered share (cumulative)",
        "candidate": "candidate",
        "site_area": "walking area of a proposed site ({minutes} min)",
        "site_newly": "resident points a proposed site newly covers",
    },
}

#: Words of the live what-if in the community maps (placing a planned facility in the page).
LIVE_LABELS = {
    "zh": {
        "live_place": "＋ 放置",
        "live_choose": "推演社区…",
        "live_choose_hint": "推演：先选一个社区（或在社区内点按放置），再放置规划设施",
        "live_place_hint": "打开后，点按地图放置规划设施（长按或右键随时可放）；拖动可移动，点按可删除",
        "live_undo": "撤销",
        "live_reset": "重置",
        "live_export": "导出方案",
        "live_export_hint": "下载方案 GeoJSON（circles whatif --scenario 可读）",
        "live_planned": "规划",
        "live_closed": "模拟关闭",
        "live_reached": "方案下{thr}内可达{type}的街道",
        "live_close": "模拟关闭此设施",
        "live_tap_remove": "点按删除",
        "live_share": "覆盖",
        "live_status": "状态",
        "live_newly": "新覆盖 {n} 人",
        "live_lost": "不再覆盖 {n} 人",
        "live_hint": "放置规划设施看看效果",
        "projector": "投影",
        "projector_hint": "投影模式：大字、大点（地址加 ?projector=1 直接打开）",
        "threshold": "阈值",
        "nodata_short": "无数据",
        "community_status": "本社区状况 ›",
        "note_mode": "✎ 记意见",
        "note_hint": "打开后点按地图记下居民意见（缺什么 / 哪里不方便 / 建议设在这里）；保存在本浏览器",
        "note_export": "导出意见",
        "note_title": "居民意见",
        "note_missing": "缺什么",
        "note_inconvenient": "哪里不方便",
        "note_site_here": "建议设在这里",
        "note_placeholder": "写下意见…",
        "note_save": "保存",
        "note_delete": "删除",
        "opinions_line": "居民意见：{n} 条，按社区和项目汇总 → {path}",
    },
    "en": {
        "live_place": "+ Place",
        "live_choose": "What-if in…",
        "live_choose_hint": "What-if: choose a community (or place inside one), then place a planned facility",
        "live_place_hint": "When on, tap the map to place a planned facility (long press or right click any time); "
        "drag to move it, tap it to remove it",
        "live_undo": "Undo",
        "live_reset": "Reset",
        "live_export": "Export scenario",
        "live_export_hint": "Download the scenario as GeoJSON (read by circles whatif --scenario)",
        "live_planned": "planned",
        "live_closed": "closed (scenario)",
        "live_reached": "Streets within {thr} of a {type} under the scenario",
        "live_close": "Close this facility (scenario)",
        "live_tap_remove": "tap to remove",
        "live_share": "Covered",
        "live_status": "status",
        "live_newly": "{n} newly covered",
        "live_lost": "{n} no longer covered",
        "live_hint": "place a planned facility to see its effect",
        "projector": "Projector",
        "projector_hint": "Projector mode: large text and dots (add ?projector=1 to the address to open in it)",
        "threshold": "threshold",
        "nodata_short": "no data",
        "community_status": "this community ›",
        "note_mode": "✎ Note",
        "note_hint": "When on, tap the map to note a resident's opinion (missing / inconvenient / put it here); "
        "kept in this browser",
        "note_export": "Export notes",
        "note_title": "Resident's opinion",
        "note_missing": "What is missing",
        "note_inconvenient": "What is inconvenient",
        "note_site_here": "Put it here",
        "note_placeholder": "Write the opinion…",
        "note_save": "Save",
        "note_delete": "Delete",
        "opinions_line": "Residents' opinions: {n} notes, per community and item -> {path}",
    },
}

#: Planned facilities farther than this from their street get a warning in what-if outputs.
ATTACH_WARN_M = 100.0


STATUS_EN = {
    "ok": "ok",
    "partial": "partial",
    "gap": "gap",
    "undersized": "undersized",
    "reach_size_unverified": "reachable, size to verify",
    "unseen": "not seen, to verify",
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


# ---------------------------------------------------------------------------------------------
# Figures, the printed report and the terminal summary
# ---------------------------------------------------------------------------------------------

#: Residents on figures use REACH_COLOURS (above), as on the maps.

#: Facilities on figures: dark squares with the type's letter (never a status or minute colour);
#: the type residents are coloured by is black and larger.
FACILITY_ICON_COLOUR = "#4d4d4d"
FACILITY_FOCUS_COLOUR = "#000000"

#: Walking areas of the shown type on figures (teal: apart from every status colour).
WALK_AREA_COLOUR = "#01665e"

#: Streets on figures.
STREET_COLOUR = "#b3b3b3"

#: One mark per status, written in the cells of the gaps-per-community grid (readable in grey print).
STATUS_MARK = {
    "zh": {
        "gap": "缺",
        "undersized": "小",
        "reach_size_unverified": "核",
        "unseen": "未",
        "partial": "部",
        "ok": "达",
        "no_data": "无",
        "to_assess": "评",
        "conditional": "条",
        "as_needed": "需",
    },
    "en": {
        "gap": "G",
        "undersized": "U",
        "reach_size_unverified": "V",
        "unseen": "S",
        "partial": "P",
        "ok": "OK",
        "no_data": "–",
        "to_assess": "A",
        "conditional": "C",
        "as_needed": "N",
    },
}

#: What a status means, for the report's cover and the terminal.
STATUS_MEANING = {
    "zh": {
        "gap": "没有居民能在阈值内步行到达此类设施：需补建，或与相邻社区共建共享",
        "undersized": "居民在阈值内可达，但设施的规模、数量或供给低于标准",
        "reach_size_unverified": "居民在阈值内可达，但输入未给出标准所查的面积或容量：需现场核实规模，不计为达标",
        "unseen": "此类设施未声明已调查，部分或全部居民步行范围内未见：需现场核实，不等于缺口",
        "partial": "只有部分居民能在阈值内步行到达",
        "ok": "全部居民（或设定的目标比例）能在阈值内步行到达达标设施",
        "no_data": "输入中没有此类设施且未声明已调查：不是缺口，需补充调查",
        "to_assess": "无法从地图判断，需现场核查",
        "conditional": "标准要求“具备条件的”配建；未配建不计为缺口",
        "as_needed": "GB 50180—2018 中“根据实际情况按需配建”的项目；未配建不计为缺口",
    },
    "en": {
        "gap": "no resident reaches one within the threshold: build one, or share a neighbour's",
        "undersized": "residents reach one within the threshold, but its size, number or supply is short",
        "reach_size_unverified": "residents reach one, but the size or capacity the standard checks is not in the "
        "input: survey it, not met",
        "unseen": "the type was not declared surveyed and none is seen within reach of some residents: "
        "verify on site, not a gap",
        "partial": "only some residents reach one within the threshold",
        "ok": "all residents (or the target share) reach an adequate one within the threshold",
        "no_data": "none of this type in the input and not declared surveyed: not a gap, survey it",
        "to_assess": "cannot be judged from maps: assess on site",
        "conditional": "the standard asks for it only where conditions allow; absence is not a gap",
        "as_needed": "a GB 50180-2018 item built as needed; absence is not a gap",
    },
}

#: Text of the figures and the printed report.
REPORT_LABELS = {
    "zh": {
        "font_missing": "注意：本机未找到中文字体（可安装 fonts-noto-cjk）：本报告改为英文，中文名称显示为空白方框。"
        "装好字体后重新运行 circles run。",
        "report_title": "社区生活圈配套设施步行可达性评估报告",
        "overview_title": "总览图",
        "gaps_title": "各社区配套缺口一览",
        "gaps_subtitle": "每格为一个社区的一项配套要求；社区按缺口与规模不足项数排序；一老一幼项目在前",
        "gaps_count": "缺口/规模不足/部分覆盖项数",
        "author": "编制单位",
        "date": "日期",
        "data": "数据",
        "standard": "评价标准",
        "software": "软件",
        "not_given": "（未填写）",
        "osm": "© OpenStreetMap contributors（ODbL）",
        "page": "第 {n} 页 / 共 {total} 页",
        "households": "户数",
        "population": "人口",
        "estimated": "（估算）",
        "item": "项目",
        "threshold": "步行阈值",
        "status": "状态",
        "covered": "阈值内居民",
        "nearest": "最近设施分钟 中位/最长",
        "elderly_child": "一老一幼",
        "elderly_child_note": "★ 一老一幼项目",
        "continued": "（续）",
        "more_communities": "另有 {n} 个社区，见《各社区配套缺口一览》",
        "more_items": "另有 {n} 项，见 report.pdf",
        "counts_table": "各社区状态（项数）",
        "facilities": "设施（字母为类型）",
        "residents": "居民点：步行至「{type}」",
        "other_keys": "其他",
        "within": "{thr}内",
        "double": "超出阈值，{thr2}内",
        "beyond": "超过{thr2}或搜索范围内无",
        "beyond_ring": "黑圈：超出阈值",
        "no_data_dots": "无数据：输入中无此类设施（灰色，不是缺口）",
        "unplaced": "未能接入步行路网",
        "facility_unplaced": "空心虚线：未接入路网的设施",
        "other_facilities": "其他设施（类型见各社区图）",
        "walk_area": "「{type}」步行{minutes}分钟范围",
        "boundary": "社区边界（颜色 = 最差状态）：{status}",
        "other_communities": "其他社区边界",
        "streets": "步行路网",
        "subtitle": "居民点按步行至「{type}」的距离着色，阈值 {thr}",
        "subtitle_rule": "居民点按步行至「{type}」的距离着色，按「{rule}」阈值 {thr}",
        "subtitle_nodata": "「{type}」无数据：输入中无此类设施，居民点以灰色表示",
        "summary_title": "评估概况",
        "summary": "共评估 {n_comm} 个社区、{n_items} 项可由地图测算的配套要求（{n_pairs} 项次）。",
        "summary_status": "{status} {n} 项次（涉及 {c} 个社区）",
        "checklist": "另有 {n} 项（如物业管理、社区治理）无法从地图判断，在工作台账中列为“待评估”。",
        "items_table": "各项目的社区数（按状态）",
        "meanings": "状态说明",
        "notes": "说明",
        "pop_estimated": "{n} 个社区的人口为估算值（标“（估算）”），覆盖比例按估算人口计。",
        "unverified": "{n} 项要求的数值未经官方文本核实（见工作台账“提示”列），相关结论仅作提示。",
        "walk_note": "步行时间沿实际步行路网计算；居民点为住宅建筑或网格点。",
        "contents": "目录",
        "contents_gaps": "各社区配套缺口一览",
        "contents_overview": "总览图",
        "contents_communities": "各社区图与配套状态表",
        "pages": "第 {a}–{b} 页",
        "page_one": "第 {a} 页",
        "community_table": "配套状态",
        "legend": "图例",
        "sep": "、",
        "colon": "：",
        "north": "北",
    },
    "en": {
        "font_missing": "Note: no Chinese font was found on this computer (install fonts-noto-cjk, or Noto Sans "
        "CJK, WenQuanYi, SimHei): this report is in English and Chinese names (communities, facilities, "
        "streets) show as empty boxes. Install a font and run circles run again.",
        "report_title": "Walking access to community facilities: assessment report",
        "overview_title": "Overview",
        "gaps_title": "Gaps per community",
        "gaps_subtitle": "One cell per community and item; communities sorted by gaps and undersized "
        "items; elderly and child items first",
        "gaps_count": "gap/undersized/partial items",
        "author": "Prepared by",
        "date": "Date",
        "data": "Data",
        "standard": "Standard",
        "software": "Software",
        "not_given": "(not given)",
        "osm": "© OpenStreetMap contributors (ODbL)",
        "page": "Page {n} of {total}",
        "households": "households",
        "population": "population",
        "estimated": " (estimated)",
        "item": "Item",
        "threshold": "Walking threshold",
        "status": "Status",
        "covered": "Covered",
        "nearest": "Nearest facility, min median/max",
        "elderly_child": "Elderly & children",
        "elderly_child_note": "★ elderly and child items",
        "continued": " (continued)",
        "more_communities": "{n} more communities: see Gaps per community",
        "more_items": "{n} more items: see report.pdf",
        "counts_table": "Items per community and status",
        "facilities": "Facilities (letter = type)",
        "residents": "Residents: walk to {type}",
        "other_keys": "Other",
        "within": "within {thr}",
        "double": "beyond the threshold, within {thr2}",
        "beyond": "beyond {thr2}, or none within reach",
        "beyond_ring": "black ring: beyond the threshold",
        "no_data_dots": "no data: none of this type in the input (grey, not a gap)",
        "unplaced": "not attached to the network",
        "facility_unplaced": "hollow dashed: facility not on the network",
        "other_facilities": "other facilities (types on the community pages)",
        "walk_area": "{type}: {minutes} min walking area",
        "boundary": "community boundary (colour = worst status): {status}",
        "other_communities": "other communities",
        "streets": "walking network",
        "subtitle": "Residents coloured by walking distance to: {type}, threshold {thr}",
        "subtitle_rule": "Residents coloured by walking distance to: {type}, threshold of '{rule}' {thr}",
        "subtitle_nodata": "{type}: no data (none in the input), residents shown grey",
        "summary_title": "Summary",
        "summary": "{n_comm} communities assessed against {n_items} requirements measurable from maps "
        "({n_pairs} community-items).",
        "summary_status": "{status}: {n} community-items ({c} communities)",
        "checklist": "{n} more items (property management, governance …) cannot be judged from maps: "
        "'to assess' in the ledger.",
        "items_table": "Communities per item and status",
        "meanings": "What the statuses mean",
        "notes": "Notes",
        "pop_estimated": "The population of {n} communities is estimated (marked 'estimated'); shares use "
        "that estimate.",
        "unverified": "The numbers of {n} requirements are not verified against the official text (see the "
        "ledger's warning column): their findings are indications.",
        "walk_note": "Walking times follow the real street network; residents are residential buildings "
        "or grid points.",
        "contents": "Contents",
        "contents_gaps": "Gaps per community",
        "contents_overview": "Overview map",
        "contents_communities": "One map and status table per community",
        "pages": "pages {a}–{b}",
        "page_one": "page {a}",
        "community_table": "Facility status",
        "legend": "Legend",
        "sep": ", ",
        "colon": ": ",
        "north": "N",
    },
}

#: Text of the terminal summary printed by ``circles run``.
TERMINAL_LABELS = {
    "zh": {
        "head": "circles {version}：{n_comm} 个社区，{n_fac} 处设施（{n_aside} 处未纳入），{n_res} 个居民点，"
        "路网 {nodes} 节点 / {edges} 路段",
        "community": "社区",
        "gap_items": "缺口项目",
        "table_title": "各社区配套状态（项数，缺口多的在前）：",
        "more": "等{n}项",
        "more_rows": "……另有 {n} 个社区：见 ledger.xlsx 与 report.pdf",
        "estimated": "人口为估算值（见边界文件 population_method 字段）",
        "no_residents": "{n} 个社区（共 {total} 个）人口为 0，没有可测的居民，覆盖无法计算：{names}。"
        "请在边界文件 population 字段填写人口，或用 --population-raster / --population-totals 给出",
        "name_sep": "、",
        "names_more": "等",
        "no_data": "无数据（输入中没有、也未声明已调查的设施类型）：{types}",
        "no_data_hint": "若确已调查，用 --surveyed 声明（或在设施表 surveyed 字段标明），其缺失即计为缺口",
        "surveyed_declared": "按已调查判定（--surveyed 声明）：",
        "surveyed_field": "按已调查判定（设施表 surveyed 字段标明完整清单）：",
        "presence_only": "未声明已调查（数据中的设施只证明“有”，未见处为“未见·待核实”）：",
        "problems": "{n} 行输入未纳入，见：{path}",
        "warning": "警告：{text}",
        "outputs": "输出文件夹：{path}",
        "out_report": "报告 report.pdf（打印）",
        "out_ledger": "工作台账 ledger.xlsx",
        "out_gaps": "差距表 gaps.xlsx",
        "out_figures": "图件 figures/（{n} 张 PNG）",
        "out_maps": "地图 map.html 与 community_maps/（{n} 个社区）",
        "out_map_only": "总览地图 map.html（未逐社区出图：可用 --community-maps all 或社区 ID 指定）",
        "out_data": "数据 access.csv、facilities.csv、isochrones.geojson 等",
        "open_first": "先打开（总览地图）：{path}",
        "open_ledger": "给街道/部门（工作台账）：{path}",
        "open_report": "打印（报告）：{path}",
        "progress_figures": "图件",
        "progress_report": "报告",
        "sep": "、",
        "author_hint": "报告未填写编制单位：可用 --author 指定",
        "font_missing": "警告：未找到中文字体（可安装 fonts-noto-cjk）：报告与图件改为英文，中文名称显示为方框；"
        "装好字体后重新运行",
    },
    "en": {
        "head": "circles {version}: {n_comm} communities, {n_fac} facilities ({n_aside} set aside), "
        "{n_res} resident points, network {nodes} nodes / {edges} edges",
        "community": "community",
        "gap_items": "gap items",
        "table_title": "Items per community and status (most gaps first):",
        "more": " … ({n} items)",
        "more_rows": "… {n} more communities: see ledger.xlsx and report.pdf",
        "estimated": "population: estimated (see population_method in the boundaries file)",
        "no_residents": "{n} of {total} communities have population 0: no residents to measure, coverage "
        "cannot be computed: {names}. Give their population in the boundaries file's population field, or "
        "use --population-raster / --population-totals",
        "name_sep": ", ",
        "names_more": " …",
        "no_data": "no data (types not in the input and not declared surveyed): {types}",
        "no_data_hint": "if surveyed, declare them with --surveyed (or a true surveyed field in the facilities "
        "table): their absence is then a gap",
        "surveyed_declared": "judged as surveyed (declared with --surveyed): ",
        "surveyed_field": "judged as surveyed (surveyed field of the facilities table: a complete list): ",
        "presence_only": "not declared surveyed (facilities in the data show presence; elsewhere 'not seen, "
        "to verify'): ",
        "problems": "{n} input rows set aside, see: {path}",
        "warning": "WARNING: {text}",
        "outputs": "output folder: {path}",
        "out_report": "report.pdf (print)",
        "out_ledger": "ledger.xlsx (ledger)",
        "out_gaps": "gaps.xlsx (gap report)",
        "out_figures": "figures/ ({n} PNG)",
        "out_maps": "map.html and community_maps/ ({n} communities)",
        "out_map_only": "overview map.html (no community maps: ask with --community-maps all or IDs)",
        "out_data": "data: access.csv, facilities.csv, isochrones.geojson …",
        "open_first": "open first (overview map): {path}",
        "open_ledger": "for officials (ledger): {path}",
        "open_report": "to print (report): {path}",
        "progress_figures": "figures",
        "progress_report": "report",
        "sep": ", ",
        "author_hint": "the report names no author: pass --author",
        "font_missing": "WARNING: no Chinese font found (install fonts-noto-cjk): the report and figures are in "
        "English and Chinese names show as boxes; run again once a font is installed",
    },
}

#: The terminal text of ``circles whatif`` and ``circles site`` (tables laid out by
#: :mod:`circles._summary`): words, column heads and the actions of a scenario.
SCENARIO_TERMINAL: dict[str, dict[str, Any]] = {
    "zh": {
        "wi_planned": "规划设施（距道路：设施到步行起点所在道路的距离）：",
        "wi_cols": ("编号", "动作", "设施类型", "距道路（米）", "新覆盖（人）", "不再覆盖（人）"),
        "wi_actions": {"add": "新增", "remove": "撤除", "resize": "调整规模"},
        "wi_warning": "警告：规划设施 {id}：{text}",
        "wi_changes": "覆盖有变化的社区与项目：",
        "wi_change_cols": ("社区", "项目", "现状", "实施后", "覆盖率", "新覆盖（人）", "不再覆盖（人）"),
        "wi_none": "此情景下没有覆盖变化。",
        "wi_no_data": "{item}：现状未调查，状态保持“无数据”（规划不会制造缺口）；{n} 人新进入步行范围",
        "item_minutes": "{name}（{minutes}分钟）",
        "all_communities": "全部社区",
        "site_base": "{name}：现状 {share} 的 {total} 名居民在 {minutes} 分钟步行范围内",
        "site_covered_all": "已全部覆盖，无需新增",
        "site_no_candidate": "无候选点",
        "site_no_residents": "无居民",
        "site_best_k": "按要求给出 {n} 处（要求 {k} 处）",
        "site_target_met": "{n} 处使覆盖达到 {share}（目标 {target}）",
        "site_target_missed": "目标 {target} 无法由这些候选点达到：{n} 处最多达到 {share}",
        "site_cols": ("序号", "服务社区", "最近道路", "新覆盖（人）", "累计覆盖", "经度", "纬度"),
        "outputs_files": "输出：{paths}",
        "sep": "；",
    },
    "en": {
        "wi_planned": "planned facilities (to the street: from the facility to the street its walk starts on):",
        "wi_cols": ("id", "action", "type", "to street (m)", "newly covered", "no longer covered"),
        "wi_actions": {"add": "add", "remove": "remove", "resize": "resize"},
        "wi_warning": "WARNING: planned facility {id}: {text}",
        "wi_changes": "communities and items whose coverage changes:",
        "wi_change_cols": (
            "community",
            "item",
            "today",
            "after",
            "covered share",
            "newly covered",
            "no longer covered",
        ),
        "wi_none": "No change in coverage under this scenario.",
        "wi_no_data": "{item}: not surveyed today, so the statuses stay no data (a plan never creates gaps); "
        "{n} residents newly within reach",
        "item_minutes": "{name} ({minutes} min)",
        "all_communities": "all communities",
        "site_base": "{name}: {share} of {total} residents already within {minutes} min",
        "site_covered_all": "everyone placed is already covered",
        "site_no_candidate": "no candidate site",
        "site_no_residents": "no residents",
        "site_best_k": "best {n} of {k} site(s) asked",
        "site_target_met": "{n} site(s) bring coverage to {share} (target {target})",
        "site_target_missed": "target {target} cannot be reached from these candidates: best achievable {share} "
        "with {n} site(s)",
        "site_cols": ("rank", "serves", "nearest street", "newly covered", "covered share", "lon", "lat"),
        "outputs_files": "outputs: {paths}",
        "sep": "; ",
    },
}

#: What is proven about a siting answer (the ``guarantee`` column and the terminal).
SITING_GUARANTEE = {
    "en": {
        "optimal": "proven optimal (MILP, HiGHS)",
        "optimal_bound": "proven optimal (meets the {source})",
        "gap_k": "within {gap:.2%} of the optimum ({source}: at most {bound:.1f} residents)",
        "gap_n": "at most {extra} site(s) more than the minimum ({source}: at least {bound} needed)",
        "greedy_k": "greedy: ≥ 63% (1 − 1/e) of the best possible coverage with this many sites; "
        "no tighter bound known",
        "greedy_n": "greedy set cover: at most ln(n)+1 times the minimum number of sites; no tighter bound known",
        "src_milp": "MILP bound at the time limit",
        "src_greedy": "greedy bound",
        "label": "guarantee",
    },
    "zh": {
        "optimal": "已证明最优（混合整数规划，HiGHS）",
        "optimal_bound": "已证明最优（达到{source}）",
        "gap_k": "与最优解相差不超过 {gap:.2%}（{source}：最多 {bound:.1f} 人）",
        "gap_n": "最多比最少点位数多 {extra} 处（{source}：至少需要 {bound} 处）",
        "greedy_k": "贪心：不低于同样点位数最优覆盖的 63%（1 − 1/e）；无更紧的界",
        "greedy_n": "贪心集合覆盖：点位数不超过最少数的 ln(n)+1 倍；无更紧的界",
        "src_milp": "规划求解到时限时的界",
        "src_greedy": "贪心界",
        "label": "结果保证",
    },
}

#: Words of `circles site --inventory` (several items in existing spaces).
INVENTORY_LABELS = {
    "en": {
        "optimal": "proven optimal (MILP, HiGHS)",
        "gap": "within {gap:.2%} of the optimum ({source})",
        "no_bound": "greedy; no bound known",
        "src_milp": "MILP bound at the time limit",
        "src_lp": "LP relaxation bound",
        "action": "利用{space}（{area:g}平方米）设置{item}（需{need:g}平方米；同址共{n}项）",
        "why_small": "too small for every item",
        "why_nobody": "reaches no resident left uncovered by the items that fit",
        "why_other": "not needed: other spaces cover more within the area and budget",
        "head": "{n_pairs} item(s) in {n_spaces} of {n_all} space(s): {covered:.0f} residents newly covered "
        "(weighted {value:.0f}); {guarantee}",
        "budget": "cost {spent:g} of the budget {budget:g} 万元",
    },
    "zh": {
        "optimal": "已证明最优（混合整数规划，HiGHS）",
        "gap": "与最优解相差不超过 {gap:.2%}（{source}）",
        "no_bound": "贪心；无已知上界",
        "src_milp": "规划求解到时限时的界",
        "src_lp": "线性松弛上界",
        "action": "利用{space}（{area:g}平方米）设置{item}（需{need:g}平方米；同址共{n}项）",
        "why_small": "面积不足以容纳任何项目",
        "why_nobody": "可容纳的项目在此处不能新覆盖任何居民",
        "why_other": "未选用：在面积和预算内其他空间覆盖更多",
        "head": "{n_all} 处空间中选用 {n_spaces} 处，设置 {n_pairs} 项：新覆盖居民 {covered:.0f} 人"
        "（加权 {value:.0f}）；{guarantee}",
        "budget": "投资 {spent:g} 万元，预算 {budget:g} 万元",
    },
}

#: Terminal columns of `circles site --inventory`.
INVENTORY_COLUMNS = {
    "en": {
        "space_name": "space",
        "item_name": "item",
        "residents_newly_covered": "newly covered",
        "area_needed_m2": "m² needed",
        "space_area_m2": "space m²",
        "investment_wan": "cost (万元)",
    },
    "zh": {
        "space_name": "空间",
        "item_name": "项目",
        "residents_newly_covered": "新覆盖居民",
        "area_needed_m2": "需面积（平方米）",
        "space_area_m2": "空间面积（平方米）",
        "investment_wan": "投资估算（万元）",
    },
}

#: Chinese headers of the inventory plan workbook (`inventory_plan.xlsx`), every column.
INVENTORY_HEADERS_ZH = {
    "action_zh": "建议措施",
    "space_id": "空间编号",
    "space_name": "空间",
    "community_id": "社区编号",
    "community_name": "社区",
    "rule_id": "规则编号",
    "item_name": "项目",
    "elderly_child": "一老一幼",
    "residents_newly_covered": "新覆盖居民",
    "weight": "权重",
    "weight_reason": "权重依据",
    "area_needed_m2": "需面积（平方米）",
    "area_basis": "面积依据",
    "space_area_m2": "空间面积（平方米）",
    "investment_wan": "投资估算（万元）",
    "items_in_space": "同址项目数",
    "lon": "经度",
    "lat": "纬度",
    "guarantee": "结果保证",
}
