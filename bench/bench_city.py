"""City-scale benchmark (issues 15 and 16): the current checkout and a baseline, side by side.

Each version runs in its own child process (``python bench/bench_city.py _child SPEC``), a
small version-agnostic driver that imports ``circles`` from that version's folder
(``PYTHONPATH``) and either

* ``api``: calls ``pipeline.analyse(...)`` then ``pipeline.write_outputs(...)`` (keyword
  options a version does not accept are left out; the signature is inspected), or
* ``cli``: runs ``circles run ... --no-figures --cache ''`` through ``circles.cli.main``,
  the wall time a user sees.

The driver prints ``@@stage NAME`` whenever it enters a stage (load, network, residents,
reach, gaps, isochrones, outputs, maps; found by wrapping the functions the pipeline calls,
where a version has them), so the parent knows where a run is. The parent polls the RSS of
the child and its children with psutil (peak memory, per stage and per process), enforces a
memory cap and a time cap (kills the process group: "stopped at X GB after Y s in stage Z"),
then measures the outputs (sizes; ``map.html`` opened offline in headless Chromium until
the map sets ``data-circles-ready``) and writes ``bench/results/city_<name>.json`` and the
table ``bench/results/city.md`` (all ``city_*.json`` files, one section each).

The baseline (default ``f877ed4``, the version before issue 25) is checked out as a
detached ``git worktree`` in a temporary folder, removed afterwards.

Usage::

    python bench/bench_city.py --preset city100k                 # generates the city if missing
    python bench/bench_city.py --preset city1m --time-cap 1800 --mem-cap 16
    python bench/bench_city.py --preset city10k --versions current --modes api
    python bench/bench_city.py --data /tmp/mycity --name mycity   # any folder from gen_city.py
    python bench/bench_city.py --batch bench/data/generated/batch_city100k_8/cities.yaml --dask local:2
    python bench/bench_city.py --report-only                      # rewrite city.md from the JSON files
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
WORK = BENCH / "work" / "city"
GENERATED = BENCH / "data" / "generated"
DEFAULT_BASELINE = "f877ed4"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MARK = "@@stage "
DATA = "@@data "  # a JSON object the parent keeps even if the child is killed later

#: Stages in the order of a run; others a version reports are shown after them.
STAGES = ("load", "network", "residents", "reach", "gaps", "isochrones", "outputs", "maps")
#: Functions the driver wraps to announce stages: (module, attribute, stage, nested).
#: A nested stage returns to the enclosing stage when it ends; the others last until the next.
HOOKS = (
    ("circles.pipeline", "read_walk_network", "network", False),
    ("circles.pipeline", "_download_network", "network", False),
    ("circles.pipeline", "place_residents", "residents", False),
    ("circles.pipeline", "compute_access", "reach", False),
    ("circles.pipeline", "compute_gaps", "gaps", False),
    ("circles.pipeline", "build_ledger", "gaps", False),
    ("circles.isochrones", "type_isochrones", "isochrones", False),
    ("circles.export", "write_geojson", "geojson", True),
    ("circles.mapping", "write_maps", "maps", True),
    ("circles.figures", "write_figures", "figures", True),
)
#: Options tried on every version; passed only where the version accepts them.
DEFAULT_OPTIONS = {"district_field": "street"}


@dataclass(frozen=True)
class Target:
    """One target of the issue: ``metric`` must stay below ``limit``."""

    metric: str
    limit: float
    unit: str
    text: str


TARGETS: dict[str, tuple[Target, ...]] = {
    "city100k": (
        Target("run_s", 60, "s", "whole `circles run --no-figures`"),
        Target("peak_gb", 2, "GB", "peak memory"),
        Target("map_mb", 15, "MB", "overview map.html"),
        Target("map_ready_s", 5, "s", "map.html ready in headless Chromium"),
    ),
    "city1m": (
        Target("tables_s", 60, "s", "tables + ledger"),
        Target("tables_peak_gb", 4, "GB", "peak memory up to the tables + ledger"),
        Target("run_s", 180, "s", "whole run without figures"),
    ),
}
#: Default caps per preset: seconds, GB (the baseline needed 15 min / 3.2 GB on city100k).
CAPS = {"city100k": (1800.0, 8.0), "city1m": (1800.0, 16.0)}
DEFAULT_CAPS = (900.0, 8.0)


# ==========================================================================================
# Child: the version-agnostic driver (imports circles from PYTHONPATH)
# ==========================================================================================


class _Stages:
    """Announces stages on stdout and adds up the time spent in wrapped functions."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.current = "start"
        self.active: dict[str, int] = {}
        self.spent: dict[str, float] = {}
        self.captured: dict = {}

    def enter(self, name: str) -> None:
        self.current = name
        print(f"{MARK}{name} {time.perf_counter() - self.t0:.3f}", flush=True)

    def wrap(self, fn: Callable, name: str, nested: bool) -> Callable:
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            outer = self.active.get(name, 0) == 0
            self.active[name] = self.active.get(name, 0) + 1
            before = self.current
            if outer and name != self.current:
                self.enter(name)
            t = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
                if name == "load":  # pipeline.analyse in CLI mode: keep the result's timings
                    self.captured["timings"] = dict(getattr(out, "timings", {}) or {})
                    self.captured["counts"] = _counts(out)
                    _send(self.captured)
                return out
            finally:
                self.active[name] -= 1
                if outer:
                    self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t
                    if nested:
                        self.enter(before)

        return wrapper

    def install(self, hooks) -> list[str]:
        import importlib

        done = []
        pipeline = importlib.import_module("circles.pipeline")
        for mod_name, attr, stage, nested in hooks:
            try:
                mod = importlib.import_module(mod_name)
            except ImportError:
                continue
            fn = getattr(mod, attr, None)
            if not callable(fn):
                continue
            wrapped = self.wrap(fn, stage, nested)
            for m in {mod, pipeline}:
                if getattr(m, attr, None) is fn:
                    setattr(m, attr, wrapped)
            done.append(f"{mod_name}.{attr}")
        return done


def _send(data: dict) -> None:
    print(DATA + json.dumps(data, default=str), flush=True)


def _counts(result) -> dict:
    out = {}
    with contextlib.suppress(Exception):
        out["communities"] = int(len(result.communities))
        out["facilities"] = int(len(result.facilities))
        if "placed" in result.facilities:
            out["facilities_set_aside"] = int((~result.facilities["placed"].astype(bool)).sum())
        out["residents"] = int(len(result.residents))
        out["network_nodes"] = int(result.network.n_nodes)
        out["network_edges"] = int(result.network.n_edges)
        out["gap_rows"] = int(len(result.gaps))
    return out


