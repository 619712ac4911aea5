"""Read OpenStreetMap files with pyosmium: ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml`` and ``.pbf``.

Two readers share this module:

* :func:`walk_arrays` builds the walking network as plain arrays (which
  :func:`circles.network.osm_walk_network` makes a ``WalkNetwork``): the walkable ways (OSMnx's ``walk`` filter,
  ``circles/config/osm.yaml``) are read in one streaming pass (pyosmium's C++ reader and
  node-location cache), then split at junctions and dead ends, kept to the largest
  connected piece and projected with NumPy, as OSMnx's ``graph_from_xml`` (bidirectional,
  simplified) followed by ``project_graph`` would, without building a NetworkX graph.
* :func:`read_features` returns tagged elements with their geometry: nodes as points,
  ways as lines or (closed, with an area key) polygons, and ``multipolygon``/``boundary``
  relations assembled by pyosmium's area handling. A relation that cannot be assembled
  because member ways are missing from the file (a clipped extract) is assembled from the
  members present, its open ring closed with a straight line if need be, and says so.

Ways that reference nodes missing from the file (clipped extracts) are cut at the missing
nodes: the pieces present are kept, no straight line is drawn across the gap.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import mmap
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
from array import array
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from ._arrays import unique_ints
from ._safety import check_regular_file, worker_context, worker_cores
from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)

#: File name endings read as OSM data, with the pyosmium format of each.
OSM_FORMATS: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm.bz2": "osm.bz2",
    ".xml.bz2": "osm.bz2",
    ".osm.gz": "osm.gz",
    ".xml.gz": "osm.gz",
    ".osm": "osm",
    ".xml": "osm",
}
#: Fixed-point value pyosmium returns for a coordinate it does not know (node missing from the file).
_UNDEFINED_COORDINATE = 2_147_483_647
_COORDINATE_PRECISION = 10_000_000  # pyosmium's fixed-point coordinates: 1e-7 degree

# ------------------------------------------------------------------ limits
#: Most bytes a compressed OSM file (.bz2, .gz) may expand to, as a multiple of its size.
#: Reason: OSM XML compresses 10-15 times with bzip2 (the demo extract 14 times, the West
#: Oakland test extract 10 times) and less with gzip; a file expanding 100 times more is a
#: decompression bomb. No source: a safety cap with a wide margin.
DECOMPRESSED_MAX_RATIO = 100
#: Every compressed OSM file may expand to at least this many bytes (small files compress
#: better than large ones). No source: a safety floor (256 MiB).
DECOMPRESSED_MIN_BYTES = 256 << 20
#: Most bytes of OSM XML without the end of an element (``>``). Reason: the longest OSM
#: element text is a tag value of 1,024 bytes; megabytes without a ``>`` are a comment or text
#: bomb that the XML parser would buffer and rescan (minutes of CPU, memory growing). No source.
XML_MAX_TOKEN_BYTES = 1 << 20
#: Longest OSM string (tag key or value, role, user name) pyosmium reads, in bytes: libosmium's
#: ``max_osm_string_length`` (256 × 4). Longer strings are refused by the reader itself.
OSM_MAX_STRING_BYTES = 1024
_CHUNK = 1 << 20
#: Most threads that decompress a multi-stream ``.bz2`` file (pbzip2, lbzip2, the OSM planet
#: dumps write one): its streams are independent, so runs of them are decompressed side by side
#: (one per core up to this). No source: a tuning value.
BZ2_THREADS = 4
#: Compressed bytes of a run of bzip2 streams decompressed by one thread, at least (the last run
#: may be shorter). No source: a tuning value.
_BZ2_RUN_BYTES = 1 << 20
#: Most bytes one run may expand to before it is read the plain way (its streams one after the
#: other, under the file's limits): bounds the memory of the runs in flight. Reason: pbzip2 and
#: lbzip2 write streams of about 1 MB of text; 64 MiB is a wide margin. No source.
_BZ2_RUN_MAX_BYTES = 64 << 20
#: The start of a bzip2 stream: ``BZh``, the block size, then the first block's magic number.
_BZ2_STREAM = re.compile(rb"BZh[1-9]1AY&SY")


# ------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class OsmConfig:
    """What ``circles/config/osm.yaml`` says about reading OSM files."""

    walk_required_key: str
    walk_exclude: tuple[tuple[str, re.Pattern[str]], ...]
    area_keys: frozenset[str]
    communities: tuple[tuple[str, tuple[Mapping[str, str], ...]], ...]
    name_match_veto_keys: tuple[str, ...]


@lru_cache(maxsize=1)
def load_osm_config() -> OsmConfig:
    """The packaged OSM reading configuration (``circles/config/osm.yaml``)."""
    from .errors import ConfigError
    from .rulebook import read_yaml

    data, label = read_yaml(None, "circles.config", "osm.yaml")
    try:
        walk = data["walk_network"]
        exclude = tuple((str(k), re.compile(str(v))) for k, v in walk["exclude"].items())
        communities = tuple(
            (str(kind), tuple({str(k): str(v) for k, v in sel.items()} for sel in selectors))
            for kind, selectors in data["communities"].items()
        )
        return OsmConfig(
            walk_required_key=str(walk["required_key"]),
            walk_exclude=exclude,
            area_keys=frozenset(str(k) for k in data["area_keys"]),
            communities=communities,
            name_match_veto_keys=tuple(str(k) for k in data["name_match_veto_keys"]),
        )
    except (KeyError, TypeError, AttributeError, re.error) as exc:
        raise ConfigError(f"{label}: malformed entry ({exc!r})") from None


def is_walkable(tags: Mapping[str, str]) -> bool:
    """True if a way with these tags belongs to the walking network (OSMnx's ``walk`` filter).

    Parameters
    ----------
    tags : mapping
        The way's OSM tags.
    """
    cfg = load_osm_config()
    if cfg.walk_required_key not in tags:
        return False
    for key, rx in cfg.walk_exclude:
        value = tags.get(key)
        if value is not None and rx.search(value):
            return False
    return True


def is_area(tags: Mapping[str, str]) -> bool:
    """True if a *closed* way with these tags is an area rather than a line."""
    area = tags.get("area")
    if area == "yes":
        return True
    return area != "no" and any(k in tags for k in load_osm_config().area_keys)


# ------------------------------------------------------------------ files
def check_osm_path(path: str | Path) -> tuple[Path, str]:
    """Check that ``path`` is a non-empty OSM file; return it with its pyosmium format.

    Raises
    ------
    InputError
        If the path is missing, a folder, empty or not named like an OSM file.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    if p.is_dir():
        raise InputError("is a folder, expected an OSM file (.osm, .osm.bz2, .osm.gz, .pbf)", path=str(p))
    check_regular_file(p)  # a FIFO or device would block the reader
    fmt = osm_format(p)
    if fmt is None:
        raise InputError("unknown file type: expected an OSM file (.osm, .osm.bz2, .osm.gz, .xml, .pbf)", path=str(p))
    if p.stat().st_size == 0:
        raise InputError("the file is empty", path=str(p))
    return p, fmt


def osm_format(path: str | Path) -> str | None:
    """The pyosmium format of an OSM file from its name (None if it is not named like one)."""
    name = Path(path).name.lower()
    for suffix, fmt in OSM_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    return None


def _osm_file(p: Path, fmt: str) -> Any:
    import osmium

    return osmium.io.File(str(p), fmt)


def _read_error(p: Path, fmt: str, exc: BaseException | str) -> InputError:
    text = str(exc)
    if "too long" in text:
        return _too_long_error(p, fmt, text)
    kind = "PBF" if fmt == "pbf" else "XML"
    return InputError(f"not a readable OSM {kind} file ({text})", path=str(p))


def _too_long_error(p: Path, fmt: str, text: str) -> InputError:
    where = _find_long_string(p, fmt) if fmt != "pbf" else None
    return InputError(
        f"{where or 'an element'} is longer than {OSM_MAX_STRING_BYTES} bytes, the longest pyosmium reads "
        f"(libosmium: {text.rstrip('.')}); shorten or remove it",
        path=str(p),
    )


_ELEMENT_START = re.compile(rb"<(node|way|relation)\s[^>]*?\bid=\"(-?\d+)\"")
_LONG_ATTRIBUTE = re.compile(rb'\b(k|v|role|user)="([^"]{%d,})"' % (OSM_MAX_STRING_BYTES + 1))


def _find_long_string(p: Path, fmt: str) -> str | None:
    """The first element of an OSM XML file with a string over libosmium's limit, as
    ``way/123 (tag key 'note')``; None if not found (best effort: attributes within one chunk)."""
    last = "the header"
    try:
        for chunk in iter_osm_bytes(p, fmt):
            starts = list(_ELEMENT_START.finditer(chunk))
            m = _LONG_ATTRIBUTE.search(chunk)
            if m is not None:
                before = [e for e in starts if e.start() < m.start()]
                if before:
                    last = f"{before[-1][1].decode()}/{before[-1][2].decode()}"
                what = {b"k": "a tag key", b"v": "a tag value", b"role": "a member role", b"user": "the user name"}
                key = re.search(rb'k="([^"]{0,60})"\s+v="$', chunk[max(0, m.start() - 80) : m.start() + 3])
                named = f"the value of tag '{key[1].decode(errors='replace')}'" if key and m[1] == b"v" else ""
                return f"{last}, {named or what[m[1]]}"
            if starts:
                last = f"{starts[-1][1].decode()}/{starts[-1][2].decode()}"
    except InputError:
        return None
    return None


def _open_osm_bytes(p: Path, fmt: str) -> Any:
    if fmt == "osm.bz2":
        return bz2.open(p, "rb")
    if fmt == "osm.gz":
        return gzip.open(p, "rb")
    return open(p, "rb")


def iter_osm_bytes(path: str | Path, fmt: str) -> Iterator[bytes]:
    """The bytes of an OSM file, decompressed, in chunks of about 1 MiB, under the limits.

    A compressed file may expand to :data:`DECOMPRESSED_MAX_RATIO` times its size (at least
    :data:`DECOMPRESSED_MIN_BYTES`); XML may not run :data:`XML_MAX_TOKEN_BYTES` without the
    end of an element. Reading stops at the first chunk over a limit.

    Raises
    ------
    InputError
        Naming the file and the limit; or if the compressed data is damaged.
    """
    p = Path(path)
    compressed = fmt in ("osm.bz2", "osm.gz")
    cap = max(DECOMPRESSED_MIN_BYTES, DECOMPRESSED_MAX_RATIO * p.stat().st_size) if compressed else None
    xml = fmt != "pbf"
    total = 0
    since_end = 0
    try:
        for chunk in _raw_chunks(p, fmt):
            total += len(chunk)
            if cap is not None and total > cap:
                raise InputError(
                    f"expands to more than {cap / 2**20:,.0f} MiB ({DECOMPRESSED_MAX_RATIO} times its size, "
                    f"at least {DECOMPRESSED_MIN_BYTES / 2**20:,.0f} MiB): a decompression bomb, not an OSM "
                    "extract (limit circles._osmium.DECOMPRESSED_MAX_RATIO)",
                    path=str(p),
                )
            if xml:
                end = chunk.rfind(b">")
                since_end = since_end + len(chunk) if end < 0 else len(chunk) - end - 1
                if since_end > XML_MAX_TOKEN_BYTES:
                    raise InputError(
                        f"{since_end / 2**20:,.1f} MiB of XML without the end of an element (a comment or text "
                        f"this long is not OSM data; limit {XML_MAX_TOKEN_BYTES / 2**20:g} MiB, "
                        "circles._osmium.XML_MAX_TOKEN_BYTES)",
                        path=str(p),
                    )
            yield chunk
    except (OSError, EOFError, ValueError) as exc:  # damaged compressed data (gzip, bz2) or unreadable
        if isinstance(exc, InputError):
            raise
        codec = {"osm.bz2": "bzip2 error", "osm.gz": "gzip error"}.get(fmt, "read error")
        kind = "PBF" if fmt == "pbf" else "XML"
        raise InputError(f"not a readable OSM {kind} file ({codec}: {exc})", path=str(p)) from None


def _raw_chunks(p: Path, fmt: str) -> Iterator[bytes]:
    """The decompressed bytes of ``p`` in chunks of at most :data:`_CHUNK` (no limit checked).

    A ``.bz2`` file of several streams is decompressed by runs of streams in threads, in the
    file's order (:func:`_bz2_threads`); single-stream files, and the rest of a file from a run
    that could not be decompressed on its own, are read one stream after the other
    (:func:`_bz2_streams`).
    """
    if fmt != "osm.bz2":
        with _open_osm_bytes(p, fmt) as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
        return
    start: int | None = 0
    runs = _bz2_runs(p)
    threads = min(worker_cores(), BZ2_THREADS, len(runs))
    if threads > 1:
        start = yield from _bz2_threads(p, runs, threads)
    if start is not None:
        yield from _bz2_streams(p, start)


def _bz2_streams(p: Path, start: int = 0) -> Iterator[bytes]:
    """The bzip2 streams of ``p`` from byte ``start`` on, decompressed one after the other.

    As ``bz2.open`` reads them, but damaged data is an error wherever it sits (``bz2.open`` takes a
    stream that fails at its first bytes for trailing garbage and stops without a word); data
    after a stream that does not start as one (``BZh``) is ignored, as ``bz2.open`` does.

    Raises
    ------
    OSError, EOFError
        Damaged data; the file ends inside a stream.
    """
    with open(p, "rb") as fh:
        fh.seek(start)
        buf = fh.read(_CHUNK)
        d = bz2.BZ2Decompressor()
        while buf or not d.eof:
            out = d.decompress(buf, max_length=_CHUNK)
            buf = b""
            if out:
                yield out
            if d.eof:
                buf = d.unused_data
                if len(buf) < 3:
                    buf += fh.read(_CHUNK)
                if not buf.startswith(b"BZh"):
                    return
                d = bz2.BZ2Decompressor()
            elif d.needs_input:
                buf = fh.read(_CHUNK)
                if not buf:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def _bz2_runs(p: Path) -> list[tuple[int, int]]:
    """(start, end) byte ranges of runs of whole bzip2 streams of at least :data:`_BZ2_RUN_BYTES`
    in ``p``, found by the stream starts' header; none for a file of one stream."""
    with open(p, "rb") as fh:
        try:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                starts = [m.start() for m in _BZ2_STREAM.finditer(mm)]
                size = len(mm)
        except (ValueError, OSError):  # empty, or not a mappable file
            return []
    if len(starts) < 2 or starts[0] != 0:
        return []
    cuts = [0]
    for at in starts[1:]:
        if at - cuts[-1] >= _BZ2_RUN_BYTES:
            cuts.append(at)
    cuts.append(size)
    return list(zip(cuts[:-1], cuts[1:], strict=True)) if len(cuts) > 2 else []


def _inflate_run(p: Path, start: int, end: int) -> bytes | None:
    """Bytes ``start:end`` of ``p`` decompressed as whole bzip2 streams; None where they are not
    (a stream cut short: a false stream start; data between streams) or expand past
    :data:`_BZ2_RUN_MAX_BYTES`: :func:`_bz2_streams` reads them instead.

    Raises
    ------
    OSError
        Damaged data.
    """
    with open(p, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    out: list[bytes] = []
    total = 0
    while data:
        if not data.startswith(b"BZh"):
            return None
        d = bz2.BZ2Decompressor()
        part = d.decompress(data, max_length=_BZ2_RUN_MAX_BYTES - total + 1)
        total += len(part)
        if total > _BZ2_RUN_MAX_BYTES or not d.eof:
            return None
        out.append(part)
        data = d.unused_data
    return b"".join(out)


def _bz2_threads(p: Path, runs: list[tuple[int, int]], threads: int) -> Generator[bytes, None, int | None]:
    """The runs decompressed in ``threads`` threads (one run ahead of them at most), yielded in
    order. Returns None when all were read, else the offset of the first run that could not be
    decompressed on its own (:func:`_inflate_run`), to be read from there one stream after the
    other."""
    todo = iter(runs)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="circles-bz2") as pool:
        pending = deque((a, pool.submit(_inflate_run, p, a, b)) for a, b in islice(todo, threads + 1))
        try:
            while pending:
                at, future = pending.popleft()
                data = future.result()
                if data is None:
                    return at
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append((nxt[0], pool.submit(_inflate_run, p, *nxt)))
                for i in range(0, len(data), _CHUNK):
                    yield data[i : i + _CHUNK]
        finally:
            for _, later in pending:
                later.cancel()
    return None


#: The pyosmium step of :func:`read_walk_ways`, run in a child process reading the OSM data
#: on its standard input: pyosmium's C++ loop holds Python's lock for the whole file, so a
#: signal (Ctrl-C, SIGTERM) could not stop it in this process; the parent feeds the data
#: under the limits and stops the child at once when it is interrupted.
_WALK_WAYS_CHILD = """
import sys

import osmium

fmt, opl, key, source = sys.argv[1:5]
locations = osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
locations.ignore_errors()
keys = osmium.filter.KeyFilter(key)
keys.enable_for(osmium.osm.WAY)
try:
    writer = osmium.SimpleWriter(osmium.io.File(opl, "opl,locations_on_ways=true,add_metadata=false"))
    try:
        with osmium.io.Reader(osmium.io.File(source, fmt), osmium.osm.NODE | osmium.osm.WAY) as reader:
            osmium.apply(reader, locations, osmium.filter.EntityFilter(osmium.osm.WAY), keys, writer)
    finally:
        writer.close()
except (RuntimeError, ValueError) as exc:
    sys.stderr.write(str(exc))
    sys.exit(3)
"""


def _write_walk_ways_opl(p: Path, fmt: str, opl: Path, key: str) -> None:
    """The ways with key ``key`` and their node locations as OPL in ``opl``: pyosmium in a
    child process (:data:`_WALK_WAYS_CHILD`), fed XML by :func:`iter_osm_bytes` (under its
    limits); a PBF file it reads itself (libosmium caps each PBF block's size)."""
    err_path = opl.with_name("reader.err")
    pbf = fmt == "pbf"
    with open(err_path, "wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", _WALK_WAYS_CHILD, "pbf" if pbf else "osm", str(opl), key, str(p) if pbf else "-"],
            stdin=subprocess.DEVNULL if pbf else subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # a terminal's Ctrl-C reaches this process only; it stops the child
        )
        try:
            if child.stdin is not None:
                _feed(child.stdin, p, fmt)
            code = child.wait()
        except BaseException:  # a limit, Ctrl-C or SIGTERM: the child stops now
            child.kill()
            child.wait()
            raise
    if code != 0:
        text = err_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        raise _read_error(p, fmt, text[-1] if text else f"the reader stopped with code {code}")


