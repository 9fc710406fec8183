#!/bin/bash
# t_logging.sh - logs a sysadmin can see (issue 16), through a real Postfix:
#   - LogFile PATH: the verdict lines land there; logrotate's way (mv, then
#     SIGUSR1) makes the daemon write a new file, the old one keeping what
#     it had; SIGHUP too;
#   - the verdict line: one per message, ending with client=[IP], also on
#     NOQUEUE lines; mail from the outside for a domain that is not ours is
#     direction=relay, not inbound;
#   - LogFile stderr: a detached daemon keeps its standard error;
#   - under systemd (JOURNAL_STREAM naming stderr): each line once, with its
#     syslog priority and without a time stamp of its own;
#   - syslog, played by a datagram socket the test listens on, mounted on
#     /dev/log in a private mount namespace (the machine's own /dev/log,
#     if any, is never touched): a detached daemon's lines go there and the
#     start says nothing about it; under the journal nothing goes there
#     (one line per event, not two); with nothing on /dev/log, a detached
#     start warns once on stderr.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
id nobody >/dev/null 2>&1 || h_skip_all "needs a user nobody"
h_init

start_redis || exit 1
start_capsink || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
OTHER=accueil@autre-site.chu-test.mssante.fr   # Postfix relays it; not ours below

mkdir -p "$W/logs" "$W/state"
chown nobody "$W/logs" "$W/state"
LOG=$W/logs/mssante-milter.log
conf=$W/milter/logging.conf
cat >"$conf" <<EOF
LocalDomains chu-test.mssante.fr
LogLevel info
WhitelistFile $FIXTURES/it-list.xml
LogFile $LOG
LogPatientIdKeyFile $W/state/logid.key
HeldKeyFile $W/state/held.key
PidFile $W/state/m.pid
EOF
chmod 644 "$conf"

# The daemon as a service: detached, as nobody, its log in LogFile only.
"$MILTER_BIN" -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody >"$W/milter/start.out" 2>&1
rc=$?
check "started detached with LogFile (exit 0)" test "$rc" = 0
[ "$rc" = 0 ] || { note "$(cat "$W/milter/start.out")"; exit 1; }
pid=$(cat "$W/state/m.pid")
wait_listen "$MILTER_PORT" 15 "$pid" || { not_ok "the daemon listens"; exit 1; }

# in_log FILE REGEX [SECONDS]: a line of FILE matches, soon.
in_log() {
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do
        grep -E -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    h_fail "no line matching /$2/ in $1:
$(tail -5 "$1" 2>/dev/null)"
}

check "LogFile: the start is logged there" in_log "$LOG" 'starting mssante-milter'
check "LogFile: made by the daemon's user, not readable by all" \
    test "$(stat -c '%U %a' "$LOG")" = "nobody 640"

send_mail one "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "a verdict line in LogFile, ending with client=[127.0.0.1]" \
    in_log "$LOG" "$qid: direction=outbound .*verdict=accept.* client=\[127\.0\.0\.1\]$"
check "one verdict line for that message" test "$(grep -c "$qid: direction=" "$LOG")" = 1

send_outside refused someone@gmail.com "$LOCAL"
check "a NOQUEUE line carries client= too (the outside client Postfix saw)" \
    in_log "$LOG" "NOQUEUE: direction=inbound sender=<someone@gmail.com> .*verdict=reject.* client=\[$OUTSIDE_ADDR\]$"

send_outside relayed dr.durand@chu-lille.mssante.fr "$OTHER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "mail from the outside for a domain that is not ours: direction=relay" \
    in_log "$LOG" "$qid: direction=relay sender=<dr.durand@chu-lille.mssante.fr> rcpt=<$OTHER>"
send_outside inbound dr.durand@chu-lille.mssante.fr "$LOCAL"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "... and for one of ours: direction=inbound" \
    in_log "$LOG" "$qid: direction=inbound sender=<dr.durand@chu-lille.mssante.fr>"

# logrotate: move, then signal.
mv "$LOG" "$LOG.1"
send_mail during "$LOCAL" "$PEER"
qid_during=$(queue_id_of "$LAST_TRANSCRIPT")
check "moved away: the daemon keeps writing to the moved file until told" \
    in_log "$LOG.1" "$qid_during: direction="
