#!/bin/bash
# t_patients.sh - mail to and from patients through a real Postfix and a
# real Redis: the INS matricule check at RCPT, conversations opened by the
# professional, the patient's replies, [FIN] closures (exact, variants
# rewritten, X-MSS-MES, with content refused), pharmacies, Redis going down
# in the middle of a closure, two MX nodes sharing one Redis, the
# "mssantectl conversation" commands, and the PatientKeyCheck warn,
# FinWithContent accept, DryRun and no-Redis settings.
#
# One Postfix, several milters: the harness's milter serves the main smtpd
# (and local submission); each other milter has its own smtpd listener
# (master.cf "-o smtpd_milters=..."), i.e. its own "MX", all on one Redis.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --postfix --redis

DR=dr.martin@chu-test.mssante.fr
DR2=dr.durand@chu-test.mssante.fr
PHARMA=pharmacie@chu-test.mssante.fr
PD=patient.mssante.fr
P1=279035121518989          # valid
P2=185052A12345633          # valid, born in Corse-du-Sud (2A)
P3=278032B45678986          # valid, born in Haute-Corse (2B)
P4=269029934173285          # valid
P5=178052065432174          # valid
P6=285042077712353          # valid
P7=165059900011175          # valid
BADKEY=279035121518988      # P1 with the last digit mistyped
SHORT=27903512151898        # 14 characters
BADCHAR=2790X5121518989     # a letter at position 5
BADCORSICA=185052C12345633  # 2C is no department

# ---------------------------------------------------------------- setup

MAIN_SMTP=$SMTP_PORT

conf=$W/milter/patients.conf
milter_conf "$conf"
# The rules, read with the ids in clear (t_patient_log.sh checks the modes).
cat >>"$conf" <<EOF
LogPatientId clear
WhitelistFile $FIXTURES/it-list.xml
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
PharmacyMailboxes $PHARMA, @autre-site.chu-test.mssante.fr
ConversationTTL 30d
EOF
start_milter "$conf" || exit 1

# Extra milters, each behind its own smtpd listener.
EXTRA_PIDS=()
t_cleanup() {
    local rc=$? p
    for p in "${EXTRA_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${EXTRA_PIDS[@]}"; do
        wait_pid_gone "$p" 15 || kill -9 "$p" 2>/dev/null
    done
    (exit "$rc")
    h_cleanup
}
trap t_cleanup EXIT

# extra_mx VAR CONF: start a milter with CONF and an smtpd that uses it;
# VAR gets the smtpd port.  Postfix is reloaded by extra_mx_ready.
extra_mx() {
    local var=$1 conf=$2 mport sport
    free_port mport || return 1
    free_port sport || return 1
    echo "=== start extra $(date +%T.%N) $conf" >>"$W/milter/milter.log"
    "$MILTER_BIN" -f -c "$conf" -p "inet:$mport@127.0.0.1" >>"$W/milter/milter.log" 2>&1 &
    EXTRA_PIDS+=($!)
    wait_listen "$mport" 15 $! || { note "extra milter did not start:" "$(tail -20 "$W/milter/milter.log")"; return 1; }
    postconf -c "$H_PF_ETC" -M "127.0.0.1:$sport/inet=127.0.0.1:$sport inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$mport" || return 1
    printf -v "$var" '%s' "$sport"
    EXTRA_SMTP+=("$sport")
}
EXTRA_SMTP=()
extra_mx_ready() {
    local p
    postfix -c "$H_PF_ETC" reload >/dev/null 2>&1 || return 1
    for p in "${EXTRA_SMTP[@]}"; do
        wait_listen "$p" 15 || { note "smtpd on $p not listening"; return 1; }
    done
}

