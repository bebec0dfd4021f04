"""Tests of course_lib.pooling against values worked by hand and against plain numpy loops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib import pooling
from course_lib.pooling import (
    GeM, MAC, POOLINGS, RMAC, SPoC, L2N, PoolingError, UnknownPoolingError, box_max_approx,
    center_prior_weights, gem, integral_images, l2n, mac, pool, regional_max, rmac, rmac_integral, rmac_regions,
    spoc,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# A 1 x 2 x 2 x 3 map worked by hand below: channel 0 and channel 1, rows top to bottom.
HAND_MAP = torch.tensor([[[[1.0, 2.0, 0.0],
                           [3.0, 0.0, 1.0]],
                          [[0.0, 0.0, 4.0],
                           [1.0, 1.0, 1.0]]]])


def relu_maps(shape, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=dtype).relu()


# ---------------------------------------------------------------- independent numpy versions

def numpy_rmac(maps: np.ndarray, regions, eps=1e-6) -> np.ndarray:
    """R-MAC written plainly: loop over images and regions, max, normalise, sum, normalise."""
    out = np.zeros(maps.shape[:2])
    for n in range(maps.shape[0]):
        total = np.zeros(maps.shape[1])
        for x, y, w, h in regions:
            region_max = maps[n, :, y:y + h, x:x + w].max(axis=(1, 2))
            total += region_max / (np.linalg.norm(region_max) + eps)
        out[n] = total / (np.linalg.norm(total) + eps)
    return out


def numpy_generalised_max(maps: np.ndarray, box, alpha: float, mean=False) -> np.ndarray:
    """(sum or mean over the box of x^alpha)^(1/alpha), directly on the box's cells: (N, C)."""
    x, y, w, h = box
    powered = maps[:, :, y:y + h, x:x + w].astype(np.float64) ** alpha
    reduced = powered.mean(axis=(2, 3)) if mean else powered.sum(axis=(2, 3))
    return reduced ** (1 / alpha)


def all_boxes(height, width):
    return [(x, y, w, h) for h in range(1, height + 1) for w in range(1, width + 1)
            for y in range(height - h + 1) for x in range(width - w + 1)]


# ---------------------------------------------------------------- l2n, mac, spoc, gem

