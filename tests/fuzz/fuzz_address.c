/*
 * fuzz_address.c - the envelope address (policy/address.c), the INS
 * matricule of a patient's local part (policy/ins.c) and the trust-space
 * class of what parsed (policy/classify.c).
 *
 * Input: the MAIL FROM / RCPT TO argument as libmilter hands it over (a C
 * string: the input up to its first NUL).
 *
 * Properties checked on an address that parses:
 *  - the domain is in normal form: no upper-case ASCII, no trailing dot,
 *    not empty; the local part is not empty and within ADDR_LOCAL_MAX;
 *  - the normal form is a fixed point: addr_format() of the result parses
 *    again to the same local part and domain;
 *  - an ASCII, non-literal domain passes addr_normalize_domain() unchanged;
 *  - a domain literal or a UTF-8 domain is never MSSante or patient.
 * And on an INS check that says OK: the key is the one ins_key() computes.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/address.h"
#include "policy/classify.h"
#include "policy/ins.h"
#include "tests/fuzz/fuzz.h"

static void check_normal_form(const char *in, const struct mailaddr *a)
{
    char buf[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2], dom[ADDR_DOMAIN_MAX + 1];
    struct mailaddr again;
    size_t dlen = strlen(a->domain), i;

    FUZZ_ASSERT(a->local[0] != '\0', "empty local part for \"%s\"", in);
    FUZZ_ASSERT(strlen(a->local) <= ADDR_LOCAL_MAX, "local part too long");
    FUZZ_ASSERT(dlen > 0 && a->domain[dlen - 1] != '.', "domain \"%s\" not normalised", a->domain);
    for (i = 0; i < dlen; i++)
        FUZZ_ASSERT(a->domain[i] < 'A' || a->domain[i] > 'Z', "upper case in \"%s\"", a->domain);

    addr_format(a, buf, sizeof(buf));
    FUZZ_ASSERT(addr_parse(buf, &again, NULL) == ADDR_OK, "\"%s\" (from \"%s\") does not parse",
                buf, in);
    FUZZ_ASSERT(strcmp(again.local, a->local) == 0 && strcmp(again.domain, a->domain) == 0
                && again.domain_literal == a->domain_literal
                && again.domain_idn_bad == a->domain_idn_bad
                && again.domain_utf8 == a->domain_idn_bad,
                "\"%s\" is not a fixed point", buf);
    /* A Unicode domain comes out in A-labels, unless IDNA2008 refused it. */
    for (i = 0; !a->domain_idn_bad && i < dlen; i++)
        FUZZ_ASSERT((unsigned char)a->domain[i] < 0x80, "\"%s\" left in Unicode", a->domain);

    if (!a->domain_literal && !a->domain_idn_bad) {
        memcpy(dom, a->domain, dlen + 1);
        FUZZ_ASSERT(addr_normalize_domain(dom) && strcmp(dom, a->domain) == 0,
                    "addr_normalize_domain disagrees on \"%s\"", a->domain);
    }
}

static void check_class(const struct mailaddr *a)
{
    const char *why = NULL;
    enum addr_class c = policy_classify(fuzz_policy_env(), a, &why);

    FUZZ_ASSERT(why != NULL, "no reason given");
    if (a->domain_literal || a->domain_idn_bad)
        FUZZ_ASSERT(c == CLASS_CLASSIC, "\"%s\" classified %s", a->domain, addr_class_name(c));
    if (c == CLASS_MSSANTE)
        FUZZ_ASSERT(fuzz_domain_listed(a->domain) || strcmp(a->domain, FUZZ_LOCAL_DOMAIN) == 0,
                    "\"%s\" let into the trust space", a->domain);
}

static void check_ins(const char *local)
{
    struct ins_result r;

    if (ins_check(local, &r) != INS_OK)
        return;
    FUZZ_ASSERT(strlen(local) == INS_LEN && strlen(r.normalized) == INS_LEN,
                "INS \"%s\" accepted with a wrong length", local);
    FUZZ_ASSERT(ins_key(r.normalized) == r.given_key, "INS \"%s\": key mismatch", local);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_cstring(data, size);
    struct mailaddr a;
    const char *why = NULL;
    enum addr_status st = addr_parse(in, &a, &why);

    if (st == ADDR_OK) {
        check_normal_form(in, &a);
        check_class(&a);
        check_ins(a.local);
    } else if (st == ADDR_MALFORMED) {
        FUZZ_ASSERT(why != NULL, "malformed without a reason: \"%s\"", in);
    }
    check_ins(in);
    addr_normalize_domain(in);    /* the configured-domain path, in place */
    free(in);
    return 0;
}
