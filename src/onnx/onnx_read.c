/* onnx_read.c — ONNX ModelProto / TensorProto (protobuf-c) -> lowp graph IR. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "base/limits.h"
#include "onnx/model.h"
#include "ops/op.h"

/* Context for messages: "model.onnx: initializer 'w': ..." */
typedef struct reader {
    const char *what;        /* the file (or "<memory>") */
    const char *base_dir;    /* external data folder, NULL: refused */
    const lp_graph *main;    /* the model's graph (subgraphs copy its opsets) */
    int *unnamed;            /* unnamed subgraph nodes named so far (names unique in the model) */
} reader;

static lp_status read_body(const reader *r, const Onnx__GraphProto *gp, lp_graph *g, int depth);

static lp_status bad(const reader *r, lp_status st, const char *fmt, const char *name, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, name ? name : "", detail ? detail : "");
    return lp_error(st, "%s: %s", r->what, msg);
}

/* ---- external data ---- */

/* Resolves `location` inside base_dir, refusing anything that escapes it (absolute paths,
 * '..' components, or symlinks that resolve outside). *path_out is malloc'ed. */
static lp_status external_path(const reader *r, const char *tensor, const char *location, char **path_out)
{
    if (!r->base_dir)
        return bad(r, LOWP_ERR_UNSUPPORTED, "tensor '%s' uses external data, which needs the model's folder (load it from a file)%s", tensor, NULL);
    if (!location || !*location || location[0] == '/' || strchr(location, '\\'))
        return bad(r, LOWP_ERR_FORMAT, "tensor '%s': external data location '%s' must be a relative path inside the model's folder", tensor, location ? location : "");
    for (const char *p = location; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return bad(r, LOWP_ERR_FORMAT, "tensor '%s': external data location '%s' escapes the model's folder", tensor, location);
        p += n + (e ? 1 : 0);
    }
    size_t len = strlen(r->base_dir) + strlen(location) + 2;
    char *path = malloc(len);
    char *real_base = realpath(r->base_dir, NULL), *real = NULL;
    if (!path || !real_base) {
        free(path);
        free(real_base);
        return bad(r, LOWP_ERR_IO, "tensor '%s': cannot resolve the model's folder%s", tensor, NULL);
    }
    snprintf(path, len, "%s/%s", r->base_dir, location);
    real = realpath(path, NULL);
    if (!real) {
        lp_status st = lp_error(LOWP_ERR_IO, "%s: tensor '%s': cannot open external data file '%s': %s", r->what, tensor, path, strerror(errno));
        free(path);
        free(real_base);
        return st;
    }
    size_t bl = strlen(real_base);
    int inside = strncmp(real, real_base, bl) == 0 && (real[bl] == '/' || (bl == 1 && real_base[0] == '/'));
    free(real);
    free(real_base);
    if (!inside) {
        free(path);
        return bad(r, LOWP_ERR_FORMAT, "tensor '%s': external data location '%s' resolves outside the model's folder", tensor, location);
    }
    *path_out = path;
    return LP_OK;
}

/* The external data's location and offset entries. */
static lp_status external_entries(const reader *r, const Onnx__TensorProto *tp, const char **location,
                                  long long *offset, long long *length)
{
    *location = NULL;
    *offset = 0;
    *length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        if (!kv->key || !kv->value)
            continue;
        char *end;
        if (strcmp(kv->key, "location") == 0)
            *location = kv->value;
        else if (strcmp(kv->key, "offset") == 0 || strcmp(kv->key, "length") == 0) {
            errno = 0;
            long long v = strtoll(kv->value, &end, 10);
            if (errno || *end || v < 0)
                return bad(r, LOWP_ERR_FORMAT, "tensor '%s': bad external data %s", tp->name, kv->key);
            if (kv->key[0] == 'o')
                *offset = v;
            else
                *length = v;
        }
    }
    return LP_OK;
}

