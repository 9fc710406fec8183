/*
 * settings.c - the rule settings as the policy reads them (see settings.h).
 */
#include <string.h>

#include "pipeline/settings.h"

void rules_policy_env(const struct rules_settings *rules, struct policy_env *env)
{
    memset(env, 0, sizeof(*env));
    env->local_domains = (const char *const *)rules->local_domains.v;
    env->n_local_domains = rules->local_domains.n;
    env->patient_domain = rules->patient_domain;
}
