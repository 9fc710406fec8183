/*
 * notice.c - build the content-free notice (what goes in it: notice.h).
 *
 * The body is UTF-8 text sent quoted-printable, so the notice is 7-bit
 * clean and goes through any relay without 8BITMIME; the subject's accents
 * are a fixed RFC 2047 encoded word.  Everything here is pure string work.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/utf8.h"
#include "notify/notice.h"
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

/* ------------------------------------------------------------------ */
/* Templates                                                            */
/* ------------------------------------------------------------------ */

/* Check TEXT; on error say where ("line N: ..."). */
static int template_check(const char *text, size_t len, struct err *err)
{
    const unsigned char *p = (const unsigned char *)text;
    unsigned line = 1;
    bool visible = false;
    size_t i = 0;

    if (len > NOTIFY_TEMPLATE_MAX) {
        err_set(err, "template larger than %d bytes", NOTIFY_TEMPLATE_MAX);
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
            err_set(err, "line %u: control character 0x%02x", line, c);
            return -1;
        } else if (c >= 0x80) {
            size_t n = utf8_seq_len(p + i, len - i);

            if (n == 0) {
                err_set(err, "line %u: invalid UTF-8", line);
                return -1;
            }
            visible = true;
            i += n;
        } else if (c == '%') {
            if (i + 1 >= len || (p[i + 1] != 'm' && p[i + 1] != '%')) {
                if (i + 1 < len && p[i + 1] >= 0x21 && p[i + 1] < 0x7f)
                    err_set(err, "line %u: unknown escape %%%c (only %%m and %%%% "
                            "are allowed)", line, p[i + 1]);
                else
                    err_set(err, "line %u: lone %% (write %%%% for a percent sign)",
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
        err_set(err, "template is empty");
        return -1;
    }
    return 0;
}

struct notify_template *notify_template_parse(const char *text, size_t len,
                                              struct err *err)
{
    struct notify_template *t;

    if (text == NULL) {
        err_set(err, "no template text");
        return NULL;
    }
    if (memchr(text, '\0', len) != NULL) {
        err_set(err, "NUL byte in template");
        return NULL;
    }
    if (template_check(text, len, err) < 0)
        return NULL;
    if ((t = calloc(1, sizeof(*t))) == NULL || (t->text = malloc(len + 1)) == NULL) {
        free(t);
        err_set(err, "out of memory");
        return NULL;
    }
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->len = len;
    return t;
}

struct notify_template *notify_template_load(const char *path, struct err *err)
{
    char buf[NOTIFY_TEMPLATE_MAX + 1];
    struct err why;
    struct notify_template *t;
    size_t len;
    FILE *f;

    if (path == NULL || (f = fopen(path, "rb")) == NULL) {
        err_set(err, "%s: cannot open: %s", path ? path : "(null)", strerror(errno));
        return NULL;
    }
    len = fread(buf, 1, sizeof(buf), f);
    if (ferror(f)) {
        err_set(err, "%s: read error", path);
        fclose(f);
        return NULL;
    }
    fclose(f);
    if (len > NOTIFY_TEMPLATE_MAX) {
        err_set(err, "%s: larger than %d bytes", path, NOTIFY_TEMPLATE_MAX);
        return NULL;
    }
    if ((t = notify_template_parse(buf, len, &why)) == NULL) {
        err_set(err, "%s: %s", path, why.msg);
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
static void expand(struct strbuf *out, const char *text, size_t len, const char *mailbox)
{
    size_t i, start = 0;

    for (i = 0; i < len; i++) {
        if (text[i] != '%' || i + 1 >= len)
            continue;
        strbuf_put(out, text + start, i - start);
        if (text[i + 1] == 'm')
            strbuf_puts(out, mailbox);
        else
            strbuf_put(out, "%", 1);
        i++;
        start = i + 1;
    }
    strbuf_put(out, text + start, len - start);
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
static void qp_line(struct strbuf *out, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    struct qp_tok *t;
    size_t i, start, rest = 0;

    if (n == 0) {
        strbuf_puts(out, "\r\n");
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
                strbuf_put(out, t[i].enc, t[i].w);
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
            strbuf_put(out, t[i].enc, t[i].w);
            rest -= t[i].w;
        }
        strbuf_puts(out, "=\r\n");
        start = j;
    }
    strbuf_puts(out, "\r\n");
    free(t);
}

static void qp_text(struct strbuf *out, const char *text, size_t len)
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
                         struct err *err)
{
    struct mailaddr m;
    const char *why = NULL;

    if (a == NULL || a[0] == '\0') {
        err_set(err, "%s: missing", what);
        return -1;
    }
    if (strpbrk(a, "\r\n<>,;") != NULL || addr_parse(a, &m, &why) != ADDR_OK) {
        err_set(err, "%s \"%s\": %s", what, a, why ? why : "not a plain address");
        return -1;
    }
    if (domain != NULL)
        snprintf(domain, dsize, "%s", m.domain);
    return 0;
}

static int check_unique(const char *u, struct err *err)
{
    size_t i, n = u ? strlen(u) : 0;

    if (n == 0 || n > UNIQUE_MAX) {
        err_set(err, "Message-ID part missing or too long");
        return -1;
    }
    for (i = 0; i < n; i++) {
        char c = u[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '-' || c == '_')) {
            err_set(err, "Message-ID part \"%s\": only letters, digits, '.', '-', '_'",
                    u);
            return -1;
        }
    }
    if (u[0] == '.' || u[n - 1] == '.' || strstr(u, "..") != NULL) {
        err_set(err, "Message-ID part \"%s\": misplaced '.'", u);
        return -1;
    }
    return 0;
}

/* A caller's subject: one line of printable ASCII (NULL: the built-in). */
static int check_subject(const char *s, struct err *err)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (s == NULL)
        return 0;
    if (n == 0 || n > 200) {
        err_set(err, "subject empty or too long");
        return -1;
    }
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
            err_set(err, "subject: printable ASCII only");
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

char *notify_message_build(const struct notify_params *p, size_t *len, struct err *err)
{
    return notify_message_build_subject(p, NULL, len, err);
}

char *notify_message_build_subject(const struct notify_params *p, const char *subject,
                                   size_t *len, struct err *err)
{
    char from_domain[ADDR_DOMAIN_MAX + 1], date[64];
    struct strbuf msg = { 0 }, body = { 0 };
    const char *mailbox;
    bool known;

    if (p == NULL) {
        err_set(err, "no parameters");
        return NULL;
    }
    known = p->mailbox != NULL && p->mailbox[0] != '\0';
    if (check_address("sender", p->from, from_domain, sizeof(from_domain), err) < 0
        || check_address("recipient", p->to, NULL, 0, err) < 0
        || (known && check_address("mailbox", p->mailbox, NULL, 0, err) < 0)
        || check_unique(p->unique, err) < 0
        || check_subject(subject, err) < 0)
        return NULL;
    mailbox = known ? p->mailbox : NOTIFY_UNKNOWN_MAILBOX;

    if (p->tmpl != NULL)
        expand(&body, p->tmpl->text, p->tmpl->len, mailbox);
    else if (known)
        expand(&body, builtin_named, sizeof(builtin_named) - 1, mailbox);
    else
        expand(&body, builtin_unknown, sizeof(builtin_unknown) - 1, mailbox);

    rfc5322_date(p->date, date, sizeof(date));
    strbuf_puts(&msg, "From: ");
    strbuf_puts(&msg, p->from);
    strbuf_puts(&msg, "\r\nTo: ");
    strbuf_puts(&msg, p->to);
    strbuf_puts(&msg, "\r\nSubject: ");
    strbuf_puts(&msg, subject != NULL ? subject : SUBJECT);
    strbuf_puts(&msg, "\r\nDate: ");
    strbuf_puts(&msg, date);
    strbuf_puts(&msg, "\r\nMessage-ID: <");
    strbuf_puts(&msg, p->unique);
    strbuf_puts(&msg, "@");
    strbuf_puts(&msg, from_domain);
    strbuf_puts(&msg, ">\r\n"
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
        err_set(err, "out of memory");
        return NULL;
    }
    if (len != NULL)
        *len = msg.len;
    return msg.s;
}
