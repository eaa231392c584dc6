/* session.c — the public lowp_session_* calls: an optimized graph plus compiled plans cached
 * by input shape. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "ir/infer.h"
#include "ir/passes.h"
#include "onnx/model.h"

lowp_session_options lowp_session_options_default(void)
{
    return (lowp_session_options){ .threads = 1, .optimize = 1, .precision = LOWP_FLOAT };
}

/* Opsets 1-6 differ from 7+ mainly in the legacy `broadcast`/`axis` attributes of binary ops;
 * every other op either kept its meaning or checks its own version. Legacy broadcasting whose
 * axis aligns B with A's trailing dims is numpy broadcasting and runs; any other axis is
 * refused with a message. */
static lp_status check_legacy(const lp_graph *g)
{
    if (lp_graph_opset(g, "") >= 7)
        return LP_OK;
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        bool binary = n->op == LP_OP_Add || n->op == LP_OP_Sub || n->op == LP_OP_Mul || n->op == LP_OP_Div ||
                      n->op == LP_OP_Pow || n->op == LP_OP_And || n->op == LP_OP_Equal || n->op == LP_OP_Less ||
                      n->op == LP_OP_Greater;
        if (!binary || !lp_attr_int(n, "broadcast", 0) || !lp_node_attr(n, "axis") || n->n_in < 2)
            continue;
        int ra = g->values[n->in[0]].shape.ndim, rb = g->values[n->in[1]].shape.ndim;
        int64_t axis = lp_attr_int(n, "axis", 0);
        if (ra < 0 || rb < 0 || (axis < 0 ? axis + ra : axis) != ra - rb)
            return lp_node_error(n, LOWP_ERR_UNSUPPORTED,
                                 "legacy axis broadcasting (opset %lld) is not supported; re-export with opset 7 or newer",
                                 (long long)lp_graph_opset(g, ""));
    }
    return LP_OK;
}

/* A model's per-node BF16 choices (metadata LP_META_BF16_NODES, written by the quantizer)
 * become the engine's per-node precision attribute on the session's own graph. Names that no
 * longer exist are ignored: the list is advice, not structure. */
static lp_status apply_bf16_nodes(lp_graph *g)
{
    const char *list = lp_graph_meta(g, LP_META_BF16_NODES);
    if (!list || !*list)
        return LP_OK;
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = LP_OK;
    for (char *name = strtok_r(copy, ",", &save); name && st == LP_OK; name = strtok_r(NULL, ",", &save))
        for (int i = 0; i < g->n_nodes && st == LP_OK; i++)
            if (strcmp(g->nodes[i].name, name) == 0 && !lp_node_attr(&g->nodes[i], LP_ATTR_PRECISION)) {
                lp_attr a = { .name = LP_ATTR_PRECISION, .type = LP_ATTR_STRING, .s = "bf16", .s_len = 4 };
                st = lp_node_add_attr(&g->nodes[i], &a);
            }
    free(copy);
    return st;
}

lp_status lp_session_graph(const lp_graph *src, bool runnable, bool optimize, int *n_widened, lp_graph **out)
{
    lp_graph *g = NULL;
    lp_status st = lp_graph_clone(src, &g);
    if (st == LP_OK && lp_graph_opset(g, "") < 7)
        st = lp_graph_infer(g, false); /* ranks for check_legacy */
    if (st == LP_OK)
        st = check_legacy(g);
    int n_half = 0;
    if (st == LP_OK)
        st = lp_pass_float16(g, &n_half);
    if (n_widened)
        *n_widened = n_half;
    for (int i = 0; runnable && st == LP_OK && i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->op < 0)
            st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "lowp has no operator '%s'%s%s", n->op_type,
                               *n->domain ? " in domain " : "", n->domain);
        else if (!lp_op_implemented(n->op))
            st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "operator '%s' is not implemented yet", n->op_type);
    }
    if (st == LP_OK && optimize) {
        lp_pass_options po = { .keep_dequantize = true };
        st = lp_graph_optimize(g, &po);
    }
    if (st == LP_OK)
        st = apply_bf16_nodes(g);
    if (st != LP_OK) {
        lp_graph_free(g);
        return st;
    }
    *out = g;
    return LP_OK;
}

