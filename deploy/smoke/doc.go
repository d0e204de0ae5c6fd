// Package smoke tests the lecternd container image: it builds the image with
// deploy/build-image.sh (no registry needed), starts it with host networking on
// 127.0.0.1 at a free port, waits for /readyz and Docker's own HEALTHCHECK, and talks
// to it through the public API: a conference, a slide set, and a tus upload and a
// download of content.
//
// It needs a Docker daemon (DOCKER_HOST or the default socket); without one it skips,
// and fails where docker is required (CI=true or LECTERN_REQUIRE=docker).
//
// It must not know lecternd's internals: only the image, its environment variables
// and the HTTP API.
package smoke
