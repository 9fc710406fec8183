#!/bin/bash
# docker-entrypoint.sh - Redis, mssante-milter and Postfix in one container,
# started the way the native tests and "make demo" start them:
#
#   1. write mssante-milter.conf from the example configuration (the log
#      on stderr, which the container runtime collects);
#   2. start Redis on 127.0.0.1 (unless MSSANTE_REDIS names another one);
#   3. publish the whitelist to Redis with "mssantectl whitelist load", and
#      check the configuration with "mssante-milter -n" as the milter's user;
#   4. start mssante-milter in the foreground, as an unprivileged user, on a
#      unix socket inside the Postfix queue directory (the layout of
#      contrib/mssante-milter.service and contrib/mssante-milter.tmpfiles);
#   5. write main.cf from main.cf.snippet (plus this container's settings)
#      and master.cf (plus master.cf.snippet), then run Postfix in the
#      foreground.
#
# It then waits: SIGTERM (docker stop) stops Postfix, the milter and Redis
# and exits 0; if one of them dies on its own, it stops the others and
# exits 1, so that the container's restart policy sees it.
#
#   docker-entrypoint.sh [run]    all of the above (the image's default)
#   docker-entrypoint.sh health   exit 0 when everything is up and the milter
#                                 answers (HEALTHCHECK)
# and, in a running container ("docker exec NAME docker-entrypoint.sh ..."):
#   reload [MSSANTE_X=VALUE...]   write mssante-milter.conf again from the
#                                 settings below (with these overrides, e.g.
#                                 MSSANTE_DRY_RUN=yes), check it, and send
#                                 the milter SIGHUP
#   ctl ARGS...                   mssantectl ARGS with this configuration, as
#                                 the milter's user ("ctl whitelist status")
#   pid milter|postfix|redis      the process id of one of the three
#
# Settings (environment; the defaults are the image's):
#   MSSANTE_LOCAL_DOMAINS  the operator's MSSante domains (chu-test.mssante.fr)
#   MSSANTE_WHITELIST      ANS XML file to publish (the sample list in the
#                          image; mount the real listeblanchemssante.xml)
#   MSSANTE_REDIS          HOST:PORT of an existing Redis; empty: start one
#                          on 127.0.0.1:MSSANTE_REDIS_PORT (6379)
#   MSSANTE_RELAYHOST      where Postfix sends accepted mail ([host]:port);
#                          empty: accepted mail is discarded (a test stack
#                          must not send mail to the Internet)
#   MSSANTE_SMTP_ADDR / MSSANTE_SMTP_PORT   Postfix's listener (0.0.0.0 / 25)
#   MSSANTE_MYNETWORKS     clients allowed to relay (loopback, private ranges);
#                          also the milter's InternalHosts: the hosts whose
#                          mail is outbound, judged on its recipients
#   MSSANTE_HOSTNAME       Postfix's myhostname (mx.FIRST-LOCAL-DOMAIN)
#   MSSANTE_DRY_RUN        yes: log and tag, never refuse (no)
#   MSSANTE_USER           the milter's user (mssante-milter)
#   MSSANTE_NOTIFY_PORT    the loopback listener without the milter that
#                          carries forwarding notices (master.cf.snippet's
#                          10027); the milter's NotifySMTP follows it
# and, to run the same script outside a container (tests/integration/
# t_container_files.sh does): MSSANTE_ROOT (prefix of every file the script
# writes, empty), MSSANTE_SBIN (where the binaries are, /usr/local/sbin),
# MSSANTE_SHARE (main.cf.snippet, master.cf.snippet and mssante-milter.conf,
# /usr/local/share/mssante-milter), MSSANTE_MAILLOG (/dev/stdout).
set -u

