/* The baseline driver: the least a driver can do. SIGUSR1 is blocked and
 * taken with sigwaitinfo; each one gives one line in one write. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	char line[64];
	int n = snprintf(line, sizeof line, "ready %d\n", (int)getpid());
	write(1, line, n);
	n = snprintf(line, sizeof line, "driver[%d]: set off\n", (int)getpid());
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig == SIGTERM)
			return 0;
		if (sig == SIGUSR1 && write(1, line, n) != n)
			return 1;
	}
}
