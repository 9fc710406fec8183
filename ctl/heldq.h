/*
 * heldq.h - the messages in Postfix's hold queue, and which of them the
 * daemon held (for "mssantectl held" and "mssantectl status").
 *
 * The queue is read with "postqueue -j" (queue id, arrival time, envelope
 * sender and recipients, as Postfix keeps them in the queue file); each
 * held message's header with "postcat -h -q ID".  A message is the
 * daemon's when its header carries X-MSSante-Held in the daemon's form
 * (policy/held.h): the daemon deletes any such header a message arrives
 * with, so the sender cannot make a message look like one of them.
 * Everything else in the hold queue (held by header_checks, by an
 * administrator with "postsuper -h", by another milter) is not ours.
 */
#ifndef MSSANTE_CTL_HELDQ_H
#define MSSANTE_CTL_HELDQ_H

#include <stdbool.h>
#include <stddef.h>

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
    bool ours;                    /* it carries the daemon's X-MSSante-Held */
    struct held_mark mark;        /* meaningful when ours */
};

struct held_queue {
    struct held_entry *v;         /* owned */
    size_t n, n_ours;
};

/*
 * Read the hold queue.  READ_HEADERS: also each message's header (needs
 * root), to tell the daemon's; without it no entry is "ours".  A message
 * that leaves the hold queue between the two reads is dropped.  0, or -1
 * after saying why on stderr.
 */
int heldq_scan(const struct ptools *pt, bool read_headers, struct held_queue *q);
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