# MX B: same settings as the main one (two nodes of one operator).
extra_mx MX_B "$conf" || exit 1
# MX W: PatientKeyCheck warn, FinWithContent accept.
warnconf=$W/milter/warn.conf
cp "$conf" "$warnconf"
printf 'PatientKeyCheck warn\nFinWithContent accept\n' >>"$warnconf"
extra_mx MX_W "$warnconf" || exit 1
# MX D: DryRun.
dryconf=$W/milter/dryrun.conf
cp "$conf" "$dryconf"
echo "DryRun yes" >>"$dryconf"
extra_mx MX_D "$dryconf" || exit 1
# MX N: no Redis at all.
noredis=$W/milter/noredis.conf
milter_conf "$noredis"
printf 'LogPatientId clear\nWhitelistFile %s\nPharmacyMailboxes %s\n' "$FIXTURES/it-list.xml" \
    "$PHARMA" >>"$noredis"
extra_mx MX_N "$noredis" || exit 1
extra_mx_ready || exit 1

# ---------------------------------------------------------------- helpers

# pmail NAME FROM TO SUBJECT BODY [HEADER...]: one message over SMTP to
# $MX (the main smtpd unless set).  The message is identified in the sink by
# its "X-Test: NAME" header.  Returns swaks' status.  A patient's message
# comes from the outside (XCLIENT: the patients' operator is out on the
# Internet), the professionals' from 127.0.0.1, inside InternalHosts.
pmail() {
    local name=$1 from=$2 to=$3 subject=$4 body=$5 h xclient=()
    shift 5
    case $from in
        *@"$PD") xclient=(--xclient-addr "$OUTSIDE_ADDR") ;;
    esac
    local f=$W/swaks/$name.eml
    {
        printf 'From: <%s>\nTo: <%s>\nSubject: %s\nX-Test: %s\n' "$from" "$to" "$subject" "$name"
        for h in "$@"; do printf '%s\n' "$h"; done
        printf '\n%s' "$body"
    } >"$f"
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    swaks --server "127.0.0.1:${MX:-$MAIN_SMTP}" --timeout 30 --helo client.it.invalid \
        --from "$from" --to "$to" --data "@$f" "${xclient[@]}" >"$LAST_TRANSCRIPT" 2>&1
}

# sink_file NAME [SECONDS]: the delivered copy of message NAME.
sink_file() {
    local i f
    for i in $(seq 1 $((${2:-20} * 10))); do
        f=$(grep -l -x -F "X-Test: $1" "$W"/sink/msg-*.eml 2>/dev/null | head -1)
        [ -n "$f" ] && { echo "$f"; return 0; }
        sleep 0.1
    done
    return 1
}

got() {
    sink_file "$1" >/dev/null || h_fail "message $1 not in the sink ($(sink_count) there)"
}

# accepted NAME: the whole message was accepted (250 at end of data).
accepted() {
    assert_reply "$W/swaks/$1.txt" . '^250 ' && got "$1"
}

# refused_at NAME CMD REGEX: the reply to CMD matches, and NAME never arrives.
refused_at() {
    assert_reply "$W/swaks/$1.txt" "$2" "$3" || return 1
    wait_queue_empty 10 || return 1
    ! sink_file "$1" 0 >/dev/null || h_fail "message $1 was delivered"
}

# conv_state MAILBOX PATIENT STATE: mssantectl conversation show agrees.
conv_state() {
    local out
    out=$("$CTL_BIN" -c "$conf" conversation show "$1" "$2" 2>&1)
    printf '%s\n' "$out" | grep -E -q "^state: +$3\$" ||
        h_fail "conversation $1 / $2: expected state $3, got:
$out"
}

# conv_field MAILBOX PATIENT FIELD: one field of "conversation show --json".
conv_field() {
    "$CTL_BIN" -c "$conf" conversation show --json "$1" "$2" 2>/dev/null |
        python3 -c 'import json,sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$3"
}

field_is() {
    local got
    got=$(conv_field "$1" "$2" "$3")
    [ "$got" = "$4" ] || h_fail "conversation $1 / $2: $3 is \"$got\", expected \"$4\""
}

qid_of() { queue_id_of "$W/swaks/$1.txt"; }

# ---------------------------------------------------------------- INS check

