"""The engine's trunk against TFLM's own tensors: every int8 value, every layer."""

from __future__ import annotations

import numpy as np

from ..errors import CheckFailed


def preserving_interpreter(tflite: bytes, window_values: int):
    """A TFLM interpreter that keeps every tensor (kPreserveAllTensors), for windows of that many values."""
    from tflite_micro import runtime

    from .tflm import captured_native_stderr

    with captured_native_stderr():
        return runtime.Interpreter.from_bytes(tflite, arena_size=max(64 << 20, 64 * window_values),
                                              intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)


def tflm_tensors(tflite: bytes, x_s8: np.ndarray, indices: list[int], it=None) -> tuple[dict[int, np.ndarray],
                                                                                         np.ndarray]:
    """TFLM's int8 tensors for one window (T, mels), kept with kPreserveAllTensors, and its int8 output."""
    from .tflm import captured_native_stderr

    it = it if it is not None else preserving_interpreter(tflite, x_s8.size)
    with captured_native_stderr():
        it.set_input(x_s8.reshape(1, *x_s8.shape, 1), 0)
        it.invoke()
        return ({i: np.array(it.GetTensor(i, 0)["tensor_data"]) for i in indices},
                np.array(it.get_output(0)).reshape(-1))


def tflm_trunk_tensors(tflite: bytes, x_s8: np.ndarray, indices: list[int]) -> dict[int, np.ndarray]:
    return tflm_tensors(tflite, x_s8, indices)[0]


def compare_trunk(tflite: bytes, engine, windows: list[np.ndarray], tail=None, tail_must_match: bool = True) -> dict:
    """Differing values per window over every trunk tensor; CheckFailed on any difference.

    tail: TFLM running the model's tail only (tflm.tail_model), which the evaluation feeds with the
    engine's features; its int8 outputs must equal the whole model's on TFLM, byte for byte (CheckFailed,
    or only counted with tail_must_match=False: the caller can run the whole model instead)."""
    values = differing = outputs_differing = 0
    it = preserving_interpreter(tflite, max(x.size for x in windows))  # every window has the model's shape
    for x in windows:
        ours = engine.trunk(x)
        theirs, out = tflm_tensors(tflite, x, list(ours), it)
        for i, a in ours.items():
            b = theirs[i].reshape(a.shape)
            values += a.size
            differing += int(np.count_nonzero(a != b))
        if tail is not None:  # the features tensor is the last trunk layer's, already computed
            f = ours.get(engine.graph.features_tensor)
            f = engine.features(x) if f is None else f
            outputs_differing += int(np.count_nonzero(tail.run_int8(f[None]) != out))
    if differing:
        raise CheckFailed(f"the w2s engine's trunk differs from TFLM in {differing} of {values} int8 values")
    if outputs_differing and tail_must_match:
        raise CheckFailed(f"TFLM's tail on the engine's features differs from the whole model on TFLM in "
                          f"{outputs_differing} int8 outputs")
    check = {"windows": len(windows), "tensors": len(engine.graph.trunk_tensors), "values": values,
             "differing": differing}
    if tail is not None:
        check["tail_outputs_differing"] = outputs_differing
    return check
