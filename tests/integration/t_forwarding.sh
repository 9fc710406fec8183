#!/bin/bash
# t_forwarding.sh - forwarding rules and content-free notices (issue 5)
# through a real Postfix and a real Redis:
#   - copy and redirect to an MSSante target: the target gets the message,
#     a redirect's mailbox does not;
#   - copy and redirect to a classic target: the mailbox keeps the message,
#     the target gets only a notice, through the notification listener of
#     postfix-examples/master.cf.snippet, without the subject, the body,
#     the sender;
#   - a trust-space message re-injected with "sendmail -C" toward a classic
#     address (a Sieve/.forward redirect): the classic recipient is removed
#     and notified; with nothing left the message is held (postqueue -j),
#     and a local sender's message is no longer bounced for it;
#   - the notification listener down: the original is delivered at once,
#     the notice is retried and goes out once the listener is back;
#   - a rule changed with mssantectl applies to the next message of the
#     running daemon;
#   - "mssantectl forwards audit|rewrite" over the sample map, aliases and
#     Sieve files (exact output, untouched lines byte for byte), and a rule
#     it imported turning into a notice;
#   - Redis down: the rules kept in memory still apply; a message that
#     needs a notice, or that a daemon started without Redis cannot judge,
#     is deferred (451 4.3.0).
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
command -v python3 >/dev/null 2>&1 || h_skip_all "python3 is not installed (quoted-printable)"
h_init

DOMAIN=chu-test.mssante.fr
NOREPLY=no-reply@$DOMAIN
PEER=confrere@medecin.mssante.fr          # an MSSante sender elsewhere
PEER2=collegue@chu-lille.mssante.fr       # MSSante targets
PEER3=secretariat@pharmacien.mssante.fr
# What no notice may ever carry.
SECRET_SUBJECT="Biopsie Dupont"
SECRET_BODY="Carcinome XYZZY"

# ---------------------------------------------------------------- setup

start_capsink || exit 1
start_redis || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1
check "the notification listener of master.cf.snippet listens on 127.0.0.1:$NOTIFY_PORT" \
    wait_listen "$NOTIFY_PORT" 10

conf=$W/milter/forwarding.conf
milter_conf "$conf"
sed -i 's/^LogLevel info$/LogLevel debug/' "$conf"
cat >>"$conf" <<EOF
WhitelistFile $FIXTURES/it-list.xml
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
SnapshotFile $W/milter/whitelist.snapshot
WhitelistPoll 1s
StatsFile $W/milter/stats.prom
StatsInterval 1s
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
NotifyRetry 1s
NotifyRetryMax 2s
NotifyTimeout 5s
EOF
start_milter "$conf" || exit 1

fwd() { "$CTL_BIN" -c "$conf" forwards "$@"; }
# fwd_ok ARGS...: the command succeeds (its output only shown on failure).
fwd_ok() {
    local out
    out=$(fwd "$@" 2>&1) || h_fail "mssantectl forwards $* failed: $out"
}

# ---------------------------------------------------------------- helpers

# fmail NAME FROM TO[,TO...]: one message over SMTP whose Subject is
# "$SECRET_SUBJECT NAME" and whose body holds $SECRET_BODY.
fmail() {
    LAST_TRANSCRIPT=$W/swaks/$1.txt
    swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 --helo client.it.invalid \
        --from "$2" --to "$3" --header "Subject: $SECRET_SUBJECT $1" \
        --body "$SECRET_BODY: compte rendu $1" >"$LAST_TRANSCRIPT" 2>&1
}

# lsubmit NAME FROM TO...: the same message through sendmail -C (local
# submission, non_smtpd_milters), as a Sieve or .forward redirect would.
lsubmit() {
    local name=$1 from=$2
    shift 2
    printf 'From: %s\nTo: %s\nSubject: %s %s\n\n%s: compte rendu %s\n' "$from" "$*" \
        "$SECRET_SUBJECT" "$name" "$SECRET_BODY" "$name" | local_submit "$from" "$@"
}

# msg_files NAME RCPT: the sink's copies of message NAME for RCPT.
msg_files() {
    local f
    for f in $(sink_file_for_rcpt "$2"); do
        grep -q -x -F "Subject: $SECRET_SUBJECT $1" "$f" && echo "$f"
    done
}

