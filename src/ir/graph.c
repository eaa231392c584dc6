/* graph.c — building, copying, ordering and compacting the graph IR. */
#include "ir/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "ops/op.h"

static char *dupstr(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

#define OOM() lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory building the graph")

bool lp_shape_static(const lp_shape *s)
{
    if (s->ndim < 0)
        return false;
    for (int i = 0; i < s->ndim; i++)
        if (!lp_dim_known(s->d[i]))
            return false;
    return true;
}

lp_status lp_graph_new(lp_graph **out)
{
    lp_graph *g = calloc(1, sizeof *g);
    if (!g)
        return OOM();
    *out = g;
    return LP_OK;
}

void lp_attr_clear(lp_attr *a)
{
    free(a->name);
    free(a->s);
    lp_tensor_free(a->t);
    free(a->floats);
    free(a->ints);
    for (int i = 0; a->strings && i < a->n; i++)
        free(a->strings[i]);
    free(a->strings);
    lp_graph_free(a->g);
    for (int i = 0; a->graphs && i < a->n; i++)
        lp_graph_free(a->graphs[i]);
    free(a->graphs);
    memset(a, 0, sizeof *a);
}

static void node_clear(lp_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int i = 0; i < n->n_attr; i++)
        lp_attr_clear(&n->attrs[i]);
    free(n->attrs);
    free(n->doc);
    memset(n, 0, sizeof *n);
}

static void value_clear(lp_value *v)
{
    free(v->name);
    free(v->doc);
    lp_tensor_free(v->init);
    memset(v, 0, sizeof *v);
}

void lp_graph_free(lp_graph *g)
{
    if (!g)
        return;
    free(g->producer_name);
    free(g->producer_version);
    free(g->model_domain);
    free(g->model_doc);
    free(g->graph_doc);
    free(g->name);
    for (int i = 0; i < g->n_opsets; i++)
        free(g->opsets[i].domain);
    free(g->opsets);
    for (int i = 0; i < g->n_meta; i++) {
        free(g->meta[i].key);
        free(g->meta[i].value);
    }
    free(g->meta);
    for (int i = 0; i < g->n_values; i++)
        value_clear(&g->values[i]);
    free(g->values);
    lp_strmap_clear(&g->value_index);
    for (int i = 0; i < g->n_nodes; i++)
        node_clear(&g->nodes[i]);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    for (int i = 0; i < g->n_syms; i++)
        free(g->syms[i]);
    free(g->syms);
    free(g->outer);
    free(g);
}

/* Under AddressSanitizer every growth of a small array moves it, even within its capacity, so a
 * node or value pointer held across lp_graph_add_node/add_value (which may realloc) is a
 * use-after-free ASan reports on the small graphs of the tests, not only on the rare model
 * whose growth happens to move the block. Large arrays keep amortized growth (bounded cost). */
static lp_status grow(void **p, int *cap, int need, size_t elem)
{
#if defined(__SANITIZE_ADDRESS__)
    if (need <= *cap && *p && (size_t)*cap * elem < 256 * 1024) {
        void *q = malloc((size_t)*cap * elem);
        if (!q)
            return OOM();
        memcpy(q, *p, (size_t)*cap * elem);
        free(*p);
        *p = q;
        return LP_OK;
    }
#endif
    if (need <= *cap)
        return LP_OK;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return OOM();
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
    *p = q;
    *cap = c;
    return LP_OK;
}

static lp_status reindex(lp_graph *g)
{
    lp_strmap_clear(&g->value_index);
    for (int i = 0; i < g->n_values; i++)
        LP_TRY(lp_strmap_put(&g->value_index, g->values[i].name, i));
    return LP_OK;
}

int lp_graph_find_value(const lp_graph *g, const char *name)
{
    return lp_strmap_get(&g->value_index, name);
}

