"""Load and validate the inputs: community boundaries, facilities and (optional) buildings.

Every check stops with one message naming the file, the feature and the field. Inputs are
returned in EPSG:4326 (WGS-84 longitude/latitude).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import chinacrs
from ._safety import check_regular_file
from .errors import InputError

log = logging.getLogger(__name__)

POLYGONAL = ("Polygon", "MultiPolygon")


def read_vector(path: str | Path, *, layer: str | None = None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file (GeoJSON, GeoPackage, Shapefile …) with a clear error.

    Parameters
    ----------
    layer : str, optional
        The layer of a file holding several (GeoPackage, file geodatabase); a file with more
        than one layer of features needs it (the error lists the layers).
    encoding : str, optional
        Text encoding of a Shapefile's attributes. A Shapefile without ``.cpg`` whose text
        is not ASCII is read as UTF-8 when it decodes as UTF-8, else as GB18030 (GBK, the
        common Chinese ArcGIS export) with a warning.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    if p.is_dir() and not p.name.lower().endswith(".gdb"):
        raise InputError("is a folder, expected a vector file (GeoJSON, GeoPackage, Shapefile)", path=str(p))
    check_regular_file(p)  # a FIFO or device would block the reader
    from ._outputs import reading

    try:
        with reading(p), _gdal_path(p) as src:
            layer = _choose_layer(src, str(p), layer)
            gdf = _read_decoded(src, str(p), layer, encoding)
    except InputError:
        raise
    except Exception as exc:  # pyogrio raises several types for unreadable data
        raise InputError(f"cannot read this file as vector data ({type(exc).__name__}: {exc})", path=str(p)) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise InputError("no geometry column", path=str(p))
    return gdf


@contextlib.contextmanager
def _gdal_path(p: Path) -> Iterator[str]:
    """A path GDAL reads as written: GDAL takes ``!`` (and ``/vsi…`` prefixes) as its own syntax, so
    such a file (with its Shapefile side files) is linked into a temporary folder under a plain name.
    """
    if "!" not in str(p.resolve()) and not str(p).startswith("/vsi"):
        yield str(p)
        return
    with tempfile.TemporaryDirectory(prefix="circles-read-") as tmp:
        real = p.resolve()
        siblings = [real] if real.is_dir() else [f for f in real.parent.iterdir() if f.name.split(".")[0] == real.stem]
        for f in siblings:
            os.symlink(f, Path(tmp) / ("data" + f.name[len(real.stem) :]))
        yield str(Path(tmp) / ("data" + real.suffix))


def _choose_layer(src: str, label: str, layer: str | None) -> str | None:
    """The layer to read: the one given, or the only layer with features; else an error listing them."""
    import pyogrio

    layers = pyogrio.list_layers(src)
    names = [str(n) for n, _ in layers]
    if layer is not None:
        if layer not in names:
            raise InputError(f"no layer '{layer}'; the file has: {', '.join(names)}", path=label, field="layer")
        return layer
    spatial = [str(n) for n, g in layers if g is not None]
    if len(spatial) > 1:
        raise InputError(
            f"the file has {len(spatial)} layers with features ({', '.join(spatial)}); choose one with --layer NAME "
            "(boundaries) or keep one layer in the file",
            path=label,
            field="layer",
        )
    return None


def _text_values(gdf: pd.DataFrame) -> list[str]:
    return [v for c in gdf.columns if c != "geometry" for v in gdf[c] if isinstance(v, str)]


def _read_decoded(src: str, label: str, layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    """Read ``src``; a Shapefile without ``.cpg`` whose text is not ASCII is decoded as UTF-8 or GB18030."""
    if encoding is not None:
        return gpd.read_file(src, layer=layer, encoding=encoding)
    gdf = gpd.read_file(src, layer=layer)
    if not src.lower().endswith(".shp") or Path(src).with_suffix(".cpg").exists():
        return gdf
    import pyogrio

    if str(pyogrio.read_info(src, layer=layer).get("encoding", "")).upper() not in ("ISO-8859-1", "LATIN1"):
        return gdf  # the file says its encoding (a code page byte in the .dbf)
    if all(v.isascii() for v in _text_values(gdf)):
        return gdf
    try:
        return gpd.read_file(src, layer=layer, encoding="utf-8")
    except UnicodeDecodeError:
        pass
    try:
        decoded = gpd.read_file(src, layer=layer, encoding="gb18030")
    except UnicodeDecodeError:
        return gdf
    log.warning(
        "%s: the Shapefile has no .cpg saying its text encoding, and its text is not UTF-8: read as GBK "
        "(GB18030), the usual Chinese export; pass --encoding to choose another",
        label,
    )
    return decoded


#: Control characters that no name holds on purpose: C0 except tab and line feed, DEL and C1.
#: They break workbooks (openpyxl refuses them) and drive terminals (ESC starts a sequence that
#: can set the window title, clear the screen or write the clipboard).
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(value: object) -> object:
    """``value`` without control characters (:data:`CONTROL_CHARS`) when it is text, else unchanged."""
    return CONTROL_CHARS.sub("", value) if isinstance(value, str) else value


def _clean_columns(gdf: pd.DataFrame, columns: Iterable[str], path: str) -> None:
    """Remove control characters from text columns in place, with one warning per column."""
    for col in columns:
        if col not in gdf.columns:
            continue
        values = gdf[col]
        dirty = values.map(lambda v: isinstance(v, str) and CONTROL_CHARS.search(v) is not None)
        if dirty.any():
            gdf[col] = values.map(clean_text)
            _warn_changed(path, col, values, dirty, "control characters removed")


def _warn_changed(path: str, field: str, values: pd.Series, changed: pd.Series, what: str) -> None:
    """One warning for the values of ``field`` that were changed: how many, what was done, one example."""
    log.warning(
        "%s: field %s: %s in %d value(s) (e.g. %r)", path, field, what, int(changed.sum()), values[changed].iloc[0]
    )


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


def _population_problem(raw: Any, v: float) -> str | None:
    """What is wrong with one community's population (``raw`` as read, ``v`` as a number), or None."""
    if isinstance(raw, (bool, np.bool_)):
        return f"population is {raw!r}, a yes/no value; expected a number of residents"
    if pd.isna(v):
        return f"population is {raw!r}; expected a number of residents"
    if not np.isfinite(v) or v < 0:
        return f"population is {raw!r}; expected a finite number of residents, zero or more"
    return None


