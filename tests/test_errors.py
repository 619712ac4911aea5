"""Every bad input stops with one clear message naming the file, the feature and the field."""

from __future__ import annotations

from helpers import write_raw_geojson

from circles import cli, demo

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[116.346, 39.999], [116.348, 39.999], [116.348, 40.001], [116.346, 40.001], [116.346, 39.999]]],
}


def run_cli(capsys, boundaries, facilities=demo.DEMO_FACILITIES, network=demo.DEMO_OSM, extra=()):
    code = cli.main(
        [
            "run",
            "--boundaries",
            str(boundaries),
            "--facilities",
            str(facilities),
            "--network",
            str(network),
            "--out",
            str(boundaries) + ".out",
            "--cache",
            "",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    return code, err


def feature(props, geom=SQUARE):
    return {"type": "Feature", "properties": props, "geometry": geom}


def good_community(**over):
    props = {"id": "c1", "name": "测试社区", "population": 1200}
    props.update(over)
    return props


def test_missing_file(tmp_path, capsys):
    code, err = run_cli(capsys, tmp_path / "nope.geojson")
    assert code == 2
    assert "nope.geojson" in err and "not found" in err


def test_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "garbage.geojson"
    bad.write_bytes(b"\x00\x01 this is not json {{{")
    code, err = run_cli(capsys, bad)
    assert code == 2
    assert "garbage.geojson" in err and "cannot read" in err


def test_missing_network_file(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community())], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b, network=tmp_path / "city.osm.bz2")
    assert code == 2 and "city.osm.bz2" in err and "not found" in err


def test_unreadable_network_file(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community())], tmp_path / "b.geojson")
    n = tmp_path / "broken.osm"
    n.write_text("<osm><node id='1' lat='40' lon='116'>", encoding="utf-8")
    code, err = run_cli(capsys, b, network=n)
    assert code == 2 and "broken.osm" in err and "OSM XML" in err


def test_wrong_geometry_type(tmp_path, capsys):
    point = {"type": "Point", "coordinates": [116.347, 40.0]}
    b = write_raw_geojson([feature(good_community(id="c-point"), point)], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b)
    assert code == 2
    assert "b.geojson" in err and "c-point" in err and "'geometry'" in err and "Polygon" in err


def test_community_without_population(tmp_path, capsys):
    b = write_raw_geojson(
        [feature(good_community()), feature(good_community(id="c2", population=None))], tmp_path / "b.geojson"
    )
    code, err = run_cli(capsys, b)
    assert code == 2
    assert "b.geojson" in err and "'c2'" in err and "'population'" in err


def test_population_field_missing(tmp_path, capsys):
    b = write_raw_geojson([feature({"id": "c1", "name": "x"})], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b)
    assert code == 2 and "'population'" in err and "missing field" in err


def test_duplicate_ids(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community()), feature(good_community(name="again"))], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b)
    assert code == 2
    assert "b.geojson" in err and "duplicate id 'c1'" in err and "rows 1, 2" in err and "'id'" in err


def test_projected_coordinates_without_declared_crs(tmp_path, capsys):
    metres = {
        "type": "Polygon",
        "coordinates": [
            [[443000, 4428000], [443200, 4428000], [443200, 4428200], [443000, 4428200], [443000, 4428000]]
        ],
    }
    b = write_raw_geojson([feature(good_community(), metres)], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b)
    assert code == 2
    assert "b.geojson" in err and "'crs'" in err and "not longitude/latitude" in err
    # --crs applies to files that declare no CRS: the demo facilities (GeoJSON, WGS-84) refuse it ...
    code, err = run_cli(capsys, b, extra=["--crs", "EPSG:32650"])
    assert code == 2 and "facilities.geojson" in err and "declares EPSG:4326" in err and "'crs'" in err
    # ... so the facilities get their own, and the boundaries become valid
    code, err = run_cli(capsys, b, extra=["--crs", "EPSG:32650", "--facilities-crs", "wgs84"])
    assert code == 0, err


def _facilities(tmp_path, **over):
    props = {"id": "f1", "name": "幼儿园", "facility_type": "kindergarten"}
    props.update(over)
    pt = {"type": "Point", "coordinates": [116.347, 40.0]}
    return write_raw_geojson(
        [feature({"id": "f0", "name": "ok", "facility_type": "clinic"}, pt), feature(props, pt)], tmp_path / "f.geojson"
    )


def test_unknown_facility_type(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community())], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b, facilities=_facilities(tmp_path, facility_type="school"))
    assert code == 2
    assert "f.geojson" in err and "'f1'" in err and "'facility_type'" in err and "unknown facility type 'school'" in err
    assert "kindergarten" in err  # the message lists the known types


def test_missing_facility_type(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community())], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b, facilities=_facilities(tmp_path, facility_type=None))
    assert code == 2
    assert "f.geojson" in err and "'f1'" in err and "'facility_type'" in err and "missing facility type" in err


def test_duplicate_facility_ids(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community())], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b, facilities=_facilities(tmp_path, id="f0"))
    assert code == 2 and "duplicate id 'f0'" in err


def test_unknown_surveyed_type(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community())], tmp_path / "b.geojson")
    code, err = run_cli(capsys, b, extra=["--surveyed", "kindergarten,spaceport"])
    assert code == 2 and "spaceport" in err


def test_partial_inputs_are_refused(capsys):
    code = cli.main(["run", "--boundaries", str(demo.DEMO_BOUNDARIES)])
    assert code == 2
    assert "--facilities" in capsys.readouterr().err


def test_valid_small_input_runs(tmp_path, capsys):
    b = write_raw_geojson([feature(good_community())], tmp_path / "b.geojson")
    code = cli.main(
        [
            "run",
            "--boundaries",
            str(b),
            "--facilities",
            str(demo.DEMO_FACILITIES),
            "--network",
            str(demo.DEMO_OSM),
            "--out",
            str(tmp_path / "out"),
            "--cache",
            "",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 个社区" in captured.out and "测试社区" in captured.out  # the summary speaks the map language
    assert (tmp_path / "out" / "gaps.csv").exists()
