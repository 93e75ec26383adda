package command

// CLUSTER, READONLY and READWRITE as a Redis 7 started without cluster-enabled answers
// them: every CLUSTER subcommand, HELP included, is "This instance has cluster support
// disabled" once its arity passed; an unknown subcommand is "unknown subcommand".

const errClusterDisabled = "ERR This instance has cluster support disabled"

func cmdClusterDisabled(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendErr(out, errClusterDisabled)
}

// clusterSubcommands are Redis 7.2's CLUSTER subcommands with their arity and whether they
// are admin commands (the others are flagged stale only; HELP loading and stale).
var clusterSubcommands = []struct {
	name  string
	arity int
	admin bool
}{
	{"addslots", -3, true}, {"addslotsrange", -4, true}, {"bumpepoch", 2, true},
	{"count-failure-reports", 3, true}, {"countkeysinslot", 3, false}, {"delslots", -3, true},
	{"delslotsrange", -4, true}, {"failover", -2, true}, {"flushslots", 2, true},
	{"forget", 3, true}, {"getkeysinslot", 4, false}, {"help", 2, false}, {"info", 2, false},
	{"keyslot", 3, false}, {"links", 2, false}, {"meet", -4, true}, {"myid", 2, false},
	{"myshardid", 2, false}, {"nodes", 2, false}, {"replicas", 3, true}, {"replicate", 3, true},
	{"reset", -2, true}, {"saveconfig", 2, true}, {"set-config-epoch", 3, true},
	{"setslot", -4, true}, {"shards", 2, false}, {"slaves", 3, true}, {"slots", 2, false},
}
