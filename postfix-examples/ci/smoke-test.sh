#!/bin/bash
# smoke-test.sh - a few messages through a running Postfix + mssante-milter
# (the compose stack, or any test set-up), each checked against the verdict
# the trust-space rules give with the image's sample whitelist.
#
#   postfix-examples/ci/smoke-test.sh HOST PORT [LOCAL_DOMAIN]
#
# Prints one "ok - " / "not ok - " line per message (with the server's
# reply when it is not the expected one) and exits non-zero on a failure.
# Needs swaks.  LOCAL_DOMAIN is one of the stack's LocalDomains
# (default chu-test.mssante.fr); medecin.mssante.fr and
# chu-lille.mssante.fr must be on the whitelist in force.
set -u

if [ $# -lt 2 ]; then
    echo "usage: smoke-test.sh HOST PORT [LOCAL_DOMAIN]" >&2
    exit 2
fi
host=$1
port=$2
local_mailbox=dr.martin@${3:-chu-test.mssante.fr}
failed=0

# send NAME EXPECT FROM TO[,TO...]: EXPECT is "accept", or the start of
# the refusal, e.g. "550 5.7.1".
send() {
    local name=$1 expect=$2 from=$3 to=$4 out rc refusal
    out=$(swaks --server "$host:$port" --timeout 30 --helo smoke-test.invalid \
              --from "$from" --to "$to" --header "Subject: smoke test: $name" \
              --body "mssante-milter smoke test: $name" 2>&1)
    rc=$?
    refusal=$(grep -m1 '^<\*\* ' <<<"$out" | sed 's/^<\*\* *//')
    if [ "$expect" = accept ]; then
        if [ "$rc" = 0 ] && grep -q '^<-  250 .*queued as' <<<"$out"; then
            echo "ok - $name"
            return
        fi
    elif [ "$rc" != 0 ] && [ "${refusal#"$expect"}" != "$refusal" ]; then
        echo "ok - $name"
        return
    fi
    echo "not ok - $name"
    echo "# expected: $expect; swaks exit status $rc; refusal: ${refusal:-none}"
    grep -E '^(<-|<\*\*|\*\*\*)' <<<"$out" | tail -5 | sed 's/^/# /'
    failed=$((failed + 1))
}

send "outbound to an MSSante address is accepted" accept \
    "$local_mailbox" confrere@medecin.mssante.fr
send "outbound to a classic address is refused" "550 5.7.1" \
    "$local_mailbox" secretariat@outlook.fr
send "a mixed recipient list is refused as a whole" "550 5.7.1" \
    "$local_mailbox" confrere@medecin.mssante.fr,secretariat@outlook.fr
send "outbound to a lookalike domain is refused" "550 5.7.1" \
    "$local_mailbox" dr.x@interop-mssante.apycrypt.org
send "inbound from a classic domain is refused" "550 5.7.1" \
    someone@gmail.com "$local_mailbox"
send "inbound from a listed domain is accepted" accept \
    dr.durand@chu-lille.mssante.fr "$local_mailbox"

[ "$failed" = 0 ]
