"""The maps, checked in a real browser: headless Chromium with the network cut off.

Chromium and its driver are Debian packages (``chromium``, ``chromium-driver``) installed by
``.ci/install_browser.sh``; these tests fail (never skip) when they are missing.

The demo screenshot linked from the README is refreshed with::

    CIRCLES_UPDATE_SCREENSHOT=1 python -m pytest tests/test_maps.py -k overview

which writes ``maps/demo_map.png`` (otherwise the test writes it to a temporary folder only).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from circles import _display, mapping

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1280, 800
#: Seconds a map may take to be ready in the browser (demo; the 100,000-resident map).
DEMO_LOAD_S = 15.0
BIG_LOAD_S = 30.0
#: Size bounds (bytes): the offline demo overview map, and the 100,000-resident map.
DEMO_MAX_BYTES = 800_000
BIG_MAX_BYTES = 12_000_000


# ------------------------------------------------------------------------------------------
# Browser
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"headless Chromium is needed for the map tests ({', '.join(missing)} missing): "
            "run `bash .ci/install_browser.sh` as root first",
            pytrace=False,
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[test]' (or run .ci/install_browser.sh)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        # any fetch goes to a closed local port: nothing can come from the internet
        "--proxy-server=127.0.0.1:9",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    yield drv
    drv.quit()


def open_map(drv, path: Path, timeout: float) -> float:
    """Load ``path``; return the seconds until the map said it is ready (fails after ``timeout``)."""
    drv.get("about:blank")
    drv.get_log("browser")  # empty the log
    t0 = time.perf_counter()
    drv.get(path.resolve().as_uri())
    while time.perf_counter() - t0 < timeout:
        if drv.execute_script("return !!document.querySelector('[data-circles-ready]')"):
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise AssertionError(f"{path.name} not ready after {timeout} s; browser log: {drv.get_log('browser')}")


def errors(drv) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def js(drv, script: str, *args):
    return drv.execute_script(script, *args)


def popup_html(drv) -> str:
    """The newest popup's content (a closed popup fades out for a moment)."""
    return js(
        drv,
        "var p = document.querySelectorAll('.leaflet-popup-content'); return p.length ? p[p.length - 1].innerHTML : ''",
    )


def count(drv, selector: str) -> int:
    return js(drv, "return document.querySelectorAll(arguments[0]).length", selector)


def points_layer(drv) -> str:
    """Name of the resident layer's JavaScript variable."""
    name = js(drv, "return Object.keys(window).find(k => window[k] instanceof circles.Points) || null")
    assert name, "no resident layer on the map"
    return name


def canvas_pixels(drv, rgb: tuple[int, int, int] | None = None) -> int:
    """Pixels of the resident canvas that are drawn (or exactly of colour ``rgb``)."""
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
        list(rgb) if rgb else None,
    )


def not_blank(png: Path) -> float:
    """Share of pixels that differ from the most common (background) colour."""
    img = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(img, axis=0, return_counts=True)
    return 1.0 - counts.max() / counts.sum()


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def remote_refs(page: str) -> list[str]:
    return re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["\']?(?:https?:)?//[^"\' >]+', page)


# ------------------------------------------------------------------------------------------
# The demo maps
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_maps(demo_result, tmp_path_factory) -> list[Path]:
    return mapping.write_maps(demo_result, tmp_path_factory.mktemp("maps"), lang="zh", offline=True)


def test_offline_html_is_self_contained_and_small(demo_maps, demo_result):
    overview = demo_maps[0]
    assert overview.name == "map.html"
    assert len(demo_maps) == 1 + len(demo_result.communities)
    for p in demo_maps:
        page = p.read_text(encoding="utf-8")
        assert remote_refs(page) == [], p
        assert "* Leaflet 1.9" in page and "<style>/* required styles */" in page  # Leaflet inlined
        assert mapping.ATTRIBUTION in page
    size = overview.stat().st_size
    assert size < DEMO_MAX_BYTES, f"demo overview map is {size} bytes"
    # the online variant only references Leaflet and the tiles (no jQuery, Bootstrap, awesome-markers)
    m = mapping.make_map(**_display.map_inputs(demo_result), lang="zh", offline=False)
    online = m.get_root().render()
    refs = remote_refs(online)
    assert refs and all("leaflet" in r for r in refs), refs
    assert "tile.openstreetmap.org" in online


