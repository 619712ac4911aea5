"""``circles extract``: communities, residential buildings and facilities from any OSM file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import pytest
from helpers import ANDORRA, CLIP_LON, WEST_OAKLAND, clip_osm, to_osm_xml

from circles import cli, demo, load
from circles.errors import InputError
from circles.extract import extract, read_osm_layers
from circles.rulebook import load_facility_types

SMALL = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
 <node id="1" lat="40.0000000" lon="116.3500000"><tag k="amenity" v="pharmacy"/><tag k="name" v="同仁堂"/></node>
 <node id="2" lat="40.0010000" lon="116.3500000"/>
 <node id="3" lat="40.0010000" lon="116.3510000"/>
 <node id="4" lat="40.0000000" lon="116.3510000"/>
 <node id="5" lat="40.0020000" lon="116.3500000"><tag k="name" v="阳光社区卫生服务站"/></node>
 <node id="6" lat="40.0020000" lon="116.3520000"><tag k="name" v="学院路"/><tag k="highway" v="bus_stop"/></node>
 <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
  <tag k="leisure" v="park"/><tag k="name" v="小公园"/></way>
 <way id="11"><nd ref="2"/><nd ref="3"/><tag k="highway" v="footway"/></way>
</osm>
"""


def _small(tmp_path: Path) -> Path:
    p = tmp_path / "small.osm"
    p.write_text(SMALL, encoding="utf-8")
    return p


def _read(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path)


@pytest.fixture(scope="module")
def demo_paths(tmp_path_factory) -> dict[str, Path]:
    """``extract`` of the demo's OSM file, once for the module."""
    return extract(demo.DEMO_OSM, tmp_path_factory.mktemp("demo_extract"))


def test_extract_of_the_demo_file_is_the_demo_data(demo_paths):
    paths = demo_paths
    assert set(paths) == {"communities", "buildings", "facilities"}
    assert paths["communities"].name == "communities.geojson"
    for key, shipped in (
        ("communities", demo.DEMO_BOUNDARIES),
        ("buildings", demo.DEMO_BUILDINGS),
        ("facilities", demo.DEMO_FACILITIES),
    ):
        assert paths[key].read_bytes() == shipped.read_bytes(), key


def test_extracted_files_are_valid_inputs(demo_paths):
    paths = demo_paths
    comms = load.load_communities(paths["communities"])
    assert len(comms) == 11 and comms["population_estimated"].all()
    fac = load.load_facilities(paths["facilities"], load_facility_types())
    assert len(fac) == len(gpd.read_file(demo.DEMO_FACILITIES))  # every facility of the shipped demo
    assert len(load.load_buildings(paths["buildings"])) == 51


