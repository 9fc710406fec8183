/*
 * loadgen.c - drive a milter directly, speaking the milter wire protocol the
 * way Postfix 3.7 does, and measure it: messages per second and the latency
 * of each message (MAIL sent .. end-of-message verdict received).
 *
 * Why not miltertest or Postfix itself: to measure the milter alone, with no
 * MTA sharing the CPU, and with the same byte stream Postfix would send, so
 * that protocol-level costs (steps negotiated, replies per step, Nagle
 * stalls on TCP) show up exactly as they would in production.
 *
 * What is Postfix-like here (see Postfix src/milter/milter8.c):
 *  - OPTNEG offers protocol 6, every action and every protocol option
 *    Postfix offers; the milter's answer (steps to skip, replies it will not
 *    send, macro lists) is honoured;
 *  - macros (SMFIC_MACRO) go before each step, even a step the milter
 *    negotiated away, with Postfix's default macro lists; "i" (queue id)
 *    appears from the second RCPT on, as it does in Postfix;
 *  - writes are buffered and flushed when a reply is awaited, and the
 *    buffer is flushed after DATA (Postfix hands the socket from smtpd to
 *    the cleanup server there), so a lone DATA macro packet is sent alone;
 *  - one connection carries several messages, with SMFIC_ABORT between
 *    them (Postfix's mail_reset()), and SMFIC_QUIT at the end;
 *  - the body goes in 65535-byte chunks, then SMFIC_BODYEOB, and at end of
 *    message any number of modification requests precede the verdict;
 *  - no TCP_NODELAY on our side (Postfix does not set it either).
 *
 * Only loopback endpoints are accepted.  Every loop is bounded: M messages
 * in all, socket timeouts on every read and write.
 *
 * Usage: loadgen -s SOCKET [-c CONNS] [-m MESSAGES] [-k PER_CONN]
 *                [-r RCPTS] [-b BODY_BYTES] [-d DOMAINS_FILE]
 *                [-f SENDER_DOMAIN] [-t TIMEOUT_S] [-P MILTER_PID]
 *                [--nodelay] [--hold] [--json]
 *
 * --hold: every worker opens its connection, and none sends a message
 * until all are open, so that CONNS connections are open at the same
 * time at least once (the scale step of bench/run.sh).  Without it a
 * worker sends as soon as it is connected, and with fast replies the
 * first connections may be done before the last ones open.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/milterwire.h"

struct opts {
    const char *socket;
    int conns;
    long messages;
    int per_conn;
    int rcpts;
    size_t body_bytes;
    const char *domains_file;
    const char *sender_domain;
    int timeout_s;
    long cpu_pid;
    bool hold;
    bool nodelay;
    bool json;
};

/* Results, shared by the workers. */
static struct {
    atomic_long next_msg;           /* next message number to claim */
    atomic_long accepted, rejected, tempfailed, discarded, errors;
    atomic_long rcpt_rejected, modifications, connections;
    uint32_t *latency_us;           /* one slot per message number */
    atomic_uint neg_version, neg_actions, neg_pflags;
    char first_error[200];
    pthread_mutex_t err_lock;
} R = { .err_lock = PTHREAD_MUTEX_INITIALIZER };

static struct opts O = {
    .conns = 10, .messages = 5000, .per_conn = 10, .rcpts = 3,
    .body_bytes = 5120, .sender_domain = "chu-test.mssante.fr",
    .timeout_s = 10, .cpu_pid = 0,
};
static struct wire_target TARGET;
static char **DOMAINS;
static size_t N_DOMAINS;
static char *BODY;                  /* CRLF text, O.body_bytes long */

static const char *const DEFAULT_DOMAINS[] = {
    "medecin.mssante.fr", "pharmacien.mssante.fr", "chu-lille.mssante.fr",
    "lgpi.mssante.fr", "interop-mssante.apicrypt.org", "mssante.apicrypt.org",
    "infirmier.mssante.fr", "masseur-kinesitherapeute.mssante.fr",
};

