"""The live what-if of the community maps, in headless Chromium, against the engine.

A planned facility placed through the page API (``window.circles.place``) must give every
resident of the community the walking distance the engine gives after ``circles whatif`` with the
same scenario (within 1 m), and the page's summary the same figures as the what-if comparison
table. The scenario the page exports is read back by :func:`circles.whatif.load_scenario`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from map_browser import Browsers, errors, js, open_map
from synthetic_city import make_city

from circles import demo, pipeline, whatif
from circles.mapping import write_maps


@pytest.fixture(scope="module")
def browsers(tmp_path_factory):
    b = Browsers(tmp_path_factory)
    yield b
    b.close()


def _scenario_result(now, scenario_path: Path, boundaries, buildings, **kw):
    """The engine's result under a scenario, as ``circles whatif`` computes it."""
    scen = whatif.load_scenario(scenario_path, now.rulebook.facility_types)
    fac_now = now.facilities.to_crs("EPSG:4326")
    cols = [c for c in ("id", "facility_type", "name", "source", "osm_element", "capacity", "size_m2") if c in fac_now]
    planned = whatif.apply_scenario(
        gpd.GeoDataFrame(fac_now[cols], geometry=fac_now.geometry, crs="EPSG:4326"), scen, path=str(scenario_path)
    )
    later = pipeline.analyse(
        boundaries, planned, now.network, buildings=buildings, surveyed=sorted(now.surveyed), progress=False, **kw
    )
    # as run_whatif: today's surveyed set and today's evidence of presence
    present = set(now.access.facilities["facility_type"].astype(str))
    later = whatif.keep_surveyed(later, now.surveyed, present=present)
    diff = whatif.difference_layer(now, later)
    comp = whatif.compare_gaps(now.gaps, later.gaps, "current", "scenario", newly=whatif.newly_covered(diff))
    return later, comp


def _check_against_engine(drv, now, later, comp, cid: str, rule_id: str) -> int:
    """Every resident's time to the rule's type and the page summary against the engine."""
    rule = next(r for r in now.rulebook.rules if r.id == rule_id)
    t = rule.facility_type
    times = js(drv, "return window.circles.times(arguments[0])", rule_id)
    res = later.residents
    mine = res[res["community_id"].astype(str) == cid]
    engine = mine[f"dist_{t}"].to_numpy(dtype=float)
    assert len(times) == len(engine)
    bound = max(now.rulebook.threshold_m(r) for r in now.rulebook.rules if r.facility_type == t)
    compared = 0
    for page, eng in zip(times, engine, strict=True):
        if np.isfinite(eng) and eng <= bound:
            assert page is not None, f"engine {eng:.2f} m, page beyond"
            assert abs(page - eng) <= 1.0, (page, eng)
            compared += 1
        elif page is not None:
            # the page searches up to twice the threshold; beyond the engine's limit it must say so
            assert not np.isfinite(eng) or abs(page - eng) <= 1.0, (page, eng)
    summary = pd.DataFrame(js(drv, "return window.circles.summary()"))
    want = comp[comp["community_id"].astype(str) == cid].set_index("rule_id")
    for row in summary.itertuples(index=False):
        w = want.loc[row.rule_id]
        assert row.status_scenario == w["status_scenario"], row.rule_id
        if pd.notna(w["covered_share_scenario"]):
            assert abs(row.covered_share_scenario - w["covered_share_scenario"]) <= 1e-4, row.rule_id
        assert abs(row.residents_newly_covered - w["residents_newly_covered"]) <= 0.1, row.rule_id
        assert abs(row.residents_no_longer_covered - w["residents_no_longer_covered"]) <= 0.1, row.rule_id
    return compared


def _uncovered_spot(now, cid: str, t: str, limit: float) -> tuple[float, float]:
    """A resident of ``cid`` farthest from the type (lon, lat): a planned facility there matters."""
    res = now.residents
    mine = res[(res["community_id"].astype(str) == cid) & res["placed"]]
    d = mine[f"dist_{t}"].fillna(np.inf).to_numpy()
    pt = gpd.GeoSeries([mine.geometry.iloc[int(np.argmax(np.minimum(d, 1e9)))]], crs=res.crs).to_crs("EPSG:4326")
    return float(pt.iloc[0].x) + 2e-5, float(pt.iloc[0].y) + 1e-5