LOCAL_DOMAINS=${MSSANTE_LOCAL_DOMAINS:-chu-test.mssante.fr}
SHARE=${MSSANTE_SHARE:-/usr/local/share/mssante-milter}
WHITELIST=${MSSANTE_WHITELIST:-$SHARE/listeblanche-exemple.xml}
REDIS=${MSSANTE_REDIS:-}
REDIS_PORT=${MSSANTE_REDIS_PORT:-6379}
RELAYHOST=${MSSANTE_RELAYHOST:-}
SMTP_ADDR=${MSSANTE_SMTP_ADDR:-0.0.0.0}
SMTP_PORT=${MSSANTE_SMTP_PORT:-25}
MYNETWORKS=${MSSANTE_MYNETWORKS:-127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16}
first_domain=${LOCAL_DOMAINS%%[, ]*}
HOSTNAME_FQDN=${MSSANTE_HOSTNAME:-mx.$first_domain}
DRY_RUN=${MSSANTE_DRY_RUN:-no}
MILTER_USER=${MSSANTE_USER:-mssante-milter}
NOTIFY_PORT=${MSSANTE_NOTIFY_PORT:-10027}
ROOT=${MSSANTE_ROOT:-}
SBIN=${MSSANTE_SBIN:-/usr/local/sbin}
MAILLOG=${MSSANTE_MAILLOG:-/dev/stdout}

CONF=$ROOT/etc/mssante-milter.conf
PF_ETC=$ROOT/etc/postfix
PF_QUEUE=$ROOT/var/spool/postfix
PF_DATA=$ROOT/var/lib/postfix
STATE=$ROOT/var/lib/mssante-milter
RUN=$ROOT/run/mssante-milter
SOCK_DIR=$PF_QUEUE/mssante-milter
SOCK=$SOCK_DIR/mssante-milter.sock
REDIS_DIR=$ROOT/var/lib/redis-mssante

PATH=$PATH:/usr/sbin:/sbin

say() { echo "docker-entrypoint: $*" >&2; }
# die MESSAGE: stop what this process started ("run" only) and exit 1.
die() { say "$*"; stop_all; exit 1; }

# as_user USER: set AS to the command prefix that runs a program as USER,
# with USER's groups, never regaining privileges (what systemd's User= and
# NoNewPrivileges= do).  setpriv execs the program: "${AS[@]}" prog &
# leaves the program's own pid in $!.
as_user() {
    AS=(setpriv --reuid="$1" --regid="$(id -gn "$1")" --init-groups --no-new-privs)
}

