#!/bin/bash
# t_startup.sh - nothing fails silently (issue 16): "mssante-milter -n" on
# configurations that parse but would stop or defer mail, checked as the
# user the daemon runs as, each with its exit status and message; starts
# that must fail, saying why on stderr although the daemon detaches; a
# start without a whitelist (Redis: starts and defers until a list comes,
# through a real Postfix; file only: does not start); the pid file (a
# live daemon's refused, a stale one replaced, a link refused); running as
# root said loudly.  The shipped example configuration: -n fails on it
# until the ANS list is where it says, then passes.
set -u
. "$(dirname "$0")/../lib/harness.sh"
h_require_root
h_require_built
id nobody >/dev/null 2>&1 || h_skip_all "needs a user nobody"
h_init

start_redis || exit 1
start_capsink || exit 1
free_port MILTER_PORT || exit 1
start_postfix "inet:127.0.0.1:$MILTER_PORT" || exit 1

# State directories as the service user's (nobody stands for mssante-milter).
mkdir -p "$W/state" "$W/run" "$W/rootonly"
chown nobody "$W/state" "$W/run"
chmod 755 "$W/rootonly"
cp "$FIXTURES/it-list.xml" "$W/state/list.xml"
chown nobody "$W/state/list.xml"

# nconf FILE [LINE...]: a configuration the user nobody can read.
nconf() {
    local f=$1
    shift
    {
        echo "Socket inet:$MILTER_PORT@127.0.0.1"
        echo "LocalDomains chu-test.mssante.fr"
        echo "UserID nobody"
        echo "LogPatientIdKeyFile $W/state/logid.key"
        echo "HeldKeyFile $W/state/held.key"
        if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
    } >"$f"
    chmod 644 "$f"
}

