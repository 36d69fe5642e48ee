package s3blob_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/storagebench/storagebench/dataset/s3blob"
)

// fuzzSecret is the secret key of FuzzLoadConfig's seeds, recognisable
// in an error.
const fuzzSecret = "SECRET-fuzz-123"

// FuzzLoadConfig checks, for any file content, that LoadConfig either
// returns a configuration that passes Validate, survives json.Marshal and
// LoadConfig unchanged, agrees with json.Unmarshal, and prints without its
// secrets; or fails with an error that names the file, and the line and
// column when the file is not valid JSON, and that does not depend on the
// value of aws_secret_access_key: the same input with every such value
// replaced by x's of the same length gives the same error, so the error
// can never show the secret.
func FuzzLoadConfig(f *testing.F) {
	for _, body := range []string{
		`{"aws_access_key_id": "AKID", "aws_secret_access_key": "` + fuzzSecret + `", "bucket_name": "iarai-playground", "index_file_download_url": "s3://iarai-playground/scratch/imagenet/index-s3-val.json"}`,
		`{"aws_access_key_id": "AKID", "aws_secret_access_key": "` + fuzzSecret + `", "aws_session_token": "tok", "bucket_name": "b", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1", "use_path_style": true, "profile": "s3"}`,
		`{"Bucket_Name": "b", "PROFILE": "nvme", "AWS_SECRET_ACCESS_KEY": "` + fuzzSecret + `", "aws_access_key_id": "AKID"}`,
		`{"bucket_name": "b", "aws_secret_access_key": "SECRET-fuzz-\u0031\u00323", "aws_access_key_id": "AKID"}`,
		`{"bucket_name": `,
		"{\n  \"bucket_name\": \"b\",\n",
		``,
		"{\n  \"bucket_name\": \"b\",\n  \"region\": eu-west-1\n}",
		`{"bucket_name": "b",}`,
		"{\"bucket_name\": \"b\"}\n {\"bucket_name\": \"c\"}",
		`{"bucket_name": "b", "bucket": "x"}`,
		"{\"bucket_name\": \"b\",\n  \"aws_secret_acess_key\": \"" + fuzzSecret + "\"}",
		`{"aws_access_key_id": "AKID", "aws_secret_access_key": "` + fuzzSecret + `"}`,
		`{"bucket_name": "b", "aws_secret_access_key": "` + fuzzSecret + `"}`,
		`{"bucket_name": "b", "aws_secret_access_key": "` + fuzzSecret + `", "aws_access_key_id": "AKID", "endpoint_url": "localhost:9000"}`,
		`{"bucket_name": "b", "aws_secret_access_key": "` + fuzzSecret + `", "aws_access_key_id": "AKID", "index_file_download_url": "https://x/y"}`,
		`{"bucket_name": "b", "aws_secret_access_key": 12345}`,
		"{\"bucket_name\": \"b\",\n\"aws_secret_access_key\": [\"" + fuzzSecret + "\"]}",
		`{"bucket_name": "b", "aws_secret_access_key": {"x": "` + fuzzSecret + `"}}`,
		`{"aws_secret_access_key": "` + fuzzSecret + `", "aws_secret_access_key": "` + fuzzSecret + `", "bucket_name": 7}`,
		`{"aws_secret_access_key": "` + fuzzSecret + `", "use_path_style": "` + fuzzSecret + `"}`,
		`{"aws_secret_access_key": "` + fuzzSecret + "\x01" + `"}`,
		`{"aws_secret_access_key": "` + fuzzSecret + `\q"}`,
		"\n  [1, 2]",
	} {
		f.Add([]byte(body))
	}
	// One file for every input: a fuzzing process runs them one at a time.
	path := filepath.Join(f.TempDir(), "s3.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := loadConfigBytes(t, path, data)
		blanked, secrets := blankSecrets(data)
		c2, err2 := loadConfigBytes(t, path, blanked)
		if err == nil {
			checkConfig(t, path, data, c)
			if err2 != nil {
				t.Fatalf("LoadConfig(%q) succeeds, but fails with the secret replaced: %v", data, err2)
			}
			c.SecretAccessKey = c2.SecretAccessKey
			if c != c2 {
				t.Fatalf("LoadConfig(%q) = %v, but %v with the secret replaced", data, c, c2)
			}
			return
		}
		msg := err.Error()
		checkConfigErrorPosition(t, path, data, msg)
		if bytes.Contains(secrets, []byte(fuzzSecret)) && !bytes.Contains(blanked, []byte(fuzzSecret)) && strings.Contains(msg, fuzzSecret) {
			t.Fatalf("LoadConfig(%q) error %q shows the secret", data, msg)
		}
		if err2 == nil || err2.Error() != msg {
			t.Fatalf("LoadConfig error depends on the secret's value:\ninput %q: %v\ninput %q: %v", data, err, blanked, err2)
		}
	})
}

// loadConfigBytes writes data to path and loads it. It writes a new file
// rather than truncate the old one, which some file systems flush to disk
// on close, hundreds of times slower.
func loadConfigBytes(t *testing.T, path string, data []byte) (s3blob.Config, error) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return s3blob.LoadConfig(path)
}

