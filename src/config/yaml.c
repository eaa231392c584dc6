/* yaml.c — YAML text to an lp_yval tree with line numbers, through libyaml's event parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/config.h"

#define MAX_DEPTH 64

lp_status lp_yaml_parse(const char *text, size_t size, const char *what, lp_yval **out)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    lp_yval *stack[MAX_DEPTH];
    char *keys[MAX_DEPTH] = {0};
    int key_lines[MAX_DEPTH] = {0};
    int depth = 0, docs = 0;
    lp_yval *root = NULL;
    lp_status st = LP_OK;
    bool done = false;
    while (!done && st == LP_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = lp_error(LOWP_ERR_FORMAT, "%s: YAML syntax error: %s at line %d", what,
                          parser.problem ? parser.problem : "unknown",
                          (int)(parser.problem_mark.line + 1));
            break;
        }
        int line = (int)ev.start_mark.line + 1;
        lp_yval *nv = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                st = lp_error(LOWP_ERR_FORMAT, "%s: more than one YAML document (line %d)", what, line);
            break;
        case YAML_ALIAS_EVENT:
            st = lp_error(LOWP_ERR_UNSUPPORTED, "%s: YAML aliases (*name) are not supported at line %d", what, line);
            break;
        case YAML_SCALAR_EVENT: {
            const char *val = (const char *)ev.data.scalar.value;
            bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (depth > 0 && stack[depth - 1]->kind == LP_NODE_MAP && !keys[depth - 1]) {
                lp_yval *map = stack[depth - 1];
                if (lp_yval_get(map, val))
                    st = lp_error(LOWP_ERR_FORMAT, "%s: key '%s' given twice at line %d", what, val, line);
                else if (!(keys[depth - 1] = strdup(val)))
                    st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                key_lines[depth - 1] = line;
                break;
            }
            bool null = plain && (!*val || !strcmp(val, "~") || !strcmp(val, "null") ||
                                  !strcmp(val, "Null") || !strcmp(val, "NULL"));
            st = lp_yval_new(null ? LP_NODE_NULL : LP_NODE_SCALAR, line, null ? NULL : val, &nv);
            if (nv)
                nv->quoted = !plain;
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            st = lp_yval_new(ev.type == YAML_SEQUENCE_START_EVENT ? LP_NODE_SEQ : LP_NODE_MAP, line, NULL, &nv);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (st != LP_OK || !nv)
            continue;
        if (depth == 0) {
            root = nv;
        } else {
            lp_yval *parent = stack[depth - 1];
            if (parent->kind == LP_NODE_MAP)
                nv->key_line = key_lines[depth - 1];
            st = lp_yval_append(parent, keys[depth - 1], nv);
            free(keys[depth - 1]);
            keys[depth - 1] = NULL;
            if (st != LP_OK)
                break;
        }
        if (nv->kind == LP_NODE_SEQ || nv->kind == LP_NODE_MAP) {
            if (depth == MAX_DEPTH) {
                st = lp_error(LOWP_ERR_FORMAT, "%s: nested more than %d levels at line %d", what, MAX_DEPTH, line);
                break;
            }
            stack[depth++] = nv;
        }
    }
    for (int i = 0; i < MAX_DEPTH; i++)
        free(keys[i]);
    yaml_parser_delete(&parser);
    if (st != LP_OK) {
        lp_yval_free(root);
        return st;
    }
    if (!root)
        return lp_error(LOWP_ERR_FORMAT, "%s: the configuration is empty", what);
    *out = root;
    return LP_OK;
}
