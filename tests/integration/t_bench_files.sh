#!/bin/bash
# t_bench_files.sh - the benchmark's scratch files are never written
# through a planted link (issue 13).
#
# bench/wlswap writes DIR/wlswap-SIZE.xml, a predictable name, in /tmp by
# default, and bench/run.sh is run as root.  It used to fopen(path, "w"):
# a symlink planted at that name made it overwrite any file.  Here links
# to a file that must not change are planted at the names of the sizes
# asked for (one dangling, to a file that must not appear): the run
# succeeds, the planted target keeps its content, the dangling target is
# not created, and the names hold regular files (kept with --keep).
set -u
. "$(dirname "$0")/../lib/harness.sh"
WLSWAP=$BUILD/bench/wlswap
[ -x "$WLSWAP" ] || h_skip_all "$WLSWAP is not built (make check builds it)"
h_init

D=$W/shared
mkdir -p "$D"
PRECIOUS=$W/precious
printf 'do not overwrite me\n' >"$PRECIOUS"
ln -s "$PRECIOUS" "$D/wlswap-64.xml"
ln -s "$W/created-through-link" "$D/wlswap-100.xml"

out=$("$WLSWAP" -d "$D" -s 64,100 -t 1 --keep 2>&1)
rc=$?
check "wlswap runs with links planted at its file names" test "$rc" = 0 || note "$out"
check "the file a planted link points to keeps its content" \
    eval 'test "$(cat "$PRECIOUS")" = "do not overwrite me"'
check "no file appears where a dangling planted link points" test ! -e "$W/created-through-link"
regular() {
    local f
    for f in "$D/wlswap-64.xml" "$D/wlswap-100.xml"; do
        [ -f "$f" ] && [ ! -L "$f" ] || { h_fail "$f is not a regular file"; return 1; }
        grep -q '<ListeBlancheMSSante' "$f" || { h_fail "$f is not the generated list"; return 1; }
    done
}
check "the names now hold the generated lists, as regular files" regular
exit 0
