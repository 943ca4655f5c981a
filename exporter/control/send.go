package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxResponseBody bounds the answer Send reads.
const maxResponseBody = 4 << 20

// Send delivers req to the agent at baseURL (e.g. "http://10.0.0.5:9187") whose
// collector is named audience: it checks req as the agent will, signs it and
// POSTs it to baseURL + "/control". It returns the agent's answer and the HTTP
// status; the status is not an error (a 401 or a 409 comes back as such, with the
// agent's reason in Response.Error). An error means no answer was read: the
// request was invalid, the agent was unreachable, or its answer was not a control
// response. A nil client means http.DefaultClient; ctx bounds the whole exchange.
func (s *Signer) Send(ctx context.Context, client *http.Client, baseURL, audience string, req Request) (Response, int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Response{}, 0, fmt.Errorf("control %s: encode request: %w", req.Command, err)
	}
	if _, err := ParseRequest(body); err != nil {
		return Response{}, 0, err
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/") + Path)
	if err != nil {
		return Response{}, 0, fmt.Errorf("control %s: agent URL %s: %w", req.Command, quote(baseURL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Response{}, 0, fmt.Errorf("control %s: agent URL %s must start with http:// or https://", req.Command, quote(baseURL))
	}
	tok, err := s.Token(audience, http.MethodPost, u.Path, body)
	if err != nil {
		return Response{}, 0, fmt.Errorf("control %s: %w", req.Command, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Response{}, 0, fmt.Errorf("control %s: %w", req.Command, err)
	}
	hreq.Header.Set("Authorization", "Bearer "+tok)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if client == nil {
		client = http.DefaultClient
	}
	hresp, err := client.Do(hreq)
	if err != nil {
		return Response{}, 0, fmt.Errorf("control %s: %w", req.Command, err)
	}
	defer hresp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBody+1))
	if err != nil {
		return Response{}, hresp.StatusCode, fmt.Errorf("control %s: read answer (HTTP %d): %w", req.Command, hresp.StatusCode, err)
	}
	if len(b) > maxResponseBody {
		return Response{}, hresp.StatusCode, fmt.Errorf("control %s: answer (HTTP %d) over %d bytes", req.Command, hresp.StatusCode, maxResponseBody)
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		return Response{}, hresp.StatusCode, fmt.Errorf("control %s: HTTP %d with a body that is not a control response (is %s a corral agent?): %s",
			req.Command, hresp.StatusCode, baseURL, quote(string(b)))
	}
	return resp, hresp.StatusCode, nil
}
