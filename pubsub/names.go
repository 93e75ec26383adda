package pubsub

// Set is one subscriber's names of one kind (its channels, or its patterns). Not safe for concurrent use; its owner (the client's event
// loop) serialises access.
type Set struct {
	names []string
	idx   map[string]int
}

// Len returns the number of names.
func (s *Set) Len() int { return len(s.names) }

// Has reports whether name is in the set.
func (s *Set) Has(name []byte) bool {
	_, ok := s.idx[string(name)]
	return ok
}

// Add adds name and reports whether it was absent.
func (s *Set) Add(name []byte) bool {
	if s.Has(name) {
		return false
	}
	if s.idx == nil {
		s.idx = map[string]int{}
	}
	n := string(name)
	s.idx[n] = len(s.names)
	s.names = append(s.names, n)
	return true
}

// Remove removes name and reports whether it was present. The last name takes its place
// (O(1)): the order is subscription order only until a removal, which is all Redis promises
// (its 7.2 sets are hash tables).
func (s *Set) Remove(name []byte) bool {
	i, ok := s.idx[string(name)]
	if !ok {
		return false
	}
	delete(s.idx, string(name))
	last := len(s.names) - 1
	if i != last {
		s.names[i] = s.names[last]
		s.idx[s.names[i]] = i
	}
	s.names[last] = ""
	s.names = s.names[:last]
	if len(s.names) == 0 {
		s.names, s.idx = nil, nil
	}
	return true
}

// Clear removes every name.
func (s *Set) Clear() { s.names, s.idx = nil, nil }

// Names returns a copy of the names in subscription order.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }
