/*
 * test_ansxml.c - the ANS whitelist XML parser: the real quirks (mixed
 * case, repeated domains, DN spellings, multi-line contacts), every kind of
 * document that must be refused, chunk boundaries, and the real March 2025
 * list when it is available next to the repository.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "tests/unit/testlib.h"
#include "whitelist/ansxml.h"

#define NS "https://listeblanche.mssante.fr/schema"

static char path_buf[1024];

static const char *fixture(const char *name)
{
    snprintf(path_buf, sizeof(path_buf), "%s/%s", testlib_fixtures(), name);
    return path_buf;
}

static bool has_cert(const struct ans_list *l, const char *domain, const char *cn)
{
    return certset_has(l->wl->certs, domain, cn);
}

/* sha256 of a file by an independent tool, to check ours. */
static void sha256_of(const char *path, char *out, size_t outlen)
{
    char cmd[1200];
    FILE *fp;

    out[0] = '\0';
    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
    fp = popen(cmd, "r");
    if (fp == NULL)
        return;
    if (fgets(out, (int)outlen, fp) != NULL && strlen(out) >= 64)
        out[64] = '\0';
    pclose(fp);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0
        && (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, fp);
        buf[*len] = '\0';
    }
    fclose(fp);
    return buf;
}

static void test_small(void)
{
    struct err err = { "" };
    char sum[128];
    const char *path = fixture("ans-small.xml");
    struct ans_list *l = ans_parse_file(path, &err);
    struct whitelist *wl;

    CHECK(l != NULL);
    if (l == NULL) {
        fprintf(stderr, "ans-small.xml: %s\n", err.msg);
        return;
    }
    wl = l->wl;
    CHECK(wl->entries == 9);
    CHECK(domainset_count(wl->domains) == 7);
    CHECK(l->skipped == 1);
    /* 8 entries of a valid domain, each with its own (domain, CN) pair. */
    CHECK(certset_pairs(wl->certs) == 8);
    CHECK(certset_cns(wl->certs) == 8);
    CHECK(l->cn_skipped == 0);
    CHECK_STR(wl->generated, "2025-03-13T14:54:10Z");   /* trimmed */
    CHECK_STR(wl->version, "");
    CHECK_STR(wl->source, path);
    sha256_of(path, sum, sizeof(sum));
    CHECK_STR(wl->sha256, sum);

    CHECK(whitelist_lookup(wl, "chu-lille.mssante.fr"));
    CHECK(whitelist_lookup(wl, "uc-cmp.mssante.fr"));          /* was UC-CMP */
    CHECK(whitelist_lookup(wl, "medecin.mssante.fr"));
    CHECK(whitelist_lookup(wl, "pharmacien.mssante.fr"));
    CHECK(whitelist_lookup(wl, "interop-mssante.apicrypt.org"));
    CHECK(whitelist_lookup(wl, "lgpi.mssante.fr"));            /* padded, trailing dot */
    CHECK(whitelist_lookup(wl, "patient.mssante.fr"));
    CHECK(!whitelist_lookup(wl, "mssante.fr"));
    CHECK(!whitelist_lookup(wl, "ase.exemple.mssante.fr"));
    CHECK(!whitelist_lookup(wl, "sessad@ase.exemple.mssante.fr"));
    CHECK(!whitelist_lookup(wl, "apicrypt.org"));

    CHECK(has_cert(l, "chu-lille.mssante.fr", "mss.chu-lille.fr"));
    CHECK(has_cert(l, "uc-cmp.mssante.fr", "smtp.operateur-exemple.fr"));  /* ", " DN */
    CHECK(has_cert(l, "medecin.mssante.fr", "smtp-1.mssante.exemple.fr"));
    CHECK(has_cert(l, "medecin.mssante.fr", "smtp-2.mssante.exemple.fr"));
    CHECK(has_cert(l, "pharmacien.mssante.fr", "mss.pharma-exemple.fr"));  /* L= */
    CHECK(has_cert(l, "interop-mssante.apicrypt.org", "mss.apicrypt-exemple.org"));
    CHECK(has_cert(l, "lgpi.mssante.fr", "smtp.lgpi-exemple.fr"));
    CHECK(has_cert(l, "patient.mssante.fr", "mss.patient-exemple.fr"));

    wl = ans_list_take_whitelist(l);
    CHECK(wl != NULL && whitelist_lookup(wl, "medecin.mssante.fr"));
    whitelist_free(wl);
}

