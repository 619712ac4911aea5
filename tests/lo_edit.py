"""Fill a ledger workbook inside LibreOffice Calc, as a street office would by hand, through UNO.

Run by the system Python that has LibreOffice's ``uno`` module (Debian ``python3-uno``), not by
the test environment: ``/usr/bin/python3 tests/lo_edit.py IN.xlsx OUT.xlsx PROFILE_DIR``. It
starts a headless ``soffice``, opens ``IN.xlsx`` in Calc and, on the first sheet (工作台账):
types 责任人 and 推进情况 on the first data rows, a 完成时限 as text on one row and as a Calc date
on another, adds a column 联络员 with a name, hides the 备注 column, sorts the rows by 社区
(descending) and renames the sheet; then saves as Excel 2007-365 and prints what it typed as
JSON: ``[[台账编号, field, text], ...]`` (a Calc date as its ISO day).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.table import TableSortField  # type: ignore[import-not-found]

HEADS = {"person_in_charge": "责任人", "progress": "推进情况", "deadline": "完成时限", "key": "台账编号"}


def _prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _connect(port: int):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    for _ in range(120):
        try:
            return resolver.resolve(f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
        except Exception:  # soffice is still starting
            time.sleep(0.5)
    raise RuntimeError("soffice did not answer within 60 s")


def _header(sheet) -> tuple[int, dict[str, int]]:
    """The header row (0-based) and column of each header text, found by 责任人."""
    for r in range(15):
        texts = {sheet.getCellByPosition(c, r).getString(): c for c in range(60)}
        if HEADS["person_in_charge"] in texts:
            return r, {t: c for t, c in texts.items() if t}
    raise RuntimeError("no header row with 责任人 on the first sheet")


def _fill(doc) -> list[list[str]]:
    sheet = doc.Sheets.getByIndex(0)
    top, cols = _header(sheet)
    col = {k: cols[h] for k, h in HEADS.items()}
    typed: list[list[str]] = []
    last = top
    while sheet.getCellByPosition(col["key"], last + 1).getString():
        last += 1
    for i, r in enumerate(range(top + 1, min(top + 7, last + 1))):
        key = sheet.getCellByPosition(col["key"], r).getString()
        for field, text in (("person_in_charge", f"赵{i}"), ("progress", f"LibreOffice填报{i}")):
            sheet.getCellByPosition(col[field], r).setString(text)
            typed.append([key, field, text])
        if i == 0:
            sheet.getCellByPosition(col["deadline"], r).setString("2023年8月底")
            typed.append([key, "deadline", "2023年8月底"])
        if i == 1:  # a date cell as Calc makes it: a number shown as a date
            cell = sheet.getCellByPosition(col["deadline"], r)
            cell.setFormula("=DATE(2023;7;31)")
            cell.NumberFormat = doc.NumberFormats.getStandardFormat(2, doc.CharLocale)  # 2: DATE
            typed.append([key, "deadline", "2023-07-31"])
    extra = max(cols.values()) + 1
    sheet.getCellByPosition(extra, top).setString("联络员")
    sheet.getCellByPosition(extra, top + 1).setString("钱联络")
    typed.append([sheet.getCellByPosition(col["key"], top + 1).getString(), "+联络员", "钱联络"])
    if "备注" in cols:
        sheet.Columns.getByIndex(cols["备注"]).IsVisible = False
    rows = sheet.getCellRangeByPosition(0, top + 1, extra, last)
    field = TableSortField()
    field.Field, field.IsAscending = cols["社区"], False
    rows.sort((_prop("SortFields", uno.Any("[]com.sun.star.table.TableSortField", (field,))),))
    sheet.Name = "台账（街道填报）"
    return typed


def main(src: str, out: str, profile: str) -> None:
    port = _free_port()
    office = subprocess.Popen(
        [
            "soffice",
            f"-env:UserInstallation={Path(profile).resolve().as_uri()}",
            "--headless",
            "--invisible",
            "--norestore",
            f"--accept=socket,host=127.0.0.1,port={port};urp;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ctx = _connect(port)
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        doc = desktop.loadComponentFromURL(Path(src).resolve().as_uri(), "_blank", 0, (_prop("Hidden", True),))
        typed = _fill(doc)
        doc.storeToURL(Path(out).resolve().as_uri(), (_prop("FilterName", "Calc MS Excel 2007 XML"),))
        doc.close(True)
        print(json.dumps(typed, ensure_ascii=False))
    finally:
        with contextlib.suppress(Exception):  # Calc already gone, or never reached
            desktop.terminate()
        office.terminate()
        office.wait(timeout=30)


if __name__ == "__main__":
    main(*sys.argv[1:4])
