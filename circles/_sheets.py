"""Workbook and CSV plumbing shared by the gap report and the ledger: reproducible XLSX
bytes, plain cell values, and text from the inputs that is never read as a formula.

A spreadsheet treats a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula; a
community or facility name such as ``=HYPERLINK(...)`` must stay text. In workbooks such
cells are stored as text (the content is unchanged); in CSV files, which carry no types, a
leading apostrophe is added to such text cells (OWASP's advice for CSV injection), which
Excel and WPS hide when they show the cell.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook

#: Characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Zip entry time written into XLSX files (the earliest a zip can hold).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def save_workbook(wb: Workbook, path: str | Path) -> Path:
    """Save an openpyxl workbook so that the same content gives the same bytes.

    openpyxl stamps the save time into the document properties and every zip entry; here
    the properties' dates are left out (they are optional) and the entries get a fixed time.
    """
    path = Path(path)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"<dcterms:(created|modified)\b[^>]*>[^<]*</dcterms:\1>", b"", data)
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(entry, data)
    return path


def cell_value(v: Any) -> Any:
    """A value openpyxl can store: NaN and None as empty, NumPy scalars as Python ones."""
    if v is None:
        return None
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str):
        return _ILLEGAL.sub("", v)  # openpyxl refuses control characters (IllegalCharacterError)
    return v


#: Characters a workbook cannot hold (C0 controls except tab, line feed and carriage return).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def append_row(ws, values: Iterable[Any]) -> list:
    """Append a row to a worksheet and return its cells; text is always stored as text, never
    as a formula.

    The cells are made here and handed to ``ws.append``: asking the sheet for its last row
    (``ws.max_row``) scans every cell, which made writing a city's ledger quadratic.
    """
    from openpyxl.cell import Cell

    cells = [Cell(ws, value=cell_value(v)) for v in values]
    for cell in cells:
        if cell.data_type == "f":
            cell.data_type = "s"
    ws.append(cells)
    return cells


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells starting like a formula get a leading apostrophe."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            continue
        try:
            risky = s.str.startswith(FORMULA_START, na=False).fillna(False).astype(bool)
        except AttributeError:  # an object column without any text (booleans, numbers)
            continue
        if risky.any():
            out[col] = s.where(~risky, "'" + s.astype(str))
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as UTF-8 CSV with a BOM (Excel then shows Chinese correctly), ``\\n`` line
    ends and formula-like text neutralised (:func:`csv_safe`)."""
    path = Path(path)
    csv_safe(df).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return path
