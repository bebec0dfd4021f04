"""Region descriptors and the region index that both classifies (votes) and ranks images."""
import numpy as np
import torch

from course_lib.detection.region_search import RegionIndex, build_region_index, rmac_region_macs, search_regions
from course_lib.pooling import rmac_regions


def test_rmac_region_macs_are_unit_mac_vectors_of_the_rmac_regions():
    maps = torch.rand(16, 7, 9, generator=torch.Generator().manual_seed(0))
    regions = rmac_region_macs(maps, L=2)
    boxes = rmac_regions(7, 9, 2)
    assert regions.shape == (len(boxes), 16)
    np.testing.assert_allclose(np.linalg.norm(regions, axis=1), 1, rtol=1e-5)
    sliced = torch.stack([maps[:, y:y + h, x:x + w].amax(dim=(1, 2)) for x, y, w, h in boxes]).double()
    np.testing.assert_array_equal(regions, torch.nn.functional.normalize(sliced, dim=1).float().numpy())


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


def test_one_region_index_serves_votes_and_best_boxes():
    """The index that `build_region_index` makes for box search also votes, and keeps each region's image id."""
    maps = {i: torch.rand(8, 6, 6, generator=torch.Generator().manual_seed(i)) for i in (3, 5)}
    index = build_region_index(maps.__getitem__, {3: (60, 60), 5: (60, 60)}, [3, 5], L=1)
    assert set(index.owners) == {3, 5} and index.boxes.shape == (len(index), 4) and index.n_images == 6
    query = rmac_region_macs(maps[5], L=1)
    assert index.rank(query, k=2)[0] == 5 and search_regions(index, query[0], k=1)[0][0] == 5
