"""Report-grade figures: files, resolution, content, colours, and nothing clipped."""

from __future__ import annotations

import itertools
import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import layout_problems, trimmed_result
from matplotlib.colors import to_hex
from PIL import Image

from circles import _display, _typeset, figures
from circles._labels import (
    ATTRIBUTION,
    FACILITY_FOCUS_COLOUR,
    FACILITY_ICON_COLOUR,
    REACH_COLOURS,
    STATUS_COLOURS,
    STATUS_MARK,
    STATUS_ORDER,
    WALK_AREA_COLOUR,
)

AUTHOR = "测试区示范街道办事处"
DATE = "2026-01-02"


def pixels_near(img: np.ndarray, hex_colour: str, tol: int = 12) -> int:
    c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img.astype(int) - c).max(axis=-1) <= tol).sum())


@pytest.fixture(scope="module")
def ctx(demo_result):
    return figures.context(demo_result, "zh", author=AUTHOR, date=DATE)


@pytest.fixture(scope="module")
def demo_figures(demo_result, ctx, tmp_path_factory):
    """Every figure of the demo, at a low resolution (the layout is the same at any dpi)."""
    return figures.write_figures(demo_result, tmp_path_factory.mktemp("figures"), ctx=ctx, dpi=60)


def all_text(fig) -> str:
    return " ".join(t.get_text() for t in _typeset.text_artists(fig))


def test_cjk_font_is_available():
    assert _typeset.cjk_font() is not None, "no CJK font: run `bash .ci/install_browser.sh` (fonts-noto-cjk)"


def test_gaps_first_then_overview_and_one_per_community(demo_figures, demo_result):
    comm = demo_result.communities
    names = [p.name for p in demo_figures]
    assert names[:2] == ["gaps.png", "overview.png"]
    assert sorted(names[2:]) == sorted(_display.community_file_name(c)[:-5] + ".png" for c in comm["id"])
    worst = demo_result.gaps.groupby("community_id")["status"].agg(_display.worst_status)
    for p in demo_figures[1:]:
        img = np.asarray(Image.open(p).convert("RGB"))
        assert abs(img.shape[0] - 8.27 * 60) <= 1 and abs(img.shape[1] - 11.69 * 60) <= 1  # A4 landscape
        background = (img == 255).all(axis=-1).mean()
        assert 0.3 < background < 0.97, p.name
        if p.name != "overview.png":
            cid = next(c for c in comm["id"] if p.name == _display.community_file_name(c)[:-5] + ".png")
            # the boundary is drawn in the colour of the community's worst status
            assert pixels_near(img, STATUS_COLOURS[worst[cid]]) > 60, p.name


def test_figures_are_300_dpi_by_default(demo_result, tmp_path):
    small = trimmed_result(demo_result, 1)
    (path,) = figures.write_figures(small, tmp_path, types=["park"], overview=False)
    img = Image.open(path)
    assert abs(img.size[0] - 11.69 * 300) <= 1 and abs(img.size[1] - 8.27 * 300) <= 1
    assert round(img.info["dpi"][0]) == 300


@pytest.mark.parametrize("which", ["overview", "community", "gaps"])
def test_nothing_leaves_the_page_or_its_cell(ctx, which):
    if which == "gaps":
        fig = figures.gaps_figure(ctx, ctx.ranking, fit=True)
    else:
        fig = figures.community_figure(ctx, None if which == "overview" else ctx.ranking[0])
    assert layout_problems(fig) == []


def test_long_names_wrap_inside_their_cells(demo_result):
    cid = str(demo_result.communities["id"].iloc[0])
    long = "某某市某某区某某街道某某社区居民委员会第一网格东区北苑小区（含回迁安置房）"
    small = trimmed_result(demo_result, 2, {cid: long})
    c = figures.context(small, "zh", author=AUTHOR * 3, date=DATE)
    fig = figures.community_figure(c, cid)
    assert long[:10] in all_text(fig)
    assert layout_problems(fig) == []
    fig = figures.gaps_figure(c, c.ranking, fit=True)
    assert layout_problems(fig) == []