def _run_parser_options(cli, command: str) -> set[str] | None:
    """Option strings of a ``circles`` subcommand (None if the parser cannot be inspected)."""
    import argparse as ap

    try:
        parser = cli.build_parser()
    except Exception:
        return None
    for action in parser._actions:  # argparse has no public way to list subcommands
        if isinstance(action, ap._SubParsersAction):
            sub = action.choices.get(command)
            return set(sub._option_string_actions) if sub is not None else set()
    return None


def _flags(options: dict, accepted: set[str] | None) -> tuple[list[str], list[str]]:
    """``{"district_field": "street", "no_figures": True}`` -> CLI flags the parser accepts."""
    argv, skipped = [], []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is False or value is None:
            continue
        if accepted is not None and flag not in accepted:
            skipped.append(key)
            continue
        argv += [flag] if value is True else [flag, str(value)]
    return argv, skipped


def _read_run_info(out: Path) -> dict | None:
    p = out / "run_info.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def child_main(spec_path: str) -> int:
    """Run one measurement as described by the JSON ``spec_path``; write ``spec["report"]``."""
    import inspect
    import resource
    import traceback

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    stages = _Stages()
    report: dict = {"mode": spec["mode"], "ok": False}
    out = Path(spec["out"])

    def finish() -> None:
        report["stage"] = stages.current
        report["hooked_s"] = stages.spent
        report["child_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report["child_s"] = time.perf_counter() - stages.t0
        Path(spec["report"]).write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")

    try:
        stages.enter("import")
        import circles
        from circles import cli, pipeline

        report["circles_file"] = circles.__file__
        report["circles_version"] = getattr(circles, "__version__", "?")
        report["hooks"] = stages.install(HOOKS)
        options = dict(spec.get("options") or {})
        if spec["mode"] == "api":
            a_sig = set(inspect.signature(pipeline.analyse).parameters)
            w_sig = set(inspect.signature(pipeline.write_outputs).parameters)
            try:  # versions with circles.options take any declared option by name
                import dataclasses

                from circles import options as declared

                a_sig |= {f.name for f in dataclasses.fields(declared.RunOptions)}
                w_sig |= {f.name for f in dataclasses.fields(declared.OutputOptions)}
            except ImportError:
                pass
            akw: dict = {}
            wkw: dict = {}
            if "progress" in a_sig:
                akw["progress"] = False
            if "cache_dir" in a_sig:
                akw["cache_dir"] = spec.get("cache") or None
            if spec.get("buildings"):
                akw["buildings"] = spec["buildings"]
            if "figures" in w_sig:
                wkw["figures"] = False
            skipped = []
            for key, value in options.items():
                if key in a_sig:
                    akw[key] = value
                elif key in w_sig:
                    wkw[key] = value
                else:
                    skipped.append(key)
            report["options_used"] = {**akw, **wkw}
            report["options_skipped"] = skipped
            stages.enter("load")
            t = time.perf_counter()
            result = pipeline.analyse(spec["boundaries"], spec["facilities"], spec["network"], **akw)
            report["analyse_s"] = time.perf_counter() - t
            report["timings"] = dict(getattr(result, "timings", {}) or {})
            report["counts"] = _counts(result)
            _send({"timings": report["timings"], "counts": report["counts"], "analyse_s": report["analyse_s"]})
            stages.enter("outputs")
            t = time.perf_counter()
            pipeline.write_outputs(result, out, **wkw)
            report["write_s"] = time.perf_counter() - t
        elif spec["mode"] == "cli":
            stages.install((("circles.pipeline", "analyse", "load", False),))
            stages.install((("circles.pipeline", "write_outputs", "outputs", False),))
            accepted = _run_parser_options(cli, "run")
            flags, skipped = _flags(options, accepted)
            argv = ["run", "--boundaries", spec["boundaries"], "--facilities", spec["facilities"]]
            argv += [
                "--network",
                spec["network"],
                "--out",
                str(out),
                "--no-figures",
                "--cache",
                spec.get("cache") or "",
            ]
            if spec.get("buildings"):
                argv += ["--buildings", spec["buildings"]]
            argv += flags
            report["argv"] = argv
            report["options_skipped"] = skipped
            rc = cli.main(argv)
            report["returncode"] = rc
            report["timings"] = stages.captured.get("timings", {})
            report["counts"] = stages.captured.get("counts", {})
            report["analyse_s"] = stages.spent.get("load")
            report["write_s"] = stages.spent.get("outputs")
            if rc:
                raise RuntimeError(f"circles run exited with {rc}")
        elif spec["mode"] == "batch":
            accepted = _run_parser_options(cli, "batch")
            if not accepted:
                report["unavailable"] = "circles batch not available in this version"
                print(report["unavailable"], flush=True)
                report["ok"] = True
                return 0
            if spec.get("dask") and "--dask" not in accepted:
                report["unavailable"] = "circles batch has no --dask option in this version"
                print(report["unavailable"], flush=True)
                report["ok"] = True
                return 0
            argv = ["batch"] + (["--config", spec["batch"]] if "--config" in accepted else [spec["batch"]])
            argv += ["--out", str(out)] if "--out" in accepted else []
            argv += ["--dask", spec["dask"]] if spec.get("dask") else []
            report["argv"] = argv
            stages.enter("batch")
            rc = cli.main(argv)
            report["returncode"] = rc
            if rc:
                raise RuntimeError(f"circles batch exited with {rc}")
        else:
            raise ValueError(f"unknown mode {spec['mode']!r}")
        report["run_info"] = _read_run_info(out)
        report["ok"] = True
        stages.enter("done")
        return 0
    except BaseException as exc:  # a failed run is a result too
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()[-4000:]
        print(report["traceback"], file=sys.stderr, flush=True)
        return 1
    finally:
        finish()


# ==========================================================================================
# Parent: versions, monitoring, measurements
# ==========================================================================================


@dataclass
class Version:
    """One version of circles to run: a folder put first on PYTHONPATH."""

    key: str  # "current" or "baseline"
    label: str  # shown in the table, e.g. "baseline 87911b2"
    root: Path
    commit: str


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def current_version() -> Version:
    sha = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    commit = sha + ("+dirty" if dirty else "")
    return Version("current", f"current {commit}", ROOT, commit)


@contextlib.contextmanager
def baseline_version(ref: str, folder: str | None = None):
    """The baseline checked out as a detached worktree in a temporary folder (removed after)."""
    if folder:
        yield Version("baseline", f"baseline {Path(folder).name}", Path(folder), folder)
        return
    sha = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    tmp = Path(tempfile.mkdtemp(prefix="circles-baseline-"))
    path = tmp / f"circles-{sha}"
    _git("worktree", "add", "--detach", str(path), sha)
    try:
        yield Version("baseline", f"baseline {sha}", path, sha)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _git("worktree", "remove", "--force", str(path))
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(subprocess.CalledProcessError):
            _git("worktree", "prune")


def _pss(pid: int, rss: int) -> int:
    """Proportional set size of a process (bytes; Linux ``smaps_rollup``), else its RSS: a
    forked worker shares its parent's pages, which RSS counts in both and PSS splits."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return rss


class Monitor:
    """Runs one child, follows its stages, samples memory and enforces the caps."""

    def __init__(self, label: str, time_cap: float, mem_cap_gb: float, interval: float = 0.2) -> None:
        self.label = label
        self.time_cap = time_cap
        self.mem_cap = mem_cap_gb * 2**30
        self.interval = interval
        self.stage = "start"
        self.marks: list[tuple[str, float]] = []  # (stage, parent seconds)
        self.segments: list[list] = [["start", 0.0, 0]]  # one per stage visit: stage, start s, peak bytes
        self.peak = 0
        self.peak_pss = 0  # summed proportional set size: shared (forked) pages counted once
        self.peak_stage: dict[str, int] = {}
        self.peak_pid: dict[int, tuple[int, str]] = {}
        self.lock = threading.Lock()
        self.t0 = 0.0
        self.peak_now = 0
        # own CPU (user + system) of every process of the tree at its last sample: the worker
        # processes started from a fork server are not the child's children, so the child's
        # rusage misses them
        self.cpu_pid: dict[int, float] = {}
        self.cpu_marks: list[tuple[str, float]] = []
        self.data: dict = {}  # what the child sent along the way (@@data lines)

    def _reader(self, stream, log) -> None:
        for line in stream:
            if line.startswith(MARK):
                name = line[len(MARK) :].split()[0]
                now = time.perf_counter() - self.t0
                with self.lock:
                    self.stage = name
                    self.marks.append((name, now))
                    self.cpu_marks.append((name, sum(self.cpu_pid.values())))
                    self.segments.append([name, now, 0])
                print(f"  [{self.label}] {now:8.1f} s  {name:<11} rss {self.peak_now / 2**30:5.2f} GB", flush=True)
            elif line.startswith(DATA):
                with contextlib.suppress(ValueError):
                    self.data.update(json.loads(line[len(DATA) :]))
            else:
                log.write(line)
                log.flush()

    def run(self, cmd: list[str], env: dict, cwd: Path, log_path: Path) -> dict:
        import psutil

        log_path.parent.mkdir(parents=True, exist_ok=True)
        stopped = None
        with open(log_path, "w", encoding="utf-8") as log:
            self.t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
            )
            reader = threading.Thread(target=self._reader, args=(proc.stdout, log), daemon=True)
            reader.start()
            root = psutil.Process(proc.pid)
            status = rusage = None
            while True:
                pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    status, rusage = st, ru
                    break
                elapsed = time.perf_counter() - self.t0
                rss = self._sample(root)
                if stopped is None and (rss > self.mem_cap or elapsed > self.time_cap):
                    why = "memory cap" if rss > self.mem_cap else "time cap"
                    stopped = f"stopped at {rss / 2**30:.1f} GB after {elapsed:.0f} s in stage {self.stage} ({why})"
                    print(f"  [{self.label}] {stopped}", flush=True)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                time.sleep(self.interval)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - self.t0
            reader.join(timeout=10)
        maxrss = rusage.ru_maxrss * 1024 if rusage else 0
        return {
            "returncode": proc.returncode,
            "stopped": stopped,
            "wall_s": wall,
            "cpu_s": (rusage.ru_utime + rusage.ru_stime) if rusage else None,
            "cpu_tree_s": self._tree_cpu(rusage),
            "cpu_stages_s": _marker_durations(self.cpu_marks, self._tree_cpu(rusage) or 0.0),
            "peak_gb": max(self.peak, maxrss) / 2**30,
            "peak_sampled_gb": self.peak / 2**30,
            "peak_pss_gb": self.peak_pss / 2**30,
            "child_maxrss_gb": maxrss / 2**30,
            "peak_by_stage_gb": {k: v / 2**30 for k, v in self.peak_stage.items()},
            "peak_segments": [(n, round(t, 2), round(b / 2**30, 3)) for n, t, b in self.segments],
            "processes": sorted(
                ({"pid": p, "peak_gb": v / 2**30, "cmd": c} for p, (v, c) in self.peak_pid.items()),
                key=lambda r: -r["peak_gb"],
            )[:8],
            "stage_at_end": self.stage,
            "marks": self.marks,
            "marker_stages_s": _marker_durations(self.marks, wall),
            "sent": self.data,
        }

    def _tree_cpu(self, rusage) -> float | None:
        """CPU seconds of the whole process tree: the child's own (its rusage, which also holds
        the children it waited for) or the sum of every process's last sample, the larger."""
        sampled = sum(self.cpu_pid.values())
        waited = (rusage.ru_utime + rusage.ru_stime) if rusage else 0.0
        return max(sampled, waited) or None

    def _sample(self, root) -> int:
        import psutil

        total = 0
        pss = 0
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return 0
        for p in procs:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            pss += _pss(p.pid, rss)
            with contextlib.suppress(psutil.Error):
                cpu = p.cpu_times()
                with self.lock:
                    self.cpu_pid[p.pid] = cpu.user + cpu.system
            old = self.peak_pid.get(p.pid)
            if old is None or rss > old[0]:
                cmd = old[1] if old else _short_cmd(p)
                self.peak_pid[p.pid] = (rss, cmd)
        with self.lock:
            stage = self.stage
            seg = self.segments[-1]
            seg[2] = max(seg[2], total)
        self.peak_now = total
        self.peak = max(self.peak, total)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_stage[stage] = max(self.peak_stage.get(stage, 0), total)
        return total


