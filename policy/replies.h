/*
 * replies.h - the SMTP replies mssante-milter gives, in one place.
 *
 * Each reply has an enhanced status code and a short French sentence
 * followed by its English translation: the person reading the bounce is a
 * health professional.  Texts are plain ASCII (SMTP replies are 7-bit), so
 * French is written without accents.
 */
#ifndef MSSANTE_REPLIES_H
#define MSSANTE_REPLIES_H

#include <stdbool.h>

#include "policy/message.h"

/* Fill v as a refusal/tempfail.  The helpers format the texts below. */
void reply_outbound_classic(struct verdict *v, const char *const *addrs, unsigned n_listed,
                            unsigned n_total);
void reply_inbound_sender(struct verdict *v, const char *sender_domain);
void reply_no_whitelist(struct verdict *v);
void reply_bad_sender(struct verdict *v, const char *why);
void reply_bad_recipient(struct verdict *v, const char *why);
void reply_internal(struct verdict *v);

/* Trust boundary (issue 10).  Every text naming something from the
 * network (an address, a certificate CN) shows it cut and in printable
 * ASCII.  DOMAIN NULL: the null sender. */
void reply_route_address(struct verdict *v, bool sender, const char *addr);
void reply_own_domain_forged(struct verdict *v, const char *domain);
void reply_operator_cert_missing(struct verdict *v, const char *domain);
void reply_operator_cert_mismatch(struct verdict *v, const char *domain, const char *cn);
void reply_system_recipient(struct verdict *v, const char *addr);

/* Generic setter used by the helpers above (and later rules). */
void verdict_set(struct verdict *v, enum action a, const char *rule,
                 const char *rcode, const char *xcode, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
