"""What-if scenarios and tracking: apply planned projects to the facilities and compare.

A scenario file has the facilities schema plus ``action``: ``add`` (a new facility, new
id), ``remove`` (an existing id) or ``resize`` (an existing id; new ``size_m2`` and/or
``capacity``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ._sheets import write_csv
from .errors import InputError
from .load import read_vector, to_wgs84

log = logging.getLogger(__name__)

ACTIONS = ("add", "remove", "resize")
#: The mark of a planned facility on the what-if map, per action.
PLANNED_ICONS = {"add": "★", "remove": "✕", "resize": "↕"}


def _has_size(row) -> bool:
    """True when a scenario row gives a size_m2 or a capacity."""
    for col in ("size_m2", "capacity"):
        v = getattr(row, col, None)
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            continue
        return True
    return False


def load_scenario(path: str | Path, known_types, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a scenario file (GeoJSON/GPKG…; CSV with lon/lat columns is also accepted)."""
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
    for col in ("id", "action"):
        if col not in gdf.columns:
            raise InputError(f"missing field '{col}'", path=path, field=col)
    known = list(known_types)
    for i, row in enumerate(gdf.itertuples(index=False)):
        label = f"'{row.id}' (row {i + 1})"
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
    keep = key + [
        "community_name",
        "facility_type",
        "threshold_min",
        "status",
        "covered_share",
        "residents",
        "residents_uncovered",
    ]
    b = before[[c for c in keep if c in before]].copy()
    a = after[[c for c in keep if c in after]].copy()
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
    m["change"] = np.select(
        [~m["status_changed"], m[f"status_{after_label}"] == "ok", m[f"status_{before_label}"] == "ok"],
        ["unchanged", "now ok", "no longer ok"],
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
    return compare_gaps(frames[0], frames[1])


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


def difference_map(
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
    """The what-if map.

    The results after the scenario (residents coloured as after it), the residents whose
    coverage changes ringed (for the selected item), the planned facilities with their distance
    to the street and warnings, and tables of the changes and the planned facilities; titled,
    with a legend, in ``lang``. Every text from the inputs is escaped.

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
    import html

    from . import mapping
    from ._display import chip
    from ._labels import CHANGE_COLOURS, LABELS, MAP_LABELS, rule_name

    lab, ml = LABELS[lang], MAP_LABELS[lang]
    esc = html.escape
    rb = after.rulebook
    names = {r.id: rule_name(r, lang) for r in rb.rules}
    if comparison is None:
        comparison = compare_gaps(before.gaps, after.gaps, "current", "scenario", newly=newly_covered(diff))
    if planned is None:
        planned = planned_facilities(scenario, before, after, diff, lang)
    marks = []
    if len(diff):
        d = diff.to_crs("EPSG:4326")
        for change, key in (("newly covered", "newly"), ("no longer covered", "lost")):
            sub = d[d["change"] == change]
            if len(sub):
                marks.append(
                    {
                        "name": ml[key],
                        "kind": "ring",
                        "colour": CHANGE_COLOURS[key],
                        "byRule": True,
                        "items": [
                            [round(float(g.y), 6), round(float(g.x), 6), "", "", None, str(r)]
                            for g, r in zip(sub.geometry, sub["rule_id"], strict=True)
                        ],
                    }
                )
    acted = scenario.copy()
    known = before.facilities.to_crs("EPSG:4326").assign(_id=lambda f: f["id"].astype(str)).set_index("_id")
    icons = PLANNED_ICONS
    items = []
    for row, pl in zip(acted.itertuples(index=False), planned.itertuples(index=False), strict=True):
        geom = row.geometry if row.geometry is not None and not row.geometry.is_empty else None
        if geom is None and str(row.id) in known.index:
            geom = known.loc[str(row.id), "geometry"]
            if isinstance(geom, gpd.GeoSeries):
                geom = geom.iloc[0]
        if geom is None:
            continue
        pt = geom.representative_point() if geom.geom_type != "Point" else geom
        if acted.crs is not None and not acted.crs.equals("EPSG:4326") and row.geometry is not None:
            pt = gpd.GeoSeries([pt], crs=acted.crs).to_crs("EPSG:4326").iloc[0]
        ftype = pl.facility_type
        tname = (
            esc(rb.facility_types[ftype].name_zh if lang == "zh" else rb.facility_types[ftype].name_en)
            if ftype in rb.facility_types
            else esc(ftype)
        )
        attach = "" if pd.isna(pl.attach_m) else f"{pl.attach_m:.0f}"
        popup = (
            f"<b>{esc(str(pl.name) or str(pl.id))}</b><table>"
            f"<tr><td>{esc(lab['id'])}</td><td>{esc(str(pl.id))}</td></tr>"
            f"<tr><td>{esc(lab['type'])}</td><td>{tname}</td></tr>"
            f"<tr><td>{esc(ml['planned'])}</td><td>{esc(ml['act_' + pl.action])}</td></tr>"
            f"<tr><td>{esc(ml['attach'])}</td><td>{attach}</td></tr>"
            f"<tr><td>{esc(ml['newly_n'])}</td><td>{pl.residents_newly_covered:g}</td></tr></table>"
            + (f'<div class="circles-warn">{esc(pl.warning)}</div>' if pl.warning else "")
        )
        items.append(
            [round(float(pt.y), 6), round(float(pt.x), 6), icons.get(pl.action, "•"), str(pl.name or pl.id), popup]
        )
    if items:
        marks.append({"name": ml["planned"], "kind": "pin", "colour": CHANGE_COLOURS["add"], "items": items})

    changed = comparison[
        comparison["status_changed"]
        | (comparison["residents_newly_covered"].fillna(0) > 0.5)
        | (comparison.get("residents_no_longer_covered", pd.Series(0.0, index=comparison.index)).fillna(0) > 0.5)
    ]
    trs = []
    for r in changed.itertuples(index=False):
        trs.append(
            f'<tr data-rule="{esc(str(r.rule_id))}"><td>{esc(str(r.community_name))}</td>'
            f"<td>{esc(names.get(str(r.rule_id), str(r.rule_id)))}</td>"
            f"<td>{chip(str(r.status_current), lang) if isinstance(r.status_current, str) else ''} → "
            f"{chip(str(r.status_scenario), lang) if isinstance(r.status_scenario, str) else ''}</td>"
            f'<td class="n">{0 if pd.isna(r.residents_newly_covered) else r.residents_newly_covered:g}</td></tr>'
        )
    changes = (
        f'<table class="circles-changes"><tr><th>{esc(lab["community"])}</th><th>{esc(lab["item"])}</th>'
        f'<th>{esc(ml["before"])} → {esc(ml["after"])}</th><th class="n">{esc(ml["newly_n"])}</th></tr>'
        + "".join(trs)
        + "</table>"
        if trs
        else f"<p>{esc(ml['changes_none'])}</p>"
    )
    ptrs = "".join(
        f"<tr><td>{esc(str(r.name) or str(r.id))}<br><small>{esc(str(r.id))}</small></td>"
        f'<td>{esc(ml["act_" + r.action])}</td><td class="n">{"" if pd.isna(r.attach_m) else f"{r.attach_m:.0f}"}</td>'
        f'<td class="n">{r.residents_newly_covered:g}</td></tr>'
        + (f'<tr><td colspan="4" class="circles-warn">{esc(r.warning)}</td></tr>' if r.warning else "")
        for r in planned.itertuples(index=False)
    )
    planned_html = (
        f'<table class="circles-planned"><tr><th>{esc(lab["name"])}</th><th>{esc(ml["planned"])}</th>'
        f'<th class="n">{esc(ml["attach"])}</th><th class="n">{esc(ml["newly_n"])}</th></tr>{ptrs}</table>'
    )
    gain = changed.groupby("rule_id")["residents_newly_covered"].sum() if len(changed) else pd.Series(dtype=float)
    rule = str(gain.idxmax()) if len(gain) and gain.max() > 0 else None
    if rule is None and len(planned):
        t = planned["facility_type"].iloc[0]
        rule = next((r.id for r in rb.rules if r.facility_type == t), None)
    legend = (
        f'<div class="circles-lh">{esc(ml["whatif_sub"])}</div>'
        f'<div><span class="circles-ring" style="border-color:{CHANGE_COLOURS["newly"]}"></span>'
        f"{esc(ml['newly'])}</div>"
        f'<div><span class="circles-ring" style="border-color:{CHANGE_COLOURS["lost"]}"></span>'
        f"{esc(ml['lost'])}</div>"
        f'<div><span class="circles-sw" style="background:{CHANGE_COLOURS["add"]}"></span>{esc(ml["planned"])}: '
        f"{PLANNED_ICONS['add']} {esc(ml['act_add'])} · {PLANNED_ICONS['remove']} {esc(ml['act_remove'])} · "
        f"{PLANNED_ICONS['resize']} {esc(ml['act_resize'])}</div>"
    )
    title = esc(ml["whatif_title"]) + (
        f" <small>{esc(ml['scenario'])}: {esc(scenario_name)}</small>" if scenario_name else ""
    )
    extra = mapping.Extra(
        title=title,
        legend=legend,
        tabs=[
            {"key": "changes", "label": ml["tab_changes"], "html": changes},
            {"key": "planned", "label": ml["tab_planned"], "html": planned_html},
        ],
        marks=marks,
        rule=rule,
        page_title=ml["whatif_title"],
    )
    return mapping.result_map(after, lang=lang, offline=offline, extra=extra)


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


def run_whatif(
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
