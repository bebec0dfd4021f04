# Setup, shared by every notebook of the course: notebooks/setup_cell.py, where notebooks/execute.py sets
# COURSE_REF to the commit of the kit that made this notebook's outputs (tests keep the two equal).
# On Colab: install that commit of course_lib (a rerun finds it installed and skips the install) and use
# the GPU if the runtime has one. To keep datasets and caches between Colab sessions, put them on Google
# Drive: in a cell above this one, run `from google.colab import drive; drive.mount("/content/drive")` and
# `import os; os.environ["COURSE_LIB_HOME"] = "/content/drive/MyDrive/course_lib"` (spaces are fine).
# Locally: nothing is installed; `pip install -e ".[dev]"` from the README did that already.
import json
import sys
from importlib import metadata

COURSE_REPOSITORY = "https://github.com/dl-image-search/course-kit"
COURSE_REF = "main"
if "google.colab" in sys.modules:
    try:  # pip records where an installed package came from: the commit and the ref that were asked for
        vcs = json.loads(metadata.distribution("course_lib").read_text("direct_url.json") or "{}").get("vcs_info", {})
    except metadata.PackageNotFoundError:
        vcs = {}
    if COURSE_REF not in (vcs.get("commit_id"), vcs.get("requested_revision")):
        import subprocess
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{COURSE_REPOSITORY}@{COURSE_REF}"],
                       check=True)

import course_lib

env = course_lib.setup(seed=0)
print(env)
