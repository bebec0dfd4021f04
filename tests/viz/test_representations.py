"""Tests of the notebook-01 figures in course_lib.viz and the plain functions behind its widgets.

Figures are checked by what they hold (axes, patches, plotted values); the numbers behind them
against independent numpy loops.
"""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from course_lib import features, regions, viz, widgets  # noqa: E402
from course_lib.models import TapInfo  # noqa: E402
from course_lib.pooling import center_prior_weights, rmac_regions  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def relu_maps(shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).relu()


def rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def image_tensor(height=64, width=96):
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(1))


# ---------------------------------------------------------------- classification, filters, feature maps


def test_show_predictions_one_panel_per_photo_with_its_classes(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    predictions = [[("espresso", 0.9), ("cup", 0.05)], [("tabby", 0.5), ("lynx", 0.25)], [("moped", 1.0)]]
    fig = viz.show_predictions([path, image_tensor(), Image.open(path)], predictions, titles=["a", "b", "c"],
                               columns=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 4 and len(shown) == 3
    assert shown[0].get_xlabel().splitlines() == [" 90.0%  espresso", "  5.0%  cup"]
    assert shown[1].get_title() == "b"
    with pytest.raises(ValueError, match="2 images but 3 predictions"):
        viz.show_predictions([path, path], predictions)


def test_conv_filters_one_tile_per_filter_grey_is_zero_strongest_first():
    weight = torch.randn(10, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    weight[7] *= 10  # the strongest filter comes first
    fig = viz.conv_filters(weight, columns=4, title="stem")
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 12 and len(tiles) == 10
    assert tiles[0].get_title() == "7"
    first = np.asarray(tiles[0].images[0].get_array())
    expected = 0.5 + weight[7] / (2 * weight[7].abs().max())  # AlexNet style: grey is 0
    np.testing.assert_allclose(first, expected.permute(1, 2, 0).numpy(), atol=1e-6)
    assert first.min() >= 0 and first.max() <= 1 and np.isclose(np.abs(first - 0.5).max(), 0.5)
    with pytest.raises(ValueError, match=r"\(O, 3, k, k\)"):
        viz.conv_filters(torch.zeros(4, 16, 3, 3))


def test_strongest_channels_by_mean_and_by_peak_worked_by_hand():
    maps = torch.zeros(3, 2, 2)
    maps[0] = 1.0                 # mean 1, peak - mean 0
    maps[1, 0, 0] = 3.0           # mean 0.75, peak - mean 2.25
    maps[2] = torch.tensor([[2.0, 0.0], [0.0, 0.0]])  # mean 0.5, peak - mean 1.5
    assert regions.strongest_channels(maps, 2) == [0, 1]
    assert regions.strongest_channels(maps, 3, by="peak") == [1, 2, 0]
    with pytest.raises(ValueError, match="'mean' or 'peak'"):
        regions.strongest_channels(maps, 1, by="max")


def test_feature_maps_shows_the_image_then_the_chosen_channels():
    maps = relu_maps((6, 4, 5))
    fig = viz.feature_maps(image_tensor(), maps, n=3)
    assert len(fig.axes) == 4
    expected = regions.strongest_channels(maps, 3)
    assert [ax.get_title().splitlines()[0] for ax in fig.axes[1:]] == [f"channel {c}" for c in expected]
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), maps[expected[0]].numpy())
    fig = viz.feature_maps(image_tensor(), maps, channels=[5, 0])
    assert [ax.get_title().splitlines()[0] for ax in fig.axes[1:]] == ["channel 5", "channel 0"]


# ---------------------------------------------------------------- centre prior and R-MAC regions


def test_center_prior_figure_draws_the_library_weights_on_the_map_and_over_the_image():
    fig = viz.center_prior(image_tensor(64, 96), 8, 12)
    weights = center_prior_weights(8, 12).numpy()
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), weights)
    overlay = fig.axes[1].images[1]
    np.testing.assert_allclose(overlay.get_array(), weights)
    assert overlay.get_extent() == [0, 96, 64, 0]  # one cell = 8 x 8 pixels
    assert "sigma = 1.33 cells" in fig.axes[0].get_title()


@pytest.mark.parametrize("height, width", [(8, 12), (12, 8), (7, 7), (24, 32), (1, 3)])
def test_regions_by_scale_split_the_library_list(height, width):
    groups = regions.rmac_regions_by_scale(height, width, 3)
    assert [box for group in groups for box in group] == rmac_regions(height, width, 3, include_global=False)
    for group in groups:
        assert len({box[2] for box in group}) <= 1  # one square size per scale


