package ride

import (
	"fmt"
	"strconv"
	"strings"
)

// Line formats one output line, "ROLE[PID]: TEXT\n", ready for one write.
func Line(role string, pid int, text string) []byte {
	b := make([]byte, 0, len(role)+len(text)+16)
	b = append(b, role...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "]: "...)
	b = append(b, text...)
	return append(b, '\n')
}

// ParseLine splits a line "ROLE[PID]: TEXT" (without its newline). Text
// before the role, such as a terminal's echo of "^C", is skipped: the role is
// the last run of letters before the first "[".
func ParseLine(s string) (role string, pid int, text string, err error) {
	open := strings.IndexByte(s, '[')
	end := strings.Index(s, "]: ")
	if open < 0 || end < open {
		return "", 0, "", fmt.Errorf("not a ROLE[PID]: TEXT line: %q", s)
	}
	start := open
	for start > 0 && isRoleByte(s[start-1]) {
		start--
	}
	role = s[start:open]
	if role == "" {
		return "", 0, "", fmt.Errorf("no role before [ in %q", s)
	}
	pid, err = strconv.Atoi(s[open+1 : end])
	if err != nil || pid <= 0 {
		return "", 0, "", fmt.Errorf("bad pid in %q", s)
	}
	return role, pid, s[end+3:], nil
}

func isRoleByte(c byte) bool { return c >= 'a' && c <= 'z' || c == '-' }
