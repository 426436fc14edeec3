/* Live test of tools/fetch and tools/http against a real nginx on
 * 127.0.0.1 (and a second listener on ::1) that the test starts itself
 * with its own config in a temporary directory, plus a one-byte-a-second
 * server on the test's own loop. No other address is ever contacted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>
#include <cmocka.h>
#include "../cmocka-skip.h"

#include "agent/config.h"
#include "agent/tools.h"
#include "effect.h"
#include "fetch.h"
#include "hash.h"
#include "http.h"
#include "json.h"
#include "store.h"
#include "xmalloc.h"

#define BODY_CAP (64 * 1024)

static struct {
	char dir[64];
	pid_t nginx;
	int port, port6, port_slow;
	bool have_v6;
	uv_loop_t loop;
	struct http *http;
	struct store *store;
	uv_tcp_t slow, endless;
	int port_endless;
} T;

/* ---- helpers ---- */

static void write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", T.dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *read_file(const char *name, size_t *len)
{
	char path[256];
	struct stat st;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", T.dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		*len = 0;
		return xstrdup("");
	}
	fstat(fd, &st);
	buf = xmalloc((size_t)st.st_size + 1);
	*len = (size_t)read(fd, buf, (size_t)st.st_size);
	buf[*len] = '\0';
	close(fd);
	return buf;
}

/* Lines of an nginx access log that contain s (NULL: every line). */
static int log_count(const char *log, const char *s)
{
	size_t len;
	char *text = read_file(log, &len), *save = NULL;
	int n = 0;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (s == NULL || strstr(line, s))
			n++;
	free(text);
	return n;
}

/* nginx logs a request after the client may have read the whole
 * response: wait a little for the lines a test expects. */
static int log_wait(const char *log, const char *s, int want)
{
	int n = log_count(log, s);

	for (int i = 0; i < 40 && n < want; i++) {
		usleep(25 * 1000);
		n = log_count(log, s);
	}
	if (want == 0) {
		usleep(100 * 1000);
		n = log_count(log, s);
	}
	return n;
}

static int free_port(int family)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage got;
	socklen_t len = sizeof(got);
	int fd = socket(family, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, family == AF_INET ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6,
	    family == AF_INET ? sizeof(a4) : sizeof(a6)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&got, &len) == 0)
		port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port :
		    ((struct sockaddr_in6 *)&got)->sin6_port);
	close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	close(fd);
	return ok;
}

static char *url(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", T.port, path);
}

/* ---- the one-byte-a-second server, on the test's loop ---- */

struct slow_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	int open;
	bool endless;
};

static void slow_closed(uv_handle_t *h)
{
	struct slow_conn *c = h->data;

	if (--c->open == 0)
		free(c);
}

static void slow_close(struct slow_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
		uv_close((uv_handle_t *)&c->timer, slow_closed);
		uv_close((uv_handle_t *)&c->tcp, slow_closed);
	}
}

static void slow_written(uv_write_t *w, int status)
{
	free(w);
}

static void slow_send(struct slow_conn *c, const char *s)
{
	uv_write_t *w = xmalloc(sizeof(*w));
	uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));

	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, slow_written) < 0) {
		free(w);
		slow_close(c);
	}
}

static char endless_chunk[64 * 1024];

/* The endless server: a body without length that never ends. */
static void endless_written(uv_write_t *w, int status)
{
	struct slow_conn *c = w->data;

	free(w);
	if (status < 0 || uv_is_closing((uv_handle_t *)&c->tcp)) {
		slow_close(c);
		return;
	}
	w = xmalloc(sizeof(*w));
	w->data = c;
	uv_buf_t b = uv_buf_init(endless_chunk, sizeof(endless_chunk));
	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, endless_written) < 0) {
		free(w);
		slow_close(c);
	}
}

static void slow_tick(uv_timer_t *t)
{
	slow_send(t->data, "x");
}

static void slow_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[4096];

	*b = uv_buf_init(buf, sizeof(buf));
}

static void slow_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct slow_conn *c = s->data;

	if (n < 0)
		slow_close(c);
}

static void slow_accept(uv_stream_t *server, int status)
{
	struct slow_conn *c = xcalloc(1, sizeof(*c));

	uv_tcp_init(&T.loop, &c->tcp);
	uv_timer_init(&T.loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open = 2;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		slow_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, slow_alloc, slow_read);
	if (server == (uv_stream_t *)&T.endless) {
		uv_write_t *w = xmalloc(sizeof(*w));
		static char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		    "Connection: close\r\n\r\n";
		uv_buf_t b = uv_buf_init(head, sizeof(head) - 1);

		memset(endless_chunk, 'y', sizeof(endless_chunk));
		w->data = c;
		if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, endless_written) < 0) {
			free(w);
			slow_close(c);
		}
		return;
	}
	slow_send(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n");
	uv_timer_start(&c->timer, slow_tick, 1000, 1000);
}

