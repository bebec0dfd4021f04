"""Post-processing steps chained into a pipeline, written as one string such as "aqe:k=2,dba:k=2,diffusion".

Syntax: steps separated by commas, each `method` or `method:param=value`; more parameters follow with `:`
or `,` (`diffusion:k=20:alpha=0.9` and `diffusion:k=20,alpha=0.9` are the same). Steps run left to right,
each on the descriptors and ranks the previous one left.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..index import rank_database


class RerankSpecError(ValueError):
    """A re-ranking specification that names an unknown method or parameter, or a bad value."""


# method -> (what it does, {parameter: default}); a default's type is the parameter's type.
METHODS: dict[str, tuple[str, dict]] = {
    "aqe": ("average query expansion (Chum et al. 2007)", {"k": 2}),
    "alpha-qe": ("alpha-weighted query expansion (Radenovic et al. 2018)", {"k": 5, "alpha": 3.0}),
    "dba": ("database-side augmentation (Arandjelovic & Zisserman 2012)", {"k": 2, "alpha": 0.0}),
    "k-reciprocal": ("k-reciprocal re-ranking (Zhong et al. 2017)", {"k1": 20, "k2": 6, "lam": 0.3}),
    "diffusion": ("diffusion on the k-NN graph (Iscen et al. 2017)",
                  {"k": 50, "query_k": 10, "alpha": 0.99, "gamma": 3.0}),
    "spatial": ("spatial verification of the top with ORB + RANSAC",
                {"top": 100, "model": "affine", "min_inliers": 8}),
}
CHOICES = {("spatial", "model"): ("affine", "homography")}
# (lowest allowed, highest allowed, whether the highest is excluded)
LIMITS = {"k": (0, None), "alpha": (0, None), "k1": (1, None), "k2": (1, None), "lam": (0, 1),
          "query_k": (1, None), "gamma": (0, None), "top": (1, None), "min_inliers": (0, None)}
EXCLUSIVE_TOP = {("diffusion", "alpha"): 1.0}
STRICT_BOTTOM = {("diffusion", "k"): 0}


@dataclass(frozen=True)
class Step:
    """One post-processing step: a method name and all its parameters (defaults filled in)."""

    method: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return ":".join([self.method, *(f"{name}={value}" for name, value in self.params.items())])

    def as_dict(self) -> dict:
        return {"method": self.method, **self.params}


def describe_methods() -> str:
    """One line per method with its parameters and their defaults (for --help and errors)."""
    return "; ".join(f"{name} ({', '.join(f'{p}={v}' for p, v in params.items())})"
                     for name, (_, params) in METHODS.items())


def _value(method: str, name: str, text: str):
    default = METHODS[method][1][name]
    if (method, name) in CHOICES:
        if text not in CHOICES[method, name]:
            raise RerankSpecError(f"{method}: {name}={text} is not one of {', '.join(CHOICES[method, name])}")
        return text
    kind = type(default)
    try:
        value = kind(text) if kind is float else int(text)
    except ValueError:
        raise RerankSpecError(f"{method}: {name}={text} is not {'a number' if kind is float else 'an integer'}") \
            from None
    if kind is float and not np.isfinite(value):
        raise RerankSpecError(f"{method}: {name}={text} is not a finite number")
    low, high = LIMITS.get(name, (None, None))
    if (method, name) in STRICT_BOTTOM and value <= STRICT_BOTTOM[method, name]:
        raise RerankSpecError(f"{method}: {name}={text} must be greater than {STRICT_BOTTOM[method, name]}")
    if low is not None and value < low:
        raise RerankSpecError(f"{method}: {name}={text} must be at least {low}")
    top = EXCLUSIVE_TOP.get((method, name))
    if top is not None and value >= top:
        raise RerankSpecError(f"{method}: {name}={text} must be below {top}")
    if high is not None and value > high:
        raise RerankSpecError(f"{method}: {name}={text} must be at most {high}")
    return value


def parse_pipeline(spec: str) -> list[Step]:
    """Steps from a specification string; a one-line RerankSpecError naming the valid methods or parameters."""
    if not isinstance(spec, str) or not spec.strip():
        raise RerankSpecError(f"empty re-ranking specification; methods: {', '.join(METHODS)}")
    steps: list[tuple[str, dict]] = []
    for token in (part.strip() for part in spec.split(",")):
        if not token:
            raise RerankSpecError(f"empty step in {spec!r} (two commas in a row?)")
        head, *assignments = token.split(":")
        if "=" in head:  # a parameter continuing the previous step
            if not steps:
                raise RerankSpecError(f"{spec!r} starts with a parameter ({head}); start with a method: "
                                      f"{', '.join(METHODS)}")
            assignments = [head, *assignments]
        else:
            if head not in METHODS:
                raise RerankSpecError(f"unknown re-ranking method {head!r}; valid methods: {', '.join(METHODS)}")
            steps.append((head, {}))
        method, given = steps[-1]
        for assignment in assignments:
            name, equals, text = assignment.partition("=")
            name, text = name.strip(), text.strip()
            valid = METHODS[method][1]
            if not equals or not name or not text:
                raise RerankSpecError(f"{method}: {assignment!r} is not name=value; parameters: {', '.join(valid)}")
            if name not in valid:
                raise RerankSpecError(f"{method}: unknown parameter {name!r}; valid parameters: {', '.join(valid)}")
            if name in given:
                raise RerankSpecError(f"{method}: {name} given twice")
            given[name] = _value(method, name, text)
    return [Step(method, {**METHODS[method][1], **given}) for method, given in steps]


def format_pipeline(steps) -> str:
    """The canonical string of a pipeline (every parameter written out); parse_pipeline reads it back."""
    return ",".join(str(step) for step in steps)


@dataclass
class RerankResult:
    """What a pipeline leaves: the (possibly expanded or augmented) descriptors, the final ranks
    (n_db, n_queries), and the seconds each step took."""

    db: np.ndarray
    queries: np.ndarray
    ranks: np.ndarray
    seconds: list[tuple[str, float]]


class LocalFeatureSource:
    """ORB features of a dataset's images for spatial verification, computed on first use and cached."""

    def __init__(self, dataset, max_side: int = 512):
        self.dataset, self.max_side = dataset, max_side
        self._queries = None
        self._database: dict[int, object] = {}

    def queries(self):
        from .spatial import cached_orb_features

        if self._queries is None:
            self._queries = cached_orb_features(self.dataset.queries, self.max_side, bboxes=self.dataset.bboxes)
        return self._queries

    def database(self, ids) -> list:
        from .spatial import cached_orb_features

        missing = [int(i) for i in ids if int(i) not in self._database]
        for i, features in zip(missing, cached_orb_features([self.dataset.images[i] for i in missing],
                                                            self.max_side)):
            self._database[i] = features
        return [self._database[int(i)] for i in ids]


