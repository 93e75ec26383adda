package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var errDBList = errors.New("argument must be a list of database numbers, such as 0 or 0,3")

// parseDBList reads a list of database numbers separated by commas, spaces or both, in
// the order given, a repeated number once. Bounds against databases are PrewarmDBs's:
// the setting may be read before databases.
func parseDBList(v string) ([]int, error) {
	f := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(f) == 0 {
		return nil, errDBList
	}
	dbs := make([]int, 0, len(f))
	seen := make(map[int64]bool, len(f))
	for _, a := range f {
		n, ok := parseLL(a)
		if !ok || n < 0 || n > intMax {
			return nil, errDBList
		}
		if !seen[n] {
			seen[n] = true
			dbs = append(dbs, int(n))
		}
	}
	return dbs, nil
}

// dbListValue shows the list space-separated, as Redis shows its list settings.
func dbListValue(_ *Setting, v string) (value, error) {
	dbs, err := parseDBList(v)
	if err != nil {
		return value{}, err
	}
	text := make([]string, len(dbs))
	for i, n := range dbs {
		text[i] = strconv.Itoa(n)
	}
	return value{text: strings.Join(text, " ")}, nil
}

// PrewarmDBs returns the databases prewarm-db lists, checked against databases and the
// upstream's kind: a Redis Cluster has database 0 only, so any other is a start-up error
// rather than a prewarm that fails later.
func PrewarmDBs(c *Config) ([]int, error) {
	dbs, err := parseDBList(c.String("prewarm-db"))
	if err != nil {
		return nil, fmt.Errorf("prewarm-db: %w", err)
	}
	n := c.Int("databases")
	cluster := c.Bool("upstream-cluster")
	for _, db := range dbs {
		if int64(db) >= n {
			return nil, fmt.Errorf("prewarm-db: database %d is out of range (databases is %d)", db, n)
		}
		if cluster && db != 0 {
			return nil, fmt.Errorf("prewarm-db: database %d with upstream-cluster yes: a Redis Cluster has database 0 only", db)
		}
	}
	return dbs, nil
}
