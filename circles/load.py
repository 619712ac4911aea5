"""Load and validate the inputs: community boundaries, facilities and (optional) buildings.

Every check stops with one message naming the file, the feature and the field. Inputs are
returned in EPSG:4326 (WGS-84 longitude/latitude).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import chinacrs
from .errors import InputError

log = logging.getLogger(__name__)

POLYGONAL = ("Polygon", "MultiPolygon")


def read_vector(path: str | Path) -> gpd.GeoDataFrame:
    """Read a vector file (GeoJSON, GeoPackage, Shapefile …) with a clear error."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    if p.is_dir() and not p.name.lower().endswith(".gdb"):
        raise InputError("is a folder, expected a vector file (GeoJSON, GeoPackage, Shapefile)", path=str(p))
    try:
        gdf = gpd.read_file(p)
    except Exception as exc:  # pyogrio raises several types for unreadable data
        raise InputError(f"cannot read this file as vector data ({type(exc).__name__}: {exc})", path=str(p)) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise InputError("no geometry column", path=str(p))
    return gdf


def _feature_label(gdf: pd.DataFrame, i: int, id_field: str = "id") -> str:
    if id_field in gdf.columns:
        v = gdf[id_field].iloc[i]
        if v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v) != "":
            return f"'{v}' (row {i + 1})"
    return f"#{i + 1}"


#: Geographic CRSs under which GIS tools save GCJ-02/BD-09 lists (a ``gcj02``/``bd09`` option
#: may override these declarations, never a projected CRS).
_LONLAT_LABELS = ("EPSG:4326", "OGC:CRS84", "EPSG:4490")
_GEOJSON_SUFFIXES = (".geojson", ".json", ".geojsonl", ".geojsonseq")


def _looks_lonlat(gdf: gpd.GeoDataFrame) -> bool:
    minx, miny, maxx, maxy = gdf.total_bounds if len(gdf) else (0, 0, 0, 0)
    return bool(-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90)


def _same_crs(a, b) -> bool:
    from pyproj import CRS

    ca, cb = CRS.from_user_input(a), CRS.from_user_input(b)
    return bool(ca.equals(cb, ignore_axis_order=True))


def declared_crs(gdf: gpd.GeoDataFrame, path: str):
    """The CRS the file itself declares, or None.

    A GeoJSON file is WGS-84 by its standard (RFC 7946), and its readers report EPSG:4326
    whether or not the file says so; when the coordinates are not longitude/latitude, such
    a file (written by an old tool in metres) declares nothing.
    """
    crs = gdf.crs
    if crs is None:
        return None
    if str(path).lower().endswith(_GEOJSON_SUFFIXES) and crs.is_geographic and not _looks_lonlat(gdf):
        return None
    return crs


def _crs_label(crs) -> str:
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    return f"EPSG:{epsg}" if epsg else str(getattr(crs, "name", crs))


