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


_GAPS_HEADER = (
    "community_id,community_name,rule_id,facility_type,threshold_min,status,covered_share,residents,"
    "residents_uncovered\n"
)


def _gaps_runs(tmp: Path, before: str, after: str) -> tuple[Path, Path]:
    for d, rows in (("before", before), ("after", after)):
        (tmp / d).mkdir(exist_ok=True)
        (tmp / d / "gaps.csv").write_text(_GAPS_HEADER + rows, encoding="utf-8")
    return tmp / "before", tmp / "after"


def _compare_other_rulebook(tmp: Path) -> list[str]:
    b, a = _gaps_runs(tmp, "c1,x,park,park,15,gap,0.5,100,50\n", "c1,x,R01,park,15,ok,1.0,100,0\n")
    return ["compare", str(b), str(a), "--out", str(tmp / "cmp.csv")]


def _scenario(tmp: Path, rows: list[dict]) -> list[str]:
    sc = write_raw_geojson(
        [feature(r, {"type": "Point", "coordinates": [116.347, 40.0]}) for r in rows], tmp / "plan.geojson"
    )
    return ["whatif", "--scenario", str(sc), "--out", str(tmp / "out"), "--cache", "", "--no-figures"]


def _two_sheets(tmp: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表由区民政局提供"])
    ws = wb.create_sheet("设施")
    ws.append(["id", "name", "lon", "lat", "facility_type"])
    ws.append(["a", "诊所", 116.347, 40.0, "clinic"])
    p = tmp / "dept.xlsx"
    wb.save(p)
    return p


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


def _facilities_with(tmp: Path, capacity, ftype: str = "clinic") -> Path:
    pt = {"type": "Point", "coordinates": [116.347, 40.0]}
    return write_raw_geojson(
        [feature({"id": "f1", "facility_type": ftype, "capacity": capacity}, pt)], tmp / "fac.geojson"
    )


def _table_with(tmp: Path, capacity: str) -> Path:
    p = tmp / "beds.csv"
    p.write_text(
        f"id,name,lon,lat,facility_type,床位\na,诊所,116.347,40.0,clinic,20\nb,养老院,116.348,40.0,clinic,{capacity}\n",
        encoding="utf-8",
    )
    return p


def _two_layers(tmp: Path) -> Path:
    p = tmp / "plan.gpkg"
    for layer in ("communities_2023", "communities_2024"):
        gpd.GeoDataFrame(
            {"id": ["c1"], "name": ["x"], "population": [100]}, geometry=[shapely.geometry.shape(SQUARE)], crs=4326
        ).to_file(p, layer=layer)
    return p


def _candidates_with(tmp: Path, capacity) -> list[str]:
    pt = {"type": "Point", "coordinates": [116.347, 40.0]}
    c = write_raw_geojson([feature({"candidate_id": "s1", "capacity": capacity}, pt)], tmp / "cands.geojson")
    return ["site", "--rule", "park", "--candidates", str(c), "--out", str(tmp / "s")]


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
        "population-true",
        lambda t: run_args(t, boundaries=community(t, population=True)),
        ["b.geojson", "'c1'", "'population'", "True", "yes/no"],
    ),
    Case(
        "population-1e20",
        lambda t: run_args(t, boundaries=community(t, population=1e20)),
        ["b.geojson", "'c1'", "'population'", "one community", "typing or unit error"],
    ),
    Case(
        "population-too-dense",
        lambda t: run_args(t, boundaries=community(t, population=900000)),
        ["b.geojson", "'c1'", "'population'", "residents per km²", "500,000"],
    ),
    Case(
        "capacity-negative",
        lambda t: run_args(t, facilities=_facilities_with(t, -50)),
        ["fac.geojson", "'f1'", "'capacity'", "-50", "negative"],
    ),
    Case(
        "capacity-infinite",
        lambda t: run_args(t, facilities=_facilities_with(t, "inf")),
        ["fac.geojson", "'f1'", "'capacity'", "finite"],
    ),
    Case(
        "capacity-chinese-numerals",
        lambda t: run_args(t, facilities=_facilities_with(t, "八百")),
        ["fac.geojson", "'f1'", "'capacity'", "八百", "digits"],
    ),
    Case(
        "table-capacity-chinese-numerals",
        lambda t: run_args(t, facilities=_table_with(t, "八百")),
        ["beds.csv", "row 3", "'床位'", "八百", "digits"],
    ),
    Case(
        "table-capacity-negative",
        lambda t: run_args(t, facilities=_table_with(t, "-50")),
        ["beds.csv", "row 3", "'床位'", "negative"],
    ),
    Case(
        "geopackage-two-layers",
        lambda t: run_args(t, boundaries=_two_layers(t)),
        ["plan.gpkg", "communities_2023", "communities_2024", "--layer"],
    ),
    Case(
        "site-candidate-capacity-negative",
        lambda t: _candidates_with(t, -100),
        ["cands.geojson", "'s1'", "'capacity'", "negative"],
    ),
    Case(
        "site-candidate-capacity-text",
        lambda t: _candidates_with(t, "many"),
        ["cands.geojson", "'s1'", "'capacity'", "many", "not a number"],
    ),
    Case(
        "source-date-epoch-out-of-range",
        lambda t: run_args(t),
        ["SOURCE_DATE_EPOCH", "99999999999999", "between 1970 and 9999"],
        extra={"env": {"SOURCE_DATE_EPOCH": "99999999999999"}},
    ),
    Case(
        "escape-sequence-in-a-type",
        lambda t: run_args(t, facilities=_facilities_with(t, 5, ftype="\x1b]0;pwned\x07\x1b[2Jclinic")),
        ["fac.geojson", "'facility_type'", "]0;pwned[2Jclinic"],
    ),
    Case(
        "community-maps-unknown-id",
        lambda t: [*run_args(t), "--community-maps", "c1,nosuch"],
        ["--community-maps", "nosuch", "b.geojson", "c1", "auto, all or none"],
    ),
    Case(
        "cache-inside-out",
        lambda t: [*run_args(t), "--cache", str(t / "out" / "cache")],
        ["--cache", "inside --out", "replaces the output folder", "elsewhere"],
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
    Case(
        "compare-other-rulebook",
        _compare_other_rulebook,
        ["after/gaps.csv", "before/gaps.csv", "no community × rule row", "no rule in common", "park", "R01"],
    ),
    Case(
        "whatif-negative-capacity",
        lambda t: _scenario(t, [{"id": "new1", "action": "add", "facility_type": "clinic", "capacity": -50}]),
        ["plan.geojson", "'new1' (row 1)", "'capacity'", "negative"],
    ),
    Case(
        "whatif-empty-scenario",
        lambda t: _scenario(t, []),
        ["plan.geojson", "scenario file has no rows"],
    ),
    Case(
        "xlsx-data-on-another-sheet",
        lambda t: run_args(t, facilities=_two_sheets(t)),
        ["dept.xlsx", "'说明'", "'设施'", "--sheet NAME", "name the coordinate columns lon and lat"],
    ),
    Case(
        "xlsx-no-such-sheet",
        lambda t: run_args(t, "--sheet", "nosuch", facilities=_two_sheets(t)),
        ["dept.xlsx", "nosuch", "设施"],
    ),
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
    for key, value in case.extra.get("env", {}).items():
        monkeypatch.setenv(key, value)
    code = cli.main(case.argv(tmp_path))
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    assert "Traceback" not in err + captured.out and "internal error" not in err
    assert "\x1b" not in err + captured.out and "\x07" not in err + captured.out
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


# --------------------------------------------------------------------------- read right, or said


@pytest.mark.parametrize(
    "raw, want",
    [(1200, 1200.0), ("1,200", 1200.0), ("1.2万", 12000.0), ("3千", 3000.0), (" 45 ", 45.0), ("", None), (None, None)],
)
def test_amounts_with_chinese_multipliers_are_read(raw, want):
    from circles.load import parse_amount

    assert parse_amount(raw) == want


@pytest.mark.parametrize("raw", ["八百", "-50", "inf", True, "many", "一万"])
def test_amounts_that_are_not_numbers_are_refused(raw):
    from circles.load import parse_amount

    with pytest.raises(ValueError):
        parse_amount(raw)


def test_table_capacity_in_wan_is_read_not_dropped(tmp_path):
    from circles import load

    fac, _ = load.load_facility_table(_table_with(tmp_path, "1.2万"), ["clinic"])
    assert list(fac["capacity"]) == [20.0, 12000.0]


def test_gbk_shapefile_without_cpg_is_read_as_gbk_with_a_warning(tmp_path, caplog):
    from circles import load

    names = ["学院路社区", "东升社区"]
    gdf = gpd.GeoDataFrame(
        {"id": ["a", "b"], "name": names, "population": [100, 200]},
        geometry=[shapely.box(116.30, 40.0, 116.31, 40.01), shapely.box(116.31, 40.0, 116.32, 40.01)],
        crs="EPSG:4326",
    )
    gdf.to_file(tmp_path / "gbk.shp", encoding="gbk")
    (tmp_path / "gbk.cpg").unlink(missing_ok=True)
    # the bytes on disk are GBK (what an ArcGIS export without .cpg holds)
    assert "学院路社区".encode("gbk") in (tmp_path / "gbk.dbf").read_bytes()
    with caplog.at_level("WARNING", logger="circles.load"):
        got = load.load_communities(tmp_path / "gbk.shp")
    assert list(got["name"]) == names
    assert "no .cpg" in caplog.text and "GBK" in caplog.text and "--encoding" in caplog.text
    # --encoding applies to boundaries too
    assert list(load.load_communities(tmp_path / "gbk.shp", encoding="gbk")["name"]) == names


def test_layer_is_chosen_by_name(tmp_path):
    from circles import load
    from circles.errors import InputError

    p = _two_layers(tmp_path)
    assert len(load.load_communities(p, layer="communities_2024")) == 1
    with pytest.raises(InputError, match="no layer 'nosuch'.*communities_2023") as e:
        load.load_communities(p, layer="nosuch")
    assert e.value.field == "layer"


def test_paths_with_an_exclamation_mark_are_read(tmp_path):
    """GDAL takes '!' in a path as its own syntax: 'data!v2/communities.geojson' said "No such file"."""
    from circles import load

    folder = tmp_path / "data!v2"
    folder.mkdir()
    got = load.load_communities(community(folder))
    assert list(got["id"]) == ["c1"]
    gdf = gpd.GeoDataFrame(
        {"id": ["a"], "name": ["x"], "population": [10]}, geometry=[shapely.geometry.shape(SQUARE)], crs=4326
    )
    gdf.to_file(tmp_path / "plan.shp")  # GDAL cannot write the name either: moved there
    for f in tmp_path.glob("plan.*"):
        f.rename(folder / f.name.replace("plan", "plan!1"))
    assert list(load.load_communities(folder / "plan!1.shp")["id"]) == ["a"]


def test_polygon_candidates_stand_at_their_representative_point(tmp_path, caplog):
    from circles import load

    c = write_raw_geojson([feature({"candidate_id": "p1", "capacity": "1.2万"})], tmp_path / "parcels.geojson")
    with caplog.at_level("WARNING", logger="circles.load"):
        got = load.load_candidates(c)
    assert got.geometry.iloc[0].geom_type == "Point"
    assert shapely.geometry.shape(SQUARE).contains(got.geometry.iloc[0])
    assert got["capacity"].iloc[0] == 12000.0
    assert "representative point" in caplog.text and "p1" in caplog.text


def test_district_values_are_stripped_and_the_join_is_said(tmp_path, caplog):
    from circles import load

    other = {
        "type": "Polygon",
        "coordinates": [[[116.35, 39.999], [116.352, 39.999], [116.352, 40.001], [116.35, 40.001], [116.35, 39.999]]],
    }
    b = write_raw_geojson(
        [
            feature({"id": "c1", "name": "a", "population": 10, "街道": "学院路街道"}),
            feature({"id": "c2", "name": "b", "population": 10, "街道": "学院路街道 "}, other),
        ],
        tmp_path / "b.geojson",
    )
    with caplog.at_level("WARNING", logger="circles.load"):
        got = load.load_communities(b, keep=["街道"])
    assert list(got["街道"]) == ["学院路街道", "学院路街道"]
    assert "spaces" in caplog.text and "1 value(s) thereby joined" in caplog.text


def test_control_characters_are_removed_from_names(tmp_path, caplog):
    """A vertical tab or form feed in a name crashed the workbook writer after the whole analysis."""
    from circles import load

    b = community(tmp_path, name="一期\x0b二期\x0c\x1b]0;title\x07社区")
    with caplog.at_level("WARNING", logger="circles.load"):
        got = load.load_communities(b)
    assert list(got["name"]) == ["一期二期]0;title社区"]
    assert "control characters removed" in caplog.text and "field name" in caplog.text


def test_workbook_cells_drop_control_characters(tmp_path):
    from openpyxl import load_workbook

    from circles.workbooks import new_workbook, write_row

    wb = new_workbook(tmp_path / "w.xlsx")
    write_row(wb.add_worksheet("x"), 0, ["a\x0bb\x0cc\x01", "tab\tand\nline"])
    wb.close()
    cells = [c.value for c in next(load_workbook(tmp_path / "w.xlsx").active.iter_rows())]
    assert cells == ["abc", "tab\tand\nline"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("by_facility_type: {clinic: {lead: [{a: 1}]}}\n", ["'clinic'", "'lead'", "the item {'a': 1}"]),
        ("by_facility_type: {clinic: {lead: health}}\n", ["'clinic'", "'lead'", "the text 'health'", "[health]"]),
        ("by_rule: {park: {lead: [housing], support: 3}}\n", ["'park'", "'support'", "int 3"]),
        ("always_support: street\n", ["'always_support'", "the text 'street'"]),
        ("departments: {housing: {name_zh: [a, b]}}\n", ["department 'housing'", "name_zh"]),
    ],
)
def test_departments_of_the_wrong_shape_name_the_key(tmp_path, capsys, text, words):
    """lead: [{a: 1}] gave a TypeError, a string where a list belongs "unknown department 'h'"."""
    deps = tmp_path / "deps.yaml"
    deps.write_text(text, encoding="utf-8")
    from circles.departments import load_departments
    from circles.errors import ConfigError
    from circles.ledger import load_departments as from_ledger  # still importable from the ledger

    assert from_ledger is load_departments
    with pytest.raises(ConfigError) as e:
        load_departments(deps)
    for word in ["deps.yaml", *words]:
        assert word in str(e.value), (word, str(e.value))
    assert "unknown department 'h'" not in str(e.value)


