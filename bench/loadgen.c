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
 *                [--nodelay] [--json]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Wire protocol constants (libmilter's mfdef.h names). */
#define SMFIC_ABORT   'A'
#define SMFIC_BODY    'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO   'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO    'H'
#define SMFIC_HEADER  'L'
#define SMFIC_MAIL    'M'
#define SMFIC_EOH     'N'
#define SMFIC_OPTNEG  'O'
#define SMFIC_QUIT    'Q'
#define SMFIC_RCPT    'R'
#define SMFIC_DATA    'T'

#define P_NOCONNECT   0x00000001u
#define P_NOHELO      0x00000002u
#define P_NOMAIL      0x00000004u
#define P_NORCPT      0x00000008u
#define P_NOBODY      0x00000010u
#define P_NOHDRS      0x00000020u
#define P_NOEOH       0x00000040u
#define P_NR_HDR      0x00000080u
#define P_NODATA      0x00000200u
#define P_NR_CONN     0x00001000u
#define P_NR_HELO     0x00002000u
#define P_NR_MAIL     0x00004000u
#define P_NR_RCPT     0x00008000u
#define P_NR_DATA     0x00010000u
#define P_NR_EOH      0x00040000u
#define P_NR_BODY     0x00080000u
#define P_HDR_LEADSPC 0x00100000u

/* What Postfix 3.7 offers with milter_protocol = 6. */
#define MTA_VERSION   6u
#define MTA_ACTIONS   0x000001FFu
#define MTA_PROTOCOL  0x001FFFFFu

#define CHUNK_MAX     65535     /* Postfix MILTER_CHUNK_SIZE */
#define REPLY_MAX     (1 << 20) /* refuse larger reply packets */
#define MAX_RCPTS     50
#define N_STAGES      7         /* SMFIM_CONNECT .. SMFIM_EOH */

enum stage { ST_CONNECT = 0, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_EOM, ST_EOH };

enum verdict { V_CONTINUE, V_ACCEPT, V_REJECT, V_TEMPFAIL, V_DISCARD, V_SKIP,
               V_ERROR };

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
    bool nodelay;
    bool json;
};

struct endpoint {
    struct sockaddr_storage ss;
    socklen_t len;
    bool tcp;
};

struct buf {
    unsigned char *data;
    size_t len, cap;
};

struct macro {
    const char *name;
    const char *value;
};

/* One milter connection. */
struct conn {
    int fd;
    struct buf out;                 /* written on flush */
    unsigned char in[16384];        /* read-ahead, like a VSTREAM */
    size_t in_len, in_pos;
    struct buf reply;               /* payload of the last reply */
    uint32_t version, actions, pflags;
    char *symlist[N_STAGES];        /* macro lists the milter asked for */
    uint64_t rng;
    char err[160];
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
static struct endpoint EP;
static char **DOMAINS;
static size_t N_DOMAINS;
static char *BODY;                  /* CRLF text, O.body_bytes long */

static const char *const DEFAULT_DOMAINS[] = {
    "medecin.mssante.fr", "pharmacien.mssante.fr", "chu-lille.mssante.fr",
    "lgpi.mssante.fr", "interop-mssante.apicrypt.org", "mssante.apicrypt.org",
    "infirmier.mssante.fr", "masseur-kinesitherapeute.mssante.fr",
};

/* ---- small utilities ------------------------------------------------- */

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        die("out of memory");
    return p;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: per-connection, no locking, good enough to pick names. */
static uint64_t rnd(struct conn *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545F4914F6CDD1DULL;
}

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *p = realloc(b->data, cap);
    if (p == NULL)
        die("out of memory");
    b->data = p;
    b->cap = cap;
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_put_str(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s) + 1);   /* with its NUL, as on the wire */
}

static void buf_put_u32(struct buf *b, uint32_t v)
{
    uint32_t n = htonl(v);

    buf_put(b, &n, 4);
}

/* Start a packet: reserve the length, write the command; returns the
 * offset to pass to pkt_end(). */
static size_t pkt_begin(struct buf *b, char cmd)
{
    size_t at = b->len;

    buf_put_u32(b, 0);
    buf_put(b, &cmd, 1);
    return at;
}

static void pkt_end(struct buf *b, size_t at)
{
    uint32_t n = htonl((uint32_t) (b->len - at - 4));

    memcpy(b->data + at, &n, 4);
}

