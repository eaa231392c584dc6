/* dnnl_frames.c — a 1-D convolution of one input channel (an STFT exported as Conv) as a 1x1
 * convolution of k channels over its frames: F[n][i][t] = x[n][0][t*s + i], y = W' F with the
 * (O, 1, k) weights read as (O, k, 1) -- the same bytes. The frames are the source of the 1x1
 * convolution laid out channels-last, (N, T, k) row-major, copied by one reorder per s-sample
 * phase (im2col). Why: oneDNN's INT8 kernels reduce over groups of 4 input channels (VNNI), so
 * a one-channel convolution wastes 3/4 of the work, and k channels get the full width.
 * Measured (bench/conv1d_bench.c, docs/performance.md "1-D convolutions"): INT8 2-6x faster
 * than the INT8 convolution on Silero VAD's and openWakeWord's STFTs; FP32 within noise of
 * oneDNN's direct kernel either way, so FP32 keeps the direct convolution (LOWP_CONV_FRAMES=1
 * selects dnnl_ops.c's frames x matmul form for measuring). The 1x1 convolution is an ordinary
 * Conv build: its scales, zero-point compensation, post-ops and layouts apply unchanged. */
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "ops/conv_ref.h"

#define MAX_PHASES 6 /* reorders per step: leaves DN_MAX_EXEC room for the rest of the step */

bool dn_frames_fits(const lp_conv *cv, const dn_conv_dims *geo)
{
    const char *env = getenv("LOWP_CONV_FRAMES");
    if (env && strcmp(env, "0") == 0)
        return false;
    int64_t k = geo->nd == 3 ? geo->wei[geo->wn - 1] : 0, s = geo->strides[0], N = geo->src[0], L = geo->src[2];
    int64_t T = geo->dst[2];
    /* k >= 16: with fewer taps the 1x1 convolution's own reduction is short, and the frames
       copy the input k/s times. A phase's view of x, (N, T, w) with strides (L, s, 1), must not
       overlap itself (oneDNN refuses it): T * s <= L, unless one image */
    return geo->nd == 3 && cv->group == 1 && cv->C == 1 && geo->dil[0] == 0 && geo->pad_l[0] == 0 &&
           geo->pad_r[0] <= 0 && k >= 16 && (k + s - 1) / s <= MAX_PHASES && (T - 1) * s + k <= L &&
           (N == 1 || T * s <= L);
}

void dn_frames_dims(const dn_conv_dims *geo, dn_conv_dims *out)
{
    int64_t k = geo->wei[geo->wn - 1];
    memset(out, 0, sizeof *out);
    out->nd = 3;
    out->src[0] = geo->src[0], out->src[1] = k, out->src[2] = geo->dst[2];
    out->dst[0] = geo->dst[0], out->dst[1] = geo->dst[1], out->dst[2] = geo->dst[2];
    out->wn = 3;
    out->wei[0] = geo->dst[1], out->wei[1] = k, out->wei[2] = 1;
    out->strides[0] = 1;
}

lp_status dn_frames_input(dn_step *st, const lp_prep_ctx *pc, int x, const dn_conv_dims *geo, const dn_quant *q,
                          const dnnl_memory_desc_t *want, dnnl_memory_t *out)
{
    dnnl_data_type_t dt = q && q->on ? q->dt : dnnl_f32;
    /* x plain (N, 1, L), in the frames' type */
    dnnl_memory_desc_t plain;
    dnnl_memory_t mx;
    dn_plain_md(&plain, dt, 3, geo->src);
    LP_TRY(dn_input_q(st, pc, x, &plain, q, &mx));
    return dn_frames_of(st, mx, geo, dt, want, out);
}

lp_status dn_frames_of(dn_step *st, dnnl_memory_t mx, const dn_conv_dims *geo, dnnl_data_type_t dt,
                       const dnnl_memory_desc_t *want, dnnl_memory_t *out)
{
    int64_t N = geo->src[0], L = geo->src[2], T = geo->dst[2], k = geo->wei[geo->wn - 1], s = geo->strides[0];
    dnnl_memory_desc_t nwc, fv, xv;
    dnnl_memory_t mf;
    /* the frames: (N, k, T) channels-last, the layout the 1x1 convolution wants when it is so */
    int64_t fd[3] = { N, k, T };
    dn_md_channels_last(&nwc, 3, fd, dt);
    bool direct = dnnl_memory_desc_equal(&nwc, want);
    LP_TRY(dn_mem_temp(st, &nwc, &mf));
    for (int64_t m = 0; m * s < k; m++) { /* F[n][t][m*s + j] = x[n][(t + m)*s + j], j < s */
        int64_t w = k - m * s < s ? k - m * s : s, vd[3] = { N, T, w }, fs[3] = { T * k, k, 1 };
        int64_t xs[3] = { N == 1 && T * s > L ? T * s : L, s, 1 }; /* (one image: its stride is moot) */
        dnnl_memory_t a, b;
        if (!dn_md_strided(&xv, 3, vd, xs, dt) || !dn_md_strided(&fv, 3, vd, fs, dt))
            return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: frame views");
        xv.offset0 = fv.offset0 = m * s;
        LP_TRY(dn_mem_as(st, mx, &xv, &a));
        LP_TRY(dn_mem_as(st, mf, &fv, &b));
        LP_TRY(dn_reorder_q(st, a, NULL, b, NULL));
    }
    if (direct) {
        *out = mf;
        return LP_OK;
    }
    LP_TRY(dn_mem_temp(st, want, out));
    return dn_reorder_q(st, mf, NULL, *out, NULL);
}
