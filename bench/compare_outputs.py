"""Compare two output folders of ``circles run`` file by file (issue 25: the same outputs as
the baseline).

Every file present in either folder is compared: byte for byte, and for a workbook (``.xlsx``)
that differs in bytes, cell by cell with openpyxl — values, and the key styles (bold, font
name and size, fill colour, number format, wrap, horizontal alignment), freeze panes, filter,
print titles, orientation, paper size, column widths and row heights — so that a workbook
written by another library with the same content reads "same cells". ``run_info.json`` (times,
versions) is listed but expected to differ.

    python bench/compare_outputs.py OLD_DIR NEW_DIR [--json out.json]

No circles import: this runs against any two versions' outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _col_widths(ws) -> dict[int, float | None]:
    out: dict[int, float | None] = {}
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.max is not None and dim.customWidth:
            for c in range(dim.min, dim.max + 1):
                out[c] = round(float(dim.width), 2) if dim.width is not None else None
    return out


def _cell_key(c) -> tuple[Any, ...]:
    fill = c.fill.fgColor.rgb if c.fill is not None and c.fill.fill_type == "solid" else None
    fill = str(fill)[-6:] if fill else None
    return (
        c.value,
        bool(c.font.b),
        c.font.name if c.font.name not in ("Calibri",) else None,
        float(c.font.sz) if c.font.sz else 11.0,  # no size = the default 11 pt
        fill,
        c.number_format,
        bool(c.alignment.wrap_text),
        c.alignment.horizontal,
    )


def compare_workbooks(old: Path, new: Path, limit: int = 10) -> list[str]:
    """Differences between two workbooks' cells and sheet settings (at most ``limit`` per sheet)."""
    import openpyxl

    a = openpyxl.load_workbook(old)
    b = openpyxl.load_workbook(new)
    diffs: list[str] = []
    if a.sheetnames != b.sheetnames:
        return [f"sheets {a.sheetnames} != {b.sheetnames}"]
    for name in a.sheetnames:
        wa, wb = a[name], b[name]
        found: list[str] = []
        settings = [
            ("freeze", wa.freeze_panes, wb.freeze_panes),
            ("filter", wa.auto_filter.ref, wb.auto_filter.ref),
            ("print titles", wa.print_title_rows, wb.print_title_rows),
            ("orientation", wa.page_setup.orientation, wb.page_setup.orientation),
            ("paper", str(wa.page_setup.paperSize), str(wb.page_setup.paperSize)),
            ("fit height", str(wa.page_setup.fitToHeight), str(wb.page_setup.fitToHeight)),
            ("header", str(wa.oddHeader), str(wb.oddHeader)),
            ("footer", str(wa.oddFooter), str(wb.oddFooter)),
            ("widths", _col_widths(wa), _col_widths(wb)),
            ("size", (wa.max_row, wa.max_column), (wb.max_row, wb.max_column)),
        ]
        found += [f"{name}: {k} {x!r} != {y!r}" for k, x, y in settings if x != y]
        for ra, rb in zip(wa.iter_rows(), wb.iter_rows(), strict=False):
            r = ra[0].row
            ha, hb = wa.row_dimensions[r].height, wb.row_dimensions[r].height
            if (ha or None) != (hb or None):
                found.append(f"{name}: row {r} height {ha} != {hb}")
            for ca, cb in zip(ra, rb, strict=False):
                ka, kb = _cell_key(ca), _cell_key(cb)
                if ka != kb:
                    found.append(f"{name}!{ca.coordinate}: {ka} != {kb}")
            if len(found) > limit:
                break
        diffs += found[:limit]
    return diffs


def compare_trees(old: Path, new: Path) -> dict[str, Any]:
    """Every file of both folders: ``same bytes``, ``same cells`` (workbooks), or what differs."""
    names = sorted(
        {str(p.relative_to(old)) for p in old.rglob("*") if p.is_file()}
        | {str(p.relative_to(new)) for p in new.rglob("*") if p.is_file()}
    )
    out: dict[str, Any] = {}
    for n in names:
        pa, pb = old / n, new / n
        if not pa.exists() or not pb.exists():
            out[n] = "only in " + ("new" if pb.exists() else "old")
        elif pa.stat().st_size == pb.stat().st_size and _digest(pa) == _digest(pb):
            out[n] = "same bytes"
        elif n.endswith(".xlsx"):
            d = compare_workbooks(pa, pb)
            out[n] = "same cells (other bytes)" if not d else {"cells differ": d}
        else:
            out[n] = f"bytes differ ({pa.stat().st_size:,} vs {pb.stat().st_size:,} bytes)"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--json", type=Path, help="also write the comparison here")
    args = ap.parse_args(argv)
    res = compare_trees(args.old, args.new)
    for n, v in res.items():
        print(f"{n}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}")
    if args.json:
        args.json.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
