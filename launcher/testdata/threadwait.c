// The driver (parent) catches SIGTSTP and ignores SIGINT and SIGQUIT. The
// conductor (child) runs a worker thread:
//   ok:  its main thread blocks every signal but SIGTSTP, the worker
//        sigwaits SIGINT and SIGQUIT: the process handles them.
//   bad: the worker, blocking nothing, waits in sigtimedwait for SIGUSR2
//        as a timer; the main thread then blocks SIGINT and SIGQUIT. A
//        SIGINT goes to the worker and kills the process: it does not
//        handle SIGINT, and is no conductor.
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void h(int s) { (void)s; }

static void *okworker(void *a) {
	(void)a;
	sigset_t w;
	sigemptyset(&w);
	sigaddset(&w, SIGINT);
	sigaddset(&w, SIGQUIT);
	for (;;) {
		int s;
		sigwait(&w, &s);
	}
	return 0;
}

static void *badworker(void *a) {
	(void)a;
	sigset_t w;
	sigemptyset(&w);
	sigaddset(&w, SIGUSR2);
	struct timespec ts = {1000, 0};
	for (;;)
		sigtimedwait(&w, 0, &ts);
	return 0;
}

int main(int argc, char **argv) {
	int ok = argc > 1 && strcmp(argv[1], "ok") == 0;
	if (fork() == 0) {
		signal(SIGTSTP, SIG_IGN);
		pthread_t t;
		if (ok) {
			sigset_t all;
			sigfillset(&all);
			sigdelset(&all, SIGTSTP);
			pthread_sigmask(SIG_BLOCK, &all, 0);
			pthread_create(&t, 0, okworker, 0);
		} else {
			pthread_create(&t, 0, badworker, 0);
			usleep(200000);
			sigset_t b;
			sigemptyset(&b);
			sigaddset(&b, SIGINT);
			sigaddset(&b, SIGQUIT);
			pthread_sigmask(SIG_BLOCK, &b, 0);
		}
		for (;;)
			pause();
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTSTP, h);
	for (;;)
		pause();
}
