package provider

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func pm(m map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(m) }

// secretConn: a connection as the real provider's Check returns it: a secret object whose
// password/privateKey/privateKeyPassword are secrets too.
func secretConn(fields map[string]any) resource.PropertyValue {
	obj := pm(fields)
	for _, k := range secretConnectionFields {
		if v, ok := obj[k]; ok {
			obj[k] = resource.MakeSecret(v)
		}
	}
	return resource.MakeSecret(resource.NewObjectProperty(obj))
}

func TestCheckAppliesConnectionDefaultsOnly(t *testing.T) {
	conn := resource.MakeSecret(resource.NewObjectProperty(pm(map[string]any{"host": "10.0.0.1", "privateKey": "k"})))
	checked, failures := CheckInputs(RemoteCommand, resource.PropertyMap{
		"connection": conn,
		"create":     resource.NewStringProperty("true"),
	})
	if len(failures) > 0 {
		t.Fatalf("unexpected failures: %v", failures)
	}
	want := resource.PropertyMap{
		"create": resource.NewStringProperty("true"),
		"connection": secretConn(map[string]any{
			"host": "10.0.0.1", "privateKey": "k", "port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0,
		}),
	}
	if !checked.DeepEquals(want) {
		t.Errorf("got %v\nwant %v", checked, want)
	}
}

func TestCheckMakesTheConnectionSecret(t *testing.T) {
	checked, failures := CheckInputs(RemoteCommand, pm(map[string]any{
		"connection": map[string]any{
			"host": "h", "port": 2222.0, "user": "st2", "dialErrorLimit": -1.0, "perDialTimeout": 3.0, "password": "pw",
			"proxy": map[string]any{"host": "bastion", "privateKey": "pk"},
		},
		"logging":                "none",
		"addPreviousOutputInEnv": false,
	}))
	if len(failures) > 0 {
		t.Fatalf("unexpected failures: %v", failures)
	}
	proxy := pm(map[string]any{"host": "bastion", "port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0})
	proxy["privateKey"] = resource.MakeSecret(resource.NewStringProperty("pk"))
	conn := pm(map[string]any{"host": "h", "port": 2222.0, "user": "st2", "dialErrorLimit": -1.0, "perDialTimeout": 3.0})
	conn["password"] = resource.MakeSecret(resource.NewStringProperty("pw"))
	conn["proxy"] = resource.NewObjectProperty(proxy)
	want := pm(map[string]any{"logging": "none", "addPreviousOutputInEnv": false})
	want["connection"] = resource.MakeSecret(resource.NewObjectProperty(conn))
	if !checked.DeepEquals(want) {
		t.Errorf("got %v\nwant %v", checked, want)
	}
}

func TestCheckLocalAddsNothing(t *testing.T) {
	checked, failures := CheckInputs(LocalCommand, pm(map[string]any{"create": "echo hi"}))
	if len(failures) > 0 {
		t.Fatalf("unexpected failures: %v", failures)
	}
	if want := pm(map[string]any{"create": "echo hi"}); !checked.DeepEquals(want) {
		t.Errorf("got %v, want %v", checked, want)
	}
}

func TestCheckFailures(t *testing.T) {
	cases := []struct {
		name  string
		typ   string
		props resource.PropertyMap
		want  []string // property names of the failures, in order
	}{
		{"missing connection", RemoteCommand, pm(map[string]any{"create": "x"}), []string{"connection"}},
		{"missing host", RemoteCommand, pm(map[string]any{"connection": map[string]any{"user": "u"}}), []string{"connection.host"}},
		{"bad port", RemoteCommand, pm(map[string]any{"connection": map[string]any{"host": "h", "port": 70000.0}}), []string{"connection.port"}},
		{"bad dial limit", RemoteCommand, pm(map[string]any{"connection": map[string]any{"host": "h", "dialErrorLimit": 1.5}}), []string{"connection.dialErrorLimit"}},
		{"bad logging", LocalCommand, pm(map[string]any{"logging": "everything"}), []string{"logging"}},
		{"create not a string", LocalCommand, pm(map[string]any{"create": 3.0}), []string{"create"}},
		{"environment values", LocalCommand, pm(map[string]any{"environment": map[string]any{"A": true}}), []string{"environment.A"}},
		{"interpreter", LocalCommand, pm(map[string]any{"interpreter": []any{"/bin/sh", 1.0}}), []string{"interpreter[1]"}},
		{"triggers not a list", LocalCommand, pm(map[string]any{"triggers": "x"}), []string{"triggers"}},
		{"unsupported assetPaths", LocalCommand, pm(map[string]any{"assetPaths": []any{"*.txt"}}), []string{"assetPaths"}},
		{"unknown property", LocalCommand, pm(map[string]any{"creat": "x"}), []string{"creat"}},
		{"remote has no dir", RemoteCommand, pm(map[string]any{"connection": map[string]any{"host": "h"}, "dir": "/"}), []string{"dir"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, failures := CheckInputs(tc.typ, tc.props)
			var got []string
			for _, f := range failures {
				got = append(got, f.Property)
				if !strings.Contains(f.Reason, f.Property) && tc.name != "unsupported assetPaths" {
					t.Errorf("reason %q does not name %q", f.Reason, f.Property)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("failures %v, want %v", failures, tc.want)
			}
		})
	}
}

func TestCheckUnknownValuesPass(t *testing.T) {
	computed := resource.MakeComputed(resource.NewStringProperty(""))
	checked, failures := CheckInputs(RemoteCommand, resource.PropertyMap{
		"connection": computed,
		"create":     computed,
		"triggers":   computed,
	})
	if len(failures) > 0 {
		t.Fatalf("unexpected failures: %v", failures)
	}
	if c := checked["connection"]; !c.IsOutput() || c.OutputValue().Known || !c.OutputValue().Secret {
		t.Errorf("an unknown connection must stay unknown, as a secret, got %v", c)
	}
}

func TestSchemaIsValidJSON(t *testing.T) {
	s, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name      string                    `json:"name"`
		Version   string                    `json:"version"`
		Resources map[string]map[string]any `json:"resources"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Name != "command" || doc.Version != Version {
		t.Errorf("name/version: %q %q", doc.Name, doc.Version)
	}
	for _, typ := range []string{RemoteCommand, LocalCommand} {
		inputs, _ := doc.Resources[typ]["inputProperties"].(map[string]any)
		for name := range inputSpecs[typ] {
			if _, ok := inputs[name]; !ok {
				t.Errorf("%s: schema lacks input %s", typ, name)
			}
		}
	}
}
