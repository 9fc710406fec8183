#!/bin/bash
#
# bench/run.sh - what does mssante-milter cost Postfix?  One command, one
# machine, every configuration measured in the same run, side by side.
#
#   bench/run.sh [--json] [--runs N] [--messages M] [--sessions S]
#                [--loadgen-messages L] [--keep]
#   bench/run.sh --report DIR [--json]   (report again from a --keep'd DIR)
#   bench/run.sh --scale-only            (only the scale step, text)
#   (make bench runs it with BUILD set; run as root: it starts a private
#   Postfix and smtp-sink needs to drop to "nobody")
#
# Per run (4 by default; odd runs take the configurations in one order, even
# runs in the reverse order), smtp-source sends M messages (5 KiB, 3 recipients)
# over S sessions into a private Postfix on 127.0.0.1 that relays
# everything to smtp-sink; throughput is M divided by the time until the
# sink has received every message (smtp-sink -M exits at exactly that
# point).  Configurations:
#   none        no milter (the ceiling)
#   hash        check_recipient_access hash: map of the whitelist domains
#   ctl-unix    control milter (bench/ctlmilter.c) on a unix socket
#   ctl-inet    control milter on inet 127.0.0.1
#   floor-unix  control milter accepting every message at DATA (ctlmilter
#   floor-inet  -a data), on each socket: the least any milter that judges
#               the envelope (MAIL, RCPT, DATA) can cost; mssante-milter's
#               ordinary mail takes exactly these steps since issue 12
#   prod-unix   mssante-milter on a unix socket
#   prod-inet   mssante-milter on inet 127.0.0.1
#   full-unix   mssante-milter with EarlyAccept no (every message read to
#   full-inet   its end), on each socket: what issue 12 saves
# then the milters alone under bench/loadgen (unix and inet), and the
# whitelist load/swap measurements (bench/wlswap, with a scratch Redis when
# redis-server is installed).  Milter CPU per message is the utime+stime
# delta of the milter process in /proc/PID/stat over the run, divided by
# the messages; RSS is VmRSS/VmHWM from /proc/PID/status.  The report gives
# medians over the runs and ratios taken within each run.
#
# Everything listens on 127.0.0.1 or in a private directory; every process
# started here is stopped on exit, every wait is bounded.
#
set -u
set -o pipefail

# ---- arguments and environment --------------------------------------------

RUNS=4
MESSAGES=5000
SESSIONS=10
LG_MESSAGES=10000
JSON=0
KEEP=0
SCALE_ONLY=0
REPORT_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
    --json) JSON=1 ;;
    --runs) RUNS=${2:-}; shift ;;
    --messages) MESSAGES=${2:-}; shift ;;
    --sessions) SESSIONS=${2:-}; shift ;;
    --loadgen-messages) LG_MESSAGES=${2:-}; shift ;;
    --keep) KEEP=1 ;;
    --scale-only) SCALE_ONLY=1 ;;
    --report) REPORT_DIR=${2:-}; shift ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for n in "$RUNS" "$MESSAGES" "$SESSIONS" "$LG_MESSAGES"; do
    case "$n" in ''|*[!0-9]*) echo "run.sh: not a number: $n" >&2; exit 2 ;; esac
done
[ "$RUNS" -ge 1 ] && [ "$MESSAGES" -ge 1 ] && [ "$SESSIONS" -ge 1 ] || exit 2

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$REPO/$BUILD" ;; esac
DAEMON="$BUILD/mssante-milter"
CTL="$BUILD/bench/ctlmilter"
LOADGEN="$BUILD/bench/loadgen"
WLSWAP="$BUILD/bench/wlswap"
REAL_LIST=${MSSANTE_BENCH_LIST:-"$REPO/../shared/data/listeblanche-2025-03.xml"}
SENDER=bench@chu-test.mssante.fr
BODY_BYTES=5120
RCPTS=3
STEP_TIMEOUT=300            # seconds allowed for one configuration
CLK_TCK=$(getconf CLK_TCK)

log() { echo "[bench] $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

# ---- the report -----------------------------------------------------------------

# JSON field from a one-line object on stdin: jget KEY
jget() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }

