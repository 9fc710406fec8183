# harness.sh - shared plumbing for the integration tests (sourced, bash).
#
# A test script sources this file, calls h_init, starts what it needs
# (Redis, the capture sink, a private Postfix, the milter), sends mail with
# send_mail, asserts, and exits.  Everything it started is stopped by the
# EXIT trap, even when the script fails half-way, and the work directory is
# removed (set MSSANTE_KEEP_TMP=1 to keep it for a post-mortem).
#
# Everything listens on 127.0.0.1 only, on ports picked at random among the
# free ones below the kernel's ephemeral range (free_port).
#
# Output protocol (read by tests/run-all.sh), one line per case:
#   ok - NAME
#   not ok - NAME        followed by "# detail" lines
#   skip - NAME # reason
#
# Readiness is always "the port is in LISTEN state" (ss), never a probe
# connection: a probe would open a milter session or an SMTP session that
# shows up in the logs the tests read.

H_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$H_ROOT/$BUILD ;; esac
MILTER_BIN=$BUILD/mssante-milter
CTL_BIN=$BUILD/mssantectl
CAPSINK_BIN=$BUILD/tests/capsink
FIXTURES=$H_ROOT/tests/fixtures

H_FAILED=0
H_PID_SINK=
H_PID_MILTER=
H_PF_ETC=
W=

# ---------------------------------------------------------------- output

ok()     { echo "ok - $1"; }
skip()   { echo "skip - $1 # $2"; }
note()   { local l; for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done; }

# not_ok NAME [DETAIL...]: details may be multi-line strings.
not_ok() {
    echo "not ok - $1"
    shift
    [ $# -gt 0 ] && note "$@"
    H_FAILED=$((H_FAILED + 1))
}

# check NAME CMD...: ok when CMD succeeds.  Assertion helpers below leave an
# explanation in H_WHY for the "not ok" details.
check() {
    local name=$1
    shift
    H_WHY=
    if "$@"; then
        ok "$name"
    else
        not_ok "$name" "${H_WHY:-command failed: $*}"
    fi
}

h_fail() { H_WHY=$*; return 1; }

# contains TEXT NEEDLE: TEXT has NEEDLE in it (fixed string).
contains() {
    case $1 in
        *"$2"*) return 0 ;;
    esac
    h_fail "\"$2\" not found in:
$1"
}

# Skip every case of a script at once: a script calls this when a
# prerequisite is missing, then exits 0.
h_skip_all() {
    local name
    name=$(basename "$0")
    skip "$name" "$1"
    exit 0
}

# ---------------------------------------------------------------- setup

h_require_root() {
    [ "$(id -u)" = 0 ] || h_skip_all "needs root to run a private Postfix"
    h_require_tools postfix postconf postqueue sendmail redis-server swaks ss
}

# h_require_tools CMD...: skip the whole script unless every CMD is
# installed (the sbin directories are searched too).
h_require_tools() {
    local b
    for b in "$@"; do
        command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
        command -v "$b" >/dev/null 2>&1 || h_skip_all "$b is not installed"
    done
}

# h_require_probe NAME...: the helper programs $BUILD/tests/NAME are built
# (a missing one is a failure, not a skip: "make check" builds them).
h_require_probe() {
    local n
    for n in "$@"; do
        if [ ! -x "$BUILD/tests/$n" ]; then
            not_ok "$(basename "$0"): $BUILD/tests/$n exists" "build first: make BUILD=$BUILD"
            exit 1
        fi
    done
}

