/*
 * The ride, as the exercise asks, in one program that forks; the signals
 * caught by sigaction handlers that only set a flag, and waited for with
 * sigsuspend (ride.c takes them with sigwaitinfo). The parent is the
 * driver, its child the conductor, which gets off first; the driver reaps
 * it and gets off after it.
 *
 * Every signal of the ride is blocked before the fork. A key reaches every
 * process of the terminal's foreground group, so each process ignores the
 * keys meant for the other, then unblocks them. Its own signals stay
 * blocked but inside sigsuspend, which unblocks them and waits in one
 * step: a handler runs only there, so a signal that comes between testing
 * the flags and waiting is pending, not lost, and ends the wait at once.
 * A handler only sets a volatile sig_atomic_t; kill, write and waitpid are
 * called outside it.
 *
 *     cc -o ride-sigaction ride-sigaction.c && ./ride-sigaction
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got[NSIG]; /* got[sig]: sig came, not yet taken */

static void note(int sig)
{
	got[sig] = 1;
}

/* on gives sig its handler. A signal ignored is unblocked at once; one
 * caught stays blocked but in sigsuspend, with the mask wait. */
static void on(int sig, void (*handler)(int), sigset_t *wait)
{
	struct sigaction sa = {0};
	sigset_t one;
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	sigdelset(wait, sig);
	if (handler == SIG_IGN) {
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
	}
}

/* taken says sig came since it was last taken, and takes it. */
static int taken(int sig)
{
	if (!got[sig])
		return 0;
	got[sig] = 0;
	return 1;
}

static void say(const char *line)
{
	/* One write: the two processes' lines never mix. */
	if (write(STDOUT_FILENO, line, strlen(line)) < 0) {
		/* Nowhere to say it: the ride goes on. */
	}
}

static int conductor(pid_t driver)
{
	sigset_t wait;
	sigprocmask(SIG_BLOCK, NULL, &wait);
	on(SIGINT, note, &wait);
	on(SIGQUIT, note, &wait);
	on(SIGUSR1, note, &wait);
	on(SIGTSTP, SIG_IGN, &wait);
	for (;;) {
		if (taken(SIGINT))
			kill(driver, SIGUSR1);
		if (taken(SIGQUIT))
			kill(driver, SIGUSR2);
		if (taken(SIGUSR1)) {
			say("We have arrived, please get off\n");
			return 0;
		}
		sigsuspend(&wait);
	}
}

static void answer(void)
{
	if (taken(SIGUSR1))
		say("The old driver sets off\n");
	if (taken(SIGUSR2))
		say("Fasten your seat belts, we are going a bit fast\n");
}

static int driver(pid_t conductor)
{
	sigset_t wait, left;
	sigprocmask(SIG_BLOCK, NULL, &wait);
	on(SIGUSR1, note, &wait);
	on(SIGUSR2, note, &wait);
	on(SIGTSTP, note, &wait);
	on(SIGINT, SIG_IGN, &wait);
	on(SIGQUIT, SIG_IGN, &wait);
	for (;;) {
		answer(); /* the conductor's signals first: they came before ^Z */
		if (taken(SIGTSTP))
			break;
		sigsuspend(&wait);
	}
	kill(conductor, SIGUSR1);
	while (waitpid(conductor, NULL, 0) < 0 && errno == EINTR)
		;
	/* What the conductor sent before it got off is still ours. */
	sigpending(&left);
	if (sigismember(&left, SIGUSR1) || sigismember(&left, SIGUSR2))
		sigsuspend(&wait);
	answer();
	return 0;
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
		return conductor(parent);
	return driver(child);
}
