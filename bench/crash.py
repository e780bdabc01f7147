#!/usr/bin/env python3
"""The crash-safety harness at full count: 25 SIGKILLs of a real scan (CI runs 4).

    python bench/crash.py [--kills 25]
"""
import argparse
import os
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--kills", type=int, default=25)
args = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
env = dict(os.environ, LOOKALIKE_CRASH_KILLS=str(args.kills))
sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", os.path.join(root, "tests", "core", "test_crash.py")],
                         env=env, cwd=root))
