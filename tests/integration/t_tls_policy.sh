#!/bin/bash
# t_tls_policy.sh - the outbound TLS policy toward the trust space.
#
# 1. "mssantectl whitelist tls-policy" over a list in Redis, read back by
#    Postfix itself (postmap -q through texthash:): a domain with several
#    CNs, a domain with none (absent), CNs that cannot be match= names,
#    --level encrypt, standard output, atomic replacement, bad arguments.
# 2. A real Postfix delivering outbound through the table the daemon wrote
#    (TLSPolicyFile): smtp_tls_policy_maps = texthash:..., smtp_tls_CAfile =
#    the test CA, to a STARTTLS sink (tests/helpers/capsink.c) whose
#    certificate has CN mx1.operateur-tls.test and no subjectAltName, so
#    Postfix matches the CN.  One sink, one certificate: a domain listing
#    that CN is delivered, a domain listing another CN is deferred (kept in
#    the queue, "Server certificate not verified"), never bounced.
# 3. The daemon rewrites TLSPolicyFile within WhitelistPoll when a new list
#    (the domain's CN changed) is published, without a restart; after
#    "postfix reload" the same delivery is deferred; a rollback brings the
#    previous CNs back.
# 4. An unwritable TLSPolicyFile: logged, mail still flows, written as
#    soon as it can be.
#
# The test domains resolve to 127.0.0.1 for this Postfix only: it runs with
# a private /etc/hosts (harness H_PF_HOSTS), and smtp_tcp_port is the
# sink's, so the next hop, hence the table's lookup key, is the recipient
# domain itself, as in production.
set -u
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
h_setup --root --tools postmap

LOCAL=dr.martin@chu-test.mssante.fr
SINK_CN=mx1.operateur-tls.test

# ---------------------------------------------------------------- fixtures

# entry NAME DN: one <Domaine> of an ANS list.
entry() {
    printf '<Domaine><Nom>%s</Nom><Description>x</Description>' "$1"
    printf '<DNCertificatOperateur>%s</DNCertificatOperateur>' "$2"
    printf '<DateMAJ>2025-01-27T15:49:34Z</DateMAJ></Domaine>\n'
}

# ans_list FILE CN: a small ANS list; chu-tls.mssante.fr's first operator
# certificate has the given CN.
ans_list() {
    {
        echo '<?xml version="1.0" encoding="UTF-8"?>'
        echo '<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">'
        echo '<DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration><ListeDomaines>'
        entry chu-test.mssante.fr "CN=mx.chu-test.mssante.fr,O=CHU TEST,C=FR"
        entry chu-tls.mssante.fr "CN=$2,OU=1,O=OPERATEUR TLS,C=FR"
        entry CHU-TLS.mssante.fr "CN=MX2.Operateur-TLS.test, OU=1, O=OPERATEUR TLS, C=FR"
        entry chu-tls.mssante.fr "CN=$2,OU=1,O=OPERATEUR TLS,C=FR"
        entry clinique-tls.mssante.fr "CN=mx.autre-operateur.test,O=AUTRE,C=FR"
        entry sans-cn.mssante.fr "OU=2,O=SANS CN,C=FR"
        entry bizarre.mssante.fr "CN=*.joker.test,O=X,C=FR"
        entry bizarre.mssante.fr 'CN=a\:b.test,O=X,C=FR'
        entry bizarre.mssante.fr "CN=nexthop,O=X,C=FR"
        echo '</ListeDomaines></ListeBlancheMSSante>'
    } >"$1"
}
ans_list "$W/list-v1.xml" "$SINK_CN"
ans_list "$W/list-v2.xml" mx3.operateur-tls.test

if ! pki_make "$W/pki" 2>"$W/pki.err"; then
    not_ok "test PKI created" "$(cat "$W/pki.err")"
    exit 1
