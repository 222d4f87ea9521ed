package backfill

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Format is the encoding of a backfill's rows.
type Format string

// The formats a backfill reads.
const (
	// JSONL is JSON Lines: one object a line, {"type": ..., <payload fields>}.
	JSONL Format = "jsonl"
	// CSV has a header row naming the columns ("type" plus payload fields); an empty cell is an
	// absent field.
	CSV Format = "csv"
)

// ParseFormat parses the name of a format, as the --format flag takes it.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "jsonl", "ndjson", "json":
		return JSONL, nil
	case "csv":
		return CSV, nil
	}
	return "", fmt.Errorf("must be jsonl or csv, got %q", s)
}

// FormatOf tells the format from a file name's extension: .jsonl, .ndjson and .json are
// JSONL; .csv is CSV. It reports false for any other name.
func FormatOf(name string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson", ".json":
		return JSONL, true
	case ".csv":
		return CSV, true
	}
	return "", false
}
