package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/exporter/control"
)

type keysCmd struct {
	Generate keysGenerateCmd `cmd:"" help:"Generate a key pair: PREFIX.key (private, PKCS#8 PEM, mode 0600) and PREFIX.pub (public, for agents' control.trusted_keys)."`
	Status   keysStatusCmd   `cmd:"" help:"Show the server's signing key and, during a rotation, which agents acknowledged the next key (GET /api/v1/keys; super admin). The server's own key is printed by corral keys show on its host."`
	Rotate   keysRotateCmd   `cmd:"" help:"Rotate the server's signing key (super admin): the server makes a next key and sends it, signed with the active one, to every agent, and switches to it once every agent acknowledged it. Run again during a rotation to resend it to the agents that missed it; --complete switches now."`
}

type keysGenerateCmd struct {
	Out   string `required:"" help:"Path prefix of the two files."`
	Force bool   `help:"Overwrite existing files."`
}

type keysStatusCmd struct {
	Output string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

type keysRotateCmd struct {
	Complete bool   `help:"Switch to the next key now (POST /api/v1/keys/rotate/complete) instead of sending it; refused while an agent has not acknowledged it, unless --force."`
	Force    bool   `help:"With --complete: switch even though some agents missed the next key; they keep trusting only the old key and cannot be steered until their config trusts the new one."`
	Output   string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

func (o keysGenerateCmd) Run(g *globals) error { return generateKeys(o, g.stdout) }

func (o keysStatusCmd) Run(ctx context.Context, g *globals) error {
	return keysStatus(ctx, o, g.config, g.stdout)
}

func (o keysRotateCmd) Run(ctx context.Context, g *globals) error {
	return keysRotate(ctx, o, g.config, g.stdout)
}

func generateKeys(o keysGenerateCmd, out io.Writer) error {
	pub, priv, err := control.GenerateKey()
	if err != nil {
		return err
	}
	pem, err := control.MarshalPrivateKeyPEM(priv)
	if err != nil {
		return err
	}
	if err := writeFile(o.Out+".key", pem, 0o600, o.Force); err != nil {
		return err
	}
	if err := writeFile(o.Out+".pub", []byte(control.FormatPublicKey(pub)+"\n"), 0o644, o.Force); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s.key and %s.pub (key id %s)\n", o.Out, o.Out, control.KeyID(pub))
	return nil
}

// keysStatus prints the server's keys and where a rotation is.
func keysStatus(ctx context.Context, o keysStatusCmd, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var r wire.Rotation
	if printed, err := c.fetch(ctx, http.MethodGet, "/api/v1/keys", nil, nil, &r, o.Output == "json", out); err != nil || printed {
		return err
	}
	return printRotation(out, r)
}

// keysRotate starts (or resends) a rotation, or with --complete ends it.
func keysRotate(ctx context.Context, o keysRotateCmd, cfgFlag string, out io.Writer) error {
	if o.Force && !o.Complete {
		return badFlag("force", "goes with --complete")
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	path, body := "/api/v1/keys/rotate", map[string]bool{}
	if o.Complete {
		path, body = "/api/v1/keys/rotate/complete", map[string]bool{"force": o.Force}
	}
	var r wire.Rotation
	if printed, err := c.fetch(ctx, http.MethodPost, path, nil, body, &r, o.Output == "json", out); err != nil || printed {
		return err
	}
	return printRotation(out, r)
}

func printRotation(out io.Writer, r wire.Rotation) error {
	if a := r.Active; a != nil {
		fmt.Fprintf(out, "active key %s, signing since %s: %s\n", a.KID, localTime(a.ActivatedAt), a.PublicKey)
	}
	if !r.InProgress || r.Next == nil {
		fmt.Fprintln(out, "no rotation in progress")
		return nil
	}
	fmt.Fprintf(out, "rotating to %s (made %s): %s\n", r.Next.KID, localTime(&r.Next.CreatedAt), r.Next.PublicKey)
	fmt.Fprintf(out, "agents: %d acknowledged, %d pending, %d missed\n", r.Acknowledged, r.Pending, r.Missed)
	if len(r.Agents) > 0 {
		tw := newTable(out)
		fmt.Fprintln(tw, "COLLECTOR\tSTATE\tCOMMAND\tERROR")
		for _, a := range r.Agents {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Collector, a.State, orDash(a.CommandID), a.Error)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	switch {
	case r.Missed > 0:
		fmt.Fprintln(out, "corralctl keys rotate sends it again to the agents that missed it; keys rotate --complete --force switches without them")
	case r.Pending > 0:
		fmt.Fprintln(out, "the server switches once every agent acknowledged it; keys rotate --complete switches now")
	}
	return nil
}
