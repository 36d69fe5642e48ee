package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		set     map[string]string
		want    string // in stdout
		wantErr string // in the error; "" for none
	}{
		{"text", nil, nil, "STORAGEBENCH_WORKERS\n    loader workers", ""},
		{"markdown", []string{"-markdown"}, nil, "| `STORAGEBENCH_WORKERS` | loader workers", ""},
		{"typo", nil, map[string]string{"STORAGEBENCH_WORKER": "2"}, "STORAGEBENCH_WORKERS", "unknown variable STORAGEBENCH_WORKER: did you mean STORAGEBENCH_WORKERS?"},
		{"argument", []string{"x"}, nil, "", "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.set {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), &stdout, &stderr, append([]string{"env"}, tc.args...))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("env %q = %v, want error %q", tc.args, err, tc.wantErr)
			}
			if !strings.Contains(stdout.String(), tc.want) {
				t.Errorf("env %q printed:\n%s\nwant it to contain %q", tc.args, stdout.String(), tc.want)
			}
		})
	}
}