def test_overview_map_in_browser(browser, demo_maps, demo_result, tmp_path):
    overview = demo_maps[0]
    elapsed = open_map(browser, overview, DEMO_LOAD_S)
    time.sleep(0.3)
    assert errors(browser) == []
    # nothing but the file itself was loaded
    loaded = js(browser, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in loaded if not u.startswith(("data:", "file:"))] == []
    assert js(browser, "return typeof L.markerClusterGroup") == "undefined"  # 80 facilities: no clustering

    n_comm = len(demo_result.communities)
    r = demo_result
    types = r.rulebook.types_used()
    fac = r.facilities[r.facilities["facility_type"].isin(types)]
    assert count(browser, "path.circles-community.leaflet-interactive") == n_comm
    assert count(browser, "path.leaflet-interactive") >= n_comm
    assert count(browser, ".leaflet-marker-pane .circles-fac") == len(fac)
    assert count(browser, ".leaflet-marker-pane .circles-aside") == int((~fac["placed"]).sum())
    assert count(browser, "path.circles-area") >= 1  # the default type's walking areas
    labels = js(
        browser,
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(l => l.textContent.trim())",
    )
    for want in ("社区边界", "步行路网", "居民点"):
        assert any(want in lab for lab in labels), (want, labels)
    names = {t: r.rulebook.facility_types[t].name_zh for t in types}
    for t in fac["facility_type"].unique():
        assert any(f"设施：{names[t]}" in lab for lab in labels), (t, labels)
    assert any("步行范围" in lab for lab in labels)
    attribution = js(browser, "return document.querySelector('.leaflet-control-attribution').textContent")
    assert mapping.ATTRIBUTION in attribution
    assert count(browser, ".leaflet-control-scale-line") == 1
    assert "图例" in js(browser, "return document.querySelector('.circles-legend').textContent")
    assert count(browser, ".circles-table tr[data-b]") == n_comm
    assert canvas_pixels(browser) > len(r.residents) * 5  # resident points drawn

    shot = tmp_path / "demo_map.png"
    browser.save_screenshot(str(shot))
    assert Image.open(shot).size == (WIDTH, HEIGHT)
    assert not_blank(shot) > 0.15
    if os.environ.get("CIRCLES_UPDATE_SCREENSHOT"):
        Image.open(shot).convert("RGB").quantize(256).save(REPO / "maps" / "demo_map.png", optimize=True)
    print(f"overview ready in {elapsed:.2f} s, {overview.stat().st_size} bytes")


def test_resident_colours_follow_the_selected_type(browser, demo_maps, demo_result):
    """Choosing a type in the selector recolours the residents with that type's minutes."""
    r = demo_result
    types = r.rulebook.types_used()
    kw = _display.map_inputs(r)
    within5 = {}
    for t in types:
        d = r.residents[f"dist_{t}"].to_numpy(dtype=float)
        within5[t] = int(np.nansum(d / kw["speeds"][t] <= 5.0 - 0.05))
    far = next(t for t in types if within5[t] == 0 and r.residents[f"dist_{t}"].notna().any())
    near = max(types, key=lambda t: within5[t])
    assert within5[near] > 0
    open_map(browser, demo_maps[0], DEMO_LOAD_S)
    green = rgb(mapping.MINUTE_COLOURS[0])
    select = "document.querySelector('.circles-selector select')"
    js(browser, f"{select}.value = arguments[0]; {select}.dispatchEvent(new Event('change'))", far)
    assert js(browser, "return window[arguments[0]].getType()", points_layer(browser)) == far
    assert canvas_pixels(browser, green) == 0
    js(browser, f"{select}.value = arguments[0]; {select}.dispatchEvent(new Event('change'))", near)
    assert canvas_pixels(browser, green) > 10 * within5[near]
    thr = kw["thresholds"][near]
    assert js(browser, "return document.querySelector('.circles-thr').textContent") == f"{thr:g}"
    assert errors(browser) == []


