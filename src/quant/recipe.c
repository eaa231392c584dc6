/* recipe.c — quantization recipes: defaults, per-node overrides, JSON in and out. */
#include "quant/recipe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "config/config.h"

static const char *const prec_names[] = { "int8", "bf16", "fp32" };

const char *lp_precision_name(lp_precision p) { return (unsigned)p < 3 ? prec_names[p] : "?"; }

static const char *const approach_names[] = { "post_training_static_quant", "post_training_dynamic_quant" };

const char *lp_approach_name(lp_approach a) { return (unsigned)a < 2 ? approach_names[a] : "?"; }

int lp_approach_from_name(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(name, approach_names[i]) == 0)
            return i;
    return -1;
}

static lp_quant_cfg default_cfg(void)
{
    return (lp_quant_cfg){ .per_channel = true, .act_symmetric = false, .algo = LP_CALIB_MINMAX, .percentile = 99.99 };
}

lp_status lp_recipe_new(lp_recipe **out)
{
    lp_recipe *r = calloc(1, sizeof *r);
    if (!r)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    r->model_wise = default_cfg();
    *out = r;
    return LP_OK;
}

void lp_recipe_free(lp_recipe *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_nodes; i++)
        free(r->nodes[i].node);
    free(r->nodes);
    free(r);
}

lp_status lp_recipe_clone(const lp_recipe *r, lp_recipe **out)
{
    lp_recipe *c;
    LP_TRY(lp_recipe_new(&c));
    c->model_wise = r->model_wise;
    c->approach = r->approach;
    c->bias_correction = r->bias_correction;
    c->smooth_quant_alpha = r->smooth_quant_alpha;
    c->equalization = r->equalization;
    c->learned_rounding = r->learned_rounding;
    c->block_reconstruction = r->block_reconstruction;
    for (int i = 0; i < r->n_nodes; i++) {
        const lp_node_recipe *n = &r->nodes[i];
        lp_status st = lp_recipe_set(c, n->node, n->precision, n->has_cfg ? &n->cfg : NULL);
        if (st != LP_OK) {
            lp_recipe_free(c);
            return st;
        }
    }
    *out = c;
    return LP_OK;
}

static lp_node_recipe *find(const lp_recipe *r, const char *name)
{
    for (int i = 0; i < r->n_nodes; i++)
        if (strcmp(r->nodes[i].node, name) == 0)
            return &r->nodes[i];
    return NULL;
}

lp_status lp_recipe_set(lp_recipe *r, const char *name, lp_precision p, const lp_quant_cfg *cfg)
{
    lp_node_recipe *n = find(r, name);
    if (!n) {
        if (r->n_nodes == r->cap_nodes) {
            int cap = r->cap_nodes ? r->cap_nodes * 2 : 16;
            lp_node_recipe *q = realloc(r->nodes, (size_t)cap * sizeof *q);
            if (!q)
                return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            r->nodes = q;
            r->cap_nodes = cap;
        }
        n = &r->nodes[r->n_nodes];
        memset(n, 0, sizeof *n);
        if (!(n->node = strdup(name)))
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        r->n_nodes++;
    }
    n->precision = p;
    if (cfg) {
        n->has_cfg = true;
        n->cfg = *cfg;
    }
    return LP_OK;
}

void lp_recipe_get(const lp_recipe *r, const char *name, lp_precision *p, lp_quant_cfg *cfg)
{
    const lp_node_recipe *n = find(r, name);
    *p = n ? n->precision : LP_PREC_INT8;
    *cfg = n && n->has_cfg ? n->cfg : r->model_wise;
}

bool lp_weight_per_channel(const lp_quant_cfg *c, lp_approach a)
{
    return c->per_channel_given ? c->per_channel : a == LP_APPROACH_STATIC_QUANT;
}

