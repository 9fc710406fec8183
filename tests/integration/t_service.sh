#!/bin/bash
# t_service.sh - the daemon as a service, through a real Postfix and Redis:
#  - a unix socket in the test directory, created with SocketMode 0660 and
#    owned by the -u user and group (nobody:postfix); the process runs as
#    that user and group after start (/proc/PID/status);
#  - reloads (SIGHUP, SIGUSR1) with good, broken and unreadable files while
#    mail flows: every message answered and judged as both good
#    configurations judge it, the bad file logged, the last good one kept,
#    restart-only keys (SocketMode) kept with a "needs a restart" warning;
#  - "mssantectl stats --json" and the StatsFile count exactly the messages
#    sent here, and the StatsFile is valid Prometheus text;
#  - SIGTERM while a client is in the middle of DATA: that message is
#    answered (accepted) and delivered, a new session meanwhile is deferred,
#    and the daemon exits 0.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --root --redis --sink --tools python3   # python3: JSON
id nobody >/dev/null 2>&1 || h_skip_all "needs a user nobody"
PF_GID=$(getent group postfix | cut -d: -f3)
[ -n "$PF_GID" ] || h_skip_all "needs a group postfix"

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
CLASSIC=secretariat@outlook.fr
OUTSIDER=someone@gmail.com
NEWLOCAL=accueil@nouveau.chu-test.mssante.fr   # local only in the reloaded files
FLOW=8                                          # messages of each kind in the flow

# As the packaged tmpfiles.d entry makes it: the daemon's user owns the
# socket directory (it removes the socket at exit), group postfix may enter.
mkdir -p "$W/sock" "$W/stats" "$W/state"
chown nobody "$W/state"
chown nobody:postfix "$W/sock"
chmod 750 "$W/sock"
chown nobody "$W/stats"
SOCK=$W/sock/milter.sock
start_postfix "unix:$SOCK" || exit 1
conf=$W/milter/mssante-milter.conf
PROM=$W/stats/mssante.prom

# write_conf MODE EXTRA_DOMAINS [LINE...]: the daemon's file, replaced in
# one rename so that a reload never reads half of it.  The daemon runs as
# nobody and reads it again at each reload: 0644.
write_conf() {
    local mode=$1 extra=$2
    shift 2
    {
        echo "# written by t_service.sh"
        echo "LocalDomains chu-test.mssante.fr, autre-site.chu-test.mssante.fr$extra"
        echo "LogLevel info"
        echo "WhitelistFile $FIXTURES/it-list.xml"
        echo "Redis 127.0.0.1:$REDIS_PORT"
        echo "StatsFile $PROM"
        echo "StatsInterval 1s"
        echo "SocketMode $mode"
        echo "LogPatientIdKeyFile $W/state/logid.key"
        echo "HeldKeyFile $W/state/held.key"
        if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
    } >"$conf.new" && chmod 644 "$conf.new" && mv "$conf.new" "$conf"
}

# The harness starts the daemon on a TCP port as root; here it is the unix
# socket and the -u user of a packaged install.  Ready: the socket exists
# and the start line is logged (no probe connection).
start_unix_milter() {
    echo "=== start $(date +%T.%N) $conf" >>"$W/milter/milter.log"
    "$MILTER_BIN" -f -c "$conf" -p "unix:$SOCK" -u nobody:postfix \
        >>"$W/milter/milter.log" 2>&1 &
    H_PID_MILTER=$!
    local i
    for i in $(seq 1 300); do
        [ -S "$SOCK" ] && grep -q 'starting mssante-milter' "$W/milter/milter.log" && return 0
        kill -0 "$H_PID_MILTER" 2>/dev/null || break
        sleep 0.05
    done
    note "mssante-milter did not start:" "$(tail -20 "$W/milter/milter.log")"
    return 1
}

