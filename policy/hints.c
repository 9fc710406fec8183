/*
 * hints.c - the hint that goes with a refused recipient (see hints.h).
 *
 * The near-miss search generates every string one edit away from the
 * domain and asks the list about each, rather than measuring the distance
 * to every listed domain: the work depends on the length of the refused
 * name, not on the 10,000 names of the list.  When several candidates are
 * in the trust space, the smallest in byte order is suggested, so that
 * the same typo always gets the same answer.
 */
#include <string.h>

#include "common/utf8.h"
#include "policy/hints.h"

#define APICRYPT "apicrypt.org"
#define MSSANTE  "mssante.fr"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789-.";

/* The best candidate so far. */
struct search {
    const struct policy_env *env;
    const char *domain;             /* the refused one: never suggested */
    char best[HINT_SEARCH_MAX + 2];
    bool found;
};

static bool in_trust_space(const struct policy_env *env, const char *d)
{
    if (env->patient_domain != NULL && strcmp(d, env->patient_domain) == 0)
        return true;
    if (policy_is_local_domain(env, d))
        return true;
    return env->is_listed != NULL && env->is_listed(env->lookup_ctx, d);
}

static void consider(struct search *s, const char *cand)
{
    if (cand[0] == '\0' || cand[0] == '.' || strcmp(cand, s->domain) == 0)
        return;
    if (s->found && strcmp(cand, s->best) >= 0)
        return;
    if (!in_trust_space(s->env, cand))
        return;
    memcpy(s->best, cand, strlen(cand) + 1);
    s->found = true;
}

/* Every string one edit away from D (LEN bytes, ASCII). */
static void one_edit(struct search *s, const char *d, size_t len)
{
    char c[HINT_SEARCH_MAX + 2];
    size_t i, k;

    for (i = 0; i < len; i++) {                     /* deletion */
        memcpy(c, d, i);
        memcpy(c + i, d + i + 1, len - i);
        consider(s, c);
    }
    for (i = 0; i + 1 < len; i++) {                 /* swap of neighbours */
        if (d[i] == d[i + 1])
            continue;
        memcpy(c, d, len + 1);
        c[i] = d[i + 1];
        c[i + 1] = d[i];
        consider(s, c);
    }
    for (i = 0; i < len; i++) {                     /* substitution */
        memcpy(c, d, len + 1);
        for (k = 0; alphabet[k] != '\0'; k++) {
            if (alphabet[k] == d[i])
                continue;
            c[i] = alphabet[k];
            consider(s, c);
        }
    }
    if (len + 1 > HINT_SEARCH_MAX)
        return;
    for (i = 0; i <= len; i++) {                    /* insertion */
        memcpy(c, d, i);
        memcpy(c + i + 1, d + i, len - i + 1);
        for (k = 0; alphabet[k] != '\0'; k++) {
            c[i] = alphabet[k];
            consider(s, c);
        }
    }
}

/* U, a domain as written in Unicode: when it holds exactly one non-ASCII
 * character, that character removed or changed into an ASCII one. */
static void one_unicode_edit(struct search *s, const char *u)
{
    char c[HINT_SEARCH_MAX + 2];
    const unsigned char *p = (const unsigned char *)u;
    size_t len = strlen(u), at = 0, seq = 0, i, k;
    unsigned n_wide = 0;

    if (len > HINT_SEARCH_MAX)
        return;
    for (i = 0; i < len; i++) {
        if (p[i] < 0x80)
            continue;
        if ((seq = utf8_seq_len(p + i, 4)) == 0)
            return;
        if (++n_wide > 1)
            return;                  /* one edit cannot make it ASCII */
        at = i;
        i += seq - 1;
    }
    if (n_wide != 1)
        return;
    memcpy(c, u, at);                               /* removed */
    memcpy(c + at, u + at + seq, len - at - seq + 1);
    consider(s, c);
    for (k = 0; alphabet[k] != '\0'; k++) {         /* changed */
        c[at] = alphabet[k];
        memcpy(c + at + 1, u + at + seq, len - at - seq + 1);
        consider(s, c);
    }
}

bool hint_near_domain(const struct policy_env *env, const char *domain, char *out,
                      size_t size)
{
    struct search s;
    size_t len = domain != NULL ? strlen(domain) : 0;

    if (env == NULL || len == 0 || len > HINT_SEARCH_MAX || size == 0)
        return false;
    memset(&s, 0, sizeof(s));
    s.env = env;
    s.domain = domain;
    one_edit(&s, domain, len);
    if (!s.found || strlen(s.best) >= size)
        return false;
    memcpy(out, s.best, strlen(s.best) + 1);
    return true;
}

/* Is D NAME, or a name under it? */
static bool is_or_under(const char *d, const char *name)
{
    size_t dl = strlen(d), nl = strlen(name);

    if (dl == nl)
        return strcmp(d, name) == 0;
    return dl > nl && d[dl - nl - 1] == '.' && strcmp(d + dl - nl, name) == 0;
}

void hint_for(const struct policy_env *env, const struct mailaddr *a, struct rcpt_hint *out)
{
    struct search s;

    memset(out, 0, sizeof(*out));
    if (env == NULL || a == NULL || a->domain_literal || a->domain[0] == '\0')
        return;
    memcpy(out->domain, a->domain, sizeof(out->domain));
    if (a->domain_idn_bad) {
        out->kind = HINT_IDN_INVALID;
        return;
    }
    if (hint_near_domain(env, a->domain, out->suggestion,
                                               sizeof(out->suggestion))) {
        out->kind = HINT_DID_YOU_MEAN;
        return;
    }
    if (a->domain_utf8) {
        memset(&s, 0, sizeof(s));
        s.env = env;
        s.domain = a->domain;
        one_unicode_edit(&s, a->domain_u);
        if (s.found) {
            out->kind = HINT_DID_YOU_MEAN;
            memcpy(out->suggestion, s.best, strlen(s.best) + 1);
            return;
        }
    }
    if (is_or_under(a->domain, APICRYPT))
        out->kind = HINT_APICRYPT;
    else if (is_or_under(a->domain, MSSANTE))
        out->kind = HINT_MSSANTE_UNLISTED;
}
