# sentinel.sh - a highly available Redis on loopback for the tests: a
# master, a replica and three sentinels (quorum 2, down-after-milliseconds
# 1000, a short failover-timeout).  Sourced by harness.sh; h_cleanup calls
# sn_cleanup, so everything started here stops with the test.
#
#   sn_start                  start the set; sets SN_NAME (the master name),
#                             SN_MASTER and SN_REPLICA (ports), SN_SENTINELS
#                             (three ports), SN_LIST ("127.0.0.1:P,..." for
#                             RedisSentinels) and SN_SOCK (the first
#                             master's unix socket).  Settings, read from
#                             the environment when sn_start runs:
#     SN_PASS=PW              requirepass (the default user) on both Redis
#                             servers, and what the replica and the
#                             sentinels authenticate with
#     SN_USERS=(ACL...)       extra ACL users, one "user" rule line each
#                             ("mssante on >pw ~* +@all"), for the clients
#     SN_SENTINEL_PASS=PW     requirepass on the sentinels (and
#                             sentinel-pass between them)
#   sn_cli PORT ARGS...       redis-cli to a Redis server, as the default user
#   sn_scli PORT ARGS...      redis-cli to a sentinel
#   sn_master_port            the master's port, as the sentinels say
#   sn_failover               SENTINEL FAILOVER, retried while the sentinels
#                             are not ready for it (no replica seen yet...)
#   sn_wait_master_not PORT [SECONDS]
#                             until the sentinels name a master other than
#                             PORT; sets SN_MASTER to it
#   sn_wait_role PORT ROLE [SECONDS]
#                             until the server on PORT says ROLE (master,
#                             slave) in INFO replication
#   sn_bg FILE CMD...         run CMD in the background, output in FILE;
#                             stopped (SIGTERM) by sn_cleanup, or by
#                             sn_bg_stop; sets SN_BG_PID
#
# Readiness comes from the servers' logs (replica synchronised, every
# sentinel has seen the replica and the two other sentinels), never from a
# probe connection, so that the logs hold only what the tests did.  Data
# directories live under $W/redis/PORT (Redis, so stop_redis works on them,
# "stop_redis PORT KILL" included) and $W/sentinel/PORT.

SN_NAME=mymaster
SN_BG_PIDS=()
SN_USERS=()

# sn_require: skip the whole script when the servers are not installed.
sn_require() {
    local b
    for b in redis-server redis-sentinel redis-cli ss; do
        command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
        command -v "$b" >/dev/null 2>&1 || h_skip_all "$b is not installed (Debian package redis-sentinel)"
    done
}

# sn_redis_args PORT: the settings every Redis server of the set shares.
sn_redis_args() {
    local port=$1 d=$W/redis/$1 u words
    SN_ARGS=(--bind 127.0.0.1 --port "$port" --save '' --appendonly no
             --daemonize yes --pidfile "$d/redis.pid" --dir "$d" --logfile "$d/redis.log"
             --unixsocket "$d/redis.sock" --unixsocketperm 700
             --repl-diskless-sync yes --repl-diskless-sync-delay 0)
    if [ -n "${SN_PASS:-}" ]; then
        SN_ARGS+=(--requirepass "$SN_PASS" --masterauth "$SN_PASS")
    fi
    # One word per argument (redis-server joins them into a config line);
    # read -a splits without expanding the "~*" key patterns.
    for u in "${SN_USERS[@]}"; do
        read -r -a words <<<"$u"
        SN_ARGS+=(--user "${words[@]}")
    done
}

# sn_start_redis PORT [REDIS-ARGS...]
sn_start_redis() {
    local port=$1 d=$W/redis/$1
    shift
    mkdir -p "$d"
    sn_redis_args "$port"
    redis-server "${SN_ARGS[@]}" "$@" >"$d/start.out" 2>&1 ||
        { note "redis-server $port did not start:" "$(cat "$d/start.out")"; return 1; }
    wait_listen "$port" 10 ||
        { note "redis $port not listening:" "$(tail -5 "$d/redis.log")"; return 1; }
}

# sn_start_sentinel PORT: monitoring SN_MASTER.
sn_start_sentinel() {
    local port=$1 d=$W/sentinel/$1
    mkdir -p "$d"
    {
        echo "port $port"
        echo "bind 127.0.0.1"
        echo "daemonize yes"
        echo "pidfile $d/sentinel.pid"
        echo "logfile $d/sentinel.log"
        echo "dir $d"
        echo "sentinel monitor $SN_NAME 127.0.0.1 $SN_MASTER 2"
        echo "sentinel down-after-milliseconds $SN_NAME 1000"
        echo "sentinel failover-timeout $SN_NAME 5000"
        echo "sentinel parallel-syncs $SN_NAME 1"
        [ -n "${SN_PASS:-}" ] && echo "sentinel auth-pass $SN_NAME $SN_PASS"
        if [ -n "${SN_SENTINEL_PASS:-}" ]; then
            echo "requirepass $SN_SENTINEL_PASS"
            echo "sentinel sentinel-pass $SN_SENTINEL_PASS"
        fi
    } >"$d/sentinel.conf"
    redis-sentinel "$d/sentinel.conf" >"$d/start.out" 2>&1 ||
        { note "redis-sentinel $port did not start:" "$(cat "$d/start.out")"; return 1; }
    wait_listen "$port" 10 ||
        { note "sentinel $port not listening:" "$(tail -5 "$d/sentinel.log")"; return 1; }
}

