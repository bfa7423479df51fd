package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/atomicfile"
	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/fileserve"
	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/prefork"
	"github.com/sigride/sigride/internal/tftp"
	"github.com/sigride/sigride/internal/vocab"
)

const serveSynopsis = `usage: fileserver serve [flags]

Runs the server: a master that owns the listening socket and a pool of
worker processes accepting on it. Signals to the master: SIGTTIN one worker
more, SIGTTOU one fewer; SIGHUP replaces every worker, one by one; SIGUSR2
upgrades to the binary on disk (the pidfile names the new master once it
serves; the old one drains and exits); SIGTERM or SIGINT stop, giving
in-flight transfers --grace; SIGQUIT stops once they are done. A worker
that dies is replaced; one not ready within --ready-timeout, or silent
(no heartbeat) for --worker-timeout, is killed and replaced. A worker
retired by SIGHUP or SIGTTOU, and an old master draining after SIGUSR2,
get --grace too. Everything is logged on stderr, "listening on ADDR with N
workers" once the pool accepts.`

type serveConfig struct {
	root        string
	listen      string
	workers     int
	pidfile     string
	maxUpload   cli.Size
	minFree     cli.Size // free space an upload must leave; 0: unchecked
	idleTimeout time.Duration
	grace       time.Duration
	ready       time.Duration // --ready-timeout
	liveness    time.Duration // --worker-timeout
	maxConns    int
	tftp        string // the TFTP address; empty: off
	tftpPorts   tftp.PortRange
	tftpRO      bool
	tftpRetries int
}

// Defaults of serve.
const (
	defaultRoot        = "./library"
	defaultMaxUpload   = fileserve.DefaultMaxUpload
	defaultMinFree     = 256 << 20
	defaultIdleTimeout = fileserve.DefaultIdle
	defaultGrace       = 10 * time.Second
	defaultReady       = 10 * time.Second
	defaultLiveness    = 30 * time.Second          // unicorn's timeout is 60 s
	defaultMaxConns    = fileserve.DefaultMaxConns // per worker
)

// workerConfig is what a worker is told of the configuration: it crosses
// exec whole, as the first message on the worker's control socket
// (prefork.Config.Settings), never as flags formatted back into argv.
type workerConfig struct {
	Root         string         `json:"root"`
	MaxUpload    int64          `json:"max_upload"`
	MinFree      int64          `json:"min_free"`
	IdleTimeout  time.Duration  `json:"idle_timeout"`
	MaxConns     int            `json:"max_conns"`
	TFTPPorts    tftp.PortRange `json:"tftp_ports"`
	TFTPReadOnly bool           `json:"tftp_readonly"`
	TFTPRetries  int            `json:"tftp_retries"`
}

// tftpSocket is the name the TFTP socket is inherited under.
const tftpSocket = "tftp"

// workerConfig is the part of the configuration the workers act on.
func (cfg *serveConfig) workerConfig() workerConfig {
	return workerConfig{Root: cfg.root, MaxUpload: int64(cfg.maxUpload), MinFree: int64(cfg.minFree),
		IdleTimeout: cfg.idleTimeout, MaxConns: cfg.maxConns, TFTPPorts: cfg.tftpPorts,
		TFTPReadOnly: cfg.tftpRO, TFTPRetries: cfg.tftpRetries}
}

// serverFlags are the flags of what the workers are told (workerConfig).
func serverFlags(fs *pflag.FlagSet, cfg *serveConfig) {
	cfg.maxUpload = defaultMaxUpload
	fs.StringVar(&cfg.root, "root", defaultRoot, "the library's directory (created if missing)")
	fs.Var(&cfg.maxUpload, "max-upload", "the largest upload accepted: 4GiB, 100MB, 1024 ...")
	cfg.minFree = defaultMinFree
	fs.Var(&cfg.minFree, "min-free", "refuse an upload that would leave less free space than this on the library's filesystem (0: off)")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", defaultIdleTimeout, "close a connection where no byte moved this long, either way; a TFTP transfer without progress this long")
	fs.IntVar(&cfg.maxConns, "max-conns", defaultMaxConns, "connections (and TFTP transfers) one worker serves at once; more are told busy")
	fs.Var(&cfg.tftpPorts, "tftp-port-range", "ports for TFTP transfers, LO:HI (default: any)")
	fs.BoolVar(&cfg.tftpRO, "tftp-readonly", false, "refuse TFTP write requests")
	fs.IntVar(&cfg.tftpRetries, "tftp-retries", tftp.DefaultRetries, "TFTP timeouts in a row before a transfer is given up")
}