# n_check NAME RC REGEX CONF: "-n -c CONF" exits RC, and its stderr
# matches REGEX (ERE; empty: not looked at).
n_check() {
    local name=$1 want=$2 re=$3 conf=$4 out rc
    out=$("$MILTER_BIN" -n -c "$conf" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" != "$want" ]; then
        not_ok "$name" "exit status $rc, wanted $want" "$out"
    elif [ -n "$re" ] && ! grep -E -q -- "$re" <<<"$out"; then
        not_ok "$name" "no line matching /$re/ in:" "$out"
    else
        ok "$name"
    fi
}

# ---------------------------------------------------------------- -n: the whitelist

c=$W/file-ok.conf
nconf "$c" "WhitelistFile $W/state/list.xml"
n_check "-n: a readable, valid WhitelistFile: OK (exit 0)" 0 '' "$c"
out=$("$MILTER_BIN" -n -c "$c" 2>/dev/null)
check "-n: it says so on stdout" contains "$out" "$c: configuration OK"

c=$W/file-missing.conf
nconf "$c" "WhitelistFile $W/state/none.xml"
n_check "-n: WhitelistFile missing, no Redis: exit 1, naming the file and what to do" 1 \
    "error: WhitelistFile $W/state/none.xml .*No such file.*every message would be deferred.*Put the ANS list there" "$c"

c=$W/file-broken.conf
nconf "$c" "WhitelistFile $FIXTURES/ans-truncated.xml"
n_check "-n: a truncated WhitelistFile: exit 1" 1 "error: WhitelistFile .*ans-truncated.xml" "$c"

cp "$FIXTURES/it-list.xml" "$W/rootonly/list.xml"
chmod 600 "$W/rootonly/list.xml"
c=$W/file-unreadable.conf
nconf "$c" "WhitelistFile $W/rootonly/list.xml"
n_check "-n: a WhitelistFile root can read but not the user: exit 1, checked as that user" 1 \
    "error: WhitelistFile $W/rootonly/list.xml \\(as nobody.*Permission denied" "$c"

c=$W/redis-port.conf
free_port DEAD_PORT || exit 1
nconf "$c" "Redis 127.0.0.1:$DEAD_PORT" "RedisTimeout 500ms"
n_check "-n: Redis on a wrong port: exit 1, saying mail would be deferred" 1 \
    "error: redis 127.0.0.1:$DEAD_PORT.*every message to a local mailbox would be deferred" "$c"

redis-cli -p "$REDIS_PORT" config set requirepass s3cret >/dev/null
c=$W/redis-nopass.conf
nconf "$c" "Redis 127.0.0.1:$REDIS_PORT" "RedisTimeout 500ms"
n_check "-n: Redis wants a password that is not set: exit 1" 1 "error: redis .*(NOAUTH|AUTH)" "$c"
c=$W/redis-badpass.conf
nconf "$c" "Redis 127.0.0.1:$REDIS_PORT" "RedisPassword wrong" "RedisTimeout 500ms"
n_check "-n: a wrong RedisPassword: exit 1" 1 "error: redis .*(WRONGPASS|invalid)" "$c"
redis-cli -p "$REDIS_PORT" -a s3cret --no-auth-warning config set requirepass "" >/dev/null

c=$W/redis-empty.conf
nconf "$c" "Redis 127.0.0.1:$REDIS_PORT" "RedisPrefix empty:"
n_check "-n: Redis holds no list under RedisPrefix, nothing to seed it: exit 1" 1 \
    'error: Redis holds no whitelist under "empty:".*mssantectl whitelist load FILE' "$c"
c=$W/redis-seed.conf
nconf "$c" "Redis 127.0.0.1:$REDIS_PORT" "RedisPrefix empty:" "WhitelistFile $W/state/list.xml"
n_check "-n: Redis empty, WhitelistFile seeds it: exit 0, with a note" 0 \
    'note: Redis holds no whitelist under "empty:" yet: the daemon publishes WhitelistFile' "$c"

c=$W/redis-ok.conf
nconf "$c" "Redis 127.0.0.1:$REDIS_PORT" "RedisPrefix st:" "SnapshotFile $W/state/snap"
ctl -c "$c" whitelist load "$FIXTURES/it-list.xml" >/dev/null 2>&1
n_check "-n: Redis holds the list: exit 0" 0 '' "$c"

c=$W/snap-covers.conf
nconf "$c" "WhitelistFile $FIXTURES/ans-truncated.xml" "SnapshotFile $W/state/snap"
n_check "-n: a broken WhitelistFile, but a usable SnapshotFile: a warning, exit 0" 0 \
    "warning: WhitelistFile .*would serve SnapshotFile $W/state/snap" "$c"

c=$W/unlisted.conf
nconf "$c" "WhitelistFile $W/state/list.xml"
sed -i 's/^LocalDomains .*/LocalDomains chu-test.mssante.fr, pas-liste.mssante.fr/' "$c"
n_check "-n: a LocalDomains entry not on the list: a warning naming it, exit 0" 0 \
    "warning: LocalDomains: pas-liste.mssante.fr is not on the whitelist" "$c"

# ---------------------------------------------------------------- -n: files, as the user

c=$W/pid-root.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "PidFile $W/rootonly/m.pid"
n_check "-n: PidFile in a directory nobody cannot write: exit 1" 1 \
    "error: PidFile $W/rootonly/m.pid: its directory $W/rootonly is not writable by nobody" "$c"

ln -s "$W/rootonly/victim" "$W/run/link.pid"
c=$W/pid-link.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "PidFile $W/run/link.pid"
n_check "-n: PidFile a symbolic link: exit 1" 1 "error: PidFile $W/run/link.pid: a symbolic link" "$c"

c=$W/log-root.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "LogFile $W/rootonly/m.log"
n_check "-n: LogFile nobody cannot create: exit 1" 1 \
    "error: LogFile $W/rootonly/m.log cannot be created in $W/rootonly by nobody" "$c"

c=$W/sock-missing.conf
nconf "$c" "WhitelistFile $W/state/list.xml"
sed -i "s|^Socket .*|Socket unix:$W/no-such-dir/m.sock|" "$c"
n_check "-n: the socket's directory is missing: exit 1" 1 \
    "error: Socket $W/no-such-dir/m.sock: directory $W/no-such-dir: No such file" "$c"

c=$W/outputs.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "SnapshotFile $W/rootonly/snap" \
    "StatsFile $W/rootonly/stats.prom"
n_check "-n: SnapshotFile where nobody cannot write: a warning, exit 0" 0 \
    "warning: SnapshotFile $W/rootonly/snap: its directory $W/rootonly is not writable by nobody" "$c"
n_check "-n: StatsFile where nobody cannot write: a warning" 0 \
    "warning: StatsFile $W/rootonly/stats.prom: .*not writable by nobody" "$c"

c=$W/conf-private.conf
nconf "$c" "WhitelistFile $W/state/list.xml"
chmod 600 "$c"
n_check "-n: a configuration file nobody cannot read: a warning (every reload would fail)" 0 \
    "warning: $c is not readable by nobody .*every reload \\(SIGHUP\\) would fail" "$c"

cp "$W/state/list.xml" "$W/key-list.xml"
# rootonly_key KEY FILE CONF: CONF with KEY (a key-file setting) pointing
# at a key made by root in the directory nobody cannot enter.
rootonly_key() {
    nconf "$3" "WhitelistFile $W/state/list.xml"
    sed -i "s|^$1 .*|$1 $W/rootonly/$2|" "$3"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/rootonly/$2"
    chmod 600 "$W/rootonly/$2"
}

c=$W/key-private.conf
rootonly_key LogPatientIdKeyFile logid.key "$c"
n_check "-n: a LogPatientId key nobody cannot read: exit 1" 1 \
    "error: LogPatientIdKeyFile $W/rootonly/logid.key: Permission denied \\(as nobody" "$c"

c=$W/heldkey-private.conf
rootonly_key HeldKeyFile held.key "$c"
n_check "-n: a HeldKeyFile key nobody cannot read: exit 1" 1 \
    "error: HeldKeyFile $W/rootonly/held.key: Permission denied \\(as nobody" "$c"
c=$W/heldkey-nodir.conf
nconf "$c" "WhitelistFile $W/state/list.xml"
sed -i "s|^HeldKeyFile .*|HeldKeyFile $W/rootonly/sub/held.key|" "$c"
n_check "-n: a HeldKeyFile key that cannot be made: exit 1, naming the directory" 1 \
    "error: HeldKeyFile $W/rootonly/sub/held.key: missing, and it cannot be made in $W/rootonly/sub" "$c"
out=$(timeout 30 "$MILTER_BIN" -f -c "$c" 2>&1 </dev/null)
rc=$?
check "started with it: the start fails, naming HeldKeyFile" \
    eval '[ "$rc" != 0 ] && grep -q "HeldKeyFile $W/rootonly/sub/held.key" <<<"$out"'

mkdir -p "$W/state/loose"
chown nobody "$W/state/loose"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/state/loose/logid.key"
chown nobody "$W/state/loose/logid.key"
chmod 644 "$W/state/loose/logid.key"
c=$W/key-loose.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "PidFile $W/run/loose.pid"
sed -i "s|^LogPatientIdKeyFile .*|LogPatientIdKeyFile $W/state/loose/logid.key|" "$c"
n_check "-n: a LogPatientId key others can read: a warning (chmod 600), exit 0" 0 \
    "warning: LogPatientIdKeyFile $W/state/loose/logid.key can be read by others than its owner.*chmod 600" "$c"
out=$("$MILTER_BIN" -c "$c" 2>&1 >/dev/null)
rc=$?
check "started with that key: it starts, and says so on stderr" \
    eval '[ "$rc" = 0 ] && grep -q "warning: LogPatientIdKeyFile $W/state/loose/logid.key can be read by others" <<<"$out"'
pid=$(cat "$W/run/loose.pid" 2>/dev/null)
[ -n "$pid" ] && { kill "$pid"; wait_pid_gone "$pid" 15 || kill -9 "$pid"; }

c=$W/root.conf
nconf "$c" "WhitelistFile $W/state/list.xml"
sed -i '/^UserID/d' "$c"
n_check "-n: no UserID, run as root: a warning that it would run as root" 0 \
    "warning: the daemon would run as root" "$c"

# ---------------------------------------------------------------- the shipped example

ex=$W/example.conf
sed -e "s|^UserID .*|UserID nobody|" \
    -e "s|^WhitelistFile .*|WhitelistFile $W/state/example/listeblanchemssante.xml|" \
    "$H_ROOT/postfix-examples/mssante-milter.conf" >"$ex"
echo "LogPatientIdKeyFile $W/state/example/logid.key" >>"$ex"
echo "HeldKeyFile $W/state/example/held.key" >>"$ex"
mkdir -p "$W/state/example"
chown nobody "$W/state/example"
n_check "the shipped example: -n fails until the ANS list is there, and says so" 1 \
    "error: WhitelistFile $W/state/example/listeblanchemssante.xml .*No such file" "$ex"
cp "$FIXTURES/it-list.xml" "$W/state/example/listeblanchemssante.xml"
n_check "the shipped example, the list in place: -n passes (the placeholder domain: a warning)" \
    0 "warning: LocalDomains: chu-exemple.mssante.fr is not on the whitelist" "$ex"

# ---------------------------------------------------------------- starts that fail

# start_detached CONF [ARGS...]: the daemon as an init script starts it
# (no -f); START_ERR its stderr, START_RC its exit status.
start_detached() {
    local conf=$1
    shift
    START_ERR=$("$MILTER_BIN" -c "$conf" "$@" 2>&1 >/dev/null)
    START_RC=$?
}

# stop_pidfile FILE: stop the daemon the pid file names, and wait.
stop_pidfile() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    wait_pid_gone "$pid" 15 || kill -9 "$pid" 2>/dev/null
}

