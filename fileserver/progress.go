package main

import (
	"io"
	"os"
)

// progress hears how far a transfer has gone: a *cli.Bar. Begin says
// whether to hear of the bytes at all.
type progress interface {
	Begin(total int64) bool
	Add(n int64)
	End()
}

// progressChunk is the bytes copied between two reports to a progress
// that asked for them (each chunk still zero-copy).
const progressChunk = 1 << 20

// copyN copies n bytes from src to dst, in chunks when a bar is shown,
// counting them. A file to the server goes by sendfile (conn.sendFile),
// whose deadline moves on with every byte; anything else by io.Copy.
func copyN(dst io.Writer, src io.Reader, n int64, p progress) (int64, error) {
	chunk := n
	report := p.Begin(n)
	if report {
		chunk = progressChunk
		defer p.End()
	}
	var done int64
	for done < n {
		k, err := copyChunk(dst, src, min(chunk, n-done))
		done += k
		if report {
			p.Add(k)
		}
		if err != nil {
			return done, err
		}
		if k == 0 {
			break
		}
	}
	return done, nil
}

func copyChunk(dst io.Writer, src io.Reader, n int64) (int64, error) {
	c, toConn := dst.(*conn)
	f, fromFile := src.(*os.File)
	if toConn && fromFile {
		return c.sendFile(f, n)
	}
	return io.Copy(dst, io.LimitReader(src, n))
}
