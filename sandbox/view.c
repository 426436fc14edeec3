/* The sandbox's mount view, built by init in its own mount namespace: a
 * tmpfs root with read-only binds of /usr (less most of /usr/local) and a
 * few pieces of /etc, generated /etc files, a minimal /dev with a private
 * /dev/shm, its own /proc with the host-wide files masked, tmpfs /work and
 * /tmp; then pivot_root and the old root detached. sandbox-proto.h lists
 * what the command sees. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <unistd.h>

#include "jail-init.h"

#define NEWROOT "/tmp"		/* where init builds the new root, in its own mount ns */

static unsigned long mount_flags_of(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	/* Flags locked by the host's mount must be kept on a remount in a user
	 * namespace, or the kernel refuses it. */
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

/* Bind src at NEWROOT/dst, read-only unless rw, with extra flags. A source
 * that is missing is skipped when optional. */
static void bind_into(struct init_ctx *c, const char *src, const char *dst, bool rw,
    unsigned long extra, bool optional)
{
	char target[PATH_MAX];
	struct stat st;

	if (stat(src, &st) < 0) {
		if (optional && errno == ENOENT)
			return;
		init_fail(c, errno, "sandbox view: %s", src);
	}
	snprintf(target, sizeof(target), "%s%s", NEWROOT, dst);
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(target, 0755) < 0 && errno != EEXIST)
			init_fail(c, errno, "sandbox view: mkdir %s", dst);
	} else {
		int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			init_fail(c, errno, "sandbox view: create %s", dst);
		close(fd);
	}
	/* Not MS_REC: mounts under the source stay out of the view. */
	if (mount(src, target, NULL, MS_BIND, NULL) < 0)
		init_fail(c, errno, "sandbox view: bind %s", src);
	unsigned long f = MS_REMOUNT | MS_BIND | MS_NOSUID | extra | mount_flags_of(target);
	if (!rw)
		f |= MS_RDONLY;
	if (mount(NULL, target, NULL, f, NULL) < 0)
		init_fail(c, errno, "sandbox view: remount %s", dst);
}

/* /bin, /lib... are symlinks into /usr on merged-/usr systems: copy the link. */
static void link_or_bind(struct init_ctx *c, const char *path)
{
	char target[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			init_fail(c, errno, "sandbox view: readlink %s", path);
		target[n] = '\0';
		snprintf(dst, sizeof(dst), "%s%s", NEWROOT, path);
		if (symlink(target, dst) < 0)
			init_fail(c, errno, "sandbox view: symlink %s", path);
	} else if (S_ISDIR(st.st_mode)) {
		bind_into(c, path, path, false, MS_NODEV, false);
	}
}

static void put_file(struct init_ctx *c, const char *path, const char *text)
{
	char dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s%s", NEWROOT, path);
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || jail_write_all(fd, text, strlen(text)) < 0)
		init_fail(c, errno, "sandbox view: write %s", path);
	close(fd);
}

static void mkdir_in(struct init_ctx *c, const char *path, mode_t mode)
{
	char dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s%s", NEWROOT, path);
	if (mkdir(dst, mode) < 0 && errno != EEXIST)
		init_fail(c, errno, "sandbox view: mkdir %s", path);
}

static void mount_tmpfs(struct init_ctx *c, const char *path, int64_t size, mode_t mode)
{
	char opts[128];
	snprintf(opts, sizeof(opts), "size=%lld,nr_inodes=%d,mode=%o", (long long)size,
	    16384, (unsigned)mode);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		init_fail(c, errno, "sandbox view: tmpfs on %s", path);
}

/* What stays of /usr/local: programs and libraries installed there (a
 * Python built from source, pip's dist-packages) and fonts for plots. Out:
 * etc (an operator's npmrc, pip.conf), share (private CA certificates),
 * include, src, and whatever vendor trees an operator keeps there. */
