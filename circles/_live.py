"""The walking graph a community's map carries for the live what-if (a planned facility placed
in the browser, its effect computed there).

For one community the payload holds the streets within the search bound around it (every
street a walk of at most that length from one of its residents can use: a path of length ``L``
never leaves the disc of radius ``L`` around its start), the engine's own attachment of every
resident of the community and of every facility access point on those streets (edge, offset
along the edge, access leg — :func:`circles.reach.attach_points`, as :func:`circles.access.compute_access`
made it), and a polynomial fit of the projection from WGS-84 to the network CRS so that the
page attaches a facility placed at a longitude/latitude exactly as the engine would.

The browser then runs one bounded Dijkstra on this graph: a facility access point on edge
``e`` at offset ``s`` with leg ``l`` starts the search at ``u`` with ``l + s`` and at ``v`` with
``l + len(e) - s``; a resident on edge ``e`` at ``s`` with leg ``l`` is at
``min(d[u] + s, d[v] + len - s) + l``, or directly along the edge from a source on the same
edge. That is the engine's split graph (:func:`circles.reach.split_graph`) without building it:
the distances are the same.

The page judges each item again as :func:`circles.gaps.compute_gaps` does (reach, the share of
residents within the threshold of a facility of adequate size, facilities too few, the size of
what they reach known or not, the community's own facilities inside its boundary, ``unseen``
for a type not declared surveyed, ``conditional``/``as_needed`` items): a planned facility has
no size or capacity, so a size or capacity the item checks is unverified where it counts.
Capacities themselves (two-step floating catchment, own supply per household) are not recomputed
in the page: a closed facility leaves today's supply figures.

Lengths and offsets are sent in millimetres, coordinates in centimetres, relative to an origin.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from ._arrays import unique_ints

log = logging.getLogger(__name__)

#: Largest error (metres) accepted for the polynomial fit of the projection over a payload's box.
MAX_FIT_ERROR_M = 0.05

_FIT_GRID = 13


def _terms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cubic polynomial terms of (a, b): 1, a, b, a², ab, b², a³, a²b, ab², b³."""
    return np.column_stack([np.ones_like(a), a, b, a * a, a * b, b * b, a**3, a * a * b, a * b * b, b**3])


def _fit(box: tuple[float, float, float, float], crs: str) -> dict[str, Any]:
    """Cubic fits lon/lat → local metres and back over ``box`` (network CRS), with their origin.

    Forward: ``x - ox = P(lon - lon0, lat - lat0)`` with the differences in degrees × 1000;
    backward: ``lon - lon0 = Q((x - ox) / 1000, (y - oy) / 1000)``.
    """
    x0, y0, x1, y1 = box
    ox, oy = round((x0 + x1) / 2), round((y0 + y1) / 2)
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    mx, my = np.meshgrid(np.linspace(x0, x1, _FIT_GRID), np.linspace(y0, y1, _FIT_GRID))
    gx, gy = mx.ravel(), my.ravel()
    lon, lat = to_ll.transform(gx, gy)
    lon0, lat0 = to_ll.transform(ox, oy)
    a, b = (np.asarray(lon) - lon0) * 1000, (np.asarray(lat) - lat0) * 1000
    t = _terms(a, b)
    fx = np.linalg.lstsq(t, gx - ox, rcond=None)[0]
    fy = np.linalg.lstsq(t, gy - oy, rcond=None)[0]
    tb = _terms((gx - ox) / 1000, (gy - oy) / 1000)
    bx = np.linalg.lstsq(tb, a, rcond=None)[0]
    by = np.linalg.lstsq(tb, b, rcond=None)[0]
    err = float(np.hypot(t @ fx - (gx - ox), t @ fy - (gy - oy)).max())
    if err > MAX_FIT_ERROR_M:
        raise ValueError(f"projection fit error {err:.3f} m over the community's box")
    return {
        "o": [ox, oy],
        "ll0": [lon0, lat0],
        "fx": fx.tolist(),
        "fy": fy.tolist(),
        "bx": bx.tolist(),
        "by": by.tolist(),
    }


