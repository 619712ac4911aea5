"""The ledger printed: LibreOffice converts the workbook to PDF, poppler reads the pages back.

Needs ``soffice`` (LibreOffice Calc) and ``pdfinfo``/``pdftotext`` (poppler-utils): CI installs
them (``.ci/install_browser.sh``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from circles import ledger
from circles._labels import OFFICIAL_COLUMNS

A4_LANDSCAPE = (841.89, 595.28)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is needed to print the ledger (CI installs it: .ci/install_browser.sh)"
    return path


@pytest.fixture(scope="module")
def printed(tmp_path_factory, demo_result) -> tuple[Path, list[str]]:
    """Two demo communities' ledger as XLSX, converted to PDF; the PDF and its page texts."""
    tmp = tmp_path_factory.mktemp("print")
    comms = demo_result.communities[demo_result.communities["id"].isin(["way/860342589", "way/595108678"])]
    led = demo_result.ledger[demo_result.ledger["community_id"].isin(comms["id"])].reset_index(drop=True)
    xlsx = ledger.write_ledger_xlsx(led, tmp / "ledger.xlsx", comms, rulebook=demo_result.rulebook)
    profile = (tmp / "lo_profile").as_uri()
    subprocess.run(
        [_tool("soffice"), f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf", str(xlsx)],
        cwd=tmp,
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = tmp / "ledger.pdf"
    assert pdf.exists()
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    n = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    pages = [
        subprocess.run(
            [_tool("pdftotext"), "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for i in range(1, n + 1)
    ]
    return pdf, pages


def test_every_page_is_a4_landscape_with_a_page_number(printed):
    pdf, pages = printed
    out = subprocess.run(
        [_tool("pdfinfo"), "-f", "1", "-l", str(len(pages)), str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", out)
    assert len(sizes) == len(pages)
    for w, h in sizes:
        assert (float(w), float(h)) == pytest.approx(A4_LANDSCAPE, abs=1)
    for i, text in enumerate(pages, start=1):
        assert f"第 {i} 页，共 {len(pages)} 页" in text, i
        assert "完整社区建设工作台账" in text, i  # the page header


def test_every_sheet_is_printed_and_the_header_row_repeats(printed):
    _, pages = printed
    # sheets: 工作台账, 汇总, two communities, 数据 data, 说明
    for part in ("全部待办事项", "汇总", "静淑苑", "石科院生活区", "数据", "说明"):
        assert any(f"（{part}）" in p.splitlines()[0] for p in pages if p.strip()), part
    first = [p for p in pages if "（全部待办事项）" in p]
    assert len(first) >= 2, "the open items of two communities take more than one page"
    for p in first:
        assert "序号" in p and "标准要求" in p, "the header row is repeated on every page"


def test_first_sheet_is_one_page_wide_and_readable(printed):
    pdf, _ = printed
    xml = subprocess.run(
        [_tool("pdftotext"), "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    words = {
        m.group(5): (float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)))
        for m in re.finditer(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]+)<', xml)
    }
    headers = [v for k, v in OFFICIAL_COLUMNS.items() if k != "street"]
    # one page wide: every short header word of the first sheet is on page 1, left to right
    for h in ("序号", "社区", "类别", "事项", "现状", "缺口", "牵头单位", "责任单位", "标准要求", "依据", "备注"):
        assert h in words, h
    xs = [words[h][0] for h in ("序号", "社区", "现状", "牵头单位", "标准要求", "备注")]
    assert xs == sorted(xs)
    assert words["备注"][2] < A4_LANDSCAPE[0]
    # readable: a CJK character of the table is at least 6.5 points wide (about 7 pt type)
    x0, _, x1, _ = words["序号"]
    assert (x1 - x0) / 2 >= 6.5, f"header type {(x1 - x0) / 2:.1f} pt"
    assert len(headers) == 18
