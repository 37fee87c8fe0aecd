/* Logging: one line per event to stderr, which journald captures under systemd.
 *
 * Lines look like "<6>spectrad: info: stream=spambase pipeline=top: message" when stderr is the
 * journal (the <N> prefix is the syslog priority journald understands) and
 * "2026-11-22T10:00:00.123Z info  stream=... message" on a terminal. Repeated messages with the same
 * key are rate-limited so a flood of bad input cannot flood the log. */
#ifndef SPX_LOG_H
#define SPX_LOG_H

#include <stdarg.h>

typedef enum spx_log_level {
    SPX_LOG_ERROR = 3,   /* syslog priorities */
    SPX_LOG_WARN = 4,
    SPX_LOG_INFO = 6,
    SPX_LOG_DEBUG = 7,
} spx_log_level;

void spx_log_set_level(spx_log_level level);
spx_log_level spx_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns 0 or -1. */
int spx_log_level_parse(const char *s, spx_log_level *out);
/* Selects journald-style priority prefixes (default: on when $JOURNAL_STREAM is set). */
void spx_log_use_journal_prefix(int on);

#if defined(__GNUC__)
#define SPX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SPX_PRINTF(a, b)
#endif

void spx_log(spx_log_level level, const char *fmt, ...) SPX_PRINTF(2, 3);
/* Rate-limited: at most `burst` lines per key per 10 s window; the first line after a suppressed
 * period says how many were dropped. `key` is a short static string naming the kind of event. */
void spx_log_limited(spx_log_level level, const char *key, const char *fmt, ...) SPX_PRINTF(3, 4);

#define spx_error(...) spx_log(SPX_LOG_ERROR, __VA_ARGS__)
#define spx_warn(...) spx_log(SPX_LOG_WARN, __VA_ARGS__)
#define spx_info(...) spx_log(SPX_LOG_INFO, __VA_ARGS__)
#define spx_debug(...) spx_log(SPX_LOG_DEBUG, __VA_ARGS__)

#endif