def test_compare_counts_rows_of_one_run_only_apart(tmp_path, caplog):
    """Rows absent on one side were counted as changes ("413 changed, 26 no longer ok")."""
    from circles.whatif import compare_runs

    b, a = _gaps_runs(
        tmp_path,
        "c1,x,park,park,15,ok,1.0,100,0\nc2,y,park,park,15,ok,1.0,50,0\n",
        "c1,x,park,park,15,gap,0.4,100,60\nc3,z,park,park,15,gap,0.0,70,70\n",
    )
    with caplog.at_level("WARNING", logger="circles.whatif"):
        comp = compare_runs(b, a).set_index("community_id")
    assert comp.loc["c1", "change"] == "no longer ok"
    assert comp.loc["c2", "change"] == "only in before" and comp.loc["c3", "change"] == "only in after"
    assert not comp.loc["c2", "status_changed"] and not comp.loc["c3", "status_changed"]
    assert "1 community × rule row(s) only in the first and 1 only in the second" in caplog.text


def test_sheet_and_layer_options_choose(tmp_path):
    from circles import load

    fac, _ = load.load_facility_table(_two_sheets(tmp_path), ["clinic"], sheet="设施")
    assert list(fac["id"]) == ["a"]
    args = cli.build_parser().parse_args(["run", "--layer", "communities_2024", "--sheet", "设施"])
    kwargs = cli._analysis_kwargs(args)
    assert kwargs["layer"] == "communities_2024" and kwargs["sheet"] == "设施"


