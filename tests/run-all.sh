#!/bin/bash
# run-all.sh - run the unit and integration tests, print one line per case
# and a closing "N passed, N failed[, N skipped]".
#
#   tests/run-all.sh [-j N] [--unit | --integration] [PATTERN]
#
# Unit tests are the programs $BUILD/tests/unit/FOLDER/test_FILE (from
# tests/unit/FOLDER/test_FILE.c): each case of a program's table is a line
# "ok - unit/FOLDER/test_FILE: NAME" (tests/unit/testlib.h); a program
# that exits non-zero without a failed case is one more "not ok"; its own
# output is shown as "# " lines when anything failed.  Then the
# fuzz targets $BUILD/tests/fuzz_NAME, each replaying its committed corpus
# and regression inputs (tests/fuzz/corpus/NAME, tests/fuzz/regressions/NAME)
# as one case "fuzz/NAME".  The unit tests run one at a time (a few
# seconds in all).
# Integration tests are tests/integration/t_*.sh; each prints its own
# "ok - / not ok - / skip - " lines (see tests/lib/harness.sh).  Those that
# run a private Postfix need root and skip themselves without it
# (h_setup --postfix); the others (Redis, the configuration, the manual
# pages, the include layers...) run as any user.
# PATTERN, when given, keeps only the tests whose file name contains it.
#
# -j N runs N integration scripts at a time ("make check" passes JOBS, one
# more than the CPUs by default): most of a script's time is spent waiting
# for Postfix, Redis, Sentinel or a timeout, not on the CPU.  Each
# script's output is kept until it ends, then printed whole, so the lines
# of two scripts never mix; scripts are reported in the order they end,
# each followed by "# t_NAME.sh: Ns".  The longest start first
# (LONGEST_FIRST below).  Scripts running at the same time get disjoint
# port ranges (MSSANTE_PORT_RANGE, read by free_port); everything else a
# script uses is its own already (a private work directory, its own
# Postfix, Redis and daemon, no fixed port, no system file).  A script
# that cannot share the machine says so in its header with a line
#   # run-all: serial WHY
# and runs alone once the others are done (none needs it today).
# Without -j (or -j 1) the scripts run one at a time, in alphabetical
# order.
#
# Exit status: 0 when nothing failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
export BUILD=${BUILD:-build}

run_unit=1
run_integration=1
pattern=
JOBS=1
while [ $# -gt 0 ]; do
    case $1 in
        --unit)        run_integration=0 ;;
        --integration) run_unit=0 ;;
        -j)            JOBS=${2:-}; shift ;;
        -j*)           JOBS=${1#-j} ;;
        -h|--help)     sed -n '2,/^set -u/p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
        -*)            echo "run-all.sh: unknown option $1" >&2; exit 2 ;;
        *)             pattern=$1 ;;
    esac
    shift
done
case $JOBS in
    ''|*[!0-9]*|0) echo "run-all.sh: -j wants a number of scripts at a time (1 or more)" >&2; exit 2 ;;
esac
if [ "$JOBS" -gt 1 ] && { [ "${BASH_VERSINFO[0]}" -lt 5 ] ||
                          { [ "${BASH_VERSINFO[0]}" = 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; }; then
    echo "run-all.sh: -j needs bash 5.1 (wait -n -p); running one script at a time" >&2
    JOBS=1
fi

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

# ---------------------------------------------------------------- integration

# Longest scripts first, so that with -j the run does not end on one long
# script started last.  Serial times of a recent "make check": t_soak 324 s,
# t_nodes_failover 106, t_nodes 69, t_sentinel_failover 48, t_forwarding
# 34, t_whitelist_fetch 30, t_redis_access 30, t_startup 27; the others
# take under 25 s.  Only the start order depends on this list: a stale or
# missing name costs time, never a result.  (Serial runs keep the
# alphabetical order.)
LONGEST_FIRST=(t_soak t_nodes_failover t_nodes t_sentinel_failover t_forwarding
               t_whitelist_fetch t_redis_access t_startup)

# runs_alone SCRIPT: its header has a "# run-all: serial REASON" line: it
# cannot share the machine with another script (see the header above).
runs_alone() { grep -q '^# run-all: serial' "$1"; }

# job_start SCRIPT [PORT-RANGE]: SCRIPT in a session of its own, bounded in
# time, its output into a file of its own; sets JOB_PID.  Whatever it leaves
# behind in that session (a server its trap missed) is killed by job_end,
# so that a straggler can neither hang this runner nor leak into the next
# script.  PORT-RANGE ("LO-HI", for free_port in tests/lib/harness.sh)
# keeps the ports of scripts running at the same time apart.
declare -A JOB_SCRIPT=() JOB_LOG=() JOB_START=() JOB_SLOT=()
job_start() {
    local t=$1 range=${2:-} log
    log=$(mktemp /tmp/mssante-it-log.XXXXXX)
    MSSANTE_PORT_RANGE=$range setsid timeout -k 10 "$TEST_TIMEOUT" bash "$t" \
        >"$log" 2>&1 </dev/null &
    JOB_PID=$!
    JOB_SCRIPT[$JOB_PID]=$t
    JOB_LOG[$JOB_PID]=$log
    JOB_START[$JOB_PID]=$(date +%s)
}

# job_end PID RC: the script is done; kill what is left of its session,
# print its output whole (never mixed with another script's) and tally it.
# Anything that is not a protocol line (stray stderr) is shown as a comment.
job_end() {
    local pid=$1 rc=$2 name line saw_fail=0
    name=$(basename "${JOB_SCRIPT[$pid]}")
    pkill -KILL -s "$pid" 2>/dev/null
    while IFS= read -r line; do
        case $line in
            "ok - "*|"not ok - "*|"skip - "*|"#"*) ;;
            *) line="# $line" ;;
        esac
        echo "$line"
        count "$line"
        case $line in "not ok - "*) saw_fail=1 ;; esac
    done <"${JOB_LOG[$pid]}"
    rm -f "${JOB_LOG[$pid]}"
    [ "$rc" = 124 ] && echo "# $name: killed after ${TEST_TIMEOUT}s"
    # A script that died without saying why still counts as a failure.
    if [ "$rc" != 0 ] && [ "$saw_fail" = 0 ]; then
        line="not ok - $name exited with status $rc"
        echo "$line"
        count "$line"
    fi
    echo "# $name: $(($(date +%s) - JOB_START[$pid]))s"
    unset "JOB_SCRIPT[$pid]" "JOB_LOG[$pid]" "JOB_START[$pid]" "JOB_SLOT[$pid]"
}

