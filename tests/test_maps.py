"""The maps, checked in a real browser: headless Chromium with the network cut off, at the three
screens a community designer uses (a 390×844 phone with touch, a 1024×768 projector, a 1366×768
laptop).

The README screenshots are refreshed by ``python scripts/make_demo_map.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from map_browser import (
    SCREENS,
    Browsers,
    click_at,
    covered_share,
    errors,
    hover_at,
    inside,
    js,
    open_map,
    overlap,
    panels,
    rect,
    settle,
    tap,
    viewport,
)
from PIL import Image
from pyproj import Transformer

from circles import _display, _labels, mapping, pipeline, siting, whatif

#: Seconds the demo maps may take to be ready in the browser.
DEMO_LOAD_S = 15.0
#: Size bound (bytes) of the offline demo overview map.
DEMO_MAX_BYTES = 800_000
#: Visible panels may cover at most this share of the screen when a map opens.
MAX_PANEL_SHARE = 0.30


@pytest.fixture(scope="module")
def browsers(tmp_path_factory):
    b = Browsers(tmp_path_factory)
    yield b
    b.close()


@pytest.fixture(scope="module")
def demo_maps(demo_result, tmp_path_factory) -> list[Path]:
    return mapping.write_maps(demo_result, tmp_path_factory.mktemp("maps"), lang="zh", offline=True)


@pytest.fixture(scope="module")
def extra_maps(demo_result, tmp_path_factory) -> list[Path]:
    """A what-if map (in English) and a siting map of the demo."""
    out = tmp_path_factory.mktemp("extra")
    r = demo_result
    sc = gpd.GeoDataFrame(
        {"id": ["x1"], "action": ["add"], "facility_type": ["clinic"], "name": ["New clinic"]},
        geometry=[r.communities.geometry.iloc[0].centroid],
        crs=r.communities.crs,
    ).to_crs("EPSG:4326")
    wi = whatif.difference_map(r, r, whatif.difference_layer(r, r), sc, lang="en", scenario_name="plan.geojson")
    sites = siting.describe_sites(r, "kindergarten", siting.propose_sites(r, "kindergarten", k=3)[0])
    return [
        mapping.save_map(wi, out / "whatif_map.html", offline=True),
        mapping.save_map(siting.site_map(r, "kindergarten", sites), out / "sites.html", offline=True),
    ]


def community_map(demo_maps, cid: str) -> Path:
    return next(p for p in demo_maps if p.name == _display.community_file_name(cid))


def remote_refs(page: str) -> list[str]:
    return re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["\']?(?:https?:)?//[^"\' >]+', page)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def canvas_pixels(drv, colour: str | None = None) -> int:
    """Pixels of the resident canvas that are drawn (or exactly of ``colour``)."""
    return js(
        drv,
        """
        const c = document.querySelector('canvas.circles-points');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, t = arguments[0];
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          const hit = t === null ? d[i + 3] > 0
            : (d[i] === t[0] && d[i + 1] === t[1] && d[i + 2] === t[2] && d[i + 3] === 255);
          if (hit) n++;
        }
        return n;""",
        list(rgb(colour)) if colour else None,
    )


def select_rule(drv, rule_id: str) -> None:
    js(
        drv,
        "const s = document.querySelector('.circles-rule'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));",
        rule_id,
    )


def rule_m(result, rule) -> float:
    return result.rulebook.threshold_m(rule)


def fails_by_community(result) -> dict[str, int]:
    """Failing items per community, counted here from the gap report."""
    g = result.gaps
    bad = g[g["status"].isin(["gap", "undersized", "partial"])]
    counts = bad.groupby(bad["community_id"].astype(str)).size()
    return {str(c): int(counts.get(str(c), 0)) for c in result.communities["id"]}


def expected_classes(result, rule) -> np.ndarray:
    """Class of every resident for ``rule``, computed here from the distances and the gap report."""
    rb = result.rulebook
    res = result.residents
    d = res[f"dist_{rule.facility_type}"].to_numpy(dtype=float)
    thr = rb.threshold_m(rule)
    within = np.nan_to_num(d, nan=np.inf) <= thr + 1e-6
    twice = np.nan_to_num(d, nan=np.inf) <= 2 * thr + 1e-6
    cls = np.where(within, 0, np.where(twice, 1, 2))
    g = result.gaps[result.gaps["rule_id"] == rule.id]
    nd = set(g.loc[g["status"] == "no_data", "community_id"].astype(str))
    nodata = res["community_id"].astype(str).isin(nd).to_numpy().copy()
    if (
        rule.facility_type not in result.surveyed
        and not (result.facilities["facility_type"] == rule.facility_type).any()
    ):
        nodata[:] = True  # nothing in the input about the type, whatever the gap report's status
    cls = np.where(nodata & ~within, 4, cls)
    return np.where(res["placed"].to_numpy(dtype=bool), cls, 3)


FREE_POINT = """
// a point of a community polygon in the free part of the map, away from residents and icons
const A = circles.current, m = A.map, c = m.getContainer().getBoundingClientRect(), f = A.free();
// street names are labels no tap reaches (not interactive, hidden below zoom 16): not icons
const icons = Array.from(document.querySelectorAll('.leaflet-marker-icon:not(.circles-road)'))
  .map(e => e.getBoundingClientRect());
for (const p of document.querySelectorAll('path.circles-community')) { const b = p.getBoundingClientRect();
  for (let fx = 0.1; fx < 1; fx += 0.1) for (let fy = 0.1; fy < 1; fy += 0.1) {
    const x = b.x + fx * b.width, y = b.y + fy * b.height;
    if (x < c.x + f.left + 10 || x > c.x + f.right - 10 || y < c.y + f.top + 10 || y > c.y + f.bottom - 10) continue;
    if (document.elementFromPoint(x, y) !== p) continue;
    if (A.points && A.points._nearest(L.point(x - c.x, y - c.y), 12) >= 0) continue;
    if (icons.some(r => x > r.left - 25 && x < r.right + 25 && y > r.top - 25 && y < r.bottom + 25)) continue;
    return [x, y]; } }
return null;"""

RESIDENT_POINT = """
// a resident's dot in the free part of the map (under a facility icon when arguments[0])
const A = circles.current, P = A.points, m = A.map, c = m.getContainer().getBoundingClientRect(), f = A.free();
for (let i = 0; i < P._n; i++) {
  const q = m.latLngToContainerPoint([P._lat[i], P._lng[i]]);
  if (q.x < f.left + 20 || q.x > f.right - 20 || q.y < f.top + 20 || q.y > f.bottom - 20) continue;
  const x = q.x + c.x, y = q.y + c.y, el = document.elementFromPoint(x, y);
  const icon = el && el.closest('.leaflet-marker-icon');
  if (arguments[0] ? !!icon : !icon && !!(el && el.closest('.circles-community, .leaflet-container'))) {
    if (P._nearest(L.point(q.x, q.y), 0) !== i) continue;
    return [x, y, i]; } }
