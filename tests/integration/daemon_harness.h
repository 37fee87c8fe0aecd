/* Integration tests: a real spectrad process on free loopback ports with a temporary state dir.
 *
 * SPX_DAEMON_WRAPPER, when set, is prepended to the daemon's command line (tests/run-all.sh runs the
 * integration tests once with "valgrind --leak-check=full --error-exitcode=99 ..."); the harness then
 * requires a clean exit, so a leak or an invalid access fails the test. */
#ifndef SPX_DAEMON_HARNESS_H
#define SPX_DAEMON_HARNESS_H

#include <limits.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* CURVE keys (Z85) for the harness's own control socket, for a daemon started with keys. */
typedef struct spx_daemon_keys {
    char server_public[41];
    char client_public[41];
    char client_secret[41];
} spx_daemon_keys;

typedef struct spx_daemon_proc {
    pid_t pid;
    char ingest[64], publish[64], control[64];
    char state_dir[PATH_MAX];
    char log_path[PATH_MAX + 8];
    void *zctx;                /* for the harness's own raw sockets */
    void *ctl;                 /* a DEALER on the control endpoint */
    char *replies[8];          /* the last replies' bytes: unpacked str/bin objects point into them */
    unsigned next_reply;
    bool curve;                /* the control DEALER uses `keys` */
    spx_daemon_keys keys;
} spx_daemon_proc;

/* Starts spectrad with the given extra arguments (NULL-terminated), waits until it answers ping.
 * Fails the current Criterion test on error. */
void spx_daemon_start(spx_daemon_proc *d, const char *const *extra_args);
/* SIGKILL (no shutdown at all: a crash) and reap; the state dir and ports stay for a restart. */
void spx_daemon_kill9(spx_daemon_proc *d);
/* Starts spectrad again on the same ports and state dir (after spx_daemon_kill9 or a stop that kept
 * them), waiting until it answers ping. */
void spx_daemon_restart(spx_daemon_proc *d, const char *const *extra_args);
/* The same for a daemon with CURVE: the harness's control socket (readiness ping, spx_ctl_*)
 * authenticates with keys, which must be an operator's. */
void spx_daemon_start_keys(spx_daemon_proc *d, const char *const *extra_args,
                           const spx_daemon_keys *keys);
/* Writes text to path (a config file, a key), failing the test on error. */
void spx_write_file(const char *path, const char *text);
/* SIGTERM and wait (up to 60 s); returns the exit status (0 for a clean stop). Removes the state dir. */
int spx_daemon_stop(spx_daemon_proc *d);
/* The same, keeping the state dir and the log (for a restart). */
int spx_daemon_stop_keep_state(spx_daemon_proc *d);
/* Prints the daemon's log to stderr (for failing tests). */
void spx_daemon_dump_log(const spx_daemon_proc *d);
/* True if the daemon's log contains `needle`. */
bool spx_daemon_log_contains(const spx_daemon_proc *d, const char *needle);

/* Sends raw bytes as one control request body (DEALER with an empty delimiter, as REQ would) and
 * waits up to timeout_ms for the reply. Returns 0 and the unpacked reply, or -1 on timeout. The
 * reply's strings point into a buffer the harness keeps for the next 8 calls. */
int spx_ctl_raw(spx_daemon_proc *d, const void *body, size_t len, msgpack_unpacked *reply,
                int timeout_ms);
/* Packs a request from a printf-like mini language is overkill; instead build with msgpack and call
 * spx_ctl_raw. Convenience for the common case {op: OP, stream: S, pipeline: P}. */
int spx_ctl_simple(spx_daemon_proc *d, const char *op, const char *stream, const char *pipeline,
                   msgpack_unpacked *reply);
/* Reads reply["ok"] and, for errors, reply["error"]["code"] into code (may be NULL). */
bool spx_reply_ok(const msgpack_unpacked *reply, char *code, size_t codelen);
/* The value of `key` in map m, or NULL (also when m is not a map). */
const msgpack_object *spx_reply_get(const msgpack_object *m, const char *key);
/* Looks up a path of map keys, e.g. {"ingest", "errors", "bad_msgpack", NULL}; returns the number
 * as double or NAN when absent. */
double spx_reply_number(const msgpack_object *root, const char *const *path);

/* Runs the built `spectra` CLI against the daemon with `args` (NULL-terminated), echoing its stderr
 * and copying it into err (may be NULL). Control requests get a 120 s timeout: a daemon under
 * valgrind or on a loaded machine answers slowly, and a test asserts results, not speed. Returns
 * the exit status. */
int spx_run_cli(const spx_daemon_proc *d, const char *const *args, char *err, size_t err_cap);

/* Path of a built binary (spectrad, spectra) in the build tree. */
const char *spx_bin_path(const char *name);

#endif
