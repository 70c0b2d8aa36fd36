// SPDX-License-Identifier: Apache-2.0
/*
 * Test helper: the thread-group leader calls pthread_exit while a second thread keeps running; that thread then
 * ends the process with exit(7) after the delay given in milliseconds (argv[1], default 200). The sensor must
 * report exactly one exit for this process, with status 7.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *worker(void *arg)
{
	usleep((useconds_t)(long)arg * 1000);
	exit(7);
	return NULL;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 200;
	pthread_t t;

	if (pthread_create(&t, NULL, worker, (void *)ms))
		return 1;
	pthread_exit(NULL);
}
