#!/bin/bash
# t_rollout.sh - a rollout that breaks nothing (issue 15), through a real
# Postfix and a real Redis:
#  - "mssantectl conversation import": a CSV file with good, bad and
#    duplicate lines; its summary; the patient's reply then delivered;
#    importing twice changes nothing; a closure is never reopened;
#    --dry-run writes nothing; --json;
#  - PatientInbound log (switched on and off by a reload): a patient
#    without an open conversation delivered and logged, nothing opened;
#  - the README's rollout: DryRun (conversations recorded), then DryRun no
#    with PatientInbound log, then enforce;
#  - PharmacyMailboxes patterns (pharmacie-*@...);
#  - the hints in the 550 of a mixed list: did you mean, Apicrypt, a
#    .mssante.fr domain not on the list;
#  - internationalised domains over SMTPUTF8: a listed xn-- domain written
#    in Unicode accepted and logged in both forms, lookalikes refused.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
h_init

DR=dr.martin@chu-test.mssante.fr
DR2=dr.durand@chu-test.mssante.fr
PD=patient.mssante.fr
P1=279035121518989          # valid
P2=185052A12345633          # valid (2A)
P4=269029934173285          # valid
P5=178052065432174          # valid
P6=285042077712353          # valid
P7=165059900011175          # valid
BADKEY=279035121518988      # P1 with the last digit mistyped
IDN=hôpital.mssante.fr      # listed below as its A-label
IDN_A=xn--hpital-ixa.mssante.fr

# The integration list plus one domain listed by its A-label, as the ANS
# writes an IDN.
LIST=$W/list.xml
sed "s|</ListeDomaines>|<Domaine><Nom>$IDN_A</Nom><DNCertificatOperateur>CN=mx.hopital.invalid,O=T,C=FR</DNCertificatOperateur></Domaine></ListeDomaines>|" \
    "$FIXTURES/it-list.xml" >"$LIST"

start_capsink || exit 1
start_redis || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

conf=$W/milter/rollout.conf
# write_conf INBOUND [DRYRUN]: the daemon's configuration with
# PatientInbound INBOUND (and DryRun DRYRUN, default no).
write_conf() {
    milter_conf "$conf"
    cat >>"$conf" <<EOF
WhitelistFile $LIST
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 1s
PharmacyMailboxes pharmacie-*@chu-test.mssante.fr, accueil@autre-site.chu-test.mssante.fr
ConversationTTL 30d
PatientInbound $1
DryRun ${2:-no}
EOF
}
write_conf enforce
start_milter "$conf" || exit 1

# ---------------------------------------------------------------- helpers

# pmail NAME FROM TO [SUBJECT [BODY]]: one message over SMTP, identified in
# the sink by "X-Test: NAME".  A patient writes from the outside.
pmail() {
    local name=$1 from=$2 to=$3 subject=${4:-Message} body=${5-Bonjour} xclient=()
    case $from in
        *@"$PD") xclient=(--xclient-addr "$OUTSIDE_ADDR") ;;
    esac
    local f=$W/swaks/$name.eml
    printf 'From: <%s>\nTo: <%s>\nSubject: %s\nX-Test: %s\n\n%s' "$from" "$to" "$subject" \
        "$name" "$body" >"$f"
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 --helo client.it.invalid \
        --from "$from" --to "$to" --data "@$f" "${xclient[@]}" >"$LAST_TRANSCRIPT" 2>&1
}

got() {
    local i
    for i in $(seq 1 200); do
        grep -q -x -F "X-Test: $1" "$W"/sink/msg-*.eml 2>/dev/null && return 0
        sleep 0.1
    done
    h_fail "message $1 not in the sink ($(sink_count) there)"
}

accepted() { assert_reply "$W/swaks/$1.txt" . '^250 ' && got "$1"; }

refused_rcpt() {
    assert_reply "$W/swaks/$1.txt" "RCPT TO" "$2" || return 1
    wait_queue_empty 10 || return 1
    ! grep -q -x -F "X-Test: $1" "$W"/sink/msg-*.eml 2>/dev/null || h_fail "$1 was delivered"
}

