"""Files from outside never run code and never crash circles: network files (``.npz``) and
cache entries made of arbitrary bytes, mutated valid files, and files holding a pickle
payload that would write a marker file. The only outcomes allowed are a one-line
:class:`~circles.errors.InputError` (for ``--network``) or a rebuilt cache entry; the marker
must never appear."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from helpers import WEST_OAKLAND
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circles import cli, network
from circles.errors import InputError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Payload:
    """Unpickling this creates the file ``marker`` (as an attacker's code would)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def oakland() -> network.WalkNetwork:
    return network.osm_walk_network(WEST_OAKLAND)


def arrays_of(net: network.WalkNetwork) -> dict[str, np.ndarray]:
    return {
        "crs": np.array(net.crs),
        "node_ids": net.node_ids,
        "x": net.x,
        "y": net.y,
        "u": net.u,
        "v": net.v,
        "length": net.length,
        "coords": shapely.get_coordinates(net.geometry),
        "counts": shapely.get_num_points(net.geometry).astype(np.int64),
        "source": np.array(net.source),
        "format": np.array(network.NETWORK_FORMAT),
    }


def write_npz(path: Path, arrays: dict) -> Path:
    """An ``.npz`` as NumPy writes it, object arrays pickled (``allow_pickle`` applies to reading)."""
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def evil_arrays(net: network.WalkNetwork, marker: Path, where: str) -> dict:
    """A network file with a pickled payload: the reported attack (format 1 and a pickled
    ``wkb``), or the payload in place of one array of the current format."""
    payload = np.array([_Payload(marker)], dtype=object)
    if where == "v1-wkb":
        arrays = arrays_of(net)
        arrays["format"] = np.array("circles-walknetwork-1")
        arrays["wkb"] = payload
        return arrays
    arrays = arrays_of(net)
    arrays[where] = payload
    return arrays


EVIL_PLACES = ["v1-wkb", "format", "crs", "length", "coords", "u"]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("circles: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def cli_run(tmp: Path, net: Path) -> list[str]:
    from circles import demo

    return [
        "run",
        "--boundaries",
        str(demo.DEMO_BOUNDARIES),
        "--facilities",
        str(demo.DEMO_FACILITIES),
        "--network",
        str(net),
        "--out",
        str(tmp / "out"),
        "--cache",
        "",
        "--no-figures",
    ]


# ---------------------------------------------------------------------------- the reported attack
@pytest.mark.parametrize("where", EVIL_PLACES)
def test_pickled_network_file_runs_no_code(tmp_path, oakland, where, capsys):
    marker = tmp_path / "marker"
    evil = write_npz(tmp_path / "evil.npz", evil_arrays(oakland, marker, where))
    code = cli.main(cli_run(tmp_path, evil))
    line = one_error_line(capsys.readouterr().err)
    assert code == 2
    assert not marker.exists(), "the payload ran"
    assert "evil.npz" in line
    if where == "v1-wkb":
        assert "circles-walknetwork-1" in line and "rebuild" in line
    else:
        assert f"'{where}'" in line and "object" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", EVIL_PLACES)
def test_pickled_cache_entry_runs_no_code_and_is_rebuilt(tmp_path, oakland, where, caplog):
    marker = tmp_path / "marker"
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    entry = network.cache_path(WEST_OAKLAND, cache_dir)
    write_npz(entry, evil_arrays(oakland, marker, where))
    with caplog.at_level(logging.WARNING, logger="circles.network"):
        net = network.read_walk_network(WEST_OAKLAND, cache_dir=cache_dir)
    assert not marker.exists(), "the payload ran"
    assert str(entry) in caplog.text and "removed" in caplog.text
    assert str(WEST_OAKLAND) not in caplog.text, "the user's OSM file was blamed for a bad cache entry"
    np.testing.assert_array_equal(net.length, oakland.length)
    # the entry was replaced by a good one, read the next time without a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="circles.network"):
        again = network.read_walk_network(WEST_OAKLAND, cache_dir=cache_dir)
    assert caplog.text == ""
    np.testing.assert_array_equal(again.u, oakland.u)
    assert not marker.exists()


def test_cache_entry_of_another_network_is_rebuilt(tmp_path, oakland, caplog):
    """A valid network file under the OSM file's cache name (another area, or planted) does
    not record being built from this file: removed and rebuilt."""
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    entry = network.cache_path(WEST_OAKLAND, cache_dir)
    network.save_walk_network(_shifted(oakland, 5000.0), entry)
    with caplog.at_level(logging.WARNING, logger="circles.network"):
        net = network.read_walk_network(WEST_OAKLAND, cache_dir=cache_dir)
    assert "does not record being built from this file" in caplog.text
    np.testing.assert_allclose(net.x, oakland.x)
    # recorded provenance that names another file is not accepted either
    digest, size = network._file_digest(WEST_OAKLAND)
    lie = network._provenance("0" * 64, size, False)
    network.save_walk_network(_shifted(oakland, 5000.0), entry, provenance=lie)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="circles.network"):
        net = network.read_walk_network(WEST_OAKLAND, cache_dir=cache_dir)
    assert "removed" in caplog.text
    np.testing.assert_allclose(net.x, oakland.x)
    recorded = json.loads(str(np.load(entry, allow_pickle=False)["provenance"]))
    assert recorded == network._provenance(digest, size, False)


def _fields(net: network.WalkNetwork) -> dict:
    return {k: getattr(net, k) for k in ("crs", "node_ids", "x", "y", "u", "v", "length", "geometry", "source")}


def _shifted(net: network.WalkNetwork, dx: float) -> network.WalkNetwork:
    geometry = shapely.transform(net.geometry, lambda c: c + [dx, 0.0])
    return network.WalkNetwork(**{**_fields(net), "x": net.x + dx, "geometry": geometry})


# ---------------------------------------------------------------------------- the reported bad values
BAD_VALUES = {
    "all lengths -1": (lambda a: a.update(length=np.full_like(a["length"], -1.0)), ["'length'", "edge 0", "-1"]),
    "NaN length": (lambda a: a["length"].__setitem__(3, np.nan), ["'length'", "edge 3", "nan"]),
    "index out of range": (lambda a: a["v"].__setitem__(2, 10**6), ["'v'", "edge 2", "out of range"]),
    "negative index": (lambda a: a["u"].__setitem__(0, -1), ["'u'", "edge 0", "out of range"]),
    "infinite x": (lambda a: a["x"].__setitem__(1, np.inf), ["'x/y'", "node 1", "inf"]),
    "far away vertex": (lambda a: a["coords"].__setitem__((4, 0), 1e12), ["'coords'", "vertex 4", "outside"]),
    "sizes differ": (lambda a: a.update(v=a["v"][:-1]), ["'v'", "must match"]),
    "counts do not add up": (lambda a: a["counts"].__setitem__(0, 7), ["'counts'", "must match"]),
    "counts overflowing": (
        lambda a: a.update(counts=np.r_[np.uint64(2**64 - 10), a["counts"][1:].astype(np.uint64)]),
        ["'counts'", "edge 0", "expected from 2"],
    ),
    "geographic CRS": (lambda a: a.update(crs=np.array("EPSG:4326")), ["'crs'", "not a projected CRS"]),
    "lengths not the lines'": (lambda a: a["length"].__setitem__(5, 1.0), ["'length'", "edge 5", "long"]),
    "unknown format": (lambda a: a.update(format=np.array("something-else")), ["'something-else'", "rebuild"]),
}


@pytest.mark.parametrize("case", list(BAD_VALUES), ids=list(BAD_VALUES))
def test_bad_network_values_give_one_line(tmp_path, oakland, case, capsys):
    arrays = {k: np.array(v, copy=True) for k, v in arrays_of(oakland).items()}
    mutate, words = BAD_VALUES[case]
    mutate(arrays)
    path = write_npz(tmp_path / "net.npz", arrays)
    code = cli.main(cli_run(tmp_path, path))
    line = one_error_line(capsys.readouterr().err)
    assert code == 2
    for word in [str(path), *words]:
        assert word in line, f"{word!r} not in {line!r}"
    assert not (tmp_path / "out").exists()


def test_valid_network_file_round_trips(tmp_path, oakland):
    path = network.save_walk_network(oakland, tmp_path / "n.npz")
    net = network.load_walk_network(path)
    for k in ("node_ids", "x", "y", "u", "v", "length"):
        np.testing.assert_array_equal(getattr(net, k), getattr(oakland, k))
    assert shapely.equals_exact(net.geometry, oakland.geometry, tolerance=0).all()


def test_huge_declared_array_is_refused_before_reading(tmp_path, oakland, monkeypatch):
    """A member whose header declares more data than the file holds is refused without
    allocating it (the declared size is checked against the zip member's size)."""
    arrays = arrays_of(oakland)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = tmp_path / "big.npz"
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "x.npy":
                header = {"descr": "<f8", "fortran_order": False, "shape": (10**11,)}
                b = io.BytesIO()
                np.lib.format.write_array_header_1_0(b, header)
                data = b.getvalue() + data[-64:]
            dst.writestr(info.filename, data)
    with pytest.raises(InputError, match="'x' declares 800000000000 bytes"):
        network.load_walk_network(out)
    monkeypatch.setattr(network, "NPZ_MAX_BYTES", 1000)
    with pytest.raises(InputError, match="over the limit"):
        network.load_walk_network(tmp_path / "big.npz")


# ---------------------------------------------------------------------------- properties
def _valid_bytes(net: network.WalkNetwork, tmp: Path) -> bytes:
    return network.save_walk_network(net, tmp / "valid.npz").read_bytes()


def _check_loads_or_refuses(path: Path, marker: Path) -> None:
    try:
        net = network.load_walk_network(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:  # a mutation that leaves a valid network: it passes every check
        network.check_walk_network(net, str(path))
    assert not marker.exists()


@SETTINGS
@given(data=st.binary(max_size=4000))
def test_arbitrary_bytes_never_run_code_or_crash(tmp_path, data):
    path = tmp_path / "any.npz"
    path.write_bytes(data)
    _check_loads_or_refuses(path, tmp_path / "marker")


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6), cut=st.booleans())
def test_mutated_network_files_never_run_code_or_crash(tmp_path, oakland, edits, cut):
    raw = bytearray(_valid_bytes(oakland, tmp_path))
    for pos, value in edits:
        raw[pos % len(raw)] = value
    if cut:
        raw = raw[: edits[0][0] % len(raw)]
    path = tmp_path / "mutated.npz"
    path.write_bytes(bytes(raw))
    _check_loads_or_refuses(path, tmp_path / "marker")