def test_command_line_extract(tmp_path, capsys):
    out = tmp_path / "inputs"
    code = cli.main(["extract", "--osm", str(demo.DEMO_OSM), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    for name in ("communities.geojson", "buildings.geojson", "facilities.geojson"):
        assert (out / name).exists() and str(out / name) in printed


def test_facilities_carry_their_evidence(demo_paths):
    fac = _read(demo_paths["facilities"])
    assert fac["osm_element"].str.match(r"^(node|way|relation)/\d+$").all()
    assert fac["match"].str.match(r"^(tag |name matches /)").all()
    for _, row in fac.iterrows():
        tags = row["osm_tags"] if isinstance(row["osm_tags"], dict) else json.loads(row["osm_tags"])
        assert tags and row["id"] == f"{row['osm_element']}:{row['facility_type']}"
    by_name = fac[fac["match"].str.startswith("name")]
    assert len(by_name) > 0  # Chinese names count where no tag classifies


def test_partial_boundary_is_closed_and_explained(demo_paths):
    comms = _read(demo_paths["communities"])
    committee = comms[comms["id"] == "relation/15972224"].iloc[0]
    assert committee["kind"] == "residents_committee" and committee.geometry.geom_type == "Polygon"
    assert "888309029" in committee["geometry_note"] and "straight line" in committee["geometry_note"]
    assert comms["population_estimated"].all()
    assert comms["population_method"].str.contains("per person|mean density").all()


def test_clipped_extract(tmp_path):
    """The demo cut at a meridian: what is left comes out, nothing east of the cut."""
    path = clip_osm(demo.DEMO_OSM, tmp_path / "clipped.osm", CLIP_LON)
    layers = read_osm_layers(path)
    full = gpd.read_file(demo.DEMO_BOUNDARIES)
    assert 0 < len(layers.communities) <= len(full)
    assert set(layers.communities["id"]) <= set(full["id"])
    for gdf in (layers.communities, layers.buildings, layers.facilities):
        assert gdf.total_bounds[2] <= CLIP_LON + 1e-9
    assert len(layers.facilities) > 10
    notes = layers.communities.set_index("id")["geometry_note"]
    assert "888309029" in notes["relation/15972224"]  # still partly present: reported
    assert "nodes are not in the extract" in notes["way/595108678"]  # 石科院生活区, cut by the clip
    assert notes["way/860342589"] == ""  # 静淑苑, whole


def test_pbf_gives_the_same_files_as_xml(tmp_path):
    pbf = to_osm_xml(demo.DEMO_OSM, tmp_path / "demo.osm.pbf")  # pyosmium writes PBF by the name
    from_xml = extract(demo.DEMO_OSM, tmp_path / "xml")
    from_pbf = extract(pbf, tmp_path / "pbf")
    for key in from_xml:
        assert from_xml[key].read_bytes() == from_pbf[key].read_bytes(), key


def test_andorra_pbf(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="circles.extract"):
        paths = extract(ANDORRA, tmp_path)
    fac = _read(paths["facilities"])
    assert len(fac) > 100 and {"pharmacy", "car_parking", "food_market"} <= set(fac["facility_type"])
    comms = _read(paths["communities"])
    assert (comms["population"] == 0).all()  # no residential building in any community
    assert "populations could not be estimated" in caplog.text
    assert "buildings" not in paths and not (tmp_path / "buildings.geojson").exists()


def _with_compound(tmp_path: Path) -> Path:
    """SMALL plus a named residential compound (way 12) around the pharmacy."""
    compound = (
        ' <node id="7" lat="39.9990000" lon="116.3490000"/>\n <node id="8" lat="39.9990000" lon="116.3530000"/>\n'
        ' <node id="9" lat="40.0030000" lon="116.3530000"/>\n <node id="13" lat="40.0030000" lon="116.3490000"/>\n'
        ' <way id="12"><nd ref="7"/><nd ref="8"/><nd ref="9"/><nd ref="13"/><nd ref="7"/>'
        '<tag k="landuse" v="residential"/><tag k="name" v="阳光小区"/></way>\n</osm>\n'
    )
    p = tmp_path / "compound.osm"
    p.write_text(SMALL.replace("</osm>\n", compound), encoding="utf-8")
    return p


def test_file_without_communities(tmp_path, caplog):
    out = tmp_path / "out"
    first = extract(_with_compound(tmp_path), out)
    assert "communities" in first
    with caplog.at_level(logging.WARNING, logger="circles.extract"):
        paths = extract(_small(tmp_path), out)
    assert set(paths) == {"facilities"}
    assert not (out / "communities.geojson").exists()  # its own stale file would mislead
    assert "removed" in caplog.text and "communities.geojson" in caplog.text
    assert "no community" in caplog.text
    assert "boundary=administrative+admin_level=10" in caplog.text and "landuse=residential+name=*" in caplog.text
    fac = _read(paths["facilities"]).set_index("id")
    assert fac.loc["node/1:pharmacy", "match"] == "tag amenity=pharmacy"
    assert fac.loc["node/5:clinic", "match"].startswith("name matches")  # by its Chinese name
    assert fac.loc["way/10:park"].geometry.geom_type == "Polygon"
    # a bus stop is a bus stop by its tag, and never another facility by its name
    assert [i for i in fac.index if i.startswith("node/6:")] == ["node/6:bus_stop"]
    assert fac.loc["node/6:bus_stop", "match"] == "tag highway=bus_stop"


def test_west_oakland_has_no_committee_but_a_compound(tmp_path):
    layers = read_osm_layers(WEST_OAKLAND)
    assert list(layers.communities["kind"]) == ["residential_compound"]
    assert len(layers.facilities) > 0


def test_file_with_nothing_to_extract(tmp_path):
    p = tmp_path / "roads.osm"
    p.write_text(
        '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="40" lon="116.3"/>'
        '<node id="2" lat="40.001" lon="116.3"/><way id="1"><nd ref="1"/><nd ref="2"/>'
        '<tag k="highway" v="primary"/></way></osm>',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        extract(p, tmp_path / "out")
    msg = str(err.value)
    assert str(p) in msg and "no community, residential building or facility" in msg
    assert "admin_level=10" in msg


BAD = {
    "missing": ("nothing.osm", lambda p: None, "file not found"),
    "folder": ("area.osm", lambda p: p.mkdir(), "is a folder"),
    "empty": ("empty.osm.pbf", lambda p: p.write_bytes(b""), "the file is empty"),
    "unknown type": ("area.geojson", lambda p: p.write_text("{}"), "unknown file type"),
    "not osm": ("area.osm", lambda p: p.write_text("<html>"), "not a readable OSM XML file"),
    "truncated pbf": ("a.pbf", lambda p: p.write_bytes(ANDORRA.read_bytes()[:3000]), "not a readable OSM PBF file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_are_named_and_explained(tmp_path, case, capsys):
    name, make, reason = BAD[case]
    p = tmp_path / name
    make(p)
    with pytest.raises(InputError) as err:
        extract(p, tmp_path / "out")
    assert str(p) in str(err.value) and reason in str(err.value)
    code = cli.main(["extract", "--osm", str(p), "--out", str(tmp_path / "out")])
    stderr = capsys.readouterr().err
    assert code == 2 and str(p) in stderr and reason in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("which", ["demo", "andorra"])
def test_facility_classifier_equals_the_plain_rule(which):
    """The classifier only tries types whose selector keys an element carries: the same result as
    trying every type on every element (tags first, then the Chinese name unless vetoed)."""
    import re

    from circles import _osmium
    from circles.extract import FacilityClassifier
    from circles.rulebook import selector_matches

    ftypes = load_facility_types()
    veto = _osmium.load_osm_config().name_match_veto_keys

    def plain(tags):
        out = []
        for ft in ftypes.values():
            if ft.matches_tags(tags):
                sel = next(s for s in ft.osm_tags if selector_matches(s, tags))
                out.append((ft.id, "tag " + ";".join(f"{k}={v}" for k, v in sel.items())))
        name = tags.get("name", "") or ""
        if out or not name or any(k in tags for k in veto):
            return out
        return [
            (ft.id, f"name matches /{ft.name_regex_zh}/")
            for ft in ftypes.values()
            if ft.name_regex_zh
            and re.search(ft.name_regex_zh, name)
            and not any(selector_matches(s, tags) for s in ft.exclude_tags)
        ]

    classify = FacilityClassifier(ftypes)
    path = {"demo": demo.DEMO_OSM, "andorra": ANDORRA}[which]
    feats = _osmium.read_features(path, lambda t: True)
    assert len(feats) > 1000
    matched = 0
    for f in feats:
        mine = classify(f.tags)
        assert mine == plain(f.tags), f.tags
        matched += bool(mine)
    assert matched > 50