def to_wgs84(gdf: gpd.GeoDataFrame, path: str, crs: str | None = None) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326.

    A file without a CRS is taken as WGS-84 only when its coordinates are valid
    longitudes/latitudes; otherwise the CRS must be given (``crs``). ``crs`` may be
    ``wgs84``, ``gcj02`` (Amap, Tencent), ``bd09`` (Baidu) or any ``EPSG:`` code, and applies
    only to a file that declares no CRS (see :func:`declared_crs`): a declared CRS that
    disagrees is an error. The one exception: GCJ-02 and BD-09 lists are longitude/latitude
    that GIS tools label EPSG:4326 (or CGCS2000, EPSG:4490), so ``gcj02``/``bd09`` may
    override such a label, never a projected CRS. GCJ-02 and BD-09 coordinates are
    converted to WGS-84 with :mod:`circles.chinacrs`.

    Raises
    ------
    InputError
        Naming the file and the field ``crs``: a declared CRS that disagrees with ``crs``,
        a projected ``crs`` for longitude/latitude numbers, coordinates that are not
        longitude/latitude without a projected CRS.
    """
    declared = declared_crs(gdf, path)
    if crs is not None:
        try:
            name = chinacrs.parse_crs_name(crs)
        except InputError as exc:
            raise exc.located(path=path) from None
        if name in ("gcj02", "bd09"):
            if declared is not None and not any(_same_crs(declared, c) for c in _LONLAT_LABELS):
                raise InputError(
                    f"the file declares {_crs_label(declared)}, but the CRS option says {crs}: GCJ-02/BD-09 "
                    "coordinates are longitude/latitude, so a file in another CRS cannot hold them; leave out "
                    "the option for this file",
                    path=path,
                    field="crs",
                )
            # shifted Chinese coordinates: longitude/latitude labelled WGS-84 (or nothing)
            _check_lonlat(gdf, path)
            return chinacrs.to_wgs84(gdf.set_crs("EPSG:4326", allow_override=True), name)
        target = "EPSG:4326" if name == "wgs84" else name
        if declared is not None:
            # WGS-84 and CGCS2000 longitude/latitude differ by less than a metre: either label will do
            both_lonlat = all(any(_same_crs(c, w) for w in _LONLAT_LABELS) for c in (declared, target))
            if not _same_crs(declared, target) and not both_lonlat:
                raise InputError(
                    f"the file declares {_crs_label(declared)}, but the CRS option says {crs}; the option is "
                    "for files that declare no CRS: leave it out (or give it only for the facilities with "
                    "--facilities-crs), or correct the file",
                    path=path,
                    field="crs",
                )
        else:
            from pyproj import CRS

            if CRS.from_user_input(target).is_projected and len(gdf) and _looks_lonlat(gdf):
                raise InputError(
                    f"the coordinates {_bounds_text(gdf)} look like longitude/latitude, but the CRS option "
                    f"says {crs}, a projected CRS in metres: leave the option out for this file",
                    path=path,
                    field="crs",
                )
            gdf = gdf.set_crs(target, allow_override=True)
    elif declared is None and gdf.crs is not None:
        gdf = gdf.set_crs(None, allow_override=True)  # a GeoJSON in metres: its EPSG:4326 label means nothing
    # GeoJSON readers report WGS-84 even when a file holds projected metres: check the numbers
    if (gdf.crs is None or gdf.crs.is_geographic) and not _looks_lonlat(gdf):
        raise InputError(
            f"coordinates {_bounds_text(gdf)} are not longitude/latitude and "
            "the file declares no projected coordinate reference system: "
            "declare it (e.g. --crs EPSG:32650)",
            path=path,
            field="crs",
        )
    if gdf.crs is None:
        log.info("%s: no CRS declared; coordinates look like longitude/latitude, taken as WGS-84", path)
        gdf = gdf.set_crs("EPSG:4326")
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    return gdf


def _bounds_text(gdf: gpd.GeoDataFrame) -> str:
    minx, miny, maxx, maxy = gdf.total_bounds if len(gdf) else (0, 0, 0, 0)
    return f"({minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f})"


def _check_lonlat(gdf: gpd.GeoDataFrame, path: str) -> None:
    minx, miny, maxx, maxy = gdf.total_bounds if len(gdf) else (0, 0, 0, 0)
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError(
            f"coordinates ({minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f}) are not "
            "longitude/latitude, so they cannot be GCJ-02 or BD-09",
            path=path,
            field="crs",
        )


def _check_ids(gdf: pd.DataFrame, path: str, id_field: str = "id") -> None:
    if id_field not in gdf.columns:
        raise InputError(f"missing field '{id_field}' (a unique identifier per feature)", path=path, field=id_field)
    ids = gdf[id_field]
    for i, v in enumerate(ids):
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
            raise InputError("empty identifier", path=path, feature=f"#{i + 1}", field=id_field)
    dup = ids.astype(str)[ids.astype(str).duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = [str(i + 1) for i in np.flatnonzero(ids.astype(str).to_numpy() == first)]
        raise InputError(
            f"duplicate id '{first}' (rows {', '.join(rows)}); ids must be unique", path=path, field=id_field
        )


def _check_geometry(gdf: gpd.GeoDataFrame, path: str, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    for i, g in enumerate(gdf.geometry):
        if g is None or g.is_empty:
            raise InputError(
                f"empty geometry; expected a {what}", path=path, feature=_feature_label(gdf, i), field="geometry"
            )
        if g.geom_type not in allowed:
            raise InputError(
                f"geometry is a {g.geom_type}; expected a {what}",
                path=path,
                feature=_feature_label(gdf, i),
                field="geometry",
            )


def load_communities(
    path: str | Path, crs: str | None = None, *, keep: Iterable[str] = (), problems: list[dict] | None = None
) -> gpd.GeoDataFrame:
    """Community boundaries: polygons with ``id``, ``name`` and ``population``.

    Optional fields: ``households``, ``population_estimated`` (default false). Fields named in
    ``keep`` (e.g. a district field, 街道) must exist and are kept as text. Invalid
    polygons (a self-intersecting ring …) are repaired with ``make_valid``; each repair is
    logged as a warning naming the feature and the area before and after, and appended to
    ``problems`` (rows of ``input_problems.csv``).

    Raises
    ------
    InputError
        Naming the file, the feature and the field.
    """
    path = str(path)
    gdf = read_vector(path)
    if len(gdf) == 0:
        raise InputError("no features: expected one polygon per community", path=path)
    _check_ids(gdf, path)
    _check_geometry(gdf, path, POLYGONAL, "Polygon or MultiPolygon (a community boundary)")
    if "name" not in gdf.columns:
        raise InputError("missing field 'name' (the community name)", path=path, field="name")
    if "population" not in gdf.columns:
        raise InputError("missing field 'population' (residents of each community)", path=path, field="population")
    pop = pd.to_numeric(gdf["population"], errors="coerce")
    for i, (raw, v) in enumerate(zip(gdf["population"], pop, strict=True)):
        if pd.isna(v):
            raise InputError(
                f"population is {raw!r}; expected a number of residents",
                path=path,
                feature=_feature_label(gdf, i),
                field="population",
            )
        if not np.isfinite(v) or v < 0:
            raise InputError(
                f"population is {raw!r}; expected a finite number of residents, zero or more",
                path=path,
                feature=_feature_label(gdf, i),
                field="population",
            )
    if "households" in gdf.columns:
        _check_optional_numbers(gdf, path, "households")
    gdf = to_wgs84(gdf, path, crs)
    out = gpd.GeoDataFrame(
        {
            "id": gdf["id"].astype(str),
            "name": gdf["name"].fillna("").astype(str),
            "population": pop.astype(float).to_numpy(),
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )
    if "households" in gdf.columns:
        out["households"] = pd.to_numeric(gdf["households"], errors="coerce").to_numpy()
    est = gdf["population_estimated"] if "population_estimated" in gdf.columns else False
    out["population_estimated"] = pd.Series(est, index=gdf.index).fillna(False).astype(bool).to_numpy()
    for extra in ("population_method", "kind", "geometry_note"):
        if extra in gdf.columns:
            out[extra] = gdf[extra].fillna("").astype(str).to_numpy()
    for extra in keep:
        if extra not in gdf.columns:
            fields = ", ".join(c for c in gdf.columns if c != "geometry")
            raise InputError(f"no such field; the file has: {fields}", path=path, field=extra)
        out[extra] = gdf[extra].fillna("").astype(str).to_numpy()
    out["geometry"] = _repair(out, path, problems)
    return out


def _check_optional_numbers(gdf: pd.DataFrame, path: str, field: str) -> pd.Series:
    """Numbers of an optional field: blank is allowed; text, infinity or a negative value is not."""
    values = pd.to_numeric(gdf[field], errors="coerce")
    for i, (raw, v) in enumerate(zip(gdf[field], values, strict=True)):
        blank = raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == ""
        if not blank and (pd.isna(v) or not np.isfinite(v) or v < 0):
            raise InputError(
                f"{field} is {raw!r}; expected a finite number, zero or more (or nothing)",
                path=path,
                feature=_feature_label(gdf, i),
                field=field,
            )
    return values


def _repair(gdf: gpd.GeoDataFrame, path: str, problems: list[dict] | None) -> gpd.GeoSeries:
    """Valid polygons: invalid ones repaired with ``make_valid`` (polygonal parts kept).

    Each repair is reported with the feature, the reason and the area before and after (m²).
    """
    geoms = gdf.geometry
    bad = np.flatnonzero(~geoms.is_valid.to_numpy())
    if not len(bad):
        return geoms
    fixed = geoms.copy()
    utm = gdf.estimate_utm_crs() if gdf.crs is not None and gdf.crs.is_geographic else gdf.crs
    for i in bad:
        g = geoms.iloc[i]
        why = shapely.is_valid_reason(g)
        repaired = shapely.make_valid(g)
        if repaired.geom_type not in POLYGONAL:
            parts = [p for p in shapely.get_parts(repaired) if p.geom_type in POLYGONAL]
            repaired = shapely.union_all(parts) if parts else repaired
        if repaired.is_empty or repaired.geom_type not in POLYGONAL:
            raise InputError(
                f"invalid polygon ({why}) that cannot be repaired into an area; expected a valid boundary",
                path=path,
                feature=_feature_label(gdf, int(i)),
                field="geometry",
            )
        before, after = gpd.GeoSeries([g, repaired], crs=gdf.crs).to_crs(utm).area.to_numpy()
        fixed.iloc[i] = repaired
        change = f"{before:,.0f} m² → {after:,.0f} m²"
        label = _feature_label(gdf, int(i))
        msg = f"{path}: feature {label}: invalid polygon ({why}) repaired with make_valid; area {change}"
        log.warning("%s", msg)
        if problems is not None:
            problems.append(
                {
                    "source_file": path,
                    "row_number": int(i) + 1,
                    "field": "geometry",
                    "value": f"{gdf['id'].iloc[i]}: {why}",
                    "reason": f"invalid polygon repaired with make_valid (kept); area {change}",
                    "message": msg,
                }
            )
    return fixed


def load_facilities(path: str | Path, known_types: Iterable[str], crs: str | None = None) -> gpd.GeoDataFrame:
    """Facilities: points (or areas/lines) with ``id``, ``facility_type`` and optional ``name``.

    ``facility_type`` must be one of ``known_types``. Optional fields kept: ``name``,
    ``source``, ``osm_element``, ``capacity``, ``size_m2``.
    """
    path = str(path)
    return check_facilities(read_vector(path), path, known_types, crs)


def check_facilities(
    gdf: gpd.GeoDataFrame, path: str, known_types: Iterable[str], crs: str | None = None
) -> gpd.GeoDataFrame:
    """Validate a facilities table already in memory (``path`` labels the messages)."""
    known = list(known_types)
    _check_ids(gdf, path) if len(gdf) else None
    if "facility_type" not in gdf.columns:
        raise InputError(
            f"missing field 'facility_type' (one of: {', '.join(known)})", path=path, field="facility_type"
        )
    _check_geometry(
        gdf,
        path,
        ("Point", "MultiPoint", "Polygon", "MultiPolygon", "LineString", "MultiLineString"),
        "Point (or the facility's area)",
    )
    for i, t in enumerate(gdf["facility_type"]):
        if t is None or (isinstance(t, float) and np.isnan(t)) or str(t).strip() == "":
            raise InputError(
                f"missing facility type; expected one of: {', '.join(known)}",
                path=path,
                feature=_feature_label(gdf, i),
                field="facility_type",
            )
        if str(t) not in known:
            raise InputError(
                f"unknown facility type '{t}'; expected one of: {', '.join(known)}",
                path=path,
                feature=_feature_label(gdf, i),
                field="facility_type",
            )
    gdf = to_wgs84(gdf, path, crs) if len(gdf) else gdf.set_crs("EPSG:4326", allow_override=True)
    out = gpd.GeoDataFrame(
        {
            "id": gdf["id"].astype(str) if len(gdf) else pd.Series([], dtype=str),
            "facility_type": gdf["facility_type"].astype(str),
            "name": (gdf["name"].fillna("").astype(str) if "name" in gdf.columns else ""),
        },
        geometry=gdf.geometry.values,
        crs="EPSG:4326",
    )
    for extra in ("capacity", "size_m2"):
        if extra in gdf.columns:
            _check_optional_numbers(gdf, path, extra)
    for extra in ("source", "osm_element", "capacity", "size_m2"):
        if extra in gdf.columns:
            out[extra] = gdf[extra].to_numpy()
    return out


def load_buildings(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Residential buildings: polygons (or points) with ``id`` and optional ``floor_area_m2``.

    Residents of a community are spread over the buildings inside it, weighted by floor
    area (footprint area where no floor area is given).
    """
    path = str(path)
    gdf = read_vector(path)
    _check_ids(gdf, path) if len(gdf) else None
    _check_geometry(gdf, path, POLYGONAL + ("Point",), "Polygon (a building footprint) or Point")
    if "floor_area_m2" in gdf.columns:
        fa = pd.to_numeric(gdf["floor_area_m2"], errors="coerce")
        for i, v in enumerate(fa):
            if not pd.isna(v) and (v < 0 or not np.isfinite(v)):
                raise InputError(
                    f"floor_area_m2 is {v}; expected a finite number, zero or more",
                    path=path,
                    feature=_feature_label(gdf, i),
                    field="floor_area_m2",
                )
    else:
        fa = pd.Series(np.nan, index=gdf.index)
    gdf = to_wgs84(gdf, path, crs)
    return gpd.GeoDataFrame(
        {"id": gdf["id"].astype(str), "floor_area_m2": fa.to_numpy()}, geometry=gdf.geometry.values, crs="EPSG:4326"
    )


TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")
_ID_COLUMNS = ("id", "编号", "序号", "poi_id", "uid")
_NAME_COLUMNS = ("name", "名称", "设施名称", "机构名称", "poi名称")
_TYPE_COLUMNS = ("facility_type", "类型", "设施类型", "类别", "type")
_TYPECODE_COLUMNS = ("typecode", "type_code", "类型编码", "typecodes")
_TAG_COLUMNS = ("tag", "tags", "行业分类", "分类", "poi_type", "types")
_SIZE_COLUMNS = ("size_m2", "面积", "建筑面积", "用地面积", "面积（平方米）", "面积(平方米)")
_CAPACITY_COLUMNS = ("capacity", "容量", "床位", "床位数", "托位", "托位数", "学位", "车位", "车位数")


def _pick(columns: Iterable[str], names: Iterable[str]) -> str | None:
    low = {str(c).strip().lower(): c for c in columns}
    return next((low[n] for n in names if n in low), None)


def load_facility_table(
    path: str | Path,
    known_types: Iterable[str],
    *,
    crs: str | None = None,
    encoding: str | None = None,
    categories: str | Path | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Facilities from a CSV/XLSX table (department spreadsheets, Amap/Baidu POI exports).

    Coordinates are found under their usual column names and converted from ``crs``
    (default WGS-84); the facility type comes from a ``facility_type`` column or is derived
    from Amap type codes, Baidu tags, Chinese type words or names
    (:mod:`circles._categories`, extended by the user's ``categories`` file).

    Returns
    -------
    facilities : GeoDataFrame
        Valid rows with a known type (``id``, ``facility_type``, ``name``, ``source``,
        ``source_row``, and ``size_m2`` / ``capacity`` when a column such as 面积 or 床位
        gives them), EPSG:4326.
    problems : DataFrame
        Every row left out, with ``source_file, row_number, field, value, reason``: bad
        coordinates, or no recognisable facility type.
    """
    from . import _categories as cat
    from . import _tables as tables

    path = str(path)
    known = list(known_types)
    raw, problems = tables.read_facility_table(path, encoding=encoding, crs=crs or "wgs84")
    cols = list(raw.columns)
    types, report = cat.categorise(
        raw,
        typecode_col=_pick(cols, _TYPECODE_COLUMNS),
        tag_col=_pick(cols, _TAG_COLUMNS),
        type_col=_pick(cols, _TYPE_COLUMNS),
        name_col=_pick(cols, _NAME_COLUMNS),
        extra_mappings=categories,
    )
    id_col, name_col = _pick(cols, _ID_COLUMNS), _pick(cols, _NAME_COLUMNS)
    ids = raw[id_col].astype(str) if id_col else "row-" + raw["source_row"].astype(str)
    out = gpd.GeoDataFrame(
        {
            "id": ids.to_numpy(),
            "facility_type": types.to_numpy(),
            "name": raw[name_col].fillna("").astype(str).to_numpy() if name_col else "",
            "source": Path(path).name,
            "source_row": raw["source_row"].to_numpy(),
        },
        geometry=raw.geometry.values,
        crs="EPSG:4326",
    )
    for key, names in (("size_m2", _SIZE_COLUMNS), ("capacity", _CAPACITY_COLUMNS)):
        col = _pick(cols, names)
        if col is not None:
            out[key] = pd.to_numeric(raw[col], errors="coerce").to_numpy()
    untyped = out["facility_type"].isna() | ~out["facility_type"].isin(known)
    if untyped.any():
        extra = pd.DataFrame(
            {
                "source_file": path,
                "row_number": out.loc[untyped, "source_row"].to_numpy(),
                "field": "facility_type",
                "value": out.loc[untyped, "name"].to_numpy(),
                "reason": "no facility type recognised (type column, Amap code, Baidu tag or "
                "name); add a mapping with --categories",
            }
        )
        problems = pd.concat([problems, extra], ignore_index=True)
    out = out[~untyped].reset_index(drop=True)
    _check_ids(out, path) if len(out) else None
    if len(report):
        log.info(
            "%s: unknown categories (value: count): %s",
            path,
            ", ".join(f"{v}: {c}" for v, c in zip(report["value"], report["count"], strict=True)),
        )
    if len(problems):
        log.warning("%s: %d rows set aside (listed in input_problems.csv)", path, len(problems))
    return out, problems