return null;"""


# ------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------


def test_offline_html_is_self_contained_and_small(demo_maps, demo_result):
    overview = demo_maps[0]
    assert overview.name == "map.html"
    assert len(demo_maps) == 1 + len(demo_result.communities)
    for p in demo_maps:
        page = p.read_text(encoding="utf-8")
        assert remote_refs(page) == [], p
        assert "* Leaflet 1.9" in page and "<style>/* required styles */" in page  # Leaflet inlined
        assert mapping.ATTRIBUTION in page
        assert 'name="viewport"' in page and "<title>" in page
    size = overview.stat().st_size
    assert size < DEMO_MAX_BYTES, f"demo overview map is {size} bytes"
    # the online variant only references Leaflet and the tiles (no jQuery, Bootstrap, awesome-markers)
    online = mapping.result_map(demo_result, lang="zh", offline=False).get_root().render()
    refs = remote_refs(online)
    assert refs and all("leaflet" in r for r in refs), refs
    assert "tile.openstreetmap.org" in online


def test_same_map_same_file(demo_result, tmp_path):
    kw = _display.map_inputs(demo_result)
    a = mapping.save_map(mapping.make_map(**kw, offline=True), tmp_path / "a.html", offline=True)
    b = mapping.save_map(mapping.make_map(**kw, offline=True), tmp_path / "b.html", offline=True)
    assert a.read_bytes() == b.read_bytes()


def test_community_maps_by_default_up_to_a_city(demo_result, tmp_path, monkeypatch):
    """``auto`` (the default): every community's map for a few communities, the overview only
    for a whole city (its maps on request)."""
    ids = [str(c) for c in demo_result.communities["id"]]
    few = mapping.write_maps(demo_result, tmp_path / "few")
    assert sorted(p.name for p in few[1:]) == sorted(_display.community_file_name(c) for c in ids)
    monkeypatch.setattr(mapping, "AUTO_COMMUNITY_MAPS", len(ids) - 1)
    city = mapping.write_maps(demo_result, tmp_path / "city", workers=1)
    assert [p.name for p in city] == ["map.html"] and not (tmp_path / "city" / "community_maps").exists()
    asked = mapping.write_maps(demo_result, tmp_path / "asked", community_maps="all", workers=1)
    assert len(asked) == 1 + len(ids)


def test_community_maps_in_a_daemonic_process_are_drawn_there(demo_result, tmp_path, monkeypatch):
    """A Dask worker (daemonic) may not start processes: the maps of a city run by `circles batch
    --dask` are drawn in the worker itself, not lost."""

    class Daemon:
        daemon = True

    def no_pool(*args, **kwargs):
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(mapping.multiprocessing, "current_process", lambda: Daemon())
    monkeypatch.setattr(mapping, "ProcessPoolExecutor", no_pool)
    paths = mapping.write_maps(demo_result, tmp_path, community_maps="all", workers=2)
    assert len(paths) == 1 + len(demo_result.communities) and all(p.stat().st_size > 0 for p in paths)


def test_community_maps_can_be_limited(demo_result, tmp_path):
    ids = [str(c) for c in demo_result.communities["id"]]
    none = mapping.write_maps(demo_result, tmp_path / "none", community_maps="none")
    assert [p.name for p in none] == ["map.html"] and not (tmp_path / "none" / "community_maps").exists()
    assert "community_maps/" not in none[0].read_text(encoding="utf-8")
    two = mapping.write_maps(demo_result, tmp_path / "two", community_maps=f"{ids[3]},{ids[7]}")
    assert sorted(p.name for p in two[1:]) == sorted(_display.community_file_name(c) for c in (ids[3], ids[7]))
    assert sorted(q.name for q in (tmp_path / "two" / "community_maps").iterdir()) == sorted(p.name for p in two[1:])
    with pytest.raises(ValueError, match="no-such-community"):
        mapping.write_maps(demo_result, tmp_path / "bad", community_maps="no-such-community")
    # the same through write_outputs (what `circles run --community-maps` calls)
    paths = pipeline.write_outputs(demo_result, tmp_path / "run", community_maps=ids[5])
    assert [q.name for q in paths["community_maps"].iterdir()] == [_display.community_file_name(ids[5])]
    # in worker processes: the same files
    par = mapping.write_maps(demo_result, tmp_path / "par", community_maps="all", workers=2)
    ser = mapping.write_maps(demo_result, tmp_path / "ser", community_maps="all", workers=1)
    assert [p.name for p in par] == [p.name for p in ser]
    for a, b in zip(par, ser, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_bad_language_and_file_names():
    with pytest.raises(ValueError, match="lang"):
        _display.prepare(
            None, None, None, None, None, None, types=[], type_names={}, thresholds={}, speeds={}, lang="fr"
        )
    assert _display.community_file_name("relation/14400092") == "relation_14400092.html"
    assert _display.community_file_name("../../etc") == "etc.html"
    assert _display.community_file_name("双泉 嘉苑") == "双泉_嘉苑.html"


def test_resident_codes_match_the_gap_threshold():
    speed, thr = 50.0, 5.0
    d = np.array([0.0, 249.99, 250.0, 250.0 + 1e-6, 251.0, 2000.0, np.nan, 10.0])
    placed = np.array([True] * 7 + [False])
    codes = _display.resident_codes(d, placed, speed, thr)
    assert codes.tolist() == [0, 50, 50, 51, 51, 400, -1, -2]
    covered = codes[(codes >= 0)] <= thr * 10
    assert covered.tolist() == [True, True, True, False, False, False]


def test_resident_classes_are_relative_to_the_threshold():
    """Within / up to 2x / beyond the item's own threshold (not fixed 5-minute bins); no data is
    never 'not covered'; exactly at the threshold is covered as in the gap report."""
    d = np.array([0.0, 70.0, 70.0 + 2e-6, 140.0, 141.0, np.nan, 10.0, 100.0, 50.0])
    placed = np.array([True] * 6 + [False, True, True])
    nodata = np.array([False] * 7 + [True, True])
    cls = _display.resident_classes(d, placed, 70.0, nodata)
    assert cls.tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 0]


def test_display_geometry_stays_within_a_metre(demo_result):
    """Walking areas as drawn (simplified, encoded in micro-degrees) stay within 1 m of the
    computed ones, so a covered resident is never drawn outside its area by the display."""
    p = _display.prepare(**_display.map_inputs(demo_result), lang="zh")
    enc = _display.Encoder(p.metric, (116_000_000, 39_000_000))
    simple = _display.clip_simplify(p.iso.geometry.values, None, _display.AREA_TOLERANCE_M, "area")
    from pyproj import Transformer

    back = Transformer.from_crs("EPSG:4326", p.metric, always_xy=True)
    worst = 0.0
    for orig, feat in zip(p.iso.geometry.values, enc.polygons(simple), strict=True):
        polys = []
        for rings in feat:
            coords = []
            for flat in rings:
                xy = np.cumsum(np.asarray(flat, dtype=float).reshape(-1, 2), axis=0) + [116_000_000, 39_000_000]
                x, y = back.transform(xy[:, 0] / 1e6, xy[:, 1] / 1e6)
                coords.append(np.column_stack([x, y]))
            polys.append(shapely.Polygon(coords[0], coords[1:]))
        drawn = shapely.MultiPolygon(polys)
        # each boundary's vertices against the other boundary (Hausdorff distance between lines)
        a = shapely.points(shapely.get_coordinates(orig.boundary))
        b = shapely.points(shapely.get_coordinates(drawn.boundary))
        worst = max(worst, shapely.distance(a, drawn.boundary).max(), shapely.distance(b, orig.boundary).max())
    assert 0 < worst <= 1.0, worst


def test_degenerate_geometry_never_fails_a_map(demo_result, tmp_path):
    """Bow-ties, slivers that collapse, empty and odd geometries in the walking areas and
    boundaries are repaired or left out, never raise."""
    kw = _display.map_inputs(demo_result)
    iso = kw["isochrones"].copy()
    x, y = demo_result.communities.geometry.iloc[0].centroid.coords[0]
    bad = [
        shapely.Polygon([(x, y), (x + 50, y + 50), (x + 50, y), (x, y + 50)]),  # bow-tie
        shapely.Polygon([(x, y), (x + 1e-7, y), (x, y + 1e-7)]),  # collapses to nothing
        shapely.Polygon(
            [(x - 80, y - 80), (x + 80, y - 80), (x + 80, y + 80), (x - 80, y + 80)],
            [[(x, y), (x + 1e-7, y), (x, y + 1e-7)]],  # a hole that is only 3 distinct points
        ),
        shapely.GeometryCollection([shapely.Point(x, y), shapely.LineString([(x, y), (x + 5, y)])]),
        shapely.Polygon(),
    ]
    extra = iso.iloc[[0] * len(bad)].copy()
    extra["geometry"] = bad
    kw["isochrones"] = type(iso)(
        __import__("pandas").concat([iso, extra.set_crs(iso.crs, allow_override=True)]), crs=iso.crs
    )
    comm = kw["communities"].copy()
    comm.loc[comm.index[1], "geometry"] = shapely.Polygon([(x, y), (x + 60, y + 60), (x + 60, y), (x, y + 60)])
    kw["communities"] = comm
    for cid in [None, *comm["id"].astype(str)]:
        m = mapping.make_map(**kw, offline=True, focus=cid)
        mapping.save_map(m, tmp_path / "m.html", offline=True)


# ------------------------------------------------------------------------------------------
# Layout on every screen
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("screen", list(SCREENS))
def test_layout_fits_every_screen(browsers, demo_maps, extra_maps, demo_result, screen):
    drv = browsers(screen)
    cid = str(demo_result.communities["id"].iloc[8])
    for path in (demo_maps[0], community_map(demo_maps, cid), *extra_maps):
        open_map(drv, path, DEMO_LOAD_S)
        assert errors(drv) == []
        w, h = viewport(drv)
        assert (w, h) == SCREENS[screen][:2]
        ps = panels(drv)
        assert "circles-head" in ps and "circles-sheet" in ps and any("attribution" in k for k in ps)
        names = list(ps)
        for i, a in enumerate(names):
            assert inside(ps[a], w, h), (a, ps[a])
            for b in names[i + 1 :]:
                assert overlap(ps[a], ps[b]) == 0, (a, b, ps[a], ps[b])
        share = covered_share(ps.values(), w, h)
        assert share <= MAX_PANEL_SHARE, f"{screen} {path.name}: panels cover {share:.0%}"
        print(f"{screen} {path.name}: panels cover {share:.1%}")
        phone = SCREENS[screen][2]
        assert js(drv, "return document.querySelector('.circles-sheet').classList.contains('open')") is (not phone)
        # one grouped layer list instead of one entry per type and minutes; no Leaflet layer control
        assert js(drv, "return document.querySelectorAll('.leaflet-control-layers').length") == 0
        n_checks = js(drv, "return document.querySelectorAll('.circles-pane .circles-check').length")
        assert n_checks <= 6 + len(demo_result.rulebook.types_used())
        # the sheet opened on any tab never overlaps the header, and the controls move above it
        js(drv, "document.querySelectorAll('.circles-tab')[1].click()")
        settle(drv, 0.2)
        ps = panels(drv)
        for a in ps:
            assert inside(ps[a], w, h), (a, ps[a])
            for b in ps:
                if a < b:
                    assert overlap(ps[a], ps[b]) == 0, ("opened", a, b, ps[a], ps[b])


@pytest.mark.parametrize("screen", list(SCREENS))
def test_popups_fit_the_screen_and_clear_the_panels(browsers, demo_maps, screen):
    drv = browsers(screen)
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    w, h = viewport(drv)
    phone = SCREENS[screen][2]
    press = tap if phone else click_at

    def check(kind: str) -> None:
        settle(drv, 0.6)  # the auto-pan
        pr = rect(drv, ".leaflet-popup")
        assert pr is not None, f"no {kind} popup"
        assert inside(pr, w, h), (kind, pr)
        close = rect(drv, ".leaflet-popup-close-button")
        assert close is not None and inside(close, w, h), (kind, close)
        for name, r in panels(drv).items():
            assert overlap(pr, r) == 0, (kind, name, pr, r)
        js(drv, "circles.current.map.closePopup()")
        settle(drv, 0.3)

    # a community: its full status table
    xy = js(drv, FREE_POINT)
    assert xy, "no free point on a community"
    press(drv, *xy)
    settle(drv, 0.1)
    assert js(drv, "return document.querySelectorAll('.circles-cpop').length") == 1
    check("community")
    # a facility
    js(drv, "document.querySelectorAll('.circles-quick button')[1].click()")  # all types
    settle(drv, 0.2)
    icon = js(
        drv,
        "const f = circles.current.free(), c = circles.current.map.getContainer().getBoundingClientRect();"
        "for (const e of document.querySelectorAll('.leaflet-marker-pane .circles-fac')) {"
        "  const r = e.getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;"
        "  if (x > c.x + f.left + 15 && x < c.x + f.right - 15 && y > c.y + f.top + 15 && y < c.y + f.bottom - 15"
        "      && document.elementFromPoint(x, y) === e) return [x, y]; }"
        "return null;",
    )
    assert icon, "no facility icon in view"
    press(drv, *icon)
    check("facility")
    # a resident: its walk to every item (on a touch screen the dots open when zoomed in)
    if SCREENS[screen][2]:
        js(
            drv,
            "circles.current.map.closePopup(); const P = circles.current.points;"
            "circles.current.map.setView([P._lat[0], P._lng[0]], 17.5, {animate: false})",
        )
        settle(drv, 0.3)
    res = js(drv, RESIDENT_POINT, False)
    assert res, "no resident dot in view"
    press(drv, res[0], res[1])
    settle(drv, 0.2)
    assert js(drv, "return document.querySelectorAll('.circles-resident').length") == 1
    check("resident")
    assert errors(drv) == []


def test_a_tap_on_a_resident_opens_the_resident_not_a_facility(browsers, demo_maps, demo_result):
    drv = browsers("phone")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    js(drv, "document.querySelectorAll('.circles-quick button')[1].click()")  # every facility type shown
    settle(drv, 0.2)
    # zoomed in (dots a finger apart): look for a dot under a facility icon
    hit = None
    for ll in js(
        drv, "return circles.current.d.res ? Object.values(circles.current.d.fac).flat().map(p => [p[0], p[1]]) : []"
    ):
        js(drv, "circles.current.map.setView(arguments[0], 16.5, {animate: false})", ll)
        settle(drv, 0.15)
        hit = js(drv, RESIDENT_POINT, True)
        if hit:
            break
    assert hit, "no resident dot under a facility icon"
    x, y, i = hit
    tap(drv, x, y)
    settle(drv, 0.5)
    assert js(drv, "return document.querySelectorAll('.circles-resident').length") == 1
    assert js(drv, "return document.querySelectorAll('.circles-fpop').length") == 0
    head = js(drv, "return document.querySelector('.circles-resident b').textContent")
    want = js(drv, "return circles.current.points._head(arguments[0])", i)
    assert head == want
    # no hover tooltip on a touch screen, before or after
    assert js(drv, "return document.querySelectorAll('.circles-tip').length") == 0
    js(drv, "circles.current.map.closePopup()")
    js(drv, "document.querySelectorAll('.circles-quick button')[0].click()")  # the selected type only
    settle(drv, 0.3)
    xy = js(drv, FREE_POINT)
    tap(drv, *xy)  # a tap beside the dots opens the community
    settle(drv, 0.5)
    assert js(drv, "return document.querySelectorAll('.circles-cpop').length") == 1
    assert js(drv, "return document.querySelectorAll('.circles-tip').length") == 0
    assert errors(drv) == []


def test_a_tap_in_a_community_at_the_opening_view_opens_its_status(browsers, demo_maps, demo_result):
    """On a phone at the opening view the dots are a few pixels apart: a tap inside a community's
    outline opens the community's status, never one of the dots (they open when zoomed in)."""
    drv = browsers("phone")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    where = (
        "const A = circles.current, m = A.map, f = A.free(), c = m.getContainer().getBoundingClientRect();"
        "return A.d.labels.map(l => m.latLngToContainerPoint([l[0], l[1]]))"
        ".map(q => (q.x > f.left + 10 && q.x < f.right - 10 && q.y > f.top + 10 && q.y < f.bottom - 10)"
        " ? [q.x + c.x, q.y + c.y] : null);"
    )
    start = js(drv, "const v = circles.current.map; return [v.getCenter().lat, v.getCenter().lng, v.getZoom()]")
    pts = [k for k, q in enumerate(js(drv, where)) if q]
    assert len(pts) >= 5
    opened = 0
    for k in pts:
        js(
            drv,
            "circles.current.map.closePopup(); circles.current.map.setView(arguments[0], arguments[1], "
            "{animate: false})",
            start[:2],
            start[2],
        )
        settle(drv, 0.2)
        x, y = js(drv, where)[k]
        tap(drv, x, y)
        settle(drv, 0.4)
        assert js(drv, "return document.querySelectorAll('.circles-resident').length") == 0
        opened += js(drv, "return document.querySelectorAll('.circles-cpop').length")
    assert opened == len(pts)
    assert errors(drv) == []


