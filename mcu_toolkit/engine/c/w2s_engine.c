/* w2s_engine.c: see w2s_engine.h. The streaming (each layer's ring of input rows, a row run as soon as it is
 * complete) and the exact tail; the row kernels are in w2s_engine_conv.c and w2s_engine_maxpool.c. */
#include "w2s_engine.h"

#include <string.h>

#include "w2s_engine_kernels.h"

#ifdef W2S_ENGINE_PROFILE
/* Per-layer time, for a board that provides the clock (qemu-f411: SysTick under QEMU -icount). */
extern uint32_t w2s_profile_ticks(void);
uint64_t g_w2s_engine_layer_ticks[W2S_ENGINE_LAYERS + 1]; /* the trunk's layers, then lin/sof + pooling */
#define PROFILE_START(t) const uint32_t t = w2s_profile_ticks()
#define PROFILE_END(t, k) (g_w2s_engine_layer_ticks[k] += (uint32_t)(w2s_profile_ticks() - (t)))
#else
#define PROFILE_START(t)
#define PROFILE_END(t, k)
#endif

#ifdef W2S_ENGINE_TRUNK_TAP
/* A host build's observer of each trunk output row (convert feeds them to TFLM's tail); firmware has none. */
void W2S_ENGINE_TRUNK_TAP(const int8_t *row_s8);
#endif

static size_t row_bytes(const w2s_layer_s8_t *layer)
{
    return (size_t)layer->width * layer->cin;
}

/* the ring slot that holds (or will hold) the layer's input row number `row` */
static int8_t *ring_row(w2s_engine_t *e, uint32_t k, uint32_t row)
{
    const w2s_layer_s8_t *layer = &e->model->layers[k];
    return e->ring_s8 + layer->ring_offset + (size_t)(row % layer->kh) * row_bytes(layer);
}

#if W2S_ENGINE_WINOGRAD
/* the slot of the layer's transformed rows for its input row number `row` (engine/winograd.py ring_len) */
static int16_t *wino_row(w2s_engine_t *e, uint32_t k, uint32_t row)
{
    const w2s_layer_s8_t *layer = &e->model->layers[k];
    const size_t tiles = (layer->width + 3u) / 4u, lanes = layer->cin + (layer->cin & 1u);
    return e->wino_s16 + layer->wino_offset + (size_t)(row % layer->kh) * tiles * 6u * lanes;
}
#endif

/* The last trunk row through lin and sof, into each column's sums on one block exponent. */
W2S_NOINLINE static void pool_row(w2s_engine_t *e)
{
    const w2s_engine_model_t *m = e->model;
    int8_t lin[W2S_ENGINE_COLUMNS], sof[W2S_ENGINE_COLUMNS]; /* one row of each: the row kernels' blocks */
    const int8_t *const row[1] = {e->tail_row_s8};
    w2s_conv_widen_s16(&m->lin, row, e->wide_s16); /* lin and sof read the same input */
    w2s_conv_row_s8(&m->lin, e->wide_s16, lin);
    w2s_conv_row_s8(&m->sof, e->wide_s16, sof);
    for (size_t j = 0; j < W2S_ENGINE_COLUMNS; j++) {
#if W2S_ENGINE_MVE
        /* Helium: the columns whose exponent stays, 4 at a time; this loop takes the rest */
        j = w2s_pool_sums_mve(m, lin, sof, e->sum0, e->sum1, e->block_exp, j, W2S_ENGINE_COLUMNS);
        if (j == W2S_ENGINE_COLUMNS) {
            break;
        }
#endif
#if W2S_ENGINE_X86
        j = w2s_pool_sums_x86(m, lin, sof, e->sum0, e->sum1, e->block_exp, j, W2S_ENGINE_COLUMNS); /* the same */
        if (j == W2S_ENGINE_COLUMNS) {
            break;
        }
#endif
        const int32_t v = lin[j] - m->lin.out_zero;
        const int32_t q = sof[j] + 128;
        const int32_t x = m->exp_exp[q];
        if (x > e->block_exp[j]) {
            int32_t s = x - e->block_exp[j];
            s = s > W2S_ENGINE_MAX_SHIFT ? W2S_ENGINE_MAX_SHIFT : s;
            e->sum0[j] >>= s;
            e->sum1[j] >>= s;
            e->block_exp[j] = (int16_t)x;
        }
        int32_t d = e->block_exp[j] - x;
        d = d > W2S_ENGINE_MANT_MAX_SHIFT ? W2S_ENGINE_MANT_MAX_SHIFT : d;
        const int64_t mant = m->exp_mant_q29[q] >> d;
        e->sum0[j] += mant;
        e->sum1[j] += mant * v;
    }
    e->rows_pooled++;
}

