#!/bin/bash
# t_layers.sh - how the parts connect, checked on the files themselves:
#   - no folder includes a folder above it or beside it, and no include
#     cycle (tests/lib/layers.sh, which is shown failing first, with the
#     file and line of each offence, on a scratch tree built to break it);
#   - only the libmilter glue (milter/), and the benches and tests that
#     drive it, include <libmilter/...>;
#   - the core library references no smfi_* function, and mssantectl does
#     not link libmilter (ldd) while the daemon does.
# Needs neither root nor Postfix.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init

LAYERS=$H_ROOT/tests/lib/layers.sh

# ---------------------------------------------------------------- the check itself

# A scratch tree with one offence of each kind.
S=$W/tree
mkdir -p "$S/common" "$S/policy" "$S/pipeline" "$S/newdir"
printf '/* up */\n#include "policy/rule.h"\n' >"$S/common/log.h"
printf '#include "common/log.h"\n' >"$S/policy/rule.h"
printf '#include "policy/b.h"\n' >"$S/policy/a.h"
printf '#include "a.h"\n' >"$S/policy/b.h"
printf '#include "common/log.h"\n#include "pipeline/pipeline.h"\n' >"$S/pipeline/pipeline.c"
: >"$S/pipeline/pipeline.h"
printf '#include "common/log.h"\n' >"$S/newdir/x.c"
out=$("$LAYERS" "$S")
rc=$?
check "layers.sh fails on a broken tree" test "$rc" = 1
check "layers.sh names the file and line of an upward include" \
    contains "$out" "common/log.h:2: common/ (rank 0) includes policy/rule.h"
check "layers.sh finds a cycle between two files" contains "$out" "include cycle between files"
cycle=$(grep 'include cycle' <<<"$out")
check "layers.sh names both files of the cycle" \
    test "$(grep -o 'policy/[ab]\.h' <<<"$cycle" | sort -u | wc -l)" = 2
check "layers.sh refuses a folder with no rank" contains "$out" "newdir/x.c:1: folder \"newdir\" has no rank"
check "layers.sh lets a folder include a lower one and itself" \
    test "$(grep -c '^pipeline/' <<<"$out")" = 0

# ---------------------------------------------------------------- the tree

out=$("$LAYERS" "$H_ROOT")
rc=$?
if [ "$rc" = 0 ] && [ -z "$out" ]; then
    ok "no upward include and no include cycle in the source tree"
else
    not_ok "no upward include and no include cycle in the source tree" "$out"
fi

# Every <libmilter/...> include, but those of milter/, bench/ and tests/.
stray=$(cd "$H_ROOT" && grep -rn --include='*.[ch]' '^[[:space:]]*#[[:space:]]*include[[:space:]]*<libmilter/' . |
        sed 's|^\./||' | grep -Ev '^(milter|bench|tests|build[^/]*)/')
check "only milter/ (and the benches and tests driving it) include libmilter" \
    test -z "$stray" || note "$stray"

# ---------------------------------------------------------------- the binaries

if [ ! -f "$BUILD/libmssante.a" ] || [ ! -x "$CTL_BIN" ] || [ ! -x "$MILTER_BIN" ]; then
    not_ok "the binaries are built" "build first: make BUILD=$BUILD"
    exit 1
fi
smfi=$(nm -u "$BUILD/libmssante.a" 2>/dev/null | grep -w 'smfi_[a-z_]*' | sort -u)
check "libmssante.a references no smfi_* function" test -z "$smfi" || note "$smfi"
if command -v ldd >/dev/null 2>&1; then
    check "mssante-milter links libmilter (so the ldd check can see it)" \
        contains "$(ldd "$MILTER_BIN")" "libmilter"
    ctl_libs=$(ldd "$CTL_BIN")
    check "mssantectl does not link libmilter (ldd)" test -n "$ctl_libs" -a \
        "$(grep -c libmilter <<<"$ctl_libs")" = 0 || note "$ctl_libs"
else
    skip "mssantectl does not link libmilter (ldd)" "ldd is not installed"
fi
