"""What a student waits for: the kit's cold `evaluate mini --pooling gem` against a plain script, whole processes.

    python benchmarks/end_to_end.py [--rounds 5]

Each round runs, in alternating order, two fresh processes on the same built `mini`:
  kit    python -m course_lib evaluate mini --pooling gem --quiet  (descriptors not cached: a fresh
         COURSE_LIB_HOME holding only a copy of the built mini), which extracts, ranks with faiss and
         prints the retrieval table;
  plain  benchmarks/plain_gem_script.py: Pillow decode, the same pretrained EfficientNet-Lite0 one
         image at a time, GeM; it neither ranks nor evaluates.
Both wall times include interpreter start and imports. The script prints the median of each, the
ratio plain / kit (above 1: the kit is faster), the load average before and after, and the largest
difference between the two sides' GeM descriptors (they must compute the same thing).
With --baseline-tree DIR (e.g. an export made by `git archive OLD | tar -x -C DIR`) the kit of that
source tree runs as a third side in the same rounds, so a change is measured before and after at once.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PLAIN_SCRIPT = Path(__file__).resolve().parent / "plain_gem_script.py"


def built_mini() -> Path:
    """The folder of the built mini benchmark (built now if it is not yet)."""
    from course_lib.datasets import load_dataset

    return Path(load_dataset("mini", progress=False).images[0]).parent.parent


def fresh_home(mini: Path, parent: Path) -> Path:
    """A new COURSE_LIB_HOME holding only a copy of the built mini: nothing cached."""
    home = Path(tempfile.mkdtemp(dir=parent))
    shutil.copytree(mini, home / "datasets" / mini.name)
    return home


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    # cwd outside the repository: `python -m` puts it first on sys.path, before PYTHONPATH
    done = subprocess.run(command, check=False, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def kit_descriptors(home: Path) -> np.ndarray:
    """The GeM database and query descriptors that the kit's run cached under `home`."""
    (entry,) = (home / "descriptors").rglob("*.npz")
    with np.load(entry) as z:
        return z["db"], z["queries"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds (median reported)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--baseline-tree", type=Path, metavar="DIR",
                        help="also time the kit of another source tree (its course_lib/ is imported instead)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")

    mini = built_mini()
    times: dict[str, list[float]] = {"kit": [], "plain": []}
    if args.baseline_tree:
        if not (args.baseline_tree / "course_lib" / "__init__.py").is_file():
            parser.error(f"--baseline-tree {args.baseline_tree}: no course_lib/ package there")
        times["kit (baseline tree)"] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for round_index in range(args.rounds):
            order = list(times) if round_index % 2 == 0 else list(times)[::-1]
            for side in order:
                home = fresh_home(mini, scratch)
                env = {**os.environ, "COURSE_LIB_HOME": str(home)}
                if side == "kit (baseline tree)":
                    env["PYTHONPATH"] = str(args.baseline_tree.resolve())
                if side.startswith("kit"):
                    command = [sys.executable, "-m", "course_lib", "evaluate", "mini", "--pooling", "gem", "--quiet"]
                else:
                    command = [sys.executable, str(PLAIN_SCRIPT), str(home / "datasets" / mini.name),
                               str(home / "plain.npz")]
                times[side].append(timed(command, env, home))
                if round_index == 0:
                    if side == "kit":
                        kit_db, kit_queries = kit_descriptors(home)
                    elif side == "plain":
                        with np.load(home / "plain.npz") as z:
                            plain_db, plain_queries = z["db"], z["queries"]
                shutil.rmtree(home)
    load_after = os.getloadavg()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; load average (1/5/15 min) "
          f"before {' '.join(f'{v:.2f}' for v in load_before)}, after {' '.join(f'{v:.2f}' for v in load_after)}")
    print(f"cold `evaluate mini --pooling gem` (fresh cache, mini built) vs plain script, "
          f"{args.rounds} alternated rounds, whole processes")
    for side, values in times.items():
        print(f"  {side:20s} median {statistics.median(values):6.2f} s  (runs: "
              f"{', '.join(f'{v:.2f}' for v in values)})")
    ratios = {side: statistics.median(times["plain"]) / statistics.median(values)
              for side, values in times.items() if side != "plain"}
    for side, ratio in ratios.items():
        print(f"  ratio plain / {side}: {ratio:.2f}x (above 1: the kit is faster)")
    difference = max(np.abs(kit_db - plain_db).max(), np.abs(kit_queries - plain_queries).max())
    print(f"  largest GeM descriptor difference, kit vs plain: {difference:.1e}")
    if args.json:
        from course_lib.files import write_json

        write_json(args.json, {"rounds": args.rounds, "load_before": load_before, "load_after": load_after,
                               "seconds": times, "median_s": {k: statistics.median(v) for k, v in times.items()},
                               "ratio_plain_to": ratios,
                               "max_difference": float(difference), "cores": os.cpu_count()})


if __name__ == "__main__":
    main()
