#!/bin/bash
# t_early_accept.sh - EarlyAccept (issue 12) through a real Postfix and
# Redis: the same messages sent with "EarlyAccept no" and "EarlyAccept yes"
# get the same SMTP replies, the same delivery and the same verdict lines
# (queue ids aside); with "yes" the ordinary ones are accepted at DATA,
# their verdict line written there with the queue id (Postfix then sends
# the daemon none of their headers, body or end of message, which the
# debug log says), and the others take the whole path: a recipient in
# PatientDomain, a local mailbox with a forwarding rule, a local
# submission.  A forged X-MSSante-Held header is deleted by the whole path
# only: accepted at DATA, the message keeps it (it has no valid MAC:
# t_held.sh shows it is never taken for the daemon's).  Two messages on
# one SMTP connection: the first accepted at DATA, the second, to a
# patient, taken whole.  Then a Postfix speaking milter_protocol 2 (no
# DATA event): a mixed list is still refused, at end of message.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
h_init

LOCAL=dr.martin@chu-test.mssante.fr
FWDBOX=dr.fwd@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
PEER2=collegue@chu-lille.mssante.fr
CLASSIC=secretariat@outlook.fr
# One patient per run: the first message to a patient opens the
# conversation, a second would only refresh it (conv=refresh).
PATIENT_no=279035121518989@patient.mssante.fr
PATIENT_yes=269029934173285@patient.mssante.fr
BADINS=279035121518988@patient.mssante.fr

start_capsink || exit 1
start_redis || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

base=$W/milter/base.conf
milter_conf "$base"
sed -i 's/^LogLevel info$/LogLevel debug/' "$base"
cat >>"$base" <<EOF
WhitelistFile $FIXTURES/it-list.xml
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
WhitelistPoll 1s
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
EOF
check "a forwarding rule for $FWDBOX (copy to $PEER2)" \
    ctl_ok -c "$base" forwards add "$FWDBOX" copy "$PEER2"

# run_cases TAG: every case once, each message's Subject starting with TAG.
# Writes "CASE status=N end=REPLY delivered=yes|no" lines to $W/TAG.seen.
run_cases() {
    local t=$1 seen=$W/$1.seen patient
    patient=PATIENT_$1
    patient=${!patient}
    : >"$seen"
    one() {       # one CASE SENDER-FUNCTION FROM TO [swaks options...]
        local case=$1 how=$2 from=$3 to=$4 rc end
        shift 4
        "$how" "$t-$case" "$from" "$to" "$@"
        rc=$?
        end=$(smtp_reply "$LAST_TRANSCRIPT" . | sed 's/queued as [0-9A-Za-z]*/queued/')
        [ "$rc" = 0 ] || end=$(grep -E '^<\*\* [45][0-9][0-9] ' "$LAST_TRANSCRIPT" | tail -1)
        echo "$case status=$rc end=$end" >>"$seen"
    }
    one out-ok send_mail "$LOCAL" "$PEER"
    one out-two send_mail "$LOCAL" "$PEER,$PEER2"
    one out-mixed send_mail "$LOCAL" "$PEER,$CLASSIC"
    one in-ok send_outside "$PEER" "$LOCAL"
    one in-null send_outside '<>' "$LOCAL"
    one in-classic send_outside "someone@gmail.com" "$LOCAL"
    one in-rule send_outside "$PEER" "$FWDBOX"
    one in-held-header send_outside "$PEER" "$LOCAL" \
        --add-header "X-MSSante-Held: no-whitelist; submission=local; forged"
    one out-patient send_mail "$LOCAL" "$patient"
    one out-bad-ins send_mail "$LOCAL" "$PEER,$BADINS"
    one fin-content send_mail "$LOCAL" "$patient" --header "Subject: [FIN]"
    printf 'Subject: %s-local\n\nlocal submission\n' "$t" | local_submit "$LOCAL" "$PEER"
    echo "local status=$?" >>"$seen"
}

# verdicts TAG: the verdict lines of the run with EarlyAccept TAG (between
# its start and stop marks in the milter log), without the time stamp,
# the queue id and the run's patient.
verdicts() {
    local patient=PATIENT_$1
    patient=${!patient}
    awk -v tag="=== start .*early-$1.conf" '$0 ~ tag { on = 1; next } /^=== stopped/ { on = 0 }
        on && / direction=/' "$W/milter/milter.log" |
        sed -E 's/^.*mssante-milter\[[0-9]+\]: //; s/^[0-9A-Za-z]+: direction=/QID: direction=/' |
        sed "s/${patient%@*}/PATIENT/g" |
        sed -E 's/hmac:[0-9a-f]+/hmac:PATIENT/g'   # LogPatientId hash: one patient per run
}

