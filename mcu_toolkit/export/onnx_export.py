"""Export the trunk (log-mel -> A/D/V) for one fixed window, and check it against torch."""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch

from ..errors import CheckFailed
from ..model import Trunk, Wav2Small
from ..spec import ONNX_INPUT_NAME

OUTPUT_NAME = "adv"
OPSET = 17


def export_trunk_onnx(model: Wav2Small, frames: int, gram_scale: float = 1.0) -> bytes:
    """ONNX bytes of the trunk with a static (1, 1, frames, n_mels) NCHW input (see Trunk for gram_scale)."""
    dummy = torch.zeros(1, 1, frames, model.config.n_mels)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Trunk(model, gram_scale).eval(), (dummy,), buf, input_names=[ONNX_INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=OPSET, dynamo=False,
                          do_constant_folding=True)
    return buf.getvalue()


def check_onnx_parity(onnx_bytes: bytes, model: Wav2Small, logmels: np.ndarray, atol: float = 1e-3) -> float:
    """Max |onnxruntime - torch| over the given (N, 1, T, M) inputs; raises if above atol."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.no_grad():
        for x in logmels:
            ref = model.trunk(torch.from_numpy(x[None]))[0].numpy()
            got = sess.run(None, {ONNX_INPUT_NAME: x[None].astype(np.float32)})[0][0]
            worst = max(worst, float(np.max(np.abs(ref - got))))
    if worst > atol:
        raise CheckFailed(f"ONNX export disagrees with torch: max abs error {worst:.3g} > {atol}")
    return worst
