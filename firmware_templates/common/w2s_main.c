/* w2s_main.c: the main of a bare-metal microphone board: microphone -> ring buffer -> fixed-point front end
 * -> model step -> A/D/V, one line per window (w2s_app.h), around the board's five functions (board.h).
 * Every status is checked: a failure prints one line naming the call, and the board stops (running on
 * would print numbers from a broken model). */
#include <stdio.h>

#include "board.h"
#include "w2s_app.h"

static w2s_app_t g_app;
#if W2S_USE_TFLM
static uint8_t g_arena[W2S_ARENA_BYTES] __attribute__((aligned(16)));
#define ARENA g_arena, sizeof g_arena
#else
#define ARENA NULL, 0u /* the w2s engine needs no arena */
#endif

int main(void)
{
    const char *call = "";
    char line[96];
    w2s_status_t st = w2s_app_start(&g_app, ARENA, &call);
    while (st == W2S_OK) {
        st = w2s_app_poll(&g_app, NULL, &call);
    }
    snprintf(line, sizeof line, "error: %s: %s", call, w2s_status_str(st));
    board_print(line);
    for (;;) {
    }
}
