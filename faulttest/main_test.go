package faulttest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir holds the binaries built for this run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	removeStaleBinDirs()
	dir, err := os.MkdirTemp("", "ovqueue-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// removeStaleBinDirs removes the binary directories of runs that were killed before TestMain
// could (a -timeout panic, a kill): those a day old, so that a run going on beside this one
// keeps its own.
func removeStaleBinDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "ovqueue-faulttest-*"))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(d)
		}
	}
}

// Each binary is built once, on first use, so that a run that skips builds nothing.
var (
	buildWorker  = sync.OnceValues(func() (string, error) { return build("worker") })
	buildEnqueue = sync.OnceValues(func() (string, error) { return build("enqueue") })
)

// workerBinary returns the path of the cmd/worker binary, built for this run.
func workerBinary(t *testing.T) string {
	t.Helper()
	path, err := buildWorker()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// enqueueBinary returns the path of the cmd/enqueue binary. While cmd/enqueue does not build,
// tests that need it skip, or fail in CI (where the build failure fails the run anyway).
func enqueueBinary(t *testing.T) string {
	t.Helper()
	path, err := buildEnqueue()
	if err != nil {
		skipOrFail(t, "the enqueue CLI is not available: %v", err)
	}
	return path
}

// build compiles ./cmd/<name> of this module, with the race detector when the tests run
// with it.
func build(name string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build %s: the go command is not on PATH: %w", name, err)
	}
	out := filepath.Join(binDir, name)
	args := []string{"build", "-o", out}
	if raceBuild {
		args = append(args, "-race")
	}
	args = append(args, "github.com/ovqueue/ovqueue/cmd/"+name)
	statSources()
	cmd := exec.Command(goTool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// statSources looks at every Go source of the module. go test caches a passing run and reuses
// it while the package and the files the test looked at are unchanged; the binaries are built
// by a go build of their own, which it cannot see, so without this a change to the worker
// would be "tested" by a cached pass.
func statSources() {
	_ = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if n := d.Name(); !d.IsDir() && (strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum") {
			_, _ = os.Stat(path)
		}
		return nil
	})
}

// inCI reports whether the tests run in CI, where a missing prerequisite is a failure.
func inCI() bool { return os.Getenv("CI") == "true" }

// skipOrFail skips the test, or fails it in CI.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format+" (CI=true: failing instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}
