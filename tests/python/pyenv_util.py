# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the Python binding tests: install the package into a scratch
directory with pip (offline) and import it from there, never from the source tree."""
import os
import shutil
import subprocess
import sys

SOURCE = os.environ.get("TSM_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SCRATCH = os.environ.get("TSM_PY_SCRATCH") or os.path.join("/tmp", "tsm-py-scratch-%d" % os.getpid())


def pip_install(project, target):
    """pip install --target TARGET PROJECT (no index, no dependencies); returns the log."""
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
           "--no-build-isolation", "--disable-pip-version-check", "--target", target, project]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout)
        raise SystemExit("pip install %s failed (exit %d)" % (project, p.returncode))
    return p.stdout


def import_installed(target):
    sys.path.insert(0, target)
    import tracesmith
    here = os.path.dirname(os.path.abspath(tracesmith.__file__))
    if not here.startswith(os.path.abspath(target)):
        raise SystemExit("imported tracesmith from %s, not from the install in %s" % (here, target))
    return tracesmith
