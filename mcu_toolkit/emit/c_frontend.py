"""Emit the fixed-point front end: its two hand-written C files and the generated tables.

Every number the C shares with Python is generated from one definition: `constants()` lists the
W2S_FE_* macros (from spec.py and dsp/fixed.py), `tables()` the arrays (from dsp/fixed.Tables).
"""

from __future__ import annotations

from importlib import resources as ilr
from typing import NamedTuple

import numpy as np

from .. import spec
from ..dsp import fixed
from ..dsp.fixed import InputQuant, Tables
from .c_model import GENERATED
from .cwrite import array, define, sizeof

SOURCES = ("w2s_frontend.h", "w2s_frontend.c")


def frontend_sources() -> dict[str, str]:
    base = ilr.files("mcu_toolkit.dsp") / "c"
    return {name: (base / name).read_text() for name in SOURCES}


class CConst(NamedTuple):
    name: str
    value: int
    comment: str
    unsigned: bool = False  # a count or size: rendered with a u suffix

    def define(self, width: int = 0, comment: bool = True) -> str:
        return define(self.name, self.value, self.comment if comment else "", self.unsigned, width)


def constants(t: Tables) -> list[CConst]:
    """The W2S_FE_* macros of w2s_frontend_tables.h: the facts the C shares with Python, defined once."""
    return [
        CConst("W2S_FE_SAMPLE_RATE_HZ", spec.SAMPLE_RATE, "input sample rate", True),
        CConst("W2S_FE_N_FFT", spec.N_FFT, "samples per frame", True),
        CConst("W2S_FE_HOP", spec.HOP, "new samples per frame", True),
        CConst("W2S_FE_N_BINS", spec.N_BINS, "bins of the one-sided spectrum", True),
        CConst("W2S_FE_N_MELS", t.n_mels, "mel filters: values per frame", True),
        CConst("W2S_FE_MEL_WIDTH", t.mel_u_q11.shape[1], "bins of the widest mel filter", True),
        CConst("W2S_FE_DC_BINS", fixed.DC_BINS,
               "int32 kept per frame: Re 2X[0], Re 2X[1], Im 2X[1], the frame's offset and shift", True),
        CConst("W2S_FE_FRAME_LOG2", fixed.FRAME_LOG2, "log2(W2S_FE_N_FFT): a frame's offset is its mean", True),
        CConst("W2S_FE_BLOCK_BITS", fixed.BLOCK_BITS, "a frame's (x - offset) << shift fills this many bits", True),
        CConst("W2S_FE_DC_VALUE_BITS", fixed.DC_VALUE_BITS, "window-end DC bins stay under 2^30", True),
        CConst("W2S_FE_LOG2_LEN", len(t.log2_q16), "entries of the log2 table", True),
        CConst("W2S_FE_MAX_WINDOW_SAMPLES", fixed.MAX_WINDOW_SAMPLES, "60 s: exact prenorm in 128-bit sums",
               True),
        CConst("W2S_FE_FLOOR_DB_Q7", fixed.FLOOR_DB_Q7, "-100 dB: the model clamps mel power at 1e-10"),
        CConst("W2S_FE_RAW_FLOOR_DB_Q7", fixed.RAW_FLOOR_DB_Q7, "a mel with no energy at all, before finishing"),
        CConst("W2S_FE_HANN_SHIFT", fixed.HANN_SHIFT,
               "windowed sample = (d * hann_q15 + 2^7) >> 8, d = (pcm - offset) << shift"),
        CConst("W2S_FE_TWIDDLE_BITS", fixed.TWIDDLE_BITS, "twiddles are Q30"),
        CConst("W2S_FE_POWER_SHIFT", fixed.POWER_SHIFT, "power = (2X)^2 >> 12"),
        CConst("W2S_FE_DB_PER_LOG2_Q16", fixed.DB_PER_LOG2_Q16, "10*log10(2), Q16"),
        CConst("W2S_FE_REF30_DB_Q7", fixed.REF30_DB_Q7, "10*log10(2^30), dB Q7"),
        CConst("W2S_FE_PRENORM_EPS_INV", fixed.PRENORM_EPS_INV, "1 / prenorm's epsilon", True),
        CConst("W2S_FE_DC_GAIN_BIN0", fixed.DC_GAIN_BIN0, "a constant c moves 2X[0] by this times c"),
        CConst("W2S_FE_DC_GAIN_BIN1", fixed.DC_GAIN_BIN1, "... and 2X[1] by this times c"),
        CConst("W2S_FE_QUANT_SHIFT", fixed.QUANT_SHIFT, "int8 input: (db_q7 * mult_q24 + 2^23) >> 24"),
    ]


class CTable(NamedTuple):
    ctype: str
    name: str
    dims: tuple[str, ...]  # the header's extents, as C expressions over the constants
    values: np.ndarray
    per_line: int
    comment: str

    def c_bytes(self) -> int:
        return int(self.values.size) * sizeof(self.ctype)