# signal_reload SIG: send SIG, wait until the daemon has dealt with it
# (one more "reload: ..." outcome line than before).
RELOADS=0
signal_reload() {
    local i n
    RELOADS=$((RELOADS + 1))
    kill -s "$1" "$H_PID_MILTER"
    for i in $(seq 1 100); do
        n=$(grep -c -E 'reloaded .*: [0-9]+ local domain|running configuration stays in force' \
            "$W/milter/milter.log")
        [ "$n" -ge "$RELOADS" ] && return 0
        sleep 0.05
    done
    h_fail "no reload outcome logged after SIG$1"
}

log_has() { grep -q -F -- "$1" "$W/milter/milter.log" || h_fail "not in the milter log: $1"; }

write_conf 0660 ""
start_unix_milter || exit 1
PID=$H_PID_MILTER

# --- socket and privileges ------------------------------------------------

check "unix socket created with SocketMode 0660, owned by nobody:postfix" \
    test "$(stat -c '%a %U %G' "$SOCK")" = "660 nobody postfix"
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$PID/status")
gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$PID/status")
groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$PID/status")
check "runs as nobody after start (real, effective, saved, fs uid)" \
    test "$uids" = "65534 65534 65534 65534"
check "runs with group postfix (real, effective, saved, fs gid)" \
    test "$gids" = "$PF_GID $PF_GID $PF_GID $PF_GID"
check "no root group left among the supplementary groups" \
    eval '! grep -q -w 0 <<<"$groups"'

send_mail first "$LOCAL" "$PEER"
check "Postfix reaches the milter through the 0660 socket: accepted" test $? = 0
check "first message delivered" delivered first

# --- reloads while mail flows ---------------------------------------------

# Every message of the flow is judged the same by all the good files: any
# other verdict means a connection saw a half-applied configuration.
flow() {
    local i
    for i in $(seq 1 "$FLOW"); do
        send_mail "flow-ok-$i" "$LOCAL" "$PEER"; echo "ok $?"
        send_mail "flow-classic-$i" "$LOCAL" "$CLASSIC"; echo "classic $?"
        send_mail "flow-in-$i" "$OUTSIDER" "$LOCAL"; echo "in $?"
    done >"$W/flow.status"
}
flow &
FLOW_PID=$!

sleep 0.5
# B: one more local domain, and a restart-only change.
write_conf 0600 ", nouveau.chu-test.mssante.fr"
check "SIGHUP with a good file: reloaded" signal_reload HUP
sleep 0.5
write_conf 0600 ", nouveau.chu-test.mssante.fr" "DryRun perhaps"
check "SIGHUP with a broken file: dealt with" signal_reload HUP
broken_line=$(grep -n '^DryRun' "$conf" | cut -d: -f1)
sleep 0.5
write_conf 0600 ", nouveau.chu-test.mssante.fr"
chmod 600 "$conf"
check "SIGHUP with a file the daemon's user cannot read: dealt with" signal_reload HUP
chmod 644 "$conf"
sleep 0.5
check "SIGUSR1 with a good file: reloaded" signal_reload USR1
wait "$FLOW_PID"

check "reload: the broken file's error is logged with its line" \
    log_has "error: reload: $conf:$broken_line: DryRun: expected yes or no, got \"perhaps\""
check "reload: the broken file is refused, the running configuration stays" \
    log_has "error: reload: $conf has errors: the running configuration stays in force"
check "reload: an unreadable file is refused the same way" \
    log_has "error: reload: $conf: cannot open: Permission denied"
check "reload: SocketMode change logged as needing a restart" \
    log_has "warning: reload: SocketMode changed to 0600: needs a restart; keeping 0660"
check "reload: the socket keeps its mode 0660" test "$(stat -c '%a' "$SOCK")" = 660
check "still running after 4 reload signals" kill -0 "$PID"

