/*
 * curlinit.c - libcurl's global initialisation, once (see curlinit.h).
 */
#include <pthread.h>

#include <curl/curl.h>

#include "common/curlinit.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void do_init(void)
{
    init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int curl_init_once(struct err *err)
{
    pthread_once(&once, do_init);
    if (init_rc != CURLE_OK) {
        err_set(err, "cannot initialise libcurl: %s", curl_easy_strerror(init_rc));
        return -1;
    }
    return 0;
}
