#!/bin/bash
# t_sentinel_failover.sh - following the Redis master through failovers
# with real sentinels (common/sentinel.c, common/sentinel_watch.c, through
# tests/helpers/sentinelprobe "follow": an INCR every 100 ms, WAIT 1 after
# each, the master found again whenever a command says so).
#   - SENTINEL FAILOVER: the +switch-master watcher moves the writer to the
#     new master within seconds, while the old master is still up and
#     would accept writes; acknowledged writes resume once the old master
#     has become the new one's replica;
#   - a demoted master answering -READONLY (a writer without the watcher,
#     its connection left open on the old master): found again;
#   - kill -9 of the master: the writers find the one Sentinel promotes;
#   - through all of it, no write acknowledged by WAIT 1 is lost, and the
#     writers never crash.
# The times are printed as "# " lines; the limits are generous bounds, not
# measurements (Sentinel needs ~1 s to switch on request, ~10 s to demote
# an old master, ~2-3 s to replace a killed one).
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
sn_require
PROBE=$BUILD/tests/sentinelprobe
[ -x "$PROBE" ] || { not_ok "$(basename "$0"): $PROBE exists" "build first: make BUILD=$BUILD"; exit 1; }
h_init

SN_PASS=default-secret-1
SN_SENTINEL_PASS=sentinel-secret-2
SN_USERS=("mssante on >client-secret-3 ~* &* +@all -@dangerous +role")
sn_start || exit 1
CLIENT=(-s "$SN_LIST" -m "$SN_NAME" -u mssante -p client-secret-3 -S "$SN_SENTINEL_PASS"
        -t 1000 -i 100)

now_ms() { date +%s%3N; }

