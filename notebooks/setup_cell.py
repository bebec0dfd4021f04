# Setup, shared by every notebook of the course (tests keep each notebook's first cell equal to this file).
# On Colab: install course_lib from the course repository and use the GPU if the runtime has one.
# Locally: nothing is installed; `pip install -e ".[dev]"` from the README did that already.
import sys

COURSE_REPOSITORY = "https://github.com/dl-image-search/course-kit"
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{COURSE_REPOSITORY}"], check=True)

import course_lib

env = course_lib.setup(seed=0)
print(env)