static void record_error(struct conn *c)
{
    atomic_fetch_add(&R.errors, 1);
    pthread_mutex_lock(&R.err_lock);
    if (R.first_error[0] == 0)
        snprintf(R.first_error, sizeof(R.first_error), "%s", c->err);
    pthread_mutex_unlock(&R.err_lock);
}

/* ---- one message ----------------------------------------------------- */

static const char *const FIRST[] = { "camille", "jean", "marie", "luc", "ines",
                                     "paul", "lea", "hugo", "sarah", "noah" };
static const char *const LAST[] = { "martin", "bernard", "dubois", "thomas",
                                    "robert", "richard", "petit", "durand" };

static void make_address(struct conn *c, char *dst, size_t len, const char *domain)
{
    snprintf(dst, len, "<%s.%s%u@%s>", FIRST[rnd(c) % 10], LAST[rnd(c) % 8],
             (unsigned) (rnd(c) % 1000), domain);
}

struct message {
    char qid[16];
    char sender[128];
    char rcpt[MAX_RCPTS][160];
    int nrcpt;
};

static void make_message(struct conn *c, struct message *m, long n)
{
    snprintf(m->qid, sizeof(m->qid), "4B%08lX", (unsigned long) (n * 2654435761u) & 0xFFFFFFFFul);
    make_address(c, m->sender, sizeof(m->sender), O.sender_domain);
    m->nrcpt = O.rcpts;
    for (int i = 0; i < m->nrcpt; i++)
        make_address(c, m->rcpt[i], sizeof(m->rcpt[i]), DOMAINS[rnd(c) % N_DOMAINS]);
}

static enum verdict send_envelope(struct conn *c, const struct message *m,
                                  int *accepted_rcpts)
{
    char bare[160];
    const struct macro mail_mac[] = {
        { "i", NULL }, { "{mail_addr}", bare }, { "{mail_host}", "[127.0.0.1]" },
        { "{mail_mailer}", "smtp" },
    };

    snprintf(bare, sizeof(bare), "%.*s", (int) strlen(m->sender) - 2, m->sender + 1);
    enum verdict v = step(c, SMFIC_MAIL, ST_MAIL, mail_mac, 4, P_NOMAIL, P_NR_MAIL,
                          m->sender, strlen(m->sender) + 1);
    *accepted_rcpts = 0;
    if (v != V_CONTINUE)
        return v;
    for (int i = 0; i < m->nrcpt; i++) {
        char rbare[160];
        const struct macro rcpt_mac[] = {
            { "i", *accepted_rcpts > 0 ? m->qid : NULL }, { "{rcpt_addr}", rbare },
            { "{rcpt_host}", "[127.0.0.1]" }, { "{rcpt_mailer}", "smtp" },
        };
        snprintf(rbare, sizeof(rbare), "%.*s", (int) strlen(m->rcpt[i]) - 2, m->rcpt[i] + 1);
        v = step(c, SMFIC_RCPT, ST_RCPT, rcpt_mac, 4, P_NORCPT, P_NR_RCPT,
                 m->rcpt[i], strlen(m->rcpt[i]) + 1);
        if (v == V_CONTINUE || v == V_ACCEPT)
            (*accepted_rcpts)++;
        else if (v == V_REJECT || v == V_TEMPFAIL)
            atomic_fetch_add(&R.rcpt_rejected, 1);
        else
            return v;
        if (v == V_ACCEPT)
            return V_ACCEPT;    /* no more events for this message */
    }
    return *accepted_rcpts > 0 ? V_CONTINUE : V_REJECT;
}

static void put_header_value(struct buf *p, const struct conn *c,
                             const char *name, const char *value)
{
    buf_put_str(p, name);
    if (c->pflags & P_HDR_LEADSPC)
        buf_put(p, " ", 1);
    buf_put_str(p, value);
}