/* ---- nginx ---- */

static void write_site(void)
{
	char conf[4096], path[128];
	char *big = xmalloc(200 * 1024);
	static unsigned char zeros[1 << 16];
	unsigned char out[1 << 16];
	z_stream z = {0};
	int fd;

	snprintf(path, sizeof(path), "%s/www", T.dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/www/private", T.dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/tmp", T.dir);
	mkdir(path, 0755);
	write_file("www/robots.txt", "User-agent: *\nDisallow: /private/\n", 34);
	write_file("www/page.html", "<html><head><title>Page</title></head><body><p>Hello.</p>"
	    "</body></html>\n", 72);
	write_file("www/join.html", "<p>joined</p>\n", 14);
	write_file("www/effect.html", "<p>effect</p>\n", 14);
	write_file("www/etag.html", "<p>etag</p>\n", 12);
	write_file("www/private/secret.html", "<p>secret</p>\n", 14);
	memset(big, 'x', 200 * 1024);
	write_file("www/big.txt", big, 200 * 1024);
	free(big);

	/* A gzip bomb: 16 MiB of zeros in about 16 KiB. */
	snprintf(path, sizeof(path), "%s/www/bomb", T.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
	for (int i = 0; i <= 256; i++) {
		z.next_in = zeros;
		z.avail_in = i < 256 ? sizeof(zeros) : 0;
		do {
			z.next_out = out;
			z.avail_out = sizeof(out);
			deflate(&z, i < 256 ? Z_NO_FLUSH : Z_FINISH);
			assert_true(write(fd, out, sizeof(out) - z.avail_out) >= 0);
		} while (z.avail_out == 0);
	}
	deflateEnd(&z);
	close(fd);

	char v6[512] = "";

	if (T.have_v6)
		snprintf(v6, sizeof(v6), "  server {\n    listen [::1]:%d;\n    root %s/www;\n"
		    "    access_log %s/v6.log t;\n  }\n", T.port6, T.dir, T.dir);
	snprintf(conf, sizeof(conf),
	    "master_process off;\n"
	    "error_log %s/error.log;\n"
	    "events { worker_connections 64; }\n"
	    "http {\n"
	    "  include /etc/nginx/mime.types;\n"
	    "  log_format t '$msec $request_uri $status';\n"
	    "  client_body_temp_path %s/tmp/body;\n"
	    "  proxy_temp_path %s/tmp/proxy;\n"
	    "  fastcgi_temp_path %s/tmp/fastcgi;\n"
	    "  uwsgi_temp_path %s/tmp/uwsgi;\n"
	    "  scgi_temp_path %s/tmp/scgi;\n"
	    "  server {\n"
	    "    listen 127.0.0.1:%d;\n"
	    "    root %s/www;\n"
	    "    access_log %s/access.log t;\n"
	    "    location = /redir { return 301 /page.html; }\n"
	    "    location = /to-private { return 302 /private/other.html; }\n"
	    "    location = /loop { return 302 /loop2; }\n"
	    "    location = /loop2 { return 302 /loop; }\n"
	    "    location = /to-v6 { return 302 http://[::1]:%d/page.html; }\n"
	    "    location = /busy { add_header Retry-After 1 always; return 429; }\n"
	    "    location = /bomb { default_type text/html; add_header Content-Encoding gzip; }\n"
	    "  }\n"
	    "%s"
	    "}\n",
	    T.dir, T.dir, T.dir, T.dir, T.dir, T.dir, T.port, T.dir, T.dir, T.port6, v6);
	write_file("nginx.conf", conf, strlen(conf));
}

static int group_setup(void **state)
{
	char conf[128], g[256];
	int fd6;

	if (access(NGINX, X_OK) != 0)
		return 0;
	snprintf(T.dir, sizeof(T.dir), "/tmp/test-fetch-live.XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	fd6 = socket(AF_INET6, SOCK_STREAM, 0);
	T.have_v6 = fd6 >= 0 && free_port(AF_INET6) > 0;
	if (fd6 >= 0)
		close(fd6);
	T.port = free_port(AF_INET);
	T.port6 = T.have_v6 ? free_port(AF_INET6) : 1;
	write_site();
	snprintf(conf, sizeof(conf), "%s/nginx.conf", T.dir);
	snprintf(g, sizeof(g), "daemon off; pid %s/nginx.pid;", T.dir);
	T.nginx = fork();
	if (T.nginx == 0) {
		/* Never outlive a test that crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execl(NGINX, "nginx", "-p", T.dir, "-c", conf, "-g", g, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !port_open(T.port); i++)
		usleep(50 * 1000);
	if (!port_open(T.port)) {
		fprintf(stderr, "nginx did not start; see %s/error.log\n", T.dir);
		return -1;
	}

	uv_loop_init(&T.loop);
	struct http_limits lim = { .max_transfers = 8 };
	if (http_new(&T.loop, &lim, &T.http) < 0)
		return -1;
	snprintf(conf, sizeof(conf), "%s/db", T.dir);
	hash_init();
	if (store_open(conf, &T.store) < 0)
		return -1;

	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage got;
	int len = sizeof(got);

	uv_tcp_init(&T.loop, &T.slow);
	if (uv_tcp_bind(&T.slow, (struct sockaddr *)&a, 0) < 0 ||
	    uv_listen((uv_stream_t *)&T.slow, 16, slow_accept) < 0)
		return -1;
	uv_tcp_getsockname(&T.slow, (struct sockaddr *)&got, &len);
	T.port_slow = ntohs(((struct sockaddr_in *)&got)->sin_port);
	uv_tcp_init(&T.loop, &T.endless);
	if (uv_tcp_bind(&T.endless, (struct sockaddr *)&a, 0) < 0 ||
	    uv_listen((uv_stream_t *)&T.endless, 16, slow_accept) < 0)
		return -1;
	len = sizeof(got);
	uv_tcp_getsockname(&T.endless, (struct sockaddr *)&got, &len);
	T.port_endless = ntohs(((struct sockaddr_in *)&got)->sin_port);
	return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int group_teardown(void **state)
{
	char cmd[128];

	if (T.nginx <= 0)
		return 0;
	kill(T.nginx, SIGTERM);
	waitpid(T.nginx, NULL, 0);
	T.http = http_free(T.http);
	uv_close((uv_handle_t *)&T.slow, NULL);
	uv_close((uv_handle_t *)&T.endless, NULL);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	uv_walk(&T.loop, close_walk, NULL);
	uv_run(&T.loop, UV_RUN_DEFAULT);
	uv_loop_close(&T.loop);
	store_close(T.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.dir);
	if (getenv("KEEP_TEST_DIR") == NULL && system(cmd) != 0)
		return -1;
	return 0;
}

/* ---- running fetches ---- */

struct outcome {
	bool done;
	int r;
	struct fetch_result res;
	char *error, *final_url, *msg;
	int64_t ms;
};

static void on_fetch(struct fetch_req *req, int r, const struct fetch_result *res,
    const char *msg, void *ud)
{
	struct outcome *o = ud;

	o->done = true;
	o->r = r;
	o->msg = msg ? xstrdup(msg) : NULL;
	if (res) {
		o->res = *res;
		o->error = res->error ? xstrdup(res->error) : NULL;
		o->final_url = res->final_url ? xstrdup(res->final_url) : NULL;
	}
}

static void outcome_clear(struct outcome *o)
{
	free(o->error);
	free(o->final_url);
	free(o->msg);
	memset(o, 0, sizeof(*o));
}

static void tick(uv_timer_t *t)
{
}

/* Run the loop until *flag; a ticking timer keeps UV_RUN_ONCE from
 * sleeping on an idle keep-alive connection after flag is set. */
static void run_until(bool *flag, int seconds)
{
	int64_t end = (int64_t)uv_now(&T.loop) + seconds * 1000;
	uv_timer_t t;

	uv_timer_init(&T.loop, &t);
	uv_timer_start(&t, tick, 20, 20);
	while (!*flag && (int64_t)uv_now(&T.loop) < end)
		uv_run(&T.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	if (!*flag)
		fail_msg("timed out waiting");
}

static struct fetch *new_fetch(void (*tweak)(struct fetch_config *))
{
	static const char *const allow_lo[] = { "127.0.0.1/32" };
	struct fetch_config c;
	struct fetch *f = NULL;

	fetch_config_init(&c);
	c.allow_hosts = allow_lo;
	c.n_allow_hosts = 1;
	c.host_delay_ms = 0;
	c.max_body = BODY_CAP;
	c.low_speed_limit = 10;
	c.low_speed_time = 2;
	c.timeout_ms = 20000;
	if (tweak)
		tweak(&c);
	assert_int_equal(fetch_new(&T.loop, T.http, T.store, &c, &f), 0);
	return f;
}

static void fetch_one(struct fetch *f, const char *u, struct outcome *o)
{
	int64_t t0 = (int64_t)uv_now(&T.loop);

	uv_update_time(&T.loop);
	t0 = (int64_t)uv_now(&T.loop);
	memset(o, 0, sizeof(*o));
	assert_int_equal(fetch_start(f, u, on_fetch, o, NULL), 0);
	/* Never synchronously. */
	assert_false(o->done);
	run_until(&o->done, 30);
	o->ms = (int64_t)uv_now(&T.loop) - t0;
}

static void done_fetch(struct fetch *f)
{
	fetch_free(f);
	uv_run(&T.loop, UV_RUN_NOWAIT);
}

#define SKIP_WITHOUT_NGINX() do { if (T.nginx <= 0) test_skip("nginx is not running"); } while (0)

/* ---- tests ---- */

static void test_fetch_and_cache(void **state)
{
	struct fetch *f;
	struct outcome o, o2;
	char *u = url("/page.html#section"), *body = NULL, hex[HASH_HEX_LEN + 1];
	size_t len, blen;
	char *file = read_file("www/page.html", &len);
	uint8_t want[HASH_BYTES];
	struct fetch_stats st;

	SKIP_WITHOUT_NGINX();
	f = new_fetch(NULL);
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_null(o.error);
	assert_int_equal(o.res.status, 200);
	assert_true(o.res.has_body);
	assert_false(o.res.from_cache);
	assert_int_equal(o.res.bytes, (int64_t)len);
	hash_bytes(file, len, want);
	assert_memory_equal(o.res.hash, want, HASH_BYTES);
	assert_int_equal(store_snapshot_get(T.store, o.res.hash, 1 << 20, &body, &blen), 0);
	assert_int_equal(blen, len);
	assert_memory_equal(body, file, len);
	free(body);

	/* The same page by another spelling: served from the cache. */
	free(u);
	u = xasprintf("HTTP://127.0.0.1:%d/./page.html?utm_source=test", T.port);
	fetch_one(f, u, &o2);
	assert_int_equal(o2.r, 0);
	assert_true(o2.res.from_cache);
	assert_memory_equal(o2.res.hash, want, HASH_BYTES);
	assert_int_equal(o2.res.source_id, o.res.source_id);
	assert_int_equal(log_wait("access.log", "/page.html", 1), 1);
	assert_int_equal(log_wait("access.log", "/robots.txt", 1), 1);
	outcome_clear(&o);
	outcome_clear(&o2);

	/* Two fetches of one page at once: one request. */
	free(u);
	u = url("/join.html");
	memset(&o, 0, sizeof(o));
	memset(&o2, 0, sizeof(o2));
	assert_int_equal(fetch_start(f, u, on_fetch, &o, NULL), 0);
	assert_int_equal(fetch_start(f, u, on_fetch, &o2, NULL), 0);
	run_until(&o.done, 10);
	run_until(&o2.done, 10);
	assert_int_equal(o.res.status, 200);
	assert_int_equal(o2.res.status, 200);
	assert_int_equal(log_wait("access.log", "/join.html", 1), 1);
	fetch_get_stats(f, &st);
	assert_int_equal(st.joined, 1);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.robots_fetched, 1);
	hash_hex(o.res.hash, hex);
	outcome_clear(&o);
	outcome_clear(&o2);
	free(u);
	free(file);
	done_fetch(f);
}

struct effect_out {
	bool done;
	int r;
	bool replayed;
	json_t *result;
};

static void on_effect(struct effect_call *c, int r, const json_t *result, bool replayed,
    void *ud)
{
	struct effect_out *e = ud;

	e->done = true;
	e->r = r;
	e->replayed = replayed;
	e->result = result ? json_deep_copy(result) : NULL;
}

static int64_t new_job(void)
{
	json_t *options = json_object();
	struct store_job j = { .owner = 0, .kind = "research", .question = "q",
	    .options = options, .state = JOB_QUEUED, .created = 1 };
	int64_t id = 0;

	assert_int_equal(store_job_insert(T.store, &j, &id), 0);
	json_decref(options);
	return id;
}

static void test_effect(void **state)
{
	struct fetch *f;
	struct effects *e = NULL;
	struct effect_out out[3] = {0};
	struct effect_call *call = NULL;
	json_t *req = NULL;
	const char *s;
	int64_t jobs[2], n;
	char *u = url("/effect.html?utm_medium=x"), hex[HASH_HEX_LEN + 1];
	size_t len;
	char *file = read_file("www/effect.html", &len);
	uint8_t want[HASH_BYTES];

	SKIP_WITHOUT_NGINX();
	f = new_fetch(NULL);
	assert_int_equal(effects_new(&T.loop, T.store, &e), 0);
	assert_int_equal(fetch_register(e, f), 0);
	assert_int_equal(fetch_effect_request(u, &req), 0);
	assert_int_equal(json_get_string(req, "url", &s), 0);
	free(u);
	u = url("/effect.html");
	assert_string_equal(s, u);
	jobs[0] = new_job();
	jobs[1] = new_job();
	for (int i = 0; i < 2; i++) {
		assert_int_equal(effect_run(e, jobs[i], "web.fetch", req, on_effect, &out[i], &call), 0);
		run_until(&out[i].done, 10);
		assert_int_equal(out[i].r, 0);
		assert_false(out[i].replayed);
	}
	/* Per job an effect, one fetch for both: the cache is global. */
	assert_int_equal(log_wait("access.log", "/effect.html", 1), 1);
	hash_bytes(file, len, want);
	hash_hex(want, hex);
	assert_int_equal(json_get_string(out[0].result, "hash", &s), 0);
	assert_string_equal(s, hex);
	assert_int_equal(json_get_int(out[0].result, "status", &n), 0);
	assert_int_equal(n, 200);
	assert_int_equal(json_get_int(out[0].result, "bytes", &n), 0);
	assert_int_equal(n, (int64_t)len);
	assert_int_equal(json_get_string(out[0].result, "content_type", &s), 0);
	assert_string_equal(s, "text/html");
	assert_int_equal(json_get_string(out[0].result, "final_url", &s), 0);
	assert_string_equal(s, u);
	assert_int_equal(json_get_string(out[0].result, "fetched", &s), 0);
	assert_null(json_object_get(out[0].result, "error"));
	assert_true(json_equal(out[0].result, out[1].result) ||
	    json_get_string(out[1].result, "hash", &s) == 0);
	/* The same effect of the same job again: replayed from the store. */
	assert_int_equal(effect_run(e, jobs[0], "web.fetch", req, on_effect, &out[2], &call), 0);
	assert_true(out[2].done);
	assert_true(out[2].replayed);
	assert_true(json_equal(out[2].result, out[0].result));

	for (int i = 0; i < 3; i++)
		json_decref(out[i].result);
	json_decref(req);
	effects_free(e);
	done_fetch(f);
	free(u);
	free(file);
}

static void ttl_zero(struct fetch_config *c)
{
	c->cache_ttl_ms = 0;
}

static void test_revalidate(void **state)
{
	struct fetch *f;
	struct outcome o, o2;
	char *u = url("/etag.html");

	SKIP_WITHOUT_NGINX();
	f = new_fetch(ttl_zero);
	fetch_one(f, u, &o);
	assert_int_equal(o.res.status, 200);
	assert_false(o.res.revalidated);
	usleep(20 * 1000);
	fetch_one(f, u, &o2);
	assert_int_equal(o2.r, 0);
	assert_false(o2.res.from_cache);
	assert_true(o2.res.revalidated);
	assert_int_equal(o2.res.status, 200);
	assert_memory_equal(o2.res.hash, o.res.hash, HASH_BYTES);
	assert_true(o2.res.fetched > o.res.fetched);
	assert_int_equal(log_wait("access.log", "/etag.html 200", 1), 1);
	assert_int_equal(log_wait("access.log", "/etag.html 304", 1), 1);
	outcome_clear(&o);
	outcome_clear(&o2);
	free(u);
	done_fetch(f);
}

static void robots_off(struct fetch_config *c)
{
	c->robots = false;
}

static void test_robots(void **state)
{
	struct fetch *f;
	struct outcome o;
	char *u = url("/private/secret.html");

	SKIP_WITHOUT_NGINX();
	f = new_fetch(NULL);
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_int_equal(o.res.error_code, -EPERM);
	assert_non_null(strstr(o.error, "robots.txt"));
	assert_int_equal(log_wait("access.log", "/private/secret.html", 0), 0);
	outcome_clear(&o);
	done_fetch(f);

	/* With robots = no the same page is fetched. */
	f = new_fetch(robots_off);
	fetch_one(f, u, &o);
	assert_int_equal(o.res.status, 200);
	assert_int_equal(log_wait("access.log", "/private/secret.html", 1), 1);
	outcome_clear(&o);
	done_fetch(f);
	free(u);
}

static void test_retry_after(void **state)
{
	struct fetch *f;
	struct outcome o;
	char *u = url("/busy"), *log, *p;
	double t[2] = {0};
	size_t len;
	int n = 0;

	SKIP_WITHOUT_NGINX();
	f = new_fetch(NULL);
	fetch_one(f, u, &o);
	assert_int_equal(log_wait("access.log", " /busy 429", 2), 2);
	/* 429 with Retry-After: 1 → waited, tried once more, then a
	 * transient failure that names the wait. */
	assert_int_equal(o.r, -EAGAIN);
	assert_non_null(strstr(o.msg, "429"));
	assert_true(o.ms >= 950);
	log = read_file("access.log", &len);
	for (char *line = strtok_r(log, "\n", &p); line; line = strtok_r(NULL, "\n", &p))
		if (strstr(line, " /busy 429") && n < 2)
			t[n++] = strtod(line, NULL);
	free(log);
	assert_int_equal(n, 2);
	assert_true(t[1] - t[0] >= 0.95);
	outcome_clear(&o);
	done_fetch(f);
	free(u);
}

static void test_redirects(void **state)
{
	struct fetch *f;
	struct outcome o;
	char *u = url("/redir"), *want = url("/page.html");

	SKIP_WITHOUT_NGINX();
	f = new_fetch(NULL);
	fetch_one(f, u, &o);
	assert_int_equal(o.res.status, 200);
	assert_string_equal(o.final_url, want);
	outcome_clear(&o);
	free(u);
	u = url("/loop");
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_int_equal(o.res.error_code, -ELOOP);
	assert_non_null(strstr(o.error, "too many redirects"));
	assert_int_equal(log_wait("access.log", "/loop", 6), 6);	/* 1 + 5 redirects */
	outcome_clear(&o);

	/* Every hop goes through robots.txt: a redirect into a disallowed
	 * path is not followed. */
	free(u);
	u = url("/to-private");
	fetch_one(f, u, &o);
	assert_int_equal(o.res.error_code, -EPERM);
	assert_non_null(strstr(o.error, "robots.txt"));
	assert_int_equal(log_wait("access.log", "/to-private 302", 1), 1);
	assert_int_equal(log_wait("access.log", "/private/other", 0), 0);
	outcome_clear(&o);
	done_fetch(f);
	free(u);
	free(want);
}

static void test_body_cap(void **state)
{
	struct fetch *f;
	struct outcome o;
	char *u = url("/big.txt");

	SKIP_WITHOUT_NGINX();
	f = new_fetch(NULL);
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_int_equal(o.res.error_code, -EFBIG);
	assert_non_null(strstr(o.error, "exceeds the limit"));
	outcome_clear(&o);
	free(u);

	/* 16 MiB of zeros sent as 16 KiB of gzip: stopped at the cap. */
	u = url("/bomb");
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_int_equal(o.res.error_code, -EFBIG);
	assert_non_null(strstr(o.error, "after decompression"));
	outcome_clear(&o);
	done_fetch(f);
	free(u);

	/* A body without a length that never ends: stopped at the cap. */
	u = xasprintf("http://127.0.0.1:%d/endless", T.port_endless);
	f = new_fetch(robots_off);
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_int_equal(o.res.error_code, -EFBIG);
	assert_non_null(strstr(o.error, "exceeds the limit"));
	outcome_clear(&o);
	done_fetch(f);
	free(u);
}

static void test_low_speed(void **state)
{
	struct fetch *f;
	struct outcome o;
	char *u;

	SKIP_WITHOUT_NGINX();
	u = xasprintf("http://127.0.0.1:%d/slow", T.port_slow);
	f = new_fetch(robots_off);
	fetch_one(f, u, &o);
	assert_int_equal(o.r, -ETIMEDOUT);
	assert_non_null(strstr(o.msg, "too slow"));
	assert_true(o.ms >= 1900 && o.ms < 10000);
	outcome_clear(&o);
	done_fetch(f);
	free(u);
}

static void no_allow(struct fetch_config *c)
{
	c->allow_hosts = NULL;
	c->n_allow_hosts = 0;
}

static void test_ssrf_default(void **state)
{
	struct fetch *f;
	struct outcome o;
	char *u = url("/page.html?ssrf");
	int before;

	SKIP_WITHOUT_NGINX();
	usleep(100 * 1000);	/* earlier tests' lines are all written */
	before = log_count("access.log", NULL);
	f = new_fetch(no_allow);
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_int_equal(o.res.error_code, -EACCES);
	assert_non_null(strstr(o.error, "127.0.0.1"));
	assert_non_null(strstr(o.error, "loopback"));
	/* Refused before connecting: nginx saw nothing, not even robots.txt. */
	usleep(100 * 1000);
	assert_int_equal(log_count("access.log", NULL), before);
	outcome_clear(&o);
	done_fetch(f);
	free(u);
}

static void allow_both(struct fetch_config *c)
{
	static const char *const both[] = { "127.0.0.1/32", "::1/128" };

	c->allow_hosts = both;
	c->n_allow_hosts = 2;
	c->robots = false;
}

static void test_ssrf_redirect(void **state)
{
	struct fetch *f;
	struct outcome o;
	char *u = url("/to-v6");

	SKIP_WITHOUT_NGINX();
	if (!T.have_v6)
		test_skip_optional("no IPv6 loopback here");
	/* 127.0.0.1 is allowed, ::1 is not: the redirect is refused before
	 * curl connects to ::1. */
	f = new_fetch(robots_off);
	fetch_one(f, u, &o);
	assert_int_equal(o.r, 0);
	assert_int_equal(o.res.error_code, -EACCES);
	assert_non_null(strstr(o.error, "::1"));
	assert_int_equal(log_wait("access.log", "/to-v6 302", 1), 1);
	assert_int_equal(log_wait("v6.log", NULL, 0), 0);
	outcome_clear(&o);
	done_fetch(f);

	/* The ::1 listener is real: allowed, the same redirect reaches it. */
	f = new_fetch(allow_both);
	fetch_one(f, u, &o);
	assert_int_equal(o.res.status, 200);
	assert_int_equal(log_wait("v6.log", "/page.html 200", 1), 1);
	outcome_clear(&o);
	done_fetch(f);
	free(u);
}

/* ---- the HTTP layer itself ---- */

struct hout {
	bool done;
	int error;
	long status;
};

static void on_http(struct http_request *req, struct http_response *resp, void *ud)
{
	struct hout *h = ud;

	h->done = true;
	h->error = resp->error;
	h->status = resp->status;
}

static void test_http_cancel(void **state)
{
	char *slow, *page = url("/page.html");
	struct hout a = {0}, b = {0}, c = {0};
	struct http_request *ra, *rb;
	struct http_stats st;

	SKIP_WITHOUT_NGINX();
	slow = xasprintf("http://127.0.0.1:%d/slow", T.port_slow);
	struct http_options o = { .url = slow };
	assert_int_equal(http_request_start(T.http, &o, on_http, &a, &ra), 0);
	assert_int_equal(http_request_start(T.http, &o, on_http, &b, &rb), 0);
	/* Let both connect and start receiving, then cancel them. */
	for (int i = 0; i < 20; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT), usleep(10 * 1000);
	http_request_cancel(ra);
	http_request_cancel(rb);
	o.url = page;
	assert_int_equal(http_request_start(T.http, &o, on_http, &c, NULL), 0);
	run_until(&c.done, 10);
	assert_int_equal(c.error, 0);
	assert_int_equal(c.status, 200);
	assert_false(a.done);
	assert_false(b.done);
	http_get_stats(T.http, &st);
	assert_int_equal(st.running, 0);

	/* Refused before curl: scheme, credentials. */
	o.url = "ftp://127.0.0.1/";
	assert_int_equal(http_request_start(T.http, &o, on_http, &c, NULL), -EPROTONOSUPPORT);
	o.url = "http://u:p@127.0.0.1/";
	assert_int_equal(http_request_start(T.http, &o, on_http, &c, NULL), -EACCES);
	free(slow);
	free(page);
}

static void breaker_two(struct fetch_config *c)
{
	c->robots = false;
	c->breaker_threshold = 2;
	c->breaker_cooldown_ms = 60000;
}

static void test_breaker(void **state)
{
	struct fetch *f;
	struct outcome o;
	struct fetch_stats st;
	int dead = free_port(AF_INET);
	char *u;

	SKIP_WITHOUT_NGINX();
	/* Nothing listens there: two refused connections open the breaker,
	 * and the third fetch fails without trying. */
	f = new_fetch(breaker_two);
	for (int i = 0; i < 3; i++) {
		u = xasprintf("http://127.0.0.1:%d/p%d", dead, i);
		fetch_one(f, u, &o);
		assert_int_equal(o.r, i < 2 ? -ECONNREFUSED : -EHOSTDOWN);
		if (i == 2)
			assert_non_null(strstr(o.msg, "2 times in a row"));
		outcome_clear(&o);
		free(u);
	}
	fetch_get_stats(f, &st);
	assert_int_equal(st.network, 2);
	assert_int_equal(st.breaker_open, 1);
	done_fetch(f);
}

static void delay_300(struct fetch_config *c)
{
	c->host_delay_ms = 300;
	c->host_max_active = 4;
}

static void test_host_delay(void **state)
{
	struct fetch *f;
	struct outcome o[3];
	double t[3] = {0};
	char *log, *p;
	size_t len;
	int n = 0;

	SKIP_WITHOUT_NGINX();
	f = new_fetch(delay_300);
	for (int i = 0; i < 3; i++) {
		char *u = xasprintf("http://127.0.0.1:%d/page.html?delay=%d", T.port, i);

		memset(&o[i], 0, sizeof(o[i]));
		assert_int_equal(fetch_start(f, u, on_fetch, &o[i], NULL), 0);
		free(u);
	}
	for (int i = 0; i < 3; i++) {
		run_until(&o[i].done, 10);
		assert_int_equal(o[i].res.status, 200);
		outcome_clear(&o[i]);
	}
	/* Started at least 300 ms apart, one host. */
	assert_int_equal(log_wait("access.log", "/page.html?delay=", 3), 3);
	log = read_file("access.log", &len);
	for (char *line = strtok_r(log, "\n", &p); line; line = strtok_r(NULL, "\n", &p))
		if (strstr(line, "/page.html?delay=") && n < 3)
			t[n++] = strtod(line, NULL);
	free(log);
	assert_int_equal(n, 3);
	assert_true(t[1] - t[0] >= 0.28);
	assert_true(t[2] - t[1] >= 0.28);
	done_fetch(f);
}

struct sout {
	bool done;
	size_t streamed;
	struct http_response copy;
	size_t body_len;
};

static int on_stream(struct http_request *req, const char *data, size_t len, void *ud)
{
	struct sout *s = ud;

	s->streamed += len;
	return 0;
}

static void on_stream_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct sout *s = ud;

	s->done = true;
	s->copy = *resp;
	s->body_len = resp->body.len;
}

static void test_http_stream(void **state)
{
	char *page = url("/page.html");
	const char *const hdrs[] = { "X-Test: 1", NULL };
	struct sout s = {0};
	size_t len;
	char *file = read_file("www/page.html", &len);

	SKIP_WITHOUT_NGINX();
	struct http_options o = { .url = page, .headers = hdrs, .on_data = on_stream,
	    .data_ud = &s };
	assert_int_equal(http_request_start(T.http, &o, on_stream_done, &s, NULL), 0);
	run_until(&s.done, 10);
	assert_int_equal(s.copy.error, 0);
	assert_int_equal(s.copy.status, 200);
	assert_int_equal(s.streamed, len);
	assert_int_equal(s.body_len, 0);
	assert_int_equal(s.copy.bytes, (int64_t)len);
	assert_int_equal(s.copy.content_length, (int64_t)len);

	/* A POST with a body: nginx refuses it for a static file. */
	memset(&s, 0, sizeof(s));
	struct http_options p = { .url = page, .body = "a=1", .body_len = 3 };
	assert_int_equal(http_request_start(T.http, &p, on_stream_done, &s, NULL), 0);
	run_until(&s.done, 10);
	assert_int_equal(s.copy.error, 0);
	assert_int_equal(s.copy.status, 405);
	assert_int_equal(log_wait("access.log", "/page.html 405", 1), 1);
	free(page);
	free(file);
}

static void test_cancel_and_queue(void **state)
{
	struct fetch *f;
	struct fetch_req *req = NULL;
	struct outcome o = {0};
	struct http *h2 = NULL;
	struct http_limits lim = { .max_transfers = 1, .max_queued = 1 };
	struct http_request *r1, *r2, *r3 = NULL;
	struct hout a = {0}, b = {0}, c = {0};
	struct http_stats st;
	char *slow;

	SKIP_WITHOUT_NGINX();
	slow = xasprintf("http://127.0.0.1:%d/cancel", T.port_slow);
	/* A fetch cancelled while its transfer runs: no callback, the
	 * transfer is gone. */
	f = new_fetch(robots_off);
	assert_int_equal(fetch_start(f, slow, on_fetch, &o, &req), 0);
	for (int i = 0; i < 20; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT), usleep(10 * 1000);
	http_get_stats(T.http, &st);
	assert_int_equal(st.running, 1);
	fetch_cancel(req);
	http_get_stats(T.http, &st);
	assert_int_equal(st.running, 0);
	uv_timer_t t;
	uv_timer_init(&T.loop, &t);
	uv_timer_start(&t, tick, 300, 0);
	uv_run(&T.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	assert_false(o.done);
	done_fetch(f);

	/* The queue in front of curl is capped. */
	assert_int_equal(http_new(&T.loop, &lim, &h2), 0);
	struct http_options ho = { .url = slow };
	assert_int_equal(http_request_start(h2, &ho, on_http, &a, &r1), 0);
	assert_int_equal(http_request_start(h2, &ho, on_http, &b, &r2), 0);
	assert_int_equal(http_request_start(h2, &ho, on_http, &c, &r3), -EAGAIN);
	http_get_stats(h2, &st);
	assert_int_equal(st.running, 1);
	assert_int_equal(st.queued, 1);
	http_request_cancel(r2);
	http_request_cancel(r1);
	http_get_stats(h2, &st);
	assert_int_equal(st.running + st.queued, 0);
	assert_int_equal(st.cancelled, 2);
	h2 = http_free(h2);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	assert_false(a.done || b.done || c.done);
	free(slow);
}

static void test_config_from(void **state)
{
	struct config *cfg = config_new();
	struct fetch_config c;
	struct fetch *f = NULL;

	fetch_config_from(&c, cfg);
	assert_true(c.robots);
	assert_int_equal(c.max_body, cfg->fetch_max_body);
	assert_int_equal(c.timeout_ms, cfg->fetch_timeout * 1000);
	assert_int_equal(c.n_allow_hosts, 0);
	assert_non_null(c.user_agent);
	assert_int_equal(fetch_new(&T.loop, T.http, T.store, &c, &f), 0);
	done_fetch(f);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_and_cache),
		cmocka_unit_test(test_effect),
		cmocka_unit_test(test_revalidate),
		cmocka_unit_test(test_robots),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_low_speed),
		cmocka_unit_test(test_ssrf_default),
		cmocka_unit_test(test_ssrf_redirect),
		cmocka_unit_test(test_http_cancel),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_host_delay),
		cmocka_unit_test(test_http_stream),
		cmocka_unit_test(test_cancel_and_queue),
		cmocka_unit_test(test_config_from),
	};

	signal(SIGPIPE, SIG_IGN);
	return test_run_group("fetch-live", tests, group_setup, group_teardown);
}
