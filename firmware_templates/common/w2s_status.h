/* w2s_status: the one status type of the shipped C (C99, includable from C++).
 *
 * Convention, for every w2s_* and board_* function:
 *   - a function that can fail returns w2s_status_t: W2S_OK (0) or the first problem it found, and then
 *     leaves its outputs unspecified;
 *   - a function that cannot fail (its preconditions are documented) returns a count or a value, and its
 *     comment says what the number is (samples, frames, microseconds, dB Q7, ...).
 * A board's main checks every status: it prints one line naming the call and w2s_status_str(), and stops.
 */
#ifndef W2S_STATUS_H
#define W2S_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    W2S_OK = 0,      /**< done */
    W2S_ERR_ARG,     /**< an argument is NULL or out of its documented range */
    W2S_ERR_SIZE,    /**< a caller's buffer is too small for what it must hold (line, frames, arena) */
    W2S_ERR_MODEL,   /**< the model does not match model_config.h, or a TFLM call failed */
    W2S_ERR_DEVICE,  /**< a vendor driver call (HAL, ESP-IDF) failed */
    W2S_ERR_OPEN,    /**< a file cannot be opened (missing, or no permission) */
    W2S_ERR_NOT_WAV, /**< a file is not a RIFF/WAVE file, or ends before its data chunk does */
    W2S_ERR_WAV_FORMAT /**< a WAV file, but not 16 kHz mono 16-bit PCM */
} w2s_status_t;

/**
 * @brief         What a status means, for the one line a board prints before it stops.
 * @param[in]     status  any value
 * @return        a static string, never NULL
 */
static inline const char *w2s_status_str(w2s_status_t status)
{
    switch (status) {
    case W2S_OK:
        return "ok";
    case W2S_ERR_ARG:
        return "invalid argument";
    case W2S_ERR_SIZE:
        return "buffer too small";
    case W2S_ERR_MODEL:
        return "model does not match model_config.h, or TFLM failed";
    case W2S_ERR_DEVICE:
        return "driver call failed";
    case W2S_ERR_OPEN:
        return "cannot open the file";
    case W2S_ERR_NOT_WAV:
        return "not a WAV file";
    case W2S_ERR_WAV_FORMAT:
        return "unsupported WAV format (need 16 kHz mono 16-bit PCM)";
    }
    return "unknown status";
}

#ifdef __cplusplus
}
#endif

#endif /* W2S_STATUS_H */
