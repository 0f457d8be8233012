"""The Makefile's targets name only things that exist: a target that calls a missing script (as `make bench`
once did) fails only when a user runs it, which no other test would notice."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_python_script_a_make_target_runs_exists():
    recipes = [line.strip() for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("\t")]
    scripts = [match for line in recipes for match in re.findall(r"\$\(PY\) ((?:bench|scripts)/\S+\.py)", line)]
    assert "bench/bench_models.py" in scripts  # the pattern still matches the way the Makefile writes them
    missing = [script for script in scripts if not (REPO / script).is_file()]
    assert not missing, f"Makefile runs scripts that do not exist: {missing}"
