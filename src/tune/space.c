/* space.c — the tuning space: which ops can take which precision, the model-wise
 * configurations in order of preference, points as recipes and keys, and the cost model. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "quant/quantize.h"
#include "tune/tune.h"

static const lp_calib_algo default_algos[] = { LP_CALIB_MINMAX, LP_CALIB_PERCENTILE, LP_CALIB_KL, LP_CALIB_MSE };

/* Choice lists of the model-wise space: the configuration's when given, else lowp's. */
typedef struct mw_lists {
    int n_gran, n_scheme, n_algo;
    bool gran[2], scheme[2];    /* per_channel?, symmetric? */
    lp_calib_algo algo[4];
} mw_lists;

static void add_bool(bool *list, int *n, bool v)
{
    for (int i = 0; i < *n; i++)
        if (list[i] == v)
            return;
    list[(*n)++] = v;
}

static void model_wise_lists(const lowp_config *cfg, mw_lists *m)
{
    memset(m, 0, sizeof *m);
    if (cfg && cfg->quantization.present) {
        const lp_cfg_op_quant *q = &cfg->quantization.model_wise;
        for (int i = 0; i < q->weight.granularity.n; i++)
            add_bool(m->gran, &m->n_gran, q->weight.granularity.v[i] == LP_GRAN_PER_CHANNEL);
        for (int i = 0; i < q->activation.scheme.n; i++)
            add_bool(m->scheme, &m->n_scheme, q->activation.scheme.v[i] == LP_SCHEME_SYM);
        if (!q->activation.scheme.n) /* uint8 means asym, int8 sym */
            for (int i = 0; i < q->activation.dtype.n; i++)
                if (q->activation.dtype.v[i] == LP_QDT_UINT8 || q->activation.dtype.v[i] == LP_QDT_INT8)
                    add_bool(m->scheme, &m->n_scheme, q->activation.dtype.v[i] == LP_QDT_INT8);
        for (int i = 0; i < q->activation.algorithm.n; i++)
            m->algo[m->n_algo++] = q->activation.algorithm.v[i] == LP_ALGO_KL ? LP_CALIB_KL : LP_CALIB_MINMAX;
    }
    if (!m->n_gran) {
        m->gran[0] = true, m->gran[1] = false;
        m->n_gran = 2;
    }
    if (!m->n_scheme) {
        m->scheme[0] = false, m->scheme[1] = true;
        m->n_scheme = 2;
    }
    if (!m->n_algo) {
        memcpy(m->algo, default_algos, sizeof default_algos);
        m->n_algo = 4;
    }
}

