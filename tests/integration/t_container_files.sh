#!/bin/bash
# t_container_files.sh - what can be checked of postfix-examples/Dockerfile,
# compose.yaml, docker-entrypoint.sh and ci/ without a Docker engine:
#   - compose.yaml parses ("docker compose config", or "docker-compose
#     config"), publishes SMTP on 127.0.0.1 only and has a health check
#     that runs the entrypoint's own;
#   - the Dockerfile starts from Debian 12 and installs exactly the Debian
#     packages .ci/run installs, with the same debconf answer for Postfix;
#     the files it copies exist;
#   - the scripts pass bash -n and shellcheck; the GitHub Actions and
#     GitLab CI files parse, run files that exist and run the whole smoke
#     test (--exec, --health);
#   - the entrypoint itself runs here, natively, in a scratch root (the
#     MSSANTE_ROOT prefix) with loopback ports: its health check passes,
#     the whole ci/smoke-test.sh passes through the same --exec and
#     --health a CI job gives it (patients, a forwarding notice through the
#     notice listener, reloads, the milter hung then killed), accepted mail
#     reaches the relay host (a capture sink), the entrypoint exits 1 once
#     the milter is killed, starts again, and SIGTERM stops everything.
# The image itself is not built here: .ci/run does that with podman
# (postfix-examples/ci/podman-ci.sh).
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init

PX=$H_ROOT/postfix-examples
DOCKERFILE=$PX/Dockerfile
COMPOSE=$PX/compose.yaml
ENTRYPOINT=$PX/docker-entrypoint.sh
SMOKE=$PX/ci/smoke-test.sh
PODMAN_CI=$PX/ci/podman-ci.sh
WORKFLOW=$PX/ci/github-actions.yml
GITLAB=$PX/ci/gitlab-ci.yml
for f in "$DOCKERFILE" "$COMPOSE" "$ENTRYPOINT" "$SMOKE" "$PODMAN_CI" "$WORKFLOW" "$GITLAB"; do
    [ -f "$f" ] || { not_ok "${f#"$H_ROOT"/} exists"; exit 1; }
done
PATH=$PATH:/usr/sbin:/sbin

# A Python with the yaml module (Debian's python3-yaml), if any.
PY=
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import yaml' 2>/dev/null; then PY=$p; break; fi
done