static enum verdict send_headers(struct conn *c, const struct message *m,
                                 const struct macro *mac)
{
    char msgid[80];
    const char *hdr[][2] = {
        { "From", m->sender }, { "To", m->rcpt[0] },
        { "Cc", m->nrcpt > 1 ? m->rcpt[1] : m->rcpt[0] },
        { "Subject", "Compte rendu de consultation" },
        { "Date", "Thu, 13 Mar 2025 14:54:10 +0100" }, { "Message-ID", msgid },
        { "MIME-Version", "1.0" }, { "Content-Type", "text/plain; charset=utf-8" },
    };
    struct buf p = { 0 };
    enum verdict v = V_CONTINUE;

    snprintf(msgid, sizeof(msgid), "<%s.bench@chu-test.mssante.fr>", m->qid);
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]) && v == V_CONTINUE; i++) {
        p.len = 0;
        put_header_value(&p, c, hdr[i][0], hdr[i][1]);
        v = step(c, SMFIC_HEADER, ST_EOH, mac, 1, 0, P_NR_HDR, p.data, p.len);
    }
    free(p.data);
    return v;
}

static enum verdict send_body(struct conn *c, const struct macro *mac)
{
    enum verdict v = V_CONTINUE;

    for (size_t off = 0; off < O.body_bytes && v == V_CONTINUE; off += CHUNK_MAX) {
        size_t n = O.body_bytes - off > CHUNK_MAX ? CHUNK_MAX : O.body_bytes - off;
        v = step(c, SMFIC_BODY, ST_EOM, mac, 1, 0, P_NR_BODY, BODY + off, n);
    }
    return v == V_SKIP ? V_CONTINUE : v;
}

/* Header, end of headers, body, end of message: cleanup's part. */
static enum verdict send_content(struct conn *c, const struct message *m)
{
    const struct macro mac[] = { { "i", m->qid } };
    enum verdict v = V_CONTINUE;

    if (!(c->pflags & P_NOHDRS))
        v = send_headers(c, m, mac);
    if (v == V_CONTINUE && !(c->pflags & P_NOEOH))
        v = step(c, SMFIC_EOH, ST_EOH, mac, 1, 0, P_NR_EOH, "", 0);
    if (v == V_CONTINUE && !(c->pflags & P_NOBODY))
        v = send_body(c, mac);
    if (v == V_CONTINUE) {
        put_macros(c, SMFIC_BODYEOB, ST_EOM, mac, 1);
        size_t at = pkt_begin(&c->out, SMFIC_BODYEOB);
        pkt_end(&c->out, at);
        v = await_verdict(c, SMFIC_BODYEOB);
    }
    return v;
}

/* MAIL .. end of message, then ABORT (sent with the next write). */
static enum verdict run_message(struct conn *c, long n)
{
    struct message m;
    int accepted;
    const struct macro data_mac[] = { { "i", m.qid } };

    make_message(c, &m, n);
    enum verdict v = send_envelope(c, &m, &accepted);
    if (v == V_CONTINUE) {
        v = step(c, SMFIC_DATA, ST_DATA, data_mac, 1, P_NODATA, P_NR_DATA, "", 0);
        /* smtpd hands the milter socket to cleanup here: flush. */
        if (v != V_ERROR && conn_flush(c) < 0)
            v = V_ERROR;
    }
    if (v == V_CONTINUE)
        v = send_content(c, &m);
    if (v != V_ERROR) {
        size_t at = pkt_begin(&c->out, SMFIC_ABORT);
        pkt_end(&c->out, at);
    }
    return v;
}

static void count_verdict(enum verdict v)
{
    switch (v) {
    case V_CONTINUE:
    case V_ACCEPT:
    case V_SKIP:
        atomic_fetch_add(&R.accepted, 1);
        break;
    case V_REJECT:
        atomic_fetch_add(&R.rejected, 1);
        break;
    case V_TEMPFAIL:
        atomic_fetch_add(&R.tempfailed, 1);
        break;
    case V_DISCARD:
        atomic_fetch_add(&R.discarded, 1);
        break;
    case V_ERROR:
        break;
    }
}

/* ---- workers --------------------------------------------------------- */

