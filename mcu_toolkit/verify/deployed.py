"""The deployed pipelines, as the device runs them, window by window: the front end, then either our
streaming engine (its numpy mirror, bit-exact with the C) or the int8 model on TFLM."""

from __future__ import annotations

import numpy as np

from ..audio import Windowed, to_pcm16
from ..errors import ToolkitError
from ..dsp import fixed, float_ref



def fixed_tables(n_mels: int) -> fixed.Tables:
    try:
        return fixed.tables(n_mels)
    except ValueError as e:
        raise ToolkitError(f"fixed-point front end: {e}; use --frontend float")


_HOST: dict = {}  # this process's compiled libraries: the front end by (mels, samples), the engine by model


def host_frontend(n_mels: int, window_samples: int):
    """The fixed front end compiled for this host (native.py), or None: no compiler. Its dB Q7 are
    fixed.window_logmel_q7's (tests/test_native.py); a model's quantiser is not needed for them."""
    key = ("frontend", n_mels, window_samples)
    if key not in _HOST:
        from ..emit.c_frontend import frontend_files
        from ..spec import frames
        from . import native

        t = fixed_tables(n_mels)
        _HOST[key] = native.load(None, frontend_files(t, None, 0), frames(window_samples), n_mels=n_mels)
    return _HOST[key]


def pipeline_frontend(engine, kind: str, window_samples: int) -> dict[str, str] | None:
    """The front-end files a host library for this engine is built with: the fixed front end with the model's input
    quantiser and window, so that convert builds the very library validate later finds in the cache; None (the
    engine alone) for a float front end."""
    if kind != "fixed" or not window_samples:
        return None
    from ..emit.c_frontend import frontend_files

    q = engine.graph.input
    return frontend_files(fixed_tables(engine.graph.n_mels), fixed.InputQuant.from_scale(q.scale, q.zero),
                          window_samples)


def host_engine(engine, kind: str = "float", window_samples: int = 0):
    """The engine (with the pipeline: pipeline_frontend) compiled for this host, or None: no compiler (the
    mirror's numbers either way)."""
    key = ("engine", id(engine), kind, window_samples)  # the entry holds the engine: its id stays unused
    if key not in _HOST:
        from ..spec import frames
        from . import native

        for k in [k for k in _HOST if k[0] == "engine"]:
            del _HOST[k]  # one model at a time: a worker's earlier model is done
        front = pipeline_frontend(engine, kind, window_samples)
        _HOST[key] = (engine, native.load(engine, front, frames(window_samples) if front else 0))
    return _HOST[key][1]


def feature_rows(graph, frames: int) -> int:
    """Rows of the trunk's output (the features tensor) for a window of `frames` rows."""
    for layer in graph.layers:
        frames = layer.out_rows(frames)
    return frames


def window_dbs_q7(windows: list[np.ndarray], n_mels: int) -> list[np.ndarray]:
    """fixed.window_logmel_q7 of each float window (all the same length): compiled when this host can."""
    host = host_frontend(n_mels, len(windows[0])) if windows else None
    if host is None:
        t = fixed_tables(n_mels)
        return [fixed.window_logmel_q7(to_pcm16(w), t) for w in windows]
    return list(host.db_q7(to_pcm16(np.stack(windows))))


def frontend_db(model, windows: list[np.ndarray], kind: str) -> np.ndarray:
    """Log-mel in dB, (N, 1, T, mels) float32, from the chosen front end.

    "fixed" is the integer front end the device runs (its dB Q7 / 128); "float" is the model's own.
    """
    if kind == "fixed":
        db = window_dbs_q7(windows, model.config.n_mels)
        return (np.stack(db).astype(np.float32) / 128.0)[:, None]
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.stack(windows).astype(np.float32))
        return np.concatenate([model.float_logmel(x[i:i + 32]).numpy() for i in range(0, len(x), 32)])


def device_db(window: np.ndarray, kind: str, n_mels: int) -> np.ndarray:
    """The log-mel the device computes for one window, (frames, mels), before the model's input scale:
    "fixed": the integer front end's dB Q7 (bit-exact with w2s_frontend.c); "float": the float dB."""
    if kind == "fixed":
        return fixed.window_logmel_q7(to_pcm16(window), fixed_tables(n_mels))
    return float_ref.logmel_float(window, n_mels)


def db_to_s8(db: np.ndarray, kind: str, scale: float, zero_point: int) -> np.ndarray:
    """device_db's output in the model's int8 input: the integer quantiser for "fixed", rounding for "float"."""
    if kind == "fixed":
        return fixed.quantize_s8(db, fixed.InputQuant.from_scale(scale, zero_point))
    return np.clip(np.round(db / scale) + zero_point, -128, 127).astype(np.int8)


