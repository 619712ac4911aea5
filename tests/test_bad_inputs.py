"""Bad input, table-driven: every case stops with exit code 2 and one line naming what to
correct (the file, the feature, the field, the value), never a traceback, and nothing is
written. Cases refused before any work prove it: building the walking network fails the
test if it is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from helpers import WEST_OAKLAND, write_raw_geojson

from circles import cli, demo, pipeline, stages

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[116.346, 39.999], [116.348, 39.999], [116.348, 40.001], [116.346, 40.001], [116.346, 39.999]]],
}


def feature(props: dict, geom: dict = SQUARE) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


def community(tmp: Path, **over) -> Path:
    props = {"id": "c1", "name": "测试社区", "population": 1200}
    props.update(over)
    return write_raw_geojson([feature(props)], tmp / "b.geojson")


def run_args(tmp: Path, *extra: str, boundaries: Path | None = None, facilities=demo.DEMO_FACILITIES, network=None):
    return [
        "run",
        "--boundaries",
        str(boundaries or community(tmp)),
        "--facilities",
        str(facilities),
        "--network",
        str(network or demo.DEMO_OSM),
        "--out",
        str(tmp / "out"),
        "--cache",
        "",
        "--no-figures",
        *extra,
    ]


@dataclass
class Case:
    """One bad input: how to build the command line, and the words its message must hold."""

    id: str
    argv: Callable[[Path], list[str]]
    words: list[str]
    before_work: bool = True  # refused before the walking network is built
    extra: dict = field(default_factory=dict)


def _swapped_table(tmp: Path) -> Path:
    p = tmp / "amap.csv"
    p.write_text("id,name,lon,lat,facility_type\na,诊所,39.99,116.35,clinic\nb,幼儿园,40.00,116.351,kindergarten\n")
    return p


def _gpkg(tmp: Path, crs: str) -> Path:
    pt = gpd.GeoSeries([shapely.Point(116.347, 40.0)], crs="EPSG:4326").to_crs(crs)
    p = tmp / "facilities.gpkg"
    gpd.GeoDataFrame({"id": ["f1"], "facility_type": ["clinic"]}, geometry=pt.values, crs=crs).to_file(p)
    return p


def _user_folder(tmp: Path) -> list[str]:
    data = tmp / "data"
    data.mkdir()
    fac = data / "facilities.geojson"
    fac.write_bytes(Path(demo.DEMO_FACILITIES).read_bytes())
    b = community(data)
    return [
        "run",
        "--boundaries",
        str(b),
        "--facilities",
        str(fac),
        "--network",
        str(demo.DEMO_OSM),
        "--out",
        str(data),
    ]


def _out_with_notes(tmp: Path) -> list[str]:
    (tmp / "out").mkdir()
    (tmp / "out" / "report_draft.docx").write_text("mine")
    return run_args(tmp)


def _out_is_file(tmp: Path) -> list[str]:
    (tmp / "out").write_text("a file")
    return run_args(tmp)


def _not_gaps(tmp: Path) -> list[str]:
    for d in ("before", "after"):
        (tmp / d).mkdir()
        (tmp / d / "gaps.csv").write_text("a,b\n1,2\n")
    return ["compare", str(tmp / "before"), str(tmp / "after"), "--out", str(tmp / "cmp.csv")]


def _empty_gaps(tmp: Path) -> list[str]:
    (tmp / "before").mkdir()
    (tmp / "before" / "gaps.csv").write_bytes(b"")
    return ["compare", str(tmp / "before"), str(tmp / "before"), "--out", str(tmp / "cmp.csv")]


def _compare_over_input(tmp: Path) -> list[str]:
    for d in ("before", "after"):
        (tmp / d).mkdir()
        (tmp / d / "gaps.csv").write_text(
            "community_id,community_name,rule_id,facility_type,threshold_min,status,covered_share,residents,"
            "residents_uncovered\nc1,x,park,park,15,gap,0.5,100,50\n"
        )
    return ["compare", str(tmp / "before"), str(tmp / "after"), "--out", str(tmp / "after" / "gaps.csv")]


def _far_buildings(tmp: Path) -> list[str]:
    b = write_raw_geojson(
        [
            {
                "type": "Feature",
                "properties": {"id": "h1"},
                "geometry": {"type": "Point", "coordinates": [121.47, 31.23]},  # Shanghai
            }
        ],
        tmp / "buildings.geojson",
    )
    return run_args(tmp, "--buildings", str(b))


def _projected_over_declared(tmp: Path) -> list[str]:
    """Boundaries in metres without a CRS need --crs; the demo facilities declare WGS-84."""
    metres = {
        "type": "Polygon",
        "coordinates": [
            [[443000, 4428000], [443200, 4428000], [443200, 4428200], [443000, 4428200], [443000, 4428000]]
        ],
    }
    b = write_raw_geojson([feature({"id": "c1", "name": "x", "population": 10}, metres)], tmp / "b.geojson")
    return run_args(tmp, "--crs", "EPSG:32650", boundaries=b)


CASES = [
    Case("speed-inf", lambda t: run_args(t, "--speed", "inf"), ["--speed", "inf", "metres per minute"]),
    Case("speed-nan", lambda t: run_args(t, "--speed", "nan"), ["--speed", "nan"]),
    Case("speed-zero", lambda t: run_args(t, "--speed", "0"), ["--speed", "0.0", "[10, 300]"]),
    Case("speed-negative", lambda t: run_args(t, "--speed", "-66"), ["--speed", "-66"]),
    Case("speed-in-m-per-s", lambda t: run_args(t, "--speed", "1.1"), ["--speed", "1.1", "1.1 m/s"]),
    Case("grid-zero", lambda t: run_args(t, "--grid-spacing", "0"), ["--grid-spacing", "0.0"]),
    Case("grid-negative", lambda t: run_args(t, "--grid-spacing", "-40"), ["--grid-spacing", "-40"]),
    Case("grid-inf", lambda t: run_args(t, "--grid-spacing", "inf"), ["--grid-spacing", "inf"]),
    Case("attach-negative", lambda t: run_args(t, "--max-attach", "-1"), ["--max-attach", "-1"]),
    Case("attach-inf", lambda t: run_args(t, "--max-attach", "inf"), ["--max-attach", "inf"]),
    Case("target-share-high", lambda t: run_args(t, "--target-share", "1.5"), ["--target-share", "1.5"]),
    Case("target-share-zero", lambda t: run_args(t, "--target-share", "0"), ["--target-share", "(0, 1]"]),
    Case("site-k-zero", lambda t: ["site", "--rule", "park", "--k", "0", "--out", str(t / "s")], ["--k", "0"]),
    Case("site-k-negative", lambda t: ["site", "--rule", "park", "--k", "-2", "--out", str(t / "s")], ["--k", "-2"]),
    Case("site-target", lambda t: ["site", "--rule", "park", "--target", "2", "--out", str(t / "s")], ["--target"]),
    Case("out-is-a-file", _out_is_file, ["out", "is an existing file"]),
    Case("out-holds-input", _user_folder, ["holds the input", "facilities.geojson", "another --out"]),
    Case("out-holds-user-files", _out_with_notes, ["report_draft.docx", "did not write", "--force"]),
    Case(
        "population-infinity",
        lambda t: run_args(t, boundaries=community(t, population="Infinity")),
        ["b.geojson", "'c1'", "'population'", "Infinity", "finite"],
    ),
    Case(
        "population-nan",
        lambda t: run_args(t, boundaries=community(t, population="NaN")),
        ["b.geojson", "'c1'", "'population'", "NaN"],
    ),
    Case(
        "population-negative",
        lambda t: run_args(t, boundaries=community(t, population=-5)),
        ["b.geojson", "'c1'", "'population'", "-5"],
    ),
    Case(
        "households-text",
        lambda t: run_args(t, boundaries=community(t, households="many")),
        ["b.geojson", "'c1'", "'households'", "many"],
    ),
    Case(
        "table-lon-lat-swapped",
        lambda t: run_args(t, facilities=_swapped_table(t)),
        ["amap.csv", "none of the 2 rows", "swapped", "rows 2, 3"],
    ),
    Case(
        "crs-over-declared-wgs84",
        _projected_over_declared,
        ["facilities.geojson", "'crs'", "declares EPSG:4326", "EPSG:32650", "--facilities-crs"],
    ),
    Case(
        "gcj02-over-projected",
        lambda t: run_args(t, "--facilities-crs", "gcj02", facilities=_gpkg(t, "EPSG:32650")),
        ["facilities.gpkg", "'crs'", "declares EPSG:32650", "gcj02"],
    ),
    Case("compare-not-gaps", _not_gaps, ["before/gaps.csv", "not a gaps.csv", "'community_id'"]),
    Case("compare-empty", _empty_gaps, ["gaps.csv", "cannot be read as a gaps.csv"]),
    Case("compare-over-input", _compare_over_input, ["gaps.csv", "is the input", "another --out"]),
    Case("buildings-elsewhere", _far_buildings, ["buildings.geojson", "none of the 1 buildings", "CRS"]),
    Case(
        "network-of-another-city",
        lambda t: run_args(t, network=WEST_OAKLAND),
        ["west_oakland.osm.bz2", "reaches none of the 1 communities", "CRS"],
        before_work=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_line(case, tmp_path, capsys, monkeypatch):
    if case.before_work:

        def no_work(*args, **kwargs):
            raise AssertionError("the network was built before the input was refused")

        monkeypatch.setattr(stages, "read_walk_network", no_work)  # the network stage
    code = cli.main(case.argv(tmp_path))
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    assert "Traceback" not in err + captured.out and "internal error" not in err
    errors = [line for line in err.splitlines() if line.startswith("circles: error:")]
    assert len(errors) == 1, err
    for word in case.words:
        assert word in errors[0], f"{word!r} not in {errors[0]!r}"
    assert not (tmp_path / "out" / "gaps.csv").exists()
    assert not list(tmp_path.glob(".*.circles-new-*")), "a half-written folder was left"


def test_facilities_input_in_out_folder_is_untouched(tmp_path, capsys):
    """The reported case: --out is the folder holding the user's facilities file."""
    argv = _user_folder(tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()}
    assert cli.main([*argv, "--force"]) == 2  # not even with --force
    assert {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()} == before
    assert "holds the input" in capsys.readouterr().err


def test_internal_errors_are_one_line_with_a_log(tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(pipeline, "analyse", boom)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    code = cli.main(["run", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "ZeroDivisionError" in err and "please report it with the log" in err
    log_path = Path(err.strip().rsplit(" ", 1)[-1])
    assert log_path.parent == tmp_path and "Traceback" in log_path.read_text(encoding="utf-8")


def test_option_error_names_the_keyword_for_api_users():
    with pytest.raises(Exception, match=r"--grid-spacing \(grid_spacing_m\) is 0"):
        pipeline.analyse(grid_spacing_m=0)
    with pytest.raises(Exception, match=r"--speed is inf"):
        pipeline.analyse(speed=float("inf"))