/* The same bytes through the buffer entry point give the same list. */
static void test_buffer_matches_file(void)
{
    struct err err = { "" };
    size_t len = 0;
    char *buf = slurp(fixture("ans-small.xml"), &len);
    struct ans_list *a, *b;

    CHECK(buf != NULL);
    if (buf == NULL)
        return;
    a = ans_parse_file(fixture("ans-small.xml"), &err);
    b = ans_parse_buffer(buf, len, "https://example.invalid/listeblanchemssante.xml",
                         &err);
    CHECK(a != NULL && b != NULL);
    if (a != NULL && b != NULL) {
        CHECK_STR(a->wl->sha256, b->wl->sha256);
        CHECK_STR(b->wl->source, "https://example.invalid/listeblanchemssante.xml");
        CHECK(domainset_count(b->wl->domains) == 7);
        CHECK(certset_pairs(b->wl->certs) == certset_pairs(a->wl->certs));
    }
    ans_list_free(a);
    ans_list_free(b);
    free(buf);
}

/* Streamed in chunks of every size from 1 to 97 bytes: the same list, and
 * a broken document refused with the same error, whatever the cuts. */
static void test_stream_any_chunks(void)
{
    static const char *const docs[] = { "ans-small.xml", "ans-truncated.xml", "ans-html.html" };
    size_t d, chunk;

    for (d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        struct err err_whole = { "" }, err = { "" };
        size_t len = 0;
        char *buf = slurp(fixture(docs[d]), &len);
        struct ans_list *whole;

        CHECK(buf != NULL);
        if (buf == NULL)
            continue;
        whole = ans_parse_buffer(buf, len, "t", &err_whole);
        for (chunk = 1; chunk <= 97; chunk++) {
            struct ans_stream *s = ans_stream_begin("t", len, &err);
            struct ans_list *l;
            size_t off;

            CHECK(s != NULL);
            if (s == NULL)
                break;
            for (off = 0; off < len; off += chunk)
                ans_stream_feed(s, buf + off, len - off < chunk ? len - off : chunk);
            l = ans_stream_end(s);
            CHECK((l == NULL) == (whole == NULL));
            if (l != NULL && whole != NULL) {
                CHECK_STR(l->wl->sha256, whole->wl->sha256);
                CHECK(domainset_count(l->wl->domains) == domainset_count(whole->wl->domains));
                CHECK(certset_pairs(l->wl->certs) == certset_pairs(whole->wl->certs));
            } else if (l == NULL && strcmp(err.msg, err_whole.msg) != 0) {
                fprintf(stderr, "%s in chunks of %zu: \"%s\", whole: \"%s\"\n", docs[d],
                        chunk, err.msg, err_whole.msg);
                CHECK(strcmp(err.msg, err_whole.msg) == 0);
            }
            ans_list_free(l);
        }
        ans_list_free(whole);
        free(buf);
    }
}

/* Parse must fail and the message must contain WANT and be one line. */
static void expect_refused(struct ans_list *l, const char *err, const char *want)
{
    CHECK(l == NULL);
    ans_list_free(l);
    if (strstr(err, want) == NULL)
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want);
    CHECK(strstr(err, want) != NULL);
    CHECK(strchr(err, '\n') == NULL);
}

static void refuse_file(const char *name, const char *want)
{
    struct err err = { "" };
    const char *path = fixture(name);

    expect_refused(ans_parse_file(path, &err), err.msg, want);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);        /* names the file */
}

static void refuse_buffer(const char *doc, const char *want)
{
    struct err err = { "" };

    expect_refused(ans_parse_buffer(doc, strlen(doc), "test", &err), err.msg, want);
}

