"""Many cities in one go: ``circles batch cities.yaml --out DIR [--dask ADDRESS]``.

The batch file lists the cities and the options of each (any ``circles run`` option, by its
long name with ``_`` for ``-``; paths relative to the batch file, or fsspec URLs)::

    defaults: {district_field: street, no_figures: true}
    cities:
      - {name: city_01, boundaries: city_01/communities.geojson,
         facilities: city_01/facilities.geojson, network: city_01/network.osm.bz2}

Each city is one analysis (one Dask task with ``--dask``, else one after another here) and
gets the usual outputs in ``DIR/<name>/``; ``DIR/indicators.csv`` gathers the city indicators
of every city that finished (a ``city`` column first) and ``DIR/batch_report.csv`` /
``.json`` says for each city whether it finished, with its error when it did not. A city that
fails never stops the others.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from ._config import read_yaml
from ._outputs import _describe_oserror, _umask
from ._sheets import FORMULA_START, write_csv
from .errors import CirclesError, ConfigError, OutputError
from .options import OutputOptions, RunOptions, Sources, cli_namespace, from_mapping

log = logging.getLogger(__name__)

REQUIRED = ("boundaries", "facilities", "network")
#: The files a batch writes beside its city folders (a city may not be named after one).
BATCH_FILES = ("indicators.csv", "batch_report.csv", "batch_report.json")
#: The key of ``batch_report.json`` that marks a folder's batch files as written by circles.
_MARK = {"tool": "circles batch"}
REPORT_COLUMNS = [
    "city",
    "status",
    "error",
    "seconds",
    "cpu_seconds",
    "communities",
    "facilities",
    "resident_points",
    "gap_rows",
    "out_dir",
    "worker",
]


@dataclass
class City:
    """One entry of a batch file: its name, inputs and options (those of ``circles run``)."""

    name: str
    sources: Sources
    run: RunOptions
    output: OutputOptions

    @property
    def args(self) -> SimpleNamespace:
        """The ``circles run`` arguments that give this city's inputs and options."""
        return cli_namespace(self.sources, self.run, self.output)


@dataclass
class CityReport:
    """How one city went."""

    city: str
    status: str  # "ok" or "failed"
    error: str = ""
    seconds: float = 0.0
    #: CPU time of the process running the city (its cost on a machine shared with others).
    cpu_seconds: float = 0.0
    communities: int = 0
    facilities: int = 0
    resident_points: int = 0
    gap_rows: int = 0
    out_dir: str = ""
    worker: str = ""
    #: Text of the city's indicators.csv (for the combined table).
    indicators_csv: str = field(default="", repr=False)
    #: The city's output files (path relative to its folder -> bytes) when the client writes them.
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def row(self) -> dict[str, Any]:
        """The report's row of ``batch_report.csv``."""
        d = asdict(self)
        return {k: d[k] for k in REPORT_COLUMNS}


def read_batch(path: str | Path) -> list[City]:
    """The cities of a batch file, their options checked as ``circles run`` checks them.

    Raises
    ------
    ConfigError
        Naming the file and the city: unknown keys, missing inputs, duplicate names, bad values.
    """
    data, label = read_yaml(path)
    base = Path(path).resolve().parent
    unknown = set(data) - {"defaults", "cities"}
    if unknown:
        raise ConfigError(f"{label}: unknown top-level key(s) {', '.join(sorted(unknown))}; expected defaults, cities")
    defaults = data.get("defaults") or {}
    entries = data.get("cities")
    if not isinstance(defaults, dict):
        raise ConfigError(f"{label}: 'defaults' must be a mapping of circles run options")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{label}: 'cities' must be a non-empty list")
    cities: list[City] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{label}: city #{i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with name, boundaries, facilities, network")
        name = str(entry.get("name", "")).strip()
        if not name or name in (".", "..") or any(c in name for c in "/\\:") or name.startswith("."):
            raise ConfigError(f"{where}: 'name' must be a folder name (no '/', '\\', ':', not starting with '.')")
        where = f"{label}: city '{name}'"
        if name.lower() in BATCH_FILES:
            raise ConfigError(
                f"{where}: the name is one of the batch's own files ({', '.join(BATCH_FILES)}); rename the city"
            )
        if name.lower() in seen:
            raise ConfigError(f"{where}: the name is used twice (cities write into DIR/<name>)")
        seen.add(name.lower())
        options = {**defaults, **{k: v for k, v in entry.items() if k != "name"}}
        try:
            got = from_mapping(options, base, (Sources, RunOptions, OutputOptions))
        except CirclesError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        missing = [k for k in REQUIRED if not options.get(k)]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        cities.append(City(name=name, sources=got[Sources], run=got[RunOptions], output=got[OutputOptions]))
    return cities


