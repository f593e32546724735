"""Baseline: litert-torch (ex ai-edge-torch) PT2E int8 conversion of the same Wav2Small trunk, timed whole.

Runs in its own venv (litert-torch 0.10.0 + torch 2.13.0 CPU; not the project's venv):

    /work/litert-venv/bin/python benchmarks/litert_torch_baseline.py --out /tmp/x.tflite

Same trunk (Trunk with the gram scale our export picks) and same calibration windows (fixed-point front
end dB over the embedded calibration audio) as `mcu-toolkit convert`; litert-torch's PT2EQuantizer with
its symmetric int8 static per-channel config, calibrated on every window, then litert_torch.convert.
Prints one JSON line: wall seconds from before the first import, per-step seconds, size, ops.
"""

import time

T0 = time.perf_counter()  # first statement: the wall clock includes every import

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import litert_torch  # noqa: E402
from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config  # noqa: E402
from litert_torch.quantize.quant_config import QuantConfig  # noqa: E402
from torchao.quantization.pt2e import move_exported_model_to_eval  # noqa: E402
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e  # noqa: E402

from mcu_toolkit.convert import _spread, calibration_features, check_inputs  # noqa: E402
from mcu_toolkit.model import Trunk  # noqa: E402
from mcu_toolkit.model.wav2small import balanced_gram_scale  # noqa: E402
from mcu_toolkit.spec import WINDOW_DEFAULT_S  # noqa: E402


def tflite_ops(buf: bytes) -> list[str]:
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return []
    m = schema.ModelT.InitFromPackedBuf(buf, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), c.customCode) for c in m.operatorCodes]
    return [codes[op.opcodeIndex] for g in m.subgraphs for op in g.operators]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="where to write the int8 .tflite")
    ap.add_argument("--window-seconds", type=float, default=WINDOW_DEFAULT_S)
    args = ap.parse_args()
    steps = {"imports": time.perf_counter() - T0}

    t = time.perf_counter()
    inp = check_inputs(None, None, None, args.window_seconds, "fixed")  # embedded default checkpoint + audio
    feats = calibration_features(inp)  # (N, 1, T, mels) float32 dB
    gram_scale = balanced_gram_scale(inp.model, torch.from_numpy(feats[_spread(len(feats), 64)]))  # as export_onnx
    trunk = Trunk(inp.model, gram_scale).eval()
    steps["calibration_features"] = time.perf_counter() - t

    t = time.perf_counter()
    sample = (torch.from_numpy(feats[:1]),)
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    with torch.no_grad():
        m = prepare_pt2e(torch.export.export(trunk, sample).module(), quantizer)
        for i in range(len(feats)):
            m(torch.from_numpy(feats[i:i + 1]))
        m = move_exported_model_to_eval(convert_pt2e(m, fold_quantize=False))
    steps["prepare_calibrate"] = time.perf_counter() - t

    t = time.perf_counter()
    edge = litert_torch.convert(m, sample, quant_config=QuantConfig(pt2e_quantizer=quantizer))
    buf = edge.model_content()
    Path(args.out).write_bytes(buf)
    steps["convert"] = time.perf_counter() - t

    ops = tflite_ops(buf)
    wall = time.perf_counter() - T0
    # Not timed: the int8 model (int8 in and out) against the float trunk on a few calibration windows.
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=buf)
    it.allocate_tensors()
    (i_d,), (o_d,) = it.get_input_details(), it.get_output_details()
    (si, zi), (so, zo) = i_d["quantization"], o_d["quantization"]
    errs = []
    for x in feats[:8]:
        it.set_tensor(i_d["index"], np.clip(np.round(x[None] / si) + zi, -128, 127).astype(np.int8))
        it.invoke()
        got = (it.get_tensor(o_d["index"]).astype(np.float32) - zo) * so
        with torch.no_grad():
            errs.append(float(np.abs(got - trunk(torch.from_numpy(x[None])).numpy()).max()))
    print(json.dumps({
        "tool": f"litert-torch {litert_torch.__version__}", "torch": torch.__version__,
        "wall_s": round(wall, 2), "steps_s": {k: round(v, 2) for k, v in steps.items()},
        "windows": int(len(feats)), "input_shape": list(feats.shape[1:]), "gram_scale": gram_scale,
        "io_dtypes": [i_d["dtype"].__name__, o_d["dtype"].__name__],
        "tflite_bytes": len(buf), "ops": ops, "op_counts": {o: ops.count(o) for o in sorted(set(ops))},
        "max_abs_err_vs_float_8win": max(errs),
    }))


if __name__ == "__main__":
    main()