static void test_refused_files(void)
{
    struct err err;

    refuse_file("ans-truncated.xml",
                "ans-truncated.xml: line 42: XML error: no element found (truncated file?)");
    refuse_file("ans-html.html", ": not an ANS whitelist document (HTML page)");
    refuse_file("ans-empty.xml", ": empty whitelist: no valid domain in 0 <Domaine> entries");
    refuse_file("ans-wrong-ns.xml", ": not an ANS whitelist document (root element "
                "{urn:example:not-the-ans-schema}ListeBlancheMSSante)");
    refuse_file("ans-no-date.xml", ": missing DateDeGeneration");
    refuse_file("does-not-exist.xml", ": cannot open: No such file or directory");

    /* A zero-byte download. */
    expect_refused(ans_parse_buffer("", 0, "empty", &err), err.msg, "empty: empty file");
}

static void test_refused_buffers(void)
{
    refuse_buffer("<?xml version=\"1.0\"?>\n<ListeBlancheMSSante xmlns=\"" NS "\">\n"
                  "<DateDeGeneration>x</DateDeGeneration>\n<ListeDomaines>\n"
                  "<Domaine><Nom>a.fr</Domaine>\n</ListeDomaines></ListeBlancheMSSante>\n",
                  "test: line 5: XML error: mismatched tag");
    /* Right name, no namespace at all. */
    refuse_buffer("<ListeBlancheMSSante><DateDeGeneration>x</DateDeGeneration>"
                  "</ListeBlancheMSSante>",
                  "test: not an ANS whitelist document (root element ListeBlancheMSSante)");
    /* Well-formed XHTML is still not the list. */
    refuse_buffer("<html xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>",
                  "test: not an ANS whitelist document (HTML page)");
    refuse_buffer("<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"/>",
                  "test: not an ANS whitelist document (root element "
                  "{http://www.w3.org/2005/Atom}feed)");
    refuse_buffer("  <!doctype html><html><body><p>Not found</body></html>",
                  "test: not an ANS whitelist document (HTML page)");
    refuse_buffer("not xml at all", "test: line 1: XML error: syntax error");
    /* Cut inside a tag. */
    refuse_buffer("<ListeBlancheMSSante xmlns=\"" NS "\">\n<DateDeGeneration>d</DateDeGeneration>"
                  "\n<ListeDomaines><Domaine><Nom>a.fr</Nom></Dom",
                  "test: line 3: XML error: unclosed token (truncated file?)");
    /* Every name invalid: the list is empty. */
    refuse_buffer("<ListeBlancheMSSante xmlns=\"" NS "\"><DateDeGeneration>d</DateDeGeneration>"
                  "<ListeDomaines><Domaine><Nom>mssant\xc3\xa9.fr</Nom></Domaine>"
                  "<Domaine><Nom></Nom></Domaine><Domaine/></ListeDomaines></ListeBlancheMSSante>",
                  "test: empty whitelist: no valid domain in 3 <Domaine> entries");
    refuse_buffer("<ListeBlancheMSSante xmlns=\"" NS "\"><DateDeGeneration> </DateDeGeneration>"
                  "</ListeBlancheMSSante>", "test: DateDeGeneration is empty");
    /* DateDeGeneration must be a child of the root, not nested elsewhere. */
    refuse_buffer("<ListeBlancheMSSante xmlns=\"" NS "\"><ListeDomaines><Domaine>"
                  "<DateDeGeneration>d</DateDeGeneration><Nom>a.fr</Nom></Domaine>"
                  "</ListeDomaines></ListeBlancheMSSante>", "test: missing DateDeGeneration");
    refuse_buffer("<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">]>"
                  "<ListeBlancheMSSante xmlns=\"" NS "\"><DateDeGeneration>&a;</DateDeGeneration>"
                  "</ListeBlancheMSSante>", "test: entity declarations are not allowed");
}

