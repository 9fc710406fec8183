/*
 * idna.c - Unicode domain names to A-labels with libidn2 (see idna.h).
 *
 * The flags: IDN2_NONTRANSITIONAL is UTS #46 non-transitional processing
 * ("stra\u00dfe" keeps its sharp s, as IDNA2008 and Postfix do; the
 * transitional form would make it "strasse", another domain), and
 * IDN2_NFC_INPUT normalises first.  IDN2_USE_STD3_ASCII_RULES is left
 * out on purpose: libidn2 2.3 then silently drops some ASCII characters
 * ("exa_mple.fr" becomes "example.fr"), which would turn a name outside
 * the list into one on it; the caller checks the host-name syntax of the
 * result instead.
 */
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "common/idna.h"

#define IDNA_FLAGS (IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT)

bool idna_is_unicode(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

int idna_to_alabel(const char *name, char *out, size_t size, const char **why)
{
    const char *dummy;
    char *ascii = NULL;
    size_t len, i;
    int rc;

    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (name == NULL || out == NULL || size == 0) {
        *why = "no name";
        return -1;
    }
    rc = idn2_to_ascii_8z(name, &ascii, IDNA_FLAGS);
    if (rc != IDN2_OK) {
        *why = idn2_strerror(rc);
        free(ascii);
        return -1;
    }
    len = strlen(ascii);
    if (len >= size) {
        *why = "domain too long in A-label form";
        free(ascii);
        return -1;
    }
    for (i = 0; i <= len; i++)
        out[i] = ascii[i] >= 'A' && ascii[i] <= 'Z' ? (char)(ascii[i] - 'A' + 'a') : ascii[i];
    free(ascii);
    return 0;
}
