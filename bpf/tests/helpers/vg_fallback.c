// Operations of the fallback-enforcement tests that vg_try does not cover. Prints its outcome ("ok" or the errno
// name). With --cgroup DIR it first moves itself into that cgroup v2 directory.
//   vg_fallback [--cgroup DIR] unix PATH|@NAME     connect(2) a stream socket to a unix address
//   vg_fallback [--cgroup DIR] uring_setup         io_uring_setup(2); prints "ring" when it returned
//   vg_fallback [--cgroup DIR] open32 PATH         open + read one byte through ia32 syscalls (int 0x80)
//   vg_fallback [--cgroup DIR] thread_open PATH    thread B reads fd N in a loop while thread A opens PATH (fd N);
//                                                  B prints "B read" if its read succeeded before the kill
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(void)
{
	const char *name = strerrorname_np(errno);
	printf("%s\n", name ? name : "EUNKNOWN");
	return 0;
}

/* An ia32 syscall from this 64-bit process: int 0x80 takes the number in eax and arguments in ebx, ecx, edx. */
static long sys32(long nr, long a, long b, long c)
{
	long ret;

	asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static volatile int target_fd = -1;
static volatile int go;

static void *reader_main(void *arg)
{
	char c;

	(void)arg;
	while (!go)
		;
	for (;;) {
		if (pread(target_fd, &c, 1, 0) == 1) {
			write(1, "B read\n", 7);
			return NULL;
		}
	}
}

int main(int argc, char **argv)
{
	int i = 1;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 2 && strcmp(argv[1], "--cgroup") == 0) {
		char path[4096], pid[32];
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", argv[2]);
		fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, pid, snprintf(pid, sizeof(pid), "%d", getpid())) < 0) {
			perror("vg_fallback: cannot join cgroup");
			return 2;
		}
		close(fd);
		i = 3;
	}
	if (argc - i < 1) {
		fprintf(stderr, "usage: vg_fallback [--cgroup DIR] unix PATH | uring_setup | open32 PATH | thread_open PATH\n");
		return 2;
	}
	const char *mode = argv[i];
	const char *arg = argc - i > 1 ? argv[i + 1] : "";

	if (!strcmp(mode, "unix")) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		socklen_t len;
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		if (arg[0] == '@') {
			/* abstract: a leading NUL, the name, no terminator */
			memcpy(a.sun_path + 1, arg + 1, strlen(arg + 1));
			len = offsetof(struct sockaddr_un, sun_path) + strlen(arg);
		} else {
			strncpy(a.sun_path, arg, sizeof(a.sun_path) - 1);
			len = sizeof(a);
		}
		if (s < 0 || connect(s, (struct sockaddr *)&a, len) < 0)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "uring_setup")) {
		struct io_uring_params p = {};
		int ring = syscall(SYS_io_uring_setup, 4, &p);

		if (ring < 0)
			return fail();
		printf("ring\n");
		return 0;
	}
	if (!strcmp(mode, "open32")) {
		/* ia32 pointers are 32 bits: the path and buffer live in a MAP_32BIT page */
		char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		long fd;

		if (low == MAP_FAILED)
			return fail();
		strncpy(low, arg, 4000);
		fd = sys32(5 /* __NR_open (ia32) */, (long)low, O_RDONLY, 0);
		if (fd < 0) {
			errno = -fd;
			return fail();
		}
		if (sys32(3 /* __NR_read (ia32) */, fd, (long)(low + 4000), 1) < 0)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (!strcmp(mode, "thread_open")) {
		pthread_t t;
		int fd;

		/* the fd the open will get: the lowest free one */
		fd = dup(0);
		close(fd);
		target_fd = fd;
		pthread_create(&t, NULL, reader_main, NULL);
		go = 1;
		usleep(1000);
		fd = open(arg, O_RDONLY);
		if (fd < 0)
			return fail();
		printf("A opened\n");
		pthread_join(t, NULL);
		return 0;
	}
	fprintf(stderr, "vg_fallback: unknown mode %s\n", mode);
	return 2;
}