# ---------------------------------------------------------------------------- limits and special files
def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("circles: error:")]
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.fixture
def alarm():
    """Fail instead of hanging: a blocked read raises after 30 s."""
    import signal

    def timed_out(signum, frame):
        raise AssertionError("blocked for 30 s")

    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("option", ["--boundaries", "--facilities", "--network", "--rules", "--departments"])
def test_fifo_input_is_refused_without_blocking(tmp_path, capsys, alarm, option):
    import os

    fifo = tmp_path / ("pipe.osm" if option == "--network" else "pipe.geojson")
    os.mkfifo(fifo)
    argv = run_args(tmp_path)
    if option in argv:
        argv[argv.index(option) + 1] = str(fifo)
    else:
        argv += [option, str(fifo)]
    code = cli.main(argv)
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert str(fifo) in line and "named pipe (FIFO)" in line


def yaml_bomb(path: Path, levels: int = 9) -> Path:
    """The "billion laughs" in YAML: 1 KB, 9**levels values once expanded."""
    rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("where", ["--rules", "--departments", "batch"])
def test_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys, where):
    import time

    bomb = yaml_bomb(tmp_path / "bomb.yaml")
    assert bomb.stat().st_size < 1200
    argv = (
        ["batch", str(bomb), "--out", str(tmp_path / "out")]
        if where == "batch"
        else run_args(tmp_path, where, str(bomb))
    )
    t0 = time.monotonic()
    code = cli.main(argv)
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert time.monotonic() - t0 < 20
    assert str(bomb) in line and "YAML bomb" in line and "1,000,000" in line


