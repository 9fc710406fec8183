/*
 * test_tlspolicy.c - the Postfix TLS policy table of a whitelist version:
 * which CNs may be match= names, the exact lines (sorted, lower-case, no
 * duplicates, secure and encrypt), domains left out, a header that cannot
 * be broken by the list's own text, refusing a list without CN
 * information; and common/atomicfile.h under it: replaced whole, mode
 * set, nothing left behind, the old file kept on failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomicfile.h"
#include "tests/unit/testlib.h"
#include "whitelist/tlspolicy.h"

static char dir[] = "/tmp/mssante-test-tlspolicy-XXXXXX";

static const char *in_dir(const char *name)
{
    static char buf[256];

    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

static void pair(struct whitelist *wl, const char *domain, const char *cn)
{
    domainset_add(wl->domains, domain, strlen(domain));
    certset_add(wl->certs, domain, strlen(domain), cn, strlen(cn));
}

static struct whitelist *sample(void)
{
    struct whitelist *wl = whitelist_new();

    wl->domains = domainset_new(8);
    wl->certs = certset_new(8);
    snprintf(wl->version, sizeof(wl->version), "12");
    snprintf(wl->generated, sizeof(wl->generated), "2025-03-13T14:54:10Z");
    pair(wl, "z.mssante.fr", "MX2.Z-Operateur.fr");
    pair(wl, "z.mssante.fr", "mx1.z-operateur.fr");
    pair(wl, "Z.mssante.fr.", "mx1.Z-operateur.fr");       /* the same pair again */
    pair(wl, "a.mssante.fr", "smtp.a.fr");
    pair(wl, "mixte.mssante.fr", "*.joker.fr");             /* left out of match= */
    pair(wl, "mixte.mssante.fr", "mx.mixte.fr");
    pair(wl, "bizarre.mssante.fr", "a:b.fr");               /* nothing usable */
    pair(wl, "bizarre.mssante.fr", "Serveur MSS");
    domainset_add(wl->domains, "sans-cn.mssante.fr", 18);
    return wl;
}

/* The table without its comment lines. */
static char *table(const struct whitelist *wl, enum tls_policy_level level,
                   struct tls_policy_stats *st, int *rc)
{
    char *text = NULL, *out, *line, *save = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    *rc = tls_policy_print(fp, wl, level, st, NULL, NULL);
    fclose(fp);
    out = calloc(1, len + 1);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        if (line[0] != '#') {
            strcat(out, line);
            strcat(out, "\n");
        }
    free(text);
    return out;
}

static void test_usable(void)
{
    CHECK(tls_policy_cn_usable("mx1.operateur.fr"));
    CHECK(tls_policy_cn_usable("rassconsult"));             /* one label: a real CN */
    CHECK(tls_policy_cn_usable("smtp-1.sante.santnet.com"));
    CHECK(!tls_policy_cn_usable(""));
    CHECK(!tls_policy_cn_usable(NULL));
    CHECK(!tls_policy_cn_usable("*.operateur.fr"));         /* wildcard */
    CHECK(!tls_policy_cn_usable(".operateur.fr"));          /* a Postfix sub-domain match */
    CHECK(!tls_policy_cn_usable("mx.operateur.fr."));
    CHECK(!tls_policy_cn_usable("a:b.fr"));                 /* Postfix's list separator */
    CHECK(!tls_policy_cn_usable("mx operateur.fr"));
    CHECK(!tls_policy_cn_usable("mx,operateur.fr"));
    CHECK(!tls_policy_cn_usable("MX.operateur.fr"));        /* the set lower-cases first */
    CHECK(!tls_policy_cn_usable("mx.op\xc3\xa9rateur.fr"));
    CHECK(!tls_policy_cn_usable("nexthop"));                /* Postfix keywords */
    CHECK(!tls_policy_cn_usable("dot-nexthop"));
    CHECK(!tls_policy_cn_usable("hostname"));
    CHECK(tls_policy_cn_usable("hostname.operateur.fr"));
}

static void test_lines(void)
{
    struct whitelist *wl = sample();
    struct tls_policy_stats st;
    enum tls_policy_level lvl;
    char *t;
    int rc;

    t = table(wl, TLS_POLICY_SECURE, &st, &rc);
    CHECK(rc == 0);
    CHECK_STR(t, "a.mssante.fr secure match=smtp.a.fr\n"
                 "mixte.mssante.fr secure match=mx.mixte.fr\n"
                 "z.mssante.fr secure match=mx1.z-operateur.fr:mx2.z-operateur.fr\n");
    CHECK(st.domains == 3 && st.cns == 4);
    CHECK(st.cns_dropped == 3 && st.domains_dropped == 1);
    free(t);

    t = table(wl, TLS_POLICY_ENCRYPT, &st, &rc);
    CHECK(rc == 0);
    CHECK_STR(t, "a.mssante.fr encrypt\nbizarre.mssante.fr encrypt\n"
                 "mixte.mssante.fr encrypt\nz.mssante.fr encrypt\n");
    CHECK(st.domains == 4 && st.cns_dropped == 0 && st.domains_dropped == 0);
    free(t);

    CHECK(tls_policy_level_parse("Encrypt", &lvl) == 0 && lvl == TLS_POLICY_ENCRYPT);
    CHECK(tls_policy_level_parse("secure", &lvl) == 0 && lvl == TLS_POLICY_SECURE);
    CHECK(tls_policy_level_parse("verify", &lvl) == -1);
    CHECK(tls_policy_level_parse(NULL, &lvl) == -1);
    CHECK_STR(tls_policy_level_name(TLS_POLICY_ENCRYPT), "encrypt");

    /* A hostile DateDeGeneration cannot add a line to the table. */
    snprintf(wl->generated, sizeof(wl->generated), "x\nevil.fr none");
    t = table(wl, TLS_POLICY_SECURE, &st, &rc);
    CHECK(strstr(t, "evil") == NULL);
    free(t);
    whitelist_free(wl);
}

