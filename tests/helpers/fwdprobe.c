/*
 * fwdprobe.c - drive the forwarding rules in Redis (forward/rules.c) from
 * the command line, for tests/integration/t_forward_rules.sh.
 *
 *   fwdprobe -r HOST:PORT [-x PREFIX] add [-k] MAILBOX copy|redirect TARGET...
 *       -k: an existing rule keeps its mode (FWD_ADD_KEEP_MODE)
 *       prints: created=0|1 mode_changed=0|1 old_mode=MODE added=N present=N
 *   fwdprobe ... del MAILBOX [TARGET...]      prints: removed=N gone=0|1
 *   fwdprobe ... get MAILBOX...               one line each: "MAILBOX: MODE T1 T2 ..."
 *                                             (the stored, lower-cased mailbox) or
 *                                             "MAILBOX: none" (as given)
 *   fwdprobe ... list                         the JSON export
 *   fwdprobe ... import [-R] FILE             -R: replace; prints rules=N created=N added=N
 *   fwdprobe ... version
 *
 * Errors go to stderr as "fwdprobe: MESSAGE"; exit status 1 (2: usage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "config/config.h"
#include "forward/rules.h"
#include "whitelist/store.h"

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr,
            "usage: fwdprobe -r HOST:PORT [-x PREFIX] add [-k] MAILBOX copy|redirect TARGET...\n"
            "       fwdprobe -r HOST:PORT [-x PREFIX] del MAILBOX [TARGET...]\n"
            "       fwdprobe -r HOST:PORT [-x PREFIX] get MAILBOX...\n"
            "       fwdprobe -r HOST:PORT [-x PREFIX] list | version\n"
            "       fwdprobe -r HOST:PORT [-x PREFIX] import [-R] FILE\n");
    exit(2);
}

static int fail(const char *err)
{
    fprintf(stderr, "fwdprobe: %s\n", err);
    return 1;
}

static int cmd_add(redisContext *c, const char *prefix, int argc, char **argv)
{
    struct fwd_add_result res;
    unsigned flags = 0;
    enum fwd_mode mode;
    struct err err;
    int i = 1;

    if (i < argc && strcmp(argv[i], "-k") == 0) {
        flags |= FWD_ADD_KEEP_MODE;
        i++;
    }
    if (argc - i < 2)
        usage();
    if (fwd_mode_parse(argv[i + 1], &mode) < 0)
        return fail("mode must be copy or redirect");
    if (fwd_rules_add(c, prefix, argv[i], mode, (const char *const *)argv + i + 2,
                      (size_t)(argc - i - 2), flags, &res, &err) < 0)
        return fail(err.msg);
    printf("created=%d mode_changed=%d old_mode=%s added=%zu present=%zu\n", res.created,
           res.mode_changed, fwd_mode_name(res.old_mode), res.n_added, res.n_present);
    return 0;
}

static int cmd_del(redisContext *c, const char *prefix, int argc, char **argv)
{
    size_t removed = 0;
    bool gone = false;
    struct err err;

    if (argc < 2)
        usage();
    if (fwd_rules_del(c, prefix, argv[1], (const char *const *)argv + 2, (size_t)(argc - 2),
                      &removed, &gone, &err) < 0)
        return fail(err.msg);
    printf("removed=%zu gone=%d\n", removed, gone);
    return 0;
}

static int cmd_get(redisContext *c, const char *prefix, int argc, char **argv)
{
    struct fwd_rule **got;
    struct err err;
    int i, rc = 0;
    size_t j;

    if (argc < 2)
        usage();
    if ((got = calloc((size_t)argc, sizeof(*got))) == NULL)
        return fail("out of memory");
    if (argc == 2) {
        /* one mailbox: the single-rule call */
        if (fwd_rule_get(c, prefix, argv[1], &got[0], &err) < 0)
            rc = fail(err.msg);
    } else if (fwd_rules_get_many(c, prefix, (const char *const *)argv + 1,
                                  (size_t)(argc - 1), got, &err) < 0) {
        rc = fail(err.msg);
    }
    for (i = 0; rc == 0 && i < argc - 1; i++) {
        if (got[i] == NULL) {
            printf("%s: none\n", argv[i + 1]);
            continue;
        }
        printf("%s: %s", got[i]->mailbox, fwd_mode_name(got[i]->mode));
        for (j = 0; j < got[i]->n_targets; j++)
            printf(" %s", got[i]->targets[j]);
        printf("\n");
    }
    for (i = 0; i < argc - 1; i++)
        fwd_rule_free(got[i]);
    free(got);
    return rc;
}

