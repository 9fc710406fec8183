#!/bin/bash
# t_mssantectl.sh - mssantectl against a real Redis started for the test.
#
# Covers: publishing a list (and refusing a broken one without touching
# Redis), status, check of listed / unlisted / lookalike / patient /
# upper-case addresses with their exit codes, --json output, version
# rotation (previous kept, older versions deleted), the fallback to the
# snapshot when Redis is down, and the file-only setup.
#
# Output: one "ok - NAME" / "not ok - NAME" line per case, details of a
# failure on "# " lines after it; exit status 1 if any case failed.
# Binaries come from ${BUILD:-build}/ relative to the repository root.

set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

CTL=$CTL_BIN
FIX=$FIXTURES
PASSWORD="ctl-test-$$"
PREFIX="mssante:"
H_REDIS_ARGS=(--requirepass "$PASSWORD")

# ------------------------------------------------------------------ helpers

notok() { not_ok "$@"; }

rcli() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -a "$PASSWORD" --no-auth-warning --raw "$@"
}

# run CONF ARGS...: run mssantectl, leaving $RC, $TMP/out and $TMP/err.
run() {
    local conf=$1
    shift
    "$CTL" -c "$conf" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
}

show() {
    echo "command: mssantectl $*"
    echo "exit: $RC"
    sed 's/^/stdout: /' "$TMP/out"
    sed 's/^/stderr: /' "$TMP/err"
}

# expect NAME WANT_RC STDOUT_ERE [STDERR_ERE] -- ARGS...  (with $CONF)
expect() {
    local name=$1 want=$2 out_re=$3 err_re=
    shift 3
    if [ "$1" != "--" ]; then
        err_re=$1
        shift
    fi
    shift
    run "$CONF" "$@"
    if [ "$RC" = "$want" ] && { [ -z "$out_re" ] || grep -Eq -- "$out_re" "$TMP/out"; } \
        && { [ -z "$err_re" ] || grep -Eq -- "$err_re" "$TMP/err"; }; then
        ok "$name"
    else
        notok "$name" "$(show "$@")" "wanted exit $want, stdout ~ /$out_re/${err_re:+, stderr ~ /$err_re/}"
    fi
}

# json_is NAME PYTHON_EXPR: the last stdout is JSON and EXPR (over d) holds.
json_is() {
    local name=$1 expr=$2
    if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$TMP/out" "$expr" 2>"$TMP/pyerr"; then
        ok "$name"
    else
        notok "$name" "$(sed 's/^/stdout: /' "$TMP/out")" "$(cat "$TMP/pyerr")" "expected: $expr"
    fi
}

# same NAME GOT WANT
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1" "got:  [$2]" "want: [$3]"; fi
}

status_field() {
    run "$CONF" whitelist status
    sed -n "s/^$1: *//p" "$TMP/out"
}

# ------------------------------------------------------------------ setup

if [ ! -x "$CTL" ]; then
    notok "mssantectl is built" "$CTL not found (make BUILD=$BUILD)"
    exit 1
fi
h_setup --redis --tools python3
TMP=$W
PORT=$REDIS_PORT
if [ "$(rcli ping 2>/dev/null)" = PONG ]; then
    ok "redis-server started on 127.0.0.1:$PORT"
else
    notok "redis-server started on 127.0.0.1:$PORT" "$(cat "$W/redis/$PORT/redis.log" 2>/dev/null)"
    exit 1
fi

# The Redis setup: no WhitelistFile, so an empty Redis means no list.
CONF=$TMP/redis.conf
cat >"$CONF" <<EOF
# mssantectl integration test (patient ids in clear: t_patient_log.sh
# checks how they are shown otherwise)
LogPatientId   clear
LocalDomains   hopital-exemple.mssante.fr
Redis          127.0.0.1:$PORT
RedisPassword  $PASSWORD
RedisTimeout   2s
SnapshotFile   $TMP/snapshot
EOF

# Same Redis, no snapshot.
CONF_NOSNAP=$TMP/nosnap.conf
grep -v '^SnapshotFile' "$CONF" >"$CONF_NOSNAP"

# Wrong password.
CONF_BADPW=$TMP/badpw.conf
sed "s/^RedisPassword.*/RedisPassword  not-the-password/" "$CONF" >"$CONF_BADPW"

# Same Redis, plus the WhitelistFile the daemon publishes when Redis is empty.
CONF_WF=$TMP/wf.conf
{ cat "$CONF"; echo "WhitelistFile  $FIX/ans-small.xml"; } >"$CONF_WF"

# Single node, no Redis.
CONF_FILE=$TMP/file.conf
cat >"$CONF_FILE" <<EOF
LogPatientId   clear
LocalDomains   hopital-exemple.mssante.fr
WhitelistFile  $FIX/ans-small.xml
EOF