def _read_tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_city(city: City, out_root: str, *, write_here: bool = True) -> CityReport:
    """Task: analyse one city and write its outputs (never raises: a failure is reported).

    Parameters
    ----------
    city : City
    out_root : str
        The batch's output folder; the city writes into ``out_root/<name>`` when
        ``write_here`` (a folder this process can reach), else into a temporary folder whose
        files are returned in :attr:`CityReport.files`.
    """
    from . import pipeline
    from .distributed import local_copy

    t0, c0 = time.perf_counter(), time.process_time()
    target = Path(out_root) / city.name
    report = CityReport(city=city.name, status="failed", out_dir=str(target), worker=socket.gethostname())
    tmp = None
    try:
        run, sources = city.run, city.sources
        cache = run.cache_dir or tempfile.gettempdir()

        def local(value: Any) -> Any:
            return str(local_copy(value, cache)) if value and "://" in str(value) else value

        sources = replace(sources, **{k: local(getattr(sources, k)) for k in ("boundaries", "facilities", "network")})
        run = run.updated(buildings=local(run.buildings), categories=local(run.categories))
        result = pipeline.analyse(sources.boundaries, sources.facilities, sources.network, options=run, progress=False)
        if not write_here:
            tmp = Path(tempfile.mkdtemp(prefix=f"circles-{city.name}-"))
        folder = target if tmp is None else tmp
        pipeline.write_outputs(result, folder, options=city.output)
        report.indicators_csv = (folder / "indicators.csv").read_text(encoding="utf-8-sig")
        if tmp is not None:
            report.files = _read_tree(tmp)
        report.status = "ok"
        report.communities = len(result.communities)
        report.facilities = len(result.facilities)
        report.resident_points = len(result.residents)
        report.gap_rows = int((result.gaps["status"] == "gap").sum())
    except CirclesError as exc:
        report.error = str(exc)
    except Exception as exc:  # a failing city never stops the batch: report it, with the traceback in the log
        log.exception("city %s failed", city.name)
        report.error = f"internal error ({type(exc).__name__}: {exc})"
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    report.seconds = round(time.perf_counter() - t0, 2)
    report.cpu_seconds = round(time.process_time() - c0, 2)
    return report


def combine_indicators(reports: list[CityReport]) -> str:
    """The indicators.csv of every city that finished, as one table.

    A ``city`` column first, then each city's cells exactly as in its own file.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header: list[str] | None = None
    for rep in reports:
        if rep.status != "ok" or not rep.indicators_csv:
            continue
        rows = list(csv.reader(io.StringIO(rep.indicators_csv)))
        if not rows:
            continue
        if header is None:
            header = rows[0]
            writer.writerow(["city", *header])
        elif rows[0] != header:
            raise ConfigError(f"city '{rep.city}': its indicators have other columns than the first city's")
        name = "'" + rep.city if rep.city.startswith(FORMULA_START) else rep.city
        for row in rows[1:]:
            writer.writerow([name, *row])
    return buf.getvalue()


@dataclass
class BatchResult:
    """The reports of a batch, in the batch file's order, and the files written."""

    reports: list[CityReport]
    paths: dict[str, Path]

    @property
    def ok(self) -> bool:
        """Whether every city finished."""
        return all(r.status == "ok" for r in self.reports)

    def table(self) -> pd.DataFrame:
        """The reports as the table of ``batch_report.csv``."""
        return pd.DataFrame([r.row() for r in self.reports], columns=REPORT_COLUMNS)


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _with_cache(cities: list[City], cache: str | Path | None) -> list[City]:
    """The cities with their network cache made absolute (``cache`` for all, else each city's own).

    A remote cache (``scheme://``) is left as given.
    """
    out = []
    for c in cities:
        if cache:
            c = replace(c, run=c.run.updated(cache_dir=str(Path(cache).resolve())))
        elif c.run.cache_dir and "://" not in str(c.run.cache_dir):
            c = replace(c, run=c.run.updated(cache_dir=str(Path(c.run.cache_dir).resolve())))
        out.append(c)
    return out


def _run_on_cluster(
    cities: list[City], out_dir: Path, dask: Any, outputs_by: str, done: Callable[[CityReport], None]
) -> None:
    """Run each city as one Dask task, calling ``done`` with each report as it finishes.

    A city whose task is lost (the worker died, the task was cancelled) is reported failed.
    """
    from distributed import as_completed

    from .distributed import _safe, dask_client, is_local

    workers_write = outputs_by == "workers" or (outputs_by == "auto" and is_local(dask))
    run = uuid.uuid4().hex[:8]
    with dask_client(dask) as client:
        futures = {
            client.submit(
                run_city, c, str(out_dir), write_here=workers_write, key=f"circles-city-{_safe(c.name)}-{run}"
            ): c
            for c in cities
        }
        for fut in as_completed(futures):
            c = futures[fut]
            try:
                rep = fut.result()
            except (Exception, CancelledError) as exc:  # the worker died (memory?) or the task was lost
                rep = CityReport(
                    city=c.name,
                    status="failed",
                    error=f"lost on the cluster ({type(exc).__name__}: {exc})",
                    out_dir=str(out_dir / c.name),
                )
            done(rep)
            fut.release()