def test_resident_popup_names_thresholds_not_ids(browsers, demo_maps, demo_result):
    drv = browsers("laptop")
    cid = str(demo_result.communities["id"].iloc[0])
    open_map(drv, community_map(demo_maps, cid), DEMO_LOAD_S)
    js(drv, "circles.current.points.open(0)")
    settle(drv, 0.3)
    text = js(drv, "return document.querySelector('.circles-resident').innerText")
    assert "#" not in text and cid not in text  # no internal point or community id
    n_rules = len(demo_result.rulebook.rules)
    assert text.count("阈值") == n_rules  # each row says its threshold
    assert "灰色" not in text  # no legend wording repeated in every row
    js(drv, "document.querySelector('.circles-to-community').click()")
    settle(drv, 0.3)
    assert js(drv, "return document.querySelector('[data-pane=community]').style.display") == ""


def test_hover_tooltip_follows_the_mouse_and_never_goes_stale(browsers, demo_maps, demo_result):
    drv = browsers("laptop")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    x, y, i = js(drv, RESIDENT_POINT, False)
    hover_at(drv, x, y)
    settle(drv, 0.3)
    tip = js(drv, "var t = document.querySelector('.circles-tip'); return t ? t.textContent : ''")
    rule = js(drv, "return circles.current.rule()")
    assert rule["name"] in tip and ("分钟" in tip or "米" in tip or "无数据" in tip or "路网" in tip), tip
    # another item chosen: the tooltip goes (it would say the old item's minutes)
    other = next(r for r in demo_result.rulebook.rules if r.id != rule["id"])
    select_rule(drv, other.id)
    settle(drv, 0.3)  # a closed tooltip fades out
    assert js(drv, "return document.querySelectorAll('.circles-tip').length") == 0
    hover_at(drv, x, y)
    settle(drv, 0.3)
    tip = js(drv, "var t = document.querySelector('.circles-tip'); return t ? t.textContent : ''")
    assert _labels.rule_name(other, "zh") in tip
    # a click opens the resident and closes the tooltip
    click_at(drv, x, y)
    settle(drv, 0.3)
    assert js(drv, "return document.querySelectorAll('.circles-tip').length") == 0
    rows = js(
        drv,
        "return Array.from(document.querySelectorAll('.circles-resident tr'))"
        ".map(r => [r.cells[0].firstChild.textContent, r.cells[1].textContent])",
    )
    assert [r[0] for r in rows] == [_labels.rule_name(r, "zh") for r in demo_result.rulebook.rules]
    assert any(tip.endswith(f"{r[0]}: {r[1]}") for r in rows), (tip, rows)
    hover_at(drv, 2, viewport(drv)[1] // 2)  # away from the dots
    settle(drv, 0.3)
    assert js(drv, "return document.querySelectorAll('.circles-tip').length") == 0


# ------------------------------------------------------------------------------------------
# What the overview says
# ------------------------------------------------------------------------------------------


def test_overview_reads_at_a_glance(browsers, demo_maps, demo_result):
    drv = browsers("laptop")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    fails = fails_by_community(demo_result)
    ids = [str(c) for c in demo_result.communities["id"]]
    names = [str(n) for n in demo_result.communities["name"]]
    n_rules = len(demo_result.rulebook.rules)
    # communities coloured by how many items fail, on a sequential scale that darkens
    ranges = _display.fail_classes(n_rules)
    lum = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in (rgb(c) for c in _labels.FAIL_COLOURS)]
    assert all(a > b for a, b in zip(lum, lum[1:], strict=False))
    drawn = js(
        drv,
        "return circles.current.comm.getLayers().map(l => [l.options.fillColor, l._path.getAttribute('fill')])",
    )
    assert len(drawn) == len(ids)
    for cid, (opt, fill) in zip(ids, drawn, strict=True):
        k = next(i for i, (lo, hi) in enumerate(ranges) if lo <= fails[cid] <= hi)
        assert opt == fill == _labels.FAIL_COLOURS[k], (cid, fails[cid], opt)
    if len(set(fails.values())) > 1:  # not all one colour (the demo declares no survey: no failing item)
        assert len({d[0] for d in drawn}) >= 2
    legend = js(drv, "return document.querySelector('.circles-legend-static').textContent")
    assert "未达标项目数" in legend and all(f"{lo}–{hi}" in legend for lo, hi in ranges[1:] if lo != hi)
    # names on the map, never on top of each other
    labels = js(
        drv,
        "return Array.from(document.querySelectorAll('.circles-label span'))"
        ".map(e => { const r = e.getBoundingClientRect();"
        " return [e.firstChild.textContent, getComputedStyle(e).visibility, r.left, r.top, r.right, r.bottom]; })",
    )
    assert sorted(lab[0] for lab in labels) == sorted(names)
    shown = [lab for lab in labels if lab[1] == "visible"]
    assert len(shown) >= len(names) // 2
    for i, a in enumerate(shown):
        for b in shown[i + 1 :]:
            assert overlap(a[2:], b[2:]) == 0, (a[0], b[0])
    # only the selected item's facilities
    rule = js(drv, "return circles.current.rule()")
    fac = demo_result.facilities
    assert js(drv, "return document.querySelectorAll('.leaflet-marker-pane .circles-fac').length") == int(
        (fac["facility_type"] == rule["type"]).sum()
    )
    js(drv, "document.querySelectorAll('.circles-quick button')[1].click()")
    assert js(drv, "return document.querySelectorAll('.leaflet-marker-pane .circles-fac').length") == int(
        fac["facility_type"].isin(demo_result.rulebook.types_used()).sum()
    )
    js(drv, "document.querySelectorAll('.circles-quick button')[0].click()")
    # the status table, worst first
    rows = js(
        drv,
        "return Array.from(document.querySelectorAll('.circles-status tr[data-b]'))"
        ".map(r => [r.cells[0].firstChild.nextSibling.textContent.trim(), +r.cells[1].textContent])",
    )
    assert [r[1] for r in rows] == sorted((fails[c] for c in ids), reverse=True)
    by_name = dict(zip(names, ids, strict=True))
    assert all(fails[by_name[n]] == k for n, k in rows)
    assert len(rows) == len(ids)
    assert errors(drv) == []