def test_every_figure_states_date_author_sources(ctx, demo_result):
    files = ["communities.geojson", "facilities.geojson", "cau_haidian.osm.bz2", "buildings.geojson"]
    for fig in (
        figures.community_figure(ctx, None),
        figures.community_figure(ctx, ctx.ranking[-1]),
        figures.gaps_figure(ctx, ctx.ranking, fit=True),
    ):
        text = all_text(fig)
        assert AUTHOR in text and DATE in text
        assert ATTRIBUTION in text
        assert all(f in text for f in files)
        assert demo_result.rulebook.name_zh in text


def test_osm_attribution_only_with_osm_data(demo_result):
    assert figures.uses_osm(demo_result)
    fac = pd.DataFrame({"id": ["A1"], "source": ["街道普查 2025"]})
    other = SimpleNamespace(
        inputs={"network": "city.graphml", "facilities": "survey.csv"},
        network=SimpleNamespace(source="city.graphml"),
        facilities=fac,
        communities=pd.DataFrame({"id": ["C1"]}),
    )
    assert not figures.uses_osm(other)
    meta = figures.Meta("2026-01-02", "", ("survey.csv",), False, "标准", "0")
    assert "OpenStreetMap" not in figures.footer_text(meta, "zh")


def test_estimated_population_is_marked(ctx):
    comm = ctx.p.comm
    est = comm[comm["population_estimated"].astype(bool)]
    cid = str(est["id"].iloc[0])
    pop = float(est["population"].iloc[0])
    title = figures.community_title(ctx, cid)
    assert f"人口 {pop:,.0f}（估算）" in title
    assert title in all_text(figures.community_figure(ctx, cid))
    comm.loc[comm["id"] == cid, "population_estimated"] = False
    try:
        assert "估算" not in figures.community_title(ctx, cid)
    finally:
        comm.loc[comm["id"] == cid, "population_estimated"] = True


def test_reach_classes_by_hand():
    codes = np.array([0, 50, 51, 100, 101, -1, -2])
    placed = np.array([True] * 6 + [False])
    cls, ring = figures.reach_classes(codes, placed, 5.0)
    assert list(cls) == ["within", "within", "double", "double", "beyond", "beyond", "unplaced"]
    assert list(ring) == [False, False, True, True, True, True, False]
    cls, ring = figures.reach_classes(None, placed, 5.0, no_data=True)
    assert list(cls) == ["nodata"] * 6 + ["unplaced"] and not ring.any()
    cls, ring = figures.reach_classes(codes, placed, 5.0, no_data=True)  # within reach: still covered
    assert list(cls) == ["within", "within"] + ["nodata"] * 4 + ["unplaced"] and not ring.any()
    cls, ring = figures.reach_classes(None, placed, 5.0)  # a surveyed type with no facility at all
    assert list(cls) == ["beyond"] * 6 + ["unplaced"]


def _residents(fig, n):
    (dots,) = [c for c in fig.axes[0].collections if c.get_gid() == "residents"]
    assert len(dots.get_offsets()) == n
    return dots


def test_resident_colours_follow_the_threshold(ctx, demo_result):
    """Colours checked against walking distances and the rule's threshold, not the display codes."""
    rb = demo_result.rulebook
    res = demo_result.residents
    for cid in ctx.ranking[:4]:
        ftype = _display.pick_type(ctx.p.types, ctx.present, ctx.p.status_by, cid)
        rule = next(r for r in rb.rules if r.facility_type == ftype)
        limit = rb.threshold_m(rule)
        sub = res[res["community_id"].astype(str) == cid]
        d = sub[f"dist_{ftype}"].to_numpy(dtype=float)
        want = np.where(d <= limit + 1e-6, "within", np.where(d <= 2 * limit + 1e-6, "double", "beyond"))
        want = np.where(sub["placed"].to_numpy(dtype=bool), want, "unplaced")
        fig = figures.community_figure(ctx, cid, ftype)
        got = [to_hex(c) for c in _residents(fig, len(sub)).get_facecolors()]
        assert got == [to_hex(REACH_COLOURS[w]) for w in want], cid


