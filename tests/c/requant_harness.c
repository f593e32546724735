/* The engine's requantisation under test, static functions included: lines of
 * "acc mult shift out_zero act_min act_max" on stdin, the int8 result of each on stdout. */
#include <stdio.h>

#include "../../mcu_toolkit/engine/c/w2s_engine_conv.c"

int main(void)
{
    long acc, mult, shift, zero, lo, hi;
    while (scanf("%ld %ld %ld %ld %ld %ld", &acc, &mult, &shift, &zero, &lo, &hi) == 6) {
        int32_t m = (int32_t)mult;
        int8_t s = (int8_t)shift;
        w2s_layer_s8_t layer;
        memset(&layer, 0, sizeof layer);
        layer.mult_q31 = &m;
        layer.shift = &s;
        layer.out_zero = (int16_t)zero;
        layer.act_min = (int16_t)lo;
        layer.act_max = (int16_t)hi;
        printf("%ld\n", (long)requantize_s8(requant_of(&layer), (int32_t)acc, m, s));
    }
    return 0;
}
