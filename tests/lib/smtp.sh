# smtp.sh - talking SMTP to the test's private Postfix and reading what
# it answered (sourced by harness.sh, bash): send_mail and send_outside
# (swaks), smtp_raw (a hand-driven session), the reply of a transcript
# (smtp_reply, assert_reply, reply_lacks), queue ids from a transcript or
# the maillog, and the STARTTLS settings of start_postfix.

# send_mail NAME FROM TO[,TO...] [swaks options...]
# Sends one message through the private Postfix.  The whole transcript goes
# to $W/swaks/NAME.txt (LAST_TRANSCRIPT); the return status is swaks' exit
# code (0 accepted, 23 MAIL refused, 24 every RCPT refused, 25 DATA refused,
# 26 refused at end of data).  FROM may be '<>' for the null sender.
send_mail() {
    local name=$1 from=$2 to=$3
    shift 3
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 --helo client.it.invalid \
        --from "$from" --to "$to" \
        --header "Subject: $name" --body "Integration test message: $name" \
        "$@" >"$LAST_TRANSCRIPT" 2>&1
}

# An address standing for a client out on the Internet (RFC 5737
# TEST-NET-1): nothing is ever sent to it, Postfix is only told, with
# XCLIENT, that the client on 127.0.0.1 is that host.  Outside the
# milter's default InternalHosts (127.0.0.0/8 ::1).
OUTSIDE_ADDR=192.0.2.25

# send_outside NAME FROM TO[,TO...] [swaks options...]: send_mail from a
# client outside the operator's network: Postfix (and the milter's
# connect event) see OUTSIDE_ADDR instead of 127.0.0.1.
send_outside() {
    local name=$1 from=$2 to=$3
    shift 3
    send_mail "$name" "$from" "$to" --xclient-addr "$OUTSIDE_ADDR" \
        --xclient-name mx.partenaire.invalid "$@"
}

# postfix_tls_settings PKI_DIR: main.cf settings for STARTTLS with a
# client certificate asked for and verified against the test CA (standing
# for IGC-Sante), for start_postfix.  Postfix then passes the milter
# {cert_subject} only for a certificate it verified.
postfix_tls_settings() {
    local pki=$1
    printf '%s\n' "smtpd_tls_security_level = may" "smtpd_tls_ask_ccert = yes" \
        "smtpd_tls_CAfile = $pki/ca.pem" "smtpd_tls_cert_file = $pki/server.pem" \
        "smtpd_tls_key_file = $pki/server.key" "smtpd_tls_loglevel = 1"
}

# smtp_reply FILE CMD: the server's reply (continuation lines joined by a
# space) to the last client line starting with CMD (case-insensitive), e.g.
# "RCPT TO:<x@y>", "DATA", "." (end of data), "MAIL FROM".  Lines swaks
# writes after STARTTLS (" ~> ", "<~  ", "<~* ") count the same.
smtp_reply() {
    awk -v cmd="$2" '
        function starts(s, p) { return tolower(substr(s, 1, length(p))) == tolower(p) }
        /^ [-~]> / { line = substr($0, 5); want = starts(line, cmd); if (want) reply = ""; next }
        /^<(-|\*\*|~|~\*) / { if (want) { r = $0; sub(/^<(-|\*\*|~|~\*) +/, "", r);
                                  reply = (reply == "" ? r : reply " " r);
                                  if (r ~ /^[0-9][0-9][0-9] /) { last = reply; want = 0 } } }
        END { if (last != "") print last }
    ' "$1"
}

# assert_reply FILE CMD REGEX: the reply to CMD matches REGEX (ERE).
assert_reply() {
    local got
    got=$(smtp_reply "$1" "$2")
    if [ -z "$got" ]; then
        h_fail "no reply to \"$2\" in the transcript:
$(grep -E '^( [-~]>|<[-~]|<\*\*|<~\*|\*\*\*)' "$1" | grep -v '^ [-~]> [^A-Z.]' | head -30)"
        return 1
    fi
    printf '%s\n' "$got" | grep -E -q -- "$3" && return 0
    h_fail "reply to \"$2\" was: $got
expected: /$3/"
}

# reply_lacks FILE CMD STRING...: the reply to CMD mentions none of STRINGs.
reply_lacks() {
    local file=$1 cmd=$2 got s
    shift 2
    got=$(smtp_reply "$file" "$cmd")
    for s in "$@"; do
        case $got in
            *"$s"*) h_fail "reply to \"$cmd\" names $s: $got"; return 1 ;;
        esac
    done
}

# maillog_qid REGEX: the queue id on the last maillog line matching REGEX.
maillog_qid() {
    maillog | grep -E -- "$1" | tail -1 | sed -n 's/.*\]: \([0-9A-F]\{6,\}\): .*/\1/p'
}

# queue_id_of FILE: the queue id Postfix gave in "250 2.0.0 Ok: queued as ID".
queue_id_of() {
    sed -n 's/^<[-~]  250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$1" | tail -1
}

# smtp_raw NAME CMD...: a hand-driven SMTP session for what swaks cannot
# express (SMTPUTF8).  Each CMD is one line; "DATA" is followed by the
# lines up to a lone "." given as further arguments.  Transcript in the
# same format as swaks' (" -> " sent, "<-  "/"<** " received) in
# $W/swaks/NAME.txt.
smtp_raw() {
    local name=$1
    shift
    LAST_TRANSCRIPT=$W/swaks/$name.txt
    : >"$LAST_TRANSCRIPT"
    exec {H_FD}<>"/dev/tcp/127.0.0.1/$SMTP_PORT" || return 1
    h_raw_read || { exec {H_FD}>&-; return 1; }
    # data: 0 commands, 1 message lines being sent, 2 message lines to
    # drop because DATA was refused.
    local data=0 line
    for line in "$@"; do
        if [ "$data" = 2 ]; then
            [ "$line" = . ] && data=0
            continue
        fi
        printf '%s\r\n' "$line" >&"$H_FD"
        echo " -> $line" >>"$LAST_TRANSCRIPT"
        if [ "$data" = 1 ] && [ "$line" != . ]; then
            continue
        fi
        data=0
        h_raw_read || break
        if [ "$line" = DATA ]; then
            [ "${H_RAW_CODE:0:1}" = 3 ] && data=1 || data=2
        fi
    done
    exec {H_FD}>&-
}

# Read one (possibly multi-line) reply into the transcript; H_RAW_CODE.
h_raw_read() {
    local l
    while IFS= read -r -t 30 l <&"$H_FD"; do
        l=${l%$'\r'}
        H_RAW_CODE=${l:0:3}
        case $H_RAW_CODE in
            [23]*) echo "<-  $l" >>"$LAST_TRANSCRIPT" ;;
            *)     echo "<** $l" >>"$LAST_TRANSCRIPT" ;;
        esac
        [ "${l:3:1}" = "-" ] || return 0
    done
    return 1
}
