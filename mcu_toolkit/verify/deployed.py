"""The deployed pipeline, as the device runs it: front end -> int8 model on TFLM, window by window."""

from __future__ import annotations

import numpy as np

from ..audio import Windowed, to_pcm16
from ..errors import ToolkitError
from ..frontend import fixed

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
        return np.concatenate([model.frontend(x[i:i + 32]).numpy() for i in range(0, len(x), 32)])


def device_input_s8(model, window: np.ndarray, kind: str, dev) -> np.ndarray:
    """The int8 tensor the device hands TFLM for one window (NHWC)."""
    shape = tuple(dev.input["shape"])
    if kind == "fixed":
        t = fixed_tables(model.config.n_mels)
        q = fixed.InputQuant.from_scale(dev.in_scale, dev.in_zero)
        return fixed.quantize_s8(fixed.window_logmel_q7(to_pcm16(window), t), q).reshape(shape)
    return dev.quantize(frontend_db(model, [window], "float")[0].transpose(1, 2, 0))


def run_clips(model, dev, clips: list[Windowed], kind: str, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(float model, deployed pipeline) outputs per clip, each the mean over the clip's windows.

    The float model runs the same windows with its own float front end, so the figures isolate
    what deployment changes (front end arithmetic + int8), not windowing.
    """
    import torch

    f_out, d_out = [], []
    with torch.no_grad():
        for clip in clips:
            x = torch.from_numpy(np.stack(clip.windows).astype(np.float32))
            f_out.append(model(x).numpy().mean(axis=0))
            outs = []
            for w in clip.windows:
                q = dev.run_int8(device_input_s8(model, w, kind, dev))
                outs.append((q.astype(np.float32) - dev.out_zero) * dev.out_scale)
            d_out.append(np.mean(outs, axis=0))
            if progress is not None:
                progress.update(1)
    return np.array(f_out), np.array(d_out)