def _target_applies(rule, comm: pd.DataFrame, ci: int) -> bool:
    """The rule's capacity target is a verdict in this community (as :mod:`circles.gaps` decides)."""
    c = rule.capacity
    if c is None:
        return False
    if c.applies_to == "all":
        return True
    return "new_community" in comm.columns and bool(pd.Series(comm["new_community"]).fillna(False).iloc[ci])


def _capacity_today(row: pd.Series | None) -> tuple[bool, bool]:
    """(checked, short) of a row's capacity target today, read from its supply columns."""
    if row is None:
        return False, False
    target = float(row["supply_target"]) if pd.notna(row["supply_target"]) else np.nan
    if row["supply_basis"] == "own":
        own = float(row["supply_own"]) if pd.notna(row["supply_own"]) else np.nan
        return bool(np.isfinite(own)), bool(np.isfinite(own) and own < target - 1e-9)
    acc = float(row["supply_accessible"]) if pd.notna(row["supply_accessible"]) else np.nan
    v = row["supply_complete"]
    complete = isinstance(v, bool | np.bool_) and bool(v)
    checked = bool(complete and np.isfinite(acc))
    return checked, bool(checked and acc < target - 1e-9)


def _verdict_parts(result, rule, ci: int, row: pd.Series | None) -> dict[str, Any]:
    """What the page needs to judge a rule again as :func:`circles.gaps._classify` does: whether
    the type is measured and declared surveyed, the facilities too small or of unknown size for
    the rule, the community's own facilities (inside its boundary) with their sizes, and today's
    capacity check. Capacities are not recomputed in the page (see the module docstring)."""
    from .capacity import facility_sizes
    from .gaps import facilities_inside

    acc = result.access
    fac = acc.facilities
    t = rule.facility_type
    comm = result.communities
    present = set(fac["facility_type"].astype(str))
    c = rule.capacity
    out: dict[str, Any] = {
        "isSurveyed": t in result.surveyed,
        "measured": t in result.surveyed or t in present,
        "reason": "" if row is None else str(row["no_data_reason"] or ""),
        "perCommunity": bool(rule.per_community),
        "sizeApplies": bool(rule.size_applies),
        "minSize": float(rule.min_size_m2 or 0),
        "minCount": int(rule.min_count),
        "capTarget": bool(c is not None and c.target is not None and rule.check != "supply")
        and _target_applies(rule, comm, ci),
        "capBasis": "" if c is None else c.basis,
    }
    out["capChecked"], short = _capacity_today(row)
    out["capShort"] = short and out["capTarget"]
    ids = fac["id"].astype(str).to_numpy()
    if rule.size_applies:
        pos = np.flatnonzero((fac["facility_type"].astype(str) == t).to_numpy())
        sizes = facility_sizes(fac, pos, rule.size_kind)
        out["small"] = sorted(ids[pos[np.isfinite(sizes) & (sizes < (rule.min_size_m2 or 0) - 1e-9)]].tolist())
        out["sized"] = sorted(ids[pos[np.isfinite(sizes)]].tolist())
    needs_inside = rule.check in ("supply", "presence") or (c is not None and c.basis == "own") or rule.per_community
    if needs_inside:
        own = facilities_inside(comm.iloc[[ci]], fac, t).get(str(comm["id"].iloc[ci]), np.zeros(0, dtype=int))
        sizes = facility_sizes(fac, own, rule.size_kind)
        out["inside"] = [[str(ids[k]), float(z) if np.isfinite(z) else None] for k, z in zip(own, sizes, strict=True)]
    return out


def _rules(result, cid: str) -> list[dict[str, Any]]:
    """The items of the rulebook with what the page needs to redo their verdict."""
    rb = result.rulebook
    gaps = result.gaps
    mine = gaps[gaps["community_id"].astype(str) == cid]
    mine = mine.set_index(mine["rule_id"].astype(str))
    ci = int(np.flatnonzero(result.communities["id"].astype(str).to_numpy() == cid)[0])
    out = []
    for r in rb.rules:
        if not r.facility_type:
            continue
        row = mine.loc[r.id] if r.id in mine.index else None
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        share = None if row is None or pd.isna(row["covered_share"]) else float(row["covered_share"])
        out.append(
            {
                "id": r.id,
                "type": r.facility_type,
                "thrM": float(rb.threshold_m(r)),
                "thrMin": float(rb.threshold_minutes(r)),
                "speed": float(rb.speed_of(r)),
                "check": r.check,
                "required": r.required,
                "status": "" if row is None else str(row["status"]),
                "share": share,
                "name": "" if row is None else str(row["community_name"]),
                "surveyed": r.facility_type in result.surveyed,
                **_verdict_parts(result, r, ci, row),
            }
        )
    return out


