/*
 * ins.h - check the INS matricule that forms a patient's address.
 *
 * A patient's MSSante address is <matricule>@patient.mssante.fr, where the
 * matricule is 15 characters: the 13-character NIR/NIA, then a 2-digit key
 * equal to 97 - (NIR mod 97).  The NIR is all digits except that positions
 * 6-7 (1-based: the birth department) may be "2A" or "2B" for Corsica; for
 * the key those count as "19" and "18".
 *
 * The point of the check is to catch a typo before health data reaches a
 * stranger, so it is strict on shape and on the key, and says which of the
 * two failed.  The expected key is computed for the check only: it must
 * never go into an SMTP reply, where it would let a mistyped number
 * through, nor into a log or mssantectl's output, where it would complete
 * a patient's identifier (the reason says neither key).
 *
 * Lower-case "2a"/"2b" are accepted (mail clients and address books often
 * lower-case a whole address) and normalised to upper case, so that one
 * patient has one identity in the conversation store.
 *
 * Pure: no allocation, no I/O.
 */
#ifndef MSSANTE_INS_H
#define MSSANTE_INS_H

#define INS_LEN     15
#define INS_NIR_LEN 13

enum ins_status {
    INS_OK = 0,
    INS_BAD_SHAPE,    /* wrong length or a character not allowed where it is */
    INS_BAD_KEY       /* well-formed, but the key does not match the NIR */
};

enum ins_shape {
    INS_SHAPE_OK = 0,
    INS_SHAPE_LENGTH,   /* not 15 characters */
    INS_SHAPE_CHAR      /* bad character at ins_result.position */
};

struct ins_result {
    enum ins_status status;
    enum ins_shape shape;        /* INS_BAD_SHAPE: what is wrong */
    unsigned position;           /* INS_SHAPE_CHAR: 1-based position */
    unsigned long length;        /* length of the local part as given */
    int given_key;               /* INS_OK / INS_BAD_KEY: the last two digits */
    int expected_key;            /* INS_OK / INS_BAD_KEY: never shown (replies, logs) */
    char normalized[INS_LEN + 1];/* INS_OK / INS_BAD_KEY: "2a"/"2b" upper-cased */
    char reason[96];             /* English, for logs ("length 14, expected 15", ...) */
};

/* Check LOCAL (a patient address's local part, as given).  Always fills
 * *res; returns res->status.  LOCAL == NULL is a shape error. */
enum ins_status ins_check(const char *local, struct ins_result *res);

/* The key (1..97) for the NIR in the first 13 characters of NIR (digits,
 * "2A"/"2B" in either case at positions 6-7), or -1 if they are not one. */
int ins_key(const char *nir);

const char *ins_status_name(enum ins_status s);   /* "ok", "bad-shape", "bad-key" */

#endif
