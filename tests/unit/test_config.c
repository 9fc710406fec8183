/*
 * test_config.c - mssante-milter.conf parsing: values, defaults, and the
 * "FILE:LINE: message" errors an operator sees with "mssante-milter -n".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "testlib.h"

static char tmp_dir[] = "/tmp/test_config.XXXXXX";
static int file_counter;

/* Write TEXT to a fresh file under tmp_dir; returns a static path. */
static const char *write_conf(const char *text)
{
    static char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/conf%d", tmp_dir, ++file_counter);
    fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* Run config_load with stderr captured; returns what was printed (malloc'ed). */
static char *load_captured(const char *path, struct config **out)
{
    FILE *tmp = tmpfile();
    int saved;
    long len;
    char *text;

    if (tmp == NULL)
        exit(2);
    fflush(stderr);
    saved = dup(2);
    dup2(fileno(tmp), 2);
    *out = config_load(path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    len = ftell(tmp);
    text = calloc(1, (size_t)len + 1);
    rewind(tmp);
    if (len > 0 && fread(text, 1, (size_t)len, tmp) != (size_t)len)
        exit(2);
    fclose(tmp);
    return text;
}

static unsigned count_lines(const char *s)
{
    unsigned n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

static void test_full_config(void)
{
    const char *path = write_conf(
        "# mssante-milter test configuration\n"
        "\n"
        "   Socket      unix:/run/mssante/milter.sock   # trailing comment\n"
        "socketmode 0640\n"
        "USERID mssante:postfix\n"
        "PidFile /run/mssante/milter.pid\n"
        "LocalDomains CHU-Exemple.MSSante.fr., medecin.mssante.fr\t lgpi.mssante.fr,,"
        "chu-exemple.mssante.fr\n"
        "PatientDomain Patient.MSSante.FR.\n"
        "WhitelistFile /etc/mssante/listeblanche.xml\n"
        "Redis [::1]:6380\n"
        "RedisPassword s3cr#t   # the '#' inside the word is kept\n"
        "RedisTimeout 500ms\n"
        "RedisPrefix test:\n"
        "SnapshotFile /var/lib/mssante/snapshot\n"
        "WhitelistPoll 2m\n"
        "DryRun on\n"
        "LogLevel Debug\n"
        "SyslogFacility local3\n");
    struct config *cfg;
    char *err = load_captured(path, &cfg);

    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        free(err);
        return;
    }
    CHECK_STR(cfg->path, path);
    CHECK_STR(cfg->daemon.socket, "unix:/run/mssante/milter.sock");
    CHECK(cfg->daemon.socket_mode == 0640);
    CHECK_STR(cfg->daemon.user, "mssante:postfix");
    CHECK_STR(cfg->daemon.pid_file, "/run/mssante/milter.pid");
    CHECK(cfg->rules.local_domains.n == 3);
    CHECK_STR(cfg->rules.local_domains.v[0], "chu-exemple.mssante.fr");
    CHECK_STR(cfg->rules.local_domains.v[1], "medecin.mssante.fr");
    CHECK_STR(cfg->rules.local_domains.v[2], "lgpi.mssante.fr");
    CHECK(cfg->rules.local_domains.v[3] == NULL);
    CHECK_STR(cfg->rules.patient_domain, "patient.mssante.fr");
    CHECK_STR(cfg->live.file, "/etc/mssante/listeblanche.xml");
    CHECK(redis_configured(&cfg->redis));
    CHECK_STR(cfg->redis.server.host, "::1");
    CHECK(cfg->redis.server.port == 6380);
    CHECK(cfg->redis.server.unix_path == NULL);
    CHECK_STR(cfg->redis.password, "s3cr#t");
    CHECK(cfg->redis.timeout_ms == 500);
    CHECK_STR(cfg->redis.prefix, "test:");
    CHECK_STR(cfg->live.snapshot_file, "/var/lib/mssante/snapshot");
    CHECK(cfg->live.poll_ms == 120000);
    CHECK(cfg->rules.dry_run);
    CHECK(cfg->log.level == LOGL_DEBUG);
    CHECK_STR(cfg->log.facility, "local3");
    CHECK(config_is_local_domain(cfg, "medecin.mssante.fr"));
    CHECK(!config_is_local_domain(cfg, "pharmacien.mssante.fr"));
    CHECK(!config_is_local_domain(cfg, "mssante.fr"));
    config_free(cfg);
    free(err);
}

static void test_defaults(void)
{
    const char *path = write_conf("LocalDomains chu-exemple.mssante.fr\n"
                                  "WhitelistFile /x.xml\n");
    struct config *cfg;
    char *err = load_captured(path, &cfg);

    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(cfg->daemon.socket == NULL);
        CHECK(cfg->daemon.socket_mode == 0660);
        CHECK(cfg->daemon.user == NULL);
        CHECK_STR(cfg->rules.patient_domain, "patient.mssante.fr");
        CHECK(!redis_configured(&cfg->redis));
        CHECK(cfg->redis.timeout_ms == 2000);
        CHECK_STR(cfg->redis.prefix, "mssante:");
        CHECK(cfg->live.poll_ms == 10000);
        CHECK(!cfg->rules.dry_run);
        CHECK(cfg->log.level == LOGL_INFO);
        CHECK_STR(cfg->log.facility, "mail");
        CHECK(cfg->rules.operator_certificate == CERT_MODE_LOG);
        CHECK(cfg->rules.internal_hosts.n == 2);
        CHECK(cidr_list_match_text(&cfg->rules.internal_hosts, "127.0.0.1", NULL));
        CHECK(cidr_list_match_text(&cfg->rules.internal_hosts, "::1", NULL));
        CHECK(!cidr_list_match_text(&cfg->rules.internal_hosts, "192.0.2.1", NULL));
    }
    config_free(cfg);
    free(err);

    cfg = config_defaults();
    CHECK(cfg != NULL && cfg->rules.local_domains.n == 0 && cfg->rules.local_domains.v != NULL
          && cfg->rules.local_domains.v[0] == NULL);
    config_free(cfg);
}

/* Every error is reported, each with file and line, and nothing is returned. */
static void test_all_errors_reported(void)
{
    const char *path = write_conf(
        "Socket relative.sock\n"                /* 1 */
        "SocketMode 0999\n"                     /* 2 */
        "LocalDomains ok.mssante.fr bad..dom\n" /* 3 */
        "Redis localhost\n"                     /* 4 */
        "RedisTimeout 5x\n"                     /* 5 */
        "DryRun maybe\n"                        /* 6 */
        "LogLevel loud\n"                       /* 7 */
        "WhitelistPol 10s\n"                    /* 8 */
        "dryrun yes\n"                          /* 9 */
        "PidFile\n"                             /* 10 */
        "SyslogFacility kern2\n"                /* 11 */
        "Frobnicate 1\n"                        /* 12 */
        "UserID :postfix\n"                     /* 13 */
        "WhitelistPoll 0\n");                   /* 14 */
    struct config *cfg;
    char *err = load_captured(path, &cfg);
    char want[512];

    CHECK(cfg == NULL);
    config_free(cfg);
    /* 14 line errors and nothing more: Redis and LocalDomains are present
     * (with bad values), so the whole-file checks do not call them missing. */
    CHECK(count_lines(err) == 14);
#define EXPECT_LINE(n, text) do { \
        snprintf(want, sizeof(want), "%s:%d: %s", path, n, text); \
        CHECK(strstr(err, want) != NULL); \
        if (strstr(err, want) == NULL) \
            fprintf(stderr, "  missing: %s\n", want); \
    } while (0)
    EXPECT_LINE(1, "Socket: expected unix:/absolute/path");
    EXPECT_LINE(2, "SocketMode: expected an octal file mode");
    EXPECT_LINE(3, "LocalDomains: \"bad..dom\" is not a valid domain name");
    EXPECT_LINE(4, "Redis: expected HOST:PORT, [IPV6]:PORT or unix:/path, got \"localhost\"");
    EXPECT_LINE(5, "RedisTimeout: expected a duration");
    EXPECT_LINE(6, "DryRun: expected yes or no, got \"maybe\"");
    EXPECT_LINE(7, "LogLevel: expected error, warning, notice, info or debug");
    EXPECT_LINE(8, "unknown key \"WhitelistPol\" (did you mean WhitelistPoll?)");
    EXPECT_LINE(9, "duplicate key DryRun (already set on line 6)");
    EXPECT_LINE(10, "PidFile: missing value");
    EXPECT_LINE(11, "SyslogFacility: expected a syslog facility");
    EXPECT_LINE(12, "unknown key \"Frobnicate\"\n");
    EXPECT_LINE(13, "UserID: expected user or user:group");
    EXPECT_LINE(14, "WhitelistPoll: expected a duration between 100ms");
#undef EXPECT_LINE
    CHECK(strstr(err, "no whitelist source") == NULL);
    CHECK(strstr(err, "LocalDomains is required") == NULL);
    free(err);

    /* Both absent: both whole-file errors, named by file only. */
    path = write_conf("# empty\n");
    err = load_captured(path, &cfg);
    CHECK(cfg == NULL);
    CHECK(count_lines(err) == 2);
    snprintf(want, sizeof(want), "%s: no whitelist source", path);
    CHECK(strstr(err, want) != NULL);
    snprintf(want, sizeof(want), "%s: LocalDomains is required", path);
    CHECK(strstr(err, want) != NULL);
    free(err);
}

static void test_cross_field(void)
{
    struct config *cfg;
    char *err;

    /* Redis alone is a whitelist source; LocalDomains still missing. */
    err = load_captured(write_conf("Redis 127.0.0.1:6379\n# nothing else\n"), &cfg);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "LocalDomains is required") != NULL);
    CHECK(strstr(err, "no whitelist source") == NULL);
    CHECK(count_lines(err) == 1);
    free(err);

    err = load_captured(write_conf("LocalDomains a.mssante.fr\n"), &cfg);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "no whitelist source: set WhitelistFile, Redis, or both") != NULL);
    CHECK(count_lines(err) == 1);
    free(err);

    err = load_captured(write_conf("LocalDomains a.mssante.fr\nRedis unix:/run/redis.sock\n"),
                        &cfg);
    CHECK_STR(err, "");
    CHECK(cfg != NULL && redis_configured(&cfg->redis) && cfg->redis.server.host == NULL);
    if (cfg != NULL)
        CHECK_STR(cfg->redis.server.unix_path, "/run/redis.sock");
    config_free(cfg);
    free(err);
}

