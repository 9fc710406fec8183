#!/bin/bash
# t_reload_user.sh - the documented user set-up (issue 16), through a real
# Postfix: started as root with "-u USER:postfix" and a configuration
# "0640 root:USER'S-GROUP" (it may hold RedisPassword), the daemon keeps
# the user's supplementary groups, so every reload reads the file: a
# reload adding a local domain changes what mail is refused.  A reload
# that fails (the file made unreadable) is visible in mssantectl status,
# with its reason, and in the metrics; mail goes on with the configuration
# in force.  nobody (group nogroup) stands for mssante-milter.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
id nobody >/dev/null 2>&1 || h_skip_all "needs a user nobody"
getent group postfix >/dev/null || h_skip_all "needs a group postfix"
USER_GROUP=$(id -gn nobody)
[ "$USER_GROUP" != postfix ] || h_skip_all "nobody's own group is postfix"
h_init

start_redis || exit 1
start_capsink || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

LOCAL=dr.martin@chu-test.mssante.fr
NEWLOCAL=accueil@autre-site.chu-test.mssante.fr   # ours only after the reload
mkdir -p "$W/state"
chown nobody "$W/state"
conf=$W/etc/mssante-milter.conf
mkdir -p "$W/etc"
chmod 755 "$W/etc"

# write_conf DOMAINS: the file as the documentation says to keep it:
# root:<the user's group> 0640, replaced in one rename.
write_conf() {
    install -m 0640 -o root -g "$USER_GROUP" /dev/null "$conf.new"
    cat >"$conf.new" <<EOF
Socket inet:$MILTER_PORT@127.0.0.1
LocalDomains $1
LogLevel info
Redis 127.0.0.1:$REDIS_PORT
WhitelistFile $FIXTURES/it-list.xml
LogPatientIdKeyFile $W/state/logid.key
HeldKeyFile $W/state/held.key
PidFile $W/state/m.pid
StatsFile $W/state/stats.prom
StatsInterval 1s
EOF
    mv "$conf.new" "$conf"
}
write_conf chu-test.mssante.fr
check "the configuration is root:$USER_GROUP 0640, unreadable by others" \
    test "$(stat -c '%U:%G %a' "$conf")" = "root:$USER_GROUP 640"

out=$("$MILTER_BIN" -n -c "$conf" -u nobody:postfix 2>&1)
rc=$?
check "-n as nobody:postfix: the file is readable by that user (exit 0)" test "$rc" = 0
[ "$rc" = 0 ] || note "$out"
check "-n: no warning that a reload would fail" \
    eval '! grep -q "every reload" <<<"$out"'

"$MILTER_BIN" -f -c "$conf" -u nobody:postfix \
    >>"$W/milter/milter.log" 2>&1 &
H_PID_MILTER=$!
wait_listen "$MILTER_PORT" 15 "$H_PID_MILTER" || { not_ok "the daemon listens"; exit 1; }
# The socket listens before the daemon becomes its user: wait until it is.
wait_milter_log "starting mssante-milter" 15 || { not_ok "the daemon starts"; exit 1; }

status_line() { grep "^$1:" "/proc/$H_PID_MILTER/status" | cut -f2-; }
gid_of() { getent group "$1" | cut -d: -f3; }
check "the process runs as nobody, group postfix" \
    eval '[ "$(status_line Uid | cut -f1)" = "$(id -u nobody)" ] && [ "$(status_line Gid | cut -f1)" = "$(gid_of postfix)" ]'
check "it keeps nobody's own group ($USER_GROUP) among its supplementary groups" \
    eval 'grep -qw "$(gid_of "$USER_GROUP")" <<<"$(status_line Groups)"'

send_outside before dr.durand@chu-lille.mssante.fr "$NEWLOCAL"
check "before the reload, $NEWLOCAL is not ours: relayed" delivered before

write_conf "chu-test.mssante.fr, autre-site.chu-test.mssante.fr"
kill -HUP "$H_PID_MILTER"
check "SIGHUP: the 0640 file is read again" \
    wait_milter_log "reloaded $conf: 2 local domain\\(s\\)"
send_outside after someone@gmail.com "$NEWLOCAL"
check "after the reload it is ours: a classic sender is refused" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1'
# status_says ERE: mssantectl status has such a line, within 10 s (the
# daemon publishes its state every StatsInterval); STATUS_OUT the output.
status_says() {
    local i
    for i in $(seq 1 50); do
        STATUS_OUT=$(MAIL_CONFIG=$H_PF_ETC "$CTL_BIN" -c "$conf" status 2>&1)
        grep -E -q -- "$1" <<<"$STATUS_OUT" && return 0
        sleep 0.2
    done
    h_fail "$STATUS_OUT"
}
check "mssantectl status: the last reload applied" status_says '^reload +OK +last reload .*: applied'

# A reload that fails: the file unreadable by the user.
chmod 0600 "$conf"
kill -HUP "$H_PID_MILTER"
check "a reload of a file the user cannot read fails, logged" \
    wait_milter_log "error: reload: .*Permission denied"
check "mssantectl status: WARNING, the reload failed, with the reason" \
    status_says '^reload +WARNING +the last reload .* failed: .*Permission denied'
metrics_say_failed() {
    local i
    for i in $(seq 1 50); do
        grep -q '^mssante_milter_config_reloads_total{result="failed"} 1$' "$W/state/stats.prom" \
            && grep -q '^mssante_milter_last_reload_success 0$' "$W/state/stats.prom" && return 0
        sleep 0.2
    done
    h_fail "$(grep reload "$W/state/stats.prom")"
}
check "the metrics: a failed reload counted, the last one unsuccessful" metrics_say_failed
send_outside still someone@gmail.com "$NEWLOCAL"
check "mail goes on with the configuration in force" \
    assert_reply "$LAST_TRANSCRIPT" "RCPT TO" '^550 5\.7\.1'

stop_milter
exit 0
