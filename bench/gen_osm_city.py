"""Generate a synthetic city as an OpenStreetMap file, deterministically (network-build benchmark).

A jittered street grid near Beijing whose street ways run over several blocks with 0 to 4
shape nodes per block side, so that about ``--street-nodes`` nodes sit on walkable ways.
Around it, the things real files hold and the walking-network builder must skip or keep:
motorways and cycleways (not walkable), ``sidewalk=separate`` roads, ``access=private``
service roads, dead-end spurs, footway loops, footpaths across blocks that meet streets
at shape nodes, overlapping duplicate ways, residential buildings (closed ways with
``building:levels``), named ``landuse=residential`` compounds, one residents'-committee
boundary relation and facility nodes with Chinese names.

Usage::

    python bench/gen_osm_city.py OUT.osm [--street-nodes 100000] [--seed 7] [--pbf]

``--pbf`` also writes ``OUT.osm.pbf`` next to it (pyosmium). The file is synthetic: no
OpenStreetMap data is copied.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

LON0, LAT0 = 116.20, 39.85  # south-west corner, Beijing
M_PER_DEG_LAT = 111_320.0
BLOCK_M = (70.0, 130.0)
JITTER_M = 8.0
HIGHWAYS = ["residential", "residential", "tertiary", "secondary", "primary", "unclassified", "living_street"]
POIS = [
    ("amenity", "kindergarten", "幼儿园"),
    ("amenity", "clinic", "社区卫生服务站"),
    ("shop", "supermarket", "超市"),
    ("shop", "convenience", "便利店"),
    ("leisure", "park", "公园"),
    ("amenity", "pharmacy", "药店"),
    ("leisure", "playground", "儿童游乐场"),
]


class _Writer:
    """Collects nodes and ways and writes OSM XML (nodes, then ways, then relations)."""

    def __init__(self) -> None:
        self.lon: list[np.ndarray] = []
        self.lat: list[np.ndarray] = []
        self.n_nodes = 0
        self.node_tags: list[tuple[int, dict[str, str]]] = []
        self.ways: list[tuple[list[int], dict[str, str]]] = []
        self.relations: list[tuple[list[tuple[str, int, str]], dict[str, str]]] = []

    def nodes(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        ids = np.arange(self.n_nodes + 1, self.n_nodes + 1 + len(lon))
        self.lon.append(np.asarray(lon, float))
        self.lat.append(np.asarray(lat, float))
        self.n_nodes += len(lon)
        return ids

    def way(self, refs: list[int], tags: dict[str, str]) -> int:
        self.ways.append(([int(r) for r in refs], tags))
        return len(self.ways)

    def write(self, path: Path) -> None:
        from xml.sax.saxutils import quoteattr

        lon = np.concatenate(self.lon)
        lat = np.concatenate(self.lat)
        tagged = dict(self.node_tags)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="circles gen_osm_city">\n')
            for i in range(len(lon)):
                nid = i + 1
                head = f' <node id="{nid}" version="1" lat="{lat[i]:.7f}" lon="{lon[i]:.7f}"'
                tags = tagged.get(nid)
                if not tags:
                    fh.write(head + "/>\n")
                else:
                    body = "".join(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in tags.items())
                    fh.write(head + ">\n" + body + " </node>\n")
            for wid, (refs, tags) in enumerate(self.ways, start=1):
                fh.write(f' <way id="{wid}" version="1">\n')
                fh.write("".join(f'  <nd ref="{r}"/>\n' for r in refs))
                fh.write("".join(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in tags.items()))
                fh.write(" </way>\n")
            for rid, (members, tags) in enumerate(self.relations, start=1):
                fh.write(f' <relation id="{rid}" version="1">\n')
                fh.write("".join(f'  <member type="{t}" ref="{r}" role="{role}"/>\n' for t, r, role in members))
                fh.write("".join(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in tags.items()))
                fh.write(" </relation>\n")
            fh.write("</osm>\n")


def generate(out: Path, street_nodes: int = 100_000, seed: int = 7) -> dict[str, int]:
    """Write the synthetic city to ``out`` (OSM XML); return counts."""
    rng = np.random.default_rng(seed)
    w = _Writer()
    m_per_deg_lon = M_PER_DEG_LAT * np.cos(np.radians(LAT0))
    n_side = max(4, int(np.sqrt(street_nodes / 5.4)))  # ~5.4 walkable nodes per intersection
    xs = np.r_[0.0, np.cumsum(rng.uniform(*BLOCK_M, n_side - 1))]
    ys = np.r_[0.0, np.cumsum(rng.uniform(*BLOCK_M, n_side - 1))]
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    gx = gx + rng.uniform(-JITTER_M, JITTER_M, gx.shape)
    gy = gy + rng.uniform(-JITTER_M, JITTER_M, gy.shape)

    def to_ll(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return LON0 + np.asarray(x) / m_per_deg_lon, LAT0 + np.asarray(y) / M_PER_DEG_LAT

    inter = w.nodes(*to_ll(gx.ravel(), gy.ravel())).reshape(n_side, n_side)

    # shape nodes of every block side: horizontal sides (r, c)->(r, c+1), vertical (r, c)->(r+1, c)
    def side_nodes(r0: int, c0: int, r1: int, c1: int, k: int) -> np.ndarray:
        t = np.arange(1, k + 1) / (k + 1)
        x = gx[r0, c0] + t * (gx[r1, c1] - gx[r0, c0]) + rng.uniform(-3, 3, k)
        y = gy[r0, c0] + t * (gy[r1, c1] - gy[r0, c0]) + rng.uniform(-3, 3, k)
        return w.nodes(*to_ll(x, y))

    hside: dict[tuple[int, int], np.ndarray] = {}
    vside: dict[tuple[int, int], np.ndarray] = {}
    for r in range(n_side):
        for c in range(n_side - 1):
            hside[r, c] = side_nodes(r, c, r, c + 1, int(rng.integers(0, 5)))
    for r in range(n_side - 1):
        for c in range(n_side):
            vside[r, c] = side_nodes(r, c, r + 1, c, int(rng.integers(0, 5)))

    def street_tags() -> dict[str, str]:
        u = rng.random()
        if u < 0.02:
            return {"highway": "motorway", "name": "快速路"}
        if u < 0.04:
            return {"highway": "cycleway"}
        if u < 0.06:
            return {"highway": "primary", "sidewalk": "separate", "name": "大街"}
        if u < 0.08:
            return {"highway": "service", "access": "private"}
        return {"highway": str(rng.choice(HIGHWAYS)), "name": f"路{int(rng.integers(1, 999))}"}

    def run_streets(n_lines: int, n_steps: int, node_at, side_at) -> None:
        for line in range(n_lines):
            s = 0
            while s < n_steps:
                length = int(rng.integers(1, 7))
                e = min(n_steps, s + length)
                if rng.random() < 0.03:  # a gap in the grid
                    s = e
                    continue
                refs: list[int] = [int(node_at(line, s))]
                for k in range(s, e):
                    refs.extend(side_at(line, k).tolist())
                    refs.append(int(node_at(line, k + 1)))
                tags = street_tags()
                w.way(refs, tags)
                if rng.random() < 0.01:  # an overlapping duplicate (a mapped sidewalk on the same nodes)
                    w.way(refs, {"highway": "footway", "footway": "sidewalk"})
                s = e

    run_streets(n_side, n_side - 1, lambda r, c: inter[r, c], lambda r, c: hside[r, c])
    run_streets(n_side, n_side - 1, lambda c, r: inter[r, c], lambda c, r: vside[r, c])

    n_res = 0
    for r in range(n_side - 1):
        for c in range(n_side - 1):
            x0, x1 = gx[r, c], gx[r, c + 1]
            y0, y1 = gy[r, c], gy[r + 1, c]
            u = rng.random()
            south, north = hside[r, c], hside[r + 1, c]
            if u < 0.25 and len(south) and len(north):  # a footpath across the block, meeting shape nodes
                mid = w.nodes(*to_ll([(x0 + x1) / 2 + rng.uniform(-5, 5)], [(y0 + y1) / 2]))
                w.way([int(south[len(south) // 2]), int(mid[0]), int(north[len(north) // 2])], {"highway": "footway"})
            elif u < 0.35 and len(south):  # a dead-end service spur
                tip = w.nodes(*to_ll([(x0 + x1) / 2], [y0 + (y1 - y0) * 0.4]))
                w.way([int(south[0]), int(tip[0])], {"highway": "service"})
            elif u < 0.38 and len(south):  # a footway loop hanging from the street by a spur
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                ang = np.linspace(0, 2 * np.pi, 7)[:-1]
                ring = w.nodes(*to_ll(cx + 15 * np.cos(ang), cy + 15 * np.sin(ang)))
                w.way([*ring.tolist(), int(ring[0])], {"highway": "footway", "leisure": "track"})
                w.way([int(south[-1]), int(ring[4])], {"highway": "footway"})
            # buildings (closed ways) in part of the blocks
            if rng.random() < 0.4:
                for _ in range(3):
                    bx = rng.uniform(x0 + 12, x1 - 30)
                    by = rng.uniform(y0 + 12, y1 - 30)
                    sx, sy = rng.uniform(10, 18), rng.uniform(10, 18)
                    ids = w.nodes(*to_ll([bx, bx + sx, bx + sx, bx], [by, by, by + sy, by + sy]))
                    w.way(
                        [*ids.tolist(), int(ids[0])],
                        {"building": "residential", "building:levels": str(int(rng.integers(3, 19)))},
                    )
            if rng.random() < 0.05:  # a named residential compound over the block
                ids = w.nodes(*to_ll([x0 + 5, x1 - 5, x1 - 5, x0 + 5], [y0 + 5, y0 + 5, y1 - 5, y1 - 5]))
                n_res += 1
                w.way([*ids.tolist(), int(ids[0])], {"landuse": "residential", "name": f"小区{n_res}"})
            if rng.random() < 0.15:  # a facility node
                key, value, name = POIS[int(rng.integers(len(POIS)))]
                nid = w.nodes(*to_ll([rng.uniform(x0 + 10, x1 - 10)], [rng.uniform(y0 + 10, y1 - 10)]))
                w.node_tags.append((int(nid[0]), {key: value, "name": name}))
    # one residents'-committee boundary over the first 4 x 4 blocks, two outer ways
    k = min(4, n_side - 1)
    ring = [(0, 0), (0, k), (k, k), (k, 0)]
    bx = [gx[r, c] for r, c in ring]
    by = [gy[r, c] for r, c in ring]
    ids = w.nodes(*to_ll(bx, by))
    w1 = w.way([int(ids[0]), int(ids[1]), int(ids[2])], {"boundary": "administrative"})
    w2 = w.way([int(ids[2]), int(ids[3]), int(ids[0])], {"boundary": "administrative"})
    w.relations.append(
        (
            [("way", w1, "outer"), ("way", w2, "outer")],
            {"type": "boundary", "boundary": "administrative", "admin_level": "10", "name": "示范社区居委会"},
        )
    )
    w.write(out)
    return {"nodes": w.n_nodes, "ways": len(w.ways), "side": n_side}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--street-nodes", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pbf", action="store_true", help="also write OUT.pbf (pyosmium)")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    info = generate(a.out, a.street_nodes, a.seed)
    print(f"{a.out}: {info} in {time.perf_counter() - t:.1f} s")
    if a.pbf:
        import osmium

        pbf = a.out.with_name(a.out.name + ".pbf")
        with osmium.SimpleWriter(str(pbf), overwrite=True) as wr:
            for obj in osmium.FileProcessor(str(a.out)):
                wr.add(obj)
        print(f"{pbf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