/* Bytes available in the external file after the tensor's offset. */
static lp_status external_size(const reader *r, const Onnx__TensorProto *tp, size_t *size_out)
{
    const char *location;
    long long offset, length;
    LP_TRY(external_entries(r, tp, &location, &offset, &length));
    char *path = NULL;
    LP_TRY(external_path(r, tp->name, location, &path));
    int fd;
    uint64_t fsize;
    lp_status st = lp_file_open(path, 0, &fd, &fsize);
    free(path);
    if (st != LP_OK)
        return lp_error_prefix(st, "%s: tensor '%s': external data", r->what, tp->name);
    close(fd);
    *size_out = fsize > (uint64_t)offset ? (size_t)(fsize - (uint64_t)offset) : 0;
    return LP_OK;
}

static lp_status read_external(const reader *r, const Onnx__TensorProto *tp, lp_tensor *t)
{
    const char *location;
    long long offset, length;
    LP_TRY(external_entries(r, tp, &location, &offset, &length));
    if (length >= 0 && (size_t)length != t->nbytes)
        return bad(r, LOWP_ERR_FORMAT, "tensor '%s': external data length does not match its shape%s", tp->name, NULL);
    char *path = NULL;
    LP_TRY(external_path(r, tp->name, location, &path));
    FILE *f = NULL;
    lp_status st = lp_file_fopen(path, 0, &f, NULL);
    if (st != LP_OK)
        lp_error_prefix(st, "%s: tensor '%s': external data", r->what, tp->name);
    else if (fseeko(f, (off_t)offset, SEEK_SET) != 0 || fread(t->data, 1, t->nbytes, f) != t->nbytes)
        st = lp_error(LOWP_ERR_FORMAT, "%s: tensor '%s': external data file '%s' is shorter than offset %lld + %zu bytes",
                      r->what, tp->name, path, offset, t->nbytes);
    if (f)
        fclose(f);
    free(path);
    return st;
}

/* ---- tensors ---- */