c=$W/start-nolist.conf
nconf "$c" "WhitelistFile $W/state/none.xml" "PidFile $W/run/nolist.pid"
start_detached "$c"
check "start, the only source a missing file: exit 1" test "$START_RC" = 1
check "... stderr names the source and why, though the daemon detaches" \
    contains "$START_ERR" "no whitelist in force, and none can come without Redis: WhitelistFile $W/state/none.xml"
check "... and leaves no pid file behind" test ! -e "$W/run/nolist.pid"

c=$W/start-log.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "LogFile $W/rootonly/m.log"
start_detached "$c"
check "start with a LogFile the user cannot create: exit 1, saying why on stderr" \
    eval '[ "$START_RC" = 1 ] && grep -q "error: LogFile $W/rootonly/m.log: Permission denied" <<<"$START_ERR"'

pidf=$W/run/m.pid
c=$W/start-pid.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "PidFile $pidf"
start_detached "$c"
check "a good start, detached: exit 0" test "$START_RC" = 0
[ "$START_RC" = 0 ] || note "$START_ERR"
first=$(cat "$pidf" 2>/dev/null)
check "... the pid file names the daemon" test -n "$first" -a -d "/proc/$first"
free_port OTHER_PORT || exit 1
start_detached "$c" -p "inet:$OTHER_PORT@127.0.0.1"
check "a second daemon with the same PidFile: exit 1, on stderr, naming the running one" \
    eval '[ "$START_RC" = 1 ] && grep -q "PidFile $pidf: mssante-milter is running with pid $first" <<<"$START_ERR"'
