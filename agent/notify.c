/* Service manager notifications (sd_notify) and the watchdog. */
#include <stdlib.h>
#include <uv.h>

#include "buildconf.h"
#include "notify.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static uv_timer_t notify_watchdog_timer;
static bool notify_watchdog_running;

bool notify_under_systemd(void)
{
	return getenv("NOTIFY_SOCKET") != NULL || getenv("LISTEN_FDS") != NULL;
}

#if HAVE_SYSTEMD
void notify_ready(void)
{
	sd_notify(0, "READY=1\nSTATUS=Serving");
}

void notify_reloading(void)
{
	sd_notify(0, "RELOADING=1");
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

void notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

static void notify_watchdog_cb(uv_timer_t *t)
{
	sd_notify(0, "WATCHDOG=1");
}

void notify_watchdog_start(struct uv_loop_s *loop)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	uv_timer_init(loop, &notify_watchdog_timer);
	uv_timer_start(&notify_watchdog_timer, notify_watchdog_cb, 0, usec / 2000 ? usec / 2000 : 1);
	/* The loop must not stay alive for the watchdog alone. */
	uv_unref((uv_handle_t *)&notify_watchdog_timer);
	notify_watchdog_running = true;
}
#else
void notify_ready(void) { }
void notify_reloading(void) { }
void notify_stopping(void) { }
void notify_status(const char *status) { (void)status; }
void notify_watchdog_start(struct uv_loop_s *loop) { (void)loop; }
#endif

void notify_watchdog_stop(void)
{
	if (!notify_watchdog_running)
		return;
	notify_watchdog_running = false;
	uv_timer_stop(&notify_watchdog_timer);
	uv_close((uv_handle_t *)&notify_watchdog_timer, NULL);
}