# report DIR: medians, in-run ratios and targets from the files a run left
# in DIR (results.tsv, loadgen.tsv, wlswap.tsv, params.env), as text or JSON.
report() {
    local R=$1 run m js k v
    # shellcheck disable=SC1091
    . "$R/params.env" || die "no params.env in $R"

    # loadgen, one line per run and milter: run milter rate p50 p99 cpu errors
    while IFS=$'\t' read -r run m js; do
        printf '%s\t%s' "$run" "$m"
        for k in msgs_per_s p50 p99 milter_cpu_us_per_msg error; do
            v=$(echo "$js" | jget "$k"); printf '\t%s' "${v:--}"
        done
        printf '\n'
    done < "$R/loadgen.tsv" > "$R/loadgen.flat"

    # wlswap, one line per run and size
    while IFS=$'\t' read -r run js; do
        printf '%s' "$run"
        for k in domains parse_ms redis_load_ms swap_lock_us lookups_waited wrong_answers \
                 max_lookup_us live_visible_ms rss_kib hwm_kib live_wrong; do
            v=$(echo "$js" | jget "$k"); printf '\t%s' "${v:--}"
        done
        printf '\n'
    done < "$R/wlswap.tsv" > "$R/wlswap.flat"

    # All the arithmetic (medians, in-run ratios, targets) in one awk
    # program, which prints either the text report or the JSON document.
    awk -v json="$JSON" -v runs="$RUNS" -v msgs="$MESSAGES" -v sess="$SESSIONS" \
        -v lgm="$LG_MESSAGES" -v body="$BODY_BYTES" -v rcpts="$RCPTS" -v list="$LIST_KIND" \
        -v ndom="$N_DOMAINS" -v cpu="$CPU_MODEL" -v ncpu="$NCPU" -v elapsed="$ELAPSED" \
        -v d100k="$DAEMON100K" -v redis="${REDIS_SOCK:+yes}" -v hz="$CLK_TCK" '
    function median(arr, n,    i, j, t, a) {
        if (n == 0) return "-"
        for (i = 1; i <= n; i++) a[i] = arr[i]
        for (i = 2; i <= n; i++) {
            t = a[i]
            for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
            a[j + 1] = t
        }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function isnum(x) { return x ~ /^-?[0-9.]+$/ }
    # median over the runs of X[run,key]
    function med(X, key,    r, n, v) {
        n = 0
        for (r = 1; r <= runs; r++) if (((r, key) in X) && isnum(X[r, key])) v[++n] = X[r, key]
        return median(v, n)
    }
    # median over the runs of X[run,a] / X[run,b]: ratios within one run
    function medratio(X, a, b,    r, n, v) {
        n = 0
        for (r = 1; r <= runs; r++)
            if (((r, a) in X) && ((r, b) in X) && isnum(X[r, a]) && X[r, b] + 0 > 0)
                v[++n] = X[r, a] / X[r, b]
        return median(v, n)
    }
    # median over the runs of X[run,a] - X[run,b]
    function meddiff(X, a, b,    r, n, v) {
        n = 0
        for (r = 1; r <= runs; r++)
            if (((r, a) in X) && ((r, b) in X) && isnum(X[r, a]) && isnum(X[r, b]))
                v[++n] = X[r, a] - X[r, b]
        return median(v, n)
    }
    function maxof(X, key,    r, m) {
        m = "-"
        for (r = 1; r <= runs; r++)
            if (((r, key) in X) && isnum(X[r, key]) && (m == "-" || X[r, key] + 0 > m)) m = X[r, key] + 0
        return m
    }
    function f(x, fmt) { return x == "-" || x == "" ? "-" : sprintf(fmt, x) }
    function mib(x) { return x == "-" || x == "" ? "-" : sprintf("%.1f", x / 1024) }
    function verdict(known, ok) { return !known ? "n/a" : ok ? "met" : "MISSED" }
    function jnum(x) { return x == "-" || x == "" ? "null" : x + 0 }
    FILENAME ~ /results.tsv$/ {
        RATE[$1, $2] = $5; CPU[$1, $2] = $6; RSS[$1, $2] = $7; HWM[$1, $2] = $8
        if ($9 != "ok") BAD[$2] = BAD[$2] " run " $1 " " $9
        next
    }
    FILENAME ~ /loadgen.flat$/ {
        LR[$1, $2] = $3; L50[$1, $2] = $4; L99[$1, $2] = $5; LC[$1, $2] = $6; LE[$2] += $7
        next
    }
    FILENAME ~ /wlswap.flat$/ {
        d = $2 + 0; SIZES[d] = 1
        WP[$1, d] = $3; WR[$1, d] = $4; WS[$1, d] = $5; WW[d] += $6; WX[d] += $7 + $12
        WM[$1, d] = $8; WL[$1, d] = $9; WRSS[$1, d] = $10; WHWM[$1, d] = $11
        next
    }
    END {
        nc = split("none hash ctl-unix ctl-inet floor-unix floor-inet prod-unix prod-inet full-unix full-inet", C, " ")
        label["none"] = "1 no milter"; label["hash"] = "2 check_recipient_access hash"
        label["ctl-unix"] = "3 control milter, unix"; label["ctl-inet"] = "3 control milter, inet"
        label["floor-unix"] = "3 control accepting at DATA, unix"
        label["floor-inet"] = "3 control accepting at DATA, inet"
        label["prod-unix"] = "4 mssante-milter, unix"; label["prod-inet"] = "4 mssante-milter, inet"
        label["full-unix"] = "5 EarlyAccept no, unix"; label["full-inet"] = "5 EarlyAccept no, inet"
        ctl["ctl-unix"] = ctl["prod-unix"] = ctl["full-unix"] = ctl["floor-unix"] = "ctl-unix"
        ctl["ctl-inet"] = ctl["prod-inet"] = ctl["full-inet"] = ctl["floor-inet"] = "ctl-inet"
        for (i = 1; i <= nc; i++) {
            c = C[i]
            PR[c] = med(RATE, c); VN[c] = medratio(RATE, c, "none")
            VC[c] = (c in ctl) ? medratio(RATE, c, ctl[c]) : "-"
            CP[c] = med(CPU, c); MR[c] = med(RSS, c)
        }
        ml = split("ctl-unix prod-unix ctl-inet prod-inet", M, " ")
        for (i = 1; i <= ml; i++) {
            m = M[i]
            GR[m] = med(LR, m); G50[m] = med(L50, m); G99[m] = med(L99, m); GC[m] = med(LC, m)
            GV[m] = medratio(LR, m, ctl[m])
        }
        ns = 0
        for (d in SIZES) S[++ns] = d + 0
        for (i = 2; i <= ns; i++) { t = S[i]; for (j = i - 1; j >= 1 && S[j] > t; j--) S[j + 1] = S[j]; S[j + 1] = t }
        big = ns ? S[ns] : 0
        split(d100k, D, " ")

        # the targets of issue 7
        t_unix = VC["prod-unix"]; t_inet = VC["prod-inet"]
        dc_u = meddiff(CPU, "prod-unix", "ctl-unix"); dc_i = meddiff(CPU, "prod-inet", "ctl-inet")
        dc_g = meddiff(LC, "prod-unix", "ctl-unix"); dc_gi = meddiff(LC, "prod-inet", "ctl-inet")
        g_u = GV["prod-unix"]; g_i = GV["prod-inet"]
        load = med(WR, big); how = "load from Redis"
        if (load == "-") { load = med(WP, big); how = "XML parse" }
        swapms = load == "-" ? "-" : load + med(WS, big) / 1000
        rss100 = D[1] != "" ? D[1] : med(WRSS, big)
        waited = 0; for (d in SIZES) waited += WW[d]
        wrong = 0; for (d in SIZES) wrong += WX[d]
        worst = "-"; for (d in SIZES) { x = maxof(WM, d); if (x != "-" && (worst == "-" || x > worst)) worst = x }

        if (json) {
            printf "{\"machine\":{\"cpu\":\"%s\",\"cpus\":%d},", cpu, ncpu
            printf "\"parameters\":{\"runs\":%d,\"messages\":%d,\"sessions\":%d,\"body_bytes\":%d,", runs, msgs, sess, body
            printf "\"recipients\":%d,\"loadgen_messages\":%d,\"whitelist\":\"%s\",\"domains\":%d,\"elapsed_s\":%d},", rcpts, lgm, list, ndom, elapsed
            printf "\"postfix\":["
            for (i = 1; i <= nc; i++) {
                c = C[i]
                printf "%s{\"config\":\"%s\",\"label\":\"%s\",\"msgs_per_s\":%s,", (i > 1 ? "," : ""), c, label[c], jnum(PR[c])
                printf "\"vs_none\":%s,\"vs_control\":%s,\"milter_cpu_us_per_msg\":%s,", jnum(VN[c]), jnum(VC[c]), jnum(CP[c])
                printf "\"milter_rss_kib\":%s,\"runs\":[", jnum(MR[c])
                for (r = 1; r <= runs; r++) printf "%s%s", (r > 1 ? "," : ""), jnum(RATE[r, c])
                printf "],\"problems\":\"%s\"}", BAD[c]
            }
            printf "],\"loadgen\":["
            for (i = 1; i <= ml; i++) {
                m = M[i]
                printf "%s{\"milter\":\"%s\",\"msgs_per_s\":%s,\"p50_ms\":%s,\"p99_ms\":%s,", (i > 1 ? "," : ""), m, jnum(GR[m]), jnum(G50[m]), jnum(G99[m])
                printf "\"cpu_us_per_msg\":%s,\"vs_control\":%s,\"errors\":%d}", jnum(GC[m]), jnum(GV[m]), LE[m]
            }
            printf "],\"whitelist\":["
            for (i = 1; i <= ns; i++) {
                d = S[i]
                printf "%s{\"domains\":%d,\"parse_ms\":%s,\"redis_load_ms\":%s,", (i > 1 ? "," : ""), d, jnum(med(WP, d)), jnum(med(WR, d))
                printf "\"swap_lock_us\":%s,\"lookups_waited\":%d,\"wrong_answers\":%d,", jnum(med(WS, d)), WW[d], WX[d]
                printf "\"max_lookup_us\":%s,\"live_visible_ms\":%s,", jnum(maxof(WM, d)), jnum(med(WL, d))
                printf "\"rss_kib\":%s,\"hwm_kib\":%s}", jnum(med(WRSS, d)), jnum(med(WHWM, d))
            }
            printf "],\"daemon_%d\":{\"rss_kib\":%s,\"hwm_kib\":%s},", big, jnum(D[1]), jnum(D[2])
            printf "\"targets\":{\"postfix_unix_vs_control\":%s,\"postfix_inet_vs_control\":%s,", jnum(t_unix), jnum(t_inet)
            printf "\"cpu_delta_unix_us\":%s,\"cpu_delta_inet_us\":%s,", jnum(dc_u), jnum(dc_i)
            printf "\"cpu_delta_loadgen_unix_us\":%s,\"cpu_delta_loadgen_inet_us\":%s,", jnum(dc_g), jnum(dc_gi)
            printf "\"loadgen_unix_vs_control\":%s,\"loadgen_inet_vs_control\":%s,", jnum(g_u), jnum(g_i)
            printf "\"load_swap_%d_ms\":%s,\"load_path\":\"%s\",\"rss_%d_kib\":%s,", big, jnum(swapms), how, big, jnum(rss100)
            printf "\"lookups_waited\":%d,\"max_lookup_us\":%s,\"wrong_answers\":%d}}\n", waited, jnum(worst), wrong
            exit
        }

        printf "mssante-milter benchmark: %s, %d CPU(s); %d run(s), medians; %d s in all\n", cpu, ncpu, runs, elapsed
        printf "whitelist: %s, %d recipient domains\n\n", list, ndom
        printf "Postfix end to end: smtp-source -> Postfix -> smtp-sink, %d messages over %d sessions,\n", msgs, sess
        printf "%d-byte body, %d recipients each; throughput until the sink has every message;\n", body, rcpts
        printf "ratios taken within each run, then the median; milter CPU from /proc (1/%d s ticks)\n\n", hz
        printf "  %-32s %8s %8s %10s %12s %9s\n", "configuration", "msg/s", "vs none", "vs control", "CPU us/msg", "RSS MiB"
        for (i = 1; i <= nc; i++) {
            c = C[i]
            printf "  %-32s %8s %8s %10s %12s %9s%s\n", label[c], f(PR[c], "%.0f"), f(VN[c], "%.2f"), f(VC[c], "%.2f"),
                f(CP[c], "%.0f"), mib(MR[c]), (BAD[c] != "" ? "  (" BAD[c] " )" : "")
        }
        printf "\nMilter alone (bench/loadgen): %d messages, %d connections, 10 messages per connection\n\n", lgm, sess
        printf "  %-32s %8s %8s %8s %12s %10s\n", "milter", "msg/s", "p50 ms", "p99 ms", "CPU us/msg", "vs control"
        for (i = 1; i <= ml; i++) {
            m = M[i]; l = label[m]; sub(/^[0-9] /, "", l)
            printf "  %-32s %8s %8s %8s %12s %10s%s\n", l, f(GR[m], "%.0f"), f(G50[m], "%.2f"), f(G99[m], "%.2f"),
                f(GC[m], "%.1f"), f(GV[m], "%.2f"), (LE[m] > 0 ? "  (" LE[m] " errors)" : "")
        }
        printf "\nWhitelist load and swap (bench/wlswap%s)\n\n", (redis ? ", with the Redis path" : "")
        printf "  %8s %9s %9s %9s %7s %11s %10s %9s\n", "domains", "parse ms", "Redis ms", "swap us", "waited", "longest us", "live ms", "RSS MiB"
        for (i = 1; i <= ns; i++) {
            d = S[i]
            printf "  %8d %9s %9s %9s %7d %11s %10s %9s\n", d, f(med(WP, d), "%.1f"), f(med(WR, d), "%.1f"),
                f(med(WS, d), "%.2f"), WW[d], f(maxof(WM, d), "%.1f"), f(med(WL, d), "%.1f"), mib(med(WRSS, d))
        }
        if (wrong > 0) printf "  WRONG ANSWERS during swaps: %d\n", wrong
        if (D[1] != "") printf "  mssante-milter serving a %d-domain list: RSS %s MiB (peak %s MiB)\n", big, mib(D[1]), mib(D[2])

        n_u = VN["prod-unix"]; n_i = VN["prod-inet"]; n_f = VN["floor-unix"]; n_fi = VN["floor-inet"]
        printf "\nTargets (issue 12: ordinary mail decided at DATA)\n"
        printf "  Postfix throughput >= 1.0 x control: unix %s, inet %s  %s\n", f(t_unix, "%.2f"), f(t_inet, "%.2f"),
            verdict(isnum(t_unix) && isnum(t_inet), t_unix >= 1.0 && t_inet >= 1.0)
        printf "  Postfix throughput >= 0.90 x no milter: unix %s, inet %s  %s\n", f(n_u, "%.2f"), f(n_i, "%.2f"),
            verdict(isnum(n_u) && isnum(n_i), n_u >= 0.90 && n_i >= 0.90)
        printf "    (the least a milter judging the envelope costs, row 3 at DATA: unix %s, inet %s x no milter)\n",
            f(n_f, "%.2f"), f(n_fi, "%.2f")
        printf "  milter CPU per message <= control: Postfix unix %s, inet %s us; loadgen unix %s, inet %s us  %s\n",
            f(dc_u, "%+.0f"), f(dc_i, "%+.0f"), f(dc_g, "%+.1f"), f(dc_gi, "%+.1f"),
            verdict(isnum(dc_u) && isnum(dc_i) && isnum(dc_g) && isnum(dc_gi),
                    dc_u <= 0 && dc_i <= 0 && dc_g <= 0 && dc_gi <= 0)
        printf "\nTargets (issue 7)\n"
        printf "  milter alone >= 0.9 x control: unix %s, inet %s  %s\n", f(g_u, "%.2f"), f(g_i, "%.2f"),
            verdict(isnum(g_u) && isnum(g_i), g_u >= 0.9 && g_i >= 0.9)
        printf "  %d-domain list, load + swap <= 100 ms: %s ms (%s + swap)  %s\n", big, f(swapms, "%.1f"), how,
            verdict(isnum(swapms), swapms <= 100)
        printf "  %d-domain list, RSS <= 32 MiB: %s MiB  %s\n", big, mib(rss100), verdict(isnum(rss100), rss100 <= 32768)
        printf "  no lookup blocked by a swap: %d waited (longest lookup %s us)  %s\n", waited, f(worst, "%.1f"),
            verdict(ns > 0, waited == 0)
    }' "$R/results.tsv" "$R/loadgen.flat" "$R/wlswap.flat"
    [ "$JSON" = 1 ] || report_scale "$R"
}

# report_scale DIR: the scale figures (text), from DIR/scale.tsv.
report_scale() {
    local f=$1/scale.tsv kv
    [ -s "$f" ] || return 0
    kv() { sed -n "s/^$1\t.*\b$2=\([^ ]*\).*/\1/p" "$f"; }
    printf '\nScale: one fresh mssante-milter (unix socket)\n'
    printf '  idle: RSS %s MiB, %s threads\n' "$(awk -v k="$(kv idle rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" \
        "$(kv idle threads)"
    printf '  %s sessions held open through Postfix (smtp-source -d -w 2), %s messages in %s s:\n' \
        "$SCALE_SESSIONS" "$(kv postfix messages)" "$(kv postfix seconds)"
    printf '    peak RSS %s MiB, peak %s threads, %s sockets; after: RSS %s MiB, %s threads (settled: %s)\n' \
        "$(awk -v k="$(kv postfix peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" "$(kv postfix peak_threads)" \
        "$(kv postfix peak_sockets)" \
        "$(awk -v k="$(kv postfix after_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" "$(kv postfix after_threads)" \
        "$(kv postfix settled)"
    printf '    every message received by the sink: %s; milter warnings or milter replies in smtpd'"'"'s log: %s\n' \
        "$([ "$(kv postfix sink_rc)" = 0 ] && echo yes || echo "NO (rc $(kv postfix sink_rc))")" \
        "$(kv postfix maillog_warnings)"
    printf '    (connections to smtp-sink refused, deferred and retried by Postfix: %s)\n' \
        "$(kv postfix sink_refused)"
    printf '  %s connections from bench/loadgen at once, 10 messages each: %s msg/s, p50 %s ms, p99 %s ms, %s errors\n' \
        "$(kv loadgen conns)" "$(kv loadgen msgs_per_s)" "$(kv loadgen p50_ms)" "$(kv loadgen p99_ms)" \
        "$(kv loadgen errors)"
    printf '    peak RSS %s MiB, peak %s threads, %s sockets; after: RSS %s MiB, %s threads (settled: %s)\n' \
        "$(awk -v k="$(kv loadgen peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" "$(kv loadgen peak_threads)" \
        "$(kv loadgen peak_sockets)" \
        "$(awk -v k="$(kv loadgen after_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" "$(kv loadgen after_threads)" \
        "$(kv loadgen settled)"
}

if [ -n "$REPORT_DIR" ]; then
    report "$REPORT_DIR"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (private Postfix instance, smtp-sink -u nobody)"
for t in postfix postconf postmap postsuper smtp-source smtp-sink; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install postfix)"
done
for b in "$DAEMON" "$CTL" "$LOADGEN" "$WLSWAP"; do
    [ -x "$b" ] || die "$b missing: run 'make bench' (or make BUILD=... all and the bench programs)"
done

# ---- clean-up of everything we start --------------------------------------

WORK=$(mktemp -d /tmp/mssante-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$WORK"           # postfix must reach the milter sockets below it
PIDS=()                     # long-lived children: milters, redis
PF_ETC="$WORK/pf/etc"
PF_UP=0

# Stop PID with SIGTERM, then SIGKILL after SECONDS; never waits longer.
stop_pid() {
    local pid=$1 secs=${2:-10} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

postfix_stop() {
    [ "$PF_UP" = 1 ] || return 0
    postfix -c "$PF_ETC" stop >/dev/null 2>&1
    local pidfile="$WORK/pf/queue/pid/master.pid" i pid
    pid=$(tr -dc 0-9 < "$pidfile" 2>/dev/null)
    for ((i = 0; i < 100; i++)); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && postfix -c "$PF_ETC" abort >/dev/null 2>&1
    PF_UP=0
}

cleanup() {
    local pid
    postfix_stop
    # libmilter daemons take a few seconds to leave smfi_main: stop in parallel.
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 10; done
    if [ "$KEEP" = 1 ]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers --------------------------------------------------------------

now() { date +%s.%N; }

# A TCP port nobody listens on, below the ephemeral range.
USED_PORTS=" "
free_port() {
    local p hex i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        hex=$(printf '%04X' "$p")
        if ! awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
                /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            USED_PORTS="$USED_PORTS$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port"
}

# Wait (bounded) until 127.0.0.1:PORT is in LISTEN state.  No probe
# connection: on a milter port it would open a milter session.
wait_listen() {
    local port=$1 secs=${2:-15} hex i
    hex=$(printf '%04X' "$port")
    for ((i = 0; i < secs * 20; i++)); do
        awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h && $4 == "0A" { f = 1 }
                          END { exit !f }' /proc/net/tcp && return 0
        sleep 0.05
    done
    return 1
}

wait_unix() {
    local path=$1 secs=${2:-15} i
    for ((i = 0; i < secs * 20; i++)); do
        [ -S "$path" ] && grep -q " $path\$" /proc/net/unix && return 0
        sleep 0.05
    done
    return 1
}

# utime+stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the command name may hold spaces, so count from the closing parenthesis).
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

status_kib() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null
}

# ---- the whitelist ---------------------------------------------------------

# A synthetic ANS list, for machines without the real snapshot.
synthetic_list() {
    awk -v n=5000 'BEGIN {
        print "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">"
        print "<DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration><ListeDomaines>"
        split("medecin.mssante.fr pharmacien.mssante.fr chu-lille.mssante.fr lgpi.mssante.fr", core, " ")
        for (i = 1; i <= n; i++) {
            name = i <= 4 ? core[i] : sprintf("etab-%05d.mssante.fr", i)
            printf "<Domaine><Nom>%s</Nom><Description>ETABLISSEMENT %d</Description>", name, i
            printf "<DNCertificatOperateur>CN=mta%d.operateur.fr,O=OPERATEUR,C=FR</DNCertificatOperateur>", i % 300
            print "<DateMAJ>2025-03-13T14:54:10Z</DateMAJ></Domaine>"
        }
        print "</ListeDomaines></ListeBlancheMSSante>"
    }'
}

if [ -r "$REAL_LIST" ]; then
    LIST="$REAL_LIST"
    LIST_KIND="real ANS snapshot $(basename "$REAL_LIST")"
else
    LIST="$WORK/synthetic-list.xml"
    synthetic_list > "$LIST"
    LIST_KIND="synthetic, 5000 domains"
fi

# Distinct domains as the product normalises them; patient.mssante.fr is
# left out of recipients (its addresses need a valid INS matricule, which
# is not the common path).
DOMAINS="$WORK/domains.txt"
sed -n 's:.*<Nom>\([^<]*\)</Nom>.*:\1:p' "$LIST" | tr 'A-Z' 'a-z' | sed 's/\.$//' |
    grep -E '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$' |
    grep -vx 'patient\.mssante\.fr' | sort -u > "$DOMAINS"
N_DOMAINS=$(wc -l < "$DOMAINS")
[ "$N_DOMAINS" -gt 0 ] || die "no domain in $LIST"
RCPT_DOMAIN=$(grep -m1 -x 'medecin\.mssante\.fr' "$DOMAINS" || head -1 "$DOMAINS")

# ---- the milters -------------------------------------------------------------

mkdir -p "$WORK/sock" "$WORK/log"
chmod 755 "$WORK/sock"
P_CTL=$(free_port)
P_PROD=$(free_port)
P_FULL=$(free_port)
P_FLOOR=$(free_port)

cat > "$WORK/mssante-milter.conf" <<EOF
# mssante-milter benchmark configuration (no Redis: the file is the list)
LocalDomains chu-test.mssante.fr
WhitelistFile $LIST
SocketMode 0666
LogPatientIdKeyFile $WORK/logid.key
HeldKeyFile $WORK/held.key
EOF
{ cat "$WORK/mssante-milter.conf"; echo "EarlyAccept no"; } > "$WORK/mssante-full.conf"

# start_milter NAME CMD... : runs CMD in the background, stderr to a log.
declare -A MPID
start_milter() {
    local name=$1; shift
    "$@" > "$WORK/log/$name.log" 2>&1 &
    MPID[$name]=$!
    PIDS+=("$!")
}

start_milter ctl-unix "$CTL" -p "unix:$WORK/sock/ctl.sock"
start_milter ctl-inet "$CTL" -p "inet:$P_CTL@127.0.0.1"
start_milter floor-unix "$CTL" -a data -p "unix:$WORK/sock/floor.sock"
start_milter floor-inet "$CTL" -a data -p "inet:$P_FLOOR@127.0.0.1"
start_milter prod-unix "$DAEMON" -f -c "$WORK/mssante-milter.conf" -p "unix:$WORK/sock/prod.sock"
start_milter prod-inet "$DAEMON" -f -c "$WORK/mssante-milter.conf" -p "inet:$P_PROD@127.0.0.1"
start_milter full-unix "$DAEMON" -f -c "$WORK/mssante-full.conf" -p "unix:$WORK/sock/full.sock"
start_milter full-inet "$DAEMON" -f -c "$WORK/mssante-full.conf" -p "inet:$P_FULL@127.0.0.1"
wait_unix "$WORK/sock/ctl.sock" || die "control milter (unix) did not start: $(cat "$WORK/log/ctl-unix.log")"
wait_unix "$WORK/sock/floor.sock" || die "control milter (-a data) did not start: $(cat "$WORK/log/floor-unix.log")"
wait_listen "$P_FLOOR" || die "control milter (-a data, inet) did not start: $(cat "$WORK/log/floor-inet.log")"
wait_unix "$WORK/sock/prod.sock" || die "mssante-milter (unix) did not start: $(tail -5 "$WORK/log/prod-unix.log")"
wait_listen "$P_CTL" || die "control milter (inet) did not start: $(cat "$WORK/log/ctl-inet.log")"
wait_listen "$P_PROD" || die "mssante-milter (inet) did not start: $(tail -5 "$WORK/log/prod-inet.log")"
wait_unix "$WORK/sock/full.sock" || die "mssante-milter (EarlyAccept no, unix) did not start"
wait_listen "$P_FULL" || die "mssante-milter (EarlyAccept no, inet) did not start"

declare -A MSPEC=(
    [ctl-unix]="unix:$WORK/sock/ctl.sock" [ctl-inet]="inet:127.0.0.1:$P_CTL"
    [floor-unix]="unix:$WORK/sock/floor.sock" [floor-inet]="inet:127.0.0.1:$P_FLOOR"
    [prod-unix]="unix:$WORK/sock/prod.sock" [prod-inet]="inet:127.0.0.1:$P_PROD"
    [full-unix]="unix:$WORK/sock/full.sock" [full-inet]="inet:127.0.0.1:$P_FULL"
)

# ---- the private Postfix ---------------------------------------------------------

P_SMTP=$(free_port)
P_SINK=$(free_port)
PF="$WORK/pf"
mkdir -p "$PF_ETC" "$PF/queue" "$PF/data" "$PF/log"
chown postfix "$PF/data"

cat > "$PF_ETC/master.cf" <<EOF
# Private benchmark instance: nothing chrooted (no etc/ files in the queue).
127.0.0.1:$P_SMTP inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF

cat > "$PF_ETC/main.cf" <<EOF
# Private benchmark instance, identical for every configuration except the
# last lines that run.sh rewrites.
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
myhostname = bench.localdomain
mydomain = localdomain
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
relay_domains =
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = smtp:[127.0.0.1]:$P_SINK
relay_transport = smtp:[127.0.0.1]:$P_SINK
smtp_dns_support_level = disabled
smtp_host_lookup = native
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
smtpd_error_sleep_time = 0
local_header_rewrite_clients =
maillog_file = $PF/log/maillog
maillog_file_prefixes = $PF/log
# exact domain match for the native map, as the milter does
parent_domain_matches_subdomains = debug_peer_list, fast_flush_domains, mynetworks, qmqpd_authorized_clients, relay_domains
milter_default_action = tempfail
EOF

# The native alternative: the same domains in a hash map.
awk '{ print $1 "\tOK" }' "$DOMAINS" > "$PF_ETC/mssante_domains"
postmap -c "$PF_ETC" "hash:$PF_ETC/mssante_domains" || die "postmap failed"

set_config() {
    local milter="" rcpt="permit_mynetworks"
    case "$1" in
    none) ;;
    hash) rcpt="check_recipient_access hash:$PF_ETC/mssante_domains, reject" ;;
    *) milter="${MSPEC[$1]}" ;;
    esac
    postconf -c "$PF_ETC" -e "smtpd_milters = $milter" "smtpd_recipient_restrictions = $rcpt" ||
        die "postconf failed"
}

postfix_start() {
    postfix -c "$PF_ETC" check >/dev/null 2>&1
    postfix -c "$PF_ETC" start >/dev/null 2>&1 ||
        die "postfix start failed: $(script -qec "postfix -c $PF_ETC check" /dev/null 2>&1 | tail -3)"
    PF_UP=1
    wait_listen "$P_SMTP" 20 || die "postfix does not listen on $P_SMTP"
}

# Check once that the hash map really refuses a classic domain, so that
# configuration 2 does the work it claims to do.
check_hash_config() {
    set_config hash
    postfix_start
    local out
    out=$(postmap -c "$PF_ETC" -q "outlook.fr" "hash:$PF_ETC/mssante_domains"; echo "rc=$?")
    postfix_stop
    case "$out" in *rc=1*) ;; *) die "hash map matches outlook.fr: $out" ;; esac
}

# ---- one Postfix measurement ----------------------------------------------------

RESULTS="$WORK/results.tsv"    # run config messages seconds rate cpu_us rss_kib hwm_kib status
: > "$RESULTS"

measure_postfix() {
    local run=$1 cfg=$2 mpid="" c0=0 c1 t0 t1 rc sink got cpu_us="-" rss="-" hwm="-" status=ok
    set_config "$cfg"
    postsuper -c "$PF_ETC" -d ALL >/dev/null 2>&1
    postfix_start
    timeout "$STEP_TIMEOUT" smtp-sink -u nobody -c -M "$MESSAGES" "127.0.0.1:$P_SINK" 256 \
        > "$WORK/log/sink.out" 2>&1 &
    sink=$!
    wait_listen "$P_SINK" || die "smtp-sink did not start"
    case "$cfg" in ctl-*|floor-*|prod-*|full-*) mpid=${MPID[$cfg]}; c0=$(cpu_ticks "$mpid") ;; esac

    t0=$(now)
    timeout "$STEP_TIMEOUT" smtp-source -4 -s "$SESSIONS" -m "$MESSAGES" -l "$BODY_BYTES" \
        -r "$RCPTS" -f "$SENDER" -t "dr.martin@$RCPT_DOMAIN" "127.0.0.1:$P_SMTP" \
        > "$WORK/log/source.out" 2>&1
    wait "$sink"
    rc=$?
    t1=$(now)

    if [ -n "$mpid" ]; then
        c1=$(cpu_ticks "$mpid")
        cpu_us=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v n="$MESSAGES" \
            'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }')
        rss=$(status_kib "$mpid" VmRSS)
        hwm=$(status_kib "$mpid" VmHWM)
    fi
    got=$MESSAGES
    if [ "$rc" != 0 ]; then
        got=$(tr '\r' '\n' < "$WORK/log/sink.out" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1)
        status="incomplete:${got:-0}"
        log "run $run $cfg: sink got ${got:-0} of $MESSAGES messages (rc $rc)"
    fi
    postfix_stop
    awk -v r="$run" -v c="$cfg" -v n="$MESSAGES" -v g="${got:-0}" -v a="$t0" -v b="$t1" \
        -v cpu="$cpu_us" -v rss="${rss:--}" -v hwm="${hwm:--}" -v st="$status" \
        'BEGIN { d = b - a; printf "%s\t%s\t%d\t%.3f\t%.1f\t%s\t%s\t%s\t%s\n",
                 r, c, n, d, g / d, cpu, rss, hwm, st }' >> "$RESULTS"
    log "run $run $cfg: $(tail -1 "$RESULTS" | cut -f5) msg/s, milter CPU $cpu_us us/msg"
}

