#!/bin/bash
# soak.sh - thousands of mixed messages through a private Postfix and
# mssante-milter while faults are injected, then every message reconciled.
#
#   tests/soak/soak.sh [--messages N] [--schedule full|short] [--seed S]
#   (make soak SOAK_MESSAGES=N; as root: it runs a private Postfix)
#
# Everything runs on 127.0.0.1 from a private directory (the harness of the
# integration tests), as the product would run: the daemon under a
# supervising loop that restarts it when it dies (as systemd's
# Restart=always would), dropped to user nobody (-u), Redis with an
# append-only file (fsync at every write, as a server that keeps patient
# conversations would be run), the whitelist fetched by the daemon's own
# refresh thread from a mutual-TLS HTTPS server (tests/helpers/https_server.py,
# test PKI of tests/lib/pki.sh).
#
# Traffic (tests/soak/soak.py): bulk batches with smtp-source, crafted
# messages with smtplib (outbound, inbound, mixed lists, lookalikes,
# patients, conversations up to [FIN] and after, pharmacies, forwarded
# mailboxes), local submissions with sendmail(1); released evenly over the
# fault schedule, several sessions at once; every 4xx retried with a short
# backoff, as a client MTA would (local submissions: Postfix's own queue).
#
# Faults, one after the other with traffic flowing (the short schedule,
# for make check, compresses the same list):
#   kill -9 of the daemon; Redis killed (-9) and restarted; Redis paused
#   (DEBUG SLEEP) longer than RedisTimeout; Redis at maxmemory refusing
#   writes (noeviction); a value of the wrong type in the conversation
#   keys, the forwarding rules, the notice queue, wl:current, each then
#   repaired; 100 reloads (SIGHUP) in a row; the whitelist server answering
#   garbage, a truncated list, one byte a second; the snapshot directory
#   read-only while a new list is swapped in; kill -9 of the daemon while
#   Redis is down (a cold start from the snapshot).
#
# Then the queue is flushed and drained (bounded), and every message is
# reconciled against the expectation soak.py computed when it built it.
# Output: one line per fault (what, how many 4xx, recovery time), the
# totals, the held messages with their reason, the daemon's restarts, and
# last `lost=N wrong_accept=N wrong_refuse=N duplicated=N`.  Exit status 0
# when those are all 0, no daemon died on its own, and no sanitizer spoke.
# MSSANTE_KEEP_TMP=1 keeps the work directory (plan, results, logs, sink).
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

MESSAGES=${SOAK_MESSAGES:-10000}
SCHEDULE=${SOAK_SCHEDULE:-}
SEED=${SOAK_SEED:-13}
while [ $# -gt 0 ]; do
    case $1 in
        --messages) MESSAGES=${2:-}; shift ;;
        --schedule) SCHEDULE=${2:-}; shift ;;
        --seed) SEED=${2:-}; shift ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
case $MESSAGES in ''|*[!0-9]*) echo "soak.sh: --messages: not a number" >&2; exit 2 ;; esac
[ -n "$SCHEDULE" ] || { [ "$MESSAGES" -ge 5000 ] && SCHEDULE=full || SCHEDULE=short; }
case $SCHEDULE in
    full)  DURATION=240; GAP=6; HOLD=5; THINK=20 ;;
    short) DURATION=130; GAP=3; HOLD=3; THINK=10 ;;
    *) echo "soak.sh: --schedule full|short" >&2; exit 2 ;;
esac
DEADLINE=$((DURATION + 180))     # last retry of a deferred message
DRAIN=180                        # queue and notices, after the traffic

[ "$(id -u)" = 0 ] || { echo "soak.sh: run as root (a private Postfix)" >&2; exit 2; }
for b in postfix postconf postqueue postcat postkick sendmail smtp-source redis-server redis-cli ss openssl; do
    command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$b" >/dev/null 2>&1 || { echo "soak.sh: $b is not installed" >&2; exit 2; }
done
for f in "$MILTER_BIN" "$CTL_BIN" "$CAPSINK_BIN"; do
    [ -x "$f" ] || { echo "soak.sh: $f missing: make BUILD=$BUILD" >&2; exit 2; }
