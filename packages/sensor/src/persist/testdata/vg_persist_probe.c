// The probe loop of the persistence tests and benchmark: tries a denied operation as fast as it can and counts
// how often it got through. Prints one JSON line.
//   vg_persist_probe exec PATH    (--count N | --until FILE)   posix_spawn(PATH): allowed = exited 0, denied = SIGKILL or EPERM
//   vg_persist_probe open PATH    (--count N | --until FILE)   a child opens PATH and reads one byte: allowed = the
//                                                              read returned data, denied = EPERM or SIGKILL
//   vg_persist_probe trunc PATH   --count 1                    a child opens PATH with O_WRONLY|O_TRUNC
//   vg_persist_probe connect ADDR PORT (--count N | --until FILE)  TCP connect: denied = EPERM
// "allowed_ns" lists the CLOCK_REALTIME times of the first 32 allowed attempts.
// A loop never outlives its test: it dies with its parent (PR_SET_PDEATHSIG) and an --until loop gives up after
// --max-seconds (default 300) with exit status 3, so a failed test cannot leave a full-rate loop starving the machine.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_TS 32

static long long now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* 1 allowed, 0 denied, -1 other outcome */
static int try_exec(const char *path)
{
	char *argv[] = { (char *)path, NULL };
	pid_t pid;
	int st;

	int err = posix_spawn(&pid, path, NULL, NULL, argv, environ);

	if (err == EPERM) /* the exec was refused (fanotify FAN_OPEN_EXEC_PERM while the sensor runs) */
		return 0;
	if (err != 0)
		return -1;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	return -1;
}

static int try_open(const char *path, int trunc)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		char c;
		int fd = open(path, trunc ? (O_WRONLY | O_TRUNC) : O_RDONLY);

		if (fd < 0)
			_exit(errno == EPERM || errno == EACCES ? 3 : 4);
		if (trunc)
			_exit(0);
		_exit(read(fd, &c, 1) == 1 ? 0 : 5);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	return -1;
}

static int try_connect(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int r, e;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, addr, &sa.sin_addr);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (r < 0 && e == EPERM)
		return 0;
	if (r == 0 || e == ECONNREFUSED || e == ETIMEDOUT || e == EHOSTUNREACH)
		return 1; /* the connect went out: not denied */
	return -1;
}

int main(int argc, char **argv)
{
	const char *kind, *arg, *until = NULL;
	long long count = -1, attempts = 0, allowed = 0, denied = 0, other = 0, ts[MAX_TS], t0, t1, max_ns = 300LL * 1000000000LL;
	int port = 0, i, nts = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: vg_persist_probe exec|open|trunc PATH | connect ADDR PORT  --count N | --until FILE\n");
		return 2;
	}
	kind = argv[1];
	arg = argv[2];
	i = 3;
	if (!strcmp(kind, "connect"))
		port = atoi(argv[i++]);
	for (; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--count"))
			count = atoll(argv[i + 1]);
		else if (!strcmp(argv[i], "--until"))
			until = argv[i + 1];
		else if (!strcmp(argv[i], "--max-seconds"))
			max_ns = atoll(argv[i + 1]) * 1000000000LL;
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
		return 4; /* the parent is already gone (or cannot be followed): nobody would stop us */
	signal(SIGPIPE, SIG_IGN);
	t0 = now_ns(CLOCK_MONOTONIC);
	for (;;) {
		struct stat sb;
		int r;

		if (count >= 0 && attempts >= count)
			break;
		if (until && (attempts & 15) == 0) {
			if (stat(until, &sb) == 0)
				break;
			if (now_ns(CLOCK_MONOTONIC) - t0 > max_ns) {
				fprintf(stderr, "vg_persist_probe: %s never appeared within --max-seconds; giving up\n", until);
				return 3;
			}
		}
		if (!strcmp(kind, "exec"))
			r = try_exec(arg);
		else if (!strcmp(kind, "open"))
			r = try_open(arg, 0);
		else if (!strcmp(kind, "trunc"))
			r = try_open(arg, 1);
		else if (!strcmp(kind, "connect"))
			r = try_connect(arg, port);
		else
			return 2;
		attempts++;
		if (r == 1) {
			allowed++;
			if (nts < MAX_TS)
				ts[nts++] = now_ns(CLOCK_REALTIME);
		} else if (r == 0) {
			denied++;
		} else {
			other++;
		}
	}
	t1 = now_ns(CLOCK_MONOTONIC);
	printf("{\"kind\":\"%s\",\"attempts\":%lld,\"allowed\":%lld,\"denied\":%lld,\"other\":%lld,\"elapsed_ns\":%lld,\"start_ns\":%lld,\"allowed_ns\":[",
	       kind, attempts, allowed, denied, other, t1 - t0, now_ns(CLOCK_REALTIME) - (t1 - t0));
	for (i = 0; i < nts; i++)
		printf("%s%lld", i ? "," : "", ts[i]);
	printf("]}\n");
	return 0;
}
