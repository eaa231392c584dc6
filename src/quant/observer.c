/* observer.c — calibration statistics and the clip-range algorithms (minmax, percentile,
 * KL divergence as in TensorRT's entropy calibration, and quantization-MSE minimization). */
#include "quant/observer.h"

#include <math.h>
#include <string.h>

static const char *const algo_names[] = { "minmax", "percentile", "kl", "mse" };

int lp_calib_algo_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, algo_names[i]) == 0)
            return i;
    return -1;
}

const char *lp_calib_algo_name(lp_calib_algo a) { return (unsigned)a < 4 ? algo_names[a] : "?"; }

void lp_observer_init(lp_observer *o)
{
    memset(o, 0, sizeof *o);
    o->min = INFINITY;
    o->max = -INFINITY;
}

/* Bin of x at the current level: with a = x/base * 2^(10-level) in [-1024, 1024], bins are
 * [k, k+1) for a <= 0 and (k, k+1] for a > 0, so that 0 sits in bin 1024 and the bin at level
 * L+1 is always 512 + (bin at level L)/2 (x/base is rounded once, whatever the level; the
 * scaling by a power of two is exact): binning late equals binning early and shifting. */
static int bin_of(const lp_observer *o, double x)
{
    _Static_assert(LP_HIST_BINS == 2048, "the bin rule scales to +-2^10 = BINS/2");
    double a = ldexp(x / o->base, 10 - o->level);
    a = a < -1024 ? -1024 : a > 1024 ? 1024 : a;   /* +-inf at the largest range */
    int b = (int)(a > 0 ? ceil(a) - 1 : floor(a)) + LP_HIST_BINS / 2;
    return b < 0 ? 0 : b >= LP_HIST_BINS ? LP_HIST_BINS - 1 : b;
}

/* Moves the histogram up `levels` levels: bin i goes to 512 + i/2 per doubling. */
static void shift(uint64_t *hist, int levels)
{
    for (int d = 0; d < levels; d++) {
        uint64_t next[LP_HIST_BINS] = { 0 };
        /* old [-R,R] maps onto the middle half of the new [-2R,2R] */
        for (int i = 0; i < LP_HIST_BINS; i++)
            next[LP_HIST_BINS / 4 + i / 2] += hist[i];
        memcpy(hist, next, sizeof next);
    }
}

/* Grows the range by powers of two so that old bins merge exactly in pairs. */
static void grow(lp_observer *o, double absmax)
{
    if (o->range == 0) {
        o->base = o->range = absmax;
        o->level = 0;
        return;
    }
    int doublings = 0;
    while (ldexp(o->base, o->level + doublings) < absmax)
        doublings++;
    shift(o->hist, doublings);
    o->level += doublings;
    o->range = ldexp(o->base, o->level);
}

void lp_observer_restart(lp_observer *o, double base)
{
    lp_observer_init(o);
    o->base = o->range = base > 0 ? base : 0;
}

lp_status lp_observer_merge(lp_observer *o, const lp_observer *peer)
{
    if (o->range > 0 && peer->range > 0 && o->base != peer->base)
        return lp_error(LOWP_ERR_UNSUPPORTED, "histograms from different bases (%.17g, %.17g)", o->base, peer->base);
    uint64_t theirs[LP_HIST_BINS];
    memcpy(theirs, peer->hist, sizeof theirs);
    if (peer->range > 0) {
        if (o->range == 0) {   /* ours holds zeros only (bin 1024 at every level) */
            o->base = peer->base;
            o->level = peer->level;
            o->range = peer->range;
        }
        int level = o->level > peer->level ? o->level : peer->level;
        shift(o->hist, level - o->level);
        shift(theirs, level - peer->level);
        o->level = level;
        o->range = ldexp(o->base, level);
    }
    for (int i = 0; i < LP_HIST_BINS; i++)
        o->hist[i] += theirs[i];
    o->count += peer->count;
    o->min = fmin(o->min, peer->min);
    o->max = fmax(o->max, peer->max);
    return LP_OK;
}

