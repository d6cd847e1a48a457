# SPDX-License-Identifier: Apache-2.0
"""Build description of the ``tracesmith`` Python package (setuptools only).

The extension ``tracesmith._tracesmith`` is compiled from the binding
(``tracesmith/_tracesmith.c``, ``tracesmith/agent-control.c``) *and* the C
library's own sources: every ``src/**/*.c`` of the repository except
``src/capture/cupti/`` (CUDA code, which only the agent uses), so that
``pip install ./python`` works from a fresh clone without running CMake.
Optional features are probed with the compiler exactly like
cmake/Dependencies.cmake does: zstd (``TSM_HAVE_ZSTD``), zlib
(``TSM_HAVE_ZLIB``) and libstdc++'s ``__cxa_demangle``
(``TSM_HAVE_CXA_DEMANGLE``). Set ``TRACESMITH_NO_ZSTD=1`` /
``TRACESMITH_NO_ZLIB=1`` to build without them.

The C sources are looked up in ``csrc/`` next to this file (an sdist) or in
the repository root one level up (a checkout). ``pip install`` goes through
the in-tree PEP 517 backend in ``build_backend/`` (see pyproject.toml), which
uses this file's ``setup_kwargs()``; ``python setup.py build_ext --inplace``
works too.
"""
import glob
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "0.1.0"


def c_root():
    """Directory that holds include/ and src/ of the C library."""
    for cand in (os.path.join(HERE, "csrc"), os.path.dirname(HERE)):
        if os.path.isfile(os.path.join(cand, "include", "tracesmith", "tracesmith.h")):
            return cand
    raise SystemExit("tracesmith: cannot find the C library sources (include/ and src/) "
                     "in %s/csrc or %s" % (HERE, os.path.dirname(HERE)))


def library_sources(root):
    srcs = sorted(glob.glob(os.path.join(root, "src", "**", "*.c"), recursive=True))
    cupti = os.path.join(root, "src", "capture", "cupti") + os.sep
    return [s for s in srcs if not s.startswith(cupti)]


def _probe(code, libraries):
    """True when `code` compiles and links with `libraries` (like CMake's check)."""
    from setuptools._distutils import ccompiler, sysconfig as dsysconfig
    from setuptools._distutils.errors import CompileError, LinkError

    cc = ccompiler.new_compiler()
    dsysconfig.customize_compiler(cc)
    tmp = tempfile.mkdtemp(prefix="tsm-probe-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        devnull = os.open(os.devnull, os.O_WRONLY)
        saved = os.dup(2)
        os.dup2(devnull, 2)  # a failed probe is expected: keep the compiler quiet
        try:
            objs = cc.compile([src], output_dir=tmp)
            cc.link_executable(objs, os.path.join(tmp, "probe"), libraries=libraries)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
        return True
    except (CompileError, LinkError):
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def features():
    """(define_macros, libraries) for the optional dependencies found here."""
    defines = [("_GNU_SOURCE", None)]
    libs = []
    if not os.environ.get("TRACESMITH_NO_ZSTD") and _probe(
            "#include <zstd.h>\nint main(void) { return (int)ZSTD_versionNumber() < 0; }\n",
            ["zstd"]):
        defines.append(("TSM_HAVE_ZSTD", "1"))
        libs.append("zstd")
    if not os.environ.get("TRACESMITH_NO_ZLIB") and _probe(
            "#include <zlib.h>\nint main(void) { return zlibVersion() == 0; }\n", ["z"]):
        defines.append(("TSM_HAVE_ZLIB", "1"))
        libs.append("z")
    if _probe("#include <stdlib.h>\n#include <stddef.h>\n"
              "char *__cxa_demangle(const char *, char *, size_t *, int *);\n"
              "int main(void) { int st; char *p = __cxa_demangle(\"_Z1fv\", NULL, NULL, &st);"
              " free(p); return st; }\n", ["stdc++"]):
        defines.append(("TSM_HAVE_CXA_DEMANGLE", "1"))
        libs.append("stdc++")
    return defines, libs + ["pthread", "dl"]


def setup_kwargs(pkg_dir=None):
    """Arguments of setuptools.setup(); `pkg_dir` is the package folder (relative to cwd)."""
    from setuptools import Extension

    if pkg_dir is None:
        pkg_dir = os.path.relpath(os.path.join(HERE, "tracesmith"))
    root = c_root()
    defines, libs = features()
    ext = Extension(
        "tracesmith._tracesmith",
        sources=[os.path.join(pkg_dir, "_tracesmith.c"), os.path.join(pkg_dir, "agent-control.c")]
        + library_sources(root),
        include_dirs=[os.path.join(root, "include"), os.path.join(root, "src"), pkg_dir],
        define_macros=defines,
        libraries=libs,
        extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden", "-Wno-unused-parameter",
                            "-Wno-missing-field-initializers"],
    )
    return dict(
        name="tracesmith",
        version=VERSION,
        description="GPU trace capture, analysis and export: bindings over libtracesmith",
        license="Apache-2.0",
        python_requires=">=3.8",
        packages=["tracesmith"],
        package_dir={"tracesmith": pkg_dir},
        package_data={"tracesmith": ["__init__.pyi", "py.typed"]},
        ext_modules=[ext],
        zip_safe=False,
    )


if __name__ == "__main__":
    from setuptools import setup

    setup(**setup_kwargs())