static lp_status add_cfg(lowp_tuner *t, lp_approach a, int sampling, bool per_channel, bool sym, lp_calib_algo algo)
{
    lp_tune_cfg *c = realloc(t->cfgs, (size_t)(t->n_cfgs + 1) * sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    t->cfgs = c;
    c = &t->cfgs[t->n_cfgs++];
    memset(c, 0, sizeof *c);
    c->approach = a;
    c->sampling = sampling;
    c->q = (lp_quant_cfg){ .per_channel = per_channel, .per_channel_given = true, .act_symmetric = sym, .algo = algo, .percentile = 99.99 };
    if (a == LP_APPROACH_DYNAMIC_QUANT)
        snprintf(c->name, sizeof c->name, "dynamic %s", per_channel ? "per_channel" : "per_tensor");
    else
        snprintf(c->name, sizeof c->name, "static ss=%lld %s %s %s", (long long)t->opt.sampling_sizes[sampling],
                 per_channel ? "per_channel" : "per_tensor", sym ? "sym" : "asym", lp_calib_algo_name(algo));
    return LP_OK;
}

static void apply_op_wise(lp_tune_op *op, const lp_cfg_op_wise *o, int k)
{
    const lp_cfg_choice *dt = o->q.has_activation && o->q.activation.dtype.n ? &o->q.activation.dtype
                              : o->q.has_weight && o->q.weight.dtype.n   ? &o->q.weight.dtype
                                                                          : NULL;
    if (dt) {
        bool allow[3] = { false, false, true }; /* fp32 stays possible: it is the fallback */
        for (int i = 0; i < dt->n; i++) {
            if (dt->v[i] == LP_QDT_INT8 || dt->v[i] == LP_QDT_UINT8)
                allow[LP_PREC_INT8] = op->allow[LP_PREC_INT8];
            else if (dt->v[i] == LP_QDT_BF16)
                allow[LP_PREC_BF16] = op->allow[LP_PREC_BF16];
        }
        memcpy(op->allow, allow, sizeof allow);
        op->op_wise = k;
    }
    const lp_cfg_tensor_quant *w = &o->q.weight, *a = &o->q.activation;
    if (w->granularity.n || w->bits || a->scheme.n || a->algorithm.n) {
        op->has_cfg = true;
        op->cfg = (lp_quant_cfg){ .per_channel = true, .algo = LP_CALIB_MINMAX, .percentile = 99.99, .weight_bits = w->bits };
        if (w->granularity.n)
            op->cfg.per_channel = w->granularity.v[0] == LP_GRAN_PER_CHANNEL, op->cfg.per_channel_given = true;
        if (a->scheme.n)
            op->cfg.act_symmetric = a->scheme.v[0] == LP_SCHEME_SYM;
        if (a->algorithm.n)
            op->cfg.algo = a->algorithm.v[0] == LP_ALGO_KL ? LP_CALIB_KL : LP_CALIB_MINMAX;
    }
}

/* Refuses a space where every op is held at FP32 (no strategy could try anything), saying
 * which op_wise entry — or which missing kernel — holds each op there. */
static lp_status check_something_to_tune(const lowp_tuner *t, const lowp_config *cfg)
{
    for (int i = 0; i < t->n_ops; i++)
        if (t->ops[i].allow[LP_PREC_INT8] || t->ops[i].allow[LP_PREC_BF16])
            return LP_OK;
    if (cfg && cfg->mixed_precision.present && !cfg->mixed_precision.bf16)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                        "%s: %s.precisions has no bf16: every op stays FP32, there is nothing to tune (the FP32 "
                        "model is the result)", cfg->file, cfg->mixed_precision.section);
    char why[1024];
    size_t n = 0;
    why[0] = 0;
    int listed = 0;
    for (int i = 0; i < t->n_ops && n < sizeof why - 1; i++) {
        const lp_tune_op *op = &t->ops[i];
        if (listed == 6) {
            n += (size_t)snprintf(why + n, sizeof why - n, "; and %d more", t->n_ops - i);
            break;
        }
        listed++;
        const char *sep = i ? "; " : "";
        if (op->op_wise >= 0 && cfg) {
            const lp_cfg_op_wise *o = &cfg->quantization.op_wise[op->op_wise];
            n += (size_t)snprintf(why + n, sizeof why - n, "%s'%s' (%s) by %s: %s '%s' (line %d)",
                                  sep, op->name, op->op_type, cfg->file,
                                  cfg->quantization.op_wise_section ? cfg->quantization.op_wise_section
                                                                    : "quantization.op_wise",
                                  o->pattern, o->line);
        } else {
            n += (size_t)snprintf(why + n, sizeof why - n, "%s'%s' (%s): %s, and this CPU has no native BF16",
                                  sep, op->name, op->op_type,
                                  cfg && cfg->mixed_precision.present ? "INT8 is not part of a BF16 conversion"
                                                                      : "no INT8 form");
        }
    }
    return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                    "%s: nothing left to tune: every quantizable op (%d) is kept in FP32: %s. Allow int8 or bf16 for "
                    "at least one op (activation/weight dtype in op_wise), or use the FP32 model as it is",
                    t->model_path ? t->model_path : "the model", t->n_ops, why);
}

typedef struct ops_ctx {
    lowp_tuner *t;
    const lowp_config *cfg;
    int kept[2], n_kept;        /* main-graph nodes the configuration keeps FP32 */
} ops_ctx;

static lp_status count_nodes(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    *(int64_t *)user += sub->n_nodes;
    return LP_OK;
}

/* The tunable ops of g: the main graph (depth 0), or a control-flow body (its ops take INT8 or
 * stay FP32: per-node BF16 is marked on the main graph only). */
