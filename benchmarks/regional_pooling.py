"""Regional max-pooling: integral images (approximate) against pooling each region directly.

On the same feature maps, in one run, for the R-MAC grid and for random boxes, this prints the
time of each path (the fastest of repeats, course_lib.timing), the speed ratio, and how far the approximation
(sum over the box of x^alpha)^(1/alpha) is from the true maximum. The integral path's time
includes building the integral images, so it is what a notebook pays for one new image.
Then, for the whole rmac-integral descriptor of the grid: `pooling.rmac_integral` (every region's
sum in one matrix product) against the same descriptor through integral tables, on the maps above
and on one of the size that extraction meets on mini (--small-map).

    python benchmarks/regional_pooling.py [--json FILE]
    python benchmarks/regional_pooling.py --maps 512x30x40 --boxes 300 --repeats 11
"""
from __future__ import annotations

import argparse
import os
import platform

import torch
import torch.nn.functional as F

from course_lib.files import write_json
from course_lib.pooling import l2n, rmac_integral, rmac_regions
from course_lib.regions import direct_box_max, integral_box_max, random_boxes, time_regional_max
from course_lib.timing import fastest_seconds_each


def cpu_name() -> str:
    """The processor's model name where Linux tells it, else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_map_size(text: str) -> tuple[int, int, int]:
    """'1280x32x24' -> (C, H, W)."""
    try:
        channels, height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"map size must look like CxHxW, e.g. 1280x32x24; got {text!r}")
    if min(channels, height, width) < 1:
        raise argparse.ArgumentTypeError(f"map size {text!r}: C, H and W must be >= 1")
    return channels, height, width


def relu_like_maps(channels: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A (1, C, H, W) map that looks like a last conv layer: spatially smooth, about half zeros."""
    noise = torch.randn((1, channels, height, width), generator=generator)
    smooth = F.avg_pool2d(noise, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    return torch.relu(smooth)


def compare(label: str, maps: torch.Tensor, boxes: torch.Tensor, alpha: float, repeats: int) -> dict:
    box_list = [tuple(box) for box in boxes.tolist()]
    ms = time_regional_max(maps, boxes, alpha, repeats)
    direct_ms, build_ms, integral_ms = ms["direct"], ms["build"], ms["integral"]

    exact = direct_box_max(maps, box_list).double()
    approx = integral_box_max(maps, boxes, alpha)
    relative_error = (approx - exact).norm(dim=-1) / exact.norm(dim=-1).clamp(min=1e-12)
    cosine = F.cosine_similarity(approx, exact, dim=-1)
    error_vs_map_max = (approx - exact).abs().max() / maps.max()

    print(f"  {label:<22} direct {direct_ms:8.2f} ms | integral {integral_ms:7.2f} ms "
          f"(build {build_ms:5.2f}) | speed-up {direct_ms / integral_ms:5.1f}x | "
          f"rel. error max {relative_error.max():.3f} median {relative_error.median():.3f} | "
          f"1 - cos max {(1 - cosine).max():.1e} | abs. error / map max {error_vs_map_max:.3f}")
    return {"boxes": label, "direct_ms": direct_ms, "integral_ms": integral_ms, "build_ms": build_ms,
            "speed_up": direct_ms / integral_ms, "relative_error_max": float(relative_error.max()),
            "one_minus_cosine_max": float((1 - cosine).max())}


def compare_grid_routes(maps: torch.Tensor, L: int, alpha: float, repeats: int) -> dict:
    """The rmac-integral descriptor two ways: integral tables, and `rmac_integral`'s one matrix product."""
    grid = rmac_regions(maps.shape[-2], maps.shape[-1], L)
    runs = {"tables": lambda: l2n(l2n(integral_box_max(maps, grid, alpha)).sum(dim=1)).float(),
            "product": lambda: rmac_integral(maps, L, alpha)}
    ms = {name: 1000 * seconds for name, seconds in fastest_seconds_each(runs, repeats).items()}
    difference = float((runs["tables"]() - runs["product"]()).abs().max())
    print(f"  rmac-integral descriptor, {len(grid)} regions: integral tables {ms['tables']:6.2f} ms | "
          f"one matrix product {ms['product']:6.2f} ms | speed-up {ms['tables'] / ms['product']:4.1f}x | "
          f"max |difference| {difference:.0e}")
    return {"regions": len(grid), "tables_ms": ms["tables"], "product_ms": ms["product"],
            "speed_up": ms["tables"] / ms["product"], "max_difference": difference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=parse_map_size, nargs="+",
                        default=[(1280, 32, 24), (512, 30, 40)], metavar="CxHxW",
                        help="feature map sizes (default: 1280x32x24 512x30x40, EfficientNet-Lite0 "
                             "and VGG16 last conv layers on a ~1000-pixel image)")
    parser.add_argument("--boxes", type=int, nargs="+", default=[300, 1000, 3000], help="random box counts")
    parser.add_argument("--L", type=int, default=3, help="R-MAC scales")
    parser.add_argument("--alpha", type=float, default=10.0, help="generalised-mean exponent")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per measurement (the fastest counts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--small-map", type=parse_map_size, default=(1280, 10, 8), metavar="CxHxW",
                        help="also compare the rmac-integral routes on a map this size (default 1280x10x8, "
                             "a 320 x 256 image of mini through EfficientNet-Lite0)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.repeats < 1 or min(args.boxes) < 1:
        parser.error("--repeats and --boxes must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    machine = (f"{cpu_name()}, {torch.get_num_threads()} threads, "
               f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} usable cores")
    print(f"torch {torch.__version__.split('+')[0]}, {machine}; alpha = {args.alpha:g}, "
          f"fastest of {args.repeats} repeats; integral time includes building the tables")
    print("rel. error: |approx - max| / |max| per box vector (sum version overestimates, "
          "<= area^(1/alpha)); 1 - cos: after L2 normalisation, as R-MAC uses it")
    load_before = os.getloadavg()
    generator = torch.Generator().manual_seed(args.seed)
    results = {"machine": machine, "alpha": args.alpha, "repeats": args.repeats, "maps": []}
    for channels, height, width in [*args.maps, args.small_map]:
        maps = relu_like_maps(channels, height, width, generator)
        print(f"map {channels} x {height} x {width} (zeros: {(maps == 0).float().mean():.0%})")
        entry = {"map": f"{channels} x {height} x {width}", "boxes": []}
        if (channels, height, width) in args.maps:
            regions = torch.tensor(rmac_regions(height, width, args.L))
            entry["boxes"].append(compare(f"R-MAC grid ({len(regions)} regions)", maps, regions, args.alpha,
                                          args.repeats))
            for count in args.boxes:
                boxes = random_boxes(count, height, width, generator)
                entry["boxes"].append(compare(f"{count} random boxes", maps, boxes, args.alpha, args.repeats))
        entry["grid_routes"] = compare_grid_routes(maps, args.L, args.alpha, args.repeats)
        results["maps"].append(entry)
    results["load_before"], results["load_after"] = load_before, os.getloadavg()
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
