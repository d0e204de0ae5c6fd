package s3_test

import (
	"testing"

	"github.com/lectern/lectern/core/conference/conferencetest"
	"github.com/lectern/lectern/core/metastore/metastoretest"
)

// TestEngine runs the conference engine's suite (conferences, keys, slide sets,
// handouts, encrypted content, limits, restart, retention, compliance) on this
// backend.
func TestEngine(t *testing.T) { conferencetest.Run(t, harness(t)) }

// TestPersistence runs the metadata persistence suite (dual files, journal replay,
// healing, ids shared by several engines) on this backend.
func TestPersistence(t *testing.T) { metastoretest.Run(t, harness(t)) }
