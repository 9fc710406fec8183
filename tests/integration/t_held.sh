#!/bin/bash
# t_held.sh - held mail stays safe (issue 16), through a real Postfix and
# Redis:
#   - every message the daemon holds carries X-MSSante-Held (rule, how it
#     came in, a MAC under the HeldKeyFile key, reason), shown by postcat;
#     the key is made at the first start, mode 0600;
#   - a header of that name the sender wrote is never taken for the
#     daemon's: deleted from a message that takes the whole path (here a
#     local submission Postfix's header_checks HOLD holds); kept in a
#     message from outside accepted at DATA, which the daemon never reads
#     past DATA, then deferred (a retry transport) and held by an
#     administrator (postsuper -h): "held list" shows it among the others,
#     with why, "held resubmit" refuses it, whether the header is in the
#     form of the versions before the MAC or a copy of a real one of the
#     daemon's (a MAC made for another queue id);
#   - the key: another key tells none of the daemon's messages as its own;
#     a key that cannot be read stops "held list" with the file named;
#   - the sender of a held local submission gets a short bilingual notice
#     naming the queue id and nothing of the message;
#   - "mssantectl held list" shows the daemon's held messages with queue
#     id, rule, reason, envelope and age, and the others apart;
#   - "held resubmit" puts a message back through the milter: a forward to
#     a classic address is held again by its rule and never delivered there;
#     a message held for want of a list, once a list is in force, is
#     delivered exactly once, body byte for byte; the held copy is gone and
#     a second resubmit of the same id is refused;
#   - "held delete", --all, ids that are unknown or not the daemon's;
#   - MAIL_CONFIG names the instance (the test's Postfix has its own
#     configuration directory); not root, bad usage: clear errors.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --root --sink --redis --tools python3

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
CLASSIC=secretariat@outlook.fr
NOREPLY=no-reply@chu-test.mssante.fr
SECRET="Carcinome XYZZY"

free_port MILTER_PORT || exit 1
# Postfix holds by itself what has "held-by-postfix" in its Subject, and
# keeps what is for $WAITING in its queue (routed through the "relay"
# transport, which defer_transports holds back): a message that sits
# there, deferred, until an administrator holds it.
WAITING=dr.attente@chu-test.mssante.fr
printf '/^Subject: .*held-by-postfix/ HOLD\n' >"$W/header_checks"
printf '%s relay:[127.0.0.1]:%s\n' "$WAITING" "$SINK_PORT" >"$W/transport"
start_postfix "inet:127.0.0.1:$MILTER_PORT" "header_checks = regexp:$W/header_checks" \
    "transport_maps = texthash:$W/transport" "defer_transports = relay" || exit 1

# A list generated now (the fixture's date is old; staleness is not tested here).
sed "s/<DateDeGeneration>[^<]*</<DateDeGeneration>$(date -u +%Y-%m-%dT%H:%M:%SZ)</" \
    "$FIXTURES/it-list.xml" >"$W/list.xml"

# No WhitelistFile and an empty Redis: no list in force at first.
conf=$W/milter/held.conf
milter_conf "$conf"
cat >>"$conf" <<EOF
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
RedisPrefix held:
WhitelistPoll 1s
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
NotifyRetry 1s
NotifyRetryMax 2s
EOF
start_milter "$conf" || exit 1
check "the HeldKeyFile key is made at the first start: mode 0600, 64 hex digits" \
    eval '[ "$(stat -c %a "$W/milter/held.key" 2>/dev/null)" = 600 ] &&
          grep -q -x -E "[0-9a-f]{64}" "$W/milter/held.key"'

