package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a byte count on the command line, a pflag.Value: 4GiB, 100MB,
// 512k, 1024. K, M, G and T alone are binary (as in dd and nginx); a
// suffix is read in any case.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseSize reads a byte count as Size takes it.
func ParseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) && len(num) > len(u.suffix) {
			num, mult = num[:len(num)-len(u.suffix)], u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("bad size %q (want e.g. 4GiB, 100MB, 1024)", s)
	}
	return n * mult, nil
}

func (v *Size) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *Size) Type() string   { return "size" }
func (v *Size) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*v = Size(n)
	return nil
}
