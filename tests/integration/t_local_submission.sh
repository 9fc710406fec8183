#!/bin/bash
# t_local_submission.sh - mail submitted with sendmail(1) (web mail, scripts,
# Sieve/.forward redirects re-injected by the local delivery agent) goes
# through non_smtpd_milters.  There Postfix forbids refusing the simulated
# RCPT, so the daemon decides at end of message; a message for a classic
# address must never reach it, a message within the trust space is
# delivered.
#
# How the daemon tells local submission from SMTP: Postfix's cleanup
# server emulates the connect of a local submission as localhost,
# 127.0.0.1, port 0, while a real SMTP client, even on the loopback, has a
# source port (milter/callbacks.c).  Both are checked here.
#
# Without Redis there is no notice queue: a classic recipient of a local
# sender's message is refused (bounced to the sender) or the message held.
# With Redis, forwarding (issue 5) rewrites the message instead: each
# classic recipient is removed and gets a content-free notice, and a
# message with nothing left is held, never discarded (t_forwarding.sh has
# the details).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
h_init

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
CLASSIC=secretariat@outlook.fr

start_capsink || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1
conf=$W/milter/mssante-milter.conf
milter_conf "$conf"
sed -i 's/^LogLevel info$/LogLevel debug/' "$conf"
echo "WhitelistFile $FIXTURES/it-list.xml" >>"$conf"
start_milter "$conf" || exit 1

# submit SUBJECT TO...: a small message through sendmail -C.
submit() {
    local subject=$1
    shift
    printf 'From: %s\nTo: %s\nSubject: %s\n\nCompte rendu de consultation.\n' \
        "$LOCAL" "$*" "$subject" | local_submit "$LOCAL" "$@"
}

# got_message SUBJECT RCPT: the sink holds that message for that recipient.
got_message() {
    local i f
    for i in $(seq 1 200); do
        for f in $(sink_file_for_rcpt "$2"); do
            grep -q -x -F "Subject: $1" "$f" && return 0
        done
        sleep 0.1
    done
    h_fail "no \"$1\" for $2 in the sink"
}

# never_reached SUBJECT RCPT...: once Postfix is done with the message
# (bounced, or parked in the hold queue), none of RCPT got it.
never_reached() {
    local subject=$1 r f
    shift
    settle_queue || return 1
    for r in "$@"; do
        for f in $(sink_file_for_rcpt "$r"); do
            if grep -q -x -F "Subject: $subject" "$f"; then
                h_fail "\"$subject\" reached $r ($f)"
                return 1
            fi
        done
    done
}

# settle_queue: wait until only held messages remain in the queue.
settle_queue() {
    local i
    for i in $(seq 1 200); do
        queue_json | grep -v '"queue_name": *"hold"' | grep -q '^{' || return 0
        sleep 0.1
    done
    h_fail "the queue did not settle: $(queue_json)"
}

held_count() { queue_json | grep -c '"queue_name": *"hold"'; }

# stopped_by_milter SUBJECT HELD_BEFORE: Postfix says the milter refused or
# held it: either a bounce for the sender that quotes the 5.7.1 reply, or
# one more message in the hold queue than HELD_BEFORE.
stopped_by_milter() {
    local i f
    for i in $(seq 1 100); do
        if [ "$(held_count)" -gt "$2" ]; then
            STOPPED_HOW=held
            return 0
        fi
        for f in $(sink_file_for_rcpt "$LOCAL"); do
            if grep -q -x -F 'X-Capsink-From: <>' "$f" && grep -q -F "Subject: $1" "$f" &&
               grep -q '5\.7\.1' "$f"; then
                STOPPED_HOW="bounced to the sender"
                return 0
            fi
        done
        sleep 0.1
    done
    h_fail "neither a bounce quoting 5.7.1 nor a held message for \"$1\"; maillog:
$(maillog | tail -8)"
}

submit local-mss "$PEER"
check "sendmail: submission to MSSante accepted" test $? = 0
check "sendmail: outbound to MSSante delivered" got_message local-mss "$PEER"
qid=$(maillog_qid "from=<$LOCAL>")
check "sendmail: log line with queue id ${qid:-?} says outbound, accept" \
    verdict_logged "$qid" "outbound.*accept|accept.*outbound"
check "sendmail: the daemon saw the emulated connect (port 0) as local submission" \
    wait_milter_log 'debug: connect from localhost\[127\.0\.0\.1\]:0 \(local submission\)'
check "sendmail: the verdict line says submission=local" \
    verdict_logged "$qid" " submission=local"

send_mail smtp-loopback "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "SMTP from 127.0.0.1: the verdict line does not say submission=local" \
    eval 'verdict_logged "$qid" "verdict=accept" && ! grep -F "$qid: " "$W/milter/milter.log" | grep -q submission=local'
check "SMTP from 127.0.0.1: a connect with a real source port, not a local submission" \
    eval 'grep -E -q "debug: connect from [^ ]*\[127\.0\.0\.1\]:[1-9][0-9]*( \(InternalHosts\))?\$" "$W/milter/milter.log"'

held=$(held_count)
submit local-classic "$CLASSIC"
check "sendmail without Redis: outbound to @outlook.fr never reaches it" \
    never_reached local-classic "$CLASSIC"
