/* grad_quant.c — QuantizeLinear / DequantizeLinear as fake quantization. Rounding has a zero
 * derivative almost everywhere, so the quantizer's backward is the straight-through estimator
 * (round treated as the identity inside the integer range, zero where it saturates); the
 * scale's gradient then composes, over a Q -> DQ pair sharing one scale, into LSQ's
 * (Esser et al. 2020): dy/ds = round(x/s) - x/s inside the range, q_min - z or q_max - z
 * where it clips. The zero point's gradient is the same estimator's: over a Q -> DQ pair the
 * two contributions cancel inside the range and leave -s where it clips (LSQ+, Bhalgat et al.
 * 2020: the offset moves only to trade clipping at one end for the other). Zero points are
 * integers in the file; qat.c makes them trainable through a float offset (lp_qat_learn_zero_points). */
#include <math.h>

#include "ops/requant.h"
#include "train/grad.h"

/* Per-tensor or per-axis channel geometry of x against a scale of `k` values. */
static lp_status qgeom(const lp_grad_ctx *c, const lp_tensor *x, const lp_tensor *s, int64_t *count, int64_t *inner)
{
    *count = *inner = 1;
    int64_t k = lp_tensor_numel(s);
    if (k == 1)
        return LP_OK;
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 1), x->ndim, &axis));
    if (x->dims[axis] != k)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "backward: scale has %lld values but axis %d has %lld",
                             (long long)k, axis, (long long)x->dims[axis]);
    *count = k;
    *inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    return LP_OK;
}

static int32_t zp_of(const lp_tensor *zp, int64_t ch)
{
    return zp ? (int32_t)lp_tensor_get_int(zp, lp_tensor_numel(zp) == 1 ? 0 : ch) : 0;
}

/* q = clamp(round(x / s) + z): dx += dq / s, ds += -dq x / s^2 and dz += dq where it does not
 * clamp. */
static lp_status quantize_bw(const lp_grad_ctx *c)
{
    const lp_tensor *x = c->in[0], *s = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL, *q = c->out[0];
    LP_TRY(lp_grad_want_f32(c, x, "x"));
    LP_TRY(lp_grad_want_f32(c, s, "y_scale"));
    int64_t count, inner;
    LP_TRY(qgeom(c, x, s, &count, &inner));
    int32_t lo, hi;
    lp_quant_range(q->dtype == LP_I8, &lo, &hi);
    const float *X = x->data, *S = s->data, *g = c->dout[0]->data;
    float *dx = c->din[0] ? c->din[0]->data : NULL, *ds = c->din[1] ? c->din[1]->data : NULL;
    float *dz = zp && c->n_in > 2 && c->din[2] ? c->din[2]->data : NULL;
    int64_t n = lp_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = count == 1 ? 0 : (i / inner) % count;
        float sv = S[count == 1 ? 0 : ch];
        float r = nearbyintf(X[i] / sv) + (float)zp_of(zp, ch);
        if (!(r >= (float)lo && r <= (float)hi))
            continue;
        if (dx)
            dx[i] += g[i] / sv;
        if (ds)
            ds[count == 1 ? 0 : ch] += -g[i] * X[i] / (sv * sv);
        if (dz)
            dz[count == 1 ? 0 : ch] += g[i];
    }
    return LP_OK;
}

/* y = (q - z) s: dq += dy s (a float gradient for an integer value), ds += dy (q - z),
 * dz += -dy s. */
static lp_status dequantize_bw(const lp_grad_ctx *c)
{
    const lp_tensor *q = c->in[0], *s = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
    LP_TRY(lp_grad_want_f32(c, s, "x_scale"));
    int64_t count, inner;
    LP_TRY(qgeom(c, q, s, &count, &inner));
    const float *S = s->data, *g = c->dout[0]->data;
    float *dq = c->din[0] ? c->din[0]->data : NULL, *ds = c->din[1] ? c->din[1]->data : NULL;
    float *dz = zp && c->n_in > 2 && c->din[2] ? c->din[2]->data : NULL;
    int64_t n = lp_tensor_numel(q);
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = count == 1 ? 0 : (i / inner) % count;
        if (dq)
            dq[i] += g[i] * S[count == 1 ? 0 : ch];
        if (ds)
            ds[count == 1 ? 0 : ch] += g[i] * (float)(lp_tensor_get(q, i) - zp_of(zp, ch));
        if (dz)
            dz[count == 1 ? 0 : ch] -= g[i] * S[count == 1 ? 0 : ch];
    }
    return LP_OK;
}

/* A float weight feeding a QuantizeLinear is trained (the QAT weight); the scales are trained
 * only when the tape is told to (learn_scale). A gradient reaches a zero point computed from a
 * float (qat.c's learned offsets); an integer constant zero point is never a parameter. */
const lp_grad_def lp_graddef_QuantizeLinear = {
    .name = "QuantizeLinear", .diff_in = 7, .param_in = 3, .backward = quantize_bw,
};
const lp_grad_def lp_graddef_DequantizeLinear = {
    .name = "DequantizeLinear", .diff_in = 7, .param_in = 2, .backward = dequantize_bw,
};