def device_input_s8(window: np.ndarray, kind: str, n_mels: int, scale: float, zero_point: int) -> np.ndarray:
    """The int8 log-mel the device hands the model for one window, (frames, mels)."""
    return db_to_s8(device_db(window, kind, n_mels), kind, scale, zero_point)


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
    """(3,) float32: one window through the device's front end and the w2s engine (numpy mirror), as
    w2s_infer_window_f32 runs it: a window with no variance gets the float model's answer (Head.silence)."""
    q = engine.graph.input
    return w2s_answer(engine, device_input_s8(window, kind, n_mels, q.scale, q.zero))


def w2s_answer(engine, x_s8: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
    """(3,) float32 of one window of int8 input on the w2s path, as w2s_infer_window_f32 gives it: a window
    with no variance gets Head.silence, any other runs the engine (from its features tensor, if given)."""
    if engine.silent(x_s8):
        return engine.head.silence.copy()
    return engine.run_features(engine.features(x_s8) if features is None else features)


def both_clip_outputs(dev, engine, dbs: list[np.ndarray], kind: str, tail=None, window: int = 0) -> np.ndarray:
    """(2, 3): one clip, given as each window's device_db, through both deployed paths, [TFLM, w2s engine],
    each the mean over its windows. engine None (a graph it cannot run): TFLM twice.

    tail: TFLM running only the model's pooling tail (tflm.tail_model). TFLM then takes the engine's
    features tensor, proven bit-identical to its own, instead of running the trunk a second time."""
    tflm, w2s = [], []
    host = host_engine(engine, kind, window) if engine is not None else None
    for db in dbs:
        x = db_to_s8(db, kind, dev.in_scale, dev.in_zero)
        if engine is None:
            tflm.append(tflm_step(dev, x))
            w2s.append(tflm[-1])
            continue
        if host is not None:  # the compiled engine: Engine.features and w2s_answer's bits
            shape = (feature_rows(engine.graph, len(x)), engine.graph.pooled_mels, engine.graph.channels)
            f, answer = host.features_s8(x[None], shape)
            f = f[0]
            w2s.append(answer[0])
        else:
            f = engine.features(x)
            w2s.append(w2s_answer(engine, x, f))
        tflm.append(tail.dequantize(tail.run_int8(f[None])) if tail is not None else tflm_step(dev, x))
    return np.array([np.mean(tflm, axis=0), np.mean(np.array(w2s, dtype=np.float64), axis=0)])


def clip_dbs(clips: list[Windowed], kind: str, n_mels: int) -> list[list[np.ndarray]]:
    """Each clip's windows through the device front end: what the model is still unknown for (convert runs
    this while TensorFlow quantises)."""
    if kind == "fixed":
        return [window_dbs_q7(c.windows, n_mels) for c in clips]
    return [[device_db(w, kind, n_mels) for w in c.windows] for c in clips]


def deployed_clip_outputs(dev, engine, dbs: list[list[np.ndarray]], kind: str, progress=None,
                          tail=None, window: int = 0) -> np.ndarray:
    """(2, clips, 3): both deployed paths (TFLM, w2s) on the same windows (clip_dbs), mean over each clip's."""
    out = []
    for clip in dbs:
        out.append(both_clip_outputs(dev, engine, clip, kind, tail, window))
        if progress is not None:
            progress.update(1)
    return np.array(out).transpose(1, 0, 2)


EVAL_ARENA = 64 << 20  # workers may start before the arena is measured; the numbers do not depend on it


def eval_imports() -> None:
    """What a pool worker imports as it starts, while convert waits for TensorFlow anyway."""
    from tflite_micro import runtime  # noqa: F401

    from ..engine import mirror  # noqa: F401
    from . import tflm  # noqa: F401


def clip_models(tflite: bytes, head_json: str | None, kind: str, tail: bytes | None, window: int = 0) -> tuple:
    """A pool worker's state for clip_outputs: TFLM on the model (and on its tail alone), the engine, the front end."""
    from ..engine.mirror import Engine
    from ..engine.tail import Head
    from .tflm import TflmModel

    engine = None if head_json is None else Engine.from_tflite(tflite, Head.from_json(head_json, "head"))
    return (TflmModel(tflite, arena_size=EVAL_ARENA), engine, kind,
            None if tail is None else TflmModel(tail, arena_size=EVAL_ARENA), window)


def clip_outputs(models: tuple, dbs: list[np.ndarray]) -> np.ndarray:
    """(2, 3): one clip on a pool worker, as both_clip_outputs; the same numbers: both paths are deterministic."""
    dev, engine, kind, tail, window = models
    return both_clip_outputs(dev, engine, dbs, kind, tail, window)