# sn_log_has FILE FIXED-STRING [COUNT]: at least COUNT (1) matching lines.
sn_log_has() {
    [ "$(grep -c -F -- "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ]
}

# sn_wait_ready SECONDS: the replica is in sync and every sentinel knows the
# replica and the two other sentinels (so that a failover can happen).
sn_wait_ready() {
    local secs=$1 i p ready
    for i in $(seq 1 $((secs * 10))); do
        ready=1
        sn_log_has "$W/redis/$SN_REPLICA/redis.log" "MASTER <-> REPLICA sync: Finished with success" ||
            ready=0
        for p in "${SN_SENTINELS[@]}"; do
            sn_log_has "$W/sentinel/$p/sentinel.log" "+slave slave 127.0.0.1:$SN_REPLICA" || ready=0
            sn_log_has "$W/sentinel/$p/sentinel.log" "+sentinel sentinel " 2 || ready=0
        done
        [ "$ready" = 1 ] && return 0
        sleep 0.1
    done
    note "the Sentinel set is not ready after ${secs}s:" \
        "$(tail -3 "$W/redis/$SN_REPLICA/redis.log")" \
        "$(for p in "${SN_SENTINELS[@]}"; do tail -4 "$W/sentinel/$p/sentinel.log"; done)"
    return 1
}

sn_start() {
    local p
    free_port SN_MASTER || return 1
    free_port SN_REPLICA || return 1
    SN_SENTINELS=()
    for _ in 1 2 3; do
        free_port SN_PORT || return 1
        SN_SENTINELS+=("$SN_PORT")
    done
    SN_LIST=$(printf '127.0.0.1:%s,' "${SN_SENTINELS[@]}")
    SN_LIST=${SN_LIST%,}
    SN_SOCK=$W/redis/$SN_MASTER/redis.sock
    sn_start_redis "$SN_MASTER" || return 1
    sn_start_redis "$SN_REPLICA" --replicaof 127.0.0.1 "$SN_MASTER" || return 1
    for p in "${SN_SENTINELS[@]}"; do
        sn_start_sentinel "$p" || return 1
    done
    sn_wait_ready 60
}

# sn_redis_cli PASSWORD PORT ARGS...: the password through the environment
# (not on the command line, where ps shows it), only when there is one.
sn_redis_cli() {
    local pass=$1 port=$2
    shift 2
    if [ -n "$pass" ]; then
        REDISCLI_AUTH=$pass redis-cli -h 127.0.0.1 -p "$port" "$@"
    else
        redis-cli -h 127.0.0.1 -p "$port" "$@"
    fi
}

sn_cli() { sn_redis_cli "${SN_PASS:-}" "$@"; }
sn_scli() { sn_redis_cli "${SN_SENTINEL_PASS:-}" "$@"; }

# The master's port according to the first sentinel that answers.
sn_master_port() {
    local p out
    for p in "${SN_SENTINELS[@]}"; do
        out=$(sn_scli "$p" SENTINEL get-master-addr-by-name "$SN_NAME" 2>/dev/null | sed -n 2p)
        [ -n "$out" ] && { echo "$out"; return 0; }
    done
    return 1
}

sn_failover() {
    local i out
    for i in $(seq 1 60); do
        out=$(sn_scli "${SN_SENTINELS[0]}" SENTINEL FAILOVER "$SN_NAME" 2>&1)
        [ "$out" = OK ] && return 0
        sleep 0.5
    done
    h_fail "SENTINEL FAILOVER never accepted: $out"
}

sn_wait_master_not() {
    local old=$1 secs=${2:-30} i m
    for i in $(seq 1 $((secs * 10))); do
        m=$(sn_master_port)
        if [ -n "$m" ] && [ "$m" != "$old" ]; then
            SN_MASTER=$m
            return 0
        fi
        sleep 0.1
    done
    h_fail "the sentinels still name port $old as the master after ${secs}s"
}

sn_wait_role() {
    local port=$1 role=$2 secs=${3:-30} i
    for i in $(seq 1 $((secs * 10))); do
        sn_cli "$port" INFO replication 2>/dev/null | grep -q "^role:$role" && return 0
        sleep 0.1
    done
    h_fail "redis $port is not a $role after ${secs}s: $(sn_cli "$port" INFO replication 2>&1 | head -3)"
}

sn_bg() {
    local out=$1
    shift
    "$@" >"$out" 2>&1 &
    SN_BG_PID=$!
    SN_BG_PIDS+=("$SN_BG_PID")
}

# sn_bg_stop PID [SECONDS]: SIGTERM, wait (SIGKILL after SECONDS, 10).
sn_bg_stop() {
    local pid=$1 secs=${2:-10}
    kill "$pid" 2>/dev/null || return 0
    wait_pid_gone "$pid" "$secs" || kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# sn_stop_pidfile FILE: SIGTERM the process whose pid FILE holds.
sn_stop_pidfile() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    wait_pid_gone "$pid" 5 || kill -9 "$pid" 2>/dev/null
    wait_pid_gone "$pid" 2
    rm -f "$1"
}

# Sentinels first: they would otherwise start failovers while Redis stops.
sn_cleanup() {
    local pid d
    for pid in "${SN_BG_PIDS[@]}"; do
        sn_bg_stop "$pid" 5
    done
    SN_BG_PIDS=()
    for d in "$W"/sentinel/*/; do
        [ -d "$d" ] && sn_stop_pidfile "$d/sentinel.pid"
    done
    return 0
}
