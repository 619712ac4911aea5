"""A small seeded synthetic city for the partitioned-run and batch tests (no download, no OSM).

A jittered street grid (some streets bent, a few removed), rectangular communities in a strip
with a ``street`` district field, one community far from every street, facilities of several
types near the streets (kindergartens and car parks with capacities, community rooms and parks
with sizes, parks as areas), one facility far from every street, and a small rulebook, written
as GeoJSON (EPSG:4326), a circles ``.npz`` network (EPSG:32650) and a rules YAML.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from circles.network import WalkNetwork, save_walk_network

CRS = "EPSG:32650"
ORIGIN = (440_000.0, 4_420_000.0)

RULES_YAML = """\
extends: complete_community_2020
remove: [childcare, parcel_point, pharmacy, convenience_store, ev_charging, ebike_charging, waste_point,
         public_toilet, fitness, park_15min]
"""
TYPES = ("community_service", "kindergarten", "elderly_care", "clinic", "food_market", "car_parking", "park")


def _grid(rng: np.random.Generator, nx: int, ny: int, spacing: float) -> WalkNetwork:
    xs = ORIGIN[0] + np.r_[0.0, np.cumsum(rng.uniform(0.8 * spacing, 1.2 * spacing, nx - 1))]
    ys = ORIGIN[1] + np.r_[0.0, np.cumsum(rng.uniform(0.8 * spacing, 1.2 * spacing, ny - 1))]
    gx, gy = np.meshgrid(xs, ys)
    x = gx.ravel() + rng.uniform(-10, 10, gx.size)
    y = gy.ravel() + rng.uniform(-10, 10, gy.size)
    idx = np.arange(nx * ny).reshape(ny, nx)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = rng.random(len(u)) >= 0.04
    u, v = u[keep], v[keep]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(coo_matrix((np.ones(len(u)), (u, v)), shape=(len(x), len(x))), directed=False)
    alive = labels == np.bincount(labels).argmax()
    ok = alive[u] & alive[v]
    new = np.cumsum(alive) - 1
    u, v = new[u[ok]], new[v[ok]]
    x, y = x[alive], y[alive]
    geoms = []
    for a, b in zip(u, v, strict=True):
        pts = [(x[a], y[a]), (x[b], y[b])]
        if rng.random() < 0.3:  # a bent street: one more vertex
            mx, my = (x[a] + x[b]) / 2 + rng.uniform(-15, 15), (y[a] + y[b]) / 2 + rng.uniform(-15, 15)
            pts.insert(1, (mx, my))
        geoms.append(shapely.LineString(pts))
    geometry = np.array(geoms, dtype=object)
    return WalkNetwork(
        crs=CRS,
        node_ids=(np.flatnonzero(alive) + 1).astype(np.int64),
        x=x,
        y=y,
        u=u.astype(np.int64),
        v=v.astype(np.int64),
        length=shapely.length(geometry),
        geometry=geometry,
        source="synthetic grid",
    )


def make_city(folder: Path, *, seed: int = 7, nx: int = 48, ny: int = 12, spacing: float = 150.0) -> dict[str, Path]:
    """Write the city into ``folder``; returns the paths (``boundaries``, ``facilities``,
    ``network``, ``rules``)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    net = _grid(rng, nx, ny, spacing)
    x0, y0, x1, y1 = float(net.x.min()), float(net.y.min()), float(net.x.max()), float(net.y.max())
    # communities: a strip of blocks in the middle rows, three districts from west to east
    rows = []
    width, height = 420.0, 380.0
    ys = (y0 + y1) / 2 - height
    n_blocks = int((x1 - x0 - 400) // width)
    for i in range(n_blocks):
        for j in range(2):
            bx = x0 + 200 + i * width + rng.uniform(0, 20)
            by = ys + j * height + rng.uniform(0, 20)
            rows.append(
                {
                    "id": f"c{i:02d}{j}",
                    "name": f"社区{i:02d}{j}",
                    "population": float(rng.integers(800, 4000)),
                    "households": float(rng.integers(300, 1500)) if rng.random() < 0.7 else np.nan,
                    "street": f"街道{min(2, 3 * i // n_blocks)}",
                    # the loader keeps 'kind' (the district field of these tests); 'street' too once it keeps any field
                    "kind": f"街道{min(2, 3 * i // n_blocks)}",
                    "geometry": shapely.box(bx, by, bx + width - 30, by + height - 30),
                }
            )
    # one community far north of every street (its residents are not placed)
    rows.append(
        {
            "id": "far",
            "name": "远郊社区",
            "population": 500.0,
            "households": np.nan,
            "street": "街道0",
            "kind": "街道0",
            "geometry": shapely.box(x0 + 300, y1 + 2400, x0 + 700, y1 + 2700),
        }
    )
    comms = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
    # facilities near random streets
    facs = []
    counts = {
        "community_service": 10,
        "kindergarten": 14,
        "elderly_care": 6,
        "clinic": 8,
        "food_market": 8,
        "car_parking": 14,
        "park": 8,
    }
    k = 0
    for t in TYPES:
        for _ in range(counts[t]):
            e = int(rng.integers(0, net.n_edges))
            p = shapely.line_interpolate_point(net.geometry[e], rng.random(), normalized=True)
            px, py = p.x + rng.uniform(-40, 40), p.y + rng.uniform(-40, 40)
            geom = shapely.box(px - 40, py - 40, px + 40, py + 40) if t == "park" else shapely.Point(px, py)
            cap = float(rng.integers(20, 200)) if t in ("kindergarten", "car_parking") else np.nan
            size = float(rng.integers(80, 900)) if t in ("community_service", "elderly_care") else np.nan
            k += 1
            row = {"id": f"f{k:03d}", "facility_type": t, "name": f"{t} {k}", "capacity": cap, "size_m2": size}
            facs.append({**row, "geometry": geom})
    # one facility far from every street (set aside, its distance measured on the whole network)
    facs.append(
        {
            "id": "f_far",
            "facility_type": "clinic",
            "name": "far clinic",
            "capacity": np.nan,
            "size_m2": np.nan,
            "geometry": shapely.Point(x1 + 900, y0 - 700),
        }
    )
    fac = gpd.GeoDataFrame(facs, geometry="geometry", crs=CRS)
    paths = {
        "boundaries": folder / "communities.geojson",
        "facilities": folder / "facilities.geojson",
        "network": folder / "network.npz",
        "rules": folder / "rules.yaml",
    }
    comms.to_crs("EPSG:4326").to_file(paths["boundaries"], driver="GeoJSON")
    fac.to_crs("EPSG:4326").to_file(paths["facilities"], driver="GeoJSON")
    save_walk_network(net, paths["network"])
    paths["rules"].write_text(RULES_YAML, encoding="utf-8")
    return paths
