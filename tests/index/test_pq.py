"""Product quantisation from scratch against faiss's ProductQuantizer; binary codes and Hamming distance."""
import faiss
import numpy as np
import pytest

from course_lib.index import binary, pq


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(2000, 16)) * np.linspace(2, 0.2, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def quantizer(data):
    return pq.train_pq(data, n_subspaces=4, n_bits=4)


def test_encode_and_decode_match_faiss_with_the_same_codebooks(data, quantizer):
    reference = faiss.ProductQuantizer(16, 4, 4)
    faiss.copy_array_to_vector(quantizer.codebooks.ravel(), reference.centroids)
    codes = pq.encode(data[:100], quantizer.codebooks)
    packed = reference.compute_codes(data[:100])  # 4-bit sub-codes, two a byte, low bits first
    expected = np.stack([packed & 15, packed >> 4], axis=-1).reshape(100, 4)
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_allclose(pq.decode(codes, quantizer.codebooks), reference.decode(packed), atol=1e-5)


def test_reconstruction_error_falls_with_more_subspaces(data):
    errors = []
    for m in (2, 4, 8):
        q = pq.train_pq(data, n_subspaces=m, n_bits=4)
        errors.append(np.mean((pq.decode(pq.encode(data, q.codebooks), q.codebooks) - data) ** 2))
    assert errors[0] > errors[1] > errors[2]


def test_asymmetric_distance_is_the_distance_to_the_reconstruction(data, quantizer):
    codes = pq.encode(data[:50], quantizer.codebooks)
    query = data[1000]
    adc = pq.asymmetric_distances(query, codes, quantizer.codebooks)
    direct = ((pq.decode(codes, quantizer.codebooks) - query) ** 2).sum(axis=1)
    np.testing.assert_allclose(adc, direct, rtol=1e-4)
    assert quantizer.bytes_per_vector == 2.0  # 4 sub-codes x 4 bits


def test_bad_shapes_are_clear_errors(quantizer):
    with pytest.raises(ValueError, match="quantise 16-D vectors, the vectors are 12-D"):
        pq.encode(np.zeros((3, 12)), quantizer.codebooks)
    with pytest.raises(ValueError, match="cannot train 256 centroids"):
        pq.train_pq(np.zeros((100, 8)), 2)


def test_binary_codes_hamming_distance_tracks_the_angle():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 64)).astype(np.float32)
    near, far = x + 0.1 * rng.normal(size=(1, 64)), -x + 0.1 * rng.normal(size=(1, 64))
    projection = binary.random_projection(64, 256)
    codes = binary.binary_codes(np.concatenate([x, near, far]), projection)
    assert codes.shape == (3, 32) and codes.dtype == np.uint8
    d = binary.hamming_distances(codes[0], codes)
    assert d[0] == 0 and d[1] < 40 and d[2] > 200
