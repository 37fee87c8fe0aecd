/* Benchmarks through a real daemon: start a spectrad of their own on free loopback ports, connect
 * libspectra to it, stop it. (Integration tests use tests/integration/daemon_harness.h, which
 * reports through Criterion; benchmarks are plain programs that print figures.) */
#ifndef SPX_BENCH_DAEMON_PROC_H
#define SPX_BENCH_DAEMON_PROC_H

#include <sys/types.h>

#include "spectra.h"

typedef struct daemon_proc {
    pid_t pid;
    char ingest[64], publish[64], control[64];
    char log_path[128];
} daemon_proc;

/* Prints "PROGRAM: what: why" and exits 1. */
void bench_die(const char *what, const char *why);
/* The program name used in messages and log file names (set once from main). */
void bench_set_name(const char *name);
/* Starts `bin` with --workers `workers` and waits until it answers ping (exits on failure). */
void daemon_start(daemon_proc *d, const char *bin, const char *workers);
/* The same with --config config_path first (endpoints, log level and workers still from here). */
void daemon_start_config(daemon_proc *d, const char *bin, const char *workers,
                         const char *config_path);
/* SIGTERM and wait; keeps the daemon's log when it did not exit 0. */
void daemon_stop(daemon_proc *d);
/* A libspectra client on the daemon's endpoints (exits on failure). */
spectra_client *client_for(const daemon_proc *d, int timeout_ms);

#endif