def test_placed_facility_matches_the_engine_on_the_demo(browsers, demo_result, tmp_path):
    now = demo_result
    cids = [str(c) for c in now.communities["id"]]
    counts = now.residents["community_id"].astype(str).value_counts()
    cid = max(cids, key=lambda c: counts.get(c, 0))
    write_maps(now, tmp_path / "maps", community_maps=[cid], offline=True)
    page = next((tmp_path / "maps" / "community_maps").glob("*.html"))
    assert page.stat().st_size < 1_000_000
    drv = browsers("laptop")
    open_map(drv, page)
    gaps = now.gaps[now.gaps["community_id"].astype(str) == cid]
    rule_id = str(gaps.sort_values("covered_share")["rule_id"].iloc[0])
    rule = next(r for r in now.rulebook.rules if r.id == rule_id)
    lon, lat = _uncovered_spot(now, cid, rule.facility_type, now.rulebook.threshold_m(rule))
    pid = js(
        drv,
        "return window.circles.place({item: arguments[0], lon: arguments[1], lat: arguments[2]})",
        rule_id,
        lon,
        lat,
    )
    assert pid
    # the legend names what is drawn: the streets reached under the scenario, not today's area
    from circles._labels import LIVE_LABELS, MAP_LABELS

    legend = js(drv, "return document.querySelector('.circles-legend-dyn').textContent")
    assert LIVE_LABELS["zh"]["live_reached"].split("{")[0] in legend, legend
    assert MAP_LABELS["zh"]["area_of"].split("}")[-1] not in legend, legend
    scenario = js(drv, "return window.circles.scenario()")
    assert [f["properties"]["action"] for f in scenario["features"]] == ["add"]
    path = tmp_path / "scenario.geojson"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    later, comp = _scenario_result(now, path, demo.DEMO_BOUNDARIES, demo.DEMO_BUILDINGS)
    assert _check_against_engine(drv, now, later, comp, cid, rule_id) > 0
    t = rule.facility_type
    before = now.residents.loc[now.residents["community_id"].astype(str) == cid, f"dist_{t}"].fillna(np.inf)
    after = later.residents.loc[later.residents["community_id"].astype(str) == cid, f"dist_{t}"].fillna(np.inf)
    assert (after.to_numpy() < before.to_numpy() - 1).any(), "the planned facility changes nobody's walk"
    gained = js(drv, "return window.circles.summary()")
    assert any(r["residents_newly_covered"] > 0 for r in gained)
    assert not errors(drv)


def test_every_item_judged_as_the_engine_judges(browsers, demo_result, tmp_path):
    """One planned facility of every type at once (and today's nearest clinic closed): every
    item's scenario status in the page (unseen, reach_size_unverified, per-community items,
    land sizes, several facilities, presence) is the one ``circles whatif`` gives."""
    now = demo_result
    counts = now.residents["community_id"].astype(str).value_counts()
    cid = str(counts.index[-1])  # the community with fewest resident points: several items not yet reached
    write_maps(now, tmp_path / "maps", community_maps=[cid], offline=True)
    page = next((tmp_path / "maps" / "community_maps").glob("*.html"))
    drv = browsers("laptop")
    open_map(drv, page)
    types = sorted({r.facility_type for r in now.rulebook.rules if r.facility_type})
    for t in types:
        lon, lat = _uncovered_spot(now, cid, t, 0)
        item = next(r.id for r in now.rulebook.rules if r.facility_type == t)
        place = "return window.circles.place({item: arguments[0], lon: arguments[1], lat: arguments[2]})"
        js(drv, place, item, lon, lat)
    scenario = js(drv, "return window.circles.scenario()")
    assert len(scenario["features"]) == len(types)
    path = tmp_path / "scenario.geojson"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    later, comp = _scenario_result(now, path, demo.DEMO_BOUNDARIES, demo.DEMO_BUILDINGS)
    summary = pd.DataFrame(js(drv, "return window.circles.summary()")).set_index("rule_id")
    want = comp[comp["community_id"].astype(str) == cid].set_index("rule_id")
    got = summary["status_scenario"].to_dict()
    assert got == want.loc[summary.index, "status_scenario"].to_dict()
    # the states issue 22 added are among those judged here
    assert {"unseen", "reach_size_unverified"} & (set(want["status_current"]) | set(want["status_scenario"]))
    assert not errors(drv)


