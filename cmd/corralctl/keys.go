package main

import (
	"fmt"
	"io"

	"github.com/corral-dev/corral/exporter/control"
)

type keysCmd struct {
	Generate keysGenerateCmd `cmd:"" help:"Generate a key pair: PREFIX.key (private, PKCS#8 PEM, mode 0600) and PREFIX.pub (public, for agents' control.trusted_keys)."`
}

type keysGenerateCmd struct {
	Out   string `required:"" help:"Path prefix of the two files."`
	Force bool   `help:"Overwrite existing files."`
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
