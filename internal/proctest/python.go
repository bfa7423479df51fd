package proctest

import (
	"os/exec"
	"strings"
	"testing"
)

// Python is the python3 interpreter itself, for a test that traces or
// times a Python program: the python3 in PATH may be a wrapper that runs
// processes of its own first (pyenv's shim: dozens of them, seconds
// under a tracer).
func Python(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("python3: %v (the tests need it: .ci/run installs it)", err)
	}
	return strings.TrimSpace(string(out))
}
