/* upgrade.c — ONNX opset 7-12 models rewritten to opset 13 (what QuantizeLinear /
 * DequantizeLinear with per-channel weights need): every op whose signature or meaning changed
 * between the model's opset and 13 takes its opset-13 form; the others are unchanged (their
 * later versions only added types, negative axes or attributes whose defaults keep the old
 * meaning: Conv, Gemm, MatMul, Cast, pools, Concat, Gather, ...). Follows the ONNX operator
 * changelog (onnx.defs.get_schema(op, version) for each signature). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/infer.h"
#include "ir/upgrade.h"

typedef struct up_ctx {
    lp_graph *g;
    int64_t from;               /* the model's opset */
} up_ctx;

/* ---- small graph edits ---- */

/* Removes attribute `name` from node `ni` and moves it into *out (zeroed when absent). */
static bool take_attr(lp_graph *g, int ni, const char *name, lp_attr *out)
{
    lp_node *n = &g->nodes[ni];
    memset(out, 0, sizeof *out);
    for (int a = 0; a < n->n_attr; a++)
        if (!strcmp(n->attrs[a].name, name)) {
            *out = n->attrs[a];
            memmove(&n->attrs[a], &n->attrs[a + 1], (size_t)(n->n_attr - a - 1) * sizeof *n->attrs);
            n->n_attr--;
            return true;
        }
    return false;
}

static void drop_attr(lp_graph *g, int ni, const char *name)
{
    lp_attr a;
    if (take_attr(g, ni, name, &a))
        lp_attr_clear(&a);
}

static lp_status set_attr_str(lp_graph *g, int ni, const char *name, const char *s)
{
    drop_attr(g, ni, name);
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_STRING, .s = (char *)s, .s_len = strlen(s) };
    return lp_node_add_attr(&g->nodes[ni], &a);
}

static lp_status set_attr_int(lp_graph *g, int ni, const char *name, int64_t v)
{
    drop_attr(g, ni, name);
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_INT, .i = v };
    return lp_node_add_attr(&g->nodes[ni], &a);
}

static lp_status set_op(lp_graph *g, int ni, const char *op)
{
    lp_node *n = &g->nodes[ni];
    char *s = strdup(op);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    free(n->op_type);
    n->op_type = s;
    n->op = lp_op_find(n->domain, n->op_type);
    return LP_OK;
}

/* Node `ni` reads x and then in[0..k) (-1: omitted); trailing omitted inputs are dropped. */
static lp_status set_inputs(lp_graph *g, int ni, int k, const int *in)
{
    lp_node *n = &g->nodes[ni];
    while (k > 0 && in[k - 1] < 0)
        k--;
    int *a = malloc((size_t)(k + 1) * sizeof *a);
    if (!a)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    a[0] = n->in[0];
    memcpy(a + 1, in, (size_t)k * sizeof *a);
    free(n->in);
    n->in = a;
    n->n_in = k + 1;
    return LP_OK;
}

/* A new constant named after node `ni` and `what`, holding `t` (taken). */
static lp_status add_const(lp_graph *g, int ni, const char *what, lp_tensor *t, int *v_out)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%.200s_%s", g->nodes[ni].name, what);
    lp_status st = lp_graph_new_value(g, prefix, v_out);
    if (st != LP_OK) {
        lp_tensor_free(t);
        return st;
    }
    lp_graph_set_const(g, *v_out, t);
    return LP_OK;
}

/* A 1-D int64 constant. */
static lp_status const_ints(lp_graph *g, int ni, const char *what, int n, const int64_t *v, int *v_out)
{
    lp_tensor *t;
    int64_t d = n;
    LP_TRY(lp_tensor_new(LP_I64, 1, &d, &t));
    if (n)
        memcpy(t->data, v, (size_t)n * sizeof *v);
    return add_const(g, ni, what, t, v_out);
}

