/* dnnl.h — the oneDNN backend: fast FP32/BF16 kernels for the ops oneDNN runs well, with
 * fusion of post-ops (bias, activations, residual adds) and of the LayerNorm and GELU
 * subgraphs that exporters decompose. Design: docs/engine.md, "The oneDNN backend". */
#ifndef LP_KERNELS_DNNL_H
#define LP_KERNELS_DNNL_H

#include "engine/engine.h"

extern const lp_kernel lp_kernel_dnnl;
/* RNN, GRU and LSTM on oneDNN's RNN primitives (dnnl_rnn.c). */
extern const lp_kernel lp_kernel_dnnl_rnn;

/* True when the CPU runs oneDNN's BF16 kernels natively (AVX512_BF16 or better). A plan
 * asked for BF16 on another CPU runs FP32. */
bool lp_dnnl_bf16_supported(void);

#endif
