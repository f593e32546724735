"""The pipelined schedule's int8 queue (common/w2s_pipeline.c): a completed window's rows wait at the far end of
the front end's own store while the next window's frames fill it from the front. Whenever rows are taken, they
must be the plain path's rows, bit for bit, and the feed must stop before a frame overwrites one (fast: no
convert, the host compiler only)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import cbuild
import fe_build
from helpers import ROOT, WINDOW

COMMON = ROOT / "firmware_templates" / "common"


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("queue")
    fe_build.write_sources(d)
    for name in ("w2s_pipeline.h", "w2s_pipeline.c", "w2s_status.h"):
        (d / name).write_text((COMMON / name).read_text())
    sources = [d / n for n in ("w2s_frontend.c", "w2s_frontend_tables.c", "w2s_pipeline.c")]
    return cbuild.build([*sources, cbuild.C_DIR / "queue_harness.c"], d / "queue_harness", includes=[d])


def _speech(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    level = 3000 * (1.2 + np.sin(np.arange(n) / 4000.0))  # windows of different loudness: different rows
    return np.clip(rng.standard_normal(n) * level, -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("window,chunk,rate,seed", [
    (WINDOW, 256, 0, 1),      # rows only when the store needs their room: the latest the engine may run
    (WINDOW, 256, 2, 2),      # about as fast as frames arrive (the engine keeps pace)
    (WINDOW, 512, 40, 3),     # far faster: each window drained early in the next
    (WINDOW, 37, 1, 4),       # odd chunks, slower than the frames: forced takes too
    (8000, 256, 1, 5),        # a short window
])
def test_queued_rows_are_the_plain_rows_whenever_they_are_taken(harness, tmp_path, window, chunk, rate, seed):
    pcm = _speech(7.3, seed)
    pcm.tofile(tmp_path / "in.s16")
    q = fe_build.QUANT
    r = subprocess.run([str(harness), str(tmp_path / "in.s16"), str(window), str(q.mult), str(q.zero_point),
                        str(chunk), str(rate), str(seed)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    _, rows, _, equal, _, forced, _, windows, _, want = r.stdout.split()
    frames = (window - 64) // 32 + 1
    assert int(windows) == len(pcm) // window and int(want) == int(windows) * frames
    assert int(rows) == int(want) and int(equal) == int(want)      # every row, each the plain path's
    if rate == 0:
        assert int(forced) >= int(want) - frames                    # all but the last window's, on demand
    if rate >= 40:
        assert int(forced) == 0                                     # drained before the room was needed
