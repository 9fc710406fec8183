/*
 * test_snapshot.c - the on-disk snapshot: a round trip keeps every domain,
 * every operator CN and every metadata field, the write is atomic (no
 * temporary file left, an existing snapshot replaced whole), a format-1
 * file from before the CNs is still read (without CNs), and the reader
 * refuses every kind of damaged file instead of serving part of a list.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/testlib.h"
#include "whitelist/ansxml.h"
#include "whitelist/snapshot.h"

static char dir[] = "/tmp/mssante-test-snapshot-XXXXXX";

static const char *in_dir(const char *name)
{
    static char buf[256];

    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

static struct whitelist *load_fixture(void)
{
    struct err err = { "" };
    char path[512];
    struct ans_list *l;

    snprintf(path, sizeof(path), "%s/ans-small.xml", testlib_fixtures());
    l = ans_parse_file(path, &err);
    if (l == NULL)
        fprintf(stderr, "%s\n", err.msg);
    return ans_list_take_whitelist(l);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    if (fp != NULL) {
        fputs(text, fp);
        fclose(fp);
    }
}

struct cmp {
    const struct domainset *other;
    size_t missing;
};

static int cmp_fn(const char *domain, void *arg)
{
    struct cmp *c = arg;

    c->missing += !domainset_contains(c->other, domain);
    return 0;
}

/* Same domains, in both directions. */
static bool same_domains(const struct domainset *a, const struct domainset *b)
{
    struct cmp c1 = { b, 0 }, c2 = { a, 0 };

    domainset_foreach(a, cmp_fn, &c1);
    domainset_foreach(b, cmp_fn, &c2);
    return domainset_count(a) == domainset_count(b) && c1.missing == 0 && c2.missing == 0;
}

/* Both sets give the same sorted walk (domains, then each one's CNs). */
static int dump_fn(const char *domain, const char *const *cns, size_t n, void *arg)
{
    FILE *fp = arg;
    size_t i;

    fprintf(fp, "%s:", domain);
    for (i = 0; i < n; i++)
        fprintf(fp, " %s", cns[i]);
    fputc('\n', fp);
    return 0;
}

static bool same_certs(const struct certset *a, const struct certset *b)
{
    char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);
    bool same;

    certset_foreach(a, dump_fn, fa);
    certset_foreach(b, dump_fn, fb);
    fclose(fa);
    fclose(fb);
    same = la == lb && memcmp(ta, tb, la) == 0 && certset_pairs(a) == certset_pairs(b);
    free(ta);
    free(tb);
    return same;
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_round_trip(void)
{
    struct whitelist *wl = load_fixture(), *back;
    struct err err = { "" };
    char line[128];
    const char *path = in_dir("wl.snap");
    FILE *fp;

    CHECK(wl != NULL);
    if (wl == NULL)
        return;
    snprintf(wl->version, sizeof(wl->version), "42");
    wl->loaded_at = 1741877650;
    CHECK(snapshot_write(path, wl, &err) == 0);
    CHECK(count_entries() == 1);                     /* no leftover .tmp.<pid> */

    fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (fp != NULL) {
        CHECK(fgets(line, sizeof(line), fp) != NULL);
        CHECK_STR(line, "# mssante-milter whitelist snapshot\n");
        CHECK(fgets(line, sizeof(line), fp) != NULL);
        CHECK_STR(line, "format 2\n");
        CHECK(fgets(line, sizeof(line), fp) != NULL);
        CHECK_STR(line, "version 42\n");
        fclose(fp);
    }

    back = snapshot_read(path, &err);
    CHECK(back != NULL);
    if (back != NULL) {
        CHECK_STR(back->version, "42");
        CHECK_STR(back->generated, "2025-03-13T14:54:10Z");
        CHECK_STR(back->sha256, wl->sha256);
        CHECK(strlen(back->sha256) == 64);
        CHECK_STR(back->source, wl->source);
        CHECK(back->loaded_at == 1741877650);
        CHECK(back->entries == 9);
        CHECK(same_domains(wl->domains, back->domains));
        CHECK(whitelist_lookup(back, "uc-cmp.mssante.fr"));
        CHECK(!whitelist_lookup(back, "mssante.fr"));
        CHECK(back->certs != NULL);
        CHECK(same_certs(wl->certs, back->certs));
        CHECK(certset_pairs(back->certs) == 8);
        CHECK(whitelist_cn_lookup(back, "medecin.mssante.fr", "smtp-2.mssante.exemple.fr"));
        CHECK(whitelist_cn_lookup(back, "medecin.mssante.fr", "SMTP-1.mssante.exemple.fr"));
        CHECK(!whitelist_cn_lookup(back, "medecin.mssante.fr", "mss.chu-lille.fr"));
        CHECK(whitelist_cn_lookup(back, NULL, "mss.patient-exemple.fr"));
    }
    whitelist_free(back);

    /* A second write replaces the first as a whole. */
    snprintf(wl->version, sizeof(wl->version), "43");
    domainset_add(wl->domains, "nouveau.mssante.fr", 18);
    CHECK(snapshot_write(path, wl, &err) == 0);
    back = snapshot_read(path, &err);
    CHECK(back != NULL && strcmp(back->version, "43") == 0);
    CHECK(back != NULL && domainset_count(back->domains) == 8);
    CHECK(back != NULL && whitelist_lookup(back, "nouveau.mssante.fr"));
    CHECK(count_entries() == 1);
    whitelist_free(back);
    whitelist_free(wl);
}

