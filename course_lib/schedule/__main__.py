"""`python -m course_lib.schedule ...`, the same as `python -m course_lib schedule ...`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