pmail ins-valid "$DR" "$P1@$PD" "Resultats" "Vos resultats sont normaux."
check "valid matricule: accepted and delivered" accepted ins-valid
check "valid matricule: the log line says the conversation opened" \
    verdict_logged "$(qid_of ins-valid)" "rcpt=<$P1@$PD>/patient .*verdict=accept.* conv=open:$P1"
check "valid matricule: the conversation is open in Redis" conv_state "$DR" "$P1" open

pmail ins-2a "$DR" "$P2@$PD" "Rendez-vous" "Rendez-vous lundi."
check "Corsica (2A) matricule: accepted" accepted ins-2a
pmail ins-2b "$DR" "${P3,,}@$PD" "Rendez-vous" "Rendez-vous mardi."
check "Corsica (2B) matricule written in lower case: accepted" accepted ins-2b
check "lower-case 2b is recorded as the patient ${P3}" conv_state "$DR" "$P3" open

pmail ins-badkey "$DR" "$BADKEY@$PD" "Resultats" "x"
check "wrong key: refused at RCPT with 550 5.1.1, saying it is the key" \
    refused_at ins-badkey "RCPT TO" '^550 5\.1\.1 .*cle de controle INS incorrecte.*wrong INS check key'
check "wrong key: the reply does not give the expected key away" \
    reply_lacks "$W/swaks/ins-badkey.txt" "RCPT TO" expected attendue
check "wrong key: the verdict line says why (for the operator)" \
    wait_milter_log "NOQUEUE: .*rcpt=<$BADKEY@$PD>/patient/refused .* ins=$BADKEY:bad-key "
check "wrong key: one line in the log, not two" \
    test "$(grep -c -F "$BADKEY" "$W/milter/milter.log")" = 1
check "wrong key: the log never gives the key expected" \
    eval '! grep -q -E "expected 89|key 88" "$W/milter/milter.log"' 

pmail ins-short "$DR" "$SHORT@$PD" "Resultats" "x"
check "14 characters: refused at RCPT with 550 5.1.1, saying it is the shape" \
    refused_at ins-short "RCPT TO" '^550 5\.1\.1 .*mal forme \(15 caracteres attendus\).*malformed INS number'
pmail ins-char "$DR" "$BADCHAR@$PD" "Resultats" "x"
check "a letter in the number: refused at RCPT, naming the position" \
    refused_at ins-char "RCPT TO" '^550 5\.1\.1 .*position 5'
pmail ins-corsica "$DR" "$BADCORSICA@$PD" "Resultats" "x"
check "2C instead of 2A/2B: refused at RCPT" \
    refused_at ins-corsica "RCPT TO" '^550 5\.1\.1 .*position 7'

pmail ins-mixed "$DR" "$P4@$PD,$BADKEY@$PD" "Resultats" "Bilan."
check "one good and one mistyped patient: the good one still gets it" accepted ins-mixed
check "one good and one mistyped patient: the mistyped one is refused" \
    assert_reply "$W/swaks/ins-mixed.txt" "RCPT TO:<$BADKEY" '^550 5\.1\.1'

# ---------------------------------------------------------------- replies

pmail reply-open "$P1@$PD" "$DR" "Re: Resultats" "Merci docteur."
check "patient replies into an open conversation: accepted" accepted reply-open
check "patient reply: logged with the conversation" \
    verdict_logged "$(qid_of reply-open)" "direction=inbound .*verdict=accept.* conv=reply:<$DR>"

pmail first-word "$P5@$PD" "$DR2" "Question" "Bonjour, j'ai une question."
check "patient writes first: refused at RCPT, saying why" \
    refused_at first-word "RCPT TO" '^550 5\.7\.1 .*ne peut pas ouvrir ni reprendre une conversation.*cannot start or resume'

pmail other-mailbox "$P1@$PD" "$DR2" "Re: Resultats" "Mauvaise boite."
check "a conversation with one mailbox does not open another" \
    refused_at other-mailbox "RCPT TO" '^550 5\.7\.1'

