/*
 * ctlmilter.c - the benchmark's control milter: a libmilter filter that
 * accepts everything and does nothing else.
 *
 * It exists to measure "the least a milter can cost" Postfix, so that
 * mssante-milter can be compared with it in the same run.  To make that
 * comparison fair it asks Postfix for exactly the protocol steps
 * mssante-milter asks for (see milter/callbacks.c, cb_negotiate): connect,
 * MAIL, RCPT, DATA, headers (without a reply each), end of headers, the
 * body (skipped after its first chunk), end of message, abort and close;
 * no HELO, no unknown commands; and the same actions and macro lists.
 * Keep ctl_negotiate() in step with the product.
 *
 * Usage: ctlmilter -p SOCKET [-t SECONDS]
 *   SOCKET is a libmilter spec: unix:/path, local:/path, inet:PORT@HOST.
 *
 * TCP: libmilter never sets TCP_NODELAY.  Without it, a milter that answers
 * with more than one small write (or Postfix sending a lone macro packet)
 * runs into Nagle + delayed-ACK stalls of ~40 ms per message on loopback.
 * Linux copies TCP_NODELAY from a listening socket to the sockets accept()
 * returns, so we set it once on libmilter's listening socket, found after
 * smfi_opensocket() by scanning our descriptors.  mssante-milter must do the
 * same (or answer every step in one write) to avoid the trap.
 *
 * SIGTERM/SIGINT are handled by libmilter's own signal thread (smfi_main
 * returns); the caller should expect up to a few seconds before exit.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "milter/socket.h"   /* the product's TCP_NODELAY fix: same measure for both */
#include <libmilter/mfdef.h>

/*
 * What mssante-milter negotiates (milter/callbacks.c, cb_negotiate): the
 * steps it skips, the replies it does without, the actions it may use and
 * the macro lists it asks for.  Mirroring all of them keeps the bytes on
 * the wire identical, so the only difference left between the two milters
 * is the work they do.  Headers come without a reply each (SMFIP_NR_HDR)
 * and the body is cut short at its first chunk (SMFIS_SKIP), which is what
 * the product does on the common path.
 */
#define CTL_STEPS_SKIPPED (SMFIP_NOHELO | SMFIP_NOUNKNOWN)
#define CTL_EXTRAS        (SMFIP_NR_HDR | SMFIP_SKIP)
#define CTL_ACTIONS \
    (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST)

/*
 * Per connection, the control only needs to remember which of CTL_EXTRAS
 * the MTA granted.  It keeps that in the private pointer, pointing at one
 * of these constants, so that it allocates nothing.  It is set in
 * xxfi_negotiate itself: Debian's libmilter runs a pool of workers, and the
 * negotiation and the connect step of one connection may run in different
 * threads, so a thread-local would be wrong now and then.
 */
static const unsigned long granted[4] = { 0, SMFIP_NR_HDR, SMFIP_SKIP, CTL_EXTRAS };

static unsigned long ctl_flags(SMFICTX *ctx)
{
    const unsigned long *p = smfi_getpriv(ctx);

    return p != NULL ? *p : 0;
}

static sfsistat ctl_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                              unsigned long f2, unsigned long f3,
                              unsigned long *pf0, unsigned long *pf1,
                              unsigned long *pf2, unsigned long *pf3)
{
    (void) f2;
    (void) f3;
    *pf0 = f0 & CTL_ACTIONS;
    *pf1 = f1 & (CTL_STEPS_SKIPPED | CTL_EXTRAS);
    *pf2 = 0;
    *pf3 = 0;
    smfi_setpriv(ctx, (void *) &granted[((*pf1 & SMFIP_NR_HDR) ? 1u : 0u)
                                        | ((*pf1 & SMFIP_SKIP) ? 2u : 0u)]);
    if (*pf0 & SMFIF_SETSYMLIST) {
        smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen}");
        smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
        smfi_setsymlist(ctx, SMFIM_DATA, "i");
        smfi_setsymlist(ctx, SMFIM_EOH, "i");
        smfi_setsymlist(ctx, SMFIM_EOM, "i");
    }
    return SMFIS_CONTINUE;
}

