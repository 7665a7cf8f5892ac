package provider

import (
	"context"
	"fmt"
	"os"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// EngineLogger sends log messages to the Pulumi engine (its Engine service's Log).
type EngineLogger struct {
	client pulumirpc.EngineClient
	conn   *grpc.ClientConn
}

// DialEngine connects to the engine at addr (the address the engine passes to the plugin).
func DialEngine(addr string) (*EngineLogger, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &EngineLogger{client: pulumirpc.NewEngineClient(conn), conn: conn}, nil
}

// Close closes the connection.
func (l *EngineLogger) Close() error { return l.conn.Close() }

var severities = map[Severity]pulumirpc.LogSeverity{
	Debug: pulumirpc.LogSeverity_DEBUG, Info: pulumirpc.LogSeverity_INFO,
	Warning: pulumirpc.LogSeverity_WARNING, Error: pulumirpc.LogSeverity_ERROR,
}

// Log implements Logger. A message the engine does not take goes to stderr (the engine's plugin log).
func (l *EngineLogger) Log(ctx context.Context, sev Severity, urn, msg string, ephemeral bool) {
	// Log even when the operation was canceled: its last output is often the reason.
	ctx = context.WithoutCancel(ctx)
	_, err := l.client.Log(ctx, &pulumirpc.LogRequest{
		Severity:  severities[sev],
		Message:   strings.ToValidUTF8(msg, "\uFFFD"),
		Urn:       urn,
		Ephemeral: ephemeral,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "command provider: could not log to the engine (%v): %s\n", err, msg)
	}
}
