/* researchd-sandbox: the helper the daemon spawns to run one untrusted
 * command (model-written Python, pdftotext on a downloaded PDF) in a
 * sandbox. Parses the JSON request from stdin, strictly, runs it through
 * jail.c, and writes the JSON result; sandbox-proto.h documents both.
 * "--run -- CMD ARGS..." is the operator's mode: it prints the limits in
 * force and the outcome in words; "--check" copies the helper into a
 * sandbox and tries the ways out from there (selfcheck.c); "--print-filter"
 * lists the seccomp allowlist (filter.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "filter.h"
#include "jail.h"
#include "request.h"
#include "selfcheck.h"
#include "json.h"
#include "str.h"
#include "xmalloc.h"

static json_t *b64_json(const void *p, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = xmalloc(len);
	sodium_bin2base64(s, len, p, n, sodium_base64_VARIANT_ORIGINAL);
	json_t *j = json_stringn(s, len - 1);
	free(s);
	if (!j)
		abort();
	return j;
}

static json_t *result_json(const struct jail_outcome *o)
{
	static const char *const status[] = { "exited", "signaled", "killed" };
	json_t *files = json_array();

	for (size_t i = 0; i < o->n_files; i++)
		json_array_append_new(files, json_pack("{s:s, s:o}", "path", o->files[i].path,
		    "data", b64_json(o->files[i].data, o->files[i].len)));
	return json_pack("{s:i, s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:o, s:b, s:o, s:b, s:o, s:b}",
	    "version", SANDBOX_PROTO_VERSION,
	    "status", status[o->status],
	    "exit_code", o->status == JAIL_EXITED ? json_integer(o->exit_code) : json_null(),
	    "signal", o->status != JAIL_EXITED ? json_integer(o->signal) : json_null(),
	    "limit", o->limit ? json_string(o->limit) : json_null(),
	    "wall_ms", (json_int_t)o->wall_ms,
	    "cpu_ms", (json_int_t)o->cpu_ms,
	    "max_rss_kb", (json_int_t)o->max_rss_kb,
	    "stdout", b64_json(o->out.data ? o->out.data : "", o->out.len),
	    "stdout_truncated", o->out_truncated,
	    "stderr", b64_json(o->err.data ? o->err.data : "", o->err.len),
	    "stderr_truncated", o->err_truncated,
	    "files", files,
	    "files_truncated", o->files_truncated);
}

static int emit(json_t *j)
{
	int r = json_dumpf(j, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF ? 1 : 0;
	json_decref(j);
	return r;
}

static int emit_error(const char *kind, const char *msg, int code)
{
	fprintf(stderr, "researchd-sandbox: %s\n", msg);
	json_t *j = json_pack("{s:i, s:s, s:s}", "version", SANDBOX_PROTO_VERSION, "error", msg,
	    "error_kind", kind);
	emit(j);
	return code;
}

static const char *error_kind_name(enum jail_error k)
{
	return k == JAIL_ERR_UNAVAILABLE ? "unavailable" : k == JAIL_ERR_REQUEST ? "request" :
	    "internal";
}

static int mode_request(void)
{
	struct buf in;
	char chunk[65536], err[1024];
	struct jail_spec spec;
	struct jail_outcome o;
	enum jail_error kind;
	ssize_t n;
	int r;

	buf_init(&in, SANDBOX_MAX_REQUEST);
	while ((n = read(0, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			buf_free(&in);
			return emit_error("internal", "reading the request failed", 1);
		}
		if (buf_append(&in, chunk, (size_t)n) < 0) {
			buf_free(&in);
			snprintf(err, sizeof(err), "request is over %lld bytes", SANDBOX_MAX_REQUEST);
			return emit_error("request", err, 2);
		}
	}
	r = request_parse(in.data ? in.data : "", in.len, &spec, err, sizeof(err));
	buf_free(&in);
	if (r < 0)
		return emit_error("request", err, 2);
	r = jail_run(&spec, &o, err, sizeof(err), &kind);
	request_free(&spec);
	if (r < 0)
		return emit_error(error_kind_name(kind), err, kind);
	json_t *j = result_json(&o);
	jail_outcome_free(&o);
	return emit(j);
}

static void print_size(FILE *f, const char *what, int64_t n)
{
	if (n >= (1LL << 20) && n % (1LL << 20) == 0)
		fprintf(f, "  %-12s %lld MiB\n", what, (long long)(n >> 20));
	else if (n >= 1024 && n % 1024 == 0)
		fprintf(f, "  %-12s %lld KiB\n", what, (long long)(n >> 10));
	else
		fprintf(f, "  %-12s %lld bytes\n", what, (long long)n);
}

static void print_captured(const char *what, const struct buf *b, bool truncated)
{
	struct buf esc;
	if (b->len == 0)
		return;
	buf_init(&esc, 4 * b->len + 16);
	/* Escape control bytes but keep the lines. */
	const char *p = b->data, *end = b->data + b->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		str_escape(&esc, p, len);
		if (nl)
			buf_putc(&esc, '\n');
		p += len + (nl ? 1 : 0);
	}
	printf("--- %s%s ---\n%s%s", what, truncated ? " (truncated at the cap)" : "",
	    esc.data ? esc.data : "", esc.len && esc.data[esc.len - 1] != '\n' ? "\n" : "");
	buf_free(&esc);
}

