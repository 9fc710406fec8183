#!/bin/bash
# podman-ci.sh - the example image built and smoke-tested with podman, as
# root, on a Debian 12 machine with no Docker engine and no registry (what
# .ci/run runs; see README.md beside this script).  From the top of the
# source tree:
#
#   postfix-examples/ci/podman-ci.sh [all]   setup, smoke, teardown
#   postfix-examples/ci/podman-ci.sh setup   the containers.conf.d file and
#                                            the debian:12 base image
#   postfix-examples/ci/podman-ci.sh smoke   build the image, run it, smoke
#                                            test, restart, stop, remove
#   postfix-examples/ci/podman-ci.sh teardown   undo "setup"
#
# setup:
#   - writes /etc/containers/containers.conf.d/zz-mssante-milter-ci.conf:
#     runtime "runc" (crun fails on these machines' hybrid cgroups) and
#     default ulimits no higher than this machine allows (nofile at the
#     current hard limit, nproc 32768: podman's defaults exceed them and
#     "runc create" fails with "error setting rlimits");
#   - makes the base image without a registry, unless docker.io/library/
#     debian:12 is already there: "mmdebstrap --variant=minbase
#     --format=tar bookworm -" with this machine's apt sources, piped into
#     "podman import", tagged debian:12 and docker.io/library/debian:12.
#   What it made is recorded in /run/mssante-milter-ci, for teardown.
# smoke:
#   - podman build --pull=never --format docker (the OCI format drops
#     HEALTHCHECK) of postfix-examples/Dockerfile;
#   - podman run with SMTP published on 127.0.0.1 (a free port).  With no
#     systemd, podman cannot schedule the health check: it says so ("unable
#     to get systemd connection to add healthchecks", harmless) and
#     "podman healthcheck run" is polled instead;
#   - ci/smoke-test.sh with --exec "podman exec NAME" and --health
#     "podman healthcheck run NAME": the milter is killed last, and the
#     container must then have exited with status 1;
#   - podman start again (the restart policy's case): healthy; podman stop:
#     exit status 0;
#   - the container and the image are removed, whatever happened.
#
# Settings (environment):
#   MSSANTE_CI_APT_SOURCES  the apt sources file mmdebstrap uses (default:
#                           /etc/apt/sources.list.d/debian.sources, else
#                           /etc/apt/sources.list)
#   MSSANTE_CI_KEEP=1       keep the container and the image after "smoke"
#
# Exit status: 0 when every step passed; 1 when one failed; 2 when this
# machine lacks what the step needs (said on stderr).
set -u

cd "$(dirname "$0")/../.." || exit 2
STATE=/run/mssante-milter-ci
DROPIN=/etc/containers/containers.conf.d/zz-mssante-milter-ci.conf
BASE_TAGS=(debian:12 docker.io/library/debian:12)
NAME=mssante-milter-ci-$$
IMAGE=localhost/mssante-milter-ci:$$
LOG_DIR=

say() { echo "podman-ci: $*" >&2; }
lacks() { say "cannot run: $*"; exit 2; }

# What to undo however this script exits (set as things are made).
SMOKE_STARTED=0
TEARDOWN_AT_EXIT=0
on_exit() {
    local rc=$?
    [ "$SMOKE_STARTED" = 1 ] && cleanup_smoke
    [ "$TEARDOWN_AT_EXIT" = 1 ] && { teardown || rc=1; }
    exit "$rc"
}
trap on_exit EXIT

# step NAME COMMAND...: run it, print how long it took; fails when it does.
step() {
    local name=$1 start=$SECONDS rc
    shift
    say "$name ..."
    "$@"
    rc=$?
    say "$name: $((SECONDS - start))s$([ "$rc" = 0 ] || echo ", FAILED (exit status $rc)")"
    return "$rc"
}

require() {
    local b
    [ "$(id -u)" = 0 ] || lacks "must run as root (rootful podman, /etc/containers)"
    for b in "$@"; do
        command -v "$b" >/dev/null || lacks "$b is not installed"
    done
}

# ---------------------------------------------------------------- setup

write_dropin() {
    local nofile
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    mkdir -p "$STATE" || return 1
    if [ ! -d "$(dirname "$DROPIN")" ]; then
        mkdir -p "$(dirname "$DROPIN")" || return 1
        touch "$STATE/dropin-dir-made"
    fi
    cat >"$DROPIN" <<EOF || return 1
# Written by mssante-milter's postfix-examples/ci/podman-ci.sh setup,
# removed by its teardown.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
    echo "$DROPIN" >"$STATE/dropin"
}

