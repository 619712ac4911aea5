"""Every option of a run, declared once.

An option is one field of a frozen dataclass, whose :func:`option` declaration says everything
about it: its default, the range or choices it must lie in, its command-line flag and help,
whether it is a path (resolved against the batch file's folder in a batch) and how
``run_info.json`` records it. Everything else is derived from the declarations:

* the command-line arguments (:func:`add_arguments`) and the options read back from them
  (:func:`from_args`);
* the checks, raising :class:`circles.errors.OptionError` when an object is made (so a
  :class:`RunOptions` in hand is always valid);
* a batch city's options from its YAML mapping (:func:`from_mapping`: keys are the long flags
  with ``_`` for ``-``, paths relative to the batch file);
* the ``options`` record of ``run_info.json`` (:meth:`RunOptions.record`,
  :meth:`OutputOptions.record`).

>>> from circles.options import RunOptions
>>> RunOptions(speed=60).speed
60.0
>>> RunOptions().updated(grid_spacing_m=80).grid_spacing_m
80.0

Adding an option is adding one field (see ``CONTRIBUTING.md``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from .errors import ConfigError, OptionError, check_option

#: Walking searches stop at this many minutes; nearest-facility times beyond it are reported
#: as "none reachable" (no source found: a search limit, not a standard).
DEFAULT_MAX_MINUTES = 60.0
#: Farthest distance in metres from a point to the street it attaches to (circles.reach).
DEFAULT_MAX_ATTACH_M = 250.0
#: Spacing in metres of the resident grid where there are no buildings (circles.residents).
DEFAULT_GRID_SPACING_M = 40.0
#: The network cache folder of the command line.
DEFAULT_CACHE = ".circles_cache"

#: The rulebook profile ``--profile`` may be combined with (the ``rules`` subcommand's default).
_DEFAULT_PROFILE = "complete_community_2020"


@dataclass(frozen=True)
class Option:
    """What one option is, besides its name and default (stored in the field's metadata).

    Attributes
    ----------
    help : str
        The command line's help text.
    flag : str, optional
        The command-line flag (``--grid-spacing``); ``None`` for an option of the API only.
        A batch file names the option by its flag without ``--``, with ``_`` for ``-``.
    kind : {"str", "float", "bool", "list", "path", "rules"}
        How a value is read from the command line or a batch file: ``path`` values (and
        ``rules`` values that name a file) are resolved against the batch file's folder.
    range : tuple, optional
        ``(low, high, low_open, what)``: a number in ``[low, high]`` (``(low, high]`` with
        ``low_open``); ``what`` says what the number means in the error message.
    choices : tuple or callable, optional
        The allowed values (a callable is asked when the parser is made).
    negate : bool
        A ``bool`` option whose flag turns it off (``--no-figures``, ``--online-map``).
    cli_default : object, optional
        The command line's default where it differs from the API's (``None``: the same).
    record : {"value", "str", "text", "sorted"}, optional
        How ``run_info.json`` records the option (``str``: as text, ``None`` kept; ``text``:
        always as text); ``None``: not recorded.
    metavar, dest : str, optional
        As in :meth:`argparse.ArgumentParser.add_argument`.
    group : str
        Options of a group are added to a parser only when asked (``maps``).
    """

    help: str
    flag: str | None = None
    kind: str = "str"
    range: tuple[float, float, bool, str] | None = None
    choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None
    negate: bool = False
    cli_default: Any = None
    record: str | None = None
    metavar: str | None = None
    dest: str | None = None
    group: str = ""

    @property
    def key(self) -> str:
        """The option's name in a batch file and its ``argparse`` destination."""
        if self.dest:
            return self.dest
        assert self.flag is not None  # only options with a flag have a key
        return self.flag[2:].replace("-", "_")


def option(default: Any, **spec: Any) -> Any:
    """A dataclass field declaring an option: ``default`` and the :class:`Option` of ``spec``."""
    return field(default=default, metadata={"option": Option(**spec)})


def path_option(flag: str, help: str, *, record: str | None = "str", **spec: Any) -> Any:
    """An input file or folder (default None): resolved against a batch file's folder.

    ``record`` as in :class:`Option` (default: recorded as text); ``spec``: its other fields.
    """
    return option(None, flag=flag, kind="path", record=record, help=help, **spec)


def number_option(
    default: float | None,
    flag: str | None,
    range: tuple[float, float, bool, str],
    help: str,
    *,
    record: str | None = "value",
) -> Any:
    """A number in ``range`` (see :class:`Option`), recorded as it is unless ``record`` says otherwise."""
    return option(default, flag=flag, kind="float", range=range, record=record, help=help)


def switch_option(default: bool, flag: str, help: str, **spec: Any) -> Any:
    """A true-or-false option, recorded; its flag turns it on (or off with ``negate=True``)."""
    return option(default, flag=flag, kind="bool", record="value", help=help, **spec)


def text_option(flag: str, help: str, **spec: Any) -> Any:
    """A text option (default None); ``spec``: its other :class:`Option` fields."""
    return option(None, flag=flag, help=help, **spec)


T = TypeVar("T")


def declared(cls: type) -> list[tuple[Field, Option]]:
    """The fields of an options class with their :class:`Option`, in declaration order."""
    return [(f, f.metadata["option"]) for f in fields(cls) if "option" in f.metadata]


class _Options:
    """Checks, updates and records shared by the option classes."""

    def __post_init__(self) -> None:
        for f, opt in declared(type(self)):
            value = getattr(self, f.name)
            checked = _check(f.name, value, opt)
            if checked is not value:
                object.__setattr__(self, f.name, checked)

    def updated(self: T, **overrides: Any) -> T:
        """A copy with ``overrides`` (by field name) applied and checked.

        An unknown name raises :class:`OptionError`.
        """
        names = {f.name for f in fields(self)}  # type: ignore[arg-type]  # T is a dataclass
        for name, value in overrides.items():
            if name not in names:
                known = ", ".join(sorted(names))
                raise OptionError(name, value, f"a keyword of {type(self).__name__}: {known}", keyword=True)
        return replace(self, **overrides)  # type: ignore[type-var]  # T is a dataclass

    def record(self) -> dict[str, Any]:
        """The options as ``run_info.json`` reports them."""
        out: dict[str, Any] = {}
        for f, opt in declared(type(self)):
            if opt.record is not None:
                out[f.name] = _recorded(getattr(self, f.name), opt.record)
        return out


def _recorded(value: Any, how: str) -> Any:
    if how == "sorted":
        return sorted(value)
    if how == "str":
        return None if value is None else str(value)
    if how == "text":
        return str(value)
    return value


def _check(name: str, value: Any, opt: Option) -> Any:
    """``value`` checked against ``opt`` (numbers as floats, lists as tuples)."""
    if value is None:
        return value
    if opt.range is not None:
        low, high, low_open, what = opt.range
        return check_option(name, value, low=low, high=high, low_open=low_open, what=what)
    if opt.kind == "list":
        if isinstance(value, str):
            return tuple(_csv_list(value))
        return tuple(value)
    if opt.kind == "bool" and not isinstance(value, bool):
        raise OptionError(name, value, "true or false")
    if isinstance(opt.choices, tuple) and value not in opt.choices:
        raise OptionError(name, value, f"one of {', '.join(opt.choices)}")
    return value


# --------------------------------------------------------------------------------------------
# The options
# --------------------------------------------------------------------------------------------


def profiles() -> list[str]:
    """The shipped rulebook profiles (asked when a parser is made)."""
    from .rulebook import available_profiles

    return available_profiles()


@dataclass(frozen=True)
class Sources(_Options):
    """The three inputs of a run (the embedded demo's when none is given)."""

    boundaries: Any = path_option(
        "--boundaries", "community polygons (GeoJSON/GPKG/SHP) with id, name, population", record=None
    )
    facilities: Any = path_option(
        "--facilities",
        "facilities: a vector file with id, facility_type, name, or a CSV/XLSX "
        "table (Amap/Baidu export, department spreadsheet) with coordinates and a type or category",
        record=None,
    )
    network: Any = path_option(
        "--network",
        "walking network: .osm, .osm.bz2, .osm.gz, .pbf, .graphml, .npz, or 'online' "
        "(OSMnx download around the communities; needs internet)",
        record=None,
    )

    @property
    def demo(self) -> bool:
        """Whether this is the embedded demo (no input given)."""
        return self.boundaries is None and self.facilities is None and self.network is None


@dataclass(frozen=True)
class RunOptions(_Options):
    """The options of the analysis (:func:`circles.pipeline.analyse`), each checked when made.

    The numbers are recorded as checked (floats); a ``profile`` stands for ``rules``.

    Attributes
    ----------
    buildings : path, optional
        Residential buildings (``id``, optional ``floor_area_m2``); without, residents are
        placed on a grid inside each community.
    rules : str or path, optional
        Rulebook profile name or YAML file. Default: the pilot plan's profile (``rugao_2023``)
        when a boundary's name matches a pilot community of ``circles/config/rugao_pilot.yaml``,
        else ``complete_community_2020`` (:func:`circles.ledger.default_rules`).
    departments : path or Departments, optional
        A city's own units for the ledger's 牵头单位 / 责任单位 (schema of
        ``circles/config/departments.yaml``; example ``docs/departments_example.yaml``), for
        every community. Default: the Rugao leading group's units for the Rugao pilot
        communities, the neutral units by role elsewhere.
    surveyed : iterable of str
        Facility types declared surveyed: absence of them is then a gap, not ``no_data``.
    speed : float, optional
        Walking speed (m/min) for every rule instead of each rule's profile.
    target_share : float
        Share of residents within the threshold for ``ok``.
    max_attach_m : float
        Maximum distance from a point to the street it attaches to.
    grid_spacing_m : float
        Spacing of resident grid points where there are no buildings.
    max_minutes : float
        Search limit in minutes (at the fastest speed used).
    cache_dir : path, optional
        Where to cache the built walking network (GraphML).
    crs : str, optional
        CRS of input files that declare none (default: WGS-84 if they look like lon/lat):
        ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:…``.
    facilities_crs : str, optional
        CRS of the facilities only (Amap/Baidu lists are GCJ-02/BD-09); default ``crs``.
        When facilities are taken as WGS-84 but sit systematically off the streets in a way
        the GCJ-02 or BD-09 correction would fix, a warning says so (``Result.warnings``).
    encoding : str, optional
        Encoding of a CSV facility table (default: detected).
    categories : path, optional
        The user's extra category mappings (Amap codes, Baidu tags, Chinese words) for tables.
    district_field : str, optional
        Column of the boundaries naming each community's district (e.g. 街道): indicators are
        then also reported per district.
    pilot_place_check : bool
        A boundary is a pilot community (its plan's figures, rulebook and ledger words) only when
        it is named like one AND lies at the pilot's place (default); ``False`` matches by the
        name alone.
    profile : str, optional
        A shipped rulebook profile, the same as ``rules=NAME``.
    """

    speed: float | None = number_option(
        None,
        "--speed",
        (10.0, 300.0, False, "a walking speed in metres per minute (adults walk about 67 m/min = 1.1 m/s)"),
        "walking speed in m/min for every rule (default: each rule's profile; adult 66.7)",
    )
    target_share: float = number_option(
        1.0,
        "--target-share",
        (0.0, 1.0, True, "the share of residents within the threshold for 'ok'"),
        "share of residents within the threshold for 'ok' (default 1.0)",
    )
    max_attach_m: float = number_option(
        DEFAULT_MAX_ATTACH_M,
        "--max-attach",
        (0.0, 2000.0, True, "the farthest distance in metres from a point to its street"),
        "max distance (m) from a point to its street (default 250)",
    )
    grid_spacing_m: float = number_option(
        DEFAULT_GRID_SPACING_M,
        "--grid-spacing",
        (1.0, 1000.0, False, "the spacing in metres of the resident grid"),
        "resident grid spacing (m) where there are no buildings (default 40)",
    )
    max_minutes: float = number_option(
        DEFAULT_MAX_MINUTES,
        None,
        (0.0, 600.0, True, "the search limit in minutes"),
        "search limit in minutes (at the fastest speed used)",
    )
    rules: str | Path | None = option(
        None,
        flag="--rules",
        kind="rules",
        record="text",
        help="rulebook profile name or YAML file (default: complete_community_2020, or rugao_2023 when a "
        "boundary is a Rugao pilot community); a file may 'extends: <profile>' and override or add rules",
    )
    profile: str | None = text_option(
        "--profile",
        "shipped rulebook profile, same as --rules NAME (complete_community_2020 or "
        "gb50180_2018: the 5/10/15-minute levels, each checked separately)",
        choices=profiles,
    )
    surveyed: tuple[str, ...] = option(
        (),
        flag="--surveyed",
        kind="list",
        record="sorted",
        help="facility types surveyed on the ground, comma-separated: their absence is a gap",
    )
    crs: str | None = text_option(
        "--crs", "CRS of inputs that declare none: wgs84, gcj02 (Amap/Tencent), bd09 (Baidu) or EPSG:…", record="str"
    )
    facilities_crs: str | None = text_option(
        "--facilities-crs", "CRS of the facilities only (e.g. gcj02 for an Amap export); default --crs", record="str"
    )
    encoding: str | None = text_option(
        "--encoding",
        "encoding of a CSV facility table or of a Shapefile's text (default: detected among UTF-8, "
        "UTF-8-BOM, GBK/GB18030)",
        record="str",
    )
    categories: str | Path | None = path_option(
        "--categories", "YAML of extra category mappings (Amap codes, Baidu tags, Chinese words) for tables"
    )
    cache_dir: str | Path | None = path_option(
        "--cache",
        "folder for the cached walking network (default .circles_cache; '' to disable)",
        dest="cache",
        cli_default=DEFAULT_CACHE,
    )
    buildings: str | Path | None = path_option(
        "--buildings", "residential buildings (id, optional floor_area_m2); default: a grid", record=None
    )
    departments: Any = path_option(
        "--departments",
        "YAML of your city's units for the ledger's lead and responsible units (example: "
        "docs/departments_example.yaml); default: neutral units by role (Rugao's for its pilot communities)",
        record=None,
    )
    district_field: str | None = text_option(
        "--district-field",
        "column of the boundaries naming each community's district (e.g. 街道): indicators.csv then "
        "also reports each district",
    )
    pilot_place_check: bool = switch_option(
        True,
        "--no-pilot-place-check",
        "match the pilot plan's communities (Rugao's 孔庙, 迎新, 仙鹤) by their name alone: by default a "
        "boundary is a pilot community only when it also lies at the pilot's place (circles/config/rugao_pilot.yaml)",
        negate=True,
    )
    distance_reading: str | None = text_option(
        "--distance-reading",
        "how rules in minutes are read as distances: life_circle (GB 50180-2018: 5/10/15 minutes as "
        "300/500/1,000 m, the default of the shipped profiles) or speed (minutes x walking speed; --speed implies it)",
        choices=("life_circle", "speed"),
        record="str",
    )
    layer: str | None = text_option(
        "--layer", "the layer of the boundaries file to read, for a file with several (GeoPackage, File Geodatabase)"
    )
    sheet: str | None = text_option(
        "--sheet", "the sheet of a facility workbook (.xlsx) holding the table (default: the first)"
    )
    population_raster: str | Path | None = path_option(
        "--population-raster",
        "a population grid (GeoTIFF: WorldPop, GHSL) summed to the resident points; replaces estimates "
        "(needs pip install 'circles[population]')",
    )
    population_totals: str | Path | None = path_option(
        "--population-totals",
        "counts per 社区 or 街道 (CSV/XLSX: a count column and a column named like a boundary field), "
        "spread over buildings by floor area; real counts win over estimates",
    )
    gates: str | Path | None = path_option(
        "--gates",
        "walled compounds (封闭小区): a gates file (points), or 'osm' for the network file's walls and gates; "
        "residents of a closed compound reach the streets only through its gates",
    )
    survey: str | Path | None = option(
        None,
        kind="path",
        help="a filled ledger (ledger.xlsx, or the output folder holding it) whose 核实结果 answers enter the "
        "analysis (circles.survey): a verified absence makes the type surveyed in that community, a verified "
        "presence a facility, a verified size completes the size check. circles run --ledger sets it",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cache_dir == "":
            object.__setattr__(self, "cache_dir", None)
        if self.profile:
            if self.rules not in (None, _DEFAULT_PROFILE, self.profile):
                raise OptionError("profile", self.profile, f"either --profile or --rules ({self.rules}), not both")
            object.__setattr__(self, "rules", self.profile)


@dataclass(frozen=True)
class OutputOptions(_Options):
    """What :func:`circles.pipeline.write_outputs` writes, and how."""

    lang: str = option(
        "zh",
        flag="--lang",
        choices=("zh", "en"),
        record="value",
        help="language of the maps, figures, report and summary (default zh)",
    )
    offline: bool = switch_option(
        True, "--online-map", "map with online tiles instead of the self-contained offline map", negate=True
    )
    facility_isochrones: bool = switch_option(
        False, "--facility-isochrones", "also write the 5/10/15-minute walking area of every facility"
    )
    figures: bool = switch_option(
        False, "--no-figures", "skip the PNG figures and the printed report.pdf (faster)", negate=True
    )
    table_format: str = option(
        "csv",
        flag="--format",
        dest="table_format",
        choices=("csv", "parquet"),
        record="value",
        help="format of the per-resident table: access.csv (default) or access.parquet for big runs",
    )
    author: str = option(
        "",
        flag="--author",
        record="value",
        help="编制单位: the organisation preparing the figures and report.pdf (printed on every page)",
    )
    community_maps: Any = option(
        "auto",
        flag="--community-maps",
        group="maps",
        metavar="auto|all|none|ID,…",
        help="which communities get their own map in community_maps/ (default auto: all up to 100 communities, "
        "the overview only above; written in parallel)",
    )
    date: str | None = option(None, help="date printed on the figures and the report (ISO; default today)")
    ledger: str | Path | None = path_option(
        "--ledger",
        "last month's filled ledger (ledger.xlsx, or the output folder holding it): every cell people wrote "
        "is carried into the new ledger, items now met are closed (已销号), nothing is dropped",
        metavar="PREVIOUS",
    )
    opinions: str | Path | None = path_option(
        "--opinions",
        "residents' notes exported by the maps (GeoJSON): written per note (opinions.csv), per community "
        "x item (opinions_by_community.csv) and as the ledger's 居民意见 sheet",
    )


@dataclass(frozen=True)
class DaskOptions(_Options):
    """How ``circles run`` runs in partitions on Dask (:func:`circles.distributed.analyse_partitioned`)."""

    dask: str | None = text_option(
        "--dask",
        "run in partitions on Dask, with the same results: local:N (N worker processes on this machine), "
        "a scheduler address (tcp://host:8786) or a scheduler file (scheduler.json)",
        metavar="ADDRESS",
    )
    tile_km: float | None = number_option(
        None,
        "--tile-km",
        (0.0, 10_000.0, True, "a tile side in km"),
        "with --dask and no --district-field: side in km of the square tiles communities are grouped in "
        "(default: four times the distance the walks reach, 18 km with the shipped rules)",
        record=None,
    )


def as_dict(obj: Any) -> dict[str, Any]:
    """The options of ``obj`` by field name (values as they are, not copied)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def build(cls: type[T], options: T | None = None, **overrides: Any) -> T:
    """``options`` (default: the defaults of ``cls``) with ``overrides`` by field name."""
    base = cls() if options is None else options
    return base.updated(**overrides) if overrides else base  # type: ignore[attr-defined]  # an _Options


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def flag_of(name: str) -> str | None:
    """The command-line flag of the option called ``name``.

    ``None`` for an option of the API only; an undeclared name's flag is the name with dashes.
    """
    for cls in (Sources, RunOptions, OutputOptions, DaskOptions):
        for f, opt in declared(cls):
            if f.name == name:
                return opt.flag
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, groups: Iterable[str] = ("",)) -> None:
    """Add the flags of the options of ``cls`` in ``groups`` (default: those of no group) to ``parser``."""
    wanted = set(groups)
    for f, opt in declared(cls):
        if opt.flag is None or opt.group not in wanted:
            continue
        kw: dict[str, Any] = {"help": opt.help, "dest": opt.key}
        if opt.kind == "bool":
            kw["action"] = "store_true"
        else:
            kw["default"] = f.default if opt.cli_default is None else opt.cli_default
            if opt.kind == "float":
                kw["type"] = float
            elif opt.kind == "list":
                kw["type"] = _csv_list
                kw["default"] = []  # the default of every list option: none
            if opt.choices is not None:
                kw["choices"] = list(opt.choices() if callable(opt.choices) else opt.choices)
            if opt.metavar:
                kw["metavar"] = opt.metavar
        parser.add_argument(opt.flag, **kw)


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The options of ``cls`` read from parsed command-line arguments (checked)."""
    values: dict[str, Any] = {}
    for f, opt in declared(cls):
        if opt.flag is None or not hasattr(args, opt.key):
            continue
        value = getattr(args, opt.key)
        values[f.name] = (not value) if opt.negate else value
    return cls(**values)


def cli_namespace(*objects: Any) -> SimpleNamespace:
    """The command-line arguments that give ``objects`` (options instances), by destination."""
    ns = SimpleNamespace()
    for obj in objects:
        for f, opt in declared(type(obj)):
            if opt.flag is None:
                continue
            value = getattr(obj, f.name)
            if opt.negate:
                value = not value
            elif opt.kind == "list":
                value = list(value)
            elif opt.cli_default is not None and value is None:
                value = ""
            setattr(ns, opt.key, value)
    return ns


# --------------------------------------------------------------------------------------------
# Batch files
# --------------------------------------------------------------------------------------------


def batch_keys(*classes: type) -> dict[str, tuple[type, Field, Option]]:
    """Batch-file key -> the class, field and option it sets (options with a flag)."""
    out: dict[str, tuple[type, Field, Option]] = {}
    for cls in classes:
        for f, opt in declared(cls):
            if opt.flag is not None:
                out[opt.key] = (cls, f, opt)
    return out


def _resolve_path(value: Any, base: Path) -> str:
    text = str(value)
    if "://" in text or text == "online":
        return text
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _batch_value(key: str, value: Any, opt: Option, base: Path) -> Any:
    """A batch file's ``value`` for the option ``opt`` as the command line would read it."""
    shown = f"argument {opt.flag}"
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' is true or false, not {value!r}")
        return (not value) if opt.negate else value
    if opt.kind == "list":
        return _csv_list(",".join(str(v) for v in value)) if isinstance(value, list) else _csv_list(str(value))
    if opt.kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{shown}: invalid float value: {str(value)!r}") from None
        return number
    text = str(value)
    choices = opt.choices() if callable(opt.choices) else opt.choices
    if choices is not None and text not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{shown}: invalid choice: {text!r} (choose from {listed})")
    if opt.kind == "path" or (
        opt.kind == "rules" and (text.lower().endswith((".yaml", ".yml")) or (base / text).exists())
    ):
        return _resolve_path(text, base)
    return text


def from_mapping(
    entry: Mapping[str, Any], base: Path, classes: Iterable[type], *, refused: Iterable[str] = ()
) -> dict[type, Any]:
    """The options of each of ``classes`` set by a batch file's mapping.

    The keys are the long flags with ``_`` for ``-``; paths are relative to ``base``; ``None``
    leaves an option at its command-line default.

    Raises
    ------
    ConfigError
        For unknown keys and values the command line would refuse.
    OptionError
        For values out of range.
    """
    classes = list(classes)
    keys = batch_keys(*classes)
    refused = set(refused)
    bad = sorted(k for k in entry if k not in keys or k in refused)
    if bad:
        raise ConfigError(
            f"unknown option(s) {', '.join(bad)}; use circles run options with _ for -"
            f" ({', '.join(sorted(k for k in keys if k not in refused))})"
        )
    values: dict[type, dict[str, Any]] = {cls: {} for cls in classes}
    for cls in classes:  # the command line's defaults
        for f, opt in declared(cls):
            if opt.flag is not None and opt.cli_default is not None:
                values[cls][f.name] = opt.cli_default
            elif opt.negate:
                values[cls][f.name] = True
    for key, value in entry.items():
        cls, f, opt = keys[key]
        if value is None:
            continue
        values[cls][f.name] = _batch_value(key, value, opt, base)
    return {cls: cls(**values[cls]) for cls in classes}