# h_setup [--postfix | --root] [--pf SETTING]... [--redis] [--sink]
#         [--tools CMD...] [--probe NAME...]
# The set-up every script shares, in one call: the prerequisites (a
# missing tool skips the whole script, a missing build fails it), the
# work directory and its trap (h_init), then the servers asked for.
#   --postfix   root, Postfix's tools and the built daemon; a capture sink,
#               MILTER_PORT picked, and a private Postfix on SMTP_PORT whose
#               milter is inet:127.0.0.1:MILTER_PORT (--pf adds main.cf
#               settings, "name = value"); the daemon is the script's to
#               start (milter_conf, start_milter), with its own settings.
#   --root      the prerequisites of --postfix only: the script starts its
#               Postfix itself (settings naming files of $W, a unix socket).
#   --redis     redis-server installed, one started (REDIS_PORT); no root.
#   --sink      a capture sink (SINK_PORT) without Postfix.
#   --tools     further commands the script needs (until the next option).
#   --probe     helper programs of $BUILD/tests it runs (idem).
# A script that needs nothing but Redis therefore runs without root.
h_setup() {
    local postfix=0 root=0 redis=0 sink=0 list="" pf=() tools=() probes=()
    while [ $# -gt 0 ]; do
        case $1 in
            --postfix) postfix=1; root=1; sink=1; list= ;;
            --root)    root=1; list= ;;
            --pf)      pf+=("$2"); shift; list= ;;
            --redis)   redis=1; tools+=(redis-server redis-cli ss); list= ;;
            --sink)    sink=1; list= ;;
            --tools)   list=tools ;;
            --probe)   list=probes ;;
            -*)        echo "h_setup: unknown option $1" >&2; exit 2 ;;
            *)         case $list in
                           tools)  tools+=("$1") ;;
                           probes) probes+=("$1") ;;
                           *)      echo "h_setup: $1 outside --tools/--probe" >&2; exit 2 ;;
                       esac ;;
        esac
        shift
    done
    if [ "$root" = 1 ]; then
        h_require_root
        h_require_built
    fi
    [ "$sink" = 1 ] && probes+=(capsink)
    h_require_tools "${tools[@]}"
    h_require_probe "${probes[@]}"
    h_init
    if [ "$sink" = 1 ]; then start_capsink || exit 1; fi
    if [ "$redis" = 1 ]; then start_redis || exit 1; fi
    if [ "$postfix" = 1 ]; then
        free_port MILTER_PORT || exit 1
        start_postfix "inet:127.0.0.1:$MILTER_PORT" "${pf[@]}" || exit 1
    fi
}

h_require_built() {
    local f
    for f in "$MILTER_BIN" "$CTL_BIN" "$CAPSINK_BIN"; do
        if [ ! -x "$f" ]; then
            not_ok "$(basename "$0"): $f exists" "build first: make BUILD=$BUILD"
            exit 1
        fi
    done
}

