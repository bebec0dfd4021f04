"""Extraction: batched = per-image, one pass serves every method and layer, and the cache is keyed right."""
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import names, pooling
from course_lib.datasets import load_folder
from course_lib.features import describe_images, extract_descriptors, image_tensor, resolve_method
from course_lib.models import load_backbone


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


@pytest.fixture()
def folder(tmp_path):
    """A small dataset folder of real photos (skimage/sklearn), two sizes, one query with a box."""
    import json

    import skimage.data as sd
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    (tmp_path / "queries").mkdir()
    photos = [sd.astronaut(), sd.coffee(), sd.chelsea(), sd.rocket()]
    names = []
    for i, arr in enumerate(photos):
        for j, size in enumerate([(200, 150), (160, 160)]):
            img = Image.fromarray(arr).resize(size)
            names.append(f"images/{i}_{j}.png")
            img.save(tmp_path / names[-1])
    Image.fromarray(photos[0]).save(tmp_path / "queries/q.png")
    gt = {"queries": [{"query": "queries/q.png", "bbox": [100, 20, 400, 300],
                       "positives": ["images/0_0.png", "images/0_1.png"]}]}
    (tmp_path / "ground_truth.json").write_text(json.dumps(gt))
    rng.shuffle(names)
    return tmp_path


def test_batched_extraction_equals_one_image_at_a_time(folder, backbone):
    ds = load_folder(folder)
    batched = describe_images(ds.images, backbone, ["gem", "mac"], max_side=160, batch_size=8, progress=False)
    single = describe_images(ds.images, backbone, ["gem", "mac"], max_side=160, batch_size=1, progress=False)
    for m in ("gem", "mac"):
        np.testing.assert_allclose(batched[m], single[m], atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(batched[m], axis=1), 1, atol=1e-5)


def test_descriptor_is_pooling_of_the_feature_map(folder, backbone):
    ds = load_folder(folder)
    got = describe_images(ds.images[:1], backbone, ["rmac", "pool", "gem@blocks5"], max_side=160, progress=False)
    with torch.no_grad():
        acts = backbone(image_tensor(ds.images[0], 160)[None], ("head", "pool", "blocks5"))
    np.testing.assert_allclose(got["rmac"], pooling.rmac(acts["head"]).numpy(), atol=1e-5)
    np.testing.assert_allclose(got["gem@blocks5"], pooling.gem(acts["blocks5"]).div(
        pooling.gem(acts["blocks5"]).norm()).numpy(), atol=1e-5)
    np.testing.assert_allclose(got["pool"], torch.nn.functional.normalize(acts["pool"]).numpy(), atol=1e-5)
    assert got["gem@blocks5"].shape == (1, 320)


def test_maps_pooled_in_groups_give_each_image_its_own_descriptors(folder, backbone, monkeypatch):
    """Maps of one shape wait and are pooled together; every image must get exactly what pooling it alone
    gives, whatever the group holds, with several scales and taps, and when the memory cap cuts groups short."""
    from course_lib import features

    ds = load_folder(folder)
    methods = list(pooling.POOLINGS) + ["pool", "gem@blocks4_expanded"]
    kwargs = dict(max_side=160, scales=(1, 0.7071), progress=False)
    grouped = describe_images(ds.images, backbone, methods, **kwargs)
    monkeypatch.setattr(features, "POOL_GROUP_IMAGES", 1)     # each image pooled as soon as it is through
    alone = describe_images(ds.images, backbone, methods, **kwargs)
    monkeypatch.setattr(features, "POOL_GROUP_IMAGES", 32)
    monkeypatch.setattr(features, "POOL_GROUP_BYTES", 600_000)  # about one image's maps at two scales
    capped = describe_images(ds.images, backbone, methods, **kwargs)
    for m in methods:
        np.testing.assert_allclose(grouped[m], alone[m], rtol=0, atol=1e-6, err_msg=m)
        np.testing.assert_allclose(capped[m], alone[m], rtol=0, atol=1e-6, err_msg=m)
    shapes = [image_tensor(path, 160).shape for path in ds.images]
    assert len(set(shapes)) < len(shapes)  # the folder really has images of one shape to group


