package ride

import (
	"fmt"
	"sort"
	"strings"
)

// Messages are the texts of a ride in one language.
type Messages struct {
	SetOff   string // the driver, on SIGUSR1
	SeatBelt string // the driver, on SIGUSR2
	Arrived  string // the conductor, on SIGUSR1
	Keys     string // the launcher's hint after its ready line
}

// DefaultLang is the language of the course the ride comes from.
const DefaultLang = "zh"

var messages = map[string]Messages{
	"zh": {
		SetOff:   "老司机开车了",
		SeatBelt: "系好安全带，车速有点快",
		Arrived:  "到站了，请下车",
		Keys:     `按 ^C 开车，^\ 加速，^Z 到站`,
	},
	"en": {
		SetOff:   "The old driver sets off",
		SeatBelt: "Fasten your seat belts, we are going a bit fast",
		Arrived:  "We have arrived, please get off",
		Keys:     `press ^C to set off, ^\ to speed up, ^Z to arrive`,
	},
}

// Langs lists the languages there are messages for, sorted.
func Langs() []string {
	l := make([]string, 0, len(messages))
	for k := range messages {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}

// MessagesFor returns the messages for lang.
func MessagesFor(lang string) (Messages, error) {
	m, ok := messages[lang]
	if !ok {
		return Messages{}, fmt.Errorf("unknown language %q (have %s)", lang, strings.Join(Langs(), ", "))
	}
	return m, nil
}