static lp_status tensor_from_proto(const reader *r, const Onnx__TensorProto *tp, lp_tensor **out)
{
    const char *name = tp->name ? tp->name : "";
    lp_dtype dt = (lp_dtype)tp->data_type;
    if (!lp_dtype_valid(dt))
        return bad(r, LOWP_ERR_UNSUPPORTED, "tensor '%s' has data type %s, which lowp does not support", name,
                   lp_dtype_traits_of(dt)->name);
    if (tp->n_dims > LP_MAX_DIMS)
        return bad(r, LOWP_ERR_UNSUPPORTED, "tensor '%s' has more than 8 dims%s", name, NULL);
    if (tp->segment)
        return bad(r, LOWP_ERR_UNSUPPORTED, "tensor '%s' is segmented%s", name, NULL);
    int64_t dims[LP_MAX_DIMS];
    for (size_t i = 0; i < tp->n_dims; i++) {
        dims[i] = tp->dims[i];
        if (dims[i] < 0)
            return bad(r, LOWP_ERR_FORMAT, "tensor '%s' has a negative dim%s", name, NULL);
    }
    /* How many elements the dims declare, checked against the data actually present before
     * anything is allocated: a 1 KB file must not make us allocate gigabytes. */
    size_t esize = lp_dtype_traits_of(dt)->size;
    uint64_t n = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (dims[i] && n > (UINT64_C(1) << 40) / (uint64_t)dims[i])
            return bad(r, LOWP_ERR_FORMAT, "tensor '%s' declares more than 2^40 elements%s", name, NULL);
        n *= (uint64_t)dims[i];
    }
    bool external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t have = tp->has_raw_data ? tp->raw_data.len / (esize ? esize : 1)
                  : dt == LP_F32  ? tp->n_float_data
                  : dt == LP_F64  ? tp->n_double_data
                  : dt == LP_I64  ? tp->n_int64_data
                  : dt == LP_U32 || dt == LP_U64 ? tp->n_uint64_data
                                  : tp->n_int32_data;
    if (!external && (have != n || (tp->has_raw_data && tp->raw_data.len != n * esize))) {
        char detail[128];
        if (tp->has_raw_data)
            snprintf(detail, sizeof detail, " (%zu bytes of raw_data for %llu elements of %zu bytes: %llu bytes)",
                     tp->raw_data.len, (unsigned long long)n, esize, (unsigned long long)(n * esize));
        else
            snprintf(detail, sizeof detail, " (%zu values for %llu elements)", have, (unsigned long long)n);
        return bad(r, LOWP_ERR_FORMAT, "tensor '%s': data size does not match its shape%s", name, detail);
    }
    if (external) {
        size_t size = 0;
        LP_TRY(external_size(r, tp, &size));
        if (size < n * esize)
            return bad(r, LOWP_ERR_FORMAT, "tensor '%s': external data is shorter than its shape%s", name, NULL);
    }
    lp_tensor *t;
    if (lp_tensor_new(dt, (int)tp->n_dims, dims, &t) != LP_OK)
        return lp_error_prefix(LOWP_ERR_FORMAT, "%s: tensor '%s'", r->what, name);
    lp_status st = LP_OK;
    size_t count = (size_t)n;
    if (external) {
        st = read_external(r, tp, t);
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != t->nbytes)
            st = bad(r, LOWP_ERR_FORMAT, "tensor '%s': raw data size does not match its shape%s", name, NULL);
        else if (t->nbytes)
            memcpy(t->data, tp->raw_data.data, t->nbytes);
    } else if (dt == LP_F32) {
        if (n)
            memcpy(t->data, tp->float_data, t->nbytes);
    } else if (dt == LP_F64) {
        if (n)
            memcpy(t->data, tp->double_data, t->nbytes);
    } else if (dt == LP_I64) {
        if (n)
            memcpy(t->data, tp->int64_data, t->nbytes);
    } else if (dt == LP_U32 || dt == LP_U64) {
        for (size_t i = 0; i < count; i++) {
            if (dt == LP_U32)
                ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
            else
                ((uint64_t *)t->data)[i] = tp->uint64_data[i];
        }
    } else { /* int32_data carries int32 and all narrower types, fp16/bf16 as bits */
        for (size_t i = 0; i < count; i++) {
            int32_t v = tp->int32_data[i];
            if (esize == 4)
                ((int32_t *)t->data)[i] = v;
            else if (esize == 2)
                ((uint16_t *)t->data)[i] = (uint16_t)v;
            else
                ((uint8_t *)t->data)[i] = dt == LP_BOOL ? (v != 0) : (uint8_t)v;
        }
    }
    if (st != LP_OK) {
        lp_tensor_free(t);
        return st;
    }
    *out = t;
    return LP_OK;
}

lp_status lp_onnx_read_tensor(const void *data, size_t size, const char *what, lp_tensor **out)
{
    reader r = { .what = what ? what : "<memory>" };
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, data);
    if (!tp)
        return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX TensorProto (corrupt or truncated protobuf)", r.what);
    lp_status st = tensor_from_proto(&r, tp, out);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

/* ---- attributes ---- */

