/* registry.c — the op table generated from ops.def, and lookup by name. */
#include <string.h>

#include "ops/op.h"

static const lp_op_def *const table[LP_OP_COUNT] = {
#define LP_OP(name, family) [LP_OP_##name] = &lp_opdef_##name,
#include "ops/ops.def"
#undef LP_OP
};

int lp_op_find(const char *domain, const char *op_type)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        domain = "";
    for (int i = 0; i < LP_OP_COUNT; i++) {
        const char *d = table[i]->domain ? table[i]->domain : "";
        if (strcmp(table[i]->name, op_type) == 0 && strcmp(d, domain) == 0)
            return i;
    }
    return -1;
}

const lp_op_def *lp_op_get(int id)
{
    LP_ASSERT(id >= 0 && id < LP_OP_COUNT);
    return table[id];
}

bool lp_op_implemented(int id) { return lp_op_get(id)->infer && lp_op_get(id)->run; }