static void test_missing_file(void)
{
    char path[300], want[400];
    struct config *cfg;
    char *err;

    snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmp_dir);
    err = load_captured(path, &cfg);
    CHECK(cfg == NULL);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory\n", path);
    CHECK_STR(err, want);
    free(err);

    err = load_captured(tmp_dir, &cfg);
    CHECK(cfg == NULL);
    snprintf(want, sizeof(want), "%s: cannot open: Is a directory\n", tmp_dir);
    CHECK_STR(err, want);
    free(err);
}

static void test_comments_and_spacing(void)
{
    struct config *cfg;
    char *err = load_captured(write_conf(
        "#Socket inet:1@localhost\n"
        "\t  # indented comment\n"
        "   \n"
        "LocalDomains a.mssante.fr # b.mssante.fr is commented out\r\n"
        "WhitelistFile /path/with#hash.xml\n"
        "Socket inet:8891@127.0.0.1\n"), &cfg);

    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(cfg->rules.local_domains.n == 1);
        CHECK_STR(cfg->live.file, "/path/with#hash.xml");
        CHECK_STR(cfg->daemon.socket, "inet:8891@127.0.0.1");
    }
    config_free(cfg);
    free(err);

    /* A value that is only a comment is a missing value. */
    err = load_captured(write_conf("LocalDomains a.mssante.fr\nWhitelistFile /x\n"
                                   "Socket # later\n"), &cfg);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ":3: Socket: missing value") != NULL);
    free(err);

    /* An empty list (only separators) is refused. */
    err = load_captured(write_conf("LocalDomains , ,\nWhitelistFile /x\n"), &cfg);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ":1: LocalDomains: expected one or more domain names") != NULL);
    free(err);
}

