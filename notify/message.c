/*
 * message.c - build the content-free notice (what goes in it: message.h).
 *
 * The body is UTF-8 text sent quoted-printable, so the notice is 7-bit
 * clean and goes through any relay without 8BITMIME; the subject's accents
 * are a fixed RFC 2047 encoded word.  Everything here is pure string work.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/utf8.h"
#include "notify/message.h"
#include "policy/address.h"

#define QP_LINE_MAX 76      /* RFC 2045: encoded lines up to 76 characters */
#define UNIQUE_MAX  128

/* "Nouveau message securise / New secure message", accents included. */
#define SUBJECT "=?UTF-8?Q?Nouveau_message_s=C3=A9curis=C3=A9_/_New_secure_message?="

/* The built-in texts (UTF-8, escaped so that the source stays ASCII). */
static const char builtin_named[] =
    "Bonjour,\n"
    "\n"
    "Un nouveau message s\xc3\xa9" "curis\xc3\xa9 vous attend dans la bo\xc3\xaete MSSant\xc3\xa9 %m.\n"
    "Pour le lire, connectez-vous \xc3\xa0 votre messagerie s\xc3\xa9" "curis\xc3\xa9" "e de sant\xc3\xa9.\n"
    "\n"
    "Hello,\n"
    "\n"
    "A new secure message is waiting in the MSSant\xc3\xa9 mailbox %m.\n"
    "To read it, sign in to your secure health messaging service.\n"
    "\n"
    "-- \n"
    "Ce courriel est une simple notification automatique : il ne contient rien\n"
    "du message re\xc3\xa7u. Merci de ne pas y r\xc3\xa9pondre.\n"
    "This is an automatic notification only: it contains nothing from the\n"
    "message received. Please do not reply.\n";

static const char builtin_unknown[] =
    "Bonjour,\n"
    "\n"
    "Un nouveau message s\xc3\xa9" "curis\xc3\xa9 vous attend dans votre messagerie MSSant\xc3\xa9.\n"
    "Pour le lire, connectez-vous \xc3\xa0 votre messagerie s\xc3\xa9" "curis\xc3\xa9" "e de sant\xc3\xa9.\n"
    "\n"
    "Hello,\n"
    "\n"
    "A new secure message is waiting in your MSSant\xc3\xa9 mailbox.\n"
    "To read it, sign in to your secure health messaging service.\n"
    "\n"
    "-- \n"
    "Ce courriel est une simple notification automatique : il ne contient rien\n"
    "du message re\xc3\xa7u. Merci de ne pas y r\xc3\xa9pondre.\n"
    "This is an automatic notification only: it contains nothing from the\n"
    "message received. Please do not reply.\n";

struct notify_template {
    char *text;          /* checked, NUL-terminated */
    size_t len;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* A growing buffer                                                     */
/* ------------------------------------------------------------------ */

struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;         /* an allocation failed: everything after is dropped */
};

