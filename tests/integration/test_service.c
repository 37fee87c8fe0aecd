/* Operating it as a service: systemd notifications (READY, WATCHDOG at the expected interval,
 * RELOADING/READY on SIGHUP, STOPPING on SIGTERM) read from a NOTIFY_SOCKET the test owns, and config
 * errors reported as FILE:LINE with a non-zero exit. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "spectra.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits up to timeout_s for a datagram containing `what`; returns its arrival time or -1. Counts
 * WATCHDOG=1 datagrams seen on the way into *pings (may be NULL). */
static double wait_for(int fd, const char *what, double timeout_s, int *pings)
{
    double end = now_s() + timeout_s;
    char buf[1024];
    while (now_s() < end) {
        struct timeval tv = {0, 50000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = 0;
        if (pings && strstr(buf, "WATCHDOG=1"))
            (*pings)++;
        if (strstr(buf, what))
            return now_s();
    }
    return -1;
}

Test(service, notifies_ready_watchdog_reload_and_stopping, .timeout = 180)
{
    char dir[] = "/tmp/spectrad-notify-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/notify", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    char cfg_path[256];
    snprintf(cfg_path, sizeof cfg_path, "%s/spectrad.conf", dir);
    FILE *f = fopen(cfg_path, "w");
    fputs("[spectrad]\nlog_level = info\n", f);
    fclose(f);

    setenv("NOTIFY_SOCKET", addr.sun_path, 1);
    setenv("WATCHDOG_USEC", "400000", 1);   /* keep-alive expected every 0.4 s: pings each 0.2 s */
    spx_daemon_proc d;
    const char *const args[] = {"--config", cfg_path, NULL};
    spx_daemon_start(&d, args);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");

    cr_assert_geq(wait_for(fd, "READY=1", 10, NULL), 0, "READY=1");
    int pings = 0;
    double t0 = now_s();
    wait_for(fd, "no such message", 2.0, &pings);
    double elapsed = now_s() - t0;
    /* 0.2 s period: about 10 in 2 s; valgrind or a loaded machine may slow the loop a little. */
    cr_assert_geq(pings, (int)(elapsed / 0.2) - 4, "%d watchdog pings in %.1f s", pings, elapsed);
    cr_assert_leq(pings, (int)(elapsed / 0.2) + 2, "%d watchdog pings in %.1f s", pings, elapsed);

    /* SIGHUP with a new declared stream: RELOADING=1, then READY=1, and the stream exists. */
    f = fopen(cfg_path, "w");
    fputs("[spectrad]\nlog_level = info\n\n[stream declared]\nkind = rows\ndim = 5\n", f);
    fclose(f);
    kill(d.pid, SIGHUP);
    cr_assert_geq(wait_for(fd, "RELOADING=1", 10, NULL), 0, "RELOADING=1");
    cr_assert_geq(wait_for(fd, "READY=1", 10, NULL), 0, "READY=1 after reload");
    msgpack_unpacked r;
    cr_assert_eq(spx_ctl_simple(&d, "drop", "declared", NULL, &r), 0);
    cr_assert(spx_reply_ok(&r, NULL, 0), "the reloaded file created the stream");
    msgpack_unpacked_destroy(&r);

    /* A broken file on reload changes nothing and says so. */
    f = fopen(cfg_path, "w");
    fputs("[spectrad]\nno_such_key = 1\n", f);
    fclose(f);
    kill(d.pid, SIGHUP);
    cr_assert_geq(wait_for(fd, "READY=1", 10, NULL), 0);
    usleep(100000);
    cr_assert(spx_daemon_log_contains(&d, "no_such_key"));
    cr_assert(spx_daemon_log_contains(&d, "the running configuration is unchanged"));

    pid_t pid = d.pid;
    kill(pid, SIGTERM);
    cr_assert_geq(wait_for(fd, "STOPPING=1", 10, NULL), 0, "STOPPING=1");
    kill(pid, SIGTERM);   /* harmless if it has already gone */
    spx_daemon_stop(&d);
    close(fd);
    unlink(addr.sun_path);
    unlink(cfg_path);
    rmdir(dir);
}

/* Runs `spectrad --check-config FILE`; returns the exit status and stderr in out. */
static int check_config(const char *text, char *out, size_t outlen, char *path, size_t pathlen)
{
    char tmpl[] = "/tmp/spectrad-cfg-XXXXXX";
    int fd = mkstemp(tmpl);
    if (text) {
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    } else {
        unlink(tmpl);   /* a missing file */
    }
    close(fd);
    snprintf(path, pathlen, "%s", tmpl);
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execl(spx_bin_path("spectrad"), "spectrad", "--check-config", tmpl, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], out, outlen - 1);
    out[n > 0 ? n : 0] = 0;
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    unlink(tmpl);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect_config_error(const char *text, int line, const char *needle)
{
    char out[2048], path[64], where[128];
    cr_assert_eq(check_config(text, out, sizeof out, path, sizeof path), 2, "output: %s", out);
    if (line > 0)
        snprintf(where, sizeof where, "%s:%d: ", path, line);
    else
        snprintf(where, sizeof where, "%s: ", path);
    cr_assert(strstr(out, where), "expected '%s' in: %s", where, out);
    cr_assert(strstr(out, needle), "expected '%s' in: %s", needle, out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
}

Test(config, each_error_names_file_and_line)
{
    expect_config_error("[spectrad]\nlog_level = info\nnope = 1\n", 3, "unknown key 'nope'");
    expect_config_error("[spectrad]\ncontrol = udp://127.0.0.1:1\n", 2, "expected tcp://");
    expect_config_error(NULL, 0, "No such file or directory");
    expect_config_error("[spectrad]\n\n[stream s]\nkind = rows\ndim = 4\n\n[pipeline s.p]\n"
                        "algo = topeig\nmethod = magic\n", 8, "method=magic");
    expect_config_error("[spectrad]\n[somewhere]\nx = 1\n", 3, "unknown section");
    expect_config_error("[stream s]\nkind = rows\ndim = zero\n", 3, "dim=zero");
    expect_config_error("[pipeline s.p]\nalgo = topeig\n", 2, "no [stream s] declared");
    char out[512], path[64];
    cr_assert_eq(check_config("[spectrad]\nworkers = 2\n", out, sizeof out, path, sizeof path), 0,
                 "%s", out);
}

/* CURVE keys ([spectrad] curve_secret_key, producer_keys, ...): each bad key file or directory is
 * named with the config file's line, and a non-loopback endpoint without keys is refused. */
Test(config, curve_key_errors_name_file_and_line)
{
    char dir[] = "/tmp/spectrad-cfgkeys-XXXXXX", base[64], err[512], text[1024];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(base, sizeof base, "%s/server", dir);
    cr_assert_eq(spectra_keygen(base, err, sizeof err), 0, "%s", err);
    snprintf(base, sizeof base, "%s/alice", dir);
    cr_assert_eq(spectra_keygen(base, err, sizeof err), 0, "%s", err);
    char bad_key[96], keys_dir[96], secret_dir[96], path[160];
    snprintf(bad_key, sizeof bad_key, "%s/bad.key_secret", dir);
    spx_write_file(bad_key, "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf~\"\n");
    snprintf(keys_dir, sizeof keys_dir, "%s/producers", dir);
    cr_assert_eq(mkdir(keys_dir, 0755), 0);
    snprintf(path, sizeof path, "%s/alice.key", keys_dir);
    spx_write_file(path, "metadata\ncurve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n");
    snprintf(secret_dir, sizeof secret_dir, "%s/leaky", dir);
    cr_assert_eq(mkdir(secret_dir, 0755), 0);
    snprintf(path, sizeof path, "%s/alice.key_secret", secret_dir);
    spx_write_file(path, "metadata\ncurve\n");

    snprintf(text, sizeof text, "[spectrad]\nlog_level = info\ncurve_secret_key = %s/nope\n", dir);
    expect_config_error(text, 3, "No such file or directory");
    snprintf(text, sizeof text, "[spectrad]\ncurve_secret_key = %s/server.key\n", dir);
    expect_config_error(text, 2, "no secret-key");
    snprintf(text, sizeof text, "[spectrad]\ncurve_secret_key = %s\n", bad_key);
    expect_config_error(text, 2, "public-key: character '~' at position 40 is not Z85");
    snprintf(text, sizeof text, "[spectrad]\ncurve_secret_key = %s/server.key_secret\n"
             "operator_keys = %s/none\n", dir, dir);
    expect_config_error(text, 3, "operator_keys");
    snprintf(text, sizeof text, "[spectrad]\ncurve_secret_key = %s/server.key_secret\n"
             "subscriber_keys = %s\n", dir, secret_dir);
    expect_config_error(text, 3, "does not belong in an allow-list");
    snprintf(text, sizeof text, "[spectrad]\nworkers = 2\nproducer_keys = %s\n", keys_dir);
    expect_config_error(text, 3, "producer_keys needs curve_secret_key");
    expect_config_error("[spectrad]\ningest = tcp://0.0.0.0:5555\n", 0, "allow_insecure_remote");
    expect_config_error("[spectrad]\nallow_insecure_remote = maybe\n", 2, "expected yes or no");

    char out[1024], cfg[64];
    cr_assert_eq(check_config("[spectrad]\ningest = tcp://0.0.0.0:5555\nallow_insecure_remote = yes\n",
                              out, sizeof out, cfg, sizeof cfg), 0, "%s", out);
    cr_assert_eq(check_config("[spectrad]\ncontrol = ipc:///tmp/x.sock\npublish = tcp://[::1]:9\n",
                              out, sizeof out, cfg, sizeof cfg), 0, "%s", out);
    snprintf(text, sizeof text, "[spectrad]\ningest = tcp://0.0.0.0:5555\ncurve_secret_key = "
             "%s/server.key_secret\nproducer_keys = %s\n", dir, keys_dir);
    cr_assert_eq(check_config(text, out, sizeof out, cfg, sizeof cfg), 0, "%s", out);
    snprintf(text, sizeof text, "rm -rf '%s'", dir);
    cr_assert_eq(system(text), 0);
}