qid_of() { queue_id_of "$W/swaks/$1.txt"; }

# ascii_reply FILE CMD: the reply to CMD holds nothing but printable ASCII
# (SMTP replies are 7-bit, even in an SMTPUTF8 session).
ascii_reply() {
    local r
    r=$(smtp_reply "$1" "$2")
    [ -n "$r" ] || { h_fail "no reply to $2 in $1"; return 1; }
    ! printf '%s' "$r" | LC_ALL=C grep -q '[^ -~]' || h_fail "not ASCII: $r"
}

ctlc() { "$CTL_BIN" -c "$conf" "$@"; }

# conv_state MAILBOX PATIENT STATE
conv_state() {
    local out
    out=$(ctlc conversation show "$1" "$2" 2>&1)
    printf '%s\n' "$out" | grep -E -q "^state: +$3\$" ||
        h_fail "conversation $1 / $2: expected state $3, got:
$out"
}

conv_field() {
    ctlc --json conversation show "$1" "$2" 2>/dev/null |
        python3 -c 'import json,sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$3"
}

reload() {
    local before
    before=$(grep -c -E 'reloaded .*: [0-9]+ local domain' "$W/milter/milter.log")
    kill -HUP "$H_PID_MILTER"
    for i in $(seq 1 100); do
        [ "$(grep -c -E 'reloaded .*: [0-9]+ local domain' "$W/milter/milter.log")" -gt "$before" ] &&
            return 0
        sleep 0.05
    done
    h_fail "no reload logged"
}

# ---------------------------------------------------------------- import

csv=$W/conversations.csv
future=$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)
cat >"$csv" <<EOF
mailbox,patient,opened_at
# exported from the previous server on 2026-12-01
$DR,$P1,2026-11-02T09:30:00Z
$DR2;$P2@$PD;1793611800

"Dr.Martin@CHU-Test.MSSante.fr","$P4",
$DR,$BADKEY,2026-11-02
dr.x@medecin.mssante.fr,$P5,2026-11-02
$DR,$P1,2026-10-01
$DR,$P6,$future
$DR,$P7,hier
$DR,12345
$DR,$P7,2026-11-02,extra
EOF
#    lines:  1 header, 2 comment, 3-4 good, 5 blank, 6 good (no time),
#    7 bad key, 8 not ours, 9 duplicate of 3, 10 future, 11 not a time,
#    12 not an INS, 13 four fields
out=$(ctlc conversation import "$csv" 2>&1)
rc=$?
check "import: exit 1, since some lines were refused" test "$rc" = 1
check "import: the summary counts 3 imported, 1 already there, 6 refused, naming the lines" \
    contains "$out" "imported 3, already there 1, refused 6 (lines 7, 8, 10, 11, 12, 13)"
check "import: a wrong INS key is refused, the patient as in the log, without the expected key" \
    eval 'grep -q -E "line 7: refused: patient \"hmac:[0-9a-f]{16}\": the INS matricule key does not match \(typo\?\)" <<<"$out"'
check "import: the report never shows a matricule in clear (LogPatientId hash)" \
    eval '! grep -q -E "$P1|$P2|$P4|$BADKEY" <<<"$out"'
out_ins=$(ctlc --show-ins conversation import --dry-run "$csv" 2>&1)
check "import --show-ins: the patient in full" \
    contains "$out_ins" "line 7: refused: patient \"$BADKEY\": the INS matricule key does not match (typo?)"
check "import: a mailbox outside LocalDomains is refused" \
    contains "$out" "line 8: refused: mailbox \"dr.x@medecin.mssante.fr\": medecin.mssante.fr is not one of our LocalDomains"
check "import: a repeated conversation is already there" \
    contains "$out" "line 9: already there: same conversation as line 3"
check "import: a date in the future is refused" contains "$out" "line 10: refused: opened_at"
check "import: a time that is no time is refused" contains "$out" "line 11: refused: opened_at \"hier\""
check "import: a local part that is no INS is refused" contains "$out_ins" "line 12: refused: patient \"12345\": not an INS matricule"
check "import: a fourth field is refused" contains "$out" "line 13: refused: more than 3 fields"
note "$out"

