/* w2s_wav: the samples of a 16 kHz mono 16-bit WAV file, read in blocks (C99 stdio, includable from C++).
 * The host build and the qemu-f411 firmware (newlib's fopen/fread over semihosting) both read their input
 * through it, so they accept the same files:
 *   - RIFF/WAVE; chunks before "data" in any order; unknown chunks skipped (an odd size is padded to even);
 *   - "fmt ": WAVE_FORMAT_PCM (1), or WAVE_FORMAT_EXTENSIBLE (0xFFFE) with the PCM subformat GUID;
 *     1 channel, W2S_SAMPLE_RATE_HZ (model_config.h), 16 bits per sample;
 *   - a "data" size of 0xFFFFFFFF (a stream, written before its length was known): samples to the end.
 */
#ifndef W2S_WAV_H
#define W2S_WAV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "w2s_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define W2S_WAV_TO_EOF 0xFFFFFFFFu /**< a "data" size that means: until the end of the file */
#define W2S_WAV_LINE_BYTES 160u   /**< room for any w2s_wav_describe line */

typedef struct {
    FILE *file;            /**< open from w2s_wav_open until w2s_wav_close */
    uint32_t data_left;    /**< bytes of the data chunk not yet read; W2S_WAV_TO_EOF: until the end of file */
    const char *problem;   /**< what was wrong (static string), after a failed open or read */
    uint16_t format_tag;   /**< as found: 1 PCM, 3 float, 0xFFFE extensible, ... (0 before a "fmt " chunk) */
    uint16_t subformat;    /**< extensible only: the subformat GUID's first two bytes (1: PCM, 3: float) */
    uint16_t channels;     /**< as found */
    uint16_t bits;         /**< bits per sample, as found */
    uint32_t rate_hz;      /**< sample rate, as found */
    uint32_t samples_read; /**< samples returned so far */
} w2s_wav_t;

/**
 * @brief         Open a WAV file and position it at its first sample.
 * @param[out]    wav   the reader; its format fields say what was found, whatever the status
 * @param[in]     path  file name
 * @return        W2S_OK; W2S_ERR_OPEN (cannot open: missing, or no permission), W2S_ERR_NOT_WAV (not RIFF/WAVE,
 *                no "fmt " before "data", no "data"), W2S_ERR_WAV_FORMAT (a WAV, but not 16 kHz mono 16-bit
 *                PCM); the file is closed on failure
 */
w2s_status_t w2s_wav_open(w2s_wav_t *wav, const char *path);

/**
 * @brief         Read the next samples.
 * @param[in,out] wav      an open reader
 * @param[out]    pcm_s16  room for max samples
 * @param[in]     max      samples wanted
 * @param[out]    got      samples read: fewer than max only at the end of the data
 * @return        W2S_OK (got 0: the end); W2S_ERR_NOT_WAV if the file ends before its data chunk says
 */
w2s_status_t w2s_wav_read_s16(w2s_wav_t *wav, int16_t *pcm_s16, uint32_t max, uint32_t *got);

/**
 * @brief         One line saying why a w2s_wav call failed, naming what was found.
 * @param[in]     wav     the reader the call used
 * @param[in]     status  what it returned
 * @param[out]    line    the text, NUL-terminated (truncated to fit)
 * @param[in]     cap     bytes at line; W2S_WAV_LINE_BYTES hold every message
 */
void w2s_wav_describe(const w2s_wav_t *wav, w2s_status_t status, char *line, size_t cap);

/**
 * @brief         Close the file (safe to call twice).
 * @param[in,out] wav  the reader
 */
void w2s_wav_close(w2s_wav_t *wav);

#ifdef __cplusplus
}
#endif

#endif /* W2S_WAV_H */
