"""Place residents: points inside each community carrying a share of its population.

With buildings, each residential building inside a community becomes a point weighted by
floor area (footprint area where no floor area is given). Without, a regular grid inside the
community shares its population evenly. Coverage is then a share of residents, not of points.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm.auto import tqdm

from ._arrays import unique_ints
from .errors import check_option
from .options import DEFAULT_GRID_SPACING_M  # declared with the options
from .population import base_sources

log = logging.getLogger(__name__)


def grid_points(polygon, spacing: float) -> np.ndarray:
    """Centres of a square grid of ``spacing`` metres that fall inside ``polygon``.

    Returns an (n, 2) array; a polygon too small for any grid point gets its
    representative point.
    """
    minx, miny, maxx, maxy = polygon.bounds
    xs = np.arange(minx + spacing / 2, maxx, spacing)
    ys = np.arange(miny + spacing / 2, maxy, spacing)
    if len(xs) and len(ys):
        mx, my = np.meshgrid(xs, ys)
        gx, gy = mx.ravel(), my.ravel()
        inside = shapely.contains_xy(polygon, gx, gy)
        if inside.any():
            return np.column_stack([gx[inside], gy[inside]])
    p = polygon.representative_point()
    return np.array([[p.x, p.y]])


def _buildings_by_community(bpts: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> dict[int, np.ndarray]:
    """Community position -> positions of the building points within it.

    One spatial join for all communities; a building inside two overlapping communities belongs
    to both.
    """
    b_idx, c_idx = communities.geometry.sindex.query(bpts.geometry.values, predicate="within")
    order = np.lexsort((b_idx, c_idx))
    pts, comm = b_idx[order], c_idx[order]
    bounds = np.flatnonzero(np.r_[True, comm[1:] != comm[:-1]]) if len(comm) else np.zeros(0, dtype=int)
    return {int(comm[a]): pts[a:b] for a, b in zip(bounds, np.r_[bounds[1:], len(comm)], strict=True)}


def _one_community_per_point(points: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """No resident counted twice where boundaries overlap: a point inside several communities
    belongs to the smallest of them (the compound inside a campus, not the campus). A community
    keeps its population on its remaining points; one left with none keeps its own points.
    """
    if len(points) == 0 or len(communities) < 2:
        return points
    p_idx, c_idx = communities.geometry.sindex.query(points.geometry.values, predicate="within")
    if not len(p_idx) or len(unique_ints(p_idx)) == len(p_idx):
        return points
    area = communities.geometry.area.to_numpy()
    ids = communities["id"].astype(str).to_numpy()
    order = np.lexsort((area[c_idx], p_idx))  # per point, smallest community first
    p_s, c_s = p_idx[order], c_idx[order]
    first = np.r_[True, p_s[1:] != p_s[:-1]]
    owner = dict(zip(p_s[first], ids[c_s[first]], strict=True))
    own = points["community_id"].astype(str).to_numpy()
    keep = np.array([owner.get(i, own[i]) == own[i] for i in range(len(points))])
    shared = {(own[i], owner[i]) for i in np.flatnonzero(~keep)}
    for outer, inner in sorted(shared):
        log.warning(
            "community boundaries overlap: %s contains residents of %s; they are counted once, in %s",
            outer,
            inner,
            inner,
        )
    out = points[keep | ~pd.Series(own).isin(pd.Series(own[keep]).unique()).to_numpy()].copy()
    tot_before = points.groupby("community_id")["population"].sum()
    tot_after = out.groupby("community_id")["population"].sum()
    scale = (tot_before / tot_after.replace(0, np.nan)).fillna(1.0)
    out["population"] = out["population"] * out["community_id"].map(scale).to_numpy()
    return out.reset_index(drop=True)


def overlapping_communities(communities: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    """Pairs (outer, inner) of community ids where the outer boundary overlaps the inner one over
    more than half of the inner one's area (e.g. a campus containing residential compounds).
    """
    if len(communities) < 2:
        return []
    geoms = communities.geometry.values
    a_idx, b_idx = communities.geometry.sindex.query(geoms, predicate="intersects")
    ids = communities["id"].astype(str).to_numpy()
    area = shapely.area(geoms)  # ratios only: any coordinate system will do
    out = []
    for a, b in zip(a_idx, b_idx, strict=True):
        bigger = area[a] > area[b] or (area[a] == area[b] and a < b)
        if a != b and bigger and shapely.intersection(geoms[a], geoms[b]).area > 0.5 * area[b]:
            out.append((str(ids[a]), str(ids[b])))
    return sorted(set(out))


def place_residents(
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    grid_spacing: float = DEFAULT_GRID_SPACING_M,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Resident points for every community (all inputs in the same projected CRS).

    Parameters
    ----------
    communities : GeoDataFrame
        ``id``, ``population`` and polygon geometry.
    buildings : GeoDataFrame, optional
        ``id``, optional ``floor_area_m2``, polygon or point geometry.
    grid_spacing : float
        Grid spacing (metres) for communities without buildings.
    progress : bool
        Show a progress bar over the communities.

    Returns
    -------
    GeoDataFrame
        ``point_id``, ``community_id``, ``population`` (this point's share), ``origin``
        (``building <id>`` or ``grid``), ``weight_m2`` (the building's floor area, NaN on the
        grid), ``population_source`` (``count`` or ``estimate``, see :mod:`circles.population`),
        point geometry. Sorted by community then point.
    """
    check_option(
        "grid_spacing_m", grid_spacing, low=1.0, high=1000.0, what="the spacing in metres of the resident grid"
    )
    rows: list[pd.DataFrame] = []
    bpts = None
    if buildings is not None and len(buildings):
        weight = buildings["floor_area_m2"].astype(float) if "floor_area_m2" in buildings else np.nan
        area = buildings.geometry.area
        weight = pd.Series(weight, index=buildings.index).fillna(area).to_numpy(dtype=float)
        weight = np.where(weight > 0, weight, 1.0)
        bpts = gpd.GeoDataFrame(
            {"building_id": buildings["id"].astype(str).to_numpy(), "weight": weight},
            geometry=buildings.geometry.representative_point().values,
            crs=buildings.crs,
        )
    inside_of = _buildings_by_community(bpts, communities) if bpts is not None else {}
    rows_in = zip(communities["id"], communities["population"], communities.geometry, strict=True)
    bar = tqdm(rows_in, total=len(communities), desc="residents", unit="community", disable=not progress, leave=False)
    for ci, (cid, pop, poly) in enumerate(bar):
        chosen = None
        if bpts is not None:
            inside = bpts.iloc[inside_of.get(ci, [])]
            if len(inside):
                inside = inside.sort_values("building_id")
                w = inside["weight"].to_numpy()
                chosen = pd.DataFrame(
                    {
                        "x": inside.geometry.x.to_numpy(),
                        "y": inside.geometry.y.to_numpy(),
                        "population": pop * w / w.sum(),
                        "origin": "building " + inside["building_id"],
                        "weight_m2": w,
                    }
                )
        if chosen is None:
            xy = grid_points(poly, grid_spacing)
            chosen = pd.DataFrame(
                {"x": xy[:, 0], "y": xy[:, 1], "population": pop / len(xy), "origin": "grid", "weight_m2": np.nan}
            )
        chosen.insert(0, "community_id", str(cid))
        chosen.insert(0, "point_id", [f"{cid}#{k + 1}" for k in range(len(chosen))])
        rows.append(chosen)
    df = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["point_id", "community_id", "x", "y", "population", "origin", "weight_m2"])
    )
    df["population_source"] = df["community_id"].map(
        dict(zip(communities["id"].astype(str), base_sources(communities), strict=True))
    )
    gdf = gpd.GeoDataFrame(df.drop(columns=["x", "y"]), geometry=shapely.points(df["x"], df["y"]), crs=communities.crs)
    gdf = _one_community_per_point(gdf, communities)
    log.info(
        "placed %d resident points in %d communities (%s)",
        len(gdf),
        len(communities),
        "buildings" if bpts is not None else f"grid {grid_spacing:g} m",
    )
    return gdf
