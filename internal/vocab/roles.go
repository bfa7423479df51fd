package vocab

// The ride's roles, as they head every line, every report and every
// scenario step.
const (
	Driver    = "driver"
	Conductor = "conductor"
	Launcher  = "launcher"
)
