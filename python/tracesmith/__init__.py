# SPDX-License-Identifier: Apache-2.0
"""TraceSmith: GPU trace capture, analysis and export for Python.

A thin Pythonic layer over the C extension ``tracesmith._tracesmith``, which
links libtracesmith. The main entry points::

    import tracesmith as ts
    events = ts.capture_trace(duration_ms=1000)        # simulation backend (no GPU needed)
    tl = ts.build_timeline(events)
    print(tl.gpu_utilization, tl.max_concurrent_ops)
    ts.export_perfetto(events, "trace.pftrace")        # also export_chrome / export_kineto
    t = ts.open("run.sbt")                             # any SBT file
    k = t.kernels()                                    # zero-copy columns
    numpy.asarray(k.dur_ns).sum()
    for e in t.events(kind="memcpy", stream=7): ...
    with ts.profile("step.sbt"):                       # in-process CUDA capture (agent)
        model(x).sum().backward()
    w = ts.SBTWriter("out.sbt"); w.write_events(events); w.finalize()

Errors are ``tracesmith.Error`` subclasses with ``status`` (e.g. "CHECKSUM"),
``code``, ``detail``, ``offset`` and ``path``. See docs/python.md.
"""
import os as _os
import shutil as _shutil
import sys as _sys
import tempfile as _tempfile

from . import _tracesmith as _c
from ._tracesmith import (  # noqa: F401  (re-exported API)
    Analysis,
    ColumnBuffer,
    Columns,
    Error,
    Event,
    EventIter,
    FormatError,
    InvalidArgumentError,
    NotFoundError,
    OutOfMemoryError,
    SBTWriter,
    StateError,
    Timeline,
    Trace,
    TraceIOError,
    UnavailableError,
    UnsupportedError,
    __version__,
    build_features,
    demangle,
    event_kinds,
    sim_presets,
    simulate,
)

__all__ = [
    "Analysis", "Columns", "Error", "Event", "EventIter", "FormatError", "InvalidArgumentError",
    "NotFoundError", "OutOfMemoryError", "SBTWriter", "StateError", "Timeline", "Trace",
    "TraceIOError", "UnavailableError", "UnsupportedError", "analyze", "build_features",
    "build_timeline", "capture_trace", "demangle", "event_kinds", "export", "export_chrome",
    "export_kineto", "export_perfetto", "import_trace", "open", "profile", "sim_presets",
    "simulate", "version",
]

# Errors raised from Python code carry the same attributes as those raised by the extension.
Error.status = None
Error.code = 0
Error.detail = ""
Error.offset = None
Error.path = None

_STATUS = {"UNAVAILABLE": -15, "STATE": -14, "INVAL": -2}


def _raise(cls, status, detail, path=None):
    msg = "%s%s" % ("%s: " % path if path else "", detail)
    e = cls(msg)
    e.status, e.code, e.detail, e.offset, e.path = status, _STATUS[status], detail, None, path
    raise e


def version():
    """Library version string with its build features, e.g. ``"0.1.0 +zstd"``."""
    return _c.version()


def open(path, *, strict=False):  # noqa: A001 (the module's reading entry point)
    """Open an SBT trace file for reading and return a :class:`Trace`.

    ``strict=True`` turns a torn tail (a writer that died) into a FormatError
    instead of recovering every complete chunk.
    """
    return Trace(path, strict=strict)


class _Source:
    """An SBT path for any accepted event source, with cleanup of temporaries."""

    def __init__(self, events):
        self.tmpdir = None
        if isinstance(events, Trace):
            if events.closed:
                _raise(StateError, "STATE", "the trace is closed", events.path)
            self.path = events.path
        elif isinstance(events, (str, bytes, _os.PathLike)):
            self.path = _os.fsdecode(events)
        elif isinstance(events, Columns):
            raise TypeError("pass the Trace a Columns view came from, not the Columns")
        else:
            try:
                it = iter(events)
            except TypeError:
                raise TypeError("expected a Trace, a path or an iterable of Event objects, "
                                "not %s" % type(events).__name__) from None
            self.tmpdir = _tempfile.mkdtemp(prefix="tracesmith-")
            self.path = _os.path.join(self.tmpdir, "events.sbt")
            w = SBTWriter(self.path)
            try:
                w.write_events(it)
            finally:
                w.finalize()

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if self.tmpdir:
            _shutil.rmtree(self.tmpdir, ignore_errors=True)
        return False


