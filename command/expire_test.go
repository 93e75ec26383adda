package command

import "testing"

func TestExpire(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("expire nokey 10", ":0\r\n")
	f("set a 1", "+OK\r\n")
	f("expire a 100 nx xx", "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n")
	f("expire a 100 nx gt", "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n")
	f("expire a 100 lt nx", "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n")
	f("expire a 100 gt lt", "-ERR GT and LT options at the same time are not compatible\r\n")
	f("expire a 100 foo", "-ERR Unsupported option foo\r\n")
	h.fa("-ERR Unsupported option f  oo\r\n", "expire", "a", "1", "f\r\noo\n")
	f("expire a 100 foo nx xx", "-ERR Unsupported option foo\r\n") // options before the checks
	f("expire a abc", "-ERR value is not an integer or out of range\r\n")
	f("expire a abc foo", "-ERR Unsupported option foo\r\n") // options before the time
	f("expire a 9223372036854776", "-ERR invalid expire time in 'expire' command\r\n")
	f("expire a -9223372036854776", "-ERR invalid expire time in 'expire' command\r\n")
	f("pexpire a 9223372036854775807", "-ERR invalid expire time in 'pexpire' command\r\n")
	f("expireat a 9223372036854776", "-ERR invalid expire time in 'expireat' command\r\n")
	f("expireat a 9223372036854775", ":1\r\n")
	f("pexpireat a 9223372036854775807", ":1\r\n")
	f("persist a", ":1\r\n")
	f("persist a", ":0\r\n")
	f("persist nokey", ":0\r\n")
	f("expire a 100 xx", ":0\r\n") // no TTL yet
	f("expire a 100 gt", ":0\r\n") // no TTL counts as infinite
	f("expire a 100 lt", ":1\r\n")
	f("ttl a", ":100\r\n")
	f("expire a 200 nx", ":0\r\n")
	f("expire a 100 lt", ":0\r\n")
	f("expire a 50 xx lt", ":1\r\n")
	f("ttl a", ":50\r\n")
	f("expire a 60 xx gt", ":1\r\n")
	f("ttl a", ":60\r\n")
	f("expire a 70 XX", ":1\r\n")
	f("pexpire a 1500", ":1\r\n")
	f("pttl a", ":1500\r\n")
	f("ttl a", ":2\r\n")
	f("expireat a 1700000100", ":1\r\n")
	f("ttl a", ":100\r\n")
	f("expiretime a", ":1700000100\r\n")
	f("pexpiretime a", ":1700000100000\r\n")
	f("pexpireat a 1700000000250", ":1\r\n")
	f("pttl a", ":250\r\n")
	f("expiretime a", ":1700000000\r\n")
	h.now += 250
	f("pttl a", ":0\r\n") // expired only once now > the expiry time, as Redis's keyIsExpired
	f("exists a", ":1\r\n")
	h.now++
	f("exists a", ":0\r\n")
	f("ttl a", ":-2\r\n")
	f("pttl a", ":-2\r\n")
	f("expiretime a", ":-2\r\n")
	f("pexpiretime a", ":-2\r\n")
	f("set b 1", "+OK\r\n")
	f("expiretime b", ":-1\r\n")
	f("pexpiretime b", ":-1\r\n")
	f("ttl b", ":-1\r\n")
	f("expire b -1", ":1\r\n") // in the past: deleted
	f("exists b", ":0\r\n")
	f("set b 1", "+OK\r\n")
	f("expire b 0", ":1\r\n")
	f("exists b", ":0\r\n")
	f("set b 1", "+OK\r\n")
	f("pexpireat b 1", ":1\r\n")
	f("exists b", ":0\r\n")
	f("expire b", "-ERR wrong number of arguments for 'expire' command\r\n")
	f("ttl", "-ERR wrong number of arguments for 'ttl' command\r\n")
}
