/* test_onnx.c — ONNX load/save round trips, external data (and its escape checks), symbolic
 * dims, corrupt input, and graph passes that must not change results. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/session.h"
#include "ir/passes.h"
#include "lowp.h"
#include "onnx.pb-c.h"
#include "onnx/model.h"
#include "test.h"

static char tmpdir[256];

static lp_tensor *const_tensor(int ndim, const int64_t *dims, float seed)
{
    lp_tensor *t;
    if (lp_tensor_new(LP_F32, ndim, dims, &t) != LP_OK)
        return NULL;
    float *d = t->data;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        d[i] = seed * (float)((i * 37) % 11 - 5) / 7.0f;
    return t;
}

static int add_const(lp_graph *g, const char *name, int ndim, const int64_t *dims, float seed)
{
    int v;
    if (lp_graph_add_value(g, name, &v) != LP_OK)
        return -1;
    lp_graph_set_const(g, v, const_tensor(ndim, dims, seed));
    return v;
}

/* x[N,3] -> Gemm(W[4,3] transB, b[4]) -> Identity -> Relu -> y[N,4] */
static lp_graph *small_graph(void)
{
    lp_graph *g;
    if (lp_graph_new(&g) != LP_OK)
        return NULL;
    g->ir_version = 8;
    g->producer_name = strdup("lowp-test");
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    int x, h, i2, y;
    lp_graph_add_value(g, "x", &x);
    g->values[x].kind = LP_VALUE_INPUT;
    g->values[x].dtype = LP_F32;
    g->values[x].shape.ndim = 2;
    lp_graph_sym(g, "N", &g->values[x].shape.d[0]);
    g->values[x].shape.d[1] = 3;
    int64_t wd[2] = { 4, 3 }, bd[1] = { 4 };
    int w = add_const(g, "W", 2, wd, 1.0f), b = add_const(g, "b", 1, bd, 0.5f);
    lp_graph_add_value(g, "h", &h);
    lp_graph_add_value(g, "h2", &i2);
    lp_graph_add_value(g, "y", &y);
    int gin[3] = { x, w, b };
    int gi;
    lp_graph_add_node(g, "gemm", "Gemm", "", 3, gin, 1, &h, &gi);
    lp_attr tb = { .name = "transB", .type = LP_ATTR_INT, .i = 1 };
    lp_node_add_attr(&g->nodes[gi], &tb);
    lp_graph_add_node(g, "id", "Identity", "", 1, &h, 1, &i2, NULL);
    lp_graph_add_node(g, "relu", "Relu", "", 1, &i2, 1, &y, NULL);
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x;
    g->n_inputs = 1;
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = y;
    g->n_outputs = 1;
    g->values[y].is_output = true;
    g->values[y].dtype = LP_F32;
    return g;
}

/* Same nodes, attributes, value names, constants (bytes) and interface. */
static int graphs_equal(const lp_graph *a, const lp_graph *b)
{
    if (a->n_nodes != b->n_nodes || a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs ||
        a->ir_version != b->ir_version || lp_graph_opset(a, "") != lp_graph_opset(b, ""))
        return 0;
    for (int i = 0; i < a->n_nodes; i++) {
        const lp_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (strcmp(x->name, y->name) || strcmp(x->op_type, y->op_type) || x->n_in != y->n_in ||
            x->n_out != y->n_out || x->n_attr != y->n_attr)
            return 0;
        for (int k = 0; k < x->n_in; k++)
            if ((x->in[k] < 0) != (y->in[k] < 0) ||
                (x->in[k] >= 0 && strcmp(a->values[x->in[k]].name, b->values[y->in[k]].name)))
                return 0;
        for (int k = 0; k < x->n_attr; k++) {
            const lp_attr *p = &x->attrs[k], *q = lp_node_attr(y, p->name);
            if (!q || p->type != q->type || p->i != q->i || p->f != q->f || p->n != q->n)
                return 0;
            if (p->t && !lp_tensor_equal(p->t, q->t))
                return 0;
        }
    }
    int consts = 0;
    for (int v = 0; v < a->n_values; v++) {
        if (a->values[v].kind != LP_VALUE_CONST)
            continue;
        consts++;
        int w = lp_graph_find_value(b, a->values[v].name);
        if (w < 0 || b->values[w].kind != LP_VALUE_CONST || !lp_tensor_equal(a->values[v].init, b->values[w].init))
            return 0;
    }
    for (int v = 0; v < b->n_values; v++)
        consts -= b->values[v].kind == LP_VALUE_CONST;
    return consts == 0;
}

