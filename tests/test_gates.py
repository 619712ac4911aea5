"""Walled compounds (circles.gates): a hand-made square compound with one gate, streets outside
and inside, against networkx shortest paths on the same graph; no attachment leg crosses the
wall elsewhere than at a gate."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from circles import gates
from circles.access import compute_access
from circles.network import WalkNetwork

CRS = "EPSG:32650"
X0, Y0 = 440_000.0, 4_420_000.0

# Relative coordinates. The compound is the square (0, 0)–(100, 100); its one gate G = (50, 0)
# sits on the south wall. A ring road runs 10 m outside the square (corners A B C D); a spur
# joins the ring at S = (50, -10) to the gate and goes on inside as a street to I = (50, 40).
# N = (50, 110) is a node on the north road.
NODES = {
    "A": (-10, -10),
    "S": (50, -10),
    "B": (110, -10),
    "C": (110, 110),
    "N": (50, 110),
    "D": (-10, 110),
    "G": (50, 0),
    "I": (50, 40),
}
EDGES = [("A", "S"), ("S", "B"), ("B", "C"), ("C", "N"), ("N", "D"), ("D", "A"), ("S", "G"), ("G", "I")]


def _net(inside_street: bool = True) -> WalkNetwork:
    names = list(NODES) if inside_street else [n for n in NODES if n != "I"]
    edges = EDGES if inside_street else EDGES[:-1]
    xy = np.array([NODES[n] for n in names], dtype=float) + [X0, Y0]
    u = np.array([names.index(a) for a, _ in edges])
    v = np.array([names.index(b) for _, b in edges])
    geom = np.array([LineString([xy[a], xy[b]]) for a, b in zip(u, v, strict=True)], dtype=object)
    return WalkNetwork(
        crs=CRS,
        node_ids=np.arange(1, len(names) + 1, dtype=np.int64),
        x=xy[:, 0],
        y=xy[:, 1],
        u=u.astype(np.int64),
        v=v.astype(np.int64),
        length=shapely.length(geom),
        geometry=geom,
        source="hand-made compound",
    )


def _pt(x, y):
    return Point(X0 + x, Y0 + y)


def _compound(access: str = "", closed: bool = True) -> gates.Compounds:
    comms = gpd.GeoDataFrame(
        {"id": ["k"], "name": ["围墙小区"], "closed": [closed]}, geometry=[box(X0, Y0, X0 + 100, Y0 + 100)], crs=CRS
    )
    g = gpd.GeoDataFrame({"gate_id": ["G"], "access": [access], "source": ["test"]}, geometry=[_pt(50, 0)], crs=CRS)
    return gates.find_compounds(comms, None, g)


def _residents(points) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "point_id": [f"r{i}" for i in range(len(points))],
            "community_id": [c for _, _, c in points],
            "population": 1.0,
        },
        geometry=[_pt(x, y) for x, y, _ in points],
        crs=CRS,
    )


def _facilities(points) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(len(points))], "facility_type": [t for _, _, t in points], "name": ""},
        geometry=[_pt(x, y) for x, y, _ in points],
        crs=CRS,
    )


def _nx_distance(resident_xy, exits, target_xy) -> float:
    """Independent: networkx Dijkstra on the same streets, the resident joined to the street
    network by a straight edge to each way out it may take (the gate, or a point on a street
    inside), the facility a node on its street."""
    g = nx.Graph()
    for a, b in EDGES:
        g.add_edge(NODES[a], NODES[b], weight=float(np.hypot(*np.subtract(NODES[a], NODES[b]))))

    def split(p):
        for a, b in list(g.edges):
            if LineString([a, b]).distance(Point(p)) < 1e-9 and p not in (a, b):
                w = g.edges[a, b]["weight"]
                g.remove_edge(a, b)
                g.add_edge(a, p, weight=float(np.hypot(*np.subtract(a, p))))
                g.add_edge(p, b, weight=w - float(np.hypot(*np.subtract(a, p))))
                return

    split(target_xy)
    for e in exits:
        split(e)
    for e in exits:
        g.add_edge("R", e, weight=float(np.hypot(*np.subtract(resident_xy, e))))
    return nx.shortest_path_length(g, "R", target_xy, weight="weight")


def test_times_through_the_gate_equal_networkx():
    net = _net()
    comp = _compound()
    assert comp.table["closed_by"].tolist() == ["boundaries"]
    # residents on the compound's axis: the nearest street inside is on the way to the gate
    pts = [(50, 90, "k"), (50, 80, "k")]
    res = _residents(pts)
    fac = _facilities([(50, 110, "park")])  # on the north road, 20 m beyond the north wall
    hook = gates.constrainer(net, comp, res, 250.0)
    gated = compute_access(net, res, fac, ["park"], limit_m=5000, max_attach_m=250, progress=False, constrain=hook)
    free = compute_access(net, res, fac, ["park"], limit_m=5000, max_attach_m=250, progress=False)
    for i, (x, y, _) in enumerate(pts):
        want = _nx_distance((x, y), [NODES["G"], (50, 40)], (50, 110))
        assert gated.residents["dist_park"].iloc[i] == pytest.approx(want)
        # ignoring the wall: straight north to the road
        assert free.residents["dist_park"].iloc[i] == pytest.approx(110 - y)
    # by hand: (50, 90) -> (50, 40) 50 m, -> G 40, -> S 10, -> round the ring to N 60 + 120 + 60
    assert gated.residents["dist_park"].iloc[0] == pytest.approx(50 + 40 + 10 + 240)


def _crossings(net, access, comp, x, y) -> list[int]:
    """Points whose way to the street crosses the wall elsewhere than at a gate: the leg goes
    straight to the street, or straight to a gate and on from the gate."""
    att = access.attachment
    bad = []
    for i in np.flatnonzero(att.attached):
        foot = shapely.line_interpolate_point(net.geometry[att.edge[i]], att.offset[i])
        p = Point(x[i], y[i])
        if not LineString([p, foot]).intersects(comp.walls) and abs(p.distance(foot) - att.leg[i]) < 1e-6:
            continue
        via = [
            g
            for g in comp.gates.geometry
            if abs(p.distance(g) + g.distance(foot) - att.leg[i]) < 1e-6
            and not LineString([p, g]).intersects(comp.walls)
        ]
        if not via:
            bad.append(int(i))
    return bad


def test_no_leg_crosses_the_wall():
    net = _net()
    comp = _compound()
    rng = np.random.default_rng(3)
    inside = [(float(a), float(b), "k") for a, b in rng.uniform(2, 98, (40, 2))]
    outside = [(-5.0, 50.0, "o"), (105.0, 50.0, "o"), (50.0, 104.0, "o")]  # nearest street may be across the wall
    res = _residents(inside + outside)
    fac = _facilities([(10, 10, "kindergarten"), (50, 110, "park"), (95, 50, "clinic")])
    hook = gates.constrainer(net, comp, res, 250.0)
    acc = compute_access(
        net,
        res,
        fac,
        ["park", "kindergarten", "clinic"],
        limit_m=5000,
        max_attach_m=250,
        progress=False,
        constrain=hook,
    )
    x = np.r_[res.geometry.x, acc.access_points["x"]]
    y = np.r_[res.geometry.y, acc.access_points["y"]]
    assert acc.residents["placed"].all()
    assert _crossings(net, acc, comp, x, y) == []
    # without the walls, some legs do cross (the test can fail)
    free = compute_access(net, res, fac, ["park"], limit_m=5000, max_attach_m=250, progress=False)
    assert len(_crossings(net, free, comp, x, y)) > 0
    # an outside point next to the wall attaches to the outside road, not to the street inside
    assert acc.attachment.leg[len(inside) + 1] == pytest.approx(5.0)


def test_private_gate_serves_its_residents_only():
    net = _net(inside_street=False)
    comp = _compound(access="private")
    assert comp.gates["private"].tolist() == [True]
    res = _residents([(50, 90, "k"), (50, 90, "elsewhere")])  # the same place, residents of two compounds
    fac = _facilities([(20, 20, "clinic"), (50, 110, "park")])  # the clinic is inside
    hook = gates.constrainer(net, comp, res, 250.0)
    acc = compute_access(
        net, res, fac, ["park", "clinic"], limit_m=5000, max_attach_m=250, progress=False, constrain=hook
    )
    # the compound's own resident leaves by the private gate: 90 m to G, 10 to S, 240 round the ring
    assert acc.residents["placed"].tolist() == [True, False]
    assert acc.residents["dist_park"].iloc[0] == pytest.approx(90 + 10 + 240)
    # the clinic inside has no public way in: set aside, not reached through the wall
    assert acc.facilities["placed"].tolist() == [False, True]
    # a public gate: the clinic is reached through it
    acc2 = compute_access(
        net,
        res,
        fac,
        ["clinic"],
        limit_m=5000,
        max_attach_m=250,
        progress=False,
        constrain=gates.constrainer(net, _compound(), res, 250.0),
    )
    assert acc2.facilities["placed"].tolist() == [True, True]
    # resident (50, 90) to the clinic (20, 20): both walk straight to G: 90 + hypot(30, 20)
    assert acc2.residents["dist_clinic"].iloc[0] == pytest.approx(90 + np.hypot(30, 20))


def test_detour_table_and_walls_from_lines():
    net = _net()
    walls = gpd.GeoDataFrame(geometry=[LineString([_pt(0, 0), _pt(0, 100), _pt(100, 100)])], crs=CRS)  # 2 sides
    comms = gpd.GeoDataFrame({"id": ["k"], "name": ["围墙小区"]}, geometry=[box(X0, Y0, X0 + 100, Y0 + 100)], crs=CRS)
    g = gpd.GeoDataFrame({"gate_id": ["G"], "access": [""], "source": ["OSM"]}, geometry=[_pt(50, 0)], crs=CRS)
    comp = gates.find_compounds(comms, walls, g)
    assert comp.table["closed_by"].tolist() == ["walls"]  # half the outline walled >= WALL_SHARE
    short = gpd.GeoDataFrame(geometry=[LineString([_pt(0, 0), _pt(0, 20)])], crs=CRS)
    assert len(gates.find_compounds(comms, short, g)) == 0  # 5 % walled: open
    res = _residents([(50, 90, "k"), (50, 80, "k")])
    fac = _facilities([(50, 110, "park")])
    gated = compute_access(
        net,
        res,
        fac,
        ["park"],
        limit_m=5000,
        max_attach_m=250,
        progress=False,
        constrain=gates.constrainer(net, comp, res, 250.0),
    )
    free = compute_access(net, res, fac, ["park"], limit_m=5000, max_attach_m=250, progress=False)
    t = gates.detour_table(comp, gated.residents, free.residents, ["park"], {"park": 50.0})
    row = t.iloc[0]
    assert row["gates"] == "G" and row["gates_public"] == 1 and row["resident_points"] == 2
    # (340 - 20) / 50 and (330 - 30) / 50 minutes
    assert row["detour_min_max"] == pytest.approx(6.4)
    assert row["detour_min_median"] == pytest.approx((6.4 + 6.0) / 2)


def test_demo_osm_walls_and_gates(caplog):
    """The demo's OSM: two compounds are walled along a third of their outline but have no gate
    near it (left open, with a warning); closed by the boundaries, two compounds have gates."""
    from circles import demo
    from circles.load import load_communities

    comms = load_communities(demo.DEMO_BOUNDARIES).to_crs(CRS)
    with caplog.at_level("WARNING", logger="circles.gates"):
        comp = gates.load_compounds("osm", demo.DEMO_OSM, comms)
    assert len(comp) == 0
    assert sum("closed (walls) but has no gate" in r.getMessage() for r in caplog.records) == 2
    closed = comms.assign(closed="true")
    comp = gates.load_compounds("osm", demo.DEMO_OSM, closed)
    assert sorted(comp.table["name"]) == ["大华花园别墅", "石科院生活区"]
    # every gate sits on its compound's outline
    outline = comp.table.set_index("compound_id").geometry.boundary
    for g in comp.gates.itertuples():
        assert outline[g.compound_id].distance(g.geometry) < 1e-6
    with pytest.raises(gates.InputError, match="OSM network file"):
        gates.load_compounds("osm", "network.npz", comms)
