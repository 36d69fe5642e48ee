package s3blob

import (
	"context"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// pathResolver resolves the endpoints of a client whose endpoint is one
// URL addressed path-style (MinIO, Ceph, a fake S3 on loopback): that URL
// with the bucket as its path's first segment, signed with SigV4 for
// service "s3" in the request's region, as the SDK's endpoint rules
// resolve it there, but without evaluating the rules, which the SDK does
// twice a request (for the auth scheme, then for the endpoint): 5% of a
// GET's client CPU and 40 of its 490 allocations on loopback. Requests it
// does not know to be that case (no bucket, another endpoint, FIPS, dual
// stack, acceleration, an S3 Express or ARN bucket) go to the rules. Each
// call returns a new Endpoint: the SDK writes into an endpoint's
// properties for every request, so one shared would race.
type pathResolver struct {
	base  url.URL // the endpoint, its path ending in "/"
	raw   string  // the endpoint as configured
	rules s3.EndpointResolverV2
}

// newPathResolver returns the resolver of a client whose endpoint is
// endpoint, addressed path-style, or false when endpoint is not a plain
// http or https URL.
func newPathResolver(endpoint string) (*pathResolver, bool) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, false
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	return &pathResolver{base: *u, raw: endpoint, rules: s3.NewDefaultEndpointResolverV2()}, true
}

// ResolveEndpoint implements [s3.EndpointResolverV2].
func (r *pathResolver) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	if p.Bucket == nil || !plainBucket(*p.Bucket) || aws.ToString(p.Endpoint) != r.raw || !aws.ToBool(p.ForcePathStyle) ||
		aws.ToBool(p.UseFIPS) || aws.ToBool(p.UseDualStack) || aws.ToBool(p.Accelerate) ||
		aws.ToBool(p.UseS3ExpressControlEndpoint) || aws.ToBool(p.UseObjectLambdaEndpoint) || aws.ToString(p.Region) == "" {
		return r.rules.ResolveEndpoint(ctx, p)
	}
	u := r.base
	u.Path += *p.Bucket
	var sp smithy.Properties
	smithyhttp.SetDisableDoubleEncoding(&sp, true)
	smithyhttp.SetSigV4SigningName(&sp, "s3")
	smithyhttp.SetSigV4ASigningName(&sp, "s3")
	smithyhttp.SetSigV4SigningRegion(&sp, *p.Region)
	var props smithy.Properties
	// "sigv4", as the rules name it (not smithyauth.SchemeIDSigV4).
	smithyauth.SetAuthOptions(&props, []*smithyauth.Option{{SchemeID: "sigv4", SignerProperties: sp}})
	return smithyendpoints.Endpoint{URI: u, Properties: props}, nil
}

// plainBucket reports whether bucket is a general-purpose bucket's name
// that needs no escaping in a path: 3 to 63 lowercase letters, digits,
// dots and hyphens, and not a directory bucket's ("--x-s3") or an ARN.
func plainBucket(bucket string) bool {
	if len(bucket) < 3 || len(bucket) > 63 || strings.HasSuffix(bucket, "--x-s3") || strings.HasSuffix(bucket, "--xa-s3") {
		return false
	}
	for _, c := range []byte(bucket) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
