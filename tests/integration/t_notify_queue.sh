#!/bin/bash
# t_notify_queue.sh - the durable queue of content-free notices
# (notify/queue.c) against a real Redis and a capture SMTP sink, driven by
# tests/helpers/notifyprobe: a notice is delivered with the right envelope
# and content; a listener that is down means "retry later", and the notice
# goes out once it is back; a worker killed mid-way leaves its notices in
# Redis for the next one; two workers on one queue send each notice once;
# a notice that keeps failing is given up and counted; a queue key of the
# wrong type is waited out, not retried in a busy loop.
#
# Needs no Postfix and no root: only redis-server and the built helpers.
set -u
. "$(dirname "$0")/../lib/harness.sh"

PROBE_BIN=$BUILD/tests/notifyprobe
SENDER=notify@chu-test.mssante.fr
MAILBOX=dr.martin@chu-test.mssante.fr

for b in "$PROBE_BIN" "$CAPSINK_BIN"; do
    if [ ! -x "$b" ]; then
        not_ok "$(basename "$0"): $b exists" "build first: make BUILD=$BUILD"
        exit 1
    fi
done
for b in redis-server redis-cli ss; do
    command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$b" >/dev/null 2>&1 || h_skip_all "$b is not installed"
done
h_init

# Extra capture sinks (their own port and directory), stopped on exit.
EXTRA_PIDS=
t_cleanup() {
    local p
    for p in $EXTRA_PIDS; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    h_cleanup
}
trap t_cleanup EXIT

# sink_on PORT DIR: a capsink on PORT writing into DIR.
sink_on() {
    mkdir -p "$2"
    "$CAPSINK_BIN" "$1" "$2" 2>>"$W/capsink-$1.log" &
    EXTRA_PIDS="$EXTRA_PIDS $!"
    SINK_ON_PID=$!
    wait_listen "$1" 10 "$SINK_ON_PID"
}

stop_pid() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# probe LOGNAME ARGS...: notifyprobe against our Redis; stdout is the
# result, stderr (the worker's log) goes to $W/LOGNAME.log.
probe() {
    local log=$1
    shift
    "$PROBE_BIN" -r "127.0.0.1:$REDIS_PORT" "$@" 2>>"$W/$log.log"
}

# stats_is PREFIX EXPECTED: the counters line is exactly EXPECTED.
stats_is() {
    local got
    got=$(probe stats -x "$1" stats)
    [ "$got" = "$2" ] && return 0
    h_fail "counters: $got
expected: $2"
}

# matches VALUE PATTERN: VALUE matches the shell PATTERN.
matches() {
    # shellcheck disable=SC2053
    [[ $1 == $2 ]] && return 0
    h_fail "got:      $1
expected: $2"
}

# count_rcpt DIR ADDR: messages in DIR whose envelope recipient is ADDR.
count_rcpt() {
    grep -l -x -F "X-Capsink-To: <$2>" "$1"/msg-*.eml 2>/dev/null | wc -l
}

start_redis || exit 1
start_capsink || exit 1

# ---------------------------------------------------------------- 1
# One notice through the worker: envelope, headers, text.
probe case1 -x c1: enqueue "$MAILBOX" secretariat@outlook.fr || not_ok "enqueue a notice"
out=$(probe case1 -x c1: run -s "smtp://127.0.0.1:$SINK_PORT" -f "$SENDER" -e -t 15)
check "the worker sends a queued notice (counters)" \
    matches "$out" "enqueued=1 sent=1 retried=0 failed=0 pending=0"
f=$(sink_file_for_rcpt secretariat@outlook.fr)
notice_ok() {
    [ -n "$f" ] || { h_fail "no message for secretariat@outlook.fr in the sink: $(ls "$W/sink")"; return 1; }
    local text
    text=$(cat "$f")
    contains "$text" "X-Capsink-From: <$SENDER>" &&
    contains "$text" "From: $SENDER" &&
    contains "$text" "To: secretariat@outlook.fr" &&
    contains "$text" "Subject: =?UTF-8?Q?Nouveau_message_s=C3=A9curis=C3=A9_/_New_secure_message?=" &&
    contains "$text" "Auto-Submitted: auto-generated" &&
    contains "$text" "Content-Type: text/plain; charset=UTF-8" &&
    contains "$text" "Message-ID: <mssante-notify.1." &&
    contains "$text" "MSSant=C3=A9 $MAILBOX." &&
    contains "$text" "mailbox =
$MAILBOX." || return 1
    [ "$(grep -c '^X-Capsink-To:' "$f")" = 1 ] || h_fail "more than one envelope recipient"
}
check "the notice has the notice envelope, fixed headers and names the mailbox" notice_ok
check "the worker logged the delivery" \
    grep -q "notify: sent id=1 mailbox=$MAILBOX to=<secretariat@outlook.fr> attempts=1" "$W/case1.log"

