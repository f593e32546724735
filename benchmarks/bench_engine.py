#!/usr/bin/env python3
"""Accuracy of the two deployed paths (w2s engine, TFLM) against the float model, on several checkpoints,
and the engine's RAM at several window lengths.

    python benchmarks/bench_engine.py [--variants DIR] [--json benchmarks/results/engine.json]

Checkpoints: the embedded default (2 s and 0.5 s windows) and the variants scripts/make_variant_checkpoints.py
makes (other seeds and widths, untrained random BatchNorm statistics, other targets); they are made into
--variants (default benchmarks/.cache/variants, about 7 minutes with espeak-ng) if that folder has none.
Audio: calibration_audio (calibration and held-out sets). Each figure is CCC(deployed, float) per output,
from convert's report.json. RAM: sizeof(w2s_engine_t) as arm-none-eabi-gcc lays it out (the same compiled
engine serves every window length) and the front end's per-window store, 64 B per frame.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # cbuild: the tests' compiler command lines

from _report import emit  # noqa: E402

WINDOWS_S = (0.5, 2.0, 10.0, 60.0)


def variants(folder: Path) -> list[Path]:
    if not (folder / "variants.json").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_variant_checkpoints.py"), str(folder)],
                       check=True)
    return sorted(p for p in folder.iterdir() if (p / "model.safetensors").exists())


def accuracy(checkpoint: Path | None, window_s: float, work: Path) -> dict:
    from mcu_toolkit.convert import convert

    out = work / f"{checkpoint.name if checkpoint else 'default'}_{window_s:g}s"
    r = convert(checkpoint, out=out, window_seconds=window_s, progress=False, jobs=2).report
    r4 = lambda d: {k: round(v, 4) for k, v in d.items()}  # noqa: E731
    return {"checkpoint": checkpoint.name if checkpoint else "default", "window_s": window_s,
            "channels": r.model["channels"], "ccc_w2s": r4(r.ccc), "ccc_tflm": r4(r.tflm.ccc),
            "min_ccc_w2s": round(min(r.ccc.values()), 4), "min_ccc_tflm": round(min(r.tflm.ccc.values()), 4),
            "engine_state_bytes": r.engine.state_bytes, "tflm_arena_bytes": r.arena_bytes,
            "bundle": str(out)}


def ram(bundle: Path) -> dict:
    """The engine's state for each window length: the generated engine has no window in it at all, so one
    compile gives every length's figure; the compiler's sizeof is checked against the Python layout."""
    import cbuild
    from mcu_toolkit.engine.mirror import Engine
    from mcu_toolkit.engine.tail import Head

    e = Engine.from_tflite((bundle / "model_int8.tflite").read_bytes(),
                           Head.from_json((bundle / "engine_head.json").read_text(), "head"))
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe.c"
        probe.write_text('#include "w2s_engine.h"\nconst unsigned w2s_state_bytes = sizeof(w2s_engine_t);\n')
        obj, = cbuild.objects([probe], Path(d), "cortex-m4f", opt="-O0", includes=[bundle])
        nm = subprocess.run(["arm-none-eabi-objdump", "-s", "-j", ".rodata", str(obj)],
                            capture_output=True, text=True, check=True).stdout
        word = nm.strip().splitlines()[-1].split()[1]
        compiled = int.from_bytes(bytes.fromhex(word), "little")
    assert compiled == e.state_bytes(), (compiled, e.state_bytes())
    rows = []
    for s in WINDOWS_S:
        frames = (int(s * 16000) - 64) // 32 + 1
        rows.append({"window_s": s, "frames": frames, "engine_state_bytes": compiled,
                     "frontend_store_bytes": 64 * frames})
    return {"per_window": rows, "engine_state_identical": len({r["engine_state_bytes"] for r in rows}) == 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=Path, default=ROOT / "benchmarks" / ".cache" / "variants")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--ram-only", action="store_true",
                    help="only the RAM figures (the default model at 2 s), into the `ram` of an existing --json, and "
                         "the state of the default model's accuracy rows")
    args = ap.parse_args()
    if args.ram_only:
        if args.json is None or not args.json.exists():
            ap.error("--ram-only updates an existing --json file")
        result = json.loads(args.json.read_text())
        with tempfile.TemporaryDirectory() as tmp:
            default = accuracy(None, 2.0, Path(tmp))
            result["ram"] = ram(Path(default["bundle"]))
        for row in result["accuracy"]:
            if row["checkpoint"] == "default":
                row["engine_state_bytes"] = default["engine_state_bytes"]
        emit(result, args.json)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = [accuracy(None, 2.0, work), accuracy(None, 0.5, work)]
        rows += [accuracy(v, 2.0, work) for v in variants(args.variants)]
        result = {"accuracy": [{k: v for k, v in r.items() if k != "bundle"} for r in rows],
                  "ram": ram(Path(rows[0]["bundle"]))}
    emit(result, args.json)


if __name__ == "__main__":
    main()
