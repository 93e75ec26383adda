package protocol

import "io"

// Reader reads replies from a stream (tests, the load generator). It buffers the input and
// reuses its buffer and the Elems/Attrs backing store, so flat replies cost no allocation in
// steady state. Not safe for concurrent use.
type Reader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unread bytes are buf[r:w]
	err  error
	dec  decoder
}

// NewReader returns a Reader reading from rd.
func NewReader(rd io.Reader) *Reader {
	return &Reader{rd: rd, buf: make([]byte, 16<<10), dec: decoder{pooled: true}}
}

// Buffered is the number of bytes read from the stream but not yet decoded.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadValue returns the next reply. The Value, its byte slices and its Elems/Attrs are valid
// until the next call to ReadValue. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF inside a reply; a malformed reply gives ErrBadReply or
// ErrReplyTooDeep and the Reader should be dropped.
func (r *Reader) ReadValue() (Value, error) {
	for {
		if r.w > r.r {
			v, n, err := r.dec.read(r.buf[r.r:r.w])
			if err != nil {
				return Value{}, err
			}
			if n > 0 {
				r.r += n
				return v, nil
			}
		}
		if r.err != nil {
			if r.err == io.EOF && r.w > r.r {
				return Value{}, io.ErrUnexpectedEOF
			}
			return Value{}, r.err
		}
		// Moving the unread bytes happens only here, in the call after the one whose
		// Value pointed at them.
		if r.r > 0 {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		}
		if r.w == len(r.buf) {
			nb := make([]byte, 2*len(r.buf))
			copy(nb, r.buf[:r.w])
			r.buf = nb
		}
		m, err := r.rd.Read(r.buf[r.w:])
		r.w += m
		if err != nil {
			r.err = err
		}
	}
}
