#!/bin/bash
# t_fetch_tls.sh - whitelist/fetch.c against a real HTTPS server on 127.0.0.1.
#
# A throw-away PKI (tests/lib/pki.sh), one tests/helpers/https_server.py per
# server behaviour, and $BUILD/tests/fetchprobe as the client.  Checks that
# a good list downloads (plain, gzip, mutual TLS), that a 304 is recognised,
# and that every failure is refused with the right kind and a message an
# operator understands: wrong CA, expired certificate, host name mismatch,
# missing or foreign client certificate, truncated body, HTML error page,
# size limit, connection refused, timeout, redirect to http.
#
# Output: one "ok - NAME" / "not ok - NAME" line per case, "# " details;
# exit status 1 when any case failed.  Servers are stopped on exit.
# URL_<name> / LOG_<name> are set by start_server through printf -v.
# shellcheck disable=SC2154
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
cd "$H_ROOT" || exit 1
PROBE=$BUILD/tests/fetchprobe
PY=/usr/bin/python3           # Debian's: the one on PATH may be another build
SERVER=tests/helpers/https_server.py

h_setup --probe fetchprobe
TMP=$W
SERVER_PIDS=()
# shellcheck disable=SC2317  # called by the EXIT trap
stop_servers() {
    local p rc=$?
    for p in "${SERVER_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    (exit "$rc")
    h_cleanup
}
trap stop_servers EXIT

pass() { ok "$1"; }
fail() { not_ok "$@"; }

# ---------------------------------------------------------------------------
# Fixtures

# shellcheck source=tests/lib/pki.sh
. tests/lib/pki.sh
if ! pki_make "$TMP/pki" 2>"$TMP/pki.err"; then
    fail "test PKI created" "$(cat "$TMP/pki.err")"
    exit 1
fi
PKI=$TMP/pki

# An ANS-shaped list of 3000 domains: big enough for gzip and the size
# limit to mean something; fetch.c only moves bytes, it does not parse.
WWW=$TMP/www
mkdir -p "$WWW"
awk 'BEGIN {
    print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    print "<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">"
    print "  <DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>"
    print "  <ListeDomaines>"
    for (i = 1; i <= 3000; i++) {
        printf "    <Domaine><Nom>etab-%04d.mssante.fr</Nom><Description>Etablissement %d</Description>", i, i
        printf "<DNCertificatOperateur>CN=smtp.operateur-%d.fr,OU=%09d,O=Operateur,C=FR</DNCertificatOperateur>", i % 37, i
        print "<DateMAJ>2025-01-27T15:49:34Z</DateMAJ></Domaine>"
    }
    print "  </ListeDomaines>"
    print "</ListeBlancheMSSante>"
}' >"$WWW/liste.xml"
LIST_SIZE=$(stat -c %s "$WWW/liste.xml")

# start_server NAME [https_server.py options]: sets URL_<NAME>, LOG_<NAME>.
start_server() {
    local name=$1 portfile=$TMP/$1.port
    shift
    "$PY" "$SERVER" --dir "$WWW" --port-file "$portfile" --log "$TMP/$name.log" "$@" \
        2>"$TMP/$name.err" &
    SERVER_PIDS+=($!)
    for _ in $(seq 100); do
        [ -s "$portfile" ] && break
        kill -0 "$!" 2>/dev/null || break
        sleep 0.05
    done
    if [ ! -s "$portfile" ]; then
        fail "server $name started" "$(cat "$TMP/$name.err")"
        exit 1
    fi
    printf -v "URL_$name" 'https://127.0.0.1:%s/liste.xml' "$(cat "$portfile")"
    printf -v "LOG_$name" '%s' "$TMP/$name.log"
    : >"$TMP/$name.log"
}

