/* w2s_engine_conv_mve: the Helium (MVE) row kernels of a Cortex-M55 build (W2S_ENGINE_MVE, see
 * w2s_engine_layer.h): int8 x int8 dot products with VMLADAVA (16 MACs an instruction), a vectorised
 * requantisation, and max pool on 16 int8 lanes. w2s_engine_conv.c and w2s_engine_maxpool.c forward to them,
 * w2s_engine.c's pooling to w2s_pool_sums_mve. With GCC the hot loops are inline asm (GCC 12 spills around the
 * intrinsics): fully unrolled fields at immediate offsets, low-overhead loops, weights kept in Q registers.
 * Instruction counts: python benchmarks/bench_m55.py.
 *
 * Exact without taking the zero point out of each input: sum w * (x - zp) = sum w * x - zp * sum w, and the
 * generated bias_zp_s32 already holds bias - zp * sum w over the whole kernel. Out-of-image taps hold zp in the
 * interleaved rows, so they add w * zp, which that sum takes out again: TFLM's skipped taps. */
#include "w2s_engine_layer.h"

#if W2S_ENGINE_MVE
#if defined(__GNUC__) && !defined(__clang__)
/* the inline asm loops need the registers -O2 leaves free: at -Os GCC 12 finds their constraints impossible */
#pragma GCC optimize("O2")
#endif
#include <arm_mve.h>
#include <string.h>

#include "w2s_engine_model.h" /* W2S_ENGINE_MANT_MAX_SHIFT */
#include "w2s_engine_requant.h"

#define W2S_MVE_LANES 16u  /* int8 lanes of a vector */
#define W2S_MVE_ROW (W2S_ENGINE_N_MELS + 1u) /* a channel's sums: the widest row, and an odd pixel's twin */

/* n bytes, 16 at a time under a tail predicate: no byte read or written past n */
static inline void copy_s8(int8_t *dst, const int8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i += W2S_MVE_LANES) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        vst1q_p_s8(dst + i, vld1q_z_s8(src + i, p), p);
    }
}

/* A conv's kh input rows as int8, interleaved by padded column as w2s_conv_widen_s16 does: column xp holds
 * kh * cin values (row 0's channels, row 1's, ...), padding columns hold in_zero. A pixel's receptive field is
 * then one contiguous run; the weights past it are zero, so the vector read past the last column is harmless. */
void w2s_conv_widen_mve_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *out)
{
    const size_t cin = layer->cin, kh = layer->kh, left = layer->pad_left, width = layer->width;
    const size_t cols = width + layer->kw - 1u, step = kh * cin;
    const int zero = layer->in_zero;
    memset(out, zero, left * step);
    int8_t *dst = out + left * step;
    if (cin == 1u && step * W2S_MVE_LANES <= 256u) {
        /* one channel: 16 columns of a row a load, scattered to their columns (byte offsets < 256) */
        const uint8x16_t at = vmulq_n_u8(vidupq_n_u8(0u, 1), (uint8_t)step);
        for (size_t ky = 0; ky < kh; ky++) {
            for (size_t x = 0; x < width; x += W2S_MVE_LANES) {
                const mve_pred16_t p = vctp8q((uint32_t)(width - x));
                vstrbq_scatter_offset_p_s8(dst + x * step + ky, at, vld1q_z_s8(rows[ky] + x, p), p);
            }
        }
        dst += width * step;
    } else if (cin >= W2S_MVE_LANES / 2u && cin <= W2S_MVE_LANES) {
        /* a row at a time, whole vectors: a column's load reads at most 15 bytes on, inside the row (cin >= 8)
         * but for the last column; a store's spill past cin lands in the same column's next row, written after
         * it, but for the last row's (the next column's first row: those stores predicated) */
        const mve_pred16_t p = vctp8q((uint32_t)cin);
        for (size_t ky = 0; ky < kh; ky++) {
            const int8_t *src = rows[ky];
            int8_t *d = dst + ky * cin;
            if (ky + 1u < kh) {
                for (size_t x = 1; x < width; x++, src += cin, d += step) {
                    vst1q_s8(d, vld1q_s8(src));
                }
            } else {
                for (size_t x = 1; x < width; x++, src += cin, d += step) {
                    vst1q_p_s8(d, vld1q_s8(src), p);
                }
            }
            vst1q_p_s8(d, vld1q_z_s8(src, p), p);
        }
        dst += width * step;
    } else if (cin <= W2S_MVE_LANES) {
        /* one predicated load per row and column; the store writes a whole vector, whose lanes past cin the next
         * store (the next row, or the next column's first) overwrites: columns in order, rows within them */
        const mve_pred16_t p = vctp8q((uint32_t)cin);
        for (size_t x = 0, at = 0; x < width; x++, at += cin) {
            for (size_t ky = 0; ky < kh; ky++, dst += cin) {
                vst1q_s8(dst, vld1q_z_s8(rows[ky] + at, p));
            }
        }
    } else {
        for (size_t x = 0; x < width; x++) {
            for (size_t ky = 0; ky < kh; ky++, dst += cin) {
                copy_s8(dst, rows[ky] + x * cin, cin);
            }
        }
    }
    memset(dst, zero, (cols - left - width) * step); /* after the columns: it overwrites the last one's spill */
    memset(out + cols * step, 0, W2S_MVE_LANES); /* the tail the last pixel reads: defined, times zero weights */
}

