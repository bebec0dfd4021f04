"""A student team's project, started in one command: `python -m course_lib new-project DIR`.

It writes what a team needs on day one: a dataset folder in the kit's format (with a working
example made from `mini`, or empty to fill), a notebook that evaluates the kit's baselines on the
team's data with confidence intervals and a results grid, an experiment log that
`evaluate --log` and the notebook append to, a README that says how to add a method, a .gitignore
and a requirements.txt that pins the kit the project was started with.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .files import atomic_write

LOG_NAME = "experiments.jsonl"
KIT_REPOSITORY = "https://github.com/dl-image-search/course-kit"  # as notebooks/setup_cell.py installs it
BASELINE_METHODS = ("mac", "spoc", "gem", "rmac")
EXAMPLE_QUERIES = 4      # queries copied from mini into an example project
EXAMPLE_DISTRACTORS = 24  # database images copied that answer none of them

README = """# {name}

A retrieval project started from the course kit "Deep Learning for Image Search"
(`python -m course_lib new-project`).

## The data: `data/`
- `data/images/`: the database (subfolders allowed);
- `data/queries/`: the query images;
- `data/ground_truth.json`: for each query its positives (and optionally a query box and junk):

```json
{{"queries": [
  {{"query": "queries/q1.jpg", "bbox": [10, 20, 200, 180],
   "positives": ["images/a.jpg", "images/sub/b.jpg"], "junk": ["images/c.jpg"]}}
]}}
```

Paths are relative to `data/`; `bbox` (x1, y1, x2, y2 in pixels) and `junk` are optional;
`"easy"` and `"hard"` lists in place of `"positives"` give the revisited Easy/Medium/Hard scores.
{example_note}
Check the folder after every change (one line says what is wrong and where):

```bash
python -m course_lib check data
```

## The baselines
`baselines.ipynb` evaluates the kit's pooling methods on your data: mAP with a 95% bootstrap
confidence interval over your queries (with few queries, differences of a few points are noise),
and the ranked results of a query as pictures. From the command line:

```bash
python -m course_lib evaluate data --log {log}
```

Every run appends one line to `{log}`: date, dataset, settings, mAP and per-query AP of each
method, and what it takes to reproduce the run (the kit's version and commit, the command, a
fingerprint of the data, the seed) with a note of your own (`--note "what changed"`); the
notebook appends its runs too. So the team keeps every result it ever reported. See them:

```bash
python -m course_lib log {log} --plot runs.png
```

## The environment
`requirements.txt` pins the kit this project was started with (`pip install -r requirements.txt`
in a fresh virtual environment, or in a Colab cell); move the pin on purpose, and note it in the log.
`.gitignore` keeps caches and checkpoints out of git; `data/` and `{log}` are the team's record.

## Adding a method
A global descriptor method is a function from conv feature maps `(N, C, H, W)` to descriptors
`(N, D)`, L2-normalised. Write it in your own module, register it under a name, and every
extraction, evaluation and widget of the kit can use it:

```python
import torch
from course_lib import pooling

def max_of_squares(x: torch.Tensor) -> torch.Tensor:
    return pooling.l2n(x.clamp(min=0).pow(2).amax(dim=(-2, -1)))

pooling.POOLINGS["max-of-squares"] = max_of_squares
```