check "import: $DR <-> $P1 is open" conv_state "$DR" "$P1" open
check "import: its opened_at is the file's" \
    test "$(conv_field "$DR" "$P1" opened)" = 2026-11-02T09:30:00Z
check "import: it says it was imported" test -n "$(conv_field "$DR" "$P1" imported)"
check "import: the 2A patient given as an address, Unix time" \
    test "$(conv_field "$DR2" "$P2" opened)" = 2026-11-02T09:30:00Z
check "import: a line without opened_at is open too (mailbox in any case)" \
    conv_state "$DR" "$P4" open
check "import: nothing for a refused line" conv_state "$DR" "$P5" none

pmail reply-imported "$P1@$PD" "$DR" "Re: Resultats" "Merci docteur"
check "the patient's reply into an imported conversation: delivered" accepted reply-imported
check "its verdict line says it is a reply" \
    verdict_logged "$(qid_of reply-imported)" "verdict=accept.* conv=reply:<$DR>"
pmail reply-none "$P5@$PD" "$DR" "Bonjour" "Je vous ecris"
check "a patient without a conversation (enforce): refused at RCPT with 550 5.7.1" \
    refused_rcpt reply-none '^550 5\.7\.1 .*cannot start or resume a conversation'

# Twice: nothing changes.
imported_at=$(conv_field "$DR" "$P1" imported)
out=$(ctlc conversation import "$csv" 2>&1)
check "import twice: nothing imported, the same lines refused" \
    contains "$out" "imported 0, already there 4, refused 6 (lines 7, 8, 10, 11, 12, 13)"
check "import twice: an open conversation is kept as it was" \
    contains "$out" "line 3: already there: open since 2026-11-02T09:30:00Z, kept"
check "import twice: the record is untouched" \
    test "$(conv_field "$DR" "$P1" imported)" = "$imported_at"

# A closure the milter recorded is never reopened by an import.
pmail fin-p4 "$DR" "$P4@$PD" "[FIN]" ""
check "[FIN] to $P4: accepted" accepted fin-p4
check "[FIN] to $P4: closed" conv_state "$DR" "$P4" closed
printf '%s,%s\n' "$DR" "$P4" >"$W/again.csv"
out=$(ctlc conversation import "$W/again.csv" 2>&1)
rc=$?
check "import after a closure: exit 0, nothing imported" \
    eval '[ "$rc" = 0 ] && contains "$out" "imported 0, already there 1, refused 0"'
check "import after a closure: the closure is kept" \
    contains "$out" "line 1: already there: closed "
check "import after a closure: still closed" conv_state "$DR" "$P4" closed
pmail reply-closed "$P4@$PD" "$DR" "Re: fin" "Encore une question"
check "the patient of the closed conversation: refused" refused_rcpt reply-closed '^550 5\.7\.1 '

# --dry-run writes nothing; --json; standard input.
printf '%s,%s\n' "$DR2" "$P6" >"$W/dry.csv"
out=$(ctlc conversation import --dry-run "$W/dry.csv" 2>&1)
check "import --dry-run: says it would import" contains "$out" "would import 1, already there 0, refused 0"
check "import --dry-run: writes nothing" conv_state "$DR2" "$P6" none
json=$(ctlc --json --show-ins conversation import - <"$W/dry.csv" 2>&1)
check "import --json from standard input: the counts and each line" \
    eval 'printf "%s" "$json" | python3 -c "import json,sys; d = json.load(sys.stdin); assert (d[\"imported\"], d[\"already_there\"], d[\"refused\"]) == (1, 0, 0), d; assert d[\"lines\"][0][\"status\"] == \"imported\" and d[\"lines\"][0][\"patient\"] == \"'"$P6"'\", d"'
check "import from standard input: written" conv_state "$DR2" "$P6" open
out=$(ctlc conversation import "$W/missing.csv" 2>&1)
rc=$?
check "import of a file that does not exist: exit 2, named" \
    eval '[ "$rc" = 2 ] && contains "$out" "missing.csv: No such file or directory"'

