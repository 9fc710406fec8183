#!/bin/bash
# t_patient_log.sh - patient identifiers are health data (issue 16),
# through a real Postfix and Redis: a patient conversation (opened by the
# doctor, the patient's reply, a mistyped matricule, [FIN]) with the daemon
# run as its service user (nobody stands for mssante-milter) and
# LogPatientId left at its default, hash:
#   - the key file is made at the first start, mode 0600, owned by that
#     user; a second start reads it and gives the same values;
#   - every line about the patient shows one "hmac:" value and never the
#     matricule; the refused typo gives one line, without the key the
#     matricule should have had;
#   - mssantectl conversation list / check show the same "hmac:" value,
#     --show-ins the matricule; stats, status and StatsFile carry neither;
#   - the forwarding notice about a mail the patient wrote carries none;
#   - mssantectl held list: a local submission to the patient held for
#     want of a list shows the patient as the log does, --show-ins in full;
#   - LogPatientId mask: the first 5 characters, the rest starred;
#     LogPatientId clear: the matricule.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
id nobody >/dev/null 2>&1 || h_skip_all "needs a user nobody"
h_init

DR=dr.martin@chu-test.mssante.fr
PD=patient.mssante.fr
P1=279035121518989          # MSSANTE.md's example
P2=185052A12345633          # another patient (Corse-du-Sud)
BADKEY=279035121518988      # P1 with the last digit mistyped
HOME_ADDR=proche.martin@gmail.com   # where the doctor's mailbox sends notices
NOREPLY=no-reply@chu-test.mssante.fr

start_capsink || exit 1
start_redis || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

mkdir -p "$W/state"
chown nobody "$W/state"
KEY=$W/state/logid.key
conf=$W/milter/patient-log.conf
cat >"$conf" <<EOF
LocalDomains chu-test.mssante.fr, autre-site.chu-test.mssante.fr
LogLevel info
WhitelistFile $FIXTURES/it-list.xml
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
LogPatientIdKeyFile $KEY
HeldKeyFile $W/state/held.key
StatsFile $W/state/stats.prom
StatsInterval 1s
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
NotifySender $NOREPLY
NotifyRetry 1s
NotifyRetryMax 2s
EOF
chmod 644 "$conf"

# start_as_user: the daemon in the foreground as nobody, its log appended
# to the harness's milter log (emptied by the caller before a restart).
# The socket listens before the key is read: wait for the start line.
start_as_user() {
    echo "=== start $(date +%T.%N) $conf" >>"$W/milter/milter.log"
    "$MILTER_BIN" -f -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" -u nobody \
        >>"$W/milter/milter.log" 2>&1 &
    H_PID_MILTER=$!
    wait_listen "$MILTER_PORT" 15 "$H_PID_MILTER" \
        && wait_milter_log "starting mssante-milter" 15 && return 0
    note "mssante-milter did not start:" "$(tail -20 "$W/milter/milter.log")"
    return 1
}

# pmail NAME FROM TO SUBJECT BODY: one message; a patient's comes from the
# outside (XCLIENT), the doctor's from 127.0.0.1.  LAST_TRANSCRIPT is set.
pmail() {
    local name=$1 from=$2 to=$3 xclient=()
    case $from in *@"$PD") xclient=(--xclient-addr "$OUTSIDE_ADDR") ;; esac
    printf 'From: <%s>\nTo: <%s>\nSubject: %s\nX-Test: %s\n\n%s' "$from" "$to" "$4" \
        "$name" "$5" >"$W/swaks/$name.eml"
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 --helo client.it.invalid \
        --from "$from" --to "$to" --data "@$W/swaks/$name.eml" "${xclient[@]}" \
        >"$LAST_TRANSCRIPT" 2>&1
}

# no_clear TEXT WHAT: TEXT holds neither P1 nor P2 in clear, nor the typo.
no_clear() {
    grep -E -q "$P1|$P2|$BADKEY" <<<"$1" || return 0
    h_fail "$2 shows a matricule in clear:
$(grep -E "$P1|$P2|$BADKEY" <<<"$1" | head -5)"
}

start_as_user || exit 1
check "the key is made at the first start: mode 0600, owned by the service user" \
    eval '[ "$(stat -c "%U %a" "$KEY" 2>/dev/null)" = "nobody 600" ]'
