#!/bin/bash
# smoke-test.sh - messages through a running Postfix + mssante-milter started
# by docker-entrypoint.sh (the example image, the compose stack), each
# checked against the verdict the rules give with the image's sample
# whitelist; then, given a way into the stack, forwarding, a reload and the
# health check.
#
#   postfix-examples/ci/smoke-test.sh [--exec PREFIX] [--health COMMAND] \
#       HOST PORT [LOCAL_DOMAIN]
#
# Always, over SMTP to HOST:PORT (swaks runs here):
#   - the trust space: outbound to MSSante accepted; to a classic address,
#     a mixed recipient list, a lookalike domain refused; inbound from a
#     classic domain refused, from a listed domain accepted;
#   - a patient conversation: a wrong INS key refused; the patient cannot
#     write first; the professional opens the conversation, the patient
#     replies (but not to another mailbox); a [FIN] with content is refused,
#     an empty [FIN] closes the conversation and the patient can no longer
#     reply.  A new patient number each run: the test can be run again.
# --exec PREFIX: how to run a program where the stack runs, with
#   docker-entrypoint.sh on its PATH ("podman exec NAME", "docker compose
#   exec -T mta").  Adds: the conversation's state as mssantectl reads it;
#   a forwarding notice (a copy rule to a classic address, a message to
#   that mailbox, the notice accepted by the notice listener inside the
#   stack); a reload (DryRun switched on, then off, each seen in the
#   verdicts).
# --health COMMAND: the stack's health check ("podman healthcheck run
#   NAME"); needs --exec.  Adds, last: the check passes; it fails while
#   the milter is stopped (SIGSTOP: hung, its socket still accepting) and
#   passes again after SIGCONT; the milter is killed and the check fails.
#   The entrypoint then stops the whole stack (a container exits 1, for its
#   restart policy): nothing can follow.
#
# LOCAL_DOMAIN is one of the stack's LocalDomains (default
# chu-test.mssante.fr); medecin.mssante.fr and chu-lille.mssante.fr must be
# on the whitelist in force, and DryRun off.  Prints one "ok - " / "not ok - "
# line per case (with what went wrong) and exits non-zero on a failure.
# Needs bash and swaks.
set -u

usage() {
    echo "usage: smoke-test.sh [--exec PREFIX] [--health COMMAND] HOST PORT [LOCAL_DOMAIN]" >&2
    exit 2
}

EXEC=()
HEALTH=()
while [ $# -gt 0 ]; do
    case $1 in
        --exec)   [ $# -ge 2 ] || usage; read -r -a EXEC <<<"$2"; shift 2 ;;
        --health) [ $# -ge 2 ] || usage; read -r -a HEALTH <<<"$2"; shift 2 ;;
        -*)       usage ;;
        *)        break ;;
    esac
