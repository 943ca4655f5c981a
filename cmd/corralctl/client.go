package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// ctlConfig is what `corralctl login` keeps: the server and an API token.
type ctlConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

func configPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("CORRALCTL_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config folder: %w (set CORRALCTL_CONFIG)", err)
	}
	return filepath.Join(dir, "corral", "corralctl.json"), nil
}

func loadCtlConfig(path string) (ctlConfig, error) {
	var c ctlConfig
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, &badInput{msg: fmt.Sprintf("not logged in: run corralctl login --server URL --username NAME first (%s missing)", path)}
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if env := os.Getenv("CORRAL_TOKEN"); env != "" {
		c.Token = env
	}
	return c, nil
}

func saveCtlConfig(path string, c ctlConfig) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// apiError is an error answer of the API: its status and its body
// (wire.Error).
type apiError struct {
	Status  int
	Message string
	Code    string
	Details map[string]any
}

func (e *apiError) Error() string {
	if f, ok := e.Details["field"]; ok {
		return fmt.Sprintf("%s (%s, field %v)", e.Message, e.Code, f)
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// client talks to corral's API with a bearer token or a session cookie.
type client struct {
	base    string
	token   string
	cookies []*http.Cookie
	csrf    string
	http    *http.Client
}

func newClient(server, token string) *client {
	return &client{base: strings.TrimSuffix(server, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c *client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is corral running at %s?)", method, path, err, c.base)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var body wire.Error
		if json.Unmarshal(b, &body) != nil || body.Message == "" {
			body.Message = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return &apiError{Status: resp.StatusCode, Message: body.Message, Code: body.Code, Details: body.Details}
	}
	c.cookies = append(c.cookies, resp.Cookies()...)
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = b
		return nil
	default:
		return json.Unmarshal(b, out)
	}
}

// call asks the server, decodes its answer into v and returns the answer as
// it came, for -o json.
func (c *client) call(ctx context.Context, method, path string, query url.Values, body, v any) ([]byte, error) {
	var b []byte
	if err := c.do(ctx, method, path, query, body, &b); err != nil {
		return nil, err
	}
	return b, json.Unmarshal(b, v)
}

// fetch is call that, with asJSON, prints the answer as the server sent it
// (-o json) and reports printed.
func (c *client) fetch(ctx context.Context, method, path string, query url.Values, body, v any, asJSON bool, out io.Writer) (printed bool, err error) {
	b, err := c.call(ctx, method, path, query, body, v)
	if err != nil || !asJSON {
		return false, err
	}
	return true, printRaw(out, b)
}

// pageQuery checks --limit and makes the query of a listing: the limit and
// every filter that is set.
func pageQuery(limit int, filters map[string]string) (url.Values, error) {
	if limit < 1 || limit > 1000 {
		return nil, badFlag("limit", "%d: want 1 to 1000", limit)
	}
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	for k, v := range filters {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q, nil
}

// list GETs a listing (a wire.Page, or a wire.List, whose Total is 0). With
// asJSON it prints the data as the server sent it instead, and reports
// printed.
func list[T any](ctx context.Context, cfgFlag, path string, query url.Values, asJSON bool, out io.Writer) (wire.Page[T], bool, error) {
	var p wire.Page[T]
	c, err := apiClient(cfgFlag)
	if err != nil {
		return p, false, err
	}
	printed, err := c.fetch(ctx, http.MethodGet, path, query, nil, &p, asJSON, out)
	return p, printed, err
}
