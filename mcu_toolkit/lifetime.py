"""Children that never outlive the tool, whatever ends it.

- **One process group per run** (`child_group`): gcc, make, QEMU and the worker pools join it, and so do
  their own children (cc1, as), which we never see. Its leader is a sentinel, `sh -c 'read _; kill -9 0'`,
  reading a pipe whose only writer is this process: when this process dies, by SIGKILL too, the pipe
  closes and the sentinel kills the whole group, itself last. At the end of the run, closing the pipe
  does the same sweep.
- **Python children** die with their parent (`die_with_parent`, PR_SET_PDEATHSIG): the kernel sends it
  when the parent *thread* that forked them exits, so they are forked from the main thread, or from a
  thread that waits for them.
- **Worker pools** (`WorkerPool`) are started with the stop signals blocked, which they inherit: Ctrl-C
  reaches the whole foreground group, and stopping is the parent's job (no traceback per worker). On an
  exception the parent kills them instead of waiting for the files in flight.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from concurrent.futures import wait

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SENTINEL = ("/bin/sh", "-c", "read _; kill -9 0")


def die_with_parent(parent: int | None = None) -> None:
    """Linux: SIGKILL this process when its parent dies. `parent`: the pid we expect; if it is gone already
    (it died before the request took effect), exit now. Safe in a preexec_fn (nothing to import)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the run's group still sweeps
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


class ChildGroup:
    """The run's process group and its sentinel; see the module's docstring."""

    def __init__(self):
        r, self._w = os.pipe()  # both ends close-on-exec: no child but the sentinel holds them
        try:
            self.sentinel = subprocess.Popen(SENTINEL, stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             process_group=0)
        finally:
            os.close(r)
        self.pgid = self.sentinel.pid
        self.pending: list = []  # futures of threads that start children in the group (code-size compiles)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)

    def close(self, abort: bool) -> None:
        """abort: kill every child first, then let the threads that started them tidy up (a killed gcc's
        folder); else wait for those threads' work. Either way, nothing of the group survives."""
        if abort:
            for f in self.pending:  # a compile not started yet never starts (nor outside the group)
                f.cancel()
            self.kill()
        wait(self.pending, timeout=None if not abort else 10)
        os.close(self._w)  # the sentinel's sweep
        self.sentinel.wait()


_current: ChildGroup | None = None


@contextlib.contextmanager
def child_group():
    """The run's group while open; nested (validate converting a checkpoint first) it is the outer one."""
    global _current
    if _current is not None:
        yield _current
        return
    group = _current = ChildGroup()
    try:
        yield group
    except BaseException:
        try:  # _current stays set meanwhile: a child started now still joins the (dead) group, so fails
            group.close(abort=True)
        finally:
            _current = None
        raise
    try:
        group.close(abort=False)
    finally:
        _current = None


def in_group() -> dict:
    """Popen keyword arguments that put a child in the run's group (none open: none)."""
    return {"process_group": _current.pgid} if _current is not None else {}


def track(future):
    """A future whose thread starts children in the group: the group waits for it before it closes."""
    if _current is not None:
        _current.pending.append(future)
    return future


@contextlib.contextmanager
def stop_signals_blocked():
    """Block the stop signals in this thread while children are started: they inherit the mask. A signal that
    arrives meanwhile is delivered on unblocking (or to another thread), not lost."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker_start(parent: int, pgid: int | None, initializer, initargs: tuple) -> None:
    # here as well as at the start: spawn may start a worker on a later submit, outside stop_signals_blocked
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    die_with_parent(parent)
    if pgid is not None:
        try:
            os.setpgid(0, pgid)
        except OSError:  # the group is gone: so is the run
            os._exit(1)
    if initializer is not None:
        initializer(*initargs)


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker without its leak warnings. It outlives a parent killed by
    SIGKILL by a moment, removes the semaphores the pools left, and used to tell the caller's stderr so."""
    from multiprocessing import resource_tracker

    from .environ import environ_set

    quiet = "ignore:resource_tracker:UserWarning"  # the tracker takes its warning filters from the environment
    with environ_set(PYTHONWARNINGS=",".join(w for w in (os.environ.get("PYTHONWARNINGS"), quiet) if w)):
        resource_tracker.ensure_running()


class WorkerPool:
    """A spawn ProcessPoolExecutor (`.ex`) whose `jobs` workers start now, with the stop signals blocked, die
    with this process, and sit in the run's group. Leaving on an exception kills them at once."""

    def __init__(self, jobs: int, initializer=None, initargs: tuple = ()):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        _quiet_resource_tracker()
        pgid = _current.pgid if _current is not None else None
        # an executor, not a Pool: a worker that cannot start raises BrokenProcessPool instead of hanging
        self.ex = ProcessPoolExecutor(jobs, mp.get_context("spawn"), _worker_start,
                                      (os.getpid(), pgid, initializer, initargs))
        with stop_signals_blocked():  # spawn starts a worker per submit while none is idle
            for _ in range(jobs):
                self.ex.submit(int, 0)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            # private, and stable since 3.9; 3.14's kill_workers() does the same
            for p in list((self.ex._processes or {}).values()):
                with contextlib.suppress(OSError):
                    p.kill()
        self.ex.shutdown(wait=True, cancel_futures=True)
