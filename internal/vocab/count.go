package vocab

import "strconv"

// Count says n of a noun that takes an s in the plural, the way every
// message a user reads does: "1 worker", "0 workers", "2 workers".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
