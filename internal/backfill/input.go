package backfill

import (
	"errors"
	"io"
	"os"
)

// StdinName is how rows read from standard input are named in messages ("stdin:12: ...").
const StdinName = "stdin"

// Input is a backfill's rows: a file, or standard input. It is read once, by the validation
// pass; the enqueue pass reads the tasks that pass built.
type Input struct {
	name string // for messages: the path as given, or StdinName
	r    io.Reader
	c    io.Closer // nil for stdin, which is not ours to close
	size int64     // -1 when unknown
}

// OpenInput opens the file at path; "-" is stdin.
func OpenInput(path string, stdin io.Reader) (*Input, error) {
	if path == "-" {
		return &Input{name: StdinName, r: stdin, size: -1}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError: "open rows.csv: no such file or directory"
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if fi.IsDir() {
		_ = f.Close()
		return nil, errors.New("is a directory")
	}
	size := int64(-1)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return &Input{name: path, r: f, c: f, size: size}, nil
}

// Name is the input's name in messages: the path as given, or "stdin".
func (in *Input) Name() string { return in.name }

// Size is the input's size in bytes, or -1 when it is not known (standard input, a pipe).
func (in *Input) Size() int64 { return in.size }

// Close closes the file.
func (in *Input) Close() error {
	if in.c == nil {
		return nil
	}
	return in.c.Close()
}
