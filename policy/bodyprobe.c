/*
 * bodyprobe.c - the streaming body probe: is a message body empty, so
 * that a [FIN] closure swallows no content (the rules: bodyprobe.h).
 *
 * The probe is a small line-oriented MIME reader: it keeps one line
 * and one part header at a time in fixed buffers, and a stack of the open
 * multipart boundaries.  It never decodes anything: any byte that is not
 * white space inside a part is content, whatever the encoding, which is
 * the safe direction (a base64 "nothing" is an empty line; a base64
 * "something" is text).
 */
#include <string.h>
#include <strings.h>

#include "common/text.h"
#include "policy/bodyprobe.h"

/* ------------------------------------------------------------------ */
/* MIME header parameters                                               */
/* ------------------------------------------------------------------ */

struct mime_param {
    const char *name;
    size_t nlen;
    const char *val;     /* inside the quotes when quoted */
    size_t vlen;
    bool quoted;
};

/*
 * The next "; name=value" parameter at or after S in a header value.
 * Returns where to continue, or NULL when there is none.  Quoted strings
 * (with backslash escapes) are skipped as a whole, so a ';' inside a
 * quoted filename does not start a parameter.
 */
static const char *next_param(const char *s, struct mime_param *pm)
{
    bool quoted = false;

    for (; *s != '\0'; s++) {
        if (quoted) {
            if (*s == '\\' && s[1] != '\0')
                s++;
            else if (*s == '"')
                quoted = false;
        } else if (*s == '"') {
            quoted = true;
        } else if (*s == ';') {
            break;
        }
    }
    if (*s != ';')
        return NULL;
    s = text_skip_ws(s + 1);
    pm->name = s;
    while (*s != '\0' && *s != '=' && *s != ';' && !text_is_ws(*s))
        s++;
    pm->nlen = (size_t)(s - pm->name);
    s = text_skip_ws(s);
    pm->quoted = false;
    pm->val = s;
    pm->vlen = 0;
    if (*s != '=')
        return s;
    s = text_skip_ws(s + 1);
    if (*s == '"') {
        pm->quoted = true;
        pm->val = ++s;
        while (*s != '\0' && *s != '"') {
            if (*s == '\\' && s[1] != '\0')
                s++;
            s++;
        }
        pm->vlen = (size_t)(s - pm->val);
        if (*s == '"')
            s++;
    } else {
        pm->val = s;
        while (*s != '\0' && *s != ';' && !text_is_ws(*s))
            s++;
        pm->vlen = (size_t)(s - pm->val);
    }
    return s;
}

/*
 * Checking a parameter list before trusting it.  Mail readers do not
 * agree on what "boundary=A; boundary=B" means (the first, the last, or
 * RFC 2231's boundary*0 / boundary* pieces instead of either), nor on
 * where a value ends when it is followed by stray text: a probe that
 * picks another boundary than the reader's sees only a preamble and an
 * empty part while the reader shows the text.  So a parameter given
 * twice, or a list that does not parse, is doubt, i.e. content.
 */

#define PARAMS_MAX 32   /* more parameters than this in one header: doubt */

struct param_key {
    const char *name;    /* up to any '*' */
    size_t len;
    long section;        /* RFC 2231 "name*N": N; -1 for "name" and "name*" */
};

