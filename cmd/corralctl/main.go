// Command corralctl is corral's admin CLI: keys, direct signed commands to agents,
// and offline checks.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/corral-dev/corral/exporter/control"
)

var version = "dev"

type cli struct {
	Keys    keysCmd    `cmd:"" help:"Manage Ed25519 control keys."`
	Control controlCmd `cmd:"" help:"Send one signed command straight to an agent's /control (break-glass and demos; the server is the usual sender)."`
	Version struct{}   `cmd:"" help:"Print the version."`
}

type keysCmd struct {
	Generate keysGenerateCmd `cmd:"" help:"Generate a key pair: PREFIX.key (private, PKCS#8 PEM, mode 0600) and PREFIX.pub (public, for agents' control.trusted_keys)."`
}

type keysGenerateCmd struct {
	Out   string `required:"" help:"Path prefix of the two files."`
	Force bool   `help:"Overwrite existing files."`
}

type controlCmd struct {
	URL       string        `required:"" help:"Agent base URL, e.g. http://127.0.0.1:19100."`
	Collector string        `required:"" help:"The agent's collector name (the token's audience)."`
	Key       string        `required:"" type:"existingfile" help:"Private key file (PEM) whose public key the agent trusts."`
	Timeout   time.Duration `default:"30s" help:"Request timeout."`
	ID        string        `help:"Command id (default: generated). Re-sending an id returns the first answer."`
	Command   string        `arg:"" enum:"pause,resume,restart,collect,backfill,update_config,test_connection,rotate_credentials" help:"Command: ${enum}."`
	Args      string        `arg:"" optional:"" help:"Arguments as a JSON object, e.g. '{\"reason\":\"maintenance\"}'."`
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("corralctl"), kong.Description("corralctl administers corral."), kong.UsageOnError())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch kctx.Command() {
	case "keys generate":
		err = generateKeys(c.Keys.Generate)
	case "control <command>", "control <command> <args>":
		err = sendControl(ctx, c.Control)
	case "version":
		fmt.Println("corralctl", version)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "corralctl:", err)
		os.Exit(1)
	}
}

func generateKeys(o keysGenerateCmd) error {
	pub, priv, err := control.GenerateKey()
	if err != nil {
		return err
	}
	pem, err := control.MarshalPrivateKeyPEM(priv)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if o.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{o.Out + ".key", pem, 0o600}, {o.Out + ".pub", []byte(control.FormatPublicKey(pub) + "\n"), 0o644}} {
		fh, err := os.OpenFile(f.path, flags, f.mode)
		if err != nil {
			return fmt.Errorf("%w (use --force to overwrite)", err)
		}
		if _, err := fh.Write(f.data); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s.key and %s.pub (key id %s)\n", o.Out, o.Out, control.KeyID(pub))
	return nil
}

func sendControl(ctx context.Context, o controlCmd) error {
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
			return fmt.Errorf("args: not valid JSON: %s", o.Args)
		}
		req.Args = json.RawMessage(o.Args)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	resp, status, err := control.NewSigner(priv).Send(ctx, nil, o.URL, o.Collector, req)
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(resp, "", "  ")
	fmt.Println(string(out))
	if status != 200 || !resp.OK {
		return fmt.Errorf("command %s not ok (HTTP %d)", o.Command, status)
	}
	return nil
}
