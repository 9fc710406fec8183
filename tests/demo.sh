#!/bin/bash
# demo.sh - "make demo": mssante-milter in front of a real Postfix, on
# loopback, for five minutes of understanding.
#
# Starts Redis, a capture sink (standing for the rest of the world), a
# private Postfix configured with postfix-examples/main.cf.snippet, and the
# milter configured from postfix-examples/mssante-milter.conf; publishes the
# sample whitelist (tests/fixtures/it-list.xml) with "mssantectl whitelist
# load"; sends a handful of messages; prints what happened to each; stops
# everything.  Builds nothing itself: make has done it.  Needs root (a
# private Postfix runs its daemons as user postfix).
set -u
. "$(dirname "$0")/lib/harness.sh"

if [ "$(id -u)" != 0 ]; then
    echo "make demo runs a private Postfix and needs root (try: sudo make demo)" >&2
    exit 1
fi
for f in "$MILTER_BIN" "$CTL_BIN" "$CAPSINK_BIN"; do
    [ -x "$f" ] || { echo "demo: $f is missing: run make first" >&2; exit 1; }
done
for b in postfix redis-server swaks ss; do
    command -v "$b" >/dev/null || { echo "demo: $b is not installed (see README.md)" >&2; exit 1; }
done
h_init

say() { printf '%s\n' "$*"; }

say "== Starting Redis, a capture sink, Postfix and mssante-milter on 127.0.0.1"
start_redis || exit 1
start_capsink || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

# The example configuration, with this demo's values for the keys it sets.
conf=$W/milter/mssante-milter.conf
grep -v -i -E '^[[:space:]]*(Socket|UserID|LocalDomains|WhitelistFile|Redis|SnapshotFile|WhitelistPoll|LogPatientIdKeyFile|HeldKeyFile)[[:space:]]' \
    "$H_ROOT/postfix-examples/mssante-milter.conf" >"$conf"
cat >>"$conf" <<EOF

# --- set by tests/demo.sh ---
LocalDomains chu-test.mssante.fr
Redis 127.0.0.1:$REDIS_PORT
SnapshotFile $W/milter/whitelist.snapshot
WhitelistPoll 2s
LogPatientIdKeyFile $W/milter/logid.key
HeldKeyFile $W/milter/held.key
EOF

say "== mssantectl whitelist load tests/fixtures/it-list.xml"
ctl -c "$conf" whitelist load "$FIXTURES/it-list.xml" | sed 's/^/   /'
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
ctl -c "$conf" whitelist status | sed 's/^/   /'
start_milter "$conf" || exit 1
say "   Postfix smtpd on 127.0.0.1:$SMTP_PORT, milter on inet:$MILTER_PORT@127.0.0.1," \
    "Redis on 127.0.0.1:$REDIS_PORT"
say "   our MSSante domain: chu-test.mssante.fr"
say ""

# Outbound mail comes from 127.0.0.1 (InternalHosts: the operator's own
# network); inbound mail from a host out on the Internet, which Postfix is
# told about with XCLIENT (send_outside).  A scenario may give a Subject
# and a body (an empty body for [FIN]); the patient scenarios follow one
# conversation: the patient cannot write first, the doctor opens it, the
# patient replies, a typo in the matricule is refused, [FIN] closes it and
# the patient can no longer write.
LOCAL=dr.martin@chu-test.mssante.fr
PATIENT=279035121518989@patient.mssante.fr       # MSSANTE.md's example matricule
TYPO=279035121518988@patient.mssante.fr          # the same with a wrong key
scenarios=(
    "outbound to MSSante|in|$LOCAL|confrere@medecin.mssante.fr"
    "outbound to a classic address|in|$LOCAL|secretariat@outlook.fr"
    "mixed recipient list|in|$LOCAL|confrere@medecin.mssante.fr,secretariat@outlook.fr"
    "inbound from a classic domain|out|someone@gmail.com|$LOCAL"
    "lookalike domain (typo)|in|$LOCAL|dr.x@interop-mssante.apycrypt.org"
    "inbound from a listed domain|out|dr.durand@chu-lille.mssante.fr|$LOCAL"
    "inbound bounce (null sender)|out|<>|$LOCAL"
    "our own domain, from outside|out|directeur@chu-test.mssante.fr|$LOCAL"
    "route address (percent hack)|in|$LOCAL|victim%gmail.com@chu-test.mssante.fr"
    "patient writes first|out|$PATIENT|$LOCAL"
    "doctor writes to a patient|in|$LOCAL|$PATIENT|Vos resultats|Vos resultats sont normaux."
    "the patient replies|out|$PATIENT|$LOCAL|Re: Vos resultats|Merci docteur."
    "patient address, wrong key|in|$LOCAL|$TYPO"
    "[FIN] closes the conversation|in|$LOCAL|$PATIENT|[FIN]|"
    "patient writes after [FIN]|out|$PATIENT|$LOCAL|Re: [FIN]|Une autre question."
)

