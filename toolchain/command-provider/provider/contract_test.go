package provider

// Contract tests: the recorded gRPC calls of the real pulumi-command 1.2.1 with this program
// (shared/reference/real-command-provider, see its README.md) replayed into this provider, whose
// answers must be the real one's, modulo ids, timestamps and values redacted in the recording.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// recordingDir: $ST2_REFERENCE_DIR/real-command-provider, by default <repo>/../shared/reference/….
// A missing recording fails the test: the contract is only checked against what was recorded.
func recordingDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("ST2_REFERENCE_DIR")
	if base == "" {
		// This package is <repo>/toolchain/command-provider/provider.
		repo, err := filepath.Abs(filepath.Join("..", "..", ".."))
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(repo, "..", "shared", "reference")
	}
	dir := filepath.Join(base, "real-command-provider")
	if _, err := os.Stat(filepath.Join(dir, "create.grpc.jsonl")); err != nil {
		t.Fatalf("the recordings of the real command provider are missing (%v): set ST2_REFERENCE_DIR to the "+
			"folder holding real-command-provider/ (by default <repo>/../shared/reference)", err)
	}
	return dir
}

type recordedCall struct {
	Method   string          `json:"method"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
	Errors   []string        `json:"errors"`
}

// recordedCalls: the calls of the command provider's method (Check, Diff, Create…) in file.
func recordedCalls(t *testing.T, file, method string) []recordedCall {
	t.Helper()
	f, err := os.Open(filepath.Join(recordingDir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var calls []recordedCall
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var c recordedCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if c.Method == "/pulumirpc.ResourceProvider/"+method {
			calls = append(calls, c)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 {
		t.Fatalf("%s holds no %s call", file, method)
	}
	return calls
}

var protoIn = protojson.UnmarshalOptions{DiscardUnknown: true}

func decode(t *testing.T, raw json.RawMessage, m proto.Message) {
	t.Helper()
	if err := protoIn.Unmarshal(raw, m); err != nil {
		t.Fatalf("decoding %T: %v", m, err)
	}
}

// plain: a Struct as plain JSON values (secret markers and unknown sentinels included), for comparing.
func plain(t *testing.T, s *structpb.Struct) any {
	t.Helper()
	b, err := protojson.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func plainJSON(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func showJSON(v any) string {
	b, _ := json.Marshal(shorten(v))
	return string(b)
}

// shorten cuts long strings (the scripts) so a failure message stays readable.
func shorten(v any) any {
	switch x := v.(type) {
	case string:
		if len(x) > 80 {
			return fmt.Sprintf("%s…(%d bytes)", x[:60], len(x))
		}
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = shorten(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = shorten(e)
		}
		return out
	}
	return v
}

// replay decodes every recorded call of method in files, request and response, and hands each pair
// to check with the file it came from: the one loop of the replaying tests.
func replay[Req, Resp any, PReq interface {
	*Req
	proto.Message
}, PResp interface {
	*Resp
	proto.Message
}](t *testing.T, files []string, method string, check func(file string, req PReq, want PResp)) {
	t.Helper()
	for _, file := range files {
		for _, c := range recordedCalls(t, file, method) {
			req, want := PReq(new(Req)), PResp(new(Resp))
			decode(t, c.Request, req)
			decode(t, c.Response, want)
			check(file, req, want)
		}
	}
}

var recordings = []string{"create.grpc.jsonl", "noop-preview.grpc.jsonl", "trigger-change-preview.grpc.jsonl", "failure-up.grpc.jsonl"}

// Check returns exactly the inputs the real one returned: no logging/addPreviousOutputInEnv written
// in, the connection a secret with the private key a nested secret.
func TestContractCheck(t *testing.T) {
	s := New(nil)
	n := 0
	replay(t, recordings, "Check", func(file string, req *pulumirpc.CheckRequest, want *pulumirpc.CheckResponse) {
		got, err := s.Check(context.Background(), req)
		if err != nil {
			t.Errorf("%s %s: %v", file, req.GetName(), err)
			return
		}
		if len(got.Failures) != len(want.Failures) {
			t.Errorf("%s %s: failures %v, real %v", file, req.GetName(), got.Failures, want.Failures)
		}
		if g, w := plain(t, got.Inputs), plain(t, want.Inputs); !reflect.DeepEqual(g, w) {
			t.Errorf("%s %s: Check returned\n%s\nthe real one\n%s", file, req.GetName(), showJSON(g), showJSON(w))
		}
		n++
	})
	if n != 93 {
		t.Errorf("replayed %d Check calls, the recordings hold 93", n)
	}
}

// normalizeDiff: a DiffResponse with its lists sorted (the real one's come from Go maps).
func normalizeDiff(r *pulumirpc.DiffResponse) *pulumirpc.DiffResponse {
	r = proto.Clone(r).(*pulumirpc.DiffResponse)
	sort.Strings(r.Diffs)
	sort.Strings(r.Replaces)
	sort.Strings(r.Stables)
	if len(r.DetailedDiff) == 0 {
		r.DetailedDiff = nil
	}
	return r
}

// Diff decides as the real one did for every recorded request: DIFF_NONE for the no-op preview;
// for a triggers change an `update` of triggers[0], no replaces (the SDK's replaceOnChanges makes
// the engine replace).
func TestContractDiff(t *testing.T) {
	s := New(nil)
	counts := map[string]int{}
	replay(t, []string{"noop-preview.grpc.jsonl", "trigger-change-preview.grpc.jsonl"}, "Diff", func(file string, req *pulumirpc.DiffRequest, want *pulumirpc.DiffResponse) {
		got, err := s.Diff(context.Background(), req)
		if err != nil {
			t.Errorf("%s %s: %v", file, req.GetName(), err)
			return
		}
		if g, w := normalizeDiff(got), normalizeDiff(want); !proto.Equal(g, w) {
			t.Errorf("%s %s: Diff returned\n%v\nthe real one\n%v", file, req.GetName(), g, w)
		}
		counts[file+" "+want.GetChanges().String()]++
	})
	want := map[string]int{
		"noop-preview.grpc.jsonl DIFF_NONE":           30,
		"trigger-change-preview.grpc.jsonl DIFF_NONE": 15,
		"trigger-change-preview.grpc.jsonl DIFF_SOME": 8,
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("replayed %v, want %v", counts, want)
	}
}

var idPattern = regexp.MustCompile(`^(.*)[0-9a-f]{8}$`)

// Create in a preview (the replacements of the trigger-change preview): the inputs with stdout and
// stderr unknown, and an id (the name and 8 hex digits), as the real one.
func TestContractPreviewCreate(t *testing.T) {
	s := New(nil)
	replay(t, []string{"trigger-change-preview.grpc.jsonl"}, "Create", func(_ string, req *pulumirpc.CreateRequest, want *pulumirpc.CreateResponse) {
		if !req.GetPreview() {
			t.Fatalf("%s: a Create of a preview that is not a preview", req.GetName())
		}
		got, err := s.Create(context.Background(), req)
		if err != nil {
			t.Errorf("%s: %v", req.GetName(), err)
			return
		}
		for _, id := range []string{got.GetId(), want.GetId()} {
			if m := idPattern.FindStringSubmatch(id); m == nil || m[1] != req.GetName() {
				t.Errorf("%s: id %q (ours %q, real %q)", req.GetName(), id, got.GetId(), want.GetId())
			}
		}
		if g, w := plain(t, got.Properties), plain(t, want.Properties); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: preview Create returned\n%s\nthe real one\n%s", req.GetName(), showJSON(g), showJSON(w))
		}
	})
}

// onLoopback: the recorded request's connection pointed at the throwaway sshd (as root, with its
// key), the rest of the connection (limits, secret markers) as recorded.
func onLoopback(t *testing.T, props *structpb.Struct, d *testSSHD, privateKey string) *structpb.Struct {
	t.Helper()
	m, err := unmarshal(props)
	if err != nil {
		t.Fatal(err)
	}
	conn, secret := unwrap(m["connection"])
	obj := conn.ObjectValue().Copy()
	obj["host"] = resource.NewStringProperty("127.0.0.1")
	obj["port"] = resource.NewNumberProperty(float64(d.port))
	obj["user"] = resource.NewStringProperty("root")
	key, keySecret := unwrap(obj["privateKey"])
	if !key.IsString() {
		t.Fatalf("the recorded connection has no private key: %v", obj)
	}
	obj["privateKey"] = rewrap(resource.NewStringProperty(privateKey), keySecret)
	m["connection"] = rewrap(resource.NewObjectProperty(obj), secret)
	out, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withRecordedConnection puts the recorded connection back into our response's properties, so the
// rest compares as is.
func withRecordedConnection(t *testing.T, ours, recorded *structpb.Struct) any {
	t.Helper()
	o := plain(t, ours).(map[string]any)
	r := plain(t, recorded).(map[string]any)
	o["connection"] = r["connection"]
	return o
}

// shapeOf: the connection's secret structure (which levels carry the secret marker), the rest of
// the object as keys only.
func secretShape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = secretShape(e)
		}
		return out
	case string:
		if x == resource.SecretSig || x == plugin.UnknownStringValue {
			return x
		}
		return "string"
	}
	return fmt.Sprintf("%T", v)
}

// Create on a host: the state our provider returns for a recorded step (run on the throwaway sshd,
// the command replaced by one printing the recorded stdout and stderr) is the real one's: the same
// properties, the same secret markers, the same stdout and stderr.
func TestContractCreateState(t *testing.T) {
	d := startSSHD(t)
	s := New(nil)
	checked := 0
	for _, c := range recordedCalls(t, "create.grpc.jsonl", "Create") {
		var req pulumirpc.CreateRequest
		decode(t, c.Request, &req)
		var want pulumirpc.CreateResponse
		decode(t, c.Response, &want)
		name := req.GetName()
		if name != "st2-st2h1-preflight" && name != "st2-st2h2-mistral-db-3.0.1" {
			continue // one step without stderr, one with
		}
		checked++
		wantOut := want.Properties.Fields["stdout"].GetStringValue()
		wantErr := want.Properties.Fields["stderr"].GetStringValue()
		props := onLoopback(t, req.Properties, d, d.privateKey)
		printing := fmt.Sprintf("printf '%%s\\n' %s; printf '%%s\\n' %s >&2", shellQuote(wantOut), shellQuote(wantErr))
		if wantErr == "" {
			printing = fmt.Sprintf("printf '%%s\\n' %s", shellQuote(wantOut))
		}
		props.Fields["create"] = structpb.NewStringValue(printing)
		got, err := s.Create(context.Background(), &pulumirpc.CreateRequest{
			Type: req.GetType(), Urn: req.GetUrn(), Name: name, Properties: props,
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m := idPattern.FindStringSubmatch(got.GetId()); m == nil || m[1] != name {
			t.Errorf("%s: id %q, the real one %q", name, got.GetId(), want.GetId())
		}
		g := withRecordedConnection(t, got.Properties, want.Properties).(map[string]any)
		g["create"] = plain(t, want.Properties).(map[string]any)["create"]
		if w := plain(t, want.Properties); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: Create returned\n%s\nthe real one\n%s", name, showJSON(g), showJSON(w))
		}
		if g, w := secretShape(plain(t, got.Properties)), secretShape(plain(t, want.Properties)); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: secret markers %s, the real one's %s", name, showJSON(g), showJSON(w))
		}
	}
	if checked != 2 {
		t.Errorf("compared %d recorded creates, want 2", checked)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// recordedFailure: the request and the error of the failed Create of failure-up whose error
// contains part.
func recordedFailure(t *testing.T, part string) (*pulumirpc.CreateRequest, string) {
	t.Helper()
	for _, c := range recordedCalls(t, "failure-up.grpc.jsonl", "Create") {
		if len(c.Errors) == 1 && strings.Contains(c.Errors[0], part) {
			var req pulumirpc.CreateRequest
			decode(t, c.Request, &req)
			return &req, c.Errors[0]
		}
	}
	t.Fatalf("failure-up.grpc.jsonl holds no failed Create with %q", part)
	return nil, ""
}

var commandErrorPattern = regexp.MustCompile(`(?s)^(Process exited with status \d+): running ("(?:[^"\\]|\\.)*"):\n(.*)$`)