static void record_error(struct conn *c)
{
    atomic_fetch_add(&R.errors, 1);
    pthread_mutex_lock(&R.err_lock);
    if (R.first_error[0] == 0)
        snprintf(R.first_error, sizeof(R.first_error), "%s", c->err);
    pthread_mutex_unlock(&R.err_lock);
}

/* ---- endpoint -------------------------------------------------------- */

static bool is_loopback4(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

/* unix:/path, local:/path, inet:PORT@HOST (libmilter), inet:HOST:PORT
 * (Postfix).  HOST must be a loopback address or "localhost". */
static void parse_endpoint(const char *spec, struct endpoint *ep)
{
    memset(ep, 0, sizeof(*ep));
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *) &ep->ss;
        const char *path = strchr(spec, ':') + 1;

        if (strlen(path) >= sizeof(sun->sun_path))
            die("socket path too long: %s", path);
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, path);
        ep->len = sizeof(*sun);
        return;
    }
    if (strncmp(spec, "inet:", 5) != 0)
        die("unsupported socket %s (unix:/path or inet:PORT@127.0.0.1)", spec);

    char host[256], port[16];
    const char *rest = spec + 5, *at = strchr(rest, '@'), *colon;
    if (at != NULL) {
        snprintf(port, sizeof(port), "%.*s", (int) (at - rest), rest);
        snprintf(host, sizeof(host), "%s", at + 1);
    } else if ((colon = strrchr(rest, ':')) != NULL) {
        snprintf(host, sizeof(host), "%.*s", (int) (colon - rest), rest);
        snprintf(port, sizeof(port), "%s", colon + 1);
    } else {
        die("inet socket needs a port: %s", spec);
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");

    struct sockaddr_in *sin = (struct sockaddr_in *) &ep->ss;
    char *end;
    long p = strtol(port, &end, 10);
    if (*end != 0 || p <= 0 || p > 65535)
        die("bad port in %s", spec);
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 || !is_loopback4(&sin->sin_addr))
        die("refusing non-loopback host %s: this tool talks to 127.0.0.0/8 only", host);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) p);
    ep->len = sizeof(*sin);
    ep->tcp = true;
}

/* ---- I/O ------------------------------------------------------------- */

static int conn_flush(struct conn *c)
{
    size_t done = 0;

    while (done < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + done, c->out.len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(c->err, sizeof(c->err), "write: %s", strerror(errno));
            return -1;
        }
        done += (size_t) n;
    }
    c->out.len = 0;
    return 0;
}

static int conn_read(struct conn *c, void *dst, size_t n)
{
    unsigned char *d = dst;

    while (n > 0) {
        if (c->in_pos == c->in_len) {
            ssize_t got = recv(c->fd, c->in, sizeof(c->in), 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                snprintf(c->err, sizeof(c->err), "read: %s",
                         got == 0 ? "connection closed by milter" : strerror(errno));
                return -1;
            }
            c->in_len = (size_t) got;
            c->in_pos = 0;
        }
        size_t take = c->in_len - c->in_pos;
        if (take > n)
            take = n;
        memcpy(d, c->in + c->in_pos, take);
        c->in_pos += take;
        d += take;
        n -= take;
    }
    return 0;
}

/* Flush pending writes, then read one reply packet into c->reply. */
static int read_reply(struct conn *c, char *cmd)
{
    uint32_t nlen;

    if (conn_flush(c) < 0 || conn_read(c, &nlen, 4) < 0)
        return -1;
    uint32_t len = ntohl(nlen);
    if (len < 1 || len > REPLY_MAX) {
        snprintf(c->err, sizeof(c->err), "bad reply length %u", len);
        return -1;
    }
    if (conn_read(c, cmd, 1) < 0)
        return -1;
    c->reply.len = 0;
    buf_reserve(&c->reply, len);
    if (conn_read(c, c->reply.data, len - 1) < 0)
        return -1;
    c->reply.len = len - 1;
    return 0;
}

/* ---- protocol steps ---------------------------------------------------- */

static bool macro_wanted(const struct conn *c, enum stage st, const char *name)
{
    const char *list = c->symlist[st];

    if (list == NULL)
        return true;
    /* Compare without braces: "{mail_addr}" and "mail_addr" are one name. */
    size_t nlen = strlen(name);
    if (name[0] == '{' && nlen > 2) {
        name++;
        nlen -= 2;
    }
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != ',')
            e++;
        const char *w = p;
        size_t wlen = (size_t) (e - p);
        if (wlen > 2 && w[0] == '{') {
            w++;
            wlen -= 2;
        }
        if (wlen == nlen && memcmp(w, name, nlen) == 0)
            return true;
        p = e;
    }
    return false;
}

