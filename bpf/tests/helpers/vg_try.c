// Tries one operation and prints its outcome ("ok" or the errno name, e.g. "EPERM"), for the enforcement tests.
// With --cgroup DIR it first moves itself into that cgroup v2 directory, so a test can place exactly this
// process under a rule. Exec modes replace the process on success (the test sees the new image's exit status).
//   vg_try [--cgroup DIR] connect ADDR PORT     TCP connect (AF_INET or AF_INET6 by the address)
//   vg_try [--cgroup DIR] sendto ADDR PORT      one unconnected UDP datagram
//   vg_try [--cgroup DIR] tconnect ADDR PORT    TCP connect from a second thread
//   vg_try [--cgroup DIR] bind ADDR PORT        bind a TCP socket
//   vg_try [--cgroup DIR] socket inet|inet6 stream|dgram|raw [PROTO]   socket(2)
//   vg_try [--cgroup DIR] open PATH             open O_RDONLY and read one byte
//   vg_try [--cgroup DIR] openat2 PATH          the same through openat2(2)
//   vg_try [--cgroup DIR] creat PATH            creat(2) (raw syscall), then write one byte
//   vg_try [--cgroup DIR] handle PATH [MNT]     name_to_handle_at + open_by_handle_at, then read one byte
//   vg_try [--cgroup DIR] uring_open PATH       IORING_OP_OPENAT through a raw io_uring, then read one byte
//   vg_try [--cgroup DIR] trunc PATH            open O_WRONLY|O_TRUNC, then write one byte
//   vg_try [--cgroup DIR] openrel DIR NAME      chdir(DIR), then open NAME (a relative path) and read
//   vg_try [--cgroup DIR] exec PATH             execv(PATH)
//   vg_try [--cgroup DIR] dup FD                dup2(1, FD), then dup(FD) (raw syscall)
//   vg_try [--cgroup DIR] execfd PATH           open(PATH) then execveat(fd, "", AT_EMPTY_PATH)
//   vg_try [--cgroup DIR] execdevfd PATH        open(PATH) then execv("/dev/fd/N")
//   vg_try [--cgroup DIR] memfd_exec PATH       copy PATH into a memfd, then execveat(memfd, "", AT_EMPTY_PATH)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <unistd.h>

static int fail(void)
{
	const char *name = strerrorname_np(errno);
	printf("%s\n", name ? name : "EUNKNOWN");
	return 0;
}

static int addr_of(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return AF_INET6;
	}
	fprintf(stderr, "vg_try: bad address %s\n", host);
	exit(2);
}

/* One IORING_OP_OPENAT through a raw io_uring (no liburing): returns the fd or -errno. */
static int uring_open(const char *path)
{
	struct io_uring_params p = {};
	int ring = syscall(SYS_io_uring_setup, 4, &p);

	if (ring < 0)
		return -errno;
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(__u32);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	size_t len = sq_len > cq_len ? sq_len : cq_len;
	char *sq = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	char *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq : mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);

	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		return -errno;
	unsigned tail = *(unsigned *)(sq + p.sq_off.tail);
	unsigned idx = tail & *(unsigned *)(sq + p.sq_off.ring_mask);
	memset(&sqes[idx], 0, sizeof(sqes[idx]));
	sqes[idx].opcode = IORING_OP_OPENAT;
	sqes[idx].fd = AT_FDCWD;
	sqes[idx].addr = (unsigned long)path;
	sqes[idx].open_flags = O_RDONLY;
	((unsigned *)(sq + p.sq_off.array))[idx] = idx;
	__atomic_store_n((unsigned *)(sq + p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
	if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
	struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) + (head & *(unsigned *)(cq + p.cq_off.ring_mask));
	return cqe->res;
}

struct tconnect {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
	int err;
};

static void *tconnect_main(void *arg)
{
	struct tconnect *t = arg;
	int s = socket(t->family, SOCK_STREAM, 0);

	t->err = s < 0 || connect(s, (struct sockaddr *)&t->ss, t->len) < 0 ? errno : 0;
	return NULL;
}