# wait_line FILE SINCE_MS REGEX [SECONDS]: until FILE has a line stamped at
# or after SINCE_MS matching REGEX (ERE, on the text after the stamp); sets
# LINE_MS to its stamp.
wait_line() {
    local file=$1 since=$2 re=$3 secs=${4:-30} i
    for i in $(seq 1 $((secs * 10))); do
        LINE_MS=$(awk -v t="$since" -v re="$re" '
            $1 >= t { s = $0; sub(/^[0-9]+ /, "", s); if (s ~ re) { print $1; exit } }' "$file")
        [ -n "$LINE_MS" ] && return 0
        sleep 0.1
    done
    h_fail "no line matching /$re/ after ${secs}s in $(basename "$file"):
$(tail -8 "$file")"
}

# no_acked_write_lost FILE: every INCR that succeeded after a write was
# acknowledged by WAIT returned more than that write's value: the
# acknowledged increments all survived the failovers.
no_acked_write_lost() {
    local bad
    bad=$(awk '
        $2 == "ok" && $5 == "acked" { if ($3 <= max) { print; exit } if ($3 > max) max = $3; next }
        $2 == "ok" || $2 == "unacked" { if ($3 <= max) { print "after acked " max ": " $0; exit } }
    ' "$1")
    [ -z "$bad" ] || h_fail "an acknowledged write was lost: $bad"
}

# clean_exit PID FILE: the writer is still running, stops on SIGTERM with
# status 0, and wrote no sanitizer report.
clean_exit() {
    local pid=$1 file=$2 rc
    kill -0 "$pid" 2>/dev/null || { h_fail "the writer is gone: $(tail -5 "$file")"; return 1; }
    kill "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" = 0 ] || { h_fail "the writer exited $rc: $(tail -5 "$file")"; return 1; }
    ! grep -E -q 'Sanitizer|runtime error' "$file" ||
        h_fail "sanitizer report: $(grep -E -A5 'Sanitizer|runtime error' "$file")"
}

A=$W/writer-a.out
sn_bg "$A" "$PROBE" "${CLIENT[@]}" -w 1 -W follow it:counter 600
PID_A=$SN_BG_PID
check "the writer (with the watcher) writes with WAIT 1 acknowledged" \
    wait_line "$A" 0 "^ok [0-9]+ 127\.0\.0\.1:$SN_MASTER acked 1$" 30
check "the watcher subscribed to +switch-master" wait_line "$A" 0 "^event watching " 30

# --- SENTINEL FAILOVER: the old master stays up ----------------------------------

OLD=$SN_MASTER
t0=$(now_ms)
check "SENTINEL FAILOVER accepted" sn_failover
check "the sentinels name a new master" sn_wait_master_not "$OLD" 30
NEW=$SN_MASTER
check "the watcher heard +switch-master to the new master" \
    wait_line "$A" "$t0" "^event master .* is now 127\.0\.0\.1:$NEW .*\+switch-master from sentinel" 30
check "writes resume on the new master" \
    wait_line "$A" "$t0" "^(ok|unacked) [0-9]+ 127\.0\.0\.1:$NEW( |$)" 30
note "SENTINEL FAILOVER: first write on the new master $((LINE_MS - t0)) ms after the command"
check "the connection to the old master was dropped because the master moved" \
    wait_line "$A" "$t0" "^drop 127\.0\.0\.1:$OLD " 1
check "acknowledged writes (WAIT 1) resume once the old master is the new one's replica" \
    wait_line "$A" "$t0" "^ok [0-9]+ 127\.0\.0\.1:$NEW acked 1$" 60
note "SENTINEL FAILOVER: first write acknowledged by a replica $((LINE_MS - t0)) ms after the command"
check "the old master is now a replica" sn_wait_role "$OLD" slave 30

# --- a demoted master answering -READONLY ----------------------------------------------

# Writer B has no watcher and writes to NEW.  Sentinel moves the master back
# to OLD; then NEW is demoted by hand, without the client kill Sentinel
# would send ~10 s later, so B's open connection meets -READONLY.
B=$W/writer-b.out
sn_bg "$B" "$PROBE" "${CLIENT[@]}" -w 0 follow it:other 600
PID_B=$SN_BG_PID
check "writer B (no watcher) writes on the current master" \
    wait_line "$B" 0 "^ok [0-9]+ 127\.0\.0\.1:$NEW$" 30
t1=$(now_ms)
check "SENTINEL FAILOVER back to the first master accepted" sn_failover
check "the sentinels name the first master again" sn_wait_master_not "$NEW" 30
check "the first master is a master again" sn_wait_role "$OLD" master 30
sn_cli "$NEW" REPLICAOF 127.0.0.1 "$OLD" >/dev/null
t2=$(now_ms)
check "writer B meets -READONLY on the demoted master and looks for the master again" \
    wait_line "$B" "$t1" "^fail 127\.0\.0\.1:$NEW rediscover READONLY " 30
check "writer B found the new master and writes there" \
    wait_line "$B" "$t2" "^ok [0-9]+ 127\.0\.0\.1:$OLD$" 30
note "-READONLY: first write on the new master $((LINE_MS - t2)) ms after the demotion"
check "writer A followed the second switch too" \
    wait_line "$A" "$t1" "^(ok|unacked) [0-9]+ 127\.0\.0\.1:$OLD( |$)" 30

# --- the watcher's sentinel hangs -------------------------------------------------------

# SIGSTOP: the connection stays open but nothing answers, as with a host
# gone without a reset.  The PING keepalive notices; another sentinel
# takes over the subscription.
WATCHED=$(sed -n 's/.* event watching .* on sentinel 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$A" | tail -1)
WATCHED_PID=$(cat "$W/sentinel/$WATCHED/sentinel.pid" 2>/dev/null)
t5=$(now_ms)
kill -STOP "$WATCHED_PID"
check "the watcher notices its sentinel stopped answering (PING keepalive)" \
    wait_line "$A" "$t5" \
        "^event trouble lost the \+switch-master subscription on sentinel 127\.0\.0\.1:$WATCHED: no answer to PING" 30
check "the watcher subscribes on another sentinel" \
    wait_line "$A" "$t5" "^event watching .* on sentinel 127\.0\.0\.1:[0-9]+$" 30
check "... not the hung one" \
    test -z "$(awk -v t="$t5" '$1 >= t && /event watching/' "$A" | grep -F "127.0.0.1:$WATCHED")"
kill -CONT "$WATCHED_PID"

# --- kill -9 of the master ----------------------------------------------------------------

check "before the crash: writes acknowledged by the replica again" \
    wait_line "$A" "$t2" "^ok [0-9]+ 127\.0\.0\.1:$OLD acked 1$" 60
t3=$(now_ms)
stop_redis "$OLD" KILL
check "the sentinels promote the replica" sn_wait_master_not "$OLD" 60
check "writer A writes on the promoted replica" \
    wait_line "$A" "$t3" "^(ok|unacked) [0-9]+ 127\.0\.0\.1:$NEW( |$)" 60
note "kill -9: first write on the promoted replica $((LINE_MS - t3)) ms after the kill"
check "writer B writes on the promoted replica" \
    wait_line "$B" "$t3" "^ok [0-9]+ 127\.0\.0\.1:$NEW$" 60
check "meanwhile the writers said why they could not write (the master named is down)" \
    wait_line "$A" "$t3" \
        "^nomaster no Redis master \"$SN_NAME\" found: .*127\.0\.0\.1:$OLD: Connection refused" 1

# The killed server comes back empty: Sentinel makes it a replica of the
# new master, and WAIT 1 is satisfied again.
sn_start_redis "$OLD" || exit 1
t4=$(now_ms)
check "the killed master comes back as a replica: acknowledged writes resume" \
    wait_line "$A" "$t4" "^ok [0-9]+ 127\.0\.0\.1:$NEW acked 1$" 60

check "no write acknowledged by WAIT 1 was lost through two failovers and a crash" \
    no_acked_write_lost "$A"
check "writer A stops cleanly" clean_exit "$PID_A" "$A"
check "writer B stops cleanly" clean_exit "$PID_B" "$B"