lowp_status lowp_model_check(const lowp_model *model, char **notes_out)
{
    if (notes_out)
        *notes_out = NULL;
    if (!model || !model->graph)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_check: NULL argument");
    lp_graph *g = NULL;
    int n_half = 0;
    lp_status st = lp_session_graph(model->graph, true, true, &n_half, &g);
    if (st == LP_OK)
        st = lp_graph_infer(g, true);
    lp_graph_free(g);
    if (st != LP_OK)
        return model->path ? lp_error_prefix(st, "%s", model->path) : st;
    if (notes_out) {
        char buf[96] = "";
        if (n_half)
            snprintf(buf, sizeof buf, "float16/bfloat16 computed in float32: %d tensors and boundaries", n_half);
        if (!(*notes_out = strdup(buf)))
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return LP_OK;
}

/* Inputs worth compiling by value: small integer or bool tensors (at most 16 values by their
 * declared shape) from which an If's condition is computed. A plan then folds the If and
 * fuses its branch with the rest; each distinct value gets its own cached plan. */
static lp_status find_bind_values(lowp_session *s)
{
    const lp_graph *g = s->g;
    size_t nv = (size_t)g->n_values + 1;
    uint8_t *reach = calloc(nv, 1);
    int *stack = malloc(nv * sizeof *stack);
    lp_status st = reach && stack ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    int top = 0;
    for (int i = 0; st == LP_OK && i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->op == LP_OP_If && n->n_in > 0 && n->in[0] >= 0 && !reach[n->in[0]]) {
            reach[n->in[0]] = 1;
            stack[top++] = n->in[0];
        }
    }
    while (st == LP_OK && top > 0) { /* every value feeds the stack at most once */
        int v = stack[--top], p = g->values[v].producer;
        if (p < 0)
            continue;
        const lp_node *n = &g->nodes[p];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !reach[n->in[k]]) {
                reach[n->in[k]] = 1;
                stack[top++] = n->in[k];
            }
    }
    for (int i = 0; st == LP_OK && i < g->n_inputs; i++) {
        const lp_value *v = &g->values[g->inputs[i]];
        const lp_dtype_traits *tr = lp_dtype_traits_of(v->dtype);
        bool small = lp_shape_static(&v->shape) && lp_numel(v->shape.ndim, v->shape.d) <= 16;
        if (!reach[g->inputs[i]] || !small || tr->is_float || !tr->size)
            continue;
        if (!s->bind_values && !(s->bind_values = calloc((size_t)g->n_inputs, 1))) {
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        s->bind_values[i] = 1;
    }
    s->plan_opt.bind_values = s->bind_values;
    free(reach);
    free(stack);
    return st;
}

lp_status lp_session_create_graph(const lp_graph *src, const lowp_session_options *options, lowp_session **out)
{
    lowp_session *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    s->opt = options ? *options : lowp_session_options_default();
    if (s->opt.threads <= 0)
        s->opt.threads = 1;
    if (s->opt.precision != LOWP_UNDEFINED && s->opt.precision != LOWP_FLOAT && s->opt.precision != LOWP_BFLOAT16) {
        lowp_dtype p = s->opt.precision;
        free(s);
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "session option precision: %s is not float32 or bfloat16",
                        lowp_dtype_name(p));
    }
    s->plan_opt = lp_plan_options_default();
    s->plan_opt.threads = s->opt.threads;
    s->plan_opt.precision = s->opt.precision == LOWP_BFLOAT16 ? LOWP_BFLOAT16 : LOWP_FLOAT;
    lp_status st = lp_session_graph(src, true, s->opt.optimize, NULL, &s->g);
    if (st == LP_OK)
        st = find_bind_values(s);
    if (st != LP_OK) {
        lowp_session_free(s);
        return st;
    }
    *out = s;
    return LP_OK;
}

lp_status lp_session_create_sub(const lp_graph *g, const lp_plan_options *po, lowp_session **out)
{
    lowp_session_options o = lowp_session_options_default();
    o.threads = po->threads;
    o.precision = po->precision;
    LP_TRY(lp_session_create_graph(g, &o, out));
    (*out)->plan_opt = *po;
    (*out)->plan_opt.bind_values = (*out)->bind_values;
    return LP_OK;
}

