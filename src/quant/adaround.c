/* adaround.c — second moments of layer inputs during calibration, and learned rounding of
 * weights against them (see adaround.h). */
#include "quant/adaround.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_ref.h"
#include "ops/requant.h"

static bool gram_shape(const lp_node *n, const lp_tensor *w, int64_t *groups, int64_t *k)
{
    if (n->op == LP_OP_Conv) {
        int64_t g = lp_attr_int(n, "group", 1);
        if ((w->ndim != 3 && w->ndim != 4) || g < 1 || w->dims[0] % g)
            return false;
        *groups = g;
        *k = lp_tensor_numel(w) / w->dims[0];
        return true;
    }
    if (w->ndim != 2 || (n->op == LP_OP_Gemm && lp_attr_int(n, "transA", 0)))
        return false;
    *groups = 1;
    *k = n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0) ? w->dims[1] : w->dims[0];
    return n->op == LP_OP_Gemm || n->op == LP_OP_MatMul;
}

void lp_grams_free(lp_grams *gs)
{
    if (!gs)
        return;
    for (int i = 0; i < gs->n; i++) {
        free(gs->g[i].node);
        free(gs->g[i].input);
        free(gs->g[i].h);
    }
    free(gs->g);
    free(gs);
}

lp_status lp_grams_new(const lp_graph *g, lp_grams **out)
{
    lp_grams *gs = calloc(1, sizeof *gs);
    if (!gs || !(gs->g = calloc((size_t)g->n_nodes + 1, sizeof *gs->g))) {
        free(gs);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    gs->rng = 0x9a3d5eedULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead || n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0)
            continue;
        const lp_value *w = &g->values[n->in[1]];
        if (w->kind != LP_VALUE_CONST || w->init->dtype != LP_F32 || g->values[n->in[0]].kind == LP_VALUE_CONST)
            continue;
        int64_t groups, k;
        if (!gram_shape(n, w->init, &groups, &k) || k < 1 || k > LP_GRAM_MAX_ELEMS / k / groups)
            continue;
        lp_gram *e = &gs->g[gs->n];
        *e = (lp_gram){ .op = n->op, .groups = groups, .k = k, .n = n, .w = w->init };
        e->node = strdup(n->name);
        e->input = strdup(g->values[n->in[0]].name);
        e->h = calloc((size_t)(groups * k * k), sizeof *e->h);
        gs->n++;
        if (!e->node || !e->input || !e->h) {
            lp_grams_free(gs);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for the second moments of '%s'", n->name);
        }
    }
    *out = gs;
    return LP_OK;
}

/* h += v v^T (lower triangle), skipping zeros (inputs after a ReLU are half zeros). */
static void add_outer(double *h, int64_t k, const float *v)
{
    for (int64_t i = 0; i < k; i++) {
        double a = v[i];
        if (a == 0)
            continue;
        double *row = h + i * k;
        for (int64_t j = 0; j <= i; j++)
            row[j] += a * v[j];
    }
}

