"""Calls handed to a worker process while the run goes on (issue 25): the same files, the same
errors, and the same work done here on one core."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest

from circles import stages
from circles._safety import check_regular_file
from circles._sheets import write_csv
from circles.errors import InputError


def _table() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "=1+1"], "名称": ["甲", "乙", "丙"], "x": [1.5, None, 3.0]})


def test_side_worker_writes_the_same_bytes(tmp_path):
    here = write_csv(_table(), tmp_path / "here.csv")
    side = stages.SideProcess()
    side.start("csv", write_csv, _table(), tmp_path / "side.csv")
    got = side.results()
    assert got == {"csv": tmp_path / "side.csv"}
    assert (tmp_path / "side.csv").read_bytes() == here.read_bytes()


def test_side_worker_error_reaches_the_caller(tmp_path):
    """A refusal raised in the worker is raised by ``results`` as the same error, with its file."""
    bad = tmp_path / "facilities.geojson"
    os.mkfifo(bad)  # a named pipe, refused before it is opened
    with pytest.raises(InputError) as here:
        check_regular_file(bad)
    side = stages.SideProcess()
    side.start("f", check_regular_file, bad)
    with pytest.raises(InputError) as there:
        side.results()
    assert str(there.value) == str(here.value)
    assert there.value.path == str(bad)


def test_one_core_runs_here(tmp_path, monkeypatch):
    """On one core no worker starts: the call runs when its result is asked for."""
    monkeypatch.setattr(stages, "worker_cores", lambda: 1)
    side = stages.SideProcess()
    side.start("csv", write_csv, _table(), tmp_path / "t.csv")
    assert side._pool is None
    assert not (tmp_path / "t.csv").exists()
    assert side.results() == {"csv": tmp_path / "t.csv"}
    assert (tmp_path / "t.csv").exists()


def test_every_call_of_a_run_runs_at_once(monkeypatch):
    """With two cores, the three calls a run hands over (two workbooks, the areas' GeoJSON) run
    side by side: three 4-second waits end in well under the 8 s two workers would take (the
    third waiting for a free one), worker start-up included."""
    monkeypatch.setattr(stages, "worker_cores", lambda: 2)
    side = stages.SideProcess()
    start = time.monotonic()
    for name in "abc":
        side.start(name, time.sleep, 4)
    assert side.results() == {"a": None, "b": None, "c": None}
    assert time.monotonic() - start < 7.5