def test_no_data_type_is_grey_without_ring(ctx, demo_result):
    status = demo_result.gaps.set_index(["community_id", "facility_type"])["status"]
    cid = ctx.ranking[0]
    ftype = next(t for t in ctx.p.types if status.get((cid, t)) == "no_data")
    n = int((demo_result.residents["community_id"].astype(str) == cid).sum())
    fig = figures.community_figure(ctx, cid, ftype)
    dots = _residents(fig, n)
    assert {to_hex(c) for c in dots.get_facecolors()} == {to_hex(REACH_COLOURS["nodata"])}
    assert "#111111" not in {to_hex(c) for c in dots.get_edgecolors()}
    assert "无数据" in all_text(fig)


def test_facilities_never_wear_status_or_minute_colours(ctx):
    fig = figures.community_figure(ctx, None)
    semantic = {to_hex(c) for c in [*STATUS_COLOURS.values(), *REACH_COLOURS.values(), WALK_AREA_COLOUR]}
    squares = [c for c in fig.axes[0].collections if str(c.get_gid()).startswith("facilities:")]
    faces = {to_hex(f) for c in squares for f in c.get_facecolors()}
    fac = {to_hex(FACILITY_ICON_COLOUR), to_hex(FACILITY_FOCUS_COLOUR)}
    assert faces == fac  # facilities drawn in their own colours …
    assert not fac & semantic  # … which no status or minute class uses


# Machado et al. (2009) colour-vision deficiency matrices, severity 1 (linear RGB).
CVD = {
    "deutan": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]]
    ),
    "protan": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "tritan": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.3039]]
    ),
}


