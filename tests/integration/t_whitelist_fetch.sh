#!/bin/bash
# t_whitelist_fetch.sh - the whitelist fetcher end to end: "mssantectl
# whitelist fetch" and the daemon's WhitelistRefresh thread against local
# HTTPS servers (tests/helpers/https_server.py) with a test CA
# (tests/lib/pki.sh), a real Redis, a real Postfix and the milter.
#
# The main server requires a client certificate (mutual TLS), like an ANS
# server that only serves operators.  Covered: a good list published and
# served by the RUNNING daemon (a newly listed domain becomes accepted
# through Postfix); 304 (only "checked at" changes); wrong CA, expired
# server certificate, missing client certificate, truncated body, HTTP 500
# page, HTML served as the list, empty list, 80 % shrink, older generation
# date: each refused with the list in force, the snapshot and the daemon's
# verdicts unchanged; --force past the age and shrink guards; rollback
# (and the fetcher not republishing what was rolled back); three
# concurrent fetchers make one publication; the daemon's own refresh
# thread; a shutdown during a hanging download; the stale-list warning;
# the lock released even when the fetch's Redis connection is lost.
# URL_<name> / LOG_<name> are set by start_server through printf -v.
# shellcheck disable=SC2154
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_setup --root

# The HTTPS servers are this script's own: stop them on any exit, before
# the harness's cleanup (they would otherwise outlive it).
SERVER_PIDS=()
stop_servers() {
    local p
    for p in "${SERVER_PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    SERVER_PIDS=()
}
# shellcheck disable=SC2317  # called by the EXIT trap
fetch_cleanup() {
    local rc=$?
    stop_servers
    (exit "$rc")
    h_cleanup
}
trap fetch_cleanup EXIT

PY=/usr/bin/python3
SERVER=$H_ROOT/tests/helpers/https_server.py
LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
NEWPEER=accueil@clinique-nouvelle.mssante.fr     # listed from v2 on
AUTOPEER=secretariat@centre-auto.mssante.fr      # listed in v5 only
PREFIX=mssante:

# ---------------------------------------------------------------- fixtures

# shellcheck source=tests/lib/pki.sh
. "$H_ROOT/tests/lib/pki.sh"
if ! pki_make "$W/pki" 2>"$W/pki.err"; then
    not_ok "test PKI created" "$(cat "$W/pki.err")"
    exit 1
fi
PKI=$W/pki
WWW=$W/www
mkdir -p "$WWW"

# gen_list FILE DATE FILLERS [DOMAIN...]: an ANS list with the test's own
# domains, FILLERS made-up ones and the extra DOMAINs.
gen_list() {
    local file=$1 date=$2 n=$3
    shift 3
    awk -v d="$date" -v n="$n" -v extra="$*" 'BEGIN {
        print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        print "<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">"
        print "  <DateDeGeneration>" d "</DateDeGeneration>"
        print "  <ListeDomaines>"
        m = split("chu-test.mssante.fr autre-site.chu-test.mssante.fr medecin.mssante.fr " extra, names, " ")
        for (i = 1; i <= n; i++)
            names[++m] = sprintf("etab-%04d.mssante.fr", i)
        for (i = 1; i <= m; i++) {
            printf "    <Domaine><Nom>%s</Nom><Description>Test %d</Description>", names[i], i
            printf "<DNCertificatOperateur>CN=mx%d.operateur.test,O=Operateur,C=FR</DNCertificatOperateur>", i % 4
            print "<DateMAJ>2025-01-27T15:49:34Z</DateMAJ></Domaine>"
        }
        print "  </ListeDomaines>"
        print "</ListeBlancheMSSante>"
    }' >"$file"
}