check "... 64 hex digits" grep -q -x -E '[0-9a-f]{64}' "$KEY"
check "the HeldKeyFile key too: made at the first start, 0600, the service user's, 64 hex digits" \
    eval '[ "$(stat -c "%U %a" "$W/state/held.key" 2>/dev/null)" = "nobody 600" ] &&
          grep -q -x -E "[0-9a-f]{64}" "$W/state/held.key"'
check "mssantectl whitelist load" ctl_ok -c "$conf" whitelist load "$FIXTURES/it-list.xml"
check "the doctor's mailbox sends notices to $HOME_ADDR" \
    ctl_ok -c "$conf" forwards add "$DR" copy "$HOME_ADDR"
sleep 1.1   # the daemon's copy of the rules counts as fresh for a second (EarlyAccept)

# ---------------------------------------------------------------- the conversation

pmail open "$DR" "$P1@$PD" "Vos resultats" "Vos resultats sont normaux."
q_open=$(queue_id_of "$LAST_TRANSCRIPT")
check "the doctor writes to the patient: accepted" assert_reply "$LAST_TRANSCRIPT" "." '^250 '
check "its line shows the patient as hmac:, the conversation too" \
    verdict_logged "$q_open" "rcpt=<hmac:[0-9a-f]{16}@$PD>/patient .*conv=open:hmac:[0-9a-f]{16} "
H=$(grep -F "$q_open: " "$W/milter/milter.log" | grep -o -E 'hmac:[0-9a-f]{16}' | head -1)

pmail reply "$P1@$PD" "$DR" "Re: Vos resultats" "Merci docteur."
q_reply=$(queue_id_of "$LAST_TRANSCRIPT")
check "the patient replies: accepted" assert_reply "$LAST_TRANSCRIPT" "." '^250 '
check "its line shows the sender as the same value ($H)" \
    verdict_logged "$q_reply" "sender=<$H@$PD> .*conv=reply:"

pmail typo "$DR" "$BADKEY@$PD" "Resultats" "x"
check "a mistyped matricule: refused 550 5.1.1" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.1\.1'
check "... one line for it, with ins=hmac:...:bad-key" \
    wait_milter_log "NOQUEUE: .*rcpt=<hmac:[0-9a-f]{16}@$PD>/patient/refused .*ins=hmac:[0-9a-f]{16}:bad-key "
check "... and only one" \
    test "$(grep -c 'ins=hmac:[0-9a-f]*:bad-key' "$W/milter/milter.log")" = 1
check "... never the key the matricule should have had" \
    eval '! grep -q -E "expected|attendue|key 89|cle 89" "$W/milter/milter.log"'

pmail fin "$DR" "$P1@$PD" "[FIN]" ""
q_fin=$(queue_id_of "$LAST_TRANSCRIPT")
check "[FIN]: accepted, the conversation closed under the same value" \
    verdict_logged "$q_fin" "rcpt=<$H@$PD>/patient .*conv=close:$H "
pmail after "$P1@$PD" "$DR" "Re: [FIN]" "Une autre question."
check "the patient writes after [FIN]: refused" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1'
check "one value for the patient on every line (the typo's line aside)" \
    test "$(grep -v bad-key "$W/milter/milter.log" | grep -o -E 'hmac:[0-9a-f]{16}' | sort -u)" = "$H"
check "the daemon's log never shows a matricule in clear" \
    no_clear "$(cat "$W/milter/milter.log")" "the log"

# ---------------------------------------------------------------- mssantectl

check "conversation list: the patient as in the log" \
    ctl_ok -c "$conf" conversation list "$DR"
check "... $H, not the matricule" \
    eval 'grep -q -F "$H" <<<"$CTL_OUT" && no_clear "$CTL_OUT" "conversation list"'
check "--show-ins conversation list: the matricule" \
    eval 'ctl_ok -c "$conf" --show-ins conversation list "$DR" && grep -q -F "$P1" <<<"$CTL_OUT"'
out=$(ctl -c "$conf" check "$P1@$PD" 2>&1)
check "check: the patient's address as in the log" \
    eval 'grep -q -F "$H@$PD" <<<"$out" && no_clear "$out" "check"'
out=$(ctl -c "$conf" --show-ins check "$P1@$PD" 2>&1)
check "--show-ins check: in full" contains "$out" "$P1@$PD"