# got NAME RCPT: RCPT received message NAME (within 20 s).
got() {
    local i
    for i in $(seq 1 200); do
        [ -n "$(msg_files "$1" "$2")" ] && return 0
        sleep 0.1
    done
    h_fail "\"$1\" never reached $2; maillog:
$(maillog | tail -6)"
}

# settle: until only held messages are left in the queue.
settle() {
    local i
    for i in $(seq 1 200); do
        queue_json | grep -v '"queue_name": *"hold"' | grep -q '^{' || return 0
        sleep 0.1
    done
    h_fail "the queue did not settle: $(queue_json)"
}

# never_got NAME RCPT: once Postfix is done, RCPT has no copy of NAME.
never_got() {
    settle || return 1
    local f
    f=$(msg_files "$1" "$2")
    [ -z "$f" ] || h_fail "\"$1\" reached $2: $f"
}

# notices RCPT: the notices the sink holds for RCPT.
notices() {
    local f
    for f in $(sink_file_for_rcpt "$1"); do
        grep -q -x -F "X-Capsink-From: <$NOREPLY>" "$f" && echo "$f"
    done
}
notice_count() { notices "$1" | grep -c .; }

# wait_notices RCPT N [SECONDS]: RCPT got N notices.
wait_notices() {
    local i secs=${3:-20}
    for i in $(seq 1 $((secs * 10))); do
        [ "$(notice_count "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    h_fail "$1 has $(notice_count "$1") notice(s) after ${secs}s, expected $2; milter log:
$(grep 'notify' "$W/milter/milter.log" | tail -5)"
}

# decoded FILE: the message with its quoted-printable body decoded.
decoded() {
    python3 -c 'import quopri, sys
sys.stdout.write(quopri.decodestring(open(sys.argv[1], "rb").read()).decode("utf-8", "replace"))' "$1"
}

# clean_notice RCPT MAILBOX_TEXT NAME: RCPT's last notice names MAILBOX_TEXT
# and carries nothing from message NAME (subject, body, sender).
clean_notice() {
    local f text word
    f=$(notices "$1" | tail -1)
    [ -n "$f" ] || { h_fail "no notice for $1"; return 1; }
    text=$(decoded "$f")
    contains "$text" "$2" || return 1
    contains "$text" "Auto-Submitted: auto-generated" || return 1
    for word in "$SECRET_SUBJECT" Biopsie Dupont Carcinome XYZZY "compte rendu" "$3" \
                "$PEER" confrere; do
        if grep -q -i -F -- "$word" "$f" || grep -q -i -F -- "$word" <<<"$text"; then
            h_fail "the notice for $1 contains \"$word\":
$text"
            return 1
        fi
    done
}

# via_listener RCPT: RCPT's notice came in through the notification
# listener (its smtpd logs as postfix/mssante-notify), not the main one.
via_listener() {
    local f qid
    f=$(notices "$1" | tail -1)
    qid=$(sed -n 's/^.*with ESMTP id \([0-9A-F]*\)$/\1/p' "$f" | head -1)
    [ -n "$qid" ] || { h_fail "no queue id in the notice's Received header"; return 1; }
    maillog | grep -q "mssante-notify/smtpd\[[0-9]*\]: $qid: client=" ||
        h_fail "queue id $qid did not come through the notification listener:
$(maillog | grep "$qid" | head -3)"
}

held() { queue_json | grep '"queue_name": *"hold"'; }

# is_held NAME_RCPT: a held message for RCPT is in the queue (postqueue -j).
is_held() {
    local i
    for i in $(seq 1 100); do
        held | grep -q -F "\"address\": \"$1\"" && return 0
        sleep 0.1
    done
    h_fail "no held message for $1 in postqueue -j: $(queue_json)"
}

# ---------------------------------------------------------------- MSSante targets

A=dr.a@$DOMAIN
B=dr.b@$DOMAIN
check "forwards add: copy to an MSSante target" fwd_ok add "$A" copy "$PEER2"
check "forwards add: redirect to an MSSante target" fwd_ok add "$B" redirect "$PEER3"

fmail copy-mss "$PEER" "$A"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "copy to MSSante: the mailbox gets the message" got copy-mss "$A"
check "copy to MSSante: the target gets it too" got copy-mss "$PEER2"
check "copy to MSSante: the verdict line counts one recipient added" \
    verdict_logged "$qid" "verdict=accept .*fwd_add=1 fwd_del=0 notify=0 hold=no"

fmail redirect-mss "$PEER" "$B"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "redirect to MSSante: the target gets the message" got redirect-mss "$PEER3"
check "redirect to MSSante: the mailbox does not" never_got redirect-mss "$B"
check "redirect to MSSante: the verdict line counts one added, one removed" \
    verdict_logged "$qid" "fwd_add=1 fwd_del=1 notify=0"

# ---------------------------------------------------------------- classic targets

C=dr.c@$DOMAIN
D=dr.d@$DOMAIN
SEC=secretariat@outlook.fr
DHOME=dr.d.home@gmail.com
out=$("$CTL_BIN" -c "$conf" forwards add "$C" copy "$SEC" 2>&1)
check "forwards add to a classic target warns that it only gets a notice" \
    contains "$out" "only get a notice"
check "forwards add: redirect to a classic target" fwd_ok add "$D" redirect "$DHOME"

fmail copy-classic "$PEER" "$C"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "copy to classic: the mailbox gets the message" got copy-classic "$C"
check "copy to classic: a notice arrives for the target" wait_notices "$SEC" 1
check "copy to classic: the notice names the mailbox, and nothing of the message" \
    clean_notice "$SEC" "$C" copy-classic
check "copy to classic: the notice came through the notification listener" via_listener "$SEC"
check "copy to classic: the target never gets the message" never_got copy-classic "$SEC"
check "copy to classic: the verdict line counts one notice" \
    verdict_logged "$qid" "fwd_add=0 fwd_del=0 notify=1 hold=no"

fmail redirect-classic "$PEER" "$D"
check "redirect to classic: the mailbox keeps the message" got redirect-classic "$D"
check "redirect to classic: a notice arrives for the target" wait_notices "$DHOME" 1
check "redirect to classic: the notice carries nothing of the message" \
    clean_notice "$DHOME" "$D" redirect-classic
check "redirect to classic: the target never gets the message" never_got redirect-classic "$DHOME"

status=$("$CTL_BIN" -c "$conf" --json notify status 2>&1)
check "mssantectl notify status counts the notices sent" \
    contains "$(tr -d ' \n' <<<"$status")" '"sent":2'
# stats_has LINE: the daemon's StatsFile shows LINE (within 5 s).
stats_has() {
    local i
    for i in $(seq 1 50); do
        grep -q -x -F "$1" "$W/milter/stats.prom" 2>/dev/null && return 0
        sleep 0.1
    done
    h_fail "no \"$1\" in the StatsFile:
$(grep notif "$W/milter/stats.prom" 2>/dev/null)"
}
check "StatsFile: this node queued two notices" \
    stats_has 'mssante_milter_notifications_total{event="queued"} 2'
check "StatsFile: and sent them" \
    stats_has 'mssante_milter_notifications_total{event="sent"} 2'

# ---------------------------------------------------------------- re-injected forwards

F=dr.f@$DOMAIN
G=dr.g@$DOMAIN
EXT1=famille.f@laposte.net
EXT2=famille.f@free.fr

# A redirect of a message from a colleague, re-injected by the local
# delivery agent: the original sender is kept.
lsubmit reinj-mixed "$PEER" "$EXT1" "$F"
check "sendmail from the trust space to classic + local: the local mailbox gets it" \
    got reinj-mixed "$F"
check "sendmail from the trust space to classic + local: the classic one does not" \
    never_got reinj-mixed "$EXT1"
check "sendmail from the trust space to classic + local: the classic one is notified" \
    wait_notices "$EXT1" 1
check "the notice of a re-injected forward names no mailbox and nothing of the message" \
    clean_notice "$EXT1" "your MSSant" reinj-mixed
qid=$(maillog_qid "from=<$PEER>, .*nrcpt=")
check "re-injected: the verdict line says local submission, one removed, one notice" \
    verdict_logged "$qid" "submission=local.*fwd_add=0 fwd_del=1 notify=1 hold=no"

lsubmit reinj-alone "$PEER" "$EXT2"
check "sendmail from the trust space to a classic address alone: held (postqueue -j)" \
    is_held "$EXT2"
check "held: the classic address never gets the message" never_got reinj-alone "$EXT2"
check "held: and no notice either (nothing was removed)" test "$(notice_count "$EXT2")" = 0
check "held: maillog says milter-hold" \
    contains "$(maillog | grep milter-hold | tail -1)" "to=<$EXT2>"
qid=$(maillog_qid "milter-hold: .*to=<$EXT2>")
check "held: the verdict line says hold, the rule and the reason" \
    verdict_logged "$qid" "verdict=hold rule=forward-classic-only submission=local.* hold=yes reason=\"every recipient is outside"

# A local sender: the trust-space policy alone would bounce this message
# (outbound classic recipient); the forwarding plan takes over.
lsubmit local-mixed "$G" "$PEER2" "$EXT1"
check "sendmail from a local mailbox to MSSante + classic: MSSante gets it" \
    got local-mixed "$PEER2"
check "sendmail from a local mailbox to MSSante + classic: the classic one is notified" \
    wait_notices "$EXT1" 2
check "sendmail from a local mailbox to MSSante + classic: no bounce to the sender" \
    never_got local-mixed "$G"
check "sendmail from a local mailbox to MSSante + classic: never to the classic one" \
    never_got local-mixed "$EXT1"
lsubmit local-alone "$G" "$EXT2"
is_held_twice() {
    local i
    for i in $(seq 1 100); do
        [ "$(held | grep -c -F "\"address\": \"$EXT2\"")" -ge 2 ] && return 0
        sleep 0.1
    done
    h_fail "expected two held messages for $EXT2: $(queue_json)"
}
check "sendmail from a local mailbox to a classic address alone: held (postqueue -j)" \
    is_held_twice
check "sendmail from a local mailbox to a classic address alone: not bounced" \
    never_got local-alone "$G"
# The senders of the held messages are told (issue 16): before the
# listener goes down below, so that its counts are about one notice only.
held_notice_for() {
    local i f
    for i in $(seq 1 200); do
        for f in $(notices "$1"); do
            grep -q "^Subject: Message retenu" "$f" && return 0
        done
        sleep 0.1
    done
    h_fail "no held notice for $1"
}
check "held: each sender is told with a held notice" \
    eval 'held_notice_for "$PEER" && held_notice_for "$G"'

# ---------------------------------------------------------------- listener down

# Take the notification listener out of master.cf and reload Postfix.
cp "$H_PF_ETC/master.cf" "$W/master.cf.orig"
postconf -c "$H_PF_ETC" -M# "127.0.0.1:$NOTIFY_PORT/inet"
postfix -c "$H_PF_ETC" reload >/dev/null 2>&1
listener_gone() {
    local i
    for i in $(seq 1 100); do
        port_listening "$NOTIFY_PORT" || return 0
        sleep 0.1
    done
    h_fail "the notification listener still listens"
}
check "the notification listener is down" listener_gone

before=$(notice_count "$SEC")
fmail listener-down "$PEER" "$C"
check "listener down: the original is delivered at once" got listener-down "$C"
check "listener down: the notice is deferred and retried" \
    wait_milter_log "notify: deferred id=[0-9]+ mailbox=$C to=<$SEC> attempts=2" 15
status=$("$CTL_BIN" -c "$conf" --json notify status 2>&1 | tr -d ' \n')
check "listener down: mssantectl notify status shows it pending and retried" \
    eval '[[ $status == *"\"pending\":1"* && $status =~ \"retried\":[1-9] ]] || h_fail "$status"'
check "listener down: no notice meanwhile" test "$(notice_count "$SEC")" = "$before"

cp "$W/master.cf.orig" "$H_PF_ETC/master.cf"
postfix -c "$H_PF_ETC" reload >/dev/null 2>&1
check "the notification listener is back" wait_listen "$NOTIFY_PORT" 10
check "listener back: the notice goes out at the next retry" \
    wait_notices "$SEC" $((before + 1)) 15
check "listener back: it still carries nothing of the message" \
    clean_notice "$SEC" "$C" listener-down

# ---------------------------------------------------------------- live changes

E=dr.e@$DOMAIN
check "forwards add (daemon running): copy to $PEER2" fwd_ok add "$E" copy "$PEER2"
fmail live-1 "$PEER" "$E"
check "the next message follows the new rule" got live-1 "$PEER2"
check "forwards del (daemon running)" fwd_ok del "$E" "$PEER2"
out=$(fwd list "$E" 2>&1)
check "forwards list: no rule left for the mailbox" contains "$out" "no forwarding rule"
fmail live-2 "$PEER" "$E"
check "after del: the mailbox gets the next message" got live-2 "$E"
check "after del: the former target does not" never_got live-2 "$PEER2"
check "forwards add (daemon running): redirect to $PEER3" fwd_ok add "$E" redirect "$PEER3"
fmail live-3 "$PEER" "$E"
check "after a new redirect: the target gets the next message" got live-3 "$PEER3"
check "after a new redirect: the mailbox does not" never_got live-3 "$E"

out=$(fwd list 2>&1)
check "forwards list shows every rule, classic targets marked" \
    contains "$out" "$C  copy  $SEC (notice only)"
json=$(fwd export 2>&1)
check "forwards export: JSON with the rules" contains "$json" "\"mailbox\": \"$D\""

# ---------------------------------------------------------------- audit and rewrite

T=$W/tables
mkdir -p "$T"
cp "$FIXTURES/fwd-virtual" "$FIXTURES/fwd-aliases" "$FIXTURES/fwd-mailbox.sieve" "$T/"
cd "$T" || exit 1

# expect_out NAME WANT CMD...: CMD's standard output is exactly WANT; its
# exit status goes to LAST_RC.
expect_out() {
    local want=$1 got
    shift
    got=$("$@" 2>"$W/ctl.err")
    LAST_RC=$?
    [ "$got" = "$want" ] && return 0
    h_fail "$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got"))
