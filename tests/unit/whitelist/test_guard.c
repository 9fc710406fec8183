/*
 * test_guard.c - unit tests for whitelist/guard.c: the date parser and the
 * rules that decide whether a downloaded list may replace the current one.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "tests/unit/testlib.h"
#include "whitelist/guard.h"

/* The limits the configuration gives when it says nothing (config/keys.c). */
static struct config *defaults;

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char reason[512];

static time_t parsed(const char *text)
{
    time_t t = (time_t)-12345;

    return guard_parse_time(text, &t) == 0 ? t : (time_t)-12345;
}

static void test_parse_time(void)
{
    time_t t;

    CHECK(parsed("2025-03-13T14:54:10Z") == 1741877650);
    CHECK(parsed("1970-01-01T00:00:00Z") == 0);
    CHECK(parsed("1969-12-31T23:59:59Z") == -1);
    CHECK(parsed("1900-01-01T00:00:00Z") == -2208988800LL);
    CHECK(parsed("2100-12-31T23:59:59Z") == 4133980799LL);
    CHECK(parsed("2038-01-19T03:14:08Z") == 2147483648LL);
    CHECK(parsed("2024-02-29T12:00:00Z") == 1709208000);
    /* The same instant written in every accepted way. */
    CHECK(parsed("2025-03-13T15:54:10+01:00") == 1741877650);
    CHECK(parsed("2025-03-13T15:54:10+0100") == 1741877650);
    CHECK(parsed("2025-03-13T15:54:10+01") == 1741877650);
    CHECK(parsed("2025-03-13T09:24:10-05:30") == 1741877650);
    CHECK(parsed("2025-03-13T14:54:10.999Z") == 1741877650);
    CHECK(parsed("2025-03-13t14:54:10z") == 1741877650);
    CHECK(parsed("2025-03-13 14:54:10Z") == 1741877650);
    CHECK(parsed("  2025-03-13T14:54:10Z\n") == 1741877650);
    CHECK(parsed("2025-03-13T14:54:10") == 1741877650);        /* no zone: UTC */
    CHECK(parsed("2025-03-14T00:54:10+10:00") == 1741877650);  /* crosses midnight */

    CHECK(guard_parse_time(NULL, &t) == -1);
    CHECK(guard_parse_time("", &t) == -1);
    CHECK(guard_parse_time("2025-03-13", &t) == -1);
    CHECK(guard_parse_time("13/03/2025 14:54:10", &t) == -1);
    CHECK(guard_parse_time("2025-02-29T00:00:00Z", &t) == -1);  /* not a leap year */
    CHECK(guard_parse_time("1900-02-29T00:00:00Z", &t) == -1);  /* nor is 1900 */
    CHECK(guard_parse_time("2000-02-29T00:00:00Z", &t) == 0);   /* but 2000 is */
    CHECK(guard_parse_time("2025-13-01T00:00:00Z", &t) == -1);
    CHECK(guard_parse_time("2025-00-01T00:00:00Z", &t) == -1);
    CHECK(guard_parse_time("2025-04-31T00:00:00Z", &t) == -1);
    CHECK(guard_parse_time("2025-03-13T24:00:00Z", &t) == -1);
    CHECK(guard_parse_time("2025-03-13T14:60:00Z", &t) == -1);
    CHECK(guard_parse_time("2025-03-13T14:54:10Zx", &t) == -1);
    CHECK(guard_parse_time("2025-03-13T14:54:10+25:00", &t) == -1);
    CHECK(guard_parse_time("2025-03-13T14:54:10+01:7", &t) == -1);
    CHECK(guard_parse_time("2025-03-13T14:54:10.Z", &t) == -1);
    CHECK(guard_parse_time("2025-3-13T14:54:10Z", &t) == -1);
    CHECK(guard_parse_time("<html>", &t) == -1);
}

static struct guard_facts facts(size_t domains, const char *generated, const char *sha)
{
    struct guard_facts f = { domains, generated, sha };

    return f;
}

