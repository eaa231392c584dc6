/* signal.c — spectral ops: DFT, STFT, the window generators (HannWindow, HammingWindow,
 * BlackmanWindow) and MelWeightMatrix (opset 17).
 *
 * Complex tensors are real tensors with a last dim of 2 (real, imaginary); a last dim of 1 is
 * a real signal. Transforms are plain O(n^2) sums in double (reference kernels, not FFTs), with
 * the twiddle angle reduced modulo n so long signals keep their accuracy. Window sizes and the
 * mel matrix size come from input values: infer computes them when the values are known, and
 * checks them against LP_MAX_VALUE_SIZED_ELEMS. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_util.h"

static double getd(const lp_tensor *t, int64_t i) { return lp_dtype_traits_of(t->dtype)->get(t->data, i); }

/* One output bin k of the DFT of n complex values (re, im at stride `st`), length n (zero
 * padding past `avail`), sign -1 forward, +1 inverse. */
static void dft_bin(const lp_tensor *x, int64_t base, int64_t st, bool complex_in, int64_t avail, int64_t n, int64_t k,
                    int sign, double *re, double *im)
{
    double sr = 0, si = 0;
    for (int64_t j = 0; j < avail && j < n; j++) {
        double a = 2 * M_PI * (double)((k * j) % n) / (double)n * sign;
        int64_t at = (base + j * st) * (complex_in ? 2 : 1);
        double xr = getd(x, at), xi = complex_in ? getd(x, at + 1) : 0;
        sr += xr * cos(a) - xi * sin(a);
        si += xr * sin(a) + xi * cos(a);
    }
    *re = sr;
    *im = si;
}

/* ---- DFT: x (..., n, 1 or 2) along `axis` (not the last dim) -> (..., n_out, 2) ---- */

typedef struct dft_args {
    int axis;
    int64_t length;             /* -1: the axis length */
    bool inverse, onesided;
} dft_args;

static lp_status dft_args_read(const lp_node *n, int rank, const lp_tensor *len, dft_args *a)
{
    a->inverse = lp_attr_int(n, "inverse", 0) != 0;
    a->onesided = lp_attr_int(n, "onesided", 0) != 0;
    if (a->inverse && a->onesided)
        return lp_node_error(n, LOWP_ERR_FORMAT, "inverse and onesided cannot both be set");
    if (rank < 2)
        return lp_node_error(n, LOWP_ERR_SHAPE, "the input must have rank >= 2 (..., n, 1 or 2)");
    LP_TRY(lp_op_axis(n, lp_attr_int(n, "axis", 1), rank - 1, &a->axis));
    a->length = -1;
    if (len) {
        if (lp_tensor_numel(len) != 1 || (len->dtype != LP_I32 && len->dtype != LP_I64))
            return lp_node_error(n, LOWP_ERR_SHAPE, "dft_length must be one integer");
        int64_t l = lp_tensor_get_int(len, 0), total;
        LP_TRY(lp_op_check_count(n, l, 1, "dft_length", &total));
        if (l < 1)
            return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "dft_length must be positive");
        a->length = l;
    }
    return LP_OK;
}

static lp_status infer_DFT(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *len = c->n_in > 1 ? c->in[1] : NULL;
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    int r = x->shape.ndim;
    c->out[0].dtype = x->dtype;
    c->out[0].shape = x->shape;
    if (r < 0)
        return LP_OK;
    dft_args a;
    LP_TRY(dft_args_read(c->node, r, len ? len->value : NULL, &a));
    int64_t n = len ? (len->value ? a.length : LP_DIM_UNKNOWN) : x->shape.d[a.axis];
    if (lp_dim_known(n) && a.onesided)
        n = n / 2 + 1;
    c->out[0].shape.d[a.axis] = n;
    c->out[0].shape.d[r - 1] = 2;
    return LP_OK;
}