def test_rmac_grid_draws_every_region_on_its_own_scale_panel():
    groups = regions.rmac_regions_by_scale(8, 12, 3)
    assert [len(g) for g in groups] == [2, 6, 12]
    fig = viz.rmac_grid(image_tensor(64, 96), 8, 12, L=3)
    assert len(fig.axes) == 3
    assert [len(rectangles(ax)) for ax in fig.axes] == [2, 6, 12]
    # a region of 8 x 8 cells on a 64 x 96 image (8 pixels per cell) is about 64 pixels wide, inset a little
    widths = sorted(r.get_width() for r in rectangles(fig.axes[0]))
    assert all(58 <= w <= 64 for w in widths)
    assert fig.axes[2].get_title() == "l = 3: 12 regions of 4 x 4 cells"
    colours = [tuple(r.get_edgecolor()) for r in rectangles(fig.axes[2])]
    assert len(set(colours)) == 12  # every region of a scale in its own colour
    assert sorted(int(t.get_text()) for t in fig.axes[2].texts) == list(range(1, 13))


def test_distinct_colors_never_repeat():
    from course_lib.viz.representations import distinct_colors

    for n in (1, 12, 20, 33):
        assert len(set(map(tuple, distinct_colors(n)))) == n


def numpy_strongest_region(maps: np.ndarray, channel: int, L: int, by: str):
    """Every region's MAC vector as a plain loop; the region of the largest max (smallest first on
    ties) or of the largest entry of the L2-normalised vector."""
    best, best_key = None, None
    for box in rmac_regions(maps.shape[1], maps.shape[2], L, include_global=False):
        x, y, w, h = box
        regional = np.array([maps[c, y:y + h, x:x + w].max() for c in range(maps.shape[0])])
        share = regional[channel] / (np.sqrt((regional ** 2).sum()) + 1e-6)
        key = (share,) if by == "share" else (regional[channel], -w * h)
        if best_key is None or key > best_key:  # strictly larger: the first listed wins ties
            best, best_key = box, key
    return best


@pytest.mark.parametrize("by", ["max", "share"])
@pytest.mark.parametrize("seed", range(4))
def test_strongest_region_matches_a_plain_loop(seed, by):
    maps = relu_maps((16, 9, 13), seed)
    for channel in (0, 7, 15):
        found = regions.strongest_region(maps, channel, L=3, by=by)
        box = numpy_strongest_region(maps.numpy().astype(np.float64), channel, 3, by)
        assert found.box == box and found.by == by
        assert rmac_regions(9, 13, 3, include_global=False)[found.index] == box
        x, y, w, h = box
        regional = maps[:, y:y + h, x:x + w].amax(dim=(-2, -1)).double()
        assert found.max == pytest.approx(float(regional[channel]))
        assert found.share == pytest.approx(float(regional[channel] / (regional.norm() + 1e-6)))


def test_strongest_region_by_max_is_the_smallest_region_around_the_peak():
    maps = torch.zeros(2, 6, 6)
    maps[0, 2, 3] = 1.0
    found = regions.strongest_region(maps, 0, L=3, by="max")
    assert found.scale == 3 and found.box[2] == 3  # 3 x 3 squares at l = 3 on a 6 x 6 map
    x, y, w, h = found.box
    assert x <= 3 < x + w and y <= 2 < y + h


def test_strongest_region_by_share_prefers_where_the_channel_stands_out():
    # Channel 0 peaks at 2.0 in the top-left corner, where channel 1 is strong too; alone it fires
    # 1.0 in the bottom-right corner. Its share is larger there, so that region wins.
    maps = torch.zeros(2, 6, 6)
    maps[0, 0, 0], maps[1, 0, 0] = 2.0, 5.0
    maps[0, 5, 5] = 1.0
    found = regions.strongest_region(maps, 0, L=3, by="share")
    x, y, w, h = found.box
    assert x + w == 6 and y + h == 6 and x > 0 and y > 0
    assert found.share == pytest.approx(1.0, abs=1e-5) and found.max == 1.0 and found.scale > 1
    assert regions.strongest_region(maps, 0, L=3, by="max").box[:2] == (0, 0)
    with pytest.raises(ValueError, match=r"channel must be an integer in 0\.\.1, got 2"):
        regions.strongest_region(maps, 2)
    with pytest.raises(ValueError, match="'max' or 'share'"):
        regions.strongest_region(maps, 0, by="mean")