def test_l2n_by_hand_and_zero_vector_stays_zero():
    vectors = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert torch.allclose(l2n(vectors, eps=0.0)[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(l2n(vectors)[1], torch.zeros(2))


def test_mac_by_hand():
    assert torch.equal(mac(HAND_MAP), torch.tensor([[3.0, 4.0]]))


def test_spoc_is_the_sum_by_hand():
    assert torch.equal(spoc(HAND_MAP), torch.tensor([[7.0, 7.0]]))


def test_center_prior_weights_by_hand_on_3x3():
    # sigma = min(3, 3) / 6 = 0.5; d^2 = 0 at the centre, 1 beside it, 2 at the corners.
    edge, corner = math.exp(-1 / (2 * 0.25)), math.exp(-2 / (2 * 0.25))
    expected = torch.tensor([[corner, edge, corner], [edge, 1.0, edge], [corner, edge, corner]])
    assert torch.allclose(center_prior_weights(3, 3), expected)


def test_spoc_center_prior_by_hand_on_2x3():
    # H = 2, W = 3: sigma = 2 / 6 = 1/3, so weights exp(-d^2 / (2/9)) = exp(-4.5 d^2).
    # Cell centres are 0.5 above/below the centre row-wise, and -1, 0, +1 column-wise:
    # d^2 = 1.25 in the left/right columns, 0.25 in the middle column.
    side, middle = math.exp(-4.5 * 1.25), math.exp(-4.5 * 0.25)
    # channel 0: side cells 1, 0, 3, 1 -> 5; middle cells 2, 0 -> 2
    # channel 1: side cells 0, 4, 1, 1 -> 6; middle cells 0, 1 -> 1
    expected = torch.tensor([[5 * side + 2 * middle, 6 * side + 1 * middle]])
    assert torch.allclose(spoc(HAND_MAP, center_prior=True), expected)


def test_spoc_center_prior_matches_numpy_loop_with_given_sigma():
    maps = relu_maps((2, 3, 5, 8), seed=1)
    sigma = 1.7
    expected = np.zeros((2, 3))
    for i in range(5):
        for j in range(8):
            d2 = (i + 0.5 - 5 / 2) ** 2 + (j + 0.5 - 8 / 2) ** 2
            expected += maps[:, :, i, j].numpy() * math.exp(-d2 / (2 * sigma ** 2))
    got = spoc(maps, center_prior=True, sigma=sigma)
    assert np.allclose(got.numpy(), expected, rtol=1e-5)
    # The prior weights the middle: a centred blob keeps more of its mass than one in a corner.
    centred, corner = torch.zeros(1, 1, 9, 9), torch.zeros(1, 1, 9, 9)
    centred[..., 4, 4] = corner[..., 0, 0] = 1.0
    assert spoc(centred, center_prior=True) > 10 * spoc(corner, center_prior=True)


def test_gem_by_hand_with_p_2():
    expected = torch.tensor([[math.sqrt(15 / 6), math.sqrt(19 / 6)]])
    assert torch.allclose(gem(HAND_MAP, p=2.0, eps=1e-12), expected)


def test_gem_with_p_1_is_the_mean_and_large_p_approaches_the_max():
    maps = torch.rand((3, 4, 2, 3), generator=torch.Generator().manual_seed(2)) * 2
    assert torch.allclose(gem(maps, p=1.0, eps=1e-12), maps.mean(dim=(-2, -1)), atol=1e-6)
    area = 6
    errors = []
    for p in (3.0, 10.0, 30.0, 100.0):
        pooled = gem(maps, p=p)
        # power-mean bounds: area^(-1/p) max <= GeM <= max
        assert (pooled <= mac(maps) * (1 + 1e-5)).all()
        assert (pooled >= mac(maps) * area ** (-1 / p) * (1 - 1e-5)).all()
        errors.append((mac(maps) - pooled).abs().max().item())
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.05


def test_gem_clamps_negative_values_to_eps():
    maps = torch.full((1, 1, 2, 2), -5.0)
    assert torch.allclose(gem(maps, p=3.0, eps=1e-3), torch.tensor([[1e-3]]))


# ---------------------------------------------------------------- R-MAC regions

def test_rmac_regions_7x7_by_hand():
    # square map: no extra regions. l=1: side 7, one region; l=2: side floor(14/3) = 4 at
    # offsets 0, 3; l=3: side floor(14/4) = 3 at offsets 0, 2, 4. Plus the global region first.
    expected = [(0, 0, 7, 7),
                (0, 0, 7, 7),
                (0, 0, 4, 4), (3, 0, 4, 4), (0, 3, 4, 4), (3, 3, 4, 4)]
    expected += [(x, y, 3, 3) for y in (0, 2, 4) for x in (0, 2, 4)]
    assert rmac_regions(7, 7) == expected
    assert len(rmac_regions(7, 7)) == 1 + 1 + 4 + 9
    assert rmac_regions(7, 7, include_global=False) == expected[1:]


def test_rmac_regions_10x7_by_hand():
    # H = 10, W = 7: squares of side 7 slide 3 cells along H. With 2 of them the overlap is
    # (7 - 3) / 7 = 0.57, closest to 0.4 (3 give (7 - 1.5) / 7 = 0.79), so H gets 1 extra.
    # l=1: side 7, x 0, y 0/3.  l=2: side 4, x 0/3, y 0/3/6.  l=3: side 3, x 0/2/4,
    # y at floor(i * 7/3) = 0, 2, 4, 7.
    expected = [(0, 0, 7, 10), (0, 0, 7, 7), (0, 3, 7, 7)]
    expected += [(x, y, 4, 4) for y in (0, 3, 6) for x in (0, 3)]
    expected += [(x, y, 3, 3) for y in (0, 2, 4, 7) for x in (0, 2, 4)]
    assert rmac_regions(10, 7) == expected
    # A 7 x 10 map has the same grid with x and y swapped.
    assert sorted(rmac_regions(7, 10)) == sorted((y, x, h, w) for x, y, w, h in expected)


def test_rmac_regions_5x12_by_hand():
    # H = 5, W = 12: squares of side 5 slide 7 cells along W. 3 of them step 3.5 and overlap
    # 1.5 / 5 = 0.30; 4 step 7/3 and overlap 0.53; 2 do not overlap. 0.30 is closest to 0.4,
    # so W gets 2 extra. l=1: side 5 at x = 0, floor(3.5) = 3, 7.  l=2: side 3 at x 0/3/6/9,
    # y 0/2.  l=3: side 2 at x = floor(i * 2.5) = 0, 2, 5, 7, 10 and y = floor(i * 1.5) = 0, 1, 3.
    expected = [(0, 0, 12, 5), (0, 0, 5, 5), (3, 0, 5, 5), (7, 0, 5, 5)]
    expected += [(x, y, 3, 3) for y in (0, 2) for x in (0, 3, 6, 9)]
    expected += [(x, y, 2, 2) for y in (0, 1, 3) for x in (0, 2, 5, 7, 10)]
    assert rmac_regions(5, 12) == expected


def test_rmac_regions_on_tiny_maps_by_hand():
    assert rmac_regions(1, 1) == [(0, 0, 1, 1), (0, 0, 1, 1)]  # l >= 2 would be 0 cells wide
    # 1 x 2: 3 positions of a 1-cell square give overlap 0.5 (2 give 0): offsets floor(i / 2).
    assert rmac_regions(1, 2) == [(0, 0, 2, 1), (0, 0, 1, 1), (0, 0, 1, 1), (1, 0, 1, 1)]
    # 2 x 3: l=1 side 2 at x 0/1; l=2 side 1 on a 3 x 2 grid; l=3 side 1 on a 4 x 3 grid,
    # x = floor(i * 2/3) = 0, 0, 1, 2 and y = floor(i / 2) = 0, 0, 1.
    expected = [(0, 0, 3, 2), (0, 0, 2, 2), (1, 0, 2, 2)]
    expected += [(x, y, 1, 1) for y in (0, 1) for x in (0, 1, 2)]
    expected += [(x, y, 1, 1) for y in (0, 0, 1) for x in (0, 0, 1, 2)]
    assert rmac_regions(2, 3) == expected


@pytest.mark.parametrize("height", [1, 2, 3, 5, 9, 16, 24, 32])
@pytest.mark.parametrize("width", [1, 2, 4, 7, 12, 30, 40])
def test_rmac_regions_are_squares_inside_the_map_from_edge_to_edge(height, width):
    regions = rmac_regions(height, width, L=3)
    assert regions[0] == (0, 0, width, height)
    by_side: dict[int, list] = {}
    for x, y, w, h in regions[1:]:
        assert w == h >= 1 and 0 <= x and x + w <= width and 0 <= y and y + h <= height
        by_side.setdefault(w, []).append((x, y))
    for side, corners in by_side.items():
        xs, ys = sorted({x for x, _ in corners}), sorted({y for _, y in corners})
        assert xs[0] == 0 and xs[-1] + side == width and ys[0] == 0 and ys[-1] + side == height


def test_rmac_regions_rejects_bad_arguments():
    with pytest.raises(PoolingError, match="rmac_regions: W must be an integer >= 1"):
        rmac_regions(5, 0)
    with pytest.raises(PoolingError, match="L .* >= 1"):
        rmac_regions(5, 5, L=0)


# ---------------------------------------------------------------- R-MAC

def test_rmac_by_hand_on_a_1x2_map():
    # Regions of a 1 x 2 map: global, cell 0, cell 0 again, cell 1 (see the test above).
    maps = torch.tensor([[[[3.0, 0.0]], [[4.0, 5.0]]]])  # cell 0 = (3, 4), cell 1 = (0, 5)
    global_max = torch.tensor([3.0, 5.0]) / math.sqrt(34)
    total = global_max + 2 * torch.tensor([0.6, 0.8]) + torch.tensor([0.0, 1.0])
    assert torch.allclose(rmac(maps, eps=0.0)[0], total / total.norm())


@pytest.mark.parametrize("shape", [(3, 16, 10, 7), (2, 8, 5, 9), (1, 4, 24, 32), (2, 3, 1, 1), (1, 5, 2, 3)])
def test_rmac_matches_numpy_loop(shape):
    maps = relu_maps(shape, seed=3)
    expected = numpy_rmac(maps.numpy(), rmac_regions(shape[2], shape[3]))
    assert np.allclose(rmac(maps).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape", [(2, 16, 10, 7), (1, 32, 16, 12), (1, 3, 1, 1), (2, 5, 2, 32)])
def test_regional_max_equals_slicing_each_box(shape, memory_format):
    maps = relu_maps(shape, seed=5).contiguous(memory_format=memory_format)
    boxes = rmac_regions(shape[2], shape[3]) + [(0, 0, 1, 1), (shape[3] - 1, shape[2] - 1, 1, 1)]
    regional = regional_max(maps, boxes)
    assert regional.shape == (shape[0], len(boxes), shape[1])
    for b, (left, top, w, h) in enumerate(boxes):
        assert torch.equal(regional[:, b], maps[:, :, top:top + h, left:left + w].amax(dim=(-2, -1)))
    assert regional_max(maps, []).shape == (shape[0], 0, shape[1])
    with pytest.raises(PoolingError, match="regional_max: box 0"):
        regional_max(maps, [(0, 0, shape[3] + 1, 1)])


@pytest.mark.parametrize("shape", [(2, 64, 16, 12), (1, 16, 3, 11), (3, 4, 1, 1)])
def test_rmac_equals_the_per_region_loop_it_replaced(shape):
    """Summing regions in one call reorders additions only: within float32 rounding of the old loop."""
    maps = relu_maps(shape, seed=6)
    total = torch.zeros(shape[:2])
    for left, top, w, h in rmac_regions(shape[2], shape[3]):
        total += l2n(maps[:, :, top:top + h, left:left + w].amax(dim=(-2, -1)))
    assert (rmac(maps) - l2n(total)).abs().max() < 1e-6


@pytest.mark.parametrize("alpha", [10.0, 1.0, 2.0, 7.0, 3.5, 0.5])
def test_integral_images_power_by_squaring_equals_pow(alpha):
    """Whole alphas are raised by repeated squaring: the tables equal numpy's x ** alpha prefix sums."""
    maps = torch.rand((1, 6, 4, 5), generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 6
    tables = integral_images(maps, alpha).numpy()
    expected = np.zeros_like(tables)
    expected[:, :, 1:, 1:] = (maps.numpy() ** alpha).cumsum(axis=2).cumsum(axis=3)
    assert np.allclose(tables, expected, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- integral images

def test_integral_images_are_prefix_sums_of_powers():
    maps = torch.rand((2, 3, 5, 4), generator=torch.Generator().manual_seed(4)) * 3
    alpha = 3.5
    tables = integral_images(maps, alpha)
    assert tables.shape == (2, 3, 6, 5) and tables.dtype == torch.float64
    powered = maps.double().numpy() ** alpha
    for i in range(6):
        for j in range(5):
            assert np.allclose(tables[:, :, i, j].numpy(), powered[:, :, :i, :j].sum(axis=(2, 3)))


def test_integral_images_clamp_negatives_and_report_overflow():
    maps = torch.tensor([[[[-2.0, 1.0]]]])
    assert torch.equal(integral_images(maps, 2.0)[0, 0, 1], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    with pytest.raises(PoolingError, match="integral_images: .*not finite.*lower alpha"):
        integral_images(torch.full((1, 1, 2, 2), 1e35), alpha=10.0)
    with pytest.raises(PoolingError, match="alpha must be > 0"):
        integral_images(maps, alpha=0.0)


# ---------------------------------------------------------------- box_max_approx

@pytest.mark.parametrize("mean", [False, True])
def test_box_max_approx_matches_direct_generalised_mean_on_every_box(mean):
    # Values in [0.5, 2]: no box is weak enough to reach the rounding floor at alpha = 10.
    maps = 0.5 + 1.5 * torch.rand((2, 3, 4, 5), generator=torch.Generator().manual_seed(5))
    alpha = 10.0
    boxes = all_boxes(4, 5)
    got = box_max_approx(integral_images(maps, alpha), boxes, alpha, mean=mean)
    assert got.shape == (2, len(boxes), 3)
    for b, box in enumerate(boxes):
        expected = numpy_generalised_max(maps.numpy(), box, alpha, mean=mean)
        assert np.allclose(got[:, b].numpy(), expected, rtol=1e-9), box


def test_box_max_approx_on_relu_maps_within_rounding_and_zero_boxes_exactly_zero():
    maps = relu_maps((2, 3, 6, 5), seed=5)
    alpha = 10.0
    boxes = all_boxes(6, 5)
    got = box_max_approx(integral_images(maps, alpha), boxes, alpha)
    powered_total = (maps.double().numpy() ** alpha).sum(axis=(2, 3))
    # The box sums are exact up to the rounding of running sums of <= H + W terms; sums below
    # that bound are set to zero, so they may be off by up to twice the bound.
    sum_tolerance = 2 * 4 * (7 + 6) * np.finfo(np.float64).eps * powered_total
    zero_boxes = 0
    for b, box in enumerate(boxes):
        expected = numpy_generalised_max(maps.numpy(), box, alpha)
        sum_error = np.abs(got[:, b].numpy() ** alpha - expected ** alpha)
        assert (sum_error <= sum_tolerance).all(), box
        assert (got[:, b].numpy()[expected == 0] == 0).all(), box
        zero_boxes += int((expected == 0).sum())
    assert zero_boxes > 10  # the ReLU map really has empty boxes to check


def test_box_max_approx_on_one_map_and_with_a_tensor_of_boxes():
    maps = relu_maps((1, 3, 4, 5), seed=6)
    boxes = [(0, 0, 5, 4), (1, 2, 2, 2)]
    tables = integral_images(maps)
    batched = box_max_approx(tables, boxes)
    assert torch.equal(box_max_approx(tables[0], boxes), batched[0])
    assert torch.equal(box_max_approx(tables, torch.tensor(boxes)), batched)


def test_box_max_approx_tends_to_the_max_as_alpha_grows():
    # Values in [1, 2]: every box keeps enough digits in float64 up to alpha = 40
    # (see the integral_images docstring for why weak boxes limit alpha).
    maps = 1 + torch.rand((1, 4, 6, 5), generator=torch.Generator().manual_seed(7))
    boxes = [(0, 0, 5, 6), (1, 1, 3, 2), (2, 3, 1, 3), (4, 5, 1, 1)]
    true_max = torch.stack([maps[:, :, y:y + h, x:x + w].amax(dim=(-2, -1)) for x, y, w, h in boxes], 1)
    areas = torch.tensor([w * h for _, _, w, h in boxes], dtype=torch.float64)[None, :, None]
    errors = []
    for alpha in (1.0, 2.0, 5.0, 10.0, 20.0, 40.0):
        tables = integral_images(maps, alpha)
        over = box_max_approx(tables, boxes, alpha)
        under = box_max_approx(tables, boxes, alpha, mean=True)
        slack = areas ** (1 / alpha)
        tolerance = 1e-6  # the 1 x 1 box in the last corner keeps ~8 digits at alpha = 40
        assert (over >= true_max * (1 - tolerance)).all()
        assert (over <= true_max * slack * (1 + tolerance)).all()
        assert (under <= true_max * (1 + tolerance)).all()
        assert (under >= true_max / slack * (1 - tolerance)).all()
        assert torch.allclose(over, under * slack)
        errors.append(((over - true_max) / true_max).max().item())
    assert errors == sorted(errors, reverse=True)
    assert errors[0] > 1.0 and errors[-1] < 0.06  # alpha = 1 is the sum; alpha = 40 within 6%
    assert errors[1:] != errors[:-1]


def test_box_max_approx_rejects_boxes_outside_the_map():
    tables = integral_images(torch.ones(1, 2, 4, 5))
    with pytest.raises(PoolingError, match=r"box 1 \(x, y, w, h\) = \(3, 0, 3, 2\) .* 4 x 5 map"):
        box_max_approx(tables, [(0, 0, 1, 1), (3, 0, 3, 2)])
    with pytest.raises(PoolingError, match="box 0 .* empty"):
        box_max_approx(tables, [(0, 0, 0, 1)])
    with pytest.raises(PoolingError, match="integer"):
        box_max_approx(tables, [(0.5, 0, 1, 1)])
    with pytest.raises(PoolingError, match="integral_images"):
        box_max_approx(torch.ones(5), [(0, 0, 1, 1)])


# ---------------------------------------------------------------- integral R-MAC

def test_rmac_integral_is_close_to_rmac():
    maps = relu_maps((4, 64, 12, 9), seed=8)
    exact, approx = rmac(maps), rmac_integral(maps, alpha=10.0)
    assert approx.dtype == torch.float32
    cosine = (exact * approx).sum(dim=1)
    assert (cosine > 0.999).all()
    rougher = rmac_integral(maps, alpha=2.0)
    assert ((exact * rougher).sum(dim=1) < cosine).all()  # a larger alpha is closer to the max
    assert not torch.equal(exact, approx)  # it is an approximation, not the same computation


def test_rmac_integral_matches_numpy_with_generalised_mean_regions():
    maps = relu_maps((2, 5, 7, 10), seed=9)
    regions = rmac_regions(7, 10)
    expected = np.zeros((2, 5))
    for box in regions:
        regional = numpy_generalised_max(maps.numpy(), box, 10.0)
        expected += regional / (np.linalg.norm(regional, axis=1, keepdims=True) + 1e-6)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True) + 1e-6
    assert np.allclose(rmac_integral(maps).numpy(), expected, atol=1e-6)


def _rmac_from_regional(regional: torch.Tensor) -> torch.Tensor:
    return l2n(l2n(regional).sum(dim=1))


def test_rmac_integral_equals_the_integral_tables_wherever_they_resolve_a_region():
    maps = 0.5 + 0.5 * torch.rand(3, 16, 9, 13, generator=torch.Generator().manual_seed(11))  # no weak regions
    tables = box_max_approx(integral_images(maps, 10.0), rmac_regions(9, 13), 10.0)
    assert (tables > 0).all()
    assert torch.allclose(rmac_integral(maps), _rmac_from_regional(tables).float(), atol=1e-6)


def test_rmac_integral_gives_a_weak_region_its_value_where_the_tables_round_it_to_zero():
    maps = torch.full((1, 2, 6, 10), 1.0)
    maps[0, 0, :, 6:] = 1e-3          # channel 0 is weak in the right-hand regions only
    regions = rmac_regions(6, 10)
    tables = box_max_approx(integral_images(maps, 10.0), regions, 10.0)[0]
    weak = [i for i, (x, _, _, _) in enumerate(regions) if x >= 6]
    assert weak and (tables[weak, 0] == 0).all()  # below float64's resolution: the tables return 0
    expected = np.zeros((1, 2))
    for box in regions:
        regional = numpy_generalised_max(maps.double().numpy(), box, 10.0)
        assert regional.min() > 0
        expected += regional / np.linalg.norm(regional, axis=1, keepdims=True)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(rmac_integral(maps).numpy(), expected, atol=1e-6)
    assert not np.allclose(_rmac_from_regional(tables[None]).numpy(), expected, atol=1e-4)


def test_rmac_integral_neither_overflows_float32_nor_divides_by_an_empty_channel():
    maps = relu_maps((2, 6, 8, 8), seed=12)
    maps[:, 2] = 0  # an all-zero channel
    big = rmac_integral(maps * 1e5)  # x ** 10 would be 1e50, past float32's 3e38
    assert torch.isfinite(big).all() and (big[:, 2] == 0).all()
    assert torch.allclose(big, rmac_integral(maps), atol=1e-6)  # the descriptor does not depend on the scale


# ---------------------------------------------------------------- registry, modules, shapes

def test_registry_names_and_unit_norm_descriptors_on_any_map_size():
    assert list(POOLINGS) == ["mac", "spoc", "spoc-center", "gem", "rmac", "rmac-integral"]
    for height, width in [(1, 1), (2, 3), (7, 10), (13, 9)]:
        maps = relu_maps((3, 6, height, width), seed=height * width) + 0.01
        for name in POOLINGS:
            descriptors = pool(name, maps)
            assert descriptors.shape == (3, 6) and descriptors.dtype == torch.float32, name
            assert torch.allclose(descriptors.norm(dim=1), torch.ones(3), atol=1e-5), name
            single = pool(name, maps[1:2])
            assert torch.allclose(single[0], descriptors[1], atol=1e-6), name


def test_registry_methods_really_differ():
    maps = relu_maps((1, 16, 12, 9), seed=10)
    descriptors = {name: pool(name, maps) for name in POOLINGS}
    names = list(descriptors)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert not torch.allclose(descriptors[first], descriptors[second], atol=1e-4), (first, second)


def test_pool_with_a_bad_name_gives_a_one_line_error_listing_valid_names():
    with pytest.raises(UnknownPoolingError) as raised:
        pool("max", torch.ones(1, 1, 2, 2))
    message = str(raised.value)
    assert "\n" not in message and "'max'" in message
    assert "mac, spoc, spoc-center, gem, rmac, rmac-integral" in message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("function", [mac, spoc, gem, rmac, rmac_integral, integral_images])
def test_bad_shapes_give_one_line_errors_naming_the_function(function):
    with pytest.raises(PoolingError) as raised:
        function(torch.ones(3, 4))
    assert function.__name__ in str(raised.value) and "(3, 4)" in str(raised.value)
    with pytest.raises(PoolingError, match="torch.Tensor"):
        function(np.ones((1, 1, 2, 2)))


def test_spoc_rejects_a_non_positive_sigma():
    with pytest.raises(PoolingError, match="sigma must be > 0"):
        spoc(torch.ones(1, 1, 3, 3), center_prior=True, sigma=0.0)


def test_modules_match_functions():
    maps = relu_maps((2, 5, 6, 4), seed=11)
    assert torch.equal(MAC()(maps), mac(maps))
    assert torch.equal(SPoC(center_prior=True, sigma=2.0)(maps), spoc(maps, center_prior=True, sigma=2.0))
    assert torch.allclose(GeM(p=3.0)(maps), gem(maps, p=3.0))
    assert torch.equal(RMAC(L=2)(maps), rmac(maps, L=2))
    assert torch.equal(L2N()(maps[:, :, 0, 0]), l2n(maps[:, :, 0, 0]))


def test_gem_module_learns_p():
    layer = GeM(p=3.0)
    assert [name for name, _ in layer.named_parameters()] == ["p"]
    maps = relu_maps((2, 5, 6, 4), seed=12)
    layer(maps).sum().backward()
    assert layer.p.grad is not None and layer.p.grad.abs().item() > 0
    frozen = GeM(p=3.0, learnable=False)
    assert list(frozen.parameters()) == [] and "p" in dict(frozen.named_buffers())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype_follow_the_input(device, dtype):
    maps = relu_maps((2, 4, 5, 3), seed=13, dtype=dtype).to(device)
    for name in POOLINGS:
        out = pool(name, maps)
        assert out.device.type == device and out.dtype == dtype, name
    reference = {name: pool(name, maps.cpu().float()) for name in POOLINGS}
    for name in POOLINGS:
        assert torch.allclose(pool(name, maps).cpu().float(), reference[name], atol=1e-5), name


def test_integer_maps_are_pooled_as_float32():
    maps = torch.arange(12).reshape(1, 2, 2, 3)
    assert mac(maps).dtype == torch.float32
    assert torch.equal(mac(maps), torch.tensor([[5.0, 11.0]]))


def test_module_docstring_and_public_names():
    assert pooling.__doc__ and len(pooling.__doc__.strip().splitlines()) <= 4
    for name in pooling.__all__:
        assert hasattr(pooling, name), name