check "... the first one's pid file is untouched" test "$(cat "$pidf" 2>/dev/null)" = "$first"
n_check "-n while it runs: the pid file is a note, not an error" 0 \
    "note: PidFile $pidf names a running mssante-milter \\(pid $first\\)" "$c"
stop_pidfile "$pidf"
check "stopped: its pid file is removed" test ! -e "$pidf"

echo "root's file" >"$W/rootonly/victim"
lc=$W/start-pidlink.conf
nconf "$lc" "WhitelistFile $W/state/list.xml" "PidFile $W/run/link.pid"
start_detached "$lc"
check "a start whose PidFile is a symbolic link: exit 1, saying so on stderr" \
    eval '[ "$START_RC" = 1 ] && grep -q "PidFile $W/run/link.pid: a symbolic link" <<<"$START_ERR"'
check "... the file the link points to untouched" test "$(cat "$W/rootonly/victim")" = "root's file"
check "... no temporary file left in the pid file's directory" \
    eval '[ -z "$(find "$W/run" -name ".*" -newer "$lc")" ]'

echo 999999 >"$pidf"
chown nobody "$pidf"
start_detached "$c"
check "a stale pid file (no such process) is replaced: exit 0" test "$START_RC" = 0
check "... and names the new daemon" eval '[ -d "/proc/$(cat "$pidf")" ]'
stop_pidfile "$pidf"