# ------------------------------------------------------------------ command line

run "$CONF" --version
same "-V prints the version" "$(grep -c '^mssantectl ' "$TMP/out")/$RC" "1/0"
expect "--help prints usage" 0 'whitelist load FILE' -- --help
run "$CONF"
same "no command is a usage error" "$RC" 2
run "$CONF" frobnicate
same "unknown command is a usage error" "$RC/$(grep -c '^mssantectl: ' "$TMP/err")" "2/1"
"$CTL" -c "$TMP/no-such.conf" check a@b.fr >"$TMP/out" 2>"$TMP/err"; RC=$?
same "missing config file exits 2" "$RC" 2
run "$CONF" check
same "check without address exits 2" "$RC" 2
run "$CONF" whitelist load
same "load without FILE exits 2" "$RC" 2

# ------------------------------------------------------------------ empty Redis

expect "status with an empty Redis and no snapshot exits 3" 3 '' 'no whitelist' \
    -- whitelist status
expect "check with an empty Redis and no snapshot exits 3" 3 '' 'no whitelist' \
    -- check dr.house@chu-lille.mssante.fr

"$CTL" -c "$CONF_WF" --json check dr.house@chu-lille.mssante.fr >"$TMP/out" 2>"$TMP/err"; RC=$?
if [ "$RC" = 0 ] && grep -q 'Redis holds no whitelist yet' "$TMP/err"; then
    json_is "empty Redis with a WhitelistFile: check uses the file" \
        "d['whitelist']['origin'] == 'file' and d['addresses'][0]['class'] == 'mssante'"
else
    notok "empty Redis with a WhitelistFile: check uses the file" "$(show --json check)"
fi
same "check never publishes" "$(rcli exists "${PREFIX}wl:current")" 0

# ------------------------------------------------------------------ first load

expect "load the small fixture" 0 \
    '^published version [0-9]+: 7 domains \([0-9]+ entries\), generated 2025-03-13T14:54:10Z, sha256 [0-9a-f]{64}$' \
    -- whitelist load "$FIX/ans-small.xml"
V1=$(sed -n 's/^published version \([0-9]*\):.*/\1/p' "$TMP/out")

same "wl:current names the new version" "$(rcli get "${PREFIX}wl:current")" "$V1"
same "the domain set holds 7 normalised domains" \
    "$(rcli smembers "${PREFIX}wl:v:$V1:domains" | sort | tr '\n' ' ')" \
    "chu-lille.mssante.fr interop-mssante.apicrypt.org lgpi.mssante.fr medecin.mssante.fr patient.mssante.fr pharmacien.mssante.fr uc-cmp.mssante.fr "
same "certs hash joins a domain's operator CNs" \
    "$(rcli hget "${PREFIX}wl:v:$V1:certs" medecin.mssante.fr | tr '\n' ' ')" \
    "smtp-1.mssante.exemple.fr smtp-2.mssante.exemple.fr "
same "meta records the file's sha256" "$(rcli hget "${PREFIX}wl:v:$V1:meta" sha256)" \
    "$(sha256sum "$FIX/ans-small.xml" | cut -d' ' -f1)"
same "meta counts the (domain, CN) pairs" "$(rcli hget "${PREFIX}wl:v:$V1:meta" certs)" 8
same "certs hash holds a one-CN domain" \
    "$(rcli hget "${PREFIX}wl:v:$V1:certs" uc-cmp.mssante.fr)" "smtp.operateur-exemple.fr"
if grep -q '^format 2$' "$TMP/snapshot" && grep -q '^certs 8$' "$TMP/snapshot" \
    && grep -q '^medecin.mssante.fr smtp-2.mssante.exemple.fr$' "$TMP/snapshot"; then
    ok "load writes the operator CNs into the snapshot"
else
    notok "load writes the operator CNs into the snapshot" "$(sed -n '1,3p;/^end/,$p' "$TMP/snapshot" 2>&1)"
fi

run "$CONF" whitelist status
if [ "$RC" = 0 ] && grep -q "^version: *$V1\$" "$TMP/out" && grep -q '^count: *7$' "$TMP/out" \
    && grep -q '^origin: *redis$' "$TMP/out" && grep -q '^previous: *none$' "$TMP/out" \
    && grep -q '^generated: *2025-03-13T14:54:10Z$' "$TMP/out" \
    && grep -Eq '^age: *[0-9]+d [0-9]+h$' "$TMP/out" \
    && grep -q "^source: *$FIX/ans-small.xml\$" "$TMP/out"; then
    ok "status shows version, count, dates, age, source"
