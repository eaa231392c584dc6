/* graph_builder.h — what the kernel tests share to build small graphs in C: values, inputs fed
 * with given tensors, constants, nodes with attributes, outputs. Header-only (static inline),
 * included once per test program; the caller owns the rng and the contents. */
#ifndef LP_GRAPH_BUILDER_H
#define LP_GRAPH_BUILDER_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"
#include "ir/graph.h"
#include "lowp.h"
#include "test.h"

#define GB_MAX_FEED 8

typedef struct gb {
    lp_graph *g;
    int n_feed;
    lp_tensor *feed[GB_MAX_FEED];       /* the inputs' contents, in graph input order */
    int cnt;                            /* for unique names */
    int last_node;                      /* the node attr_* adds to */
} gb;

static inline gb *gb_new(int opset)
{
    gb *b = calloc(1, sizeof *b);
    CHECK_OK(lp_graph_new(&b->g));
    b->g->ir_version = 8;
    b->g->opsets = calloc(1, sizeof *b->g->opsets);
    b->g->opsets[0].domain = strdup("");
    b->g->opsets[0].version = opset;
    b->g->n_opsets = 1;
    b->g->inputs = calloc(GB_MAX_FEED, sizeof(int));
    b->g->outputs = calloc(GB_MAX_FEED, sizeof(int));
    return b;
}

static inline void gb_free(gb *b)
{
    for (int i = 0; i < b->n_feed; i++)
        lp_tensor_free(b->feed[i]);
    lp_graph_free(b->g);
    free(b);
}

static inline int gb_value(gb *b, const char *prefix)
{
    char name[64];
    snprintf(name, sizeof name, "%s%d", prefix, b->cnt++);
    int v = -1;
    CHECK_OK(lp_graph_add_value(b->g, name, &v));
    return v;
}

/* A graph input of t's type and shape, fed with t (the builder takes t). */
static inline int gb_feed(gb *b, lp_tensor *t)
{
    int v = gb_value(b, "in");
    lp_value *val = &b->g->values[v];
    val->kind = LP_VALUE_INPUT;
    val->dtype = t->dtype;
    val->shape.ndim = t->ndim;
    memcpy(val->shape.d, t->dims, (size_t)t->ndim * sizeof t->dims[0]);
    b->feed[b->n_feed++] = t;
    b->g->inputs[b->g->n_inputs++] = v;
    return v;
}

/* A constant (the graph takes t). */
static inline int gb_tensor(gb *b, lp_tensor *t)
{
    int v = gb_value(b, "c");
    lp_graph_set_const(b->g, v, t);
    return v;
}

/* A rank-0 constant of type dt. */
static inline int gb_scalar(gb *b, lp_dtype dt, double x)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(dt, 0, NULL, &t));
    lp_dtype_traits_of(dt)->set(t->data, 0, x);
    return gb_tensor(b, t);
}

/* A node op_type of `domain` ("" for ONNX) from in... to out... (existing values; -1 in either
 * is an omitted optional); attr_* add to it next. */
static inline void gb_node(gb *b, const char *op, const char *domain, int n_in, const int *in, int n_out,
                           const int *out)
{
    char name[64];
    snprintf(name, sizeof name, "n%d", b->cnt++);
    CHECK_OK(lp_graph_add_node(b->g, name, op, domain, n_in, in, n_out, out, &b->last_node));
}

/* op_type(in...) -> a new value, returned; -1 inputs are omitted optionals. */
static inline int gb_op(gb *b, const char *op, int n_in, const int *in)
{
    int y = gb_value(b, "v");
    gb_node(b, op, "", n_in, in, 1, &y);
    return y;
}
static inline int op1(gb *b, const char *op, int x) { return gb_op(b, op, 1, &x); }
static inline int op2(gb *b, const char *op, int x, int y)
{
    int in[2] = { x, y };
    return gb_op(b, op, 2, in);
}

/* Attributes of the last node added (the node copies them). */
static inline void gb_attr(gb *b, lp_attr a) { CHECK_OK(lp_node_add_attr(&b->g->nodes[b->last_node], &a)); }
static inline void attr_i(gb *b, const char *name, int64_t v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_INT, .i = v });
}
static inline void attr_f(gb *b, const char *name, float v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_FLOAT, .f = v });
}
static inline void attr_ints(gb *b, const char *name, int n, const int64_t *v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_INTS, .n = n, .ints = (int64_t *)v });
}
static inline void attr_floats(gb *b, const char *name, int n, const float *v)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_FLOATS, .n = n, .floats = (float *)v });
}
static inline void attr_s(gb *b, const char *name, const char *s)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_STRING, .s = (char *)s, .s_len = strlen(s) });
}
static inline void attr_strs(gb *b, const char *name, int n, char *const *s)
{
    gb_attr(b, (lp_attr){ .name = (char *)name, .type = LP_ATTR_STRINGS, .n = n, .strings = (char **)s });
}

/* A float32 tensor of uniform values in [-scale, scale) drawn from *rng (lowp_random_next). */
static inline lp_tensor *gb_rand_tensor(uint64_t *rng, int ndim, const int64_t *dims, double scale)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, ndim, dims, &t));
    for (int64_t i = 0; t && i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)((2 * lowp_random_uniform(rng) - 1) * scale);
    return t;
}

/* Runs graph g (a session of it) on x fed to its first input: its first output (caller frees). */
static inline lp_tensor *gb_run(const lp_graph *g, const lp_tensor *x)
{
    lowp_session *s = NULL;
    lp_tensor *y = NULL;
    CHECK_OK(lp_session_create_graph(g, NULL, &s));
    const char *name = g->values[g->inputs[0]].name;
    if (s)
        CHECK_OK(lowp_session_run(s, 1, &name, (const lowp_tensor *const *)&x, 1, &y));
    lowp_session_free(s);
    return y;
}

/* max|x| over a float32 tensor. */
static inline double gb_max_abs(const lp_tensor *t)
{
    double m = 0;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        m = fmax(m, fabs(((const float *)t->data)[i]));
    return m;
}

/* max|a - ref| / max|ref| over two float32 tensors of ref's size (NaN counts as the worst). */
static inline double gb_norm_err(const lp_tensor *a, const lp_tensor *ref)
{
    const float *x = a->data, *y = ref->data;
    double m = 0, r = 0;
    for (int64_t i = 0; i < lp_tensor_numel(ref); i++) {
        double d = fabs((double)x[i] - y[i]);
        if (!(d <= m))
            m = isnan(d) ? INFINITY : d;
        if (fabs(y[i]) > r)
            r = fabs(y[i]);
    }
    return m / (r > 1e-30 ? r : 1.0);
}

static inline void gb_output(gb *b, int v)
{
    if (b->g->values[v].is_output)
        return;
    b->g->outputs[b->g->n_outputs++] = v;
    b->g->values[v].is_output = true;
}

#endif
