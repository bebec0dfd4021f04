"""The faiss index zoo: factory strings, knobs, sizes and recall measured against exact search."""
import faiss
import numpy as np
import pytest

from course_lib.index import top_k, zoo


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 32)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_is_exact_and_ivf_recall_grows_with_nprobe(vectors):
    queries = vectors[:40]
    exact = top_k(vectors, queries, 10)[1]
    flat, _ = zoo.measure("Flat", vectors, queries, exact)
    assert flat.recall_at_10 == 1.0 and flat.code_bytes == 128
    _, ivf = zoo.measure("IVF32,Flat", vectors, queries, exact, nprobe=1)
    table = zoo.sweep(ivf, queries, exact, "nprobe", [1, 4, 32])
    assert list(table["recall@10"]) == sorted(table["recall@10"]) and table["recall@10"].iloc[-1] == 1.0
    assert zoo.smallest_knob_for_recall(table, "nprobe", 1.0) == 32
    assert zoo.smallest_knob_for_recall(table, "nprobe", 1.1) is None


def test_pq_sizes_and_hnsw_knob(vectors):
    queries = vectors[:20]
    ivfpq, _ = zoo.measure("IVF16,PQ8x4", vectors, queries, nprobe=16)
    assert ivfpq.code_bytes <= 5 and ivfpq.bytes_per_vector < 128 / 2
    hnsw, index = zoo.measure("HNSW16", vectors, queries, ef_search=64)
    assert hnsw.code_bytes == 128 and hnsw.recall_at_10 > 0.8
    with pytest.raises(ValueError, match="nprobe: this index"):
        zoo.set_knobs(index, nprobe=4)


def test_polysemous_training_is_switched_off():
    index = zoo.make_index("IVF8,PQ4", 16)
    zoo.skip_polysemous_training(index)
    assert not faiss.downcast_index(faiss.extract_index_ivf(index)).do_polysemous_training


def test_bad_factory_and_knob_values_are_one_line_errors():
    with pytest.raises(ValueError, match="index 'Nonsense7': faiss cannot build it"):
        zoo.make_index("Nonsense7", 16)
    with pytest.raises(ValueError, match="nprobe must be at least 1"):
        zoo.set_knobs(zoo.make_index("IVF4,Flat", 8), nprobe=0)
    with pytest.raises(ValueError, match="knob"):
        zoo.sweep(faiss.IndexFlatIP(4), np.zeros((1, 4), np.float32), np.zeros((1, 1)), "M", [1])


def test_gaussian_distractors_follow_the_learned_statistics():
    from course_lib.index.distractors import gaussian_distractors
    from course_lib.transforms import fit_pca

    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 16)) * np.linspace(3, 0.3, 16) + 5
    pca = fit_pca(real)
    fake = gaussian_distractors(pca, 5000, seed=1)
    assert fake.shape == (5000, 16) and fake.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fake, axis=1), 1, atol=1e-5)
    unit_real = real / np.linalg.norm(real, axis=1, keepdims=True)
    np.testing.assert_allclose(fake.mean(axis=0), unit_real.mean(axis=0), atol=0.02)


def test_window_gem_is_the_gem_of_each_window():
    import torch

    from course_lib import pooling
    from course_lib.index.distractors import random_windows, window_gem

    fmap = torch.rand(16, 9, 11) * (torch.rand(16, 9, 11) > 0.5)   # sparse and non-negative, as after a ReLU
    windows = random_windows(9, 11, 12, np.random.default_rng(0), min_cells=1)
    got = window_gem(fmap, windows)
    for row, (top, left, bottom, right) in zip(got, windows):
        expected = pooling.gem(fmap[None, :, top:bottom, left:right])[0]
        np.testing.assert_allclose(row, (expected / expected.norm()).numpy(), atol=1e-5)


def test_best_ms_per_query_runs_the_search_repeats_times_and_returns_its_result():
    calls = []
    result, ms = zoo.best_ms_per_query(lambda: calls.append(1) or "ids", n_queries=10, repeats=4)
    assert result == "ids" and len(calls) == 4 and 0 <= ms < 1000
