"""circles batch: many cities from one YAML file, one after another or as Dask tasks; a city
that fails is reported and the others finish."""

from __future__ import annotations

import csv
import filecmp
import io
import json
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from synthetic_city import make_city

from circles import cli
from circles.batch import read_batch, run_batch
from circles.errors import ConfigError

_DUPLICATE = "  - {name: A, boundaries: b, facilities: f, network: n}"
QUIET = {"scheduler_kwargs": {"dashboard_address": ":0"}}  # no clash over port 8787 with other clusters
TABLES = ("gaps.csv", "ledger.csv", "access.csv", "indicators.csv", "facilities.csv")


@pytest.fixture(scope="module")
def cities(tmp_path_factory) -> Path:
    """Two small cities and a broken one (a boundaries file without features) in a batch file."""
    root = tmp_path_factory.mktemp("batch")
    for i in (1, 2):
        make_city(root / f"city_0{i}", seed=i, nx=16, ny=8)
    (root / "broken").mkdir()
    (root / "broken" / "communities.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (root / "cities.yaml").write_text(
        "defaults: {district_field: kind, no_figures: true, rules: city_01/rules.yaml, grid_spacing: 80}\n"
        "cities:\n"
        "  - {name: city_01, boundaries: city_01/communities.geojson, facilities: city_01/facilities.geojson,\n"
        "     network: city_01/network.npz}\n"
        "  - {name: broken, boundaries: broken/communities.geojson, facilities: city_01/facilities.geojson,\n"
        "     network: city_01/network.npz}\n"
        "  - {name: city_02, boundaries: city_02/communities.geojson, facilities: city_02/facilities.geojson,\n"
        "     network: city_02/network.npz, speed: 60}\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module")
def serial_batch(cities, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial_out")
    code = cli.main(["batch", str(cities / "cities.yaml"), "--out", str(out), "--cache", str(cities / "cache")])
    return code, out


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_batch_file_is_read_like_run_options(cities):
    got = read_batch(cities / "cities.yaml")
    assert [c.name for c in got] == ["city_01", "broken", "city_02"]
    c1, _, c2 = got
    assert c1.args.boundaries == str(cities / "city_01" / "communities.geojson")  # relative to the file
    assert c1.args.rules == str(cities / "city_01" / "rules.yaml")
    assert c1.args.no_figures and c1.args.district_field == "kind" and c1.args.grid_spacing == 80.0
    assert c1.args.speed is None and c2.args.speed == 60.0  # city options over the defaults


@pytest.mark.parametrize(
    "text, message",
    [
        ("cities: []", "non-empty list"),
        ("cities:\n  - {name: a, boundaries: b.geojson, facilities: f.geojson}", "missing network"),
        ("cities:\n  - {name: a, boundaries: b, facilities: f, network: n, colour: red}", "unknown option"),
        ("cities:\n  - {name: a, boundaries: b, facilities: f, network: n, out: x}", "unknown option"),
        ("cities:\n  - {name: a, boundaries: b, facilities: f, network: n, speed: fast}", "city 'a'.*speed"),
        ("cities:\n  - {name: a, boundaries: b, facilities: f, network: n, lang: fr}", "city 'a'.*lang"),
        ("cities:\n  - {name: a/b, boundaries: b, facilities: f, network: n}", "folder name"),
        ("cities:\n  - {name: a, boundaries: b, facilities: f, network: n}\n" + _DUPLICATE, "used twice"),
        ("defaults: {no_figures: 3}\ncities:\n  - {name: a, boundaries: b, facilities: f, network: n}", "true or"),
        ("city: []", "unknown top-level"),
    ],
)
def test_bad_batch_files_are_refused(tmp_path, text, message):
    path = tmp_path / "b.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_batch(path)


def test_a_failing_city_is_reported_and_the_others_finish(cities, serial_batch):
    code, out = serial_batch
    assert code == 1  # not every city finished
    report = json.loads((out / "batch_report.json").read_text(encoding="utf-8"))
    assert not report["ok"] and report["failed"] == 1
    rows = {r["city"]: r for r in report["reports"]}
    assert rows["city_01"]["status"] == rows["city_02"]["status"] == "ok"
    assert rows["broken"]["status"] == "failed" and "no features" in rows["broken"]["error"]
    assert [r[0] for r in _csv(out / "batch_report.csv")[1:]] == ["city_01", "broken", "city_02"]
    for name in ("city_01", "city_02"):
        assert all((out / name / f).exists() for f in TABLES)
    assert not (out / "broken").exists()
    # the combined indicators: each city's own rows, a city column first
    combined = _csv(out / "indicators.csv")
    assert combined[0] == ["city", *_csv(out / "city_01" / "indicators.csv")[0]]
    for name in ("city_01", "city_02"):
        own = _csv(out / name / "indicators.csv")[1:]
        assert [r[1:] for r in combined[1:] if r[0] == name] == own
    assert {r[0] for r in combined[1:]} == {"city_01", "city_02"}


def test_batch_on_dask_gives_the_cities_their_usual_outputs(cities, serial_batch, tmp_path):
    _, serial_out = serial_batch
    seen = []
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, **QUIET) as cluster,
        Client(cluster) as client,
    ):
        # the workers send the files back and this process writes them (as with remote workers)
        result = run_batch(
            cities / "cities.yaml",
            tmp_path,
            dask=client,
            cache=cities / "cache",
            outputs_by="client",
            on_city=lambda r: seen.append(r.city),
        )
    assert sorted(seen) == ["broken", "city_01", "city_02"]
    assert [r.status for r in result.reports] == ["ok", "failed", "ok"] and not result.ok
    for name in ("city_01", "city_02"):
        different = [f for f in TABLES if not filecmp.cmp(tmp_path / name / f, serial_out / name / f, shallow=False)]
        assert different == []
        assert (tmp_path / name / "map.html").exists()
    assert filecmp.cmp(tmp_path / "indicators.csv", serial_out / "indicators.csv", shallow=False)


def test_a_batch_where_every_city_finishes_exits_0(cities, tmp_path):
    (cities / "one.yaml").write_text(
        "cities:\n  - {name: only, boundaries: city_02/communities.geojson, facilities: city_02/facilities.geojson,\n"
        "     network: city_02/network.npz, rules: city_02/rules.yaml, no_figures: true, grid_spacing: 120}\n",
        encoding="utf-8",
    )
    argv = ["batch", str(cities / "one.yaml"), "--out", str(tmp_path), "--cache", str(cities / "cache")]
    assert cli.main(argv) == 0
    assert (tmp_path / "only" / "gaps.csv").exists()
