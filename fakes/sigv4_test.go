package fakes

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/storagebench/storagebench/dataset/s3blob"
)

// sigKeys are keys with spaces, non-ASCII characters and a plus, whose
// paths a signature covers as the client escaped them.
var sigKeys = []string{"val/plain.JPEG", "with space/file name.jp", "unicodé/ファイル-ä.JPEG", "a+b/c+d=e.bin"}

// signedFake starts a fake checking signatures against creds, holding
// sigKeys in bucket "sig".
func signedFake(t *testing.T, creds Credentials) *S3 {
	t.Helper()
	f := startS3(t, S3Options{Buckets: []string{"sig"}, Credentials: creds, CheckSignatures: true})
	for _, k := range sigKeys {
		if _, err := f.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("sig"), Key: aws.String(k), Body: strings.NewReader("body of " + k)}); err != nil {
			t.Fatalf("put %q signed with the right keys: %v", k, err)
		}
	}
	return f
}

// clientWith returns a client of f signing with other keys.
func clientWith(t *testing.T, f *S3, id, secret string) *s3.Client {
	t.Helper()
	cfg := f.Config("sig")
	cfg.AccessKeyID, cfg.SecretAccessKey = id, secret
	c, err := s3blob.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// code returns the S3 error code of err, "" for none.
func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// TestSignatures reads and lists through clients signing with the right
// keys, a wrong secret and an unknown key id: the right keys read every
// key (spaces, non-ASCII, a plus) and list with a query; the others are
// refused with S3's codes, before any fault or object is reached.
func TestSignatures(t *testing.T) {
	creds := Credentials{AccessKeyID: "AKIDSTORAGEBENCH", SecretAccessKey: "the-secret"}
	f := signedFake(t, creds)
	ctx := context.Background()
	for _, tc := range []struct {
		name, id, secret, want string
	}{
		{"right keys", creds.AccessKeyID, creds.SecretAccessKey, ""},
		{"wrong secret", creds.AccessKeyID, "not-the-secret", "SignatureDoesNotMatch"},
		{"unknown key id", "AKIDSOMEONEELSE", creds.SecretAccessKey, "InvalidAccessKeyId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clientWith(t, f, tc.id, tc.secret)
			for _, k := range sigKeys {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sig"), Key: aws.String(k)})
				if got := code(err); got != tc.want || tc.want != "" && err == nil {
					t.Fatalf("get %q: error %v (code %q), want code %q", k, err, got, tc.want)
				}
				if err == nil {
					data, _ := io.ReadAll(out.Body)
					out.Body.Close()
					if string(data) != "body of "+k {
						t.Errorf("get %q: %q", k, data)
					}
				}
			}
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sig"), Prefix: aws.String("with space/"), StartAfter: aws.String("a+b c")})
			if got := code(err); got != tc.want {
				t.Errorf("list: error %v, want code %q", err, tc.want)
			}
		})
	}
}

// TestSignaturesAnonymousAndPresigned checks an unsigned GET (refused:
// AccessDenied), a presigned URL (served; refused when its path is
// changed, once it has expired, or from a request too far from the
// server's clock), as a browser or curl would send them.
func TestSignaturesAnonymousAndPresigned(t *testing.T) {
	f := signedFake(t, FakeCredentials)
	ctx := context.Background()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := get(f.URL + "/sig/val/plain.JPEG"); status != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Errorf("anonymous GET: %d %s, want 403 AccessDenied", status, body)
	}
	presign := s3.NewPresignClient(f.Client)
	for _, k := range sigKeys {
		req, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sig"), Key: aws.String(k)}, s3.WithPresignExpires(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if status, body := get(req.URL); status != http.StatusOK || body != "body of "+k {
			t.Errorf("presigned GET of %q: %d %q", k, status, body)
		}
	}
	req, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sig"), Key: aws.String("val/plain.JPEG")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(strings.Replace(req.URL, "/val/plain.JPEG", "/with%20space/file%20name.jp", 1)); status != http.StatusForbidden || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Errorf("presigned URL for another key: %d %s, want 403 SignatureDoesNotMatch", status, body)
	}
	for _, tc := range []struct {
		name string
		skew time.Duration
		url  string
		want string
	}{
		{"expired", 2 * time.Minute, req.URL, "Request has expired"},
		{"skewed", 20 * time.Minute, "", "RequestTimeTooSkewed"},
	} {
		f.auth.skew.Store(int64(tc.skew))
		if tc.url != "" {
			if status, body := get(tc.url); status != http.StatusForbidden || !strings.Contains(body, tc.want) {
				t.Errorf("%s: %d %s, want 403 %s", tc.name, status, body, tc.want)
			}
			continue
		}
		_, err := f.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sig"), Key: aws.String("val/plain.JPEG")})
		var resp interface{ HTTPStatusCode() int }
		if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusForbidden {
			t.Errorf("%s HEAD: %v, want 403", tc.name, err)
		}
		if _, err := f.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sig"), Key: aws.String("val/plain.JPEG")}); code(err) != tc.want {
			t.Errorf("%s GET: %v, want %s", tc.name, err, tc.want)
		}
	}
	f.auth.skew.Store(0)
}

// TestSignaturesOff checks that a fake not asked to check signatures
// serves an anonymous request, as before.
func TestSignaturesOff(t *testing.T) {
	f := startS3(t, S3Options{Buckets: []string{"open"}})
	if _, err := f.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("open"), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.URL + "/open/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous GET of a fake that checks nothing: %d", resp.StatusCode)
	}
}

// boto3Script reads a key with boto3 as a PyTorch user's script would,
// printing the body's length, or the error code S3 answered.
const boto3Script = `
import sys, boto3, botocore
endpoint, key_id, secret, key = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret,
                  region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
try:
    print(len(s3.get_object(Bucket="sig", Key=key)["Body"].read()))
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
`

// TestSignaturesBoto3 signs with boto3 (Debian's python3-boto3, which
// .ci/run installs): the right keys read every key; a wrong secret and an
// unknown key id are refused with S3's codes.
func TestSignaturesBoto3(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Skipf("no boto3 for %s (apt-get install python3-boto3): %v", python, err)
	}
	f := signedFake(t, FakeCredentials)
	script := t.TempDir() + "/get.py"
	if err := os.WriteFile(script, []byte(boto3Script), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(id, secret, key string) string {
		out, err := exec.Command(python, script, f.URL, id, secret, key).CombinedOutput()
		if err != nil {
			t.Fatalf("boto3: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, k := range sigKeys {
		if got, want := run(FakeAccessKeyID, FakeSecretAccessKey, k), len("body of "+k); got != strconv.Itoa(want) {
			t.Errorf("boto3 get %q with the right keys: %s, want %d bytes", k, got, want)
		}
	}
	if got := run(FakeAccessKeyID, "wrong", sigKeys[0]); got != "SignatureDoesNotMatch" {
		t.Errorf("boto3 with a wrong secret: %s, want SignatureDoesNotMatch", got)
	}
	if got := run("AKIDNOBODY", FakeSecretAccessKey, sigKeys[0]); got != "InvalidAccessKeyId" {
		t.Errorf("boto3 with an unknown key id: %s, want InvalidAccessKeyId", got)
	}
}
