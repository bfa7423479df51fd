#!/usr/bin/env python3
"""A common mistake: the driver gets off before the conductor.

On ^Z the driver tells the conductor to get off and exits at once, without
waiting for it: "I told it, my job is done". The conductor takes its time:
it waits a second for the bus to come to a standstill, then announces the
arrival and gets off. The driver's own exit takes milliseconds (under
0.2 s even traced, on a busy machine), so it always comes first.

What a student sees in a terminal: the shell's prompt comes back (the
shell waits only for the driver, the process it started), and a second
later "We have arrived, please get off" is printed after the prompt, by a
conductor left an orphan. sigride's launcher stops the ride as soon as
the driver is off with the conductor still aboard: the conductor is ended
(SIGTERM) in its second of waiting and never says its line. The exercise
wants the conductor off first, and the driver, its parent, waiting for it
(os.waitpid), as in ride.py.
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
        time.sleep(1)  # the bus comes to a standstill
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
        sys.exit(0)  # off at once, the conductor still aboard (the mistake)

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