static void test_roundtrip_small(void)
{
    lp_graph *g = small_graph(), *g2 = NULL, *g3 = NULL;
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t n = 0, n2 = 0;
    CHECK_OK(lp_onnx_write(g, &buf, &n));
    CHECK_OK(lp_onnx_read(buf, n, NULL, "small", &g2));
    CHECK(g2 && graphs_equal(g, g2));
    if (g2) {
        int x = g2->inputs[0];
        CHECK(g2->values[x].shape.ndim == 2);
        CHECK(lp_graph_sym_name(g2, g2->values[x].shape.d[0]) &&
              strcmp(lp_graph_sym_name(g2, g2->values[x].shape.d[0]), "N") == 0);
        CHECK_OK(lp_onnx_write(g2, &buf2, &n2));
        CHECK(n == n2 && memcmp(buf, buf2, n) == 0); /* save is deterministic */
        CHECK_OK(lp_onnx_read(buf2, n2, NULL, "small2", &g3));
        CHECK(g3 && graphs_equal(g2, g3));
    }
    free(buf);
    free(buf2);
    lp_graph_free(g);
    lp_graph_free(g2);
    lp_graph_free(g3);
}

static void test_roundtrip_zoo(void)
{
    const char *models[] = { "models/resnet_s.onnx", "models/mobilenetv2_s.onnx", "models/mlp.onnx", "models/vit_s.onnx" };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        lowp_model *m = NULL, *m2 = NULL;
        char out[512];
        snprintf(out, sizeof out, "%s/rt.onnx", tmpdir);
        CHECK_OK(lowp_model_load(models[i], &m));
        if (!m)
            continue;
        CHECK_OK(lowp_model_save(m, out));
        CHECK_OK(lowp_model_load(out, &m2));
        CHECK_MSG(m2 && graphs_equal(m->graph, m2->graph), "%s: round trip changed the graph", models[i]);
        /* the zoo exports a symbolic batch dim */
        const lp_value *in = &m->graph->values[m->graph->inputs[0]];
        CHECK(in->shape.ndim == 4 && lp_graph_sym_name(m->graph, in->shape.d[0]));
        lowp_model_free(m);
        lowp_model_free(m2);
    }
}

/* Rewrites initializer `name` of a serialized model to live in `location` (external data). */
static int write_external_model(const char *path, const char *location, const char *data_file)
{
    lp_graph *g = small_graph();
    uint8_t *buf;
    size_t n;
    if (lp_onnx_write(g, &buf, &n) != LP_OK)
        return 0;
    lp_graph_free(g);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, buf);
    free(buf);
    Onnx__TensorProto *w = NULL;
    for (size_t i = 0; i < mp->graph->n_initializer; i++)
        if (strcmp(mp->graph->initializer[i]->name, "W") == 0)
            w = mp->graph->initializer[i];
    if (data_file) {
        FILE *f = fopen(data_file, "wb");
        fwrite("PAD!", 1, 4, f); /* data at offset 4 */
        fwrite(w->raw_data.data, 1, w->raw_data.len, f);
        fclose(f);
    }
    char off[16], len[32];
    snprintf(off, sizeof off, "4");
    snprintf(len, sizeof len, "%zu", w->raw_data.len);
    Onnx__StringStringEntryProto kv[3] = { ONNX__STRING_STRING_ENTRY_PROTO__INIT, ONNX__STRING_STRING_ENTRY_PROTO__INIT,
                                           ONNX__STRING_STRING_ENTRY_PROTO__INIT };
    kv[0].key = "location"; kv[0].value = (char *)location;
    kv[1].key = "offset"; kv[1].value = off;
    kv[2].key = "length"; kv[2].value = len;
    Onnx__StringStringEntryProto *kvp[3] = { &kv[0], &kv[1], &kv[2] };
    protobuf_c_boolean had = w->has_raw_data;
    w->has_raw_data = 0;
    w->has_data_location = 1;
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w->n_external_data = 3;
    Onnx__StringStringEntryProto **old = w->external_data;
    w->external_data = kvp;
    size_t size = onnx__model_proto__get_packed_size(mp);
    uint8_t *out = malloc(size);
    onnx__model_proto__pack(mp, out);
    w->external_data = old;
    w->n_external_data = 0;
    w->has_raw_data = had;
    onnx__model_proto__free_unpacked(mp, NULL);
    FILE *f = fopen(path, "wb");
    fwrite(out, 1, size, f);
    fclose(f);
    free(out);
    return 1;
}