# Stats and status count, they never name anybody.
sleep 1.5
out="$(ctl -c "$conf" stats 2>&1)
$(ctl -c "$conf" stats --json 2>&1)
$(MAIL_CONFIG=$H_PF_ETC ctl -c "$conf" status 2>&1)
$(cat "$W/state/stats.prom" 2>/dev/null)"
check "stats, status and StatsFile: no matricule" no_clear "$out" "stats/status"
check "... nor a patient's hmac: value" eval '! grep -q -F "$H" <<<"$out"'

# The notice to the doctor's classic address about the patient's reply.
notice_files() {
    local f
    for f in $(sink_file_for_rcpt "$HOME_ADDR"); do
        grep -q -x -F "X-Capsink-From: <$NOREPLY>" "$f" && echo "$f"
    done
}
got_notice() {
    local i
    for i in $(seq 1 200); do
        [ -n "$(notice_files)" ] && return 0
        sleep 0.1
    done
    h_fail "no notice reached $HOME_ADDR; maillog:
$(maillog | tail -6)"
}
check "a notice reached $HOME_ADDR (the copy rule)" got_notice
check "... no notice carries a matricule or the patient's value" \
    eval 'n=$(cat $(notice_files)); no_clear "$n" "the notice" && ! grep -q -F "$H" <<<"$n"'

# ---------------------------------------------------------------- the key kept, other modes

stop_milter
: >"$W/milter/milter.log"
start_as_user || exit 1
pmail again "$DR" "$P1@$PD" "Nouvelle consultation" "Rendez-vous mardi."
check "restarted: the key file read again, the same value for the patient" \
    verdict_logged "$(queue_id_of "$LAST_TRANSCRIPT")" "rcpt=<$H@$PD>/patient "
stop_milter quiet

# A local submission to the patient while no list is in force: held.
cp "$conf" "$conf.hash"
sed -i '/^WhitelistFile /d' "$conf"
echo "RedisPrefix nolist:" >>"$conf"
: >"$W/milter/milter.log"
start_as_user || exit 1
printf 'From: %s\nTo: %s\nSubject: Ordonnance\n\nVotre ordonnance.\n' "$DR" "$P1@$PD" |
    local_submit "$DR" "$P1@$PD"
held_out() {
    local i
    for i in $(seq 1 100); do
        HELD_OUT=$(MAIL_CONFIG=$H_PF_ETC ctl -c "$conf" "$@" held list 2>&1)
        grep -q -F "@$PD" <<<"$HELD_OUT" && return 0
        sleep 0.2
    done
    h_fail "no held message to the patient: $HELD_OUT"
}
check "held list: the message to the patient held for want of a list" held_out
check "... the recipient shown as in the log ($H), not the matricule" \
    eval 'grep -q -F "$H@$PD" <<<"$HELD_OUT" && no_clear "$HELD_OUT" "held list"'
check "held list --json: the same" \
    eval 'held_out --json && grep -q -F "$H@$PD" <<<"$HELD_OUT" && no_clear "$HELD_OUT" "held list --json"'
check "--show-ins held list: the matricule" \
    eval 'held_out --show-ins && grep -q -F "$P1@$PD" <<<"$HELD_OUT"'
check "the daemon's log of it: no matricule" no_clear "$(cat "$W/milter/milter.log")" "the log (held)"
MAIL_CONFIG=$H_PF_ETC ctl -c "$conf" held delete --all >/dev/null 2>&1
stop_milter quiet
cp "$conf.hash" "$conf"

echo "LogPatientId mask" >>"$conf"
: >"$W/milter/milter.log"
start_as_user || exit 1
pmail mask "$DR" "$P2@$PD" "Resultats" "Rendez-vous lundi."
check "LogPatientId mask: the first 5 characters, then stars" \
    verdict_logged "$(queue_id_of "$LAST_TRANSCRIPT")" "rcpt=<18505\\*{10}@$PD>/patient "
check "... the matricule never in clear" no_clear "$(cat "$W/milter/milter.log")" "the log (mask)"
stop_milter quiet

sed -i 's/^LogPatientId mask$/LogPatientId clear/' "$conf"
: >"$W/milter/milter.log"
start_as_user || exit 1
pmail clear "$DR" "$P2@$PD" "Resultats" "Rendez-vous lundi."
check "LogPatientId clear: the matricule itself" \
    verdict_logged "$(queue_id_of "$LAST_TRANSCRIPT")" "rcpt=<$P2@$PD>/patient "
stop_milter
exit 0
