package tftp

import (
	"bufio"
	"io"
)

// Netascii (RFC 764, as RFC 1350 uses it) ends lines with CR LF and sends
// a lone CR as CR NUL. The file in the library keeps Unix lines (LF).

// netasciiReader turns a file's bytes into netascii: LF -> CR LF,
// CR -> CR NUL.
type netasciiReader struct {
	r       *bufio.Reader
	pending byte // the second byte of a pair not yet returned, or 0xff
	has     bool
}

func newNetasciiReader(r io.Reader) *netasciiReader {
	return &netasciiReader{r: bufio.NewReaderSize(r, 64<<10)}
}

func (n *netasciiReader) Read(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if n.has {
			p[i] = n.pending
			n.has = false
			i++
			continue
		}
		c, err := n.r.ReadByte()
		if err != nil {
			if i > 0 {
				return i, nil
			}
			return 0, err
		}
		switch c {
		case '\n':
			p[i], n.pending, n.has = '\r', '\n', true
		case '\r':
			p[i], n.pending, n.has = '\r', 0, true
		default:
			p[i] = c
		}
		i++
	}
	return i, nil
}

// netasciiWriter turns netascii back into the file's bytes: CR LF -> LF,
// CR NUL -> CR; a CR before anything else is kept as it is, with what
// follows (lenient: some clients send bare CRs). Close writes a CR left
// pending at the end.
type netasciiWriter struct {
	w   io.Writer
	cr  bool // the last byte seen was a CR, not yet written
	out []byte
}

func newNetasciiWriter(w io.Writer) *netasciiWriter { return &netasciiWriter{w: w} }

func (n *netasciiWriter) Write(p []byte) (int, error) {
	n.out = n.out[:0]
	for _, c := range p {
		if n.cr {
			n.cr = false
			switch c {
			case '\n':
				n.out = append(n.out, '\n')
				continue
			case 0:
				n.out = append(n.out, '\r')
				continue
			default:
				n.out = append(n.out, '\r')
			}
		}
		if c == '\r' {
			n.cr = true
			continue
		}
		n.out = append(n.out, c)
	}
	if _, err := n.w.Write(n.out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes a pending CR.
func (n *netasciiWriter) Close() error {
	if !n.cr {
		return nil
	}
	n.cr = false
	_, err := n.w.Write([]byte{'\r'})
	return err
}
