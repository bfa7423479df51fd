/* The baseline conductor: SIGINT in, SIGUSR1 out to the driver whose pid
 * is argv[1], nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2)
		return 2;
	pid_t driver = (pid_t)atoi(argv[1]);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	char line[32];
	int n = snprintf(line, sizeof line, "ready %d\n", (int)getpid());
	write(1, line, n);
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig == SIGTERM)
			return 0;
		if (sig == SIGINT)
			kill(driver, SIGUSR1);
	}
}
