package control

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces a secret in whatever is shown to people or stored for them.
const Redacted = "xxxxx"

// secretKey matches the parameter names whose values are never shown: the
// audit trail, the command views (API and command:updated) and the desired
// config of GET /collectors/{id} keep "xxxxx" instead.
var secretKey = regexp.MustCompile(`(?i)(password|passwd|secret|token|credential|private|api_?key|dsn|(^|_)key$)`)

// Redact returns params with the values of secret-looking keys replaced, and
// the password of any URL or DSN string value replaced, at any depth. It is
// the one rule for every way a command's parameters, arguments or result
// reach people; what is sent to the agent is not redacted. What is not a JSON
// object or array comes back as it is.
func Redact(params json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(params, &v) != nil {
		return params
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		return params
	}
	v, changed := redactValue(v)
	if !changed {
		return params
	}
	return jsonOf(v)
}

func redactValue(v any) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		changed := false
		for k, e := range t {
			if secretKey.MatchString(k) && !strings.HasSuffix(k, "_sha256") {
				if s, ok := e.(string); ok && s == Redacted {
					continue
				}
				t[k] = Redacted
				changed = true
				continue
			}
			if r, ok := redactValue(e); ok {
				t[k], changed = r, true
			}
		}
		return t, changed
	case []any:
		changed := false
		for i, e := range t {
			if r, ok := redactValue(e); ok {
				t[i], changed = r, true
			}
		}
		return t, changed
	case string:
		if r := RedactDSN(t); r != t {
			return r, true
		}
	}
	return v, false
}

var (
	// kvPassword is the password of a libpq key=value string.
	kvPassword = regexp.MustCompile(`(?i)\b(password\s*=\s*)('(\\.|[^'])*'|[^\s;]*)`)
	// mysqlPassword is the password of a go-sql-driver/mysql DSN, user:pass@proto(addr)/db.
	mysqlPassword = regexp.MustCompile(`^([^:@/\s]*):([^@]*)@([a-z0-9]*\(|/)`)
)

// RedactDSN returns s with the password of a URL (scheme://user:pass@host), a
// MySQL DSN (user:pass@tcp(host)/db) or a key=value string (password=pass)
// replaced by xxxxx. Any other string comes back as it is.
func RedactDSN(s string) string {
	if i := strings.Index(s, "://"); i > 0 {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), Redacted)
				return u.String()
			}
			return s
		}
		if at := strings.LastIndex(s, "@"); at > i {
			// Not parsable as a URL: hide all of the user info.
			return s[:i+3] + Redacted + s[at:]
		}
	}
	if m := mysqlPassword.FindStringSubmatchIndex(s); m != nil {
		return s[:m[4]] + Redacted + s[m[5]:]
	}
	if kvPassword.MatchString(s) {
		return kvPassword.ReplaceAllString(s, "${1}"+Redacted)
	}
	return s
}

// RedactConfig is Redact for a config kept key by key, such as the desired
// config of a collector. It returns a copy; cfg is left as it is.
func RedactConfig(cfg map[string]json.RawMessage) map[string]json.RawMessage {
	if len(cfg) == 0 {
		return cfg
	}
	out := make(map[string]json.RawMessage, len(cfg))
	for k, v := range cfg {
		if secretKey.MatchString(k) && !strings.HasSuffix(k, "_sha256") {
			out[k] = jsonOf(Redacted)
			continue
		}
		var x any
		if json.Unmarshal(v, &x) == nil {
			if r, ok := redactValue(x); ok {
				v = jsonOf(r)
			}
		}
		out[k] = v
	}
	return out
}