def test_popups_tooltips_and_layer_toggle(browser, demo_maps, demo_result):
    from selenium.webdriver.common.action_chains import ActionChains

    open_map(browser, demo_maps[0], DEMO_LOAD_S)
    # a facility popup: name, type, source
    fac = demo_result.facilities
    named = fac[(fac["name"].fillna("") != "") & fac["facility_type"].isin(demo_result.rulebook.types_used())]
    row = named.iloc[0]
    js(
        browser,
        "Array.from(document.querySelectorAll('.leaflet-marker-pane .circles-fac'))"
        ".find(e => e.title === arguments[0]).click()",
        row["name"],
    )
    popup = popup_html(browser)
    assert row["name"] in popup and "OpenStreetMap" in popup and "类型" in popup
    # a community popup: its gap table
    # (clicked beside the resident dots: a click on a dot opens the resident instead)
    name = points_layer(browser)
    assert js(
        browser,
        f"var pts = window['{name}'], m = pts._map, c = m.getContainer().getBoundingClientRect();"
        "var paths = Array.from(document.querySelectorAll('path.circles-community'));"
        "for (var p of paths) { var b = p.getBoundingClientRect();"
        "  for (var fx = 0.1; fx < 1; fx += 0.1) for (var fy = 0.1; fy < 1; fy += 0.1) {"
        "    var x = b.x + fx * b.width, y = b.y + fy * b.height;"
        "    if (document.elementFromPoint(x, y) !== p) continue;"
        "    if (pts._nearest(L.point(x - c.x, y - c.y), 1) >= 0) continue;"
        "    p.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: x, clientY: y}));"
        "    return true; } }"
        "return false;",
    )
    popup = popup_html(browser)
    assert "<table>" in popup and any(str(n) in popup for n in demo_result.communities["name"])
    assert any(s in popup for s in ("缺口", "部分覆盖", "达标", "无数据"))
    js(browser, "Array.from(document.querySelectorAll('.leaflet-popup-close-button')).pop().click()")
    time.sleep(0.5)  # let a popup's auto-pan end
    # hovering a resident shows its walking minutes
    x, y = js(
        browser,
        f"var p = window['{name}'], m = p._map, s = m.getSize(), best = null, bd = 1e18;"
        "for (var i = 0; i < p._n; i++) { var c = m.latLngToContainerPoint([p._lat[i], p._lng[i]]);"
        "  var d = (c.x - s.x / 2) ** 2 + (c.y - s.y / 2) ** 2; if (d < bd) { bd = d; best = c; } }"
        "return [best.x, best.y];",
    )
    container = browser.find_element("css selector", ".folium-map")
    ActionChains(browser).move_to_element_with_offset(container, int(x - WIDTH / 2), int(y - HEIGHT / 2)).perform()
    time.sleep(0.3)
    tip = js(browser, "var t = document.querySelector('.circles-tip'); return t ? t.textContent : ''")
    assert "分钟" in tip or "无此类设施" in tip or "路网" in tip, tip
    # clicking (or tapping) it lists the minutes to every type; the selected type's row says
    # what the tooltip said
    ActionChains(browser).move_to_element_with_offset(
        container, int(x - WIDTH / 2), int(y - HEIGHT / 2)
    ).click().perform()
    time.sleep(0.3)
    rows = js(
        browser,
        "return Array.from(document.querySelectorAll('.circles-resident tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent))",
    )
    options = js(browser, "return Array.from(document.querySelectorAll('.circles-selector option')).length")
    assert len(rows) == options > 3
    assert any(tip.endswith(f"{r[0]}: {r[1]}") for r in rows), (tip, rows)
    js(browser, "Array.from(document.querySelectorAll('.leaflet-popup-close-button')).pop().click()")
    # switching on another type's walking areas through the layer control adds polygons
    before = count(browser, "path.circles-area")
    # as a user does: hover over the control (it expands), then tick a box
    ActionChains(browser).move_to_element(browser.find_element("css selector", ".leaflet-control-layers")).perform()
    time.sleep(0.2)
    boxes = browser.find_elements("css selector", ".leaflet-control-layers-overlays label")
    off = [b for b in boxes if "步行范围" in b.text and not b.find_element("css selector", "input").is_selected()]
    assert off
    off[0].find_element("css selector", "input").click()
    assert count(browser, "path.circles-area") > before
    assert errors(browser) == []


