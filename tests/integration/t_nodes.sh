#!/bin/bash
# t_nodes.sh - several MX nodes on a highly available Redis (issue 11),
# through real Postfix: two nodes (a private Postfix and a daemon each,
# tests/lib/nodes.sh) sharing a master, a replica and three sentinels
# (tests/lib/sentinel.sh), entered as the README's ACL user, with
# RedisMinReplicas 1.
#   - "mssante-milter -n" connects through the sentinels, authenticates,
#     and exits non-zero naming the problem when it cannot;
#   - both nodes serve; mssantectl works through the sentinels (whitelist
#     load, redis status, status, conversation show, stats --nodes);
#   - a conversation opened through node A admits the patient's reply
#     through node B; closed through B, the next reply through A is refused;
#   - a new whitelist version published once is in force on both nodes;
#   - the daemons' fetchers on both nodes: about one download per interval
#     for the two, not one each; after a SENTINEL FAILOVER, they take their
#     turns on the new master;
#   - the replica stopped: a message that would open, reopen or close a
#     conversation, or queue a forwarding notice, gets 451 and leaves
#     nothing behind (no conversation, the closed one still closed, no
#     notice); plain trust-space mail flows; the replica back, the same
#     messages are accepted and the notice is sent once;
#   - a wrong RedisPassword or RedisUser: a clear error at start, 451 for
#     patient mail, the trust-space rules still served, no crash.
# Failovers with mail flowing are t_nodes_failover.sh's.
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
NEWPEER=accueil@clinique-nouvelle.mssante.fr      # listed from it-list-v2.xml on
PD=patient.mssante.fr
P1=279035121518989
P2=185052A12345633
P3=278032B45678986
FWD=secretariat.fwd@chu-test.mssante.fr           # copies to a classic address
CLASSIC=secretariat.maison@laposte.net
NOREPLY=no-reply@chu-test.mssante.fr
PY=/usr/bin/python3

# ---------------------------------------------------------------- Redis

# The client's ACL, as the README gives it: the key prefix only, no
# dangerous command but ROLE (is it the master?) and INFO (replication).
CLIENT_PASS=client-secret-1
SN_PASS=default-secret-2
SN_SENTINEL_PASS=sentinel-secret-3
SN_USERS=("mssante on >$CLIENT_PASS ~mssante:* +@all -@dangerous +role +info")
sn_start || exit 1
FIRST_MASTER=$SN_MASTER

# redis_conf FILE [LINE...]: the Redis part of every configuration here.
redis_conf() {
    local file=$1 line
    shift
    cat >>"$file" <<EOF
RedisSentinels $SN_LIST
RedisMasterName $SN_NAME
RedisUser mssante
RedisPassword $CLIENT_PASS
RedisSentinelPassword $SN_SENTINEL_PASS
RedisMinReplicas 1
RedisTimeout 2s
WhitelistPoll 1s
StatsInterval 1s
EOF
    for line in "$@"; do
        printf '%s\n' "$line" >>"$file"
    done
}

CTLCONF=$W/ctl.conf
milter_conf "$CTLCONF"
redis_conf "$CTLCONF"

# ---------------------------------------------------------------- -n

# The list first: -n also checks that Redis holds one.
check "mssantectl whitelist load through the sentinels" \
    ctl_ok -c "$CTLCONF" whitelist load "$FIXTURES/it-list.xml"

out=$("$MILTER_BIN" -n -c "$CTLCONF" -p inet:8895@127.0.0.1 2>&1)
rc=$?
check "-n through the sentinels: exits 0" test "$rc" = 0
check "-n through the sentinels: says which master, named by which sentinel" \
    contains "$out" "# Redis: connected to 127.0.0.1:$SN_MASTER (master \"$SN_NAME\" named by sentinel 127.0.0.1:"
check "-n through the sentinels: and the replicas the master has" \
    contains "$out" "1 replica(s) connected"
check "-n lists the sentinels and never the passwords" \
    test -z "$(grep -F -e "$CLIENT_PASS" -e "$SN_SENTINEL_PASS" <<<"$out")"