static void sb_put(struct sbuf *b, const char *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *grown;

        while (b->len + n + 1 > cap)
            cap *= 2;
        if ((grown = realloc(b->s, cap)) == NULL) {
            b->failed = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* Templates                                                            */
/* ------------------------------------------------------------------ */

/* Check TEXT; on error say where ("line N: ..."). */
static int template_check(const char *text, size_t len, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)text;
    unsigned line = 1;
    bool visible = false;
    size_t i = 0;

    if (len > NOTIFY_TEMPLATE_MAX) {
        seterr(err, errlen, "template larger than %d bytes", NOTIFY_TEMPLATE_MAX);
        return -1;
    }
    while (i < len) {
        unsigned char c = p[i];

        if (c == '\n') {
            line++;
            i++;
        } else if (c == '\r' || c == '\t' || c == ' ') {
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            seterr(err, errlen, "line %u: control character 0x%02x", line, c);
            return -1;
        } else if (c >= 0x80) {
            size_t n = utf8_seq_len(p + i, len - i);

            if (n == 0) {
                seterr(err, errlen, "line %u: invalid UTF-8", line);
                return -1;
            }
            visible = true;
            i += n;
        } else if (c == '%') {
            if (i + 1 >= len || (p[i + 1] != 'm' && p[i + 1] != '%')) {
                if (i + 1 < len && p[i + 1] >= 0x21 && p[i + 1] < 0x7f)
                    seterr(err, errlen, "line %u: unknown escape %%%c (only %%m and %%%% "
                           "are allowed)", line, p[i + 1]);
                else
                    seterr(err, errlen, "line %u: lone %% (write %%%% for a percent sign)",
                           line);
                return -1;
            }
            visible = true;
            i += 2;
        } else {
            visible = true;
            i++;
        }
    }
    if (!visible) {
        seterr(err, errlen, "template is empty");
        return -1;
    }
    return 0;
}

struct notify_template *notify_template_parse(const char *text, size_t len,
                                              char *err, size_t errlen)
{
    struct notify_template *t;

    if (text == NULL) {
        seterr(err, errlen, "no template text");
        return NULL;
    }
    if (memchr(text, '\0', len) != NULL) {
        seterr(err, errlen, "NUL byte in template");
        return NULL;
    }
    if (template_check(text, len, err, errlen) < 0)
        return NULL;
    if ((t = calloc(1, sizeof(*t))) == NULL || (t->text = malloc(len + 1)) == NULL) {
        free(t);
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->len = len;
    return t;
}

struct notify_template *notify_template_load(const char *path, char *err, size_t errlen)
{
    char buf[NOTIFY_TEMPLATE_MAX + 1], why[256];
    struct notify_template *t;
    size_t len;
    FILE *f;

    if (path == NULL || (f = fopen(path, "rb")) == NULL) {
        seterr(err, errlen, "%s: cannot open: %s", path ? path : "(null)", strerror(errno));
        return NULL;
    }
    len = fread(buf, 1, sizeof(buf), f);
    if (ferror(f)) {
        seterr(err, errlen, "%s: read error", path);
        fclose(f);
        return NULL;
    }
    fclose(f);
    if (len > NOTIFY_TEMPLATE_MAX) {
        seterr(err, errlen, "%s: larger than %d bytes", path, NOTIFY_TEMPLATE_MAX);
        return NULL;
    }
    if ((t = notify_template_parse(buf, len, why, sizeof(why))) == NULL) {
        seterr(err, errlen, "%s: %s", path, why);
        return NULL;
    }
    return t;
}

void notify_template_free(struct notify_template *t)
{
    if (t == NULL)
        return;
    free(t->text);
    free(t);
}

/* ------------------------------------------------------------------ */
/* The body                                                             */
/* ------------------------------------------------------------------ */

/* Expand %m and %% of a checked TEXT into OUT (plain UTF-8, LF ends). */
static void expand(struct sbuf *out, const char *text, size_t len, const char *mailbox)
{
    size_t i, start = 0;

    for (i = 0; i < len; i++) {
        if (text[i] != '%' || i + 1 >= len)
            continue;
        sb_put(out, text + start, i - start);
        if (text[i + 1] == 'm')
            sb_str(out, mailbox);
        else
            sb_put(out, "%", 1);
        i++;
        start = i + 1;
    }
    sb_put(out, text + start, len - start);
}

/* One character of a line, quoted-printable encoded. */
struct qp_tok {
    char enc[3];
    unsigned char w;     /* 1 or 3 */
    bool space;          /* a literal space or tab: a good place for a soft break */
};

/*
 * Quoted-printable (RFC 2045) of one line without its line end into OUT,
 * then CRLF.  Encoded lines are at most QP_LINE_MAX characters; a long line
 * gets soft breaks ("=" CRLF) after a space when there is one, so that a
 * mailbox address is not cut in the middle in the raw message.
 */
static void qp_line(struct sbuf *out, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    struct qp_tok *t;
    size_t i, start, rest = 0;

    if (n == 0) {
        sb_str(out, "\r\n");
        return;
    }
    if ((t = calloc(n, sizeof(*t))) == NULL) {
        out->failed = true;
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];

        /* White space at the end of a line is encoded: relays may strip it. */
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && i + 1 < n)) {
            t[i].enc[0] = (char)c;
            t[i].w = 1;
            t[i].space = c == ' ' || c == '\t';
        } else {
            t[i].enc[0] = '=';
            t[i].enc[1] = hex[c >> 4];
            t[i].enc[2] = hex[c & 15];
            t[i].w = 3;
        }
    }
    for (i = 0; i < n; i++)
        rest += t[i].w;
    for (start = 0; start < n;) {
        size_t col = 0, brk = 0, j;

        if (rest <= QP_LINE_MAX) {          /* the rest fits on one line */
            for (i = start; i < n; i++)
                sb_put(out, t[i].enc, t[i].w);
            break;
        }
        /* Leave room for the soft break's '='. */
        for (j = start; j < n && col + t[j].w <= QP_LINE_MAX - 1; j++) {
            col += t[j].w;
            if (t[j].space)
                brk = j + 1;
        }
        if (brk > start)
            j = brk;            /* break after the last space that fits */
        for (i = start; i < j; i++) {
            sb_put(out, t[i].enc, t[i].w);
            rest -= t[i].w;
        }
        sb_str(out, "=\r\n");
        start = j;
    }
    sb_str(out, "\r\n");
    free(t);
}

static void qp_text(struct sbuf *out, const char *text, size_t len)
{
    size_t start = 0, i;

    for (i = 0; i <= len; i++) {
        if (i == len || text[i] == '\n') {
            size_t end = i;

            if (i == len && start == len)
                break;          /* text ended with a line end */
            if (end > start && text[end - 1] == '\r')
                end--;
            qp_line(out, (const unsigned char *)text + start, end - start);
            start = i + 1;
        }
    }
}