STOPPED_HOW=
check "sendmail without Redis: outbound to @outlook.fr stopped by the milter at end of message" \
    stopped_by_milter local-classic "$held"
note "stopped: ${STOPPED_HOW:-?}"
qid=$(maillog_qid "milter-(reject|hold): .*from=<$LOCAL>")
check "sendmail: log line with queue id ${qid:-?} says reject or hold" \
    verdict_logged "$qid" "reject|hold"

held=$(held_count)
submit local-mixed "$PEER" "$CLASSIC"
check "sendmail without Redis: mixed list reaches nobody" \
    never_reached local-mixed "$PEER" "$CLASSIC"
check "sendmail without Redis: mixed list stopped by the milter" \
    stopped_by_milter local-mixed "$held"

# A colleague's message redirected by a Sieve script: the original sender
# is not local, so no trust-space rule refuses it; without Redis no notice
# can be queued, so it is held rather than sent to the classic address.
held=$(held_count)
printf 'From: %s\nSubject: redirected-noredis\n\nCompte rendu.\n' "$PEER" |
    local_submit "$PEER" "$CLASSIC"
STOPPED_HOW=
check "sendmail without Redis: a forward from the trust space to @outlook.fr is held" \
    stopped_by_milter redirected-noredis "$held"
check "sendmail without Redis: held, not bounced" test "${STOPPED_HOW:-}" = held
check "sendmail without Redis: the forward never reaches @outlook.fr" \
    never_reached redirected-noredis "$CLASSIC"
qid=$(maillog_qid "milter-hold: .*from=<$PEER>")
check "sendmail without Redis: the verdict line says why it is held" \
    verdict_logged "$qid" "verdict=hold rule=forward-no-notify-queue .*fwd=no-redis reason="
# An administrator deletes such a message: released, it would go out as it is.
postsuper -c "$H_PF_ETC" -d "$qid" hold >/dev/null 2>&1

stop_milter

# --- no list at all: a local submission is held, not lost ---------------------
# Over SMTP the client would get 451 and retry; sendmail(1) has already
# handed the message over, so the daemon parks it in the hold queue.

free_port DEAD_REDIS_PORT || exit 1
nolist=$W/milter/nolist.conf
milter_conf "$nolist"
cat >>"$nolist" <<EOF
Redis 127.0.0.1:$DEAD_REDIS_PORT
RedisTimeout 500ms
SnapshotFile $W/milter/no-such.snapshot
EOF
start_milter "$nolist" || exit 1
held=$(held_count)
submit local-nolist "$PEER"
check "sendmail with no list at all: the message is held" stopped_by_milter local-nolist "$held"
check "sendmail with no list at all: not delivered meanwhile" never_reached local-nolist "$PEER"
check "sendmail with no list at all: maillog shows the hold" contains "$(maillog)" "milter-hold"
stop_milter "no list"

# Once a list is back, the operator puts the held mail back through the
# milter (never "postsuper -H": that would send it unjudged).
start_milter "$conf" || exit 1
MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$conf" held resubmit --all >/dev/null 2>&1
check "resubmitted from hold with mssantectl held: delivered" got_message local-nolist "$PEER"
stop_milter quiet

# --- with Redis: forwards made elsewhere are rewritten (issue 5) --------------

start_redis || exit 1
fwdconf=$W/milter/forwarding.conf
milter_conf "$fwdconf"
cat >>"$fwdconf" <<EOF
WhitelistFile $FIXTURES/it-list.xml
Redis 127.0.0.1:$REDIS_PORT
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
EOF
start_milter "$fwdconf" || exit 1

# got_notice RCPT: a content-free notice from the daemon reached RCPT.
got_notice() {
    local i f
    for i in $(seq 1 200); do
        for f in $(sink_file_for_rcpt "$1"); do
            grep -q -x -F 'X-Capsink-From: <no-reply@chu-test.mssante.fr>' "$f" && return 0
        done
        sleep 0.1
    done
    h_fail "no notice for $1 in the sink"
}

submit fwd-mixed "$PEER" "$CLASSIC"
check "sendmail with Redis: mixed list, the MSSante recipient gets the message" \
    got_message fwd-mixed "$PEER"
check "sendmail with Redis: mixed list, never to the classic recipient" \
    never_reached fwd-mixed "$CLASSIC"
check "sendmail with Redis: the classic recipient gets a notice instead" got_notice "$CLASSIC"
qid=$(maillog_qid "from=<$LOCAL>, .*nrcpt=")
check "sendmail with Redis: the verdict line says accept, one removed, one notice" \
    verdict_logged "$qid" "verdict=accept .*submission=local fwd_add=0 fwd_del=1 notify=1"

held=$(held_count)
submit fwd-classic "$CLASSIC"
STOPPED_HOW=
check "sendmail with Redis: to @outlook.fr alone, held (nothing left to deliver)" \
    stopped_by_milter fwd-classic "$held"
check "sendmail with Redis: held, not bounced" test "${STOPPED_HOW:-}" = held
check "sendmail with Redis: to @outlook.fr alone, never reaches it" \
    never_reached fwd-classic "$CLASSIC"

send_mail fwd-smtp "$LOCAL" "$CLASSIC"
check "SMTP with Redis: outbound to @outlook.fr is still refused at DATA" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
stop_milter "with Redis"
