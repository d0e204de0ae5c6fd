package samba

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

const (
	shareName     = "lectern"
	encShareName  = "lectern-enc"
	startDeadline = 30 * time.Second
)

// process is an smbd this package started: the parent and its per-connection children
// run in their own process group, so that stop can kill every connection at once.
type process struct {
	dir  string // the temporary folder holding smb.conf, state and the shares
	conf string
	port int
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives cmd.Wait's result once
}

var confTemplate = template.Must(template.New("smb.conf").Parse(`# Private smb.conf for Lectern's tests: every path is inside {{.Dir}}.
[global]
  netbios name = LECTERNTEST
  workgroup = WORKGROUP
  server role = standalone server
  smb ports = {{.Port}}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  lock directory = {{.Dir}}/lock
  state directory = {{.Dir}}/state
  cache directory = {{.Dir}}/cache
  pid directory = {{.Dir}}/pid
  private dir = {{.Dir}}/private
  binddns dir = {{.Dir}}/private
  ncalrpc dir = {{.Dir}}/ncalrpc
  passdb backend = tdbsam:{{.Dir}}/private/passdb.tdb
  log file = {{.Dir}}/log/log.%m
  max log size = 1000
  log level = 1
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  unix password sync = no
  obey pam restrictions = no
  server min protocol = SMB2_10
  server signing = auto
  # Like a Windows share: names are case-insensitive (case preserved), there are no
  # 8.3 aliases that could make two names reach one file, and share modes apply.
  case sensitive = no
  preserve case = yes
  short preserve case = yes
  mangled names = no
  store dos attributes = yes

[{{.Share}}]
  path = {{.Dir}}/share
  valid users = {{.User}}
  read only = no
  create mask = 0644
  directory mask = 0755

[{{.EncShare}}]
  path = {{.Dir}}/share-enc
  valid users = {{.User}}
  read only = no
  server smb encrypt = required
`))

func startLocal() (*Server, error) {
	smbd, err := exec.LookPath("smbd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/smbd"); e != nil {
			return nil, errors.New("smbd is not installed")
		}
		smbd = "/usr/sbin/smbd"
	}
	smbpasswd, err := exec.LookPath("smbpasswd")
	if err != nil {
		smbpasswd = "/usr/bin/smbpasswd"
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("smbd must run as root to switch to the test user")
	}
	// The SMB test user is the current Unix user (root): Samba maps an SMB user to a
	// Unix account, and reusing the one we run as changes nothing on the machine.
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lectern-samba-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	for _, sub := range []string{"lock", "state", "cache", "pid", "private", "ncalrpc", "log", "share", "share-enc"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var conf bytes.Buffer
	if err := confTemplate.Execute(&conf, map[string]any{
		"Dir": dir, "Port": port, "User": u.Username, "Share": shareName, "EncShare": encShareName,
	}); err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "smb.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	password := "Lt-" + randomHex(12)
	add := exec.Command(smbpasswd, "-c", confPath, "-a", "-s", u.Username)
	add.Stdin = strings.NewReader(password + "\n" + password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("smbpasswd -a: %v: %s", err, bytes.TrimSpace(out))
	}
	p := &process{dir: dir, conf: confPath, port: port, log: filepath.Join(dir, "log", "smbd.out")}
	if err := p.startWith(smbd); err != nil {
		return nil, err
	}
	ok = true
	return &Server{
		Host:           "127.0.0.1:" + strconv.Itoa(port),
		User:           u.Username,
		Password:       password,
		Share:          shareName,
		EncryptedShare: encShareName,
		Root:           filepath.Join(dir, "share"),
		proc:           p,
	}, nil
}

func (p *process) start() error {
	smbd, err := exec.LookPath("smbd")
	if err != nil {
		smbd = "/usr/sbin/smbd"
	}
	return p.startWith(smbd)
}

func (p *process) startWith(smbd string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(smbd, "--foreground", "--no-process-group", "--debug-stdout", "-s", p.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: stop kills smbd and all its per-connection children at once.
	// Parent-death signal: smbd goes when the test process dies without Shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := "127.0.0.1:" + strconv.Itoa(p.port)
	deadline := time.Now().Add(startDeadline)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("smbd exited at start (%v); its log: %s", err, tail(p.log))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return fmt.Errorf("smbd did not listen on %s within %v; its log: %s", addr, startDeadline, tail(p.log))
		}
	}
	p.cmd, p.exited = cmd, exited
	return nil
}

func (p *process) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	// The group id is smbd's pid (Setpgid): this kills exactly the processes we started.
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	<-p.exited
	p.cmd = nil
	// Wait until the port is free of smbd's listener, so that a restart binds it.
	addr := "127.0.0.1:" + strconv.Itoa(p.port)
	for range 100 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (p *process) shutdown() {
	_ = p.stop()
	_ = os.RemoveAll(p.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}
