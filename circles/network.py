"""Walking networks as flat arrays for the reach engine: built from OSM files (pyosmium,
:mod:`circles._osmium`), read from OSMnx GraphML or downloaded with OSMnx, and cached.

:func:`read_walk_network` is the entry point: OSM files (``.osm``, ``.osm.bz2``,
``.osm.gz``, ``.xml``, ``.pbf``) become a :class:`WalkNetwork` without NetworkX; GraphML
and online downloads go through OSMnx and :func:`to_walk_network`. :func:`to_networkx`
gives an OSMnx-style graph of any network for NetworkX users.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from pyproj import CRS

from . import _osmium
from ._safety import check_regular_file
from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import networkx as nx

# OSMnx, NetworkX and GeoPandas are imported inside the functions that need them: the reach
# engine only needs WalkNetwork, and importing OSMnx costs more than a whole 100,000-node run.

log = logging.getLogger(__name__)


@dataclass
class WalkNetwork:
    """An undirected walking network as arrays (projected CRS, metres).

    Attributes
    ----------
    crs : str
        Projected CRS of the coordinates (WKT or EPSG string).
    node_ids : ndarray of int64
        Original node ids (OSM ids where the source is OSM).
    x, y : ndarray of float64
        Node coordinates.
    u, v : ndarray of int64
        Edge end nodes as indices into the node arrays.
    length : ndarray of float64
        Edge lengths in metres, equal to the geometry lengths.
    geometry : ndarray of shapely.LineString
        Edge geometries from ``u`` to ``v``.
    source : str
        Where the network came from.
    name : ndarray of str, optional
        The street name of each edge (``""`` where the street has none): from the OSM ways'
        ``name`` tags; None when the source gives no names.
    """

    crs: str
    node_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    geometry: np.ndarray
    source: str = ""
    name: np.ndarray | None = None
    #: Derived structures cached by the modules that use them (R-tree of edges, local coordinates).
    cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    @property
    def n_edges(self) -> int:
        return len(self.u)

    def edge_tree(self) -> shapely.STRtree:
        """An R-tree of the edge geometries (built once, cached): attachment, walking areas,
        siting and the input checks query the same one."""
        tree = self.cache.get("edge_tree")
        if tree is None or len(tree) != self.n_edges:
            tree = self.cache["edge_tree"] = shapely.STRtree(self.geometry)
        return tree

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Edges as a GeoDataFrame in the network CRS."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            {"u": self.node_ids[self.u], "v": self.node_ids[self.v], "length": self.length},
            geometry=self.geometry,
            crs=self.crs,
        )

    def nodes_gdf(self) -> gpd.GeoDataFrame:
        """Nodes as a GeoDataFrame in the network CRS."""
        import geopandas as gpd

        return gpd.GeoDataFrame({"node_id": self.node_ids}, geometry=shapely.points(self.x, self.y), crs=self.crs)


#: Version of the circles network file (``.npz``): plain numeric and text arrays, no Python
#: objects. Version 1 stored pickled geometries (a pickle runs code when loaded): refused.
NETWORK_FORMAT = "circles-walknetwork-2"
#: Largest uncompressed content of a circles network file. Reason: a 10-million-node network
#: (several times the largest Chinese city's streets) takes about 2 GB; a larger declared size
#: is a damaged or hostile file, and reading it would exhaust memory. No source: a safety cap.
NPZ_MAX_BYTES = 8 << 30
#: Largest header of one array in a network file (NumPy's own default cap on ``.npy`` headers).
_NPY_MAX_HEADER = 10_000
#: The arrays of a network file, with the kinds of NumPy dtype each may have
#: (i integer, u unsigned, f float, U text) and its number of dimensions.
_NETWORK_ARRAYS: dict[str, tuple[str, int]] = {
    "format": ("U", 0),
    "crs": ("U", 0),
    "source": ("U", 0),
    "node_ids": ("iu", 1),
    "x": ("f", 1),
    "y": ("f", 1),
    "u": ("iu", 1),
    "v": ("iu", 1),
    "length": ("f", 1),
    "coords": ("f", 2),
    "counts": ("iu", 1),
}
#: Optional array of a cache entry: JSON text recording where the network came from.
_PROVENANCE = "provenance"
#: Optional arrays of the street names: the distinct names (text, ``""`` first) and, per edge,
#: the index of its name among them (a name table, not one text per edge: a city's 2 million
#: edges share a few thousand names).
_NAME_ARRAYS = ("street_names", "street_name_index")


def street_arrays(net: WalkNetwork) -> dict[str, np.ndarray]:
    """The network's node and edge arrays by name (``node_ids``, ``x``, ``y``, ``u``, ``v``,
    ``length``): what a network file and the walking-area workers' shared files hold alike."""
    return {"node_ids": net.node_ids, "x": net.x, "y": net.y, "u": net.u, "v": net.v, "length": net.length}


