package vocab

import "syscall"

// Keys are a terminal's keys of the ride and the signal each sends to the
// foreground process group (termios' VINTR, VQUIT, VSUSP).
var Keys = map[string]syscall.Signal{`^C`: syscall.SIGINT, `^\`: syscall.SIGQUIT, `^Z`: syscall.SIGTSTP}

// KeyOf is the key that sends sig, "" for a signal no key sends.
func KeyOf(sig syscall.Signal) string {
	for k, s := range Keys {
		if s == sig {
			return k
		}
	}
	return ""
}
