/*
 * test_ins.c - INS matricule shape and key check (policy/ins.c).
 *
 * The keys below were computed independently of the code under test
 * (97 - NIR mod 97 with 2A -> 19 and 2B -> 18, in a separate script).
 */
#include <stdio.h>
#include <string.h>

#include "policy/ins.h"
#include "tests/unit/testlib.h"

static void expect_ok(const char *local, const char *normalized)
{
    struct ins_result r;
    enum ins_status st = ins_check(local, &r);

    CHECK(st == INS_OK);
    CHECK(r.status == INS_OK);
    if (st != INS_OK)
        fprintf(stderr, "  \"%s\": %s\n", local, r.reason);
    CHECK_STR(r.normalized, normalized);
    CHECK(r.given_key == r.expected_key);
}

static void expect_shape(const char *local, enum ins_shape shape, unsigned position)
{
    struct ins_result r;
    enum ins_status st = ins_check(local, &r);

    CHECK(st == INS_BAD_SHAPE);
    if (st != INS_BAD_SHAPE)
        fprintf(stderr, "  \"%s\": got %s\n", local ? local : "(null)", ins_status_name(st));
    CHECK(r.shape == shape);
    CHECK(r.position == position);
    CHECK(r.reason[0] != '\0');
    CHECK(r.normalized[0] == '\0');
}

static void expect_key(const char *local, int given, int expected)
{
    struct ins_result r;
    enum ins_status st = ins_check(local, &r);

    CHECK(st == INS_BAD_KEY);
    if (st != INS_BAD_KEY)
        fprintf(stderr, "  \"%s\": got %s\n", local, ins_status_name(st));
    CHECK(r.shape == INS_SHAPE_OK);
    CHECK(r.given_key == given);
    CHECK(r.expected_key == expected);
    /* Never the expected key, nor the given one: the reason is logged. */
    CHECK(strstr(r.reason, "does not match") != NULL);
    {
        char k[8];

        snprintf(k, sizeof(k), "%02d", expected);
        CHECK(strstr(r.reason, k) == NULL);
    }
}

static void test_valid(void)
{
    expect_ok("279035121518989", "279035121518989");   /* MSSANTE.md example */
    expect_ok("269029934173285", "269029934173285");
    expect_ok("155127512345012", "155127512345012");
    expect_ok("380019999999937", "380019999999937");   /* NIA-style first digit */
    expect_ok("899012000009745", "899012000009745");
    expect_ok("999999999999983", "999999999999983");
    expect_ok("000000000000097", "000000000000097");   /* NIR mod 97 == 0: key 97 */
    expect_ok("100000000004797", "100000000004797");
    expect_ok("100000000004601", "100000000004601");   /* smallest key, 01 */
}

static void test_corsica(void)
{
    expect_ok("185052A12345633", "185052A12345633");
    expect_ok("185052B12345660", "185052B12345660");
    expect_ok("299122B04500197", "299122B04500197");
    /* Lower case is accepted and normalised. */
    expect_ok("185052a12345633", "185052A12345633");
    expect_ok("185052b12345660", "185052B12345660");
    expect_ok("185022a00401222", "185022A00401222");
    /* 2A and 2B are not interchangeable: the key tells them apart. */
    expect_key("185052B12345633", 33, 60);
    expect_key("185052A12345660", 60, 33);
    /* "19" in place of "2A" is a different number (same key, by design of
     * the rule): it is simply a valid non-Corsican NIR. */
    expect_ok("185051912345633", "185051912345633");
}

static void test_bad_key(void)
{
    expect_key("279035121518988", 88, 89);   /* last digit typo */
    expect_key("279035121518998", 98, 89);   /* swapped key digits */
    expect_key("279305121518989", 89, 36);   /* swapped NIR digits */
    expect_key("279035121518900", 0, 89);    /* 00 is never a key */
    expect_key("000000000000000", 0, 97);
}

static void test_bad_shape(void)
{
    expect_shape(NULL, INS_SHAPE_LENGTH, 0);
    expect_shape("", INS_SHAPE_LENGTH, 0);
    expect_shape("27903512151898", INS_SHAPE_LENGTH, 0);      /* 14 */
    expect_shape("2790351215189890", INS_SHAPE_LENGTH, 0);    /* 16 */
    expect_shape("2790351215189", INS_SHAPE_LENGTH, 0);       /* NIR without key */
    expect_shape("jean.dupont", INS_SHAPE_LENGTH, 0);
    expect_shape("x79035121518989", INS_SHAPE_CHAR, 1);
    expect_shape("27903512151898x", INS_SHAPE_CHAR, 15);
    expect_shape("2790351215189 9", INS_SHAPE_CHAR, 14);
    expect_shape("279035121518-89", INS_SHAPE_CHAR, 13);
    /* Letters only as 2A/2B at positions 6-7. */
    expect_shape("185052C12345633", INS_SHAPE_CHAR, 7);
    expect_shape("185053A12345633", INS_SHAPE_CHAR, 7);       /* 3A */
    expect_shape("18505A212345633", INS_SHAPE_CHAR, 6);       /* A2 */
    expect_shape("1852A0012345633", INS_SHAPE_CHAR, 5);       /* 2A at 4-5 */
    expect_shape("185052A1234563A", INS_SHAPE_CHAR, 15);
    expect_shape("1850522A2345633", INS_SHAPE_CHAR, 8);
    /* Non-ASCII and control bytes. */
    expect_shape("27903512151898\xc3", INS_SHAPE_CHAR, 15);
    expect_shape("2790351\t1518989", INS_SHAPE_CHAR, 8);
}

static void test_reason_texts(void)
{
    struct ins_result r;

    ins_check("27903512151898", &r);
    CHECK_STR(r.reason, "length 14, expected 15");
    ins_check("185052C12345633", &r);
    CHECK(strstr(r.reason, "'C' at position 7") != NULL);
    ins_check("2790351\t1518989", &r);
    CHECK(strstr(r.reason, "0x09 at position 8") != NULL);
    ins_check("279035121518988", &r);
    CHECK_STR(r.reason, "the key (last two digits) does not match the first 13 characters");
    CHECK_STR(ins_status_name(INS_OK), "ok");
    CHECK_STR(ins_status_name(INS_BAD_SHAPE), "bad-shape");
    CHECK_STR(ins_status_name(INS_BAD_KEY), "bad-key");
}

static void test_ins_key(void)
{
    CHECK(ins_key("2790351215189") == 89);
    CHECK(ins_key("185052A123456") == 33);
    CHECK(ins_key("185052b123456") == 60);
    CHECK(ins_key("1000000000047") == 97);
    CHECK(ins_key("1000000000046") == 1);
    CHECK(ins_key("279035121518") == -1);     /* 12 characters */
    CHECK(ins_key("1850X2A123456") == -1);
    CHECK(ins_key("185053A123456") == -1);    /* 3A: not Corsica */
    CHECK(ins_key(NULL) == -1);
}

static const struct test_case cases[] = {
    { "valid", test_valid },
    { "corsica", test_corsica },
    { "bad key", test_bad_key },
    { "bad shape", test_bad_shape },
    { "reason texts", test_reason_texts },
    { "ins key", test_ins_key },
};
TEST_MAIN(cases)
