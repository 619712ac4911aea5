"""Population in: real counts, population grids and age groups, down to the resident points.

Where a community's population comes from, best first:

1. ``totals`` — a table of counts (七普 per 社区 or per 街道) given with ``population_totals``:
   a count per community replaces the boundary's figure; a count per district (a field of the
   boundaries grouping several communities) is spread over the group's buildings by floor
   area, or by ground area (the resident grid) where a community of the group has no
   building — the spread is an estimate and is labelled so.
2. ``count`` — the boundary file's ``population`` (or the pilot plan's figure) when not marked
   ``population_estimated``.
3. ``raster`` — a population grid (WorldPop, GHSL GeoTIFF) given with ``population_raster``:
   every cell's people go to the resident point of the community its centre falls in that is
   nearest to the centre (zonal sums: the grid's total inside the communities is preserved).
   A grid is a model, so these figures are estimates. It replaces only estimates: a count
   always wins.
4. ``estimate`` — the boundary's figure marked ``population_estimated`` (the demo's floor-area
   estimate).

Every resident point carries its source (``population_source``), and the communities carry
``population_source`` (words for the ledger) and ``population_estimated``.

Age groups: optional boundary fields give the over-60s (``pop_60plus`` count or
``share_60plus``) and the under-6s (``pop_under6`` or ``share_under6``, or the two parts
``pop_0_3`` + ``pop_3_6`` / ``share_0_3`` + ``share_3_6``). A rule declares the group it
serves (``serves: elderly|children|all`` in the rulebook, with ``serves_source``); residents
affected by such a rule are then also counted in its group. The group is spread evenly over
the community's residents (one share per community), so a group count among the affected
residents is always an estimate, shown with 约.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .errors import InputError

log = logging.getLogger(__name__)

#: ``population_source`` of a resident point, best first, with the words the ledger shows.
SOURCES = {
    "totals": "人口统计表 population totals",
    "count": "边界文件 boundary file",
    "raster": "人口栅格（估算）population raster (estimate)",
    "estimate": "估算值 estimate",
}
#: Age groups a rule may serve: boundary fields (count, share) and the ledger's words.
GROUPS: dict[str, dict[str, Any]] = {
    "elderly": {"count": ("pop_60plus",), "share": ("share_60plus",), "zh": "60岁以上"},
    "children": {
        "count": ("pop_under6", "pop_0_3", "pop_3_6"),
        "share": ("share_under6", "share_0_3", "share_3_6"),
        "zh": "6岁以下",
    },
}
#: Boundary fields read for the age groups (all optional; see the module docstring).
AGE_FIELDS = tuple(f for g in GROUPS.values() for kind in ("count", "share") for f in g[kind])
SERVES = ("all", "elderly", "children")
_KEY_SKIP = {"population", "人口", "常住人口", "人口数"}
_POP_COLUMNS = ("population", "人口", "常住人口", "人口数")


def _rasterio():
    try:
        import rasterio  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise InputError(
            "reading a population raster needs the optional extra 'population' (rasterio): "
            "pip install 'circles[population]'",
            field="population_raster",
        ) from None
    return rasterio


def base_sources(communities: pd.DataFrame) -> pd.Series:
    """``count`` or ``estimate`` per community, from ``population_estimated``."""
    est = communities.get("population_estimated", pd.Series(False, index=communities.index))
    return pd.Series(np.where(est.fillna(False).astype(bool), "estimate", "count"), index=communities.index)


# --- population totals (CSV / XLSX) -------------------------------------------------------------


def _table_rows(path: Path) -> list[list]:
    from . import _tables  # noqa: PLC0415

    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _tables._read_excel_rows(path, None)
    return _tables._read_csv_rows(path, None)


def read_totals(path: str | Path, communities: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The counts of a totals table and the boundary field they are keyed by.

    The table has a population column (``population``, 人口, 常住人口 or 人口数) and one other
    column named like a field of the boundaries (``id``, ``name``, or a district field such
    as 街道); that field's values key the counts.

    Returns
    -------
    key : str
        The boundary field.
    totals : dict
        Key value -> count.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=str(p))
    rows = [r for r in _table_rows(p) if any(v not in (None, "") for v in r)]
    if len(rows) < 2:
        raise InputError("expected a header row and one row per 社区 or 街道", path=str(p))
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    pop_col = next((i for i, h in enumerate(header) if h.lower() in _POP_COLUMNS), None)
    if pop_col is None:
        raise InputError(f"no population column (one of {', '.join(_POP_COLUMNS)})", path=str(p), field="population")
    fields = [c for c in communities.columns if c != "geometry"]
    keys = [i for i, h in enumerate(header) if h in fields and h.lower() not in _KEY_SKIP]
    if len(keys) != 1:
        found = ", ".join(header[i] for i in keys) or "none"
        raise InputError(
            f"expected exactly one column named like a boundary field to key the counts (found: {found}; "
            f"boundary fields: {', '.join(fields)})",
            path=str(p),
        )
    key = header[keys[0]]
    known = set(communities[key].astype(str))
    totals: dict[str, float] = {}
    for n, r in enumerate(rows[1:], start=2):
        k = "" if r[keys[0]] is None else str(r[keys[0]]).strip()
        v = pd.to_numeric(pd.Series([r[pop_col]]), errors="coerce").iloc[0]
        if not np.isfinite(v) or v < 0:
            raise InputError(
                f"row {n}: population is {r[pop_col]!r}; expected a count, zero or more",
                path=str(p),
                field=header[pop_col],
            )
        if k in totals:
            raise InputError(f"row {n}: {key} {k!r} appears twice", path=str(p), field=key)
        if k not in known:
            raise InputError(f"row {n}: no community has {key} = {k!r}", path=str(p), field=key)
        totals[k] = float(v)
    return key, totals


def _point_weights(residents: pd.DataFrame) -> np.ndarray:
    """Floor area of a building point; NaN for a grid point."""
    if "weight_m2" in residents:
        return residents["weight_m2"].to_numpy(dtype=float)
    return np.full(len(residents), np.nan)


def spread_totals(
    communities: gpd.GeoDataFrame, residents: pd.DataFrame, key: str, totals: dict[str, float]
) -> tuple[pd.Series, pd.Series]:
    """Population per community from the totals (NaN where the totals say nothing), and
    whether the figure is a spread (an estimate) rather than the community's own count.

    A group of several communities shares its count by the floor area of its buildings when
    every community of the group has buildings, else by ground area (as the resident grid
    does).
    """
    keyvals = communities[key].astype(str)
    cid = communities["id"].astype(str)
    w = _point_weights(residents)
    floor = pd.Series(w, index=residents.index).groupby(residents["community_id"].astype(str)).sum(min_count=1)
    has_floor = pd.Series(~np.isnan(w), index=residents.index).groupby(residents["community_id"].astype(str)).all()
    pop = pd.Series(np.nan, index=communities.index)
    spread = pd.Series(False, index=communities.index)
    for k, total in totals.items():
        members = communities.index[keyvals == k]
        ids = cid[members]
        if len(members) == 1:
            pop[members] = total
            continue
        by_floor = bool(has_floor.reindex(ids).fillna(False).all())
        basis = floor.reindex(ids).to_numpy(dtype=float) if by_floor else communities.geometry[members].area.to_numpy()
        basis = np.nan_to_num(basis, nan=0.0)
        pop[members] = total * basis / basis.sum() if basis.sum() > 0 else total / len(members)
        spread[members] = True
        log.info(
            "population totals: %s %s (%d communities) spread by %s",
            key,
            k,
            len(members),
            "floor area" if by_floor else "ground area",
        )
    return pop, spread


# --- population raster ----------------------------------------------------------------------------


def raster_cells(path: str | Path, communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cells of a population GeoTIFF over the communities: ``people`` at each cell centre, in
    the communities' CRS (nodata, NaN and zero cells left out).
    """
    rasterio = _rasterio()
    from rasterio.windows import Window  # noqa: PLC0415

    p = str(path)
    if not Path(p).exists():
        raise InputError("no such file", path=p, field="population_raster")
    try:
        src = rasterio.open(p)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot be read as a raster ({exc})", path=p, field="population_raster") from None
    with src:
        if src.crs is None:
            raise InputError("the raster has no coordinate reference system", path=p, field="population_raster")
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise InputError("a rotated raster grid is not supported", path=p, field="population_raster")
        x0, y0, x1, y1 = communities.to_crs(src.crs).total_bounds
        c = np.sort([(x0 - t.c) / t.a, (x1 - t.c) / t.a])
        r = np.sort([(y0 - t.f) / t.e, (y1 - t.f) / t.e])
        c0, c1 = max(int(np.floor(c[0])), 0), min(int(np.ceil(c[1])), src.width)
        r0, r1 = max(int(np.floor(r[0])), 0), min(int(np.ceil(r[1])), src.height)
        if c1 <= c0 or r1 <= r0:
            log.warning("%s: the population raster does not cover the communities", p)
            return gpd.GeoDataFrame({"people": []}, geometry=gpd.GeoSeries([], crs=communities.crs))
        data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True).astype(float).filled(np.nan)
        crs = src.crs
    rows, cols = np.nonzero(np.isfinite(data) & (data != 0))
    vals = data[rows, cols]
    if (vals < 0).any():
        bad_r, bad_c = int(rows[vals < 0][0]), int(cols[vals < 0][0])
        raise InputError(
            f"cell (row {bad_r + r0}, column {bad_c + c0}) holds {data[bad_r, bad_c]:g} people; "
            "expected zero or more (or the raster's nodata value)",
            path=p,
            field="population_raster",
        )
    xs = t.c + (cols + c0 + 0.5) * t.a
    ys = t.f + (rows + r0 + 0.5) * t.e
    cells = gpd.GeoDataFrame({"people": vals}, geometry=gpd.points_from_xy(xs, ys), crs=crs)
    return cells.to_crs(communities.crs)


