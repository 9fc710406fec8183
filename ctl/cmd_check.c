/*
 * cmd_check.c - "mssantectl check ADDRESS|DOMAIN...": which side of the
 * trust space each address (or bare domain) is on, and why.  With --from, --client, --auth or
 * --cert-cn it describes a message instead, and check_message.c shows
 * the verdict that message would get.
 *
 * The verdict comes from policy_classify() over the daemon's own whitelist
 * (see source.c), plus the INS matricule check for patient addresses, so
 * this is the answer the daemon would act on: an operator can check a
 * bounce without reading logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "policy/address.h"
#include "policy/classify.h"
#include "policy/hints.h"
#include "policy/ins.h"

#define ADDR_COLUMN_MAX 48   /* text output: wider addresses just push the rest */

struct verdict_line {
    const char *given;           /* as typed */
    char domain[ADDR_DOMAIN_MAX + 1];
    enum addr_class cls;
    char reason[640];
};

/*
 * A patient address is only usable with a well-formed INS matricule whose
 * key matches: the daemon refuses anything else, since a typo would send
 * health data to a stranger.  Say so here too.  The expected key is not
 * shown, on purpose: it would let someone "fix" a mistyped number into
 * another patient's valid one.
 */
static void check_patient(const struct mailaddr *addr, struct verdict_line *out)
{
    struct ins_result res;

    switch (ins_check(addr->local, &res)) {
    case INS_OK:
        snprintf(out->reason, sizeof(out->reason),
                 "the PatientDomain, valid INS matricule");
        return;
    case INS_BAD_SHAPE:
        out->cls = CLASS_INVALID;
        snprintf(out->reason, sizeof(out->reason),
                 "patient address with a malformed INS matricule (%s)", res.reason);
        return;
    case INS_BAD_KEY:
        out->cls = CLASS_INVALID;
        snprintf(out->reason, sizeof(out->reason),
                 "patient address whose INS matricule key does not match (typo?)");
        return;
    }
}

/* After the reason: the A-labels a Unicode domain was judged in, and for
 * a classic ADDR what the daemon's refusal would add (policy/hints.h). */
static void add_hint(const struct policy_env *env, const struct mailaddr *addr,
                     struct verdict_line *out)
{
    struct rcpt_hint h;
    size_t used = strlen(out->reason);

    if (addr->domain_utf8 && !addr->domain_idn_bad)
        used += (size_t)snprintf(out->reason + used, sizeof(out->reason) - used,
                                 " (as %s)", addr->domain);
    if (used >= sizeof(out->reason) || out->cls != CLASS_CLASSIC)
        return;
    hint_for(env, addr, &h);
    if (h.kind == HINT_DID_YOU_MEAN)
        snprintf(out->reason + used, sizeof(out->reason) - used, "; did you mean %s?",
                 h.suggestion);
    else if (h.kind == HINT_APICRYPT)
        snprintf(out->reason + used, sizeof(out->reason) - used,
                 "; the old Apicrypt service, not interoperable with MSSante");
    else if (h.kind == HINT_IDN_INVALID)
        snprintf(out->reason + used, sizeof(out->reason) - used,
                 "; not a valid internationalised domain name");
    else if (h.kind == HINT_MSSANTE_UNLISTED)
        snprintf(out->reason + used, sizeof(out->reason) - used,
                 "; a .mssante.fr name not (or not yet) on the ANS list");
}

/*
 * A bare domain ("chu-lille.mssante.fr"): is it in the trust space?  It is
 * judged as the domain of an address would be, through the same parser
 * (case, trailing dot, IDN) and classification.
 */
static void classify_domain(const struct policy_env *env, const char *given,
                            struct verdict_line *out)
{
    char probe[ADDR_DOMAIN_MAX + 16];
    struct mailaddr addr;
    const char *why = NULL;

