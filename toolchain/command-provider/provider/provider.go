package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Version is the provider version reported to the engine; the build stamps the @pulumi/command
// version the project pins (-ldflags -X st2-upgrade/toolchain/command-provider/provider.Version=…).
var Version = "0.0.0-dev"

// Server implements the Pulumi resource provider protocol for the package `command`.
type Server struct {
	pulumirpc.UnimplementedResourceProviderServer

	log Logger
	// canceled ends every running operation when the engine calls Cancel.
	canceled context.Context
	cancel   context.CancelFunc
}

// New returns a provider that logs to log.
func New(log Logger) *Server {
	if log == nil {
		log = NopLogger{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{log: log, canceled: ctx, cancel: cancel}
}

var (
	unmarshalOpts = plugin.MarshalOptions{
		Label: "command", KeepUnknowns: true, KeepSecrets: true, SkipNulls: true, KeepResources: true,
	}
	marshalOpts = plugin.MarshalOptions{
		Label: "command", KeepUnknowns: true, KeepSecrets: true, SkipNulls: true, KeepResources: true,
	}
)

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, unmarshalOpts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshalOpts)
}

// resourceType: the request's type, else the URN's.
func resourceType(typ, urn string) (string, error) {
	if typ == "" && urn != "" && resource.URN(urn).IsValid() {
		typ = string(resource.URN(urn).Type())
	}
	if _, ok := inputSpecs[typ]; !ok {
		return typ, status.Errorf(codes.Unimplemented,
			"resource type %q is not implemented by st2-upgrade's command provider (it implements %s and %s of "+
				"pulumi-command %s; install the real pulumi-resource-command for the others)",
			typ, RemoteCommand, LocalCommand, Version)
	}
	return typ, nil
}

func resourceName(name, urn string) string {
	if name == "" && resource.URN(urn).IsValid() {
		name = resource.URN(urn).Name()
	}
	if name == "" {
		name = "command"
	}
	return name
}

// operationContext: the request's context, ended also by Cancel and by the step's custom timeout.
func (s *Server) operationContext(ctx context.Context, timeoutSeconds float64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.canceled, cancel)
	if timeoutSeconds > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, time.Duration(timeoutSeconds*float64(time.Second)))
		inner := cancel
		cancel = func() { cancelTimeout(); inner() }
	}
	return ctx, func() { stop(); cancel() }
}

// GetPluginInfo reports the provider version.
func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

// GetSchema returns a minimal schema of the package (the types this provider implements).
func (s *Server) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, status.Errorf(codes.InvalidArgument, "the command package has no subpackage %q", req.GetSubpackageName())
	}
	schema, err := Schema()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: schema}, nil
}