# ---- the milters alone -------------------------------------------------------------

LG_RESULTS="$WORK/loadgen.tsv"  # run milter json
: > "$LG_RESULTS"

measure_loadgen() {
    local run=$1 m=$2 spec out
    spec=${MSPEC[$m]}
    out=$(timeout "$STEP_TIMEOUT" "$LOADGEN" -s "$spec" -c "$SESSIONS" -m "$LG_MESSAGES" -k 10 \
          -r "$RCPTS" -b "$BODY_BYTES" -d "$DOMAINS" -P "${MPID[$m]}" --json) ||
        log "run $run loadgen $m: failed ($out)"
    [ -n "$out" ] && printf '%s\t%s\t%s\n' "$run" "$m" "$out" >> "$LG_RESULTS"
    log "run $run loadgen $m: $(echo "$out" | sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p') msg/s"
}

# ---- whitelist load and swap -------------------------------------------------------

WL_RESULTS="$WORK/wlswap.tsv"   # run json-line
: > "$WL_RESULTS"
REDIS_SOCK=""
if command -v redis-server >/dev/null; then
    mkdir -p "$WORK/redis"
    redis-server --port 0 --unixsocket "$WORK/redis/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --dir "$WORK/redis" > "$WORK/log/redis.log" 2>&1 &
    PIDS+=("$!")
    wait_unix "$WORK/redis/redis.sock" && REDIS_SOCK="$WORK/redis/redis.sock" ||
        log "redis-server did not start: wlswap runs without Redis"