done
PY=/usr/bin/python3
SOAK=$H_ROOT/tests/soak/soak.py
T_START=$(date +%s)

h_init
SERVER_PID=
SUP_PID=
TRAFFIC_PID=
# shellcheck disable=SC2317  # called by the EXIT trap
soak_cleanup() {
    local rc=$?
    [ -n "$TRAFFIC_PID" ] && kill "$TRAFFIC_PID" 2>/dev/null
    stop_supervisor
    [ -n "$SERVER_PID" ] && { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; }
    (exit "$rc")
    h_cleanup
}
trap soak_cleanup EXIT

say() { echo "[soak] $(date +%T) $*" >&2; }
now() { date +%s.%N; }

# ---------------------------------------------------------------- services

# Redis with an append-only file, fsync'ed at every write: a kill -9 loses
# nothing it acknowledged.  DEBUG is allowed from loopback for the pause.
soak_redis() {
    local d=$W/redis/$REDIS_PORT
    mkdir -p "$d"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
        --appendonly yes --appendfsync always --enable-debug-command local \
        --maxmemory-policy noeviction --daemonize yes --pidfile "$d/redis.pid" \
        --dir "$d" --logfile "$d/redis.log" >/dev/null || return 1
    local _
    for _ in $(seq 1 100); do
        [ -s "$d/redis.pid" ] && break
        sleep 0.05
    done
    wait_listen "$REDIS_PORT" 20 || return 1
    # Listening is not serving: the append-only file is read first.
    for _ in $(seq 1 200); do
        [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    return 1
}
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# The whitelists served: v1 is loaded first; v2, v3 each add one domain no
# message uses (a swap that changes no verdict).
gen_list() {
    local file=$1 date=$2
    shift 2
    awk -v d="$date" -v extra="$*" 'BEGIN {
        print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        print "<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">"
        print "  <DateDeGeneration>" d "</DateDeGeneration>"
        print "  <ListeDomaines>"
        m = split("chu-test.mssante.fr autre-site.chu-test.mssante.fr medecin.mssante.fr " \
                  "chu-lille.mssante.fr pharmacien.mssante.fr interop-mssante.apicrypt.org " \
                  "mssante.apicrypt.org patient.mssante.fr " extra, names, " ")
        for (i = 1; i <= 60; i++)
            names[++m] = sprintf("etab-%04d.mssante.fr", i)
        for (i = 1; i <= m; i++) {
            printf "    <Domaine><Nom>%s</Nom><Description>Soak %d</Description>", names[i], i
            printf "<DNCertificatOperateur>CN=mx%d.operateur.test,O=Operateur,C=FR</DNCertificatOperateur>", i % 4
            print "<DateMAJ>2025-01-27T15:49:34Z</DateMAJ></Domaine>"
        }
        print "  </ListeDomaines>"
        print "</ListeBlancheMSSante>"
    }' >"$file"
}

serve() { cp "$1" "$WWW/.liste.tmp" && mv "$WWW/.liste.tmp" "$WWW/liste.xml"; }
server_mode() { echo "$1" >"$W/server.mode"; }

# ---------------------------------------------------------------- the daemon

# The supervising loop: restart the daemon whenever it exits, until
# $W/stop exists.  Every start and exit is logged with its status.
supervise() {
    local pid rc
    while [ ! -e "$W/stop" ]; do
        echo "=== start $(now)" >>"$MLOG"
        "$MILTER_BIN" -f -c "$CONF" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody >>"$MLOG" 2>&1 &
        pid=$!
        echo "$pid" >"$W/milter.pid"
        wait "$pid"
        rc=$?
        echo "=== exit $(now) status $rc" >>"$MLOG"
        echo "$rc" >>"$W/exits"
        [ -e "$W/stop" ] && break
        sleep 0.3
    done
}

milter_pid() { cat "$W/milter.pid" 2>/dev/null; }

