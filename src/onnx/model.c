/* model.c — the public lowp_model_* calls. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/upgrade.h"
#include "onnx/model.h"

static lp_status wrap(lp_graph *g, const char *path, lowp_model **out)
{
    lowp_model *m = calloc(1, sizeof *m);
    if (!m || (path && !(m->path = strdup(path)))) {
        free(m);
        lp_graph_free(g);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->graph = g;
    *out = m;
    return LP_OK;
}

lowp_status lowp_model_load(const char *path, lowp_model **model_out)
{
    if (!path || !model_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_load: NULL argument");
    uint8_t *data;
    size_t size;
    LP_TRY(lp_read_file(path, &data, &size));
    char *copy = strdup(path);
    if (!copy) {
        free(data);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    lp_graph *g = NULL;
    lp_status st = lp_onnx_read(data, size, dirname(copy), path, &g);
    free(copy);
    free(data);
    LP_TRY(st);
    return wrap(g, path, model_out);
}

lowp_status lowp_model_load_from_memory(const void *data, size_t size, const char *base_dir,
                                        lowp_model **model_out)
{
    if ((!data && size) || !model_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_load_from_memory: NULL argument");
    lp_graph *g = NULL;
    LP_TRY(lp_onnx_read(data ? data : "", size, base_dir, "<memory>", &g));
    return wrap(g, NULL, model_out);
}

lowp_status lowp_model_save(const lowp_model *model, const char *path)
{
    if (!model || !path)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_save: NULL argument");
    uint8_t *buf;
    size_t size;
    LP_TRY(lp_onnx_write(model->graph, &buf, &size));
    lp_status st = lp_write_file_atomic(path, buf, size);
    free(buf);
    return st;
}

void lowp_model_free(lowp_model *model)
{
    if (!model)
        return;
    lp_graph_free(model->graph);
    free(model->path);
    free(model);
}

int lowp_model_input_count(const lowp_model *m) { return m ? m->graph->n_inputs : 0; }
int lowp_model_output_count(const lowp_model *m) { return m ? m->graph->n_outputs : 0; }

int64_t lowp_model_opset(const lowp_model *m) { return m ? lp_graph_opset(m->graph, "") : 0; }

lowp_status lowp_model_upgrade(const lowp_model *model, lowp_model **out)
{
    if (!model || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_upgrade: NULL argument");
    lp_graph *g = NULL;
    LP_TRY(lp_graph_clone(model->graph, &g));
    lp_status st = lp_graph_upgrade(g, NULL);
    if (st != LP_OK) {
        lp_graph_free(g);
        return model->path ? lp_error_prefix(st, "%s", model->path) : st;
    }
    return wrap(g, NULL, out);
}

const char *lowp_model_input_name(const lowp_model *m, int i)
{
    return m && i >= 0 && i < m->graph->n_inputs ? m->graph->values[m->graph->inputs[i]].name : NULL;
}

const char *lowp_model_output_name(const lowp_model *m, int i)
{
    return m && i >= 0 && i < m->graph->n_outputs ? m->graph->values[m->graph->outputs[i]].name : NULL;
}
