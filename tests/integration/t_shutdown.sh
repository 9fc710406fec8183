#!/bin/bash
# t_shutdown.sh - a milter step still running when the stop gives up
# (issue 13).
#
# SIGTERM waits up to ShutdownTimeout for the messages in progress, then
# libmilter's smfi_main returns.  It does not wait for the steps its
# worker threads are running: a step held up by Redis at that moment goes
# on.  main() used to free the configuration, the whitelist, the Redis
# pool and the store right after smfi_main, under that step.  Here the end
# of a message to a patient (it writes the conversation to Redis) is held
# by a Redis paused for writes, the daemon is stopped and gives up waiting
# after ShutdownTimeout (the rest of the stop is kept from waiting on the
# paused Redis too), then Redis is let go: the step must finish on a
# daemon that still has everything it uses, its answer (250, the
# conversation opened) must reach the client, the daemon must exit 0 only
# after it, and a sanitizer build must find nothing.  Before the fix the
# daemon freed everything and exited under the step: the client got
# Postfix's default action (4xx) instead of the step's answer.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
h_init

LOCAL=dr.martin@chu-test.mssante.fr
PATIENT=279035121518989@patient.mssante.fr
LATE_PATIENT=269029934173285@patient.mssante.fr     # no conversation yet
RAW_PATIENT=178052065432174@patient.mssante.fr      # nor this one
PAUSE_MS=15000

start_capsink || exit 1
start_redis || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1
conf=$W/milter/shutdown.conf
milter_conf "$conf"
# No notice worker: the only EVAL the daemon sends is the step's own.
# RedisTimeout outlasts the pause: the step waits for Redis, it does not
# give up on it.
cat >>"$conf" <<EOF
WhitelistFile $FIXTURES/it-list.xml
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 30s
NotifyWorker no
ShutdownTimeout 1s
EOF
start_milter "$conf" || exit 1
PID=$H_PID_MILTER

send_mail before "$LOCAL" "$PATIENT"
check "before the stop: a message to a patient is accepted" \
    assert_reply "$LAST_TRANSCRIPT" . '^250 '

# A session that has sent everything but the final dot.
LAST_TRANSCRIPT=$W/swaks/late.txt
: >"$LAST_TRANSCRIPT"
say() { printf '%s\r\n' "$1" >&"$H_FD"; echo " -> $1" >>"$LAST_TRANSCRIPT"; }
exec {H_FD}<>"/dev/tcp/127.0.0.1/$SMTP_PORT"
h_raw_read
say "EHLO client.it.invalid"; h_raw_read
say "MAIL FROM:<$LOCAL>"; h_raw_read
say "RCPT TO:<$LATE_PATIENT>"; h_raw_read
say "DATA"; h_raw_read
check "a message to a patient in DATA (354)" test "$H_RAW_CODE" = 354
say "Subject: late"
say ""
say "Comment allez-vous ?"

# steps_blocked N: N ends of message wait on their conversation write.
steps_blocked() {
    local i n=0
    for i in $(seq 1 200); do
        n=$(redis-cli -p "$REDIS_PORT" CLIENT LIST 2>/dev/null | grep -E -c ' flags=b .* cmd=eval ')
        [ "$n" -ge "$1" ] && return 0
        sleep 0.1
    done
    h_fail "$n EVAL(s) from the daemon waiting on the paused Redis after 20s, expected $1"
}
redis-cli -p "$REDIS_PORT" CLIENT PAUSE "$PAUSE_MS" WRITE >/dev/null
say "."
# A second session, straight on the milter socket: its end of message is
# followed at once by a second MAIL FROM and QUIT, which libmilter runs
# right after that step, past smfi_main's return: they must be answered
# without touching what the daemon frees (451 4.3.2, then the close).
RAW_OUT=$W/late-milter.txt
python3 "$H_ROOT/tests/helpers/late_milter_session.py" "$MILTER_PORT" "$LOCAL" "$RAW_PATIENT" \
    >"$RAW_OUT" 2>&1 &
RAW_PID=$!
check "both ends of message are held up by Redis (their conversation writes wait)" \
    steps_blocked 2

kill -TERM "$PID"
check "SIGTERM: the stop gives up on the messages after ShutdownTimeout" \
    wait_milter_log 'stopping with 2 message\(s\) still in progress' 20
check "smfi_main returned" wait_milter_log 'stopping mssante-milter' 20

# The rest of the stop must not wait on the paused Redis either, or it
# would be held up as long as the step and hide the race: every other
# write waiting there (the counters' last round) is cut off, for 3 s.
unblock_others() {
    local i id
    for i in $(seq 1 30); do
        for id in $(redis-cli -p "$REDIS_PORT" CLIENT LIST 2>/dev/null |
                    grep -E ' flags=[A-Za-z]*b' | grep -v ' cmd=eval ' |
                    sed -n 's/^id=\([0-9]*\) .*/\1/p'); do
            redis-cli -p "$REDIS_PORT" CLIENT KILL ID "$id" >/dev/null 2>&1
        done
        sleep 0.1
    done
}
unblock_others
check "smfi_main returned: the daemon waits for the steps still running" \
    wait_milter_log 'stopping: waiting up to [0-9]+s for 2 milter step\(s\) still running' 5
check "the daemon is still there while the step runs" kill -0 "$PID"

h_raw_read
check "the step finishes once Redis answers: the message is accepted (250)" \
    assert_reply "$LAST_TRANSCRIPT" . '^250 '
say "QUIT"; h_raw_read
exec {H_FD}>&-

stopped() {
    wait_pid_gone "$PID" 30 || { h_fail "still running 30 s after the step ended"; return 1; }
    wait "$PID"
    local rc=$?
    H_PID_MILTER=
    [ "$rc" = 0 ] || h_fail "exit status $rc"
}
check "the daemon exits 0 once the steps are over" stopped
wait "$RAW_PID"
check "the step let in before the stop finishes on the raw session too (continue)" \
    grep -q -x 'eom c' "$RAW_OUT"
check "a step after smfi_main returned is deferred: 451 4.3.2" \
    grep -q '^mail y 451 4\.3\.2 ' "$RAW_OUT"
check "... and the session is closed" grep -q -x 'eof' "$RAW_OUT"
[ "$H_FAILED" = 0 ] || note "raw session: $(cat "$RAW_OUT")"
check "no sanitizer report" eval '! sanitizer_report >/dev/null'
check "the step's effect was made: the conversation is open" \
    eval '"$CTL_BIN" -c "$conf" conversation show "$LOCAL" "$LATE_PATIENT" | grep -E -q "^state: +open\$"'
check "the message accepted by that step is delivered" delivered late
exit 0
