"""A real ``circles run`` killed, interrupted, run twice at once, out of disk space or facing
a read-only folder: the output folder is always the previous run or the new one, complete.

The runs are the command line's ``main`` in forked child processes (signals, locks and exits
are those of a separate process) on the demo result the session computed once, so that the
analysis is not repeated; the tests stop them while they write. Disk full and read-only
folders use a small tmpfs when this machine allows mounting one, and otherwise a writer
patched to fail the same way; both assert the same behaviour.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from circles import _outputs, cli, export, pipeline


@pytest.fixture(scope="module")
def old_run(demo_result, tmp_path_factory) -> Path:
    """A complete previous run (copied for each test)."""
    out = tmp_path_factory.mktemp("old") / "results"
    pipeline.write_outputs(demo_result, out)
    return out


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if ".circles-new-" in p.name or ".circles-old-" in p.name)


def wait_for(cond, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def start_run(result, out: Path, err: Path, gate: Path | None = None, hold_maps: bool = False) -> int:
    """Fork a child running ``circles run --out OUT`` on ``result``; return its pid. With a
    ``gate`` the child's analysis waits until that file exists (holding the folder); with
    ``hold_maps`` the maps wait a minute, so that a signal surely arrives while writing."""
    pid = os.fork()
    if pid:
        return pid
    code = 99  # pragma: no cover - the child
    try:
        # Ctrl-C as in a terminal, even when the tests run where SIGINT is ignored (a background job)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.stderr = open(err, "w", encoding="utf-8")  # noqa: SIM115 - closed by the exit below

        def analyse(*args, **kwargs):
            while gate is not None and not gate.exists():
                time.sleep(0.05)
            return result

        pipeline.analyse = analyse
        if hold_maps:
            from circles import mapping

            write_maps = mapping.write_maps

            def slow_maps(*args, **kwargs):
                time.sleep(60)
                return write_maps(*args, **kwargs)

            mapping.write_maps = slow_maps
        code = cli.main(["run", "--out", str(out), "--no-figures"])
        sys.stderr.flush()
    finally:
        os._exit(code)


def finish(pid: int, timeout: float = 180.0) -> int:
    """Wait for a child; its exit code, or minus the signal that ended it."""
    end = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if time.monotonic() > end:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


@pytest.fixture
def run_here(monkeypatch, demo_result):
    """``circles run`` in this process on the demo result; returns (code, stderr)."""

    def run(capsys, *args: str) -> tuple[int, str]:
        monkeypatch.setattr(pipeline, "analyse", lambda *a, **k: demo_result)
        code = cli.main(["run", "--no-figures", *args])
        return code, capsys.readouterr().err

    return run


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["kill", "ctrl-c", "term"])
def test_killed_or_interrupted_while_writing(tmp_path, demo_result, old_run, sig):
    """The signal arrives once ledger.xlsx is written, with the maps still to come."""
    before = digest(old_run)
    out = shutil.copytree(old_run, tmp_path / "results")
    err = tmp_path / "stderr.txt"
    pid = start_run(demo_result, out, err, hold_maps=True)
    try:
        wait_for(lambda: any(tmp_path.glob(".results.circles-new-*/ledger.xlsx")))
        os.kill(pid, sig)
    finally:
        code = finish(pid)
    message = err.read_text(encoding="utf-8")
    assert digest(out) == before  # the previous run, complete and untouched
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        assert leftovers(out)  # the half-written folder: the next run removes it
    else:
        assert code == 130, message
        assert "interrupted" in message and "Traceback" not in message
        assert leftovers(out) == []  # removed on the way out
    # the next run into the folder first removes what an interrupted one left
    with _outputs.claim(out):
        assert leftovers(out) == []
    assert digest(out) == before


def test_two_runs_into_one_folder(tmp_path, demo_result, run_here, capsys, monkeypatch):
    """The first run holds the folder from before its analysis; the second is refused with a
    message naming the first, which then finishes a complete folder."""
    out = tmp_path / "results"
    gate = tmp_path / "gate"
    err = tmp_path / "stderr.txt"
    pid = start_run(demo_result, out, err, gate=gate)
    lock = tmp_path / ".results.circles-lock"
    try:
        wait_for(lambda: lock.exists() and f'"pid": {pid}' in lock.read_text())
        monkeypatch.setattr(_outputs, "LOCK_WAIT_S", 0.3)
        code, message = run_here(capsys, "--out", str(out))
        assert code == 2
        assert f"being written by another circles process (pid {pid}" in message and "another --out" in message
        assert not out.exists()
    finally:
        gate.write_text("go")
        code = finish(pid)
    assert code == 0, err.read_text(encoding="utf-8")
    info = json.loads((out / "run_info.json").read_text(encoding="utf-8"))
    assert set(info["outputs"]) == {p.name for p in out.iterdir()} - {"run_info.json"}
    assert leftovers(out) == []


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[bool]:
    """Mount a tmpfs at ``path`` (True), or say it cannot be done here (False)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    except OSError:
        yield False
        return
    if r.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill_up(monkeypatch) -> None:
    """The writer of isochrones.geojson runs out of space half-way (when no tmpfs can be mounted)."""
    real = export.write_geojson

    def full(gdf, path):
        Path(path).write_bytes(b'{"type": "FeatureCollection", "feat')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(export, "write_geojson", full)
    assert real is not full


