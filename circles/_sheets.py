"""CSV and cell plumbing shared by the gap report and the ledger: plain cell values, and text
from the inputs that is never read as a formula (the workbooks themselves are written in
:mod:`circles.workbooks`).

A spreadsheet treats a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula; a
community or facility name such as ``=HYPERLINK(...)`` must stay text. In workbooks such
cells are stored as text (the content is unchanged); in CSV files, which carry no types, a
leading apostrophe is added to such text cells (OWASP's advice for CSV injection), which
Excel and WPS hide when they show the cell.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell_value(v: Any) -> Any:
    """A plain cell value: NaN and None as empty, NumPy scalars as Python ones."""
    if v is None:
        return None
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str):
        # openpyxl refuses control characters (IllegalCharacterError); printable text has none
        return v if v.isprintable() else _ILLEGAL.sub("", v)
    return v


def column_lists(df: pd.DataFrame, columns: list[str] | None = None) -> list[list[Any]]:
    """Whole columns of ``df`` as Python lists (the values iterating a column gives), read once
    each: reading Arrow text cell by cell costs more than writing the cells at city size.

    ``columns``: the names to read, a missing one giving None on every row; default every
    column, by position.
    """
    if columns is None:
        return [df.iloc[:, k].tolist() for k in range(df.shape[1])]
    none = [None] * len(df)
    return [df[c].tolist() if c in df.columns else none for c in columns]


#: Characters a workbook cannot hold (C0 controls except tab, line feed and carriage return).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


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
    ends and formula-like text neutralised (:func:`csv_safe`).

    With polars installed (the ``fast`` extra) the rows are written by polars — several times
    faster on a city's ``access.csv`` — as exactly the bytes pandas writes (see
    :func:`_polars_frame`); otherwise, or for a table polars cannot write the same way, by pandas.
    """
    path = Path(path)
    safe = csv_safe(df)
    frame = _polars_frame(safe)
    if frame is None:
        safe.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
        return path
    with open(path, "wb") as f:
        f.write("\ufeff".encode())
        frame.write_csv(f, line_terminator="\n", null_value="")
    return path


#: Floats polars writes differently from pandas (pandas switches to an exponent below 1e-4 and
#: from 1e16 on, polars elsewhere): columns holding any are formatted as pandas does.
_PLAIN_FLOAT = (1e-4, 1e16)


def _polars_column(s: pd.Series) -> Any:
    """The values of ``s`` as polars writes them in pandas' form, or None when it cannot."""
    import polars as pl

    dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return pl.Series(np.where(s.to_numpy(), "True", "False"))
    if pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        return pl.Series(s.to_numpy())
    if dtype == np.float64:
        v = s.to_numpy()
        a = np.abs(v[~np.isnan(v)])
        if ((a >= _PLAIN_FLOAT[1]) | ((a < _PLAIN_FLOAT[0]) & (a > 0))).any():
            text = v.astype(str).astype(object)  # what pandas writes (NumPy's shortest repr)
            text[np.isnan(v)] = None
            return pl.Series(text, dtype=pl.Utf8)
        return pl.Series(v, nan_to_null=True)
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return _polars_text(s)
    return None


def _polars_text(s: pd.Series) -> Any:
    """A text column as pandas writes it: ``str(value)``, missing values and empty text as an
    empty field (null)."""
    import polars as pl

    if hasattr(s.array, "__arrow_array__"):  # pandas' Arrow-backed text: no Python objects
        import pyarrow as pa

        col = pl.Series(pl.from_arrow(pa.array(s.array)), dtype=pl.Utf8)
    elif pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        col = pl.Series(s.to_numpy(dtype=object, na_value=None), dtype=pl.Utf8)
    else:  # mixed values: each as pandas writes it
        missing = s.isna().to_numpy()
        col = pl.Series([None if m else str(v) for v, m in zip(s, missing, strict=True)], dtype=pl.Utf8)
    if (col.str.contains("\r", literal=True) & ~col.str.contains("\n", literal=True)).any():
        return None  # pandas quotes a carriage return only beside a line feed, polars always
    return pl.select(pl.when(col == "").then(None).otherwise(col)).to_series()


#: The process that first used polars: its thread pool does not survive a fork, so a forked
#: child (a batch city, a worker) writes with pandas instead of hanging on the parent's pool.
_POLARS_PID: list[int] = []


def _polars_usable() -> bool:
    """Whether polars may run here (it never ran in a process this one was forked from)."""
    if not _POLARS_PID:
        _POLARS_PID.append(os.getpid())
    return _POLARS_PID[0] == os.getpid()


def _polars_frame(df: pd.DataFrame) -> Any:
    """``df`` as a polars frame that writes the same CSV bytes as pandas, or None (polars not
    installed, not usable in this forked process, or a column type or shape it would write
    differently)."""
    try:
        import polars as pl
    except ImportError:
        return None
    if not _polars_usable():
        return None
    names = [str(c) for c in df.columns]
    # one column: pandas writes an empty text as "" (a lone empty field would be a blank line)
    if len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(c, str) for c in df.columns):
        return None
    cols = {}
    for name in names:
        col = _polars_column(df[name])
        if col is None:
            return None
        cols[name] = col
    return pl.DataFrame(cols)
