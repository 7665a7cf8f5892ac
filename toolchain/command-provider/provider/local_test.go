package provider

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

type pulumirpcStruct = structpb.Struct

type logLine struct {
	sev       Severity
	urn, msg  string
	ephemeral bool
}

type recordingLogger struct {
	mu    sync.Mutex
	lines []logLine
}

func (r *recordingLogger) Log(_ context.Context, sev Severity, urn, msg string, ephemeral bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, logLine{sev, urn, msg, ephemeral})
}

func (r *recordingLogger) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		out = append(out, l.msg)
	}
	return out
}

// warned reports whether a warning containing part was logged.
func (r *recordingLogger) warned(part string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if l.sev == Warning && strings.Contains(l.msg, part) {
			return true
		}
	}
	return false
}

const testURN = "urn:pulumi:test::proj::command:local:Command::cmd"

// checked runs Check like the engine does and returns the checked inputs.
func checked(t *testing.T, s *Server, typ string, props map[string]any) *pulumirpcStruct {
	t.Helper()
	news, err := marshal(pm(props))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Type: typ, Urn: testURN, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) > 0 {
		t.Fatalf("check failures: %v", resp.Failures)
	}
	return resp.Inputs
}

func outputsOf(t *testing.T, s *pulumirpcStruct) resource.PropertyMap {
	t.Helper()
	m, err := unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func str(m resource.PropertyMap, k string) string {
	v, _ := unwrap(m[resource.PropertyKey(k)])
	if !v.IsString() {
		return "<" + v.TypeString() + ">"
	}
	return v.StringValue()
}

func TestPluginInfo(t *testing.T) {
	info, err := New(nil).GetPluginInfo(context.Background(), &emptypb.Empty{})
	if err != nil || info.Version != Version {
		t.Fatalf("%v %v", info, err)
	}
}

func TestLocalCreateStdoutStderr(t *testing.T) {
	s := New(nil)
	inputs := checked(t, s, LocalCommand, map[string]any{
		"create":      "printf 'line1\\nline2\\n\\n'; echo err >&2; echo \"$GREETING $PWD\"; cat",
		"environment": map[string]any{"GREETING": "hi"},
		"stdin":       "from-stdin",
		"dir":         "/tmp",
	})
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Id, "cmd") || len(resp.Id) != len("cmd")+8 {
		t.Errorf("id %q", resp.Id)
	}
	out := outputsOf(t, resp.Properties)
	// One trailing newline is trimmed, as pulumi-command does; the rest stays.
	if got, want := str(out, "stdout"), "line1\nline2\n\nhi /tmp\nfrom-stdin"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := str(out, "stderr"); got != "err" {
		t.Errorf("stderr %q", got)
	}
	if str(out, "create") == "" || str(out, "dir") != "/tmp" {
		t.Errorf("outputs must hold the inputs: %v", out)
	}
	if _, ok := out["logging"]; ok {
		t.Errorf("no default may be written into the state: %v", out)
	}
}

func TestLocalCreateFailureIsAnError(t *testing.T) {
	s := New(nil)
	inputs := checked(t, s, LocalCommand, map[string]any{
		"create": "echo some output; echo 'it broke' >&2; exit 3\n# second line",
	})
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
	if err == nil {
		t.Fatalf("expected an error, got %v", resp)
	}
	// The real provider's wording: the error, the whole command quoted, all of the output.
	msg := err.Error()
	prefix := "exit status 3: running \"echo some output; echo 'it broke' >&2; exit 3\\n# second line\":\n"
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("error %q does not start with %q", msg, prefix)
	}
	if rest := strings.TrimPrefix(msg, prefix); !strings.Contains(rest, "it broke\n") || !strings.Contains(rest, "some output\n") ||
		len(rest) != len("it broke\nsome output\n") {
		t.Errorf("output in the error: %q", rest)
	}
	if resp != nil {
		t.Errorf("a failed create must return no state: %v", resp)
	}
}

func TestLocalInterpreter(t *testing.T) {
	if _, err := os.Stat("/usr/bin/node"); err != nil {
		t.Skip("node not installed")
	}
	s := New(nil)
	inputs := checked(t, s, LocalCommand, map[string]any{
		"create":      "console.log(6*7)",
		"interpreter": []any{"/usr/bin/node", "-e"},
	})
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if got := str(outputsOf(t, resp.Properties), "stdout"); got != "42" {
		t.Errorf("stdout %q", got)
	}
}

