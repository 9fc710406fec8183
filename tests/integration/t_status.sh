#!/bin/bash
# t_status.sh - "mssantectl status" as a monitoring system sees it (issue
# 16): its exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), the summary
# line first, one line per check, and --json, against a real daemon, Redis
# and Postfix:
#   - the daemon stopped, killed (a pid file left behind), or a pid file
#     naming another program: CRITICAL;
#   - running with a fresh list, Redis up, nothing held: OK;
#   - a stale list (older than WhitelistMaxAge): WARNING;
#   - a held message: WARNING, until it is dealt with;
#   - a failed reload: WARNING, with its first error, until a good one;
#   - Redis down: WARNING, the daemon's state then read from its StatsFile;
#   - a daemon that stopped publishing (hung: SIGSTOP): WARNING;
#   - no list in force at all: CRITICAL;
#   - no PidFile, an unreadable configuration: UNKNOWN.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_setup --postfix --redis --tools python3

PEER=confrere@medecin.mssante.fr
CLASSIC=secretariat@outlook.fr


sed "s/<DateDeGeneration>[^<]*</<DateDeGeneration>$(date -u +%Y-%m-%dT%H:%M:%SZ)</" \
    "$FIXTURES/it-list.xml" >"$W/fresh.xml"

conf=$W/milter/status.conf
milter_conf "$conf"
cat >>"$conf" <<EOF
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
RedisPrefix st:
WhitelistPoll 1s
PidFile $W/milter/milter.pid
StatsFile $W/milter/stats.prom
StatsInterval 1s
WhitelistMaxAge 3d
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
EOF
# mssantectl reads a copy: the daemon's own file is broken on purpose below.
cp "$conf" "$W/milter/ctl.conf"

