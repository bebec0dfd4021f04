"""Backbones: the offline EfficientNet-Lite0 classifies real photos; taps have the documented shapes."""
import os
from pathlib import Path

import matplotlib
import pytest
import skimage
import sklearn
import torch

from course_lib import models
from course_lib.names import BACKBONES, DEFAULT_CONV_TAPS

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
SKLEARN_IMAGES = Path(sklearn.__file__).parent / "datasets" / "images"
MPL_SAMPLES = Path(matplotlib.get_data_path()) / "sample_data"

# Real photographs shipped inside pip wheels, with the ImageNet classes that describe them.
PHOTOS = {
    SKIMAGE_DATA / "coffee.png": {"espresso", "cup", "coffee mug"},
    SKIMAGE_DATA / "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
    SKIMAGE_DATA / "rocket.jpg": {"missile", "projectile", "space shuttle"},
    SKLEARN_IMAGES / "china.jpg": {"palace", "bell cote", "monastery", "stupa"},
    SKLEARN_IMAGES / "flower.jpg": {"daisy"},
    MPL_SAMPLES / "grace_hopper.jpg": {"military uniform", "academic gown", "mortarboard", "suit"},
}


@pytest.fixture(scope="module")
def lite0():
    return models.load_backbone("efficientnet-lite0")


def _center_224(path):
    x = models.classification_input(path)
    assert x.shape == (1, 3, 224, 224) and 0 <= float(x.min()) and float(x.max()) <= 1
    return x


def test_lite0_weights_ship_in_the_wheel():
    path = models.lite0_weights_file()
    assert path.is_file() and path.stat().st_size > 10_000_000


def test_lite0_classifies_real_photos_top1(lite0):
    for path, labels in PHOTOS.items():
        top = lite0.classify(_center_224(path), k=1)[0]
        assert top[0][0] in labels, f"{path.name}: predicted {top}"


def test_lite0_input_normalisation_is_the_tensorflow_lite_one(lite0):
    """The [-1, 1] mapping of the TF Lite models fits the weights best: the true classes of real
    photos get a higher mean log-probability than with torchvision's ImageNet statistics or with
    raw [0, 1] pixels (measured: -0.49 against -0.60 and -0.63 nats)."""
    def mean_log_prob_of_true_classes(mean, std):
        lite0.mean.copy_(torch.tensor(mean).view(1, 3, 1, 1))
        lite0.std.copy_(torch.tensor(std).view(1, 3, 1, 1))
        total = 0.0
        for path, labels in PHOTOS.items():
            log_p = lite0(_center_224(path), ("logits",))["logits"][0].log_softmax(0)
            total += torch.logsumexp(log_p[[lite0.categories.index(c) for c in labels]], 0).item()
        return total / len(PHOTOS)

    try:
        lite = mean_log_prob_of_true_classes(models.LITE_MEAN, models.LITE_STD)
        imagenet = mean_log_prob_of_true_classes(models.IMAGENET_MEAN, models.IMAGENET_STD)
        raw = mean_log_prob_of_true_classes((0.0,) * 3, (1.0,) * 3)
    finally:
        lite0.mean.copy_(torch.tensor(models.LITE_MEAN).view(1, 3, 1, 1))
        lite0.std.copy_(torch.tensor(models.LITE_STD).view(1, 3, 1, 1))
    assert lite > imagenet + 0.05 and lite > raw + 0.05, (lite, imagenet, raw)


def test_taps_shapes_for_any_image_size(lite0):
    x = torch.rand(2, 3, 333, 517)
    out = lite0(x, tuple(lite0.taps))
    assert out["head"].shape == (2, 1280, 11, 17)  # stride 32, "same" padding rounds up
    assert out["pool"].shape == (2, 1280)
    assert out["logits"].shape == (2, 1000)
    for name, info in lite0.taps.items():
        assert out[name].shape[1] == info.dim
        assert out[name].dim() == (4 if info.kind == "conv" else 2)
    assert (out["head"] >= 0).all() and (out["head"] <= 6).all()  # ReLU6 activations