static void test_durations(void)
{
    long long ms = -1;

    CHECK(config_parse_duration_ms("10s", &ms) == 0 && ms == 10000);
    CHECK(config_parse_duration_ms("500ms", &ms) == 0 && ms == 500);
    CHECK(config_parse_duration_ms("5m", &ms) == 0 && ms == 300000);
    CHECK(config_parse_duration_ms("6h", &ms) == 0 && ms == 21600000);
    CHECK(config_parse_duration_ms("1d", &ms) == 0 && ms == 86400000);
    CHECK(config_parse_duration_ms("7", &ms) == 0 && ms == 7000);
    CHECK(config_parse_duration_ms("0", &ms) == 0 && ms == 0);
    ms = 42;
    CHECK(config_parse_duration_ms("", &ms) == -1);
    CHECK(config_parse_duration_ms("s", &ms) == -1);
    CHECK(config_parse_duration_ms("-1s", &ms) == -1);
    CHECK(config_parse_duration_ms("10 s", &ms) == -1);
    CHECK(config_parse_duration_ms("10sec", &ms) == -1);
    CHECK(config_parse_duration_ms("1.5s", &ms) == -1);
    CHECK(config_parse_duration_ms("99999999999999999999", &ms) == -1);
    CHECK(config_parse_duration_ms("999999999999999999d", &ms) == -1);
    CHECK(ms == 42);
}

static void test_redis_endpoints(void)
{
    struct redis_endpoint ep;

    memset(&ep, 0, sizeof(ep));
    CHECK(redis_endpoint_parse("127.0.0.1:6379", &ep) == 0);
    CHECK_STR(ep.host, "127.0.0.1");
    CHECK(ep.port == 6379 && ep.unix_path == NULL);
    free(ep.host);

    CHECK(redis_endpoint_parse("redis.example:1", &ep) == 0);
    CHECK_STR(ep.host, "redis.example");
    CHECK(ep.port == 1);
    free(ep.host);

    CHECK(redis_endpoint_parse("[::1]:65535", &ep) == 0);
    CHECK_STR(ep.host, "::1");
    CHECK(ep.port == 65535);
    free(ep.host);

    CHECK(redis_endpoint_parse("unix:/var/run/redis/redis.sock", &ep) == 0);
    CHECK(ep.host == NULL);
    CHECK_STR(ep.unix_path, "/var/run/redis/redis.sock");
    free(ep.unix_path);

    CHECK(redis_endpoint_parse("localhost", &ep) == -1);
    CHECK(redis_endpoint_parse("localhost:", &ep) == -1);
    CHECK(redis_endpoint_parse(":6379", &ep) == -1);
    CHECK(redis_endpoint_parse("host:0", &ep) == -1);
    CHECK(redis_endpoint_parse("host:65536", &ep) == -1);
    CHECK(redis_endpoint_parse("host:63x", &ep) == -1);
    CHECK(redis_endpoint_parse("::1:6379", &ep) == -1);
    CHECK(redis_endpoint_parse("[]:6379", &ep) == -1);
    CHECK(redis_endpoint_parse("[::1]6379", &ep) == -1);
    CHECK(redis_endpoint_parse("unix:relative.sock", &ep) == -1);
    CHECK(redis_endpoint_parse("", &ep) == -1);
    CHECK(redis_endpoint_parse("a b:1", &ep) == -1);
}

static void test_socket_specs(void)
{
    static const char *const good[] = {
        "unix:/run/m.sock", "local:/run/m.sock", "/run/m.sock", "inet:8891",
        "inet:8891@127.0.0.1", "inet6:8891@::1", "inet:milter@localhost",
    };
    static const char *const bad[] = {
        "unix:m.sock", "inet:", "inet:@127.0.0.1", "inet:8891@", "tcp:8891", "m.sock",
    };
    struct config *cfg;
    char text[256];
    char *err;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "LocalDomains a.fr\nWhitelistFile /x\nSocket %s\n",
                 good[i]);
        err = load_captured(write_conf(text), &cfg);
        CHECK(cfg != NULL);
        if (cfg == NULL)
            fprintf(stderr, "  refused good socket %s: %s", good[i], err);
        config_free(cfg);
        free(err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "LocalDomains a.fr\nWhitelistFile /x\nSocket %s\n",
                 bad[i]);
        err = load_captured(write_conf(text), &cfg);
        CHECK(cfg == NULL && strstr(err, ":3: Socket: ") != NULL);
        if (cfg != NULL)
            fprintf(stderr, "  accepted bad socket %s\n", bad[i]);
        config_free(cfg);
        free(err);
    }
}

/* Issue 10: InternalHosts and OperatorCertificate, good and bad values. */
static void test_trust_boundary_keys(void)
{
    static const struct { const char *value; const char *error; } bad[] = {
        { "InternalHosts 10.0.0.0/33", "InternalHosts: 10.0.0.0/33: prefix length must be 0..32 for an IPv4 address" },
        { "InternalHosts 127.0.0.0/8, 192.0.2.1/24",
          "InternalHosts: 192.0.2.1/24: bits set after the /24 prefix (did you mean 192.0.2.0/24?)" },
        { "InternalHosts mx.chu-exemple.fr", "InternalHosts: mx.chu-exemple.fr: not an IPv4 or "
          "IPv6 address or CIDR block (host names are not accepted)" },
        { "InternalHosts ::1/200", "InternalHosts: ::1/200: prefix length must be 0..128 for an IPv6 address" },
        { "OperatorCertificate strict", "OperatorCertificate: expected off, log or enforce, got "
          "\"strict\"" },
    };
    struct config *cfg;
    char *err, text[256], want[512];
    const char *path;

    path = write_conf("LocalDomains chu-exemple.mssante.fr\nWhitelistFile /x.xml\n"
                      "InternalHosts 10.0.0.0/8, 2001:db8::/32 192.0.2.7\n"
                      "operatorcertificate ENFORCE\n");
    err = load_captured(path, &cfg);
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(cfg->rules.operator_certificate == CERT_MODE_ENFORCE);
        CHECK(cfg->rules.internal_hosts.n == 3);
        CHECK(cidr_list_match_text(&cfg->rules.internal_hosts, "10.200.0.1", NULL));
        CHECK(cidr_list_match_text(&cfg->rules.internal_hosts, "::ffff:10.200.0.1", NULL));
        CHECK(cidr_list_match_text(&cfg->rules.internal_hosts, "192.0.2.7", NULL));
        CHECK(!cidr_list_match_text(&cfg->rules.internal_hosts, "127.0.0.1", NULL));
    }
    config_free(cfg);
    free(err);

    path = write_conf("LocalDomains chu-exemple.mssante.fr\nWhitelistFile /x.xml\n"
                      "InternalHosts none\nOperatorCertificate off\n");
    err = load_captured(path, &cfg);
    CHECK_STR(err, "");
    CHECK(cfg != NULL && cfg->rules.internal_hosts.n == 0 && cfg->rules.operator_certificate == CERT_MODE_OFF);
    if (cfg != NULL)
        CHECK(!cidr_list_match_text(&cfg->rules.internal_hosts, "127.0.0.1", NULL));
    config_free(cfg);
    free(err);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "LocalDomains chu-exemple.mssante.fr\n"
                 "WhitelistFile /x.xml\n%s\n", bad[i].value);
        path = write_conf(text);
        err = load_captured(path, &cfg);
        CHECK(cfg == NULL);
        snprintf(want, sizeof(want), "%s:3: %s\n", path, bad[i].error);
        CHECK_STR(err, want);
        config_free(cfg);
        free(err);
    }
}