# status [ARGS...]: runs it; STATUS_OUT, STATUS_RC.
status() {
    STATUS_OUT=$(MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$W/milter/ctl.conf" status "$@" 2>&1)
    STATUS_RC=$?
}

# status_is RC LINE_ERE...: exit code RC, and each ERE matches a line of
# the output (the first one is meant for the summary line).
status_is() {
    local want=$1 re
    shift
    status
    if [ "$STATUS_RC" != "$want" ]; then
        h_fail "exit $STATUS_RC, expected $want:
$STATUS_OUT"
        return 1
    fi
    for re in "$@"; do
        printf '%s\n' "$STATUS_OUT" | grep -E -q -- "$re" && continue
        h_fail "no line matching /$re/:
$STATUS_OUT"
        return 1
    done
}

# eventually RC LINE_ERE...: status_is within 15 s (the daemon publishes
# every StatsInterval, and picks up a new list every WhitelistPoll).
eventually() {
    local i
    for i in $(seq 1 75); do
        status_is "$@" 2>/dev/null && return 0
        sleep 0.2
    done
    status_is "$@"
}

"$CTL_BIN" -c "$W/milter/ctl.conf" whitelist load "$W/fresh.xml" >/dev/null 2>&1 ||
    { not_ok "load a fresh list"; exit 1; }

# ---------------------------------------------------------------- stopped

check "daemon never started: CRITICAL (exit 2), summary line first" \
    status_is 2 '^MSSANTE-MILTER CRITICAL - daemon: not running: PidFile ' \
    '^daemon +CRITICAL +not running'
check "daemon stopped: the other checks still run (Redis, held, notices)" \
    status_is 2 '^redis +OK +reachable' '^held +OK ' '^notices +OK +0 pending'

# ---------------------------------------------------------------- OK

start_milter "$conf" || exit 1
check "running, fresh list, Redis up, nothing held: OK (exit 0)" \
    eventually 0 '^MSSANTE-MILTER OK - running, up [0-9]+m, whitelist 1 \([^)]* old\), 0 held, 0 notice\(s\) pending \| held=0 notices_pending=0 whitelist_age=[0-9]+s uptime=[0-9]+s$' \
    "^daemon +OK +running, pid $H_PID_MILTER, up " '^whitelist +OK +version 1, generated ' \
    '^reload +OK +no reload since the start' '^held +OK +no message held by the daemon'

status --json
check "--json parses: status, exit code, every check" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
names = [c["name"] for c in d["checks"]]
assert d["status"] == "OK" and d["exit_code"] == 0, d
assert names == ["daemon", "redis", "whitelist", "reload", "held", "notices"], names
c = {c["name"]: c for c in d["checks"]}
assert c["daemon"]["running"] is True and c["daemon"]["pid"] == int(sys.argv[2])
assert c["whitelist"]["version"] == "1" and c["whitelist"]["max_age_seconds"] == 259200
assert c["held"]["count"] == 0 and c["redis"]["reachable"] is True
assert all(x["status"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN") for x in d["checks"])
' "$STATUS_OUT" "$H_PID_MILTER"
check "the daemon publishes its pid, last reload and list date (Redis)" eval \
    '[ "$(redis-cli -p "$REDIS_PORT" hget "st:stats:node:$(hostname)" pid)" = "$H_PID_MILTER" ] &&
     [ "$(redis-cli -p "$REDIS_PORT" hget "st:stats:node:$(hostname)" reload:last)" = none ] &&
     [ -n "$(redis-cli -p "$REDIS_PORT" hget "st:stats:node:$(hostname)" whitelist:generated)" ]'
check "... and to the StatsFile" eval \
    'grep -q "^mssante_milter_whitelist_info{version=\"1\",generated=\"" "$W/milter/stats.prom"'

# ---------------------------------------------------------------- stale list

"$CTL_BIN" -c "$W/milter/ctl.conf" whitelist load "$FIXTURES/it-list.xml" >/dev/null 2>&1
check "a list older than WhitelistMaxAge: WARNING (exit 1)" \
    eventually 1 '^MSSANTE-MILTER WARNING - whitelist: version 2 is stale: ' \
    '^whitelist +WARNING +version 2 is stale: .* more than WhitelistMaxAge 3d 0h \(generated 2025-03-13T14:54:10Z'
"$CTL_BIN" -c "$W/milter/ctl.conf" whitelist load "$W/fresh.xml" >/dev/null 2>&1
check "a fresh list again: OK" eventually 0 '^whitelist +OK +version 3,'

# ---------------------------------------------------------------- held

printf 'Subject: status-held\n\ncompte rendu\n' |
    sendmail -C "$H_PF_ETC" -i -f "$PEER" -- "$CLASSIC"
check "a message held by the daemon: WARNING (exit 1)" \
    eventually 1 '^MSSANTE-MILTER WARNING - held: 1 message\(s\) held by the daemon: mssantectl held list \| held=1 ' \
    '^held +WARNING +1 message\(s\) held by the daemon'
# As another user Postfix's tools refuse a configuration directory that the
# default main.cf does not list (alternate_config_directories): said so.
out=$(MAIL_CONFIG=$H_PF_ETC runuser -u nobody -- "$CTL_BIN" -c "$W/milter/ctl.conf" status 2>&1)
check "not root, another instance: the held check is UNKNOWN with Postfix's reason" eval \
    'printf "%s\n" "$out" | grep -E -q "^held +UNKNOWN +the hold queue could not be read: postqueue -j failed: .*alternate_config_directories"'
MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$W/milter/ctl.conf" held delete --all >/dev/null 2>&1
check "held message dealt with: OK" eventually 0 '^held +OK '

# ---------------------------------------------------------------- reload

echo "NoSuchKey yes" >>"$conf"
kill -HUP "$H_PID_MILTER"
check "a failed reload: WARNING (exit 1), with its first error" \
    eventually 1 '^MSSANTE-MILTER WARNING - reload: the last reload \(' \
    '^reload +WARNING +the last reload \([0-9T:Z-]+\) failed: [^ ]*status\.conf:[0-9]+: unknown key "NoSuchKey"; the previous configuration stays in force'
sed -i '/^NoSuchKey/d' "$conf"
kill -HUP "$H_PID_MILTER"
check "a good reload after it: OK" eventually 0 '^reload +OK +last reload [0-9T:Z-]+: applied'

# ---------------------------------------------------------------- Redis down

stop_redis
check "Redis down: WARNING (exit 1)" \
    eventually 1 '^MSSANTE-MILTER WARNING - redis: unreachable: ' '^redis +WARNING +unreachable: '
check "Redis down: the daemon's state is read from its StatsFile" \
    status_is 1 '^whitelist +OK +version 3,' '^reload +OK +last reload ' '^daemon +OK +running'
check "Redis down: the notice queue depth is unknown, not zero" \
    status_is 1 '^notices +UNKNOWN +queue depth unknown'
start_redis "$REDIS_PORT" || exit 1
# A Redis without persistence comes back empty: load the list again.
"$CTL_BIN" -c "$W/milter/ctl.conf" whitelist load "$W/fresh.xml" >/dev/null 2>&1
check "Redis back: OK again" eventually 0 '^redis +OK +reachable'

# ---------------------------------------------------------------- hung

kill -STOP "$H_PID_MILTER"
check "a daemon that stopped publishing (SIGSTOP): WARNING (exit 1)" \
    eventually 1 '^whitelist +WARNING +the list in force is unknown: .*stopped publishing its state'
kill -CONT "$H_PID_MILTER"
check "publishing again: OK" eventually 0 '^whitelist +OK '

# ---------------------------------------------------------------- killed, not ours

{ kill -9 "$H_PID_MILTER"; wait "$H_PID_MILTER"; } 2>/dev/null
H_PID_MILTER=
check "daemon killed (pid file left behind): CRITICAL, the pid is gone" \
    status_is 2 '^daemon +CRITICAL +not running: PidFile .* names pid [0-9]+, which is gone'
sleep 300 &
sleeper=$!
echo "$sleeper" >"$W/milter/milter.pid"
check "a pid file naming another program: CRITICAL" \
    status_is 2 "^daemon +CRITICAL +not running: PidFile .* names pid $sleeper, which is sleep, not mssante-milter"
kill "$sleeper"
wait "$sleeper" 2>/dev/null
rm -f "$W/milter/milter.pid"

# ---------------------------------------------------------------- no list

empty=$W/milter/empty.conf
sed 's/^RedisPrefix st:$/RedisPrefix empty:/' "$conf" >"$empty"
cp "$empty" "$W/milter/ctl.conf"
start_milter "$empty" || exit 1
check "no whitelist in force: CRITICAL (exit 2)" \
    eventually 2 '^MSSANTE-MILTER CRITICAL - whitelist: no whitelist in force: every message is deferred' \
    '^daemon +OK +running'
stop_milter quiet

# ---------------------------------------------------------------- UNKNOWN

grep -v '^PidFile' "$conf" >"$W/milter/ctl.conf"
check "no PidFile: UNKNOWN (exit 3)" \
    status_is 3 '^MSSANTE-MILTER UNKNOWN - daemon: PidFile is not set'
out=$("$CTL_BIN" -c "$W/no-such.conf" status 2>&1)
rc=$?
check "an unreadable configuration: UNKNOWN (exit 3)" eval '[ "$rc" = 3 ]'
out=$("$CTL_BIN" -c "$conf" status extra 2>&1)
rc=$?
check "a bad command line: UNKNOWN (exit 3)" eval '[ "$rc" = 3 ] && contains "$out" "usage: "'
