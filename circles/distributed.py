"""One city in partitions on Dask, with exactly the results of a single-process run.

>>> from circles import distributed, pipeline
>>> result = distributed.analyse_partitioned(boundaries, facilities, network, dask="local:2")
>>> pipeline.write_outputs(result, "results")     # the same gaps, ledger, access and indicators

Communities are grouped into partitions — by district (``district_field``) or in square tiles
of ``tile_m`` — and each partition is one Dask task that loads only the streets around its
communities from a network *store* (the built network as memory-mapped arrays in the cache
folder, built once). Why the numbers are exactly those of one process:

* **Search limit.** A walk of length ``L`` never leaves the disc of radius ``L`` around its
  start, so every walk up to the search limit from a partition's residents — and every street
  a point within the attachment cap could attach to — lies within the partition's box widened
  by :attr:`Margins.network_m`. Nodes and edges keep their relative order in the store's
  subset (ties break the same way) and the edges' pieces keep their offsets of the whole
  network (:meth:`NetworkStore.subset`), so distances are the same floating-point numbers.
* **Shared facilities (2SFCA).** A facility reached within a threshold is shared by everyone
  within that threshold of it: residents of *context* communities, up to twice the longest
  capacity threshold away, load demand on the partition's facilities; they are computed, not
  reported.
* **Every facility once.** Whether a facility reaches a street (``placed``, ``snap_m``) is
  decided first, tile by tile over all facilities (``facility_status``): facilities.csv lists
  each facility once, also those far from every community, and every partition sees the whole
  city's facility list with that status (a type counts as present or set aside city-wide).
* **Same tables.** The merged tables are rebuilt from the partitions' rows and sorted like a
  single run's, then written by :func:`circles.pipeline.write_outputs`.

Large arrays never travel through the scheduler: tasks receive the store's folder (and the
network file to build it from on a worker that cannot see the folder) and small tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import __version__, isochrones, population, reach
from ._arrays import unique_ints
from ._outputs import timed
from ._safety import check_regular_file
from .access import Access, compute_access
from .errors import ConfigError, InputError, OptionError
from .gaps import locate_uncovered_nearest, surveyed_types
from .ledger import Departments, build_ledger
from .network import (
    CACHE_VERSION,
    WalkNetwork,
    check_named_arrays,
    name_arrays,
    name_table,
    read_walk_network,
)
from .options import RunOptions, Sources, build
from .pipeline import Result, from_inputs
from .rulebook import Rulebook
from .stages import (
    ONLINE,
    Area,
    Inputs,
    area_boxes,
    check_facilities_placed,
    draw_areas,
    input_label,
    load_inputs,
    measure_area,
    network_checks,
    open_network,
    projected,
    search_limit_m,
    type_counts,
    type_speeds,
)

log = logging.getLogger(__name__)

#: A rectangle (xmin, ymin, xmax, ymax) in the network CRS.
Box = tuple[float, float, float, float]

#: Columns the facility-status step adds to the facilities (as :func:`compute_access` does).
STATUS_COLUMNS = ("placed", "snap_m", "set_aside_reason")

#: Side of the square tiles facilities are placed in, one task each (a facility needs only the
#: streets within the attachment cap, so tiles can be large).
FACILITY_TILE_M = 10_000.0

STORE_FORMAT = "circles-network-store-1"
_STORE_ARRAYS = ("node_ids", "x", "y", "u", "v", "length", "bounds", "coord_first", "coords", "piece_start")
#: Optional arrays of a store: the street names (:func:`circles.network.name_arrays`).
_STORE_NAME_ARRAYS = ("street_names", "street_name_index")


# --------------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------------


#: How long to wait for a remote scheduler to answer.
CONNECT_TIMEOUT = "30s"


def _distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - the dask extra is a test dependency
        raise ConfigError("running on Dask needs the dask extra: pip install 'circles[dask]'") from None
    return distributed


def is_local(address: Any) -> bool:
    """Whether ``address`` is a cluster on this machine (``local`` or ``local:N``)."""
    return isinstance(address, str) and (address.strip() == "local" or address.strip().startswith("local:"))


def local_workers_max() -> int:
    """Most workers ``local:N`` may start: the cores this process may use, at least 2 (so that
    the documented ``local:2`` runs everywhere). Each worker is a process with its own copy of
    the network: more than the cores only slows the run and can exhaust memory and files.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(2, cores)


def _local_workers(address: str) -> int:
    text = address.strip()
    if text == "local":
        return max(1, os.cpu_count() or 1)
    try:
        n = int(text.split(":", 1)[1])
    except ValueError:
        n = 0
    cap = local_workers_max()
    if not 1 <= n <= cap:
        raise OptionError(
            "dask",
            address,
            f"local:N with N workers from 1 to {cap} (the cores of this machine), or a scheduler address or file",
        )
    return n


def check_dask(address: Any) -> None:
    """Check ``--dask`` before any work: ``local:N`` within the machine (:func:`local_workers_max`)."""
    if is_local(address):
        _local_workers(str(address))


#: How often to look for a scheduler file that does not exist yet, in seconds.
_SCHEDULER_FILE_POLL_S = 0.5


def _scheduler_address(path: str) -> str:
    """The address in a scheduler file (``dask scheduler --scheduler-file``), waiting up to
    :data:`CONNECT_TIMEOUT` for the file to appear (the scheduler may still be starting).
    """
    timeout = float(CONNECT_TIMEOUT.rstrip("s"))
    end = time.monotonic() + timeout
    p = Path(path)
    while True:
        try:
            check_regular_file(p)
            address = json.loads(p.read_text(encoding="utf-8"))["address"]
            if isinstance(address, str) and address:
                return address
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if time.monotonic() >= end:
            raise ConfigError(
                f"--dask {path}: no scheduler file with an address appeared there within {timeout:.0f} s; start the "
                f"scheduler with `dask scheduler --scheduler-file {path}`, or check the path"
            )
        time.sleep(_SCHEDULER_FILE_POLL_S)


