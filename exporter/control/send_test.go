package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// agentHandler serves /control as an agent does: verify, parse, answer.
func agentHandler(v *Verifier, hits *atomic.Int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /control", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeTestJSON(w, http.StatusRequestEntityTooLarge, Response{Error: err.Error()})
			return
		}
		if err := v.Verify(r, body); err != nil {
			var ae *AuthError
			errors.As(err, &ae)
			writeTestJSON(w, ae.Status, Response{Error: err.Error()})
			return
		}
		req, err := ParseRequest(body)
		if err != nil {
			writeTestJSON(w, http.StatusBadRequest, Response{Error: err.Error()})
			return
		}
		writeTestJSON(w, http.StatusOK, Response{ID: req.ID, Command: req.Command, OK: true, Result: req.Args})
	})
	return mux
}

func writeTestJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestSendRoundTrip(t *testing.T) {
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := httptest.NewServer(agentHandler(NewVerifier(testAud, pub), &hits))
	defer srv.Close()
	s := NewSigner(priv)
	ctx := context.Background()

	cases := []struct {
		name       string
		base, aud  string
		req        Request
		wantStatus int
		wantErr    string
		check      func(t *testing.T, r Response)
	}{
		{"pause with args", srv.URL, testAud, Request{ID: "p1", Command: Pause, Args: json.RawMessage(`{"reason": "maintenance"}`)}, 200, "", func(t *testing.T, r Response) {
			if !r.OK || r.ID != "p1" || r.Command != Pause {
				t.Errorf("answer %+v", r)
			}
			if m, _ := r.Result.(map[string]any); m["reason"] != "maintenance" {
				t.Errorf("result %v, want the args echoed", r.Result)
			}
		}},
		{"same request again gets a new token", srv.URL, testAud, Request{ID: "p1", Command: Pause, Args: json.RawMessage(`{"reason": "maintenance"}`)}, 200, "", nil},
		{"base URL with slash", srv.URL + "/", testAud, Request{ID: "c1", Command: Collect}, 200, "", nil},
		{"wrong audience", srv.URL, "pg-other", Request{ID: "c2", Command: Collect}, 403, "", func(t *testing.T, r Response) {
			if r.OK || !strings.Contains(r.Error, `for collector "pg-other"`) {
				t.Errorf("answer %+v", r)
			}
		}},
		{"not an agent", srv.URL + "/elsewhere", testAud, Request{ID: "c3", Command: Collect}, 404, "not a control response", nil},
		{"invalid id, not sent", srv.URL, testAud, Request{ID: "a b", Command: Collect}, 0, "id: ", nil},
		{"unknown command, not sent", srv.URL, testAud, Request{ID: "x", Command: "selfdestruct"}, 0, "unknown command", nil},
		{"args not an object, not sent", srv.URL, testAud, Request{ID: "x", Command: Pause, Args: json.RawMessage(`[1]`)}, 0, "args", nil},
		{"bad URL", "ftp://agent", testAud, Request{ID: "x", Command: Pause}, 0, "http://", nil},
		{"no audience", srv.URL, "", Request{ID: "x", Command: Pause}, 0, "audience", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			resp, status, err := s.Send(ctx, srv.Client(), tc.base, tc.aud, tc.req)
			if status != tc.wantStatus {
				t.Errorf("status %d, want %d (err %v, answer %+v)", status, tc.wantStatus, err, resp)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want one containing %q", err, tc.wantErr)
				}
				if tc.wantStatus == 0 && hits.Load() != before {
					t.Error("an invalid request reached the agent")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
}

func TestSendUnreachableAndCancelled(t *testing.T) {
	_, priv := testKey(1)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if _, _, err := NewSigner(priv).Send(context.Background(), nil, url, testAud, Request{ID: "x", Command: Pause}); err == nil || !strings.HasPrefix(err.Error(), "control pause: ") {
		t.Errorf("closed server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := NewSigner(priv).Send(ctx, nil, url, testAud, Request{ID: "x", Command: Pause}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