def _lab(hex_colour: str, cvd: str | None) -> np.ndarray:
    c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if cvd:
        lin = np.clip(CVD[cvd] @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    f = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(f > 0.008856, np.cbrt(f), 7.787 * f + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _min_distance(a: str, b: str) -> float:
    return min(float(np.linalg.norm(_lab(a, v) - _lab(b, v))) for v in (None, "deutan", "protan", "tritan"))


def test_palettes_are_colour_blind_safe():
    main = ["gap", "undersized", "partial", "ok", "no_data"]
    for a, b in itertools.combinations(main, 2):
        assert _min_distance(STATUS_COLOURS[a], STATUS_COLOURS[b]) > 10, (a, b)
    reach = [REACH_COLOURS[k] for k in ("within", "double", "beyond", "nodata")]
    for a, b in itertools.combinations(reach, 2):
        assert _min_distance(a, b) > 10, (a, b)
    for s in [*STATUS_COLOURS.values(), *reach]:
        assert _min_distance(FACILITY_ICON_COLOUR, s) > 10, s


def test_gaps_figure_sorted_and_marked(ctx, demo_result):
    gaps = demo_result.gaps
    bad = gaps[gaps["status"].isin(["gap", "undersized"])].groupby("community_id").size()
    part = gaps[gaps["status"] == "partial"].groupby("community_id").size()
    fig = figures.gaps_figure(ctx, ctx.ranking, fit=True)
    names = dict(zip(demo_result.communities["id"].astype(str), demo_result.communities["name"], strict=True))
    rows = [t for t in _typeset.text_artists(fig) if t.get_text() in names.values()]
    shown = [t.get_text() for t in sorted(rows, key=lambda t: t.get_position()[1])]  # top first (points down)
    keys = [(bad.get(c, 0), part.get(c, 0)) for c in [k for n in shown for k, v in names.items() if v == n]]
    assert keys == sorted(keys, reverse=True) and len(shown) == len(names)
    marks = [t.get_text() for t in _typeset.text_artists(fig)]
    for s in STATUS_ORDER:
        if (gaps["status"] == s).any():
            # one mark per community × item, plus one in the legend
            assert marks.count(STATUS_MARK["zh"][s]) == int((gaps["status"] == s).sum()) + 1, s
    items = [t.get_text() for t in _typeset.text_artists(fig) if t.get_rotation() == 90]
    ec = [r.id for r in demo_result.rulebook.rules if r.elderly_child]
    assert all(i.startswith("★") for i in items[: len(ec)]) and not items[len(ec)].startswith("★")


def test_english_and_per_type(demo_result, tmp_path):
    small = trimmed_result(demo_result, 2)
    paths = figures.write_figures(small, tmp_path, lang="en", types=["park", "clinic"], overview=False, dpi=40)
    stems = [_display.community_file_name(c)[:-5] for c in small.communities["id"]]
    assert sorted(p.name for p in paths) == sorted(f"{s}_{t}.png" for s in stems for t in ("park", "clinic"))
    with pytest.raises(ValueError, match="unknown facility type"):
        figures.write_figures(demo_result, tmp_path, types=["nope"], overview=False)


def test_progress_bar_on_request(demo_result, capsys, tmp_path):
    small = trimmed_result(demo_result, 1)
    figures.write_figures(small, tmp_path / "a", dpi=30, overview=False)
    assert "图件" not in capsys.readouterr().err
    figures.write_figures(small, tmp_path / "b", dpi=30, overview=False, progress=True)
    assert "图件" in capsys.readouterr().err


def test_output_options_give_the_language_author_and_date(demo_result, tmp_path):
    """write_figures takes the run's OutputOptions (lang, author, date), keywords over them, and
    refuses a keyword that is not an option."""
    from circles.errors import OptionError
    from circles.options import OutputOptions

    small = trimmed_result(demo_result, 1)
    opts = OutputOptions(lang="en", author="Street office A", date="2025-03-04")

    def one(name: str, options=None, **kw):
        (path,) = figures.write_figures(small, tmp_path / name, options, types=["park"], overview=False, dpi=20, **kw)
        return path

    a = one("a", opts)
    assert Image.open(a).info["Author"] == "Street office A"
    # the same options by keyword: the same bytes; in Chinese: other bytes
    assert one("k", lang="en", author="Street office A", date="2025-03-04").read_bytes() == a.read_bytes()
    assert one("z", opts.updated(lang="zh")).read_bytes() != a.read_bytes()
    assert Image.open(one("b", opts, author="B")).info["Author"] == "B"  # a keyword over the options
    with pytest.raises(OptionError, match="colour"):
        figures.write_figures(small, tmp_path / "d", opts, overview=False, colour="red")


def test_wrapping_keeps_lines_inside_the_width(ctx):
    ts = ctx.ts
    text = "电动自行车集中停放充电场所（含充电桩、充电柜）与机动车充电设施，Residential-area park (15 minutes)。"
    for width in (40, 80, 150):
        lines = ts.wrap(text, width, 8)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        assert all(ts.width(line, 8) <= width + 1e-6 for line in lines)
        assert not any(line.startswith(("，", "。", "）")) for line in lines)
    assert ts.wrap("Residential-area park", 80, 8) == ["Residential-area", "park"]


def test_without_cjk_font_falls_back_to_english(monkeypatch, caplog):
    monkeypatch.setitem(_typeset._font_cache, "cjk", None)
    with caplog.at_level(logging.WARNING, logger="circles.figures"):
        assert figures._labels("zh") == ("en", None)
    assert "no CJK font" in caplog.text
    assert figures._labels("en") == ("en", None)


def test_scale_bar_lengths():
    assert figures._nice_length(1234) == 200
    assert figures._nice_length(600) == 100
    assert figures._nice_length(5200) == 1000


def test_same_inputs_same_png_bytes(demo_result, tmp_path):
    small = trimmed_result(demo_result, 1)
    a = figures.write_figures(small, tmp_path / "a", dpi=40, author=AUTHOR, date=DATE)
    b = figures.write_figures(small, tmp_path / "b", dpi=40, author=AUTHOR, date=DATE)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
