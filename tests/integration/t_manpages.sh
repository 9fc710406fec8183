#!/bin/bash
# t_manpages.sh - the manual pages render without warnings and say what the
# code does: every key of the configuration parser's table (config/keys.c)
# has an entry in mssante-milter.conf(5) with its default and reload
# behaviour, and no entry documents a key the parser does not know; every
# daemon option (milter/main.c), mssantectl command and exit code
# (ctl/) appears in its page; the documentation names one service user,
# mssante-milter, wherever it names one.  Needs neither root nor Postfix;
# the key table is read through the helper $BUILD/tests/cfgkeys.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init

MAN=$H_ROOT/man
CONF5=$MAN/mssante-milter.conf.5
PAGES=("$MAN/mssante-milter.8" "$CONF5" "$MAN/mssantectl.8")

for page in "${PAGES[@]}"; do
    if [ ! -f "$page" ]; then
        not_ok "${page#"$H_ROOT"/} exists"
        exit 1
    fi
done

# ---------------------------------------------------------------- lint

# lint NAME CMD...: ok when CMD exits 0 and prints nothing at all (mandoc
# writes its findings on standard output).
lint() {
    local name=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" = 0 ] && [ -z "$out" ]; then
        ok "$name"
    else
        not_ok "$name" "exit status $rc" "$out"
    fi
}

for page in "${PAGES[@]}"; do
    rel=${page#"$H_ROOT"/}
    if command -v groff >/dev/null; then
        lint "$rel: groff -ww -man renders it without warnings" \
            groff -ww -man -Tutf8 -z "$page"
    else
        skip "$rel: groff -ww" "groff is not installed"
    fi
    if command -v mandoc >/dev/null; then
        lint "$rel: mandoc -Tlint finds nothing" mandoc -Tlint "$page"
    else
        skip "$rel: mandoc -Tlint" "mandoc is not installed"
    fi
    if command -v man >/dev/null; then
        # shellcheck disable=SC2016  # $1 is for the inner shell
        lint "$rel: man --warnings -l renders it without warnings" \
            sh -c 'MANWIDTH=80 man --warnings -l "$1" >/dev/null' sh "$page"
    else
        skip "$rel: man -l" "man is not installed"
    fi
done

# ---------------------------------------------------------------- conf.5 vs the key table

# The table (config/keys.c), as the helper prints it: "Name kind reload default".
CFGKEYS=$BUILD/tests/cfgkeys
if [ ! -x "$CFGKEYS" ]; then
    not_ok "$(basename "$0"): $CFGKEYS exists" "build first: make BUILD=$BUILD"
    exit 1
fi
"$CFGKEYS" | tr '\t' ' ' >"$W/table"
n_keys=$(wc -l <"$W/table")
check "the key table can be read from config/keys.c ($n_keys keys)" test "$n_keys" -ge 10

# The entries under KEYS in conf.5: the key is the first word of the line
# after each .TP.  entry KEY prints that entry's source lines.
awk '/^\.SH /{ keys = ($0 ~ /^\.SH KEYS/) } keys && prev ~ /^\.TP/ { print $2 } { prev = $0 }' \
    "$CONF5" >"$W/documented"
entry() {
    awk -v key="$1" '
        /^\.(TP|SS|SH)/ { if (inside) exit; tp = ($0 ~ /^\.TP/); next }
        tp && $2 == key { inside = 1 }
        { tp = 0 }
        inside { print }
    ' "$CONF5"
}

# The page writes durations and sizes as an operator would (2m, 32M): they
# are compared as numbers, in milliseconds and bytes.
# duration_ms TEXT / size_bytes TEXT: the number, or nothing.
duration_ms() {
    local n unit
    [[ $1 =~ ^([0-9]+)(ms|s|m|h|d)?$ ]] || return 0
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]:-s}
    case $unit in
        ms) echo "$n" ;;
        s)  echo $((n * 1000)) ;;
        m)  echo $((n * 60000)) ;;
        h)  echo $((n * 3600000)) ;;
        d)  echo $((n * 86400000)) ;;
    esac
}
size_bytes() {
    local n unit
    [[ $1 =~ ^([0-9]+)([KMG])?$ ]] || return 0
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
    case $unit in
        K) echo $((n << 10)) ;;
        M) echo $((n << 20)) ;;
        G) echo $((n << 30)) ;;
        *) echo "$n" ;;
    esac
}

# page_default KEY: what the entry says after "Default:", plain text.
page_default() {
    entry "$1" | sed -n 's/^Default: //p' | head -1 |
        sed -e 's/\\(lq//g; s/\\(rq//g; s/\\f[BIRP]//g; s/\\-/-/g' \
            -e 's/ (.*//; s/\.$//'
}