pmail pharmacy "$P5@$PD" "$PHARMA" "Ordonnance" "Voici mon ordonnance."
check "patient writes first to a pharmacy mailbox: accepted" accepted pharmacy
pmail pharmacy-domain "$P5@$PD" "comptoir@autre-site.chu-test.mssante.fr" "Ordonnance" "x"
check "patient writes first to a pharmacy @domain entry: accepted" accepted pharmacy-domain
check "pharmacy: the log line says why it was let in" \
    verdict_logged "$(qid_of pharmacy-domain)" "conv=pharmacy:<comptoir@autre-site"

# ---------------------------------------------------------------- [FIN]

pmail fin-body "$DR" "$P1@$PD" "[FIN]" "Cordialement, Dr Martin"
check "[FIN] with a body: refused at end of data (550 5.7.1)" \
    refused_at fin-body . '^550 5\.7\.1 .*\[FIN\] refuse.*must be empty'
check "[FIN] with a body: the conversation is still open" conv_state "$DR" "$P1" open
pmail after-fin-body "$P1@$PD" "$DR" "Re: x" "Toujours la ?"
check "[FIN] with a body: the patient can still reply" accepted after-fin-body

pmail fin-attach "$DR" "$P1@$PD" "[FIN]" "$(printf -- '--b1\nContent-Type: text/plain\n\n\n--b1\nContent-Type: application/pdf; name="cr.pdf"\nContent-Disposition: attachment; filename="cr.pdf"\n\n\n--b1--\n')" \
    "MIME-Version: 1.0" 'Content-Type: multipart/mixed; boundary="b1"'
check "[FIN] with an (empty) attachment: refused" refused_at fin-attach . '^550 5\.7\.1'

# Two boundaries: a reader taking the second shows "secret", which the
# first one's view puts in the preamble.  A doubtful header is content.
pmail fin-dup-boundary "$DR" "$P1@$PD" "[FIN]" "$(printf -- '--B\nContent-Type: text/plain\n\nsecret\n--B--\n--A\n\n--A--\n')" \
    "MIME-Version: 1.0" 'Content-Type: multipart/mixed; boundary="A"; boundary="B"'
check "[FIN] whose Content-Type gives two boundaries: refused (550 5.7.1)" \
    refused_at fin-dup-boundary . '^550 5\.7\.1 .*\[FIN\] refuse'
check "[FIN] with two boundaries: the daemon logs why" \
    wait_milter_log "closure-like message with content: duplicated MIME parameter"
check "[FIN] with two boundaries: the conversation is still open" conv_state "$DR" "$P1" open

pmail fin "$DR" "$P1@$PD" "[FIN]" ""
check "[FIN] with an empty body: accepted and delivered" accepted fin
fin_qid=$(qid_of fin)
check "[FIN]: the log line says the conversation closed" \
    verdict_logged "$fin_qid" "verdict=accept.* conv=close:$P1"
check "[FIN]: the conversation is closed" conv_state "$DR" "$P1" closed
check "[FIN]: closed by the message's queue id" field_is "$DR" "$P1" closed_by_qid "$fin_qid"
pmail after-fin "$P1@$PD" "$DR" "Re: [FIN]" "Encore une question"
check "after [FIN]: the patient's reply is refused" \
    refused_at after-fin "RCPT TO" '^550 5\.7\.1 .*cannot start or resume'

pmail fin-mime-empty "$DR" "$P4@$PD" "[FIN]" "$(printf -- 'preambule ignore\n--b2\nContent-Type: text/plain; charset=utf-8\n\n  \n--b2--\n')" \
    "MIME-Version: 1.0" 'Content-Type: multipart/alternative; boundary="b2"'
check "[FIN] whose only MIME part is white space: accepted" accepted fin-mime-empty
check "[FIN] as an empty MIME message: closes" conv_state "$DR" "$P4" closed