# delivered_set TAG: which messages of TAG reached whom (the run's patient
# written PATIENT).
delivered_set() {
    local f patient=PATIENT_$1
    patient=${!patient}
    for f in "$W"/sink/msg-*.eml; do
        [ -e "$f" ] || continue
        grep -q -E "^Subject: $1-" "$f" || continue
        printf '%s %s\n' "$(grep -m1 '^Subject: ' "$f" | sed "s/^Subject: $1-//")" \
            "$(grep '^X-Capsink-To: ' "$f" | sort | tr '\n' ' ')"
    done | sort | sed "s/${patient%@*}/PATIENT/g"
}

for ea in no yes; do
    conf=$W/milter/early-$ea.conf
    cp "$base" "$conf"
    echo "EarlyAccept $ea" >>"$conf"
    start_milter "$conf" || exit 1
    run_cases "$ea"
    check "EarlyAccept $ea: Postfix is done with every message" wait_queue_empty 30
    # the debug line of each message accepted early, to count them below
    grep -c "accepted at DATA" "$W/milter/milter.log" >"$W/early-count.$ea"
    stop_milter "EarlyAccept $ea"
done

check "the same SMTP replies with EarlyAccept no and yes" \
    eval 'diff -u "$W/no.seen" "$W/yes.seen" >"$W/seen.diff" || h_fail "$(cat "$W/seen.diff")"'
note "replies:" "$(cat "$W/yes.seen")"
check "the same verdict lines with EarlyAccept no and yes" \
    eval 'diff -u <(verdicts no) <(verdicts yes) >"$W/verdicts.diff" ||
          h_fail "$(cat "$W/verdicts.diff")"'
check "the verdict lines are all there (12 messages, 12 lines)" \
    eval '[ "$(verdicts yes | grep -c .)" = 12 ] || h_fail "$(verdicts yes)"'
check "the same deliveries with EarlyAccept no and yes" \
    eval 'diff -u <(delivered_set no) <(delivered_set yes) >"$W/dlv.diff" ||
          h_fail "$(cat "$W/dlv.diff")"'
check "the cases that must be refused were (mixed list at DATA, classic sender, bad INS, [FIN] with content)" \
    eval 'grep -q "^out-mixed status=25 .*550 5.7.1" "$W/yes.seen" &&
          grep -q "^in-classic status=24" "$W/yes.seen" &&
          grep -q "^out-bad-ins status=0" "$W/yes.seen" &&
          grep -q "^fin-content status=26 .*550 5.7.1" "$W/yes.seen" || h_fail "$(cat "$W/yes.seen")"'

# With "yes", exactly the ordinary messages were accepted early: out-ok,
# out-two, in-ok, in-null, out-bad-ins (its patient refused at RCPT),
# in-held-header.
n_no=$(cat "$W/early-count.no")
n_yes=$(cat "$W/early-count.yes")
check "EarlyAccept no: no message accepted early" test "$n_no" = 0
check "EarlyAccept yes: the 6 ordinary messages accepted at DATA (got $((n_yes - n_no)))" \
    test "$((n_yes - n_no))" = 6

# run_log TAG: the milter log of the run with EarlyAccept TAG.
run_log() {
    awk -v tag="=== start .*early-$1.conf" '$0 ~ tag { on = 1; next } /^=== stopped/ { on = 0 }
        on' "$W/milter/milter.log"
}
# The queue ids of the messages accepted at DATA in the "yes" run, and of
# those that were not (with a verdict line, not refused before DATA).
run_log yes | sed -n -E 's/^.*\]: debug: ([0-9A-Za-z]+): accepted at DATA .*$/\1/p' >"$W/early-ids"
run_log yes | sed -n -E 's/^.*\]: debug: ([0-9A-Za-z]+): early accept at DATA: [a-z-]+$/\1/p' |
    grep -v -x -F -f "$W/early-ids" >"$W/late-ids"
no_header_seen() {
    local id n=0
    while read -r id; do
        n=$((n + 1))
        [ "$id" != NOQUEUE ] || { h_fail "a message accepted at DATA without its queue id"; return 1; }
        run_log yes | grep -q "$id: direction=.* verdict=accept" ||
            { h_fail "no verdict line for $id"; return 1; }
        grep -q "$id: " "$W/postfix/log/maillog" ||
            { h_fail "$id is not a queue id Postfix logged"; return 1; }
        ! run_log yes | grep -q "$id: end of headers" ||
            { h_fail "the daemon saw the headers of $id: $(run_log yes | grep "$id: end of headers")"; return 1; }
    done <"$W/early-ids"
    [ "$n" = 6 ] || h_fail "$n message(s) accepted at DATA, 6 expected"
}
check "accepted at DATA: verdict line with the queue id, and not one header sent to the daemon" \
    no_header_seen
