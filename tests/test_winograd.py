"""Exact integer Winograd F(4,3) (engine/winograd.py): the transformed arithmetic gives the direct convs' sums for any
width, channel count and zero point, the bounds the C relies on are proved from the weights (and hold on the worst
inputs), and a conv whose bound fails stays direct (no Winograd weights in the generated model)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from mcu_toolkit.engine import winograd
from mcu_toolkit.engine.layers import Conv


def _conv(rng, cin: int, cout: int, width: int, in_zero: int, scale: int = 128) -> Conv:
    w = rng.integers(-scale, scale, (cout, 3, 3, cin)).astype(np.int8)
    return Conv(tensor=0, kh=3, kw=3, cin=cin, cout=cout, width=width, weights=w,
                bias=rng.integers(-5000, 5000, cout).astype(np.int32), mult=np.full(cout, 1 << 30, np.int64),
                shift=np.full(cout, -8, np.int64), in_zero=in_zero, out_zero=0, act_min=-128, act_max=127)


def _direct_sums(c: Conv, x: np.ndarray) -> np.ndarray:
    """The direct conv's int sums without bias, out-of-image taps skipped (d = x - zero point, zeros around)."""
    d = np.pad(x.astype(np.int64) - c.in_zero, ((1, 1), (1, 1), (0, 0)))
    win = sliding_window_view(d, (3, 3), axis=(0, 1))                 # (T, W, cin, 3, 3)
    return np.einsum("twcyx,oyxc->two", win, c.weights.astype(np.int64))


@pytest.mark.parametrize("width", [1, 3, 4, 5, 8, 9, 13, 26])
@pytest.mark.parametrize("cin,zero", [(4, -128), (5, 17), (13, -128), (13, 85)])
def test_winograd_sums_equal_the_direct_sums(width, cin, zero):
    """Whole and partial last tiles, channel counts with and without a rest after the fours, any zero point;
    the saturating extremes and random rows."""
    rng = np.random.default_rng(width * 100 + cin)
    c = _conv(rng, cin, 13, width, zero)
    for x in (np.full((6, width, cin), -128, np.int8), np.full((6, width, cin), 127, np.int8),
              rng.integers(-128, 128, (9, width, cin)).astype(np.int8)):
        np.testing.assert_array_equal(winograd.conv_sums(c, x), _direct_sums(c, x))


def test_the_bounds_hold_on_the_worst_inputs():
    """The proved maxima bound what the transforms really reach, on inputs pinned to either end of int8 in the
    pattern that drives each transformed value up (the signs of a B^T row)."""
    rng = np.random.default_rng(3)
    c = _conv(rng, 13, 13, 26, -128)
    b = winograd.winograd_bounds(c)
    assert b.ok
    u = winograd.transform_weights(c)
    seen_v, seen_m = 0, 0
    for row in winograd.BT:
        for sign in (1, -1):
            x = np.full((3, 26, 13), -128, np.int8)
            x[:, 3:9] = np.where(sign * row >= 0, 127, -128)[None, :, None]  # the second tile's six columns
            d = np.pad(x.astype(np.int64) - c.in_zero, ((0, 0), (1, 1), (0, 0)))[:, 4:10]
            v = np.einsum("kj,hjc->hkc", winograd.BT, d)                        # (rows, points, channels)
            m = np.einsum("hkc,kohc->ko", v, u)
            seen_v, seen_m = max(seen_v, int(np.abs(v).max())), max(seen_m, int(np.abs(m).max()))
    assert 0 < seen_v <= b.input <= 10 * 255 and 0 < seen_m <= b.sum
    assert b.weight == int(np.abs(u).max()) <= 7 * 128
    assert b.output < 2**31 and b.input < 2**15


def test_a_failing_bound_keeps_the_conv_direct():
    """A conv too wide for int32 Winograd sums (4,000 input channels of full-scale weights): the proof fails, the
    layer stays direct, and its generated struct gets no Winograd weights."""
    rng = np.random.default_rng(1)
    wide = _conv(rng, 4000, 4, 8, -128)
    b = winograd.winograd_bounds(wide)
    assert not b.ok and b.sum > 2**31 - 1
    assert not wide.winograd and wide.wino_ring == 0
    assert wide.c_fields("x", 0)["wino_s16"] == "NULL"
    assert all("wino" not in name for _, name, _, _ in wide.c_arrays("x"))
    ok = _conv(rng, 13, 13, 26, -128)
    assert ok.winograd and ok.c_fields("x", 0)["wino_s16"] == "x_wino_s16"
    assert not _conv(rng, 1, 13, 26, 85).winograd  # one input channel: the transforms cost more than they save


