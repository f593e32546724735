"""The C WAV reader (firmware_templates/common/w2s_wav.c) that the host build and the qemu-f411 firmware share:
both accept the same files (PCM or EXTENSIBLE/PCM, unknown and odd-sized chunks, streaming sizes) and name
what is wrong with the others. The host build is compiled here from a made-up bundle (fast); the QEMU image
from the session's real convert (slow)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import cbuild
from mcu_toolkit.dsp import fixed
from mcu_toolkit.emit import c_frontend, c_model
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.firmware.boards import BOARDS, Budget
from mcu_toolkit.firmware.generate import budget_h

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "firmware_templates"
WINDOW = 3200  # 0.2 s: a real frame count, small buffers
FRAMES = (WINDOW - 64) // 32 + 1
QUANT = fixed.InputQuant.from_scale(0.4702, 85)
PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def wav_bytes(pcm: np.ndarray, *, tag: int = 1, subformat: int = 1, channels: int = 1, rate: int = 16000,
              bits: int = 16, streaming: bool = False, chunks: tuple = (), fmt_extra: bytes = b"",
              missing_samples: int = 0) -> bytes:
    """A WAV written byte by byte. tag 0xFFFE: WAVE_FORMAT_EXTENSIBLE with `subformat`'s KSDATAFORMAT GUID.
    chunks: (id, payload) before "fmt " (odd sizes padded); streaming: RIFF and data sizes 0xFFFFFFFF;
    missing_samples: how many more samples the data chunk claims than the file holds (a truncated file)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if tag == 0xFFFE:
        fmt += struct.pack("<HHI", 22, bits, 4) + struct.pack("<H", subformat) + PCM_GUID_TAIL
    fmt += fmt_extra
    body = b"".join(cid + struct.pack("<I", len(p)) + p + b"\0" * (len(p) & 1) for cid, p in chunks)
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    data = np.asarray(pcm, dtype="<i2").tobytes()
    size = 0xFFFFFFFF if streaming else 2 * (len(pcm) + missing_samples)
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF if streaming else 4 + len(body)) + b"WAVE" + body


def pcm_clip(n: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 3000, n).clip(-32768, 32767).astype(np.int16)


JUNK = ((b"LIST", b"odd"), (b"junk", bytes(7)))  # 3 and 7 bytes: each padded to even
ACCEPTED = {  # each must give exactly what the plain PCM file gives
    "extensible_pcm": dict(tag=0xFFFE),
    "streaming_sizes": dict(streaming=True),
    "unknown_odd_chunks": dict(chunks=JUNK),
    "fmt_with_cbsize_0": dict(fmt_extra=b"\0\0"),
    "extensible_streaming_with_chunks": dict(tag=0xFFFE, streaming=True, chunks=JUNK),
}
UNSUPPORTED = "unsupported WAV format (need 16 kHz mono 16-bit PCM): "
REJECTED = {  # what the one error line says after the path
    "stereo": (dict(channels=2), UNSUPPORTED + "format 0x0001, 2 channel(s), 16000 Hz, 16-bit"),
    "rate_44k1": (dict(rate=44100), UNSUPPORTED + "format 0x0001, 1 channel(s), 44100 Hz, 16-bit"),
    "float32": (dict(tag=3, bits=32), UNSUPPORTED + "format 0x0003, 1 channel(s), 16000 Hz, 32-bit"),
    "ext_float": (dict(tag=0xFFFE, subformat=3, bits=32),
                  UNSUPPORTED + "format 0xfffe subformat 0x0003, 1 channel(s), 16000 Hz, 32-bit"),
    "truncated": (dict(missing_samples=1000), "not a WAV file: the file ends before its data chunk does"),
}


