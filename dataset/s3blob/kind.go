package s3blob

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/storagebench/storagebench/dataset"
)

// ErrorKind implements [dataset.Classifier]: it maps S3's answers, as the
// SDK reports them, and the failures of the path to S3 to portable kinds.
//
//   - The end of the operation's context is [dataset.KindCanceled]; a
//     network timeout is not (below).
//   - A missing key (404, NoSuchKey, or a HEAD's NotFound) is
//     [dataset.KindNotFound]; a missing bucket (NoSuchBucket) is
//     [dataset.KindPermanent].
//   - Throttling is [dataset.KindThrottled]: 503 (SlowDown, S3's answer
//     over a prefix's request rate), 429, and the error codes the SDK's
//     retryer takes for throttling ([retry.DefaultThrottleErrorCodes]:
//     Throttling, ThrottlingException, RequestLimitExceeded, ...).
//   - Other server errors (5xx), 408 Request Timeout and the codes the
//     SDK retries (RequestTimeout), and failures of the connection (reset,
//     refused, timed out, dropped: a body cut short, io.ErrUnexpectedEOF) are
//     [dataset.KindTransient].
//   - A refused range (416, InvalidRange, [dataset.ErrInvalidRange]) and
//     other client errors (4xx: AccessDenied, InvalidArgument, a refused
//     signature, ...) are [dataset.KindPermanent].
//
// Any other error is [dataset.KindUnknown].
func (b *Backend) ErrorKind(err error) dataset.ErrorKind { return errorKind(err) }

// errorKind is [Backend.ErrorKind].
func errorKind(err error) dataset.ErrorKind {
	if err == nil {
		return dataset.KindUnknown
	}
	// A network timeout (a dial or a read that timed out) is a failure of
	// the connection, though Go's net errors match
	// context.DeadlineExceeded: the end of the caller's context is told
	// apart before any backend classifies (see [dataset.Store.Read]).
	// (context.DeadlineExceeded is itself a net.Error: it is not one.)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && error(ne) != context.DeadlineExceeded {
		return dataset.KindTransient
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return dataset.KindCanceled
	}
	var code string
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	status := 0
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	if code != "" || status != 0 {
		return answerKind(err, code, status)
	}
	if errors.Is(err, dataset.ErrNotFound) {
		return dataset.KindNotFound
	}
	if errors.Is(err, dataset.ErrInvalidRange) {
		return dataset.KindPermanent
	}
	if connectionFailure(err) {
		return dataset.KindTransient
	}
	return dataset.KindUnknown
}

// connectionFailure reports whether err is a failure of the connection to
// S3: one the SDK's retryer takes for it (reset, refused, a dial or a
// network timeout), or a body cut short.
func connectionFailure(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

// answerKind returns the kind of err, an answer of S3 with the error code
// code (or "") and the HTTP status status (or 0).
func answerKind(err error, code string, status int) dataset.ErrorKind {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	_, throttling := retry.DefaultThrottleErrorCodes[code]
	_, retryable := retry.DefaultRetryableErrorCodes[code]
	switch {
	case code == "NoSuchBucket" || code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable:
		return dataset.KindPermanent
	case errors.As(err, &nsk) || errors.As(err, &nf) || code == "NoSuchKey" || status == http.StatusNotFound:
		return dataset.KindNotFound
	case throttling || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		return dataset.KindThrottled
	case retryable || status >= 500 || status == http.StatusRequestTimeout:
		return dataset.KindTransient
	case status >= 400:
		return dataset.KindPermanent
	}
	// A code with no status: an answer the SDK could not read whole, or a
	// modelled error it made up without one.
	if connectionFailure(err) {
		return dataset.KindTransient
	}
	return dataset.KindUnknown
}