struct warned {
    char text[512];
};

static void warn_fn(void *arg, const char *domain, const char *cn)
{
    struct warned *w = arg;
    size_t len = strlen(w->text);

    snprintf(w->text + len, sizeof(w->text) - len, "%s/%s;", domain, cn ? cn : "-");
}

static void test_warnings(void)
{
    struct whitelist *wl = sample();
    struct warned w = { "" };
    FILE *fp = fopen("/dev/null", "w");

    CHECK(tls_policy_print(fp, wl, TLS_POLICY_SECURE, NULL, warn_fn, &w) == 0);
    CHECK_STR(w.text, "bizarre.mssante.fr/a:b.fr;bizarre.mssante.fr/serveur mss;"
                      "bizarre.mssante.fr/-;mixte.mssante.fr/*.joker.fr;");
    fclose(fp);
    whitelist_free(wl);
}

static int entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_write(void)
{
    struct whitelist *wl = sample(), *old = whitelist_new();
    struct err err = { "" };
    char line[256];
    struct stat st;
    FILE *fp;

    umask(077);                            /* the mode must not depend on it */
    CHECK(tls_policy_write(in_dir("policy"), wl, TLS_POLICY_SECURE, NULL, NULL, NULL,
                           &err) == 0);
    CHECK(stat(in_dir("policy"), &st) == 0 && (st.st_mode & 07777) == 0644);
    CHECK(entries() == 1);
    fp = fopen(in_dir("policy"), "r");
    CHECK(fp != NULL && fgets(line, sizeof(line), fp) != NULL);
    CHECK(strncmp(line, "# Postfix smtp_tls_policy_maps table", 36) == 0);
    if (fp != NULL)
        fclose(fp);

    /* A list without CN information is refused, the table kept. */
    old->domains = domainset_new(1);
    domainset_add(old->domains, "a.mssante.fr", 12);
    CHECK(tls_policy_write(in_dir("policy"), old, TLS_POLICY_SECURE, NULL, NULL, NULL,
                           &err) == -1);
    CHECK(strstr(err.msg, "carries no operator certificate CNs") != NULL);
    CHECK(stat(in_dir("policy"), &st) == 0 && st.st_size > 100);
    CHECK(tls_policy_print(stdout, old, TLS_POLICY_SECURE, NULL, NULL, NULL) == -1);

    /* A directory that does not exist: one line, the file named. */
    CHECK(tls_policy_write("/nonexistent-dir-for-test/policy", wl, TLS_POLICY_SECURE, NULL,
                           NULL, NULL, &err) == -1);
    CHECK(strstr(err.msg, "/nonexistent-dir-for-test/policy: cannot create a temporary file")
          != NULL);
    CHECK(strchr(err.msg, '\n') == NULL);
    whitelist_free(old);
    whitelist_free(wl);
    unlink(in_dir("policy"));
}

static void test_atomic_abort(void)
{
    struct atomic_file af;
    struct err err = { "" };
    char buf[64] = "";
    FILE *fp;

    fp = fopen(in_dir("target"), "w");
    fputs("old\n", fp);
    fclose(fp);
    CHECK(atomic_file_open(&af, in_dir("target"), 0600, &err) == 0);
    fputs("half", af.fp);
    CHECK(entries() == 2);                 /* the target and the hidden temporary */
    atomic_file_abort(&af);
    atomic_file_abort(&af);                /* twice is harmless */
    CHECK(entries() == 1);
    fp = fopen(in_dir("target"), "r");
    CHECK(fp != NULL && fgets(buf, sizeof(buf), fp) != NULL);
    CHECK_STR(buf, "old\n");
    if (fp != NULL)
        fclose(fp);

    CHECK(atomic_file_open(&af, in_dir("target"), 0600, &err) == 0);
    fputs("new\n", af.fp);
    CHECK(atomic_file_commit(&af, &err) == 0);
    fp = fopen(in_dir("target"), "r");
    CHECK(fp != NULL && fgets(buf, sizeof(buf), fp) != NULL);
    CHECK_STR(buf, "new\n");
    if (fp != NULL)
        fclose(fp);
    CHECK(entries() == 1);
    unlink(in_dir("target"));
}

static const struct test_case cases[] = {
    { "usable CNs", test_usable },
    { "table lines", test_lines },
    { "warnings", test_warnings },
    { "write", test_write },
    { "atomic write aborted", test_atomic_abort },
};

int main(void)
{
    int rc;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    rc = TEST_RUN(cases);
    rmdir(dir);
    return rc;
}