static void test_min_domains(void)
{
    struct guard_limits lim;
    struct guard_facts cand;

    guard_limits_init(&lim, &defaults->fetch);
    CHECK(lim.min_domains == 1000 && lim.max_shrink_pct == 20 && !lim.force);

    cand = facts(999, "2025-03-13T14:54:10Z", SHA_A);
    CHECK(guard_check(&cand, NULL, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    CHECK(strstr(reason, "only 999 distinct domains") != NULL);
    CHECK(strstr(reason, "minimum is 1000") != NULL);

    /* --force never lets a near-empty list through. */
    lim.force = true;
    CHECK(guard_check(&cand, NULL, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    cand = facts(0, "2025-03-13T14:54:10Z", SHA_A);
    CHECK(guard_check(&cand, NULL, &lim, reason, sizeof(reason)) == GUARD_REFUSE);

    lim.force = false;
    cand = facts(1000, "2025-03-13T14:54:10Z", SHA_A);
    CHECK(guard_check(&cand, NULL, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    CHECK(strstr(reason, "no current list") != NULL);

    /* A test bed lowers the minimum instead. */
    lim.min_domains = 3;
    cand = facts(3, "2025-03-13T14:54:10Z", SHA_A);
    CHECK(guard_check(&cand, NULL, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
}

static void test_candidate_date(void)
{
    struct guard_limits lim;
    struct guard_facts cand, cur = facts(5000, "2025-03-13T14:54:10Z", SHA_B);

    guard_limits_init(&lim, &defaults->fetch);
    lim.force = true;
    cand = facts(5000, "13/03/2025", SHA_A);
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    CHECK(strstr(reason, "not an ISO 8601 date") != NULL);
    cand = facts(5000, NULL, SHA_A);
    CHECK(guard_check(&cand, NULL, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
}

static void test_unchanged(void)
{
    struct guard_limits lim;
    struct guard_facts cand = facts(5002, "2025-03-13T14:54:10Z", SHA_A);
    struct guard_facts cur = facts(5002, "2025-03-13T14:54:10Z", SHA_A);
    char upper[] = SHA_A;

    guard_limits_init(&lim, &defaults->fetch);
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_UNCHANGED);
    CHECK(strncmp(reason, "unchanged:", 10) == 0);
    lim.force = true;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_UNCHANGED);

    for (char *p = upper; *p; p++)
        *p = (char)(*p - 'a' + 'A');
    cur.sha256 = upper;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_UNCHANGED);

    /* Unknown hashes never count as equal. */
    cand.sha256 = "";
    cur.sha256 = "";
    lim.force = false;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
}

static void test_shrink(void)
{
    struct guard_limits lim;
    struct guard_facts cur = facts(5000, "2025-03-13T14:54:10Z", SHA_A);
    struct guard_facts cand = facts(4000, "2025-03-14T08:00:00Z", SHA_B);

    guard_limits_init(&lim, &defaults->fetch);
    /* Exactly 20 % fewer is allowed, one more domain lost is not. */
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    CHECK(strstr(reason, "4000 domains (was 5000)") != NULL);
    cand.domains = 3999;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    CHECK(strstr(reason, "3999 domains, 20.0% fewer than the current 5000 (limit 20%)") != NULL);

    /* The 80 % shrink of the issue. */
    cand.domains = 1000;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    CHECK(strstr(reason, "80.0% fewer") != NULL);
    lim.force = true;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    CHECK(strncmp(reason, "accepted with --force despite: 1000 domains", 43) == 0);

    /* Growth is always fine; 0 % forbids any loss; 100 % allows any. */
    lim.force = false;
    cand.domains = 9000;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    lim.max_shrink_pct = 0;
    cand.domains = 4999;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    cand.domains = 5000;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    lim.max_shrink_pct = 100;
    cur.domains = 1000000;
    cand.domains = 1000;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);

    /* No arithmetic surprise on huge counts. */
    lim.max_shrink_pct = 20;
    cur.domains = (size_t)1 << 40;
    cand.domains = cur.domains / 2;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);

    lim.max_shrink_pct = 101;
    cur.domains = 5000;
    cand.domains = 5000;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    lim.max_shrink_pct = -1;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
}

static void test_age(void)
{
    struct guard_limits lim;
    struct guard_facts cur = facts(5000, "2025-03-13T14:54:10Z", SHA_A);
    struct guard_facts cand = facts(5000, "2025-03-12T09:00:00Z", SHA_B);

    guard_limits_init(&lim, &defaults->fetch);
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    CHECK(strstr(reason, "generated 2025-03-12T09:00:00Z, older than the current list") != NULL);

    /* Compared as instants, not as strings: 15:00+01:00 is 14:00Z, older,
     * although it sorts after "14:54:10Z" as text. */
    cand.generated = "2025-03-13T15:00:00+01:00";
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    /* ... and 15:54:11+01:00 is one second newer. */
    cand.generated = "2025-03-13T15:54:11+01:00";
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    /* Same generation date, different content: not older, accepted. */
    cand.generated = "2025-03-13T14:54:10Z";
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);

    cand.generated = "2024-01-01T00:00:00Z";
    lim.force = true;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    CHECK(strstr(reason, "--force") != NULL && strstr(reason, "older") != NULL);

    /* Both problems are named together. */
    lim.force = false;
    cand.domains = 100 + 1000;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    CHECK(strstr(reason, "older") != NULL && strstr(reason, "fewer") != NULL);
}

static void test_current_date_unknown(void)
{
    struct guard_limits lim;
    struct guard_facts cur = facts(5000, "", SHA_A);
    struct guard_facts cand = facts(5000, "2020-01-01T00:00:00Z", SHA_B);

    guard_limits_init(&lim, &defaults->fetch);
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
    CHECK(strstr(reason, "was unknown") != NULL);
    cur.generated = NULL;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);

    /* Present but unreadable: refuse until someone forces it. */
    cur.generated = "yesterday";
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_REFUSE);
    CHECK(strstr(reason, "cannot read the current list's generation date") != NULL);
    lim.force = true;
    CHECK(guard_check(&cand, &cur, &lim, reason, sizeof(reason)) == GUARD_ACCEPT);
}

static void test_small_reason_buffer(void)
{
    struct guard_limits lim;
    struct guard_facts cur = facts(5000, "2025-03-13T14:54:10Z", SHA_A);
    struct guard_facts cand = facts(1000, "2024-03-13T14:54:10Z", SHA_B);
    char tiny[12];

    guard_limits_init(&lim, &defaults->fetch);
    CHECK(guard_check(&cand, &cur, &lim, tiny, sizeof(tiny)) == GUARD_REFUSE);
    CHECK(strlen(tiny) == sizeof(tiny) - 1);
}

static void test_from_whitelist(void)
{
    struct whitelist *wl = whitelist_new();
    struct guard_facts f;

    CHECK(wl != NULL);
    if (wl == NULL)
        return;
    guard_facts_from_whitelist(wl, &f);
    CHECK(f.domains == 0);
    wl->domains = domainset_new(4);
    CHECK(wl->domains != NULL);
    if (wl->domains) {
        CHECK(domainset_add(wl->domains, "medecin.mssante.fr", 18) == 1);
        CHECK(domainset_add(wl->domains, "MEDECIN.mssante.fr.", 19) == 0);
        CHECK(domainset_add(wl->domains, "chu-lille.mssante.fr", 20) == 1);
    }
    snprintf(wl->generated, sizeof(wl->generated), "2025-03-13T14:54:10Z");
    snprintf(wl->sha256, sizeof(wl->sha256), SHA_A);
    guard_facts_from_whitelist(wl, &f);
    CHECK(f.domains == 2);
    CHECK_STR(f.generated, "2025-03-13T14:54:10Z");
    CHECK_STR(f.sha256, SHA_A);
    whitelist_free(wl);
}

/* One "ok"/"not ok" line per group, from the failures it added. */
static void test_verdict_names(void)
{
    CHECK_STR(guard_verdict_name(GUARD_ACCEPT), "accept");
    CHECK_STR(guard_verdict_name(GUARD_UNCHANGED), "unchanged");
    CHECK_STR(guard_verdict_name(GUARD_REFUSE), "refuse");
}

static const struct test_case cases[] = {
    { "guard_parse_time", test_parse_time },
    { "min_domains, not overridden by force", test_min_domains },
    { "candidate without a readable DateDeGeneration is refused, even forced",
      test_candidate_date },
    { "same sha256 is reported unchanged", test_unchanged },
    { "shrink limit, overridden by force", test_shrink },
    { "generation date not older than the current one, overridden by force", test_age },
    { "current list without a generation date", test_current_date_unknown },
    { "reason truncated safely", test_small_reason_buffer },
    { "facts of an in-memory list", test_from_whitelist },
    { "verdict names", test_verdict_names },
};

int main(void)
{
    int rc;

    if ((defaults = config_defaults()) == NULL)
        return 2;
    rc = TEST_RUN(cases);
    config_free(defaults);
    return rc;
}