def _population(gdf: pd.DataFrame, path: str) -> pd.Series:
    """Each community's population as a number.

    Raises
    ------
    InputError
        Naming the first community whose population is not a finite number, zero or more.
    """
    pop = pd.to_numeric(gdf["population"], errors="coerce")
    for i, (raw, v) in enumerate(zip(gdf["population"], pop, strict=True)):
        why = _population_problem(raw, v)
        if why is not None:
            raise InputError(why, path=path, feature=_feature_label(gdf, i), field="population")
    return pop


def _add_optional_fields(out: gpd.GeoDataFrame, gdf: pd.DataFrame, path: str, keep: Iterable[str]) -> None:
    """Add to ``out`` the optional fields ``gdf`` has (households, age groups, notes) and the ``keep`` fields.

    Raises
    ------
    InputError
        For an age group that does not add up, or a ``keep`` field the file does not have.
    """
    if "households" in gdf.columns:
        out["households"] = pd.to_numeric(gdf["households"], errors="coerce").to_numpy()
    est = gdf["population_estimated"] if "population_estimated" in gdf.columns else False
    out["population_estimated"] = pd.Series(est, index=gdf.index).fillna(False).astype(bool).to_numpy()
    from .population import AGE_FIELDS, check_groups  # noqa: PLC0415

    for f in AGE_FIELDS:  # optional age groups (circles.population)
        if f in gdf.columns:
            out[f] = _check_optional_numbers(gdf, path, f).to_numpy()
    check_groups(out, path)
    for extra in ("population_method", "kind", "geometry_note", "closed"):
        if extra in gdf.columns:
            out[extra] = gdf[extra].fillna("").astype(str).to_numpy()
    for extra in keep:
        if extra not in gdf.columns:
            fields = ", ".join(c for c in gdf.columns if c != "geometry")
            raise InputError(f"no such field; the file has: {fields}", path=path, field=extra)
        out[extra] = _stripped(gdf[extra], path, extra).to_numpy()


