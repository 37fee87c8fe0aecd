#include "daemon_proc.h"
#include "free_ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *g_name = "bench";

void bench_set_name(const char *name) { g_name = name; }

void bench_die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", g_name, what, why);
    exit(1);
}

spectra_client *client_for(const daemon_proc *d, int timeout_ms)
{
    spectra_options o;
    spectra_options_init(&o);
    o.control = d->control;
    o.ingest = d->ingest;
    o.publish = d->publish;
    o.timeout_ms = timeout_ms;
    spectra_client *c = spectra_connect(&o);
    if (!c)
        bench_die("spectra_connect", "out of memory");
    return c;
}

void daemon_start(daemon_proc *d, const char *bin, const char *workers)
{
    daemon_start_config(d, bin, workers, NULL);
}

void daemon_start_config(daemon_proc *d, const char *bin, const char *workers,
                         const char *config_path)
{
    memset(d, 0, sizeof *d);
    int port[3];
    int prc = spx_free_ports(port, 3);
    if (prc != 0)
        bench_die("free ports", strerror(-prc));
    snprintf(d->ingest, sizeof d->ingest, "tcp://127.0.0.1:%d", port[0]);
    snprintf(d->publish, sizeof d->publish, "tcp://127.0.0.1:%d", port[1]);
    snprintf(d->control, sizeof d->control, "tcp://127.0.0.1:%d", port[2]);
    snprintf(d->log_path, sizeof d->log_path, "/tmp/%s-%d.log", g_name, (int)getpid());
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork", strerror(errno));
    if (pid == 0) {
        int fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (config_path)
            execl(bin, bin, "--config", config_path, "--ingest", d->ingest, "--publish",
                  d->publish, "--control", d->control, "--log-level", "warn", "--workers", workers,
                  (char *)NULL);
        else
            execl(bin, bin, "--ingest", d->ingest, "--publish", d->publish, "--control",
                  d->control, "--log-level", "warn", "--workers", workers, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    spectra_client *c = client_for(d, 250);
    for (int attempt = 0; attempt < 120; attempt++) {
        if (spectra_ping(c, NULL) == 0) {
            spectra_close(c);
            return;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            bench_die("spectrad exited during startup; log", d->log_path);
    }
    bench_die("spectrad did not answer ping; log", d->log_path);
}

void daemon_stop(daemon_proc *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    int status = 0;
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        unlink(d->log_path);
    else
        fprintf(stderr, "spectrad exited with status %d; log kept in %s\n", status, d->log_path);
}

