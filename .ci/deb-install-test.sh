#!/bin/bash
# deb-install-test.sh DEB VERSION WHITELIST - the package on a fresh Debian 12,
# as root, in a throwaway container (.ci/package.sh runs it there: it
# installs Postfix and systemd's packages, and purges).
#
#   1. apt-get install ./DEB (its dependencies and recommendations from the
#      archive, Postfix preseeded as in .ci/run);
#   2. the service user, the conffile's owner and mode, the socket
#      directory in the Postfix queue, nothing enabled or running;
#      "mssante-milter -n" on the shipped /etc/mssante-milter.conf (refused
#      until the whitelist is where it says, then accepted),
#      "mssante-milter -V" and "mssantectl --version" give VERSION;
#   3. the daemon started as the unit starts it (as mssante-milter, in the
#      foreground, the shipped configuration) once a whitelist is where that
#      configuration names it (WHITELIST copied there): it listens on the
#      configured socket and stops on SIGTERM with status 0;
#   4. apt-get purge: no file of the package, nothing named mssante left
#      but the system user (Debian policy keeps it);
#   5. again, from there: install (the user already exists), remove (the
#      conffile stays), purge: the file system is exactly as before.
set -u

deb=$1
version=$2
whitelist=$3
export DEBIAN_FRONTEND=noninteractive
FAILED=0
LOG=/tmp/deb-install-test.log

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
note() { printf '%s\n' "$@" | sed 's/^/# /'; }

# logged COMMAND...: its output to the log, shown when it fails.
logged() {
    echo "+ $*" >>"$LOG"
    "$@" >>"$LOG" 2>&1 && return 0
    tail -25 "$LOG" | sed 's/^/# /'
    return 1
}

apt_install() { (cd "$(dirname "$deb")" && logged apt-get install -y "./$(basename "$deb")"); }

status_of() { dpkg-query -W -f '${Status} ${Version}' mssante-milter 2>/dev/null; }

# snapshot: every path of the system, but the volatile ones and this test's.
snapshot() {
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
        -o -path /pkg -o -path /var/cache -o -path /var/log -o -path /var/lib/apt \
        -o -path /var/lib/dpkg \) -prune -o -print | sort
}

# running NAME: a process of that name runs.
running() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = "$1" ] && return 0
    done
    return 1
}

# tcp_listening HOST_HEX PORT: in /proc/net/tcp, LISTEN state (0A).
tcp_listening() {
    awk -v a="$(printf '%s:%04X' "$1" "$2")" '$2 == a && $4 == "0A" { f = 1 } END { exit !f }' \
        /proc/net/tcp
}

echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
check "apt-get update" logged apt-get update
check "apt-get install ./$(basename "$deb")" apt_install
check "mssante-milter $version is installed" test "$(status_of)" = "install ok installed $version"

# ---------------------------------------------------------------- installed

IFS=: read -r _ _ uid _ _ home shell <<<"$(getent passwd mssante-milter)"
check "the postinst created the system user mssante-milter (uid ${uid:-none})" \
    test -n "$uid" -a "${uid:-1000}" -lt 1000
check "its home is /var/lib/mssante-milter, its shell nologin" \
    test "$home" = /var/lib/mssante-milter -a "${shell##*/}" = nologin
check "its state directory /var/lib/mssante-milter: 0750 mssante-milter:mssante-milter" \
    test "$(stat -c '%a %U:%G' /var/lib/mssante-milter 2>/dev/null)" = "750 mssante-milter:mssante-milter"
check "/etc/mssante-milter.conf is root:mssante-milter 0640 (it may hold RedisPassword)" \
    test "$(stat -c '%U:%G %a' /etc/mssante-milter.conf 2>/dev/null)" = "root:mssante-milter 640"
check "Postfix came with it (Recommends)" test "$(dpkg-query -W -f '${Status}' postfix 2>/dev/null)" = "install ok installed"
check "the socket directory in the Postfix queue: 2750 mssante-milter:postfix" \
    test "$(stat -c '%a %U:%G' /var/spool/postfix/mssante-milter 2>/dev/null)" = "2750 mssante-milter:postfix"
