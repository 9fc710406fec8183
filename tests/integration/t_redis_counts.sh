#!/bin/bash
# t_redis_counts.sh - sizes read from Redis never size an allocation before
# the data is there (issue 13).  Needs Redis only, not root nor Postfix.
#
# A whitelist version's metadata says how many domains and operator CNs
# it holds; the reader used to make room for that many before reading a
# single one, so a damaged or forged "count" of 10^9 cost gigabytes.  Here
# a real version is published, its metadata then claims 10^9 domains, and
# mssantectl (the daemon reads versions with the same code) runs with its
# address space limited: the version must be refused for what was really
# read ("has N domains, its metadata says 1000000000"), never fail for want
# of memory.  A reply that announces an array of 10^9 elements is refused
# the same way before hiredis makes room for it.
set -u
. "$(dirname "$0")/../lib/harness.sh"
[ -x "$CTL_BIN" ] || { not_ok "$(basename "$0"): $CTL_BIN exists" "build first"; exit 1; }
command -v python3 >/dev/null 2>&1 || h_skip_all "python3 is not installed"
h_init

start_redis || exit 1
conf=$W/ctl.conf
cat >"$conf" <<EOF
LocalDomains chu-test.mssante.fr
Redis 127.0.0.1:$REDIS_PORT
RedisTimeout 5s
EOF
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# limited CMD...: CMD with its memory limited.  Plain builds: an address
# space of 400 MiB, far above what mssantectl needs and far below what a
# count of 10^9 made it ask for.  Sanitizer builds reserve terabytes of
# address space, so there the allocator refuses any single request above
# 64 MiB instead.
SANITIZED=no
case ${BUILD:-build} in *san*) SANITIZED=yes ;; esac
limited() {
    if [ "$SANITIZED" = yes ]; then
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=64 \
            "$@"
    else
        (ulimit -v 409600 && exec "$@")
    fi
}

out=$("$CTL_BIN" -c "$conf" whitelist load "$FIXTURES/it-list.xml" 2>&1)
check "a real list is published" test $? = 0 || note "$out"
ID=$(rcli GET mssante:wl:current)
META=mssante:wl:v:$ID:meta
REAL=$(rcli HGET "$META" count)
check "its metadata counts its domains ($REAL)" test "${REAL:-0}" -gt 0

out=$(limited "$CTL_BIN" -c "$conf" check medecin.mssante.fr 2>&1)
check "with the memory limit, the real version loads (check answers 0)" test $? = 0 ||
    note "$out"

rcli HSET "$META" count 1000000000 >/dev/null
out=$(limited "$CTL_BIN" -c "$conf" check medecin.mssante.fr 2>&1)
rc=$?
check "a version claiming 10^9 domains: refused for what was read, not for memory" \
    eval 'contains "$out" "has $REAL domains, its metadata says 1000000000" &&
          ! contains "$out" "out of memory" >/dev/null'
check "a version claiming 10^9 domains: no whitelist (exit 3)" test "$rc" = 3 || note "$out"
rcli HSET "$META" count "$REAL" >/dev/null

# The operator CNs are sized by the same count.
CERTS=$(rcli HGET "$META" certs)
rcli HSET "$META" certs 1000000000 >/dev/null
out=$(limited "$CTL_BIN" -c "$conf" check medecin.mssante.fr 2>&1)
check "a version claiming 10^9 operator CNs: refused for what was read" \
    eval 'contains "$out" "metadata says 1000000000" && ! contains "$out" "out of memory" >/dev/null'
rcli HSET "$META" certs "$CERTS" >/dev/null

# A server (or anything in between) announcing an array of 10^9 elements:
# hiredis would make room for all of them on reading the header alone.
# A fake Redis answers every command so.
free_port FAKE_PORT || exit 1
python3 - "$FAKE_PORT" <<'PYEOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
s.settimeout(30)
try:
    while True:
        c, _ = s.accept()
        c.settimeout(5)
        try:
            while c.recv(65536):
                c.sendall(b"*1000000000\r\n")
        except OSError:
            pass
        c.close()
except OSError:
    pass
PYEOF
FAKE_PID=$!
wait_listen "$FAKE_PORT" 10
fake=$W/fake.conf
sed "s/^Redis .*/Redis 127.0.0.1:$FAKE_PORT/" "$conf" >"$fake"
out=$(limited "$CTL_BIN" -c "$fake" whitelist status 2>&1)
rc=$?
check "a reply announcing 10^9 elements: refused as too big, exit 3" \
    eval 'test "$rc" = 3 && contains "$out" "too many elements"' || note "exit $rc"
kill "$FAKE_PID" 2>/dev/null
wait "$FAKE_PID" 2>/dev/null
exit 0
