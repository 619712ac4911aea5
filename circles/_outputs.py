"""Output folders that are complete or untouched, locked while written, and self-describing.

Every command writes its folder the same way (:func:`atomic_folder`):

1. **Before any work** (:func:`claim`): the folder is not a file, holds no input, is not the
   current folder; its parent is writable (a probe folder is created and removed); a lock
   (``.<name>.circles-lock`` beside the folder, ``fcntl.flock``) is taken, so that a second
   run into the same folder waits :data:`LOCK_WAIT_S` seconds and then refuses; leftovers of
   interrupted runs are cleaned up; a folder holding files circles did not write is refused
   unless ``force``.
2. The outputs are written into a new hidden folder beside it (``.<name>.circles-new-…``, on
   the same file system), ``run_info.json`` last.
3. **Commit**: the files are flushed to disk, then the new folder replaces the old one. On
   Linux the two are exchanged in one step (``renameat2(RENAME_EXCHANGE)``); elsewhere the
   old folder is renamed aside, the new one renamed in, the old one deleted. Interrupt
   signals are held back during the commit. A crash at any point leaves the old folder or
   the new one complete, never a mix; the next run into the folder finishes or undoes what
   was left (:func:`recover`).

A folder counts as written by circles when it holds ``run_info.json`` (the marker): its
entries listed there are the previous outputs, replaced as a whole, so no stale file of an
earlier run survives. Sub-folders written by circles (``whatif/``, ``sites/`` inside
``results/``) are kept. Anything else is the user's: refused unless ``force``, and then kept
(moved into the new folder) unless an output of the same name replaces it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import OutputError

log = logging.getLogger(__name__)

#: The marker and description of a folder circles wrote.
RUN_INFO = "run_info.json"
#: A second run into a locked folder waits this long (seconds), then refuses.
LOCK_WAIT_S = 5.0

_NEW = ".circles-new-"
_OLD = ".circles-old-"
_LOCK = ".circles-lock"
_PROBE = ".circles-probe-"

#: Names circles writes (used to recognise folders written before run_info.json existed).
KNOWN_OUTPUTS = (
    "gaps.csv",
    "gaps.xlsx",
    "ledger.csv",
    "ledger.xlsx",
    "access.csv",
    "facilities.csv",
    "isochrones.geojson",
    "facility_isochrones.geojson",
    "input_problems.csv",
    "map.html",
    "community_maps",
    "figures",
    "report.pdf",
    "comparison.csv",
    "difference.geojson",
    "whatif_map.html",
    "current",
    "scenario",
    "sites_*.csv",
    "sites_*.geojson",
)
#: Files operating systems drop into folders; never a reason to refuse one.
_OS_JUNK = (".DS_Store", "Thumbs.db", "desktop.ini", "._*")

#: Test hook: called with the name of each commit step (see :func:`_checkpoint`).
_FAULT_HOOK: Callable[[str], None] | None = None
#: Use the one-step exchange where the system has it (tests switch it off to check the fallback).
USE_EXCHANGE = True


def _checkpoint(name: str) -> None:
    """A named point of the commit where the fault-injection tests can stop the process."""
    if _FAULT_HOOK is not None:
        _FAULT_HOOK(name)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _norm(path: str | os.PathLike) -> Path:
    """Absolute path with symbolic links resolved (the real folder is replaced, not the link)."""
    return Path(os.path.abspath(os.fspath(path))).resolve()


def _sibling(out: Path, tag: str) -> str:
    return f".{out.name}{tag}"


def _describe_oserror(exc: OSError, path: Path | str) -> str:
    what = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENAMETOOLONG: "the file name is too long",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
    }.get(exc.errno or -1, exc.strerror or type(exc).__name__)
    return f"{path}: {what}"


# --------------------------------------------------------------------------- inputs


_hash_cache: dict[tuple[str, int, int], str] = {}


def _sha256(f: Path) -> str:
    st = f.stat()
    key = (str(f), st.st_size, st.st_mtime_ns)
    digest = _hash_cache.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(f, "rb") as src:
            while block := src.read(1 << 20):
                h.update(block)
        digest = _hash_cache[key] = h.hexdigest()
    return digest


#: What was read of each input file (by its real path): the description made when it was
#: loaded, so that ``run_info.json`` names the bytes the analysis used even when the file is
#: replaced later in the run.
_loaded: dict[str, dict[str, Any]] = {}


def _stamp(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Wrap the reading of an input file: its description (hash) is taken before, checked
    after, and kept for :func:`describe_input`.

    Raises
    ------
    InputError
        When the file changed while it was read (another program writing it).
    """
    from .errors import InputError

    p = _norm(path)
    if not p.is_file():
        yield
        return
    before = _stamp(p)
    info = describe_input(p, fresh=True)
    yield
    if _stamp(p) != before:
        raise InputError(
            "the file changed while circles read it (another program is writing it?); run again once it is saved",
            path=str(path),
        )
    _loaded[str(p)] = info