# wait_for SECONDS PID TEST...: until TEST succeeds; fails early when PID
# (the process that should make it true) is gone.
wait_for() {
    local secs=$1 pid=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

tcp_listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
unix_listening() { ss -Hlx 2>/dev/null | grep -q -F " $1 "; }

# ---------------------------------------------------------------- 1. config

prepare_dirs() {
    local group
    group=$(id -gn "$MILTER_USER") || die "no user $MILTER_USER"
    mkdir -p "$ROOT/etc" "$PF_ETC" "$PF_QUEUE" "$PF_DATA" "$RUN" "$STATE" "$SOCK_DIR" \
        || die "cannot create the directories under ${ROOT:-/}"
    case $MAILLOG in
        /dev/*) ;;
        *) mkdir -p "$(dirname "$MAILLOG")" ;;
    esac
    chown postfix "$PF_DATA"
    chown "$MILTER_USER:$group" "$STATE"
    chmod 0750 "$STATE"
    # contrib/mssante-milter.tmpfiles: the set-group-ID bit gives the socket
    # the group postfix.
    chown "$MILTER_USER:postfix" "$SOCK_DIR"
    chmod 2750 "$SOCK_DIR"
}

write_milter_conf() {
    local group
    group=$(id -gn "$MILTER_USER")
    # It may hold RedisPassword: readable by the milter's group only, from
    # the start.
    install -m 0640 -o root -g "$group" /dev/null "$CONF.new" || die "cannot write $CONF"
    {
        grep -v -i -E '^[[:space:]]*(Socket|SocketMode|UserID|LocalDomains|InternalHosts|WhitelistFile|Redis|SnapshotFile|DryRun|NotifySMTP|LogFile|LogPatientIdKeyFile|HeldKeyFile)[[:space:]]' \
            "$SHARE/mssante-milter.conf"
        cat <<EOF

# --- set by docker-entrypoint.sh ---
Socket unix:$SOCK
SocketMode 0660
LocalDomains $LOCAL_DOMAINS
InternalHosts $MYNETWORKS
WhitelistFile $WHITELIST
Redis ${REDIS:-127.0.0.1:$REDIS_PORT}
SnapshotFile $STATE/whitelist.snapshot
DryRun $DRY_RUN
NotifySMTP smtp://127.0.0.1:$NOTIFY_PORT
LogFile stderr
LogPatientIdKeyFile $STATE/logid.key
HeldKeyFile $STATE/held.key
EOF
    } >"$CONF.new" || die "cannot write $CONF"
    mv "$CONF.new" "$CONF"
}

# check_milter_conf: "mssante-milter -n" as the milter's user, once Redis
# holds the list: it checks that mail would flow, not only the syntax.
check_milter_conf() {
    as_user "$MILTER_USER"
    "${AS[@]}" "$SBIN/mssante-milter" -n -c "$CONF" >/dev/null || die "invalid configuration $CONF"
}

# ---------------------------------------------------------------- 2. Redis

PID_REDIS=
start_redis() {
    [ -z "$REDIS" ] || return 0
    mkdir -p "$REDIS_DIR"
    chown redis:redis "$REDIS_DIR"
    # No persistence: the whitelist is published again at every start.
    as_user redis
    "${AS[@]}" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
        --save '' --appendonly no --daemonize no --logfile '' &
    PID_REDIS=$!
    echo "$PID_REDIS" >"$RUN/redis.pid"
    wait_for 15 "$PID_REDIS" tcp_listening "$REDIS_PORT" || die "Redis did not start"
}

# ---------------------------------------------------------------- 3. whitelist

load_whitelist() {
    as_user "$MILTER_USER"
    "${AS[@]}" "$SBIN/mssantectl" -c "$CONF" whitelist load "$WHITELIST" >&2 \
        || die "mssantectl whitelist load $WHITELIST failed"
}

# ---------------------------------------------------------------- 4. milter

PID_MILTER=
start_milter() {
    as_user "$MILTER_USER"
    "${AS[@]}" "$SBIN/mssante-milter" -f -c "$CONF" &
    PID_MILTER=$!
    echo "$PID_MILTER" >"$RUN/mssante-milter.pid"
    wait_for 15 "$PID_MILTER" unix_listening "$SOCK" || die "mssante-milter did not start"
}

# ---------------------------------------------------------------- 5. Postfix

write_postfix_conf() {
    local transport=discard:accepted-by-the-mssante-milter-example
    local interfaces=$SMTP_ADDR listen=$SMTP_ADDR:$SMTP_PORT svc
    [ -n "$RELAYHOST" ] && transport=smtp:$RELAYHOST
    if [ "$SMTP_ADDR" = 0.0.0.0 ]; then
        interfaces=all
        listen=$SMTP_PORT
    fi
    cp "$SHARE/main.cf.snippet" "$PF_ETC/main.cf" || die "cannot write $PF_ETC/main.cf"
    postconf -c "$PF_ETC" -e \
        "compatibility_level = 3.6" \
        "queue_directory = $PF_QUEUE" \
        "data_directory = $PF_DATA" \
        "maillog_file = $MAILLOG" \
        "maillog_file_prefixes = /var, /dev/stdout${ROOT:+, $ROOT}" \
        "myhostname = $HOSTNAME_FQDN" \
        "myorigin = \$myhostname" \
        "mydestination =" \
        "local_recipient_maps =" \
        "alias_maps =" \
        "alias_database =" \
        "inet_interfaces = $interfaces" \
        "inet_protocols = ipv4" \
        "mynetworks = $MYNETWORKS" \
        "relay_domains = $LOCAL_DOMAINS" \
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
        "default_transport = $transport" \
        "relay_transport = $transport" \
        "biff = no" \
        "smtpd_milters = unix:mssante-milter/mssante-milter.sock" \
        "non_smtpd_milters = unix:mssante-milter/mssante-milter.sock" \
        || die "postconf failed"
    # Nothing chrooted: the milter socket path above is relative to the
    # queue directory, which works chrooted or not.
    {
        echo "$listen inet n - n - - smtpd"
        for svc in "pickup unix n - n 60 1 pickup" "cleanup unix n - n - 0 cleanup" \
                   "qmgr unix n - n 300 1 qmgr" "tlsmgr unix - - n 1000? 1 tlsmgr" \
                   "rewrite unix - - n - - trivial-rewrite" "bounce unix - - n - 0 bounce" \
                   "defer unix - - n - 0 bounce" "trace unix - - n - 0 bounce" \
                   "verify unix - - n - 1 verify" "flush unix n - n 1000? 0 flush" \
                   "proxymap unix - - n - - proxymap" "proxywrite unix - - n - 1 proxymap" \
                   "smtp unix - - n - - smtp" "relay unix - - n - - smtp" \
                   "showq unix n - n - - showq" "error unix - - n - - error" \
                   "retry unix - - n - - error" "discard unix - - n - - discard" \
                   "local unix - n n - - local" "anvil unix - - n - 1 anvil" \
                   "scache unix - - n - 1 scache" "postlog unix-dgram n - n - 1 postlogd"; do
            echo "$svc"
        done
        sed "s/^127\.0\.0\.1:10027 /127.0.0.1:$NOTIFY_PORT /" "$SHARE/master.cf.snippet"
    } >"$PF_ETC/master.cf" || die "cannot write $PF_ETC/master.cf"
}

PID_POSTFIX=
start_postfix() {
    # In its own session: on "postfix stop" the master signals its whole
    # process group, which must not include this script.
    setsid postfix -c "$PF_ETC" start-fg &
    PID_POSTFIX=$!
    echo "$PID_POSTFIX" >"$RUN/postfix.pid"
    wait_for 30 "$PID_POSTFIX" tcp_listening "$SMTP_PORT" || die "Postfix did not start"
}

# ---------------------------------------------------------------- stop, wait

# stop PID SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop() {
    local pid=$1 secs=$2 i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

stop_all() {
    [ "$STARTED" = 1 ] || return 0
    trap '' TERM INT
    if [ -n "$PID_POSTFIX" ]; then
        postfix -c "$PF_ETC" stop >/dev/null 2>&1
        stop "$PID_POSTFIX" 15
    fi
    # libmilter notices a stop request within about 7 seconds.
    stop "$PID_MILTER" 15
    stop "$PID_REDIS" 10
    PID_POSTFIX=''
    PID_MILTER=''
    PID_REDIS=''
    rm -f "$RUN"/*.pid
}

supervise() {
    local pids=("$PID_MILTER" "$PID_POSTFIX") pid
    [ -n "$PID_REDIS" ] && pids+=("$PID_REDIS")
    say "ready: SMTP on $SMTP_ADDR:$SMTP_PORT, milter on $SOCK, Redis ${REDIS:-127.0.0.1:$REDIS_PORT}"
    while [ "$STOPPING" = 0 ]; do
        wait -n "${pids[@]}"
        [ "$STOPPING" = 0 ] || break
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && continue
            case $pid in
                "$PID_MILTER")  say "mssante-milter exited: stopping" ;;
                "$PID_POSTFIX") say "Postfix exited: stopping" ;;
                *)              say "Redis exited: stopping" ;;
            esac
            stop_all
            exit 1
        done
    done
    say "stopping"
    stop_all
    exit 0
}

run() {
    STOPPING=0
    STARTED=1
    trap 'STOPPING=1' TERM INT
    prepare_dirs
    write_milter_conf
    start_redis
    load_whitelist
    check_milter_conf
    start_milter
    write_postfix_conf
    start_postfix
    supervise
}

# ---------------------------------------------------------------- health

# milter_answers SOCKET: the milter at that unix socket completes a milter
# protocol negotiation within 3 seconds.  A socket that listens is not
# enough: a hung milter (stopped, deadlocked) keeps its socket accepting
# connections while Postfix defers every message.  The probe offers what
# Postfix 3.7 offers (protocol version 6, every action and protocol step):
# the daemon remembers an MTA that lacks a protocol step, so a probe must
# not offer less.  It then quits: no SMTP session is simulated, and the
# daemon has nothing to log.
milter_answers() {
    python3 - "$1" <<'EOF'
import socket, struct, sys

def read(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data

try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(sys.argv[1])
    body = b"O" + struct.pack("!III", 6, 0x1FF, 0x1FFFFF)
    s.sendall(struct.pack("!I", len(body)) + body)
    (length,) = struct.unpack("!I", read(s, 4))
    reply = read(s, length)
    if reply[:1] != b"O":
        raise ValueError("unexpected reply %r" % reply[:1])
    s.sendall(struct.pack("!I", 1) + b"Q")
    s.close()
except Exception as e:
    sys.stderr.write("%s: %s\n" % (sys.argv[1], e))
    sys.exit(1)
EOF
}

health() {
    local bad=0 why
    if ! unix_listening "$SOCK"; then
        say "unhealthy: nothing listens on $SOCK"
        bad=1
    elif ! why=$(milter_answers "$SOCK" 2>&1); then
        say "unhealthy: mssante-milter does not answer: $why"
        bad=1
    fi
    tcp_listening "$SMTP_PORT" || { say "unhealthy: nothing listens on port $SMTP_PORT"; bad=1; }
    postfix -c "$PF_ETC" status >/dev/null 2>&1 || { say "unhealthy: Postfix is not running"; bad=1; }
    if [ -z "$REDIS" ] && ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
        say "unhealthy: Redis does not answer"
        bad=1
    fi
    "$SBIN/mssantectl" -c "$CONF" whitelist status >/dev/null || { say "unhealthy: no whitelist"; bad=1; }
    return "$bad"
}

# ---------------------------------------------------------------- in a running container

# pid_of milter|postfix|redis: the pid "run" recorded, while it runs.
pid_of() {
    local file pid
    case $1 in
        milter)  file=$RUN/mssante-milter.pid ;;
        postfix) file=$RUN/postfix.pid ;;
        redis)   file=$RUN/redis.pid ;;
        *)       say "usage: docker-entrypoint.sh pid milter|postfix|redis"; return 2 ;;
    esac
    pid=$(cat "$file" 2>/dev/null)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        say "$1 is not running"
        return 1
    fi
    echo "$pid"
}

# reload [MSSANTE_X=VALUE...]: every setting is read at the top of this
# script, so the overrides are applied by running it again with them in
# its environment.
reload() {
    local a pid
    for a in "$@"; do
        case $a in
            MSSANTE_[A-Z_]*=*) ;;
            *) say "reload: not a MSSANTE_NAME=VALUE setting: $a"; return 2 ;;
        esac
    done
    [ $# -eq 0 ] || exec env "$@" bash "$0" reload
    pid=$(pid_of milter) || return 1
    write_milter_conf
    check_milter_conf
    kill -HUP "$pid" || return 1
    say "reload: mssante-milter (pid $pid) reads $CONF again"
}

ctl() {
    as_user "$MILTER_USER"
    "${AS[@]}" "$SBIN/mssantectl" -c "$CONF" "$@"
}

STARTED=0
cmd=${1:-run}
[ $# -gt 0 ] && shift
case $cmd in
    run)    run ;;
    health) health ;;
    reload) reload "$@" ;;
    ctl)    ctl "$@" ;;
    pid)    pid_of "${1:-}" ;;
    *)      echo "usage: docker-entrypoint.sh [run | health | reload [MSSANTE_X=VALUE...] | ctl ARGS... | pid milter|postfix|redis]" >&2
            exit 2 ;;
esac