def test_community_map_in_browser(browser, demo_maps, demo_result):
    r = demo_result
    cid = str(r.communities["id"].iloc[0])
    path = next(p for p in demo_maps if p.name == _display.community_file_name(cid))
    open_map(browser, path, DEMO_LOAD_S)
    assert errors(browser) == []
    n_rules = int((r.gaps["community_id"].astype(str) == cid).sum())
    assert count(browser, ".circles-table tr") == n_rules + 1
    title = js(browser, "return document.querySelector('.circles-title').textContent")
    assert str(r.communities["name"].iloc[0]) in title
    assert js(browser, "return document.querySelector('.circles-title a').getAttribute('href')") == "../map.html"
    n_res = int((r.residents["community_id"].astype(str) == cid).sum())
    assert js(browser, "return window[arguments[0]]._n", points_layer(browser)) == n_res
    # the community is drawn thicker than its neighbours
    weights = js(
        browser,
        "return Array.from(document.querySelectorAll('path.circles-community'))"
        ".map(p => +p.getAttribute('stroke-width'))",
    )
    assert max(weights) == 3.5 and weights.count(3.5) == 1
    # it is drawn whole, in view (not clipped by a renderer left at the opening zoom)
    drawn, expected, zoom = js(
        browser,
        """
        const m = window[Object.keys(window).find(k => /^map_/.test(k))];
        const el = Array.from(document.querySelectorAll('path.circles-community'))
          .find(p => +p.getAttribute('stroke-width') === 3.5);
        let layer = null;
        m.eachLayer(l => { if (l._path === el) layer = l; });
        const b = layer.getBounds(), a = m.latLngToContainerPoint(b.getNorthWest()),
              c = m.latLngToContainerPoint(b.getSouthEast()), r = el.getBoundingClientRect();
        return [[r.width, r.height, r.left, r.top], [c.x - a.x, c.y - a.y, a.x, a.y], m.getZoom()];""",
    )
    assert np.allclose(drawn, expected, atol=5), (drawn, expected)
    assert expected[2] >= 0 and expected[2] + expected[0] <= WIDTH and 0 <= expected[3] <= HEIGHT
    assert zoom <= mapping.FIT_MAX_ZOOM
    assert canvas_pixels(browser) > 0


def test_english_map(browser, demo_result, tmp_path):
    m = mapping.make_map(**_display.map_inputs(demo_result), lang="en", offline=True)
    path = mapping.save_map(m, tmp_path / "en.html", offline=True)
    open_map(browser, path, DEMO_LOAD_S)
    assert errors(browser) == []
    labels = js(browser, "return document.querySelector('.leaflet-control-layers-overlays').textContent")
    assert "Communities" in labels and "Walking network" in labels and "社区边界" not in labels
    assert "Legend" in js(browser, "return document.querySelector('.circles-legend').textContent")
    assert "Status per community" in js(browser, "return document.querySelector('.circles-table').textContent")