def apply_step(step: Step, db: np.ndarray, queries: np.ndarray, ranks: np.ndarray, features=None):
    """One step: (db, queries, ranks) after it. `features`: a LocalFeatureSource (spatial only)."""
    from .diffusion import diffusion_rerank  # scipy: imported when a step runs, not to parse a specification
    from .expansion import alpha_query_expansion, average_query_expansion, database_augmentation
    from .reciprocal import k_reciprocal_rerank

    p = step.params
    if step.method == "aqe":
        queries = average_query_expansion(db, queries, ranks, p["k"])
        return db, queries, rank_database(db, queries)
    if step.method == "alpha-qe":
        queries = alpha_query_expansion(db, queries, ranks, p["k"], p["alpha"])
        return db, queries, rank_database(db, queries)
    if step.method == "dba":
        db = database_augmentation(db, p["k"], p["alpha"])
        return db, queries, rank_database(db, queries)
    if step.method == "k-reciprocal":
        return db, queries, k_reciprocal_rerank(db, queries, p["k1"], p["k2"], p["lam"])
    if step.method == "diffusion":
        return db, queries, diffusion_rerank(db, queries, ranks, p["k"], p["query_k"], p["alpha"], p["gamma"])
    if step.method == "spatial":
        if features is None:
            raise ValueError("spatial verification needs the images: pass the dataset to apply_pipeline")
        from .spatial import spatial_rerank

        ranks, _ = spatial_rerank(ranks, features.queries(), features.database, p["top"], p["model"],
                                  p["min_inliers"])
        return db, queries, ranks
    raise RerankSpecError(f"unknown re-ranking method {step.method!r}; valid methods: {', '.join(METHODS)}")


def apply_pipeline(steps, db: np.ndarray, queries: np.ndarray, ranks: np.ndarray | None = None,
                   dataset=None, features: LocalFeatureSource | None = None) -> RerankResult:
    """Run the steps (a list of Step or a specification string) after the first search.

    db (n_db, D) and queries (n_queries, D) are unit-norm global descriptors; ranks defaults to the
    exact faiss search. dataset (or a ready `features` source) is needed only by "spatial".
    """
    steps = parse_pipeline(steps) if isinstance(steps, str) else list(steps)
    db = np.asarray(db, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    ranks = rank_database(db, queries) if ranks is None else np.asarray(ranks)
    if features is None and dataset is not None:
        features = LocalFeatureSource(dataset)
    seconds = []
    for step in steps:
        start = time.perf_counter()
        db, queries, ranks = apply_step(step, db, queries, ranks, features)
        seconds.append((str(step), time.perf_counter() - start))
    return RerankResult(db, queries, ranks, seconds)


def pipeline_stages(steps, db: np.ndarray, queries: np.ndarray, dataset=None) -> list[tuple[str, np.ndarray]]:
    """The ranks after the first search and after each step in turn: [("search", ranks), (step, ranks), ...],
    to watch a list change as the steps are applied one after another."""
    steps = parse_pipeline(steps) if isinstance(steps, str) else list(steps)
    db = np.asarray(db, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    ranks = rank_database(db, queries)
    features = LocalFeatureSource(dataset) if dataset is not None else None
    stages = [("search", ranks)]
    for step in steps:
        db, queries, ranks = apply_step(step, db, queries, ranks, features)
        stages.append((str(step), ranks))
    return stages
