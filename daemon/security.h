/* Who may use which socket: the [spectrad] keys for CURVE and the loopback-only default.
 *
 * With `curve_secret_key` set, every socket is a CURVE server and a client's public key must be in
 * the allow-list directory of that socket's role (daemon/zap.c). Without it, the sockets are
 * unauthenticated and the daemon refuses to bind anything but loopback unless
 * `allow_insecure_remote = yes`. */
#ifndef SPX_SECURITY_H
#define SPX_SECURITY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* A socket's role; also its ZAP domain. */
typedef enum spx_role {
    SPX_ROLE_INGEST,     /* producers: PULL */
    SPX_ROLE_RESULTS,    /* subscribers: PUB */
    SPX_ROLE_CONTROL,    /* operators: ROUTER */
    SPX_ROLE_COUNT
} spx_role;

typedef struct spx_security_config {
    char secret_key_file[PATH_MAX];            /* curve_secret_key; "" = no CURVE */
    char key_dirs[SPX_ROLE_COUNT][PATH_MAX];   /* producer_keys, subscriber_keys, operator_keys */
    bool allow_insecure_remote;
    int secret_key_line, key_dir_lines[SPX_ROLE_COUNT];   /* where they were set, for messages */
} spx_security_config;

/* "ingest", "results", "control" (the ZAP domains), and the config key of its allow-list. */
const char *spx_role_name(spx_role role);
const char *spx_role_config_key(spx_role role);

/* A [spectrad] key of this module: 1 taken, 0 not one of ours, -1 bad value (reason in err; the
 * caller prefixes FILE:LINE). Key files and directories are read and checked here. */
int spx_security_config_key(spx_security_config *s, const char *name, const char *value, int line,
                            char *err, size_t errlen);
/* After a file is read: keys that need each other ("FILE:LINE: reason" in err). */
int spx_security_check_file(const spx_security_config *s, const char *path, char *err,
                            size_t errlen);
/* With the final endpoints (ingest, publish, control): no unauthenticated non-loopback endpoint
 * unless allow_insecure_remote. */
int spx_security_validate(const spx_security_config *s, const char *const endpoints[3], char *err,
                          size_t errlen);
bool spx_security_enabled(const spx_security_config *s);
/* tcp://127.0.0.1, tcp://[::1], tcp://localhost, ipc://, inproc://. */
bool spx_endpoint_is_loopback(const char *endpoint);

#endif
