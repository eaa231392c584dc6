/* test_hostile.c — hostile inputs built here, each from an audit finding (issue 10): escape
 * sequences in messages, nesting bombs, folding bombs, non-regular files, huge graphs. Every
 * case builds its input itself and checks the refusal (or the result), never a timing. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/limits.h"
#include "lowp.h"
#include "onnx.pb-c.h"
#include "engine/session.h"
#include "onnx/model.h"
#include "test.h"
#include "chain_model.h"

static char tmpdir[256];

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f)
        fclose(f);
}

/* No control byte (C0 but tab-free, DEL) reaches the message; \xNN shows where they were. */
static int message_is_clean(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return 0;
    return 1;
}

/* ---- 13: messages quoting input escape control characters ---- */

static void test_escape_text(void)
{
    char out[64];
    lowp_escape_text(out, sizeof out, "a\x1b[2Jb\x07\xff\xc3\xa9\xc2\x9b");
    CHECK_MSG(strcmp(out, "a\\x1B[2Jb\\x07\\xFF\xc3\xa9\\xC2\\x9B") == 0, "got '%s'", out);
    /* cut before a character that does not fit, never in the middle of one */
    char small[6];
    lowp_escape_text(small, sizeof small, "ab\x1b");
    CHECK_MSG(strcmp(small, "ab") == 0, "got '%s'", small);
}

static void test_npy_header_escaped(void)
{
    /* a .npy header whose unexpected key clears the screen and sets the window title */
    char header[128];
    int hl = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), "
                                             "'\x1b]0;pwned\x07\x1b[2J': 1, }");
    while ((hl + 10) % 64 != 63)
        header[hl++] = ' ';
    header[hl++] = '\n';
    uint8_t file[256] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)hl, 0 };
    memcpy(file + 10, header, (size_t)hl);
    memset(file + 10 + hl, 0, 4);
    char path[512];
    snprintf(path, sizeof path, "%s/esc.npy", tmpdir);
    write_bytes(path, file, 10 + (size_t)hl + 4);
    lowp_tensor *t = NULL;
    CHECK(lowp_tensor_load_npy(path, &t) == LOWP_ERR_FORMAT && !t);
    const char *msg = lowp_last_error();
    CHECK_MSG(message_is_clean(msg) && strstr(msg, "\\x1B]0;pwned\\x07\\x1B[2J"), "message: %s", msg);
}

/* A model of one node `name` (op_type `op`) reading X and writing Y. */
static uint8_t *one_node_model(const char *name, const char *op, size_t *size)
{
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    Onnx__NodeProto np = ONNX__NODE_PROTO__INIT;
    Onnx__OperatorSetIdProto os = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__ValueInfoProto in = ONNX__VALUE_INFO_PROTO__INIT, out = ONNX__VALUE_INFO_PROTO__INIT;
    char *ins[] = { "X" }, *outs[] = { "Y" };
    np.name = (char *)name;
    np.op_type = (char *)op;
    np.n_input = 1, np.input = ins;
    np.n_output = 1, np.output = outs;
    Onnx__NodeProto *nodes[] = { &np };
    in.name = "X";
    out.name = "Y";
    Onnx__ValueInfoProto *ip[] = { &in }, *op_[] = { &out };
    gp.name = "g";
    gp.n_node = 1, gp.node = nodes;
    gp.n_input = 1, gp.input = ip;
    gp.n_output = 1, gp.output = op_;
    os.has_version = 1, os.version = 13;
    Onnx__OperatorSetIdProto *osp[] = { &os };
    mp.has_ir_version = 1, mp.ir_version = 7;
    mp.n_opset_import = 1, mp.opset_import = osp;
    mp.graph = &gp;
    *size = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(*size);
    onnx__model_proto__pack(&mp, buf);
    return buf;
}

