// Package inproc gives the load generator sidecache's two in-process tiers, so that its core
// does not link the engine and the command layer:
//
//	engine  the engine's Go API called directly (embedded mode): no RESP, no sockets
//	proto   the server's request path without the network: each command encoded as a client
//	        sends it, parsed, executed and its reply encoded into a buffer, as netpoll does
//	        it for one read, with no system call
//
// Each target owns a fresh engine (no memory limit); Close releases it.
package inproc

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/loadgen"
	"github.com/sidecache/sidecache/protocol"
)

var once sync.Once

// Register makes loadgen.ParseTarget accept "engine" and "proto". It may be called more than
// once.
func Register() {
	once.Do(func() {
		loadgen.RegisterTarget("engine", func(label string) (loadgen.Target, error) { return NewEngine(label) })
		loadgen.RegisterTarget("proto", func(label string) (loadgen.Target, error) { return NewProto(label) })
	})
}

// Engine is the engine tier: commands become engine calls on database 0.
type Engine struct {
	label string
	eng   *engine.Engine
}

// NewEngine opens an engine for the target.
func NewEngine(label string) (*Engine, error) {
	e, err := engine.Open(engine.Config{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return &Engine{label: label, eng: e}, nil
}

func (t *Engine) Name() string { return t.label }

// Engine returns the engine the target drives (for tests).
func (t *Engine) Engine() *engine.Engine { return t.eng }

func (t *Engine) Connect() (loadgen.Conn, error) {
	return &engineConn{db: t.eng.DB(0), val: make([]byte, 0, 4096)}, nil
}

func (t *Engine) Close() error { return t.eng.Close() }

// engineConn runs a batch as engine calls. GET copies the value out under the segment lock
// (AppendGet), as a caller of the embedded engine must to keep it.
type engineConn struct {
	db  *engine.DB
	val []byte // GET's value, reused
}

func (c *engineConn) Do(now int64, ops []loadgen.Op, out []loadgen.Reply) error {
	ms := loadgen.WallMillis(now)
	for i := range ops {
		op := &ops[i]
		var r loadgen.Reply
		var err error
		if op.Set {
			var o engine.SetOptions
			if op.TTLms > 0 {
				o.ExpireAt = ms + op.TTLms
			}
			_, err = c.db.Set(op.Key, op.Value, ms, o, nil)
		} else {
			c.val, r.Hit, err = c.db.AppendGet(c.val[:0], op.Key, ms)
		}
		r.Err = err != nil
		r.At = loadgen.Now()
		out[i] = r
	}
	return nil
}

func (c *engineConn) Close() error { return nil }

// Proto is the protocol tier: the command layer of a real server, without the network.
type Proto struct {
	label string
	eng   *engine.Engine
	srv   *command.Server
}

// NewProto opens an engine and a command layer with the default settings for the target.
func NewProto(label string) (*Proto, error) {
	e, err := engine.Open(engine.Config{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	srv := command.NewServer(command.Options{Engine: e, Config: config.New(), Version: "loadgen-inproc"})
	return &Proto{label: label, eng: e, srv: srv}, nil
}

func (t *Proto) Name() string { return t.label }

// Server returns the command layer the target drives (for tests: INFO, commandstats).
func (t *Proto) Server() *command.Server { return t.srv }

// Connect registers a client with a statistics shard of its own, as an event loop gives each
// of its clients: a Conn is used by one goroutine, like a loop.
func (t *Proto) Connect() (loadgen.Conn, error) {
	c := t.srv.NewClient("inproc", "inproc", false)
	c.SetLoopStats(t.srv.NewLoopStats())
	return &protoConn{
		srv:    t.srv,
		client: c,
		parser: protocol.NewParser(protocol.DefaultLimits()),
		in:     make([]byte, 0, 4096),
		out:    make([]byte, 0, 4096),
	}, nil
}

func (t *Proto) Close() error { return t.eng.Close() }

// protoConn runs a batch the way netpoll runs one read: parse every command of the input,
// execute each into one reply buffer (a batch of one command timed from the batch start, as
// ExecTimed does for the server), then check each reply's first bytes for a miss or an error.
type protoConn struct {
	srv    *command.Server
	client *command.Client
	parser *protocol.Parser
	in     []byte // the batch as a client sends it
	out    []byte // the replies as the server writes them
	closed bool
}

var errClosed = errors.New("inproc: connection closed")

func (c *protoConn) Do(now int64, ops []loadgen.Op, res []loadgen.Reply) error {
	if c.closed {
		return errClosed
	}
	in := c.in[:0]
	for i := range ops {
		in = loadgen.AppendOp(in, &ops[i])
	}
	c.in = in
	start := loadgen.At(now)
	ms := start.UnixMilli()
	out := c.out[:0]
	used := 0
	for i := range ops {
		args, n, err := c.parser.Parse(in[used:])
		if err != nil {
			return err
		}
		if n == 0 || len(args) == 0 {
			return fmt.Errorf("inproc: command %d of the batch did not parse", i)
		}
		used += n
		mark := len(out)
		if len(ops) == 1 {
			out = c.srv.ExecTimed(c.client, args, ms, start, out)
		} else {
			out = c.srv.Exec(c.client, args, ms, out)
		}
		reply := out[mark:]
		res[i] = loadgen.Reply{
			At:  loadgen.Now(),
			Err: len(reply) > 0 && reply[0] == '-',
			Hit: len(reply) > 1 && reply[0] == '$' && reply[1] != '-',
		}
	}
	c.out = out
	return nil
}

func (c *protoConn) Close() error {
	if !c.closed {
		c.closed = true
		c.srv.ReleaseClient(c.client)
	}
	return nil
}

// Compile-time checks that the targets are loadgen targets.
var (
	_ loadgen.Target = (*Engine)(nil)
	_ loadgen.Target = (*Proto)(nil)
)