func runServe(args []string, sigs <-chan os.Signal, stdout *os.File, stderr io.Writer) error {
	var cfg serveConfig
	fs := pflag.NewFlagSet("fileserver serve", pflag.ContinueOnError)
	serverFlags(fs, &cfg)
	fs.StringVar(&cfg.listen, "listen", defaultAddr, "the address to listen on")
	fs.IntVar(&cfg.workers, "workers", runtime.NumCPU(), "worker processes")
	fs.StringVar(&cfg.pidfile, "pidfile", "", "write the master's pid here once it serves (atomically; removed on exit while it names this master); one that cannot be written stops the start")
	fs.DurationVar(&cfg.grace, "grace", defaultGrace, "time a stopping or retired worker's transfers get before it is killed (SIGQUIT: no limit)")
	fs.DurationVar(&cfg.ready, "ready-timeout", defaultReady, "time a new worker (or a new master, on SIGUSR2) gets to be ready before it is killed")
	fs.DurationVar(&cfg.liveness, "worker-timeout", defaultLiveness, "a worker silent (no heartbeat) this long is killed and replaced")
	fs.StringVar(&cfg.tftp, "tftp", "", "also serve TFTP on this UDP address, e.g. 127.0.0.1:6969 (default: off)")
	if err := cli.Parse(fs, serveSynopsis, args, stdout, stderr); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return cli.BadUsage(fs, serveSynopsis, stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	case cfg.workers < 1 || cfg.maxConns < 1 || cfg.idleTimeout <= 0 || cfg.grace <= 0 || cfg.tftpRetries < 1 ||
		cfg.ready <= 0 || cfg.liveness <= 0:
		return cli.BadUsage(fs, serveSynopsis, stderr, fmt.Errorf("--workers, --max-conns, --idle-timeout, --grace, --ready-timeout, --worker-timeout and --tftp-retries must be positive"))
	}
	pid := os.Getpid()
	log := lineout.NewLogger(stderr, fmt.Sprintf("fileserver[%d]: ", pid))
	defer log.Close()
	logf := log.Logf

	succ, err := prefork.TakeOver()
	if err != nil {
		return err
	}
	// A pidfile that cannot be written is a start-up error, as in nginx:
	// found before any worker starts, not logged once the pool serves.
	if cfg.pidfile != "" {
		if err := atomicfile.CheckPid(cfg.pidfile); err != nil {
			return err
		}
	}
	lib, err := library.Open(cfg.root)
	if err != nil {
		return err
	}
	// Temp files are stale only at a cold start: in an upgrade, the old
	// master's workers may be writing theirs.
	if succ == nil {
		if n, err := lib.CleanTemp(); err != nil {
			logf("clean temp files: %v", err)
		} else if n > 0 {
			logf("removed %d temp files of interrupted uploads", n)
		}
	}
	lib.Close()

	lnFile, addr, err := prefork.Listen(cfg.listen, succ)
	if err != nil {
		return err
	}
	defer lnFile.Close()
	var extra []prefork.Inherited
	tftpAddr := ""
	if cfg.tftp != "" {
		f, a, err := prefork.ListenPacket(tftpSocket, cfg.tftp, succ)
		if err != nil {
			return err
		}
		defer f.Close()
		extra, tftpAddr = []prefork.Inherited{{Name: tftpSocket, File: f}}, a
	}

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find my own executable: %w", err)
	}
	handedOver, err := prefork.Run(prefork.Config{
		Path: self, Args: []string{self, workerCmd}, Settings: cfg.workerConfig(), Workers: cfg.workers, Grace: cfg.grace,
		ReadyTimeout: cfg.ready, WorkerTimeout: cfg.liveness,
		Listener: lnFile, Extra: extra, Stdout: stdout, Stderr: os.Stderr, Log: logf,
		MasterArgs: append([]string{self, "serve"}, args...),
		Ready: func(workers int) error {
			if cfg.pidfile != "" {
				if err := atomicfile.WritePid(cfg.pidfile, pid); err != nil {
					return err
				}
			}
			if tftpAddr != "" {
				logf("tftp on udp %s", tftpAddr)
			}
			logf("listening on %s with %s", addr, vocab.Count(workers, "worker"))
			if succ != nil {
				if err := succ.Serving(); err != nil {
					logf("%v", err)
				}
				// Started by its predecessor, not by the shell: say where
				// it is, for a terminal's ^C no longer reaches it.
				where := fmt.Sprintf("new master %d serving", pid)
				if cfg.pidfile != "" {
					where += "; pidfile " + cfg.pidfile
				}
				logf("%s", where)
			}
			return nil
		},
	}, sigs)
	if cfg.pidfile != "" && !handedOver {
		// Only if it names this master still: after SIGUSR2 it may name
		// the new one already, who serves.
		if err := atomicfile.RemovePid(cfg.pidfile, pid); err != nil {
			logf("%v", err)
		}
	}
	return err
}
