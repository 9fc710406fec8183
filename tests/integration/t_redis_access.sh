#!/bin/bash
# t_redis_access.sh - how the daemon and mssantectl reach Redis (issue 11),
# through a real Postfix and a master, a replica and three sentinels on
# loopback (tests/lib/sentinel.sh), entered as an ACL user:
#   - "Redis" and "RedisSentinels" both set: a configuration error naming
#     both lines, from "mssante-milter -n", the daemon's start and
#     mssantectl alike;
#   - "Redis unix:/path" with RedisUser + RedisPassword: -n, mssantectl
#     and the daemon through the socket; a conversation opened, the
#     patient's reply admitted;
#   - without sentinels too, a wrong RedisPassword, an unknown RedisUser or
#     no password: -n exits non-zero naming the problem; the daemon starts,
#     says why at once, answers 451 for patient mail and serves the
#     trust-space rules; mssantectl says why;
#   - through the sentinels, a master reloading its data answers -LOADING
#     (as after a restart the sentinels did not notice): patient mail gets
#     451, nothing is accepted on a guess, plain mail flows; once loaded,
#     the same message is accepted and what was recorded before is there.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
sn_require
h_init

DR=dr.martin@chu-test.mssante.fr
DR2=dr.durand@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
PD=patient.mssante.fr
P1=279035121518989
P2=185052A12345633
P3=278032B45678986

CLIENT_PASS=client-secret-8
SN_PASS=default-secret-9
SN_USERS=("mssante on >$CLIENT_PASS ~mssante:* +@all -@dangerous +role +info")
SN_REDIS_EXTRA=(--enable-debug-command local)     # DEBUG RELOAD: -LOADING
sn_start || exit 1

# conf FILE LINE...: a daemon configuration with these Redis lines.
conf() {
    local file=$1 line
    shift
    milter_conf "$file"
    cat >>"$file" <<EOF
RedisTimeout 2s
WhitelistPoll 1s
SnapshotFile $W/snapshot
EOF
    for line in "$@"; do
        printf '%s\n' "$line" >>"$file"
    done
}
UNIX=$W/unix.conf
conf "$UNIX" "Redis unix:$SN_SOCK" "RedisUser mssante" "RedisPassword $CLIENT_PASS"
SENT=$W/sentinels.conf
conf "$SENT" "RedisSentinels $SN_LIST" "RedisMasterName $SN_NAME" "RedisUser mssante" \
    "RedisPassword $CLIENT_PASS"

# no_secret TEXT: neither password appears in TEXT.
no_secret() {
    ! grep -q -F -e "$CLIENT_PASS" -e "$SN_PASS" -e wrong-pass <<<"$1" ||
        h_fail "a password was printed: $1"
}

# ---------------------------------------------------------------- both keys

BOTH=$W/both.conf
conf "$BOTH" "Redis unix:$SN_SOCK" "RedisSentinels $SN_LIST" "RedisMasterName $SN_NAME"
LR=$(grep -n '^Redis ' "$BOTH" | cut -d: -f1)
LS=$(grep -n '^RedisSentinels ' "$BOTH" | cut -d: -f1)
WANT="$BOTH:$LS: RedisSentinels and Redis (line $LR) are both set: the sentinels name the master, remove Redis"
out=$("$MILTER_BIN" -n -c "$BOTH" 2>&1)
rc=$?
check "-n with both Redis and RedisSentinels: exits non-zero" test "$rc" != 0
check "-n with both: the error names both keys and their lines" contains "$out" "$WANT"
free_port BOTH_PORT
timeout 30 "$MILTER_BIN" -f -c "$BOTH" -p "inet:$BOTH_PORT@127.0.0.1" >"$W/both.out" 2>&1
rc=$?
check "the daemon refuses to start with both (exit $rc, neither 0 nor killed)" \
    test "$rc" != 0 -a "$rc" != 124
check "... and says why" contains "$(cat "$W/both.out")" "$WANT"
out=$("$CTL_BIN" -c "$BOTH" whitelist status 2>&1)
rc=$?
check "mssantectl with both: exits non-zero, the same error" \
    test "$rc" != 0 -a -n "$(grep -F -e "$WANT" <<<"$out")"

# ---------------------------------------------------------------- unix:/path

# The list first: -n also checks that Redis holds one.
check "mssantectl whitelist load through the socket" \
    ctl_ok -c "$UNIX" whitelist load "$FIXTURES/it-list.xml"
check "... the version is on the master" \
    test -n "$(sn_cli "$SN_MASTER" --scan --pattern 'mssante:wl:*' | head -1)"
out=$("$MILTER_BIN" -n -c "$UNIX" -p inet:8895@127.0.0.1 2>&1)
rc=$?
check "-n with Redis unix:/path: exits 0" test "$rc" = 0
check "-n with Redis unix:/path: says it reached the socket" \
    contains "$out" "# Redis: connected to unix:$SN_SOCK, 1 replica(s) connected"
out=$("$CTL_BIN" -c "$UNIX" redis status 2>&1)
check "mssantectl redis status through the socket names it" \
    grep -q -E "^master: +unix:$SN_SOCK" <<<"$out"

start_capsink || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1
start_milter "$UNIX" || exit 1
check "the daemon at start: connected through the socket" \
    wait_milter_log "Redis at start: connected to unix:$SN_SOCK" 10

conv_state() {
    "$CTL_BIN" -c "$1" conversation show "$2" "$3" 2>/dev/null | sed -n 's/^state: *//p'
}
state_is() {
    local got
    got=$(conv_state "$1" "$2" "$3")
    [ "$got" = "$4" ] || h_fail "conversation $2 <-> $3 is \"$got\", expected \"$4\""
}