else
    notok "status shows version, count, dates, age, source" "$(show whitelist status)"
fi

run "$CONF" whitelist status --json
json_is "status --json" \
    "d['version'] == '$V1' and d['count'] == 7 and d['previous'] is None and d['origin'] == 'redis' and d['age_seconds'] > 0 and len(d['sha256']) == 64"

# ------------------------------------------------------------------ check

expect "listed address is mssante (exit 0)" 0 \
    '^dr\.house@chu-lille\.mssante\.fr +mssante +on the ANS whitelist$' \
    -- check dr.house@chu-lille.mssante.fr
expect "unlisted address is classic (exit 1)" 1 '^secretaire@outlook\.fr +classic ' \
    -- check secretaire@outlook.fr
for lookalike in 'dr@medecin.mssanté.fr' dr@interop-mssante.apycrypt.org dr@apicrypt.org \
    dr@chu-lille.mssante.fr.example.com dr@evilmssante.fr dr@mssante.fr; do
    expect "lookalike $lookalike is classic" 1 ' classic ' -- check "$lookalike"
done
expect "patient address is patient (exit 0)" 0 '^279035121518989@patient\.mssante\.fr +patient ' \
    -- check 279035121518989@patient.mssante.fr
expect "patient address with a wrong INS key is invalid (exit 1)" 1 \
    '^279035121518988@patient\.mssante\.fr +invalid .*key does not match' \
    -- check 279035121518988@patient.mssante.fr
expect "upper case and trailing dot match" 0 ' mssante +on the ANS whitelist$' \
    -- check Dr.House@CHU-Lille.MSSANTE.FR.
expect "LocalDomains are mssante" 0 ' mssante +one of our LocalDomains$' \
    -- check accueil@hopital-exemple.mssante.fr
expect "malformed address is invalid (exit 1)" 1 '^no-at-sign +invalid ' -- check no-at-sign
run "$CONF" check dr.house@chu-lille.mssante.fr secretaire@outlook.fr cardio@medecin.mssante.fr
same "mixed list: one line each, exit 1" "$RC/$(wc -l <"$TMP/out")" "1/3"

run "$CONF" check --json dr.house@chu-lille.mssante.fr secretaire@outlook.fr 279035121518989@patient.mssante.fr
json_is "check --json after the command" \
    "d['whitelist']['version'] == '$V1' and d['whitelist']['origin'] == 'redis' and [a['class'] for a in d['addresses']] == ['mssante', 'classic', 'patient'] and d['addresses'][1]['reason'] != ''"
run "$CONF" --json check Dr.House@CHU-Lille.MSSANTE.FR.
json_is "--json before the command" \
    "d['addresses'][0]['class'] == 'mssante' and d['addresses'][0]['domain'] == 'chu-lille.mssante.fr'"

# ------------------------------------------------------------------ a broken file

SEQ_BEFORE=$(rcli get "${PREFIX}wl:seq")
expect "a truncated file is refused" 1 '' '^mssantectl: refused' \
    -- whitelist load "$FIX/ctl-broken.xml"
same "refused file leaves the current version" "$(rcli get "${PREFIX}wl:current")" "$V1"
same "refused file never reached Redis" "$(rcli get "${PREFIX}wl:seq")" "$SEQ_BEFORE"
same "status unchanged after a refused file" "$(status_field count)/$(status_field version)" "7/$V1"

# ------------------------------------------------------------------ rotation

run "$CONF" whitelist load --json "$FIX/ctl-v2.xml"
json_is "second load (--json)" "d['published'] is True and int(d['version']) > int('$V1') and d['count'] == 4"
V2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$TMP/out" 2>/dev/null)
same "second load: previous is the first version" "$(status_field previous)" "$V1"
same "second load: the first version is kept for rollback" \
    "$(rcli exists "${PREFIX}wl:v:$V1:domains" "${PREFIX}wl:v:$V1:meta")" 2
expect "second load: the new domain is listed" 0 ' mssante ' -- check contact@ght-exemple.mssante.fr
expect "second load: a dropped domain is no longer listed" 1 ' classic ' -- check x@lgpi.mssante.fr

expect "third load" 0 '^published version [0-9]+: 5 domains' -- whitelist load "$FIX/ctl-v3.xml"
V3=$(sed -n 's/^published version \([0-9]*\):.*/\1/p' "$TMP/out")
same "third load: current and previous" "$(rcli get "${PREFIX}wl:current")/$(rcli get "${PREFIX}wl:previous")" "$V3/$V2"
same "third load: the first version's keys are deleted" \
    "$(rcli exists "${PREFIX}wl:v:$V1:domains" "${PREFIX}wl:v:$V1:certs" "${PREFIX}wl:v:$V1:meta")" 0
