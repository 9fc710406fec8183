/*
 * classify.c - put a parsed address on one side of the trust space.
 *
 * The order of the tests is the policy:
 *   1. PatientDomain                      -> patient
 *   2. one of our LocalDomains            -> MSSante (we are an operator)
 *   3. address literal, or a Unicode domain IDNA2008 refuses -> classic:
 *      the ANS list holds host names, so such a name is never on it (a
 *      Unicode domain that converts is compared in A-label form, like
 *      every other: policy/address.h)
 *   4. exactly on the ANS whitelist       -> MSSante
 *   5. anything else                      -> classic
 * Matching is exact on the normalised domain: no suffix or parent matching,
 * so "chu-lille.mssante.fr.example.com" or "evilmssante.fr" stay classic.
 */
#include <string.h>

#include "policy/classify.h"

bool policy_is_local_domain(const struct policy_env *env, const char *domain)
{
    unsigned long i;

    if (env == NULL || domain == NULL || env->local_domains == NULL)
        return false;
    for (i = 0; i < env->n_local_domains; i++) {
        if (env->local_domains[i] != NULL && strcmp(env->local_domains[i], domain) == 0)
            return true;
    }
    return false;
}

enum addr_class policy_classify(const struct policy_env *env,
                                const struct mailaddr *addr,
                                const char **reason)
{
    const char *dummy;

    if (reason == NULL)
        reason = &dummy;
    if (env == NULL || addr == NULL || addr->domain[0] == '\0') {
        *reason = "no address";
        return CLASS_INVALID;
    }
    if (env->patient_domain != NULL && strcmp(addr->domain, env->patient_domain) == 0) {
        *reason = "the PatientDomain";
        return CLASS_PATIENT;
    }
    if (policy_is_local_domain(env, addr->domain)) {
        *reason = "one of our LocalDomains";
        return CLASS_MSSANTE;
    }
    if (addr->domain_literal) {
        *reason = "address literal: never on the whitelist";
        return CLASS_CLASSIC;
    }
    if (addr->domain_idn_bad) {
        *reason = "Unicode domain that IDNA2008 refuses: never on the whitelist";
        return CLASS_CLASSIC;
    }
    if (env->is_listed == NULL) {
        *reason = "no whitelist available";
        return CLASS_CLASSIC;
    }
    if (env->is_listed(env->lookup_ctx, addr->domain)) {
        *reason = "on the ANS whitelist";
        return CLASS_MSSANTE;
    }
    *reason = "not on the ANS whitelist";
    return CLASS_CLASSIC;
}

const char *addr_class_name(enum addr_class c)
{
    switch (c) {
    case CLASS_MSSANTE:
        return "mssante";
    case CLASS_PATIENT:
        return "patient";
    case CLASS_CLASSIC:
        return "classic";
    case CLASS_INVALID:
        return "invalid";
    }
    return "unknown";
}
