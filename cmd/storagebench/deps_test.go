package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestNoTestingInBinary checks that the command does not link package
// testing, which would come with its flags and its weight: test helpers
// belong in ...test packages (fakes/fakestest, dataset/datasettest) that
// only tests import. It runs "go list -deps" on this package, so it needs
// the go command on PATH.
func TestNoTestingInBinary(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goCmd, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -deps .: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps .: %v", err)
	}
	linked := false
	var importers []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "testing" {
			linked = true
		}
		for _, imp := range fields[1:] {
			if imp == "testing" {
				importers = append(importers, fields[0])
			}
		}
	}
	if linked || len(importers) > 0 {
		t.Errorf("the storagebench binary links package testing, imported by %q; move test helpers to a ...test package", importers)
	}
}
