"""Supply against demand: the two-step floating catchment area (2SFCA) method.

Where facilities carry a capacity (childcare places, elderly beds, parking spaces) or a floor
area (``size_m2``), circles asks how much of it each resident can count on within the rule's
walking threshold, sharing every facility with everyone else who can reach it:

1. For every facility *j*, its supply ``S_j`` is divided by the demand that can reach it
   within the threshold: ``R_j = S_j / Σ_{i: d_ij ≤ d0} D_i``.
2. For every resident point *i*, the accessible supply is the sum of the ratios of the
   facilities it reaches: ``A_i = Σ_{j: d_ij ≤ d0} R_j``.

``A_i`` is supply per unit of demand (places per resident, m² per household …). A
community's value is the demand-weighted mean of ``A_i`` over its resident points; with
``per`` (e.g. 100 households) it reads as "m² per 100 households", ready to compare with a
per-population target such as the 2022 pilot notice's 30 m² of community service space per
100 households.

The catchment is binary (no distance decay): within the walking threshold a facility serves
everyone equally, beyond it not at all — the same cut-off as the coverage rules. Distances
are the exact along-street walking distances of :meth:`circles.access.Access.facilities_within`.

Limits: demand is only the residents in the input. Facilities at the edge of the study area
also serve people outside it, so their ratios (and the supply of communities near the edge)
are overestimated. Σ_i D_i·A_i equals the supply of the facilities that some demand reaches
(supply is conserved), which is the usual check of a 2SFCA implementation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

log = logging.getLogger(__name__)


def two_step_fca(reach, supply: np.ndarray, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classic (binary) two-step floating catchment.

    Parameters
    ----------
    reach : sparse matrix or ndarray of bool, shape (facilities, residents)
        True where the resident point is within the threshold of the facility.
    supply : ndarray, shape (facilities,)
        Capacity or size of each facility (NaN counts as 0).
    demand : ndarray, shape (residents,)
        Demand at each resident point (residents or households).

    Returns
    -------
    ratio : ndarray, shape (facilities,)
        Supply per unit of demand within each facility's catchment (NaN where no demand
        reaches the facility).
    accessible : ndarray, shape (residents,)
        Supply per unit of demand each resident point can count on.
    """
    mat = sparse.csr_matrix(reach, dtype=float)
    supply = np.nan_to_num(np.asarray(supply, dtype=float), nan=0.0)
    demand = np.nan_to_num(np.asarray(demand, dtype=float), nan=0.0)
    if mat.shape != (len(supply), len(demand)):
        raise ValueError(f"reach matrix is {mat.shape}, expected ({len(supply)}, {len(demand)})")
    if (supply < 0).any() or (demand < 0).any():
        raise ValueError("supply and demand must not be negative")
    catchment = mat @ demand
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(catchment > 0, supply / catchment, np.nan)
    accessible = mat.T @ np.nan_to_num(ratio, nan=0.0)
    return ratio, np.asarray(accessible).ravel()