def _feed(stdin: Any, p: Path, fmt: str) -> None:
    try:
        for chunk in iter_osm_bytes(p, fmt):
            stdin.write(chunk)
        stdin.close()
    except BrokenPipeError:  # the reader stopped early: its error says why
        pass


def plain_osm_copy(path: str | Path, folder: str | Path) -> tuple[Path, str]:
    """An OSM file pyosmium can read directly, under the limits of :func:`iter_osm_bytes`:
    a compressed file decompressed into ``folder``, an XML file checked, a PBF as it is.
    Returns (path, pyosmium format)."""
    p, fmt = check_osm_path(path)
    if fmt == "pbf":
        return p, fmt
    if fmt == "osm":
        for _ in iter_osm_bytes(p, fmt):
            pass
        return p, fmt
    out = Path(folder) / "plain.osm"
    with open(out, "wb") as fh:
        for chunk in iter_osm_bytes(p, fmt):
            fh.write(chunk)
    return out, "osm"


# ------------------------------------------------------------------ walking network
@dataclass
class WalkWays:
    """The walkable ways of a file as flat arrays (one entry per way node).

    ``start`` holds the offset of each way in ``ref``; ``x``/``y`` are pyosmium fixed-point
    coordinates (1e-7 degree), ``_UNDEFINED_COORDINATE`` for nodes missing from the file.
    """

    ref: np.ndarray
    x: np.ndarray
    y: np.ndarray
    start: np.ndarray
    highway_ways: int
    #: The ``name`` tag of each way ("" without one), in the order of ``start``.
    name: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))