/* Conv input x (N, C, spatial): a sample of im2col columns per group. */
static void observe_conv(lp_grams *gs, lp_gram *e, const lp_tensor *x)
{
    lp_conv cv;
    if (x->ndim != e->w->ndim || lp_conv_setup(e->n, x, e->w, &cv) != LP_OK || cv.group != e->groups) {
        e->bad = true;
        return;
    }
    const lp_window *wn = &cv.win;
    int64_t cg = cv.C / cv.group, kp = lp_window_kprod(wn), outp = lp_window_outprod(wn), inp = lp_window_inprod(wn);
    int64_t total = cv.N * outp, step = total / LP_GRAM_ROWS_PER_BATCH + 1;
    float *v = malloc((size_t)e->k * sizeof *v);
    if (!v) {
        e->bad = true;
        return;
    }
    const float *xd = x->data;
    for (int64_t idx = (int64_t)(lowp_random_next(&gs->rng) % (uint64_t)step); idx < total; idx += step) {
        int64_t b = idx / outp, p = idx % outp;
        int64_t o[LP_SP] = { p / (wn->out[1] * wn->out[2]), (p / wn->out[2]) % wn->out[1], p % wn->out[2] };
        for (int64_t gi = 0; gi < cv.group; gi++) {
            for (int64_t c = 0; c < cg; c++)
                for (int64_t kk = 0; kk < kp; kk++) {
                    int64_t kq[LP_SP] = { kk / (wn->k[1] * wn->k[2]), (kk / wn->k[2]) % wn->k[1], kk % wn->k[2] };
                    int64_t off = 0;
                    bool inside = true;
                    for (int d = 0; d < LP_SP && inside; d++) {
                        int64_t at = o[d] * wn->stride[d] - wn->pad0[d] + kq[d] * wn->dil[d];
                        inside = at >= 0 && at < wn->in[d];
                        off = off * wn->in[d] + at;
                    }
                    v[c * kp + kk] = inside ? xd[(b * cv.C + gi * cg + c) * inp + off] : 0.0f;
                }
            add_outer(e->h + gi * e->k * e->k, e->k, v);
        }
        e->count++;
    }
    free(v);
}

void lp_grams_observe(lp_grams *gs, const char *name, const lp_tensor *t)
{
    if (!gs || t->dtype != LP_F32)
        return;
    for (int i = 0; i < gs->n; i++) {
        lp_gram *e = &gs->g[i];
        if (e->bad || strcmp(e->input, name))
            continue;
        if (e->op == LP_OP_Conv) {
            observe_conv(gs, e, t);
            continue;
        }
        if (t->ndim < 1 || t->dims[t->ndim - 1] != e->k) {
            e->bad = true;
            continue;
        }
        int64_t rows = lp_tensor_numel(t) / e->k, step = rows / LP_GRAM_ROWS_PER_BATCH + 1;
        for (int64_t r = rows ? (int64_t)(lowp_random_next(&gs->rng) % (uint64_t)step) : 0; r < rows; r += step) {
            add_outer(e->h, e->k, (const float *)t->data + r * e->k);
            e->count++;
        }
    }
}

const lp_gram *lp_grams_find(const lp_grams *gs, const char *node)
{
    for (int i = 0; gs && i < gs->n; i++)
        if (!strcmp(gs->g[i].node, node))
            return gs->g[i].bad || !gs->g[i].count ? NULL : &gs->g[i];
    return NULL;
}

/* ---- learned rounding ---- */

static int32_t clampq(double v, int qmax) { return v > qmax ? qmax : v < -qmax ? -qmax : (int32_t)v; }

/* One output row: the rounding of w (k values) with scale s minimising d^T H d by coordinate
 * descent from nearest rounding; q gets the integers; returns the objective. */
static double round_row(const double *H, const double *w, int64_t k, double s, int qmax, int32_t *q, double *d,
                        double *gr)
{
    for (int64_t i = 0; i < k; i++) {
        q[i] = lp_requant((float)(w[i] / s), 0, -qmax, qmax);
        d[i] = s * q[i] - w[i];
    }
    for (int64_t i = 0; i < k; i++) {
        double r = 0;
        for (int64_t j = 0; j < k; j++)
            r += H[i * k + j] * d[j];
        gr[i] = r;
    }
    double f = 0;
    for (int64_t i = 0; i < k; i++)
        f += d[i] * gr[i];
    for (int sweep = 0; sweep < 64; sweep++) {
        int flips = 0;
        for (int64_t i = 0; i < k; i++) {
            double lo = floor(w[i] / s);
            int32_t a = clampq(lo, qmax), b = clampq(lo + 1, qmax), alt = q[i] == a ? b : a;
            if (alt == q[i])
                continue;
            double dl = s * (alt - q[i]);
            double change = 2 * dl * gr[i] + dl * dl * H[i * k + i];
            if (!(change < -1e-12 * fabs(f)))
                continue;
            q[i] = alt;
            d[i] += dl;
            f += change;
            for (int64_t j = 0; j < k; j++)
                gr[j] += dl * H[j * k + i];
            flips++;
        }
        if (!flips)
            break;
    }
    return f;
}

