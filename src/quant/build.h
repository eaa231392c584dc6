/* build.h — small graph-building helpers shared by the static and dynamic quantizers. */
#ifndef LP_QUANT_BUILD_H
#define LP_QUANT_BUILD_H

#include "ir/graph.h"

/* A new constant value (name made unique from `name`) holding `t` (ownership passes, also on
 * failure). */
lp_status lp_qb_const(lp_graph *g, const char *name, lp_tensor *t, int *v_out);
/* A 0-d constant of dtype `dt` holding `val`. */
lp_status lp_qb_scalar(lp_graph *g, const char *name, lp_dtype dt, double val, int *v_out);
/* A fresh intermediate value. */
lp_status lp_qb_value(lp_graph *g, const char *name, int *v_out);
/* A node of the default domain; `*idx_out` may be NULL. */
lp_status lp_qb_node(lp_graph *g, const char *op, const char *name, int n_in, const int *in, int n_out,
                     const int *out, int *idx_out);
lp_status lp_qb_attr_int(lp_graph *g, int node, const char *name, int64_t v);

/* Symmetric int8 quantization of float weight `w` along `axis` (-1: one scale for all):
 * q = round_half_even(w / s_c) clamped to [-127, 127], s_c = max|w_c| / 127 (1 for an all-zero
 * channel). *q_out is int8 with w's shape; *scales_out (malloc'ed) has *n_out entries. */
lp_status lp_quantize_weight(const lp_tensor *w, int axis, lp_tensor **q_out, float **scales_out, int64_t *n_out);
/* The same with `bits` (2..8) bits: q in [-(2^(bits-1) - 1), 2^(bits-1) - 1], s_c = max|w_c| / that
 * bound; stored as int8 (ONNX has no narrower type every runtime takes). */
lp_status lp_quantize_weight_bits(const lp_tensor *w, int axis, int bits, lp_tensor **q_out, float **scales_out,
                                  int64_t *n_out);
/* The same into type `dt`: LP_I8 as above (zero point 0); LP_U8 symmetric with the one zero
 * point 128 (q in [1, 255]), per tensor or per channel — ONNX Runtime's ConvInteger takes only a
 * scalar weight zero point and runs uint8 weights fastest, and every q - 128 fits int8, which
 * oneDNN's INT8 convolutions take as they are (an asymmetric range needs a correction pass per
 * run). *zp_out gets the zero point (128 or 0). */
lp_status lp_quantize_weight_as(const lp_tensor *w, int axis, lp_dtype dt, lp_tensor **q_out, float **scales_out,
                                int64_t *n_out, int32_t *zp_out);

#endif
