"""CPU seconds of the measuring steps of ``circles.pipeline.analyse`` on one city (issue 25).

The stage times of ``run_info.json`` are wall seconds: on 2 shared cores they follow the load
more than the code. This runs :func:`circles.pipeline.analyse` once and reports the CPU
seconds (``time.process_time``, the whole process) spent in each measuring step of the main
process: ``prepare_within`` (the *within* stage), ``compute_gaps``, ``group_columns``,
``build_ledger`` and ``annotate_ledger`` (together the *gaps* stage). The walking areas are
drawn by worker processes meanwhile and are not counted.

    python bench/cpu_measure.py bench/data/generated/city100k
    python bench/cpu_measure.py bench/data/generated/city100k --profile /tmp/gaps.prof
    python bench/cpu_measure.py demo
    # a baseline: the package of another commit, exported (not installed)
    git archive e7fe69c circles | tar -x -C /tmp/base
    python bench/cpu_measure.py bench/data/generated/city100k --baseline /tmp/base

``--profile`` writes a cProfile of those steps only, timed in CPU seconds, and prints its top
lines. Prints one JSON line: ``{"cpu_s": {...}, "wall_s": {...}, "load": [...]}``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from typing import Any

#: The measuring steps timed: (module, attribute, label); an attribute ``Class.method`` is a method.
STEPS = (
    ("circles.access", "Access.prepare_within", "prepare_within"),
    ("circles.stages", "compute_gaps", "compute_gaps"),
    ("circles.population", "group_columns", "group_columns"),
    ("circles.pipeline", "build_ledger", "build_ledger"),
    ("circles.population", "annotate_ledger", "annotate_ledger"),
)


def _use_baseline(folder: str) -> None:
    """Import ``circles`` from ``folder`` (a ``git archive`` export) instead of the checkout."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, os.path.abspath(folder))


def _timed(cpu: dict[str, float], label: str, fn: Any, prof: cProfile.Profile | None) -> Any:
    """``fn`` adding its CPU seconds to ``cpu[label]`` (and profiled when ``prof`` is given)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.process_time()
        if prof is not None:
            prof.enable()
        try:
            return fn(*args, **kwargs)
        finally:
            if prof is not None:
                prof.disable()
            cpu[label] = cpu.get(label, 0.0) + time.process_time() - t

    return wrapper


def _install(cpu: dict[str, float], prof: cProfile.Profile | None) -> None:
    import importlib

    for module, attr, label in STEPS:
        owner: Any = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, _timed(cpu, label, getattr(owner, name), prof))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("city", help="a folder written by gen_city.py, or 'demo'")
    ap.add_argument("--profile", help="write a cProfile (CPU seconds) of the measured steps here")
    ap.add_argument("--baseline", help="import circles from this folder (git archive of another commit)")
    a = ap.parse_args(argv)
    if a.baseline:
        _use_baseline(a.baseline)
    from circles import pipeline

    prof = cProfile.Profile(time.process_time) if a.profile else None
    cpu: dict[str, float] = {}
    _install(cpu, prof)
    load = list(os.getloadavg())
    if a.city == "demo":
        result = pipeline.analyse(progress=False)
    else:
        d = a.city.rstrip("/")
        result = pipeline.analyse(
            f"{d}/communities.geojson",
            f"{d}/facilities.geojson",
            f"{d}/network.osm.bz2",
            progress=False,
            cache_dir=None,
            district_field="street",
        )
    out = {
        "circles": pipeline.__file__,
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "wall_s": {k: round(v, 2) for k, v in getattr(result, "timings", {}).items()},
        "load": [round(x, 2) for x in (*load, *os.getloadavg())],
    }
    print(json.dumps(out))
    if prof is not None:
        prof.dump_stats(a.profile)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
