package pipeline

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is context.WithDeadline(parent, deadline) (detached:
// context.WithDeadline(context.WithoutCancel(parent), deadline)) that
// builds nothing until it is asked for more than its deadline and its
// error. It is the context of a store call that must be bounded (a store
// that hangs must not hold the provider's answer past complete_wait) and
// nearly always returns at once: a store that only checks Err (the memory
// store, before it takes its lock) then costs no timer, no closures and
// no context, where WithDeadline cost four allocations and WithoutCancel
// one per notification. A store that waits on Done or reads a value
// (Redis's connection pool, tracing hooks) gets the standard library's
// context, built on that first call, and every later answer is that
// context's.
//
// Until it is built, Err compares the clock: past the deadline, or with
// the parent done (unless detached), it builds the context, which is then
// done at once with the standard library's error. end is the CancelFunc.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time
	detached bool

	mu     sync.Mutex
	built  context.Context // nil until Done, Value or a done Err
	cancel context.CancelFunc
	// endErr is Err once end was called before anything was built.
	endErr error
}

var _ context.Context = (*lazyDeadline)(nil)

// start makes c the context of one call, unbuilt.
func (c *lazyDeadline) start(parent context.Context, deadline time.Time, detached bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parent, c.deadline, c.detached = parent, deadline, detached
	c.built, c.cancel, c.endErr = nil, nil, nil
}

// end cancels c, as WithDeadline's CancelFunc does: its error is then the
// one it already had (its deadline passed, its parent done), else
// context.Canceled.
func (c *lazyDeadline) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.cancel != nil:
		c.cancel()
	case c.built == nil && c.endErr == nil:
		c.endErr = c.unbuiltErrLocked()
		if c.endErr == nil {
			c.endErr = context.Canceled
		}
	}
}

// Deadline implements context.Context: WithDeadline's, the earlier of the
// parent's (unless detached) and c's own.
func (c *lazyDeadline) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.detached {
		if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
			return d, true
		}
	}
	return c.deadline, true
}

// Err implements context.Context.
func (c *lazyDeadline) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.endErr != nil:
		return c.endErr
	case c.built != nil:
		return c.built.Err()
	case c.unbuiltErrLocked() == nil:
		return nil
	}
	// Done now: the standard library's context, built past its deadline
	// or on a done parent, is done at once and says with which error.
	return c.buildLocked().Err()
}

// unbuiltErrLocked is the error c has by its clock and its parent alone.
func (c *lazyDeadline) unbuiltErrLocked() error {
	if !c.detached {
		if err := c.parent.Err(); err != nil {
			return err
		}
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Done implements context.Context; it builds the context.
func (c *lazyDeadline) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buildLocked().Done()
}

// Value implements context.Context; it builds the context, so that what
// the standard library finds through Value (the cancellation a child
// context joins, context.Cause) is the built context's.
func (c *lazyDeadline) Value(key any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buildLocked().Value(key)
}

// buildLocked builds the context once; c.mu must be held. After end it
// is one already cancelled with c's error as its cause.
func (c *lazyDeadline) buildLocked() context.Context {
	if c.built != nil {
		return c.built
	}
	parent := c.parent
	if c.detached {
		parent = context.WithoutCancel(parent)
	}
	if c.endErr != nil {
		ctx, cancel := context.WithCancelCause(parent)
		cancel(c.endErr)
		c.built = ctx
		return ctx
	}
	c.built, c.cancel = context.WithDeadline(parent, c.deadline)
	return c.built
}