# send_scenario NAME SIDE FROM TO [SUBJECT BODY]: as send_mail/send_outside,
# or, with a Subject, the whole message as given (BODY may be empty).
send_scenario() {
    local name=$1 side=$2 from=$3 to=$4 xclient=()
    [ "$side" = out ] && xclient=(--xclient-addr "$OUTSIDE_ADDR" --xclient-name mx.partenaire.invalid)
    if [ $# -lt 5 ]; then
        send_mail "$name" "$from" "$to" "${xclient[@]}"
        return
    fi
    printf 'From: <%s>\nTo: <%s>\nSubject: %s\n\n%s' "$from" "$to" "$5" "$6" >"$W/swaks/$name.eml"
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 --helo client.it.invalid \
        --from "$from" --to "$to" --data "@$W/swaks/$name.eml" "${xclient[@]}" \
        >"$LAST_TRANSCRIPT" 2>&1
}

# final_reply FILE: the reply that decided the message's fate: the first
# error, or the reply to the end of data.
final_reply() {
    local r
    r=$(grep -m1 '^<\*\* ' "$1" | sed 's/^<\*\* *//')
    [ -n "$r" ] || r=$(smtp_reply "$1" .)
    echo "${r:-no reply}"
}

n=0
rows=()
for s in "${scenarios[@]}"; do
    IFS='|' read -r title side from to subject body <<<"$s"
    n=$((n + 1))
    before=$(wc -l <"$W/milter/milter.log")
    sink_before=$(sink_count)
    if [[ $s == *"|"*"|"*"|"*"|"* ]]; then
        send_scenario "demo-$n" "$side" "$from" "$to" "$subject" "$body"
    else
        send_scenario "demo-$n" "$side" "$from" "$to"
    fi
    reply=$(final_reply "$LAST_TRANSCRIPT")
    delivered=no
    if [ "${reply:0:1}" = 2 ]; then
        wait_delivered $((sink_before + 1)) 10 && delivered=yes
    fi
    sleep 0.2      # let the daemon write its line
    verdict=$(tail -n +$((before + 1)) "$W/milter/milter.log" | grep 'direction=' | tail -1)
    verdict=${verdict#*]: }      # drop the time stamp and process id
    [ "$side" = out ] && side="from $OUTSIDE_ADDR" || side="from 127.0.0.1"
    rows+=("$n|$title|$from -> $to ($side)|$reply|$delivered|$verdict")
done

say "== Results"
fmt='%-2s %-31s %-10s %-10s %s\n'
printf "$fmt" "#" "scenario" "reply" "delivered" "milter verdict"
for r in "${rows[@]}"; do
    IFS='|' read -r i title env reply delivered verdict <<<"$r"
    v=$(grep -o -E 'verdict=[a-z]+( would=[a-z]+)?( rule=[a-z-]+)?' <<<"$verdict")
    conv=$(grep -o -E ' conv=[a-z-]+| ins=[^ ]*:bad-[a-z]+' <<<"$verdict" | head -1 |
           sed -E 's/ins=.*:(bad-[a-z]+)/ins=\1/')
    printf "$fmt" "$i" "$title" "${reply:0:9}" "$delivered" "${v:-?}${conv}"
done
say ""
say "== Details"
for r in "${rows[@]}"; do
    IFS='|' read -r i title env reply delivered verdict <<<"$r"
    say "[$i] $title"
    say "    envelope : $env"
    say "    reply    : $reply"
    say "    delivered: $delivered"
    say "    milter   : ${verdict:-(no log line)}"
done
say ""
say "== The conversation, as mssantectl and the log show it"
say "   The patient's matricule is health data: the log and mssantectl show it as"
say "   LogPatientId hash says (hmac:..., the same value on every line), --show-ins in full."
ctl -c "$conf" conversation list "$LOCAL" | sed 's/^/   /'
ctl -c "$conf" --show-ins conversation show "$LOCAL" "$PATIENT" | sed 's/^/   /'
say ""
say "== Stopping everything"