static int cmd_list(redisContext *c, const char *prefix)
{
    struct fwd_rules rs = { 0 };
    struct err err;
    char *text;

    if (fwd_rules_list(c, prefix, &rs, &err) < 0)
        return fail(err.msg);
    text = fwd_rules_to_json(&rs);
    fwd_rules_clear(&rs);
    if (text == NULL)
        return fail("out of memory");
    fputs(text, stdout);
    free(text);
    return 0;
}

static int cmd_import(redisContext *c, const char *prefix, int argc, char **argv)
{
    struct fwd_import_result res;
    struct fwd_rules rs = { 0 };
    struct err err;
    char *text;
    bool replace = false;
    long size;
    FILE *f;
    int i = 1, rc = 0;

    if (i < argc && strcmp(argv[i], "-R") == 0) {
        replace = true;
        i++;
    }
    if (argc - i != 1)
        usage();
    if ((f = fopen(argv[i], "rb")) == NULL)
        return fail("cannot open the file");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    text = calloc((size_t)size + 1, 1);
    if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        return fail("cannot read the file");
    }
    fclose(f);
    if (fwd_rules_from_json(text, &rs, &err) < 0)
        rc = fail(err.msg);
    else if (fwd_rules_import(c, prefix, &rs, replace, &res, &err) < 0)
        rc = fail(err.msg);
    else
        printf("rules=%zu created=%zu added=%zu\n", res.n_rules, res.n_created,
               res.n_targets_added);
    fwd_rules_clear(&rs);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    const char *redis = NULL, *prefix = NULL;
    struct config *cfg;
    redisContext *c;
    struct err err;
    int opt, rc;

    while ((opt = getopt(argc, argv, "+r:x:")) != -1) {
        switch (opt) {
        case 'r': redis = optarg; break;
        case 'x': prefix = optarg; break;
        default: usage();
        }
    }
    if (redis == NULL || optind >= argc)
        usage();
    argc -= optind;
    argv += optind;

    if ((cfg = config_defaults()) == NULL || redis_addr_parse(redis, &cfg->redis.server, NULL) < 0) {
        fprintf(stderr, "fwdprobe: bad Redis address %s\n", redis);
        config_free(cfg);
        return 2;
    }
    if (prefix == NULL)
        prefix = cfg->redis.prefix;
    if ((c = redis_connect(&cfg->redis, &err)) == NULL) {
        config_free(cfg);
        return fail(err.msg);
    }
    if (strcmp(argv[0], "add") == 0)
        rc = cmd_add(c, prefix, argc, argv);
    else if (strcmp(argv[0], "del") == 0)
        rc = cmd_del(c, prefix, argc, argv);
    else if (strcmp(argv[0], "get") == 0)
        rc = cmd_get(c, prefix, argc, argv);
    else if (strcmp(argv[0], "list") == 0 && argc == 1)
        rc = cmd_list(c, prefix);
    else if (strcmp(argv[0], "import") == 0)
        rc = cmd_import(c, prefix, argc, argv);
    else if (strcmp(argv[0], "version") == 0 && argc == 1) {
        long long v = fwd_rules_version(c, prefix, &err);

        rc = v < 0 ? fail(err.msg) : (printf("%lld\n", v), 0);
    } else {
        usage();
    }
    redisFree(c);
    config_free(cfg);
    return rc;
}
