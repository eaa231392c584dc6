/* train_test.h — what the training tests (test_train_*.c) share. */
#ifndef LP_TRAIN_TEST_H
#define LP_TRAIN_TEST_H

#include "base/tensor.h"
#include "graph_builder.h"
#include "lowp.h"

/* Fills float tensor t with distinct values `step` apart, centred on 0, in an order shuffled
 * with draws from *rng: max pooling has no ties (within step / 2), so every path picks one tap. */
static inline void train_test_distinct(lp_tensor *t, double step, uint64_t *rng)
{
    int64_t n = lp_tensor_numel(t);
    float *d = t->data;
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)(step * (double)i - 0.5 * step * (double)n);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(lowp_random_next(rng) % (uint64_t)(i + 1));
        float x = d[i];
        d[i] = d[j];
        d[j] = x;
    }
}

/* x -> QuantizeLinear -> DequantizeLinear with scale value sv and a learned zero point
 * QuantizeLinear(bv, sv, 0 of dtype zdt) = round(b / s) (qat.c's lp_qat_learn_zero_points);
 * returns the DequantizeLinear's output. */
static inline int train_test_learned_qdq(gb *b, int x, int sv, int bv, lp_dtype zdt)
{
    int zin[3] = { bv, sv, gb_scalar(b, zdt, 0) };
    int zq = gb_op(b, "QuantizeLinear", 3, zin);
    int qin[3] = { x, sv, zq };
    int dqin[3] = { gb_op(b, "QuantizeLinear", 3, qin), sv, zq };
    return gb_op(b, "DequantizeLinear", 3, dqin);
}

#endif