pmail fin-variant "$DR" "$P2@$PD" "Re: [ fin ]" ""
check "variant subject \"Re: [ fin ]\": accepted" accepted fin-variant
f=$(sink_file fin-variant)
check "variant: the delivered Subject is exactly [FIN]" \
    grep -q -x -F "Subject: [FIN]" "${f:-/dev/null}"
check "variant: the delivered message carries X-MSS-MES: FIN" \
    grep -q -x -F "X-MSS-MES: FIN" "${f:-/dev/null}"
check "variant: the old Subject is gone" \
    test "$(grep -c '^Subject:' "${f:-/dev/null}")" = 1
check "variant: the log says the subject was rewritten" \
    verdict_logged "$(qid_of fin-variant)" "conv=close:$P2 .*subject rewritten to \[FIN\]"
check "variant: the conversation is closed" conv_state "$DR" "$P2" closed

pmail fin-variant-body "$DR" "$P5@$PD" "[fin]" "Je vous rappelle demain."
check "\"[fin]\" with text is an ordinary message: delivered as is" accepted fin-variant-body
f=$(sink_file fin-variant-body)
check "\"[fin]\" with text: Subject not rewritten" grep -q -x -F "Subject: [fin]" "${f:-/dev/null}"
check "\"[fin]\" with text: opens the conversation" conv_state "$DR" "$P5" open

pmail fin-header "$DR" "$P3@$PD" "Fin de suivi" "" "X-MSS-MES: FIN"
check "X-MSS-MES: FIN on an empty message: accepted" accepted fin-header
check "X-MSS-MES: FIN: the conversation is closed" conv_state "$DR" "$P3" closed
pmail fin-header-body "$DR" "$P5@$PD" "Fin de suivi" "Au revoir" "X-MSS-MES: fin"
check "X-MSS-MES: FIN with a body: refused" refused_at fin-header-body . '^550 5\.7\.1'

pmail reopen "$DR" "$P1@$PD" "Nouveau bilan" "Pouvez-vous revenir ?"
check "the professional writes again after [FIN]: accepted" accepted reopen
check "the professional writes again: the conversation is open again" conv_state "$DR" "$P1" open
pmail after-reopen "$P1@$PD" "$DR" "Re: Nouveau bilan" "Oui"
check "after reopening: the patient can reply" accepted after-reopen

# ---------------------------------------------------------------- local submission

printf 'From: %s\nTo: %s\nSubject: sendmail-badkey\n\nx\n' "$DR" "$BADKEY@$PD" |
    local_submit "$DR" "$BADKEY@$PD"
bounced_511() {
    local i f
    for i in $(seq 1 150); do
        for f in $(sink_file_for_rcpt "$DR"); do
            grep -q -x -F 'X-Capsink-From: <>' "$f" && grep -q 'sendmail-badkey' "$f" &&
                grep -q '5\.1\.1' "$f" && return 0
        done
        sleep 0.1
    done
    h_fail "no bounce quoting 5.1.1 for the sendmail message; maillog:
$(maillog | tail -5)"
}
check "sendmail to a mistyped patient: refused at end of message (bounce 5.1.1)" bounced_511

printf 'From: %s\nTo: %s\nSubject: sendmail-patient\nX-Test: sendmail-patient\n\nRappel\n' \
    "$DR2" "$P6@$PD" | local_submit "$DR2" "$P6@$PD"
check "sendmail to a patient: delivered" got sendmail-patient
check "sendmail to a patient: opens the conversation" conv_state "$DR2" "$P6" open

