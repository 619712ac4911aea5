"""Options declared once (circles.options): the CLI flags, the checks, the batch keys and the
run_info record all come from one field per option."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from circles import cli, options, pipeline
from circles.errors import ConfigError, OptionError
from circles.options import OutputOptions, RunOptions, Sources, option


def _run_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_every_declared_flag_is_a_run_argument_and_nothing_else_is():
    flags = {a.option_strings[-1] for a in _run_parser()._actions if a.option_strings}
    declared = {
        opt.flag
        for cls in (Sources, RunOptions, OutputOptions, options.DaskOptions)
        for _, opt in options.declared(cls)
        if opt.flag
    }
    assert declared <= flags
    # the run command's own flags besides the declared options
    assert flags - declared == {"--help", "--out", "--force"}


def test_command_line_defaults_and_values_read_back():
    args = _run_parser().parse_args([])
    run, out = options.from_args(RunOptions, args), options.from_args(OutputOptions, args)
    assert run.cache_dir == options.DEFAULT_CACHE  # the command line caches by default, the API does not
    assert RunOptions().cache_dir is None
    assert out.figures and out.offline  # --no-figures / --online-map not given
    assert not OutputOptions().figures  # write_outputs draws no figures unless asked
    args = _run_parser().parse_args(
        ["--speed", "60", "--surveyed", "clinic, park", "--no-figures", "--cache", "", "--profile", "gb50180_2018"]
    )
    run, out = options.from_args(RunOptions, args), options.from_args(OutputOptions, args)
    assert run.speed == 60.0 and run.surveyed == ("clinic", "park") and run.cache_dir is None
    assert run.rules == "gb50180_2018" and not out.figures
    # and back: the namespace of these options parses to the same options
    ns = options.cli_namespace(run, out)
    assert ns.speed == 60.0 and ns.no_figures is True and ns.surveyed == ["clinic", "park"]


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"speed": 1.1}, ["--speed", "1.1", "[10, 300]"]),
        ({"grid_spacing_m": 0}, ["--grid-spacing (grid_spacing_m)", "is 0"]),
        ({"max_minutes": -1}, ["max_minutes is -1", "(0, 600]"]),
        ({"target_share": "all"}, ["--target-share (target_share)", "'all'"]),
        ({"colour": "red"}, ["colour is 'red'", "a keyword of RunOptions"]),
        ({"profile": "gb50180_2018", "rules": "mine.yaml"}, ["--profile", "not both"]),
    ],
)
def test_bad_options_are_refused_before_any_work(overrides, words):
    with pytest.raises(OptionError) as err:
        pipeline.analyse("missing.geojson", "missing.geojson", "missing.osm", progress=False, **overrides)
    for w in words:
        assert w in str(err.value)


def test_options_object_and_overrides_combine():
    base = RunOptions(speed=60, grid_spacing_m=80)
    got = options.build(RunOptions, base, speed=70)
    assert (got.speed, got.grid_spacing_m) == (70.0, 80.0) and base.speed == 60.0


def test_batch_mapping_reads_options_like_the_command_line(tmp_path):
    got = options.from_mapping(
        {"boundaries": "a/b.geojson", "rules": "r.yaml", "speed": 60, "no_figures": True, "surveyed": ["clinic"]},
        tmp_path,
        (Sources, RunOptions, OutputOptions),
    )
    assert got[Sources].boundaries == str((tmp_path / "a" / "b.geojson").resolve())
    assert got[RunOptions].rules == str((tmp_path / "r.yaml").resolve())  # a rulebook file, relative to the batch
    assert got[RunOptions].speed == 60.0 and got[RunOptions].surveyed == ("clinic",)
    assert got[RunOptions].cache_dir == options.DEFAULT_CACHE and got[OutputOptions].figures is False
    prof = options.from_mapping({"rules": "gb50180_2018"}, tmp_path, (RunOptions,))
    assert prof[RunOptions].rules == "gb50180_2018"  # a profile name stays a name
    refused = [({"no_figures": "yes"}, "true or false"), ({"lang": "fr"}, "invalid choice"), ({"x": 1}, "unknown")]
    for bad, word in refused:
        with pytest.raises(ConfigError, match=word):
            options.from_mapping(bad, tmp_path, (RunOptions, OutputOptions))


def test_adding_an_option_is_one_field(tmp_path):
    @dataclass(frozen=True)
    class More(RunOptions):
        walk_detour: float = option(
            1.0, flag="--walk-detour", kind="float", range=(1.0, 3.0, False, "a detour factor"), record="value", help=""
        )

    parser = argparse.ArgumentParser()
    options.add_arguments(parser, More)
    assert options.from_args(More, parser.parse_args(["--walk-detour", "1.5"])).walk_detour == 1.5
    assert options.from_mapping({"walk_detour": 2}, tmp_path, (More,))[More].walk_detour == 2.0
    assert More(walk_detour=1.2).record()["walk_detour"] == 1.2
    assert More().updated(walk_detour=1.3).walk_detour == 1.3
    with pytest.raises(OptionError, match="a detour factor"):
        More(walk_detour=5)


def test_run_info_records_the_options_as_before():
    record = RunOptions(speed=60, surveyed=("park", "clinic"), cache_dir=Path("c")).record()
    assert list(record) == [
        "speed",
        "target_share",
        "max_attach_m",
        "grid_spacing_m",
        "max_minutes",
        "rules",
        "surveyed",
        "crs",
        "facilities_crs",
        "encoding",
        "categories",
        "cache_dir",
        "pilot_place_check",
        "distance_reading",
        "population_raster",
        "population_totals",
        "gates",
    ]
    assert record["speed"] == 60.0 and record["surveyed"] == ["clinic", "park"]
    assert record["rules"] == "None" and record["cache_dir"] == "c"
    assert record["pilot_place_check"] is True  # a run that matched the pilot by name alone says so
    assert RunOptions(pilot_place_check=False).record()["pilot_place_check"] is False
    recorded = ["lang", "offline", "facility_isochrones", "figures", "table_format", "author", "ledger", "opinions"]
    assert list(OutputOptions().record()) == recorded
