package s3blob

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestPathResolver checks that the path-style resolver gives what the
// SDK's endpoint rules give, URL and signing, for the requests it
// resolves, and hands the others to the rules.
func TestPathResolver(t *testing.T) {
	const endpoint = "http://127.0.0.1:9000"
	params := func(bucket string, set func(*s3.EndpointParameters)) s3.EndpointParameters {
		p := s3.EndpointParameters{Region: aws.String("us-east-1"), Endpoint: aws.String(endpoint), ForcePathStyle: aws.Bool(true)}
		if bucket != "" {
			p.Bucket = aws.String(bucket)
		}
		if set != nil {
			set(&p)
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		endpoint string
		p        s3.EndpointParameters
		own      bool // resolved without the rules
	}{
		{"bucket", endpoint, params("storagebench-ci", nil), true},
		{"dotted bucket", endpoint, params("my.bucket-1", nil), true},
		{"endpoint with a path", endpoint + "/s3/", params("b12", func(p *s3.EndpointParameters) { p.Endpoint = aws.String(endpoint + "/s3/") }), true},
		{"other region", endpoint, params("b12", func(p *s3.EndpointParameters) { p.Region = aws.String("eu-west-3") }), true},
		{"no bucket", endpoint, params("", nil), false},
		{"uppercase bucket", endpoint, params("Bucket", nil), false},
		{"directory bucket", endpoint, params("data--use1-az4--x-s3", nil), false},
		{"access point ARN", endpoint, params("arn:aws:s3:us-east-1:123456789012:accesspoint/ap", nil), false},
		{"other endpoint", endpoint, params("b12", func(p *s3.EndpointParameters) { p.Endpoint = aws.String("http://localhost:9000") }), false},
		{"virtual-hosted", endpoint, params("b12", func(p *s3.EndpointParameters) { p.ForcePathStyle = aws.Bool(false) }), false},
		{"dual stack", endpoint, params("b12", func(p *s3.EndpointParameters) { p.UseDualStack = aws.Bool(true) }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := newPathResolver(tc.endpoint)
			if !ok {
				t.Fatalf("newPathResolver(%q) refused", tc.endpoint)
			}
			rules := &countingResolver{r: r.rules}
			r.rules = rules
			ctx := context.Background()
			got, gerr := r.ResolveEndpoint(ctx, tc.p)
			want, werr := s3.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, tc.p)
			if (gerr != nil) != (werr != nil) {
				t.Fatalf("error %v, the rules' %v", gerr, werr)
			}
			if gerr != nil {
				return
			}
			if got.URI.String() != want.URI.String() {
				t.Errorf("URI %s, the rules' %s", got.URI.String(), want.URI.String())
			}
			gopts, _ := smithyauth.GetAuthOptions(&got.Properties)
			wopts, _ := smithyauth.GetAuthOptions(&want.Properties)
			if len(gopts) == 0 || len(wopts) == 0 || gopts[0].SchemeID != wopts[0].SchemeID {
				ids := func(o []*smithyauth.Option) (s []string) {
					for _, x := range o {
						s = append(s, x.SchemeID)
					}
					return s
				}
				t.Fatalf("auth schemes %q, the rules' %q", ids(gopts), ids(wopts))
			}
			g, w := &gopts[0].SignerProperties, &wopts[0].SignerProperties
			gn, _ := smithyhttp.GetSigV4SigningName(g)
			wn, _ := smithyhttp.GetSigV4SigningName(w)
			gr, _ := smithyhttp.GetSigV4SigningRegion(g)
			wr, _ := smithyhttp.GetSigV4SigningRegion(w)
			gd, _ := smithyhttp.GetDisableDoubleEncoding(g)
			wd, _ := smithyhttp.GetDisableDoubleEncoding(w)
			if gn != wn || gr != wr || gd != wd {
				t.Errorf("signing %q in %q, double encoding off %v; the rules' %q in %q, %v", gn, gr, gd, wn, wr, wd)
			}
			if own := rules.n == 0; own != tc.own {
				t.Errorf("resolved without the rules: %v, want %v", own, tc.own)
			}
		})
	}
	for _, bad := range []string{"", "127.0.0.1:9000", "ftp://host", "http://user:pw@host", "http://host/?q=1"} {
		if _, ok := newPathResolver(bad); ok {
			t.Errorf("newPathResolver(%q) accepted it", bad)
		}
	}
}

// countingResolver counts the calls to r.
type countingResolver struct {
	r s3.EndpointResolverV2
	n int
}

func (c *countingResolver) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	c.n++
	return c.r.ResolveEndpoint(ctx, p)
}
