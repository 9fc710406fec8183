/*
 * check_message.c - "mssantectl check --from/--client/--auth/--cert-cn":
 * the verdict a whole message would get, not just the class of each
 * address.
 *
 * The message is run through the daemon's own rules (policy/trustspace.c)
 * step by step, as the milter layer does: MAIL FROM, each RCPT TO (a
 * refused recipient is dropped, the others go on), DATA, end of message,
 * plus the INS check of patient recipients (policy/patient.c).  What
 * needs more than the configuration and the list is said, not guessed:
 * the patient conversations (Redis), the forwarding rules, and whether
 * Postfix delivers a recipient on its own machine ({rcpt_mailer}; here,
 * only localhost counts, as for a message without the macro).
 *
 * The client is described by --client IP (inside when in InternalHosts),
 * --auth (SMTP AUTH) and --cert-cn CN (the CN of a certificate Postfix
 * verified); without --client the message comes from a client outside
 * InternalHosts.  --from gives the envelope sender, the null sender when
 * absent.  Exit status: 0 when the message would be accepted for every
 * recipient, 1 when it, or one of its recipients, would be refused or
 * deferred.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cidr.h"
#include "ctl/ctl.h"
#include "policy/patient.h"
#include "policy/trustspace.h"

struct rcpt_line {
    const char *given;
    enum addr_class cls;
    struct verdict v;              /* ACT_CONTINUE: accepted at RCPT */
};

struct message_run {
    struct msg_policy mp;
    struct verdict sender_v;       /* refusal at MAIL, if any */
    struct rcpt_line *rcpts;
    int n;
    unsigned accepted;
    const char *step;              /* where the message's fate was decided */
    struct verdict final;          /* the message's verdict */
};

/* A patient recipient: the INS check the daemon makes at RCPT. */
static struct verdict patient_check(const struct config *cfg, const struct mailaddr *a)
{
    struct patient_policy pp;
    struct ins_result ins;
    char addr[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];

    memset(&pp, 0, sizeof(pp));
    pp.ins_warn = cfg->rules.patient_key_warn;
    addr_format(a, addr, sizeof(addr));
    return patient_outbound_rcpt(&pp, a->local, addr, &ins);
}

static void run_rcpts(const struct config *cfg, struct message_run *r, char **addrs)
{
    int i;

    for (i = 0; i < r->n; i++) {
        struct rcpt_line *l = &r->rcpts[i];
        struct mailaddr a;

        l->given = addrs[i];
        l->v = msgpol_recipient(&r->mp, addrs[i], NULL, &l->cls, &a);
        if (l->v.action == ACT_CONTINUE && l->cls == CLASS_PATIENT)
            l->v = patient_check(cfg, &a);
        if (l->v.action == ACT_CONTINUE)
            r->accepted++;
        else if (r->accepted == 0 && r->step == NULL) {
            r->step = "rcpt";   /* stands if no recipient is accepted */
            r->final = l->v;
        }
    }
}

/* Feed the message through every step, as Postfix and the milter would:
 * MAIL refused ends it; a refused RCPT drops that recipient; with none
 * left the first RCPT refusal is the message's fate; otherwise DATA and
 * end of message decide. */
static void run_message(const struct config *cfg, struct message_run *r, const char *sender,
                        char **addrs)
{
    struct verdict v;

    r->step = NULL;
    memset(&r->final, 0, sizeof(r->final));
    r->sender_v = msgpol_sender(&r->mp, sender);
    if (r->sender_v.action != ACT_CONTINUE) {
        r->step = "mail";
        r->final = r->sender_v;
        return;
    }
    run_rcpts(cfg, r, addrs);
    if (r->accepted == 0)
        return;
    v = msgpol_data(&r->mp);
    if (v.action == ACT_CONTINUE)
        v = msgpol_end(&r->mp);
    r->step = v.action != ACT_CONTINUE ? "data" : "none";
    r->final = v;
}

/* "550 5.7.1 text", or "" for an accepted step; a patient's address as
 * LogPatientId says unless --show-ins. */
static void reply_text(const struct ctl *ctl, const struct verdict *v, char *buf, size_t size)
{
    char raw[VERDICT_TEXT_MAX + 32];

    if (v->action == ACT_CONTINUE) {
        buf[0] = '\0';
        return;
    }
    snprintf(raw, sizeof(raw), "%s %s %s", v->rcode, v->xcode, v->text);
    ctl_patients(ctl, raw, buf, size);
}

static const char *verdict_word(const struct verdict *v)
{
    return action_name(v->action);
}

static json_t *verdict_json(const struct ctl *ctl, const struct verdict *v)
{
    char reply[2 * VERDICT_TEXT_MAX + 32];
    json_t *o = json_object();

    reply_text(ctl, v, reply, sizeof(reply));
    json_object_set_new(o, "verdict", json_text(verdict_word(v)));
    json_object_set_new(o, "rule", json_string_or_null(v->action != ACT_CONTINUE
                                                       ? rule_name(v->rule) : NULL));
    json_object_set_new(o, "reply", json_string_or_null(reply));
    return o;
}

static const char *mode_name(enum cert_mode m)
{
    return m == CERT_MODE_OFF ? "off" : m == CERT_MODE_LOG ? "log" : "enforce";
}

