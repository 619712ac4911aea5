"""The embedded demo: communities, buildings and facilities extracted from a real OSM file.

``build_demo_data`` regenerates ``data/boundaries/communities.geojson``,
``data/buildings.geojson`` and ``data/facilities.geojson`` from ``data/cau_haidian.osm.bz2``
with :func:`circles.extract.extract` (run ``circles demo-data``), so every demo input can be
audited back to an OSM element.

The demo inputs have one home in the repository, the top-level ``data/`` folder; the wheel
ships the same files inside the package as ``circles/data/`` (``pyproject.toml`` maps the
package ``circles.data`` to ``data/``), so an installed ``circles`` runs its demo anywhere.
"""

from __future__ import annotations

from pathlib import Path

from .extract import classify_facility, extract, load_population_config


def _data_dir() -> Path:
    """The demo data folder.

    ``circles/data/`` in an installed wheel, else the repository's top-level ``data/`` (a
    checkout, or an editable install).
    """
    here = Path(__file__).resolve().parent
    packaged = here / "data"
    return packaged if (packaged / "facilities.geojson").exists() else here.parent / "data"


#: Root of the demo data folder.
DATA_DIR = _data_dir()
DEMO_OSM = DATA_DIR / "cau_haidian.osm.bz2"
DEMO_BOUNDARIES = DATA_DIR / "boundaries" / "communities.geojson"
DEMO_FACILITIES = DATA_DIR / "facilities.geojson"
DEMO_BUILDINGS = DATA_DIR / "buildings.geojson"
#: Where :func:`build_demo_data` writes each layer, relative to its output folder.
DEMO_FILE_NAMES = {
    "communities": "boundaries/communities.geojson",
    "buildings": "buildings.geojson",
    "facilities": "facilities.geojson",
}
#: Facility types surveyed in the demo although OSM holds none of them: none. OSM absence is not a survey.
DEMO_SURVEYED: tuple[str, ...] = ()

__all__ = [
    "DATA_DIR",
    "DEMO_BOUNDARIES",
    "DEMO_BUILDINGS",
    "DEMO_FACILITIES",
    "DEMO_FILE_NAMES",
    "DEMO_OSM",
    "DEMO_SURVEYED",
    "build_demo_data",
    "classify_facility",
    "load_population_config",
]


def build_demo_data(osm_path: str | Path = DEMO_OSM, out_dir: str | Path = DATA_DIR) -> dict[str, Path]:
    """Regenerate the demo's communities, buildings and facilities from ``osm_path``.

    The same extraction as ``circles extract`` (:func:`circles.extract.extract`), with the
    demo's file layout (communities in ``boundaries/communities.geojson``).

    Parameters
    ----------
    osm_path : str or Path
        The OSM file (default: the embedded extract).
    out_dir : str or Path
        Output folder (default: :data:`DATA_DIR`, the repository's ``data/``).

    Returns
    -------
    dict of str to Path
        Paths written, by layer (``communities``, ``buildings``, ``facilities``).
    """
    return extract(osm_path, out_dir, file_names=DEMO_FILE_NAMES)