# n_fails NAME SED-SCRIPT WANT...: -n on the configuration edited by
# SED-SCRIPT exits non-zero, says each WANT, never a password.
n_fails() {
    local name=$1 script=$2 conf=$W/n-$RANDOM.conf out rc want
    shift 2
    sed "$script" "$CTLCONF" >"$conf"
    out=$("$MILTER_BIN" -n -c "$conf" -p inet:8895@127.0.0.1 2>&1)
    rc=$?
    H_WHY=
    if [ "$rc" = 0 ]; then
        h_fail "-n exited 0: $out"
    else
        for want in "$@"; do
            contains "$out" "$want" || break
        done
    fi
    [ -z "$H_WHY" ] && [ -n "$(grep -F -e "$CLIENT_PASS" -e wrong-pass <<<"$out")" ] &&
        h_fail "a password was printed: $out"
    if [ -z "$H_WHY" ]; then ok "$name"; else not_ok "$name" "$H_WHY"; fi
}
n_fails "-n with a wrong RedisPassword: AUTH refused, which settings to check" \
    "s/^RedisPassword .*/RedisPassword wrong-pass/" \
    "no Redis master \"$SN_NAME\" found" "AUTH mssante: WRONGPASS" \
    "(check RedisUser and RedisPassword)"
n_fails "-n with an unknown RedisUser: AUTH refused, the user named" \
    "s/^RedisUser .*/RedisUser nosuchuser/" "AUTH nosuchuser: WRONGPASS"
n_fails "-n with a wrong RedisSentinelPassword: each sentinel says so" \
    "s/^RedisSentinelPassword .*/RedisSentinelPassword wrong-pass/" \
    "sentinel 127.0.0.1:${SN_SENTINELS[0]}: AUTH:" "(check RedisSentinelPassword)"
free_port DEAD1
free_port DEAD2
n_fails "-n with no sentinel answering: each one named with its error" \
    "s/^RedisSentinels .*/RedisSentinels 127.0.0.1:$DEAD1,127.0.0.1:$DEAD2/" \
    "sentinel 127.0.0.1:$DEAD1: Connection refused; sentinel 127.0.0.1:$DEAD2: Connection refused"
n_fails "-n with an unknown RedisMasterName: the sentinels do not know it" \
    "s/^RedisMasterName .*/RedisMasterName nosuchmaster/" \
    "does not know master \"nosuchmaster\""

# ---------------------------------------------------------------- two nodes

V1=$("$CTL_BIN" -c "$CTLCONF" --json whitelist status 2>/dev/null |
     "$PY" -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)
check "the version in force can be read back ($V1)" test -n "$V1"
check "forwards add through the sentinels (a classic target: notices)" \
    ctl_ok -c "$CTLCONF" forwards add "$FWD" copy "$CLASSIC"

start_capsink || exit 1
node_postfix A || exit 1
node_postfix B || exit 1
for n in A B; do
    node_conf "$n" "$W/node-$n.conf"
    redis_conf "$W/node-$n.conf" "SnapshotFile $W/node-$n/snapshot"
    node_milter "$n" "$W/node-$n.conf" || exit 1
done

for n in A B; do
    check "node $n: at start, says where the sentinels led" \
        node_log_wait "$n" "Redis at start: connected to 127\.0\.0\.1:$SN_MASTER \(master \"$SN_NAME\" named by sentinel 127\.0\.0\.1:[0-9]+\), 1 replica\(s\) connected" 10
    check "node $n: watches +switch-master on a sentinel" \
        node_log_wait "$n" "watching \+switch-master for Redis master \"$SN_NAME\" on sentinel" 15
    check "node $n: serves the whitelist from Redis" \
        node_log_wait "$n" "whitelist loaded: version=$V1 " 10
done

node_send A a-serves "$DR" "$PEER"
check "node A accepts trust-space mail" assert_reply "$LAST_TRANSCRIPT" . "^250 "
node_send B b-serves "$DR" "$PEER"
check "node B accepts trust-space mail" assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "both messages delivered" delivered b-serves
check "... the one through A too" delivered a-serves