def name_arrays(name: np.ndarray | None) -> dict[str, np.ndarray]:
    """The street names of a network as the arrays of :data:`_NAME_ARRAYS` (none without names)."""
    if name is None:
        return {}
    import pandas as pd

    # names in order of first appearance, "" first (a hash table: 0.4 s for 2 million edges,
    # against 6 s for sorting them)
    index, table = pd.factorize(np.asarray(["", *map(str, name)], dtype=object))
    return {"street_names": np.asarray(table, dtype=str), "street_name_index": index[1:].astype(np.int32)}


def names_from_arrays(arrays: Mapping[str, np.ndarray], n_edges: int, label: str) -> np.ndarray | None:
    """The street name of every edge from the arrays of :data:`_NAME_ARRAYS` (None when absent).

    Raises
    ------
    InputError
        If the name table is not text or an edge's index falls outside it.
    """
    checked = name_table(arrays, n_edges, label)
    return None if checked is None else checked[0][checked[1]]


def name_table(arrays: Mapping[str, np.ndarray], n_edges: int, label: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The checked name table (as objects) and per-edge index of :data:`_NAME_ARRAYS` (None when
    absent): a network store names the edges of each subset from them.

    Raises
    ------
    InputError
        If the name table is not text or an edge's index falls outside it.
    """
    if not all(k in arrays for k in _NAME_ARRAYS):
        return None
    table, index = np.asarray(arrays["street_names"]), np.asarray(arrays["street_name_index"])
    if table.dtype.kind != "U" or table.ndim != 1 or index.dtype.kind not in "iu" or index.shape != (n_edges,):
        raise InputError(
            f"arrays 'street_names' ({table.dtype}, {table.shape}) and 'street_name_index' ({index.dtype}, "
            f"{index.shape}): expected a 1-D text table and one index per edge ({n_edges})",
            path=label,
        )
    _refuse_first(
        (index < 0) | (index >= len(table)),
        label,
        lambda i: f"array 'street_name_index'[{i}] = {index[i]} is outside the {len(table)} street names",
    )
    return table.astype(object), index


def save_walk_network(net: WalkNetwork, path: str | Path, *, provenance: Mapping[str, Any] | None = None) -> Path:
    """Write a :class:`WalkNetwork` as one compressed ``.npz`` file of plain arrays
    (format :data:`NETWORK_FORMAT`: numbers and text only, edge vertices as coordinates).

    The file is written under a temporary name in the same folder and then renamed, so a
    reader never sees a half-written file. Loading it back (:func:`load_walk_network`)
    takes a fraction of a second even for 100,000-node networks, unlike GraphML.

    Parameters
    ----------
    net : WalkNetwork
        The network.
    path : str or Path
        Output file (``.npz``).
    provenance : mapping, optional
        Where the network came from (a cache entry records its source file's SHA-256 and
        size), stored as JSON text.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    arrays = {
        "crs": np.array(net.crs),
        **street_arrays(net),
        "coords": shapely.get_coordinates(net.geometry),
        "counts": shapely.get_num_points(net.geometry).astype(np.int64),
        "source": np.array(net.source),
        "format": np.array(NETWORK_FORMAT),
    }
    arrays.update(name_arrays(net.name))
    if provenance:
        arrays[_PROVENANCE] = np.array(json.dumps(dict(provenance), sort_keys=True))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _read_npy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> np.ndarray:
    """One array of an ``.npz`` without NumPy's loader: the header is read with NumPy's
    header parser, Python objects are refused before any byte of data is read, and the
    data must fill the member exactly."""
    name = info.filename[:-4]
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=_NPY_MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=_NPY_MAX_HEADER)
        else:
            raise ValueError(f"unknown .npy version {version}")
        if dtype.hasobject or dtype.kind not in "biufU" or dtype.fields is not None:
            raise InputError(
                f"array '{name}' holds {dtype} values: a network file holds only numbers and text "
                "(Python objects are never loaded: they could run code)",
                path=label,
            )
        count = math.prod(shape)  # Python integers: a crafted shape cannot overflow
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - fh.tell():
            raise ValueError(
                f"array '{name}' declares {nbytes} bytes of data, the file holds {info.file_size - fh.tell()}"
            )
        arr = np.empty(count, dtype=dtype)
        raw = arr.view(np.uint8) if nbytes else np.zeros(0, dtype=np.uint8)
        done = 0
        while done < nbytes:
            chunk = fh.read(min(nbytes - done, 1 << 24))
            if not chunk:
                raise EOFError(f"array '{name}' is truncated")
            raw[done : done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            done += len(chunk)
    return arr.reshape(shape, order="F" if fortran else "C")


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    """The arrays of a network file, by name (no pickle, sizes checked before reading)."""
    label = str(p)
    with zipfile.ZipFile(p) as zf:
        members = [i for i in zf.infolist() if i.filename.endswith(".npy")]
        total = sum(i.file_size for i in members)
        if total > NPZ_MAX_BYTES:
            raise InputError(
                f"declares {total / 2**30:.1f} GiB of arrays, over the limit of {NPZ_MAX_BYTES / 2**30:.0f} GiB "
                "for a network file (circles.network.NPZ_MAX_BYTES): damaged or not a circles network",
                path=label,
            )
        wanted = {*_NETWORK_ARRAYS, *_NAME_ARRAYS, _PROVENANCE}
        return {i.filename[:-4]: _read_npy_member(zf, i, label) for i in members if i.filename[:-4] in wanted}


def load_walk_network(path: str | Path) -> WalkNetwork:
    """Read a network written by :func:`save_walk_network`, checked (:func:`check_walk_network`).

    No Python object is ever loaded (no pickle): the file holds numbers and text only.

    Raises
    ------
    InputError
        If the file is missing, not a circles network file, of another format version, or
        holds a network that is not valid (the message names the array and the first bad
        index).
    """
    p = Path(path)
    if not p.exists():
        raise InputError("network file not found", path=str(p))
    if p.is_dir():
        raise InputError("is a folder, expected a circles network file (.npz)", path=str(p))
    check_regular_file(p)
    try:
        return _network_from_arrays(_read_npz(p), str(p))
    except InputError:
        raise
    except Exception as exc:  # a foreign or damaged file can fail in many ways inside zipfile and NumPy
        raise InputError(f"not a circles network file ({type(exc).__name__}: {_short(exc)})", path=str(p)) from None


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _network_from_arrays(arrays: Mapping[str, np.ndarray], label: str) -> WalkNetwork:
    fmt = str(arrays["format"]) if "format" in arrays and arrays["format"].dtype.kind == "U" else None
    if fmt is None:
        raise InputError("not a circles network file (no 'format' array)", path=label)
    if fmt != NETWORK_FORMAT:
        raise InputError(
            f"a circles network file of format '{_short(ValueError(fmt), 60)}', this circles reads "
            f"'{NETWORK_FORMAT}' only (older files stored Python objects, which could run code): rebuild it "
            "from its OSM or GraphML file (circles.network.read_walk_network, then save_walk_network), "
            "or pass that file as --network",
            path=label,
        )
    for name, (kinds, ndim) in _NETWORK_ARRAYS.items():
        if name not in arrays:
            raise InputError(f"not a circles network file: array '{name}' is missing", path=label)
        arr = arrays[name]
        if arr.dtype.kind not in kinds or arr.ndim != ndim or (name == "coords" and arr.shape[1:] != (2,)):
            shape = "a scalar" if ndim == 0 else ("an (n, 2) table" if name == "coords" else "a 1-D array")
            raise InputError(
                f"array '{name}' is {arr.dtype} of shape {arr.shape}: expected {shape} of kind {kinds}",
                path=label,
            )
    check_named_arrays(label, str(arrays["crs"]), arrays, arrays["counts"])
    counts = arrays["counts"].astype(np.int64)
    geometry = shapely.linestrings(arrays["coords"], indices=np.repeat(np.arange(len(counts)), counts))
    net = WalkNetwork(
        crs=str(arrays["crs"]),
        node_ids=arrays["node_ids"].astype(np.int64),
        x=arrays["x"].astype(float),
        y=arrays["y"].astype(float),
        u=arrays["u"].astype(np.int64),
        v=arrays["v"].astype(np.int64),
        length=arrays["length"].astype(float),
        geometry=np.asarray(geometry, dtype=object),
        source=str(arrays["source"]),
        name=names_from_arrays(arrays, len(counts), label),
    )
    _check_lengths(net, label)
    if _PROVENANCE in arrays:
        net.cache[_PROVENANCE] = str(arrays[_PROVENANCE])
    return net


# ------------------------------------------------------------------ validation
#: Tolerance of an edge length against its geometry's length: relative, and absolute in metres
#: (float rounding of lengths computed on other machines). No source: a numerical tolerance.
_LENGTH_RTOL = 1e-6
_LENGTH_ATOL_M = 1e-3
#: Margin around a projected CRS's area of use within which coordinates are accepted, in metres
#: (networks may run past a UTM zone's edge). No source: generous by design.
_CRS_MARGIN_M = 1_000_000.0
#: Bound on projected coordinates when the CRS states no area of use: Earth's circumference (m).
_EARTH_CIRCUMFERENCE_M = 40_075_017.0


def _refuse_first(bad: np.ndarray, label: str, message: Callable[[int], str]) -> None:
    """Raise ``InputError(message(i), path=label)`` for the first index ``i`` where ``bad`` holds."""
    if bad.any():
        raise InputError(message(int(np.flatnonzero(bad)[0])), path=label)


def _crs_bounds(crs: CRS) -> tuple[float, float, float, float]:
    """Accepted extent of coordinates in ``crs``: its area of use, widened by a margin."""
    big = _EARTH_CIRCUMFERENCE_M
    aou = crs.area_of_use
    if aou is None:
        return (-big, -big, big, big)
    from pyproj import Transformer

    try:
        x0, y0, x1, y1 = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform_bounds(*aou.bounds)
    except Exception:  # noqa: BLE001 - pyproj raises several kinds: fall back to the plain bound
        return (-big, -big, big, big)
    if not all(np.isfinite([x0, y0, x1, y1])):
        return (-big, -big, big, big)
    m = _CRS_MARGIN_M
    return (x0 - m, y0 - m, x1 + m, y1 + m)


def _check_finite(label: str, name: str, what: str, axis: str, vals: np.ndarray) -> None:
    """Every coordinate of one axis is finite."""
    _refuse_first(
        ~np.isfinite(vals),
        label,
        lambda i: f"array '{name}', {what} {i}: {axis} is {vals[i]}, expected a finite coordinate",
    )


def _check_ends(label: str, name: str, ends: np.ndarray, n_nodes: int) -> None:
    """Every edge end (``u`` or ``v``) is a node index."""
    _refuse_first(
        (ends < 0) | (ends >= n_nodes),
        label,
        lambda i: (
            f"array '{name}', edge {i}: node index {int(ends[i])} is out of range (the network has {n_nodes} nodes)"
        ),
    )


def _check_coordinates(label: str, name: str, what: str, xs: np.ndarray, ys: np.ndarray, crs: CRS) -> None:
    _check_finite(label, name, what, "x", xs)
    _check_finite(label, name, what, "y", ys)
    x0, y0, x1, y1 = _crs_bounds(crs)
    _refuse_first(
        (xs < x0) | (xs > x1) | (ys < y0) | (ys > y1),
        label,
        lambda i: (
            f"array '{name}', {what} {i}: ({xs[i]:.6g}, {ys[i]:.6g}) is outside the area of {crs.name} "
            f"(x {x0:.0f}..{x1:.0f}, y {y0:.0f}..{y1:.0f}, with a {_CRS_MARGIN_M / 1000:.0f} km margin)"
        ),
    )


def check_arrays(  # noqa: PLR0913 — every array of a network file, by name, checked together
    label: str,
    *,
    crs: str,
    node_ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    length: np.ndarray,
    coords: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Check the arrays of a walking network read from a file (``label`` names it).

    Raises
    ------
    InputError
        One line naming the file, the array and the first bad index: array sizes that
        differ, a CRS that is not projected, coordinates not finite or outside the CRS's
        area, edge ends out of range, lengths not finite or negative, geometries of fewer
        than two vertices or a vertex count that does not add up.
    """
    try:
        parsed = CRS.from_user_input(crs)
    except Exception:  # noqa: BLE001 - pyproj's CRSError and others
        raise InputError(
            f"array 'crs': not a coordinate reference system ({_short(ValueError(crs), 80)})", path=label
        ) from None
    if not parsed.is_projected:
        raise InputError(f"array 'crs': {parsed.name} is not a projected CRS (metres)", path=label)
    n_nodes, n_edges = len(node_ids), len(u)
    for name, arr, n, what in (
        ("x", x, n_nodes, "node_ids"),
        ("y", y, n_nodes, "node_ids"),
        ("v", v, n_edges, "u"),
        ("length", length, n_edges, "u"),
        ("counts", counts, n_edges, "u"),
    ):
        if len(arr) != n:
            raise InputError(f"array '{name}' has {len(arr)} entries, array '{what}' {n}: they must match", path=label)
    if n_edges == 0:
        raise InputError("the network has no edge: no walkable street", path=label)
    _check_coordinates(label, "x/y", "node", x, y, parsed)
    _check_ends(label, "u", u, n_nodes)
    _check_ends(label, "v", v, n_nodes)
    _refuse_first(
        ~np.isfinite(length) | (length < 0),
        label,
        lambda i: f"array 'length', edge {i}: {length[i]} is not a length, expected a finite number of metres >= 0",
    )
    _refuse_first(
        (counts < 2) | (counts > len(coords)),
        label,
        lambda i: (
            f"array 'counts', edge {i}: {int(counts[i])} vertices, expected from 2 to the {len(coords)} of 'coords'"
        ),
    )
    total = int(counts.astype(np.int64).sum())  # each at most len(coords): no overflow
    if total != len(coords):
        raise InputError(
            f"array 'counts' adds up to {total} vertices, array 'coords' holds {len(coords)}: they must match",
            path=label,
        )
    _check_coordinates(label, "coords", "vertex", coords[:, 0], coords[:, 1], parsed)


def _check_lengths(net: WalkNetwork, label: str) -> None:
    """Each edge length must be its geometry's length (the reach engine walks the lengths,
    attachment walks the geometry)."""
    geom_length = shapely.length(net.geometry)
    _refuse_first(
        ~(np.abs(net.length - geom_length) <= _LENGTH_ATOL_M + _LENGTH_RTOL * geom_length),
        label,
        lambda i: (
            f"array 'length', edge {i}: {net.length[i]:.6g} m, but its line is {geom_length[i]:.6g} m long: "
            "the lengths must be those of the lines"
        ),
    )


def check_named_arrays(label: str, crs: str, arrays: Mapping[str, Any], counts: np.ndarray) -> None:
    """:func:`check_arrays` on arrays stored by name (``node_ids``, ``x``, ``y``, ``u``, ``v``,
    ``length``, ``coords``: a network file's or a network store's), with the vertex ``counts``."""
    check_arrays(
        label,
        crs=crs,
        node_ids=arrays["node_ids"],
        x=arrays["x"],
        y=arrays["y"],
        u=arrays["u"],
        v=arrays["v"],
        length=arrays["length"],
        coords=arrays["coords"],
        counts=counts,
    )


def check_walk_network(net: WalkNetwork, label: str) -> None:
    """Check a walking network read from a file (see :func:`check_arrays`), and that every
    edge length is its line's length."""
    if len(net.geometry) != len(net.u):
        raise InputError(
            f"array 'geometry' has {len(net.geometry)} entries, array 'u' {len(net.u)}: they must match", path=label
        )
    check_arrays(
        label,
        crs=net.crs,
        node_ids=np.asarray(net.node_ids),
        x=np.asarray(net.x, dtype=float),
        y=np.asarray(net.y, dtype=float),
        u=np.asarray(net.u),
        v=np.asarray(net.v),
        length=np.asarray(net.length, dtype=float),
        coords=shapely.get_coordinates(net.geometry),
        counts=shapely.get_num_points(net.geometry),
    )
    _check_lengths(net, label)


def to_walk_network(G: nx.MultiDiGraph, source: str = "") -> WalkNetwork:
    """Flatten a projected OSMnx graph into a :class:`WalkNetwork`.

    Reciprocal directed edges are merged (walking is two-way); parallel edges with
    different geometries are kept; self-loops are dropped (they never shorten a path).
    """
    if not G.graph.get("crs") or CRS.from_user_input(G.graph["crs"]).is_geographic:
        raise InputError("the graph must be projected (metres): use osmnx.project_graph first")
    node_ids = np.fromiter(G.nodes, dtype=np.int64, count=G.number_of_nodes())
    index = {n: i for i, n in enumerate(node_ids.tolist())}
    x = np.array([G.nodes[n]["x"] for n in node_ids.tolist()], dtype=float)
    y = np.array([G.nodes[n]["y"] for n in node_ids.tolist()], dtype=float)
    us, vs, geoms, names = [], [], [], []
    seen: set[tuple] = set()
    for a, b, data in G.edges(data=True):
        if a == b:
            continue
        geom = data.get("geometry")
        if geom is None:
            geom = shapely.LineString([(G.nodes[a]["x"], G.nodes[a]["y"]), (G.nodes[b]["x"], G.nodes[b]["y"])])
        ia, ib = index[a], index[b]
        if ia > ib:
            ia, ib, geom = ib, ia, geom.reverse()
        key = (ia, ib, round(geom.length, 2))
        if key in seen:
            continue
        seen.add(key)
        us.append(ia)
        vs.append(ib)
        geoms.append(geom)
        name = data.get("name", "")  # OSMnx joins the names of merged ways into a list: the first
        name = name[0] if isinstance(name, list) and name else name
        names.append(name if isinstance(name, str) else "")
    geometry = np.array(geoms, dtype=object)
    length = shapely.length(geometry) if len(geoms) else np.zeros(0)
    return WalkNetwork(
        crs=str(G.graph["crs"]),
        node_ids=node_ids,
        x=x,
        y=y,
        u=np.asarray(us, dtype=np.int64),
        v=np.asarray(vs, dtype=np.int64),
        length=np.asarray(length, dtype=float),
        geometry=geometry,
        source=source,
        name=np.array(names, dtype=object),
    )


def osm_walk_network(path: str | Path, *, retain_all: bool = False, to_crs: Any = None) -> WalkNetwork:
    """The walking network of an OSM file (``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml``,
    ``.pbf``), without cache: the arrays of :func:`circles._osmium.walk_arrays` (OSMnx's
    ``walk`` filter and simplification, largest connected piece unless ``retain_all``,
    projected to ``to_crs`` or the data's UTM zone), their lines and lengths.

    Raises
    ------
    InputError
        If the file is missing, unreadable, over a limit or holds no walkable way.
    """
    a = _osmium.walk_arrays(path, retain_all=retain_all, to_crs=to_crs)
    geometry = shapely.linestrings(a.coords, indices=np.repeat(np.arange(len(a.counts)), a.counts))
    return WalkNetwork(
        crs=a.crs,
        node_ids=a.node_ids,
        x=a.x,
        y=a.y,
        u=a.u,
        v=a.v,
        length=shapely.length(geometry),
        geometry=geometry,
        source=a.source,
        name=a.name,
    )


def to_networkx(net: WalkNetwork) -> nx.MultiDiGraph:
    """An OSMnx-style projected ``MultiDiGraph`` of a :class:`WalkNetwork`.

    Every street edge appears in both directions with its ``length`` and ``geometry``; the
    graph carries the network's ``crs`` and is marked simplified, so OSMnx functions
    (``project_graph``, ``graph_to_gdfs``, ``nearest_nodes`` …) accept it.
    """
    import networkx as nx

    G = nx.MultiDiGraph(crs=net.crs, simplified=True)
    ids = net.node_ids.tolist()
    G.add_nodes_from(
        (n, {"x": x, "y": y, "osmid": n}) for n, x, y in zip(ids, net.x.tolist(), net.y.tolist(), strict=True)
    )
    for a, b, length, geom in zip(net.u.tolist(), net.v.tolist(), net.length.tolist(), net.geometry, strict=True):
        G.add_edge(ids[a], ids[b], length=length, geometry=geom)
        G.add_edge(ids[b], ids[a], length=length, geometry=geom.reverse())
    return G


def _finish(G: nx.MultiDiGraph, to_crs: str | None) -> nx.MultiDiGraph:
    import osmnx as ox

    if G.number_of_nodes() == 0:
        raise InputError("the walking network is empty: no walkable street in the input")
    return ox.project_graph(G, to_crs=to_crs)


def graph_from_osm(path: str | Path, *, retain_all: bool = False, to_crs: str | None = None) -> nx.MultiDiGraph:
    """Projected walking graph (NetworkX) from an OSM file: ``.osm``, ``.osm.bz2``, ``.osm.gz``,
    ``.xml`` or ``.pbf``.

    Built by :func:`osm_walk_network` (OSMnx's ``walk`` filter and
    simplification, ways cut at nodes missing from the file) and handed over by
    :func:`to_networkx`.

    Parameters
    ----------
    path : str or Path
        The OSM file.
    retain_all : bool
        Keep every connected piece; by default only the largest (residents snapped onto a
        disconnected fragment would otherwise look cut off from everything).
    to_crs : str, optional
        Projected CRS; by default the UTM zone of the data.
    """
    return to_networkx(osm_walk_network(path, retain_all=retain_all, to_crs=to_crs))


def graph_from_osm_xml(path: str | Path, *, retain_all: bool = False, to_crs: str | None = None) -> nx.MultiDiGraph:
    """Same as :func:`graph_from_osm` (kept for existing callers)."""
    return graph_from_osm(path, retain_all=retain_all, to_crs=to_crs)


def graph_from_pbf(path: str | Path, *, retain_all: bool = False, to_crs: str | None = None) -> nx.MultiDiGraph:
    """Same as :func:`graph_from_osm` (kept for existing callers; PBF no longer needs pyrosm)."""
    return graph_from_osm(path, retain_all=retain_all, to_crs=to_crs)


def graph_from_polygon_online(polygon, *, buffer_m: float = 1200.0, to_crs: str | None = None) -> nx.MultiDiGraph:
    """Download the walking graph around ``polygon`` (EPSG:4326) with OSMnx. Needs internet.

    ``buffer_m`` should be at least the longest threshold distance, so that facilities just
    outside the study area count.
    """
    import geopandas as gpd
    import osmnx as ox

    poly = gpd.GeoSeries([polygon], crs="EPSG:4326")
    buffered = poly.to_crs(poly.estimate_utm_crs()).buffer(buffer_m).to_crs("EPSG:4326").iloc[0]
    G = ox.graph_from_polygon(buffered, network_type="walk", simplify=True, retain_all=False)
    return _finish(G, to_crs)


def graph_from_place_online(place: str, *, buffer_m: float = 1200.0, to_crs: str | None = None) -> nx.MultiDiGraph:
    """Download the walking graph of a named place (geocoded by OSMnx), buffered. Needs internet."""
    import osmnx as ox

    area = ox.geocode_to_gdf(place)
    return graph_from_polygon_online(area.union_all(), buffer_m=buffer_m, to_crs=to_crs)


#: Version of the network builder, part of the cache file name: a new builder ignores old caches.
#: ``w2``: entries record their source file's SHA-256 and size (``w1`` entries are never read);
#: ``w3``: entries hold the street names.
CACHE_VERSION = "w3"
#: Network file types by the end of their name (lower case).
NETWORK_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".xml", ".xml.bz2", ".xml.gz", ".pbf", ".graphml", ".npz")