static lp_status run_DFT(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    dft_args a;
    LP_TRY(dft_args_read(c->node, x->ndim, c->n_in > 1 ? c->in[1] : NULL, &a));
    int r = x->ndim;
    int64_t last = x->dims[r - 1], avail = x->dims[a.axis], n = a.length >= 0 ? a.length : avail;
    int64_t n_out = a.onesided ? n / 2 + 1 : n;
    int64_t outer = lp_numel(a.axis, x->dims), inner = lp_numel(r - 2 - a.axis, x->dims + a.axis + 1);
    if ((last != 1 && last != 2) || !lp_ew_is_float(x->dtype) || y->dtype != x->dtype ||
        lp_tensor_numel(y) != outer * n_out * inner * 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected a float input (..., 1 or 2) and an output (..., %lld, ..., 2)",
                             (long long)n_out);
    int sign = a.inverse ? 1 : -1;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++)
            for (int64_t k = 0; k < n_out; k++) {
                double re, im;
                dft_bin(x, o * avail * inner + i, inner, last == 2, avail, n, k, sign, &re, &im);
                if (a.inverse) {
                    re /= (double)n;
                    im /= (double)n;
                }
                int64_t at = ((o * n_out + k) * inner + i) * 2;
                lp_ew_setd(y, at, re);
                lp_ew_setd(y, at + 1, im);
            }
    return LP_OK;
}

const lp_op_def lp_opdef_DFT = { .name = "DFT", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
                                 .infer = infer_DFT, .run = run_DFT };

/* ---- STFT: signal (B, L, 1 or 2), frame_step, [window (W)], [frame_length] ->
 * (B, frames, bins, 2), frames = (L - frame_length) / step + 1, bins = frame_length / 2 + 1
 * when onesided (the default) ---- */

typedef struct stft_args { int64_t step, flen, frames, bins; } stft_args;

static lp_status stft_args_read(const lp_node *n, const lp_tensor *step, const lp_tensor *win, const lp_tensor *flen,
                                int64_t L, stft_args *a)
{
    if (lp_tensor_numel(step) != 1 || (a->step = lp_tensor_get_int(step, 0)) < 1)
        return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "frame_step must be one positive integer");
    a->flen = -1;
    if (flen) {
        if (lp_tensor_numel(flen) != 1 || (a->flen = lp_tensor_get_int(flen, 0)) < 1)
            return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "frame_length must be one positive integer");
    }
    if (win) {
        if (win->ndim != 1 || (a->flen >= 0 && win->dims[0] != a->flen))
            return lp_node_error(n, LOWP_ERR_SHAPE, "the window must be 1-D of frame_length values");
        a->flen = win->dims[0];
    }
    if (a->flen < 1 || a->flen > L)
        return lp_node_error(n, LOWP_ERR_SHAPE, "frame_length %lld does not fit a signal of %lld", (long long)a->flen,
                             (long long)L);
    a->frames = (L - a->flen) / a->step + 1;
    a->bins = lp_attr_int(n, "onesided", 1) ? a->flen / 2 + 1 : a->flen;
    return LP_OK;
}

static lp_status infer_STFT(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *step = c->in[1];
    const lp_vinfo *win = c->n_in > 2 ? c->in[2] : NULL, *flen = c->n_in > 3 ? c->in[3] : NULL;
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    if (x->shape.ndim >= 0 && x->shape.ndim != 3)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the signal must be (batch, length, 1 or 2)");
    c->out[0].dtype = x->dtype;
    c->out[0].shape.ndim = 4;
    c->out[0].shape.d[0] = x->shape.ndim == 3 ? x->shape.d[0] : LP_DIM_UNKNOWN;
    c->out[0].shape.d[1] = c->out[0].shape.d[2] = LP_DIM_UNKNOWN;
    c->out[0].shape.d[3] = 2;
    bool win_known = !win || lp_shape_static(&win->shape);
    if (x->shape.ndim == 3 && lp_dim_known(x->shape.d[1]) && step->value && win_known && (!flen || flen->value)) {
        /* the window's values do not matter here, only its length */
        lp_tensor wt = { 0 };
        if (win) {
            wt.dtype = win->dtype;
            wt.ndim = win->shape.ndim;
            memcpy(wt.dims, win->shape.d, sizeof wt.dims);
        }
        stft_args a;
        LP_TRY(stft_args_read(c->node, step->value, win ? &wt : NULL, flen ? flen->value : NULL, x->shape.d[1], &a));
        c->out[0].shape.d[1] = a.frames;
        c->out[0].shape.d[2] = a.bins;
    }
    return LP_OK;
}

