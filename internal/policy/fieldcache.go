package policy

import (
	"reflect"
	"strings"
)

// fieldCache keeps the CEL values of a variable's fields once read. CEL's
// native types convert a field on every read (a string field is a new heap
// value each time), and three policies that each name
// notification.currency would convert it three times per notification;
// with the cache, once. It lives in the variable's struct, so it is as
// fresh as the struct: a new Input starts with an empty one. It holds the
// first cachedValues fields read (policies name a few); later ones are
// read uncached. Small, because every Input carries it.
type fieldCache struct {
	at   [maxCachedFields]uint8 // a field's slot: 1 + its index in vals, 0 if not cached
	vals [cachedValues]any
	used uint8
}

const (
	// maxCachedFields bounds the fields of one variable's struct; a field
	// past it is read uncached.
	maxCachedFields = 16
	cachedValues    = 4
)

func (c *fieldCache) get(field int) any {
	if i := c.at[field]; i > 0 {
		return c.vals[i-1]
	}
	return nil
}

func (c *fieldCache) put(field int, v any) {
	if c.used < cachedValues {
		c.vals[c.used] = v
		c.used++
		c.at[field] = c.used
	}
}

// cachedFields is implemented by the variables' structs.
type cachedFields interface{ cache() *fieldCache }

func (c *celNotification) cache() *fieldCache { return &c.fields }

// varStructs are the Go types of the variables with a cache: the
// notification, the one whose fields several policies name (the query,
// order and request are read once or twice, and a cache in each would
// cost more to clear than it saves).
var varStructs = map[string]reflect.Type{
	typeNotification: reflect.TypeFor[celNotification](),
}

// fieldSlot is the cache slot of a CEL field of a variable's type: its
// index among the struct's fields, or -1.
func fieldSlot(structType, field string) int {
	t, ok := varStructs[structType]
	if !ok {
		return -1
	}
	for i := range min(t.NumField(), maxCachedFields) {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("cel"), ","); name == field {
			return i
		}
	}
	return -1
}

// cachedGetter reads a field through get once per struct value and then
// from the struct's cache. get is CEL's own getter: what a policy sees is
// exactly what it would see uncached.
func cachedGetter(slot int, get func(any) (any, error)) func(any) (any, error) {
	return func(obj any) (any, error) {
		c, ok := obj.(cachedFields)
		if !ok {
			return get(obj)
		}
		cache := c.cache()
		if v := cache.get(slot); v != nil {
			return v, nil
		}
		v, err := get(obj)
		if err == nil && v != nil {
			cache.put(slot, v)
		}
		return v, err
	}
}
