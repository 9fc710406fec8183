#!/bin/bash
# t_manpages.sh - the manual pages render without warnings and say what the
# code does: every key of the configuration parser's table (milter/config.c)
# has an entry in mssante-milter.conf(5) with its default and reload
# behaviour, and no entry documents a key the parser does not know; every
# daemon option (milter/main.c), mssantectl command and exit code
# (ctl/) appears in its page.  Needs neither root, nor a build, nor Postfix.
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

# ---------------------------------------------------------------- conf.5 vs config.c

CONFIG_C=$H_ROOT/milter/config.c

# The parser's table: one "Name parser field" line per key.
sed -n '/key_def keys\[\] *= *{/,/^};/p' "$CONFIG_C" |
    sed -n 's/^[[:space:]]*{[[:space:]]*"\([A-Za-z0-9]*\)",[[:space:]]*\([a-z_]*\),[[:space:]]*OFF(\([a-z_]*\)).*/\1 \2 \3/p' \
    >"$W/table"
n_keys=$(wc -l <"$W/table")
check "the key table can be read from milter/config.c ($n_keys keys)" test "$n_keys" -ge 10

# Assignments in config_defaults(): "field value" lines.
sed -n '/^struct config \*config_defaults(void)/,/^}/p' "$CONFIG_C" |
    sed -n 's/^[[:space:]]*cfg->\([a-z_]*\)[[:space:]]*=[[:space:]]*\(.*\);.*/\1 \2/p' \
    >"$W/defaults"

# A list default set with cidr_list_parse(MACRO, &cfg->FIELD, ...): the
# macro's text (#define MACRO "...") is the default.
sed -n '/^struct config \*config_defaults(void)/,/^}/p' "$CONFIG_C" |
    sed -n 's/.*cidr_list_parse(\([A-Z_]*\), *&cfg->\([a-z_]*\).*/\1 \2/p' |
    while read -r macro field; do
        printf '%s %s\n' "$field" \
            "$(sed -n "s/^#define $macro \"\(.*\)\"\$/\1/p" "$CONFIG_C")"
    done >>"$W/defaults"

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

# choice_word PARSER INDEX: for a parser written as
#   return parse_choice(cfg, key, value, "WORD0", "WORD1", ...)
# WORD0 (false) or WORD1 (true).
choice_word() {
    sed -n "/^static bool $1(/,/^}/p" "$CONFIG_C" |
        sed -n 's/.*parse_choice([^"]*"\([^"]*\)", *"\([^"]*\)".*/\1 \2/p' |
        awk -v i="$2" '{ print $(i + 1); exit }'
}

# expected_default PARSER FIELD: the default from config_defaults() (a
# field it does not set is zero / NULL / false), in the form the page's
# text is compared in: see page_value.
expected_default() {
    local parser=$1 field=$2 value
    value=$(awk -v f="$field" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }' "$W/defaults")
    # Integer expressions such as "(size_t)32 << 20" or "30LL * 86400":
    # drop casts and suffixes, then compute.
    if [[ $value =~ ^[0-9A-Za-z_\ \<\*\+\(\)]+$ ]] && [[ $value =~ [0-9] ]] &&
       [[ $value != *strdup* ]]; then
        value=$(sed -e 's/([a-z_ ]*)//g' -e 's/\([0-9]\)[uUlL]\{1,3\}/\1/g' <<<"$value")
        [[ $value =~ ^[0-9][0-9\ \<\*\+]*$ ]] && [[ $value =~ [\<\*\+] ]] && value=$((value))
    fi
    case $parser:$value in
        parse_bool:true)            echo yes ;;
        parse_bool:*)               echo no ;;
        parse_log_level:LOGL_*)     value=${value#LOGL_}; echo "${value,,}" ;;
        *:CERT_MODE_*)              value=${value#CERT_MODE_}; echo "${value,,}" ;;
        parse_internal_hosts:?*)    echo "$value" ;;
        parse_octal:0[0-7]*)        echo "$value" ;;
        *:true)                     choice_word "$parser" 1 ;;
        *:false|*:)                 case $parser in
                                        parse_duration|parse_size|parse_int|parse_ttl_seconds)
                                            echo 0 ;;
                                        *)  choice=$(choice_word "$parser" 0)
                                            echo "${choice:-none}" ;;
                                    esac ;;
        *:strdup\(\"*\"\))          value=${value#strdup(\"}; echo "${value%\")}" ;;
        *:[0-9]*)                   echo "$value" ;;
        *)                          echo none ;;
    esac
}

# page_default KEY: what the entry says after "Default:", plain text.
page_default() {
    entry "$1" | sed -n 's/^Default: //p' | head -1 |
        sed -e 's/\\(lq//g; s/\\(rq//g; s/\\f[BIRP]//g; s/\\-/-/g' \
            -e 's/ (.*//; s/\.$//'
}

# page_value PARSER TEXT: the page's default in the compared form.
page_value() {
    case $1 in
        parse_duration) duration_ms "$2" ;;
        parse_size)     size_bytes "$2" ;;
        parse_ttl_seconds)
                        local ms
                        ms=$(duration_ms "$2")
                        [ -n "$ms" ] && echo $((ms / 1000)) ;;
        *)              echo "$2" ;;
    esac
}

# One case per key: an entry, a Reload: line, the code's default.
while read -r key parser field; do
    name="conf.5 documents $key (entry, default, reload)"
    if ! grep -qx "$key" "$W/documented"; then
        not_ok "$name" "no .TP entry for $key under KEYS in man/mssante-milter.conf.5"
        continue
    fi
    want=$(expected_default "$parser" "$field")
    text=$(page_default "$key")
    got=$(page_value "$parser" "$text")
    if ! entry "$key" | grep -q '^Reload: '; then
        not_ok "$name" "the entry has no \"Reload:\" line"
    elif [ "$got" != "$want" ]; then
        not_ok "$name" "the page says \"Default: $text\", config_defaults() gives $want"
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

exit 0
