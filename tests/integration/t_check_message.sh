#!/bin/bash
# t_check_message.sh - "mssantectl check" describing a message (--from,
# --client, --auth, --cert-cn): the verdict, step, rule and reply the
# daemon's rules give, as text and JSON, and the exit status.  The list is
# tests/fixtures/it-list.xml (WhitelistFile): neither root, Redis nor
# Postfix is needed.
set -u
. "$(dirname "$0")/../lib/harness.sh"
[ -x "$CTL_BIN" ] || { not_ok "mssantectl is built" "build first: make BUILD=$BUILD"; exit 1; }
h_setup --tools python3   # python3: JSON checks

LOCAL=dr.martin@chu-test.mssante.fr
PEER=dr.durand@chu-lille.mssante.fr
LILLE_CN=mx6.operateur-test.invalid     # listed for chu-lille.mssante.fr
OWN_CN=mx1.operateur-test.invalid       # listed for chu-test.mssante.fr

conf=$W/enforce.conf
milter_conf "$conf"
cat >>"$conf" <<EOF
WhitelistFile $FIXTURES/it-list.xml
OperatorCertificate enforce
InternalHosts 127.0.0.0/8, 10.0.0.0/8
EOF
logconf=$W/log.conf
milter_conf "$logconf"
echo "WhitelistFile $FIXTURES/it-list.xml" >>"$logconf"

# run CONF ARGS...: mssantectl -c CONF ARGS; OUT, RC.
run() {
    local c=$1
    shift
    OUT=$("$CTL_BIN" -c "$c" "$@" 2>&1)
    RC=$?
}

# expect NAME RC REGEX CONF ARGS...: exit status RC and output matching REGEX.
expect() {
    local name=$1 want=$2 re=$3
    shift 3
    run "$@"
    if [ "$RC" = "$want" ] && grep -E -q -- "$re" <<<"$OUT"; then
        ok "$name"
    else
        not_ok "$name" "exit status $RC (want $want), output:" "$OUT" "expected /$re/"
    fi
}

# json_is NAME EXPR WANT CONF ARGS...: python expression EXPR on the JSON
# document d prints WANT.
json_is() {
    local name=$1 expr=$2 want=$3 got
    shift 3
    run "$@"
    got=$(python3 -c "import json, sys; d = json.load(sys.stdin); print($expr)" <<<"$OUT" 2>&1)
    if [ "$got" = "$want" ]; then
        ok "$name"
    else
        not_ok "$name" "got: $got (want $want)" "$OUT"
    fi
}

# --- from the outside, the operator certificate ------------------------------------

expect "outside, listed sender, no certificate (enforce): 450 4.7.1 at RCPT, exit 1" 1 \
    '^verdict +tempfail at RCPT TO .*450 4\.7\.1 ' \
    "$conf" check --client 203.0.113.5 --from "$PEER" "$LOCAL"
expect "outside, listed CN in another case: accepted, exit 0" 0 '^verdict +accept$' \
    "$conf" check --client 203.0.113.5 --cert-cn MX6.Operateur-Test.INVALID --from "$PEER" "$LOCAL"
expect "outside, CN listed for another domain: 550 5.7.1 naming both" 1 \
    "550 5\.7\.1 Le certificat $OWN_CN .*chu-lille\.mssante\.fr" \
    "$conf" check --client 203.0.113.5 --cert-cn "$OWN_CN" --from "$PEER" "$LOCAL"
expect "without --client the client is outside" 1 'client +\(not given\): outside' \
    "$conf" check --from "$PEER" "$LOCAL"
expect "log mode (the default): no certificate, accepted, the finding shown" 0 \
    'operator certificate rule: none \(OperatorCertificate log\)' \
    "$logconf" check --client 203.0.113.5 --from "$PEER" "$LOCAL"
expect "the null sender (no --from): a CN listed for any domain is enough" 0 \
    '^sender +<> ' "$conf" check --client 203.0.113.5 --cert-cn "$OWN_CN" "$LOCAL"

# --- our own domain ----------------------------------------------------------------

expect "own domain from the outside: own-domain-forged, even in log mode" 1 \
    '550 5\.7\.1 Expediteur du domaine chu-test\.mssante\.fr refuse' \
    "$logconf" check --client 203.0.113.5 --from directeur@chu-test.mssante.fr "$LOCAL"
