/*
 * capsink.c - a capture sink for the integration tests: the smallest SMTP
 * server that accepts every message and keeps it on disk.
 *
 *   capsink PORT DIR [CERT KEY]
 *
 * Listens on 127.0.0.1:PORT only.  Each accepted message becomes
 * DIR/msg-<seq>.eml, written under a temporary name and renamed into place,
 * so a test polling DIR never reads half a message.  The file starts with
 * the envelope, which is what the tests assert on:
 *
 *   X-Capsink-From: <sender>
 *   X-Capsink-To: <recipient>        (one line per accepted RCPT)
 *
 * followed by the message as received, dot-unstuffed, with CRLF turned into
 * LF so that tests can grep it.
 *
 * With CERT and KEY (PEM) it offers STARTTLS (RFC 3207) with that
 * certificate, standing in for a remote MSSante MTA, and a message received
 * over TLS gets one more envelope line, "X-Capsink-TLS: <protocol> <cipher>".
 * The handshake and the TLS reads are blocking, bounded by a socket
 * timeout: good enough for a test helper on loopback.
 *
 * One process, one poll() loop, any number of concurrent connections
 * (Postfix opens several when the queue has work).  SIGTERM or SIGINT ends
 * the loop; open connections are closed and the process exits 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_CONN     64
#define LINE_MAX_LEN 8192        /* longer lines are refused, not truncated */
#define MAX_RCPT     1000
#define TLS_TIMEOUT  10          /* seconds, for the handshake and each TLS read */

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

struct conn {
    int fd;
    SSL *ssl;                    /* after STARTTLS */
    int in_data;                 /* between DATA's 354 and the final "." */
    struct buf in;               /* bytes read, not yet split into lines */
    struct buf msg;              /* message text being received */
    char *from;                  /* NULL until MAIL */
    char *rcpt[MAX_RCPT];
    size_t n_rcpt;
};

static volatile sig_atomic_t stop_requested;
static const char *out_dir;
static SSL_CTX *tls_ctx;         /* NULL: no STARTTLS */
static unsigned long next_seq = 1;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "capsink: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void buf_append(struct buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            die("realloc");
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    if (b->data)
        b->data[b->len] = '\0';
}

static ssize_t conn_write(struct conn *c, const char *p, size_t n)
{
    if (c->ssl != NULL) {
        int w = SSL_write(c->ssl, p, (int)n);
        return w > 0 ? (ssize_t)w : -1;
    }
    return write(c->fd, p, n);
}

static ssize_t conn_read(struct conn *c, char *p, size_t n)
{
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, p, (int)n);
        return r > 0 ? (ssize_t)r : -1;
    }
    return read(c->fd, p, n);
}

/* Replies are a few bytes: a blocking write is fine, and a peer that went
 * away only costs us that connection. */
static int reply(struct conn *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n > sizeof(line) - 3)
        n = (int)sizeof(line) - 3;
    line[n++] = '\r';
    line[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = conn_write(c, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (int)w;
    }
    return 0;
}

static void reset_envelope(struct conn *c)
{
    free(c->from);
    c->from = NULL;
    for (size_t i = 0; i < c->n_rcpt; i++)
        free(c->rcpt[i]);
    c->n_rcpt = 0;
    c->msg.len = 0;
    c->in_data = 0;
}

static void conn_close(struct conn *c)
{
    reset_envelope(c);
    free(c->in.data);
    free(c->msg.data);
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);            /* our close_notify; no wait for theirs */
        SSL_free(c->ssl);
    }
    close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* The <...> part of "MAIL FROM:<a@b> SIZE=10"; NULL when there is none. */