/* A row's sums for up to 3 output channels, without their bias: s[c * W2S_MVE_ROW + x]. */
#define W2S_MVE_WIDE 6u /* channels a 1-vector field's kernel keeps in Q registers */
typedef int32_t sums_t[W2S_MVE_WIDE * W2S_MVE_ROW + 3u]; /* + the last vector's read past the row */

#if defined(__GNUC__)
#define W2S_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define W2S_ALWAYS_INLINE inline
#endif

/* Two pixels (xa, xa + stride) by r channels (w, w + run, ...), r a constant where this is inlined: each vector of
 * a pixel's field meets the r weight vectors, each weight vector both pixels. The sums start at 0 (the bias is
 * added at requantisation). Post-incremented pointers: GCC 12 spills the immediate offsets of an unrolled body. */
static W2S_ALWAYS_INLINE void dot_2xr(const int8_t *xa, size_t stride, const int8_t *w, size_t run, int32_t *s,
                                      const size_t r, const size_t vectors)
{
    const int8_t *xb = xa + stride, *w0 = w, *w1 = w + run, *w2 = w + 2u * run;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0;
#pragma GCC unroll 1
    for (size_t k = vectors; k > 0; k--) {
        const int8x16_t va = vld1q_s8(xa), vb = vld1q_s8(xb);
        int8x16_t v = vld1q_s8(w0);
        a0 = vmladavaq_s8(a0, va, v);
        a1 = vmladavaq_s8(a1, vb, v);
        if (r > 1u) {
            v = vld1q_s8(w1);
            a2 = vmladavaq_s8(a2, va, v);
            a3 = vmladavaq_s8(a3, vb, v);
            w1 += W2S_MVE_LANES;
        }
        if (r > 2u) {
            v = vld1q_s8(w2);
            a4 = vmladavaq_s8(a4, va, v);
            a5 = vmladavaq_s8(a5, vb, v);
            w2 += W2S_MVE_LANES;
        }
        xa += W2S_MVE_LANES, xb += W2S_MVE_LANES, w0 += W2S_MVE_LANES;
    }
    s[0] = a0, s[1] = a1;
    if (r > 1u) {
        s[W2S_MVE_ROW] = a2, s[W2S_MVE_ROW + 1u] = a3;
    }
    if (r > 2u) {
        s[2u * W2S_MVE_ROW] = a4, s[2u * W2S_MVE_ROW + 1u] = a5;
    }
}

#if defined(__GNUC__)
/* The unrolled kernels' body, once per vector at immediate offsets (up to 8 vectors: VLDRB's 7 bits), no loop;
 * the first vector's VMLADAV starts each sum. Written out (not .rept) so that GCC sizes the asm right. */
#define W2S_MLA(acc, x, wq, off)                                                                                  \
    ".if " off "\n\tvmladava.s8 %[" acc "], " x ", " wq "\n\t"                                                    \
    ".else\n\tvmladav.s8 %[" acc "], " x ", " wq "\n\t.endif\n\t"
#define W2S_LD(q, ptr, off) "vldrb.8 " q ", [%[" ptr "], #" off "]\n\t"
#define W2S_REP_1(step) step("0")
#define W2S_REP_8(step) step("0") step("16") step("32") step("48") step("64") step("80") step("96") step("112")
#define W2S_STEP_1(o) W2S_LD("q0", "xa", o) W2S_LD("q1", "xb", o) W2S_LD("q2", "w0", o) \
    W2S_MLA("a0", "q0", "q2", o) W2S_MLA("a1", "q1", "q2", o)
