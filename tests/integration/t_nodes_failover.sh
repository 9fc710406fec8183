#!/bin/bash
# t_nodes_failover.sh - Redis failovers while mail flows through two MX
# nodes (issue 11): nothing lost, nothing wrongly accepted or refused,
# nothing delivered twice, no acknowledged conversation forgotten.
#
# Two nodes (tests/lib/nodes.sh) share a master, a replica and three
# sentinels (tests/lib/sentinel.sh) with RedisMinReplicas 1.  The traffic
# is the soak's (tests/soak/soak.py: outbound, inbound, mixed lists,
# patients and their conversations up to [FIN], pharmacies, forwards with
# notices, local submissions, bulk batches), spread over both nodes: the
# steps of a conversation alternate between them, and a deferred message
# is tried again through the other node.  While it flows:
#   1. SENTINEL FAILOVER (the old master stays up until Sentinel demotes
#      it, about 10 s later);
#   2. kill -9 of the new master; the old one is promoted, and the killed
#      server is started again (empty) to become its replica.
# Before each, conversations are opened through both nodes and must still
# be open afterwards.  Then both queues and the notices drain, and the
# soak's reconciler judges every message against its rules; its last line,
# "lost=0 wrong_accept=0 wrong_refuse=0 duplicated=0", is the verdict,
# with no notice sent twice and no daemon crash.
#
# FAILOVER_MESSAGES (default 400) and FAILOVER_DURATION (seconds of
# traffic, default 70) size the run.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
sn_require
for b in smtp-source postcat postkick; do
    command -v "$b" >/dev/null 2>&1 || h_skip_all "$b is not installed"
done
h_init

MESSAGES=${FAILOVER_MESSAGES:-400}
DURATION=${FAILOVER_DURATION:-70}
DEADLINE=$((DURATION + 150))
PY=/usr/bin/python3
SOAK=$H_ROOT/tests/soak/soak.py
now() { date +%s.%N; }
say() { echo "# $(date +%T) $*"; }

# ---------------------------------------------------------------- set-up

SN_PASS=default-secret-4
SN_USERS=("mssante on >client-secret-5 ~mssante:* +@all -@dangerous +role +info")
sn_start || exit 1

redis_conf() {
    cat >>"$1" <<EOF
RedisSentinels $SN_LIST
RedisMasterName $SN_NAME
RedisUser mssante
RedisPassword client-secret-5
RedisMinReplicas 1
RedisTimeout 1s
WhitelistPoll 1s
PharmacyMailboxes pharmacie@chu-test.mssante.fr
NotifyRetry 1s
NotifyRetryMax 2s
NotifyTimeout 5s
StatsInterval 2s
EOF
}
CTLCONF=$W/ctl.conf
milter_conf "$CTLCONF"
redis_conf "$CTLCONF"
sed -i 's/^RedisTimeout .*/RedisTimeout 5s/' "$CTLCONF"
ctlf() { "$CTL_BIN" -c "$CTLCONF" "$@"; }

ctlf whitelist load "$FIXTURES/it-list.xml" >"$W/ctl.out" 2>&1 ||
    { not_ok "whitelist loaded through the sentinels" "$(cat "$W/ctl.out")"; exit 1; }
"$PY" "$SOAK" plan --dir "$W" --messages "$MESSAGES" --seed 11 --think 4 --slow 0 \
    >"$W/plan.out" 2>&1 || { not_ok "traffic planned" "$(cat "$W/plan.out")"; exit 1; }
note "$(cat "$W/plan.out")"
while read -r mailbox mode target; do
    ctlf forwards add "$mailbox" "$mode" "$target" >>"$W/ctl.out" 2>&1 ||
        { not_ok "forwarding rules loaded" "$(cat "$W/ctl.out")"; exit 1; }
done <"$W/forwards.txt"

start_capsink || exit 1
for n in A B; do
    node_postfix "$n" || exit 1
    node_conf "$n" "$W/node-$n.conf"
    redis_conf "$W/node-$n.conf"
    echo "SnapshotFile $W/node-$n/snapshot" >>"$W/node-$n.conf"
    node_milter "$n" "$W/node-$n.conf" || exit 1
done
for n in A B; do
    check "node $n follows the master through the sentinels" \
        node_log_wait "$n" "watching \+switch-master for Redis master \"$SN_NAME\"" 15