def community_values(
    accessible: np.ndarray, demand: np.ndarray, community_of: np.ndarray, community_ids
) -> dict[str, float]:
    """Demand-weighted mean of ``accessible`` per community (NaN where a community has no demand)."""
    demand = np.nan_to_num(np.asarray(demand, dtype=float), nan=0.0)
    df = pd.DataFrame({"c": np.asarray(community_of).astype(str), "d": demand, "da": demand * accessible})
    sums = df.groupby("c", sort=False)[["d", "da"]].sum()
    ids = [str(cid) for cid in community_ids]
    per = sums.reindex(ids)  # one lookup for all communities (NaN: no demand point)
    d, da = per["d"].to_numpy(dtype=float), per["da"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = np.where(d > 0, da / np.where(d > 0, d, 1.0), np.nan)
    return dict(zip(ids, vals.tolist(), strict=True))


def facility_sizes(facilities: gpd.GeoDataFrame, positions: np.ndarray, size_kind: str = "building") -> np.ndarray:
    """Size in m² of the facilities at ``positions`` (NaN where unknown).

    ``size_m2`` from the input wins. For land sizes (``size_kind == "land"``: parks,
    activity sites) an area feature without ``size_m2`` is measured from its outline
    (``facilities`` must be in a projected CRS in metres).
    """
    n = len(positions)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    sub = facilities.iloc[positions]
    if "size_m2" in sub.columns:
        out = pd.to_numeric(sub["size_m2"], errors="coerce").to_numpy(dtype=float, copy=True)
    if size_kind == "land":
        polygonal = sub.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
        fill = np.isnan(out) & polygonal
        if fill.any():
            if facilities.crs is not None and facilities.crs.is_geographic:
                raise ValueError("facility sizes from outlines need a projected CRS")
            out[fill] = sub.geometry.area.to_numpy()[fill]
    return out


def facility_capacity(
    facilities: gpd.GeoDataFrame, positions: np.ndarray, measure: str, size_kind: str = "building"
) -> np.ndarray:
    """The supply column ``measure`` (``capacity`` or ``size_m2``) at ``positions``; NaN where unknown."""
    if measure == "size_m2":
        return facility_sizes(facilities, positions, size_kind)
    if measure not in facilities.columns or len(positions) == 0:
        return np.full(len(positions), np.nan)
    return pd.to_numeric(facilities.iloc[positions][measure], errors="coerce").to_numpy(dtype=float, copy=True)


def point_demand(residents: pd.DataFrame, communities: pd.DataFrame, demand: str) -> np.ndarray:
    """Demand at every resident point: its residents, its share of the community's households,
    or of an age group (``elderly``, ``children``: the point's ``pop_<group>``).

    Households come from the community's ``households`` (a point carries households in
    proportion to its residents); NaN where the community has no household figure.
    """
    pop = residents["population"].to_numpy(dtype=float)
    if demand == "residents":
        return pop
    if demand in ("elderly", "children"):
        # an age group's share of each point (circles.population.group_points); NaN where the
        # boundaries give no figure for the group: no demand is guessed
        col = f"pop_{demand}"
        return residents[col].to_numpy(dtype=float) if col in residents else np.full(len(pop), np.nan)
    if demand != "households":
        raise ValueError(f"unknown demand {demand!r}")
    hh = (
        pd.to_numeric(communities["households"], errors="coerce")
        if "households" in communities
        else pd.Series(np.nan, index=communities.index)
    )
    cpop = communities["population"].astype(float)
    per_person = dict(
        zip(communities["id"].astype(str), np.where(cpop > 0, hh / cpop.where(cpop > 0, 1), np.nan), strict=True)
    )
    factor = residents["community_id"].astype(str).map(per_person).to_numpy(dtype=float)
    return pop * factor


@dataclass
class SupplyResult:
    """Accessible supply for one rule: per community, with how complete the data was."""

    per_community: dict[str, float]  # supply per ``per`` demand units
    ratio: np.ndarray  # R_j per facility (positions order)
    accessible: np.ndarray  # A_i per resident point
    known: np.ndarray  # facility has a supply value
    positions: np.ndarray


def accessible_supply(  # noqa: PLR0913 — the two-step catchment's inputs, each needed; not grouped in issue 21
    access,
    ftype: str,
    limit_m: float,
    measure: str,
    demand_kind: str,
    per: float,
    communities: pd.DataFrame,
    *,
    size_kind: str = "building",
    reach: tuple[np.ndarray, sparse.csr_matrix] | None = None,
) -> SupplyResult:
    """2SFCA of the facilities of ``ftype`` within ``limit_m`` metres, per community.

    Parameters
    ----------
    access : circles.access.Access
    ftype : str
        Facility type.
    limit_m : float
        Walking threshold in metres (the catchment).
    measure : {"capacity", "size_m2"}
        Facility column holding the supply.
    demand_kind : {"residents", "households"}
    per : float
        Report supply per this many demand units (e.g. 1000 residents, 100 households).
    communities : DataFrame
        ``id``, ``population`` and optional ``households``.
    reach : (positions, matrix), optional
        A result of ``access.facilities_within(ftype, limit_m)`` already computed.
    """
    pos, mat = reach if reach is not None else access.facilities_within(ftype, limit_m)
    supply = facility_capacity(access.facilities, pos, measure, size_kind)
    demand = point_demand(access.residents, communities, demand_kind)
    placed = access.residents["placed"].to_numpy(dtype=bool)
    demand = np.where(placed, np.nan_to_num(demand, nan=0.0), 0.0)
    ratio, acc = two_step_fca(mat, supply, demand)
    vals = community_values(acc, demand, access.residents["community_id"].to_numpy(), communities["id"].astype(str))
    return SupplyResult(
        per_community={k: v * per for k, v in vals.items()},
        ratio=ratio,
        accessible=acc,
        known=~np.isnan(supply),
        positions=pos,
    )