def test_region_response_marks_both_regions_on_both_panels():
    maps = relu_maps((8, 8, 12))
    fig = viz.region_response(image_tensor(64, 96), maps, channel=3, L=3)
    peak = regions.strongest_region(maps, 3, L=3, by="max")
    weight = regions.strongest_region(maps, 3, L=3, by="share")
    n_regions = len(rmac_regions(8, 12, 3, include_global=False))
    for ax in fig.axes[:2]:
        assert len(rectangles(ax)) == n_regions + 2
    red, orange = rectangles(fig.axes[1])[-2:]
    assert red.get_xy() == peak.box[:2] and red.get_width() == peak.box[2] and red.get_linewidth() == 3
    assert orange.get_xy() == weight.box[:2] and orange.get_linestyle() == "--"
    assert f"region {peak.index} (red" in fig.axes[0].get_title()
    assert f"region {weight.index} (orange" in fig.axes[0].get_title()
    assert len(fig.axes) == 3 and "activation" in fig.axes[2].get_ylabel()  # the colour bar


# ---------------------------------------------------------------- integral max-pooling and GeM


def test_integral_max_errors_respect_the_bound_and_shrink_with_alpha():
    maps = relu_maps((2, 8, 6, 7)) + 1.0  # every box has a max within a factor 5 of the map's
    boxes = rmac_regions(6, 7, 3)
    table = regions.integral_max_errors(maps, boxes, alphas=(1, 2, 5, 10))
    assert list(table.index) == [1, 2, 5, 10]
    largest_area = max(w * h for _, _, w, h in boxes)
    assert np.allclose(table["bound"], [largest_area ** (1 / a) for a in table.index])
    assert (table["median ratio"] >= 1 - 1e-12).all() and (table["largest ratio"] <= table["bound"] + 1e-9).all()
    assert table["median ratio"].is_monotonic_decreasing and table["largest ratio"].is_monotonic_decreasing
    assert (table["unresolved %"] == 0).all()
    # alpha = 1 is the plain sum: the largest ratio is the largest sum / max over all boxes and channels
    ratios = [(b.sum(dim=(-2, -1)) / b.amax(dim=(-2, -1))).max()
              for b in (maps.double()[:, :, y:y + h, x:x + w] for x, y, w, h in boxes)]
    assert table.loc[1, "largest ratio"] == pytest.approx(float(max(ratios)))


def test_integral_max_errors_count_boxes_float64_cannot_resolve():
    maps = torch.full((1, 1, 4, 4), 1e-3)
    maps[0, 0, 0, 0] = 10.0  # a box away from the peak holds only 1e-3 values
    table = regions.integral_max_errors(maps, [(2, 2, 2, 2), (0, 0, 4, 4)], alphas=(1, 10))
    assert table.loc[1, "unresolved %"] == 0
    assert table.loc[10, "unresolved %"] == 50  # (1e-3)^10 * 4 is below float64's resolution of 1e10


def test_plot_integral_max_errors_draws_the_table():
    table = regions.integral_max_errors(relu_maps((4, 5, 5)) + 0.1, rmac_regions(5, 5, 2), alphas=(1, 10, 100))
    fig = viz.plot_integral_max_errors(table)
    assert len(fig.axes) == 2
    median_line = fig.axes[0].lines[0]
    np.testing.assert_allclose(median_line.get_ydata(), table["median ratio"])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), table["unresolved %"])


def test_gem_vs_p_goes_from_the_mean_to_the_max():
    maps = relu_maps((5, 6, 6)) + 0.01
    fig = viz.gem_vs_p(maps, channels=[1, 3], ps=[1.0, 3.0, 500.0])
    curves = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 3]
    assert len(curves) == 2
    for curve, c in zip(curves, [1, 3]):
        y = curve.get_ydata()
        assert y[0] == pytest.approx(float(maps[c].mean()), rel=1e-6)
        assert y[0] < y[1] < y[2] <= float(maps[c].max()) + 1e-9
        assert y[2] == pytest.approx(float(maps[c].max()), rel=0.01)
    legend = fig.axes[0].get_legend()
    assert legend.get_bbox_to_anchor().x0 >= fig.axes[0].get_window_extent().x1  # outside the curves


def test_map_bars_zoom_to_the_data_and_draw_intervals():
    import pandas as pd

    table = pd.DataFrame({"map_medium": [80.8, 81.9]}, index=["mac", "gem"])
    intervals = pd.DataFrame({"map_medium_low": [75.0, 77.0], "map_medium_high": [86.0, 87.5]},
                             index=["mac", "gem"])
    fig = viz.map_bars(table, columns=["map_medium"], intervals=intervals)
    left, right = fig.axes[0].get_xlim()
    assert 60 < left < 75 and 87.5 <= right <= 100
    assert "not 0" in fig.axes[0].get_xlabel() and "intervals" in fig.axes[0].get_title()
    assert fig.axes[0].lines or fig.axes[0].collections  # the error bars
    plain = viz.map_bars(table, columns=["map_medium"])  # old arguments keep working
    assert plain.axes[0].get_xlim()[0] > 60