def _write_batch_reports(result: BatchResult, out_dir: Path, path: str | Path, dask: Any) -> None:
    """Write ``indicators.csv`` (when any city has them) and ``batch_report.csv`` / ``.json``.

    Each path written is recorded in ``result.paths``.
    """
    ordered = result.reports
    combined = combine_indicators(ordered)
    if combined:
        with _replacing(out_dir / "indicators.csv") as tmp:
            tmp.write_text(combined, encoding="utf-8-sig", newline="")
        result.paths["indicators"] = out_dir / "indicators.csv"
    with _replacing(out_dir / "batch_report.csv") as tmp:
        write_csv(result.table(), tmp)
    result.paths["report_csv"] = out_dir / "batch_report.csv"
    summary = {
        **_MARK,
        "batch": str(Path(path).resolve()),
        "dask": str(dask) if dask is not None else "",
        "ok": result.ok,
        "cities": len(ordered),
        "failed": sum(r.status != "ok" for r in ordered),
        "reports": [r.row() for r in ordered],
    }
    p = out_dir / "batch_report.json"
    with _replacing(p) as tmp:
        tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    result.paths["report_json"] = p


def run_batch(
    path: str | Path,
    out: str | Path,
    *,
    dask: Any = None,
    cache: str | Path | None = None,
    outputs_by: str = "auto",
    on_city: Callable[[CityReport], None] | None = None,
) -> BatchResult:
    """Run every city of the batch file ``path`` and write their outputs.

    One Dask task per city with ``dask``, else one after another here; writes ``out/<city>/``,
    ``out/indicators.csv`` and ``out/batch_report.csv`` / ``.json``.

    Parameters
    ----------
    dask : str or distributed.Client, optional
        See :func:`circles.distributed.dask_client`.
    cache : path, optional
        Network cache of every city (default: each city's ``cache`` option, resolved here);
        give a folder every worker can reach so that each network is built once.
    outputs_by : {"auto", "workers", "client"}
        Who writes each city's files: the workers, straight into ``out`` (it must be a folder
        every worker reaches, as on a local cluster or a shared disk), or this process, from the
        files the workers send back. ``auto``: workers on a local cluster, else this process.
    on_city : callable, optional
        Called with each city's report as it finishes.
    """
    if outputs_by not in ("auto", "workers", "client"):
        raise ConfigError(f"outputs_by is auto, workers or client, not {outputs_by!r}")
    cities = read_batch(path)
    out_dir = Path(out).expanduser().resolve()
    check_batch_out(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder: {_describe_oserror(exc, out_dir)}") from None
    cities = _with_cache(cities, cache)
    reports: dict[str, CityReport] = {}

    def done(rep: CityReport) -> None:
        if rep.files:
            _write_files(out_dir / rep.city, rep.files)
            rep.files = {}
        reports[rep.city] = rep
        if on_city is not None:
            on_city(rep)

    if dask is None:
        for c in cities:
            done(run_city(c, str(out_dir), write_here=True))
    else:
        _run_on_cluster(cities, out_dir, dask, outputs_by, done)
    ordered = [reports[c.name] for c in cities]
    result = BatchResult(ordered, {})
    check_batch_out(out_dir)  # files the user put there while the cities ran
    _write_batch_reports(result, out_dir, path, dask)
    return result


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces it in one step when the block ends."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"writing failed ({_describe_oserror(exc, path)}); {path} is unchanged") from None
    finally:
        tmp.unlink(missing_ok=True)


def _ours(out_dir: Path) -> bool:
    """Whether a circles batch wrote the batch files of ``out_dir`` (its batch_report.json says so)."""
    try:
        data = json.loads((out_dir / "batch_report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (
        data.get("tool") == _MARK["tool"] or ({"batch", "reports", "cities"} <= set(data) and "tool" not in data)
    )


def check_batch_out(out_dir: Path) -> None:
    """Refuse, before any work, a batch output folder that is a root or home folder, a file, or
    that holds batch files (indicators.csv, batch_report.csv/json) circles did not write.

    Raises
    ------
    OutputError
        Naming the folder and the files.
    """
    if out_dir.parent == out_dir or out_dir == Path.home().resolve():
        raise OutputError(f"the output folder {out_dir} is a root or home folder; choose a sub-folder such as batch/")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"the output folder {out_dir} is an existing file; choose a folder for --out")
    present = [n for n in BATCH_FILES if (out_dir / n).exists() or (out_dir / n).is_symlink()]
    if present and not _ours(out_dir):
        raise OutputError(
            f"the output folder {out_dir} holds {', '.join(present)}, which circles batch did not write; "
            "a batch would overwrite them: choose a new or empty folder for --out"
        )
    folders = [n for n in present if (out_dir / n).is_dir()]
    if folders:
        raise OutputError(f"{out_dir / folders[0]} is a folder; a batch writes its table there: choose another --out")
