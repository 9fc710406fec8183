#!/bin/bash
# t_forward_rules.sh - the per-mailbox forwarding rules in a real Redis
# (forward/rules.c), driven by tests/helpers/fwdprobe: add appends and
# deduplicates, the mode rules, refusals that write nothing, partial and
# whole deletion, listing, JSON import (append and replace), the version
# counter, concurrent writers losing nothing, a damaged rule, Redis down.
#
# Needs no Postfix and no root: only redis-server and the built helper.
set -u
. "$(dirname "$0")/../lib/harness.sh"

FWD_BIN=$BUILD/tests/fwdprobe
h_setup --redis --probe fwdprobe

A=dr.a@chu-test.mssante.fr
B=dr.b@chu-test.mssante.fr
PEER=confrere@medecin.mssante.fr

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# fwd ARGS...: output (stdout and stderr) in $OUT, status returned.
fwd() {
    OUT=$("$FWD_BIN" -r "127.0.0.1:$REDIS_PORT" "$@" 2>&1)
}

# is EXPECTED: the last output is exactly EXPECTED.
is() {
    [ "$OUT" = "$1" ] && return 0
    h_fail "got:      $OUT
expected: $1"
}

# ok_is EXPECTED ARGS...: the command succeeds with exactly that output.
ok_is() {
    local want=$1
    shift
    fwd "$@" || { h_fail "fwdprobe $* failed: $OUT"; return 1; }
    is "$want"
}

# ok_keys EXPECTED: the mssante:fwd* keys in Redis, sorted, space-separated.
ok_keys() {
    OUT=$(rcli --scan --pattern 'mssante:fwd*' | sort | tr '\n' ' ')
    is "$1"
}

# fails_with TEXT ARGS...: the command fails, saying TEXT.
fails_with() {
    local want=$1
    shift
    if fwd "$@"; then
        h_fail "fwdprobe $* succeeded: $OUT"
        return 1
    fi
    contains "$OUT" "$want"
}

check "add creates a rule" \
    ok_is "created=1 mode_changed=0 old_mode=copy added=2 present=0" \
    add "Dr.A@CHU-Test.mssante.fr" copy sec@outlook.fr "$PEER"
check "the mailbox is stored lower-cased, targets in order" \
    ok_is "$A: copy sec@outlook.fr $PEER" get "DR.A@chu-test.mssante.fr"
check "only the rule, the index and the version are written" \
    ok_keys "mssante:fwd-idx mssante:fwd-version mssante:fwd:$A "
check "add appends, and a target differing only in case is the same" \
    ok_is "created=0 mode_changed=0 old_mode=copy added=1 present=1" \
    add "$A" copy SEC@Outlook.FR accueil@gmail.com
check "add with another mode changes the mode and says so" \
    ok_is "created=0 mode_changed=1 old_mode=copy added=0 present=1" add "$A" redirect "$PEER"
check "add -k keeps the existing mode" \
    ok_is "created=0 mode_changed=0 old_mode=redirect added=1 present=0" \
    add -k "$A" copy autre@medecin.mssante.fr
check "the rule after the adds" \
    ok_is "$A: redirect sec@outlook.fr $PEER accueil@gmail.com autre@medecin.mssante.fr" get "$A"
check "add -k applies the mode to a new rule" \
    ok_is "created=1 mode_changed=0 old_mode=copy added=1 present=0" add -k "$B" copy "$PEER"

check "a malformed target is refused" fails_with 'target "bad@": empty domain' add "$A" copy ok@gmail.com bad@
check "a mailbox forwarding to itself is refused" \
    fails_with "a mailbox cannot forward to itself" add "$A" copy "DR.A@chu-test.mssante.fr"
check "the null address is refused" fails_with "the null address" add "$A" copy "<>"
check "a refused add wrote nothing" \
    ok_is "$A: redirect sec@outlook.fr $PEER accueil@gmail.com autre@medecin.mssante.fr" get "$A"
targets=()
for i in $(seq 1 30); do targets+=("t$i@gmail.com"); done
check "more than 32 targets are refused" fails_with "more than 32 targets" add "$A" copy "${targets[@]}"

v1=$("$FWD_BIN" -r "127.0.0.1:$REDIS_PORT" version)
check "del removes the targets named" ok_is "removed=1 gone=0" del "$A" Accueil@gmail.com
check "del of a target that is not there changes nothing" ok_is "removed=0 gone=0" del "$A" x@y.fr
v2=$("$FWD_BIN" -r "127.0.0.1:$REDIS_PORT" version)
check "every write bumps the version ($v1 -> $v2)" [ "$v2" -eq $((v1 + 1)) ]
check "get of several mailboxes in one round trip" \
    ok_is "$A: redirect sec@outlook.fr $PEER autre@medecin.mssante.fr