# run_serial SCRIPT...: one after the other, each with the whole port range.
run_serial() {
    local t
    for t in "$@"; do
        job_start "$t"
        wait "$JOB_PID"
        job_end "$JOB_PID" $?
    done
}

# run_parallel SCRIPT...: JOBS at a time, in the order given.  Running
# script number k holds slot k, and the slot a range of ports of its own.
run_parallel() {
    local queue=("$@") busy=() slot size pid rc lo
    size=$((12000 / JOBS))
    while [ ${#queue[@]} -gt 0 ] || [ ${#JOB_SCRIPT[@]} -gt 0 ]; do
        while [ ${#queue[@]} -gt 0 ] && [ ${#JOB_SCRIPT[@]} -lt "$JOBS" ]; do
            for ((slot = 0; slot < JOBS; slot++)); do
                [ -z "${busy[slot]:-}" ] && break
            done
            lo=$((20000 + slot * size))
            job_start "${queue[0]}" "$lo-$((lo + size - 1))"
            busy[slot]=1
            JOB_SLOT[$JOB_PID]=$slot
            queue=("${queue[@]:1}")
        done
        pid=
        wait -n -p pid
        rc=$?
        [ -n "$pid" ] || continue
        slot=${JOB_SLOT[$pid]}
        busy[slot]=
        job_end "$pid" "$rc"
    done
}

# On an interrupt, every process of the sessions still running gets
# SIGTERM (the scripts' traps stop what they started, a script's script
# too: tests/soak/soak.sh) but timeout(1) itself, which would SIGKILL its
# script 10 s later, in the middle of its clean-up; then they are waited
# for.
stop_jobs() {
    local pid
    for pid in "${!JOB_SCRIPT[@]}"; do
        # shellcheck disable=SC2046  # one pid per word
        kill -TERM $(pgrep -s "$pid" | grep -v -x "$pid") 2>/dev/null
    done
    wait
    for pid in "${!JOB_SCRIPT[@]}"; do
        pkill -KILL -s "$pid" 2>/dev/null
    done
    rm -f "${JOB_LOG[@]}"
    exit 130
}

if [ "$run_integration" = 1 ]; then
    TEST_TIMEOUT=${MSSANTE_TEST_TIMEOUT:-900}
    trap stop_jobs INT TERM
    scripts=()
    for t in tests/integration/t_*.sh; do
        [ -f "$t" ] || continue
        wanted "$t" || continue
        scripts+=("$t")
    done
    t0=$(date +%s)
    if [ "$JOBS" -le 1 ]; then
        run_serial "${scripts[@]}"
    else
        together=()
        alone=()
        for name in "${LONGEST_FIRST[@]}"; do
            for t in "${scripts[@]}"; do
                [ "$t" = "tests/integration/$name.sh" ] && together+=("$t")
            done
        done
        for t in "${scripts[@]}"; do
            [[ " ${together[*]} " == *" $t "* ]] && continue
            together+=("$t")
        done
        for i in "${!together[@]}"; do
            if runs_alone "${together[i]}"; then
                alone+=("${together[i]}")
                unset "together[i]"
            fi
        done
        run_parallel "${together[@]}"
        run_serial "${alone[@]}"
    fi
    echo "# integration: $(($(date +%s) - t0))s, $JOBS at a time"
fi

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
