#!/bin/bash
# t_trust_space.sh - the trust-space rules, end to end: swaks -> a real
# Postfix (smtpd_milters from postfix-examples/) -> mssante-milter -> the
# capture sink.  Single-node setup: the list comes from WhitelistFile, no
# Redis.  The operator's own domain is chu-test.mssante.fr.
#
# Outbound mail comes from 127.0.0.1, inside the default InternalHosts;
# inbound mail comes from the outside (send_outside: XCLIENT), as it does on
# a real MX.  Since issue 10 the side is the client's, not the sender's.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --postfix

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
CLASSIC=secretariat@outlook.fr

conf=$W/milter/mssante-milter.conf
milter_conf "$conf"
echo "WhitelistFile $FIXTURES/it-list.xml" >>"$conf"
start_milter "$conf" || exit 1

# envelope_is NAME FROM TO...: the captured copy has exactly this envelope.
envelope_is() {
    local name=$1 from=$2 f want got
    shift 2
    f=$(grep -l -x -F "Subject: $name" "$W"/sink/msg-*.eml | head -1)
    want=$(printf 'X-Capsink-From: <%s>\n' "$from"; printf 'X-Capsink-To: <%s>\n' "$@")
    got=$(grep '^X-Capsink-' "$f")
    [ "$got" = "$want" ] || h_fail "envelope of \"$name\":
$got
expected:
$want"
}

# --- outbound -------------------------------------------------------------

send_mail out-mssante "$LOCAL" "$PEER"
check "outbound to MSSante: accepted (swaks status 0)" test $? = 0
check "outbound to MSSante: delivered" delivered out-mssante
check "outbound to MSSante: envelope kept" envelope_is out-mssante "$LOCAL" "$PEER"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "outbound to MSSante: one log line with queue id $qid, outbound, accept" \
    verdict_logged "$qid" "outbound.*accept|accept.*outbound"

# A patient is in the trust space, but a message to one opens a
# conversation, which lives in Redis: without Redis it is deferred, never
# lost (t_patients.sh covers the patient rules with Redis).
send_mail out-patient "$LOCAL" "279035121518989@patient.mssante.fr"
check "outbound to a patient address, no Redis: deferred at RCPT with 451 4.3.0" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^451 4\.3\.0 '

send_mail out-classic "$LOCAL" "$CLASSIC"
rc=$?
check "outbound to @outlook.fr: refused at DATA with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
check "outbound to @outlook.fr: reply names the address" \
    assert_reply "$LAST_TRANSCRIPT" DATA "$CLASSIC"
check "outbound to @outlook.fr: swaks saw the refusal (status 25)" test "$rc" = 25
check "outbound to @outlook.fr: not delivered" not_delivered out-classic

send_mail out-mixed "$LOCAL" "$PEER,$CLASSIC,autre.confrere@chu-lille.mssante.fr"
check "mixed list: every RCPT accepted (the refusal is for the whole message)" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO:<autre.confrere" '^250 '
check "mixed list: refused at DATA with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
check "mixed list: reply names the classic address" \
    assert_reply "$LAST_TRANSCRIPT" DATA "$CLASSIC"
check "mixed list: reply does not name the MSSante addresses" \
    reply_lacks "$LAST_TRANSCRIPT" DATA "$PEER" autre.confrere@chu-lille.mssante.fr
check "mixed list: nothing delivered to anyone, queue empty" not_delivered out-mixed
qid=$(maillog_qid 'milter-reject: DATA .*outlook')
check "mixed list: log line with queue id ${qid:-?} says reject" verdict_logged "$qid" reject

# --- inbound ----------------------------------------------------------------

send_outside in-classic "someone@gmail.com" "$LOCAL"
rc=$?
check "inbound from a classic domain: refused at RCPT with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
check "inbound from a classic domain: swaks status 24 (no RCPT accepted)" test "$rc" = 24
check "inbound from a classic domain: not delivered" not_delivered in-classic