# Syslog: said once at start when nothing answers on /dev/log (this
# machine may have a syslog daemon or not: the case follows what it has).
c=$W/start-syslog.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "PidFile $W/run/syslog.pid"
start_detached "$c"
if python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/dev/log")' \
        2>/dev/null; then
    check "syslog answers on /dev/log: no warning about it" \
        eval '[ "$START_RC" = 0 ] && ! grep -q "syslog is unreachable" <<<"$START_ERR"'
else
    check "nothing answers on /dev/log: the start says so on stderr, once" \
        eval '[ "$START_RC" = 0 ] && [ "$(grep -c "syslog is unreachable" <<<"$START_ERR")" = 1 ]'
fi
stop_pidfile "$W/run/syslog.pid"

c=$W/start-root.conf
nconf "$c" "WhitelistFile $W/state/list.xml" "PidFile $W/run/root.pid"
sed -i '/^UserID/d' "$c"
start_detached "$c"
check "started as root without UserID: a loud warning on stderr" \
    contains "$START_ERR" "RUNNING AS ROOT: neither UserID nor -u is set"
stop_pidfile "$W/run/root.pid"

# ---------------------------------------------------------------- Redis down at start

# The daemon starts without a list, says so, and defers mail until one
# reaches Redis (Redis may come up after the daemon at boot).
c=$W/start-redis.conf
nconf "$c" "Redis 127.0.0.1:$REDIS_PORT" "RedisPrefix late:" "RedisTimeout 500ms" \
    "WhitelistPoll 1s" "PidFile $W/run/late.pid"
start_detached "$c"
check "Redis holds no list at start: the daemon starts (exit 0)" test "$START_RC" = 0
check "... saying on stderr that no list is in force, and why" \
    contains "$START_ERR" "no whitelist in force: Redis: holds no list yet"
send_mail late-1 dr.martin@chu-test.mssante.fr confrere@medecin.mssante.fr
check "... mail is deferred (451 4.3.0) meanwhile" \
    assert_reply "$LAST_TRANSCRIPT" "MAIL FROM" '^451 4\.3\.0'
ctl -c "$c" whitelist load "$FIXTURES/it-list.xml" >/dev/null 2>&1
ok_after=0
for _ in $(seq 1 50); do
    send_mail late-2 dr.martin@chu-test.mssante.fr confrere@medecin.mssante.fr
    smtp_reply "$LAST_TRANSCRIPT" . | grep -q '^250 ' && { ok_after=1; break; }
    sleep 0.2
done
check "... and accepted once the list is in Redis" test "$ok_after" = 1
stop_pidfile "$W/run/late.pid"

# Redis not even listening (it comes up after the daemon at boot): the
# daemon starts, naming each source tried and why it gave nothing.
free_port DOWN_PORT || exit 1
c=$W/start-redis-down.conf
nconf "$c" "Redis 127.0.0.1:$DOWN_PORT" "RedisTimeout 500ms" "SnapshotFile $W/state/no-snap" \
    "PidFile $W/run/down.pid"
start_detached "$c"
check "Redis down at start, no snapshot: the daemon starts (exit 0)" test "$START_RC" = 0
check "... stderr names Redis and the snapshot, and says mail is deferred" \
    eval 'grep -q "no whitelist in force: Redis: redis 127.0.0.1:$DOWN_PORT: Connection refused; SnapshotFile $W/state/no-snap: .*No such file.*mail is deferred (451 4.3.0)" <<<"$START_ERR"'
stop_pidfile "$W/run/down.pid"

exit 0