// A failing step: the real one's error is the exit status, the whole command quoted (%q) and all
// of the output. The recorded failing command is run here on the throwaway sshd (it fails earlier
// there, at its sudo check): the same status and the same quoted command, then the output.
func TestContractCommandError(t *testing.T) {
	d := startSSHD(t)
	req, real := recordedFailure(t, "Process exited")
	command := req.Properties.Fields["create"].GetStringValue()

	const rpcPrefix = "rpc error: code = Unknown desc = "
	if !strings.HasPrefix(real, rpcPrefix) {
		t.Fatalf("recorded error %q", real)
	}
	rm := commandErrorPattern.FindStringSubmatch(strings.TrimPrefix(real, rpcPrefix))
	if rm == nil {
		t.Fatalf("the recorded error does not have the expected form: %q", real)
	}
	if q, err := strconv.Unquote(rm[2]); err != nil || q != command {
		t.Fatalf("the recorded error does not quote the whole command (%v)", err)
	}
	if rm[3] != "[st2-upgrade st2h2/preflight] ERROR: yum not found, but hosts[1].packageManager is yum\n" {
		t.Errorf("recorded output %q", rm[3])
	}

	_, err := New(nil).Create(context.Background(), &pulumirpc.CreateRequest{
		Type: req.GetType(), Urn: req.GetUrn(), Name: req.GetName(), Properties: onLoopback(t, req.Properties, d, d.privateKey),
	})
	if err == nil {
		t.Fatal("the recorded failing command succeeded here")
	}
	ours := status.Convert(err)
	if got := fmt.Sprintf("rpc error: code = %s desc = ", ours.Code()); got != rpcPrefix {
		t.Errorf("gRPC status %q, the real one %q", got, rpcPrefix)
	}
	om := commandErrorPattern.FindStringSubmatch(ours.Message())
	if om == nil {
		t.Fatalf("our error does not have the real one's form: %q", ours.Message())
	}
	if om[1] != rm[1] || om[2] != rm[2] {
		t.Errorf("ours: %q running %.80s…, the real one: %q running %.80s…", om[1], om[2], rm[1], rm[2])
	}
	host, _ := os.Hostname()
	if want := fmt.Sprintf("[st2-upgrade st2h2/preflight] ERROR: passwordless sudo is required: 'sudo -n true' failed for root@%s\n", host); om[3] != want {
		t.Errorf("our error's output %q, want %q (all of the command's output)", om[3], want)
	}
}

