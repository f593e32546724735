"""The engine's trunk against TFLM's own tensors: every int8 value, every layer."""

from __future__ import annotations

import numpy as np

from ..errors import CheckFailed


def tflm_trunk_tensors(tflite: bytes, x_s8: np.ndarray, indices: list[int]) -> dict[int, np.ndarray]:
    """TFLM's int8 tensors for one window (T, mels), kept with kPreserveAllTensors."""
    from tflite_micro import runtime

    from .tflm import captured_native_stderr

    with captured_native_stderr():
        it = runtime.Interpreter.from_bytes(tflite, arena_size=max(64 << 20, 64 * x_s8.size),
                                            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
        it.set_input(x_s8.reshape(1, *x_s8.shape, 1), 0)
        it.invoke()
        return {i: np.array(it.GetTensor(i, 0)["tensor_data"]) for i in indices}


def compare_trunk(tflite: bytes, engine, windows: list[np.ndarray]) -> dict:
    """Differing values per window over every trunk tensor; CheckFailed on any difference."""
    values = differing = 0
    for x in windows:
        ours = engine.trunk(x)
        theirs = tflm_trunk_tensors(tflite, x, list(ours))
        for i, a in ours.items():
            b = theirs[i].reshape(a.shape)
            values += a.size
            differing += int(np.count_nonzero(a != b))
    if differing:
        raise CheckFailed(f"the w2s engine's trunk differs from TFLM in {differing} of {values} int8 values")
    return {"windows": len(windows), "tensors": len(engine.graph.trunk_tensors), "values": values,
            "differing": differing}