/* A scalar (rank 0) of type `dt` holding x. */
static lp_status const_scalar(lp_graph *g, int ni, const char *what, lp_dtype dt, double x, int *v_out)
{
    const lp_dtype_traits *tr = lp_dtype_traits_of(dt);
    if (!tr->size || dt == LP_BOOL)
        return lp_node_error(&g->nodes[ni], LOWP_ERR_UNSUPPORTED,
                             "the type of its input is not known: cannot write '%s' as a tensor of that type", what);
    lp_tensor *t;
    LP_TRY(lp_tensor_new(dt, 0, NULL, &t));
    tr->set(t->data, 0, x);
    return add_const(g, ni, what, t, v_out);
}

/* The constant value `v` holds: a constant, or a Constant node's `value` (NULL: neither). */
static const lp_tensor *const_of(const lp_graph *g, int v)
{
    const lp_value *val = &g->values[v];
    if (val->kind == LP_VALUE_CONST)
        return val->init;
    if (val->producer < 0 || strcmp(g->nodes[val->producer].op_type, "Constant"))
        return NULL;
    const lp_attr *a = lp_node_attr(&g->nodes[val->producer], "value");
    return a && a->type == LP_ATTR_TENSOR ? a->t : NULL;
}

/* The node must read exactly `k` inputs (its old signature) and no outer-scope values. */
static lp_status want_inputs(const lp_graph *g, int ni, int k)
{
    const lp_node *n = &g->nodes[ni];
    if (n->n_implicit || n->n_in != k || n->in[0] < 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "takes %d input%s before its opset-13 form, not %d", k,
                             k > 1 ? "s" : "", n->n_in);
    return LP_OK;
}

static lp_dtype in_dtype(const lp_graph *g, int ni) { return g->values[g->nodes[ni].in[0]].dtype; }

/* ---- the rewrites, one per op family ---- */

/* Attribute `attr` -> a constant input: an INTS one -> int64 vector (Slice-1 starts/ends/axes,
 * Squeeze/Unsqueeze/ReduceSum axes, Split split, Pad pads), a FLOAT one -> scalar of the data's
 * type (Clip min/max, Dropout ratio). *v_out = the constant, or -1 when the attribute is absent;
 * one of another type is refused. */
static lp_status attr_to_input(up_ctx *c, int ni, const char *attr, lp_attr_type type, int *v_out)
{
    lp_attr a;
    *v_out = -1;
    if (!take_attr(c->g, ni, attr, &a))
        return LP_OK;
    lp_status st;
    if (a.type != type)
        st = lp_node_error(&c->g->nodes[ni], LOWP_ERR_FORMAT, "attribute '%s' must be %s", attr,
                           type == LP_ATTR_INTS ? "a list of integers" : "a float");
    else if (type == LP_ATTR_INTS)
        st = const_ints(c->g, ni, attr, a.n, a.ints, v_out);
    else
        st = const_scalar(c->g, ni, attr, in_dtype(c->g, ni), a.f, v_out);
    lp_attr_clear(&a);
    return st;
}

/* Slice-1 (starts, ends, axes attributes) -> Slice-10+ (inputs; steps 1). */
static lp_status up_slice(up_ctx *c, int ni)
{
    LP_TRY(want_inputs(c->g, ni, 1));
    int in[3];
    LP_TRY(attr_to_input(c, ni, "starts", LP_ATTR_INTS, &in[0]));
    LP_TRY(attr_to_input(c, ni, "ends", LP_ATTR_INTS, &in[1]));
    LP_TRY(attr_to_input(c, ni, "axes", LP_ATTR_INTS, &in[2]));
    if (in[0] < 0 || in[1] < 0)
        return lp_node_error(&c->g->nodes[ni], LOWP_ERR_FORMAT, "Slice-1 needs the attributes 'starts' and 'ends'");
    return set_inputs(c->g, ni, 3, in);
}

