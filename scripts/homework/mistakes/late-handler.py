#!/usr/bin/env python3
"""A common mistake: a handler installed after the signal can come.

The driver sets up its keys first (^C and ^\\ ignored, ^Z caught), forks
the conductor, and then does some start-up work (here it waits a second
"to let the conductor start") before it installs its SIGUSR1 and SIGUSR2
handlers. But the conductor is ready at once, and so is the ride: the
first ^C can come during that second. The conductor sends SIGUSR1 to a
driver that has no handler for it yet, and the default action of SIGUSR1
is to end the process.

What a student sees: the first ^C, and the driver is gone without a
word; run again and wait a while before ^C, and all is well. Handlers go
in place before anyone can send their signal: before the fork, or with
the signals blocked until they are (as ride.py does).
"""
import os
import signal
import sys
import time

conductor_pid = 0


def say(text):
    os.write(1, (text + "\n").encode())


def wait_for_signals():
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    while True:
        os.read(r, 512)


def conductor(driver):
    def arrived(signum, frame):
        say("We have arrived, please get off")
        sys.exit(0)

    signal.signal(signal.SIGINT, lambda s, f: os.kill(driver, signal.SIGUSR1))
    signal.signal(signal.SIGQUIT, lambda s, f: os.kill(driver, signal.SIGUSR2))
    signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, arrived)
    wait_for_signals()


def arrive(signum, frame):
    os.kill(conductor_pid, signal.SIGUSR1)
    os.waitpid(conductor_pid, 0)
    sys.exit(0)


def main():
    global conductor_pid
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGTSTP, arrive)
    parent = os.getpid()
    conductor_pid = os.fork()
    if conductor_pid == 0:
        conductor(parent)
    time.sleep(1)  # let the conductor start
    signal.signal(signal.SIGUSR1, lambda s, f: say("The old driver sets off"))
    signal.signal(signal.SIGUSR2, lambda s, f: say("Fasten your seat belts, we are going a bit fast"))
    wait_for_signals()


if __name__ == "__main__":
    main()
