/* xsum.c — exact floating-point sums as fixed-point integers (see xsum.h). A number m * 2^e
 * (m an integer below 2^53) lands at bit e - EMIN of the integer; each addition puts 32-bit
 * pieces into three limbs, and carries are propagated only when the limbs could overflow. */
#include "base/xsum.h"

#include <math.h>
#include <string.h>

#define M32 0xffffffffull

/* Adds (or subtracts) m << pos into the limbs; m < 2^53, so it spans at most three limbs. */
static void add_bits(int64_t *limb, uint64_t m, int pos, int neg)
{
    unsigned __int128 v = (unsigned __int128)m << (pos & 31);
    int b = pos >> 5;
    int64_t p0 = (int64_t)(uint64_t)(v & M32), p1 = (int64_t)(uint64_t)((v >> 32) & M32),
            p2 = (int64_t)(uint64_t)(v >> 64);
    if (neg) {
        limb[b] -= p0, limb[b + 1] -= p1, limb[b + 2] -= p2;
    } else {
        limb[b] += p0, limb[b + 1] += p1, limb[b + 2] += p2;
    }
}

/* Carries: every limb but the top one into [0, 2^32); the top one keeps the sign. The result
 * is the one canonical form of the number. */
static void normalize(int64_t *limb, int n)
{
    for (int i = 0; i < n - 1; i++) {
        int64_t carry = limb[i] >> 32;   /* arithmetic: floor division by 2^32 */
        limb[i] -= (int64_t)((uint64_t)carry << 32);
        limb[i + 1] += carry;
    }
}

/* The canonical integer (normalized) times 2^emin, rounded to nearest even. */
static double to_double(const int64_t *canon, int n, int emin)
{
    int64_t l[LP_XSUM_LIMBS];
    memcpy(l, canon, (size_t)n * sizeof *l);
    int neg = l[n - 1] < 0;
    if (neg) {
        for (int i = 0; i < n; i++)
            l[i] = -l[i];
        normalize(l, n);
    }
    int h = n - 1;
    while (h >= 0 && l[h] == 0)
        h--;
    if (h < 0)
        return 0.0;
    /* the top three limbs (96 bits at most) and whether anything lies below them */
    unsigned __int128 top = 0;
    int sticky = 0;
    for (int i = h; i >= h - 2; i--)
        top = top << 32 | (unsigned __int128)(i >= 0 ? (uint64_t)l[i] : 0);
    for (int i = h - 3; i >= 0; i--)
        sticky |= l[i] != 0;
    int lz = 0;   /* leading zeros of the 128-bit window holding 96 bits */
    while (!(top >> (127 - lz) & 1))
        lz++;
    top <<= lz;   /* the top bit at 127 */
    uint64_t hi = (uint64_t)(top >> 64), lo = (uint64_t)top;
    sticky |= lo != 0;
    uint64_t keep = hi >> 11, rem = hi & 0x7ff;
    if (rem > 0x400 || (rem == 0x400 && (sticky || (keep & 1))))
        keep++;
    /* value = keep * 2^(exponent of bit 11 of hi) */
    int bit0 = 32 * (h - 2) + (127 - lz - 127) + 64 + 11;   /* integer bit index of keep's lsb */
    double v = ldexp((double)keep, bit0 + emin);
    return neg ? -v : v;
}

void lp_xsum_init(lp_xsum *s) { memset(s, 0, sizeof *s); }

void lp_xsum_add(lp_xsum *s, double x)
{
    if (!isfinite(x)) {
        s->special |= isnan(x) ? 1u : x > 0 ? 2u : 4u;
        return;
    }
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int E = (int)(bits >> 52 & 0x7ff);
    uint64_t m = bits & ((1ull << 52) - 1);
    if (E)
        m |= 1ull << 52;
    /* x = m * 2^(E - 1075) (normal) or m * 2^-1074 (subnormal): bit position from 2^-1074 */
    add_bits(s->limb, m, E ? E - 1 : 0, (int)(bits >> 63));
    if (++s->adds >= (1u << 30)) {
        normalize(s->limb, LP_XSUM_LIMBS);
        s->adds = 0;
    }
}

void lp_xsum_merge(lp_xsum *s, const lp_xsum *peer)
{
    lp_xsum p = *peer;
    normalize(p.limb, LP_XSUM_LIMBS);
    normalize(s->limb, LP_XSUM_LIMBS);
    for (int i = 0; i < LP_XSUM_LIMBS; i++)
        s->limb[i] += p.limb[i];   /* each below 2^32 in magnitude: no overflow */
    normalize(s->limb, LP_XSUM_LIMBS);
    s->adds = 0;
    s->special |= peer->special;
}

double lp_xsum_value(const lp_xsum *s)
{
    if ((s->special & 1) || (s->special & 6) == 6)
        return NAN;
    if (s->special)
        return s->special & 2 ? INFINITY : -INFINITY;
    int64_t l[LP_XSUM_LIMBS];
    memcpy(l, s->limb, sizeof l);
    normalize(l, LP_XSUM_LIMBS);
    return to_double(l, LP_XSUM_LIMBS, -1074);
}

void lp_xsum32_add(lp_xsum32 *s, float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int E = (int)(bits >> 23 & 0xff);
    uint64_t m = bits & 0x7fffff;
    if (E == 0xff)   /* inf (NaN is skipped by the caller): the largest float, 2^128 - 2^104 */
        E = 0xfe, m = 0x7fffff;
    if (E)
        m |= 0x800000;
    add_bits(s->limb, m, E ? E - 1 : 0, (int)(bits >> 31));
}

void lp_xsum32_normalize(lp_xsum32 *s) { normalize(s->limb, LP_XSUM32_LIMBS); }

void lp_xsum32_merge(lp_xsum32 *s, const lp_xsum32 *peer)
{
    lp_xsum32 p = *peer;
    normalize(p.limb, LP_XSUM32_LIMBS);
    normalize(s->limb, LP_XSUM32_LIMBS);
    for (int i = 0; i < LP_XSUM32_LIMBS; i++)
        s->limb[i] += p.limb[i];
    normalize(s->limb, LP_XSUM32_LIMBS);
}

double lp_xsum32_value(const lp_xsum32 *s)
{
    int64_t l[LP_XSUM32_LIMBS];
    memcpy(l, s->limb, sizeof l);
    normalize(l, LP_XSUM32_LIMBS);
    return to_double(l, LP_XSUM32_LIMBS, -149);
}