lowp_status lowp_session_create(const lowp_model *model, const lowp_session_options *options,
                                lowp_session **session_out)
{
    if (!model || !session_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_create: NULL argument");
    lowp_session *s = NULL;
    lp_status st = lp_session_create_graph(model->graph, options, &s);
    if (st != LP_OK)
        return model->path ? lp_error_prefix(st, "%s", model->path) : st;
    if (model->path && !(s->what = strdup(model->path))) {
        lowp_session_free(s);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *session_out = s;
    return LP_OK;
}

void lowp_session_free(lowp_session *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_plans; i++)
        lp_plan_free(s->plans[i]);
    lp_graph_free(s->g);
    free(s->what);
    free(s->bind_values);
    free(s);
}

/* Checks a fed tensor against the graph input's declared dtype and shape. */
static lp_status check_input(const lp_graph *g, int v, const lp_tensor *t)
{
    const lp_value *val = &g->values[v];
    char want[256], got[128];
    if (val->dtype && t->dtype != val->dtype)
        return lp_error(LOWP_ERR_SHAPE, "input '%s': expected dtype %s, got %s", val->name,
                        lp_dtype_traits_of(val->dtype)->name, lp_dtype_traits_of(t->dtype)->name);
    if (val->shape.ndim < 0)
        return LP_OK;
    bool ok = val->shape.ndim == t->ndim;
    for (int i = 0; ok && i < t->ndim; i++)
        ok = !lp_dim_known(val->shape.d[i]) || val->shape.d[i] == t->dims[i];
    if (ok)
        return LP_OK;
    return lp_error(LOWP_ERR_SHAPE, "input '%s': expected shape %s, got %s", val->name,
                    lp_graph_shape_str(g, &val->shape, want, sizeof want), lp_shape_str(t->ndim, t->dims, got, sizeof got));
}

lp_status lp_session_plan(lowp_session *s, const lp_tensor *const *inputs, lp_plan **plan_out)
{
    const lp_graph *g = s->g;
    for (int i = 0; i < g->n_inputs; i++)
        LP_TRY(check_input(g, g->inputs[i], inputs[i]));
    s->clock++;
    for (int p = 0; p < s->n_plans; p++) {
        bool same = true;
        for (int i = 0; same && i < g->n_inputs; i++) {
            const int64_t *d = s->plans[p]->input_dims + (size_t)i * LP_MAX_DIMS;
            same = s->plans[p]->g->values[s->plans[p]->g->inputs[i]].dtype == inputs[i]->dtype &&
                   memcmp(d, inputs[i]->dims, (size_t)inputs[i]->ndim * sizeof *d) == 0 &&
                   (!s->plans[p]->bound || !s->plans[p]->bound[i] || lp_tensor_equal(s->plans[p]->bound[i], inputs[i]));
        }
        if (same) {
            s->plans[p]->last_used = s->clock;
            *plan_out = s->plans[p];
            return LP_OK;
        }
    }
    lp_plan *plan;
    lp_status st = lp_plan_compile_opt(g, inputs, &s->plan_opt, &plan);
    if (st != LP_OK)
        return s->what ? lp_error_prefix(st, "%s", s->what) : st;
    plan->last_used = s->clock;
    if (s->n_plans == LP_SESSION_MAX_PLANS) { /* evict the least recently used */
        int lru = 0;
        for (int p = 1; p < s->n_plans; p++)
            if (s->plans[p]->last_used < s->plans[lru]->last_used)
                lru = p;
        lp_plan_free(s->plans[lru]);
        s->plans[lru] = s->plans[--s->n_plans];
    }
    s->plans[s->n_plans++] = plan;
    *plan_out = plan;
    return LP_OK;
}

lp_status lp_session_bind(const lowp_session *s, int n_inputs, const char *const *names,
                          const lp_tensor *const *inputs, const lp_tensor **ordered)
{
    const lp_graph *g = s->g;
    for (int i = 0; i < g->n_inputs; i++)
        ordered[i] = NULL;
    for (int k = 0; k < n_inputs; k++) {
        if (!names || !names[k] || !inputs || !inputs[k])
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_run: input %d has a NULL name or tensor", k);
        int found = -1;
        for (int i = 0; i < g->n_inputs && found < 0; i++)
            if (strcmp(g->values[g->inputs[i]].name, names[k]) == 0)
                found = i;
        if (found < 0) {
            char known[400];
            size_t n = 0;
            known[0] = 0;
            for (int i = 0; i < g->n_inputs && n < sizeof known; i++)
                n += (size_t)snprintf(known + n, sizeof known - n, "%s'%s'", i ? ", " : "",
                                      g->values[g->inputs[i]].name);
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "the model has no input named '%s' (its inputs: %s)",
                            names[k], known);
        }
        ordered[found] = inputs[k];
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (!ordered[i])
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "input '%s' was not fed", g->values[g->inputs[i]].name);
    return LP_OK;
}

/* Binds the named inputs, picks (or compiles) the plan for their shapes and runs it; the
 * outputs are then plan->vals of plan->g->outputs. Shared by run and run_into. */
