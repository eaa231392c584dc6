/* test_json.c — the JSON writer: structure, escaping, numbers, misuse. */
#include <stdint.h>

#include "lowp.h"
#include "base/json.h"
#include "test.h"

static char *finish(lp_json *j)
{
    char *s = NULL;
    if (lp_json_finish(j, &s) != LOWP_OK)
        return NULL;
    return s;
}

static void test_compact_document(void)
{
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "a");
    lp_json_int(&j, -3);
    lp_json_key(&j, "b");
    lp_json_begin_array(&j);
    lp_json_uint(&j, UINT64_MAX);
    lp_json_null(&j);
    lp_json_bool(&j, true);
    lp_json_string(&j, "x");
    lp_json_begin_object(&j);
    lp_json_end_object(&j);
    lp_json_begin_array(&j);
    lp_json_end_array(&j);
    lp_json_end_array(&j);
    lp_json_key(&j, "c");
    lp_json_double(&j, 0.1);
    lp_json_end_object(&j);
    char *s = finish(&j);
    CHECK_MSG(s && strcmp(s, "{\"a\":-3,\"b\":[18446744073709551615,null,true,\"x\",{},[]],\"c\":0.1}") == 0,
              "got %s", s ? s : "(null)");
    free(s);
}

static void test_indented_document(void)
{
    lp_json j;
    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "k");
    lp_json_begin_array(&j);
    lp_json_int(&j, 1);
    lp_json_int(&j, 2);
    lp_json_end_array(&j);
    lp_json_key(&j, "shape");
    lp_json_begin_array_flat(&j);
    lp_json_int(&j, 1);
    lp_json_string(&j, "n");
    lp_json_begin_array(&j);
    lp_json_end_array(&j);
    lp_json_end_array(&j);
    lp_json_key(&j, "e");
    lp_json_begin_array_flat(&j);
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    char *s = finish(&j);
    CHECK_MSG(s && strcmp(s, "{\n  \"k\": [\n    1,\n    2\n  ],\n  \"shape\": [1, \"n\", []],\n"
                          "  \"e\": []\n}\n") == 0, "got %s", s ? s : "(null)");
    free(s);
}

static void test_escaping(void)
{
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_array(&j);
    lp_json_string(&j, "q\"b\\n\n\t\x01\x1f/");
    lp_json_string(&j, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");     /* valid UTF-8 kept */
    lp_json_string(&j, "bad\xff\xc3(\xed\xa0\x80\xe2\x82");              /* invalid -> U+FFFD */
    lp_json_string_n(&j, "a\0b", 3);
    lp_json_string(&j, NULL);
    lp_json_end_array(&j);
    char *s = finish(&j);
    const char *want = "[\"q\\\"b\\\\n\\n\\t\\u0001\\u001f/\",\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
                       "\"bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
                       "\"a\\u0000b\",null]";
    CHECK_MSG(s && strcmp(s, want) == 0, "got %s", s ? s : "(null)");
    free(s);
}

static void test_numbers(void)
{
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_array(&j);
    lp_json_double(&j, 1.0 / 3.0);
    lp_json_double(&j, 1e300);
    lp_json_double(&j, NAN);
    lp_json_double(&j, -INFINITY);
    lp_json_int(&j, INT64_MIN);
    lp_json_double(&j, 2.0);
    lp_json_end_array(&j);
    char *s = finish(&j);
    CHECK_MSG(s && strcmp(s, "[0.33333333333333331,1e+300,null,null,-9223372036854775808,2]") == 0,
              "got %s", s ? s : "(null)");
    free(s);
}

static void test_misuse_is_reported(void)
{
    lp_json j;
    char *s = NULL;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_int(&j, 1);                       /* no key */
    lp_json_end_object(&j);
    CHECK(lp_json_finish(&j, &s) == LOWP_ERR_INTERNAL && s == NULL);
    CHECK(strstr(lowp_last_error(), "without a key"));

    lp_json_init(&j, 0);
    lp_json_begin_array(&j);                  /* never closed */
    CHECK(lp_json_finish(&j, &s) == LOWP_ERR_INTERNAL);

    lp_json_init(&j, 0);
    lp_json_begin_array(&j);
    lp_json_end_object(&j);                   /* wrong closer */
    CHECK(lp_json_finish(&j, &s) == LOWP_ERR_INTERNAL);

    lp_json_init(&j, 0);
    lp_json_int(&j, 1);
    lp_json_int(&j, 2);                       /* two top-level values */
    CHECK(lp_json_finish(&j, &s) == LOWP_ERR_INTERNAL);

    lp_json_init(&j, 0);
    for (int i = 0; i < LP_JSON_MAX_DEPTH + 1; i++)
        lp_json_begin_array(&j);
    CHECK(lp_json_finish(&j, &s) == LOWP_ERR_INTERNAL);
    CHECK(s == NULL);
}

static void test_large_document(void)
{
    lp_json j;
    lp_json_init(&j, 1);
    lp_json_begin_array(&j);
    for (int i = 0; i < 100000; i++)
        lp_json_int(&j, i);
    lp_json_end_array(&j);
    char *s = finish(&j);
    CHECK(s && strstr(s, " 99999\n]\n"));
    free(s);
}

int main(void)
{
    RUN(test_compact_document);
    RUN(test_indented_document);
    RUN(test_escaping);
    RUN(test_numbers);
    RUN(test_misuse_is_reported);
    RUN(test_large_document);
    return TEST_SUMMARY("test_json");
}