done
[ $# -ge 2 ] || usage
[ ${#HEALTH[@]} -eq 0 ] || [ ${#EXEC[@]} -gt 0 ] || usage
host=$1
port=$2
domain=${3:-chu-test.mssante.fr}
local_mailbox=dr.martin@$domain
other_mailbox=dr.bernard@$domain
forwarding_mailbox=secretariat.cardio@$domain
listed_sender=dr.durand@chu-lille.mssante.fr
classic=secretariat@outlook.fr
failed=0
passed=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

ok()     { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
    echo "not ok - $1"
    shift
    local l
    for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
    failed=$((failed + 1))
}

# A patient of this run: 13 digits (the NIR) and the key 97 - NIR mod 97.
nir=1$(printf '%02d%02d%02d%03d%03d' $((RANDOM % 100)) $((RANDOM % 12 + 1)) \
    $((RANDOM % 95 + 1)) $((RANDOM % 990 + 1)) $((RANDOM % 999 + 1)))
key=$((97 - nir % 97))
patient=$nir$(printf '%02d' "$key")@patient.mssante.fr
bad_patient=$nir$(printf '%02d' $((key == 1 ? 2 : key - 1)))@patient.mssante.fr

# attempt FROM TO SUBJECT BODY: one message, its whole text given (BODY
# may be empty); sets OUT (the transcript), RC (swaks' exit status) and
# GOT: "accept" when queued, else the server's refusal.
attempt() {
    local from=$1 to=$2 subject=$3 body=$4
    printf 'From: <%s>\nTo: <%s>\nSubject: %s\n\n%s' "$from" "$to" "$subject" "$body" >"$tmp/msg"
    OUT=$(swaks --server "$host:$port" --timeout 30 --helo smoke-test.invalid \
              --from "$from" --to "$to" --data "@$tmp/msg" 2>&1)
    RC=$?
    if [ "$RC" = 0 ] && grep -q '^<-  250 .*queued as' <<<"$OUT"; then
        GOT=accept
    else
        GOT=$(grep -m1 '^<\*\* ' <<<"$OUT" | sed 's/^<\*\* *//')
        GOT=${GOT:-"no refusal (swaks exit status $RC)"}
    fi
}

# matches EXPECT: GOT is "accept", or a refusal starting with EXPECT.
matches() {
    if [ "$1" = accept ]; then
        [ "$GOT" = accept ]
    else
        [ "$GOT" != accept ] && [ "${GOT#"$1"}" != "$GOT" ]
    fi
}

# send NAME EXPECT FROM TO[,TO...] [SUBJECT [BODY]]
send() {
    local name=$1 expect=$2
    attempt "$3" "$4" "${5:-smoke test: $name}" "${6-mssante-milter smoke test: $name}"
    if matches "$expect"; then
        ok "$name"
        return 0
    fi
    not_ok "$name" "expected: $expect; got: $GOT" \
        "$(grep -E '^(<-|<\*\*|\*\*\*)' <<<"$OUT" | tail -5)"
    return 1
}

# send_until SECONDS NAME EXPECT FROM TO: the same message again (once a
# second) until the verdict is EXPECT, for a change the stack applies
# asynchronously.
send_until() {
    local secs=$1 name=$2 expect=$3 i
    for ((i = 0; i < secs; i++)); do
        attempt "$4" "$5" "smoke test: $name" "mssante-milter smoke test: $name"
        if matches "$expect"; then
            ok "$name"
            return 0
        fi
        sleep 1
    done
    not_ok "$name" "expected: $expect within ${secs}s; last got: $GOT"
    return 1
}

# in_stack COMMAND...: run it where the stack runs.
in_stack() { "${EXEC[@]}" "$@"; }

# ---------------------------------------------------------------- trust space

send "outbound to an MSSante address is accepted" accept \
    "$local_mailbox" confrere@medecin.mssante.fr
send "outbound to a classic address is refused" "550 5.7.1" \
    "$local_mailbox" "$classic"
send "a mixed recipient list is refused as a whole" "550 5.7.1" \
    "$local_mailbox" "confrere@medecin.mssante.fr,$classic"
send "outbound to a lookalike domain is refused" "550 5.7.1" \
    "$local_mailbox" dr.x@interop-mssante.apycrypt.org
send "inbound from a classic domain is refused" "550 5.7.1" \
    someone@gmail.com "$local_mailbox"
send "inbound from a listed domain is accepted" accept \
    "$listed_sender" "$local_mailbox"

# ---------------------------------------------------------------- patients

# conversation_is STATE: mssantectl's view of local_mailbox <-> patient.
conversation_is() {
    local name=$1 want=$2 out
    [ ${#EXEC[@]} -gt 0 ] || return 0
    out=$(in_stack docker-entrypoint.sh ctl conversation show "$local_mailbox" "$patient" 2>&1)
    if grep -q -E "^state: +$want\$" <<<"$out"; then
        ok "$name"
    else
        not_ok "$name" "mssantectl conversation show:" "$out"
    fi
}

send "a patient address with a wrong INS key is refused" "550 5.1.1" \
    "$local_mailbox" "$bad_patient"
send "a patient cannot write first" "550 5.7.1" \
    "$patient" "$local_mailbox"
send "a professional's message to a patient is accepted" accept \
    "$local_mailbox" "$patient"
conversation_is "it opened the conversation" open
send "the patient replies in the open conversation" accept \
    "$patient" "$local_mailbox"
send "the patient cannot write to another mailbox" "550 5.7.1" \
    "$patient" "$other_mailbox"
send "a [FIN] message with content is refused" "550 5.7.1" \
    "$local_mailbox" "$patient" "[FIN]" "Cordialement, Dr Martin"
conversation_is "the conversation is still open" open
send "an empty [FIN] message is accepted" accept \
    "$local_mailbox" "$patient" "[FIN]" ""
conversation_is "it closed the conversation" closed
send "after [FIN], the patient's reply is refused" "550 5.7.1" \
    "$patient" "$local_mailbox" "Re: [FIN]" "Encore une question"

# ---------------------------------------------------------------- forwarding, reload

# notices_sent: the "sent" counter of mssantectl notify status.
notices_sent() {
    in_stack docker-entrypoint.sh ctl notify status 2>/dev/null | sed -n 's/^sent: *//p'
}

if [ ${#EXEC[@]} -gt 0 ]; then
    if out=$(in_stack docker-entrypoint.sh ctl forwards add "$forwarding_mailbox" copy "$classic" 2>&1); then
        ok "a copy rule to a classic address is added (mssantectl forwards add)"
    else
        not_ok "a copy rule to a classic address is added (mssantectl forwards add)" "$out"
    fi
    sleep 2     # the daemon's copy of the rules is checked against Redis every second
    before=$(notices_sent)
    send "a message to that mailbox is accepted" accept "$listed_sender" "$forwarding_mailbox"
    now=$before
    for ((i = 0; i < 60; i++)); do
        now=$(notices_sent)
        [ -n "$now" ] && [ -n "$before" ] && [ "$now" -gt "$before" ] && break
        sleep 1
    done
    if [ -n "$now" ] && [ -n "$before" ] && [ "$now" -gt "$before" ]; then
        ok "the classic target's notice is accepted by the notice listener (sent $before -> $now)"
    else
        not_ok "the classic target's notice is accepted by the notice listener" \
            "mssantectl notify status after 60s:" "$(in_stack docker-entrypoint.sh ctl notify status 2>&1)"
    fi
    in_stack docker-entrypoint.sh ctl forwards del "$forwarding_mailbox" >/dev/null 2>&1

    if out=$(in_stack docker-entrypoint.sh reload MSSANTE_DRY_RUN=yes 2>&1); then
        ok "reload with DryRun yes (docker-entrypoint.sh reload)"
        send_until 20 "after the reload, a classic recipient is accepted (dry run)" accept \
            "$local_mailbox" "$classic"
    else
        not_ok "reload with DryRun yes (docker-entrypoint.sh reload)" "$out"
    fi
    if out=$(in_stack docker-entrypoint.sh reload 2>&1); then
        ok "reload with the stack's settings (DryRun no)"
        send_until 20 "after the second reload, a classic recipient is refused again" "550 5.7.1" \
            "$local_mailbox" "$classic"
    else
        not_ok "reload with the stack's settings (DryRun no)" "$out"
    fi
fi

# ---------------------------------------------------------------- health

# health_until SECONDS pass|fail: until the health check passes / fails.
health_until() {
    local secs=$1 want=$2 i rc
    for ((i = 0; i < secs * 2; i++)); do
        HEALTH_OUT=$("${HEALTH[@]}" 2>&1)
        rc=$?
        if { [ "$want" = pass ] && [ "$rc" = 0 ]; } || { [ "$want" = fail ] && [ "$rc" != 0 ]; }; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

if [ ${#HEALTH[@]} -gt 0 ]; then
    if health_until 60 pass; then
        ok "the health check passes"
    else
        not_ok "the health check passes" "$HEALTH_OUT"
    fi
    milter_pid=$(in_stack docker-entrypoint.sh pid milter)
    if [ -z "$milter_pid" ]; then
        not_ok "the milter's pid (docker-entrypoint.sh pid milter)"
    else
        in_stack kill -STOP "$milter_pid"
        if health_until 30 fail; then
            ok "the health check fails while the milter is stopped (hung)"
        else
            not_ok "the health check fails while the milter is stopped (hung)" "$HEALTH_OUT"
        fi
        in_stack kill -CONT "$milter_pid"
        if health_until 30 pass; then
            ok "and passes again once the milter answers"
        else
            not_ok "and passes again once the milter answers" "$HEALTH_OUT"
        fi
        in_stack kill -KILL "$milter_pid"
        if health_until 60 fail; then
            ok "the health check fails once the milter is killed"
        else
            not_ok "the health check fails once the milter is killed" "$HEALTH_OUT"
        fi
    fi
fi

echo "# smoke test: $passed ok, $failed not ok"
[ "$failed" = 0 ]
