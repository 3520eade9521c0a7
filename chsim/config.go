package chsim

import (
	"crypto/rand"
	"fmt"
	"sort"
)

// randomMAC is CH's MacAddr::local_random: locally administered, unicast.
func randomMAC() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	b[0] = b[0]&0xfe | 0x02
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// memoryTotal is CH's MemoryConfig::total_size: boot memory, hot-plugged
// memory and every zone.
func memoryTotal(cfg map[string]any) uint64 {
	mem, _ := cfg["memory"].(map[string]any)
	total, _ := num(mem["size"])
	h, _ := num(mem["hotplugged_size"])
	total += h
	for _, z := range listOf(mem, "zones") {
		zs, _ := num(z["size"])
		zh, _ := num(z["hotplugged_size"])
		total += zs + zh
	}
	return total
}

func balloonSize(cfg map[string]any) uint64 {
	b, _ := cfg["balloon"].(map[string]any)
	n, _ := num(b["size"])
	return n
}

// listOf returns the objects of the array member key of m.
func listOf(m map[string]any, key string) []map[string]any {
	if m == nil {
		return nil
	}
	arr, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if o, ok := e.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// num reads a non-negative integer of the JSON view (uint64 from the
// decoder, float64 from encoding/json, an int the simulator stored).
func num(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint64:
		return n, true
	case int64:
		if n < 0 {
			return 0, false
		}
		return uint64(n), true
	case float64:
		if n < 0 {
			return 0, false
		}
		return uint64(n), true
	case int:
		if n < 0 {
			return 0, false
		}
		return uint64(n), true
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cloneJSON deep-copies a value of the JSON view.
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = cloneJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneJSON(e)
		}
		return out
	}
	return v
}
