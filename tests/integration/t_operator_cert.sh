#!/bin/bash
# t_operator_cert.sh - the operator certificate (issue 10) through a real
# Postfix doing STARTTLS, with a test PKI made here: a CA standing for
# IGC-Sante (Postfix's smtpd_tls_CAfile), an unrelated CA, and MTA client
# certificates whose CNs are listed in the test list for chu-lille.mssante.fr
# (op-lille), for our own chu-test.mssante.fr (op-own), nowhere
# (op-unlisted), and a listed CN signed by the unrelated CA (op-rogue:
# Postfix does not verify it, so the milter gets no {cert_subject}).
#
# Every message comes from the outside (XCLIENT after STARTTLS: Postfix
# keeps the TLS session and its verified certificate), except where the
# case says inside.  The list is in Redis, so that a new version with a
# different CN for a domain can be published while the daemon runs.
set -u
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/pki.sh"
h_require_tools openssl
perl -MNet::SSLeay -e 1 2>/dev/null ||
    h_skip_all "swaks needs Net::SSLeay for STARTTLS (Debian package libnet-ssleay-perl)"
h_setup --root --redis --sink

LOCAL=dr.martin@chu-test.mssante.fr
PEER=dr.durand@chu-lille.mssante.fr
PKI=$W/pki

if ! { pki_make "$PKI" && pki_make_operators "$PKI"; }; then
    not_ok "the test PKI is made"
    exit 1
fi
free_port MILTER_PORT || exit 1
mapfile -t TLS < <(postfix_tls_settings "$PKI")
start_postfix "inet:127.0.0.1:$MILTER_PORT" "${TLS[@]}" || exit 1

base=$W/milter/base.conf
milter_conf "$base"
cat >>"$base" <<EOF
Redis 127.0.0.1:$REDIS_PORT
WhitelistPoll 1s
EOF
check "the test list is published to Redis" \
    ctl_ok -c "$base" whitelist load "$FIXTURES/it-list.xml"
for mode in log enforce; do
    cp "$base" "$W/milter/$mode.conf"
    echo "OperatorCertificate $mode" >>"$W/milter/$mode.conf"
done

# tls_send NAME FROM TO CERT [swaks options...]: from the outside, over
# STARTTLS presenting $PKI/CERT.pem; CERT "none": STARTTLS without a client
# certificate; "plain": no TLS at all.
tls_send() {
    local name=$1 from=$2 to=$3 cert=$4 tls=()
    shift 4
    case $cert in
        plain) ;;
        none) tls=(--tls) ;;
        *) tls=(--tls --tls-cert "$PKI/$cert.pem" --tls-key "$PKI/$cert.key") ;;
    esac
    send_outside "$name" "$from" "$to" "${tls[@]}" "$@"
}

# verdict_of FILE REGEX: the daemon's line for the message of transcript
# FILE (by queue id, or the last NOQUEUE line) matches REGEX.
verdict_of() {
    local qid l
    qid=$(queue_id_of "$1")
    if [ -n "$qid" ]; then
        verdict_logged "$qid" "$2"
        return
    fi
    l=$(grep -F "NOQUEUE: direction=" "$W/milter/milter.log" | tail -1)
    printf '%s\n' "$l" | grep -E -q -- "$2" && return 0
    h_fail "verdict line does not match /$2/: $l"
}

# tls_seen HOW: Postfix logged a TLS session of that kind (Trusted,
# Untrusted, Anonymous) for the last message (the log is written by
# postlogd, a moment after the session: up to 5 s).
tls_seen() {
    local i
    for i in $(seq 1 50); do
        maillog | grep -E "(Trusted|Untrusted|Anonymous) TLS connection established" | tail -1 |
            grep -q ": $1 TLS connection" && return 0
        sleep 0.1
    done
    h_fail "last TLS session was not \"$1\": $(maillog | grep 'TLS connection established' | tail -1)"
}

# --- OperatorCertificate log: judged, logged, never refused -----------------------

start_milter "$W/milter/log.conf" || exit 1
tls_send log-listed "$PEER" "$LOCAL" op-lille
check "log: a verified listed CN, accepted" delivered log-listed
check "log: Postfix verified it (Trusted)" tls_seen Trusted
check "log: the verdict line says cert=ok and the CN" \
    verdict_of "$LAST_TRANSCRIPT" "direction=inbound .*verdict=accept .*cert=ok cert_cn=mx6\.operateur-test\.invalid cert_issuer=\"mssante-milter test CA\""
tls_send log-unlisted "$PEER" "$LOCAL" op-unlisted
check "log: a verified unlisted CN, accepted" delivered log-unlisted
check "log: the verdict line says cert=mismatch and the CN" \
    verdict_of "$LAST_TRANSCRIPT" "verdict=accept .*cert=mismatch cert_cn=smtp\.inconnu\.test"
tls_send log-plain "$PEER" "$LOCAL" plain
check "log: no TLS, accepted" delivered log-plain
check "log: no TLS, cert=none" verdict_of "$LAST_TRANSCRIPT" "verdict=accept .*cert=none"
tls_send log-rogue "$PEER" "$LOCAL" op-rogue
check "log: a listed CN from the untrusted CA, accepted" delivered log-rogue
check "log: Postfix did not verify it (Untrusted)" tls_seen Untrusted
check "log: ... so the milter saw no certificate (cert=none, no CN)" \
    eval 'verdict_of "$LAST_TRANSCRIPT" "cert=none" && ! verdict_of "$LAST_TRANSCRIPT" "cert_cn="'
tls_send log-forged "directeur@chu-test.mssante.fr" "$LOCAL" op-unlisted
check "log: our own domain with another CN is still refused (550 5.7.1)" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*chu-test\.mssante\.fr'
stop_milter "log mode"