def load_communities(
    path: str | Path,
    crs: str | None = None,
    *,
    keep: Iterable[str] = (),
    problems: list[dict] | None = None,
    encoding: str | None = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Community boundaries: polygons with ``id``, ``name`` and ``population``.

    Optional fields: ``households``, ``population_estimated`` (default false), the age groups
    of :data:`circles.population.AGE_FIELDS` (``pop_60plus``, ``share_60plus`` …). Fields named in
    ``keep`` (e.g. a district field, 街道) must exist and are kept as text. Invalid
    polygons (a self-intersecting ring …) are repaired with ``make_valid``; each repair is
    logged as a warning naming the feature and the area before and after, and appended to
    ``problems`` (rows of ``input_problems.csv``). ``encoding`` and ``layer``: see
    :func:`read_vector`.

    Raises
    ------
    InputError
        Naming the file, the feature and the field.
    """
    path = str(path)
    gdf = read_vector(path, layer=layer, encoding=encoding)
    if len(gdf) == 0:
        raise InputError("no features: expected one polygon per community", path=path)
    _clean_columns(gdf, ["id", "name", *keep], path)
    _check_ids(gdf, path)
    _check_geometry(gdf, path, POLYGONAL, "Polygon or MultiPolygon (a community boundary)")
    if "name" not in gdf.columns:
        raise InputError("missing field 'name' (the community name)", path=path, field="name")
    if "population" not in gdf.columns:
        raise InputError("missing field 'population' (residents of each community)", path=path, field="population")
    pop = _population(gdf, path)
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
    _add_optional_fields(out, gdf, path, keep)
    out["geometry"] = _repair(out, path, problems)
    _check_plausible_population(out, pop, path)
    return out


def _stripped(values: pd.Series, path: str, field: str) -> pd.Series:
    """Text of a grouping field (a district) without surrounding spaces; a warning when that joins values."""
    raw = values.fillna("").astype(str)
    clean = raw.str.strip()
    changed = raw != clean
    if changed.any():
        joined = raw.nunique() - clean.nunique()
        also = f"; {joined} value(s) thereby joined others spelt without them" if joined else ""
        _warn_changed(path, field, raw, changed, "spaces around them removed" + also)
    return clean


def _plausible() -> dict:
    from .extract import load_population_config

    return load_population_config()


def _check_plausible_population(gdf: gpd.GeoDataFrame, pop: pd.Series, path: str) -> None:
    """Refuse populations beyond the bounds of ``circles/config/population.yaml`` (typing or unit errors)."""
    cfg = _plausible()
    cap, dense = float(cfg["plausible_max_population"]), float(cfg["plausible_max_density_per_km2"])
    utm = gdf.estimate_utm_crs() if len(gdf) and gdf.crs is not None and gdf.crs.is_geographic else gdf.crs
    km2 = gdf.geometry.to_crs(utm).area.to_numpy() / 1e6 if utm is not None else np.full(len(gdf), np.nan)
    for i, v in enumerate(pop.to_numpy(dtype=float)):
        if v > cap:
            raise InputError(
                f"population is {v:,.0f}, more than {cap:,.0f} residents in one community: a typing or unit "
                f"error? ({cfg['plausible_max_population_reason'].strip()})",
                path=path,
                feature=_feature_label(gdf, i),
                field="population",
            )
        if km2[i] > 0 and v / km2[i] > dense:
            raise InputError(
                f"population is {v:,.0f} on {km2[i] * 100:,.2f} ha: {v / km2[i]:,.0f} residents per km², more "
                f"than the plausible {dense:,.0f} (see plausible_max_density_reason in circles/config/"
                "population.yaml): a typing or unit error, or the wrong boundary?",
                path=path,
                feature=_feature_label(gdf, i),
                field="population",
            )


#: Chinese multipliers written after a number (1.2万 = 12,000).
_MULTIPLIERS = {"万": 1e4, "千": 1e3, "百": 1e2, "亿": 1e8}
_CHINESE_DIGITS = "零〇一二两三四五六七八九十百千万亿"


def parse_amount(raw: object) -> float | None:
    """A count or size from a table cell: ``1200``, ``"1,200"``, ``"1.2万"`` (12,000), ``"3千"``;
    None for a blank cell.

    Raises
    ------
    ValueError
        With the reason: not a number (Chinese numerals such as 八百 are refused: write 800),
        a yes/no value, infinite, or negative.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return None
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError("a yes/no value, not a number")
    if isinstance(raw, (int, float, np.integer, np.floating)):
        v = float(raw)
    else:
        text = str(raw).strip().replace(",", "").replace("，", "")
        if text == "":
            return None
        factor = 1.0
        if text[-1] in _MULTIPLIERS and len(text) > 1 and text[-2] not in _CHINESE_DIGITS:
            factor, text = _MULTIPLIERS[text[-1]], text[:-1].strip()
        try:
            v = float(text) * factor
        except ValueError:
            if any(c in _CHINESE_DIGITS for c in text):
                raise ValueError("Chinese numerals; write it in digits (八百 → 800; 1.2万 is read)") from None
            raise ValueError("not a number") from None
    if not np.isfinite(v):
        raise ValueError("not a finite number")
    if v < 0:
        raise ValueError("negative")
    return v


def _amounts(gdf: pd.DataFrame, path: str, field: str, label: Callable[[int], str] | None = None) -> pd.Series:
    """The numbers of an optional column (:func:`parse_amount`); an error names the row and the field."""
    out = []
    for i, raw in enumerate(gdf[field]):
        try:
            out.append(parse_amount(raw))
        except ValueError as exc:
            raise InputError(
                f"{field} is {raw!r}: {exc}; expected a finite number, zero or more (or nothing)",
                path=path,
                feature=label(i) if label else _feature_label(gdf, i),
                field=field,
            ) from None
    return pd.Series([np.nan if v is None else v for v in out], index=gdf.index, dtype=float)


def check_community_choice(path: str | Path, wanted: str, option: str = "--community-maps") -> None:
    """Refuse, before the work, community ids in ``wanted`` ("ID,ID"; ``auto``/``all``/``none``
    pass) that the boundaries file does not hold.

    Raises
    ------
    InputError
        Naming the option, the unknown ids and a few ids of the file.
    """
    if wanted in ("auto", "all", "none", "") or wanted is None:
        return
    asked = [w.strip() for w in str(wanted).split(",") if w.strip()]
    with _gdal_path(Path(path)) as src:
        try:
            import pyogrio

            ids = pyogrio.read_dataframe(src, columns=["id"], read_geometry=False)["id"].astype(str).tolist()
        except Exception:  # the file's own problems are reported when it is loaded
            return
    unknown = [w for w in asked if w not in set(ids)]
    if unknown:
        raise InputError(
            f"{option} names community id(s) not in the boundaries: {', '.join(unknown)}; the file has ids such as "
            f"{', '.join(ids[:5])} (or use auto, all or none)",
            path=str(path),
            field="id",
        )


_API_HINT = "pass lon_col= and lat_col= (the same column name twice for a combined 'lng,lat' column)"
_FILE_HINT = "name the coordinate columns lon and lat (or give one 'lng,lat' column named location)"


def _table_hint(exc: InputError, path: str, sheet: str | None) -> InputError:
    """The table reader's error in words for the command line: the workbook's sheets and
    ``--sheet`` when circles read the first of several.
    """
    message = exc.message.replace(_API_HINT, _FILE_HINT)
    if sheet is None and path.lower().endswith((".xlsx", ".xlsm")):
        try:
            from openpyxl import load_workbook

            wb = load_workbook(path, read_only=True)
            names = list(wb.sheetnames)
            wb.close()
        except Exception:  # the reader's own message stands
            names = []
        if len(names) > 1:
            message += (
                f". The workbook has {len(names)} sheets ({', '.join(repr(n) for n in names)}) and circles read the "
                f"first, {names[0]!r}: choose the sheet holding the facilities with --sheet NAME"
            )
    return InputError(message, path=exc.path or path, feature=exc.feature, field=exc.field)


def _row_label(rows: np.ndarray) -> Callable[[int], str]:
    """Rows named by their line in the source table."""

    def label(i: int) -> str:
        return f"row {rows[i]}"

    return label


def _check_optional_numbers(gdf: pd.DataFrame, path: str, field: str) -> pd.Series:
    """Numbers of an optional field (:func:`parse_amount`): blank is allowed; text, infinity or a
    negative value is not.
    """
    return _amounts(gdf, path, field)


def load_candidates(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Candidate sites for ``circles site``: points with ``candidate_id`` (or ``id``), optional ``capacity``.

    A candidate given as an area (a parcel) or a line stands at its representative point (a
    point inside it), with a warning; capacities go through :func:`parse_amount`.

    Raises
    ------
    InputError
        Naming the file, the row and the field.
    """
    path = str(path)
    gdf = read_vector(path)
    if len(gdf) == 0:
        raise InputError("no features: expected one point per candidate site", path=path)
    if "candidate_id" not in gdf.columns and "id" in gdf.columns:
        gdf = gdf.rename(columns={"id": "candidate_id"})
    _check_ids(gdf, path, "candidate_id")
    _check_geometry(
        gdf, path, ("Point", "Polygon", "MultiPolygon", "LineString", "MultiLineString"), "Point (a candidate site)"
    )
    areas = ~gdf.geometry.geom_type.isin(["Point"])
    if areas.any():
        log.warning(
            "%s: %d candidate site(s) are areas or lines (e.g. %s); each stands at its representative point "
            "(a point inside it)",
            path,
            int(areas.sum()),
            gdf.loc[areas, "candidate_id"].iloc[0],
        )
        gdf = gdf.copy()
        gdf.loc[areas, "geometry"] = gdf.loc[areas].geometry.representative_point()
    if "capacity" in gdf.columns:
        cap = _amounts(gdf, path, "capacity", lambda i: _feature_label(gdf, i, "candidate_id"))
        gdf = gdf.copy()
        gdf["capacity"] = cap.to_numpy()
    return to_wgs84(gdf, path, crs)


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
    gdf = gdf.copy()
    _clean_columns(gdf, ["id", "name", "source"], path)
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
    for extra in ("source", "osm_element"):
        if extra in gdf.columns:
            out[extra] = gdf[extra].to_numpy()
    for extra in ("capacity", "size_m2"):
        if extra in gdf.columns:
            out[extra] = _check_optional_numbers(gdf, path, extra).to_numpy()
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
    sheet: str | None = None,
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
    try:
        raw, problems = tables.read_facility_table(path, encoding=encoding, crs=crs or "wgs84", sheet=sheet)
    except InputError as exc:
        raise _table_hint(exc, path, sheet) from None
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
            out[key] = _amounts(raw, path, col, _row_label(raw["source_row"].to_numpy())).to_numpy()
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
    _clean_columns(out, ["id", "name"], path)
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