#: SHA-256 of files already hashed in this process, by (path, size, modification time): the
#: size and time are the fast pre-check, a file that changed is hashed again.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of a file."""
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key in _DIGESTS:
            return _DIGESTS[key], st.st_size
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
                size += len(block)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=str(path)) from None
    if size == st.st_size:
        _DIGESTS[key] = h.hexdigest()
    return h.hexdigest(), size


def _cache_name(digest: str, retain_all: bool) -> str:
    return f"walk-{CACHE_VERSION}-{digest[:20]}-{'all' if retain_all else 'lcc'}.npz"


def cache_path(path: str | Path, cache_dir: str | Path, *, retain_all: bool = False) -> Path:
    """Where the walking network built from ``path`` is cached in ``cache_dir``.

    The name depends only on the file's content (SHA-256), the builder version and
    ``retain_all``, never on the file's name.
    """
    return Path(cache_dir) / _cache_name(_file_digest(Path(path))[0], retain_all)


def _provenance(digest: str, size: int, retain_all: bool) -> dict[str, Any]:
    """What a cache entry records about its source: checked on every read."""
    return {"builder": CACHE_VERSION, "source_sha256": digest, "source_size": size, "retain_all": retain_all}


def _from_cache(cache: Path, expected: Mapping[str, Any]) -> WalkNetwork | None:
    """The cached network if the entry loads, passes the checks and was built from the same
    file (SHA-256 and size) by this builder; otherwise the entry is removed (with a warning)
    and None returned. The user's OSM file is never blamed for a bad entry."""
    if not (cache.exists() or cache.is_symlink()):
        return None
    t0 = time.perf_counter()
    try:
        if not cache.is_file():
            raise InputError("not a regular file", path=str(cache))
        net = load_walk_network(cache)
        try:
            recorded = json.loads(net.cache.get(_PROVENANCE, "null"))
        except ValueError:
            recorded = None
        if recorded != dict(expected):
            raise InputError(
                "it does not record being built from this file by this version of circles", path=str(cache)
            )
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with a cache entry, it is rebuilt
        log.warning("cached walking network does not load or is not usable (%s): removed, building it again", exc)
        _remove_entry(cache)
        return None
    log.info("walking network from cache %s in %.2f s", cache, time.perf_counter() - t0)
    net.cache.pop(_PROVENANCE, None)
    return net