static void print_setup(const struct jail_limits *lim)
{
	printf("researchd-sandbox: running as uid %u; inside: uid %d gid %d, mapped to outside uid %u\n",
	    (unsigned)geteuid(), SANDBOX_UID, SANDBOX_GID, geteuid() == 0 ? 65534u : (unsigned)geteuid());
	printf("isolation: new user, pid, mount, net (lo down), ipc, uts and cgroup namespaces;\n"
	    "  read-only /usr (of /usr/local only bin, sbin, lib*, libexec, share/fonts) and\n"
	    "  loader/zoneinfo pieces of /etc; kernel-wide /proc files masked; tmpfs /work (cwd),\n"
	    "  /tmp and /dev/shm; no_new_privs; no capabilities (bounding and ambient sets\n"
	    "  empty); seccomp allowlist, everything else EPERM (--print-filter lists it)\n");
	printf("limits:\n  %-12s %lld s\n  %-12s %lld ms\n", "cpu", (long long)lim->cpu_s, "wall",
	    (long long)lim->wall_ms);
	print_size(stdout, "memory (AS)", lim->memory);
	printf("  %-12s %lld\n", "processes", (long long)lim->nproc);
	print_size(stdout, "file size", lim->fsize);
	printf("  %-12s %lld\n", "open files", (long long)lim->nofile);
	print_size(stdout, "stdout", lim->stdout_max);
	print_size(stdout, "stderr", lim->stderr_max);
	print_size(stdout, "out/ files", lim->files_max);
	print_size(stdout, "disk (tmpfs)", lim->disk);
}

/* Where the memory limit counts everything, and where only the address
 * space (then memfds and SysV shared memory are denied). */
static void print_memory_mode(const struct jail_outcome *o)
{
	printf("memory accounting: %s\n", o->cgroup ?
	    "cgroup v2 (memory.max counts tmpfs, memfds, shared memory; no swap; pids.max)" :
	    "address space only (no delegated cgroup v2): memfd_create and SysV shm denied");
}

static int mode_run(int argc, char **argv, const struct jail_limits *lim)
{
	struct jail_spec spec;
	struct jail_outcome o;
	enum jail_error kind;
	char err[1024];
	int r;

	memset(&spec, 0, sizeof(spec));
	spec.lim = *lim;
	spec.argv = argv;
	static char *defenv[] = { "PATH=/usr/local/bin:/usr/bin:/bin", ("HOME=" SANDBOX_WORKDIR),
		"LANG=C.UTF-8", "TMPDIR=/tmp", "USER=sandbox", NULL };
	spec.env = defenv;
	(void)argc;

	print_setup(lim);
	fflush(stdout);

	r = jail_run(&spec, &o, err, sizeof(err), &kind);
	if (r < 0) {
		fprintf(stderr, "researchd-sandbox: %s: %s\n",
		    kind == JAIL_ERR_UNAVAILABLE ? "sandbox unavailable, nothing was run" :
		    "cannot run", err);
		return 125;
	}
	print_memory_mode(&o);
	print_captured("stdout", &o.out, o.out_truncated);
	print_captured("stderr", &o.err, o.err_truncated);
	for (size_t i = 0; i < o.n_files; i++)
		printf("--- file %s: %zu bytes ---\n", o.files[i].path, o.files[i].len);
	if (o.status == JAIL_EXITED)
		printf("outcome: exited with status %d", o.exit_code);
	else if (o.status == JAIL_SIGNALED)
		printf("outcome: killed by signal %d (%s)", o.signal, strsignal(o.signal));
	else
		printf("outcome: killed by the sandbox");
	printf("; limit hit: %s; wall %lld ms, cpu %lld ms, max rss %lld KiB\n",
	    o.limit ? o.limit : "none", (long long)o.wall_ms, (long long)o.cpu_ms,
	    (long long)o.max_rss_kb);
	r = o.status == JAIL_EXITED ? o.exit_code : 128 + o.signal;
	jail_outcome_free(&o);
	return r;
}

/* Copy ourselves into a sandbox and run the probe there (selfcheck.c). */
static int mode_check(const struct jail_limits *lim)
{
	struct jail_spec spec;
	struct jail_outcome o;
	enum jail_error kind;
	struct buf self;
	char err[1024], chunk[65536], mem[32];
	ssize_t n;
	int fd, r;

	buf_init(&self, SANDBOX_MAX_INPUT);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "researchd-sandbox: /proc/self/exe: %s\n", strerror(errno));
		return 125;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&self, chunk, (size_t)n) < 0)
			break;
	close(fd);

	memset(&spec, 0, sizeof(spec));
	spec.lim = *lim;
	if (spec.lim.nproc > 32)
		spec.lim.nproc = 32;
