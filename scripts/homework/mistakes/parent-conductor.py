#!/usr/bin/env python3
"""A common mistake: the parent is the conductor, its child the driver.

On ^Z the driver tells the conductor, which gets off first, as it should:
but the conductor is the parent, and when it exits its child, the driver,
is left an orphan. Nobody it knows waits for it any more; it is re-parented
(to init, or to a subreaper such as sigride's launcher), which reaps it.
"""
import os
import signal
import sys
import time

RIDE = {signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGUSR1, signal.SIGUSR2}


def say(text):
    os.write(1, (text + "\n").encode())


def wait_for_signals():
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, RIDE)
    while True:
        os.read(r, 512)


def conductor(driver):
    def arrived(signum, frame):
        say("We have arrived, please get off")
        sys.exit(0)  # the parent leaves: its child, the driver, is orphaned

    signal.signal(signal.SIGINT, lambda s, f: os.kill(driver, signal.SIGUSR1))
    signal.signal(signal.SIGQUIT, lambda s, f: os.kill(driver, signal.SIGUSR2))
    signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, arrived)
    wait_for_signals()


def driver(conductor_pid):
    def arrive(signum, frame):
        os.kill(conductor_pid, signal.SIGUSR1)
        while os.getppid() == conductor_pid:  # not its child: it cannot wait for it
            time.sleep(0.01)
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
        driver(parent)
    else:
        conductor(child)


if __name__ == "__main__":
    main()