def test_the_weights_are_laid_out_as_the_kernels_read_them():
    """wino_s16: by point, then channel groups (4 + 3 + 3 + 3), then (row, lane) pairs; the lanes are SXTB16's
    order in fours (channels 0, 2, 1, 3) and a zero lane rounds an odd channel count up."""
    rng = np.random.default_rng(2)
    c = _conv(rng, 13, 13, 26, -128)
    w = winograd.weights_s16(c)
    lanes = winograd.lanes(13)
    assert lanes == 14 and w.size == 6 * 13 * 3 * lanes
    assert sorted(winograd.lane_of_channel(13)) == list(range(13))
    assert list(winograd.lane_of_channel(13)[:4]) == [0, 2, 1, 3]
    u = winograd.transform_weights(c)                                    # (6, cout, kh, cin)
    # point 2, group 0 (channels 0..3): pair i holds (row, lane) 2i and 2i + 1 for each channel in turn
    run = 3 * lanes
    g0 = w[2 * 13 * run:2 * 13 * run + 4 * run].reshape(run // 2, 4, 2)
    ch = int(np.where(winograd.lane_of_channel(13) == 1)[0][0])       # lane 1 is channel 2
    assert g0[0, 3, 1] == u[2, 3, 0, ch] and g0[lanes // 2, 0, 0] == u[2, 0, 1, 0]
    assert g0[lanes // 2 - 1, 1, 1] == 0                                # the zero lane of row 0


def _report(state: int, rows: int):
    import copy

    from adversarial import FAKE_REPORT
    from mcu_toolkit.bundle import Report

    d = copy.deepcopy(FAKE_REPORT)
    d["engine"].update(state_bytes=state, winograd_bytes=rows, int8_outputs_per_window=1_604_486)
    return Report.from_dict(d)


def test_the_budget_keeps_winograd_where_the_rows_fit_and_drops_it_where_not():
    """The rows count on the DSP cores while the board's RAM has room for them; where it has not but the direct
    engine fits, the board goes direct (and its state loses the rows); a core without the DSP extension never
    holds them."""
    from mcu_toolkit.firmware.boards import BOARDS, budget

    f411, esp = BOARDS["nucleo-f411re"], BOARDS["esp32-s3"]
    rows = 15_000
    roomy = budget(f411, _report(10_000 + rows, rows))
    assert roomy.winograd and roomy.parts["engine_state"] == 10_000 + rows and roomy.fits
    base = roomy.ram_used - rows - 10_000                  # everything but the engine's state
    tight_state = f411.ram - base - rows // 2               # fits without the rows, not with them
    tight = budget(f411, _report(tight_state + rows, rows))
    assert not tight.winograd and tight.fits and tight.parts["engine_state"] == tight_state
    never = budget(f411, _report(f411.ram, rows))          # does not fit either way: stays as it is, refused
    assert never.winograd and not never.fits
    assert budget(esp, _report(10_000 + rows, rows)).parts["engine_state"] == 10_000
    assert budget(f411, _report(10_000, 0)).parts["engine_state"] == 10_000  # a bundle from before Winograd


def test_a_direct_engine_has_no_winograd_weights_and_the_smaller_state():
    """winograd.direct: what firmware generates for a board without room for the rows."""
    from synthetic_engine import synthetic_engine

    from mcu_toolkit.emit.c_engine import engine_files

    e = synthetic_engine("13ch_9mels")
    d = winograd.direct(e)
    assert "_wino_s16" in engine_files(e)["w2s_engine_model.c"]
    assert "_wino_s16" not in engine_files(d)["w2s_engine_model.c"]
    assert winograd.rows_bytes(e) == e.state_bytes() - d.state_bytes() > 0 and winograd.rows_bytes(d) == 0
    np.testing.assert_array_equal(d.features(np.zeros((5, 9), np.int8)), e.features(np.zeros((5, 9), np.int8)))


def test_the_speed_estimate_counts_winograd_macs_at_their_own_rate():
    """firmware/speed.py: the Winograd convs' MACs at engine_per_winograd_mac where the build has them, at
    engine_per_mac where it has not (a direct board) or the rate is not measured."""
    import dataclasses

    from mcu_toolkit.cores import CORES
    from mcu_toolkit.firmware.speed import engine_instructions_per_s

    r = _report(25_000, 15_000)
    r.engine.winograd_macs_per_window = 100_000_000
    m4 = dataclasses.replace(CORES["cortex-m4f"].rates, engine_per_winograd_mac=0.5)
    w, outs = r.window_seconds, r.engine.int8_outputs_per_window or 0
    direct = (r.macs * m4.engine_per_mac + outs * m4.engine_per_output) / w
    assert engine_instructions_per_s(r, m4, winograd=False) == pytest.approx(direct)
    assert engine_instructions_per_s(r, m4) == pytest.approx(direct - 100_000_000 * (m4.engine_per_mac - 0.5) / w)
    unmeasured = dataclasses.replace(m4, engine_per_winograd_mac=None)
    assert engine_instructions_per_s(r, unmeasured) == pytest.approx(direct)
