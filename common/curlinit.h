/*
 * curlinit.h - libcurl's process-wide initialisation, done once.
 *
 * Two modules use libcurl: the whitelist fetcher (whitelist/fetch.c) and
 * the notice worker (notify/worker.c).  curl_global_init() must run once
 * per process, and is only thread-safe when libcurl says so
 * (CURL_VERSION_THREADSAFE, true for Debian 12's 7.88): pthread_once
 * makes it once whoever calls first, and the daemon still calls it from
 * main() before it starts threads, where a failure is best reported.
 */
#ifndef MSSANTE_CURLINIT_H
#define MSSANTE_CURLINIT_H

#include "common/err.h"

/* Initialise libcurl once per process.  0, or -1 + err. */
int curl_init_once(struct err *err);

#endif
