/* api.c — the public lowp_recipe_* and lowp_quantize calls. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "config/config.h"
#include "onnx/model.h"
#include "quant/quantize.h"

lowp_status lowp_recipe_create(lowp_recipe **out)
{
    if (!out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_recipe_create: NULL argument");
    return lp_recipe_new(out);
}

void lowp_recipe_free(lowp_recipe *r) { lp_recipe_free(r); }

lowp_status lowp_recipe_load(const char *path, lowp_recipe **out)
{
    if (!path || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_recipe_load: NULL argument");
    uint8_t *data;
    size_t size;
    LP_TRY(lp_read_file_max(path, LP_MAX_TEXT_FILE, &data, &size));
    lp_status st = lp_recipe_from_json((const char *)data, size, path, out);
    free(data);
    return st;
}

lowp_status lowp_recipe_save(const lowp_recipe *r, const char *path)
{
    if (!r || !path)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_recipe_save: NULL argument");
    char *text;
    LP_TRY(lp_recipe_to_json(r, &text));
    lp_status st = lp_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}

lowp_status lowp_recipe_set(lowp_recipe *r, const char *key, const char *value)
{
    if (!r || !key || !value)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_recipe_set: NULL argument");
    lp_quant_cfg *c = &r->model_wise;
    if (strcmp(key, "weight.granularity") == 0 && (!strcmp(value, "per_channel") || !strcmp(value, "per_tensor")))
        c->per_channel = strcmp(value, "per_channel") == 0, c->per_channel_given = true;
    else if (strcmp(key, "activation.scheme") == 0 && (!strcmp(value, "sym") || !strcmp(value, "asym")))
        c->act_symmetric = strcmp(value, "sym") == 0;
    else if (strcmp(key, "activation.algorithm") == 0 && lp_calib_algo_from_name(value) >= 0)
        c->algo = (lp_calib_algo)lp_calib_algo_from_name(value);
    else if (strcmp(key, "approach") == 0 && lp_approach_from_name(value) >= 0)
        r->approach = (lp_approach)lp_approach_from_name(value);
    else if (strcmp(key, "bias_correction") == 0 && (!strcmp(value, "true") || !strcmp(value, "false")))
        r->bias_correction = strcmp(value, "true") == 0;
    else if (strcmp(key, "equalization") == 0 && (!strcmp(value, "true") || !strcmp(value, "false")))
        r->equalization = strcmp(value, "true") == 0;
    else if (strcmp(key, "learned_rounding") == 0 && (!strcmp(value, "true") || !strcmp(value, "false")))
        r->learned_rounding = strcmp(value, "true") == 0;
    else if (strcmp(key, "block_reconstruction") == 0 && (!strcmp(value, "true") || !strcmp(value, "false")))
        r->block_reconstruction = strcmp(value, "true") == 0;
    else if (strcmp(key, "weight.bits") == 0) {
        char *end;
        long b = strtol(value, &end, 10);
        if (end == value || *end || b < 2 || b > 8)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "recipe key '%s': expected an integer from 2 to 8, got '%s'", key, value);
        c->weight_bits = (int)b;
    }
    else if (strcmp(key, "smooth_quant.alpha") == 0) {
        char *end;
        double a = strtod(value, &end);
        if (end == value || *end || !(a >= 0 && a < 1))
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "recipe key '%s': expected a number in [0, 1) (0: off), got '%s'", key, value);
        r->smooth_quant_alpha = a;
    }
    else if (strcmp(key, "activation.percentile") == 0) {
        char *end;
        double p = strtod(value, &end);
        if (end == value || *end || !(p > 0 && p <= 100))
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "recipe key '%s': expected a number in (0, 100], got '%s'", key, value);
        c->percentile = p;
    } else if (!strcmp(key, "weight.granularity") || !strcmp(key, "activation.scheme") ||
               !strcmp(key, "activation.algorithm") || !strcmp(key, "approach") || !strcmp(key, "bias_correction") ||
               !strcmp(key, "equalization") || !strcmp(key, "learned_rounding") ||
               !strcmp(key, "block_reconstruction"))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "recipe key '%s': bad value '%s'", key, value);
    else
        return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                        "unknown recipe key '%s' (known: approach, bias_correction, equalization, learned_rounding, block_reconstruction, smooth_quant.alpha, weight.granularity, weight.bits, activation.scheme, "
                        "activation.algorithm, activation.percentile)", key);
    return LP_OK;
}

lowp_status lowp_recipe_set_node(lowp_recipe *r, const char *node, const char *precision)
{
    if (!r || !node || !precision)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_recipe_set_node: NULL argument");
    for (int p = 0; p < 3; p++)
        if (strcmp(precision, lp_precision_name((lp_precision)p)) == 0)
            return lp_recipe_set(r, node, (lp_precision)p, NULL);
    return lp_error(LOWP_ERR_INVALID_ARGUMENT, "node '%s': precision '%s' is not int8, bf16 or fp32", node, precision);
}

int lowp_recipe_is_dynamic(const lowp_recipe *r) { return r && r->approach == LP_APPROACH_DYNAMIC_QUANT; }

const char *lowp_recipe_node_precision(const lowp_recipe *r, const char *node)
{
    if (!r || !node)
        return "fp32";
    lp_precision p;
    lp_quant_cfg c;
    lp_recipe_get(r, node, &p, &c);
    return lp_precision_name(p);
}

lowp_status lowp_recipe_from_config(const lowp_config *config, const lowp_model *model, lowp_recipe **out)
{
    if (!config || !model || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_recipe_from_config: NULL argument");
    lowp_session *s = NULL;
    LP_TRY(lp_session_create_graph(model->graph, NULL, &s));
    lp_status st = lp_recipe_from_config(config, s->g, out);
    lowp_session_free(s);
    return st;
}

/* `body`: nodes inside control flow, which static QDQ and dynamic quantization rewrite like
 * the main graph's (per-node BF16 is marked on the main graph only). */
