package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestDiff(t *testing.T) {
	conn := map[string]any{"host": "h", "port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0}
	base := map[string]any{
		"connection": conn, "create": "echo a", "triggers": []any{"2.0.1", "3.9.0", "backup"},
		"addPreviousOutputInEnv": false,
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
		news     resource.PropertyMap
		ignore   []string
		changed  map[string]DiffKind
		diffs    []string
		replaces []string
	}{
		{"nothing", pm(base), nil, map[string]DiffKind{}, nil, nil},
		{"create changes: update", with(map[string]any{"create": "echo b"}), nil,
			map[string]DiffKind{"create": Update}, []string{"create"}, nil},
		{"update added", with(map[string]any{"update": "echo u"}), nil,
			map[string]DiffKind{"update": Add}, []string{"update"}, nil},
		{"connection port: a nested update", with(map[string]any{"connection": map[string]any{
			"host": "h", "port": 2222.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0}}), nil,
			map[string]DiffKind{"connection.port": Update}, []string{"connection"}, nil},
		{"a trigger changes: an update of the element, no replace", with(map[string]any{"triggers": []any{"2.0.1", "3.9.1", "backup"}}), nil,
			map[string]DiffKind{"triggers[1]": Update}, []string{"triggers"}, nil},
		{"a trigger added", with(map[string]any{"triggers": []any{"2.0.1", "3.9.0", "backup", "x"}}), nil,
			map[string]DiffKind{"triggers[3]": Add}, []string{"triggers"}, nil},
		{"triggers removed: replace", with(nil, "triggers"), nil,
			map[string]DiffKind{"triggers": DeleteReplace}, []string{"triggers"}, []string{"triggers"}},
		{"triggers no longer a list: replace", with(map[string]any{"triggers": "x"}), nil,
			map[string]DiffKind{"triggers": UpdateReplace}, []string{"triggers"}, []string{"triggers"}},
		{"logging absent in the old inputs: added", with(map[string]any{"logging": "stdoutAndStderr"}), nil,
			map[string]DiffKind{"logging": Add}, []string{"logging"}, nil},
		{"ignoreChanges takes the state's value", with(map[string]any{"create": "echo b"}), []string{"create"},
			map[string]DiffKind{}, nil, nil},
		{"version and internal inputs are not compared", with(map[string]any{"version": "1.2.1", "__defaults": []any{}}), nil,
			map[string]DiffKind{}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := diffInputs(pm(base), state, tc.news, tc.ignore)
			if fmt.Sprint(d.Changed) != fmt.Sprint(tc.changed) {
				t.Errorf("changed %v, want %v", d.Changed, tc.changed)
			}
			if fmt.Sprint(d.Diffs) != fmt.Sprint(tc.diffs) || fmt.Sprint(d.Replaces) != fmt.Sprint(tc.replaces) {
				t.Errorf("diffs %v replaces %v, want %v %v", d.Diffs, d.Replaces, tc.diffs, tc.replaces)
			}
		})
	}
}

// The real provider compares secrets literally: a connection whose private key is a nested secret on
// one side only is a change of the whole (secret) connection. That is what re-ran every step on
// stacks written by st2-upgrade 0.1.0's provider (issue 9).
func TestDiffSecretMarkersMatter(t *testing.T) {
	inner := pm(map[string]any{"host": "h", "privateKey": "k"})
	plainKey := resource.PropertyMap{"connection": resource.MakeSecret(resource.NewObjectProperty(inner))}
	nested := inner.Copy()
	nested["privateKey"] = resource.MakeSecret(nested["privateKey"])
	secretKey := resource.PropertyMap{"connection": resource.MakeSecret(resource.NewObjectProperty(nested))}

	if d := diffInputs(secretKey, secretKey, secretKey, nil); d.HasChanges() {
		t.Errorf("same shape reported as a change: %v", d.Changed)
	}
	d := diffInputs(plainKey, plainKey, secretKey, nil)
	if fmt.Sprint(d.Changed) != "map[connection:update]" {
		t.Errorf("nested secret marker: %v", d.Changed)
	}
	// With ignoreChanges the new value comes from the state (the outputs): state of the old shape
	// against old inputs of the old shape shows no change, whatever Check made of the new inputs.
	if d := diffInputs(plainKey, plainKey, secretKey, []string{"connection"}); d.HasChanges() {
		t.Errorf("ignored connection: %v", d.Changed)
	}
	// The loop of issue 9: old inputs of the new shape (Check's) and outputs of the old shape (an
	// Update keeps the state's ignored values): the connection differs on every run.
	d = diffInputs(secretKey, plainKey, secretKey, []string{"connection"})
	if fmt.Sprint(d.Changed) != "map[connection:update]" {
		t.Errorf("old-shaped outputs against new-shaped inputs: %v", d.Changed)
	}
}

func TestDiffUnknownIsAChange(t *testing.T) {
	olds := pm(map[string]any{"create": "echo a"})
	news := resource.PropertyMap{"create": resource.MakeComputed(resource.NewStringProperty(""))}
	d := diffInputs(olds, olds, news, nil)
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

	// Without old inputs the state minus stdout and stderr stands in for them.
	resp, err = s.Diff(context.Background(), &pulumirpc.DiffRequest{Type: LocalCommand, Olds: olds, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 || resp.DeleteBeforeReplace ||
		fmt.Sprint(resp.Diffs) != "[create triggers]" {
		t.Errorf("change: %v", resp)
	}
	if resp.DetailedDiff["triggers[0]"].GetKind() != pulumirpc.PropertyDiff_UPDATE ||
		resp.DetailedDiff["create"].GetKind() != pulumirpc.PropertyDiff_UPDATE || len(resp.DetailedDiff) != 2 {
		t.Errorf("detailed diff: %v", resp.DetailedDiff)
	}

	if _, err := s.Diff(context.Background(), &pulumirpc.DiffRequest{Type: "command:remote:CopyToRemote"}); err == nil {
		t.Error("an unimplemented type must be an error")
	}
}
