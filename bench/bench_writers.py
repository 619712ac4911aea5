"""The output writers at city size, one version against another (issue 25 items 2 and 3).

Each measurement runs in its own child process with ``PYTHONPATH`` set to the version's
folder: the demo is analysed (untimed), its tables are repeated to city size, then one writer
is timed — wall and CPU seconds (CPU is what a busy shared machine does not inflate) and the
child's peak RSS. Writers: ``ledger`` (ledger.xlsx of a ledger with ``--rows`` rows over
``--communities`` communities), ``gaps`` (gaps.xlsx, same rows), ``csv`` (access.csv,
``--csv-rows`` rows: polars when the version uses it and it is installed), ``csv-pandas`` (the
same, polars switched off). Results: ``results/writers.md`` and ``results/writers.json``.

    python bench/bench_writers.py --baseline-dir /tmp/f877ed4 [--rows 100000] [--csv-rows 456000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / "work" / "writers"
KINDS = ("ledger", "gaps", "csv", "csv-pandas")


def _repeat(df, n: int, communities: int | None = None):
    """``df`` repeated to ``n`` rows; with ``communities``, community ids and names get a copy
    suffix so that about that many distinct communities appear."""
    import pandas as pd

    k = -(-n // max(1, len(df)))
    base = df["community_id"].nunique() if "community_id" in df.columns else 1
    groups = max(1, -(-communities // max(1, base))) if communities else 1
    parts = []
    for i in range(k):
        p = df.copy()
        if communities:
            for col in ("community_id", "community_name"):
                if col in p.columns:
                    p[col] = p[col].astype(str) + f"-{i % groups}"
        parts.append(p)
    return pd.concat(parts, ignore_index=True).iloc[:n].reset_index(drop=True)


def child(kind: str, rows: int, csv_rows: int, communities: int, out: Path) -> dict:
    """Time one writer in this process (the version is whatever ``circles`` imports)."""
    import circles
    from circles import _sheets, export, ledger, pipeline

    r = pipeline.analyse(progress=False)
    led = _repeat(r.ledger, rows, communities)
    comms = (
        led[["community_id", "community_name"]]
        .drop_duplicates()
        .rename(columns={"community_id": "id", "community_name": "name"})
        .reset_index(drop=True)
    )
    comms["population"] = 5000.0
    if kind in ("csv", "csv-pandas"):
        counts = pipeline.type_counts(r.access, r.rulebook)
        acc = export.access_table(r.residents, r.rulebook.types_used(), r.type_speed, counts)
        table = _repeat(acc, csv_rows)
        if kind == "csv-pandas" and hasattr(_sheets, "_polars_frame"):
            _sheets._polars_frame = lambda df: None
    elif kind == "gaps":
        table = _repeat(r.gaps, rows, communities)
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "ledger":
        path = ledger.write_ledger_xlsx(led, out / "ledger.xlsx", comms, rulebook=r.rulebook, date="2026年1月")
    elif kind == "gaps":
        path = export.write_gaps_xlsx(table, out / "gaps.xlsx")
    else:
        path = _sheets.write_csv(table, out / f"{kind}.csv")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "kind": kind,
        "rows": int(len(led) if kind == "ledger" else len(table)),
        "communities": int(len(comms)),
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bytes": path.stat().st_size,
        "path": str(path),
        "circles": circles.__file__,
    }


def _digest(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        kind, rows, csv_rows, communities, out = argv[1], int(argv[2]), int(argv[3]), int(argv[4]), Path(argv[5])
        print("@@result " + json.dumps(child(kind, rows, csv_rows, communities, out)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-dir", required=True, help="a checkout of the baseline (e.g. f877ed4)")
    ap.add_argument("--baseline-label", default="f877ed4")
    ap.add_argument("--rows", type=int, default=100_000, help="ledger and gap-report rows")
    ap.add_argument("--communities", type=int, default=2025)
    ap.add_argument("--csv-rows", type=int, default=456_000, help="access.csv rows (city1m: 456k)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    args = ap.parse_args(argv)
    versions = [("baseline " + args.baseline_label, Path(args.baseline_dir).resolve()), ("current", ROOT)]
    rec: dict = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": list(os.getloadavg()),
        "args": vars(args),
        "runs": [],
    }
    for kind in args.kinds.split(","):
        for label, folder in versions:  # back to back, per writer
            if kind == "csv-pandas" and label != "current":
                continue
            out = WORK / label.replace(" ", "_") / kind
            env = dict(os.environ, PYTHONPATH=str(folder))
            cmd = [sys.executable, __file__, "_child", kind, str(args.rows), str(args.csv_rows)]
            cmd += [str(args.communities), str(out)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
            line = [x for x in done.stdout.splitlines() if x.startswith("@@result ")]
            res = json.loads(line[-1][9:]) if line else {"kind": kind, "error": done.stderr[-2000:]}
            res["version"] = label
            if "path" in res:
                res["sha256_16"] = _digest(res["path"])
            rec["runs"].append(res)
            print(json.dumps(res, ensure_ascii=False), flush=True)
    rec["load_end"] = list(os.getloadavg())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "writers.json").write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [
        "# Output writers at city size (issue 25 items 2 and 3)",
        "",
        "Written by `python bench/bench_writers.py` (see its docstring). Each row is one child process;"
        " the versions run back to back per writer. The machine is shared: **CPU s** is the figure to compare.",
        "",
        f"Measured {rec['date']}; load average {rec['load_start'][0]:.1f} at start, {rec['load_end'][0]:.1f} at end"
        f" (2 cores). Ledger and gap report: {args.rows:,} rows, {args.communities:,} communities;"
        f" access.csv: {args.csv_rows:,} rows.",
        "",
        "| writer | version | wall s | CPU s | peak MB | file MB | sha256 (16) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rec["runs"]:
        if "error" in r:
            lines.append(f"| {r['kind']} | {r['version']} | failed | | | | |")
            continue
        lines.append(
            f"| {r['kind']} | {r['version']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mb']:.0f} |"
            f" {r['bytes'] / 2**20:.1f} | `{r['sha256_16']}` |"
        )
    (RESULTS / "writers.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS / 'writers.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
