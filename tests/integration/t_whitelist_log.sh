#!/bin/bash
# t_whitelist_log.sh - what a sysadmin is told about the whitelist (issue
# 16): an entry the list goes without is named (mssantectl whitelist load,
# the daemon's log when it reads WhitelistFile or seeds Redis with it),
# and loading the very list in force publishes no new version; through a
# real Postfix, the domains of the list that was loaded are the ones mail
# is judged by.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
h_init

start_redis || exit 1
start_capsink || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

LOCAL=dr.martin@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr
rcli() { redis-cli -p "$REDIS_PORT" --raw "$@"; }

# The test list with two entries it must go without: a <Nom> that is no
# domain name (the 9th entry), a <Domaine> with no <Nom> (the 10th).
LIST=$W/skipped-list.xml
sed 's|</ListeDomaines>|    <Domaine>\
      <Nom>pas un domaine!</Nom>\
      <DNCertificatOperateur>CN=mx9.operateur-test.invalid,O=TEST,C=FR</DNCertificatOperateur>\
    </Domaine>\
    <Domaine>\
      <Description>sans nom</Description>\
    </Domaine>\
  </ListeDomaines>|' "$FIXTURES/it-list.xml" >"$LIST"

# ---------------------------------------------------------------- mssantectl

conf=$W/milter/wl.conf
milter_conf "$conf"
cat >>"$conf" <<EOF
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 500ms
WhitelistPoll 1s
EOF

out=$(ctl -c "$conf" whitelist load "$LIST" 2>&1)
rc=$?
check "whitelist load of a list with two bad entries: published (exit 0)" test "$rc" = 0
check "... names the <Nom> that is no domain, with its entry number and why" \
    contains "$out" 'entry 9: <Nom> "pas un domaine!": not a valid domain name'
check "... and the <Domaine> without <Nom>" contains "$out" 'entry 10: <Domaine> "": no <Nom>'
V1=$(rcli get mssante:wl:current)
check "version 1 in force" test "$V1" = 1

out=$(ctl -c "$conf" whitelist load "$LIST" 2>&1)
rc=$?
check "the same list again: exit 0, \"unchanged\", nothing published" \
    eval '[ "$rc" = 0 ] && grep -q "unchanged: version 1 in force is this very list; nothing published" <<<"$out"'
check "... the version in force is still 1" test "$(rcli get mssante:wl:current)" = 1
check "... no version 2 in Redis" test -z "$(rcli keys 'mssante:wl:v:2:*')"
out=$(ctl -c "$conf" --json whitelist load "$LIST" 2>&1)
check "--json says unchanged too" contains "$out" '"unchanged": true'

ctl -c "$conf" whitelist load "$FIXTURES/it-list-v2.xml" >/dev/null 2>&1
check "another list: version 2" test "$(rcli get mssante:wl:current)" = 2
ctl -c "$conf" whitelist load "$LIST" >/dev/null 2>&1
check "the first list again, no longer the one in force: published as version 3" \
    test "$(rcli get mssante:wl:current)" = 3

# ---------------------------------------------------------------- the daemon's log

# WhitelistFile alone (no Redis): the daemon names what it skipped.
fconf=$W/milter/wl-file.conf
milter_conf "$fconf"
echo "WhitelistFile $LIST" >>"$fconf"
start_milter "$fconf" || exit 1
check "the daemon reading WhitelistFile names the skipped entries" \
    wait_milter_log "warning: whitelist $LIST: 2 entries skipped: entry 9: <Nom> \"pas un domaine!\": not a valid domain name; entry 10: <Domaine> \"\": no <Nom>"
send_mail file-list "$LOCAL" "$PEER"
check "mail is judged by that list: an MSSante recipient accepted" \
    assert_reply "$LAST_TRANSCRIPT" "." '^250 '
stop_milter quiet

# Redis empty under the prefix: the daemon seeds it from WhitelistFile.
sconf=$W/milter/wl-seed.conf
milter_conf "$sconf"
cat >>"$sconf" <<EOF
WhitelistFile $LIST
Redis 127.0.0.1:$REDIS_PORT
RedisPrefix seed:
RedisTimeout 500ms
EOF
start_milter "$sconf" || exit 1
check "seeding Redis from WhitelistFile: the skipped entries named" \
    wait_milter_log "warning: whitelist $LIST: 2 entries skipped: entry 9: "
check "... and the list published" wait_milter_log "Redis held no whitelist: published $LIST as version 1"
send_mail seeded "$LOCAL" "$PEER"
check "mail flows on the seeded list" assert_reply "$LAST_TRANSCRIPT" "." '^250 '
stop_milter
exit 0