/* Open C, and note what the milter negotiated and the connection made. */
static int open_counted(struct conn *c)
{
    int rc = conn_open(c);

    if (c->version != 0) {
        atomic_store(&R.neg_version, c->version);
        atomic_store(&R.neg_actions, c->actions);
        atomic_store(&R.neg_pflags, c->pflags);
    }
    atomic_fetch_add(&R.connections, (long) c->connects);
    c->connects = 0;
    return rc;
}

/* --hold: the workers that opened their first connection, and whether
 * they may go on (main() says so once all have). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int opened;
    bool go;
} HOLD = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };

/* A worker: its first connection is open (or failed, counted); wait. */
static void hold_arrive(void)
{
    pthread_mutex_lock(&HOLD.mu);
    HOLD.opened++;
    pthread_cond_broadcast(&HOLD.cv);
    while (!HOLD.go)
        pthread_cond_wait(&HOLD.cv, &HOLD.mu);
    pthread_mutex_unlock(&HOLD.mu);
}

/* main(): once the STARTED workers have arrived, let them all go. */
static void hold_release(int started)
{
    pthread_mutex_lock(&HOLD.mu);
    while (HOLD.opened < started)
        pthread_cond_wait(&HOLD.cv, &HOLD.mu);
    HOLD.go = true;
    pthread_cond_broadcast(&HOLD.cv);
    pthread_mutex_unlock(&HOLD.mu);
}

static void *worker(void *arg)
{
    struct conn c = { .to = &TARGET, .fd = -1 };
    int on_conn = 0;

    c.rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t) (uintptr_t) arg * 0xBF58476D1CE4E5B9ULL);
    if (O.hold) {
        if (open_counted(&c) < 0) {
            record_error(&c);
            conn_close(&c, false);
        }
        hold_arrive();
    }
    for (;;) {
        long n = atomic_fetch_add(&R.next_msg, 1);
        if (n >= O.messages)
            break;
        if (c.fd < 0 && open_counted(&c) < 0) {
            record_error(&c);
            conn_close(&c, false);
            R.latency_us[n] = UINT32_MAX;
            continue;
        }
        double t0 = now_s();
        enum verdict v = run_message(&c, n);
        atomic_fetch_add(&R.modifications, (long) c.modifications);
        c.modifications = 0;
        double us = (now_s() - t0) * 1e6;
        R.latency_us[n] = us >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t) us;
        if (v == V_ERROR) {
            record_error(&c);
            R.latency_us[n] = UINT32_MAX;
            conn_close(&c, false);
            on_conn = 0;
            continue;
        }
        count_verdict(v);
        if (++on_conn >= O.per_conn) {
            conn_close(&c, true);
            on_conn = 0;
        }
    }
    conn_close(&c, true);
    free(c.out.data);
    free(c.reply.data);
    return NULL;
}

/* ---- set-up and report ------------------------------------------------- */

static void load_domains(void)
{
    if (O.domains_file == NULL) {
        N_DOMAINS = sizeof(DEFAULT_DOMAINS) / sizeof(DEFAULT_DOMAINS[0]);
        DOMAINS = (char **) DEFAULT_DOMAINS;
        return;
    }
    FILE *f = fopen(O.domains_file, "r");
    if (f == NULL)
        die("%s: %s", O.domains_file, strerror(errno));
    size_t cap = 1024;
    char line[512];
    DOMAINS = xmalloc(cap * sizeof(char *));
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n \t")] = 0;
        if (line[0] == 0 || line[0] == '#' || strlen(line) > 120)
            continue;
        if (N_DOMAINS == cap) {
            cap *= 2;
            char **p = realloc(DOMAINS, cap * sizeof(char *));
            if (p == NULL)
                die("out of memory");
            DOMAINS = p;
        }
        DOMAINS[N_DOMAINS++] = strdup(line);
    }
    fclose(f);
    if (N_DOMAINS == 0)
        die("%s: no domain", O.domains_file);
}

