"""Extraction throughput: course_lib's extraction against a plain per-image loop, and the cost of pooling.

    python benchmarks/extract.py [--dataset mini] [--image-size 512] [--repeats 3] [--device cpu]
    python benchmarks/extract.py --device cuda --batch-size 1 16 64 [--amp]

All paths see the same images and the same backbone, in one process, alternated repeat by repeat:
  plain per-image loop        what a first attempt looks like: PIL, torchvision's to_tensor and resize,
                              the network on a batch of one in the default memory layout, GeM;
  course_lib, batch B         describe_images (channels-last, an inference copy of the network, shape-bucketed
                              batches, pinned memory and DataLoader workers on a GPU), GeM only;
  course_lib, six poolings    the same with all six pooling methods from one forward pass (maps of one shape
                              wait and are pooled together, features.POOL_GROUP_IMAGES at a time);
  ..., each map pooled alone  the same, every image's maps pooled as soon as they leave the network: the
                              gain of pooling in groups alone;
  course_lib, default layout  the first course_lib line with the backbone in the default layout: the
                              gain of channels-last alone;
  course_lib, network as      the first course_lib line on the network as loaded, not its inference copy
  loaded                      (models.inference.inference_copy: batch norms folded, ReLU6 in place, padding
                              inside the convolutions): that copy's gain.
It prints images/s, ratios against the plain loop and six poolings against GeM alone, the largest
descriptor difference between the paths, and the load average (the numbers of a shared machine move).
--json FILE also writes everything as JSON (benchmarks/readme_figures.py reads it).
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from course_lib import config, features
from regional_pooling import cpu_name  # a sibling script: `python benchmarks/extract.py` puts benchmarks/ first on sys.path
from course_lib.datasets import load_dataset
from course_lib.features import describe_images
from course_lib.files import write_json
from course_lib.images import shrunk_size
from course_lib.models import load_backbone
from course_lib.pooling import POOLINGS, gem
from course_lib.timing import fastest_seconds_each

PLAIN = "plain per-image loop"


@torch.no_grad()
def plain_loop(paths, backbone, image_size, device):
    out = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        w, h = shrunk_size(img.width, img.height, image_size)
        x = TF.to_tensor(TF.resize(img, [h, w], antialias=True)).unsqueeze(0).to(device)
        out.append(torch.nn.functional.normalize(gem(backbone(x)[backbone.default_conv]), dim=1).cpu())
    return torch.cat(out).numpy()


def course_lib_extract(paths, backbone, image_size, device, batch_size, methods=("gem",), amp=False,
                       channels_last=True, inference_copy=True):
    return describe_images(paths, backbone, list(methods), max_side=image_size, device=device,
                           batch_size=batch_size, progress=False, amp=amp, channels_last=channels_last,
                           inference_copy=inference_copy)["gem"]


def pooled_alone(paths, backbone, image_size, device, batch_size, methods):
    saved, features.POOL_GROUP_IMAGES = features.POOL_GROUP_IMAGES, 1
    try:
        return course_lib_extract(paths, backbone, image_size, device, batch_size, methods=methods)
    finally:
        features.POOL_GROUP_IMAGES = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mini")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N database images")
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, nargs="+", default=None,
                        help="course_lib batch sizes to time (default: 1 on a CPU, 16 on a GPU)")
    parser.add_argument("--amp", action="store_true", help="also time course_lib in mixed precision")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()

    device = config.get_device(args.device)
    batch_sizes = args.batch_size or [1 if device.type == "cpu" else 16]
    dataset = load_dataset(args.dataset, progress=False)
    paths = dataset.images[: args.limit]
    backbone = load_backbone(device=device)
    first = batch_sizes[0]

    runs = {PLAIN: plain_loop}
    for bs in batch_sizes:
        runs[f"course_lib, batch {bs}"] = lambda p, b, s, d, bs=bs: course_lib_extract(p, b, s, d, bs)
    runs[f"course_lib, batch {first}, six poolings"] = \
        lambda p, b, s, d: course_lib_extract(p, b, s, d, first, methods=POOLINGS)
    runs[f"course_lib, batch {first}, six poolings, each map pooled alone"] = \
        lambda p, b, s, d: pooled_alone(p, b, s, d, first, POOLINGS)
    runs[f"course_lib, batch {first}, default layout"] = \
        lambda p, b, s, d: course_lib_extract(p, b, s, d, first, channels_last=False)
    runs[f"course_lib, batch {first}, network as loaded"] = \
        lambda p, b, s, d: course_lib_extract(p, b, s, d, first, inference_copy=False)
    if args.amp:
        runs[f"course_lib, batch {first}, mixed precision"] = \
            lambda p, b, s, d: course_lib_extract(p, b, s, d, first, amp=True)

    # Warm-up (first-call allocations, cuDNN autotuning) and the agreement of every path with the plain loop.
    reference = plain_loop(paths[:8], backbone, args.image_size, device)
    differences = {name: float(np.abs(fn(paths[:8], backbone, args.image_size, device) - reference).max())
                   for name, fn in runs.items()}

    def finished(fn):
        """One run on all images; on a GPU it returns once the GPU is done, so each run starts on an idle one."""
        def run():
            fn(paths, backbone, args.image_size, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return run

    load_before = os.getloadavg()
    seconds = fastest_seconds_each({name: finished(fn) for name, fn in runs.items()}, args.repeats)
    load_after = os.getloadavg()

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    machine = (f"{gpu or cpu_name()}, {torch.get_num_threads()} threads, device {device}, "
               f"torch {torch.__version__.split('+')[0]}")
    rates = {name: len(paths) / value for name, value in seconds.items()}
    six = rates[f"course_lib, batch {first}, six poolings"] / rates[f"course_lib, batch {first}"]
    six_alone = (rates[f"course_lib, batch {first}, six poolings, each map pooled alone"]
                 / rates[f"course_lib, batch {first}"])
    results = {
        "machine": machine, "images": len(paths), "dataset": dataset.name, "image_size": args.image_size,
        "repeats": args.repeats, "load_before": load_before, "load_after": load_after,
        "images_per_s": rates, "ratio_to_plain": {n: r / rates[PLAIN] for n, r in rates.items()},
        "six_poolings_to_gem": six, "six_poolings_pooled_alone_to_gem": six_alone,
        "max_difference_to_plain": differences,
    }
    print(f"machine: {machine}")
    print(f"{len(paths)} images of {dataset.name}, longer side {args.image_size}, backbone {backbone.name}, "
          f"fastest of {args.repeats} alternated runs; load average before "
          f"{' '.join(f'{v:.1f}' for v in load_before)}, after {' '.join(f'{v:.1f}' for v in load_after)}")
    for name, rate in rates.items():
        print(f"  {name:40s} {rate:7.1f} images/s  {rate / rates[PLAIN]:5.2f}x plain   "
              f"max |difference| to plain {differences[name]:.1e}")
    print(f"  six poolings / GeM alone: {six:.3f} of GeM's images/s ({six_alone:.3f} with each map pooled alone)")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