def raster_to_points(
    cells: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, residents: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """People per resident point: each cell to the nearest point of the community its centre
    falls in (the first such community where two overlap), and which communities (positions)
    hold a cell centre. Cells in no community, or in one without points, are left out (logged).
    """
    out = np.zeros(len(residents))
    if not len(cells):
        return out, np.zeros(len(communities), dtype=bool)
    c_idx, k_idx = communities.geometry.sindex.query(cells.geometry.values, predicate="within")
    first = pd.DataFrame({"cell": c_idx, "comm": k_idx}).sort_values(["cell", "comm"]).drop_duplicates("cell")
    pts = np.column_stack([residents.geometry.x.to_numpy(), residents.geometry.y.to_numpy()])
    comm_of = residents["community_id"].astype(str).to_numpy()
    ids = communities["id"].astype(str).to_numpy()
    cx, cy = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    people = cells["people"].to_numpy(dtype=float)
    lost = float(people.sum() - people[first["cell"].to_numpy()].sum())
    for comm, grp in first.groupby("comm", sort=True):
        mine = np.flatnonzero(comm_of == ids[int(comm)])
        cell = grp["cell"].to_numpy()
        if not len(mine):
            lost += float(people[cell].sum())
            continue
        _, near = cKDTree(pts[mine]).query(np.column_stack([cx[cell], cy[cell]]))
        np.add.at(out, mine[near], people[cell])
    if lost > 0:
        log.info("population raster: %.0f people in cells outside every community left out", lost)
    covered = np.zeros(len(communities), dtype=bool)
    covered[first["comm"].to_numpy()] = True
    return out, covered


# --- putting it together --------------------------------------------------------------------------


@dataclass
class Populations:
    """Per community (aligned with the communities): population, estimated, source code."""

    population: pd.Series
    estimated: pd.Series
    source: pd.Series


def _rescale(residents: gpd.GeoDataFrame, communities: pd.DataFrame, new_pop: pd.Series) -> np.ndarray:
    """Point populations scaled to new community totals, keeping each community's spread
    (floor area, else even) — by weights, so a community that had none gets some.
    """
    w = _point_weights(residents)
    w = np.where(np.isnan(w), 1.0, w)
    comm = residents["community_id"].astype(str)
    tot = pd.Series(w, index=residents.index).groupby(comm).transform("sum").to_numpy()
    target = comm.map(dict(zip(communities["id"].astype(str), new_pop, strict=True))).to_numpy(dtype=float)
    return np.where(tot > 0, target * w / tot, 0.0)


def apply_population(
    communities: gpd.GeoDataFrame,
    residents: gpd.GeoDataFrame,
    *,
    raster: str | Path | None = None,
    totals: str | Path | None = None,
) -> tuple[Populations, gpd.GeoDataFrame]:
    """Populations per community and per resident point from the totals and the raster.

    Parameters
    ----------
    communities : GeoDataFrame
        ``id``, ``population``, ``population_estimated``, polygons (same projected CRS as the
        residents).
    residents : GeoDataFrame
        :func:`circles.residents.place_residents` output.
    raster, totals : path, optional
        A population GeoTIFF; a CSV/XLSX of counts (see :func:`read_totals`).

    Returns
    -------
    Populations, GeoDataFrame
        The community figures, and the residents with ``population`` and ``population_source``.
    """
    src = base_sources(communities)
    pop = communities["population"].astype(float).copy()
    est = src == "estimate"
    res = residents.copy()
    if totals is not None:
        key, counts = read_totals(totals, communities)
        tpop, spread = spread_totals(communities, res, key, counts)
        given = tpop.notna()
        changed = given & (src == "count") & ((tpop - pop).abs() > 0.5)
        for i in communities.index[changed]:
            log.warning(
                "community %s: population %g in the boundaries replaced by %g from %s",
                communities.at[i, "id"],
                pop[i],
                tpop[i],
                totals,
            )
        pop[given], src[given], est[given] = tpop[given], "totals", spread[given]
        res["population"] = _rescale(res, communities, pop)
    if raster is not None:
        cells = raster_cells(raster, communities)
        per_point, covered = raster_to_points(cells, communities, res)
        comm = res["community_id"].astype(str)
        got = pd.Series(per_point, index=res.index).groupby(comm).sum()
        use = pd.Series(covered, index=communities.index) & (src == "estimate")
        ids = communities["id"].astype(str)
        pop[use] = ids[use].map(got).fillna(0.0).to_numpy()
        src[use], est[use] = "raster", True
        take = comm.isin(set(ids[use])).to_numpy()
        res.loc[take, "population"] = per_point[take]
        log.info(
            "population raster: %d communities from the grid; %d with a count kept it; %d not covered",
            int(use.sum()),
            int((covered & ~use.to_numpy()).sum()),
            int((~covered).sum()),
        )
    res["population_source"] = (
        res["community_id"].astype(str).map(dict(zip(communities["id"].astype(str), src, strict=True)))
    )
    return Populations(population=pop, estimated=est.astype(bool), source=src), res


def set_populations(communities: pd.DataFrame, pops: Populations, label: str | None = None) -> pd.DataFrame:
    """The communities with ``population``, ``population_estimated`` and the ledger's
    ``population_source`` words from ``pops`` (a pilot plan's words are kept for its counts).
    """
    out = communities.copy()
    out["population"] = pops.population.to_numpy()
    out["population_estimated"] = pops.estimated.to_numpy()
    words = pops.source.map(SOURCES)
    old = out["population_source"] if "population_source" in out else pd.Series("", index=out.index)
    keep = (pops.source == "count").to_numpy() & (old.fillna("").astype(str) != "").to_numpy()
    out["population_source"] = np.where(keep, old.fillna("").astype(str), words.to_numpy())
    return out


# --- age groups -----------------------------------------------------------------------------------


def group_figures(communities: pd.DataFrame) -> pd.DataFrame:
    """Per community and age group: the group's people and whether they come from a share.

    Returns a frame indexed like ``communities`` with ``<group>`` (people, NaN where the
    boundaries give nothing) and ``<group>_from_share`` for every group of :data:`GROUPS`.
    A share and a count of the same group: the count wins.
    """
    pop = communities["population"].astype(float)
    out = pd.DataFrame(index=communities.index)
    for g, spec in GROUPS.items():
        counts = [pd.to_numeric(communities[f], errors="coerce") for f in spec["count"] if f in communities]
        shares = [pd.to_numeric(communities[f], errors="coerce") for f in spec["share"] if f in communities]
        n_count = _sum_parts(counts, spec["count"], communities)
        n_share = _sum_parts(shares, spec["share"], communities) * pop
        out[g] = n_count.where(n_count.notna(), n_share)
        out[f"{g}_from_share"] = n_count.isna() & n_share.notna()
    return out


def _sum_parts(parts: list[pd.Series], names: tuple[str, ...], communities: pd.DataFrame) -> pd.Series:
    """The whole (first name) where given, else the sum of the parts (the other names)."""
    if not parts:
        return pd.Series(np.nan, index=communities.index)
    whole = pd.to_numeric(communities[names[0]], errors="coerce") if names[0] in communities else None
    rest = [pd.to_numeric(communities[n], errors="coerce") for n in names[1:] if n in communities]
    summed = sum(rest[1:], rest[0]) if len(rest) == len(names) - 1 and rest else None
    if whole is not None and summed is not None:
        return whole.where(whole.notna(), summed)
    return (
        whole if whole is not None else (summed if summed is not None else pd.Series(np.nan, index=communities.index))
    )


def check_groups(communities: pd.DataFrame, path: str = "boundaries") -> None:
    """Age shares in [0, 1] (an InputError names the file, the community and the field)."""
    for spec in GROUPS.values():
        for f in spec["share"]:
            if f in communities:
                v = pd.to_numeric(communities[f], errors="coerce")
                bad = v.notna() & ((v < 0) | (v > 1))
                if bad.any():
                    i = communities.index[bad][0]
                    raise InputError(
                        f"{f} is {communities.at[i, f]!r}; expected a share between 0 and 1",
                        path=path,
                        feature=str(communities.at[i, "id"]),
                        field=f,
                    )


def group_points(residents: pd.DataFrame, communities: pd.DataFrame) -> gpd.GeoDataFrame:
    """The residents with ``pop_<group>``: each point's share of its community's group (NaN
    where the boundaries give no figure for the group).
    """
    fig = group_figures(communities)
    out = residents.copy()
    comm = out["community_id"].astype(str)
    cpop = dict(zip(communities["id"].astype(str), communities["population"].astype(float), strict=True))
    total = comm.map(cpop).to_numpy(dtype=float)
    for g in GROUPS:
        grp = comm.map(dict(zip(communities["id"].astype(str), fig[g], strict=True))).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"pop_{g}"] = np.where(total > 0, out["population"].to_numpy(dtype=float) * grp / total, np.nan)
    return out