/* Layer k has a new input row in its ring: run every row this completes, down the trunk. */
static void advance(w2s_engine_t *e, uint32_t k)
{
    const w2s_engine_model_t *m = e->model;
    for (;;) {
        const w2s_layer_s8_t *layer = &m->layers[k];
        const uint32_t got = ++e->received[k];
#if W2S_ENGINE_WINOGRAD
        if (layer->wino_s16 != NULL) { /* each input row is transformed once, as it arrives (the layer's time) */
            PROFILE_START(t2);
            w2s_conv_wino_input_s8(layer, ring_row(e, k, got - 1u), (int8_t *)e->wide_s16, wino_row(e, k, got - 1u));
            PROFILE_END(t2, k);
        }
#endif
        if (got < layer->kh || (got - layer->kh) % layer->sh != 0u) {
            return;
        }
        const int8_t *rows[W2S_ENGINE_MAX_KH];
        for (uint32_t ky = 0; ky < layer->kh; ky++) {
            rows[ky] = ring_row(e, k, got - layer->kh + ky);
        }
        const int last = k + 1 == m->n_layers;
        int8_t *out = last ? e->tail_row_s8 : ring_row(e, k + 1, e->received[k + 1]);
        PROFILE_START(t0);
        if (layer->kind == W2S_LAYER_CONV) {
#if W2S_ENGINE_WINOGRAD
            if (layer->wino_s16 != NULL) {
                const int16_t *vrows[W2S_ENGINE_MAX_KH];
                for (uint32_t ky = 0; ky < layer->kh; ky++) {
                    vrows[ky] = wino_row(e, k, got - layer->kh + ky);
                }
                w2s_conv_wino_row_s8(layer, vrows, out);
            } else
#endif
            {
                w2s_conv_widen_s16(layer, rows, e->wide_s16);
                w2s_conv_row_s8(layer, e->wide_s16, out);
            }
        } else {
            w2s_maxpool_row_s8(layer, rows, e->wide_s16, out);
        }
        PROFILE_END(t0, k);
        if (last) {
            PROFILE_START(t1);
#ifdef W2S_ENGINE_TRUNK_TAP
            W2S_ENGINE_TRUNK_TAP(e->tail_row_s8);
#endif
            pool_row(e);
            PROFILE_END(t1, W2S_ENGINE_LAYERS);
            return;
        }
        k++;
    }
}

static void pad_rows(w2s_engine_t *e, uint32_t k, uint32_t count)
{
    const w2s_layer_s8_t *layer = &e->model->layers[k];
    for (uint32_t i = 0; i < count; i++) {
        memset(ring_row(e, k, e->received[k]), layer->in_zero, row_bytes(layer));
        advance(e, k);
    }
}

void w2s_engine_window_start(w2s_engine_t *engine, const w2s_engine_model_t *model)
{
    memset(engine, 0, sizeof(*engine));
    engine->model = model;
    for (uint32_t j = 0; j < W2S_ENGINE_COLUMNS; j++) {
        engine->block_exp[j] = W2S_ENGINE_EXP_SENTINEL;
    }
    for (uint32_t k = 0; k < model->n_layers; k++) {
        pad_rows(engine, k, model->layers[k].pad_top); /* pad_top < kh: completes no row */
    }
}

void w2s_engine_push_s8(w2s_engine_t *engine, const int8_t *row_s8)
{
    memcpy(ring_row(engine, 0, engine->received[0]), row_s8, W2S_ENGINE_N_MELS);
    engine->frames++;
    advance(engine, 0);
}

uint32_t w2s_engine_window_end_f32(w2s_engine_t *engine, float *out_f32)
{
    const w2s_engine_model_t *m = engine->model;
    for (uint32_t k = 0; k < m->n_layers; k++) {
        pad_rows(engine, k, m->layers[k].pad_bottom);
    }
    if (engine->rows_pooled == 0u) {
        return 0u;
    }
    float y[W2S_ENGINE_COLUMNS]; /* j = f * C + c */
    for (uint32_t j = 0; j < W2S_ENGINE_COLUMNS; j++) {
        y[j] = ((float)engine->sum1[j] / (float)engine->sum0[j]) * m->lin_scale;
    }
    float acc[W2S_ENGINE_OUTPUTS] = {0.0f};
    const uint32_t per_channel = W2S_ENGINE_POOLED_MELS + W2S_ENGINE_CHANNELS;
    for (uint32_t c = 0; c < W2S_ENGINE_CHANNELS; c++) {
        for (uint32_t i = 0; i < per_channel; i++) {
            float feature;
            if (i < W2S_ENGINE_POOLED_MELS) {
                feature = y[i * W2S_ENGINE_CHANNELS + c];
            } else {
                const uint32_t d = i - W2S_ENGINE_POOLED_MELS;
                feature = 0.0f;
                for (uint32_t f = 0; f < W2S_ENGINE_POOLED_MELS; f++) {
                    const float p = y[f * W2S_ENGINE_CHANNELS + c] * y[f * W2S_ENGINE_CHANNELS + d];
                    feature = feature + p;
                }
            }
            for (uint32_t o = 0; o < W2S_ENGINE_OUTPUTS; o++) {
                const float p = m->head_weight_f32[(size_t)o * W2S_ENGINE_HEAD_FEATURES + c * per_channel + i] * feature;
                acc[o] = acc[o] + p;
            }
        }
    }
    for (uint32_t o = 0; o < W2S_ENGINE_OUTPUTS; o++) {
        out_f32[o] = acc[o] + m->head_bias_f32[o];
    }
    return engine->rows_pooled;
}
