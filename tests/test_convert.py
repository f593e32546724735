"""A real convert of the embedded default: onnx2tf -> int8 TFLite -> TFLM, and the C it emits."""

import json
import re
from pathlib import Path
import shutil
import subprocess

import numpy as np
import pytest
import torch

import cbuild
from helpers import FRAMES, MELS, WINDOW, needs_arm_gcc
from mcu_toolkit.audio import cut_windows
from mcu_toolkit.verify import tflm
from mcu_toolkit.verify.ccc import ccc_per_dim

pytestmark = pytest.mark.slow

EXPECTED_FILES = {"model_int8.tflite", "model_float32.tflite", "model.onnx", "model_data.h", "model_data.c",
                  "model_ops.h", "model_config.h", "report.json", "report.md", "w2s_frontend.h", "w2s_frontend.c",
                  "w2s_frontend_tables.h", "w2s_frontend_tables.c", "w2s_engine.h", "w2s_engine.c",
                  "w2s_engine_kernels.h", "w2s_engine_requant.h", "w2s_engine_conv.c", "w2s_engine_maxpool.c",
                  "w2s_engine_conv_mve.c", "w2s_engine_conv_neon.c", "w2s_engine_conv_x86.c",
                  "w2s_engine_layer.h", "w2s_engine_model.h", "w2s_engine_model.c", "engine_head.json"}


def test_bundle_contents(bundle):
    assert {p.name for p in bundle.out.iterdir()} == EXPECTED_FILES
    r = json.loads((bundle.out / "report.json").read_text())
    for key in ("tflite_bytes", "arena_bytes", "ops", "input_shape", "window_seconds", "macs", "model",
                "versions", "ccc"):
        assert key in r
    assert "params" not in r and r["model"]["params"] == 10806  # one key per fact
    assert r["input_shape"] == [1, FRAMES, MELS, 1]
    assert r["tflite_bytes"] == (bundle.out / "model_int8.tflite").stat().st_size
    assert r["versions"]["onnx2tf"] == "1.28.8" and r["versions"]["tensorflow"] == "2.21.0"
    assert set(r["ccc"]) == {"arousal", "dominance", "valence"}
    fe = r["frontend"]
    assert fe["kind"] == "fixed" and fe["table_bytes"] > 1000 and fe["ram_bytes"] > fe["state_bytes"] > 0


def test_int8_input_output_and_ops(bundle):
    tfl = (bundle.out / "model_int8.tflite").read_bytes()
    m = tflm.TflmModel(tfl, arena_size=bundle.report.arena_bytes)
    assert m.input["dtype"] == np.int8 and m.output["dtype"] == np.int8
    ops = tflm.model_ops(tfl)
    assert "CONV_2D" in ops and "FULLY_CONNECTED" in ops
    # the pooling is exported in its int8-friendly form: no int8 SOFTMAX over ~500 frames
    assert "SOFTMAX" not in ops and {"LOGISTIC", "DIV", "REDUCE_MAX"} <= set(ops)
    resolver = re.findall(r"r\.(Add\w+)\(\)", (bundle.out / "model_ops.h").read_text())
    assert len(resolver) == len(ops) == len(set(resolver))
    assert "MicroMutableOpResolver<W2S_OP_COUNT>" in (bundle.out / "model_ops.h").read_text()
    assert f"#define W2S_OP_COUNT {len(ops)}" in (bundle.out / "model_ops.h").read_text()


def test_arena_is_the_smallest_that_works(bundle):
    tfl = (bundle.out / "model_int8.tflite").read_bytes()
    measured, recorded = bundle.report.arena_bytes_measured, bundle.report.arena_bytes
    q = np.zeros((1, FRAMES, MELS, 1), np.int8)
    assert tflm._loads_and_runs(tfl, measured, q)
    assert not tflm._loads_and_runs(tfl, measured - 256, q)
    assert measured < recorded <= measured * 1.1 + 1024
    # measured with the tflite-micro wheel: ~357 KB at 1 s, so about 700 KB at 2 s
    assert 600_000 < measured < 800_000