send_outside in-classic-uc "someone@gmail.com" "DR.MARTIN@CHU-TEST.MSSANTE.FR"
check "inbound from a classic domain to an upper-case local address: refused at RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '

send_outside in-listed "dr.durand@chu-lille.mssante.fr" "$LOCAL"
check "inbound from a listed domain: accepted" test $? = 0
check "inbound from a listed domain: delivered" delivered in-listed
check "inbound from a listed domain: envelope kept" \
    envelope_is in-listed "dr.durand@chu-lille.mssante.fr" "$LOCAL"

send_outside in-null '<>' "$LOCAL"
check "inbound null sender (bounce, read receipt): accepted" test $? = 0
check "inbound null sender: delivered" delivered in-null
check "inbound null sender: envelope sender stays <>" envelope_is in-null "" "$LOCAL"

send_outside in-apicrypt "medecin@interop-mssante.apicrypt.org" "$LOCAL"
check "inbound from interop-mssante.apicrypt.org: delivered" delivered in-apicrypt

# --- lookalikes ---------------------------------------------------------------

for dom in interop-mssante.apycrypt.org chu-lille.mssante.fr.example.com evilmssante.fr \
           apicrypt.org mssante.fr lille.chu-lille.mssante.fr; do
    send_mail "look-out-$dom" "$LOCAL" "dr.x@$dom"
    check "lookalike $dom as recipient: refused at DATA with 550 5.7.1" \
        assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
    send_outside "look-in-$dom" "dr.x@$dom" "$LOCAL"
    check "lookalike $dom as sender: refused at RCPT with 550 5.7.1" \
        assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
done
for dom in interop-mssante.apycrypt.org chu-lille.mssante.fr.example.com evilmssante.fr \
           apicrypt.org mssante.fr lille.chu-lille.mssante.fr; do
    check "lookalike $dom: nothing delivered" not_delivered "look-out-$dom"
done

# The accented domain needs SMTPUTF8, which swaks cannot declare: a raw
# session does.  Postfix accepts UTF-8 envelopes (smtputf8_enable), so
# this reaches the milter.
accent=medecin.mssanté.fr
smtp_raw look-accent-out "EHLO client.it.invalid" "MAIL FROM:<$LOCAL> SMTPUTF8" \
    "RCPT TO:<dr.x@$accent>" DATA "Subject: look-accent-out" "" "corps" . QUIT
check "lookalike medecin.mssanté.fr (SMTPUTF8) as recipient: refused with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
smtp_raw look-accent-in "EHLO client.it.invalid" "XCLIENT ADDR=$OUTSIDE_ADDR" \
    "EHLO client.it.invalid" "MAIL FROM:<dr.x@$accent> SMTPUTF8" \
    "RCPT TO:<$LOCAL>" DATA "Subject: look-accent-in" "" "corps" . QUIT
check "lookalike medecin.mssanté.fr (SMTPUTF8) as sender: refused at RCPT with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
check "lookalike medecin.mssanté.fr: nothing delivered" not_delivered look-accent-out

# --- normalisation --------------------------------------------------------------

send_mail case-out "$LOCAL" "Dr.X@MEDECIN.MSSANTE.FR"
check "upper-case MSSante recipient: delivered" delivered case-out
send_mail dot-out "$LOCAL" "x@medecin.mssante.fr."
check "MSSante recipient with a trailing dot: accepted" assert_reply "$LAST_TRANSCRIPT" . '^250 '
check "MSSante recipient with a trailing dot: delivered" delivered dot-out
send_outside case-in "Dr.Durand@CHU-LILLE.MSSANTE.FR" "$LOCAL"
check "upper-case MSSante sender: delivered" delivered case-in
send_mail case-local "DR.MARTIN@CHU-TEST.MSSANTE.FR" "$CLASSIC"
check "upper-case local sender to a classic address: refused at DATA (still outbound)" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '

stop_milter
