/* Telling the service manager (systemd) what the daemon is doing: ready, reloading, stopping, a
 * status line, and watchdog keep-alives. Every call does nothing when the daemon was built without
 * libsystemd or runs without $NOTIFY_SOCKET, so the daemon runs the same way outside systemd. */
#ifndef SPX_SERVICE_H
#define SPX_SERVICE_H

#include <stdint.h>

#include "log.h"

void spx_service_ready(void);
void spx_service_reloading(void);
void spx_service_stopping(void);
void spx_service_status(const char *fmt, ...) SPX_PRINTF(1, 2);
/* The keep-alive period systemd expects (WatchdogSec=) in microseconds, or 0 when none. */
uint64_t spx_service_watchdog_usec(void);
void spx_service_watchdog_ping(void);

#endif