def test_yaml_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    from circles import _config
    from circles.errors import ConfigError

    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n" + "# padding\n" * 200, encoding="utf-8")
    monkeypatch.setattr(_config, "YAML_MAX_BYTES", 1000)
    with pytest.raises(ConfigError, match=r"rules.yaml: 0.0 MiB, over the limit .*YAML_MAX_BYTES"):
        _config.read_yaml(rules)
    # the counting agrees with the values PyYAML builds (aliases expanded by hand)
    small = yaml_bomb(tmp_path / "small.yaml", levels=2)
    import yaml

    data = yaml.safe_load(small.read_text(encoding="utf-8"))

    def count(v) -> int:
        if isinstance(v, dict):
            return 1 + sum(1 + count(x) for x in v.values())
        if isinstance(v, list):
            return 1 + sum(count(x) for x in v)
        return 1

    assert _config._expanded_nodes(small.read_text(encoding="utf-8"), "x") == count(data)


def huge_cell_xlsx(path: Path, mib: int = 300) -> Path:
    """A facility workbook (made by openpyxl) whose one cell is rewritten to ``mib`` MiB of text."""
    import zipfile

    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["id", "name", "facility_type", "lon", "lat"])
    wb.active.append(["f1", "PLACEHOLDER", "kindergarten", 116.347, 40.0])
    plain = path.with_name("plain.xlsx")
    wb.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if b"PLACEHOLDER" not in data:
                dst.writestr(info, data)
                continue
            before, after = data.split(b"PLACEHOLDER")
            with dst.open(info.filename, "w", force_zip64=True) as fh:
                fh.write(before)
                for _ in range(mib):
                    fh.write(b"x" * (1 << 20))
                fh.write(after)
    return path


