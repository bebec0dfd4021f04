"""Pooling a conv feature map (N, C, H, W) into one global descriptor per image (N, C).

MAC, SPoC (with its centre prior), GeM, R-MAC, and approximate integral max-pooling over
any box, as small pure functions with thin nn.Module wrappers and a by-name registry.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "PoolingError", "UnknownPoolingError",
    "l2n", "mac", "spoc", "center_prior_weights", "gem",
    "rmac_regions", "rmac", "regional_max",
    "integral_images", "box_max_approx", "rmac_integral",
    "POOLINGS", "pooling_method", "pool",
    "L2N", "MAC", "SPoC", "GeM", "RMAC",
]

Box = tuple[int, int, int, int]  # (x, y, w, h) in feature-map cells, x along W, y along H

RMAC_OVERLAP = Fraction(2, 5)  # neighbouring R-MAC regions overlap by about 40% (Tolias et al.)
RMAC_LONG_SIDE_STEPS = range(2, 8)  # candidate numbers of level-1 regions along the longer side


class PoolingError(ValueError):
    """Bad input to a pooling function (wrong shape, bad box, bad parameter)."""


class UnknownPoolingError(PoolingError):
    """A pooling method name that is not in POOLINGS."""


def _check_maps(x: Tensor, caller: str) -> Tensor:
    """Return x as a floating-point (N, C, H, W) tensor, or raise a one-line PoolingError."""
    if not isinstance(x, Tensor):
        raise PoolingError(f"{caller}: expected a torch.Tensor of shape (N, C, H, W), "
                           f"got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise PoolingError(f"{caller}: expected feature maps of shape (N, C, H, W) with C, H, W >= 1, "
                           f"got shape {tuple(x.shape)}")
    return x if x.is_floating_point() else x.float()


def l2n(x: Tensor, eps: float = 1e-6) -> Tensor:
    """L2-normalise along the last dimension; eps keeps an all-zero vector at zero instead of NaN."""
    return x / (x.norm(p=2, dim=-1, keepdim=True) + eps)


def mac(x: Tensor) -> Tensor:
    """Maximum activation of convolutions: the largest value of each channel, (N, C, H, W) -> (N, C)."""
    x = _check_maps(x, "mac")
    return x.amax(dim=(-2, -1))


def center_prior_weights(height: int, width: int, sigma: float | None = None,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """The SPoC centre prior: Gaussian weights exp(-d^2 / (2 sigma^2)) over an H x W map.

    d is the distance of a cell's centre from the map's centre, in cells: cell (i, j) sits at
    (i + 1/2, j + 1/2) and the map's centre at (H/2, W/2), so the weights are symmetric.
    By default sigma is one third of the distance from the centre to the closest boundary,
    min(H, W) / 6, as chosen by Babenko & Lempitsky (ICCV 2015, Sec. 3.2).
    """
    _check_size(height, width, "center_prior_weights")
    if sigma is None:
        sigma = min(height, width) / 6
    if not sigma > 0:
        raise PoolingError(f"center_prior_weights: sigma must be > 0 (in feature-map cells), got {sigma}")
    rows = torch.arange(height, device=device, dtype=dtype) + 0.5 - height / 2
    cols = torch.arange(width, device=device, dtype=dtype) + 0.5 - width / 2
    squared_distance = rows[:, None] ** 2 + cols[None, :] ** 2
    return torch.exp(-squared_distance / (2 * sigma ** 2))


def spoc(x: Tensor, center_prior: bool = False, sigma: float | None = None) -> Tensor:
    """Sum-pooled convolutional features (Babenko & Lempitsky, ICCV 2015): (N, C, H, W) -> (N, C).

    With center_prior=True each position is weighted by the Gaussian of `center_prior_weights(H, W, sigma)`
    before summing, because the object of interest tends to be near the middle of the photo.
    This is the plain sum, not the mean; after L2 normalisation the two are the same.
    """
    x = _check_maps(x, "spoc")
    if not center_prior:
        return x.sum(dim=(-2, -1))
    weights = _center_prior(x.shape[-2], x.shape[-1], sigma, x.device, x.dtype)
    return (x * weights).sum(dim=(-2, -1))


@functools.lru_cache(maxsize=256)
def _center_prior(height: int, width: int, sigma, device, dtype) -> Tensor:
    """`center_prior_weights`, made once per map size (spoc reads it, never writes it)."""
    return center_prior_weights(height, width, sigma, device=device, dtype=dtype)


def gem(x: Tensor, p: float | Tensor = 3.0, eps: float = 1e-6) -> Tensor:
    """Generalised mean pooling (Radenovic et al., TPAMI 2018): (mean of x^p)^(1/p) per channel.

    p = 1 is average pooling (SPoC up to scale), p -> infinity tends to MAC. Values are clamped to
    eps first so that the power is defined and its gradient finite. p may be a tensor (learnable).
    """
    x = _check_maps(x, "gem")
    return x.clamp(min=eps).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


def _check_size(height: int, width: int, caller: str) -> None:
    for name, value in (("H", height), ("W", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PoolingError(f"{caller}: {name} must be an integer >= 1, got {value!r}")


def grid_offsets(length: int, size: int, count: int) -> list[int]:
    """Left edges of `count` windows of `size` cells spread evenly from 0 to length - size."""
    if count == 1:
        return [0]
    step = Fraction(length - size, count - 1)
    return [math.floor(i * step) for i in range(count)]


def long_side_extra_regions(height: int, width: int) -> int:
    """How many more regions the longer side gets than the shorter one at every level.

    Level-1 regions are squares as wide as the shorter side; along the longer side we pick the
    number of them (2..7) whose neighbours overlap closest to 40%. We compute this exactly with
    fractions and break an exact tie (e.g. 5 x 9 maps: 2 regions overlap 20%, 3 overlap 60%)
    towards fewer regions. cirtorch computes it in float32, where rounding breaks such ties,
    and places regions with float32 floors, so on a few elongated maps (e.g. 3 x 11, 2 x 32)
    its grid differs from ours by one region or one cell; on typical maps they agree.
    """
    short, long = min(height, width), max(height, width)
    if short == long:
        return 0

    def overlap_error(count: int) -> Fraction:
        step = Fraction(long - short, count - 1)
        return abs((short - step) / short - RMAC_OVERLAP)

    best_count = min(RMAC_LONG_SIDE_STEPS, key=overlap_error)
    return best_count - 1


def rmac_regions(height: int, width: int, L: int = 3, include_global: bool = True) -> list[Box]:
    """The R-MAC regions (Tolias et al., ICLR 2016) of an H x W map, as (x, y, w, h) in cells.

    At scale l = 1..L the regions are squares of side floor(2 min(H, W) / (l + 1)) placed on a
    grid of l x l positions, plus `long_side_extra_regions` more along the longer side, evenly
    spread from edge to edge (about 40% overlap). Regions are listed scale by scale, row by row.
    Squares that would be 0 cells wide (tiny maps at fine scales) are left out.

    With include_global=True the first region is the whole map, because the common PyTorch
    implementations (cirtorch) start the R-MAC sum from the global MAC vector. On a square map
    the l = 1 region is the whole map too, so the whole map is counted twice, as there.
    """
    _check_size(height, width, "rmac_regions")
    if isinstance(L, bool) or not isinstance(L, int) or L < 1:
        raise PoolingError(f"rmac_regions: L (number of scales) must be an integer >= 1, got {L!r}")
    extra = long_side_extra_regions(height, width)
    extra_x = extra if width > height else 0
    extra_y = extra if height > width else 0
    regions: list[Box] = [(0, 0, width, height)] if include_global else []
    for level in range(1, L + 1):
        side = (2 * min(height, width)) // (level + 1)
        if side == 0:
            break
        xs = grid_offsets(width, side, level + extra_x)
        ys = grid_offsets(height, side, level + extra_y)
        regions.extend((x, y, side, side) for y in ys for x in xs)
    return regions


def rmac(x: Tensor, L: int = 3, eps: float = 1e-6) -> Tensor:
    """Regional MAC (Tolias et al., ICLR 2016): (N, C, H, W) -> L2-normalised (N, C).

    The MAC vector of every region of `rmac_regions(H, W, L)` (global region included) is
    L2-normalised, the vectors are summed and the sum is L2-normalised. Summing normalised
    regional vectors makes the dot product of two images a sum over all pairs of regions,
    a cheap stand-in for cross-matching every region of one with every region of the other.
    The paper also PCA-whitens each regional vector; that learned step comes with notebook 03.
    """
    x = _check_maps(x, "rmac")
    regional = _regional_max(x, _grid(x.shape[-2], x.shape[-1], L))
    return l2n(l2n(regional, eps).sum(dim=1), eps)


@functools.lru_cache(maxsize=512)
def _grid(height: int, width: int, L: int) -> tuple[Box, ...]:
    """The R-MAC regions of an H x W map, worked out once per map size: extraction meets the same few
    sizes again and again."""
    return tuple(rmac_regions(height, width, L))


def regional_max(x: Tensor, boxes: Sequence[Box]) -> Tensor:
    """The exact maximum of each channel in each (x, y, w, h) box: (N, C, H, W) -> (N, B, C).

    The map is read channels-last (N, H, W, C), as a channels-last backbone leaves it (otherwise it is
    copied once), so that each box's maximum runs over whole rows of C contiguous values: about 20x
    faster per box on a CPU than reducing the strided (h, w) slice of every channel.
    """
    x = _check_maps(x, "regional_max")
    box_tensor = _boxes_tensor(boxes, x.shape[-2], x.shape[-1], "regional_max")
    if len(box_tensor) == 0:
        return x.new_zeros((x.shape[0], 0, x.shape[1]))
    return _regional_max(x, box_tensor.tolist())


def _regional_max(x: Tensor, boxes) -> Tensor:
    """`regional_max` for (x, y, w, h) boxes already checked to lie inside the map."""
    pixels = x.permute(0, 2, 3, 1)  # a view; contiguous when x is channels-last
    if not pixels.is_contiguous():
        pixels = pixels.contiguous()
    return torch.stack([pixels[:, top:top + h, left:left + w].amax(dim=2).amax(dim=1)
                        for left, top, w, h in boxes], dim=1)


def integral_images(x: Tensor, alpha: float = 10.0) -> Tensor:
    """Summed-area tables of x^alpha: (N, C, H, W) -> float64 (N, C, H + 1, W + 1).

    table[n, c, i, j] = sum of x[n, c, :i, :j] ** alpha, so row 0 and column 0 are zero and the
    sum over any box takes four look-ups (see `box_max_approx`). Negative values are clamped
    to 0 first (ReLU maps are non-negative and x^alpha needs it for non-integer alpha).

    Why float64: a box sum is a difference of large running totals, so in float32 (7 digits) a
    box whose activations are weak next to the rest of the map loses all its digits; float64
    keeps 16. It also fits x^alpha up to x ~ 1e30 for alpha = 10 (float32 overflows from
    x ~ 7000). Rescaling each channel by its maximum before the power would avoid overflow too,
    but then the tables are no longer the plain summed-area tables of x^alpha and the scale
    must travel with them; float64 makes that unnecessary, and an overflow is reported.
    Rescaling would not help the precision: the digits lost in the difference are relative.
    Even in float64 a box is only resolved if its sum of x^alpha is above about
    4 (H + W) 2.2e-16 times the channel's total, i.e. if its maximum is above roughly
    (4 (H + W) H W 2.2e-16)^(1/alpha) times the channel's maximum: about 9% for a 32 x 24 map
    at alpha = 10, but 60% at alpha = 50. Weaker boxes come out as 0 (see `box_max_approx`).
    That is why alpha stays near 10 although a larger alpha is closer to the max on paper.

    The tables are stored channels-last in memory (same shape), so that gathering the four
    corners of many boxes reads contiguous rows of C values.
    """
    x = _check_maps(x, "integral_images")
    if not alpha > 0:
        raise PoolingError(f"integral_images: alpha must be > 0, got {alpha}")
    n, c, height, width = x.shape
    tables = torch.zeros((n, height + 1, width + 1, c), dtype=torch.float64, device=x.device)
    powered = tables[:, 1:, 1:]  # a view: the tables are built in place, leaving row/column 0 zero
    powered.copy_(x.permute(0, 2, 3, 1)).clamp_(min=0)
    _power_(powered, alpha)
    powered.cumsum_(dim=2).cumsum_(dim=1)
    if not torch.isfinite(tables[:, -1, -1]).all():
        raise PoolingError(f"integral_images: sums of x ** {alpha} are not finite (largest activation "
                           f"{x.max().item():.3g}): NaN in the maps, or float64 overflow; lower alpha")
    return tables.permute(0, 3, 1, 2)


def _power_(x: Tensor, alpha: float) -> None:
    """x ** alpha in place. A whole alpha (10 in R-MAC) is done by repeated squaring, a few multiplications
    that are about 6x faster than the general power on a CPU and equal to it within rounding."""
    if alpha != int(alpha) or not 1 <= alpha <= 64:
        x.pow_(alpha)
        return
    exponent, square, result = int(alpha), x.clone(), None
    while exponent:
        if exponent & 1:
            result = square.clone() if result is None else result.mul_(square)
        exponent >>= 1
        if exponent:
            square.mul_(square)
    x.copy_(result)


def _boxes_tensor(boxes: Sequence[Box] | Tensor, height: int, width: int, caller: str = "box_max_approx") -> Tensor:
    """Boxes as a (B, 4) int64 tensor after checking each lies inside the H x W map."""
    box_tensor = torch.as_tensor(boxes)
    if box_tensor.numel() == 0:
        return torch.zeros((0, 4), dtype=torch.int64)
    if box_tensor.dim() != 2 or box_tensor.shape[1] != 4 or box_tensor.is_floating_point():
        raise PoolingError(f"{caller}: boxes must be integer (x, y, w, h) rows, shape (B, 4); "
                           f"got {box_tensor.dtype} of shape {tuple(box_tensor.shape)}")
    box_tensor = box_tensor.to(torch.int64)
    left, top, w, h = box_tensor.unbind(dim=1)
    bad = (w < 1) | (h < 1) | (left < 0) | (top < 0) | (left + w > width) | (top + h > height)
    if bad.any():
        index = int(bad.nonzero()[0, 0])
        raise PoolingError(f"{caller}: box {index} (x, y, w, h) = "
                           f"{tuple(box_tensor[index].tolist())} is empty or not inside the "
                           f"{height} x {width} map")
    return box_tensor


def box_max_approx(integral: Tensor, boxes: Sequence[Box] | Tensor, alpha: float = 10.0,
                   mean: bool = False) -> Tensor:
    """Approximate max-pooling of each box from integral images: (sum over box of x^alpha)^(1/alpha).

    `integral` comes from `integral_images(x, alpha)` with the same alpha; `boxes` are
    (x, y, w, h) in cells, a list of tuples or a (B, 4) integer tensor. Returns (N, B, C) for
    tables of shape (N, C, H + 1, W + 1), or (B, C) for a single (C, H + 1, W + 1) table.

    This is the generalised mean of Tolias et al. (ICLR 2016, Sec. 4): it approximates the
    maximum and tends to it as alpha grows. With the paper's sum (mean=False) it overestimates:
    max <= result <= area^(1/alpha) * max. With mean=True (divide by the box area first) it
    underestimates: area^(-1/alpha) * max <= result <= max. The two differ by the factor
    area^(1/alpha), the same for every channel of a box, so inside R-MAC, where each regional
    vector is L2-normalised, the choice makes no difference.
    A box whose sum is below the rounding error of its four look-ups gives 0 (an all-zero box
    exactly 0, a weak one 0 instead of noise); `integral_images` says how weak that is.
    All boxes are gathered at once: four look-ups per box and channel, whatever its size.
    """
    if not isinstance(integral, Tensor) or integral.dim() not in (3, 4):
        raise PoolingError("box_max_approx: integral must be the (N, C, H + 1, W + 1) tensor "
                           "returned by integral_images")
    if integral.dim() == 3:
        return box_max_approx(integral[None], boxes, alpha, mean)[0]
    n, c, rows, cols = integral.shape
    box_tensor = _boxes_tensor(boxes, rows - 1, cols - 1).to(integral.device)
    left, top, w, h = box_tensor.unbind(dim=1)
    right, bottom = left + w, top + h
    # A free view when the tables are channels-last, as integral_images makes them: each
    # look-up below copies one contiguous row of C values per box.
    flat = integral.permute(0, 2, 3, 1).reshape(n, rows * cols, c)

    def look_up(row: Tensor, col: Tensor) -> Tensor:
        return flat.index_select(1, row * cols + col)

    box_sums = look_up(bottom, right)
    box_sums -= look_up(top, right)
    box_sums -= look_up(bottom, left)
    box_sums += look_up(top, left)
    # Each look-up is a running sum of up to H + W rounded additions, at most the channel's
    # total, so a box sum below this bound is indistinguishable from zero: call it zero rather
    # than raise rounding noise to the power 1/alpha.
    channel_totals = flat[:, -1:, :]
    rounding_bound = 4 * (rows + cols) * torch.finfo(flat.dtype).eps * channel_totals
    box_sums.masked_fill_(box_sums <= rounding_bound, 0.0)
    if mean:
        box_sums /= (w * h).to(box_sums.dtype)[:, None]
    return box_sums.pow_(1.0 / alpha)


def rmac_integral(x: Tensor, L: int = 3, alpha: float = 10.0, eps: float = 1e-6) -> Tensor:
    """R-MAC with each regional max replaced by its generalised mean (sum over the region of x^alpha)^(1/alpha).

    Same regions, normalisations and sum as `rmac`; returns L2-normalised (N, C) in x's dtype. The regional
    values are those of approximate integral max-pooling (Tolias et al., ICLR 2016, Sec. 4), the values
    `box_max_approx(integral_images(x, alpha), rmac_regions(H, W, L), alpha)` returns, but computed without
    the tables: integral images pay off when thousands of boxes are pooled (regional search, localization),
    while for R-MAC's twenty-odd regions building them costs more than it saves. Here the box sums of all
    regions are one matrix product, a 0/1 membership matrix (one row per region, one column per cell)
    times x^alpha (one row of C channels per cell). Each channel is divided by its maximum first, so x^alpha
    lies in [0, 1] and cannot overflow float32, and the maximum multiplies back after the root; a sum of
    non-negative terms keeps float32's relative precision, so the float64 that table differences need is
    not needed here. Where the tables resolve a region, both agree to float32 rounding; the weak regions
    they return as 0 (see `integral_images`) get their true value here, down to a regional maximum of about
    1e-4 of the channel's, where (1e-4)^10 leaves float32's range (tests/test_pooling.py).
    """
    x = _check_maps(x, "rmac_integral")
    if not alpha > 0:
        raise PoolingError(f"rmac_integral: alpha must be > 0, got {alpha}")
    n, c, height, width = x.shape
    cells = x.permute(0, 2, 3, 1).reshape(n, height * width, c)  # a view when x is channels-last
    peak = cells.amax(dim=1, keepdim=True).clamp_(min=torch.finfo(x.dtype).tiny)  # (N, 1, C)
    powered = (cells / peak).clamp_(min=0)
    _power_(powered, alpha)
    box_sums = torch.matmul(_membership(height, width, L, x.device, x.dtype), powered)  # (N, regions, C)
    regional = box_sums.pow_(1.0 / alpha).mul_(peak)
    return l2n(l2n(regional, eps).sum(dim=1), eps)


@functools.lru_cache(maxsize=512)
def _membership(height: int, width: int, L: int, device, dtype) -> Tensor:
    """(regions, H * W) matrix with a 1 where an R-MAC region covers a cell (cells row by row); made once per
    map size, device and dtype (callers never modify it)."""
    regions = _grid(height, width, L)
    inside = torch.zeros((len(regions), height, width), dtype=dtype)
    for i, (left, top, w, h) in enumerate(regions):
        inside[i, top:top + h, left:left + w] = 1
    return inside.reshape(len(regions), height * width).to(device)


POOLINGS: dict[str, Callable[[Tensor], Tensor]] = {
    "mac": lambda x: l2n(mac(x)),
    "spoc": lambda x: l2n(spoc(x)),
    "spoc-center": lambda x: l2n(spoc(x, center_prior=True)),
    "gem": lambda x: l2n(gem(x, p=3.0)),
    "rmac": lambda x: rmac(x, L=3),
    "rmac-integral": lambda x: rmac_integral(x, L=3, alpha=10.0),
}
"""Every pooling method by name, each mapping (N, C, H, W) to L2-normalised (N, C) descriptors."""


def pooling_method(name: str) -> Callable[[Tensor], Tensor]:
    """The pooling method called `name` (a key of POOLINGS). The one check of a pooling's name on its way in:
    an unknown one is a one-line UnknownPoolingError (a ValueError) naming the valid names."""
    try:
        return POOLINGS[name]
    except (KeyError, TypeError):
        raise UnknownPoolingError(f"unknown pooling {name!r}; valid names: {', '.join(POOLINGS)}") from None


def pool(name: str, x: Tensor) -> Tensor:
    """Apply the pooling method called `name` (a key of POOLINGS) to feature maps x."""
    return pooling_method(name)(x)


class L2N(nn.Module):
    """L2 normalisation of descriptors along the last dimension."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return l2n(x, self.eps)