def _short_cmd(p) -> str:
    with contextlib.suppress(Exception):
        cmd = p.cmdline()
        return " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd[:4]))[:80]
    return "?"


def _marker_durations(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, t), nxt in zip(marks, [*marks[1:], ("end", end)], strict=False):
        out[name] = out.get(name, 0.0) + nxt[1] - t
    return out


def _dir_size(path: Path) -> tuple[int, int]:
    if not path.exists():
        return 0, 0
    if path.is_file():
        return path.stat().st_size, 1
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def output_sizes(out: Path) -> dict:
    """Sizes (MB) of the outputs the issue names, and of the whole folder."""
    mb = 2**20
    res = {}
    for key, rel in (("map", "map.html"), ("isochrones", "isochrones.geojson"), ("community_maps", "community_maps")):
        size, n = _dir_size(out / rel)
        res[f"{key}_mb"] = size / mb if n else None
        if key == "community_maps":
            res["community_maps_files"] = n
    size, n = _dir_size(out)
    res["folder_mb"], res["folder_files"] = size / mb, n
    return res


def map_ready(path: Path, timeout: float = 60.0) -> dict:
    """Seconds until ``path`` sets ``data-circles-ready`` in headless Chromium, offline.

    A fresh browser per measurement (cold page); the network is cut with a proxy to a
    closed local port. Also the browser's peak memory and its SEVERE console messages.
    """
    import psutil

    if not path.exists():
        return {"error": "no map.html"}
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return {"error": "headless Chromium is missing (/usr/bin/chromium, /usr/bin/chromedriver)"}
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="circles-chromium-"))
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
        "--window-size=1280,800",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER))
    drv = webdriver.Chrome(options=opts, service=service)
    res: dict = {}
    peak = 0

    def sample() -> None:
        nonlocal peak
        with contextlib.suppress(psutil.Error, AttributeError):
            root = psutil.Process(service.process.pid)
            total = 0
            for p in [root] + root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            peak = max(peak, total)

    try:
        drv.set_page_load_timeout(timeout)
        t0 = time.perf_counter()
        with contextlib.suppress(TimeoutException):
            drv.get(path.resolve().as_uri())
        ready = None
        while time.perf_counter() - t0 < timeout:
            if drv.execute_script("return !!document.querySelector('[data-circles-ready]')"):
                ready = time.perf_counter() - t0
                break
            sample()
            time.sleep(0.05)
        sample()
        res["ready_s"] = ready
        if ready is None:
            res["error"] = f"not ready after {timeout:.0f} s"
        res["severe"] = [e["message"][:200] for e in drv.get_log("browser") if e["level"] == "SEVERE"][:5]
    except WebDriverException as exc:
        res["error"] = f"browser: {exc.msg or type(exc).__name__}"[:300]
    finally:
        with contextlib.suppress(Exception):
            drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
    res["browser_peak_gb"] = peak / 2**30
    return res


