"""Partitioned runs on Dask (circles.distributed): the same bytes as a single-process run.

The identity tests run a small synthetic city (tests/synthetic_city.py) whose partitions load
only part of the streets, and the embedded demo through ``circles run --dask local:2``; the
other tests check the pieces against independent computations on the whole network.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from distributed import Client, LocalCluster
from helpers import write_geojson
from synthetic_city import make_city

from circles import cli, distributed, isochrones, pipeline, reach
from circles.errors import ConfigError, InputError, OptionError
from circles.network import WalkNetwork, read_walk_network

QUIET = {"scheduler_kwargs": {"dashboard_address": ":0"}}  # no clash over port 8787 with other clusters
IDENTICAL = (
    "gaps.csv",
    "ledger.csv",
    "access.csv",
    "indicators.csv",
    "facilities.csv",
    "gaps.xlsx",
    "ledger.xlsx",
    "isochrones.geojson",
)
RUN = {"max_minutes": 5.0, "grid_spacing_m": 80.0}


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, **QUIET) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("city")
    paths = make_city(root / "inputs")
    paths["cache"] = root / "cache"
    paths["root"] = root
    return paths


def _serial(city: dict[str, Path], district_field: str | None, out: Path) -> pipeline.Result:
    result = pipeline.analyse(
        city["boundaries"],
        city["facilities"],
        city["network"],
        rules=city["rules"],
        cache_dir=city["cache"],
        district_field=district_field,
        progress=False,
        **RUN,
    )
    pipeline.write_outputs(result, out, figures=False)
    return result


def _different(a: Path, b: Path) -> list[str]:
    return [f for f in IDENTICAL if not filecmp.cmp(a / f, b / f, shallow=False)]


# ------------------------------------------------------------------------------------ pieces


def test_store_subset_keeps_order_and_exact_offsets(city):
    """A box of the store is the network's edges in the network's order, and points attach at
    the same offsets to the last bit (the whole network's running sum of piece lengths)."""
    net = read_walk_network(city["network"])
    net.name = np.array([f"路{i % 37}" if i % 5 else "" for i in range(net.n_edges)], dtype=object)
    folder = distributed.write_store(net, city["root"] / "store_test")
    store = distributed.NetworkStore(folder)
    x0, y0, x1, y1 = store.extent()
    box = (x0 + 2000, y0 - 10, x1 - 2500, y1 + 10)
    sub = store.subset(box)
    whole_bounds = shapely.bounds(net.geometry)
    expect = np.flatnonzero(
        (whole_bounds[:, 0] <= box[2])
        & (whole_bounds[:, 2] >= box[0])
        & (whole_bounds[:, 1] <= box[3])
        & (whole_bounds[:, 3] >= box[1])
    )
    assert 0 < sub.n_edges == len(expect) < net.n_edges
    np.testing.assert_array_equal(sub.node_ids[sub.u], net.node_ids[net.u[expect]])
    np.testing.assert_array_equal(sub.node_ids[sub.v], net.node_ids[net.v[expect]])
    assert (np.diff(np.searchsorted(net.node_ids, sub.node_ids)) > 0).all()  # node order kept
    assert shapely.equals_exact(sub.geometry, net.geometry[expect], tolerance=0).all()
    assert list(sub.name) == list(net.name[expect])  # the street names travel with their edges
    np.testing.assert_array_equal(sub.length, net.length[expect])
    # points well inside the box: same edge, same offset, same leg (bit for bit)
    rng = np.random.default_rng(3)
    px = rng.uniform(box[0] + 400, box[2] - 400, 300)
    py = rng.uniform(y0, y1, 300)
    a_full = reach.attach_points(net, px, py)
    a_sub = reach.attach_points(sub, px, py)
    np.testing.assert_array_equal(net.node_ids[net.u[a_full.edge]], sub.node_ids[sub.u[a_sub.edge]])
    np.testing.assert_array_equal(a_full.offset, a_sub.offset)
    np.testing.assert_array_equal(a_full.leg, a_sub.leg)
    # and the whole store is the network
    full = store.subset(None)
    np.testing.assert_array_equal(full.x, net.x)
    np.testing.assert_array_equal(full.u, net.u)
    assert shapely.equals_exact(full.geometry, net.geometry, tolerance=0).all()


def test_partitions_cover_each_community_once_with_their_context(city):
    result = pipeline.analyse(
        city["boundaries"], city["facilities"], city["network"], rules=city["rules"], progress=False, **RUN
    )
    comms = result.communities
    m = distributed.margins(result.rulebook, RUN["max_minutes"], 250.0)
    caps = [result.rulebook.threshold_m(r) for r in result.rulebook.rules if r.capacity is not None]
    assert m.context_m == pytest.approx(2 * max(caps))
    parts = distributed.plan_partitions(comms, m, tile_m=1500.0)
    core = np.concatenate([p.core for p in parts])
    assert sorted(core.tolist()) == list(range(len(comms)))
    for p in parts:
        # context: exactly the other communities within twice the longest capacity threshold
        d = np.array([comms.geometry.iloc[p.core].distance(g).min() for g in comms.geometry])
        expect = np.setdiff1d(np.flatnonzero(d <= m.context_m), p.core)
        np.testing.assert_array_equal(p.context, expect)
    assert any(len(p.context) for p in parts)
    # the partitions load only part of the streets (the test exercises the cut)
    x0, _, x1, _ = distributed.NetworkStore(
        distributed.write_store(result.network, city["root"] / "store_plan")
    ).extent()
    assert sum(distributed.widen(p.bbox, m.network_m)[2] < x1 for p in parts) >= 2
    by_district = distributed.plan_partitions(comms, m, district_field="kind")
    assert [p.key for p in by_district] == sorted(set(comms["kind"]))
    for p in by_district:
        assert set(comms["kind"].iloc[p.core]) == {p.key}


def test_facility_status_is_the_whole_city_attachment(city):
    """Placement decided tile by tile on nearby streets equals the whole-city run's, also for a
    facility far from every street (its distance measured again on the whole network)."""
    result = pipeline.analyse(
        city["boundaries"], city["facilities"], city["network"], rules=city["rules"], progress=False, **RUN
    )
    ref = distributed.prepare_store(city["network"], city["cache"])
    base = result.facilities[[c for c in result.facilities.columns if c not in distributed.STATUS_COLUMNS]]
    keys = distributed._tile_keys(base.geometry.representative_point(), 1000.0)
    tiles: dict = {}
    for i, k in enumerate(keys):
        tiles.setdefault(k, []).append(i)
    status = pd.concat(
        [distributed.facility_status(ref, base, np.asarray(rows), 250.0) for rows in tiles.values()]
    ).sort_index()
    far = result.facilities["id"] == "f_far"
    assert not result.facilities.loc[far, "placed"].item() and result.facilities.loc[far, "snap_m"].item() > 1000
    for c in distributed.STATUS_COLUMNS:
        np.testing.assert_array_equal(status[c].to_numpy(), result.facilities[c].to_numpy())


def test_walking_area_tiles_are_the_single_runs_each_once(city):
    result = pipeline.analyse(
        city["boundaries"], city["facilities"], city["network"], rules=city["rules"], progress=False, **RUN
    )
    chunks = distributed.area_tiles(result.communities, result.rulebook, 1500.0)
    tiles = [t for c in chunks for t in c]
    assert len(chunks) > 1 and len(set(tiles)) == len(tiles)
    thr = max(result.rulebook.threshold_m(r) for r in result.rulebook.rules)
    assert len(tiles) == len(isochrones.area_tiles(pipeline.area_boxes(result.communities, thr)))
    assert set(result.isochrones["tile"]) <= {f"{t[0]:.0f}_{t[1]:.0f}" for t in tiles}  # same names
    # a tile ending on the grid is passed a hair short of it, so that it draws no neighbour
    side = isochrones.AREA_TILE_M
    for v in (440_000.0, 4_420_000.0, -8_000.0, 4_419_764.3):
        w = distributed._short_of_grid(v, side)
        assert w == v if v % side else (w < v and v - w < 1e-8 and np.floor(w / side) == v / side - 1)
    assert len(isochrones.area_tiles(np.array([[0.0, 0.0, distributed._short_of_grid(side, side), 1.0]]))) == 1


def test_inputs_can_be_urls(tmp_path):
    import fsspec

    with fsspec.open("memory://cities/a/communities.geojson", "wb") as fh:
        fh.write(b'{"type": "FeatureCollection", "features": []}')
    got = distributed.local_copy("memory://cities/a/communities.geojson", tmp_path)
    assert got.parent == tmp_path / "downloads" and got.name.endswith("communities.geojson")
    assert got.read_bytes().startswith(b'{"type": "FeatureCollection"')
    assert distributed.local_copy("memory://cities/a/communities.geojson", tmp_path) == got  # downloaded once
    assert distributed.local_copy(str(tmp_path / "x.geojson"), tmp_path) == tmp_path / "x.geojson"
    with pytest.raises(InputError, match="cannot read"):
        distributed.local_copy("memory://cities/missing.geojson", tmp_path)


def test_stacked_rows_get_the_column_types_of_one_table():
    """Whole numbers with a gap in one partition only are floats in the merged table, as when
    the table is built at once (so that the CSV says 3.0 in every row, as a single run does)."""
    rows = [{"n": 3, "ok": True, "s": "a"}, {"n": 4, "ok": False, "s": "b"}, {"n": np.nan, "ok": np.nan, "s": None}]
    one = pd.DataFrame(rows)
    parts = [pd.DataFrame(rows[:2]), pd.DataFrame(rows[2:])]
    stacked = distributed.stack_rows(parts)
    assert list(stacked.dtypes) == list(one.dtypes)
    assert stacked.to_csv(index=False) == one.to_csv(index=False)


def test_dask_addresses_are_checked(monkeypatch):
    with pytest.raises(OptionError, match="local:N"), distributed.dask_client("local:0"):
        pass
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", "1s")
    with (
        pytest.raises(ConfigError, match="cannot reach the Dask scheduler"),
        distributed.dask_client("tcp://127.0.0.1:9"),
    ):
        pass

    class OtherVersion:
        def wait_for_workers(self, n, timeout):
            return None

        def run(self, fn):
            return {"tcp://10.0.0.2:4000": "0.0.1"}

    with pytest.raises(ConfigError, match="another circles version"):
        distributed._check_workers(OtherVersion())


def test_facility_isochrones_are_refused_with_dask(capsys):
    code = cli.main(["run", "--dask", "local:1", "--facility-isochrones", "--out", "/nonexistent"])
    assert code == 2
    assert "--facility-isochrones" in capsys.readouterr().err


def test_tied_facilities_name_the_same_nearest_in_partitions(tmp_path):
    """On a regular grid many residents are (nearly) equally far from two facilities: the
    partitions, run here one by one, name the same nearest facility and give the same rows as
    one run."""
    n_x, n_y, sp, x0, y0 = 48, 16, 100.0, 440_000.0, 4_420_000.0
    gx, gy = np.meshgrid(x0 + sp * np.arange(n_x), y0 + sp * np.arange(n_y))
    x, y = gx.ravel(), gy.ravel()
    idx = np.arange(n_x * n_y).reshape(n_y, n_x)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    geom = np.array([shapely.LineString([(x[a], y[a]), (x[b], y[b])]) for a, b in zip(u, v, strict=True)])
    net = WalkNetwork("EPSG:32650", np.arange(1, n_x * n_y + 1), x, y, u, v, shapely.length(geom), geom)
    comms = gpd.GeoDataFrame(
        {"id": [f"c{i}" for i in range(11)], "name": "c", "population": 1000.0},
        geometry=[shapely.box(x0 + 150 + i * 400, y0 + 650, x0 + 500 + i * 400, y0 + 1150) for i in range(11)],
        crs="EPSG:32650",
    )
    rng = np.random.default_rng(1)
    ij = rng.integers(0, [n_x, n_y], size=(36, 2))
    facs = gpd.GeoDataFrame(
        {"id": [f"f{k}" for k in range(36)], "facility_type": ["clinic", "food_market", "kindergarten"] * 12},
        geometry=[shapely.Point(x0 + i * sp + 50, y0 + j * sp + 20) for i, j in ij],
        crs="EPSG:32650",
    )
    write_geojson(comms.to_crs(4326), tmp_path / "c.geojson")
    write_geojson(facs.to_crs(4326), tmp_path / "f.geojson")
    one = pipeline.analyse(tmp_path / "c.geojson", tmp_path / "f.geojson", net, max_minutes=10, progress=False)
    ref = distributed.prepare_store(net, tmp_path / "cache")
    m = distributed.margins(one.rulebook, 10.0, 250.0)
    parts = distributed.plan_partitions(one.communities, m, tile_m=1000.0)
    base = one.facilities[[c for c in one.facilities.columns if c not in distributed.STATUS_COLUMNS]]
    city = base.copy()
    status = distributed.facility_status(ref, base, np.arange(len(base)), 250.0)
    for c in distributed.STATUS_COLUMNS:
        city[c] = status[c].to_numpy()
    surveyed = set(one.surveyed)  # the types declared surveyed, as the single run judged them
    options = distributed.RunOptions(max_minutes=10.0)
    outputs = [
        distributed.run_partition(p, ref, one.communities, city, None, one.rulebook, surveyed, options) for p in parts
    ]
    assert len(parts) > 3 and all(o.sizes["nodes"] < net.n_nodes for o in outputs)
    gaps, ledger, residents, counts = distributed.merge_partitions(outputs, one.communities, one.rulebook)
    d = one.residents["dist_clinic"].to_numpy()
    # whole metres up to the noise of the coordinates' projection: (near) ties abound, and some
    # residents have two facilities at exactly the same distance
    assert (np.isfinite(d) & (np.abs(d - np.round(d)) < 1e-6)).mean() > 0.9
    ties = 0
    for t in ("clinic", "food_market", "kindergarten"):
        one.access.prepare_within({t: 1000.0})
        _, _, who, dist = one.access._pairs[t]
        pairs = pd.DataFrame({"r": who, "d": dist})
        nearest = pairs[pairs["d"] == pairs.groupby("r")["d"].transform("min")]
        ties += int((nearest.groupby("r").size() > 1).sum())
    assert ties > 0
    for t in ("clinic", "food_market", "kindergarten"):
        assert residents[f"nearest_{t}"].tolist() == one.residents[f"nearest_{t}"].tolist()
        np.testing.assert_array_equal(residents[f"dist_{t}"].to_numpy(), one.residents[f"dist_{t}"].to_numpy())
        np.testing.assert_array_equal(counts[t], pipeline.type_counts(one.access, one.rulebook)[t])
    assert gaps.to_csv() == one.gaps.to_csv()
    assert ledger.to_csv() == one.ledger.to_csv()


# ------------------------------------------------------------------------------ identity


@pytest.mark.parametrize("district_field", [None, "kind"], ids=["tiles", "districts"])
def test_partitioned_run_gives_the_same_bytes(city, client, district_field, tmp_path):
    serial = _serial(city, district_field, tmp_path / "serial")
    result = distributed.analyse_partitioned(
        city["boundaries"],
        city["facilities"],
        city["network"],
        dask=client,
        tile_m=1500.0,
        rules=city["rules"],
        cache_dir=city["cache"],
        district_field=district_field,
        **RUN,
    )
    parts = {k.split(":")[1] for k in result.timings if k.startswith("partition:")}
    assert len(parts) >= 3
    assert result.access is None and result.within_counts is not None
    pipeline.write_outputs(result, tmp_path / "dask", figures=False)
    assert _different(tmp_path / "serial", tmp_path / "dask") == []
    assert result.facilities["id"].tolist() == serial.facilities["id"].tolist()
    assert len(result.isochrones) == len(serial.isochrones) > 0


def test_demo_through_the_command_line_gives_the_same_bytes(demo_result, tmp_path):
    pipeline.write_outputs(demo_result, tmp_path / "serial", figures=False)
    argv = ["run", "--dask", "local:2", "--tile-km", "0.8", "--no-figures", "--cache", str(tmp_path / "cache")]
    assert cli.main([*argv, "--out", str(tmp_path / "dask")]) == 0
    assert _different(tmp_path / "serial", tmp_path / "dask") == []