static char *angle_address(const char *arg)
{
    const char *lt = strchr(arg, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (lt == NULL || gt == NULL)
        return NULL;
    return strndup(lt, (size_t)(gt - lt + 1));
}

/* Start past any existing msg-N.eml so that a restarted sink never
 * overwrites what an earlier one captured. */
static void init_seq(void)
{
    DIR *d = opendir(out_dir);
    struct dirent *e;
    if (d == NULL)
        die(out_dir);
    while ((e = readdir(d)) != NULL) {
        unsigned long n;
        if (sscanf(e->d_name, "msg-%lu.eml", &n) == 1 && n >= next_seq)
            next_seq = n + 1;
    }
    closedir(d);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Returns the sequence number the message got, 0 on failure. */
static unsigned long store_message(const struct conn *c)
{
    unsigned long seq = next_seq++;
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%lu", out_dir, seq);
    snprintf(final, sizeof(final), "%s/msg-%lu.eml", out_dir, seq);

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 0;
    struct buf head = {0};
    buf_append(&head, "X-Capsink-From: ", 16);
    buf_append(&head, c->from, strlen(c->from));
    buf_append(&head, "\n", 1);
    for (size_t i = 0; i < c->n_rcpt; i++) {
        buf_append(&head, "X-Capsink-To: ", 14);
        buf_append(&head, c->rcpt[i], strlen(c->rcpt[i]));
        buf_append(&head, "\n", 1);
    }
    if (c->ssl != NULL) {
        const char *v = SSL_get_version(c->ssl);
        const char *ci = SSL_get_cipher_name(c->ssl);
        buf_append(&head, "X-Capsink-TLS: ", 15);
        buf_append(&head, v, strlen(v));
        buf_append(&head, " ", 1);
        buf_append(&head, ci, strlen(ci));
        buf_append(&head, "\n", 1);
    }
    int bad = write_all(fd, head.data, head.len) < 0
              || (c->msg.len && write_all(fd, c->msg.data, c->msg.len) < 0);
    free(head.data);
    if (close(fd) < 0 || bad || rename(tmp, final) < 0) {
        unlink(tmp);
        return 0;
    }
    return seq;
}

static int data_line(struct conn *c, const char *line)
{
    if (strcmp(line, ".") == 0) {
        unsigned long seq = store_message(c);
        reset_envelope(c);
        if (seq == 0)
            return reply(c, "451 4.3.0 capsink could not store the message");
        return reply(c, "250 2.0.0 Ok: queued as capsink-%lu", seq);
    }
    if (line[0] == '.')
        line++;                               /* RFC 5321 4.5.2 transparency */
    buf_append(&c->msg, line, strlen(line));
    buf_append(&c->msg, "\n", 1);
    return 0;
}

/* After "220 Ready": the handshake, blocking but bounded.  -1 closes the
 * connection (the reason goes to stderr, i.e. the test's capsink.log). */
static int start_tls(struct conn *c)
{
    struct timeval tv = { TLS_TIMEOUT, 0 };

    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if ((c->ssl = SSL_new(tls_ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1
        || SSL_accept(c->ssl) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof(why));
        fprintf(stderr, "capsink: TLS handshake failed: %s\n", why);
        return -1;
    }
    return 0;
}

/* 1: the connection is now TLS, and what was read before it in plain
 * text must be dropped (RFC 3207 section 4.2). */
static int starttls(struct conn *c)
{
    if (tls_ctx == NULL || c->ssl != NULL)
        return reply(c, "454 4.7.0 TLS not available");
    if (reply(c, "220 2.0.0 Ready to start TLS") < 0 || start_tls(c) < 0)
        return -1;
    reset_envelope(c);
    return 1;
}

static int command_line(struct conn *c, const char *line)
{
    if (strncasecmp(line, "EHLO", 4) == 0) {
        reset_envelope(c);
        if (reply(c, "250-capsink.test") || reply(c, "250-PIPELINING")
            || reply(c, "250-8BITMIME") || reply(c, "250-SMTPUTF8"))
            return -1;
        if (tls_ctx != NULL && c->ssl == NULL && reply(c, "250-STARTTLS"))
            return -1;
        return reply(c, "250 ENHANCEDSTATUSCODES");
    }
    if (strcasecmp(line, "STARTTLS") == 0)
        return starttls(c);
    if (strncasecmp(line, "HELO", 4) == 0) {
        reset_envelope(c);
        return reply(c, "250 capsink.test");
    }
    if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
        char *a = angle_address(line + 10);
        if (a == NULL)
            return reply(c, "501 5.5.4 Syntax: MAIL FROM:<address>");
        reset_envelope(c);
        c->from = a;
        return reply(c, "250 2.1.0 Ok");
    }
    if (strncasecmp(line, "RCPT TO:", 8) == 0) {
        if (c->from == NULL)
            return reply(c, "503 5.5.1 Error: need MAIL command");
        if (c->n_rcpt == MAX_RCPT)
            return reply(c, "452 4.5.3 Error: too many recipients");
        char *a = angle_address(line + 8);
        if (a == NULL)
            return reply(c, "501 5.5.4 Syntax: RCPT TO:<address>");
        c->rcpt[c->n_rcpt++] = a;
        return reply(c, "250 2.1.5 Ok");
    }
    if (strcasecmp(line, "DATA") == 0) {
        if (c->n_rcpt == 0)
            return reply(c, "503 5.5.1 Error: need RCPT command");
        c->in_data = 1;
        return reply(c, "354 End data with <CR><LF>.<CR><LF>");
    }
    if (strcasecmp(line, "RSET") == 0) {
        reset_envelope(c);
        return reply(c, "250 2.0.0 Ok");
    }
    if (strncasecmp(line, "NOOP", 4) == 0)
        return reply(c, "250 2.0.0 Ok");
    if (strcasecmp(line, "QUIT") == 0) {
        reply(c, "221 2.0.0 Bye");
        return -1;
    }
    return reply(c, "502 5.5.2 Error: command not recognized");
}

/* Act on every complete line read so far.  -1 when the connection is
 * finished. */
static int conn_lines(struct conn *c)
{
    for (;;) {
        char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
        if (nl == NULL) {
            if (c->in.len > LINE_MAX_LEN) {
                reply(c, "500 5.5.0 Error: line too long");
                return -1;
            }
            return 0;
        }
        size_t used = (size_t)(nl - c->in.data) + 1;
        *nl = '\0';
        if (nl > c->in.data && nl[-1] == '\r')
            nl[-1] = '\0';
        int rc = c->in_data ? data_line(c, c->in.data) : command_line(c, c->in.data);
        buf_consume(&c->in, used);
        if (rc < 0)
            return -1;
        if (rc == 1)
            c->in.len = 0;               /* plain text sent before the handshake */
    }
}

/* Read what is available and act on every complete line.  Returns -1 when
 * the connection is finished.  TLS may hold decrypted bytes the socket no
 * longer signals: drain them before going back to poll(). */
static int conn_readable(struct conn *c)
{
    char chunk[16384];
    do {
        ssize_t n = conn_read(c, chunk, sizeof(chunk));
        if (n < 0 && c->ssl == NULL && (errno == EINTR || errno == EAGAIN))
            return 0;
        if (n <= 0)
            return -1;
        buf_append(&c->in, chunk, (size_t)n);
        if (conn_lines(c) < 0)
            return -1;
    } while (c->ssl != NULL && SSL_pending(c->ssl) > 0);
    return 0;
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa;
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind");
    if (listen(fd, 64) < 0)
        die("listen");
    return fd;
}

/* SIGTERM/SIGINT stay blocked except inside ppoll(), so a signal can
 * never slip in between the flag test and the wait. */
static void serve(int lfd, const sigset_t *wait_mask)
{
    static struct conn conns[MAX_CONN];
    struct pollfd pfd[MAX_CONN + 1];

    for (int i = 0; i < MAX_CONN; i++)
        conns[i].fd = -1;

    while (!stop_requested) {
        nfds_t n = 0;
        int slot_of[MAX_CONN + 1];
        pfd[n].fd = lfd;
        pfd[n].events = POLLIN;
        slot_of[n++] = -1;
        for (int i = 0; i < MAX_CONN; i++) {
            if (conns[i].fd < 0)
                continue;
            pfd[n].fd = conns[i].fd;
            pfd[n].events = POLLIN;
            slot_of[n++] = i;
        }
        if (ppoll(pfd, n, NULL, wait_mask) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (nfds_t k = 1; k < n; k++) {
            if (pfd[k].revents == 0)
                continue;
            struct conn *c = &conns[slot_of[k]];
            if (conn_readable(c) < 0)
                conn_close(c);
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            int slot = -1;
            for (int i = 0; i < MAX_CONN && slot < 0; i++)
                if (conns[i].fd < 0)
                    slot = i;
            if (slot < 0) {
                static const char busy[] = "421 4.3.2 capsink busy\r\n";
                (void)!write(fd, busy, sizeof(busy) - 1);
                close(fd);
                continue;
            }
            conns[slot].fd = fd;
            if (reply(&conns[slot], "220 capsink.test ESMTP capture sink") < 0)
                conn_close(&conns[slot]);
        }
    }
    for (int i = 0; i < MAX_CONN; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    char *end;

    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: capsink PORT DIR [CERT KEY]\n");
        return 2;
    }
    if (argc == 5) {
        tls_ctx = SSL_CTX_new(TLS_server_method());
        if (tls_ctx == NULL || SSL_CTX_use_certificate_chain_file(tls_ctx, argv[3]) != 1
            || SSL_CTX_use_PrivateKey_file(tls_ctx, argv[4], SSL_FILETYPE_PEM) != 1) {
            char why[256];
            ERR_error_string_n(ERR_get_error(), why, sizeof(why));
            fprintf(stderr, "capsink: cannot load %s / %s: %s\n", argv[3], argv[4], why);
            return 2;
        }
    }
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "capsink: bad port %s\n", argv[1]);
        return 2;
    }
    out_dir = argv[2];
    init_seq();

    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = listen_on((int)port);
    serve(lfd, &wait_mask);
    close(lfd);
    SSL_CTX_free(tls_ctx);
    return 0;
}
