// Command pulumi-resource-command is st2-upgrade's own Pulumi resource provider for the package
// `command` (the subset of pulumi-command that the project uses; see package provider). The engine
// starts it with its own gRPC address as the argument; it answers with the port it serves on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"

	"st2-upgrade/toolchain/command-provider/provider"
)

func main() {
	if err := serve(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

func serve() error {
	// Flags the engine may pass to any provider (-v and -logtostderr are glog's, registered by the
	// SDK packages); tracing goes unused here.
	flag.String("tracing", "", "Zipkin-compatible tracing endpoint (unused)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(provider.Version)
		return nil
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var log provider.Logger = provider.NopLogger{}
	switch args := flag.Args(); len(args) {
	case 0:
		// Attach mode: the engine connects to the printed port later.
	case 1:
		engine, err := provider.DialEngine(args[0])
		if err != nil {
			return fmt.Errorf("connecting to the engine at %s: %w", args[0], err)
		}
		defer func() { _ = engine.Close() }()
		log = engine
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		// Exit when the engine goes away.
		if err := rpcutil.Healthcheck(ctx, args[0], 5*time.Minute, cancel); err != nil {
			return fmt.Errorf("engine health check: %w", err)
		}
	default:
		return errors.New("usage: pulumi-resource-command [ENGINE_ADDRESS]")
	}

	srv := provider.New(log)
	cancelServe := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancelServe)
	}()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelServe,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(s, srv)
			return nil
		},
		Options: []grpc.ServerOption{grpc.MaxRecvMsgSize(400 << 20)},
	})
	if err != nil {
		return err
	}
	// The plugin protocol: the first line of stdout is the port.
	fmt.Printf("%d\n", handle.Port)
	return <-handle.Done
}
