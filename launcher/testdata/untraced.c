// A program that makes a child the tracer cannot follow
// (clone(CLONE_UNTRACED)): the child leaves the launcher's group (setsid),
// ignores SIGTERM and SIGHUP, and outlives its parent, which exits at once.
// Its pid is on stdout: "untraced PID".
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
	long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		setsid();
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		for (int i = 0; i < 600; i++)
			sleep(1);
		_exit(0);
	}
	printf("untraced %ld\n", pid);
	return 0;
}