def test_generated_city_place_close_undo_and_round_trip(browsers, tmp_path):
    city = make_city(tmp_path / "city", nx=24, ny=8)
    kw = {"rules": city["rules"]}
    now = pipeline.analyse(city["boundaries"], city["facilities"], city["network"], progress=False, **kw)
    counts = now.residents["community_id"].astype(str).value_counts()
    cid = str(counts.index[0])
    write_maps(now, tmp_path / "maps", community_maps=[cid], offline=True)
    page = next((tmp_path / "maps" / "community_maps").glob("*.html"))
    drv = browsers("phone")
    open_map(drv, page)
    rule = next(r for r in now.rulebook.rules if r.facility_type == "kindergarten")
    t = rule.facility_type
    lon, lat = _uncovered_spot(now, cid, t, now.rulebook.threshold_m(rule))
    first = js(
        drv,
        "return window.circles.place({item: arguments[0], lon: arguments[1], lat: arguments[2]})",
        rule.id,
        lon,
        lat,
    )
    js(
        drv,
        "return window.circles.place({item: arguments[0], lon: arguments[1], lat: arguments[2]})",
        rule.id,
        lon + 0.003,
        lat - 0.001,
    )
    # undo takes the second one back; remove takes the first; undo puts it back
    assert js(drv, "return window.circles.undo()")
    assert js(drv, "return window.circles.remove(arguments[0])", first)
    assert js(drv, "return window.circles.scenario().features.length") == 0
    assert js(drv, "return window.circles.undo()")
    # close the nearest existing facility of another type (a removal)
    other = next(r for r in now.rulebook.rules if r.facility_type == "clinic")
    res = now.residents[now.residents["community_id"].astype(str) == cid]
    near = res["nearest_clinic"].replace("", np.nan).dropna()
    closed = str(near.mode().iloc[0])
    assert js(drv, "return window.circles.remove(arguments[0])", closed)
    scenario = js(drv, "return window.circles.scenario()")
    assert sorted(f["properties"]["action"] for f in scenario["features"]) == ["add", "remove"]
    path = tmp_path / "scenario.geojson"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    later, comp = _scenario_result(now, path, city["boundaries"], None, **kw)
    assert _check_against_engine(drv, now, later, comp, cid, rule.id) > 0
    assert _check_against_engine(drv, now, later, comp, cid, other.id) > 0
    lost = pd.DataFrame(js(drv, "return window.circles.summary()")).set_index("rule_id")
    assert lost.loc[other.id, "residents_no_longer_covered"] > 0 or lost.loc[other.id, "covered_share_scenario"] < 1
    assert not errors(drv)


def test_projector_mode_text_and_dots(browsers, demo_result, tmp_path):
    cid = str(demo_result.communities["id"].iloc[0])
    write_maps(demo_result, tmp_path / "maps", community_maps=[cid], offline=True)
    page = next((tmp_path / "maps" / "community_maps").glob("*.html"))
    drv = browsers("projector_hd")
    drv.get("about:blank")
    drv.get(page.resolve().as_uri() + "?projector=1")
    for _ in range(300):
        if js(drv, "return !!document.querySelector('[data-circles-ready]')"):
            break
        time.sleep(0.05)
    sizes = js(
        drv,
        "return Array.from(document.querySelectorAll("
        "'.circles-head *, .circles-sheet *, .circles-label, .circles-label *'))"
        ".filter(e => e.offsetParent !== null && e.childNodes.length && Array.from(e.childNodes)"
        ".some(n => n.nodeType === 3 && n.textContent.trim()))"
        ".map(e => parseFloat(getComputedStyle(e).fontSize))",
    )
    assert sizes and min(sizes) >= 20, sorted(sizes)[:5]
    assert js(drv, "return window.circles.current.points._radius()") >= 6
    icons = js(
        drv, "return Array.from(document.querySelectorAll('.leaflet-marker-icon.circles-fac')).map(e => e.offsetWidth)"
    )
    assert all(w >= 36 for w in icons)
    # the button turns it off again
    js(drv, "document.querySelector('.circles-proj').click()")
    assert js(drv, "return window.circles.current.points._radius()") < 6


