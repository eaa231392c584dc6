/* onnx_write.c — lowp graph IR -> ONNX ModelProto bytes (weights inline as raw_data). */
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnx/model.h"

/* Every message and array built for one write is tracked here and freed together. */
typedef struct pool {
    void **ptrs;
    size_t n, cap;
    int failed;
} pool;

static void *pool_alloc(pool *p, size_t size)
{
    if (p->failed)
        return NULL;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        void **q = realloc(p->ptrs, cap * sizeof *q);
        if (!q) {
            p->failed = 1;
            return NULL;
        }
        p->ptrs = q;
        p->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m) {
        p->failed = 1;
        return NULL;
    }
    p->ptrs[p->n++] = m;
    return m;
}

static void pool_free(pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->ptrs[i]);
    free(p->ptrs);
}

#define NEW(p, T, INIT) new_msg(p, sizeof(T), &(T)INIT)
static void *new_msg(pool *p, size_t size, const void *init)
{
    void *m = pool_alloc(p, size);
    if (m)
        memcpy(m, init, size);
    return m;
}

static Onnx__TensorProto *tensor_proto(pool *p, const lp_tensor *t, const char *name, const char *doc)
{
    Onnx__TensorProto *tp = NEW(p, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT);
    if (!tp)
        return NULL;
    tp->name = (char *)name;
    tp->doc_string = (char *)doc;
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    tp->n_dims = (size_t)t->ndim;
    tp->dims = (int64_t *)t->dims;
    tp->has_raw_data = 1;
    tp->raw_data.len = t->nbytes;
    tp->raw_data.data = t->data;
    return tp;
}

static Onnx__ValueInfoProto *value_info(pool *p, const lp_graph *g, const lp_value *v, const char *name)
{
    Onnx__ValueInfoProto *vi = NEW(p, Onnx__ValueInfoProto, ONNX__VALUE_INFO_PROTO__INIT);
    Onnx__TypeProto *tp = NEW(p, Onnx__TypeProto, ONNX__TYPE_PROTO__INIT);
    Onnx__TypeProto__Tensor *tt = NEW(p, Onnx__TypeProto__Tensor, ONNX__TYPE_PROTO__TENSOR__INIT);
    if (!vi || !tp || !tt)
        return NULL;
    vi->name = (char *)name;
    vi->doc_string = v->doc;
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    if (v->dtype) {
        tt->has_elem_type = 1;
        tt->elem_type = (int32_t)v->dtype;
    }
    if (v->shape.ndim >= 0) {
        Onnx__TensorShapeProto *sp = NEW(p, Onnx__TensorShapeProto, ONNX__TENSOR_SHAPE_PROTO__INIT);
        Onnx__TensorShapeProto__Dimension **dims = pool_alloc(p, (size_t)v->shape.ndim * sizeof *dims);
        if (!sp || !dims)
            return NULL;
        sp->n_dim = (size_t)v->shape.ndim;
        sp->dim = dims;
        for (int i = 0; i < v->shape.ndim; i++) {
            Onnx__TensorShapeProto__Dimension *d = NEW(p, Onnx__TensorShapeProto__Dimension, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT);
            if (!d)
                return NULL;
            int64_t dim = v->shape.d[i];
            const char *sym = lp_graph_sym_name(g, dim);
            if (lp_dim_known(dim)) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dim;
            } else if (sym) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = (char *)sym;
            }
            dims[i] = d;
        }
        tt->shape = sp;
    }
    return vi;
}

static Onnx__GraphProto *graph_proto(pool *p, const lp_graph *g, const char *const *outer_names, int depth);

/* The GraphProto of subgraph `sub` of node `n` (whose graph's value names are `names`). */
static Onnx__GraphProto *sub_proto(pool *p, const char *const *names, const lp_node *n, const lp_graph *sub,
                                   int depth)
{
    const char **outer = pool_alloc(p, (size_t)(sub->n_outer + 1) * sizeof *outer);
    if (!outer)
        return NULL;
    if (sub->n_outer != n->n_implicit) {
        lp_node_error(n, LOWP_ERR_INTERNAL, "a subgraph has %d outer values for %d implicit inputs", sub->n_outer,
                      n->n_implicit);
        p->failed = 2;
        return NULL;
    }
    for (int j = 0; j < sub->n_outer; j++)
        outer[j] = names[n->in[lp_node_n_explicit(n) + j]];
    return graph_proto(p, sub, outer, depth + 1);
}

