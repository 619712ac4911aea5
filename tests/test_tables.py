"""Reading facility tables (circles._tables): encodings, column conventions, bad rows, Excel."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from pyproj import Geod, Transformer

from circles._tables import PROBLEM_COLUMNS, read_facility_table
from circles.chinacrs import bd09_to_wgs84, gcj02_to_wgs84

GEOD = Geod(ellps="WGS84")

# Three facilities near Rugao; the names use characters outside ASCII (and one outside GBK).
NAMES = ["迎新社区日间照料中心", "孔庙幼儿园", "仙鹤菜市场"]
LONS = [120.5712, 120.5801, 120.5655]
LATS = [32.3702, 32.3655, 32.3781]


def write_text(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_text(lon_name: str, lat_name: str, names=NAMES, sep: str = ",") -> str:
    lines = [sep.join(["名称", lon_name, lat_name, "备注"])]
    for n, x, y in zip(names, LONS, LATS, strict=True):
        lines.append(sep.join([n, f"{x}", f"{y}", "无"]))
    return "\r\n".join(lines) + "\r\n"


def coords(gdf) -> tuple[np.ndarray, np.ndarray]:
    return gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --------------------------------------------------------------------------- encodings x conventions

ENCODINGS = [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")]
COLUMN_NAMES = [
    ("经度", "纬度"),
    ("lng", "lat"),
    ("Longitude", "Latitude"),
    ("LON", "LAT"),
    ("X", "Y"),
    ("gcj_lng", "gcj_lat"),
    ("wgs_lng", "wgs_lat"),
    ("long", "latitude"),
    ("经度(WGS84)", "纬度(WGS84)"),
]


@pytest.mark.parametrize("encoding, detected", ENCODINGS)
@pytest.mark.parametrize("lon_name, lat_name", COLUMN_NAMES)
def test_csv_encodings_and_column_names(tmp_path, caplog, encoding, detected, lon_name, lat_name):
    path = write_text(tmp_path / "facilities.csv", csv_text(lon_name, lat_name), encoding)
    with caplog.at_level(logging.INFO, logger="circles._tables"):
        gdf, problems = read_facility_table(path)
    assert problems.empty
    assert list(gdf["名称"]) == NAMES
    assert list(gdf.columns) == ["名称", lon_name, lat_name, "备注", "source_row", "geometry"]
    assert list(gdf["source_row"]) == [2, 3, 4]
    assert gdf.crs == "EPSG:4326"
    x, y = coords(gdf)
    np.testing.assert_allclose(x, LONS)
    np.testing.assert_allclose(y, LATS)
    assert f"encoding {detected}" in caplog.text


def test_gb18030_only_characters(tmp_path):
    names = ["𠮷野家超市", "社区卫生服务站", "菜鸟驿站"]  # 𠮷 (U+20BB7) is not in GBK
    path = write_text(tmp_path / "f.csv", csv_text("lng", "lat", names), "gb18030")
    gdf, _ = read_facility_table(path)
    assert list(gdf["名称"]) == names


def test_explicit_encoding_and_tab_separator(tmp_path):
    path = write_text(tmp_path / "f.txt", csv_text("lng", "lat", sep="\t"), "gbk")
    gdf, problems = read_facility_table(path, encoding="gbk")
    assert list(gdf["名称"]) == NAMES and problems.empty
    with pytest.raises(ValueError, match=r"f\.txt.*utf-8"):
        read_facility_table(path, encoding="utf-8")


def test_gcj02_declared_is_converted(tmp_path):
    path = write_text(tmp_path / "amap.csv", csv_text("lng", "lat"), "utf-8")
    gdf, problems = read_facility_table(path, crs="GCJ-02")
    assert problems.empty
    x, y = coords(gdf)
    ex, ey = gcj02_to_wgs84(np.array(LONS), np.array(LATS))
    np.testing.assert_allclose(x, ex, atol=1e-12)
    np.testing.assert_allclose(y, ey, atol=1e-12)
    d = metres(LONS, LATS, x, y)
    assert np.all((d > 400) & (d < 550)), d  # GCJ-02 is ~470 m off at Rugao
    assert list(gdf["lng"]) == [str(v) for v in LONS], "original columns are kept as written"


def test_amap_location_column_bd09_and_full_width_comma(tmp_path):
    text = "name,location,typecode\n"
    text += f'{NAMES[0]},"{LONS[0]},{LATS[0]}",090300\n'
    text += f'{NAMES[1]},"{LONS[1]}，{LATS[1]}",141204\n'  # full-width comma
    text += f"{NAMES[2]},{LONS[2]}，{LATS[2]},060703|060706\n"  # unquoted, full-width comma
    path = write_text(tmp_path / "baidu.csv", text, "utf-8-sig")
    gdf, problems = read_facility_table(path, crs="bd09")
    assert problems.empty, problems
    assert list(gdf["name"]) == NAMES
    assert list(gdf["typecode"]) == ["090300", "141204", "060703|060706"], "leading zeros kept"
    x, y = coords(gdf)
    ex, ey = bd09_to_wgs84(np.array(LONS), np.array(LATS))
    np.testing.assert_allclose(x, ex, atol=1e-12)
    np.testing.assert_allclose(y, ey, atol=1e-12)
    assert np.all(metres(LONS, LATS, x, y) > 700)


@pytest.mark.parametrize("col", ["location", "坐标", "经纬度", "lnglat"])
def test_location_column_names(tmp_path, col):
    text = f'名称,{col}\n{NAMES[0]},"{LONS[0]},{LATS[0]}"\n'
    gdf, _ = read_facility_table(write_text(tmp_path / "f.csv", text, "utf-8"))
    assert gdf.geometry.iloc[0].x == pytest.approx(LONS[0])


def test_explicit_columns(tmp_path):
    text = "name,east,north,pos\n" + f'a,{LONS[0]},{LATS[0]},"{LONS[1]},{LATS[1]}"\n'
    path = write_text(tmp_path / "f.csv", text, "utf-8")
    gdf, _ = read_facility_table(path, lon_col="east", lat_col="north")
    assert gdf.geometry.iloc[0].x == pytest.approx(LONS[0])
    gdf, _ = read_facility_table(path, lon_col="pos", lat_col="pos")  # combined column
    assert gdf.geometry.iloc[0].x == pytest.approx(LONS[1])
    with pytest.raises(ValueError, match=r"f\.csv.*'nope'.*columns found.*'east'"):
        read_facility_table(path, lon_col="nope", lat_col="north")


def test_projected_epsg_coordinates(tmp_path):
    # Web Mercator metres: the -180..180 test must not apply, the CRS conversion must.
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(LONS[0], LATS[0])
    text = f"name,x,y\na,{x:.3f},{y:.3f}\n"
    gdf, problems = read_facility_table(write_text(tmp_path / "f.csv", text, "utf-8"), crs="EPSG:3857")
    assert problems.empty
    assert gdf.crs == "EPSG:4326"
    assert gdf.geometry.iloc[0].x == pytest.approx(LONS[0], abs=1e-7)
    assert gdf.geometry.iloc[0].y == pytest.approx(LATS[0], abs=1e-7)


# --------------------------------------------------------------------------- bad rows


def test_bad_rows_are_reported_not_dropped(tmp_path):
    rows = [
        ("好A", "120.5712", "32.3702"),  # row 2  ok
        ("缺纬度", "120.5801", ""),  # row 3  missing latitude
        ("文字", "abc", "32.3655"),  # row 4  not a number
        ("越界", "200", "32.37"),  # row 5  longitude out of range
        ("零", "0", "0"),  # row 6  0/0
        ("颠倒", "32.3781", "120.5655"),  # row 7  swapped (declared GCJ-02)
        None,  # row 8  blank line (still a spreadsheet row)
        ("好B", "120.5655", "32.3781"),  # row 9  ok
        ("全角", "１２０．５７", "32.37"),  # row 10 full-width digits are fine
    ]
    lines = ["名称,经度,纬度"] + ["" if r is None else ",".join(r) for r in rows]
    path = write_text(tmp_path / "bad.csv", "\n".join(lines) + "\n", "gbk")
    gdf, problems = read_facility_table(path, crs="gcj02")

    assert list(gdf["名称"]) == ["好A", "好B", "全角"]
    assert list(gdf["source_row"]) == [2, 9, 10]
    assert list(problems.columns) == PROBLEM_COLUMNS
    assert set(problems["source_file"]) == {str(path)}
    got = {int(r.row_number): (r.field, r.value, r.reason) for r in problems.itertuples()}
    assert sorted(got) == [3, 4, 5, 6, 7]
    assert got[3] == ("纬度", "", "missing latitude")
    assert got[4] == ("经度", "abc", "longitude is not a number")
    assert got[5][0] == "经度" and got[5][1] == "200" and "outside -180..180" in got[5][2]
    assert got[6][0] == "经度 / 纬度" and "both 0" in got[6][2]
    assert got[7][0] == "经度 / 纬度" and got[7][1] == "32.3781, 120.5655" and "swapped" in got[7][2]


def test_swapped_in_wgs84_when_latitude_is_impossible(tmp_path):
    text = "name,lng,lat\nswapped,32.37,120.57\narctic,40.0,80.0\n"
    gdf, problems = read_facility_table(write_text(tmp_path / "f.csv", text, "utf-8"))
    assert list(gdf["name"]) == ["arctic"], "a valid WGS-84 arctic point is not 'swapped'"
    assert problems["row_number"].tolist() == [2] and "swapped" in problems["reason"].iloc[0]


def test_bad_location_cells(tmp_path):
    text = 'name,location\na,"120.57"\nb,\nc,"x,32.3"\nd,"120.57,32.37"\n'
    gdf, problems = read_facility_table(write_text(tmp_path / "f.csv", text, "utf-8"))
    assert list(gdf["name"]) == ["d"]
    reasons = dict(zip(problems["row_number"], problems["reason"], strict=True))
    assert "expected 'lng,lat'" in reasons[2]
    assert reasons[3] == "missing coordinates"
    assert reasons[4] == "longitude is not a number"
    assert set(problems["field"]) == {"location"}


# --------------------------------------------------------------------------- Excel


def test_xlsx_with_title_row_and_sheet_choice(tmp_path):
    path = tmp_path / "设施清单.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"
    ws.append(["这张表不是数据"])
    data = wb.create_sheet("设施")
    data.append(["如皋市迎新社区公共服务设施清单"])  # row 1: title
    data.append(["序号", "设施名称", "类型", "经度", "纬度", "编码"])  # row 2: header
    for i, (n, x, y) in enumerate(zip(NAMES, LONS, LATS, strict=True), start=1):
        data.append([i, n, "社区设施", x, y, "090300"])  # rows 3-5, numbers as numbers
    data.append([4, "坏行", "社区设施", "abc", 32.37, None])  # row 6
    wb.save(path)

    gdf, problems = read_facility_table(path, sheet="设施")
    assert list(gdf["设施名称"]) == NAMES
    assert list(gdf["source_row"]) == [3, 4, 5]
    np.testing.assert_allclose(coords(gdf)[0], LONS)
    assert list(gdf["编码"]) == ["090300"] * 3
    assert problems[["row_number", "field", "value"]].values.tolist() == [[6, "经度", "abc"]]
    gdf1, _ = read_facility_table(path, sheet=1)
    assert len(gdf1) == 3
    with pytest.raises(ValueError, match=r"设施清单\.xlsx.*no sheet named '其他'.*设施"):
        read_facility_table(path, sheet="其他")
    with pytest.raises(ValueError, match=r"设施清单\.xlsx.*no coordinate columns"):
        read_facility_table(path)  # the first sheet has no coordinates


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nothing\.csv: file not found"):
        read_facility_table(tmp_path / "nothing.csv")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (b"\n\n", "empty"),
        ("名称,经度,纬度\n".encode(), "no data rows"),
    ],
)
def test_empty_tables(tmp_path, content, message):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"empty\.csv.*{message}"):
        read_facility_table(path)


def test_undecodable_file(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"name,lng,lat\n\x80\x81\xff,1,2\n")
    with pytest.raises(ValueError, match=r"garbage\.csv: cannot be decoded as UTF-8 or GB18030"):
        read_facility_table(path)


def test_no_or_ambiguous_coordinate_columns(tmp_path):
    none = write_text(tmp_path / "none.csv", "名称,地址\n甲,某路1号\n", "utf-8")
    with pytest.raises(ValueError, match=r"none\.csv: no coordinate columns.*Columns found: '名称', '地址'"):
        read_facility_table(none)
    several = write_text(tmp_path / "several.csv", "name,lng,x,lat\na,120,120,32\n", "utf-8")
    with pytest.raises(ValueError, match=r"several\.csv: several candidate.*'lng', 'x'"):
        read_facility_table(several)
    both = write_text(tmp_path / "both.csv", 'name,lng,lat,location\na,120,32,"120,32"\n', "utf-8")
    with pytest.raises(ValueError, match=r"both\.csv: both a longitude/latitude pair"):
        read_facility_table(both)
    half = write_text(tmp_path / "half.csv", "name,lng,高度\na,120,3\n", "utf-8")
    with pytest.raises(ValueError, match=r"half\.csv: found a longitude column \('lng'\) but no latitude"):
        read_facility_table(half)


def test_unsupported_inputs(tmp_path):
    path = write_text(tmp_path / "f.csv", csv_text("lng", "lat"), "utf-8")
    with pytest.raises(ValueError, match=r"f\.csv, field 'crs': coordinate system 'mars2000'.*gcj02"):
        read_facility_table(path, crs="mars2000")
    other = write_text(tmp_path / "f.json", "{}", "utf-8")
    with pytest.raises(ValueError, match=r"f\.json: unsupported file type"):
        read_facility_table(other)
    old = tmp_path / "f.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ValueError, match=r"f\.xls: old Excel"):
        read_facility_table(old)
    fake = write_text(tmp_path / "fake.xlsx", "not a zip", "utf-8")
    with pytest.raises(ValueError, match=r"fake\.xlsx: cannot be read as an Excel"):
        read_facility_table(fake)
