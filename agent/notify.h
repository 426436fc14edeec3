/* Service manager notifications (sd_notify) and the watchdog; no-ops when
 * built without libsystemd or not started by systemd. */
#ifndef RESEARCHD_NOTIFY_H
#define RESEARCHD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct uv_loop_s;

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *status);
/* Start pinging the watchdog at half its interval if systemd asked for it. */
void notify_watchdog_start(struct uv_loop_s *loop);
void notify_watchdog_stop(void);
/* Started by systemd (so: stay in the foreground)? */
bool notify_under_systemd(void);

#endif
