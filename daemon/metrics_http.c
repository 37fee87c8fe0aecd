/* The Prometheus endpoint: GET /metrics on libmicrohttpd's own thread, served from the rendering the
 * loop thread makes on request (see metrics.h for the threading contract). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "server.h"

#define SCRAPE_WAIT_MS 1000      /* how long a scrape waits for the loop before serving older text */
#define MAX_CONNECTIONS 16
#define CONNECTION_TIMEOUT_S 10

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

typedef struct spx_metrics_http {
    struct MHD_Daemon *mhd;
    uv_async_t async;            /* loop thread: "render now" */
    spx_server *srv;
    uint16_t port;
    /* shared between the HTTP thread and the loop thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t rendered_cv;
    uint64_t requested;          /* scrapes that asked for a rendering */
    uint64_t rendered;           /* the `requested` value the newest rendering answers */
    bool closing;
    char *text;                  /* newest complete rendering, or NULL */
    size_t text_len;
} spx_metrics_http;

int spx_metrics_parse_listen(const char *listen, char *host, size_t host_cap, uint16_t *port,
                             char *err, size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (colon && hlen >= 2 && listen[0] == '[' && colon[-1] == ']') {
        h++;
        hlen -= 2;
    }
    char *end;
    errno = 0;
    unsigned long p = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || !hlen || colon[1] == '\0' || *end || errno || p > 65535) {
        snprintf(err, errlen, "'%s': expected HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464)", listen);
        return -1;
    }
    if (hlen >= host_cap) {
        snprintf(err, errlen, "'%s': host too long", listen);
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1) {
        snprintf(err, errlen, "'%s': host must be a numeric IPv4 or [IPv6] address", listen);
        return -1;
    }
    *port = (uint16_t)p;
    return 0;
}

/* Loop thread: render and publish the text to the HTTP thread. */
static void on_render_request(uv_async_t *a)
{
    spx_metrics_http *m = a->data;
    pthread_mutex_lock(&m->mu);
    uint64_t answering = m->requested;
    pthread_mutex_unlock(&m->mu);

    spx_metrics_buf b = {0};
    spx_metrics_render(m->srv, &b);

    pthread_mutex_lock(&m->mu);
    if (!b.failed && b.len) {
        free(m->text);
        m->text = b.data;
        m->text_len = b.len;
        b.data = NULL;
    }
    m->rendered = answering;
    pthread_cond_broadcast(&m->rendered_cv);
    pthread_mutex_unlock(&m->mu);
    spx_metrics_buf_free(&b);
}

/* HTTP thread: a copy of a rendering made after this call began (or the newest one, if the loop did
 * not answer within SCRAPE_WAIT_MS). NULL when there is none at all. */
static char *fresh_text(spx_metrics_http *m, size_t *len)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SCRAPE_WAIT_MS / 1000;
    deadline.tv_nsec += (long)(SCRAPE_WAIT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    uint64_t mine = ++m->requested;
    if (!m->closing)
        uv_async_send(&m->async);   /* under mu: the handle is closed only after `closing` is set */
    while (m->rendered < mine && !m->closing)
        if (pthread_cond_timedwait(&m->rendered_cv, &m->mu, &deadline) == ETIMEDOUT)
            break;
    char *copy = NULL;
    if (m->text && (copy = malloc(m->text_len)))
        memcpy(copy, m->text, m->text_len);
    *len = m->text_len;
    pthread_mutex_unlock(&m->mu);
    return copy;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    spx_metrics_http *m = cls;
    (void)version;
    (void)upload;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char msg[] = "only GET and HEAD\n";
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg, sizeof msg - 1, MHD_RESPMEM_PERSISTENT);
    }
    if (*upload_size) {          /* a GET with a body: ignore the body */
        *upload_size = 0;
        return MHD_YES;
    }
    (void)con_cls;
    if (!strcmp(url, "/")) {
        static const char msg[] = "spectrad: metrics at /metrics\n";
        return reply(conn, MHD_HTTP_OK, msg, sizeof msg - 1, MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/metrics") != 0) {
        static const char msg[] = "not found: metrics are at /metrics\n";
        return reply(conn, MHD_HTTP_NOT_FOUND, msg, sizeof msg - 1, MHD_RESPMEM_PERSISTENT);
    }
    size_t len;
    char *text = fresh_text(m, &len);
    if (!text) {
        static const char msg[] = "metrics not rendered yet\n";
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg, sizeof msg - 1,
                     MHD_RESPMEM_PERSISTENT);
    }
    return reply(conn, MHD_HTTP_OK, text, len, MHD_RESPMEM_MUST_FREE);
}

