package main

// Partial drops of a cluster's L1 (upstream/slots.go), against the three-node cluster of
// upstream_cluster_test.go with one sidecar in front:
//
//   - one slot migrates (the slot of "ver", from hot to cold): the keys of every other slot
//     stay L1 hits, with no upstream read (INFO upstream: l1_hits, upstream_reads); the
//     moved slot's key is read again and then follows writes made on its new owner;
//   - the sidecar's connections to one primary are killed (CLIENT KILL on that node): the
//     keys the other primary owns stay L1 hits, the killed node's keys are read again.

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestUpstreamClusterPartialDrop(t *testing.T) {
	cl := startCluster(t)
	sc := startSidecache(t, "--upstream", "redis://"+cl.hot.Addr+","+cl.cold.Addr, "--upstream-cluster", "yes",
		"--l1-nil-ttl", "10m", "--l1-max-ttl", "10m")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cl.hot.Addr, cl.cold.Addr}, MaxRedirects: 16})
	defer rdb.Close()

	node := dialResp(t, cl.hot.Addr)
	moving, _ := strconv.Atoi(cl.slot)
	hotLo := 0
	if moving >= 8192 {
		hotLo = 8192
	}
	onHot := func(s int) bool { return s >= hotLo && s < hotLo+8192 }
	// moved shares the migrating slot; hotKeys stay on hot, coldKeys are on cold.
	moved := "{ver}moved"
	var hotKeys, coldKeys []string
	for i := 0; len(hotKeys) < 4 || len(coldKeys) < 4; i++ {
		k := "key" + strconv.Itoa(i)
		switch s := keySlotOf(t, node, k); {
		case s == moving:
		case onHot(s) && len(hotKeys) < 4:
			hotKeys = append(hotKeys, k)
		case !onHot(s) && len(coldKeys) < 4:
			coldKeys = append(coldKeys, k)
		}
	}
	all := append(append([]string{moved}, hotKeys...), coldKeys...)
	for _, k := range all {
		if err := rdb.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c := dialResp(t, sc.Addr)
	get := func(k, want string) {
		t.Helper()
		if r := string(c.Do("GET", k)); r != l1Bulk(want) {
			t.Fatalf("GET %s = %q, want %q", k, r, want)
		}
	}
	for _, k := range all {
		get(k, "v-"+k)
	}
	l1Eventually(t, "every key a hit", func() bool {
		reads := upInfo(t, c, "upstream_reads")
		for _, k := range all {
			get(k, "v-"+k)
		}
		return upInfo(t, c, "upstream_reads") == reads
	})
	// hits checks that keys are answered from L1 alone: no upstream read, one hit each.
	hits := func(what string, keys []string) {
		t.Helper()
		reads, hits := upInfo(t, c, "upstream_reads"), upInfo(t, c, "l1_hits")
		for _, k := range keys {
			get(k, "v-"+k)
		}
		if r, h := upInfo(t, c, "upstream_reads")-reads, upInfo(t, c, "l1_hits")-hits; r != 0 || h != int64(len(keys)) {
			t.Fatalf("%s: %d upstream reads and %d hits for %d keys, want 0 and %d", what, r, h, len(keys), len(keys))
		}
	}
	// reread checks that each key is read from the upstream once more.
	reread := func(what string, keys []string) {
		t.Helper()
		reads := upInfo(t, c, "upstream_reads")
		for _, k := range keys {
			get(k, "v-"+k)
		}
		if r := upInfo(t, c, "upstream_reads") - reads; r != int64(len(keys)) {
			t.Fatalf("%s: %d upstream reads for %d keys", what, r, len(keys))
		}
	}

	// One slot migrates.
	cl.migrate(t)
	l1Eventually(t, "the moved slot dropped and drained", func() bool {
		return upInfo(t, c, "l1_slot_drops_topology") > 0 && upInfo(t, c, "l1_slots_draining") == 0
	})
	if n := upInfo(t, c, "l1_slots_dropped_topology"); n != 1 {
		t.Fatalf("%d slots dropped for one migrated slot", n)
	}
	hits("after one slot migrated, the other slots' keys", append(append([]string{}, hotKeys...), coldKeys...))
	reread("the moved slot's key", []string{moved})
	hits("the moved slot's key, read again", []string{moved})
	if err := rdb.Set(ctx, moved, "v2", 0).Err(); err != nil { // on its new owner
		t.Fatal(err)
	}
	l1Eventually(t, "the write on the new owner seen through the sidecar", func() bool {
		return string(c.Do("GET", moved)) == l1Bulk("v2")
	})
	if err := rdb.Set(ctx, moved, "v-"+moved, 0).Err(); err != nil {
		t.Fatal(err)
	}
	l1Eventually(t, "the moved key tracked on its new owner", func() bool {
		return string(c.Do("GET", moved)) == l1Bulk("v-"+moved)
	})
	hits("before the kill", all)

	// The sidecar's connections to cold are killed. moved is on cold now.
	coldAll := append([]string{moved}, coldKeys...)
	conns, list := clientListFields(t, cl.cold, "sidecache")
	if len(conns) == 0 {
		t.Fatalf("no sidecar connection on the cold primary:\n%s", list)
	}
	cc := dialResp(t, cl.cold.Addr)
	for _, f := range conns {
		if r := string(cc.Do("CLIENT", "KILL", "ID", f["id"])); r != ":1\r\n" {
			t.Fatalf("CLIENT KILL ID %s = %q", f["id"], r)
		}
	}
	killed := len(conns)
	l1Eventually(t, "cold's slots dropped and drained", func() bool {
		return upInfo(t, c, "l1_slot_drops_connection") > 0 && upInfo(t, c, "l1_slots_draining") == 0
	})
	if f := upInfo(t, c, "l1_flushes"); f != 0 {
		t.Fatalf("%d whole flushes, want none", f)
	}
	hits("after cold's connections were killed, hot's keys", hotKeys)
	reread("cold's keys", coldAll)
	hits("cold's keys, read again", coldAll)
	t.Logf("slots dropped: topology %d in %d drops, connection %d in %d drops (%d connections killed)",
		upInfo(t, c, "l1_slots_dropped_topology"), upInfo(t, c, "l1_slot_drops_topology"),
		upInfo(t, c, "l1_slots_dropped_connection"), upInfo(t, c, "l1_slot_drops_connection"), killed)
}