static sfsistat ctl_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void) ctx;
    (void) host;
    (void) addr;
    return SMFIS_CONTINUE;
}

static sfsistat ctl_envfrom(SMFICTX *ctx, char **argv)
{
    (void) ctx;
    (void) argv;
    return SMFIS_CONTINUE;
}

static sfsistat ctl_envrcpt(SMFICTX *ctx, char **argv)
{
    (void) ctx;
    (void) argv;
    return SMFIS_CONTINUE;
}

static sfsistat ctl_header(SMFICTX *ctx, char *name, char *value)
{
    (void) name;
    (void) value;
    return (ctl_flags(ctx) & SMFIP_NR_HDR) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat ctl_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    (void) buf;
    (void) len;
    return (ctl_flags(ctx) & SMFIP_SKIP) ? SMFIS_SKIP : SMFIS_CONTINUE;
}

static sfsistat ctl_step(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

/* -a data|eoh: answer SMFIS_ACCEPT at that step (Postfix then sends
 * nothing more of the message); the default answers every step. */
static int accept_at;   /* 0: never, 1: DATA, 2: end of headers */

static sfsistat ctl_data(SMFICTX *ctx)
{
    (void) ctx;
    return accept_at == 1 ? SMFIS_ACCEPT : SMFIS_CONTINUE;
}

static sfsistat ctl_eoh(SMFICTX *ctx)
{
    (void) ctx;
    return accept_at == 2 ? SMFIS_ACCEPT : SMFIS_CONTINUE;
}

static sfsistat ctl_close(SMFICTX *ctx)
{
    smfi_setpriv(ctx, NULL);
    return SMFIS_CONTINUE;
}

static struct smfiDesc ctl_desc = {
    .xxfi_name = "mssante-bench-control",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = CTL_ACTIONS,
    .xxfi_connect = ctl_connect,
    .xxfi_helo = NULL,
    .xxfi_envfrom = ctl_envfrom,
    .xxfi_envrcpt = ctl_envrcpt,
    .xxfi_header = ctl_header,
    .xxfi_eoh = ctl_eoh,
    .xxfi_body = ctl_body,
    .xxfi_eom = ctl_step,
    .xxfi_abort = ctl_step,
    .xxfi_close = ctl_close,
    .xxfi_unknown = NULL,
    .xxfi_data = ctl_data,
    .xxfi_negotiate = ctl_negotiate,
};

/*
 * Set TCP_NODELAY on every listening TCP socket we own.  Called once, after
 * smfi_opensocket() and before smfi_main() starts accepting.  Returns the
 * number of sockets changed.
 */
static void usage(void)
{
    fprintf(stderr, "usage: ctlmilter -p SOCKET [-t TIMEOUT_SECONDS]\n"
                    "  SOCKET: unix:/path | inet:PORT@127.0.0.1\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *spec = NULL;
    int timeout = 30, ch;

    while ((ch = getopt(argc, argv, "a:p:t:")) != -1) {
        switch (ch) {
        case 'a':
            accept_at = strcmp(optarg, "data") == 0 ? 1 : strcmp(optarg, "eoh") == 0 ? 2 : -1;
            if (accept_at < 0)
                usage();
            break;
        case 'p':
            spec = optarg;
            break;
        case 't':
            timeout = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (spec == NULL || optind != argc || timeout <= 0)
        usage();

    /*
     * The benchmark's Postfix runs as user postfix and must be able to
     * connect to a unix socket created by root: the socket lives in a
     * private directory, so a permissive mode is harmless here.
     */
    umask(0);
    if (smfi_setconn((char *) spec) == MI_FAILURE
        || smfi_settimeout(timeout) == MI_FAILURE
        || smfi_register(ctl_desc) == MI_FAILURE) {
        fprintf(stderr, "ctlmilter: cannot set up libmilter for %s\n", spec);
        return 1;
    }
    if (smfi_opensocket(true) == MI_FAILURE) {
        fprintf(stderr, "ctlmilter: cannot open socket %s\n", spec);
        return 1;
    }
    if (strncmp(spec, "inet", 4) == 0 && socket_set_nodelay() == 0)
        fprintf(stderr, "ctlmilter: warning: no listening TCP socket found "
                        "for TCP_NODELAY\n");
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