stderr: $(cat "$W/ctl.err")"
}
report_of() { grep -v '^import ' "$FIXTURES/$1.report"; }

check "audit of the virtual map: the exact report" \
    expect_out "$(report_of fwd-virtual)" fwd audit fwd-virtual
check "audit finding classic targets exits 1" test "$LAST_RC" = 1
check "audit of the aliases file (--domain): the exact report" \
    expect_out "$(report_of fwd-aliases)" fwd audit fwd-aliases --domain "$DOMAIN"
check "audit of the Sieve script (--mailbox): the exact report" \
    expect_out "$(report_of fwd-mailbox.sieve)" \
    fwd audit fwd-mailbox.sieve --mailbox "dr.martin@$DOMAIN"
check "audit of the three at once: every finding, exit 1" \
    expect_out "$(report_of fwd-virtual; report_of fwd-aliases)" \
    fwd audit --domain "$DOMAIN" fwd-virtual fwd-aliases
json=$("$CTL_BIN" -c "$conf" --json forwards audit fwd-virtual 2>/dev/null | tr -d ' \n')
check "audit --json counts the classic targets" contains "$json" '"classic":8'

check "rewrite (dry run): the report and the rules to import" \
    expect_out "$(cat "$FIXTURES/fwd-virtual.report")" fwd rewrite fwd-virtual --domain "$DOMAIN"
