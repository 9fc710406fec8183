#!/bin/bash
# t_soak.sh - the fault-injection soak (tests/soak/soak.sh) in its short
# form: 1500 mixed messages (SOAK_CI_MESSAGES to change it) through a real
# Postfix and the daemon while the whole list of faults is injected on a
# compressed schedule, then every message reconciled.  `make soak` runs
# the full one (10,000 messages) by hand.
#
# Cases: the reconciliation's last line is all zeros; every fault was
# injected; nothing is left in the Postfix queue but the messages meant to
# be held, and every hold is one of those; the daemon's whitelist refresh
# thread kept fetching through the server faults; no notice is missing; the
# daemon never died but when the soak killed it; no sanitizer report (under
# SAN=1); the reconciliation finds the faults planted in a copy of the sink.
# The soak's fault lines and totals are shown as "# " lines.
# shellcheck disable=SC2317  # the assertions are called through check
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
h_require_tools smtp-source postkick postcat openssl
[ -x /usr/bin/python3 ] || h_skip_all "/usr/bin/python3 is not installed"

out=$(mktemp /tmp/mssante-soak-out.XXXXXX)
err=$(mktemp /tmp/mssante-soak-err.XXXXXX)
trap 'rm -f "$out" "$err"' EXIT

bash "$H_ROOT/tests/soak/soak.sh" --messages "${SOAK_CI_MESSAGES:-1500}" --schedule short \
    >"$out" 2>"$err"
rc=$?
note "$(cat "$out")"

# has ERE: some line of the soak's output matches; hasnt ERE: none does.
has() {
    grep -E -q -- "$1" "$out" && return 0
    h_fail "no line matching /$1/ in the soak's output; soak.sh exit status $rc, its log ends with:
$(tail -15 "$err")"
}
hasnt() {
    grep -E -q -- "$1" "$out" || return 0
    h_fail "$(grep -E -- "$1" "$out" | head -20)"
}
fault_lines() {
    local n
    n=$(grep -c '^fault ' "$out")
    [ "$n" = 16 ] || h_fail "$n fault line(s), expected 16; soak.sh log ends with:
$(tail -15 "$err")"
}
exit_status() { [ "$rc" = 0 ] || h_fail "soak.sh exit status $rc"; }

check "soak: lost=0 wrong_accept=0 wrong_refuse=0 duplicated=0" \
    has '^lost=0 wrong_accept=0 wrong_refuse=0 duplicated=0$'
check "soak: the 16 faults were injected" fault_lines
check "soak: every held message is one the rules hold, none unexpected" hasnt 'UNEXPECTED'
check "soak: nothing left in the Postfix queue but held messages" hasnt '^still queued='
check "soak: the daemon's refresh thread met each failing whitelist server" hasnt 'STALLED'
# The key names come from the daemon's Redis layout: if they change, these
# faults would silently alter nothing.
check "soak: each wrong-type fault found keys of the daemon to alter" \
    hasnt ': 0 key\(s\) of the wrong type'
check "soak: every captured message is one of the soak's, a bounce or a notice" \
    hasnt 'unmatched sink file'
check "soak: no notice missing" has '^notices .* missing=0 '
check "soak: the daemon died only when killed" has '^daemon: .*crashes=0$'
check "soak: no sanitizer report" has '^sanitizer reports: 0$'
check "soak: the reconciliation counts a planted duplicate, loss and wrong delivery" \
    has '^reconciler self-check: ok'
check "soak.sh exits 0" exit_status
exit 0