def describe_input(path: str | os.PathLike | None, *, fresh: bool = False) -> dict[str, Any]:
    """Path, size, modification time and SHA-256 of an input file (for ``run_info.json``).

    A folder (a file geodatabase) gets its total size and a hash over its files' names and
    hashes; a missing path is described as such. Hashes are cached per (path, size, time).
    A file read through :func:`reading` is described as it was when read (unless ``fresh``).
    """
    if path is None or str(path) == "":
        return {}
    p = Path(path)
    if not p.exists():
        return {"path": str(p), "exists": False}
    p = _norm(p)
    from ._safety import check_regular_file

    check_regular_file(p)  # never open a FIFO or device to hash it: it would block
    if not fresh and str(p) in _loaded:
        return dict(_loaded[str(p)])
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        h = hashlib.sha256()
        for f in files:
            h.update(f.relative_to(p).as_posix().encode() + b"\0" + _sha256(f).encode() + b"\n")
        size, sha = sum(f.stat().st_size for f in files), h.hexdigest()
    else:
        size, sha = p.stat().st_size, _sha256(p)
    modified = datetime.fromtimestamp(p.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    return {"path": str(p), "size": size, "modified": modified, "sha256": sha}


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def check_not_input(out: Path, inputs: Iterable[str | os.PathLike | None], *, file: bool = False) -> None:
    """Refuse an output that is an input or (for a folder) contains one.

    Identity is checked with :func:`os.path.samefile` (hard links, symbolic links and
    different spellings of one path are the same file) as well as by location.
    """
    given = [raw for raw in inputs if raw is not None and str(raw) != "" and Path(raw).exists()]
    hits: list[str] = []
    for raw in given:
        p = _norm(raw)
        if (out.exists() and os.path.samefile(p, out)) or (not file and _inside(p, out)):
            hits.append(str(raw))
    if hits:
        kind = "is" if file or (len(hits) == 1 and _norm(hits[0]) == out) else "holds"
        what = "would overwrite it" if file else "replaces the whole folder"
        raise OutputError(
            f"the output {'file' if file else 'folder'} {out} {kind} the input{'s' if len(hits) > 1 else ''} "
            f"{', '.join(hits)}; circles {what}: choose another --out"
        )
    if file or not out.is_dir() or not given:
        return
    # a hard link to an input inside the folder is the input too
    inodes = {(st.st_dev, st.st_ino): raw for raw in given if (st := Path(raw).stat())}
    for f in out.rglob("*"):
        if f.is_file() and not f.is_symlink():
            st = f.stat()
            linked = inodes.get((st.st_dev, st.st_ino))
            if linked is not None:
                raise OutputError(
                    f"the output folder {out} holds {f}, which is the input {linked} (a link to it); "
                    "circles replaces the whole folder: choose another --out"
                )


# --------------------------------------------------------------------------- lock


@dataclass
class _Held:
    fd: int
    depth: int = 1
    force: bool = False


#: Locks this process holds, by folder and thread: re-entrant within a thread; another thread
#: opens its own lock file description, so ``flock`` makes it wait like another process.
_held: dict[tuple[Path, int], _Held] = {}
_held_lock = threading.Lock()


def _lock_fd(fd: int) -> bool:
    """Try to take the lock on ``fd`` without waiting; True when taken."""
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]  # Windows only
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another circles process"
    pid, command, since = info.get("pid", "?"), info.get("command", "?"), info.get("since", "?")
    return f"another circles process (pid {pid}, `{command}`, since {since})"


