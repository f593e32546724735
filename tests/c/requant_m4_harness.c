/* The requantisation of a block as the DSP build runs it (requant_2xr: SMMULR, USAT, SSAT), on a Cortex-M4
 * under QEMU: argv[1] holds lines of "acc mult shift out_zero act_min act_max bias run", argv[2] gets the
 * int8 result of each and the path requant_of chose. Each case is a one-channel block of two pixels with
 * the same sum: both must agree. */
#include <stdio.h>

#include "../../mcu_toolkit/engine/c/w2s_engine_conv.c"

int main(int argc, char **argv)
{
    long acc, mult, shift, zero, lo, hi, bias_in, run;
    FILE *in = argc > 2 ? fopen(argv[1], "r") : NULL;
    FILE *out = argc > 2 ? fopen(argv[2], "w") : NULL;
    if (in == NULL || out == NULL) {
        return 2;
    }
    while (fscanf(in, "%ld %ld %ld %ld %ld %ld %ld %ld", &acc, &mult, &shift, &zero, &lo, &hi, &bias_in, &run) == 8) {
        const int32_t m = (int32_t)mult, bias = (int32_t)bias_in, sums[2] = {(int32_t)acc, (int32_t)acc};
        const int8_t s = (int8_t)shift;
        int8_t o[2];
        w2s_layer_s8_t layer;
        memset(&layer, 0, sizeof layer);
        layer.mult_q31 = &m;
        layer.shift = &s;
        layer.bias_s32 = &bias;
        layer.cout = 1;
        layer.run = (uint16_t)run;
        layer.out_zero = (int16_t)zero;
        layer.act_min = (int16_t)lo;
        layer.act_max = (int16_t)hi;
        const requant_t q = requant_of(&layer);
        requant_2xr(&q, sums, 0, 1, o);
        fprintf(out, "%d %d %d\n", o[0], o[1], q.fast);
    }
    fclose(out);
    return 0;
}
