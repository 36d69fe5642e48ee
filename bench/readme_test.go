package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/cases"
	"github.com/storagebench/storagebench/results"
)

// The README is part of the interface: these tests keep what it says about
// the environment, the Go version and benchstat true.

// readme returns the repository's README.
func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestReadmeVariables checks that the README's table of environment
// variables is the one package cases renders, and that it shows the
// patterns of benchmark names that the table gives.
func TestReadmeVariables(t *testing.T) {
	var want bytes.Buffer
	if err := cases.WriteMarkdown(&want); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readme(t), want.String()) {
		t.Errorf("README.md does not hold the table of variables; paste this:\n%s", want.String())
	}
	for _, b := range []string{results.Raw, results.Load, results.Train} {
		if p := cases.Pattern(b); !strings.Contains(readme(t), "\n"+p+"\n") {
			t.Errorf("README.md does not show the names of %s: %s", b, p)
		}
	}
}

// TestReadmeGoVersion checks that the Go version the README asks for is
// go.mod's.
func TestReadmeGoVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "Go " + string(m[1]) + " or later"; !strings.Contains(readme(t), want) {
		t.Errorf("README.md does not say %q", want)
	}
}

// TestReadmeBenchstat runs every benchstat command of the README on the
// results files checked in under testdata/readme, named as the README
// names them, and checks that each prints a table with no warning that
// the benchmarks in a cell vary.
func TestReadmeBenchstat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs benchstat")
	}
	var cmds []string
	for _, line := range strings.Split(readme(t), "\n") {
		if strings.HasPrefix(line, "go tool benchstat ") {
			if i := strings.Index(line, "  #"); i >= 0 {
				line = line[:i]
			}
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	if len(cmds) < 4 {
		t.Fatalf("found %d benchstat commands in README.md, want at least 4", len(cmds))
	}
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, c := range cmds {
		t.Run(c, func(t *testing.T) {
			args, err := shellWords(strings.TrimPrefix(c, "go "))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(goCmd, args...)
			cmd.Dir = filepath.Join("testdata", "readme")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s%s", c, err, stdout.String(), stderr.String())
			}
			out := stdout.String() + stderr.String()
			if strings.Contains(out, "vary in") {
				t.Errorf("%s warns that benchmarks vary:\n%s", c, out)
			}
			if !strings.Contains(out, "│") {
				t.Errorf("%s printed no table:\n%s", c, out)
			}
		})
	}
}

// shellWords splits s as a POSIX shell splits a simple command line with
// single-quoted words.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated single quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// TestReadmeImages checks that every image the README shows is in the
// repository.
func TestReadmeImages(t *testing.T) {
	images := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(readme(t), -1)
	if len(images) == 0 {
		t.Fatal("README.md shows no figures")
	}
	for _, m := range images {
		if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("README.md shows %s: %v", m[1], err)
		}
	}
}
