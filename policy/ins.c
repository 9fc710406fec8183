/*
 * ins.c - INS matricule check (see ins.h for the rules).
 *
 * The 13-digit NIR is below 10^13, so the whole number fits easily in 64
 * bits and the key is one modulo; no digit-by-digit modular trick needed.
 */
#include <stdio.h>
#include <string.h>

#include "policy/ins.h"

/* 1-based positions of the birth department, which may be 2A / 2B. */
#define DEPT_POS 6

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The Corsican letter at position 7 ('A' or 'B', either case), or 0. */
static char corsica_letter(char c)
{
    if (c == 'A' || c == 'a')
        return 'A';
    if (c == 'B' || c == 'b')
        return 'B';
    return 0;
}

/*
 * 0 if character I (0-based) of S is allowed there, else the 1-based
 * position to report.  Only position 7 may be a letter, and only when
 * position 6 is '2'.
 */
static unsigned bad_position(const char *s, unsigned i)
{
    if (is_digit(s[i]))
        return 0;
    if (i == DEPT_POS && s[DEPT_POS - 1] == '2' && corsica_letter(s[i]))
        return 0;
    return i + 1;
}

int ins_key(const char *nir)
{
    unsigned long long n = 0;
    unsigned i;

    if (nir == NULL)
        return -1;
    for (i = 0; i < INS_NIR_LEN; i++) {
        if (nir[i] == '\0' || bad_position(nir, i) != 0)
            return -1;
        if (i == DEPT_POS - 1 && nir[i] == '2' && corsica_letter(nir[DEPT_POS])) {
            /* "2A" counts as 19 and "2B" as 18: replace the pair. */
            n = n * 100 + (corsica_letter(nir[DEPT_POS]) == 'A' ? 19 : 18);
            i++;
            continue;
        }
        n = n * 10 + (unsigned)(nir[i] - '0');
    }
    return (int)(97 - n % 97);
}

static void describe_char(struct ins_result *res, const char *s, unsigned pos)
{
    unsigned char c = (unsigned char)s[pos - 1];

    if (c > 0x20 && c < 0x7f)
        snprintf(res->reason, sizeof(res->reason),
                 "character '%c' at position %u (digits only, 2A/2B at positions 6-7)",
                 c, pos);
    else
        snprintf(res->reason, sizeof(res->reason),
                 "byte 0x%02x at position %u (digits only, 2A/2B at positions 6-7)", c, pos);
}

enum ins_status ins_check(const char *local, struct ins_result *res)
{
    unsigned i;

    memset(res, 0, sizeof(*res));
    res->given_key = res->expected_key = -1;
    res->status = INS_BAD_SHAPE;
    if (local == NULL) {
        res->shape = INS_SHAPE_LENGTH;
        snprintf(res->reason, sizeof(res->reason), "no local part");
        return res->status;
    }
    res->length = strlen(local);
    if (res->length != INS_LEN) {
        res->shape = INS_SHAPE_LENGTH;
        snprintf(res->reason, sizeof(res->reason), "length %lu, expected %d",
                 res->length, INS_LEN);
        return res->status;
    }
    for (i = 0; i < INS_LEN; i++) {
        unsigned pos = bad_position(local, i);

        /* The key (positions 14-15) is digits only. */
        if (pos == 0 && i >= INS_NIR_LEN && !is_digit(local[i]))
            pos = i + 1;
        if (pos != 0) {
            res->shape = INS_SHAPE_CHAR;
            res->position = pos;
            describe_char(res, local, pos);
            return res->status;
        }
    }

    memcpy(res->normalized, local, INS_LEN + 1);
    if (corsica_letter(local[DEPT_POS]))
        res->normalized[DEPT_POS] = corsica_letter(local[DEPT_POS]);
    res->given_key = (local[13] - '0') * 10 + (local[14] - '0');
    res->expected_key = ins_key(local);
    if (res->given_key != res->expected_key) {
        res->status = INS_BAD_KEY;
        snprintf(res->reason, sizeof(res->reason),
                 "the key (last two digits) does not match the first 13 characters");
        return res->status;
    }
    res->status = INS_OK;
    return res->status;
}

const char *ins_status_name(enum ins_status s)
{
    switch (s) {
    case INS_OK:        return "ok";
    case INS_BAD_SHAPE: return "bad-shape";
    case INS_BAD_KEY:   return "bad-key";
    }
    return "unknown";
}
