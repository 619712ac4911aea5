"""Residents' opinions (征求居民意见) collected in the maps, by community and item.

The maps' note mode exports a GeoJSON of points with ``kind`` (``missing`` 缺什么,
``inconvenient`` 哪里不方便, ``site_here`` 建议设在这里), ``text``, ``item`` (a rulebook item id)
and ``community_id``; :func:`read_opinions` checks it and places every note in a community (its
``community_id`` when it names one, else the community it lies in; a note in none is kept with
an empty community), :func:`opinions_table` counts them per community × item (the 居民意见
sheet) and :func:`write_opinions` writes both tables.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ._labels import LIVE_LABELS
from ._sheets import write_csv
from .errors import InputError
from .load import read_vector

KINDS = ("missing", "inconvenient", "site_here")

NOTE_COLUMNS = (
    "id",
    "community_id",
    "community_name",
    "rule_id",
    "item_name",
    "kind",
    "kind_name",
    "text",
    "lon",
    "lat",
    "created",
)


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def read_opinions(path: str | Path, communities: gpd.GeoDataFrame, rulebook, lang: str = "zh") -> pd.DataFrame:
    """The notes of an opinions file, each with its community and item (columns :data:`NOTE_COLUMNS`).

    Raises :class:`circles.errors.InputError` naming the file, the note and the field for a note
    without a point or with an unknown ``kind``.
    """
    gdf = read_vector(path)
    if "kind" not in gdf.columns:
        raise InputError(f"missing field 'kind' (one of {', '.join(KINDS)})", path=str(path), field="kind")
    gdf = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf.set_crs("EPSG:4326")
    comm = communities.to_crs("EPSG:4326").reset_index(drop=True)
    cids = comm["id"].astype(str).to_numpy()
    names = dict(zip(cids, comm["name"].astype(str), strict=True))
    items = {r.id: r for r in rulebook.rules}
    from ._labels import rule_name

    words = LIVE_LABELS[lang]
    rows = []
    for i, (rec, geom) in enumerate(
        zip(gdf.drop(columns=gdf.geometry.name).to_dict("records"), gdf.geometry, strict=True)
    ):
        nid = _text(rec.get("id")) or f"note {i + 1}"
        kind = _text(rec.get("kind"))
        if kind not in KINDS:
            raise InputError(
                f"kind is {kind!r}; expected one of {', '.join(KINDS)}", path=str(path), feature=nid, field="kind"
            )
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            raise InputError("a note needs a point", path=str(path), feature=nid, field="geometry")
        cid = _text(rec.get("community_id"))
        if cid not in names:
            inside = np.flatnonzero(comm.geometry.contains(geom).to_numpy())
            cid = str(cids[inside[0]]) if len(inside) else ""
        rid = _text(rec.get("item"))
        rule = items.get(rid)
        rows.append(
            {
                "id": nid,
                "community_id": cid,
                "community_name": names.get(cid, ""),
                "rule_id": rid if rule is not None else "",
                "item_name": rule_name(rule, lang) if rule is not None else "",
                "kind": kind,
                "kind_name": words[f"note_{kind}"],
                "text": _text(rec.get("text")),
                "lon": round(float(geom.x), 7),
                "lat": round(float(geom.y), 7),
                "created": _text(rec.get("created")),
            }
        )
    df = pd.DataFrame(rows, columns=list(NOTE_COLUMNS))
    return df.sort_values(["community_id", "rule_id", "id"], kind="stable").reset_index(drop=True)


def opinions_table(notes: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Per community × item: how many notes of each kind, and their texts (the 居民意见 sheet)."""
    words = LIVE_LABELS[lang]
    key = ["community_id", "community_name", "rule_id", "item_name"]
    cols = key + [words[f"note_{k}"] for k in KINDS] + ["texts"]
    if not len(notes):
        return pd.DataFrame(columns=cols)
    out = []
    for k, grp in notes.groupby(key, sort=True, dropna=False):
        row = dict(zip(key, k, strict=True))
        for kind in KINDS:
            row[words[f"note_{kind}"]] = int((grp["kind"] == kind).sum())
        row["texts"] = "; ".join(f"{n}：{t}" for n, t in zip(grp["kind_name"], grp["text"], strict=True) if t)
        out.append(row)
    return pd.DataFrame(out, columns=cols)


def write_opinions(notes: pd.DataFrame, out_dir: str | Path, lang: str = "zh") -> dict[str, Path]:
    """Write ``opinions.csv`` (one row per note) and ``opinions_by_community.csv`` (居民意见)."""
    out = Path(out_dir)
    return {
        "opinions": write_csv(notes, out / "opinions.csv"),
        "opinions_by_community": write_csv(opinions_table(notes, lang), out / "opinions_by_community.csv"),
    }