    snprintf(probe, sizeof(probe), "postmaster@%s", given);
    if (given[0] == '\0' || strlen(given) > ADDR_DOMAIN_MAX
        || addr_parse(probe, &addr, &why) != ADDR_OK) {
        out->cls = CLASS_INVALID;
        snprintf(out->reason, sizeof(out->reason), "not a domain name%s%s", why ? ": " : "",
                 why ? why : "");
        return;
    }
    snprintf(out->domain, sizeof(out->domain), "%s", addr.domain);
    out->cls = policy_classify(env, &addr, &why);
    if (out->cls == CLASS_PATIENT)
        snprintf(out->reason, sizeof(out->reason), "the PatientDomain (each address there "
                 "also needs a valid INS matricule)");
    else if (policy_is_local_domain(env, addr.domain))
        snprintf(out->reason, sizeof(out->reason), "one of our LocalDomains, %s",
                 env->is_listed(env->lookup_ctx, addr.domain)
                 ? "on the ANS whitelist"
                 : "NOT on the ANS whitelist: other operators refuse its mail");
    else
        snprintf(out->reason, sizeof(out->reason), "%s", why ? why : "");
    add_hint(env, &addr, out);
}

static void classify_one(const struct policy_env *env, const char *given,
                         struct verdict_line *out)
{
    struct mailaddr addr;
    const char *why = NULL;

    out->given = given;
    out->domain[0] = '\0';
    /* A word without '@' but with a dot is a domain; any other word is a
     * mistyped address and said to be one. */
    if (strchr(given, '@') == NULL && strchr(given, '.') != NULL) {
        classify_domain(env, given, out);
        return;
    }
    switch (addr_parse(given, &addr, &why)) {
    case ADDR_NULL:
        out->cls = CLASS_INVALID;
        snprintf(out->reason, sizeof(out->reason), "the null sender <> is not an address");
        return;
    case ADDR_MALFORMED:
        out->cls = CLASS_INVALID;
        snprintf(out->reason, sizeof(out->reason), "%s", why ? why : "malformed address");
        return;
    case ADDR_OK:
        break;
    }
    snprintf(out->domain, sizeof(out->domain), "%s", addr.domain);
    out->cls = policy_classify(env, &addr, &why);
    snprintf(out->reason, sizeof(out->reason), "%s", why ? why : "");
    if (out->cls == CLASS_PATIENT)
        check_patient(&addr, out);
    add_hint(env, &addr, out);
}

json_t *whitelist_json(const struct wl_info *info)
{
    json_t *o = json_object();

    json_object_set_new(o, "version", json_text(info->version));
    json_object_set_new(o, "origin", json_text(wl_origin_name(info->origin)));
    json_object_set_new(o, "source", json_string_or_null(info->source));
    json_object_set_new(o, "generated", json_string_or_null(info->generated));
    json_object_set_new(o, "count", json_integer((json_int_t)info->count));
    return o;
}

/* Patients' addresses as LogPatientId says, unless --show-ins (ctl.h). */
#define SHOWN_MAX (2 * (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2))

static int print_json_report(const struct ctl *ctl, const struct wl_info *info,
                             const struct verdict_line *v, int n)
{
    json_t *root = json_object(), *list = json_array();
    char shown[SHOWN_MAX];
    int i;

    for (i = 0; i < n; i++) {
        json_t *o = json_object();

        json_object_set_new(o, "address", json_text(ctl_patients(ctl, v[i].given, shown,
                                                                 sizeof(shown))));
        json_object_set_new(o, "domain", json_string_or_null(v[i].domain));
        json_object_set_new(o, "class", json_text(addr_class_name(v[i].cls)));
        json_object_set_new(o, "reason", json_text(v[i].reason));
        json_array_append_new(list, o);
    }
    json_object_set_new(root, "whitelist", whitelist_json(info));
    json_object_set_new(root, "addresses", list);
    return print_json(root);
}

/* Columns on a terminal: count UTF-8 characters, not bytes, so that a
 * lookalike with an accent does not shift its line. */
