"""Issue 14: every HTML output escapes the text that comes from the inputs.

Community, facility, street, item and type names, ids, sources, set-aside reasons, scenario rows
and proposed sites are replaced by hostile strings; every map (the overview, every community
map, the what-if map, the siting map) is opened in headless Chromium, every popup, tooltip, tab
and item is shown, and no script may run (``window.__pwned`` stays undefined) while the names
show as text.
"""

from __future__ import annotations

import copy
import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from map_browser import Browsers, click_at, errors, hover_at, js, open_map, settle

from circles import _display, mapping, siting, whatif

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=2</script>",
    "\"'><svg onload=window.__pwned=3>",
    "<!--<script>window.__pwned=4</script>-->",
    "javascript:window.__pwned=5",
    "{{7*7}} ${window.__pwned=6} &amp; &lt;b&gt;",
    "{% if 1 %}jinja ran{% endif %}{# comment #}{{ self.__init__.__globals__ }}",
]
EVIL_ID = 'way/1"><img src=x onerror=window.__pwned=7>'


def hostile(i: int) -> str:
    return f"名{i}{HOSTILE[i % len(HOSTILE)]}"


@pytest.fixture(scope="module")
def evil(demo_result):
    """The demo result with hostile text everywhere the maps show input text."""
    r = demo_result
    comm = r.communities.copy()
    old_id = str(comm["id"].iloc[0])
    comm["id"] = comm["id"].astype(str).replace({old_id: EVIL_ID})
    comm["name"] = [hostile(i) for i in range(len(comm))]
    names = dict(zip(comm["id"], comm["name"], strict=True))
    gaps = r.gaps.copy()
    gaps["community_id"] = gaps["community_id"].astype(str).replace({old_id: EVIL_ID})
    gaps["community_name"] = gaps["community_id"].map(names)
    res = r.residents.copy()
    res["community_id"] = res["community_id"].astype(str).replace({old_id: EVIL_ID})
    res["point_id"] = [
        f"{pid}{HOSTILE[k % len(HOSTILE)]}" if k % 7 == 0 else pid for k, pid in enumerate(res["point_id"])
    ]
    fac = r.facilities.copy()
    fac["name"] = [hostile(i + 1) for i in range(len(fac))]
    fac["source"] = [HOSTILE[(i + 2) % len(HOSTILE)] for i in range(len(fac))]
    fac["set_aside_reason"] = np.where(fac["placed"], "", HOSTILE[0])
    fac.loc[fac.index[0], "placed"] = False
    fac.loc[fac.index[0], "set_aside_reason"] = HOSTILE[1]
    rb = r.rulebook
    rules = [
        dataclasses.replace(x, name_zh=hostile(k), name_en=hostile(k)) if k % 3 == 0 else x
        for k, x in enumerate(rb.rules)
    ]
    ftypes = dict(rb.facility_types)
    for k, t in enumerate(rb.types_used()[:4]):
        ftypes[t] = dataclasses.replace(ftypes[t], name_zh=hostile(k + 3), name_en=hostile(k + 3))
    rb2 = dataclasses.replace(rb, rules=rules, facility_types=ftypes)
    net = copy.copy(r.network)
    net.name = np.array(
        [HOSTILE[e % len(HOSTILE)] if net.length[e] > 60 else "" for e in range(net.n_edges)], dtype=object
    )
    return dataclasses.replace(
        r, communities=comm, gaps=gaps, residents=res, facilities=fac, rulebook=rb2, network=net, ledger=None
    )