@contextlib.contextmanager
def dask_client(address: Any) -> Iterator[Any]:
    """A Dask client for ``address``, closed (with its cluster) on exit.

    ``address`` is ``local:N`` (a :class:`distributed.LocalCluster` of N one-thread worker
    processes on this machine), ``local`` (one worker per core), a scheduler address
    (``tcp://host:8786``), a scheduler file (``scheduler.json``, as written by
    ``dask scheduler --scheduler-file``), or a :class:`distributed.Client` already connected
    (used as it is and left open). The workers must run the same circles version as this
    process (checked).
    """
    distributed = _distributed()
    if isinstance(address, distributed.Client):
        _check_workers(address)
        yield address
        return
    text = str(address).strip()
    cluster = None
    # a local cluster's start and stop are routine: its INFO lines (workers "killed" on close)
    # would only worry a user; warnings and errors still show
    quiet = logging.getLogger("distributed")
    level = quiet.level
    if is_local(text):
        quiet.setLevel(max(level, logging.WARNING))
        n = _local_workers(text)
        try:
            cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"},  # its plain HTTP server on any free port, not 8787
                silence_logs=logging.ERROR,
            )
        except KeyboardInterrupt:  # interrupted while the cluster starts: stop what has started, quietly
            quiet.setLevel(logging.CRITICAL)
            _abandon_starting_clusters()
            raise
        client = distributed.Client(cluster)
    else:
        try:
            if text.endswith(".json"):
                client = distributed.Client(_scheduler_address(text), timeout=CONNECT_TIMEOUT)
            else:
                client = distributed.Client(text, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {text} ({type(exc).__name__}: {exc}); start one with "
                "`dask scheduler` and workers with `dask worker tcp://HOST:8786`"
            ) from None
    try:
        _check_workers(client)
        yield client
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop the local workers now, without their noise
        quiet.setLevel(logging.CRITICAL)
        _kill_local_workers(cluster)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        quiet.setLevel(level)


def _abandon_starting_clusters() -> None:
    """Kill the workers of local clusters interrupted while starting, and keep Dask's exit hook
    from closing them (it would fail on their half-started state with a traceback).
    """
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the workers' start tasks, failed on purpose
    try:
        from distributed.deploy.spec import SpecCluster
    except ImportError:  # pragma: no cover - the dask extra is a test dependency
        return
    for cluster in list(SpecCluster._instances):
        _kill_local_workers(cluster)
        cluster.shutdown_on_close = False


def _kill_local_workers(cluster: Any) -> None:
    """Kill the worker processes of a local cluster (busy workers would otherwise finish their
    task, or be killed by their nanny only after its own 4 s timeout).
    """
    if cluster is None:
        return
    for nanny in list(getattr(cluster, "workers", {}).values()):
        try:
            pid = nanny.process.process.pid
            if pid:
                os.kill(pid, signal.SIGKILL)
        except (AttributeError, ProcessLookupError, PermissionError, TypeError):
            continue


def _worker_version() -> str:
    from . import __version__ as v

    return v


