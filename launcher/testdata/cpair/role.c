/* The least a role can do, for measuring the launcher alone: take the
 * peer message from the control socket (fd 3), say ready with the time,
 * then wait for SIGTERM. It prints nothing and handles no key. */
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	char buf[64], ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	if (recvmsg(3, &mh, MSG_CMSG_CLOEXEC) <= 0)
		return 1;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char ready[48];
	int n = snprintf(ready, sizeof ready, "ready %lld", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (send(3, ready, n, 0) != n)
		return 1;
	sigwaitinfo(&set, NULL);
	return 0;
}
