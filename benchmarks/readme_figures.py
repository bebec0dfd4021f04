"""Regenerate the README's performance figures from the benchmark scripts, never by hand.

    python benchmarks/readme_figures.py [--rounds 3] [--repeats 3] [--limit N] [--baseline-tree DIR]

Runs benchmarks/end_to_end.py, benchmarks/startup.py, benchmarks/extract.py and
benchmarks/regional_pooling.py (each a fresh process, with --json) and rewrites the block of README.md between the two markers below with their numbers,
the commands that produced them, the machine and its load. Run it again whenever the code changes.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- performance figures: start (benchmarks/readme_figures.py) -->", "<!-- performance figures: end -->"


def run_benchmark(script: str, arguments: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        subprocess.run([sys.executable, str(HERE / script), *arguments, "--json", str(out)], check=True)
        return json.loads(out.read_text(encoding="utf-8"))


def load_text(load: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in load)


def block(end_to_end: dict, startup: dict, extract: dict, regional: dict, commands: dict[str, str]) -> str:
    kit, plain = end_to_end["median_s"]["kit"], end_to_end["median_s"]["plain"]
    lines = [
        START,
        f"Measured {datetime.date.today().isoformat()} on {extract['machine']}, {end_to_end['cores']} cores "
        f"({platform.python_implementation()} {platform.python_version()}). Load average (1/5/15 min) is "
        f"given with each run: the machine was shared, so prefer the ratios, which compare runs "
        f"alternated in the same session. GPU: not measured here (run `python benchmarks/extract.py "
        f"--device cuda --batch-size 1 16 64` on one and add its table).{commands['baseline']}",
        "",
        f"**End to end** (`{commands['end_to_end']}`; load {load_text(end_to_end['load_before'])} before, "
        f"{load_text(end_to_end['load_after'])} after): a cold `python -m course_lib evaluate mini "
        f"--pooling gem` (mini built, no descriptors cached) against an independent plain script that "
        f"decodes the same images and runs the same network one image at a time with GeM "
        f"(benchmarks/plain_gem_script.py), whole processes, median of {end_to_end['rounds']}:",
        "",
        "| run | median wall time | plain script / run |",
        "|---|---|---|",
        f"| plain script | {plain:.1f} s | 1.00x |",
    ]
    for side, ratio in end_to_end["ratio_plain_to"].items():
        lines.append(f"| {side} | {end_to_end['median_s'][side]:.1f} s | {ratio:.2f}x |")
    lines += [
        "",
        f"The kit also ranks with faiss and scores every query; its GeM descriptors equal the plain "
        f"script's to {end_to_end['max_difference']:.0e}. Kit / plain: {plain / kit:.2f}x.",
        "",
        f"**Start-up** (`{commands['startup']}`; load {load_text(startup['load_before'])} before, "
        f"{load_text(startup['load_after'])} after), median of {startup['rounds']} fresh processes:",
        "",
        "| command | median wall time |",
        "|---|---|",
    ]
    lines += [f"| {label} | {value:.2f} s |" for label, value in startup["median_s"].items()]
    lines += [
        "",
        f"**Extraction** (`{commands['extract']}`; {extract['images']} images of {extract['dataset']}, longer "
        f"side {extract['image_size']}, fastest of {extract['repeats']} alternated runs; load "
        f"{load_text(extract['load_before'])} before, {load_text(extract['load_after'])} after):",
        "",
        "| path | images/s | / plain loop | largest descriptor difference to the plain loop |",
        "|---|---|---|---|",
    ]
    for name, rate in extract["images_per_s"].items():
        lines.append(f"| {name} | {rate:.1f} | {extract['ratio_to_plain'][name]:.2f}x | "
                     f"{extract['max_difference_to_plain'][name]:.0e} |")
    lines += [
        "",
        f"All six poolings from one forward pass run at {extract['six_poolings_to_gem']:.2f} of GeM alone's "
        f"images/s ({extract['six_poolings_pooled_alone_to_gem']:.2f} when each image's maps are pooled alone, "
        f"not with the other maps of their shape).",
        "",
        f"**Regional pooling** (`{commands['regional']}`; {regional['machine']}, load "
        f"{load_text(regional['load_before'])} before, {load_text(regional['load_after'])} after; fastest of "
        f"{regional['repeats']}): approximate max-pooling of boxes through integral images of x^alpha "
        f"(alpha = {regional['alpha']:g}, building the tables included, as a new image pays it) against the "
        f"exact maximum of each box pooled directly, on ReLU-like maps:",
        "",
        "| map (C x H x W) | boxes | direct | integral images | speed-up | largest relative error | "
        "largest 1 - cosine |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in regional["maps"]:
        for row in entry["boxes"]:
            lines.append(f"| {entry['map']} | {row['boxes']} | {row['direct_ms']:.1f} ms | "
                         f"{row['integral_ms']:.1f} ms | {row['speed_up']:.1f}x | {row['relative_error_max']:.2f} | "
                         f"{row['one_minus_cosine_max']:.0e} |")
    lines += [
        "",
        "The `rmac-integral` descriptor needs the sums of only its grid's regions; `pooling.rmac_integral` "
        "takes them from one matrix product instead of building tables (the last map is the size extraction "
        "meets on mini; on it some regions are too weak for the tables, which return them as 0, while the "
        "product gives their value: hence its larger difference):",
        "",
        "| map (C x H x W) | regions | integral tables | one matrix product | speed-up | largest difference |",
        "|---|---|---|---|---|---|",
    ]
    for entry in regional["maps"]:
        row = entry["grid_routes"]
        lines.append(f"| {entry['map']} | {row['regions']} | {row['tables_ms']:.2f} ms | {row['product_ms']:.2f} ms "
                     f"| {row['speed_up']:.1f}x | {row['max_difference']:.0e} |")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the whole-process benchmarks")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of benchmarks/extract.py")
    parser.add_argument("--limit", type=int, help="images for benchmarks/extract.py (default: all of mini)")
    parser.add_argument("--baseline-tree", type=Path, metavar="DIR",
                        help="also run the kit of another source tree in the whole-process benchmarks")
    parser.add_argument("--baseline-label", default="an earlier version",
                        help="what the baseline tree is, for the README (e.g. 'commit d3a3e3a')")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    if text.count(START) != 1 or text.count(END) != 1:
        sys.exit(f"README.md: expected one {START!r} and one {END!r} marker")

    baseline = ["--baseline-tree", str(args.baseline_tree)] if args.baseline_tree else []
    shown = " --baseline-tree DIR" if args.baseline_tree else ""
    extract_args = ["--repeats", str(args.repeats), "--device", "cpu"]
    extract_args += ["--limit", str(args.limit)] if args.limit else []
    commands = {
        "end_to_end": f"python benchmarks/end_to_end.py --rounds {args.rounds}{shown}",
        "startup": f"python benchmarks/startup.py --rounds {args.rounds}{shown}",
        "baseline": f" DIR (the \"baseline tree\" rows) holds {args.baseline_label}." if args.baseline_tree else "",
        "extract": "python benchmarks/extract.py " + " ".join(extract_args),
        "regional": "python benchmarks/regional_pooling.py",
    }
    end_to_end = run_benchmark("end_to_end.py", ["--rounds", str(args.rounds), *baseline])
    startup = run_benchmark("startup.py", ["--rounds", str(args.rounds), *baseline])
    extract = run_benchmark("extract.py", extract_args)
    regional = run_benchmark("regional_pooling.py", [])

    head, rest = text.split(START)
    _, tail = rest.split(END)
    from course_lib.files import atomic_write

    with atomic_write(README) as file:
        figures = block(end_to_end, startup, extract, regional, commands)
        file.write((head + figures + tail).encode("utf-8"))
    print(f"README.md: performance figures rewritten ({len(figures)} characters)")


if __name__ == "__main__":
    main()