flow_ok() {
    [ "$(grep -c '^ok 0$' "$W/flow.status")" = "$FLOW" ] \
        && [ "$(grep -c '^classic 25$' "$W/flow.status")" = "$FLOW" ] \
        && [ "$(grep -c '^in 24$' "$W/flow.status")" = "$FLOW" ] && return 0
    h_fail "swaks status per message (want ok 0, classic 25, in 24):
$(sort "$W/flow.status" | uniq -c)"
}
check "flow: every message answered as expected (accepted / 550 at DATA / 550 at RCPT)" flow_ok

flow_delivered() {
    local n m
    wait_queue_empty 20 || return 1
    n=$(grep -l -E '^Subject: flow-ok-[0-9]+$' "$W"/sink/msg-*.eml 2>/dev/null | wc -l)
    m=$(grep -l -E '^Subject: flow-(classic|in)-[0-9]+$' "$W"/sink/msg-*.eml 2>/dev/null | wc -l)
    [ "$n" = "$FLOW" ] && [ "$m" = 0 ] && return 0
    h_fail "delivered: $n of $FLOW accepted messages, $m refused ones"
}
check "flow: every accepted message delivered, no refused one, queue empty" flow_delivered

flow_logged() {
    local a r i
    # 127.0.0.1 is in the default InternalHosts: the line ends with internal=yes.
    a=$(grep -c 'sender=<dr.martin@chu-test.mssante.fr> rcpt=<confrere@medecin.mssante.fr>/mssante verdict=accept internal=yes client=\[127\.0\.0\.1\]$' "$W/milter/milter.log")
    r=$(grep -c 'rcpt=<secretariat@outlook.fr>/classic verdict=reject rule=outbound-classic-recipient' "$W/milter/milter.log")
    i=$(grep -c 'sender=<someone@gmail.com> .*verdict=reject rule=inbound-classic-sender' "$W/milter/milter.log")
    # The first message is the same kind as flow-ok.
    [ "$a" = $((FLOW + 1)) ] && [ "$r" = "$FLOW" ] && [ "$i" = "$FLOW" ] && return 0
    h_fail "verdict lines: $a accept (want $((FLOW + 1))), $r outbound reject (want $FLOW), $i inbound reject (want $FLOW)"
}
check "flow: one verdict line per message, each the expected verdict" flow_logged

# The file in force is the last good one: its extra local domain counts.
send_mail after-reload "$NEWLOCAL" "$CLASSIC"
rc=$?
check "last good file in force: its new local domain sends outbound (refused at DATA)" \
    test "$rc" = 25
check "last good file in force: 550 5.7.1 naming the classic recipient" \
    assert_reply "$LAST_TRANSCRIPT" DATA "^550 5\.7\.1 .*$CLASSIC"

write_conf 0660 ", nouveau.chu-test.mssante.fr" "DryRun yes"
check "SIGHUP to DryRun: reloaded" signal_reload HUP
send_mail dry-after-reload "$NEWLOCAL" "$CLASSIC"
check "DryRun after reload: the same message is accepted" test $? = 0
check "DryRun after reload: logged as would=reject" \
    log_has "verdict=accept would=reject rule=outbound-classic-recipient"
check "DryRun after reload: delivered" delivered dry-after-reload

# --- stats ------------------------------------------------------------------

ACCEPT=$((FLOW + 2))        # first, the flow, the DryRun one
OUT_REJECT=$((FLOW + 1))    # the flow, after-reload
IN_REJECT=$FLOW
TIMED=$((ACCEPT + OUT_REJECT + IN_REJECT))

# stats_json: mssantectl's JSON once the node published every message.
stats_json() {
    local i
    for i in $(seq 1 100); do
        STATS=$("$CTL_BIN" -c "$conf" stats --json 2>&1) &&
            python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; sys.exit(t.get("latency:count") != int(sys.argv[1]))' \
                "$1" <<<"$STATS" && return 0
        sleep 0.1
    done
    h_fail "mssantectl stats never showed $1 timed messages:
$STATS"
}

