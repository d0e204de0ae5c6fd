package main

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi"
)

// TestWriteStallTimeoutConfig: --write-stall-timeout comes from the flag, the
// environment or the file like every setting, must be positive, and reaches the
// API server lecternd assembles.
func TestWriteStallTimeoutConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		want    time.Duration
		wantErr bool
	}{
		{name: "default", want: httpapi.DefaultWriteStallTimeout},
		{name: "file", file: "write_stall_timeout: 2m\n", want: 2 * time.Minute},
		{name: "env over file", file: "write_stall_timeout: 2m\n", env: map[string]string{"LECTERN_WRITE_STALL_TIMEOUT": "45s"}, want: 45 * time.Second},
		{name: "flag over env", args: []string{"--write-stall-timeout", "3s"}, env: map[string]string{"LECTERN_WRITE_STALL_TIMEOUT": "45s"}, want: 3 * time.Second},
		{name: "zero refused", args: []string{"--write-stall-timeout", "0s"}, wantErr: true},
		{name: "negative refused", args: []string{"--write-stall-timeout", "-5s"}, wantErr: true},
		{name: "nonsense refused", args: []string{"--write-stall-timeout", "soon"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--data-dir", filepath.Join(t.TempDir(), "data")}, tt.args...)
			if tt.file != "" {
				args = append(args, "--config", writeConfig(t, tt.file))
			}
			cfg, err := loadConfig(args, env(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted, write-stall-timeout %s", time.Duration(cfg.WriteStallTimeout))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(cfg.WriteStallTimeout); got != tt.want {
				t.Fatalf("write-stall-timeout %s, want %s", got, tt.want)
			}
		})
	}

	t.Run("reaches the server", func(t *testing.T) {
		a := assembleInProcess(t, "--write-stall-timeout", "7s")
		if got := a.api.WriteStallTimeout(); got != 7*time.Second {
			t.Fatalf("the API server's stall timeout is %s, want 7s", got)
		}
	})
}
