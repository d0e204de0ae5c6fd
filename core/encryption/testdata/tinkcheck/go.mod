module github.com/lectern/lectern/core/encryption/testdata/tinkcheck

go 1.26

require github.com/tink-crypto/tink-go/v2 v2.2.0

require (
	golang.org/x/crypto v0.17.0 // indirect
	golang.org/x/sys v0.15.0 // indirect
)