def capture_trace(duration_ms=1000, *, preset=None, seed=0, max_events=0, devices=0,
                  path=None, zstd_level=0):
    """Capture a trace with the simulation backend and return it as an open :class:`Trace`.

    The simulator is a deterministic synthetic GPU (``preset``: see
    :func:`sim_presets`; default "train") that drives the same rings, collector
    and writer as the real CUPTI agent, so it works on machines without a GPU.
    ``duration_ms`` is simulated time; ``max_events`` stops after exactly that
    many events. Real GPU capture of a Python program is :func:`profile`.

    Without ``path`` the trace lives in a temporary file that is deleted when
    the Trace is closed or garbage-collected.
    """
    if duration_ms is not None and duration_ms < 0:
        raise ValueError("duration_ms must not be negative")
    delete = path is None
    if delete:
        fd, path = _tempfile.mkstemp(prefix="tracesmith-capture-", suffix=".sbt")
        _os.close(fd)
    try:
        simulate(path, preset=preset, seed=seed, max_events=max_events,
                 duration_ns=int((duration_ms or 0) * 1000000), devices=devices,
                 zstd_level=zstd_level)
        return Trace(path, _delete_on_close=delete)
    except BaseException:
        if delete:
            _os.unlink(path)
        raise


def build_timeline(events, *, strict=False):
    """Build the :class:`Timeline` (lanes, utilisation, concurrency, dependency graph) of
    a Trace, an SBT path or an iterable of :class:`Event` objects."""
    with _Source(events) as path:
        return Timeline(path, strict=strict)


def analyze(events, *, short_kernel_ns=0, top_n=0, critical_path=True):
    """Statistics of a trace (:class:`Analysis`): ``build_timeline(events).analyze(...)``."""
    return build_timeline(events).analyze(short_kernel_ns=short_kernel_ns, top_n=top_n,
                                          critical_path=critical_path)


def export(events, path, *, format=None, gzip=None, start_ns=None, end_ns=None, device=None,
           stream=None, kind=None, demangle=None, rank=None):
    """Export events (Trace, SBT path or iterable of Events) to ``path``.

    ``format``: "perfetto" (.pftrace), "chrome" (.json) or "kineto"
    (.pt.trace.json); None picks it from the file name. A ".gz" suffix
    compresses. Filters keep events of one device / stream / kinds / window /
    rank (a Kineto file per rank, as torch.profiler writes them).
    Returns the exporter's statistics as a dict.
    """
    with _Source(events) as src:
        return _c.export(src, path, format=format, gzip=gzip, start_ns=start_ns, end_ns=end_ns,
                         device=device, stream=stream, kind=kind, demangle=demangle, rank=rank)


def export_perfetto(events, path, **filters):
    """Export to Perfetto's native protobuf trace (open it in ui.perfetto.dev)."""
    return export(events, path, format="perfetto", **filters)


def export_chrome(events, path, **filters):
    """Export to Chrome trace JSON (chrome://tracing, Perfetto UI)."""
    return export(events, path, format="chrome", **filters)


def export_kineto(events, path, **filters):
    """Export to Kineto JSON, torch.profiler's schema (HTA, TensorBoard)."""
    return export(events, path, format="kineto", **filters)