same "third load: the second version's keys are kept" \
    "$(rcli exists "${PREFIX}wl:v:$V2:domains" "${PREFIX}wl:v:$V2:certs" "${PREFIX}wl:v:$V2:meta")" 3
same "wl:versions lists the kept versions" "$(rcli lrange "${PREFIX}wl:versions" 0 -1 | tr '\n' ' ')" "$V2 $V3 "
if [ -s "$TMP/snapshot" ] && grep -q "^version $V3\$" "$TMP/snapshot"; then
    ok "load wrote the snapshot of the new version"
else
    notok "load wrote the snapshot of the new version" "$(head -5 "$TMP/snapshot" 2>&1)"
fi

# ------------------------------------------------------------------ authentication

"$CTL" -c "$CONF_BADPW" whitelist load "$FIX/ctl-v2.xml" >"$TMP/out" 2>"$TMP/err"; RC=$?
if [ "$RC" = 3 ] && grep -q 'AUTH' "$TMP/err" && ! grep -q 'not-the-password' "$TMP/err"; then
    ok "wrong password: exit 3, AUTH error, password not echoed"
else
    notok "wrong password: exit 3, AUTH error, password not echoed" "$(show whitelist load)"
fi
same "wrong password: nothing published" "$(rcli get "${PREFIX}wl:current")" "$V3"

# ------------------------------------------------------------------ Redis down

stop_redis
expect "Redis down: check falls back to the snapshot" 0 \
    '^dr@clinique-exemple\.mssante\.fr +mssante ' 'warning: .*snapshot' \
    -- check dr@clinique-exemple.mssante.fr
run "$CONF" --json check dr@clinique-exemple.mssante.fr
json_is "Redis down: --json names the snapshot" \
    "d['whitelist']['origin'] == 'snapshot' and d['whitelist']['version'] == '$V3'"
same "Redis down: status reports the snapshot" "$(status_field origin)/$(status_field version)" "snapshot/$V3"
expect "Redis down: load fails with a clear error" 3 '' \
    "^mssantectl: redis 127\.0\.0\.1:$PORT: Connection refused\$" \
    -- whitelist load "$FIX/ctl-v2.xml"
"$CTL" -c "$CONF_NOSNAP" check dr@clinique-exemple.mssante.fr >"$TMP/out" 2>"$TMP/err"; RC=$?
if [ "$RC" = 3 ] && grep -q '^mssantectl: no whitelist available' "$TMP/err"; then
    ok "Redis down and no snapshot: check exits 3"
else
    notok "Redis down and no snapshot: check exits 3" "$(show check)"
fi

# ------------------------------------------------------------------ no Redis at all

CONF=$CONF_FILE
expect "file only: listed address" 0 ' mssante +on the ANS whitelist$' -- check cardio@medecin.mssante.fr
expect "file only: classic address" 1 ' classic ' -- check cardio@gmail.com
same "file only: status" "$(status_field version)/$(status_field count)/$(status_field origin)" "file/7/file"
expect "file only: load needs Redis" 2 '' 'Redis' -- whitelist load "$FIX/ctl-v2.xml"

# A bare domain: is it in the trust space?  Same parsing as an address.
expect "bare domain: listed" 0 '^medecin\.mssante\.fr +mssante +on the ANS whitelist$' \
    -- check medecin.mssante.fr
expect "bare domain: case and trailing dot" 0 ' mssante ' -- check MEDECIN.MSSante.FR.
expect "bare domain: a classic one" 1 '^gmail\.com +classic ' -- check gmail.com
expect "bare domain: a listed parent does not admit its child" 1 ' classic ' \
    -- check sub.medecin.mssante.fr
expect "bare domain: a lookalike" 1 ' classic ' -- check medecin.mssante.fr.example.com
expect "bare domain: our own, not on the list, says so" 0 \
    'hopital-exemple\.mssante\.fr +mssante +one of our LocalDomains, NOT on the ANS whitelist' \
    -- check hopital-exemple.mssante.fr
expect "bare domain: the patients' domain" 0 ' patient +the PatientDomain' -- check patient.mssante.fr
expect "bare domain: not a domain name" 1 ' invalid +not a domain name' -- check 'bad domain.fr'
expect "bare domain and address together" 1 '^gmail\.com +classic ' \
    -- check medecin.mssante.fr gmail.com cardio@medecin.mssante.fr
run "$CONF" --json check medecin.mssante.fr
json_is "bare domain: --json" \
    "d['addresses'][0]['address'] == 'medecin.mssante.fr' and d['addresses'][0]['domain'] == 'medecin.mssante.fr' and d['addresses'][0]['class'] == 'mssante'"

