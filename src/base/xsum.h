/* xsum.h — exact sums of floating-point numbers. The sum is kept as a wide fixed-point integer
 * (32-bit limbs in int64 words), so adding is associative and commutative: the same numbers in
 * any order or grouping — one process, or shards summed apart and merged — give the same bits.
 * lp_xsum takes doubles (metric sums); lp_xsum32 takes floats (per-channel activation sums,
 * 80 bytes each). The value is the exact sum rounded to nearest even (overflow: +-inf); NaN
 * when a NaN or both infinities were added. */
#ifndef LP_XSUM_H
#define LP_XSUM_H

#include <stdint.h>

#define LP_XSUM_LIMBS 70    /* 2^-1074 .. 2^1024 and 2^40 additions of headroom, 32 bits a limb */
#define LP_XSUM32_LIMBS 10  /* 2^-149 .. 2^128 and 2^40 additions */

typedef struct lp_xsum {
    int64_t limb[LP_XSUM_LIMBS];
    uint32_t adds;      /* since the last carry propagation (limbs hold 2^31 additions) */
    uint32_t special;   /* bits: 1 NaN, 2 +inf, 4 -inf */
} lp_xsum;

typedef struct lp_xsum32 {
    int64_t limb[LP_XSUM32_LIMBS];
} lp_xsum32;

void lp_xsum_init(lp_xsum *s);
void lp_xsum_add(lp_xsum *s, double x);
/* s += peer (exact). */
void lp_xsum_merge(lp_xsum *s, const lp_xsum *peer);
double lp_xsum_value(const lp_xsum *s);

/* lp_xsum32 is zeroed to start; adds are exact while fewer than 2^31 happen between two
 * lp_xsum32_normalize calls (lp_xsum32_value and _merge normalize). Non-finite floats are the
 * caller's business (channel statistics skip NaN; infinities saturate to +-2^128). */
void lp_xsum32_add(lp_xsum32 *s, float x);
void lp_xsum32_normalize(lp_xsum32 *s);
void lp_xsum32_merge(lp_xsum32 *s, const lp_xsum32 *peer);
double lp_xsum32_value(const lp_xsum32 *s);

#endif
