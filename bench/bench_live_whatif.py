"""Time of one change in the live what-if of a community map (place a planned facility: attach,
bounded Dijkstra, recolour, walking streets, status line), in headless Chromium, without and
with Chrome DevTools CPU throttling 4× (``Emulation.setCPUThrottlingRate``: a phone-class CPU).

    python bench/bench_live_whatif.py            # writes bench/results/live_whatif.{json,md}

Inputs: the embedded demo (its largest community) and a generated city (tests/synthetic_city.py,
48 × 12 streets, its largest community). A figure, not an assertion.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from map_browser import chromium, js, open_map  # noqa: E402
from synthetic_city import make_city  # noqa: E402

from circles import pipeline  # noqa: E402
from circles.mapping import write_maps  # noqa: E402

RESULTS = ROOT / "bench" / "results"
REPEATS = 15

_CHANGE = """
const q = arguments[0], n = arguments[1], out = [];
for (let k = 0; k < n; k++) {
  const t0 = performance.now();
  const id = window.circles.place({item: q.item, lon: q.lon + 1e-4 * (k % 5), lat: q.lat});
  window.circles.summary();
  out.push(performance.now() - t0);
  window.circles.remove(id);
}
return out;
"""


def _case(result, name: str, folder: Path) -> dict:
    counts = result.residents["community_id"].astype(str).value_counts()
    cid = str(counts.index[0])
    write_maps(result, folder, community_maps=[cid], offline=True)
    page = next((folder / "community_maps").glob("*.html"))
    rule = result.rulebook.rules[0]
    res = result.residents[result.residents["community_id"].astype(str) == cid].to_crs("EPSG:4326")
    q = {"item": rule.id, "lon": float(res.geometry.x.mean()), "lat": float(res.geometry.y.mean())}
    row = {"case": name, "community": cid, "residents": int(counts.iloc[0]), "bytes": page.stat().st_size}
    drv = chromium("phone", Path(tempfile.mkdtemp()))
    try:
        open_map(drv, page, timeout=60)
        row["graph_edges"] = js(drv, "return window.circles.current.live.graph.E")
        for rate in (1, 4):
            drv.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": rate})
            js(drv, _CHANGE, q, 3)  # warm up
            times = js(drv, _CHANGE, q, REPEATS)
            row[f"median_ms_x{rate}"] = round(statistics.median(times), 1)
            row[f"max_ms_x{rate}"] = round(max(times), 1)
        drv.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": 1})
    finally:
        drv.quit()
    return row


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        rows.append(_case(pipeline.analyse(progress=False), "demo", tmp_path / "demo"))
        city = make_city(tmp_path / "city", nx=48, ny=12)
        gen = pipeline.analyse(
            city["boundaries"], city["facilities"], city["network"], rules=city["rules"], progress=False
        )
        rows.append(_case(gen, "generated 48×12", tmp_path / "gen"))
    info = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": __import__("os").cpu_count(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "live_whatif.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1), encoding="utf-8")
    lines = [
        "# Live what-if: time of one change (place a planned facility) in the browser",
        "",
        f"Headless Chromium (phone 390×844), {info['machine']}, {info['cpu_count']} cores shared with other work; "
        f"median and largest of {REPEATS} changes (place + summary; the redraw of the canvas is included).",
        "",
        "| case | community | residents | graph edges | map bytes | median ms (1×) | max ms (1×) "
        "| median ms (4× throttled) | max ms (4× throttled) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['community']} | {r['residents']} | {r['graph_edges']} | {r['bytes']:,} | "
            f"{r['median_ms_x1']} | {r['max_ms_x1']} | {r['median_ms_x4']} | {r['max_ms_x4']} |"
        )
    (RESULTS / "live_whatif.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