def _remove_entry(cache: Path) -> None:
    try:
        if cache.is_symlink() or not cache.is_dir():
            cache.unlink(missing_ok=True)
        else:
            log.warning("%s is a folder where a cache file belongs: the network will not be cached", cache)
    except OSError as exc:
        log.warning("could not remove %s (%s): the network will not be cached", cache, exc.strerror or exc)


def _to_cache(net: WalkNetwork, cache: Path, provenance: Mapping[str, Any]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_walk_network(net, cache, provenance=provenance)
        log.info("cached walking network to %s", cache)
    except OSError as exc:  # a read-only or full disk must not stop the analysis
        log.warning("could not cache the walking network in %s (%s)", cache.parent, exc)


def _check_network_file(path: str | Path) -> Path:
    p = Path(path)
    expected = "expected .osm, .osm.bz2, .osm.gz, .xml, .pbf, .graphml or a circles .npz"
    if not p.exists():
        raise InputError("network file not found", path=str(p))
    if p.is_dir():
        raise InputError(f"is a folder, not a network file: {expected}", path=str(p))
    check_regular_file(p)  # a FIFO or device would block the reader
    if not p.name.lower().endswith(NETWORK_SUFFIXES):
        raise InputError(f"unknown network file type: {expected}", path=str(p))
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=str(p)) from None
    if size == 0:
        raise InputError("the file is empty", path=str(p))
    return p