apt_sources() {
    local f
    for f in "${MSSANTE_CI_APT_SOURCES:-}" /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [ -n "$f" ] && [ -s "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

make_base() {
    local sources log status
    if podman image exists docker.io/library/debian:12; then
        say "docker.io/library/debian:12 is already there: using it (not made, not removed here)"
        return 0
    fi
    sources=$(apt_sources) || lacks "no apt sources file (set MSSANTE_CI_APT_SOURCES)"
    say "making debian:12 with mmdebstrap from $sources"
    log=$(mktemp) || return 1
    mmdebstrap --variant=minbase --format=tar bookworm - "$sources" 2>"$log" |
        podman import - "${BASE_TAGS[0]}" >>"$log" 2>&1
    status=("${PIPESTATUS[@]}")
    if [ "${status[0]}" != 0 ] || [ "${status[1]}" != 0 ]; then
        say "mmdebstrap | podman import failed:"
        tail -20 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    podman tag "${BASE_TAGS[0]}" "${BASE_TAGS[1]}" || return 1
    podman image inspect -f '{{.Id}}' "${BASE_TAGS[1]}" >"$STATE/base-made"
}

setup() {
    require podman runc mmdebstrap
    step "containers.conf.d drop-in (runc, ulimits)" write_dropin || return 1
    # A first podman command shows whether podman works at all here.
    podman info >/dev/null 2>"$STATE/info.err" ||
        { cat "$STATE/info.err" >&2; lacks "podman info fails"; }
    step "base image debian:12" make_base
}

# ---------------------------------------------------------------- smoke

free_port() {
    local p used i
    used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
    for i in $(seq 1 500); do
        p=$((20000 + RANDOM % 12000))
        grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
    done
    return 1
}

# until_true SECONDS COMMAND...: poll every half second.
until_true() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 2; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

state_is() { [ "$(podman inspect -f '{{.State.Status}}' "$NAME" 2>/dev/null)" = "$1" ]; }
exit_code() { podman inspect -f '{{.State.ExitCode}}' "$NAME" 2>/dev/null; }

# check NAME COMMAND...: one "ok - " / "not ok - " line.
FAILED=0
check() {
    local name=$1
    shift
    if "$@"; then
        echo "ok - $name"
    else
        echo "not ok - $name"
        FAILED=$((FAILED + 1))
    fi
}

build_image() {
    podman build --pull=never --format docker --layers=false --force-rm \
        -f postfix-examples/Dockerfile -t "$IMAGE" . >"$LOG_DIR/build.log" 2>&1 && return 0
    tail -40 "$LOG_DIR/build.log" >&2
    return 1
}

has_healthcheck() {
    podman image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q 'docker-entrypoint.sh","health"'
}

run_container() {
    PORT=$(free_port) || return 1
    podman run -d --name "$NAME" -p "127.0.0.1:$PORT:25" "$IMAGE" >/dev/null
}

healthy() { until_true 120 podman healthcheck run "$NAME"; }

show_log() {
    say "container log (last 40 lines):"
    podman logs "$NAME" 2>&1 | tail -40 >&2
}

smoke_test() {
    bash postfix-examples/ci/smoke-test.sh --exec "podman exec $NAME" \
        --health "podman healthcheck run $NAME" 127.0.0.1 "$PORT" chu-test.mssante.fr
}

logged() { podman logs "$NAME" 2>&1 | grep -q -F "$1"; }

cleanup_smoke() {
    rm -rf "$LOG_DIR"
    [ "${MSSANTE_CI_KEEP:-0}" = 1 ] && { say "kept: container $NAME, image $IMAGE"; return 0; }
    podman rm -f -t 0 "$NAME" >/dev/null 2>&1
    podman rmi -f "$IMAGE" >/dev/null 2>&1
    ! podman container exists "$NAME" && ! podman image exists "$IMAGE"
}

smoke() {
    require podman swaks ss
    podman image exists docker.io/library/debian:12 ||
        lacks "no debian:12 image: run \"$0 setup\" first"
    LOG_DIR=$(mktemp -d) || return 1
    SMOKE_STARTED=1
    step "podman build (Postfix + Redis + mssante-milter)" build_image || return 1
    check "the image keeps the Dockerfile's HEALTHCHECK (--format docker)" has_healthcheck
    step "podman run" run_container || return 1
    if ! step "until healthy (podman healthcheck run)" healthy; then
        show_log
        return 1
    fi
    step "smoke test on 127.0.0.1:$PORT" smoke_test || FAILED=$((FAILED + 1))
    check "the milter killed, the container exits" until_true 60 state_is exited
    check "with status 1, for its restart policy" test "$(exit_code)" = 1
    check "and its log says why" logged "docker-entrypoint: mssante-milter exited: stopping"
    podman start "$NAME" >/dev/null
    check "started again, it becomes healthy" healthy
    podman stop -t 60 "$NAME" >/dev/null
    check "podman stop: the container stops" until_true 60 state_is exited
    check "with status 0" test "$(exit_code)" = 0
    check "after stopping Postfix, the milter and Redis" logged "docker-entrypoint: stopping"
    [ "$FAILED" = 0 ] || show_log
    check "the container and the image are removed" cleanup_smoke
    SMOKE_STARTED=0
    [ "$FAILED" = 0 ]
}

# ---------------------------------------------------------------- teardown

teardown() {
    local rc=0 f
    [ -d "$STATE" ] || { say "teardown: nothing to remove"; return 0; }
    # By id: removing its two names alone leaves the image, untagged.
    f=$(cat "$STATE/base-made" 2>/dev/null)
    if [ -n "$f" ] && podman image exists "$f"; then
        podman rmi -f "$f" >/dev/null || rc=1
    fi
    f=$(cat "$STATE/dropin" 2>/dev/null)
    [ -z "$f" ] || rm -f "$f" || rc=1
    # The directory too, when setup made it and nothing else went there.
    [ ! -e "$STATE/dropin-dir-made" ] || rmdir "$(dirname "$DROPIN")" 2>/dev/null
    rm -rf "$STATE"
    if [ "$rc" = 0 ]; then
        say "teardown: removed what setup made"
    else
        say "teardown: FAILED"
    fi
    return "$rc"
}

case ${1:-all} in
    setup)    setup ;;
    smoke)    smoke ;;
    teardown) teardown ;;
    all)      TEARDOWN_AT_EXIT=1
              setup && smoke ;;
    *)        echo "usage: podman-ci.sh [all | setup | smoke | teardown]" >&2; exit 2 ;;
esac
