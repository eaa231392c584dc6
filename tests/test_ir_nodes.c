/* test_ir_nodes.c — small IR helpers (ir/graph.h): the node-kind predicate lp_conv_depthwise
 * on plain, grouped and depthwise convolutions of channel multipliers 1 and 2, 1-D to 3-D, and
 * on weights that are missing, fed at run time or of the wrong rank, as quantization (any
 * multiplier) and channel pruning (multiplier 1) ask it; lp_graph_shape_str, the declared
 * shapes that input errors name. */
#include <stdio.h>
#include <string.h>

#include "graph_builder.h"
#include "ir/graph.h"
#include "ops/op.h"
#include "test.h"

typedef enum wkind { W_CONST, W_INPUT, W_OMITTED, W_ABSENT } wkind;

/* A Conv (or `op`) over an (N, C, 5...) input of `nsp` spatial dims with weights (M, Cw, 3...)
 * given as `wk`, group `group`; returns its node. */
static const lp_node *conv(gb *b, const char *op, int nsp, int64_t C, int64_t M, int64_t Cw, int64_t group, wkind wk)
{
    int64_t xd[5] = { 2, C, 5, 5, 5 }, wd[5] = { M, Cw, 3, 3, 3 };
    uint64_t rng = 1;
    int in[2] = { gb_feed(b, gb_rand_tensor(&rng, 2 + nsp, xd, 1.0)), -1 };
    if (wk == W_CONST)
        in[1] = gb_tensor(b, gb_rand_tensor(&rng, 2 + nsp, wd, 1.0));
    else if (wk == W_INPUT)
        in[1] = gb_feed(b, gb_rand_tensor(&rng, 2 + nsp, wd, 1.0));
    gb_op(b, op, wk == W_ABSENT ? 1 : 2, in);
    if (group != 1)
        attr_i(b, "group", group);
    return &b->g->nodes[b->last_node];
}

static void test_conv_depthwise(void)
{
    static const struct {
        const char *what, *op;
        int nsp;
        int64_t C, M, Cw, group;
        wkind wk;
        bool any, one; /* lp_conv_depthwise with multiplier_one false, true */
    } cases[] = {
        { "plain", "Conv", 2, 4, 8, 4, 1, W_CONST, false, false },
        { "one channel, group 1", "Conv", 2, 1, 1, 1, 1, W_CONST, false, false },
        { "grouped, 2 channels a group", "Conv", 2, 4, 4, 2, 2, W_CONST, false, false },
        { "grouped, 2 channels a group, multiplier 1 shape", "Conv", 2, 4, 2, 2, 2, W_CONST, false, false },
        { "depthwise, multiplier 1", "Conv", 2, 4, 4, 1, 4, W_CONST, true, true },
        { "depthwise, multiplier 2", "Conv", 2, 4, 8, 1, 4, W_CONST, true, false },
        { "1-D depthwise, multiplier 1", "Conv", 1, 3, 3, 1, 3, W_CONST, true, true },
        { "1-D depthwise, multiplier 2", "Conv", 1, 3, 6, 1, 3, W_CONST, true, false },
        { "3-D depthwise, multiplier 1", "Conv", 3, 2, 2, 1, 2, W_CONST, true, true },
        { "depthwise shape, weights fed at run time", "Conv", 2, 4, 4, 1, 4, W_INPUT, false, false },
        { "weights omitted (-1)", "Conv", 2, 4, 4, 1, 4, W_OMITTED, false, false },
        { "weights absent (one input)", "Conv", 2, 4, 4, 1, 4, W_ABSENT, false, false },
        { "ConvTranspose of a depthwise shape", "ConvTranspose", 2, 4, 4, 1, 4, W_CONST, false, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gb *b = gb_new(13);
        const lp_node *n = conv(b, cases[i].op, cases[i].nsp, cases[i].C, cases[i].M, cases[i].Cw, cases[i].group,
                                cases[i].wk);
        bool any = lp_conv_depthwise(b->g, n, false), one = lp_conv_depthwise(b->g, n, true);
        CHECK_MSG(any == cases[i].any && one == cases[i].one, "%s: depthwise %d (any multiplier) %d (multiplier 1), want %d %d",
                  cases[i].what, any, one, cases[i].any, cases[i].one);
        gb_free(b);
    }
    /* a rank-2 constant "weight" (not a convolution's) */
    gb *b = gb_new(13);
    int64_t xd[4] = { 2, 4, 5, 5 }, wd[2] = { 4, 1 };
    uint64_t rng = 2;
    int in[2] = { gb_feed(b, gb_rand_tensor(&rng, 4, xd, 1.0)), gb_tensor(b, gb_rand_tensor(&rng, 2, wd, 1.0)) };
    gb_op(b, "Conv", 2, in);
    attr_i(b, "group", 4);
    CHECK(!lp_conv_depthwise(b->g, &b->g->nodes[b->last_node], false));
    gb_free(b);
}

static void test_shape_str(void)
{
    lp_graph *g = NULL;
    CHECK_OK(lp_graph_new(&g));
    if (!g)
        return;
    int64_t n = 0;
    CHECK_OK(lp_graph_sym(g, "batch", &n));
    char buf[64];
    lp_shape s = { .ndim = 4, .d = { n, 3, LP_DIM_UNKNOWN, 224 } };
    CHECK(strcmp(lp_graph_shape_str(g, &s, buf, sizeof buf), "[batch,3,?,224]") == 0);
    s.ndim = 0;
    CHECK(strcmp(lp_graph_shape_str(g, &s, buf, sizeof buf), "[]") == 0);
    s.ndim = -1;
    CHECK(strcmp(lp_graph_shape_str(g, &s, buf, sizeof buf), "[...]") == 0);
    s = (lp_shape){ .ndim = 3, .d = { 1000000, 2000000, 3000000 } }; /* cut short, still terminated */
    CHECK(strcmp(lp_graph_shape_str(g, &s, buf, 12), "[1000000,20") == 0);
    lp_graph_free(g);
}

int main(void)
{
    RUN(test_conv_depthwise);
    RUN(test_shape_str);
    return TEST_SUMMARY("test_ir_nodes");
}