/* Squeeze/Unsqueeze/ReduceSum before 13: axes attribute -> input (Unsqueeze requires it). */
static lp_status up_axes(up_ctx *c, int ni)
{
    LP_TRY(want_inputs(c->g, ni, 1));
    int axes;
    LP_TRY(attr_to_input(c, ni, "axes", LP_ATTR_INTS, &axes));
    if (axes < 0 && !strcmp(c->g->nodes[ni].op_type, "Unsqueeze"))
        return lp_node_error(&c->g->nodes[ni], LOWP_ERR_FORMAT, "Unsqueeze needs the attribute 'axes'");
    return set_inputs(c->g, ni, 1, &axes);
}

/* Split-2/11: split attribute -> input. */
static lp_status up_split(up_ctx *c, int ni)
{
    LP_TRY(want_inputs(c->g, ni, 1));
    int split;
    LP_TRY(attr_to_input(c, ni, "split", LP_ATTR_INTS, &split));
    return set_inputs(c->g, ni, 1, &split);
}

/* TopK-1: attribute k -> int64 input of shape [1]. */
static lp_status up_topk(up_ctx *c, int ni)
{
    LP_TRY(want_inputs(c->g, ni, 1));
    lp_attr a;
    if (!take_attr(c->g, ni, "k", &a) || a.type != LP_ATTR_INT) {
        lp_attr_clear(&a);
        return lp_node_error(&c->g->nodes[ni], LOWP_ERR_FORMAT, "TopK-1 needs the integer attribute 'k'");
    }
    int64_t kv = a.i;
    lp_attr_clear(&a); /* taken off the node: ours to free */
    int k;
    LP_TRY(const_ints(c->g, ni, "k", 1, &kv, &k));
    return set_inputs(c->g, ni, 1, &k);
}

/* Clip-6: min/max attributes (absent: unbounded) -> optional inputs. */
static lp_status up_clip(up_ctx *c, int ni)
{
    LP_TRY(want_inputs(c->g, ni, 1));
    int in[2];
    LP_TRY(attr_to_input(c, ni, "min", LP_ATTR_FLOAT, &in[0]));
    LP_TRY(attr_to_input(c, ni, "max", LP_ATTR_FLOAT, &in[1]));
    return set_inputs(c->g, ni, 2, in);
}

/* Pad-2: pads/value attributes -> inputs (mode stays an attribute). */
static lp_status up_pad(up_ctx *c, int ni)
{
    LP_TRY(want_inputs(c->g, ni, 1));
    int in[2];
    LP_TRY(attr_to_input(c, ni, "pads", LP_ATTR_INTS, &in[0]));
    if (in[0] < 0)
        return lp_node_error(&c->g->nodes[ni], LOWP_ERR_FORMAT, "Pad-2 needs the attribute 'pads'");
    lp_attr v;
    bool has = take_attr(c->g, ni, "value", &v);
    float value = has && v.type == LP_ATTR_FLOAT ? v.f : 0.0f;
    bool bad = has && v.type != LP_ATTR_FLOAT;
    lp_attr_clear(&v);
    if (bad)
        return lp_node_error(&c->g->nodes[ni], LOWP_ERR_FORMAT, "attribute 'value' must be a float");
    in[1] = -1; /* the opset-13 default fill is 0 too */
    if (value != 0.0f && !strcmp(lp_attr_str(&c->g->nodes[ni], "mode", "constant"), "constant"))
        LP_TRY(const_scalar(c->g, ni, "value", in_dtype(c->g, ni), value, &in[1]));
    return set_inputs(c->g, ni, 2, in);
}

/* Dropout-7/10: ratio attribute -> input (inference ignores it; kept for training tools). A
 * Dropout-7 mask has the data's type and no defined inference value (onnxruntime gives zeros,
 * Dropout-10+ all true): one that is read is refused. */