static void test_node_name_escaped(void)
{
    size_t n;
    uint8_t *buf = one_node_model("evil\x1b]0;title\x07\x1b[2J", "NoSuchOp\x1b[31m", &n);
    lowp_model *m = NULL;
    lowp_session *s = NULL;
    CHECK_OK(lowp_model_load_from_memory(buf, n, NULL, &m));
    CHECK(m && lowp_session_create(m, NULL, &s) != LOWP_OK && !s);
    const char *msg = lowp_last_error();
    CHECK_MSG(message_is_clean(msg) && strstr(msg, "\\x1B[31m"), "message: %s", msg);
    lowp_model_free(m);
    free(buf);
}

/* ---- 14: the raw_data size message counts bytes ---- */

static void test_raw_data_message(void)
{
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[] = { 4 };
    uint8_t raw[17] = { 0 };
    tp.name = "w";
    tp.n_dims = 1, tp.dims = dims;
    tp.has_data_type = 1, tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp.has_raw_data = 1, tp.raw_data.len = sizeof raw, tp.raw_data.data = raw;
    uint8_t buf[128];
    size_t n = onnx__tensor_proto__pack(&tp, buf);
    lp_tensor *t = NULL;
    CHECK(lp_onnx_read_tensor(buf, n, "w.pb", &t) == LOWP_ERR_FORMAT && !t);
    CHECK_MSG(strstr(lowp_last_error(), "17 bytes of raw_data for 4 elements of 4 bytes: 16 bytes"),
              "message: %s", lowp_last_error());
}

/* ---- 1: nesting bombs, built on the wire ---- */