static void write_cfg(lp_json *j, const lp_quant_cfg *c, lp_approach a)
{
    lp_json_key(j, "weight");
    lp_json_begin_object(j);
    lp_json_key(j, "granularity");
    lp_json_string(j, lp_weight_per_channel(c, a) ? "per_channel" : "per_tensor");
    if (c->weight_bits && c->weight_bits != 8) {
        lp_json_key(j, "bits");
        lp_json_int(j, c->weight_bits);
    }
    lp_json_end_object(j);
    lp_json_key(j, "activation");
    lp_json_begin_object(j);
    lp_json_key(j, "scheme");
    lp_json_string(j, c->act_symmetric ? "sym" : "asym");
    lp_json_key(j, "algorithm");
    lp_json_string(j, lp_calib_algo_name(c->algo));
    if (c->algo == LP_CALIB_PERCENTILE) {
        lp_json_key(j, "percentile");
        lp_json_double(j, c->percentile);
    }
    lp_json_end_object(j);
}

/* The length of `s` written as a JSON string (quotes included). */
static size_t json_len(const char *s)
{
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_string(&j, s);
    char *t = NULL;
    size_t n = lp_json_finish(&j, &t) == LP_OK ? strlen(t) : SIZE_MAX;
    free(t);
    return n;
}

lp_status lp_recipe_to_json(const lp_recipe *r, char **json_out)
{
    /* Node names are the op_wise keys; recipes are read back with a YAML parser, whose keys
     * stop at 1024 characters: refuse here rather than write a file that does not load. */
    for (int i = 0; i < r->n_nodes; i++)
        if (strlen(r->nodes[i].node) > LP_MAX_JSON_KEY / 6 && json_len(r->nodes[i].node) > LP_MAX_JSON_KEY)
            return lp_error(LOWP_ERR_UNSUPPORTED, "recipe: node '%.60s...' has a name over %d bytes as JSON, "
                            "more than a recipe's reader takes as a key", r->nodes[i].node, LP_MAX_JSON_KEY);
    lp_json j;
    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "approach");
    lp_json_string(&j, lp_approach_name(r->approach));
    if (r->bias_correction) {
        lp_json_key(&j, "bias_correction");
        lp_json_bool(&j, true);
    }
    if (r->equalization) {
        lp_json_key(&j, "equalization");
        lp_json_bool(&j, true);
    }
    if (r->learned_rounding) {
        lp_json_key(&j, "learned_rounding");
        lp_json_bool(&j, true);
    }
    if (r->block_reconstruction) {
        lp_json_key(&j, "block_reconstruction");
        lp_json_bool(&j, true);
    }
    if (r->smooth_quant_alpha > 0) {
        lp_json_key(&j, "smooth_quant");
        lp_json_begin_object(&j);
        lp_json_key(&j, "alpha");
        lp_json_double(&j, r->smooth_quant_alpha);
        lp_json_end_object(&j);
    }
    lp_json_key(&j, "model_wise");
    lp_json_begin_object(&j);
    write_cfg(&j, &r->model_wise, r->approach);
    lp_json_end_object(&j);
    lp_json_key(&j, "op_wise");
    lp_json_begin_object(&j);
    for (int i = 0; i < r->n_nodes; i++) {
        const lp_node_recipe *n = &r->nodes[i];
        lp_json_key(&j, n->node);
        lp_json_begin_object(&j);
        lp_json_key(&j, "precision");
        lp_json_string(&j, lp_precision_name(n->precision));
        if (n->has_cfg)
            write_cfg(&j, &n->cfg, r->approach);
        lp_json_end_object(&j);
    }
    lp_json_end_object(&j);
    lp_json_end_object(&j);
    return lp_json_finish(&j, json_out);
}

/* ---- reading ---- */

typedef struct rd {
    const char *what;
} rd;

static lp_status bad(const rd *r, const lp_yval *v, const char *path, const char *msg)
{
    return lp_cfg_error(LOWP_ERR_FORMAT, r->what, path, lp_yval_line(v), "%s", msg);
}

