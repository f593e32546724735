/* w2s_wav: see w2s_wav.h. Every field is read byte by byte (little-endian), so the reader does not depend
 * on the host's byte order or on struct packing. */
#include "w2s_wav.h"

#include <string.h>

#include "model_config.h"

#define FORMAT_PCM 0x0001u
#define FORMAT_EXTENSIBLE 0xFFFEu
#define FMT_BYTES 40u /* WAVEFORMATEXTENSIBLE: 16 + cbSize (2) + 22 */

/* The bytes of KSDATAFORMAT_SUBTYPE_PCM after its first two (00000001-0000-0010-8000-00aa00389b71). */
static const unsigned char k_guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                              0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return le16(p) | (le16(p + 2) << 16);
}

/* Skip n bytes in steps a 32-bit long holds; a seek past the end shows as the next read's failure. */
static int skip(FILE *f, uint32_t n)
{
    while (n > 0u) {
        const uint32_t step = n > 0x40000000u ? 0x40000000u : n;
        if (fseek(f, (long)step, SEEK_CUR) != 0) {
            return 0;
        }
        n -= step;
    }
    return 1;
}

static w2s_status_t fail(w2s_wav_t *wav, w2s_status_t status, const char *problem)
{
    wav->problem = problem;
    w2s_wav_close(wav);
    return status;
}

/* The "fmt " chunk's fields into wav; W2S_ERR_NOT_WAV if it is too short to hold them. */
static w2s_status_t read_fmt(w2s_wav_t *wav, uint32_t size)
{
    unsigned char fmt[FMT_BYTES];
    const uint32_t want = size < FMT_BYTES ? size : FMT_BYTES;
    if (size < 16u || fread(fmt, 1, want, wav->file) != want || !skip(wav->file, size - want + (size & 1u))) {
        return fail(wav, W2S_ERR_NOT_WAV, "its fmt chunk is cut short");
    }
    wav->format_tag = (uint16_t)le16(fmt);
    wav->channels = (uint16_t)le16(fmt + 2);
    wav->rate_hz = le32(fmt + 4);
    wav->bits = (uint16_t)le16(fmt + 14);
    wav->subformat = 0u;
    if (wav->format_tag == FORMAT_EXTENSIBLE) {
        if (want < FMT_BYTES) {
            return fail(wav, W2S_ERR_NOT_WAV, "its extensible fmt chunk is cut short");
        }
        /* a subformat that is not a standard KSDATAFORMAT GUID is reported as 0 */
        wav->subformat = memcmp(fmt + 26, k_guid_tail, sizeof k_guid_tail) == 0 ? (uint16_t)le16(fmt + 24) : 0u;
    }
    return W2S_OK;
}

static int is_supported(const w2s_wav_t *wav)
{
    const int pcm = wav->format_tag == FORMAT_PCM || (wav->format_tag == FORMAT_EXTENSIBLE && wav->subformat == 1u);
    return pcm && wav->channels == 1u && wav->rate_hz == W2S_SAMPLE_RATE_HZ && wav->bits == 16u;
}

w2s_status_t w2s_wav_open(w2s_wav_t *wav, const char *path)
{
    unsigned char h[12], ck[8];
    int have_fmt = 0;
    if (wav == NULL || path == NULL) {
        return W2S_ERR_ARG;
    }
    memset(wav, 0, sizeof *wav);
    if ((wav->file = fopen(path, "rb")) == NULL) {
        return fail(wav, W2S_ERR_OPEN, "no such file, or no permission");
    }
    if (fread(h, 1, 12, wav->file) != 12 || memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVE", 4) != 0) {
        return fail(wav, W2S_ERR_NOT_WAV, "no RIFF/WAVE header");
    }
    while (fread(ck, 1, 8, wav->file) == 8) {
        const uint32_t size = le32(ck + 4);
        if (memcmp(ck, "fmt ", 4) == 0) {
            const w2s_status_t st = read_fmt(wav, size);
            if (st != W2S_OK) {
                return st;
            }
            have_fmt = 1;
        } else if (memcmp(ck, "data", 4) == 0) {
            if (!have_fmt) {
                return fail(wav, W2S_ERR_NOT_WAV, "no fmt chunk before its data chunk");
            }
            if (!is_supported(wav)) {
                return fail(wav, W2S_ERR_WAV_FORMAT, "not 16 kHz mono 16-bit PCM");
            }
            wav->data_left = size;
            return W2S_OK;
        } else if (size == W2S_WAV_TO_EOF || !skip(wav->file, size + (size & 1u))) { /* a stream, not data */
            break;
        }
    }
    return fail(wav, W2S_ERR_NOT_WAV, have_fmt ? "no data chunk" : "no fmt or data chunk");
}

w2s_status_t w2s_wav_read_s16(w2s_wav_t *wav, int16_t *pcm_s16, uint32_t max, uint32_t *got)
{
    uint32_t n = max;
    if (wav == NULL || pcm_s16 == NULL || got == NULL) {
        return W2S_ERR_ARG;
    }
    *got = 0u;
    if (wav->file == NULL) {
        return W2S_OK;
    }
    if (wav->data_left != W2S_WAV_TO_EOF && n > wav->data_left / 2u) {
        n = wav->data_left / 2u; /* an odd last byte is not a sample */
    }
    const size_t n_read = fread(pcm_s16, 2, n, wav->file);
    if (n_read < n && wav->data_left != W2S_WAV_TO_EOF) {
        wav->problem = "the file ends before its data chunk does";
        return W2S_ERR_NOT_WAV;
    }
    const unsigned char *b = (const unsigned char *)pcm_s16;
    for (size_t i = 0; i < n_read; i++) { /* in place: sample i only reads its own two bytes */
        const int32_t v = (int32_t)le16(b + 2 * i);
        pcm_s16[i] = (int16_t)(v - ((v & 0x8000) << 1));
    }
    if (wav->data_left != W2S_WAV_TO_EOF) {
        wav->data_left -= (uint32_t)n_read * 2u;
    }
    wav->samples_read += (uint32_t)n_read;
    *got = (uint32_t)n_read;
    return W2S_OK;
}

void w2s_wav_describe(const w2s_wav_t *wav, w2s_status_t status, char *line, size_t cap)
{
    const char *problem = wav != NULL && wav->problem != NULL ? wav->problem : "";
    if (line == NULL || cap == 0u) {
        return;
    }
    if (status == W2S_ERR_WAV_FORMAT && wav != NULL) {
        char what[24] = "";
        if (wav->format_tag == FORMAT_EXTENSIBLE) {
            snprintf(what, sizeof what, " subformat 0x%04x", (unsigned)wav->subformat);
        }
        snprintf(line, cap, "%s: format 0x%04x%s, %u channel(s), %lu Hz, %u-bit", w2s_status_str(status),
                 (unsigned)wav->format_tag, what, (unsigned)wav->channels, (unsigned long)wav->rate_hz,
                 (unsigned)wav->bits);
    } else {
        snprintf(line, cap, "%s%s%s", w2s_status_str(status), problem[0] != '\0' ? ": " : "", problem);
    }
}

void w2s_wav_close(w2s_wav_t *wav)
{
    if (wav != NULL && wav->file != NULL) {
        fclose(wav->file);
        wav->file = NULL;
    }
}
