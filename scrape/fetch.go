package scrape

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// errBodyLimit and friends classify failures that are not transport errors.
var (
	errBodyLimit = errors.New("body_size_limit exceeded")
)

// TargetClient is how a loop talks to its target: the job's HTTP client and
// the target's own token. A follow-up request to the same agent (its /logs)
// goes through it, so it carries the same credentials as the scrape.
type TargetClient struct {
	client *http.Client
	// token is the target's own bearer token (a registered collector's scrape
	// token), sent on every request to the agent; "" sends none beyond what the
	// job's HTTP client settings add.
	token string
}

// NewRequest is a GET of url with the headers every request to the agent
// carries: the user agent and the target's own token.
func (c *TargetClient) NewRequest(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "corral")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// Do sends req with the job's client.
func (c *TargetClient) Do(req *http.Request) (*http.Response, error) { return c.client.Do(req) }

// HTTPStatusError is a request answered with a status other than 200 OK.
type HTTPStatusError struct {
	Code   int
	Status string
}

func (e *HTTPStatusError) Error() string { return "server returned HTTP status " + e.Status }

// fetcher GETs one target's metrics into a buffer, bounded in time and size.
type fetcher struct {
	TargetClient
	url       string
	bodyLimit int64
	accept    string // the job's Accept header (scrape_protocols)
	// noGzip leaves compression out of the request (enable_compression: false).
	noGzip bool
	// gzipReaders is the manager's pool, shared by all loops: a gzip.Reader holds
	// ~40 KiB of state, and only the scrapes in flight need one.
	gzipReaders *sync.Pool
}

// fetch fills buf with the body as the target sent it and returns its
// content type and whether it is gzip-compressed (see inflate). A
// compressed body stays compressed: the latest scrape of every target is
// kept, and kept so it is several times smaller.
func (f *fetcher) fetch(ctx context.Context, buf *bytes.Buffer) (ctype string, gzipped bool, err error) {
	req, err := f.NewRequest(ctx, f.url)
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Accept", f.accept)
	if !f.noGzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if isTooManyRedirects(err) {
			return "", false, fmt.Errorf("%s redirects again and again: %w; fix the target's URL, or set follow_redirects: false to see its first answer", f.url, err)
		}
		return "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		return "", false, &HTTPStatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	gzipped = resp.Header.Get("Content-Encoding") == "gzip"
	buf.Reset()
	limit := f.bodyLimit
	if limit <= 0 {
		limit = 1 << 62
	}
	if resp.ContentLength > limit && !gzipped {
		// Announced too large: fail without reading (and buffering) the
		// first limit bytes of it, as Prometheus would.
		return "", false, fmt.Errorf("%w: the target announced a body of %d bytes, over %d; raise body_size_limit or reduce the exporter's output", errBodyLimit, resp.ContentLength, limit)
	}
	if resp.ContentLength > 0 && resp.ContentLength <= limit {
		buf.Grow(int(resp.ContentLength) + 1)
	}
	// A compressed body is at most as large as the text it inflates to
	// (gzip of the exposition format is several times smaller): the
	// limit holds for it as well, and inflate checks the text.
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return "", false, err
	}
	if n > limit {
		return "", false, fmt.Errorf("%w: the body is over %d bytes; raise body_size_limit or reduce the exporter's output", errBodyLimit, limit)
	}
	return resp.Header.Get("Content-Type"), gzipped, nil
}

// inflate decompresses a gzip body into ps.text, at most limit bytes (0: no
// limit), with a reader from the pool, and returns the text.
func inflate(readers *sync.Pool, compressed []byte, ps *parsed, limit int64) ([]byte, error) {
	ps.src.Reset(compressed)
	gz, _ := readers.Get().(*gzip.Reader)
	var err error
	if gz == nil {
		gz, err = gzip.NewReader(&ps.src)
	} else {
		err = gz.Reset(&ps.src)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer readers.Put(gz)
	if limit <= 0 {
		limit = 1 << 62
	}
	out := &ps.text
	out.Reset()
	n, err := out.ReadFrom(io.LimitReader(gz, limit+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: the body is over %d bytes; raise body_size_limit or reduce the exporter's output", errBodyLimit, limit)
	}
	return out.Bytes(), nil
}

// classify maps a scrape error to its reason.
func classify(err error) string {
	var (
		dnsErr   *net.DNSError
		statErr  *HTTPStatusError
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
		netErr   net.Error
		sampErr  *sampleLimitError
		parseErr *parseError
		lblErr   *labelLimitError
		tgtErr   *targetLimitError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &statErr):
		return "http_" + strconv.Itoa(statErr.Code)
	case errors.Is(err, errBodyLimit):
		return ReasonBodyLimit
	case errors.As(err, &sampErr):
		return ReasonSampleLimit
	case errors.As(err, &lblErr):
		return ReasonLabelLimit
	case errors.As(err, &tgtErr):
		return ReasonTargetLimit
	case errors.Is(err, errInvalidName):
		return ReasonParse
	case errors.As(err, &parseErr):
		return ReasonParse
	case errors.As(err, &dnsErr):
		return ReasonDNS
	case isTooManyRedirects(err):
		return ReasonRedirects
	case strings.Contains(err.Error(), "server response headers exceeded"):
		// net/http's error for Transport.MaxResponseHeaderBytes has no type.
		return ReasonHeaderLimit
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invErr):
		return ReasonTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		return ReasonConnection
	case strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return ReasonTLS
	}
	return ReasonOther
}

// isTooManyRedirects tells the error of http.Client's redirect policy, which
// has no type either: "stopped after 10 redirects" in a *url.Error.
func isTooManyRedirects(err error) bool {
	var uerr *url.Error
	return errors.As(err, &uerr) && strings.HasPrefix(uerr.Err.Error(), "stopped after ") && strings.HasSuffix(uerr.Err.Error(), " redirects")
}

type sampleLimitError struct{ limit int }

func (e *sampleLimitError) Error() string {
	return fmt.Sprintf("sample_limit exceeded: more than %d samples; raise sample_limit or reduce the exporter's output", e.limit)
}

// targetLimitError is Prometheus's error for a job over its target_limit.
type targetLimitError struct{ n, limit int }

func (e *targetLimitError) Error() string {
	return fmt.Sprintf("target_limit exceeded (number of targets: %d, limit: %d); raise target_limit or drop targets with relabel_configs", e.n, e.limit)
}

type parseError struct{ err error }

func (e *parseError) Error() string { return "parse: " + e.err.Error() }
func (e *parseError) Unwrap() error { return e.err }

// wrongFormat explains a parse failure of a body that is not the exposition
// format at all: a JSON API or a web page at the target's URL gives a parse
// error about its first brace or tag, which does not say what is wrong.
func wrongFormat(ctype string, body []byte, perr error) error {
	what := ""
	mt, _, _ := mime.ParseMediaType(ctype)
	switch trimmed := bytes.TrimLeft(body, " \t\r\n"); {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/html":
		what = mt
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed):
		// Valid JSON, not only a leading brace: the text format may start
		// with {"quoted.name"} too.
		what = "a JSON body"
	default:
		return perr
	}
	return fmt.Errorf("the target answered %s, not the Prometheus text format: is the URL its /metrics? (%w)", what, perr)
}