gen_list "$W/v1.xml" 2025-03-13T14:54:10Z 50
gen_list "$W/v2.xml" 2025-03-20T08:00:00Z 50 clinique-nouvelle.mssante.fr
gen_list "$W/shrunk.xml" 2025-03-27T08:00:00Z 7 clinique-nouvelle.mssante.fr
gen_list "$W/older.xml" 2025-03-01T08:00:00Z 51 clinique-nouvelle.mssante.fr
gen_list "$W/v4.xml" 2025-04-03T08:00:00Z 52 clinique-nouvelle.mssante.fr
gen_list "$W/v5.xml" 2025-04-10T08:00:00Z 52 clinique-nouvelle.mssante.fr centre-auto.mssante.fr
gen_list "$W/empty.xml" 2025-04-20T08:00:00Z 0
sed -i '/<Domaine>/d' "$W/empty.xml"
head -c "$(($(stat -c %s "$W/v4.xml") / 2))" "$W/v4.xml" >"$W/cut.xml"
printf '<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body><p>Service indisponible</p></body></html>\n' >"$W/maintenance.html"

# serve FILE: what every server now answers (atomic replace).
serve() {
    cp "$1" "$WWW/.liste.tmp" && mv "$WWW/.liste.tmp" "$WWW/liste.xml"
}
serve "$W/v1.xml"

# start_server NAME [https_server.py options]: sets URL_<NAME>, LOG_<NAME>.
start_server() {
    local name=$1 portfile=$W/$1.port
    shift
    "$PY" "$SERVER" --dir "$WWW" --port-file "$portfile" --log "$W/$name.log" "$@" \
        >/dev/null 2>"$W/$name.err" &
    SERVER_PIDS+=($!)
    for _ in $(seq 100); do
        [ -s "$portfile" ] && break
        kill -0 "$!" 2>/dev/null || break
        sleep 0.05
    done
    if [ ! -s "$portfile" ]; then
        not_ok "https server $name started" "$(cat "$W/$name.err")"
        exit 1
    fi
    printf -v "URL_$name" 'https://127.0.0.1:%s/liste.xml' "$(cat "$portfile")"
    printf -v "LOG_$name" '%s' "$W/$name.log"
    : >"$W/$name.log"
}

SRV=(--cert "$PKI/server.pem" --key "$PKI/server.key")
MTLS=(--require-client-cert "$PKI/ca.pem")
start_server main "${SRV[@]}" "${MTLS[@]}" --gzip
start_server expired --cert "$PKI/expired.pem" --key "$PKI/expired.key" "${MTLS[@]}"
# No validators: it must not answer 304 for the list the main server gave.
start_server truncated "${SRV[@]}" "${MTLS[@]}" --mode truncate --no-validators
start_server error500 "${SRV[@]}" "${MTLS[@]}" --mode error500
start_server slow "${SRV[@]}" "${MTLS[@]}" --delay 2
start_server hang "${SRV[@]}" "${MTLS[@]}" --mode hang

# ---------------------------------------------------------------- services

start_capsink || exit 1
start_redis || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

SNAP=$W/milter/whitelist.snapshot

# mkconf FILE URL [LINE...]: the milter's and mssantectl's configuration,
# fetching from URL with the test CA and the client certificate.
mkconf() {
    local file=$1 url=$2
    shift 2
    milter_conf "$file"
    cat >>"$file" <<EOF
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 2s
SnapshotFile $SNAP
WhitelistPoll 1s
WhitelistURL $url
WhitelistCAFile $PKI/ca.pem
WhitelistClientCert $PKI/client.pem
WhitelistClientKey $PKI/client.key
WhitelistMinDomains 3
WhitelistTimeout 20s
EOF
    local line
    for line in "$@"; do
        printf '%s\n' "$line" >>"$file"
    done
}