def _outline(geom, crs_from, crs_to: str, origin: list[float]) -> list[list[int]]:
    """Every ring of the community's outline in the network CRS less the origin, centimetres
    (flat x, y lists: the page tests a point inside by the even-odd rule)."""
    g = gpd.GeoSeries([geom], crs=crs_from).to_crs(crs_to).iloc[0]
    rings = []
    for poly in getattr(g, "geoms", [g]):
        if poly.geom_type != "Polygon":
            continue
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.round((np.asarray(ring.coords)[:, :2] - origin) * 100).astype(np.int64)
            rings.append(xy.ravel().tolist())
    return rings


def community_payload(result, cid: str, res_rows: np.ndarray) -> dict[str, Any] | None:
    """The live what-if payload of community ``cid`` (see the module docstring).

    Parameters
    ----------
    result : circles.pipeline.Result
        With its :class:`circles.access.Access` (None after a partitioned run: no payload).
    cid : str
        The community id.
    res_rows : ndarray of int
        Row positions in ``result.residents`` of the residents the map draws, in its order.

    Returns
    -------
    dict or None
    """
    comm = result.communities
    hit = np.flatnonzero(comm["id"].astype(str).to_numpy() == cid)
    if result.access is None or not len(hit) or comm.geometry.iloc[int(hit[0])] is None:
        return None
    g = _graph_payload(result, comm.geometry.iloc[int(hit[0])].bounds, res_rows)
    return {
        "v": g.pop("v"),
        "cid": cid,
        **g,
        "rules": _rules(result, cid),
        "outline": _outline(comm.geometry.iloc[int(hit[0])], comm.crs, result.network.crs, g["o"]),
    }


#: Most streets the overview map carries for its live what-if (one community at a time): beyond,
#: the overview leaves it to the community maps (its size stays that of a map).
OVERVIEW_MAX_EDGES = 6000


def overview_payload(result, res_rows: np.ndarray) -> dict[str, Any] | None:
    """The overview map's live what-if: the streets around every community, the residents the
    overview draws (``res_rows``), and per community its items and outline; the page judges one
    community at a time (``comms``, residents' community ``rc`` as positions in ``cids``).
    None after a partitioned run or when the streets exceed :data:`OVERVIEW_MAX_EDGES`."""
    comm = result.communities
    ok = comm.geometry.notna().to_numpy()
    if result.access is None or not ok.any():
        return None
    g = _graph_payload(result, tuple(comm.geometry[ok].total_bounds), res_rows)
    if len(g["eu"]) > OVERVIEW_MAX_EDGES:
        log.info("overview map: %d streets, its live what-if left to the community maps", len(g["eu"]))
        return None
    cids = [str(c) for c, good in zip(comm["id"], ok, strict=True) if good]
    pos = {c: i for i, c in enumerate(cids)}
    of = result.residents["community_id"].astype(str).to_numpy()[res_rows]
    comms = {
        c: {"rules": _rules(result, c), "outline": _outline(geom, comm.crs, result.network.crs, g["o"])}
        for c, geom in zip(comm["id"].astype(str)[ok], comm.geometry[ok], strict=True)
    }
    rc = [pos.get(c, -1) for c in of]
    return {"v": g.pop("v"), "cid": None, **g, "rules": [], "cids": cids, "rc": rc, "comms": comms}