void lp_observer_update(lp_observer *o, const float *x, int64_t n)
{
    double mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            continue;
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    if (mn > mx)
        return; /* nothing but NaN */
    if (mn < o->min) o->min = mn;
    if (mx > o->max) o->max = mx;
    double absmax = fmax(fabs(mn), fabs(mx));
    if (isinf(absmax))
        absmax = 3.4e38;
    if (absmax > o->range)
        grow(o, absmax);
    if (o->range == 0) { /* all zeros so far: they sit in bin 1024 at every level */
        for (int64_t i = 0; i < n; i++)
            if (!isnan(x[i])) {
                o->hist[LP_HIST_BINS / 2]++;
                o->count++;
            }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        if (!isnan(x[i])) {
            o->hist[bin_of(o, x[i])]++;
            o->count++;
        }
}

/* |x| histogram: bin k covers [k*w, (k+1)*w), w = range / (BINS/2). */
static void fold(const lp_observer *o, uint64_t *abs_hist)
{
    const int half = LP_HIST_BINS / 2;
    for (int k = 0; k < half; k++)
        abs_hist[k] = o->hist[half + k] + o->hist[half - 1 - k];
}

/* The value below which `frac` of the samples lie (two-sided histogram, bin edges). */
static double quantile(const lp_observer *o, double frac)
{
    double target = frac * (double)o->count, acc = 0, w = 2 * o->range / LP_HIST_BINS;
    for (int i = 0; i < LP_HIST_BINS; i++) {
        acc += (double)o->hist[i];
        if (acc >= target)
            return -o->range + (i + 1) * w;
    }
    return o->range;
}

/* TensorRT-style entropy calibration on |x|: the threshold whose clipped-and-quantized
 * distribution (`levels` levels) is closest in KL divergence to the original. */
static double kl_threshold(const lp_observer *o, int levels)
{
    const int half = LP_HIST_BINS / 2;
    uint64_t h[LP_HIST_BINS / 2];
    fold(o, h);
    double w = o->range / half, best_kl = INFINITY;
    int best = half;
    double p[LP_HIST_BINS / 2], q[LP_HIST_BINS / 2];
    for (int i = levels; i <= half; i++) {
        double outliers = 0;
        for (int k = i; k < half; k++)
            outliers += (double)h[k];
        for (int k = 0; k < i; k++)
            p[k] = (double)h[k];
        p[i - 1] += outliers;
        /* quantize p[0..i) into `levels` groups, spreading each group's mass over its
         * nonzero bins */
        for (int j = 0; j < levels; j++) {
            int start = (int)((long)j * i / levels), end = (int)((long)(j + 1) * i / levels);
            double sum = 0;
            int nonzero = 0;
            for (int k = start; k < end; k++) {
                sum += (double)h[k];
                nonzero += h[k] != 0;
            }
            for (int k = start; k < end; k++)
                q[k] = h[k] && nonzero ? sum / nonzero : 0;
        }
        double ps = 0, qs = 0;
        for (int k = 0; k < i; k++) {
            ps += p[k];
            qs += q[k];
        }
        if (ps == 0 || qs == 0)
            continue;
        double kl = 0;
        for (int k = 0; k < i; k++) {
            if (p[k] == 0)
                continue;
            double pk = p[k] / ps, qk = q[k] / qs;
            kl += qk > 0 ? pk * log(pk / qk) : pk * 30.0; /* a missing bin costs a lot, finitely */
        }
        if (kl < best_kl) {
            best_kl = kl;
            best = i;
        }
    }
    return best * w;
}

/* Expected squared quantization error of the histogram for clip range [lo, hi] with `steps`
 * steps: rounding noise step^2/12 inside, squared distance outside. */
static double range_mse(const lp_observer *o, double lo, double hi, int steps)
{
    double step = (hi - lo) / steps, w = 2 * o->range / LP_HIST_BINS, err = 0;
    if (step <= 0)
        return INFINITY;
    for (int i = 0; i < LP_HIST_BINS; i++) {
        if (!o->hist[i])
            continue;
        double c = -o->range + (i + 0.5) * w, e;
        if (c < lo)
            e = (lo - c) * (lo - c);
        else if (c > hi)
            e = (c - hi) * (c - hi);
        else
            e = step * step / 12.0;
        err += (double)o->hist[i] * e;
    }
    return err;
}

void lp_observer_range(const lp_observer *o, lp_calib_algo algo, bool symmetric, double percentile,
                       double *lo, double *hi)
{
    double mn = o->count ? fmin(o->min, 0.0) : 0.0, mx = o->count ? fmax(o->max, 0.0) : 0.0;
    *lo = mn;
    *hi = mx;
    if (!o->count || o->range == 0 || algo == LP_CALIB_MINMAX)
        return;
    if (algo == LP_CALIB_PERCENTILE) {
        double p = percentile > 0 && percentile <= 100 ? percentile / 100.0 : 0.9999;
        if (symmetric) {
            const int half = LP_HIST_BINS / 2;
            uint64_t h[LP_HIST_BINS / 2];
            fold(o, h);
            double acc = 0, target = p * (double)o->count, w = o->range / half, t = o->range;
            for (int k = 0; k < half; k++) {
                acc += (double)h[k];
                if (acc >= target) {
                    t = (k + 1) * w;
                    break;
                }
            }
            *lo = fmax(mn, -t);
            *hi = fmin(mx, t);
        } else {
            *lo = fmax(mn, fmin(0.0, quantile(o, 1.0 - p)));
            *hi = fmin(mx, fmax(0.0, quantile(o, p)));
        }
        return;
    }
    if (algo == LP_CALIB_KL) {
        double t = kl_threshold(o, symmetric ? 128 : 255);
        *lo = fmax(mn, -t);
        *hi = fmin(mx, t);
        return;
    }
    /* LP_CALIB_MSE: shrink the minmax range by a factor, keep the best. */
    double best = INFINITY, best_lo = mn, best_hi = mx;
    for (int i = 0; i <= 200; i++) {
        double f = 1.0 - i * 0.0045; /* 1.0 down to 0.1 */
        double l = mn * f, h = mx * f;
        if (symmetric) {
            double a = fmax(-mn, mx) * f;
            l = -a;
            h = a;
        }
        double e = range_mse(o, l, h, symmetric ? 254 : 255);
        if (e < best) {
            best = e;
            best_lo = symmetric ? fmax(mn, l) : l;
            best_hi = symmetric ? fmin(mx, h) : h;
        }
    }
    *lo = best_lo;
    *hi = best_hi;
}