check "rewrite (dry run) exits 0" test "$LAST_RC" = 0
check "rewrite (dry run) leaves the file as it was" cmp -s fwd-virtual "$FIXTURES/fwd-virtual"
check "rewrite --print: the rewritten map, byte for byte" \
    eval 'fwd rewrite --print fwd-virtual 2>/dev/null | cmp -s - "$FIXTURES/fwd-virtual.rewritten"'

want=$(cat "$FIXTURES/fwd-virtual.report"
       echo "imported: 7 target(s) for 6 mailbox(es)"
       echo "backup: fwd-virtual.bak"
       echo "rewrote: fwd-virtual"
       echo "now run: postmap fwd-virtual")
check "rewrite --apply: report, import, backup, the postmap command" \
    expect_out "$want" fwd rewrite --apply --domain "$DOMAIN" fwd-virtual
check "rewrite --apply: the map is the expected one, untouched lines identical" \
    cmp fwd-virtual "$FIXTURES/fwd-virtual.rewritten"
check "rewrite --apply: the backup is the original" cmp fwd-virtual.bak "$FIXTURES/fwd-virtual"
out=$(fwd list "dr.parti@$DOMAIN" 2>&1)
check "rewrite --apply: the classic target became a copy rule (notice only)" \
    contains "$out" "dr.parti@$DOMAIN  copy  dr.parti@gmail.com (notice only)"
