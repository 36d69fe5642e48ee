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
		name, body string
		want       string // in the error; "" for success
		pos        string // "line:col" the error names after the file; "" for none
		profile    string // the Profile of a successful load
	}{
		{name: "seed format", body: `{"aws_access_key_id": "AKID", "aws_secret_access_key": "` + secret + `", "bucket_name": "iarai-playground", "index_file_download_url": "s3://iarai-playground/scratch/imagenet/index-s3-val.json"}`},
		{name: "with endpoint", body: `{"bucket_name": "b", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1", "use_path_style": true}`},
		{name: "with profile", body: `{"bucket_name": "b", "endpoint_url": "http://127.0.0.1:9000", "profile": "s3"}`, profile: "s3"},
		{name: "keys in another case", body: `{"Bucket_Name": "b", "PROFILE": "nvme"}`, profile: "nvme"},
		{name: "not JSON", body: `{"bucket_name": `, want: "unexpected EOF", pos: "1:17"},
		{name: "ends early", body: "{\n  \"bucket_name\": \"b\",\n", want: "unexpected EOF", pos: "3:1"},
		{name: "empty file", body: "", want: "unexpected EOF", pos: "1:1"},
		{name: "syntax error", body: "{\n  \"bucket_name\": \"b\",\n  \"region\": eu-west-1\n}", want: "invalid character", pos: "3:13"},
		{name: "trailing comma", body: `{"bucket_name": "b",}`, want: "invalid character", pos: "1:21"},
		{name: "two commas", body: `{"bucket_name": "b",,}`, want: "invalid character ','", pos: "1:21"},
		{name: "colon for a value", body: `{"bucket_name": :}`, want: "invalid character ':'", pos: "1:17"},
		{name: "newline in a string", body: "{\"bucket_name\": \"b\n\"}", want: `invalid character '\n' in string literal`, pos: "1:19"},
		{name: "syntax error past 4 KiB", body: "{\"region\": \"" + strings.Repeat("r", 5000) + "\",\n\"bucket_name\": \"b\" \"x\"}", want: "invalid character", pos: "2:20"},
		{name: "data after the object", body: "{\"bucket_name\": \"b\"}\n {\"bucket_name\": \"c\"}", want: "data after the configuration object", pos: "2:2"},
		{name: "unknown field", body: `{"bucket_name": "b", "bucket": "x"}`, want: `unknown field "bucket"`, pos: "1:22"},
		{name: "unknown field after a known one in another case", body: "{\n\t\"Bucket_Name\": \"b\",\n\t\"endpoint\": \"http://x\"\n}", want: `unknown field "endpoint"`, pos: "3:2"},
		{name: "misspelt secret key", body: "{\"bucket_name\": \"b\",\n  \"aws_secret_acess_key\": \"" + secret + "\"}", want: `unknown field "aws_secret_acess_key"`, pos: "2:3"},
		{name: "no bucket", body: `{"aws_access_key_id": "AKID", "aws_secret_access_key": "` + secret + `"}`, want: "bucket_name is missing"},
		{name: "key without secret", body: `{"bucket_name": "b", "aws_access_key_id": "AKID"}`, want: "must be given together"},
		{name: "bad endpoint", body: `{"bucket_name": "b", "endpoint_url": "localhost:9000"}`, want: "not an http(s) URL"},
		{name: "bad index url", body: `{"bucket_name": "b", "index_file_download_url": "https://x/y"}`, want: "index_file_download_url"},
		{name: "wrong type", body: `{"bucket_name": "b", "aws_secret_access_key": 12345}`, want: "cannot unmarshal", pos: "1:47"},
		{name: "wrong type on line 3", body: "{\n  \"bucket_name\": \"b\",\n  \"aws_secret_access_key\": 12345\n}", want: "cannot unmarshal", pos: "3:28"},
		{name: "secret in an array", body: "{\"bucket_name\": \"b\",\n\"aws_secret_access_key\": [\"" + secret + "\"]}", want: "cannot unmarshal array", pos: "2:26"},
		{name: "wrong type, key repeated", body: `{"use_path_style": true, "use_path_style": "yes"}`, want: "cannot unmarshal string", pos: "1:44"},
		{name: "not an object", body: "\n  [1, 2]", want: "cannot unmarshal array", pos: "2:3"},
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
				if c.Profile != tc.profile {
					t.Errorf("LoadConfig().Profile = %q, want %q", c.Profile, tc.profile)
				}
				return
			}
			where := path + ": "
			if tc.pos != "" {
				where = path + ":" + tc.pos + ": "
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), where) {
				t.Fatalf("LoadConfig = %+v, %v; want an error naming %q and containing %q", c, err, where, tc.want)
			}
			// Past the path, whose random temporary folder may hold any digits.
			if msg := strings.Replace(err.Error(), path, "", 1); strings.Contains(msg, secret) || strings.Contains(msg, "12345") {
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
