"""What cannot be right is refused or said: CRS options against declared CRSs, a network that
misses the communities, facilities mostly off the streets, repaired boundaries, GCJ-02/BD-09
lists taken as WGS-84 (detected on the demo network, also with few points)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from helpers import write_raw_geojson

from circles import chinacrs, load, pipeline
from circles.errors import InputError

KNOWN = ["clinic", "kindergarten"]


def _gpkg(tmp_path, crs: str, name: str = "f.gpkg"):
    pt = gpd.GeoSeries([shapely.Point(116.347, 40.0)], crs="EPSG:4326").to_crs(crs)
    p = tmp_path / name
    gpd.GeoDataFrame({"id": ["f1"], "facility_type": ["clinic"]}, geometry=pt.values, crs=crs).to_file(p)
    return p


def test_gcj02_may_relabel_a_declared_wgs84_file(tmp_path):
    """GIS tools save Amap lists as EPSG:4326: the gcj02 option applies (the documented exception)."""
    f = load.load_facilities(_gpkg(tmp_path, "EPSG:4326"), KNOWN, crs="gcj02")
    want = chinacrs.gcj02_to_wgs84(116.347, 40.0)
    assert f.geometry.x.iloc[0] == pytest.approx(want[0], abs=1e-9)
    assert f.geometry.y.iloc[0] == pytest.approx(want[1], abs=1e-9)


@pytest.mark.parametrize("option", ["gcj02", "bd09", "EPSG:4326", "wgs84"])
def test_no_option_overrides_a_declared_projected_crs(tmp_path, option):
    p = _gpkg(tmp_path, "EPSG:32650")
    with pytest.raises(InputError, match="declares EPSG:32650") as e:
        load.load_facilities(p, KNOWN, crs=option)
    assert e.value.field == "crs" and str(p) in str(e.value)
    # the same option agreeing with the declaration, or none, is fine
    assert len(load.load_facilities(p, KNOWN)) == 1
    assert len(load.load_facilities(p, KNOWN, crs="EPSG:32650")) == 1


def test_projected_option_for_lonlat_numbers_without_a_crs():
    gdf = gpd.GeoDataFrame({"id": ["f1"]}, geometry=[shapely.Point(116.3, 40.0)])  # e.g. a .shp without .prj
    with pytest.raises(InputError, match="look like longitude/latitude.*EPSG:32650") as e:
        load.to_wgs84(gdf, "f.shp", "EPSG:32650")
    assert e.value.path == "f.shp" and e.value.field == "crs"


def test_geojson_in_metres_takes_the_option(tmp_path):
    metres = {"type": "Point", "coordinates": [443100, 4428100]}
    p = write_raw_geojson(
        [{"type": "Feature", "properties": {"id": "f1", "facility_type": "clinic"}, "geometry": metres}],
        tmp_path / "m.geojson",
    )
    f = load.load_facilities(p, KNOWN, crs="EPSG:32650")
    assert 116 < f.geometry.x.iloc[0] < 117 and 39 < f.geometry.y.iloc[0] < 41


def test_self_intersecting_boundary_is_repaired_and_reported(tmp_path):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[116.346, 39.999], [116.348, 40.001], [116.348, 39.999], [116.346, 40.001], [116.346, 39.999]]
        ],
    }
    p = write_raw_geojson(
        [{"type": "Feature", "properties": {"id": "bow", "name": "x", "population": 10}, "geometry": bowtie}],
        tmp_path / "b.geojson",
    )
    problems: list[dict] = []
    comms = load.load_communities(p, problems=problems)
    assert comms.geometry.is_valid.all()
    assert len(problems) == 1
    row = problems[0]
    assert row["field"] == "geometry" and row["row_number"] == 1 and "bow" in row["value"]
    assert "Self-intersection" in row["value"] and "make_valid" in row["reason"] and "m²" in row["reason"]
    assert "'bow'" in row["message"] and str(p) in row["message"]
    # the repaired area is the two triangles, ~ half the square: reported, not silent
    area = comms.to_crs(comms.estimate_utm_crs()).area.iloc[0]
    assert f"{area:,.0f} m²" in row["reason"]


def test_network_missing_most_communities_is_warned_none_refused(demo_result):
    r = demo_result
    comms = r.communities.to_crs("EPSG:4326")
    far = comms.copy()
    moved = [shapely.affinity.translate(g, xoff=0.5) for g in far.geometry[:8]]  # 40 km east
    far["geometry"] = moved + list(far.geometry[8:])
    msgs = pipeline.check_network_covers(far, r.network, "net.osm", 250)
    assert len(msgs) == 1 and "reaches only 3 of 11 communities" in msgs[0] and "net.osm" in msgs[0]
    assert pipeline.check_network_covers(comms, r.network, "net.osm", 250) == []
    gone = comms.assign(geometry=[shapely.affinity.translate(g, xoff=5) for g in comms.geometry])
    with pytest.raises(InputError, match="reaches none of the 11 communities") as e:
        pipeline.check_network_covers(gone, r.network, "net.osm", 250)
    assert e.value.field == "network" and "net.osm" in str(e.value)


def test_facilities_mostly_off_the_streets_are_warned_all_refused():
    fac = pd.DataFrame({"placed": [True, False, False, False], "snap_m": [10.0, 900.0, 1100.0, 3000.0]})
    msgs = pipeline.check_facilities_placed(fac, 250, "f.csv")
    assert len(msgs) == 1 and "3 of 4 facilities (75%)" in msgs[0] and "median distance to a street 1,100 m" in msgs[0]
    assert "--facilities-crs" in msgs[0]
    assert pipeline.check_facilities_placed(fac.assign(placed=[True, True, False, False]), 250, "f.csv") == []
    with pytest.raises(InputError, match="none of the 4 facilities is within 250 m"):
        pipeline.check_facilities_placed(fac.assign(placed=False), 250, "f.csv")


def _shifted(fac: gpd.GeoDataFrame, forward) -> gpd.GeoDataFrame:
    geoms = chinacrs._shift_geometries(np.asarray(fac.geometry.values, dtype=object), forward)
    return fac.set_geometry(list(geoms))


@pytest.mark.parametrize(
    "shift, expected",
    [(None, None), (chinacrs.wgs84_to_gcj02, "gcj02"), (chinacrs.wgs84_to_bd09, "bd09")],
    ids=["wgs84", "gcj02", "bd09"],
)
def test_shift_detection_on_the_demo_network(demo_result, demo_facilities, shift, expected):
    fac = demo_facilities if shift is None else _shifted(demo_facilities, shift)
    rep = pipeline.check_shift(fac, demo_result.network)
    assert rep is not None and rep.suggestion == expected, rep.message
    if expected:
        assert f"--facilities-crs {expected}" in rep.message


def test_shift_detection_with_few_points(demo_result, demo_facilities):
    """A sparse list: a BD-09 shift is still recognised from 10 points (8 of the regenerated demo
    list sit too close to tell BD-09 from GCJ-02); correct points never are flagged, and 5 points
    are too few to say anything."""
    idx = np.linspace(0, len(demo_facilities) - 1, 10).astype(int)
    sparse = demo_facilities.iloc[idx]
    assert pipeline.check_shift(_shifted(sparse, chinacrs.wgs84_to_bd09), demo_result.network).suggestion == "bd09"
    assert pipeline.check_shift(sparse, demo_result.network).suggestion is None
    few = _shifted(demo_facilities.iloc[idx[:5]], chinacrs.wgs84_to_bd09)
    rep = pipeline.check_shift(few, demo_result.network)
    assert rep.suggestion is None and np.isnan(rep.p_bd09)


# --------------------------------------------------------------------------- extract and the user's files
_COMPOUND_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
 <node id="1" lat="40.0000000" lon="116.3500000"><tag k="amenity" v="pharmacy"/><tag k="name" v="同仁堂"/></node>
 <node id="7" lat="39.9990000" lon="116.3490000"/>
 <node id="8" lat="39.9990000" lon="116.3530000"/>
 <node id="9" lat="40.0030000" lon="116.3530000"/>
 <node id="13" lat="40.0030000" lon="116.3490000"/>
 <way id="12"><nd ref="7"/><nd ref="8"/><nd ref="9"/><nd ref="13"/><nd ref="7"/>
  <tag k="landuse" v="residential"/><tag k="name" v="阳光小区"/></way>
</osm>
"""
_PHARMACY_ONLY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n <node id="1" lat="40.0" lon="116.35">'
    '<tag k="amenity" v="pharmacy"/></node>\n</osm>\n'
)


