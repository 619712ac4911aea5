"""What-if scenarios and tracking: apply planned projects to the facilities and compare.

A scenario file has the facilities schema plus ``action``: ``add`` (a new facility, new
id), ``remove`` (an existing id) or ``resize`` (an existing id; new ``size_m2`` and/or
``capacity``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from ._sheets import write_csv
from .errors import InputError
from .load import read_vector, to_wgs84

if TYPE_CHECKING:  # pragma: no cover
    from branca.element import Figure

log = logging.getLogger(__name__)

ACTIONS = ("add", "remove", "resize")


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
                for extra in ("capacity", "size_m2"):
                    v = getattr(row, extra, None)
                    if v is not None and not (isinstance(v, float) and np.isnan(v)):
                        fac.loc[fac["id"].astype(str) == fid, extra] = v
    return gpd.GeoDataFrame(fac.reset_index(drop=True), geometry="geometry", crs=facilities.crs)


def compare_gaps(
    before: pd.DataFrame, after: pd.DataFrame, before_label: str = "before", after_label: str = "after"
) -> pd.DataFrame:
    """Per community × rule: statuses and coverage before and after, residents newly covered.

    Rows present in only one report are kept (``status`` empty on the other side).
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
    m["residents_newly_covered"] = (ub - ua).where(ub.notna() & ua.notna())
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


def difference_map(before, after, diff: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame):
    """A folium map of the scenario: changed residents per rule and the facilities acted on."""
    import folium

    from ._labels import ATTRIBUTION

    comm = after.communities.to_crs("EPSG:4326")
    minx, miny, maxx, maxy = comm.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15, tiles=None, control_scale=True)
    cast("Figure", m.get_root()).html.add_child(
        folium.Element(
            f'<div style="position:fixed;bottom:8px;right:8px;z-index:9999;background:#fff;font:11px sans-serif;'
            f'padding:2px 4px">{ATTRIBUTION}</div>'
        )
    )
    folium.GeoJson(
        after.network.edges_gdf().to_crs("EPSG:4326")[["geometry"]],
        name="streets",
        style_function=lambda f: {"color": "#888", "weight": 1},
    ).add_to(m)
    folium.GeoJson(
        comm[["id", "name", "geometry"]],
        name="communities",
        style_function=lambda f: {"color": "#333", "weight": 2, "fillOpacity": 0.03},
        tooltip=folium.GeoJsonTooltip(["name"], labels=False),
    ).add_to(m)
    for rule_id, grp in diff.groupby("rule_id", sort=False):
        fg = folium.FeatureGroup(name=f"{rule_id}: changed residents ({len(grp)})")
        folium.GeoJson(
            grp[["point_id", "change", "minutes_before", "minutes_after", "geometry"]],
            marker=folium.CircleMarker(radius=4, fill=True, fill_opacity=0.9),
            style_function=lambda f: {
                "color": "#1a9850" if f["properties"]["change"] == "newly covered" else "#d73027"
            },
            tooltip=folium.GeoJsonTooltip(["point_id", "change", "minutes_before", "minutes_after"]),
        ).add_to(fg)
        fg.add_to(m)
    acted = scenario[scenario.geometry.notna()] if len(scenario) else scenario
    if len(acted):
        fg = folium.FeatureGroup(name="scenario facilities")
        pts = acted.to_crs("EPSG:4326")
        folium.GeoJson(
            gpd.GeoDataFrame(pts[["id", "action"]], geometry=pts.geometry.representative_point()),
            marker=folium.CircleMarker(radius=8, color="#000", fill=True, fill_color="#7b3294", fill_opacity=1),
            tooltip=folium.GeoJsonTooltip(["id", "action"]),
        ).add_to(fg)
        fg.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


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
    **analyse_kw,
) -> tuple[dict[str, Path], pd.DataFrame]:
    """Analyse the current facilities and the scenario, write both and their comparison.

    Writes ``current/`` and ``scenario/`` (the full outputs of each), ``comparison.csv``,
    ``difference.geojson`` (residents whose coverage changes, per rule) and
    ``whatif_map.html``. Returns the paths and the comparison table.
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
    # the surveyed set stays that of the current run, so a removal shows as a gap, not no_data
    if boundaries is None and network is None:
        boundaries, buildings = demo.DEMO_BOUNDARIES, demo.DEMO_BUILDINGS
    later = pipeline.analyse(
        boundaries, planned, now.network, buildings=buildings, surveyed=sorted(now.surveyed), **analyse_kw
    )
    pipeline.write_outputs(now, out / "current", offline=offline)
    pipeline.write_outputs(later, out / "scenario", offline=offline)
    comp = compare_gaps(now.gaps, later.gaps, "current", "scenario")
    write_csv(comp, out / "comparison.csv")
    diff = difference_layer(now, later)
    write_geojson(diff, out / "difference.geojson")
    save_map(difference_map(now, later, diff, scenario), out / "whatif_map.html", offline=offline)
    log.info(
        "what-if: %d status changes, %d resident points change coverage", int(comp["status_changed"].sum()), len(diff)
    )
    return (
        {
            "comparison": out / "comparison.csv",
            "difference": out / "difference.geojson",
            "map": out / "whatif_map.html",
            "current": out / "current",
            "scenario": out / "scenario",
        },
        comp,
    )
