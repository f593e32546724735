"""An adversarial corpus: bad inputs of every kind, made by this script (nothing downloaded).

`python tests/adversarial.py DIR` writes it to DIR; the tests build it in a temporary folder.
Each entry is something a new user, or an adversary, hands the CLI.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import card_state_dict, trainable, write_card_checkpoint  # noqa: E402


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def _speechlike(seed: int, n: int = 24000) -> np.ndarray:
    """Different clips a model answers differently: noise bursts through different resonances."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    k = np.exp(-np.arange(64) / (2 + 6 * seed)) * np.cos(np.arange(64) * (0.2 + 0.35 * seed))
    y = np.convolve(x, k, mode="same") * (0.5 + 0.5 * np.sin(np.arange(n) / (300 + 200 * seed)))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _fake_bundle(d: Path, report: dict, hashes: bool = True) -> Path:
    """Every bundle file present (placeholders) and a report.json: enough for firmware's budget check.
    With `hashes` the report records the placeholders' sha256, as a convert does."""
    from mcu_toolkit.bundle import HASHED

    d.mkdir(parents=True)
    for name in HASHED:
        (d / name).write_bytes(b"/* placeholder */\n")
    sha = {n: hashlib.sha256(b"/* placeholder */\n").hexdigest() for n in HASHED}
    (d / "report.json").write_text(json.dumps({**report, "sha256": sha} if hashes else report))
    return d


FAKE_REPORT = {  # every report.json field, with the default model's figures at 2 s
    "checkpoint": "fake", "model": {"channels": 13, "n_mels": 26, "n_fft": 64, "hop": 32, "sample_rate": 16000,
                                    "params": 10806, "params_with_frozen_frontend": 15030},
    "macs": 123_900_000, "gram_scale": 0.5, "window_seconds": 2.0, "window_samples": 32000,
    "frames_per_window": 999, "input_shape": [1, 999, 26, 1], "input_quant": {"scale": 0.47, "zero_point": 85},
    "output_quant": {"scale": 0.004, "zero_point": -60}, "tflite_bytes": 25528, "onnx_bytes": 60000,
    "onnx_max_abs_err_vs_torch": 1e-6, "tflite_float_max_abs_err_vs_onnx": 1e-6, "arena_bytes": 781312,
    "arena_bytes_measured": 709598, "ops": ["CONV_2D"],
    "frontend": {"kind": "fixed", "code_bytes_cortex_m4_Os": 1972, "table_bytes": 2022, "state_bytes": 152,
                 "window_buffer_bytes": 65536},
    "calibration": {"files": 69, "windows": 100, "padded_files": []}, "eval_files": 29, "eval_file_names": [],
    "eval_padded_files": [], "ccc": {"arousal": 0.99, "dominance": 0.99, "valence": 0.99},
    "drift": {"arousal": 0.01, "dominance": 0.01, "valence": 0.01},
    "mean_abs_err": {"arousal": 0.01, "dominance": 0.01, "valence": 0.01},
    "max_abs_err": {"arousal": 0.02, "dominance": 0.02, "valence": 0.02},
    "min_ccc": None, "passed": True, "versions": {}, "messages": [], "timings_s": {},
    "engine": {"name": "w2s", "state_bytes": 8416, "data_bytes": 17000, "code_bytes_cortex_m4_Os": 1800,
               "frontend_store_bytes_per_frame": 64, "frontend_store_bytes": 63936},
}