/* DN spellings and odd but valid documents, via the buffer entry point. */
static void test_dn_variants(void)
{
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<l:ListeBlancheMSSante xmlns:l=\"" NS "\" xmlns:x=\"urn:other\">"
        "<l:DateDeGeneration>2026-01-02T03:04:05Z</l:DateDeGeneration><l:ListeDomaines>"
        "<l:Domaine><l:Nom>a.mssante.fr</l:Nom>"
        "<l:DNCertificatOperateur>C=FR, O=X, CN = mx.a.fr , OU=1</l:DNCertificatOperateur>"
        "</l:Domaine>"
        "<l:Domaine><l:Nom>b.mssante.fr</l:Nom>"
        "<l:DNCertificatOperateur>CN=mx\\,b.fr,O=Y</l:DNCertificatOperateur></l:Domaine>"
        "<l:Domaine><l:Nom>c.mssante.fr</l:Nom>"
        "<l:DNCertificatOperateur>/C=FR/O=Z/CN=mx.c.fr</l:DNCertificatOperateur></l:Domaine>"
        "<l:Domaine><l:Nom>d.mssante.fr</l:Nom>"
        "<l:DNCertificatOperateur>O=NoCN,C=FR</l:DNCertificatOperateur></l:Domaine>"
        "<l:Domaine><l:Nom>e.mssante.fr</l:Nom>"
        "<l:DNCertificatOperateur>cn=mx.e.fr+serialNumber=1,C=FR</l:DNCertificatOperateur>"
        "<x:Nom>ignored.example.com</x:Nom></l:Domaine>"
        "<l:Domaine><l:Nom>g.mssante.fr</l:Nom>"
        "<l:DNCertificatOperateur>CN=mx\ng.fr,O=Z</l:DNCertificatOperateur></l:Domaine>"
        "<l:Domaine><l:Nom>XN--HPITAL-0OB.mssante.fr</l:Nom></l:Domaine>"
        "<l:Domaine><l:Nom><![CDATA[F.MSSante.fr]]></l:Nom>"
        "<l:DNCertificatOperateur>CN=mx&#46;f.fr</l:DNCertificatOperateur></l:Domaine>"
        "</l:ListeDomaines></l:ListeBlancheMSSante>";
    struct err err = { "" };
    struct ans_list *l = ans_parse_buffer(doc, strlen(doc), NULL, &err);

    CHECK(l != NULL);
    if (l == NULL) {
        fprintf(stderr, "dn variants: %s\n", err.msg);
        return;
    }
    CHECK_STR(l->wl->generated, "2026-01-02T03:04:05Z");
    CHECK_STR(l->wl->source, "(buffer)");
    CHECK(l->wl->entries == 8);
    CHECK(domainset_count(l->wl->domains) == 8);
    CHECK(!whitelist_lookup(l->wl, "ignored.example.com"));
    CHECK(whitelist_lookup(l->wl, "f.mssante.fr"));
    /* an A-label is a name like any other, kept as written */
    CHECK(whitelist_lookup(l->wl, "xn--hpital-0ob.mssante.fr"));
    CHECK(certset_pairs(l->wl->certs) == 5);   /* d has no CN, g's has a newline in it */
    CHECK(l->cn_skipped == 2);   /* the A-label's entry has no DN at all */
    CHECK(has_cert(l, "a.mssante.fr", "mx.a.fr"));
    CHECK(has_cert(l, "b.mssante.fr", "mx,b.fr"));
    CHECK(has_cert(l, "c.mssante.fr", "mx.c.fr"));
    CHECK(has_cert(l, "e.mssante.fr", "mx.e.fr"));
    CHECK(has_cert(l, "f.mssante.fr", "mx.f.fr"));
    ans_list_free(l);
}

