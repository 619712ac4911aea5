"""Output folders: complete or untouched, locked, self-describing; inputs never overwritten.

The commit protocol is checked by killing child processes at each of its steps (a test hook
in ``circles._outputs``), both with the one-step exchange and with the rename-aside
fallback; then by killing and interrupting a real ``circles run`` while it writes
(``test_fault_injection.py``).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from circles import _outputs
from circles.errors import OutputError


def _write(out: Path, tag: str, kill_at: str, mode: str, force: bool) -> None:
    """Write an "old" or "new" folder, stopping the process at the commit step ``kill_at``."""
    _outputs.USE_EXCHANGE = mode == "exchange"

    def hook(point: str) -> None:
        if point == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    _outputs._FAULT_HOOK = hook
    with _outputs.atomic_folder(out, force=force) as stage:
        for i in range(5):
            (stage.path / f"part{i}.txt").write_text(tag)
            if kill_at == "writing" and i == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            if kill_at == "interrupt" and i == 2:
                raise KeyboardInterrupt  # Ctrl-C while writing
        (stage.path / f"only_{tag}.txt").write_text(tag)
        (stage.path / "maps").mkdir()
        (stage.path / "maps" / f"{tag}.html").write_text(tag)


def in_child(func, *args) -> int:
    """Run ``func(*args)`` in a forked child; its exit code (1 for OutputError, 130 for
    KeyboardInterrupt), or minus the signal that killed it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            func(*args)
        except OutputError:
            code = 1
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            code = 99
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


STEPS = ["writing", "written", "carried", "aside", "swapped"]


def write_run(out: Path, tag: str, *, kill_at: str = "", mode: str = "exchange", force: bool = False) -> int:
    return in_child(_write, out, tag, kill_at, mode, force)


def folder_state(out: Path, extra: frozenset[str] = frozenset()) -> str:
    """'old' or 'new' when ``out`` is one run's complete folder; fail on anything else."""
    assert out.is_dir(), f"{out} is missing"
    info = json.loads((out / "run_info.json").read_text(encoding="utf-8"))
    names = {p.name for p in out.iterdir()} - {"run_info.json"}
    tags = {(out / f"part{i}.txt").read_text() for i in range(5)}
    assert len(tags) == 1, f"a mix of runs: {tags}"
    tag = tags.pop()
    mine = {f"part{i}.txt" for i in range(5)} | {f"only_{tag}.txt", "maps"}
    assert mine <= names, f"incomplete {tag} folder: {sorted(names)}"
    assert set(info["outputs"]) >= mine
    assert [p.name for p in (out / "maps").iterdir()] == [f"{tag}.html"]
    assert names - mine == extra, f"stale or missing files: {names - mine}"
    assert set(info.get("kept_user_files", [])) <= extra
    return tag


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if ".circles-new-" in p.name or ".circles-old-" in p.name)


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
@pytest.mark.parametrize("step", STEPS)
def test_a_run_killed_at_any_step_leaves_one_complete_folder(tmp_path, step, mode):
    out = tmp_path / "results"
    assert write_run(out, "old", mode=mode) == 0
    assert folder_state(out) == "old"
    code = write_run(out, "new", kill_at=step, mode=mode)
    expect_killed = not (step == "carried" or (step == "aside" and mode == "exchange"))  # steps not reached
    assert code == (-9 if expect_killed else 0)
    if out.exists():
        state = folder_state(out)
        assert state == ("new" if step == "swapped" or not expect_killed else "old")
    else:
        # only between "old set aside" and "new moved in" (the fallback without exchange)
        assert (step, mode) == ("aside", "fallback")
    # the next run into the folder finishes the interrupted commit, then writes its own
    with _outputs.claim(out):
        assert folder_state(out) in ("old", "new")
        assert leftovers(out) == []
    assert write_run(out, "old", mode=mode) == 0
    assert folder_state(out) == "old" and leftovers(out) == []


@pytest.mark.parametrize("step", ["written", "carried"])
def test_user_files_kept_with_force_survive_a_crash(tmp_path, step):
    out = tmp_path / "results"
    assert write_run(out, "old") == 0
    (out / "notes.docx").write_text("mine")
    assert write_run(out, "new") == 1  # refused: a file circles did not write
    assert folder_state(out, frozenset({"notes.docx"})) == "old"
    assert write_run(out, "new", kill_at=step, force=True) == -9
    _outputs.recover(out)
    assert (out / "notes.docx").read_text() == "mine"
    assert folder_state(out, frozenset({"notes.docx"})) == "old" and leftovers(out) == []
    assert write_run(out, "new", force=True) == 0
    assert folder_state(out, frozenset({"notes.docx"})) == "new" and (out / "notes.docx").read_text() == "mine"
    assert json.loads((out / "run_info.json").read_text())["kept_user_files"] == ["notes.docx"]


