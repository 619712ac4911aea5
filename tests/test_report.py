"""The printed report: pages, A4, embedded TrueType CJK fonts, text, page numbers, nothing clipped."""

from __future__ import annotations

import re
import subprocess
import weakref

import pytest
from helpers import layout_problems, trimmed_result

from circles import _typeset, figures, report
from circles._labels import STATUS_MEANING, status_name

AUTHOR = "测试区示范街道办事处"
DATE = "2026-01-02"


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=True)


def page_text(pdf, page: int | None = None) -> str:
    args = ["pdftotext", "-layout"] + (["-f", str(page), "-l", str(page)] if page else []) + [str(pdf), "-"]
    return run(*args).stdout


def n_pages(pdf) -> int:
    return int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", str(pdf)).stdout).group(1))


@pytest.fixture(scope="module")
def demo_report(demo_result, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.pdf"
    return report.write_report(demo_result, path, lang="zh", author=AUTHOR, date=DATE)


def test_pages_and_a4(demo_report, demo_result):
    pages = n_pages(demo_report)
    firsts = [page_text(demo_report, i).strip().splitlines()[0] for i in range(1, pages + 1)]
    assert firsts[0].strip() == "社区生活圈配套设施步行可达性评估报告"
    assert firsts[1].strip() == "各社区配套缺口一览"  # the first figure: gaps per community
    assert firsts[2].strip().startswith("总览图")
    names = [str(n) for n in demo_result.communities["name"]]
    texts = [re.sub(r"\s+", "", page_text(demo_report, i)) for i in range(4, pages + 1)]
    community_pages = [f for f, t in zip(firsts[3:], texts, strict=True) if "配套状态（续）" not in t]
    assert sorted(f.split(" · ")[0].strip() for f in community_pages) == sorted(names)  # one page each …
    assert all(f.split(" · ")[0].strip() in names for f in firsts[3:])  # … plus continuations
    sizes = run("pdfinfo", "-f", "1", "-l", str(pages), str(demo_report)).stdout
    found = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", sizes)
    assert len(found) == pages
    assert all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in found)  # A4 portrait
    for i in range(1, pages + 1):
        assert f"第 {i} 页 / 共 {pages} 页" in page_text(demo_report, i)


def test_the_font_subset_holds_the_typesetting_toolkits_characters(demo_result):
    """The report's font subset holds every character of the modules that write its text, the
    typesetting toolkit too: its "…" ends a truncated name (checked on the toolkit's whole source,
    as the report reads it)."""
    from pathlib import Path

    chars = report.report_characters(figures.context(trimmed_result(demo_result, 1), "zh", date=DATE))
    source = Path(_typeset.__file__).read_text(encoding="utf-8")
    assert {c for c in source if c.isprintable()} <= chars
    assert _typeset.Typesetter(["DejaVu Sans"]).truncate("x" * 40, 20, 8).endswith("…") and "…" in chars


def test_chinese_font_embedded_as_truetype(demo_report):
    out = subprocess.run(["pdffonts", str(demo_report)], capture_output=True, text=True, check=True)
    rows = [line.split() for line in out.stdout.splitlines()[2:] if line.strip()]
    assert rows, out.stdout
    assert any("CJK" in r[0] for r in rows)  # the Chinese font …
    for r in rows:
        line = " ".join(r)
        assert "CID TrueType" in line, line  # … as TrueType (Type 42), never Type 3 or CFF
        assert r[-5] == "yes", line  # embedded
    assert "Mismatch" not in out.stderr  # a CFF font declared as TrueType would be reported here


def test_cover_summarises_the_run(demo_report, demo_result):
    text = page_text(demo_report, 1)
    flat = re.sub(r"\s+", "", text)
    assert "社区生活圈配套设施步行可达性评估报告" in flat
    assert AUTHOR in flat and DATE in flat
    assert "©OpenStreetMapcontributors" in flat
    for f in ("communities.geojson", "facilities.geojson", "cau_haidian.osm.bz2", "buildings.geojson"):
        assert f in flat
    gaps = demo_result.gaps
    for s in gaps["status"].unique():
        n = int((gaps["status"] == s).sum())
        c = int(gaps.loc[gaps["status"] == s, "community_id"].nunique())
        assert f"{status_name(s, 'zh')}{n}项次（涉及{c}个社区）" in flat
    for s in ("no_data", "conditional", "as_needed"):
        assert re.sub(r"\s+", "", STATUS_MEANING["zh"][s]) in flat
    # the 一老一幼 items come first in the items table
    rules = demo_result.rulebook.rules
    ec = [r.name_zh for r in rules if r.elderly_child]
    other = [r.name_zh for r in rules if not r.elderly_child]
    assert max(flat.index("★" + n) for n in ec) < min(flat.index(n) for n in other)


def test_one_page_per_community_with_its_table(demo_report, demo_result):
    gaps = demo_result.gaps
    comm = demo_result.communities
    texts = [re.sub(r"\s+", "", page_text(demo_report, i)) for i in range(4, n_pages(demo_report) + 1)]
    for _, c in comm.iterrows():
        page = next(t for t in texts if t.startswith(str(c["name"])))
        est = "（估算）" if c["population_estimated"] else ""
        assert f"人口{c['population']:,.0f}{est}" in page
        sub = gaps[gaps["community_id"] == c["id"]]
        for r in sub.itertuples():
            rule = demo_result.rulebook.rule(r.rule_id)
            assert rule.name_zh in page
        # every status of the community is written in its table
        for s, n in sub["status"].value_counts().items():
            assert page.count(status_name(s, "zh")) >= n