# page_value KIND TEXT: a default in the compared form (a duration in
# milliseconds, a TTL in seconds, a size in bytes, anything else as written).
page_value() {
    case $1 in
        duration) duration_ms "$2" ;;
        size)     size_bytes "$2" ;;
        ttl)      local ms
                  ms=$(duration_ms "$2")
                  [ -n "$ms" ] && echo $((ms / 1000)) ;;
        *)        echo "$2" ;;
    esac
}

# One case per key: an entry, a Reload: line, the table's default.
while read -r key kind reload default; do
    name="conf.5 documents $key (entry, default, reload)"
    if ! grep -qx "$key" "$W/documented"; then
        not_ok "$name" "no .TP entry for $key under KEYS in man/mssante-milter.conf.5"
        continue
    fi
    want=$(page_value "$kind" "$default")
    text=$(page_default "$key")
    got=$(page_value "$kind" "$text")
    reload_line=$(entry "$key" | grep '^Reload: ')
    if [ -z "$reload_line" ]; then
        not_ok "$name" "the entry has no \"Reload:\" line"
    elif [ "$reload" = restart ] && [[ $reload_line != *"read at start only"* ]]; then
        not_ok "$name" "config/keys.c: read at start only; the page: $reload_line"
    elif [ "$reload" = live ] && [[ $reload_line == *"read at start only"* ]]; then
        not_ok "$name" "config/keys.c: applied at a reload; the page: $reload_line"
    elif [ "$got" != "$want" ]; then
        not_ok "$name" "the page says \"Default: $text\", config/keys.c gives $default"
    else
        ok "$name"
    fi
done <"$W/table"

# And no entry for a key the parser does not know (a removed or renamed key).
unknown=$(awk 'NR == FNR { known[$1] = 1; next } !($1 in known)' "$W/table" "$W/documented")
check "conf.5 documents no key the parser does not know" \
    test -z "$unknown"
[ -z "$unknown" ] || note "unknown: $unknown"

# ---------------------------------------------------------------- mssante-milter.8

MAIN_C=$H_ROOT/milter/main.c
optstring=$(sed -n 's/.*getopt(argc, argv, "\([^"]*\)").*/\1/p' "$MAIN_C" | head -1)
check "the daemon's getopt string can be read from milter/main.c" test -n "$optstring"
options=$(sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$MAN/mssante-milter.8")
for letter in $(tr -d ':' <<<"$optstring" | grep -o .); do
    check "mssante-milter.8 documents -$letter" \
        grep -q -E "^\.(B|BI|BR) \\\\-$letter( |\$)" <<<"$options"
done

# ---------------------------------------------------------------- mssantectl.8

CTL_MAN=$MAN/mssantectl.8
commands=$(sed -n '/^\.SH COMMANDS/,/^\.SH /p' "$CTL_MAN")
# The commands in mssantectl's usage text: lines "  word [word] ARG  text".
sed -n '/^static void usage/,/^}/p' "$H_ROOT/ctl/mssantectl.c" |
    sed -n 's/^[[:space:]]*"  \([a-z][a-z ]*[a-z]\)\( [A-Z.]*\)\{0,1\}  .*/\1/p' >"$W/ctl-commands"
check "the commands can be read from mssantectl's usage text" test -s "$W/ctl-commands"
while read -r cmd; do
    check "mssantectl.8 documents \"$cmd\"" \
        grep -q -E "^\.(B|BI) \"?$cmd( |\"|\$)" <<<"$commands"
done <"$W/ctl-commands"

exits=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$CTL_MAN")
while read -r name code; do
    check "mssantectl.8 documents exit status $code ($name)" \
        grep -q -x "\.B $code" <<<"$exits"
done < <(sed -n 's/^#define \(CTL_[A-Z]*\)[[:space:]]*\([0-9][0-9]*\).*/\1 \2/p' "$H_ROOT/ctl/ctl.h")

# ---------------------------------------------------------------- the service user

# Where a user or group is named (-u, UserID, User=, Group=, chown, root:,
# a cron line, sysusers), it is mssante-milter: a second name ("mssante")
# sends a sysadmin to set up a user that nothing else uses.
other_user=$(cd "$H_ROOT" && grep -rn -E \
    '(-u |UserID +|User=|Group=|chown |chgrp |root:|-o |-g |\* +)mssante([^-.a-z\\]|$)|^u +mssante[^-]' \
    README.md man contrib debian postfix-examples 2>/dev/null)
check "the documentation, unit, sysusers and examples name one service user, mssante-milter" \
    eval '[ -z "$other_user" ] || h_fail "$other_user"'

exit 0