lp_status lp_graph_add_value(lp_graph *g, const char *name, int *index_out)
{
    if (lp_graph_find_value(g, name) >= 0)
        return lp_error(LOWP_ERR_FORMAT, "value '%s' is defined twice", name);
    LP_TRY(grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof *g->values));
    lp_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = dupstr(name);
    if (!v->name)
        return OOM();
    v->producer = -1;
    v->shape.ndim = -1;
    g->n_values++;
    if (index_out)
        *index_out = g->n_values - 1;
    return lp_strmap_put(&g->value_index, v->name, g->n_values - 1);
}

lp_status lp_graph_value(lp_graph *g, const char *name, int *index_out)
{
    int v = lp_graph_find_value(g, name);
    if (v < 0)
        LP_TRY(lp_graph_add_value(g, name, &v));
    *index_out = v;
    return LP_OK;
}

lp_status lp_graph_new_value(lp_graph *g, const char *prefix, int *index_out)
{
    char buf[256];
    for (int k = g->n_values;; k++) {
        snprintf(buf, sizeof buf, "%s_%d", prefix, k);
        if (lp_graph_find_value(g, buf) < 0)
            break;
    }
    return lp_graph_add_value(g, buf, index_out);
}

void lp_graph_set_const(lp_graph *g, int v, lp_tensor *t)
{
    lp_value *val = &g->values[v];
    lp_tensor_free(val->init);
    val->init = t;
    val->kind = LP_VALUE_CONST;
    val->producer = -1;
    val->dtype = t->dtype;
    lp_shape_of(t, &val->shape);
}

lp_status lp_graph_add_node(lp_graph *g, const char *name, const char *op_type,
                            const char *domain, int n_in, const int *in, int n_out,
                            const int *out, int *index_out)
{
    LP_TRY(grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes));
    lp_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = dupstr(name ? name : "");
    n->op_type = dupstr(op_type);
    n->domain = dupstr(domain ? domain : "");
    n->in = calloc((size_t)(n_in ? n_in : 1), sizeof *n->in);
    n->out = calloc((size_t)(n_out ? n_out : 1), sizeof *n->out);
    if (!n->name || !n->op_type || !n->domain || !n->in || !n->out) {
        node_clear(n);
        return OOM();
    }
    n->n_in = n_in;
    n->n_out = n_out;
    if (n_in)
        memcpy(n->in, in, (size_t)n_in * sizeof *in);
    if (n_out)
        memcpy(n->out, out, (size_t)n_out * sizeof *out);
    n->op = lp_op_find(n->domain, n->op_type);
    int idx = g->n_nodes++;
    for (int i = 0; i < n_out; i++)
        if (out[i] >= 0)
            g->values[out[i]].producer = idx;
    if (index_out)
        *index_out = idx;
    return LP_OK;
}

static lp_status clone_impl(const lp_graph *s, bool share_constants, lp_graph **out);

static lp_status attr_copy(lp_attr *d, const lp_attr *s, bool share_constants)
{
    memset(d, 0, sizeof *d);
    d->name = dupstr(s->name);
    d->type = s->type;
    d->f = s->f;
    d->i = s->i;
    d->n = s->n;
    d->s_len = s->s_len;
    if (!d->name)
        goto fail;
    if (s->s) {
        if (!(d->s = malloc(s->s_len + 1)))
            goto fail;
        memcpy(d->s, s->s, s->s_len + 1);
    }
    if (s->t && lp_tensor_clone(s->t, &d->t) != LP_OK)
        goto fail;
    if (s->floats) {
        if (!(d->floats = malloc((size_t)(s->n ? s->n : 1) * sizeof *d->floats)))
            goto fail;
        memcpy(d->floats, s->floats, (size_t)s->n * sizeof *d->floats);
    }
    if (s->ints) {
        if (!(d->ints = malloc((size_t)(s->n ? s->n : 1) * sizeof *d->ints)))
            goto fail;
        memcpy(d->ints, s->ints, (size_t)s->n * sizeof *d->ints);
    }
    if (s->strings) {
        if (!(d->strings = calloc((size_t)(s->n ? s->n : 1), sizeof *d->strings)))
            goto fail;
        for (int i = 0; i < s->n; i++)
            if (!(d->strings[i] = dupstr(s->strings[i])))
                goto fail;
    }
    if (s->g && clone_impl(s->g, share_constants, &d->g) != LP_OK)
        goto fail;
    if (s->graphs) {
        if (!(d->graphs = calloc((size_t)(s->n ? s->n : 1), sizeof *d->graphs)))
            goto fail;
        for (int i = 0; i < s->n; i++)
            if (clone_impl(s->graphs[i], share_constants, &d->graphs[i]) != LP_OK)
                goto fail;
    }
    return LP_OK;
fail:
    lp_attr_clear(d);
    return OOM();
}