def test_unknown_tap_and_backbone_are_one_line_errors(lite0):
    with pytest.raises(ValueError, match="no tap 'conv9'"):
        lite0(torch.rand(1, 3, 64, 64), ("conv9",))
    with pytest.raises(ValueError, match="unknown backbone 'vgg17'"):
        models.load_backbone("vgg17")


def test_torchvision_weights_offline_say_what_to_do(tmp_path, monkeypatch):
    """With an empty hub cache and no network the error names the fix instead of a socket trace."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a closed port: fails at once, offline or not
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    with pytest.raises(models.WeightsUnavailable, match="offline backbone 'efficientnet-lite0'"):
        models.load_backbone("alexnet")
    assert not any(tmp_path.rglob("*.pth")), "nothing half-downloaded may be left behind"


def test_torchvision_architectures_with_cached_weights(tmp_path, monkeypatch):
    """AlexNet's taps, built from a weight file in the hub cache (random weights saved under the real name)."""
    import hashlib

    import torchvision

    net = torchvision.models.alexnet(weights=None)
    raw = tmp_path / "raw.pth"
    torch.save(net.state_dict(), raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    url_name = torchvision.models.AlexNet_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    # The real file name carries the real hash prefix: our random file must fail that check...
    os.replace(raw, ckpt / url_name)
    with pytest.raises(models.WeightsUnavailable, match="does not match"):
        models.load_backbone("alexnet")
    # ...and a file whose name carries its own hash prefix is accepted.
    monkeypatch.setattr(models.backbones, "weights_url", lambda arch: f"https://example.invalid/alexnet-{digest[:8]}.pth")
    os.replace(ckpt / url_name, ckpt / f"alexnet-{digest[:8]}.pth")
    alex = models.load_backbone("alexnet")
    out = alex(torch.rand(1, 3, 224, 224), ("conv5", "fc6", "fc7", "fc8"))
    assert out["conv5"].shape == (1, 256, 13, 13)
    assert out["fc6"].shape == (1, 4096) and out["fc7"].shape == (1, 4096) and out["fc8"].shape == (1, 1000)
    assert (out["fc6"] >= 0).all() and (out["fc7"] >= 0).all()  # read after their ReLU
    assert [n for n in alex.taps if alex.taps[n].kind == "conv"] == [f"conv{i}" for i in range(1, 6)]


def test_expanded_taps_are_non_negative_and_the_split_changes_nothing(lite0):
    """blocksN are linear bottlenecks (signed); blocksN_expanded, the next group's 1x1 expansion + ReLU6 at
    the same resolution, are what MAC/SPoC/GeM expect. Splitting a block there leaves the network's output as it was."""
    from efficientnet_lite_pytorch import EfficientNet

    x = torch.rand(1, 3, 160, 224, generator=torch.Generator().manual_seed(0))
    out = lite0(x, ("blocks3", "blocks3_expanded", "blocks4", "blocks4_expanded", "blocks5", "logits"))
    for name in ("blocks3", "blocks4", "blocks5"):
        assert (out[name] < 0).float().mean() > 0.2, name  # signed
    for name, channels in (("blocks3_expanded", 240), ("blocks4_expanded", 672)):
        assert out[name].shape[1] == channels and (out[name] >= 0).all() and (out[name] <= 6).all()
        assert out[name].shape[-2:] == out[name.replace("_expanded", "")].shape[-2:]
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    net.load_state_dict(torch.load(models.backbones.lite0_weights_file(), map_location="cpu", weights_only=True))
    with torch.no_grad():
        reference = net.eval()(lite0.normalize(x))
    torch.testing.assert_close(out["logits"], reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(DEFAULT_CONV_TAPS))
def test_the_torch_free_default_conv_taps_are_the_backbones_own(name):
    """descriptor_cache.read_cached finds cached descriptors by these names without building the network."""
    assert set(DEFAULT_CONV_TAPS) == set(BACKBONES)
    try:
        backbone = models.load_backbone(name)
    except models.WeightsUnavailable:
        pytest.skip(f"{name}: weights not available offline")
    assert backbone.default_conv == DEFAULT_CONV_TAPS[name] and backbone.name == name