# ---------------------------------------------------------------- state only once final
# A conversation is recorded only once the message's verdict is final.  A
# [FIN] that a later step answers 451 (here forwarding: a copy of a
# colleague's mailbox to a classic address needs a notice, and the notice
# queue refuses the write) was never accepted: the conversation stays
# open, or the patient would be locked out by a message Postfix retries.
CC=secretariat@chu-test.mssante.fr
out=$("$CTL_BIN" -c "$conf" forwards add "$CC" copy assistante@outlook.fr 2>&1)
check "final-state test: $CC copies its mail to a classic address" test $? = 0 || note "$out"
sleep 1.1   # the daemon's copy of the rules counts as fresh for a second (EarlyAccept)
pmail fq-open "$DR2" "$P4@$PD" "Suivi" "Comment allez-vous ?"
check "final-state test: the conversation is opened" accepted fq-open
QKEY=mssante:notify:queue
redis-cli -p "$REDIS_PORT" RENAME "$QKEY" "$QKEY.saved" >/dev/null 2>&1
redis-cli -p "$REDIS_PORT" SET "$QKEY" "not a queue" >/dev/null
pmail fq-fin "$DR2" "$P4@$PD,$CC" "[FIN]" ""
check "[FIN] whose forwarding notice cannot be queued: 451 4.3.0" \
    assert_reply "$W/swaks/fq-fin.txt" . '^451 4\.3\.0 '
check "[FIN] answered 451 by a later step: the conversation is still open" \
    conv_state "$DR2" "$P4" open
qid=$(maillog_qid "milter-reject: END-OF-MESSAGE .*4\.3\.0 .*from=<$DR2>")
check "[FIN] answered 451 by a later step: its verdict line says nothing was recorded" \
    verdict_logged "$qid" "verdict=tempfail .*conv=not-recorded"
redis-cli -p "$REDIS_PORT" DEL "$QKEY" >/dev/null
redis-cli -p "$REDIS_PORT" RENAME "$QKEY.saved" "$QKEY" >/dev/null 2>&1
pmail fq-fin2 "$DR2" "$P4@$PD,$CC" "[FIN]" ""
check "the same [FIN] once the notice can be queued: accepted" accepted fq-fin2
check "the same [FIN] accepted: now the conversation is closed" conv_state "$DR2" "$P4" closed
check "the same [FIN] accepted: closed by that message" \
    field_is "$DR2" "$P4" closed_by_qid "$(qid_of fq-fin2)"

# ---------------------------------------------------------------- Redis down

pmail rd-open "$DR" "$P7@$PD" "Suivi" "Comment allez-vous ?"
check "Redis test: conversation opened" accepted rd-open
redis-cli -p "$REDIS_PORT" SAVE >/dev/null
stop_redis "$REDIS_PORT"
pmail rd-fin "$DR" "$P7@$PD" "[FIN]" ""
check "Redis down during a [FIN]: 451 4.3.0 at end of data" \
    assert_reply "$W/swaks/rd-fin.txt" . '^451 4\.3\.0 .*Patient conversation state unavailable'
pmail rd-reply "$P7@$PD" "$DR" "Re: Suivi" "Bien"
check "Redis down: a patient's message is deferred, not refused (451 4.3.0)" \
    assert_reply "$W/swaks/rd-reply.txt" "RCPT TO" '^451 4\.3\.0'
pmail rd-pharmacy "$P7@$PD" "$PHARMA" "Ordonnance" "x"
check "Redis down: a pharmacy still gets the patient's message" accepted rd-pharmacy
start_redis "$REDIS_PORT" || exit 1
check "Redis back: the failed [FIN] recorded nothing (still open)" conv_state "$DR" "$P7" open
MX=$MX_B pmail rd-fin-retry "$DR" "$P7@$PD" "[FIN]" ""
check "Redis back: the retried [FIN] is accepted (pooled connection replaced)" accepted rd-fin-retry
check "Redis back: closed once, by the retry's queue id" \
    field_is "$DR" "$P7" closed_by_qid "$(qid_of rd-fin-retry)"
MX= pmail rd-fin-again "$DR" "$P7@$PD" "[FIN]" ""
check "Redis back: the main MX's stale connection is replaced too" accepted rd-fin-again
n_fin=$(grep -l -x -F "X-Test: rd-fin" "$W"/sink/msg-*.eml 2>/dev/null | wc -l)
check "Redis down: the failed [FIN] was not delivered" test "$n_fin" = 0

# ---------------------------------------------------------------- two MX