def _env_for(version: Version) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(version.root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MPLBACKEND"] = "Agg"
    env.pop("CIRCLES_UPDATE_SCREENSHOT", None)
    return env


def run_version(
    version: Version,
    mode: str,
    city: dict,
    work: Path,
    *,
    time_cap: float,
    mem_cap: float,
    options: dict,
    cache: str | None,
    browser: bool,
    browser_timeout: float,
) -> dict:
    """One measurement of one version in one mode; returns its record."""
    label = f"{version.key} {mode}"
    base = work / f"{version.key}_{mode}"
    out = base / "out"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    spec = {
        "mode": mode,
        "boundaries": str(city["boundaries"]),
        "facilities": str(city["facilities"]),
        "network": str(city["network"]),
        "buildings": str(city["buildings"]) if city.get("buildings") else None,
        "out": str(out),
        "report": str(base / "report.json"),
        "options": options,
        "cache": cache,
    }
    (base / "spec.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    print(f"{label}: {version.label} ({version.root})", flush=True)
    mon = Monitor(label, time_cap, mem_cap)
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", str(base / "spec.json")]
    rec = mon.run(cmd, _env_for(version), base, base / "child.log")
    rec.update(version=version.label, key=version.key, commit=version.commit, mode=mode)
    child = {}
    if (base / "report.json").exists():
        child = json.loads((base / "report.json").read_text(encoding="utf-8"))
    rec["child"] = {**rec.pop("sent", {}), **{k: v for k, v in child.items() if k != "traceback"}}
    if rec["stopped"]:
        rec["status"] = "stopped"
        rec["message"] = rec["stopped"]
    elif child.get("ok") and rec["returncode"] == 0:
        rec["status"] = "ok"
    else:
        rec["status"] = "failed"
        err = child.get("error") or f"exit code {rec['returncode']} (no report; see {base / 'child.log'})"
        rec["message"] = f"failed in stage {child.get('stage', rec['stage_at_end'])}: {err}"[:500]
    rec["stages_s"] = stage_times(rec)
    rec.update(derived(rec))
    rec["sizes"] = output_sizes(out)
    if browser and (out / "map.html").exists():
        print(f"  [{label}] opening map.html ({rec['sizes']['map_mb']:.1f} MB) in headless Chromium", flush=True)
        rec["browser"] = map_ready(out / "map.html", browser_timeout)
    rec["log"] = str(base / "child.log")
    rec["out"] = str(out)
    msg = rec.get("message") or f"{rec['wall_s']:.1f} s, peak {rec['peak_gb']:.2f} GB"
    print(f"  [{label}] {rec['status']}: {msg}", flush=True)
    return rec


def stage_times(rec: dict) -> dict[str, float]:
    """Stage seconds: the version's own ``Result.timings`` for the analysis, the driver's
    timing of ``write_outputs`` split into maps, ``isochrones.geojson`` and the rest; the time
    between stage markers for stages a stopped or failed run did not report."""
    child = rec.get("child") or {}
    out: dict[str, float] = {}
    timings = child.get("timings") or {}
    out.update({k: float(v) for k, v in timings.items() if isinstance(v, int | float)})
    hooked = child.get("hooked_s") or {}
    write = child.get("write_s")
    if write is not None:
        maps = float(hooked.get("maps", 0.0))
        figures = float(hooked.get("figures", 0.0))
        geojson = float(hooked.get("geojson", 0.0))
        out["outputs"] = float(write) - maps - figures - geojson
        out["maps"] = maps
        if geojson:
            out["geojson"] = geojson
        if figures:
            out["figures"] = figures
    info = child.get("run_info") or {}
    for key in ("timings", "stages", "stage_seconds", "stage_s"):
        extra = info.get(key) if isinstance(info, dict) else None
        if isinstance(extra, dict):
            for k, v in extra.items():
                if isinstance(v, int | float) and k not in out:
                    out[k] = float(v)
    # a run stopped or failed part way: the time between stage markers for what is missing
    for k, v in (rec.get("marker_stages_s") or {}).items():
        if k not in ("start", "import", "done", "batch") and k not in out:
            out[k] = v
    return out


#: Stages entered inside the writing of the outputs (HOOKS' nested stages).
_NESTED = tuple(stage for _, _, stage, nested in HOOKS if nested)


def derived(rec: dict) -> dict:
    """Figures the targets read."""
    st = rec["stages_s"]
    res: dict = {}
    ok = rec["status"] == "ok" and "outputs" in st
    analysis = [st[k] for k in ("load", "network", "residents", "reach", "gaps") if k in st]
    if ok and analysis:  # what tables_s was before 2026-12-08: it left out steps it did not name
        res["stage_sum_s"] = sum(analysis) + st["outputs"]
    # the wall time from the start of the analysis until the writing of the outputs, every step
    # in it counted (the pairs within reach, the network checks), less the wait for the walking
    # areas; then the writing of the tables and the ledger
    marks = rec.get("marker_stages_s") or {}
    before = [v for k, v in marks.items() if k not in ("start", "import", "outputs", "done", "batch", *_NESTED)]
    if ok and before:
        res["tables_s"] = sum(before) - st.get("isochrones", 0.0) + st["outputs"]
    # peak memory from the start to the first map: every stage visit but the walking areas
    tp = []
    for name, _, peak in rec.get("peak_segments") or []:
        if name in ("maps", "figures", "done"):
            break
        if name not in ("isochrones", "geojson"):
            tp.append(peak)
    if tp:
        res["tables_peak_gb"] = max(tp)
    segs = rec.get("peak_segments") or []
    if segs:
        top = max(p for _, _, p in segs)
        res["peak_stage"] = next(n for n, _, p in segs if p == top)
    return res


# ==========================================================================================
# One city
# ==========================================================================================


def city_files(folder: Path, buildings: bool = False) -> dict:
    net = folder / "network.osm.bz2"
    if not net.exists():
        net = folder / "network.osm"
    files = {
        "boundaries": folder / "communities.geojson",
        "facilities": folder / "facilities.geojson",
        "network": net,
        "buildings": folder / "buildings.geojson" if buildings else None,
    }
    missing = [str(p) for p in files.values() if p is not None and not p.exists()]
    if missing:
        raise SystemExit(f"missing city files: {', '.join(missing)} (generate with bench/gen_city.py)")
    meta = folder / "city.json"
    files["meta"] = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    return files


def _type_ids(text: str) -> set[str]:
    """Facility type ids of a facility_types YAML text."""
    import yaml

    data = yaml.safe_load(text) or {}
    return {str(t["id"]) for t in data.get("facility_types") or [] if isinstance(t, dict) and "id" in t}


def common_facilities(path: Path, ref: str, work: Path) -> Path:
    """The city's facilities of the types the baseline ``ref`` knows too (newer types such as
    bus_stop or canteen would stop it at load): one input file for every version, so that they
    are compared on the same facilities."""
    import geopandas as gpd

    known: set[str] = set()
    for name in ("facility_types.yaml", "facility_types_extra.yaml"):
        with contextlib.suppress(subprocess.CalledProcessError):
            known |= _type_ids(_git("show", f"{ref}:circles/config/{name}"))
    gdf = gpd.read_file(path)
    keep = gdf[gdf["facility_type"].isin(known)]
    work.mkdir(parents=True, exist_ok=True)
    out = work / "facilities_common.geojson"
    keep.to_file(out, driver="GeoJSON")
    dropped = sorted(set(gdf["facility_type"]) - known)
    print(f"common facility types: {len(keep):,} of {len(gdf):,} facilities (left out: {', '.join(dropped) or 'none'})")
    return out


def ensure_preset(preset: str, jobs: int = 1) -> Path:
    """The preset's city folder, generated (untimed) when missing or made by another generator."""
    sys.path.insert(0, str(BENCH))
    import gen_city

    folder = GENERATED / preset
    meta = folder / "city.json"
    old = json.loads(meta.read_text(encoding="utf-8")).get("generator_sha") if meta.exists() else None
    if old != gen_city.generator_sha():
        why = "missing" if not meta.exists() else "written by another version of gen_city.py"
        print(f"generating {preset} into {folder} ({why}; not timed) ...", flush=True)
        s = gen_city.generate_city(folder, preset=preset, jobs=jobs, **gen_city.PRESETS[preset])
        print(gen_city._one_line(preset, s), flush=True)
    return folder


def machine_info() -> dict:
    import psutil

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def bench_city(args: argparse.Namespace) -> Path:
    if args.data:
        folder = Path(args.data).resolve()
        name = args.name or folder.name
    else:
        folder = ensure_preset(args.preset, args.jobs)
        name = args.name or args.preset
    city = city_files(folder, args.buildings)
    if args.common_types:
        city["facilities"] = common_facilities(city["facilities"], args.baseline_ref, WORK / name)
    preset = city["meta"].get("preset") or name
    cap_t, cap_m = CAPS.get(preset, DEFAULT_CAPS)
    time_cap = args.time_cap or cap_t
    mem_cap = args.mem_cap or cap_m
    work = WORK / name
    options = dict(DEFAULT_OPTIONS)
    for item in args.option or []:
        key, _, value = item.partition("=")
        options[key.replace("-", "_")] = _parse_value(value)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    keys = [v.strip() for v in args.versions.split(",") if v.strip()]
    record = {
        "name": name,
        "preset": preset,
        "city": {k: v for k, v in city["meta"].items() if k not in ("far_facility_ids", "nonwalk_junction_ids")},
        "city_folder": str(folder),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "load_start": list(os.getloadavg()),
        "caps": {"time_s": time_cap, "memory_gb": mem_cap},
        "options": options,
        "runs": [],
    }
    cur = current_version()
    record["commit"] = cur.commit
    with contextlib.ExitStack() as stack:
        versions = []
        for key in keys:
            if key == "current":
                versions.append(cur)
            elif key == "baseline":
                versions.append(stack.enter_context(baseline_version(args.baseline_ref, args.baseline_dir)))
            else:
                raise SystemExit(f"unknown version {key!r}: current or baseline")
        for v in versions:
            v_modes = modes if v.key == "current" or args.baseline_cli else [m for m in modes if m != "cli"] or modes
            for i, mode in enumerate(v_modes):
                rec = run_version(
                    v,
                    mode,
                    city,
                    work,
                    time_cap=time_cap,
                    mem_cap=mem_cap,
                    options=options,
                    cache=args.cache,
                    browser=not args.no_browser and i == 0,
                    browser_timeout=args.browser_timeout,
                )
                record["runs"].append(rec)
                if not args.keep_outputs and mode != v_modes[-1]:
                    shutil.rmtree(Path(rec["out"]), ignore_errors=True)
    record["load_end"] = list(os.getloadavg())
    record["baseline_ref"] = args.baseline_ref
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"city_{name}.json"
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    write_markdown()
    print(f"wrote {path} and {RESULTS / 'city.md'}")
    return path


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        with contextlib.suppress(ValueError):
            return cast(text)
    return text


# ==========================================================================================
# Batch (issue 16)
# ==========================================================================================


def bench_batch(args: argparse.Namespace) -> Path:
    """Serial ``circles run`` per city for every version, then ``circles batch`` (serial and
    ``--dask``) where the version has it."""
    import yaml

    cfg_path = Path(args.batch).resolve()
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    defaults = dict(cfg.get("defaults") or {})
    cities = cfg.get("cities") or []
    parent = cfg_path.parent.name
    name = args.name or (parent if parent.startswith("batch") else f"batch_{parent}")
    work = WORK / name
    time_cap = args.time_cap or 3600.0
    mem_cap = args.mem_cap or 16.0
    record = {
        "name": name,
        "preset": name,
        "kind": "batch",
        "batch": str(cfg_path),
        "cities": len(cities),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "load_start": list(os.getloadavg()),
        "caps": {"time_s": time_cap, "memory_gb": mem_cap},
        "rows": [],
    }
    cur = current_version()
    record["commit"] = cur.commit
    keys = [v.strip() for v in args.versions.split(",") if v.strip()]
    with contextlib.ExitStack() as stack:
        versions = [
            cur if k == "current" else stack.enter_context(baseline_version(args.baseline_ref, args.baseline_dir))
            for k in keys
        ]
        for v in versions:
            # serial: one `circles run` per city, one after another (works with every version)
            runs = []
            for c in cities:
                files = {k: str((cfg_path.parent / c[k]).resolve()) for k in ("boundaries", "facilities", "network")}
                opts = {k: val for k, val in {**defaults, **c}.items() if k not in ("name", *files, "no_figures")}
                rec = run_version(
                    v,
                    "cli",
                    files,
                    work / c["name"],
                    time_cap=time_cap,
                    mem_cap=mem_cap,
                    options=opts,
                    cache=args.cache,
                    browser=False,
                    browser_timeout=0,
                )
                runs.append(rec)
                shutil.rmtree(Path(rec["out"]), ignore_errors=True)
            record["rows"].append(
                {
                    "version": v.label,
                    "how": f"serial `circles run` x {len(cities)}",
                    "status": "ok" if all(r["status"] == "ok" for r in runs) else "failed",
                    "wall_s": sum(r["wall_s"] for r in runs),
                    "peak_gb": max((r["peak_gb"] for r in runs), default=0.0),
                    "per_city_s": [round(r["wall_s"], 1) for r in runs],
                    "message": "; ".join(r["message"] for r in runs if r.get("message"))[:500],
                }
            )
            for dask in [None] + ([args.dask] if args.dask else []):
                record["rows"].append(run_batch_command(v, cfg_path, dask, work, time_cap, mem_cap))
    record["load_end"] = list(os.getloadavg())
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"city_{name}.json"
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    write_markdown()
    print(f"wrote {path} and {RESULTS / 'city.md'}")
    return path


def run_batch_command(
    version: Version, cfg: Path, dask: str | None, work: Path, time_cap: float, mem_cap: float
) -> dict:
    """``circles batch CONFIG [--dask SPEC]`` in one monitored child (workers included)."""
    how = f"`circles batch{' --dask ' + dask if dask else ''}`"
    base = work / f"{version.key}_batch{'_dask' if dask else ''}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    spec = {"mode": "batch", "batch": str(cfg), "dask": dask, "out": str(base / "out"), "report": str(base / "r.json")}
    (base / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    mon = Monitor(f"{version.key} batch", time_cap, mem_cap)
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", str(base / "spec.json")]
    rec = mon.run(cmd, _env_for(version), base, base / "child.log")
    child = json.loads((base / "r.json").read_text(encoding="utf-8")) if (base / "r.json").exists() else {}
    row = {"version": version.label, "how": how, "wall_s": rec["wall_s"], "peak_gb": rec["peak_gb"]}
    if child.get("unavailable"):
        row.update(status="n/a", message=child["unavailable"], wall_s=None, peak_gb=None)
        print(f"  [{version.key}] {child['unavailable']}", flush=True)
        return row
    workers = [p for p in rec["processes"] if p["pid"] != rec["processes"][0]["pid"]] if rec["processes"] else []
    row["processes"] = rec["processes"]
    row["worker_peak_gb"] = [round(p["peak_gb"], 2) for p in workers]
    if rec["stopped"]:
        row.update(status="stopped", message=rec["stopped"])
    elif child.get("ok") and rec["returncode"] == 0:
        row["status"] = "ok"
    else:
        row.update(status="failed", message=(child.get("error") or f"exit code {rec['returncode']}")[:500])
    shutil.rmtree(base / "out", ignore_errors=True)
    return row


# ==========================================================================================
# Markdown
# ==========================================================================================


def _fmt(v, nd: int = 1, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{nd}f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return f"{v}{unit}"


def _value(rec: dict, metric: str):
    """A run's figure for a target or a table row (None when not measured)."""
    if metric == "run_s":
        return rec["wall_s"] if rec["status"] == "ok" else None
    if metric == "peak_gb":
        return rec["peak_gb"]
    if metric == "map_mb":
        return (rec.get("sizes") or {}).get("map_mb")
    if metric == "map_ready_s":
        return (rec.get("browser") or {}).get("ready_s")
    return rec.get(metric)


def _best(runs: list[dict], key: str, metric: str):
    """The figure a target is judged on for one version: the CLI run where it exists
    (what a user sees), else the API run; map figures from whichever run has them."""
    mine = [r for r in runs if r["key"] == key]
    cli_first = metric in ("run_s", "peak_gb")
    order = sorted(mine, key=lambda r: (r["status"] != "ok", cli_first and r["mode"] != "cli"))
    for r in order:
        v = _value(r, metric)
        if v is not None:
            return v, r
    return None, (order[0] if order else None)


def _city_section(rec: dict) -> list[str]:
    c = rec.get("city") or {}
    runs = rec["runs"]
    m = rec["machine"]
    lines = [f"## {rec['name']}", ""]
    if c:
        lines.append(
            f"{c.get('junctions', 0):,} street junctions after simplification ({c.get('osm_nodes', 0):,} OSM nodes, "
            f"{c.get('osm_ways', 0):,} ways, {c.get('extent_km', ['?', '?'])[0]} × {c.get('extent_km', ['?', '?'])[1]}"
            f" km), {c.get('communities', '?')} communities in {c.get('streets', '?')} streets, "
            f"{c.get('facilities', 0):,} facilities ({len(c.get('facility_types', []))} types × {c.get('per_type')}), "
            f"~{c.get('residents_grid40', 0):,} resident points (40 m grid); seed {c.get('seed')}."
        )
        lines.append("")
    lines.append(
        f"Measured {rec['date']} at `{rec['commit']}` on {m['cpu']} ({m['cores']} cores, {m['ram_gb']} GB), "
        f"Python {m['python']}; load average {_fmt(rec['load_start'][0], 2)} at start, "
        f"{_fmt((rec.get('load_end') or [None])[0], 2)} at end. Caps: {rec['caps']['time_s']:.0f} s, "
        f"{rec['caps']['memory_gb']:.0f} GB. Options tried: {rec.get('options')}."
    )
    lines.append("")
    load = max(rec["load_start"][0], (rec.get("load_end") or [0])[0])
    if load > (m.get("cores") or 1):
        lines += [
            f"**Busy machine** (load average {load:.1f} on {m.get('cores')} cores): wall times are inflated, "
            "compare `CPU s`; not a measurement of the targets.",
            "",
        ]
    head = [f"{r['version']} ({r['mode']})" for r in runs]
    lines.append("| | " + " | ".join(head) + " |")
    lines.append("| --- |" + " ---: |" * len(runs))

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("status", [r.get("message") or r["status"] for r in runs])
    keys = list(STAGES) + sorted({k for r in runs for k in r["stages_s"] if k not in STAGES})
    names = {"outputs": "outputs s (tables, ledger, CSV)", "geojson": "isochrones.geojson write s"}
    for k in keys:
        row(names.get(k, f"{k} s"), [_fmt(r["stages_s"].get(k)) for r in runs])
    row("import s (interpreter + imports)", [_fmt((r.get("marker_stages_s") or {}).get("import")) for r in runs])
    row("analyse s", [_fmt((r["child"] or {}).get("analyse_s")) for r in runs])
    row("write_outputs s", [_fmt((r["child"] or {}).get("write_s")) for r in runs])
    row("tables + ledger s", [_fmt(r.get("tables_s")) for r in runs])
    row("timed stages + outputs s (tables + ledger before 2026-12-08)", [_fmt(r.get("stage_sum_s")) for r in runs])
    row("**process wall s**", [f"**{_fmt(r['wall_s'])}**" for r in runs])
    row("CPU s", [_fmt(r.get("cpu_s")) for r in runs])
    row("CPU s, whole process tree (workers from a fork server included)", [_fmt(r.get("cpu_tree_s")) for r in runs])
    row("**peak memory GB**", [f"**{_fmt(r['peak_gb'], 2)}**" for r in runs])
    row("peak up to tables + ledger GB", [_fmt(r.get("tables_peak_gb"), 2) for r in runs])
    row("peak memory GB, PSS (shared pages once)", [_fmt(r.get("peak_pss_gb"), 2) for r in runs])
    row("stage at peak memory", [r.get("peak_stage") or "—" for r in runs])
    s = [r.get("sizes") or {} for r in runs]
    row("map.html MB", [_fmt(x.get("map_mb")) for x in s])
    row(
        "map ready in Chromium s",
        [_fmt((r.get("browser") or {}).get("ready_s"), 2) if r.get("browser") else "—" for r in runs],
    )
    row("browser peak GB", [_fmt((r.get("browser") or {}).get("browser_peak_gb"), 2) for r in runs])
    row("isochrones.geojson MB", [_fmt(x.get("isochrones_mb")) for x in s])
    row(
        "community_maps/ MB (files)",
        [f"{_fmt(x.get('community_maps_mb'))} ({x.get('community_maps_files', 0)})" for x in s],
    )
    row("output folder MB (files)", [f"{_fmt(x.get('folder_mb'))} ({x.get('folder_files', 0)})" for x in s])
    cnt = [(r["child"] or {}).get("counts") or {} for r in runs]
    row("network nodes / edges", [f"{_fmt(x.get('network_nodes'))} / {_fmt(x.get('network_edges'))}" for x in cnt])
    row("resident points", [_fmt(x.get("residents")) for x in cnt])
    row("facilities set aside", [_fmt(x.get("facilities_set_aside")) for x in cnt])
    row("options not accepted", [", ".join((r["child"] or {}).get("options_skipped") or []) or "—" for r in runs])
    targets = TARGETS.get(rec.get("preset") or "", ())
    if targets:
        lines += ["", "Targets (issue 15): the CLI run where measured, else the API run.", ""]
        keys_v = list(dict.fromkeys(r["key"] for r in runs))
        labels = [next(r["version"] for r in runs if r["key"] == k) for k in keys_v]
        lines.append("| target | " + " | ".join(labels) + " |")
        lines.append("| --- |" + " --- |" * len(keys_v))
        for t in targets:
            cells = []
            for k in keys_v:
                v, r = _best(runs, k, t.metric)
                if v is not None and r is not None and r["status"] != "ok" and v < t.limit:
                    cells.append(f"— ({r['status']} at {v:,.2f} {t.unit})")  # a lower bound only
                elif v is None:
                    why = r["status"] if r is not None else "not run"
                    cells.append(f"FAIL ({why})" if r is not None and r["status"] != "ok" else "—")
                else:
                    src = f" {r['mode']}" if t.metric in ("run_s", "peak_gb") else ""
                    cells.append(f"{'PASS' if v < t.limit else 'FAIL'} ({v:,.2f} {t.unit}{src})")
            row(f"{t.text} < {t.limit:g} {t.unit}", cells)
    lines.append("")
    return lines


def _batch_section(rec: dict) -> list[str]:
    m = rec["machine"]
    lines = [
        f"## {rec['name']} (batch of {rec['cities']} cities)",
        "",
        f"`{rec['batch']}`; measured {rec['date']} at `{rec['commit']}` on {m['cpu']} ({m['cores']} cores, "
        f"{m['ram_gb']} GB); load average {_fmt(rec['load_start'][0], 2)} at start, "
        f"{_fmt((rec.get('load_end') or [None])[0], 2)} at end.",
        "",
        "| version | how | status | wall s | peak GB (all processes) | peak GB per worker | note |",
        "| --- | --- | --- | ---: | ---: | --- | --- |",
    ]
    for r in rec["rows"]:
        workers = ", ".join(f"{w:.2f}" for w in r.get("worker_peak_gb") or []) or "—"
        lines.append(
            f"| {r['version']} | {r['how']} | {r['status']} | {_fmt(r.get('wall_s'))} | {_fmt(r.get('peak_gb'), 2)} "
            f"| {workers} | {r.get('message') or ''} |"
        )
    lines.append("")
    return lines


def _scaling(records: dict[str, dict]) -> list[str]:
    a, b = records.get("city100k"), records.get("city1m")
    if not (a and b):
        return []
    lines = [
        "## Scaling city100k → city1m",
        "",
        f"Size ratio: junctions × {b['city']['junctions'] / a['city']['junctions']:.1f}, communities × "
        f"{b['city']['communities'] / a['city']['communities']:.2f}, resident points × "
        f"{b['city']['residents_grid40'] / a['city']['residents_grid40']:.2f}. Cost about linear means the "
        "time and memory ratios stay near these.",
        "",
        "| version (mode) | " + " | ".join(f"{k} ×" for k in STAGES) + " | wall × | peak memory × |",
        "| --- |" + " ---: |" * (len(STAGES) + 2),
    ]
    for ra in a["runs"]:
        rb = next((r for r in b["runs"] if r["key"] == ra["key"] and r["mode"] == ra["mode"]), None)
        if rb is None or ra["status"] != "ok" or rb["status"] != "ok":
            continue
        cells = []
        for k in STAGES:
            x, y = ra["stages_s"].get(k), rb["stages_s"].get(k)
            cells.append(f"{y / x:.1f}" if x and y else "—")
        lines.append(
            f"| {ra['version']} ({ra['mode']}) | "
            + " | ".join(cells)
            + f" | {rb['wall_s'] / ra['wall_s']:.1f} | {rb['peak_gb'] / ra['peak_gb']:.1f} |"
        )
    lines.append("")
    return lines


def write_markdown() -> Path:
    """``results/city.md`` from every ``results/city_*.json`` (one section per city or batch)."""
    records = {}
    for p in sorted(RESULTS.glob("city_*.json")):
        with contextlib.suppress(ValueError, KeyError):
            rec = json.loads(p.read_text(encoding="utf-8"))
            for run in rec.get("runs") or []:  # every section with today's definitions
                with contextlib.suppress(KeyError, TypeError):
                    run.update(derived(run))
            records[rec["name"]] = rec
    order = {"city10k": 0, "city100k": 1, "city1m": 2}
    lines = [
        "# City-scale benchmark (issues 15 and 16)",
        "",
        "Written by `python bench/bench_city.py` (see `bench/README.md`: how to run, what each row means). "
        "Each column is one child process; versions run one after another in the same invocation.",
        "",
    ]
    notes = RESULTS / "city_notes.md"  # hand-written remarks on the latest runs (kept on rebuild)
    if notes.exists():
        lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    for name in sorted(records, key=lambda n: (records[n].get("kind") == "batch", order.get(n, 9), n)):
        rec = records[name]
        lines += _batch_section(rec) if rec.get("kind") == "batch" else _city_section(rec)
    lines += _scaling(records)
    path = RESULTS / "city.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ==========================================================================================


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        return child_main(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--preset", default="city100k", help="city10k, city100k, city1m (generated when missing)")
    what.add_argument("--data", help="a city folder written by gen_city.py")
    what.add_argument("--batch", help="cities.yaml written by gen_city.py --cities K")
    what.add_argument("--report-only", action="store_true", help="rewrite results/city.md from the JSON files")
    ap.add_argument("--name", help="result name (default: the preset or folder name)")
    ap.add_argument("--versions", default="current,baseline", help="comma-separated: current, baseline")
    ap.add_argument(
        "--baseline-ref", default=DEFAULT_BASELINE, help=f"git ref of the baseline (default {DEFAULT_BASELINE})"
    )
    ap.add_argument("--baseline-dir", help="an existing checkout to use as the baseline instead of a worktree")
    ap.add_argument("--modes", default="api,cli", help="api (pipeline calls), cli (circles run); default both")
    ap.add_argument("--baseline-cli", action="store_true", help="also run the baseline's CLI (default: API only)")
    ap.add_argument("--option", action="append", help="KEY=VALUE passed where a version accepts it (repeatable)")
    ap.add_argument("--cache", default="", help="network cache folder ('' = cold run, the default)")
    ap.add_argument(
        "--common-types",
        action="store_true",
        help="only the facility types the baseline knows too, for every version (same input side by side)",
    )
    ap.add_argument("--buildings", action="store_true", help="use the city's buildings.geojson")
    ap.add_argument("--time-cap", type=float, help="seconds per child (default per preset)")
    ap.add_argument("--mem-cap", type=float, help="GB per child, all its processes (default per preset)")
    ap.add_argument("--no-browser", action="store_true", help="skip opening map.html in Chromium")
    ap.add_argument("--browser-timeout", type=float, default=60.0)
    ap.add_argument("--keep-outputs", action="store_true", help="keep every run's output folder")
    ap.add_argument("--dask", help="with --batch: also `circles batch --dask SPEC` (e.g. local:2)")
    ap.add_argument("--jobs", type=int, default=1, help="threads compressing a generated city's .bz2")
    args = ap.parse_args(argv)
    if args.report_only:
        print(write_markdown())
        return 0
    if args.batch:
        bench_batch(args)
    else:
        bench_city(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
