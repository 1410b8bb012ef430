/*
 * log: the error log. Levels are tested before any formatting happens, so a disabled
 * level costs one comparison. Lines go to stderr (or the file given to log_open) as
 * "2026-11-23T10:00:00.123Z warn  upstream: text", one write() per line; this log is
 * for rare events, the per-request access log is router/access_log.h.
 */
#ifndef HOSTESS_ROUTER_BASE_LOG_H
#define HOSTESS_ROUTER_BASE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern enum log_level log_level;

/* Parses "error", "warn", "info" or "debug"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);
/* Sends the error log to path ("-" or NULL: stderr). Returns 0 or -errno. */
int log_open(const char *path);

void log_emit(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) do { if (log_level >= LOG_ERROR) log_emit(LOG_ERROR, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_level >= LOG_WARN)  log_emit(LOG_WARN,  __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_level >= LOG_INFO)  log_emit(LOG_INFO,  __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level >= LOG_DEBUG) log_emit(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