def test_no_data_items_are_grey_never_uncovered(browsers, demo_maps, demo_result):
    """老年服务站, 托育, 充电: no facility in the input, not surveyed: no resident is drawn as not
    covered (no black ring, none of the reach colours); the legend says why."""
    drv = browsers("laptop")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    rb = demo_result.rulebook
    present = set(demo_result.facilities["facility_type"])
    empty = [r for r in rb.rules if r.facility_type not in present]
    assert {"elderly_care", "childcare", "ev_charging"} <= {r.facility_type for r in empty}
    dots = _labels.REACH_COLOURS
    for rule in empty:
        select_rule(drv, rule.id)
        for k in ("within", "double", "beyond"):
            assert canvas_pixels(drv, dots[k]) == 0, (rule.id, k)
        assert canvas_pixels(drv, "#111111") == 0, rule.id  # no ring
        assert canvas_pixels(drv, dots["nodata"]) > 10 * int(demo_result.residents["placed"].sum())
        legend = js(drv, "return document.querySelector('.circles-legend-dyn').textContent")
        assert "不是缺口" in legend and "无数据" in legend
        assert js(drv, "return document.querySelectorAll('path.circles-area').length") == 0
    # an item with data: the reach colours and rings are there
    select_rule(drv, "park")
    assert canvas_pixels(drv, dots["within"]) > 0 and canvas_pixels(drv, "#111111") > 0


