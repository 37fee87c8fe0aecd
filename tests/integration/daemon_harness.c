#define _XOPEN_SOURCE 700
#include "daemon_harness.h"
#include "free_ports.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

const char *spx_bin_path(const char *name)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", SPX_BIN_DIR, name);
    return path;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void spx_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, true, "%s: write failed", path);
}

void spx_daemon_start(spx_daemon_proc *d, const char *const *extra_args)
{
    spx_daemon_start_keys(d, extra_args, NULL);
}

void spx_daemon_start_keys(spx_daemon_proc *d, const char *const *extra_args,
                           const spx_daemon_keys *keys)
{
    memset(d, 0, sizeof *d);
    if (keys) {
        d->curve = true;
        d->keys = *keys;
    }
    int port[3];
    int prc = spx_free_ports(port, 3);
    if (prc != 0)
        cr_assert_fail("free ports: %s", strerror(-prc));
    snprintf(d->ingest, sizeof d->ingest, "tcp://127.0.0.1:%d", port[0]);
    snprintf(d->publish, sizeof d->publish, "tcp://127.0.0.1:%d", port[1]);
    snprintf(d->control, sizeof d->control, "tcp://127.0.0.1:%d", port[2]);
    snprintf(d->state_dir, sizeof d->state_dir, "/tmp/spectrad-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d->state_dir));
    snprintf(d->log_path, sizeof d->log_path, "%s.log", d->state_dir);
    spx_daemon_restart(d, extra_args);
}

void spx_daemon_kill9(spx_daemon_proc *d)
{
    cr_assert_gt(d->pid, 0);
    kill(d->pid, SIGKILL);
    int status;
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    for (int i = 0; i < 8; i++) {
        free(d->replies[i]);
        d->replies[i] = NULL;
    }
    if (d->ctl)
        zmq_close(d->ctl);
    d->ctl = NULL;
    if (d->zctx)
        zmq_ctx_term(d->zctx);
    d->zctx = NULL;
}

void spx_daemon_restart(spx_daemon_proc *d, const char *const *extra_args)
{
    const char *argv[64];
    size_t n = 0;
    char *wrapper = NULL;
    const char *w = getenv("SPX_DAEMON_WRAPPER");
    if (w && *w) {
        wrapper = strdup(w);
        for (char *tok = strtok(wrapper, " "); tok && n < 32; tok = strtok(NULL, " "))
            argv[n++] = tok;
    }
    argv[n++] = spx_bin_path("spectrad");
    argv[n++] = "--ingest";
    argv[n++] = d->ingest;
    argv[n++] = "--publish";
    argv[n++] = d->publish;
    argv[n++] = "--control";
    argv[n++] = d->control;
    argv[n++] = "--state-dir";
    argv[n++] = d->state_dir;
    for (size_t i = 0; extra_args && extra_args[i] && n < 62; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;

    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* Dies with the test: a failed assertion ends the test process before its cleanup, and a
         * daemon left running would hold its ports and CPU into later tests. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* A restart appends, so the log tells the whole story of the state dir. */
        int fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    free(wrapper);
    d->pid = pid;
    d->zctx = zmq_ctx_new();
    /* Under valgrind startup takes seconds. Each attempt uses a fresh socket, so a late answer to
     * an earlier ping can never be taken for the answer to a later request. */
    static const char ping[] = "\x81\xa2op\xa4ping";
    for (int attempt = 0; attempt < 120; attempt++) {
        d->ctl = zmq_socket(d->zctx, ZMQ_DEALER);
        int linger = 0;
        zmq_setsockopt(d->ctl, ZMQ_LINGER, &linger, sizeof linger);
        if (d->curve) {
            cr_assert_eq(zmq_setsockopt(d->ctl, ZMQ_CURVE_SERVERKEY, d->keys.server_public, 40), 0);
            cr_assert_eq(zmq_setsockopt(d->ctl, ZMQ_CURVE_PUBLICKEY, d->keys.client_public, 40), 0);
            cr_assert_eq(zmq_setsockopt(d->ctl, ZMQ_CURVE_SECRETKEY, d->keys.client_secret, 40), 0);
        }
        cr_assert_eq(zmq_connect(d->ctl, d->control), 0);
        msgpack_unpacked r;
        bool ok = false;
        if (spx_ctl_raw(d, ping, sizeof ping - 1, &r, 500) == 0) {
            ok = spx_reply_ok(&r, NULL, 0);
            msgpack_unpacked_destroy(&r);
        }
        if (ok)
            return;
        zmq_close(d->ctl);
        d->ctl = NULL;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            spx_daemon_dump_log(d);
            cr_assert_fail("spectrad exited during startup (status %d)", status);
        }
    }
    spx_daemon_dump_log(d);
    cr_assert_fail("spectrad did not answer ping within 60 s");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int stop_daemon(spx_daemon_proc *d, bool keep_state);

int spx_daemon_stop(spx_daemon_proc *d) { return stop_daemon(d, false); }
int spx_daemon_stop_keep_state(spx_daemon_proc *d) { return stop_daemon(d, true); }

static int stop_daemon(spx_daemon_proc *d, bool keep_state)
{
    int status = -1;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        for (int i = 0; i < 600; i++) {
            if (waitpid(d->pid, &status, WNOHANG) == d->pid)
                break;
            sleep_ms(100);
            if (i == 599) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, &status, 0);
            }
        }
        d->pid = 0;
    }
    if (d->ctl)
        zmq_close(d->ctl);
    if (d->zctx)
        zmq_ctx_term(d->zctx);
    d->ctl = d->zctx = NULL;
    for (int i = 0; i < 8; i++) {
        free(d->replies[i]);
        d->replies[i] = NULL;
    }
    if (keep_state) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            spx_daemon_dump_log(d);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }
    nftw(d->state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        unlink(d->log_path);
    else
        spx_daemon_dump_log(d);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void spx_daemon_dump_log(const spx_daemon_proc *d)
{
    FILE *f = fopen(d->log_path, "r");
    if (!f)
        return;
    char line[1024];
    fprintf(stderr, "---- spectrad log (%s) ----\n", d->log_path);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fprintf(stderr, "---- end of log ----\n");
    fclose(f);
}

bool spx_daemon_log_contains(const spx_daemon_proc *d, const char *needle)
{
    FILE *f = fopen(d->log_path, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

int spx_ctl_raw(spx_daemon_proc *d, const void *body, size_t len, msgpack_unpacked *reply,
                int timeout_ms)
{
    if (zmq_send(d->ctl, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(d->ctl, body, len, 0) < 0)
        return -1;
    zmq_pollitem_t item = {d->ctl, 0, ZMQ_POLLIN, 0};
    for (;;) {
        if (zmq_poll(&item, 1, timeout_ms) <= 0)
            return -1;
        zmq_msg_t delim, msg;
        zmq_msg_init(&delim);
        zmq_msg_init(&msg);
        zmq_msg_recv(&delim, d->ctl, 0);
        int more = zmq_msg_more(&delim);
        zmq_msg_close(&delim);
        if (!more)
            continue;
        zmq_msg_recv(&msg, d->ctl, 0);
        size_t size = zmq_msg_size(&msg);
        char **slot = &d->replies[d->next_reply++ % 8];
        free(*slot);
        *slot = malloc(size ? size : 1);
        cr_assert_not_null(*slot);
        memcpy(*slot, zmq_msg_data(&msg), size);
        zmq_msg_close(&msg);
        msgpack_unpacked_init(reply);
        msgpack_unpack_return rc = msgpack_unpack_next(reply, *slot, size, NULL);
        if (rc != MSGPACK_UNPACK_SUCCESS) {
            msgpack_unpacked_destroy(reply);
            return -1;
        }
        return 0;
    }
}

int spx_ctl_simple(spx_daemon_proc *d, const char *op, const char *stream, const char *pipeline,
                   msgpack_unpacked *reply)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1 + (stream != NULL) + (pipeline != NULL));
    const char *keys[3] = {"op", "stream", "pipeline"}, *vals[3] = {op, stream, pipeline};
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        msgpack_pack_str_with_body(&pk, keys[i], strlen(keys[i]));
        msgpack_pack_str_with_body(&pk, vals[i], strlen(vals[i]));
    }
    int rc = spx_ctl_raw(d, sb.data, sb.size, reply, 30000);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

const msgpack_object *spx_reply_get(const msgpack_object *m, const char *key)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            !memcmp(k->via.str.ptr, key, klen))
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

bool spx_reply_ok(const msgpack_unpacked *reply, char *code, size_t codelen)
{
    const msgpack_object *ok = spx_reply_get(&reply->data, "ok");
    if (code && codelen) {
        code[0] = 0;
        const msgpack_object *e = spx_reply_get(&reply->data, "error");
        const msgpack_object *c = e ? spx_reply_get(e, "code") : NULL;
        if (c && c->type == MSGPACK_OBJECT_STR)
            snprintf(code, codelen, "%.*s", (int)c->via.str.size, c->via.str.ptr);
    }
    return ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
}

double spx_reply_number(const msgpack_object *root, const char *const *path)
{
    const msgpack_object *o = root;
    for (size_t i = 0; path[i] && o; i++)
        o = spx_reply_get(o, path[i]);
    if (!o)
        return NAN;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
    case MSGPACK_OBJECT_BOOLEAN: return o->via.boolean;
    default: return NAN;
    }
}

int spx_run_cli(const spx_daemon_proc *d, const char *const *args, char *err, size_t err_cap)
{
    char path[] = "/tmp/spx-push-formats-err-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *argv[40];
    size_t n = 0;
    argv[n++] = spx_bin_path("spectra");
    argv[n++] = "--control";
    argv[n++] = d->control;
    argv[n++] = "--ingest";
    argv[n++] = d->ingest;
    argv[n++] = "--publish";
    argv[n++] = d->publish;
    argv[n++] = "--timeout";
    argv[n++] = "120";
    for (size_t i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    char text[4096];
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    text[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(path);
    fputs(text, stderr);
    if (err)
        snprintf(err, err_cap, "%s", text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