func TestPreviewRunsNothing(t *testing.T) {
	s := New(nil)
	marker := filepath.Join(t.TempDir(), "ran")
	inputs := checked(t, s, LocalCommand, map[string]any{"create": "touch " + marker, "update": "touch " + marker})
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	out := outputsOf(t, resp.Properties)
	if !out["stdout"].IsComputed() || !out["stderr"].IsComputed() {
		t.Errorf("preview outputs must be unknown: %v", out)
	}
	if _, err := s.Update(context.Background(), &pulumirpc.UpdateRequest{
		Type: LocalCommand, Urn: testURN, Olds: inputs, News: inputs, Preview: true,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a preview ran the command")
	}
}

func TestLocalUpdateAndDelete(t *testing.T) {
	s := New(nil)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	props := map[string]any{
		"create": "echo created; echo create >> " + log,
		"update": "echo \"update prev=$PULUMI_COMMAND_STDOUT\" >> " + log + "; echo updated",
		"delete": "echo \"delete prev=$PULUMI_COMMAND_STDOUT\" >> " + log,
	}
	inputs := checked(t, s, LocalCommand, props)
	created, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	updated, err := s.Update(context.Background(), &pulumirpc.UpdateRequest{
		Type: LocalCommand, Urn: testURN, Id: created.Id, Olds: created.Properties, News: inputs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := str(outputsOf(t, updated.Properties), "stdout"); got != "updated" {
		t.Errorf("stdout after update %q", got)
	}
	// Without `update`, an update runs `create`; addPreviousOutputInEnv false hides the old output.
	props2 := map[string]any{"create": "echo \"create again prev=${PULUMI_COMMAND_STDOUT-unset}\" >> " + log, "delete": props["delete"], "addPreviousOutputInEnv": false}
	inputs2 := checked(t, s, LocalCommand, props2)
	updated2, err := s.Update(context.Background(), &pulumirpc.UpdateRequest{
		Type: LocalCommand, Urn: testURN, Id: created.Id, Olds: updated.Properties, News: inputs2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := outputsOf(t, updated2.Properties); str(got, "stdout") != "" {
		t.Errorf("stdout after the second update %q", str(got, "stdout"))
	}
	// Delete runs `delete` with the recorded stdout of the state it is given.
	if _, err := s.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Type: LocalCommand, Urn: testURN, Id: created.Id, Properties: updated.Properties,
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(log)
	want := "create\nupdate prev=created\ncreate again prev=unset\ndelete prev=updated\n"
	if string(got) != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestUpdateFailureKeepsError(t *testing.T) {
	s := New(nil)
	inputs := checked(t, s, LocalCommand, map[string]any{"create": "true"})
	created, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	bad := checked(t, s, LocalCommand, map[string]any{"create": "true", "update": "echo nope >&2; exit 1"})
	_, err = s.Update(context.Background(), &pulumirpc.UpdateRequest{Type: LocalCommand, Urn: testURN, Olds: created.Properties, News: bad})
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("update error: %v", err)
	}
}

func TestDeleteWithoutDeleteRunsNothing(t *testing.T) {
	s := New(nil)
	marker := filepath.Join(t.TempDir(), "ran")
	inputs := checked(t, s, LocalCommand, map[string]any{"create": "touch " + marker})
	state := outputsOf(t, inputs)
	state["stdout"] = resource.NewStringProperty("")
	props, _ := marshal(state)
	if _, err := s.Delete(context.Background(), &pulumirpc.DeleteRequest{Type: LocalCommand, Urn: testURN, Properties: props}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("delete ran create")
	}
}

func TestLoggingModes(t *testing.T) {
	cmd := "echo OUT1; echo ERR1 >&2; echo OUT2"
	cases := map[string][]string{
		"stdoutAndStderr": {"ERR1", "OUT1", "OUT2"},
		"stdout":          {"OUT1", "OUT2"},
		"stderr":          {"ERR1"},
		"none":            nil,
	}
	for mode, want := range cases {
		t.Run(mode, func(t *testing.T) {
			log := &recordingLogger{}
			s := New(log)
			inputs := checked(t, s, LocalCommand, map[string]any{"create": cmd, "logging": mode})
			resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
			if err != nil {
				t.Fatal(err)
			}
			got := log.messages()
			if strings.Join(sorted(got), ",") != strings.Join(want, ",") {
				t.Errorf("logged %q, want %q", got, want)
			}
			for _, l := range log.lines {
				if l.urn != testURN || l.sev != Info {
					t.Errorf("log line %+v", l)
				}
			}
			// Whatever is logged, the outputs hold everything.
			out := outputsOf(t, resp.Properties)
			if str(out, "stdout") != "OUT1\nOUT2" || str(out, "stderr") != "ERR1" {
				t.Errorf("outputs %v", out)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestCreateWithoutCreate(t *testing.T) {
	s := New(nil)
	inputs := checked(t, s, LocalCommand, map[string]any{"delete": "true"})
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	out := outputsOf(t, resp.Properties)
	if resp.Id == "" || str(out, "stdout") != "" || str(out, "stderr") != "" {
		t.Errorf("%v %v", resp.Id, out)
	}
}

func TestCancelStopsACommand(t *testing.T) {
	s := New(nil)
	inputs := checked(t, s, LocalCommand, map[string]any{"create": "sleep 30"})
	errc := make(chan error, 1)
	go func() {
		_, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the command start (a cancel before it starts fails it too)
	if _, err := s.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("canceled create: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	s := New(nil)
	inputs := checked(t, s, LocalCommand, map[string]any{"create": "sleep 30"})
	_, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: LocalCommand, Urn: testURN, Properties: inputs, Timeout: 0.2})
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("timed out create: %v", err)
	}
}

func TestReadReturnsState(t *testing.T) {
	s := New(nil)
	state, _ := marshal(pm(map[string]any{"create": "x", "stdout": "o", "stderr": "e"}))
	resp, err := s.Read(context.Background(), &pulumirpc.ReadRequest{Type: LocalCommand, Urn: testURN, Id: "id1", Properties: state})
	if err != nil {
		t.Fatal(err)
	}
	inputs := outputsOf(t, resp.Inputs)
	if resp.Id != "id1" || len(inputs) != 1 || str(inputs, "create") != "x" {
		t.Errorf("%v %v", resp.Id, inputs)
	}
}

func TestUnimplementedType(t *testing.T) {
	s := New(nil)
	_, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: "urn:pulumi:s::p::command:remote:CopyToRemote::c"})
	if err == nil || !strings.Contains(err.Error(), "command:remote:CopyToRemote") {
		t.Errorf("%v", err)
	}
}