fi
# The sink's certificate: the CN alone names it (no subjectAltName, which
# Postfix would match instead), so the match below is the CN's.
cat >>"$W/pki/db-ca/ca.cnf" <<'EOF'
[ server_cn ]
basicConstraints = critical,CA:FALSE
keyUsage         = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
EOF
if ! (PKI_DIR=$W/pki pki_cert ca mta "$SINK_CN" server_cn) 2>"$W/pki.err"; then
    not_ok "sink certificate created" "$(cat "$W/pki.err")"
    exit 1
fi
chmod 644 "$W/pki/ca.pem"

start_capsink "$W/pki/mta.pem" "$W/pki/mta.key" || exit 1
start_redis || exit 1

conf=$W/milter/tls.conf
policy_dir=$W/tls
policy=$policy_dir/mssante_tls_policy
mkdir -p "$policy_dir"
milter_conf "$conf"
cat >>"$conf" <<EOF
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
WhitelistPoll 1s
TLSPolicyFile $policy
EOF
PMQ_ETC=$W/pmq
mkdir -p "$PMQ_ETC" && : >"$PMQ_ETC/main.cf"

# pmq FILE KEY: what Postfix finds for KEY in texthash:FILE ("" if nothing).
pmq() { postmap -c "$PMQ_ETC" -q "$2" "texthash:$1" 2>&1; }

# same NAME GOT WANT
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}

# --------------------------------------------- 1. mssantectl tls-policy

check "mssantectl whitelist load publishes the test list" \
    ctl_ok -c "$conf" whitelist load "$W/list-v1.xml"

map=$W/ctl/map
mkdir -p "$W/ctl"
ctl -c "$conf" whitelist tls-policy --out "$map" >"$W/ctl/out" 2>"$W/ctl/err"
rc=$?
same "tls-policy --out exits 0" "$rc" 0
check "tls-policy --out says what it wrote" \
    contains "$(cat "$W/ctl/out")" "wrote $map: 3 domains, level secure, from whitelist version"
same "postmap -q: a domain's CNs, lower-case, sorted, once" \
    "$(pmq "$map" chu-tls.mssante.fr)" \
    "secure match=$SINK_CN:mx2.operateur-tls.test"
same "postmap -q: a second domain with its own CN" \
    "$(pmq "$map" clinique-tls.mssante.fr)" "secure match=mx.autre-operateur.test"
same "postmap -q: the lookup ignores case" \
    "$(pmq "$map" CHU-TLS.MSSante.fr)" "secure match=$SINK_CN:mx2.operateur-tls.test"
same "postmap -q: a domain without CN is absent" "$(pmq "$map" sans-cn.mssante.fr)" ""
same "postmap -q: a domain with only unusable CNs is absent" \
    "$(pmq "$map" bizarre.mssante.fr)" ""
check "unusable CNs are named on stderr" \
    contains "$(cat "$W/ctl/err")" 'CN "*.joker.test" of bizarre.mssante.fr is not a plain host name'
check "... and the domain left out" \
    contains "$(cat "$W/ctl/err")" "bizarre.mssante.fr has no usable CN"
same "the table has one line per domain, sorted, and comments" \
    "$(grep -v '^#' "$map" | cut -d' ' -f1 | tr '\n' ' ')" \
    "chu-test.mssante.fr chu-tls.mssante.fr clinique-tls.mssante.fr "
same "the table is mode 0644 (Postfix reads it as another user)" "$(stat -c %a "$map")" 644
same "no temporary file is left beside it" "$(ls -A "$W/ctl" | tr '\n' ' ')" "err map out "

ctl -c "$conf" whitelist tls-policy >"$W/ctl/stdout" 2>/dev/null
check "without --out the same table goes to standard output" cmp -s "$map" "$W/ctl/stdout"