class MAC(nn.Module):
    """Max pooling over the whole map, (N, C, H, W) -> (N, C)."""

    def forward(self, x: Tensor) -> Tensor:
        return mac(x)


class SPoC(nn.Module):
    """Sum pooling, optionally with the Gaussian centre prior, (N, C, H, W) -> (N, C)."""

    def __init__(self, center_prior: bool = False, sigma: float | None = None):
        super().__init__()
        self.center_prior = center_prior
        self.sigma = sigma

    def forward(self, x: Tensor) -> Tensor:
        return spoc(x, center_prior=self.center_prior, sigma=self.sigma)

    def extra_repr(self) -> str:
        return f"center_prior={self.center_prior}, sigma={self.sigma}"


class GeM(nn.Module):
    """Generalised mean pooling with a learnable exponent p, (N, C, H, W) -> (N, C)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = True):
        super().__init__()
        initial_p = torch.tensor([float(p)])
        if learnable:
            self.p = nn.Parameter(initial_p)
        else:
            self.register_buffer("p", initial_p)
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return gem(x, p=self.p, eps=self.eps)

    def extra_repr(self) -> str:
        return f"p={self.p.item():.4f}, eps={self.eps}"


class RMAC(nn.Module):
    """Regional MAC over L scales, (N, C, H, W) -> L2-normalised (N, C)."""

    def __init__(self, L: int = 3, eps: float = 1e-6):
        super().__init__()
        self.L = L
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return rmac(x, L=self.L, eps=self.eps)

    def extra_repr(self) -> str:
        return f"L={self.L}"
