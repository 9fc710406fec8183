/*
 * replies.c - the rules and their replies: one table (name, action, reply
 * codes, the French then English texts), and the functions that fill a
 * verdict from it.
 *
 * A refusal is read by a health professional in a bounce, so each text says
 * in one line what happened, in French then in English.  Two constraints
 * shape the code:
 *  - SMTP reply lines are 7-bit and limited to 512 bytes, code included:
 *    a text stays under REPLY_TEXT_BUDGET bytes, and any byte that is not
 *    printable ASCII (a UTF-8 domain, a stray control character) is shown
 *    as '?' rather than sent raw;
 *  - the text is raw: the milter layer escapes '%' for smfi_setreply().
 * A text with a second form (the null sender has no domain to name, a
 * malformed INS is too short or has a bad character) has it in text[1].
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/replies.h"

#define REPLY_TEXT_BUDGET 450   /* leaves room for "550 5.7.1 " and CRLF in 512 */
#define REPLY_ADDR_MAX    100   /* longest address (or domain) quoted in a text */
#define REPLY_CN_MAX      64    /* X.520's upper bound for a CN */

/* The outbound refusal names the offenders after a bilingual label of its
 * own, so that the list is written once (an SMTP line has no room for it
 * twice). */
#define OUTBOUND_TEXT \
    "Envoi refuse : destinataire(s) hors de l'espace de confiance MSSante, " \
    "personne n'a recu le message / " \
    "Sending refused: recipient(s) outside the MSSante trust space, " \
    "nobody received the message. Hors MSSante / Not MSSante"

/* After the names, what may help the sender (policy/hints.h): a typo, the
 * old Apicrypt, a domain not (yet) on the list.  Each hint names its
 * domain once and says the rest in French then English, like the label
 * before the names: the reply has room for little. */
#define HINTS_LABEL ". Aide / Help: "
#define HINT_TYPO "%s : vouliez-vous dire / did you mean %s ?"
#define HINT_APICRYPT_TEXT \
    "%s : ancien service Apicrypt, non interoperable / old Apicrypt, not interoperable"
#define HINT_UNLISTED "%s : absent (ou pas encore) de la liste ANS / not (yet) on the ANS list"
#define HINT_IDN_TEXT \
    "%s : nom de domaine international invalide / invalid internationalised domain name"

struct rule_def {
    const char *name;            /* the stable id: verdict line, counters */
    enum action action;
    const char *rcode, *xcode;
    const char *text[2];         /* French / English; [1]: the other form or NULL */
};