CONF=$W/main.conf;        mkconf "$CONF" "$URL_main"
WRONGCA=$W/wrongca.conf;  mkconf "$WRONGCA" "$URL_main"
sed -i "s|^WhitelistCAFile .*|WhitelistCAFile $PKI/other-ca.pem|" "$WRONGCA"
NOCERT=$W/nocert.conf;    mkconf "$NOCERT" "$URL_main"
sed -i '/^WhitelistClient/d' "$NOCERT"
EXPIRED=$W/expired.conf;  mkconf "$EXPIRED" "$URL_expired"
TRUNC=$W/trunc.conf;      mkconf "$TRUNC" "$URL_truncated"
E500=$W/e500.conf;        mkconf "$E500" "$URL_error500"
SLOW=$W/slow.conf;        mkconf "$SLOW" "$URL_slow"
REFRESH=$W/refresh.conf;  mkconf "$REFRESH" "$URL_main" "WhitelistRefresh 2s"
HANG=$W/hang.conf;        mkconf "$HANG" "$URL_hang" "WhitelistRefresh 1s"
sed -i 's/^WhitelistTimeout .*/WhitelistTimeout 60s/' "$HANG"
AGE=$W/age.conf;          mkconf "$AGE" "$URL_main" "WhitelistMaxAge 1d"

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --raw "$@"; }

# ---------------------------------------------------------------- helpers

# fetch_is WANT_RC STDOUT_ERE STDERR_ERE CONF [ARGS...]: run
# "mssantectl -c CONF whitelist fetch ARGS"; an empty ERE checks nothing.
fetch_is() {
    local want=$1 out_re=$2 err_re=$3 conf=$4 rc
    shift 4
    "$CTL_BIN" -c "$conf" whitelist fetch "$@" >"$W/fetch.out" 2>"$W/fetch.err"
    rc=$?
    if [ "$rc" = "$want" ] \
        && { [ -z "$out_re" ] || grep -Eq -- "$out_re" "$W/fetch.out"; } \
        && { [ -z "$err_re" ] || grep -Eq -- "$err_re" "$W/fetch.err"; }; then
        return 0
    fi
    h_fail "mssantectl -c $(basename "$conf") whitelist fetch $*: exit $rc, wanted $want
stdout: $(cat "$W/fetch.out")
stderr: $(cat "$W/fetch.err")
wanted stdout ~ /$out_re/, stderr ~ /$err_re/"
}

# status EXPR: evaluate a Python expression over "whitelist status --json" (d).
status() {
    "$CTL_BIN" -c "$CONF" --json whitelist status 2>/dev/null |
        "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# status_is EXPR WANT
status_is() {
    local got
    got=$(status "$1")
    [ "$got" = "$2" ] || h_fail "status: $1 is \"$got\", expected \"$2\""
}

snap_sum() { sha256sum "$SNAP" 2>/dev/null | cut -d' ' -f1; }

# intact: the list in force is still version $GOOD with the same content,
# and the snapshot was not rewritten.
intact() {
    if ! status_is "d['version']" "$GOOD" || ! status_is "d['sha256']" "$GOOD_SHA"; then
        return 1
    fi
    [ "$(snap_sum)" = "$GOOD_SNAP" ] || h_fail "SnapshotFile was rewritten"
}

# refused_intact NAME WANT_STDERR_ERE CONF [ARGS...]: a fetch that must be
# refused, leaving everything as it was.
refused_intact() {
    local name=$1 err_re=$2
    shift 2
    check "$name: refused (exit 1, reason on stderr)" fetch_is 1 "" "$err_re" "$@"
    check "$name: version $GOOD, its content and the snapshot unchanged" intact
}

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
    h_fail "still refused after ${secs}s: $(smtp_reply "$LAST_TRANSCRIPT" DATA)"
}

# The daemon's log since its last start.
log_since_start() {
    awk '/^=== start /{ buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' \
        "$W/milter/milter.log"
}

lacks_since_start() {
    if log_since_start | grep -E -q -- "$1"; then
        h_fail "the daemon logged /$1/:
$(log_since_start | grep -E -- "$1")"
        return 1
    fi
}

# ---------------------------------------------------------------- a good list

check "fetch over mutual TLS publishes the first list" \
    fetch_is 0 '^published version [0-9]+ \(previous none\): 53 domains' '' "$CONF"
check "the server saw our client certificate and gzip was offered" \
    grep -Eq 'status=200 .*ae=[^ ]*gzip[^ ]* client=smtp\.operateur\.test' "$LOG_main"