ARRAY_VALUES = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=80).map(np.array),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=80).map(lambda v: np.array(v, dtype=np.int64)),
    st.lists(st.integers(0, 2**64 - 1), max_size=80).map(lambda v: np.array(v, dtype=np.uint64)),
    st.text(max_size=30).map(np.array),
    st.just("payload"),
)


@SETTINGS
@given(name=st.sampled_from(sorted(network._NETWORK_ARRAYS)), value=ARRAY_VALUES, as_cache=st.booleans())
def test_any_array_in_any_place_never_runs_code_or_crashes(tmp_path, oakland, name, value, as_cache):
    """Each array replaced by random numbers, text or a pickled payload: as ``--network`` a
    one-line InputError or a valid network; as a cache entry, the network is rebuilt."""
    marker = tmp_path / "marker"
    marker.unlink(missing_ok=True)
    arrays = arrays_of(oakland)
    arrays[name] = np.array([_Payload(marker)], dtype=object) if isinstance(value, str) else value
    if not as_cache:
        _check_loads_or_refuses(write_npz(tmp_path / "n.npz", arrays), marker)
        return
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir(exist_ok=True)
    write_npz(network.cache_path(WEST_OAKLAND, cache_dir), arrays)
    net = network.read_walk_network(WEST_OAKLAND, cache_dir=cache_dir)
    assert not marker.exists()
    np.testing.assert_array_equal(net.u, oakland.u)
    np.testing.assert_array_equal(net.length, oakland.length)
