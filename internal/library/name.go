package library

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on names.
const (
	MaxName      = 1024 // bytes in a whole name
	MaxComponent = 255  // bytes between slashes (NAME_MAX)
)

// TempPrefix starts the name of every upload's temp file, and names
// starting with ReservedPrefix are refused: no client can reach a temp file.
const (
	ReservedPrefix = ".sigride-"
	TempPrefix     = ReservedPrefix + "upload-"
)

// NameError is a name refused.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string { return fmt.Sprintf("name %q refused: %s", e.Name, e.Reason) }

// CheckName checks a name from a client: relative, "/" between directories,
// no empty, "." or ".." component, no control character, valid UTF-8, at
// most MaxName bytes and MaxComponent per component, not reserved.
func CheckName(name string) error {
	bad := func(reason string) error { return &NameError{Name: name, Reason: reason} }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxName:
		return bad(fmt.Sprintf("longer than %d bytes", MaxName))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return bad("absolute")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return bad(fmt.Sprintf("control character %U", r))
		}
	}
	for _, c := range strings.Split(name, "/") {
		switch {
		case c == "":
			return bad("empty component")
		case c == "." || c == "..":
			return bad(fmt.Sprintf("%q component", c))
		case len(c) > MaxComponent:
			return bad(fmt.Sprintf("a component longer than %d bytes", MaxComponent))
		case strings.HasPrefix(c, ReservedPrefix):
			return bad("reserved for the server's temp files")
		}
	}
	return nil
}
