#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static spx_log_level g_level = SPX_LOG_INFO;
static int g_journal = -1;   /* -1: decide from the environment on first use */

/* Rate limiting: a few fixed slots keyed by pointer-equal or string-equal keys. Logging happens on
 * the loop thread only, so no locking. */
#define RL_SLOTS 32
#define RL_WINDOW_S 10
#define RL_BURST 5
static struct rl_slot {
    const char *key;
    time_t window_start;
    unsigned in_window;
    unsigned suppressed;
} g_rl[RL_SLOTS];

void spx_log_set_level(spx_log_level level) { g_level = level; }
spx_log_level spx_log_get_level(void) { return g_level; }
void spx_log_use_journal_prefix(int on) { g_journal = on; }

int spx_log_level_parse(const char *s, spx_log_level *out)
{
    static const struct { const char *name; spx_log_level level; } names[] = {
        {"error", SPX_LOG_ERROR}, {"warn", SPX_LOG_WARN}, {"warning", SPX_LOG_WARN},
        {"info", SPX_LOG_INFO}, {"debug", SPX_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    return -1;
}

static const char *level_name(spx_log_level level)
{
    switch (level) {
    case SPX_LOG_ERROR: return "error";
    case SPX_LOG_WARN: return "warn";
    case SPX_LOG_INFO: return "info";
    default: return "debug";
    }
}

static void vlog(spx_log_level level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (g_journal < 0)
        g_journal = getenv("JOURNAL_STREAM") != NULL;
    if (g_journal) {
        fprintf(stderr, "<%d>%s: %s\n", (int)level, level_name(level), msg);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000L, level_name(level), msg);
    }
}

void spx_log(spx_log_level level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void spx_log_limited(spx_log_level level, const char *key, const char *fmt, ...)
{
    if (level > g_level)
        return;
    struct rl_slot *slot = NULL, *oldest = &g_rl[0];
    for (int i = 0; i < RL_SLOTS; i++) {
        if (g_rl[i].key && strcmp(g_rl[i].key, key) == 0) {
            slot = &g_rl[i];
            break;
        }
        if (!g_rl[i].key || g_rl[i].window_start < oldest->window_start)
            oldest = &g_rl[i];
    }
    time_t now = time(NULL);
    if (!slot) {
        slot = oldest;
        *slot = (struct rl_slot){.key = key, .window_start = now};
    }
    if (now - slot->window_start >= RL_WINDOW_S) {
        if (slot->suppressed)
            spx_log(level, "%s: %u similar messages suppressed in the last %ld s", key,
                    slot->suppressed, (long)(now - slot->window_start));
        slot->window_start = now;
        slot->in_window = 0;
        slot->suppressed = 0;
    }
    if (slot->in_window >= RL_BURST) {
        slot->suppressed++;
        return;
    }
    slot->in_window++;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}