def test_int8_on_tflm_tracks_float_on_heldout(bundle, default_model, heldout):
    """Rerun the deployed pipeline from the emitted bundle: the integer front end (Python reference,
    bit-exact with the C) -> int8 on TFLM, against the float model on the same windows."""
    from mcu_toolkit.audio import to_pcm16
    from mcu_toolkit.dsp import fixed

    tfl = (bundle.out / "model_int8.tflite").read_bytes()
    dev = tflm.TflmModel(tfl, arena_size=bundle.report.arena_bytes)
    h = (bundle.out / "model_config.h").read_text()
    quant = fixed.InputQuant.from_scale(float(re.search(r"W2S_INPUT_SCALE ([0-9.e-]+)f", h).group(1)),
                                        int(re.search(r"W2S_INPUT_ZERO_POINT \((-?\d+)\)", h).group(1)))
    _, wavs, _ = heldout
    f_out, q_out = [], []
    with torch.no_grad():
        for w in wavs:
            wins, _ = cut_windows(w, WINDOW)
            f_out.append(default_model(torch.from_numpy(np.stack(wins))).numpy().mean(axis=0))
            outs = []
            for win in wins:
                q = fixed.quantize_s8(fixed.window_logmel_q7(to_pcm16(win)), quant).reshape(1, FRAMES, MELS, 1)
                outs.append(dev.dequantize(dev.run_int8(q)))
            q_out.append(np.mean(outs, axis=0))
    c = ccc_per_dim(np.array(q_out), np.array(f_out))
    assert all(v >= 0.95 for v in c.values()), c
    for k, v in c.items():
        assert v == pytest.approx(bundle.report.tflm.ccc[k], abs=1e-6)  # the TFLM path's figures
        assert bundle.report.ccc[k] >= v  # and the w2s engine (report.ccc, the gate's) does at least as well
    assert np.std(np.array(q_out), axis=0).min() >= 0.05  # the int8 model still responds to audio


def test_litert_agrees_with_tflm_within_a_few_lsb(bundle):
    from ai_edge_litert.interpreter import Interpreter

    tfl = (bundle.out / "model_int8.tflite").read_bytes()
    lrt = Interpreter(model_content=tfl)
    lrt.allocate_tensors()
    dev = tflm.TflmModel(tfl, arena_size=bundle.report.arena_bytes)
    rng = np.random.default_rng(0)
    worst = 0
    for _ in range(3):
        q = rng.integers(-128, 128, size=(1, FRAMES, MELS, 1), dtype=np.int8)
        lrt.set_tensor(lrt.get_input_details()[0]["index"], q)
        lrt.invoke()
        a = lrt.get_tensor(lrt.get_output_details()[0]["index"]).astype(int).ravel()
        worst = max(worst, int(np.max(np.abs(a - dev.run_int8(q).astype(int)))))
    assert worst <= 4


def test_model_data_c_holds_the_exact_flatbuffer(bundle):
    text = (bundle.out / "model_data.c").read_text()
    body = text[text.index("{", text.index("g_w2s_model_data[]")) + 1:text.index("};")]
    data = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body))
    assert data == (bundle.out / "model_int8.tflite").read_bytes()
    assert f"g_w2s_model_data_len = {len(data)}u;" in text
    assert "W2S_ALIGN16 const unsigned char g_w2s_model_data[]" in text


def test_model_config_matches_the_model(bundle):
    h = (bundle.out / "model_config.h").read_text()
    r = json.loads((bundle.out / "report.json").read_text())
    assert f"#define W2S_ARENA_BYTES {r['arena_bytes']}u" in h
    assert f"#define W2S_FRAMES_PER_WINDOW {FRAMES}u" in h and f"#define W2S_WINDOW_SAMPLES {WINDOW}u" in h
    assert f"#define W2S_INPUT_ZERO_POINT ({r['input_quant']['zero_point']})" in h
    scale = float(re.search(r"W2S_INPUT_SCALE ([0-9.e-]+)f", h).group(1))
    assert scale == pytest.approx(r["input_quant"]["scale"], rel=1e-7)


CHECK_PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "model_config.h"
#include "model_data.h"
#include "w2s_frontend.h"

static const int dims[] = W2S_INPUT_DIMS;

int check(void) {
    if (((uintptr_t)g_w2s_model_data & 15u) != 0) return 1;
    if (memcmp(g_w2s_model_data + 4, "TFL3", 4) != 0) return 2;
    if (dims[1] != (int)W2S_FRAMES_PER_WINDOW || dims[2] != (int)W2S_N_MELS) return 3;
    if (W2S_WINDOW_SAMPLES != (W2S_FRAMES_PER_WINDOW - 1u) * W2S_HOP_SAMPLES + 64u) return 4;
    if (g_w2s_frontend_config.window_samples != W2S_WINDOW_SAMPLES) return 5;
    if (g_w2s_frontend_config.input_zero_point != W2S_INPUT_ZERO_POINT) return 6;
    return 0;
}

