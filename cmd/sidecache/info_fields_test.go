package main

import (
	"slices"
	"strings"
	"testing"
)

// infoOmitted are the INFO fields of redis-server 7.0.15 that sidecache deliberately does
// not report, per section, with the reason. Every other field of the reference must be
// present, in a section of the same name; the sections come in the same order.
var infoOmitted = map[string]map[string]string{
	"Server": {
		"gcc_version": "a Go binary: go_version instead",
	},
	"Memory": {
		// jemalloc's view; sidecache's allocator is its own arena (arena_committed, index_bytes)
		"allocator_allocated": "no jemalloc", "allocator_active": "no jemalloc",
		"allocator_resident": "no jemalloc", "allocator_frag_ratio": "no jemalloc",
		"allocator_frag_bytes": "no jemalloc", "allocator_rss_ratio": "no jemalloc",
		"allocator_rss_bytes": "no jemalloc", "rss_overhead_ratio": "no jemalloc",
		"rss_overhead_bytes": "no jemalloc",
		// no scripting engine, no functions
		"used_memory_lua": "no scripting", "used_memory_vm_eval": "no scripting",
		"used_memory_lua_human": "no scripting", "used_memory_scripts_eval": "no scripting",
		"number_of_cached_scripts": "no scripting", "number_of_functions": "no scripting",
		"number_of_libraries": "no scripting", "used_memory_vm_functions": "no scripting",
		"used_memory_vm_total": "no scripting", "used_memory_vm_total_human": "no scripting",
		"used_memory_functions": "no scripting", "used_memory_scripts": "no scripting",
		"used_memory_scripts_human": "no scripting",
	},
	"Stats": {
		"instantaneous_input_kbps":       "not measured",
		"instantaneous_output_kbps":      "not measured",
		"expired_stale_perc":             "not measured by the expiry cycle",
		"expired_time_cap_reached_count": "not measured by the expiry cycle",
		"expire_cycle_cpu_milliseconds":  "not measured by the expiry cycle",
		"total_eviction_exceeded_time":   "eviction happens inside writes, never over the limit",
		"current_eviction_exceeded_time": "eviction happens inside writes, never over the limit",
		"total_reads_processed":          "not counted",
		"total_writes_processed":         "not counted",
		"reply_buffer_shrinks":           "no per-client reply buffer to resize",
		"reply_buffer_expands":           "no per-client reply buffer to resize",
	},
	"CPU": {
		"used_cpu_sys_main_thread":  "no main thread: N event loops",
		"used_cpu_user_main_thread": "no main thread: N event loops",
	},
}

// parseInfo splits INFO text into its sections, in order, each with its field names in
// order.
func parseInfo(text string) (order []string, fields map[string][]string) {
	fields = map[string][]string{}
	sec := ""
	for _, line := range strings.Split(text, "\r\n") {
		switch {
		case strings.HasPrefix(line, "# "):
			sec = line[2:]
			order = append(order, sec)
		case line == "":
		default:
			name, _, _ := strings.Cut(line, ":")
			fields[sec] = append(fields[sec], name)
		}
	}
	return order, fields
}

// TestInfoFields compares INFO everything's sections and field names with redis-server's
// after the same commands, and the shape of the composite values (keyspace, commandstats,
// errorstats: their key=value lists).
func TestInfoFields(t *testing.T) {
	ref, sub := startRedis(t), startSidecache(t)
	texts := map[string]string{}
	for _, p := range []*proc{ref, sub} {
		c := dialResp(t, p.Addr)
		c.Do("SET", "a", "1")
		c.Do("SET", "b", "2", "EX", "100")
		c.Do("GET", "a")
		c.Do("NOSUCHCOMMAND")
		rep := c.Do("INFO", "everything")
		v, err := parseValue(rep)
		if err != nil {
			t.Fatalf("%s: INFO: %v", p.Name, err)
		}
		texts[p.Name] = v.Str
	}
	refOrder, refFields := parseInfo(texts["redis"])
	subOrder, subFields := parseInfo(texts["sidecache"])
	if !slices.Equal(refOrder, subOrder) {
		t.Errorf("sections: redis %v, sidecache %v", refOrder, subOrder)
	}
	for _, sec := range refOrder {
		have := map[string]bool{}
		for _, f := range subFields[sec] {
			have[f] = true
		}
		for _, f := range refFields[sec] {
			if !have[f] && infoOmitted[sec][f] == "" {
				t.Errorf("INFO %s: sidecache lacks %s", sec, f)
			}
			if have[f] && infoOmitted[sec][f] != "" {
				t.Errorf("INFO %s: %s is listed as omitted but present", sec, f)
			}
		}
		if sec == "Commandstats" || sec == "Latencystats" || sec == "Errorstats" {
			continue // one line per command or error, in the order of Redis's hash table
		}
		// The fields both have come in the same order.
		var common []string
		for _, f := range refFields[sec] {
			if have[f] {
				common = append(common, f)
			}
		}
		var ours []string
		for _, f := range subFields[sec] {
			if slices.Contains(common, f) {
				ours = append(ours, f)
			}
		}
		if !slices.Equal(common, ours) {
			t.Errorf("INFO %s: order differs:\nredis     %v\nsidecache %v", sec, common, ours)
		}
	}
	// Composite values: the same keys in the same order (db0, cmdstat_*, errorstat_*).
	for _, name := range []string{"db0", "cmdstat_set", "cmdstat_get", "errorstat_ERR"} {
		rv, sv := infoValue(texts["redis"], name), infoValue(texts["sidecache"], name)
		if rv == "" || sv == "" {
			t.Errorf("%s: redis %q, sidecache %q", name, rv, sv)
			continue
		}
		if rk, sk := valueKeys(rv), valueKeys(sv); !slices.Equal(rk, sk) {
			t.Errorf("%s: keys differ: redis %q, sidecache %q", name, rv, sv)
		}
	}
}

func infoValue(text, name string) string {
	for _, line := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	return ""
}

// valueKeys returns the keys of "k1=v1,k2=v2".
func valueKeys(v string) []string {
	var keys []string
	for _, kv := range strings.Split(v, ",") {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	return keys
}