kill -USR1 "$pid"
check "SIGUSR1: a new LogFile is made" in_log "$LOG" 'reload requested \(SIGUSR1\)'
send_mail after "$LOCAL" "$PEER"
qid_after=$(queue_id_of "$LAST_TRANSCRIPT")
check "after SIGUSR1, the lines land in the new file" in_log "$LOG" "$qid_after: direction="
check "... and not in the old one" eval '! grep -q "$qid_after" "$LOG.1"'
mv "$LOG" "$LOG.2"
kill -HUP "$pid"
check "SIGHUP reopens it too" in_log "$LOG" 'reload requested \(SIGHUP\)'

kill "$pid"
wait_pid_gone "$pid" 15 || kill -9 "$pid"
check "stopped: the last lines in the current LogFile" in_log "$LOG" 'stopping mssante-milter'
check "nothing went to the starter's stderr but warnings" \
    eval '! grep -v -E "warning:" "$W/milter/start.out" | grep -q .'

# ---------------------------------------------------------------- LogFile stderr

sed -i "s|^LogFile .*|LogFile stderr|; s|^PidFile .*|PidFile $W/state/e.pid|" "$conf"
"$MILTER_BIN" -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody 2>>"$W/logs/stderr.log" >/dev/null
rc=$?
pid=$(cat "$W/state/e.pid" 2>/dev/null)
check "LogFile stderr, detached: started (exit 0)" test "$rc" = 0 -a -n "$pid"
wait_listen "$MILTER_PORT" 15 "$pid" || { not_ok "the daemon listens"; exit 1; }
send_mail stderr "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "LogFile stderr: the detached daemon's verdict lines reach the stderr it was given" \
    in_log "$W/logs/stderr.log" "$qid: direction=outbound .* client=\[127\.0\.0\.1\]$"
kill "$pid"
wait_pid_gone "$pid" 15 || kill -9 "$pid"

# ---------------------------------------------------------------- the journal

# What systemd does: stderr is the journal's stream, JOURNAL_STREAM names it.
sed -i '/^LogFile/d; /^PidFile/d' "$conf"
J=$W/logs/journal
: >"$J"
chown nobody "$J"
JOURNAL_STREAM=$(stat -c '%d:%i' "$J") \
    "$MILTER_BIN" -f -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody 2>>"$J" >/dev/null &
pid=$!
wait_listen "$MILTER_PORT" 15 "$pid" || { not_ok "the daemon listens (journal)"; exit 1; }
send_mail journal "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "journal: the verdict line with its priority (<6> info), no time stamp of ours" \
    in_log "$J" "^<6>$qid: direction=outbound "
check "journal: a warning with <4>" in_log "$J" '^<4>warning: '
check "journal: every line in that form (one writer, not syslog and stderr)" \
    eval '! grep -v -E "^<[0-7]>" "$J" | grep -q .'
kill "$pid"
wait_pid_gone "$pid" 15 || kill -9 "$pid"
wait "$pid" 2>/dev/null

# LogFile stderr under systemd: the same form.
echo "LogFile stderr" >>"$conf"
J3=$W/logs/journal3
: >"$J3"
chown nobody "$J3"
JOURNAL_STREAM=$(stat -c '%d:%i' "$J3") \
    "$MILTER_BIN" -f -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody 2>>"$J3" >/dev/null &
pid=$!
wait_listen "$MILTER_PORT" 15 "$pid" || { not_ok "the daemon listens (journal, LogFile stderr)"; exit 1; }
send_mail journal3 "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "journal with LogFile stderr: <6>, no time stamp of ours" in_log "$J3" "^<6>$qid: direction=outbound "
check "... every line in that form" eval '! grep -v -E "^<[0-7]>" "$J3" | grep -q .'
kill "$pid"
wait_pid_gone "$pid" 15 || kill -9 "$pid"
wait "$pid" 2>/dev/null
sed -i '/^LogFile/d' "$conf"

# ---------------------------------------------------------------- syslog

# A private /dev in a private mount namespace: the machine's device nodes
# the daemon uses, and "log" the test's socket, or none.
SL=$W/syslog
mkdir -p "$SL/dev" "$SL/realdev"
chmod 755 "$SL"
python3 - "$SL/dev/log" "$SL/received" "$$" <<'PY' &
import os, socket, sys
path, out, parent = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
s.settimeout(1)
with open(out, "ab", buffering=0) as f:
    while os.path.exists("/proc/%d" % parent) and not os.path.exists(out + ".stop"):
        try:
            f.write(s.recv(65536).rstrip(b"\n") + b"\n")
        except socket.timeout:
            pass