# wait_new_daemon OLDPID SECONDS: a new daemon runs and listens.
wait_new_daemon() {
    local old=$1 secs=$2 p
    for _ in $(seq 1 $((secs * 10))); do
        p=$(milter_pid)
        if [ -n "$p" ] && [ "$p" != "$old" ] && kill -0 "$p" 2>/dev/null && port_listening "$MILTER_PORT"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

stop_supervisor() {
    [ -n "$SUP_PID" ] || return 0
    touch "$W/stop"
    local p
    p=$(milter_pid)
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    wait_pid_gone "$SUP_PID" 30 || { kill -9 "$p" 2>/dev/null; kill "$SUP_PID" 2>/dev/null; }
    wait "$SUP_PID" 2>/dev/null
    SUP_PID=
}

# log_count REGEX: lines of the daemon's log matching REGEX.
log_count() { grep -E -c -- "$1" "$MLOG" 2>/dev/null; }

# wait_log_count REGEX N SECONDS: until at least N lines match.
wait_log_count() {
    local _
    for _ in $(seq 1 $(($3 * 10))); do
        [ "$(log_count "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- set-up

say "work directory $W; $MESSAGES messages, $SCHEDULE schedule (${DURATION}s of traffic)"
MLOG=$W/milter/milter.log
: >"$MLOG"
: >"$W/faults.tsv"
: >"$W/exits"
: >"$W/kills"
: >"$W/terms"

# shellcheck source=tests/lib/pki.sh
. "$H_ROOT/tests/lib/pki.sh"
pki_make "$W/pki" 2>"$W/pki.err" || { cat "$W/pki.err" >&2; exit 1; }
PKI=$W/pki
mkdir -p "$W/nobody" "$W/snap" "$W/state"
cp "$PKI/client.pem" "$PKI/client.key" "$W/nobody/"
chown -R nobody "$W/nobody" "$W/snap" "$W/state"
WWW=$W/www
mkdir -p "$WWW"
gen_list "$W/v1.xml" 2025-03-13T14:54:10Z
gen_list "$W/v2.xml" 2025-03-20T08:00:00Z clinique-nouvelle.mssante.fr
gen_list "$W/v3.xml" 2025-03-27T08:00:00Z clinique-nouvelle.mssante.fr centre-soak.mssante.fr
serve "$W/v1.xml"
server_mode normal
"$PY" "$H_ROOT/tests/helpers/https_server.py" --dir "$WWW" --port-file "$W/server.port" \
    --log "$W/server.log" --cert "$PKI/server.pem" --key "$PKI/server.key" \
    --require-client-cert "$PKI/ca.pem" --mode-file "$W/server.mode" >/dev/null 2>"$W/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$W/server.port" ] && break; sleep 0.05; done
[ -s "$W/server.port" ] || { cat "$W/server.err" >&2; exit 1; }
URL=https://127.0.0.1:$(cat "$W/server.port")/liste.xml

start_capsink || exit 1
free_port REDIS_PORT || exit 1
soak_redis || { echo "soak.sh: redis did not start" >&2; exit 1; }
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

SNAP=$W/snap/whitelist.snapshot
SHUTDOWN_S=5
CONF=$W/milter/soak.conf
cat >"$CONF" <<EOF
# written by soak.sh
LocalDomains chu-test.mssante.fr, autre-site.chu-test.mssante.fr
LogLevel info
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
SnapshotFile $SNAP
WhitelistPoll 1s
WhitelistURL $URL
WhitelistCAFile $PKI/ca.pem
WhitelistClientCert $W/nobody/client.pem
WhitelistClientKey $W/nobody/client.key
WhitelistMinDomains 3
WhitelistRefresh 2s
WhitelistConnectTimeout 3s
WhitelistTimeout 6s
PharmacyMailboxes pharmacie@chu-test.mssante.fr
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
NotifyRetry 1s
NotifyRetryMax 2s
NotifyTimeout 5s
StatsFile $W/state/stats.prom
LogPatientIdKeyFile $W/state/logid.key
HeldKeyFile $W/state/held.key
StatsInterval 2s
ShutdownTimeout ${SHUTDOWN_S}s
EOF
chmod 644 "$CONF"
# mssantectl's copy: no SnapshotFile, so that only the daemon writes it, and
# a RedisTimeout for a loaded machine: the soak's set-up and repairs are not
# what is under test (the daemon's 500ms is), and a set-up step that times
# out would only cancel the run.
CTLCONF=$W/ctl.conf
{ grep -v -E '^(SnapshotFile|RedisTimeout) ' "$CONF"; echo "RedisTimeout 10s"; } >"$CTLCONF"
ctl() { "$CTL_BIN" -c "$CTLCONF" "$@"; }

ctl whitelist load "$W/v1.xml" >"$W/ctl.out" 2>&1 || { cat "$W/ctl.out" >&2; exit 1; }
"$PY" "$SOAK" plan --dir "$W" --messages "$MESSAGES" --seed "$SEED" --think "$THINK" --slow 16 >&2 || exit 1
while read -r mailbox mode target; do
    ctl forwards add "$mailbox" "$mode" "$target" >>"$W/ctl.out" 2>&1 ||
        { echo "soak.sh: forwards add $mailbox failed" >&2; cat "$W/ctl.out" >&2; exit 1; }
done <"$W/forwards.txt"

supervise 2>>"$W/supervise.err" &
SUP_PID=$!
wait_new_daemon "" 30 || { echo "soak.sh: the daemon did not start" >&2; tail -20 "$MLOG" >&2; exit 1; }

# ---------------------------------------------------------------- faults

# fault NAME START REPAIRED WHAT [NOTE]
fault() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$W/faults.tsv"
    say "fault $1 done: $4 ${5:-}"
}

f_kill_daemon() {
    local t0 t1 p
    p=$(milter_pid)
    t0=$(now)
    kill -9 "$p" && echo "$p" >>"$W/kills"
    if wait_new_daemon "$p" 60; then t1=$(now); else t1=$(now); fi
    fault kill9-daemon "$t0" "$t1" "kill -9 of the daemon, restarted by the supervising loop" \
        "(back in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s)"
}

f_redis_kill() {
    local t0 t1 before after
    before=$(rcli DBSIZE)
    t0=$(now)
    stop_redis "$REDIS_PORT" KILL
    sleep "$HOLD"
    soak_redis
    t1=$(now)
    after=$(rcli DBSIZE)
    fault redis-kill "$t0" "$t1" "Redis killed (-9), restarted after ${HOLD}s" \
        "(keys before $before, after restart $after)"
}

f_redis_pause() {
    local t0 t1 secs=$((HOLD + 1))
    t0=$(now)
    rcli DEBUG SLEEP "$secs" >/dev/null 2>&1
    t1=$(now)
    fault redis-pause "$t0" "$t1" "Redis paused (DEBUG SLEEP ${secs}) > RedisTimeout 500ms"
}

f_redis_maxmemory() {
    local t0 t1 refused
    t0=$(now)
    rcli CONFIG SET maxmemory 1 >/dev/null
    refused=$(rcli SET soak:probe x 2>&1)
    sleep "$HOLD"
    rcli CONFIG SET maxmemory 0 >/dev/null
    t1=$(now)
    fault redis-maxmemory "$t0" "$t1" "Redis at maxmemory, noeviction, for ${HOLD}s" \
        "(a write got: ${refused%%.*})"
}

# Swap KEY for a value of another type, keeping the original under
# KEY.soak-backup; the repair puts it back unless the daemon replaced our
# value meanwhile (then the daemon's value stays).
WRONG_TYPE='local t = redis.call("TYPE", KEYS[1]).ok
if t ~= "none" then redis.call("RENAME", KEYS[1], KEYS[2]) end
if t == "string" then redis.call("RPUSH", KEYS[1], "soak-wrongtype")
else redis.call("SET", KEYS[1], "soak-wrongtype") end
return t'
REPAIR='local t = redis.call("TYPE", KEYS[1]).ok
local ours = (t == "none")
if t == "string" then ours = redis.call("GET", KEYS[1]) == "soak-wrongtype" end
if t == "list" then ours = redis.call("LLEN", KEYS[1]) == 1 and redis.call("LINDEX", KEYS[1], 0) == "soak-wrongtype" end
if not ours then redis.call("DEL", KEYS[2]) return 2 end
redis.call("DEL", KEYS[1])
if redis.call("EXISTS", KEYS[2]) == 1 then redis.call("RENAME", KEYS[2], KEYS[1]) end
return 1'

# f_wrong_type NAME WHAT PATTERN...: every key matching a PATTERN (or the
# key itself when it does not exist yet) gets a wrong-type value for HOLD s.
f_wrong_type() {
    local name=$1 what=$2 t0 t1 k n=0 kept=0 pat keys=()
    shift 2
    for pat in "$@"; do
        case $pat in
            *'*'*) while IFS= read -r k; do [ -n "$k" ] && keys+=("$k"); done \
                       < <(rcli --scan --pattern "$pat" | grep -v 'soak-backup$') ;;
            *) keys+=("$pat") ;;
        esac
    done
    t0=$(now)
    for k in "${keys[@]}"; do
        rcli EVAL "$WRONG_TYPE" 2 "$k" "$k.soak-backup" >/dev/null && n=$((n + 1))
    done
    sleep "$HOLD"
    for k in "${keys[@]}"; do
        [ "$(rcli EVAL "$REPAIR" 2 "$k" "$k.soak-backup")" = 2 ] && kept=$((kept + 1))
    done
    t1=$(now)
    fault "$name" "$t0" "$t1" "$what: $n key(s) of the wrong type for ${HOLD}s, then repaired" \
        "($kept rewritten by the daemon meanwhile)"
}

