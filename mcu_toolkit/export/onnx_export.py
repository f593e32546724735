"""Export the trunk (log-mel -> A/D/V) for one fixed window, and check it against torch."""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import torch

from ..errors import CheckFailed
from ..model import Trunk, Wav2Small
from ..spec import ONNX_INPUT_NAME

OUTPUT_NAME = "adv"
OPSET = 17


def fold_batchnorm(model: Wav2Small) -> Wav2Small:
    """A copy of the model with every BatchNorm folded into the convolution before it, in float64 and rounded
    to float32 once. torch.onnx.export would fold them itself, in float32 with torch.sqrt, which is MKL's
    vsSqrt: not correctly rounded, and dispatched by CPU vendor and instruction set, so an Intel and an AMD
    CPU exported other weights. numpy's float64 sqrt, product and quotient are IEEE-exact everywhere."""
    folded = copy.deepcopy(model).eval()
    for block in folded.modules():
        conv, norm = getattr(block, "conv", None), getattr(block, "norm", None)
        if not isinstance(norm, torch.nn.BatchNorm2d) or not isinstance(conv, torch.nn.Conv2d):
            continue
        f64 = {k: v.detach().numpy().astype(np.float64) for k, v in
               (("w", conv.weight), ("gamma", norm.weight), ("beta", norm.bias),
                ("mean", norm.running_mean), ("var", norm.running_var))}
        gain = f64["gamma"] / np.sqrt(f64["var"] + norm.eps)
        bias = f64["beta"] - f64["mean"] * gain
        if conv.bias is not None:
            bias = bias + conv.bias.detach().numpy().astype(np.float64) * gain
        fused = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                conv.dilation, conv.groups, bias=True)
        with torch.no_grad():
            fused.weight.copy_(torch.from_numpy((f64["w"] * gain[:, None, None, None]).astype(np.float32)))
            fused.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
        block.conv, block.norm = fused.eval(), torch.nn.Identity()
    return folded


def export_trunk_onnx(model: Wav2Small, frames: int, gram_scale: float = 1.0) -> bytes:
    """ONNX bytes of the trunk with a static (1, 1, frames, n_mels) NCHW input (see Trunk for gram_scale),
    its BatchNorms folded by fold_batchnorm: what is left for the exporter to fold is exact (transposes,
    a division by a power of two)."""
    dummy = torch.zeros(1, 1, frames, model.config.n_mels)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Trunk(fold_batchnorm(model), gram_scale).eval(), (dummy,), buf,
                          input_names=[ONNX_INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=OPSET,
                          dynamo=False, do_constant_folding=True)
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
