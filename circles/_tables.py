"""Read facility lists (CSV and Excel) as users bring them: Amap/Baidu exports, department spreadsheets.

:func:`read_facility_table` returns the rows with usable coordinates as a GeoDataFrame in
WGS-84 and, separately, every row it could not place, with the reason, so that nothing is
dropped silently. Row numbers are the ones a spreadsheet user sees: the header is row 1,
the first data row is row 2 (title rows above the header keep their numbers).

Conventions handled:

* encodings: UTF-8 with or without BOM, GB18030 (a superset of GBK/GB2312, what Excel on
  Chinese Windows writes), UTF-16 with BOM (Excel's "Unicode text");
* coordinate columns by their usual names (``lng``/``lat``, ``经度``/``纬度``, ``x``/``y``,
  ``gcj_lng``/``gcj_lat`` …, case-insensitive, a trailing note in brackets such as
  ``经度(GCJ-02)`` ignored), or one Amap-style ``location`` column holding ``"lng,lat"``
  (a full-width comma ``，`` is accepted);
* coordinates in WGS-84, GCJ-02, BD-09 or any EPSG CRS (see :func:`circles.chinacrs.parse_crs_name`).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from . import chinacrs
from .errors import InputError

log = logging.getLogger(__name__)

LON_NAMES = (
    "lon",
    "lng",
    "long",
    "longitude",
    "经度",
    "x",
    "gcj_lng",
    "wgs_lng",
    "gcj_lon",
    "wgs_lon",
    "bd_lng",
    "bd_lon",
)
LAT_NAMES = ("lat", "latitude", "纬度", "y", "gcj_lat", "wgs_lat", "bd_lat")
LOCATION_NAMES = ("location", "坐标", "经纬度", "lnglat", "lonlat", "lng_lat", "lon_lat")

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")

PROBLEM_COLUMNS = ["source_file", "row_number", "field", "value", "reason"]

#: Rows searched for the header line (department sheets often start with a title row).
HEADER_SEARCH_ROWS = 10

_SWAP_LON = (chinacrs.CHINA_BBOX[1], chinacrs.CHINA_BBOX[3])  # 0.8293 … 55.8271
_SWAP_LAT = (chinacrs.CHINA_BBOX[0], chinacrs.CHINA_BBOX[2])  # 72.004 … 137.8347


@dataclass(frozen=True)
class _Coords:
    """Where the coordinates are: two columns, or one ``"lng,lat"`` column."""

    lon: str | None = None
    lat: str | None = None
    location: str | None = None

    def describe(self) -> str:
        return f"'{self.location}'" if self.location else f"'{self.lon}' / '{self.lat}'"


# --------------------------------------------------------------------------- raw reading


def _decode(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode ``data``; detect UTF-8 (BOM), UTF-8, UTF-16 (BOM) or GB18030 when ``encoding`` is None."""
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise InputError(
                f"unknown encoding {encoding!r}",
                path=str(path),
            ) from None
        except UnicodeDecodeError as exc:
            raise InputError(
                f"cannot be decoded as {encoding} (byte {exc.start}: {exc.reason}); "
                "leave encoding=None to detect UTF-8/GB18030",
                path=str(path),
            ) from None
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for enc in ("utf-8", "gb18030"):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise InputError(
        "cannot be decoded as UTF-8 or GB18030 (GBK); save it as 'CSV UTF-8' or pass encoding=...",
        path=str(path),
    )


