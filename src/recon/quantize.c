/* quantize.c — the public lowp_quantize: static quantization (quant/), then, when the recipe
 * asks for it, block reconstruction (block.c), which trains: so the call lives above train/. */
#include <stdlib.h>
#include <string.h>

#include "onnx/model.h"
#include "recon/recon.h"

lp_status lp_quantize_graph_recon(const lp_graph *g, const lp_calibration *cal, const lp_recipe *r,
                                  const lp_recon_options *o, lp_recon_report *report, lp_graph **out)
{
    if (report)
        *report = (lp_recon_report){ 0 };
    if (!r->block_reconstruction || r->approach != LP_APPROACH_STATIC_QUANT || !cal)
        return lp_quantize_graph(g, cal, r, out); /* no calibration: nothing INT8 to reconstruct */
    if (!cal->kept)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "block reconstruction needs the calibration samples: prepare the "
                                                   "calibration with lowp_calibration_for_recipe before feeding it");
    lp_qweights keep = { 0 };
    lp_graph *q = NULL;
    lp_status st = lp_quantize_graph_keep(g, cal, r, &q, &keep);
    if (st == LP_OK)
        st = lp_block_reconstruct(g, q, &keep, cal->kept, o, report);
    lp_qweights_free(&keep);
    if (st != LP_OK) {
        lp_graph_free(q);
        return st;
    }
    *out = q;
    return LP_OK;
}

/* Same nodes in the same order: the calibration was made from this model. */
static bool same_graph(const lp_graph *a, const lp_graph *b)
{
    if (a->n_nodes != b->n_nodes)
        return false;
    for (int i = 0; i < a->n_nodes; i++)
        if (strcmp(a->nodes[i].name, b->nodes[i].name) || strcmp(a->nodes[i].op_type, b->nodes[i].op_type))
            return false;
    return true;
}

lp_status lp_quantize_model(const lowp_model *model, const lowp_calibration *cal, const lowp_recipe *recipe,
                            const lp_recon_options *o, lp_recon_report *report, lowp_model **out)
{
    if (!model || !recipe || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_quantize: NULL argument");
    /* the optimized graph the calibration observed, or a fresh one */
    lp_graph *tmp = NULL;
    const lp_graph *g;
    if (cal) {
        g = cal->session->g;
        lowp_session *s = NULL;
        LP_TRY(lp_session_create_graph(model->graph, NULL, &s));
        bool same = same_graph(s->g, g);
        lowp_session_free(s);
        if (!same)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_quantize: the calibration was made from a different model");
    } else { /* dynamic quantization runs nothing: ops lowp cannot run pass through */
        LP_TRY(lp_session_graph(model->graph, recipe->approach != LP_APPROACH_DYNAMIC_QUANT, true, NULL, &tmp));
        g = tmp;
    }
    lp_graph *qg = NULL;
    lp_status st = recipe->approach == LP_APPROACH_DYNAMIC_QUANT ? lp_quantize_graph_dynamic(g, recipe, &qg)
                                                                 : lp_quantize_graph_recon(g, cal, recipe, o, report, &qg);
    lp_graph_free(tmp);
    LP_TRY(st);
    lowp_model *m = calloc(1, sizeof *m);
    if (!m) {
        lp_graph_free(qg);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->graph = qg;
    *out = m;
    return LP_OK;
}

lowp_status lowp_quantize(const lowp_model *model, const lowp_calibration *cal, const lowp_recipe *recipe,
                          lowp_model **out)
{
    return lp_quantize_model(model, cal, recipe, NULL, NULL, out);
}