def read_walk_ways(path: str | Path) -> WalkWays:
    """The walkable ways of an OSM file with their node locations.

    pyosmium's C++ reader and node-location cache stream the file and write its ``highway``
    ways, with the location of every node, as OPL text (one line per way) to a temporary
    file; Python then reads one line per way (tags, for the walk filter) and pandas' C
    parser reads the node lists. No Python object is made per node.

    Raises
    ------
    InputError
        If the file is not readable OSM data, or over a limit (:func:`iter_osm_bytes`).
    """
    p, fmt = check_osm_path(path)
    cfg = load_osm_config()
    with tempfile.TemporaryDirectory(prefix="circles-osm-") as tmp:
        opl = Path(tmp) / "highways.opl"
        _write_walk_ways_opl(p, fmt, opl, cfg.walk_required_key)
        return _parse_opl_file(opl, cfg)


#: OPL text of the walkable ways from which its second half is parsed in a worker process (the
#: fork server's) beside this one: one core each. No source: a tuning value (below it, starting
#: the worker and handing its arrays back cost about what they save).
OPL_SPLIT_MIN_BYTES = 32 << 20


def _parse_opl_file(opl: Path, cfg: OsmConfig) -> WalkWays:
    """:func:`_parse_opl_ways` of the file ``opl``; a large one in two halves cut at a line end,
    the second parsed by a worker process, joined in order (the same arrays as in one piece)."""
    text = opl.read_bytes()
    cut = text.find(b"\n", len(text) // 2) + 1 if len(text) >= OPL_SPLIT_MIN_BYTES else 0
    if not 0 < cut < len(text) or worker_cores() < 2 or multiprocessing.current_process().daemon:
        return _parse_opl_ways(text, cfg)
    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=worker_context())
        tail = pool.submit(_parse_opl_part, str(opl), cut, cfg)
    except (OSError, RuntimeError) as exc:  # no worker here: all in this process
        log.debug("OPL parsed in this process only (%s)", exc)
        return _parse_opl_ways(text, cfg)
    try:
        head = _parse_opl_ways(text[:cut], cfg)
        try:
            rest = tail.result()
        except BrokenProcessPool as exc:  # the worker died (out of memory?): parse its half here
            log.warning("OPL worker stopped (%s); parsing its half in this process", exc)
            rest = _parse_opl_ways(text[cut:], cfg)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return _join_ways(head, rest)


