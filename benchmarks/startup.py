"""Start-up: a warm `evaluate mini` (descriptors cached) and the command line's error paths, whole processes.

    python benchmarks/startup.py [--rounds 5] [--baseline-tree DIR]

Each line is the median wall time of fresh processes, alternated round by round: a warm
`python -m course_lib evaluate mini --quiet` (all six methods cached by a first run in a scratch
COURSE_LIB_HOME holding a copy of the built mini), an argument error (`evaluate` without a dataset),
an unknown dataset, and `import course_lib`. With --baseline-tree DIR the same commands also run
against the course_lib/ of another source tree (e.g. `git archive OLD | tar -x -C DIR`) in the same
rounds. The load average is printed with the numbers: on a shared machine they move with it.
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

COMMANDS = {
    "warm evaluate mini": ["-m", "course_lib", "evaluate", "mini", "--quiet"],
    "argument error": ["-m", "course_lib", "evaluate"],
    "unknown dataset": ["-m", "course_lib", "evaluate", "no-such-dataset", "--quiet"],
    "import course_lib": ["-c", "import course_lib"],
}


def run(arguments: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], env=env, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-tree", type=Path, metavar="DIR")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()

    from course_lib.datasets import load_dataset

    mini = Path(load_dataset("mini", progress=False).images[0]).parent.parent
    trees = {"kit": None}
    if args.baseline_tree:
        trees["baseline tree"] = str(args.baseline_tree.resolve())
    times = {(tree, name): [] for tree in trees for name in COMMANDS}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        envs = {}
        for tree, pythonpath in trees.items():
            home = scratch / tree.replace(" ", "_")
            shutil.copytree(mini, home / "datasets" / mini.name)
            envs[tree] = {**os.environ, "COURSE_LIB_HOME": str(home)}
            if pythonpath:
                envs[tree]["PYTHONPATH"] = pythonpath
            run(COMMANDS["warm evaluate mini"], envs[tree], scratch)  # fills the descriptor cache
        load_before = os.getloadavg()
        for round_index in range(args.rounds):
            keys = list(times) if round_index % 2 == 0 else list(times)[::-1]
            for tree, name in keys:
                times[tree, name].append(run(COMMANDS[name], envs[tree], scratch))
        load_after = os.getloadavg()

    print(f"{os.cpu_count()} cores; load average before {' '.join(f'{v:.1f}' for v in load_before)}, "
          f"after {' '.join(f'{v:.1f}' for v in load_after)}; median of {args.rounds} alternated rounds")
    medians = {f"{name} ({tree})": statistics.median(values) for (tree, name), values in times.items()}
    for label, value in medians.items():
        print(f"  {label:40s} {value:6.2f} s")
    if args.json:
        from course_lib.files import write_json

        write_json(args.json, {"rounds": args.rounds, "load_before": load_before, "load_after": load_after,
                               "median_s": medians, "cores": os.cpu_count()})


if __name__ == "__main__":
    main()
