"""Write the outputs: gap report (CSV, XLSX), per-resident access table, facility list,
isochrones (GeoJSON). Outputs are deterministic: same inputs, same bytes (XLSX included:
see :mod:`circles.workbooks`).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._labels import COLUMNS_ZH, STATUS_ZH
from ._sheets import write_csv
from .errors import InputError

log = logging.getLogger(__name__)

#: Title of the gap report's printed pages.
GAPS_TITLE = "生活圈设施配套缺口报告 gap report"


def write_gaps_csv(gaps: pd.DataFrame, path: str | Path) -> Path:
    """The gap report as UTF-8 CSV with a BOM (opens correctly in Excel with Chinese text)."""
    path = Path(path)
    write_csv(gaps, path)
    return path


def write_gaps_xlsx(gaps: pd.DataFrame, path: str | Path, title: str = "gaps") -> Path:
    """The gap report as an Excel sheet: Chinese headers, English headers below, frozen,
    filtered, status cells coloured (written by :func:`circles.workbooks.write_gaps_workbook`)."""
    from .workbooks import write_gaps_workbook

    return write_gaps_workbook(gaps, path, headers=COLUMNS_ZH, status_zh=STATUS_ZH, print_title=GAPS_TITLE, title=title)


def access_table(
    residents: gpd.GeoDataFrame, types: list[str], speeds: dict[str, float], counts: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """One row per resident point: id, community, lon/lat, population share, where it comes from
    (``population_source``: totals, count, raster or estimate, see :mod:`circles.population`), placement,
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
            "population_source": ll.get("population_source", ""),
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
