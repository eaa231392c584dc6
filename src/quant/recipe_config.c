/* recipe_config.c — the starting recipe a YAML configuration describes: quantization.approach,
 * model_wise (the first choice of each list) and op_wise (node names, or regular expressions matched from the start of a name, as LPOT's
 * re.match). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "config/config.h"
#include "quant/quantize.h"

/* Applies the first choice of each given list onto `c`; sets *prec when a dtype says
 * fp32/bf16. */
static void apply(const lp_cfg_op_quant *q, lp_quant_cfg *c, lp_precision *prec)
{
    if (q->has_weight && q->weight.granularity.n)
        c->per_channel = q->weight.granularity.v[0] == LP_GRAN_PER_CHANNEL, c->per_channel_given = true;
    if (q->has_weight && q->weight.bits)
        c->weight_bits = q->weight.bits;
    if (q->has_activation && q->activation.scheme.n)
        c->act_symmetric = q->activation.scheme.v[0] == LP_SCHEME_SYM;
    if (q->has_activation && q->activation.dtype.n && q->activation.dtype.v[0] == LP_QDT_INT8)
        c->act_symmetric = true;
    if (q->has_activation && q->activation.algorithm.n)
        c->algo = q->activation.algorithm.v[0] == LP_ALGO_KL ? LP_CALIB_KL : LP_CALIB_MINMAX;
    const lp_cfg_choice *d[2] = { q->has_weight ? &q->weight.dtype : NULL, q->has_activation ? &q->activation.dtype : NULL };
    for (int k = 0; k < 2; k++) {
        if (!d[k] || !d[k]->n)
            continue;
        if (d[k]->v[0] == LP_QDT_FP32)
            *prec = LP_PREC_FP32;
        else if (d[k]->v[0] == LP_QDT_BF16 && *prec != LP_PREC_FP32)
            *prec = LP_PREC_BF16;
    }
}

bool lp_op_wise_matches(const lp_cfg_op_wise *o, const char *name)
{
    return o->is_regex ? lp_regex_match_start(o->pattern, name) : strcmp(o->pattern, name) == 0;
}

typedef struct ow_find {
    const lp_cfg_op_wise *ow;
    bool found;
} ow_find;

static lp_status ow_in_graph(void *user, lp_graph *g, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    ow_find *f = user;
    for (int i = 0; i < g->n_nodes && !f->found; i++)
        f->found = lp_op_wise_matches(f->ow, g->nodes[i].name);
    return LP_OK;
}

lp_status lp_op_wise_check(const struct lowp_config *cfg, const lp_graph *g)
{
    const char *section = cfg->quantization.op_wise_section ? cfg->quantization.op_wise_section : "quantization.op_wise";
    for (int k = 0; k < cfg->quantization.n_op_wise; k++) {
        const lp_cfg_op_wise *ow = &cfg->quantization.op_wise[k];
        regex_t re;
        if (ow->is_regex) {
            if (regcomp(&re, ow->pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return lp_error(LOWP_ERR_FORMAT, "%s: %s: bad regular expression '%s' at line %d",
                                cfg->file, section, ow->pattern, ow->line);
            regfree(&re);
        }
        ow_find f = { .ow = ow }; /* in the main graph or inside control flow */
        ow_in_graph(&f, (lp_graph *)g, NULL, 0, 0);
        if (!f.found)
            LP_TRY(lp_graph_walk_subgraphs((lp_graph *)g, ow_in_graph, &f)); /* reads only */
        if (!f.found)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                            "%s: %s: '%s' at line %d matches no node of the model (names are those "
                            "of the optimized graph: see lowp quantize --list)",
                            cfg->file, section, ow->pattern, ow->line);
    }
    return LP_OK;
}

int lp_recipe_kept_fp32(const struct lowp_config *cfg, const lp_graph *g, int kept[2])
{
    int n = 0, first = -1, last = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const char *op = g->nodes[i].op_type;
        if (strcmp(op, "Conv") && strcmp(op, "ConvTranspose") && strcmp(op, "MatMul") && strcmp(op, "Gemm"))
            continue;
        if (first < 0)
            first = i;
        last = i;
    }
    if (!cfg->quantization.first_conv_or_matmul_quantization && first >= 0)
        kept[n++] = first;
    if (!cfg->quantization.last_conv_or_matmul_quantization && last >= 0 && (n == 0 || last != first))
        kept[n++] = last;
    return n;
}

lp_status lp_recipe_from_config(const struct lowp_config *cfg, const lp_graph *g, lp_recipe **out)
{
    lp_recipe *r;
    LP_TRY(lp_recipe_new(&r));
    r->approach = cfg->quantization.approach == LP_APPROACH_DYNAMIC ? LP_APPROACH_DYNAMIC_QUANT : LP_APPROACH_STATIC_QUANT;
    /* model_wise dtype fp32 or bf16 first: every node runs in that precision (op_wise may
     * still choose int8 for some) */
    lp_precision mw = LP_PREC_INT8;
    apply(&cfg->quantization.model_wise, &r->model_wise, &mw);
    lp_status st = LP_OK;
    for (int i = 0; i < g->n_nodes && st == LP_OK && mw != LP_PREC_INT8; i++) {
        lp_capability cap = lp_quant_capability(g, i);
        if (cap.int8 || cap.bf16)
            st = lp_recipe_set(r, g->nodes[i].name, mw, NULL);
    }
    r->bias_correction = cfg->quantization.fast_bias_correction;
    r->equalization = cfg->quantization.equalization;
    r->learned_rounding = cfg->quantization.learned_rounding;
    r->block_reconstruction = cfg->quantization.block_reconstruction;
    r->smooth_quant_alpha = cfg->quantization.smooth_quant_alpha;
    /* recipes first/last_conv_or_matmul_quantization: false keeps that op FP32 (op_wise may
     * still say otherwise) */
    int kept[2], n_kept = lp_recipe_kept_fp32(cfg, g, kept);
    for (int k = 0; k < n_kept && st == LP_OK; k++)
        st = lp_recipe_set(r, g->nodes[kept[k]].name, LP_PREC_FP32, NULL);
    if (st == LP_OK)
        st = lp_op_wise_check(cfg, g);
    /* graph_optimization / mixed_precision with precisions fp32 only: every node FP32 */
    bool fp32_only = cfg->mixed_precision.present && !cfg->mixed_precision.bf16;
    for (int k = 0; k < cfg->quantization.n_op_wise && st == LP_OK && !fp32_only; k++) {
        const lp_cfg_op_wise *ow = &cfg->quantization.op_wise[k];
        for (int i = 0; i < g->n_nodes && st == LP_OK; i++) {
            const char *name = g->nodes[i].name;
            if (!lp_op_wise_matches(ow, name))
                continue;
            lp_precision p;
            lp_quant_cfg c;
            lp_recipe_get(r, name, &p, &c);
            /* an op_wise entry that names a dtype decides the precision itself */
            bool names_dtype = (ow->q.has_weight && ow->q.weight.dtype.n) ||
                               (ow->q.has_activation && ow->q.activation.dtype.n);
            if (names_dtype)
                p = LP_PREC_INT8;
            apply(&ow->q, &c, &p);
            st = lp_recipe_set(r, name, p, &c);
        }
    }
    if (st != LP_OK) {
        lp_recipe_free(r);
        return st;
    }
    *out = r;
    return LP_OK;
}
