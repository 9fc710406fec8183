#!/bin/bash
#
# bench/failover.sh - several MX nodes on one highly available Redis: what
# two nodes sharing it deliver against one node, and how long a Redis
# failover defers mail.  One command, one machine, side by side in one run.
#
#   bench/failover.sh [--runs N] [--messages M] [--sessions S] [--keep]
#   (make bench-failover; as root: private Postfix instances, smtp-sink)
#
# Set-up (the test libraries tests/lib/{harness,sentinel,nodes}.sh): a
# master, a replica and three sentinels on loopback; two nodes, each a
# private Postfix with its own mssante-milter, entered through the
# sentinels with RedisMinReplicas 1 unless said otherwise; every node
# relays to one smtp-sink.
#
# Throughput: M messages (1 KiB) over S sessions, either all into node A,
# or half into each node at the same time (two smtp-source, S/2 sessions
# each); the time runs until smtp-sink has received all M (-M exits then).
# Two kinds of traffic: "plain" (outbound to an MSSante peer: nothing in
# Redis on the path) and "patient" (outbound to one patient: a conversation
# written and acknowledged by a replica, WAIT 1, for every message).  Odd
# runs measure one node first, even runs two nodes first; the report gives
# medians and the two-to-one ratio taken within each run.
#
# Failover window: bench/smtpprobe.py keeps 4 sessions sending through
# both nodes, alternating patient and plain messages, and logs every
# reply; meanwhile SENTINEL FAILOVER, then kill -9 of the new master
# (started again, empty, 3 s after every sentinel names the promoted
# replica, to become its replica),
# with RedisMinReplicas 1 and then 0.  For each event: how many 4xx, from
# when to when after the event, and the longest stretch without a 250 for
# patient mail; plain mail should see none.
#
# Every process started here is stopped on exit.
set -u

RUNS=3
MESSAGES=2000
SESSIONS=10
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=${2:-}; shift ;;
    --messages) MESSAGES=${2:-}; shift ;;
    --sessions) SESSIONS=${2:-}; shift ;;
    --keep) export MSSANTE_KEEP_TMP=1 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "failover.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for n in "$RUNS" "$MESSAGES" "$SESSIONS"; do
    case "$n" in ''|*[!0-9]*) echo "failover.sh: not a number: $n" >&2; exit 2 ;; esac
done
[ $((SESSIONS % 2)) = 0 ] && [ $((MESSAGES % 2)) = 0 ] ||
    { echo "failover.sh: --messages and --sessions must be even (split over two nodes)" >&2; exit 2; }

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../tests/lib/harness.sh"
h_require_root
h_require_built
sn_require
for b in smtp-source smtp-sink; do
    command -v "$b" >/dev/null 2>&1 || { echo "failover.sh: $b is not installed" >&2; exit 2; }
done
h_init
PY=/usr/bin/python3
PROBE=$H_ROOT/bench/smtpprobe.py
log() { echo "[bench] $(date +%T) $*" >&2; }
now() { date +%s.%N; }
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- set-up

SN_PASS=bench-default
SN_USERS=("mssante on >bench-client ~mssante:* +@all -@dangerous +role +info")
log "a master, a replica, three sentinels"
sn_start || exit 1

node_settings() {
    cat >>"$1" <<EOF
RedisSentinels $SN_LIST
RedisMasterName $SN_NAME
RedisUser mssante
RedisPassword bench-client
RedisMinReplicas $2
RedisTimeout 1s
WhitelistPoll 1s
EOF
    # One verdict line per message would be much of the daemon's work.
    sed -i 's/^LogLevel .*/LogLevel notice/' "$1"
}
CTLCONF=$W/ctl.conf
milter_conf "$CTLCONF"
node_settings "$CTLCONF" 1
"$CTL_BIN" -c "$CTLCONF" whitelist load "$FIXTURES/it-list.xml" >/dev/null ||
    { echo "failover.sh: whitelist load failed" >&2; exit 1; }

free_port SINK_PORT || exit 1
for n in A B; do
    node_postfix "$n" || exit 1
    node_conf "$n" "$W/node-$n.conf"
done
# start_nodes MINREPLICAS: both daemons with that RedisMinReplicas.
start_nodes() {
    local n
    for n in A B; do
        node_stop "$n" quiet
        node_conf "$n" "$W/node-$n.conf"
        node_settings "$W/node-$n.conf" "$1"
        node_milter "$n" "$W/node-$n.conf" || exit 1
    done
}
start_nodes 1