def test_interrupt_while_writing_leaves_the_old_folder(tmp_path):
    out = tmp_path / "results"
    assert write_run(out, "old") == 0
    assert write_run(out, "new", kill_at="interrupt") == 130
    assert folder_state(out) == "old" and leftovers(out) == []  # cleaned up on the way out


def test_rerun_removes_stale_outputs(tmp_path):
    out = tmp_path / "results"
    with _outputs.atomic_folder(out) as stage:
        (stage.path / "gaps.csv").write_text("a")
        (stage.path / "input_problems.csv").write_text("old problems")
        (stage.path / "community_maps").mkdir()
        (stage.path / "community_maps" / "gone.html").write_text("x")
    with _outputs.atomic_folder(out) as stage:
        (stage.path / "gaps.csv").write_text("b")
        (stage.path / "community_maps").mkdir()
    assert sorted(p.name for p in out.iterdir()) == ["community_maps", "gaps.csv", "run_info.json"]
    assert list((out / "community_maps").iterdir()) == []


def test_update_mode_keeps_other_outputs(tmp_path):
    out = tmp_path / "sites"
    with _outputs.atomic_folder(out, update=True) as stage:
        (stage.path / "sites_clinic.csv").write_text("1")
    with _outputs.atomic_folder(out, update=True) as stage:
        (stage.path / "sites_park.csv").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["run_info.json", "sites_clinic.csv", "sites_park.csv"]
    info = _outputs.read_run_info(out)
    assert info is not None and info["outputs"] == ["sites_clinic.csv", "sites_park.csv"]


def test_nested_circles_folders_are_kept_not_foreign(tmp_path):
    out = tmp_path / "results"
    with _outputs.atomic_folder(out) as stage:
        (stage.path / "gaps.csv").write_text("a")
    with _outputs.atomic_folder(out / "whatif") as stage:  # circles whatif --out results/whatif
        (stage.path / "comparison.csv").write_text("c")
    with _outputs.atomic_folder(out) as stage:  # a re-run: no --force needed, whatif/ kept
        (stage.path / "gaps.csv").write_text("b")
    assert (out / "whatif" / "comparison.csv").read_text() == "c"
    assert (out / "gaps.csv").read_text() == "b"


def test_foreign_folder_refused_unless_forced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("mine")
    with (
        pytest.raises(OutputError, match=r"holds files circles did not write \('thesis.docx'\).*--force"),
        _outputs.claim(out),
    ):
        pass
    with _outputs.atomic_folder(out, force=True) as stage:
        (stage.path / "gaps.csv").write_text("a")
    assert (out / "thesis.docx").read_text() == "mine" and (out / "gaps.csv").exists()


def test_legacy_circles_folder_is_recognised(tmp_path):
    out = tmp_path / "results"
    (out / "community_maps").mkdir(parents=True)
    for name in ("gaps.csv", "ledger.xlsx", "map.html", ".DS_Store"):
        (out / name).write_text("old")
    with _outputs.atomic_folder(out) as stage:
        (stage.path / "gaps.csv").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["gaps.csv", "run_info.json"]


@pytest.mark.parametrize("where", ["same", "inside", "hardlink"])
def test_inputs_are_never_overwritten(tmp_path, where):
    data = tmp_path / "data"
    data.mkdir()
    facilities = data / "facilities.csv"
    facilities.write_text("id,lon,lat\n")
    out = data if where != "hardlink" else tmp_path / "results"
    if where == "hardlink":
        out.mkdir()
        os.link(facilities, out / "facilities.csv")
        (out / "run_info.json").write_text(json.dumps({"tool": "circles", "outputs": ["facilities.csv"]}))
    if where == "same":
        with pytest.raises(OutputError, match="is the input"), _outputs.atomic_file(facilities, inputs=[facilities]):
            pass
    else:
        with (
            pytest.raises(OutputError, match="facilities.csv"),
            _outputs.atomic_folder(out, inputs=[facilities], force=True),
        ):
            pass
    assert facilities.read_text() == "id,lon,lat\n"


def test_out_is_a_file_or_the_current_folder(tmp_path, monkeypatch):
    f = tmp_path / "results"
    f.write_text("x")
    with pytest.raises(OutputError, match="is an existing file"), _outputs.claim(f):
        pass
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="current folder"), _outputs.claim("."):
        pass


