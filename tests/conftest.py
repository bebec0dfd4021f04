"""The header of every test run names the CPU and the numeric libraries' code paths: the notebooks' checked
outputs are floating-point results, and a CI log that disagrees with a committed output should say at once
which machine computed it."""
import platform
import sys
from pathlib import Path

# Tests mirror course_lib's packages (tests/index/test_exact.py tests course_lib/index/exact.py) and are imported
# by path (--import-mode=importlib) as tests.index.test_exact, so files of the same name in two folders do not
# clash. The repository root makes that name importable again in a spawned process (torch.multiprocessing);
# the shared helpers (tests/support.py, tests/browser/notebook_slice.py) are found by their own names.
TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS), str(TESTS / "browser")]
sys.path.append(str(TESTS.parent))  # last: an installed course_lib still comes before the checkout's


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pytest_report_header(config):
    import numpy
    import torch
    return [(f"cpu: {_cpu_model()}; torch {torch.__version__} "
             f"(CPU kernels: {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads); "
             f"numpy {numpy.__version__}")]
