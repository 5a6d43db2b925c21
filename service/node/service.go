package node

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/service"
)

// startService starts the service on the log and the connection. It is
// the one place that hands the log to the service.
func (n *node) startService() error {
	svc, err := service.New(n.nc, n.log, serviceConfig(n.o, n.reg))
	if err != nil {
		return err
	}
	n.svc = svc
	n.h.svc.Store(svc)
	return nil
}

// stopService stops the service, which acknowledges what it has written,
// and joins a failure to *errp.
func (n *node) stopService(errp *error) {
	n.h.stopping.Store(true)
	*errp = errors.Join(*errp, n.svc.Stop())
}

// serviceConfig is the service's configuration; reg, if not nil, gets
// its metrics.
func serviceConfig(o Options, reg *prometheus.Registry) service.Config {
	cfg := service.Config{
		Prefix:            o.Prefix,
		SyncMode:          o.SyncMode,
		MaxRecordBytes:    o.MaxRecordBytes,
		MaxReadBytes:      o.MaxReadBytes,
		MaxBatchRecords:   o.MaxBatchRecords,
		MaxPendingAppends: o.MaxPendingAppends,
		MaxParkedReads:    o.MaxParkedReads,
		MaxWait:           o.MaxWait,
		Logger:            o.Logger.With("component", "service"),
	}
	// A nil *Registry in the interface would not read as "no registerer".
	if reg != nil {
		cfg.Registerer = reg
	}
	return cfg
}
