/*
 * The ride, as the exercise asks, in one program that forks; the signals
 * taken with sigwaitinfo, no handler.
 *
 * The parent is the driver, its child the conductor. ^C makes the
 * conductor send SIGUSR1 to the driver ("The old driver sets off"), ^\
 * SIGUSR2 ("Fasten your seat belts..."); ^Z makes the driver send SIGUSR1
 * to the conductor, which announces the arrival and gets off; the driver,
 * its parent, reaps it and gets off after it.
 *
 * Every signal of the ride is blocked before the fork: a signal that comes
 * before a process waits for it stays pending until it does. A key reaches
 * every process of the terminal's foreground group, so each process
 * ignores the keys meant for the other before it unblocks them.
 *
 *     cc -o ride ride.c && ./ride
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *line)
{
	/* One write: the two processes' lines never mix. */
	if (write(STDOUT_FILENO, line, strlen(line)) < 0) {
		/* Nowhere to say it: the ride goes on. */
	}
}

/* ignore makes the process ignore sig, then stop holding it. */
static void ignore(int sig)
{
	sigset_t one;
	signal(sig, SIG_IGN);
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
}

static int conductor(sigset_t *ride, pid_t driver)
{
	siginfo_t si;
	ignore(SIGTSTP);
	for (;;) {
		switch (sigwaitinfo(ride, &si)) {
		case SIGINT:
			kill(driver, SIGUSR1);
			break;
		case SIGQUIT:
			kill(driver, SIGUSR2);
			break;
		case SIGUSR1:
			if (si.si_code == SI_USER && si.si_pid == driver) {
				say("We have arrived, please get off\n");
				return 0;
			}
			break;
		}
	}
}

static void answer(int sig)
{
	if (sig == SIGUSR1)
		say("The old driver sets off\n");
	else if (sig == SIGUSR2)
		say("Fasten your seat belts, we are going a bit fast\n");
}

static int driver(sigset_t *ride, pid_t conductor)
{
	struct timespec now = {0, 0};
	int sig;
	ignore(SIGINT);
	ignore(SIGQUIT);
	for (;;) {
		sig = sigwaitinfo(ride, NULL);
		if (sig != SIGTSTP) {
			answer(sig);
			continue;
		}
		kill(conductor, SIGUSR1);
		while (waitpid(conductor, NULL, 0) < 0 && errno == EINTR)
			;
		/* What the conductor sent before it got off is still ours. */
		while ((sig = sigtimedwait(ride, NULL, &now)) > 0)
			answer(sig);
		return 0;
	}
}

int main(void)
{
	sigset_t ride;
	pid_t parent, child;

	sigemptyset(&ride);
	sigaddset(&ride, SIGINT);
	sigaddset(&ride, SIGQUIT);
	sigaddset(&ride, SIGTSTP);
	sigaddset(&ride, SIGUSR1);
	sigaddset(&ride, SIGUSR2);
	sigprocmask(SIG_BLOCK, &ride, NULL);

	parent = getpid();
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0)
		return conductor(&ride, parent);
	return driver(&ride, child);
}
