"""Run the reach-engine benchmarks and write ``bench/results/results.{md,csv}``.

    python bench/run.py                 # everything (~10 min on 2 cores)
    python bench/run.py --quick         # smoke run: demo + a 10k-node grid, results in bench/work/quick/
    python bench/run.py --only pandana  # re-run matching rows only and merge them into the table

``--only`` takes comma-separated names, each a method (circles, scipy, osmnx, pandana,
cityseer, build, isochrones), a data set (demo, helsinki, andorra, grid) or
``method@dataset``. Nothing is installed at run time: the peers come from
``pip install -e ".[bench]"``; a peer that is missing is reported as failed.

Every measurement runs in its own child process (``bench/methods.py``); see
``bench/README.md`` for what each column means.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, LIMIT_M, RESULTS, ROOT, WORK, dataset_meta  # noqa: E402

PY = sys.executable
FULL_DATASETS = ["demo", "helsinki", "andorra", "grid"]
QUICK_DATASETS = ["demo", "grid_small"]
REAL = {"demo", "helsinki", "andorra"}
BIG = {"grid", "grid_small"}  # the synthetic city: targets (d) are read here
REPEAT_BELOW_S = 10.0  # children faster than this are run 3 times (median)
TIMEOUT_S = 480.0
PEERS = ["scipy", "osmnx", "pandana", "cityseer"]


@dataclass
class Job:
    method: str
    dataset: str
    variant: str = "default"
    limit: float = LIMIT_M
    repeats: int = 3
    timeout: float = TIMEOUT_S
    section: str = "reach"
    runs: list = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.dataset}__{self.method}__{self.variant}"


def plan(datasets: list[str], quick: bool) -> list[Job]:
    """The measurements, in order. Repeated (3 runs, median) where a target or the
    search-time comparison reads them; the rest run once to keep the whole run short."""
    jobs: list[Job] = []
    rep = 1 if quick else 3
    for d in datasets:
        if d in REAL:
            jobs += [
                Job("build", d, "cold", repeats=rep, section="build"),
                Job("build", d, "cached", repeats=rep, section="build"),
            ]
    for d in datasets:
        jobs.append(Job("circles", d, "npz", repeats=rep))
        jobs.append(Job("circles", d, "npz-unbounded", limit=math.inf, repeats=1))
        if d in REAL:
            jobs += [Job("circles", d, "source", repeats=1), Job("circles", d, "graphml", repeats=1)]
        jobs.append(Job("scipy", d, repeats=rep))
        jobs.append(Job("osmnx", d, "recipe", repeats=1))
        jobs.append(Job("pandana", d, repeats=1))
        jobs.append(Job("cityseer", d, "nx", repeats=1))
        jobs.append(Job("cityseer", d, "direct", repeats=1))
    for d in datasets:
        if d in ("demo", "helsinki"):
            jobs.append(Job("isochrones", d, repeats=1, section="isochrones"))
    return jobs


def selected(job: Job, only: list[str] | None) -> bool:
    if not only:
        return True
    for name in only:
        if "@" in name:
            m, d = name.split("@", 1)
            if job.method == m and job.dataset == d:
                return True
        elif name in (job.method, job.dataset, job.section):
            return True
    return False


# ------------------------------------------------------------------------------ children


def run_child(job: Job, work: Path, out: Path, extra: list[str] | None = None) -> dict:
    cmd = [
        PY,
        str(BENCH / "methods.py"),
        job.method,
        job.dataset,
        "--variant",
        job.variant,
        "--limit",
        str(job.limit),
        "--work",
        str(work),
        "--out",
        str(out),
    ] + (extra or [])
    log = out / f"{job.key}.log"
    t = time.perf_counter()
    try:
        with open(log, "w") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=job.timeout, cwd=ROOT)
        process_s = time.perf_counter() - t
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "error": f"timeout (> {job.timeout:.0f} s)",
            "timeout": True,
            "process_s": time.perf_counter() - t,
        }
    try:
        res = json.loads((out / f"{job.key}.json").read_text())
    except (OSError, ValueError):
        res = {"ok": False, "error": f"child exited {proc.returncode} without a report; see {log}"}
    res["process_s"] = process_s
    return res


def execute(job: Job, work: Path, out: Path) -> dict:
    """Run a job (repeated when fast); return the run with the median wall time, with the
    largest peak memory of all its runs."""
    runs = []
    for _ in range(job.repeats):
        (out / f"{job.key}.json").unlink(missing_ok=True)
        r = run_child(job, work, out)
        runs.append(r)
        if not r.get("ok") or r.get("wall_s", 0) >= REPEAT_BELOW_S:
            break
    good = [r for r in runs if r.get("ok")]
    if not good:
        return runs[-1] | {"runs": len(runs)}
    good.sort(key=lambda r: r["wall_s"])
    med = dict(good[(len(good) - 1) // 2])
    med["runs"] = len(good)
    med["wall_all_s"] = [round(r["wall_s"], 4) for r in runs if r.get("ok")]
    med["peak_rss_mb"] = max(r.get("peak_rss_mb", 0) for r in runs)
    return med


# ----------------------------------------------------------------------------- agreement


def agreement(ref: np.ndarray, other: np.ndarray, attached: np.ndarray | None = None, limit: float = LIMIT_M) -> dict:
    """Per (resident, type) pair: distance agreement (both beyond the limit counts as agreeing)
    and covered/uncovered status at ``limit``. Only residents that circles attached to a
    street (``attached``) are compared: the others have no circles answer."""
    if attached is not None:
        ref, other = ref[:, attached], other[:, attached]
    if other.dtype == bool:  # the OSMnx recipe: coverage only
        return {"status_differs": float(((ref <= limit) != other).mean())}
    a = np.where(ref <= limit, ref, np.inf)
    b = np.where(other <= limit, other, np.inf)
    fa, fb = np.isfinite(a), np.isfinite(b)
    both = fa & fb
    with np.errstate(invalid="ignore"):
        diff = np.abs(np.where(both, a - b, 0.0))
    agree_inf = ~fa & ~fb
    return {
        "within_1m": float((agree_inf | (both & (diff <= 1.0))).mean()),
        "within_10m": float((agree_inf | (both & (diff <= 10.0))).mean()),
        "median_abs_diff_m": float(np.median(diff[both])) if both.any() else float("nan"),
        "status_differs": float((fa != fb).mean()),
    }


def recipe_reference(job_res: dict, work: Path, out: Path) -> np.ndarray | None:
    """circles' answers for the facilities the (sampled) recipe used."""
    sample = job_res.get("extra", {}).get("sample")
    if sample is None:
        return None
    n_fac = job_res["extra"]["facilities"]
    if len(sample) == n_fac:
        p = out / f"{job_res['dataset']}__circles__npz.npy"
        return np.load(p) if p.exists() else None
    sub = out / f"{job_res['dataset']}__recipe_subset.json"
    sub.write_text(json.dumps(sample))
    ref_job = Job("circles", job_res["dataset"], "npz-subset", repeats=1)
    r = run_child(ref_job, work, out, ["--subset", str(sub)])
    if not r.get("ok"):
        return None
    return np.load(out / f"{ref_job.key}.npy")