fi

measure_wlswap() {
    local run=$1 args=(-d "$WORK" --json)
    [ -n "$REDIS_SOCK" ] && args+=(-R "unix:$REDIS_SOCK")
    timeout "$STEP_TIMEOUT" "$WLSWAP" "${args[@]}" 2>>"$WORK/log/wlswap.err" |
        while IFS= read -r line; do printf '%s\t%s\n' "$run" "$line"; done >> "$WL_RESULTS"
}

# The daemon itself holding a 100k-domain list: its RSS once the list is
# loaded and it has served a short load (the socket exists before the list
# is loaded, but connections wait in the backlog until it is).
DAEMON100K=""
measure_daemon_100k() {
    local conf="$WORK/mssante-100k.conf" sock="$WORK/sock/prod100k.sock" pid out
    "$WLSWAP" -d "$WORK" -s 100000 --keep --json > /dev/null 2>>"$WORK/log/wlswap.err" || return 0
    [ -r "$WORK/wlswap-100000.xml" ] || return 0
    sed "s:^WhitelistFile .*:WhitelistFile $WORK/wlswap-100000.xml:" \
        "$WORK/mssante-milter.conf" > "$conf"
    "$DAEMON" -f -c "$conf" -p "unix:$sock" > "$WORK/log/prod100k.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if wait_unix "$sock" 60; then
        out=$(timeout "$STEP_TIMEOUT" "$LOADGEN" -s "unix:$sock" -c "$SESSIONS" -m 2000 \
              -d "$DOMAINS" --json 2>/dev/null)
        case "$out" in
        *'"error":0'*) DAEMON100K="$(status_kib "$pid" VmRSS) $(status_kib "$pid" VmHWM)" ;;
        *) log "mssante-milter with 100k domains: loadgen failed: $out" ;;
        esac
    fi
    stop_pid "$pid" 10
    rm -f "$WORK/wlswap-100000.xml"
}