// An SSH authentication failure: the same dials, status lines and error as the real one's for the
// recorded step (dialErrorLimit 3: four dials, "Dial 1/3 failed: retrying" … 3/3, then "after 3
// failed attempts: ssh: handshake failed: …").
func TestContractDialError(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	d := startSSHD(t)
	req, real := recordedFailure(t, "failed attempts")
	_, otherKey, _ := newKey(t) // a key the sshd does not authorize
	log := &recordingLogger{}
	_, err := New(log).Create(context.Background(), &pulumirpc.CreateRequest{
		Type: req.GetType(), Urn: req.GetUrn(), Name: req.GetName(), Properties: onLoopback(t, req.Properties, d, otherKey),
	})
	if err == nil {
		t.Fatal("a key the sshd does not know was accepted")
	}
	if got := "rpc error: code = " + status.Convert(err).Code().String() + " desc = " + status.Convert(err).Message(); got != real {
		t.Errorf("error\n%q\nthe real one\n%q", got, real)
	}
	// The real one's status lines, from the recorded `up` output.
	raw, rerr := os.ReadFile(filepath.Join(recordingDir(t), "failure-up.log"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	wantLines := regexp.MustCompile(`st2-st2h1-preflight creating \(\d+s\) (Dial \d+/\d+ failed: retrying)`).FindAllStringSubmatch(string(raw), -1)
	var want []string
	for _, m := range wantLines {
		want = append(want, m[1])
	}
	if got := log.messages(); strings.Join(got, "|") != strings.Join(want, "|") || len(want) != 3 {
		t.Errorf("status lines %q, the real one's %q", got, want)
	}
}

// ourCreateChecks: our Check's inputs for every recorded create-time Check request, by URN.
func ourCreateChecks(t *testing.T, s *Server) map[string]*structpb.Struct {
	t.Helper()
	out := map[string]*structpb.Struct{}
	replay(t, []string{"create.grpc.jsonl"}, "Check", func(_ string, req *pulumirpc.CheckRequest, _ *pulumirpc.CheckResponse) {
		resp, err := s.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		out[req.GetUrn()] = resp.Inputs
	})
	return out
}

// The state our provider writes is the real one's: our Check's inputs for the recorded create-time
// requests are the old inputs the recorded no-op Diff requests carry, our outputs (inputs, stdout,
// stderr) their old state; a Diff of the recorded new inputs against our state is DIFF_NONE; and
// the real state's inputs against our Check of the no-op preview's inputs too.
func TestContractOurStateIsTheRealOne(t *testing.T) {
	s := New(nil)
	ourInputs := ourCreateChecks(t, s)
	recordedNews := map[string]*structpb.Struct{}
	for _, c := range recordedCalls(t, "noop-preview.grpc.jsonl", "Check") {
		var req pulumirpc.CheckRequest
		decode(t, c.Request, &req)
		var resp pulumirpc.CheckResponse
		decode(t, c.Response, &resp)
		recordedNews[req.GetUrn()] = resp.Inputs
	}
	compared := 0
	for _, c := range recordedCalls(t, "noop-preview.grpc.jsonl", "Diff") {
		var req pulumirpc.DiffRequest
		decode(t, c.Request, &req)
		urn := req.GetUrn()
		inputs, ok := ourInputs[urn]
		if !ok {
			t.Fatalf("no recorded create-time Check for %s", urn)
		}
		// Our state: Create returns the checked inputs with stdout and stderr (those of the run).
		outputs := proto.Clone(inputs).(*structpb.Struct)
		outputs.Fields["stdout"] = req.Olds.Fields["stdout"]
		outputs.Fields["stderr"] = req.Olds.Fields["stderr"]
		if g, w := plain(t, inputs), plain(t, req.OldInputs); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: our inputs in the state\n%s\nthe real one's\n%s", urn, showJSON(g), showJSON(w))
		}
		if g, w := plain(t, outputs), plain(t, req.Olds); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: our outputs in the state\n%s\nthe real one's\n%s", urn, showJSON(g), showJSON(w))
		}
		ourState := proto.Clone(&req).(*pulumirpc.DiffRequest)
		ourState.OldInputs, ourState.Olds = inputs, outputs
		resp, err := s.Diff(context.Background(), ourState)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
			t.Errorf("%s: our state against the real inputs: %v", urn, resp)
		}
		// And the other way round: the real state against our Check of the no-op preview's inputs.
		news, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, Type: req.GetType(), News: recordedNews[urn]})
		if err != nil {
			t.Fatal(err)
		}
		realState := proto.Clone(&req).(*pulumirpc.DiffRequest)
		realState.News = news.Inputs
		if resp, err := s.Diff(context.Background(), realState); err != nil || resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
			t.Errorf("%s: the real state against our inputs: %v %v", urn, resp, err)
		}
		compared++
	}
	if compared != 30 {
		t.Errorf("compared %d steps, want 30", compared)
	}
}

