#!/usr/bin/env python3
"""A common mistake: the driver does not ignore ^C.

The student knows ^C is the conductor's key and leaves the driver alone
with it: "not mine, nothing to do". But a key goes to every process of the
terminal's foreground group, the driver too, and doing nothing with a
signal leaves it its default action, which for SIGINT ends the process.
(Python would raise KeyboardInterrupt instead: this program, like many,
first gives ^C back its default, to end "cleanly", with no traceback.)

What a student sees: the first ^C, and the shell's prompt is back; "The
old driver sets off" never comes. The conductor closes the doors (half a
second) before it tells the driver, by which time the shell has reaped
the driver: os.kill fails, and a ProcessLookupError traceback from the
conductor follows the prompt. sigride's launcher stops the ride as soon
as the driver is gone: the conductor is ended (SIGTERM) while it closes
the doors, and sends nothing.
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
    def set_off(signum, frame):
        time.sleep(0.5)  # the doors close before the bus sets off
        os.kill(driver, signal.SIGUSR1)

    def arrived(signum, frame):
        say("We have arrived, please get off")
        sys.exit(0)

    signal.signal(signal.SIGINT, set_off)
    signal.signal(signal.SIGQUIT, lambda s, f: os.kill(driver, signal.SIGUSR2))
    signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, arrived)
    wait_for_signals()


def driver(conductor_pid):
    def arrive(signum, frame):
        os.kill(conductor_pid, signal.SIGUSR1)
        os.waitpid(conductor_pid, 0)
        sys.exit(0)

    # ^C is the conductor's key: nothing to do with it here (the mistake).
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, lambda s, f: say("The old driver sets off"))
    signal.signal(signal.SIGUSR2, lambda s, f: say("Fasten your seat belts, we are going a bit fast"))
    signal.signal(signal.SIGTSTP, arrive)
    wait_for_signals()


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # ^C ends the program, no traceback
    signal.pthread_sigmask(signal.SIG_BLOCK, RIDE)
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        conductor(parent)
    else:
        driver(child)


if __name__ == "__main__":
    main()