/* Plain text in 78-byte CRLF lines, the way cleanup hands a body over. */
static void make_body(void)
{
    static const char text[] = "Compte rendu de consultation du patient, "
                               "resultats joints, suivi a prevoir. ";
    BODY = xmalloc(O.body_bytes + 1);
    for (size_t i = 0; i < O.body_bytes; i++) {
        size_t col = i % 78;
        BODY[i] = col == 76 ? '\r' : col == 77 ? '\n' : text[(i / 78 * 7 + col) % (sizeof(text) - 1)];
    }
    if (O.body_bytes >= 2) {
        BODY[O.body_bytes - 2] = '\r';
        BODY[O.body_bytes - 1] = '\n';
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t) (p / 100.0 * (double) (n - 1) + 0.5);
    return sorted[i] / 1000.0;
}

/* CPU time (ns) of another process, all its threads, live or exited. */
static long long process_cpu_ns(long pid)
{
    clockid_t clk;
    struct timespec ts;

    if (pid <= 0 || clock_getcpuclockid((pid_t) pid, &clk) != 0
        || clock_gettime(clk, &ts) != 0)
        return -1;
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void report(double elapsed, long long cpu_ns)
{
    size_t n = 0;
    uint32_t *ok = xmalloc((size_t) O.messages * sizeof(uint32_t));

    for (long i = 0; i < O.messages; i++)
        if (R.latency_us[i] != UINT32_MAX)
            ok[n++] = R.latency_us[i];
    qsort(ok, n, sizeof(uint32_t), cmp_u32);

    long done = atomic_load(&R.accepted) + atomic_load(&R.rejected)
                + atomic_load(&R.tempfailed) + atomic_load(&R.discarded);
    double rate = elapsed > 0 ? done / elapsed : 0;
    double cpu_us = cpu_ns >= 0 && done > 0 ? cpu_ns / 1000.0 / done : -1;

    if (O.json) {
        printf("{\"socket\":\"%s\",\"connections\":%d,\"messages\":%ld,"
               "\"per_connection\":%d,\"recipients\":%d,\"body_bytes\":%zu,"
               "\"elapsed_s\":%.3f,\"msgs_per_s\":%.1f,"
               "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
               "\"verdicts\":{\"accept\":%ld,\"reject\":%ld,\"tempfail\":%ld,"
               "\"discard\":%ld,\"error\":%ld},\"rcpt_rejected\":%ld,"
               "\"modifications\":%ld,\"milter_connections\":%ld,"
               "\"negotiated\":{\"version\":%u,\"actions\":\"0x%x\",\"protocol\":\"0x%x\"}",
               O.socket, O.conns, O.messages, O.per_conn, O.rcpts, O.body_bytes,
               elapsed, rate, pct(ok, n, 50), pct(ok, n, 90), pct(ok, n, 99),
               pct(ok, n, 100), atomic_load(&R.accepted), atomic_load(&R.rejected),
               atomic_load(&R.tempfailed), atomic_load(&R.discarded),
               atomic_load(&R.errors), atomic_load(&R.rcpt_rejected),
               atomic_load(&R.modifications), atomic_load(&R.connections),
               atomic_load(&R.neg_version), atomic_load(&R.neg_actions),
               atomic_load(&R.neg_pflags));
        if (cpu_us >= 0)
            printf(",\"milter_cpu_us_per_msg\":%.2f", cpu_us);
        printf("}\n");
    } else {
        printf("loadgen: %s, %d connections, %ld messages (%d per connection), "
               "%d recipients, %zu-byte body\n", O.socket, O.conns, O.messages,
               O.per_conn, O.rcpts, O.body_bytes);
        printf("  negotiated: version %u, actions 0x%x, protocol 0x%x\n",
               atomic_load(&R.neg_version), atomic_load(&R.neg_actions),
               atomic_load(&R.neg_pflags));
        printf("  %.1f messages/s (%.3f s)\n", rate, elapsed);
        printf("  latency per message: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
               pct(ok, n, 50), pct(ok, n, 90), pct(ok, n, 99), pct(ok, n, 100));
        printf("  verdicts: %ld accepted, %ld rejected, %ld tempfailed, %ld discarded, "
               "%ld errors; %ld recipients refused\n", atomic_load(&R.accepted),
               atomic_load(&R.rejected), atomic_load(&R.tempfailed),
               atomic_load(&R.discarded), atomic_load(&R.errors),
               atomic_load(&R.rcpt_rejected));
        if (cpu_us >= 0)
            printf("  milter CPU: %.2f us per message\n", cpu_us);
    }
    if (R.first_error[0])
        fprintf(stderr, "loadgen: first error: %s\n", R.first_error);
    free(ok);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -s SOCKET [-c CONNS] [-m MESSAGES] [-k PER_CONN] [-r RCPTS]\n"
            "               [-b BODY_BYTES] [-d DOMAINS_FILE] [-f SENDER_DOMAIN]\n"
            "               [-t TIMEOUT_S] [-P MILTER_PID] [--nodelay] [--hold] [--json]\n"
            "  SOCKET: unix:/path | inet:PORT@127.0.0.1 | inet:127.0.0.1:PORT\n");
    exit(2);
}