def test_extract_keeps_the_users_files_when_the_osm_file_lacks_the_layer(tmp_path, caplog):
    """The red-team case: extract of a file without communities deleted the user's own files."""
    from circles import cli

    out = tmp_path / "inputs"
    out.mkdir()
    mine = {"communities.geojson": "my boundaries", "buildings.geojson": "my buildings"}
    for name, text in mine.items():
        (out / name).write_text(text, encoding="utf-8")
    osm = tmp_path / "pharmacy.osm"
    osm.write_text(_PHARMACY_ONLY, encoding="utf-8")
    assert cli.main(["extract", "--osm", str(osm), "--out", str(out)]) == 0
    err = caplog.text
    for name, text in mine.items():
        assert (out / name).read_text(encoding="utf-8") == text
        assert f"kept {out / name}" in err
    assert (out / "facilities.geojson").exists()


def test_extract_refuses_to_replace_the_users_or_an_edited_file(tmp_path, capsys):
    from circles import cli

    osm = tmp_path / "compound.osm"
    osm.write_text(_COMPOUND_OSM, encoding="utf-8")
    out = tmp_path / "inputs"
    assert cli.main(["extract", "--osm", str(osm), "--out", str(out)]) == 0
    # re-extracting over its own files is fine
    assert cli.main(["extract", "--osm", str(osm), "--out", str(out)]) == 0
    # the planner puts real populations into communities.geojson: never overwritten
    edited = (out / "communities.geojson").read_text(encoding="utf-8").replace('"population": ', '"population": 1')
    (out / "communities.geojson").write_text(edited, encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["extract", "--osm", str(osm), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "communities.geojson" in err and "did not write" in err and "--force" in err
    assert (out / "communities.geojson").read_text(encoding="utf-8") == edited
    # a folder never written by extract, holding the user's own file of that name
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "facilities.geojson").write_text("my list", encoding="utf-8")
    assert cli.main(["extract", "--osm", str(osm), "--out", str(other)]) == 2
    assert "facilities.geojson" in capsys.readouterr().err
    assert (other / "facilities.geojson").read_text(encoding="utf-8") == "my list"
    assert not (other / "communities.geojson").exists()  # nothing half-done
    assert cli.main(["extract", "--osm", str(osm), "--out", str(other), "--force"]) == 0
    assert (other / "facilities.geojson").read_text(encoding="utf-8") != "my list"


# --------------------------------------------------------------------------- batch and the user's files
def _batch_file(tmp_path, name: str = "city_a"):
    p = tmp_path / "cities.yaml"
    p.write_text(f"cities:\n  - {{name: '{name}', boundaries: b, facilities: f, network: n}}\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("name", ["indicators.csv", "batch_report.json", "Batch_Report.CSV"])
def test_batch_city_named_like_a_batch_file_is_refused(tmp_path, name):
    from circles.batch import read_batch
    from circles.errors import ConfigError

    with pytest.raises(ConfigError, match=f"city '{name}'.*batch's own files"):
        read_batch(_batch_file(tmp_path, name))


@pytest.mark.parametrize("mine", ["indicators.csv", "batch_report.csv"])
def test_batch_never_overwrites_the_users_tables(tmp_path, capsys, monkeypatch, mine):
    from circles import batch, cli

    def no_work(*a, **k):
        raise AssertionError("a city ran before the folder was refused")

    monkeypatch.setattr(batch, "run_city", no_work)
    out = tmp_path / "out"
    out.mkdir()
    (out / mine).write_text("my own table", encoding="utf-8")
    assert cli.main(["batch", str(_batch_file(tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert mine in err and "did not write" in err and str(out) in err
    assert (out / mine).read_text(encoding="utf-8") == "my own table"


def test_batch_refuses_the_home_folder(tmp_path, capsys, monkeypatch):
    from circles import batch, cli

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(batch, "run_city", lambda *a, **k: pytest.fail("a city ran"))
    assert cli.main(["batch", str(_batch_file(tmp_path)), "--out", "~"]) == 2
    assert "home folder" in capsys.readouterr().err


def test_batch_replaces_its_own_tables(tmp_path):
    from circles import batch

    out = tmp_path / "out"

    def fake(city, out_root, write_here=True):
        return batch.CityReport(city=city.name, status="failed", error="no data")

    import unittest.mock

    with unittest.mock.patch.object(batch, "run_city", fake):
        batch.run_batch(_batch_file(tmp_path), out)
        first = json.loads((out / "batch_report.json").read_text(encoding="utf-8"))
        batch.run_batch(_batch_file(tmp_path), out)  # its own files: replaced
    assert first["tool"] == "circles batch" and first["failed"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["batch_report.csv", "batch_report.json"]


# --------------------------------------------------------------------------- circles map never mixes two analyses
def test_map_into_another_analysis_folder_is_refused(tmp_path, capsys, monkeypatch):
    from circles import _outputs, cli, pipeline

    monkeypatch.setattr(pipeline, "analyse", lambda *a, **k: pytest.fail("the analysis ran before the refusal"))
    out = tmp_path / "results"
    with _outputs.atomic_folder(out) as stage:  # another city's run
        (stage.path / "gaps.csv").write_text("another city's gaps")
        stage.info["inputs"] = {"boundaries": {"path": "/data/other/communities.geojson", "sha256": "ab" * 32}}
    before = (out / "run_info.json").read_bytes()
    assert cli.main(["map", "--out", str(out), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "another analysis" in err and "/data/other/communities.geojson" in err and "boundaries" in err
    assert (out / "run_info.json").read_bytes() == before and not (out / "map.html").exists()


def test_map_with_other_options_is_refused_before_writing(tmp_path, capsys, monkeypatch, demo_result):
    import dataclasses

    from circles import _outputs, cli, pipeline

    monkeypatch.setattr(
        pipeline,
        "analyse",
        lambda *a, **k: dataclasses.replace(demo_result, options={**demo_result.options, "speed": 50.0}),
    )
    out = tmp_path / "results"
    with _outputs.atomic_folder(out) as stage:
        (stage.path / "gaps.csv").write_text("the run's gaps")
        stage.info["options"] = {**demo_result.options, "speed": 80.0}
    assert cli.main(["map", "--out", str(out), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "another analysis" in err and "speed" in err and "80.0" in err and "50.0" in err
    assert not (out / "map.html").exists()


@pytest.mark.parametrize("declared", ["gcj02", "bd09"])
def test_a_declared_correction_that_makes_things_worse_is_said(demo_result, demo_facilities, declared):
    """A WGS-84 list declared --facilities-crs gcj02 was shifted the wrong way (43 of 220 statuses wrong), no hint."""
    back = chinacrs.gcj02_to_wgs84 if declared == "gcj02" else chinacrs.bd09_to_wgs84
    wrongly_corrected = _shifted(demo_facilities, back)  # what loading a WGS-84 list as `declared` gives
    msgs = pipeline.shift_warnings(wrongly_corrected, demo_result.network, declared)
    assert len(msgs) == 1 and f"declared {declared}" in msgs[0] and f"leave out --facilities-crs {declared}" in msgs[0]
    # a list really in that system, corrected as declared, fits the streets: nothing to say
    assert pipeline.shift_warnings(demo_facilities, demo_result.network, declared) == []
