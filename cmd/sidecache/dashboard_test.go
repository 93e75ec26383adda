package main

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// dashboardFile is the Grafana dashboard shipped for operators (issue 6).
const dashboardFile = "../../deploy/grafana/sidecache-dashboard.json"

// metricName matches the metric names a PromQL expression of the dashboard uses.
var metricName = regexp.MustCompile(`\b(?:sidecache|process|go)_[a-z0-9_]+\b`)

// TestDashboardQueriesExist: every metric the Grafana dashboard queries is in a real server's
// /metrics, so a renamed metric cannot leave an empty panel behind.
func TestDashboardQueriesExist(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("%s: no uid or no panels", dashboardFile)
	}
	used := map[string][]string{} // metric -> panels that query it
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				used[m] = append(used[m], p.Title)
			}
		}
	}
	for _, v := range dash.Templating.List {
		for _, m := range metricName.FindAllString(v.Definition, -1) {
			used[m] = append(used[m], "variable")
		}
	}
	// The panels: hit rate, ops by command, latency, memory vs limit, evictions, connections.
	for _, m := range []string{
		"sidecache_keyspace_hits_total", "sidecache_command_calls_total",
		"sidecache_command_duration_seconds_bucket", "sidecache_memory_used_bytes",
		"sidecache_memory_max_bytes", "sidecache_evicted_keys_total", "sidecache_connected_clients",
	} {
		if used[m] == nil {
			t.Errorf("the dashboard does not query %s", m)
		}
	}

	s := startServerEnv(t, nil)
	c := dialResp(t, s.Addr)
	commandMix(c) // so the per-command series exist
	status, body := httpGet(t, "http://"+s.admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	have := map[string]bool{}
	for key := range parseProm(t, body) {
		name, _, _ := strings.Cut(key, "{")
		have[name] = true
	}
	names := make([]string, 0, len(used))
	for m := range used {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		if !have[m] {
			t.Errorf("dashboard panels %q query %s, which /metrics does not expose", used[m], m)
		}
	}
}