def _load_graphml(p: Path) -> nx.MultiDiGraph:
    """An OSMnx GraphML file, projected; InputError if OSMnx did not write it."""
    import osmnx as ox

    try:
        G = ox.load_graphml(p)
        crs = CRS.from_user_input(G.graph["crs"])
        if G.number_of_nodes() and not all("x" in d and "y" in d for _, d in G.nodes(data=True)):
            raise KeyError("node x/y")
    except Exception as exc:  # OSMnx and NetworkX raise many kinds of errors on foreign files
        raise InputError(
            f"not a GraphML file written by OSMnx ({type(exc).__name__}: {exc}); expected a graph with a 'crs' "
            "and nodes with 'x' and 'y' (osmnx.save_graphml)",
            path=str(p),
        ) from None
    if G.number_of_edges() == 0:
        raise InputError("the GraphML graph has no edge: no walkable street", path=str(p))
    return G if not crs.is_geographic else _finish(G, None)


def read_walk_network(
    path: str | Path, *, cache_dir: str | Path | None = None, retain_all: bool = False
) -> WalkNetwork:
    """A :class:`WalkNetwork` from a file, by its extension.

    * ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml``, ``.pbf``: built by
      :func:`osm_walk_network` (pyosmium + NumPy; OSMnx's ``walk`` filter and
      simplification; ways cut at nodes missing from the file; largest connected piece
      unless ``retain_all``). With ``cache_dir`` the result is cached there as a circles
      ``.npz`` named after the file's content hash (:func:`cache_path`), written
      atomically, recording the file's SHA-256 and size; an entry that does not load,
      fails the checks or records another source is removed and rebuilt.
    * ``.graphml``: an OSMnx graph (``osmnx.save_graphml``), flattened.
    * ``.npz``: a network written by :func:`save_walk_network`.

    Raises
    ------
    InputError
        If the file is missing, a folder, empty, unreadable, of an unknown type, a GraphML
        OSMnx did not write, or an OSM file without a walkable street.
    """
    p = _check_network_file(path)
    name = p.name.lower()
    if name.endswith(".npz"):
        return load_walk_network(p)
    if name.endswith(".graphml"):
        net = to_walk_network(_load_graphml(p), source=str(p))
        check_walk_network(net, str(p))
        return net
    if cache_dir is None:
        return osm_walk_network(p, retain_all=retain_all)
    digest, size = _file_digest(p)
    cache = Path(cache_dir) / _cache_name(digest, retain_all)
    provenance = _provenance(digest, size, retain_all)
    cached = _from_cache(cache, provenance)
    if cached is not None:
        cached.source = str(p)
        return cached
    net = osm_walk_network(p, retain_all=retain_all)
    _to_cache(net, cache, provenance)
    return net


def load_network(path: str | Path, *, cache_dir: str | Path | None = None, retain_all: bool = False) -> nx.MultiDiGraph:
    """Projected walking graph (NetworkX, OSMnx-style) from any file :func:`read_walk_network` reads.

    ``.graphml`` files are returned as OSMnx loads them; everything else is
    :func:`read_walk_network` (with its cache) handed over by :func:`to_networkx`.
    """
    p = _check_network_file(path)
    if p.name.lower().endswith(".graphml"):
        return _load_graphml(p)
    return to_networkx(read_walk_network(p, cache_dir=cache_dir, retain_all=retain_all))