check "status: count and source of the fetched list" \
    status_is "(d['count'], d['source'])" "(53, '$URL_main')"
check "status: last success and last result" \
    status_is "(d['fetch']['last_result'], d['fetch']['last_success_unix'] is not None)" \
    "('published', True)"
check "SnapshotFile written by the fetch" test -s "$SNAP"

start_milter "$CONF" || exit 1
send_mail out-peer "$LOCAL" "$PEER"
check "daemon serves the fetched list: outbound to a listed domain delivered" delivered out-peer
send_mail new-before "$LOCAL" "$NEWPEER"
check "a domain the list does not have yet is refused" \
    assert_reply "$LAST_TRANSCRIPT" DATA '^550 5\.7\.1 '

serve "$W/v2.xml"
check "fetch of a newer list publishes it" \
    fetch_is 0 '^published version [0-9]+ \(previous [0-9]+\): 54 domains' '' "$CONF"
GOOD=$(status "d['version']")
GOOD_SHA=$(status "d['sha256']")
check "the running daemon swaps to it within WhitelistPoll" \
    wait_milter_log "whitelist swapped: version=$GOOD " 10
check "the newly listed domain is accepted through Postfix" \
    accepted_within new-after 5 "$LOCAL" "$NEWPEER"
check "and the message is delivered" delivered "$ACCEPTED_AS"
GOOD_SNAP=$(snap_sum)

# ---------------------------------------------------------------- 304

sleep 1.1        # last_success has a one-second resolution
before=$(status "d['fetch']['last_success_unix']")
check "same list again: 304, nothing published" \
    fetch_is 0 "^not modified \(HTTP 304\): version $GOOD is the ANS's current list" '' "$CONF"
check "the conditional GET sent the stored ETag" \
    grep -Eq 'status=304 inm="[0-9a-f]+"' "$LOG_main"
check "304: only \"checked at\" moves (version, sha256, snapshot unchanged)" intact
check "304: last success updated, last result not-modified" \
    status_is "(d['fetch']['last_success_unix'] > $before, d['fetch']['last_result'])" \
    "(True, 'not-modified')"

# ---------------------------------------------------------------- refusals

refused_intact "wrong CA" "fetch failed \(tls-verify\), version $GOOD stays in force: .*not issued by a CA in $PKI/other-ca\.pem" "$WRONGCA"
check "status shows the last error and its kind" \
    status_is "(d['fetch']['last_error_kind'], d['fetch']['last_result'])" "('tls-verify', 'failed')"
text=$("$CTL_BIN" -c "$CONF" whitelist status 2>&1)
check "status text: last error line" contains "$text" "last error:   "
check "status text: last success line names the confirmed version" \
    contains "$text" "version $GOOD confirmed"

refused_intact "expired server certificate" "tls-verify.*has expired" "$EXPIRED"
refused_intact "missing client certificate" \
    "fetch failed \(tls-client-cert\).*requires a client certificate and none is configured" "$NOCERT"
refused_intact "truncated body" "fetch failed \(truncated\).*truncated download" "$TRUNC"
refused_intact "HTTP 500 error page" 'fetch failed \(http\).*HTTP 500 .*title "500 Internal Server Error"' "$E500"

serve "$W/maintenance.html"
refused_intact "HTML page served as the list" "download refused, version $GOOD stays in force: not a valid ANS list" "$CONF"
serve "$W/cut.xml"
refused_intact "list cut in the middle (served whole)" "not a valid ANS list" "$CONF"
serve "$W/empty.xml"
refused_intact "empty list" "not a valid ANS list" "$CONF"
serve "$W/shrunk.xml"
refused_intact "80 % shrink" "refused: 11 domains, 79\.[0-9]% fewer than the current 54 \(limit 20%\)" "$CONF"
serve "$W/older.xml"
refused_intact "older generation date" "refused: generated 2025-03-01T08:00:00Z, older than the current list" "$CONF"

check "after every refusal the daemon still serves version $GOOD" \
    accepted_within still-good 3 "$LOCAL" "$NEWPEER"