# h_init: work directory, trap.  Postfix (user "postfix") must be able to
# traverse every directory down to its queue, and mktemp makes 0700 dirs.
h_init() {
    W=$(mktemp -d /tmp/mssante-it.XXXXXX) || exit 1
    chmod 755 "$W"
    mkdir -p "$W/sink" "$W/swaks" "$W/milter" "$W/redis"
    : >"$W/ports"
    trap h_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

h_cleanup() {
    local rc=$?
    trap - EXIT
    stop_milter quiet
    stop_postfix
    nodes_cleanup
    stop_capsink
    sn_cleanup
    stop_all_redis
    if [ "${MSSANTE_KEEP_TMP:-0}" = 1 ]; then
        note "work directory kept: $W"
    else
        rm -rf "$W"
    fi
    [ "$H_FAILED" -gt 0 ] && rc=1
    exit "$rc"
}

# ---------------------------------------------------------------- ports

# free_port VAR: a port nobody listens on or connects from, not handed out
# before in this test, stored in VAR.  Ports come from 20000-31999 (below
# the kernel's ephemeral range), or from MSSANTE_PORT_RANGE ("LO-HI"):
# tests/run-all.sh -j gives each script running at the same time a range
# of its own, so that a port one script lets go of for a while (a Redis
# killed and restarted, a "dead" port that must refuse connections, a
# Sentinel's master) cannot be taken by another script meanwhile.
free_port() {
    local var=$1 p i used lo=20000 n=12000
    if [[ ${MSSANTE_PORT_RANGE:-} =~ ^([0-9]+)-([0-9]+)$ ]]; then
        lo=${BASH_REMATCH[1]}
        n=$((BASH_REMATCH[2] - lo + 1))
    fi
    used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
    for i in $(seq 1 500); do
        p=$((lo + RANDOM % n))
        grep -qx "$p" <<<"$used" && continue
        grep -qx "$p" "$W/ports" && continue
        echo "$p" >>"$W/ports"
        printf -v "$var" '%s' "$p"
        return 0
    done
    echo "free_port: no free port found" >&2
    return 1
}

port_listening() {
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# wait_listen PORT [SECONDS [PID]]: until PORT is in LISTEN state; gives up
# early when PID (the process meant to listen) is gone.
wait_listen() {
    local port=$1 secs=${2:-10} pid=${3:-} i
    for i in $(seq 1 $((secs * 20))); do
        port_listening "$port" && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.05
    done
    return 1
}

# wait_pid_gone PID SECONDS
wait_pid_gone() {
    local pid=$1 secs=$2 i
    for i in $(seq 1 $((secs * 20))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------- Redis

# start_redis [PORT]: sets REDIS_PORT (a new free one unless PORT is given,
# e.g. to bring back a Redis that was stopped).  No persistence: a Redis
# started here is always empty.  H_REDIS_ARGS (an array), when set, adds
# server options (e.g. --requirepass).
start_redis() {
    if [ -n "${1:-}" ]; then
        REDIS_PORT=$1
    else
        free_port REDIS_PORT || return 1
    fi
    local d=$W/redis/$REDIS_PORT
    mkdir -p "$d"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --daemonize yes --pidfile "$d/redis.pid" --dir "$d" \
        --logfile "$d/redis.log" ${H_REDIS_ARGS[@]+"${H_REDIS_ARGS[@]}"} >/dev/null || return 1
    local i
    for i in $(seq 1 100); do
        [ -s "$d/redis.pid" ] && break
        sleep 0.05
    done
    wait_listen "$REDIS_PORT" 10 || { note "redis did not start:" "$(tail -5 "$d/redis.log")"; return 1; }
}

# stop_redis [PORT [SIGNAL]]: SIGTERM by default (nothing to save; SIGKILL
# after 5 s), or SIGNAL (KILL: a crash, as far as clients can tell).
stop_redis() {
    local port=${1:-$REDIS_PORT} sig=${2:-TERM} pid
    [ -n "$port" ] || return 0
    pid=$(cat "$W/redis/$port/redis.pid" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill -s "$sig" "$pid" 2>/dev/null
    wait_pid_gone "$pid" 5 || kill -9 "$pid" 2>/dev/null
    wait_pid_gone "$pid" 2
    rm -f "$W/redis/$port/redis.pid"
}

stop_all_redis() {
    local d
    for d in "$W"/redis/*/; do
        [ -d "$d" ] && stop_redis "$(basename "$d")"
    done
}

# ---------------------------------------------------------------- capsink

# start_capsink [CERT KEY]: sets SINK_PORT; messages land in $W/sink.  With
# a certificate and its key the sink also offers STARTTLS (a remote MTA).
start_capsink() {
    free_port SINK_PORT || return 1
    "$CAPSINK_BIN" "$SINK_PORT" "$W/sink" "$@" 2>>"$W/capsink.log" &
    H_PID_SINK=$!
    wait_listen "$SINK_PORT" 10 "$H_PID_SINK" || { note "capsink did not start:" "$(cat "$W/capsink.log")"; return 1; }
}

stop_capsink() {
    [ -n "$H_PID_SINK" ] || return 0
    kill "$H_PID_SINK" 2>/dev/null
    wait_pid_gone "$H_PID_SINK" 5 || kill -9 "$H_PID_SINK" 2>/dev/null
    wait "$H_PID_SINK" 2>/dev/null
    H_PID_SINK=
}

sink_count() {
    local f n=0
    for f in "$W"/sink/msg-*.eml; do
        [ -e "$f" ] && n=$((n + 1))
    done
    echo "$n"
}

# wait_delivered N [SECONDS]: until the sink holds at least N messages.
wait_delivered() {
    local n=$1 secs=${2:-20} i
    for i in $(seq 1 $((secs * 10))); do
        [ "$(sink_count)" -ge "$n" ] && return 0
        sleep 0.1
    done
    h_fail "expected $n message(s) in the sink, found $(sink_count) after ${secs}s"
}

# delivered SUBJECT [SECONDS]: the message sent with that Subject (send_mail
# uses its NAME) reached the sink.
delivered() {
    local subject=$1 secs=${2:-20} i
    for i in $(seq 1 $((secs * 10))); do
        grep -q -x -F "Subject: $subject" "$W"/sink/msg-*.eml 2>/dev/null && return 0
        sleep 0.1
    done
    h_fail "message \"$subject\" not in the sink after ${secs}s ($(sink_count) message(s) there)"
}

# not_delivered SUBJECT: once Postfix's queue is empty, the sink has no
# such message (a refused message never entered the queue).
not_delivered() {
    wait_queue_empty 10 || return 1
    local f
    f=$(grep -l -x -F "Subject: $1" "$W"/sink/msg-*.eml 2>/dev/null)
    [ -z "$f" ] || h_fail "message \"$1\" was delivered: $f"
}

# sink_file_for_rcpt ADDR: the captured message(s) with that envelope
# recipient (case-insensitive, as written by Postfix).
sink_file_for_rcpt() {
    grep -l -i -x -F "X-Capsink-To: <$1>" "$W"/sink/msg-*.eml 2>/dev/null
}

# ---------------------------------------------------------------- Postfix

# start_postfix MILTER_SOCKET [SETTING...]: a private Postfix on SMTP_PORT
# relaying everything to the sink.  main.cf is postfix-examples/main.cf.snippet
# (as a sysadmin would paste it) with the milter socket replaced by the
# test's, then test-only overrides, then the test's own SETTINGs ("name =
# value", e.g. from postfix_tls_settings); with H_PF_DIR set, the instance
# lives there instead of $W/postfix (tests/lib/nodes.sh runs several);
# master.cf is a minimal
# chroot-less one plus postfix-examples/master.cf.snippet, whose
# notification listener (the milter's NotifySMTP, 127.0.0.1:10027 there)
# moves to NOTIFY_PORT.
#
# The operator's domains (those of milter_conf) are relay_domains, so that
# a client outside mynetworks may send to them, as on a real MX; XCLIENT
# is allowed from the loopback, so that a test can play a client from the
# outside (send_outside) while every process stays on 127.0.0.1.
# With H_PF_HOSTS set to a hosts(5) file, Postfix runs in a private mount
# namespace where that file is /etc/hosts: test domains resolve to
# 127.0.0.1 for this Postfix only (see h_private_hosts_ok).
start_postfix() {
    local milter_sock=$1
    shift
    local pf=${H_PF_DIR:-$W/postfix}
    H_PF_ETC=$pf/etc
    free_port SMTP_PORT || return 1
    free_port NOTIFY_PORT || return 1
    mkdir -p "$pf/etc" "$pf/queue" "$pf/data" "$pf/log"
    chown postfix "$pf/data"

    cp "$H_ROOT/postfix-examples/main.cf.snippet" "$pf/etc/main.cf"
    local set=(
        "compatibility_level = 3.6"
        "queue_directory = $pf/queue"
        "data_directory = $pf/data"
        "maillog_file = $pf/log/maillog"
        "maillog_file_prefixes = $pf/log"
        "myhostname = mx.it.invalid"
        "mydomain = it.invalid"
        "myorigin = \$myhostname"
        "mydestination ="
        "local_recipient_maps ="
        "alias_maps ="
        "alias_database ="
        "inet_interfaces = 127.0.0.1"
        "inet_protocols = ipv4"
        "mynetworks = 127.0.0.0/8"
        "relay_domains = $H_LOCAL_DOMAINS"
        "smtpd_relay_restrictions = permit_mynetworks, permit_auth_destination, reject"
        "smtpd_authorized_xclient_hosts = 127.0.0.0/8"
        "default_transport = smtp:[127.0.0.1]:$SINK_PORT"
        "relay_transport = smtp:[127.0.0.1]:$SINK_PORT"
        "smtp_dns_support_level = disabled"
        "smtp_host_lookup = native"
        "queue_run_delay = 1s"
        "minimal_backoff_time = 1s"
        "maximal_backoff_time = 5s"
        "smtpd_error_sleep_time = 0"
        "local_header_rewrite_clients ="
        "biff = no"
        "smtputf8_enable = yes"
        "syslog_name = postfix-it"
        "smtpd_milters = $milter_sock"
        "non_smtpd_milters = $milter_sock"
        "$@"
    )
    postconf -c "$pf/etc" -e "${set[@]}" || return 1

    {
        echo "127.0.0.1:$SMTP_PORT inet n - n - - smtpd"
        local svc
        for svc in "pickup unix n - n 60 1 pickup" "cleanup unix n - n - 0 cleanup" \
                   "qmgr unix n - n 300 1 qmgr" "rewrite unix - - n - - trivial-rewrite" \
                   "bounce unix - - n - 0 bounce" "defer unix - - n - 0 bounce" \
                   "trace unix - - n - 0 bounce" "verify unix - - n - 1 verify" \
                   "flush unix n - n 1000? 0 flush" "proxymap unix - - n - - proxymap" \
                   "proxywrite unix - - n - 1 proxymap" "smtp unix - - n - - smtp" \
                   "relay unix - - n - - smtp" "showq unix n - n - - showq" \
                   "error unix - - n - - error" "retry unix - - n - - error" \
                   "discard unix - - n - - discard" "$H_PF_LOCAL_SERVICE" \
                   "anvil unix - - n - 1 anvil" "scache unix - - n - 1 scache" \
                   "tlsmgr unix - - n 1000? 1 tlsmgr" \
                   "postlog unix-dgram n - n - 1 postlogd"; do
            echo "$svc"
        done
        sed "s/^127\.0\.0\.1:10027 /127.0.0.1:$NOTIFY_PORT /" \
            "$H_ROOT/postfix-examples/master.cf.snippet"
    } >"$pf/etc/master.cf"

    # "postfix start" reports its fatal errors to syslog only; "check" run
    # under script(1) shows them on a terminal, which we capture.
    local start=(postfix -c "$pf/etc" start)
    [ -n "${H_PF_HOSTS:-}" ] && start=(unshare --mount --propagation private \
        sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$H_PF_HOSTS" "${start[@]}")
    if ! "${start[@]}" >"$pf/log/start.out" 2>&1; then
        script -qec "postfix -c $pf/etc check" /dev/null >>"$pf/log/start.out" 2>&1
        note "postfix start failed:" "$(cat "$pf/log/start.out")" "$(tail -5 "$pf/log/maillog" 2>/dev/null)"
        return 1
    fi
    wait_listen "$SMTP_PORT" 15 || { note "postfix not listening:" "$(tail -5 "$pf/log/maillog" 2>/dev/null)"; return 1; }
}

# h_private_hosts_ok: this machine lets start_postfix give Postfix its own
# /etc/hosts (root in a mount namespace; not so in some containers).
h_private_hosts_ok() {
    command -v unshare >/dev/null 2>&1 &&
        unshare --mount --propagation private sh -c 'mount --bind /etc/hosts /etc/hosts' 2>/dev/null
}

postfix_master_pid() {
    local f=$W/postfix/queue/pid/master.pid
    [ -r "$f" ] && tr -d ' \n' <"$f"
}

stop_postfix() {
    [ -n "$H_PF_ETC" ] || return 0
    local pid
    pid=$(postfix_master_pid)
    postfix -c "$H_PF_ETC" stop >/dev/null 2>&1
    if [ -n "$pid" ] && ! wait_pid_gone "$pid" 10; then
        local kids
        kids=$(pgrep -P "$pid")
        kill -9 "$pid" $kids 2>/dev/null
        wait_pid_gone "$pid" 2
    fi
    H_PF_ETC=
}

maillog() { cat "$W/postfix/log/maillog" 2>/dev/null; }

# queue_json: one JSON object per queued message (active, deferred, hold...).
queue_json() { postqueue -c "$H_PF_ETC" -j 2>/dev/null; }
queue_count() { queue_json | grep -c '^{'; }

# wait_queue_empty [SECONDS]
wait_queue_empty() {
    local secs=${1:-20} i
    for i in $(seq 1 $((secs * 10))); do
        [ "$(queue_count)" -eq 0 ] && return 0
        sleep 0.1
    done
    h_fail "the Postfix queue still holds $(queue_count) message(s): $(queue_json)"
}

# wait_only_held [SECONDS]: until the queue holds nothing but held
# messages (Postfix is done with the rest: delivered, bounced).
wait_only_held() {
    local secs=${1:-20} i
    for i in $(seq 1 $((secs * 10))); do
        queue_json | grep -v '"queue_name": *"hold"' | grep -q '^{' || return 0
        sleep 0.1
    done
    h_fail "the queue still holds messages that are not held: $(queue_json)"
}

# local_submit FROM TO... <MESSAGE: local submission through sendmail(1),
# i.e. through non_smtpd_milters.
local_submit() {
    local from=$1
    shift
    sendmail -C "$H_PF_ETC" -f "$from" -- "$@"
}

# ---------------------------------------------------------------- milter

# The master.cf line of Postfix's "local" service.  A test that needs
# mail Postfix delivers on the machine ({rcpt_mailer} local) makes it an
# smtp(8) client to the sink instead (with local_transport =
# local:[127.0.0.1]:SINK_PORT), so that nothing is written to /var/mail.
H_PF_LOCAL_SERVICE="local unix - n n - - local"

# The operator's own domains in every test (milter_conf, relay_domains).
H_LOCAL_DOMAINS="chu-test.mssante.fr autre-site.chu-test.mssante.fr"

# milter_conf FILE: the settings every test shares; callers append more.
# The key of LogPatientId hash is made in the test's directory.
milter_conf() {
    cat >"$1" <<EOF
# written by $(basename "$0")
LocalDomains ${H_LOCAL_DOMAINS// /, }
LogLevel info
LogPatientIdKeyFile $W/milter/logid.key
HeldKeyFile $W/milter/held.key
EOF
}

# start_milter CONF: the daemon in the foreground, log on stderr into
# $W/milter/milter.log.  Sets MILTER_PORT on first use (kept across
# restarts so that Postfix finds it again).
start_milter() {
    local conf=$1
    [ -n "${MILTER_PORT:-}" ] || free_port MILTER_PORT || return 1
    echo "=== start $(date +%T.%N) $conf" >>"$W/milter/milter.log"
    "$MILTER_BIN" -f -c "$conf" -p "inet:$MILTER_PORT@127.0.0.1" \
        >>"$W/milter/milter.log" 2>&1 &
    H_PID_MILTER=$!
    if ! wait_listen "$MILTER_PORT" 15 "$H_PID_MILTER"; then
        note "mssante-milter did not start:" "$(tail -20 "$W/milter/milter.log")"
        return 1
    fi
}

# stop_milter [quiet | LABEL]: SIGTERM, then up to 15 s (libmilter's accept
# loop can take ~7 s to notice), then SIGKILL.  Unless quiet, a case
# (named after LABEL when given) reports whether the daemon stopped by
# itself with status 0 and a clean log (which is where ASan/UBSan write
# under "make check SAN=1").
stop_milter() {
    local quiet=${1:-} rc name="mssante-milter stops cleanly on SIGTERM"
    [ -n "$quiet" ] && [ "$quiet" != quiet ] && name="$name ($quiet)"
    [ -n "$H_PID_MILTER" ] || return 0
    kill "$H_PID_MILTER" 2>/dev/null
    if wait_pid_gone "$H_PID_MILTER" 15; then
        wait "$H_PID_MILTER" 2>/dev/null
        rc=$?
    else
        kill -9 "$H_PID_MILTER" 2>/dev/null
        wait "$H_PID_MILTER" 2>/dev/null
        rc=killed
    fi
    H_PID_MILTER=
    echo "=== stopped $(date +%T.%N) status $rc" >>"$W/milter/milter.log"
    if [ "$quiet" != quiet ]; then
        if [ "$rc" = 0 ] && ! sanitizer_report >/dev/null; then
            ok "$name"
        else
            not_ok "$name" "exit status: $rc" \
                "$(sanitizer_report || tail -20 "$W/milter/milter.log")"
        fi
    elif sanitizer_report >/dev/null; then
        not_ok "no sanitizer report in the milter log" "$(sanitizer_report)"
    fi
}

# sanitizer_report: prints ASan/UBSan/LSan findings from the milter log;
# fails when there are none.
sanitizer_report() {
    grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$W/milter/milter.log" 2>/dev/null
}

# wait_milter_log REGEX [SECONDS]: until the daemon logged a matching line.
wait_milter_log() {
    local re=$1 secs=${2:-10} i
    for i in $(seq 1 $((secs * 10))); do
        grep -E -q -- "$re" "$W/milter/milter.log" 2>/dev/null && return 0
        sleep 0.1
    done
    h_fail "no line matching /$re/ in the milter log after ${secs}s:
$(tail -15 "$W/milter/milter.log")"
}

# verdict_logged QUEUEID REGEX: the daemon's line for that message matches.
verdict_logged() {
    local qid=$1 re=$2
    [ -n "$qid" ] || { h_fail "no queue id to look for"; return 1; }
    wait_milter_log "$qid: " 10 || return 1
    grep -F "$qid: " "$W/milter/milter.log" | grep -E -q -- "$re" && return 0
    h_fail "log line(s) for $qid do not match /$re/:
$(grep -F "$qid: " "$W/milter/milter.log")"
}

ctl() { "$CTL_BIN" "$@"; }

# ctl_ok ARGS...: mssantectl succeeds; its output is kept for the details.
ctl_ok() {
    local out
    if out=$("$CTL_BIN" "$@" 2>&1); then
        CTL_OUT=$out
        return 0
    fi
    h_fail "mssantectl $* failed:
$out"
}

# SMTP through the private Postfix: send_mail, smtp_reply, assert_reply...
# shellcheck source=tests/lib/smtp.sh
. "$H_ROOT/tests/lib/smtp.sh"

# The Sentinel set (a master, a replica, three sentinels) for the tests
# that need one; its processes are stopped by h_cleanup.
# shellcheck source=tests/lib/sentinel.sh
. "$H_ROOT/tests/lib/sentinel.sh"

# Several MX nodes (a Postfix and a daemon each); stopped by h_cleanup.
# shellcheck source=tests/lib/nodes.sh
. "$H_ROOT/tests/lib/nodes.sh"