static lp_status up_dropout(up_ctx *c, int ni)
{
    lp_graph *g = c->g;
    LP_TRY(want_inputs(g, ni, 1));
    const lp_node *n = &g->nodes[ni];
    if (c->from < 10 && n->n_out > 1 && n->out[1] >= 0 && lp_graph_use_count(g, n->out[1]) > 0)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED,
                             "the mask of Dropout-7 is read: its inference values are not defined before opset 10 "
                             "(a float mask; bool since)");
    int ratio;
    LP_TRY(attr_to_input(c, ni, "ratio", LP_ATTR_FLOAT, &ratio));
    return set_inputs(g, ni, 1, &ratio);
}

/* Resize-10 and Upsample (scales as input 1) -> Resize-13: X, roi (omitted), scales. Their
 * sampling is asymmetric; nearest truncates upward-scaled axes and rounds downscaled ones up
 * (onnxruntime's reading, which lowp's Resize-10 follows): one nearest_mode must cover all
 * axes, so constant scales are needed for nearest. */
static lp_status to_resize13(up_ctx *c, int ni)
{
    lp_graph *g = c->g;
    const char *mode = lp_attr_str(&g->nodes[ni], "mode", "nearest");
    if (strcmp(mode, "nearest") && strcmp(mode, "linear"))
        return lp_node_error(&g->nodes[ni], LOWP_ERR_UNSUPPORTED, "mode '%s' has no opset-13 form (nearest, linear)", mode);
    if (!strcmp(mode, "nearest")) {
        const lp_tensor *s = const_of(g, g->nodes[ni].in[1]);
        if (!s || !lp_dtype_traits_of(s->dtype)->is_float)
            return lp_node_error(&g->nodes[ni], LOWP_ERR_UNSUPPORTED,
                                 "nearest sampling with scales computed at run time: the opset-13 rounding "
                                 "(floor up, ceil down) depends on their values");
        bool up = false, down = false;
        for (int64_t i = 0; i < lp_tensor_numel(s); i++) {
            double x = lp_tensor_get(s, i);
            up |= x > 1, down |= x < 1;
        }
        if (up && down)
            return lp_node_error(&g->nodes[ni], LOWP_ERR_UNSUPPORTED,
                                 "nearest sampling that scales some axes up and others down has no opset-13 form");
        LP_TRY(set_attr_str(g, ni, "nearest_mode", down ? "ceil" : "floor"));
    }
    LP_TRY(set_attr_str(g, ni, "coordinate_transformation_mode", "asymmetric"));
    int in[2] = { -1, g->nodes[ni].in[1] };
    LP_TRY(set_inputs(g, ni, 2, in));
    return set_op(g, ni, "Resize");
}

static lp_status up_resize10(up_ctx *c, int ni)
{
    LP_TRY(want_inputs(c->g, ni, 2));
    return to_resize13(c, ni);
}

/* Upsample-7 (scales attribute) / Upsample-9 (scales input), deprecated in 10. */
static lp_status up_upsample(up_ctx *c, int ni)
{
    lp_graph *g = c->g;
    if (c->from >= 9) {
        LP_TRY(want_inputs(g, ni, 2));
        return to_resize13(c, ni);
    }
    LP_TRY(want_inputs(g, ni, 1));
    lp_attr a;
    if (!take_attr(g, ni, "scales", &a) || a.type != LP_ATTR_FLOATS || a.n < 1 || a.n > LP_MAX_DIMS) {
        lp_attr_clear(&a);
        return lp_node_error(&g->nodes[ni], LOWP_ERR_FORMAT, "Upsample-7 needs the attribute 'scales' (1 to %d floats)",
                             LP_MAX_DIMS);
    }
    lp_tensor *t;
    int64_t d = a.n;
    lp_status st = lp_tensor_new(LP_F32, 1, &d, &t);
    if (st == LP_OK)
        memcpy(t->data, a.floats, (size_t)a.n * sizeof *a.floats);
    lp_attr_clear(&a);
    int s;
    LP_TRY(st);
    LP_TRY(add_const(g, ni, "scales", t, &s));
    LP_TRY(set_inputs(g, ni, 1, &s));
    return to_resize13(c, ni);
}