static void test_external_data(void)
{
    char model[512], data[512], sub[384];
    snprintf(sub, sizeof sub, "%s/m", tmpdir);
    mkdir(sub, 0755);
    snprintf(model, sizeof model, "%s/ext.onnx", sub);
    snprintf(data, sizeof data, "%s/weights.bin", sub);
    CHECK(write_external_model(model, "weights.bin", data));
    lowp_model *m = NULL;
    CHECK_OK(lowp_model_load(model, &m));
    lp_graph *ref = small_graph();
    CHECK(m && graphs_equal(ref, m->graph));
    /* saving inlines the weights; the copy no longer needs weights.bin */
    char saved[512];
    snprintf(saved, sizeof saved, "%s/inline.onnx", tmpdir);
    if (m)
        CHECK_OK(lowp_model_save(m, saved));
    lowp_model_free(m);
    m = NULL;
    CHECK_OK(lowp_model_load(saved, &m));
    CHECK(m && graphs_equal(ref, m->graph));
    lowp_model_free(m);
    lp_graph_free(ref);

    /* locations that escape the model's folder are refused, naming the tensor */
    const char *bad[] = { "../outside.bin", "/etc/passwd", "sub/../../outside.bin" };
    char outside[512];
    snprintf(outside, sizeof outside, "%s/outside.bin", tmpdir);
    FILE *f = fopen(outside, "wb");
    fwrite("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, 64, f);
    fclose(f);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(write_external_model(model, bad[i], NULL));
        m = NULL;
        lowp_status st = lowp_model_load(model, &m);
        CHECK_MSG(st == LOWP_ERR_FORMAT && m == NULL && strstr(lowp_last_error(), "'W'"),
                  "location %s: status %d, message '%s'", bad[i], st, lowp_last_error());
    }
    /* a symlink inside the folder pointing outside is refused too */
    char link[512];
    snprintf(link, sizeof link, "%s/link.bin", sub);
    CHECK(symlink(outside, link) == 0);
    CHECK(write_external_model(model, "link.bin", NULL));
    m = NULL;
    CHECK(lowp_model_load(model, &m) == LOWP_ERR_FORMAT && !m);
    /* and from memory there is no folder at all */
    uint8_t *buf;
    size_t n;
    CHECK_OK(lp_read_file(model, &buf, &n));
    CHECK(lowp_model_load_from_memory(buf, n, NULL, &m) == LOWP_ERR_UNSUPPORTED && !m);
    free(buf);
}

static void test_corrupt(void)
{
    lowp_model *m = NULL;
    CHECK(lowp_model_load("/nonexistent/model.onnx", &m) == LOWP_ERR_IO && !m);
    CHECK(strstr(lowp_last_error(), "/nonexistent/model.onnx") != NULL);
    const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34 };
    CHECK(lowp_model_load_from_memory(junk, sizeof junk, NULL, &m) == LOWP_ERR_FORMAT && !m);
    /* every truncation of a real model fails cleanly or loads */
    uint8_t *buf;
    size_t n;
    lp_graph *g = small_graph();
    CHECK_OK(lp_onnx_write(g, &buf, &n));
    lp_graph_free(g);
    for (size_t cut = 0; cut < n; cut += 7) {
        lowp_status st = lowp_model_load_from_memory(buf, cut, NULL, &m);
        CHECK(st == LOWP_OK || st == LOWP_ERR_FORMAT);
        lowp_model_free(m);
        m = NULL;
    }
    free(buf);
}

static void test_unknown_op(void)
{
    lp_graph *g = small_graph();
    free(g->nodes[2].op_type);
    g->nodes[2].op_type = strdup("FancyRelu");
    g->nodes[2].op = lp_op_find("", "FancyRelu");
    lowp_session *s = NULL;
    CHECK(lp_session_create_graph(g, NULL, &s) == LOWP_ERR_UNSUPPORTED && !s);
    CHECK(strstr(lowp_last_error(), "FancyRelu") && strstr(lowp_last_error(), "relu"));
    lp_graph_free(g);
}

/* Sessions of g without (*s0) and with (*s1) the optimizing passes. */
static void both_sessions(const lp_graph *g, lowp_session **s0, lowp_session **s1)
{
    lowp_session_options o0 = lowp_session_options_default(), o1 = o0;
    o0.optimize = 0;
    *s0 = *s1 = NULL;
    CHECK_OK(lp_session_create_graph(g, &o0, s0));
    CHECK_OK(lp_session_create_graph(g, &o1, s1));
}

/* Both sessions give the same bits for the float32 input "x" of dims with values xs. */
static void same_results(lowp_session *s0, lowp_session *s1, int nd, const int64_t *dims, const float *xs)
{
    lowp_tensor *x = NULL, *y0 = NULL, *y1 = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, nd, dims, xs, &x));
    const char *name = "x";
    CHECK_OK(lowp_session_run(s0, 1, &name, (const lowp_tensor *const *)&x, 1, &y0));
    CHECK_OK(lowp_session_run(s1, 1, &name, (const lowp_tensor *const *)&x, 1, &y1));
    CHECK(y0 && y1 && lp_tensor_equal(y0, y1));
    lowp_tensor_free(x);
    lowp_tensor_free(y0);
    lowp_tensor_free(y1);
}