# ---------------------------------------------------------------- 2
# The notification listener is down: retried with backoff, then delivered.
free_port DOWN_PORT || exit 1
probe case2 -x c2: enqueue "$MAILBOX" accueil@gmail.com || not_ok "enqueue a notice"
out=$(probe case2 -x c2: run -s "smtp://127.0.0.1:$DOWN_PORT" -f "$SENDER" -t 2 -p 100 \
      -m 300 -M 600)
check "listener down: the notice is kept, not counted sent or failed" \
    matches "$out" "enqueued=1 sent=0 retried=* failed=0 pending=1"
retried=$(sed -n 's/.* retried=\([0-9]*\) .*/\1/p' <<<"$out")
check "listener down: retried several times within 2 s (retried=${retried:-?})" \
    [ "${retried:-0}" -ge 2 ]
check "listener down: each failure is logged with its next attempt" \
    grep -q "notify: deferred id=1 mailbox=$MAILBOX to=<accueil@gmail.com> attempts=1 retry_in=1s" "$W/case2.log"
sink_on "$DOWN_PORT" "$W/sink2" || not_ok "start a sink on $DOWN_PORT"
out=$(probe case2 -x c2: run -s "smtp://127.0.0.1:$DOWN_PORT" -f "$SENDER" -e -t 15 -p 100 \
      -m 300 -M 600)
check "listener back: the notice is delivered once (sent=1)" \
    matches "$out" "enqueued=1 sent=1 retried=* failed=0 pending=0"
check "listener back: the sink holds exactly that notice" \
    [ "$(count_rcpt "$W/sink2" accueil@gmail.com)" = 1 ]
stop_pid "$SINK_ON_PID"

# ---------------------------------------------------------------- 3
# A worker killed (SIGKILL) while its notices wait: the next one sends them.
free_port DOWN3 || exit 1
probe case3 -x c3: enqueue "$MAILBOX" a3@gmail.com b3@gmail.com || not_ok "enqueue notices"
"$PROBE_BIN" -r "127.0.0.1:$REDIS_PORT" -x c3: run -s "smtp://127.0.0.1:$DOWN3" -f "$SENDER" \
    -t 60 -p 100 -m 200 -M 400 -T 1000 -l 1500 >/dev/null 2>>"$W/case3.log" &
worker=$!
for i in $(seq 1 50); do
    r=$(probe case3 -x c3: stats | sed -n 's/.* retried=\([0-9]*\) .*/\1/p')
    [ "${r:-0}" -ge 2 ] && break
    sleep 0.1
done
kill -9 "$worker" 2>/dev/null
wait "$worker" 2>/dev/null
check "killed worker: its notices are still queued" \
    matches "$(probe case3 -x c3: stats)" "enqueued=2 sent=0 retried=* failed=0 pending=2"
sink_on "$DOWN3" "$W/sink3" || not_ok "start a sink on $DOWN3"
out=$(probe case3 -x c3: run -s "smtp://127.0.0.1:$DOWN3" -f "$SENDER" -e -t 15 -p 100 \
      -m 200 -M 400 -T 1000 -l 1500)
check "restarted worker: both notices delivered (sent=2)" \
    matches "$out" "enqueued=2 sent=2 retried=* failed=0 pending=0"
check "restarted worker: one message per target" \
    matches "$(count_rcpt "$W/sink3" a3@gmail.com) $(count_rcpt "$W/sink3" b3@gmail.com)" "1 1"
stop_pid "$SINK_ON_PID"