/* A token character of RFC 2045 (no space, control or tspecial). */
static bool is_token_char(char c)
{
    return (unsigned char)c > ' ' && (unsigned char)c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Two names of one parameter: equal names, unless both are distinct
 * RFC 2231 sections (name*0, name*1) of one value. */
static bool same_param(const struct param_key *a, const struct param_key *b)
{
    if (a->len != b->len || strncasecmp(a->name, b->name, a->len) != 0)
        return false;
    return a->section < 0 || b->section < 0 || a->section == b->section;
}

static void param_key_of(const char *name, size_t nlen, struct param_key *k)
{
    const char *star = memchr(name, '*', nlen);
    size_t i;

    k->name = name;
    k->len = star ? (size_t)(star - name) : nlen;
    k->section = -1;
    if (star == NULL || star + 1 == name + nlen || star[1] < '0' || star[1] > '9')
        return;
    k->section = 0;
    for (i = (size_t)(star - name) + 1; i < nlen && name[i] >= '0' && name[i] <= '9'; i++)
        k->section = k->section < 100000 ? k->section * 10 + (name[i] - '0') : k->section;
}

/*
 * The value at S: a quoted string, or a run of characters that cannot
 * end or start anything else (no white space, quote, ';', backslash or
 * comment parenthesis).  That is wider than RFC 2045's token, which
 * excludes '=', '/', '?'...: unquoted boundaries such as "----=_Part_1"
 * are common, and where they end is not in doubt.  Returns the value's
 * end, NULL if there is none.
 */
static const char *skip_param_value(const char *s)
{
    const char *start = s;

    if (*s == '"') {
        for (s++; *s != '\0' && *s != '"'; s++)
            if (*s == '\\' && s[1] != '\0')
                s++;
        return *s == '"' ? s + 1 : NULL;
    }
    while ((unsigned char)*s > ' ' && (unsigned char)*s < 0x7f && strchr("\";\\()", *s) == NULL)
        s++;
    return s > start ? s : NULL;
}

/* NULL when the parameters of header VALUE are well-formed and none is
 * given twice; else why not (a static English phrase). */
static const char *params_problem(const char *value)
{
    struct param_key keys[PARAMS_MAX];
    size_t n = 0, i;
    const char *s = value;
    bool quoted = false;

    /* The media type or disposition: up to the first ';' outside quotes. */
    for (; *s != '\0' && (quoted || *s != ';'); s++) {
        if (quoted && *s == '\\' && s[1] != '\0')
            s++;
        else if (*s == '"')
            quoted = !quoted;
    }
    while (*s == ';') {
        const char *name = s = text_skip_ws(s + 1);
        size_t nlen;

        if (*s == ';' || *s == '\0')
            continue;                   /* an empty parameter: nothing to misread */
        while (is_token_char(*s))
            s++;
        nlen = (size_t)(s - name);
        if (nlen == 0 || *(s = text_skip_ws(s)) != '=')
            return "malformed MIME parameter";
        if ((s = skip_param_value(text_skip_ws(s + 1))) == NULL)
            return "malformed MIME parameter";
        s = text_skip_ws(s);
        if (*s != ';' && *s != '\0')
            return "malformed MIME parameter";
        if (n == PARAMS_MAX)
            return "too many MIME parameters";
        param_key_of(name, nlen, &keys[n]);
        for (i = 0; i < n; i++)
            if (same_param(&keys[i], &keys[n]))
                return "duplicated MIME parameter";
        n++;
    }
    return NULL;
}

/* Parameter name WANT; with STAR also its RFC 2231 forms (WANT*, WANT*0...). */
static bool param_is(const struct mime_param *pm, const char *want, bool star)
{
    size_t n = strlen(want);

    if (pm->nlen < n || strncasecmp(pm->name, want, n) != 0)
        return false;
    return pm->nlen == n || (star && pm->name[n] == '*');
}

/* A name= or filename= parameter: the part is a file, i.e. an attachment. */
static bool has_file_param(const char *value)
{
    struct mime_param pm;
    const char *s = value;

    while ((s = next_param(s, &pm)) != NULL)
        if (param_is(&pm, "name", true) || param_is(&pm, "filename", true))
            return true;
    return false;
}

static bool is_multipart(const char *value)
{
    return strncasecmp(text_skip_ws(value), "multipart/", 10) == 0;
}

/* Copy the boundary parameter into OUT (BODY_PROBE_BOUNDARY_MAX + 1 bytes).
 * -1 when missing, empty or longer than RFC 2046 allows. */
static int get_boundary(const char *value, char *out, size_t *len)
{
    struct mime_param pm;
    const char *s = value;
    size_t i, n = 0;

    while ((s = next_param(s, &pm)) != NULL) {
        if (!param_is(&pm, "boundary", false))
            continue;
        for (i = 0; i < pm.vlen; i++) {
            if (pm.quoted && pm.val[i] == '\\' && i + 1 < pm.vlen)
                i++;
            if (n == BODY_PROBE_BOUNDARY_MAX)
                return -1;
            out[n++] = pm.val[i];
        }
        out[n] = '\0';
        *len = n;
        return n > 0 ? 0 : -1;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Body probe                                                           */
/* ------------------------------------------------------------------ */

enum probe_state {
    ST_SINGLE = 0,    /* not (usable) multipart: only white space is empty */
    ST_PREAMBLE,      /* before the first boundary of the innermost multipart */
    ST_HEADERS,       /* reading a part's header */
    ST_BODY,          /* inside a part's body */
    ST_EPILOGUE       /* after the top-level closing boundary: ignored */
};

static void set_content(struct body_probe *p, const char *why)
{
    if (!p->content) {
        p->content = true;
        p->why = why;
    }
}

void body_probe_init(struct body_probe *p, const char *content_type)
{
    const char *why;

    memset(p, 0, sizeof(*p));
    p->state = ST_SINGLE;
    if (content_type == NULL)
        return;
    if (has_file_param(content_type))
        set_content(p, "the message is a named file");
    else if ((why = params_problem(content_type)) != NULL)
        set_content(p, why);
    if (is_multipart(content_type) &&
        get_boundary(content_type, p->boundary[0], &p->blen[0]) == 0) {
        p->depth = 1;
        p->state = ST_PREAMBLE;
    }
}

/*
 * Which open multipart level LINE is a boundary of (innermost first), or
 * -1.  A boundary line is "--" boundary, optionally "--" (closing), then
 * only transport padding.  A line too long for the buffer is never one.
 */
static int match_boundary(const struct body_probe *p, const char *line, size_t len,
                          bool is_long, bool *closing)
{
    unsigned lv;

    if (is_long || len < 2 || line[0] != '-' || line[1] != '-')
        return -1;
    for (lv = p->depth; lv-- > 0;) {
        size_t bl = p->blen[lv], rlen, i;
        const char *rest;
        bool cl;

        if (len < 2 + bl || memcmp(line + 2, p->boundary[lv], bl) != 0)
            continue;
        rest = line + 2 + bl;
        rlen = len - 2 - bl;
        cl = rlen >= 2 && rest[0] == '-' && rest[1] == '-';
        i = cl ? 2 : 0;
        while (i < rlen && (rest[i] == ' ' || rest[i] == '\t'))
            i++;
        if (i == rlen) {
            *closing = cl;
            return (int)lv;
        }
    }
    return -1;
}

/* Does the pending header's name equal NAME?  *value gets what follows ':'. */
static bool header_is(const struct body_probe *p, const char *name, const char **value)
{
    const char *colon = strchr(p->hdr, ':');
    size_t n;

    if (colon == NULL)
        return false;
    n = (size_t)(colon - p->hdr);
    while (n > 0 && (p->hdr[n - 1] == ' ' || p->hdr[n - 1] == '\t'))
        n--;
    if (n != strlen(name) || strncasecmp(p->hdr, name, n) != 0)
        return false;
    *value = colon + 1;
    return true;
}

static bool disposition_inline(const char *value)
{
    const char *s = text_skip_ws(value);

    return strncasecmp(s, "inline", 6) == 0 &&
           (s[6] == '\0' || s[6] == ';' || text_is_ws(s[6]));
}

static void check_content_type(struct body_probe *p, const char *value)
{
    const char *why;

    if (p->part_has_type) {
        set_content(p, "two Content-Type headers in a MIME part");
        return;
    }
    p->part_has_type = true;
    if (has_file_param(value)) {
        set_content(p, "attachment in a MIME part");
        return;
    }
    if ((why = params_problem(value)) != NULL) {
        set_content(p, why);
        return;
    }
    if (!is_multipart(value))
        return;
    if (p->depth >= BODY_PROBE_DEPTH) {
        set_content(p, "MIME nesting too deep to check");
        return;
    }
    if (get_boundary(value, p->boundary[p->depth], &p->blen[p->depth]) != 0) {
        set_content(p, "nested multipart without a usable boundary");
        return;
    }
    /* Pushed when the header ends: its boundary cannot occur before. */
    p->push_pending = true;
}

/* Act on the part header collected so far, then forget it. */
static void flush_header(struct body_probe *p)
{
    const char *value;

    if (p->hdr_len == 0)
        return;
    p->hdr[p->hdr_len] = '\0';
    if (header_is(p, "Content-Type", &value)) {
        if (p->hdr_long)
            set_content(p, "MIME part header too long to check");
        else
            check_content_type(p, value);
    } else if (header_is(p, "Content-Disposition", &value)) {
        if (p->hdr_long)
            set_content(p, "MIME part header too long to check");
        else if (!disposition_inline(value) || has_file_param(value))
            set_content(p, "attachment in a MIME part");
        else if (params_problem(value) != NULL)
            set_content(p, params_problem(value));
    }
    p->hdr_len = 0;
    p->hdr_long = false;
}

static void append_header(struct body_probe *p, const char *line, size_t len, bool is_long)
{
    size_t room = sizeof(p->hdr) - 1 - p->hdr_len;

    if (len > room) {
        len = room;
        is_long = true;
    }
    memcpy(p->hdr + p->hdr_len, line, len);
    p->hdr_len += len;
    if (is_long)
        p->hdr_long = true;
}

/* "Name:" (obsolete syntax allows white space before the colon). */
static bool looks_like_field(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && line[i] > ' ' && line[i] < 0x7f && line[i] != ':')
        i++;
    if (i == 0)
        return false;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < len && line[i] == ':';
}

static void end_headers(struct body_probe *p)
{
    flush_header(p);
    if (p->content)
        return;
    if (p->push_pending) {
        p->push_pending = false;
        p->depth++;
        p->state = ST_PREAMBLE;
    } else {
        p->state = ST_BODY;
    }
}

static void start_part(struct body_probe *p)
{
    p->state = ST_HEADERS;
    p->hdr_len = 0;
    p->hdr_long = false;
    p->push_pending = false;
    p->part_has_type = false;
}

static void header_line(struct body_probe *p, const char *line, size_t len, bool is_long)
{
    if (len == 0 && !is_long) {
        end_headers(p);
        return;
    }
    if (memchr(line, '\0', len) != NULL) {
        set_content(p, "NUL byte in a MIME part header");
        return;
    }
    if (line[0] == ' ' || line[0] == '\t') {
        if (p->hdr_len == 0)
            set_content(p, "malformed MIME part header");
        else
            append_header(p, line, len, is_long);
        return;
    }
    flush_header(p);
    if (p->content)
        return;
    if (!looks_like_field(line, len)) {
        set_content(p, "malformed MIME part header");
        return;
    }
    append_header(p, line, len, is_long);
}

/* One complete line (CR LF stripped) of a multipart body. */
static void process_line(struct body_probe *p, const char *line, size_t len,
                         bool is_long, bool text)
{
    bool closing = false;
    int level = match_boundary(p, line, len, is_long, &closing);

    switch (p->state) {
    case ST_HEADERS:
        if (level < 0) {
            header_line(p, line, len, is_long);
            return;
        }
        /* A part with a header and no body: close the header, then see
         * the boundary from the state that leaves. */
        end_headers(p);
        if (!p->content)
            process_line(p, line, len, is_long, text);
        return;
    case ST_PREAMBLE:
    case ST_BODY:
        if (level < 0) {
            /* The top-level preamble is the only text nobody reads. */
            if (text && !(p->state == ST_PREAMBLE && p->depth == 1))
                set_content(p, p->state == ST_BODY ? "text in a MIME part"
                                                   : "text in a nested MIME preamble");
            return;
        }
        if ((unsigned)level != p->depth - 1) {
            set_content(p, "outer MIME boundary inside an unfinished inner multipart");
            return;
        }
        if (!closing) {
            start_part(p);
            return;
        }
        p->depth--;
        /* After a nested multipart: the rest of the enclosing part. */
        p->state = p->depth > 0 ? ST_BODY : ST_EPILOGUE;
        return;
    default:
        return;
    }
}

static void end_line(struct body_probe *p)
{
    size_t len = p->line_len;

    if (!p->line_long && len > 0 && p->line[len - 1] == '\r')
        len--;
    process_line(p, p->line, len, p->line_long, p->line_text);
    p->line_len = 0;
    p->line_text = false;
    p->line_long = false;
}

void body_probe_feed(struct body_probe *p, const void *buf, size_t len)
{
    const char *b = buf;
    size_t i;

    /* Once content is found, or the top-level epilogue reached, nothing
     * that follows can change the answer. */
    for (i = 0; i < len && !p->content && p->state != ST_EPILOGUE; i++) {
        char c = b[i];

        if (!text_is_ws(c))
            p->any_text = true;
        if (p->state == ST_SINGLE) {
            if (!text_is_ws(c))
                set_content(p, "text in the body");
            continue;
        }
        if (c == '\n') {
            end_line(p);
            continue;
        }
        if (!text_is_ws(c))
            p->line_text = true;
        if (p->line_len < sizeof(p->line))
            p->line[p->line_len++] = c;
        else
            p->line_long = true;
    }
}

bool body_probe_empty(struct body_probe *p)
{
    if (!p->done) {
        p->done = true;
        if (!p->content && p->state != ST_SINGLE && p->state != ST_EPILOGUE &&
            (p->line_len > 0 || p->line_long))
            end_line(p);   /* a last line without a newline */
        /* White space only is empty whatever the headers say; otherwise a
         * multipart must have been read to its end to be vouched for. */
        if (!p->content && p->any_text && p->state != ST_SINGLE && p->state != ST_EPILOGUE)
            set_content(p, "no closing MIME boundary");
    }
    return !p->content;
}

const char *body_probe_why(const struct body_probe *p)
{
    return p->content ? p->why : NULL;
}
