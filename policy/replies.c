/*
 * replies.c - the SMTP replies mssante-milter gives, in one place.
 *
 * A refusal is read by a health professional in a bounce, so each text says
 * in one line what happened, in French then in English.  Two constraints
 * shape the code:
 *  - SMTP reply lines are 7-bit and limited to 512 bytes, code included:
 *    a text stays under REPLY_TEXT_BUDGET bytes, and any byte that is not
 *    printable ASCII (a UTF-8 domain, a stray control character) is shown
 *    as '?' rather than sent raw;
 *  - the text is raw: the milter layer escapes '%' for smfi_setreply().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/replies.h"

#define REPLY_TEXT_BUDGET 450   /* leaves room for "550 5.7.1 " and CRLF in 512 */
#define REPLY_ADDR_MAX    100   /* longest address (or domain) quoted in a text */

/* The offenders follow, after a bilingual label of their own, so that the
 * list is written once (an SMTP line has no room for it twice). */
static const char outbound_text[] =
    "Envoi refuse : destinataire(s) hors de l'espace de confiance MSSante, "
    "personne n'a recu le message / "
    "Sending refused: recipient(s) outside the MSSante trust space, "
    "nobody received the message. Hors MSSante / Not MSSante";

/* Replace everything but printable ASCII, so the reply is valid SMTP text. */
static void make_printable_ascii(char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c < 0x20 || c > 0x7e)
            *s = '?';
    }
}

void verdict_set(struct verdict *v, enum action a, const char *rule,
                 const char *rcode, const char *xcode, const char *fmt, ...)
{
    va_list ap;

    v->action = a;
    v->rule = rule;
    snprintf(v->rcode, sizeof(v->rcode), "%s", rcode ? rcode : "");
    snprintf(v->xcode, sizeof(v->xcode), "%s", xcode ? xcode : "");
    va_start(ap, fmt);
    vsnprintf(v->text, sizeof(v->text), fmt, ap);
    va_end(ap);
    make_printable_ascii(v->text);
}

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

/*
 * Name as many of ADDRS as fit in the budget, at most n_listed; whatever is
 * left out (not fitting, or never listed: n_total counts every classic
 * recipient) is counted in "and N more".
 */
void reply_outbound_classic(struct verdict *v, const char *const *addrs, unsigned n_listed,
                            unsigned n_total)
{
    char list[VERDICT_TEXT_MAX], more[64], piece[REPLY_ADDR_MAX + 1];
    size_t used = 0, fixed = sizeof(outbound_text) - 1 + 2;   /* text + ": " */
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
    if (named == 0)
        verdict_set(v, ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1",
                    "%s: %u adresse(s) / address(es)", outbound_text, n_total);
    else
        verdict_set(v, ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1",
                    "%s: %s%s", outbound_text, list, more);
}

void reply_inbound_sender(struct verdict *v, const char *sender_domain)
{
    char dom[REPLY_ADDR_MAX + 1];

    if (sender_domain == NULL || sender_domain[0] == '\0') {
        verdict_set(v, ACT_REJECT, "inbound-classic-sender", "550", "5.7.1",
                    "Expediteur hors de l'espace de confiance MSSante : cette boite ne recoit "
                    "que des messages MSSante / Sender outside the MSSante trust space: "
                    "this mailbox only accepts MSSante mail");
        return;
    }
    shorten(sender_domain, dom);
    verdict_set(v, ACT_REJECT, "inbound-classic-sender", "550", "5.7.1",
                "Expediteur hors de l'espace de confiance MSSante (domaine %s) : cette boite "
                "ne recoit que des messages MSSante / Sender outside the MSSante trust space "
                "(domain %s): this mailbox only accepts MSSante mail", dom, dom);
}

void reply_no_whitelist(struct verdict *v)
{
    verdict_set(v, ACT_TEMPFAIL, "no-whitelist", "451", "4.3.0",
                "Liste blanche MSSante indisponible, nouvel essai plus tard / "
                "MSSante whitelist unavailable, please try again later");
}

void reply_bad_sender(struct verdict *v, const char *why)
{
    verdict_set(v, ACT_REJECT, "bad-sender-address", "550", "5.1.7",
                "Adresse d'expediteur mal formee / Malformed sender address: %s",
                why ? why : "invalid syntax");
}

