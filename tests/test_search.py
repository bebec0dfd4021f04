"""faiss search: exact inner-product ranking in the layout the evaluation expects."""
import numpy as np
import pytest

from course_lib.index import build_index, rank_database, search


def test_ranking_matches_a_brute_force_sort():
    rng = np.random.default_rng(0)
    db = rng.normal(size=(200, 32)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    q = rng.normal(size=(7, 32)).astype(np.float32)
    ranks = rank_database(db, q)
    assert ranks.shape == (200, 7)
    expected = np.argsort(-(db @ q.T), axis=0, kind="stable")
    np.testing.assert_array_equal(ranks[:20], expected[:20])
    for j in range(7):
        assert sorted(ranks[:, j]) == list(range(200))  # a full permutation per query


def test_search_top_k_scores_are_cosines():
    db = np.eye(4, dtype=np.float32)
    scores, ids = search(build_index(db), np.array([[0.6, 0.8, 0, 0]], dtype=np.float32), k=2)
    np.testing.assert_array_equal(ids, [[1, 0]])
    np.testing.assert_allclose(scores, [[0.8, 0.6]], rtol=1e-6)


def test_dimension_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="dimension 3 but the index holds dimension 4"):
        search(build_index(np.eye(4, dtype=np.float32)), np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="2-D"):
        build_index(np.ones(4))