def test_run_info_describes_inputs(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"abc")
    d = _outputs.describe_input(src)
    assert d["size"] == 3
    assert d["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    assert _outputs.describe_input(tmp_path / "nope")["exists"] is False


def test_lock_refuses_a_second_writer_then_releases(tmp_path, monkeypatch):
    out = tmp_path / "results"
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def hold() -> None:
        with _outputs.claim(out):
            os.write(ready_w, b"1")
            os.read(go_r, 1)

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child holds the lock until told to stop
        try:
            hold()
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"1"
        monkeypatch.setattr(_outputs, "LOCK_WAIT_S", 0.3)
        with (
            pytest.raises(OutputError, match=rf"being written by another circles process \(pid {pid}"),
            _outputs.atomic_folder(out),
        ):
            pass
    finally:
        os.write(go_w, b"1")
        os.waitpid(pid, 0)
    with _outputs.atomic_folder(out) as stage:  # released when the holder ended
        (stage.path / "gaps.csv").write_text("a")
    assert (out / "gaps.csv").exists()


def test_atomic_file_refuses_a_file_it_did_not_write(tmp_path):
    target = tmp_path / "comparison.csv"
    target.write_text("someone's numbers\n")
    with (
        pytest.raises(OutputError, match="not written by circles.*--force"),
        _outputs.atomic_file(target, ours=lambda p: False),
    ):
        pass
    with _outputs.atomic_file(target, ours=lambda p: False, force=True) as tmp:
        tmp.write_text("new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir() if "circles-new" in p.name] == []


GAPS = (
    "community_id,community_name,rule_id,facility_type,threshold_min,status,covered_share,residents,"
    "residents_uncovered\nc1,x,park,park,15,{status},{share},100,{unc}\n"
)


def test_compare_replaces_its_own_csv_but_no_other_file(tmp_path, capsys):
    from circles import cli

    for d, status, share, unc in (("before", "gap", 0.5, 50), ("after", "ok", 1.0, 0)):
        (tmp_path / d).mkdir()
        (tmp_path / d / "gaps.csv").write_text(GAPS.format(status=status, share=share, unc=unc))
    out = tmp_path / "cmp.csv"
    argv = ["compare", str(tmp_path / "before"), str(tmp_path / "after" / "gaps.csv"), "--out", str(out)]
    assert cli.main(argv) == 0
    assert "now ok" in out.read_text(encoding="utf-8-sig")
    assert cli.main(argv) == 0  # its own file: replaced
    out.write_text("budget figures\n")
    assert cli.main(argv) == 2
    assert "not written by circles" in capsys.readouterr().err
    assert out.read_text() == "budget figures\n"
    assert cli.main([*argv, "--force"]) == 0 and "now ok" in out.read_text(encoding="utf-8-sig")
    assert [p.name for p in tmp_path.iterdir() if "circles-new" in p.name] == []


def test_threads_of_one_process_take_turns(tmp_path, monkeypatch):
    """A notebook writing one folder from two threads: the second waits, then refuses."""
    import threading

    out = tmp_path / "results"
    monkeypatch.setattr(_outputs, "LOCK_WAIT_S", 0.2)
    inside, release, errors = threading.Event(), threading.Event(), []

    def first() -> None:
        with _outputs.atomic_folder(out) as stage:
            (stage.path / "gaps.csv").write_text("first")
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(10)
        try:
            with _outputs.atomic_folder(out):
                pass
        except OutputError as exc:
            errors.append(str(exc))
    finally:
        release.set()
        t.join(10)
    assert errors and f"pid {os.getpid()}" in errors[0]
    assert (out / "gaps.csv").read_text() == "first"


def test_nested_writes_go_inside_the_outer_commit(tmp_path):
    """circles whatif: current/ and scenario/ are written by write_outputs inside the what-if
    folder being written; they are committed with it, each with its own run_info.json."""
    out = tmp_path / "whatif"
    with _outputs.atomic_folder(out) as stage:
        for sub in ("current", "scenario"):
            with _outputs.atomic_folder(stage.path / sub) as inner:
                assert inner.nested and inner.path == stage.path / sub
                (inner.path / "gaps.csv").write_text(sub)
        assert not out.exists()  # nothing visible before the outer commit
        (stage.path / "comparison.csv").write_text("c")
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "current", "run_info.json", "scenario"]
    for sub in ("current", "scenario"):
        info = _outputs.read_run_info(out / sub)
        assert info is not None and info["outputs"] == ["gaps.csv"]
    assert not list(out.glob(".*circles-lock"))  # no lock files inside the folder


def test_map_command_keeps_the_runs_other_outputs(tmp_path, capsys, monkeypatch, demo_result):
    from circles import cli, pipeline

    monkeypatch.setattr(pipeline, "analyse", lambda *a, **k: demo_result)
    out = tmp_path / "results"
    with _outputs.atomic_folder(out) as stage:  # a run's folder (its tables; an old map)
        (stage.path / "gaps.csv").write_text("the run's gaps")
        (stage.path / "map.html").write_text("old map")
    assert cli.main(["map", "--out", str(out), "--no-figures", "--lang", "en"]) == 0, capsys.readouterr().err
    assert (out / "gaps.csv").read_text() == "the run's gaps" and (out / "map.html").read_text() != "old map"
    info = _outputs.read_run_info(out)
    assert info is not None and {"gaps.csv", "map.html", "community_maps"} <= set(info["outputs"])
    assert info["options"]["lang"] == "en" and "write_maps" in info["timings_s"]
