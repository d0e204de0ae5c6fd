package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStatusKB reads a "<field>: N kB" line of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && k == field {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// resetPeak resets the kernel's peak-RSS counter (VmHWM) of pid to its current RSS
// (writing 5 to clear_refs, Linux ≥ 4.0), so that VmHWM read afterwards is the peak of
// what followed.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler records the maximum VmRSS of pid, sampled every interval, as a second
// witness besides VmHWM.
type rssSampler struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	maxKB  int64
	sample int
}

func sampleRSS(pid int, interval time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if kb, err := procStatusKB(pid, "VmRSS"); err == nil {
				s.maxKB = max(s.maxKB, kb)
				s.sample++
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// done stops sampling and returns the largest sample in KiB and the sample count.
func (s *rssSampler) done() (int64, int) {
	close(s.stop)
	s.wg.Wait()
	return s.maxKB, s.sample
}