# ---- scale: many connections at once ---------------------------------------------

# A fresh mssante-milter (so that its idle level is its own) under
# SCALE_SESSIONS SMTP sessions held open through Postfix (smtp-source -d:
# several messages per connection; -w 2: two seconds between two of them, so
# that a session lives twenty seconds and all of them are open at the same
# time, not opened faster than they end), then SCALE_CONNS connections from
# loadgen directly.  Its RSS and thread count are read idle (after a few
# messages), sampled at their peak during each load, and read again once
# the load is over and its connections are closed.
SCALE_SESSIONS=500
SCALE_CONNS=2000
SCALE_RESULTS="$WORK/scale.tsv"   # what key=value...
: > "$SCALE_RESULTS"

# sample_peak PID OUT: until STOP_FILE exists, the highest VmRSS, Threads
# and open sockets of PID so far, written to OUT ("rss_kib threads fds").
sample_peak() {
    local pid=$1 out=$2 stop=$3 rss thr fds max_rss=0 max_thr=0 max_fds=0
    while [ ! -e "$stop" ] && kill -0 "$pid" 2>/dev/null; do
        rss=$(status_kib "$pid" VmRSS); thr=$(status_kib "$pid" Threads)
        fds=$(find "/proc/$pid/fd" -lname 'socket:*' 2>/dev/null | wc -l)
        [ "${rss:-0}" -gt "$max_rss" ] && max_rss=$rss
        [ "${thr:-0}" -gt "$max_thr" ] && max_thr=$thr
        [ "${fds:-0}" -gt "$max_fds" ] && max_fds=$fds
        echo "$max_rss $max_thr $max_fds" > "$out"
        sleep 0.2
    done
}