/* Softmax/LogSoftmax/Hardmax before 13 coerce the input to 2-D at `axis` (default 1) and
 * normalize the rows; 13 normalizes along `axis` (default -1). The same when axis is the last
 * dim; else Flatten(axis) -> op(axis -1) -> Reshape(to Shape(x)). */
static lp_status up_softmax(up_ctx *c, int ni)
{
    lp_graph *g = c->g;
    LP_TRY(want_inputs(g, ni, 1));
    int x = g->nodes[ni].in[0], y = g->nodes[ni].out[0];
    int r = g->values[x].shape.ndim;
    int64_t axis = lp_attr_int(&g->nodes[ni], "axis", 1);
    if (r >= 0 && (axis < -r || axis >= (r ? r : 1)))
        return lp_node_error(&g->nodes[ni], LOWP_ERR_FORMAT, "axis %lld is out of range for rank %d", (long long)axis, r);
    if (axis == -1 || (r >= 0 && axis == r - 1) || r == 1 || r == 0)
        return set_attr_int(g, ni, "axis", -1);
    if (g->nodes[ni].n_out != 1 || y < 0)
        return lp_node_error(&g->nodes[ni], LOWP_ERR_FORMAT, "has %d outputs, not 1", g->nodes[ni].n_out);
    char name[256];
    const char *base = g->nodes[ni].name;
    int flat, soft, shape, idx;
    snprintf(name, sizeof name, "%.200s_2d", base);
    LP_TRY(lp_graph_new_value(g, name, &flat));
    LP_TRY(lp_graph_new_value(g, name, &soft));
    snprintf(name, sizeof name, "%.200s_shape", g->nodes[ni].name);
    LP_TRY(lp_graph_new_value(g, name, &shape));
    snprintf(name, sizeof name, "%.200s_flatten", g->nodes[ni].name);
    LP_TRY(lp_graph_add_node(g, name, "Flatten", "", 1, &x, 1, &flat, &idx));
    LP_TRY(set_attr_int(g, idx, "axis", axis));
    snprintf(name, sizeof name, "%.200s_shape", g->nodes[ni].name);
    LP_TRY(lp_graph_add_node(g, name, "Shape", "", 1, &x, 1, &shape, NULL));
    snprintf(name, sizeof name, "%.200s_reshape", g->nodes[ni].name);
    int rin[2] = { soft, shape };
    LP_TRY(lp_graph_add_node(g, name, "Reshape", "", 2, rin, 1, &y, NULL));
    lp_node *n = &g->nodes[ni];
    n->in[0] = flat;
    n->out[0] = soft;
    g->values[soft].producer = ni;
    return set_attr_int(g, ni, "axis", -1);
}

/* BatchNormalization-7: spatial=1 (the default) is BN-9's only meaning; per-activation
 * statistics (spatial=0) agree with it only on [N, C] inputs. */
static lp_status up_batchnorm(up_ctx *c, int ni)
{
    lp_graph *g = c->g;
    int64_t spatial = lp_attr_int(&g->nodes[ni], "spatial", 1);
    int r = g->nodes[ni].n_in > 0 && g->nodes[ni].in[0] >= 0 ? g->values[g->nodes[ni].in[0]].shape.ndim : -1;
    if (spatial != 1 && r != 2)
        return lp_node_error(&g->nodes[ni], LOWP_ERR_UNSUPPORTED,
                             "spatial=%lld (statistics per activation) has no opset-13 form", (long long)spatial);
    drop_attr(g, ni, "spatial");
    return LP_OK;
}

/* Scatter (deprecated in 11) is ScatterElements. */
static lp_status up_scatter(up_ctx *c, int ni) { return set_op(c->g, ni, "ScatterElements"); }

