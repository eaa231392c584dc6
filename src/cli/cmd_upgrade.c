/* cmd_upgrade.c — `lowp upgrade MODEL -o OUT`: a model rewritten from ONNX opset 7-12 to 13. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: lowp upgrade MODEL -o OUTPUT.onnx\n"
    "\n"
    "Rewrites an ONNX model from opset 7-12 to opset 13 with the same results: every op whose\n"
    "form changed in between takes its opset-13 form (attributes that became inputs: Slice,\n"
    "TopK, Clip, Pad, Squeeze, Unsqueeze, ReduceSum, Split, Dropout; Upsample and Resize-10 ->\n"
    "Resize; Scatter -> ScatterElements; Softmax/LogSoftmax/Hardmax's 2-D coercion made explicit;\n"
    "BatchNormalization's spatial dropped). Names of nodes and tensors are kept. lowp quantize\n"
    "and lowp tune do this themselves before writing QuantizeLinear/DequantizeLinear. Fails,\n"
    "naming the node, on what it cannot convert.\n"
    "\n"
    "  -o, --output FILE   where to write the upgraded model (required)\n"
    "  -q, --quiet         print nothing on success\n"
    "  -h, --help          show this help\n";

int lp_cmd_upgrade(int argc, char **argv)
{
    const char *cmd = "upgrade", *model_path = NULL, *output = NULL, *v = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        int r;
        if (lp_cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if ((r = lp_cli_option(cmd, argc, argv, &i, "-o", "--output", &v)) != 0) {
            if (r < 0)
                return LP_EXIT_USAGE;
            output = v;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return lp_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (model_path) {
            return lp_cli_usage_error(cmd, "one model only ('%s' and '%s')", model_path, argv[i]);
        } else {
            model_path = argv[i];
        }
    }
    if (!model_path || !output)
        return lp_cli_usage_error(cmd, model_path ? "missing -o OUTPUT" : "missing MODEL");
    lowp_model *m = NULL, *up = NULL;
    if (lowp_model_load(model_path, &m) != LOWP_OK)
        return lp_cli_lib_error();
    int rc = LP_EXIT_OK;
    if (lowp_model_upgrade(m, &up) != LOWP_OK || lowp_model_save(up, output) != LOWP_OK)
        rc = lp_cli_lib_error();
    else if (!quiet)
        printf("%s: opset %lld -> %lld, written to %s\n", model_path, (long long)lowp_model_opset(m),
               (long long)lowp_model_opset(up), output);
    lowp_model_free(up);
    lowp_model_free(m);
    return rc;
}