static lp_status add_attr(lp_node *n, const lp_attr *a, bool share_constants)
{
    lp_attr *attrs = realloc(n->attrs, (size_t)(n->n_attr + 1) * sizeof *attrs);
    if (!attrs)
        return OOM();
    n->attrs = attrs;
    LP_TRY(attr_copy(&n->attrs[n->n_attr], a, share_constants));
    n->n_attr++;
    return LP_OK;
}

lp_status lp_node_add_attr(lp_node *n, const lp_attr *a) { return add_attr(n, a, false); }

lp_status lp_graph_sym(lp_graph *g, const char *name, int64_t *dim_out)
{
    for (int i = 0; i < g->n_syms; i++)
        if (strcmp(g->syms[i], name) == 0) {
            *dim_out = LP_DIM_SYM0 - i;
            return LP_OK;
        }
    char **s = realloc(g->syms, (size_t)(g->n_syms + 1) * sizeof *s);
    if (!s)
        return OOM();
    g->syms = s;
    if (!(g->syms[g->n_syms] = dupstr(name)))
        return OOM();
    *dim_out = LP_DIM_SYM0 - g->n_syms;
    g->n_syms++;
    return LP_OK;
}

const char *lp_graph_sym_name(const lp_graph *g, int64_t dim)
{
    if (dim > LP_DIM_SYM0)
        return NULL;
    int64_t k = LP_DIM_SYM0 - dim;
    return k < g->n_syms ? g->syms[k] : NULL;
}

const char *lp_graph_shape_str(const lp_graph *g, const lp_shape *s, char *buf, size_t size)
{
    if (s->ndim < 0) {
        snprintf(buf, size, "[...]");
        return buf;
    }
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s->ndim && k < size; i++) {
        const char *sym = lp_graph_sym_name(g, s->d[i]);
        if (lp_dim_known(s->d[i]))
            k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "", (long long)s->d[i]);
        else
            k += (size_t)snprintf(buf + k, size - k, "%s%s", i ? "," : "", sym ? sym : "?");
    }
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

const char *lp_graph_meta(const lp_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].value;
    return NULL;
}

lp_status lp_graph_set_meta(lp_graph *g, const char *key, const char *value)
{
    char *v = dupstr(value);
    if (!v)
        return OOM();
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0) {
            free(g->meta[i].value);
            g->meta[i].value = v;
            return LP_OK;
        }
    lp_kv *m = realloc(g->meta, (size_t)(g->n_meta + 1) * sizeof *m);
    if (!m) {
        free(v);
        return OOM();
    }
    g->meta = m;
    g->meta[g->n_meta].value = v;
    if (!(g->meta[g->n_meta].key = dupstr(key))) {
        free(v);
        return OOM();
    }
    g->n_meta++;
    return LP_OK;
}

int64_t lp_graph_opset(const lp_graph *g, const char *domain)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        domain = "";
    for (int i = 0; i < g->n_opsets; i++) {
        const char *d = g->opsets[i].domain ? g->opsets[i].domain : "";
        if (strcmp(d, "ai.onnx") == 0)
            d = "";
        if (strcmp(d, domain) == 0)
            return g->opsets[i].version;
    }
    return 0;
}

void lp_graph_link(lp_graph *g)
{
    for (int i = 0; i < g->n_values; i++)
        g->values[i].producer = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead)
            continue;
        for (int k = 0; k < g->nodes[i].n_out; k++)
            if (g->nodes[i].out[k] >= 0)
                g->values[g->nodes[i].out[k]].producer = i;
    }
}

