package protocol

// parseInline follows Redis's processInlineBuffer: the line ends at the first '\n', one '\r'
// before it is dropped, and the rest is split by sdssplitargs.
//
// The line, '\n' included, must lie within the first MaxInlineLen+1 bytes: Redis fails only
// when more than PROTO_INLINE_MAX_SIZE bytes are buffered without a '\n', which depends on
// how the bytes were read; this is the same bound made independent of read sizes.
func (p *Parser) parseInline(buf []byte) ([][]byte, int, error) {
	limit := min(len(buf), p.lim.MaxInlineLen+1)
	nl := -1
	if p.scan < limit {
		nl = p.findLine(buf[:limit], '\n')
	}
	if nl < 0 {
		if len(buf) > p.lim.MaxInlineLen {
			return nil, 0, errTooBigInline
		}
		return nil, 0, nil
	}
	line := buf[:nl]
	if nl > 0 && line[nl-1] == '\r' {
		line = line[:nl-1]
	}
	args, err := p.splitArgs(line)
	if err != nil {
		return nil, 0, err
	}
	return args, nl + 1, nil
}

// isspace is C's isspace in the C locale.
func isspace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// splitArgs is Redis's sdssplitargs over line, which holds no NUL and no '\n' (parseInline
// stops at both). A token whose bytes are contiguous in line (plain, or quoted without
// escapes) points into line; any other is built in p.scratch, which is sized to len(line)
// first: a token never outgrows the bytes it came from, so scratch never moves and earlier
// tokens stay valid.
//
// Blanks between tokens are isspace (so "\v" and "\f" too), but an unquoted token ends only
// at ' ', '\t', '\r' or the end; a quote may open mid-token (a"b c" is one token), and a
// closing quote must be followed by isspace or the end.
func (p *Parser) splitArgs(line []byte) ([][]byte, error) {
	if cap(p.scratch) < len(line) {
		p.scratch = make([]byte, 0, len(line))
	}
	sc := p.scratch[:0]
	args := p.args[:0]
	i := 0
	for {
		for i < len(line) && isspace(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		// The token so far is line[ds:de] while direct, else sc[ss:].
		ds, de, ss := i, i, 0
		direct := true
		toScratch := func() {
			if direct {
				ss = len(sc)
				sc = append(sc, line[ds:de]...)
				direct = false
			}
		}
		// raw adds line[i] itself to the token.
		raw := func() {
			switch {
			case !direct:
				sc = append(sc, line[i])
			case ds == de:
				ds, de = i, i+1
			case de == i:
				de++
			default:
				toScratch()
				sc = append(sc, line[i])
			}
		}
		inq, insq, done := false, false, false
		for !done {
			switch {
			case inq:
				switch {
				case i >= len(line):
					return nil, errUnbalancedQuotes
				case line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					toScratch()
					sc = append(sc, hexVal(line[i+2])<<4|hexVal(line[i+3]))
					i += 3
				case line[i] == '\\' && i+1 < len(line):
					i++
					c := line[i]
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					toScratch()
					sc = append(sc, c)
				case line[i] == '"':
					if i+1 < len(line) && !isspace(line[i+1]) {
						return nil, errUnbalancedQuotes
					}
					done = true
				default:
					raw()
				}
			case insq:
				switch {
				case i >= len(line):
					return nil, errUnbalancedQuotes
				case line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					toScratch()
					sc = append(sc, '\'')
				case line[i] == '\'':
					if i+1 < len(line) && !isspace(line[i+1]) {
						return nil, errUnbalancedQuotes
					}
					done = true
				default:
					raw()
				}
			default:
				if i >= len(line) {
					done = true
					break
				}
				switch line[i] {
				case ' ', '\n', '\r', '\t':
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					raw()
				}
			}
			if i < len(line) {
				i++
			}
		}
		if direct {
			args = append(args, line[ds:de:de])
		} else {
			args = append(args, sc[ss:len(sc):len(sc)])
		}
	}
	p.args = args
	return args, nil
}
