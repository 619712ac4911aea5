"""Turn any OpenStreetMap file into circles inputs: communities, residential buildings, facilities.

``circles extract --osm FILE --out DIR`` (or :func:`extract`) writes three GeoJSON files
(EPSG:4326), each feature traceable to its OSM element:

``communities.geojson``
    Residents'-committee boundaries (``boundary=administrative`` + ``admin_level=10``) and
    named ``landuse=residential`` areas (selectors in ``circles/config/osm.yaml``), with a
    population **estimated** from residential building floor area
    (``circles/config/population.yaml``) and marked ``population_estimated: true`` with the
    method. A boundary only partly in the file is closed with a straight line and says so
    in ``geometry_note``.
``buildings.geojson``
    The residential buildings inside those communities (the homes the population is
    spread over), with storeys and floor area.
``facilities.geojson``
    Every element of a facility type of ``circles/config/facility_types.yaml``, matched by
    tags first and by Chinese name otherwise, one row per (element, type), with the OSM
    element id and all its tags as evidence.

The embedded demo's inputs are this extraction of ``data/cau_haidian.osm.bz2``
(:func:`circles.demo.build_demo_data`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import yaml

from . import _osmium
from ._outputs import _describe_oserror, _disk_full
from .errors import InputError, OutputError
from .rulebook import FacilityType, load_facility_types, selector_matches
from .units import build_units, homes_for_units

log = logging.getLogger(__name__)

#: Output file of each layer, relative to the output folder.
FILE_NAMES: dict[str, str] = {
    "communities": "communities.geojson",
    "buildings": "buildings.geojson",
    "facilities": "facilities.geojson",
}
COMMUNITY_COLUMNS = [
    "id",
    "name",
    "kind",
    "population",
    "households",
    "population_estimated",
    "population_method",
    "area_m2",
    "residential_floor_area_m2",
    "osm_element",
    "geometry_note",
]
BUILDING_COLUMNS = ["id", "name", "building", "levels", "levels_estimated", "footprint_m2", "floor_area_m2"]
FACILITY_COLUMNS = ["id", "name", "facility_type", "source", "osm_element", "match", "osm_tags"]


def load_population_config(path: str | Path | None = None) -> dict[str, Any]:
    """The population-estimation parameters (default ``circles/config/population.yaml``)."""
    if path is None:
        text = resources.files("circles.config").joinpath("population.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InputError("expected a YAML mapping of population parameters", path=str(path))
    return data


# ------------------------------------------------------------------ what an element is
def community_kind(tags: Mapping[str, str]) -> str | None:
    """``residents_committee``, ``residential_compound`` or None, by the selectors of ``osm.yaml``
    (the first kind listed wins when both match)."""
    for kind, selectors in _osmium.load_osm_config().communities:
        if any(selector_matches(s, tags) for s in selectors):
            return kind
    return None


class FacilityClassifier:
    """Facility types of OSM elements, by tags first and Chinese name otherwise.

    Tags decide first. The Chinese name is used only for elements that no tag classifies
    (OSM in China often carries just a building and a name) and that carry none of the
    ``name_match_veto_keys`` of ``circles/config/osm.yaml`` (transport stops, boundaries,
    land use …). Only the types with a selector whose first key the element carries are
    tried, so classifying millions of elements stays quick.

    Parameters
    ----------
    ftypes : mapping
        Facility types by id (:func:`circles.rulebook.load_facility_types`).
    """

    def __init__(self, ftypes: Mapping[str, FacilityType]) -> None:
        self.ftypes = list(ftypes.values())
        self.by_key: dict[str, set[int]] = {}
        for i, ft in enumerate(self.ftypes):
            for sel in ft.osm_tags:
                if sel:
                    self.by_key.setdefault(next(iter(sel)), set()).add(i)
        self.name_rx = [(ft, re.compile(ft.name_regex_zh)) for ft in self.ftypes if ft.name_regex_zh]
        self.veto = _osmium.load_osm_config().name_match_veto_keys

    def __call__(self, tags: Mapping[str, str]) -> list[tuple[str, str]]:
        """(facility type id, reason) pairs for an element with these tags, in type order."""
        out = []
        candidates = {i for k in tags if k in self.by_key for i in self.by_key[k]}
        for i in sorted(candidates):
            ft = self.ftypes[i]
            if ft.matches_tags(tags):
                sel = next(s for s in ft.osm_tags if selector_matches(s, tags))
                out.append((ft.id, "tag " + ";".join(f"{k}={v}" for k, v in sel.items())))
        name = tags.get("name", "") or ""
        if out or not name or any(k in tags for k in self.veto):
            return out
        for ft, rx in self.name_rx:
            if rx.search(name) and not any(selector_matches(s, tags) for s in ft.exclude_tags):
                out.append((ft.id, f"name matches /{ft.name_regex_zh}/"))
        return out


def classify_facility(tags: Mapping[str, str], ftypes: Mapping[str, FacilityType]) -> list[tuple[str, str]]:
    """Facility types an OSM element belongs to, each with the reason (see :class:`FacilityClassifier`).

    Parameters
    ----------
    tags : mapping
        The element's OSM tags.
    ftypes : mapping
        Facility types by id (:func:`circles.rulebook.load_facility_types`).

    Returns
    -------
    list of (str, str)
        (facility type id, reason) pairs, in the order of ``ftypes``.
    """
    return FacilityClassifier(ftypes)(tags)


def _home_test(cfg: Mapping[str, Any]) -> Callable[[Mapping[str, str]], bool]:
    """Is an element a residential building candidate (``population.yaml``)?"""
    values = frozenset(cfg["residential_building_values"])
    non_res = tuple(cfg["non_residential_keys"])

    def is_home(tags: Mapping[str, str]) -> bool:
        return tags.get("building") in values and not any(k in tags for k in non_res)

    return is_home


def _looked_for_communities() -> str:
    kinds = _osmium.load_osm_config().communities
    return "; ".join(
        f"{kind}: " + " or ".join("+".join(f"{k}={v}" for k, v in s.items()) for s in sels) for kind, sels in kinds
    )


# ------------------------------------------------------------------ layers
@dataclass
class OsmLayers:
    """The three layers extracted from one OSM file (EPSG:4326), and what was missing."""

    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    messages: list[str] = field(default_factory=list)


def _feature_keys(ftypes: Mapping[str, FacilityType]) -> set[str]:
    keys = {"name", "building"}
    for _, selectors in _osmium.load_osm_config().communities:
        for s in selectors:
            keys.update(s)
    for ft in ftypes.values():
        for s in ft.osm_tags:
            keys.update(s)
    return keys


def read_osm_layers(
    osm_path: str | Path,
    *,
    facility_types: Mapping[str, FacilityType] | None = None,
    population: Mapping[str, Any] | None = None,
    units: str = "communities",
) -> OsmLayers:
    """Communities, residential buildings and facilities of an OSM file, as GeoDataFrames.

    Parameters
    ----------
    osm_path : str or Path
        ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml`` or ``.pbf`` file.
    facility_types : mapping, optional
        Facility types by id; default ``circles/config/facility_types.yaml``.
    population : mapping, optional
        Population-estimation parameters; default ``circles/config/population.yaml``.
    units : str
        ``communities`` (OSM's), or generated units for files without them: ``residential``,
        ``blocks`` or ``hex`` (:mod:`circles.units`).

    Returns
    -------
    OsmLayers
        Empty layers are empty GeoDataFrames, each explained in ``messages``.
    """
    ftypes = facility_types if facility_types is not None else load_facility_types()
    cfg = population if population is not None else load_population_config()

    classify = FacilityClassifier(ftypes)
    is_home = _home_test(cfg)

    generated = units != "communities"

    def keep(tags: Mapping[str, str]) -> bool:
        areas = generated and tags.get("landuse") == "residential"  # homes of generated units
        return bool(community_kind(tags) or is_home(tags) or classify(tags) or areas)

    feats = _osmium.read_features(osm_path, keep, keys=_feature_keys(ftypes) | ({"landuse"} if generated else set()))
    messages: list[str] = []
    if units == "communities":
        comms = _communities(feats)
    else:
        comms = build_units(units, osm_path, homes_for_units(_home_candidates(feats, is_home), feats), feats)
    if comms.empty:
        messages.append(
            f"no community in this file (looked for {_looked_for_communities()}): no communities.geojson and no "
            "buildings.geojson; bring your own community boundaries (--boundaries)"
        )
        bld = _empty(BUILDING_COLUMNS + ["population_estimated"])
    else:
        comms, bld = _estimate_population(comms, _home_candidates(feats, is_home), cfg, messages)
    fac = _facilities(feats, classify)
    if fac.empty:
        messages.append(
            "no facility of any type of circles/config/facility_types.yaml in this file (looked for their OSM tags "
            "and Chinese names): no facilities.geojson"
        )
    return OsmLayers(comms, bld, fac, messages)


def _empty(columns: Sequence[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:4326")


def _communities(feats: Sequence[_osmium.OsmFeature]) -> gpd.GeoDataFrame:
    rows = []
    for f in feats:
        kind = community_kind(f.tags)
        if kind is None or f.element == "node":
            continue
        if f.geometry.geom_type not in ("Polygon", "MultiPolygon"):
            # boundary member ways often carry the boundary's tags themselves: not worth a warning
            level = logging.INFO if f.element == "way" and "boundary" in f.tags else logging.WARNING
            log.log(
                level, "%s/%s (%s) has no closed area in the file; skipped", f.element, f.osm_id, f.tags.get("name")
            )
            continue
        note = ""
        if f.missing_members:
            missing = ", ".join(map(str, f.missing_members))
            if f.ring_closed_by_line:
                note = (
                    f"partial boundary: member way(s) {missing} are not in the extract; "
                    "the open ring was closed with a straight line"
                )
            else:
                note = f"partial area: member way(s) {missing} are not in the extract; the area is made of the others"
        elif f.missing_nodes:
            note = (
                f"partial area: {f.missing_nodes} of its nodes are not in the extract; the outline joins the nodes "
                "present"
            )
        rows.append(
            {
                "id": f"{f.element}/{f.osm_id}",
                "name": f.tags.get("name"),
                "kind": kind,
                "osm_element": f"{f.element}/{f.osm_id}",
                "geometry_note": note,
                "geometry": f.geometry,
            }
        )
    if not rows:
        return _empty(["id", "name", "kind", "osm_element", "geometry_note"])
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").sort_values("id").reset_index(drop=True)


def _levels(tags: Mapping[str, str], cfg: Mapping[str, Any]) -> tuple[float, bool]:
    raw = tags.get("building:levels")
    if raw:
        try:
            v = float(str(raw).split(";")[0])
            if v > 0:
                return v, False
        except ValueError:
            pass
    dl = cfg["default_levels"]
    return float(dl.get(tags.get("building"), dl["default"])), True


def _home_candidates(
    feats: Sequence[_osmium.OsmFeature], is_home: Callable[[Mapping[str, str]], bool]
) -> gpd.GeoDataFrame:
    rows = [
        (f.element, f.osm_id, f.tags, f.geometry)
        for f in feats
        if is_home(f.tags) and f.geometry.geom_type in ("Polygon", "MultiPolygon") and not f.ring_closed_by_line
    ]
    return gpd.GeoDataFrame(
        {"osm_element": [r[0] for r in rows], "osm_id": [r[1] for r in rows], "tags": [r[2] for r in rows]},
        geometry=[r[3] for r in rows],
        crs="EPSG:4326",
    )


def _estimate_population(
    comms: gpd.GeoDataFrame, bld: gpd.GeoDataFrame, cfg: Mapping[str, Any], messages: list[str]
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Homes (candidates inside a community) and each community's estimated population.

    Population = residential floor area (footprint × storeys) ÷ floor area per person;
    communities without a residential building get the mean density of the others.
    """
    utm = comms.estimate_utm_crs()
    bld = bld.copy()
    bld_p = bld.to_crs(utm)
    lv = [_levels(t, cfg) for t in bld["tags"]]
    bld["levels"] = [v for v, _ in lv]
    bld["levels_estimated"] = [e for _, e in lv]
    bld["footprint_m2"] = bld_p.area.round(1)
    bld["floor_area_m2"] = (bld["footprint_m2"] * bld["levels"]).round(1)
    bld["id"] = [f"{e}/{i}" for e, i in zip(bld["osm_element"], bld["osm_id"], strict=True)]
    bld["building"] = [t.get("building") for t in bld["tags"]]
    bld["name"] = [t.get("name", "") for t in bld["tags"]]
    # A building is a home when its centre lies in a community.
    pts = gpd.GeoDataFrame(bld[["id"]], geometry=bld_p.representative_point(), crs=utm)
    comms_p = comms.to_crs(utm)
    inside = gpd.sjoin(pts, comms_p[["id", "geometry"]].rename(columns={"id": "community_id"}), predicate="within")
    bld = bld[bld["id"].isin(inside["id"])]
    bld = bld[BUILDING_COLUMNS + ["geometry"]].sort_values("id").reset_index(drop=True)
    bld["population_estimated"] = True

    per_person = float(cfg["floor_area_per_person_m2"])
    floor_by_comm = inside.merge(bld[["id", "floor_area_m2"]], on="id").groupby("community_id")["floor_area_m2"].sum()
    comms = comms.copy()
    comms["area_m2"] = comms_p.area.round(0).values
    comms["residential_floor_area_m2"] = comms["id"].map(floor_by_comm).fillna(0.0).round(0)
    comms["population"] = (comms["residential_floor_area_m2"] / per_person).round(0)
    has = comms["population"] > 0
    density = comms.loc[has, "population"].sum() / comms.loc[has, "area_m2"].sum() if has.any() else 0.0
    comms.loc[~has, "population"] = (comms.loc[~has, "area_m2"] * density).round(0)
    comms["households"] = (comms["population"] / float(cfg["persons_per_household"])).round(0)
    comms["population_estimated"] = True
    comms["population_method"] = np.where(
        has,
        f"residential floor area / {per_person} m² per person",
        f"no residential building in OSM: area × mean density of the other communities ({density * 1e4:.0f} per ha)",
    )
    if not has.any():
        comms["population_method"] = "no residential building in OSM in any community: population unknown (0)"
        messages.append(
            "no residential building inside any community: populations could not be estimated and are 0; "
            "put real populations in communities.geojson before a run"
        )
    comms["population"] = comms["population"].astype(int)
    comms["households"] = comms["households"].astype(int)
    return comms[COMMUNITY_COLUMNS + ["geometry"]], bld


def _facilities(feats: Sequence[_osmium.OsmFeature], classify: FacilityClassifier) -> gpd.GeoDataFrame:
    rows = []
    for f in feats:
        matches = classify(f.tags)
        if not matches:
            continue
        if f.ring_closed_by_line:
            log.warning("%s/%s matches %s but has no closed area in the file; skipped", f.element, f.osm_id, matches)
            continue
        for ftype, reason in matches:
            rows.append(
                {
                    "id": f"{f.element}/{f.osm_id}:{ftype}",
                    "name": f.tags.get("name", ""),
                    "facility_type": ftype,
                    "source": "OpenStreetMap",
                    "osm_element": f"{f.element}/{f.osm_id}",
                    "match": reason,
                    "osm_tags": json.dumps(f.tags, ensure_ascii=False, sort_keys=True),
                    "geometry": f.geometry,
                }
            )
    if not rows:
        return _empty(FACILITY_COLUMNS)
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    return gdf.sort_values("id").reset_index(drop=True)


# ------------------------------------------------------------------ files
#: What ``extract`` wrote into a folder: ``{"tool": "circles extract", "files": {relative path: [SHA-256, …]}}``.
#: A file is replaced or removed only when its bytes are ones circles wrote (listed here);
#: anything else in the folder is the user's (an edited ``communities.geojson`` too).
MANIFEST = ".circles-extract.json"
_NEW = ".circles-extract-new-"


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write ``gdf`` as GeoJSON with 7 decimals (about 1 cm), deterministically, replacing ``path``."""
    gdf = gdf.copy()
    gdf["geometry"] = gdf.geometry.set_precision(1e-7)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    # written to memory, not to the path: GDAL reads '!' and other characters of a path as its own syntax
    buf = io.BytesIO()
    gdf.to_file(buf, driver="GeoJSON", COORDINATE_PRECISION=7, WRITE_NAME="NO")
    path.write_bytes(buf.getvalue())
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as src:
        while block := src.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _read_manifest(out: Path) -> dict[str, list[str]]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {str(k): [str(h) for h in v] for k, v in files.items() if isinstance(v, list)}


def _write_manifest(out: Path, files: Mapping[str, list[str]]) -> None:
    tmp = out / f"{MANIFEST}.tmp"
    body = {"tool": "circles extract", "files": {k: sorted(set(v)) for k, v in sorted(files.items())}}
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST)


def _foreign(out: Path, names: Iterable[str], manifest: Mapping[str, list[str]], new: Mapping[str, Path]) -> list[str]:
    """The files among ``names`` that exist and that circles did not write (nor would write identically)."""
    foreign = []
    for rel in names:
        target = out / rel
        if target.is_dir():
            foreign.append(rel)
            continue
        if not target.exists():
            continue
        digest = _sha256(target)
        if digest in manifest.get(rel, []):
            continue
        if rel in new and digest == _sha256(new[rel]):
            continue  # the same bytes: nothing of the user's is lost
        foreign.append(rel)
    return foreign


def _refuse_foreign(out: Path, foreign: Sequence[str]) -> None:
    raise OutputError(
        f"{out} holds {', '.join(foreign)}, which circles extract did not write (or which were edited since); "
        "extract replaces only its own files: choose another --out, or pass --force to replace them"
    )


def _commit(out: Path, staged: Mapping[str, Path], stale: Sequence[str], manifest: dict[str, list[str]]) -> None:
    """Move the staged files into place and remove this extract's own stale files, manifest first and last.

    The manifest is first written with the old and the new hashes of every file, so that an
    interrupted commit leaves files that the next extract recognises as its own.
    """
    pending = {k: list(v) for k, v in manifest.items()}
    hashes = {rel: _sha256(p) for rel, p in staged.items()}
    for rel, digest in hashes.items():
        pending[rel] = [*pending.get(rel, []), digest]
    _write_manifest(out, pending)
    for rel, p in staged.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, out / rel)
    for rel in stale:
        with contextlib.suppress(FileNotFoundError):
            (out / rel).unlink()
        log.warning("removed %s left by an earlier extract: this file has none of its layer", out / rel)
    final = {rel: [digest] for rel, digest in hashes.items()}
    _write_manifest(out, final)


def _stale(layers: OsmLayers, out: Path, names: Mapping[str, str], manifest: Mapping[str, list[str]]) -> list[str]:
    """Files of layers this OSM file lacks: this extract's own are removed, the user's kept (with a warning)."""
    stale = []
    for key in ("communities", "buildings", "facilities"):
        rel = names[key]
        if not getattr(layers, key).empty or not (out / rel).is_file():
            continue
        if _sha256(out / rel) in manifest.get(rel, []):
            stale.append(rel)
        else:
            log.warning("kept %s: this OSM file has no %s, and circles extract did not write that file", out / rel, key)
    return stale


def _stage_layers(layers: OsmLayers, names: Mapping[str, str], tmp: Path) -> dict[str, Path]:
    staged: dict[str, Path] = {}
    for key in ("communities", "buildings", "facilities"):
        gdf = getattr(layers, key)
        if gdf.empty:
            continue
        staged[names[key]] = write_geojson(gdf, tmp / f"{len(staged)}.geojson")
    return staged


def _write_layers(layers: OsmLayers, out: Path, names: Mapping[str, str], *, force: bool) -> dict[str, Path]:
    """Write the non-empty layers into ``out`` all at once (see :func:`extract`)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_NEW, dir=out))
    except OSError as exc:
        raise OutputError(f"cannot write the outputs: {_describe_oserror(exc, out)}") from None
    try:
        staged = _stage_layers(layers, names, tmp)
        manifest = _read_manifest(out)
        foreign = _foreign(out, staged, manifest, staged)
        if foreign and not force:
            _refuse_foreign(out, foreign)
        stale = _stale(layers, out, names, manifest)
        _commit(out, staged, stale, manifest)
    except OSError as exc:
        raise OutputError(
            f"writing the outputs failed ({_describe_oserror(exc, exc.filename or out)}); "
            f"the files in {out} are unchanged"
        ) from None
    except OutputError:
        raise
    except Exception as exc:
        if not _disk_full(out):
            raise
        raise OutputError(
            f"writing the outputs failed ({out}: no space left on the device; {type(exc).__name__}); "
            f"the files in {out} are unchanged: free some space and run again"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {key: out / names[key] for key in ("communities", "buildings", "facilities") if names[key] in staged}


def check_extract_target(
    out_dir: str | Path, file_names: Mapping[str, str] | None = None, *, force: bool = False
) -> None:
    """Refuse, before any work, an output folder that is a file or whose files circles did not write.

    Raises
    ------
    OutputError
        Naming the folder and the files.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"the output folder {out} is an existing file; choose a folder for --out")
    if force or not out.is_dir():
        return
    names = {**FILE_NAMES, **(file_names or {})}
    manifest = _read_manifest(out)
    foreign = [
        rel
        for rel in names.values()
        if (out / rel).exists() and ((out / rel).is_dir() or _sha256(out / rel) not in manifest.get(rel, []))
    ]
    if foreign and manifest:
        _refuse_foreign(out, foreign)


def extract(
    osm_path: str | Path,
    out_dir: str | Path,
    *,
    facility_types: Mapping[str, FacilityType] | str | Path | None = None,
    population: Mapping[str, Any] | str | Path | None = None,
    file_names: Mapping[str, str] | None = None,
    units: str = "communities",
    force: bool = False,
) -> dict[str, Path]:
    """Write communities, residential buildings and facilities of an OSM file as GeoJSON.

    The files are written all at once: into a hidden folder inside ``out_dir`` first, then
    moved into place, so a failure (a full disk) leaves the previous files as they were.
    Only files this function wrote are replaced or removed (their SHA-256 is recorded in
    ``out_dir/.circles-extract.json``); any other file of the same name is the user's and is
    refused unless ``force``.

    Parameters
    ----------
    osm_path : str or Path
        ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml`` or ``.pbf`` file.
    out_dir : str or Path
        Output folder (created if needed).
    facility_types : mapping, str or Path, optional
        Facility types (by id, or a YAML file); default ``circles/config/facility_types.yaml``.
    population : mapping, str or Path, optional
        Population-estimation parameters (or a YAML file); default
        ``circles/config/population.yaml``.
    file_names : mapping, optional
        Output file of each layer (``communities``, ``buildings``, ``facilities``) relative
        to ``out_dir``; default :data:`FILE_NAMES`.
    units : str
        ``communities`` (default), ``residential``, ``blocks`` or ``hex`` (see :func:`read_osm_layers`).
    force : bool
        Replace (or, for a layer the file lacks, remove) files of these names that circles
        did not write.

    Returns
    -------
    dict of str to Path
        The files written, by layer. A layer the file does not hold is not written (a file
        of that name left by an earlier extract is removed; one of the user's is kept, and
        refused unless ``force``) and a warning says what was looked for.

    Raises
    ------
    InputError
        If the file is missing or unreadable, or holds no community, building or facility.
    OutputError
        If a file to replace is not one circles wrote, or writing fails (the old files stay).

    Examples
    --------
    >>> from circles.extract import extract
    >>> paths = extract("my_district.osm.pbf", "inputs/")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['buildings', 'communities', 'facilities']
    """
    names = {**FILE_NAMES, **(file_names or {})}
    out = Path(out_dir)
    check_extract_target(out, names, force=force)
    ftypes = (
        facility_types
        if isinstance(facility_types, Mapping)
        else load_facility_types(facility_types)
        if facility_types is not None
        else None
    )
    cfg = population if isinstance(population, Mapping) else load_population_config(population)
    layers = read_osm_layers(osm_path, facility_types=ftypes, population=cfg, units=units)
    if layers.communities.empty and layers.buildings.empty and layers.facilities.empty:
        raise InputError(
            "no community, residential building or facility in this file; " + " ".join(layers.messages),
            path=str(osm_path),
        )
    written = _write_layers(layers, out, names, force=force)
    for key, path in written.items():
        log.info("wrote %s (%d features)", path, len(getattr(layers, key)))
    for message in layers.messages:
        log.warning("%s: %s", osm_path, message)
    return written


__all__ = [
    "FILE_NAMES",
    "MANIFEST",
    "FacilityClassifier",
    "OsmLayers",
    "classify_facility",
    "community_kind",
    "extract",
    "load_population_config",
    "check_extract_target",
    "read_osm_layers",
    "write_geojson",
]
