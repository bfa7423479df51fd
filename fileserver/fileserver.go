package main

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/sigride/sigride/internal/cli"
)

// The signals each kind of process handles.
var (
	masterSignals = []os.Signal{syscall.SIGCHLD, syscall.SIGTTIN, syscall.SIGTTOU,
		syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR2}
	workerSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}
	// workerIgnored are the master's signals, ignored by a worker: sent
	// to the whole process group (a terminal's hangup, kill -HUP -PGID)
	// they must reach the master alone, not kill every worker at once by
	// their default action. SIGTTIN and SIGTTOU would stop a background
	// worker that writes to the terminal.
	workerIgnored = []os.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU}
)

// workerCmd is the hidden subcommand the master re-executes itself with.
const workerCmd = "worker"

const usage = `usage: fileserver COMMAND [flags]

Commands:
  serve              run the server: a master and a pool of workers
  ls                 list the library
  get NAME           download a file
  put PATH           upload a file
  bench              load the server: ops/s, MB/s, latency

Run "fileserver COMMAND --help" for a command's flags.`

// defaultAddr is where the server listens and the client connects.
const defaultAddr = "127.0.0.1:7070"

func run(args []string, sigs <-chan os.Signal, stdout *os.File, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return &cli.UsageError{Err: fmt.Errorf("no command")}
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], sigs, stdout, stderr)
	case workerCmd:
		return runWorker(args[1:], sigs, stderr)
	case "ls":
		return runList(args[1:], stdout, stderr)
	case "get":
		return runGet(args[1:], stdout, stderr)
	case "put":
		return runPut(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "fileserver: unknown command %q\n%s\n", args[0], usage)
	return &cli.UsageError{Err: fmt.Errorf("unknown command %q", args[0])}
}