done

# ---------------------------------------------------------------- markers

# Conversations opened before a failover, each acknowledged (250) through
# one node or the other; checked after it.
marker_patient() {
    "$PY" -c 'import sys; n = "1790675%06d" % int(sys.argv[1]); print("%s%02d" % (n, 97 - int(n) % 97))' "$1"
}
MARKERS=()
# open_markers ROUND: four conversations, two through each node; each
# message is retried (4xx) until accepted, within 60 s.
open_markers() {
    local round=$1 i node dr p t
    for i in 1 2 3 4; do
        node=$([ $((i % 2)) = 1 ] && echo A || echo B)
        dr=dr.marker$round.$i@chu-test.mssante.fr
        p=$(marker_patient $((round * 10 + i)))
        for t in $(seq 1 60); do
            node_send "$node" "marker-$round-$i" "$dr" "$p@patient.mssante.fr"
            grep -q '^250 ' <<<"$(smtp_reply "$LAST_TRANSCRIPT" .)" && break
            sleep 1
        done
        grep -q '^250 ' <<<"$(smtp_reply "$LAST_TRANSCRIPT" .)" ||
            { h_fail "marker $dr <-> $p never accepted: $(smtp_reply "$LAST_TRANSCRIPT" .)"; return 1; }
        MARKERS+=("$dr $p")
    done
}
# markers_open: every marker conversation is open on the master now.
markers_open() {
    local m state bad=
    for m in "${MARKERS[@]}"; do
        state=$(ctlf conversation show $m 2>&1 | sed -n 's/^state: *//p')
        [ "$state" = open ] || bad="$bad
$m: ${state:-$(ctlf conversation show $m 2>&1 | tail -1)}"
    done
    [ -z "$bad" ] || h_fail "conversations opened before the failover and not open now:$bad"
}

# fault NAME START REPAIRED WHAT [NOTE], for the reconciler's report.
fault() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$W/faults.tsv"
}
: >"$W/faults.tsv"

# replica_online: the master has a replica online again (WAIT can succeed).
replica_online() {
    local i
    for i in $(seq 1 600); do
        ctlf redis status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    h_fail "no replica online after 60s: $(ctlf redis status 2>&1)"
}

# ---------------------------------------------------------------- the run

"$PY" "$SOAK" send --dir "$W" --smtp "${NODE_SMTP[A]},${NODE_SMTP[B]}" \
    --postfix-etc "${NODE_ETC[A]},${NODE_ETC[B]}" --duration "$DURATION" \
    --deadline "$DEADLINE" --sessions 6 >"$W/send.out" 2>"$W/send.err" &
TRAFFIC_PID=$!
T_TRAFFIC=$(now)
sn_bg_track() { SN_BG_PIDS+=("$1"); }
sn_bg_track "$TRAFFIC_PID"

sleep $((DURATION / 5))
check "round 1: conversations opened through both nodes before the failover" open_markers 1
OLD=$SN_MASTER
t0=$(now)
check "SENTINEL FAILOVER accepted while mail flows" sn_failover
check "the sentinels name a new master" sn_wait_master_not "$OLD" 30
t1=$(now)
check "the old master is demoted to a replica (WAIT 1 can succeed again)" sn_wait_role "$OLD" slave 60
check "... and the new master has it online" replica_online
t2=$(now)
fault sentinel-failover "$t0" "$t2" "SENTINEL FAILOVER, the old master up until demoted" \
    "(new master after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s, replica online after $(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')s)"
check "round 1: every conversation opened before the failover is still open" markers_open
for n in A B; do
    check "node $n heard of the new master" \
        node_log_wait "$n" "Redis master \"$SN_NAME\" is now 127\.0\.0\.1:$SN_MASTER" 30
done

sleep $((DURATION / 5))
check "round 2: conversations opened through both nodes before the crash" open_markers 2
DEAD=$SN_MASTER
t0=$(now)
stop_redis "$DEAD" KILL
note "kill -9 at +$(awk -v a="$T_TRAFFIC" -v b="$t0" 'BEGIN { printf "%.0f", b - a }')s of ${DURATION}s of traffic"
check "kill -9 of the new master: the sentinels promote the replica" \
    sn_wait_master_not "$DEAD" 60
