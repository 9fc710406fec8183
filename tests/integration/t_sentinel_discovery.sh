#!/bin/bash
# t_sentinel_discovery.sh - finding the Redis master through real sentinels
# (common/sentinel.c, through tests/helpers/sentinelprobe): a master, a
# replica and three sentinels on loopback, with an ACL user for the client,
# requirepass for the default user and a password on the sentinels.
#   - discovery, with RedisUser + RedisPassword or the password alone;
#   - a dead address or a server that is no sentinel first in the list is
#     skipped, and the sentinel that answered is tried first next time;
#   - wrong or missing passwords, an unknown user, a user without +role,
#     an unknown master name, no sentinel reachable: a clear error naming
#     each sentinel tried (or the master) and why, never a password, exit 1;
#   - RedisDB (SELECT), a unix socket endpoint;
#   - WAIT 1 (RedisMinReplicas): acknowledged with the replica up, reported
#     as too few with the replica stopped.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
sn_require
PROBE=$BUILD/tests/sentinelprobe
[ -x "$PROBE" ] || { not_ok "$(basename "$0"): $PROBE exists" "build first: make BUILD=$BUILD"; exit 1; }
h_init

SN_PASS=default-secret-1
SN_SENTINEL_PASS=sentinel-secret-2
SN_USERS=("mssante on >client-secret-3 ~* &* +@all -@dangerous +role"
          "norole on >norole-secret-4 ~* &* +@all -@dangerous")
sn_start || exit 1
free_port DEAD || exit 1
free_port DEAD2 || exit 1
S0=127.0.0.1:${SN_SENTINELS[0]}
S1=127.0.0.1:${SN_SENTINELS[1]}
S2=127.0.0.1:${SN_SENTINELS[2]}
CLIENT=(-u mssante -p client-secret-3 -S "$SN_SENTINEL_PASS")
WRONG=not-the-password-5

# probe ARGS...: run sentinelprobe; PROBE_RC, PROBE_OUT, PROBE_ERR.
probe() {
    "$PROBE" -t 2000 "$@" >"$W/probe.out" 2>"$W/probe.err"
    PROBE_RC=$?
    PROBE_OUT=$(cat "$W/probe.out")
    PROBE_ERR=$(cat "$W/probe.err")
}

# probe_ok NEEDLE...: the last probe succeeded and printed every NEEDLE.
probe_ok() {
    local n
    [ "$PROBE_RC" = 0 ] || { h_fail "sentinelprobe exited $PROBE_RC: $PROBE_ERR"; return 1; }
    for n in "$@"; do
        contains "$PROBE_OUT" "$n" || return 1
    done
}

# probe_failed RC NEEDLE...: the last probe exited RC (no crash, no
# sanitizer report) and its error holds every NEEDLE and no password.
probe_failed() {
    local rc=$1 n secret
    shift
    [ "$PROBE_RC" = "$rc" ] || { h_fail "sentinelprobe exited $PROBE_RC, expected $rc:
$PROBE_OUT
$PROBE_ERR"; return 1; }
    for n in "$@"; do
        contains "$PROBE_ERR" "$n" || return 1
    done
    for secret in "$SN_PASS" "$SN_SENTINEL_PASS" client-secret-3 norole-secret-4 "$WRONG"; do
        case $PROBE_ERR in
            *"$secret"*) h_fail "the error shows a password: $PROBE_ERR"; return 1 ;;
        esac
    done
    case $PROBE_ERR in
        *Sanitizer*|*"runtime error"*) h_fail "sanitizer report: $PROBE_ERR"; return 1 ;;
    esac
}

# --- discovery ----------------------------------------------------------------

probe -s "$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" discover
check "discovery: the sentinels name the master, ACL user + password accepted" \
    probe_ok "master 127.0.0.1:$SN_MASTER epoch 1"
probe -s "$SN_LIST" -m "$SN_NAME" -p "$SN_PASS" -S "$SN_SENTINEL_PASS" discover
check "discovery: the password alone (AUTH for the default user) works too" \
    probe_ok "master 127.0.0.1:$SN_MASTER"

probe -s "127.0.0.1:$DEAD,$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" discover
check "a dead address first in RedisSentinels is skipped" \
    probe_ok "master 127.0.0.1:$SN_MASTER"
check "the sentinel that answered moves to the front, the dead one behind it" \
    probe_ok "order $S0,127.0.0.1:$DEAD,$S1,$S2"
probe -s "127.0.0.1:$SN_REPLICA,$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" discover
check "a Redis server that is no sentinel first in the list is skipped" \
    probe_ok "master 127.0.0.1:$SN_MASTER" "order $S0,127.0.0.1:$SN_REPLICA,$S1,$S2"

# --- what goes wrong, said clearly ------------------------------------------------

