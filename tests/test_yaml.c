/* test_yaml.c — the YAML/JSON tree builder (lp_yval_parse) against hostile texts: every kind
 * of parser event in every position (top level, map key, map value, list item; block and flow
 * style), nesting just under and over LP_MAX_YAML_NESTING, and the same texts through the
 * config loader, the recipe reader and a tuning history's replay. Each text is built here.
 * Each must be accepted or refused with a message naming the source and the line — never a
 * crash (run under ASan/UBSan by `make test-asan`). */
#include "test.h"

#include "base/json.h"
#include "base/limits.h"
#include "config/config.h"
#include "data/params.h"
#include "lowp.h"
#include "quant/recipe.h"
#include "tune/tune.h"

/* The values a position can hold, one per libyaml event kind (and style). */
static const char *const flow_values[] = {
    "1", "x", "'q'", "\"d\"", "~", "", "[1, 2]", "[]", "{a: 1}", "{}", "*al", "&an 5", "!!str 7", "[[1]]", "{[1]: 2}",
};

static int parse(const char *text, lp_yval **out)
{
    *out = NULL;
    return lp_yval_parse(text, strlen(text), "t.yaml", out);
}

/* Accepted, or refused with "t.yaml" and "line" in the message. */
static void check_text(const char *text)
{
    lp_yval *v = NULL;
    lowp_status st = parse(text, &v);
    if (st == LOWP_OK)
        CHECK_MSG(v != NULL, "accepted without a tree: %s", text);
    else if (!*text)
        CHECK(strstr(lowp_last_error(), "t.yaml: empty"));
    else
        CHECK_MSG(strstr(lowp_last_error(), "t.yaml") && strstr(lowp_last_error(), "line"),
                  "'%s' refused without file:line: %s", text, lowp_last_error());
    lp_yval_free(v);
}

static void test_every_event_in_every_position(void)
{
    int n = (int)(sizeof flow_values / sizeof *flow_values);
    char t[512];
    for (int i = 0; i < n; i++) {
        const char *a = flow_values[i];
        for (int j = 0; j < n; j++) {
            const char *b = flow_values[j];
            /* flow: as a key, as a value, as a list item, top level */
            snprintf(t, sizeof t, "{%s: %s}", a, b), check_text(t);
            snprintf(t, sizeof t, "[%s, %s]", a, b), check_text(t);
            snprintf(t, sizeof t, "base: &al 1\n%s: %s\n", a, b), check_text(t);
            snprintf(t, sizeof t, "? %s\n: %s\n", a, b), check_text(t);
            snprintf(t, sizeof t, "- %s\n- %s\n", a, b), check_text(t);
            snprintf(t, sizeof t, "k:\n  %s: %s\n", a, b), check_text(t);
            /* block collections as keys and values */
            snprintf(t, sizeof t, "? - %s\n: %s\n", a, b), check_text(t);
            snprintf(t, sizeof t, "? %s: 1\n: %s\n", a, b), check_text(t);
            snprintf(t, sizeof t, "k:\n  - %s\n  - x: %s\n", a, b), check_text(t);
            snprintf(t, sizeof t, "%s\n---\n%s\n", a, b), check_text(t);
        }
        snprintf(t, sizeof t, "%s", a), check_text(t);
    }
}