# ---------------------------------------------------------------- PatientInbound log

write_conf log
check "PatientInbound log: applied by a reload" reload
check "PatientInbound log: the reload line says it, so it is not left on unnoticed" \
    wait_milter_log "reloaded .*: [0-9]+ local domain\(s\), PatientInbound log: patients admitted without a conversation;"
pmail inbound-log "$P5@$PD" "$DR" "Bonjour" "Je vous ecris pour la premiere fois"
check "PatientInbound log: a patient without a conversation is delivered" accepted inbound-log
check "PatientInbound log: the verdict line says what enforce would have done" \
    verdict_logged "$(qid_of inbound-log)" "verdict=accept would=reject rule=patient-no-conversation .*conv=unsolicited:<$DR>"
check "PatientInbound log: and a notice names the patient and the mailbox" \
    wait_milter_log "patient $P5 wrote to <$DR> without an open conversation: admitted \(PatientInbound log\)"
check "PatientInbound log: no conversation is opened" conv_state "$DR" "$P5" none
write_conf enforce
check "PatientInbound enforce: back by a reload" reload
pmail inbound-enforce "$P5@$PD" "$DR" "Bonjour" "Encore moi"
check "PatientInbound enforce again: the same patient is refused" \
    refused_rcpt inbound-enforce '^550 5\.7\.1 '

# The README's rollout: DryRun, then DryRun no with PatientInbound log,
# then enforce.  A conversation the professional writes in during the
# DryRun days is recorded; afterwards the patient's reply is a reply, and
# a patient without one is still delivered, logged, until enforce.
write_conf enforce yes
check "rollout 1/3: DryRun yes, applied by a reload" reload
pmail ro-open "$DR2" "$P5@$PD" "Compte rendu" "Bonjour"
check "rollout 1/3: the professional's message to a patient is delivered" accepted ro-open
check "rollout 1/3: and DryRun records the conversation" conv_state "$DR2" "$P5" open
pmail ro-first "$P7@$PD" "$DR2" "Bonjour" "Premier message"
check "rollout 1/3: a patient without a conversation is delivered, dryrun=yes on its line" \
    eval 'accepted ro-first && verdict_logged "$(qid_of ro-first)" "would=reject rule=patient-no-conversation .*dryrun=yes"'
write_conf log no
check "rollout 2/3: DryRun no, PatientInbound log, one reload" reload
pmail ro-reply "$P5@$PD" "$DR2" "Re: Compte rendu" "Merci"
check "rollout 2/3: the reply into the conversation DryRun recorded is a reply" \
    eval 'accepted ro-reply && verdict_logged "$(qid_of ro-reply)" "verdict=accept .*conv=reply:<$DR2>"'
pmail ro-unsol "$P7@$PD" "$DR2" "Bonjour" "Encore"
check "rollout 2/3: the patient without one is delivered, conv=unsolicited on its line" \
    eval 'accepted ro-unsol && verdict_logged "$(qid_of ro-unsol)" "conv=unsolicited:<$DR2>"'
send_mail ro-classic "$DR2" "secretariat@outlook.fr"
check "rollout 2/3: while the trust space is enforced" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
write_conf enforce no
check "rollout 3/3: PatientInbound enforce, one reload" reload
pmail ro-reply2 "$P5@$PD" "$DR2" "Re: Compte rendu" "Merci encore"
check "rollout 3/3: the reply still delivered" accepted ro-reply2
pmail ro-unsol2 "$P7@$PD" "$DR2" "Bonjour" "Toujours moi"
check "rollout 3/3: the patient without a conversation refused" \
    refused_rcpt ro-unsol2 '^550 5\.7\.1 '

# ---------------------------------------------------------------- pharmacies

pmail pharma-pattern "$P7@$PD" "pharmacie-martin-59000-lille@chu-test.mssante.fr" "Ordonnance" "Bonjour"
check "pharmacie-*: a patient may write first to a matching mailbox" accepted pharma-pattern
check "pharmacie-*: logged as a pharmacy" \
    verdict_logged "$(qid_of pharma-pattern)" "conv=pharmacy:<pharmacie-martin-59000-lille@chu-test.mssante.fr>"
