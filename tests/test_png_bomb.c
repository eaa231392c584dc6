/* test_png_bomb.c — a 192-byte PNG (9x9 interlaced RGB with a zTXt chunk, found by fuzz_png)
 * made libpng inflate its text chunk to ~1.8 GB before the decode failed cleanly. lowp ignores
 * text chunks now; the decode must fail cleanly and the process stay small. Its own program,
 * so that the peak RSS it checks is this decode's (256 MB: the process's libraries and the
 * sanitizers' shadow take tens of MB; the bomb took 1.8 GB). */
#include <sys/resource.h>

#include "test.h"

#include "data/data.h"
#include "lowp.h"

static const unsigned char bomb[] = {
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 9, 0, 0, 0, 9, 8, 2, 0, 0, 1,
    24, 244, 161, 209, 0, 0, 0, 4, 103, 65, 77, 65, 0, 0, 177, 143, 11, 252, 97, 5, 113, 0, 0, 21, 122,
    84, 88, 116, 67, 111, 109, 109, 101, 110, 116, 0, 0, 8, 153, 43, 78, 77, 77, 1, 0, 4, 45, 1, 162,
    196, 29, 227, 205, 0, 0, 0, 99, 73, 68, 65, 84, 24, 149, 99, 14, 136, 76, 98, 96, 229, 100, 209,
    208, 208, 96, 96, 96, 96, 216, 82, 114, 203, 46, 220, 124, 100, 227, 234, 199, 208, 214, 63, 227,
    211, 111, 22, 38, 17, 17, 17, 17, 17, 17, 40, 197, 24, 149, 156, 99, 192, 144, 93, 82, 187, 112,
    213, 230, 235, 15, 94, 242, 138, 201, 51, 113, 33, 1, 34, 57, 140, 161, 113, 233, 210, 56, 0, 138,
    66, 52, 64, 174, 28, 0, 161, 248, 35, 185, 239, 90, 13, 252, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66,
    96, 130
};

static void test_ztxt_bomb(void)
{
    lp_tensor *t = NULL;
    lowp_status st = lp_image_decode(bomb, sizeof bomb, "bomb.png", &t);
    CHECK(st != LOWP_OK && strstr(lowp_last_error(), "bomb.png"));
    lp_tensor_free(t);
    struct rusage ru;
    CHECK_OK(getrusage(RUSAGE_SELF, &ru) == 0 ? LOWP_OK : LOWP_ERR_IO);
    CHECK_MSG(ru.ru_maxrss < 256 * 1024, "peak RSS %ld MB", ru.ru_maxrss / 1024);
}

int main(void)
{
    RUN(test_ztxt_bomb);
    return TEST_SUMMARY("test_png_bomb");
}
