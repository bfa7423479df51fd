package prefork

import (
	"fmt"
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