# ---------------------------------------------------------------- widgets and their plain functions


def fake_backbone():
    taps = {"stem": TapInfo("conv", 4), "blocks5": TapInfo("conv", 8), "head": TapInfo("conv", 16),
            "pool": TapInfo("fc", 16), "logits": TapInfo("fc", 10)}
    return SimpleNamespace(name="fake", taps=taps, default_conv="head")


def test_methods_by_layer_groups_methods_in_network_order():
    methods = ["pool", "gem@blocks5", "mac", "gem", "logits", "code@pool", "rmac@stem"]
    grouped = features.methods_by_layer(methods, fake_backbone())
    assert list(grouped) == ["stem", "blocks5", "head", "pool", "logits"]
    assert grouped["head"] == {"mac": "mac", "gem": "gem"}
    assert grouped["blocks5"] == {"gem": "gem@blocks5"}
    assert grouped["pool"] == {features.FC_LABEL: "code@pool"}  # the later name for the same descriptor wins
    assert grouped["logits"] == {features.FC_LABEL: "logits"}
    with pytest.raises(ValueError, match="no tap 'fc7'"):
        features.methods_by_layer(["gem@fc7"], fake_backbone())


class TinyBackbone(torch.nn.Module):
    """A one-layer conv net with the backbone interface region_explorer uses."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, kernel_size=8, stride=8)

    def conv_map(self, x, tap=None):
        return torch.relu(self.conv(x))


def test_region_explorer_builds_and_redraws(tmp_path):
    paths = []
    for i, size in enumerate([(64, 48), (40, 80)]):
        paths.append(tmp_path / f"img{i}.png")
        Image.new("RGB", size, (30 * i, 100, 200)).save(paths[-1])
    box = widgets.region_explorer(paths, TinyBackbone(), max_side=64, L=2)
    picker, channel, scales = box.children[0].children
    assert [label for label, _ in picker.options] == ["img0.png", "img1.png"] and channel.max == 5
    picker.value, channel.value, scales.value = 1, 2, 1  # each change redraws without error


def test_integral_max_errors_pool_maps_of_different_sizes_over_their_own_rmac_regions():
    small, large = relu_maps((4, 5, 6), 1) + 0.5, relu_maps((4, 9, 7), 2) + 0.5
    pooled = regions.integral_max_errors([small, large], alphas=(1, 10))
    assert pooled.loc[10, "bound"] == pytest.approx(max(w * h for _, _, w, h in rmac_regions(9, 7, 3)) ** 0.1)
    # the pooled largest ratio is the larger of the two maps' own
    alone = [regions.integral_max_errors(m, rmac_regions(*m.shape[1:], 3), alphas=(1, 10)) for m in (small, large)]
    assert pooled.loc[10, "largest ratio"] == pytest.approx(max(t.loc[10, "largest ratio"] for t in alone))
    assert regions.integral_max_errors(small, alphas=(10,)).equals(alone[0].loc[[10]])


def test_training_curves_plot_each_run_per_epoch_with_integer_epochs():
    history = [{"epoch": 0, "loss": None, "val_map": 0.80, "p": 3.0, "negative_similarity": None, "satisfied": None},
               {"epoch": 1, "loss": 0.5, "val_map": 0.82, "p": 3.1, "negative_similarity": 0.4, "satisfied": 0.7},
               {"epoch": 2, "loss": 0.4, "val_map": 0.83, "p": 3.2, "negative_similarity": 0.5, "satisfied": 0.8}]
    for figure, panels, legend_on in [(viz.fine_tuning.training_curves({"a": history, "b": history}), 4, 3),
                                      (viz.ranking.sampler_training({"a": history, "b": history}), 3, 0)]:
        axes = figure.axes
        assert len(axes) == panels and all(ax.get_xlabel() == "epoch" and ax.get_title() for ax in axes)
        assert [len(ax.get_lines()) for ax in axes] == [2] * panels
        assert list(axes[0].get_lines()[0].get_xdata()) == [1, 2]          # the loss starts at the first epoch
        assert [t.get_text() for t in axes[legend_on].get_legend().get_texts()] == ["a", "b"]
        assert all(float(tick).is_integer() for ax in axes for tick in ax.get_xticks())
        plt.close(figure)