PY
SL_PID=$!
: >"$SL/received"
t_cleanup() {
    local rc=$?
    touch "$SL/received.stop"
    kill "$SL_PID" 2>/dev/null
    (exit "$rc")
    h_cleanup
}
trap t_cleanup EXIT
for _ in $(seq 1 50); do [ -S "$SL/dev/log" ] && break; sleep 0.1; done

# in_ns WITH_LOG CMD...: CMD with /dev as said above (WITH_LOG: yes or no),
# in place of the calling shell (call it in a subshell: its pid is CMD's).
in_ns() {
    local with_log=$1
    shift
    exec unshare -m /bin/bash -c '
        set -e
        sl=$1 with_log=$2
        shift 2
        mount --make-rprivate /
        mount --rbind /dev "$sl/realdev"
        mount -t tmpfs -o mode=755 none /dev
        for n in null zero random urandom full; do
            touch "/dev/$n"
            mount --bind "$sl/realdev/$n" "/dev/$n"
        done
        ln -s /proc/self/fd /dev/fd
        if [ "$with_log" = yes ]; then
            touch /dev/log
            mount --bind "$sl/dev/log" /dev/log
        fi
        exec "$@"' in_ns "$SL" "$with_log" "$@"
}
check "the test's syslog socket" test -S "$SL/dev/log"
# syslog_has REGEX: a datagram received matches, soon.
syslog_has() { in_log "$SL/received" "$1"; }

sed -i "/^PidFile/d; \$a PidFile $W/state/s.pid" "$conf"
(in_ns yes "$MILTER_BIN" -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody \
    >/dev/null 2>"$W/logs/syslog-start.err")
rc=$?
pid=$(cat "$W/state/s.pid" 2>/dev/null)
check "syslog answers: a detached start, exit 0" test "$rc" = 0 -a -n "$pid"
wait_listen "$MILTER_PORT" 15 "$pid" || { not_ok "the daemon listens (syslog)"; exit 1; }
check "... nothing said about syslog on stderr" \
    eval '! grep -q "syslog" "$W/logs/syslog-start.err"'
send_mail syslog "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "the verdict line reaches syslog: facility mail, priority info (<22>)" \
    syslog_has "^<22>.*mssante-milter\[$pid\]: $qid: direction=outbound .* client=\[127\.0\.0\.1\]$"
check "... once" test "$(grep -c "$qid: direction=" "$SL/received")" = 1
kill "$pid"
wait_pid_gone "$pid" 15 || kill -9 "$pid"

# Under systemd, with a syslog daemon too: the journal alone.
sed -i '/^PidFile/d' "$conf"
J2=$W/logs/journal2
: >"$J2"
chown nobody "$J2"
(export JOURNAL_STREAM=$(stat -c '%d:%i' "$J2")
 in_ns yes "$MILTER_BIN" -f -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody \
     2>>"$J2" >/dev/null) &
pid=$!
wait_listen "$MILTER_PORT" 15 "$pid" || { not_ok "the daemon listens (journal, syslog)"; exit 1; }
send_mail journal2 "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "journal and syslog both there: the verdict line in the journal" \
    in_log "$J2" "^<6>$qid: direction=outbound "
kill "$pid"
wait_pid_gone "$pid" 15 || kill -9 "$pid"
wait "$pid" 2>/dev/null
check "... and not in syslog: one line per event, not two" \
    eval '! grep -q -F "$qid" "$SL/received"'
check "... nor the start or the stop" \
    eval '! grep -q -E "mssante-milter\[$pid\]" "$SL/received"'

# Nothing on /dev/log: said once, at start, on stderr.
echo "PidFile $W/state/n.pid" >>"$conf"
(in_ns no "$MILTER_BIN" -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody \
    >/dev/null 2>"$W/logs/nosyslog-start.err")
rc=$?
pid=$(cat "$W/state/n.pid" 2>/dev/null)
check "no syslog: a detached start still succeeds (exit 0)" test "$rc" = 0 -a -n "$pid"
check "... saying once on stderr that syslog is unreachable, and what to do" \
    eval '[ "$(grep -c "syslog is unreachable" "$W/logs/nosyslog-start.err")" = 1 ] &&
          grep -q "LogFile" "$W/logs/nosyslog-start.err"'
[ -n "$pid" ] && { kill "$pid"; wait_pid_gone "$pid" 15 || kill -9 "$pid"; }

exit 0
