// Package provider is st2-upgrade's own implementation of the part of the Pulumi `command` resource
// provider (pulumi-command 1.2.1) that the project uses: command:remote:Command and
// command:local:Command, with the property names of the @pulumi/command 1.2.1 SDK. It is written
// from the public contract (SDK types, docs) and held to what the real 1.2.1 provider did with this
// program (the recordings in shared/reference/real-command-provider, replayed by contract_test.go).
package provider

import (
	"fmt"
	"math"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The resource types this provider serves.
const (
	RemoteCommand = "command:remote:Command"
	LocalCommand  = "command:local:Command"
)

// Default values, as the SDK documents them. Check writes only the connection's into the inputs,
// as the real provider does (its Connection/ProxyConnection annotations set defaults for user, port,
// dialErrorLimit and perDialTimeout; logging and addPreviousOutputInEnv have none: an absent value
// means "log both" and "true" when a command runs).
const (
	defaultPort           = 22
	defaultUser           = "root"
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
	defaultLogging        = "stdoutAndStderr"
)

// secretConnectionFields: the connection (and proxy) fields the real provider always returns as
// secrets, inside the connection, itself always a secret.
var secretConnectionFields = []resource.PropertyKey{"password", "privateKey", "privateKeyPassword"}

// Logging modes (enum command:remote:Logging / command:local:Logging).
var loggingModes = []string{"stdout", "stderr", "stdoutAndStderr", "none"}

type kind int

const (
	kindString kind = iota
	kindBool
	kindNumber
	kindInteger
	kindStringMap
	kindStringArray
	kindAnyArray
	kindLogging
	kindConnection
	kindProxyConnection
)

type propSpec struct {
	kind     kind
	required bool
	// unsupported, when set, is why this provider rejects the property (the real one supports it).
	unsupported string
	doc         string
}

type objectSpec map[string]propSpec

var proxyConnectionSpec = objectSpec{
	"agentSocketPath":    {kind: kindString, doc: "SSH agent socket path; defaults to $SSH_AUTH_SOCK."},
	"dialErrorLimit":     {kind: kindInteger, doc: "Dial errors allowed before giving up; -1 for no limit. Default 10."},
	"host":               {kind: kindString, required: true, doc: "The address of the bastion host."},
	"hostKey":            {kind: kindString, doc: "The expected host key to verify the server's identity. If not provided, the host key will be ignored."},
	"password":           {kind: kindString, doc: "The password for the bastion host."},
	"perDialTimeout":     {kind: kindInteger, doc: "Seconds each dial may take. Default 15."},
	"port":               {kind: kindNumber, doc: "The port of the bastion host. Default 22."},
	"privateKey":         {kind: kindString, doc: "The contents of an SSH private key for the bastion host."},
	"privateKeyPassword": {kind: kindString, doc: "The password of an encrypted private key."},
	"user":               {kind: kindString, doc: "The user for the bastion host. Default root."},
}

var connectionSpec = func() objectSpec {
	s := objectSpec{}
	for k, v := range proxyConnectionSpec {
		s[k] = v
	}
	s["host"] = propSpec{kind: kindString, required: true, doc: "The address of the host to connect to."}
	s["proxy"] = propSpec{kind: kindProxyConnection, doc: "A bastion host to connect through."}
	return s
}()

var commonInputs = objectSpec{
	"addPreviousOutputInEnv": {kind: kindBool, doc: "Pass the previous stdout and stderr as PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR to update and delete. Default true."},
	"create":                 {kind: kindString, doc: "The command to run on create."},
	"delete":                 {kind: kindString, doc: "The command to run on delete."},
	"environment":            {kind: kindStringMap, doc: "Additional environment variables of the command."},
	"logging":                {kind: kindLogging, doc: "Which of stdout and stderr go to the Pulumi log. Default stdoutAndStderr."},
	"stdin":                  {kind: kindString, doc: "Standard input of the command."},
	"triggers":               {kind: kindAnyArray, doc: "A change of any of these values replaces the resource (re-runs create)."},
	"update":                 {kind: kindString, doc: "The command to run on update; create runs again when unset."},
}

// inputSpecs: the input properties of each resource type, exactly as the SDK names them.
var inputSpecs = map[string]objectSpec{
	RemoteCommand: merge(commonInputs, objectSpec{
		"connection": {kind: kindConnection, required: true, doc: "How to connect to the remote host."},
	}),
	LocalCommand: merge(commonInputs, objectSpec{
		"archivePaths": {kind: kindStringArray, unsupported: "archivePaths (collecting files into the archive output) is not implemented by st2-upgrade's command provider"},
		"assetPaths":   {kind: kindStringArray, unsupported: "assetPaths (collecting files into the assets output) is not implemented by st2-upgrade's command provider"},
		"dir":          {kind: kindString, doc: "The folder the command runs in; the Pulumi program's folder by default."},
		"interpreter":  {kind: kindStringArray, doc: "The program and arguments the command is appended to. Default [\"/bin/sh\", \"-c\"]."},
	}),
}

// outputOnly: the properties a resource type adds to its inputs in its state.
var outputOnly = map[string][]string{
	RemoteCommand: {"stderr", "stdout"},
	LocalCommand:  {"archive", "assets", "stderr", "stdout"},
}

func merge(a, b objectSpec) objectSpec {
	out := objectSpec{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Failure is one problem Check found with an input property.
type Failure struct {
	Property string
	Reason   string
}

// unwrap returns the value inside any secret wrappers and whether there was one.
func unwrap(v resource.PropertyValue) (resource.PropertyValue, bool) {
	secret := false
	for v.IsSecret() {
		secret = true
		v = v.SecretValue().Element
	}
	return v, secret
}

func rewrap(v resource.PropertyValue, secret bool) resource.PropertyValue {
	if secret {
		return resource.MakeSecret(v)
	}
	return v
}

// unknown reports whether v (secrets unwrapped) is not known yet (a preview's computed value).
func unknown(v resource.PropertyValue) bool {
	v, _ = unwrap(v)
	return v.IsComputed() || (v.IsOutput() && !v.OutputValue().Known)
}

// validate checks the known values of props against spec; unknown values pass.
func validate(path string, props resource.PropertyMap, spec objectSpec) []Failure {
	var failures []Failure
	for _, name := range sortedKeys(spec) {
		p := spec[name]
		v, ok := props[resource.PropertyKey(name)]
		if ok {
			v, _ = unwrap(v)
		}
		if !ok || v.IsNull() {
			if p.required {
				failures = append(failures, Failure{path + name, fmt.Sprintf("missing required property %q", path+name)})
			}
			continue
		}
		if p.unsupported != "" {
			failures = append(failures, Failure{path + name, p.unsupported})
			continue
		}
		failures = append(failures, validateValue(path+name, v, p.kind)...)
	}
	for _, key := range props.StableKeys() {
		if _, ok := spec[string(key)]; !ok && !isInternalKey(string(key)) {
			failures = append(failures, Failure{path + string(key), fmt.Sprintf("unknown property %q", path+string(key))})
		}
	}
	return failures
}

func isInternalKey(k string) bool { return len(k) >= 2 && k[:2] == "__" }

func validateValue(path string, v resource.PropertyValue, k kind) []Failure {
	v, _ = unwrap(v)
	if unknown(v) {
		return nil
	}
	bad := func(want string) []Failure {
		return []Failure{{path, fmt.Sprintf("%s must be %s, not %s", path, want, v.TypeString())}}
	}
	switch k {
	case kindString:
		if !v.IsString() {
			return bad("a string")
		}
	case kindBool:
		if !v.IsBool() {
			return bad("a boolean")
		}
	case kindNumber:
		if !v.IsNumber() {
			return bad("a number")
		}
	case kindInteger:
		if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
			return bad("an integer")
		}
	case kindLogging:
		if !v.IsString() {
			return bad("a string")
		}
		for _, m := range loggingModes {
			if v.StringValue() == m {
				return nil
			}
		}
		return []Failure{{path, fmt.Sprintf("%s must be one of %q, not %q", path, loggingModes, v.StringValue())}}
	case kindStringMap:
		if !v.IsObject() {
			return bad("a map of strings")
		}
		var failures []Failure
		obj := v.ObjectValue()
		for _, key := range obj.StableKeys() {
			failures = append(failures, validateValue(path+"."+string(key), obj[key], kindString)...)
		}
		return failures
	case kindStringArray:
		if !v.IsArray() {
			return bad("a list of strings")
		}
		var failures []Failure
		for i, e := range v.ArrayValue() {
			failures = append(failures, validateValue(fmt.Sprintf("%s[%d]", path, i), e, kindString)...)
		}
		return failures
	case kindAnyArray:
		if !v.IsArray() {
			return bad("a list")
		}
	case kindConnection, kindProxyConnection:
		if !v.IsObject() {
			return bad("an object")
		}
		spec := connectionSpec
		if k == kindProxyConnection {
			spec = proxyConnectionSpec
		}
		failures := validate(path+".", v.ObjectValue(), spec)
		if port, ok := v.ObjectValue()["port"]; ok {
			if port, _ = unwrap(port); port.IsNumber() &&
				(port.NumberValue() < 1 || port.NumberValue() > 65535 || port.NumberValue() != math.Trunc(port.NumberValue())) {
				failures = append(failures, Failure{path + ".port", fmt.Sprintf("%s.port must be a port number (1-65535), not %v", path, port.NumberValue())})
			}
		}
		return failures
	}
	return nil
}

// applyDefaults returns a copy of the inputs of a resource of type typ with the connection's
// documented defaults filled in where a property is absent (or null), and the secrets the real
// provider marks: the whole connection, and its password, privateKey and privateKeyPassword (also
// the proxy's). Unknown values are kept as they are (an unknown connection becomes a secret unknown).
func applyDefaults(typ string, inputs resource.PropertyMap) resource.PropertyMap {
	out := inputs.Copy()
	if typ == RemoteCommand {
		if conn, ok := out["connection"]; ok && !conn.IsNull() {
			out["connection"] = makeSecret(markSecretFields(connectionDefaults(conn, true)))
		}
	}
	return out
}

// makeSecret marks v secret; an unknown value becomes a secret unknown output.
func makeSecret(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return v
	case v.IsComputed():
		return resource.NewOutputProperty(resource.Output{Element: v.Input().Element, Secret: true})
	case v.IsOutput():
		o := v.OutputValue()
		o.Secret = true
		return resource.NewOutputProperty(o)
	}
	return resource.MakeSecret(v)
}

// markSecretFields marks the secret fields of a known connection object (and of its proxy).
func markSecretFields(v resource.PropertyValue) resource.PropertyValue {
	inner, secret := unwrap(v)
	if !inner.IsObject() {
		return v
	}
	obj := inner.ObjectValue().Copy()
	for _, k := range secretConnectionFields {
		if f, ok := obj[k]; ok && !f.IsNull() {
			obj[k] = makeSecret(f)
		}
	}
	if proxy, ok := obj["proxy"]; ok && !proxy.IsNull() {
		obj["proxy"] = markSecretFields(proxy)
	}
	return rewrap(resource.NewObjectProperty(obj), secret)
}

func setDefault(m resource.PropertyMap, key string, v resource.PropertyValue) {
	if cur, ok := m[resource.PropertyKey(key)]; !ok || cur.IsNull() {
		m[resource.PropertyKey(key)] = v
	}
}

func connectionDefaults(v resource.PropertyValue, withProxy bool) resource.PropertyValue {
	inner, secret := unwrap(v)
	if !inner.IsObject() {
		return v
	}
	obj := inner.ObjectValue().Copy()
	setDefault(obj, "port", resource.NewNumberProperty(defaultPort))
	setDefault(obj, "user", resource.NewStringProperty(defaultUser))
	setDefault(obj, "dialErrorLimit", resource.NewNumberProperty(defaultDialErrorLimit))
	setDefault(obj, "perDialTimeout", resource.NewNumberProperty(defaultPerDialTimeout))
	if withProxy {
		if proxy, ok := obj["proxy"]; ok && !proxy.IsNull() {
			obj["proxy"] = connectionDefaults(proxy, false)
		}
	}
	return rewrap(resource.NewObjectProperty(obj), secret)
}