# settle PID THREADS: wait (up to 30 s) until PID runs at most THREADS
# threads again, i.e. the connections of the load are closed.
settle() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(status_kib "$1" Threads)" -le "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# scale_step NAME PID IDLE_THREADS CMD...: run CMD while sampling PID;
# one line of SCALE_RESULTS (peak and after figures; CMD's own line in
# $WORK/log/scale-NAME.out).
scale_step() {
    local name=$1 pid=$2 idle_thr=$3 peak after_rss after_thr settled=yes rc
    shift 3
    rm -f "$WORK/scale.stop"
    sample_peak "$pid" "$WORK/scale.peak" "$WORK/scale.stop" &
    local sampler=$!
    "$@" > "$WORK/log/scale-$name.out" 2>&1
    rc=$?
    touch "$WORK/scale.stop"
    wait "$sampler"
    peak=$(cat "$WORK/scale.peak" 2>/dev/null)
    settle "$pid" "$idle_thr" || settled=no
    sleep 2                      # freed memory goes back to the system lazily
    after_rss=$(status_kib "$pid" VmRSS); after_thr=$(status_kib "$pid" Threads)
    local p_rss p_thr p_fds
    read -r p_rss p_thr p_fds <<< "$peak"
    printf '%s\trc=%s peak_rss_kib=%s peak_threads=%s peak_sockets=%s after_rss_kib=%s after_threads=%s settled=%s\n' \
        "$name" "$rc" "$p_rss" "$p_thr" "$p_fds" "$after_rss" "$after_thr" "$settled" >> "$SCALE_RESULTS"
    log "scale $name: rc $rc, peak RSS $p_rss KiB, $p_thr threads, $p_fds sockets; after: $after_rss KiB, $after_thr threads"
}

