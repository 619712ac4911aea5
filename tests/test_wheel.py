"""The package installs like one: a wheel built from this tree, installed (not editable) into a
fresh virtual environment, runs the embedded demo from an unrelated folder.

The fresh environment gets its third-party dependencies from the test environment (a path
entry to its site-packages), so the test needs no download; the circles package itself comes
only from the wheel, which is what is being checked (package data: demo inputs, rulebooks,
configuration, map assets).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", "build", "dist", "results", "__pycache__", ".circles_cache", "generated", "node_modules"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP or n.startswith(".venv") or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with the circles wheel installed; returns its python."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_ignore)
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
    )
    wheels = list(dist.glob("circles-*.whl"))
    assert len(wheels) == 1, wheels
    env = tmp / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # dependencies from the test environment; its editable circles is not visible through a plain path entry
    Path(site, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--quiet", str(wheels[0])], check=True)
    return py


def test_wheel_runs_the_demo_anywhere(wheel_env, tmp_path, demo_result):
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [str(wheel_env), "-c", "import circles; print(circles.__file__, circles.__version__)"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(wheel_env.parents[1]), where  # the installed copy, not the source tree
    assert where[1] != "0+unknown"
    cli = wheel_env.parent / "circles"
    run = subprocess.run(
        [str(cli), "run", "--no-figures", "--out", "out", "--cache", ""], cwd=work, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    out = work / "out"
    for name in ("gaps.csv", "ledger.xlsx", "map.html", "access.csv", "facilities.csv"):
        assert (out / name).stat().st_size > 0, name
    # the installed package analyses the demo exactly as the source tree does
    gaps = pd.read_csv(out / "gaps.csv", encoding="utf-8-sig")
    assert list(gaps["status"]) == list(demo_result.gaps["status"])
    assert "leaflet" in (out / "map.html").read_text(encoding="utf-8").lower()  # assets inlined from the package
    assert not (work / "maps").exists()  # a run writes only under --out