expect "own domain from the outside with our operator's CN: accepted, outbound" 0 \
    '^direction +outbound$' \
    "$conf" check --client 203.0.113.5 --cert-cn "$OWN_CN" --from directeur@chu-test.mssante.fr "$LOCAL"

# --- from the inside ------------------------------------------------------------------

expect "InternalHosts client, null sender, classic recipient: 550 5.7.1 at DATA" 1 \
    '^verdict +reject at DATA: 550 5\.7\.1 .*secretariat@outlook\.fr' \
    "$conf" check --client 10.1.2.3 --from '<>' secretariat@outlook.fr confrere@medecin.mssante.fr
expect "an IPv4-mapped IPv6 client matches its IPv4 block" 0 'inside, in InternalHosts' \
    "$conf" check --client ::ffff:10.1.2.3 --from "$LOCAL" confrere@medecin.mssante.fr
expect "--auth: inside, a foreign sender still cannot write to a classic address" 1 \
    'reject at DATA' "$conf" check --auth --from app@gmail.com secretariat@outlook.fr
expect "--auth: no certificate asked for" 0 'operator certificate rule: not applied' \
    "$conf" check --auth --from "$PEER" confrere@medecin.mssante.fr

# --- route addresses, patients ---------------------------------------------------------

expect "a route address: 550 5.1.3 for that recipient, exit 1" 1 \
    'victim%gmail\.com@chu-test\.mssante\.fr +mssante +reject +550 5\.1\.3' \
    "$conf" check --client 127.0.0.1 --from "$LOCAL" victim%gmail.com@chu-test.mssante.fr \
    confrere@medecin.mssante.fr
check "... the message goes on for the other recipient" \
    contains "$OUT" "verdict     accept for 1 of 2 recipients (the others refused at RCPT TO)"
expect "a patient address with a wrong key: 550 5.1.1" 1 '550 5\.1\.1 ' \
    "$conf" check --client 127.0.0.1 --from "$LOCAL" 279035121518988@patient.mssante.fr

# --- JSON ------------------------------------------------------------------------------

args=("$conf" --json check --client 203.0.113.5 --cert-cn smtp.inconnu.test --from "$PEER" "$LOCAL")
json_is "JSON: message verdict" 'd["message"]["verdict"]' reject "${args[@]}"
json_is "JSON: rule and step" 'd["message"]["rule"] + " " + d["message"]["step"]' \
    "operator-certificate-mismatch rcpt" "${args[@]}"
json_is "JSON: the reply" 'd["message"]["reply"][:9]' "550 5.7.1" "${args[@]}"
json_is "JSON: the client and the finding" \
    '"%s %s %s %s" % (d["message"]["client"], d["message"]["inside"], d["message"]["cert"], d["message"]["cert_cn"])' \
    "203.0.113.5 False mismatch smtp.inconnu.test" "${args[@]}"
json_is "JSON: each recipient with its class and verdict" \
    '[(r["address"], r["class"], r["verdict"]) for r in d["message"]["recipients"]]' \
    "[('$LOCAL', 'mssante', 'reject')]" "${args[@]}"
json_is "JSON: the whitelist object is the same as without options" \
    'sorted(d["whitelist"].keys())' "['count', 'generated', 'origin', 'source', 'version']" "${args[@]}"
json_is "JSON: --json after the options too" 'd["message"]["verdict"]' accept \
    "$conf" check --auth --from "$LOCAL" confrere@medecin.mssante.fr --json

# --- usage -------------------------------------------------------------------------------

expect "--client that is not an address: exit 2" 2 'not an IPv4 or IPv6 address' \
    "$conf" check --client mx.example.fr --from "$PEER" "$LOCAL"
expect "--from without a value: exit 2" 2 '--from needs a value' "$conf" check --from
expect "options but no recipient: exit 2" 2 'give at least one address' \
    "$conf" check --auth --from "$LOCAL"
expect "without options check still classifies addresses" 1 '^secretariat@outlook\.fr +classic ' \
    "$conf" check confrere@medecin.mssante.fr secretariat@outlook.fr
