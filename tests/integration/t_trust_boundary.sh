#!/bin/bash
# t_trust_boundary.sh - issue 10 end to end, without TLS: which clients are
# inside, the forged own domain, route addresses, mail from the inside
# with a null or foreign sender, system mail (t_operator_cert.sh has the
# certificate rule).
#
# Every client runs on 127.0.0.1, which the default InternalHosts counts
# as inside.  A client from the outside is played with XCLIENT
# (send_outside): Postfix then shows the milter a connect event from
# OUTSIDE_ADDR, which the first cases check before any rule relies on it.
# Postfix delivers "localhost" and $myhostname itself (mydestination), its
# local service handing them to the sink, so that {rcpt_mailer} is
# "local" as on a real MX without anything written to /var/mail.
#
# postfix-examples/main.cf.snippet turns allow_percent_hack and
# swap_bangpath off; this Postfix turns them back on (Postfix's defaults),
# because the milter must refuse route addresses on its own: a server
# whose main.cf kept the defaults is exactly the one issue 10 is about.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --root --sink

LOCAL=dr.martin@chu-test.mssante.fr
PEER=dr.durand@chu-lille.mssante.fr
CLASSIC=secretariat@outlook.fr

free_port MILTER_PORT || exit 1
H_PF_LOCAL_SERVICE="local unix - - n - - smtp"
start_postfix "inet:127.0.0.1:$MILTER_PORT" "mydestination = localhost, \$myhostname" \
    "local_transport = local:[127.0.0.1]:$SINK_PORT" \
    "allow_percent_hack = yes" "swap_bangpath = yes" || exit 1
conf=$W/milter/mssante-milter.conf
milter_conf "$conf"
sed -i 's/^LogLevel info$/LogLevel debug/' "$conf"
echo "WhitelistFile $FIXTURES/it-list.xml" >>"$conf"
start_milter "$conf" || exit 1

# line_of FILE: the daemon's verdict line for the message of that
# transcript (by queue id when Postfix gave one, else the last NOQUEUE).
qid_line() {
    local qid
    qid=$(queue_id_of "$1")
    if [ -n "$qid" ]; then
        grep -F "$qid: direction=" "$W/milter/milter.log" | tail -1
    else
        grep -F "NOQUEUE: direction=" "$W/milter/milter.log" | tail -1
    fi
}

# line_has FILE REGEX / line_lacks FILE STRING
line_has() {
    local l
    l=$(qid_line "$1")
    printf '%s\n' "$l" | grep -E -q -- "$2" && return 0
    h_fail "verdict line does not match /$2/: $l"
}
line_lacks() {
    local l
    l=$(qid_line "$1")
    case $l in *"$2"*) h_fail "verdict line has \"$2\": $l"; return 1 ;; esac
    [ -n "$l" ] || h_fail "no verdict line"
}

# never_reached ADDR...: once the queue is empty, the sink holds nothing
# for these envelope recipients (a bounce to the sender quotes the
# message, so the Subject alone proves nothing).
never_reached() {
    local a
    wait_queue_empty 20 || return 1
    for a in "$@"; do
        if [ -n "$(sink_file_for_rcpt "$a")" ]; then
            h_fail "something reached <$a>: $(sink_file_for_rcpt "$a")"
            return 1
        fi
    done
}

# maillog_has REGEX: Postfix logged a matching line (within 10 s).
maillog_has() {
    local i
    for i in $(seq 1 100); do
        maillog | grep -E -q -- "$1" && return 0
        sleep 0.1
    done
    h_fail "no maillog line matches /$1/:
$(maillog | tail -5)"
}

# --- who is inside ------------------------------------------------------------

send_outside who-out "$PEER" "$LOCAL"
check "XCLIENT: a client from the outside is accepted for a local mailbox" \
    assert_reply "$LAST_TRANSCRIPT" . '^250 '
check "XCLIENT: the milter's connect event is the outside address, not 127.0.0.1" \
    wait_milter_log "debug: connect from mx\.partenaire\.invalid\[192\.0\.2\.25\]:[0-9]+$"
check "XCLIENT: its verdict line says inbound, without internal=yes" \
    eval 'line_has "$LAST_TRANSCRIPT" "direction=inbound " && line_lacks "$LAST_TRANSCRIPT" internal=yes'
send_mail who-in "$PEER" "$LOCAL"
check "a client on 127.0.0.1 (default InternalHosts): outbound, internal=yes" \
    line_has "$LAST_TRANSCRIPT" "direction=outbound .*verdict=accept internal=yes"
check "a client on 127.0.0.1: the connect line says InternalHosts" \
    wait_milter_log "debug: connect from [^ ]*\[127\.0\.0\.1\]:[1-9][0-9]* \(InternalHosts\)$"

