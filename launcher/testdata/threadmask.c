// The driver (parent) handles SIGTSTP and ignores ^C and ^\; the conductor
// (child) handles SIGINT and SIGQUIT, 300 ms late, and ignores ^Z. The
// driver runs a worker thread that blocks every signal, as threaded C
// programs do so that only the main thread takes them: the driver process
// still takes SIGINT and SIGQUIT on its main thread (ignores them), and is
// no conductor.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void h(int s) { (void)s; }

static void *worker(void *a) {
	(void)a;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, 0);
	for (;;)
		pause();
	return 0;
}

int main(void) {
	if (fork() == 0) {
		usleep(300000);
		signal(SIGINT, h);
		signal(SIGQUIT, h);
		signal(SIGTSTP, SIG_IGN);
		for (;;)
			pause();
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTSTP, h);
	pthread_t t;
	pthread_create(&t, 0, worker, 0);
	for (;;)
		pause();
}
