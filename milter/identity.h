/*
 * identity.h - the user the daemon runs as (UserID, -u USER[:GROUP]).
 *
 * Started as root, the daemon opens its socket, then becomes that user for
 * good: the group given (else the user's own), and the user's
 * supplementary groups, its own group among them.  Keeping those matters:
 * with "-u mssante-milter:postfix" the process's group is postfix, and a
 * configuration file "0640 root:mssante-milter" (it may hold
 * RedisPassword) stays readable at every reload only through the
 * supplementary group mssante-milter.  initgroups(3) with the group given
 * would leave the user's own group out (a user's primary group does not
 * list the user as a member), so the list is made from the user's own
 * group, then the process's group is set.
 *
 * "mssante-milter -n" checks files as that user, in a child process that
 * becomes it the same way (milter/preflight.h).
 *
 * DIAGNOSTICS: identity_resolve() and identity_become() fail with one
 * sentence (an unknown user or group, not root, the system error).
 */
#ifndef MSSANTE_MILTER_IDENTITY_H
#define MSSANTE_MILTER_IDENTITY_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

struct identity {
    bool set;                    /* UserID or -u given */
    char name[256];
    uid_t uid;
    gid_t gid;                   /* the group to run as */
    gid_t user_gid;              /* the user's own group (passwd) */
    char group[256];             /* the group's name, for messages */
};

/* "user" or "user:group" into ID.  0, or -1 + err. */
int identity_resolve(const char *spec, struct identity *id, struct err *err);

/* Is the process already ID (nothing to switch)? */
bool identity_is_current(const struct identity *id);

/* Become ID for good (groups, then user), and check root cannot be
 * regained.  Nothing to do when !ID->set or already ID.  0, or -1 + err. */
int identity_become(const struct identity *id, struct err *err);

#endif