def test_method_names(backbone):
    assert resolve_method("gem", backbone) == ("gem", "head")
    assert resolve_method("pool", backbone) == ("code", "pool")
    assert resolve_method("mac@blocks4", backbone) == ("mac", "blocks4")
    with pytest.raises(pooling.UnknownPoolingError, match="unknown pooling 'max'; valid names: mac, spoc"):
        resolve_method("max", backbone)   # the pooling registry's one check of a name
    with pytest.raises(ValueError, match="fully connected"):
        resolve_method("gem@pool", backbone)
    with pytest.raises(ValueError, match="no tap 'fc7'"):
        resolve_method("gem@fc7", backbone)


def test_the_localization_maps_are_conv_maps_one_road(folder, backbone):
    """detection's MapStore takes an image (cropped or not) to its conv map by `conv_map`, TF32 off included."""
    from course_lib.detection.evaluate import MapStore
    from course_lib.features import conv_map

    ds = load_folder(folder)
    maps = MapStore(ds, backbone, max_side=160)
    torch.testing.assert_close(maps.image(0), conv_map(backbone, ds.images[0], max_side=160), rtol=0, atol=0)
    cropped = conv_map(backbone, image_tensor(ds.queries[0], 160, ds.bboxes[0]))
    torch.testing.assert_close(maps.query(0), cropped, rtol=0, atol=0)
    torch.testing.assert_close(conv_map(backbone, ds.queries[0], max_side=160, bbox=ds.bboxes[0]), cropped,
                               rtol=0, atol=0)


def test_queries_are_cropped_to_their_box(folder, backbone):
    ds = load_folder(folder)
    d = extract_descriptors(ds, backbone, ["gem"], max_side=160, cache=False, progress=False)
    crop = describe_images([ds.queries[0]], backbone, ["gem"], max_side=160, bboxes=[ds.bboxes[0]], progress=False)
    whole = describe_images([ds.queries[0]], backbone, ["gem"], max_side=160, progress=False)
    np.testing.assert_allclose(d.queries["gem"], crop["gem"], atol=1e-5)
    assert not np.allclose(d.queries["gem"], whole["gem"], atol=1e-3)


def test_cache_reuses_and_invalidates(folder, backbone, tmp_path, monkeypatch):
    import course_lib.features as features

    ds = load_folder(folder)
    first = extract_descriptors(ds, backbone, ["gem", "mac"], max_side=160, cache_dir=tmp_path / "c", progress=False)
    calls = []
    real = features.describe_images
    monkeypatch.setattr(features, "describe_images", lambda *a, **k: calls.append(k["methods"]) or real(*a, **k))
    again = extract_descriptors(ds, backbone, ["gem", "mac"], max_side=160, cache_dir=tmp_path / "c", progress=False)
    assert calls == []
    np.testing.assert_array_equal(first.db["gem"], again.db["gem"])
    extract_descriptors(ds, backbone, ["gem", "spoc"], max_side=160, cache_dir=tmp_path / "c", progress=False)
    assert calls == [["spoc"], ["spoc"]]  # only the new method, for database and queries
    extract_descriptors(ds, backbone, ["gem"], max_side=128, cache_dir=tmp_path / "c", progress=False)
    assert calls[-1] == ["gem"]  # another image size is another key
    Image.new("RGB", (200, 150), "white").save(ds.images[0])  # an image changed on disk
    extract_descriptors(ds, backbone, ["gem"], max_side=160, cache_dir=tmp_path / "c", progress=False)
    assert len(calls) == 6


def test_a_pooling_revision_recomputes_that_methods_cached_descriptors_only(folder, monkeypatch):
    from course_lib import descriptor_cache

    ds = load_folder(folder)
    keys = lambda: {m: descriptor_cache.cache_key(ds, "efficientnet-lite0", "head", m, 160, (1.0,))
                    for m in pooling.POOLINGS}
    now, revised = keys(), list(names.POOLING_REVISIONS)
    monkeypatch.setattr(names, "POOLING_REVISIONS", {})
    before = keys()
    assert revised and [m for m in now if now[m] != before[m]] == revised