int main(int argc, char **argv)
{
	int i = 1;

	if (argc > 2 && strcmp(argv[1], "--cgroup") == 0) {
		char path[4096];
		char pid[32];
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", argv[2]);
		fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, pid, snprintf(pid, sizeof(pid), "%d", getpid())) < 0) {
			perror("vg_try: cannot join cgroup");
			return 2;
		}
		close(fd);
		i = 3;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: vg_try [--cgroup DIR] connect|sendto ADDR PORT | open|exec|execfd|execdevfd PATH\n");
		return 2;
	}
	const char *mode = argv[i];
	const char *arg = argv[i + 1];
	fflush(stdout);

	if (!strcmp(mode, "socket")) {
		const char *t = argc - i > 2 ? argv[i + 2] : "stream";
		int family = !strcmp(arg, "inet6") ? AF_INET6 : AF_INET;
		int type = !strcmp(t, "raw") ? SOCK_RAW : !strcmp(t, "dgram") ? SOCK_DGRAM : SOCK_STREAM;
		int proto = argc - i > 3 ? atoi(argv[i + 3]) : (type == SOCK_RAW ? IPPROTO_ICMP : 0);

		if (socket(family, type, proto) < 0)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "tconnect")) {
		struct tconnect t = {};
		pthread_t th;

		t.family = addr_of(arg, argc - i > 2 ? atoi(argv[i + 2]) : 0, &t.ss, &t.len);
		pthread_create(&th, NULL, tconnect_main, &t);
		pthread_join(th, NULL);
		errno = t.err;
		if (t.err)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "bind")) {
		struct sockaddr_storage ss;
		socklen_t len;
		int family = addr_of(arg, argc - i > 2 ? atoi(argv[i + 2]) : 0, &ss, &len);
		int s = socket(family, SOCK_STREAM, 0), one = 1;

		if (s < 0)
			return fail();
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&ss, len) < 0)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "connect") || !strcmp(mode, "sendto")) {
		struct sockaddr_storage ss;
		socklen_t len;
		int udp = !strcmp(mode, "sendto");
		int family = addr_of(arg, argc - i > 2 ? atoi(argv[i + 2]) : 0, &ss, &len);
		int s = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);

		if (s < 0)
			return fail();
		if (udp ? sendto(s, "x", 1, 0, (struct sockaddr *)&ss, len) < 0 : connect(s, (struct sockaddr *)&ss, len) < 0)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "open") || !strcmp(mode, "openat2") || !strcmp(mode, "uring_open") || !strcmp(mode, "handle") || !strcmp(mode, "openrel")) {
		char c;
		int fd;

		if (!strcmp(mode, "uring_open")) {
			fd = uring_open(arg);
			if (fd < 0) {
				errno = -fd;
				fd = -1;
			}
		} else if (!strcmp(mode, "openat2")) {
			struct open_how how = { .flags = O_RDONLY };

			fd = syscall(SYS_openat2, AT_FDCWD, arg, &how, sizeof(how));
		} else if (!strcmp(mode, "handle")) {
			struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
			int mount_id, mfd;

			fh->handle_bytes = MAX_HANDLE_SZ;
			if (name_to_handle_at(AT_FDCWD, arg, fh, &mount_id, 0) < 0)
				return fail();
			/* any fd on the file's mount (argv: MOUNTDIR, default /) */
			mfd = open(argc - i > 2 ? argv[i + 2] : "/", O_RDONLY | O_DIRECTORY);
			fd = open_by_handle_at(mfd, fh, O_RDONLY);
		} else if (!strcmp(mode, "openrel")) {
			if (chdir(arg) < 0)
				return fail();
			fd = open(argc - i > 2 ? argv[i + 2] : ".", O_RDONLY);
		} else {
			fd = open(arg, O_RDONLY);
		}

		if (fd < 0)
			return fail();
		if (read(fd, &c, 1) < 0)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "creat") || !strcmp(mode, "trunc")) {
		int fd = !strcmp(mode, "creat") ? syscall(SYS_creat, arg, 0644) : open(arg, O_WRONLY | O_TRUNC);

		if (fd < 0)
			return fail();
		if (write(fd, "x", 1) < 0)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "dup")) {
		/* the enforcer tests: dup(FD) of an fd made with dup2 (a syscall the tests do not guard) */
		int fd = dup2(1, atoi(arg));

		if (fd < 0 || syscall(SYS_dup, fd) < 0)
			return fail();
		puts("ok");
		return 0;
	}
	char *const args[] = { (char *)arg, NULL };
	if (!strcmp(mode, "exec")) {
		execv(arg, args);
		return fail();
	}
	if (!strcmp(mode, "memfd_exec")) {
		char buf[65536];
		ssize_t n;
		int in = open(arg, O_RDONLY), mfd = memfd_create("vg_try", MFD_CLOEXEC);

		if (in < 0 || mfd < 0)
			return fail();
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(mfd, buf, n) != n)
				return fail();
		close(in);
		syscall(SYS_execveat, mfd, "", args, environ, AT_EMPTY_PATH);
		return fail();
	}
	if (!strcmp(mode, "execfd") || !strcmp(mode, "execdevfd")) {
		char devfd[64];
		int fd = open(arg, O_RDONLY | (strcmp(mode, "execfd") ? 0 : O_CLOEXEC));

		if (fd < 0)
			return fail();
		if (!strcmp(mode, "execfd")) {
			syscall(SYS_execveat, fd, "", args, environ, AT_EMPTY_PATH);
			return fail();
		}
		/* /dev/fd is a symlink to /proc/self/fd that minimal /dev trees (the kernel-matrix guests) lack */
		snprintf(devfd, sizeof(devfd), access("/dev/fd", F_OK) == 0 ? "/dev/fd/%d" : "/proc/self/fd/%d", fd);
		execv(devfd, args);
		return fail();
	}
	fprintf(stderr, "vg_try: unknown mode %s\n", mode);
	return 2;
}