/* Optimized and unoptimized sessions agree (Identity removal, folding). */
static void test_passes_keep_results(void)
{
    lp_graph *g = small_graph();
    lowp_session *s0, *s1;
    both_sessions(g, &s0, &s1);
    if (s0 && s1) {
        int live = 0;
        for (int i = 0; i < s1->g->n_nodes; i++)
            live += !s1->g->nodes[i].dead;
        CHECK(live == 2); /* Identity removed */
        int64_t dims[2] = { 5, 3 };
        float xs[15];
        for (int i = 0; i < 15; i++)
            xs[i] = (float)i - 7.0f;
        same_results(s0, s1, 2, dims, xs);
        /* a wrong shape names the input and both shapes */
        int64_t bad[2] = { 5, 4 };
        lowp_tensor *xb = NULL, *yb = NULL;
        const char *name = "x";
        lowp_tensor_create(LOWP_FLOAT, 2, bad, NULL, &xb);
        CHECK(lowp_session_run(s1, 1, &name, (const lowp_tensor *const *)&xb, 1, &yb) == LOWP_ERR_SHAPE);
        CHECK(strstr(lowp_last_error(), "'x'") && strstr(lowp_last_error(), "[N,3]") && strstr(lowp_last_error(), "[5,4]"));
        lowp_tensor_free(xb);
    }
    lowp_session_free(s0);
    lowp_session_free(s1);
    lp_graph_free(g);
}

/* Casts to the type their input already has are removed (x -> Cast(float) -> Relu ->
 * Cast(double) -> Cast(float) -> Cast(float) = y: the first and the last go; the last is the
 * graph output, which the Cast before it then writes); results agree. */
static void test_noop_casts_removed(void)
{
    lp_graph *g = NULL;
    CHECK_OK(lp_graph_new(&g));
    if (!g)
        return;
    g->ir_version = 8;
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    int v[6];
    const char *names[6] = { "x", "c1", "r", "c2", "c3", "y" };
    for (int i = 0; i < 6; i++)
        lp_graph_add_value(g, names[i], &v[i]);
    g->values[v[0]].kind = LP_VALUE_INPUT;
    g->values[v[0]].dtype = LP_F32;
    g->values[v[0]].shape.ndim = 1;
    g->values[v[0]].shape.d[0] = 4;
    static const int64_t to[4] = { 1, 11, 1, 1 };
    int ni;
    lp_graph_add_node(g, "cast_same", "Cast", "", 1, &v[0], 1, &v[1], &ni);
    lp_attr a = { .name = "to", .type = LP_ATTR_INT, .i = to[0] };
    lp_node_add_attr(&g->nodes[ni], &a);
    lp_graph_add_node(g, "relu", "Relu", "", 1, &v[1], 1, &v[2], NULL);
    const char *cn[3] = { "cast_double", "cast_back", "cast_out" };
    for (int k = 0; k < 3; k++) {
        lp_graph_add_node(g, cn[k], "Cast", "", 1, &v[2 + k], 1, &v[3 + k], &ni);
        a.i = to[k + 1];
        lp_node_add_attr(&g->nodes[ni], &a);
    }
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = v[0];
    g->n_inputs = 1;
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = v[5];
    g->n_outputs = 1;
    g->values[v[5]].is_output = true;
    lowp_session *s0, *s1;
    both_sessions(g, &s0, &s1);
    if (s0 && s1) {
        char ops[128] = "";
        for (int i = 0; i < s1->g->n_nodes; i++)
            if (!s1->g->nodes[i].dead)
                snprintf(ops + strlen(ops), sizeof ops - strlen(ops), "%s%s", *ops ? "," : "", s1->g->nodes[i].name);
        CHECK_MSG(strcmp(ops, "relu,cast_double,cast_back") == 0, "nodes left: %s", ops);
        int y = lp_graph_find_value(s1->g, "y");
        CHECK(y >= 0 && s1->g->values[y].is_output && s1->g->values[y].producer >= 0 &&
              strcmp(s1->g->nodes[s1->g->values[y].producer].name, "cast_back") == 0);
        int64_t dims[1] = { 4 };
        float xs[4] = { -1.5f, 0.f, 2.25f, 1e30f };
        same_results(s0, s1, 1, dims, xs);
    }
    lowp_session_free(s0);
    lowp_session_free(s1);
    lp_graph_free(g);
}

int main(void)
{
    if (!lp_test_tmpdir(tmpdir, sizeof tmpdir, "test_onnx"))
        return 1;
    RUN(test_roundtrip_small);
    RUN(test_roundtrip_zoo);
    RUN(test_external_data);
    RUN(test_corrupt);
    RUN(test_unknown_op);
    RUN(test_passes_keep_results);
    RUN(test_noop_casts_removed);
    lp_test_rmtree(tmpdir);
    return TEST_SUMMARY("test_onnx");
}