f_sighup() {
    local t0 t1 p before ok=0
    p=$(milter_pid)
    t0=$(now)
    for _ in $(seq 1 100); do
        before=$(log_count 'reloaded ')
        kill -HUP "$p" 2>/dev/null || break
        wait_log_count 'reloaded ' $((before + 1)) 5 && ok=$((ok + 1))
    done
    t1=$(now)
    fault sighup-x100 "$t0" "$t1" "100 SIGHUP in a row" "($ok reloads logged, same pid: $(
        [ "$(milter_pid)" = "$p" ] && echo yes || echo no))"
}

# A daemon killed -9 in the middle of a fetch leaves the fetch lock
# behind, and every fetch waits until it expires by itself
# (WhitelistConnectTimeout + WhitelistTimeout + 60 s): that is the design
# (README, "Several MX nodes").  Before a fault that needs the refresh
# thread to fetch, wait for such a lock to go; LOCK_NOTE says so.
wait_dead_lock() {
    local holder pid t
    LOCK_NOTE=
    holder=$(rcli GET mssante:wl:fetch:lock)
    [ -n "$holder" ] || return 0
    pid=$(cut -d: -f2 <<<"$holder")
    kill -0 "$pid" 2>/dev/null && return 0
    t=$(date +%s)
    for _ in $(seq 1 900); do
        [ -z "$(rcli GET mssante:wl:fetch:lock)" ] && break
        sleep 0.1
    done
    LOCK_NOTE=" (first waited $(($(date +%s) - t))s for the fetch lock of killed daemon $pid to expire)"
}