def test_whatif_map_whole_people_lost_column_and_typed_marks(demo_result, tmp_path):
    """The what-if map drawn by mapping from whatif's data: a removed pharmacy's lost residents
    in a 不再覆盖 column, whole people, and each planned mark carrying its type (shown with it)."""
    now = demo_result
    res = now.residents
    gone = str(res["nearest_pharmacy"].replace("", np.nan).dropna().mode().iloc[0])
    lon, lat = _uncovered_spot(now, str(now.communities["id"].iloc[0]), "kindergarten", 0)
    scenario = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"id": gone, "action": "remove"}, "geometry": None},
            {
                "type": "Feature",
                "properties": {"id": "new-k", "action": "add", "facility_type": "kindergarten", "name": "新幼儿园"},
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            },
        ],
    }
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    later, comp = _scenario_result(now, path, demo.DEMO_BOUNDARIES, demo.DEMO_BUILDINGS)
    diff = whatif.difference_layer(now, later)
    scen = whatif.load_scenario(path, now.rulebook.facility_types)
    m = whatif.difference_map(now, later, diff, scen, comparison=comp)
    app = next(c for c in m._children.values() if type(c).__name__ == "_App")
    opts = json.loads(app.opts)
    data = json.loads(app.data)
    changes = next(t["html"] for t in opts["tabs"] if t["key"] == "changes")
    assert "不再覆盖" in changes
    lost = comp.loc[comp["facility_type"] == "pharmacy", "residents_no_longer_covered"].sum()
    assert lost > 0
    cells = [float(x) for x in __import__("re").findall(r'<td class="n">([^<]*)</td>', changes)]
    assert cells and all(c == int(c) for c in cells)  # whole people
    assert sum(cells[1::2]) >= round(lost) - len(cells)  # the lost column carries the removal
    pins = next(g for g in data["marks"] if g["kind"] == "pin")
    assert pins["byType"] and sorted(it[5] for it in pins["items"]) == ["kindergarten", "pharmacy"]
    assert all(len(it[2]) >= 2 for it in pins["items"])  # the action's mark and the type's letter


def test_site_map_names_communities_not_candidates(demo_result):
    """Sites numbered in order and named by the community they serve, shown with their item only;
    whole people; no candidate id and no '(unnamed street) (0 m)'."""
    comm = demo_result.communities
    rule_id = demo_result.rulebook.rules[0].id
    sites = pd.DataFrame(
        {
            "rank": [1, 1],
            "candidate_id": ["cand-77", "cand-78"],
            "community_id": [str(comm["id"].iloc[0]), str(comm["id"].iloc[1])],
            "community_name": [str(comm["name"].iloc[0]), str(comm["name"].iloc[1])],
            "street_name": ["", "学院路"],
            "street_m": [0.0, 35.4],
            "residents_covered": [120.4, 88.6],
            "covered_share_after": [0.5, 0.9],
            "lon": [116.35, 116.36],
            "lat": [40.0, 40.0],
        }
    )
    from circles import siting

    m = siting.site_map(demo_result, rule_id, sites)
    app = next(c for c in m._children.values() if type(c).__name__ == "_App")
    data, opts = json.loads(app.data), json.loads(app.opts)
    marks = next(g for g in data["marks"] if g["kind"] == "num")
    assert marks["byRule"] and [it[5] for it in marks["items"]] == [rule_id, rule_id]
    assert [it[2] for it in marks["items"]] == ["1", "2"]
    text = json.dumps(marks, ensure_ascii=False) + opts["tabs"][-1]["html"]
    assert "cand-77" not in text and "无名道路" not in text and "(0 " not in text
    assert str(comm["name"].iloc[1]) in marks["items"][1][3]
    assert "120<" in text or ">120<" in text
    assert "120.4" not in text and "88.6" not in text


def test_residents_notes_persist_and_export(browsers, demo_result, tmp_path):
    cid = str(demo_result.communities["id"].iloc[1])
    write_maps(demo_result, tmp_path / "maps", community_maps=[cid], offline=True)
    page = next((tmp_path / "maps" / "community_maps").glob("*.html"))
    drv = browsers("laptop")
    open_map(drv, page)
    js(drv, "window.localStorage.clear()")
    open_map(drv, page)
    c = demo_result.communities.to_crs("EPSG:4326").geometry.iloc[1].representative_point()
    nid = js(
        drv,
        "return window.circles.addNote({lon: arguments[0], lat: arguments[1], kind: 'site_here', text: '<b>这里</b>'})",
        c.x,
        c.y,
    )
    assert nid
    open_map(drv, page)  # reloaded: the note is still there
    notes = js(drv, "return window.circles.notes()")
    assert [f["properties"]["id"] for f in notes["features"]] == [nid]
    props = notes["features"][0]["properties"]
    assert props["kind"] == "site_here" and props["text"] == "<b>这里</b>" and props["community_id"] == cid
    assert js(drv, "return document.querySelectorAll('.circles-note-icon').length") == 1
    assert js(drv, "return window.circles.removeNote(arguments[0])", nid)
    assert js(drv, "return window.circles.notes().features.length") == 0
    assert not errors(drv)