def group_columns(gaps: pd.DataFrame, communities: pd.DataFrame, serves: dict[str, str]) -> pd.DataFrame:
    """The gap report with, per row, the group the rule serves (``serves``), the group's
    residents in the community (``group_residents``) and among the uncovered
    (``group_uncovered``, an estimate: one share per community).
    """
    fig = group_figures(communities)
    fig.index = communities["id"].astype(str).to_numpy()
    cpop = pd.Series(communities["population"].astype(float).to_numpy(), index=fig.index)
    out = gaps.copy()
    out["serves"] = out["rule_id"].map(serves).fillna("all")
    grp = np.full(len(out), np.nan)
    for g in GROUPS:
        sel = (out["serves"] == g).to_numpy()
        grp[sel] = out.loc[sel, "community_id"].astype(str).map(fig[g]).to_numpy(dtype=float)
    share = grp / out["community_id"].astype(str).map(cpop).to_numpy(dtype=float)
    out["group_residents"] = np.round(grp)
    with np.errstate(invalid="ignore"):
        out["group_uncovered"] = np.round(out["residents_uncovered"].to_numpy(dtype=float) * share)
    return out


def affected_text(n: float, m: float, group: str) -> str:
    """受影响居民 N 人，其中60岁以上约 M 人 (the group part only where known)."""
    base = f"受影响居民{n:.0f}人"
    if group in GROUPS and np.isfinite(m):
        return f"{base}，其中{GROUPS[group]['zh']}约{m:.0f}人（按社区年龄结构估算）"
    return base