// checkConfig checks c, which LoadConfig loaded from data at path.
func checkConfig(t *testing.T, path string, data []byte, c s3blob.Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("LoadConfig(%q) = %v, which Validate refuses: %v", data, c, err)
	}
	var u s3blob.Config
	if err := json.Unmarshal(data, &u); err != nil || u != c {
		t.Fatalf("LoadConfig(%q) = %v, but json.Unmarshal gives %v, %v", data, c, u, err)
	}
	enc, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := loadConfigBytes(t, path, enc); err != nil || again != c {
		t.Fatalf("LoadConfig(json.Marshal(%v)) = %v, %v; want it unchanged", c, again, err)
	}
	// Printing depends on whether there are secrets, never on what they are.
	other := c
	if other.SecretAccessKey != "" {
		other.SecretAccessKey = "other secret"
	}
	if other.SessionToken != "" {
		other.SessionToken = "other token"
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if got, want := fmt.Sprintf(verb, c), fmt.Sprintf(verb, other); got != want {
			t.Fatalf("Sprintf(%q) of a config shows its secrets: %s, and %s with others", verb, got, want)
		}
	}
}

// configErrorPos matches the "line:col: " that follows the file name in a
// LoadConfig error that gives a position.
var configErrorPos = regexp.MustCompile(`^:([0-9]+):([0-9]+): `)

// checkConfigErrorPosition checks that msg, LoadConfig's error for data at
// path, names the file, and a line and column within data when it gives
// one, which it must for a file that is not valid JSON.
func checkConfigErrorPosition(t *testing.T, path string, data []byte, msg string) {
	t.Helper()
	rest, ok := strings.CutPrefix(msg, "s3 config "+path)
	if !ok {
		t.Fatalf("LoadConfig(%q) error %q does not start with %q", data, msg, "s3 config "+path)
	}
	m := configErrorPos.FindStringSubmatch(rest)
	if m == nil {
		if !json.Valid(data) {
			t.Fatalf("LoadConfig(%q) error %q gives no line:col for invalid JSON", data, msg)
		}
		if !strings.HasPrefix(rest, ": ") {
			t.Fatalf("LoadConfig(%q) error %q: want \": \" or \":line:col: \" after the file name", data, msg)
		}
		return
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) || col < 1 || col > len(lines[line-1])+1 {
		t.Fatalf("LoadConfig(%q) error %q names %d:%d, outside the file", data, msg, line, col)
	}
}

// secretKey is the member of a configuration file that holds the secret.
const secretKey = "aws_secret_access_key"

// blankSecrets returns a copy of data in which every string value of a
// member named aws_secret_access_key (in any case, at any depth, as far as
// data is valid JSON) is replaced by as many x's as it has bytes between
// its quotes, and those values, raw, one after the other.
func blankSecrets(data []byte) (blanked, secrets []byte) {
	blanked = bytes.Clone(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object  bool
		wantKey bool   // an object's next string is a member name
		name    string // an object's current member name
	}
	var stack []frame
	// value records that a value ended: in an object, a name comes next.
	value := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return blanked, secrets
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				value()
			}
		case string:
			top := len(stack) - 1
			if top >= 0 && stack[top].object && stack[top].wantKey {
				stack[top].name, stack[top].wantKey = tok, false
				continue
			}
			if top >= 0 && stack[top].object && strings.EqualFold(stack[top].name, secretKey) {
				start := before + int64(bytes.IndexByte(data[before:], '"'))
				end := dec.InputOffset()
				secrets = append(secrets, data[start+1:end-1]...)
				for i := start + 1; i < end-1; i++ {
					blanked[i] = 'x'
				}
			}
			value()
		default:
			value()
		}
	}
}

func TestBlankSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, secrets string
	}{
		{"top level", `{"aws_secret_access_key": "abc", "b": "abc"}`, `{"aws_secret_access_key": "xxx", "b": "abc"}`, "abc"},
		{"any case, repeated, escaped", `{"AWS_Secret_Access_Key":"a\"b","aws_secret_access_key":"c"}`, `{"AWS_Secret_Access_Key":"xxxx","aws_secret_access_key":"x"}`, `a\"bc`},
		{"nested, after an array", `[{"k": [1, {}], "aws_secret_access_key": "s"}]`, `[{"k": [1, {}], "aws_secret_access_key": "x"}]`, "s"},
		{"a name, not a value", `{"x": "aws_secret_access_key", "aws_secret_access_key": 1}`, `{"x": "aws_secret_access_key", "aws_secret_access_key": 1}`, ""},
		{"until a syntax error", `{"aws_secret_access_key": "s", x "aws_secret_access_key": "t"}`, `{"aws_secret_access_key": "x", x "aws_secret_access_key": "t"}`, "s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, secrets := blankSecrets([]byte(tc.in))
			if string(got) != tc.want || string(secrets) != tc.secrets {
				t.Errorf("blankSecrets(%q) = %q, %q; want %q, %q", tc.in, got, secrets, tc.want, tc.secrets)
			}
		})
	}
}
