"""Chinese inputs end to end: GCJ-02 / BD-09 facility lists, shift detection, tables."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from circles import chinacrs, cli, demo, pipeline


def _shifted_copy(fac: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    out = chinacrs.from_wgs84(fac, crs)
    return out.set_crs("EPSG:4326", allow_override=True)  # as an Amap export would label it


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_shifted_facilities_give_the_same_report(tmp_path, demo_result, demo_facilities, crs):
    path = tmp_path / f"facilities_{crs}.geojson"
    _shifted_copy(demo_facilities, crs).to_file(path, driver="GeoJSON")
    r = pipeline.analyse(
        demo.DEMO_BOUNDARIES, path, demo.DEMO_OSM, buildings=demo.DEMO_BUILDINGS, facilities_crs=crs, progress=False
    )
    a, b = demo_result.gaps, r.gaps
    assert (a["status"] == b["status"]).all()
    assert np.allclose(a["covered_share"].fillna(-1), b["covered_share"].fillna(-1), atol=1e-4)
    assert np.allclose(a["nearest_min_median"].fillna(-1), b["nearest_min_median"].fillna(-1), atol=0.01)
    assert not r.warnings


def test_undeclared_gcj02_list_is_caught(tmp_path, demo_facilities, demo_result):
    path = tmp_path / "amap.geojson"
    _shifted_copy(demo_facilities, "gcj02").to_file(path, driver="GeoJSON")
    r = pipeline.analyse(demo.DEMO_BOUNDARIES, path, demo.DEMO_OSM, buildings=demo.DEMO_BUILDINGS, progress=False)
    assert len(r.warnings) == 1
    msg = r.warnings[0]
    assert "gcj02" in msg.lower() or "GCJ-02" in msg
    # the declared run is off the streets by hundreds of metres: the report would differ
    truth = demo_result
    assert (truth.gaps["status"] != r.gaps["status"]).any()


def test_facility_table_in_gbk_with_amap_codes(tmp_path, demo_facilities, capsys):
    """A department/Amap-style CSV in GBK, GCJ-02 coordinates in one 'location' column,
    types from Amap typecodes and Chinese words; bad rows listed, not dropped."""
    pts = demo_facilities[demo_facilities.geom_type == "Point"].head(6)
    gcj = chinacrs.from_wgs84(pts, "gcj02")
    rows = []
    codes = {
        "kindergarten": "141204",
        "clinic": "090300",
        "food_market": "060400",
        "convenience_store": "060200",
        "pharmacy": "090601",
        "fitness": "080111",
        "car_parking": "150904",
        "parcel_point": "070500",
        "community_service": "",
        "park": "110101",
        "bus_stop": "150700",
    }
    for i, (t, g) in enumerate(zip(gcj["facility_type"], gcj.geometry, strict=True)):
        rows.append(
            {
                "名称": f"设施{i}",
                "类型编码": codes.get(t, ""),
                "location": f"{g.x:.6f},{g.y:.6f}",
                "建筑面积": 100 + i,
                "床位": "",
            }
        )
    rows.append(
        {
            "名称": "阳光托育中心",
            "类型编码": "",
            "location": f"{gcj.geometry.x.iloc[0]:.6f},{gcj.geometry.y.iloc[0]:.6f}",
            "床位": 30,
        }
    )
    rows.append({"名称": "坐标缺失的养老服务站", "类型编码": "", "location": ""})
    rows.append({"名称": "某公司", "类型编码": "170200", "location": "116.35,40.0"})
    path = tmp_path / "poi_gbk.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    bounds = tmp_path / "b.geojson"
    gpd.read_file(demo.DEMO_BOUNDARIES).head(3).to_file(bounds, driver="GeoJSON")
    code = cli.main(
        [
            "run",
            "--boundaries",
            str(bounds),
            "--facilities",
            str(path),
            "--network",
            str(demo.DEMO_OSM),
            "--facilities-crs",
            "gcj02",
            "--out",
            str(tmp_path / "out"),
            "--cache",
            "",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    facs = pd.read_csv(tmp_path / "out" / "facilities.csv")
    assert "childcare" in set(facs["facility_type"])  # 托育 from the name
    assert facs.loc[facs["facility_type"] == "childcare", "capacity"].iloc[0] == 30  # 床位 kept
    assert facs["size_m2"].notna().sum() >= 5  # 建筑面积 kept
    problems = pd.read_csv(tmp_path / "out" / "input_problems.csv")
    assert len(problems) >= 2
    reasons = " ".join(problems["reason"])
    assert "facility type" in reasons
    assert (problems["row_number"] >= 2).all()  # spreadsheet row numbers, header = row 1
    assert "行输入未纳入" in out.out  # the summary is in the map language (Chinese by default)
    # converted back to WGS-84: on the same streets as the OSM originals
    used = facs[facs["status"] == "used"]
    assert used["snap_m"].max() < 120