def annotate_ledger(ledger: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """The ledger with "受影响居民 N 人，其中60岁以上约 M 人" added to 缺口 where the rule serves
    an age group the boundaries give (M: the affected residents times the community's share,
    an estimate).
    """
    if "group_uncovered" not in gaps or not len(ledger):
        return ledger
    key = gaps.set_index(["community_id", "rule_id"])
    out = ledger.copy()
    idx = pd.MultiIndex.from_arrays([out["community_id"].astype(str), out["rule_id"].astype(str)])
    serves = key["serves"].reindex(idx).fillna("all").to_numpy()
    grp = key["group_residents"].reindex(idx).to_numpy(dtype=float)
    pop = key["residents"].reindex(idx).to_numpy(dtype=float)
    aff = out["residents_affected"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.round(aff * np.where(pop > 0, grp / pop, np.nan))
    gap = out["gap"].fillna("").astype(str).to_numpy(dtype=object)
    for i in np.flatnonzero(np.isfinite(m) & np.isfinite(aff)):
        gap[i] = (
            f"{gap[i]}；{affected_text(aff[i], m[i], serves[i])}" if gap[i] else affected_text(aff[i], m[i], serves[i])
        )
    out["gap"] = gap
    return out


# --- the run's step -------------------------------------------------------------------------------


def check_inputs(communities: pd.DataFrame, raster: str | Path | None, totals: str | Path | None) -> None:
    """Fail before any work: the totals table readable and keyed right, the raster present and
    rasterio installed.
    """
    if totals is not None:
        read_totals(totals, communities)
    if raster is not None:
        _rasterio()
        if not Path(raster).exists():
            raise InputError("no such file", path=str(raster), field="population_raster")


def populate(
    communities: gpd.GeoDataFrame,
    projected: gpd.GeoDataFrame,
    residents: gpd.GeoDataFrame,
    *,
    raster: str | Path | None = None,
    totals: str | Path | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The run's population step: the totals and the raster applied (when given) to the
    communities (as loaded, and projected like the residents) and the resident points, then
    every point's share of the age groups (``pop_elderly``, ``pop_children``).
    """
    if raster is not None or totals is not None:
        pops, residents = apply_population(projected, residents, raster=raster, totals=totals)
        communities = set_populations(communities, pops)
        projected = set_populations(projected, pops)
    return communities, projected, group_points(residents, projected)