@pytest.mark.parametrize(("mib", "words"), [(300, "XLSX_MAX_BYTES"), (100, "32,767 characters")])
def test_xlsx_with_a_huge_cell_is_refused_fast(tmp_path, capsys, mib, words):
    """The reported 300 MB cell (over the workbook size limit), and a 100 MB one (under it:
    refused by the cell length, read before openpyxl parses anything)."""
    import time

    book = huge_cell_xlsx(tmp_path / "facilities.xlsx", mib=mib)
    assert book.stat().st_size < 2_000_000
    t0 = time.monotonic()
    code = cli.main(run_args(tmp_path, facilities=book))
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert time.monotonic() - t0 < 30
    assert str(book) in line and words in line


def test_xlsx_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    from circles import _safety
    from circles.errors import InputError

    book = huge_cell_xlsx(tmp_path / "facilities.xlsx", mib=1)
    monkeypatch.setattr(_safety, "XLSX_MAX_BYTES", 1 << 20)
    with pytest.raises(InputError, match="expands to 1 MiB, over the limit of 1 MiB|over the limit"):
        _safety.check_xlsx(book)


def long_tag_osm(path: Path) -> tuple[Path, str]:
    """The West Oakland extract with a 1,500-character ``note`` on its first way."""
    import bz2

    text = bz2.decompress(WEST_OAKLAND.read_bytes()).decode("utf-8")
    at = text.index("<tag", text.index("<way"))
    way_id = text[text.index("<way") :].split('id="', 1)[1].split('"', 1)[0]
    path.write_text(text[:at] + f'<tag k="note" v="{"x" * 1500}"/>' + text[at:], encoding="utf-8")
    return path, way_id


@pytest.mark.parametrize("command", ["run", "extract"])
def test_osm_tag_value_over_the_limit_names_the_element(tmp_path, capsys, command):
    osm, way_id = long_tag_osm(tmp_path / "long.osm")
    argv = (
        run_args(tmp_path, network=osm)
        if command == "run"
        else ["extract", "--osm", str(osm), "--out", str(tmp_path / "x")]
    )
    code = cli.main(argv)
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert str(osm) in line and f"way/{way_id}" in line and "tag 'note'" in line and "1024 bytes" in line


def test_dask_workers_beyond_the_machine_are_refused_before_work(tmp_path, capsys, monkeypatch):
    from circles import distributed

    def no_work(*args, **kwargs):
        raise AssertionError("the inputs were read before --dask was checked")

    monkeypatch.setattr(distributed, "load_inputs", no_work)
    code = cli.main(run_args(tmp_path, "--dask", "local:10000"))
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert "--dask" in line and "local:10000" in line and f"from 1 to {distributed.local_workers_max()}" in line


def test_dask_scheduler_file_that_never_appears(tmp_path, monkeypatch):
    import time

    from circles import distributed
    from circles.errors import ConfigError

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", "2s")
    missing = tmp_path / "scheduler.json"
    t0 = time.monotonic()
    with (
        pytest.raises(ConfigError, match=r"scheduler.json: no scheduler file .* within 2 s"),
        distributed.dask_client(str(missing)),
    ):
        pass
    assert 2 <= time.monotonic() - t0 < 15
