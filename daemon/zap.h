/* The ZAP handler (RFC 27): decides which CURVE client keys may use which socket.
 *
 * CURVE alone authenticates nobody: a CURVE server with no ZAP handler accepts any client key. So
 * the handler is a REP socket on inproc://zeromq.zap.01, bound in the daemon's context before any
 * socket binds, and driven by the loop through spx_zsock like the other sockets. Each socket carries
 * its role as ZAP domain ("ingest", "results", "control"); a client key is allowed on it only if it
 * is in that role's allow-list. ZMQ_ZAP_ENFORCE_DOMAIN makes a missing handler a refusal too. */
#ifndef SPX_ZAP_H
#define SPX_ZAP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "curve_keys.h"
#include "security.h"
#include "zsock.h"

#define SPX_ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct spx_zap {
    bool enabled;
    spx_zsock zs;                                /* the REP socket */
    spx_curve_keypair server;                    /* secret wiped once the sockets have it */
    spx_keyset allow[SPX_ROLE_COUNT];
    char dirs[SPX_ROLE_COUNT][PATH_MAX];
    uint64_t failures[SPX_ROLE_COUNT];           /* refused handshakes (stats: auth.failures) */
    uint64_t accepted[SPX_ROLE_COUNT];
} spx_zap;

/* With CURVE configured: loads the server key and the allow-lists, binds the handler and starts
 * watching it (zs.data = owner). Without: only zeroes z. Returns 0, or -1 with err filled. */
int spx_zap_start(spx_zap *z, uv_loop_t *loop, void *zctx, const spx_security_config *sec,
                  void *owner, char *err, size_t errlen);
/* Makes sock (not yet bound) a CURVE server for role; a no-op without CURVE. */
int spx_zap_secure_socket(spx_zap *z, void *sock, spx_role role, char *err, size_t errlen);
/* Wipes the server secret once every socket has been set up. */
void spx_zap_forget_secret(spx_zap *z);
/* SIGHUP: re-reads the allow-lists of next; all or nothing (an error keeps the current lists).
 * Connected clients stay connected: ZAP is asked only at handshakes. */
void spx_zap_reload(spx_zap *z, const spx_security_config *next);
/* One startup line saying how the sockets are protected. */
void spx_zap_log_mode(const spx_zap *z, const spx_security_config *sec,
                      const char *const endpoints[3]);
/* Closes the handler's socket (through spx_zsock_close) and frees the lists. */
void spx_zap_close(spx_zap *z, void (*on_closed)(spx_zsock *zs));
/* For a failed startup: closes the socket at once (so zmq_ctx_term cannot hang on it); the loop's
 * handles are left stopped, and the loop must not run again. */
void spx_zap_abort(spx_zap *z);

#endif
