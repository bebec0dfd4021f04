"""Exercises of notebook 04 (localization and detection): IoU of box sets, the anchors of one location,
greedy non-maximum suppression, and decoding a box regression."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torchvision import ops

from ..detection import boxes
from .checking import (
    TOLERANCE,
    CheckFailure,
    CheckResult,
    call_student,
    error_bound,
    finite_array,
    function_name,
    register_solutions,
    rel_error,
    returned_array,
    run_check,
    solution_functions,
)


def _random_boxes(rng: np.random.Generator, count: int, extent: float = 100.0) -> np.ndarray:
    corner = rng.uniform(0, extent, (count, 2))
    size = rng.uniform(1, extent / 2, (count, 2))
    return np.c_[corner, corner + size]


def _shape_failure(fn, shown: str, got: tuple, expected: tuple, meaning: str) -> CheckFailure:
    return CheckFailure(f"{function_name(fn)}({shown}) returned shape {got}; expected {expected}: {meaning}")


def _compare(fn, shown: str, yours: np.ndarray, expected: np.ndarray, meaning: str, hint: str = "") -> float:
    if yours.shape != expected.shape:
        raise _shape_failure(fn, shown, yours.shape, expected.shape, meaning)
    finite_array(fn, yours, shown)
    error = rel_error(yours, expected)
    if not error < TOLERANCE:
        index = np.unravel_index(int(np.argmax(np.abs(yours - expected))), yours.shape)
        raise CheckFailure(f"{function_name(fn)}({shown}): rel_error {error:.1e}; largest difference at index "
                           f"{tuple(int(i) for i in index)}: yours {yours[index]:.4g}, expected "
                           f"{expected[index]:.4g}.{hint}")
    return error


# ---------------------------------------------------------------- exercise 1: IoU of two box sets


def _reference_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of a (A, 4) with every box of b (B, 4), (x1, y1, x2, y2): an (A, B) matrix."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    return overlap / (area_a[:, None] + area_b[None, :] - overlap)


def check_iou(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(a, b) -> (A, B) IoU matrix of two numpy box sets against torchvision.ops.box_iou."""
    rng = np.random.default_rng(seed)
    cases = [(np.array([[0, 0, 10, 10.0]]), np.array([[5, 0, 15, 10.0], [20, 20, 30, 30.0], [0, 0, 10, 10.0]]))]
    cases += [(_random_boxes(rng, a), _random_boxes(rng, b)) for a, b in ((1, 1), (4, 7), (9, 3), (30, 25))]

    def check() -> str:
        worst = 0.0
        for a, b in cases:
            shown = f"a of shape {a.shape}, b of shape {b.shape}"
            yours = returned_array(fn, call_student(fn, (a.copy(), b.copy()), shown,
                                                    forbidden=solution_functions("iou")), shown)
            expected = boxes.box_iou(a, b).numpy()
            hint = ""
            if yours.shape == expected.shape and np.all(yours >= expected - 1e-9) and not np.allclose(yours, expected):
                hint = " Hint: boxes that do not overlap have intersection 0; clip the width and height at 0."
            worst = max(worst, _compare(fn, shown, yours, expected, "one IoU per pair (row: a box of a)", hint))
        return f"{len(cases)} pairs of box sets, largest rel_error {error_bound(worst)}"

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 2: anchors of one location


def _reference_anchors(center, scales, ratios) -> np.ndarray:
    """One anchor per (scale, ratio), scale-major: area scale^2, height / width = ratio, centred on center."""
    cx, cy = center
    rows = []
    for s in scales:
        for r in ratios:
            w, h = s / np.sqrt(r), s * np.sqrt(r)
            rows.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return np.array(rows)


def check_anchors(fn: Callable) -> CheckResult:
    """Check fn(center, scales, ratios) -> (len(scales) * len(ratios), 4) anchors against boxes.anchors_at."""
    cases = [((8.0, 8.0), (32.0,), (1.0,)), ((100.0, 60.0), (32.0, 64.0, 128.0), (0.5, 1.0, 2.0)),
             ((0.0, 0.0), (16.0, 90.0), (0.25, 1.0, 3.0, 4.0))]

    def check() -> str:
        worst = 0.0
        for center, scales, ratios in cases:
            shown = f"{center}, {scales}, {ratios}"
            yours = returned_array(fn, call_student(fn, (center, scales, ratios), shown,
                                                    forbidden=solution_functions("anchors")), shown)
            expected = boxes.anchors_at(center, scales, ratios).numpy()
            hint = ""
            if yours.shape == expected.shape and rel_error(yours, _reference_anchors(center, scales, 1 / np.array(ratios))) < TOLERANCE:
                hint = " Hint: the ratio is height / width, so a ratio of 2 is a tall box."
            elif yours.shape == expected.shape and rel_error(
                    yours.reshape(len(scales), len(ratios), 4).transpose(1, 0, 2).reshape(-1, 4),
                    expected.reshape(len(ratios), len(scales), 4).reshape(-1, 4)) < TOLERANCE and len(scales) > 1:
                hint = " Hint: order them scale by scale (all ratios of the first scale first)."
            worst = max(worst, _compare(fn, shown, yours, expected, "one (x1, y1, x2, y2) row per (scale, ratio)", hint))
        return f"{len(cases)} locations with up to 8 anchors, largest rel_error {error_bound(worst)}"

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 3: greedy NMS