pmail pharma-case "$P7@$PD" "Pharmacie-Dupont@chu-test.mssante.fr" "Ordonnance" "Bonjour"
check "pharmacie-*: any case in the local part" accepted pharma-case
pmail pharma-no "$P7@$PD" "pharmacien@chu-test.mssante.fr" "Ordonnance" "Bonjour"
check "pharmacie-*: pharmacien@ does not match: refused" refused_rcpt pharma-no '^550 5\.7\.1 '
pmail pharma-domain "$P7@$PD" "pharmacie-x@autre-site.chu-test.mssante.fr" "Ordonnance" "Bonjour"
check "pharmacie-*: the pattern stays in its domain" refused_rcpt pharma-domain '^550 5\.7\.1 '

# ---------------------------------------------------------------- hints

first='^550 5\.7\.1 Envoi refuse : destinataire\(s\) hors de l.espace de confiance MSSante'
send_mail hint-typo "$DR" "dr.x@medecin.mssante.fr,secretariat@chu-lile.mssante.fr"
check "hint: a typo of a listed domain, the first sentence kept" \
    assert_reply "$LAST_TRANSCRIPT" DATA "$first"
check "hint: did you mean chu-lille.mssante.fr ?" \
    assert_reply "$LAST_TRANSCRIPT" DATA 'Not MSSante: secretariat@chu-lile\.mssante\.fr\. Aide / Help: chu-lile\.mssante\.fr : vouliez-vous dire / did you mean chu-lille\.mssante\.fr \?'
check "hint: the typo is never delivered, nor the good recipient" not_delivered hint-typo
send_mail hint-apicrypt "$DR" "dr.x@apicrypt.org"
check "hint: apicrypt.org is the old, non-interoperable Apicrypt" \
    assert_reply "$LAST_TRANSCRIPT" DATA 'apicrypt\.org : ancien service Apicrypt, non interoperable / old Apicrypt, not interoperable'
send_mail hint-unlisted "$DR" "dr.x@nouveau-centre.mssante.fr"
check "hint: a .mssante.fr domain not (yet) on the ANS list" \
    assert_reply "$LAST_TRANSCRIPT" DATA 'nouveau-centre\.mssante\.fr : absent \(ou pas encore\) de la liste ANS / not \(yet\) on the ANS list'
send_mail hint-none "$DR" "secretariat@outlook.fr"
check "hint: none for an ordinary classic domain" reply_lacks "$LAST_TRANSCRIPT" DATA "Aide / Help"
send_mail hint-five "$DR" "a1@outlook.fr,a2@gmail.com,a3@chu-lile.mssante.fr,a4@free.fr,a5@orange.fr,a6@laposte.net"
check "hint: five offenders named, the rest counted, and the hint after them" \
    assert_reply "$LAST_TRANSCRIPT" DATA 'a1@outlook\.fr, a2@gmail\.com, a3@chu-lile\.mssante\.fr, a4@free\.fr, a5@orange\.fr \(et 1 autre\(s\) / and 1 more\)\. Aide / Help: chu-lile\.mssante\.fr : '
len=$(smtp_reply "$LAST_TRANSCRIPT" DATA | wc -c)
check "hint: the reply line stays under 512 bytes ($len)" test "$len" -lt 512

# ---------------------------------------------------------------- IDN (SMTPUTF8)

# swaks cannot declare SMTPUTF8: a raw session does.  Postfix accepts the
# UTF-8 envelope (smtputf8_enable = yes) and hands the milter the address
# as the client wrote it; the milter compares its A-labels.
smtp_raw idn-listed "EHLO client.it.invalid" "MAIL FROM:<$DR> SMTPUTF8" \
    "RCPT TO:<dr.x@$IDN>" DATA "Subject: idn-listed" "" "corps" . QUIT
check "IDN: a listed xn-- domain written in Unicode is accepted" \
    assert_reply "$LAST_TRANSCRIPT" . '^250 '
