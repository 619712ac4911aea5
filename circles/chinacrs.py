"""Chinese web-map coordinate systems: GCJ-02 and BD-09 to and from WGS-84.

Most Chinese facility lists come from Amap/Gaode, Tencent (GCJ-02, the "Mars" system) or
Baidu (BD-09). Both are WGS-84 longitude/latitude pushed by a published, deliberately
non-linear offset of a few hundred metres; no EPSG code describes them. Plotted on WGS-84
streets (OpenStreetMap) such points land in the wrong block, so they must be converted
before any walking-distance analysis.

The formulas are the widely published ones (the leaked GCJ-02 offset on the Krasovsky
1940 ellipsoid, ``a = 6378245 m``, ``e² = 0.00669342162296594323``, and Baidu's BD-09 polar
shift). The inverse GCJ-02 → WGS-84 has no closed form: :func:`gcj02_to_wgs84` iterates
the forward transform until the residual is below :data:`INVERSE_TOLERANCE_DEG`
(≈ 0.1 mm), instead of the usual one-step approximation that is off by up to a few metres.

Mainland China is tested with the usual rough bounding box (:data:`CHINA_BBOX`, the test
every public implementation uses): longitude 72.004–137.8347 E, latitude 0.8293–55.8271 N.
Points outside it are returned unchanged by every function here, as the official
encryptors do. The box is rough: it includes parts of neighbouring countries and the sea,
and Hong Kong, Macau and Taiwan inside it are shifted too (Amap shifts them as well).

The converters (``wgs84_to_gcj02``, ``gcj02_to_wgs84``, ``gcj02_to_bd09``, ``bd09_to_gcj02``,
``wgs84_to_bd09``, ``bd09_to_wgs84``) take ``lon, lat`` (array_like degrees of the source
system, broadcast against each other) and return ``(lon, lat)`` in the target system as a tuple of
numpy.ndarray (numpy.float64 for scalar input); points outside :data:`CHINA_BBOX` and NaNs are
unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from ._safety import map_threads
from .errors import InputError

log = logging.getLogger(__name__)

#: (min lon, min lat, max lon, max lat) of the rough "inside China" test.
CHINA_BBOX: tuple[float, float, float, float] = (72.004, 0.8293, 137.8347, 55.8271)

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m), as in the published GCJ-02 code
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0  # BD-09 constant

#: Stop the iterative inverses when the residual is below this (degrees, ≈ 0.1 mm).
INVERSE_TOLERANCE_DEG = 1e-9
#: Iteration cap of the inverses (convergence takes 3–6 iterations inside China).
MAX_INVERSE_ITERATIONS = 30

#: The non-EPSG names :func:`parse_crs_name` returns.
CHINESE_SYSTEMS = ("wgs84", "gcj02", "bd09")

_ALIASES = {
    "wgs84": "wgs84",
    "wgs": "wgs84",
    "gps": "wgs84",
    "wgs84ll": "wgs84",
    "gcj02": "gcj02",
    "gcj": "gcj02",
    "gcj02ll": "gcj02",
    "mars": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "高德": "gcj02",
    "火星坐标": "gcj02",
    "火星坐标系": "gcj02",
    "国测局坐标": "gcj02",
    "bd09": "bd09",
    "bd": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
    "百度坐标": "bd09",
    "百度坐标系": "bd09",
}

Coords = tuple[np.ndarray, np.ndarray]
GeoLike: TypeAlias = gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry


# --------------------------------------------------------------------------- points


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray, bool]:
    """Broadcast ``lon``/``lat`` to float arrays; remember whether both were scalars."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    scalar = lon_a.ndim == 0 and lat_a.ndim == 0
    lon_a, lat_a = np.broadcast_arrays(lon_a, lat_a)
    return lon_a.astype(float, copy=True), lat_a.astype(float, copy=True), scalar


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return np.float64(lon.item()), np.float64(lat.item())
    return lon, lat


