"""Package faces whose names are imported from their submodules on first use (PEP 562).

`import course_lib.rerank` then costs nothing until a name is used, so the command line starts
without torch, torchvision or scikit-image unless the command needs them.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable


def lazy_face(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, where `names` maps each public name to the submodule
    that defines it (a name equal to its submodule is the submodule itself). Every submodule is also
    reachable as an attribute, as it was when the face imported them all."""

    def __getattr__(name: str) -> object:
        submodule = names.get(name)
        if submodule is None:
            if name.startswith("__") or importlib.util.find_spec(f"{package}.{name}") is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            submodule = name
        module = importlib.import_module(f"{package}.{submodule}")
        value = module if name == submodule else getattr(module, name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
