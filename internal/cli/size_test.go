package cli

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{"0", 0, true},
		{"4GiB", 4 << 30, true},
		{"4gib", 4 << 30, true},
		{"100MB", 100e6, true},
		{"512k", 512 << 10, true},
		{"2T", 2 << 40, true},
		{"7B", 7, true},
		{" 3 KiB ", 3 << 10, true},
		{"", 0, false},
		{"KiB", 0, false},
		{"-1", 0, false},
		{"1.5G", 0, false},
		{"12XB", 0, false},
		{"9999999999999TiB", 0, false}, // past int64
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