/* ------------------------------------------------------------------ */
/* The message                                                          */
/* ------------------------------------------------------------------ */

static int check_address(const char *what, const char *a, char *domain, size_t dsize,
                         char *err, size_t errlen)
{
    struct mailaddr m;
    const char *why = NULL;

    if (a == NULL || a[0] == '\0') {
        seterr(err, errlen, "%s: missing", what);
        return -1;
    }
    if (strpbrk(a, "\r\n<>,;") != NULL || addr_parse(a, &m, &why) != ADDR_OK) {
        seterr(err, errlen, "%s \"%s\": %s", what, a, why ? why : "not a plain address");
        return -1;
    }
    if (domain != NULL)
        snprintf(domain, dsize, "%s", m.domain);
    return 0;
}

static int check_unique(const char *u, char *err, size_t errlen)
{
    size_t i, n = u ? strlen(u) : 0;

    if (n == 0 || n > UNIQUE_MAX) {
        seterr(err, errlen, "Message-ID part missing or too long");
        return -1;
    }
    for (i = 0; i < n; i++) {
        char c = u[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '-' || c == '_')) {
            seterr(err, errlen, "Message-ID part \"%s\": only letters, digits, '.', '-', '_'",
                   u);
            return -1;
        }
    }
    if (u[0] == '.' || u[n - 1] == '.' || strstr(u, "..") != NULL) {
        seterr(err, errlen, "Message-ID part \"%s\": misplaced '.'", u);
        return -1;
    }
    return 0;
}

/* A caller's subject: one line of printable ASCII (NULL: the built-in). */
static int check_subject(const char *s, char *err, size_t errlen)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (s == NULL)
        return 0;
    if (n == 0 || n > 200) {
        seterr(err, errlen, "subject empty or too long");
        return -1;
    }
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
            seterr(err, errlen, "subject: printable ASCII only");
            return -1;
        }
    return 0;
}

/* RFC 5322 date in UTC, without the locale ("Thu, 13 Mar 2025 14:54:10 +0000"). */
static void rfc5322_date(long long when, char *buf, size_t size)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t t = (time_t)when;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

char *notify_message_build(const struct notify_params *p, size_t *len,
                           char *err, size_t errlen)
{
    return notify_message_build_subject(p, NULL, len, err, errlen);
}

char *notify_message_build_subject(const struct notify_params *p, const char *subject,
                                   size_t *len, char *err, size_t errlen)
{
    char from_domain[ADDR_DOMAIN_MAX + 1], date[64];
    struct sbuf msg = { 0 }, body = { 0 };
    const char *mailbox;
    bool known;

    if (p == NULL) {
        seterr(err, errlen, "no parameters");
        return NULL;
    }
    known = p->mailbox != NULL && p->mailbox[0] != '\0';
    if (check_address("sender", p->from, from_domain, sizeof(from_domain), err, errlen) < 0
        || check_address("recipient", p->to, NULL, 0, err, errlen) < 0
        || (known && check_address("mailbox", p->mailbox, NULL, 0, err, errlen) < 0)
        || check_unique(p->unique, err, errlen) < 0
        || check_subject(subject, err, errlen) < 0)
        return NULL;
    mailbox = known ? p->mailbox : NOTIFY_UNKNOWN_MAILBOX;

    if (p->tmpl != NULL)
        expand(&body, p->tmpl->text, p->tmpl->len, mailbox);
    else if (known)
        expand(&body, builtin_named, sizeof(builtin_named) - 1, mailbox);
    else
        expand(&body, builtin_unknown, sizeof(builtin_unknown) - 1, mailbox);

    rfc5322_date(p->date, date, sizeof(date));
    sb_str(&msg, "From: ");
    sb_str(&msg, p->from);
    sb_str(&msg, "\r\nTo: ");
    sb_str(&msg, p->to);
    sb_str(&msg, "\r\nSubject: ");
    sb_str(&msg, subject != NULL ? subject : SUBJECT);
    sb_str(&msg, "\r\nDate: ");
    sb_str(&msg, date);
    sb_str(&msg, "\r\nMessage-ID: <");
    sb_str(&msg, p->unique);
    sb_str(&msg, "@");
    sb_str(&msg, from_domain);
    sb_str(&msg, ">\r\n"
                 "MIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=UTF-8\r\n"
                 "Content-Transfer-Encoding: quoted-printable\r\n"
                 "Auto-Submitted: auto-generated\r\n"
                 "\r\n");
    if (!body.failed)
        qp_text(&msg, body.s ? body.s : "", body.len);
    free(body.s);
    if (msg.failed || body.failed) {
        free(msg.s);
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    if (len != NULL)
        *len = msg.len;
    return msg.s;
}