/* Queue an SMFIC_MACRO packet for step CMD; undefined macros (NULL value)
 * are left out, as Postfix does. */
static void put_macros(struct conn *c, char cmd, enum stage st,
                       const struct macro *m, size_t n)
{
    size_t at = pkt_begin(&c->out, SMFIC_MACRO);

    buf_put(&c->out, &cmd, 1);
    for (size_t i = 0; i < n; i++) {
        if (m[i].value == NULL || !macro_wanted(c, st, m[i].name))
            continue;
        buf_put_str(&c->out, m[i].name);
        buf_put_str(&c->out, m[i].value);
    }
    pkt_end(&c->out, at);
}

/* Read replies until a decision.  At end of message, modification requests
 * may come first; PROGRESS and QUARANTINE never decide. */
static enum verdict await_verdict(struct conn *c, char event)
{
    for (int guard = 0; guard < 10000; guard++) {
        char cmd;

        if (read_reply(c, &cmd) < 0)
            return V_ERROR;
        switch (cmd) {
        case 'c':
            return V_CONTINUE;
        case 'a':
            return V_ACCEPT;
        case 'r':
            return V_REJECT;
        case 't':
            return V_TEMPFAIL;
        case 'd':
            return V_DISCARD;
        case 's':
            return V_SKIP;
        case 'y':
            return c->reply.len > 0 && c->reply.data[0] == '4' ? V_TEMPFAIL : V_REJECT;
        case 'p':
        case 'q':
            continue;
        case '+': case '-': case '2': case 'e': case 'h': case 'i': case 'm': case 'b':
            if (event == SMFIC_BODYEOB) {
                atomic_fetch_add(&R.modifications, 1);
                continue;
            }
            /* FALLTHROUGH */
        default:
            snprintf(c->err, sizeof(c->err), "unexpected reply '%c' to '%c'", cmd, event);
            return V_ERROR;
        }
    }
    snprintf(c->err, sizeof(c->err), "too many replies to '%c'", event);
    return V_ERROR;
}

/*
 * One protocol step: macros (sent even when the step is negotiated away,
 * like Postfix), then the command with PAYLOAD unless SKIP_FLAG was
 * negotiated, then the reply unless NOREPLY_FLAG was.
 */
static enum verdict step(struct conn *c, char cmd, enum stage st,
                         const struct macro *m, size_t nm,
                         uint32_t skip_flag, uint32_t noreply_flag,
                         const void *payload, size_t plen)
{
    if (m != NULL)
        put_macros(c, cmd, st, m, nm);
    if (c->pflags & skip_flag)
        return V_CONTINUE;
    size_t at = pkt_begin(&c->out, cmd);
    buf_put(&c->out, payload, plen);
    pkt_end(&c->out, at);
    if (c->pflags & noreply_flag)
        return V_CONTINUE;
    return await_verdict(c, cmd);
}

static int negotiate(struct conn *c)
{
    size_t at = pkt_begin(&c->out, SMFIC_OPTNEG);
    char cmd;

    buf_put_u32(&c->out, MTA_VERSION);
    buf_put_u32(&c->out, MTA_ACTIONS);
    buf_put_u32(&c->out, MTA_PROTOCOL);
    pkt_end(&c->out, at);
    if (read_reply(c, &cmd) < 0)
        return -1;
    if (cmd != SMFIC_OPTNEG || c->reply.len < 12) {
        snprintf(c->err, sizeof(c->err), "bad OPTNEG reply '%c' (%zu bytes)", cmd, c->reply.len);
        return -1;
    }
    uint32_t v[3];
    memcpy(v, c->reply.data, 12);
    c->version = ntohl(v[0]);
    c->actions = ntohl(v[1]);
    c->pflags = ntohl(v[2]);
    if (c->version > MTA_VERSION || c->version < 2) {
        snprintf(c->err, sizeof(c->err), "milter protocol version %u", c->version);
        return -1;
    }
    /* Optional macro lists: (uint32 stage, NUL-terminated names)... */
    for (size_t p = 12; p + 5 <= c->reply.len;) {
        uint32_t st;
        memcpy(&st, c->reply.data + p, 4);
        st = ntohl(st);
        const char *names = (const char *) c->reply.data + p + 4;
        size_t max = c->reply.len - p - 4, len = strnlen(names, max);
        if (len == max)
            break;
        if (st < N_STAGES) {
            free(c->symlist[st]);
            c->symlist[st] = strdup(names);
        }
        p += 4 + len + 1;
    }
    atomic_store(&R.neg_version, c->version);
    atomic_store(&R.neg_actions, c->actions);
    atomic_store(&R.neg_pflags, c->pflags);
    return 0;
}

