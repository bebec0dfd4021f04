"""Re-ranking methods on hand-worked small cases; diffusion and k-reciprocal against dense references."""
import numpy as np
import pytest
from scipy import sparse

from course_lib.index import rank_database
from course_lib.rerank import (
    alpha_query_expansion,
    average_query_expansion,
    count_inliers,
    database_augmentation,
    diffusion_rerank,
    homography_inliers,
    k_reciprocal_rerank,
    spatial_rerank,
)
from course_lib.rerank.diffusion import (
    affinity_graph,
    diffuse,
    normalized_graph,
    query_vector,
)
from course_lib.rerank.knn import knn_graph
from course_lib.rerank.reciprocal import (
    jaccard_distances,
    query_encoding,
    reciprocal_database,
)
from course_lib.rerank.spatial import LocalFeatures, match_features


def unit(*rows):
    x = np.array(rows, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_unit(n, d, seed):
    return unit(*np.random.default_rng(seed).normal(size=(n, d)))


# ---------------------------------------------------------------- query expansion and DBA

def test_aqe_by_hand():
    db = unit([1, 0], [0, 1], [1, 1])
    queries = unit([1, 0.2])
    ranks = rank_database(db, queries)
    assert ranks[:, 0].tolist() == [0, 2, 1]
    expanded = average_query_expansion(db, queries, ranks, k=2)
    by_hand = queries[0] + db[0] + db[2]           # the query plus its two best matches
    np.testing.assert_allclose(expanded[0], by_hand / np.linalg.norm(by_hand), rtol=1e-6)
    np.testing.assert_allclose(average_query_expansion(db, queries, ranks, k=0), queries, rtol=1e-6)


def test_alpha_qe_weights_by_similarity_power():
    db = unit([1, 0], [0, 1], [1, 1])
    queries = unit([1, 0.2])
    ranks = rank_database(db, queries)
    s0, s2 = float(queries[0] @ db[0]), float(queries[0] @ db[2])
    expanded = alpha_query_expansion(db, queries, ranks, k=2, alpha=3)
    by_hand = queries[0] + s0 ** 3 * db[0] + s2 ** 3 * db[2]
    np.testing.assert_allclose(expanded[0], by_hand / np.linalg.norm(by_hand), rtol=1e-6)
    np.testing.assert_allclose(alpha_query_expansion(db, queries, ranks, k=2, alpha=0),
                               average_query_expansion(db, queries, ranks, k=2), rtol=1e-6)


def test_alpha_qe_ignores_negative_similarities():
    db = unit([1, 0], [-1, 0.1])
    queries = unit([1, 0])
    ranks = np.array([[0], [1]])
    expanded = alpha_query_expansion(db, queries, ranks, k=2, alpha=1)
    np.testing.assert_allclose(expanded[0], unit(queries[0] + db[0])[0], rtol=1e-6)


def test_dba_by_hand():
    db = unit([1, 0], [0.9, 0.1], [0, 1])
    augmented = database_augmentation(db, k=1)
    # nearest neighbours: 0 <-> 1, and 2's nearest is 1
    for item, neighbour in [(0, 1), (1, 0), (2, 1)]:
        by_hand = db[item] + db[neighbour]
        np.testing.assert_allclose(augmented[item], by_hand / np.linalg.norm(by_hand), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(augmented, axis=1), 1, rtol=1e-6)


def test_dba_gives_one_neighbourhood_one_bitwise_descriptor_and_ranks_its_ties_by_id():
    # Items 0, 1, 2 are each other's two nearest neighbours: unweighted DBA gives all three the same
    # descriptor. Summed in neighbour order (d0 + (d1 + d2) vs d1 + (d0 + d2)) the copies would differ in
    # their last bits and a BLAS kernel would decide their order; they must be equal, bit for bit.
    rng = np.random.default_rng(0)
    centre = rng.standard_normal(256)
    close = [centre + 0.05 * rng.standard_normal(256) for _ in range(3)]
    far = [rng.standard_normal(256) for _ in range(5)]
    db = unit(*close, *far)
    augmented = database_augmentation(db, k=2)
    assert np.array_equal(augmented[0], augmented[1]) and np.array_equal(augmented[0], augmented[2])
    ranks = rank_database(augmented, unit(centre))
    assert ranks[:3, 0].tolist() == [0, 1, 2]
    by_hand = db[0] + db[1] + db[2]
    np.testing.assert_allclose(augmented[0], by_hand / np.linalg.norm(by_hand), rtol=1e-5)


def test_knn_graph_without_self_drops_the_item_even_with_duplicates():
    db = unit([1, 0], [1, 0], [0, 1])
    _, ids = knn_graph(db, 2, include_self=False)
    assert all(i not in row for i, row in enumerate(ids.tolist()))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_expansion_rejects_bad_k(bad):
    db = unit([1, 0], [0, 1])
    with pytest.raises(ValueError, match="k must be"):
        average_query_expansion(db, db, rank_database(db, db), k=bad)


# ---------------------------------------------------------------- diffusion

def dense_diffusion(db, query, top, k, alpha, gamma):
    """The textbook computation with dense matrices: mutual k-NN affinity, D^-1/2 A D^-1/2, exact solve."""
    sims = db.astype(np.float64) @ db.T.astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    n = len(db)
    neighbours = np.argsort(-sims, axis=1)[:, :k]
    is_neighbour = np.zeros((n, n), dtype=bool)
    is_neighbour[np.repeat(np.arange(n), k), neighbours.ravel()] = True
    mutual = is_neighbour & is_neighbour.T
    affinity = np.where(mutual, np.maximum(sims, 0) ** gamma, 0)
    degree = affinity.sum(axis=1)
    inv = np.where(degree > 0, 1 / np.sqrt(np.where(degree > 0, degree, 1)), 0)
    s = inv[:, None] * affinity * inv[None, :]
    y = np.zeros(n)
    y[top] = np.maximum(db[top].astype(np.float64) @ query.astype(np.float64), 0) ** gamma
    return np.linalg.solve(np.eye(n) - alpha * s, y)


def test_diffusion_matches_a_dense_reference():
    db = random_unit(40, 8, seed=0)
    queries = random_unit(3, 8, seed=1)
    ranks = rank_database(db, queries)
    graph = normalized_graph(affinity_graph(db, k=6, gamma=3))
    assert sparse.issparse(graph) and graph.nnz <= 40 * 6
    for q in range(3):
        y = query_vector(db, queries[q], ranks[:5, q], gamma=3)
        f = diffuse(graph, y, alpha=0.9, iterations=200)
        expected = dense_diffusion(db, queries[q], ranks[:5, q], k=6, alpha=0.9, gamma=3)
        np.testing.assert_allclose(f, expected, rtol=1e-4, atol=1e-9)
    new = diffusion_rerank(db, queries, ranks, k=6, query_k=5, alpha=0.9, gamma=3, iterations=200)
    assert sorted(new[:, 0].tolist()) == list(range(40))


def test_diffusion_follows_the_manifold():
    """Points along a curve: the query touches one end; diffusion ranks the curve before a closer outlier."""
    angles = np.linspace(0, 1.2, 12)
    curve = np.column_stack([np.cos(angles), np.sin(angles), np.zeros(12)])
    outlier = np.array([[np.cos(0.3), 0, np.sin(0.3)]]) * 1.0
    db = unit(*curve, *outlier)
    query = unit([1, 0, 0])
    ranks = rank_database(db, query)
    assert ranks[:, 0].tolist().index(12) < 10, "the outlier is close to the query in plain search"
    new = diffusion_rerank(db, query, ranks, k=2, query_k=2, alpha=0.99, gamma=1)
    assert sorted(new[:12, 0].tolist()) == list(range(12)) and new[12, 0] == 12


def test_diffusion_keeps_unreached_items_in_their_order():
    db = unit([1, 0, 0], [0.99, 0.1, 0], [0, 0, 1], [0, 0.1, 0.99])
    query = unit([1, 0.05, 0])
    ranks = rank_database(db, query)
    new = diffusion_rerank(db, query, ranks, k=1, query_k=1)
    assert new[:2, 0].tolist() == [0, 1] and new[2:, 0].tolist() == ranks[2:, 0].tolist()


# ---------------------------------------------------------------- k-reciprocal

def dense_k_reciprocal(db, query, k1, lam):
    """Zhong et al.'s encoding with k2 = 1, written directly with dense arrays (database graph without queries)."""
    n = len(db)
    sims = db.astype(np.float64) @ db.T.astype(np.float64)
    order = np.argsort(-sims, axis=1, kind="stable")
    def reciprocal(i, k):
        return {int(j) for j in order[i, :k + 1] if i in order[j, :k + 1]}
    half = round(k1 / 2)
    def expand(core):
        members = set(core)
        for c in core:
            h = reciprocal(c, half)
            if len(h & core) > 2 / 3 * len(h):
                members |= h
        return sorted(members)
    def encode(members, vector):
        v = np.zeros(n)
        w = np.exp(-(2 - 2 * db[members].astype(np.float64) @ vector.astype(np.float64)))
        v[members] = w / w.sum()
        return v
    encodings = np.array([encode(expand(reciprocal(i, k1)), db[i]) for i in range(n)])
    qs = db.astype(np.float64) @ query.astype(np.float64)
    q_order = np.argsort(-qs, kind="stable")[:k1]
    core = {int(g) for g in q_order if qs[g] >= sims[g, order[g, k1]]}
    vq = encode(expand(core), query) if core else np.zeros(n)
    shared = np.minimum(vq[None], encodings).sum(axis=1)
    jaccard = 1 - shared / (vq.sum() + encodings.sum(axis=1) - shared)
    original = 2 - 2 * qs
    return (1 - lam) * jaccard + lam * original / original.max()


def test_k_reciprocal_matches_a_dense_reference():
    db = random_unit(30, 6, seed=2)
    queries = random_unit(4, 6, seed=3)
    base = reciprocal_database(db, k1=6, k2=1)
    new = k_reciprocal_rerank(db, queries, k1=6, k2=1, lam=0.3, base=base)
    for q in range(4):
        expected = dense_k_reciprocal(db, queries[q], k1=6, lam=0.3)
        order = rank_database(db, queries[q:q + 1])[:, 0]
        jaccard = jaccard_distances(base, *query_encoding(base, db, queries[q], order, db[order] @ queries[q]))
        original = 2 - 2 * (db @ queries[q]).astype(np.float64)
        np.testing.assert_allclose(0.7 * jaccard + 0.3 * original / original.max(), expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.sort(expected), expected[new[:, q]], rtol=1e-4, atol=1e-6)


def test_k_reciprocal_lambda_one_is_the_original_ranking():
    db = random_unit(25, 5, seed=4)
    queries = random_unit(3, 5, seed=5)
    np.testing.assert_array_equal(k_reciprocal_rerank(db, queries, k1=5, k2=2, lam=1.0), rank_database(db, queries))


def test_k_reciprocal_encodings_are_sparse_distributions():
    db = random_unit(50, 6, seed=6)
    base = reciprocal_database(db, k1=5, k2=3)
    assert sparse.issparse(base.encodings) and base.encodings.nnz < 50 * 50 / 2
    np.testing.assert_allclose(np.asarray(base.encodings.sum(axis=1)).ravel(), 1, rtol=1e-9)


# ---------------------------------------------------------------- spatial verification

def test_homography_inliers_by_hand():
    h = np.array([[1, 0, 10], [0, 1, -5], [0, 0, 1]], dtype=float)   # a translation by (10, -5)
    source = np.array([[0, 0], [5, 5], [20, 1], [3, 3]], dtype=float)
    target = source + [10, -5]
    target[3] += [6, 0]                                             # 6 px off: an outlier at threshold 5
    assert homography_inliers(h, source, target, threshold=5).tolist() == [True, True, True, False]
    assert homography_inliers(h, source, target, threshold=7).tolist() == [True] * 4
    at_infinity = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=float)
    assert not homography_inliers(at_infinity, [[0, 0]], [[0, 0]]).any()


