package local_test

import (
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/local"
)

// The local log is a service.Log.
var _ service.Log = (*local.Log)(nil)
