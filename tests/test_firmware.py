"""firmware: budgets, generated projects, and the portable pipeline bit-exact in QEMU."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

import mcu_toolkit
from mcu_toolkit import resources
from mcu_toolkit.cores import CORES, STRICT_C
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.firmware.boards import BOARDS, check
from mcu_toolkit.firmware.generate import firmware
from mcu_toolkit.dsp import fixed
from mcu_toolkit.verify import tflm

from helpers import run_cli

pytestmark = pytest.mark.slow
CPUS = {name: CORES[name] for name in ("cortex-m4f", "cortex-m7", "cortex-m33")}  # the boards' FPU cores
needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                               reason="needs gcc-arm-none-eabi and qemu-system-arm (.ci/run installs them)")
CLIP = resources.default_eval_dir() / "syn_003_en_f1_s135_p26_g4.flac"  # two 2 s windows


def test_budget_refuses_what_does_not_fit(bundle):
    with pytest.raises(ToolkitError, match=r"nucleo-f411re cannot hold .* RAM \d+ KiB \(arena \d+ KiB\) > 128 KiB; "
                                           r"try --window-seconds 0\.\d+"):
        check(BOARDS["nucleo-f411re"], bundle.report)
    with pytest.raises(ToolkitError, match="or --psram"):
        check(BOARDS["esp32-s3"], bundle.report)
    for ok, psram in (("stm32h743", False), ("esp32-s3", True), ("host", False)):
        assert check(BOARDS[ok], bundle.report, psram).fits


def test_cli_refusal_is_one_line_and_writes_nothing(bundle, tmp_path):
    r = run_cli("firmware", "--board", "nucleo-f411re", "--bundle", str(bundle.out), "--out", str(tmp_path / "fw"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "128 KiB" in r.stderr
    assert not (tmp_path / "fw").exists()


def test_a_shorter_window_fits_the_f411(tmp_path):
    from mcu_toolkit.convert import convert

    small = convert(out=tmp_path / "b", window_seconds=0.2, progress=False)
    out, b = firmware("nucleo-f411re", tmp_path / "fw", bundle=small.out)
    assert b.fits and b.ram_used <= 128 * 1024
    assert "#define W2S_RAM_LIMIT 131072u" in (out / "w2s" / "w2s_budget.h").read_text()
    assert min(b.ccc.values()) >= 0.95, b.ccc  # the F411's window must still give a usable model


def test_firmware_warns_about_a_bundle_with_a_low_ccc(bundle, tmp_path):
    weak = tmp_path / "weak"
    shutil.copytree(bundle.out, weak)
    report = json.loads((weak / "report.json").read_text())
    report["ccc"]["dominance"] = 0.31
    (weak / "report.json").write_text(json.dumps(report))
    r = run_cli("firmware", "--board", "host", "--bundle", str(weak), "--out", str(tmp_path / "fw"))
    assert r.returncode == 0 and (tmp_path / "fw" / "w2s").is_dir()
    assert "warning:" in r.stderr and "dominance CCC 0.310" in r.stderr
    r = run_cli("firmware", "--board", "host", "--bundle", str(bundle.out), "--out", str(tmp_path / "fw2"))
    assert r.returncode == 0 and "tracks the float model poorly" not in r.stderr


@pytest.fixture(scope="module")
def projects(bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("fw")
    return {b: firmware(b, root / b, bundle=bundle.out, psram=(b == "esp32-s3"))[0]
            for b in ("host", "stm32h743", "esp32-s3")}


def test_generated_projects_have_what_they_promise(projects):
    h7 = projects["stm32h743"]
    for f in ("CMakeLists.txt", "cmake/arm-none-eabi.cmake", "src/main.cc", "src/board_stm32.c", "README.md",
              "w2s/w2s_budget.h", "w2s/model_data.c", "w2s/w2s_pipeline.c", "w2s/w2s_status.h", "w2s/w2s_model.h",
              "w2s/w2s_model.cc"):
        assert (h7 / f).is_file(), f
    text = "".join(p.read_text() for p in h7.rglob("*") if p.is_file() and p.suffix in (".txt", ".md", ".cc", ".c"))
    assert "{{" not in text
    assert "DWT->CYCCNT" in (h7 / "src/board_stm32.c").read_text()
    esp = projects["esp32-s3"]
    assert "espressif/esp-tflite-micro" in (esp / "main/idf_component.yml").read_text()
    esp_main = (esp / "main/main.cc").read_text()
    assert "esp_cpu_get_cycle_count" in esp_main
    # every board: microphone DMA -> ring buffer -> pipeline; the ring keeps filling during Invoke
    assert "w2s_ring_write" in esp_main and "w2s_ring_read" in esp_main and "xTaskCreatePinnedToCore" in esp_main
    assert "w2s_ring_write" in (h7 / "src/board_stm32.c").read_text()
    assert "256 ms" in (esp / "README.md").read_text() and "w2s_format_dropped" in (h7 / "src/main.cc").read_text()
    assert "w2s_model_invoke_s8" in esp_main and "w2s_model_init" in (h7 / "src/main.cc").read_text()
    assert "{{" not in "".join(p.read_text() for p in esp.rglob("*") if p.is_file() and p.suffix in (".md", ".cc"))
    assert "CONFIG_SPIRAM=y" in (esp / "sdkconfig.defaults").read_text()
    assert "| SD | PC3 (I2S2_SD) |" in (h7 / "README.md").read_text()


@needs_arm
@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_portable_c_compiles_for_cortex_m(projects, cpu, tmp_path):
    w2s = projects["stm32h743"] / "w2s"
    (tmp_path / "budget.c").write_text('#include "w2s_budget.h"\nint w2s_budget_ok;\n')
    for src in [*sorted(w2s.glob("*.c")), tmp_path / "budget.c"]:
        r = subprocess.run(["arm-none-eabi-gcc", *CPUS[cpu], *STRICT_C, "-O2", "-I", str(w2s), "-c", str(src),
                            "-o", str(tmp_path / (src.stem + ".o"))], capture_output=True, text=True)
        assert r.returncode == 0, f"{src.name} for {cpu}: {r.stderr}"


def test_host_template_builds_and_matches_python(projects, bundle, tmp_path):
    host = projects["host"]
    r = subprocess.run(["make", "-C", str(host)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    pcm, _ = sf.read(CLIP, dtype="int16")
    sf.write(tmp_path / "clip.wav", pcm, 16000, subtype="PCM_16")
    r = subprocess.run([str(host / "w2s_host"), str(tmp_path / "clip.wav"), str(tmp_path / "f.s8")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "2 window(s)" in r.stdout, r.stdout + r.stderr
    assert np.array_equal(np.fromfile(tmp_path / "f.s8", np.int8).reshape(-1, 999, 26), _python_windows(bundle, pcm))


def _python_windows(bundle, pcm):
    q = fixed.InputQuant.from_scale(bundle.report.input_quant["scale"], bundle.report.input_quant["zero_point"])
    return np.stack([fixed.quantize_s8(fixed.window_logmel_q7(pcm[i:i + 32000]), q)
                     for i in range(0, len(pcm) - 31999, 32000)])


@needs_arm
def test_pipeline_on_cortex_m4_in_qemu_matches_python_and_validate(projects, bundle, tmp_path):
    w2s = projects["stm32h743"] / "w2s"
    elf = tmp_path / "pipe.elf"
    here = resources.calibration_audio_root().parent / "tests" / "c"
    r = subprocess.run(["arm-none-eabi-gcc", *CPUS["cortex-m4f"], *STRICT_C, "-O2", "--specs=rdimon.specs",
                        "-T", str(here / "m4.ld"), "-I", str(w2s), str(here / "m4_startup.c"),
                        str(here / "pipeline_harness.c"), *map(str, sorted(w2s.glob("*.c"))), "-o", str(elf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pcm, _ = sf.read(CLIP, dtype="int16")
    pcm.tofile(tmp_path / "in.s16")

    dev = tflm.TflmModel((bundle.out / "model_int8.tflite").read_bytes(), bundle.report.arena_bytes)
    want = _python_windows(bundle, pcm)
    outs = [dev.run_int8(w.reshape(1, 999, 26, 1)) for w in want]
    first = [str(int(v)) for v in outs[0]]
    args = [str(tmp_path / "in.s16"), str(tmp_path / "out.s8"), "512", "97", *first]
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
                        "-semihosting-config", "enable=on,target=native,arg=pipe," + ",".join(f"arg={a}" for a in args),
                        "-kernel", str(elf)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "windows 2 dropped 0" in r.stdout
    got = np.fromfile(tmp_path / "out.s8", np.int8).reshape(-1, 999, 26)
    assert np.array_equal(got, want)  # ring buffer + pipeline on the M4 == Python, bit for bit

    # The model step on those features (TFLM, as the device runs it) gives what validate reports.
    adv = np.mean([(o.astype(np.float32) - dev.out_zero) * dev.out_scale for o in outs], axis=0)
    res = mcu_toolkit.validate(bundle.out, _single(tmp_path))
    np.testing.assert_allclose(res.deployed_out[0], adv, rtol=0, atol=1e-6)

    # and the UART line the firmware prints for the first window
    milli = [((int(q) - dev.out_zero) * round(dev.out_scale * 1000 * 65536) + 32768) >> 16 for q in outs[0]]
    expect = "A={} D={} V={}".format(*[f"{'-' if m < 0 else ''}{abs(m) // 1000}.{abs(m) % 1000:03d}" for m in milli])
    assert re.search(re.escape(expect) + r" t=0us", r.stdout), (expect, r.stdout)


def _single(tmp_path):
    d = tmp_path / "one_clip"
    d.mkdir(exist_ok=True)
    shutil.copy(CLIP, d)
    shutil.copy(CLIP, d / ("copy_" + CLIP.name))  # CCC needs two files; the outputs per file are what we compare
    return d
