"""The deployed pipelines, as the device runs them, window by window: the front end, then either our
streaming engine (its numpy mirror, bit-exact with the C) or the int8 model on TFLM."""

from __future__ import annotations

import contextlib
import os

import numpy as np

from ..audio import Windowed, to_pcm16
from ..errors import ToolkitError
from ..dsp import fixed, float_ref

FRONTENDS = ("fixed", "float")


def fixed_tables(n_mels: int) -> fixed.Tables:
    try:
        return fixed.tables(n_mels)
    except ValueError as e:
        raise ToolkitError(f"fixed-point front end: {e}; use --frontend float")


def frontend_db(model, windows: list[np.ndarray], kind: str) -> np.ndarray:
    """Log-mel in dB, (N, 1, T, mels) float32, from the chosen front end.

    "fixed" is the integer front end the device runs (its dB Q7 / 128); "float" is the model's own.
    """
    if kind == "fixed":
        t = fixed_tables(model.config.n_mels)
        db = [fixed.window_logmel_q7(to_pcm16(w), t) for w in windows]
        return (np.stack(db).astype(np.float32) / 128.0)[:, None]
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.stack(windows).astype(np.float32))
        return np.concatenate([model.float_logmel(x[i:i + 32]).numpy() for i in range(0, len(x), 32)])


def device_input_s8(window: np.ndarray, kind: str, n_mels: int, scale: float, zero_point: int) -> np.ndarray:
    """The int8 log-mel the device hands the model for one window, (frames, mels).

    "fixed": the integer front end and its integer quantiser (bit-exact with w2s_frontend.c);
    "float": the float log-mel, rounded to the model's input scale.
    """
    if kind == "fixed":
        q = fixed.InputQuant.from_scale(scale, zero_point)
        return fixed.quantize_s8(fixed.window_logmel_q7(to_pcm16(window), fixed_tables(n_mels)), q)
    db = float_ref.logmel_float(window, n_mels)
    return np.clip(np.round(db / scale) + zero_point, -128, 127).astype(np.int8)


def float_clip_outputs(model, clips: list[Windowed]) -> np.ndarray:
    """(clips, 3): the float model on each clip's windows, with its own float front end, mean over windows."""
    import torch

    with torch.no_grad():
        return np.array([model(torch.from_numpy(np.stack(c.windows).astype(np.float32))).numpy().mean(axis=0)
                         for c in clips])


def tflm_step(dev, x_s8: np.ndarray) -> np.ndarray:
    """(3,) float: one window of int8 model input (frames, mels) through the int8 model on TFLM."""
    return dev.dequantize(dev.run_int8(x_s8.reshape(tuple(dev.input["shape"]))))


def deployed_window(dev, window: np.ndarray, kind: str, n_mels: int) -> np.ndarray:
    """(3,) float: one window through the device's front end and the int8 model on TFLM."""
    return tflm_step(dev, device_input_s8(window, kind, n_mels, dev.in_scale, dev.in_zero))


def engine_window(engine, window: np.ndarray, kind: str, n_mels: int) -> np.ndarray:
    """(3,) float32: one window through the device's front end and the w2s engine (numpy mirror)."""
    q = engine.graph.input
    return engine.run(device_input_s8(window, kind, n_mels, q.scale, q.zero))


def both_clip_outputs(dev, engine, windows: list[np.ndarray], kind: str, n_mels: int) -> np.ndarray:
    """(2, 3): one clip through both deployed paths, [TFLM, w2s engine], each the mean over its windows.
    The front end runs once per window, for both. engine None (a graph it cannot run): TFLM twice."""
    tflm, w2s = [], []
    for w in windows:
        x = device_input_s8(w, kind, n_mels, dev.in_scale, dev.in_zero)
        tflm.append(tflm_step(dev, x))
        w2s.append(engine.run(x) if engine is not None else tflm[-1])
    return np.array([np.mean(tflm, axis=0), np.mean(np.array(w2s, dtype=np.float64), axis=0)])


def deployed_clip_outputs(dev, engine, clips: list[Windowed], kind: str, n_mels: int, progress=None) -> np.ndarray:
    """(2, clips, 3): both deployed paths (TFLM, w2s) on the same windows, mean over each clip's windows."""
    out = []
    for clip in clips:
        out.append(both_clip_outputs(dev, engine, clip.windows, kind, n_mels))
        if progress is not None:
            progress.update(1)
    return np.array(out).transpose(1, 0, 2)


_POOL: dict = {}
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def one_blas_thread_per_worker():
    """While it is open, spawned workers start numpy with one BLAS thread each. Two workers that each run
    OpenBLAS's own thread pool on two cores mostly contend: 41 evaluation windows took 6.8 s on 2 workers
    that way, 4.2 s with one thread each. The results are the same (the mirror's matmuls are exact)."""
    saved = {k: os.environ.get(k) for k in BLAS_THREAD_VARS}
    os.environ.update({k: "1" for k in BLAS_THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ignore_sigint() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the pool); no traceback per worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_init(tflite: bytes, arena: int, head_json: str, kind: str, n_mels: int) -> None:
    from ..engine.mirror import Engine
    from ..engine.tail import Head
    from .tflm import TflmModel

    ignore_sigint()
    _POOL.update(dev=TflmModel(tflite, arena_size=arena), kind=kind, n_mels=n_mels,
                 engine=None if head_json is None else Engine.from_tflite(tflite, Head.from_json(head_json, "head")))


def _pool_clip(windows: list[np.ndarray]) -> np.ndarray:
    return both_clip_outputs(_POOL["dev"], _POOL["engine"], windows, _POOL["kind"], _POOL["n_mels"])


def deployed_clip_outputs_parallel(tflite: bytes, arena: int, head_json: str | None, clips: list[Windowed], kind: str,
                                   n_mels: int, jobs: int, progress=None) -> np.ndarray:
    """deployed_clip_outputs on `jobs` processes, each with its own TFLM interpreter and engine: the same
    numbers (both are deterministic), in about 1/jobs of the time; TFLM's invoke holds the GIL."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    out = []
    # an executor, not a Pool: a worker that cannot start raises BrokenProcessPool instead of hanging
    with one_blas_thread_per_worker(), ProcessPoolExecutor(jobs, mp.get_context("spawn"), _pool_init,
                                                           (tflite, arena, head_json, kind, n_mels)) as ex:
        for r in ex.map(_pool_clip, [c.windows for c in clips]):
            out.append(r)
            if progress is not None:
                progress.update(1)
    return np.array(out).transpose(1, 0, 2)
