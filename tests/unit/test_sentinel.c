/*
 * test_sentinel.c - the bookkeeping of common/sentinel.c that needs no
 * server: settings copied, the preference order of the sentinels (the one
 * that answered goes first), the master's epoch, the events, and a
 * sentinel that lags behind a +switch-master being ignored.  Talking to
 * real sentinels is tests/integration/t_sentinel_*.sh.
 */
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/sentinel.h"
#include "common/sentinel_internal.h"
#include "tests/unit/testlib.h"

static char events[2048];

static void on_event(void *arg, enum sentinel_event kind, const char *text)
{
    size_t used = strlen(events);

    (void)arg;
    snprintf(events + used, sizeof(events) - used, "%d %s\n", (int)kind, text);
}

static struct sentinel *make(const char *list)
{
    struct redis_addr_list l = { NULL, 0 };
    struct sentinel_settings set = {
        .master_name = "mymaster", .sentinels = &l, .sentinel_password = "s3cret",
        .auth = { "mssante", "pw" }, .db = 2, .timeout_ms = 0, .on_event = on_event,
    };
    struct sentinel *s;
    struct err err;

    if (redis_addr_list_parse(list, &l, &err) < 0)
        return NULL;
    s = sentinel_new(&set, &err);
    redis_addr_list_free(&l);           /* the sentinel keeps its own copy */
    return s;
}

static void addr(struct redis_addr *a, const char *text)
{
    if (redis_addr_parse(text, a, NULL) < 0)
        memset(a, 0, sizeof(*a));
}

static void test_settings(void)
{
    struct redis_addr_list none = { NULL, 0 };
    struct sentinel_settings set = { .master_name = "mymaster", .sentinels = &none };
    struct sentinel *s;
    struct err err = { "" };

    CHECK(sentinel_new(&set, &err) == NULL);
    CHECK(strstr(err.msg, "a master name and 1 to 16 sentinels") != NULL);
    set.master_name = "";
    CHECK(sentinel_new(&set, &err) == NULL);
    s = make("a:1,b:2");
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(s->timeout_ms == REDIS_DEFAULT_TIMEOUT_MS && s->db == 2);
    CHECK(strcmp(s->name, "mymaster") == 0 && strcmp(s->user, "mssante") == 0);
    CHECK(s->sentinels.n == 2 && strcmp(s->sentinels.v[1].host, "b") == 0);
    sentinel_free(s);
    sentinel_free(NULL);
}

static void test_order(void)
{
    struct sentinel *s = make("a:1,b:2,c:3");
    char master[REDIS_ADDR_TEXT_MAX], order[256];

    if (s == NULL) {
        CHECK(0);
        return;
    }
    sentinel_describe(s, master, sizeof(master), order, sizeof(order));
    CHECK_STR(order, "a:1,b:2,c:3");
    CHECK_STR(master, "");
    sentinel_promote(s, 2);
    sentinel_describe(s, master, sizeof(master), order, sizeof(order));
    CHECK_STR(order, "c:3,a:1,b:2");
    sentinel_promote(s, 2);
    sentinel_describe(s, master, sizeof(master), order, sizeof(order));
    CHECK_STR(order, "c:3,a:1,b:2");
    sentinel_promote(s, 1);
    sentinel_describe(s, master, sizeof(master), order, sizeof(order));
    CHECK_STR(order, "b:2,c:3,a:1");
    sentinel_describe(s, master, sizeof(master), order, 6);    /* cut, terminated */
    CHECK_STR(order, "b:2,c");
    sentinel_free(s);
}

static void test_epochs(void)
{
    struct sentinel *s = make("a:1");
    struct redis_addr m1, m2;
    char master[REDIS_ADDR_TEXT_MAX], order[64];
    long long now;

    if (s == NULL) {
        CHECK(0);
        return;
    }
    addr(&m1, "10.0.0.1:6379");
    addr(&m2, "10.0.0.2:6379");
    events[0] = '\0';
    CHECK(sentinel_epoch(s) == 0);
    CHECK(sentinel_note_master(s, &m1, false, "a:1") == 1);
    CHECK_STR(events, "0 Redis master \"mymaster\" is 10.0.0.1:6379, from sentinel a:1\n");
    events[0] = '\0';
    CHECK(sentinel_note_master(s, &m1, false, "a:1") == 1);     /* no change, no event */
    CHECK_STR(events, "");
    CHECK(!sentinel_is_stale(s, &m1, monotonic_ms()));        /* no switch heard yet */

    now = monotonic_ms();
    CHECK(sentinel_note_master(s, &m2, true, "a:1") == 2);
    CHECK_STR(events, "0 Redis master \"mymaster\" is now 10.0.0.2:6379 (was 10.0.0.1:6379), "
              "+switch-master from sentinel a:1\n");
    CHECK(sentinel_is_stale(s, &m1, now));
    CHECK(sentinel_is_stale(s, &m1, now + SENTINEL_STALE_MS - 1000));
    CHECK(!sentinel_is_stale(s, &m1, now + SENTINEL_STALE_MS + 1000));
    CHECK(!sentinel_is_stale(s, &m2, now));

    /* A sentinel still naming the replaced master is ignored... */
    events[0] = '\0';
    CHECK(sentinel_note_master(s, &m1, false, "a:1") == 0);
    CHECK(sentinel_epoch(s) == 2);
    sentinel_describe(s, master, sizeof(master), order, sizeof(order));
    CHECK_STR(master, "10.0.0.2:6379");
    CHECK_STR(events, "");
    /* ...but a switch back announced by Sentinel is not. */
    CHECK(sentinel_note_master(s, &m1, true, "a:1") == 3);
    sentinel_describe(s, master, sizeof(master), order, sizeof(order));
    CHECK_STR(master, "10.0.0.1:6379");
    CHECK(sentinel_is_stale(s, &m2, monotonic_ms()));
    CHECK(!sentinel_is_stale(s, &m1, monotonic_ms()));
    redis_addr_free(&m1);
    redis_addr_free(&m2);
    sentinel_free(s);
}

int main(void)
{
    test_settings();
    test_order();
    test_epochs();
    TEST_DONE();
}