// The state export of the real one holds, for every step, inputs with exactly the keys its Check
// returned and outputs with stdout and stderr more, the connection a secret in both; our Check and
// Create give the same keys and the same secret connection.
func TestContractStateExportShape(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(recordingDir(t), "state-after-create.json"))
	if err != nil {
		t.Fatal(err)
	}
	var export struct {
		Deployment struct {
			Resources []struct {
				URN     string         `json:"urn"`
				Type    string         `json:"type"`
				Inputs  map[string]any `json:"inputs"`
				Outputs map[string]any `json:"outputs"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(raw, &export); err != nil {
		t.Fatal(err)
	}
	ours := map[string]map[string]any{}
	for urn, inputs := range ourCreateChecks(t, New(nil)) {
		ours[urn] = plain(t, inputs).(map[string]any)
	}
	keys := func(m map[string]any) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	n := 0
	for _, r := range export.Deployment.Resources {
		if r.Type != RemoteCommand {
			continue
		}
		n++
		our, ok := ours[r.URN]
		if !ok {
			t.Errorf("%s: no recorded Check", r.URN)
			continue
		}
		if keys(our) != keys(r.Inputs) {
			t.Errorf("%s: our inputs %s, the real state's %s", r.URN, keys(our), keys(r.Inputs))
		}
		if want := sortedJoin(append(strings.Split(keys(r.Inputs), ","), "stderr", "stdout")); keys(r.Outputs) != want {
			t.Errorf("%s: the real state's outputs %s", r.URN, keys(r.Outputs))
		}
		for _, props := range []map[string]any{r.Inputs, r.Outputs, our} {
			conn, _ := props["connection"].(map[string]any)
			if conn[resource.SigKey] != resource.SecretSig {
				t.Errorf("%s: connection not a secret: %v", r.URN, shorten(props["connection"]))
			}
		}
	}
	if n != 30 {
		t.Errorf("%d steps in the state export, want 30", n)
	}
}

func sortedJoin(s []string) string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return strings.Join(s, ",")
}