/* A subgraph of a node `depth` deep: its own IR graph, opsets copied from the model. */
static lp_status subgraph_from_proto(const reader *r, const Onnx__GraphProto *gp, int depth, const char *where,
                                     lp_graph **out)
{
    if (!gp)
        return bad(r, LOWP_ERR_FORMAT, "%s is a graph attribute without a graph%s", where, NULL);
    if (depth > LP_MAX_GRAPH_NESTING)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: %s: subgraphs nested more than %d deep", r->what, where,
                        LP_MAX_GRAPH_NESTING);
    lp_graph *g;
    LP_TRY(lp_graph_new(&g));
    lp_status st = LP_OK;
    if (r->main->n_opsets && !(g->opsets = calloc((size_t)r->main->n_opsets, sizeof *g->opsets)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
    for (int i = 0; st == LP_OK && i < r->main->n_opsets; i++) {
        g->opsets[i].version = r->main->opsets[i].version;
        if (!(g->opsets[i].domain = strdup(r->main->opsets[i].domain)))
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
        g->n_opsets++;
    }
    char what[1024];
    snprintf(what, sizeof what, "%s: %s", r->what, where);
    reader sub = *r;
    sub.what = what;
    if (st == LP_OK)
        st = read_body(&sub, gp, g, depth);
    if (st != LP_OK) {
        lp_graph_free(g);
        return st;
    }
    *out = g;
    return LP_OK;
}

static lp_status attr_from_proto(const reader *r, const Onnx__NodeProto *np, const Onnx__AttributeProto *ap, lp_attr *a,
                                 int depth)
{
    memset(a, 0, sizeof *a);
    const char *nn = np->name ? np->name : "";
    char where[300];
    snprintf(where, sizeof where, "node '%s' (%s) attribute '%s'", nn, np->op_type ? np->op_type : "", ap->name ? ap->name : "");
    if (!ap->name || !*ap->name)
        return bad(r, LOWP_ERR_FORMAT, "%s has no name%s", where, NULL);
    if (ap->ref_attr_name && *ap->ref_attr_name)
        return bad(r, LOWP_ERR_UNSUPPORTED, "%s refers to a function attribute%s", where, NULL);
    lp_attr_type type = ap->has_type ? (lp_attr_type)ap->type : LP_ATTR_UNDEFINED;
    if (type == LP_ATTR_UNDEFINED) { /* IR < 2 files: infer from which field is set */
        if (ap->has_f) type = LP_ATTR_FLOAT;
        else if (ap->has_i) type = LP_ATTR_INT;
        else if (ap->has_s) type = LP_ATTR_STRING;
        else if (ap->t) type = LP_ATTR_TENSOR;
        else if (ap->n_floats) type = LP_ATTR_FLOATS;
        else if (ap->n_ints) type = LP_ATTR_INTS;
        else if (ap->n_strings) type = LP_ATTR_STRINGS;
        else if (ap->g) type = LP_ATTR_GRAPH;
        else
            return bad(r, LOWP_ERR_FORMAT, "%s has no type and no value%s", where, NULL);
    }
    a->name = strdup(ap->name);
    a->type = type;
    if (!a->name)
        goto oom;
    switch (type) {
    case LP_ATTR_FLOAT: a->f = ap->f; break;
    case LP_ATTR_INT: a->i = ap->i; break;
    case LP_ATTR_STRING:
        a->s = malloc(ap->s.len + 1);
        if (!a->s)
            goto oom;
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = 0;
        a->s_len = ap->s.len;
        break;
    case LP_ATTR_TENSOR:
        if (!ap->t) {
            lp_attr_clear(a);
            return bad(r, LOWP_ERR_FORMAT, "%s is a tensor attribute without a tensor%s", where, NULL);
        }
        if (tensor_from_proto(r, ap->t, &a->t) != LP_OK) {
            lp_attr_clear(a);
            return lp_error_prefix(LOWP_ERR_FORMAT, "%s", where);
        }
        break;
    case LP_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        if (!(a->floats = malloc((ap->n_floats ? ap->n_floats : 1) * sizeof(float))))
            goto oom;
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case LP_ATTR_INTS:
        a->n = (int)ap->n_ints;
        if (!(a->ints = malloc((ap->n_ints ? ap->n_ints : 1) * sizeof(int64_t))))
            goto oom;
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case LP_ATTR_STRINGS:
        a->n = (int)ap->n_strings;
        if (!(a->strings = calloc(ap->n_strings ? ap->n_strings : 1, sizeof(char *))))
            goto oom;
        for (size_t i = 0; i < ap->n_strings; i++) {
            if (!(a->strings[i] = malloc(ap->strings[i].len + 1)))
                goto oom;
            if (ap->strings[i].len)
                memcpy(a->strings[i], ap->strings[i].data, ap->strings[i].len);
            a->strings[i][ap->strings[i].len] = 0;
        }
        break;
    case LP_ATTR_GRAPH: {
        lp_status st = subgraph_from_proto(r, ap->g, depth + 1, where, &a->g);
        if (st != LP_OK) {
            lp_attr_clear(a);
            return st;
        }
        break;
    }
    case LP_ATTR_GRAPHS:
        a->n = 0;
        if (!(a->graphs = calloc(ap->n_graphs ? ap->n_graphs : 1, sizeof *a->graphs)))
            goto oom;
        for (size_t i = 0; i < ap->n_graphs; i++) {
            lp_status st = subgraph_from_proto(r, ap->graphs[i], depth + 1, where, &a->graphs[i]);
            if (st != LP_OK) {
                lp_attr_clear(a);
                return st;
            }
            a->n++;
        }
        break;
    default:
        lp_attr_clear(a);
        return bad(r, LOWP_ERR_UNSUPPORTED, "%s holds a tensor list, sparse tensor or type; such attributes are not supported%s", where, NULL);
    }
    return LP_OK;
oom:
    lp_attr_clear(a);
    return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory reading %s", r->what, where);
}

/* ---- value infos ---- */

static lp_status read_type(const reader *r, lp_graph *g, const Onnx__ValueInfoProto *vi, lp_value *v)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return LP_OK; /* no type: leave unknown (subgraph outputs often have none) */
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return bad(r, LOWP_ERR_UNSUPPORTED, "value '%s' is not a tensor (sequence, map and optional types are not supported)%s", vi->name, NULL);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (!tt)
        return LP_OK;
    if (tt->has_elem_type)
        v->dtype = (lp_dtype)tt->elem_type;
    if (!tt->shape) {
        v->shape.ndim = -1;
        return LP_OK;
    }
    if (tt->shape->n_dim > LP_MAX_DIMS)
        return bad(r, LOWP_ERR_UNSUPPORTED, "value '%s' has more than 8 dims%s", vi->name, NULL);
    v->shape.ndim = (int)tt->shape->n_dim;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        v->shape.d[i] = LP_DIM_UNKNOWN;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
            v->shape.d[i] = d->dim_value;
        else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param && *d->dim_param)
            LP_TRY(lp_graph_sym(g, d->dim_param, &v->shape.d[i]));
    }
    return LP_OK;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* ---- the model ---- */

