/*
 * preflight.h - "mssante-milter -n": is this configuration one that
 * passes mail, not only one that parses?
 *
 * After the file itself (config/), every problem that would stop or defer
 * mail once the daemon runs, checked as the user it will run as (UserID
 * or -u: a child process becomes that user, as the daemon does, and tries
 * each file for real rather than reading mode bits):
 *   errors (exit 1), each of which defers all mail or stops the start:
 *     no whitelist: WhitelistFile missing or broken without Redis (and no
 *     usable SnapshotFile); Redis unreachable or refusing AUTH; Redis
 *     holding no list under RedisPrefix, with no WhitelistFile to seed it;
 *     the unix socket's directory missing (or not writable when the daemon
 *     is not started as root); PidFile's directory not writable, or
 *     PidFile a link; LogFile that cannot be opened; the LogPatientId key
 *     or the HeldKeyFile key unreadable or not makeable;
 *   warnings (exit 0): LocalDomains not on the list (other operators
 *     refuse our mail); the configuration file unreadable by the user
 *     (every reload would fail); SnapshotFile, StatsFile, TLSPolicyFile or
 *     the socket directory not writable; the fetcher's certificate files
 *     unreadable; a key file others may read; syslog unreachable; running
 *     as root; a broken WhitelistFile covered by the snapshot;
 *   notes: what is fine but worth knowing (a daemon already running on
 *     the socket or PidFile: -n is also run before a reload).
 * Each line says what is wrong and what to do.
 *
 * DIAGNOSTICS: "FILE: error: ...", "FILE: warning: ...", "FILE: note: ..."
 * on stderr, then "FILE: configuration OK" on stdout (with the number of
 * warnings), or "FILE: N error(s): ..." on stderr.
 */
#ifndef MSSANTE_MILTER_PREFLIGHT_H
#define MSSANTE_MILTER_PREFLIGHT_H

#include "config/config.h"
#include "milter/identity.h"

/* List CFG (as -n always did), then check it as ID.  The exit status:
 * 0 when mail would flow, 1 otherwise. */
int preflight(const struct config *cfg, const struct identity *id, const char *conf);

#endif
