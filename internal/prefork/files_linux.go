package prefork

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// FilesEnv names the files a worker or a successor master inherits, as
// tableflip names its: "listener=3,control=4,tftp=5". The names are the
// contract; the numbers are where the parent happened to put them.
const FilesEnv = "SIGRIDE_FILES"

// The names of the files every child of the pool inherits.
const (
	ListenerName = "listener" // the shared listening socket
	ControlName  = "control"  // the control socket to the parent
)

// Inherited is a file passed to every worker (and a successor master)
// under a name: the TFTP socket, say.
type Inherited struct {
	Name string
	File *os.File
}

// childFiles lays out what a child inherits after stdin, stdout and
// stderr (the listening socket, its control socket, then extra), and the
// FilesEnv entry that names them.
func childFiles(stdout, stderr, listener, control *os.File, extra []Inherited) ([]*os.File, string) {
	files := []*os.File{os.Stdin, stdout, stderr, listener, control}
	names := []string{ListenerName + "=3", ControlName + "=4"}
	for _, x := range extra {
		names = append(names, fmt.Sprintf("%s=%d", x.Name, len(files)))
		files = append(files, x.File)
	}
	return files, FilesEnv + "=" + strings.Join(names, ",")
}

// File returns the file this process inherited under name (FilesEnv), or
// nil if none was. Each call makes a new *os.File of the descriptor: take
// each once.
func File(name string) *os.File {
	fd := inheritedFD(name)
	if fd < 0 {
		return nil
	}
	return os.NewFile(uintptr(fd), name)
}

// inheritedFD is the descriptor inherited under name, or -1.
func inheritedFD(name string) int {
	for _, entry := range strings.Split(os.Getenv(FilesEnv), ",") {
		n, fd, ok := strings.Cut(entry, "=")
		if !ok || n != name {
			continue
		}
		if i, err := strconv.Atoi(fd); err == nil && i > 2 {
			return i
		}
	}
	return -1
}

// Listen opens the pool's listening socket on addr (TCP), or takes the
// predecessor's in an upgrade (succ not nil): the address is then the one
// it listens on, whatever addr says. It returns the socket as a file for
// Config.Listener, and its address.
func Listen(addr string, succ *Successor) (*os.File, string, error) {
	if succ != nil {
		ln, err := net.FileListener(succ.Listener)
		if err != nil {
			return nil, "", fmt.Errorf("inherited %s: %w", ListenerName, err)
		}
		a := ln.Addr().String()
		_ = ln.Close() // a dup: succ.Listener stays open for the workers
		return succ.Listener, a, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File() // a dup the workers inherit
	if err != nil {
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	return f, ln.Addr().String(), nil
}

// ListenPacket opens a UDP socket on addr for the workers to share, to be
// passed in Config.Extra under name, or takes the one the predecessor
// passed under that name in an upgrade (succ not nil). It returns it as a
// file, and its address.
func ListenPacket(name, addr string, succ *Successor) (*os.File, string, error) {
	if succ != nil {
		if f := File(name); f != nil {
			pc, err := net.FilePacketConn(f)
			if err != nil {
				f.Close()
				return nil, "", fmt.Errorf("inherited %s socket: %w", name, err)
			}
			a := pc.LocalAddr().String()
			_ = pc.Close() // a dup: f stays open for the workers
			return f, a, nil
		}
		// The predecessor ran without it: open it, as at a cold start.
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	defer pc.Close()
	f, err := pc.File() // a dup the workers inherit
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return f, pc.LocalAddr().String(), nil
}