out=$("$CTL_BIN" -c "$CTLCONF" redis status 2>&1)
rc=$?
check "mssantectl redis status: exits 0 (enough replicas)" test "$rc" = 0
check "mssantectl redis status: the master and the sentinel that named it" \
    grep -q -E "^master: +127\.0\.0\.1:$SN_MASTER, found through sentinel 127\.0\.0\.1:[0-9]+ \(master name \"$SN_NAME\"\)" <<<"$out"
check "mssantectl redis status: the replica, online" \
    grep -q -E "^  replica 127\.0\.0\.1:$SN_REPLICA: online," <<<"$out"
check "mssantectl redis status: RedisMinReplicas can be met" \
    grep -q -E "^durable: +RedisMinReplicas 1: ok \(1 replica\(s\) online\)" <<<"$out"
[ "$rc" = 0 ] || note "$out"
out=$("$CTL_BIN" -c "$CTLCONF" status 2>&1)
check "mssantectl status: the master, the sentinel that named it, the replicas" \
    grep -q -E "^redis +OK +reachable: master 127\.0\.0\.1:$SN_MASTER \(named by sentinel 127\.0\.0\.1:[0-9]+\), 1 replica\(s\) online" <<<"$out"

# ---------------------------------------------------------------- conversations

conv_state() {
    "$CTL_BIN" -c "$CTLCONF" conversation show "$1" "$2" 2>/dev/null |
        sed -n 's/^state: *//p'
}
state_is() {
    local got
    got=$(conv_state "$1" "$2")
    [ "$got" = "$3" ] || h_fail "conversation $1 <-> $2 is \"$got\", expected \"$3\""
}

node_send A conv-open "$DR" "$P1@$PD"
check "node A: the professional writes to the patient: accepted" \
    assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "the conversation is open (mssantectl through the sentinels)" state_is "$DR" "$P1" open
node_outside B conv-reply "$P1@$PD" "$DR"
check "node B: the patient's reply to a conversation opened through A: accepted" \
    assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "the patient's reply is delivered" delivered conv-reply
# A [FIN] with an empty body, through node B.
printf 'From: <%s>\nTo: <%s>\nSubject: [FIN]\n\n' "$DR" "$P1@$PD" >"$W/fin.eml"
LAST_TRANSCRIPT=$W/swaks/conv-fin.txt
swaks --server "127.0.0.1:${NODE_SMTP[B]}" --timeout 30 --helo client.it.invalid \
    --from "$DR" --to "$P1@$PD" --data "@$W/fin.eml" >"$LAST_TRANSCRIPT" 2>&1
check "node B: the professional closes it ([FIN]): accepted" \
    assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "the conversation is closed" state_is "$DR" "$P1" closed
node_outside A conv-late "$P1@$PD" "$DR"
check "node A: the patient's reply to a conversation closed through B: refused" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" "^550 5\.7\.1 "

# ---------------------------------------------------------------- stats and the list

# nodes_agree VERSION: stats --nodes lists A and B, each serving VERSION
# and publishing to the master.
nodes_agree() {
    local i out
    for i in $(seq 1 100); do
        out=$("$CTL_BIN" -c "$CTLCONF" stats --nodes 2>&1)
        if grep -q -E "^A updated=[0-9]+s whitelist=$1 messages accept=[0-9]+ .* redis_master=127\.0\.0\.1:$SN_MASTER$" <<<"$out" &&
           grep -q -E "^B updated=[0-9]+s whitelist=$1 messages accept=[0-9]+ .* redis_master=127\.0\.0\.1:$SN_MASTER$" <<<"$out"; then
            return 0
        fi
        sleep 0.1
    done
    h_fail "stats --nodes does not show both nodes on $1:
$out"
}
check "stats --nodes: both nodes' counters, from any node, on one whitelist and one master" \
    nodes_agree "$V1"
