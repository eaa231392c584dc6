/* chain_model.h — a serialized ONNX chain of n nodes (X -> ... -> Y, float [1]), shared by
 * tests/test_hostile.c and bench/graph_scale.c: large graphs for the linear-time checks. */
#ifndef LP_CHAIN_MODEL_H
#define LP_CHAIN_MODEL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx.pb-c.h"

/* X -> op0 -> op1 -> ... -> Y, node i an Identity when `identity`, else Add(., c) for even i and
 * Relu for odd i; the file lists the nodes in reverse when `reverse`. */
static inline uint8_t *chain_model(int n, bool reverse, bool identity, size_t *size)
{
    Onnx__NodeProto *nodes = calloc((size_t)n, sizeof *nodes), **np = calloc((size_t)n, sizeof *np);
    char(*names)[3][24] = calloc((size_t)n, sizeof *names);
    char *(*io)[3] = calloc((size_t)n, sizeof *io);
    for (int i = 0; i < n; i++) {
        Onnx__NodeProto *d = &nodes[i];
        onnx__node_proto__init(d);
        snprintf(names[i][0], 24, "n%d", i);
        snprintf(names[i][1], 24, i ? "v%d" : "X", i - 1);
        snprintf(names[i][2], 24, i == n - 1 ? "Y" : "v%d", i);
        d->name = names[i][0];
        d->op_type = identity ? "Identity" : i % 2 ? "Relu" : "Add";
        io[i][0] = names[i][1], io[i][1] = "c", io[i][2] = names[i][2];
        d->n_input = identity || i % 2 ? 1 : 2, d->input = io[i];
        d->n_output = 1, d->output = &io[i][2];
        np[reverse ? n - 1 - i : i] = d;
    }
    Onnx__TensorProto c = ONNX__TENSOR_PROTO__INIT;
    float half = 0.5f;
    c.name = "c", c.has_data_type = 1, c.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    c.n_float_data = 1, c.float_data = &half;
    Onnx__TensorProto *inits[] = { &c };
    Onnx__TensorShapeProto__Dimension d1 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE, d1.dim_value = 1;
    Onnx__TensorShapeProto__Dimension *dims[] = { &d1 };
    Onnx__TensorShapeProto sh = ONNX__TENSOR_SHAPE_PROTO__INIT;
    sh.n_dim = 1, sh.dim = dims;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = 1, tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt.shape = &sh;
    Onnx__TypeProto ty = ONNX__TYPE_PROTO__INIT;
    ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, ty.tensor_type = &tt;
    Onnx__ValueInfoProto in = ONNX__VALUE_INFO_PROTO__INIT, out = ONNX__VALUE_INFO_PROTO__INIT;
    in.name = "X", in.type = &ty;
    out.name = "Y";
    Onnx__ValueInfoProto *ip[] = { &in }, *op_[] = { &out };
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    gp.name = "chain", gp.n_node = (size_t)n, gp.node = np;
    gp.n_initializer = 1, gp.initializer = inits;
    gp.n_input = 1, gp.input = ip, gp.n_output = 1, gp.output = op_;
    Onnx__OperatorSetIdProto os = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    os.has_version = 1, os.version = 13;
    Onnx__OperatorSetIdProto *osp[] = { &os };
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    mp.has_ir_version = 1, mp.ir_version = 7, mp.n_opset_import = 1, mp.opset_import = osp, mp.graph = &gp;
    *size = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(*size);
    onnx__model_proto__pack(&mp, buf);
    free(nodes), free(np), free(names), free(io);
    return buf;
}

#endif
