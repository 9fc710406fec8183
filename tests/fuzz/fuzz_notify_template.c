/*
 * fuzz_notify_template.c - the NotifyTemplate text and the notice built
 * from it (notify/notice.c).
 *
 * Input: the template file's bytes.  A template that is accepted is used
 * to build a notice, once for a known mailbox and once for an unknown one.
 *
 * Properties of a built notice:
 *  - 7-bit clean, every line ends with CRLF, no bare CR or LF;
 *  - the body (quoted-printable) has lines of at most 76 characters;
 *  - decoded, the body is the template with "%m" replaced by the mailbox,
 *    "%%" by '%', and CRLF line ends (or a CR ending the text) as LF: the
 *    text sent is the text written, nothing lost or added but a final
 *    line end.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "notify/notice.h"
#include "tests/fuzz/fuzz.h"

#define MAILBOX "dr.martin@" FUZZ_LOCAL_DOMAIN

struct buf {
    char *s;
    size_t len;
};

static void put(struct buf *b, const char *p, size_t n)
{
    char *grown = realloc(b->s, b->len + n + 1);

    if (grown == NULL)
        abort();
    memcpy(grown + b->len, p, n);
    b->s = grown;
    b->len += n;
    b->s[b->len] = '\0';
}

/* What the reader should see: expanded, CRLF as LF, ending with LF. */
static struct buf expected(const char *t, size_t len, const char *mailbox)
{
    struct buf b = { NULL, 0 };
    size_t i;

    put(&b, "", 0);
    for (i = 0; i < len; i++) {
        if (t[i] == '%' && i + 1 < len) {
            if (t[i + 1] == 'm')
                put(&b, mailbox, strlen(mailbox));
            else
                put(&b, "%", 1);
            i++;
        } else if (t[i] == '\r' && i + 1 < len && t[i + 1] == '\n') {
            continue;     /* CR LF: one line end */
        } else if (t[i] == '\r' && i + 1 == len) {
            put(&b, "\n", 1);   /* a CR ending the text ends its last line */
        } else {
            put(&b, t + i, 1);
        }
    }
    if (b.len == 0 || b.s[b.len - 1] != '\n')
        put(&b, "\n", 1);
    return b;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Check the message's form and decode its quoted-printable body. */
static struct buf decode_body(const char *msg, size_t len)
{
    struct buf out = { NULL, 0 };
    const char *body = strstr(msg, "\r\n\r\n"), *p, *end;

    put(&out, "", 0);
    FUZZ_ASSERT(body != NULL, "no header/body separator");
    for (p = msg; p < msg + len; p++)
        FUZZ_ASSERT((unsigned char)*p < 0x80, "8-bit byte in the notice");
    for (p = body + 4; p < msg + len; p = end + 2) {
        const char *q;

        end = strstr(p, "\r\n");
        FUZZ_ASSERT(end != NULL, "body line without CRLF");
        FUZZ_ASSERT(end - p <= 76, "body line of %d characters", (int)(end - p));
        for (q = p; q < end; q++) {
            FUZZ_ASSERT(*q != '\r' && *q != '\n', "bare CR or LF in the body");
            if (*q != '=') {
                put(&out, q, 1);
                continue;
            }
            if (q + 1 == end)
                break;            /* soft line break */
            FUZZ_ASSERT(q + 2 < end && hexval(q[1]) >= 0 && hexval(q[2]) >= 0,
                        "bad quoted-printable escape");
            put(&out, (char[]){ (char)(hexval(q[1]) * 16 + hexval(q[2])) }, 1);
            q += 2;
        }
        if (q == end)
            put(&out, "\n", 1);
    }
    return out;
}

static void check_notice(const struct notify_template *t, const char *text, size_t tlen,
                         const char *mailbox)
{
    struct notify_params p = {
        .from = "no-reply@" FUZZ_LOCAL_DOMAIN,
        .to = "secretariat@outlook.fr",
        .mailbox = mailbox,
        .date = 1741877650,
        .unique = "fuzz.1",
        .tmpl = t,
    };
    struct err err;
    size_t len = 0;
    char *msg = notify_message_build(&p, &len, &err);
    struct buf want, got;

    FUZZ_ASSERT(msg != NULL, "notice not built: %s", err.msg);
    FUZZ_ASSERT(strlen(msg) == len, "NUL inside the notice");
    got = decode_body(msg, len);
    want = expected(text, tlen, mailbox ? mailbox : NOTIFY_UNKNOWN_MAILBOX);
    FUZZ_ASSERT(got.len == want.len && memcmp(got.s, want.s, got.len) == 0,
                "the body sent is not the template:\n--- sent\n%s--- template\n%s", got.s,
                want.s);
    free(got.s);
    free(want.s);
    free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err err;
    struct notify_template *t;

    err_clear(&err);
    t = notify_template_parse((const char *)data, size, &err);
    if (t == NULL) {
        FUZZ_ASSERT(err.msg[0] != '\0', "refused without a reason");
        return 0;
    }
    check_notice(t, (const char *)data, size, MAILBOX);
    check_notice(t, (const char *)data, size, NULL);
    notify_template_free(t);
    return 0;
}