static int print_json_message(const struct ctl *ctl, const struct wl_info *info,
                              const struct check_opts *o, const struct message_run *r)
{
    json_t *root = json_object(), *list = json_array(), *msg = json_object();
    json_t *final = verdict_json(ctl, &r->final);
    char shown[2 * (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2)];
    int i;

    for (i = 0; i < r->n; i++) {
        json_t *one = json_object(), *v = verdict_json(ctl, &r->rcpts[i].v);

        json_object_set_new(one, "address",
                            json_text(ctl_patients(ctl, r->rcpts[i].given, shown, sizeof(shown))));
        json_object_set_new(one, "class", json_text(addr_class_name(r->rcpts[i].cls)));
        json_object_update(one, v);
        json_decref(v);
        json_array_append_new(list, one);
    }
    json_object_set_new(msg, "sender", json_text(o->from != NULL
                                                 ? ctl_patients(ctl, o->from, shown, sizeof(shown))
                                                 : "<>"));
    json_object_set_new(msg, "client", json_string_or_null(o->client));
    json_object_set_new(msg, "internal_host", json_boolean(r->mp.internal_host));
    json_object_set_new(msg, "authenticated", json_boolean(r->mp.authenticated));
    json_object_set_new(msg, "inside", json_boolean(r->mp.inside));
    json_object_set_new(msg, "direction", json_text(direction_name(r->mp.dir)));
    json_object_set_new(msg, "cert_cn", json_string_or_null(o->cert_cn));
    json_object_set_new(msg, "operator_certificate", json_text(mode_name(r->mp.cert_mode)));
    json_object_set_new(msg, "cert", json_string_or_null(cert_status_name(r->mp.cert)));
    json_object_set_new(msg, "recipients", list);
    json_object_set_new(msg, "step", json_text(r->step));
    json_object_update(msg, final);
    json_decref(final);
    json_object_set_new(root, "whitelist", whitelist_json(info));
    json_object_set_new(root, "message", msg);
    return print_json(root);
}

static void print_text_message(const struct ctl *ctl, const struct check_opts *o,
                               const struct message_run *r)
{
    const char *cert = cert_status_name(r->mp.cert);
    char reply[2 * VERDICT_TEXT_MAX + 32], shown[2 * (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2)];
    int i;

    printf("sender      %s\n", o->from != NULL ? ctl_patients(ctl, o->from, shown, sizeof(shown))
                                                : "<> (none given: --from)");
    printf("client      %s: %s%s%s\n", o->client != NULL ? o->client : "(not given)",
           r->mp.inside ? "inside" : "outside",
           r->mp.internal_host ? ", in InternalHosts" : "",
           r->mp.authenticated ? ", authenticated" : "");
    printf("direction   %s\n", direction_name(r->mp.dir));
    printf("certificate %s; operator certificate rule: %s (OperatorCertificate %s)\n",
           o->cert_cn != NULL ? o->cert_cn : "none", cert != NULL ? cert : "not applied",
           mode_name(r->mp.cert_mode));
    for (i = 0; i < r->n; i++) {
        reply_text(ctl, &r->rcpts[i].v, reply, sizeof(reply));
        printf("rcpt        %s  %s  %s%s%s\n",
               ctl_patients(ctl, r->rcpts[i].given, shown, sizeof(shown)),
               addr_class_name(r->rcpts[i].cls), verdict_word(&r->rcpts[i].v),
               reply[0] ? "  " : "", reply);
    }
    reply_text(ctl, &r->final, reply, sizeof(reply));
    if (r->final.action == ACT_CONTINUE && r->accepted < (unsigned)r->n)
        printf("verdict     accept for %u of %d recipients (the others refused at RCPT TO)\n",
               r->accepted, r->n);
    else if (r->final.action == ACT_CONTINUE)
        printf("verdict     accept\n");
    else
        printf("verdict     %s at %s: %s\n", verdict_word(&r->final),
               strcmp(r->step, "mail") == 0 ? "MAIL FROM"
               : strcmp(r->step, "rcpt") == 0 ? "RCPT TO (every recipient)" : "DATA",
               reply);
    printf("note        patient conversations (Redis) and forwarding rules are not checked\n");
}

int check_message(const struct ctl *ctl, const struct policy_env *env, const struct wl_info *info,
                  const struct check_opts *o, char **addrs, int n)
{
    const struct config *cfg = ctl->cfg;
    struct message_run r;
    struct msg_client client;
    bool valid = true;
    int rc;

    memset(&client, 0, sizeof(client));
    if (o->client != NULL) {
        client.internal_host = cidr_list_match_text(&cfg->rules.internal_hosts, o->client, &valid);
        if (!valid) {
            ctl_error("check: --client %s: not an IPv4 or IPv6 address", o->client);
            return CTL_USAGE;
        }
    }
    client.authenticated = o->auth;
    client.cert_cn = o->cert_cn;
    client.cert_mode = cfg->rules.operator_certificate;
    memset(&r, 0, sizeof(r));
    r.n = n;
    if ((r.rcpts = calloc((size_t)n, sizeof(*r.rcpts))) == NULL) {
        ctl_error("out of memory");
        return CTL_UNAVAILABLE;
    }
    msgpol_begin(&r.mp, env, &client);
    run_message(cfg, &r, o->from != NULL ? o->from : "<>", addrs);
    rc = r.final.action == ACT_CONTINUE && r.accepted == (unsigned)n ? CTL_OK : CTL_FAIL;
    if (ctl->json) {
        if (print_json_message(ctl, info, o, &r) < 0)
            rc = CTL_UNAVAILABLE;
    } else {
        print_text_message(ctl, o, &r);
    }
    free(r.rcpts);
    return rc;
}
