"""Static PNG figures for printed reports."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from circles import _display, figures, mapping


def pixels_near(img: np.ndarray, hex_colour: str, tol: int = 12) -> int:
    c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img.astype(int) - c).max(axis=-1) <= tol).sum())


@pytest.fixture(scope="module")
def demo_figures(demo_result, tmp_path_factory):
    return figures.write_figures(demo_result, tmp_path_factory.mktemp("figures"), lang="zh")


def test_cjk_font_is_available():
    assert figures.cjk_font() is not None, "no CJK font: run `bash .ci/install_browser.sh` (fonts-noto-cjk)"


def test_one_png_per_community_and_an_overview(demo_figures, demo_result):
    comm = demo_result.communities
    names = sorted(p.name for p in demo_figures)
    want = sorted(["overview.png"] + [_display.community_file_name(c)[:-5] + ".png" for c in comm["id"]])
    assert names == want
    worst = demo_result.gaps.groupby("community_id")["status"].agg(_display.worst_status)
    for p in demo_figures:
        img = np.asarray(Image.open(p).convert("RGB"))
        assert abs(img.shape[0] - 1240) <= 1 and abs(img.shape[1] - 1754) <= 1  # A4 landscape at 150 dpi
        background = (img == 255).all(axis=-1).mean()
        assert 0.3 < background < 0.97, p.name
        if p.name != "overview.png":
            cid = next(c for c in comm["id"] if p.name == _display.community_file_name(c)[:-5] + ".png")
            # the boundary is drawn in the colour of the community's worst status
            assert pixels_near(img, mapping.STATUS_COLOURS[worst[cid]]) > 300, p.name


def test_figure_content(demo_result):
    kw = _display.map_inputs(demo_result)
    p = _display.prepare(**kw, lang="zh")
    cid = str(demo_result.communities["id"].iloc[0])
    t = _display.pick_type(p.types, set(p.fac["facility_type"]), p.status_by, cid)
    fig = figures.community_figure(p, kw["streets"].to_crs(p.metric), kw["isochrones"].to_crs(p.metric), cid, t, "zh")
    texts = [x.get_text() for x in fig.findobj(lambda a: hasattr(a, "get_text"))]
    texts = [x for x in texts if isinstance(x, str)]
    assert mapping.ATTRIBUTION in texts
    assert "北" in texts  # north arrow
    assert any(x.endswith(" m") or x.endswith(" km") for x in texts)  # scale bar
    assert "图例" in texts  # legend title
    assert str(demo_result.communities["name"].iloc[0]) in " ".join(texts)
    n_rules = int((demo_result.gaps["community_id"].astype(str) == cid).sum())
    cells = [c.get_text().get_text() for c in fig.axes[1].tables[0].get_celld().values()]
    assert sum(1 for x in cells if x in ("缺口", "部分覆盖", "达标", "无数据", "规模不足", "待评估")) == n_rules
    # resident points: one per resident of the community
    n_res = int((demo_result.residents["community_id"].astype(str) == cid).sum())
    sizes = [len(c.get_offsets()) for c in fig.axes[0].collections if hasattr(c, "get_offsets")]
    assert n_res in sizes


def test_english_and_per_type(demo_result, tmp_path):
    paths = figures.write_figures(demo_result, tmp_path, lang="en", types=["park"], overview=False)
    assert len(paths) == len(demo_result.communities)
    assert all(p.name.endswith("_park.png") for p in paths)
    with pytest.raises(ValueError, match="unknown facility type"):
        figures.write_figures(demo_result, tmp_path, types=["nope"], overview=False)


def test_without_cjk_font_falls_back_to_english(monkeypatch, caplog):
    monkeypatch.setitem(figures._font_cache, "cjk", None)
    with caplog.at_level(logging.WARNING, logger="circles.figures"):
        assert figures._labels("zh") == ("en", None)
    assert "no CJK font" in caplog.text
    assert figures._labels("en") == ("en", None)


def test_scale_bar_lengths():
    assert figures._nice_length(1234) == 200
    assert figures._nice_length(600) == 100
    assert figures._nice_length(5200) == 1000
