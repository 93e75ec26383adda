package pubsub

// subSet is the subscribers of one channel or pattern, in subscription order until one
// leaves (removal moves the last one into the hole). Sets of many subscribers get an index,
// so a mass disconnect from a popular channel costs O(1) per subscriber, not O(n).
type subSet struct {
	name []byte // the pattern, for pattern sets (matched against channels without a copy)
	list []Subscriber
	idx  map[Subscriber]int // position in list; built once the set reaches indexFrom
}

// indexFrom is the size from which a set keeps an index: below it a scan is cheaper than
// the map.
const indexFrom = 32

func (s *subSet) len() int { return len(s.list) }

func (s *subSet) add(sub Subscriber) {
	s.list = append(s.list, sub)
	if s.idx != nil {
		s.idx[sub] = len(s.list) - 1
	} else if len(s.list) >= indexFrom {
		s.idx = make(map[Subscriber]int, len(s.list))
		for i, x := range s.list {
			s.idx[x] = i
		}
	}
}

func (s *subSet) remove(sub Subscriber) {
	i := -1
	if s.idx != nil {
		if j, ok := s.idx[sub]; ok {
			i = j
			delete(s.idx, sub)
		}
	} else {
		for j, x := range s.list {
			if x == sub {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return
	}
	last := len(s.list) - 1
	if i != last {
		s.list[i] = s.list[last]
		if s.idx != nil {
			s.idx[s.list[i]] = i
		}
	}
	s.list[last] = nil
	s.list = s.list[:last]
	if s.idx != nil && len(s.list) < indexFrom/2 {
		s.idx = nil
	}
	if cap(s.list) > 64 && len(s.list) < cap(s.list)/4 {
		s.list = append([]Subscriber(nil), s.list...)
	}
}