/* Metadata may be empty (a list built by hand, or before publication). */
static void test_empty_metadata(void)
{
    struct whitelist *wl = whitelist_new(), *back;
    struct err err = { "" };
    const char *path = in_dir("bare.snap");

    wl->domains = domainset_new(2);
    domainset_add(wl->domains, "a.mssante.fr", 12);
    /* A control character in a value must not break the line structure. */
    snprintf(wl->source, sizeof(wl->source), "bad\nsource");
    CHECK(snapshot_write(path, wl, &err) == 0);
    back = snapshot_read(path, &err);
    CHECK(back != NULL);
    if (back != NULL) {
        CHECK_STR(back->version, "");
        CHECK_STR(back->generated, "");
        CHECK_STR(back->sha256, "");
        CHECK_STR(back->source, "bad?source");
        CHECK(back->loaded_at == 0 && back->entries == 0);
        CHECK(whitelist_lookup(back, "a.mssante.fr"));
    }
    whitelist_free(back);
    whitelist_free(wl);
    unlink(path);
}

static void test_write_errors(void)
{
    struct whitelist *wl = whitelist_new();
    struct err err = { "" };

    wl->domains = domainset_new(1);
    CHECK(snapshot_write(in_dir("empty.snap"), wl, &err) == -1);
    CHECK(strstr(err.msg, "refusing to write an empty whitelist") != NULL);
    CHECK(access(in_dir("empty.snap"), F_OK) != 0);

    domainset_add(wl->domains, "a.mssante.fr", 12);
    CHECK(snapshot_write("/nonexistent-dir-for-test/x.snap", wl, &err) == -1);
    CHECK(strstr(err.msg, "cannot create") != NULL);
    CHECK(strchr(err.msg, '\n') == NULL);
    whitelist_free(wl);
}

#define HEAD "# mssante-milter whitelist snapshot\nformat 1\nversion 7\n" \
             "generated 2025-03-13T14:54:10Z\nsha256 \nsource /x.xml\nloaded 1\nentries 3\n"

/* TEXT with its byte AT (counted from the end when negative) made a NUL. */
static void expect_bad_n(const char *name, const char *text, long at, const char *want);

static void expect_bad(const char *name, const char *text, const char *want)
{
    struct err err = { "" };
    const char *path = in_dir(name);
    struct whitelist *wl;

    write_text(path, text);
    wl = snapshot_read(path, &err);
    CHECK(wl == NULL);
    whitelist_free(wl);
    if (strstr(err.msg, want) == NULL)
        fprintf(stderr, "%s: error \"%s\" lacks \"%s\"\n", name, err.msg, want);
    CHECK(strstr(err.msg, want) != NULL);
    CHECK(strchr(err.msg, '\n') == NULL);
    unlink(path);
}

static void expect_bad_n(const char *name, const char *text, long at, const char *want)
{
    size_t len = strlen(text), pos = at < 0 ? len - (size_t)-at : (size_t)at;
    const char *path = in_dir(name);
    struct err err = { "" };
    struct whitelist *wl;
    FILE *fp = fopen(path, "wb");

    CHECK(fp != NULL && pos < len);
    if (fp == NULL || pos >= len)
        return;
    fwrite(text, 1, pos, fp);
    fputc('\0', fp);
    fwrite(text + pos + 1, 1, len - pos - 1, fp);
    fclose(fp);
    wl = snapshot_read(path, &err);
    CHECK(wl == NULL);
    whitelist_free(wl);
    if (strstr(err.msg, want) == NULL)
        fprintf(stderr, "%s: error \"%s\" lacks \"%s\"\n", name, err.msg, want);
    CHECK(strstr(err.msg, want) != NULL);
    unlink(path);
}