SRV=(--cert "$PKI/server.pem" --key "$PKI/server.key")
start_server plain "${SRV[@]}"
start_server gzip "${SRV[@]}" --gzip
start_server expired --cert "$PKI/expired.pem" --key "$PKI/expired.key"
start_server wronghost --cert "$PKI/wronghost.pem" --key "$PKI/wronghost.key"
start_server mtls "${SRV[@]}" --require-client-cert "$PKI/ca.pem"
start_server mtls12 "${SRV[@]}" --require-client-cert "$PKI/ca.pem" --tls12-only
start_server truncated "${SRV[@]}" --mode truncate
start_server truncgz "${SRV[@]}" --mode truncate --gzip
start_server abrupt "${SRV[@]}" --mode truncate-abrupt
start_server error500 "${SRV[@]}" --mode error500
start_server hang "${SRV[@]}" --mode hang
start_server redirect "${SRV[@]}" --mode redirect-http
# A port of this script's own (free_port), not one the kernel picks: no
# other script's server can take it once this one is gone.
free_port GONE_PORT || exit 1
start_server gone "${SRV[@]}" --port "$GONE_PORT"
kill "${SERVER_PIDS[-1]}" && wait "${SERVER_PIDS[-1]}" 2>/dev/null   # its port now refuses

# ---------------------------------------------------------------------------
# probe NAME WANT_RC WANT_KIND PATTERN [fetchprobe args]: run the probe and
# check its exit status, its "kind=" and that PATTERN (fixed string) is in
# its output.  Leaves the output in $OUT for further checks.
OUT=$TMP/probe.out
probe() {
    local name=$1 want_rc=$2 want_kind=$3 pattern=$4 rc
    shift 4
    "$PROBE" "$@" >"$OUT" 2>"$TMP/probe.err"
    rc=$?
    if [ "$rc" != "$want_rc" ]; then
        fail "$name" "exit status $rc, expected $want_rc" "$(cat "$OUT" "$TMP/probe.err")"
        return 1
    fi
    if ! grep -q "kind=$want_kind " "$OUT"; then
        fail "$name" "expected kind=$want_kind" "$(cat "$OUT")"
        return 1
    fi
    if [ -n "$pattern" ] && ! grep -qF -- "$pattern" "$OUT"; then
        fail "$name" "output lacks: $pattern" "$(cat "$OUT")"
        return 1
    fi
    if [ -s "$TMP/probe.err" ]; then
        fail "$name" "unexpected stderr:" "$(cat "$TMP/probe.err")"
        return 1
    fi
    return 0
}

field() { sed -n "s/^$1=//p" "$OUT"; }

# ---------------------------------------------------------------------------
# Downloads that must work

BODY=$TMP/body.xml
rm -f "$BODY"
if probe "good list" 0 none "status=ok kind=none http=200 bytes=$LIST_SIZE" \
        -o "$BODY" "$URL_plain" "$PKI/ca.pem"; then
    if ! cmp -s "$BODY" "$WWW/liste.xml"; then
        fail "good list" "body differs from the served file"
    elif [ -z "$(field etag)" ] || [ -z "$(field last-modified)" ]; then
        fail "good list" "validators missing" "$(cat "$OUT")"
    else
        pass "good list downloaded over verified TLS"
    fi
fi
ETAG=$(field etag)
LASTMOD=$(field last-modified)

if probe "localhost name" 0 none "status=ok" "${URL_plain/127.0.0.1/localhost}" "$PKI/ca.pem"; then
    pass "host name localhost verified against subjectAltName"
fi

rm -f "$BODY"
if probe "gzip" 0 none "bytes=$LIST_SIZE" -o "$BODY" "$URL_gzip" "$PKI/ca.pem"; then
    sent=$(sed -n 's/.*status=200 .*bytes=\([0-9]*\).*/\1/p' "$LOG_gzip" | tail -1)
    if ! cmp -s "$BODY" "$WWW/liste.xml"; then
        fail "gzip" "decoded body differs from the served file"
    elif ! grep -q 'ae=[^ ]*gzip' "$LOG_gzip" || [ -z "$sent" ] || [ "$sent" -ge "$LIST_SIZE" ]; then
        fail "gzip" "transfer was not compressed" "$(cat "$LOG_gzip")"
    else
        pass "gzip accepted and decoded ($sent bytes on the wire for $LIST_SIZE)"
    fi
