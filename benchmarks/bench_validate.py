#!/usr/bin/env python3
"""Throughput of `validate` (times real time: TFLM with 1 job, the w2s engine with 1 and 2) and the default
model's figures (the w2s engine, validate's default path).

    python benchmarks/bench_validate.py [--bundle DIR] [--json PATH] [--baseline tests/data/baseline_default.json]

--baseline rewrites the committed regression baseline from this run (after an intended change).
Wall times include worker start-up; audio is calibration_audio/heldout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import soundfile as sf  # noqa: E402

from _report import emit  # noqa: E402
from mcu_toolkit import resources, validate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline", type=Path)
    args = ap.parse_args()
    audio = resources.default_eval_dir()
    seconds = sum(sf.info(f).duration for f in audio.glob("*.flac"))
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle
        if bundle is None:
            from mcu_toolkit.convert import convert

            bundle = convert(out=Path(tmp) / "b", progress=False).out
        out = {"audio_seconds": round(seconds, 2)}
        for engine, jobs in (("tflm", 1), ("w2s", 1), ("w2s", 2)):
            t = time.perf_counter()
            res = validate(bundle, audio, labels=audio / "targets.csv", jobs=jobs, engine=engine)
            wall = time.perf_counter() - t
            out[f"{engine}_jobs{jobs}"] = {"wall_s": round(wall, 2), "x_real_time": round(seconds / wall, 1)}
    out["ccc_deployed_vs_float"] = {k: round(v, 5) for k, v in res.ccc_vs_float.items()}
    out["ccc_deployed_vs_labels"] = {k: round(v, 5) for k, v in res.ccc_deployed_vs_labels.items()}
    out["ccc_float_vs_labels"] = {k: round(v, 5) for k, v in res.ccc_float_vs_labels.items()}
    emit(out, args.json)
    if args.baseline:
        base = json.loads(args.baseline.read_text()) if args.baseline.exists() else {"tolerance": 0.01}
        base.update({k: out[k] for k in ("ccc_deployed_vs_float", "ccc_deployed_vs_labels", "ccc_float_vs_labels")})
        args.baseline.write_text(json.dumps(base, indent=2) + "\n")


if __name__ == "__main__":
    main()