# ---------------------------------------------------------------- throughput

PATIENT=$(python3 -c 'n = "1790675%06d" % 4242; print("%s%02d" % (n, 97 - int(n) % 97))')
RCPT_plain=confrere@medecin.mssante.fr
RCPT_patient=$PATIENT@patient.mssante.fr
RESULTS=$W/throughput.tsv        # run kind nodes seconds rate status
: >"$RESULTS"

# measure RUN KIND NODES: M messages through one node or two.
measure() {
    local run=$1 kind=$2 nodes=$3 rcpt sink t0 t1 rc status=ok p1 p2
    rcpt=RCPT_$kind
    rcpt=${!rcpt}
    for n in A B; do postsuper -c "${NODE_ETC[$n]}" -d ALL >/dev/null 2>&1; done
    timeout 300 smtp-sink -u nobody -c -M "$MESSAGES" "127.0.0.1:$SINK_PORT" 256 \
        >"$W/sink.out" 2>&1 &
    sink=$!
    wait_listen "$SINK_PORT" 10 "$sink" || { echo "failover.sh: smtp-sink did not start" >&2; exit 1; }
    t0=$(now)
    if [ "$nodes" = 1 ]; then
        timeout 300 smtp-source -4 -s "$SESSIONS" -m "$MESSAGES" -l 1024 \
            -f dr.bench@chu-test.mssante.fr -t "$rcpt" "127.0.0.1:${NODE_SMTP[A]}" \
            >"$W/source-A.out" 2>&1
    else
        timeout 300 smtp-source -4 -s $((SESSIONS / 2)) -m $((MESSAGES / 2)) -l 1024 \
            -f dr.bench@chu-test.mssante.fr -t "$rcpt" "127.0.0.1:${NODE_SMTP[A]}" \
            >"$W/source-A.out" 2>&1 &
        p1=$!
        timeout 300 smtp-source -4 -s $((SESSIONS / 2)) -m $((MESSAGES / 2)) -l 1024 \
            -f dr.bench@chu-test.mssante.fr -t "$rcpt" "127.0.0.1:${NODE_SMTP[B]}" \
            >"$W/source-B.out" 2>&1 &
        p2=$!
        wait "$p1" "$p2"
    fi
    wait "$sink"
    rc=$?
    t1=$(now)
    [ "$rc" = 0 ] || status="incomplete(sink rc $rc)"
    awk -v r="$run" -v k="$kind" -v n="$nodes" -v m="$MESSAGES" -v a="$t0" -v b="$t1" \
        -v st="$status" 'BEGIN { d = b - a; printf "%s\t%s\t%s\t%.3f\t%.1f\t%s\n",
                                 r, k, n, d, m / d, st }' >>"$RESULTS"
    log "run $run $kind, $nodes node(s): $(tail -1 "$RESULTS" | cut -f5) msg/s ($status)"
}

for run in $(seq 1 "$RUNS"); do
    for kind in plain patient; do
        if [ $((run % 2)) = 1 ]; then
            measure "$run" "$kind" 1
            measure "$run" "$kind" 2
        else
            measure "$run" "$kind" 2
            measure "$run" "$kind" 1
        fi
    done
done

# ---------------------------------------------------------------- failovers

# A sink that takes everything for the probe.
smtp-sink -u nobody -c "127.0.0.1:$SINK_PORT" 256 >"$W/sink-probe.out" 2>&1 &
SN_BG_PIDS+=("$!")
wait_listen "$SINK_PORT" 10 || exit 1
EVENTS=$W/events.tsv             # minreplicas event time
: >"$EVENTS"
PROBE_OUT=$W/probe.log           # time kind node code
: >"$PROBE_OUT"

replica_online() {
    local i
    for i in $(seq 1 900); do
        "$CTL_BIN" -c "$CTLCONF" redis status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "failover.sh: no replica online after 90s" >&2
    return 1
}

