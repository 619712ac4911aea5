"""The terminal summary of ``circles run``: its language, width, alignment and closing lines."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from circles import _summary, cli, figures, pipeline, report
from circles._labels import STATUS_EN, STATUS_ORDER, status_name
from circles._summary import display_width


def fake_paths(out: Path, report_pdf: bool = True) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    for name in ("gaps.png", "overview.png", "a.png"):
        (out / "figures" / name).write_bytes(b"")
    paths = {
        "gaps_xlsx": out / "gaps.xlsx",
        "ledger_xlsx": out / "ledger.xlsx",
        "map": out / "map.html",
        "community_maps": out / "community_maps",
        "figures": out / "figures",
    }
    if report_pdf:
        paths["report"] = out / "report.pdf"
    return paths


def char_at(line: str, col: int) -> str:
    """The character drawn at display column ``col`` ('' past the end)."""
    x = 0
    for ch in line:
        w = display_width(ch)
        if x <= col < x + w:
            return ch
        x += w
    return ""


def table(lines: list[str]) -> list[str]:
    """The header and rows of the status table (after its title)."""
    start = lines.index("") + 2
    return lines[start : lines.index("", start)]


def expected_counts(result) -> pd.DataFrame:
    return pd.crosstab(result.gaps["community_name"], result.gaps["status"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_table_fits_100_columns_and_is_aligned(demo_result, tmp_path, lang):
    lines = _summary.summary_lines(demo_result, fake_paths(tmp_path), lang, version="9.9", author="x")
    assert max(display_width(line) for line in lines) <= 100
    rows = table(lines)
    header = rows[0]
    statuses = [s for s in STATUS_ORDER if (demo_result.gaps["status"] == s).any()]
    ends = []
    for s in statuses:
        name = status_name(s, lang)
        i = header.index(name)
        ends.append(display_width(header[: i + len(name)]))
    counts = expected_counts(demo_result)
    names = list(demo_result.communities["name"].astype(str))
    seen = []
    for line in rows[1:]:
        if line.startswith(" "):  # a continued list of gap items
            continue
        name = next(n for n in names if line.startswith(n))
        seen.append(name)
        for s, end in zip(statuses, ends, strict=True):
            # every count ends in the column its header ends in, whatever the width of the name
            assert char_at(line, end - 1).isdigit() and char_at(line, end) in (" ", ""), (line, s)
            digits = "".join(char_at(line, c) for c in range(end - 4, end)).strip()
            assert int(digits) == int(counts.at[name, s]) if s in counts.columns else 0
    assert sorted(seen) == sorted(names)
    full = counts.reindex(columns=["gap", "undersized", "partial"], fill_value=0)
    bad = full["gap"] + full["undersized"]
    part = full["partial"]
    keys = [(int(bad[n]), int(part[n])) for n in seen]
    assert keys == sorted(keys, reverse=True)  # worst first


def test_chinese_summary_has_no_english_status_words(demo_result, tmp_path):
    text = "\n".join(_summary.summary_lines(demo_result, fake_paths(tmp_path), "zh", version="9.9"))
    words = {w for w in STATUS_EN.values()} | set(STATUS_EN) | {"gap items", "outputs", "communities"}
    found = [w for w in words if re.search(rf"(?<![\w.]){re.escape(w)}(?![\w.])", text, flags=re.IGNORECASE)]
    assert found == []
    assert "缺口" in text and "未见·待核实" in text and "社区" in text


def test_summary_says_which_types_were_judged_surveyed_and_why(demo_result, tmp_path):
    import dataclasses

    text = "\n".join(_summary.summary_lines(demo_result, fake_paths(tmp_path), "zh", version="9.9"))
    # the demo declares nothing: its OSM types are presence only, never judged surveyed
    assert "按已调查判定" not in text
    assert "未声明已调查（数据中的设施只证明“有”" in text and "幼儿园" in text.split("未声明已调查（")[1]
    declared = dataclasses.replace(demo_result, surveyed={"kindergarten"})
    text = "\n".join(_summary.summary_lines(declared, fake_paths(tmp_path), "zh", version="9.9"))
    line = next(x for x in text.splitlines() if "按已调查判定（--surveyed 声明）" in x)
    assert "幼儿园" in line


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_summary_names_communities_without_residents(demo_result, tmp_path, lang):
    """Communities with population 0 have nothing to measure: the summary says how many and names
    them (up to NO_RESIDENTS_NAMED), and says nothing of the kind when every one has residents."""
    import dataclasses

    lines = _summary.summary_lines(demo_result, fake_paths(tmp_path), lang, version="9.9")
    assert not any("population" in x and " 0" in x or "人口为 0" in x for x in lines)
    comm = demo_result.communities.copy()
    empty = list(comm.index[[1, 4]])
    comm.loc[empty, "population"] = 0.0
    text = "\n".join(
        _summary.summary_lines(
            dataclasses.replace(demo_result, communities=comm), fake_paths(tmp_path), lang, version="9.9"
        )
    )
    flat = text.replace("\n  ", "").replace("\n", "")
    head = (
        f"2 个社区（共 {len(comm)} 个）人口为 0" if lang == "zh" else f"2 of {len(comm)} communities have population 0"
    )
    assert head in flat
    names = [str(comm.loc[i, "name"]) for i in empty]
    assert all(n in flat.split(head)[1] for n in names)
    comm["population"] = 0.0
    text = "\n".join(
        _summary.summary_lines(
            dataclasses.replace(demo_result, communities=comm), fake_paths(tmp_path), lang, version="9.9"
        )
    )
    flat = text.replace("\n  ", "").replace("\n", "")
    shown = flat.split("人口为 0" if lang == "zh" else "have population 0")[1]
    assert sum(str(n) in shown.split("--population")[0] for n in comm["name"]) == _summary.NO_RESIDENTS_NAMED
    assert ("等" if lang == "zh" else "…") in shown


def test_gap_items_wrapped_or_counted(demo_result, tmp_path):
    rb = demo_result.rulebook
    gaps = demo_result.gaps
    for width in (100, 80):
        lines = _summary.summary_lines(demo_result, fake_paths(tmp_path), "zh", version="9.9", width=width)
        assert max(display_width(line) for line in lines) <= width
        rows = table(lines)
        for name, sub in gaps[gaps["status"] == "gap"].groupby("community_name"):
            i = next(k for k, line in enumerate(rows) if line.startswith(str(name)))
            block = rows[i] + "".join(line.strip() for line in rows[i + 1 : i + 3] if line.startswith(" "))
            items = [rb.rule(r).name_zh for r in sub["rule_id"]]
            assert all(it in block for it in items) or block.endswith(f"等{len(items)}项"), block


def test_closing_lines_name_the_file_to_open_first(demo_result, tmp_path):
    paths = fake_paths(tmp_path)
    zh = [line for line in _summary.summary_lines(demo_result, paths, "zh", version="9.9") if line]
    closing = "\n".join(zh[-6:])
    first = closing.index("先打开（总览地图）：")
    assert closing.index(str(paths["map"])) > first  # the overview map first …
    assert closing.index("给街道/部门（工作台账）：") > closing.index(str(paths["map"]))  # … then the ledger
    assert str(paths["ledger_xlsx"]) in closing and closing.endswith(str(paths["report"]))
    assert any("报告未填写编制单位" in line for line in zh)  # no --author
    en = [line for line in _summary.summary_lines(demo_result, paths, "en", version="9.9", author="x") if line]
    assert any(line.startswith("open first (overview map):") for line in en[-6:])
    assert not any("--author" in line for line in en)


def test_long_paths_stay_whole(demo_result, tmp_path):
    deep = tmp_path / ("很长的文件夹名称" * 6) / "results"
    paths = fake_paths(deep)
    lines = _summary.summary_lines(demo_result, paths, "zh", version="9.9")
    assert f"  {paths['map']}" in lines and f"  {paths['ledger_xlsx']}" in lines
    assert all(display_width(line) <= 100 for line in lines if not line.startswith(f"  {deep}"))


def test_display_width_and_wrap():
    assert display_width("社区a") == 5
    assert display_width("（估算）") == 8
    assert _summary.pad("社区", 6, "right") == "  社区"
    assert display_width(_summary.truncate("中建壹品·学府公馆", 9)) <= 9
    lines = _summary.wrap("输出：" + "、".join(["工作台账 ledger.xlsx"] * 8), 40, "  ")
    assert all(display_width(line) <= 40 for line in lines) and all(line.startswith("  ") for line in lines[1:])


@pytest.fixture
def cli_run(demo_result, monkeypatch, tmp_path):
    calls: dict = {}

    def write_outputs(result, out, **kw):
        calls.update(kw)
        return fake_paths(Path(out), report_pdf=kw["figures"])

    monkeypatch.setattr(pipeline, "analyse", lambda *a, **k: demo_result)
    monkeypatch.setattr(pipeline, "write_outputs", write_outputs)
    return calls


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_cli_prints_the_summary_in_the_map_language(cli_run, capsys, tmp_path, lang):
    assert cli.main(["run", "--lang", lang, "--author", "某区某街道办事处", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert cli_run["author"] == "某区某街道办事处" and cli_run["figures"] and cli_run["lang"] == lang
    assert cli_run["progress"] is False  # stderr is not a terminal here
    assert max(display_width(line) for line in out) <= 100
    assert any(line.startswith("先打开" if lang == "zh" else "open first") for line in out[-6:])


def test_cli_no_figures_skips_the_report(cli_run, capsys, tmp_path):
    assert cli.main(["run", "--no-figures", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert cli_run["figures"] is False and "report.pdf" not in out


def test_write_outputs_writes_figures_and_report_with_the_author(demo_result, tmp_path, monkeypatch):
    calls: dict = {}
    monkeypatch.setattr(figures, "context", lambda r, lang, **kw: calls.setdefault("context", (lang, kw)))
    monkeypatch.setattr(figures, "write_figures", lambda r, out, **kw: calls.setdefault("figures", (out, kw)))

    def write_report(r, path, **kw):
        calls["report"] = (path, kw)
        Path(path).write_bytes(b"%PDF")
        return Path(path)

    monkeypatch.setattr(report, "write_report", write_report)
    paths = pipeline.write_outputs(demo_result, tmp_path, figures=True, author="某街道", date="2026-01-02")
    assert calls["context"] == ("zh", {"author": "某街道", "date": "2026-01-02"})
    # written inside the run's temporary folder, moved into place at the end
    assert calls["figures"][0].name == "figures" and calls["report"][0].name == "report.pdf"
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF"
    assert paths["report"] == tmp_path / "report.pdf" and paths["figures"] == tmp_path / "figures"
    without = pipeline.write_outputs(demo_result, tmp_path / "b", figures=False)
    assert "report" not in without and not (tmp_path / "b" / "report.pdf").exists()


def test_scenario_tables_align_cjk_and_round_for_reading():
    """The what-if and site tables: columns aligned by display width (a Chinese character is two
    columns), whole numbers rounded half up, minutes to one decimal."""
    from circles._summary import display_width, minutes_text, table_lines, whole

    assert whole(1130.5) == "1131" and whole(1408.1) == "1408" and whole(float("nan")) == ""
    assert minutes_text(4.49775) == "4.5" and minutes_text(10.0) == "10"
    lines = table_lines(("社区", "新覆盖（人）"), [["静淑苑", "1408"], ["a", "7"]], right=(1,))
    assert len({display_width(x) for x in lines}) == 1  # every row as wide: the right column aligned
    assert lines[2].endswith("   7") and lines[1].startswith("静淑苑")
