/* requant.h — the one requantize step shared by quantizing ops, INT8 reference kernels,
 * the quantizer and the tests: scale, round half to even, add zero point, clamp.
 *
 * Rounding is nearbyintf() under the default floating-point environment (FE_TONEAREST, which
 * lowp never changes): ties go to the even integer, as ONNX QuantizeLinear requires
 * (numpy.rint). The clamp happens in float before the conversion to int, so huge values and
 * infinities saturate instead of overflowing; NaN maps to the zero point. */
#ifndef LP_REQUANT_H
#define LP_REQUANT_H

#include <math.h>
#include <stdint.h>

/* round_half_even(v) + zp, clamped to [lo, hi]. `v` is already scaled: x / scale for
 * QuantizeLinear, acc * (s_in * s_w / s_out) for an int32 accumulator. */
static inline int32_t lp_requant(float v, int32_t zp, int32_t lo, int32_t hi)
{
    if (isnan(v))
        return zp < lo ? lo : zp > hi ? hi : zp;
    float r = nearbyintf(v) + (float)zp;
    if (r <= (float)lo)
        return lo;
    if (r >= (float)hi)
        return hi;
    return (int32_t)r;
}

/* The integer range of a quantized element type: uint8 [0,255], int8 [-128,127]. */
static inline void lp_quant_range(int is_signed, int32_t *lo, int32_t *hi)
{
    *lo = is_signed ? -128 : 0;
    *hi = is_signed ? 127 : 255;
}

#endif