ctl -c "$conf" whitelist tls-policy --level encrypt --out "$W/ctl/enc" >/dev/null 2>&1
same "--level encrypt: postmap -q gives encrypt" "$(pmq "$W/ctl/enc" chu-tls.mssante.fr)" encrypt
same "--level encrypt: a domain whose CNs are unusable is in it" \
    "$(pmq "$W/ctl/enc" bizarre.mssante.fr)" encrypt
same "--level encrypt: a domain without CN is not" "$(pmq "$W/ctl/enc" sans-cn.mssante.fr)" ""

echo "stale" >"$W/ctl/keep"
ctl -c "$conf" whitelist tls-policy --out "$W/ctl/none/map" >/dev/null 2>"$W/ctl/err2"
rc=$?
same "--out into a missing directory exits 3" "$rc" 3
check "... with an error naming the file" \
    contains "$(cat "$W/ctl/err2")" "$W/ctl/none/map: cannot create a temporary file"
ctl -c "$conf" whitelist tls-policy --level strict >/dev/null 2>"$W/ctl/err3"
rc=$?
same "--level strict is a usage error (exit 2)" "$rc" 2
check "... that names the choices" contains "$(cat "$W/ctl/err3")" "expected secure or encrypt"
ctl -c "$conf" --json whitelist tls-policy --out "$W/ctl/j" >"$W/ctl/json" 2>/dev/null
check "--json reports the table it wrote" \
    /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d["domains"] == 3 and d["level"] == "secure" and d["dropped_domains"] == 1 and d["dropped_cns"] == 3))' "$W/ctl/json"

# The CNs come from the version in Redis, checked like its domains.
v1=$(redis-cli -p "$REDIS_PORT" --raw get mssante:wl:current)
rmeta=mssante:wl:v:$v1:meta
pairs=$(redis-cli -p "$REDIS_PORT" --raw hget "$rmeta" certs)
# chu-test 1, chu-tls 2, clinique-tls 1, bizarre 3 (usable or not, they are CNs)
same "meta counts the version's (domain, CN) pairs" "$pairs" 7
redis-cli -p "$REDIS_PORT" hset "$rmeta" certs 99 >/dev/null
ctl -c "$conf" whitelist tls-policy >/dev/null 2>"$W/ctl/err4"
rc=$?
same "a version whose CN count does not add up is refused (exit 3)" "$rc" 3
check "... saying so" contains "$(cat "$W/ctl/err4")" "has 7 operator CNs, its metadata says 99"
redis-cli -p "$REDIS_PORT" hdel "$rmeta" certs >/dev/null
ctl -c "$conf" whitelist tls-policy >"$W/ctl/old-version" 2>/dev/null
check "a version published before the count was kept is still read" \
    cmp -s "$map" "$W/ctl/old-version"
redis-cli -p "$REDIS_PORT" hset "$rmeta" certs "$pairs" >/dev/null

# A snapshot from before the CNs were kept: no table rather than an empty one.
old_conf=$W/ctl/old.conf
printf 'LocalDomains chu-test.mssante.fr\nWhitelistFile %s\nSnapshotFile %s\n' \
    "$W/ctl/no-such-list.xml" "$W/ctl/v1.snap" >"$old_conf"
printf '%s\n' "# mssante-milter whitelist snapshot" "format 1" "version 3" \
    "generated 2025-03-13T14:54:10Z" "sha256" "source /x.xml" "loaded 1" "entries 1" \
    "count 1" "domains" "chu-tls.mssante.fr" "end 1" >"$W/ctl/v1.snap"
ctl -c "$old_conf" whitelist tls-policy --out "$W/ctl/from-old" >/dev/null 2>"$W/ctl/err5"
rc=$?
same "a format-1 snapshot: tls-policy exits 3" "$rc" 3
check "... warning that the snapshot holds no CNs" \
    contains "$(cat "$W/ctl/err5")" "is in the old format 1: it holds no operator certificate CNs"
check "... and writes no table" test ! -e "$W/ctl/from-old"

# ------------------------------------- 2. Postfix delivering through it