pmail mx-open "$DR2" "$P2@$PD" "Bilan" "Bilan sanguin."
check "two MX: MX A opens a conversation" accepted mx-open
MX=$MX_B pmail mx-reply "$P2@$PD" "$DR2" "Re: Bilan" "Merci"
check "two MX: MX B accepts the patient's reply" accepted mx-reply
MX=$MX_B pmail mx-fin "$DR2" "$P2@$PD" "[FIN]" ""
check "two MX: MX B closes it" accepted mx-fin
pmail mx-late "$P2@$PD" "$DR2" "Re: Bilan" "Encore moi"
check "two MX: MX A refuses the patient's reply after MX B's [FIN]" \
    refused_at mx-late "RCPT TO" '^550 5\.7\.1'

# ---------------------------------------------------------------- mssantectl

out=$("$CTL_BIN" -c "$conf" conversation list "$DR" 2>&1)
check "conversation list: shows each patient and its state" \
    contains "$out" "$P3"
check "conversation list: closed and open conversations" \
    bash -c 'grep -E -q "^'"$P1"' +open " <<<"$1" && grep -E -q "^'"$P3"' +closed " <<<"$1"' _ "$out"
json=$("$CTL_BIN" -c "$conf" conversation list --json "$DR" 2>&1)
check "conversation list --json: every conversation with its state" \
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
s = {c["patient"]: c["state"] for c in d["conversations"]}
assert d["mailbox"] == sys.argv[2], d
assert s[sys.argv[3]] == "open" and s[sys.argv[4]] == "closed", s
assert d["count"] == len(d["conversations"])
' "$json" "$DR" "$P1" "$P3"
check "conversation show --json: dates and TTL" \
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["state"] == "open" and d["opened"] and d["last_activity"], d
assert 29 * 86400 < d["expires_in"] <= 30 * 86400, d
' "$("$CTL_BIN" -c "$conf" conversation show --json "$DR" "$P1@$PD" 2>&1)"

out=$("$CTL_BIN" -c "$conf" conversation close "$DR" "$P1" 2>&1)
check "conversation close: done and said" contains "$out" "closed: $DR <-> $P1 (was open)"
check "conversation close: the conversation is closed" conv_state "$DR" "$P1" closed
check "conversation close: closed by mssantectl" \
    bash -c '[[ $1 == mssantectl-* ]]' _ "$(conv_field "$DR" "$P1" closed_by_qid)"
pmail after-admin-close "$P1@$PD" "$DR" "Re: x" "?"
check "conversation close: the daemon refuses the patient now" \
    refused_at after-admin-close "RCPT TO" '^550 5\.7\.1'
json=$("$CTL_BIN" -c "$conf" --json conversation open "$DR" "$P5" 2>&1)
check "conversation open --json: says what was done" \
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["action"] == "opened" and d["state"] == "open" and d["previous"] == "open", d
' "$json"
"$CTL_BIN" -c "$conf" conversation open "$DR2" "$P4" >/dev/null 2>&1
check "conversation open: a never-opened conversation is open" conv_state "$DR2" "$P4" open
pmail after-admin-open "$P4@$PD" "$DR2" "Question" "Bonjour"
check "conversation open: the daemon accepts the patient now" accepted after-admin-open

"$CTL_BIN" -c "$conf" conversation open "$DR" "$BADKEY" >/dev/null 2>&1
check "conversation open with a mistyped matricule: usage error (2)" test $? = 2
"$CTL_BIN" -c "$conf" conversation show "$DR2" "$P7" >/dev/null 2>&1
check "conversation show of no conversation: exit 1" test $? = 1
out=$("$CTL_BIN" -c "$conf" conversation show "$DR2" "$P7" 2>&1)
check "conversation show of no conversation: state none" contains "$out" "none"
"$CTL_BIN" -c "$noredis" conversation list "$DR" >/dev/null 2>&1
check "conversation without Redis configured: usage error (2)" test $? = 2

# ---------------------------------------------------------------- settings

