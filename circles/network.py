"""Walking networks as flat arrays for the reach engine: built from OSM files (pyosmium,
:mod:`circles._osmium`), read from OSMnx GraphML or downloaded with OSMnx, and cached.

:func:`read_walk_network` is the entry point: OSM files (``.osm``, ``.osm.bz2``,
``.osm.gz``, ``.xml``, ``.pbf``) become a :class:`WalkNetwork` without NetworkX; GraphML
and online downloads go through OSMnx and :func:`to_walk_network`. :func:`to_networkx`
gives an OSMnx-style graph of any network for NetworkX users.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from pyproj import CRS

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


def save_walk_network(net: WalkNetwork, path: str | Path) -> Path:
    """Write a :class:`WalkNetwork` as one compressed ``.npz`` file (edge vertices as coordinates).

    The file is written under a temporary name in the same folder and then renamed, so a
    reader never sees a half-written file. Loading it back (:func:`load_walk_network`)
    takes a fraction of a second even for 100,000-node networks, unlike GraphML.

    Parameters
    ----------
    net : WalkNetwork
        The network.
    path : str or Path
        Output file (``.npz``).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(
                fh,
                crs=np.array(net.crs),
                node_ids=net.node_ids,
                x=net.x,
                y=net.y,
                u=net.u,
                v=net.v,
                length=net.length,
                coords=shapely.get_coordinates(net.geometry),
                counts=shapely.get_num_points(net.geometry).astype(np.int64),
                source=np.array(net.source),
                format=np.array("circles-walknetwork-2"),
            )
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_walk_network(path: str | Path) -> WalkNetwork:
    """Read a network written by :func:`save_walk_network`.

    Raises
    ------
    InputError
        If the file is missing or not a circles network file.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("network file not found", path=str(p))
    if p.is_dir():
        raise InputError("is a folder, expected a circles network file (.npz)", path=str(p))
    try:
        with np.load(p, allow_pickle=False) as z:
            fmt = str(z["format"])
            if fmt == "circles-walknetwork-2":
                # edge geometries from one coordinate array (faster than parsing WKB)
                counts = z["counts"]
                geometry = shapely.linestrings(z["coords"], indices=np.repeat(np.arange(len(counts)), counts))
            elif fmt == "circles-walknetwork-1":
                with np.load(p, allow_pickle=True) as zw:
                    geometry = shapely.from_wkb(zw["wkb"])
            else:
                raise KeyError("format")
            net = WalkNetwork(
                crs=str(z["crs"]),
                node_ids=z["node_ids"],
                x=z["x"],
                y=z["y"],
                u=z["u"],
                v=z["v"],
                length=z["length"],
                geometry=geometry,
                source=str(z["source"]),
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, shapely.errors.GEOSException) as exc:
        raise InputError(f"not a circles network file ({type(exc).__name__}: {exc})", path=str(p)) from None
    if not (len(net.x) == len(net.y) == len(net.node_ids)) or not (len(net.u) == len(net.v) == len(net.length)):
        raise InputError("not a circles network file (array lengths differ)", path=str(p))
    return net


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
    us, vs, geoms = [], [], []
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

    Built by :func:`circles._osmium.walk_network` (OSMnx's ``walk`` filter and
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
    from . import _osmium

    return to_networkx(_osmium.walk_network(path, retain_all=retain_all, to_crs=to_crs))


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
CACHE_VERSION = "w1"
#: Network file types by the end of their name (lower case).
NETWORK_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".xml", ".xml.bz2", ".xml.gz", ".pbf", ".graphml", ".npz")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=str(path)) from None
    return h.hexdigest()[:20]


def cache_path(path: str | Path, cache_dir: str | Path, *, retain_all: bool = False) -> Path:
    """Where the walking network built from ``path`` is cached in ``cache_dir``.

    The name depends only on the file's content (SHA-256), the builder version and
    ``retain_all``, never on the file's name.
    """
    return Path(cache_dir) / f"walk-{CACHE_VERSION}-{_file_digest(Path(path))}-{'all' if retain_all else 'lcc'}.npz"


def _check_network_file(path: str | Path) -> Path:
    p = Path(path)
    expected = "expected .osm, .osm.bz2, .osm.gz, .xml, .pbf, .graphml or a circles .npz"
    if not p.exists():
        raise InputError("network file not found", path=str(p))
    if p.is_dir():
        raise InputError(f"is a folder, not a network file: {expected}", path=str(p))
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
      :func:`circles._osmium.walk_network` (pyosmium + NumPy; OSMnx's ``walk`` filter and
      simplification; ways cut at nodes missing from the file; largest connected piece
      unless ``retain_all``). With ``cache_dir`` the result is cached there as a circles
      ``.npz`` named after the file's content hash (:func:`cache_path`), written
      atomically; a cache file that does not load is deleted and rebuilt.
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
        return to_walk_network(_load_graphml(p), source=str(p))
    from . import _osmium

    cache = cache_path(p, cache_dir, retain_all=retain_all) if cache_dir is not None else None
    if cache is not None and cache.exists():
        t0 = time.perf_counter()
        try:
            net = load_walk_network(cache)
        except InputError as exc:
            log.warning("cached walking network %s does not load (%s): deleted, rebuilding it", cache, exc)
            cache.unlink(missing_ok=True)
        else:
            log.info("walking network from cache %s in %.2f s", cache, time.perf_counter() - t0)
            net.source = str(p)
            return net
    net = _osmium.walk_network(p, retain_all=retain_all)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_walk_network(net, cache)
            log.info("cached walking network to %s", cache)
        except OSError as exc:  # a read-only or full disk must not stop the analysis
            log.warning("could not cache the walking network in %s (%s)", cache.parent, exc)
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
