"""Exact search: the numpy top-k route equals faiss's flat index; rankings are full permutations in the layout
the evaluation expects."""
import numpy as np
import pytest

from course_lib.index import (
    build_index,
    complete_ranking,
    exact_scores,
    rank_database,
    search,
    top_k,
)


def unit(n, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("chunk_rows", [7, 64, 1000])
def test_top_k_in_chunks_equals_faiss_flat(chunk_rows):
    db, q = unit(300, 16, 0), unit(9, 16, 1)
    scores, ids = top_k(db, q, 12, chunk_rows=chunk_rows)
    faiss_scores, faiss_ids = search(build_index(db), q, 12)
    np.testing.assert_array_equal(ids, faiss_ids)
    np.testing.assert_allclose(scores, faiss_scores, rtol=1e-5)


def test_top_k_larger_than_database_returns_everything_sorted():
    db, q = unit(5, 4, 0), unit(2, 4, 1)
    scores, ids = top_k(db, q, 50)
    assert ids.shape == (2, 5) and np.all(np.diff(scores, axis=1) <= 0)


def test_rank_database_top_k_keeps_the_head_and_completes_the_permutation():
    db, q = unit(200, 8, 2), unit(4, 8, 3)
    full = rank_database(db, q)
    head = rank_database(db, q, k=10)
    np.testing.assert_array_equal(head[:10], full[:10])
    for j in range(4):
        assert sorted(head[:, j]) == list(range(200))
        np.testing.assert_array_equal(head[10:, j], np.sort(head[10:, j]))  # the rest in id order


def test_complete_ranking_drops_faiss_missing_markers_and_duplicates():
    ranks = complete_ranking(np.array([[3, -1, -1], [2, 2, 0]]), 5)
    np.testing.assert_array_equal(ranks[:, 0], [3, 0, 1, 2, 4])
    np.testing.assert_array_equal(ranks[:, 1], [2, 0, 1, 3, 4])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="dimension 3 but the database has dimension 4"):
        top_k(np.eye(4), np.ones((1, 3)), 2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k(np.eye(4), np.ones((1, 4)), 0)


@pytest.mark.parametrize("chunk_rows", [5, 8192])
def test_equal_descriptors_tie_exactly_and_rank_by_id_wherever_they_sit(chunk_rows):
    # A float32 matrix product gives a row's score with a summation order that can depend on the row's
    # place in the matrix (seen with OpenBLAS's Haswell kernels): equal rows then differ in the last bit.
    db, q = unit(300, 128, 4), unit(20, 128, 5)
    copies = list(range(3, 300, 7))
    db[copies] = db[3]
    scores = exact_scores(db, q, chunk_rows=chunk_rows)
    assert np.array_equal(scores[copies], np.broadcast_to(scores[3], (len(copies), 20)))
    np.testing.assert_allclose(scores, db @ q.T, atol=1e-6)
    ranks = rank_database(db, q)
    for column in ranks.T:
        at = [position for position, item in enumerate(column) if item in copies]
        assert column[at].tolist() == copies and at == list(range(at[0], at[0] + len(copies)))



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