check "the service is not enabled" \
    test -z "$(find /etc/systemd/system -name mssante-milter.service 2>/dev/null)"
check "and nothing started the daemon" eval '! running mssante-milter'

# -n checks that mail would flow: before the list is where WhitelistFile
# says, the shipped file is refused, naming that file; once it is there
# (the administrator's first step), accepted.
list=$(sed -n 's/^WhitelistFile[[:space:]]\+//p' /etc/mssante-milter.conf)
out=$(mssante-milter -n 2>&1)
rc=$?
check "mssante-milter -n without the list: refused, naming $list" \
    test "$rc" != 0 -a -n "$(grep -F "$list" <<<"$out")"
install -o mssante-milter -g mssante-milter -m 0640 "$whitelist" "$list"
out=$(mssante-milter -n 2>&1)
rc=$?
check "mssante-milter -n accepts the shipped /etc/mssante-milter.conf once the list is there" \
    test "$rc" = 0
note "$out"
got=$(mssante-milter -V 2>&1)
check "mssante-milter -V says $version" test "${got%% (*}" = "mssante-milter $version"
check "mssantectl --version says $version" test "$(mssantectl --version 2>&1)" = "mssantectl $version"
for m in man8/mssante-milter.8 man8/mssantectl.8 man5/mssante-milter.conf.5; do
    check "manual page $m" test -s "/usr/share/man/$m.gz"
done

# The daemon as the unit starts it, once the list is where the shipped
# configuration's WhitelistFile names it (the administrator's first step).
socket=$(sed -n 's/^Socket[[:space:]]\+//p' /etc/mssante-milter.conf)
setpriv --reuid=mssante-milter --regid=mssante-milter --init-groups --no-new-privs \
    mssante-milter -f -c /etc/mssante-milter.conf >/tmp/milter.log 2>&1 &
pid=$!
# Socket inet:PORT@127.0.0.1 in the shipped file.
port=${socket#inet:}
port=${port%@*}
listening=0
for _ in $(seq 1 100); do
    tcp_listening 0100007F "$port" && { listening=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
check "started as mssante-milter with the shipped configuration, it listens on $socket" \
    test "$listening" = 1
check "it loaded the list from $list" grep -q 'whitelist loaded' /tmp/milter.log
kill "$pid" 2>/dev/null
for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
wait "$pid"
rc=$?
check "SIGTERM stops it with status 0" test "$rc" = 0
[ "$FAILED" = 0 ] || note "$(cat /tmp/milter.log)"

# ---------------------------------------------------------------- purge

files=$(dpkg -L mssante-milter | while read -r f; do [ -d "$f" ] || echo "$f"; done)
check "apt-get purge mssante-milter" logged apt-get purge -y mssante-milter
check "it is gone from dpkg's database" test -z "$(status_of)"
left=$(for f in $files; do [ -e "$f" ] && echo "$f"; done)
check "no file of the package is left" test -z "$left"
[ -z "$left" ] || note "$left"
named=$(find / -xdev \( -path /proc -o -path /pkg -o -path /tmp \) -prune -o -name '*mssante*' -print)
check "nothing named mssante is left" test -z "$named"
[ -z "$named" ] || note "$named"
check "the system user stays (Debian policy: files it owned may remain)" \
    getent passwd mssante-milter >/dev/null

before=$(snapshot)
check "installed again (the user already exists)" apt_install
check "apt-get remove keeps the conffile" \
    eval 'logged apt-get remove -y mssante-milter && test -f /etc/mssante-milter.conf && test ! -e /usr/sbin/mssante-milter'
check "apt-get purge removes it" eval 'logged apt-get purge -y mssante-milter && test ! -e /etc/mssante-milter.conf'
diff=$(diff <(echo "$before") <(snapshot))
check "after install, remove and purge, the file system is as before" test -z "$diff"
[ -z "$diff" ] || note "$diff"

echo "# package in a fresh Debian 12: $FAILED failure(s)"
[ "$FAILED" = 0 ]
