package service

// Validate reports whether New would accept c, with the error New would
// return (wrapping ErrConfig); zero fields count as their defaults. It
// lets a caller check a whole configuration before it opens anything.
func (c Config) Validate() error { return c.withDefaults().validate() }
