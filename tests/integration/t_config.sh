#!/bin/bash
# t_config.sh - "mssante-milter -n" checks a configuration and reports every
# error at once, each naming the file and the line; -V prints the version.
# Needs neither root nor Postfix.
set -u
. "$(dirname "$0")/../lib/harness.sh"
[ -x "$MILTER_BIN" ] || { not_ok "t_config.sh: $MILTER_BIN exists" "build first"; exit 1; }
h_init
# -n connects to the Redis the configuration names: give it one.
start_redis || exit 1

good=$W/good.conf
cat >"$good" <<EOF
# a complete, valid configuration
Socket          inet:8895@127.0.0.1
LocalDomains    chu-test.mssante.fr, autre-site.chu-test.mssante.fr
PatientDomain   patient.mssante.fr
WhitelistFile   $FIXTURES/it-list.xml
Redis           127.0.0.1:$REDIS_PORT
RedisTimeout    2s
SnapshotFile    $W/snapshot
LogPatientIdKeyFile $W/logid.key
HeldKeyFile $W/held.key
WhitelistPoll   10s
DryRun          no
LogLevel        info
EOF

bad=$W/bad.conf
cat >"$bad" <<'EOF'
# line 1: comment
LocalDomains chu-test.mssante.fr
NoSuchKey yes
WhitelistPoll soon
DryRun perhaps

Redis not a redis endpoint
LogLevel chatty
EOF

out=$("$MILTER_BIN" -n -c "$good" 2>&1)
check "-n on a valid configuration exits 0" test $? = 0
check "-n says it reached Redis" contains "$out" "# Redis: connected to 127.0.0.1:$REDIS_PORT"

# A configuration that names a Redis nobody answers on is not good.
free_port DEAD_PORT
sed "s/^Redis .*/Redis 127.0.0.1:$DEAD_PORT/" "$good" >"$W/dead.conf"
out=$("$MILTER_BIN" -n -c "$W/dead.conf" 2>&1)
rc=$?
check "-n with Redis unreachable exits non-zero" test "$rc" != 0
check "-n with Redis unreachable names the server and why" \
    contains "$out" "redis 127.0.0.1:$DEAD_PORT: Connection refused"
check "-n with Redis unreachable does not call the configuration OK" \
    test -z "$(grep -F 'configuration OK' <<<"$out")"

out=$("$MILTER_BIN" -n -c "$bad" 2>&1)
rc=$?
check "-n on a bad configuration exits non-zero" test "$rc" != 0
for line in 3 4 5 7 8; do
    check "-n reports the error on bad.conf line $line" contains "$out" "$bad:$line:"
done
for line in 1 2 6; do
    check "-n reports nothing on valid line $line" \
        test -z "$(grep -F "$bad:$line:" <<<"$out")"
done

out=$("$MILTER_BIN" -n -c "$W/missing.conf" 2>&1)
rc=$?
check "-n on a missing file exits non-zero" test "$rc" != 0
check "-n on a missing file names it" contains "$out" "$W/missing.conf"

out=$("$MILTER_BIN" -V 2>&1)
check "-V prints the version" grep -q -E '[0-9]+\.[0-9]+\.[0-9]+' <<<"$out"
