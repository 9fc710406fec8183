#!/bin/bash
# t_contrib.sh - the systemd files in contrib/ without a running systemd:
#   - the unit passes "systemd-analyze verify" (in a scratch root holding the
#     system's units and a stand-in for the binary at the ExecStart path);
#   - ExecStart runs the binary where "make install" puts it, in the
#     foreground, with the configuration file the daemon reads by default,
#     and the daemon accepts those options;
#   - the unit, sysusers and tmpfiles files agree on the user and the socket
#     directory, and systemd-sysusers / systemd-tmpfiles apply them in a
#     scratch root with the intended owner and mode;
#   - the layout works: the daemon started as an unprivileged user, with no
#     capability and no new privileges (as the unit does), creates its
#     socket in such a directory, in group postfix, mode 0660: Postfix can
#     connect, other users cannot; the socket is gone after the daemon stops;
#   - ExecReload= is there exactly when the daemon survives SIGHUP (today
#     SIGHUP stops it, and "systemctl reload" must not stop the milter);
#   - the Debian package (debian/) agrees with them: its version is the
#     Makefile's, its postinst gives the configuration to the sysusers
#     user.  .ci/package.sh builds, installs and purges the package itself.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init

UNIT=$H_ROOT/contrib/mssante-milter.service
TMPFILES=$H_ROOT/contrib/mssante-milter.tmpfiles
SYSUSERS=$H_ROOT/contrib/mssante-milter.sysusers
for f in "$UNIT" "$TMPFILES" "$SYSUSERS"; do
    [ -f "$f" ] || { not_ok "${f#"$H_ROOT"/} exists"; exit 1; }
done
PATH=$PATH:/usr/sbin:/sbin

# unit_value KEY: the value of the last KEY= line of the unit.
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }

# make_var NAME: a variable as the Makefile computes it (defaults only).
make_var() {
    # shellcheck disable=SC2016  # $($*) is for make, not the shell
    make -s --no-print-directory -C "$H_ROOT" BUILD="$W/no-build" -f Makefile \
        -f <(printf 'contrib-print-%%:\n\t@echo $($*)\n') "contrib-print-$1"
}

read -r -a exec_start <<<"$(unit_value ExecStart)"
daemon_path=${exec_start[0]:-}

# ---------------------------------------------------------------- ExecStart

sbindir=$(make_var SBINDIR)
sysconfdir=$(make_var SYSCONFDIR)
check "ExecStart runs \$(SBINDIR)/mssante-milter, where make install puts it ($sbindir)" \
    test -n "$sbindir" -a "$daemon_path" = "$sbindir/mssante-milter"

