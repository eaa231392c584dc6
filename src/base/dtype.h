/* dtype.h — element types: one traits table, plus scalar conversions (fp16, bf16). */
#ifndef LP_DTYPE_H
#define LP_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lowp.h"

typedef lowp_dtype lp_dtype;

/* Short internal names for the element types (same values as lowp_dtype). */
#define LP_F32 LOWP_FLOAT
#define LP_U8 LOWP_UINT8
#define LP_I8 LOWP_INT8
#define LP_U16 LOWP_UINT16
#define LP_I16 LOWP_INT16
#define LP_I32 LOWP_INT32
#define LP_I64 LOWP_INT64
#define LP_STRING LOWP_STRING
#define LP_BOOL LOWP_BOOL
#define LP_F16 LOWP_FLOAT16
#define LP_F64 LOWP_DOUBLE
#define LP_U32 LOWP_UINT32
#define LP_U64 LOWP_UINT64
#define LP_BF16 LOWP_BFLOAT16
#define LP_DTYPE_COUNT 17

typedef struct lp_dtype_traits {
    const char *name;    /* "float32" */
    const char *npy;     /* NumPy descr without byte order: "f4" (NULL: no .npy form) */
    size_t size;         /* bytes per element, 0 if not a fixed-size numeric type */
    bool is_float;
    bool is_signed;
    /* Element i of `p` as a double, and store a double (rounded/saturated as C casts do;
     * float->int conversion truncates toward zero like a C cast). */
    double (*get)(const void *p, int64_t i);
    void (*set)(void *p, int64_t i, double v);
} lp_dtype_traits;

/* Traits of `t`; an entry with size 0 and name "undefined" for unknown codes. */
const lp_dtype_traits *lp_dtype_traits_of(lp_dtype t);
/* A numeric type lowp can hold in tensors (everything but string/undefined). */
bool lp_dtype_valid(lp_dtype t);
/* Looks up by traits name ("float32"); LOWP_UNDEFINED if none. */
lp_dtype lp_dtype_from_name(const char *name);

float lp_f16_to_f32(uint16_t h);
uint16_t lp_f32_to_f16(float f);     /* round to nearest even */
float lp_bf16_to_f32(uint16_t b);
uint16_t lp_f32_to_bf16(float f);    /* round to nearest even, NaN stays NaN */

#endif