#define W2S_STEP_2(o) W2S_STEP_1(o) W2S_LD("q3", "w1", o) W2S_MLA("a2", "q0", "q3", o) W2S_MLA("a3", "q1", "q3", o)
#define W2S_STEP_3(o) W2S_STEP_2(o) W2S_LD("q2", "w2", o) W2S_MLA("a4", "q0", "q2", o) W2S_MLA("a5", "q1", "q2", o)
#define W2S_IN [xa] "r"(px), [xb] "r"(xb), [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2)
#define W2S_CLOBBER "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "memory"
#define W2S_SUM(n) [a##n] "=&Te"(a##n)
#define W2S_BODY_3(v_)                                                                                            \
    int32_t a0, a1, a2, a3, a4, a5;                                                                               \
    __asm__(W2S_REP_##v_(W2S_STEP_3)                                                                              \
            : W2S_SUM(0), W2S_SUM(1), W2S_SUM(2), W2S_SUM(3), W2S_SUM(4), W2S_SUM(5) : W2S_IN : W2S_CLOBBER);     \
    s[0] = a0, s[1] = a1, s[W2S_MVE_ROW] = a2, s[W2S_MVE_ROW + 1u] = a3;                                          \
    s[2u * W2S_MVE_ROW] = a4, s[2u * W2S_MVE_ROW + 1u] = a5;