def in_china(lon, lat) -> np.ndarray:
    """Return True where (lon, lat) is inside the rough mainland-China box.

    Parameters
    ----------
    lon, lat : array_like
        Longitudes and latitudes in degrees (any of the three systems; the box is coarse).

    Returns
    -------
    numpy.ndarray of bool
        NaN coordinates are "outside".
    """
    lon_a, lat_a, _ = _arrays(lon, lat)
    x0, y0, x1, y1 = CHINA_BBOX
    return (lon_a >= x0) & (lon_a <= x1) & (lat_a >= y0) & (lat_a <= y1)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> Coords:
    """GCJ-02 offset (degrees) to add to a WGS-84 point, without the China test."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sx
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sx
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _gcj_forward(lon: np.ndarray, lat: np.ndarray) -> Coords:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _bd_forward(lon: np.ndarray, lat: np.ndarray) -> Coords:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_backward_approx(lon: np.ndarray, lat: np.ndarray) -> Coords:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], Coords], lon: np.ndarray, lat: np.ndarray, start: Coords, what: str
) -> Coords:
    """Solve ``forward(x) = (lon, lat)`` by fixed-point iteration from ``start``.

    The transforms are the identity plus a small, slowly varying offset, so
    ``x ← x - (forward(x) - target)`` converges to sub-millimetre in a few steps.
    """
    x, y = start[0].copy(), start[1].copy()
    for _ in range(MAX_INVERSE_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x -= ex
        y -= ey
        err = np.nanmax(np.maximum(np.abs(ex), np.abs(ey)), initial=0.0)
        if err < INVERSE_TOLERANCE_DEG:
            break
    else:  # pragma: no cover - only for pathological input far outside China
        log.warning(
            "%s: inverse did not reach %.0e degrees after %d iterations (max error %.2e)",
            what,
            INVERSE_TOLERANCE_DEG,
            MAX_INVERSE_ITERATIONS,
            err,
        )
    return x, y


def _gcj_backward(lon: np.ndarray, lat: np.ndarray) -> Coords:
    """GCJ-02 to WGS-84: the offset subtracted, then refined by :func:`_invert`."""
    dlon, dlat = _gcj_offset(lon, lat)
    return _invert(_gcj_forward, lon, lat, (lon - dlon, lat - dlat), "GCJ-02 → WGS-84")


def _bd_backward(lon: np.ndarray, lat: np.ndarray) -> Coords:
    """BD-09 to GCJ-02: Baidu's approximate inverse, refined by :func:`_invert`."""
    return _invert(_bd_forward, lon, lat, _bd_backward_approx(lon, lat), "BD-09 → GCJ-02")


def _inside_china(lon, lat, *steps: Callable[[np.ndarray, np.ndarray], Coords]):
    """``(lon, lat)`` with the points inside :data:`CHINA_BBOX` passed through ``steps`` in turn.

    Points outside (and NaNs) are unchanged; a scalar input gives scalars back.
    """
    lon_a, lat_a, scalar = _arrays(lon, lat)
    m = in_china(lon_a, lat_a)
    if m.any():
        x, y = lon_a[m], lat_a[m]
        for step in steps:
            x, y = step(x, y)
        lon_a[m], lat_a[m] = x, y
    return _result(lon_a, lat_a, scalar)


def wgs84_to_gcj02(lon, lat):
    """Convert WGS-84 longitude/latitude to GCJ-02 (Amap, Tencent): see the module's converters."""
    return _inside_china(lon, lat, _gcj_forward)


def gcj02_to_wgs84(lon, lat):
    """Convert GCJ-02 longitude/latitude to WGS-84 (iterated exact inverse).

    :func:`wgs84_to_gcj02` gives the input back within :data:`INVERSE_TOLERANCE_DEG`.
    """
    return _inside_china(lon, lat, _gcj_backward)


def gcj02_to_bd09(lon, lat):
    """Convert GCJ-02 longitude/latitude to BD-09 (Baidu): see the module's converters."""
    return _inside_china(lon, lat, _bd_forward)


def bd09_to_gcj02(lon, lat):
    """Convert BD-09 longitude/latitude to GCJ-02.

    Starts from Baidu's published approximate inverse and refines it by iteration, so
    that :func:`gcj02_to_bd09` reproduces the input within :data:`INVERSE_TOLERANCE_DEG`.
    """
    return _inside_china(lon, lat, _bd_backward)


def wgs84_to_bd09(lon, lat):
    """Convert WGS-84 to BD-09 (via GCJ-02). Points outside China are unchanged."""
    return _inside_china(lon, lat, _gcj_forward, _bd_forward)


def bd09_to_wgs84(lon, lat):
    """Convert BD-09 to WGS-84 (via GCJ-02, both inverses iterated). Outside China: unchanged."""
    return _inside_china(lon, lat, _bd_backward, _gcj_backward)


_TO_WGS = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