// CheckConfig accepts the provider configuration as given (the package has none).
func (s *Server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig: a provider without configuration never changes.
func (s *Server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure accepts the configuration; secrets pass through, and Create/Update are called in previews.
func (s *Server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

// Cancel ends the running commands and closes the kept SSH connections (the engine is shutting down).
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	s.cancel()
	closeKept()
	return &emptypb.Empty{}, nil
}

// Check validates the inputs and fills in the documented defaults.
func (s *Server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	checked, failures := CheckInputs(typ, news)
	inputs, err := marshal(checked)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.CheckResponse{Inputs: inputs}
	for _, f := range failures {
		resp.Failures = append(resp.Failures, &pulumirpc.CheckFailure{Property: f.Property, Reason: f.Reason})
	}
	return resp, nil
}

// CheckInputs validates the inputs of a resource of type typ and applies the defaults.
func CheckInputs(typ string, news resource.PropertyMap) (resource.PropertyMap, []Failure) {
	failures := validate("", news, inputSpecs[typ])
	return applyDefaults(typ, news), failures
}

var diffKinds = map[DiffKind]pulumirpc.PropertyDiff_Kind{
	Add: pulumirpc.PropertyDiff_ADD, Delete: pulumirpc.PropertyDiff_DELETE, Update: pulumirpc.PropertyDiff_UPDATE,
	AddReplace: pulumirpc.PropertyDiff_ADD_REPLACE, DeleteReplace: pulumirpc.PropertyDiff_DELETE_REPLACE,
	UpdateReplace: pulumirpc.PropertyDiff_UPDATE_REPLACE,
}

// Diff compares the old inputs with the new ones as the real provider does (see diffInputs): a
// change inside triggers is reported as an update of that element, the SDK's replaceOnChanges makes
// the engine replace the resource.
func (s *Server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	oldInputs := stripOutputs(typ, olds)
	// The engine sends the old inputs (the provider's Configure saw sendsOldInputs); the state minus
	// the output-only properties stands in for them only when it does not.
	if len(req.GetOldInputs().GetFields()) > 0 {
		if oldInputs, err = unmarshal(req.GetOldInputs()); err != nil {
			return nil, err
		}
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	d := diffInputs(oldInputs, olds, news, req.GetIgnoreChanges())
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		Diffs:           d.Diffs,
		Replaces:        d.Replaces,
		HasDetailedDiff: true,
	}
	if d.HasChanges() {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		resp.DetailedDiff = map[string]*pulumirpc.PropertyDiff{}
	}
	for _, k := range d.ChangedKeys() {
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: diffKinds[d.Changed[k]]}
	}
	return resp, nil
}

// Create runs `create` (nothing in a preview) and returns the inputs with stdout and stderr. A
// failed command is an error and leaves no resource behind, so the next `up` runs it again.
func (s *Server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outputs := inputs.Copy()
	// The id is the name and 8 random hex digits, in a preview too, as the real provider does.
	id, err := resource.NewUniqueHex(resourceName(req.GetName(), req.GetUrn()), 8, 0)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		setUnknownOutputs(outputs)
		props, err := marshal(outputs)
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	stdout, stderr := "", ""
	if command, ok := stringInput(inputs, "create"); ok {
		ctx, done := s.operationContext(ctx, req.GetTimeout())
		defer done()
		stdout, stderr, err = s.run(ctx, typ, req.GetUrn(), inputs, command, nil)
		if err != nil {
			return nil, err
		}
	}
	outputs["stdout"] = resource.NewStringProperty(stdout)
	outputs["stderr"] = resource.NewStringProperty(stderr)
	props, err := marshal(outputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Read returns the recorded state: nothing on the host is read (a refresh changes nothing).
func (s *Server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs := req.GetInputs()
	if len(inputs.GetFields()) == 0 && len(req.GetProperties().GetFields()) > 0 {
		props, err := unmarshal(req.GetProperties())
		if err != nil {
			return nil, err
		}
		if inputs, err = marshal(stripOutputs(typ, props)); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: inputs}, nil
}

// Update runs `update`, else `create`, with the new inputs; the previous stdout and stderr are in
// PULUMI_COMMAND_STDOUT/STDERR unless addPreviousOutputInEnv is false.
func (s *Server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	// As the real provider does, an ignored path keeps the old state's value in the new state (so
	// an ignored connection keeps the shape the state had, secret markers included).
	news = withIgnoredFromState(news, olds, req.GetIgnoreChanges())
	outputs := news.Copy()
	command, ok := stringInput(news, "update")
	if !ok {
		command, ok = stringInput(news, "create")
	}
	switch {
	case !ok:
		// Nothing to run: the outputs of the last run stay.
		outputs["stdout"] = stringOr(olds, "stdout")
		outputs["stderr"] = stringOr(olds, "stderr")
	case req.GetPreview():
		setUnknownOutputs(outputs)
	default:
		ctx, done := s.operationContext(ctx, req.GetTimeout())
		defer done()
		stdout, stderr, err := s.run(ctx, typ, req.GetUrn(), news, command, previousOutputEnv(news, olds))
		if err != nil {
			return nil, err
		}
		outputs["stdout"] = resource.NewStringProperty(stdout)
		outputs["stderr"] = resource.NewStringProperty(stderr)
	}
	props, err := marshal(outputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete runs `delete` when there is one, with the recorded inputs.
func (s *Server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if command, ok := stringInput(state, "delete"); ok {
		ctx, done := s.operationContext(ctx, req.GetTimeout())
		defer done()
		if _, _, err := s.run(ctx, typ, req.GetUrn(), state, command, previousOutputEnv(state, state)); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// Invoke: the package's functions (local:run) are not implemented.
func (s *Server) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, status.Errorf(codes.Unimplemented,
		"function %q is not implemented by st2-upgrade's command provider", req.GetTok())
}

// GetMapping: no mappings to other ecosystems.
func (s *Server) GetMapping(context.Context, *pulumirpc.GetMappingRequest) (*pulumirpc.GetMappingResponse, error) {
	return &pulumirpc.GetMappingResponse{}, nil
}

// GetMappings: no mappings to other ecosystems.
func (s *Server) GetMappings(context.Context, *pulumirpc.GetMappingsRequest) (*pulumirpc.GetMappingsResponse, error) {
	return &pulumirpc.GetMappingsResponse{}, nil
}

func setUnknownOutputs(m resource.PropertyMap) {
	m["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
	m["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
}

// stringInput: a known, non-null string input (secrets unwrapped).
func stringInput(m resource.PropertyMap, key string) (string, bool) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return "", false
	}
	v, _ = unwrap(v)
	if !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

func stringOr(m resource.PropertyMap, key string) resource.PropertyValue {
	if v, ok := m[resource.PropertyKey(key)]; ok {
		return v
	}
	return resource.NewStringProperty("")
}

// previousOutputEnv: PULUMI_COMMAND_STDOUT/STDERR from state, unless inputs set addPreviousOutputInEnv false.
func previousOutputEnv(inputs, state resource.PropertyMap) map[string]string {
	if v, ok := inputs["addPreviousOutputInEnv"]; ok {
		if v, _ = unwrap(v); v.IsBool() && !v.BoolValue() {
			return nil
		}
	}
	env := map[string]string{}
	if s, ok := stringInput(state, "stdout"); ok && s != "" {
		env["PULUMI_COMMAND_STDOUT"] = s
	}
	if s, ok := stringInput(state, "stderr"); ok && s != "" {
		env["PULUMI_COMMAND_STDERR"] = s
	}
	return env
}

type target interface {
	run(ctx context.Context, log Logger, spec execSpec) (stdout, stderr string, err error)
}

// run runs command for the resource urn of type typ with inputs.
func (s *Server) run(ctx context.Context, typ, urn string, inputs resource.PropertyMap, command string,
	prevEnv map[string]string,
) (string, string, error) {
	t, err := targetFor(typ, inputs)
	if err != nil {
		return "", "", err
	}
	spec := execSpec{urn: urn, command: command, prevEnv: prevEnv, logging: defaultLogging}
	if l, ok := stringInput(inputs, "logging"); ok {
		spec.logging = l
	}
	if stdin, ok := stringInput(inputs, "stdin"); ok {
		spec.stdin = &stdin
	}
	if env, ok := inputs["environment"]; ok {
		if env, _ = unwrap(env); env.IsObject() {
			spec.env = map[string]string{}
			for k, v := range env.ObjectValue() {
				if v, _ = unwrap(v); v.IsString() {
					spec.env[string(k)] = v.StringValue()
				}
			}
		}
	}
	return t.run(ctx, s.log, spec)
}

func targetFor(typ string, inputs resource.PropertyMap) (target, error) {
	switch typ {
	case RemoteCommand:
		conn, ok := inputs["connection"]
		if !ok {
			return nil, errors.New("missing required property \"connection\"")
		}
		c, err := parseConnection(conn)
		if err != nil {
			return nil, err
		}
		return remoteTarget{conn: c}, nil
	case LocalCommand:
		t := localTarget{}
		if dir, ok := stringInput(inputs, "dir"); ok {
			t.dir = dir
		}
		if v, ok := inputs["interpreter"]; ok {
			if v, _ = unwrap(v); v.IsArray() {
				for _, e := range v.ArrayValue() {
					if e, _ = unwrap(e); e.IsString() {
						t.interpreter = append(t.interpreter, e.StringValue())
					}
				}
			}
		}
		return t, nil
	}
	return nil, fmt.Errorf("resource type %q is not implemented", typ)
}