lp_status lp_adaround_weight(const lp_node *n, const lp_tensor *w, const lp_gram *h, const double *div,
                             int64_t n_div, int axis, int qmax, lp_tensor **q_out, float **scales_out,
                             int64_t *n_out)
{
    int64_t groups, k;
    if (!gram_shape(n, w, &groups, &k) || groups != h->groups || k != h->k)
        return lp_error(LOWP_ERR_INTERNAL, "node '%s': the weight does not match its calibration moments", n->name);
    bool rows_contig = n->op == LP_OP_Conv || (n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0));
    int64_t M = lp_tensor_numel(w) / k, rows_per_group = M / groups;
    int64_t kp = n->op == LP_OP_Conv ? k / w->dims[1] : 1, cg = n->op == LP_OP_Conv ? w->dims[1] : k;
    if (div && n_div != groups * cg)
        div = NULL; /* does not line up: the moments as they are */
    int64_t n_sc = axis >= 0 ? M : 1;
    float *sc = malloc((size_t)n_sc * sizeof *sc);
    double *H = malloc((size_t)(k * k) * sizeof *H), *wr = malloc((size_t)k * 4 * sizeof *wr);
    int32_t *q = malloc((size_t)k * 2 * sizeof *q);
    lp_tensor *qt = NULL;
    lp_status st = sc && H && wr && q ? lp_tensor_new(LP_I8, w->ndim, w->dims, &qt)
                                      : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    double *d = wr + k, *gr = wr + 2 * k;
    int32_t *qbest = q + k;
    const float *wd = w->data;
    double tmax = 0;
    for (int64_t i = 0; i < lp_tensor_numel(w); i++)
        tmax = fmax(tmax, fabs(wd[i]));
    for (int64_t m = 0, cur_group = -1; st == LP_OK && m < M; m++) {
        int64_t gi = m / rows_per_group;
        if (gi != cur_group) { /* H of this group, full and rescaled: E[x x^T] / count / (div_i div_j) */
            const double *src = h->h + gi * k * k;
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j <= i; j++) {
                    double v = src[i * k + j] / (double)h->count;
                    if (div)
                        v /= div[gi * cg + i / kp] * div[gi * cg + j / kp];
                    H[i * k + j] = H[j * k + i] = v;
                }
            cur_group = gi;
        }
        double mx = 0;
        for (int64_t i = 0; i < k; i++) {
            wr[i] = wd[rows_contig ? m * k + i : i * M + m];
            mx = fmax(mx, fabs(wr[i]));
        }
        double s_best = axis >= 0 ? mx / qmax : tmax / qmax, f_best = INFINITY;
        if (!(s_best > 0)) {
            s_best = 1;
            memset(qbest, 0, (size_t)k * sizeof *qbest);
        } else {
            /* per channel: the clip ratio too (a 4-bit grid rarely wants the largest weight exact) */
            int n_ratio = axis >= 0 ? 9 : 1;
            double s0 = s_best;
            for (int r = 0; r < n_ratio; r++) {
                double s = (float)(s0 * (1.0 - 0.05 * r)); /* the scale as stored */
                double f = round_row(H, wr, k, s, qmax, q, d, gr);
                if (f < f_best) {
                    f_best = f;
                    s_best = s;
                    memcpy(qbest, q, (size_t)k * sizeof *q);
                }
            }
        }
        if (axis >= 0)
            sc[m] = (float)s_best;
        else
            sc[0] = (float)s_best;
        for (int64_t i = 0; i < k; i++)
            ((int8_t *)qt->data)[rows_contig ? m * k + i : i * M + m] = (int8_t)qbest[i];
    }
    free(H);
    free(wr);
    free(q);
    if (st != LP_OK) {
        free(sc);
        lp_tensor_free(qt);
        return st;
    }
    *q_out = qt;
    *scales_out = sc;
    *n_out = n_sc;
    return LP_OK;
}
