#!/usr/bin/env python3
"""A common mistake: a program that never starts its ride.

The last lines should run main() when the file is run as a program, but
"__main_" lacks an underscore: __name__ is "__main__", the test is false,
and Python, having defined the functions, reaches the end of the file and
exits 0. No fork, no handler. (Defining main() and forgetting to call it
does the same.)

What a student sees: the prompt comes back at once, with no error and
exit status 0. sigride's launcher sees the program end before any process
of it handles the ride's keys: "the program ended (exit=0) before its
roles were recognised", and exit 1.
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


if __name__ == "__main_":  # one underscore short: main() never runs
    main()
