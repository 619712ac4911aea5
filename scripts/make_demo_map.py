"""Refresh the demo map shown in the README: maps/demo_map.html (self-contained, offline).

Run: python scripts/make_demo_map.py [--lang zh|en]

A normal ``circles run`` writes only under its ``--out`` folder; this script is the one place
that rewrites the tracked copy under ``maps/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import circles
from circles import mapping, pipeline

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=["zh", "en"], default="zh")
    args = parser.parse_args()
    result = circles.analyse(progress=False)
    out = ROOT / "maps" / "demo_map.html"
    mapping.save_map(pipeline.build_map(result, lang=args.lang, offline=True), out, offline=True)
    print(out)


if __name__ == "__main__":
    main()
