package loadgen

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Machine describes where a run happened: every figure depends on it.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	GoVersion  string `json:"go_version"`
	// ClockNs is the measured cost of one Now reading; in-process latencies include two.
	ClockNs  float64 `json:"clock_read_ns"`
	ClockSrc string  `json:"clocksource,omitempty"` // Linux's current clock source
}

var facts = sync.OnceValue(func() Machine {
	return Machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel:   cpuModel(),
		Kernel:     firstLine("/proc/sys/kernel/osrelease"),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		GoVersion:  runtime.Version(),
		ClockNs:    clockCost(),
		ClockSrc:   firstLine("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
	}
})

// Facts returns the machine's facts, measured once per process.
func Facts() Machine { return facts() }

// clockCost is the median over a few rounds of the mean cost of a Now reading, so that a
// round interrupted by the scheduler does not count.
func clockCost() float64 {
	const rounds, n = 7, 20000
	costs := make([]float64, rounds)
	var sink int64
	for r := range costs {
		start := Now()
		for range n {
			sink += Now()
		}
		costs[r] = float64(Now()-start) / n
	}
	_ = sink
	slices.Sort(costs)
	return costs[rounds/2]
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}