static lp_status run_STFT(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *win = c->n_in > 2 ? c->in[2] : NULL;
    lp_tensor *y = c->out[0];
    if (x->ndim != 3 || (x->dims[2] != 1 && x->dims[2] != 2) || !lp_ew_is_float(x->dtype) || y->dtype != x->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the signal must be float (batch, length, 1 or 2)");
    stft_args a;
    LP_TRY(stft_args_read(c->node, c->in[1], win, c->n_in > 3 ? c->in[3] : NULL, x->dims[1], &a));
    int64_t B = x->dims[0], L = x->dims[1];
    bool cplx = x->dims[2] == 2;
    if (lp_tensor_numel(y) != B * a.frames * a.bins * 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output must be (batch, frames, bins, 2)");
    double *fr = malloc((size_t)a.flen * 2 * sizeof *fr);
    if (!fr)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory for a frame of %lld", (long long)a.flen);
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < a.frames; f++) {
            for (int64_t j = 0; j < a.flen; j++) { /* the windowed frame */
                int64_t at = (b * L + f * a.step + j) * (cplx ? 2 : 1);
                double w = win ? getd(win, j) : 1;
                fr[2 * j] = getd(x, at) * w;
                fr[2 * j + 1] = cplx ? getd(x, at + 1) * w : 0;
            }
            for (int64_t k = 0; k < a.bins; k++) {
                double re = 0, im = 0;
                for (int64_t j = 0; j < a.flen; j++) {
                    double t = -2 * M_PI * (double)((k * j) % a.flen) / (double)a.flen;
                    re += fr[2 * j] * cos(t) - fr[2 * j + 1] * sin(t);
                    im += fr[2 * j] * sin(t) + fr[2 * j + 1] * cos(t);
                }
                int64_t at = ((b * a.frames + f) * a.bins + k) * 2;
                lp_ew_setd(y, at, re);
                lp_ew_setd(y, at + 1, im);
            }
        }
    free(fr);
    return LP_OK;
}

const lp_op_def lp_opdef_STFT = { .name = "STFT", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
                                  .infer = infer_STFT, .run = run_STFT };

/* ---- HannWindow, HammingWindow, BlackmanWindow: size (a scalar) -> (size) of
 * output_datatype; w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic,
 * the default) or size - 1 ---- */

typedef enum win_kind { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN } win_kind;

static lp_status window_dtype(const lp_node *n, const char *attr, lp_dtype *out)
{
    int64_t d = lp_attr_int(n, attr, LP_F32);
    if (d < 0 || d >= LP_DTYPE_COUNT || !lp_dtype_valid((lp_dtype)d))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s %lld is not supported", attr, (long long)d);
    *out = (lp_dtype)d;
    return LP_OK;
}

static lp_status window_size(const lp_node *n, const lp_tensor *s, int64_t *size)
{
    if (lp_tensor_numel(s) != 1 || (s->dtype != LP_I32 && s->dtype != LP_I64))
        return lp_node_error(n, LOWP_ERR_SHAPE, "size must be one integer");
    int64_t total;
    *size = lp_tensor_get_int(s, 0);
    return lp_op_check_count(n, *size, 1, "window size", &total);
}

static lp_status infer_window(lp_infer_ctx *c)
{
    lp_dtype dt;
    LP_TRY(window_dtype(c->node, "output_datatype", &dt));
    c->out[0].dtype = dt;
    c->out[0].shape.ndim = 1;
    c->out[0].shape.d[0] = LP_DIM_UNKNOWN;
    if (c->in[0]->value)
        LP_TRY(window_size(c->node, c->in[0]->value, &c->out[0].shape.d[0]));
    return LP_OK;
}

static lp_status run_window(const lp_run_ctx *c, win_kind kind)
{
    static const double coef[3][3] = { { 0.5, 0.5, 0 }, { 25.0 / 46.0, 21.0 / 46.0, 0 }, { 0.42, 0.5, 0.08 } };
    lp_tensor *y = c->out[0];
    int64_t size;
    LP_TRY(window_size(c->node, c->in[0], &size));
    if (y->ndim != 1 || y->dims[0] != size)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output must hold size values");
    double N = lp_attr_int(c->node, "periodic", 1) ? (double)size : (double)(size - 1);
    const double *a = coef[kind];
    for (int64_t i = 0; i < size; i++) {
        double t = N > 0 ? 2 * M_PI * (double)i / N : 0;
        double v = a[0] - a[1] * cos(t) + a[2] * cos(2 * t);
        if (lp_ew_is_float(y->dtype))
            lp_ew_setd(y, i, v);
        else
            lp_dtype_traits_of(y->dtype)->set(y->data, i, v);
    }
    return LP_OK;
}

#define WINDOW_OP(Name, KIND)                                                            \
    static lp_status run_##Name(const lp_run_ctx *c) { return run_window(c, KIND); }     \
    const lp_op_def lp_opdef_##Name = { .name = #Name, .min_in = 1, .max_in = 1, .min_out = 1, \
                                        .max_out = 1, .infer = infer_window, .run = run_##Name };

WINDOW_OP(HannWindow, WIN_HANN)
WINDOW_OP(HammingWindow, WIN_HAMMING)
WINDOW_OP(BlackmanWindow, WIN_BLACKMAN)

/* ---- MelWeightMatrix: num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
 * upper_edge_hertz -> (dft_length / 2 + 1, num_mel_bins) triangular filters on the mel
 * scale, as ONNX's reference builds them (integer bin edges) ---- */

typedef struct mel_args { int64_t mels, dft, rate; double lo, hi; } mel_args;

static lp_status mel_args_read(const lp_node *n, const lp_tensor *const *in, mel_args *a)
{
    for (int i = 0; i < 5; i++)
        if (lp_tensor_numel(in[i]) != 1)
            return lp_node_error(n, LOWP_ERR_SHAPE, "input %d must be a scalar", i);
    a->mels = lp_tensor_get_int(in[0], 0);
    a->dft = lp_tensor_get_int(in[1], 0);
    a->rate = lp_tensor_get_int(in[2], 0);
    a->lo = lp_tensor_get(in[3], 0);
    a->hi = lp_tensor_get(in[4], 0);
    int64_t total;
    if (a->mels < 1 || a->dft < 1 || a->rate < 1 || !(a->lo >= 0) || !(a->hi >= a->lo))
        return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "num_mel_bins, dft_length and sample_rate must be positive "
                             "and 0 <= lower_edge_hertz <= upper_edge_hertz");
    return lp_op_check_count(n, a->dft / 2 + 1, a->mels, "MelWeightMatrix output", &total);
}

