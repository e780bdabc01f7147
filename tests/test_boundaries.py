"""The import boundaries of DESIGN.md (pyproject's [tool.importlinter] contracts) hold."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_linter_contracts_are_kept():
    pytest.importorskip("importlinter")
    beside = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    exe = beside if os.path.exists(beside) else shutil.which("lint-imports")
    assert exe, "import-linter is installed but its lint-imports command is not on PATH"
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 kept, 0 broken" in r.stdout