MX=$MX_W pmail warn-badkey "$DR" "$BADKEY@$PD" "Resultats" "x"
check "PatientKeyCheck warn: a mistyped matricule is accepted" accepted warn-badkey
check "PatientKeyCheck warn: and said on its verdict line" \
    verdict_logged "$(qid_of warn-badkey)" "rcpt=<$BADKEY@$PD>/patient .*verdict=accept.* ins=$BADKEY:bad-key:accepted"
MX=$MX_W pmail warn-fin-body "$DR" "$P6@$PD" "[FIN]" "Bonne continuation"
check "FinWithContent accept: a [FIN] with a body is accepted" accepted warn-fin-body
check "FinWithContent accept: and closes the conversation" conv_state "$DR" "$P6" closed
check "FinWithContent accept: the log says the content is lost" \
    verdict_logged "$(qid_of warn-fin-body)" "content lost"

MX=$MX_D pmail dry-first "$P5@$PD" "$DR2" "Question" "Bonjour"
check "DryRun: a patient writing first is accepted" accepted dry-first
check "DryRun: ... and the log says it would have been refused" \
    verdict_logged "$(qid_of dry-first)" "would=reject rule=patient-no-conversation"
MX=$MX_D pmail dry-open "$DR2" "$P7@$PD" "Suivi" "Bonjour"
check "DryRun: a message to a patient is delivered" accepted dry-open
check "DryRun: ... and still opens the conversation" conv_state "$DR2" "$P7" open
MX=$MX_D pmail dry-variant "$DR2" "$P7@$PD" "[Fin]" ""
check "DryRun: a variant [FIN] closes the conversation" conv_state "$DR2" "$P7" closed
f=$(sink_file dry-variant)
check "DryRun: ... but the message is not rewritten" \
    grep -q -x -F "Subject: [Fin]" "${f:-/dev/null}"
check "DryRun: ... and the log says so" \
    verdict_logged "$(qid_of dry-variant)" "conv=close:$P7 patient=\"closure, subject not rewritten \(DryRun\)\""

MX=$MX_N pmail noredis-out "$DR" "$P1@$PD" "Resultats" "x"
check "no Redis configured: mail to a patient is deferred at RCPT (451 4.3.0)" \
    assert_reply "$W/swaks/noredis-out.txt" "RCPT TO" '^451 4\.3\.0'
MX=$MX_N pmail noredis-in "$P1@$PD" "$DR" "Re" "x"
check "no Redis configured: a patient's message is deferred (451 4.3.0)" \
    assert_reply "$W/swaks/noredis-in.txt" "RCPT TO" '^451 4\.3\.0'
MX=$MX_N pmail noredis-pharmacy "$P1@$PD" "$PHARMA" "Ordonnance" "x"
check "no Redis configured: a pharmacy still gets the patient's message" accepted noredis-pharmacy
MX=$MX_N pmail noredis-badkey "$DR" "$BADKEY@$PD" "Resultats" "x"
check "no Redis configured: a mistyped matricule is still refused (550 5.1.1)" \
    assert_reply "$W/swaks/noredis-badkey.txt" "RCPT TO" '^550 5\.1\.1'
out=$("$MILTER_BIN" -n -c "$noredis" -p "inet:8895@127.0.0.1" 2>&1)
check "-n without Redis: warns that patient mail will be deferred" \
    contains "$out" "warning: Redis is not configured"

# ---------------------------------------------------------------- the end

stop_milter
for p in "${EXTRA_PIDS[@]}"; do kill "$p" 2>/dev/null; done
extra_ok=yes
for p in "${EXTRA_PIDS[@]}"; do
    if wait_pid_gone "$p" 15; then
        wait "$p" 2>/dev/null || extra_ok="exit status $? (pid $p)"
    else
        kill -9 "$p" 2>/dev/null
        extra_ok="pid $p did not stop"
    fi
done
EXTRA_PIDS=()
check "the other milters stop cleanly" test "$extra_ok" = yes
check "no sanitizer report from any milter" bash -c '! grep -E -q "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"' _ "$W/milter/milter.log"