static int display_width(const char *s)
{
    int w = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static void print_text_report(const struct ctl *ctl, const struct verdict_line *v, int n)
{
    char shown[SHOWN_MAX];
    int i, width = 0;

    for (i = 0; i < n; i++) {
        int len = display_width(ctl_patients(ctl, v[i].given, shown, sizeof(shown)));

        if (len > width)
            width = len;
    }
    if (width > ADDR_COLUMN_MAX)
        width = ADDR_COLUMN_MAX;
    for (i = 0; i < n; i++) {
        int pad = width - display_width(ctl_patients(ctl, v[i].given, shown, sizeof(shown)));

        printf("%s%*s  %-7s  %s\n", shown, pad > 0 ? pad : 0, "",
               addr_class_name(v[i].cls), v[i].reason);
    }
}

/* Take the message options out of ARGV (argv[0] is "check"); the
 * addresses are left in argv[1..*n].  Only these exact words are options:
 * anything else is an address.  -1 after saying what is wrong. */
static int parse_check_opts(int argc, char **argv, struct check_opts *o, bool *message,
                            int *n)
{
    static const char *const with_value[] = { "--from", "--client", "--cert-cn" };
    const char **slots[] = { &o->from, &o->client, &o->cert_cn };
    int i, out = 1;

    memset(o, 0, sizeof(*o));
    *message = false;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        size_t k, len;

        if (strcmp(a, "--auth") == 0) {
            o->auth = *message = true;
            continue;
        }
        for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
            len = strlen(with_value[k]);
            if (strncmp(a, with_value[k], len) == 0 && (a[len] == '\0' || a[len] == '='))
                break;
        }
        if (k == sizeof(with_value) / sizeof(with_value[0])) {
            argv[out++] = argv[i];
            continue;
        }
        if (a[len] == '=') {
            value = a + len + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            ctl_error("check: %s needs a value", with_value[k]);
            return -1;
        }
        *slots[k] = value;
        *message = true;
    }
    *n = out - 1;
    return 0;
}

int cmd_check(const struct ctl *ctl, int argc, char **argv)
{
    const struct config *cfg = ctl->cfg;
    struct policy_env env;
    struct wl_info info;
    struct verdict_line *lines;
    struct check_opts opts;
    bool message;
    int i, n, rc = CTL_OK;

    if (parse_check_opts(argc, argv, &opts, &message, &n) < 0)
        return CTL_USAGE;
    if (n < 1) {
        ctl_error("check: give at least one address (mssantectl check ADDRESS..., or "
                  "check --from SENDER [--client IP] [--auth] [--cert-cn CN] RECIPIENT...)");
        return CTL_USAGE;
    }
    if (wl_find(cfg, true, &info) < 0)
        return CTL_UNAVAILABLE;
    memset(&env, 0, sizeof(env));
    env.is_listed = whitelist_lookup;
    env.is_cn_listed = whitelist_cn_lookup;
    env.lookup_ctx = info.wl;
    env.local_domains = (const char *const *)cfg->rules.local_domains.v;
    env.n_local_domains = cfg->rules.local_domains.n;
    env.patient_domain = cfg->rules.patient_domain;
    if (message) {
        rc = check_message(ctl, &env, &info, &opts, argv + 1, n);
        wl_info_release(&info);
        return rc;
    }
    lines = calloc((size_t)n, sizeof(*lines));
    if (lines == NULL) {
        ctl_error("out of memory");
        wl_info_release(&info);
        return CTL_UNAVAILABLE;
    }
    for (i = 0; i < n; i++) {
        classify_one(&env, argv[i + 1], &lines[i]);
        if (lines[i].cls == CLASS_CLASSIC || lines[i].cls == CLASS_INVALID)
            rc = CTL_FAIL;
    }
    if (ctl->json) {
        if (print_json_report(ctl, &info, lines, n) < 0)
            rc = CTL_UNAVAILABLE;
    } else {
        print_text_report(ctl, lines, n);
    }
    free(lines);
    wl_info_release(&info);
    return rc;
}
