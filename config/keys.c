/*
 * keys.c - the keys of mssante-milter.conf: one row per key.
 *
 * A row is everything about its key: the name, the type (config/values.h:
 * how the text is parsed, shown and compared), where the value goes in
 * struct config, the bounds, the default written as an operator would
 * write it (parsed by the same parser: there is no second copy of a
 * default anywhere), when a change takes effect, whether the value is a
 * secret, and one line saying what it is for.  A new key is one row here,
 * a field in the settings of the module that reads it, and its entry in
 * man/mssante-milter.conf.5 (a test compares the page with this table).
 *
 * The order is the order of "mssante-milter -n" and of the reload
 * warnings.
 */
#include <stddef.h>
#include <strings.h>

#include "config/config.h"
#include "config/keys.h"
#include "config/values.h"

#define OFF(f) offsetof(struct config, f)

/* cfgval_enum stores the index of the word in an int-sized enum. */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is an int");
_Static_assert(sizeof(enum cert_mode) == sizeof(int), "enum cert_mode is an int");
_Static_assert(sizeof(enum logid_mode) == sizeof(int), "enum logid_mode is an int");

static const char *const choice_key_check[] = { "reject", "warn", NULL };
static const char *const choice_fin[] = { "reject", "accept", NULL };
static const char *const choice_inbound[] = { "enforce", "log", NULL };
static const char *const choice_tls_level[] = { "secure", "encrypt", NULL };
static const char *const log_levels[] = { "error", "warning", "notice", "info", "debug", NULL };
static const char *const cert_modes[] = { "off", "log", "enforce", NULL };
static const char *const logid_modes[] = { "hash", "mask", "clear", NULL };