# stats_match JSON FIELD=VALUE...: the total has exactly these counters, and
# no other messages:/would:/tempfail: field.
STATS_MATCH_PY='
import json, sys
doc = json.load(sys.stdin)
total = doc["total"]
want = dict(a.split("=", 1) for a in sys.argv[1:])
bad = []
for k, v in want.items():
    if total.get(k) != int(v):
        bad.append("%s: %r, want %s" % (k, total.get(k), v))
for k in total:
    if k.split(":")[0] in ("messages", "would", "tempfail") and k not in want:
        bad.append("unexpected %s=%r" % (k, total[k]))
if len(doc["nodes"]) != 1:
    bad.append("%d nodes" % len(doc["nodes"]))
print("\n".join(bad))
sys.exit(1 if bad else 0)
'
stats_match() {
    local out
    out=$(python3 -c "$STATS_MATCH_PY" "$@" <<<"$STATS") && return 0
    h_fail "$out
mssantectl stats --json:
$STATS"
}

check "mssantectl stats --json: the node published every message" stats_json "$TIMED"
check "mssantectl stats: counters match the messages sent (by verdict and rule)" \
    stats_match "messages:accept:none=$ACCEPT" \
        "messages:reject:outbound-classic-recipient=$OUT_REJECT" \
        "messages:reject:inbound-classic-sender=$IN_REJECT" \
        "would:reject:outbound-classic-recipient=1" "latency:count=$TIMED" \
        "latency:le:+Inf=$TIMED" "reloads:ok=3" "reloads:failed=2" "redis_errors=0"
text=$("$CTL_BIN" -c "$conf" stats 2>&1)
check "mssantectl stats (text): names the node and the verdicts" \
    contains "$text" "accept=$ACCEPT reject=$((OUT_REJECT + IN_REJECT)) tempfail=0"

# prom_valid FILE: every line is "# HELP", "# TYPE" or a sample
# "name{label="value",...} number"; each sample's metric was TYPEd.
prom_valid() {
    awk '
        /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* / { if ($2 == "TYPE") typed[$3] = $4; next }
        /^#/ { bad = bad "\n" NR ": " $0; next }
        {
            if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|\+Inf|NaN)$/) {
                bad = bad "\n" NR ": " $0; next
            }
            name = $0; sub(/[{ ].*/, "", name)
            base = name; sub(/_(bucket|sum|count)$/, "", base)
            if (!(name in typed) && !(base in typed)) bad = bad "\n" NR ": untyped " name
            n++
        }
        END { if (bad != "" || n == 0) { print "bad lines:" bad; exit 1 } }
    ' "$1" || h_fail "$(awk 'END { print NR " lines" }' "$1")"
}
prom_sample() {
    grep -q -x -F -- "$1" "$PROM" || h_fail "no line \"$1\" in $PROM:
$(grep -F "${1%% *}" "$PROM")"
}
check "StatsFile written by the daemon's user, mode 0644" \
    test "$(stat -c '%U %a' "$PROM" 2>/dev/null)" = "nobody 644"
check "StatsFile is valid Prometheus text" prom_valid "$PROM"
check "StatsFile: accepted messages counted" \
    prom_sample "mssante_milter_messages_total{verdict=\"accept\",rule=\"none\"} $ACCEPT"
check "StatsFile: outbound refusals counted by rule" \
    prom_sample "mssante_milter_messages_total{verdict=\"reject\",rule=\"outbound-classic-recipient\"} $OUT_REJECT"
check "StatsFile: inbound refusals counted by rule" \
    prom_sample "mssante_milter_messages_total{verdict=\"reject\",rule=\"inbound-classic-sender\"} $IN_REJECT"
check "StatsFile: latency histogram counts every decided message" \
    prom_sample "mssante_milter_message_duration_seconds_count $TIMED"
