/* model.h — the public lowp_model handle: a graph IR plus where it came from. */
#ifndef LP_MODEL_H
#define LP_MODEL_H

#include "base/file.h"
#include "base/outfile.h"
#include "ir/graph.h"

struct lowp_model {
    lp_graph *graph;
    char *path;        /* the file it was loaded from, or NULL */
};

/* Reads an ONNX ModelProto from memory into a new graph. `base_dir` is where external
 * data lives (NULL: external data refused); `what` names the source in messages. */
lp_status lp_onnx_read(const void *data, size_t size, const char *base_dir, const char *what,
                       lp_graph **out);
/* Walks a serialized ModelProto's wire format without recursion and refuses nesting past
 * LP_MAX_GRAPH_NESTING / LP_MAX_PROTO_DEPTH and malformed wire data, naming `what`. Called by
 * lp_onnx_read before protobuf-c's (recursive) unpack. */
lp_status lp_onnx_wire_check(const void *data, size_t size, const char *what);
/* Serializes a graph as an ONNX ModelProto (weights inline) into a malloc'ed buffer. */
lp_status lp_onnx_write(const lp_graph *g, uint8_t **data_out, size_t *size_out);
/* Parses a serialized TensorProto (a .pb file of ONNX's test data) into a tensor. */
lp_status lp_onnx_read_tensor(const void *data, size_t size, const char *what, lp_tensor **out);

/* lp_write_file_atomic (a temporary in the same folder, then a rename) is in base/outfile.h. */

#endif