#if defined(__SANITIZE_ADDRESS__)
	spec.no_as_limit = true;
	snprintf(mem, sizeof(mem), "0");
#else
	snprintf(mem, sizeof(mem), "%lld", (long long)spec.lim.memory);
#endif
	char limit[32];
	snprintf(limit, sizeof(limit), "%lld", (long long)spec.lim.memory);
	char *argv[] = { "./researchd-sandbox", "--probe", mem, limit, NULL };
	/* LeakSanitizer stops the world with ptrace, which the sandbox denies. */
	static char *env[] = { "PATH=/usr/bin:/bin", ("HOME=" SANDBOX_WORKDIR), "LANG=C.UTF-8",
		"ASAN_OPTIONS=detect_leaks=0", NULL };
	struct jail_file f = { .path = "researchd-sandbox", .data = (unsigned char *)self.data,
		.len = self.len, .exec = true };
	spec.argv = argv;
	spec.env = env;
	spec.files = &f;
	spec.n_files = 1;
	print_setup(&spec.lim);
	fflush(stdout);
	r = jail_run(&spec, &o, err, sizeof(err), &kind);
	buf_free(&self);
	if (r < 0) {
		fprintf(stderr, "researchd-sandbox: %s: %s\n",
		    kind == JAIL_ERR_UNAVAILABLE ? "sandbox unavailable, nothing was run" :
		    "cannot run", err);
		return 125;
	}
	print_memory_mode(&o);
	printf("attempts from inside:\n");
	print_captured("probe", &o.out, o.out_truncated);
	print_captured("probe stderr", &o.err, o.err_truncated);
	r = o.status == JAIL_EXITED && o.exit_code == 0 && o.out.len > 0 &&
	    strstr(o.out.data, "RESULT: all blocked") ? 0 : 1;
	/* The last attempt ends the run where a cgroup counts memory. */
	if (r && o.limit && strcmp(o.limit, "memory") == 0 && o.out.len > 0 &&
	    strstr(o.out.data, SELFCHECK_TRYING_MEMFD) && !strstr(o.out.data, "NOT BLOCKED")) {
		printf("blocked: holding twice memory.max in a memfd (the cgroup killed the run; "
		    "limit hit: memory)\n");
		r = 0;
	}
	printf("%s\n", r == 0 ? "check passed: every attempt was blocked" :
	    "CHECK FAILED: see the lines above");
	jail_outcome_free(&o);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: researchd-sandbox               (JSON request on stdin, result on stdout)\n"
	    "       researchd-sandbox --run [--limit NAME=N]... -- CMD [ARGS...]\n"
	    "       researchd-sandbox --check [--limit NAME=N]...   (try to get out; exit 0 if all blocked)\n"
	    "       researchd-sandbox --print-filter   (the seccomp allowlist, group by group)\n"
	    "limits:");
	for (size_t i = 0; i < request_n_limits; i++)
		fprintf(f, " %s", request_limits[i].name);
	fprintf(f, "\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run", no_argument, NULL, 'r' },
		{ "check", no_argument, NULL, 'c' },
		{ "probe", required_argument, NULL, 'p' },
		{ "print-filter", no_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct jail_limits lim;
	bool run = false, check = false;
	int c;

	/* If the daemon dies, so do we, and init after us, and the namespace. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	/* Whatever the daemon leaked to us (its database, its control socket)
	 * must not reach the sandbox. */
	if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
	if (sodium_init() < 0)
		return emit_error("internal", "libsodium failed to initialise", 1);
	request_limits_default(&lim);
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			run = true;
			break;
		case 'c':
			check = true;
			break;
		case 'p': {
			int64_t mem, cg = 0;
			if (str_to_int64(optarg, 0, INT64_MAX, &mem) < 0 ||
			    (optind < argc && str_to_int64(argv[optind], 0, INT64_MAX, &cg) < 0))
				return 2;
			return selfcheck_probe(mem, cg);
		}
		case 'l': {
			char *eq = strchr(optarg, '=');
			const struct limit_def *d = NULL;
			int64_t n;
			if (eq) {
				*eq = '\0';
				for (size_t i = 0; i < request_n_limits; i++)
					if (strcmp(optarg, request_limits[i].name) == 0)
						d = &request_limits[i];
			}
			if (!d || str_to_int64(eq + 1, d->min, d->max, &n) < 0) {
				fprintf(stderr, "researchd-sandbox: bad --limit (NAME=N within range)\n");
				usage(stderr);
				return 2;
			}
			*request_limit_field(&lim, d) = n;
			break;
		}
		case 'f':
			filter_print(stdout);
			return fflush(stdout) == EOF ? 1 : 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (check)
		return optind == argc ? mode_check(&lim) : (usage(stderr), 2);
	if (run) {
		if (optind >= argc) {
			usage(stderr);
			return 2;
		}
		return mode_run(argc - optind, argv + optind, &lim);
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return mode_request();
}