static void conn_close(struct conn *c, bool quit)
{
    if (c->fd >= 0) {
        if (quit) {
            size_t at = pkt_begin(&c->out, SMFIC_QUIT);
            pkt_end(&c->out, at);
            (void) conn_flush(c);
        }
        close(c->fd);
    }
    c->fd = -1;
    c->out.len = 0;
    c->in_len = c->in_pos = 0;
    for (int i = 0; i < N_STAGES; i++) {
        free(c->symlist[i]);
        c->symlist[i] = NULL;
    }
}

/* Connect, negotiate, and report the SMTP client's connect and EHLO. */
static int conn_open(struct conn *c)
{
    struct timeval tv = { .tv_sec = O.timeout_s };
    int one = 1;

    c->fd = socket(EP.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (EP.tcp && O.nodelay)
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *) &EP.ss, EP.len) < 0) {
        snprintf(c->err, sizeof(c->err), "connect %s: %s", O.socket, strerror(errno));
        return -1;
    }
    atomic_fetch_add(&R.connections, 1);
    if (negotiate(c) < 0)
        return -1;

    static const struct macro conn_mac[] = {
        { "j", "bench.localdomain" }, { "{daemon_name}", "bench.localdomain" },
        { "{daemon_addr}", "127.0.0.1" }, { "v", "Postfix 3.7.11" },
        { "_", "localhost [127.0.0.1]" },
    };
    struct buf p = { 0 };
    uint16_t port = htons((uint16_t) (20000 + rnd(c) % 40000));
    buf_put_str(&p, "localhost");
    buf_put(&p, "4", 1);
    buf_put(&p, &port, 2);
    buf_put_str(&p, "127.0.0.1");
    enum verdict v = step(c, SMFIC_CONNECT, ST_CONNECT, conn_mac, 5,
                          P_NOCONNECT, P_NR_CONN, p.data, p.len);
    if (v == V_CONTINUE)
        v = step(c, SMFIC_HELO, ST_HELO, NULL, 0, P_NOHELO, P_NR_HELO,
                 "client.chu-test.mssante.fr", sizeof("client.chu-test.mssante.fr"));
    free(p.data);
    if (v != V_CONTINUE) {
        if (v != V_ERROR)
            snprintf(c->err, sizeof(c->err), "milter refused the connection (verdict %d)", v);
        return -1;
    }
    return 0;
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

static void *worker(void *arg)
{
    struct conn c = { .fd = -1 };
    int on_conn = 0;

    c.rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t) (uintptr_t) arg * 0xBF58476D1CE4E5B9ULL);
    for (;;) {
        long n = atomic_fetch_add(&R.next_msg, 1);
        if (n >= O.messages)
            break;
        if (c.fd < 0 && conn_open(&c) < 0) {
            record_error(&c);
            conn_close(&c, false);
            R.latency_us[n] = UINT32_MAX;
            continue;
        }
        double t0 = now_s();
        enum verdict v = run_message(&c, n);
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
            "               [-t TIMEOUT_S] [-P MILTER_PID] [--nodelay] [--json]\n"
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
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "s:c:m:k:r:b:d:f:t:P:h", lopts, NULL)) != -1) {
        switch (ch) {
        case 's': O.socket = optarg; break;
        case 'c': O.conns = (int) num_arg(optarg, 1, 1000); break;
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
        default: usage();
        }
    }
    if (O.socket == NULL || optind != argc)
        usage();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    parse_endpoint(O.socket, &EP);
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
    for (int i = 0; i < O.conns; i++) {
        if (pthread_create(&th[i], NULL, worker, (void *) (intptr_t) (i + 1)) != 0)
            break;
        started++;
    }
    if (started == 0)
        die("cannot start any thread");
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