# f_server NAME MODE WHAT: the whitelist server misbehaves until the
# daemon's refresh thread has tried it twice (or once for the trickle,
# which lasts WhitelistTimeout); mssantectl whitelist fetch too.
f_server() {
    local name=$1 mode=$2 what=$3 t0 t1 before fetch rc tries=2 secs=20 stalled
    [ "$mode" = trickle ] && { tries=1; secs=30; }
    wait_dead_lock
    before=$(grep -c " status=200 .*$mode" "$W/server.log" 2>/dev/null)
    t0=$(now)
    server_mode "$mode"
    stalled=" STALLED: the daemon's refresh thread did not fetch within ${secs}s"
    for _ in $(seq 1 $((secs * 10))); do
        [ "$(grep -c " status=200 .*$mode" "$W/server.log")" -ge $((before + tries)) ] &&
            { stalled=; break; }
        sleep 0.1
    done
    fetch=$(ctl whitelist fetch 2>&1)
    rc=$?
    [ "$mode" = trickle ] && wait_log_count 'whitelist fetch: .*(failed|refused)' 1 15
    server_mode normal
    t1=$(now)
    fault "$name" "$t0" "$t1" "$what" \
        "(requests: $(($(grep -c " status=200 .*$mode" "$W/server.log") - before)); mssantectl fetch exit $rc: $(tail -1 <<<"$fetch" | cut -c1-90))$stalled$LOCK_NOTE"
}

