/* wire_check.c — a walk over a serialized ModelProto's protobuf wire format, before protobuf-c
 * unpacks it: protobuf-c's unpack recurses once per nested message, so a 92 KB file of If
 * bodies nested 2,900 deep overflows the stack. The walk is iterative (an explicit stack),
 * descends only into the fields whose messages can nest (graphs, nodes, attributes, types),
 * refuses nesting past the documented bounds (base/limits.h) and wire-level nonsense (bad wire
 * types, lengths past the end of the enclosing message, overlong varints), naming the file. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "onnx/model.h"

typedef enum kind { K_MODEL, K_TRAINING, K_FUNCTION, K_GRAPH, K_NODE, K_ATTR, K_VALUE_INFO, K_TYPE,
                    K_TYPE_ELEM, K_TYPE_MAP, K_SPARSE, K_OTHER } kind;

static const char *const kind_names[] = { "ModelProto", "TrainingInfoProto", "FunctionProto", "GraphProto",
                                          "NodeProto", "AttributeProto", "ValueInfoProto", "TypeProto",
                                          "TypeProto.Sequence/Optional", "TypeProto.Map", "SparseTensorProto",
                                          "message" };

/* The message-typed fields (onnx.proto) on the paths along which messages can nest. Any other
 * length-delimited field is skipped whole (tensors do not nest). */
static const struct { kind parent; uint32_t field; kind child; } children[] = {
    { K_MODEL, 7, K_GRAPH },       { K_MODEL, 20, K_TRAINING },    { K_MODEL, 25, K_FUNCTION },
    { K_TRAINING, 1, K_GRAPH },    { K_TRAINING, 2, K_GRAPH },     { K_FUNCTION, 7, K_NODE },
    { K_GRAPH, 1, K_NODE },        { K_GRAPH, 11, K_VALUE_INFO },  { K_GRAPH, 12, K_VALUE_INFO },
    { K_GRAPH, 13, K_VALUE_INFO }, { K_GRAPH, 15, K_SPARSE },      { K_NODE, 5, K_ATTR },
    { K_ATTR, 6, K_GRAPH },        { K_ATTR, 11, K_GRAPH },        { K_ATTR, 14, K_TYPE },
    { K_ATTR, 15, K_TYPE },        { K_ATTR, 22, K_SPARSE },       { K_ATTR, 23, K_SPARSE },
    { K_VALUE_INFO, 2, K_TYPE },   { K_TYPE, 4, K_TYPE_ELEM },     { K_TYPE, 5, K_TYPE_MAP },
    { K_TYPE, 9, K_TYPE_ELEM },    { K_TYPE_ELEM, 1, K_TYPE },     { K_TYPE_MAP, 2, K_TYPE },
};

typedef struct frame {
    kind k;
    size_t end;              /* offset just past this message */
    const uint8_t *name;     /* a NodeProto's name, when seen */
    size_t name_len;
} frame;

static int child_kind(kind parent, uint32_t field)
{
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
        if (children[i].parent == parent && children[i].field == field)
            return (int)children[i].child;
    return -1;
}

/* Reads a varint at *p (< end); false if it runs past `end` or past 10 bytes. */
static bool varint(const uint8_t *d, size_t *p, size_t end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = d[(*p)++];
        if (shift == 63 && b > 1)
            return false;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* "node 'If_0' (the outermost node on the path)" for messages, or "". */
static void where(const frame *st, int depth, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i <= depth; i++)
        if (st[i].k == K_NODE && st[i].name) {
            int n = st[i].name_len > 200 ? 200 : (int)st[i].name_len;
            snprintf(buf, size, " in node '%.*s'", n, (const char *)st[i].name);
            return;
        }
}

lp_status lp_onnx_wire_check(const void *data, size_t size, const char *what)
{
    const uint8_t *d = data;
    frame st[LP_MAX_PROTO_DEPTH + 1];
    int depth = 0, graphs = 0;   /* graphs: GraphProto frames on the stack */
    char at[256];
    st[0] = (frame){ .k = K_MODEL, .end = size };
    size_t p = 0;
    for (;;) {
        while (depth >= 0 && p == st[depth].end) {
            graphs -= st[depth].k == K_GRAPH;
            depth--;
        }
        if (depth < 0)
            return LP_OK;
        frame *f = &st[depth];
        size_t tag_at = p;
        uint64_t tag, v;
        if (!varint(d, &p, f->end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF)
            return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX model: bad field tag at byte %zu (in a %s)",
                            what, tag_at, kind_names[f->k]);
        uint32_t field = (uint32_t)(tag >> 3);
        int wt = (int)(tag & 7), ck = child_kind(f->k, field);
        if (ck >= 0 && wt != 2)
            return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX model: field %u of a %s at byte %zu has wire type %d, "
                            "not a message", what, field, kind_names[f->k], tag_at, wt);
        switch (wt) {
        case 0:
            if (!varint(d, &p, f->end, &v))
                return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX model: bad varint at byte %zu", what, p);
            continue;
        case 1:
        case 5: {
            size_t n = wt == 1 ? 8 : 4;
            if (f->end - p < n)
                return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX model: field %u at byte %zu runs past the end of its %s",
                                what, field, tag_at, kind_names[f->k]);
            p += n;
            continue;
        }
        case 2:
            break;
        default: /* groups (3, 4) are not used by ONNX; 6 and 7 do not exist */
            return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX model: field %u at byte %zu has wire type %d",
                            what, field, tag_at, wt);
        }
        if (!varint(d, &p, f->end, &v) || v > f->end - p)
            return lp_error(LOWP_ERR_FORMAT, "%s: not a valid ONNX model: field %u at byte %zu is longer than its %s",
                            what, field, tag_at, kind_names[f->k]);
        if (f->k == K_NODE && field == 3) {
            f->name = d + p;
            f->name_len = (size_t)v;
        }
        if (ck < 0) {
            p += (size_t)v;
            continue;
        }
        if (ck == K_GRAPH && graphs > LP_MAX_GRAPH_NESTING) {
            where(st, depth, at, sizeof at);
            return lp_error(LOWP_ERR_UNSUPPORTED, "%s: graph attributes (If/Loop/Scan bodies) nested deeper than %d levels "
                            "at byte %zu%s (LP_MAX_GRAPH_NESTING, docs/limits.md)", what, LP_MAX_GRAPH_NESTING, tag_at, at);
        }
        if (depth == LP_MAX_PROTO_DEPTH) {
            where(st, depth, at, sizeof at);
            return lp_error(LOWP_ERR_UNSUPPORTED, "%s: messages (graphs, nodes, attributes, types) nested deeper than %d "
                            "levels at byte %zu%s (LP_MAX_PROTO_DEPTH, docs/limits.md)", what, LP_MAX_PROTO_DEPTH, tag_at, at);
        }
        graphs += ck == K_GRAPH;
        st[++depth] = (frame){ .k = (kind)ck, .end = p + (size_t)v };
    }
}
