package segment

// Validate reports whether NewLog would accept c, with the error NewLog
// would return (wrapping ErrConfig); zero fields count as their defaults.
// It lets a caller check a whole configuration before it creates anything.
func (c Config) Validate() error { return c.withDefaults().validate() }