# ------------------------------------------------------------------------------- report


def _proc_field(path: str, key: str, fmt) -> str:
    """The first ``key: value`` line of a /proc file, formatted ("?" when unreadable)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return fmt(line.split(":", 1)[1])
    except OSError:
        pass
    return "?"


def machine_info() -> dict:
    from importlib import metadata

    cpu = _proc_field("/proc/cpuinfo", "model name", lambda v: v.strip())
    mem = _proc_field("/proc/meminfo", "MemTotal", lambda v: f"{int(v.split()[0]) / 1024**2:.1f} GiB")
    versions = {}
    for p in (
        "circles",
        "numpy",
        "scipy",
        "shapely",
        "geopandas",
        "pandas",
        "networkx",
        "osmnx",
        "pyrosm",
        "pandana",
        "cityseer",
    ):
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "circles"], capture_output=True, text=True
        ).stdout.strip()
        commit += " (circles/ has uncommitted changes)" if dirty else ""
    except OSError:
        commit = "?"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg_start": os.getloadavg()[0],
    }


CSV_FIELDS = [
    "section",
    "dataset",
    "method",
    "variant",
    "limit_m",
    "ok",
    "wall_s",
    "search_s",
    "search_best_s",
    "cpu_s",
    "import_s",
    "process_s",
    "peak_rss_mb",
    "runs",
    "extrapolated",
    "within_1m",
    "within_10m",
    "median_abs_diff_m",
    "status_differs",
    "minutes",
    "polygons",
    "circles_ms_mean",
    "circles_ms_max",
    "circles_cpu_ms_mean",
    "circles_err_mean",
    "circles_err_max",
    "hull_ms_mean",
    "hull_ms_max",
    "hull_err_mean",
    "hull_err_max",
    "phases",
    "note",
]


def row_from(job: Job, res: dict) -> dict:
    ph = res.get("phases", {})
    note = res.get("note") or res.get("error") or ""
    ex = res.get("extra", {})
    if job.method == "circles" and ex.get("residents_not_attached"):
        note = (
            note + f"; {ex['residents_not_attached']:,} residents > 250 m from any street are not attached "
            "and left out of the agreement columns"
        ).strip("; ")
    return {
        "section": job.section,
        "dataset": job.dataset,
        "method": job.method,
        "variant": job.variant,
        "limit_m": job.limit,
        "ok": bool(res.get("ok")),
        "wall_s": res.get("wall_s"),
        "search_s": ph.get("search"),
        "search_best_s": res.get("search_best_s"),
        "cpu_s": None if res.get("extrapolated") else res.get("cpu_s"),
        "import_s": res.get("import_s"),
        "process_s": res.get("process_s"),
        "peak_rss_mb": res.get("peak_rss_mb"),
        "runs": res.get("runs"),
        "extrapolated": bool(res.get("extrapolated", False)),
        "phases": json.dumps({k: round(v, 4) for k, v in ph.items()}),
        "note": note,
    }


def iso_rows(job: Job, res: dict) -> list[dict]:
    rows = []
    for m, s in res.get("extra", {}).get("by_minutes", {}).items():
        rows.append(
            {
                "section": "isochrones",
                "dataset": job.dataset,
                "method": "isochrones",
                "variant": f"{m}min",
                "limit_m": float(m) * 66.7,
                "ok": True,
                "minutes": int(m),
                "polygons": s["polygons"],
                "import_s": res.get("import_s"),
                "peak_rss_mb": res.get("peak_rss_mb"),
                **{
                    k: s[k]
                    for k in (
                        "circles_ms_mean",
                        "circles_ms_max",
                        "circles_cpu_ms_mean",
                        "circles_err_mean",
                        "circles_err_max",
                        "hull_ms_mean",
                        "hull_ms_max",
                        "hull_err_mean",
                        "hull_err_max",
                    )
                },
                "note": f"search {res['extra']['search_ms_mean']:.1f} ms per facility (not in polygon time)",
            }
        )
    if not rows:
        rows.append(
            {
                "section": "isochrones",
                "dataset": job.dataset,
                "method": "isochrones",
                "variant": "all",
                "ok": False,
                "note": res.get("error", ""),
            }
        )
    return rows


def _num(v):
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)):
        return v
    try:
        return float(v)
    except ValueError:
        return None


def _f(v, fmt="{:.3f}", none="–"):
    v = _num(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return none
    return fmt.format(v)


def _pct(v):
    return _f(v, "{:.1%}") if _num(v) is not None else "–"


def _is_true(v):
    return v is True or str(v).lower() == "true"


def find(rows, **kw):
    for r in rows:
        if all(str(r.get(k)) == str(v) for k, v in kw.items()):
            return r
    return None


def targets(rows: list[dict], big: str) -> list[tuple[str, str, str]]:
    """(target, measured, PASS/FAIL/n/a)."""
    out = []

    def verdict(ok):
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    cold = find(rows, section="build", dataset="demo", variant="cold")
    cached = find(rows, section="build", dataset="demo", variant="cached")
    if cold:
        w = _num(cold.get("wall_s")) if _is_true(cold.get("ok")) else None
        out.append(
            (
                "Demo network build, cold (graph_from_osm_xml + to_walk_network) < 2 s",
                f"{_f(w, '{:.2f}')} s",
                verdict(None if w is None else w < 2),
            )
        )
    if cached:
        ok = _is_true(cached.get("ok"))
        ph = json.loads(cached.get("phases") or "{}")
        g = ph.get("graph") if ok else None
        out.append(
            (
                "Demo network from the GraphML cache (load_network second call) < 0.5 s",
                f"{_f(g, '{:.3f}')} s (+ to_walk_network {_f(ph.get('flatten'), '{:.3f}')} s)",
                verdict(None if g is None else g < 0.5),
            )
        )
    for d in ("demo", "helsinki"):
        isos = [r for r in rows if r.get("section") == "isochrones" and r.get("dataset") == d and _is_true(r.get("ok"))]
        if isos:
            err = max(_num(r["circles_err_mean"]) for r in isos)
            ms = max(_num(r["circles_ms_mean"]) for r in isos)
            ms_max = max(_num(r["circles_ms_max"]) for r in isos)
            err_max = max(_num(r["circles_err_max"]) for r in isos)
            out.append(
                (
                    f"Isochrones ({d}): mean missed + leak ≤ 1 % (worst of 5/10/15 min)",
                    f"{err:.2%} (single worst polygon {err_max:.2%})",
                    verdict(err <= 0.01),
                )
            )
            out.append(
                (
                    f"Isochrones ({d}): ≤ 25 ms per polygon (mean, worst of 5/10/15 min)",
                    f"{ms:.1f} ms (slowest polygon {ms_max:.1f} ms)",
                    verdict(ms <= 25),
                )
            )
    c = find(rows, section="reach", dataset=big, method="circles", variant="npz")
    c_ok = c is not None and _is_true(c.get("ok"))
    cw = _num(c.get("wall_s")) if c_ok else None
    if c is not None:
        out.append(
            (
                f"{big}: circles end to end < 5 s (files → per-resident answers)",
                f"{_f(cw, '{:.2f}')} s (process incl. interpreter + imports {_f(c.get('process_s'), '{:.2f}')} s)",
                verdict(None if cw is None else cw < 5),
            )
        )
        mem = _num(c.get("peak_rss_mb")) if c_ok else None
        out.append(
            (
                f"{big}: circles peak memory < 1 GB",
                f"{_f(mem, '{:.0f}')} MB",
                verdict(None if mem is None else mem < 1000),
            )
        )
    for peer, variants in (("pandana", ["default"]), ("cityseer", ["direct", "nx"])):
        best = None
        for v in variants:
            r = find(rows, section="reach", dataset=big, method=peer, variant=v)
            if r is None:
                continue
            if _is_true(r.get("ok")):
                w = _num(r["wall_s"])
                if best is None or (best[1] is not None and w < best[1]):
                    best = (v, w, False)
            elif "timeout" in str(r.get("note")) and best is None:
                best = (v, _num(r.get("process_s")), True)
        if best is None or cw is None:
            if c is not None:
                out.append((f"{big}: circles ≥ 10× faster than {peer} (preparation included)", "not measured", "n/a"))
            continue
        v, w, timed_out = best
        ratio = w / cw
        pr = find(rows, section="reach", dataset=big, method=peer, variant=v)
        cpu = _num(pr.get("cpu_s")) if pr is not None else None
        label = f"{peer} ({v})" if len(variants) > 1 else peer
        cpu_txt = f", CPU {cpu:.1f} s on 2 cores" if cpu is not None and not timed_out else ""
        meas = (
            f"{'> ' if timed_out else ''}{ratio:.1f}× ({label} {'> ' if timed_out else ''}{w:.1f} s wall"
            f"{cpu_txt} vs circles {cw:.2f} s)"
        )
        out.append((f"{big}: circles ≥ 10× faster than {peer} (preparation included)", meas, verdict(ratio >= 10)))
    s = find(rows, section="reach", dataset=big, method="scipy", variant="default")
    if c_ok and s is not None and _is_true(s.get("ok")):
        cs, ss = _num(c["search_best_s"]), _num(s["search_best_s"])
        out.append(
            (
                f"{big}: circles search (the 4 nearest() calls) within 3× of bare SciPy (best of 4 each)",
                f"{cs / ss:.2f}× ({cs:.3f} s vs {ss:.3f} s; in the end-to-end runs "
                f"{_num(c['search_s']):.3f} s vs {_num(s['search_s']):.3f} s)",
                verdict(cs / ss <= 3),
            )
        )
    return out


def write_report(rows: list[dict], info: dict, metas: dict, results: Path, big: str):
    results.mkdir(parents=True, exist_ok=True)
    with open(results / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    L = [
        "# Reach-engine benchmarks",
        "",
        f"Generated by `python bench/run.py` on {info['date']} (circles commit {info['commit']}).",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores; memory {info['memory']}",
        f"- Python {info['python']} on {info['platform']}",
        "- " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"- 1-min load average: {info['loadavg_start']:.2f} at start, {info.get('loadavg_end', float('nan')):.2f} "
        "at end (other work on the machine inflates times)",
    ]
    L += [f"- Partial re-run: {p}" for p in info.get("partial", [])]
    L += ["", "## Targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
    for t, m, v in targets(rows, big):
        L.append(f"| {t} | {m} | **{v}** |")
    L += [
        "",
        "## Data sets",
        "",
        "| data set | nodes | edges | residents | facilities | description |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, m in metas.items():
        L.append(
            f"| {name} | {m['n_nodes']:,} | {m['n_edges']:,} | {m['n_residents']:,} | {m['n_facilities']:,} | "
            f"{m['description']}; residents: {m['residents_desc']}; facilities: {m['facilities_desc']} |"
        )
    L += [
        "",
        "## Nearest facility per resident, 4 types, limit 1,000 m",
        "",
        "Times in seconds; `wall` = files on disk → per-resident answers in memory, measured inside the "
        "child (imports excluded, shown apart); `process` = the whole child process seen from the parent; "
        "agreement columns compare every (resident, type) pair with circles `npz` (see README).",
        "",
        "| data set | method | variant | wall s | cpu s | search s | search best s | import s | process s | "
        "peak MB | ≤ 1 m | ≤ 10 m | median abs Δ m | status differs | notes |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        if r.get("section") != "reach":
            continue
        ok = _is_true(r.get("ok"))
        wall = _f(r.get("wall_s"), "{:.3f}") if ok else ("timeout" if "timeout" in str(r.get("note")) else "failed")
        if ok and _is_true(r.get("extrapolated")):
            wall = f"~{_f(r.get('wall_s'), '{:.1f}')} (extrapolated)"
        L.append(
            f"| {r['dataset']} | {r['method']} | {r['variant']} | {wall} | {_f(r.get('cpu_s'))} | "
            f"{_f(r.get('search_s'))} | "
            f"{_f(r.get('search_best_s'))} | "
            f"{_f(r.get('import_s'), '{:.2f}')} | {_f(r.get('process_s'), '{:.2f}')} | "
            f"{_f(r.get('peak_rss_mb'), '{:.0f}')} | {_pct(r.get('within_1m'))} | {_pct(r.get('within_10m'))} | "
            f"{_f(r.get('median_abs_diff_m'), '{:.1f}')} | {_pct(r.get('status_differs'))} | "
            f"{str(r.get('note') or '').replace('|', '/')} |"
        )
    L += [
        "",
        "## Network build (circles)",
        "",
        "| data set | variant | wall s | cpu s | graph s | to_walk_network s | import s | peak MB | runs | notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        if r.get("section") != "build":
            continue
        ph = json.loads(r.get("phases") or "{}")
        ok = _is_true(r.get("ok"))
        L.append(
            f"| {r['dataset']} | {r['variant']} | {_f(r.get('wall_s')) if ok else 'failed'} | {_f(r.get('cpu_s'))} | "
            f"{_f(ph.get('graph'))} | {_f(ph.get('flatten'))} | {_f(r.get('import_s'), '{:.2f}')} | "
            f"{_f(r.get('peak_rss_mb'), '{:.0f}')} | {r.get('runs') or ''} | "
            f"{str(r.get('note') or '').replace('|', '/')} |"
        )
    L += [
        "",
        "## Isochrones: circles `isochrone_polygon` vs convex hull of reached nodes",
        "",
        "Per polygon (one facility, one limit); error = missed + leak share from `polygon_quality` "
        "(street samples every 5 m).",
        "",
        "| data set | minutes | polygons | circles ms mean / max | circles CPU ms mean | circles error mean / max | "
        "hull ms mean / max | hull error mean / max | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        if r.get("section") != "isochrones":
            continue
        if not _is_true(r.get("ok")):
            L.append(f"| {r['dataset']} | – | – | failed | | | | | {r.get('note')} |")
            continue
        L.append(
            f"| {r['dataset']} | {r['minutes']} | {r['polygons']} | "
            f"{_f(r['circles_ms_mean'], '{:.1f}')} / {_f(r['circles_ms_max'], '{:.1f}')} | "
            f"{_f(r.get('circles_cpu_ms_mean'), '{:.1f}')} | "
            f"{_pct(r['circles_err_mean'])} / {_pct(r['circles_err_max'])} | "
            f"{_f(r['hull_ms_mean'], '{:.2f}')} / {_f(r['hull_ms_max'], '{:.2f}')} | "
            f"{_pct(r['hull_err_mean'])} / {_pct(r['hull_err_max'])} | {r.get('note', '')} |"
        )
    L += ["", "Column meanings, method details and caveats: `bench/README.md`.", ""]
    (results / "results.md").write_text("\n".join(L))


def load_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: demo + 10k-node grid, no repeats")
    ap.add_argument("--only", help="comma-separated methods, data sets or method@dataset")
    ap.add_argument("--results", type=Path, help="output folder (default bench/results, --quick: bench/work/quick)")
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per child process")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite results.md from results.csv and run_info.json, running nothing",
    )
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait up to S seconds for the 1-min load average to drop below 0.5",
    )
    a = ap.parse_args(argv)
    datasets = QUICK_DATASETS if a.quick else FULL_DATASETS
    big = "grid_small" if a.quick else "grid"
    results = a.results or (WORK / "quick" if a.quick else RESULTS)
    if a.report_only:
        info = json.loads((results / "run_info.json").read_text())
        metas = {d: dataset_meta(d) for d in datasets if (WORK / d / "dataset.json").exists()}
        write_report(load_rows(results / "results.csv"), info, metas, results, big)
        print(results / "results.md")
        return 0
    if a.wait_idle > 0:
        deadline = time.time() + a.wait_idle
        while os.getloadavg()[0] >= 0.5 and time.time() < deadline:
            time.sleep(5)
    if os.getloadavg()[0] >= 1.0:
        print(
            f"warning: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores: "
            "wall times will be inflated (see the cpu columns)",
            file=sys.stderr,
        )
    out = WORK / "out"
    out.mkdir(parents=True, exist_ok=True)
    only = [s.strip() for s in a.only.split(",")] if a.only else None
    jobs = [j for j in plan(datasets, a.quick) if selected(j, only)]
    for j in jobs:
        j.timeout = a.timeout
    if not jobs:
        print("nothing selected", file=sys.stderr)
        return 2
    # circles' answers are the reference for agreement: make sure they exist
    for d in sorted({j.dataset for j in jobs if j.section == "reach"}):
        if (
            not any(j.method == "circles" and j.variant == "npz" and j.dataset == d for j in jobs)
            and not (out / f"{d}__circles__npz.npy").exists()
        ):
            jobs.insert(0, Job("circles", d, "npz", repeats=1))
    info = machine_info()
    needed = sorted({j.dataset for j in jobs})
    t0 = time.perf_counter()
    print(f"preparing {', '.join(needed)} (untimed) ...", flush=True)
    subprocess.run([PY, str(BENCH / "prepare.py"), *needed, "--work", str(WORK)], check=True, cwd=ROOT)
    metas = {d: dataset_meta(d) for d in datasets if (WORK / d / "dataset.json").exists()}
    new_rows: list[dict] = []
    for j in jobs:
        t = time.perf_counter()
        print(
            f"[{time.perf_counter() - t0:6.0f} s] {j.method:10s} {j.dataset:10s} {j.variant:14s}", end=" ", flush=True
        )
        res = execute(j, WORK, out)
        if j.section == "isochrones":
            new_rows += iso_rows(j, res)
        else:
            new_rows.append(row_from(j, res))
        status = f"wall {res['wall_s']:.3f} s" if res.get("ok") else res.get("error", "failed")
        print(f"{status}  peak {res.get('peak_rss_mb', 0):.0f} MB  ({time.perf_counter() - t:.0f} s)", flush=True)
        if j.section == "reach" and res.get("ok"):
            ref_path = out / f"{j.dataset}__circles__npz.npy"
            mask_path = out / f"{j.dataset}__circles__npz.attached.npy"
            attached = np.load(mask_path) if mask_path.exists() else None
            if j.method == "osmnx":
                ref = recipe_reference(res, WORK, out)
                ans = np.load(out / f"{j.key}.npy")
                if ref is not None:
                    new_rows[-1].update(agreement(ref, ans, attached))
            elif not (j.method == "circles" and j.variant == "npz") and ref_path.exists():
                new_rows[-1].update(agreement(np.load(ref_path), np.load(out / f"{j.key}.npy"), attached))
    info["loadavg_end"] = os.getloadavg()[0]
    results.mkdir(parents=True, exist_ok=True)
    if only and (results / "run_info.json").exists():
        old = json.loads((results / "run_info.json").read_text())
        note = (
            f"{', '.join(only)} re-run on {info['date']} at commit {info['commit']} (load "
            f"{info['loadavg_start']:.2f} → {info['loadavg_end']:.2f}); other rows from the run of {old['date']}"
        )
        info = old | {"partial": old.get("partial", []) + [note]}
    (results / "run_info.json").write_text(json.dumps(info, indent=1))
    # merge with earlier rows when only part was run
    rows = new_rows
    if only:
        done = {(r["section"], r["dataset"], r["method"], r["variant"]) for r in new_rows}
        old = [
            r
            for r in load_rows(results / "results.csv")
            if (r["section"], r["dataset"], r["method"], r["variant"]) not in done
        ]
        rows = old + new_rows
        order = {
            (j.dataset, j.method, j.variant if j.section != "isochrones" else ""): i
            for i, j in enumerate(plan(datasets, a.quick))
        }
        rows.sort(
            key=lambda r: order.get(
                (r["dataset"], r["method"], r["variant"] if r["section"] != "isochrones" else ""), 10**6
            )
        )
    write_report(rows, info, metas, results, big)
    print(f"done in {time.perf_counter() - t0:.0f} s: {results / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