def _parse_opl_part(opl: str, start: int, cfg: OsmConfig) -> WalkWays:
    """:func:`_parse_opl_ways` of the file ``opl`` from byte ``start`` (a line start) on."""
    with open(opl, "rb") as fh:
        fh.seek(start)
        return _parse_opl_ways(fh.read(), cfg)


def _join_ways(head: WalkWays, tail: WalkWays) -> WalkWays:
    """The ways of ``head`` then those of ``tail``."""
    return WalkWays(
        ref=np.concatenate([head.ref, tail.ref]),
        x=np.concatenate([head.x, tail.x]),
        y=np.concatenate([head.y, tail.y]),
        start=np.concatenate([head.start, tail.start + len(head.ref)]),
        highway_ways=head.highway_ways + tail.highway_ways,
        name=np.concatenate([head.name, tail.name]),
    )


_OPL_ESCAPE = re.compile(rb"%([0-9a-fA-F]+)%")


def _opl_unescape(raw: bytes) -> str:
    """An OPL-escaped key or value as text (``%hex%`` stands for a code point)."""
    if b"%" in raw:
        raw = _OPL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)).encode("utf-8"), raw)
    return raw.decode("utf-8")


def _opl_escape(text: str) -> bytes:
    """``text`` as libosmium's OPL writer spells it (space, comma, =, @, % and control
    characters as ``%hex%``)."""
    out = []
    for ch in text:
        c = ord(ch)
        plain = 0x21 <= c <= 0x7E and ch not in " ,=@%" or (c >= 0xA1 and c != 0xAD)
        out.append(ch if plain else f"%{c:x}%")
    return "".join(out).encode("utf-8")


def _parse_opl_ways(text: bytes, cfg: OsmConfig) -> WalkWays:
    """Walkable ways from OPL lines ``w<id> T<k=v,...> N<n<ref>x<lon>y<lat>,...>``."""
    import io

    import pandas as pd

    tests = {_opl_escape(k): rx for k, rx in cfg.walk_exclude}
    # one C-level scan per way finds the tags the walk filter looks at
    tag_rx = re.compile(rb",(" + b"|".join(re.escape(k) for k in tests) + rb")=([^,]*)")
    name_rx = re.compile(rb",name=([^,]*)")
    blobs: list[bytes] = []
    names: list[str] = []
    counts: list[int] = []
    n_highway = 0
    finditer = tag_rx.finditer
    for line in text.split(b"\n"):
        t = line.find(b" T")
        nd = line.find(b" N", t + 2)  # tags hold no space (OPL escapes it)
        if t < 0 or nd < 0:
            continue
        n_highway += 1
        for m in finditer(b"," + line[t + 2 : nd]):
            value = m[2]
            if tests[m[1]].search(value.decode("utf-8") if b"%" not in value else _opl_unescape(value)):
                break
        else:
            nodes = line[nd + 2 :]
            if nodes:
                blobs.append(nodes)
                counts.append(nodes.count(b",") + 1)
                named = name_rx.search(b"," + line[t + 2 : nd])
                names.append(_opl_unescape(named[1]) if named else "")
    n = int(sum(counts))
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return WalkWays(empty, empty.astype(np.int32), empty.astype(np.int32), empty, n_highway)
    # "n1x116.2y39.8,n2xy" -> "1,116.2,39.8\n2,,\n" (a node missing from the file has no location)
    csv = b",".join(blobs)[1:].replace(b",n", b"\n").translate(bytes.maketrans(b"xy", b",,"))
    del blobs
    table = pd.read_csv(
        io.BytesIO(csv),
        header=None,
        names=["ref", "lon", "lat"],
        dtype={"ref": np.int64, "lon": np.float64, "lat": np.float64},
        engine="c",
    )
    del csv
    lon, lat = table["lon"].to_numpy(), table["lat"].to_numpy()
    missing = np.isnan(lon) | np.isnan(lat)
    x = np.where(missing, _UNDEFINED_COORDINATE, np.rint(np.nan_to_num(lon) * _COORDINATE_PRECISION))
    y = np.where(missing, _UNDEFINED_COORDINATE, np.rint(np.nan_to_num(lat) * _COORDINATE_PRECISION))
    if len(table) != n:  # pragma: no cover - the OPL writer's format is fixed
        raise InputError(f"internal error: read {len(table)} way nodes, expected {n}")
    starts = np.cumsum([0, *counts[:-1]]).astype(np.int64)
    return WalkWays(
        ref=table["ref"].to_numpy(dtype=np.int64),
        x=x.astype(np.int64).clip(-(2**31), 2**31 - 1).astype(np.int32),
        y=y.astype(np.int64).clip(-(2**31), 2**31 - 1).astype(np.int32),
        start=starts,
        highway_ways=n_highway,
        name=np.array(names, dtype=object),
    )