def test_online_map_does_not_render_without_network(browser, demo_result, tmp_path):
    """Control: the same checks catch a map that needs the internet (CDN Leaflet)."""
    m = mapping.make_map(**_display.map_inputs(demo_result), lang="zh", offline=False)
    path = mapping.save_map(m, tmp_path / "online.html", offline=False)
    with pytest.raises(AssertionError, match="not ready"):
        open_map(browser, path, 3.0)
    assert js(browser, "return typeof L") == "undefined"


# ------------------------------------------------------------------------------------------
# Encoding and a large synthetic map
# ------------------------------------------------------------------------------------------


def test_resident_codes_match_the_gap_threshold():
    speed, thr = 50.0, 5.0
    d = np.array([0.0, 249.99, 250.0, 250.0 + 1e-6, 251.0, 2000.0, np.nan, 10.0])
    placed = np.array([True] * 7 + [False])
    codes = _display.resident_codes(d, placed, speed, thr)
    assert codes.tolist() == [0, 50, 50, 51, 51, 400, -1, -2]
    covered = codes[(codes >= 0)] <= thr * 10
    assert covered.tolist() == [True, True, True, False, False, False]


def test_same_map_same_file(demo_result, tmp_path):
    kw = _display.map_inputs(demo_result)
    a = mapping.save_map(mapping.make_map(**kw, offline=True), tmp_path / "a.html", offline=True)
    b = mapping.save_map(mapping.make_map(**kw, offline=True), tmp_path / "b.html", offline=True)
    assert a.read_bytes() == b.read_bytes()


def test_bad_language_and_file_names():
    with pytest.raises(ValueError, match="lang"):
        _display.prepare(
            None, None, None, None, None, None, types=[], type_names={}, thresholds={}, speeds={}, lang="fr"
        )
    assert _display.community_file_name("relation/14400092") == "relation_14400092.html"
    assert _display.community_file_name("../../etc") == "etc.html"
    assert _display.community_file_name("双泉 嘉苑") == "双泉_嘉苑.html"