# --- the operator's own domain, forged from the outside -----------------------

send_outside forged "directeur@chu-test.mssante.fr" "$LOCAL"
check "own domain from the outside: refused at RCPT with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*chu-test\.mssante\.fr'
check "own domain from the outside: the reply says why, in French and English" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" "Expediteur du domaine chu-test\.mssante\.fr refuse.* / Sender domain chu-test\.mssante\.fr refused"
check "own domain from the outside: verdict line rule=own-domain-forged, inbound" \
    line_has "$LAST_TRANSCRIPT" "direction=inbound .*verdict=reject rule=own-domain-forged"
check "own domain from the outside: not delivered" not_delivered forged
send_outside forged-sub "x@AUTRE-SITE.chu-test.mssante.fr." "$LOCAL,accueil@chu-test.mssante.fr"
check "another of our domains, any case: refused at the first RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO:<$LOCAL>" '^550 5\.7\.1 '
check "... and at the second" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO:<accueil@" '^550 5\.7\.1 '
send_outside forged-null-ok '<>' "$LOCAL"
check "the null sender from the outside is still accepted (OperatorCertificate log)" \
    delivered forged-null-ok
send_mail own-inside "directeur@chu-test.mssante.fr" "$LOCAL"
check "own domain from the inside: delivered" delivered own-inside

# --- route addresses -----------------------------------------------------------

mkdir -p "$W/snippet"
cp "$H_ROOT/postfix-examples/main.cf.snippet" "$W/snippet/main.cf"
check "main.cf.snippet turns allow_percent_hack and swap_bangpath off" \
    test "$(postconf -c "$W/snippet" -h allow_percent_hack swap_bangpath 2>/dev/null | tr '\n' ' ')" = "no no "

# Aimed at a destination Postfix delivers itself ([127.0.0.1], localhost),
# Postfix's defaults (allow_percent_hack, swap_bangpath,
# resolve_dequoted_address) would hand these to dr.martin@chu-test.mssante.fr:
# they must meet the milter's 550 5.1.3 from both sides.
ROUTES=(
    "dr.martin%chu-test.mssante.fr@[127.0.0.1]"
    "dr.martin%chu-test.mssante.fr@localhost"
    "chu-test.mssante.fr!dr.martin@[127.0.0.1]"
    '"dr.martin@chu-test.mssante.fr"@[127.0.0.1]'
    "dr.martin@[127.0.0.1]"
)
# Aimed at a relayed domain, or at an address literal that is not this
# host: Postfix refuses them itself from the outside (allow_untrusted_routing
# = no, relay check), so only the inside meets the milter there.
ROUTES_OUT=(
    "victim%gmail.com@chu-test.mssante.fr"
    "gmail.com!victim@chu-test.mssante.fr"
    '"victim@gmail.com"@chu-test.mssante.fr'
    "dr.martin@[IPv6:::1]"
)
i=0
for r in "${ROUTES[@]}" "${ROUTES_OUT[@]}"; do
    i=$((i + 1))
    send_outside "route-in-$i" "$PEER" "$r"
    if [ "$i" -le "${#ROUTES[@]}" ]; then
        check "route address $r from the outside: 550 5.1.3 at RCPT" \
            assert_reply "$LAST_TRANSCRIPT" "RCPT TO" \
            '^550 5\.1\.3 .*Route addresses are not accepted in the MSSante trust space'
    else
        check "route address $r from the outside: refused at RCPT (by Postfix)" \
            assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^5[0-9][0-9] '
    fi
    send_mail "route-out-$i" "$LOCAL" "$r"
    check "route address $r from the inside: 550 5.1.3 at RCPT" \
        assert_reply "$LAST_TRANSCRIPT" "RCPT TO" \
        '^550 5\.1\.3 .*Les adresses de routage ne sont pas acceptees'
    check "route address $r: verdict line rule=route-address" \
        line_has "$LAST_TRANSCRIPT" "verdict=reject rule=route-address"