# --------------------------------------------------------------------------- names


def parse_crs_name(text: str) -> str:
    """Normalise a user's coordinate-system name.

    Parameters
    ----------
    text : str
        For example ``"GCJ-02"``, ``"gcj02"``, ``"BD-09"``, ``"bd09ll"``, ``"WGS84"``,
        ``"EPSG:4326"``, ``"epsg:4490"`` (CGCS2000), ``"高德"``, ``"百度"``.

    Returns
    -------
    str
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or a validated ``"EPSG:<code>"``.

    Raises
    ------
    InputError
        If the text is none of these; the message lists the accepted values.
    """
    accepted = (
        "accepted: 'wgs84' (WGS-84, GPS), 'gcj02' (GCJ-02: Amap/Gaode, Tencent), "
        "'bd09' (BD-09: Baidu) or an EPSG code such as 'EPSG:4326' or 'EPSG:4490'"
    )
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"coordinate system {text!r} not understood; {accepted}", field="crs")
    raw = text.strip()
    key = re.sub(r"[\s\-_.]", "", raw).lower()
    if key in _ALIASES:
        return _ALIASES[key]
    m = re.fullmatch(r"epsg:?(\d+)", key)
    if m:
        code = f"EPSG:{int(m.group(1))}"
        try:
            CRS.from_user_input(code)
        except CRSError:
            raise InputError(
                f"coordinate system {text!r}: {code} is not a known EPSG code; {accepted}", field="crs"
            ) from None
        return code
    raise InputError(f"coordinate system {text!r} not understood; {accepted}", field="crs")


# --------------------------------------------------------------------------- geometries


def _shift_geometries(geoms: np.ndarray, func: Callable) -> np.ndarray:
    """Apply a point converter to every vertex of an array of shapely geometries."""

    def _xy(coords: np.ndarray) -> np.ndarray:
        if coords.size == 0:
            return coords
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _xy)


def _check_geographic(crs, what: str) -> None:
    if crs is not None and not CRS.from_user_input(crs).is_geographic:
        raise InputError(
            f"the data has a projected CRS ({crs}); GCJ-02/BD-09 coordinates must be plain longitude/latitude degrees",
            path=what,
            field="crs",
        )


def to_wgs84(data: GeoLike, crs: str) -> GeoLike:
    """Return ``data`` converted from ``crs`` to WGS-84 (EPSG:4326).

    Parameters
    ----------
    data : GeoDataFrame, GeoSeries or shapely geometry
        Points, lines, polygons and multi-part geometries are all converted vertex by vertex.
    crs : str
        The system the coordinates are in (see :func:`parse_crs_name`). For ``gcj02`` and
        ``bd09`` the declared CRS of ``data`` is ignored (files of shifted coordinates are
        often labelled EPSG:4326) but must not be a projected one. For an EPSG code the
        data is re-projected with GeoPandas/pyproj.

    Returns
    -------
    Same type as ``data``
        Copies with WGS-84 coordinates; GeoDataFrames/GeoSeries get ``crs="EPSG:4326"``.
    """
    name = parse_crs_name(crs)
    if isinstance(data, BaseGeometry):
        return _geometry_convert(data, name, to_wgs=True)
    if not isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise TypeError(f"to_wgs84 expects a GeoDataFrame, GeoSeries or shapely geometry, not {type(data).__name__}")
    if name == "wgs84":
        return data.set_crs("EPSG:4326", allow_override=True)
    if name.startswith("EPSG:"):
        if data.crs is not None and CRS.from_user_input(data.crs) != CRS.from_user_input(name):
            log.warning("data declared as %s but read as %s: the declared %s is used", data.crs, name, name)
        return data.set_crs(name, allow_override=True).to_crs("EPSG:4326")
    _check_geographic(data.crs, f"to_wgs84(crs={crs!r})")
    return _replace_geometry(data, _shift_geometries(_geometry_values(data), _TO_WGS[name]), "EPSG:4326")


