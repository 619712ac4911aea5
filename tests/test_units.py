"""Generated analysis units for an OSM file without named communities (circles extract --units):
street blocks with homes and H3 hexagons, their populations from the homes' floor area."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from circles.errors import InputError
from circles.extract import extract, load_population_config

LAT0, LON0 = 40.0, 116.3
STEP = 0.002  # street spacing in degrees (about 220 m north-south, 170 m east-west)


def _osm(path) -> None:
    """A 3 × 3 street grid (two blocks by two), no boundary or named area; two apartment
    buildings (6 storeys) in the south-west block, one in the north-east block, one office."""
    nodes, ways = [], []
    nid = 0
    grid = {}
    for i in range(3):
        for j in range(3):
            nid += 1
            grid[i, j] = nid
            nodes.append((nid, LAT0 + i * STEP, LON0 + j * STEP))
    wid = 0
    for i in range(3):
        wid += 1
        street = {"highway": "residential", "name": "学院路"} if i == 0 else {"highway": "residential"}
        ways.append((wid, [grid[i, j] for j in range(3)], street))
        wid += 1
        ways.append((wid, [grid[j, i] for j in range(3)], {"highway": "residential"}))

    def building(lat, lon, tags):
        nonlocal nid, wid
        d = 0.0003
        ids = []
        for la, lo in ((lat, lon), (lat, lon + d), (lat + d, lon + d), (lat + d, lon)):
            nid += 1
            nodes.append((nid, la, lo))
            ids.append(nid)
        wid += 1
        ways.append((wid, ids + [ids[0]], tags))

    apt = {"building": "apartments", "building:levels": "6"}
    building(LAT0 + 0.0005, LON0 + 0.0005, apt)
    building(LAT0 + 0.0012, LON0 + 0.0012, apt)
    building(LAT0 + STEP + 0.0008, LON0 + STEP + 0.0008, apt)
    building(LAT0 + 0.0005, LON0 + STEP + 0.0008, {"building": "yes"})  # a plain building outside homes
    # an unnamed residential area round the south-west block's two apartment buildings
    area = []
    for la, lo in ((0.0002, 0.0002), (0.0002, 0.0018), (0.0018, 0.0018), (0.0018, 0.0002)):
        nid += 1
        nodes.append((nid, LAT0 + la, LON0 + lo))
        area.append(nid)
    wid += 1
    ways.append((wid, area + [area[0]], {"landuse": "residential"}))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    lines += [f'<node id="{i}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>' for i, la, lo in nodes]
    for i, refs, tags in ways:
        lines.append(f'<way id="{i}" version="1">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def _floor_population(lats_lons) -> list[float]:
    """Independent: each building's footprint in UTM × 6 storeys ÷ m² per person."""
    per = float(load_population_config()["floor_area_per_person_m2"])
    d = 0.0003
    polys = [box(lo, la, lo + d, la + d) for la, lo in lats_lons]
    area = gpd.GeoSeries(polys, crs="EPSG:4326").to_crs("EPSG:32650").area.round(1)
    return [a * 6 / per for a in area]


def test_no_community_without_units(tmp_path):
    osm = tmp_path / "grid.osm"
    _osm(osm)
    with pytest.raises(InputError, match="no community in this file"):  # no named community: nothing by default
        extract(osm, tmp_path / "plain")


def test_blocks_with_populations(tmp_path):
    osm = tmp_path / "grid.osm"
    _osm(osm)
    paths = extract(osm, tmp_path / "blocks", units="blocks")
    units = gpd.read_file(paths["communities"])
    assert len(units) == 2  # the two blocks with homes; the others have none
    assert set(units["kind"]) == {"block"} and units["geometry_note"].str.contains("generated").all()
    sw = units[units.geometry.contains(Point(LON0 + 0.0006, LAT0 + 0.0006))].iloc[0]
    ne = units[units.geometry.contains(Point(LON0 + STEP + 0.001, LAT0 + STEP + 0.001))].iloc[0]
    a, b, c = _floor_population(
        [(LAT0 + 0.0005, LON0 + 0.0005), (LAT0 + 0.0012, LON0 + 0.0012), (LAT0 + STEP + 0.0008, LON0 + STEP + 0.0008)]
    )
    assert sw["population"] == round(a + b)
    assert ne["population"] == round(c)
    assert units["population_estimated"].all()
    # a block is the face between four streets: about STEP × STEP
    assert sw.geometry.bounds == pytest.approx((LON0, LAT0, LON0 + STEP, LAT0 + STEP), abs=1e-7)


def test_unnamed_residential_areas(tmp_path):
    osm = tmp_path / "grid.osm"
    _osm(osm)
    paths = extract(osm, tmp_path / "res", units="residential")
    units = gpd.read_file(paths["communities"])
    assert len(units) == 1
    u = units.iloc[0]
    # named after the nearest named street (the south one, 学院路), marked generated
    assert u["name"] == "学院路旁住区1" and "generated" in u["geometry_note"]
    a, b = _floor_population([(LAT0 + 0.0005, LON0 + 0.0005), (LAT0 + 0.0012, LON0 + 0.0012)])
    assert u["population"] == round(a + b)


def test_hex_units(tmp_path):
    h3 = pytest.importorskip("h3")
    osm = tmp_path / "grid.osm"
    _osm(osm)
    paths = extract(osm, tmp_path / "hex", units="hex")
    units = gpd.read_file(paths["communities"])
    pts = [(LAT0 + 0.0005, LON0 + 0.0005), (LAT0 + 0.0012, LON0 + 0.0012), (LAT0 + STEP + 0.0008, LON0 + STEP + 0.0008)]
    cells = {h3.latlng_to_cell(la + 0.00015, lo + 0.00015, 8) for la, lo in pts}
    assert len(units) == len(cells)
    assert units["population"].sum() == pytest.approx(sum(_floor_population(pts)), abs=len(units))


def test_units_refusals(tmp_path, monkeypatch):
    import sys

    osm = tmp_path / "grid.osm"
    _osm(osm)
    monkeypatch.setitem(sys.modules, "h3", None)
    with pytest.raises(InputError, match=r"circles\[units\]"):
        extract(osm, tmp_path / "hex", units="hex")
    with pytest.raises(InputError, match="unknown units"):
        extract(osm, tmp_path / "x", units="tiles")