# stats_show REGEX: within a few publications, stats --nodes has a line
# matching REGEX.
stats_show() {
    local i out
    for i in $(seq 1 100); do
        out=$("$CTL_BIN" -c "$CTLCONF" stats --nodes 2>&1)
        grep -q -E "$1" <<<"$out" && return 0
        sleep 0.1
    done
    h_fail "no line matching /$1/ in stats --nodes:
$out"
}
check "stats --nodes: node A counted the messages it accepted" \
    stats_show "^A .* messages accept=[1-9]"
check "stats --nodes: node B counted the [FIN] it accepted" \
    stats_show "^B .* messages accept=[1-9]"

check "a new whitelist version, published once" \
    ctl_ok -c "$CTLCONF" whitelist load "$FIXTURES/it-list-v2.xml"
V2=$("$CTL_BIN" -c "$CTLCONF" --json whitelist status 2>/dev/null |
     "$PY" -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)
for n in A B; do
    check "node $n swaps to it by itself (WhitelistPoll)" \
        node_log_wait "$n" "whitelist swapped: version=$V2 " 15
done
node_send B new-peer-b "$DR" "$NEWPEER"
check "node B accepts the domain the new version lists" assert_reply "$LAST_TRANSCRIPT" . "^250 "
node_send A new-peer-a "$DR" "$NEWPEER"
check "node A too" assert_reply "$LAST_TRANSCRIPT" . "^250 "

# ---------------------------------------------------------------- RedisMinReplicas

# Without a replica, no write a verdict depends on can be made durable.
# One conversation open, to be closed while no replica answers.
node_send A durable-to-close "$DR2" "$P3@$PD"
check "a conversation opened before the replica stops" assert_reply "$LAST_TRANSCRIPT" . "^250 "
stop_redis "$SN_REPLICA"
BEFORE=$("$CTL_BIN" -c "$CTLCONF" --json notify status 2>/dev/null |
         "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queued"])' 2>/dev/null)

out=$("$CTL_BIN" -c "$CTLCONF" redis status 2>&1)
rc=$?
check "mssantectl redis status without the replica: exit 1, too few" \
    test "$rc" = 1 -a -n "$(grep -F 'TOO FEW' <<<"$out")"
out=$("$CTL_BIN" -c "$CTLCONF" status 2>&1)
check "mssantectl status without the replica: a warning, and what it means for mail" \
    grep -q -E "^redis +WARNING +master 127\.0\.0\.1:$SN_MASTER \(named by sentinel 127\.0\.0\.1:[0-9]+\) has 0 replica\(s\) online, RedisMinReplicas is 1: patient conversations and forwarding notices get 451" <<<"$out"

node_send A durable-open "$DR2" "$P2@$PD"
check "no replica: a message opening a conversation gets 451" \
    assert_reply "$LAST_TRANSCRIPT" . "^451 4\.3\.0 "
check "... and no conversation is left behind" state_is "$DR2" "$P2" none
check "... the daemon said why" \
    node_log_wait A "conversation state of <$DR2> not recorded: .*WAIT 1 2000: 0 of 1 replica\(s\) acknowledged in time; the conversation state is as it was" 10

node_send B durable-reopen "$DR" "$P1@$PD"
check "no replica: a message reopening a closed conversation gets 451" \
    assert_reply "$LAST_TRANSCRIPT" . "^451 4\.3\.0 "
check "... and the conversation is still closed" state_is "$DR" "$P1" closed

node_outside A durable-fwd "$PEER" "$FWD"
check "no replica: a message whose forward needs a notice gets 451" \
    assert_reply "$LAST_TRANSCRIPT" . "^451 4\.3\.0 "
check "... the daemon said the notices were taken back" \
    node_log_wait A "cannot queue 1 notice\(s\): .*acknowledged in time; the notices were taken back" 10
AFTER=$("$CTL_BIN" -c "$CTLCONF" --json notify status 2>/dev/null |
        "$PY" -c 'import json,sys; d = json.load(sys.stdin); print(d["queued"], d["pending"])' 2>/dev/null)
check "... and no notice is left in the queue ($AFTER)" test "$AFTER" = "$BEFORE 0"