/* The rows: name, type, field, min, max, default, reload, secret, words, description. */
static const struct cfg_key keys[] = {
    { "Socket", &cfgval_socket, OFF(daemon.socket), 0, 0, NULL, CFG_RESTART, false, NULL,
      "where the milter listens, in libmilter's syntax (-p overrides)" },
    { "SocketMode", &cfgval_octal, OFF(daemon.socket_mode), 0, 0777, "0660", CFG_RESTART, false,
      NULL, "file mode of a unix socket" },
    { "UserID", &cfgval_user, OFF(daemon.user), 0, 0, NULL, CFG_RESTART, false, NULL,
      "user[:group] to run as once the socket is open (-u overrides)" },
    { "PidFile", &cfgval_string, OFF(daemon.pid_file), 0, 0, NULL, CFG_RESTART, false, NULL,
      "file that receives the process id (-P overrides)" },
    { "SyslogFacility", &cfgval_facility, OFF(log.facility), 0, 0, "mail", CFG_RESTART, false,
      NULL, "syslog facility of every line the daemon logs" },
    { "LogFile", &cfgval_string, OFF(log.file), 0, 0, NULL, CFG_RESTART, false, NULL,
      "write the log to this file (reopened on SIGUSR1/SIGHUP) or to stderr, not syslog" },
    { "LocalDomains", &cfgval_domains, OFF(rules.local_domains), 0, 0, NULL, CFG_LIVE, false,
      NULL, "the operator's own MSSante domains" },
    { "PatientDomain", &cfgval_domain, OFF(rules.patient_domain), 0, 0, "patient.mssante.fr",
      CFG_LIVE, false, NULL, "the domain of patients' addresses (INS matricule @ it)" },
    { "InternalHosts", &cfgval_hosts, OFF(rules.internal_hosts), 0, 0, "127.0.0.0/8 ::1",
      CFG_LIVE, false, NULL, "SMTP clients that are inside: their mail is outbound" },
    { "OperatorCertificate", &cfgval_enum, OFF(rules.operator_certificate), 0, 0, "log",
      CFG_LIVE, false, cert_modes,
      "check the CN of a verified client certificate: off, log or enforce" },
    { "WhitelistFile", &cfgval_string, OFF(live.file), 0, 0, NULL, CFG_RESTART, false, NULL,
      "the ANS list as a file (without Redis), or the seed of an empty Redis" },
    { "Redis", &cfgval_redis, OFF(redis.server), 0, 0, NULL, CFG_RESTART, false, NULL,
      "the Redis server that holds the list and the shared state" },
    { "RedisSentinels", &cfgval_redis_list, OFF(redis.sentinels), 0, 0, NULL, CFG_RESTART,
      false, NULL, "the Redis Sentinels that name the master (instead of Redis)" },
    { "RedisMasterName", &cfgval_word, OFF(redis.master_name), 0, 0, NULL, CFG_RESTART, false,
      NULL, "the name the sentinels know the master by" },
    { "RedisUser", &cfgval_word, OFF(redis.user), 0, 0, NULL, CFG_RESTART, false, NULL,
      "Redis 6 ACL user sent with AUTH (with RedisPassword)" },
    { "RedisPassword", &cfgval_string, OFF(redis.password), 0, 0, NULL, CFG_RESTART, true, NULL,
      "password sent with AUTH" },
    { "RedisSentinelPassword", &cfgval_string, OFF(redis.sentinel_password), 0, 0, NULL,
      CFG_RESTART, true, NULL, "password sent with AUTH to the sentinels" },
    { "RedisDB", &cfgval_int, OFF(redis.db), 0, 1000000, "0", CFG_RESTART, false, NULL,
      "the Redis database number (SELECT)" },
    { "RedisTimeout", &cfgval_duration, OFF(redis.timeout_ms), 1, 3600000, "2s", CFG_RESTART,
      false, NULL, "timeout of a Redis connection and of each command" },
    { "RedisMinReplicas", &cfgval_int, OFF(redis.min_replicas), 0, 100, "0", CFG_RESTART, false,
      NULL, "replicas that must hold a conversation or notice write before the 250" },
    { "RedisPrefix", &cfgval_word, OFF(redis.prefix), 0, 0, "mssante:", CFG_RESTART, false,
      NULL, "prefix of every Redis key" },
    { "SnapshotFile", &cfgval_string, OFF(live.snapshot_file), 0, 0, NULL, CFG_RESTART, false,
      NULL, "copy of the list in force, used when Redis is unreachable at start" },
    { "WhitelistPoll", &cfgval_duration, OFF(live.poll_ms), 100, 86400000, "10s", CFG_RESTART,
      false, NULL, "how often Redis is asked for a new version of the list" },
    { "DryRun", &cfgval_bool, OFF(rules.dry_run), 0, 0, "no", CFG_LIVE, false, NULL,
      "refuse nothing: say what would have been done in a header" },
    { "LogLevel", &cfgval_enum, OFF(log.level), 0, 0, "info", CFG_LIVE, false, log_levels,
      "error, warning, notice, info or debug" },
    { "LogPatientId", &cfgval_enum, OFF(logid.mode), 0, 0, "hash", CFG_RESTART, false,
      logid_modes, "patient identifiers in the log: hash (keyed), mask or clear" },
    { "LogPatientIdKeyFile", &cfgval_string, OFF(logid.key_file), 0, 0,
      "/var/lib/mssante-milter/logid.key", CFG_RESTART, false, NULL,
      "the secret key of LogPatientId hash, made at the first start when missing" },
    { "HeldKeyFile", &cfgval_string, OFF(held.key_file), 0, 0,
      "/var/lib/mssante-milter/held.key", CFG_RESTART, false, NULL,
      "the secret key that signs X-MSSante-Held, made at the first start when missing" },
    { "WhitelistURL", &cfgval_https_url, OFF(fetch.url), 0, 0,
      "https://espacedeconfiance.mssante.fr/listeblanchemssante.xml", CFG_RESTART, false, NULL,
      "where the fetcher downloads the ANS list" },
    { "WhitelistCAFile", &cfgval_string, OFF(fetch.ca_file), 0, 0, NULL, CFG_RESTART, false,
      NULL, "the CAs the list's server must chain to (IGC-Sante); none: the system's" },
    { "WhitelistClientCert", &cfgval_string, OFF(fetch.client_cert), 0, 0, NULL, CFG_RESTART,
      false, NULL, "client certificate for mutual TLS with the list's server" },
    { "WhitelistClientKey", &cfgval_string, OFF(fetch.client_key), 0, 0, NULL, CFG_RESTART,
      false, NULL, "its private key, when not in the certificate file" },
    { "WhitelistConnectTimeout", &cfgval_duration, OFF(fetch.connect_timeout_ms), 100, 600000,
      "10s", CFG_RESTART, false, NULL, "timeout of the connection to the list's server" },
    { "WhitelistTimeout", &cfgval_duration, OFF(fetch.timeout_ms), 1000, 3600000, "2m",
      CFG_RESTART, false, NULL, "timeout of a whole download" },
    { "WhitelistMaxSize", &cfgval_size, OFF(fetch.max_size), 1 << 10, 1 << 30, "32M",
      CFG_RESTART, false, NULL, "largest list accepted" },
    { "WhitelistMinDomains", &cfgval_int, OFF(fetch.min_domains), 1, 10000000, "1000",
      CFG_RESTART, false, NULL, "fewest domains a downloaded list may have" },
    { "WhitelistMaxShrink", &cfgval_int, OFF(fetch.max_shrink), 0, 100, "20", CFG_RESTART,
      false, NULL, "largest shrink (percent) of a new list against the one in force" },
    /* 0 turns these two off; the bounds keep the int of milliseconds. */
    { "WhitelistRefresh", &cfgval_duration, OFF(fetch.refresh_ms), 0, 604800000, "0",
      CFG_RESTART, false, NULL, "how often this node downloads the list (0: never)" },
    { "WhitelistMaxAge", &cfgval_duration, OFF(fetch.max_age_ms), 0, 1814400000, "3d",
      CFG_RESTART, false, NULL,
      "age after which the list in force is logged as stale (0: never)" },
    { "PatientKeyCheck", &cfgval_choice, OFF(rules.patient_key_warn), 0, 0, "reject",
      CFG_RESTART, false, choice_key_check,
      "a patient address with a wrong INS key: reject or warn" },
    { "FinWithContent", &cfgval_choice, OFF(rules.fin_content_accept), 0, 0, "reject",
      CFG_RESTART, false, choice_fin, "a [FIN] closure with content: reject or accept" },
    { "PatientInbound", &cfgval_choice, OFF(rules.patient_inbound_log), 0, 0, "enforce",
      CFG_LIVE, false, choice_inbound,
      "a patient writing without an open conversation: enforce (refuse) or log (admit)" },
    { "PharmacyMailboxes", &cfgval_mailboxes, OFF(rules.pharmacy_mailboxes), 0, 0, NULL,
      CFG_RESTART, false, NULL,
      "mailboxes patients may write to first (local@domain, @domain, pharmacie-*@domain)" },
    { "ConversationTTL", &cfgval_ttl, OFF(rules.conversation_ttl), 0, 3650LL * 86400, "30d",
      CFG_RESTART, false, NULL,
      "how long a patient conversation stays open without a message" },
    { "StatsFile", &cfgval_string, OFF(stats.file), 0, 0, NULL, CFG_LIVE, false, NULL,
      "the counters in the Prometheus text format, rewritten every StatsInterval" },
    { "StatsInterval", &cfgval_duration, OFF(stats.interval_ms), 1000, 86400000, "15s",
      CFG_LIVE, false, NULL, "how often the counters are published" },
    { "NodeName", &cfgval_word, OFF(stats.node_name), 0, 0, NULL, CFG_RESTART, false, NULL,
      "this node's name among the MX nodes sharing Redis (none: the host name)" },
    { "ShutdownTimeout", &cfgval_duration, OFF(daemon.shutdown_timeout_ms), 0, 600000, "15s",
      CFG_LIVE, false, NULL, "how long SIGTERM waits for the messages in progress" },
    { "Forwarding", &cfgval_bool, OFF(rules.forwarding), 0, 0, "yes", CFG_LIVE, false, NULL,
      "apply the forwarding rules and send their notices" },
    { "EarlyAccept", &cfgval_bool, OFF(rules.early_accept), 0, 0, "yes", CFG_LIVE, false, NULL,
      "accept ordinary mail before its body once every rule has decided" },
    { "NotifyWorker", &cfgval_bool, OFF(notify.worker), 0, 0, "yes", CFG_RESTART, false, NULL,
      "send the queued notices from this node" },
    { "NotifySMTP", &cfgval_smtp_url, OFF(notify.smtp), 0, 0, "smtp://127.0.0.1:10027",
      CFG_RESTART, false, NULL, "the SMTP listener (without milters) notices are sent to" },
    { "NotifySender", &cfgval_address, OFF(notify.sender), 0, 0, NULL, CFG_RESTART, false, NULL,
      "envelope sender and From: of the notices (none: no-reply@ the first LocalDomain)" },
    { "NotifyTemplate", &cfgval_template, OFF(notify.tmpl), 0, 0, NULL, CFG_RESTART, false,
      NULL, "the text of the notices (none: the built-in one)" },
    { "NotifyRetry", &cfgval_duration, OFF(notify.retry_ms), 1000, 86400000, "30s", CFG_RESTART,
      false, NULL, "first delay before a failed notice is tried again" },
    { "NotifyRetryMax", &cfgval_duration, OFF(notify.retry_max_ms), 1000, 604800000, "1h",
      CFG_RESTART, false, NULL, "longest delay between two tries of a notice" },
    { "NotifyMaxAge", &cfgval_duration, OFF(notify.max_age_ms), 60000, 1728000000, "2d",
      CFG_RESTART, false, NULL, "a notice not sent after that long is given up" },
    { "NotifyMaxAttempts", &cfgval_int, OFF(notify.max_attempts), 0, 1000000, "50", CFG_RESTART,
      false, NULL, "a notice is given up after that many tries (0: no limit)" },
    { "NotifyTimeout", &cfgval_duration, OFF(notify.timeout_ms), 1000, 600000, "30s",
      CFG_RESTART, false, NULL, "timeout of one SMTP transaction of a notice" },
    { "TLSPolicyFile", &cfgval_string, OFF(live.tls_policy_file), 0, 0, NULL, CFG_RESTART,
      false, NULL, "Postfix smtp_tls_policy_maps table kept in step with the list" },
    { "TLSPolicyLevel", &cfgval_choice, OFF(live.tls_policy_encrypt), 0, 0, "secure",
      CFG_RESTART, false, choice_tls_level,
      "the table's level for trust-space domains: secure or encrypt" },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

size_t cfg_keys_count(void)
{
    return N_KEYS;
}

const struct cfg_key *cfg_keys_at(size_t i)
{
    return i < N_KEYS ? &keys[i] : NULL;
}

const struct cfg_key *cfg_keys_find(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcasecmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* ---- the table for tests and tools (config.h) ------------------------- */

size_t config_key_count(void)
{
    return N_KEYS;
}

const char *config_key_name(size_t i)
{
    return i < N_KEYS ? keys[i].name : NULL;
}

const char *config_key_default(size_t i)
{
    return i < N_KEYS ? keys[i].def : NULL;
}

bool config_key_restart_only(size_t i)
{
    return i < N_KEYS && keys[i].reload == CFG_RESTART;
}

const char *config_key_doc(size_t i)
{
    return i < N_KEYS ? keys[i].doc : NULL;
}
