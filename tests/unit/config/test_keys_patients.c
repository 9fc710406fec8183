/*
 * test_keys_patients.c - the patient keys of mssante-milter.conf
 * (PatientKeyCheck, FinWithContent, PharmacyMailboxes, ConversationTTL):
 * defaults, values, and the errors "mssante-milter -n" reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/redis.h"
#include "config/config.h"
#include "pipeline/stage_patients.h"
#include "tests/unit/config/cfgcapture.h"
#include "tests/unit/testlib.h"

#define BASE "LocalDomains chu-exemple.mssante.fr\nWhitelistFile /nonexistent.xml\n"

static char tmp_dir[] = "/tmp/test_patients_config.XXXXXX";

/* Load BASE + TEXT; *err gets what config_load printed (malloc'ed). */
static struct config *load(const char *text, char **err)
{
    return cfgcapture_load(tmp_dir, BASE, text, err);
}

static void test_defaults(void)
{
    char *err;
    struct config *cfg = load("", &err);

    CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    CHECK(!cfg->rules.patient_key_warn);
    CHECK(!cfg->rules.fin_content_accept);
    CHECK(cfg->rules.pharmacy_mailboxes.n == 0);
    CHECK(cfg->rules.conversation_ttl == 30LL * 86400);
    CHECK(!cfg->rules.patient_inbound_log);              /* PatientInbound enforce */
    /* No Redis: the operator is told that patient mail will be deferred. */
    CHECK(patients_config_warning(redis_configured(&cfg->redis)) != NULL);
    CHECK(strstr(patients_config_warning(redis_configured(&cfg->redis)), "451 4.3.0") != NULL);
    config_free(cfg);
    free(err);
}

static void test_values(void)
{
    char *err;
    struct config *cfg = load("PatientKeyCheck Warn\n"
                              "FinWithContent accept\n"
                              "PharmacyMailboxes pharmacie@chu-exemple.mssante.fr,"
                              " @officine.chu-exemple.mssante.fr,,Comptoir@Chu-Exemple.mssante.fr\n"
                              "ConversationTTL 12h\n"
                              "PatientInbound LOG\n"
                              "Redis 127.0.0.1:6379\n", &err);

    CHECK(cfg != NULL);
    CHECK_STR(err, "");
    if (cfg == NULL)
        return;
    CHECK(cfg->rules.patient_key_warn);
    CHECK(cfg->rules.fin_content_accept);
    CHECK(cfg->rules.pharmacy_mailboxes.n == 3);
    CHECK_STR(cfg->rules.pharmacy_mailboxes.v[0], "pharmacie@chu-exemple.mssante.fr");
    CHECK_STR(cfg->rules.pharmacy_mailboxes.v[1], "@officine.chu-exemple.mssante.fr");
    CHECK_STR(cfg->rules.pharmacy_mailboxes.v[2], "Comptoir@Chu-Exemple.mssante.fr");
    CHECK(cfg->rules.pharmacy_mailboxes.v[3] == NULL);
    CHECK(cfg->rules.conversation_ttl == 12 * 3600);
    CHECK(cfg->rules.patient_inbound_log);
    CHECK(patients_config_warning(redis_configured(&cfg->redis)) == NULL);
    config_free(cfg);
    free(err);

    cfg = load("PatientKeyCheck reject\nFinWithContent reject\nConversationTTL 0\n", &err);
    CHECK(cfg != NULL);
    if (cfg != NULL) {
        CHECK(!cfg->rules.patient_key_warn && !cfg->rules.fin_content_accept);
        CHECK(cfg->rules.conversation_ttl == 0);
    }
    config_free(cfg);
    free(err);
}

/* Every bad value is reported, with its line (BASE takes lines 1-2). */
static void test_errors(void)
{
    char *err;
    struct config *cfg = load("PatientKeyCheck off\n"
                              "FinWithContent warn\n"
                              "PharmacyMailboxes pharmacie\n"
                              "ConversationTTL 500ms\n", &err);

    CHECK(cfg == NULL);
    CHECK(strstr(err, ":3: PatientKeyCheck: expected reject or warn, got \"off\"") != NULL);
    CHECK(strstr(err, ":4: FinWithContent: expected reject or accept, got \"warn\"") != NULL);
    CHECK(strstr(err, ":5: PharmacyMailboxes: \"pharmacie\" is neither") != NULL);
    CHECK(strstr(err, ":6: ConversationTTL: expected 0 (no expiry) or a duration") != NULL);
    config_free(cfg);
    free(err);

    cfg = load("PatientInbound warn\nPharmacyMailboxes x@*.mssante.fr\n", &err);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ":3: PatientInbound: expected enforce or log, got \"warn\"") != NULL);
    CHECK(strstr(err, ":4: PharmacyMailboxes: \"x@*.mssante.fr\" is neither") != NULL);
    config_free(cfg);
    free(err);

    cfg = load("PharmacyMailboxes a@b@c\nConversationTTL 4000d\n", &err);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ":3: PharmacyMailboxes: \"a@b@c\"") != NULL);
    CHECK(strstr(err, ":4: ConversationTTL:") != NULL);
    config_free(cfg);
    free(err);

    cfg = load("PharmacyMailboxes  , ,\n", &err);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ":3: PharmacyMailboxes: expected one or more mailboxes") != NULL);
    config_free(cfg);
    free(err);
}

static const struct test_case cases[] = {
    { "patient keys: defaults", test_defaults },
    { "patient keys: values", test_values },
    { "patient keys: errors", test_errors },
};

int main(void)
{
    int rc;

    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    rc = TEST_RUN(cases);
    rmdir(tmp_dir);
    return rc;
}