/* ---- scopes: a subgraph reads the enclosing graphs' values by name ---- */

/* Binds the names subgraphs of g's nodes read from outside themselves, innermost first:
 * a name a subgraph uses but does not define becomes one of its outer values and an
 * implicit input of the node owning it -- a value of g, which is in turn free in g when g
 * does not define it either (and bound one level up). */
static lp_status bind_graph(const reader *r, lp_graph *g, int depth)
{
    for (int i = 0; i < g->n_nodes; i++) {
        if (!lp_node_has_subgraphs(&g->nodes[i]))
            continue;
        if (depth + 1 > LP_MAX_GRAPH_NESTING)
            return lp_error(LOWP_ERR_UNSUPPORTED, "%s: subgraphs nested more than %d deep", r->what, LP_MAX_GRAPH_NESTING);
        for (int a = 0; a < g->nodes[i].n_attr; a++) {
            lp_attr *at = &g->nodes[i].attrs[a];
            int cnt = at->g ? 1 : at->graphs ? at->n : 0;
            for (int k = 0; k < cnt; k++) {
                lp_graph *sub = at->g ? at->g : at->graphs[k];
                LP_TRY(bind_graph(r, sub, depth + 1));
                for (int v = 0; v < sub->n_values; v++) {
                    const lp_value *val = &sub->values[v];
                    if (val->kind != LP_VALUE_INTERMEDIATE || val->producer >= 0)
                        continue;
                    int outer, slot;
                    LP_TRY(lp_graph_value(g, val->name, &outer));
                    LP_TRY(lp_node_add_implicit(g, i, outer, &slot));
                    at = &g->nodes[i].attrs[a];
                }
            }
        }
    }
    return LP_OK;
}

static lp_status toposort_sub(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)user; (void)depth;
    lp_status st = lp_graph_toposort(sub);
    if (st != LP_OK)
        return lp_error_prefix(st, "node '%s' (%s) subgraph '%s'", parent->nodes[node].name,
                               parent->nodes[node].op_type, sub->name ? sub->name : "");
    return LP_OK;
}

