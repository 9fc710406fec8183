/*
 * test_fetch_publish.c - when a node's fetcher leaves its turn to another
 * node (refresh_others_turn, whitelist/fetch_publish.h): several MX nodes
 * sharing one Redis download the ANS list once per WhitelistRefresh
 * between them, and a lone node keeps its own rate.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/testlib.h"
#include "whitelist/fetch_publish.h"

#define NOW 1800000000LL
#define OWN "mx1:4242:"

static const struct turn_case {
    const char *name;
    long long last_attempt;      /* 0: none recorded */
    const char *last_token;
    long long refresh_ms;
    bool skip;
} turns[] = {
    { "nothing recorded: fetch",                  0,         "",                  4000, false },
    { "another node 1 s ago, 4 s interval: skip", NOW - 1,   "mx2:17:00ab",       4000, true },
    { "another node 3 s ago: still its turn",     NOW - 3,   "mx2:17:00ab",       4000, true },
    { "another node 4 s ago: my turn",            NOW - 4,   "mx2:17:00ab",       4000, false },
    { "my own attempt 1 s ago: never a reason",   NOW - 1,   OWN "00cd",          4000, false },
    { "same host, another pid: another node",     NOW - 1,   "mx1:4243:00cd",     4000, true },
    { "pid prefix of mine is not mine",           NOW - 1,   "mx1:42420:00cd",    4000, true },
    { "host prefix of mine is not mine",          NOW - 1,   "mx10:4242:00cd",    4000, true },
    { "no token recorded: another node",          NOW - 1,   "",                  4000, true },
    { "6h interval, 5h ago: skip",                NOW - 18000, "mx2:17:00ab", 21600000, true },
    { "6h interval, 5h24m ago: my turn",          NOW - 19440, "mx2:17:00ab", 21600000, false },
    { "a record from the future: fetch",          NOW + 30,  "mx2:17:00ab",       4000, false },
};

static void test_turn_table(void)
{
    for (size_t i = 0; i < sizeof(turns) / sizeof(turns[0]); i++) {
        const struct turn_case *t = &turns[i];
        struct refresh_state st;
        long long since = -1;
        bool got;

        memset(&st, 0, sizeof(st));
        st.last_attempt = t->last_attempt;
        snprintf(st.last_token, sizeof(st.last_token), "%s", t->last_token);
        got = refresh_others_turn(&st, NOW, t->refresh_ms, OWN, &since);
        if (got != t->skip)
            printf("# %s: skip=%d, expected %d\n", t->name, got, t->skip);
        CHECK(got == t->skip);
        CHECK(since == NOW - t->last_attempt);
    }
}

/* Two nodes whose timers fire 4 s +-10 % apart, out of phase: one
 * download per interval between them, not one each. */
static void test_two_nodes(void)
{
    static const long long a[] = { 0, 3600, 7700, 11400, 15800, 19500 };
    static const long long b[] = { 2000, 5900, 9500, 13800, 17600 };
    struct refresh_state st;
    size_t ia = 0, ib = 0, downloads = 0;
    long long since;

    memset(&st, 0, sizeof(st));
    while (ia < sizeof(a) / sizeof(a[0]) || ib < sizeof(b) / sizeof(b[0])) {
        bool take_a = ib >= sizeof(b) / sizeof(b[0])
                      || (ia < sizeof(a) / sizeof(a[0]) && a[ia] <= b[ib]);
        long long t_ms = take_a ? a[ia++] : b[ib++];
        const char *own = take_a ? "a:1:" : "b:2:";

        if (refresh_others_turn(&st, NOW + t_ms / 1000, 4000, own, &since))
            continue;
        downloads++;
        st.last_attempt = NOW + t_ms / 1000;
        snprintf(st.last_token, sizeof(st.last_token), "%sxyz", own);
    }
    printf("# %zu downloads in 20 s for two nodes\n", downloads);
    CHECK(downloads >= 5 && downloads <= 6);
}

/* The prefix names this process as the lock tokens do. */
static void test_own_prefix(void)
{
    char buf[96], pid[32];

    refresh_own_prefix(buf, sizeof(buf));
    snprintf(pid, sizeof(pid), ":%ld:", (long)getpid());
    CHECK(strlen(buf) > strlen(pid));
    CHECK(strcmp(buf + strlen(buf) - strlen(pid), pid) == 0);
}

static const struct test_case cases[] = {
    { "the turn rule, case by case", test_turn_table },
    { "two out-of-phase nodes: one download per interval", test_two_nodes },
    { "the own prefix is host:pid:", test_own_prefix },
};

TEST_MAIN(cases)