/* Far more than one 64 KiB chunk: names and DNs get split across calls. */
static void test_many_chunks(void)
{
    enum { N = 3000 };
    size_t cap = (size_t)N * 300 + 1000, len = 0, i;
    char *doc = malloc(cap);
    struct err err = { "" };
    char want[64];
    struct ans_list *l;

    len += (size_t)snprintf(doc + len, cap - len, "<ListeBlancheMSSante xmlns=\"%s\">"
                            "<DateDeGeneration>d</DateDeGeneration><ListeDomaines>\n", NS);
    for (i = 0; i < N; i++)
        len += (size_t)snprintf(doc + len, cap - len,
                                "<Domaine>\n  <Nom>Etab-%zu.MSSante.fr</Nom>\n"
                                "  <Description>%0*d</Description>\n"
                                "  <DNCertificatOperateur>CN=mx-%zu.operateur.fr, O=Op, C=FR"
                                "</DNCertificatOperateur>\n</Domaine>\n",
                                i, (int)(i % 97), 0, i % 10);
    len += (size_t)snprintf(doc + len, cap - len, "</ListeDomaines></ListeBlancheMSSante>\n");
    CHECK(len > 3 * 65536);
    l = ans_parse_buffer(doc, len, "chunks", &err);
    CHECK(l != NULL);
    if (l != NULL) {
        CHECK(l->wl->entries == N);
        CHECK(domainset_count(l->wl->domains) == N);
        CHECK(certset_pairs(l->wl->certs) == N);
        for (i = 0; i < N; i += 7) {
            snprintf(want, sizeof(want), "etab-%zu.mssante.fr", i);
            CHECK(whitelist_lookup(l->wl, want));
        }
        CHECK(has_cert(l, "etab-2999.mssante.fr", "mx-9.operateur.fr"));
    }
    ans_list_free(l);
    free(doc);
}

static const char *real_list_path(void)
{
    const char *p = getenv("MSSANTE_REAL_LIST");

    return p ? p : "../shared/data/listeblanche-2025-03.xml";
}

static void test_real_list(void)
{
    const char *path = real_list_path();
    struct err err = { "" };
    char sum[128];
    struct timespec t0, t1;
    struct ans_list *l;
    FILE *fp = fopen(path, "rb");

    if (fp == NULL) {
        printf("note: %s not found, real-list test skipped\n", path);
        return;
    }
    fclose(fp);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    l = ans_parse_file(path, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(l != NULL);
    if (l == NULL) {
        fprintf(stderr, "real list: %s\n", err.msg);
        return;
    }
    printf("real list parsed in %.1f ms\n",
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    CHECK(l->wl->entries == 6554);
    /* 5002 distinct names, one of which ("sessad@ase.ditepbeziers.mssante.fr")
     * is not a domain at all: it is skipped, the other 5001 are the set. */
    CHECK(domainset_count(l->wl->domains) == 5001);
    CHECK(l->skipped == 1);
    CHECK(domainset_count(l->wl->domains) + l->skipped == 5002);
    /* 6553 entries of valid domains, 6277 distinct (domain, CN) pairs,
     * 375 distinct CNs (counted with an XML tool, case-folded). */
    CHECK(certset_pairs(l->wl->certs) == 6277);
    CHECK(certset_cns(l->wl->certs) == 375);
    CHECK(certset_domains(l->wl->certs) == 5001);
    CHECK(l->cn_skipped == 0);
    printf("real list in memory: domain set %zu KiB, operator CNs %zu KiB"
           " (%zu pairs, %zu distinct CNs)\n", domainset_memory(l->wl->domains) / 1024,
           certset_memory(l->wl->certs) / 1024, certset_pairs(l->wl->certs),
           certset_cns(l->wl->certs));
    CHECK_STR(l->wl->generated, "2025-03-13T14:54:10Z");
    sha256_of(path, sum, sizeof(sum));
    CHECK_STR(l->wl->sha256, sum);
    CHECK(whitelist_lookup(l->wl, "uc-cmp.mssante.fr"));
    CHECK(whitelist_lookup(l->wl, "adsea29.mssante.fr"));
    CHECK(whitelist_lookup(l->wl, "zenidoc.mssante.fr"));
    CHECK(whitelist_lookup(l->wl, "ase.ditepbeziers.mssante.fr"));
    CHECK(!whitelist_lookup(l->wl, "mssante.fr"));
    CHECK(!whitelist_lookup(l->wl, "evilmssante.fr"));
    CHECK(has_cert(l, "zenidoc.mssante.fr", "smtp-2.mssante.adista.fr"));
    CHECK(has_cert(l, "adsea29.mssante.fr", "medimail-asip.mipih.fr"));
    ans_list_free(l);
}

int main(void)
{
    test_small();
    test_buffer_matches_file();
    test_stream_any_chunks();
    test_refused_files();
    test_refused_buffers();
    test_dn_variants();
    test_many_chunks();
    test_real_list();
    TEST_DONE();
}