#define W2S_BODY_2(v_)                                                                                            \
    int32_t a0, a1, a2, a3;                                                                                       \
    __asm__(W2S_REP_##v_(W2S_STEP_2) : W2S_SUM(0), W2S_SUM(1), W2S_SUM(2), W2S_SUM(3) : W2S_IN : W2S_CLOBBER);    \
    s[0] = a0, s[1] = a1, s[W2S_MVE_ROW] = a2, s[W2S_MVE_ROW + 1u] = a3;
#define W2S_BODY_1(v_)                                                                                            \
    int32_t a0, a1;                                                                                               \
    __asm__(W2S_REP_##v_(W2S_STEP_1) : W2S_SUM(0), W2S_SUM(1) : W2S_IN : W2S_CLOBBER);                            \
    s[0] = a0, s[1] = a1;

/* A row's pixel pairs by r channels, for a field of a constant number of vectors (<= 8): the unrolled body in
 * the pair loop (an odd last pixel pairs with itself: its twin's sums land in the spare slot). */
#define W2S_PAIRS(name, r_, vectors_)                                                                             \
    W2S_NOINLINE static void name(const int8_t *px, size_t n, size_t stride, const int8_t *w, size_t run,         \
                                  int32_t *s)                                                                     \
    {                                                                                                             \
        const int8_t *const w0 = w, *const w1 = w + run, *const w2 = w + 2u * run;                                \
        for (; n > 0u; n = n > 1u ? n - 2u : 0u, px += 2u * stride, s += 2) {                                     \
            const int8_t *const xb = n > 1u ? px + stride : px;                                                   \
            W2S_BODY_##r_(vectors_)                                                                                    \
        }                                                                                                         \
    }
#else
#define W2S_PAIRS(name, r_, vectors_)                                                                             \
    static void name(const int8_t *px, size_t n, size_t stride, const int8_t *w, size_t run, int32_t *s)         \
    {                                                                                                             \
        for (; n > 1u; n -= 2u, px += 2u * stride, s += 2) {                                                      \
            dot_2xr(px, stride, w, run, s, (r_), (vectors_));                                                     \
        }                                                                                                         \
        if (n == 1u) {                                                                                            \
            dot_2xr(px, 0u, w, run, s, (r_), (vectors_));                                                         \
        }                                                                                                         \
    }
#endif
#if defined(__GNUC__)
/* 8-vector fields (the 13-channel 3x3 convs): the pair loop in the asm too (a low-overhead loop), so a pair costs
 * its loads and VMLADAVs, 3 stores and 3 adds. The first two channels' weights through one pointer 120 bytes into
 * the group (offsets -120 .. 120: VLDRB's 7 bits), the sums' stores at the row's stride. */
#define W2S_L8_STEP_2(o) W2S_LD("q0", "xa", o) W2S_LD("q1", "xb", o) W2S_LD("q2", "wm", "-120 + " o)             \
    W2S_MLA("a0", "q0", "q2", o) W2S_MLA("a1", "q1", "q2", o) W2S_LD("q3", "wm", "8 + " o)                        \
    W2S_MLA("a2", "q0", "q3", o) W2S_MLA("a3", "q1", "q3", o)
#define W2S_L8_STEP_3(o) W2S_L8_STEP_2(o) W2S_LD("q2", "w2", o) W2S_MLA("a4", "q0", "q2", o)                       \
    W2S_MLA("a5", "q1", "q2", o)
#define W2S_L8_STORE_2 "strd %[a0], %[a1], [%[s]]\n\tstrd %[a2], %[a3], [%[s], #%c[row]]\n\t"
#define W2S_L8_STORE_3 W2S_L8_STORE_2 "strd %[a4], %[a5], [%[s], #2 * %c[row]]\n\t"
#define W2S_LOOP8(name, r_, body)                                                                                 \
    W2S_NOINLINE static void name(const int8_t *px, size_t n, size_t stride, const int8_t *w, size_t run,         \
                                  int32_t *s)                                                                     \
    {                                                                                                             \
        const int8_t *const wm = w + 120, *const w2 = w + 2u * run;                                               \
        (void)w2;                                                                                                 \
        if (n > 1u) {                                                                                             \
            const int8_t *xb = px + stride;                                                                       \
            int32_t a0, a1, a2, a3, a4, a5;                                                                       \
            __asm__ volatile("dls lr, %[pairs]\n"                                                                 \
                             "1:\n\t" W2S_REP_8(W2S_L8_STEP_##r_) W2S_L8_STORE_##r_                               \
                             "add %[s], %[s], #8\n\t"                                                             \
                             "add %[xa], %[xa], %[step]\n\t"                                                      \
                             "add %[xb], %[xb], %[step]\n\t"                                                      \
                             "le lr, 1b\n\t"                                                                      \
                             : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3),                \
                               [a4] "=&Te"(a4), [a5] "=&Te"(a5), [xa] "+r"(px), [xb] "+r"(xb), [s] "+r"(s)        \
                             : [pairs] "r"(n / 2u), [step] "r"(2u * stride), [wm] "r"(wm), [w2] "r"(w2),          \
                               [row] "i"(4u * W2S_MVE_ROW)                                                        \
                             : "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "memory");                   \
            (void)a4, (void)a5;                                                                                   \
        }                                                                                                         \
        if (n & 1u) {                                                                                             \
            body(px, 1u, stride, w, run, s);                                                                      \
        }                                                                                                         \
    }
#endif
W2S_PAIRS(pairs_3_1, 3, 1)
W2S_PAIRS(pairs_2_1, 2, 1)
W2S_PAIRS(pairs_1_1, 1, 1)
W2S_PAIRS(pairs_3_8, 3, 8)
W2S_PAIRS(pairs_2_8, 2, 8)
W2S_PAIRS(pairs_1_8, 1, 8)
#undef W2S_PAIRS
#if defined(__GNUC__)
W2S_LOOP8(loop_3_8, 3, pairs_3_8)
W2S_LOOP8(loop_2_8, 2, pairs_2_8)
#undef W2S_LOOP8
#else
#define loop_3_8 pairs_3_8
#define loop_2_8 pairs_2_8
#endif

/* Any other field: the vector loop. */
#define W2S_PAIRS_LOOP(name, r_)                                                                                  \
    W2S_NOINLINE static void name(const int8_t *px, size_t n, size_t stride, const int8_t *w, size_t run,         \
                                  int32_t *s)                                                                     \
    {                                                                                                             \
        for (; n > 1u; n -= 2u, px += 2u * stride, s += 2) {                                                      \
            dot_2xr(px, stride, w, run, s, (r_), run / W2S_MVE_LANES);                                            \
        }                                                                                                         \
        if (n == 1u) {                                                                                            \
            dot_2xr(px, 0u, w, run, s, (r_), run / W2S_MVE_LANES);                                                \
        }                                                                                                         \
    }
W2S_PAIRS_LOOP(pairs_3, 3u)
W2S_PAIRS_LOOP(pairs_2, 2u)
W2S_PAIRS_LOOP(pairs_1, 1u)
#undef W2S_PAIRS_LOOP

#if defined(__GNUC__)
/* A 1-vector field (the first conv, the 1x1s) by r <= 6 channels: their weight vectors stay in q2..q7 over the
 * row, and a pixel is one load, r VMLADAVs and r stores (pairs would share nothing). */
#define W2S_W_LD(c, q) ".if " #c " < %c[r]\n\tvldrb.8 " q ", [%[w], #" #c " * 16]\n\t.endif\n\t"
#define W2S_W_MLA(c, acc, q) \
    ".if " #c " < %c[r]\n\tvmladav.s8 %[" acc "], q0, " q "\n\tstr %[" acc "], [%[s], #" #c " * %c[row]]\n\t.endif\n\t"
#define W2S_WIDE(name, r_)                                                                                        \
    W2S_NOINLINE static void name(const int8_t *px, size_t n, size_t stride, const int8_t *w, int32_t *s)         \
    {                                                                                                             \
        int32_t a0, a1, a2, a3, a4, a5;                                                                           \
        __asm__ volatile(W2S_W_LD(0, "q2") W2S_W_LD(1, "q3") W2S_W_LD(2, "q4") W2S_W_LD(3, "q5")                  \
                         W2S_W_LD(4, "q6") W2S_W_LD(5, "q7")                                                      \
                         "dls lr, %[n]\n"                                                                         \
                         "1:\n\t"                                                                                 \
                         "vldrb.8 q0, [%[px]]\n\t"                                                                \
                         "add %[px], %[px], %[stride]\n\t"                                                        \
                         W2S_W_MLA(0, "a0", "q2") W2S_W_MLA(1, "a1", "q3") W2S_W_MLA(2, "a2", "q4")               \
                         W2S_W_MLA(3, "a3", "q5") W2S_W_MLA(4, "a4", "q6") W2S_W_MLA(5, "a5", "q7")               \
                         "add %[s], %[s], #4\n\t"                                                                 \
                         "le lr, 1b\n\t"                                                                          \
                         : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [a4] "=&Te"(a4),   \
                           [a5] "=&Te"(a5), [px] "+r"(px), [s] "+r"(s)                                            \
                         : [n] "r"(n), [stride] "r"(stride), [w] "r"(w), [r] "i"(r_),                             \
                           [row] "i"(4u * W2S_MVE_ROW)                                                            \
                         : "lr", "d0", "d1", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13",      \
                           "d14", "d15", "memory");                                                               \
    }
W2S_WIDE(wide_1, 1)
W2S_WIDE(wide_2, 2)
W2S_WIDE(wide_3, 3)
W2S_WIDE(wide_4, 4)
W2S_WIDE(wide_5, 5)
W2S_WIDE(wide_6, 6)
#undef W2S_WIDE
#define W2S_HAS_WIDE 1
#else
#define W2S_HAS_WIDE 0
#endif

typedef void pairs_fn(const int8_t *, size_t, size_t, const int8_t *, size_t, int32_t *);

/* pixels [0, n) at px by channels g .. g + r - 1 (r <= 3) into s */
static void block_sums(const w2s_layer_s8_t *layer, const int8_t *px, size_t n, size_t g, size_t r, sums_t s)
{
    const size_t run = layer->run_s8, stride = (size_t)layer->kh * layer->cin, vectors = run / W2S_MVE_LANES;
    pairs_fn *const by_vectors[3][3] = {{pairs_1, pairs_1_1, pairs_1_8},
                                        {pairs_2, pairs_2_1, loop_2_8},
                                        {pairs_3, pairs_3_1, loop_3_8}};
#if W2S_HAS_WIDE
    if (vectors == 1u) {
        typedef void wide_fn(const int8_t *, size_t, size_t, const int8_t *, int32_t *);
        wide_fn *const by_r[W2S_MVE_WIDE] = {wide_1, wide_2, wide_3, wide_4, wide_5, wide_6};
        by_r[r - 1u](px, n, stride, layer->weights_s8 + g * run, s);
        return;
    }
#endif
    const size_t known = vectors == 1u ? 1u : vectors == 8u ? 2u : 0u;
    by_vectors[r - 1u][known](px, n, stride, layer->weights_s8 + g * run, run, s);
}

#if !W2S_SINGLE_ROUNDING
/* gemmlowp's double rounding on 4 lanes: VQRDMULH is SaturatingRoundingDoublingHighMul exactly (it rounds half
 * up, as gemmlowp's nudge does). RoundingDivideByPOT rounds half away from zero and VRSHL half up, so a negative
 * value first takes 1 (x + (x >> 31), `fix`), which moves only its ties; under a ReLU floor at or above the zero
 * point a negative value lands on the floor either way, and a right shift of 0 has no ties. */
static W2S_ALWAYS_INLINE int32x4_t requant4(int32x4_t v, int32_t bias, int32_t left, int32_t mult, int32_t right,
                                            int32_t zero, int32x4_t lo, int32x4_t hi, const int shl, const int fix)
{
    v = vaddq_n_s32(v, bias);
    v = vqrdmulhq_n_s32(shl ? vshlq_r_s32(v, left) : v, mult);
    if (fix) {
        v = vaddq_s32(v, vshrq_n_s32(v, 31));
    }
    return vminq_s32(vmaxq_s32(vaddq_n_s32(shl ? v : vrshlq_n_s32(v, -right), zero), lo), hi); /* shl: right 0 */
}

/* What a row's requantisation reads for every channel, set once per row. */
typedef struct {
    int32x4_t lo, hi;     /* the activation's range */
    uint32x4_t offsets;   /* 0, cout, 2 cout, 3 cout: four pixels' bytes of one channel */
    int32_t zero;         /* output zero point */
    int relu;             /* the floor at or above the zero point: no negative value needs its tie fixed */
} requant_row_t;

/* One channel's n sums to out[x * cout], 4 pixels a vector. A row of 4 or more pixels ends on the vector of its
 * last 4 (it stores again what the one before stored, the same values): no predicate to set up; a shorter row
 * stores under one. Variants without the left shift and without the tie fix where the channel needs neither. */
#define W2S_REQUANT4(x_, shl, fix)                                                                                \
    requant4(vld1q_s32(acc + (x_)), bias, left, mult, right, q->zero, q->lo, q->hi, (shl), (fix))
#if defined(__GNUC__)
/* requant4 on each vector in asm (GCC spills around the C loop): a low-overhead loop over the full vectors, then
 * the last 4 pixels' vector. sh is the left shift (shl) or minus the right shift. */
#define W2S_RQ_BODY(a, o)                                                                                         \
    "vldrw.u32 q0, [%[" a "]]\n\t"                                                                                \
    "vadd.i32 q0, q0, %[bias]\n\t"                                                                                \
    ".if %c[shl]\n\tvshl.s32 q0, %[sh]\n\t.endif\n\t"                                                            \
    "vqrdmulh.s32 q0, q0, %[mult]\n\t"                                                                            \
    ".if %c[fix]\n\tvshr.s32 q1, q0, #31\n\tvadd.i32 q0, q0, q1\n\t.endif\n\t"                                  \
    ".if %c[shl] == 0\n\tvrshl.s32 q0, %[sh]\n\t.endif\n\t"                                                      \
    "vadd.i32 q0, q0, %[zero]\n\t"                                                                                \
    "vmax.s32 q0, q0, %q[lo]\n\t"                                                                                 \
    "vmin.s32 q0, q0, %q[hi]\n\t"                                                                                 \
    "vstrb.32 q0, [%[" o "], %q[offs]]\n\t"
#define W2S_REQUANT_LOOP(shl_, fix_)                                                                              \
    __asm__ volatile("wls lr, %[full], 2f\n"                                                                      \
                     "1:\n\t" W2S_RQ_BODY("acc", "out")                                                           \
                     "add %[acc], %[acc], #16\n\t"                                                                \
                     "add %[out], %[out], %[step]\n\t"                                                            \
                     "le lr, 1b\n"                                                                                \
                     "2:\n\t" W2S_RQ_BODY("acc_t", "out_t")                                                       \
                     : [acc] "+r"(acc), [out] "+r"(out)                                                           \
                     : [full] "r"((n - 1u) / 4u), [step] "r"(4u * cout), [acc_t] "r"(acc + n - 4u),               \
                       [out_t] "r"(out + (n - 4u) * cout), [bias] "r"(bias), [mult] "r"(mult),                    \
                       [sh] "r"((shl_) ? left : -right), [zero] "r"(q->zero), [lo] "w"(q->lo), [hi] "w"(q->hi),   \
                       [offs] "w"(q->offsets), [shl] "i"(shl_), [fix] "i"(fix_)                                   \
                     : "lr", "d0", "d1", "d2", "d3", "memory");                                                   \
    return;
#else
#define W2S_REQUANT_LOOP(shl, fix)                                                                                \
    for (size_t x = 0; x + 4u < n; x += 4u) {                                                                     \
        vstrbq_scatter_offset_s32(out + x * cout, q->offsets, W2S_REQUANT4(x, shl, fix));                         \
    }                                                                                                             \
    vstrbq_scatter_offset_s32(out + (n - 4u) * cout, q->offsets, W2S_REQUANT4(n - 4u, shl, fix));                 \
    return;
#endif

static W2S_ALWAYS_INLINE void requant_channel(const requant_row_t *q, int32_t bias, int32_t mult, int shift,
                                              const int32_t *acc, size_t n, size_t cout, int8_t *out)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    if (n < 4u) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        if (right > 0 && !q->relu) {
            vstrbq_scatter_offset_p_s32(out, q->offsets, W2S_REQUANT4(0u, 0, 1), p);
        } else {
            vstrbq_scatter_offset_p_s32(out, q->offsets, W2S_REQUANT4(0u, left > 0, 0), p);
        }
        return;
    }
    if (left > 0) {
        W2S_REQUANT_LOOP(1, 0)
    }
    if (right > 0 && !q->relu) {
        W2S_REQUANT_LOOP(0, 1)
    }
    W2S_REQUANT_LOOP(0, 0)
}
#undef W2S_REQUANT_LOOP
#undef W2S_REQUANT4
#endif

/* The interleaved rows (w2s_conv_widen_mve_s8) -> one output row, by groups of 3 output channels (13 = 3 + 3 + 3
 * + 2 + 2: no channel alone): the group's sums over the row, then each channel's requantisation 4 pixels at once
 * (the last vector reads sums past the row: sums_t has room, and its store is predicated). */
void w2s_conv_row_mve_s8(const w2s_layer_s8_t *layer, const int8_t *wide, int8_t *out)
{
    const size_t cout = layer->cout, width = layer->width;
#if !W2S_SINGLE_ROUNDING
    const requant_row_t q = {vdupq_n_s32(layer->act_min), vdupq_n_s32(layer->act_max),
                             vmulq_n_u32(vidupq_n_u32(0u, 1), (uint32_t)cout), layer->out_zero,
                             layer->act_min >= layer->out_zero};
#endif
    const size_t most = W2S_HAS_WIDE && layer->run_s8 == W2S_MVE_LANES ? W2S_MVE_WIDE : 3u;
    for (size_t g = 0, r; g < cout; g += r) {
        const size_t rest = cout - g, groups = (rest + most - 1u) / most;
        r = most == 3u ? (rest == 4u ? 2u : (rest < 3u ? rest : 3u)) : (rest + groups - 1u) / groups;
        sums_t s;
        block_sums(layer, wide, width, g, r, s);
        for (size_t c = 0; c < r; c++) {
            const size_t oc = g + c;
#if W2S_SINGLE_ROUNDING
            for (size_t x = 0; x < width; x++) {
                const int32_t acc = (int32_t)((uint32_t)s[c * W2S_MVE_ROW + x] + (uint32_t)layer->bias_zp_s32[oc]);
                out[x * cout + oc] = clamp_s8(w2s_engine_requantize_q31(acc, layer->mult_q31[oc], layer->shift[oc]) +
                                                  layer->out_zero,
                                              layer->act_min, layer->act_max);
            }
#else
            requant_channel(&q, layer->bias_zp_s32[oc], layer->mult_q31[oc], layer->shift[oc], s + c * W2S_MVE_ROW,
                            width, cout, out + oc);
#endif
        }
    }
}

/* the max pool with a bounds test per column: a row too narrow for colmax to hold its padding */
static void maxpool_row_bounded(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *colmax, int8_t *out)
{
    const size_t n = (size_t)layer->width * layer->cin, cin = layer->cin;
    for (size_t i = 0; i < n; i += W2S_MVE_LANES) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        int8x16_t m = vld1q_z_s8(rows[0] + i, p);
        for (uint32_t ky = 1; ky < layer->kh; ky++) {
            m = vmaxq_s8(m, vld1q_z_s8(rows[ky] + i, p));
        }
        vst1q_p_s8(colmax + i, m, p);
    }
    const int8x16_t zero = vdupq_n_s8((int8_t)layer->in_zero), lo = vdupq_n_s8((int8_t)layer->act_min),
                    hi = vdupq_n_s8((int8_t)layer->act_max);
    for (uint32_t ox = 0; ox < layer->out_width; ox++) {
        for (size_t c = 0; c < cin; c += W2S_MVE_LANES) {
            const mve_pred16_t p = vctp8q((uint32_t)(cin - c));
            int8x16_t m = vdupq_n_s8(-128);
            for (uint32_t kx = 0; kx < layer->kw; kx++) {
                const int32_t ix = (int32_t)(ox * layer->sw + kx) - (int32_t)layer->pad_left;
                m = vmaxq_s8(m, (ix < 0 || ix >= (int32_t)layer->width)
                                    ? zero
                                    : vld1q_z_s8(colmax + (size_t)ix * cin + c, p));
            }
            vst1q_p_s8(out + (size_t)ox * cin + c, vminq_s8(vmaxq_s8(m, lo), hi), p);
        }
    }
}

/* kh rows -> one pooled row: the max down each column (16 values at a time) into colmax between pad columns of
 * in_zero (the int16 scratch has twice the room), then across kw columns with no bounds to test. max is exact in
 * any order. */
void w2s_maxpool_row_mve_s8(const w2s_layer_s8_t *layer, const int8_t *const *rows, int8_t *colmax, int8_t *out)
{
    const size_t n = (size_t)layer->width * layer->cin, cin = layer->cin, left = layer->pad_left * cin;
    const size_t padded = ((size_t)(layer->out_width - 1u) * layer->sw + layer->kw) * cin;
    const int8x16_t lo = vdupq_n_s8((int8_t)layer->act_min), hi = vdupq_n_s8((int8_t)layer->act_max);
    if (padded > 2u * n || left > padded) {
        maxpool_row_bounded(layer, rows, colmax, out);
        return;
    }
    memset(colmax, layer->in_zero, left);
    if (padded > left + n) {
        memset(colmax + left + n, layer->in_zero, padded - left - n);
    }
    for (size_t i = 0; i < n; i += W2S_MVE_LANES) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        int8x16_t m = vld1q_z_s8(rows[0] + i, p);
        for (uint32_t ky = 1; ky < layer->kh; ky++) {
            m = vmaxq_s8(m, vld1q_z_s8(rows[ky] + i, p));
        }
        vst1q_p_s8(colmax + left + i, m, p);
    }
    const size_t step = (size_t)layer->sw * cin;
    for (size_t c = 0; c < cin; c += W2S_MVE_LANES) {
        const mve_pred16_t p = vctp8q((uint32_t)(cin - c));
        const int8_t *col = colmax + c;
        int8_t *o = out + c;
        for (uint32_t ox = 0; ox < layer->out_width; ox++, col += step, o += cin) {
            int8x16_t m = vld1q_z_s8(col, p);
            for (uint32_t kx = 1; kx < layer->kw; kx++) {
                m = vmaxq_s8(m, vld1q_z_s8(col + kx * cin, p));
            }
            vst1q_p_s8(o, vminq_s8(vmaxq_s8(m, lo), hi), p);
        }
    }
}

/* The pooling's sums from column j on, 4 columns a step, while no column's exponent rises (x <= block_exp: the
 * sums keep their block): the table reads, the shift and the factor on vectors, the int64 sums in scalars (MVE has
 * no 64-bit lane add). Returns the first column of the step it did not take (a rise, or fewer than 4 left): the
 * caller's scalar code takes that one. Same integers as w2s_engine.c's column loop. */
size_t w2s_pool_sums_mve(const w2s_engine_model_t *m, const int8_t *lin, const int8_t *sof, int64_t *sum0,
                         int64_t *sum1, const int16_t *block_exp, size_t j, size_t n)
{
    for (; j + 4u <= n; j += 4u) {
        const uint32x4_t q = vreinterpretq_u32_s32(vaddq_n_s32(vldrbq_s32(sof + j), 128));
        const int32x4_t x = vldrhq_gather_shifted_offset_s32(m->exp_exp, q), b = vldrhq_s32(block_exp + j);
        if (vcmpgtq_s32(x, b) != 0) {
            break;
        }
        const int32x4_t d = vminq_s32(vsubq_s32(b, x), vdupq_n_s32(W2S_ENGINE_MANT_MAX_SHIFT));
        const int32x4_t mant = vshlq_s32(vldrwq_gather_shifted_offset_s32(m->exp_mant_q29, q), vnegq_s32(d));
        const int32x4_t v = vsubq_n_s32(vldrbq_s32(lin + j), m->lin.out_zero);
#if defined(__GNUC__)
        /* the int64 sums: a lane to a register, then LDRD, ADDS/ADC or SMLAL, STRD a column */
#define W2S_COL(m, x, at)                                                                                         \
    "ldrd %[lo], %[hi], [%[s0], #" at "]\n\tadds %[lo], %[lo], %[" m "]\n\t"                                      \
    "adc %[hi], %[hi], %[" m "], asr #31\n\tstrd %[lo], %[hi], [%[s0], #" at "]\n\t"                              \
    "ldrd %[lo], %[hi], [%[s1], #" at "]\n\tsmlal %[lo], %[hi], %[" m "], %[" x "]\n\t"                           \
    "strd %[lo], %[hi], [%[s1], #" at "]\n\t"
        int32_t ma, mb, va, vb, lo, hi;
        __asm__ volatile("vmov.32 %[ma], %q[mant][0]\n\tvmov.32 %[mb], %q[mant][1]\n\t"
                         "vmov.32 %[va], %q[v][0]\n\tvmov.32 %[vb], %q[v][1]\n\t"
                         W2S_COL("ma", "va", "0") W2S_COL("mb", "vb", "8")
                         "vmov.32 %[ma], %q[mant][2]\n\tvmov.32 %[mb], %q[mant][3]\n\t"
                         "vmov.32 %[va], %q[v][2]\n\tvmov.32 %[vb], %q[v][3]\n\t"
                         W2S_COL("ma", "va", "16") W2S_COL("mb", "vb", "24")
                         : [ma] "=&r"(ma), [mb] "=&r"(mb), [va] "=&r"(va), [vb] "=&r"(vb), [lo] "=&r"(lo),
                           [hi] "=&r"(hi)
                         : [s0] "r"(sum0 + j), [s1] "r"(sum1 + j), [mant] "w"(mant), [v] "w"(v)
                         : "cc", "memory");
#undef W2S_COL
#else
        int64_t *const s0 = sum0 + j, *const s1 = sum1 + j;
#define W2S_POOL_LANE(i)                                                                                          \
        s0[i] += vgetq_lane_s32(mant, i);                                                                         \
        s1[i] += (int64_t)vgetq_lane_s32(mant, i) * vgetq_lane_s32(v, i);
        W2S_POOL_LANE(0) W2S_POOL_LANE(1) W2S_POOL_LANE(2) W2S_POOL_LANE(3)
#undef W2S_POOL_LANE
#endif
    }
    return j;
}
#else
typedef int w2s_engine_conv_mve_empty; /* ISO C wants a translation unit to declare something */
#endif
