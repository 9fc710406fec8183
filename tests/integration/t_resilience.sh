#!/bin/bash
# t_resilience.sh - the whitelist's life cycle with a real Redis: loaded
# with mssantectl, a new version picked up while running, Redis killed mid
# run, cold starts from the snapshot, and the "nothing to decide with" case
# (451 4.3.0, the message stays with the client, accepted once things are
# back).  Then how the daemon seeds an empty Redis from WhitelistFile.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --postfix --redis

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
NEWPEER=accueil@clinique-nouvelle.mssante.fr    # only in it-list-v2.xml
CLASSIC=secretariat@outlook.fr


snapshot=$W/milter/whitelist.snapshot
conf=$W/milter/redis.conf
milter_conf "$conf"
cat >>"$conf" <<EOF
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
SnapshotFile $snapshot
WhitelistPoll 1s
EOF

milter_alive() {
    kill -0 "$H_PID_MILTER" 2>/dev/null || h_fail "mssante-milter is gone:
$(tail -20 "$W/milter/milter.log")"
}

# accepted_within NAME SECONDS FROM TO: resend until Postfix accepts it.
accepted_within() {
    local name=$1 secs=$2 from=$3 to=$4 i
    for i in $(seq 1 "$secs"); do
        send_mail "$name-try$i" "$from" "$to" && { ACCEPTED_AS=$name-try$i; return 0; }
        sleep 1
    done
    h_fail "still refused after ${secs}s: $(smtp_reply "$LAST_TRANSCRIPT" DATA) $(smtp_reply "$LAST_TRANSCRIPT" 'RCPT TO')"
}

# any_reply FILE REGEX: some server reply in the transcript matches.
any_reply() {
    grep -E '^<(-|\*\*) ' "$1" | sed 's/^<[-*]* *//' | grep -E -q -- "$2" ||
        h_fail "no reply matching /$2/ in:
$(grep -E '^(<-|<\*\*|\*\*\*)' "$1")"
}

# --- the list goes to Redis with mssantectl --------------------------------

check "mssantectl whitelist load publishes the list to Redis" \
    ctl_ok -c "$conf" whitelist load "$FIXTURES/it-list.xml"
status=$(ctl -c "$conf" whitelist status 2>&1)
check "mssantectl whitelist status shows the generation date" \
    contains "$status" 2025-03-13

start_milter "$conf" || exit 1

send_mail r-out-1 "$LOCAL" "$PEER"
check "list from Redis: outbound to MSSante delivered" delivered r-out-1
send_mail r-new-before "$LOCAL" "$NEWPEER"
check "list from Redis: a domain not yet listed is refused" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
check "the daemon wrote its snapshot after loading" test -s "$snapshot"

# --- a new version while running ----------------------------------------------

check "mssantectl whitelist load of a new version" \
    ctl_ok -c "$conf" whitelist load "$FIXTURES/it-list-v2.xml"
t0=$(date +%s)
check "new version picked up while running (WhitelistPoll 1s)" \
    accepted_within r-new-after 5 "$LOCAL" "$NEWPEER"
note "picked up after $(($(date +%s) - t0))s"
check "new version: the message to the new domain is delivered" delivered "$ACCEPTED_AS"

# --- Redis dies: verdicts continue from memory ---------------------------------

stop_redis "$REDIS_PORT" KILL
sleep 2.5      # a couple of polls fail before we send
send_mail m-out "$LOCAL" "$PEER"
check "Redis down: outbound to MSSante still delivered" delivered m-out
send_mail m-new "$LOCAL" "$NEWPEER"
check "Redis down: the version in memory is still the new one" delivered m-new
send_mail m-classic "$LOCAL" "$CLASSIC"
check "Redis down: outbound to @outlook.fr still refused with 550 5.7.1" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
send_mail m-in-classic "someone@gmail.com" "$LOCAL"
check "Redis down: inbound from a classic domain still refused at RCPT" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1 '
check "Redis down: the daemon is still running" milter_alive
stop_milter "Redis down"

# --- cold start, Redis down, snapshot present ----------------------------------

start_milter "$conf" || exit 1
send_mail s-out "$LOCAL" "$NEWPEER"
check "cold start from the snapshot: outbound to MSSante delivered" delivered s-out
send_mail s-classic "$LOCAL" "$CLASSIC"
check "cold start from the snapshot: outbound to @outlook.fr refused" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '
stop_milter quiet

# --- cold start with neither Redis nor snapshot: 451, nothing lost -------------

rm -f "$snapshot"
start_milter "$conf" || exit 1
send_mail n-out "$LOCAL" "$PEER"
rc=$?
check "no list at all: the client is told 451 4.3.0" any_reply "$LAST_TRANSCRIPT" '^451 4\.3\.0 '
check "no list at all: the client saw a failure (swaks status $rc)" test "$rc" != 0
check "no list at all: Postfix accepted nothing, delivered nothing" not_delivered n-out
send_mail n-in "dr.durand@chu-lille.mssante.fr" "$LOCAL"
check "no list at all: inbound is deferred with 451 4.3.0 too" \
    any_reply "$LAST_TRANSCRIPT" '^451 4\.3\.0 '
check "no list at all: the daemon keeps running" milter_alive

start_redis "$REDIS_PORT" || exit 1
check "Redis back: mssantectl whitelist load" ctl_ok -c "$conf" whitelist load "$FIXTURES/it-list.xml"
check "Redis back: the resent message is accepted" accepted_within n-out-again 10 "$LOCAL" "$PEER"
check "Redis back: and delivered" delivered "$ACCEPTED_AS"
stop_milter quiet

# --- an empty Redis is seeded from WhitelistFile, a full one is not -------------

stop_redis
start_redis || exit 1
seed=$W/milter/seed.conf
milter_conf "$seed"
cat >>"$seed" <<EOF
Redis 127.0.0.1:$REDIS_PORT
WhitelistFile $FIXTURES/it-list.xml
WhitelistPoll 1s
EOF
start_milter "$seed" || exit 1
status=$(ctl -c "$seed" whitelist status 2>&1)
check "empty Redis: the daemon published WhitelistFile" contains "$status" 2025-03-13
send_mail p-out "$LOCAL" "$PEER"
check "empty Redis seeded from WhitelistFile: outbound to MSSante delivered" delivered p-out
stop_milter quiet

stop_redis
start_redis || exit 1
sed -i "s/^Redis .*/Redis 127.0.0.1:$REDIS_PORT/" "$seed"
check "Redis with a list: mssantectl whitelist load (version 2)" \
    ctl_ok -c "$seed" whitelist load "$FIXTURES/it-list-v2.xml"
start_milter "$seed" || exit 1
status=$(ctl -c "$seed" whitelist status 2>&1)
check "Redis with a list: WhitelistFile does not replace it" contains "$status" 2025-04-01
send_mail p-new "$LOCAL" "$NEWPEER"
check "Redis with a list: the daemon serves Redis's version" delivered p-new
stop_milter "seeded from WhitelistFile"
