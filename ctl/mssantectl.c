/*
 * mssantectl.c - the operator's command-line tool: command line, config,
 * dispatch.
 *
 *   mssantectl [-c FILE] [--json] [--show-ins] COMMAND ...
 *
 * It reads the daemon's configuration file (same default path), so that it
 * talks to the same Redis, with the same prefix, and applies the same
 * LocalDomains and PatientDomain.  The commands live in cmd_*.c.
 */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

#ifndef MSSANTE_DEFAULT_CONF
#define MSSANTE_DEFAULT_CONF "/etc/mssante-milter.conf"
#endif
#ifndef MSSANTE_VERSION
#define MSSANTE_VERSION "unknown"
#endif

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: mssantectl [-c FILE] [--json] [--show-ins] COMMAND ...\n"
        "\n"
        "commands:\n"
        "  check ADDRESS...        class of each address (mssante, patient, classic,\n"
        "                          invalid) and why, against the list in force; a bare\n"
        "                          domain (chu-lille.mssante.fr): is it in the trust space\n"
        "  check [--from SENDER] [--client IP] [--auth] [--cert-cn CN] RECIPIENT...\n"
        "                          the verdict a message would get: from SENDER (<> when\n"
        "                          not given), sent by IP (inside when in InternalHosts;\n"
        "                          outside when not given), authenticated, presenting a\n"
        "                          verified certificate with that CN\n"
        "  whitelist load FILE     parse an ANS XML list and publish it to Redis as\n"
        "                          the new current version (a bad file changes nothing)\n"
        "  whitelist status        version, dates, age and size of the list in force,\n"
        "                          and the fetcher's last success, attempt and error\n"
        "  whitelist fetch         download WhitelistURL and publish it to Redis if it\n"
        "                          passes the checks; --force skips the shrink and age\n"
        "                          checks (exit 0 when the list in Redis is current)\n"
        "  whitelist rollback      make the previous version current again\n"
        "  whitelist tls-policy [--out FILE] [--level secure|encrypt]\n"
        "                          the Postfix smtp_tls_policy_maps table (texthash:)\n"
        "                          of the list in force: each MSSante domain with its\n"
        "                          operators' certificate CNs (standard output without\n"
        "                          --out; FILE is replaced atomically)\n"
        "  conversation show MAILBOX PATIENT\n"
        "                          state of a patient conversation (Redis)\n"
        "  conversation list MAILBOX\n"
        "                          every conversation of a mailbox\n"
        "  conversation open MAILBOX PATIENT\n"
        "  conversation close MAILBOX PATIENT\n"
        "                          admin override, logged to syslog; PATIENT is an\n"
        "                          INS matricule or the patient's address\n"
        "  conversation import [--dry-run] FILE\n"
        "                          conversations that began before the milter, from a\n"
        "                          CSV file mailbox,patient[,opened_at] (\"-\": stdin);\n"
        "                          fills gaps only, so running it twice changes nothing\n"
        "  forwards add MAILBOX copy|redirect TARGET...\n"
        "                          forward or copy a local mailbox's mail; a classic\n"
        "                          target only ever gets a content-free notice\n"
        "  forwards del MAILBOX [TARGET...]\n"
        "                          remove targets, or the mailbox's whole rule\n"
        "  forwards list [MAILBOX] the forwarding rules (classic targets marked)\n"
        "  forwards export         every rule as JSON\n"
        "  forwards import FILE    rules from JSON; --replace sets each rule exactly\n"
        "  forwards audit FILE...  forwards to classic mail in virtual(5), aliases(5)\n"
        "                          or Sieve files (--type, --domain D, --mailbox M);\n"
        "                          exit 1 when there are any\n"
        "  forwards rewrite FILE   the same file without them (dry run; --print shows\n"
        "                          it, --apply imports notice rules, keeps FILE.bak\n"
        "                          and rewrites it)\n"
        "  notify status           notices queued, sent, retried, failed, pending\n"
        "  stats                   counters of every node (verdicts by rule, latency,\n"
        "                          whitelist, Redis errors) and the cluster total\n"
        "  stats --nodes           one line per node: when it last published, the\n"
        "                          whitelist version it serves, its message counts\n"
        "  redis status            the Redis master this configuration leads to (and\n"
        "                          through which sentinel), its replicas and whether\n"
        "                          RedisMinReplicas can be met (exit 1 when not)\n"
        "  status                  the daemon of this machine for a monitoring system:\n"
        "                          running, list in force and its age, Redis, last\n"
        "                          reload, held messages, notice queue; exit 0 OK,\n"
        "                          1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios)\n"
        "  held list               the messages the daemon put in Postfix's hold queue:\n"
        "                          queue id, rule, reason, envelope, age (root)\n"
        "  held resubmit ID...     put them back through the milter as a fresh local\n"
        "                          submission, then delete the held copy (--all: every\n"
        "                          one the daemon held); never postsuper -H\n"
        "  held delete ID...       delete them (--all: every one the daemon held)\n"
        "\n"
        "options:\n"
        "  -c FILE    configuration file (default " MSSANTE_DEFAULT_CONF ")\n"
        "  --json     JSON output (also accepted after the command)\n"
        "  --show-ins patients' identifiers in full (conversation, held, check);\n"
        "             by default they are shown as LogPatientId says (hash)\n"
        "  -h         this help\n"
        "  -V         version\n"
        "\n"
        "environment: MAIL_CONFIG names the Postfix configuration directory of the\n"
        "instance \"held\" and \"status\" work on, as for Postfix's own tools\n"
        "\n"
        "exit status: 0 success (check: every address is mssante or patient; with\n"
        "--from/--client/--auth/--cert-cn: the message would be accepted for every\n"
        "recipient), 1 check: some address is classic or invalid, or the message\n"
        "would be refused or deferred / load: the file was refused,\n"
        "2 usage or configuration error, 3 no whitelist available or Redis failed;\n"
        "conversation show: 1 when there is no such conversation;\n"
        "conversation import: 1 when a line was refused (the others are imported);\n"
        "redis status: 1 when fewer replicas are online than RedisMinReplicas;\n"
        "forwards list MAILBOX: 1 when it has no rule; forwards audit: 1 when a\n"
        "classic target is found; forwards import: 1 when the document is refused;\n"
        "held: 1 when an id is unknown, not the daemon's, or could not be dealt with;\n"
        "status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n");
}