def _sniff_delimiter(text: str) -> str:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    counts = {d: first.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv_rows(path: Path, encoding: str | None) -> list[list[Any]]:
    from ._safety import check_regular_file  # noqa: PLC0415

    check_regular_file(path)  # a FIFO or device would block the reader
    data = path.read_bytes()
    if not data.strip():
        raise InputError(
            "the file is empty",
            path=str(path),
        )
    text, used = _decode(path, data, encoding)
    log.info("%s: read with encoding %s", path, used)
    delimiter = _sniff_delimiter(text)
    try:
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise InputError(
            f"not a readable CSV table ({exc})",
            path=str(path),
        ) from None


def _read_excel_rows(path: Path, sheet: str | int | None) -> list[list[Any]]:
    import zipfile  # noqa: PLC0415

    import openpyxl  # noqa: PLC0415 - only needed for Excel input
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    from ._safety import check_xlsx  # noqa: PLC0415

    check_xlsx(path)  # sizes and cell lengths before openpyxl parses anything
    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputError(
            f"cannot be read as an Excel .xlsx workbook ({exc})",
            path=str(path),
        ) from None
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(wb.worksheets):
                raise InputError(
                    f"no sheet number {sheet} (0-based); sheets: {wb.sheetnames}",
                    path=str(path),
                )
            ws = wb.worksheets[sheet]
        else:
            if sheet not in wb.sheetnames:
                raise InputError(
                    f"no sheet named {sheet!r}; sheets: {wb.sheetnames}",
                    path=str(path),
                )
            ws = wb[sheet]
        log.info("%s: reading sheet %r", path, ws.title)
        return [list(r) for r in ws.iter_rows(min_row=1, max_row=ws.max_row, values_only=True)]
    finally:
        wb.close()


def _cell_text(value: Any) -> str | None:
    """Cell value as stripped text, or None when empty."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip() if not isinstance(value, str) else value.strip()
    return text or None


def _blank(row: Sequence[Any]) -> bool:
    return all(_cell_text(v) is None for v in row)


# --------------------------------------------------------------------------- columns


def _norm_name(name: str) -> str:
    """Normalised column name: NFKC, lower case, no surrounding spaces, no trailing (note)."""
    n = unicodedata.normalize("NFKC", str(name)).strip().lstrip("\ufeff").lower()
    n = re.sub(r"\s*[(\[][^)\]]*[)\]]\s*$", "", n)
    return n.strip()


def _header_names(row: Sequence[Any]) -> list[str]:
    """Column names from the header row: blanks become ``column_<n>``, duplicates get ``.1``, ``.2``."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, v in enumerate(row, start=1):
        name = _cell_text(v)
        name = name.lstrip("\ufeff") if name else f"column_{i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    return names


def _matches(columns: Sequence[str], names: Sequence[str]) -> list[str]:
    wanted = {n.lower() for n in names}
    return [c for c in columns if _norm_name(c) in wanted]


def _find_coordinate_columns(path: Path, columns: list[str], lon_col: str | None, lat_col: str | None) -> _Coords:
    """Pick the coordinate column(s); raise a clear error when none or several fit."""
    found = ", ".join(f"'{c}'" for c in columns)
    if lon_col is not None or lat_col is not None:
        if lon_col is None or lat_col is None:
            raise InputError(
                f"give both lon_col and lat_col (got lon_col={lon_col!r}, lat_col={lat_col!r})",
                path=str(path),
            )
        for c in (lon_col, lat_col):
            if c not in columns:
                raise InputError(
                    f"no column {c!r}; columns found: {found}",
                    path=str(path),
                )
        return _Coords(location=lon_col) if lon_col == lat_col else _Coords(lon=lon_col, lat=lat_col)

    lons, lats, locs = _matches(columns, LON_NAMES), _matches(columns, LAT_NAMES), _matches(columns, LOCATION_NAMES)
    hint = "pass lon_col= and lat_col= (the same column name twice for a combined 'lng,lat' column)"
    if len(lons) > 1 or len(lats) > 1:
        raise InputError(
            f"several candidate coordinate columns (longitude: {lons}, latitude: {lats}); "
            f"{hint}. Columns found: {found}",
            path=str(path),
        )
    if lons and lats:
        if locs:
            raise InputError(
                f"both a longitude/latitude pair ('{lons[0]}', '{lats[0]}') and a location "
                f"column ({locs}) found; {hint}. Columns found: {found}",
                path=str(path),
            )
        return _Coords(lon=lons[0], lat=lats[0])
    if lons or lats:
        have, missing = ("longitude", "latitude") if lons else ("latitude", "longitude")
        raise InputError(
            f"found a {have} column ({(lons or lats)[0]!r}) but no {missing} column; {hint}. Columns found: {found}",
            path=str(path),
        )
    if len(locs) == 1:
        return _Coords(location=locs[0])
    if len(locs) > 1:
        raise InputError(
            f"several candidate location columns {locs}; {hint}. Columns found: {found}",
            path=str(path),
        )
    raise InputError(
        f"no coordinate columns found. Expected a longitude column ({', '.join(LON_NAMES)}) "
        f"and a latitude column ({', '.join(LAT_NAMES)}), or one 'lng,lat' column "
        f"({', '.join(LOCATION_NAMES)}); {hint}. Columns found: {found}",
        path=str(path),
    )


def _find_header(path: Path, rows: list[list[Any]], lon_col: str | None, lat_col: str | None) -> int:
    """Index of the header row: the first non-blank row, or a later one (within the first
    :data:`HEADER_SEARCH_ROWS`) that names the coordinate columns, skipping title rows."""
    non_blank = [i for i, r in enumerate(rows) if not _blank(r)]
    if not non_blank:
        raise InputError(
            "the table is empty",
            path=str(path),
        )
    first = non_blank[0]
    wanted = [c for c in (lon_col, lat_col) if c]
    for i in non_blank[:HEADER_SEARCH_ROWS]:
        names = _header_names(rows[i])
        if wanted:
            if all(c in names for c in wanted):
                return i
        elif _matches(names, LON_NAMES + LAT_NAMES + LOCATION_NAMES):
            return i
    return first


# --------------------------------------------------------------------------- values


def _parse_number(value: Any) -> tuple[float | None, str | None]:
    """Parse a coordinate cell; return (number, None) or (None, reason)."""
    if isinstance(value, bool):
        return None, "not a number"
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        if math.isnan(v):
            return None, "missing"
        return (v, None) if math.isfinite(v) else (None, "not a number")
    text = _cell_text(value)
    if text is None:
        return None, "missing"
    text = unicodedata.normalize("NFKC", text).replace("°", "").replace(" ", "")
    try:
        v = float(text)
    except ValueError:
        return None, "not a number"
    return (v, None) if math.isfinite(v) else (None, "not a number")


def _split_location(value: Any) -> tuple[Any, Any, str | None]:
    """Split an Amap ``"lng,lat"`` cell (full-width comma accepted)."""
    text = _cell_text(value)
    if text is None:
        return None, None, "missing"
    parts = [p.strip() for p in unicodedata.normalize("NFKC", text).split(",")]
    if len(parts) != 2 or not all(parts):
        return None, None, "expected 'lng,lat' (two numbers separated by a comma)"
    return parts[0], parts[1], None


@dataclass
class _RowCheck:
    lon: float | None = None
    lat: float | None = None
    problems: list[tuple[str, Any, str]] | None = None  # (field, value, reason)


def _check_row(raw_lon: Any, raw_lat: Any, coords: _Coords, crs: str, geographic: bool) -> _RowCheck:
    """Validate one row's coordinates; collect every problem found."""
    problems: list[tuple[str, Any, str]] = []
    lon_field = str(coords.location or coords.lon)
    lat_field = str(coords.location or coords.lat)
    both_field = coords.location or f"{coords.lon} / {coords.lat}"
    lon, why_lon = _parse_number(raw_lon)
    lat, why_lat = _parse_number(raw_lat)
    for field, raw, why, what in (
        (lon_field, raw_lon, why_lon, "longitude"),
        (lat_field, raw_lat, why_lat, "latitude"),
    ):
        if why == "missing":
            problems.append((field, _cell_text(raw) or "", f"missing {what}"))
        elif why:
            problems.append((field, _cell_text(raw) or "", f"{what} is not a number"))
    if problems or lon is None or lat is None:
        return _RowCheck(problems=problems)

    pair = f"{_cell_text(raw_lon)}, {_cell_text(raw_lat)}"
    if lon == 0 and lat == 0:
        return _RowCheck(
            problems=[(both_field, pair, "longitude and latitude are both 0 (a placeholder, not a place)")]
        )
    if not geographic:
        return _RowCheck(lon, lat, [])
    looks_swapped = _SWAP_LON[0] <= lon <= _SWAP_LON[1] and _SWAP_LAT[0] <= lat <= _SWAP_LAT[1]
    if looks_swapped and (crs in ("gcj02", "bd09") or not -90 <= lat <= 90):
        return _RowCheck(
            problems=[
                (
                    both_field,
                    pair,
                    "longitude and latitude look swapped "
                    "(a latitude in the longitude column and a longitude in the latitude column)",
                )
            ]
        )
    if not -180 <= lon <= 180:
        problems.append((lon_field, _cell_text(raw_lon) or _fmt(lon), "longitude outside -180..180"))
    if not -90 <= lat <= 90:
        problems.append((lat_field, _cell_text(raw_lat) or _fmt(lat), "latitude outside -90..90"))
    return _RowCheck(lon, lat, problems)


def _fmt(v: float | None) -> str:
    return "" if v is None else repr(v)


# --------------------------------------------------------------------------- main


def _read_rows(p: Path, encoding: str | None, sheet: str | int | None) -> list[list[Any]]:
    """The rows of a CSV or XLSX file, by its suffix.

    Raises
    ------
    InputError
        For an old ``.xls`` or any other file type.
    """
    suffix = p.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv_rows(p, encoding)
    if suffix in EXCEL_SUFFIXES:
        return _read_excel_rows(p, sheet)
    if suffix == ".xls":
        raise InputError(
            "old Excel .xls files are not supported; save it as .xlsx or CSV",
            path=str(p),
        )
    raise InputError(
        f"unsupported file type {suffix!r}; expected {', '.join(CSV_SUFFIXES + EXCEL_SUFFIXES)}",
        path=str(p),
    )


def _data_records(
    p: Path, rows: list[list[Any]], header_at: int, columns: list[str]
) -> tuple[list[list[Any]], list[int]]:
    """The data rows below the header, cut or padded to the header's width, and their row numbers.

    Blank rows are skipped; text is stripped (empty text is None); values beyond the last
    header column are ignored with a warning.
    """
    records, row_numbers = [], []
    for i in range(header_at + 1, len(rows)):
        row = rows[i]
        if _blank(row):
            continue
        cells = list(row[: len(columns)]) + [None] * max(0, len(columns) - len(row))
        extra = [v for v in row[len(columns) :] if _cell_text(v) is not None]
        if extra:
            log.warning("%s: row %d has %d value(s) beyond the last header column; ignored", p, i + 1, len(extra))
        records.append([v.strip() or None if isinstance(v, str) else v for v in cells])
        row_numbers.append(i + 1)
    return records, row_numbers


def _check_rows(
    p: Path, table: pd.DataFrame, row_numbers: list[int], coords: _Coords, crs_name: str, geographic: bool
) -> tuple[list[int], list[float | None], list[float | None], list[tuple[str, int, str, str, str]]]:
    """Each row's coordinates checked: (rows kept, their longitudes, latitudes, problems).

    Parameters
    ----------
    p : Path
        The file, for the problems table.
    table : DataFrame
        The data rows.
    row_numbers : list of int
        Each data row's number in the file.
    coords : _Coords
        Where the coordinates are.
    crs_name : str
        The declared system of the coordinates.
    geographic : bool
        True when that system is in degrees.

    Returns
    -------
    good : list of int
        Positions in ``table`` of the usable rows.
    xs, ys : list of float
        Their longitudes and latitudes (WGS-84).
    problems : list of tuple
        ``(source_file, row_number, field, value, reason)`` per problem of a row left out.
    """
    good, xs, ys, problems = [], [], [], []
    for k, rownum in enumerate(row_numbers):
        if coords.location:
            raw_lon, raw_lat, why = _split_location(table.at[k, coords.location])
            if why:
                val = _cell_text(table.at[k, coords.location]) or ""
                reason = "missing coordinates" if why == "missing" else why
                problems.append((str(p), rownum, coords.location, val, reason))
                continue
        else:
            raw_lon, raw_lat = table.at[k, coords.lon], table.at[k, coords.lat]
        check = _check_row(raw_lon, raw_lat, coords, crs_name, geographic)
        if check.problems:
            problems.extend((str(p), rownum, f, v, r) for f, v, r in check.problems)
            continue
        good.append(k)
        xs.append(check.lon)
        ys.append(check.lat)
    return good, xs, ys, problems


def read_facility_table(
    path: str | Path,
    encoding: str | None = None,
    crs: str = "wgs84",
    lon_col: str | None = None,
    lat_col: str | None = None,
    sheet: str | int | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read a facility list from CSV or XLSX.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.txt``/``.tsv`` (comma, tab or semicolon separated) or ``.xlsx``/``.xlsm`` file.
    encoding : str, optional
        Text encoding of a CSV file; by default detected among UTF-8 with BOM, UTF-8 and
        GB18030 (which covers GBK), and logged.
    crs : str, default "wgs84"
        The system of the coordinates: ``"wgs84"``, ``"gcj02"`` (Amap/Tencent), ``"bd09"``
        (Baidu) or an EPSG code (see :func:`circles.chinacrs.parse_crs_name`).
    lon_col, lat_col : str, optional
        The coordinate columns, when the usual names are absent or ambiguous. Give the same
        column twice for a combined ``"lng,lat"`` column.
    sheet : str or int, optional
        Excel sheet name or 0-based index (default: the first sheet).

    Returns
    -------
    facilities : GeoDataFrame
        One row per valid input row, EPSG:4326, with every original column (values as
        read: text for CSV, cell values for Excel), ``source_row`` (the spreadsheet row
        number) and ``geometry`` (points converted to WGS-84).
    problems : DataFrame
        Columns ``source_file, row_number, field, value, reason``: one line per problem of
        each row that was left out (missing, non-numeric, out-of-range, 0/0 or swapped
        coordinates). Empty when every row was usable.

    Raises
    ------
    InputError
        Naming the file: missing file, unsupported type, undecodable text, empty table,
        coordinate columns not found or ambiguous, unknown ``crs``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(
            "file not found",
            path=str(p),
        )
    if p.is_dir():
        raise InputError(
            "is a folder, expected a CSV or XLSX file",
            path=str(p),
        )
    try:
        crs_name = chinacrs.parse_crs_name(crs)
    except InputError as exc:
        raise exc.located(path=str(p)) from None
    rows = _read_rows(p, encoding, sheet)

    header_at = _find_header(p, rows, lon_col, lat_col)
    columns = _header_names(rows[header_at])
    if header_at > 0:
        log.info("%s: header found on row %d (rows above it skipped)", p, header_at + 1)
    records, row_numbers = _data_records(p, rows, header_at, columns)
    coords = _find_coordinate_columns(p, columns, lon_col, lat_col)
    if not records:
        raise InputError(
            f"the table has a header (row {header_at + 1}) but no data rows",
            path=str(p),
        )
    log.info("%s: %d rows; coordinates from %s, declared %s", p, len(records), coords.describe(), crs_name)
    table = pd.DataFrame(records, columns=columns, dtype=object)
    geographic = not crs_name.startswith("EPSG:") or CRS.from_user_input(crs_name).is_geographic

    good, xs, ys, problems = _check_rows(p, table, row_numbers, coords, crs_name, geographic)
    problems_df = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
    problems_df["row_number"] = problems_df["row_number"].astype(int)
    facilities = _to_geodataframe(
        table.iloc[good].reset_index(drop=True),
        [row_numbers[k] for k in good],
        np.array(xs, dtype=float),
        np.array(ys, dtype=float),
        crs_name,
        p,
    )
    n_bad = problems_df["row_number"].nunique()
    if n_bad:
        log.warning(
            "%s: %d of %d rows left out because of their coordinates (see the problems table)", p, n_bad, len(records)
        )
    return facilities, problems_df


def _to_geodataframe(
    table: pd.DataFrame, row_numbers: list[int], x: np.ndarray, y: np.ndarray, crs_name: str, path: Path
) -> gpd.GeoDataFrame:
    """Attach ``source_row`` and WGS-84 point geometry to the valid rows."""
    table = table.copy()
    if "source_row" in table.columns:
        log.warning("%s: the table already has a 'source_row' column; it is overwritten", path)
    table["source_row"] = pd.Series(row_numbers, index=table.index, dtype="int64")
    if crs_name in ("gcj02", "bd09"):
        outside = ~chinacrs.in_china(x, y)
        if outside.any():
            log.warning(
                "%s: %d point(s) declared %s lie outside mainland China's box and are left unshifted",
                path,
                int(outside.sum()),
                crs_name,
            )
        x, y = (chinacrs.gcj02_to_wgs84 if crs_name == "gcj02" else chinacrs.bd09_to_wgs84)(x, y)
        source_crs = "EPSG:4326"
    else:
        source_crs = "EPSG:4326" if crs_name == "wgs84" else crs_name
    gdf = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(x, y), crs=source_crs)
    return gdf if source_crs == "EPSG:4326" else gdf.to_crs("EPSG:4326")


__all__ = ["LAT_NAMES", "LOCATION_NAMES", "LON_NAMES", "PROBLEM_COLUMNS", "read_facility_table"]