static void test_damaged(void)
{
    struct err err = { "" };
    struct whitelist *wl;

    /* The hand-written good file the damaged ones are made from. */
    write_text(in_dir("good.snap"), HEAD "count 2\ndomains\na.fr\nb.fr\nend 2\n");
    wl = snapshot_read(in_dir("good.snap"), &err);
    CHECK(wl != NULL && domainset_count(wl->domains) == 2 && wl->entries == 3);
    whitelist_free(wl);
    unlink(in_dir("good.snap"));

    expect_bad("noend", HEAD "count 2\ndomains\na.fr\nb.fr\n", "truncated after line 12");
    expect_bad("cut-domain", HEAD "count 2\ndomains\na.fr\nb.", "no \"end\" line");
    expect_bad("cut-end", HEAD "count 2\ndomains\na.fr\nb.fr\nend 2", "no \"end\" line");
    expect_bad("cut-head", HEAD, "truncated after line 8 (count)");
    expect_bad("end-mismatch", HEAD "count 2\ndomains\na.fr\nb.fr\nend 3\n", "count mismatch");
    expect_bad("count-mismatch", HEAD "count 3\ndomains\na.fr\nb.fr\nend 3\n", "count mismatch");
    expect_bad("end-junk", HEAD "count 2\ndomains\na.fr\nb.fr\nend 2x\n", "count mismatch");
    expect_bad("after-end", HEAD "count 2\ndomains\na.fr\nb.fr\nend 2\nc.fr\n",
               "data after \"end\"");
    /* A NUL byte would end the value early: refused wherever it is. */
    expect_bad_n("nul-field", HEAD "count 1\ndomains\na.fr\nend 1\n", 69, "line 4: NUL byte");
    expect_bad_n("nul-end", HEAD "count 1\ndomains\na.fr\nend 1\n", -2, "NUL byte");
    /* A loaded time that time_t cannot hold would be written back negative. */
    expect_bad("loaded", "# mssante-milter whitelist snapshot\nformat 1\nversion 7\n"
               "generated 2025-03-13T14:54:10Z\nsha256 \nsource /x.xml\n"
               "loaded 9223372036854775808\nentries 3\ncount 1\ndomains\na.fr\nend 1\n",
               "bad loaded");
    expect_bad("magic", "# something else\nformat 1\n", "not a mssante-milter snapshot");
    expect_bad("empty", "", "not a mssante-milter snapshot");
    expect_bad("format", "# mssante-milter whitelist snapshot\nformat 3\n",
               "unsupported format \"3\"");
    expect_bad("order", "# mssante-milter whitelist snapshot\nformat 1\ngenerated x\n",
               "line 3: expected \"version\"");
    expect_bad("loaded", "# mssante-milter whitelist snapshot\nformat 1\nversion\ngenerated\n"
               "sha256\nsource\nloaded -5\n", "line 7: bad loaded \"-5\"");
    expect_bad("zero", HEAD "count 0\ndomains\nend 0\n", "implausible domain count 0");
    expect_bad("bad-domain", HEAD "count 2\ndomains\na.fr\nmssant\xc3\xa9.fr\nend 2\n",
               "line 12: bad domain");
    expect_bad("upper", HEAD "count 2\ndomains\na.fr\nB.fr\nend 2\n", "line 12: bad domain");
    expect_bad("dup", HEAD "count 2\ndomains\na.fr\na.fr\nend 2\n",
               "line 12: duplicate domain \"a.fr\"");
    expect_bad("crlf", HEAD "count 1\ndomains\na.fr\r\nend 1\n", "line 11: bad domain");
    expect_bad("long-version", "# mssante-milter whitelist snapshot\nformat 1\nversion "
               "0123456789012345678901234567890123456789012345678901234567890123456789\n",
               "line 3: version too long");

    wl = snapshot_read(in_dir("missing.snap"), &err);
    CHECK(wl == NULL);
    CHECK(strstr(err.msg, "cannot open: No such file or directory") != NULL);
}

#define HEAD2 "# mssante-milter whitelist snapshot\nformat 2\nversion 7\n" \
              "generated 2025-03-13T14:54:10Z\nsha256 \nsource /x.xml\nloaded 1\nentries 3\n" \
              "count 2\ndomains\na.fr\nb.fr\nend 2\n"