@pytest.mark.parametrize("model", ["affine", "homography"])
def test_count_inliers_finds_the_true_matches(model):
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 300, size=(60, 2))
    a = np.array([[0.9, -0.2], [0.25, 1.1]])
    target = source @ a.T + [15, 40]
    target[40:] = rng.uniform(0, 300, size=(20, 2))                # 20 wrong matches
    found = count_inliers(source, target, model=model, threshold=2, max_trials=500)
    assert 40 <= found <= 42   # the 40 true ones (a random wrong match may fall on the model by chance)
    assert count_inliers(source[:3], target[:3], model="homography") == 0


def test_match_features_mutual_and_ratio():
    rng = np.random.default_rng(1)
    descriptors = rng.integers(0, 2, size=(30, 256)).astype(bool)
    points = rng.uniform(0, 100, size=(30, 2))
    a = LocalFeatures(points, descriptors)
    flipped = descriptors.copy()
    flipped[:, :10] ^= True                                         # 10 of 256 bits differ: still nearest
    b = LocalFeatures(points[::-1].copy(), flipped[::-1].copy())
    pairs = match_features(a, b)
    assert len(pairs) == 30 and (pairs[:, 1] == 29 - pairs[:, 0]).all()


def test_spatial_rerank_moves_verified_items_up():
    rng = np.random.default_rng(2)
    points = rng.uniform(0, 200, size=(50, 2))
    descriptors = rng.integers(0, 2, size=(50, 256)).astype(bool)
    query = LocalFeatures(points, descriptors)
    same = LocalFeatures(points * 1.2 + 7, descriptors)                          # the object, scaled
    other = LocalFeatures(rng.uniform(0, 200, size=(50, 2)), rng.integers(0, 2, size=(50, 256)).astype(bool))
    database = {0: other, 1: other, 2: same, 3: other}
    ranks = np.array([[0], [1], [2], [3]])
    new, counts = spatial_rerank(ranks, [query], lambda ids: [database[int(i)] for i in ids], top_k=3)
    assert new[:, 0].tolist() == [2, 0, 1, 3]       # verified first, the rest in order, item 3 below top_k
    assert counts[:, 0].tolist()[2] == 50 and counts[:2, 0].max() < 8