fi

if probe "304 ETag" 3 none "status=not-modified kind=none http=304 bytes=0" \
        -e "$ETAG" "$URL_plain" "$PKI/ca.pem"; then
    if [ "$(field etag)" != "$ETAG" ]; then
        fail "304 ETag" "ETag not carried over" "$(cat "$OUT")"
    elif ! grep -qF "inm=$ETAG ims=- " "$LOG_plain"; then
        fail "304 ETag" "If-None-Match not sent" "$(cat "$LOG_plain")"
    else
        pass "second fetch with the ETag: 304, not modified"
    fi
fi

if probe "304 Last-Modified" 3 none "status=not-modified" \
        -l "$LASTMOD" "$URL_plain" "$PKI/ca.pem"; then
    if grep -qF "ims=${LASTMOD// /_} " "$LOG_plain"; then
        pass "second fetch with Last-Modified (If-Modified-Since): 304"
    else
        fail "304 Last-Modified" "If-Modified-Since not sent as received" "$(cat "$LOG_plain")"
    fi
fi

# A new list on the server: the old ETag must not stick.
cp "$WWW/liste.xml" "$TMP/liste.orig"
sed -i 's/2025-03-13T14:54:10Z/2025-03-20T08:00:00Z/' "$WWW/liste.xml"
if probe "changed list" 0 none "status=ok kind=none http=200" \
        -e "$ETAG" "$URL_plain" "$PKI/ca.pem"; then
    if [ "$(field etag)" != "$ETAG" ] && [ -n "$(field etag)" ]; then
        pass "changed list downloaded despite the old ETag, new ETag returned"
    else
        fail "changed list" "ETag did not change" "$(cat "$OUT")"
    fi
fi
cp "$TMP/liste.orig" "$WWW/liste.xml"

if probe "mTLS with client cert" 0 none "status=ok" \
        "$URL_mtls" "$PKI/ca.pem" "$PKI/client.pem" "$PKI/client.key"; then
    if grep -q "client=smtp.operateur.test" "$LOG_mtls"; then
        pass "mutual TLS: our client certificate accepted"
    else
        fail "mTLS with client cert" "server did not see the client certificate" "$(cat "$LOG_mtls")"
    fi
fi

if probe "mTLS TLS 1.2 with client cert" 0 none "status=ok" \
        "$URL_mtls12" "$PKI/ca.pem" "$PKI/client.pem" "$PKI/client.key"; then
    pass "mutual TLS over TLS 1.2: client certificate accepted"
fi

# ---------------------------------------------------------------------------
# Refusals

probe "wrong CA" 1 tls-verify "is not issued by a CA in $PKI/other-ca.pem" \
    "$URL_plain" "$PKI/other-ca.pem" &&
    pass "server certificate from another CA refused"

if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
    probe "default bundle" 1 tls-verify "not issued by a CA in the system CA bundle" \
        "$URL_plain" - &&
        pass "without a CA file, the system bundle does not trust the test CA"
else
    echo "skip - without a CA file, the system bundle does not trust the test CA # no ca-certificates"
fi

probe "expired" 1 tls-verify "has expired" "$URL_expired" "$PKI/ca.pem" &&
    pass "expired server certificate refused"

probe "host name mismatch" 1 tls-verify "is not issued for that host name" \
    "$URL_wronghost" "$PKI/ca.pem" &&
    pass "server certificate for another host name refused"

probe "mTLS no client cert" 1 tls-client-cert \
    "requires a client certificate and none is configured" "$URL_mtls" "$PKI/ca.pem" &&
    pass "mutual TLS: missing client certificate refused by the server, reported clearly"

probe "mTLS TLS 1.2 no client cert" 1 tls-client-cert \
    "requires a client certificate and none is configured" "$URL_mtls12" "$PKI/ca.pem" &&
    pass "mutual TLS over TLS 1.2: missing client certificate reported clearly"