/* Format 2's CN section, and format 1 files written before it existed. */
static void test_cn_section(void)
{
    struct err err = { "" };
    struct whitelist *wl;

    write_text(in_dir("v2.snap"), HEAD2 "certs 3\na.fr mx.a.fr\na.fr Serveur A\nb.fr mx.a.fr\n"
               "end 3\n");
    wl = snapshot_read(in_dir("v2.snap"), &err);
    CHECK(wl != NULL && wl->certs != NULL);
    if (wl != NULL && wl->certs != NULL) {
        CHECK(certset_pairs(wl->certs) == 3);
        CHECK(whitelist_cn_lookup(wl, "a.fr", "serveur a"));   /* a CN may hold a space */
        CHECK(whitelist_cn_lookup(wl, "b.fr", "MX.A.FR"));
        CHECK(!whitelist_cn_lookup(wl, "b.fr", "serveur a"));
    }
    whitelist_free(wl);

    /* A version with no CN at all is not one whose CNs are unknown. */
    write_text(in_dir("v2-none.snap"), HEAD2 "certs 0\nend 0\n");
    wl = snapshot_read(in_dir("v2-none.snap"), &err);
    CHECK(wl != NULL && wl->certs != NULL && certset_pairs(wl->certs) == 0);
    whitelist_free(wl);

    /* Format 1: the domains, and no CN information. */
    write_text(in_dir("v1.snap"), HEAD "count 2\ndomains\na.fr\nb.fr\nend 2\n");
    wl = snapshot_read(in_dir("v1.snap"), &err);
    CHECK(wl != NULL);
    if (wl != NULL) {
        CHECK(wl->certs == NULL);
        CHECK(whitelist_lookup(wl, "b.fr"));
        CHECK(!whitelist_cn_lookup(wl, NULL, "mx.a.fr"));
    }
    whitelist_free(wl);
    unlink(in_dir("v2.snap"));
    unlink(in_dir("v2-none.snap"));
    unlink(in_dir("v1.snap"));

    expect_bad("v2-no-certs", HEAD2, "truncated after line 13 (certs)");
    expect_bad("v2-cut-pairs", HEAD2 "certs 2\na.fr mx.a.fr\n", "truncated after line 15");
    expect_bad("v2-cut-end", HEAD2 "certs 1\na.fr mx.a.fr\n", "no \"end\" line after the CNs");
    expect_bad("v2-end-mismatch", HEAD2 "certs 1\na.fr mx.a.fr\nend 2\n",
               "line 16: expected \"end 1\"");
    expect_bad("v2-more-pairs", HEAD2 "certs 1\na.fr mx.a.fr\nb.fr mx.b.fr\nend 1\n",
               "line 16: expected \"end 1\"");
    expect_bad("v2-unlisted", HEAD2 "certs 1\nc.fr mx.c.fr\nend 1\n",
               "line 15: CN for \"c.fr\", which is not a listed domain");
    expect_bad("v2-no-space", HEAD2 "certs 1\na.fr\nend 1\n", "line 15: expected \"<domain> <CN>\"");
    expect_bad("v2-empty-cn", HEAD2 "certs 1\na.fr \nend 1\n", "line 15: bad CN for a.fr");
    expect_bad("v2-ctrl-cn", HEAD2 "certs 1\na.fr mx\ta.fr\nend 1\n", "line 15: bad CN for a.fr");
    expect_bad("v2-dup", HEAD2 "certs 2\na.fr mx.a.fr\na.fr MX.a.fr\nend 2\n",
               "line 16: duplicate CN for a.fr");
    expect_bad("v2-implausible", HEAD2 "certs 999\nend 999\n", "implausible CN count 999");
    expect_bad("v2-after-end", HEAD2 "certs 0\nend 0\nx\n", "data after \"end\"");
    expect_bad("v1-with-certs", HEAD "count 2\ndomains\na.fr\nb.fr\nend 2\ncerts 0\nend 0\n",
               "data after \"end\"");
}

static void test_real_list(void)
{
    const char *path = getenv("MSSANTE_REAL_LIST");
    struct err err = { "" };
    struct ans_list *l;
    struct whitelist *back;

    if (path == NULL)
        path = "../shared/data/listeblanche-2025-03.xml";
    if (access(path, R_OK) != 0) {
        printf("note: %s not found, real-list snapshot test skipped\n", path);
        return;
    }
    l = ans_parse_file(path, &err);
    CHECK(l != NULL);
    if (l == NULL)
        return;
    CHECK(snapshot_write(in_dir("real.snap"), l->wl, &err) == 0);
    back = snapshot_read(in_dir("real.snap"), &err);
    CHECK(back != NULL);
    if (back != NULL) {
        CHECK(domainset_count(back->domains) == 5001);
        CHECK(back->entries == 6554);
        CHECK(same_domains(l->wl->domains, back->domains));
        CHECK(same_certs(l->wl->certs, back->certs));
        CHECK(certset_pairs(back->certs) == 6277);
        /* Sized from the counts, as a load from Redis is. */
        printf("real list read back: domain set %zu KiB, operator CNs %zu KiB\n",
               domainset_memory(back->domains) / 1024, certset_memory(back->certs) / 1024);
    }
    whitelist_free(back);
    ans_list_free(l);
    unlink(in_dir("real.snap"));
}

static const struct test_case cases[] = {
    { "round trip", test_round_trip },
    { "empty metadata", test_empty_metadata },
    { "write errors", test_write_errors },
    { "damaged snapshots", test_damaged },
    { "operator CN section", test_cn_section },
    { "the real list", test_real_list },
};

int main(void)
{
    int rc;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    rc = TEST_RUN(cases);
    unlink(in_dir("wl.snap"));
    rmdir(dir);
    return rc;
}
