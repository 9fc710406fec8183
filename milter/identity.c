/*
 * identity.c - resolve UserID and become that user, supplementary groups
 * kept (why: identity.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "milter/identity.h"

int identity_resolve(const char *spec, struct identity *id, struct err *err)
{
    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    struct passwd *pw;
    struct group *gr;

    memset(id, 0, sizeof(*id));
    if (ulen == 0 || ulen >= sizeof(id->name)) {
        err_set(err, "invalid user \"%s\"", spec);
        return -1;
    }
    memcpy(id->name, spec, ulen);
    id->name[ulen] = '\0';
    if ((pw = getpwnam(id->name)) == NULL) {
        err_set(err, "unknown user \"%s\" (create it: the packages and "
                "contrib/mssante-milter.sysusers make \"mssante-milter\")", id->name);
        return -1;
    }
    id->uid = pw->pw_uid;
    id->gid = id->user_gid = pw->pw_gid;
    if (colon != NULL) {
        if ((gr = getgrnam(colon + 1)) == NULL) {
            err_set(err, "unknown group \"%s\"", colon + 1);
            return -1;
        }
        id->gid = gr->gr_gid;
        snprintf(id->group, sizeof(id->group), "%s", colon + 1);
    } else if ((gr = getgrgid(id->gid)) != NULL) {
        snprintf(id->group, sizeof(id->group), "%s", gr->gr_name);
    } else {
        snprintf(id->group, sizeof(id->group), "%ld", (long)id->gid);
    }
    id->set = true;
    return 0;
}

bool identity_is_current(const struct identity *id)
{
    return !id->set
           || (getuid() == id->uid && geteuid() == id->uid && getgid() == id->gid
               && getegid() == id->gid);
}

int identity_become(const struct identity *id, struct err *err)
{
    if (identity_is_current(id))
        return 0;
    if (geteuid() != 0) {
        err_set(err, "must be started as root to run as user %s (group %s)", id->name,
                id->group);
        return -1;
    }
    /* The user's groups with its own group, then the group asked for. */
    if (initgroups(id->name, id->user_gid) < 0 || setgid(id->gid) < 0
        || setuid(id->uid) < 0) {
        err_set(err, "cannot switch to user %s: %s", id->name, strerror(errno));
        return -1;
    }
    if (id->uid != 0 && setuid(0) == 0) {
        err_set(err, "privileges were not dropped (setuid(0) still works)");
        return -1;
    }
    return 0;
}