def test_dot_colours_follow_each_items_threshold(browsers, demo_maps, demo_result):
    """Every resident's colour class for every item equals the one computed here from the walking
    distances, the item's threshold and the gap report (no fixed 5/10-minute bins)."""
    drv = browsers("laptop")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    for rule in demo_result.rulebook.rules:
        got = js(
            drv,
            "const P = circles.current.points; return Array.from({length: P._n}, (_, i) => P.cls(i, arguments[0]));",
            rule.id,
        )
        want = expected_classes(demo_result, rule)
        assert got == want.tolist(), rule.id
    # the colours drawn: a 5-minute item with residents beyond twice its threshold
    rule = next(r for r in demo_result.rulebook.rules if r.id == "kindergarten")
    select_rule(drv, rule.id)
    want = expected_classes(demo_result, rule)
    for k, name in enumerate(("within", "double", "beyond")):
        n = canvas_pixels(drv, _labels.REACH_COLOURS[name])
        assert (n > 0) == bool((want == k).any()), (name, n)
    # the resident's own popup says covered / not covered as its class does
    res = js(drv, RESIDENT_POINT, False)
    click_at(drv, res[0], res[1])
    settle(drv, 0.3)
    row = js(drv, "return document.querySelector('.circles-resident tr.sel').textContent")
    k = int(want[res[2]])
    assert ("未覆盖" in row) == (k in (1, 2)) and ("已覆盖" in row) == (k == 0), (row, k)
    js(drv, "circles.current.map.closePopup()")