def test_every_page_fits(demo_result):
    cid = str(demo_result.communities["id"].iloc[0])
    long = "某某市某某区某某街道某某社区居民委员会第一网格东区北苑小区（含回迁安置房）"
    small = trimmed_result(demo_result, 2, {cid: long})
    ctx = figures.context(small, "zh", author=AUTHOR, date=DATE)
    pages = report.plan_pages(ctx)
    for i, page in enumerate(pages):
        fig = page(f"第 {i + 1} 页 / 共 {len(pages)} 页")
        assert layout_problems(fig, dpi=100) == [], i


def test_long_table_continues_on_the_next_page(demo_result, tmp_path, monkeypatch):
    """A community table too long for its page goes on, with its header, on the next page."""
    small = trimmed_result(demo_result, 1)
    ctx = figures.context(small, "zh", date=DATE)
    real = figures.status_table

    def long_table(c, focus, width, size):
        t = real(c, focus, width, size)
        return _typeset.Table(t.header, t.rows * 4, t.widths, t.align, (t.fills or []) * 4, t.size)

    monkeypatch.setattr(figures, "status_table", long_table)
    path = report.write_report(small, tmp_path / "r.pdf", ctx=ctx)
    pages = n_pages(path)
    assert pages >= 5  # cover, gaps, overview, the community and at least one continuation
    last = re.sub(r"\s+", "", page_text(path, pages))
    assert "（续）" in last and "项目" in last  # the header is repeated
    rows = sum(re.sub(r"\s+", "", page_text(path, i)).count("★幼儿园") for i in range(4, pages + 1))
    assert rows == 4  # every row printed once


def test_same_inputs_same_bytes(demo_result, tmp_path):
    small = trimmed_result(demo_result, 1)
    a = report.write_report(small, tmp_path / "a.pdf", author=AUTHOR, date=DATE)
    b = report.write_report(small, tmp_path / "b.pdf", author=AUTHOR, date=DATE)
    assert a.read_bytes() == b.read_bytes()


def test_date_from_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01T00:00:00Z
    assert figures.report_date() == "2026-01-01"
    assert figures.report_date("2025-12-31") == "2025-12-31"


def test_pages_are_drawn_one_at_a_time(demo_result, tmp_path, monkeypatch):
    """Every page is written and released before the next is drawn (memory stays flat)."""
    small = trimmed_result(demo_result, 1)
    alive: list[weakref.ref] = []
    most = []
    real_plan = report.plan_pages

    def tracking_plan(ctx):
        def wrap(page):
            def draw(label):
                import gc

                gc.collect()
                most.append(sum(1 for r in alive if r() is not None))
                fig = page(label)
                alive.append(weakref.ref(fig))
                return fig

            return draw

        return [wrap(p) for p in real_plan(ctx)]

    monkeypatch.setattr(report, "plan_pages", tracking_plan)
    report.write_report(small, tmp_path / "r.pdf", date=DATE)
    assert len(most) == n_pages(tmp_path / "r.pdf") and max(most) <= 1


def test_english_report_and_progress(demo_result, tmp_path, capsys):
    small = trimmed_result(demo_result, 1)
    path = report.write_report(small, tmp_path / "en.pdf", lang="en", date=DATE)
    assert "report" not in capsys.readouterr().err  # no progress bar unless asked
    text = re.sub(r"\s+", " ", page_text(path, 1))
    assert "Walking access to community facilities" in text and "Page 1 of" in text
    assert "no data: none of this type in the input" in text
    report.write_report(small, tmp_path / "zh.pdf", date=DATE, progress=True)
    assert "报告" in capsys.readouterr().err


def test_a_font_that_cannot_be_subset_still_gives_a_report(demo_result, tmp_path, monkeypatch, caplog):
    def broken(family, chars):
        raise ValueError("unsupported font")

    monkeypatch.setattr(report, "pdf_font", broken)
    small = trimmed_result(demo_result, 1)
    path = report.write_report(small, tmp_path / "r.pdf", date=DATE)
    assert n_pages(path) >= 4 and "could not make a TrueType subset" in caplog.text


def test_font_cache_keeps_the_recent_subsets(tmp_path):
    import os

    for i in range(6):
        f = tmp_path / f"circles-cjk-{i:04d}-regular.ttf"
        f.write_bytes(b"x")
        os.utime(f, (1000 + i, 1000 + i))
    report._prune(tmp_path, keep=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"circles-cjk-{i:04d}-regular.ttf" for i in (2, 3, 4, 5)]


def test_without_a_chinese_font_the_report_and_the_summary_say_so(demo_result, tmp_path, monkeypatch, caplog):
    """The font lookup finds nothing: the report falls back to English and its first page says
    why the Chinese names are boxes; the run's closing summary warns too. With a font, neither."""
    from circles import _summary

    small = trimmed_result(demo_result, 1)
    paths = {"report": tmp_path / "r.pdf", "map": tmp_path / "map.html"}
    assert not any("中文字体" in line for line in _summary.summary_lines(small, paths, "zh"))
    monkeypatch.setattr(_typeset, "cjk_font", lambda: None)
    path = report.write_report(small, tmp_path / "r.pdf", lang="zh", date=DATE)
    first = re.sub(r"\s+", " ", page_text(path, 1))
    assert "no Chinese font was found" in first and "Walking access to community facilities" in first
    assert "no Chinese font was found" not in re.sub(r"\s+", " ", page_text(path, 2))
    assert "no CJK font found" in caplog.text
    lines = _summary.summary_lines(small, paths, "zh")
    assert any("未找到中文字体" in line for line in lines)
    # the warning comes before the lines that send the reader to the report
    warn = next(i for i, line in enumerate(lines) if "未找到中文字体" in line)
    assert warn < next(i for i, line in enumerate(lines) if "report.pdf" in line)