# ---------------------------------------------------------------- compose.yaml

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    compose=()
fi
if [ ${#compose[@]} -gt 0 ]; then
    out=$("${compose[@]}" -f "$COMPOSE" config 2>&1 >"$W/compose.out")
    check "compose.yaml parses (${compose[*]} config)" test $? = 0
    [ -z "$out" ] || note "$out"
else
    skip "compose.yaml parses" "neither docker compose nor docker-compose is installed"
fi

if [ -n "$PY" ]; then
    out=$("$PY" - "$COMPOSE" <<'EOF' 2>&1
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
svc = doc["services"]["mta"]
problems = []
if svc["build"]["dockerfile"] != "postfix-examples/Dockerfile" or svc["build"]["context"] != "..":
    problems.append("build is not postfix-examples/Dockerfile in context ..")
for p in svc.get("ports", []):
    if not str(p).startswith("127.0.0.1:"):
        problems.append("port %s is not bound to 127.0.0.1" % p)
if svc["healthcheck"]["test"] != ["CMD", "/usr/local/bin/docker-entrypoint.sh", "health"]:
    problems.append("the health check is not the entrypoint's")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
)
    check "compose.yaml: the Dockerfile, SMTP on 127.0.0.1 only, the entrypoint's health check" \
        test $? = 0
    [ -z "$out" ] || note "$out"
else
    skip "compose.yaml contents" "no python3 with the yaml module"
fi

# ---------------------------------------------------------------- Dockerfile

# apt_packages FILE: the packages of the first "apt-get install" command in
# FILE, one per line, sorted (continuation lines joined, options dropped).
# Only the first: .ci/run may install tools for its own checks (linters)
# with a second apt-get install that the image does not need.
apt_packages() {
    sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' "$1" |
        grep -E 'apt-get install' | head -1 |
        sed -e 's/.*apt-get install//' -e 's/&&.*//' -e 's/;.*//' |
        tr -s ' \t' '\n' | grep -v -E '^(-|$)' | sort -u
}
apt_packages "$H_ROOT/.ci/run" >"$W/ci.pkgs"
apt_packages "$DOCKERFILE" >"$W/docker.pkgs"
# shellcheck disable=SC2317  # called through check
same_packages() {
    [ -s "$W/ci.pkgs" ] || h_fail "no apt-get install found in .ci/run"
    diff "$W/ci.pkgs" "$W/docker.pkgs" >/dev/null ||
        h_fail "< only in .ci/run, > only in the Dockerfile:
$(diff "$W/ci.pkgs" "$W/docker.pkgs" | grep '^[<>]')"
}
check "the Dockerfile installs the packages .ci/run installs ($(wc -l <"$W/ci.pkgs") packages)" \
    same_packages

debconf='postfix postfix/main_mailer_type select No configuration'
check "the Dockerfile preseeds Postfix like .ci/run (no main.cf written)" \
    test -n "$(grep -F "$debconf" "$H_ROOT/.ci/run")" -a -n "$(grep -F "$debconf" "$DOCKERFILE")"
check "the Dockerfile starts from Debian 12" \
    grep -q -E '^FROM debian:(12|bookworm)(-slim)?([[:space:]]|$)' "$DOCKERFILE"
check "the Dockerfile's health check and entrypoint are docker-entrypoint.sh" \
    test -n "$(grep -E '^[[:space:]]*CMD \["/usr/local/bin/docker-entrypoint.sh", "health"\]' "$DOCKERFILE")" \
         -a -n "$(grep -E '^ENTRYPOINT \["/usr/local/bin/docker-entrypoint.sh"\]' "$DOCKERFILE")"
missing=
while read -r f; do
    [ -e "$H_ROOT/$f" ] || missing="$missing $f"
done < <(grep -o -E '(postfix-examples|tests/fixtures)/[A-Za-z0-9._/-]+' "$DOCKERFILE" | sort -u)
check "the files the Dockerfile installs exist" test -z "$missing"
[ -z "$missing" ] || note "missing:$missing"

# ---------------------------------------------------------------- scripts, workflow

for f in "$ENTRYPOINT" "$SMOKE" "$PODMAN_CI"; do
    rel=${f#"$H_ROOT"/}
    check "$rel passes bash -n" bash -n "$f"
    check "$rel is executable" test -x "$f"
    if command -v shellcheck >/dev/null; then
        out=$(shellcheck -s bash "$f" 2>&1)
        check "$rel passes shellcheck" test -z "$out"
        [ -z "$out" ] || note "$out"
    else
        skip "$rel passes shellcheck" "shellcheck is not installed"
    fi
done

if [ -n "$PY" ]; then
    out=$(cd "$H_ROOT" && "$PY" - "$WORKFLOW" <<'EOF' 2>&1
import os, re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
problems = []
# YAML 1.1 reads the key "on" as True.
triggers = doc.get("on", doc.get(True))
if not triggers:
    problems.append("no 'on:' triggers")
jobs = doc.get("jobs") or {}
if not jobs:
    problems.append("no jobs")
runs = []
for name, job in jobs.items():
    if "runs-on" not in job:
        problems.append("job %s has no runs-on" % name)
    for step in job.get("steps", []):
        if ("run" in step) == ("uses" in step):
            problems.append("a step of %s needs exactly one of run/uses: %r" % (name, step))
        runs.append(step.get("run", ""))
    env = job.get("env", {})
    if env.get("COMPOSE_FILE") and not os.path.exists(env["COMPOSE_FILE"]):
        problems.append("COMPOSE_FILE %s does not exist" % env["COMPOSE_FILE"])
text = "\n".join(runs)
for path in sorted(set(re.findall(r"postfix-examples/[A-Za-z0-9._/-]+", text))):
    if not os.path.exists(path):
        problems.append("%s does not exist" % path)
if not re.search(r"docker compose up .*--wait", text):
    problems.append("the stack is not started with 'docker compose up --wait'")
if not re.search(r"postfix-examples/ci/smoke-test.sh\s+--exec .*--health ", text):
    problems.append("the whole smoke test (--exec, --health) is not run")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
)
    check "ci/github-actions.yml parses, starts the stack with --wait, runs the whole smoke test" \
        test $? = 0
    [ -z "$out" ] || note "$out"

    out=$(cd "$H_ROOT" && "$PY" - "$GITLAB" <<'EOF' 2>&1
import os, re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
problems = []
jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
if not jobs:
    problems.append("no job with a script")
for name, job in jobs.items():
    text = "\n".join(job["script"])
    if "postfix-examples/Dockerfile" not in text:
        problems.append("job %s does not build postfix-examples/Dockerfile" % name)
    if not re.search(r"postfix-examples/ci/smoke-test.sh\s+--exec .*--health ", text):
        problems.append("job %s does not run the whole smoke test (--exec, --health)" % name)
    for path in sorted(set(re.findall(r"postfix-examples/[A-Za-z0-9._/-]+", text))):
        if not os.path.exists(path):
            problems.append("%s does not exist" % path)
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
)
    check "ci/gitlab-ci.yml parses, builds the image, runs the whole smoke test" test $? = 0
    [ -z "$out" ] || note "$out"
else
    skip "ci/github-actions.yml and ci/gitlab-ci.yml parse" "no python3 with the yaml module"
fi

# ---------------------------------------------------------------- the entrypoint, live

why=
if [ "$(id -u)" != 0 ]; then
    why="needs root (Postfix, setpriv)"
elif [ ! -x "$MILTER_BIN" ] || [ ! -x "$CTL_BIN" ] || [ ! -x "$CAPSINK_BIN" ]; then
    why="build first: make BUILD=${BUILD##*/} (and its test helpers)"
else
    for b in postfix postconf redis-server redis-cli swaks setpriv setsid ss; do
        command -v "$b" >/dev/null || { why="$b is not installed"; break; }
    done
    getent passwd nobody >/dev/null && getent passwd redis >/dev/null ||
        why="needs the users nobody and redis"
fi
if [ -n "$why" ]; then
    skip "docker-entrypoint.sh runs natively" "$why"
    exit 0
fi

start_capsink || { not_ok "the capture sink starts"; exit 1; }
free_port EP_SMTP_PORT && free_port EP_REDIS_PORT && free_port EP_NOTIFY_PORT || exit 1
EP_ROOT=$W/root
mkdir -p "$EP_ROOT"
chmod 755 "$EP_ROOT"
# What a container would get from compose.yaml, pointed at this tree:
# nobody stands for the image's mssante-milter user.
ep_env=(
    MSSANTE_ROOT="$EP_ROOT"
    MSSANTE_SBIN="$BUILD"
    MSSANTE_SHARE="$PX"
    MSSANTE_WHITELIST="$FIXTURES/it-list.xml"
    MSSANTE_LOCAL_DOMAINS=chu-test.mssante.fr
    MSSANTE_USER=nobody
    MSSANTE_SMTP_ADDR=127.0.0.1
    MSSANTE_SMTP_PORT="$EP_SMTP_PORT"
    MSSANTE_REDIS_PORT="$EP_REDIS_PORT"
    MSSANTE_NOTIFY_PORT="$EP_NOTIFY_PORT"
    MSSANTE_RELAYHOST="[127.0.0.1]:$SINK_PORT"
    MSSANTE_MAILLOG="$EP_ROOT/var/log/mail.log"
)
EP_PID=
EP_LOG=

# Everything the entrypoint started, by the pid files it keeps.
ep_children() { cat "$EP_ROOT"/run/mssante-milter/*.pid 2>/dev/null; }

# start_entrypoint LOG: "docker-entrypoint.sh run" in the background, until
# it says it is ready.
# shellcheck disable=SC2317  # called through check
start_entrypoint() {
    EP_LOG=$1
    env "${ep_env[@]}" bash "$ENTRYPOINT" run >"$EP_LOG" 2>&1 &
    EP_PID=$!
    for _ in $(seq 1 600); do
        grep -q '^docker-entrypoint: ready' "$EP_LOG" 2>/dev/null && return 0
        kill -0 "$EP_PID" 2>/dev/null || break
        sleep 0.1
    done
    h_fail "not ready: $(tail -30 "$EP_LOG")"
}

# wait_entrypoint SECONDS: until it exits by itself; EP_STATUS.
# shellcheck disable=SC2317  # called through check
wait_entrypoint() {
    wait_pid_gone "$EP_PID" "$1" || return 1
    wait "$EP_PID" 2>/dev/null
    EP_STATUS=$?
    EP_PID=
}

stop_entrypoint() {
    [ -n "$EP_PID" ] || return 0
    local kids
    kids=$(ep_children)
    kill "$EP_PID" 2>/dev/null
    if ! wait_pid_gone "$EP_PID" 45; then
        # shellcheck disable=SC2086  # one pid per word
        kill -9 "$EP_PID" $kids 2>/dev/null
    fi
    wait "$EP_PID" 2>/dev/null
    EP_STATUS=$?
    EP_PID=
}
# shellcheck disable=SC2154  # rc is set in the trap
trap 'rc=$?; stop_entrypoint; (exit $rc); h_cleanup' EXIT

# all_gone PID...: none of them runs any more.
# shellcheck disable=SC2317  # called through check
all_gone() {
    local pid left=
    [ $# -gt 0 ] || h_fail "no pid recorded"
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null && left="$left $pid"
    done
    [ -z "$left" ] || h_fail "still running:$left"
}

check "the entrypoint starts Redis, loads the whitelist, starts the milter and Postfix" \
    start_entrypoint "$W/entrypoint.log"
[ -n "$EP_PID" ] || exit 1

check "it published the whitelist with mssantectl whitelist load" \
    grep -q -E '^published version [0-9]+: 8 domains' "$W/entrypoint.log"
conf=$EP_ROOT/etc/mssante-milter.conf
check "it wrote mssante-milter.conf for a unix socket in the Postfix queue directory" \
    grep -q -x "Socket unix:$EP_ROOT/var/spool/postfix/mssante-milter/mssante-milter.sock" "$conf"
check "mssante-milter.conf is root:<milter group> 0640 (it may hold RedisPassword)" \
    test "$(stat -c '%a %U %G' "$conf")" = "640 root $(id -gn nobody)"
check "the milter's NotifySMTP is the notice listener's port" \
    grep -q -x "NotifySMTP smtp://127.0.0.1:$EP_NOTIFY_PORT" "$conf"
check "master.cf has the notice listener of master.cf.snippet, on that port" \
    grep -q "^127\.0\.0\.1:$EP_NOTIFY_PORT inet .* smtpd\$" "$EP_ROOT/etc/postfix/master.cf"
milter_pid=$(cat "$EP_ROOT/run/mssante-milter/mssante-milter.pid" 2>/dev/null)
redis_pid=$(cat "$EP_ROOT/run/mssante-milter/redis.pid" 2>/dev/null)
check "the entrypoint's pid files are those of the milter and Redis themselves" \
    test "$(ps -o comm= -p "${milter_pid:-0}") $(ps -o comm= -p "${redis_pid:-0}")" \
        = "mssante-milter redis-server"
check "the milter runs as the unprivileged user" \
    test "$(ps -o user= -p "${milter_pid:-0}" 2>/dev/null | tr -d ' ')" = nobody
sock=$EP_ROOT/var/spool/postfix/mssante-milter/mssante-milter.sock
check "the milter socket is mode 0660, group postfix" \
    test "$(stat -c '%a %G' "$sock" 2>/dev/null)" = "660 postfix"

out=$(env "${ep_env[@]}" bash "$ENTRYPOINT" health 2>&1)
check "docker-entrypoint.sh health passes" test $? = 0
[ -z "$out" ] || note "$out"
check "the health check's milter probe leaves nothing in the milter's log" \
    test -z "$(grep -E '^[0-9-]+ [0-9:.]+ mssante-milter\[' "$W/entrypoint.log" | grep -v -E 'whitelist|start|listening|ready')"

# The smoke test as a CI job runs it against a container: --exec and
# --health reach the stack here through the same environment.
kids=$(ep_children)
while IFS= read -r line; do
    case $line in
        "ok - "*)     ok "smoke test: ${line#ok - }" ;;
        "not ok - "*) not_ok "smoke test: ${line#not ok - }" ;;
        *)            note "${line#\# }" ;;
    esac
done < <(bash "$SMOKE" --exec "env ${ep_env[*]} PATH=$PX:$PATH" \
             --health "env ${ep_env[*]} bash $ENTRYPOINT health" \
             127.0.0.1 "$EP_SMTP_PORT" chu-test.mssante.fr 2>&1)
# Accepted, so relayed: the outbound and inbound trust-space messages, the
# patient's conversation (opening, reply, [FIN]), the message to the
# forwarding mailbox and its notice, the dry-run message to a classic
# address.
check "the 8 accepted messages reach the relay host" wait_delivered 8 20
check "and nothing else does" test "$(sink_count)" = 8
# Two messages for the classic address: the notice, and the dry-run
# message (which carries the verdict header).
notices=$(sink_file_for_rcpt secretariat@outlook.fr | xargs -r grep -L -i '^X-MSSante-Verdict:')
check "the notice to the classic target came through the notice listener, without the message" \
    test "$(wc -w <<<"$notices")" = 1 -a -z "$(xargs -r grep -l 'mssante-milter smoke test' <<<"$notices")"

check "the milter killed, the entrypoint stops everything and exits 1" wait_entrypoint 60
check "with status 1 (for the container's restart policy)" test "${EP_STATUS:-0}" = 1
check "it says why" grep -q '^docker-entrypoint: mssante-milter exited: stopping' "$W/entrypoint.log"
# shellcheck disable=SC2086  # one pid per word
check "and every process it started is gone" all_gone $kids

# Started again, as a restart policy would: the socket the killed milter
# left is replaced, and SIGTERM stops everything with status 0.
check "started again after the milter was killed" start_entrypoint "$W/entrypoint2.log"
[ -n "$EP_PID" ] || exit 1
out=$(env "${ep_env[@]}" bash "$ENTRYPOINT" health 2>&1)
check "docker-entrypoint.sh health passes" test $? = 0
[ -z "$out" ] || note "$out"
kids=$(ep_children)
stop_entrypoint
check "SIGTERM stops the entrypoint with status 0" test "${EP_STATUS:-1}" = 0
# shellcheck disable=SC2086  # one pid per word
check "and every process it started" all_gone $kids
check "the milter socket is removed" test ! -e "$sock"
sanitizer=$(cat "$W"/entrypoint*.log | grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:')
check "no sanitizer report in the entrypoint's output" test -z "$sanitizer"
[ -z "$sanitizer" ] || note "$sanitizer"
check "nothing listens on the SMTP, notice and Redis ports any more" \
    test -z "$(ss -Hltn "( sport = :$EP_SMTP_PORT or sport = :$EP_REDIS_PORT or sport = :$EP_NOTIFY_PORT )")"

exit 0
