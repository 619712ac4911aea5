"""Write the outputs: gap report (CSV, XLSX), per-resident access table, facility list,
isochrones (GeoJSON). Outputs are deterministic: same inputs, same bytes (XLSX included:
see :func:`circles._sheets.save_workbook`).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ._labels import COLUMNS_ZH, LEDGER_TITLES, STATUS_FILL, STATUS_ZH
from ._sheets import append_row, cell_value, save_workbook, write_csv
from .errors import InputError

log = logging.getLogger(__name__)

#: Title of the gap report's printed pages.
GAPS_TITLE = "生活圈设施配套缺口报告 gap report"


def _header_text(text: str) -> str:
    """Text for a page header or footer: '&' starts a code there and is doubled."""
    return str(text).replace("&", "&&")


def print_layout(
    ws, title: str, subtitle: str = "", *, date: str | None = None, header_rows: str | None = "1:1"
) -> None:
    """Print settings of a sheet meant for paper: A4 landscape, fitted to one page wide (as many
    pages tall as needed), the header rows repeated on every page, a page header with the title
    (left), the subtitle (centre) and the date (right: ``date``, or the print date), and the
    page number with the page count in the footer."""
    from openpyxl.worksheet.page import PageMargins

    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if header_rows:
        ws.print_title_rows = header_rows
    ws.page_margins = PageMargins(left=0.3, right=0.3, top=0.7, bottom=0.6, header=0.3, footer=0.3)
    ws.print_options.horizontalCentered = True
    ws.oddHeader.left.text = _header_text(title)
    ws.oddHeader.left.size = 10
    ws.oddHeader.center.text = _header_text(subtitle)
    ws.oddHeader.center.size = 10
    ws.oddHeader.right.text = f"{LEDGER_TITLES['date']}{_header_text(date)}" if date else LEDGER_TITLES["print_date"]
    ws.oddHeader.right.size = 9
    ws.oddFooter.center.text = LEDGER_TITLES["footer"]
    ws.oddFooter.center.size = 9


def write_gaps_csv(gaps: pd.DataFrame, path: str | Path) -> Path:
    """The gap report as UTF-8 CSV with a BOM (opens correctly in Excel with Chinese text)."""
    path = Path(path)
    write_csv(gaps, path)
    return path


def write_gaps_xlsx(gaps: pd.DataFrame, path: str | Path, title: str = "gaps") -> Path:
    """The gap report as an Excel sheet: Chinese headers, English headers below, frozen,
    filtered, status cells coloured."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    cols = list(gaps.columns)
    ws.append([COLUMNS_ZH.get(c, c) for c in cols])
    ws.append(cols)
    bold = Font(bold=True)
    for cell in list(ws[1]) + list(ws[2]):
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    status_col = cols.index("status") + 1 if "status" in cols else None
    fills: dict = {}
    for rec in gaps.itertuples(index=False):
        values = []
        for c, v in zip(cols, rec, strict=True):
            v = cell_value(v)
            if c == "status" and v in STATUS_ZH:
                v = f"{STATUS_ZH[v]} {v}"
            values.append(v)
        cells = append_row(ws, values)
        if status_col:
            raw = rec[status_col - 1]
            if raw not in fills:
                fills[raw] = PatternFill("solid", fgColor=STATUS_FILL.get(raw, "FFFFFF"))
            cells[status_col - 1].fill = fills[raw]
    ws.freeze_panes = "C3"
    ws.auto_filter.ref = f"A2:{get_column_letter(len(cols))}{ws.max_row}"
    for i, c in enumerate(cols, start=1):
        width = 60 if c == "evidence" else min(40, max(10, len(COLUMNS_ZH.get(c, c)) * 2 + 2, len(c) + 2))
        ws.column_dimensions[get_column_letter(i)].width = width
        if c in ("covered_share", "covered_share_adequate"):
            for (cell,) in ws.iter_rows(min_row=3, min_col=i, max_col=i):
                if isinstance(cell.value, (int, float)):
                    cell.number_format = "0.0%"
    print_layout(ws, GAPS_TITLE, header_rows="1:2")
    return save_workbook(wb, path)


def access_table(
    residents: gpd.GeoDataFrame, types: list[str], speeds: dict[str, float], counts: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """One row per resident point: id, community, lon/lat, population share, placement,
    then walking minutes to the nearest facility of each type (empty when none reachable),
    the nearest facility's id, and (with ``counts``) how many facilities of each type are
    within the type's threshold (``within_<type>``)."""
    ll = residents.to_crs("EPSG:4326")
    df = pd.DataFrame(
        {
            "point_id": ll["point_id"],
            "community_id": ll["community_id"],
            "lon": ll.geometry.x.round(7),
            "lat": ll.geometry.y.round(7),
            "population": ll["population"].round(2),
            "origin": ll["origin"],
            "placed": ll["placed"],
            "snap_m": ll["snap_m"],
        }
    )
    for t in types:
        df[t] = (ll[f"dist_{t}"] / speeds[t]).round(2)
    for t in types:
        df[f"nearest_{t}"] = ll[f"nearest_{t}"].replace("", np.nan)
    for t, n in (counts or {}).items():
        df[f"within_{t}"] = np.asarray(n, dtype=int)
    return df


def facilities_table(facilities: gpd.GeoDataFrame) -> pd.DataFrame:
    """Every input facility, used or set aside, with the reason."""
    ll = facilities.to_crs("EPSG:4326")
    rp = ll.geometry.representative_point()
    cols = ["id", "name", "facility_type"] + [
        c for c in ("source", "osm_element", "capacity", "size_m2") if c in ll.columns
    ]
    df = pd.DataFrame(ll[cols])
    df["lon"] = rp.x.round(7)
    df["lat"] = rp.y.round(7)
    df["geometry_type"] = ll.geom_type
    df["status"] = np.where(ll["placed"], "used", "set_aside")
    df["snap_m"] = ll["snap_m"]
    df["set_aside_reason"] = ll["set_aside_reason"]
    return df


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a GeoDataFrame as GeoJSON in EPSG:4326 (overwriting)."""
    path = Path(path)
    if path.exists():
        path.unlink()
    return geojson_file(gdf.to_crs("EPSG:4326"), path, COORDINATE_PRECISION=7)


def geojson_file(gdf: gpd.GeoDataFrame, path: str | Path, **options: Any) -> Path:
    """``gdf.to_file(path, driver="GeoJSON", **options)``, also where the path holds ``!`` (which
    GDAL reads as its own syntax: such a file is written through memory, same layer name, same bytes)."""
    path = Path(path)
    if "!" not in str(path):
        gdf.to_file(path, driver="GeoJSON", **options)
        return path
    buf = io.BytesIO()
    gdf.to_file(buf, driver="GeoJSON", layer=path.stem, **options)
    path.write_bytes(buf.getvalue())
    return path


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as Parquet (columnar, compressed: the per-resident table of a city)."""
    try:
        import pyarrow  # noqa: F401  (only to give a clear message when it is missing)
    except ImportError:
        raise InputError("writing Parquet needs pyarrow: pip install 'circles[parquet]'", field="format") from None
    path = Path(path)
    df.to_parquet(path, index=False)
    return path