static void capability_entries(lp_json *j, const lp_graph *g, bool body)
{
    for (int i = 0; i < g->n_nodes; i++) {
        lp_capability c = lp_quant_capability(g, i);
        if (body)
            c.bf16 = false;
        lp_json_begin_object(j);
        lp_json_key(j, "node");
        lp_json_string(j, g->nodes[i].name);
        lp_json_key(j, "op_type");
        lp_json_string(j, g->nodes[i].op_type);
        lp_json_key(j, "int8");
        lp_json_bool(j, c.int8);
        lp_json_key(j, "bf16");
        lp_json_bool(j, c.bf16);
        lp_json_key(j, "dynamic_int8");
        lp_json_bool(j, c.dynamic);
        lp_json_key(j, "weighted");
        lp_json_bool(j, c.weighted);
        /* in QDQ form already: it reads a DequantizeLinear (a quantized model's INT8 nodes) */
        const lp_node *n = &g->nodes[i];
        int p = n->n_in > 0 && n->in[0] >= 0 ? g->values[n->in[0]].producer : -1;
        lp_json_key(j, "quantized");
        lp_json_bool(j, p >= 0 && g->nodes[p].op == LP_OP_DequantizeLinear);
        lp_json_end_object(j);
    }
}

static lp_status capability_sub(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent; (void)node; (void)depth;
    capability_entries(user, sub, true);
    return LP_OK;
}

lowp_status lowp_model_capability(const lowp_model *model, char **json_out)
{
    if (!model || !json_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_capability: NULL argument");
    lp_graph *g = NULL;
    LP_TRY(lp_session_graph(model->graph, false, true, NULL, &g));
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_array(&j);
    capability_entries(&j, g, false); /* then the nodes inside control flow, depth first */
    lp_status st = lp_graph_walk_subgraphs(g, capability_sub, &j);
    lp_json_end_array(&j);
    lp_graph_free(g);
    if (st != LP_OK) {
        lp_json_free(&j);
        return st;
    }
    return lp_json_finish(&j, json_out);
}

/* lowp_quantize is in recon/quantize.c: with a recipe's block_reconstruction it trains. */

lowp_status lowp_model_to_qoperator(const lowp_model *quantized, lowp_model **out)
{
    if (!quantized || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_to_qoperator: NULL argument");
    lp_graph *g = NULL;
    LP_TRY(lp_qdq_to_qoperator(quantized->graph, &g));
    lowp_model *m = calloc(1, sizeof *m);
    if (!m) {
        lp_graph_free(g);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->graph = g;
    *out = m;
    return LP_OK;
}