def _read_walk_ways_by_loop(path: str | Path) -> WalkWays:
    """The same as :func:`read_walk_ways`, one Python step per way node (slower; kept for checks)."""
    import osmium

    p, fmt = check_osm_path(path)
    cfg = load_osm_config()
    refs: array[int] = array("q")
    xs: array[int] = array("i")
    ys: array[int] = array("i")
    starts: array[int] = array("q")
    names: list[str] = []
    n_highway = 0
    processor = (
        osmium.FileProcessor(_osm_file(p, fmt))
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter(cfg.walk_required_key))
    )
    way: Any
    try:
        for way in processor:
            n_highway += 1
            tags = way.tags
            if any((v := tags.get(k)) is not None and rx.search(v) for k, rx in cfg.walk_exclude):
                continue
            starts.append(len(refs))
            names.append(tags.get("name", ""))
            for node in way.nodes:
                loc = node.location
                refs.append(node.ref)
                xs.append(loc.x)
                ys.append(loc.y)
    except RuntimeError as exc:
        raise _read_error(p, fmt, exc) from None
    return WalkWays(
        ref=np.frombuffer(refs, dtype=np.int64),
        x=np.frombuffer(xs, dtype=np.int32),
        y=np.frombuffer(ys, dtype=np.int32),
        start=np.frombuffer(starts, dtype=np.int64),
        highway_ways=n_highway,
        name=np.array(names, dtype=object),
    )


@dataclass
class _Topology:
    """Simplified walking topology in longitude/latitude (before projection)."""

    node_ids: np.ndarray  # OSM ids of the junction and dead-end nodes
    lon: np.ndarray
    lat: np.ndarray
    u: np.ndarray  # edge ends, indices into node_ids
    v: np.ndarray
    coord_lon: np.ndarray  # edge vertices, edge after edge
    coord_lat: np.ndarray
    counts: np.ndarray  # vertices per edge
    trimmed_ways: int
    dropped_nodes: int
    name: np.ndarray  # the street name of each edge ("" without one): its middle vertex's way's


