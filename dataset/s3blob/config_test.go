package s3blob_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/dataset/s3blob"
)

const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"seed format", `{"aws_access_key_id": "AKID", "aws_secret_access_key": "` + secret + `", "bucket_name": "iarai-playground", "index_file_download_url": "s3://iarai-playground/scratch/imagenet/index-s3-val.json"}`, ""},
		{"with endpoint", `{"bucket_name": "b", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1", "use_path_style": true}`, ""},
		{"not JSON", `{"bucket_name": `, "unexpected EOF"},
		{"unknown field", `{"bucket_name": "b", "bucket": "x"}`, `unknown field "bucket"`},
		{"no bucket", `{"aws_access_key_id": "AKID", "aws_secret_access_key": "` + secret + `"}`, "bucket_name is missing"},
		{"key without secret", `{"bucket_name": "b", "aws_access_key_id": "AKID"}`, "must be given together"},
		{"bad endpoint", `{"bucket_name": "b", "endpoint_url": "localhost:9000"}`, "not an http(s) URL"},
		{"bad index url", `{"bucket_name": "b", "index_file_download_url": "https://x/y"}`, "index_file_download_url"},
		{"wrong type", `{"bucket_name": "b", "aws_secret_access_key": 12345}`, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s3_dataset_configuration.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := s3blob.LoadConfig(path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("LoadConfig = %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadConfig = %+v, %v; want an error naming %s and containing %q", c, err, path, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "12345") {
				t.Errorf("LoadConfig error %q shows the secret", err)
			}
		})
	}
	if _, err := s3blob.LoadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("LoadConfig(missing) = %v, want an error naming the file", err)
	}
}

func TestConfigNeverShowsSecret(t *testing.T) {
	c := s3blob.Config{AccessKeyID: "AKID", SecretAccessKey: secret, SessionToken: "token-secret", Bucket: "b"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, secret) || strings.Contains(out, "token-secret") {
			t.Errorf("Sprintf(%q, config) = %s, shows a secret", verb, out)
		}
		if !strings.Contains(out, "AKID") {
			t.Errorf("Sprintf(%q, config) = %s, want the access key id shown", verb, out)
		}
	}
	if out := fmt.Sprintf("%v", &c); strings.Contains(out, secret) {
		t.Errorf("Sprintf(%%v, &config) = %s, shows the secret", out)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, key string
		ok              bool
	}{
		{"s3://iarai-playground/scratch/imagenet/index-s3-val.json", "iarai-playground", "scratch/imagenet/index-s3-val.json", true},
		{"s3://bucket", "bucket", "", true},
		{"s3:///key", "", "", false},
		{"https://bucket/key", "", "", false},
	} {
		b, k, err := s3blob.ParseURL(tc.in)
		if (err == nil) != tc.ok || b != tc.bucket || k != tc.key {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.in, b, k, err, tc.bucket, tc.key, tc.ok)
		}
	}
}