static const char *const usr_local_kept[] = {
	"/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/usr/local/lib32",
	"/usr/local/lib64", "/usr/local/libexec", "/usr/local/share/fonts",
};

static void view_usr_local(struct init_ctx *c)
{
	struct stat st;

	if (lstat("/usr/local", &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	mount_tmpfs(c, NEWROOT "/usr/local", 1 << 20, 0755);
	for (size_t i = 0; i < sizeof(usr_local_kept) / sizeof(*usr_local_kept); i++) {
		if (lstat(usr_local_kept[i], &st) < 0)
			continue;
		if (strncmp(usr_local_kept[i], "/usr/local/share/", 17) == 0)
			mkdir_in(c, "/usr/local/share", 0755);
		if (S_ISLNK(st.st_mode))
			link_or_bind(c, usr_local_kept[i]);
		else if (S_ISDIR(st.st_mode))
			bind_into(c, usr_local_kept[i], usr_local_kept[i], false, MS_NODEV, true);
	}
	if (mount(NULL, NEWROOT "/usr/local", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
	    "size=1048576") < 0)
		init_fail(c, errno, "sandbox view: read-only /usr/local");
}

/* Kernel-wide /proc files that tell the host's boot line, disks, devices,
 * modules and memory layout; the interpreters read none of them. Kept:
 * the sandbox's own pids, stat (libc counts CPUs there), cpuinfo (BLAS
 * picks its kernels), meminfo, loadavg, uptime, filesystems, sys. */
static const char *const proc_masked[] = {
	"cmdline", "partitions", "diskstats", "swaps", "devices", "modules", "kallsyms",
	"keys", "key-users", "timer_list", "sched_debug", "schedstat", "iomem", "ioports",
	"vmallocinfo", "slabinfo", "pagetypeinfo", "zoneinfo", "buddyinfo", "locks", "mtrr",
	"kcore", "kpagecount", "kpageflags", "kpagecgroup", "sysrq-trigger", "config.gz",
	"consoles", "misc", "mdstat", "interrupts", "softirqs", "latency_stats", "dma",
	"execdomains", "fb", "cgroups", "acpi", "scsi", "bus", "driver", "fs", "irq", "tty",
	"dynamic_debug", "asound", "sysvipc",
};

static void view_mask_proc(struct init_ctx *c)
{
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(proc_masked) / sizeof(*proc_masked); i++) {
		snprintf(path, sizeof(path), NEWROOT "/proc/%s", proc_masked[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			    "size=4096,nr_inodes=1,mode=555") < 0)
				init_fail(c, errno, "sandbox view: mask /proc/%s", proc_masked[i]);
			continue;
		}
		if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC |
		    mount_flags_of(path), NULL) < 0)
			init_fail(c, errno, "sandbox view: mask /proc/%s", proc_masked[i]);
	}
}

/* Python's multiprocessing keeps its semaphores in /dev/shm. */
#define SHM_MAX (64LL << 20)

static const char *const etc_pieces[] = {
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
	"/etc/alternatives", "/etc/fonts",
};

