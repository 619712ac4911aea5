"""Headless Chromium for the map tests: the network cut off, three screens, touch on the phone.

Chromium and its driver are Debian packages (``chromium``, ``chromium-driver``) installed by
``.ci/install_browser.sh``; the tests fail (never skip) when they are missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: name -> (width, height, phone with touch)
SCREENS = {
    "phone": (390, 844, True),
    "landscape": (844, 390, True),
    "projector": (1024, 768, False),
    "laptop": (1366, 768, False),
    "projector_hd": (1920, 1080, False),
}


def chromium(screen: str, profile: Path):
    """A headless Chromium at ``screen`` size; any fetch goes to a closed local port."""
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
    width, height, phone = SCREENS[screen]
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
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
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(flag)
    if phone:
        opts.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": True}}
        )
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    if not phone:
        drv.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
    drv.screen_name = screen
    return drv


class Browsers:
    """One Chromium per screen, started on first use, closed at the end."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self._drivers: dict = {}

    def __call__(self, screen: str):
        if screen not in self._drivers:
            self._drivers[screen] = chromium(screen, self._tmp.mktemp(f"chromium-{screen}"))
        return self._drivers[screen]

    def close(self) -> None:
        for d in self._drivers.values():
            d.quit()


def open_map(drv, path: Path, timeout: float = 15.0) -> float:
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


def js(drv, script: str, *args):
    return drv.execute_script(script, *args)


def errors(drv) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def viewport(drv) -> tuple[int, int]:
    return tuple(js(drv, "return [window.innerWidth, window.innerHeight]"))


def rect(drv, selector: str) -> list[float] | None:
    """[left, top, right, bottom] of the first visible element matching ``selector``."""
    return js(
        drv,
        "for (const e of document.querySelectorAll(arguments[0])) { const r = e.getBoundingClientRect();"
        " if (r.width && r.height && getComputedStyle(e).visibility !== 'hidden')"
        "   return [r.left, r.top, r.right, r.bottom]; }"
        " return null;",
        selector,
    )


def panels(drv) -> dict[str, list[float]]:
    """Everything drawn over the map that is not map content: the header, the sheet and every
    visible Leaflet control (zoom, scale bar, attribution)."""
    return js(
        drv,
        """
        const out = {};
        const add = (name, e) => { const r = e.getBoundingClientRect();
          if (r.width > 0 && r.height > 0 && getComputedStyle(e).display !== 'none'
              && getComputedStyle(e).visibility !== 'hidden') out[name] = [r.left, r.top, r.right, r.bottom]; };
        document.querySelectorAll('.circles-head, .circles-sheet').forEach((e) => add(e.className.split(' ')[0], e));
        document.querySelectorAll('.leaflet-control').forEach(
          (e, i) => add('control' + i + ':' + e.className.split(' ')[0], e));
        return out;""",
    )


def overlap(a, b) -> float:
    """Area of the intersection of two [left, top, right, bottom] rectangles."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def covered_share(rects, width: int, height: int) -> float:
    """Share of the viewport covered by the union of ``rects``."""
    mask = np.zeros((height, width), dtype=bool)
    for r in rects:
        x0, y0 = max(0, int(np.floor(r[0]))), max(0, int(np.floor(r[1])))
        x1, y1 = min(width, int(np.ceil(r[2]))), min(height, int(np.ceil(r[3])))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return float(mask.mean())


def inside(r, width: int, height: int, tol: float = 0.5) -> bool:
    return r[0] >= -tol and r[1] >= -tol and r[2] <= width + tol and r[3] <= height + tol


def tap(drv, x: float, y: float) -> None:
    """A finger tap at viewport point (x, y) (touch events, as on a phone)."""
    pt = [{"x": float(x), "y": float(y), "radiusX": 4, "radiusY": 4, "force": 1, "id": 1}]
    drv.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": pt})
    drv.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def click_at(drv, x: float, y: float) -> None:
    """A mouse click at viewport point (x, y) (moves the mouse there first)."""
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        drv.execute_cdp_cmd(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": float(x), "y": float(y), "button": "left", "clickCount": 1},
        )


def hover_at(drv, x: float, y: float) -> None:
    drv.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": float(x), "y": float(y)})


def settle(drv, seconds: float = 0.45) -> None:
    """Let an animation (auto-pan, fade) end."""
    time.sleep(seconds)


def visible_text(drv) -> str:
    return js(drv, "return document.body.innerText")


def open_map_timed(drv, path: Path, timeout: float = 30.0) -> tuple[float, float]:
    """Load ``path``; return (wall seconds until ready, CPU seconds the page's renderer used).

    The CPU time does not grow when other work shares the machine (the wall time does)."""

    def cpu() -> float:
        m = drv.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
        return next(x["value"] for x in m if x["name"] == "ProcessTime")

    drv.execute_cdp_cmd("Performance.enable", {"timeDomain": "threadTicks"})
    drv.get("about:blank")
    before = cpu()
    wall = open_map(drv, path, timeout)
    used = cpu() - before
    drv.execute_cdp_cmd("Performance.disable", {})
    return wall, used
