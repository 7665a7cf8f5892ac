package provider

import (
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// replaceOnChanges: the input properties whose change replaces the resource (create runs again,
// before the old one is deleted) rather than updating it.
var replaceOnChanges = map[string]bool{"triggers": true}

// DiffKind says how one top-level input property changed.
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

// DiffResult is the provider's answer to a Diff: per changed top-level property, how it changed.
type DiffResult struct {
	Changed  map[string]DiffKind
	Replaces []string
}

// HasChanges reports whether anything changed.
func (d DiffResult) HasChanges() bool { return len(d.Changed) > 0 }

// ChangedKeys lists the changed properties, sorted.
func (d DiffResult) ChangedKeys() []string { return sortedKeys(d.Changed) }

// diffInputs compares the old inputs with the new (checked) inputs of a resource of type typ,
// property by property. Secretness alone is not a change; an unknown new value is. A property absent
// on one side equals its documented default on the other (so state written without the defaults
// Check fills in, e.g. by the real provider, shows no change). Paths in ignoreChanges keep their old
// value (the engine has usually applied them already).
func diffInputs(typ string, olds, news resource.PropertyMap, ignoreChanges []string) DiffResult {
	olds = applyDefaults(typ, stripOutputs(typ, olds))
	news = applyDefaults(typ, stripOutputs(typ, news))
	if len(ignoreChanges) > 0 {
		news = news.Copy()
		for _, raw := range ignoreChanges {
			if path, err := resource.ParsePropertyPath(raw); err == nil {
				path.Reset(olds, news)
			}
		}
	}

	result := DiffResult{Changed: map[string]DiffKind{}}
	keys := map[string]bool{}
	for k := range olds {
		keys[string(k)] = true
	}
	for k := range news {
		keys[string(k)] = true
	}
	for k := range keys {
		o, hasOld := olds[resource.PropertyKey(k)]
		n, hasNew := news[resource.PropertyKey(k)]
		hasOld = hasOld && !o.IsNull()
		hasNew = hasNew && !n.IsNull()
		var kind DiffKind
		switch {
		case !hasOld && !hasNew:
			continue
		case !hasOld:
			kind = Add
		case !hasNew:
			kind = Delete
		case equalValues(o, n):
			continue
		default:
			kind = Update
		}
		if replaceOnChanges[k] {
			kind += AddReplace - Add
			result.Replaces = append(result.Replaces, k)
		}
		result.Changed[k] = kind
	}
	sort.Strings(result.Replaces)
	return result
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

// equalValues compares two values ignoring secret markers; an unknown value equals nothing.
func equalValues(a, b resource.PropertyValue) bool {
	a, _ = unwrap(a)
	b, _ = unwrap(b)
	if unknown(a) || unknown(b) {
		return false
	}
	switch {
	case a.IsObject() && b.IsObject():
		ao, bo := a.ObjectValue(), b.ObjectValue()
		for k, av := range ao {
			bv, ok := bo[k]
			if !ok {
				if av.IsNull() {
					continue
				}
				return false
			}
			if !equalValues(av, bv) {
				return false
			}
		}
		for k, bv := range bo {
			if _, ok := ao[k]; !ok && !bv.IsNull() {
				return false
			}
		}
		return true
	case a.IsArray() && b.IsArray():
		aa, ba := a.ArrayValue(), b.ArrayValue()
		if len(aa) != len(ba) {
			return false
		}
		for i := range aa {
			if !equalValues(aa[i], ba[i]) {
				return false
			}
		}
		return true
	default:
		return a.DeepEquals(b)
	}
}
