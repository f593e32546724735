"""One pool of spawned workers for the evaluation, convert's (per clip) and validate's (per file).

A task is `work(state, item)`, where `state = build(*setup)` is built once per worker and setup, and kept for
its later items: a model is loaded once, not once per clip. The workers are lifetime.WorkerPool's: they die
with this process, sit in the run's group, and are killed, not waited for, when the run is stopped.
"""

from __future__ import annotations

from ..environ import environ_set

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_STATE: dict = {}  # in a worker: the setup its state was built from, and that state


def one_blas_thread_per_worker():
    """While it is open, spawned workers start numpy with one BLAS thread each. Two workers that each run
    OpenBLAS's own thread pool on two cores mostly contend: 41 evaluation windows took 6.8 s on 2 workers
    that way, 4.2 s with one thread each. The results are the same (the mirror's matmuls are exact)."""
    return environ_set(**{k: "1" for k in BLAS_THREAD_VARS})


def one_blas_thread_here():
    """This process's BLAS on one thread while open. validate's float log-mel multiplies 999 x 33 by 33 x 26 per
    window: 0.05 ms on one OpenBLAS thread, 0.13 ms on two, and 2.6 ms on two when the other core is busy (their
    hand-off costs more than the work). Threads split the rows, so each sum, and so each bit, is the same."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _task(build, setup: tuple, work, item):
    if _STATE.get("setup") != setup:
        _STATE.clear()  # the old state goes first: two models need not fit at once
        _STATE.update(setup=setup, state=build(*setup))
    return work(_STATE["state"], item)


class EvalPool:
    """`jobs` spawned workers, started now: convert starts them while TensorFlow quantises, so that their
    start-up is off the critical path. `warm()` runs in each as it starts (imports, say)."""

    def __init__(self, jobs: int, warm=None):
        from ..lifetime import WorkerPool

        with one_blas_thread_per_worker():
            self.pool = WorkerPool(jobs, warm)

    def __enter__(self) -> "EvalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.__exit__(*exc)

    def submit(self, build, setup: tuple, work, items: list) -> list:
        """One future per item, each `work(build(*setup), item)` on a worker (build, work: module-level
        functions, setup and items picklable)."""
        return [self.pool.ex.submit(_task, build, setup, work, item) for item in items]

    @staticmethod
    def collect(futures: list, bar=None, here=None) -> list:
        """The futures' results in order. here(i): item i computed in this process, which takes the items no
        worker has started yet, from the last one back, instead of waiting idle."""
        out: list = [None] * len(futures)
        done = [False] * len(futures)
        if here is not None:
            for i in reversed(range(len(futures))):
                if not futures[i].cancel():
                    break  # the workers have this one and every item before it
                out[i], done[i] = here(i), True
                if bar is not None:
                    bar.update(1)
        for i, f in enumerate(futures):
            if not done[i]:
                out[i] = f.result()
                if bar is not None:
                    bar.update(1)
        return out
