#!/usr/bin/env python3
"""A common mistake: the conductor does not ignore ^Z.

The student knows ^Z is the driver's key and leaves the conductor alone
with it: "not mine, nothing to do". But a key goes to every process of the
terminal's foreground group, the conductor too, and doing nothing with a
signal leaves it its default action, which for SIGTSTP stops the process.

What a student sees: ^Z, and nothing more. The driver has sent SIGUSR1 to
the conductor and waits for it to get off; but a stopped process takes
no signal but SIGKILL and SIGCONT, so SIGUSR1 waits, pending, and the
driver with it. The ride hangs: no "We have arrived, please get off", no
prompt (the shell waits for the driver, which is not stopped), and ps
shows the conductor in state T. Only SIGCONT (kill -CONT, or fg) lets the
conductor go on, take its SIGUSR1 and get off. sigride's launcher stops
the ride as soon as it sees the conductor stopped.
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
    # ^Z is the driver's key: nothing to do with it here (the mistake).
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