static lp_status infer_MelWeightMatrix(lp_infer_ctx *c)
{
    lp_dtype dt;
    LP_TRY(window_dtype(c->node, "output_datatype", &dt));
    c->out[0].dtype = dt;
    c->out[0].shape.ndim = 2;
    c->out[0].shape.d[0] = c->out[0].shape.d[1] = LP_DIM_UNKNOWN;
    const lp_tensor *in[5];
    for (int i = 0; i < 5; i++)
        if (!(in[i] = c->in[i]->value))
            return LP_OK;
    mel_args a;
    LP_TRY(mel_args_read(c->node, in, &a));
    c->out[0].shape.d[0] = a.dft / 2 + 1;
    c->out[0].shape.d[1] = a.mels;
    return LP_OK;
}

static lp_status run_MelWeightMatrix(const lp_run_ctx *c)
{
    lp_tensor *y = c->out[0];
    mel_args a;
    LP_TRY(mel_args_read(c->node, c->in, &a));
    int64_t bins = a.dft / 2 + 1;
    if (y->ndim != 2 || y->dims[0] != bins || y->dims[1] != a.mels)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output must be (dft_length / 2 + 1, num_mel_bins)");
    int64_t *edge = malloc((size_t)(a.mels + 2) * sizeof *edge);
    if (!edge)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld mel bins", (long long)a.mels);
    double lo = 2595 * log10(1 + a.lo / 700), hi = 2595 * log10(1 + a.hi / 700), step = (hi - lo) / (double)(a.mels + 2);
    for (int64_t i = 0; i < a.mels + 2; i++) {
        double hz = 700 * (pow(10, ((double)i * step + lo) / 2595) - 1);
        edge[i] = (int64_t)floor((double)(a.dft + 1) * hz / (double)a.rate);
    }
    memset(y->data, 0, y->nbytes);
    const lp_dtype_traits *t = lp_dtype_traits_of(y->dtype);
    for (int64_t m = 0; m < a.mels; m++) {
        int64_t l = edge[m], ce = edge[m + 1], h = edge[m + 2];
        if (ce - l == 0) {
            if (ce >= 0 && ce < bins)
                t->set(y->data, ce * a.mels + m, 1);
        } else {
            for (int64_t j = l; j <= ce; j++)
                if (j >= 0 && j < bins)
                    t->set(y->data, j * a.mels + m, (double)(j - l) / (double)(ce - l));
        }
        for (int64_t j = ce; j < h; j++)
            if (j >= 0 && j < bins)
                t->set(y->data, j * a.mels + m, (double)(h - j) / (double)(h - ce));
    }
    free(edge);
    return LP_OK;
}

const lp_op_def lp_opdef_MelWeightMatrix = { .name = "MelWeightMatrix", .min_in = 5, .max_in = 5, .min_out = 1,
                                             .max_out = 1, .infer = infer_MelWeightMatrix, .run = run_MelWeightMatrix };
