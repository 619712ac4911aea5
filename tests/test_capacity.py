"""Two-step floating catchment (2SFCA) against a hand-computed example."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from circles import capacity
from circles.access import compute_access
from circles.network import WalkNetwork

CRS = "EPSG:32650"


def _line_network() -> WalkNetwork:
    """One straight street, x = 0 … 1000 m, nodes at 0, 500 and 1000."""
    return WalkNetwork(
        crs=CRS,
        node_ids=np.array([1, 2, 3]),
        x=np.array([0.0, 500.0, 1000.0]),
        y=np.zeros(3),
        u=np.array([0, 1]),
        v=np.array([1, 2]),
        length=np.array([500.0, 500.0]),
        geometry=np.array([shapely.LineString([(0, 0), (500, 0)]), shapely.LineString([(500, 0), (1000, 0)])]),
    )


@pytest.fixture(scope="module")
def small_access():
    # Residents on the street: a1 at x=100 (100 people), a2 at x=400 (200) in community "a";
    # b1 at x=900 (300) in community "b". Childcare f1 at x=0 (30 places), f2 at x=1000 (60).
    res = gpd.GeoDataFrame(
        {"point_id": ["a#1", "a#2", "b#1"], "community_id": ["a", "a", "b"], "population": [100.0, 200.0, 300.0]},
        geometry=shapely.points([100, 400, 900], [0, 0, 0]),
        crs=CRS,
    )
    fac = gpd.GeoDataFrame(
        {
            "id": ["f1", "f2"],
            "facility_type": ["childcare", "childcare"],
            "name": ["F1", "F2"],
            "capacity": [30.0, 60.0],
        },
        geometry=shapely.points([0, 1000], [0, 0]),
        crs=CRS,
    )
    return compute_access(_line_network(), res, fac, ["childcare"], limit_m=2000, progress=False)


def test_hand_computed_example(small_access):
    # Catchment 650 m along the street:
    #   f1 (x=0) reaches a1 (100 m) and a2 (400 m), not b1 (900 m)    -> demand 100 + 200 = 300
    #   f2 (x=1000) reaches b1 (100 m) and a2 (600 m), not a1 (900 m) -> demand 200 + 300 = 500
    # Step 1: R1 = 30 / 300 = 0.10 ; R2 = 60 / 500 = 0.12 places per resident
    # Step 2: A(a1) = R1 = 0.10 ; A(a2) = R1 + R2 = 0.22 ; A(b1) = R2 = 0.12
    # Community a: (100·0.10 + 200·0.22) / 300 = 54 / 300 = 0.18 -> 180 places per 1000 residents
    # Community b: 0.12 -> 120 per 1000. Check: 100·0.10 + 200·0.22 + 300·0.12 = 90 = 30 + 60 places.
    comms = pd.DataFrame({"id": ["a", "b"], "population": [300.0, 300.0]})
    r = capacity.accessible_supply(small_access, "childcare", 650, "capacity", "residents", 1000, comms)
    assert r.ratio == pytest.approx([0.10, 0.12])
    assert r.accessible == pytest.approx([0.10, 0.22, 0.12])
    assert r.per_community["a"] == pytest.approx(180.0)
    assert r.per_community["b"] == pytest.approx(120.0)
    demand = small_access.residents["population"].to_numpy()
    assert (demand * r.accessible).sum() == pytest.approx(90.0)


def test_households_as_demand(small_access):
    # Community a has 300 residents in 100 households (3 per household), b 300 in 150.
    # Household demand: a1 100/3, a2 200/3, b1 150.
    # R1 = 30 / 100 = 0.3 ; R2 = 60 / (200/3 + 150) = 60 / 216.67 = 0.27692
    # a: (100/3·0.3 + 200/3·(0.3 + 0.27692)) / 100 = (10 + 38.4615) / 100 = 0.484615 -> 48.46 per 100 households
    comms = pd.DataFrame({"id": ["a", "b"], "population": [300.0, 300.0], "households": [100.0, 150.0]})
    r = capacity.accessible_supply(small_access, "childcare", 650, "capacity", "households", 100, comms)
    assert r.per_community["a"] == pytest.approx(48.4615, rel=1e-4)
    assert r.per_community["b"] == pytest.approx(27.692, rel=1e-4)


def test_small_catchment_and_unreached_facility(small_access):
    # 50 m: nobody is within reach of either facility -> ratios NaN, accessible supply 0
    comms = pd.DataFrame({"id": ["a", "b"], "population": [300.0, 300.0]})
    r = capacity.accessible_supply(small_access, "childcare", 50, "capacity", "residents", 1000, comms)
    assert np.isnan(r.ratio).all()
    assert r.per_community == {"a": 0.0, "b": 0.0}


def test_core_function_checks_inputs():
    reach = np.array([[True, False], [True, True]])
    ratio, acc = capacity.two_step_fca(reach, np.array([10.0, np.nan]), np.array([5.0, 5.0]))
    # facility 2 has no known supply: it counts as 0
    assert ratio == pytest.approx([2.0, 0.0]) and acc == pytest.approx([2.0, 0.0])
    with pytest.raises(ValueError, match="reach matrix"):
        capacity.two_step_fca(reach, np.array([1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="negative"):
        capacity.two_step_fca(reach, np.array([-1.0, 1.0]), np.array([1.0, 1.0]))


def test_sizes_from_outlines_for_land():
    fac = gpd.GeoDataFrame(
        {"id": ["p", "q"], "facility_type": ["park", "park"], "size_m2": [np.nan, 50.0]},
        geometry=[shapely.box(0, 0, 100, 40), shapely.box(0, 0, 10, 10)],
        crs=CRS,
    )
    assert capacity.facility_sizes(fac, np.array([0, 1]), "land") == pytest.approx([4000.0, 50.0])
    sizes = capacity.facility_sizes(fac, np.array([0, 1]), "building")
    assert np.isnan(sizes[0]) and sizes[1] == 50.0
