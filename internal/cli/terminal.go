package cli

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IsTerminal reports whether w is a terminal, so a command can draw a progress bar there and
// write plain lines anywhere else (a file, a pipe, cron's mail). Writers that are not an
// *os.File, such as a test's buffer, are not terminals.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
