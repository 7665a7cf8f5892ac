package provider

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestDiff(t *testing.T) {
	conn := map[string]any{"host": "h", "port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0}
	base := map[string]any{
		"connection": conn, "create": "echo a", "triggers": []any{"2.0.1", "3.9.0", "backup"},
		"logging": "stdoutAndStderr", "addPreviousOutputInEnv": false,
	}
	with := func(changes map[string]any, drop ...string) resource.PropertyMap {
		m := pm(base)
		for k, v := range changes {
			m[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
		}
		for _, k := range drop {
			delete(m, resource.PropertyKey(k))
		}
		return m
	}
	state := with(map[string]any{"stdout": "out", "stderr": ""})

	cases := []struct {
		name     string
		olds     resource.PropertyMap
		news     resource.PropertyMap
		ignore   []string
		changed  map[string]DiffKind
		replaces []string
	}{
		{"nothing", pm(base), pm(base), nil, map[string]DiffKind{}, nil},
		{"state outputs are not inputs", state, pm(base), nil, map[string]DiffKind{}, nil},
		{"create changes: update", pm(base), with(map[string]any{"create": "echo b"}), nil,
			map[string]DiffKind{"create": Update}, nil},
		{"update added", pm(base), with(map[string]any{"update": "echo u"}), nil,
			map[string]DiffKind{"update": Add}, nil},
		{"connection port: update", pm(base), with(map[string]any{"connection": map[string]any{
			"host": "h", "port": 2222.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0}}), nil,
			map[string]DiffKind{"connection": Update}, nil},
		{"triggers change: replace", pm(base), with(map[string]any{"triggers": []any{"2.0.1", "3.9.1", "backup"}}), nil,
			map[string]DiffKind{"triggers": UpdateReplace}, []string{"triggers"}},
		{"triggers removed: replace", pm(base), with(nil, "triggers"), nil,
			map[string]DiffKind{"triggers": DeleteReplace}, []string{"triggers"}},
		{"triggers and create", pm(base), with(map[string]any{"triggers": []any{"x"}, "create": "echo c"}), nil,
			map[string]DiffKind{"triggers": UpdateReplace, "create": Update}, []string{"triggers"}},
		{"ignoreChanges", pm(base), with(map[string]any{"create": "echo b"}), []string{"create"},
			map[string]DiffKind{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := diffInputs(RemoteCommand, tc.olds, tc.news, tc.ignore)
			if len(d.Changed) != len(tc.changed) {
				t.Fatalf("changed %v, want %v", d.Changed, tc.changed)
			}
			for k, want := range tc.changed {
				if got, ok := d.Changed[k]; !ok || got != want {
					t.Errorf("%s: %v, want %v (all: %v)", k, got, want, d.Changed)
				}
			}
			if len(d.Replaces) != len(tc.replaces) || (len(d.Replaces) > 0 && d.Replaces[0] != tc.replaces[0]) {
				t.Errorf("replaces %v, want %v", d.Replaces, tc.replaces)
			}
		})
	}
}

func TestDiffSecretnessAloneIsNoChange(t *testing.T) {
	plain := pm(map[string]any{"connection": map[string]any{"host": "h", "privateKey": "k"}})
	secret := resource.PropertyMap{"connection": resource.MakeSecret(plain["connection"])}
	nested := pm(map[string]any{"connection": map[string]any{"host": "h"}})
	nested["connection"].ObjectValue()["privateKey"] = resource.MakeSecret(resource.NewStringProperty("k"))
	for _, news := range []resource.PropertyMap{secret, nested} {
		if d := diffInputs(RemoteCommand, plain, news, nil); d.HasChanges() {
			t.Errorf("secret-wrapped equal value reported as a change: %v", d.Changed)
		}
	}
}

func TestDiffDefaultsEqualAbsentValues(t *testing.T) {
	// State recorded without the defaults (e.g. by the real provider) against checked inputs.
	olds := pm(map[string]any{"create": "a", "connection": map[string]any{"host": "h"}})
	news, _ := CheckInputs(RemoteCommand, olds)
	if d := diffInputs(RemoteCommand, olds, news, nil); d.HasChanges() {
		t.Errorf("defaults reported as changes: %v", d.Changed)
	}
	news["logging"] = resource.NewStringProperty("none")
	if d := diffInputs(RemoteCommand, olds, news, nil); d.Changed["logging"] != Update {
		t.Errorf("logging none vs the default: %v", d.Changed)
	}
}

func TestDiffUnknownIsAChange(t *testing.T) {
	olds := pm(map[string]any{"create": "echo a"})
	news := resource.PropertyMap{"create": resource.MakeComputed(resource.NewStringProperty(""))}
	d := diffInputs(LocalCommand, olds, news, nil)
	if d.Changed["create"] != Update {
		t.Errorf("unknown create: %v", d.Changed)
	}
}

func TestDiffRPC(t *testing.T) {
	s := New(nil)
	olds, _ := marshal(pm(map[string]any{"create": "a", "triggers": []any{1.0}, "stdout": "x", "stderr": ""}))
	oldInputs, _ := marshal(pm(map[string]any{"create": "a", "triggers": []any{1.0}}))
	same, _ := marshal(pm(map[string]any{"create": "a", "triggers": []any{1.0}}))
	news, _ := marshal(pm(map[string]any{"create": "b", "triggers": []any{2.0}}))

	resp, err := s.Diff(context.Background(), &pulumirpc.DiffRequest{Type: LocalCommand, Olds: olds, OldInputs: oldInputs, News: same})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Changes != pulumirpc.DiffResponse_DIFF_NONE || len(resp.DetailedDiff) != 0 || !resp.HasDetailedDiff {
		t.Errorf("no change: %v", resp)
	}

	resp, err = s.Diff(context.Background(), &pulumirpc.DiffRequest{Type: LocalCommand, Olds: olds, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 1 || resp.Replaces[0] != "triggers" ||
		resp.DeleteBeforeReplace {
		t.Errorf("change: %v", resp)
	}
	if resp.DetailedDiff["triggers"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE ||
		resp.DetailedDiff["create"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("detailed diff: %v", resp.DetailedDiff)
	}

	if _, err := s.Diff(context.Background(), &pulumirpc.DiffRequest{Type: "command:remote:CopyToRemote"}); err == nil {
		t.Error("an unimplemented type must be an error")
	}
}
