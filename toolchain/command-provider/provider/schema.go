package provider

import (
	"encoding/json"
	"sort"
)

// Schema returns a minimal Pulumi package schema for `command` at Version: the resource types this
// provider implements, their properties, and the connection and logging types they use. (The
// @pulumi/command SDK is pre-generated; the engine only needs the schema to be valid.)
func Schema() (string, error) {
	types := map[string]any{
		"command:remote:Connection":      objectType("Instructions for how to connect to a remote endpoint.", connectionSpec),
		"command:remote:ProxyConnection": objectType("Instructions for how to connect to a bastion host.", proxyConnectionSpec),
		"command:remote:Logging":         loggingEnum(),
		"command:local:Logging":          loggingEnum(),
	}
	resources := map[string]any{}
	for _, typ := range []string{RemoteCommand, LocalCommand} {
		inputs := map[string]any{}
		var requiredInputs []string
		for _, name := range sortedKeys(inputSpecs[typ]) {
			p := inputSpecs[typ][name]
			inputs[name] = propertySchema(typ, p)
			if p.required {
				requiredInputs = append(requiredInputs, name)
			}
		}
		properties := map[string]any{}
		for k, v := range inputs {
			properties[k] = v
		}
		properties["stdout"] = map[string]any{"type": "string", "description": "The standard output of the command's process."}
		properties["stderr"] = map[string]any{"type": "string", "description": "The standard error of the command's process."}
		if typ == LocalCommand {
			properties["archive"] = map[string]any{"$ref": "pulumi.json#/Archive", "description": "Never set by this provider."}
			properties["assets"] = map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "pulumi.json#/Asset"}, "description": "Never set by this provider."}
		}
		required := append(append([]string(nil), requiredInputs...), "stderr", "stdout")
		sort.Strings(required)
		res := map[string]any{
			"description":     "A command run on " + map[string]string{RemoteCommand: "a remote host over SSH.", LocalCommand: "this machine."}[typ],
			"properties":      properties,
			"required":        required,
			"inputProperties": inputs,
		}
		if len(requiredInputs) > 0 {
			res["requiredInputs"] = requiredInputs
		}
		resources[typ] = res
	}
	schema := map[string]any{
		"name":        "command",
		"displayName": "Command",
		"version":     Version,
		"description": "st2-upgrade's implementation of the remote and local Command resources of the Pulumi Command Provider.",
		"license":     "Apache-2.0",
		"meta":        map[string]any{"moduleFormat": "(.*)"},
		"provider":    map[string]any{"description": "The provider type for the command package."},
		"types":       types,
		"resources":   resources,
	}
	b, err := json.MarshalIndent(schema, "", "  ")
	return string(b), err
}

func loggingEnum() map[string]any {
	var values []any
	for _, m := range loggingModes {
		values = append(values, map[string]any{"name": m, "value": m})
	}
	return map[string]any{"type": "string", "enum": values}
}

func objectType(description string, spec objectSpec) map[string]any {
	props := map[string]any{}
	var required []string
	for _, name := range sortedKeys(spec) {
		props[name] = propertySchema("", spec[name])
		if spec[name].required {
			required = append(required, name)
		}
	}
	t := map[string]any{"type": "object", "description": description, "properties": props}
	if len(required) > 0 {
		t["required"] = required
	}
	return t
}

func propertySchema(typ string, p propSpec) map[string]any {
	var s map[string]any
	switch p.kind {
	case kindString:
		s = map[string]any{"type": "string"}
	case kindBool:
		s = map[string]any{"type": "boolean"}
	case kindNumber:
		s = map[string]any{"type": "number"}
	case kindInteger:
		s = map[string]any{"type": "integer"}
	case kindStringMap:
		s = map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
	case kindStringArray:
		s = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
	case kindAnyArray:
		s = map[string]any{"type": "array", "items": map[string]any{"$ref": "pulumi.json#/Any"}, "replaceOnChanges": true}
	case kindLogging:
		if typ == LocalCommand {
			s = map[string]any{"$ref": "#/types/command:local:Logging"}
		} else {
			s = map[string]any{"$ref": "#/types/command:remote:Logging"}
		}
	case kindConnection:
		s = map[string]any{"$ref": "#/types/command:remote:Connection", "secret": true}
	case kindProxyConnection:
		s = map[string]any{"$ref": "#/types/command:remote:ProxyConnection"}
	}
	desc := p.doc
	if p.unsupported != "" {
		desc = "Not supported: " + p.unsupported + "."
	}
	if desc != "" {
		s["description"] = desc
	}
	return s
}