check "audit of the rewritten map finds nothing, exit 0" \
    expect_out "" fwd audit fwd-virtual
check "audit of the rewritten map exits 0" test "$LAST_RC" = 0

want=$(cat "$FIXTURES/fwd-aliases.report"
       echo "imported: 5 target(s) for 4 mailbox(es)"
       echo "backup: fwd-aliases.bak"
       echo "rewrote: fwd-aliases"
       echo "now run: postalias fwd-aliases")
check "rewrite --apply of the aliases file: report, import, the postalias command" \
    expect_out "$want" fwd rewrite --apply --domain "$DOMAIN" fwd-aliases
check "rewrite --apply of the aliases file: the expected file" \
    cmp fwd-aliases "$FIXTURES/fwd-aliases.rewritten"

cp "$FIXTURES/fwd-mailbox.sieve" fwd-mailbox.sieve.bak
want=$(cat "$FIXTURES/fwd-mailbox.sieve.report"
       echo "imported: 2 target(s) for 1 mailbox(es)"
       echo "backup: fwd-mailbox.sieve.bak.1"
       echo "rewrote: fwd-mailbox.sieve"
       echo "now run, if your server compiles Sieve scripts (Dovecot): sievec fwd-mailbox.sieve")
check "rewrite --apply of the Sieve script: a taken .bak name is not overwritten" \
    expect_out "$want" fwd rewrite --apply --mailbox "dr.martin@$DOMAIN" fwd-mailbox.sieve
