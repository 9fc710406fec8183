/*
 * heldq.h - the messages in Postfix's hold queue, and which of them the
 * daemon held (for "mssantectl held" and "mssantectl status").
 *
 * The queue is read with "postqueue -j" (queue id, arrival time, envelope
 * sender and recipients, as Postfix keeps them in the queue file); each
 * held message's header with "postcat -h -q ID".  A message is the
 * daemon's when its header carries an X-MSSante-Held whose MAC verifies
 * under the daemon's key (HeldKeyFile) for that queue id (policy/held.h):
 * the sender writes the headers, and a message the daemon accepted at
 * DATA keeps them, so the name of the header proves nothing.  Everything
 * else in the hold queue (held by header_checks, by an administrator with
 * "postsuper -h", by another milter, or carrying an X-MSSante-Held that
 * does not verify) is not ours.
 */
#ifndef MSSANTE_CTL_HELDQ_H
#define MSSANTE_CTL_HELDQ_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "ctl/ptools.h"
#include "policy/held.h"

#define HELDQ_ID_MAX 32

struct held_entry {
    char id[HELDQ_ID_MAX];
    long long arrival;            /* Unix time (postqueue's arrival_time) */
    long long size;
    char *sender;                 /* owned; "" for the null sender */
    char **rcpts;                 /* owned: the recipients still to deliver */
    size_t n_rcpts;
    bool header_read;             /* postcat -h gave its header */
    bool ours;                    /* it carries the daemon's X-MSSante-Held (MAC verified) */
    bool has_header;              /* it carries an X-MSSante-Held, ours or not ... */
    enum held_check header;       /* ... the most trusted of them (HELD_OURS first) */
    struct held_mark mark;        /* meaningful when ours */
};

struct held_queue {
    struct held_entry *v;         /* owned */
    size_t n, n_ours;
};

/*
 * Read the hold queue.  READ_HEADERS: also each message's header (needs
 * root), to tell the daemon's with KEY (HELD_KEY_BYTES; NULL: none is);
 * without it no entry is "ours".  A message that leaves the hold queue
 * between the two reads is dropped.  0, or -1 after saying why on stderr.
 */
int heldq_scan(const struct ptools *pt, bool read_headers, const unsigned char *key,
               struct held_queue *q);

/* The daemon's key, from HeldKeyFile of CFG, into KEY.  0, or -1 after
 * saying on stderr which file could not be read and what to do. */
int heldq_key(const struct config *cfg, unsigned char key[HELD_KEY_BYTES]);

/* Why E, a message of the hold queue, is not the daemon's: a sentence
 * for "held resubmit|delete" and "held list", after "not by
 * mssante-milter". */
const char *heldq_why_not_ours(const struct held_entry *e);
void heldq_free(struct held_queue *q);

/* The entry with queue id ID, or NULL. */
const struct held_entry *heldq_find(const struct held_queue *q, const char *id);

/* Is ID the shape of a Postfix queue id (letters and digits)? */
bool heldq_valid_id(const char *id);

/* The X-MSSante-Held value in HEADER (postcat -h output: a message
 * header), unfolded, into BUF; the last one when there are several.
 * True when found. */
bool heldq_find_header(const char *header, char *buf, size_t size);

#endif
