"""The deployed pipeline, as the device runs it: front end -> int8 model on TFLM, window by window."""

from __future__ import annotations

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


def deployed_window(dev, window: np.ndarray, kind: str, n_mels: int) -> np.ndarray:
    """(3,) float: one window through the device's front end and the int8 model on TFLM."""
    x = device_input_s8(window, kind, n_mels, dev.in_scale, dev.in_zero)
    return dev.dequantize(dev.run_int8(x.reshape(tuple(dev.input["shape"]))))


def deployed_clip_outputs(model, dev, clips: list[Windowed], kind: str, progress=None) -> np.ndarray:
    """(clips, 3): the deployed pipeline (front end -> int8 on TFLM) on the same windows, mean over windows."""
    d_out = []
    for clip in clips:
        d_out.append(np.mean([deployed_window(dev, w, kind, model.config.n_mels) for w in clip.windows], axis=0))
        if progress is not None:
            progress.update(1)
    return np.array(d_out)


_POOL: dict = {}


def ignore_sigint() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the pool); no traceback per worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_init(tflite: bytes, arena: int, kind: str, n_mels: int) -> None:
    from .tflm import TflmModel

    ignore_sigint()
    _POOL.update(dev=TflmModel(tflite, arena_size=arena), kind=kind, n_mels=n_mels)


def _pool_clip(windows: list[np.ndarray]) -> np.ndarray:
    return np.mean([deployed_window(_POOL["dev"], w, _POOL["kind"], _POOL["n_mels"]) for w in windows], axis=0)


def deployed_clip_outputs_parallel(tflite: bytes, arena: int, clips: list[Windowed], kind: str, n_mels: int,
                                   jobs: int, progress=None) -> np.ndarray:
    """deployed_clip_outputs on `jobs` processes, each with its own TFLM interpreter: the same numbers
    (TFLM is deterministic), in about 1/jobs of the time; TFLM's invoke holds the GIL, so threads would not."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    out = []
    # an executor, not a Pool: a worker that cannot start raises BrokenProcessPool instead of hanging
    with ProcessPoolExecutor(jobs, mp.get_context("spawn"), _pool_init, (tflite, arena, kind, n_mels)) as ex:
        for r in ex.map(_pool_clip, [c.windows for c in clips]):
            out.append(r)
            if progress is not None:
                progress.update(1)
    return np.array(out)


def run_clips(model, dev, clips: list[Windowed], kind: str, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(float model, deployed pipeline) outputs per clip, each the mean over the clip's windows.

    The float model runs the same windows with its own float front end, so the figures isolate
    what deployment changes (front end arithmetic + int8), not windowing.
    """
    return float_clip_outputs(model, clips), deployed_clip_outputs(model, dev, clips, kind, progress)