/* A key that is not a scalar is refused with the line of the key. */
static void test_non_scalar_keys(void)
{
    static const struct { const char *text; const char *want; } cases[] = {
        { "[1]: 2\n", "t.yaml: line 1: a key must be a name or a number, not a list" },
        { "a: 1\n{b: 1}: 2\n", "t.yaml: line 2: a key must be a name or a number, not a map" },
        { "a: 1\nb: 2\n? - 1\n: 2\n", "t.yaml: line 3: a key must be a name or a number, not a list" },
        { "? x: 1\n: 2\n", "t.yaml: line 1: a key must be a name or a number, not a map" },
        { "{\"key\": 1, [1]: 2}", "t.yaml: line 1: a key must be a name or a number, not a list" },
        { "a: &x 1\n*x : 2\n", "t.yaml: line 2: a key must be a name or a number, not an alias" },
        { "a:\n  b:\n    [c]: 1\n", "t.yaml: line 3: a key must be" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lp_yval *v = NULL;
        CHECK_MSG(parse(cases[i].text, &v) != LOWP_OK, "accepted %s", cases[i].text);
        CHECK_MSG(strstr(lowp_last_error(), cases[i].want), "'%s': message '%s' lacks '%s'", cases[i].text,
                  lowp_last_error(), cases[i].want);
        lp_yval_free(v);
    }
}

/* Nesting: LP_MAX_YAML_NESTING levels load, one more is refused with its line, in flow and
 * block style, lists and maps. */
static void test_nesting_bound(void)
{
    enum { N = LP_MAX_YAML_NESTING };
    static char t[64 * (N + 2) + 16];
    for (int extra = 0; extra <= 1; extra++) {
        int d = N + extra;
        /* flow lists */
        size_t k = 0;
        for (int i = 0; i < d; i++)
            t[k++] = '[';
        for (int i = 0; i < d; i++)
            t[k++] = ']';
        t[k] = 0;
        lp_yval *v = NULL;
        lowp_status st = parse(t, &v);
        CHECK_MSG(extra ? st != LOWP_OK : st == LOWP_OK, "flow depth %d: %s", d, lowp_last_error());
        if (extra)
            CHECK(strstr(lowp_last_error(), "t.yaml: line 1: lists and maps nested more than 64 levels deep"));
        lp_yval_free(v);
        /* block maps, one level per line */
        k = 0;
        for (int i = 0; i < d; i++) {
            for (int s = 0; s < i; s++)
                t[k++] = ' ';
            k += (size_t)sprintf(t + k, "k:%s", i + 1 < d ? "\n" : " 1\n");
        }
        t[k] = 0;
        v = NULL;
        st = parse(t, &v);
        CHECK_MSG(extra ? st != LOWP_OK : st == LOWP_OK, "block depth %d: %s", d, lowp_last_error());
        if (extra) {
            char want[64];
            snprintf(want, sizeof want, "t.yaml: line %d: lists and maps nested", d);
            CHECK_MSG(strstr(lowp_last_error(), want), "%s", lowp_last_error());
        }
        lp_yval_free(v);
    }
    /* far deeper than libyaml would care about: still a message, no stack use by the tree */
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = 0;
    lp_yval *v = NULL;
    CHECK(parse(deep, &v) != LOWP_OK);
    lp_yval_free(v);
    free(deep);
}

/* Two trees are equal (keys in the same order, scalars alike). */
static bool same_tree(const lp_yval *a, const lp_yval *b)
{
    if (a->kind != b->kind || a->n != b->n || (a->str || b->str ? !a->str || !b->str || strcmp(a->str, b->str) : 0))
        return false;
    for (int i = 0; i < a->n; i++)
        if ((a->keys && strcmp(a->keys[i], b->keys[i])) || !same_tree(a->items[i], b->items[i]))
            return false;
    return true;
}

/* Anchors, aliases and merge keys (PyYAML accepts them, so LPOT configurations may use them)
 * give the tree the text would give written out; hostile uses are refused with their line:
 * an alias of nothing, an alias inside the value it names, '<<' of a non-map, and an alias
 * expansion bomb (each level doubling) past LP_MAX_YAML_NODES. */
static void test_anchors_aliases_merge(void)
{
    static const struct { const char *with, *without; } same[] = {
        { "a: &x [1, 2]\nb: *x\n", "a: [1, 2]\nb: [1, 2]\n" },
        { "a: &s hi\nb: {c: *s, d: [*s, *s]}\n", "a: hi\nb: {c: hi, d: [hi, hi]}\n" },
        { "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n", "base: {x: 1, y: 2}\nd:\n  y: 3\n  x: 1\n" },
        { "p: &p {x: 1}\nq: &q {y: 2, x: 9}\nd: {<<: [*p, *q], z: 0}\n",
          "p: {x: 1}\nq: {y: 2, x: 9}\nd: {z: 0, x: 1, y: 2}\n" },
        { "a: &x 1\na2: &x 2\nb: *x\n", "a: 1\na2: 2\nb: 2\n" },   /* the latest anchor of a name */
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        lp_yval *a = NULL, *b = NULL;
        CHECK_MSG(parse(same[i].with, &a) == LOWP_OK, "%s: %s", same[i].with, lowp_last_error());
        CHECK_OK(parse(same[i].without, &b));
        CHECK_MSG(a && b && same_tree(a, b), "'%s' differs from '%s'", same[i].with, same[i].without);
        lp_yval_free(a);
        lp_yval_free(b);
    }
    static const struct { const char *text, *want; } bad[] = {
        { "a: 1\nb: *nope\n", "t.yaml: line 2: alias *nope names no anchor" },
        { "a: &x [1, *x]\n", "t.yaml: line 1: alias *x stands inside the value it names" },
        { "a: &x 1\nb: {<<: *x}\n", "t.yaml: line 2: '<<' merges maps" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lp_yval *v = NULL;
        CHECK_MSG(parse(bad[i].text, &v) != LOWP_OK, "accepted %s", bad[i].text);
        CHECK_MSG(strstr(lowp_last_error(), bad[i].want), "'%s': '%s' lacks '%s'", bad[i].text, lowp_last_error(),
                  bad[i].want);
        lp_yval_free(v);
    }
    /* a0 is two values, each level doubles: 40 levels would be 2^40 values */
    char bomb[4096];
    size_t k = (size_t)sprintf(bomb, "a0: &a0 [x, x]\n");
    for (int i = 1; i < 40; i++)
        k += (size_t)sprintf(bomb + k, "a%d: &a%d [*a%d, *a%d]\n", i, i, i - 1, i - 1);
    lp_yval *v = NULL;
    CHECK(parse(bomb, &v) != LOWP_OK);
    CHECK_MSG(strstr(lowp_last_error(), "values with aliases expanded"), "%s", lowp_last_error());
    lp_yval_free(v);
    /* through the config loader: an LPOT-style config sharing a dataloader by alias */
    const char *cfg =
        "model: {name: m}\n"
        "quantization:\n  calibration:\n    dataloader: &dl\n      batch_size: 7\n"
        "      dataset: {dummy: {shape: [4, 3]}}\n"
        "evaluation:\n  accuracy:\n    metric: {topk: 1}\n    dataloader: *dl\n";
    lowp_config *c = NULL;
    CHECK_MSG(lowp_config_load_string(cfg, "conf.yaml", &c) == LOWP_OK, "%s", lowp_last_error());
    if (c)
        CHECK(c->evaluation.accuracy_dataloader.batch_size == 7);
    lowp_config_free(c);
}

/* The same hostile lines through the readers built on the parser. */
static void test_through_the_readers(void)
{
    const char *cfgs[] = {
        "[1]: 2\n", "model:\n  name: m\n  [1]: 2\n", "model: {name: m, {a: 1}: 2}\n",
        "model:\n  name: m\nquantization:\n  op_wise:\n    ? [conv]\n    : {activation: {dtype: fp32}}\n",
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        lowp_config *c = NULL;
        CHECK_MSG(lowp_config_load_string(cfgs[i], "conf.yaml", &c) != LOWP_OK, "accepted %s", cfgs[i]);
        CHECK_MSG(strstr(lowp_last_error(), "conf.yaml: line") && strstr(lowp_last_error(), "a key must be"), "%s",
                  lowp_last_error());
        lowp_config_free(c);
    }
    lp_recipe *r = NULL;
    const char *rj = "{\"op_wise\": {[\"conv\"]: {\"precision\": \"fp32\"}}}";
    CHECK(lp_recipe_from_json(rj, strlen(rj), "r.json", &r) != LOWP_OK);
    CHECK_MSG(strstr(lowp_last_error(), "r.json: line 1: a key must be"), "%s", lowp_last_error());
    lp_recipe_free(r);

    /* a history: a header, a good trial, then hostile lines — ignored, the good trial kept */
    const char *h =
        "{\"lowp_tune_history\": 1, \"fingerprint\": \"abc\", \"ops\": []}\n"
        "{\"trial\": 1, \"key\": \"k1\", \"accuracy\": 0.5, \"cost\": 0.25}\n"
        "[1]: 2\n"
        "{[1]: 2, \"key\": \"k2\"}\n"
        "{\"key\": {\"a\": 1}}\n"
        "{\"key\": \"k3\", \"accuracy\": null, \"model_bytes\": 1e300}\n"
        "*x\n"
        "\n"
        "{\"key\": \"k4\"";   /* cut short */
    lp_tune_hist *hist = NULL;
    int nh = 0;
    bool fresh = true;
    CHECK_OK(lp_tune_history_parse(h, strlen(h), "history.jsonl", "abc", &hist, &nh, &fresh));
    CHECK(!fresh);
    CHECK_MSG(nh == 2, "%d entries", nh);
    if (nh == 2) {
        CHECK(!strcmp(hist[0].key, "k1") && hist[0].t.accuracy == 0.5 && hist[0].cost == 0.25);
        CHECK(!strcmp(hist[1].key, "k3") && isnan(hist[1].t.accuracy) && hist[1].t.model_bytes == 0);
    }
    lp_tune_history_free(hist, nh);
    /* a hostile first line is not a history */
    const char *h1 = "[1]: 2\n{\"key\": \"k1\"}\n";
    CHECK(lp_tune_history_parse(h1, strlen(h1), "history.jsonl", "abc", &hist, &nh, &fresh) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "history.jsonl: line 1: not a lowp tuning history"));
}

/* UTF-8 of code point `cp` into `out` (NUL-terminated); its length. */
static int utf8(unsigned cp, char *out)
{
    int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const unsigned char lead[5] = { 0, 0, 0xc0, 0xe0, 0xf0 };
    for (int i = n - 1; i > 0; i--, cp >>= 6)
        out[i] = (char)(0x80 | (cp & 0x3f));
    out[0] = (char)(n == 1 ? cp : lead[n] | cp);
    out[n] = 0;
    return n;
}

/* Whatever text lowp writes as JSON reads back as the same text through the YAML reader (how
 * recipes and histories are read): every code point of the BMP's first 0x3000 and a stride
 * through the rest (surrogates excluded), each alone and between letters, as a key and as a
 * value. The fuzzer found U+0085 (a YAML line break) breaking a recipe's round trip. */
static void test_json_text_reads_back(void)
{
    int bad = 0;
    for (unsigned cp = 1; cp <= 0x10ffff && bad < 5; cp += cp < 0x3000 ? 1 : 97) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char s[16] = "a";
        utf8(cp, s + 1);
        strcat(s, "z");
        lp_json j;
        lp_json_init(&j, 0);
        lp_json_begin_object(&j);
        lp_json_key(&j, s);
        lp_json_string(&j, s);
        lp_json_end_object(&j);
        char *text = NULL;
        lp_yval *v = NULL;
        if (lp_json_finish(&j, &text) != LOWP_OK || lp_yval_parse(text, strlen(text), "j", &v) != LOWP_OK ||
            v->kind != LP_NODE_MAP || v->n != 1 || strcmp(v->keys[0], s) != 0 || v->items[0]->kind != LP_NODE_SCALAR ||
            strcmp(v->items[0]->str, s) != 0) {
            CHECK_MSG(0, "U+%04X: %s -> %s", cp, text ? text : "(no text)", lowp_last_error());
            bad++;
        }
        lp_yval_free(v);
        free(text);
    }
    /* bytes that are not UTF-8 become U+FFFD, which reads back */
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_string(&j, "a\xff\xc0\x80z");
    char *text = NULL;
    lp_yval *v = NULL;
    CHECK_OK(lp_json_finish(&j, &text));
    CHECK_OK(lp_yval_parse(text, strlen(text), "j", &v));
    CHECK(v && v->kind == LP_NODE_SCALAR && !strcmp(v->str, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz"));
    lp_yval_free(v);
    free(text);
}

/* Recipe op_wise keys are node names; a YAML reader takes keys of at most 1024 characters. A
 * name that fits round-trips; a longer one is refused when writing (the fuzzer found a recipe
 * that wrote but did not read back). */
static void test_long_recipe_keys(void)
{
    static const size_t lens[] = { 990, 1100 };
    for (int k = 0; k < 2; k++) {
        char *name = malloc(lens[k] + 1);
        memset(name, 'n', lens[k]);
        name[lens[k]] = 0;
        lp_recipe *r = NULL, *u = NULL;
        char *a = NULL, *b = NULL;
        CHECK_OK(lp_recipe_new(&r));
        CHECK_OK(lp_recipe_set(r, name, LP_PREC_FP32, NULL));
        lowp_status st = lp_recipe_to_json(r, &a);
        if (k == 0) {
            CHECK_OK(st);
            CHECK_OK(a ? lp_recipe_from_json(a, strlen(a), "r.json", &u) : LOWP_ERR_INTERNAL);
            CHECK(u && lp_recipe_to_json(u, &b) == LOWP_OK && !strcmp(a, b));
        } else {
            CHECK(st == LOWP_ERR_UNSUPPORTED && strstr(lowp_last_error(), "more than a recipe's reader takes"));
        }
        free(a), free(b), free(name);
        lp_recipe_free(r), lp_recipe_free(u);
    }
}

int main(void)
{
    RUN(test_every_event_in_every_position);
    RUN(test_non_scalar_keys);
    RUN(test_nesting_bound);
    RUN(test_anchors_aliases_merge);
    RUN(test_through_the_readers);
    RUN(test_json_text_reads_back);
    RUN(test_long_recipe_keys);
    return TEST_SUMMARY("test_yaml");
}
