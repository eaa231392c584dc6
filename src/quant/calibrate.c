/* calibrate.c — collecting activation statistics through the engine's tap. */
#include "quant/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/adaround.h"
#include "quant/recipe.h"

static lp_status count_values(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    *(int64_t *)user += sub->n_values;
    return LP_OK;
}

/* An observer for each float value of g that is computed or fed (not constants, not outer
 * values: those are observed where they are defined); a name seen before keeps its observer. */
static lp_status add_observers(void *user, lp_graph *g, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    lp_calibration *c = user;
    for (int v = 0; v < g->n_values; v++) {
        const lp_value *val = &g->values[v];
        if (val->kind == LP_VALUE_CONST || val->kind == LP_VALUE_OUTER || (val->dtype && val->dtype != LP_F32) ||
            lp_strmap_get(&c->index, val->name) >= 0)
            continue;
        if (!(c->names[c->n_obs] = strdup(val->name)) ||
            lp_strmap_put(&c->index, c->names[c->n_obs], c->n_obs) != LP_OK)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        lp_observer_init(&c->obs[c->n_obs]);
        c->n_obs++;
    }
    return LP_OK;
}

lowp_status lowp_calibration_create(const lowp_model *model, const lowp_session_options *options,
                                    lowp_calibration **out)
{
    if (!model || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_create: NULL argument");
    lp_calibration *c = calloc(1, sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lowp_session_options o = options ? *options : lowp_session_options_default();
    o.optimize = 1;
    lp_status st = lowp_session_create(model, &o, &c->session);
    if (st != LP_OK) {
        free(c);
        return st;
    }
    /* one observer per float value a node reads or writes, and per float graph input; the
     * same inside control-flow bodies (their values by name: the engine shows them through
     * the tap as it runs the bodies), whose outer values are the enclosing graph's */
    lp_graph *g = c->session->g;
    int64_t total = g->n_values;
    st = lp_graph_walk_subgraphs(g, count_values, &total);
    if (st == LP_OK && total > INT32_MAX / 2)
        st = lp_error(LOWP_ERR_UNSUPPORTED, "%lld values to observe: too many", (long long)total);
    if (st == LP_OK) {
        c->obs = calloc((size_t)total + 1, sizeof *c->obs);
        c->names = calloc((size_t)total + 1, sizeof *c->names);
        c->channels = calloc((size_t)total + 1, sizeof *c->channels);
        if (!c->obs || !c->names || !c->channels)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld observers", (long long)total);
    }
    if (st == LP_OK)
        st = add_observers(c, g, NULL, 0, 0);
    if (st == LP_OK)
        st = lp_graph_walk_subgraphs(g, add_observers, c);
    if (st != LP_OK) {
        lowp_calibration_free(c);
        return st;
    }
    *out = c;
    return LP_OK;
}

void lowp_calibration_free(lowp_calibration *c)
{
    if (!c)
        return;
    lowp_session_free(c->session);
    lp_grams_free(c->grams);
    for (int i = 0; i < c->n_obs; i++)
        free(c->names[i]);
    for (int i = 0; c->channels && i < c->n_obs; i++) {
        free(c->channels[i].min);
        free(c->channels[i].max);
        free(c->channels[i].sum);
    }
    free(c->channels);
    free(c->names);
    free(c->obs);
    lp_strmap_clear(&c->index);
    free(c);
}

/* Per-channel min/max/sum along the channel axis (see lp_channel_stats). A tensor whose
 * channel count changes between batches (dynamic shapes) stops keeping channel statistics. */
static void channel_update(lp_channel_stats *cs, const lp_tensor *t)
{
    if (t->ndim < 1 || cs->channels < 0)
        return;
    int axis = t->ndim >= 4 ? 1 : t->ndim - 1;
    int64_t ch = t->dims[axis], inner = 1, n = lp_tensor_numel(t);
    for (int d = axis + 1; d < t->ndim; d++)
        inner *= t->dims[d];
    if (!cs->channels) {
        cs->min = malloc((size_t)(ch ? ch : 1) * sizeof *cs->min);
        cs->max = malloc((size_t)(ch ? ch : 1) * sizeof *cs->max);
        cs->sum = calloc((size_t)(ch ? ch : 1), sizeof *cs->sum);
        if (!cs->min || !cs->max || !cs->sum) {
            cs->channels = -1; /* statistics are advisory: do without them */
            return;
        }
        for (int64_t k = 0; k < ch; k++) {
            cs->min[k] = INFINITY;
            cs->max[k] = -INFINITY;
        }
        cs->channels = ch;
    } else if (cs->channels != ch) {
        cs->channels = -1;
        return;
    }
    const float *x = t->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (i / inner) % ch;
        double v = x[i];
        if (isnan(v))
            continue;
        if (v < cs->min[k]) cs->min[k] = v;
        if (v > cs->max[k]) cs->max[k] = v;
        cs->sum[k] += v;
    }
    cs->count += ch ? n / ch : 0;
}

static void observe(lp_calibration *c, const char *name, const lp_tensor *t)
{
    if (t->dtype != LP_F32)
        return;
    int i = lp_strmap_get(&c->index, name);
    if (i < 0)
        return;
    lp_observer_update(&c->obs[i], t->data, lp_tensor_numel(t));
    channel_update(&c->channels[i], t);
    lp_grams_observe(c->grams, name, t);
}

lowp_status lowp_calibration_for_recipe(lowp_calibration *c, const lowp_recipe *r)
{
    if (!c || !r)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_for_recipe: NULL argument");
    if (!r->learned_rounding || c->grams)
        return LP_OK;
    if (c->samples)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_for_recipe: the calibration has seen %lld samples "
                        "already; learned rounding needs its moments from the first batch on", (long long)c->samples);
    return lp_grams_new(c->session->g, &c->grams);
}

static lp_status tap(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t)
{
    (void)node;
    observe(user, plan->g->values[value].name, t);
    return LP_OK;
}

lowp_status lowp_calibration_feed(lowp_calibration *c, int n_inputs, const char *const *input_names,
                                  const lowp_tensor *const *inputs)
{
    if (!c)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_feed: NULL calibration");
    const lp_graph *g = c->session->g;
    const lp_tensor *ordered_store[16], **ordered = ordered_store;
    if (g->n_inputs > 16 && !(ordered = malloc((size_t)g->n_inputs * sizeof *ordered)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_plan *plan = NULL;
    lp_status st = lp_session_bind(c->session, n_inputs, input_names, inputs, ordered);
    if (st == LP_OK)
        st = lp_session_plan(c->session, ordered, &plan);
    if (st == LP_OK)
        st = lp_plan_run(plan, ordered, tap, c);
    if (st == LP_OK) {
        for (int i = 0; i < g->n_inputs; i++)
            observe(c, g->values[g->inputs[i]].name, ordered[i]);
        c->samples += g->n_inputs && ordered[0]->ndim ? ordered[0]->dims[0] : 1;
    }
    if (ordered != ordered_store)
        free(ordered);
    return st;
}

int64_t lowp_calibration_samples(const lowp_calibration *c) { return c ? c->samples : 0; }

const lp_channel_stats *lp_calibration_channels(const lp_calibration *c, const char *name)
{
    int i = lp_strmap_get(&c->index, name);
    return i >= 0 && c->channels[i].channels > 0 && c->channels[i].count ? &c->channels[i] : NULL;
}

const lp_observer *lp_calibration_find(const lp_calibration *c, const char *name)
{
    int i = lp_strmap_get(&c->index, name);
    return i >= 0 && c->obs[i].count ? &c->obs[i] : NULL;
}
