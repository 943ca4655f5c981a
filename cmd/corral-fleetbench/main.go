// Command corral-fleetbench measures corral scraping a simulated fleet against
// the floor (package fleetbench). Loopback only, bounded in time. `make bench`
// runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/corral-dev/corral/fleetbench"
)

type cli struct {
	Run   fleetbench.RunOptions   `cmd:"" default:"withargs" help:"Run the benchmark (default)."`
	Floor fleetbench.FloorOptions `cmd:"" hidden:"" help:"GET-and-discard every target of a file_sd file on a schedule (the floor)."`
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("corral-fleetbench"), kong.UsageOnError())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch kctx.Command() {
	case "floor":
		err = fleetbench.Floor(ctx, c.Floor)
	default:
		err = fleetbench.Run(ctx, c.Run)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "corral-fleetbench:", err)
		os.Exit(1)
	}
}