#ifdef HOST_MAIN
int main(void) {
    int rc = check();
    printf("len=%u rc=%d\n", g_w2s_model_data_len, rc);
    return rc;
}
#endif
"""


def test_emitted_c_compiles_and_runs_on_host(bundle, tmp_path):
    (tmp_path / "check.c").write_text(CHECK_PROGRAM)
    exe = tmp_path / "check"
    cbuild.build([tmp_path / "check.c", *cbuild.c_files(bundle.out)], exe, opt="-O0", flags=["-DHOST_MAIN"],
                 includes=[bundle.out])
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert f"len={bundle.report.tflite_bytes}" in r.stdout


@needs_arm_gcc
def test_emitted_c_compiles_for_cortex_m4(bundle, tmp_path):
    (tmp_path / "check.c").write_text(CHECK_PROGRAM)
    cbuild.objects([*cbuild.c_files(bundle.out), tmp_path / "check.c"], tmp_path, "cortex-m4f", opt="-O0",
                   includes=[bundle.out])
    size = subprocess.run(["arm-none-eabi-size", "-A", str(tmp_path / "model_data.o")],
                          capture_output=True, text=True, check=True).stdout
    rodata = int(re.search(r"^\.rodata\s+(\d+)", size, re.M).group(1))
    assert rodata >= bundle.report.tflite_bytes  # the model lives in flash (.rodata), not RAM
    assert not re.search(r"^\.data\s+[1-9]", size, re.M)


def _convert_in(env_dir, tmp_path, path_dirs, threads):
    """A convert as a user would run it from a differently prepared shell: its own PATH, cwd and TMPDIR."""
    import os
    import sys

    cwd, tmpdir = tmp_path / f"{env_dir}_cwd", tmp_path / f"{env_dir}_tmp"
    cwd.mkdir()
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=os.pathsep.join(map(str, path_dirs)), TMPDIR=str(tmpdir), OMP_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, "-m", "mcu_toolkit.cli", "convert", "--out", "bundle", "--quiet"],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return cwd / "bundle"


def test_converts_are_byte_identical_whatever_the_shell_and_never_use_an_onnx2tf_on_path(bundle, tmp_path):
    """Venv activated or not, any cwd, TMPDIR and thread count: the same bytes. An onnx2tf or onnxsim
    first on PATH (another environment's, say) is never run: these fakes would fail the convert."""
    import sys

    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for tool in ("onnx2tf", "onnxsim"):
        (fakes / tool).write_text("#!/bin/sh\necho 'the wrong one' >&2\nexit 99\n")
        (fakes / tool).chmod(0o755)
    venv_bin = Path(sys.executable).parent
    a = _convert_in("a", tmp_path, [fakes, venv_bin, "/usr/bin", "/bin"], 1)
    b = _convert_in("b", tmp_path, ["/usr/bin", "/bin"], 2)  # the venv not on PATH at all
    names = sorted(EXPECTED_FILES - {"report.json", "report.md"})
    differ = [(n, d.name) for n in names for d in (a, b) if (d / n).read_bytes() != (bundle.out / n).read_bytes()]
    assert differ == []
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
    ra.pop("timings_s"), rb.pop("timings_s")
    assert ra == rb


def test_shorter_window_with_the_float_front_end(tmp_path):
    from mcu_toolkit.convert import convert

    res = convert(out=tmp_path / "w1", window_seconds=1.0, frontend="float", progress=False)
    r = json.loads((res.out / "report.json").read_text())
    assert r["input_shape"] == [1, 499, 26, 1] and r["frames_per_window"] == 499
    assert r["frontend"]["kind"] == "float" and not list(res.out.glob("w2s_frontend*"))
    assert "front end used for calibration and drift | float" in (res.out / "report.md").read_text()
    assert 300_000 < r["arena_bytes_measured"] < 400_000  # measured with the tflite-micro wheel: 357 KB at 1 s
    assert all(v >= 0.9 for v in r["ccc"].values()), r["ccc"]
    # validate on that bundle says which front end its deployed path runs (it used to say fixed-point)
    from mcu_toolkit import resources
    from mcu_toolkit.verify.validation import table, validate

    clips = tmp_path / "clips"
    clips.mkdir()
    for f in sorted(resources.default_eval_dir().glob("*.flac"))[:2]:
        shutil.copy(f, clips)
    text = table(validate(res.out, clips, progress=False))
    assert "deployed = float log-mel (a --frontend float bundle" in text and "fixed-point" not in text, text


def test_tflm_names_a_missing_op(bundle):
    """A model with an op TFLM has no kernel for fails with one clear line naming the op."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from mcu_toolkit.errors import ToolkitError

    m = schema.ModelT.InitFromPackedBuf((bundle.out / "model_int8.tflite").read_bytes(), 0)
    for oc in m.operatorCodes:
        if oc.builtinCode == schema.BuiltinOperator.DIV:
            oc.builtinCode = oc.deprecatedBuiltinCode = schema.BuiltinOperator.SKIP_GRAM
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(ToolkitError, match="no kernel for op\\(s\\) SKIP_GRAM") as e:
        tflm.TflmModel(bytes(b.Output()), arena_size=bundle.report.arena_bytes)
    assert e.value.exit_code == 1


def test_a_checkpoint_in_the_card_layout_converts(bundle, tmp_path):
    """Saved from the card's own class: amin of shape (1,), num_batches_tracked, librosa's melW, the card's
    DFT, a transformers-style config.json. It converts to the very model the reference gives."""
    from safetensors.torch import load_file

    from helpers import card_state_dict, trainable, write_card_checkpoint
    from mcu_toolkit import resources
    from mcu_toolkit.convert import convert

    ref = load_file(str(resources.default_checkpoint() / "model.safetensors"))
    card = write_card_checkpoint(tmp_path / "card", card_state_dict(trainable(ref)))
    res = convert(card, out=tmp_path / "out", progress=False)
    assert (res.out / "model_int8.tflite").read_bytes() == (bundle.out / "model_int8.tflite").read_bytes()
    for d, v in bundle.report.ccc.items():
        assert res.report.ccc[d] == pytest.approx(v, abs=1e-4)


def test_sigterm_during_onnx2tf_leaves_no_debris_and_no_orphan(tmp_path):
    import os
    import signal
    import sys
    import time

    import psutil

    ws, tmpdir = tmp_path / "ws", tmp_path / "tmp"
    ws.mkdir()
    tmpdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "mcu_toolkit.cli", "convert", "--out", str(ws / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    parent = psutil.Process(proc.pid)
    children: list = []
    deadline = time.time() + 120
    while time.time() < deadline and not children:
        children = parent.children(recursive=True)
        time.sleep(0.2)
    assert children, "onnx2tf never started"
    time.sleep(2.0)  # let it get going: TensorFlow imported, files open
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "error: terminated; no output written"
    # onnxruntime writes a 51-byte telemetry session id, $TMPDIR/.ses, when it is imported: not ours
    assert os.listdir(ws) == [] and set(os.listdir(tmpdir)) <= {".ses"}
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def _quantize_alone(bundle, work: Path, helping: bool) -> tuple[bytes, set[str], list[str]]:
    """The bundle's ONNX through a TfWorker of our own, the parent helping with the calibration or not."""
    from mcu_toolkit.convert import calibration_features, check_inputs
    from mcu_toolkit.spec import ONNX_INPUT_NAME
    from mcu_toolkit.export.tflite import TfWorker

    feats = calibration_features(check_inputs(None, None, None, 2.0, "fixed"))
    work.mkdir()
    with TfWorker(work) as w:
        w.submit((bundle.out / "model.onnx").read_bytes(), feats.transpose(0, 2, 3, 1).copy(), ONNX_INPUT_NAME)
        if not helping:
            w.calibration = None
        int8 = w.int8()
        files = {p.name for p in w.out.iterdir()}
    return int8, files, w.notes


def test_the_shared_calibration_gives_the_bytes_of_one_pass(bundle, tmp_path, monkeypatch):
    """The child calibrates half the windows and this process the other half (export/calibration.py); the
    merged min/max must give the int8 model one calibrator gives over all windows, byte for byte: shared,
    and done by the child alone, once because the parent never offers and once because the parent's
    calibrator fails (which the worker reports)."""
    from mcu_toolkit.export import calibration

    want = (bundle.out / "model_int8.tflite").read_bytes()
    shared, files, notes = _quantize_alone(bundle, tmp_path / "shared", helping=True)
    assert shared == want and calibration.PART in files and notes == []
    alone, files, notes = _quantize_alone(bundle, tmp_path / "alone", helping=False)
    assert alone == want and calibration.PART not in files and notes == []

    def broken(extension):
        raise ImportError(f"no calibration extension at {extension}")

    monkeypatch.setattr(calibration, "calibration_wrapper", broken)
    declined, files, notes = _quantize_alone(bundle, tmp_path / "declined", helping=True)
    assert declined == want and calibration.FAILED in files and calibration.PART not in files
    assert len(notes) == 1 and "no calibration extension" in notes[0]