def test_walking_areas_follow_the_selector(browsers, demo_maps, demo_result, tmp_path):
    drv = browsers("projector")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    kw = _display.map_inputs(demo_result)
    colours = _display.type_colours(kw["types"], set(demo_result.facilities["facility_type"]))
    seen = set()
    for rid in ("kindergarten", "clinic", "park", "park_15min"):
        select_rule(drv, rid)
        rule = demo_result.rulebook.rule(rid)
        strokes = js(
            drv, "return Array.from(document.querySelectorAll('path.circles-area')).map(p => p.getAttribute('stroke'))"
        )
        assert strokes == [colours[rule.facility_type]], (rid, strokes)
        on = js(drv, "return document.querySelector('.circles-mins button.on').textContent")
        # the minute button whose walk is the item's own distance at the item's own speed (300 m =
        # 5 min at the 5-minute level's 60 m/min; park_15min's 1000 m = 15 min at 66.7 m/min, while
        # the park type's first item walks at 60), else the item's own distance in metres
        thr_m, speed = demo_result.rulebook.threshold_m(rule), demo_result.rulebook.speed_of(rule)
        mins = thr_m / speed
        own = f"{round(mins)}分" if abs(mins - round(mins)) < 0.02 else f"{thr_m:.0f}米"
        assert on == own, (rid, on)  # the area of the item's own threshold
        # every button: its minutes at this item's speed are its area's distance, else metres
        labels = js(drv, "return Array.from(document.querySelectorAll('.circles-mins button')).map(b => b.textContent)")
        dists = js(drv, "return window.circles.current.d.areas[arguments[0]].map(e => e.d)", rule.facility_type)
        for label, d in zip(labels[:-1], dists, strict=True):  # less 关 (off)
            m = float(label[:-1])
            assert (abs(m * speed - d) < 2) if label.endswith("分") else (m == round(d)), (rid, label, d)
        seen.add(js(drv, "return document.querySelector('path.circles-area').getAttribute('d')"))
    assert len(seen) == 4
    # one 5/10/15 choice: another distance, then none
    select_rule(drv, "park")
    js(drv, "Array.from(document.querySelectorAll('.circles-mins button')).find(b => b.textContent === '10分').click()")
    d10 = js(drv, "return document.querySelector('path.circles-area').getAttribute('d')")
    assert d10 not in seen
    js(drv, "Array.from(document.querySelectorAll('.circles-mins button')).pop().click()")
    assert js(drv, "return document.querySelectorAll('path.circles-area').length") == 0
    # an item whose threshold has no walking area of its own: none drawn, and the legend says so
    kw = _display.map_inputs(demo_result)
    iso = kw["isochrones"]
    rule = demo_result.rulebook.rule("kindergarten")
    own = (iso["facility_type"] == "kindergarten") & ((iso["distance_m"] - rule_m(demo_result, rule)).abs() <= 1)
    assert own.any()
    kw["isochrones"] = iso[~own]
    path = mapping.save_map(mapping.make_map(**kw, offline=True), tmp_path / "no_own.html", offline=True)
    open_map(drv, path, DEMO_LOAD_S)
    select_rule(drv, "kindergarten")
    assert js(drv, "return document.querySelectorAll('path.circles-area').length") == 0
    assert js(drv, "return document.querySelector('.circles-mins button.on').textContent") == "关"
    assert "没有对应的步行范围" in js(drv, "return document.querySelector('.circles-legend-dyn').textContent")


def test_one_name_per_item_everywhere(browsers, demo_maps, demo_result):
    drv = browsers("laptop")
    rb = demo_result.rulebook
    names = {r.id: _labels.rule_name(r, "zh") for r in rb.rules}
    texts = {
        r.id: _labels.threshold_text(rb.threshold_minutes(r), rb.threshold_m(r), r.distance_m is not None, "zh")
        for r in rb.rules
    }
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    options = js(
        drv, "return Array.from(document.querySelectorAll('.circles-rule option')).map(o => [o.value, o.textContent])"
    )
    assert [o[0] for o in options] == [r.id for r in rb.rules]
    for rid, text in options:
        assert text.startswith(f"{names[rid]} · {texts[rid]}"), text
    select_rule(drv, "waste_point")
    legend = js(drv, "return document.querySelector('.circles-legend-dyn').textContent")
    assert names["waste_point"] in legend and "70米" in legend
    # community popups and community maps: the same names and thresholds
    popup = js(drv, "return circles.current.comm.getLayers()[0].getPopup().getContent()")
    cells = re.findall(r'<tr data-rule="([^"]+)"><td>([^<]+)</td><td>([^<]+)</td>', popup)
    assert len(cells) == len(rb.rules)
    for rid, name, thr in cells:
        assert (name, thr) == (names[rid], texts[rid])
    cid = str(demo_result.communities["id"].iloc[0])
    open_map(drv, community_map(demo_maps, cid), DEMO_LOAD_S)
    js(drv, "document.querySelector('.circles-tab[data-tab=community]').click()")
    rows = js(
        drv,
        "return Array.from(document.querySelectorAll('.circles-gaps tr[data-rule]'))"
        ".map(r => [r.dataset.rule, r.cells[0].textContent, r.cells[1].textContent])",
    )
    assert sorted(rows) == sorted([rid, names[rid], texts[rid]] for rid in names)
    # a row picks its item
    js(drv, "document.querySelector('.circles-gaps tr[data-rule=\"clinic\"]').click()")
    assert js(drv, "return circles.current.rule().id") == "clinic"
    # never a threshold like "1.05 分钟"
    page = js(drv, "return document.body.innerText + document.querySelector('.circles-rule').innerText")
    assert not re.search(r"\d\.\d\d\s*分钟", page)