check "rewrite --apply of the Sieve script: the expected script" \
    cmp fwd-mailbox.sieve "$FIXTURES/fwd-mailbox.sieve.rewritten"
check "rewrite --apply of the Sieve script: the backup is the original" \
    cmp fwd-mailbox.sieve.bak.1 "$FIXTURES/fwd-mailbox.sieve"
cd "$H_ROOT" || exit 1

# What the rewrite took out of the map now reaches the target as a notice.
fmail imported "$PEER" "dr.parti@$DOMAIN"
check "an imported rule: the mailbox keeps the message" got imported "dr.parti@$DOMAIN"
check "an imported rule: the former map target gets a notice" wait_notices dr.parti@gmail.com 1
check "an imported rule: the notice carries nothing of the message" \
    clean_notice dr.parti@gmail.com "dr.parti@$DOMAIN" imported

# ---------------------------------------------------------------- Redis down

# The copy in memory is refreshed by a message read at least WhitelistPoll
# after the previous check; the last rules were written by the rewrite.
sleep 1.2
fmail refresh "$PEER" "$A"
check "the rules kept in memory are refreshed after a change" \
    wait_milter_log "forwarding: [1-9][0-9]* rule\\(s\\) kept in memory"
stop_redis "$REDIS_PORT" KILL
fmail redis-down-copy "$PEER" "$A"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "Redis down: the rules kept in memory apply (the mailbox gets it)" got redis-down-copy "$A"
check "Redis down: the rules kept in memory apply (so does the copy's target)" \
    got redis-down-copy "$PEER2"
check "Redis down: the verdict line says fwd=memory" verdict_logged "$qid" "fwd_add=1 .* fwd=memory"
fmail redis-down-notice "$PEER" "$C"
check "Redis down: a message whose rule needs a notice is deferred (451 4.3.0)" \
    assert_reply "$LAST_TRANSCRIPT" . '^451 4\.3\.0 .*Cannot queue the forwarding notice'
check "Redis down: a message for elsewhere still flows" \
    eval 'send_mail redis-down-out "$G" "$PEER2" && delivered redis-down-out'
stop_milter "Redis down"

# A daemon started while Redis is down has never read the rules.
start_milter "$conf" || exit 1
fmail redis-down-cold "$PEER" "$A"
check "Redis down since start: a message for a local mailbox is deferred (451 4.3.0)" \
    assert_reply "$LAST_TRANSCRIPT" . '^451 4\.3\.0 .*Forwarding rules unavailable'
start_redis "$REDIS_PORT" || exit 1
fmail redis-back "$PEER" "$A"
check "Redis back (empty, no rule): the message is accepted and delivered" got redis-back "$A"
stop_milter quiet

# ---------------------------------------------------------------- DryRun

dry=$W/milter/dryrun.conf
cp "$conf" "$dry"
echo "DryRun yes" >>"$dry"
start_milter "$dry" || exit 1
check "DryRun: forwards add" fwd_ok add "$C" copy "$SEC"
before=$(notice_count "$SEC")
fmail dry-copy "$PEER" "$C"
qid=$(queue_id_of "$LAST_TRANSCRIPT")
check "DryRun: the mailbox gets the message" got dry-copy "$C"
check "DryRun: the verdict line says what forwarding would do" \
    verdict_logged "$qid" "dryrun=yes fwd_add=0 fwd_del=0 notify=1 hold=no"
status=$("$CTL_BIN" -c "$conf" --json notify status 2>&1 | tr -d ' \n')
check "DryRun: no notice is queued" contains "$status" '"queued":0'
check "DryRun: none is sent" eval 'sleep 1; [ "$(notice_count "$SEC")" = "$before" ]'
stop_milter "DryRun"
exit 0