def from_wgs84(data: GeoLike, crs: str) -> GeoLike:
    """Return WGS-84 ``data`` converted to ``crs`` (the inverse of :func:`to_wgs84`).

    Parameters
    ----------
    data : GeoDataFrame, GeoSeries or shapely geometry
        In WGS-84 (a GeoDataFrame in another CRS is first re-projected to EPSG:4326).
    crs : str
        Target system (see :func:`parse_crs_name`).

    Returns
    -------
    Same type as ``data``
        For ``gcj02``/``bd09`` the result has no CRS (these systems have no EPSG code, and
        labelling them EPSG:4326 would invite the very mistake this module prevents).
    """
    name = parse_crs_name(crs)
    if isinstance(data, BaseGeometry):
        return _geometry_convert(data, name, to_wgs=False)
    if not isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise TypeError(f"from_wgs84 expects a GeoDataFrame, GeoSeries or shapely geometry, not {type(data).__name__}")
    if data.crs is None:
        data = data.set_crs("EPSG:4326")
    elif CRS.from_user_input(data.crs) != CRS.from_user_input("EPSG:4326"):
        data = data.to_crs("EPSG:4326")
    if name == "wgs84":
        return data.copy()
    if name.startswith("EPSG:"):
        return data.to_crs(name)
    return _replace_geometry(data, _shift_geometries(_geometry_values(data), _FROM_WGS[name]), None)


