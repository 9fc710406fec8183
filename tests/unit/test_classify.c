/*
 * test_classify.c - which side of the trust space an address falls on
 * (policy/classify.c), including the lookalikes of MSSANTE.md s.1.
 */
#include <stdbool.h>
#include <string.h>

#include "policy/address.h"
#include "policy/classify.h"
#include "tests/unit/testlib.h"

/* A whitelist as a plain array, searched exactly like the real set. */
struct array_list {
    const char *const *names;
    unsigned n;
};

static unsigned lookups;   /* lets a test see whether the list was consulted */

static bool array_lookup(const void *ctx, const char *domain)
{
    const struct array_list *l = ctx;
    unsigned i;

    lookups++;
    for (i = 0; i < l->n; i++) {
        if (strcmp(l->names[i], domain) == 0)
            return true;
    }
    return false;
}

static const char *const listed[] = {
    "chu-lille.mssante.fr", "medecin.mssante.fr", "pharmacien.mssante.fr",
    "lgpi.mssante.fr", "mssante.apicrypt.org", "interop-mssante.apicrypt.org",
    "sub.parent-listed.fr", "xn--hpital-exemple-0ob.mssante.fr",
};
static const struct array_list wl = { listed, sizeof(listed) / sizeof(listed[0]) };
static const char *const locals[] = { "hopital-exemple.mssante.fr", "autre.mssante.fr" };
static const struct policy_env env = {
    array_lookup, &wl, locals, 2, "patient.mssante.fr", NULL
};

/* Class of the address IN (which must parse), and its reason. */
static enum addr_class class_of(const struct policy_env *e, const char *in, const char **reason)
{
    struct mailaddr a;
    const char *r = NULL;
    enum addr_class c;

    CHECK(addr_parse(in, &a, NULL) == ADDR_OK);
    c = policy_classify(e, &a, &r);
    CHECK(r != NULL);
    if (reason)
        *reason = r;
    return c;
}

static void test_listed(void)
{
    const char *why;

    CHECK(class_of(&env, "<dr.martin@medecin.mssante.fr>", &why) == CLASS_MSSANTE);
    CHECK_STR(why, "on the ANS whitelist");
    CHECK(class_of(&env, "<a@mssante.apicrypt.org>", NULL) == CLASS_MSSANTE);
    CHECK(class_of(&env, "<a@interop-mssante.apicrypt.org>", NULL) == CLASS_MSSANTE);
    /* upper case and trailing dot */
    CHECK(class_of(&env, "<Dr.Martin@MEDECIN.MSSANTE.FR.>", NULL) == CLASS_MSSANTE);
    CHECK(class_of(&env, "Secretariat@Chu-Lille.MSSante.Fr.", NULL) == CLASS_MSSANTE);
    CHECK(class_of(&env, "<@relay.example:a@lgpi.mssante.fr>", NULL) == CLASS_MSSANTE);
}

static void test_lookalikes(void)
{
    const char *why;

    /* a Unicode lookalike: its own A-label (medecin.xn--mssant-gva.fr), unlisted */
    CHECK(class_of(&env, "<a@medecin.mssant\xc3\xa9.fr>", &why) == CLASS_CLASSIC);
    CHECK_STR(why, "not on the ANS whitelist");
    /* IDNA2008 refuses it: classic without asking the list */
    CHECK(class_of(&env, "<a@medecin.\xe2\x98\x83.fr>", &why) == CLASS_CLASSIC);
    CHECK(strstr(why, "IDNA2008") != NULL);
    CHECK(class_of(&env, "<a@interop-mssante.apycrypt.org>", &why) == CLASS_CLASSIC);
    CHECK_STR(why, "not on the ANS whitelist");
    CHECK(class_of(&env, "<a@apicrypt.org>", NULL) == CLASS_CLASSIC);
    CHECK(class_of(&env, "<a@chu-lille.mssante.fr.example.com>", NULL) == CLASS_CLASSIC);
    CHECK(class_of(&env, "<a@evilmssante.fr>", NULL) == CLASS_CLASSIC);
    CHECK(class_of(&env, "<a@outlook.fr>", NULL) == CLASS_CLASSIC);
    CHECK(class_of(&env, "<a@mssante.fr>", NULL) == CLASS_CLASSIC);
    /* neither the parent of a listed name nor an unlisted child of one */
    CHECK(class_of(&env, "<a@parent-listed.fr>", NULL) == CLASS_CLASSIC);
    CHECK(class_of(&env, "<a@x.sub.parent-listed.fr>", NULL) == CLASS_CLASSIC);
    CHECK(class_of(&env, "<a@x.medecin.mssante.fr>", NULL) == CLASS_CLASSIC);
    CHECK(class_of(&env, "<a@medecin.mssante.fr.fr>", NULL) == CLASS_CLASSIC);
}

