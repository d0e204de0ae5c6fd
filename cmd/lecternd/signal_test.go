package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalStopsAtOnce: while the graceful shutdown waits for a request (here
// one whose body never comes, with --shutdown-timeout 10m), a second SIGINT or SIGTERM
// ends lecternd at once, with exit code exitForced and a log line saying so.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts lecternd")
	}
	tests := []struct {
		name          string
		first, second syscall.Signal
	}{
		{"SIGTERM twice", syscall.SIGTERM, syscall.SIGTERM},
		{"SIGINT then SIGTERM", syscall.SIGINT, syscall.SIGTERM},
		{"SIGINT twice", syscall.SIGINT, syscall.SIGINT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			p := start(t, work, "--shutdown-timeout", "10m")
			dataDir := filepath.Join(work, "lectern-data")
			admin, err := os.ReadFile(filepath.Join(dataDir, "config", adminTokenFile))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := tls.Dial("tcp", p.addr, client(t, dataDir).Transport.(*http.Transport).TLSClientConfig)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			// Expect: 100-continue makes the server say when the handler starts reading
			// the body, which then never comes.
			fmt.Fprintf(conn, "POST /v1/conferences HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
				p.addr, strings.TrimSpace(string(admin)))
			status, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil || !strings.Contains(status, " 100 ") {
				t.Fatalf("the request is not waiting for its body: %q %v", status, err)
			}

			if err := p.cmd.Process.Signal(tt.first); err != nil {
				t.Fatal(err)
			}
			waitFor(t, `"shutting down" in the log`, func() bool { return strings.Contains(p.stderr.String(), `"msg":"shutting down"`) })
			if err := p.cmd.Process.Signal(tt.second); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.done:
			case <-time.After(2 * time.Minute): // the shutdown alone would wait 10 minutes
				t.Fatalf("lecternd still waits for the request after a second signal:\n%s", p.stderr.String())
			}
			if code := p.cmd.ProcessState.ExitCode(); code != exitForced {
				t.Fatalf("exit code %d, want %d:\n%s", code, exitForced, p.stderr.String())
			}
			if log := p.stderr.String(); !strings.Contains(log, "second signal") || strings.Contains(log, `"msg":"stopped"`) {
				t.Fatalf("the log does not tell a forced stop:\n%s", log)
			}
		})
	}
}