int lp_graph_use_count(const lp_graph *g, int v)
{
    int uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead)
            continue;
        for (int k = 0; k < g->nodes[i].n_in; k++)
            uses += g->nodes[i].in[k] == v;
    }
    for (int i = 0; i < g->n_outputs; i++)
        uses += g->outputs[i] == v;
    return uses;
}

lp_status lp_graph_compact(lp_graph *g)
{
    int *remap = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *remap);
    char *used = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
    if (!remap || !used) {
        free(remap);
        free(used);
        return OOM();
    }
    int nn = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead) {
            node_clear(&g->nodes[i]);
            continue;
        }
        if (nn != i)
            g->nodes[nn] = g->nodes[i];
        lp_node *n = &g->nodes[nn++];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                used[n->in[k]] = 1;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                used[n->out[k]] = 1;
    }
    for (int i = nn; i < g->n_nodes; i++)
        memset(&g->nodes[i], 0, sizeof g->nodes[i]);
    g->n_nodes = nn;
    for (int i = 0; i < g->n_inputs; i++)
        used[g->inputs[i]] = 1;
    for (int i = 0; i < g->n_outputs; i++)
        used[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_outer; i++)
        used[g->outer[i]] = 1;
    int nv = 0;
    for (int i = 0; i < g->n_values; i++) {
        if (!used[i]) {
            value_clear(&g->values[i]);
            remap[i] = -1;
            continue;
        }
        remap[i] = nv;
        if (nv != i)
            g->values[nv] = g->values[i];
        nv++;
    }
    for (int i = nv; i < g->n_values; i++)
        memset(&g->values[i], 0, sizeof g->values[i]);
    g->n_values = nv;
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                n->in[k] = remap[n->in[k]];
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                n->out[k] = remap[n->out[k]];
    }
    for (int i = 0; i < g->n_inputs; i++)
        g->inputs[i] = remap[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++)
        g->outputs[i] = remap[g->outputs[i]];
    for (int i = 0; i < g->n_outer; i++)
        g->outer[i] = remap[g->outer[i]];
    free(remap);
    free(used);
    lp_graph_link(g);
    return reindex(g);
}

/* A binary min-heap of node indices: Kahn's algorithm takes the lowest-numbered ready node
 * first, so a graph already in topological order keeps its order exactly. */
static void heap_push(int *h, int *n, int x)
{
    int i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > x) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static int heap_pop(int *h, int *n)
{
    int top = h[0], x = h[--*n], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= x)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = x;
    return top;
}

lp_status lp_graph_consumers(const lp_graph *g, lp_consumers *c)
{
    size_t nv = (size_t)g->n_values;
    memset(c, 0, sizeof *c);
    c->start = calloc(nv + 1, sizeof *c->start);
    if (!c->start)
        return OOM();
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                c->start[g->nodes[i].in[k] + 1]++;
    for (size_t v = 0; v < nv; v++)
        c->start[v + 1] += c->start[v];
    int *fill = malloc((nv + 1) * sizeof *fill);
    c->node = malloc(((size_t)c->start[nv] + 1) * sizeof *c->node);
    if (!fill || !c->node) {
        free(fill);
        lp_consumers_free(c);
        return OOM();
    }
    memcpy(fill, c->start, nv * sizeof *fill);
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                c->node[fill[g->nodes[i].in[k]]++] = i;
    free(fill);
    return LP_OK;
}

void lp_consumers_free(lp_consumers *c)
{
    free(c->start);
    free(c->node);
    memset(c, 0, sizeof *c);
}

lp_status lp_graph_use_counts(const lp_graph *g, int **counts_out)
{
    int *u = calloc((size_t)g->n_values + 1, sizeof *u);
    if (!u)
        return OOM();
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                u[g->nodes[i].in[k]]++;
    for (int i = 0; i < g->n_outputs; i++)
        u[g->outputs[i]]++;
    *counts_out = u;
    return LP_OK;
}

/* Kahn's algorithm over the value -> readers index: O(edges + n log n). Dead nodes are
 * ready at once (nothing they read matters; lp_graph_compact drops them). */