printf 'From: <%s>\nTo: <%s>\nSubject: [FIN]\n\n' "$DR2" "$P3@$PD" >"$W/fin3.eml"
LAST_TRANSCRIPT=$W/swaks/durable-fin.txt
swaks --server "127.0.0.1:${NODE_SMTP[A]}" --timeout 30 --helo client.it.invalid \
    --from "$DR2" --to "$P3@$PD" --data "@$W/fin3.eml" >"$LAST_TRANSCRIPT" 2>&1
check "no replica: a [FIN] closing a conversation gets 451" \
    assert_reply "$LAST_TRANSCRIPT" . "^451 4\.3\.0 "
check "... and the conversation is still open" state_is "$DR2" "$P3" open

node_send B durable-plain "$DR" "$PEER"
check "no replica: trust-space mail is still accepted" assert_reply "$LAST_TRANSCRIPT" . "^250 "

sn_start_redis "$SN_REPLICA" --replicaof 127.0.0.1 "$SN_MASTER" || exit 1
# replica_ready: the master sees the replica online again.
replica_ready() {
    local i
    for i in $(seq 1 300); do
        "$CTL_BIN" -c "$CTLCONF" redis status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    h_fail "the replica is not online again: $("$CTL_BIN" -c "$CTLCONF" redis status 2>&1)"
}
check "the replica is back" replica_ready

node_send A durable-open "$DR2" "$P2@$PD"
check "replica back: the message opening a conversation is accepted" \
    assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "... and the conversation is open" state_is "$DR2" "$P2" open
node_send B durable-reopen "$DR" "$P1@$PD"
check "replica back: the message reopening the closed one is accepted" \
    assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "... it is open again" state_is "$DR" "$P1" open
node_outside A durable-fwd "$PEER" "$FWD"
check "replica back: the forwarded message is accepted" assert_reply "$LAST_TRANSCRIPT" . "^250 "
LAST_TRANSCRIPT=$W/swaks/durable-fin-again.txt
swaks --server "127.0.0.1:${NODE_SMTP[A]}" --timeout 30 --helo client.it.invalid \
    --from "$DR2" --to "$P3@$PD" --data "@$W/fin3.eml" >"$LAST_TRANSCRIPT" 2>&1
check "replica back: the [FIN] is accepted" assert_reply "$LAST_TRANSCRIPT" . "^250 "
check "... and the conversation is closed" state_is "$DR2" "$P3" closed

# notice_count: notices the sink holds for CLASSIC.
notice_count() {
    local f n=0
    for f in $(sink_file_for_rcpt "$CLASSIC"); do
        grep -q -x -F "X-Capsink-From: <$NOREPLY>" "$f" && n=$((n + 1))
    done
    echo "$n"
}
one_notice() {
    local i
    for i in $(seq 1 300); do
        [ "$(notice_count)" -ge 1 ] && break
        sleep 0.1
    done
    # Both nodes run a worker: give a second copy the time to show up.
    sleep 3
    [ "$(notice_count)" = 1 ] || h_fail "$(notice_count) notice(s) for $CLASSIC, expected 1"
}
check "exactly one notice is sent for it (none for the deferred attempt)" one_notice

# ---------------------------------------------------------------- fetching

# Both nodes download the ANS list every 4s from a mutual-TLS server; the
# shared lock and last attempt make them take turns (the last attempt is
# kept in whole seconds: shorter intervals would blur it).
# shellcheck source=tests/lib/pki.sh
. "$H_ROOT/tests/lib/pki.sh"
pki_make "$W/pki" 2>"$W/pki.err" || { not_ok "test PKI created" "$(cat "$W/pki.err")"; exit 1; }
mkdir -p "$W/www"
cp "$FIXTURES/it-list-v2.xml" "$W/www/liste.xml"
sn_bg "$W/https.err" "$PY" "$H_ROOT/tests/helpers/https_server.py" --dir "$W/www" \
    --port-file "$W/https.port" --log "$W/https.log" --cert "$W/pki/server.pem" \
    --key "$W/pki/server.key" --require-client-cert "$W/pki/ca.pem"