# held ARGS...: mssantectl held on the test's Postfix instance.
held() { MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$conf" held "$@"; }

# submit NAME FROM TO...: a local submission (sendmail -i: a lone "." is
# text) whose body ends with such a line, to check it survives.
body_of() { printf '%s: compte rendu %s\n.\n..deux points\nfin\n' "$SECRET" "$1"; }
submit() {
    local name=$1 from=$2
    shift 2
    { printf 'From: %s\nTo: %s\nSubject: %s\n\n' "$from" "$*" "$name"; body_of "$name"; } |
        sendmail -C "$H_PF_ETC" -i -f "$from" -- "$@"
}

# ours_json PYEXPR: evaluate PYEXPR over "held list --json" (d).
ours_json() {
    held list --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}
held_id_of() { ours_json "' '.join(m['queue_id'] for m in d['held'] if m['rule'] == '$1')"; }
other_ids() { ours_json "' '.join(m['queue_id'] for m in d['others'])"; }

# wait_ours N [RULE]: until the daemon holds N messages (of RULE).
wait_ours() {
    local i got
    for i in $(seq 1 200); do
        if [ -n "${2:-}" ]; then
            got=$(ours_json "len([m for m in d['held'] if m['rule'] == '$2'])")
        else
            got=$(ours_json "d['count']")
        fi
        [ "$got" = "$1" ] && return 0
        sleep 0.1
    done
    h_fail "expected $1 held message(s)${2:+ ($2)}, got ${got:-?}: $(held list 2>&1)"
}

# in_queue ID: Postfix still has it.
in_queue() { queue_json | grep -q "\"queue_id\": \"$1\""; }

# copies SUBJECT RCPT: how many copies of SUBJECT RCPT received.
copies() {
    local f n=0
    for f in $(sink_file_for_rcpt "$2"); do
        grep -q -x -F "Subject: $1" "$f" && n=$((n + 1))
    done
    echo "$n"
}

# notice_for RCPT REF: the held notice for RCPT naming REF (20 s).
notice_for() {
    local i f
    for i in $(seq 1 200); do
        for f in $(sink_file_for_rcpt "$1"); do
            grep -q -x -F "X-Capsink-From: <$NOREPLY>" "$f" &&
                grep -q -F "Reference : $2" "$f" && { NOTICE=$f; return 0; }
        done
        sleep 0.1
    done
    h_fail "no held notice for $1 naming $2; milter log: $(grep notify "$W/milter/milter.log" | tail -3)"
}

# ---------------------------------------------------------------- held: no list

submit nolist-msg "$LOCAL" "$PEER"
check "no list in force: a local submission is held" wait_ours 1 no-whitelist
ID_NOLIST=$(held_id_of no-whitelist)
check "postcat shows the reason in X-MSSante-Held, after its MAC" eval \
    'postcat -c "$H_PF_ETC" -h -q "$ID_NOLIST" | grep -q -E "^X-MSSante-Held: no-whitelist; submission=local; mac=[0-9a-f]{64}; Liste blanche MSSante indisponible"'
check "the verdict line says hold, rule no-whitelist" \
    verdict_logged "$ID_NOLIST" "verdict=hold rule=no-whitelist submission=local"
NOTICE=
check "the sender is told: a notice naming the queue id" notice_for "$LOCAL" "$ID_NOLIST"
if [ -n "$NOTICE" ]; then
    check "the notice is bilingual ASCII, says an administrator must act" eval \
        'grep -q "^Subject: Message retenu, intervention requise / Message held, action required" "$NOTICE" &&
         grep -q "un administrateur doit intervenir" "$NOTICE" && grep -q "an administrator" "$NOTICE" &&
         ! LC_ALL=C grep -q "[^ -~]" <(tr -d "\r\t" <"$NOTICE" | grep -v "^X-Capsink")'
    check "the notice quotes nothing of the message" eval \
        '! grep -q -e "$SECRET" -e nolist-msg -e "$PEER" "$NOTICE"'
fi

# ---------------------------------------------------------------- the list is back

"$CTL_BIN" -c "$conf" whitelist load "$W/list.xml" >/dev/null 2>&1
check "a list is loaded and picked up by the daemon" wait_milter_log 'whitelist .*version=1 ' 15

# A forward re-injected toward a classic address: held by its rule.
submit fwd-msg "$PEER" "$CLASSIC"
check "a forward to a classic address only is held" wait_ours 1 forward-classic-only
ID_FWD=$(held_id_of forward-classic-only)
check "its sender is told too" notice_for "$PEER" "$ID_FWD"

# Held by Postfix itself, with a forged header: not the daemon's.
{ printf 'From: %s\nSubject: held-by-postfix\nX-MSSante-Held: no-whitelist; submission=local; forged\n\n' "$LOCAL"
  body_of other; } | sendmail -C "$H_PF_ETC" -i -f "$LOCAL" -- "$PEER"
# And the same forged header on a message that is delivered.
{ printf 'From: %s\nSubject: forged-header\nX-MSSante-Held: forward-classic-only; submission=local; x\n\n' "$LOCAL"
  body_of forged; } | sendmail -C "$H_PF_ETC" -i -f "$LOCAL" -- "$PEER"
check "a message with a forged X-MSSante-Held is delivered" delivered forged-header
check "... without that header" eval \
    '! grep -q -i "^X-MSSante-Held" $(grep -l -x -F "Subject: forged-header" "$W"/sink/msg-*.eml)'
settle_others() {
    local i
    for i in $(seq 1 100); do
        [ -n "$(other_ids)" ] && return 0
        sleep 0.1
    done
    h_fail "the message Postfix held is not listed apart: $(held list 2>&1)"
}
check "held list: a message Postfix held is listed apart, not as the daemon's" settle_others
ID_OTHER=$(other_ids)
check "the forged header of the message Postfix held was deleted" eval \
    '! postcat -c "$H_PF_ETC" -h -q "$ID_OTHER" | grep -q -i "^X-MSSante-Held"'

out=$(held list 2>&1)
check "held list (text): both of the daemon's, with id, rule, envelope and reason" eval \
    'contains "$out" "$ID_NOLIST" && contains "$out" "$ID_FWD" &&
     printf "%s\n" "$out" | grep -q "^$ID_FWD .* forward-classic-only .*<$PEER> -> <$CLASSIC>" &&
     contains "$out" "reason: every recipient is outside" &&
     contains "$out" "2 message(s) held by mssante-milter" &&
     contains "$out" "1 other message(s) in the hold queue, not held by mssante-milter"'
got=$(ours_json "[(m['rule'], m['sender'], m['recipients'], m['submission'], m['age_seconds'] >= 0, m['reason'] != '') for m in d['held'] if m['queue_id'] == '$ID_FWD']")
check "held list --json: rule, reason, sender, recipients, age" \
    test "$got" = "[('forward-classic-only', '$PEER', ['$CLASSIC'], 'local', True, True)]"

# ---------------------------------------------------------------- planted headers, held by others

# Two messages from outside to $WAITING, each with an X-MSSante-Held of
# its own that says submission=local: the old form (no mac), and a copy of
# the daemon's own header of $ID_FWD (a real MAC, made for another queue
# id).  Ordinary inbound mail: accepted at DATA, so the daemon never sees
# the header.  Postfix defers them; an administrator holds them.
real=$(postcat -c "$H_PF_ETC" -h -q "$ID_FWD" | sed -n 's/^X-MSSante-Held: //p' | head -1)
send_outside planted-old "$PEER" "$WAITING" \
    --add-header "X-MSSante-Held: no-whitelist; submission=local; planted"
ID_OLD=$(queue_id_of "$LAST_TRANSCRIPT")
send_outside planted-copy "$PEER" "$WAITING" --add-header "X-MSSante-Held: $real"
ID_COPY=$(queue_id_of "$LAST_TRANSCRIPT")
deferred() {
    local i
    for i in $(seq 1 200); do
        queue_json | grep "\"queue_id\": \"$1\"" | grep -q '"queue_name": *"deferred"' && return 0
        sleep 0.1
    done
    h_fail "$1 is not in the deferred queue: $(queue_json)"
}
check "two messages from outside with a planted header: accepted, deferred by Postfix" \
    eval '[ -n "$real" ] && [ -n "$ID_OLD" ] && [ -n "$ID_COPY" ] && deferred "$ID_OLD" && deferred "$ID_COPY"'
check "... accepted at DATA: the daemon never deleted their header" eval \
    'postcat -c "$H_PF_ETC" -h -q "$ID_OLD" | grep -q -x -F "X-MSSante-Held: no-whitelist; submission=local; planted" &&
     postcat -c "$H_PF_ETC" -h -q "$ID_COPY" | grep -q -x -F "X-MSSante-Held: $real"'
postsuper -c "$H_PF_ETC" -h "$ID_OLD" >/dev/null 2>&1
postsuper -c "$H_PF_ETC" -h "$ID_COPY" >/dev/null 2>&1
check "... and held by an administrator (postsuper -h)" eval \
    'queue_json | grep "\"$ID_OLD\"" | grep -q "\"hold\"" && queue_json | grep "\"$ID_COPY\"" | grep -q "\"hold\""'
out=$(held list 2>&1)
check "held list: both among the others, each with why it is not the daemon's" eval \
    'printf "%s\n" "$out" | sed -n "/other message(s) in the hold queue/,\$p" | grep -q "^$ID_OLD " &&
     printf "%s\n" "$out" | sed -n "/other message(s) in the hold queue/,\$p" | grep -q "^$ID_COPY " &&
     contains "$out" "not the daemon'"'"'s: its X-MSSante-Held header has no mac" &&
     contains "$out" "not the daemon'"'"'s: its X-MSSante-Held header has no valid mac" &&
     contains "$out" "2 message(s) held by mssante-milter"'
got=$(ours_json "sorted((m['queue_id'], m.get('held_header')) for m in d['others'] if m['queue_id'] in ('$ID_OLD', '$ID_COPY'))")
want=$(python3 -c "print(sorted([('$ID_OLD', 'no-mac'), ('$ID_COPY', 'bad-mac')]))")
check "held list --json: among the others, held_header no-mac and bad-mac" test "$got" = "$want"
check "... and the daemon's own still listed as its own" \
    eval '[ "$(held_id_of forward-classic-only)" = "$ID_FWD" ]'
for id in "$ID_OLD" "$ID_COPY"; do
    out=$(held resubmit "$id" 2>&1)
    rc=$?
    check "held resubmit of a planted header ($id) is refused, saying why" eval \
        '[ "$rc" = 1 ] && contains "$out" "$id: held, but not by mssante-milter (its X-MSSante-Held header has no" &&
         in_queue "$id"'
done
check "... never delivered to $WAITING" eval '[ "$(copies planted-old "$WAITING")" = 0 ] && [ "$(copies planted-copy "$WAITING")" = 0 ]'

# Another key: not one message is the daemon's.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/other.key"
sed "s|^HeldKeyFile .*|HeldKeyFile $W/other.key|" "$conf" >"$W/other-key.conf"
got=$(MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$W/other-key.conf" held list --json 2>/dev/null |
      python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["count"], sorted(set(m.get("held_header") for m in d["others"]) - {None}))')
check "with another key, none of the daemon's messages is taken for its own" \
    test "$got" = "0 ['bad-mac', 'no-mac']"
out=$(MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$W/other-key.conf" held resubmit "$ID_FWD" 2>&1)
rc=$?
check "... nor resubmitted" eval '[ "$rc" = 1 ] && in_queue "$ID_FWD"'
# No key: a clear error naming the file and what to do.
sed "s|^HeldKeyFile .*|HeldKeyFile $W/no-such.key|" "$conf" >"$W/no-key.conf"
for cmd in "list" "resubmit $ID_FWD" "delete --all"; do
    # shellcheck disable=SC2086
    out=$(MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$W/no-key.conf" held $cmd 2>&1)
    rc=$?
    check "held $cmd without a readable key: exit 3, naming the file and what to do" eval \
        '[ "$rc" = 3 ] && contains "$out" "HeldKeyFile $W/no-such.key: No such file or directory" &&
         contains "$out" "run mssantectl as root with the daemon'"'"'s configuration file"'
done
check "... and nothing was done" eval 'in_queue "$ID_FWD"'
postsuper -c "$H_PF_ETC" -d "$ID_OLD" hold >/dev/null 2>&1
postsuper -c "$H_PF_ETC" -d "$ID_COPY" hold >/dev/null 2>&1

# ---------------------------------------------------------------- resubmit

out=$(held resubmit "$ID_FWD" 2>&1)
rc=$?
check "resubmit a forward to a classic address: accepted (exit 0)" eval \
    '[ "$rc" = 0 ] && contains "$out" "$ID_FWD: resubmitted"'
check "the held copy is deleted" eval '! in_queue "$ID_FWD"'
check "the milter sees it again and holds it by the same rule" wait_ours 1 forward-classic-only
ID_FWD2=$(held_id_of forward-classic-only)
check "held again under a new queue id" eval '[ -n "$ID_FWD2" ] && [ "$ID_FWD2" != "$ID_FWD" ]'
check "the new verdict line: a local submission held by forward-classic-only" \
    verdict_logged "$ID_FWD2" "verdict=hold rule=forward-classic-only submission=local"
check "the classic address never gets it" eval 'wait_only_held && [ "$(copies fwd-msg "$CLASSIC")" = 0 ]'

out=$(held resubmit "$ID_FWD" 2>&1)
rc=$?
check "resubmitting the same id again is refused (never twice)" eval \
    '[ "$rc" = 1 ] && contains "$out" "$ID_FWD: not in the hold queue"'

out=$(held resubmit "$ID_NOLIST" 2>&1)
rc=$?
check "resubmit a message whose cause is gone: accepted" eval '[ "$rc" = 0 ]'
check "... delivered" delivered nolist-msg
check "... exactly once" eval 'wait_only_held && sleep 1 && [ "$(copies nolist-msg "$PEER")" = 1 ]'
f=$(grep -l -x -F "Subject: nolist-msg" "$W"/sink/msg-*.eml | head -1)
check "... body byte for byte (lone dot lines included), without X-MSSante-Held" eval \
    '[ "$(tr -d "\r" <"$f" | sed -n "/^\$/,\$p" | tail -n +2)" = "$(body_of nolist-msg)" ] &&
     ! grep -q -i "^X-MSSante-Held" "$f"'
check "... no longer held" eval '[ -z "$(held_id_of no-whitelist)" ] && ! in_queue "$ID_NOLIST"'

# ---------------------------------------------------------------- not ours, delete, --all

out=$(held resubmit "$ID_OTHER" 2>&1)
rc=$?
check "resubmit of a message held by Postfix itself is refused" eval \
    '[ "$rc" = 1 ] && contains "$out" "held, but not by mssante-milter (it carries no X-MSSante-Held header)" &&
     in_queue "$ID_OTHER"'
out=$(held delete "$ID_OTHER" 2>&1)
rc=$?
check "delete of a message held by Postfix itself is refused" eval \
    '[ "$rc" = 1 ] && in_queue "$ID_OTHER"'
out=$(held delete NOSUCHID0 2>&1)
rc=$?
check "an unknown id: exit 1, said so" eval '[ "$rc" = 1 ] && contains "$out" "NOSUCHID0: not in the hold queue"'
out=$(held delete "$ID_FWD2" NOSUCHID0 2>&1)
check "one bad id among several: nothing is done" eval 'in_queue "$ID_FWD2"'

submit fwd-msg-2 "$PEER" "$CLASSIC"
check "a second forward is held" wait_ours 2 forward-classic-only
before=$(held_id_of forward-classic-only)
out=$(held resubmit --all 2>&1)
rc=$?
check "resubmit --all: both back through the milter" eval \
    '[ "$rc" = 0 ] && [ "$(printf "%s\n" "$out" | grep -c ": resubmitted")" = 2 ]'
check "... held again, both, under new ids" wait_ours 2 forward-classic-only
none_in_queue() {
    local i
    for i in "$@"; do
        in_queue "$i" && { h_fail "$i is still queued"; return 1; }
    done
    return 0
}
# shellcheck disable=SC2086
check "... the old ids are gone" none_in_queue $before
check "... and Postfix's own held message was left alone" in_queue "$ID_OTHER"

out=$(held delete --all 2>&1)
rc=$?
check "delete --all: the daemon's held messages are deleted" eval \
    '[ "$rc" = 0 ] && [ "$(ours_json "d[\"count\"]")" = 0 ]'
check "... not Postfix's own" in_queue "$ID_OTHER"
check "no forward ever reached the classic address" eval \
    'wait_only_held && [ "$(copies fwd-msg "$CLASSIC")" = 0 ] && [ "$(copies fwd-msg-2 "$CLASSIC")" = 0 ]'

# ---------------------------------------------------------------- MAIL_CONFIG, root, usage

out=$(MAIL_CONFIG=$W/no-such-dir "$CTL_BIN" -c "$conf" held list 2>&1)
rc=$?
check "MAIL_CONFIG naming no directory: exit 2, said so" eval \
    '[ "$rc" = 2 ] && contains "$out" "MAIL_CONFIG=$W/no-such-dir"'
out=$(env -u MAIL_CONFIG "$CTL_BIN" -c "$conf" held list 2>&1)
check "without MAIL_CONFIG, the test instance's queue is not the one read" eval \
    '! contains "$out" "$ID_OTHER" >/dev/null'
out=$(MAIL_CONFIG=$H_PF_ETC runuser -u nobody -- "$CTL_BIN" -c "$conf" held list 2>&1)
rc=$?
check "not root: exit 3, says it needs root" eval '[ "$rc" = 3 ] && contains "$out" "needs root"'
for args in "resubmit" "resubmit --all $ID_OTHER" "delete" "frobnicate" "list extra"; do
    out=$(held $args 2>&1)
    rc=$?
    check "usage error: held $args (exit 2)" eval '[ "$rc" = 2 ] && contains "$out" "usage: mssantectl held"'
done
out=$(held resubmit 'ALL' 2>&1)
rc=$?
check "a word like ALL is no queue id of ours (postsuper's wildcard never reached)" eval \
    '[ "$rc" = 1 ] && in_queue "$ID_OTHER"'

postsuper -c "$H_PF_ETC" -d "$ID_OTHER" hold >/dev/null 2>&1
stop_milter