# opt_value OPT: the argument following OPT in ExecStart.
opt_value() {
    local i
    for ((i = 1; i < ${#exec_start[@]}; i++)); do
        [ "${exec_start[i]}" = "$1" ] && { echo "${exec_start[i + 1]:-}"; return 0; }
    done
    return 1
}
check "ExecStart reads the daemon's default configuration file ($sysconfdir/mssante-milter.conf)" \
    test "$(opt_value -c)" = "$sysconfdir/mssante-milter.conf"
check "ExecStart keeps the daemon in the foreground (-f), as Type=simple needs" \
    test "$(unit_value Type)" = simple -a -n "$(printf '%s\n' "${exec_start[@]}" | grep -x -- -f)"
check "ExecStart does not ask the daemon to switch users (systemd starts it as User=)" \
    test -z "$(printf '%s\n' "${exec_start[@]}" | grep -x -- -u)"

if [ -x "$MILTER_BIN" ]; then
    # The same options, with a scratch configuration, and -n: the daemon
    # must accept every option the unit passes.
    conf=$W/exec-start.conf
    printf 'Socket inet:8895@127.0.0.1\nLocalDomains chu-test.mssante.fr\nWhitelistFile %s\n' \
        "$FIXTURES/it-list.xml" >"$conf"
    printf 'LogPatientIdKeyFile %s\nHeldKeyFile %s\n' "$W/logid.key" "$W/held.key" >>"$conf"
    args=("${exec_start[@]:1}")
    for i in "${!args[@]}"; do
        [ "${args[i]}" = -c ] && args[i + 1]=$conf
    done
    out=$("$MILTER_BIN" "${args[@]}" -n 2>&1)
    rc=$?
    check "the daemon accepts ExecStart's options (${args[*]//$conf/FILE} -n)" test "$rc" = 0
    [ "$rc" = 0 ] || note "$out"
else
    skip "the daemon accepts ExecStart's options" "$MILTER_BIN is not built"
fi

# ---------------------------------------------------------------- verify

if command -v systemd-analyze >/dev/null; then
    # A scratch root: the system's units (for the dependencies), the unit
    # under test, and a stand-in executable for each Exec*= command.
    root=$W/verify-root
    mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd"
    cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/" 2>/dev/null
    ln -s usr/lib "$root/lib"
    cp "$UNIT" "$root/etc/systemd/system/"
    sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$UNIT" | sort -u | while read -r cmd; do
        mkdir -p "$root${cmd%/*}"
        printf '#!/bin/sh\nexit 0\n' >"$root$cmd"
        chmod 755 "$root$cmd"
    done
    out=$(systemd-analyze verify --root="$root" --man=no mssante-milter.service 2>&1)
    rc=$?
    # Any message is a problem: unknown keys and bad values are only warnings.
    check "systemd-analyze verify accepts the unit without a message" \
        test "$rc" = 0 -a -z "$out"
    [ -z "$out" ] || note "$out"
else
    skip "systemd-analyze verify accepts the unit" "systemd-analyze is not installed"
fi

# ---------------------------------------------------------------- user, directories

unit_user=$(unit_value User)
sysusers_user=$(awk '$1 == "u" { print $2; exit }' "$SYSUSERS")
read -r t_type t_path t_mode t_user t_group t_age <<<"$(grep -v -E '^[[:space:]]*(#|$)' "$TMPFILES" | head -1)"
check "User= is the user mssante-milter.sysusers creates ($sysusers_user)" \
    test -n "$unit_user" -a "$unit_user" = "$sysusers_user"
check "the tmpfiles entry is a directory owned by User=, group postfix, mode 2750" \
    test "$t_type $t_mode $t_user $t_group $t_age" = "d 2750 $unit_user postfix -"
check "the tmpfiles directory is inside the Postfix queue directory" \
    test "${t_path#/var/spool/postfix/}" != "$t_path"
check "ReadWritePaths= opens the tmpfiles directory to the daemon" \
    grep -q -x -E "ReadWritePaths=-?$t_path" "$UNIT"
check "CapabilityBoundingSet= is empty: the daemon never needs privileges" \
    grep -q -x 'CapabilityBoundingSet=' "$UNIT"

if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null &&
   getent group postfix >/dev/null; then
    root=$W/sysroot
    mkdir -p "$root/etc" "$root/var/spool/postfix"
    getent passwd root postfix >"$root/etc/passwd"
    getent group root postfix >"$root/etc/group"
    out=$(systemd-sysusers --root="$root" "$SYSUSERS" 2>&1)
    rc=$?
    uid=$(awk -F: -v u="$unit_user" '$1 == u { print $3 }' "$root/etc/passwd")
    check "systemd-sysusers creates the user $unit_user (in a scratch root)" \
        test "$rc" = 0 -a -n "$uid"
    [ "$rc" = 0 ] || note "$out"
    if [ "$(id -u)" != 0 ]; then
        # Giving the directory to another user takes root, even in a scratch root.
        skip "systemd-tmpfiles creates $t_path: mode 2750, $unit_user, postfix (scratch root)" \
            "needs root (chown)"
    else
        out=$(systemd-tmpfiles --root="$root" --create "$TMPFILES" 2>&1)
        rc=$?
        pf_gid=$(awk -F: '$1 == "postfix" { print $3 }' "$root/etc/group")
        got=$(stat -c '%a %u %g' "$root$t_path" 2>/dev/null)
        check "systemd-tmpfiles creates $t_path: mode 2750, $unit_user, postfix (scratch root)" \
            test "$rc" = 0 -a -z "$out" -a "$got" = "2750 $uid $pf_gid"
        if [ "$rc" != 0 ] || [ -n "$out" ]; then note "$out"; fi
        [ "$got" = "2750 $uid $pf_gid" ] ||
            note "got mode/uid/gid: ${got:-nothing}, want 2750 $uid $pf_gid"
    fi
else
    skip "systemd-sysusers and systemd-tmpfiles apply the files" \
        "systemd-sysusers, systemd-tmpfiles or the postfix group is missing"
fi

# ---------------------------------------------------------------- debian/

if command -v dpkg-parsechangelog >/dev/null; then
    deb_version=$(cd "$H_ROOT" && dpkg-parsechangelog -S Version 2>/dev/null)
    check "debian/changelog's version is the Makefile's VERSION ($(make_var VERSION))" \
        test -n "$deb_version" -a "$deb_version" = "$(make_var VERSION)"
else
    skip "debian/changelog's version is the Makefile's VERSION" "dpkg-parsechangelog is not installed"
fi
check "the package's postinst gives the configuration to the sysusers user ($sysusers_user)" \
    grep -q -x "        chgrp $sysusers_user \"\$conf\"" "$H_ROOT/debian/mssante-milter.postinst"

# ---------------------------------------------------------------- the layout, live

PY3=python3
[ -x /usr/bin/python3 ] && PY3=/usr/bin/python3

# connect_as USER PATH: prints "connected" when USER can open a connection
# to the unix socket PATH, else the error (e.g. PermissionError).
connect_as() {
    runuser -u "$1" -- "$PY3" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    print("connected")
except OSError as e:
    print(type(e).__name__)
' "$2" 2>&1
}

if [ "$(id -u)" != 0 ]; then
    skip "the daemon's socket in the tmpfiles layout" "needs root"
elif [ ! -x "$MILTER_BIN" ]; then
    skip "the daemon's socket in the tmpfiles layout" "$MILTER_BIN is not built"
elif ! command -v setpriv >/dev/null || ! command -v "$PY3" >/dev/null ||
     ! getent passwd postfix >/dev/null || ! getent passwd nobody >/dev/null ||
     ! getent passwd daemon >/dev/null; then
    skip "the daemon's socket in the tmpfiles layout" \
        "needs setpriv, python3 and the users postfix, nobody, daemon"
else
    # nobody stands for mssante-milter; the directory is what the tmpfiles
    # entry makes, here in the scratch directory.
    sockdir=$W/spool/mssante-milter
    mkdir -p "$sockdir"
    chown nobody:postfix "$sockdir"
    chmod 2750 "$sockdir"
    sock=$sockdir/mssante-milter.sock
    conf=$W/layout.conf
    mkdir -p "$W/state"
    chown nobody "$W/state"
    printf 'Socket unix:%s\nSocketMode 0660\nLocalDomains chu-test.mssante.fr\nWhitelistFile %s\n' \
        "$sock" "$FIXTURES/it-list.xml" >"$conf"
    printf 'LogPatientIdKeyFile %s\nHeldKeyFile %s\n' "$W/state/logid.key" "$W/state/held.key" >>"$conf"
    chmod 644 "$conf"
    setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups --no-new-privs \
        --bounding-set=-all --inh-caps=-all \
        "$MILTER_BIN" -f -c "$conf" >>"$W/milter/milter.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        [ -S "$sock" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    got=$(stat -c '%a %U %G' "$sock" 2>/dev/null)
    check "as an unprivileged user, the daemon creates its socket mode 0660, group postfix" \
        test "$got" = "660 nobody postfix"
    [ "$got" = "660 nobody postfix" ] || note "socket: ${got:-absent}" "$(milter_log)"
    check "the daemon runs as the unprivileged user" \
        test "$(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')" = nobody
    got=$(connect_as postfix "$sock")
    check "user postfix can connect to the socket" test "$got" = connected
    [ "$got" = connected ] || note "$got"
    got=$(connect_as daemon "$sock")
    check "another user (daemon) cannot connect to the socket" test "$got" = PermissionError
    [ "$got" = PermissionError ] || note "$got"

    # SIGHUP: still running after 12 s (libmilter needs up to ~7 s to
    # notice a stop request) means the daemon handles it as a reload.
    kill -HUP "$pid" 2>/dev/null
    if wait_pid_gone "$pid" 12; then
        check "SIGHUP stops the daemon, so the unit has no ExecReload=" \
            test -z "$(unit_value ExecReload)"
        check "the socket is removed when the daemon stops" test ! -e "$sock"
    else
        # shellcheck disable=SC2016  # $MAINPID is for systemd
        check "the daemon survives SIGHUP, so the unit has ExecReload=/bin/kill -HUP \$MAINPID" \
            test "$(unit_value ExecReload)" = '/bin/kill -HUP $MAINPID'
        kill "$pid" 2>/dev/null
        wait_pid_gone "$pid" 15 || kill -9 "$pid" 2>/dev/null
        check "the socket is removed when the daemon stops" test ! -e "$sock"
    fi
    wait "$pid" 2>/dev/null
    check "no sanitizer report in the daemon's output" eval '! sanitizer_report >/dev/null'
    sanitizer_report >/dev/null && note "$(sanitizer_report)"
fi

exit 0