check "no other version was ever swapped in" \
    test "$(grep -c 'whitelist swapped' "$W/milter/milter.log")" = 1
check "the daemon is still running" milter_alive

# ---------------------------------------------------------------- --force, rollback

# rolled_back_to VERSION FROM: the daemon is back on VERSION; the snapshot
# it rewrote is the new reference for intact().
rolled_back_to() {
    wait_milter_log "whitelist swapped: version=$1 old=$2 " 10 || return 1
    sleep 0.5
    GOOD_SNAP=$(snap_sum)
}

check "--force publishes the older list (age guard overridden, said on stderr)" \
    fetch_is 0 '^published version' 'warning: accepted with --force despite: generated 2025-03-01' "$CONF" --force
FORCED=$(status "d['version']")
check "the daemon swaps to the forced version" \
    wait_milter_log "whitelist swapped: version=$FORCED " 10

rb=$("$CTL_BIN" -c "$CONF" whitelist rollback 2>&1)
check "rollback makes version $GOOD current again" \
    contains "$rb" "rolled back: version $GOOD is current again"
check "rollback: status shows $GOOD current, $FORCED previous" \
    status_is "(d['version'], d['previous'])" "('$GOOD', '$FORCED')"
check "rollback: the daemon swaps back" rolled_back_to "$GOOD" "$FORCED"

serve "$W/shrunk.xml"
check "--force publishes past the shrink guard too" \
    fetch_is 0 '^published version [0-9]+ .*: 11 domains' 'despite: 11 domains, 79\.[0-9]% fewer' "$CONF" --force
SHRUNK=$(status "d['version']")
check "the daemon swaps to the shrunk version" \
    wait_milter_log "whitelist swapped: version=$SHRUNK " 10
check "rollback again" ctl_ok -c "$CONF" whitelist rollback
check "rollback: version $GOOD current once more" rolled_back_to "$GOOD" "$SHRUNK"

# ---------------------------------------------------------------- concurrency

serve "$W/v4.xml"
seq_before=$(rcli GET "${PREFIX}wl:seq")
for i in 1 2 3; do
    "$CTL_BIN" -c "$SLOW" whitelist fetch >"$W/conc$i.out" 2>"$W/conc$i.err" &
    eval "CPID$i=\$!"
done
conc_rc=
for i in 1 2 3; do
    eval "wait \$CPID$i"
    conc_rc="$conc_rc$?"
done
seq_after=$(rcli GET "${PREFIX}wl:seq")
failed_before=$H_FAILED
check "three concurrent fetchers all succeed" test "$conc_rc" = 000
check "exactly one of them published" \
    test "$(cat "$W"/conc?.out | grep -c '^published version')" = 1
check "the other two report the winner's publication" \
    test "$(cat "$W"/conc?.out | grep -c '^published by another fetch')" = 2
check "one new version id in Redis" test "$((seq_after - seq_before))" = 1
check "one download from the server" test "$(grep -c 'status=200' "$LOG_slow")" = 1
[ "$H_FAILED" -gt "$failed_before" ] && note "$(cat "$W"/conc?.out "$W"/conc?.err)"
V4=$(status "d['version']")
check "the fetch lock is released" test -z "$(rcli GET "${PREFIX}wl:fetch:lock")"
check "the daemon swaps to it" wait_milter_log "whitelist swapped: version=$V4 " 10

# Rolled back, the list is not published again while the ANS serves it.
check "rollback of the concurrent fetchers' list" ctl_ok -c "$CONF" whitelist rollback
check "the daemon swaps back to $GOOD" rolled_back_to "$GOOD" "$V4"
: >"$LOG_main"
refused_intact "the rolled-back list, still served" \
    "refused: this list .* is the one \"mssantectl whitelist rollback\" removed; --force publishes it anyway" "$CONF"
check "no validators were sent for a version no longer current" \
    grep -q 'status=200 inm=- ims=- ' "$LOG_main"
check "rollback undone by a second rollback" ctl_ok -c "$CONF" whitelist rollback
check "status: $V4 current, $GOOD previous" \
    status_is "(d['version'], d['previous'])" "('$V4', '$GOOD')"

