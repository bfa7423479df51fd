package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/fileserve"
	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/prefork"
	"github.com/sigride/sigride/internal/tftp"
)

// runWorker serves connections until SIGTERM, SIGINT or SIGQUIT, or the
// master's end of the control socket closes; then it stops accepting, lets
// the transfers in flight finish, and exits 0. A worker takes no argument:
// its master sends it its configuration (workerConfig) and names the files
// it inherits (prefork.File), so that it is not for running by hand.
func runWorker(args []string, sigs <-chan os.Signal, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: fileserver worker (started by \"fileserver serve\", which configures it; no arguments)")
		return &cli.UsageError{Err: fmt.Errorf("unexpected argument %q", args[0])}
	}
	var cfg workerConfig
	w, err := prefork.Join(&cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	lib, err := library.Open(cfg.Root)
	if err != nil {
		return err
	}
	defer lib.Close()
	lib.SetMinFree(cfg.MinFree)
	log := lineout.NewLogger(stderr, fmt.Sprintf("fileserver worker[%d]: ", os.Getpid()))
	defer log.Close()
	srv := &fileserve.Server{Store: lib, Idle: cfg.IdleTimeout, MaxUpload: cfg.MaxUpload, MaxConns: cfg.MaxConns, Log: log.Logf}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(w.Listener) }()
	var udp *net.UDPConn
	tftpDone := make(chan error, 1)
	tsrv := &tftp.Server{Store: fileserve.TFTPStore(lib), Ports: cfg.TFTPPorts, ReadOnly: cfg.TFTPReadOnly,
		MaxUpload: cfg.MaxUpload, Retries: cfg.TFTPRetries, Idle: cfg.IdleTimeout, MaxTransfers: cfg.MaxConns, Log: log.Logf}
	if f := prefork.File(tftpSocket); f != nil {
		pc, err := net.FilePacketConn(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("inherited tftp socket: %w", err)
		}
		udp = pc.(*net.UDPConn)
		go func() { tftpDone <- tsrv.Serve(udp) }()
	}
	if err := w.Ready(srv.Alive); err != nil {
		return err
	}
	select {
	case <-sigs:
	case <-w.Gone():
		log.Logf("master gone: stopping")
	case err := <-served:
		return fmt.Errorf("tcp: %w", err)
	case err := <-tftpDone:
		return fmt.Errorf("tftp: %w", err)
	}
	if udp != nil { // no new TFTP requests; those under way finish
		udp.Close()
		<-tftpDone
	}
	// No deadline here: each transfer is bounded by --idle-timeout, and
	// the master kills a worker past its --grace.
	srv.Shutdown(context.Background())
	tsrv.Wait()
	return nil
}