def write_variants(folder: Path, pcm: np.ndarray) -> dict[str, Path]:
    """Every variant above, plus the plain file, a file that is not a WAV, and a name that does not exist."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"plain": folder / "plain.wav", "not_riff": folder / "clip.flac", "missing": folder / "no, such.wav"}
    files["plain"].write_bytes(wav_bytes(pcm))
    files["not_riff"].write_bytes(b"fLaC" + bytes(60))
    for name, kw in {**ACCEPTED, **{k: v[0] for k, v in REJECTED.items()}}.items():
        files[name] = folder / f"{name}.wav"
        files[name].write_bytes(wav_bytes(pcm, **kw))
    return files


ERRORS = {**{k: v[1] for k, v in REJECTED.items()},
          "not_riff": "not a WAV file: no RIFF/WAVE header",
          "missing": "cannot open the file: no such file, or no permission"}


@pytest.fixture(scope="module")
def host_exe(tmp_path_factory) -> Path:
    """host/main.c as a tflm project without TFLM compiles it (the front end only: it writes the int8 windows),
    around a made-up bundle; gcc with -Wall -Wextra -Werror."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    d = tmp_path_factory.mktemp("host_wav")
    for name in ("w2s_status.h", "w2s_ring.h", "w2s_ring.c", "w2s_pipeline.h", "w2s_pipeline.c", "w2s_format.h",
                 "w2s_format.c", "w2s_wav.h", "w2s_wav.c"):
        shutil.copy(TEMPLATES / "common" / name, d / name)
    shutil.copy(TEMPLATES / "host" / "main.c", d / "main.c")
    for name, text in c_frontend.frontend_files(fixed.tables(26), QUANT, WINDOW).items():
        (d / name).write_text(text)
    (d / "model_config.h").write_text(c_model.model_config_h(c_model.BundleConfig(
        arena_bytes=4096, arena_bytes_measured=3000, sample_rate=16000, window_samples=WINDOW, frames=FRAMES,
        n_mels=26, input_shape=(1, FRAMES, 26, 1), input_scale=0.4702, input_zero_point=85,
        output_scale=0.01, output_zero_point=0)))
    (d / "w2s_budget.h").write_text(budget_h(Budget(BOARDS["host"], 1, 1, None, None, {}), False, "tflm"))
    return cbuild.build(cbuild.c_files(d), d / "w2s_host", includes=[d])


def test_host_reads_every_accepted_wav_variant_like_plain_pcm(host_exe, tmp_path):
    pcm = pcm_clip(2 * WINDOW + 700)
    files = write_variants(tmp_path / "wavs", pcm)
    want = np.stack([fixed.quantize_s8(fixed.window_logmel_q7(pcm[i:i + WINDOW]), QUANT) for i in (0, WINDOW)])
    for name in ("plain", *ACCEPTED):
        r = subprocess.run([str(host_exe), str(files[name]), str(tmp_path / f"{name}.s8")], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, (name, r.stderr)
        assert r.stdout.strip() == f"2 window(s) of {FRAMES} frames x 26 mels", name
        assert np.array_equal(np.fromfile(tmp_path / f"{name}.s8", np.int8).reshape(2, FRAMES, 26), want), name


def test_host_names_what_is_wrong_with_a_wav_in_one_line(host_exe, tmp_path):
    files = write_variants(tmp_path / "wavs", pcm_clip(2 * WINDOW))
    for name, message in ERRORS.items():
        r = subprocess.run([str(host_exe), str(files[name])], capture_output=True, text=True, timeout=30)
        assert (r.returncode, r.stdout, r.stderr) == (2, "", f"error: {files[name]}: {message}\n"), name


@pytest.fixture(scope="module")
def qemu_elf(bundle, tmp_path_factory) -> Path:
    from mcu_toolkit.verify.device import DEVICES, build_image

    if any(shutil.which(t) is None for t in DEVICES["qemu-m4"].tools):
        pytest.skip("no arm-none-eabi-gcc/QEMU")
    return build_image(bundle.out, tmp_path_factory.mktemp("qemu_wav"))


@pytest.mark.slow
def test_qemu_image_reads_the_same_wav_variants_as_the_host(qemu_elf, bundle, tmp_path):
    """One 2 s window per variant on the emulated Cortex-M4: the same three float32 outputs as plain PCM."""
    from mcu_toolkit.verify.device import run_image

    files = write_variants(tmp_path / "w, x", pcm_clip(bundle.report.window_samples))  # a comma too
    plain = run_image(qemu_elf, files["plain"])
    assert len(plain.outputs) == 1
    for name in ACCEPTED:
        run = run_image(qemu_elf, files[name])
        assert run.outputs.view(np.uint32).tolist() == plain.outputs.view(np.uint32).tolist(), name
    for name, message in ERRORS.items():
        with pytest.raises(ToolkitError, match="failed on") as e:
            run_image(qemu_elf, files[name])
        assert str(e.value).endswith(f": error: {files[name]}: {message}"), name
