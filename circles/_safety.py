"""Checks made on input files before they are opened or parsed: special files (FIFOs,
devices, sockets) refused, and Excel workbooks sized up before openpyxl reads them.

Each limit is declared once here, with its reason; the README's "Safety and failure modes"
section states them.
"""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .errors import InputError

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")

#: Most bytes the parts of an ``.xlsx`` workbook may expand to. Reason: a table of a million
#: facilities with ten columns is about 150 MB of sheet XML; more is a zip bomb that openpyxl
#: would hold in memory many times over. No source: a safety cap.
XLSX_MAX_BYTES = 256 << 20
#: Longest text of one cell, in characters: Excel's own limit (Microsoft, "Excel specifications
#: and limits": 32,767 characters in a cell). Checked on the XML before openpyxl reads it.
XLSX_MAX_CELL_CHARS = 32_767
#: UTF-8 takes at most 4 bytes per character: the longest cell text in bytes.
_XLSX_MAX_CELL_BYTES = 4 * XLSX_MAX_CELL_CHARS
_CHUNK = 1 << 20

_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def special_file_error(path: str | Path) -> InputError | None:
    """The error for ``path`` if it exists and is not a regular file or folder (a FIFO, a
    device, a socket), else None. Uses ``stat`` only: the file is never opened (opening a
    FIFO blocks until someone writes to it)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # missing or unreadable: the reader says so in its own words
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return InputError(
        f"is {kind}, not a regular file: circles reads inputs from files only (a pipe or device could block "
        "or never end)",
        path=str(path),
    )


def check_regular_file(path: str | Path) -> None:
    """Raise :class:`InputError` if ``path`` is a FIFO, device or socket (see :func:`special_file_error`)."""
    error = special_file_error(path)
    if error is not None:
        raise error


def check_xlsx(path: str | Path) -> None:
    """Refuse an ``.xlsx`` workbook openpyxl should not parse: its parts expand to more than
    :data:`XLSX_MAX_BYTES`, or a cell's text is longer than :data:`XLSX_MAX_CELL_CHARS`
    (checked as bytes of XML text between two tags, streaming, before any parsing).

    Raises
    ------
    InputError
        Naming the file, the part and the limit. A file that is not a zip archive is left
        to openpyxl to refuse in its own words.
    """
    p = Path(path)
    check_regular_file(p)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError):
        return
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > XLSX_MAX_BYTES:
            raise InputError(
                f"the workbook expands to {total / 2**20:,.0f} MiB, over the limit of "
                f"{XLSX_MAX_BYTES / 2**20:,.0f} MiB (circles._safety.XLSX_MAX_BYTES): not a facility table "
                "circles can read",
                path=str(p),
            )
        for info in infos:
            if info.filename.endswith(".xml"):
                _check_xml_text_runs(zf, info, p)


def _longest_text_run(chunks) -> int:
    """The most bytes between two ``<`` in a stream of chunks (stops early past the limit)."""
    carry = 0  # bytes since the last '<' of the previous chunks
    longest = 0
    for chunk in chunks:
        first = chunk.find(b"<")
        if first < 0:
            carry += len(chunk)
        else:
            inner = chunk[first + 1 : chunk.rfind(b"<")].split(b"<") if chunk.count(b"<") > 1 else []
            longest = max(longest, carry + first, *(len(x) for x in inner))
            carry = len(chunk) - chunk.rfind(b"<") - 1
        longest = max(longest, carry)
        if longest > _XLSX_MAX_CELL_BYTES:
            break
    return longest


def _check_xml_text_runs(zf: zipfile.ZipFile, info: zipfile.ZipInfo, p: Path) -> None:
    try:
        with zf.open(info) as fh:
            longest = _longest_text_run(iter(lambda: fh.read(_CHUNK), b""))
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
        return  # a damaged part: openpyxl refuses the workbook in its own words
    if longest > _XLSX_MAX_CELL_BYTES:
        raise InputError(
            f"part {info.filename} holds a text of more than {XLSX_MAX_CELL_CHARS:,} characters, Excel's longest cell "
            "(circles._safety.XLSX_MAX_CELL_CHARS): not a facility table circles can read",
            path=str(p),
        )


#: Modules the fork server imports once, before it forks any worker: each worker then starts
#: with them loaded instead of importing geopandas, shapely and the workbook writer itself
#: (about 1.5 s of CPU per worker). ``__main__`` is multiprocessing's own default. None of them
#: starts a native thread on import (checked: ``threading.active_count()`` stays 1).
WORKER_PRELOAD = ("__main__", "circles.isochrones", "circles.workbooks")


def worker_context():
    """How worker processes start: from a fork server, a clean process that forks each worker.

    A worker forked from this process inherits every native thread's locks (a pyosmium reader
    still open, polars' thread pool, a Dask client): one held at the fork hangs the worker. The
    work is handed to the workers by pickling, once per worker. The fork server imports
    :data:`WORKER_PRELOAD` once (see :func:`start_workers`).
    """
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))
    return ctx


def start_workers() -> None:
    """Start the fork server now, in the background, so that its imports overlap the work done
    before the first worker is needed (nothing happens in a daemonic process, which may not
    start processes, or on one core)."""
    import multiprocessing
    from multiprocessing import forkserver

    if multiprocessing.current_process().daemon or worker_cores() < 2:
        return
    worker_context()
    try:
        forkserver.ensure_running()
    except OSError as exc:  # no fork server here: the workers start when needed, or not at all
        log.info("fork server not started early (%s)", exc)


#: How much lower the walking-area workers run than this process (``nice`` steps; Linux and
#: macOS): on a machine with fewer cores than runnable processes, this process's analysis and
#: the tables and ledger it writes go first, and the areas, needed only by the map, take the
#: cores left. The work done is the same, so the whole run is not longer. No source: measured
#: on a two-core machine, a million-node city (issue 25; ``bench/results/city_notes.md``).
BACKGROUND_NICENESS = 10


def lower_priority() -> None:
    """Run this process :data:`BACKGROUND_NICENESS` steps lower (a worker's initializer).
    Nothing happens where the system has no ``nice``."""
    try:
        os.nice(BACKGROUND_NICENESS)
    except (AttributeError, OSError) as exc:  # not on this system, or not allowed
        log.debug("priority kept (%s)", exc)


def worker_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Most threads that run the work of one step at once (one per core up to this): the searches of
#: the facility types, the tiles of the pairs within reach, the parts of a large attachment, the
#: shift check's readings, the gap report's measures. SciPy's ``dijkstra``, the R-tree's searches
#: and most of NumPy release Python's lock, so they run side by side; each thread holds its own
#: arrays, so more threads cost memory. No source: a tuning value.
WORK_THREADS = 4


def thread_count() -> int:
    """How many threads run one step's work: one per available core, at most :data:`WORK_THREADS`."""
    return max(1, min(worker_cores(), WORK_THREADS))


def map_threads(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``[fn(x) for x in items]``, the calls spread over :func:`thread_count` threads; the results
    in the order of ``items`` whatever the threads' order, so the answers do not depend on the
    number of cores.
    """
    n = min(thread_count(), len(items))
    if n <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="circles-work") as pool:
        return list(pool.map(fn, items))


#: Most malloc arenas of a ``circles`` command's process (glibc): each thread that allocates
#: gets an arena of its own (up to 8 per core), and what the search threads free stays in theirs.
#: Reason: measured on a 100,000-node city, the run's peak fell from 1.50 to 1.39 GB with two
#: (1,000,000 nodes: 4.46 to 4.15 GB), in the same time within the machine's noise. No source
#: (glibc's own default is 8 per core).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number for the arena limit (malloc.h)


def fewer_malloc_arenas() -> None:
    """Limit this process to :data:`MALLOC_ARENAS` malloc arenas (glibc only; called by the
    ``circles`` command before any thread starts). Nothing happens elsewhere."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        mallopt = None
    if mallopt is None or not mallopt(_M_ARENA_MAX, MALLOC_ARENAS):
        log.debug("malloc arenas not limited (no glibc mallopt here)")