struct cmdline {
    const char *config;
    bool json;
    bool show_ins;
    int first;          /* index of the command word in argv */
};

/* Global options, up to the command word.  Returns -1 to exit with
 * *status (help, version, error). */
static int parse_global(int argc, char **argv, struct cmdline *cl, int *status)
{
    int i;

    cl->config = MSSANTE_DEFAULT_CONF;
    cl->json = false;
    cl->show_ins = false;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                ctl_error("%s needs a FILE argument", a);
                *status = CTL_USAGE;
                return -1;
            }
            cl->config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            cl->config = a + 9;
        } else if (strncmp(a, "-c", 2) == 0 && a[2] != '\0') {
            cl->config = a + 2;
        } else if (strcmp(a, "--json") == 0) {
            cl->json = true;
        } else if (strcmp(a, "--show-ins") == 0) {
            cl->show_ins = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            *status = CTL_OK;
            return -1;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("mssantectl %s\n", MSSANTE_VERSION);
            *status = CTL_OK;
            return -1;
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            ctl_error("unknown option %s (try mssantectl --help)", a);
            *status = CTL_USAGE;
            return -1;
        } else {
            break;
        }
    }
    if (i >= argc) {
        ctl_error("no command given (try mssantectl --help)");
        *status = CTL_USAGE;
        return -1;
    }
    cl->first = i;
    return 0;
}

/* Take "--json" and "--show-ins" out of the command's own arguments (they
 * may follow the command or a sub-command); "--" ends that, so an address
 * may start with dashes.  Returns the new argc. */
static int strip_json(int argc, char **argv, struct cmdline *cl)
{
    int i, out = 0;
    bool done = false;

    for (i = 0; i < argc; i++) {
        if (!done && strcmp(argv[i], "--json") == 0) {
            cl->json = true;
            continue;
        }
        if (!done && strcmp(argv[i], "--show-ins") == 0) {
            cl->show_ins = true;
            continue;
        }
        if (!done && i > 0 && strcmp(argv[i], "--") == 0) {
            done = true;
            continue;
        }
        argv[out++] = argv[i];
    }
    return out;
}

int main(int argc, char **argv)
{
    struct cmdline cl;
    struct ctl ctl;
    struct config *cfg;
    int status, cargc;
    char **cargv;
    int (*run)(const struct ctl *, int, char **);

    if (parse_global(argc, argv, &cl, &status) < 0)
        return status;
    cargv = argv + cl.first;
    cargc = strip_json(argc - cl.first, cargv, &cl);
    if (strcmp(cargv[0], "check") == 0) {
        run = cmd_check;
    } else if (strcmp(cargv[0], "whitelist") == 0) {
        run = cmd_whitelist;
    } else if (strcmp(cargv[0], "conversation") == 0) {
        run = cmd_conversation;
    } else if (strcmp(cargv[0], "stats") == 0) {
        run = cmd_stats;
    } else if (strcmp(cargv[0], "forwards") == 0) {
        run = cmd_forwards;
    } else if (strcmp(cargv[0], "notify") == 0) {
        run = cmd_notify;
    } else if (strcmp(cargv[0], "redis") == 0) {
        run = cmd_redis;
    } else if (strcmp(cargv[0], "held") == 0) {
        run = cmd_held;
    } else if (strcmp(cargv[0], "status") == 0) {
        run = cmd_status;
    } else if (strcmp(cargv[0], "help") == 0) {
        usage(stdout);
        return CTL_OK;
    } else {
        ctl_error("unknown command \"%s\" (try mssantectl --help)", cargv[0]);
        return CTL_USAGE;
    }
    cfg = config_load(cl.config);
    if (cfg == NULL) {
        ctl_error("cannot use configuration %s", cl.config);
        return run == cmd_status ? 3 : CTL_USAGE;    /* status: Nagios' UNKNOWN */
    }
    ctl.cfg = cfg;
    ctl.json = cl.json;
    ctl.show_ins = cl.show_ins;
    status = run(&ctl, cargc, cargv);
    config_free(cfg);
    if (fflush(stdout) != 0 && status == CTL_OK) {
        ctl_error("cannot write output");
        status = CTL_UNAVAILABLE;
    }
    return status;
}
