# SPDX-License-Identifier: Apache-2.0
"""In-tree PEP 517 build backend of the tracesmith package.

Why not ``setuptools.build_meta``: ``pip install ./python`` must work offline.
With build isolation pip would download setuptools and wheel into a fresh
environment (impossible offline), and setuptools' wheel command needs the
``wheel`` package, which many interpreters (pyenv builds) lack. This backend
needs nothing but the setuptools already installed for the interpreter:

* it finds that setuptools even inside pip's isolated build environment (by
  asking the same interpreter, started with -I, where it lives);
* it compiles with setuptools' ``build`` command (setup.py's setup_kwargs())
  and writes the wheel itself (zip + METADATA + WHEEL + RECORD, PEP 427).

Hooks: build_wheel, build_sdist, get_requires_for_build_{wheel,sdist}.
"""
import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

NAME = "tracesmith"
SUMMARY = "GPU trace capture, analysis and export: bindings over libtracesmith"


def _python_dir():
    """The folder holding setup.py and tracesmith/ (cwd is the project root)."""
    cwd = os.getcwd()
    for cand in (cwd, os.path.join(cwd, "python")):
        if os.path.isfile(os.path.join(cand, "tracesmith", "_tracesmith.c")):
            return cand
    raise RuntimeError("tracesmith backend: no tracesmith/_tracesmith.c under %s" % cwd)


def _import_setuptools():
    try:
        import setuptools  # noqa: F401
        return
    except ImportError:
        pass
    out = subprocess.run(
        [sys.executable, "-I", "-c",
         "import os, setuptools; print(os.path.dirname(os.path.dirname(setuptools.__file__)))"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    site = out.stdout.strip()
    if out.returncode != 0 or not site:
        raise RuntimeError("tracesmith backend: setuptools is not installed for %s "
                           "(Debian: apt-get install python3-setuptools)" % sys.executable)
    sys.path.append(site)
    import setuptools  # noqa: F401


def _load_setup(pydir):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tsm_setup", os.path.join(pydir, "setup.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tag():
    impl = "cp" if sys.implementation.name == "cpython" else sys.implementation.name[:2]
    py = "%s%d%d" % (impl, sys.version_info[0], sys.version_info[1])
    abi = py + ("d" if hasattr(sys, "gettotalrefcount") else "")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s-%s" % (py, abi, plat)


def _metadata(version):
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: Apache-2.0\n"
            "Requires-Python: >=3.8\n" % (NAME, version, SUMMARY))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def _record_line(arc, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arc, digest, len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _import_setuptools()
    from setuptools import Distribution

    pydir = _python_dir()
    setup_mod = _load_setup(pydir)
    kwargs = setup_mod.setup_kwargs(os.path.relpath(os.path.join(pydir, "tracesmith")))
    version = kwargs["version"]
    with tempfile.TemporaryDirectory(prefix="tsm-wheel-") as tmp:
        dist = Distribution(kwargs)
        dist.script_name = "setup.py"
        build = dist.get_command_obj("build")
        build.build_base = os.path.join(tmp, "build")
        build.build_lib = os.path.join(tmp, "lib")
        build.build_platlib = build.build_lib
        build.build_purelib = build.build_lib
        build_ext = dist.get_command_obj("build_ext")
        build_ext.parallel = os.cpu_count() or 1  # ~35 C files: compile them side by side
        dist.run_command("build")

        distinfo = "%s-%s.dist-info" % (NAME, version)
        wheel_name = "%s-%s-%s.whl" % (NAME, version, _tag())
        records = []
        path = os.path.join(wheel_directory, wheel_name)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for dirpath, _, files in os.walk(build.build_lib):
                for fn in sorted(files):
                    full = os.path.join(dirpath, fn)
                    arc = os.path.relpath(full, build.build_lib).replace(os.sep, "/")
                    with open(full, "rb") as f:
                        data = f.read()
                    zf.writestr(arc, data)
                    records.append(_record_line(arc, data))
            extra = {
                "METADATA": _metadata(version),
                "WHEEL": "Wheel-Version: 1.0\nGenerator: tracesmith-backend\n"
                         "Root-Is-Purelib: false\nTag: %s\n" % _tag(),
                "top_level.txt": NAME + "\n",
            }
            for fn, text in extra.items():
                arc = "%s/%s" % (distinfo, fn)
                zf.writestr(arc, text.encode())
                records.append(_record_line(arc, text.encode()))
            records.append("%s/RECORD,," % distinfo)
            zf.writestr("%s/RECORD" % distinfo, "\n".join(records) + "\n")
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    """A source archive that builds without the repository: the C library's include/
    and src/ travel along in csrc/ (setup.py looks there first)."""
    pydir = _python_dir()
    root = os.path.dirname(pydir)
    sys.path.insert(0, pydir)
    version = "0.1.0"
    base = "%s-%s" % (NAME, version)
    name = base + ".tar.gz"
    skip = (".so", ".o", ".pyc")
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tf:
        for sub in ("tracesmith", "build_backend"):
            for dirpath, _, files in os.walk(os.path.join(pydir, sub)):
                for fn in sorted(files):
                    if fn.endswith(skip) or "__pycache__" in dirpath:
                        continue
                    full = os.path.join(dirpath, fn)
                    tf.add(full, "%s/%s" % (base, os.path.relpath(full, pydir)))
        for fn in ("setup.py", "pyproject.toml"):
            tf.add(os.path.join(pydir, fn), "%s/%s" % (base, fn))
        for sub in ("include", "src"):
            tf.add(os.path.join(root, sub), "%s/csrc/%s" % (base, sub))
        info = _metadata(version).encode()
        ti = tarfile.TarInfo("%s/PKG-INFO" % base)
        ti.size = len(info)
        import io
        tf.addfile(ti, io.BytesIO(info))
    return name
