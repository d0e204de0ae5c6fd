//go:build !unix

package docker

// processAlive cannot tell on this system, so no container is ever taken for stale.
func processAlive(int) bool { return true }