# The snapshot directory read-only while the fetcher publishes v2 and the
# daemon swaps it in; then writable again and v3: the snapshot follows.
f_snapshot_ro() {
    local t0 t1 v before note
    wait_dead_lock
    before=$(stat -c %Y "$SNAP" 2>/dev/null)
    t0=$(now)
    chmod 0555 "$W/snap"
    serve "$W/v2.xml"
    wait_log_count 'whitelist swapped: ' $(($(log_count 'whitelist swapped: ') + 1)) 20
    sleep "$HOLD"
    note="snapshot $( [ "$(stat -c %Y "$SNAP" 2>/dev/null)" = "$before" ] && echo unchanged || echo CHANGED) while read-only"
    chmod 0755 "$W/snap"
    t1=$(now)
    serve "$W/v3.xml"
    if wait_log_count 'whitelist swapped: ' $(($(log_count 'whitelist swapped: ') + 1)) 20; then
        v=$(ctl whitelist status 2>/dev/null | sed -n 's/^version: *\([0-9]*\).*/\1/p' | head -1)
        sleep 1
        note="$note; v3 (version ${v:-?}) swapped in after, snapshot $( [ "$(stat -c %Y "$SNAP")" != "$before" ] && echo rewritten || echo NOT rewritten)"
    fi
    fault snapshot-ro "$t0" "$t1" "snapshot directory read-only while a new list is swapped in" "($note)$LOCK_NOTE"
}

# SIGTERM of the daemon (a restart, as systemctl restart does) while
# messages are in flight, some of them held open in the middle of DATA by
# soak.py: they finish around ShutdownTimeout, while the daemon gives up
# on them and tears down, one every 60 ms.  The supervising loop starts it
# again.
f_term_restart() {
    local t0 t1 p ready=no
    touch "$W/slow.start"
    for _ in $(seq 1 300); do
        [ -e "$W/slow.ready" ] && { ready=yes; break; }
        sleep 0.1
    done
    p=$(milter_pid)
    t0=$(now)
    kill -TERM "$p" && echo "$p" >>"$W/terms"
    sleep "$(awk -v s="$SHUTDOWN_S" 'BEGIN { print s - 0.4 }')"
    touch "$W/slow.finish"
    wait_new_daemon "$p" 60
    t1=$(now)
    fault term-restart "$t0" "$t1" "SIGTERM with messages in flight, the daemon started again" \
        "(16 messages held in DATA, finished from 0.4s before ShutdownTimeout ${SHUTDOWN_S}s on: ready=$ready; $(
        grep -c 'still in progress after' "$MLOG") stop(s) gave up waiting)"
}

# kill -9 of the daemon while Redis is down: the new one starts from the
# snapshot, without the forwarding rules (451 for local mailboxes).
f_kill_daemon_redis_down() {
    local t0 t1 p
    t0=$(now)
    stop_redis "$REDIS_PORT" KILL
    p=$(milter_pid)
    kill -9 "$p" && echo "$p" >>"$W/kills"
    wait_new_daemon "$p" 60
    sleep "$HOLD"
    soak_redis
    t1=$(now)
    fault kill9-redis-down "$t0" "$t1" "Redis killed, then kill -9 of the daemon (cold start from the snapshot), Redis back after $((HOLD))s"
}

run_faults() {
    sleep "$GAP"
    f_kill_daemon;            sleep "$GAP"
    f_redis_kill;             sleep "$GAP"
    f_redis_pause;            sleep "$GAP"
    f_redis_maxmemory;        sleep "$GAP"
    f_wrong_type wrongtype-conv "conversation keys" "mssante:conv:*" "mssante:conv-idx:*"; sleep "$GAP"
    f_wrong_type wrongtype-fwd "forwarding rules" "mssante:fwd*"; sleep "$GAP"
    f_wrong_type wrongtype-notify "notice queue" "mssante:notify:queue"; sleep "$GAP"
    f_wrong_type wrongtype-wl-current "whitelist pointer" "mssante:wl:current"; sleep "$GAP"
    f_sighup;                 sleep "$GAP"
    f_term_restart;           sleep "$GAP"
    f_server wl-garbage garbage "whitelist server answering garbage"; sleep "$GAP"
    f_server wl-truncated truncate "whitelist server sending half the list"; sleep "$GAP"
    f_server wl-trickle trickle "whitelist server sending one byte a second"; sleep "$GAP"
    f_snapshot_ro;            sleep "$GAP"
    f_kill_daemon_redis_down; sleep "$GAP"
    f_kill_daemon
}