static long num_arg(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == 0 || *end != 0 || v < lo || v > hi)
        usage();
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "json", no_argument, NULL, 'J' }, { "nodelay", no_argument, NULL, 'N' },
        { "hold", no_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "s:c:m:k:r:b:d:f:t:P:h", lopts, NULL)) != -1) {
        switch (ch) {
        case 's': O.socket = optarg; break;
        case 'c': O.conns = (int) num_arg(optarg, 1, 10000); break;
        case 'm': O.messages = num_arg(optarg, 1, 10000000); break;
        case 'k': O.per_conn = (int) num_arg(optarg, 1, 1000000); break;
        case 'r': O.rcpts = (int) num_arg(optarg, 1, MAX_RCPTS); break;
        case 'b': O.body_bytes = (size_t) num_arg(optarg, 0, 64L << 20); break;
        case 'd': O.domains_file = optarg; break;
        case 'f': O.sender_domain = optarg; break;
        case 't': O.timeout_s = (int) num_arg(optarg, 1, 3600); break;
        case 'P': O.cpu_pid = num_arg(optarg, 1, 1L << 30); break;
        case 'J': O.json = true; break;
        case 'N': O.nodelay = true; break;
        case 'H': O.hold = true; break;
        default: usage();
        }
    }
    if (O.socket == NULL || optind != argc)
        usage();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    parse_endpoint(O.socket, &TARGET.ep);
    TARGET.name = O.socket;
    TARGET.timeout_s = O.timeout_s;
    TARGET.nodelay = O.nodelay;
    load_domains();
    make_body();
    signal(SIGPIPE, SIG_IGN);
    R.latency_us = xmalloc((size_t) O.messages * sizeof(uint32_t));
    for (long i = 0; i < O.messages; i++)
        R.latency_us[i] = UINT32_MAX;

    pthread_t *th = xmalloc((size_t) O.conns * sizeof(pthread_t));
    long long cpu0 = process_cpu_ns(O.cpu_pid);
    double t0 = now_s();
    int started = 0;
    pthread_attr_t attr;
    /* A small stack: thousands of connections mean thousands of threads. */
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, 256 * 1024) != 0)
        die("cannot set up the worker threads");
    for (int i = 0; i < O.conns; i++) {
        if (pthread_create(&th[i], &attr, worker, (void *) (intptr_t) (i + 1)) != 0)
            break;
        started++;
    }
    pthread_attr_destroy(&attr);
    if (O.hold)
        hold_release(started);
    if (started == 0)
        die("cannot start any thread");
    if (started < O.conns) {        /* fewer connections than asked: an error, said */
        atomic_fetch_add(&R.errors, O.conns - started);
        fprintf(stderr, "loadgen: only %d of %d worker threads started\n", started, O.conns);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double elapsed = now_s() - t0;
    long long cpu1 = process_cpu_ns(O.cpu_pid);

    report(elapsed, cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1);
    free(th);
    free(R.latency_us);
    free(BODY);
    return atomic_load(&R.errors) > 0 ? 1 : 0;
}