static lp_status run_plan(lowp_session *s, int n_inputs, const char *const *input_names,
                          const lowp_tensor *const *inputs, lp_plan **plan_out)
{
    const lp_graph *g = s->g;
    const lp_tensor *ordered_store[16], **ordered = ordered_store;
    if (g->n_inputs > 16 && !(ordered = malloc((size_t)g->n_inputs * sizeof *ordered)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = lp_session_bind(s, n_inputs, input_names, inputs, ordered);
    if (st == LP_OK)
        st = lp_session_plan(s, ordered, plan_out);
    if (st == LP_OK && s->profiling && !(*plan_out)->prof)
        st = lp_plan_profile_start(*plan_out);
    if (st == LP_OK)
        st = lp_plan_run(*plan_out, ordered, NULL, NULL);
    if (ordered != ordered_store)
        free(ordered);
    return st;
}

lowp_status lowp_session_run(lowp_session *s, int n_inputs, const char *const *input_names,
                             const lowp_tensor *const *inputs, int n_outputs, lowp_tensor **outputs)
{
    if (!s || n_outputs < 0 || (n_outputs && !outputs))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_run: NULL argument");
    const lp_graph *g = s->g;
    if (n_outputs > g->n_outputs)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_run: %d outputs asked, the model has %d", n_outputs,
                        g->n_outputs);
    lp_plan *plan = NULL;
    lp_status st = run_plan(s, n_inputs, input_names, inputs, &plan);
    for (int i = 0; st == LP_OK && i < n_outputs; i++) {
        st = lp_tensor_clone(&plan->vals[plan->g->outputs[i]], &outputs[i]);
        if (st != LP_OK)
            while (i-- > 0)
                lp_tensor_free(outputs[i]);
    }
    return st;
}

lowp_status lowp_session_run_into(lowp_session *s, int n_inputs, const char *const *input_names,
                                  const lowp_tensor *const *inputs, int n_outputs, lowp_tensor *const *outputs)
{
    if (!s || n_outputs < 0 || (n_outputs && !outputs))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_run_into: NULL argument");
    const lp_graph *g = s->g;
    if (n_outputs > g->n_outputs)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_run_into: %d outputs given, the model has %d",
                        n_outputs, g->n_outputs);
    lp_plan *plan = NULL;
    lp_status st = run_plan(s, n_inputs, input_names, inputs, &plan);
    for (int i = 0; st == LP_OK && i < n_outputs; i++) {
        const lp_tensor *y = &plan->vals[plan->g->outputs[i]];
        lp_tensor *o = outputs[i];
        char a[96], b[96];
        if (!o || o->dtype != y->dtype || o->ndim != y->ndim || memcmp(o->dims, y->dims, (size_t)y->ndim * sizeof *y->dims))
            st = lp_error(LOWP_ERR_SHAPE, "lowp_session_run_into: output '%s' is %s %s, the tensor given for it %s %s",
                          g->values[g->outputs[i]].name, lp_dtype_traits_of(y->dtype)->name,
                          lp_shape_str(y->ndim, y->dims, a, sizeof a), o ? lp_dtype_traits_of(o->dtype)->name : "NULL",
                          o ? lp_shape_str(o->ndim, o->dims, b, sizeof b) : "");
        else if (y->nbytes)
            memcpy(o->data, y->data, y->nbytes);
    }
    return st;
}

/* The plan run most recently, or NULL. */
static lp_plan *last_plan(const lowp_session *s)
{
    lp_plan *last = NULL;
    for (int p = 0; p < s->n_plans; p++)
        if (!last || s->plans[p]->last_used > last->last_used)
            last = s->plans[p];
    return last;
}

lowp_status lowp_session_profile(lowp_session *s, int on)
{
    if (!s)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_profile: NULL session");
    s->profiling = on != 0;
    for (int p = 0; p < s->n_plans; p++)
        lp_plan_profile_stop(s->plans[p]); /* runs from now on start a fresh profile */
    return LP_OK;
}

lowp_status lowp_session_profile_json(const lowp_session *s, char **json_out)
{
    if (!s || !json_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_profile_json: NULL argument");
    *json_out = NULL;
    const lp_plan *p = last_plan(s);
    if (!p || !p->prof || !p->prof->runs)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                        "lowp_session_profile_json: no profiled run (call lowp_session_profile(session, 1), then run)");
    lp_json j;
    lp_json_init(&j, 2);
    lp_status st = lp_plan_profile_json(p, &j);
    if (st != LP_OK) {
        lp_json_free(&j);
        return st;
    }
    return lp_json_finish(&j, json_out);
}

lowp_status lowp_session_memory_bytes(const lowp_session *s, size_t *arena_bytes_out)
{
    if (!s || !arena_bytes_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_session_memory_bytes: NULL argument");
    const lp_plan *last = NULL;
    for (int p = 0; p < s->n_plans; p++)
        if (!last || s->plans[p]->last_used > last->last_used)
            last = s->plans[p];
    *arena_bytes_out = last ? last->arena_size : 0;
    return LP_OK;
}