def test_community_map_in_browser(browsers, demo_maps, demo_result):
    drv = browsers("laptop")
    r = demo_result
    cid = str(r.communities["id"].iloc[0])
    open_map(drv, community_map(demo_maps, cid), DEMO_LOAD_S)
    assert errors(drv) == []
    n_rules = int((r.gaps["community_id"].astype(str) == cid).sum())
    assert js(drv, "return document.querySelectorAll('.circles-gaps tr[data-rule]').length") == n_rules
    title = js(drv, "return document.querySelector('.circles-title').textContent")
    assert str(r.communities["name"].iloc[0]) in title
    assert js(drv, "return document.querySelector('.circles-title a').getAttribute('href')") == "../map.html"
    n_res = int((r.residents["community_id"].astype(str) == cid).sum())
    assert js(drv, "return circles.current.points._n") == n_res
    # the community is drawn thicker than its neighbours, whole and in view
    weights = js(
        drv,
        "return Array.from(document.querySelectorAll('path.circles-community'))"
        ".map(p => +p.getAttribute('stroke-width'))",
    )
    assert max(weights) == 3.5 and weights.count(3.5) == 1
    box = rect(drv, "path.circles-focus")
    w, h = viewport(drv)
    assert box is not None and inside(box, w, h)
    assert js(drv, "return circles.current.map.getZoom()") <= mapping.FIT_MAX_ZOOM
    assert canvas_pixels(drv) > 0


def test_english_map(browsers, demo_result, tmp_path):
    drv = browsers("laptop")
    path = mapping.save_map(mapping.result_map(demo_result, lang="en"), tmp_path / "en.html", offline=True)
    open_map(drv, path, DEMO_LOAD_S)
    assert errors(drv) == []
    text = js(drv, "return document.querySelector('.circles-sheet').textContent")
    assert "Legend" in text and "Layers" in text and "图例" not in text
    options = js(drv, "return document.querySelector('.circles-rule').textContent")
    assert "Kindergarten" in options and "min" in options and "幼儿园" not in options


def test_online_map_does_not_render_without_network(browsers, demo_result, tmp_path):
    """Control: the same checks catch a map that needs the internet (CDN Leaflet)."""
    drv = browsers("laptop")
    path = mapping.save_map(mapping.result_map(demo_result, offline=False), tmp_path / "online.html", offline=False)
    with pytest.raises(AssertionError, match="not ready"):
        open_map(drv, path, 3.0)
    assert js(drv, "return typeof L") == "undefined"


def test_street_names_are_drawn_where_the_network_has_them(browsers, demo_result, tmp_path):
    drv = browsers("laptop")
    kw = _display.map_inputs(demo_result)
    streets = kw["streets"].copy()
    long = streets.geometry.length.to_numpy() > 80
    names = np.where(long, [f"路{i % 7}" for i in range(len(streets))], "")
    streets["name"] = names
    kw["streets"] = streets
    path = mapping.save_map(mapping.make_map(**kw, offline=True), tmp_path / "named.html", offline=True)
    open_map(drv, path, DEMO_LOAD_S)
    js(drv, "const m = circles.current.map; m.setZoom(17, {animate: false});")
    time.sleep(0.3)
    shown = js(
        drv,
        "return Array.from(document.querySelectorAll('.circles-road span'))"
        ".filter(e => getComputedStyle(e).visibility === 'visible').map(e => e.textContent)",
    )
    assert shown and set(shown) <= {f"路{i}" for i in range(7)}
    # the demo's OSM names its streets: the map labels them
    named = mapping.save_map(mapping.result_map(demo_result), tmp_path / "osm.html", offline=True)
    assert '"roads":[]' not in named.read_text(encoding="utf-8") and "清华东路" in named.read_text(encoding="utf-8")
    # no names on the network: no labels
    unnamed = dataclasses.replace(demo_result, network=dataclasses.replace(demo_result.network, name=None))
    plain = mapping.save_map(mapping.result_map(unnamed), tmp_path / "plain.html", offline=True)
    assert '"roads":[]' in plain.read_text(encoding="utf-8")


def test_demo_screenshot_is_not_blank(browsers, demo_maps, tmp_path):
    drv = browsers("phone")
    open_map(drv, demo_maps[0], DEMO_LOAD_S)
    settle(drv, 0.3)
    shot = tmp_path / "phone.png"
    drv.save_screenshot(str(shot))
    img = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    _, counts = np.unique(img, axis=0, return_counts=True)
    assert 1.0 - counts.max() / counts.sum() > 0.15


def test_per_community_walking_areas_are_used_when_given(demo_result, tmp_path):
    """Walking areas with a community_id: a community's map draws its own, the overview the shared ones."""
    kw = _display.map_inputs(demo_result)
    iso = kw["isochrones"]
    cid = str(demo_result.communities["id"].iloc[2])
    own = iso[(iso["facility_type"] == "kindergarten") & (iso["minutes"] == 5)].iloc[[0]].copy()
    # around the kindergarten nearest to the community (an area floating away from every
    # kindergarten would be dropped as detached)
    kg = demo_result.facilities[demo_result.facilities["facility_type"] == "kindergarten"].geometry
    near = kg.iloc[int(np.argmin(kg.distance(demo_result.communities.geometry.iloc[2]).to_numpy()))]
    x, y = near.representative_point().coords[0]
    box = gpd.GeoSeries([shapely.box(x - 40, y - 40, x + 40, y + 40)], crs=demo_result.communities.crs)
    own["geometry"] = box.to_crs(iso.crs).values
    own["community_id"] = cid
    both = gpd.GeoDataFrame(pd.concat([iso.assign(community_id=None), own], ignore_index=True), crs=iso.crs)
    kw["isochrones"] = both

    def kindergarten_area(page: str) -> list:
        data = json.loads(re.search(r"circles\.app\([^,]+, (\{.*?\}), \{\"title", page, re.S).group(1))
        entry = next(e for e in data["areas"]["kindergarten"] if abs(e["m"] - 5) < 1e-9)
        return entry["g"]

    mine = mapping.make_map(**kw, offline=True, focus=cid).get_root().render()
    shared = mapping.make_map(**kw, offline=True).get_root().render()
    other = mapping.make_map(**kw, offline=True, focus=str(demo_result.communities["id"].iloc[0])).get_root().render()
    assert sum(len(ring) for f in kindergarten_area(mine) for poly in f for ring in poly) == 8  # the 80 m box
    assert len(kindergarten_area(shared)) >= 1 and kindergarten_area(shared) != kindergarten_area(mine)
    assert kindergarten_area(other) != kindergarten_area(mine)