def _geometry_values(data: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    geo = data.geometry if isinstance(data, gpd.GeoDataFrame) else data
    return np.asarray(geo.values, dtype=object)


def _replace_geometry(data, new_geoms: np.ndarray, crs):
    """Copy of ``data`` with its geometry replaced and its CRS set to ``crs`` (may be None)."""
    if isinstance(data, gpd.GeoSeries):
        return gpd.GeoSeries(new_geoms, index=data.index, crs=crs, name=data.name)
    col = data.geometry.name
    frame = pd.DataFrame(data).copy()
    frame[col] = new_geoms
    return gpd.GeoDataFrame(frame, geometry=col, crs=crs)


def _geometry_convert(geom: BaseGeometry, name: str, *, to_wgs: bool) -> BaseGeometry:
    if name == "wgs84":
        return geom
    if name.startswith("EPSG:"):
        src, dst = (name, "EPSG:4326") if to_wgs else ("EPSG:4326", name)
        tr = Transformer.from_crs(src, dst, always_xy=True)
        return shapely.transform(geom, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
    func = (_TO_WGS if to_wgs else _FROM_WGS)[name]
    return _shift_geometries(np.array([geom], dtype=object), func)[0]


# --------------------------------------------------------------------------- diagnosis


@dataclass(frozen=True)
class ShiftReport:
    """What :func:`detect_shift` found.

    Attributes
    ----------
    n_points : int
        Points measured.
    median_declared_m : float
        Median distance (m) from the points, taken as WGS-84, to the nearest street.
    median_if_gcj02_m : float
        The same after treating the points as GCJ-02 and converting them to WGS-84.
    median_if_bd09_m : float
        The same after treating them as BD-09.
    suggestion : str or None
        ``"gcj02"`` or ``"bd09"`` when that correction brings the points closer to the
        streets beyond chance and by a useful amount (see :func:`decide_shift`); else None.
    p_gcj02, p_bd09 : float
        One-sided p-values of the Wilcoxon signed-rank test that the correction brings the
        points closer (NaN when there were too few points to test).
    closer_gcj02, closer_bd09 : float
        Share of the points that each correction brings closer to a street.
    """

    n_points: int
    median_declared_m: float
    median_if_gcj02_m: float
    median_if_bd09_m: float
    suggestion: str | None
    p_gcj02: float = float("nan")
    p_bd09: float = float("nan")
    closer_gcj02: float = float("nan")
    closer_bd09: float = float("nan")

    @property
    def message(self) -> str:
        """One sentence for logs and reports: the medians, and what to do when shifted."""
        medians = (
            f"median distance to the nearest street {self.median_declared_m:.0f} m as declared, "
            f"{self.median_if_gcj02_m:.0f} m if GCJ-02, {self.median_if_bd09_m:.0f} m if BD-09 "
            f"({self.n_points} points)"
        )
        if self.suggestion is None:
            return f"no systematic shift detected: {medians}"
        label = {"gcj02": "GCJ-02 (Amap/Tencent)", "bd09": "BD-09 (Baidu)"}[self.suggestion]
        closer = self.closer_gcj02 if self.suggestion == "gcj02" else self.closer_bd09
        p = self.p_gcj02 if self.suggestion == "gcj02" else self.p_bd09
        return (
            f"the points look like {label} coordinates taken as WGS-84: the {label.split(' ')[0]} correction "
            f"brings {closer:.0%} of them closer to a street (Wilcoxon p = {p:.1g}); {medians}. If they come "
            f"from {'Amap or Tencent' if self.suggestion == 'gcj02' else 'Baidu'}, run again with "
            f"--facilities-crs {self.suggestion}"
        )

    def __str__(self) -> str:
        return self.message


#: Fewer points than this are not tested (too few to tell a shift from chance).
SHIFT_MIN_POINTS = 6
#: One-sided significance level of each correction's test (two corrections are tested).
SHIFT_ALPHA = 0.005
#: Minimum effect: the Hodges–Lehmann estimate of how much closer (m) the correction brings
#: a typical point. A real GCJ-02/BD-09 offset is hundreds of metres; in dense street grids
#: it still shows as tens of metres.
SHIFT_MIN_GAIN_M = 5.0
#: The Hodges–Lehmann estimate uses at most this many points (evenly spaced, deterministic).
_HL_MAX_POINTS = 1500


def _hodges_lehmann(d: np.ndarray) -> float:
    """Median of the Walsh averages of ``d`` (a robust estimate of its centre)."""
    if len(d) > _HL_MAX_POINTS:
        d = np.sort(d)[np.linspace(0, len(d) - 1, _HL_MAX_POINTS).astype(int)]
    i, j = np.triu_indices(len(d))
    return float(np.median((d[i] + d[j]) / 2.0)) if len(d) else float("nan")


def _paired_test(declared: np.ndarray, corrected: np.ndarray) -> tuple[float, float, float]:
    """(p-value, Hodges–Lehmann gain in m, share closer) of ``corrected`` being closer to streets."""
    from scipy.stats import wilcoxon

    ok = np.isfinite(declared) & np.isfinite(corrected)
    diff = declared[ok] - corrected[ok]
    diff = diff[np.abs(diff) > 0.01]  # ties (unchanged distances) carry no evidence
    if len(diff) < SHIFT_MIN_POINTS:
        return float("nan"), float("nan"), float(np.mean(diff > 0)) if len(diff) else float("nan")
    p = float(wilcoxon(diff, alternative="greater").pvalue)
    return p, _hodges_lehmann(diff), float(np.mean(diff > 0))


def decide_shift(declared: np.ndarray, gcj02: np.ndarray, bd09: np.ndarray) -> tuple[str | None, dict[str, float]]:
    """Which correction, if any, the per-point distances to the streets call for.

    A correction is called for when, paired point by point, it brings the points closer to
    the streets beyond chance (one-sided Wilcoxon signed-rank test, p < :data:`SHIFT_ALPHA`)
    and by a useful amount (Hodges–Lehmann estimate ≥ :data:`SHIFT_MIN_GAIN_M`). When both
    corrections qualify (a BD-09 list is GCJ-02 plus a further shift, so the GCJ-02
    correction helps too), the one leaving the smaller median distance wins.

    Parameters
    ----------
    declared, gcj02, bd09 : ndarray
        Distances (m) from each point to the nearest street: as declared, and after each
        correction.

    Returns
    -------
    suggestion : str or None
    stats : dict
        ``p_gcj02``, ``p_bd09``, ``gain_gcj02``, ``gain_bd09``, ``closer_gcj02``, ``closer_bd09``.
    """
    stats: dict[str, float] = {}
    passing = []
    for name, corrected in (("gcj02", gcj02), ("bd09", bd09)):
        p, gain, closer = _paired_test(np.asarray(declared, float), np.asarray(corrected, float))
        stats.update({f"p_{name}": p, f"gain_{name}": gain, f"closer_{name}": closer})
        if np.isfinite(p) and p < SHIFT_ALPHA and gain >= SHIFT_MIN_GAIN_M:
            passing.append((float(np.nanmedian(corrected)), name))
    return (min(passing)[1] if passing else None), stats


def _nearest_distances(points: np.ndarray, tree: shapely.STRtree) -> np.ndarray:
    idx, dist = tree.query_nearest(points, return_distance=True, all_matches=False)
    out = np.full(len(points), np.nan)
    out[idx[0]] = dist
    return out


def _as_4326(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"detect_shift: {what} must be a GeoDataFrame, not {type(gdf).__name__}")
    if gdf.crs is None:
        log.info("detect_shift: %s has no CRS; taken as EPSG:4326", what)
        return gdf.set_crs("EPSG:4326")
    if CRS.from_user_input(gdf.crs) != CRS.from_user_input("EPSG:4326"):
        return gdf.to_crs("EPSG:4326")
    return gdf


def detect_shift(points_gdf: gpd.GeoDataFrame, edges_gdf: gpd.GeoDataFrame) -> ShiftReport:
    """Guess whether points declared WGS-84 are really GCJ-02 or BD-09.

    Facilities sit next to streets: when a whole table is GCJ-02 or BD-09, the points are
    systematically off the WGS-84 street network, and converting them brings them back.
    Each point's distance to the nearest street is measured as declared and after each
    correction (in the local UTM zone), and the paired differences are tested
    (:func:`decide_shift`): a robust test that works in dense street grids, where a shifted
    point still lands near some street, and says nothing with too few points.

    Parameters
    ----------
    points_gdf : GeoDataFrame
        Facility points, EPSG:4326 (a missing CRS is taken as EPSG:4326).
    edges_gdf : GeoDataFrame
        Street centre lines (LineStrings) in EPSG:4326, e.g. the walking network's edges.

    Returns
    -------
    ShiftReport
        The three median distances, the tests and a ``suggestion`` (``"gcj02"``, ``"bd09"`` or None).

    Raises
    ------
    ValueError
        If either input has no usable geometry, or the points are not points.
    """
    pts = _as_4326(points_gdf, "points_gdf")
    edges = _as_4326(edges_gdf, "edges_gdf")
    pts = pts[~(pts.geometry.isna() | pts.geometry.is_empty)]
    edges = edges[~(edges.geometry.isna() | edges.geometry.is_empty)]
    if len(pts) == 0:
        raise ValueError("detect_shift: points_gdf has no points")
    if len(edges) == 0:
        raise ValueError("detect_shift: edges_gdf has no street geometry")
    kinds = set(pts.geom_type)
    if not kinds <= {"Point"}:
        raise ValueError(f"detect_shift: points_gdf must hold Points, found {sorted(kinds)}")

    utm = pts.estimate_utm_crs()
    tree = shapely.STRtree(np.asarray(edges.to_crs(utm).geometry.values, dtype=object))
    return shift_report(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), tree, utm)


def street_distances(x: np.ndarray, y: np.ndarray, tree: shapely.STRtree, crs: Any) -> np.ndarray:
    """Distance (m) from each WGS-84 point (``x``, ``y``) to the nearest line of ``tree``,
    whose lines are in the metric ``crs``.
    """
    projected = gpd.GeoSeries(gpd.points_from_xy(x, y), crs="EPSG:4326").to_crs(crs)
    return _nearest_distances(np.asarray(projected.values, dtype=object), tree)


def shift_report(x: np.ndarray, y: np.ndarray, tree: shapely.STRtree, crs: Any) -> ShiftReport:
    """The test of :func:`detect_shift` on WGS-84 points (``x``, ``y``) against street lines
    already in an R-tree (``tree``, lines in the metric ``crs``): a walking network's own tree
    serves, with no copy of its edges reprojected.
    """

    def distances(conv: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None) -> np.ndarray:
        cx, cy = (x, y) if conv is None else conv(x, y)
        return street_distances(cx, cy, tree, crs)

    # the three readings side by side: the projection and the tree's search release Python's lock
    labels, convs = ("declared", "gcj02", "bd09"), (None, gcj02_to_wgs84, bd09_to_wgs84)
    dists = dict(zip(labels, map_threads(distances, convs), strict=True))
    suggestion, stats = decide_shift(dists["declared"], dists["gcj02"], dists["bd09"])
    report = ShiftReport(
        len(x),
        float(np.nanmedian(dists["declared"])),
        float(np.nanmedian(dists["gcj02"])),
        float(np.nanmedian(dists["bd09"])),
        suggestion,
        p_gcj02=stats["p_gcj02"],
        p_bd09=stats["p_bd09"],
        closer_gcj02=stats["closer_gcj02"],
        closer_bd09=stats["closer_bd09"],
    )
    (log.warning if suggestion else log.info)("detect_shift: %s", report.message)
    return report


__all__ = [
    "CHINA_BBOX",
    "INVERSE_TOLERANCE_DEG",
    "MAX_INVERSE_ITERATIONS",
    "SHIFT_ALPHA",
    "SHIFT_MIN_GAIN_M",
    "SHIFT_MIN_POINTS",
    "ShiftReport",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "decide_shift",
    "detect_shift",
    "shift_report",
    "street_distances",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "parse_crs_name",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