t1=$(now)
check "every sentinel names the promoted replica (before the empty server comes back)" \
    sn_wait_all_name "$SN_MASTER" 60
sleep 3
sn_start_redis "$DEAD" || exit 1
check "the killed server, back empty, becomes the new master's replica" replica_online
t2=$(now)
fault kill9-master "$t0" "$t2" "kill -9 of the master, restarted 3s after every sentinel named the new one" \
    "(promotion after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s, replica online after $(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')s)"
check "rounds 1 and 2: every conversation opened before a failover is still open" markers_open

say "faults done; the traffic retries until +${DEADLINE}s"
wait "$TRAFFIC_PID"
TRAFFIC_RC=$?
note "$(cat "$W/send.out")"
check "the traffic generator finished" test "$TRAFFIC_RC" = 0

# Drain both queues (deferred mail, local submissions) and the notices.
t=$(date +%s)
while [ $(($(date +%s) - t)) -lt 150 ]; do
    busy=0
    for n in A B; do
        postqueue -c "${NODE_ETC[$n]}" -f >/dev/null 2>&1
        postkick -c "${NODE_ETC[$n]}" public pickup W >/dev/null 2>&1
    done
    sleep 2
    for n in A B; do
        busy=$((busy + $(postqueue -c "${NODE_ETC[$n]}" -j 2>/dev/null | grep -v '"queue_name": *"hold"' | grep -c '^{')))
    done
    pending=$(ctlf --json notify status 2>/dev/null | tr -d ' \n' | sed -n 's/.*"pending":\([0-9]*\).*/\1/p')
    [ "$busy" = 0 ] && [ "${pending:-1}" = 0 ] && break
done
note "drained in $(($(date +%s) - t))s (not held: $busy, notices pending: ${pending:-?})"
echo "${pending:-}" >"$W/notify.pending"

"$PY" "$SOAK" reconcile --dir "$W" --sink "$W/sink" \
    --postfix-etc "${NODE_ETC[A]},${NODE_ETC[B]}" \
    --milter-log "${NODE_LOG[A]},${NODE_LOG[B]}" >"$W/report"
RC=$?
note "$(cat "$W/report")"
RESULT=$(grep '^lost=' "$W/report")
check "reconciled: $RESULT" test "$RC" = 0 -a "$RESULT" = "lost=0 wrong_accept=0 wrong_refuse=0 duplicated=0"
check "no notice sent twice, none missing" \
    grep -q -E '^notices expected=[0-9]+ received=[0-9]+ missing=0 extra=0 unexpected_targets=0 ' "$W/report"
check "the reconciler can fail (a planted duplicate, loss and wrong delivery are counted)" \
    "$PY" "$SOAK" selfcheck --dir "$W" --sink "$W/sink" \
        --postfix-etc "${NODE_ETC[A]},${NODE_ETC[B]}" \
        --milter-log "${NODE_LOG[A]},${NODE_LOG[B]}"
# The daemons' background users of Redis followed the master too: each
# node's stats publisher writes to the last one, and each whitelist poller
# swaps in a version published there.
# nodes_on_master: stats --nodes lists A and B publishing to SN_MASTER.
nodes_on_master() {
    local i out
    for i in $(seq 1 100); do
        out=$(ctlf stats --nodes 2>&1)
        grep -q -E "^A .* redis_master=127\.0\.0\.1:$SN_MASTER$" <<<"$out" &&
            grep -q -E "^B .* redis_master=127\.0\.0\.1:$SN_MASTER$" <<<"$out" && return 0
        sleep 0.1
    done
    h_fail "stats --nodes does not show both nodes on 127.0.0.1:$SN_MASTER:
$out"
}
check "after the failovers: both nodes publish their counters to the master (stats --nodes)" \
    nodes_on_master
check "after the failovers: a new whitelist version published" \
    ctlf whitelist load "$FIXTURES/it-list-v2.xml"
V2=$(ctlf --json whitelist status 2>/dev/null |
     "$PY" -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)
for n in A B; do
    check "node $n swaps to it (its poller follows the master)" \
        node_log_wait "$n" "whitelist swapped: version=$V2 " 15
done

for n in A B; do
    check "node $n is still the process that started (no crash)" kill -0 "${NODE_PID[$n]}"
    node_stop "$n"
done
