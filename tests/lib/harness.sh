# harness.sh - shared plumbing for the integration tests (sourced, bash).
#
# A test script sources this file, calls h_init, starts what it needs
# (Redis, the capture sink, a private Postfix, the milter), sends mail with
# send_mail, asserts, and exits.  Everything it started is stopped by the
# EXIT trap, even when the script fails half-way, and the work directory is
# removed (set MSSANTE_KEEP_TMP=1 to keep it for a post-mortem).
#
# Everything listens on 127.0.0.1 only, on ports picked at random among the
# free ones below the kernel's ephemeral range.
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
    local b
    for b in postfix postconf postqueue sendmail redis-server swaks ss; do
        command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
        command -v "$b" >/dev/null 2>&1 || h_skip_all "$b is not installed"
    done
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
# before in this test, stored in VAR.
free_port() {
    local var=$1 p i used
    used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
    for i in $(seq 1 500); do
        p=$((20000 + RANDOM % 12000))
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
# started here is always empty.
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
        --logfile "$d/redis.log" >/dev/null || return 1
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
# value", e.g. from postfix_tls_settings); master.cf is a minimal
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
    local pf=$W/postfix
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

# ---------------------------------------------------------------- SMTP

# send_mail NAME FROM TO[,TO...] [swaks options...]
# Sends one message through the private Postfix.  The whole transcript goes
# to $W/swaks/NAME.txt (LAST_TRANSCRIPT); the return status is swaks' exit
# code (0 accepted, 23 MAIL refused, 24 every RCPT refused, 25 DATA refused,
# 26 refused at end of data).  FROM may be '<>' for the null sender.
send_mail() {
    local name=$1 from=$2 to=$3
    shift 3
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 --helo client.it.invalid \
        --from "$from" --to "$to" \
        --header "Subject: $name" --body "Integration test message: $name" \
        "$@" >"$LAST_TRANSCRIPT" 2>&1
}

# An address standing for a client out on the Internet (RFC 5737
# TEST-NET-1): nothing is ever sent to it, Postfix is only told, with
# XCLIENT, that the client on 127.0.0.1 is that host.  Outside the
# milter's default InternalHosts (127.0.0.0/8 ::1).
OUTSIDE_ADDR=192.0.2.25

# send_outside NAME FROM TO[,TO...] [swaks options...]: send_mail from a
# client outside the operator's network: Postfix (and the milter's
# connect event) see OUTSIDE_ADDR instead of 127.0.0.1.
send_outside() {
    local name=$1 from=$2 to=$3
    shift 3
    send_mail "$name" "$from" "$to" --xclient-addr "$OUTSIDE_ADDR" \
        --xclient-name mx.partenaire.invalid "$@"
}

# postfix_tls_settings PKI_DIR: main.cf settings for STARTTLS with a
# client certificate asked for and verified against the test CA (standing
# for IGC-Sante), for start_postfix.  Postfix then passes the milter
# {cert_subject} only for a certificate it verified.
postfix_tls_settings() {
    local pki=$1
    printf '%s\n' "smtpd_tls_security_level = may" "smtpd_tls_ask_ccert = yes" \
        "smtpd_tls_CAfile = $pki/ca.pem" "smtpd_tls_cert_file = $pki/server.pem" \
        "smtpd_tls_key_file = $pki/server.key" "smtpd_tls_loglevel = 1"
}

# smtp_reply FILE CMD: the server's reply (continuation lines joined by a
# space) to the last client line starting with CMD (case-insensitive), e.g.
# "RCPT TO:<x@y>", "DATA", "." (end of data), "MAIL FROM".  Lines swaks
# writes after STARTTLS (" ~> ", "<~  ", "<~* ") count the same.
smtp_reply() {
    awk -v cmd="$2" '
        function starts(s, p) { return tolower(substr(s, 1, length(p))) == tolower(p) }
        /^ [-~]> / { line = substr($0, 5); want = starts(line, cmd); if (want) reply = ""; next }
        /^<(-|\*\*|~|~\*) / { if (want) { r = $0; sub(/^<(-|\*\*|~|~\*) +/, "", r);
                                  reply = (reply == "" ? r : reply " " r);
                                  if (r ~ /^[0-9][0-9][0-9] /) { last = reply; want = 0 } } }
        END { if (last != "") print last }
    ' "$1"
}

# assert_reply FILE CMD REGEX: the reply to CMD matches REGEX (ERE).
assert_reply() {
    local got
    got=$(smtp_reply "$1" "$2")
    if [ -z "$got" ]; then
        h_fail "no reply to \"$2\" in the transcript:
$(grep -E '^( [-~]>|<[-~]|<\*\*|<~\*|\*\*\*)' "$1" | grep -v '^ [-~]> [^A-Z.]' | head -30)"
        return 1
    fi
    printf '%s\n' "$got" | grep -E -q -- "$3" && return 0
    h_fail "reply to \"$2\" was: $got
expected: /$3/"
}

# reply_lacks FILE CMD STRING...: the reply to CMD mentions none of STRINGs.
reply_lacks() {
    local file=$1 cmd=$2 got s
    shift 2
    got=$(smtp_reply "$file" "$cmd")
    for s in "$@"; do
        case $got in
            *"$s"*) h_fail "reply to \"$cmd\" names $s: $got"; return 1 ;;
        esac
    done
}