for _ in $(seq 100); do
    [ -s "$W/https.port" ] && break
    sleep 0.05
done
URL="https://127.0.0.1:$(cat "$W/https.port")/liste.xml"
for n in A B; do
    node_stop "$n" quiet
    cat >>"$W/node-$n.conf" <<EOF
WhitelistURL $URL
WhitelistCAFile $W/pki/ca.pem
WhitelistClientCert $W/pki/client.pem
WhitelistClientKey $W/pki/client.key
WhitelistMinDomains 3
WhitelistRefresh 4s
EOF
    node_milter "$n" "$W/node-$n.conf" || exit 1
done
: >"$W/https.log"
t0=$(date +%s)
sleep 20
downloads=$(grep -c . "$W/https.log")
elapsed=$(($(date +%s) - t0))
note "two nodes fetching every 4s: $downloads download(s) in ${elapsed}s"
# A node's own timer waits 4s +-10 %: one download per 3.6s at most for
# the two (two uncoordinated fetchers would make about 10).
check "the two fetchers take turns: at most one download per interval for both" \
    test "$downloads" -ge 1 -a "$downloads" -le $((elapsed * 10 / 36 + 1))

# The fetchers follow the master: after a SENTINEL FAILOVER they take their
# turns (the lock, the last attempt) on the new one.
OLDM=$SN_MASTER
check "SENTINEL FAILOVER while the nodes fetch" sn_failover
check "the sentinels name a new master" sn_wait_master_not "$OLDM" 30
for n in A B; do
    check "node $n heard of it" \
        node_log_wait "$n" "Redis master \"$SN_NAME\" is now 127\.0\.0\.1:$SN_MASTER" 30
done
tf=$(($(date +%s) + 1))
# attempt_on_master: the new master records a fetch attempt made after tf.
attempt_on_master() {
    local i la
    for i in $(seq 1 300); do
        la=$(sn_cli "$SN_MASTER" HGET mssante:wl:fetch last_attempt 2>/dev/null)
        [ "${la:-0}" -gt "$tf" ] 2>/dev/null && return 0
        sleep 0.1
    done
    h_fail "no fetch attempt recorded on the new master after the switch: $(sn_cli "$SN_MASTER" HGETALL mssante:wl:fetch 2>&1 | tr '\n' ' ')"
}
check "the fetchers record their attempts on the new master" attempt_on_master

# ---------------------------------------------------------------- wrong credentials

for what in password user; do
    bad=$W/node-B-$what.conf
    if [ "$what" = password ]; then
        sed "s/^RedisPassword .*/RedisPassword wrong-pass/" "$W/node-B.conf" >"$bad"
    else
        sed "s/^RedisUser .*/RedisUser nosuchuser/" "$W/node-B.conf" >"$bad"
    fi
    sed -i '/^Whitelist\(URL\|Refresh\)/d' "$bad"
    node_stop B quiet
    node_milter B "$bad" || exit 1
    check "wrong Redis $what: a clear error at start" \
        node_log_wait B "Redis at start: no Redis master \"$SN_NAME\" found: .*WRONGPASS.*\(check RedisUser and RedisPassword\): mail to and from patients and forwarded mail get 451" 10
    node_send B "wrong-$what-patient" "$DR2" "$P2@$PD"
    check "wrong Redis $what: patient mail gets 451" \
        assert_reply "$LAST_TRANSCRIPT" . "^451 4\.3\.0 "
    node_send B "wrong-$what-plain" "$DR" "$PEER"
    check "wrong Redis $what: trust-space mail is served from the snapshot" \
        assert_reply "$LAST_TRANSCRIPT" . "^250 "
    check "wrong Redis $what: the daemon is still running" kill -0 "${NODE_PID[B]}"
    check "wrong Redis $what: no password in the log" \
        test -z "$(grep -F -e wrong-pass -e "$CLIENT_PASS" "${NODE_LOG[B]}")"
done

node_stop A
node_stop B
