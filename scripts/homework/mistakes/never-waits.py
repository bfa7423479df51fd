#!/usr/bin/env python3
"""A common mistake: the driver never waits for its child, the conductor.

On ^Z the driver tells the conductor to get off, stays on a second "to let
the conductor get off", and exits: it never calls os.waitpid. The
conductor announces the arrival and exits well within that second (in
milliseconds; under 0.2 s even traced, on a busy machine), so its exit
always comes first. But nobody collects its exit status: it stays a
zombie (<defunct> in ps) until its parent, the driver, ends. Then it is an
orphan, re-parented to init or to a subreaper (sigride's launcher), which
reaps it in the driver's stead.

What a student sees: the lines of the correct ride, and exit 0; only ps,
during that second, shows the zombie. A driver that stays on for hours
would leave its conductor a zombie for hours.
"""
import os
import signal
import sys
import time

RIDE = {signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGUSR1, signal.SIGUSR2}


def wait_for_signals():
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, RIDE)
    while True:
        os.read(r, 512)


def say(text):
    os.write(1, (text + "\n").encode())


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
        time.sleep(1)  # let the conductor get off; no os.waitpid (the mistake)
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
