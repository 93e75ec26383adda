package netpoll

import "net"

// Protected mode, as Redis: while it is on and the default user has no password, only
// clients on the loopback interface or the Unix socket are served; any other is told why
// and closed (and counted as rejected). The default bind is loopback, so this matters when
// an operator widens bind without setting a password.

// deniedProtected is Redis 7.0.15's reply, byte for byte (its "Setup a an" included).
const deniedProtected = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"

// SetProtectedMode turns protected mode on or off for clients that connect from now on.
func (s *Server) SetProtectedMode(on bool) { s.protected.Store(on) }

// protectedRefuses reports whether protected mode refuses a client whose peer is remote.
func (s *Server) protectedRefuses(remote net.Addr, unix bool) bool {
	return s.protected.Load() && !unix && !s.cmd.PasswordSet() && !isLoopback(remote)
}

// isLoopback reports whether a is a loopback TCP peer (127.0.0.0/8, ::1, or 127.x mapped
// into IPv6).
func isLoopback(a net.Addr) bool {
	switch t := a.(type) {
	case *net.TCPAddr:
		return t.IP.IsLoopback()
	case nil:
		return false
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