lp_status lp_graph_toposort(lp_graph *g)
{
    int n = g->n_nodes;
    if (n == 0)
        return LP_OK;
    lp_graph_link(g);
    lp_consumers cons = { 0 };
    int *pending = calloc((size_t)n, sizeof *pending);   /* inputs whose producer is not placed */
    int *order = malloc((size_t)n * sizeof *order);
    int *heap = malloc((size_t)n * sizeof *heap);
    lp_node *sorted = malloc((size_t)n * sizeof *sorted);
    lp_status st = LP_OK;
    if (!pending || !order || !heap || !sorted || lp_graph_consumers(g, &cons) != LP_OK) {
        st = OOM();
        goto done;
    }
    for (int i = 0; i < n; i++) {
        lp_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_in && !nd->dead; k++) {
            int v = nd->in[k];
            if (v < 0)
                continue;
            if (g->values[v].producer < 0 && g->values[v].kind == LP_VALUE_INTERMEDIATE) {
                st = lp_node_error(nd, LOWP_ERR_FORMAT, "input '%s' is not produced by any node, "
                                   "graph input or initializer", g->values[v].name);
                goto done;
            }
            pending[i] += g->values[v].producer >= 0;
        }
    }
    int nh = 0, done_count = 0;
    for (int i = 0; i < n; i++)
        if (!pending[i])
            heap_push(heap, &nh, i);
    while (nh) {
        int i = heap_pop(heap, &nh);
        order[done_count++] = i;
        const lp_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_out; k++) {
            int v = nd->out[k];
            if (v < 0 || g->values[v].producer != i)
                continue; /* each value releases its readers once, from its producer */
            for (int r = cons.start[v]; r < cons.start[v + 1]; r++)
                if (--pending[cons.node[r]] == 0)
                    heap_push(heap, &nh, cons.node[r]);
        }
    }
    if (done_count < n) {
        for (int i = 0; i < n; i++)
            if (pending[i]) {
                st = lp_node_error(&g->nodes[i], LOWP_ERR_FORMAT, "the graph has a cycle through this node");
                goto done;
            }
    }
    for (int i = 0; i < n; i++)
        sorted[i] = g->nodes[order[i]];
    memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
    lp_graph_link(g);
done:
    lp_consumers_free(&cons);
    free(pending);
    free(order);
    free(heap);
    free(sorted);
    return st;
}

lp_status lp_graph_clone(const lp_graph *s, lp_graph **out) { return clone_impl(s, false, out); }
lp_status lp_graph_clone_shared(const lp_graph *s, lp_graph **out) { return clone_impl(s, true, out); }

/* A tensor header viewing `src`'s data. */
static lp_status view_of(const lp_tensor *src, lp_tensor **out)
{
    lp_tensor *t = malloc(sizeof *t);
    if (!t)
        return OOM();
    *t = *src;
    t->owns_data = false;
    *out = t;
    return LP_OK;
}