/* A listed A-label, written in Unicode or as it is. */
static void test_idn_listed(void)
{
    const char *why;

    CHECK(class_of(&env, "<a@h\xc3\xb4pital-exemple.mssante.fr>", &why) == CLASS_MSSANTE);
    CHECK_STR(why, "on the ANS whitelist");
    CHECK(class_of(&env, "<a@H\xc3\x94PITAL-EXEMPLE.MSSANTE.FR.>", NULL) == CLASS_MSSANTE);
    CHECK(class_of(&env, "<a@xn--hpital-exemple-0ob.mssante.fr>", NULL) == CLASS_MSSANTE);
    /* the same name without its accent is another domain */
    CHECK(class_of(&env, "<a@hopital-exemple.mssante.fr>", NULL) == CLASS_MSSANTE);   /* local */
    CHECK(class_of(&env, "<a@h\xc3\xb2pital-exemple.mssante.fr>", NULL) == CLASS_CLASSIC);
}

static void test_literals(void)
{
    const char *why;
    unsigned before = lookups;

    CHECK(class_of(&env, "<a@[192.0.2.1]>", &why) == CLASS_CLASSIC);
    CHECK(strstr(why, "literal") != NULL);
    CHECK(class_of(&env, "<a@[IPv6:2001:db8::1]>", NULL) == CLASS_CLASSIC);
    /* decided without consulting the list */
    CHECK(lookups == before);
}

static void test_local_and_patient(void)
{
    const char *why;
    unsigned before = lookups;

    CHECK(class_of(&env, "<279035121518989@patient.mssante.fr>", &why) == CLASS_PATIENT);
    CHECK_STR(why, "the PatientDomain");
    CHECK(class_of(&env, "<279035121518989@PATIENT.mssante.fr.>", NULL) == CLASS_PATIENT);
    /* LocalDomains need not be on the whitelist */
    CHECK(class_of(&env, "<cardio@hopital-exemple.mssante.fr>", &why) == CLASS_MSSANTE);
    CHECK_STR(why, "one of our LocalDomains");
    CHECK(class_of(&env, "<x@Autre.MSSante.fr>", NULL) == CLASS_MSSANTE);
    CHECK(lookups == before);

    CHECK(policy_is_local_domain(&env, "hopital-exemple.mssante.fr"));
    CHECK(policy_is_local_domain(&env, "autre.mssante.fr"));
    CHECK(!policy_is_local_domain(&env, "mssante.fr"));
    CHECK(!policy_is_local_domain(&env, "x.hopital-exemple.mssante.fr"));
    CHECK(!policy_is_local_domain(&env, "medecin.mssante.fr"));
    CHECK(!policy_is_local_domain(&env, NULL));
    CHECK(!policy_is_local_domain(NULL, "autre.mssante.fr"));
}

static void test_no_whitelist(void)
{
    struct policy_env bare = env;
    const char *why;

    bare.is_listed = NULL;
    CHECK(class_of(&bare, "<a@medecin.mssante.fr>", &why) == CLASS_CLASSIC);
    CHECK_STR(why, "no whitelist available");
    CHECK(class_of(&bare, "<a@autre.mssante.fr>", NULL) == CLASS_MSSANTE);
    CHECK(class_of(&bare, "<a@patient.mssante.fr>", NULL) == CLASS_PATIENT);

    bare.patient_domain = NULL;
    bare.local_domains = NULL;
    bare.n_local_domains = 0;
    CHECK(class_of(&bare, "<a@patient.mssante.fr>", NULL) == CLASS_CLASSIC);
}

static void test_invalid_and_names(void)
{
    struct mailaddr a;
    const char *why = NULL;

    CHECK(addr_parse("<>", &a, NULL) == ADDR_NULL);
    CHECK(policy_classify(&env, &a, &why) == CLASS_INVALID);
    CHECK(why != NULL);
    CHECK(policy_classify(&env, NULL, NULL) == CLASS_INVALID);

    CHECK_STR(addr_class_name(CLASS_MSSANTE), "mssante");
    CHECK_STR(addr_class_name(CLASS_PATIENT), "patient");
    CHECK_STR(addr_class_name(CLASS_CLASSIC), "classic");
    CHECK_STR(addr_class_name(CLASS_INVALID), "invalid");
}

int main(void)
{
    test_listed();
    test_lookalikes();
    test_idn_listed();
    test_literals();
    test_local_and_patient();
    test_no_whitelist();
    test_invalid_and_names();
    TEST_DONE();
}