measure_scale() {
    local sock="$WORK/sock/scale.sock" pid idle_rss idle_thr sink t0 t1 got warns sink_refused
    "$DAEMON" -f -c "$WORK/mssante-milter.conf" -p "unix:$sock" > "$WORK/log/scale.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_unix "$sock" 30 || { log "scale: mssante-milter did not start"; return 0; }
    # warm up, then the idle level
    timeout "$STEP_TIMEOUT" "$LOADGEN" -s "unix:$sock" -c 2 -m 20 -d "$DOMAINS" --json \
        > /dev/null 2>&1
    settle "$pid" 100000 >/dev/null
    sleep 1
    idle_rss=$(status_kib "$pid" VmRSS); idle_thr=$(status_kib "$pid" Threads)
    printf 'idle\trss_kib=%s threads=%s\n' "$idle_rss" "$idle_thr" >> "$SCALE_RESULTS"

    # SCALE_SESSIONS sessions through Postfix, 10 messages each
    MSPEC[prod-scale]="unix:$sock"
    set_config prod-scale
    postconf -c "$PF_ETC" -e "default_process_limit = $((SCALE_SESSIONS + 100))" || die "postconf"
    postsuper -c "$PF_ETC" -d ALL >/dev/null 2>&1
    postfix_start
    local n=$((SCALE_SESSIONS * 10)) logged
    logged=$(wc -l < "$PF/log/maillog" 2>/dev/null || echo 0)
    timeout "$STEP_TIMEOUT" smtp-sink -u nobody -c -M "$n" "127.0.0.1:$P_SINK" 1024 \
        > "$WORK/log/scale-sink.out" 2>&1 &
    sink=$!
    wait_listen "$P_SINK" || die "smtp-sink did not start"
    t0=$(now)
    scale_step postfix "$pid" "$idle_thr" timeout "$STEP_TIMEOUT" smtp-source -4 -d -w 2 \
        -s "$SCALE_SESSIONS" -m "$n" -l "$BODY_BYTES" -r "$RCPTS" -f "$SENDER" \
        -t "dr.martin@$RCPT_DOMAIN" "127.0.0.1:$P_SMTP"
    wait "$sink"
    got=$?
    t1=$(now)
    # What the milter did to the SMTP sessions (smtpd's lines: a warning
    # about it, a reply it made), apart from the relay to smtp-sink
    # refusing a connection now and then under this load (smtp's lines:
    # Postfix defers and retries, the sink's count says if all arrived).
    local new
    new=$(tail -n "+$((logged + 1))" "$PF/log/maillog" 2>/dev/null)
    warns=$(grep -E 'postfix/smtpd\[' <<< "$new" | grep -c -i -E 'warning: .*milter|milter-reject')
    sink_refused=$(grep -E 'postfix/smtp\[' <<< "$new" | grep -c -E 'connect to .*Connection refused')
    postfix_stop
    postconf -c "$PF_ETC" -e "default_process_limit = 100" || die "postconf"
    sed -i "\$s/\$/ messages=$n sink_rc=$got maillog_warnings=${warns:-0} sink_refused=${sink_refused:-0} seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')/" \
        "$SCALE_RESULTS"

    # SCALE_CONNS connections from loadgen directly, 10 messages each
    scale_step loadgen "$pid" "$idle_thr" timeout "$STEP_TIMEOUT" "$LOADGEN" -s "unix:$sock" \
        -c "$SCALE_CONNS" -m "$((SCALE_CONNS * 10))" -k 10 -r "$RCPTS" -b "$BODY_BYTES" \
        -d "$DOMAINS" -t 120 --hold --json
    local js
    js=$(grep '^{' "$WORK/log/scale-loadgen.out" | tail -1)
    sed -i "\$s/\$/ conns=$SCALE_CONNS msgs_per_s=$(echo "$js" | jget msgs_per_s) p50_ms=$(echo "$js" | jget p50) p99_ms=$(echo "$js" | jget p99) errors=$(echo "$js" | jget error) tempfailed=$(echo "$js" | jget tempfail)/" \
        "$SCALE_RESULTS"
    stop_pid "$pid" 10
}

