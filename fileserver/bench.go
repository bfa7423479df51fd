package main

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/fileclient"
	"github.com/sigride/sigride/internal/vocab"
	"github.com/sigride/sigride/internal/wire"
)

const benchSynopsis = `usage: fileserver bench [--addr ADDR] [--clients N] [--requests N] [--op get|put|ls] [--size BYTES]
       [--timeout DUR]

A load generator for this protocol, like redis-benchmark: N clients, each on
one connection kept alive, share the requests. For get it first uploads a
file of --size bytes (bench/get-SIZE.bin); for put each client overwrites
bench/put-CLIENT.bin. Prints ops/s, MB/s and the latency's p50 and p99;
exits 1 if any request failed (--timeout: no byte moving for DUR is a
failure). Every response's length is checked; sums are checked for put (by
the server) and not recomputed for get.`

type benchConfig struct {
	clients, requests int
	op                string
	size              cli.Size
}

func runBench(args []string, stdout, stderr io.Writer) error {
	cfg := benchConfig{size: 4096}
	fs := pflag.NewFlagSet("fileserver bench", pflag.ContinueOnError)
	fs.IntVar(&cfg.clients, "clients", 16, "concurrent clients, one connection each")
	fs.IntVar(&cfg.requests, "requests", 10000, "requests in all")
	fs.StringVar(&cfg.op, "op", "get", "get, put or ls")
	fs.Var(&cfg.size, "size", "bytes per get or put")
	cl, err := clientFlags(fs, benchSynopsis, args, 0, stdout, stderr)
	if err != nil {
		return err
	}
	switch {
	case cfg.op != "get" && cfg.op != "put" && cfg.op != "ls":
		return cli.BadUsage(fs, benchSynopsis, stderr, fmt.Errorf("--op %q: want get, put or ls", cfg.op))
	case cfg.clients < 1:
		return cli.BadUsage(fs, benchSynopsis, stderr, fmt.Errorf("--clients %d: want at least one", cfg.clients))
	case cfg.requests < cfg.clients:
		// Every client makes at least one request; the default --clients is
		// easy to forget when only --requests is given.
		return cli.BadUsage(fs, benchSynopsis, stderr, fmt.Errorf("--requests %d is fewer than --clients %d: each client makes at least one request (lower --clients)", cfg.requests, cfg.clients))
	}
	data := make([]byte, cfg.size)
	rand.Read(data)
	sum := sha256.Sum256(data)
	getName := fmt.Sprintf("bench/get-%d.bin", cfg.size)
	if cfg.op == "get" {
		c, err := cl.Dial()
		if err != nil {
			return err
		}
		err = c.Put(getName, data, sum)
		c.Close()
		if err != nil {
			return fmt.Errorf("upload the file to get: %w", err)
		}
	}

	lat := make([][]time.Duration, cfg.clients)
	errs := make([]error, cfg.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range cfg.clients {
		n := cfg.requests / cfg.clients
		if i < cfg.requests%cfg.clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i], errs[i] = benchClient(cl, cfg.op, n, getName, fmt.Sprintf("bench/put-%d.bin", i), data, sum)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	failed := cfg.requests - len(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(float64(len(all)-1)*p/100)]
	}
	bytesMoved := float64(len(all)) * float64(cfg.size)
	if cfg.op == "ls" {
		bytesMoved = 0
	}
	fmt.Fprintf(stdout, "op %s, %d bytes, %s, %s in %v\n", cfg.op, int64(cfg.size), vocab.Count(cfg.clients, "client"), vocab.Count(cfg.requests, "request"), elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "ops/s\t%.1f\n", float64(len(all))/elapsed.Seconds())
	fmt.Fprintf(stdout, "MB/s\t%.1f\n", bytesMoved/elapsed.Seconds()/1e6)
	fmt.Fprintf(stdout, "p50\t%v\n", pct(50))
	fmt.Fprintf(stdout, "p99\t%v\n", pct(99))
	fmt.Fprintf(stdout, "failed\t%d\n", failed)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s failed: %w", vocab.Count(failed, "request"), err)
	}
	return nil
}

// benchClient runs n requests on one connection and returns each request's
// latency. It stops at the first failure.
func benchClient(cl fileclient.Client, op string, n int, getName, putName string, data []byte, sum [wire.SumSize]byte) ([]time.Duration, error) {
	c, err := cl.Dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		switch op {
		case "get":
			err = c.Drain(getName, int64(len(data)))
		case "put":
			err = c.Put(putName, data, sum)
		case "ls":
			_, err = c.List()
		}
		if err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}
