#!/bin/bash
# t_dryrun.sh - "DryRun yes", the way a sysadmin rolls the milter out on a
# live server: nothing is refused, every message that would have been gets
# an X-MSSante-Verdict: header saying so, and the log says what would have
# happened.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --postfix

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
CLASSIC=secretariat@outlook.fr

conf=$W/milter/mssante-milter.conf
milter_conf "$conf"
cat >>"$conf" <<EOF2
WhitelistFile $FIXTURES/it-list.xml
DryRun yes
EOF2
start_milter "$conf" || exit 1

# captured SUBJECT: the sink file of that message (waits for it).
captured() {
    local i f
    for i in $(seq 1 200); do
        f=$(grep -l -x -F "Subject: $1" "$W"/sink/msg-*.eml 2>/dev/null | head -1)
        [ -n "$f" ] && { echo "$f"; return 0; }
        sleep 0.1
    done
    return 1
}

# verdict_header SUBJECT REGEX: the delivered copy carries an
# X-MSSante-Verdict: header matching REGEX (case-insensitive).
verdict_header() {
    local f h
    f=$(captured "$1") || { h_fail "\"$1\" was not delivered"; return 1; }
    # The header and its continuation lines, from the header section only.
    h=$(awk '/^$/ { exit } /^[ \t]/ { if (in_h) print; next }
             { in_h = tolower($0) ~ /^x-mssante-verdict:/; if (in_h) print }' "$f")
    [ -n "$h" ] || { h_fail "no X-MSSante-Verdict header in $f:
$(sed -n '/^$/q; p' "$f")"; return 1; }
    grep -i -E -q -- "$2" <<<"$h" || h_fail "X-MSSante-Verdict header: $h
expected /$2/"
}

send_mail dry-classic "$LOCAL" "$CLASSIC"
check "DryRun: outbound to @outlook.fr accepted" test $? = 0
check "DryRun: outbound to @outlook.fr delivered with X-MSSante-Verdict: ...reject..." \
    verdict_header dry-classic reject

send_mail dry-mixed "$LOCAL" "$PEER,$CLASSIC"
check "DryRun: mixed list accepted" test $? = 0
check "DryRun: mixed list delivered with X-MSSante-Verdict: ...reject..." \
    verdict_header dry-mixed reject

send_outside dry-inbound "someone@gmail.com" "$LOCAL"
check "DryRun: inbound from a classic domain accepted" test $? = 0
check "DryRun: inbound from a classic domain delivered with X-MSSante-Verdict: ...reject..." \
    verdict_header dry-inbound reject

send_mail dry-ok "$LOCAL" "$PEER"
check "DryRun: outbound to MSSante delivered with X-MSSante-Verdict: accept" \
    verdict_header dry-ok '^X-MSSante-Verdict: accept' 
qid=$(queue_id_of "$W/swaks/dry-classic.txt")
check "DryRun: the log line of $qid says verdict=accept would=reject" \
    wait_milter_log "${qid:-no-queue-id}: .*verdict=accept would=reject .*dryrun=yes"

stop_milter