static lp_status add_ops(void *user, lp_graph *g, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node;
    ops_ctx *oc = user;
    lowp_tuner *t = oc->t;
    const lowp_config *cfg = oc->cfg;
    for (int i = 0; i < g->n_nodes; i++) {
        lp_capability cap = lp_quant_capability(g, i);
        if (!cap.int8 && !cap.bf16)
            continue;
        lp_tune_op *op = &t->ops[t->n_ops];
        op->node = depth ? -1 : i;
        op->name = g->nodes[i].name;
        op->op_type = g->nodes[i].op_type;
        op->out_name = g->nodes[i].n_out > 0 && g->nodes[i].out[0] >= 0 ? g->values[g->nodes[i].out[0]].name : "";
        op->allow[LP_PREC_INT8] = cap.int8;
        op->allow[LP_PREC_BF16] = cap.bf16 && t->bf16 && !depth;
        op->allow[LP_PREC_FP32] = true;
        op->op_wise = -1;
        if (cfg && cfg->mixed_precision.present) /* graph_optimization / mixed_precision: no INT8 */
            op->allow[LP_PREC_INT8] = false, op->allow[LP_PREC_BF16] &= cfg->mixed_precision.bf16;
        for (int k = 0; k < oc->n_kept && !depth; k++)
            if (oc->kept[k] == i)
                op->allow[LP_PREC_INT8] = op->allow[LP_PREC_BF16] = false; /* recipes: first/last kept FP32 */
        if (cfg)
            for (int k = 0; k < cfg->quantization.n_op_wise; k++)
                if (lp_op_wise_matches(&cfg->quantization.op_wise[k], op->name))
                    apply_op_wise(op, &cfg->quantization.op_wise[k], k);
        if (g->nodes[i].n_in > 1 && g->nodes[i].in[1] >= 0 && g->values[g->nodes[i].in[1]].kind == LP_VALUE_CONST)
            op->weight_elems = lp_tensor_numel(g->values[g->nodes[i].in[1]].init);
        t->n_ops++;
    }
    return LP_OK;
}

lp_status lp_tune_build_space(lowp_tuner *t, const lowp_config *cfg)
{
    lp_graph *g = t->fp32->g;
    ops_ctx oc = { .t = t, .cfg = cfg };
    if (cfg) {
        LP_TRY(lp_op_wise_check(cfg, g)); /* a key that names no node is a mistake, as in quantize */
        oc.n_kept = lp_recipe_kept_fp32(cfg, g, oc.kept);
        t->bias_correction = cfg->quantization.fast_bias_correction;
        /* recovery steps the configuration turns on stay on in every static trial */
        t->rv = (lp_tune_recovery){ .equalize = cfg->quantization.equalization,
                                    .sq_alpha = cfg->quantization.smooth_quant_alpha,
                                    .learned_rounding = cfg->quantization.learned_rounding,
                                    .block_recon = cfg->quantization.block_reconstruction };
    }
    /* ops: the main graph's, then those inside control flow (depth first) */
    int64_t n_nodes = g->n_nodes;
    LP_TRY(lp_graph_walk_subgraphs(g, count_nodes, &n_nodes));
    t->ops = calloc((size_t)n_nodes + 1, sizeof *t->ops);
    if (!t->ops)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    LP_TRY(add_ops(&oc, g, NULL, 0, 0));
    LP_TRY(lp_graph_walk_subgraphs(g, add_ops, &oc));
    if (!t->n_ops)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: no op can be quantized (lowp quantizes Conv, Gemm and MatMul)",
                        t->model_path ? t->model_path : "the model");
    LP_TRY(check_something_to_tune(t, cfg));
    /* model-wise configurations */
    bool do_static = strcmp(t->approach_name, "post_training_dynamic_quant") != 0;
    bool do_dynamic = strcmp(t->approach_name, "post_training_static_quant") != 0;
    if (cfg && cfg->mixed_precision.present) {
        /* graph_optimization / mixed_precision: one configuration, no INT8 op (so no calibration:
         * the dynamic form); the trials move ops between BF16 and FP32 */
        LP_TRY(add_cfg(t, LP_APPROACH_DYNAMIC_QUANT, 0, true, false, LP_CALIB_MINMAX));
        snprintf(t->cfgs[0].name, sizeof t->cfgs[0].name, "%s (%s)", cfg->mixed_precision.section,
                 cfg->mixed_precision.bf16 ? "BF16 conversion" : "FP32 only");
        do_static = do_dynamic = false;
    }
    mw_lists m;
    model_wise_lists(cfg, &m);
    if (do_static)
        for (int s = 0; s < t->opt.n_sampling_sizes; s++)
            for (int gi = 0; gi < m.n_gran; gi++)
                for (int si = 0; si < m.n_scheme; si++)
                    for (int ai = 0; ai < m.n_algo; ai++)
                        LP_TRY(add_cfg(t, LP_APPROACH_STATIC_QUANT, s, m.gran[gi], m.scheme[si], m.algo[ai]));
    /* weight bits other than 8 (LPOT's weight `bit`): static configurations, named so */
    int wb = cfg && cfg->quantization.model_wise.has_weight ? cfg->quantization.model_wise.weight.bits : 0;
    for (int c = 0; wb && wb != 8 && c < t->n_cfgs; c++) {
        size_t n = strlen(t->cfgs[c].name);
        t->cfgs[c].q.weight_bits = wb;
        snprintf(t->cfgs[c].name + n, sizeof t->cfgs[c].name - n, " w%d", wb);
    }
    if (do_dynamic)
        for (int gi = 0; gi < m.n_gran; gi++)
            LP_TRY(add_cfg(t, LP_APPROACH_DYNAMIC_QUANT, 0, m.gran[gi], false, LP_CALIB_MINMAX));
    t->sens = calloc((size_t)t->n_cfgs, sizeof *t->sens);
    t->sens_sqnr = calloc((size_t)t->n_cfgs, sizeof *t->sens_sqnr);
    if (!t->sens || !t->sens_sqnr)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    return LP_OK;
}

