/* dtype.c — the element-type traits table and fp16/bf16 conversions. */
#include "base/dtype.h"

#include <math.h>
#include <string.h>

#define LP_DEFINE_ACCESS(tag, ctype)                                            \
    static double get_##tag(const void *p, int64_t i) { return (double)((const ctype *)p)[i]; } \
    static void set_##tag(void *p, int64_t i, double v) { ((ctype *)p)[i] = (ctype)v; }

LP_DEFINE_ACCESS(f32, float)
LP_DEFINE_ACCESS(f64, double)

/* Integer stores saturate so that out-of-range doubles are not undefined behaviour. */
#define LP_DEFINE_INT_ACCESS(tag, ctype, lo, hi)                                 \
    static double get_##tag(const void *p, int64_t i) { return (double)((const ctype *)p)[i]; } \
    static void set_##tag(void *p, int64_t i, double v)                         \
    {                                                                            \
        if (isnan(v)) v = 0;                                                     \
        ((ctype *)p)[i] = v <= (double)(lo) ? (ctype)(lo) : v >= (double)(hi) ? (ctype)(hi) : (ctype)v; \
    }

LP_DEFINE_INT_ACCESS(u8, uint8_t, 0, UINT8_MAX)
LP_DEFINE_INT_ACCESS(i8, int8_t, INT8_MIN, INT8_MAX)
LP_DEFINE_INT_ACCESS(u16, uint16_t, 0, UINT16_MAX)
LP_DEFINE_INT_ACCESS(i16, int16_t, INT16_MIN, INT16_MAX)
LP_DEFINE_INT_ACCESS(i32, int32_t, INT32_MIN, INT32_MAX)
LP_DEFINE_INT_ACCESS(u32, uint32_t, 0, UINT32_MAX)
LP_DEFINE_INT_ACCESS(i64, int64_t, INT64_MIN, INT64_MAX)
LP_DEFINE_INT_ACCESS(u64, uint64_t, 0, UINT64_MAX)

static double get_bool(const void *p, int64_t i) { return ((const uint8_t *)p)[i] ? 1.0 : 0.0; }
static void set_bool(void *p, int64_t i, double v) { ((uint8_t *)p)[i] = v != 0.0; }
static double get_f16(const void *p, int64_t i) { return lp_f16_to_f32(((const uint16_t *)p)[i]); }
static void set_f16(void *p, int64_t i, double v) { ((uint16_t *)p)[i] = lp_f32_to_f16((float)v); }
static double get_bf16(const void *p, int64_t i) { return lp_bf16_to_f32(((const uint16_t *)p)[i]); }
static void set_bf16(void *p, int64_t i, double v) { ((uint16_t *)p)[i] = lp_f32_to_bf16((float)v); }

#define NUM(tag, nm, np, sz, fl, sg) { .name = nm, .npy = np, .size = sz, .is_float = fl, .is_signed = sg, .get = get_##tag, .set = set_##tag }

static const lp_dtype_traits traits[LP_DTYPE_COUNT] = {
    [LOWP_UNDEFINED] = { .name = "undefined" },
    [LP_F32] = NUM(f32, "float32", "f4", 4, true, true),
    [LP_U8] = NUM(u8, "uint8", "u1", 1, false, false),
    [LP_I8] = NUM(i8, "int8", "i1", 1, false, true),
    [LP_U16] = NUM(u16, "uint16", "u2", 2, false, false),
    [LP_I16] = NUM(i16, "int16", "i2", 2, false, true),
    [LP_I32] = NUM(i32, "int32", "i4", 4, false, true),
    [LP_I64] = NUM(i64, "int64", "i8", 8, false, true),
    [LP_STRING] = { .name = "string" },
    [LP_BOOL] = NUM(bool, "bool", "b1", 1, false, false),
    [LP_F16] = NUM(f16, "float16", "f2", 2, true, true),
    [LP_F64] = NUM(f64, "float64", "f8", 8, true, true),
    [LP_U32] = NUM(u32, "uint32", "u4", 4, false, false),
    [LP_U64] = NUM(u64, "uint64", "u8", 8, false, false),
    [14] = { .name = "complex64" },
    [15] = { .name = "complex128" },
    [LP_BF16] = NUM(bf16, "bfloat16", NULL, 2, true, true),
};

const lp_dtype_traits *lp_dtype_traits_of(lp_dtype t)
{
    if ((unsigned)t >= LP_DTYPE_COUNT)
        return &traits[LOWP_UNDEFINED];
    return &traits[t];
}

bool lp_dtype_valid(lp_dtype t) { return lp_dtype_traits_of(t)->size != 0; }

lp_dtype lp_dtype_from_name(const char *name)
{
    for (int t = 1; t < LP_DTYPE_COUNT; t++)
        if (traits[t].size && strcmp(traits[t].name, name) == 0)
            return (lp_dtype)t;
    return LOWP_UNDEFINED;
}

const char *lowp_dtype_name(lowp_dtype dtype) { return lp_dtype_traits_of(dtype)->name; }
size_t lowp_dtype_size(lowp_dtype dtype) { return lp_dtype_traits_of(dtype)->size; }

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float lp_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        float v = ldexpf((float)man, -24); /* subnormal */
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t lp_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000;
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = (uint32_t)(e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent, which is the correct rounding */
    return (uint16_t)(sign | half);
}

float lp_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t lp_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
