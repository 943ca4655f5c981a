package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/corral-dev/corral/exporter/control"
)

type controlCmd struct {
	URL       string        `required:"" help:"Agent base URL, e.g. http://127.0.0.1:19100."`
	Collector string        `required:"" help:"The agent's collector name (the token's audience)."`
	Key       string        `required:"" type:"existingfile" help:"Private key file (PEM) whose public key the agent trusts."`
	Timeout   time.Duration `default:"30s" help:"Request timeout."`
	ID        string        `help:"Command id (default: generated). Re-sending an id returns the first answer."`
	Command   string        `arg:"" enum:"pause,resume,restart,collect,backfill,update_config,test_connection,rotate_credentials" help:"Command: ${enum}."`
	Args      string        `arg:"" optional:"" help:"Arguments as a JSON object, e.g. '{\"reason\":\"maintenance\"}'."`
}

func (o controlCmd) Run(ctx context.Context, g *globals) error { return sendControl(ctx, o, g.stdout) }

// sendControl signs one command with a local key and sends it straight to an
// agent, past the server: no audit row, no retries, no desired state.
func sendControl(ctx context.Context, o controlCmd, out io.Writer) error {
	b, err := os.ReadFile(o.Key)
	if err != nil {
		return err
	}
	priv, err := control.ParsePrivateKeyPEM(b)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Key, err)
	}
	req := control.Request{ID: o.ID, Command: o.Command}
	if req.ID == "" {
		req.ID = fmt.Sprintf("ctl-%d", time.Now().UnixNano())
	}
	if o.Args != "" {
		if !json.Valid([]byte(o.Args)) {
			return &badInput{msg: fmt.Sprintf("args: not valid JSON: %s", o.Args)}
		}
		req.Args = json.RawMessage(o.Args)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	resp, status, err := control.NewSigner(priv).Send(ctx, nil, o.URL, o.Collector, req)
	if err != nil {
		return err
	}
	if err := printJSON(out, resp); err != nil {
		return err
	}
	if status != 200 || !resp.OK {
		return fmt.Errorf("command %s not ok (HTTP %d)", o.Command, status)
	}
	return nil
}
