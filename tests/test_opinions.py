"""Residents' opinions exported by the maps: read, placed in communities, counted per item."""

from __future__ import annotations

import json

import pytest

from circles import opinions
from circles.errors import InputError


def _write(path, feats) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")


def _note(nid, kind, lon, lat, **props):
    return {
        "type": "Feature",
        "properties": {"id": nid, "kind": kind, **props},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def test_notes_are_placed_and_counted(demo_result, tmp_path):
    comm = demo_result.communities.to_crs("EPSG:4326")
    inside = comm.geometry.iloc[3].representative_point()
    cid0, cid3 = str(comm["id"].iloc[0]), str(comm["id"].iloc[3])
    rule = demo_result.rulebook.rules[0]
    path = tmp_path / "opinions.geojson"
    _write(
        path,
        [
            _note("a", "missing", 0.0, 0.0, community_id=cid0, item=rule.id, text="没有幼儿园"),
            _note("b", "site_here", inside.x, inside.y, item=rule.id, text="设在这里"),
            _note("c", "inconvenient", inside.x, inside.y, item=rule.id),
            _note("d", "missing", 0.0, 0.0, item="nope"),
        ],
    )
    notes = opinions.read_opinions(path, demo_result.communities, demo_result.rulebook)
    by_id = notes.set_index("id")
    assert by_id.loc["a", "community_id"] == cid0  # named in the note
    assert by_id.loc["b", "community_id"] == cid3  # found by its location
    assert by_id.loc["d", "community_id"] == "" and by_id.loc["d", "rule_id"] == ""  # kept, outside
    table = opinions.opinions_table(notes)
    row = table[(table["community_id"] == cid3) & (table["rule_id"] == rule.id)].iloc[0]
    assert (row["缺什么"], row["哪里不方便"], row["建议设在这里"]) == (0, 1, 1)
    assert row["texts"] == "建议设在这里：设在这里"
    assert table["缺什么"].sum() + table["哪里不方便"].sum() + table["建议设在这里"].sum() == 4
    paths = opinions.write_opinions(notes, tmp_path)
    assert paths["opinions"].read_text(encoding="utf-8-sig").count("\n") == 5


def test_bad_notes_are_refused_with_their_id(demo_result, tmp_path):
    path = tmp_path / "bad.geojson"
    _write(path, [_note("x1", "complaint", 116.3, 40.0)])
    with pytest.raises(InputError) as err:
        opinions.read_opinions(path, demo_result.communities, demo_result.rulebook)
    assert "x1" in str(err.value) and "kind" in str(err.value)


def test_run_with_opinions_writes_them_next_to_the_ledger(demo_result, tmp_path, capsys):
    from circles import cli

    comm = demo_result.communities.to_crs("EPSG:4326")
    p = comm.geometry.iloc[2].representative_point()
    path = tmp_path / "notes.geojson"
    _write(path, [_note("n1", "missing", p.x, p.y, item="pharmacy", text="没有药店")])
    out = tmp_path / "run"
    code = cli.main(["run", "--out", str(out), "--no-figures", "--community-maps", "none", "--opinions", str(path)])
    assert code == 0
    text = (out / "opinions_by_community.csv").read_text(encoding="utf-8-sig")
    assert str(comm["id"].iloc[2]) in text and "没有药店" in text
    assert "居民意见：1 条" in capsys.readouterr().out
    import openpyxl

    sheet = openpyxl.load_workbook(out / "ledger.xlsx")["居民意见"]  # the notes reach the ledger
    assert any("没有药店" in str(c.value) for r in sheet.iter_rows() for c in r)