/* A domain written in Unicode in the file is kept in its A-label form,
 * the form envelopes and the ANS list are compared in; one that IDNA2008
 * refuses is an error on its line. */
static void test_unicode_domains(void)
{
    struct config *cfg;
    char *err = load_captured(write_conf(
        "LocalDomains H\xc3\xb4pital.MSSante.fr., chu-exemple.mssante.fr,"
        " xn--hpital-ixa.mssante.fr\n"
        "PatientDomain patient.h\xc3\xb4pital.fr\n"
        "PharmacyMailboxes Pharmacie-*@h\xc3\xb4pital.mssante.fr, @chu-exemple.mssante.fr\n"
        "WhitelistFile /nonexistent.xml\n"), &cfg);

    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(cfg->rules.local_domains.n == 2);     /* both forms: one domain */
        CHECK_STR(cfg->rules.local_domains.v[0], "xn--hpital-ixa.mssante.fr");
        CHECK_STR(cfg->rules.patient_domain, "patient.xn--hpital-ixa.fr");
        CHECK_STR(cfg->rules.pharmacy_mailboxes.v[0], "Pharmacie-*@xn--hpital-ixa.mssante.fr");
        CHECK_STR(cfg->rules.pharmacy_mailboxes.v[1], "@chu-exemple.mssante.fr");
        CHECK(config_is_local_domain(cfg, "xn--hpital-ixa.mssante.fr"));
    }
    config_free(cfg);
    free(err);

    err = load_captured(write_conf("LocalDomains ok.mssante.fr \xe2\x98\x83.mssante.fr\n"
                                   "PharmacyMailboxes a@\xe2\x98\x83.fr\n"
                                   "WhitelistFile /nonexistent.xml\n"), &cfg);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ":1: LocalDomains: \"\xe2\x98\x83.mssante.fr\" is not a valid domain name")
          != NULL);
    CHECK(strstr(err, ":2: PharmacyMailboxes: \"a@\xe2\x98\x83.fr\": not a valid domain name")
          != NULL);
    config_free(cfg);
    free(err);
}

static void cleanup(void)
{
    char path[300];

    for (int i = 1; i <= file_counter; i++) {
        snprintf(path, sizeof(path), "%s/conf%d", tmp_dir, i);
        unlink(path);
    }
    rmdir(tmp_dir);
}

/* The outbound TLS policy table (whitelist/tlspolicy.h). */
static void test_tls_policy_keys(void)
{
    struct config *cfg;
    char *err;

    err = load_captured(write_conf("LocalDomains a.mssante.fr\nWhitelistFile /x.xml\n"), &cfg);
    CHECK(cfg != NULL && cfg->live.tls_policy_file == NULL && !cfg->live.tls_policy_encrypt);
    config_free(cfg);
    free(err);

    err = load_captured(write_conf("LocalDomains a.mssante.fr\nWhitelistFile /x.xml\n"
                                   "tlspolicyfile /var/lib/mssante/tls_policy\n"
                                   "TLSPolicyLevel Encrypt\n"), &cfg);
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK_STR(cfg->live.tls_policy_file, "/var/lib/mssante/tls_policy");
        CHECK(cfg->live.tls_policy_encrypt);
    }
    config_free(cfg);
    free(err);

    err = load_captured(write_conf("LocalDomains a.mssante.fr\nWhitelistFile /x.xml\n"
                                   "TLSPolicyLevel verify\nTLSPolicyFile\n"), &cfg);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ":3: TLSPolicyLevel: expected secure or encrypt, got \"verify\"") != NULL);
    CHECK(strstr(err, ":4: TLSPolicyFile: missing value") != NULL);
    config_free(cfg);
    free(err);
}

int main(void)
{
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_full_config();
    test_defaults();
    test_all_errors_reported();
    test_cross_field();
    test_missing_file();
    test_comments_and_spacing();
    test_durations();
    test_redis_endpoints();
    test_socket_specs();
    test_trust_boundary_keys();
    test_tls_policy_keys();
    test_unicode_domains();
    cleanup();
    TEST_DONE();
}
