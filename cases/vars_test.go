package cases

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    string // in the error; "" for none
	}{
		{"none", []string{"HOME=/root", "PATH=/bin"}, ""},
		{"known", []string{"STORAGEBENCH_SCRATCH_ROOT=/data", "STORAGEBENCH_WORKERS=2"}, ""},
		{"prefix entry", []string{"STORAGEBENCH_MINIO_ENDPOINT=http://127.0.0.1:9000"}, ""},
		{"misspelled", []string{"STORAGEBENCH_SCRATCH_RO0T=/data"}, "unknown variable STORAGEBENCH_SCRATCH_RO0T: did you mean STORAGEBENCH_SCRATCH_ROOT?"},
		{"singular", []string{"STORAGEBENCH_BACKEND=mem"}, "did you mean STORAGEBENCH_BACKENDS?"},
		{"other prefix ignored", []string{"MY_STORAGEBENCH_X=1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.environ)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestTableIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Variables() {
		if seen[v.Name] {
			t.Errorf("%s is listed twice", v.Name)
		}
		seen[v.Name] = true
		if !strings.HasPrefix(v.Name, Prefix) || v.Meaning == "" || v.Default == "" {
			t.Errorf("variable %+v: want a %s name, a meaning and a default", v, Prefix)
		}
	}
	var md, text strings.Builder
	if err := WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables() {
		if !strings.Contains(md.String(), "`"+v.Name+"`") || !strings.Contains(text.String(), v.Name+"\n") {
			t.Errorf("%s is missing from the rendered tables", v.Name)
		}
	}
}