@pytest.fixture(scope="module")
def pages(evil, tmp_path_factory):
    out = tmp_path_factory.mktemp("evil")
    paths = mapping.write_maps(evil, out, community_maps="all")
    # a what-if map with hostile scenario rows, changes and file name
    sc = gpd.GeoDataFrame(
        {
            "id": [EVIL_ID + "-plan", str(evil.facilities["id"].iloc[3])],
            "action": ["add", "remove"],
            "facility_type": ["clinic", str(evil.facilities["facility_type"].iloc[3])],
            "name": [HOSTILE[0], HOSTILE[2]],
        },
        geometry=[evil.communities.to_crs("EPSG:4326").geometry.iloc[2].centroid, None],
        crs="EPSG:4326",
    )
    res = evil.residents.iloc[:12]
    diff = gpd.GeoDataFrame(
        {
            "point_id": res["point_id"].to_numpy(),
            "community_id": res["community_id"].to_numpy(),
            "rule_id": [evil.rulebook.rules[k % 3].id for k in range(len(res))],
            "change": ["newly covered", "no longer covered"] * (len(res) // 2),
            "population": 3.0,
            "minutes_before": 9.0,
            "minutes_after": 3.0,
        },
        geometry=res.geometry.values,
        crs=evil.residents.crs,
    ).to_crs("EPSG:4326")
    wi = whatif.difference_map(evil, evil, diff, sc, scenario_name=HOSTILE[1] + ".geojson")
    paths.append(mapping.save_map(wi, out / "whatif_map.html", offline=True))
    # a siting map with hostile candidates, communities and streets
    c = evil.communities.geometry.centroid.to_crs("EPSG:4326")
    sites = pd.DataFrame(
        {
            "rank": [1, 2],
            "candidate_id": [HOSTILE[3], HOSTILE[4]],
            "lon": [c.iloc[0].x, c.iloc[1].x],
            "lat": [c.iloc[0].y, c.iloc[1].y],
            "residents_covered": [12.0, 8.0],
            "covered_share_after": [0.4, 0.6],
            "street_name": [HOSTILE[5], HOSTILE[0]],
            "street_m": [3.0, 0.0],
            "community_id": [EVIL_ID, str(evil.communities["id"].iloc[1])],
            "community_name": [str(evil.communities["name"].iloc[0]), str(evil.communities["name"].iloc[1])],
        }
    )
    sm = siting.site_map(evil, evil.rulebook.rules[0].id, sites)
    paths.append(mapping.save_map(sm, out / "sites.html", offline=True))
    return paths


@pytest.fixture(scope="module")
def browsers(tmp_path_factory):
    b = Browsers(tmp_path_factory)
    yield b
    b.close()


EVERYTHING = """
// show every popup, tab, item and layer the page has
const A = circles.current, m = A.map, fit = A.popupOptions;
A.popupOptions = () => ({autoPan: false});  // no panning between hundreds of popups
const popups = [];
A.comm.eachLayer(l => popups.push(l));
document.querySelectorAll('.circles-quick button')[1].click();
Object.values(A.fac).forEach(g => g.eachLayer(function walk(l) { if (l.getPopup && l.getPopup()) popups.push(l);
  if (l.eachLayer) l.eachLayer(walk); }));
A.marks.forEach(mk => Object.values(mk.layers).forEach(
  g => g.eachLayer(l => { if (l.getPopup && l.getPopup()) popups.push(l); })));
for (const l of popups) { l.openPopup(); m.closePopup(); }
const P = A.points;  // the residents whose ids are hostile, and some others
if (P) for (let i = 0; i < P._n; i++) if (i % 10 === 0 || (P._d.id && /[<{"'&]/.test(P._d.id[i]))) {
  P.open(i); m.closePopup(); }
for (const r of A.o.rules) A.setRule(r.id);
document.querySelectorAll('.circles-tab').forEach(t => t.click());
document.querySelectorAll('.circles-mins button').forEach(b => b.click());
m.setZoom(17, {animate: false});
A.popupOptions = fit;
return popups.length;"""


def test_no_input_text_runs_as_script(browsers, pages, evil):
    assert len(pages) == 1 + len(evil.communities) + 2
    for screen in ("laptop", "phone"):
        drv = browsers(screen)
        drv.set_script_timeout(120)
        # the overview, the community map with the hostile id and two more, the what-if and siting maps
        evil_map = pages[0].parent / "community_maps" / _display.community_file_name(EVIL_ID)
        some = [pages[0], evil_map, pages[2], pages[-3], *pages[-2:]]
        for path in some if screen == "laptop" else [pages[0], *pages[-2:]]:
            open_map(drv, path, 20.0)
            assert js(drv, "return window.__pwned") is None, path.name
            n = js(drv, EVERYTHING)
            assert n > 0
            settle(drv, 0.3)
            # hover and click on every community and every resident in view (real pointer events)
            pts = js(
                drv,
                "const out = []; document.querySelectorAll('path.circles-community').forEach(p => {"
                " const b = p.getBoundingClientRect(); out.push([b.x + b.width / 2, b.y + b.height / 2]); });"
                "const A = circles.current, P = A.points, c = A.map.getContainer().getBoundingClientRect();"
                "if (P) for (let i = 0; i < P._n; i += 5) {"
                "  const q = A.map.latLngToContainerPoint([P._lat[i], P._lng[i]]);"
                "  out.push([q.x + c.x, q.y + c.y]); }"
                "return out.filter(p => p[0] > 0 && p[1] > 0 && p[0] < innerWidth && p[1] < innerHeight).slice(0, 25);",
            )
            for x, y in pts:
                hover_at(drv, x, y)
                click_at(drv, x, y)
            settle(drv, 0.3)
            assert js(drv, "return window.__pwned") is None, path.name
            assert js(drv, "return document.querySelectorAll('img[src=\"x\"], svg[onload]').length") == 0
            assert [e for e in errors(drv) if "__pwned" in e] == []
    # the names are there, as text
    drv = browsers("laptop")
    open_map(drv, pages[0], 20.0)
    js(drv, "document.querySelector('.circles-tab[data-tab=table]').click()")
    table = js(drv, "return document.querySelector('.circles-status').textContent")
    for name in evil.communities["name"]:
        assert name in table
    labels = js(
        drv, "return Array.from(document.querySelectorAll('.circles-label span')).map(e => e.firstChild.textContent)"
    )
    assert sorted(labels) == sorted(evil.communities["name"])
    options = js(drv, "return document.querySelector('.circles-rule').textContent")
    assert HOSTILE[0] in options
    js(drv, "circles.current.comm.getLayers()[0].openPopup()")
    popup = js(drv, "return document.querySelector('.leaflet-popup-content').textContent")
    assert evil.communities["name"].iloc[0] in popup and EVIL_ID in popup
    # the what-if and siting maps show the scenario's and the sites' text as text
    open_map(drv, pages[-2], 20.0)
    js(drv, "document.querySelector('.circles-tab[data-tab=planned]').click()")
    assert HOSTILE[0] in js(drv, "return document.querySelector('.circles-planned').textContent")
    assert HOSTILE[1] in js(drv, "return document.querySelector('.circles-title').textContent")
    open_map(drv, pages[-1], 20.0)
    sites = js(drv, "return document.querySelector('.circles-sites').textContent")
    assert HOSTILE[5] in sites and evil.communities["name"].iloc[1] in sites


def test_community_file_names_never_leave_their_folder(evil, pages):
    folder = pages[0].parent / "community_maps"
    for p in pages[1:-2]:
        assert p.parent == folder and p.name == p.name.strip() and "/" not in p.name
    assert _display.community_file_name(EVIL_ID) == "way_1_img_src_x_onerror_window.__pwned_7.html"


def test_template_syntax_in_names_is_never_evaluated(demo_result):
    """Folium renders a macro's output as a Jinja template a second time; the maps never let it."""
    comm = demo_result.communities.copy()
    comm["name"] = [f"社区{i}{{{{ {i}*7 }}}}{{% if 1 %}}RAN{{% endif %}}" for i in range(len(comm))]
    r = dataclasses.replace(demo_result, communities=comm)
    page = mapping.result_map(r).get_root().render()
    for i in range(len(comm)):
        assert f"社区{i}{{{{ {i}*7 }}}}{{% if 1 %}}RAN{{% endif %}}" in page
        assert f"社区{i}{i * 7}" not in page
