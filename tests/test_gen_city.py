"""The synthetic city of the city-scale benchmark (``bench/gen_city.py``), read by circles.

A tiny city (~1,500 junctions, 4 communities, every facility type) is generated and
analysed once; the checks are what would make the benchmark measure the wrong thing: the
OSM file does not read or reads with non-walkable ways, a facility type is missing, the
far facilities are not set aside, a community is missing from the gap report, or the
same seed gives different files.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import geopandas as gpd
import pytest

from circles import export, pipeline
from circles.rulebook import load_facility_types

GEN_CITY = Path(__file__).resolve().parents[1] / "bench" / "gen_city.py"
SEED = 7


@pytest.fixture(scope="module")
def gen_city():
    spec = importlib.util.spec_from_file_location("gen_city", GEN_CITY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_city"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def city(gen_city, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("city")
    gen_city.generate_city(out, seed=SEED, preset="tiny", **gen_city.PRESETS["tiny"])
    return out, json.loads((out / "city.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def result(city) -> pipeline.Result:
    out, _ = city
    return pipeline.analyse(
        out / "communities.geojson", out / "facilities.geojson", out / "network.osm.bz2", progress=False
    )


def test_network_reads_and_drops_non_walkable_ways(city, result):
    _, meta = city
    net = result.network
    # the generator's count of junctions after simplification is what circles builds
    assert abs(net.n_nodes - meta["junctions"]) <= 0.01 * meta["junctions"]
    assert meta["intermediate_nodes"] > 0 and meta["osm_nodes"] > 1.5 * meta["junctions"]
    # nodes only motorway / foot=no / access=private ways make junctions are not in the network
    assert meta["nonwalk_junction_ids"]
    assert not set(meta["nonwalk_junction_ids"]) & set(net.node_ids.tolist())


def test_every_facility_type_appears(city, result):
    _, meta = city
    types = list(load_facility_types())
    assert meta["facility_types"] == types
    counts = result.facilities["facility_type"].value_counts()
    assert set(counts.index) == set(types)
    assert (counts == meta["per_type"]).all()
    assert meta["area_facilities"] > 0
    assert (result.facilities.geom_type == "Polygon").sum() == meta["area_facilities"]


def test_far_facilities_are_set_aside(city, result):
    _, meta = city
    far = set(meta["far_facility_ids"])
    assert len(far) >= len(meta["facility_types"])
    table = export.facilities_table(result.facilities).set_index("id")
    assert set(table.index[table["status"] == "set_aside"]) == far
    assert (table.loc[sorted(far), "set_aside_reason"].astype(str).str.len() > 0).all()


def test_every_community_is_in_the_gap_report(city, result):
    out, meta = city
    comms = gpd.read_file(out / "communities.geojson")
    assert len(comms) == meta["communities"]
    assert {"id", "name", "population", "households", "population_estimated", "street"} <= set(comms.columns)
    assert comms["name"].str.contains("社区-").all() and comms["street"].str.endswith("街道").all()
    per_community = result.gaps.groupby("community_id").size()
    assert set(per_community.index) == set(comms["id"])
    assert per_community.nunique() == 1  # every community × every rule


def test_same_seed_gives_identical_files(gen_city, city, tmp_path):
    out, meta = city
    gen_city.generate_city(tmp_path, seed=SEED, preset="tiny", **gen_city.PRESETS["tiny"])
    for name in meta["files"] + ["city.json"]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    head = (out / "network.osm.bz2").read_bytes()[:3]
    assert head == b"BZh"


def test_batch_writes_cities_yaml_with_separate_places(gen_city, tmp_path):
    import yaml

    path = gen_city.generate_batch(tmp_path, 2, nodes=1_500, communities=4, per_type=3)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert cfg["defaults"] == {"district_field": "street", "no_figures": True}
    assert [c["name"] for c in cfg["cities"]] == ["city_01", "city_02"]
    bounds = []
    for c in cfg["cities"]:
        for key in ("boundaries", "facilities", "network"):
            assert (tmp_path / c[key]).exists()
        meta = json.loads((tmp_path / c["name"] / "city.json").read_text(encoding="utf-8"))
        bounds.append(meta["bounds"])
        ids = gpd.read_file(tmp_path / c["boundaries"])["id"]
        assert ids.str.startswith(c["name"] + "-").all()
    (a0, b0, a1, b1), (c0, d0, c1, d1) = bounds
    assert a1 < c0 or c1 < a0 or b1 < d0 or d1 < b0  # the two cities do not overlap