static const struct rule_def rule_defs[RULE_COUNT] = {
    [RULE_NONE] = { NULL, ACT_CONTINUE, "", "", { "", NULL } },

    /* ---- the trust space ---- */
    [RULE_OUTBOUND_CLASSIC] = { "outbound-classic-recipient", ACT_REJECT, "550", "5.7.1", {
        OUTBOUND_TEXT ": %s%s",                              /* names, "and N more" */
        OUTBOUND_TEXT ": %u adresse(s) / address(es)" } },   /* none could be named */
    [RULE_INBOUND_SENDER] = { "inbound-classic-sender", ACT_REJECT, "550", "5.7.1", {
        "Expediteur hors de l'espace de confiance MSSante (domaine %s) : cette boite ne "
        "recoit que des messages MSSante / Sender outside the MSSante trust space (domain "
        "%s): this mailbox only accepts MSSante mail",
        "Expediteur hors de l'espace de confiance MSSante : cette boite ne recoit que des "
        "messages MSSante / Sender outside the MSSante trust space: this mailbox only "
        "accepts MSSante mail" } },
    [RULE_NO_WHITELIST] = { "no-whitelist", ACT_TEMPFAIL, "451", "4.3.0", {
        "Liste blanche MSSante indisponible, nouvel essai plus tard / "
        "MSSante whitelist unavailable, please try again later", NULL } },
    [RULE_BAD_SENDER] = { "bad-sender-address", ACT_REJECT, "550", "5.1.7", {
        "Adresse d'expediteur mal formee / Malformed sender address: %s", NULL } },
    [RULE_BAD_RECIPIENT] = { "bad-recipient-address", ACT_REJECT, "550", "5.1.3", {
        "Adresse de destinataire mal formee / Malformed recipient address: %s", NULL } },
    [RULE_ROUTE_ADDRESS] = { "route-address", ACT_REJECT, "550", "5.1.3", {
        "Les adresses de routage ne sont pas acceptees dans l'espace de confiance MSSante "
        "(%s %s) / Route addresses are not accepted in the MSSante trust space (%s %s)",
        NULL } },
    [RULE_OWN_DOMAIN_FORGED] = { "own-domain-forged", ACT_REJECT, "550", "5.7.1", {
        "Expediteur du domaine %s refuse : ce message ne vient pas d'un serveur de "
        "l'operateur de ce domaine / Sender domain %s refused: this message does not come "
        "from a server of that domain's operator", NULL } },
    [RULE_CERT_MISSING] = { "operator-certificate-missing", ACT_TEMPFAIL, "450", "4.7.1", {
        "Certificat serveur IGC-Sante requis (STARTTLS) pour le domaine %s, nouvel essai plus "
        "tard / IGC-Sante server certificate required (STARTTLS) for domain %s, please try "
        "again later",
        "Certificat serveur IGC-Sante requis (STARTTLS) pour un expediteur vide, nouvel essai "
        "plus tard / IGC-Sante server certificate required (STARTTLS) for a null sender, "
        "please try again later" } },
    [RULE_CERT_MISMATCH] = { "operator-certificate-mismatch", ACT_REJECT, "550", "5.7.1", {
        "Le certificat %s n'est pas celui d'un serveur de l'operateur du domaine %s / "
        "Certificate %s is not one of the servers of domain %s's operator",
        "Le certificat %s n'est celui d'aucun operateur de la liste blanche MSSante / "
        "Certificate %s belongs to no operator of the MSSante whitelist" } },
    [RULE_SYSTEM_RECIPIENT] = { "system-recipient", ACT_REJECT, "550", "5.7.1", {
        "Destinataire %s : boite systeme de ce serveur, fermee au courrier de l'exterieur / "
        "Recipient %s: a system mailbox of this server, closed to mail from outside", NULL } },

    /* ---- patients ---- */
    [RULE_PATIENT_INS_KEY] = { "patient-ins-key", ACT_REJECT, "550", "5.1.1", {
        "Adresse patient%s invalide : cle de controle INS incorrecte, verifiez le matricule / "
        "Invalid patient address%s: wrong INS check key, please check the number", NULL } },
    [RULE_PATIENT_INS_SHAPE] = { "patient-ins-shape", ACT_REJECT, "550", "5.1.1", {
        "Adresse patient%s invalide : matricule INS mal forme (caractere non autorise en "
        "position %u) / Invalid patient address%s: malformed INS number (character not "
        "allowed at position %u)",
        "Adresse patient%s invalide : matricule INS mal forme (%u caracteres attendus) / "
        "Invalid patient address%s: malformed INS number (%u characters expected)" } },
    [RULE_PATIENT_TOO_MANY] = { "patient-too-many", ACT_TEMPFAIL, "452", "4.5.3", {
        "Trop de patients destinataires de ce message, envoyez la suite dans un autre message "
        "/ Too many patient recipients in this message, please send to the others in another "
        "message", NULL } },
    [RULE_FIN_WITH_CONTENT] = { "fin-with-content", ACT_REJECT, "550", "5.7.1", {
        "Message [FIN] refuse : il doit etre vide (ni texte, ni signature, ni piece jointe), "
        "le patient ne le verra jamais / [FIN] message refused: it must be empty (no text, "
        "signature or attachment), the patient never sees it", NULL } },
    [RULE_PATIENT_NO_CONVERSATION] = { "patient-no-conversation", ACT_REJECT, "550", "5.7.1", {
        "Un patient ne peut pas ouvrir ni reprendre une conversation : aucune conversation "
        "ouverte avec cette boite / A patient cannot start or resume a conversation: no open "
        "conversation with this mailbox", NULL } },
    [RULE_CONVERSATION_UNAVAILABLE] = { "conversation-state-unavailable", ACT_TEMPFAIL, "451",
                                        "4.3.0", {
        "Etat des conversations patient indisponible, nouvel essai plus tard / "
        "Patient conversation state unavailable, please try again later", NULL } },

    /* ---- forwarding ---- */
    [RULE_FORWARD_RULES_DOWN] = { "forward-rules-unavailable", ACT_TEMPFAIL, "451", "4.3.0", {
        "Regles de transfert indisponibles, nouvel essai plus tard / "
        "Forwarding rules unavailable, please try again later", NULL } },
    [RULE_FORWARD_QUEUE_DOWN] = { "forward-notify-queue", ACT_TEMPFAIL, "451", "4.3.0", {
        "Notification de transfert impossible, nouvel essai plus tard / "
        "Cannot queue the forwarding notice, please try again later", NULL } },
    /* Holds: the text is the reason given to the hold queue, not an SMTP reply. */
    [RULE_FORWARD_CLASSIC_ONLY] = { "forward-classic-only", ACT_HOLD, "451", "4.7.1", {
        "%s", NULL } },
    [RULE_FORWARD_NO_REDIS] = { "forward-no-notify-queue", ACT_HOLD, "451", "4.7.1", {
        "classic recipients of a locally submitted message from the MSSante trust space, "
        "and no Redis to queue their notices; held instead of being sent", NULL } },

    /* ---- the daemon ---- */
    [RULE_INTERNAL] = { "internal-error", ACT_TEMPFAIL, "451", "4.7.1", {
        "Erreur interne temporaire, nouvel essai plus tard / "
        "Temporary internal error, please try again later", NULL } },
    [RULE_SHUTTING_DOWN] = { "shutting-down", ACT_TEMPFAIL, "451", "4.3.2", {
        "Service en cours d'arret, nouvel essai plus tard / "
        "Service shutting down, please try again later", NULL } },
};