headers_seen() {
    local id n=0
    while read -r id; do
        run_log yes | grep -q "$id: end of headers ([1-9][0-9]* header(s))$" ||
            { h_fail "no end of headers for $id, which was not accepted at DATA"; return 1; }
        n=$((n + 1))
    done <"$W/late-ids"
    [ "$n" -ge 3 ] || h_fail "only $n message(s) took the whole path"
}
check "the others took the whole path: their headers reached the daemon" headers_seen
check "EarlyAccept no: a forged X-MSSante-Held header is deleted by the whole path" \
    eval '! grep -l -x -F "Subject: no-in-held-header" "$W"/sink/msg-*.eml | xargs grep -q -i "^X-MSSante-Held:"'
check "EarlyAccept yes: accepted at DATA, the message keeps it (unsigned: never the daemon's)" \
    eval 'grep -l -x -F "Subject: yes-in-held-header" "$W"/sink/msg-*.eml |
          xargs grep -q -x -F "X-MSSante-Held: no-whitelist; submission=local; forged"'
check "EarlyAccept yes: the rule of $FWDBOX applied (copy to $PEER2)" \
    eval 'grep -l -x -F "Subject: yes-in-rule" "$W"/sink/msg-*.eml |
          xargs grep -q -i -x -F "X-Capsink-To: <$PEER2>"'

# ---------------------------------------------------------------- two messages, one connection

# An SMTP session that sends an ordinary message (accepted at DATA: Postfix
# sends the daemon nothing more of it) then one to a patient (which the
# daemon must see whole, to open the conversation), on one connection.
PATIENT_two=189097512345638@patient.mssante.fr
conf=$W/milter/early-yes.conf
start_milter "$conf" || exit 1
session=("EHLO client.it.invalid")
for m in "two-first $PEER" "two-second $PATIENT_two"; do
    read -r subj to <<<"$m"
    session+=("MAIL FROM:<$LOCAL>" "RCPT TO:<$to>" DATA "From: <$LOCAL>" "To: <$to>"
              "Subject: $subj" "" "$subj" .)
done
smtp_raw two-in-one "${session[@]}" QUIT
# the two queue ids, in order, from the replies to the two "."
mapfile -t two_ids < <(sed -n -E 's/^<-  250 .*queued as ([0-9A-Za-z]+).*$/\1/p' "$LAST_TRANSCRIPT")
check "two messages on one connection: both accepted (250, two queue ids)" \
    eval '[ "${#two_ids[@]}" = 2 ] || h_fail "$(cat "$LAST_TRANSCRIPT")"'
check "... both delivered" eval 'delivered two-first && delivered two-second'
first=${two_ids[0]:-none} second=${two_ids[1]:-none}
check "... the first accepted at DATA, none of its headers sent to the daemon" \
    eval 'wait_milter_log "$first: accepted at DATA" &&
          ! grep -q "$first: end of headers" "$W/milter/milter.log"'
check "... the second taken whole: its headers reached the daemon, its conversation opened" \
    eval 'wait_milter_log "$second: end of headers \([1-9][0-9]* header\(s\)\)$" &&
          verdict_logged "$second" "verdict=accept .*conv=open"'
check "... one verdict line each" \
    eval '[ "$(grep -c -E "($first|$second): direction=" "$W/milter/milter.log")" = 2 ]'
stop_milter "two messages on one connection"

# ---------------------------------------------------------------- milter_protocol 2

conf=$W/milter/early-yes.conf
start_milter "$conf" || exit 1
postconf -c "$H_PF_ETC" -e "milter_protocol = 2" && postfix -c "$H_PF_ETC" reload >/dev/null 2>&1
sleep 1      # the reload reaches smtpd at its next connection; let master settle
send_mail proto2-mixed "$LOCAL" "$PEER,$CLASSIC"
check "milter_protocol 2: a mixed list is refused at end of message (550 5.7.1)" \
    assert_reply "$LAST_TRANSCRIPT" . '^550 5\.7\.1 .*outlook\.fr'
send_mail proto2-ok "$LOCAL" "$PEER"
check "milter_protocol 2: an ordinary message is accepted" \
    assert_reply "$LAST_TRANSCRIPT" . '^250 '
check "milter_protocol 2: and delivered" delivered proto2-ok
stop_milter "milter_protocol 2"
