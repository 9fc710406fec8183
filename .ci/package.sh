#!/bin/bash
# .ci/package.sh - the Debian package, for real, as root:
#   1. dpkg-buildpackage -us -uc -b in a copy of this tree (debian/rules
#      runs "make" and "make install"; the unit tests run too), giving
#      mssante-milter_VERSION_amd64.deb;
#   2. lintian: no error (its warnings and notes are printed);
#   3. in a fresh Debian 12 container (the debian:12 image that
#      postfix-examples/ci/podman-ci.sh setup made), .ci/deb-install-test.sh:
#      apt-get install ./mssante-milter_VERSION_amd64.deb, the service user,
#      the conffile, nothing started or enabled, "mssante-milter -n" on the
#      shipped configuration, "mssantectl --version", the daemon started as
#      the unit would start it, then apt-get purge and what is left.
# The package is installed in a container rather than on this machine: a
# fresh system shows whether the package's dependencies are complete, and
# the purge check starts from a system that never had the package.
#
# Prints "ok - " / "not ok - " lines; exit status 0 when all passed, 1 when
# one failed, 2 when this machine lacks a tool (said on stderr).
set -u

cd "$(dirname "$0")/.." || exit 2
SRC=$(pwd)

say() { echo "package: $*" >&2; }
lacks() { say "cannot run: $*"; exit 2; }
for b in dpkg-buildpackage dh lintian podman runuser; do
    command -v "$b" >/dev/null || lacks "$b is not installed"
done
[ "$(id -u)" = 0 ] || lacks "must run as root (podman)"

FAILED=0
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

work=$(mktemp -d /tmp/mssante-deb.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# ---------------------------------------------------------------- build

# A copy of the tree without build directories or version control: the
# build writes its results next to the source directory.
mkdir "$work/src"
tar -C "$SRC" --exclude=./.git --exclude=./build --exclude='./build-*' -cf - . |
    tar -C "$work/src" -xf - || exit 1
version=$(cd "$work/src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb=mssante-milter_${version}_$arch.deb

build() {
    (cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 && return 0
    tail -40 "$work/build.log" | sed 's/^/# /'
    return 1
}
start=$SECONDS
check "dpkg-buildpackage -us -uc -b builds $deb" build
say "dpkg-buildpackage: $((SECONDS - start))s"
[ -f "$work/$deb" ] || exit 1
grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/build.log" | sed 's/^/# unit tests during the build: /'

# ---------------------------------------------------------------- lintian

# lintian warns when run as root: run it as nobody.
chown -R nobody "$work"
lintian_clean() {
    runuser -u nobody -- lintian -I -E --pedantic --show-overrides --fail-on error \
        "$work/mssante-milter_${version}_$arch.changes" >"$work/lintian.log" 2>&1
    local rc=$?
    sed 's/^/# /' "$work/lintian.log"
    return "$rc"
}
start=$SECONDS
check "lintian reports no error" lintian_clean
say "lintian: $((SECONDS - start))s; $(grep -c '^E:' "$work/lintian.log") error(s), $(grep -c '^W:' "$work/lintian.log") warning(s), $(grep -c -E '^(I|P|X):' "$work/lintian.log") note(s), $(grep -c '^O:' "$work/lintian.log") overridden"

# ---------------------------------------------------------------- what it holds

contents=$(dpkg-deb -c "$work/$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
holds() { grep -q -x -F "$1" <<<"$contents"; }
conffiles=$(dpkg-deb -f "$work/$deb" Package >/dev/null && dpkg-deb --ctrl-tarfile "$work/$deb" |
    tar -xOf - ./conffiles 2>/dev/null)
check "it holds both programs in /usr/sbin" eval 'holds /usr/sbin/mssante-milter && holds /usr/sbin/mssantectl'
check "the unit in /lib/systemd/system, sysusers and tmpfiles in /usr/lib" \
    eval 'holds /lib/systemd/system/mssante-milter.service && holds /usr/lib/sysusers.d/mssante-milter.conf && holds /usr/lib/tmpfiles.d/mssante-milter.conf'
check "the manual pages" \
    eval 'holds /usr/share/man/man8/mssante-milter.8.gz && holds /usr/share/man/man8/mssantectl.8.gz && holds /usr/share/man/man5/mssante-milter.conf.5.gz'
check "/etc/mssante-milter.conf is its only conffile" test "$conffiles" = /etc/mssante-milter.conf

# ---------------------------------------------------------------- install, purge

cp "$SRC/.ci/deb-install-test.sh" "$SRC/tests/fixtures/it-list.xml" "$work/"
if ! podman image exists docker.io/library/debian:12; then
    echo "not ok - installed in a fresh Debian 12 container"
    echo "# no debian:12 image: postfix-examples/ci/podman-ci.sh setup did not make one"
    exit 1
fi
start=$SECONDS
podman run --rm --name "mssante-deb-$$" -v "$work:/pkg:ro" docker.io/library/debian:12 \
    bash /pkg/deb-install-test.sh "/pkg/$deb" "$version" /pkg/it-list.xml 2>&1 |
    grep -v 'unable to get systemd connection'
rc=${PIPESTATUS[0]}
say "install, use, purge in a container: $((SECONDS - start))s"
check "installed, used and purged in a fresh Debian 12 container" test "$rc" = 0

[ "$FAILED" = 0 ]
