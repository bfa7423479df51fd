package fileclient

import (
	"io"
	"os"
)

// Progress hears how far a transfer has gone, for a progress bar. Begin
// is told, before the first byte, how many will move, and says whether
// to hear of them; if so, Add is told of every chunk moved (reportEvery
// bytes), and End that the transfer is over, whether or not it failed.
type Progress interface {
	Begin(total int64) bool
	Add(n int64)
	End()
}

// reportEvery is the bytes moved between two reports to a Progress that
// asked for them. An upload still goes by sendfile, a chunk at a time;
// with nobody to report to, a transfer is one copy.
const reportEvery = 1 << 20

// copyN copies n bytes from src to dst, reporting to p (which may be
// nil). A file to the server goes by sendfile (Conn.sendFile), whose
// deadline moves on with every byte; anything else by io.Copy.
func copyN(dst io.Writer, src io.Reader, n int64, p Progress) (int64, error) {
	chunk := n
	report := p != nil && p.Begin(n)
	if report {
		chunk = reportEvery
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
	c, toConn := dst.(*Conn)
	f, fromFile := src.(*os.File)
	if toConn && fromFile {
		return c.sendFile(f, n)
	}
	return io.Copy(dst, io.LimitReader(src, n))
}