static lp_status read_body(const reader *r, const Onnx__GraphProto *gp, lp_graph *g, int depth)
{
    if (gp->n_sparse_initializer)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: sparse initializers are not supported", r->what);
    if (depth > 0 && !g->name)
        g->name = dup_or_null(gp->name);
    if (depth > 0 && !g->graph_doc)
        g->graph_doc = dup_or_null(gp->doc_string);

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return lp_error(LOWP_ERR_FORMAT, "%s: initializer %zu has no name", r->what, i);
        int v;
        if (lp_graph_add_value(g, tp->name, &v) != LP_OK)
            return lp_error(LOWP_ERR_FORMAT, "%s: initializer '%s' is defined twice", r->what, tp->name);
        lp_tensor *t;
        LP_TRY(tensor_from_proto(r, tp, &t));
        lp_graph_set_const(g, v, t);
        g->values[v].doc = dup_or_null(tp->doc_string);
    }
    g->inputs = calloc(gp->n_input + 1, sizeof *g->inputs);
    g->outputs = calloc(gp->n_output + 1, sizeof *g->outputs);
    if (!g->inputs || !g->outputs)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !*vi->name)
            return lp_error(LOWP_ERR_FORMAT, "%s: graph input %zu has no name", r->what, i);
        int v = lp_graph_find_value(g, vi->name);
        if (v >= 0 && g->values[v].kind == LP_VALUE_CONST) {
            g->values[v].init_listed_as_input = true;
            continue;
        }
        if (v >= 0)
            return lp_error(LOWP_ERR_FORMAT, "%s: graph input '%s' is listed twice", r->what, vi->name);
        LP_TRY(lp_graph_add_value(g, vi->name, &v));
        g->values[v].kind = LP_VALUE_INPUT;
        LP_TRY(read_type(r, g, vi, &g->values[v]));
        g->values[v].doc = dup_or_null(vi->doc_string);
        g->inputs[g->n_inputs++] = v;
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (!np->op_type || !*np->op_type)
            return lp_error(LOWP_ERR_FORMAT, "%s: node %zu ('%s') has no op_type", r->what, i, np->name ? np->name : "");
        int *in = calloc(np->n_input + 1, sizeof *in), *outv = calloc(np->n_output + 1, sizeof *outv);
        lp_status st = (in && outv) ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
        for (size_t k = 0; st == LP_OK && k < np->n_input; k++) {
            in[k] = -1;
            if (np->input[k] && *np->input[k])
                st = lp_graph_value(g, np->input[k], &in[k]);
        }
        for (size_t k = 0; st == LP_OK && k < np->n_output; k++) {
            outv[k] = -1;
            if (!np->output[k] || !*np->output[k])
                continue;
            int v = lp_graph_find_value(g, np->output[k]);
            if (v >= 0 && (g->values[v].producer >= 0 || g->values[v].kind != LP_VALUE_INTERMEDIATE))
                st = lp_error(LOWP_ERR_FORMAT, "%s: node '%s' (%s) writes value '%s', which is already defined",
                              r->what, np->name ? np->name : "", np->op_type, np->output[k]);
            else if (v < 0)
                st = lp_graph_add_value(g, np->output[k], &v);
            outv[k] = v;
        }
        char gen[300];
        const char *name = np->name;
        if ((!name || !*name) && depth > 0 && r->unnamed) {
            /* bodies number their nodes from 0 too: recipes and calibration find nodes by name,
             * so a body's generated names are unique in the model (then_Conv_1, else_Conv_2) */
            snprintf(gen, sizeof gen, "%.100s_%.100s_%d", gp->name && *gp->name ? gp->name : "body", np->op_type,
                     ++*r->unnamed);
            name = gen;
        } else if (!name || !*name) {
            snprintf(gen, sizeof gen, "%s_%zu", np->op_type, i);
            name = gen;
        }
        int idx = -1;
        if (st == LP_OK)
            st = lp_graph_add_node(g, name, np->op_type, np->domain, (int)np->n_input, in, (int)np->n_output, outv, &idx);
        free(in);
        free(outv);
        LP_TRY(st);
        lp_node *n = &g->nodes[idx];
        n->doc = dup_or_null(np->doc_string);
        for (size_t k = 0; k < np->n_attribute; k++) {
            lp_attr a;
            LP_TRY(attr_from_proto(r, np, np->attribute[k], &a, depth));
            st = lp_node_add_attr(&g->nodes[idx], &a);
            lp_attr_clear(&a);
            LP_TRY(st);
        }
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        int v = vi->name ? lp_graph_find_value(g, vi->name) : -1;
        if (v < 0 && depth > 0 && vi->name && *vi->name) /* a subgraph may return an outer value */
            LP_TRY(lp_graph_add_value(g, vi->name, &v));
        if (v < 0)
            return lp_error(LOWP_ERR_FORMAT, "%s: graph output '%s' is not produced by any node, input or initializer",
                            r->what, vi->name ? vi->name : "");
        g->values[v].is_output = true;
        lp_value tmp = { .shape = { .ndim = -1 } };
        LP_TRY(read_type(r, g, vi, &tmp));
        if (g->values[v].kind == LP_VALUE_INTERMEDIATE) {
            g->values[v].dtype = tmp.dtype;
            g->values[v].shape = tmp.shape;
        }
        g->outputs[g->n_outputs++] = v;
    }
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        int v = vi->name ? lp_graph_find_value(g, vi->name) : -1;
        if (v < 0 || g->values[v].kind != LP_VALUE_INTERMEDIATE || g->values[v].is_output)
            continue; /* hints about unknown values are harmless; ignore them */
        LP_TRY(read_type(r, g, vi, &g->values[v]));
        g->values[v].in_value_info = true;
    }
    return LP_OK;
}