void view_build(struct init_ctx *c)
{
	const struct jail_spec *s = c->spec;
	char path[PATH_MAX];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		init_fail(c, errno, "sandbox view: make / private");
	mount_tmpfs(c, NEWROOT, 4 << 20, 0755);

	bind_into(c, "/usr", "/usr", false, MS_NODEV, false);
	view_usr_local(c);
	link_or_bind(c, "/bin");
	link_or_bind(c, "/sbin");
	link_or_bind(c, "/lib");
	link_or_bind(c, "/lib32");
	link_or_bind(c, "/lib64");
	link_or_bind(c, "/libx32");

	mkdir_in(c, "/etc", 0755);
	for (size_t i = 0; i < sizeof(etc_pieces) / sizeof(*etc_pieces); i++) {
		struct stat st;
		if (lstat(etc_pieces[i], &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode))
			link_or_bind(c, etc_pieces[i]);
		else
			bind_into(c, etc_pieces[i], etc_pieces[i], false, MS_NODEV, true);
	}
	/* Debian's Python reads its sitecustomize from /etc/python3.X. */
	DIR *etc = opendir("/etc");
	struct dirent *de;
	while (etc && (de = readdir(etc))) {
		char src[PATH_MAX];
		if (strncmp(de->d_name, "python3", 7) != 0 || strchr(de->d_name, '/'))
			continue;
		snprintf(src, sizeof(src), "/etc/%s", de->d_name);
		bind_into(c, src, src, false, MS_NODEV, true);
	}
	if (etc)
		closedir(etc);
	put_file(c, "/etc/passwd", "sandbox:x:1000:1000:sandbox:/work:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	put_file(c, "/etc/group", "sandbox:x:1000:\nnogroup:x:65534:\n");
	put_file(c, "/etc/hostname", "sandbox\n");
	put_file(c, "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");

	mkdir_in(c, "/dev", 0755);
	static const char *const devs[] = { "/dev/null", "/dev/zero", "/dev/full",
		"/dev/random", "/dev/urandom" };
	for (size_t i = 0; i < sizeof(devs) / sizeof(*devs); i++)
		bind_into(c, devs[i], devs[i], true, MS_NOEXEC, false);
	static const char *const links[][2] = { { "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" }, { "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" } };
	for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++) {
		snprintf(path, sizeof(path), "%s%s", NEWROOT, links[i][1]);
		if (symlink(links[i][0], path) < 0)
			init_fail(c, errno, "sandbox view: symlink %s", links[i][1]);
	}

	mkdir_in(c, "/proc", 0555);
	if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		init_fail(c, errno, "sandbox view: mount /proc");
	view_mask_proc(c);
	mkdir_in(c, "/dev/shm", 01777);
	mount_tmpfs(c, NEWROOT "/dev/shm", s->lim.disk < SHM_MAX ? s->lim.disk : SHM_MAX, 01777);

	mkdir_in(c, SANDBOX_WORKDIR, 0755);
	mount_tmpfs(c, NEWROOT SANDBOX_WORKDIR, s->lim.disk, 0755);
	mkdir_in(c, "/tmp", 01777);
	mount_tmpfs(c, NEWROOT "/tmp", s->lim.disk, 01777);

	if (chdir(NEWROOT) < 0)
		init_fail(c, errno, "sandbox view: chdir");
	/* Stack the old root under the new one, then detach it: nothing of the
	 * host stays reachable. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		init_fail(c, errno, "sandbox view: pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		init_fail(c, errno, "sandbox view: detach the old root");
	if (chdir("/") < 0)
		init_fail(c, errno, "sandbox view: chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		init_fail(c, errno, "sandbox view: read-only root");
}

void view_place_inputs(struct init_ctx *c)
{
	const struct jail_spec *s = c->spec;
	char path[PATH_MAX];

	if (chdir(SANDBOX_WORKDIR) < 0)
		init_fail(c, errno, "work dir");
	for (size_t i = 0; i < s->n_files; i++) {
		const struct jail_file *f = &s->files[i];
		/* Parents first: "a/b/c" makes "a" and "a/b". */
		snprintf(path, sizeof(path), "%s", f->path);
		for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				init_fail_request(c, errno, "input %s", f->path);
			*p = '/';
		}
		int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    f->exec ? 0755 : 0644);
		if (fd < 0)
			init_fail_request(c, errno, "input %s", f->path);
		if (jail_write_all(fd, f->data, f->len) < 0)
			init_fail_request(c, errno, "input %s (disk limit %lld bytes)", f->path,
			    (long long)s->lim.disk);
		close(fd);
	}
	if (mkdir("out", 0755) < 0 && errno != EEXIST)
		init_fail(c, errno, "out dir");
}
