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

import numpy as np
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


# --------------------------------------------------------------------------- circles extract

_EXTRACT_OSM = """<?xml version="1.0" encoding="UTF-8"?>
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


def test_extract_disk_full_keeps_the_previous_files(tmp_path, capsys, monkeypatch):
    """A full disk while re-extracting: every previous file intact, no half-written file, one line."""
    from circles import extract as ex

    osm = tmp_path / "small.osm"
    osm.write_text(_EXTRACT_OSM, encoding="utf-8")
    out = tmp_path / "inputs"
    assert cli.main(["extract", "--osm", str(osm), "--out", str(out)]) == 0
    before = digest(out)
    assert {"communities.geojson", "facilities.geojson"} <= set(before)
    real = ex.write_geojson
    calls = []

    def full(gdf, path):
        calls.append(path)
        if len(calls) == 2:  # the second layer: half a file, then no space
            Path(path).write_bytes(b'{"type": "FeatureCollection", "feat')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(gdf, path)

    monkeypatch.setattr(ex, "write_geojson", full)
    capsys.readouterr()
    code = cli.main(["extract", "--osm", str(osm), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no space left on the device" in err and "unchanged" in err and str(out) in err
    assert "Traceback" not in err
    assert digest(out) == before
    assert not [p for p in out.iterdir() if ".circles-extract-new-" in p.name]


# --------------------------------------------------------------------------- a team folder stays the team's


def _acl(entries: list[tuple[int, int, int]]) -> bytes:
    import struct

    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_replaced_folder_keeps_mode_group_setgid_and_acl(tmp_path):
    """drwxrws--- with a group, setgid and an ACL came back drwxr-xr-x root:root after every run."""
    out = tmp_path / "team" / "results"
    with _outputs.atomic_folder(out) as stage:
        (stage.path / "gaps.csv").write_text("first")
    os.chmod(out, 0o2770)
    can_chown = os.geteuid() == 0
    if can_chown:
        os.chown(out, -1, 4321)
    none = 0xFFFFFFFF  # ACL_UNDEFINED_ID
    acl = _acl([(0x01, 7, none), (0x04, 7, none), (0x08, 5, 1234), (0x10, 7, none), (0x20, 0, none)])
    try:
        os.setxattr(out, "system.posix_acl_access", acl)
        has_acl = True
    except (OSError, AttributeError):
        has_acl = False  # no ACLs on this file system: mode and group are still checked
    before = os.stat(out)
    for force in (False, True):
        with _outputs.atomic_folder(out, force=force) as stage:
            (stage.path / "gaps.csv").write_text("again")
        after = os.stat(out)
        assert (out / "gaps.csv").read_text() == "again"
        assert json.loads((out / "run_info.json").read_text())["replaces"]  # really a new folder
        assert oct(after.st_mode & 0o7777) == oct(before.st_mode & 0o7777) == oct(0o2770)
        assert after.st_gid == before.st_gid == (4321 if can_chown else before.st_gid)
        if has_acl:
            assert os.getxattr(out, "system.posix_acl_access") == acl


# --------------------------------------------------------------------------- inputs changing during a run


def _boundary(path: Path, population: int) -> Path:
    feature = {
        "type": "Feature",
        "properties": {"id": "c1", "name": "x", "population": population},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[116.346, 39.999], [116.348, 39.999], [116.348, 40.001], [116.346, 39.999]]],
        },
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return path


def test_run_info_hashes_the_bytes_that_were_read(tmp_path):
    """The boundaries replaced during a run: run_info.json recorded the other version's SHA-256."""
    from circles import load

    p = _boundary(tmp_path / "b.geojson", 100)
    read = hashlib.sha256(p.read_bytes()).hexdigest()
    got = load.load_communities(p)
    assert got["population"].iloc[0] == 100
    _boundary(p, 999)  # replaced after it was read
    os.utime(p, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert _outputs.describe_input(p)["sha256"] == read
    assert _outputs.describe_input(p, fresh=True)["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest() != read


def test_a_file_changing_while_read_is_refused(tmp_path, monkeypatch):
    from circles import load
    from circles.errors import InputError

    p = _boundary(tmp_path / "b.geojson", 100)
    real = load._read_decoded

    def racing(src, label, layer, encoding):
        out = real(src, label, layer, encoding)
        _boundary(p, 123456)  # another program saves the file meanwhile
        return out

    monkeypatch.setattr(load, "_read_decoded", racing)
    with pytest.raises(InputError, match="changed while circles read it") as e:
        load.load_communities(p)
    assert e.value.path == str(p)


def test_worker_tracebacks_go_to_a_file_not_the_terminal(tmp_path, monkeypatch):
    """Disk full during maps: 7 map-worker tracebacks (79 lines) were printed before the clean message."""
    import io
    import logging

    monkeypatch.setitem(cli._DETAILS, "path", str(tmp_path / "details.log"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(cli._TerminalFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("circles.test_workers")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "community_maps/c1.html")
        except OSError:
            logger.warning("map of community %s failed: %s", "c1\x1b]0;t\x07", "OSError", exc_info=True)
    finally:
        logger.removeHandler(handler)
    shown = stream.getvalue()
    assert len(shown.strip().splitlines()) == 1 and "Traceback" not in shown and "\x1b" not in shown
    assert "map of community c1]0;t failed" in shown and str(tmp_path / "details.log") in shown
    details = (tmp_path / "details.log").read_text(encoding="utf-8")
    assert "Traceback" in details and "No space left on device" in details


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


def _multi_stream(text: bytes, tmp_path: Path, piece: int = 5_000) -> Path:
    """``text`` as a ``.osm.bz2`` of one bzip2 stream per ``piece`` bytes (as pbzip2 writes)."""
    import bz2

    path = tmp_path / "multi.osm.bz2"
    path.write_bytes(b"".join(bz2.compress(text[i : i + piece]) for i in range(0, len(text), piece)))
    return path


@pytest.fixture
def demo_xml() -> bytes:
    import bz2

    from circles import demo

    return bz2.decompress(Path(demo.DEMO_OSM).read_bytes())


@pytest.fixture
def bz2_threads(monkeypatch):
    """Runs of a few KB decompressed by two threads, whatever the machine's cores."""
    from circles import _osmium

    monkeypatch.setattr(_osmium, "_BZ2_RUN_BYTES", 4_096)
    monkeypatch.setattr(_osmium, "worker_cores", lambda: 2)
    return _osmium


def test_multi_stream_bz2_is_read_by_threads_byte_for_byte(tmp_path, demo_xml, bz2_threads):
    path = _multi_stream(demo_xml, tmp_path)
    runs = bz2_threads._bz2_runs(path)
    assert len(runs) > 5 and runs[0][0] == 0 and runs[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(runs, runs[1:], strict=False))
    chunks = list(bz2_threads.iter_osm_bytes(path, "osm.bz2"))
    assert b"".join(chunks) == demo_xml
    assert max(len(c) for c in chunks) <= bz2_threads._CHUNK
    # the walking network is the same as from the plain XML
    plain = tmp_path / "plain.osm"
    plain.write_bytes(demo_xml)
    a, b = bz2_threads.walk_arrays(path), bz2_threads.walk_arrays(plain)
    assert np.array_equal(a.node_ids, b.node_ids) and np.array_equal(a.coords, b.coords)


def test_multi_stream_bz2_cut_inside_a_stream_is_read_the_plain_way(tmp_path, demo_xml, bz2_threads, monkeypatch):
    """A run boundary inside a stream (a stream header's bytes met inside compressed data): that
    run does not decompress as whole streams; it and the rest are read one stream after the other."""
    path = _multi_stream(demo_xml, tmp_path, piece=40_000)
    runs = bz2_threads._bz2_runs(path)
    a, b = runs[1]
    cut = [*runs[:1], (a, a + 100), (a + 100, b), *runs[2:]]
    monkeypatch.setattr(bz2_threads, "_bz2_runs", lambda p: cut)
    assert b"".join(bz2_threads.iter_osm_bytes(path, "osm.bz2")) == demo_xml


@pytest.mark.parametrize("threads", [2, 1], ids=["threads", "one-thread"])
def test_damaged_later_stream_of_a_bz2_is_an_error(tmp_path, demo_xml, bz2_threads, monkeypatch, threads):
    """Damage in the fourth of many streams is an error, read by threads or one stream after the
    other (``bz2.open`` took such a stream for trailing garbage and stopped without a word)."""
    from circles.errors import InputError

    path = _multi_stream(demo_xml, tmp_path)
    data = bytearray(path.read_bytes())
    runs = bz2_threads._bz2_runs(path)
    middle = (runs[3][0] + runs[3][1]) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    monkeypatch.setattr(bz2_threads, "BZ2_THREADS", threads)
    with pytest.raises(InputError, match="not a readable OSM XML file .bzip2 error") as info:
        for _ in bz2_threads.iter_osm_bytes(path, "osm.bz2"):
            pass
    assert str(path) in str(info.value)


def test_bz2_trailing_bytes_are_ignored_as_bz2_open_does(tmp_path, demo_xml, bz2_threads):
    import bz2

    path = _multi_stream(demo_xml, tmp_path)
    path.write_bytes(path.read_bytes() + bytes(1_000))
    with bz2.open(path) as fh:
        assert fh.read() == demo_xml
    assert b"".join(bz2_threads.iter_osm_bytes(path, "osm.bz2")) == demo_xml


def test_multi_stream_bomb_is_stopped_at_the_files_limit(tmp_path, bz2_threads, monkeypatch):
    """Runs that expand past their own bound are read the plain way, where the file's limit stops them."""
    from circles.errors import InputError

    monkeypatch.setattr(bz2_threads, "_BZ2_RUN_MAX_BYTES", 2 << 20)
    monkeypatch.setattr(bz2_threads, "_BZ2_RUN_BYTES", 200)
    monkeypatch.setattr(bz2_threads, "DECOMPRESSED_MIN_BYTES", 8 << 20)
    many = tmp_path / "many.osm.bz2"
    many.write_bytes(bz2_of(_OSM_HEAD, b"<!-- small -->\n" * 70_000, 40, b"</osm>\n"))  # 40 MiB of comments
    assert len(bz2_threads._bz2_runs(many)) > 2
    with pytest.raises(InputError, match="expands to more than 8 MiB .*decompression bomb"):
        for _ in bz2_threads.iter_osm_bytes(many, "osm.bz2"):
            pass


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