probe -s "$SN_LIST" -m nosuchmaster "${CLIENT[@]}" discover
check "unknown master name: the error names each sentinel and why" \
    probe_failed 1 'no Redis master "nosuchmaster" found' \
        "sentinel $S0: does not know master \"nosuchmaster\"" \
        "sentinel $S1: does not know" "sentinel $S2: does not know"
probe -s "127.0.0.1:$DEAD,127.0.0.1:$DEAD2" -m "$SN_NAME" "${CLIENT[@]}" discover
check "no sentinel reachable: each one named with its connection error" \
    probe_failed 1 "sentinel 127.0.0.1:$DEAD: Connection refused" \
        "sentinel 127.0.0.1:$DEAD2: Connection refused"

probe -s "$SN_LIST" -m "$SN_NAME" -u mssante -p "$WRONG" -S "$SN_SENTINEL_PASS" discover
check "wrong RedisPassword: AUTH refused by the master, said without the password" \
    probe_failed 1 "named 127.0.0.1:$SN_MASTER: redis 127.0.0.1:$SN_MASTER: AUTH mssante: WRONGPASS"
check "wrong RedisPassword: the other sentinels are not asked (they name the same master)" \
    test "$(grep -o 'sentinel 127' "$W/probe.err" | wc -l)" = 1
probe -s "$SN_LIST" -m "$SN_NAME" -u nobody -p client-secret-3 -S "$SN_SENTINEL_PASS" discover
check "unknown RedisUser: a clear error naming the user" \
    probe_failed 1 "AUTH nobody: WRONGPASS"
probe -s "$SN_LIST" -m "$SN_NAME" -S "$SN_SENTINEL_PASS" discover
check "no RedisPassword for a master that wants one: NOAUTH, and which setting to look at" \
    probe_failed 1 "NOAUTH" "is RedisPassword set?"
probe -s "$SN_LIST" -m "$SN_NAME" -u norole -p norole-secret-4 -S "$SN_SENTINEL_PASS" discover
check "an ACL user without +role: the error says ROLE is needed" \
    probe_failed 1 "ROLE: NOPERM" "needs +role"

probe -s "$SN_LIST" -m "$SN_NAME" -u mssante -p client-secret-3 discover
check "no RedisSentinelPassword for sentinels that want one: each sentinel says so" \
    probe_failed 1 "sentinel $S0: get-master-addr-by-name: NOAUTH" \
        "sentinel $S1: get-master-addr-by-name: NOAUTH" "sentinel $S2:" \
        "is RedisSentinelPassword set?"
probe -s "$SN_LIST" -m "$SN_NAME" -u mssante -p client-secret-3 -S "$WRONG" discover
check "wrong RedisSentinelPassword: refused by each sentinel, said without the password" \
    probe_failed 1 "sentinel $S0: AUTH: WRONGPASS" "sentinel $S2: AUTH: WRONGPASS" \
        "check RedisSentinelPassword"

# --- database, unix socket --------------------------------------------------------

probe -s "$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" -d 3 set it:db3 in-three
check "RedisDB 3: the write lands in database 3" \
    test "$(sn_cli "$SN_MASTER" -n 3 GET it:db3)" = in-three
check "RedisDB 3: and not in database 0" \
    test -z "$(sn_cli "$SN_MASTER" -n 0 GET it:db3)"
probe -s "$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" -d 99 discover
check "RedisDB out of range: SELECT's error, clearly" \
    probe_failed 1 "SELECT 99: ERR DB index is out of range"

probe -r "unix:$SN_SOCK" -u mssante -p client-secret-3 set it:sock via-socket
check "a unix:/path Redis endpoint: connected and written" \
    probe_ok "connected unix:$SN_SOCK"
check "a unix:/path Redis endpoint: the value is on the master" \
    test "$(sn_cli "$SN_MASTER" GET it:sock)" = via-socket
probe -r "unix:$W/no-such.sock" -u mssante -p client-secret-3 set it:sock x
check "a unix:/path endpoint that does not exist: the error names it" \
    probe_failed 1 "redis unix:$W/no-such.sock: No such file or directory"

# --- WAIT (RedisMinReplicas) ---------------------------------------------------------

probe -s "$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" -w 1 set it:durable one
check "WAIT 1 with the replica up: acknowledged" probe_ok "ok acked 1"
check "WAIT 1 acknowledged: the replica holds the write" \
    test "$(sn_cli "$SN_REPLICA" GET it:durable)" = one
stop_redis "$SN_REPLICA"
probe -s "$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" -w 1 set it:durable two
check "WAIT 1 with the replica stopped: reported as too few replicas (exit 3)" \
    probe_failed 3 "WAIT 1 2000: 0 of 1 replica(s) acknowledged in time"
probe -s "$SN_LIST" -m "$SN_NAME" "${CLIENT[@]}" -w 0 set it:durable three
check "RedisMinReplicas 0 with the replica stopped: writes go on" probe_ok "ok acked 0"