def test_multiscale_differs_and_is_normalised(folder, backbone):
    ds = load_folder(folder)
    one = describe_images(ds.images[:2], backbone, ["gem"], max_side=160, progress=False)["gem"]
    multi = describe_images(ds.images[:2], backbone, ["gem"], max_side=160, scales=(1, 0.7071), progress=False)["gem"]
    np.testing.assert_allclose(np.linalg.norm(multi, axis=1), 1, atol=1e-5)
    assert 0.9 < float((one * multi).sum(1).min()) < 0.99999


# Channels-last layout: descriptors stay within this of the default layout's (the conv kernels add the
# same products in another order). On all of mini: at most 8e-7 for every method but rmac-integral,
# whose 1/alpha power of box sums near their rounding bound amplifies that noise (3.4e-4 on mini, no
# mAP or per-query AP changed).
LAYOUT_TOLERANCE = {"rmac-integral": 1e-3}
DEFAULT_LAYOUT_TOLERANCE = 1e-5


def test_channels_last_gives_the_default_layouts_descriptors(folder, backbone):
    paths = sorted((folder / "images").glob("*.png"))[:4]
    methods = list(pooling.POOLINGS) + ["pool", "gem@blocks4_expanded"]
    fast = describe_images(paths, backbone, methods, max_side=160, progress=False)
    reference = describe_images(paths, backbone, methods, max_side=160, progress=False, channels_last=False)
    for m in methods:
        assert np.abs(fast[m] - reference[m]).max() < LAYOUT_TOLERANCE.get(m, DEFAULT_LAYOUT_TOLERANCE), m


def test_folded_batch_norms_give_the_networks_descriptors_and_leave_it_untouched(folder, backbone):
    from course_lib.models.inference import fold_batch_norms

    paths = sorted((folder / "images").glob("*.png"))[:4]
    methods = list(pooling.POOLINGS) + ["pool", "gem@blocks4_expanded", "gem@stem"]
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    fast = describe_images(paths, backbone, methods, max_side=160, progress=False)
    reference = describe_images(paths, backbone, methods, max_side=160, progress=False, inference_copy=False)
    for m in methods:
        assert np.abs(fast[m] - reference[m]).max() < LAYOUT_TOLERANCE.get(m, DEFAULT_LAYOUT_TOLERANCE), m
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)         # the original keeps its batch norms
    folded = fold_batch_norms(backbone)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules()) == 49  # Lite0: stem, 16 blocks, head


def test_the_inference_copy_gives_every_tap_of_the_network(folder, backbone):
    """Folded batch norms, in-place activations and padding inside the convolutions must leave every stage
    output a tap returns as it was: an activation run in place on a tapped output or a skip input would
    clamp it, a wrong padding would shift the map, and either fails here."""
    from course_lib import features

    net = features._inference_copy(backbone)
    relus = [m for m in net.modules() if isinstance(m, torch.nn.ReLU6)]
    assert relus and all(m.inplace for m in relus)
    assert not any(m.inplace for m in backbone.modules() if isinstance(m, torch.nn.ReLU6))  # the original allocates
    padding_first = [m for m in net.modules() if type(m).__name__ == "Conv2dDynamicSamePadding"]
    assert padding_first and all(tuple(m.stride) == (2, 2) for m in padding_first)  # the uneven ones stay
    assert sum(type(m).__name__ == "Conv2dDynamicSamePadding" for m in backbone.modules()) > 3 * len(padding_first)
    x = image_tensor(sorted((folder / "images").glob("*.png"))[0], 160)[None]
    taps = tuple(backbone.taps)
    with torch.inference_mode():
        fast, reference = net(x, taps), backbone(x, taps)
    for tap in taps:
        scale = float(reference[tap].abs().max())
        assert float((fast[tap] - reference[tap]).abs().max()) < 1e-4 * scale, tap
    assert float(reference["blocks5"].min()) < 0  # a signed tap really is among them