def _check_workers(client: Any, timeout: float = 60.0) -> None:
    """Wait for a worker; refuse workers running another circles version."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise ConfigError(f"no Dask worker joined the scheduler within {timeout:.0f} s") from None
    versions = client.run(_worker_version)
    other = {w: v for w, v in versions.items() if v != __version__}
    if other:
        listed = ", ".join(f"{w} has {v}" for w, v in sorted(other.items()))
        raise ConfigError(
            f"Dask workers run another circles version than this process ({__version__}): {listed}; "
            "install the same version everywhere"
        )


# --------------------------------------------------------------------------------------------
# Inputs anywhere: local paths or fsspec URLs
# --------------------------------------------------------------------------------------------


def is_url(path: Any) -> bool:
    """Whether ``path`` is a URL for fsspec (``s3://…``, ``https://…``) rather than a local path."""
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def local_copy(path: str | Path, folder: str | Path) -> Path:
    """A local copy of ``path``.

    ``path`` itself when it is local; a URL (any fsspec protocol) is downloaded once into
    ``folder/downloads/`` and that copy returned.
    """
    if not is_url(path):
        text = str(path)
        return Path(text[len("file://") :] if text.startswith("file://") else text)
    import fsspec

    url = str(path)
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    target = Path(folder) / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with fsspec.open(url, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except Exception as exc:  # fsspec backends raise many kinds of errors
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot read ({type(exc).__name__}: {exc})", path=url) from None
    os.replace(tmp, target)
    return target


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# The network store: a built network as memory-mapped arrays, read a box at a time
# --------------------------------------------------------------------------------------------


def write_store(net: WalkNetwork, folder: str | Path) -> Path:
    """Write ``net`` as a store folder (one ``.npy`` per array, readable a box at a time).

    Written under a temporary name and renamed: a reader never sees half a store, and when
    two processes build the same store the first one wins.
    """
    folder = Path(folder)
    tmp = folder.with_name(f"{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    coords = shapely.get_coordinates(net.geometry)
    counts = shapely.get_num_points(net.geometry).astype(np.int64)
    # where each edge's pieces start along it, as the whole network's attachment computes it
    start = reach._pieces(net).start
    arrays = {
        "node_ids": np.asarray(net.node_ids, dtype=np.int64),
        "x": np.asarray(net.x, dtype=float),
        "y": np.asarray(net.y, dtype=float),
        "u": np.asarray(net.u, dtype=np.int64),
        "v": np.asarray(net.v, dtype=np.int64),
        "length": np.asarray(net.length, dtype=float),
        "bounds": shapely.bounds(net.geometry).reshape(-1, 4) if net.n_edges else np.zeros((0, 4)),
        "coord_first": np.r_[0, np.cumsum(counts)].astype(np.int64),
        "coords": coords.reshape(-1, 2),
        "piece_start": np.asarray(start, dtype=float),
        **name_arrays(net.name),  # the street names, when the network has them
    }
    for name, arr in arrays.items():
        np.save(tmp / f"{name}.npy", arr)
    meta = {
        "format": STORE_FORMAT,
        "crs": net.crs,
        "source": net.source,
        "nodes": int(net.n_nodes),
        "edges": int(net.n_edges),
        "circles": __version__,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    try:
        os.rename(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "meta.json").exists():
            raise
    log.info("network store %s: %d nodes, %d edges", folder, net.n_nodes, net.n_edges)
    return folder


class NetworkStore:
    """A network written by :func:`write_store`, memory-mapped: a subset reads only its part."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"not a circles network store ({exc})", path=str(self.folder)) from None
        if meta.get("format") != STORE_FORMAT:
            raise InputError(f"network store of another format ({meta.get('format')})", path=str(self.folder))
        self.crs: str = meta["crs"]
        self.source: str = meta.get("source", "")
        try:  # plain arrays only (NumPy refuses Python objects unless told otherwise)
            self.arrays = {
                name: np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _STORE_ARRAYS
            }
            self.arrays.update(
                (name, np.load(self.folder / f"{name}.npy", allow_pickle=False))
                for name in _STORE_NAME_ARRAYS
                if (self.folder / f"{name}.npy").is_file()
            )
        except Exception as exc:  # a damaged store fails in many ways inside NumPy
            raise InputError(
                f"not a circles network store ({type(exc).__name__}: {exc})", path=str(self.folder)
            ) from None
        self._check()

    def _check(self) -> None:
        """The store's arrays make a valid network (as a network file's: see network.check_named_arrays)."""
        a = self.arrays
        first = np.asarray(a["coord_first"])
        if first.ndim != 1 or len(first) != len(a["u"]) + 1 or first[0] != 0 or a["coords"].ndim != 2:
            raise InputError("not a circles network store (array 'coord_first' or 'coords')", path=str(self.folder))
        check_named_arrays(str(self.folder), self.crs, a, np.diff(first))
        self.names = name_table(a, len(a["u"]), str(self.folder))  # each subset names its own edges

    @property
    def n_edges(self) -> int:
        """The number of edges."""
        return len(self.arrays["u"])

    @property
    def n_nodes(self) -> int:
        """The number of nodes."""
        return len(self.arrays["x"])

    def extent(self) -> Box:
        """Bounds of every edge."""
        b = self.arrays["bounds"]
        if not len(b):
            return (0.0, 0.0, 0.0, 0.0)
        return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))

    def subset(self, box: Box | None = None) -> WalkNetwork:
        """The edges whose bounds meet ``box`` and their end nodes, in the network's order.

        Everything without a box.

        Each edge keeps its geometry, its length and the offsets of its pieces computed on the
        whole network, so points attach to the same positions and distances come out the
        same to the last bit.
        """
        a = self.arrays
        if box is None:
            edges = np.arange(self.n_edges, dtype=np.int64)
            nodes = np.arange(self.n_nodes, dtype=np.int64)
        else:
            b = a["bounds"]
            inside = (b[:, 0] <= box[2]) & (b[:, 2] >= box[0]) & (b[:, 1] <= box[3]) & (b[:, 3] >= box[1])
            edges = np.flatnonzero(inside)
            nodes = unique_ints(np.r_[a["u"][edges], a["v"][edges]])
        u = np.searchsorted(nodes, a["u"][edges])
        v = np.searchsorted(nodes, a["v"][edges])
        cf = a["coord_first"]
        c0 = np.asarray(cf[edges])
        n_coords = np.asarray(cf[edges + 1]) - c0
        take = _ranges(c0, n_coords)
        coords = np.asarray(a["coords"][take])
        geometry = (
            shapely.linestrings(coords, indices=np.repeat(np.arange(len(edges)), n_coords))
            if len(edges)
            else np.zeros(0, dtype=object)
        )
        net = WalkNetwork(
            crs=self.crs,
            node_ids=np.asarray(a["node_ids"][nodes]),
            x=np.asarray(a["x"][nodes]),
            y=np.asarray(a["y"][nodes]),
            u=u.astype(np.int64),
            v=v.astype(np.int64),
            length=np.asarray(a["length"][edges]),
            geometry=np.asarray(geometry, dtype=object),
            source=self.source,
            name=self.names[0][self.names[1][edges]] if self.names is not None else None,
        )
        if len(edges):
            # the pieces' offsets along their edge as on the whole network: computed there as a
            # running sum over every piece, they differ in the last bits on a subset
            pieces = reach._pieces(net)
            first_piece = c0 - edges  # an edge of k coordinates has k - 1 pieces
            global_piece = _ranges(first_piece, n_coords - 1)
            if len(pieces.start) == len(global_piece):
                pieces.start[:] = a["piece_start"][global_piece]
        return net


def _ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``start[i] .. start[i] + count[i] - 1`` for every ``i``, concatenated."""
    count = np.asarray(count, dtype=np.int64)
    total = int(count.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offset = np.repeat(np.asarray(start, dtype=np.int64) - (np.cumsum(count) - count), count)
    return offset + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class StoreRef:
    """Where a task finds the network.

    The store folder, and the network to build it from on a machine that cannot see that folder
    (``source``; empty when the network came from memory).
    """

    folder: str
    source: str = ""
    cache_dir: str = ""


_OPEN_STORES: dict[str, NetworkStore] = {}


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """One builder per machine and store when running on a Dask worker (a Dask lock)."""
    try:
        from distributed import Lock, get_worker

        get_worker()
    except (ImportError, ValueError):
        yield
        return
    with Lock(f"circles-store-{socket.gethostname()}-{name}"):
        yield


def open_store(ref: StoreRef) -> NetworkStore:
    """The store of ``ref``, kept open per process.

    Built from ``ref.source`` if this machine does not have it yet.
    """
    folder = Path(ref.folder)
    key = str(folder)
    if key in _OPEN_STORES and (folder / "meta.json").exists():
        return _OPEN_STORES[key]
    if not (folder / "meta.json").exists():
        if not ref.source:
            raise InputError(
                "the network store is not on this machine and there is no network file to build it "
                "from: use a cache folder every worker can read",
                path=key,
            )
        with _build_lock(folder.name):
            if not (folder / "meta.json").exists():
                cache = ref.cache_dir or str(folder.parent)
                net = read_walk_network(local_copy(ref.source, cache), cache_dir=cache)
                folder.parent.mkdir(parents=True, exist_ok=True)
                write_store(net, folder)
    store = NetworkStore(folder)
    _OPEN_STORES[key] = store
    return store


def _network_digest(net: WalkNetwork) -> str:
    h = hashlib.sha256(net.crs.encode())
    for arr in (net.node_ids, net.x, net.y, net.u, net.v, net.length, shapely.get_coordinates(net.geometry)):
        h.update(np.ascontiguousarray(arr).tobytes())
    for arr in name_arrays(net.name).values():  # the street names
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def prepare_store(network: str | Path | WalkNetwork, cache_dir: str | Path) -> StoreRef:
    """Build (once) the store of ``network`` in ``cache_dir``.

    A file is keyed by its content, a network in memory by its arrays.
    """
    cache = Path(cache_dir).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    if isinstance(network, WalkNetwork):
        folder = cache / f"memory.{_network_digest(network)}.store"
        if not (folder / "meta.json").exists():
            write_store(network, folder)
        return StoreRef(str(folder), "", str(cache))
    local = local_copy(network, cache)
    if not local.exists():
        raise InputError("network file not found", path=str(network))
    folder = cache / f"{local.name}.{CACHE_VERSION}.{_digest(local)}.store"  # a new builder: a new store
    ref = StoreRef(str(folder), str(network), str(cache))
    if not (folder / "meta.json").exists():
        t0 = time.perf_counter()
        write_store(read_walk_network(local, cache_dir=cache), folder)
        log.info("built the network store %s in %.1f s", folder, time.perf_counter() - t0)
    return ref


# --------------------------------------------------------------------------------------------
# Partitions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Margins:
    """How far from a partition's communities the inputs still matter (metres).

    Attributes
    ----------
    limit_m : float
        The search limit: nearest-facility times are exact up to it.
    attach_m : float
        The attachment cap.
    context_m : float
        Twice the longest threshold of a rule with a capacity: residents that close share
        facilities with the partition's residents (2SFCA); their communities are context.
    pair_m : float
        The longest threshold: only facilities this close can be within a threshold of a
        partition's resident (their residents within reach are measured).
    facility_m : float
        Facilities within this distance of the partition are searched from: the search
        limit and the context's thresholds.
    area_m : float
        Walking areas are exact where the facilities and streets within this distance are
        searched from (the search limit, the access leg and two raster cells: an area's outline
        is interpolated between a cell inside it and one outside, at any distance).
    """

    limit_m: float
    attach_m: float
    context_m: float
    pair_m: float
    facility_m: float
    area_m: float

    @property
    def network_m(self) -> float:
        """The streets within this distance of the partition are loaded."""
        return self.facility_m + self.attach_m


def margins(rulebook: Rulebook, max_minutes: float, max_attach_m: float) -> Margins:
    """The :class:`Margins` of a run."""
    limit = search_limit_m(rulebook, max_minutes)
    longest = max(rulebook.threshold_m(r) for r in rulebook.rules)
    capacity = max((rulebook.threshold_m(r) for r in rulebook.rules if r.capacity is not None), default=0.0)
    return Margins(
        limit_m=limit,
        attach_m=max_attach_m,
        context_m=2 * capacity,
        pair_m=longest,
        facility_m=max(limit, 2 * capacity),
        # a walking area's cells lie up to the attachment cap (plus two cells) from a street, and
        # its outline is interpolated between cells inside and outside it, whose values count up
        # to the search limit
        area_m=limit + max_attach_m + 2 * isochrones.AREA_MAX_CELL_M + 10.0,
    )


def default_tile_m(m: Margins) -> float:
    """Default partition side.

    Four times the margin, so that a partition's widened box is about 2.25 times its area
    (whole kilometres).
    """
    return float(np.ceil(4 * m.network_m / 1000.0) * 1000.0)


@dataclass(frozen=True)
class Partition:
    """Communities analysed together.

    ``core`` are reported; ``context`` are the communities around them that share their
    facilities (computed, not reported); positions in the communities.
    """

    key: str
    core: np.ndarray
    context: np.ndarray
    bbox: Box

    @property
    def rows(self) -> np.ndarray:
        """Positions of the core and context communities, sorted."""
        return unique_ints(np.r_[self.core, self.context])


def widen(box: Box | np.ndarray, m: float) -> Box:
    """``box`` widened by ``m`` on every side."""
    return (float(box[0]) - m, float(box[1]) - m, float(box[2]) + m, float(box[3]) + m)


def _tile_keys(points: gpd.GeoSeries, tile_m: float) -> list[tuple[int, int]]:
    ix = np.floor(points.x.to_numpy() / tile_m).astype(np.int64)
    iy = np.floor(points.y.to_numpy() / tile_m).astype(np.int64)
    return list(zip(ix.tolist(), iy.tolist(), strict=True))


def plan_partitions(
    communities: gpd.GeoDataFrame,
    m: Margins,
    *,
    district_field: str | None = None,
    tile_m: float | None = None,
) -> list[Partition]:
    """Group the communities (projected) into partitions.

    One per district when ``district_field`` is given, else one per square tile of ``tile_m``
    metres (by each community's representative point); each with its context communities.
    """
    if district_field is not None:
        keys: list[Any] = communities[district_field].fillna("").astype(str).tolist()
        order = sorted(set(keys))
        names = {k: str(k) for k in order}
    else:
        side = tile_m or default_tile_m(m)
        keys = _tile_keys(communities.geometry.representative_point(), side)
        order = sorted(set(keys))
        names = {k: f"{k[0] * side:.0f}_{k[1] * side:.0f}" for k in order}
    members: dict[Any, list[int]] = {}
    for i, k in enumerate(keys):
        members.setdefault(k, []).append(i)
    bounds = communities.geometry.bounds.to_numpy()
    tree = communities.sindex
    out = []
    for k in order:
        core = np.asarray(members[k], dtype=np.int64)
        bbox = (
            float(bounds[core, 0].min()),
            float(bounds[core, 1].min()),
            float(bounds[core, 2].max()),
            float(bounds[core, 3].max()),
        )
        if m.context_m > 0:
            _, near = tree.query(communities.geometry.values[core], predicate="dwithin", distance=m.context_m)
            near = unique_ints(near)
            context = near[~np.isin(near, core)]
        else:
            context = np.zeros(0, dtype=np.int64)
        out.append(Partition(key=names[k], core=core, context=context.astype(np.int64), bbox=bbox))
    return out


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------


def _no_residents(crs: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"point_id": pd.Series([], dtype=object), "community_id": pd.Series([], dtype=object)},
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def _attach_facilities(net: WalkNetwork, facilities: gpd.GeoDataFrame, max_attach_m: float) -> pd.DataFrame:
    """Placement of each facility on ``net`` (``placed``, ``snap_m``, ``set_aside_reason``).

    Computed by :func:`compute_access` itself (on no street at all: not placed, distance unknown).
    """
    if net.n_edges == 0:
        return pd.DataFrame(
            {"placed": np.zeros(len(facilities), dtype=bool), "snap_m": np.nan, "set_aside_reason": ""},
            index=facilities.index,
        )
    acc = compute_access(
        net, _no_residents(net.crs), facilities, [], limit_m=0.0, max_attach_m=max_attach_m, progress=False
    )
    return acc.facilities[list(STATUS_COLUMNS)]


def facility_status(ref: StoreRef, facilities: gpd.GeoDataFrame, rows: np.ndarray, max_attach_m: float) -> pd.DataFrame:
    """Task: where the facilities at ``rows`` meet the streets, exactly as a whole-city run says.

    The streets within the attachment cap of the facilities are loaded; a facility that stays
    set aside is measured again on the streets within its distance to the nearest street found
    (or on the whole network), so that its reported distance is exact too.

    Returns
    -------
    DataFrame
        ``placed``, ``snap_m``, ``set_aside_reason``, indexed by ``rows``.
    """
    store = open_store(ref)
    sub = facilities.iloc[rows].reset_index(drop=True)
    out = _attach_facilities(store.subset(widen(sub.total_bounds, max_attach_m)), sub, max_attach_m)
    aside = np.flatnonzero(~out["placed"].to_numpy(dtype=bool))
    if len(aside):
        snap = out["snap_m"].to_numpy(dtype=float)[aside]
        far = sub.iloc[aside].reset_index(drop=True)
        box = None if np.isnan(snap).any() else widen(far.total_bounds, float(snap.max()) + 1.0)
        again = _attach_facilities(store.subset(box), far, max_attach_m)
        for c in STATUS_COLUMNS:
            out.loc[out.index[aside], c] = again[c].to_numpy()
    out.index = pd.Index(rows)
    return out


@dataclass
class PartitionOutput:
    """What one partition sends back: its communities' rows and resident points."""

    key: str
    gaps: pd.DataFrame
    residents: gpd.GeoDataFrame
    counts: dict[str, np.ndarray]
    timings: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def _adopt_city_facilities(acc: Access, city: gpd.GeoDataFrame, real: np.ndarray, searched: np.ndarray) -> None:
    """Give ``acc`` (computed on the facilities at ``real``) the whole city's facility list.

    Facilities keep their city-wide status; those not searched from here (beyond reach of the
    partition, or ``searched`` False) are placed without access points, so that they count as
    present where a count is city-wide and reach nobody.
    """
    leaves: dict[int, np.ndarray] = {}
    for local, lv in acc.facility_leaves.items():
        pos = int(real[local])
        if searched[pos]:
            leaves[pos] = lv
    for placed in np.flatnonzero(city["placed"].to_numpy(dtype=bool)):
        leaves.setdefault(int(placed), np.zeros(0, dtype=np.int64))
    acc.facility_leaves = leaves
    ap = acc.access_points.copy()
    ap["facility"] = real[ap["facility"].to_numpy()] if len(ap) else ap["facility"]
    acc.access_points = ap
    acc.facilities = city


def _exact_snap(acc: Access, store: NetworkStore, certain_m: float, max_attach_m: float) -> None:
    """Measure again the distance to the street of points left unattached.

    Resident points whose nearest street may lie beyond the loaded streets (farther than
    ``certain_m``) get their ``snap_m`` measured again on wide enough streets.
    """
    res = acc.residents
    snap = res["snap_m"].to_numpy(dtype=float)
    doubt = np.flatnonzero(~res["placed"].to_numpy(dtype=bool) & ~(snap <= certain_m - 0.1))
    if not len(doubt):
        return
    pts = res.geometry.values[doubt]
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    s = snap[doubt]
    box = None if np.isnan(s).any() else widen((x.min(), y.min(), x.max(), y.max()), float(s.max()) + 1.0)
    att = reach.attach_points(store.subset(box), x, y, max_attach_m)
    col = res.columns.get_loc("snap_m")
    res.iloc[doubt, col] = np.round(att.leg, 1)


def _streets_around(store: NetworkStore, bbox: Box, pad: float) -> WalkNetwork:
    """The streets within ``pad`` of ``bbox``.

    When there are none (communities far from every street: nobody is placed), the nearest
    ones, found by doubling ``pad``.
    """
    net = store.subset(widen(bbox, pad))
    extent = store.extent()
    far = max(abs(extent[0] - bbox[2]), abs(extent[2] - bbox[0]), abs(extent[1] - bbox[3]), abs(extent[3] - bbox[1]))
    while net.n_edges == 0 and store.n_edges and pad <= far:
        pad *= 2
        net = store.subset(widen(bbox, pad))
    return net


def _facilities_near(facilities: gpd.GeoDataFrame, bbox: Box, m: Margins) -> tuple[np.ndarray, np.ndarray]:
    """The facilities a partition searches from (positions, sorted).

    And, over every facility, whether it can be within a threshold of the partition's residents.
    """
    tree = facilities.sindex
    real = np.sort(tree.query(shapely.box(*widen(bbox, m.facility_m)), predicate="intersects"))
    if not len(real) and len(facilities):
        # nothing within reach: the nearest facility stands in (beyond the search limit, it reaches
        # nobody), as the walking-time step needs at least one
        real = np.sort(tree.nearest(shapely.box(*bbox)).ravel()[-1:])
    searched = np.zeros(len(facilities), dtype=bool)
    searched[tree.query(shapely.box(*bbox), predicate="dwithin", distance=m.pair_m)] = True
    return real, searched


def run_partition(
    part: Partition,
    ref: StoreRef,
    communities: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    rulebook: Rulebook,
    surveyed: set[str],
    options: RunOptions,
) -> PartitionOutput:
    """Task: the analysis of one partition, on the streets around it.

    Parameters
    ----------
    part : Partition
    ref : StoreRef
    communities : GeoDataFrame
        Every community of the city (network CRS), as the single run has them.
    facilities : GeoDataFrame
        Every facility of the city (network CRS) with its city-wide status
        (:func:`facility_status`).
    buildings : GeoDataFrame, optional
        The buildings that can lie in the partition's communities (core and context).
    rulebook, surveyed, options
        As in the single run (``surveyed``: the types the whole input speaks about).
    """
    timings: dict[str, float] = {}
    with timed(timings, "network"):
        m = margins(rulebook, options.max_minutes, options.max_attach_m)
        store = open_store(ref)
        net = _streets_around(store, part.bbox, m.network_m)
        comms = communities.iloc[part.rows].reset_index(drop=True)
        core_ids = set(communities["id"].iloc[part.core].astype(str))
    real, searched = _facilities_near(facilities, part.bbox, m)
    base = [c for c in facilities.columns if c not in STATUS_COLUMNS]

    def whole_city(acc: Access) -> None:
        _adopt_city_facilities(acc, facilities, real, searched)
        _exact_snap(acc, store, m.network_m, options.max_attach_m)

    area = Area(comms, buildings, facilities.iloc[real][base].reset_index(drop=True))
    measured = measure_area(net, area, rulebook, surveyed, options, after_reach=whole_city)
    timings.update(measured.timings)
    acc = measured.access
    with timed(timings, "gaps"):
        # the context communities' rows are not reported (they see only the facilities searched
        # from here); the ledger is made from the whole city's rows by the client (its suggestions
        # look at neighbouring communities)
        gaps = measured.gaps
        gaps = gaps[gaps["community_id"].astype(str).isin(core_ids)].reset_index(drop=True)
        # where the uncovered residents' nearest facility lies: among the whole city's boundaries
        gaps = locate_uncovered_nearest(gaps, communities, facilities)
        counts = type_counts(acc, rulebook)

    keep = acc.residents["community_id"].astype(str).isin(core_ids).to_numpy()
    return PartitionOutput(
        key=part.key,
        gaps=gaps,
        residents=acc.residents[keep].reset_index(drop=True),
        counts={t: np.asarray(c)[keep] for t, c in counts.items()},
        timings=timings,
        sizes={
            "nodes": int(net.n_nodes),
            "edges": int(net.n_edges),
            "communities": len(part.core),
            "context_communities": len(part.context),
            "resident_points": int(keep.sum()),
            "context_points": int((~keep).sum()),
            "facilities_searched": int(len(real)),
        },
    )


# --------------------------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------------------------


def stack_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``frames`` (same columns) in one table.

    The column types are inferred from all the values, as when the table is built at once from
    its rows: a column of whole numbers that has a gap in one frame only is a float column, as
    in a single run.
    """
    cols = list(frames[0].columns)
    records = [rec for f in frames for rec in f.astype(object).itertuples(index=False, name=None)]
    return pd.DataFrame.from_records(records, columns=cols)


def area_tiles(communities: gpd.GeoDataFrame, rulebook: Rulebook, chunk_m: float) -> list[list[Box]]:
    """The tiles a single run draws walking areas in, grouped in square chunks of ``chunk_m``.

    The grid tiles meeting the communities' boxes, clipped to their extent
    (:func:`circles.isochrones.iter_areas`); one task per chunk, every tile drawn once.
    """
    boxes = area_boxes(communities, max(rulebook.threshold_m(r) for r in rulebook.rules))
    lo, hi = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
    chunks: dict[tuple[int, int], list[Box]] = {}
    for t in isochrones.area_tiles(boxes):
        clipped = (max(t[0], lo[0]), max(t[1], lo[1]), min(t[2], hi[0]), min(t[3], hi[1]))
        key = (int(np.floor(t[0] / chunk_m)), int(np.floor(t[1] / chunk_m)))
        chunks.setdefault(key, []).append(clipped)
    return [chunks[k] for k in sorted(chunks)]


def run_areas(
    ref: StoreRef,
    facilities: gpd.GeoDataFrame,
    tiles: list[Box],
    rulebook: Rulebook,
    options: RunOptions,
) -> gpd.GeoDataFrame:
    """Task: the walking areas of ``tiles`` (from :func:`area_tiles`).

    Drawn as a single run draws them, on the streets and facilities around the tiles.
    """
    m = margins(rulebook, options.max_minutes, options.max_attach_m)
    x0 = min(t[0] for t in tiles)
    y0 = min(t[1] for t in tiles)
    x1 = max(t[2] for t in tiles)
    y1 = max(t[3] for t in tiles)
    hull = (x0, y0, x1, y1)
    store = open_store(ref)
    net = store.subset(widen(hull, m.area_m + m.attach_m))
    real = np.sort(facilities.sindex.query(shapely.box(*widen(hull, m.area_m)), predicate="intersects"))
    types = rulebook.types_used()
    if net.n_edges == 0 or not len(real):
        net = _streets_around(store, hull, m.area_m + m.attach_m)
        real = np.sort(facilities.sindex.nearest(shapely.box(*hull)).ravel()[-1:])
    base = [c for c in facilities.columns if c not in STATUS_COLUMNS]
    acc = compute_access(
        net,
        _no_residents(net.crs),
        facilities.iloc[real][base].reset_index(drop=True),
        types,
        limit_m=m.limit_m,
        max_attach_m=options.max_attach_m,
        progress=False,
    )
    # each tile as a box that meets no neighbouring tile: a box ending exactly on the grid would
    # also draw the next one, so it ends a few ulps (1e-10 m) short of it
    side = isochrones.AREA_TILE_M
    boxes = np.array([(t[0], t[1], _short_of_grid(t[2], side), _short_of_grid(t[3], side)) for t in tiles])
    return draw_areas(acc, net, rulebook, boxes)


def _short_of_grid(v: float, side: float) -> float:
    """``v``, or just below it when it lies on the grid of ``side``.

    The nearest number below it that lies in the grid cell before (as
    :func:`circles.isochrones.area_tiles` computes cells).
    """
    k = np.floor(v / side)
    if v != k * side:
        return v
    w = float(v)
    while np.floor(w / side) >= k:
        w = float(np.nextafter(w, -np.inf))
    return w


def merge_areas(parts: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """The walking areas of the tasks as one layer, in a single run's order."""
    frames = [p for p in parts if len(p)]
    if not frames:
        return parts[0] if parts else gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    gdf = pd.concat(frames, ignore_index=True)
    return gdf.sort_values(["facility_type", "distance_m", "tile"], kind="stable").reset_index(drop=True)


def merge_partitions(
    outputs: Sequence[PartitionOutput],
    communities: gpd.GeoDataFrame,
    rulebook: Rulebook,
    departments: Departments | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, gpd.GeoDataFrame, dict[str, np.ndarray]]:
    """The partitions' gap report and resident points (with their counts) as one city's.

    In the single run's order (communities as in the input, then rules; resident points by
    community), and the ledger made from them as a single run makes it.
    """
    position = {cid: i for i, cid in enumerate(communities["id"].astype(str))}
    rule_pos = {r.id: i for i, r in enumerate(rulebook.rules)}
    gaps = stack_rows([o.gaps for o in outputs])
    key = pd.DataFrame(
        {"c": gaps["community_id"].astype(str).map(position), "r": gaps["rule_id"].map(rule_pos)}
    ).to_numpy()
    gaps = gaps.iloc[np.lexsort((key[:, 1], key[:, 0]))].reset_index(drop=True)
    ledger = population.annotate_ledger(build_ledger(gaps, communities, rulebook, departments=departments), gaps)
    residents = pd.concat([o.residents for o in outputs], ignore_index=True)
    order = np.argsort(residents["community_id"].astype(str).map(position).to_numpy(), kind="stable")
    residents = residents.iloc[order].reset_index(drop=True)
    counts = {t: np.concatenate([o.counts[t] for o in outputs])[order] for t in outputs[0].counts}
    return gaps, ledger, residents, counts


# --------------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------------


def _localise(path: Any, folder: Path) -> Any:
    return local_copy(path, folder) if is_url(path) else path


def _progress(futures: list, label: str, show: bool) -> list:
    """Results of ``futures`` in their order, with a progress bar as they complete."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    bar = tqdm(total=len(futures), desc=label, unit="task", disable=not show, leave=False)
    for _ in as_completed(futures):
        bar.update(1)
    bar.close()
    return [f.result() for f in futures]


def analyse_partitioned(
    boundaries: str | Path | None = None,
    facilities: str | Path | gpd.GeoDataFrame | None = None,
    network: str | Path | WalkNetwork | None = None,
    *,
    dask: Any = "local:2",
    tile_m: float | None = None,
    options: RunOptions | None = None,
    progress: bool = False,
    **overrides: Any,
) -> Result:
    """:func:`circles.pipeline.analyse` in partitions on Dask, with the same results.

    The parameters are those of :func:`circles.pipeline.analyse` (``options`` and the same
    ``overrides`` by name), plus:

    Parameters
    ----------
    dask : str or distributed.Client
        ``local:N``, a scheduler address (``tcp://host:8786``), a scheduler file, or a
        client (see :func:`dask_client`).
    tile_m : float, optional
        Side of the square tiles communities are grouped in when there is no
        ``district_field`` (default :func:`default_tile_m`: four times the margin).
    cache_dir : path, optional
        Where the network store is built (a temporary folder when not given, which remote
        workers cannot see: they then build their own from the network file). Input paths
        may be fsspec URLs (``s3://…``): they are downloaded into ``cache_dir`` first.

    Returns
    -------
    Result
        Without ``access`` (there is no single graph): ``within_counts`` holds the per-resident
        facility counts; ``network`` is the whole network (for the maps); ``timings`` holds the
        wall time of each step and, under ``partition:<key>:<step>``, each task's work.
    """
    check_dask(dask)
    opts = build(RunOptions, options, **overrides)
    own_cache = opts.cache_dir is None
    cache = Path(opts.cache_dir) if opts.cache_dir is not None else Path(tempfile.mkdtemp(prefix="circles-store-"))
    try:
        return _analyse_in(Sources(boundaries, facilities, network), opts, cache, dask, tile_m, progress)
    finally:
        if own_cache:
            _OPEN_STORES.clear()
            shutil.rmtree(cache, ignore_errors=True)


@dataclass(frozen=True)
class CityPlan:
    """A city ready for its tasks.

    The network store, the partitions and the tables every task reads (network CRS;
    ``facilities`` with their city-wide status once placed).
    """

    ref: StoreRef
    parts: list[Partition]
    communities: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    rulebook: Rulebook
    surveyed: set[str]
    options: RunOptions
    side: float


def _analyse_in(
    sources: Sources, opts: RunOptions, cache: Path, dask: Any, tile_m: float | None, progress: bool
) -> Result:
    """Run :func:`analyse_partitioned` with the store's folder ``cache`` decided.

    The same stages as :func:`circles.pipeline.analyse`, the area measured partition by
    partition.
    """
    timings: dict[str, float] = {}
    with timed(timings, "load"):
        sources = replace(sources, boundaries=_localise(sources.boundaries, cache))
        sources = replace(sources, facilities=_localise(sources.facilities, cache))
        inp = load_inputs(sources, opts.updated(buildings=_localise(opts.buildings, cache)))
    with timed(timings, "network"):
        source: str | Path | WalkNetwork = inp.network
        if not isinstance(source, WalkNetwork) and str(source) == ONLINE:
            source = open_network(inp, cache)
        ref = prepare_store(source, cache)
        net = open_store(ref).subset(None)
    warnings = [*inp.warnings, *network_checks(inp, net)]
    with timed(timings, "plan"):
        plan = _plan(inp, ref, net.crs, tile_m)
    with dask_client(dask) as client:
        run = uuid.uuid4().hex[:8]
        with timed(timings, "facilities"):
            plan = replace(plan, facilities=_place_facilities(client, plan, run, progress))
        warnings += check_facilities_placed(plan.facilities, opts.max_attach_m, input_label(inp.facilities))
        with timed(timings, "partitions"):
            outputs, areas = _run_tasks(client, plan, run, progress)
    with timed(timings, "merge"):
        gaps, ledger, residents, counts = merge_partitions(outputs, plan.communities, plan.rulebook, inp.departments)
        iso = merge_areas(areas)
    for o in outputs:
        for step, secs in o.timings.items():
            timings[f"partition:{o.key}:{step}"] = secs
    record = {**inp.options, "dask": str(dask), "tile_m": plan.side, "partitions": len(plan.parts)}
    return Result(
        communities=plan.communities,
        facilities=plan.facilities,
        residents=residents,
        gaps=gaps,
        isochrones=iso,
        network=net,
        rulebook=plan.rulebook,
        access=None,
        surveyed=plan.surveyed,
        type_speed=type_speeds(plan.rulebook),
        timings=timings,
        warnings=warnings,
        ledger=ledger,
        within_counts=counts,
        **{**from_inputs(inp), "options": record},
    )


def _plan(inp: Inputs, ref: StoreRef, crs: str, tile_m: float | None) -> CityPlan:
    """The partitions of the city of ``inp`` and its tables in the network's ``crs``."""
    comms_p, facs_p, blds_p = projected(inp, crs)
    opts = inp.run
    m = margins(inp.rulebook, opts.max_minutes, opts.max_attach_m)
    side = tile_m or default_tile_m(m)
    parts = plan_partitions(comms_p, m, district_field=opts.district_field, tile_m=side)
    log.info(
        "%d communities in %d partitions (%s); streets within %.0f m of each partition, "
        "walking areas in tasks of %.0f m",
        len(comms_p),
        len(parts),
        f"by {opts.district_field}" if opts.district_field else f"tiles of {side:.0f} m",
        m.network_m,
        side,
    )
    surveyed = surveyed_types(facs_p, opts.surveyed)
    return CityPlan(ref, parts, comms_p, facs_p, blds_p, inp.rulebook, surveyed, opts, side)


def _place_facilities(client: Any, plan: CityPlan, run: str, progress: bool) -> gpd.GeoDataFrame:
    """The city's facilities with their city-wide status.

    :func:`facility_status`, one task per square tile of :data:`FACILITY_TILE_M`.
    """
    facs_p = plan.facilities
    facility_tiles: dict[tuple[int, int], list[int]] = {}
    if len(facs_p):
        for i, k in enumerate(_tile_keys(facs_p.geometry.representative_point(), FACILITY_TILE_M)):
            facility_tiles.setdefault(k, []).append(i)
    facs_f = client.scatter(facs_p, broadcast=True)
    futures = [
        client.submit(
            facility_status,
            plan.ref,
            facs_f,
            np.asarray(rows, dtype=np.int64),
            plan.options.max_attach_m,
            key=f"circles-facilities-{k[0]}_{k[1]}-{run}",
        )
        for k, rows in sorted(facility_tiles.items())
    ]
    status = _progress(futures, "facilities", progress)
    city = facs_p.copy()
    if status:
        st = pd.concat(status).sort_index()
        for c in STATUS_COLUMNS:
            city[c] = st[c].to_numpy()
    else:
        city["placed"] = np.zeros(0, dtype=bool)
        city["snap_m"] = np.zeros(0)
        city["set_aside_reason"] = pd.Series([], dtype=object)
    city["placed"] = city["placed"].astype(bool)
    city["snap_m"] = city["snap_m"].astype(float)
    return city


def _run_tasks(
    client: Any, plan: CityPlan, run: str, progress: bool
) -> tuple[list[PartitionOutput], list[gpd.GeoDataFrame]]:
    """Run every partition and every chunk of walking areas as a Dask task.

    :func:`run_partition` and :func:`run_areas`; their results in order.
    """
    comms_f = client.scatter(plan.communities, broadcast=True)
    city_f = client.scatter(plan.facilities, broadcast=True)
    rb_f = client.scatter(plan.rulebook, broadcast=True)
    blds_p = plan.buildings
    bpoints = blds_p.geometry.representative_point() if blds_p is not None else None
    futures = []
    for part in plan.parts:
        blds_part = None
        if blds_p is not None and bpoints is not None:
            box = shapely.box(*shapely.total_bounds(plan.communities.geometry.values[part.rows]))
            inside = np.sort(bpoints.sindex.query(box, predicate="intersects"))
            blds_part = client.scatter(blds_p.iloc[inside])
        args = (part, plan.ref, comms_f, city_f, blds_part, rb_f, plan.surveyed, plan.options)
        futures.append(client.submit(run_partition, *args, key=f"circles-partition-{_safe(part.key)}-{run}"))
    chunks = area_tiles(plan.communities, plan.rulebook, plan.side)
    futures += [
        client.submit(run_areas, plan.ref, city_f, tiles, rb_f, plan.options, key=f"circles-areas-{i}-{run}")
        for i, tiles in enumerate(chunks)
    ]
    done = _progress(futures, "partitions", progress)
    return done[: len(plan.parts)], done[len(plan.parts) :]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60] or "_"
