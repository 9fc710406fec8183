/*
 * test_text.c - the character tests the parsers share (common/text.c).
 * One named case per line.
 */
#include "tests/unit/testlib.h"
#include "common/text.h"

static void test_ws(void)
{
    CHECK(text_is_ws(' ') && text_is_ws('\t') && text_is_ws('\r') && text_is_ws('\n'));
    CHECK(!text_is_ws('a') && !text_is_ws('\0') && !text_is_ws('\v'));
    CHECK_STR(text_skip_ws(" \t\r\n x "), "x ");
    CHECK(text_is_blank(" \r\n\t") && text_is_blank(""));
    CHECK(!text_is_blank(" . "));
}

static void test_hex(void)
{
    CHECK(text_hexval('0') == 0 && text_hexval('9') == 9);
    CHECK(text_hexval('a') == 10 && text_hexval('F') == 15);
    CHECK(text_hexval('g') == -1 && text_hexval('G') == -1 && text_hexval(' ') == -1);
    CHECK(text_hexval('\0') == -1 && text_hexval((char)0xe9) == -1);
}

static const struct test_case cases[] = {
    { "white space: space, tab, CR, LF and nothing else", test_ws },
    { "hex digits in either case, anything else -1", test_hex },
};

TEST_MAIN(cases)
