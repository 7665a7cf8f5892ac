package provider

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// replaceOnChanges: the input properties the schema marks replaceOnChanges. As in the real provider,
// the mark applies to a detailed-diff path equal to the property's name, i.e. when the whole
// property is added or removed (or changes type, or is unknown); a change inside the list
// (`triggers[0]`) is an update, and the replacement comes from the SDK's replaceOnChanges
// (`triggers[*]`), which the engine applies.
var replaceOnChanges = map[string]bool{"triggers": true}

// DiffKind says how one property path changed.
type DiffKind int

const (
	Add DiffKind = iota
	Delete
	Update
	AddReplace
	DeleteReplace
	UpdateReplace
)

func (k DiffKind) String() string {
	return [...]string{"add", "delete", "update", "add-replace", "delete-replace", "update-replace"}[k]
}

var pluginKinds = map[plugin.DiffKind]DiffKind{
	plugin.DiffAdd: Add, plugin.DiffDelete: Delete, plugin.DiffUpdate: Update,
	plugin.DiffAddReplace: AddReplace, plugin.DiffDeleteReplace: DeleteReplace, plugin.DiffUpdateReplace: UpdateReplace,
}

func (k DiffKind) replaces() bool { return k >= AddReplace }

// DiffResult is the provider's answer to a Diff: per changed property path (`triggers[0]`,
// `connection`), how it changed.
type DiffResult struct {
	Changed map[string]DiffKind
	// Diffs and Replaces name the top-level properties (the paths' heads).
	Diffs    []string
	Replaces []string
}

// HasChanges reports whether anything changed.
func (d DiffResult) HasChanges() bool { return len(d.Changed) > 0 }

// ChangedKeys lists the changed paths, sorted.
func (d DiffResult) ChangedKeys() []string { return sortedKeys(d.Changed) }

// diffInputs decides a Diff the way pulumi-command 1.2.1 does (pulumi-go-provider v1.3.0's default
// diff): each path in ignoreChanges takes its value from the old state (olds, the outputs) into the
// new inputs; `version` and `__`-prefixed inputs are dropped; then the old inputs and the new inputs
// are compared literally by the SDK's PropertyMap.Diff: a value that is a secret on one side only,
// or a secret whose wrapped value differs in anything (a nested secret marker included), is a change
// of the whole secret; a property absent on one side is an add or a delete, whatever its default.
func diffInputs(oldInputs, olds, news resource.PropertyMap, ignoreChanges []string) DiffResult {
	news = withIgnoredFromState(news, olds, ignoreChanges)
	for k := range news {
		if k == "version" || strings.HasPrefix(string(k), "__") {
			delete(news, k)
		}
	}

	result := DiffResult{Changed: map[string]DiffKind{}}
	objDiff := oldInputs.Diff(news)
	if objDiff == nil || !objDiff.AnyChanges() {
		return result
	}
	diffs, replaces := map[string]bool{}, map[string]bool{}
	for path, pd := range plugin.NewDetailedDiffFromObjectDiff(objDiff, false) {
		kind := pluginKinds[pd.Kind]
		if replaceOnChanges[path] {
			kind = pluginKinds[pd.Kind.AsReplace()]
		}
		result.Changed[path] = kind
		head := path
		if pp, err := resource.ParsePropertyPath(path); err == nil && len(pp) > 0 {
			if s, ok := pp[0].(string); ok {
				head = s
			}
		}
		diffs[head] = true
		if kind.replaces() {
			replaces[head] = true
		}
	}
	result.Diffs = sortedKeys(diffs)
	if len(replaces) > 0 {
		result.Replaces = sortedKeys(replaces)
	}
	return result
}

// withIgnoredFromState: a copy of news where each path in ignoreChanges that the state (olds) has
// takes the state's value, as the real provider does in Diff and Update.
func withIgnoredFromState(news, olds resource.PropertyMap, ignoreChanges []string) resource.PropertyMap {
	news = news.Copy()
	for _, raw := range ignoreChanges {
		path, err := resource.ParsePropertyPath(raw)
		if err != nil {
			continue
		}
		if v, ok := path.Get(resource.NewObjectProperty(olds)); ok {
			path.Set(resource.NewObjectProperty(news), v)
		}
	}
	return news
}

// stripOutputs drops the properties a resource type only outputs, so a state compares with inputs.
func stripOutputs(typ string, m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range outputOnly[typ] {
		delete(out, resource.PropertyKey(k))
	}
	return out
}