static lp_status refuse(up_ctx *c, int ni)
{
    const lp_node *n = &c->g->nodes[ni];
    if (!strcmp(n->op_type, "Scan"))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED,
                             "Scan-8 (batch axis, sequence_lens) has no opset-13 conversion in lowp: re-export the "
                             "model with opset 13");
    return lp_node_error(n, LOWP_ERR_UNSUPPORTED,
                         "an experimental op that ONNX removed in opset 10 has no opset-13 form: re-export the model "
                         "with opset 13");
}

/* Applies to models whose opset is below `changed` (the first version with the new form). */
typedef struct up_rule {
    const char *op;
    int64_t changed;
    lp_status (*fn)(up_ctx *c, int ni);
} up_rule;

static const up_rule rules[] = {
    { "BatchNormalization", 9, up_batchnorm },
    { "Scan", 9, refuse },
    { "Slice", 10, up_slice },
    { "TopK", 10, up_topk },
    { "Upsample", 14, up_upsample },
    { "Resize", 11, up_resize10 },
    { "Clip", 11, up_clip },
    { "Pad", 11, up_pad },
    { "Scatter", 14, up_scatter },
    { "Dropout", 12, up_dropout },
    { "Squeeze", 13, up_axes },
    { "Unsqueeze", 13, up_axes },
    { "ReduceSum", 13, up_axes },
    { "Split", 13, up_split },
    { "Softmax", 13, up_softmax },
    { "LogSoftmax", 13, up_softmax },
    { "Hardmax", 13, up_softmax },
    /* experimental before opset 10, then removed */
    { "Affine", 14, refuse }, { "Crop", 14, refuse }, { "ConstantFill", 14, refuse },
    { "DynamicSlice", 14, refuse }, { "GivenTensorFill", 14, refuse }, { "GRUUnit", 14, refuse },
    { "ImageScaler", 14, refuse }, { "ParametricSoftplus", 14, refuse }, { "Scale", 14, refuse },
    { "ScaledTanh", 14, refuse },
};

static lp_status upgrade_nodes(lp_graph *g, int64_t from, int *n_changed)
{
    up_ctx c = { .g = g, .from = from };
    int n0 = g->n_nodes; /* nodes added by a rewrite are already in their opset-13 form */
    for (int i = 0; i < n0; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead || (*n->domain && strcmp(n->domain, "ai.onnx")))
            continue;
        for (size_t k = 0; k < sizeof rules / sizeof *rules; k++)
            if (from < rules[k].changed && !strcmp(n->op_type, rules[k].op)) {
                LP_TRY(rules[k].fn(&c, i));
                (*n_changed)++;
                break;
            }
    }
    for (int i = 0; i < g->n_opsets; i++)
        if (!*g->opsets[i].domain || !strcmp(g->opsets[i].domain, "ai.onnx"))
            g->opsets[i].version = 13;
    LP_TRY(lp_graph_toposort(g));
    return lp_graph_infer(g, false);
}

typedef struct up_walk {
    int64_t from;
    int n_changed;
} up_walk;

static lp_status upgrade_sub(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    up_walk *w = user;
    return upgrade_nodes(sub, w->from, &w->n_changed);
}

lp_status lp_graph_upgrade(lp_graph *g, int *n_changed)
{
    int64_t from = lp_graph_opset(g, "");
    up_walk w = { .from = from };
    if (n_changed)
        *n_changed = 0;
    if (from >= 13)
        return LP_OK;
    if (from < 7)
        return lp_error(LOWP_ERR_UNSUPPORTED, "the model imports ONNX opset %lld; lowp upgrades opsets 7 to 12 to 13",
                        (long long)from);
    LP_TRY(lp_graph_infer(g, false)); /* types and ranks for the rewrites that need them */
    /* parents first: a subgraph reads its owner's values, whose forms do not matter to it */
    LP_TRY(lp_graph_walk_subgraphs(g, upgrade_sub, &w));
    LP_TRY(upgrade_nodes(g, from, &w.n_changed));
    if (g->ir_version < 7) /* opset 13 came with IR version 7 */
        g->ir_version = 7;
    if (n_changed)
        *n_changed = w.n_changed;
    return LP_OK;
}