void lp_tune_normalize(const lowp_tuner *t, unsigned char *prec)
{
    for (int i = 0; i < t->n_ops; i++) {
        int p = prec[i] > LP_PREC_FP32 ? LP_PREC_FP32 : prec[i];
        while (p < LP_PREC_FP32 && !t->ops[i].allow[p])
            p++;
        prec[i] = (unsigned char)p;
    }
}

lp_status lp_tune_recipe(const lowp_tuner *t, int config, const unsigned char *prec, const lp_tune_recovery *rv,
                         lp_recipe **out)
{
    const lp_tune_cfg *c = &t->cfgs[config];
    lp_recipe *r;
    LP_TRY(lp_recipe_new(&r));
    r->approach = c->approach;
    r->model_wise = c->q;
    r->bias_correction = t->bias_correction && c->approach == LP_APPROACH_STATIC_QUANT;
    if (rv && c->approach == LP_APPROACH_STATIC_QUANT) {
        r->equalization = rv->equalize;
        r->smooth_quant_alpha = rv->sq_alpha;
        r->learned_rounding = rv->learned_rounding;
        r->block_reconstruction = rv->block_recon;
    }
    lp_status st = LP_OK;
    for (int i = 0; i < t->n_ops && st == LP_OK; i++)
        if (prec[i] != LP_PREC_INT8 || t->ops[i].has_cfg)
            st = lp_recipe_set(r, t->ops[i].name, (lp_precision)prec[i], t->ops[i].has_cfg ? &t->ops[i].cfg : NULL);
    if (st != LP_OK) {
        lp_recipe_free(r);
        return st;
    }
    *out = r;
    return LP_OK;
}

char *lp_tune_key(const lowp_tuner *t, int config, const unsigned char *prec)
{
    char rv[48] = "";
    if (t->cfgs[config].approach == LP_APPROACH_STATIC_QUANT) { /* dynamic recipes take no recovery */
        size_t m = (size_t)snprintf(rv, sizeof rv, "%s", t->rv.equalize ? "+eq" : "");
        if (t->rv.sq_alpha > 0)
            m += (size_t)snprintf(rv + m, sizeof rv - m, "+sq%.2f", t->rv.sq_alpha);
        if (t->rv.learned_rounding)
            m += (size_t)snprintf(rv + m, sizeof rv - m, "+lr");
        if (t->rv.block_recon)
            m += (size_t)snprintf(rv + m, sizeof rv - m, "+br");
        if (t->rv.qat)
            snprintf(rv + m, sizeof rv - m, "+qat");
    }
    size_t n0 = strlen(t->cfgs[config].name), n = n0 + strlen(rv);
    char *k = malloc(n + 2 + (size_t)t->n_ops);
    if (!k)
        return NULL;
    memcpy(k, t->cfgs[config].name, n0);
    memcpy(k + n0, rv, strlen(rv));
    k[n] = '|';
    for (int i = 0; i < t->n_ops; i++)
        k[n + 1 + i] = "ibf"[prec[i] > 2 ? 2 : prec[i]];
    k[n + 1 + t->n_ops] = 0;
    return k;
}

/* Speed of each precision relative to FP32 in the cost model (documented in docs/tuning.md):
 * INT8 kernels do 4x the MACs per instruction of FP32, BF16 2x. */
static const double prec_factor[3] = { 0.25, 0.5, 1.0 };

double lp_tune_cost(const lowp_tuner *t, const unsigned char *prec)
{
    double total = 0, fp32 = 0;
    for (int i = 0; i < t->n_ops; i++) {
        fp32 += t->ops[i].macs;
        total += t->ops[i].macs * prec_factor[prec[i] > 2 ? 2 : prec[i]];
    }
    return fp32 > 0 ? total / fp32 : 1.0;
}
