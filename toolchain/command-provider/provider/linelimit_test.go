package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// longLine prints a line of n bytes, then "done".
func longLine(n int) string {
	return fmt.Sprintf("head -c %d /dev/zero | tr '\\0' a; echo; echo done", n)
}

// The real 1.2.1 logs output through a bufio.Scanner with the default 64 KiB token size: a logged
// line of 65536 bytes or more stops its reader and the step never ends. Ours does the same, so a
// step that prints such a line hangs in our tests too (here until the step's timeout ends it).
func TestOutputLineLimit(t *testing.T) {
	create := func(t *testing.T, typ string, props map[string]any, timeout float64) (*pulumirpc.CreateResponse, error, *recordingLogger, time.Duration) {
		t.Helper()
		log := &recordingLogger{}
		s := New(log)
		news, err := marshal(pm(props))
		if err != nil {
			t.Fatal(err)
		}
		check, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Type: typ, Urn: testURN, News: news})
		if err != nil || len(check.Failures) > 0 {
			t.Fatalf("check: %v %v", err, check.GetFailures())
		}
		start := time.Now()
		resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: typ, Urn: testURN, Properties: check.Inputs, Timeout: timeout})
		return resp, err, log, time.Since(start)
	}

	t.Run("a line of 65535 bytes is logged", func(t *testing.T) {
		resp, err, log, _ := create(t, LocalCommand, map[string]any{"create": longLine(maxLogLine - 1)}, 20)
		if err != nil {
			t.Fatal(err)
		}
		msgs := log.messages()
		if len(msgs) != 2 || len(msgs[0]) != maxLogLine-1 || msgs[1] != "done" {
			t.Errorf("logged %d lines (first %d bytes)", len(msgs), len(msgs[0]))
		}
		if out := str(outputsOf(t, resp.Properties), "stdout"); len(out) != maxLogLine-1+len("\ndone") {
			t.Errorf("stdout of %d bytes", len(out))
		}
	})

	t.Run("a line of 65536 bytes stalls the step", func(t *testing.T) {
		_, err, log, took := create(t, LocalCommand, map[string]any{"create": longLine(maxLogLine)}, 2)
		if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || took < 2*time.Second {
			t.Fatalf("after %v: %v", took, err)
		}
		// Past the write that overflowed the reader, nothing more of the output is read.
		_, err, _, _ = create(t, LocalCommand, map[string]any{"create": longLine(4 * maxLogLine)}, 1)
		var cmdErr *CommandError
		if !errors.As(err, &cmdErr) || strings.Contains(cmdErr.Output, "done") || len(cmdErr.Output) >= 4*maxLogLine {
			t.Errorf("the command's output was read past the long line: %.200s", err)
		}
		if !log.warned("65536 bytes or more") {
			t.Errorf("no warning about the long line: %v", log.lines)
		}
	})

	t.Run("not logged, a long line is only output", func(t *testing.T) {
		for _, logging := range []string{"none", "stderr"} {
			resp, err, _, _ := create(t, LocalCommand, map[string]any{"create": longLine(4 * maxLogLine), "logging": logging}, 20)
			if err != nil {
				t.Fatalf("logging %s: %v", logging, err)
			}
			if out := str(outputsOf(t, resp.Properties), "stdout"); !strings.HasSuffix(out, "\ndone") {
				t.Errorf("logging %s: stdout ends %q", logging, out[len(out)-10:])
			}
		}
	})

	t.Run("remote: a line of 65536 bytes stalls the step", func(t *testing.T) {
		d := startSSHD(t)
		_, err, _, took := create(t, RemoteCommand, map[string]any{"connection": d.connection(nil), "create": longLine(maxLogLine)}, 3)
		if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || took < 3*time.Second {
			t.Fatalf("after %v: %v", took, err)
		}
		resp, err, _, _ := create(t, RemoteCommand, map[string]any{"connection": d.connection(nil), "create": longLine(maxLogLine - 1)}, 20)
		if err != nil || !strings.HasSuffix(str(outputsOf(t, resp.Properties), "stdout"), "\ndone") {
			t.Errorf("65535 bytes: %v", err)
		}
	})
}