# --- OperatorCertificate enforce ---------------------------------------------------

start_milter "$W/milter/enforce.conf" || exit 1
ENFORCE_PID=$H_PID_MILTER
tls_send enf-listed "$PEER" "$LOCAL" op-lille
check "enforce: a verified CN listed for the sender's domain, accepted" delivered enf-listed
check "enforce: its verdict line says cert=ok" verdict_of "$LAST_TRANSCRIPT" "verdict=accept .*cert=ok"

tls_send enf-unlisted "$PEER" "$LOCAL" op-unlisted
check "enforce: a verified CN listed nowhere: 550 5.7.1 at RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
check "enforce: the reply names the domain and the CN" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" "smtp\.inconnu\.test.*chu-lille\.mssante\.fr"
check "enforce: rule=operator-certificate-mismatch" \
    verdict_of "$LAST_TRANSCRIPT" "rule=operator-certificate-mismatch .*cert=mismatch"
tls_send enf-other "$PEER" "$LOCAL" op-own
check "enforce: a CN listed for another domain: 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*mx1\.operateur-test\.invalid'

tls_send enf-anon "$PEER" "$LOCAL" none
check "enforce: STARTTLS without a client certificate: 450 4.7.1 at RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^450 4\.7\.1 .*IGC-Sante'
tls_send enf-plain "$PEER" "$LOCAL" plain
check "enforce: no TLS at all: 450 4.7.1 at RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^450 4\.7\.1 '
check "enforce: rule=operator-certificate-missing" \
    verdict_of "$LAST_TRANSCRIPT" "verdict=tempfail rule=operator-certificate-missing .*cert=none"
tls_send enf-rogue "$PEER" "$LOCAL" op-rogue
check "enforce: a listed CN from the untrusted CA: 450 4.7.1 (never verified)" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^450 4\.7\.1 '
check "enforce: none of the refused messages was delivered or queued" \
    eval 'not_delivered enf-unlisted && not_delivered enf-other && not_delivered enf-anon &&
          not_delivered enf-plain && not_delivered enf-rogue'

tls_send enf-null-ok '<>' "$LOCAL" op-lille
check "enforce: null sender, a CN listed for some domain: accepted" delivered enf-null-ok
tls_send enf-null-bad '<>' "$LOCAL" op-unlisted
check "enforce: null sender, a CN listed nowhere: 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*smtp\.inconnu\.test'
tls_send enf-null-none '<>' "$LOCAL" none
check "enforce: null sender without a certificate: 450 4.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^450 4\.7\.1 '

tls_send enf-classic "someone@gmail.com" "$LOCAL" none
check "enforce: a sender off the list is not the certificate rule's: 550 5.7.1 (sender rule)" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*gmail\.com'

tls_send enf-forged-none "directeur@chu-test.mssante.fr" "$LOCAL" none
check "enforce: our own domain without a certificate: 550 5.7.1, not the 450" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*chu-test\.mssante\.fr'
check "enforce: ... rule=own-domain-forged" \
    verdict_of "$LAST_TRANSCRIPT" "rule=own-domain-forged"
tls_send enf-forged-other "directeur@chu-test.mssante.fr" "$LOCAL" op-lille
check "enforce: our own domain with another operator's CN: 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
tls_send enf-own "directeur@chu-test.mssante.fr" "$LOCAL" op-own
check "enforce: our own domain with our operator's listed CN: accepted" delivered enf-own
check "enforce: ... as outbound mail of that operator" \
    verdict_of "$LAST_TRANSCRIPT" "direction=outbound .*verdict=accept .*cert=ok cert_cn=mx1\."

send_mail enf-inside "$PEER" "$LOCAL"
check "enforce: a client inside (127.0.0.1, no TLS) is not asked for a certificate" \
    delivered enf-inside

# --- a new list changes the CNs without a restart ------------------------------------

sed -e 's/CN=mx6\.operateur-test\.invalid/CN=mx9.operateur-test.invalid/' \
    -e 's/2025-03-13T14:54:10Z/2025-03-14T08:00:00Z/' \
    "$FIXTURES/it-list.xml" >"$W/list-new-cn.xml"
check "a list where chu-lille.mssante.fr's CN is now mx9 is published" \
    ctl_ok -c "$base" whitelist load "$W/list-new-cn.xml"
version=$(sed -n 's/^published version \([^:]*\):.*/\1/p' <<<"$CTL_OUT")
check "the daemon swaps to version ${version:-?} (WhitelistPoll 1s)" \
    wait_milter_log "whitelist swapped: version=$version " 15
tls_send swap-old "$PEER" "$LOCAL" op-lille
check "after the swap: the old CN (mx6) is refused with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*mx6\.operateur-test\.invalid'
tls_send swap-new "$PEER" "$LOCAL" op-new
check "after the swap: the new CN (mx9) is accepted" delivered swap-new
check "the same daemon process all along (no restart)" \
    eval '[ "$H_PID_MILTER" = "$ENFORCE_PID" ] && kill -0 "$ENFORCE_PID"'
check "mssantectl check agrees: the old CN is now a mismatch" \
    eval '! "$CTL_BIN" -c "$W/milter/enforce.conf" check --client "$OUTSIDE_ADDR" \
          --cert-cn mx6.operateur-test.invalid --from "$PEER" "$LOCAL" >"$W/check.out" 2>&1 &&
          grep -q "operator-certificate-mismatch\|mismatch" "$W/check.out"'
check "mssantectl check agrees: the new CN is accepted" \
    ctl_ok -c "$W/milter/enforce.conf" check --client "$OUTSIDE_ADDR" \
    --cert-cn MX9.operateur-test.invalid --from "$PEER" "$LOCAL"
stop_milter "enforce mode"
