"""Execute course notebooks top to bottom and store them with clean outputs.

    python notebooks/execute.py                       # every notebook, outputs committed in place
    python notebooks/execute.py notebooks/00_start_here.ipynb
    python notebooks/execute.py --device cuda --out build/executed-cuda   # as Colab would, on a GPU
    python notebooks/execute.py --strip-solutions     # clear solution outputs in place, nothing executed

With --device, every notebook runs top to bottom on that device (cpu hides the GPU from the kernel;
cuda needs one), the executed copies go into --out (never over the committed notebooks) and
--out/timings.csv gets one row per notebook: seconds, status, the device by name.

Outputs are committed so that students can read the notebooks on the web. This script
removes execution noise (progress bars, widget state that cannot render statically) and
records a hash of each code cell's source, so `tests/test_notebooks.py` can tell when a
cell was edited after the outputs were made (stale outputs). Executed in place, each notebook's first
cell becomes notebooks/setup_cell.py with COURSE_REF set to the commit the kit was run at (HEAD, which
must hold the kit as it is: commit the library first, then execute), so on Colab the setup cell installs
the code the outputs came from. The cells that call show_solution
keep no output: the reference solutions stay out of GitHub, Colab and the site (the check
cells keep theirs; `release` makes the instructor copies that show the references).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
SETUP_CELL = NOTEBOOKS / "setup_cell.py"
COURSE_REF_LINE = re.compile(r'^COURSE_REF = "[^"]*"$', re.MULTILINE)
SOURCE_HASH_KEY = "course_lib_source_sha256"
PROGRESS_BAR = re.compile(r"\d+%\|.*\|")


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def is_noise(output) -> bool:
    """Progress bars (tqdm in text or as a widget) are noise in a committed notebook."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return "\r" in output.get("text", "") or bool(PROGRESS_BAR.search(output.get("text", "")))
    if output.get("output_type") == "display_data":
        text = output.get("data", {}).get("text/plain", "")
        return "application/vnd.jupyter.widget-view+json" in output.get("data", {}) and (
            PROGRESS_BAR.search(text) is not None or text.startswith("HBox(children=(HTML(value="))
    return False


WIDGET_NOTE = "[interactive widget: run the notebook in Jupyter or Colab to use it]"


def static_widget(output):
    """Widget views carry random model ids and render nowhere without a kernel: keep a note."""
    data = output.get("data", {})
    if output.get("output_type") in ("display_data", "execute_result") and \
            "application/vnd.jupyter.widget-view+json" in data:
        return nbformat.v4.new_output("display_data", data={"text/plain": WIDGET_NOTE})
    return output


def clear_solution_outputs(nb) -> int:
    """Clear the outputs of every cell that calls show_solution, in any form (course_lib.release recognises
    them); the execution counts stay, so the notebook still reads as run top to bottom. Returns how many."""
    from course_lib.release import solution_calls

    cells = solution_calls(nb)
    for i in cells:
        nb.cells[i].outputs = []
    return len(cells)


def clean(nb) -> None:
    clear_solution_outputs(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [static_widget(o) for o in cell.outputs if not is_noise(o)]
        cell.metadata[SOURCE_HASH_KEY] = source_hash(cell.source)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)


def setup_cell(ref: str) -> str:
    """notebooks/setup_cell.py with COURSE_REF set to `ref`: the first cell of every executed notebook."""
    return COURSE_REF_LINE.sub(f'COURSE_REF = "{ref}"', SETUP_CELL.read_text().strip())


def kit_sources(root: Path) -> list[str]:
    """What `pip install git+...@REF` builds the kit from: the package, its build file, and the repository
    files that course_lib/course_files links to (git follows no links, so they are named themselves)."""
    links = [p for p in (root / "course_lib" / "course_files").rglob("*") if p.is_symlink()]
    return ["course_lib", "pyproject.toml"] + sorted(str(p.resolve().relative_to(root.resolve())) for p in links)


