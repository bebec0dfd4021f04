"""`datasets`: the registered datasets, where they come from, and whether they are here."""
from __future__ import annotations


def add_parser(sub) -> None:
    ds = sub.add_parser("datasets", help="list the registered datasets and whether they are here",
                        description="List every registered dataset (name, protocol, size, source) and whether it "
                                    "is already in the data folder; `evaluate NAME` downloads one that is not.")
    ds.set_defaults(func=run)


def run(args) -> int:
    from ..datasets import describe_registry

    print(describe_registry())
    return 0