# A lock held by a fetch that died: the next one waits it out, then says so.
rcli SET "${PREFIX}wl:fetch:lock" "dead-node:1:0" PX 1500 >/dev/null
check "a dead holder's lock: the fetch waits for it to expire and fails clearly" \
    fetch_is 1 '' 'ended without recording an outcome' "$CONF"

# The fetch's Redis connection lost during the download (a timeout, Redis
# restarted): the lock is released all the same, on a new connection, and
# the next fetch runs at once (the lock used to stay until it expired).
lock_held() {
    for _ in $(seq 1 100); do
        [ -n "$(rcli GET "${PREFIX}wl:fetch:lock")" ] && return 0
        sleep 0.05
    done
    h_fail "the fetch never took the lock"
}
token_before=$(rcli HGET "${PREFIX}wl:fetch" last_token)
"$CTL_BIN" -c "$SLOW" whitelist fetch >"$W/lost.out" 2>"$W/lost.err" &
lost_pid=$!
check "connection lost mid-fetch: the fetch holds the lock while it downloads" lock_held
rcli CLIENT KILL TYPE normal SKIPME yes >/dev/null
wait "$lost_pid"
note "mssantectl: $(cat "$W/lost.out" "$W/lost.err")"
check "connection lost mid-fetch: the lock is released on a new connection" \
    test -z "$(rcli GET "${PREFIX}wl:fetch:lock")"
check "connection lost mid-fetch: its outcome is recorded all the same" \
    test "$(rcli HGET "${PREFIX}wl:fetch" last_token)" != "$token_before"
check "connection lost mid-fetch: the next fetch runs at once (exit 0)" \
    fetch_is 0 '' '' "$CONF"
stop_milter "after the mssantectl cases"

# ---------------------------------------------------------------- the daemon's thread

serve "$W/v5.xml"
start_milter "$REFRESH" || exit 1
check "refresh thread announced" wait_milter_log 'whitelist refresh every 2s from https://127\.0\.0\.1' 5
check "the refresh thread publishes the new list by itself" \
    wait_milter_log 'whitelist fetch: published version [0-9]+ \(previous '"$V4"'\)' 15
V5=$(status "d['version']")
check "and the daemon serves it (poller swap)" \
    wait_milter_log "whitelist swapped: version=$V5 " 10
check "a domain only the fetched list has is accepted through Postfix" \
    accepted_within auto 5 "$LOCAL" "$AUTOPEER"
check "next rounds get 304s" wait_milter_log 'whitelist fetch: not modified \(HTTP 304\)' 15
check "status: the thread's success is recorded" \
    status_is "(d['fetch']['checked_version'], d['fetch']['last_result'])" "('$V5', 'not-modified')"
stop_milter "refresh thread running"

# Shutdown in the middle of a download that never ends (60 s timeout).
start_milter "$HANG" || exit 1
for _ in $(seq 100); do
    grep -q hang "$LOG_hang" && break
    sleep 0.1
done
check "the refresh thread is stuck in a hanging download" grep -q hang "$LOG_hang"
t0=$(date +%s)
stop_milter "during a hanging download"
note "stopped in $(($(date +%s) - t0))s"
check "the fetch lock of the cancelled download is released" \
    test -z "$(rcli GET "${PREFIX}wl:fetch:lock")"

# ---------------------------------------------------------------- stale list

start_milter "$AGE" || exit 1
sleep 2
check "a list the fetcher confirmed recently is not stale (WhitelistMaxAge 1d)" \
    lacks_since_start 'is stale'
stop_milter quiet
check "rollback to the previous list" ctl_ok -c "$CONF" whitelist rollback
start_milter "$AGE" || exit 1
check "a list generated long ago and never confirmed: the daemon warns it is stale" \
    wait_milter_log "whitelist version $V4 is stale: generated 2025-04-03T08:00:00Z, last confirmed by a fetch never" 5
stop_milter "stale warning"

stop_servers
exit 0
