#!/usr/bin/env python3
"""The ride, as the exercise asks, in one program that forks.

The parent is the driver, its child the conductor. ^C makes the conductor
send SIGUSR1 to the driver ("The old driver sets off"), ^\\ SIGUSR2 ("Fasten
your seat belts..."); ^Z makes the driver send SIGUSR1 to the conductor,
which announces the arrival and gets off; the driver, its parent, reaps it
and gets off after it.

A key reaches every process of the terminal's foreground group, so each
process ignores the keys meant for the other. Every signal of the ride is
blocked before the fork and unblocked by each process only once its own
handlers are in place: no key can find a process with the wrong ones.

Each waits on a wake-up pipe, not with signal.pause(): Python runs a
handler between two steps of the program, and a signal that comes just
before pause() would wait there for the next one. The interpreter writes
a byte to the pipe for each signal, so the wait always ends.
"""
import os
import signal
import sys

RIDE = {signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGUSR1, signal.SIGUSR2}


def wait_for_signals():
    """Run the handlers as signals come, for ever (a handler may exit)."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, RIDE)
    while True:
        os.read(r, 512)  # returns once a signal came; its handler runs next


def say(text):
    os.write(1, (text + "\n").encode())  # one write: lines never mix


def conductor(driver):
    def arrived(signum, frame):
        say("We have arrived, please get off")
        sys.exit(0)

    signal.signal(signal.SIGINT, lambda s, f: os.kill(driver, signal.SIGUSR1))
    signal.signal(signal.SIGQUIT, lambda s, f: os.kill(driver, signal.SIGUSR2))
    signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, arrived)
    wait_for_signals()


def driver(conductor_pid):
    def arrive(signum, frame):
        os.kill(conductor_pid, signal.SIGUSR1)
        os.waitpid(conductor_pid, 0)  # the conductor gets off first
        sys.exit(0)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, lambda s, f: say("The old driver sets off"))
    signal.signal(signal.SIGUSR2, lambda s, f: say("Fasten your seat belts, we are going a bit fast"))
    signal.signal(signal.SIGTSTP, arrive)
    wait_for_signals()


def main():
    signal.pthread_sigmask(signal.SIG_BLOCK, RIDE)
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        conductor(parent)
    else:
        driver(child)


if __name__ == "__main__":
    main()