send_mail unix-open "$DR" "$P1@$PD"
check "unix socket: the professional writes to a patient: accepted" \
    assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "unix socket: the conversation is open" state_is "$UNIX" "$DR" "$P1" open
send_outside unix-reply "$P1@$PD" "$DR"
check "unix socket: the patient's reply is accepted" assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "... and delivered" delivered unix-reply

# ---------------------------------------------------------------- credentials

# bad NAME SED-SCRIPT WANT...: -n on UNIX edited by SED-SCRIPT exits
# non-zero and says each WANT, never a password.  Leaves the file in BAD.
bad() {
    local name=$1 script=$2 out rc want
    shift 2
    BAD=$W/bad-$RANDOM.conf
    sed "$script" "$UNIX" >"$BAD"
    out=$("$MILTER_BIN" -n -c "$BAD" -p inet:8895@127.0.0.1 2>&1)
    rc=$?
    H_WHY=
    if [ "$rc" = 0 ]; then
        h_fail "-n exited 0: $out"
    else
        for want in "$@"; do
            contains "$out" "$want" || break
        done
        [ -z "$H_WHY" ] && grep -q -F 'configuration OK' <<<"$out" &&
            h_fail "-n failed but called the configuration OK: $out"
        [ -z "$H_WHY" ] && no_secret "$out"
    fi
    if [ -z "$H_WHY" ]; then ok "$name"; else not_ok "$name" "$H_WHY"; fi
}
bad "-n, wrong RedisPassword (no sentinels): AUTH refused, the settings to check" \
    "s/^RedisPassword .*/RedisPassword wrong-pass/" \
    "redis unix:$SN_SOCK: AUTH mssante: WRONGPASS" "(check RedisUser and RedisPassword)"
bad "-n, unknown RedisUser (no sentinels): AUTH refused, the user named" \
    "s/^RedisUser .*/RedisUser nosuchuser/" "AUTH nosuchuser: WRONGPASS"
bad "-n, no RedisUser nor RedisPassword: NOAUTH, and which setting to look at" \
    "/^Redis\(User\|Password\) /d" "NOAUTH" "is RedisPassword set?"

for what in password user; do
    if [ "$what" = password ]; then
        sed "s/^RedisPassword .*/RedisPassword wrong-pass/" "$UNIX" >"$W/bad-redis-$what.conf"
    else
        sed "s/^RedisUser .*/RedisUser nosuchuser/" "$UNIX" >"$W/bad-redis-$what.conf"
    fi
    stop_milter quiet
    : >"$W/milter/milter.log"
    start_milter "$W/bad-redis-$what.conf" || exit 1
    check "wrong Redis $what (no sentinels): a clear error at start" \
        wait_milter_log "Redis at start: redis unix:$SN_SOCK: AUTH [a-z]+: WRONGPASS.*\(check RedisUser and RedisPassword\): mail to and from patients and forwarded mail get 451" 10
    send_mail "wrong-$what-patient" "$DR2" "$P2@$PD"
    check "wrong Redis $what: patient mail gets 451" \
        assert_reply "$LAST_TRANSCRIPT" . "^451 4\.3\.0 "
    send_mail "wrong-$what-plain" "$DR" "$PEER"
    check "wrong Redis $what: trust-space mail is served (snapshot)" \
        assert_reply "$LAST_TRANSCRIPT" . "^250 "
    check "wrong Redis $what: the daemon is still running" kill -0 "$H_PID_MILTER"
    check "wrong Redis $what: no password in the log" no_secret "$(cat "$W/milter/milter.log")"
    out=$("$CTL_BIN" -c "$W/bad-redis-$what.conf" conversation show "$DR" "$P1" 2>&1)
    rc=$?
    check "wrong Redis $what: mssantectl exits non-zero and says why" \
        test "$rc" != 0 -a -n "$(grep -F 'WRONGPASS' <<<"$out")"
done
check "no conversation was opened by the deferred messages" \
    state_is "$UNIX" "$DR2" "$P2" none

# ---------------------------------------------------------------- -LOADING

stop_milter quiet
: >"$W/milter/milter.log"
start_milter "$SENT" || exit 1
check "through the sentinels: connected to the master they name" \
    wait_milter_log "Redis at start: connected to 127\.0\.0\.1:$SN_MASTER \(master \"$SN_NAME\" named by sentinel" 10
send_mail loading-before "$DR2" "$P2@$PD"
check "before the reload: a conversation opened" assert_reply "$LAST_TRANSCRIPT" . "^250 "

# The master reloads its data slowly: ROLE still says master, the sentinels
# still name it, every command gets -LOADING.
check "the master reloads its data (-LOADING for several seconds)" sn_slow_reload "$SN_MASTER"
send_mail loading-patient "$DR" "$P3@$PD"
check "while the master loads: patient mail gets 451" \
    assert_reply "$LAST_TRANSCRIPT" . "^451 4\.3\.0 "
check "... and the master was still loading when the answer came (else this proves nothing)" \
    sn_loading "$SN_MASTER"
check "... the daemon says why" wait_milter_log "LOADING Redis is loading" 10
send_mail loading-plain "$DR" "$PEER"
check "while the master loads: trust-space mail is accepted" \
    assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "the reload ends" sn_reload_done "$SN_MASTER" 60
send_mail loading-patient-again "$DR" "$P3@$PD"
check "once loaded: the same message is accepted" assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "... its conversation is open" state_is "$SENT" "$DR" "$P3" open
check "the conversation opened before the reload is still open" \
    state_is "$SENT" "$DR2" "$P2" open
check "the daemon is still running" kill -0 "$H_PID_MILTER"
stop_milter