if ! h_private_hosts_ok; then
    skip "outbound delivery through the table" "no private mount namespace here (unshare)"
    exit 0
fi
printf '127.0.0.1 localhost\n127.0.0.1 chu-tls.mssante.fr clinique-tls.mssante.fr sans-cn.mssante.fr\n' \
    >"$W/hosts"
chmod 644 "$W/hosts"
cat >"$W/transport" <<EOF
chu-tls.mssante.fr smtp:
clinique-tls.mssante.fr smtp:
sans-cn.mssante.fr smtp:
EOF

start_milter "$conf" || exit 1
check "the daemon wrote TLSPolicyFile at start" \
    wait_milter_log "TLSPolicyFile $policy written: version=[0-9]+ level=secure domains=3 " 10
same "TLSPolicyFile: the same table as mssantectl's" \
    "$(grep -v '^#' "$policy" 2>&1)" "$(grep -v '^#' "$map")"

H_PF_HOSTS=$W/hosts start_postfix "inet:127.0.0.1:$MILTER_PORT" \
    "transport_maps = texthash:$W/transport" \
    "smtp_tcp_port = $SINK_PORT" \
    "smtp_tls_security_level = may" \
    "smtp_tls_CAfile = $W/pki/ca.pem" \
    "smtp_tls_policy_maps = texthash:$policy" \
    "smtp_tls_loglevel = 1" || exit 1

# deferred_for RCPT [SECONDS]: Postfix logged a deferral for RCPT.
deferred_for() {
    local rcpt=$1 secs=${2:-20} i
    for i in $(seq 1 $((secs * 10))); do
        maillog | grep -F "to=<$rcpt>" | grep -q 'status=deferred' && return 0
        sleep 0.1
    done
    h_fail "no deferral for $rcpt after ${secs}s:
$(maillog | grep -F -e "$rcpt" -e TLS -e certificate | tail -10)"
}

# in_queue_deferred RCPT: the message is still queued, with a TLS reason.
in_queue_deferred() {
    local q
    q=$(queue_json | grep -F "\"$1\"")
    [ -n "$q" ] || { h_fail "no queued message for $1: $(queue_json)"; return 1; }
    printf '%s\n' "$q" | grep -q -i 'certificate' ||
        h_fail "queued, but the reason names no certificate: $q"
}

never_bounced() {
    if maillog | grep -F "to=<$1>" | grep -q 'status=bounced'; then
        h_fail "bounced: $(maillog | grep -F "to=<$1>")"
        return 1
    fi
    ! maillog | grep -q 'sender non-delivery notification' ||
        h_fail "a non-delivery notice was made: $(maillog | grep 'non-delivery')"
}

send_mail tls-listed "$LOCAL" dr.a@chu-tls.mssante.fr
check "listed CN: accepted by Postfix" assert_reply "$LAST_TRANSCRIPT" . '^250 '
check "listed CN: delivered to the TLS sink" delivered tls-listed
f=$(sink_file_for_rcpt dr.a@chu-tls.mssante.fr)
check "listed CN: the message travelled over TLS" grep -q '^X-Capsink-TLS: TLSv1' "$f"
check "listed CN: Postfix verified the server (Verified TLS connection)" \
    contains "$(maillog)" "Verified TLS connection established to chu-tls.mssante.fr[127.0.0.1]:$SINK_PORT"

send_mail tls-unlisted "$LOCAL" dr.b@clinique-tls.mssante.fr
check "unlisted CN: accepted by Postfix (the milter has no say here)" \
    assert_reply "$LAST_TRANSCRIPT" . '^250 '
check "unlisted CN: deferred" deferred_for dr.b@clinique-tls.mssante.fr
check "unlisted CN: the log says the certificate was not verified" \
    contains "$(maillog | grep -F 'to=<dr.b@clinique-tls.mssante.fr>')" "Server certificate not verified"
