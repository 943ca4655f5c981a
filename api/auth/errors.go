package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/corral-dev/corral/api/jsontext"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// apiError is an error response: the API's one JSON error shape, with the
// HTTP status it goes with.
type apiError struct {
	Status int
	Body   wire.Error
}

func (e *apiError) Error() string { return e.Body.Message }

func newError(status int, code, msg string, details map[string]any) *apiError {
	if details == nil {
		details = map[string]any{}
	}
	return &apiError{Status: status, Body: wire.Error{Code: code, Message: msg, Details: details}}
}

func errUnauthenticated(reason string) *apiError {
	return newError(http.StatusUnauthorized, wire.CodeUnauthenticated, "authentication required",
		map[string]any{"reason": reason})
}

var errInternal = newError(http.StatusInternalServerError, wire.CodeInternal, "internal error; see the server log", nil)

// storeRetryAfter is the Retry-After, in seconds, of an answer refused because
// the store is unavailable.
const storeRetryAfter = 5

// storeFailed is the answer to a store error: 503 when the store is
// unavailable (its database down, its disk full), so that the caller knows to
// retry rather than report a bug, else errInternal.
func storeFailed(err error) *apiError {
	why, ok := store.Unavailable(err)
	if !ok {
		return errInternal
	}
	return newError(http.StatusServiceUnavailable, wire.CodeUnavailable,
		"the store is unavailable ("+why+"): not done; retry once it is back",
		map[string]any{"reason": why, "retry_after_seconds": storeRetryAfter})
}

func badRequest(msg, field string) *apiError {
	var details map[string]any
	if field != "" {
		details = map[string]any{"field": field}
	}
	return newError(http.StatusBadRequest, wire.CodeBadRequest, msg, details)
}

// writeJSON writes v with status. Every response of this package may carry a
// secret or a CSRF token, so none may be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, e *apiError) {
	if secs, ok := e.Body.Details["retry_after_seconds"].(int); ok && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", fmt.Sprint(secs))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="corral"`)
	}
	writeJSON(w, e.Status, e.Body)
}

// maxBody bounds the JSON request bodies of this package.
const maxBody = 64 << 10

// decodeJSON decodes the request body strictly (unknown fields are errors) into
// v. A body over maxBody is a 413 payload_too_large, as on every other route;
// text that decoding would change (invalid UTF-8, a lone surrogate escape) is
// a 400 naming the field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *apiError {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return newError(http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
				fmt.Sprintf("request body over the limit of %d bytes (64 KiB)", maxBody), map[string]any{"limit_bytes": maxBody})
		}
		e := badRequest("could not read the request body", "")
		e.Body.Details["reason"] = err.Error()
		return e
	}
	if field, ok := jsontext.Check(b); !ok {
		msg := "the request body is not valid UTF-8"
		if field != "" {
			msg = field + ": not valid UTF-8, or a lone UTF-16 surrogate escape such as \\ud800"
		}
		return badRequest(msg, field)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return nil
	}
	var (
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		msg       = "invalid JSON body"
		field     string
		errDetail = err.Error()
	)
	switch {
	case errors.Is(err, io.EOF):
		errDetail = "empty body"
	case errors.As(err, &typeErr):
		field = typeErr.Field
	case errors.As(err, &syntax):
	}
	e := badRequest(msg, field)
	e.Body.Details["reason"] = errDetail
	return e
}

// logStoreError logs a failed store call: a warning when the store is
// unavailable (the writer already reported the outage; this is its effect on
// one request), an error otherwise.
func (a *Authenticator) logStoreError(msg string, args ...any) {
	for i := 0; i+1 < len(args); i += 2 {
		if err, ok := args[i+1].(error); ok && args[i] == "err" {
			if _, unavailable := store.Unavailable(err); unavailable {
				a.log.Warn(msg, args...)
				return
			}
		}
	}
	a.log.Error(msg, args...)
}