# ---- the runs --------------------------------------------------------------------

CONFIGS=(none hash full-unix ctl-unix prod-unix floor-unix floor-inet prod-inet ctl-inet full-inet)
if [ "$SCALE_ONLY" = 1 ]; then
    measure_scale
    report_scale "$WORK"
    exit 0
fi
T_START=$(now)
log "work dir $WORK; list: $LIST_KIND ($N_DOMAINS domains); $RUNS run(s) of $MESSAGES messages"
check_hash_config

for ((run = 1; run <= RUNS; run++)); do
    # Odd runs go forward, even runs backward: each product/control pair is
    # measured back to back, in both orders over the runs, so that drift on
    # a shared machine does not always favour the same side of a ratio.
    n=${#CONFIGS[@]}
    for ((i = 0; i < n; i++)); do
        if ((run % 2)); then j=$i; else j=$((n - 1 - i)); fi
        measure_postfix "$run" "${CONFIGS[$j]}"
    done
    if ((run % 2)); then lg_order="ctl-unix prod-unix prod-inet ctl-inet"
    else lg_order="ctl-inet prod-inet prod-unix ctl-unix"; fi
    for m in $lg_order; do
        measure_loadgen "$run" "$m"
    done
    measure_wlswap "$run"
done
measure_daemon_100k
measure_scale
T_END=$(now)

CPU_MODEL=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
NCPU=$(nproc)
ELAPSED=$(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }')
{
    for v in RUNS MESSAGES SESSIONS LG_MESSAGES BODY_BYTES RCPTS LIST_KIND N_DOMAINS \
             CPU_MODEL NCPU ELAPSED DAEMON100K REDIS_SOCK SCALE_SESSIONS SCALE_CONNS; do
        printf '%s=%q\n' "$v" "${!v}"
    done
} > "$WORK/params.env"
report "$WORK"
