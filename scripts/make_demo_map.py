"""Refresh the demo map shown in the README: ``maps/demo_map.html`` (self-contained, offline) and
its screenshots in headless Chromium with the network cut off:

* ``maps/demo_phone.png``: a 390×844 phone, as the map opens (the sheet collapsed at the bottom);
* ``maps/demo_phone_popup.png``: the same phone after a tap on a community (its status table);
* ``maps/demo_desktop.png``: a 1366×768 laptop, as the map opens;
* ``maps/demo_live_phone.png``: a phone on the map of the community with the most residents, after
  a planned facility of its least covered item was placed (live what-if, ``maps/demo_community.html``);
* ``maps/demo_projector.png``: the same community map at 1920×1080 in projector mode.

Run: python scripts/make_demo_map.py [--lang zh|en] [--no-screenshots]

The screenshots need Debian's ``chromium`` and ``chromium-driver`` (``.ci/install_browser.sh``)
and selenium (the ``test`` extra). A normal ``circles run`` writes only under its ``--out``
folder; this script is the one place that rewrites the tracked copies under ``maps/``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import circles
from circles import mapping

ROOT = Path(__file__).resolve().parents[1]
MAPS = ROOT / "maps"
log = logging.getLogger("make_demo_map")

#: name -> (width, height, phone)
SCREENS = {"phone": (390, 844, True), "desktop": (1366, 768, False)}

#: A point of a community in the free part of the map, away from residents and icons.
_FREE_POINT = """
const A = circles.current, m = A.map, c = m.getContainer().getBoundingClientRect(), f = A.free();
const icons = Array.from(document.querySelectorAll('.leaflet-marker-icon')).map(e => e.getBoundingClientRect());
for (const p of document.querySelectorAll('path.circles-community')) { const b = p.getBoundingClientRect();
  for (let fx = 0.2; fx < 0.9; fx += 0.1) for (let fy = 0.2; fy < 0.9; fy += 0.1) {
    const x = b.x + fx * b.width, y = b.y + fy * b.height;
    if (y < c.y + f.top + 200 || y > c.y + f.bottom - 40 || x < c.x + f.left + 20 || x > c.x + f.right - 20) continue;
    if (document.elementFromPoint(x, y) !== p) continue;
    if (A.points && A.points._nearest(L.point(x - c.x, y - c.y), 12) >= 0) continue;
    if (icons.some(r => x > r.left - 25 && x < r.right + 25 && y > r.top - 25 && y < r.bottom + 25)) continue;
    return [x, y]; } }
return null;"""


def _browser(width: int, height: int, phone: bool, profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
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
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(flag)
    if phone:
        metrics = {"width": width, "height": height, "pixelRatio": 2, "touch": True}
        opts.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    drv = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    if not phone:
        drv.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
    return drv


def _open(drv, page: Path) -> None:
    drv.get(page.resolve().as_uri())
    t0 = time.perf_counter()
    while not drv.execute_script("return !!document.querySelector('[data-circles-ready]')"):
        if time.perf_counter() - t0 > 30:
            raise RuntimeError(f"{page} not ready after 30 s")
        time.sleep(0.05)
    time.sleep(0.5)


def _save(drv, path: Path) -> Path:
    from PIL import Image

    drv.save_screenshot(str(path))
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return path


def screenshots(page: Path) -> list[Path]:
    """Take the README screenshots of ``page``; return their paths."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (w, h, phone) in SCREENS.items():
            drv = _browser(w, h, phone, str(Path(tmp) / name))
            try:
                _open(drv, page)
                out.append(_save(drv, MAPS / f"demo_{name}.png"))
                if phone:
                    x, y = drv.execute_script(_FREE_POINT)
                    pt = [{"x": float(x), "y": float(y), "radiusX": 4, "radiusY": 4, "force": 1, "id": 1}]
                    drv.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": pt})
                    drv.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
                    time.sleep(0.8)
                    out.append(_save(drv, MAPS / "demo_phone_popup.png"))
            finally:
                drv.quit()
    return out


def live_screenshots(page: Path, q: dict) -> list[Path]:
    """The community map on a phone after placing a planned facility (``q``: item, lon, lat),
    and in projector mode at 1920×1080."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        drv = _browser(390, 844, True, str(Path(tmp) / "live"))
        try:
            _open(drv, page)
            drv.execute_script("window.circles.place(arguments[0])", q)
            time.sleep(0.5)
            out.append(_save(drv, MAPS / "demo_live_phone.png"))
        finally:
            drv.quit()
        drv = _browser(1920, 1080, False, str(Path(tmp) / "projector"))
        try:
            drv.get(page.resolve().as_uri() + "?projector=1")
            time.sleep(2.5)
            out.append(_save(drv, MAPS / "demo_projector.png"))
        finally:
            drv.quit()
    return out


def _live_case(result) -> tuple[str, dict]:
    """The community with the most residents and a point inside it for its least covered item."""
    counts = result.residents["community_id"].astype(str).value_counts()
    cid = str(counts.index[0])
    gaps = result.gaps[result.gaps["community_id"].astype(str) == cid]
    item = str(gaps.sort_values("covered_share")["rule_id"].iloc[0])
    res = result.residents[result.residents["community_id"].astype(str) == cid].to_crs("EPSG:4326")
    return cid, {
        "item": item,
        "lon": round(float(res.geometry.x.mean()), 7),
        "lat": round(float(res.geometry.y.mean()), 7),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=["zh", "en"], default="zh")
    parser.add_argument("--no-screenshots", action="store_true", help="only the HTML")
    args = parser.parse_args()
    result = circles.analyse(progress=False)
    out = MAPS / "demo_map.html"
    mapping.save_map(mapping.result_map(result, lang=args.lang, offline=True), out, offline=True)
    print(out)
    cid, q = _live_case(result)
    community = MAPS / "demo_community.html"
    mapping.save_map(mapping.result_map(result, lang=args.lang, offline=True, focus=cid), community, offline=True)
    print(community)
    if not args.no_screenshots:
        for p in screenshots(out) + live_screenshots(community, q):
            print(p)


if __name__ == "__main__":
    main()