def test_the_folded_copy_follows_the_weights(folder, backbone):
    """Extraction reuses its folded copy while the weights stay as they are, and folds again once they change."""
    import copy

    from course_lib import features

    paths = sorted((folder / "images").glob("*.png"))[:1]
    net = copy.deepcopy(backbone)
    first = describe_images(paths, net, ["gem"], max_side=96, progress=False)["gem"]
    copy_before = features._inference_copy(net)
    assert features._inference_copy(net) is copy_before
    with torch.no_grad():
        net.stages[-3][0].weight.mul_(0.5)   # the head conv, edited in place
    assert features._inference_copy(net) is not copy_before
    changed = describe_images(paths, net, ["gem"], max_side=96, progress=False)["gem"]
    unfolded = describe_images(paths, net, ["gem"], max_side=96, progress=False, inference_copy=False)["gem"]
    assert np.abs(changed - first).max() > 1e-3 and np.abs(changed - unfolded).max() < 1e-5


def test_image_tensor_equals_torchvisions_pil_to_tensor(folder):
    from torchvision.transforms.functional import pil_to_tensor

    from course_lib.images import load_image

    path = folder / "queries/q.png"
    x = image_tensor(path, 96, bbox=(100, 20, 400, 300))
    expected = pil_to_tensor(load_image(path, 96, bbox=(100, 20, 400, 300))).float().div(255)
    assert x.dtype == torch.float32 and x.is_contiguous() and torch.equal(x, expected)


def test_mixed_precision_is_off_by_default_and_keyed_apart(folder, backbone, tmp_path):
    dataset = load_folder(folder)
    plain = extract_descriptors(dataset, backbone, ["gem"], max_side=96, cache_dir=tmp_path, progress=False)
    mixed = extract_descriptors(dataset, backbone, ["gem"], max_side=96, cache_dir=tmp_path, progress=False,
                                amp=True)
    assert len(list(tmp_path.rglob("*.npz"))) == 2  # its own cache entry, never mixed up with float32
    cosine = (plain.db["gem"] * mixed.db["gem"]).sum(axis=1)
    assert cosine.min() > 0.99  # bfloat16 on a CPU: close, not equal
    assert not np.array_equal(plain.db["gem"], mixed.db["gem"])


def test_extraction_leaves_the_tf32_settings_as_it_found_them(folder, backbone):
    torch.backends.cudnn.allow_tf32 = True
    describe_images(sorted((folder / "images").glob("*.png"))[:1], backbone, ["gem"], max_side=64, progress=False)
    assert torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: compares GPU descriptors with the CPU's")
def test_gpu_descriptors_equal_the_cpus(folder, backbone):
    """On a GPU, TF32 off: every pooling within float32 noise of the CPU, batched by shape as on a GPU."""
    paths = sorted((folder / "images").glob("*.png"))
    methods = list(pooling.POOLINGS)
    cpu = describe_images(paths, backbone, methods, max_side=160, progress=False)
    gpu_backbone = load_backbone(device="cuda")
    gpu = describe_images(paths, gpu_backbone, methods, max_side=160, batch_size=16, progress=False)
    for m in methods:
        assert np.abs(cpu[m] - gpu[m]).max() < 1e-4, m


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: compares GPU mAPs on mini with the CPU's")
def test_gpu_and_cpu_agree_on_minis_maps(tmp_path):
    """Every method's mAP on mini within 0.005 (in %, the printed unit; rows hold fractions) between the
    GPU (its default batching) and the CPU."""
    from course_lib.datasets import mini
    from course_lib.experiment import evaluate_descriptors

    dataset = load_folder(mini.build_mini(tmp_path / "mini"))
    methods = list(pooling.POOLINGS)
    rows = {}
    for device in ("cpu", "cuda"):
        descriptors = extract_descriptors(dataset, load_backbone(device=device), methods, cache=False,
                                          device=device, progress=False)
        rows[device] = {row["method"]: row for row in evaluate_descriptors(dataset, descriptors)}
    for m in methods:
        for level in ("map_easy", "map_medium", "map_hard"):
            assert abs(rows["cpu"][m][level] - rows["cuda"][m][level]) * 100 <= 0.005, (m, level)