# failovers MINREPLICAS: the probe running, a SENTINEL FAILOVER, then
# kill -9 of the new master, each followed by quiet time.
failovers() {
    local min=$1 probe dead
    start_nodes "$min"
    rm -f "$W/probe.stop"
    "$PY" "$PROBE" --ports "${NODE_SMTP[A]},${NODE_SMTP[B]}" --stop "$W/probe.stop" \
        --out "$PROBE_OUT.$min" --threads 4 --patient-base $((min * 100 + 7000)) &
    probe=$!
    sleep 5
    log "RedisMinReplicas $min: SENTINEL FAILOVER"
    printf '%s\tfailover\t%s\n' "$min" "$(now)" >>"$EVENTS"
    sn_failover || exit 1
    sn_wait_master_not "$SN_MASTER" 30 || exit 1
    replica_online || exit 1
    sleep 8
    dead=$SN_MASTER
    log "RedisMinReplicas $min: kill -9 of the master ($dead)"
    printf '%s\tkill9\t%s\n' "$min" "$(now)" >>"$EVENTS"
    stop_redis "$dead" KILL
    sn_wait_master_not "$dead" 60 || exit 1
    sn_wait_all_name "$SN_MASTER" 60 || exit 1
    sleep 3
    sn_start_redis "$dead" || exit 1
    replica_online || exit 1
    sleep 8
    printf '%s\tend\t%s\n' "$min" "$(now)" >>"$EVENTS"
    touch "$W/probe.stop"
    wait "$probe"
}
failovers 1
failovers 0

# ---------------------------------------------------------------- the report

ELAPSED=$(($(date +%s) - T_START))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)

echo "mssante-milter: two MX nodes on one Redis (Sentinel), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPU ($CPU_MODEL), load average $LOAD_START at the start, $LOAD_END at the end; ${ELAPSED}s"
echo "Redis: a master, a replica, three sentinels on loopback; RedisMinReplicas 1 for the throughput"
echo
echo "Throughput: $MESSAGES messages of 1 KiB over $SESSIONS sessions, $RUNS runs (medians; ratio within each run)"
awk -F'\t' '
    function median(a, n,    i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    $6 != "ok" { bad[$2] = bad[$2] " run " $1 ": " $6 }
    { rate[$2, $3, ++cnt[$2, $3]] = $5; r[$1, $2, $3] = $5; runs[$1] = 1 }
    END {
        printf "  %-34s %10s %10s %14s\n", "traffic", "1 node", "2 nodes", "2 nodes / 1"
        split("plain patient", kinds, " ")
        label["plain"] = "plain (no Redis on the path)"
        label["patient"] = "patient (conversation + WAIT 1)"
        for (k = 1; k <= 2; k++) {
            kd = kinds[k]; n1 = n2 = nr = 0
            for (i = 1; i <= cnt[kd, 1]; i++) a1[++n1] = rate[kd, 1, i]
            for (i = 1; i <= cnt[kd, 2]; i++) a2[++n2] = rate[kd, 2, i]
            for (run in runs) if ((run, kd, 1) in r && (run, kd, 2) in r && r[run, kd, 1] > 0)
                ar[++nr] = r[run, kd, 2] / r[run, kd, 1]
            printf "  %-34s %10.0f %10.0f %14.2f%s\n", label[kd], median(a1, n1), median(a2, n2),
                   median(ar, nr), bad[kd] != "" ? "  (" bad[kd] " )" : ""
            delete a1; delete a2; delete ar
        }
    }' "$RESULTS"
echo
echo "Failovers under steady traffic (4 sessions through both nodes, patient and plain mail alternating)"
printf '  %-18s %-10s %8s %8s %9s %20s %18s\n' "event" "MinRepl" "patient" "4xx" "plain 4xx" "4xx from..to (s)" "no 250 for (s)"
while IFS=$'\t' read -r min ev t; do
    [ "$ev" = end ] && continue
    next=$(awk -F'\t' -v m="$min" -v t="$t" '$1 == m && $3 > t { print $3; exit }' "$EVENTS")
    awk -v t0="$t" -v t1="$next" -v ev="$ev" -v min="$min" '
        $1 >= t0 && $1 < t1 {
            if ($2 == "patient") {
                np++
                if ($4 >= 400 && $4 < 500 || $4 == 0) { n4++; if (!f) f = $1; l = $1 }
                if ($4 == 250) { if (last250 && $1 - last250 > gap) gap = $1 - last250; last250 = $1 }
                else if (!last250) last250 = t0
            } else if ($4 >= 400 && $4 < 500 || $4 == 0) p4++
        }
        END {
            name = ev == "failover" ? "SENTINEL FAILOVER" : "kill -9 master"
            span = n4 ? sprintf("+%.1f..+%.1f", f - t0, l - t0) : "-"
            printf "  %-18s %-10s %8d %8d %9d %20s %18.1f\n", name, min, np, n4, p4, span, gap
        }' "$PROBE_OUT.$min"
done <"$EVENTS"
echo
echo "(patient: patient messages answered during the event's window; 4xx: of those deferred;"
echo " no 250 for: the longest stretch without an accepted patient message)"