then add `"max-of-squares"` to `METHODS` in `baselines.ipynb`. Compare it with the baselines with
`course_lib.evaluation.paired_difference(yours, baseline)`: a gain is real when its interval
excludes zero.
"""

EXAMPLE_NOTE = """
This project starts with a small example made from the kit's `mini` benchmark ({queries} queries,
{images} database images): run everything once on it, then replace `data/` with your own images.
"""

GITIGNORE = """# Caches and outputs that can be made again; data/ and the experiment log are the team's record.
.ipynb_checkpoints/
__pycache__/
.venv/
.course_lib_home/
*.pt
"""

EMPTY_NOTE = """
`data/` starts empty: put your images in, write `ground_truth.json`, then run the check below.
"""


def _notebook(name: str):
    """The team's baseline notebook (nbformat 4), written without running it."""
    import nbformat

    def code(text: str):
        return nbformat.v4.new_code_cell(text.strip("\n"))

    def markdown(text: str):
        return nbformat.v4.new_markdown_cell(text.strip("\n"))

    cells = [
        markdown(f"""
# {name}: the kit's baselines on our data

Global descriptors from an ImageNet-pretrained backbone, pooled by each method, ranked with faiss and
scored by the field's protocol. Every mAP comes with a 95% bootstrap confidence interval over our
queries: two methods whose intervals overlap widely are not yet told apart.
"""),
        code("""
import course_lib
from course_lib.datasets import load_dataset
from course_lib.experiment import evaluate_descriptors, interval_table
from course_lib.features import extract_descriptors
from course_lib.models import load_backbone

env = course_lib.setup(seed=0)
print(env)
"""),
        code(f"""
DATA = "data"              # our dataset folder (see README.md)
MAX_SIDE = 512             # longer image side fed to the network
METHODS = {list(BASELINE_METHODS)!r}

dataset = load_dataset(DATA)
print(dataset.summary())
"""),
        code("""
backbone = load_backbone(device=env.device)
descriptors = extract_descriptors(dataset, backbone, methods=METHODS, max_side=MAX_SIDE)
rows = evaluate_descriptors(dataset, descriptors)
interval_table(dataset, descriptors)
"""),
        markdown("""
The best method's ranked results for the first query: green frames are positives, red negatives,
grey junk (ignored by the protocol).
"""),
        code("""
from course_lib import viz

best = max(rows, key=lambda row: row["map"])["method"]
viz.show_query(dataset, descriptors, best, query=0, k=8);
"""),
        markdown(f"""
Every run joins the team's experiment log, `{LOG_NAME}`, with what it takes to reproduce it (the kit's
commit, a fingerprint of the data, the seed) and a note: say what changed since the last run.
`python -m course_lib log {LOG_NAME}` shows all runs as a table.
"""),
        code(f"""
from course_lib.experiment import append_log, run_record

NOTE = "the kit's baselines"   # what changed since the last run
settings = {{"backbone": backbone.name, "max_side": MAX_SIDE, "scales": [1.0]}}
append_log("{LOG_NAME}", run_record(dataset, rows, settings, seed=env.seed, note=NOTE, command="baselines.ipynb"))
"""),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata.update(kernelspec={"display_name": "Python 3", "language": "python", "name": "python3"},
                             language_info={"name": "python"})
    return notebook


def _copy_example(data: Path) -> tuple[int, int]:
    """A small real dataset in the folder format: a few of mini's queries with their positives and
    junk, plus distractors. Returns (queries, database images)."""
    from .datasets import load_dataset

    mini = load_dataset("mini")
    chosen = list(range(0, mini.n_queries, max(1, mini.n_queries // EXAMPLE_QUERIES)))[:EXAMPLE_QUERIES]
    wanted: set[int] = set()
    for q in chosen:
        for key in ("easy", "hard", "junk"):
            wanted |= set(mini.gnd[q].get(key, []))
    relevant = set().union(*(set(g.get(k, [])) for g in mini.gnd for k in ("easy", "hard", "junk")))
    distractors = [i for i in range(len(mini.images)) if i not in relevant][:EXAMPLE_DISTRACTORS]
    database = sorted(wanted | set(distractors))

    def relative(path: Path) -> str:
        return Path(path).relative_to(mini.root).as_posix()

    for i in database:
        target = data / relative(mini.images[i])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mini.images[i], target)
    entries = []
    for q in chosen:
        target = data / relative(mini.queries[q])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mini.queries[q], target)
        entry = {"query": relative(mini.queries[q])}
        if mini.bboxes[q] is not None:
            entry["bbox"] = [float(v) for v in mini.bboxes[q]]
        for key in ("easy", "hard", "junk"):
            entry[key] = [relative(mini.images[i]) for i in mini.gnd[q].get(key, [])]
        entries.append(entry)
    _write_text(data / "ground_truth.json", json.dumps({"queries": entries}, indent=2) + "\n")
    return len(entries), len(database)


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))


def new_project(folder: str | Path, name: str | None = None, example: bool = True) -> Path:
    """Write a project skeleton into `folder`, which must not exist yet or be empty (nothing is
    overwritten). example: start with a small real dataset taken from `mini`."""
    folder = Path(folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder}: already exists and is not an empty folder; choose a new one")
    name = name or folder.resolve().name
    data = folder / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "queries").mkdir(exist_ok=True)
    if example:
        n_queries, n_images = _copy_example(data)
        note = EXAMPLE_NOTE.format(queries=n_queries, images=n_images)
    else:
        _write_text(data / "ground_truth.json", json.dumps({"queries": []}, indent=2) + "\n")
        note = EMPTY_NOTE
    _write_text(folder / "README.md", README.format(name=name, log=LOG_NAME, example_note=note))
    import nbformat

    _write_text(folder / "baselines.ipynb", nbformat.writes(_notebook(name)) + "\n")
    _write_text(folder / ".gitignore", GITIGNORE)
    _write_text(folder / "requirements.txt", _requirements())
    (folder / LOG_NAME).touch()
    return folder


def _requirements() -> str:
    """The project's environment: the kit at the commit that started the project (so a result can be
    reproduced with the code that made it), or at its newest commit with a line saying to pin it."""
    from .experiment import kit_provenance

    kit = kit_provenance()
    if kit["commit"] == "unknown":
        pin = (f"# course_lib {kit['version']}: its commit is unknown here; pin one with @<commit or tag>\n"
               f"course_lib @ git+{KIT_REPOSITORY}\n")
    else:
        pin = (f"# course_lib {kit['version']}, the commit this project was started with\n"
               f"course_lib @ git+{KIT_REPOSITORY}@{kit['commit']}\n")
    return pin + "jupyter\n"