check "IDN: and delivered" delivered idn-listed
check "IDN: the verdict line shows the A-label, then the name as written" \
    verdict_logged "$(queue_id_of "$LAST_TRANSCRIPT")" "rcpt=<dr\.x@$IDN_A>/mssante rcpt_u=<dr\.x@$IDN>"
smtp_raw idn-upper "EHLO client.it.invalid" "MAIL FROM:<$DR> SMTPUTF8" \
    "RCPT TO:<dr.x@HÔPITAL.MSSANTE.FR>" DATA "Subject: idn-upper" "" "corps" . QUIT
check "IDN: the same in capitals (UTS #46 folds the case)" assert_reply "$LAST_TRANSCRIPT" . '^250 '
smtp_raw idn-look "EHLO client.it.invalid" "MAIL FROM:<$DR> SMTPUTF8" \
    "RCPT TO:<dr.x@medecin.mssanté.fr>" DATA "Subject: idn-look" "" "corps" . QUIT
check "IDN: the lookalike medecin.mssanté.fr is refused, named by its A-label, with a hint" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 .*dr\.x@medecin\.xn--mssant-gva\.fr\. Aide / Help: medecin\.xn--mssant-gva\.fr : vouliez-vous dire / did you mean medecin\.mssante\.fr \?'
check "IDN: that reply is plain ASCII" ascii_reply "$LAST_TRANSCRIPT" DATA
smtp_raw idn-local "EHLO client.it.invalid" "MAIL FROM:<$DR> SMTPUTF8" \
    "RCPT TO:<secrétariat@chu-lile.mssante.fr>" DATA "Subject: idn-local" "" "corps" . QUIT
check "IDN: a Unicode local part is refused with its hint, the reply kept ASCII" \
    eval 'assert_reply "$LAST_TRANSCRIPT" DATA "^550 5\.7\.1 .*did you mean chu-lille\.mssante\.fr \?" &&
          ascii_reply "$LAST_TRANSCRIPT" DATA'
smtp_raw idn-other "EHLO client.it.invalid" "MAIL FROM:<$DR> SMTPUTF8" \
    "RCPT TO:<dr.x@hôpitäl.mssante.fr>" DATA "Subject: idn-other" "" "corps" . QUIT
check "IDN: a Unicode name whose A-label is not listed is refused" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
smtp_raw idn-bad "EHLO client.it.invalid" "MAIL FROM:<$DR> SMTPUTF8" \
    "RCPT TO:<dr.x@☃.mssante.fr>" DATA "Subject: idn-bad" "" "corps" . QUIT
# Postfix takes it at RCPT; the milter finds it classic.
check "IDN: a name IDNA2008 refuses is refused too, never let through, and says why" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 .*: nom de domaine international invalide / invalid internationalised domain name'
check "IDN: nothing of the refused ones delivered" \
    eval 'not_delivered idn-look && not_delivered idn-local && not_delivered idn-other && not_delivered idn-bad'
smtp_raw idn-sender "EHLO client.it.invalid" "XCLIENT ADDR=$OUTSIDE_ADDR" \
    "EHLO client.it.invalid" "MAIL FROM:<dr.x@$IDN> SMTPUTF8" \
    "RCPT TO:<$DR>" DATA "Subject: idn-sender" "" "corps" . QUIT
check "IDN: a sender of the listed domain written in Unicode is accepted inbound" \
    assert_reply "$LAST_TRANSCRIPT" . '^250 '
check "IDN: logged as sender=<A-label> sender_u=<as written>" \
    verdict_logged "$(queue_id_of "$LAST_TRANSCRIPT")" "sender=<dr\.x@$IDN_A> sender_u=<dr\.x@$IDN>"
out=$(ctlc check "dr@$IDN" "dr@medecin.mssanté.fr" 2>&1)
check "mssantectl check: the same answers, with the A-label and the hint" \
    eval 'contains "$out" "on the ANS whitelist (as $IDN_A)" && contains "$out" "did you mean medecin.mssante.fr?"'

stop_milter
exit "$H_FAILED"