static Onnx__AttributeProto *attr_proto(pool *p, const lp_attr *a, const char *const *names, const lp_node *n,
                                        int depth)
{
    Onnx__AttributeProto *ap = NEW(p, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
    if (!ap)
        return NULL;
    ap->name = a->name;
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    switch (a->type) {
    case LP_ATTR_FLOAT: ap->has_f = 1; ap->f = a->f; break;
    case LP_ATTR_INT: ap->has_i = 1; ap->i = a->i; break;
    case LP_ATTR_STRING: ap->has_s = 1; ap->s.len = a->s_len; ap->s.data = (uint8_t *)a->s; break;
    case LP_ATTR_TENSOR:
        if (!(ap->t = tensor_proto(p, a->t, NULL, NULL)))
            return NULL;
        break;
    case LP_ATTR_FLOATS: ap->n_floats = (size_t)a->n; ap->floats = a->floats; break;
    case LP_ATTR_INTS: ap->n_ints = (size_t)a->n; ap->ints = a->ints; break;
    case LP_ATTR_STRINGS:
        ap->n_strings = (size_t)a->n;
        if (!(ap->strings = pool_alloc(p, (size_t)a->n * sizeof *ap->strings)))
            return NULL;
        for (int i = 0; i < a->n; i++) {
            ap->strings[i].len = strlen(a->strings[i]);
            ap->strings[i].data = (uint8_t *)a->strings[i];
        }
        break;
    case LP_ATTR_GRAPH:
        if (!(ap->g = sub_proto(p, names, n, a->g, depth)))
            return NULL;
        break;
    case LP_ATTR_GRAPHS:
        ap->n_graphs = (size_t)a->n;
        if (!(ap->graphs = pool_alloc(p, (size_t)a->n * sizeof *ap->graphs)))
            return NULL;
        for (int i = 0; i < a->n; i++)
            if (!(ap->graphs[i] = sub_proto(p, names, n, a->graphs[i], depth)))
                return NULL;
        break;
    default:
        return NULL;
    }
    return ap;
}

/* A GraphProto for `g`; `outer_names` names a subgraph's outer values (NULL for the model's
 * graph), which are the enclosing graph's values and not written here. */
static Onnx__GraphProto *graph_proto(pool *p, const lp_graph *g, const char *const *outer_names, int depth)
{
    Onnx__GraphProto *gp = NEW(p, Onnx__GraphProto, ONNX__GRAPH_PROTO__INIT);
    const char **names = pool_alloc(p, (size_t)(g->n_values + 1) * sizeof *names);
    if (!gp || !names)
        return NULL;
    for (int v = 0; v < g->n_values; v++)
        names[v] = g->values[v].name;
    for (int j = 0; outer_names && j < g->n_outer; j++)
        names[g->outer[j]] = outer_names[j];
    gp->name = g->name ? g->name : "lowp";
    gp->doc_string = g->graph_doc;

    /* nodes (live ones, in order) */
    gp->node = pool_alloc(p, (size_t)g->n_nodes * sizeof *gp->node);
    for (int i = 0; gp->node && i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        Onnx__NodeProto *np = NEW(p, Onnx__NodeProto, ONNX__NODE_PROTO__INIT);
        if (!np)
            return NULL;
        np->name = n->name;
        np->op_type = n->op_type;
        np->domain = n->domain && *n->domain ? n->domain : NULL;
        np->doc_string = n->doc;
        np->n_input = (size_t)lp_node_n_explicit(n); /* implicit inputs are the subgraphs' to name */
        np->input = pool_alloc(p, (size_t)n->n_in * sizeof(char *));
        np->n_output = (size_t)n->n_out;
        np->output = pool_alloc(p, (size_t)n->n_out * sizeof(char *));
        np->n_attribute = 0; /* filled below; lowp's internal lowp_* attributes are never exported */
        np->attribute = pool_alloc(p, (size_t)n->n_attr * sizeof *np->attribute);
        if (!np->input || !np->output || !np->attribute)
            return NULL;
        for (int k = 0; k < n->n_in; k++)
            np->input[k] = n->in[k] >= 0 ? (char *)names[n->in[k]] : "";
        for (int k = 0; k < n->n_out; k++)
            np->output[k] = n->out[k] >= 0 ? (char *)names[n->out[k]] : "";
        for (int k = 0; k < n->n_attr; k++) {
            if (strncmp(n->attrs[k].name, "lowp_", 5) == 0)
                continue;
            if (n->attrs[k].type == LP_ATTR_UNDEFINED) {
                lp_node_error(n, LOWP_ERR_UNSUPPORTED, "attribute '%s' cannot be saved", n->attrs[k].name);
                p->failed = 2;
                return NULL;
            }
            if (!(np->attribute[np->n_attribute++] = attr_proto(p, &n->attrs[k], names, n, depth)))
                return NULL;
        }
        gp->node[gp->n_node++] = np;
    }

    /* initializers and values */
    int n_const = 0, n_listed = 0, n_vi = 0;
    for (int i = 0; i < g->n_values; i++) {
        const lp_value *v = &g->values[i];
        n_const += v->kind == LP_VALUE_CONST;
        n_listed += v->kind == LP_VALUE_CONST && v->init_listed_as_input;
        n_vi += v->kind == LP_VALUE_INTERMEDIATE && v->in_value_info && !v->is_output;
    }
    gp->initializer = pool_alloc(p, (size_t)n_const * sizeof *gp->initializer);
    gp->input = pool_alloc(p, (size_t)(g->n_inputs + n_listed) * sizeof *gp->input);
    gp->output = pool_alloc(p, (size_t)g->n_outputs * sizeof *gp->output);
    gp->value_info = pool_alloc(p, (size_t)n_vi * sizeof *gp->value_info);
    if (!gp->initializer || !gp->input || !gp->output || !gp->value_info)
        return NULL;
    for (int i = 0; i < g->n_inputs; i++)
        if (!(gp->input[gp->n_input++] = value_info(p, g, &g->values[g->inputs[i]], names[g->inputs[i]])))
            return NULL;
    for (int i = 0; i < g->n_values; i++) {
        const lp_value *v = &g->values[i];
        if (v->kind == LP_VALUE_CONST) {
            if (!(gp->initializer[gp->n_initializer++] = tensor_proto(p, v->init, names[i], v->doc)))
                return NULL;
            if (v->init_listed_as_input && !(gp->input[gp->n_input++] = value_info(p, g, v, names[i])))
                return NULL;
        } else if (v->kind == LP_VALUE_INTERMEDIATE && v->in_value_info && !v->is_output) {
            if (!(gp->value_info[gp->n_value_info++] = value_info(p, g, v, names[i])))
                return NULL;
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (!(gp->output[gp->n_output++] = value_info(p, g, &g->values[g->outputs[i]], names[g->outputs[i]])))
            return NULL;
    return gp;
}

static lp_status build(pool *p, const lp_graph *g, Onnx__ModelProto *mp)
{
    if (!(mp->graph = graph_proto(p, g, NULL, 0))) {
        if (!p->failed)
            p->failed = 1;
        return LP_OK; /* p->failed reports it */
    }
    mp->has_ir_version = 1;
    mp->ir_version = g->ir_version ? g->ir_version : 8;
    mp->producer_name = g->producer_name;
    mp->producer_version = g->producer_version;
    mp->domain = g->model_domain;
    mp->doc_string = g->model_doc;
    if (g->model_version) {
        mp->has_model_version = 1;
        mp->model_version = g->model_version;
    }
    mp->n_opset_import = (size_t)g->n_opsets;
    mp->opset_import = pool_alloc(p, (size_t)g->n_opsets * sizeof *mp->opset_import);
    for (int i = 0; mp->opset_import && i < g->n_opsets; i++) {
        Onnx__OperatorSetIdProto *o = NEW(p, Onnx__OperatorSetIdProto, ONNX__OPERATOR_SET_ID_PROTO__INIT);
        if (!o)
            return LP_OK;
        o->domain = g->opsets[i].domain;
        o->has_version = 1;
        o->version = g->opsets[i].version;
        mp->opset_import[i] = o;
    }
    mp->n_metadata_props = (size_t)g->n_meta;
    mp->metadata_props = pool_alloc(p, (size_t)g->n_meta * sizeof *mp->metadata_props);
    for (int i = 0; mp->metadata_props && i < g->n_meta; i++) {
        Onnx__StringStringEntryProto *kv = NEW(p, Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT);
        if (!kv)
            return LP_OK;
        kv->key = g->meta[i].key;
        kv->value = g->meta[i].value;
        mp->metadata_props[i] = kv;
    }
    return LP_OK;
}

lp_status lp_onnx_write(const lp_graph *g, uint8_t **data_out, size_t *size_out)
{
    pool p = { 0 };
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    lp_status st = build(&p, g, &mp);
    if (p.failed == 2) /* an error already recorded */
        st = LOWP_ERR_UNSUPPORTED;
    else if (st == LP_OK && p.failed)
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory serializing the model");
    if (st == LP_OK) {
        size_t size = onnx__model_proto__get_packed_size(&mp);
        uint8_t *buf = malloc(size ? size : 1);
        if (!buf)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory serializing the model (%zu bytes)", size);
        else {
            onnx__model_proto__pack(&mp, buf);
            *data_out = buf;
            *size_out = size;
        }
    }
    pool_free(&p);
    return st;
}