def tables(t: Tables) -> list[CTable]:
    """The arrays of w2s_frontend_tables.{h,c}. The header sizes them with the constants, the .c with the
    data's own shape: if the two ever disagree, the C compiler stops (conflicting types)."""
    mel = ("W2S_FE_N_MELS",)
    return [
        CTable("uint16_t", "g_w2s_hann_q15", ("W2S_FE_N_FFT",), t.hann_q15, 12, "Periodic Hann window, Q15."),
        CTable("uint8_t", "g_w2s_bitrev5", ("W2S_FE_N_FFT / 2u",), t.bitrev5, 16,
               "5-bit bit reversal: the FFT's input order."),
        CTable("int32_t", "g_w2s_tw32_re_q30", ("W2S_FE_N_FFT / 4u",), t.tw32_re_q30, 6, "e^(-j 2 pi k / 32), Q30."),
        CTable("int32_t", "g_w2s_tw32_im_q30", ("W2S_FE_N_FFT / 4u",), t.tw32_im_q30, 6, ""),
        CTable("int32_t", "g_w2s_tw64_re_q30", ("W2S_FE_N_BINS",), t.tw64_re_q30, 6, "e^(-j 2 pi k / 64), Q30."),
        CTable("int32_t", "g_w2s_tw64_im_q30", ("W2S_FE_N_BINS",), t.tw64_im_q30, 6, ""),
        CTable("uint8_t", "g_w2s_mel_first_bin", mel, t.mel_first_bin, 16,
               "Slaney mel filters (librosa defaults), sparse: first bin, bin count, weights / peak in Q11,\n"
               "   and 10*log10(peak / 2^45) in dB Q7. Filters with no bins stay at the -100 dB floor."),
        CTable("uint8_t", "g_w2s_mel_n_bins", mel, t.mel_n_bins, 16, ""),
        CTable("uint8_t", "g_w2s_mel_is_dc", mel, t.mel_is_dc, 16,
               "1: built from bins 0-1 only, finished per window with the exact mean."),
        CTable("uint16_t", "g_w2s_mel_u_q11", (*mel, "W2S_FE_MEL_WIDTH"), t.mel_u_q11, 0, ""),
        CTable("int16_t", "g_w2s_mel_db_q7", mel, t.mel_db_q7, 10, ""),
        CTable("int32_t", "g_w2s_log2_q16", ("W2S_FE_LOG2_LEN",), t.log2_q16, 10, "log2(1 + i/256), Q16."),
    ]


def _define_lines(consts: list[CConst]) -> str:
    width = 1 + max(len(c.define(comment=False)) for c in consts)  # the comments in one column
    return "\n".join(c.define(width) for c in consts)


def tables_h(t: Tables, has_config: bool = False) -> str:
    config = ("/* Defined in w2s_frontend_tables.c; the type is in w2s_frontend.h. */\n"
              "#define W2S_FE_HAS_CONFIG 1\n\n") if has_config else ""
    externs = "\n".join(f"extern const {a.ctype} {a.name}{''.join(f'[{d}]' for d in a.dims)};" for a in tables(t))
    return GENERATED + f"""#ifndef W2S_FRONTEND_TABLES_H
#define W2S_FRONTEND_TABLES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* The front end's constants, from mcu_toolkit/spec.py and mcu_toolkit/dsp/fixed.py. */
{_define_lines(constants(t))}

/* Its tables, in w2s_frontend_tables.c. */
{externs}

#ifdef __cplusplus
}}
#endif

{config}#endif /* W2S_FRONTEND_TABLES_H */
"""


def _definition(a: CTable) -> str:
    comment = f"/* {a.comment} */\n" if a.comment else ""
    return comment + array(a.ctype, a.name, a.values, a.per_line, static=False)


def tables_c(t: Tables, quant: InputQuant | None, window_samples: int) -> str:
    config = ""
    if quant is not None:
        config = f"""
/* This bundle's window and int8 input quantisation (model input scale and zero point). */
const w2s_frontend_config_t g_w2s_frontend_config = {{
    {window_samples}u,
    {quant.mult},
    {quant.zero_point},
}};
"""
    body = "\n".join(_definition(a) for a in tables(t))
    return GENERATED + f'#include "w2s_frontend.h"\n\n{body}{config}'


def frontend_files(t: Tables, quant: InputQuant | None, window_samples: int) -> dict[str, str]:
    files = frontend_sources()
    files["w2s_frontend_tables.h"] = tables_h(t, has_config=quant is not None)
    files["w2s_frontend_tables.c"] = tables_c(t, quant, window_samples)
    return files


def table_bytes(t: Tables) -> int:
    """Flash taken by the generated tables (types as in w2s_frontend_tables.c)."""
    return sum(a.c_bytes() for a in tables(t))


# sizeof(w2s_frontend_state_t) on 32-bit targets: history, fill, count, sum, sum_sq
STATE_BYTES = spec.N_FFT * 2 + 4 + 4 + 8 + 8


def window_buffer_bytes(t: Tables, frames: int) -> int:
    """The caller's buffers for one window: raw dB Q7 frames and the DC bins."""
    return frames * (t.n_mels * 2 + fixed.DC_BINS * 4)


def frontend_code(t: Tables):
    """What the front end's code size is measured on: its C with any quantiser (the code is the same)."""
    return frontend_files(t, None, 0), "w2s_frontend.c"


def frontend_report(t: Tables, window_samples: int, frames: int, code: int | None) -> dict:
    """code: frontend_code's .text bytes (cores.code_bytes), None without arm-none-eabi-gcc."""
    tables_b = table_bytes(t)
    return {
        "kind": "fixed",
        "format": {"in": "int16 PCM, 16 kHz", "block": "per frame: offset = rounded mean, (x - offset) << shift "
                   "fills 16 bits; the shift comes off in the log2", "window": "Hann Q15",
                   "fft": "32-point complex radix-2, Q30 twiddles",
                   "mel_weights": "Q11 of each filter's peak", "out": "log-mel dB Q7 (int16), then int8 "
                   "via q = ((db_q7 * mult + 2^23) >> 24) + zero_point"},
        "prenorm": "exact per window: gain as a dB offset from the window's sums; mean via bins 0-1",
        "table_bytes": tables_b,
        "code_bytes_cortex_m4_Os": code,
        "flash_bytes": None if code is None else code + tables_b,
        "state_bytes": STATE_BYTES,
        "window_buffer_bytes": window_buffer_bytes(t, frames),
        "ram_bytes": STATE_BYTES + window_buffer_bytes(t, frames),
        "window_samples": window_samples,
    }