# Depending on timing the server's alert is read, or its reset comes first.
probe "mTLS foreign client cert" 1 tls-client-cert \
    "our client certificate $PKI/other-client.pem" \
    "$URL_mtls" "$PKI/ca.pem" "$PKI/other-client.pem" "$PKI/other-client.key" &&
    pass "mutual TLS: client certificate from another CA refused by the server"

rm -f "$BODY"
probe "truncated" 1 truncated "truncated download" -o "$BODY" "$URL_truncated" "$PKI/ca.pem" &&
    if [ -e "$BODY" ]; then
        fail "truncated" "a body was written"
    else
        pass "truncated body refused"
    fi

probe "truncated gzip" 1 truncated "truncated download" "$URL_truncgz" "$PKI/ca.pem" &&
    pass "truncated gzip body refused"

probe "truncated abrupt" 1 truncated "truncated download" "$URL_abrupt" "$PKI/ca.pem" &&
    pass "truncated body, connection dropped without close_notify, refused"

probe "HTML 500" 1 http 'HTTP 500 from 127.0.0.1 (text/html; charset=utf-8' \
    "$URL_error500" "$PKI/ca.pem" &&
    if grep -qF 'title "500 Internal Server Error"' "$OUT" && grep -q "http=500" "$OUT"; then
        pass "HTML 500 error page refused"
    else
        fail "HTML 500" "page title or status missing" "$(cat "$OUT")"
    fi

probe "404" 1 http "HTTP 404" "${URL_plain%liste.xml}absent.xml" "$PKI/ca.pem" &&
    pass "missing file (404) refused"

probe "size limit (announced)" 1 too-large "larger than the 100000-byte limit" \
    -s 100000 "$URL_plain" "$PKI/ca.pem" &&
    pass "size limit: Content-Length over the limit refused"

# gzip: the wire size is under the limit, the decoded size is not.
GZ_WIRE=$(sed -n 's/.*status=200 .*bytes=\([0-9]*\).*/\1/p' "$LOG_gzip" | tail -1)
LIMIT=$(( (${GZ_WIRE:-0} + LIST_SIZE) / 2 ))
probe "size limit (decoded)" 1 too-large "larger than the $LIMIT-byte limit" \
    -s "$LIMIT" "$URL_gzip" "$PKI/ca.pem" &&
    pass "size limit: decoded gzip body over the limit refused"

probe "size limit (exact)" 0 none "bytes=$LIST_SIZE" -s "$LIST_SIZE" "$URL_gzip" "$PKI/ca.pem" &&
    pass "size limit: a body of exactly the limit passes"

probe "connection refused" 1 connect "Connection refused" "$URL_gone" "$PKI/ca.pem" &&
    pass "connection refused reported"

start=$(date +%s%N)
probe "timeout" 1 timeout "exceeded the 1000 ms timeout" -t 1000 "$URL_hang" "$PKI/ca.pem" &&
    {
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        if [ "$ms" -lt 5000 ]; then
            pass "total timeout enforced (${ms} ms)"
        else
            fail "timeout" "took ${ms} ms for a 1000 ms timeout"
        fi
    }

probe "redirect to http" 1 http "redirected to a non-https URL" "$URL_redirect" "$PKI/ca.pem" &&
    pass "redirect to plain http refused"

probe "http URL" 1 config "only https:// URLs are allowed" \
    "${URL_plain/https:/http:}" "$PKI/ca.pem" &&
    pass "http:// URL refused before connecting"

probe "missing CA file" 1 config "cannot read CA file $TMP/none.pem" \
    "$URL_plain" "$TMP/none.pem" &&
    pass "unreadable CA file reported by name"

probe "bad client key" 1 config "cannot use client certificate" \
    "$URL_mtls" "$PKI/ca.pem" "$PKI/client.pem" "$PKI/other-client.key" &&
    pass "client key not matching the certificate reported"