/* ---- the table -------------------------------------------------------- */

const char *rule_name(enum rule_id id)
{
    return (unsigned)id < RULE_COUNT ? rule_defs[id].name : NULL;
}

enum action rule_action(enum rule_id id)
{
    return (unsigned)id < RULE_COUNT ? rule_defs[id].action : ACT_CONTINUE;
}

const char *action_name(enum action a)
{
    switch (a) {
    case ACT_CONTINUE:
        return "accept";
    case ACT_REJECT:
        return "reject";
    case ACT_TEMPFAIL:
        return "tempfail";
    case ACT_HOLD:
        return "hold";
    }
    return "unknown";
}

struct verdict verdict_continue(void)
{
    struct verdict v;

    memset(&v, 0, sizeof(v));
    v.action = ACT_CONTINUE;
    return v;
}

/* Replace everything but printable ASCII, so the reply is valid SMTP text. */
static void make_printable_ascii(char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c < 0x20 || c > 0x7e)
            *s = '?';
    }
}

static void verdict_vset(struct verdict *v, enum rule_id rule, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void verdict_vset(struct verdict *v, enum rule_id rule, const char *fmt, va_list ap)
{
    const struct rule_def *d = &rule_defs[(unsigned)rule < RULE_COUNT ? rule : RULE_NONE];

    v->action = d->action;
    v->rule = rule;
    snprintf(v->rcode, sizeof(v->rcode), "%s", d->rcode);
    snprintf(v->xcode, sizeof(v->xcode), "%s", d->xcode);
    vsnprintf(v->text, sizeof(v->text), fmt, ap);
    make_printable_ascii(v->text);
}

void verdict_set(struct verdict *v, enum rule_id rule, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    verdict_vset(v, rule, fmt, ap);
    va_end(ap);
}

/* V from RULE's row with its text number FORM and the arguments that text
 * wants (the table and the callers below are kept in step by the unit
 * tests, which check every text: the format is the table's, not a
 * literal the compiler could check here). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void reply(struct verdict *v, enum rule_id rule, int form, ...)
{
    va_list ap;

    va_start(ap, form);
    verdict_vset(v, rule, rule_defs[rule].text[form], ap);
    va_end(ap);
}
#pragma GCC diagnostic pop

/* Copy S into OUT (REPLY_ADDR_MAX + 1 bytes), ending in "..." if cut. */
static void shorten(const char *s, char *out)
{
    size_t len = strlen(s);

    if (len <= REPLY_ADDR_MAX) {
        memcpy(out, s, len + 1);
        return;
    }
    memcpy(out, s, REPLY_ADDR_MAX - 3);
    memcpy(out + REPLY_ADDR_MAX - 3, "...", 4);
}

/* ---- the trust space ---------------------------------------------------- */

/* " (et N autre(s) / and N more)": what follows the names when some are left out. */
static int format_more(char *buf, size_t size, unsigned more)
{
    if (more == 0) {
        if (size > 0)
            buf[0] = '\0';
        return 0;
    }
    return snprintf(buf, size, " (et %u autre(s) / and %u more)", more, more);
}

/* The text of hint H into BUF ("" for none); its length. */
static size_t format_hint(const struct rcpt_hint *h, char *buf, size_t size)
{
    char dom[REPLY_ADDR_MAX + 1], near[REPLY_ADDR_MAX + 1];
    int n = 0;

    shorten(h->domain, dom);
    switch (h->kind) {
    case HINT_DID_YOU_MEAN:
        shorten(h->suggestion, near);
        n = snprintf(buf, size, HINT_TYPO, dom, near);
        break;
    case HINT_APICRYPT:
        n = snprintf(buf, size, HINT_APICRYPT_TEXT, dom);
        break;
    case HINT_MSSANTE_UNLISTED:
        n = snprintf(buf, size, HINT_UNLISTED, dom);
        break;
    case HINT_IDN_INVALID:
        n = snprintf(buf, size, HINT_IDN_TEXT, dom);
        break;
    case HINT_NONE:
        break;
    }
    if (n <= 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

/* Append to TAIL (which holds USED bytes) the hints that fit in ROOM
 * bytes, each domain's once: ". Aide / Help: A; B". */
static void add_hints(char *tail, size_t size, size_t room, const struct rcpt_hint *hints,
                      unsigned n_hints)
{
    char one[VERDICT_TEXT_MAX];
    size_t used = strlen(tail), start = used, len, i, j;

    for (i = 0; i < n_hints; i++) {
        bool seen = false;

        for (j = 0; j < i && !seen; j++)
            seen = hints[j].kind != HINT_NONE && strcmp(hints[j].domain, hints[i].domain) == 0;
        if (seen || (len = format_hint(&hints[i], one, sizeof(one))) == 0)
            continue;
        len += used == start ? sizeof(HINTS_LABEL) - 1 : 2;
        if (used - start + len > room || used + len >= size)
            continue;                  /* too long: a shorter one may still fit */
        used += (size_t)snprintf(tail + used, size - used, "%s%s",
                                 used == start ? HINTS_LABEL : "; ", one);
    }
}

void reply_outbound_classic(struct verdict *v, const char *const *addrs, unsigned n_listed,
                            unsigned n_total)
{
    reply_outbound_classic_hints(v, addrs, n_listed, n_total, NULL, 0);
}

/*
 * Name as many of ADDRS as fit in the budget, at most n_listed; whatever is
 * left out (not fitting, or never listed: n_total counts every classic
 * recipient) is counted in "and N more".  The names come first (the
 * bounce must say who did not get the message); the hints take the room
 * they leave, in the order of the names.
 */
void reply_outbound_classic_hints(struct verdict *v, const char *const *addrs,
                                  unsigned n_listed, unsigned n_total,
                                  const struct rcpt_hint *hints, unsigned n_hints)
{
    char list[VERDICT_TEXT_MAX], more[VERDICT_TEXT_MAX], piece[REPLY_ADDR_MAX + 1];
    size_t used = 0, fixed = sizeof(OUTBOUND_TEXT) - 1 + 2;   /* text + ": " */
    unsigned named = 0, i;

    if (addrs == NULL)
        n_listed = 0;
    if (n_total < n_listed)
        n_total = n_listed;
    list[0] = '\0';
    for (i = 0; i < n_listed; i++) {
        size_t need, reserve;

        if (addrs[i] == NULL)
            continue;
        shorten(addrs[i], piece);
        need = (named ? 2 : 0) + strlen(piece);
        /* Keep room for "and N more" unless this is the very last one. */
        reserve = (n_total > named + 1) ? (size_t)format_more(NULL, 0, n_total) : 0;
        if (fixed + used + need + reserve > REPLY_TEXT_BUDGET)
            break;
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                 named ? ", " : "", piece);
        named++;
    }
    format_more(more, sizeof(more), n_total - named);
    if (named == 0) {
        reply(v, RULE_OUTBOUND_CLASSIC, 1, n_total);
        return;
    }
    /* The table's text is "...: NAMES%s": what follows the names. */
    if (hints != NULL)
        add_hints(more, sizeof(more), REPLY_TEXT_BUDGET - fixed - used - strlen(more), hints,
                  n_hints);
    reply(v, RULE_OUTBOUND_CLASSIC, 0, list, more);
}

void reply_inbound_sender(struct verdict *v, const char *sender_domain)
{
    char dom[REPLY_ADDR_MAX + 1];

    if (sender_domain == NULL || sender_domain[0] == '\0') {
        reply(v, RULE_INBOUND_SENDER, 1);
        return;
    }
    shorten(sender_domain, dom);
    reply(v, RULE_INBOUND_SENDER, 0, dom, dom);
}

void reply_no_whitelist(struct verdict *v)
{
    reply(v, RULE_NO_WHITELIST, 0);
}

void reply_bad_sender(struct verdict *v, const char *why)
{
    reply(v, RULE_BAD_SENDER, 0, why ? why : "invalid syntax");
}

void reply_bad_recipient(struct verdict *v, const char *why)
{
    reply(v, RULE_BAD_RECIPIENT, 0, why ? why : "invalid syntax");
}

void reply_route_address(struct verdict *v, bool sender, const char *addr)
{
    char shown[REPLY_ADDR_MAX + 1];

    shorten(addr != NULL ? addr : "", shown);
    reply(v, RULE_ROUTE_ADDRESS, 0, sender ? "expediteur" : "destinataire", shown,
          sender ? "sender" : "recipient", shown);
}

void reply_own_domain_forged(struct verdict *v, const char *domain)
{
    char dom[REPLY_ADDR_MAX + 1];

    shorten(domain != NULL ? domain : "", dom);
    reply(v, RULE_OWN_DOMAIN_FORGED, 0, dom, dom);
}

void reply_operator_cert_missing(struct verdict *v, const char *domain)
{
    char dom[REPLY_ADDR_MAX + 1];

    if (domain == NULL) {
        reply(v, RULE_CERT_MISSING, 1);
        return;
    }
    shorten(domain, dom);
    reply(v, RULE_CERT_MISSING, 0, dom, dom);
}

void reply_operator_cert_mismatch(struct verdict *v, const char *domain, const char *cn)
{
    char dom[REPLY_ADDR_MAX + 1], name[REPLY_CN_MAX + 4];

    snprintf(name, sizeof(name), "%.*s%s", REPLY_CN_MAX, cn != NULL ? cn : "",
             cn != NULL && strlen(cn) > REPLY_CN_MAX ? "..." : "");
    if (domain == NULL) {
        reply(v, RULE_CERT_MISMATCH, 1, name, name);
        return;
    }
    shorten(domain, dom);
    reply(v, RULE_CERT_MISMATCH, 0, name, dom, name, dom);
}

void reply_system_recipient(struct verdict *v, const char *addr)
{
    char shown[REPLY_ADDR_MAX + 1];

    shorten(addr != NULL ? addr : "", shown);
    reply(v, RULE_SYSTEM_RECIPIENT, 0, shown, shown);
}

/* ---- patients ----------------------------------------------------------- */

void reply_patient_ins_key(struct verdict *v, const char *shown)
{
    reply(v, RULE_PATIENT_INS_KEY, 0, shown, shown);
}

void reply_patient_ins_shape(struct verdict *v, const char *shown, unsigned bad_char,
                             unsigned length)
{
    if (bad_char > 0)
        reply(v, RULE_PATIENT_INS_SHAPE, 0, shown, bad_char, shown, bad_char);
    else
        reply(v, RULE_PATIENT_INS_SHAPE, 1, shown, length, shown, length);
}

void reply_patient_too_many(struct verdict *v)
{
    reply(v, RULE_PATIENT_TOO_MANY, 0);
}

void reply_fin_with_content(struct verdict *v)
{
    reply(v, RULE_FIN_WITH_CONTENT, 0);
}

void reply_patient_no_conversation(struct verdict *v)
{
    reply(v, RULE_PATIENT_NO_CONVERSATION, 0);
}

void reply_conversation_unavailable(struct verdict *v)
{
    reply(v, RULE_CONVERSATION_UNAVAILABLE, 0);
}

/* ---- forwarding ----------------------------------------------------------- */

void reply_forward_rules_down(struct verdict *v)
{
    reply(v, RULE_FORWARD_RULES_DOWN, 0);
}

void reply_forward_queue_down(struct verdict *v)
{
    reply(v, RULE_FORWARD_QUEUE_DOWN, 0);
}

void reply_forward_hold(struct verdict *v, const char *reason)
{
    reply(v, RULE_FORWARD_CLASSIC_ONLY, 0, reason != NULL ? reason : "");
}

void reply_forward_no_redis(struct verdict *v)
{
    reply(v, RULE_FORWARD_NO_REDIS, 0);
}

/* ---- the daemon ------------------------------------------------------------- */

void reply_internal(struct verdict *v)
{
    reply(v, RULE_INTERNAL, 0);
}

void reply_shutting_down(struct verdict *v)
{
    reply(v, RULE_SHUTTING_DOWN, 0);
}