def test_an_overview_with_too_many_streets_draws_them_as_a_picture(browsers, demo_result, tmp_path, monkeypatch):
    monkeypatch.setattr(mapping, "MAX_OVERVIEW_STREET_COORDS", 10)
    a = mapping.save_map(mapping.result_map(demo_result), tmp_path / "a.html", offline=True)
    b = mapping.save_map(mapping.result_map(demo_result), tmp_path / "b.html", offline=True)
    assert a.read_bytes() == b.read_bytes()
    page = a.read_text(encoding="utf-8")
    assert '"streets":[]' in page and '"streetsImg":{"url":"data:image/png;base64,' in page
    drv = browsers("laptop")
    open_map(drv, a, DEMO_LOAD_S)
    img = rect(drv, "img.circles-streets-img")
    w, h = viewport(drv)
    assert img is not None and img[2] - img[0] > w / 4
    assert "图片" in js(drv, "return document.querySelector('.circles-legend-static').textContent")
    assert errors(drv) == []


def test_line_coverage_hand_computed():
    """A level segment along a pixel row's centre covers each pixel it crosses by its length there
    times the line width; a sloping one keeps its length × width in all; nothing else is drawn."""
    width = mapping.STREET_RASTER_WIDTH_PX
    cover = mapping.line_coverage(np.array([[2.0, 5.5]]), np.array([[12.0, 5.5]]), 20, 10)
    assert cover.shape == (10, 20)
    assert np.allclose(cover[5, 3:11], width)  # whole pixels: 1 px of line each
    assert np.isclose(cover.sum(), 10 * width)  # 10 px long, all inside
    assert cover[[0, 1, 2, 3, 4, 6, 7, 8, 9]].sum() == 0 and cover[5, :1].sum() == 0 and cover[5, 13:].sum() == 0
    slope = mapping.line_coverage(np.array([[1.0, 1.0]]), np.array([[7.0, 9.0]]), 20, 10)
    assert np.isclose(slope.sum(), 10 * width)  # a 6-8-10 triangle's long side
    assert slope.max() <= 1.0
    clipped = mapping.line_coverage(np.array([[-5.0, 5.5]]), np.array([[5.0, 5.5]]), 20, 10)
    assert 4.5 * width < clipped.sum() < 5.5 * width  # only what lies in the picture


def test_overview_street_picture_draws_every_street_and_nothing_else(demo_result, monkeypatch):
    """The picture of the streets, read back: every street piece's middle is drawn, and every drawn
    pixel lies within 1.5 px of a street (shapely's distance, not the drawing's own arithmetic)."""
    monkeypatch.setattr(mapping, "MAX_OVERVIEW_STREET_COORDS", 10)
    data = _app_data(mapping.result_map(demo_result))
    img = data["streetsImg"]
    raw = base64.b64decode(img["url"].split(",", 1)[1])
    alpha = np.asarray(Image.open(io.BytesIO(raw)).convert("RGBA"))[..., 3]
    h, w = alpha.shape
    (lat0, lon0), (lat1, lon1) = img["b"]
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (x0, x1), (y0, y1) = to_merc.transform([lon0, lon1], [lat0, lat1])
    p = _display.prepare(**_display.map_inputs(demo_result), lang="zh")
    merc = gpd.GeoSeries(p.streets.geometry.values, crs=p.metric).to_crs("EPSG:3857").values
    pixels = shapely.transform(
        merc, lambda c: np.column_stack([(c[:, 0] - x0) / (x1 - x0) * w, (y1 - c[:, 1]) / (y1 - y0) * h])
    )
    mids = shapely.get_coordinates(shapely.line_interpolate_point(pixels, 0.5, normalized=True))
    assert len(mids) > 300
    assert (alpha[mids[:, 1].astype(int).clip(0, h - 1), mids[:, 0].astype(int).clip(0, w - 1)] > 0).all()
    ys, xs = np.nonzero(alpha)
    centres = shapely.points(xs + 0.5, ys + 0.5)
    tree = shapely.STRtree(pixels)
    _, dist = tree.query_nearest(centres, return_distance=True, all_matches=False)
    assert len(dist) == len(centres) and dist.max() <= 1.5


def _app_data(m) -> dict:
    app = next(c for c in m._children.values() if type(c).__name__ == "_App")
    return json.loads(app.data)


def _decode_polys(feat, origin) -> list:
    """Encoded polygons (see circles._display.Encoder) -> shapely polygons in lon/lat."""
    out = []
    for rings in feat:
        coords = []
        for flat in rings:
            a = np.cumsum(np.asarray(flat, dtype=float).reshape(-1, 2), axis=0) + origin
            coords.append(a / 1e6)
        out.append(shapely.Polygon(coords[0], coords[1:]))
    return out


def test_walking_areas_are_whole_around_each_community(demo_result):
    """Every walking area that meets a community is drawn whole on its map within the box of its
    streets (cut only there, at least a kilometre from the community), no area is listed without
    something drawn, and no drawn part floats away from every facility of its type."""
    crs = demo_result.communities.crs
    iso = demo_result.isochrones.to_crs(crs)
    comm = demo_result.communities
    fac = demo_result.facilities
    rb = demo_result.rulebook
    reach = max([rb.threshold_m(r) for r in rb.rules] + [mapping.MIN_REACH_M])
    checked = 0
    for k in range(len(comm)):
        cid, poly = str(comm["id"].iloc[k]), comm.geometry.iloc[k]
        x0, y0, x1, y1 = poly.bounds
        box = shapely.box(x0 - reach, y0 - reach, x1 + reach, y1 + reach).buffer(-5)
        data = _app_data(mapping.result_map(demo_result, focus=cid))
        own = iso[iso["community_id"].astype(str) == cid] if "community_id" in iso else iso
        own = own if len(own) else iso
        for t, entries in data["areas"].items():
            f = fac[(fac["facility_type"] == t) & fac["placed"]].geometry
            for e in entries:
                assert e["g"], (cid, t, e["d"])
                ll = gpd.GeoSeries(_decode_polys(e["g"][0], data["o"]), crs="EPSG:4326").to_crs(crs)
                drawn = shapely.union_all(ll.values)
                sel = own[(own["facility_type"] == t) & (np.round(own["distance_m"], 1) == e["d"])]
                whole = shapely.union_all(sel.geometry.values)
                for g in shapely.get_parts(whole):
                    if not g.intersects(poly):
                        continue
                    inside = g.intersection(box)
                    assert drawn.intersection(inside).area >= 0.97 * inside.area, (cid, t, e["d"])
                    checked += 1
                for part in shapely.get_parts(drawn):
                    assert shapely.distance(part, f.values).min() < 3.0, (cid, t, e["d"])
    assert checked > 0
