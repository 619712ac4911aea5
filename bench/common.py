"""Small helpers shared by the benchmark runner and its child processes.

Kept light on purpose (standard library, numpy, pandas): peers' children import it and
must not pull in circles.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"  # prepared inputs and per-resident outputs (not committed)
RESULTS = BENCH / "results"  # the committed results table

#: Walking limit: 15 minutes at 66.7 m/min, rounded as in the issue.
LIMIT_M = 1000.0
SPEED_M_PER_MIN = 66.7
#: circles' default maximum access leg (also used for cityseer's assignment distance)
MAX_ATTACH_M = 250.0


def dataset_meta(name: str, work: Path = WORK) -> dict:
    with open(work / name / "dataset.json") as fh:
        return json.load(fh)


def read_points(meta: dict):
    """Residents and facilities as arrays: ``rx, ry, ftype (int codes), fx, fy, labels``."""
    import pandas as pd

    r = pd.read_csv(meta["residents"])
    f = pd.read_csv(meta["facilities"])
    labels = sorted(f["type"].astype(str).unique())
    code = {t: i for i, t in enumerate(labels)}
    ftype = f["type"].astype(str).map(code).to_numpy(dtype=np.int64)
    return (
        r["x"].to_numpy(float),
        r["y"].to_numpy(float),
        ftype,
        f["x"].to_numpy(float),
        f["y"].to_numpy(float),
        labels,
    )


def read_net_arrays(path: str | Path) -> dict:
    """Node and edge arrays of a circles ``.npz`` network read with plain numpy (no circles,
    no geometry): what the peers start from."""
    z = np.load(path, allow_pickle=False)
    return {k: z[k] for k in ("node_ids", "x", "y", "u", "v", "length")} | {"crs": str(z["crs"])}


def read_net_geometry(path: str | Path) -> np.ndarray:
    """Edge geometries (shapely) of a circles ``.npz`` network."""
    from circles.network import load_walk_network

    return load_walk_network(path).geometry


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Timer:
    """Named wall-clock phases: ``with t("load"): ...``; ``t.phases`` in seconds.

    The first call of :meth:`total` also freezes ``cpu_s``, the CPU time used since the timer
    started (more than the wall time for multi-threaded code; less wall than CPU is never
    seen, while a busy machine shows as wall well above CPU for single-threaded code)."""

    last: Timer | None = None

    def __init__(self):
        self.phases: dict[str, float] = {}
        self.cpu_s: float | None = None
        self._cpu0 = cpu_seconds()
        self._t0 = time.perf_counter()
        Timer.last = self

    def __call__(self, name: str):
        timer = self

        class _Phase:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                timer.phases[name] = timer.phases.get(name, 0.0) + time.perf_counter() - self.t

        return _Phase()

    def total(self) -> float:
        if self.cpu_s is None:
            self.cpu_s = cpu_seconds() - self._cpu0
        return time.perf_counter() - self._t0