# ---------------------------------------------------------------- the run

"$PY" "$SOAK" send --dir "$W" --smtp "$SMTP_PORT" --postfix-etc "$H_PF_ETC" \
    --duration "$DURATION" --deadline "$DEADLINE" >"$W/send.out" 2>"$W/send.err" &
TRAFFIC_PID=$!
run_faults
T_FAULTS=$(now)
say "faults done; waiting for the traffic to finish (retries until $((DEADLINE))s)"
wait "$TRAFFIC_PID"
TRAFFIC_RC=$?
TRAFFIC_PID=
cat "$W/send.out" >&2
grep -v '^\[soak\] ' "$W/send.err" >&2

# Drain: Postfix retries its deferred mail and picks up the local
# submissions left in maildrop while the milter was down; the notices go.
say "draining the Postfix queue and the notices (at most ${DRAIN}s)"
t=$(date +%s)
while [ $(($(date +%s) - t)) -lt "$DRAIN" ]; do
    postqueue -c "$H_PF_ETC" -f >/dev/null 2>&1
    postkick -c "$H_PF_ETC" public pickup W >/dev/null 2>&1
    sleep 2
    busy=$(queue_json | grep -v '"queue_name": *"hold"' | grep -c '^{')
    pending=$(ctl --json notify status 2>/dev/null | tr -d ' \n' | sed -n 's/.*"pending":\([0-9]*\).*/\1/p')
    [ "$busy" = 0 ] && [ "${pending:-1}" = 0 ] && break
done
say "drained in $(($(date +%s) - t))s (queue: ${busy} not held, notices pending: ${pending:-?})"
echo "${pending:-}" >"$W/notify.pending"
stop_supervisor

# ---------------------------------------------------------------- the report

"$PY" "$SOAK" reconcile --dir "$W" --sink "$W/sink" --postfix-etc "$H_PF_ETC" \
    --milter-log "$MLOG" >"$W/report"
RC=$?
grep -v '^lost=' "$W/report"
"$PY" "$SOAK" selfcheck --dir "$W" --sink "$W/sink" --postfix-etc "$H_PF_ETC" \
    --milter-log "$MLOG" || RC=1

# Every exit of the daemon must be one the soak caused: status 137 for
# each kill -9, 0 for each SIGTERM (and for the last one, ending the run).
starts=$(grep -c '^=== start ' "$MLOG")
kills=$(wc -l <"$W/kills")
terms=$(($(wc -l <"$W/terms") + 1))
killed=$(grep -c '^137$' "$W/exits")
stopped=$(grep -c '^0$' "$W/exits")
others=$(grep -v -c -E '^(0|137)$' "$W/exits")
crashes=$((others + (killed > kills ? killed - kills : 0) + (stopped > terms ? stopped - terms : 0)))
final=$(tail -1 "$W/exits")
[ "$final" = 0 ] || crashes=$((crashes + 1))
echo "daemon: started $starts times; kill -9 by the soak $kills, SIGTERM $terms (with the last); exits: $killed by SIGKILL, $stopped with status 0, $others other (the last: $final): crashes=$crashes"
san=$(grep -E -c 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$MLOG")
echo "sanitizer reports: $san"
[ "$san" = 0 ] || grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$MLOG" | head -40 | sed 's/^/  /'
echo "took $(($(date +%s) - T_START))s (traffic released over ${DURATION}s, faults ended at +$(awk -v a="$T_FAULTS" -v b="$T_START" 'BEGIN { printf "%.0f", a - b }')s)"
[ "$TRAFFIC_RC" = 0 ] || { echo "soak.py send failed (status $TRAFFIC_RC)"; RC=1; }
[ "$crashes" = 0 ] && [ "$san" = 0 ] || RC=1
# The reconciliation's verdict is the last line.
grep '^lost=' "$W/report" || { echo "lost=? wrong_accept=? wrong_refuse=? duplicated=?"; RC=1; }
exit "$RC"
