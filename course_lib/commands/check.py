"""`check DIR`: load a team's dataset folder as `evaluate` would and say what is wrong with it."""
from __future__ import annotations


def add_parser(sub) -> None:
    check = sub.add_parser("check", help="validate a dataset folder (images/, queries/, ground_truth.json)",
                           description="Load a dataset folder as `evaluate` would and say what is wrong.")
    check.add_argument("folder", metavar="DIR")
    check.set_defaults(func=run)


def run(args) -> int:
    from ..datasets import load_folder

    dataset = load_folder(args.folder)
    print(f"ok: {dataset.summary()}")
    return 0
