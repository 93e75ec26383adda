package config

import (
	"errors"
	"strconv"
	"strings"
)

// ClientClass is a class of client-output-buffer-limit, in Redis's order.
type ClientClass int

const (
	ClassNormal ClientClass = iota
	ClassReplica
	ClassPubSub
	numClasses
)

// classNames are the names CONFIG GET shows: Redis 7 still says "slave".
var classNames = [numClasses]string{"normal", "slave", "pubsub"}

// BufferLimit is one class's reply-buffer limit: a client is closed when its pending replies
// reach Hard bytes, or stay at or above Soft bytes for SoftSeconds. 0 disables a limit.
type BufferLimit struct {
	Hard, Soft  int64 // bytes
	SoftSeconds int64
}

type bufferLimits [numClasses]BufferLimit

// OutputBufferLimit returns the client-output-buffer-limit of class.
func (c *Config) OutputBufferLimit(class ClientClass) BufferLimit {
	return (*c.outbuf.aux.Load()).(*bufferLimits)[class]
}

// outputBufferLimitValue parses Redis's "class hard soft seconds ..." groups. Classes not
// named keep their current limits, as in Redis. Texts are Redis 7's.
func outputBufferLimitValue(s *Setting, v string) (value, error) {
	var limits bufferLimits
	if cur := s.aux.Load(); cur != nil {
		limits = *(*cur).(*bufferLimits)
	}
	f := strings.Fields(v)
	if len(f)%4 != 0 {
		return value{}, errors.New("Wrong number of arguments in buffer limit configuration.")
	}
	for i := 0; i < len(f); i += 4 {
		var class ClientClass
		switch strings.ToLower(f[i]) {
		case "normal":
			class = ClassNormal
		case "replica", "slave":
			class = ClassReplica
		case "pubsub":
			class = ClassPubSub
		default:
			return value{}, errors.New("Invalid client class specified in buffer limit configuration.")
		}
		hard, err1 := ParseSize(f[i+1])
		soft, err2 := ParseSize(f[i+2])
		secs, err3 := strconv.ParseInt(f[i+3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || secs < 0 {
			return value{}, errors.New("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
		}
		limits[class] = BufferLimit{Hard: hard, Soft: soft, SoftSeconds: secs}
	}
	var b strings.Builder
	for class, l := range limits {
		if class > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(classNames[class])
		for _, n := range [...]int64{l.Hard, l.Soft, l.SoftSeconds} {
			b.WriteByte(' ')
			b.WriteString(strconv.FormatInt(n, 10))
		}
	}
	return value{text: b.String(), aux: &limits}, nil
}