def synthetic(n_res: int = 100_000, n_fac: int = 1500, grid: int = 10, seed: int = 0):
    """Communities on a grid, random residents, facilities, walking areas and streets (UTM 50N)."""
    rng = np.random.default_rng(seed)
    crs, x0, y0, cell = "EPSG:32650", 440_000.0, 4_420_000.0, 300.0
    types = [f"t{k}" for k in range(13)]
    ids = [f"c{i:03d}" for i in range(grid * grid)]
    boxes = [
        shapely.box(
            x0 + (i % grid) * cell,
            y0 + (i // grid) * cell,
            x0 + (i % grid + 1) * cell - 20,
            y0 + (i // grid + 1) * cell - 20,
        )
        for i in range(grid * grid)
    ]
    comms = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": [f"社区{i}" for i in range(grid * grid)],
            "population": rng.integers(100, 3000, grid * grid),
        },
        geometry=boxes,
        crs=crs,
    )
    ci = rng.integers(0, grid * grid, n_res)
    rx = x0 + (ci % grid) * cell + rng.uniform(0, cell - 20, n_res)
    ry = y0 + (ci // grid) * cell + rng.uniform(0, cell - 20, n_res)
    res = {
        "point_id": [f"{ids[c]}#{k}" for k, c in enumerate(ci)],
        "community_id": np.array(ids)[ci],
        "placed": rng.random(n_res) > 0.01,
    }
    for t in types:
        d = rng.uniform(0, 2500, n_res)
        d[rng.random(n_res) < 0.02] = np.nan
        res[f"dist_{t}"] = d
    res = gpd.GeoDataFrame(res, geometry=gpd.points_from_xy(rx, ry), crs=crs)
    side = grid * cell
    fx, fy = x0 + rng.uniform(0, side, n_fac), y0 + rng.uniform(0, side, n_fac)
    fac = gpd.GeoDataFrame(
        {
            "id": [f"f{k}" for k in range(n_fac)],
            "facility_type": rng.choice(types, n_fac),
            "name": [f"设施{k}" for k in range(n_fac)],
            "source": "synthetic",
            "placed": rng.random(n_fac) > 0.05,
            "set_aside_reason": "too far from a street",
        },
        geometry=gpd.points_from_xy(fx, fy),
        crs=crs,
    )
    fac.loc[fac["placed"], "set_aside_reason"] = ""
    iso_rows = []
    for t in types:
        sub = fac[fac["facility_type"] == t].geometry
        for mins, r in ((5, 300.0), (10, 600.0), (15, 900.0)):
            iso_rows.append({"facility_type": t, "minutes": mins, "geometry": shapely.union_all(sub.buffer(r).values)})
    iso = gpd.GeoDataFrame(iso_rows, crs=crs).to_crs("EPSG:4326")
    lines = []
    for k in range(0, int(side) + 1, 50):
        for s in range(0, int(side), 50):
            lines.append(shapely.LineString([(x0 + k, y0 + s), (x0 + k, y0 + s + 50)]))
            lines.append(shapely.LineString([(x0 + s, y0 + k), (x0 + s + 50, y0 + k)]))
    streets = gpd.GeoDataFrame(geometry=lines, crs=crs)
    statuses = np.array(["ok", "partial", "gap", "no_data"])
    gaps = pd.DataFrame(
        [
            {
                "community_id": c,
                "community_name": f"社区{i}",
                "rule_id": t,
                "facility_type": t,
                "facility_name_zh": f"类型{t}",
                "threshold_min": 5.0 + 5 * (j % 3),
                "status": statuses[rng.integers(0, 4)],
                "covered_share": rng.random(),
                "nearest_min_median": rng.uniform(0, 30),
            }
            for i, c in enumerate(ids)
            for j, t in enumerate(types)
        ]
    )
    kw = dict(
        types=types,
        type_names={t: (f"类型{t}", f"type {t}") for t in types},
        thresholds={t: 5.0 + 5 * (j % 3) for j, t in enumerate(types)},
        speeds={t: 66.7 for t in types},
    )
    return (comms, fac, res, iso, gaps, streets), kw


def test_100k_residents_map(browser, tmp_path):
    """100,000 residents, 13 types, 1,500 facilities, 100 communities: small enough, opens fast."""
    layers, kw = synthetic()
    t0 = time.perf_counter()
    m = mapping.make_map(*layers, **kw, lang="zh", offline=True)
    path = mapping.save_map(m, tmp_path / "big.html", offline=True)
    build_s = time.perf_counter() - t0
    size = path.stat().st_size
    assert size < BIG_MAX_BYTES, f"100,000-resident map is {size} bytes"
    assert remote_refs(path.read_text(encoding="utf-8")) == []
    elapsed = open_map(browser, path, BIG_LOAD_S)
    assert errors(browser) == []
    assert js(browser, "return window[arguments[0]]._n", points_layer(browser)) == 100_000
    assert count(browser, ".circles-cluster") > 0  # 1,500 facilities are clustered
    assert count(browser, ".leaflet-marker-pane .circles-fac") < 1500
    assert count(browser, "path.circles-community") == 100
    assert canvas_pixels(browser) > 100_000  # points drawn
    # a full redraw (as on every pan or zoom) stays interactive
    redraw_ms = js(
        browser,
        "var p = window[arguments[0]], t = performance.now(); p._reset(); return performance.now() - t;",
        points_layer(browser),
    )
    assert redraw_ms < 1000
    js(
        browser,
        "var p = window[arguments[0]]; p._map.setZoom(p._map.getZoom() + 2, {animate: false});",
        points_layer(browser),
    )
    assert canvas_pixels(browser) > 0
    browser.save_screenshot(str(tmp_path / "big.png"))
    assert not_blank(tmp_path / "big.png") > 0.3
    assert errors(browser) == []
    print(
        f"100k map: built in {build_s:.1f} s, {size / 1e6:.1f} MB, ready in {elapsed:.1f} s, redraw {redraw_ms:.0f} ms"
    )