def kit_commit(root: Path) -> str:
    """HEAD of the repository at `root`, provided it holds the kit exactly as it is in the working tree."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout

    changed = git("status", "--porcelain", "--", *kit_sources(root)).splitlines()
    if changed:
        raise SystemExit(f"error: the kit has uncommitted changes ({changed[0].strip()}, ...): commit them first, "
                         "so that the setup cell can pin the commit the outputs come from")
    return git("rev-parse", "HEAD").strip()


def run(nb, folder: Path, env: dict[str, str] | None = None, timeout: int = 1200) -> None:
    """Execute `nb` top to bottom in a fresh python3 kernel working in `folder`, with the environment
    variables `env` (default: this process's); raise at the first error."""
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
                   ).execute(env=dict(os.environ) if env is None else env)


def execute(path: Path, ref: str) -> float:
    """Execute the notebook at `path` in place, its setup cell pinned to the kit's commit `ref`."""
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = setup_cell(ref)
    start = time.perf_counter()
    run(nb, path.parent)
    clean(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - start


TIMING_COLUMNS = ["notebook", "device", "device_name", "seconds", "status", "torch", "date"]


def device_name(device: str) -> str:
    """The hardware by name, for the timing table: the GPU's model, or the CPU's core count."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{os.cpu_count()}-core CPU ({platform.machine()})"


def kernel_environment(device: str) -> dict[str, str]:
    """The kernel's environment: on cpu the GPU is hidden, so `course_lib.setup()` picks the CPU."""
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def execute_copy(path: Path, out: Path, device: str, timeout: int = 3600) -> dict[str, str]:
    """Run `path` top to bottom with `device`; write the executed copy into `out`; one timing row."""
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    status = "ok"
    try:
        run(nb, NOTEBOOKS, kernel_environment(device), timeout)
    except CellExecutionError as exc:  # keep going: the table says which notebook failed, and where
        status = "error: " + " ".join(str(exc).strip().splitlines()[-1:])[:200]
    seconds = time.perf_counter() - start
    clean(nb)
    nbformat.write(nb, out / path.name)
    import torch

    return {"notebook": path.name, "device": device, "device_name": device_name(device), "seconds": f"{seconds:.0f}",
            "status": status, "torch": torch.__version__.split("+")[0],
            "date": datetime.date.today().isoformat()}


def write_timings(rows: list[dict[str, str]], target: Path) -> None:
    from course_lib.files import atomic_write

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=TIMING_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(target) as f:
        f.write(text.getvalue().encode())


def check_device(device: str) -> None:
    if device not in ("cpu", "cuda") and not re.fullmatch(r"cuda:\d+", device):
        raise SystemExit(f"error: --device {device!r}: use cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"error: --device {device}: torch sees no GPU on this machine")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all, in order)")
    parser.add_argument("--device", help="run every notebook on this device (cpu, cuda, cuda:N) into --out, "
                                         "with a timing table; without it, outputs are committed in place")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for the executed copies and timings.csv (default build/executed-DEVICE)")
    parser.add_argument("--strip-solutions", action="store_true",
                        help="clear the outputs of the show_solution cells in place, without executing anything")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"error: no such notebook: {missing[0]}")
    if args.strip_solutions:
        if args.device is not None or args.out is not None:
            raise SystemExit("error: --strip-solutions executes nothing: it takes no --device or --out")
        for p in paths:
            nb = nbformat.read(p, as_version=4)
            print(f"{p.name}: cleared the outputs of {clear_solution_outputs(nb)} solution cells")
            nbformat.write(nb, p)
        return 0
    if args.device is None:
        if args.out is not None:
            raise SystemExit("error: --out goes with --device (without it, notebooks are executed in place)")
        ref = kit_commit(NOTEBOOKS.parent)
        for p in paths:
            print(f"{p.name}: executed in {execute(p, ref):.0f} s")
        return 0
    check_device(args.device)
    out = args.out or NOTEBOOKS.parent / "build" / f"executed-{args.device.replace(':', '-')}"
    if out.resolve() in {p.resolve().parent for p in paths}:
        raise SystemExit(f"error: --out {out}: that is where the notebooks are; the committed ones are never replaced")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in paths:
        rows.append(execute_copy(p, out, args.device))
        print(f"{p.name}: {rows[-1]['seconds']} s on {rows[-1]['device_name']}: {rows[-1]['status']}", flush=True)
        write_timings(rows, out / "timings.csv")  # after each notebook: a long run that stops keeps its rows
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
