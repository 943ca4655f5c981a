package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/store"
)

// TestSecretsNotShown: an update-config's password and the password inside
// its DSN are sent to the agent but shown by none of POST's answer,
// GET /commands, GET /commands/{id} and GET /audit.
func TestSecretsNotShown(t *testing.T) {
	h, tokens, _ := controlFixture(t)
	tok := tokens[uSuper]
	code, body := send(t, h, tok, "POST", "/api/v1/collectors/acme-red-1/update-config?wait=none",
		`{"password":"s3cret","dsn":"postgres://u:s3cret@h/db","mysql_dsn":"u:s3cret@tcp(h:3306)/db","conn":"host=h password=s3cret","upstream":"postgres://u:s3cret@h/db"}`)
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("update-config: %d %s", code, body)
	}
	var res struct {
		Command struct {
			ID string `json:"id"`
		} `json:"command"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || res.Command.ID == "" {
		t.Fatalf("no command in %s (%v)", body, err)
	}
	for _, path := range []string{"", "/api/v1/commands", "/api/v1/commands/" + res.Command.ID, "/api/v1/audit"} {
		if path != "" {
			code, body = send(t, h, tok, "GET", path, "")
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, code, body)
			}
		}
		if strings.Contains(body, "s3cret") {
			t.Errorf("%q shows the secret: %s", path, body)
		}
		if path == "/api/v1/commands/"+res.Command.ID && !strings.Contains(body, "postgres://u:xxxxx@h/db") {
			t.Errorf("a URL is not shown with its password redacted: %s", body)
		}
	}
}

// TestViewDesiredRedacts: the desired config keeps the real values for the
// reconciler; GET /collectors/{id} shows them redacted.
func TestViewDesiredRedacts(t *testing.T) {
	d := store.DesiredState{Collector: "pg-1", UpdatedAt: time.Now(), Config: map[string]json.RawMessage{
		"password": json.RawMessage(`"s3cret"`), "dsn": json.RawMessage(`"postgres://u:s3cret@h/db"`),
		"source": json.RawMessage(`"user=u password=s3cret host=h"`), "rate": json.RawMessage(`5`)}}
	b, _ := json.Marshal(viewDesired(d))
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("desired shows the secret: %s", b)
	}
	if !strings.Contains(string(b), `"rate":5`) {
		t.Errorf("desired lost a plain key: %s", b)
	}
	if string(d.Config["password"]) != `"s3cret"` {
		t.Errorf("the stored desired config was changed: %s", d.Config["password"])
	}
}
