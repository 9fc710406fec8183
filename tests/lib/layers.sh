#!/bin/bash
# layers.sh - the include rule of the source tree, checked over its
# '#include "..."' lines.
#
#   tests/lib/layers.sh [ROOT]
#
# Each product folder has a rank; a file may include a file of its own
# folder or of a folder of a LOWER rank, never one of the same rank or
# above.  The ranks are the layers of README.md ("How the code is laid
# out"), lowest first:
#
#   0  common/                      log, err, strbuf, clock, Redis connector
#   1  policy/                      pure decisions, no I/O
#   2  whitelist/ conversation/ forward/ notify/   each owns its state
#   3  stats/ audit/                counters over the whitelist; forward audit
#   4  pipeline/                    one message's fate
#   5  config/                      the key table, composing every settings struct
#   6  milter/ ctl/                 the daemon's libmilter glue; mssantectl
#
# tests/ and bench/ drive the product from above and may include anything
# (they are not checked).  A folder holding .c or .h files with no rank
# here is an error: a new folder gets its line in this table.
#
# Also fails on any include cycle between files (an include guard hides
# one from the compiler, not from a reader).
#
# Output: one line per offence, "file:line: what", on standard output;
# exit status 0 when there is none, 1 otherwise, 2 on a usage error.
set -u

ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 2

declare -A RANK=(
    [common]=0
    [policy]=1
    [whitelist]=2 [conversation]=2 [forward]=2 [notify]=2
    [stats]=3 [audit]=3
    [pipeline]=4
    [config]=5
    [milter]=6 [ctl]=6
)
# Folders that are no part of the layered product.
SKIP='^(tests|bench|build[^/]*|debian|contrib|man|postfix-examples|\.[^/]*)/'

bad=0
offence() { echo "$1"; bad=1; }

# Every source file of the product, relative to ROOT.
mapfile -t files < <(find . -path ./.git -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print |
                     sed 's|^\./||' | grep -Ev "$SKIP" | sort)

# resolve FROM NAME: the file '#include "NAME"' in FROM means (-I. and the
# including file's own folder, as the compiler looks), or nothing.
resolve() {
    local dir
    dir=$(dirname "$1")
    if [ -f "$dir/$2" ]; then
        realpath -m --relative-to=. "$dir/$2"
    elif [ -f "$2" ]; then
        realpath -m --relative-to=. "$2"
    fi
}

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for f in "${files[@]}"; do
    from=${f%%/*}
    if [ "$from" = "$f" ] || [ -z "${RANK[$from]+x}" ]; then
        offence "$f:1: folder \"${from%"$f"}\" has no rank in tests/lib/layers.sh"
        continue
    fi
    while IFS=: read -r line name; do
        name=${name#*\"}
        name=${name%%\"*}
        target=$(resolve "$f" "$name")
        if [ -z "$target" ]; then
            offence "$f:$line: \"$name\" not found"
            continue
        fi
        echo "$f $target" >>"$edges"
        to=${target%%/*}
        [ "$to" = "$from" ] && continue
        if [ -z "${RANK[$to]+x}" ]; then
            offence "$f:$line: includes $target, outside the layered folders"
        elif [ "${RANK[$to]}" -ge "${RANK[$from]}" ]; then
            offence "$f:$line: $from/ (rank ${RANK[$from]}) includes $target ($to/, rank ${RANK[$to]})"
        fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
done

# Cycles between files: tsort names the files of each loop it finds.
loop=$(tsort "$edges" 2>&1 >/dev/null | sed -n 's/^tsort: //p' | grep -v 'input contains a loop')
if [ -n "$loop" ]; then
    offence "include cycle between files: $(echo "$loop" | tr '\n' ' ')"
fi
exit "$bad"