static lp_status read_model(reader *r, const Onnx__ModelProto *mp, lp_graph *g)
{
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp)
        return lp_error(LOWP_ERR_FORMAT, "%s: the model has no graph", r->what);
    g->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    g->model_version = mp->has_model_version ? mp->model_version : 0;
    g->producer_name = dup_or_null(mp->producer_name);
    g->producer_version = dup_or_null(mp->producer_version);
    g->model_domain = dup_or_null(mp->domain);
    g->model_doc = dup_or_null(mp->doc_string);
    g->graph_doc = dup_or_null(gp->doc_string);
    g->name = dup_or_null(gp->name);
    if (mp->n_opset_import) {
        g->opsets = calloc(mp->n_opset_import, sizeof *g->opsets);
        if (!g->opsets)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
        for (size_t i = 0; i < mp->n_opset_import; i++) {
            const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
            g->opsets[i].domain = strdup(o->domain ? o->domain : "");
            g->opsets[i].version = o->has_version ? o->version : 0;
            g->n_opsets++;
            if (!g->opsets[i].domain)
                return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
        }
    }
    if (mp->n_metadata_props) {
        g->meta = calloc(mp->n_metadata_props, sizeof *g->meta);
        if (!g->meta)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
        for (size_t i = 0; i < mp->n_metadata_props; i++) {
            g->meta[i].key = strdup(mp->metadata_props[i]->key ? mp->metadata_props[i]->key : "");
            g->meta[i].value = strdup(mp->metadata_props[i]->value ? mp->metadata_props[i]->value : "");
            g->n_meta++;
            if (!g->meta[i].key || !g->meta[i].value)
                return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", r->what);
        }
    }
    r->main = g;
    LP_TRY(read_body(r, gp, g, 0));
    LP_TRY(bind_graph(r, g, 0));
    lp_status st = lp_graph_toposort(g);
    if (st == LP_OK)
        st = lp_graph_walk_subgraphs(g, toposort_sub, NULL);
    if (st != LP_OK)
        return lp_error_prefix(st, "%s", r->what);
    return LP_OK;
}

lp_status lp_onnx_read(const void *data, size_t size, const char *base_dir, const char *what, lp_graph **out)
{
    int unnamed = 0;
    reader r = { .what = what ? what : "<memory>", .base_dir = base_dir, .unnamed = &unnamed };
    LP_TRY(lp_onnx_wire_check(data, size, r.what));
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp)
        return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX model (corrupt or truncated protobuf)", r.what);
    lp_graph *g = NULL;
    lp_status st = lp_graph_new(&g);
    if (st == LP_OK)
        st = read_model(&r, mp, g);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st != LP_OK) {
        lp_graph_free(g);
        return st;
    }
    *out = g;
    return LP_OK;
}
