#include "zap.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "log.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93   /* libzmq >= 4.3 (draft in its header) */
#endif

#define ZAP_FRAMES_MAX 8   /* version, id, domain, address, identity, mechanism, credentials */
#define ZAP_BUDGET 32

/* Loads every allow-list into `into`; on error frees what it loaded and returns -1. */
static int load_lists(spx_keyset into[SPX_ROLE_COUNT], const spx_security_config *sec, char *err,
                      size_t errlen)
{
    for (int r = 0; r < SPX_ROLE_COUNT; r++) {
        into[r] = (spx_keyset){0};
        if (!sec->key_dirs[r][0])
            continue;
        char why[768];
        if (spx_keyset_load_dir(sec->key_dirs[r], &into[r], why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: %s", spx_role_config_key((spx_role)r), why);
            for (int k = 0; k < r; k++)
                spx_keyset_free(&into[k]);
            return -1;
        }
    }
    return 0;
}

static int role_of_domain(const zmq_msg_t *m)
{
    for (int r = 0; r < SPX_ROLE_COUNT; r++) {
        const char *name = spx_role_name((spx_role)r);
        if (zmq_msg_size(m) == strlen(name) && !memcmp(zmq_msg_data((zmq_msg_t *)m), name,
                                                       strlen(name)))
            return r;
    }
    return -1;
}

static bool frame_is(zmq_msg_t *m, const char *s)
{
    return zmq_msg_size(m) == strlen(s) && !memcmp(zmq_msg_data(m), s, strlen(s));
}

static void send_reply(void *sock, zmq_msg_t *request_id, const char *status, const char *text,
                       const char *user_id)
{
    zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(sock, request_id ? zmq_msg_data(request_id) : "",
             request_id ? zmq_msg_size(request_id) : 0, ZMQ_SNDMORE);
    zmq_send(sock, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user_id, strlen(user_id), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);   /* no metadata */
}

/* Answers one request already received into f[0..n). */
static void answer(spx_zap *z, zmq_msg_t *f, int n)
{
    void *sock = z->zs.sock;
    if (n < 6 || !frame_is(&f[0], "1.0")) {
        spx_log_limited(SPX_LOG_WARN, "zap-malformed", "auth: malformed ZAP request (%d frames)",
                        n);
        send_reply(sock, n > 1 ? &f[1] : NULL, "500", "malformed request", "");
        return;
    }
    int role = role_of_domain(&f[2]);
    char address[64];
    snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&f[3]),
             (const char *)zmq_msg_data(&f[3]));
    if (role < 0) {
        /* Only our three sockets carry a domain, so this is a configuration bug, never a client. */
        spx_log_limited(SPX_LOG_WARN, "zap-domain", "auth: ZAP request for unknown domain '%.*s'",
                        (int)zmq_msg_size(&f[2]), (const char *)zmq_msg_data(&f[2]));
        send_reply(sock, &f[1], "400", "unknown domain", "");
        return;
    }
    if (!frame_is(&f[5], "CURVE") || n != 7 || zmq_msg_size(&f[6]) != SPX_CURVE_KEY_BYTES) {
        z->failures[role]++;
        spx_log_limited(SPX_LOG_WARN, "auth-refused", "auth: refused a %.*s client on %s from %s: "
                        "only CURVE is accepted", (int)zmq_msg_size(&f[5]),
                        (const char *)zmq_msg_data(&f[5]), spx_role_name((spx_role)role), address);
        send_reply(sock, &f[1], "400", "CURVE required", "");
        return;
    }
    const uint8_t *key = zmq_msg_data(&f[6]);
    char z85[SPX_CURVE_Z85_LEN + 1];
    spx_curve_key_prefix(key, z85, SPX_CURVE_Z85_LEN);
    if (!spx_keyset_contains(&z->allow[role], key)) {
        z->failures[role]++;
        spx_log_limited(SPX_LOG_WARN, "auth-refused", "auth: refused key %.8s... on %s from %s: "
                        "not in %s (%s)", z85, spx_role_name((spx_role)role), address,
                        spx_role_config_key((spx_role)role),
                        z->dirs[role][0] ? z->dirs[role] : "not configured");
        send_reply(sock, &f[1], "400", "key not allowed", "");
        return;
    }
    z->accepted[role]++;
    spx_debug("auth: key %.8s... allowed on %s from %s", z85, spx_role_name((spx_role)role),
              address);
    send_reply(sock, &f[1], "200", "OK", z85);   /* User-Id: the client's public key */
}

static unsigned zap_on_read(spx_zsock *zs, unsigned budget)
{
    spx_zap *z = (spx_zap *)(void *)((char *)zs - offsetof(spx_zap, zs));
    unsigned handled = 0;
    while (handled < budget) {
        zmq_msg_t f[ZAP_FRAMES_MAX];
        int n = 0;
        zmq_msg_init(&f[0]);
        if (zmq_msg_recv(&f[0], zs->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f[0]);
            break;
        }
        n = 1;
        bool more = zmq_msg_more(&f[0]);
        /* The rest of a multipart message is already here: ZeroMQ delivers it whole. */
        while (more) {
            zmq_msg_t extra, *m = n < ZAP_FRAMES_MAX ? &f[n] : &extra;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, zs->sock, 0) < 0) {
                zmq_msg_close(m);
                break;
            }
            more = zmq_msg_more(m);
            if (m == &extra)
                zmq_msg_close(m);
            n++;
        }
        answer(z, f, n);
        for (int i = 0; i < n && i < ZAP_FRAMES_MAX; i++)
            zmq_msg_close(&f[i]);
        handled++;
    }
    return handled;
}