def _pieces(ways: WalkWays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Way nodes present in the file, with a piece number: ways cut at missing nodes,
    repeated consecutive nodes removed. Returns (ref, x, y, piece, way, number of trimmed
    ways), ``way`` the index of each node's way."""
    n = len(ways.ref)
    valid = (ways.x != _UNDEFINED_COORDINATE) & (ways.y != _UNDEFINED_COORDINATE)
    valid &= (np.abs(ways.x.astype(np.int64)) <= 180 * _COORDINATE_PRECISION) & (
        np.abs(ways.y.astype(np.int64)) <= 90 * _COORDINATE_PRECISION
    )
    way_of = np.zeros(n, dtype=np.int64)
    if len(ways.start):
        way_of[ways.start[1:]] = 1
        way_of = np.cumsum(way_of)
    trimmed = len(unique_ints(way_of[~valid])) if n else 0
    brk = np.zeros(n, dtype=bool)
    brk[ways.start] = True
    brk[1:] |= ~valid[:-1]
    piece = np.cumsum(brk)[valid]
    ref, x, y = ways.ref[valid], ways.x[valid], ways.y[valid]
    repeat = np.zeros(len(ref), dtype=bool)
    repeat[1:] = (ref[1:] == ref[:-1]) & (piece[1:] == piece[:-1])
    keep = ~repeat
    return ref[keep], x[keep], y[keep], piece[keep], way_of[valid][keep], trimmed


def _topology(ways: WalkWays, retain_all: bool) -> _Topology:
    """Junctions, dead ends and the street edges between them (OSMnx's simplification rules).

    A way node is a junction or dead end (an OSMnx "endpoint") unless it has exactly two
    distinct neighbours and exactly two way segments touch it. Edges run from endpoint to
    endpoint along the ways, across ends of ways that meet at a non-endpoint; isolated rings
    without any endpoint are dropped, as are loops from a node back to itself, and edges
    that repeat another edge's exact vertices (overlapping ways).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ref, x, y, piece, way, trimmed = _pieces(ways)
    # segments: consecutive nodes of one piece
    seg = np.flatnonzero(piece[1:] == piece[:-1])
    node_ids, node_of = np.unique(ref, return_inverse=True)
    n_nodes = len(node_ids)
    a, b = node_of[seg], node_of[seg + 1]
    incid = np.bincount(a, minlength=n_nodes) + np.bincount(b, minlength=n_nodes)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.sort(lo * n_nodes + hi)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    neigh = np.bincount(pairs // n_nodes, minlength=n_nodes) + np.bincount(pairs % n_nodes, minlength=n_nodes)
    endpoint = ~((neigh == 2) & (incid == 2))
    used = incid > 0

    # connected pieces, measured in nodes of the unsimplified network (as OSMnx does)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=False)
    if retain_all:
        keep_node = used
    else:
        sizes = np.bincount(label[used], minlength=label.max() + 1 if n_nodes else 0)
        keep_node = used & (label == int(np.argmax(sizes))) if len(sizes) else used
    dropped = int(used.sum() - keep_node.sum())

    # runs: stretches of one piece between endpoints (or piece ends)
    pos_node = node_of
    keep_pos = keep_node[pos_node]
    first = np.ones(len(ref), dtype=bool)
    first[1:] = piece[1:] != piece[:-1]
    last = np.ones(len(ref), dtype=bool)
    last[:-1] = piece[1:] != piece[:-1]
    single = first & last  # a piece of one node: no segment
    cut = (endpoint[pos_node] | first | last) & keep_pos & ~single
    cpos = np.flatnonzero(cut)
    same_piece = piece[cpos[1:]] == piece[cpos[:-1]]
    r_start = cpos[:-1][same_piece]
    r_end = cpos[1:][same_piece]
    s_node, e_node = pos_node[r_start], pos_node[r_end]
    s_term, e_term = endpoint[s_node], endpoint[e_node]
    simple = s_term & e_term

    # chains of runs joined at non-endpoints (ends of ways that meet mid-street)
    chains = _join_runs(r_start, r_end, s_node, e_node, s_term, e_term, ~simple)
    # vertex positions of every edge
    simple_idx = np.flatnonzero(simple)
    counts_simple = r_end[simple_idx] - r_start[simple_idx] + 1
    pos_simple = _ranges(r_start[simple_idx], counts_simple)
    pos_chain = [np.concatenate(c) for c in chains]
    counts = np.concatenate([counts_simple, np.array([len(c) for c in pos_chain], dtype=np.int64)])
    pos = np.concatenate([pos_simple, *pos_chain]) if pos_chain else pos_simple
    ends = np.cumsum(counts)
    u_all = pos_node[pos[ends - counts]] if len(counts) else np.zeros(0, dtype=np.int64)
    v_all = pos_node[pos[ends - 1]] if len(counts) else np.zeros(0, dtype=np.int64)

    # orient every edge from its lower to its higher node index, drop loops and repeats
    keep_edge = u_all != v_all
    flip = u_all > v_all
    edge_of_pos = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(len(pos)) - np.repeat(ends - counts, counts)
    pos = pos[np.where(flip[edge_of_pos], (ends - 1)[edge_of_pos] - offset, np.arange(len(pos)))]
    u_all, v_all = np.minimum(u_all, v_all), np.maximum(u_all, v_all)
    keep_edge &= ~_repeated_edges(u_all, v_all, counts, pos_node[pos], ends)
    keep_vertex = np.repeat(keep_edge, counts)
    pos, counts, u_all, v_all = pos[keep_vertex], counts[keep_edge], u_all[keep_edge], v_all[keep_edge]

    # final nodes: the endpoints kept; renumber
    is_final = keep_node & endpoint
    final_index = np.cumsum(is_final) - 1
    order = np.lexsort((v_all, u_all))
    pos = pos[_ranges((np.cumsum(counts) - counts)[order], counts[order])]
    counts = counts[order]
    u_all, v_all = u_all[order], v_all[order]
    scale = float(_COORDINATE_PRECISION)
    node_pos = np.zeros(n_nodes, dtype=np.int64)
    node_pos[pos_node] = np.arange(len(pos_node))
    fx, fy = x[node_pos[is_final]], y[node_pos[is_final]]
    return _Topology(
        node_ids=node_ids[is_final],
        lon=fx / scale,
        lat=fy / scale,
        u=final_index[u_all],
        v=final_index[v_all],
        coord_lon=x[pos] / scale,
        coord_lat=y[pos] / scale,
        counts=counts,
        trimmed_ways=trimmed,
        dropped_nodes=dropped,
        name=_edge_names(ways, way[pos], counts),
    )


def _edge_names(ways: WalkWays, way: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The street name of each edge: the ``name`` of the way of its middle vertex (``way``: the
    way index of every edge vertex, edge after edge; ``counts``: vertices per edge)."""
    if not len(counts):
        return np.zeros(0, dtype=object)
    names = ways.name if len(ways.name) == len(ways.start) else np.full(len(ways.start), "", dtype=object)
    return np.asarray(names, dtype=object)[way[np.cumsum(counts) - counts + counts // 2]]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(total)


def _join_runs(
    r_start: np.ndarray,
    r_end: np.ndarray,
    s_node: np.ndarray,
    e_node: np.ndarray,
    s_term: np.ndarray,
    e_term: np.ndarray,
    joined: np.ndarray,
) -> list[list[np.ndarray]]:
    """Chain the runs that end at a non-endpoint (exactly two run ends meet there).

    Returns one list of vertex-position arrays per chain, in walking order, from an
    endpoint to an endpoint. Runs left over form rings without any endpoint: dropped.
    """
    idx = np.flatnonzero(joined)
    if len(idx) == 0:
        return []
    at_node: dict[int, list[tuple[int, int]]] = {}
    for r in idx.tolist():
        if not s_term[r]:
            at_node.setdefault(int(s_node[r]), []).append((r, 0))
        if not e_term[r]:
            at_node.setdefault(int(e_node[r]), []).append((r, 1))
    seen: set[int] = set()
    chains: list[list[np.ndarray]] = []
    for r0 in idx.tolist():
        if r0 in seen or not (s_term[r0] or e_term[r0]):
            continue
        r, forward = r0, bool(s_term[r0])  # leave from the endpoint end
        parts: list[np.ndarray] = []
        while r not in seen:
            seen.add(r)
            run = np.arange(r_start[r], r_end[r] + 1)
            run = run if forward else run[::-1]
            parts.append(run if not parts else run[1:])
            if e_term[r] if forward else s_term[r]:  # reached an endpoint: the chain is complete
                chains.append(parts)
                break
            far_node = int(e_node[r] if forward else s_node[r])
            far_end = 1 if forward else 0
            r, end = next((q, e) for q, e in at_node[far_node] if (q, e) != (r, far_end))
            forward = end == 0
    return chains


def _repeated_edges(
    u: np.ndarray, v: np.ndarray, counts: np.ndarray, nodes: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """True for an edge whose vertex sequence repeats an earlier edge's (same oriented ends)."""
    out = np.zeros(len(u), dtype=bool)
    if len(u) < 2:
        return out
    key = u * (int(v.max()) + 1) + v
    order = np.argsort(key, kind="stable")
    dup_key = key[order][1:] == key[order][:-1]
    if not dup_key.any():
        return out
    starts = ends - counts
    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(dup_key).tolist():
        groups.setdefault(int(key[order[i]]), [int(order[i])]).append(int(order[i + 1]))
    for members in groups.values():
        seen: set[tuple[int, ...]] = set()
        for e in members:
            seq = tuple(nodes[starts[e] : ends[e]].tolist())
            if seq in seen:
                out[e] = True
            seen.add(seq)
    return out


def utm_crs(lon: np.ndarray, lat: np.ndarray) -> CRS:
    """The projected CRS OSMnx's ``project_graph`` chooses for nodes at these coordinates.

    UTM zone of the centre of the bounding box (as ``GeoSeries.estimate_utm_crs``); UPS
    north or south beyond 84° N / 80° S (judged on the mean node position).
    """
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    mean_lat = float(np.mean(lat))
    if mean_lat < -80:
        return CRS.from_user_input("epsg:32761")
    if mean_lat > 84:
        return CRS.from_user_input("epsg:32661")
    x_center = float(np.mean([lon.min(), lon.max()]))
    y_center = float(np.mean([lat.min(), lat.max()]))
    found = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(
            west_lon_degree=x_center, south_lat_degree=y_center, east_lon_degree=x_center, north_lat_degree=y_center
        ),
    )
    if not found:  # pragma: no cover - every longitude/latitude has a UTM zone
        raise InputError(f"no UTM zone found for {x_center:.4f}, {y_center:.4f}")
    return CRS.from_epsg(found[0].code)


@dataclass
class WalkArrays:
    """The walking network of an OSM file as plain arrays, projected (metres):
    :func:`circles.network.osm_walk_network` makes the :class:`~circles.network.WalkNetwork`
    of them (this module never imports :mod:`circles.network`)."""

    crs: str
    node_ids: np.ndarray  # int64 OSM ids of the junctions and dead ends
    x: np.ndarray  # float64 node coordinates
    y: np.ndarray
    u: np.ndarray  # int64 edge ends, indices into the node arrays
    v: np.ndarray
    coords: np.ndarray  # (n, 2) float64 edge vertices, edge after edge, from u to v
    counts: np.ndarray  # int64 vertices per edge
    source: str
    name: np.ndarray | None = None  # str street name of each edge ("" without one)


def walk_arrays(path: str | Path, *, retain_all: bool = False, to_crs: Any = None) -> WalkArrays:
    """The walking network of an OSM file as :class:`WalkArrays`.

    Parameters
    ----------
    path : str or Path
        ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml`` or ``.pbf`` file.
    retain_all : bool
        Keep every connected piece; by default only the largest.
    to_crs : optional
        Projected CRS of the result; by default the UTM zone OSMnx's ``project_graph``
        would choose.

    Returns
    -------
    WalkArrays
        Junctions and dead ends with the street edges between them, in metres.

    Raises
    ------
    InputError
        If the file is missing, unreadable, over a limit or holds no walkable way.
    """
    t0 = time.perf_counter()
    ways = read_walk_ways(path)
    t_read = time.perf_counter() - t0
    if len(ways.start) == 0:
        raise InputError(
            f"no walkable street in this OSM file ({ways.highway_ways} highway ways, none passes the walk filter "
            "of circles/config/osm.yaml)",
            path=str(path),
        )
    topo = _topology(ways, retain_all)
    if len(topo.u) == 0:
        raise InputError(
            "no walkable street in this OSM file: the walkable ways form no street edge "
            "(their nodes are missing from the file, or they are isolated rings)",
            path=str(path),
        )
    if topo.trimmed_ways:
        log.info("%s: %d walkable ways reference nodes missing from the file: cut there", path, topo.trimmed_ways)
    crs = CRS.from_user_input(to_crs) if to_crs is not None else utm_crs(topo.lon, topo.lat)
    if crs.is_geographic:
        raise InputError(f"the walking network needs a projected CRS (metres), got {crs}")
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(topo.lon, topo.lat)
    cx, cy = tr.transform(topo.coord_lon, topo.coord_lat)
    arrays = WalkArrays(
        crs=str(crs),
        node_ids=topo.node_ids.astype(np.int64),
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        u=topo.u.astype(np.int64),
        v=topo.v.astype(np.int64),
        coords=np.column_stack([cx, cy]),
        counts=np.asarray(topo.counts, dtype=np.int64),
        source=str(path),
        name=topo.name,
    )
    log.info(
        "walking network from %s: %d nodes, %d edges (%d walkable ways, %d nodes outside the largest piece "
        "dropped) in %.2f s (reading %.2f s)",
        path,
        len(arrays.x),
        len(arrays.u),
        len(ways.start),
        topo.dropped_nodes,
        time.perf_counter() - t0,
        t_read,
    )
    return arrays


# ------------------------------------------------------------------ tagged features
@dataclass
class OsmFeature:
    """One tagged OSM element with its geometry (EPSG:4326).

    ``missing_nodes`` counts the nodes of a way absent from the file (the geometry joins
    the nodes present); ``missing_members`` lists the member ways of a relation absent from
    the file; ``ring_closed_by_line`` is True when its outer ring could only be closed by a
    straight line across the gap they leave.
    """

    element: str  # "node", "way" or "relation"
    osm_id: int
    tags: dict[str, str]
    geometry: BaseGeometry
    missing_members: tuple[int, ...] = ()
    ring_closed_by_line: bool = False
    missing_nodes: int = 0


@dataclass
class _Relation:
    tags: dict[str, str]
    members: list[tuple[int, str]]  # way members: (way id, role)


class _RelationCandidates:
    """First-pass filter of pyosmium's area assembly: keeps (and records) the ``multipolygon``
    and ``boundary`` relations whose tags pass ``keep``; every other relation is dropped
    (a pyosmium filter drops an object when its handler returns True)."""

    def __init__(self, keep: Callable[[Mapping[str, str]], bool], keys: tuple[str, ...] | None) -> None:
        self.keep = keep
        self.keys = keys
        self.relations: dict[int, _Relation] = {}
        self.member_ways: set[int] = set()

    def relation(self, rel: Any) -> bool:
        if self.keys and not any(k in rel.tags for k in self.keys):
            return True
        tags = _tags(rel)
        if tags.get("type") not in ("multipolygon", "boundary") or not self.keep(tags):
            return True
        members = [(m.ref, m.role) for m in rel.members if m.type == "w"]
        self.relations[rel.id] = _Relation(tags, members)
        self.member_ways.update(w for w, _ in members)
        return False


class _MemberWayLines:
    """Second-pass pass-through filter: keeps the lines of the candidate relations' member
    ways, to assemble by hand a relation pyosmium cannot (members missing from the file)."""

    def __init__(self, candidates: _RelationCandidates) -> None:
        self.candidates = candidates
        self.lines: dict[int, list[tuple[float, float]]] = {}

    def way(self, way: Any) -> bool:
        if way.id in self.candidates.member_ways:
            coords = [(nd.location.lon, nd.location.lat) for nd in way.nodes if nd.location.valid()]
            if len(coords) >= 2:
                self.lines[way.id] = coords
        return False


class _RelationAreasOnly:
    """Second-pass filter: drops the areas pyosmium builds from closed ways (circles makes
    way polygons itself, from the way's own nodes)."""

    def area(self, area: Any) -> bool:
        return bool(area.from_way())


def read_features(  # noqa: C901 — one pass over the OSM elements; reshaped with the _osmium/network split (safety-exec work)
    path: str | Path, keep: Callable[[Mapping[str, str]], bool], keys: Iterable[str] | None = None
) -> list[OsmFeature]:
    """Every element whose tags satisfy ``keep``, with its geometry, in file order
    (nodes, ways, then relations).

    The file is read twice (pyosmium's area assembly): relations first, then everything.

    Parameters
    ----------
    path : str or Path
        The OSM file.
    keep : callable
        Predicate on an element's tags (a dict).
    keys : iterable of str, optional
        Tag keys of which an element must carry at least one to be looked at (a fast
        pre-filter in pyosmium; ``keep`` still decides). Default: every tagged element.

    Returns
    -------
    list of OsmFeature
        Nodes as points; ways as lines, or polygons when closed with an area key;
        ``multipolygon`` and ``boundary`` relations as (multi)polygons.

    Raises
    ------
    InputError
        If the file is missing, empty, not named like an OSM file, not readable or over a
        limit (:func:`iter_osm_bytes`).
    """
    p, fmt = check_osm_path(path)
    with tempfile.TemporaryDirectory(prefix="circles-osm-") as tmp:
        plain, plain_fmt = plain_osm_copy(p, tmp)
        try:
            return _read_features(p, plain, plain_fmt, keep, keys)
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            error = _read_error(p, fmt, exc)
        # raised outside the handler: the reader's frames (in the traceback of exc) are freed now,
        # which closes the reader and stops its threads (kept open, a later fork inherited them)
        raise error


def _read_features(
    p: Path, plain: Path, fmt: str, keep: Callable[[Mapping[str, str]], bool], keys: Iterable[str] | None
) -> list[OsmFeature]:
    """:func:`read_features` of ``plain``, a file pyosmium reads directly (``p`` names it)."""
    import osmium

    key_tuple = tuple(sorted(set(keys))) if keys is not None else None
    candidates = _RelationCandidates(keep, key_tuple)
    members = _MemberWayLines(candidates)
    prefilter = osmium.filter.KeyFilter(*key_tuple) if key_tuple else osmium.filter.EmptyTagFilter()
    prefilter.enable_for(osmium.osm.NODE | osmium.osm.WAY)
    proc = (
        osmium.FileProcessor(_osm_file(plain, fmt))
        .with_areas(candidates)
        .with_filter(osmium.filter.EntityFilter(osmium.osm.NODE | osmium.osm.WAY | osmium.osm.AREA))
        .with_filter(_RelationAreasOnly())
        .with_filter(members)
        .with_filter(prefilter)
    )
    wkb = osmium.geom.WKBFactory()
    all_nodes = osmium.geom.ALL  # keep repeated positions: one vertex per way node
    nodes: list[OsmFeature] = []
    ways: list[tuple[int, dict[str, str], bool, int]] = []  # id, tags, closed, nodes missing
    lines: list[str | list[tuple[float, float]]] = []  # hex WKB, or the coordinates present (trimmed ways)
    areas: dict[int, BaseGeometry] = {}
    trimmed = 0
    obj: Any
    for obj in proc:  # RuntimeError, ValueError: read_features says which file
        if obj.is_area():
            geom = _area_geometry(wkb, obj)
            if geom is not None:
                areas[obj.orig_id()] = geom
            continue
        tags = _tags(obj)
        if not keep(tags):
            continue
        if obj.is_node():
            loc = obj.location
            if loc.valid():
                nodes.append(OsmFeature("node", obj.id, tags, shapely.Point(loc.lon, loc.lat)))
            continue
        try:  # every node present: the line in one C++ call
            lines.append(wkb.create_linestring(obj, use_nodes=all_nodes))
            ways.append((obj.id, tags, len(obj.nodes) >= 4 and obj.is_closed(), 0))
            continue
        except (osmium.InvalidLocationError, RuntimeError):
            pass
        refs = [(nd.ref, nd.location) for nd in obj.nodes]
        present = [(r, loc.lon, loc.lat) for r, loc in refs if loc.valid()]
        trimmed += len(present) < len(refs)
        lines.append([(x, y) for _, x, y in present])
        closed = len(present) >= 4 and present[0][0] == present[-1][0]
        ways.append((obj.id, tags, closed, len(refs) - len(present)))
    if trimmed:
        log.info("%s: %d ways reference nodes missing from the file: trimmed to the nodes present", p, trimmed)
    out = nodes
    geoms = _way_geometries(lines, [closed and is_area(tags) for _, tags, closed, _ in ways])
    for (wid, tags, _, n_missing), geom in zip(ways, geoms, strict=True):
        if geom is not None:
            out.append(OsmFeature("way", wid, tags, geom, missing_nodes=n_missing))
    relations = candidates.relations
    fallback = _assemble_from_members(p, {r: rel for r, rel in relations.items() if r not in areas}, members.lines)
    for rid, rel in relations.items():
        if rid in areas:
            out.append(OsmFeature("relation", rid, rel.tags, areas[rid]))
        elif rid in fallback:
            geom, missing, closed_by_line = fallback[rid]
            out.append(OsmFeature("relation", rid, rel.tags, geom, missing, closed_by_line))
        else:
            log.warning("%s: relation/%d (%s) has no area in the file; skipped", p, rid, rel.tags.get("name", ""))
    return out


def _tags(obj: Any) -> dict[str, str]:
    return {t.k: t.v for t in obj.tags}


def _way_geometries(
    lines: Sequence[str | list[tuple[float, float]]], area: Sequence[bool]
) -> list[BaseGeometry | None]:
    """Way geometries, vectorised: a polygon where ``area`` (made valid if need be), else a
    line; None for a way of fewer than two nodes present."""
    geoms = np.empty(len(lines), dtype=object)
    is_wkb = np.array([isinstance(g, str) for g in lines], dtype=bool)
    if is_wkb.any():
        geoms[is_wkb] = shapely.from_wkb([g for g in lines if isinstance(g, str)])
    for i in np.flatnonzero(~is_wkb).tolist():
        present = lines[i]
        geoms[i] = shapely.LineString(present) if len(present) >= 2 else None
    poly = np.asarray(area, dtype=bool) & np.array([g is not None for g in geoms], dtype=bool)
    if poly.any():
        coords, index = shapely.get_coordinates(geoms[poly], return_index=True)
        rings = shapely.polygons(shapely.linearrings(coords, indices=index))
        bad = ~shapely.is_valid(rings)
        rings[bad] = shapely.make_valid(rings[bad])
        geoms[poly] = rings
    return list(geoms)


def _area_geometry(wkb: Any, area: Any) -> BaseGeometry | None:
    try:
        geom = shapely.from_wkb(wkb.create_multipolygon(area))
    except RuntimeError:
        return None
    if geom.is_empty:
        return None
    if len(geom.geoms) == 1:
        geom = geom.geoms[0]
    return geom if geom.is_valid else shapely.make_valid(geom)


def _assemble_from_members(
    p: Path, relations: Mapping[int, _Relation], member_lines: Mapping[int, list[tuple[float, float]]]
) -> dict[int, tuple[BaseGeometry, tuple[int, ...], bool]]:
    """Polygons of relations pyosmium could not assemble, from the member ways present.

    Rings are formed from the member lines (merged where they share ends); when no outer
    ring closes, the open outer linework is closed with a straight line. Returns
    (geometry, missing member ways, closed by a line) by relation id.
    """
    lines = {w: shapely.LineString(c) for w, c in member_lines.items()}
    out: dict[int, tuple[BaseGeometry, tuple[int, ...], bool]] = {}
    for rid, rel in relations.items():
        missing = tuple(w for w, _ in rel.members if w not in lines)
        outer = [lines[w] for w, role in rel.members if w in lines and role != "inner"]
        inner = [lines[w] for w, role in rel.members if w in lines and role == "inner"]
        if not outer:
            continue
        closed_by_line = False
        polys = list(shapely.polygonize(shapely.get_parts(shapely.union_all(outer))).geoms)
        if not polys:
            merged = shapely.line_merge(shapely.union_all(outer))
            parts = getattr(merged, "geoms", [merged])
            polys = [shapely.Polygon(list(g.coords)) for g in parts if len(g.coords) >= 3]
            polys = [g if g.is_valid else shapely.make_valid(g) for g in polys]
            closed_by_line = bool(polys)
            if closed_by_line:
                log.warning(
                    "%s: relation/%d: outer ring is open (member ways missing from the file); closed with a "
                    "straight line",
                    p,
                    rid,
                )
        if not polys:
            continue
        geom = shapely.union_all(polys)
        if inner:
            holes = list(shapely.polygonize(shapely.get_parts(shapely.union_all(inner))).geoms)
            if holes:
                geom = geom.difference(shapely.union_all(holes))
        out[rid] = (geom if geom.is_valid else shapely.make_valid(geom), missing, closed_by_line)
    return out
