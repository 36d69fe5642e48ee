package reqlog

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Doer sends HTTP requests, as http.Client does and as the AWS SDK's
// HTTP client interface asks.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client returns a Doer that sends each request through next and writes
// it to w once its response body is read to its end or closed, or the
// request failed. op names a request's operation (for the AWS SDK, from
// the request's context); nil names it by its method.
func Client(next Doer, w *Writer, op func(*http.Request) string) Doer {
	return &client{next: next, w: w, op: op}
}

type client struct {
	next Doer
	w    *Writer
	op   func(*http.Request) string
}

func (c *client) Do(req *http.Request) (*http.Response, error) {
	rec := Record{Op: req.Method, Key: strings.TrimPrefix(req.URL.Path, "/"), Attempt: SDKAttempt(req.Header.Get("Amz-Sdk-Request"))}
	if c.op != nil {
		if op := c.op(req); op != "" {
			rec.Op = op
		}
	}
	var mu sync.Mutex // the trace's hooks may run on the transport's goroutines
	conn := ""
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		conn = info.Conn.LocalAddr().String()
		mu.Unlock()
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	rec.Start = time.Now()
	resp, err := c.next.Do(req)
	now := time.Now()
	mu.Lock()
	rec.Conn = conn
	mu.Unlock()
	if err != nil {
		rec.Total, rec.Status = now.Sub(rec.Start), failure(req.Context(), err)
		c.w.Write(rec) // a log's failure is the Writer's, reported by Close
		return resp, err
	}
	rec.FirstByte, rec.Status = now.Sub(rec.Start), strconv.Itoa(resp.StatusCode)
	resp.Body = &body{ReadCloser: resp.Body, rec: rec, w: c.w, ctx: req.Context()}
	return resp, nil
}

// failure names a request's failure: canceled when its context ended it.
func failure(ctx context.Context, err error) string {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return "error"
}

// body counts a response body's bytes and writes its record once, at its
// end or when it is closed.
type body struct {
	io.ReadCloser
	rec  Record
	w    *Writer
	ctx  context.Context
	once sync.Once
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.rec.Bytes += int64(n)
	if err == io.EOF {
		b.finish("")
	} else if err != nil {
		b.finish(failure(b.ctx, err))
	}
	return n, err
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.finish("")
	return err
}

// finish writes the record, with status replaced when the body failed.
func (b *body) finish(status string) {
	b.once.Do(func() {
		b.rec.Total = time.Since(b.rec.Start)
		if status != "" {
			b.rec.Status = status
		}
		b.w.Write(b.rec)
	})
}
