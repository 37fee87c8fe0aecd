/* The daemon's metrics beyond the `stats` op: the Prometheus rendering of every counter, process
 * memory, and the HTTP endpoint that serves the rendering (libmicrohttpd, its own thread).
 *
 * Threading: libmicrohttpd answers on its own thread and must never read loop-owned state (streams,
 * pipelines, counters). A scrape therefore asks the loop for a fresh rendering (uv_async), waits up
 * to a second for it under a mutex, and serves the newest rendering the loop has produced; the loop
 * renders in its own callback, with nothing else running on its state. If the loop is busy past the
 * wait, the previous rendering is served (its spectrad_metrics_render_timestamp_seconds says when). */
#ifndef SPX_METRICS_H
#define SPX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics_text.h"

struct spx_server;

/* Resident and virtual memory of this process in bytes (/proc/self/statm). 0 or -errno. */
int spx_process_memory(uint64_t *rss_bytes, uint64_t *vm_bytes);
/* Time spent with ingest paused (backpressure), the current pause included. Loop thread. */
double spx_ingest_paused_seconds(const struct spx_server *srv);

/* Renders every metric of srv in the text format 0.0.4 into b (appending). Loop thread. */
void spx_metrics_render(const struct spx_server *srv, spx_metrics_buf *b);

/* Parses "HOST:PORT" (IPv4, or [IPv6]; port 0 picks a free one). 0, or -1 with err filled. */
int spx_metrics_parse_listen(const char *listen, char *host, size_t host_cap, uint16_t *port,
                             char *err, size_t errlen);

/* Starts the endpoint on srv->cfg.metrics_listen (nothing when empty) and sets srv->metrics.
 * 0, or -1 with err filled. Loop thread. */
int spx_metrics_http_start(struct spx_server *srv, char *err, size_t errlen);
/* The port actually bound (after port 0), or 0 when off. */
uint16_t spx_metrics_http_port(const struct spx_server *srv);
/* Stops the HTTP thread and closes the loop handle; srv->open_handles drops when it has closed.
 * Idempotent. Loop thread. */
void spx_metrics_http_stop(struct spx_server *srv);

#endif