int spx_zap_start(spx_zap *z, uv_loop_t *loop, void *zctx, const spx_security_config *sec,
                  void *owner, char *err, size_t errlen)
{
    memset(z, 0, sizeof *z);
    if (!spx_security_enabled(sec))
        return 0;
    char why[768];
    if (spx_curve_key_load(sec->secret_key_file, true, &z->server, why, sizeof why) != 0) {
        snprintf(err, errlen, "curve_secret_key: %s", why);
        return -1;
    }
    if (load_lists(z->allow, sec, err, errlen) != 0) {
        spx_curve_keypair_wipe(&z->server);
        return -1;
    }
    memcpy(z->dirs, sec->key_dirs, sizeof z->dirs);
    void *rep = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    if (!rep || zmq_setsockopt(rep, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(rep, SPX_ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "ZAP handler %s: %s", SPX_ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
        goto fail;
    }
    int rc = spx_zsock_start(loop, &z->zs, rep, zap_on_read, ZAP_BUDGET, owner);
    if (rc != 0) {
        snprintf(err, errlen, "watching the ZAP handler: %s", uv_strerror(rc));
        goto fail;
    }
    z->enabled = true;
    return 0;
fail:
    if (rep)
        zmq_close(rep);
    for (int r = 0; r < SPX_ROLE_COUNT; r++)
        spx_keyset_free(&z->allow[r]);
    spx_curve_keypair_wipe(&z->server);
    return -1;
}

int spx_zap_secure_socket(spx_zap *z, void *sock, spx_role role, char *err, size_t errlen)
{
    if (!z->enabled)
        return 0;
    int one = 1;
    const char *domain = spx_role_name(role);
    if (!z->server.has_secret || zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, z->server.secret_key, SPX_CURVE_KEY_BYTES) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0) {
        snprintf(err, errlen, "%s socket: cannot enable CURVE: %s", domain,
                 z->server.has_secret ? zmq_strerror(zmq_errno()) : "server secret already wiped");
        return -1;
    }
    /* Without this, a handshake that finds no ZAP handler (e.g. while shutting down) is let in. */
    if (zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0)
        spx_debug("%s socket: ZMQ_ZAP_ENFORCE_DOMAIN not supported by this libzmq", domain);
    return 0;
}

void spx_zap_forget_secret(spx_zap *z)
{
    spx_curve_keypair_wipe(&z->server);
}

void spx_zap_reload(spx_zap *z, const spx_security_config *next)
{
    if (!z->enabled) {
        if (spx_security_enabled(next))
            spx_warn("reload: curve_secret_key is set but the daemon started without CURVE; it "
                     "takes effect after a restart");
        return;
    }
    spx_keyset fresh[SPX_ROLE_COUNT];
    char err[1024];
    if (load_lists(fresh, next, err, sizeof err) != 0) {
        spx_error("reload: %s (the allow-lists are unchanged)", err);
        return;
    }
    for (int r = 0; r < SPX_ROLE_COUNT; r++) {
        spx_keyset_free(&z->allow[r]);
        z->allow[r] = fresh[r];
    }
    memcpy(z->dirs, next->key_dirs, sizeof z->dirs);
    spx_info("reload: allow-lists: %zu producer, %zu subscriber, %zu operator key(s)",
             z->allow[SPX_ROLE_INGEST].n, z->allow[SPX_ROLE_RESULTS].n,
             z->allow[SPX_ROLE_CONTROL].n);
}

void spx_zap_log_mode(const spx_zap *z, const spx_security_config *sec,
                      const char *const endpoints[3])
{
    if (z->enabled) {
        char server[SPX_CURVE_Z85_LEN + 1];
        spx_curve_key_prefix(z->server.public_key, server, SPX_CURVE_Z85_LEN);
        spx_info("sockets use CURVE (server key %s); allowed: %zu producer, %zu subscriber, %zu "
                 "operator key(s)", server, z->allow[SPX_ROLE_INGEST].n,
                 z->allow[SPX_ROLE_RESULTS].n, z->allow[SPX_ROLE_CONTROL].n);
        for (int r = 0; r < SPX_ROLE_COUNT; r++)
            if (!sec->key_dirs[r][0])
                spx_warn("%s is not set: no client may use the %s socket",
                         spx_role_config_key((spx_role)r), spx_role_name((spx_role)r));
        return;
    }
    bool loopback = true;
    for (int i = 0; i < 3; i++)
        loopback = loopback && spx_endpoint_is_loopback(endpoints[i]);
    if (loopback)
        spx_info("sockets are unauthenticated (loopback only): set curve_secret_key to use CURVE");
    else
        spx_warn("sockets are UNAUTHENTICATED and bound beyond loopback (allow_insecure_remote = "
                 "yes): anyone who can reach them can push, subscribe and control");
}

void spx_zap_close(spx_zap *z, void (*on_closed)(spx_zsock *zs))
{
    if (z->enabled)
        spx_zsock_close(&z->zs, true, on_closed);
    for (int r = 0; r < SPX_ROLE_COUNT; r++)
        spx_keyset_free(&z->allow[r]);
    spx_curve_keypair_wipe(&z->server);
}

void spx_zap_abort(spx_zap *z)
{
    if (z->enabled) {
        uv_poll_stop(&z->zs.poll);
        uv_prepare_stop(&z->zs.prepare);
        uv_check_stop(&z->zs.check);
        uv_idle_stop(&z->zs.idle);
        zmq_close(z->zs.sock);
        z->zs.sock = NULL;
        z->enabled = false;
    }
    spx_zap_close(z, NULL);
}
