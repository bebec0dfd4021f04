"""Notebook 04's self-checks: correct answers pass, every kind of wrong answer gets one message, no traceback."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision import ops

from course_lib.detection import boxes
from course_lib.exercises import detection as ex
from course_lib.exercises.checking import show_solution


def not_written(*_args):
    raise NotImplementedError


def iou_right(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None] - inter)


def anchors_right(center, scales, ratios):
    rows = []
    for s in scales:
        for r in ratios:
            w, h = s / math.sqrt(r), s * math.sqrt(r)
            rows.append([center[0] - w / 2, center[1] - h / 2, center[0] + w / 2, center[1] + h / 2])
    return torch.tensor(rows)


def nms_right(b, s, t):
    order = list(np.argsort(-np.asarray(s), kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if iou_right(b[[i]], b[[j]])[0, 0] <= t]
    return np.array(keep)


def decode_right(d, a):
    w, h = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    cx, cy = a[:, 0] + w / 2 + d[:, 0] * w, a[:, 1] + h / 2 + d[:, 1] * h
    nw, nh = w * np.exp(d[:, 2]), h * np.exp(d[:, 3])
    return np.c_[cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2]


RIGHT = {"iou": (ex.check_iou, iou_right), "anchors": (ex.check_anchors, anchors_right),
         "nms": (ex.check_nms, nms_right), "decode": (ex.check_decode, decode_right)}


@pytest.mark.parametrize("name", list(RIGHT))
def test_right_answers_pass(name):
    check, right = RIGHT[name]
    result = check(right)
    assert result.passed, result.message


WRONG = {
    "iou": [lambda a, b: np.zeros((len(a), len(b))), lambda a, b: iou_right(a, b).T, lambda a, b: None,
            lambda a, b: iou_right(a, b) * np.nan, lambda a, b: "iou", lambda a, b: 1 / 0,
            lambda a, b: np.clip(iou_right(a, b), 0.01, 1), lambda a, b: boxes.box_iou(a, b),
            lambda a, b: ops.box_iou(torch.tensor(a), torch.tensor(b)),
            lambda a, b: (np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
                          ).prod(-1) / 100],   # intersection without clipping, not divided by the union
    "anchors": [lambda c, s, r: anchors_right(c, s, [1 / x for x in r]), lambda c, s, r: anchors_right(c, s, r)[:, :2],
                lambda c, s, r: boxes.anchors_at(c, s, r), lambda c, s, r: anchors_right(c, s, r) + 1,
                lambda c, s, r: anchors_right(c, s, r).tolist()[:1]],
    "nms": [lambda b, s, t: np.arange(len(b)), lambda b, s, t: nms_right(b, s, t)[::-1],
            lambda b, s, t: boxes.nms(b, s, t), lambda b, s, t: boxes.greedy_nms(b, s, t),
            lambda b, s, t: np.array([[0]]), lambda b, s, t: nms_right(b, -np.asarray(s), t)],
    "decode": [lambda d, a: a, lambda d, a: a + d * np.c_[a[:, 2:] - a[:, :2], a[:, 2:] - a[:, :2]],
               lambda d, a: decode_right(d, a)[:, :2], lambda d, a: boxes.decode(d, a),
               lambda d, a: decode_right(d, a) * np.inf],
}


@pytest.mark.parametrize("name, index", [(n, i) for n, fns in WRONG.items() for i in range(len(fns))])
def test_wrong_answers_get_one_message(name, index):
    check, _ = RIGHT[name]
    result = check(WRONG[name][index])
    assert not result.passed
    assert "\n" not in result.message and "Traceback" not in result.message


@pytest.mark.parametrize("name", list(RIGHT))
def test_not_written_says_so(name):
    check, _ = RIGHT[name]
    assert "not implemented yet" in check(not_written).message


def test_hints_name_the_common_mistakes():
    assert "height / width" in ex.check_anchors(WRONG["anchors"][0]).message
    assert "best score first" in ex.check_nms(WRONG["nms"][1]).message
    assert "centre" in ex.check_decode(WRONG["decode"][1]).message
    assert "library's own answer" in ex.check_iou(WRONG["iou"][7]).message


@pytest.mark.parametrize("name", list(RIGHT))
def test_solutions_reveal_folded(name):
    assert "<details>" in show_solution(name)._repr_html_()


def test_references_are_not_exported_from_the_package():
    import course_lib.exercises as package

    assert not any(n.startswith("_reference") for n in dir(package))
