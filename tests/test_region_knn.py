"""Region descriptors and the region index that both classifies (votes) and ranks images."""
import numpy as np
import torch

from course_lib.pooling import rmac_regions
from course_lib.region_knn import RegionIndex, region_descriptors


def test_region_descriptors_are_unit_mac_vectors_of_the_rmac_regions():
    maps = torch.rand(16, 7, 9, generator=torch.Generator().manual_seed(0))
    regions = region_descriptors(maps, L=2)
    boxes = rmac_regions(7, 9, 2)
    assert regions.shape == (len(boxes), 16)
    np.testing.assert_allclose(np.linalg.norm(regions, axis=1), 1, rtol=1e-5)
    x, y, w, h = boxes[-1]
    expected = maps[:, y:y + h, x:x + w].amax(dim=(1, 2)).numpy()
    np.testing.assert_allclose(regions[-1], expected / np.linalg.norm(expected), rtol=1e-5)


def test_votes_classify_and_rank_by_shared_regions():
    rng = np.random.default_rng(0)
    parts = rng.normal(size=(6, 8))
    parts /= np.linalg.norm(parts, axis=1, keepdims=True)
    images = [parts[[0, 1]], parts[[0, 2]], parts[[3, 4]], parts[[4, 5]]]   # classes a, a, b, b
    index = RegionIndex(images)
    test = parts[[4, 3]] + 0.01
    assert index.classify(test, ["a", "a", "b", "b"], k=2) == "b"
    ranking = index.rank(parts[[0, 1]], k=2)
    assert ranking[0] == 0 and set(ranking[:2]) == {0, 1}