def _graph_payload(result, bounds, res_rows: np.ndarray) -> dict[str, Any]:
    """The walking graph around ``bounds`` (network CRS), the residents ``res_rows`` attached as
    the engine attached them, and the facilities on those streets (see the module docstring)."""
    acc = result.access
    net = result.network
    rb = result.rulebook
    bound = max(rb.threshold_m(r) for r in rb.rules if r.facility_type)
    cx0, cy0, cx1, cy1 = bounds
    res_att_e = acc.attachment.edge[: len(acc.residents)][res_rows]
    rx = acc.residents.geometry.x.to_numpy()[res_rows]
    ry = acc.residents.geometry.y.to_numpy()[res_rows]
    if len(res_rows):
        cx0, cy0 = min(cx0, float(rx.min())), min(cy0, float(ry.min()))
        cx1, cy1 = max(cx1, float(rx.max())), max(cy1, float(ry.max()))
    box = (cx0 - bound, cy0 - bound, cx1 + bound, cy1 + bound)
    edges = unique_ints(net.edge_tree().query(shapely.box(*box)))
    # a resident's own edge is always in (it may reach out of the box on a long street)
    edges = unique_ints(np.r_[edges, res_att_e[res_att_e >= 0]]).astype(np.int64)
    fit = _fit(box, net.crs)
    ox, oy = fit["o"]
    nodes, inv = np.unique(np.r_[net.u[edges], net.v[edges]], return_inverse=True)
    local = np.full(net.n_edges, -1, dtype=np.int64)
    local[edges] = np.arange(len(edges))
    xy, gi = shapely.get_coordinates(net.geometry[edges], return_index=True)
    first = np.searchsorted(gi, np.arange(len(edges) + 1))
    q = np.round((xy - [ox, oy]) * 100).astype(np.int64)
    # residents: the engine's attachment (edge, offset, leg) of each one drawn
    n_res = len(acc.residents)
    e_r = acc.attachment.edge[:n_res][res_rows]
    res_e = np.where(e_r >= 0, local[np.maximum(e_r, 0)], -1)
    res = {
        "e": res_e.tolist(),
        "s": np.round(acc.attachment.offset[:n_res][res_rows] * 1000).astype(np.int64).tolist(),
        "l": np.round(np.nan_to_num(acc.attachment.leg[:n_res][res_rows]) * 1000).astype(np.int64).tolist(),
        "w": [round(float(w), 6) for w in acc.residents["population"].to_numpy()[res_rows]],
    }
    fac = _facilities(result, local, n_res)
    return {
        "v": 1,
        "bound": float(bound),
        "maxAttach": float(acc.max_attach_m),
        "targetShare": float((getattr(result, "options", None) or {}).get("target_share", 1.0) or 1.0),
        **fit,
        "n": int(len(nodes)),
        "eu": inv[: len(edges)].tolist(),
        "ev": inv[len(edges) :].tolist(),
        "el": np.round(net.length[edges] * 1000).astype(np.int64).tolist(),
        "ef": first.tolist(),
        "ex": q[:, 0].tolist(),
        "ey": q[:, 1].tolist(),
        "res": res,
        "fac": fac,
    }


def _facilities(result, local: np.ndarray, n_res: int) -> dict[str, list]:
    """Per type, the placed facilities with an access point on the payload's streets:
    ``[id, name, lon, lat, [local edge, offset mm, leg mm, …]]``."""
    acc = result.access
    ap = acc.access_points
    att = acc.attachment
    e_all = att.edge[n_res:]
    on = (e_all >= 0) & (local[np.maximum(e_all, 0)] >= 0)
    fac = acc.facilities
    pts = fac.geometry.representative_point().to_crs("EPSG:4326")
    out: dict[str, list] = {}
    rows = ap["facility"].to_numpy()
    order = np.flatnonzero(on)
    by_fac: dict[int, list[int]] = {}
    for k in order.tolist():
        by_fac.setdefault(int(rows[k]), []).append(k)
    types = set(result.rulebook.types_used())
    for f in sorted(by_fac):
        t = str(fac["facility_type"].iloc[f])
        if t not in types or not bool(fac["placed"].iloc[f]):
            continue
        aps: list[int] = []
        for k in by_fac[f]:
            aps += [
                int(local[e_all[k]]),
                int(round(float(att.offset[n_res + k]) * 1000)),
                int(round(float(att.leg[n_res + k]) * 1000)),
            ]
        name = fac["name"].iloc[f] if "name" in fac else ""
        out.setdefault(t, []).append(
            [
                str(fac["id"].iloc[f]),
                "" if not isinstance(name, str) else name,
                round(float(pts.iloc[f].x), 7),
                round(float(pts.iloc[f].y), 7),
                aps,
            ]
        )
    return out