def import_trace(src, dst=None, *, zstd_level=0):
    """Import Kineto / Chrome trace JSON (optionally .gz) into SBT.

    With ``dst`` the SBT file is written there and its import statistics are
    returned as a dict; without, the result is returned as an open
    :class:`Trace` over a temporary file (deleted on close).
    """
    if dst is not None:
        return _c.import_trace(src, dst, zstd_level=zstd_level)
    fd, tmp = _tempfile.mkstemp(prefix="tracesmith-import-", suffix=".sbt")
    _os.close(fd)
    try:
        _c.import_trace(src, tmp, zstd_level=zstd_level)
        return Trace(tmp, _delete_on_close=True)
    except BaseException:
        _os.unlink(tmp)
        raise


# ---- in-process capture ------------------------------------------------------

_AGENT_NAME = "libtracesmith-agent.so"


def _find_agent(explicit):
    """(path, explicitly chosen) of the agent library, or (None, tried paths)."""
    if explicit:
        return _os.fspath(explicit), True
    env = _os.environ.get("TRACESMITH_AGENT")
    if env:
        return env, True
    tried = []
    here = _os.path.dirname(_os.path.abspath(__file__))
    cands = [_os.path.join(here, _AGENT_NAME)]
    exe = _shutil.which("tracesmith")
    if exe:
        d = _os.path.dirname(_os.path.realpath(exe))
        cands += [_os.path.join(d, _AGENT_NAME), _os.path.join(d, "..", "lib", _AGENT_NAME)]
    for c in cands:
        tried.append(c)
        if _os.path.isfile(c):
            return c, False
    return None, tried


def _cuda_sync():
    torch = _sys.modules.get("torch")
    if torch is None:
        return
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    except Exception:  # a broken CUDA state is the application's to report
        pass


class profile:
    """In-process CUDA capture with the CUPTI agent, as a context manager.

    ::

        with tracesmith.profile("step.sbt") as p:
            model(x).sum().backward()
        t = p.trace()

    On entry the agent (``libtracesmith-agent.so``) is loaded into this process
    and subscribes to CUPTI (CUDA already initialised by PyTorch is fine); on
    exit CUPTI's buffers are flushed and the SBT file is finalised. Both ends
    call ``torch.cuda.synchronize()`` when PyTorch has initialised CUDA, so the
    block's GPU work is complete and inside the trace (``sync=False`` skips it).

    The agent is looked up in ``agent``, ``$TRACESMITH_AGENT``, the package
    folder, then next to the ``tracesmith`` program on PATH. Without an NVIDIA
    driver/GPU, or without an agent, :class:`UnavailableError` is raised (the
    GPU check is skipped when an agent is named explicitly: it decides).
    """

    def __init__(self, path="tracesmith-profile.sbt", *, agent=None, sync=True):
        self.path = _os.fspath(path)
        self.agent = agent
        self.sync = sync
        self.running = False

    def start(self):
        """Start capturing (what entering the ``with`` block does)."""
        if self.running:
            _raise(StateError, "STATE", "profile() is already running", self.path)
        lib, info = _find_agent(self.agent)
        if info is not True:  # not explicitly chosen: needs a GPU here
            n, why = _c._cuda_devices()
            if n <= 0:
                _raise(UnavailableError, "UNAVAILABLE",
                       "profile() needs an NVIDIA GPU with CUPTI: %s (use capture_trace() "
                       "for the simulation backend)" % why)
        if lib is None:
            _raise(UnavailableError, "UNAVAILABLE",
                   "the CUPTI agent %s was not found (tried %s; set TRACESMITH_AGENT or build "
                   "with CUDA)" % (_AGENT_NAME, ", ".join(info)))
        if self.sync:
            _cuda_sync()
        _c._agent_start(lib, self.path)
        self.running = True
        return self

    def stop(self):
        """Flush and finalise the trace file (what leaving the ``with`` block does)."""
        if not self.running:
            _raise(StateError, "STATE", "profile() is not running", self.path)
        self.running = False
        if self.sync:
            _cuda_sync()
        _c._agent_stop()

    def trace(self):
        """Open the finished trace file."""
        return open(self.path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.running:
            self.stop()
        return False

    def __repr__(self):
        return "<tracesmith.profile %r%s>" % (self.path, " running" if self.running else "")
