"""The README's figures are the benchmarks' JSON and the tool's report, read where the README quotes them.

Each test reads a figure out of the README's text and compares it with the JSON file the README names
(benchmarks/results/*.json), at the precision the README prints. A benchmark that is re-run and moves a figure
fails here until the README follows; nothing here hard-codes a figure.
"""

import json
import math
import re

import pytest

from helpers import ROOT

RESULTS = ROOT / "benchmarks" / "results"
README = (ROOT / "README.md").read_text()
FLAT = " ".join(README.split())  # the prose without its line breaks
NUMBER = r"(-?[\d,]*\d(?:\.\d+)?)"


def _json(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _measured(figure: str) -> str:
    """The value cell of the README's "Measured" table row whose first cell starts with `figure`."""
    rows = [r for r in README.splitlines() if r.startswith("| " + figure)]
    assert len(rows) == 1, f"README: one Measured row for {figure!r}, found {len(rows)}"
    return rows[0].split(" | ")[1]


def _find(text: str, pattern: str) -> list[str]:
    """The numbers `pattern` captures (NUMBER groups) in `text`; the pattern must be there."""
    m = re.search(pattern, text)
    assert m, f"README no longer says {pattern!r}"
    return list(m.groups())


def quotes(readme_number: str, value: float, scale: float = 1.0) -> bool:
    """True if the README's number is `value / scale` printed at the README's own precision."""
    text = readme_number.replace(",", "")
    decimals = len(text.split(".")[1]) if "." in text else 0
    half = 0.5 * 10 ** -decimals + 1e-9
    return abs(float(text) - value / scale) <= half


def check(readme_numbers, values, scale: float = 1.0, what: str = "") -> None:
    got = [n for n, v in zip(readme_numbers, values) if not quotes(n, v, scale)]
    assert not got, f"README {what}: {readme_numbers} does not quote {[round(v / scale, 4) for v in values]}"


def test_quotes_reads_at_the_readme_precision():
    assert quotes("4.18", 4_175_665, 1e6) and not quotes("4.18", 3_911_083, 1e6)
    assert quotes("2,292", 2292) and not quotes("1,848", 2160) and quotes("1.01", 1.015)


# benchmarks/results/frontend.json (python benchmarks/bench_frontend.py)

def test_frontend_figures_are_frontend_json():
    fe = _json("frontend.json")
    m4 = fe["cortex_m4"]
    check(_find(_measured("front end vs float"), rf"MAE {NUMBER} dB, p99 {NUMBER} dB"),
          [fe["accuracy"]["mae_db"], fe["accuracy"]["p99_db"]], what="front-end accuracy")
    o2 = m4["-O2"]["instructions_per_audio_second"]
    check(_find(_measured("front end on Cortex-M4"), rf"{NUMBER} M instructions per second of audio \(-O2\)"),
          [o2], 1e6, "front-end instructions")
    check(_find(FLAT, rf"Not yet fast enough: {NUMBER} M instructions per second of audio on a Cortex-M4"),
          [o2], 1e6, "front-end instructions (prose)")
    check(_find(FLAT, rf"at about one cycle per instruction, {NUMBER}% of a 100 MHz F411"), [o2 / 1e8 * 100],
          what="front-end share of an F411")
    check(_find(_measured("front end size (M4)"),
                rf"{NUMBER} B code \(-O2\), {NUMBER} B \(-Os\), {NUMBER} B tables, {NUMBER} B state"),
          [m4["-O2"]["code_bytes"], m4["-Os"]["code_bytes"], m4["table_bytes"], m4["state_bytes"]],
          what="front-end size")
    check(_find(FLAT, rf"Buffers for a 2 s window: {NUMBER} KB"), [m4["window_buffer_bytes_2s"]], 1000,
          "front-end window buffers")
    stages = m4["frame_stages_O2"]
    row = _measured("where a frame's")
    check(_find(README, rf"where a frame's {NUMBER} instructions go"), [stages["instructions_per_frame"]["frame"]],
          what="instructions per frame")
    for name, key in (("FFT \\(with split\\)", "fft"), ("log", "log"), ("mel", "mel"), ("power", "power"),
                      ("window", "window"), ("block exponent", "block")):
        check(_find(row, rf"{name} {NUMBER}%"), [stages["share_of_frame"][key] * 100], what=f"{key} share")


def test_level_table_is_frontend_json():
    f = _json("frontend.json")
    (header,) = [r for r in README.splitlines() if r.startswith("| peak | ")]
    keys = [v.replace("−", "-").replace(" dBFS", "").strip() + "dBFS" for v in header.split("|")[2:] if v.strip()]
    assert len(keys) >= 6, keys
    for label, key in (("MAE dB", "mae_db"), ("p99 dB", "p99_db")):
        cells = [c.strip() for c in _find(README, rf"\| {label} \| ([^\n]*) \|")[0].split("|")]
        check(cells, [f["levels"][k][key] for k in keys], what=f"level table {label}")
    cells = [c.strip() for c in _find(README, r"\| CCC\(w2s path, float\) A/D/V \| ([^\n]*) \|")[0].split("|")]
    for cell, k in zip(cells, keys, strict=True):
        check(cell.split(" / "), [f["levels_drift"][f"ccc_{k}"][d] for d in ("arousal", "dominance", "valence")],
              what=f"level table CCC at {k}")


# benchmarks/results/device_speed.json (python benchmarks/bench_device_speed.py)

def test_device_speed_figures_are_device_speed_json():
    ds = _json("device_speed.json")
    b = ds["builds"]
    m4 = ds["m4_instructions_per_audio_second"]
    row = _measured("w2s on Cortex-M4")
    check(_find(row, rf"front end {NUMBER} M \+ engine {NUMBER} M = {NUMBER} M"),
          [m4["frontend"], m4["engine"], m4["total"]], 1e6, "front end + engine")
    check(_find(row, rf"portable C: {NUMBER} M; -Os: {NUMBER} M"),
          [b["O2_portable"]["instructions_per_audio_second"]["total"],
           b["Os_dsp"]["instructions_per_audio_second"]["total"]], 1e6, "portable and -Os")
    check(_find(row, rf"100 MHz F411 would run at {NUMBER}× real time, a 480 MHz H743 at {NUMBER}×"),
          [1e8 / m4["total"], 4.8e8 / m4["total"]], what="real-time factors")
    layers = b["O2_dsp"]["engine_per_layer"]
    got = _find(_measured("w2s engine per layer"), rf"conv1 {NUMBER}, conv2 {NUMBER}, conv3 {NUMBER}, pool {NUMBER}, "
                                                   rf"conv4-7 {NUMBER} each, lin \+ sof \+ pooling {NUMBER}")
    check(got[:4] + [got[4]] * 4 + got[5:], [layers[f"layer{i}"] for i in range(8)] + [layers["lin_sof_pool"]], 1e6,
          "per layer")
    check(_find(FLAT, rf"and the front end {NUMBER} M per second of audio, as measured on the qemu-f411 image"),
          [m4["frontend"]], 1e6, "front end in the real-time check")
    check(_find(FLAT, rf"The default model measures {NUMBER} M today"), [m4["total"]], 1e6, "the default model")
    check(_find(FLAT, rf"`bench_frontend.py`'s harness; {NUMBER} M inside the qemu-f411 image\)"),
          [m4["frontend"]], 1e6, "front end in the image (prose)")
    check(_find(_measured("front end on Cortex-M4"), rf"\({NUMBER} M inside the qemu-f411 image, above\)"),
          [m4["frontend"]], 1e6, "front end in the image")
    elf = b["O2_dsp"]["elf"]
    check(_find(FLAT, rf"{NUMBER} B of flash, {NUMBER} B of RAM with its {NUMBER} KiB stack and {NUMBER} KiB heap, "
                      rf"{NUMBER} B left free, and a stack high-water mark of {NUMBER} B"),
          [elf["flash_bytes"], elf["ram_bytes"], elf["stack_bytes"] / 1024, elf["heap_bytes"] / 1024,
           elf["ram_free_bytes"], b["O2_dsp"]["stack_high_water_bytes"]], what="the qemu-f411 ELF")


def test_cycle_figures_are_device_speed_json():
    ds = _json("device_speed.json")
    b, model = ds["builds"], ds["cycle_model"]
    row = _measured("cycles of w2s on Cortex-M4")
    o2 = b["O2_dsp"]
    check(_find(row, rf"^{NUMBER} cycles per instruction \(front end {NUMBER}, engine {NUMBER};"),
          [o2["cycles_per_instruction"][k] for k in ("pipeline", "frontend", "engine")], what="cycles per instruction")
    check(_find(row, rf"-Os {NUMBER}, portable C {NUMBER}\)"),
          [b["Os_dsp"]["cycles_per_instruction"]["pipeline"], b["O2_portable"]["cycles_per_instruction"]["pipeline"]],
          what="other builds")
    check(_find(row, rf"= {NUMBER} M cycles per second of audio"), [o2["cycles_per_audio_second"]["pipeline"]], 1e6,
          "cycles per second of audio")
    by_clip = list(model["pipeline_cycles_per_instruction_by_clip_seconds"].values())
    check(_find(row, rf"{NUMBER} on one window, {NUMBER} on two"), by_clip, what="clip lengths")
    by_p = model["pipeline_cycles_per_instruction_by_refill"]
    check(_find(row, rf"P = 1, 2, 3 gives {NUMBER}, {NUMBER}, {NUMBER}"), [by_p[k] for k in ("1", "2", "3")],
          what="refill")
    assert str(model["timing"]["refill"]) == "2" and model["timing"]["divide"] == 12


def test_schedule_estimate_uses_the_measured_rates():
    """The Cortex-M4's rates (cores.py) are the figures of device_speed.json and speed_model.json, and the README's."""
    from mcu_toolkit.cores import CORES

    ds, sm, m4 = _json("device_speed.json"), _json("speed_model.json"), CORES["cortex-m4f"].rates
    assert m4.frontend_per_s == pytest.approx(ds["m4_instructions_per_audio_second"]["frontend"], rel=0.01)
    assert m4.cycles_per_instruction == round(ds["builds"]["O2_dsp"]["cycles_per_instruction"]["pipeline"], 2)
    assert (m4.engine_per_mac, m4.engine_per_output) == (sm["per_mac"], sm["per_output"])
    check(_find(FLAT, rf"the w2s engine needs about {NUMBER} instructions per MAC plus {NUMBER} per int8 value"),
          [sm["per_mac"], sm["per_output"]], what="the engine's rates")
    worst = max(abs(m["fit_error"]) for m in sm["models"].values())
    (bound,) = _find(FLAT, rf"fitted on six models of 8 to 16 channels and 20 to 32 mels, each within {NUMBER}%")
    assert math.ceil(worst * 100) == int(bound), (worst, bound)
    d = sm["models"]["default"]
    assert m4.engine_per_winograd_mac == sm["per_winograd_mac"]
    wino = d["winograd_macs_per_s"]
    estimate = (d["macs_per_s"] - wino) * sm["per_mac"] + wino * sm["per_winograd_mac"] + \
        d["int8_outputs_per_s"] * sm["per_output"] + ds["m4_instructions_per_audio_second"]["frontend"]
    check(_find(FLAT, rf"The default model measures {NUMBER} M today \(the estimate: ~{NUMBER} M\)")[1:],
          [estimate], 1e6, "the schedule's estimate")


# benchmarks/results/convert.json, cpus.json, validate.json, engine.json, boards.json

def test_convert_figures_are_convert_json():
    c = _json("convert.json")
    check(_find(_measured("int8 TFLite"), rf"{NUMBER} B"), [c["tflite_bytes"]], what="int8 TFLite")
    check(_find(_measured("TFLM arena, 2 s window"), rf"{NUMBER} B measured, {NUMBER} B with margin"),
          [c["arena_bytes_measured"], c["arena_bytes"]], what="arena")
    row = _measured("convert wall time")
    check(_find(row, rf"^{NUMBER} s \({NUMBER}–{NUMBER}\) in the last run"),
          [c["convert_wall_s_median"], min(c["convert_wall_s"]), max(c["convert_wall_s"])], what="wall time")
    check(_find(row, rf"same trunk at {NUMBER} s in the same run"), [c["litert_torch"]["wall_s_median"]],
          what="litert-torch")
    steps = c["convert_steps_s_median"]
    row = _measured("where it goes")
    check(_find(row, rf"audio \+ front end {NUMBER} s"), [steps["audio_and_frontend"]], what="audio + front end")
    check(_find(row, rf"ONNX {NUMBER} s, onnx2tf \+ int8 conversion {NUMBER} s"), [steps["onnx"], steps["onnx2tf"]],
          what="ONNX, onnx2tf")
    check(_find(row, rf"TFLM proof {NUMBER} s"), [steps["tflm"]], what="TFLM proof")


def test_the_cross_cpu_row_is_cpus_json():
    """The row says yes, and cpus.json (the last machine bench_cpus.py ran on) found no file off the golden set."""
    c = _json("cpus.json")
    assert _measured("converts byte-identical across CPUs").startswith("yes")
    assert c["cpu"].split()[0] in _measured("converts byte-identical across CPUs")  # Intel or AMD, named
    assert {name: run.get("differs_from_golden") for name, run in c["runs"].items()} == \
        {"as is": [], "ISA paths capped": []}


def test_validate_throughput_is_validate_json():
    v = _json("validate.json")
    c10, c60 = v["corpus_10min"], v["corpus_60min"]
    check(_find(_measured("`validate` throughput, one core"),
                rf"^{NUMBER}× real time, whole process \({NUMBER} s for {NUMBER} s\); 60 min: {NUMBER}×; peak RSS "
                rf"{NUMBER} MiB at 10 min, {NUMBER} MiB at 60 min; `--jobs 2` on both cores {NUMBER}×; "
                rf"`--engine tflm` {NUMBER}×"),
          [v["x_real_time_1core_long"], c10["wall_s"], c10["audio_s"], c60["x_real_time"], c10["peak_rss_mib"],
           c60["peak_rss_mib"], c10["jobs2_2cores_x_real_time"], c10["tflm_x_real_time"]], what="validate throughput")
    p = v["paths_ms_per_window"]
    check(_find(_measured("each way to run the model"),
                rf"onnxruntime float {NUMBER}, LiteRT float32 {NUMBER}, LiteRT int8 \(XNNPACK\) {NUMBER}, "
                rf"w2s engine compiled {NUMBER}, its numpy mirror {NUMBER}, TFLM {NUMBER}"),
          [p["onnxruntime_float"], p["litert_float32"], p["litert_int8_xnnpack"], p["w2s_engine_compiled"],
           p["w2s_engine_numpy_mirror"], p["tflm"]], what="paths")
    st = v["stages_ms_per_window"]
    check(_find(_measured("where a window's time goes in validate"),
                rf"read {NUMBER}, float log-mel {NUMBER}, onnxruntime {NUMBER}, front end and engine \(C\) "
                rf"{NUMBER} \(the front end alone {NUMBER}\); with the numpy mirrors {NUMBER}"),
          [st["read_16k_flac"], st["float_logmel"], st["onnxruntime_float"], st["frontend_plus_engine_compiled"],
           st["frontend_fixed_compiled"], st["frontend_plus_engine_numpy_mirror"]], what="stages")


def test_engine_ccc_table_is_engine_json():
    rows = {(a["checkpoint"], a["window_s"]): a for a in _json("engine.json")["accuracy"]}
    names = {"default, 2 s": ("default", 2.0), "default, 0.5 s": ("default", 0.5),
             "seed 3, 16 channels, 2 s": ("seed3_c16", 2.0), "seed 5, 10 channels, 2 s": ("seed5_c10", 2.0),
             "untrained, random BatchNorm statistics, 2 s": ("random_bn", 2.0),
             "trained for other targets, 2 s": ("other_targets", 2.0)}
    dims = ("arousal", "dominance", "valence")
    for label, key in names.items():
        cells = _find(README, rf"\| {re.escape(label)} \| {NUMBER} / {NUMBER} / {NUMBER} \| "
                              rf"{NUMBER} / {NUMBER} / {NUMBER} \|")
        a = rows[key]
        check(cells, [a["ccc_w2s"][d] for d in dims] + [a["ccc_tflm"][d] for d in dims], what=label)
    a = rows["default", 2.0]
    check(_find(_measured("CCC vs float, held-out"), rf"w2s engine {NUMBER} / {NUMBER} / {NUMBER}; "
                                                     rf"TFLM {NUMBER} / {NUMBER} / {NUMBER}"),
          [a["ccc_w2s"][d] for d in dims] + [a["ccc_tflm"][d] for d in dims], what="CCC vs float")
    check(_find(_measured("w2s engine RAM"), rf"{NUMBER} B state"), [a["engine_state_bytes"]], what="engine state")


def _board_columns() -> list[tuple[str, str]]:
    """(README header, boards.json name) of the budget table's board columns: every board with a clock, in BOARDS'
    order, with --psram after its board."""
    from mcu_toolkit.firmware.boards import BOARDS

    cols = []
    for name, b in BOARDS.items():
        if b.mhz is not None:
            cols.append((name, name))
            if b.psram:
                cols.append((f"{name} + PSRAM", f"{name} +psram"))
    return cols


def test_board_table_is_boards_json():
    rows = {(r["window_s"], r["board"], r["engine"]): r for r in _json("boards.json")["rows"]}
    columns = _board_columns()
    (header,) = [r for r in README.splitlines() if r.startswith("| window | engine | flash KiB |")]
    assert [c.strip() for c in header.strip("|").split("|")][5:] == [h for h, _ in columns], header
    dims = ("arousal", "dominance", "valence")
    seen = 0
    for line in README.splitlines():
        m = re.match(rf"\| {NUMBER} s \| (w2s|tflm) \| {NUMBER} \| {NUMBER} \| {NUMBER} / {NUMBER} / {NUMBER} \|(.*)",
                     line)
        if not m:
            continue
        w, engine = float(m.group(1)), m.group(2)
        first = rows[w, columns[0][1], engine]
        check([m.group(3), m.group(4), *m.group(5, 6, 7)],
              [first["flash_kib"], first["ram_kib"], *(first["ccc"][d] for d in dims)], what=line[:20])
        verdicts = [c.strip() for c in m.group(8).strip(" |").split(" | ")]
        assert len(verdicts) == len(columns), line
        for (_, board), verdict in zip(columns, verdicts):
            r = rows.get((w, board, engine))
            want = ("n/a (no arena)" if board.endswith("+psram") else "n/a (w2s only)") if r is None else \
                ("fits" if r["fits"] else "**no**")
            assert verdict == want, (line[:20], board, verdict, want)
        seen += 1
    assert seen == 10
    short = _json("boards.json")["float_model_ccc_vs_2s_windows"]
    check(_find(FLAT, rf"the float model gives A/D/V CCC {NUMBER}/{NUMBER}/{NUMBER} at 1 s and "
                      rf"{NUMBER}/{NUMBER}/{NUMBER} at 0.2 s"),
          [short[w][d] for w in ("1.0", "0.2") for d in dims], what="the float model at shorter windows")
    pairs = r" \| ".join([rf"{NUMBER} / {NUMBER}"] * len(columns))
    limits = _find(README, r"\| limits \(flash / RAM KiB\) \| \| \| \| \| " + pairs)
    at_2s = {b: r for (w, b, e), r in sorted(rows.items(), key=lambda kv: kv[0][2] != "tflm") if w == 2.0}
    want = [(at_2s[b]["flash_limit_kib"], at_2s[b]["ram_limit_kib"]) for _, b in columns]
    check(limits, [v for pair in want for v in pair], what="board limits")


def test_schedule_table_is_boards_json():
    """Each board's schedule at 2 s (bench_boards.py's `schedules`): one README row per board with a clock, and
    the example verdict lines are boards' notes."""
    scheds = _json("boards.json")["schedules"]
    assert [s["board"] for s in scheds] == [b for h, b in _board_columns() if "PSRAM" not in h]
    for s in scheds:
        m = re.search(rf"^\| {re.escape(s['board'])} \| {NUMBER} MHz \| ([a-z -]+) \| ([^|]*) \| ([^|]*) \| "
                      rf"([^|]*) \| ([^|]*) \| {NUMBER} / {NUMBER} \| {NUMBER} / {NUMBER} \|$", README, re.M)
        assert m, f"README: no schedule row for {s['board']}"
        mhz, kind, share, latency, burst = m.group(1), m.group(2), *(c.strip() for c in m.group(3, 4, 5))
        assert int(mhz) == s["mhz"]
        check(m.group(7, 8, 9, 10), [s["flash_kib"], s["flash_limit_kib"], s["ram_kib"], s["ram_limit_kib"]],
              what=f"{s['board']} flash/RAM")
        if s["schedule"] is None:
            assert (kind, share, latency, burst, m.group(6).strip()) == ("no cycle figure", *"----"), m.group(0)
            continue
        assert kind == s["schedule"], (s["board"], kind)
        if kind == "pipelined":
            check(_find(share, rf"^CPU load {NUMBER}$"), [s["cpu_load"]], what=f"{s['board']} load")
        else:
            check(_find(share, rf"^{NUMBER}% of the audio$"), [s["coverage"]], 0.01, f"{s['board']} coverage")
        check(_find(latency, rf"^{NUMBER} s$"), [s["latency_s"]], what=f"{s['board']} latency")
        check(_find(burst, rf"^{NUMBER} ms \(of {NUMBER}\)$"), [s["burst_ms"], s["ring_half_ms"]],
              what=f"{s['board']} burst")
        if "live" not in s:  # a core with its own kernel family: the live image runs the M4's
            assert m.group(6).strip().startswith("- ("), m.group(0)
            continue
        lv = s["live"]  # measured: the qemu-f411 image live at the board's clock
        check(_find(m.group(6), rf"^{NUMBER} of {NUMBER} windows \({NUMBER}%\), {NUMBER} dropped, {NUMBER} partial, "
                                rf"latency {NUMBER} s, step {NUMBER} ms$"),
              [lv["windows_analysed"], lv["windows_total"], lv["coverage"] * 100, lv["dropped_samples"],
               lv["partial_windows"], lv["latency_ms_max"] / 1000, lv["longest_step_ms"]], what=f"{s['board']} live")
    notes = {s["note"] for s in scheds}
    examples = re.findall(r"^schedule: .*$", README, re.M)
    assert examples and all(e in notes for e in examples), examples


# report facts: what convert writes in report.json

@pytest.mark.slow
def test_readme_states_what_convert_reports(bundle):
    r = bundle.report
    (n,) = _find(FLAT, rf"`convert` checks this on {NUMBER} windows and writes the count of differing values")
    assert int(n) == r.engine.trunk_vs_tflm["windows"]
    fe = _json("frontend.json")["cortex_m4"]
    # frontend.json must be of the front end convert ships: the same -Os object, the same tables
    assert fe["-Os"]["code_bytes"] == r.frontend.code_bytes_cortex_m4_Os
    assert fe["table_bytes"] == r.frontend.table_bytes and fe["state_bytes"] == r.frontend.state_bytes
    check(_find(_measured("w2s engine RAM"), rf"{NUMBER} B state"), [r.engine.state_bytes], what="state")
    check(_find(_measured("w2s engine RAM"), rf"front-end window store {NUMBER} B per frame"),
          [r.engine.frontend_store_bytes_per_frame], what="window store")
    c = _json("convert.json")
    assert (c["tflite_bytes"], c["arena_bytes"], c["arena_bytes_measured"]) == \
        (r.tflite_bytes, r.arena_bytes, r.arena_bytes_measured), "convert.json is of another conversion"