def _acquire(out: Path, wait_s: float) -> int:
    lock_path = out.parent / _sibling(out, _LOCK)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot write the output folder: {_describe_oserror(exc, out.parent)}") from None
    deadline = time.monotonic() + max(0.0, wait_s)
    try:
        while not _lock_fd(fd):
            if time.monotonic() >= deadline:
                raise OutputError(
                    f"{out} is being written by {_holder(lock_path)}; wait for it to finish or choose another --out"
                )
            time.sleep(0.1)
        os.ftruncate(fd, 0)
        stamp = {"pid": os.getpid(), "command": " ".join(["circles", *sys.argv[1:]])[:300], "since": _now()}
        os.write(fd, json.dumps(stamp).encode())
    except BaseException:
        os.close(fd)
        raise
    return fd


# --------------------------------------------------------------------------- folder state


def read_run_info(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``run_info.json`` of a folder written by circles, or None."""
    try:
        info = json.loads((Path(folder) / RUN_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("tool") == "circles" else None


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _bookkeeping(name: str) -> bool:
    """A hidden lock, new or old folder of a circles folder inside this one."""
    return name.startswith(".") and any(tag in name for tag in (_NEW, _OLD, _LOCK, _PROBE))


@dataclass
class _Entries:
    previous: list[str] = field(default_factory=list)  # outputs of the run being replaced
    nested: list[str] = field(default_factory=list)  # circles folders and bookkeeping inside
    foreign: list[str] = field(default_factory=list)  # the user's


def _classify(out: Path) -> _Entries:
    names = sorted(os.listdir(out))
    info = read_run_info(out)
    if info is not None:
        previous = set(info.get("outputs", [])) | {RUN_INFO}
    elif "gaps.csv" in names and all(_matches(n, KNOWN_OUTPUTS + _OS_JUNK) or _bookkeeping(n) for n in names):
        previous = set(names)  # a folder written before run_info.json existed
    else:
        previous = set()
    e = _Entries()
    for n in names:
        if n in previous or _matches(n, _OS_JUNK):
            e.previous.append(n)
        elif _bookkeeping(n) or ((out / n).is_dir() and read_run_info(out / n) is not None):
            e.nested.append(n)
        else:
            e.foreign.append(n)
    return e


def _refuse_foreign(out: Path, foreign: list[str]) -> None:
    shown = ", ".join(repr(n) for n in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    raise OutputError(
        f"the output folder {out} holds files circles did not write ({shown}); circles replaces its "
        "output folder as a whole: choose a new or empty folder, or pass --force to write there "
        "anyway (the other files are kept)"
    )


def recover(out: str | os.PathLike) -> None:
    """Finish or undo what an interrupted commit left beside ``out`` (call under the lock).

    When ``out`` is missing but a complete new folder (with ``run_info.json``) or the old one
    set aside exists, it is put back in place (the new one preferred); entries a crashed run
    had moved from the old folder into its new one are moved back; then every leftover new,
    old and probe folder is deleted.
    """
    out = _norm(out)
    parent = out.parent
    news = sorted(parent.glob(_glob(out, _NEW)), key=_mtime, reverse=True)
    olds = sorted(parent.glob(_glob(out, _OLD)), key=_mtime, reverse=True)
    probes = list(parent.glob(_glob(out, _PROBE)))
    if not (news or olds or probes):
        return
    if not out.exists():
        complete = [n for n in news if read_run_info(n) is not None and (n / RUN_INFO).is_file()]
        back = complete[0] if complete else (olds[0] if olds else None)
        if back is not None:
            os.rename(back, out)
            log.warning("%s: restored the %s outputs left by an interrupted run", out, "new" if complete else "old")
            news = [n for n in news if n != back]
            olds = [o for o in olds if o != back]
    current = read_run_info(out) if out.is_dir() else None
    for n in news:
        info = read_run_info(n)
        # a new folder whose commit stopped before the swap: give back what it had taken over
        if info is not None and out.is_dir() and info.get("replaces") == (current or {}).get("run_id"):
            for name in info.get("carried", []):
                src = n / name
                if (src.exists() or src.is_symlink()) and not (out / name).exists():
                    os.rename(src, out / name)
    for leftover in [*news, *olds, *probes]:
        log.info("removing %s left by an interrupted run", leftover)
        _remove(leftover)


def _glob(out: Path, tag: str) -> str:
    escaped = "".join(f"[{c}]" if c in "*?[" else c for c in out.name)
    return f".{escaped}{tag}*"


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


# --------------------------------------------------------------------------- claim


def _active_staging(out: Path) -> bool:
    """Is ``out`` inside a folder this process is writing (a nested write: no own commit)?"""
    return any(_inside(out, t) for t in _staging_dirs)


_staging_dirs: list[Path] = []


@contextlib.contextmanager
def claim(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    force: bool = False,
    wait_s: float | None = None,
) -> Iterator[Path]:
    """Check and lock the output folder ``out`` before any work; yield its resolved path.

    Raises :class:`circles.errors.OutputError` (one line saying what to do) when ``out`` is
    a file, the current folder or one of its parents, holds an input, cannot be written,
    is locked by another run for longer than ``wait_s`` (default :data:`LOCK_WAIT_S`), or
    holds files circles did not write (unless ``force``). Re-entrant within a process: a
    :func:`atomic_folder` inside uses the same lock and ``force``.
    """
    path = _norm(out)
    if _active_staging(path):
        yield path
        return
    with _held_lock:
        held = _held.get((path, threading.get_ident()))
        if held is not None:
            held.depth += 1
    if held is not None:
        try:
            yield path
        finally:
            held.depth -= 1
        return
    _check_target(path, inputs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder: {_describe_oserror(exc, path.parent)}") from None
    fd = _acquire(path, LOCK_WAIT_S if wait_s is None else wait_s)
    held = _Held(fd=fd, force=force)
    with _held_lock:
        _held[(path, threading.get_ident())] = held
    try:
        try:
            recover(path)
            if path.is_dir() and not force:
                entries = _classify(path)
                if entries.foreign:
                    _refuse_foreign(path, entries.foreign)
            _probe(path)
        except OSError as exc:
            raise OutputError(f"cannot prepare the output folder: {_describe_oserror(exc, path)}") from None
        yield path
    finally:
        with _held_lock:
            _held.pop((path, threading.get_ident()), None)
        os.close(fd)  # releases the lock


def _check_target(path: Path, inputs: Iterable[str | os.PathLike | None]) -> None:
    if path.exists() and not path.is_dir():
        raise OutputError(f"the output folder {path} is an existing file; choose a folder for --out")
    cwd = _norm(os.getcwd())
    if _inside(cwd, path):
        raise OutputError(
            f"the output folder {path} is the current folder or contains it; circles replaces its output "
            "folder as a whole: choose a sub-folder such as results/"
        )
    if path.parent == path or path == _norm(Path.home()):
        raise OutputError(f"the output folder {path} is a root or home folder; choose a sub-folder such as results/")
    check_not_input(path, inputs)


def _probe(out: Path) -> None:
    """Create and remove a folder and a file beside ``out``: can the outputs be written there?"""
    probe = Path(tempfile.mkdtemp(prefix=_sibling(out, _PROBE), dir=out.parent))
    try:
        (probe / "probe").write_bytes(b"circles")
    finally:
        _remove(probe)


# --------------------------------------------------------------------------- atomic folder


@dataclass
class Staging:
    """The folder being written (``path``) and the ``run_info.json`` content (``info``)."""

    path: Path
    out: Path
    info: dict[str, Any]
    nested: bool = False

    def final(self, p: str | os.PathLike) -> Path:
        """Where ``p`` (under :attr:`path`) will be once the folder is committed."""
        return self.out / Path(p).relative_to(self.path)


@contextlib.contextmanager
def atomic_folder(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    force: bool = False,
    update: bool = False,
    command: str | None = None,
) -> Iterator[Staging]:
    """Write a folder completely or not at all (see the module docstring).

    Parameters
    ----------
    out : path
        The folder to (re)place.
    inputs : paths
        Files that must not be overwritten (nor lie inside ``out``).
    force : bool
        Accept a folder holding files circles did not write; they are kept.
    update : bool
        Keep the previous outputs that this write does not replace (``circles map`` adds its
        maps to a run's folder, ``circles site`` one table per rule).
    command : str, optional
        Recorded in ``run_info.json`` (default: the command line).

    Yields
    ------
    Staging
        Write into ``staging.path`` and add to ``staging.info``; ``run_info.json`` is written
        by the commit, last. Inside another :func:`atomic_folder` of this process the folder
        is written in place (the outer commit covers it).
    """
    path = _norm(out)
    info: dict[str, Any] = {
        "tool": "circles",
        "run_id": uuid.uuid4().hex,
        "command": command or " ".join(["circles", *sys.argv[1:]]),
        "started": _now(),
    }
    if _active_staging(path):
        path.mkdir(parents=True, exist_ok=True)
        stage = Staging(path=path, out=path, info=info, nested=True)
        yield stage
        _write_info(path, _finish_info(stage.info, sorted(os.listdir(path))))
        return
    with claim(path, inputs=inputs, force=force):
        force = force or _held[(path, threading.get_ident())].force
        try:
            tmp = Path(tempfile.mkdtemp(prefix=_sibling(path, _NEW), dir=path.parent))
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; outputs are shared like any folder
        except OSError as exc:
            raise OutputError(f"cannot write the outputs: {_describe_oserror(exc, path.parent)}") from None
        stage = Staging(path=tmp, out=path, info=info)
        _staging_dirs.append(tmp)
        committed = False
        try:
            try:
                yield stage
            finally:
                _staging_dirs.remove(tmp)
            _commit(stage, force=force, update=update)
            committed = True
        except OSError as exc:
            if not _write_failure(exc, tmp, path):
                raise
            hint = {
                errno.ENOSPC: ": free some space and run again",
                errno.EACCES: ": close any of its files open in another program (Excel, a browser) and run again",
                errno.EPERM: ": close any of its files open in another program (Excel, a browser) and run again",
            }.get(exc.errno or -1, "")
            raise OutputError(
                f"writing the outputs failed ({_describe_oserror(exc, exc.filename or tmp)}); {path} is unchanged{hint}"
            ) from None
        except Exception as exc:
            # file libraries (GDAL, zip writers) wrap a full disk in their own exceptions
            if isinstance(exc, OutputError) or not _disk_full(path.parent):
                raise
            raise OutputError(
                f"writing the outputs failed ({path.parent}: no space left on the device; {type(exc).__name__}); "
                f"{path} is unchanged: free some space and run again"
            ) from None
        finally:
            if not committed:
                _remove(tmp)


#: Errors that mean "cannot write here", whatever file they name.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}


def _write_failure(exc: OSError, tmp: Path, out: Path) -> bool:
    """Is ``exc`` a failure to write the outputs (rather than, say, a network error)?"""
    if exc.errno in _WRITE_ERRNOS:
        return True
    name = str(exc.filename or "")
    return bool(name) and (name.startswith(str(tmp)) or name.startswith(str(out)))


def _disk_full(folder: Path, margin: int = 256 * 1024) -> bool:
    """Is the file system holding ``folder`` (nearly) out of space?"""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def _umask() -> int:
    """The process's umask (read from /proc where possible: setting it is not thread-safe)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _finish_info(info: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
    info = dict(info)
    info["finished"] = _now()
    info["outputs"] = sorted(n for n in outputs if n != RUN_INFO)
    return info


def _write_info(folder: Path, info: dict[str, Any]) -> None:
    tmp = folder / f".{RUN_INFO}.tmp"
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, folder / RUN_INFO)


def _commit(stage: Staging, *, force: bool, update: bool) -> None:
    tmp, out = stage.path, stage.out
    produced = set(os.listdir(tmp))
    carried: list[str] = []
    kept: list[str] = []
    old_info = None
    if out.is_dir():
        old_info = read_run_info(out)
        entries = _classify(out)
        if entries.foreign and not force:  # written by someone else since the claim
            _refuse_foreign(out, entries.foreign)
        keep = entries.nested + entries.foreign + ([n for n in entries.previous if n != RUN_INFO] if update else [])
        carried = sorted(n for n in keep if n not in produced and not _bookkeeping(n))
        kept = sorted(n for n in carried if n in entries.foreign)
    outputs = sorted(produced | {n for n in carried if n not in kept})
    info = _finish_info(stage.info, outputs)
    info["replaces"] = old_info.get("run_id") if old_info else None
    info["carried"] = carried
    if kept:
        info["kept_user_files"] = kept
    _write_info(tmp, info)
    if out.is_dir():
        copy_folder_access(out, tmp)
    _fsync_tree(tmp)
    _checkpoint("written")
    with _signals_held():
        for name in carried:
            os.rename(out / name, tmp / name)
            _checkpoint("carried")
        if not out.exists():
            os.rename(tmp, out)
            _checkpoint("swapped")
        elif USE_EXCHANGE and _exchange(tmp, out):
            _checkpoint("swapped")  # tmp now holds the old folder
            _remove(tmp)
        else:
            aside = out.parent / f"{_sibling(out, _OLD)}{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.rename(out, aside)
            _checkpoint("aside")
            os.rename(tmp, out)
            _checkpoint("swapped")
            _remove(aside)
        _fsync_path(out.parent, folder=True)
    log.info("wrote %s (%d entries)", out, len(outputs))


_ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")


def copy_folder_access(old: Path, new: Path) -> None:
    """Give ``new`` the mode (setgid included), group and POSIX ACL of ``old``: a team folder
    (``drwxrws---`` with a group and an ACL) stays the team's after it is replaced.

    Each step that the system refuses (a group this user is not in, a file system without
    ACLs) is skipped with a log line; the outputs are written anyway.
    """
    st = old.stat()
    if hasattr(os, "chown"):
        try:
            os.chown(new, -1, st.st_gid)
        except OSError as exc:
            log.info("%s: could not give it the group of the folder it replaces (%s)", new, exc.strerror)
    try:
        os.chmod(new, stat.S_IMODE(st.st_mode))
    except OSError as exc:
        log.info("%s: could not give it the mode of the folder it replaces (%s)", new, exc.strerror)
    if not hasattr(os, "getxattr"):
        return
    for name in _ACL_XATTRS:
        try:
            value = os.getxattr(old, name)
        except OSError:
            continue  # no ACL of this kind, or no ACLs on this file system
        try:
            os.setxattr(new, name, value)
        except OSError as exc:
            log.warning("%s: could not copy the access list (%s) of the folder it replaces: %s", new, name, exc)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk (so a renamed folder is never empty)."""
    if os.name == "nt":  # pragma: no cover - Windows flushes on close
        return
    for root, dirs, files in os.walk(folder):
        for name in files:
            _fsync_path(os.path.join(root, name))
        _fsync_path(root, folder=True)
        del dirs  # walked by os.walk


def _fsync_path(p: Path | str, *, folder: bool = False) -> None:
    """Flush one file (or ``folder``) to disk; skipped on Windows, which flushes on close.

    A folder some file systems cannot flush is passed over; a file that cannot be flushed raises OSError.
    """
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back Ctrl-C and termination signals during a commit (delivered right after)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    sigs = {signal.SIGINT, signal.SIGTERM} | ({signal.SIGHUP} if hasattr(signal, "SIGHUP") else set())
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# --------------------------------------------------------------------------- single files


@contextlib.contextmanager
def atomic_file(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    force: bool = False,
    ours: Callable[[Path], bool] | None = None,
) -> Iterator[Path]:
    """Write one file completely or not at all: yield a temporary path beside ``out``, then
    replace ``out`` with it in one step.

    An existing ``out`` is replaced only when ``ours(out)`` says circles wrote it, or with
    ``force``; an input is never replaced.
    """
    path = _norm(out)
    if path.is_dir():
        raise OutputError(f"the output file {path} is an existing folder; give a file name for --out")
    check_not_input(path, inputs, file=True)
    if path.exists() and not force and ours is not None and not ours(path):
        raise OutputError(
            f"{path} exists and was not written by circles; choose another --out, or pass --force to replace it"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder: {_describe_oserror(exc, path.parent)}") from None
    fd = _acquire(path, LOCK_WAIT_S)
    tmp = None
    try:
        for stale in path.parent.glob(_glob(path, _NEW)):
            _remove(stale)
        handle, name = tempfile.mkstemp(prefix=_sibling(path, _NEW), suffix=path.suffix, dir=path.parent)
        os.close(handle)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(
            f"writing failed ({_describe_oserror(exc, exc.filename or path)}); {path} is unchanged"
        ) from None
    finally:
        if tmp is not None:
            _remove(tmp)
        os.close(fd)


# --------------------------------------------------------------------------- adding to a folder


def check_same_analysis(out: str | os.PathLike, inputs: dict[str, Any], options: dict[str, Any] | None = None) -> None:
    """Refuse to add outputs (``circles map``) to a folder that holds another analysis.

    ``inputs``: role -> path (or a description with ``sha256``) of this analysis;
    ``options``: its options. A folder whose ``run_info.json`` names other input bytes (by
    SHA-256) or other option values for a role/option both give is another analysis.

    Raises
    ------
    OutputError
        Naming the folder, the input or option that differs, and what to do.
    """
    info = read_run_info(out)
    if info is None:
        return
    theirs: dict[str, Any] = info["inputs"] if isinstance(info.get("inputs"), dict) else {}
    for role, mine in inputs.items():
        desc = mine if isinstance(mine, dict) else describe_input(mine)
        old = theirs.get(role)
        if not isinstance(old, dict) or "sha256" not in old or "sha256" not in desc:
            continue
        if old["sha256"] != desc["sha256"]:
            raise OutputError(
                f"{out} holds the outputs of another analysis: its {role} was {old.get('path')} "
                f"(SHA-256 {old['sha256'][:12]}…), this one reads {desc.get('path')} ({desc['sha256'][:12]}…); "
                "its maps would not match its tables: choose another --out, or run `circles run` for it"
            )
    raw_options = info.get("options")
    their_options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    for key, value in (options or {}).items():
        if key in _NOT_ANALYSIS:
            continue
        if key in their_options and their_options[key] != value and _jsonable(value) != their_options[key]:
            raise OutputError(
                f"{out} holds the outputs of another analysis: its option {key} was {their_options[key]!r}, "
                f"this one has {value!r}; its maps would not match its tables: choose another --out, or run "
                "`circles run` for it"
            )


#: Options that do not change an analysis (where its network cache lives).
_NOT_ANALYSIS = ("cache_dir",)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------------------- environment


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` (reproducible builds: the date printed and stored in PDFs), checked.

    Raises
    ------
    ConfigError
        When it is set but is not a Unix time in seconds between 1970 and 9999 (the PDF
        writer would fail on it after the whole analysis).
    """
    from .errors import ConfigError

    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.strip())
        datetime.fromtimestamp(value, timezone.utc)
        if not 0 <= value < 253402300800:  # 10000-01-01
            raise ValueError
    except (ValueError, OverflowError, OSError):
        shown = raw if len(raw) <= 40 else raw[:39] + "…"
        raise ConfigError(
            f"SOURCE_DATE_EPOCH={shown!r} is not a Unix time in seconds between 1970 and 9999 "
            "(e.g. 1767225600 for 2026-01-01); correct it or unset it"
        ) from None
    return value


# --------------------------------------------------------------------------- timing


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the seconds spent in the block to ``timings[stage]``."""
    t = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t


def environment() -> dict[str, str]:
    """Versions recorded in ``run_info.json``."""
    import platform

    from . import __version__

    return {"circles": __version__, "python": platform.python_version(), "platform": platform.platform()}
