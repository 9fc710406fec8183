/*
 * fuzz_headers.c - the header values the patient rules read: Subject
 * ([FIN] and its variants), X-MSS-MES, and the top-level Content-Type
 * that the body probe takes its boundary from (policy/patient.c,
 * policy/bodyprobe.c).
 *
 * Input: a header value as libmilter hands it over (folding CR LF kept),
 * up to the first NUL.  The same value is read as each of the three
 * headers.
 *
 * Properties:
 *  - Subject: FIN_EXACT exactly when the value is "[FIN]"; a variant holds
 *    '[', "fin" in any case and ']';
 *  - X-MSS-MES: "FIN" only when the value is FIN in any case, trimmed;
 *  - Content-Type: whatever boundary a mail reader takes from the value,
 *    the probe never calls empty a body that has text in a part under
 *    that boundary.  The candidates are every value of a parameter named
 *    boundary (or boundary*...), read the plain way: split at the ';'
 *    outside quotes.  The body puts "text" in a part delimited by one
 *    candidate and closes an empty part of every other candidate after
 *    it: a probe that reads another boundary than the reader sees only
 *    a preamble and an empty part.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/patient.h"
#include "tests/fuzz/fuzz.h"

#define MAX_CANDIDATES 8
#define CAND_MAX       (BODY_PROBE_BOUNDARY_MAX * 2)

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void check_subject(const char *v)
{
    enum fin_kind k = patient_subject_fin(v);

    FUZZ_ASSERT((k == FIN_EXACT) == (strcmp(v, "[FIN]") == 0), "Subject \"%s\": %s", v,
                fin_kind_name(k));
    if (k == FIN_VARIANT)
        FUZZ_ASSERT(strchr(v, '[') != NULL && strchr(v, ']') != NULL && strcasestr(v, "fin"),
                    "Subject \"%s\" taken for a [FIN] variant", v);
}

static void check_mes(const char *v)
{
    const char *s = v;
    size_t n;

    if (!patient_mes_fin(v))
        return;
    while (is_ws(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_ws(s[n - 1]))
        n--;
    FUZZ_ASSERT(n == 3 && strncasecmp(s, "fin", 3) == 0, "X-MSS-MES \"%s\" taken for FIN", v);
}

/* Where the next ';' outside a quoted string is, or NULL. */
static const char *next_semicolon(const char *s)
{
    bool quoted = false;

    for (; *s != '\0'; s++) {
        if (quoted && *s == '\\' && s[1] != '\0')
            s++;
        else if (*s == '"')
            quoted = !quoted;
        else if (!quoted && *s == ';')
            return s;
    }
    return NULL;
}

/* The boundary candidates of V, split the plain way.  Returns how many. */
static size_t candidates(const char *v, char out[][CAND_MAX + 1])
{
    size_t n = 0;
    const char *s = v;

    while (n < MAX_CANDIDATES && (s = next_semicolon(s)) != NULL) {
        const char *name, *eq;
        size_t len = 0;

        for (s++; is_ws(*s); s++)
            ;
        name = s;
        if (strncasecmp(name, "boundary", 8) != 0)
            continue;
        /* "boundary", or one of its RFC 2231 forms ("boundary*", "boundary*0"). */
        for (eq = name + 8; *eq == '*' || (*eq >= '0' && *eq <= '9'); eq++)
            ;
        if (eq != name + 8 && name[8] != '*')
            continue;
        while (is_ws(*eq))
            eq++;
        if (*eq != '=')
            continue;
        for (s = eq + 1; is_ws(*s); s++)
            ;
        if (*s == '"') {
            for (s++; *s != '\0' && *s != '"' && len < CAND_MAX; s++) {
                if (*s == '\\' && s[1] != '\0')
                    s++;
                out[n][len++] = *s;
            }
            if (*s == '"')
                s++;
        } else {
            for (; *s != '\0' && *s != ';' && !is_ws(*s) && len < CAND_MAX; s++)
                out[n][len++] = *s;
        }
        out[n][len] = '\0';
        if (len > 0 && strpbrk(out[n], "\r\n") == NULL)
            n++;
    }
    return n;
}

static void append(char **b, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *grown = realloc(*b, *len + n + 1);

    if (grown == NULL)
        abort();
    memcpy(grown + *len, s, n + 1);
    *b = grown;
    *len += n;
}

static void check_content_type(const char *v)
{
    char cand[MAX_CANDIDATES][CAND_MAX + 1];
    size_t n = candidates(v, cand), i, j;

    for (i = 0; i < n; i++) {
        struct body_probe p;
        char *body = NULL;
        size_t len = 0;

        append(&body, &len, "--");
        append(&body, &len, cand[i]);
        append(&body, &len, "\r\n\r\ntext\r\n--");
        append(&body, &len, cand[i]);
        append(&body, &len, "--\r\n");
        for (j = 0; j < n; j++) {
            if (j == i)
                continue;
            append(&body, &len, "--");
            append(&body, &len, cand[j]);
            append(&body, &len, "\r\n\r\n--");
            append(&body, &len, cand[j]);
            append(&body, &len, "--\r\n");
        }
        body_probe_init(&p, v);
        body_probe_feed(&p, body, len);
        FUZZ_ASSERT(!body_probe_empty(&p),
                    "Content-Type \"%s\": text under boundary \"%s\" counted as empty", v,
                    cand[i]);
        free(body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = fuzz_cstring(data, size);

    check_subject(v);
    check_mes(v);
    check_content_type(v);
    free(v);
    return 0;
}
