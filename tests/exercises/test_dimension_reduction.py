"""Notebook 03's self-checks: right answers pass, every kind of wrong answer gets one message."""
import numpy as np
import pytest

from course_lib.exercises import dimension_reduction as ex
from course_lib.exercises import show_solution


def pca_right(learn, x, dims):
    mean = learn.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(learn - mean, rowvar=False))
    basis = vectors[:, ::-1][:, :dims]
    y = (x - mean) @ basis
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def encode_right(x, codebooks):
    m, _, sub = codebooks.shape
    parts = x.reshape(len(x), m, sub)
    return np.stack([((parts[:, j, None, :] - codebooks[j][None]) ** 2).sum(-1).argmin(1) for j in range(m)], 1)


def adc_right(query, codes, codebooks):
    m, _, sub = codebooks.shape
    tables = ((codebooks - query.reshape(m, 1, sub)) ** 2).sum(-1)
    return sum(tables[j][codes[:, j]] for j in range(m))


def nprobe_right(table, target):
    reached = table[table["recall@10"] >= target]
    return None if reached.empty else int(reached["nprobe"].min())


def unit_rows(y):
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def raises(*_):
    raise NotImplementedError


@pytest.mark.parametrize("check,right", [(ex.check_pca_projection, pca_right), (ex.check_pq_encode, encode_right),
                                         (ex.check_asymmetric_distance, adc_right), (ex.check_choose_nprobe, nprobe_right)])
def test_a_right_answer_passes(check, right):
    result = check(right)
    assert result.passed, result.message


WRONG_PCA = {
    "not implemented": raises,
    "no renormalisation": lambda learn, x, d: pca_right(learn, x, d) * 2,
    "all dims": lambda learn, x, d: pca_right(learn, x, learn.shape[1]),
    "mean of x": lambda learn, x, d: pca_right(np.concatenate([learn - learn.mean(0) + x.mean(0)]), x, d),
    "smallest first": lambda learn, x, d: unit_rows((x - learn.mean(0)) @ np.linalg.eigh(np.cov(learn, rowvar=False))[1][:, :d]),
    "nan": lambda learn, x, d: np.full((len(x), d), np.nan),
    "string": lambda learn, x, d: "hello",
    "exception": lambda learn, x, d: 1 / 0,
}


@pytest.mark.parametrize("name", list(WRONG_PCA))
def test_wrong_pca_answers_fail_with_one_message(name):
    result = ex.check_pca_projection(WRONG_PCA[name])
    assert not result.passed and "\n" not in result.message and "Traceback" not in result.message


def test_mean_of_x_gets_its_hint():
    assert "mean of the LEARNING set" in ex.check_pca_projection(WRONG_PCA["mean of x"]).message


@pytest.mark.parametrize("wrong", [raises, lambda x, c: encode_right(x, c).T, lambda x, c: encode_right(x, c) + 1,
                                   lambda x, c: np.zeros((len(x), c.shape[0])), lambda x, c: None,
                                   lambda x, c: ((x[:, None] - c[0]) ** 2).sum(-1).argmin(1)])
def test_wrong_encodings_fail(wrong):
    result = ex.check_pq_encode(wrong)
    assert not result.passed and "\n" not in result.message


@pytest.mark.parametrize("wrong", [raises, lambda q, c, b: np.sqrt(adc_right(q, c, b)), lambda q, c, b: adc_right(q, c, b)[:-1],
                                   lambda q, c, b: -adc_right(q, c, b), lambda q, c, b: [np.inf] * len(c)])
def test_wrong_distances_fail(wrong):
    result = ex.check_asymmetric_distance(wrong)
    assert not result.passed and "\n" not in result.message


@pytest.mark.parametrize("wrong", [raises, lambda t, r: int(t["nprobe"].max()), lambda t, r: 8.0,
                                   lambda t, r: int(t[t["recall@10"] > r]["nprobe"].min()) if (t["recall@10"] > r).any() else None,
                                   lambda t, r: next((int(n) for n, v in zip(t["nprobe"], t["recall@10"]) if v >= r), None),
                                   lambda t, r: 16])
def test_wrong_nprobe_choices_fail(wrong):
    result = ex.check_choose_nprobe(wrong)
    assert not result.passed and "\n" not in result.message


def test_importing_the_answer_is_refused_and_solutions_reveal():
    from course_lib.index import pq

    assert not ex.check_pq_encode(pq.encode).passed
    assert "def encode" in show_solution("pq").source
    assert "smallest_knob_for_recall" in show_solution("choose_nprobe").source
