# nodes.sh - several MX nodes on loopback for the tests: each node is a
# private Postfix (start_postfix, under $W/node-NAME) with its own
# mssante-milter, every node relaying to the one capture sink (start it
# first) and sharing one Redis or one Sentinel set.  Sourced by
# harness.sh; h_cleanup calls nodes_cleanup, so the nodes stop with the
# test.
#
#   node_postfix NAME         the node's Postfix; sets NODE_SMTP[NAME],
#                             NODE_NOTIFY[NAME] (its notice listener, for
#                             NotifySMTP), NODE_ETC[NAME], NODE_MPORT[NAME]
#   node_conf NAME FILE       milter_conf, then the node's own lines
#                             (NodeName NAME, NotifySMTP); callers append
#   node_milter NAME CONF     start (or restart) the node's daemon, log in
#                             NODE_LOG[NAME]
#   node_stop NAME [quiet]    SIGTERM its daemon; unless quiet, a case says
#                             whether it stopped cleanly (sanitizers too)
#   node_send NAME MAILARGS   send_mail through the node's Postfix
#   node_outside NAME ARGS    send_outside through it
#   node_maillog NAME         its Postfix log
#   node_queue_count NAME     messages in its Postfix queue
#   node_log_wait NAME REGEX [SECONDS]   wait_milter_log for its daemon
#   node_verdict NAME QID REGEX          verdict_logged for its daemon

declare -A NODE_SMTP=() NODE_NOTIFY=() NODE_ETC=() NODE_MPORT=() NODE_PID=() NODE_LOG=()
NODE_NAMES=()

node_postfix() {
    local name=$1
    free_port "NODE_MPORT_TMP" || return 1
    NODE_MPORT[$name]=$NODE_MPORT_TMP
    mkdir -p "$W/node-$name"
    H_PF_DIR=$W/node-$name/postfix start_postfix "inet:127.0.0.1:${NODE_MPORT[$name]}" ||
        return 1
    NODE_SMTP[$name]=$SMTP_PORT
    NODE_NOTIFY[$name]=$NOTIFY_PORT
    NODE_ETC[$name]=$H_PF_ETC
    NODE_LOG[$name]=$W/node-$name/milter.log
    NODE_NAMES+=("$name")
    # The harness's own stop_postfix is for its single instance.
    H_PF_ETC=
}

node_conf() {
    local name=$1 file=$2
    milter_conf "$file"
    cat >>"$file" <<EOF2
NodeName $name
NotifySMTP smtp://127.0.0.1:${NODE_NOTIFY[$name]}
EOF2
}

node_milter() {
    local name=$1 conf=$2 log=${NODE_LOG[$1]}
    echo "=== start $(date +%T.%N) $conf" >>"$log"
    "$MILTER_BIN" -f -c "$conf" -p "inet:${NODE_MPORT[$name]}@127.0.0.1" >>"$log" 2>&1 &
    NODE_PID[$name]=$!
    if ! wait_listen "${NODE_MPORT[$name]}" 20 "${NODE_PID[$name]}"; then
        note "mssante-milter of node $name did not start:" "$(tail -20 "$log")"
        return 1
    fi
}

node_stop() {
    local name=$1 quiet=${2:-} pid=${NODE_PID[$1]:-} rc log=${NODE_LOG[$1]}
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    if wait_pid_gone "$pid" 15; then
        wait "$pid" 2>/dev/null
        rc=$?
    else
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rc=killed
    fi
    NODE_PID[$name]=
    echo "=== stopped $(date +%T.%N) status $rc" >>"$log"
    local report
    report=$(grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" 2>/dev/null)
    if [ "$quiet" != quiet ]; then
        if [ "$rc" = 0 ] && [ -z "$report" ]; then
            ok "node $name: mssante-milter stops cleanly on SIGTERM"
        else
            not_ok "node $name: mssante-milter stops cleanly on SIGTERM" "exit status: $rc" \
                "${report:-$(tail -20 "$log")}"
        fi
    elif [ -n "$report" ]; then
        not_ok "node $name: no sanitizer report in the milter log" "$report"
    fi
}

node_send() {
    local name=$1 saved=$SMTP_PORT rc
    shift
    SMTP_PORT=${NODE_SMTP[$name]}
    send_mail "$@"
    rc=$?
    SMTP_PORT=$saved
    return "$rc"
}

node_outside() {
    local name=$1 saved=$SMTP_PORT rc
    shift
    SMTP_PORT=${NODE_SMTP[$name]}
    send_outside "$@"
    rc=$?
    SMTP_PORT=$saved
    return "$rc"
}

node_maillog() { cat "$W/node-$1/postfix/log/maillog" 2>/dev/null; }

node_queue_count() { postqueue -c "${NODE_ETC[$1]}" -j 2>/dev/null | grep -c '^{'; }

# The harness's log helpers read $W/milter/milter.log: point them at the
# node's log for one call.
node_log_wait() {
    local name=$1
    shift
    H_NODE_LOG=${NODE_LOG[$name]} node_with_log wait_milter_log "$@"
}

node_verdict() {
    local name=$1
    shift
    H_NODE_LOG=${NODE_LOG[$name]} node_with_log verdict_logged "$@"
}

# node_with_log CMD...: CMD with $W/milter/milter.log being the node's log.
node_with_log() {
    local real=$W/milter/milter.log saved=$W/milter/milter.log.single rc
    mkdir -p "$W/milter"
    [ -e "$real" ] && [ ! -L "$real" ] && mv "$real" "$saved"
    ln -sfn "$H_NODE_LOG" "$real"
    "$@"
    rc=$?
    rm -f "$real"
    [ -e "$saved" ] && mv "$saved" "$real"
    return "$rc"
}

nodes_cleanup() {
    local name pid
    for name in "${NODE_NAMES[@]}"; do
        [ -n "${NODE_PID[$name]:-}" ] && node_stop "$name" quiet
        [ -n "${NODE_ETC[$name]:-}" ] || continue
        pid=$(tr -d ' \n' <"$W/node-$name/postfix/queue/pid/master.pid" 2>/dev/null)
        postfix -c "${NODE_ETC[$name]}" stop >/dev/null 2>&1
        if [ -n "$pid" ] && ! wait_pid_gone "$pid" 10; then
            kill -9 "$pid" $(pgrep -P "$pid") 2>/dev/null
            wait_pid_gone "$pid" 2
        fi
        NODE_ETC[$name]=
    done
    NODE_NAMES=()
    return 0
}