typedef struct wbuf {
    uint8_t *d;
    size_t n;
} wbuf;

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t k = 0;
    do {
        p[k++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return k;
}

/* b := pre + (field `field`, length-delimited: b) + post. */
static void wrap(wbuf *b, const void *pre, size_t npre, uint32_t field, const void *post, size_t npost)
{
    uint8_t head[24];
    size_t h = put_varint(head, (uint64_t)field << 3 | 2);
    h += put_varint(head + h, b->n);
    uint8_t *d = malloc(npre + h + b->n + npost);
    memcpy(d, pre, npre);
    memcpy(d + npre, head, h);
    if (b->n)
        memcpy(d + npre + h, b->d, b->n);
    memcpy(d + npre + h + b->n, post, npost);
    free(b->d);
    b->d = d;
    b->n = npre + h + b->n + npost;
}

/* A ModelProto whose graph holds an If whose then_branch holds an If ... `levels` deep. */
static wbuf nested_if_model(int levels)
{
    static const uint8_t gname[] = { 0x12, 1, 'g' };                     /* GraphProto.name */
    static const uint8_t attr_head[] = { 0x0a, 11, 't', 'h', 'e', 'n', '_', 'b', 'r', 'a', 'n', 'c', 'h',
                                         0xa0, 0x01, 5 };                 /* name, type = GRAPH */
    static const uint8_t node_head[] = { 0x1a, 2, 'i', 'f', 0x22, 2, 'I', 'f' }; /* name, op_type */
    static const uint8_t model_head[] = { 0x08, 7, 0x42, 2, 0x10, 13 }; /* ir_version, opset 13 */
    wbuf b = { malloc(sizeof gname), sizeof gname };
    memcpy(b.d, gname, sizeof gname);
    for (int k = 0; k < levels; k++) {
        wrap(&b, attr_head, sizeof attr_head, 6, "", 0);       /* AttributeProto.g */
        wrap(&b, node_head, sizeof node_head, 5, "", 0);       /* NodeProto.attribute */
        wrap(&b, "", 0, 1, gname, sizeof gname);               /* GraphProto.node */
    }
    wrap(&b, model_head, sizeof model_head, 7, "", 0);         /* ModelProto.graph */
    return b;
}

/* A ModelProto whose graph input has type sequence(sequence(...(tensor))) `levels` deep. */
static wbuf nested_type_model(int levels)
{
    static const uint8_t tensor[] = { 0x0a, 2, 0x08, 1 };                 /* tensor_type{elem_type 1} */
    wbuf b = { malloc(sizeof tensor), sizeof tensor };
    memcpy(b.d, tensor, sizeof tensor);
    for (int k = 0; k < levels; k++) {
        wrap(&b, "", 0, 1, "", 0);                                        /* Sequence.elem_type */
        wrap(&b, "", 0, 4, "", 0);                                        /* TypeProto.sequence_type */
    }
    wrap(&b, (const uint8_t[]){ 0x0a, 1, 'x' }, 3, 2, "", 0);             /* ValueInfoProto{name, type} */
    wrap(&b, "", 0, 11, "", 0);                                           /* GraphProto.input */
    wrap(&b, (const uint8_t[]){ 0x08, 7 }, 2, 7, "", 0);                  /* ModelProto.graph */
    return b;
}

static void test_nested_if_bomb(void)
{
    /* the audit's file: ~2,900 levels, about 92 KB; protobuf-c's unpack overflowed the stack */
    wbuf b = nested_if_model(2900);
    CHECK_MSG(b.n > 60000 && b.n < 200000, "%zu bytes", b.n);
    char path[512];
    snprintf(path, sizeof path, "%s/nested_if.onnx", tmpdir);
    write_bytes(path, b.d, b.n);
    lowp_model *m = NULL;
    CHECK(lowp_model_load(path, &m) == LOWP_ERR_UNSUPPORTED && !m);
    const char *msg = lowp_last_error();
    CHECK_MSG(strstr(msg, path) && strstr(msg, "nested deeper than 64") && strstr(msg, "node 'if'"), "message: %s", msg);
    free(b.d);
    /* the bound is exact: 64 levels pass the wire check, 65 do not */
    b = nested_if_model(LP_MAX_GRAPH_NESTING);
    CHECK_OK(lp_onnx_wire_check(b.d, b.n, "ok.onnx"));
    free(b.d);
    b = nested_if_model(LP_MAX_GRAPH_NESTING + 1);
    CHECK(lp_onnx_wire_check(b.d, b.n, "deep.onnx") == LOWP_ERR_UNSUPPORTED);
    free(b.d);
    /* a small nesting is not refused for its nesting (the loader reads subgraphs now; the last
     * error is stale after a success) */
    b = nested_if_model(3);
    lowp_status st = lowp_model_load_from_memory(b.d, b.n, NULL, &m);
    CHECK_MSG(st == LOWP_OK || !strstr(lowp_last_error(), "nested"), "status %d: %s", st, lowp_last_error());
    lowp_model_free(m);
    free(b.d);
}

static void test_nested_type_bomb(void)
{
    wbuf b = nested_type_model(20000);
    lowp_model *m = NULL;
    CHECK(lowp_model_load_from_memory(b.d, b.n, NULL, &m) == LOWP_ERR_UNSUPPORTED && !m);
    CHECK_MSG(strstr(lowp_last_error(), "nested deeper than 256"), "message: %s", lowp_last_error());
    free(b.d);
}

/* Wire-level nonsense is refused by the walk, naming the file. */
static void test_wire_nonsense(void)
{
    static const struct { const char *why; uint8_t bytes[8]; size_t n; } cases[] = {
        { "graph with a varint wire type", { 0x38, 0x01 }, 2 },
        { "length past the end", { 0x3a, 0x05, 0x0a }, 3 },
        { "group wire type", { 0x0b }, 1 },
        { "wire type 7", { 0x0f }, 1 },
        { "field 0", { 0x02, 0x00 }, 2 },
        { "overlong varint", { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 8 },
        { "node length past its graph", { 0x3a, 0x03, 0x0a, 0x05, 0x00 }, 5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lowp_status st = lp_onnx_wire_check(cases[i].bytes, cases[i].n, "junk.onnx");
        CHECK_MSG(st == LOWP_ERR_FORMAT && strstr(lowp_last_error(), "junk.onnx"), "%s: status %d: %s", cases[i].why,
                  st, lowp_last_error());
    }
    /* and a real model passes */
    size_t n;
    uint8_t *buf = one_node_model("relu", "Relu", &n);
    CHECK_OK(lp_onnx_wire_check(buf, n, "relu.onnx"));
    free(buf);
}

/* ---- 9: compile-time folding is capped ---- */

/* Y = X + ConstantOfShape(Constant [n]) ("bomb"): the bomb's n floats are constant, so folding
 * would materialize them at compile time. About 200 bytes. */
static uint8_t *fold_bomb_model(int64_t count, size_t *size)
{
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    Onnx__NodeProto shape = ONNX__NODE_PROTO__INIT, bomb = ONNX__NODE_PROTO__INIT, add = ONNX__NODE_PROTO__INIT;
    Onnx__AttributeProto value = ONNX__ATTRIBUTE_PROTO__INIT;
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    Onnx__OperatorSetIdProto os = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__ValueInfoProto in = ONNX__VALUE_INFO_PROTO__INIT, out = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__TypeProto ty = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    Onnx__TensorShapeProto sh = ONNX__TENSOR_SHAPE_PROTO__INIT;
    Onnx__TensorShapeProto__Dimension d1 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    int64_t one = 1;
    t.n_dims = 1, t.dims = &one;
    t.has_data_type = 1, t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t.n_int64_data = 1, t.int64_data = &count;
    value.name = "value", value.has_type = 1, value.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, value.t = &t;
    Onnx__AttributeProto *attrs[] = { &value };
    char *s_out[] = { "S" }, *b_in[] = { "S" }, *b_out[] = { "B" }, *a_in[] = { "X", "B" }, *a_out[] = { "Y" };
    shape.name = "shape", shape.op_type = "Constant", shape.n_output = 1, shape.output = s_out;
    shape.n_attribute = 1, shape.attribute = attrs;
    bomb.name = "bomb", bomb.op_type = "ConstantOfShape", bomb.n_input = 1, bomb.input = b_in;
    bomb.n_output = 1, bomb.output = b_out;
    add.name = "add", add.op_type = "Add", add.n_input = 2, add.input = a_in, add.n_output = 1, add.output = a_out;
    Onnx__NodeProto *nodes[] = { &shape, &bomb, &add };
    d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE, d1.dim_value = 1;
    Onnx__TensorShapeProto__Dimension *dims[] = { &d1 };
    sh.n_dim = 1, sh.dim = dims;
    tt.has_elem_type = 1, tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt.shape = &sh;
    ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, ty.tensor_type = &tt;
    in.name = "X", in.type = &ty;
    out.name = "Y";
    Onnx__ValueInfoProto *ip[] = { &in }, *op_[] = { &out };
    gp.name = "g", gp.n_node = 3, gp.node = nodes;
    gp.n_input = 1, gp.input = ip, gp.n_output = 1, gp.output = op_;
    os.has_version = 1, os.version = 13;
    Onnx__OperatorSetIdProto *osp[] = { &os };
    mp.has_ir_version = 1, mp.ir_version = 7, mp.n_opset_import = 1, mp.opset_import = osp, mp.graph = &gp;
    *size = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(*size);
    onnx__model_proto__pack(&mp, buf);
    return buf;
}

/* Loads the bomb from a file and runs it on X = [1]: the status; *y gets Y on success. */
static lowp_status run_fold_bomb(int64_t count, int optimize, const char *path, lowp_tensor **y)
{
    size_t n;
    uint8_t *buf = fold_bomb_model(count, &n);
    write_bytes(path, buf, n);
    free(buf);
    lowp_model *m = NULL;
    lowp_session *s = NULL;
    lowp_status st = lowp_model_load(path, &m);
    lowp_session_options o = lowp_session_options_default();
    o.optimize = optimize;
    if (st == LOWP_OK)
        st = lowp_session_create(m, &o, &s);
    int64_t one = 1;
    lowp_tensor *x = NULL;
    const float two = 2.0f;
    if (st == LOWP_OK)
        st = lowp_tensor_create(LOWP_FLOAT, 1, &one, &two, &x);
    if (st == LOWP_OK) {
        const char *names[] = { "X" };
        const lowp_tensor *ins[] = { x };
        st = lowp_session_run(s, 1, names, ins, 1, y);
    }
    lowp_tensor_free(x);
    lowp_session_free(s);
    lowp_model_free(m);
    return st;
}

static void test_fold_bomb(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fold_bomb.onnx", tmpdir);
    unsetenv("LOWP_FOLD_LIMIT");
    /* the audit's 2^31 floats (8 GB, 49 s) and 2^40 (a message naming neither file nor node),
     * with and without the graph passes: refused at once, naming the file, node and override */
    const int64_t counts[] = { INT64_C(1) << 31, INT64_C(1) << 40 };
    for (int c = 0; c < 2; c++)
        for (int opt = 0; opt < 2; opt++) {
            lowp_tensor *y = NULL;
            lowp_status st = run_fold_bomb(counts[c], opt, path, &y);
            const char *msg = lowp_last_error();
            CHECK_MSG(st == LOWP_ERR_UNSUPPORTED && !y && strstr(msg, path) && strstr(msg, "'bomb'") &&
                      strstr(msg, "LOWP_FOLD_LIMIT") && strstr(msg, "256.0 MiB"),
                      "2^%d, optimize %d: status %d: %s", c ? 40 : 31, opt, st, msg);
            lowp_tensor_free(y);
        }
    /* the cap is the environment's when set: 1024 floats are 4 KiB */
    for (int opt = 0; opt < 2; opt++) {
        lowp_tensor *y = NULL;
        setenv("LOWP_FOLD_LIMIT", "3K", 1);
        CHECK(run_fold_bomb(1024, opt, path, &y) == LOWP_ERR_UNSUPPORTED && !y);
        CHECK_MSG(strstr(lowp_last_error(), "4.0 KiB, more than the cap of 3.0 KiB"), "%s", lowp_last_error());
        setenv("LOWP_FOLD_LIMIT", "4096", 1);
        CHECK_OK(run_fold_bomb(1024, opt, path, &y));
        const float *yd = y ? (const float *)lowp_tensor_data(y) : NULL;
        CHECK(y && lowp_tensor_numel(y) == 1024 && yd[0] == 2.0f && yd[1023] == 2.0f);
        lowp_tensor_free(y);
        y = NULL;
        setenv("LOWP_FOLD_LIMIT", "lots", 1);
        CHECK(run_fold_bomb(1024, opt, path, &y) == LOWP_ERR_INVALID_ARGUMENT && !y);
        CHECK_MSG(strstr(lowp_last_error(), "LOWP_FOLD_LIMIT='lots'"), "%s", lowp_last_error());
    }
    unsetenv("LOWP_FOLD_LIMIT");
}

/* ---- 12: big graphs in linear time (checked for correctness here; bench/graph_scale.c times
 * them) ---- */

/* Runs the model on X = [x]; Y's single value (NAN on failure, with the message printed). */
static float run_scalar(const lowp_model *m, float x)
{
    lowp_session *s = NULL;
    lowp_tensor *xt = NULL, *y = NULL;
    int64_t one = 1;
    const char *names[] = { "X" };
    float r = NAN;
    if (lowp_session_create(m, NULL, &s) == LOWP_OK && lowp_tensor_create(LOWP_FLOAT, 1, &one, &x, &xt) == LOWP_OK &&
        lowp_session_run(s, 1, names, (const lowp_tensor *const[]){ xt }, 1, &y) == LOWP_OK)
        r = *(const float *)lowp_tensor_data(y);
    else
        printf("  run: %s\n", lowp_last_error());
    lowp_tensor_free(xt);
    lowp_tensor_free(y);
    lowp_session_free(s);
    return r;
}

static void test_big_reversed_chain(void)
{
    /* 60,000 nodes listed backwards: the old toposort swept the node list once per level
     * (quadratic: 80,000 nodes took 24 s to load) */
    const int n = 60000;
    size_t size;
    uint8_t *buf = chain_model(n, true, false, &size);
    lowp_model *m = NULL;
    CHECK_OK(lowp_model_load_from_memory(buf, size, NULL, &m));
    free(buf);
    if (!m)
        return;
    /* loaded in dependency order: node i reads what node i - 1 wrote */
    const lp_graph *g = m->graph;
    int bad = 0;
    for (int i = 1; i < g->n_nodes; i++)
        bad += g->values[g->nodes[i].in[0]].producer != i - 1;
    CHECK_MSG(g->n_nodes == n && bad == 0 && strcmp(g->nodes[0].name, "n0") == 0, "%d nodes, %d out of order", g->n_nodes, bad);
    /* compiles and computes: each Add adds 0.5, each Relu keeps it positive */
    float y = run_scalar(m, 1.0f);
    CHECK_MSG(y == 1.0f + 0.5f * (float)(n / 2), "y = %g", y);
    lowp_model_free(m);
}

static void test_big_identity_chain(void)
{
    /* 60,000 Identity nodes: the removal pass rewired readers with a scan per node and dead
     * node removal counted uses per node (quadratic); all go, Y = X */
    size_t size;
    uint8_t *buf = chain_model(60000, false, true, &size);
    lowp_model *m = NULL;
    CHECK_OK(lowp_model_load_from_memory(buf, size, NULL, &m));
    free(buf);
    if (!m)
        return;
    lowp_session *s = NULL;
    CHECK_OK(lowp_session_create(m, NULL, &s));
    CHECK_MSG(s && s->g->n_nodes <= 1, "%d nodes left after the passes", s ? s->g->n_nodes : -1);
    lowp_session_free(s);
    CHECK(run_scalar(m, 3.0f) == 3.0f);
    lowp_model_free(m);
}

/* The toposort still names a node of a cycle, and keeps a topological file order as is. */
static void test_toposort_cycle_and_order(void)
{
    size_t size;
    uint8_t *buf = chain_model(5, false, false, &size);
    lowp_model *m = NULL;
    CHECK_OK(lowp_model_load_from_memory(buf, size, NULL, &m));
    for (int i = 0; m && i < 5; i++) {
        char want[16];
        snprintf(want, sizeof want, "n%d", i);
        CHECK(strcmp(m->graph->nodes[i].name, want) == 0);
    }
    lp_graph *g = m ? m->graph : NULL;
    if (g) { /* n0 now reads n3's output: n0 -> n1 -> n2 -> n3 -> n0 */
        g->nodes[0].in[0] = g->nodes[3].out[0];
        CHECK(lp_graph_toposort(g) == LOWP_ERR_FORMAT && strstr(lowp_last_error(), "cycle"));
    }
    lowp_model_free(m);
    free(buf);
}

/* ---- 11: inputs must be regular files ---- */

/* A model whose one initializer W (4 floats) lives in external file `location`. */
static uint8_t *external_model(const char *location, size_t *size)
{
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT;
    Onnx__ValueInfoProto out = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__StringStringEntryProto kv = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    int64_t dims[] = { 4 };
    kv.key = "location", kv.value = (char *)location;
    Onnx__StringStringEntryProto *kvp[] = { &kv };
    w.name = "W";
    w.n_dims = 1, w.dims = dims;
    w.has_data_type = 1, w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    w.has_data_location = 1, w.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w.n_external_data = 1, w.external_data = kvp;
    Onnx__TensorProto *inits[] = { &w };
    out.name = "W";
    Onnx__ValueInfoProto *outs[] = { &out };
    gp.name = "g";
    gp.n_initializer = 1, gp.initializer = inits;
    gp.n_output = 1, gp.output = outs;
    mp.has_ir_version = 1, mp.ir_version = 7;
    mp.graph = &gp;
    *size = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(*size);
    onnx__model_proto__pack(&mp, buf);
    return buf;
}

/* `msg` refuses `path` as not a regular file. */
static int refuses_nonregular(lowp_status st, const char *path)
{
    const char *msg = lowp_last_error();
    return st != LOWP_OK && strstr(msg, path) && strstr(msg, "not a regular file");
}

static void test_non_regular_files(void)
{
    /* a FIFO nobody writes to would block open() and read() forever: the alarm turns a
     * regression into a failure (SIGALRM kills the test) rather than a hang */
    alarm(60);
    char fifo[300], dir[300], model[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
    snprintf(dir, sizeof dir, "%s/adir", tmpdir);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(mkdir(dir, 0700) == 0);
    const char *models[] = { "/dev/zero", fifo, dir };
    for (int i = 0; i < 3; i++) {
        lowp_model *m = NULL;
        CHECK_MSG(refuses_nonregular(lowp_model_load(models[i], &m), models[i]) && !m, "%s: %s", models[i],
                  lowp_last_error());
    }
    /* external data named by a model: a FIFO in the model's folder */
    size_t n;
    uint8_t *buf = external_model("fifo", &n);
    snprintf(model, sizeof model, "%s/ext.onnx", tmpdir);
    write_bytes(model, buf, n);
    free(buf);
    lowp_model *m = NULL;
    lowp_status st = lowp_model_load(model, &m);
    CHECK_MSG(refuses_nonregular(st, fifo) && strstr(lowp_last_error(), "'W'") && !m, "%s", lowp_last_error());
    /* and a regular external file still loads */
    char data[512];
    snprintf(data, sizeof data, "%s/w.bin", tmpdir);
    float w[4] = { 1, 2, 3, 4 };
    write_bytes(data, w, sizeof w);
    buf = external_model("w.bin", &n);
    write_bytes(model, buf, n);
    free(buf);
    CHECK_OK(lowp_model_load(model, &m));
    lowp_model_free(m);
    /* .npy, configurations, recipes, datasets */
    lowp_tensor *t = NULL;
    CHECK_MSG(refuses_nonregular(lowp_tensor_load_npy(fifo, &t), fifo) && !t, "%s", lowp_last_error());
    CHECK_MSG(refuses_nonregular(lowp_tensor_load_npy("/dev/zero", &t), "/dev/zero") && !t, "%s", lowp_last_error());
    lowp_config *c = NULL;
    CHECK_MSG(refuses_nonregular(lowp_config_load(fifo, &c), fifo) && !c, "%s", lowp_last_error());
    lowp_recipe *r = NULL;
    CHECK_MSG(refuses_nonregular(lowp_recipe_load(fifo, &r), fifo) && !r, "%s", lowp_last_error());
    lowp_params *p = NULL;
    lowp_dataset *ds = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "inputs", fifo));
    CHECK_MSG(refuses_nonregular(lowp_dataset_open("Npy", p, &ds), fifo) && !ds, "%s", lowp_last_error());
    lowp_params_free(p);
    p = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "root", dir));
    char idx[600];
    snprintf(idx, sizeof idx, "%s/t10k-images-idx3-ubyte", dir);
    CHECK(mkfifo(idx, 0600) == 0);
    snprintf(idx, sizeof idx, "%s/t10k-labels-idx1-ubyte", dir);
    CHECK(mkfifo(idx, 0600) == 0);
    CHECK_MSG(refuses_nonregular(lowp_dataset_open("FashionMNIST", p, &ds), dir) && !ds, "%s", lowp_last_error());
    lowp_params_free(p);
    alarm(0);
}

int main(void)
{
    if (!lp_test_tmpdir(tmpdir, sizeof tmpdir, "hostile"))
        return 1;
    RUN(test_escape_text);
    RUN(test_npy_header_escaped);
    RUN(test_node_name_escaped);
    RUN(test_raw_data_message);
    RUN(test_nested_if_bomb);
    RUN(test_nested_type_bomb);
    RUN(test_wire_nonsense);
    RUN(test_non_regular_files);
    RUN(test_fold_bomb);
    RUN(test_big_reversed_chain);
    RUN(test_big_identity_chain);
    RUN(test_toposort_cycle_and_order);
    lp_test_rmtree(tmpdir);
    return TEST_SUMMARY("test_hostile");
}
