# SPDX-License-Identifier: Apache-2.0
"""`pip install .` from the repository root builds and installs the same package as
`pip install ./python` (the root pyproject.toml points at python/build_backend)."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyenv_util  # noqa: E402


class RootInstall(unittest.TestCase):
    def test_root_install_imports_and_works(self):
        target = os.path.join(pyenv_util.SCRATCH, "site")
        pyenv_util.pip_install(pyenv_util.SOURCE, target)
        code = ("import tracesmith as ts, sys; t = ts.capture_trace(preset='tiny', max_events=96);"
                "print(len(t), len(t.kernels()), ts.__file__)")
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           env=dict(os.environ, PYTHONPATH=target), cwd=pyenv_util.SCRATCH)
        self.assertEqual(p.returncode, 0, p.stdout)
        n, k, where = p.stdout.split()
        self.assertEqual(int(n), 96)
        self.assertGreater(int(k), 0)
        self.assertTrue(where.startswith(target), where)


if __name__ == "__main__":
    unittest.main(verbosity=2)
