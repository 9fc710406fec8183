/*
 * milterwire.h - the milter wire protocol, client side, as Postfix 3.7
 * speaks it (what is Postfix-like and why: loadgen.c's header), for the
 * benches that drive a milter without an MTA.  Only loopback endpoints;
 * every read and write has a timeout.  Failures say why in conn.err.
 */
#ifndef MSSANTE_BENCH_MILTERWIRE_H
#define MSSANTE_BENCH_MILTERWIRE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

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

/* Where the connections go. */
struct wire_target {
    struct endpoint ep;
    const char *name;               /* the socket as given, for messages */
    int timeout_s;                  /* every read and write */
    bool nodelay;                   /* TCP_NODELAY (Postfix does not set it) */
};

/* One milter connection. */
struct conn {
    const struct wire_target *to;
    int fd;
    struct buf out;                 /* written on flush */
    unsigned char in[16384];        /* read-ahead, like a VSTREAM */
    size_t in_len, in_pos;
    struct buf reply;               /* payload of the last reply */
    uint32_t version, actions, pflags;
    char *symlist[N_STAGES];        /* macro lists the milter asked for */
    uint64_t rng;
    char err[160];
    unsigned long connects;         /* connections made (counted for the report) */
    unsigned long modifications;    /* modification requests read at end of message */
};

/* The program's name, the message, exit 2. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);            /* never NULL: out of memory dies */
double now_s(void);                 /* monotonic seconds */
uint64_t rnd(struct conn *c);       /* per-connection pseudo-random numbers */

void buf_reserve(struct buf *b, size_t more);
void buf_put(struct buf *b, const void *p, size_t n);
void buf_put_str(struct buf *b, const char *s);      /* with its NUL */
void buf_put_u32(struct buf *b, uint32_t v);         /* network order */
size_t pkt_begin(struct buf *b, char cmd);
void pkt_end(struct buf *b, size_t at);

/* unix:/path, local:/path, inet:PORT@HOST, inet:HOST:PORT; a loopback
 * HOST only (else die). */
void parse_endpoint(const char *spec, struct endpoint *ep);

/* Connect to C->to, negotiate, send the SMTP client's connect and HELO.
 * 0, or -1 with C->err. */
int conn_open(struct conn *c);
/* Close (QUIT first when asked); C can be opened again. */
void conn_close(struct conn *c, bool quit);
/* Write what is queued.  0, or -1 with C->err. */
int conn_flush(struct conn *c);
/* Flush, then read one reply packet into C->reply.  0, or -1. */
int read_reply(struct conn *c, char *cmd);

/* Queue the macros M (N of them; NULL values left out) for step CMD. */
void put_macros(struct conn *c, char cmd, enum stage st, const struct macro *m, size_t n);
/* Read replies until a decision (EVENT: the command answered). */
enum verdict await_verdict(struct conn *c, char event);
/* One step: macros, the command with PAYLOAD unless SKIP_FLAG was
 * negotiated, the reply unless NOREPLY_FLAG was. */
enum verdict step(struct conn *c, char cmd, enum stage st, const struct macro *m, size_t nm,
                  uint32_t skip_flag, uint32_t noreply_flag, const void *payload,
                  size_t plen);

#endif