check "StatsFile: whitelist size" prom_sample "mssante_milter_whitelist_domains 8"
check "StatsFile: no temporary file left next to it" \
    test "$(find "$W/stats" -type f | wc -l)" = 1

# --- SIGTERM in the middle of a transfer ---------------------------------------

# A hand-driven session that stops half-way through DATA.
LAST_TRANSCRIPT=$W/swaks/term-inflight.txt
: >"$LAST_TRANSCRIPT"
say() { printf '%s\r\n' "$1" >&"$H_FD"; echo " -> $1" >>"$LAST_TRANSCRIPT"; }
exec {H_FD}<>"/dev/tcp/127.0.0.1/$SMTP_PORT"
h_raw_read
say "EHLO client.it.invalid"; h_raw_read
say "MAIL FROM:<$LOCAL>"; h_raw_read
say "RCPT TO:<$PEER>"; h_raw_read
say "DATA"; h_raw_read
check "SIGTERM test: DATA started (354)" test "$H_RAW_CODE" = 354
say "Subject: term-inflight"
say ""
say "first half of the body"

kill -TERM "$PID"
check "SIGTERM: the daemon waits for the message in progress" \
    wait_milter_log 'stopping: waiting for 1 message\(s\) in progress' 10
send_mail term-new "$LOCAL" "$PEER"
rc=$?
check "SIGTERM: a new session meanwhile is deferred, not accepted" test "$rc" != 0
check "SIGTERM: ... with 451 4.3.2 (shutting down)" \
    assert_reply "$LAST_TRANSCRIPT" "MAIL FROM" '^451 4\.3\.2 '
LAST_TRANSCRIPT=$W/swaks/term-inflight.txt
sleep 1
say "second half of the body"
say "."; h_raw_read
check "SIGTERM: the message in progress is answered 250 (accepted)" test "$H_RAW_CODE" = 250
say "QUIT"; h_raw_read
exec {H_FD}>&-
check "SIGTERM: the message in progress is delivered" delivered term-inflight

stopped() {
    wait_pid_gone "$PID" 25 || { h_fail "still running 25 s after SIGTERM"; return 1; }
    wait "$PID"
    local rc=$?
    H_PID_MILTER=
    [ "$rc" = 0 ] || h_fail "exit status $rc"
}
check "SIGTERM: the daemon exits 0 once the message is answered" stopped
check "SIGTERM: no sanitizer report" eval '! sanitizer_report >/dev/null'
check "SIGTERM: the socket is removed" test ! -e "$SOCK"
check "stats: the final numbers are published at stop" \
    stats_json $((TIMED + 1))

# --- a symlink at the socket path ------------------------------------------
# The socket directory belongs to the service user: a symlink it leaves at
# the socket path must never make the daemon (root at that point) create,
# remove or chown anything through it.  (The window between bind and chown
# is covered by tests/unit/test_socket.c.)
echo "precious" >"$W/precious"
chmod 600 "$W/precious"
ln -s "$W/precious" "$W/sock/evil.sock"
"$MILTER_BIN" -f -c "$conf" -p "unix:$W/sock/evil.sock" -u nobody:postfix \
    >>"$W/milter/milter.log" 2>&1 &
EVIL_PID=$!
refused_to_start() {
    wait_pid_gone "$EVIL_PID" 10 || { h_fail "still running"; kill "$EVIL_PID"; return 1; }
    wait "$EVIL_PID" && { h_fail "exit status 0"; return 1; }
    return 0
}
check "a symlink at the socket path: the daemon refuses to start" refused_to_start
check "a symlink at the socket path: says it is not a socket" \
    log_has "evil.sock exists and is not a socket: refusing to replace it"
check "a symlink at the socket path: the file it points to keeps its owner and mode" \
    test "$(stat -c '%U %a' "$W/precious")" = "root 600"
check "a symlink at the socket path: the link is left as it was" \
    test "$(readlink "$W/sock/evil.sock")" = "$W/precious"
exit 0
