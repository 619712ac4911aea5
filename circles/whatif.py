"""What-if scenarios and tracking: apply planned projects to the facilities and compare.

A scenario file has the facilities schema plus ``action``: ``add`` (a new facility, new
id), ``remove`` (an existing id) or ``resize`` (an existing id; new ``size_m2`` and/or
``capacity``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._labels import PLANNED_ICONS  # noqa: F401 (kept public here: whatif.PLANNED_ICONS, drawn by mapping)
from ._sheets import write_csv
from .errors import InputError
from .load import read_vector, to_wgs84

log = logging.getLogger(__name__)

ACTIONS = ("add", "remove", "resize")


def _has_size(row) -> bool:
    """True when a scenario row gives a size_m2 or a capacity."""
    for col in ("size_m2", "capacity"):
        v = getattr(row, col, None)
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            continue
        return True
    return False


_SCENARIO_GEOMETRIES = ("Point", "MultiPoint", "Polygon", "MultiPolygon", "LineString", "MultiLineString")


def _check_scenario_row(row: Any, path: str, label: str) -> None:
    """The checks a facilities file gets, here naming the scenario file and its row."""
    from .load import parse_amount

    fid = getattr(row, "id", None)
    if fid is None or (isinstance(fid, float) and np.isnan(fid)) or str(fid).strip() == "":
        raise InputError("empty identifier", path=path, feature=label, field="id")
    if row.action not in ACTIONS:
        raise InputError(
            f"action is {row.action!r}; expected one of {', '.join(ACTIONS)}", path=path, feature=label, field="action"
        )
    for extra in ("capacity", "size_m2"):
        raw = getattr(row, extra, None)
        try:
            parse_amount(raw)
        except ValueError as exc:
            raise InputError(
                f"{extra} is {raw!r}: {exc}; expected a finite number, zero or more (or nothing)",
                path=path,
                feature=label,
                field=extra,
            ) from None
    geom = row.geometry
    if row.action == "add" and geom is not None and not geom.is_empty and geom.geom_type not in _SCENARIO_GEOMETRIES:
        raise InputError(
            f"geometry is a {geom.geom_type}; expected a Point (or the facility's area)",
            path=path,
            feature=label,
            field="geometry",
        )


def load_scenario(path: str | Path, known_types, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a scenario file (GeoJSON/GPKG…; CSV with lon/lat columns is also accepted).

    With ``known_types`` None only the file's own shape is checked (before the analysis
    gives the rulebook's types)."""
    path = str(path)
    if path.lower().endswith(".csv"):
        try:
            df = pd.read_csv(path, encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputError("file not found", path=path) from None
        lon = next((c for c in df.columns if c.lower() in ("lon", "lng", "longitude", "经度")), None)
        lat = next((c for c in df.columns if c.lower() in ("lat", "latitude", "纬度")), None)
        geom = gpd.points_from_xy(df[lon], df[lat]) if lon and lat else [None] * len(df)
        gdf = gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326")
    else:
        gdf = read_vector(path)
    if len(gdf) == 0:
        raise InputError(
            f"the scenario file has no rows; expected one row per planned change (id, action: {', '.join(ACTIONS)})",
            path=path,
        )
    for col in ("id", "action"):
        if col not in gdf.columns:
            raise InputError(f"missing field '{col}'", path=path, field=col)
    known = list(known_types) if known_types is not None else None
    for i, row in enumerate(gdf.itertuples(index=False)):
        label = f"'{row.id}' (row {i + 1})"
        _check_scenario_row(row, path, label)
        if known is None:
            continue
        if row.action not in ACTIONS:
            raise InputError(
                f"action is {row.action!r}; expected one of {', '.join(ACTIONS)}",
                path=path,
                feature=label,
                field="action",
            )
        if row.action == "add":
            ftype = getattr(row, "facility_type", None)
            if ftype not in known:
                raise InputError(
                    f"facility type {ftype!r}: expected one of {', '.join(known)}",
                    path=path,
                    feature=label,
                    field="facility_type",
                )
            if row.geometry is None or row.geometry.is_empty:
                raise InputError("a new facility needs a location", path=path, feature=label, field="geometry")
        if row.action == "resize" and not _has_size(row):
            raise InputError(
                "'resize' needs a new size_m2 or capacity (both are empty)", path=path, feature=label, field="size_m2"
            )
    if gdf.geometry.notna().any():
        gdf = to_wgs84(gdf, path, crs)
    return gdf


def apply_scenario(
    facilities: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, path: str = "scenario"
) -> gpd.GeoDataFrame:
    """The facilities after the scenario's actions (EPSG:4326)."""
    fac = facilities.copy()
    ids = set(fac["id"].astype(str))
    for i, row in enumerate(scenario.itertuples(index=False)):
        fid = str(row.id)
        label = f"'{fid}' (row {i + 1})"
        if row.action == "add":
            if fid in ids:
                raise InputError("'add' with an id that already exists", path=path, feature=label, field="id")
            new = {
                "id": fid,
                "facility_type": row.facility_type,
                "name": getattr(row, "name", "") or "",
                "source": "scenario",
                "geometry": row.geometry,
            }
            for extra in ("capacity", "size_m2"):
                if hasattr(row, extra):
                    new[extra] = getattr(row, extra)
            fac = pd.concat([fac, gpd.GeoDataFrame([new], geometry="geometry", crs=fac.crs)], ignore_index=True)
            ids.add(fid)
        else:
            if fid not in ids:
                raise InputError(
                    f"'{row.action}' of an id that is not among the facilities", path=path, feature=label, field="id"
                )
            if row.action == "remove":
                fac = fac[fac["id"].astype(str) != fid]
                ids.discard(fid)
            else:
                if not _has_size(row):
                    raise InputError(
                        "'resize' needs a new size_m2 or capacity (both are empty)",
                        path=path,
                        feature=label,
                        field="size_m2",
                    )
                for extra in ("capacity", "size_m2"):
                    v = getattr(row, extra, None)
                    if v is not None and not (isinstance(v, float) and np.isnan(v)):
                        fac.loc[fac["id"].astype(str) == fid, extra] = v
    return gpd.GeoDataFrame(fac.reset_index(drop=True), geometry="geometry", crs=facilities.crs)


#: Columns a gaps.csv must have to be compared.
GAPS_COLUMNS = (
    "community_id",
    "community_name",
    "rule_id",
    "facility_type",
    "threshold_min",
    "status",
    "covered_share",
    "residents",
    "residents_uncovered",
)


def compare_gaps(
    before: pd.DataFrame,
    after: pd.DataFrame,
    before_label: str = "before",
    after_label: str = "after",
    newly: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per community × rule: statuses and coverage before and after, residents newly covered.

    Rows present in only one report are kept (``status`` empty on the other side). With
    ``newly`` (from :func:`newly_covered`: counted per resident, so also for items without a
    verdict such as ``no_data``) ``residents_newly_covered`` and ``residents_no_longer_covered``
    come from it; otherwise ``residents_newly_covered`` is the drop in uncovered residents
    where both reports give it.
    """
    key = ["community_id", "rule_id"]
    keep = list(GAPS_COLUMNS)
    b = before[[c for c in keep if c in before]].assign(_in_b=True)
    a = after[[c for c in keep if c in after]].assign(_in_a=True)
    m = b.merge(a, on=key, how="outer", suffixes=(f"_{before_label}", f"_{after_label}"), sort=False)
    for c in ("community_name", "facility_type", "threshold_min"):
        m[c] = m[f"{c}_{after_label}"].fillna(m[f"{c}_{before_label}"])
        m = m.drop(columns=[f"{c}_{before_label}", f"{c}_{after_label}"])
    ub = m[f"residents_uncovered_{before_label}"]
    ua = m[f"residents_uncovered_{after_label}"]
    if newly is not None:
        nk = newly.assign(community_id=newly["community_id"].astype(str), rule_id=newly["rule_id"].astype(str))
        m = m.assign(community_id=m["community_id"].astype(str), rule_id=m["rule_id"].astype(str)).merge(
            nk, on=key, how="left", sort=False
        )
        m["residents_newly_covered"] = m["residents_newly_covered"].fillna(0.0)
        m["residents_no_longer_covered"] = m["residents_no_longer_covered"].fillna(0.0)
    else:
        m["residents_newly_covered"] = (ub - ua).where(ub.notna() & ua.notna())
        m["residents_no_longer_covered"] = np.nan
    m["status_changed"] = m[f"status_{before_label}"].fillna("") != m[f"status_{after_label}"].fillna("")
    # a row of one report only (another rulebook or community set) is not a change of status
    only_a = m["_in_b"].isna() & m["_in_a"].notna()
    only_b = m["_in_b"].notna() & m["_in_a"].isna()
    m.loc[only_a | only_b, "status_changed"] = False
    m["change"] = np.select(
        [
            only_b,
            only_a,
            ~m["status_changed"],
            m[f"status_{after_label}"] == "ok",
            m[f"status_{before_label}"] == "ok",
        ],
        [f"only in {before_label}", f"only in {after_label}", "unchanged", "now ok", "no longer ok"],
        default="changed",
    )
    cols = [
        "community_id",
        "community_name",
        "rule_id",
        "facility_type",
        "threshold_min",
        f"status_{before_label}",
        f"status_{after_label}",
        "change",
        f"covered_share_{before_label}",
        f"covered_share_{after_label}",
        "residents_newly_covered",
        "residents_no_longer_covered",
        "status_changed",
    ]
    return m[cols]


def gaps_file(run: str | Path) -> Path:
    """The ``gaps.csv`` of a run: the file itself, or the one inside a run folder."""
    p = Path(run)
    if p.is_file():
        return p
    if not p.exists():
        raise InputError("not found; expected a run folder (holding gaps.csv) or a gaps.csv", path=str(p))
    if not (p / "gaps.csv").is_file():
        raise InputError("no gaps.csv in this run folder", path=str(p))
    return p / "gaps.csv"


def compare_runs(before_dir: str | Path, after_dir: str | Path) -> pd.DataFrame:
    """Tracking: compare the ``gaps.csv`` of two runs (e.g. two dates, before and after projects).

    Each argument is a run folder or its ``gaps.csv``; a file that is not a gap report
    written by circles is refused with a message naming it and the missing columns.
    """
    frames = []
    for d in (before_dir, after_dir):
        p = gaps_file(d)
        try:
            df = pd.read_csv(p, encoding="utf-8-sig", dtype={"community_id": str, "rule_id": str})
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(
                f"cannot be read as a gaps.csv written by circles ({type(exc).__name__}: {exc})", path=str(p)
            ) from None
        missing = [c for c in GAPS_COLUMNS if c not in df.columns]
        if missing:
            raise InputError(
                f"not a gaps.csv written by circles: no column {', '.join(repr(c) for c in missing)} "
                f"(columns: {', '.join(map(str, df.columns[:8]))}{' …' if len(df.columns) > 8 else ''})",
                path=str(p),
                field=missing[0],
            )
        frames.append(df)
    _check_comparable(frames[0], frames[1], gaps_file(before_dir), gaps_file(after_dir))
    return compare_gaps(frames[0], frames[1])


def _check_comparable(before: pd.DataFrame, after: pd.DataFrame, pb: Path, pa: Path) -> None:
    """Refuse two gap reports without a (community, rule) row in common; log what only one holds."""
    key = ["community_id", "rule_id"]
    kb = set(map(tuple, before[key].astype(str).to_numpy()))
    ka = set(map(tuple, after[key].astype(str).to_numpy()))
    rules_b, rules_a = set(before["rule_id"].astype(str)), set(after["rule_id"].astype(str))
    comms_b, comms_a = set(before["community_id"].astype(str)), set(after["community_id"].astype(str))
    if not kb & ka:
        why = []
        if not rules_b & rules_a:
            why.append(f"no rule in common ({_few(rules_b)} against {_few(rules_a)}: other rulebooks)")
        if not comms_b & comms_a:
            why.append(f"no community in common ({_few(comms_b)} against {_few(comms_a)})")
        raise InputError(
            f"cannot be compared with {pb}: the two gap reports share no community × rule row"
            + (f": {'; '.join(why)}" if why else "")
            + "; compare runs of the same communities under the same rules",
            path=str(pa),
        )
    if kb != ka:
        log.warning(
            "%s and %s: %d community × rule row(s) only in the first and %d only in the second "
            "(rules only in one: %s; communities only in one: %s), listed as 'only in …', not as changes",
            pb,
            pa,
            len(kb - ka),
            len(ka - kb),
            _few(rules_b ^ rules_a) or "none",
            _few(comms_b ^ comms_a) or "none",
        )


def _few(values: set[str], n: int = 4) -> str:
    shown = sorted(values)[:n]
    return ", ".join(shown) + (f" … ({len(values)} in all)" if len(values) > n else "")


def difference_layer(before, after) -> gpd.GeoDataFrame:
    """Resident points whose coverage changes between two results, per rule (EPSG:4326).

    ``change`` is ``newly covered`` or ``no longer covered``; ``rule_id`` and the minutes
    before and after are given.
    """
    rows = []
    rb = after.rulebook
    rb_before = before.rulebook
    b = before.residents.set_index("point_id")
    a = after.residents.set_index("point_id")
    common = a.index.intersection(b.index)
    for rule in rb.rules:
        t = rule.facility_type
        limit = rb.threshold_m(rule)
        db = b.loc[common, f"dist_{t}"].fillna(np.inf).to_numpy()
        da = a.loc[common, f"dist_{t}"].fillna(np.inf).to_numpy()
        for mask, label in (
            ((db > limit) & (da <= limit), "newly covered"),
            ((db <= limit) & (da > limit), "no longer covered"),
        ):
            for pid, m0, m1 in zip(common[mask], db[mask], da[mask], strict=True):
                rows.append(
                    {
                        "point_id": pid,
                        "community_id": a.loc[pid, "community_id"],
                        "rule_id": rule.id,
                        "change": label,
                        "population": round(float(a.loc[pid, "population"]), 2),
                        "minutes_before": None if not np.isfinite(m0) else round(m0 / rb_before.speed_of(rule), 2),
                        "minutes_after": None if not np.isfinite(m1) else round(m1 / rb.speed_of(rule), 2),
                        "geometry": a.loc[pid, "geometry"],
                    }
                )
    gdf = gpd.GeoDataFrame(
        rows,
        columns=[
            "point_id",
            "community_id",
            "rule_id",
            "change",
            "population",
            "minutes_before",
            "minutes_after",
            "geometry",
        ],
        geometry="geometry",
        crs=after.residents.crs,
    )
    return gdf.to_crs("EPSG:4326")


def newly_covered(diff: gpd.GeoDataFrame) -> pd.DataFrame:
    """Residents newly covered and no longer covered per community × rule (from :func:`difference_layer`)."""
    cols = ["community_id", "rule_id", "residents_newly_covered", "residents_no_longer_covered"]
    if not len(diff):
        return pd.DataFrame(columns=cols)
    d = pd.DataFrame(
        {
            "community_id": diff["community_id"].astype(str),
            "rule_id": diff["rule_id"].astype(str),
            "newly": np.where(diff["change"] == "newly covered", diff["population"], 0.0),
            "lost": np.where(diff["change"] == "no longer covered", diff["population"], 0.0),
        }
    )
    g = d.groupby(["community_id", "rule_id"], sort=True)[["newly", "lost"]].sum().reset_index()
    g.columns = cols
    g[cols[2:]] = g[cols[2:]].round(1)
    return g


def planned_facilities(
    scenario: gpd.GeoDataFrame, now, later, diff: gpd.GeoDataFrame, lang: str = "zh"
) -> pd.DataFrame:
    """One row per scenario row: its attachment to the street network and its effect.

    Parameters
    ----------
    scenario : GeoDataFrame
        The scenario rows.
    now, later : circles.pipeline.Result
        Today and under the scenario.
    diff : GeoDataFrame
        From :func:`difference_layer`.
    lang : {"zh", "en"}
        Language of the warnings.

    Returns
    -------
    DataFrame
        ``id``, ``action``, ``facility_type``, ``name``, ``attach_m`` (distance from the facility
        to the street walking starts from), ``placed``, ``residents_newly_covered`` (by a new
        facility: residents newly within the threshold of its type's first rule whose nearest
        facility it is), ``residents_no_longer_covered`` (by a removal) and ``warning`` (more than
        :data:`circles._labels.ATTACH_WARN_M` metres from its street, not attached at all, or
        covering nobody new).
    """
    from ._labels import ATTACH_WARN_M, MAP_LABELS

    ml = MAP_LABELS[lang]
    rb = later.rulebook
    first: dict[str, str] = {}
    for r in rb.rules:
        first.setdefault(r.facility_type, r.id)
    fac_after = later.facilities.assign(_id=later.facilities["id"].astype(str)).set_index("_id")
    fac_now = now.facilities.assign(_id=now.facilities["id"].astype(str)).set_index("_id")
    res_after = later.residents
    rows = []
    for row in scenario.itertuples(index=False):
        fid, action = str(row.id), str(row.action)
        src = fac_after if action != "remove" else fac_now
        f = src.loc[fid] if fid in src.index else None
        if isinstance(f, pd.DataFrame):
            f = f.iloc[0]
        ftype = str(f["facility_type"]) if f is not None else str(getattr(row, "facility_type", "") or "")
        placed = bool(f["placed"]) if f is not None and "placed" in f else False
        snap = float(f["snap_m"]) if f is not None and "snap_m" in f and pd.notna(f["snap_m"]) else np.nan
        newly = lost = 0.0
        rid = first.get(ftype)
        if rid is not None and len(diff):
            mine = diff[diff["rule_id"] == rid]
            if action == "add" and f"nearest_{ftype}" in res_after:
                served = set(res_after.loc[res_after[f"nearest_{ftype}"].astype(str) == fid, "point_id"])
                newly = float(
                    mine.loc[mine["point_id"].isin(served) & (mine["change"] == "newly covered"), "population"].sum()
                )
            elif action == "remove":
                lost = float(mine.loc[mine["change"] == "no longer covered", "population"].sum())
        warn = []
        if action == "add":
            if not placed:
                why = str(f["set_aside_reason"]) if f is not None and "set_aside_reason" in f else ""
                warn.append(ml["not_placed"].format(why=why or "—"))
            elif np.isfinite(snap) and snap > ATTACH_WARN_M:
                warn.append(ml["attach_warn"].format(m=f"{snap:.0f}", limit=f"{ATTACH_WARN_M:.0f}"))
            if placed and newly <= 0:
                warn.append(ml["no_effect"])
        name = getattr(row, "name", None)
        if (not isinstance(name, str) or not name) and f is not None:
            name = f.get("name", "")
        rows.append(
            {
                "id": fid,
                "action": action,
                "facility_type": ftype,
                "name": name if isinstance(name, str) else "",
                "attach_m": round(snap, 1) if np.isfinite(snap) else np.nan,
                "placed": placed,
                "residents_newly_covered": round(newly, 1),
                "residents_no_longer_covered": round(lost, 1),
                "warning": "; ".join(warn),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "action",
            "facility_type",
            "name",
            "attach_m",
            "placed",
            "residents_newly_covered",
            "residents_no_longer_covered",
            "warning",
        ],
    )


def difference_map(  # noqa: PLR0913 — moves into mapping in issue 21 by the meeting-map work
    before,
    after,
    diff: gpd.GeoDataFrame,
    scenario: gpd.GeoDataFrame,
    *,
    lang: str = "zh",
    offline: bool = True,
    comparison: pd.DataFrame | None = None,
    planned: pd.DataFrame | None = None,
    scenario_name: str = "",
):
    """The what-if map (drawn by :func:`circles.mapping.whatif_map` from the data made here).

    Parameters
    ----------
    before, after : circles.pipeline.Result
        Today and under the scenario.
    diff : GeoDataFrame
        From :func:`difference_layer`.
    scenario : GeoDataFrame
        The scenario rows (:func:`load_scenario`).
    lang : {"zh", "en"}
    offline : bool
    comparison, planned : DataFrame, optional
        From :func:`compare_gaps` and :func:`planned_facilities` (computed when not given).
    scenario_name : str
        Shown in the title (the scenario file's name).

    Returns
    -------
    folium.Map
    """
    from . import mapping

    if comparison is None:
        comparison = compare_gaps(before.gaps, after.gaps, "current", "scenario", newly=newly_covered(diff))
    if planned is None:
        planned = planned_facilities(scenario, before, after, diff, lang)
    return mapping.whatif_map(
        before,
        after,
        diff,
        planned_points(scenario, before, planned),
        comparison=comparison,
        planned=planned,
        lang=lang,
        offline=offline,
        scenario_name=scenario_name,
    )


def planned_points(scenario: gpd.GeoDataFrame, before, planned: pd.DataFrame) -> list:
    """Where each scenario row is drawn (a WGS-84 point: its own geometry, or for a removal or a
    resize the existing facility's), aligned with ``planned``; None where it has no location."""
    known = before.facilities.to_crs("EPSG:4326").assign(_id=lambda f: f["id"].astype(str)).set_index("_id")
    out: list = []
    for row, _pl in zip(scenario.itertuples(index=False), planned.itertuples(index=False), strict=True):
        geom = row.geometry if row.geometry is not None and not row.geometry.is_empty else None
        from_scenario = geom is not None
        if geom is None and str(row.id) in known.index:
            geom = known.loc[str(row.id), "geometry"]
            if isinstance(geom, gpd.GeoSeries):
                geom = geom.iloc[0]
        if geom is None:
            out.append(None)
            continue
        pt = geom.representative_point() if geom.geom_type != "Point" else geom
        if from_scenario and scenario.crs is not None and not scenario.crs.equals("EPSG:4326"):
            pt = gpd.GeoSeries([pt], crs=scenario.crs).to_crs("EPSG:4326").iloc[0]
        out.append(pt)
    return out


def keep_surveyed(later, surveyed: set[str], target_share: float = 1.0, present: set[str] | None = None):
    """``later`` with its gaps (and ledger) computed with the surveyed set ``surveyed`` (today's):
    a planned facility of a type nobody surveyed never turns absence elsewhere into gaps."""
    import dataclasses

    from .gaps import compute_gaps
    from .ledger import build_ledger

    later_present = set(later.access.facilities["facility_type"].astype(str)) if later.access is not None else set()
    if set(later.surveyed) == set(surveyed) and (present is None or later_present == set(present)):
        return later
    gaps = compute_gaps(
        later.communities, later.access, later.rulebook, set(surveyed), target_share=target_share, present=present
    )
    ledger = build_ledger(gaps, later.communities, later.rulebook)
    return dataclasses.replace(later, gaps=gaps, ledger=ledger, surveyed=set(surveyed))


def run_whatif(  # noqa: PLR0913 — the scenario's own options besides the analysis keywords; not reshaped in issue 21
    scenario_path: str | Path,
    out_dir: str | Path,
    *,
    boundaries=None,
    facilities=None,
    network=None,
    buildings=None,
    surveyed=(),
    offline: bool = True,
    lang: str = "zh",
    community_maps="auto",
    **analyse_kw,
) -> tuple[dict[str, Path], pd.DataFrame]:
    """Analyse the current facilities and the scenario, write both and their comparison.

    The scenario is judged with today's surveyed set (the types the current input speaks
    about): a planned facility of a type nobody surveyed shows what it reaches but never turns
    the rest of the city from ``no_data`` into ``gap``.

    Writes ``current/`` and ``scenario/`` (the full outputs of each), ``comparison.csv`` (per
    community × rule: statuses and covered shares before and after, residents newly covered and
    no longer covered), ``planned_facilities.csv`` (each scenario row: its distance to its
    street, its effect and warnings), ``difference.geojson`` (residents whose coverage changes,
    per rule) and ``whatif_map.html`` (in ``lang``). Returns the paths and the comparison table.
    """
    from . import demo, pipeline
    from .export import write_geojson
    from .mapping import save_map

    out = Path(out_dir)
    load_scenario(scenario_path, None)  # the file's own problems, before the work
    now = pipeline.analyse(boundaries, facilities, network, buildings=buildings, surveyed=surveyed, **analyse_kw)
    scenario = load_scenario(scenario_path, now.rulebook.facility_types)
    fac_now = now.facilities.to_crs("EPSG:4326")
    base_cols = [
        c for c in ("id", "facility_type", "name", "source", "osm_element", "capacity", "size_m2") if c in fac_now
    ]
    planned = apply_scenario(
        gpd.GeoDataFrame(fac_now[base_cols], geometry=fac_now.geometry, crs="EPSG:4326"),
        scenario,
        path=str(scenario_path),
    )
    if boundaries is None and network is None:
        boundaries, buildings = demo.DEMO_BOUNDARIES, demo.DEMO_BUILDINGS
    later = pipeline.analyse(
        boundaries, planned, now.network, buildings=buildings, surveyed=sorted(now.surveyed), **analyse_kw
    )
    # the surveyed set stays that of the current run: a removal shows as a gap, not no_data, and
    # a planned facility of an unsurveyed type creates no gaps
    # and so does the evidence of presence: a planned facility of a type with none today is no survey
    present = set(now.access.facilities["facility_type"].astype(str)) if now.access is not None else None
    later = keep_surveyed(later, now.surveyed, float(analyse_kw.get("target_share", 1.0)), present=present)
    pipeline.write_outputs(now, out / "current", offline=offline, lang=lang, community_maps=community_maps)
    pipeline.write_outputs(later, out / "scenario", offline=offline, lang=lang, community_maps=community_maps)
    diff = difference_layer(now, later)
    write_geojson(diff, out / "difference.geojson")
    comp = compare_gaps(now.gaps, later.gaps, "current", "scenario", newly=newly_covered(diff))
    write_csv(comp, out / "comparison.csv")
    table = planned_facilities(scenario, now, later, diff, lang)
    write_csv(table, out / "planned_facilities.csv")
    for w in table.loc[table["warning"] != "", ["id", "warning"]].itertuples(index=False):
        log.warning("planned facility %s: %s", w.id, w.warning)
    m = difference_map(
        now,
        later,
        diff,
        scenario,
        lang=lang,
        offline=offline,
        comparison=comp,
        planned=table,
        scenario_name=Path(scenario_path).name,
    )
    save_map(m, out / "whatif_map.html", offline=offline)
    log.info(
        "what-if: %d status changes, %d resident points change coverage", int(comp["status_changed"].sum()), len(diff)
    )
    return (
        {
            "comparison": out / "comparison.csv",
            "planned": out / "planned_facilities.csv",
            "difference": out / "difference.geojson",
            "map": out / "whatif_map.html",
            "current": out / "current",
            "scenario": out / "scenario",
        },
        comp,
    )
