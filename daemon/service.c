#include "service.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef SPX_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static void notify(const char *msg) { sd_notify(0, msg); }

uint64_t spx_service_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
#else
static void notify(const char *msg) { (void)msg; }
uint64_t spx_service_watchdog_usec(void) { return 0; }
#endif

void spx_service_ready(void) { notify("READY=1"); }
void spx_service_stopping(void) { notify("STOPPING=1"); }
void spx_service_watchdog_ping(void) { notify("WATCHDOG=1"); }

void spx_service_reloading(void)
{
    /* systemd >= 253 wants the monotonic time of the reload with RELOADING=1; older ones ignore it. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[64];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    notify(msg);
}

void spx_service_status(const char *fmt, ...)
{
    char msg[256] = "STATUS=";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + 7, sizeof msg - 7, fmt, ap);
    va_end(ap);
    notify(msg);
}
