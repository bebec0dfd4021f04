"""Extraction throughput: course_lib's batched extraction against a plain per-image loop.

    python benchmarks/extract.py [--dataset mini] [--image-size 512] [--repeats 3] [--device cpu]

Both paths see the same images, the same backbone and the same pooling (GeM on the last
conv map), in one process; the script checks that they give the same descriptors and
prints images/s for each and the ratio. The baseline is what a first attempt looks like:
open each image with PIL, resize it with torchvision, run the network on a batch of one.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from PIL import Image
from torchvision.transforms import functional as TF

from course_lib import config
from course_lib.datasets import load_dataset
from course_lib.features import describe_images
from course_lib.images import shrunk_size
from course_lib.models import load_backbone
from course_lib.pooling import gem


@torch.no_grad()
def plain_loop(paths, backbone, image_size, device):
    out = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        w, h = shrunk_size(img.width, img.height, image_size)
        x = TF.to_tensor(TF.resize(img, [h, w], antialias=True)).unsqueeze(0).to(device)
        out.append(torch.nn.functional.normalize(gem(backbone(x)[backbone.default_conv]), dim=1).cpu())
    return torch.cat(out)


def course_lib_extract(paths, backbone, image_size, device, batch_size=16):
    return torch.from_numpy(describe_images(paths, backbone, ["gem"], max_side=image_size, device=device,
                                            batch_size=batch_size, progress=False)["gem"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mini")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N database images")
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[16],
                        help="course_lib batch sizes to time (images of equal shape share a batch)")
    args = parser.parse_args()

    device = config.get_device(args.device)
    dataset = load_dataset(args.dataset)
    paths = dataset.images[: args.limit]
    backbone = load_backbone(device=device)

    # Warm-up (first-call allocations, cuDNN autotuning) and an equality check.
    a = plain_loop(paths[:8], backbone, args.image_size, device)
    b = course_lib_extract(paths[:8], backbone, args.image_size, device)
    max_diff = (a - b).abs().max().item()

    runs = {"plain per-image loop": plain_loop}
    for bs in args.batch_size:
        runs[f"course_lib, batch {bs}"] = lambda *a, bs=bs: course_lib_extract(*a, batch_size=bs)
    timings = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn(paths, backbone, args.image_size, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            timings[name].append(time.perf_counter() - start)

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {device} {gpu} | torch {torch.__version__}")
    print(f"{len(paths)} images of {dataset.name}, longer side {args.image_size}, backbone {backbone.name}, "
          f"median of {args.repeats} runs")
    rates = {}
    for name, ts in timings.items():
        rates[name] = len(paths) / statistics.median(ts)
        print(f"  {name:24s} {rates[name]:7.1f} images/s")
    base = rates["plain per-image loop"]
    for name, rate in rates.items():
        if name != "plain per-image loop":
            print(f"  ratio {name} / plain: {rate / base:.2f}x")
    print(f"  largest descriptor difference between the two paths: {max_diff:.1e}")


if __name__ == "__main__":
    main()
