package node

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
	"github.com/evlog/evlog/service/local"
)

// startService starts the service on the log and the connection. It is
// the one place that hands the log to the service: a single node serves
// its segment log through service/local, which owns the group commit.
func (n *node) startService() error {
	if n.rlog != nil {
		return n.startClusterService()
	}
	lg, err := local.New(n.log, local.Config{
		Logger: n.logger.With("component", "log"),
		Dedup:  dedup.Config{Window: n.o.DedupWindow, MaxIDs: n.o.DedupMaxIDs},
	})
	if err != nil {
		return err
	}
	svc, err := service.New(n.nc, lg, serviceConfig(n.o, n.reg))
	if err != nil {
		return errors.Join(err, lg.Close())
	}
	n.local, n.svc = lg, svc
	n.h.svc.Store(svc)
	return nil
}

// stopService stops the service, which acknowledges what it has written,
// then the local log's committer, and joins a failure to *errp.
func (n *node) stopService(errp *error) {
	n.h.stopping.Store(true)
	if n.status != nil {
		*errp = errors.Join(*errp, n.status.stop())
	}
	*errp = errors.Join(*errp, n.svc.Stop())
	if n.local != nil {
		*errp = errors.Join(*errp, n.local.Close())
	}
}

// serviceConfig is the service's configuration; reg, if not nil, gets
// its metrics.
func serviceConfig(o Options, reg *prometheus.Registry) service.Config {
	cfg := service.Config{
		Prefix:             o.Prefix,
		MaxRecordBytes:     o.MaxRecordBytes,
		MaxReadBytes:       o.MaxReadBytes,
		MaxBatchRecords:    o.MaxBatchRecords,
		MaxPendingAppends:  o.MaxPendingAppends,
		MaxParkedReads:     o.MaxParkedReads,
		MaxWait:            o.MaxWait,
		MaxSnapshots:       o.MaxSnapshots,
		SnapshotAckTimeout: o.SnapshotAckTimeout,
		Logger:             o.Logger.With("component", "service"),
	}
	// A nil *Registry in the interface would not read as "no registerer".
	if reg != nil {
		cfg.Registerer = reg
	}
	return cfg
}
