package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test or an example leaves a goroutine
// behind, such as a service or a server it did not stop.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