# maillog_qid REGEX: the queue id on the last maillog line matching REGEX.
maillog_qid() {
    maillog | grep -E -- "$1" | tail -1 | sed -n 's/.*\]: \([0-9A-F]\{6,\}\): .*/\1/p'
}

# queue_id_of FILE: the queue id Postfix gave in "250 2.0.0 Ok: queued as ID".
queue_id_of() {
    sed -n 's/^<[-~]  250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$1" | tail -1
}

# smtp_raw NAME CMD...: a hand-driven SMTP session for what swaks cannot
# express (SMTPUTF8).  Each CMD is one line; "DATA" is followed by the
# lines up to a lone "." given as further arguments.  Transcript in the
# same format as swaks' (" -> " sent, "<-  "/"<** " received) in
# $W/swaks/NAME.txt.
smtp_raw() {
    local name=$1
    shift
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    : >"$LAST_TRANSCRIPT"
    exec {H_FD}<>"/dev/tcp/127.0.0.1/$SMTP_PORT" || return 1
    h_raw_read || { exec {H_FD}>&-; return 1; }
    # data: 0 commands, 1 message lines being sent, 2 message lines to
    # drop because DATA was refused.
    local data=0 line
    for line in "$@"; do
        if [ "$data" = 2 ]; then
            [ "$line" = . ] && data=0
            continue
        fi
        printf '%s\r\n' "$line" >&"$H_FD"
        echo " -> $line" >>"$LAST_TRANSCRIPT"
        if [ "$data" = 1 ] && [ "$line" != . ]; then
            continue
        fi
        data=0
        h_raw_read || break
        if [ "$line" = DATA ]; then
            [ "${H_RAW_CODE:0:1}" = 3 ] && data=1 || data=2
        fi
    done
    exec {H_FD}>&-
}

# Read one (possibly multi-line) reply into the transcript; H_RAW_CODE.
h_raw_read() {
    local l
    while IFS= read -r -t 30 l <&"$H_FD"; do
        l=${l%$'\r'}
        H_RAW_CODE=${l:0:3}
        case $H_RAW_CODE in
            [23]*) echo "<-  $l" >>"$LAST_TRANSCRIPT" ;;
            *)     echo "<** $l" >>"$LAST_TRANSCRIPT" ;;
        esac
        [ "${l:3:1}" = "-" ] || return 0
    done
    return 1
}

# The Sentinel set (a master, a replica, three sentinels) for the tests
# that need one; its processes are stopped by h_cleanup.
# shellcheck source=tests/lib/sentinel.sh
. "$H_ROOT/tests/lib/sentinel.sh"
