#!/bin/bash
# run.sh - run every libFuzzer target of tests/fuzz/ for a while; one line
# per target: "ok" or the crash and where its input is.  "make fuzz" builds
# the targets (clang, into build-fuzz/) and runs this.
#
#   tests/fuzz/run.sh [TARGET...]        (default: every target built)
#
# Environment:
#   FUZZ_SECONDS  how long each target runs (default 60)
#   FUZZ_JOBS     how many run at once (default 2: the machines have 2 cores)
#   FUZZ_BUILD    where the targets were built (default build-fuzz)
#   FUZZ_OUT      where each run's log, new inputs and crashes go (default
#                 $FUZZ_BUILD/runs); a crash's input is FUZZ_OUT/TARGET/crash-*
#                 (or leak-, timeout-, oom-): copy it into
#                 tests/fuzz/regressions/TARGET/ once the bug is fixed.
#
# Each target starts from its committed corpus (tests/fuzz/corpus/TARGET)
# and regression inputs (tests/fuzz/regressions/TARGET), which it only
# reads, with its dictionary when there is one (tests/fuzz/dict/TARGET.dict).
# What counts as a finding besides a crash or a sanitizer report: a leak,
# an input that takes more than FUZZ_TIMEOUT seconds (default 10), a
# process above FUZZ_RSS_MB of memory (default 1024), or a single
# allocation above FUZZ_MALLOC_MB (default 64: no parser has a reason to
# take that much at once for an input of a few KiB).
#
# The fuzzers run under "nice -n 10", with standard input on /dev/null.
# Exit status: 0 when no target found anything.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_OUT=${FUZZ_OUT:-$FUZZ_BUILD/runs}
case $FUZZ_OUT in /*) ;; *) FUZZ_OUT=$ROOT/$FUZZ_OUT ;; esac
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-1024}
FUZZ_MALLOC_MB=${FUZZ_MALLOC_MB:-64}

targets=("$@")
if [ ${#targets[@]} = 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do
        t=$(basename "$src" .c)
        targets+=("${t#fuzz_}")
    done
fi

# run_one TARGET: fuzz it, then write OUT/TARGET/result (one line).
run_one() {
    local t=$1 bin=$FUZZ_BUILD/tests/fuzz_$1 out=$FUZZ_OUT/$1
    local dict=() seeds=() rc artifact cpu execs cov
    rm -rf "$out"
    mkdir -p "$out/new" "$out/tmp"
    if [ ! -x "$bin" ]; then
        echo "not ok - fuzz/$t: $bin not built (make FUZZ=1 fuzz-build)" >"$out/result"
        return
    fi
    [ -f "tests/fuzz/dict/$t.dict" ] && dict=("-dict=tests/fuzz/dict/$t.dict")
    for d in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do
        [ -d "$d" ] && seeds+=("$d")
    done
    # "times" reports the CPU time of the fuzzer (this subshell's children).
    (
        TMPDIR=$out/tmp nice -n 10 "$bin" "${dict[@]}" \
            -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" \
            -rss_limit_mb="$FUZZ_RSS_MB" -malloc_limit_mb="$FUZZ_MALLOC_MB" \
            -artifact_prefix="$out/" -print_final_stats=1 \
            "$out/new" "${seeds[@]}" </dev/null >"$out/log" 2>&1
        echo "exit $?" >"$out/status"
        times >"$out/cpu"
    )
    rc=$(sed -n 's/^exit //p' "$out/status")
    artifact=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | head -n 1)
    # "0m59.1s 0m0.8s": user and system CPU time of the fuzzer.
    cpu=$(tail -n 1 "$out/cpu" | awk '{ print $1 "+" $2 }')
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$out/log" | tail -n 1 | sed 's/cov: //')
    if [ "$rc" = 0 ] && [ -z "$artifact" ]; then
        echo "ok - fuzz/$t: ${execs:-?} exec/s, cov ${cov:-?}, cpu $cpu" >"$out/result"
    else
        {
            echo "not ok - fuzz/$t: exit $rc, input ${artifact:-(none saved)}, log $out/log"
            grep -m 3 -E '^(==[0-9]+==ERROR|SUMMARY|.*property violated)' "$out/log" | sed 's/^/# /'
        } >"$out/result"
    fi
}

mkdir -p "$FUZZ_OUT" || exit 2
echo "# fuzzing ${#targets[@]} targets for ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time; logs in $FUZZ_OUT"
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$FUZZ_JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
for t in "${targets[@]}"; do
    cat "$FUZZ_OUT/$t/result"
    grep -q '^not ok' "$FUZZ_OUT/$t/result" && failed=$((failed + 1))
done
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