# ---------------------------------------------------------------- 4
# Two workers on one queue (two MX nodes): each notice is sent once.
free_port PORT4 || exit 1
sink_on "$PORT4" "$W/sink4" || not_ok "start a sink on $PORT4"
targets=()
for i in $(seq 1 30); do targets+=("user$i@outlook.fr"); done
probe case4 -x c4: enqueue "$MAILBOX" "${targets[@]}" || not_ok "enqueue 30 notices"
probe case4a -x c4: run -s "smtp://127.0.0.1:$PORT4" -f "$SENDER" -e -t 20 -p 50 >"$W/case4a.out" &
wa=$!
probe case4b -x c4: run -s "smtp://127.0.0.1:$PORT4" -f "$SENDER" -e -t 20 -p 50 >"$W/case4b.out" &
wb=$!
wait "$wa" "$wb"
check "two workers: 30 notices sent, none left" stats_is c4: \
    "enqueued=30 sent=30 retried=0 failed=0 pending=0"
dupes=
for t in "${targets[@]}"; do
    n=$(count_rcpt "$W/sink4" "$t")
    [ "$n" = 1 ] || dupes="$dupes $t:$n"
done
check "two workers: every target got exactly one notice" matches "$dupes" ""
na=$(grep -c "notify: sent" "$W/case4a.log")
nb=$(grep -c "notify: sent" "$W/case4b.log")
check "two workers: 30 deliveries logged in all (sent $na + $nb)" matches $((na + nb)) 30
stop_pid "$SINK_ON_PID"

# ---------------------------------------------------------------- 5
# A notice that keeps failing is given up after max attempts, and counted.
free_port DOWN5 || exit 1
probe case5 -x c5: enqueue - lost@outlook.fr || not_ok "enqueue a notice"
out=$(probe case5 -x c5: run -s "smtp://127.0.0.1:$DOWN5" -f "$SENDER" -e -t 10 -p 50 \
      -m 100 -M 100 -a 3)
check "max attempts: the notice is given up and counted failed" \
    matches "$out" "enqueued=1 sent=0 retried=2 failed=1 pending=0"
check "max attempts: the give-up is logged" \
    grep -q "notify: gave up id=1 mailbox=(unknown) to=<lost@outlook.fr> attempts=3" "$W/case5.log"

# ---------------------------------------------------------------- 6
# The queue key holds a value of the wrong type (an operator's mistake, a
# bad restore): Redis answers every claim with WRONGTYPE.  The worker says
# so once and waits between tries (it used to retry in a busy loop, logging
# thousands of lines a second), and sends the notice once the key is right.
free_port PORT6 || exit 1
sink_on "$PORT6" "$W/sink6" || not_ok "start a sink on $PORT6"
probe case6 -x c6: enqueue "$MAILBOX" wrongtype@outlook.fr || not_ok "enqueue a notice"
rcli6() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@" >/dev/null; }
rcli6 RENAME c6:notify:queue c6:notify:queue.saved
rcli6 SET c6:notify:queue not-a-sorted-set
probe case6 -x c6: run -s "smtp://127.0.0.1:$PORT6" -f "$SENDER" -e -t 20 -p 500 \
    >"$W/case6.out" &
w6=$!
wait_wrongtype() {
    local i
    for i in $(seq 1 100); do
        grep -q WRONGTYPE "$W/case6.log" 2>/dev/null && return 0
        sleep 0.05
    done
    h_fail "the worker never met the wrong type: $(cat "$W/case6.log")"
}
check "wrong type: the worker meets WRONGTYPE" wait_wrongtype
sleep 2
n6=$(grep -c WRONGTYPE "$W/case6.log")
check "wrong type: said once, not in a loop ($n6 line(s) in 2 s)" [ "$n6" -le 2 ]
# One RENAME, which replaces the wrong value atomically: a DEL first would
# show the worker an empty queue for a moment, and "run -e" would stop there.
rcli6 RENAME c6:notify:queue.saved c6:notify:queue
wait "$w6"
check "wrong type repaired: the notice is sent (sent=1)" \
    matches "$(cat "$W/case6.out")" "enqueued=1 sent=1 retried=0 failed=0 pending=0"
check "wrong type repaired: the worker says Redis answers again" \
    grep -q "notify: Redis reachable again" "$W/case6.log"
check "wrong type repaired: one notice in the sink" \
    [ "$(count_rcpt "$W/sink6" wrongtype@outlook.fr)" = 1 ]
stop_pid "$SINK_ON_PID"

# ---------------------------------------------------------------- sanitizers
san=$(grep -h -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$W"/case*.log 2>/dev/null)
check "no sanitizer report from the worker" matches "$san" ""

exit 0