void reply_bad_recipient(struct verdict *v, const char *why)
{
    verdict_set(v, ACT_REJECT, "bad-recipient-address", "550", "5.1.3",
                "Adresse de destinataire mal formee / Malformed recipient address: %s",
                why ? why : "invalid syntax");
}

void reply_internal(struct verdict *v)
{
    verdict_set(v, ACT_TEMPFAIL, "internal-error", "451", "4.7.1",
                "Erreur interne temporaire, nouvel essai plus tard / "
                "Temporary internal error, please try again later");
}

/* ---- trust boundary (issue 10) ----------------------------------------- */

#define REPLY_CN_MAX 64      /* X.520's upper bound for a CN */

void reply_route_address(struct verdict *v, bool sender, const char *addr)
{
    char shown[REPLY_ADDR_MAX + 1];

    shorten(addr != NULL ? addr : "", shown);
    verdict_set(v, ACT_REJECT, "route-address", "550", "5.1.3",
                "Les adresses de routage ne sont pas acceptees dans l'espace de confiance "
                "MSSante (%s %s) / Route addresses are not accepted in the MSSante trust "
                "space (%s %s)", sender ? "expediteur" : "destinataire", shown,
                sender ? "sender" : "recipient", shown);
}

void reply_own_domain_forged(struct verdict *v, const char *domain)
{
    char dom[REPLY_ADDR_MAX + 1];

    shorten(domain != NULL ? domain : "", dom);
    verdict_set(v, ACT_REJECT, "own-domain-forged", "550", "5.7.1",
                "Expediteur du domaine %s refuse : ce message ne vient pas d'un serveur de "
                "l'operateur de ce domaine / Sender domain %s refused: this message does not "
                "come from a server of that domain's operator", dom, dom);
}

void reply_operator_cert_missing(struct verdict *v, const char *domain)
{
    char dom[REPLY_ADDR_MAX + 1];

    if (domain == NULL) {
        verdict_set(v, ACT_TEMPFAIL, "operator-certificate-missing", "450", "4.7.1",
                    "Certificat serveur IGC-Sante requis (STARTTLS) pour un expediteur vide, "
                    "nouvel essai plus tard / IGC-Sante server certificate required (STARTTLS) "
                    "for a null sender, please try again later");
        return;
    }
    shorten(domain, dom);
    verdict_set(v, ACT_TEMPFAIL, "operator-certificate-missing", "450", "4.7.1",
                "Certificat serveur IGC-Sante requis (STARTTLS) pour le domaine %s, nouvel "
                "essai plus tard / IGC-Sante server certificate required (STARTTLS) for "
                "domain %s, please try again later", dom, dom);
}

void reply_operator_cert_mismatch(struct verdict *v, const char *domain, const char *cn)
{
    char dom[REPLY_ADDR_MAX + 1], name[REPLY_CN_MAX + 4];

    snprintf(name, sizeof(name), "%.*s%s", REPLY_CN_MAX, cn != NULL ? cn : "",
             cn != NULL && strlen(cn) > REPLY_CN_MAX ? "..." : "");
    if (domain == NULL) {
        verdict_set(v, ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1",
                    "Le certificat %s n'est celui d'aucun operateur de la liste blanche "
                    "MSSante / Certificate %s belongs to no operator of the MSSante whitelist",
                    name, name);
        return;
    }
    shorten(domain, dom);
    verdict_set(v, ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1",
                "Le certificat %s n'est pas celui d'un serveur de l'operateur du domaine %s / "
                "Certificate %s is not one of the servers of domain %s's operator",
                name, dom, name, dom);
}

void reply_system_recipient(struct verdict *v, const char *addr)
{
    char shown[REPLY_ADDR_MAX + 1];

    shorten(addr != NULL ? addr : "", shown);
    verdict_set(v, ACT_REJECT, "system-recipient", "550", "5.7.1",
                "Destinataire %s : boite systeme de ce serveur, fermee au courrier de "
                "l'exterieur / Recipient %s: a system mailbox of this server, closed to mail "
                "from outside", shown, shown);
}