static lp_status read_cfg(const rd *r, const lp_yval *m, const char *path, lp_quant_cfg *c)
{
    char p[256];
    if (m->kind != LP_NODE_MAP)
        return bad(r, m, path, "expected a map");
    for (int i = 0; i < m->n; i++) {
        const char *k = m->keys[i];
        const lp_yval *v = m->items[i];
        snprintf(p, sizeof p, "%s.%s", path, k);
        if (strcmp(k, "precision") == 0)
            continue; /* read by the caller */
        if (strcmp(k, "weight") != 0 && strcmp(k, "activation") != 0)
            return lp_cfg_error(LOWP_ERR_FORMAT, r->what, p, lp_yval_line(v), "unknown key '%s' (known: precision, weight, activation)", k);
        if (v->kind != LP_NODE_MAP)
            return bad(r, v, p, "expected a map");
        for (int t = 0; t < v->n; t++) {
            const char *kk = v->keys[t];
            const lp_yval *x = v->items[t];
            char pp[300];
            snprintf(pp, sizeof pp, "%s.%s", p, kk);
            const char *s = x->kind == LP_NODE_SCALAR ? x->str : "";
            if (k[0] == 'w' && strcmp(kk, "granularity") == 0) {
                if (strcmp(s, "per_channel") && strcmp(s, "per_tensor"))
                    return lp_cfg_error(LOWP_ERR_FORMAT, r->what, pp, lp_yval_line(x), "expected per_channel or per_tensor, got '%s'", s);
                c->per_channel = strcmp(s, "per_channel") == 0;
                c->per_channel_given = true;
            } else if (k[0] == 'w' && strcmp(kk, "bits") == 0) {
                double b;
                if (!lp_scalar_float(x, &b) || b != floor(b) || b < 2 || b > 8)
                    return bad(r, x, pp, "expected an integer from 2 to 8");
                c->weight_bits = (int)b;
            } else if (k[0] == 'a' && strcmp(kk, "scheme") == 0) {
                if (strcmp(s, "sym") && strcmp(s, "asym"))
                    return lp_cfg_error(LOWP_ERR_FORMAT, r->what, pp, lp_yval_line(x), "expected sym or asym, got '%s'", s);
                c->act_symmetric = strcmp(s, "sym") == 0;
            } else if (k[0] == 'a' && strcmp(kk, "algorithm") == 0) {
                int a = lp_calib_algo_from_name(s);
                if (a < 0)
                    return lp_cfg_error(LOWP_ERR_FORMAT, r->what, pp, lp_yval_line(x), "unknown algorithm '%s' (known: minmax, percentile, kl, mse)", s);
                c->algo = (lp_calib_algo)a;
            } else if (k[0] == 'a' && strcmp(kk, "percentile") == 0) {
                if (!lp_scalar_float(x, &c->percentile) || c->percentile <= 0 || c->percentile > 100)
                    return bad(r, x, pp, "expected a number in (0, 100]");
            } else {
                return lp_cfg_error(LOWP_ERR_FORMAT, r->what, pp, lp_yval_line(x), "unknown key '%s'", kk);
            }
        }
    }
    return LP_OK;
}

