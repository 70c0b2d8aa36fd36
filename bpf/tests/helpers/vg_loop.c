// Tight syscall loops for the enforcement benchmarks; prints the mean ns per iteration.
//   vg_loop open PATH N            open(O_RDONLY) + close
//   vg_loop connect ADDR PORT N    socket(AF_INET, SOCK_DGRAM) + connect + close (runs cgroup/connect4)
//   vg_loop exec PATH N            posix_spawn(PATH) + waitpid
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: vg_loop open PATH N | connect ADDR PORT N | exec PATH N\n");
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[argc - 1]);
	long long t0 = now_ns();

	if (!strcmp(mode, "open")) {
		for (long i = 0; i < n; i++) {
			int fd = open(argv[2], O_RDONLY);

			if (fd < 0) {
				perror("open");
				return 1;
			}
			close(fd);
		}
	} else if (!strcmp(mode, "connect")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };

		inet_pton(AF_INET, argv[2], &a.sin_addr);
		for (long i = 0; i < n; i++) {
			int s = socket(AF_INET, SOCK_DGRAM, 0);

			if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
				perror("connect");
				return 1;
			}
			close(s);
		}
	} else if (!strcmp(mode, "exec")) {
		char *args[] = { argv[2], NULL };

		for (long i = 0; i < n; i++) {
			pid_t pid;
			int st;

			if (posix_spawn(&pid, argv[2], NULL, NULL, args, environ) != 0 || waitpid(pid, &st, 0) < 0) {
				perror("spawn");
				return 1;
			}
		}
	} else {
		fprintf(stderr, "vg_loop: unknown mode %s\n", mode);
		return 2;
	}
	printf("%.1f\n", (double)(now_ns() - t0) / n);
	return 0;
}