static lp_status clone_impl(const lp_graph *s, bool share_constants, lp_graph **out)
{
    lp_graph *g;
    LP_TRY(lp_graph_new(&g));
    g->ir_version = s->ir_version;
    g->model_version = s->model_version;
#define DUP(f) if (s->f && !(g->f = dupstr(s->f))) goto fail
    DUP(producer_name); DUP(producer_version); DUP(model_domain); DUP(model_doc); DUP(graph_doc); DUP(name);
#undef DUP
    if (s->n_opsets) {
        if (!(g->opsets = calloc((size_t)s->n_opsets, sizeof *g->opsets)))
            goto fail;
        g->n_opsets = s->n_opsets;
        for (int i = 0; i < s->n_opsets; i++) {
            g->opsets[i].version = s->opsets[i].version;
            if (!(g->opsets[i].domain = dupstr(s->opsets[i].domain ? s->opsets[i].domain : "")))
                goto fail;
        }
    }
    if (s->n_meta) {
        if (!(g->meta = calloc((size_t)s->n_meta, sizeof *g->meta)))
            goto fail;
        g->n_meta = s->n_meta;
        for (int i = 0; i < s->n_meta; i++)
            if (!(g->meta[i].key = dupstr(s->meta[i].key)) || !(g->meta[i].value = dupstr(s->meta[i].value)))
                goto fail;
    }
    for (int i = 0; i < s->n_syms; i++) {
        int64_t d;
        if (lp_graph_sym(g, s->syms[i], &d) != LP_OK)
            goto fail;
    }
    for (int i = 0; i < s->n_values; i++) {
        int v;
        if (lp_graph_add_value(g, s->values[i].name, &v) != LP_OK)
            goto fail;
        lp_value *d = &g->values[i];
        const lp_value *sv = &s->values[i];
        char *name = d->name;
        *d = *sv;
        d->name = name;
        d->init = NULL;
        d->doc = NULL;
        if (sv->doc && !(d->doc = dupstr(sv->doc)))
            goto fail;
        if (sv->init && (share_constants ? view_of(sv->init, &d->init) : lp_tensor_clone(sv->init, &d->init)) != LP_OK)
            goto fail;
    }
    for (int i = 0; i < s->n_nodes; i++) {
        const lp_node *sn = &s->nodes[i];
        if (lp_graph_add_node(g, sn->name, sn->op_type, sn->domain, sn->n_in, sn->in, sn->n_out, sn->out, NULL) != LP_OK)
            goto fail;
        lp_node *dn = &g->nodes[i];
        dn->dead = sn->dead;
        dn->op = sn->op;
        dn->n_implicit = sn->n_implicit;
        if (sn->doc && !(dn->doc = dupstr(sn->doc)))
            goto fail;
        for (int k = 0; k < sn->n_attr; k++)
            if (add_attr(dn, &sn->attrs[k], share_constants) != LP_OK)
                goto fail;
    }
    if (s->n_inputs && !(g->inputs = malloc((size_t)s->n_inputs * sizeof *g->inputs)))
        goto fail;
    if (s->n_outputs && !(g->outputs = malloc((size_t)s->n_outputs * sizeof *g->outputs)))
        goto fail;
    g->n_inputs = s->n_inputs;
    g->n_outputs = s->n_outputs;
    if (s->n_inputs)
        memcpy(g->inputs, s->inputs, (size_t)s->n_inputs * sizeof *g->inputs);
    if (s->n_outputs)
        memcpy(g->outputs, s->outputs, (size_t)s->n_outputs * sizeof *g->outputs);
    if (s->n_outer) {
        if (!(g->outer = malloc((size_t)s->n_outer * sizeof *g->outer)))
            goto fail;
        memcpy(g->outer, s->outer, (size_t)s->n_outer * sizeof *g->outer);
        g->n_outer = s->n_outer;
    }
    lp_graph_link(g);
    *out = g;
    return LP_OK;
fail:
    lp_graph_free(g);
    return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory copying the graph");
}

/* ---- subgraphs ---- */

bool lp_node_has_subgraphs(const lp_node *n)
{
    for (int i = 0; i < n->n_attr; i++)
        if (n->attrs[i].g || n->attrs[i].graphs)
            return true;
    return false;
}

lp_graph *lp_node_subgraph(const lp_node *n, const char *name)
{
    const lp_attr *a = lp_node_attr(n, name);
    return a && a->type == LP_ATTR_GRAPH ? a->g : NULL;
}

static lp_status walk(lp_graph *g, int depth, lp_subgraph_fn fn, void *user)
{
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attr; a++) {
            lp_attr *at = &n->attrs[a];
            int cnt = at->g ? 1 : at->graphs ? at->n : 0;
            for (int k = 0; k < cnt; k++) {
                lp_graph *sub = at->g ? at->g : at->graphs[k];
                if (depth + 1 > LP_MAX_GRAPH_NESTING)
                    return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "subgraphs nested more than %d deep",
                                         LP_MAX_GRAPH_NESTING);
                LP_TRY(fn(user, sub, g, i, depth + 1));
                LP_TRY(walk(sub, depth + 1, fn, user));
                n = &g->nodes[i]; /* fn may have added nodes or values to g */
            }
        }
    }
    return LP_OK;
}

lp_status lp_graph_walk_subgraphs(lp_graph *g, lp_subgraph_fn fn, void *user) { return walk(g, 0, fn, user); }

