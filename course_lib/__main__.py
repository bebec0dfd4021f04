"""`python -m course_lib COMMAND ...`: dispatch only (the commands are in course_lib.commands)."""
import sys

from .commands import main

if __name__ == "__main__":
    sys.exit(main())