def check_nms(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(boxes, scores, iou_threshold) -> indices kept, best first, against torchvision.ops.nms."""
    rng = np.random.default_rng(seed)
    cases = [(np.array([[0, 0, 10, 10.0], [1, 1, 11, 11.0], [50, 50, 60, 60.0]]), np.array([0.9, 0.8, 0.7]), 0.5)]
    for count, threshold in ((12, 0.5), (40, 0.3), (40, 0.7), (1, 0.5)):
        cases.append((_random_boxes(rng, count), rng.random(count), threshold))

    def check() -> str:
        for candidates, scores, threshold in cases:
            shown = f"{len(candidates)} boxes, {len(scores)} scores, {threshold}"
            returned = call_student(fn, (candidates.copy(), scores.copy(), threshold), shown,
                                    forbidden=solution_functions("nms"))
            yours = returned_array(fn, returned, shown)
            finite_array(fn, yours, shown)
            expected = boxes.nms(candidates, scores, threshold).numpy()
            if yours.ndim != 1:
                raise _shape_failure(fn, shown, yours.shape, expected.shape, "a 1-D list of indices of the kept boxes")
            if sorted(yours.tolist()) == sorted(expected.tolist()) and yours.tolist() != expected.tolist():
                raise CheckFailure(f"{function_name(fn)}({shown}): you keep the right boxes but list them in another "
                                   f"order; return them best score first")
            if yours.tolist() != expected.tolist():
                missing = sorted(set(expected.tolist()) - set(yours.tolist()))
                extra = sorted(set(yours.tolist()) - set(expected.tolist()))
                raise CheckFailure(f"{function_name(fn)}({shown}): kept {yours.astype(int).tolist()}, expected "
                                   f"{expected.tolist()} (missing {missing}, extra {extra}). Hint: a box is dropped "
                                   f"when its IoU with a kept, better box is above the threshold.")
        return f"{len(cases)} sets of up to 40 boxes and three thresholds give torchvision's answer"

    return run_check(fn, check)


# ---------------------------------------------------------------- exercise 4: decode a box regression


def check_decode(fn: Callable, seed: int = 0) -> CheckResult:
    """Check fn(deltas, anchors) -> (N, 4) boxes against boxes.decode (Ren et al. 2015, eq. 2)."""
    rng = np.random.default_rng(seed)
    cases = [(np.zeros((1, 4)), np.array([[10, 20, 50, 40.0]])), (np.array([[0.5, -0.25, np.log(2), 0.0]]),
                                                                     np.array([[0, 0, 10, 20.0]]))]
    cases += [(rng.normal(0, 0.3, (n, 4)), _random_boxes(rng, n)) for n in (5, 50)]

    def check() -> str:
        worst = 0.0
        for deltas, anchors in cases:
            shown = f"deltas of shape {deltas.shape}, anchors of shape {anchors.shape}"
            yours = returned_array(fn, call_student(fn, (deltas.copy(), anchors.copy()), shown,
                                                    forbidden=solution_functions("decode")), shown)
            expected = boxes.decode(deltas, anchors).numpy()
            hint = ""
            if yours.shape == expected.shape:
                finite_array(fn, yours, shown)
                corner_based = anchors + deltas * np.c_[anchors[:, 2:] - anchors[:, :2], anchors[:, 2:] - anchors[:, :2]]
                if rel_error(yours, corner_based) < TOLERANCE:
                    hint = " Hint: dx, dy move the centre (in anchor widths/heights); dw, dh scale the size by exp()."
            worst = max(worst, _compare(fn, shown, yours, expected, "one (x1, y1, x2, y2) box per anchor", hint))
        return f"{len(cases)} sets of up to 50 anchors, largest rel_error {error_bound(worst)}"

    return run_check(fn, check)


register_solutions({
    "iou": (_reference_iou, boxes.box_iou, ops.box_iou),
    "anchors": (_reference_anchors, boxes.anchors_at),
    "nms": (boxes.greedy_nms, boxes.nms),
    "decode": (boxes.decode,),
})


# What each check is worth when `python -m course_lib grade` grades a submission: check_<name> -> points.
POINTS = {"iou": 2, "anchors": 2, "decode": 2, "nms": 3}
