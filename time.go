package sync

// Time is the seed's synchronized-time interface: Now returns the current
// time, or an error when the clock cannot vouch for it.
type Time = Clock
