"""Emit the fixed-point front end: its two hand-written C files and the generated tables."""

from __future__ import annotations

from importlib import resources as ilr

import numpy as np

from ..cores import code_bytes
from ..dsp.fixed import InputQuant, Tables
from .c_model import GENERATED

SOURCES = ("w2s_frontend.h", "w2s_frontend.c")


def frontend_sources() -> dict[str, str]:
    base = ilr.files("mcu_toolkit.dsp") / "c"
    return {name: (base / name).read_text() for name in SOURCES}


def _array(values, per_line: int = 12, indent: str = "    ") -> str:
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [indent + ", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line)]
    return "\n".join(lines)


def tables_h(t: Tables, has_config: bool = False) -> str:
    config = ("/* Defined in w2s_frontend_tables.c; the type is in w2s_frontend.h. */\n"
              "#define W2S_FE_HAS_CONFIG 1\n\n") if has_config else ""
    return GENERATED + f"""#ifndef W2S_FRONTEND_TABLES_H
#define W2S_FRONTEND_TABLES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define W2S_FE_N_MELS {t.n_mels}u
#define W2S_FE_N_BINS 33u
#define W2S_FE_MEL_WIDTH {t.mel_u_q11.shape[1]}u

extern const uint16_t g_w2s_hann_q15[64];
extern const uint8_t g_w2s_bitrev5[32];
extern const int32_t g_w2s_tw32_re_q30[16];
extern const int32_t g_w2s_tw32_im_q30[16];
extern const int32_t g_w2s_tw64_re_q30[W2S_FE_N_BINS];
extern const int32_t g_w2s_tw64_im_q30[W2S_FE_N_BINS];
extern const uint8_t g_w2s_mel_first_bin[W2S_FE_N_MELS];
extern const uint8_t g_w2s_mel_n_bins[W2S_FE_N_MELS];
extern const uint8_t g_w2s_mel_is_dc[W2S_FE_N_MELS];
extern const uint16_t g_w2s_mel_u_q11[W2S_FE_N_MELS][W2S_FE_MEL_WIDTH];
extern const int16_t g_w2s_mel_db_q7[W2S_FE_N_MELS];
extern const int32_t g_w2s_log2_q16[257];

#ifdef __cplusplus
}}
#endif

{config}#endif /* W2S_FRONTEND_TABLES_H */
"""


def tables_c(t: Tables, quant: InputQuant | None, window_samples: int) -> str:
    u_rows = "\n".join("    {" + ", ".join(str(int(v)) for v in row) + "}," for row in t.mel_u_q11)
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
    return GENERATED + f"""#include "w2s_frontend.h"

/* Periodic Hann window of 64, Q15. */
const uint16_t g_w2s_hann_q15[64] = {{
{_array(t.hann_q15)}
}};

const uint8_t g_w2s_bitrev5[32] = {{
{_array(t.bitrev5, 16)}
}};

/* e^(-j 2 pi k / 32) and e^(-j 2 pi k / 64), Q30. */
const int32_t g_w2s_tw32_re_q30[16] = {{
{_array(t.tw32_re_q30, 6)}
}};
const int32_t g_w2s_tw32_im_q30[16] = {{
{_array(t.tw32_im_q30, 6)}
}};
const int32_t g_w2s_tw64_re_q30[W2S_FE_N_BINS] = {{
{_array(t.tw64_re_q30, 6)}
}};
const int32_t g_w2s_tw64_im_q30[W2S_FE_N_BINS] = {{
{_array(t.tw64_im_q30, 6)}
}};

/* Slaney mel filters (librosa defaults), sparse: first bin, bin count, weights / peak in Q11,
   and 10*log10(peak / 2^45) in dB Q7. Filters with no bins stay at the -100 dB floor. */
const uint8_t g_w2s_mel_first_bin[W2S_FE_N_MELS] = {{
{_array(t.mel_first_bin, 16)}
}};
const uint8_t g_w2s_mel_n_bins[W2S_FE_N_MELS] = {{
{_array(t.mel_n_bins, 16)}
}};
/* 1: built from bins 0-1 only, finished per window with the exact mean. */
const uint8_t g_w2s_mel_is_dc[W2S_FE_N_MELS] = {{
{_array(t.mel_is_dc, 16)}
}};
const uint16_t g_w2s_mel_u_q11[W2S_FE_N_MELS][W2S_FE_MEL_WIDTH] = {{
{u_rows}
}};
const int16_t g_w2s_mel_db_q7[W2S_FE_N_MELS] = {{
{_array(t.mel_db_q7, 10)}
}};

/* log2(1 + i/256), Q16. */
const int32_t g_w2s_log2_q16[257] = {{
{_array(t.log2_q16, 10)}
}};
{config}"""


def frontend_files(t: Tables, quant: InputQuant | None, window_samples: int) -> dict[str, str]:
    files = frontend_sources()
    files["w2s_frontend_tables.h"] = tables_h(t, has_config=quant is not None)
    files["w2s_frontend_tables.c"] = tables_c(t, quant, window_samples)
    return files


def table_bytes(t: Tables) -> int:
    """Flash taken by the generated tables (types as in w2s_frontend_tables.c)."""
    m = t.n_mels
    return (64 * 2 + 32 + 2 * 16 * 4 + 2 * 33 * 4 + 3 * m + m * t.mel_u_q11.shape[1] * 2 + m * 2 + 257 * 4)


STATE_BYTES = 64 * 2 + 4 + 4 + 8 + 8  # sizeof(w2s_frontend_state_t) on 32-bit targets


def frontend_report(t: Tables, window_samples: int, frames: int) -> dict:
    code = code_bytes(frontend_files(t, None, 0), "w2s_frontend.c")
    tables_b = table_bytes(t)
    return {
        "kind": "fixed",
        "format": {"in": "int16 PCM, 16 kHz", "window": "Hann Q15", "fft": "32-point complex radix-2, Q30 twiddles",
                   "mel_weights": "Q11 of each filter's peak", "out": "log-mel dB Q7 (int16), then int8 "
                   "via q = ((db_q7 * mult + 2^23) >> 24) + zero_point"},
        "prenorm": "exact per window: gain as a dB offset from the window's sums; mean via bins 0-1",
        "table_bytes": tables_b,
        "code_bytes_cortex_m4_Os": code,
        "flash_bytes": None if code is None else code + tables_b,
        "state_bytes": STATE_BYTES,
        "window_buffer_bytes": frames * (t.n_mels * 2 + 12),
        "ram_bytes": STATE_BYTES + frames * (t.n_mels * 2 + 12),
        "window_samples": window_samples,
    }
