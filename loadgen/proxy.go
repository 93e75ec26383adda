package loadgen

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

const (
	// proxyChunkSize is the largest chunk one read takes; proxyChunks bounds the chunks held
	// per direction, so a connection holds at most 2 x 64 x 16 KiB whatever its peers do (a
	// full queue stops the reading, and TCP's flow control the sender).
	proxyChunkSize = 16 << 10
	proxyChunks    = 64
	// proxySpin: each hold ends polling the clock for this long (see pacer).
	proxySpin = 20 * time.Microsecond
)

// Proxy forwards connections to an upstream address, holding every chunk of bytes it reads
// for delay ± jitter (uniform) before writing it on, in each direction: a simulated network
// hop for kernels without netem. Chunks of one direction leave in the order they came: a
// chunk is held until its own time or until the one before it has left, whichever is later.
type Proxy struct {
	ln            net.Listener
	upNet, upAddr string
	delay, jitter time.Duration

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	applied *hdrhistogram.Histogram // one-way hold times, ns
	closed  bool
	seq     uint64 // seeds each direction's jitter
	wg      sync.WaitGroup
}

// StartProxy listens on listenNet/listenAddr ("tcp" or "unix") and forwards every connection
// to upNet/upAddr until Close. A jitter above delay is cut to delay: a hold is never negative.
func StartProxy(listenNet, listenAddr, upNet, upAddr string, delay, jitter time.Duration) (*Proxy, error) {
	ln, err := net.Listen(listenNet, listenAddr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upNet: upNet, upAddr: upAddr, delay: delay, jitter: min(max(jitter, 0), delay),
		conns: map[net.Conn]struct{}{}, applied: NewHist()}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Applied summarises the hold times the proxy applied so far, one per chunk and direction:
// the time from reading a chunk to writing it.
func (p *Proxy) Applied() Percentiles {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PercentilesOf(p.applied)
}

// Close stops listening, closes every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// track registers c for Close; false if the proxy is closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout(p.upNet, p.upAddr, dialTimeout)
	if err != nil || !p.track(up) {
		if up != nil {
			up.Close()
		}
		c.Close()
		p.untrack(c)
		return
	}
	p.mu.Lock()
	p.seq += 2
	seed := p.seq
	p.mu.Unlock()
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(c, up, seed) }()
	go func() { defer both.Done(); p.pipe(up, c, seed+1) }()
	both.Wait()
	c.Close()
	up.Close()
	p.untrack(c, up)
}

type chunk struct {
	buf           []byte
	read, release int64 // Now readings
}

// pipe copies src to dst, each chunk held until its release time. At the end of src, it
// half-closes dst once everything read has been written, so the other direction can still
// deliver what is in flight; on a write error it closes both.
func (p *Proxy) pipe(src, dst net.Conn, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6c6f616467656e))
	queue := make(chan chunk, proxyChunks)
	free := make(chan []byte, proxyChunks)
	allocated := 0
	take := func() []byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if allocated < proxyChunks {
			allocated++
			return make([]byte, proxyChunkSize)
		}
		return <-free
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.deliver(dst, src, queue, free)
	}()
	var last int64
	for {
		b := take()
		n, err := src.Read(b)
		if n > 0 {
			now := Now()
			hold := int64(p.delay)
			if p.jitter > 0 {
				hold += rng.Int64N(2*int64(p.jitter)+1) - int64(p.jitter)
			}
			last = max(now+hold, last)
			queue <- chunk{buf: b[:n], read: now, release: last}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	<-done
}

// deliver writes the queued chunks to dst at their release times and gives their buffers
// back. After a write error it drops the rest (still giving buffers back, so the reader never
// blocks) and closes both connections.
func (p *Proxy) deliver(dst, src net.Conn, queue <-chan chunk, free chan<- []byte) {
	pace := newPacer(proxySpin)
	defer pace.close()
	failed := false
	for ch := range queue {
		if !failed {
			pace.wait(ch.release, nil)
			held := Now() - ch.read
			p.mu.Lock()
			record(p.applied, held)
			p.mu.Unlock()
			if _, err := dst.Write(ch.buf); err != nil {
				failed = true
				dst.Close()
				src.Close()
			}
		}
		free <- ch.buf[:cap(ch.buf)]
	}
	if !failed {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
}
