#!/bin/bash
# run-all.sh - run the unit and integration tests, print one line per case
# and a closing "N passed, N failed[, N skipped]".
#
#   tests/run-all.sh [--unit | --integration] [PATTERN]
#
# Unit tests are the programs $BUILD/tests/unit/FOLDER/test_FILE (from
# tests/unit/FOLDER/test_FILE.c): each case of a program's table is a line
# "ok - unit/FOLDER/test_FILE: NAME" (tests/unit/testlib.h); a program
# that exits non-zero without a failed case is one more "not ok"; its own
# output is shown as "# " lines when anything failed.  Then the
# fuzz targets $BUILD/tests/fuzz_NAME, each replaying its committed corpus
# and regression inputs (tests/fuzz/corpus/NAME, tests/fuzz/regressions/NAME)
# as one case "fuzz/NAME".
# Integration tests are tests/integration/t_*.sh; each prints its own
# "ok - / not ok - / skip - " lines (see tests/lib/harness.sh).  Those that
# run a private Postfix need root and skip themselves without it
# (h_setup --postfix); the others (Redis, the configuration, the manual
# pages, the include layers...) run as any user.
# PATTERN, when given, keeps only the tests whose file name contains it.
#
# Exit status: 0 when nothing failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
export BUILD=${BUILD:-build}

run_unit=1
run_integration=1
pattern=
for arg in "$@"; do
    case $arg in
        --unit)        run_integration=0 ;;
        --integration) run_unit=0 ;;
        -h|--help)     sed -n '2,15p' "$0"; exit 0 ;;
        -*)            echo "run-all.sh: unknown option $arg" >&2; exit 2 ;;
        *)             pattern=$arg ;;
    esac
done

passed=0
failed=0
skipped=0
out=$(mktemp /tmp/mssante-run.XXXXXX)
trap 'rm -f "$out"' EXIT

# count LINE: tally one protocol line.
count() {
    case $1 in
        "ok - "*)     passed=$((passed + 1)) ;;
        "not ok - "*) failed=$((failed + 1)) ;;
        "skip - "*)   skipped=$((skipped + 1)) ;;
    esac
}

# wanted NAME: NAME (a unit test's FOLDER/test_FILE, or a file name)
# contains PATTERN.
wanted() {
    [ -z "$pattern" ] && return 0
    case $1 in
        unit/*) [[ ${1#unit/} == *"$pattern"* ]] ;;
        *)      [[ $(basename "$1") == *"$pattern"* ]] ;;
    esac
}

if [ "$run_unit" = 1 ]; then
    found=0
    for t in "$BUILD"/tests/unit/*/test_*; do
        case $t in *.o|*.d) continue ;; esac
        [ -x "$t" ] || continue
        name=unit/${t#"$BUILD"/tests/unit/}
        wanted "$name" || continue
        found=1
        MSSANTE_FIXTURES=$ROOT/tests/fixtures "$t" >"$out" 2>&1
        rc=$?
        if [ "$rc" = 77 ]; then                             # automake's "skipped"
            line="skip - $name # $(tail -n 1 "$out")"
            echo "$line"
            count "$line"
            continue
        fi
        # Each named case of the program's table, as "unit/FOLDER/test_FILE: NAME".
        saw_fail=0
        while IFS= read -r line; do
            case $line in
                "ok - "*)     line="ok - $name: ${line#ok - }" ;;
                "not ok - "*) line="not ok - $name: ${line#not ok - }"; saw_fail=1 ;;
                *)            continue ;;
            esac
            echo "$line"
            count "$line"
        done <"$out"
        if [ "$rc" != 0 ] && [ "$saw_fail" = 0 ]; then
            line="not ok - $name exited with status $rc"
            echo "$line"
            count "$line"
            saw_fail=1
        fi
        [ "$saw_fail" = 1 ] && sed 's/^/# /' "$out" | tail -40
    done
    if [ "$found" = 0 ] && [ -z "$pattern" ]; then
        line="not ok - unit tests built in $BUILD/tests/unit"
        echo "$line"
        count "$line"
    fi
    # Fuzz targets, built with a plain main() (tests/fuzz/replay.c).
    for t in "$BUILD"/tests/fuzz_*; do
        [ -x "$t" ] || continue
        wanted "$t" || continue
        target=$(basename "$t")
        target=${target#fuzz_}
        inputs=()
        for d in "tests/fuzz/corpus/$target" "tests/fuzz/regressions/$target"; do
            [ -d "$d" ] && inputs+=("$d")
        done
        if [ ${#inputs[@]} = 0 ]; then
            line="not ok - fuzz/$target # no corpus in tests/fuzz/corpus/$target"
        elif { "$t" "${inputs[@]}" >"$out" 2>&1 </dev/null; } 2>/dev/null; then
            line="ok - fuzz/$target # $(tail -n 1 "$out")"
        else
            line="not ok - fuzz/$target"
        fi
        echo "$line"
        count "$line"
        case $line in not*) sed 's/^/# /' "$out" | tail -40 ;; esac
    done
fi

if [ "$run_integration" = 1 ]; then
    for t in tests/integration/t_*.sh; do
        [ -f "$t" ] || continue
        wanted "$t" || continue
        name=$(basename "$t")
        start=$(date +%s)
        saw_fail=0
        # Each script runs in a session of its own, bounded in time; whatever
        # it leaves behind in that session (a server its trap missed) is
        # killed afterwards, so a straggler can neither hang this runner nor
        # leak into the next script.
        log=$(mktemp /tmp/mssante-it-log.XXXXXX)
        setsid timeout -k 10 "${MSSANTE_TEST_TIMEOUT:-900}" bash "$t" >"$log" 2>&1 </dev/null &
        sid=$!
        wait "$sid"
        rc=$?
        pkill -KILL -s "$sid" 2>/dev/null
        # Anything that is not a protocol line (stray stderr) is shown as a comment.
        while IFS= read -r line; do
            case $line in
                "ok - "*|"not ok - "*|"skip - "*|"#"*) ;;
                *) line="# $line" ;;
            esac
            echo "$line"
            count "$line"
            case $line in "not ok - "*) saw_fail=1 ;; esac
        done <"$log"
        rm -f "$log"
        [ "$rc" = 124 ] && echo "# $name: killed after ${MSSANTE_TEST_TIMEOUT:-900}s"
        # A script that died without saying why still counts as a failure.
        if [ "$rc" != 0 ] && [ "$saw_fail" = 0 ]; then
            line="not ok - $name exited with status $rc"
            echo "$line"
            count "$line"
        fi
        echo "# $name: $(($(date +%s) - start))s"
    done
fi

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
