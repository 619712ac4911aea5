"""Walking networks: build a projected walking graph from OSM files (or online), cache it,
and expose it as flat arrays for the reach engine.

Every source returns the same thing: an OSMnx-style projected ``networkx.MultiDiGraph``
(metres), which :func:`to_walk_network` turns into a :class:`WalkNetwork` of arrays.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
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
    """Write a :class:`WalkNetwork` as one compressed ``.npz`` file (geometries as WKB).

    Loading it back (:func:`load_walk_network`) takes a fraction of a second even for
    100,000-node networks, unlike GraphML.
    """
    path = Path(path)
    np.savez_compressed(
        path,
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
    return path


def load_walk_network(path: str | Path) -> WalkNetwork:
    """Read a network written by :func:`save_walk_network`."""
    p = Path(path)
    if not p.exists():
        raise InputError("network file not found", path=str(p))
    try:
        z = np.load(p, allow_pickle=False)
        fmt = str(z["format"])
        if fmt == "circles-walknetwork-2":
            # edge geometries from one coordinate array (faster than parsing WKB)
            counts = z["counts"]
            geometry = shapely.linestrings(z["coords"], indices=np.repeat(np.arange(len(counts)), counts))
        elif fmt == "circles-walknetwork-1":
            geometry = shapely.from_wkb(np.load(p, allow_pickle=True)["wkb"])
        else:
            raise KeyError("format")
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"not a circles network file ({exc})", path=str(p)) from None
    return WalkNetwork(
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


def _finish(G: nx.MultiDiGraph, to_crs: str | None) -> nx.MultiDiGraph:
    import osmnx as ox

    if G.number_of_nodes() == 0:
        raise InputError("the walking network is empty: no walkable street in the input")
    return ox.project_graph(G, to_crs=to_crs)


def graph_from_osm_xml(path: str | Path, *, retain_all: bool = False, to_crs: str | None = None) -> nx.MultiDiGraph:
    """Projected walking graph from an OSM XML file (``.osm``, ``.osm.bz2``, ``.osm.gz``).

    The file is filtered to walkable ``highway`` ways first (OSMnx's ``walk`` filter) and
    ways are trimmed to the nodes present, so clipped extracts load.

    Parameters
    ----------
    path : str or Path
        The OSM XML file.
    retain_all : bool
        Keep every connected piece; by default only the largest (residents snapped onto a
        disconnected fragment would otherwise look cut off from everything).
    to_crs : str, optional
        Projected CRS; by default the UTM zone of the data.
    """
    import osmnx as ox

    from . import _osm as osm

    t0 = time.perf_counter()
    data = osm.read_osm(path)
    with tempfile.TemporaryDirectory() as tmp:
        walk_path = Path(tmp) / "walk.osm"
        n_ways = osm.write_walk_xml(data, walk_path)
        if n_ways == 0:
            raise InputError("no walkable highway ways in this OSM file", path=str(path))
        G = ox.graph_from_xml(walk_path, bidirectional=True, simplify=True, retain_all=retain_all)
    G = _finish(G, to_crs)
    log.info(
        "walking network from %s: %d nodes, %d edges (%d walkable ways) in %.2f s",
        path,
        G.number_of_nodes(),
        G.number_of_edges(),
        n_ways,
        time.perf_counter() - t0,
    )
    return G


def graph_from_pbf(
    path: str | Path, *, retain_all: bool = False, to_crs: str | None = None, bounding_box: list[float] | None = None
) -> nx.MultiDiGraph:
    """Projected walking graph from an OSM PBF file (via pyrosm, an optional dependency).

    Ways are trimmed to the nodes present in the file (clipped extracts load).
    """
    import networkx as nx
    import osmnx as ox

    try:
        import pyrosm
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise InputError("reading PBF needs pyrosm: pip install 'circles[pbf]'", path=str(path)) from None
    if not Path(path).exists():
        raise InputError("file not found", path=str(path))
    t0 = time.perf_counter()
    reader = pyrosm.OSM(str(path), bounding_box=bounding_box)
    nodes, edges = reader.get_network(network_type="walking", nodes=True)
    if edges is None or len(edges) == 0:
        raise InputError("no walkable ways in this PBF file", path=str(path))
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for nid, lon, lat in zip(nodes["id"].to_numpy(), nodes["lon"].to_numpy(), nodes["lat"].to_numpy(), strict=True):
        G.add_node(int(nid), x=float(lon), y=float(lat))
    present = set(G.nodes)
    for a, b, oid, hw in zip(
        edges["u"].to_numpy(), edges["v"].to_numpy(), edges["id"].to_numpy(), edges["highway"].to_numpy(), strict=True
    ):
        a, b = int(a), int(b)
        if a in present and b in present and a != b:
            G.add_edge(a, b, osmid=int(oid), highway=hw)
            G.add_edge(b, a, osmid=int(oid), highway=hw)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    G = ox.distance.add_edge_lengths(G)
    G = ox.simplify_graph(G)
    if not retain_all:
        G = ox.truncate.largest_component(G)
    G = _finish(G, to_crs)
    log.info(
        "walking network from %s: %d nodes, %d edges in %.2f s",
        path,
        G.number_of_nodes(),
        G.number_of_edges(),
        time.perf_counter() - t0,
    )
    return G


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


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def load_network(path: str | Path, *, cache_dir: str | Path | None = None, retain_all: bool = False) -> nx.MultiDiGraph:
    """Projected walking graph from a file, by its extension, with a GraphML cache.

    Accepts ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml``, ``.pbf`` and ``.graphml`` (an
    already-built OSMnx graph). With ``cache_dir`` the built graph is written there as
    GraphML, keyed by the source file's content hash, and reused on the next call.
    """
    import osmnx as ox

    p = Path(path)
    if not p.exists():
        raise InputError("network file not found", path=str(p))
    name = p.name.lower()
    if name.endswith(".graphml"):
        G = ox.load_graphml(p)
        return G if not CRS.from_user_input(G.graph["crs"]).is_geographic else _finish(G, None)
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"{p.name}.{_file_digest(p)}.{'all' if retain_all else 'lcc'}.graphml"
        if cache.exists():
            t0 = time.perf_counter()
            G = ox.load_graphml(cache)
            log.info("walking network from cache %s in %.2f s", cache, time.perf_counter() - t0)
            return G
    if name.endswith(".pbf"):
        G = graph_from_pbf(p, retain_all=retain_all)
    elif name.endswith((".osm", ".osm.bz2", ".osm.gz", ".xml", ".xml.bz2", ".xml.gz")):
        G = graph_from_osm_xml(p, retain_all=retain_all)
    else:
        raise InputError(
            "unknown network format: expected .osm, .osm.bz2, .osm.gz, .pbf, .graphml or .npz", path=str(p)
        )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        ox.save_graphml(G, cache)
        log.info("cached walking network to %s", cache)
    return G


def read_walk_network(
    path: str | Path, *, cache_dir: str | Path | None = None, retain_all: bool = False
) -> WalkNetwork:
    """A :class:`WalkNetwork` from any supported file: ``.npz`` (see :func:`save_walk_network`)
    directly, everything else through :func:`load_network`."""
    if str(path).lower().endswith(".npz"):
        return load_walk_network(path)
    return to_walk_network(load_network(path, cache_dir=cache_dir, retain_all=retain_all), source=str(path))