/* libmicrohttpd's own diagnostics (rare: failed accepts, resource limits). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    spx_log_limited(SPX_LOG_WARN, "metrics-http", "metrics: %s", msg);
}

int spx_metrics_http_start(spx_server *srv, char *err, size_t errlen)
{
    const char *listen = srv->cfg.metrics_listen;
    srv->metrics = NULL;
    if (!listen[0])
        return 0;
    char host[64], why[256];
    uint16_t port;
    if (spx_metrics_parse_listen(listen, host, sizeof host, &port, why, sizeof why) != 0) {
        snprintf(err, errlen, "metrics_listen %s", why);
        return -1;
    }
    union { struct sockaddr sa; struct sockaddr_in v4; struct sockaddr_in6 v6; } addr;
    memset(&addr, 0, sizeof addr);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, host, &addr.v4.sin_addr) == 1) {
        addr.v4.sin_family = AF_INET;
        addr.v4.sin_port = htons(port);
    } else {
        inet_pton(AF_INET6, host, &addr.v6.sin6_addr);
        addr.v6.sin6_family = AF_INET6;
        addr.v6.sin6_port = htons(port);
        flags |= MHD_USE_IPv6;
    }
    spx_metrics_http *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "metrics: out of memory");
        return -1;
    }
    m->srv = srv;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->rendered_cv, NULL);
    /* mu is held until the async handle exists: a scrape arriving at once waits for it. */
    pthread_mutex_lock(&m->mu);
    m->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, m,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,   /* first, as MHD asks */
                              MHD_OPTION_SOCK_ADDR, &addr.sa,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
                              MHD_OPTION_END);
    if (!m->mhd) {
        pthread_mutex_unlock(&m->mu);
        pthread_cond_destroy(&m->rendered_cv);
        pthread_mutex_destroy(&m->mu);
        free(m);
        snprintf(err, errlen, "metrics: cannot listen on %s (address in use or not local?)", listen);
        return -1;
    }
    uv_async_init(srv->loop, &m->async, on_render_request);
    m->async.data = m;
    pthread_mutex_unlock(&m->mu);
    srv->metrics = m;
    srv->open_handles++;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : port;
    spx_info("metrics: serving http://%s%s%s:%u/metrics", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", (unsigned)m->port);
    return 0;
}

uint16_t spx_metrics_http_port(const spx_server *srv)
{
    return srv->metrics ? srv->metrics->port : 0;
}

static void on_async_closed(uv_handle_t *h)
{
    spx_metrics_http *m = h->data;
    spx_server *srv = m->srv;
    pthread_cond_destroy(&m->rendered_cv);
    pthread_mutex_destroy(&m->mu);
    free(m->text);
    free(m);
    srv->open_handles--;
}

void spx_metrics_http_stop(spx_server *srv)
{
    spx_metrics_http *m = srv->metrics;
    if (!m)
        return;
    srv->metrics = NULL;
    pthread_mutex_lock(&m->mu);
    m->closing = true;                       /* scrapes in progress stop waiting for the loop */
    pthread_cond_broadcast(&m->rendered_cv);
    pthread_mutex_unlock(&m->mu);
    if (m->mhd)
        MHD_stop_daemon(m->mhd);             /* joins the HTTP thread: nobody sends on async after */
    m->mhd = NULL;
    uv_close((uv_handle_t *)&m->async, on_async_closed);
}
