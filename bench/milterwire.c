/*
 * milterwire.c - the milter wire protocol, client side (see milterwire.h
 * and loadgen.c's header for what is Postfix-like).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench/milterwire.h"

/* ---- small utilities ------------------------------------------------- */

void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        die("out of memory");
    return p;
}

double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: per-connection, no locking, good enough to pick names. */
uint64_t rnd(struct conn *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545F4914F6CDD1DULL;
}

void buf_reserve(struct buf *b, size_t more)
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

void buf_put(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void buf_put_str(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s) + 1);   /* with its NUL, as on the wire */
}

void buf_put_u32(struct buf *b, uint32_t v)
{
    uint32_t n = htonl(v);

    buf_put(b, &n, 4);
}

/* Start a packet: reserve the length, write the command; returns the
 * offset to pass to pkt_end(). */
size_t pkt_begin(struct buf *b, char cmd)
{
    size_t at = b->len;

    buf_put_u32(b, 0);
    buf_put(b, &cmd, 1);
    return at;
}

void pkt_end(struct buf *b, size_t at)
{
    uint32_t n = htonl((uint32_t) (b->len - at - 4));

    memcpy(b->data + at, &n, 4);
}

/* ---- endpoint -------------------------------------------------------- */

static bool is_loopback4(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

/* unix:/path, local:/path, inet:PORT@HOST (libmilter), inet:HOST:PORT
 * (Postfix).  HOST must be a loopback address or "localhost". */
void parse_endpoint(const char *spec, struct endpoint *ep)
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

int conn_flush(struct conn *c)
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
int read_reply(struct conn *c, char *cmd)
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
void put_macros(struct conn *c, char cmd, enum stage st,
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
enum verdict await_verdict(struct conn *c, char event)
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
                c->modifications++;
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
enum verdict step(struct conn *c, char cmd, enum stage st,
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
    return 0;
}

void conn_close(struct conn *c, bool quit)
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
int conn_open(struct conn *c)
{
    struct timeval tv = { .tv_sec = c->to->timeout_s };
    int one = 1;

    c->fd = socket(c->to->ep.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (c->to->ep.tcp && c->to->nodelay)
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *) &c->to->ep.ss, c->to->ep.len) < 0) {
        snprintf(c->err, sizeof(c->err), "connect %s: %s", c->to->name, strerror(errno));
        return -1;
    }
    c->connects++;
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
