"""Post-pooling transforms: PCA from scratch against faiss's PCAMatrix, whitening, power, saving."""
import faiss
import numpy as np
import pytest

from course_lib import transforms
from course_lib.transforms import (
    PCA,
    fit_pca,
    l2_normalise,
    learned_pca,
)


def correlated(n=300, d=24, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(3, 0.1, d)[:, None]
    return (rng.normal(size=(n, d)) @ mixing + rng.normal(size=d)).astype(np.float32)


def test_components_are_orthonormal_and_eigenvalues_sorted_and_equal_the_projected_variance():
    x = correlated()
    pca = fit_pca(x)
    assert pca.rank == 24
    np.testing.assert_allclose(pca.components.T @ pca.components, np.eye(24), atol=1e-10)
    assert np.all(np.diff(pca.eigenvalues) <= 0)
    projected = pca.apply(x, renormalise=False).astype(np.float64)
    np.testing.assert_allclose(projected.var(axis=0), pca.eigenvalues, rtol=1e-4)


def test_pca_matches_the_covariance_eigendecomposition():
    x = correlated(n=200, d=10).astype(np.float64)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))
    pca = fit_pca(x)
    np.testing.assert_allclose(pca.eigenvalues, values[::-1], rtol=1e-8)
    np.testing.assert_allclose(np.abs(pca.components.T @ vectors[:, ::-1]), np.eye(10), atol=1e-6)


def test_l2_normalise_gives_unit_rows_and_leaves_a_zero_row_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    out = l2_normalise(x)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out, np.array([[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], dtype=np.float32))
    np.testing.assert_allclose(l2_normalise(np.array([3.0, 4.0])), [0.6, 0.8])  # one vector: its own row


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_whitening_matches_faiss_pca_matrix_with_eigen_power(power):
    x = correlated()
    ours = fit_pca(x).apply(x, dims=8, whiten=True, power=power)
    library = faiss.PCAMatrix(24, 8, -power / 2)
    library.train(x)
    theirs = l2_normalise(library.apply(x))
    # Eigenvector signs are arbitrary: compare up to one sign per column.
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours, theirs * signs, atol=2e-4)


def test_full_whitening_gives_unit_variance_and_power_between_none_and_full():
    x = correlated()
    pca = fit_pca(x)
    white = pca.apply(x, whiten=True, renormalise=False).astype(np.float64)
    np.testing.assert_allclose(white.var(axis=0), 1.0, rtol=1e-3)
    half = pca.apply(x, whiten=True, power=0.5, renormalise=False).astype(np.float64).var(axis=0)
    plain = pca.apply(x, renormalise=False).astype(np.float64).var(axis=0)
    spread = lambda v: v.max() / v.min()
    assert spread(white.var(axis=0)) < spread(half) < spread(plain)


def test_apply_renormalises_and_keeps_dims():
    x = correlated()
    y = fit_pca(x).apply(x[:5], dims=4)
    assert y.shape == (5, 4) and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-6)


def test_rank_is_limited_by_the_learning_set_and_too_many_dims_is_a_clear_error():
    x = correlated(n=6, d=24)
    pca = fit_pca(x)
    assert pca.rank == 5
    with pytest.raises(ValueError, match="dims 6: this PCA has 5 components"):
        pca.apply(x, dims=6)
    with pytest.raises(ValueError, match=r"must be \(N, 24\)"):
        pca.apply(x[:, :10])
    with pytest.raises(ValueError, match="power"):
        pca.apply(x, whiten=True, power=1.5)


@pytest.mark.parametrize("bad", [np.zeros((1, 4)), np.zeros(4), np.ones((5, 3)), np.array([[np.nan, 1.0], [0, 1]])])
def test_fit_refuses_what_has_no_variance_or_no_numbers(bad):
    with pytest.raises(ValueError, match="PCA"):
        fit_pca(bad)


def test_learned_pca_is_cached_under_the_descriptor_key(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_HOME", str(tmp_path))
    x = correlated()
    first = learned_pca(x, descriptor_key="abc")
    path = transforms.transform_cache_path("abc")
    assert path.exists() and str(path).startswith(str(tmp_path))
    again = learned_pca(np.zeros_like(x), descriptor_key="abc")  # read back, not refitted on zeros
    np.testing.assert_array_equal(again.eigenvalues, first.eigenvalues)
    path.write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="damaged PCA cache entry"):
        refitted = learned_pca(x, descriptor_key="abc")
    np.testing.assert_allclose(refitted.eigenvalues, first.eigenvalues)
    with pytest.warns(UserWarning, match="not a PCA of 3-D descriptors"):  # an entry of another dimension
        learned_pca(x[:, :3], descriptor_key="abc")
