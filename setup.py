"""Build of kvstore's Cython extensions: the core, ``kvstore/_core.pyx``,
the server's HTTP reader and answer writer, ``server/_http.pyx`` (linked
with zlib for its CRC32: Debian/Ubuntu's zlib1g-dev, pulled in by python3-dev),
and the frames of requests forwarded between workers, ``server/_peer.pyx``.

Everything about the package itself (name, version, dependencies, packages)
lives in pyproject.toml; this file only describes the C extensions and the
switches that change how they are built:

    KVSTORE_DEBUG=1     compile with -O0 -g3 (assertions kept), Cython line
                        tracing (for coverage/profilers), boundscheck and
                        wraparound on: slower, but an indexing bug raises
                        instead of reading past a buffer.
    KVSTORE_ANNOTATE=1  also write kvstore/_core.html, server/_http.html and
                        server/_peer.html, Cython's annotated view of which
                        lines call into the Python C-API.

Usual commands:

    python setup.py build_ext --inplace        # the .so files next to their .pyx
    KVSTORE_DEBUG=1 python setup.py build_ext --inplace
    pip install .   /   pip install -e .       # Cython comes from build-system.requires

Cython is imported only when an extension is built, so commands that build
nothing (egg_info, sdist, --version) work without it. The generated C file
is regenerated whenever the build mode changes (a stamp under build/ records
the mode of the last cythonize), so switching between debug and release never
compiles a stale translation.
"""

import os
import shlex
import shutil
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CYTHON_MIN = (3, 0)

DEBUG = os.environ.get("KVSTORE_DEBUG", "") not in ("", "0")
ANNOTATE = os.environ.get("KVSTORE_ANNOTATE", "") not in ("", "0")

NO_COMPILER = (
    "kvstore needs a C compiler (gcc or clang) to build its core; "
    "on Debian/Ubuntu: apt-get install gcc python3-dev"
)


def _directives():
    directives = {
        "language_level": 3,
        "embedsignature": True,
        "cdivision": True,
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        "initializedcheck": DEBUG,
    }
    if DEBUG:
        directives["linetrace"] = True
    return directives


def _extensions():
    if DEBUG:
        macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
        cflags = ["-O0", "-g3", "-UNDEBUG"]
    else:
        macros = []
        cflags = []  # the interpreter's own flags (-O3 on most builds)
    if sys.platform == "win32":
        cflags = ["/Od", "/Zi"] if DEBUG else []
    # (module, libraries to link): each built from its .pyx with the same flags
    modules = (("kvstore._core", []), ("server._http", ["z"]), ("server._peer", []))
    return [
        Extension(name, sources=[name.replace(".", "/") + ".pyx"], libraries=libraries,
                  define_macros=macros, extra_compile_args=cflags)
        for name, libraries in modules
    ]


def _find_c_compiler():
    """The compiler program this build would run (CC, else the one Python was
    built with), or None if it is not installed."""
    if sys.platform == "win32":
        return "msvc"  # setuptools' MSVC discovery gives its own error
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    try:
        argv = shlex.split(cc)
    except ValueError:
        argv = cc.split()
    if not argv:
        return None
    # A launcher such as "ccache gcc" needs both programs.
    programs = argv[:2] if os.path.basename(argv[0]) in ("ccache", "sccache") else argv[:1]
    if any(shutil.which(p) is None for p in programs):
        return None
    return programs[-1]


class build_ext(_build_ext):
    """build_ext that checks for a C compiler and cythonizes lazily."""

    def finalize_options(self):
        if self.distribution.ext_modules:
            self.distribution.ext_modules = self._cythonize(self.distribution.ext_modules)
        super().finalize_options()

    def _cythonize(self, extensions):
        if not any(src.endswith(".pyx") for ext in extensions for src in ext.sources):
            return extensions
        try:
            import Cython
            from Cython.Build import cythonize
        except ImportError:
            raise SystemExit(
                "kvstore needs Cython>=%d.%d to build its core: pip install 'Cython>=3'" % CYTHON_MIN
            )
        version = tuple(int(p) for p in Cython.__version__.split(".")[:2] if p.isdigit())
        if version < CYTHON_MIN:
            raise SystemExit(
                "kvstore needs Cython>=%d.%d to build its core, found %s"
                % (CYTHON_MIN + (Cython.__version__,))
            )
        mode = "debug=%d annotate=%d cython=%s" % (DEBUG, ANNOTATE, Cython.__version__)
        stamp = os.path.join(HERE, "build", "kvstore-core-mode")
        try:
            with open(stamp) as f:
                force = f.read() != mode
        except OSError:
            force = True
        result = cythonize(
            extensions,
            compiler_directives=_directives(),
            annotate=ANNOTATE,
            force=force or ANNOTATE,
            quiet=True,
        )
        try:
            os.makedirs(os.path.dirname(stamp), exist_ok=True)
            with open(stamp, "w") as f:
                f.write(mode)
        except OSError:
            pass  # read-only tree: the next build just regenerates the C file
        return result

    def run(self):
        if self.extensions and _find_c_compiler() is None:
            raise SystemExit(NO_COMPILER)
        super().run()

    def copy_file(self, infile, outfile, *args, **kwargs):
        # An in-place build (--inplace, pip install -e) puts the new .so over
        # the old one. Rewriting it in place can crash a running process that
        # has the old one mapped; a rename leaves that process its own copy.
        if self.dry_run or not outfile.endswith((".so", ".pyd")):
            return super().copy_file(infile, outfile, *args, **kwargs)
        tmp = "%s.%d.tmp" % (outfile, os.getpid())
        try:
            shutil.copyfile(infile, tmp)
            shutil.copymode(infile, tmp)
            os.replace(tmp, outfile)
        except OSError:
            if os.path.exists(tmp):
                os.unlink(tmp)
            return super().copy_file(infile, outfile, *args, **kwargs)
        return (outfile, 1)


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": build_ext},
)