lp_status lp_recipe_from_json(const char *text, size_t size, const char *what, lp_recipe **out)
{
    rd r = { .what = what ? what : "recipe" };
    lp_yval *root = NULL;
    lp_recipe *rec = NULL;
    LP_TRY(lp_yval_parse(text, size, r.what, &root));
    lp_status st = lp_recipe_new(&rec);
    if (st == LP_OK && (!root || root->kind != LP_NODE_MAP))
        st = bad(&r, root, "recipe", "expected a map with model_wise and op_wise");
    for (int i = 0; st == LP_OK && i < root->n; i++) {
        const char *k = root->keys[i];
        const lp_yval *v = root->items[i];
        if (strcmp(k, "approach") == 0) {
            int a = v->kind == LP_NODE_SCALAR ? lp_approach_from_name(v->str) : -1;
            if (a < 0)
                st = lp_cfg_error(LOWP_ERR_FORMAT, r.what, "approach", lp_yval_line(v),
                                  "expected post_training_static_quant or post_training_dynamic_quant");
            else
                rec->approach = (lp_approach)a;
        } else if (strcmp(k, "bias_correction") == 0) {
            if (!lp_scalar_bool(v, &rec->bias_correction))
                st = bad(&r, v, "bias_correction", "expected true or false");
        } else if (strcmp(k, "equalization") == 0) {
            if (!lp_scalar_bool(v, &rec->equalization))
                st = bad(&r, v, "equalization", "expected true or false");
        } else if (strcmp(k, "learned_rounding") == 0) {
            if (!lp_scalar_bool(v, &rec->learned_rounding))
                st = bad(&r, v, "learned_rounding", "expected true or false");
        } else if (strcmp(k, "block_reconstruction") == 0) {
            if (!lp_scalar_bool(v, &rec->block_reconstruction))
                st = bad(&r, v, "block_reconstruction", "expected true or false");
        } else if (strcmp(k, "smooth_quant") == 0) {
            const lp_yval *a = v->kind == LP_NODE_MAP ? lp_yval_get(v, "alpha") : NULL;
            bool off = false;
            if (v->kind == LP_NODE_SCALAR && lp_scalar_bool(v, &off) && !off)
                rec->smooth_quant_alpha = 0;
            else if (!a || !lp_scalar_float(a, &rec->smooth_quant_alpha) || rec->smooth_quant_alpha <= 0 ||
                     rec->smooth_quant_alpha >= 1)
                st = bad(&r, v, "smooth_quant", "expected false or {alpha: a number in (0, 1)}");
        } else if (strcmp(k, "model_wise") == 0) {
            st = read_cfg(&r, v, "model_wise", &rec->model_wise);
        } else if (strcmp(k, "op_wise") == 0) {
            if (v->kind != LP_NODE_MAP && v->kind != LP_NODE_NULL) {
                st = bad(&r, v, "op_wise", "expected a map of node names");
                break;
            }
            for (int n = 0; st == LP_OK && v->kind == LP_NODE_MAP && n < v->n; n++) {
                char path[300];
                snprintf(path, sizeof path, "op_wise.%s", v->keys[n]);
                const lp_yval *nv = v->items[n];
                lp_quant_cfg cfg = rec->model_wise;
                lp_precision p = LP_PREC_INT8;
                bool has_cfg = nv->kind == LP_NODE_MAP && (lp_yval_get(nv, "weight") || lp_yval_get(nv, "activation"));
                st = read_cfg(&r, nv, path, &cfg);
                const lp_yval *pv = st == LP_OK ? lp_yval_get(nv, "precision") : NULL;
                if (pv) {
                    const char *s = pv->kind == LP_NODE_SCALAR ? pv->str : "";
                    int found = -1;
                    for (int q = 0; q < 3; q++)
                        if (strcmp(s, prec_names[q]) == 0)
                            found = q;
                    if (found < 0) {
                        char pp[320];
                        snprintf(pp, sizeof pp, "%s.precision", path);
                        st = lp_cfg_error(LOWP_ERR_FORMAT, r.what, pp, lp_yval_line(pv), "expected int8, bf16 or fp32, got '%s'", s);
                    }
                    p = (lp_precision)found;
                }
                if (st == LP_OK)
                    st = lp_recipe_set(rec, v->keys[n], p, has_cfg ? &cfg : NULL);
            }
        } else {
            st = lp_cfg_error(LOWP_ERR_FORMAT, r.what, k, lp_yval_line(v), "unknown key '%s' (known: approach, bias_correction, equalization, learned_rounding, block_reconstruction, smooth_quant, model_wise, op_wise)", k);
        }
    }
    lp_yval_free(root);
    if (st != LP_OK) {
        lp_recipe_free(rec);
        return st;
    }
    *out = rec;
    return LP_OK;
}