def build(root: Path) -> dict[str, Path]:
    import torch
    from safetensors.torch import load_file, save_file

    from mcu_toolkit import resources

    root.mkdir(parents=True, exist_ok=True)
    ref = load_file(str(resources.default_checkpoint() / "model.safetensors"))
    c: dict[str, Path] = {}

    def ckpt(name: str, sd: dict) -> Path:
        p = root / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in sd.items()}, str(p))
        return p

    zeros = {k: torch.zeros_like(v) for k, v in trainable(ref).items()}
    c["ckpt_zero_f32"] = write_card_checkpoint(root / "ckpt_zero_f32", card_state_dict(zeros))
    c["ckpt_zero_i32"] = write_card_checkpoint(
        root / "ckpt_zero_i32", card_state_dict({k: v.to(torch.int32) for k, v in zeros.items()}))
    dead = dict(ref)
    dead["adv.weight"] = ref["adv.weight"].clone()
    dead["adv.weight"][2] = 0.0  # valence no longer depends on the audio
    c["ckpt_dead_valence"] = ckpt("dead_valence", dead)
    huge = dict(ref)
    for k in ("vgg7.l1.conv.weight", "vgg7.l2.conv.weight"):
        huge[k] = ref[k] * 1e30  # finite weights whose activations overflow float32
    c["ckpt_inf_outputs"] = ckpt("inf_outputs", huge)
    amin = dict(ref)
    amin["vgg7.logmel_extractor.amin"] = torch.tensor([1e-5])
    c["ckpt_bad_amin"] = ckpt("bad_amin", amin)
    mel = dict(ref)
    mel["vgg7.logmel_extractor.melW"] = ref["vgg7.logmel_extractor.melW"].roll(1, dims=0)
    c["ckpt_other_mel"] = ckpt("other_mel", mel)
    stft = dict(ref)
    stft["vgg7.spectrogram_extractor.conv_real.weight"] = ref["vgg7.spectrogram_extractor.conv_real.weight"] * 1.5
    c["ckpt_other_stft"] = ckpt("other_stft", stft)
    from mcu_toolkit.model import Wav2Small, Wav2SmallConfig, save_checkpoint

    save_checkpoint(Wav2Small(Wav2SmallConfig(n_fft=128, hop=64)), root / "ckpt_nfft128")
    c["ckpt_nfft128"] = root / "ckpt_nfft128"
    evil = root / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    c["ckpt_pickled_code"] = evil
    (root / "junk.pt").write_bytes(b"not a checkpoint at all")
    c["ckpt_junk_pt"] = root / "junk.pt"

    audio = root / "audio"
    audio.mkdir()
    for i in range(3):
        sf.write(audio / f"clip{i}.wav", _speechlike(i), 16000)
    c["audio_ok"] = audio
    one = root / "one_clip"
    one.mkdir()
    sf.write(one / "only.wav", _speechlike(0), 16000)
    c["audio_one_clip"] = one
    silence = root / "silence"
    silence.mkdir()
    for i in range(3):
        sf.write(silence / f"quiet{i}.wav", np.zeros(24000, np.float32), 16000)
    c["audio_silence"] = silence
    same = root / "identical"
    same.mkdir()
    for i in range(3):
        sf.write(same / f"same{i}.wav", _speechlike(1), 16000)
    c["audio_identical"] = same
    empty = root / "empty_dir"
    empty.mkdir()
    c["audio_empty"] = empty
    broken = root / "broken_audio"
    broken.mkdir()
    sf.write(broken / "good.wav", _speechlike(2), 16000)
    (broken / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    c["audio_broken"] = broken

    (root / "labels_latin1.csv").write_bytes("file,arousal,dominance,valence\nclip0.wav,0.5,0.5,0.5\n"
                                             "caf\xe9.wav,0.1,0.2,0.3\n".encode("latin-1"))
    c["labels_not_utf8"] = root / "labels_latin1.csv"
    (root / "labels_dup.csv").write_text("file,arousal,dominance,valence\nclip0.wav,0.5,0.5,0.5\n"
                                         "clip1.wav,0.1,0.2,0.3\nclip0.wav,0.9,0.9,0.9\nclip2.wav,0,0,0\n")
    c["labels_duplicate"] = root / "labels_dup.csv"

    no_tflite = root / "bundle_no_tflite"
    no_tflite.mkdir()
    (no_tflite / "report.json").write_text("{}")
    (no_tflite / "model.onnx").write_bytes(b"x")
    c["bundle_no_tflite"] = no_tflite
    neither = root / "neither"
    neither.mkdir()
    (neither / "notes.txt").write_text("hello")
    c["dir_neither"] = neither
    c["bundle_fake_2s"] = _fake_bundle(root / "bundle_fake_2s", FAKE_REPORT)
    c["bundle_fake_10s"] = _fake_bundle(root / "bundle_fake_10s", {
        **FAKE_REPORT, "window_seconds": 10.0, "window_samples": 160000, "frames_per_window": 4999,
        "engine": {**FAKE_REPORT["engine"], "frontend_store_bytes": 64 * 4999}})
    c["bundle_fake_float_frontend"] = _fake_bundle(root / "bundle_fake_float_frontend",
                                                   {**FAKE_REPORT, "frontend": {"kind": "float"}})
    c["bundle_fake_engine_unavailable"] = _fake_bundle(root / "bundle_fake_engine_unavailable", {
        **FAKE_REPORT, "engine": {"name": "w2s", "available": False, "reason": "the engine does not support X"}})
    c["bundle_fake_no_engine"] = _fake_bundle(root / "bundle_fake_no_engine",
                                              {k: v for k, v in FAKE_REPORT.items() if k != "engine"})
    c["bundle_fake_nan_ccc"] = _fake_bundle(
        root / "bundle_fake_nan_ccc", {**FAKE_REPORT, "arena_bytes": 8192, "ccc": {"arousal": None,
                                                                                  "dominance": 0.99,
                                                                                  "valence": 0.99}})
    c["bundle_malformed_report"] = _fake_bundle(root / "bundle_malformed_report", {**FAKE_REPORT, "frontend": None})
    # corrupt or mixed bundles: figures out of range, a file changed or swapped in, Git LFS pointers
    c["bundle_window_zero"] = _fake_bundle(root / "bundle_window_zero", {**FAKE_REPORT, "window_samples": 0})
    c["bundle_window_huge"] = _fake_bundle(root / "bundle_window_huge", {**FAKE_REPORT, "window_samples": 1e12})
    c["bundle_engine_not_object"] = _fake_bundle(root / "bundle_engine_not_object", {**FAKE_REPORT, "engine": "w2s"})
    c["bundle_changed_onnx"] = _fake_bundle(root / "bundle_changed_onnx", FAKE_REPORT)
    (c["bundle_changed_onnx"] / "model.onnx").write_bytes(b"\x08garbage, or another convert's model")
    c["bundle_lfs_tflite"] = _fake_bundle(root / "bundle_lfs_tflite", FAKE_REPORT)
    (c["bundle_lfs_tflite"] / "model_int8.tflite").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 25528\n")
    c["bundle_old_other_model"] = _fake_bundle(root / "bundle_old_other_model", FAKE_REPORT, hashes=False)
    hidden = root / "only_hidden_audio"
    hidden.mkdir()
    (hidden / "._clip0.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    c["audio_only_hidden"] = hidden
    nest = root / "nest"  # an audio folder inside a folder: --out must not hold an input
    (nest / "audio").mkdir(parents=True)
    for i in range(2):
        sf.write(nest / "audio" / f"clip{i}.wav", _speechlike(i), 16000)
    c["nest"] = nest
    repo = root / "git_repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "main.c").write_text("int main(void) { return 0; }\n")
    c["git_repo"] = repo
    (root / "notes.npy").write_text("not an array: my notes")
    c["npy_not_ours"] = root / "notes.npy"
    (root / "a_file").write_text("I am a file, not a folder")
    c["file"] = root / "a_file"
    (root / "existing_out").mkdir()
    (root / "existing_out" / "keep.txt").write_text("mine")
    c["existing_out"] = root / "existing_out"
    (root / "existing_dir.npy").mkdir()
    c["dir_named_npy"] = root / "existing_dir.npy"
    return c


if __name__ == "__main__":
    for name, path in build(Path(sys.argv[1])).items():
        print(f"{name:22s} {path}")
