"""report.json's nested figures (frontend, engine, tflm) as typed dataclasses: the file keeps its keys and bytes,
and reports from before some of those figures still load."""

from __future__ import annotations

import dataclasses
import json

from adversarial import FAKE_REPORT

from mcu_toolkit.bundle import EngineFigures, FrontendFigures, Report, TflmFigures, json_text
from mcu_toolkit.emit.report import markdown

DIMS = {"arousal": 0.98, "dominance": 0.99, "valence": 0.97}
FIXED = {"kind": "fixed", "format": {"in": "int16 PCM, 16 kHz", "window": "Hann Q15"}, "prenorm": "exact per window",
         "table_bytes": 2022, "code_bytes_cortex_m4_Os": 2828, "flash_bytes": 4850, "state_bytes": 152,
         "window_buffer_bytes": 67932, "ram_bytes": 68084, "window_samples": 32000}
ENGINE = {"name": "w2s", "available": True, "state_bytes": 10600, "data_bytes": 26653, "code_bytes_cortex_m4_Os": None,
          "state_note": "sizeof(w2s_engine_t)", "int8_outputs_per_window": 1604486,
          "frontend_store_bytes_per_frame": 68, "frontend_store_bytes": 67932,
          "trunk_vs_tflm": {"windows": 3, "tensors": 10, "values": 4813458, "differing": 0,
                            "tail_outputs_differing": 0}, "tail": "exact", "winograd_bytes": 15120,
          "winograd_macs_per_window": 113_000_000}
TFLM = {"ccc": DIMS, "drift": DIMS, "mean_abs_err": DIMS, "max_abs_err": DIMS, "arena_bytes": 781312,
        "evaluated_as": "the whole int8 model on TFLM"}
_FULL = {**FAKE_REPORT, "frontend": FIXED, "engine": ENGINE, "tflm": TFLM, "sha256": {}}
AS_CONVERT_WRITES = {f.name: _FULL[f.name] for f in dataclasses.fields(Report)}  # report.json's key order


def test_a_report_as_convert_writes_it_reads_back_to_the_same_text():
    for d in (AS_CONVERT_WRITES,
              {**AS_CONVERT_WRITES, "frontend": {"kind": "float", "note": "no device front end"}},
              {**AS_CONVERT_WRITES, "engine": {"name": "w2s", "available": False, "reason": "the graph has X"}}):
        r = Report.from_dict(json.loads(json_text(d)))
        assert r.to_json() == json_text(d)  # the same keys, in the same order, null kept where convert writes it


def test_nested_figures_are_typed():
    r = Report.from_dict(AS_CONVERT_WRITES)
    assert isinstance(r.frontend, FrontendFigures) and r.frontend.window_buffer_bytes == 67932
    assert isinstance(r.engine, EngineFigures) and r.engine.available and r.engine.trunk_vs_tflm["differing"] == 0
    assert isinstance(r.tflm, TflmFigures) and r.tflm.ccc == DIMS and r.frontend_kind == "fixed"
    gone = Report.from_dict({**AS_CONVERT_WRITES, "engine": {"name": "w2s", "available": False, "reason": "X"}})
    assert not gone.engine.available and gone.engine.reason == "X" and gone.engine.state_bytes is None


def test_an_old_style_report_loads_without_engine_tflm_or_some_figures():
    """Bundles from before the engine and the TFLM path's figures: no `engine`/`tflm` keys or `{}`, an engine
    without `available`, a front end with fewer keys, keys this version does not know."""
    old = {k: v for k, v in FAKE_REPORT.items() if k not in ("engine", "tflm", "messages", "timings_s")}
    for d in (old, {**old, "engine": {}, "tflm": {}}):
        r = Report.from_dict(d)
        assert r.engine is None and r.tflm is None
        assert "| w2s engine" not in markdown(r) and "nan" in markdown(r)  # no TFLM figures: nan in the table
    r = Report.from_dict({**FAKE_REPORT, "frontend": {**FAKE_REPORT["frontend"], "retired_key": 1}})
    assert r.engine.available and r.engine.state_bytes == 8416 and r.engine.trunk_vs_tflm is None
    assert r.frontend.table_bytes == 2022 and r.frontend.flash_bytes is None
    assert json.loads(r.to_json())["engine"]["frontend_store_bytes"] == 63936