def test_one_meaning_per_hue():
    """The communities' failing-count scale is neutral grey: it shares no hue with the residents'
    within / beyond colours or the what-if marks."""
    from circles import _labels

    for c in _labels.FAIL_COLOURS:
        r, g, b = (int(c[i : i + 2], 16) for i in (1, 3, 5))
        assert max(r, g, b) - min(r, g, b) <= 8, c
    marks = [c for k, c in _labels.CHANGE_COLOURS.items() if k != "remove"]  # a removal is a dark grey pin
    for c in list(_labels.REACH_COLOURS.values())[:3] + marks:
        r, g, b = (int(c[i : i + 2], 16) for i in (1, 3, 5))
        assert max(r, g, b) - min(r, g, b) > 40, c


def test_landscape_phone_keeps_the_side_layout(browsers, demo_result, tmp_path):
    cid = str(demo_result.communities["id"].iloc[0])
    write_maps(demo_result, tmp_path / "maps", community_maps=[cid], offline=True)
    drv = browsers("landscape")
    for page in (tmp_path / "maps" / "map.html", next((tmp_path / "maps" / "community_maps").glob("*.html"))):
        open_map(drv, page)
        assert not js(drv, "return document.querySelector('.leaflet-container').classList.contains('circles-narrow')")
        js(drv, "document.querySelector('.circles-toggle').click()")
        time.sleep(0.3)
        w = js(drv, "return window.innerWidth")
        sheet = js(
            drv, "const r = document.querySelector('.circles-sheet').getBoundingClientRect(); return [r.left, r.right]"
        )
        head = js(
            drv, "const r = document.querySelector('.circles-head').getBoundingClientRect(); return [r.left, r.right]"
        )
        assert sheet[1] - sheet[0] <= 0.4 * w
        assert head[1] <= sheet[0]  # side by side, no overlap
        assert not errors(drv)


def test_overview_live_whatif_one_community_at_a_time(browsers, demo_result, tmp_path):
    """The overview carries the live what-if for one community at a time: chosen, a planned
    kindergarten gives that community's residents the same walks and the same summary as its
    own map (a smaller graph around it); a tap inside another community chooses that one."""
    now = demo_result
    counts = now.residents["community_id"].astype(str).value_counts()
    cid = str(counts.index[0])
    paths = write_maps(now, tmp_path / "maps", community_maps=[cid], offline=True)
    overview, own = paths[0], paths[1]
    assert overview.stat().st_size < 800_000
    rule = now.rulebook.rule("kindergarten")
    lon, lat = _uncovered_spot(now, cid, rule.facility_type, 0)
    place = "return window.circles.place({item: arguments[0], lon: arguments[1], lat: arguments[2]})"
    drv = browsers("laptop")
    open_map(drv, own)
    assert js(drv, place, rule.id, lon, lat)
    want_times = js(drv, "return window.circles.times(arguments[0])", rule.id)
    want = js(drv, "return window.circles.summary()")
    open_map(drv, overview)
    assert js(drv, "return window.circles.summary()") == []  # nothing judged before a community is chosen
    assert js(drv, "return window.circles.choose(arguments[0])", cid)
    assert js(drv, place, rule.id, lon, lat)
    mine = (now.residents["community_id"].astype(str) == cid).to_numpy()
    times = np.array(js(drv, "return window.circles.times(arguments[0])", rule.id), dtype=object)[mine]
    assert len(times) == len(want_times)
    for a, b in zip(times, want_times, strict=True):
        assert (a is None) == (b is None) and (a is None or abs(a - b) <= 1e-6), (a, b)
    assert js(drv, "return window.circles.summary()") == want
    # a tap inside another community (no choice made) chooses it
    other = next(c for c in now.communities["id"].astype(str) if c != cid)
    inside = now.communities.set_index(now.communities["id"].astype(str)).loc[other].geometry.representative_point()
    pt = gpd.GeoSeries([inside], crs=now.communities.crs).to_crs("EPSG:4326").iloc[0]
    open_map(drv, overview)
    assert js(drv, place, rule.id, pt.x, pt.y)
    assert {r["community_id"] for r in js(drv, "return window.circles.summary()")} == {other}
    assert not errors(drv)