/* Appends an LP_VALUE_OUTER value named `name` to subgraph `sub`'s outer list (a local value
 * of that name that nothing defines becomes it). */
static lp_status add_outer(lp_graph *sub, const char *name)
{
    int v = lp_graph_find_value(sub, name);
    if (v >= 0 && (sub->values[v].kind != LP_VALUE_INTERMEDIATE || sub->values[v].producer >= 0)) {
        /* the subgraph defines the name itself: the outer value gets a fresh local name */
        LP_TRY(lp_graph_new_value(sub, name, &v));
    } else if (v < 0) {
        LP_TRY(lp_graph_add_value(sub, name, &v));
    }
    int *o = realloc(sub->outer, (size_t)(sub->n_outer + 1) * sizeof *o);
    if (!o)
        return OOM();
    sub->outer = o;
    sub->outer[sub->n_outer++] = v;
    sub->values[v].kind = LP_VALUE_OUTER;
    sub->values[v].producer = -1;
    return LP_OK;
}

lp_status lp_node_add_implicit(lp_graph *g, int ni, int v, int *slot_out)
{
    lp_node *n = &g->nodes[ni];
    for (int j = 0; j < n->n_implicit; j++)
        if (n->in[lp_node_n_explicit(n) + j] == v) {
            *slot_out = j;
            return LP_OK;
        }
    int *in = realloc(n->in, (size_t)(n->n_in + 1) * sizeof *in);
    if (!in)
        return OOM();
    n->in = in;
    n->in[n->n_in++] = v;
    n->n_implicit++;
    for (int a = 0; a < n->n_attr; a++) {
        lp_attr *at = &n->attrs[a];
        int cnt = at->g ? 1 : at->graphs ? at->n : 0;
        for (int k = 0; k < cnt; k++)
            LP_TRY(add_outer(at->g ? at->g : at->graphs[k], g->values[v].name));
    }
    *slot_out = n->n_implicit - 1;
    return LP_OK;
}

/* ---- attributes ---- */

const lp_attr *lp_node_attr(const lp_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t lp_attr_int(const lp_node *n, const char *name, int64_t dflt)
{
    const lp_attr *a = lp_node_attr(n, name);
    return a && a->type == LP_ATTR_INT ? a->i : dflt;
}

bool lp_conv_depthwise(const lp_graph *g, const lp_node *n, bool multiplier_one)
{
    if (n->op != LP_OP_Conv || n->n_in < 2 || n->in[1] < 0 || g->values[n->in[1]].kind != LP_VALUE_CONST)
        return false;
    const lp_tensor *w = g->values[n->in[1]].init;
    int64_t group = lp_attr_int(n, "group", 1);
    return w && group > 1 && w->ndim >= 3 && w->dims[1] == 1 && (!multiplier_one || w->dims[0] == group);
}

float lp_attr_float(const lp_node *n, const char *name, float dflt)
{
    const lp_attr *a = lp_node_attr(n, name);
    if (a && a->type == LP_ATTR_FLOAT)
        return a->f;
    if (a && a->type == LP_ATTR_INT)
        return (float)a->i;
    return dflt;
}

const char *lp_attr_str(const lp_node *n, const char *name, const char *dflt)
{
    const lp_attr *a = lp_node_attr(n, name);
    return a && a->type == LP_ATTR_STRING ? a->s : dflt;
}

int lp_attr_ints(const lp_node *n, const char *name, const int64_t **vals)
{
    const lp_attr *a = lp_node_attr(n, name);
    if (!a || a->type != LP_ATTR_INTS)
        return -1;
    *vals = a->ints;
    return a->n;
}

int lp_attr_floats(const lp_node *n, const char *name, const float **vals)
{
    const lp_attr *a = lp_node_attr(n, name);
    if (!a || a->type != LP_ATTR_FLOATS)
        return -1;
    *vals = a->floats;
    return a->n;
}

lp_status lp_node_error(const lp_node *n, lp_status status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lp_error(status, "node '%s' (%s): %s", n->name, n->op_type, msg);
}