def test_disk_full_keeps_the_previous_run(tmp_path, run_here, capsys, monkeypatch):
    disk = tmp_path / "disk"
    with tmpfs(disk, "size=1m") as mounted:
        out = disk / "results"
        with _outputs.atomic_folder(out) as stage:  # a previous run, small enough to fit
            (stage.path / "gaps.csv").write_text("previous")
        before = digest(out)
        if not mounted:
            _fill_up(monkeypatch)
        code, err = run_here(capsys, "--out", str(out))
        assert code == 2, err
        assert "no space left on the device" in err and "is unchanged" in err and "free some space" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert digest(out) == before
        assert leftovers(out) == []


def test_read_only_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    disk = tmp_path / "ro"
    with tmpfs(disk, "ro,size=64k") as mounted:
        if not mounted:
            real_mkdtemp = tempfile.mkdtemp
            real_open = os.open

            def ro_open(path, flags, *args, **kwargs):
                if str(path).startswith(str(disk)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
                return real_open(path, flags, *args, **kwargs)

            def ro_mkdtemp(*args, dir=None, **kwargs):
                if str(dir).startswith(str(disk)):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
                return real_mkdtemp(*args, dir=dir, **kwargs)

            monkeypatch.setattr(os, "open", ro_open)
            monkeypatch.setattr(tempfile, "mkdtemp", ro_mkdtemp)

        def no_work(*args, **kwargs):
            raise AssertionError("the analysis started before the output folder was checked")

        monkeypatch.setattr(pipeline, "analyse", no_work)
        code = cli.main(["run", "--out", str(disk / "results")])
        err = capsys.readouterr().err
    assert code == 2, err
    assert "read-only" in err and str(disk) in err and "Traceback" not in err


# ---------------------------------------------------------------------------- OSM bombs and long parses
_OSM_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'


def bz2_of(head: bytes, block: bytes, times: int, tail: bytes) -> bytes:
    """A small multi-stream ``.bz2`` expanding to ``head + block * times + tail`` (the block
    compressed once and repeated: seconds to build however large it expands)."""
    import bz2

    return bz2.compress(head) + bz2.compress(block) * times + bz2.compress(tail)


def comment_bomb(path: Path, mib: int = 400) -> Path:
    """The reported bomb: a few KB of bzip2 expanding to an XML comment of ``mib`` MiB."""
    path.write_bytes(bz2_of(_OSM_HEAD + b"<!-- ", b"A" * (1 << 20), mib, b" -->\n</osm>\n"))
    return path


def long_parse(path: Path, mib: int = 240) -> Path:
    """Valid OSM XML of ``mib`` MiB (under the decompression limit) that takes pyosmium many
    seconds: the same node over and over."""
    line = b'<node id="1" version="1" lat="39.99" lon="116.34"/>\n'
    per_block = (1 << 20) // len(line)
    path.write_bytes(bz2_of(_OSM_HEAD, line * per_block, mib, b"</osm>\n"))
    return path


def circles_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """``circles ARGS`` in a new process, its temporary files in ``cwd/tmp``."""
    code = "import sys; from circles import cli; sys.exit(cli.main(sys.argv[1:]))"
    (cwd / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(cwd / "tmp")}

    def ctrl_c_as_in_a_terminal() -> None:  # SIGINT is ignored when the tests run as a background job
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def reading_osm(proc: subprocess.Popen, tmp: Path) -> bool:
    """Has ``proc`` started reading the OSM file (its temporary folder made)?"""
    return proc.poll() is not None or any(p.name.startswith("circles-osm-") for p in (tmp / "tmp").iterdir())


def run_argv(network: Path, out: Path) -> list[str]:
    from circles import demo

    return [
        "run",
        "--boundaries",
        str(demo.DEMO_BOUNDARIES),
        "--facilities",
        str(demo.DEMO_FACILITIES),
        "--network",
        str(network),
        "--out",
        str(out),
        "--cache",
        "",
        "--no-figures",
    ]


@pytest.mark.parametrize("command", ["run", "extract"])
def test_comment_bomb_is_refused_within_seconds(tmp_path, command):
    bomb = comment_bomb(tmp_path / "bomb.osm.bz2")
    assert bomb.stat().st_size < 20_000
    out = tmp_path / "out"
    argv = run_argv(bomb, out) if command == "run" else ["extract", "--osm", str(bomb), "--out", str(out)]
    proc = circles_cli(*argv, cwd=tmp_path)
    wait_for(lambda: reading_osm(proc, tmp_path))
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if line.startswith("circles: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(bomb) in lines[0] and "XML_MAX_TOKEN_BYTES" in lines[0] and "without the end of an element" in lines[0]
    assert elapsed < 10, f"took {elapsed:.1f} s after it started reading the file"
    assert not out.exists()


@pytest.mark.parametrize(
    ("command", "sig"),
    [("run", signal.SIGTERM), ("extract", signal.SIGTERM), ("run", signal.SIGINT)],
    ids=["run-term", "extract-term", "run-ctrl-c"],
)
def test_sigterm_stops_a_long_osm_parse_within_seconds(tmp_path, command, sig):
    """SIGTERM or Ctrl-C while pyosmium parses (run: the child process reading the walking
    network; extract: the decompression and the feature reading) stops circles within 10 s,
    exit 130, the output folder as it was."""
    osm = long_parse(tmp_path / "big.osm.bz2")
    out = tmp_path / "out"
    if command == "extract":  # extract writes into a folder of the user's; run refuses one
        out.mkdir()
        (out / "mine.txt").write_text("the user's file", encoding="utf-8")
    argv = run_argv(osm, out) if command == "run" else ["extract", "--osm", str(osm), "--out", str(out)]
    proc = circles_cli(*argv, cwd=tmp_path)
    try:
        wait_for(lambda: reading_osm(proc, tmp_path))
        time.sleep(1.5)  # run: the pyosmium reader (a child process) is parsing; extract: decompressing
        assert command == "extract" or children(proc.pid), "no reader process"
        assert proc.poll() is None, proc.communicate()[1]
        t0 = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert ("interrupted (SIGTERM)" if sig == signal.SIGTERM else "interrupted;") in err, err
    assert "Traceback" not in err, err
    assert elapsed < 10, f"took {elapsed:.1f} s after the signal"
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"] if command == "extract" else not out.exists()
    assert list((tmp_path / "tmp").iterdir()) == [], "temporary files left"


def test_decompression_limit_names_the_file_and_limit(tmp_path, monkeypatch):
    from circles import _osmium
    from circles.errors import InputError

    many = tmp_path / "many.osm.bz2"
    many.write_bytes(bz2_of(_OSM_HEAD, b"<!-- small -->\n" * 70_000, 40, b"</osm>\n"))  # 40 MiB of comments
    monkeypatch.setattr(_osmium, "DECOMPRESSED_MIN_BYTES", 8 << 20)
    for read in (_osmium.read_walk_ways, lambda p: _osmium.read_features(p, lambda tags: True)):
        with pytest.raises(InputError, match="expands to more than 8 MiB .*decompression bomb") as info:
            read(many)
        assert str(many) in str(info.value)