check "unlisted CN: the chain is trusted, the name is what fails" \
    contains "$(maillog)" "server certificate verification failed for clinique-tls.mssante.fr[127.0.0.1]:$SINK_PORT: num=62:hostname mismatch"
check "unlisted CN: kept in the queue, with the certificate reason" \
    in_queue_deferred dr.b@clinique-tls.mssante.fr
check "unlisted CN: not delivered" test -z "$(sink_file_for_rcpt dr.b@clinique-tls.mssante.fr)"
check "unlisted CN: never bounced" never_bounced dr.b@clinique-tls.mssante.fr

send_mail tls-notinmap "$LOCAL" dr.c@sans-cn.mssante.fr
check "a domain not in the table: delivered as before (smtp_tls_security_level)" \
    delivered tls-notinmap

# ---------------------------------- 3. a new list rewrites the table

pid_before=$H_PID_MILTER
check "mssantectl whitelist load of a list where chu-tls's CN changed" \
    ctl_ok -c "$conf" whitelist load "$W/list-v2.xml"
v2=$(sed -n 's/^published version \([0-9]*\):.*/\1/p' <<<"$CTL_OUT")
check "the daemon swaps to it and rewrites TLSPolicyFile within WhitelistPoll" \
    wait_milter_log "TLSPolicyFile $policy written: version=$v2 " 10
same "TLSPolicyFile now lists the new CN" "$(pmq "$policy" chu-tls.mssante.fr)" \
    "secure match=mx2.operateur-tls.test:mx3.operateur-tls.test"
same "... without a restart" "$H_PID_MILTER" "$pid_before"
check "the daemon is still running" kill -0 "$H_PID_MILTER"

postfix -c "$H_PF_ETC" reload >/dev/null 2>&1
send_mail tls-after "$LOCAL" dr.d@chu-tls.mssante.fr
check "after postfix reload: the sink whose CN left the list is refused (deferred)" \
    deferred_for dr.d@chu-tls.mssante.fr
check "... and the message is kept, not bounced" never_bounced dr.d@chu-tls.mssante.fr

# policy_becomes FILE KEY WANT: within 10 s, Postfix finds WANT for KEY.
policy_becomes() {
    local i
    for i in $(seq 1 100); do
        [ "$(pmq "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    h_fail "after 10s $2 gives \"$(pmq "$1" "$2")\", not \"$3\""
}

check "mssantectl whitelist rollback" ctl_ok -c "$conf" whitelist rollback
check "the daemon swaps back to the previous version" \
    wait_milter_log "whitelist swapped: version=$v1 old=$v2 " 10
check "... and TLSPolicyFile gets that version's CNs back" \
    policy_becomes "$policy" chu-tls.mssante.fr "secure match=$SINK_CN:mx2.operateur-tls.test"

# ------------------------------- 4. TLSPolicyFile cannot be written

stop_milter "before the unwritable-directory case"
bad_conf=$W/milter/tls-bad.conf
sed "s|^TLSPolicyFile .*|TLSPolicyFile $W/tls-missing/policy|" "$conf" >"$bad_conf"
start_milter "$bad_conf" || exit 1
check "an unwritable TLSPolicyFile is logged, naming the file and the reason" \
    wait_milter_log "cannot write TLSPolicyFile $W/tls-missing/policy: cannot create a temporary file in its directory: No such file or directory" 10
send_mail tls-mailflows "$LOCAL" dr.e@sans-cn.mssante.fr
check "... and mail still flows" delivered tls-mailflows
mkdir -p "$W/tls-missing"
check "once the directory exists, the next poll writes it" \
    wait_milter_log "TLSPolicyFile $W/tls-missing/policy written again after an error" 10
same "... the table of the list in force" "$(pmq "$W/tls-missing/policy" chu-tls.mssante.fr)" \
    "secure match=$SINK_CN:mx2.operateur-tls.test"
stop_milter
exit 0