done
for i in $(seq 1 $((${#ROUTES[@]} + ${#ROUTES_OUT[@]}))); do
    check "route address #$i: nothing delivered, from either side" \
        eval 'not_delivered route-in-'"$i"' && not_delivered route-out-'"$i"
done
send_outside route-sender "x%chu-lille.mssante.fr@[127.0.0.1]" "$LOCAL"
check "route address as the sender, from the outside: 550 5.1.3 at RCPT, naming the sender" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.1\.3 .*\(sender x%chu-lille'
send_mail route-sender-in "chu-test.mssante.fr!x@[127.0.0.1]" "$PEER"
check "route address as the sender, from the inside: 550 5.1.3 at RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.1\.3 '

# sendmail: refused at end of message, like every refusal of a local submission
printf 'Subject: route-local\n\ncorps\n' | local_submit "$LOCAL" "victim%gmail.com@chu-test.mssante.fr"
check "route address by sendmail: milter-reject at end of message with 5.1.3" \
    maillog_has "milter-reject: END-OF-MESSAGE.*5\.1\.3.*to=<victim%gmail\.com@chu-test\.mssante\.fr>"
check "route address by sendmail: never delivered to it (the sender got a bounce)" \
    never_reached victim%gmail.com@chu-test.mssante.fr victim@gmail.com

# --- from the inside, whatever the sender ----------------------------------------

send_mail in-null '<>' "$CLASSIC"
check "InternalHosts client, null sender, to a classic address: 550 5.7.1 at DATA" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 .*secretariat@outlook\.fr'
send_mail in-foreign "noreply@logiciel-metier.example" "$CLASSIC"
check "InternalHosts client, foreign sender, to a classic address: 550 5.7.1 at DATA" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
send_mail in-foreign-mixed "noreply@logiciel-metier.example" "$PEER,$CLASSIC"
check "InternalHosts client, foreign sender, mixed list: refused as a whole" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
check "... and nothing delivered" not_delivered in-foreign-mixed
send_mail in-null-mss '<>' "$PEER"
check "InternalHosts client, null sender, to MSSante: delivered" delivered in-null-mss

printf 'Subject: local-null\n\ncorps\n' | local_submit '<>' "$CLASSIC"
check "sendmail -f '<>' to a classic address: milter-reject at end of message" \
    maillog_has "milter-reject: END-OF-MESSAGE.*5\.7\.1.*from=<> to=<$CLASSIC>"
printf 'Subject: local-foreign\n\ncorps\n' | local_submit "app@logiciel-metier.example" "$CLASSIC"
check "sendmail with a foreign classic sender to a classic address: milter-reject" \
    maillog_has "milter-reject: END-OF-MESSAGE.*5\.7\.1.*from=<app@logiciel-metier\.example> to=<$CLASSIC>"
check "sendmail from the inside: neither reached the classic address" \
    never_reached "$CLASSIC"

# --- system mail ------------------------------------------------------------------

printf 'Subject: cron-root\n\nsortie de cron\n' | local_submit "root@mx.it.invalid" root@localhost
check "sendmail to root@localhost (cron): delivered" delivered cron-root
printf 'Subject: cron-bare\n\nsortie de logwatch\n' | local_submit "" root
check "sendmail to a bare 'root' (root@\$myhostname): delivered" delivered cron-bare
check "sendmail to root: the verdict line says accept, submission=local" \
    wait_milter_log "direction=outbound sender=<root@mx\.it\.invalid> rcpt=<root@localhost>/classic verdict=accept submission=local"
send_outside sys-out "$PEER" root@localhost
check "root@localhost from the outside: 550 5.7.1 at RCPT ({rcpt_mailer} local)" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 .*root@localhost'
check "root@localhost from the outside: rule=system-recipient" \
    line_has "$LAST_TRANSCRIPT" "rule=system-recipient"
check "root@localhost from the outside: the milter saw {rcpt_mailer}=local" \
    wait_milter_log "RCPT <root@localhost> \{rcpt_mailer\}=local"
send_outside sys-out-host '<>' root@mx.it.invalid
check "root@\$myhostname from the outside, null sender: 550 5.7.1 at RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
send_mail sys-smtp-in "$LOCAL" root@localhost
check "root@localhost over SMTP from the inside: a classic recipient (550 5.7.1 at DATA)" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 .*root@localhost'

stop_milter

# --- InternalHosts chosen by the operator ---------------------------------------------

other=$W/milter/other-hosts.conf
milter_conf "$other"
cat >>"$other" <<EOF
WhitelistFile $FIXTURES/it-list.xml
InternalHosts 198.51.100.0/24, $OUTSIDE_ADDR/32
EOF
start_milter "$other" || exit 1
send_mail ih-loopback "directeur@chu-test.mssante.fr" "$LOCAL"
check "InternalHosts without the loopback: 127.0.0.1 is outside (own domain refused)" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
send_outside ih-listed "directeur@chu-test.mssante.fr" "$LOCAL"
check "InternalHosts with $OUTSIDE_ADDR/32: that client is inside (own domain delivered)" \
    delivered ih-listed
check "... and its verdict line says internal=yes" \
    line_has "$LAST_TRANSCRIPT" "direction=outbound .*internal=yes"
stop_milter "InternalHosts changed"