nobody@chu-test.mssante.fr: none
$B: copy $PEER" get "$A" nobody@chu-test.mssante.fr "$B"
check "list exports every rule, sorted, as JSON" ok_is '{
  "rules": [
    {
      "mailbox": "dr.a@chu-test.mssante.fr",
      "mode": "redirect",
      "targets": [
        "sec@outlook.fr",
        "confrere@medecin.mssante.fr",
        "autre@medecin.mssante.fr"
      ]
    },
    {
      "mailbox": "dr.b@chu-test.mssante.fr",
      "mode": "copy",
      "targets": [
        "confrere@medecin.mssante.fr"
      ]
    }
  ]
}' list
check "del of the last target deletes the rule" ok_is "removed=1 gone=1" del "$B" "$PEER"
check "del without targets deletes the whole rule" ok_is "removed=3 gone=1" del "$A"
check "nothing left" ok_is '{
  "rules": []
}' list
check "no key left behind but the version" \
    ok_keys "mssante:fwd-version "

# ---------------------------------------------------------------- import
cat >"$W/rules.json" <<EOF
{"rules": [
  {"mailbox": "$A", "mode": "copy", "targets": ["sec@outlook.fr"]},
  {"mailbox": "$B", "mode": "redirect", "targets": ["$PEER", "b@gmail.com"]}
]}
EOF
fwd add "$A" redirect old@gmail.com >/dev/null
check "import appends (the document's mode wins)" \
    ok_is "rules=2 created=1 added=3" import "$W/rules.json"
check "import: the rules after appending" \
    ok_is "$A: copy old@gmail.com sec@outlook.fr
$B: redirect $PEER b@gmail.com" get "$A" "$B"
cat >"$W/replace.json" <<EOF
{"rules": [{"mailbox": "$A", "mode": "redirect", "targets": ["$PEER"]}]}
EOF
check "import -R replaces the rules it names" ok_is "rules=1 created=0 added=1" import -R "$W/replace.json"
check "import -R: the named rule replaced, the others untouched" \
    ok_is "$A: redirect $PEER
$B: redirect $PEER b@gmail.com" get "$A" "$B"
printf '{"rules": [{"mailbox": "%s", "mode": "copy", "targets": ["x@gmail.com", "bad@"]}]}' "$B" \
    >"$W/bad.json"
check "an invalid document is refused as a whole" \
    fails_with 'rules[0].targets[1]: target "bad@": empty domain' import "$W/bad.json"
check "a refused import wrote nothing" ok_is "$B: redirect $PEER b@gmail.com" get "$B"

# ---------------------------------------------------------------- concurrency
# Three administrators adding 10 targets each to one mailbox at the same
# time: WATCH/MULTI/EXEC must not lose any (without it, some are lost in
# most runs).
C=cardio@chu-test.mssante.fr
for w in x y z; do
    (for i in $(seq 1 10); do
        "$FWD_BIN" -r "127.0.0.1:$REDIS_PORT" add "$C" copy "$w$i@gmail.com" >/dev/null 2>>"$W/race.err"
    done) &
done
wait
n=$(rcli HGET "mssante:fwd:$C" targets | tr ',' '\n' | grep -c '@gmail.com')
check "concurrent adds lose no target (30 expected, $n found)" [ "$n" = 30 ]
OUT=$(cat "$W/race.err" 2>/dev/null)
check "concurrent adds: no error" is ""

# ---------------------------------------------------------------- damage
rcli HSET "mssante:fwd:$A" targets 'not json' >/dev/null
check "a damaged rule is an error, not a half rule" \
    fails_with "forwarding rule of $A: targets are not a JSON array" get "$A"
check "a damaged rule can still be deleted" ok_is "removed=0 gone=1" del "$A"

# ---------------------------------------------------------------- prefix
check "RedisPrefix keeps rule sets apart" \
    ok_is "created=1 mode_changed=0 old_mode=copy added=1 present=0" \
    -x other: add "$A" copy "$PEER"
check "RedisPrefix: the default prefix does not see it" ok_is "$A: none" get "$A"

# ---------------------------------------------------------------- Redis down
port=$REDIS_PORT
stop_redis
check "Redis down: a clear error" fails_with "127.0.0.1:$port" get "$A"

exit 0
