package audit

import "context"

// Observe returns s with every failed Write reported to failed (the
// metrics hook of payguard_audit_errors_total): a record the file or the
// stream did not take is lost, and the pipeline only logs it. Discard is
// returned as it is, so that "no audit configured" stays recognisable.
func Observe(s Sink, failed func(error)) Sink {
	if s == Discard {
		return s
	}
	return &observedSink{s: s, fail: failed}
}

type observedSink struct {
	s    Sink
	fail func(error)
}

// Write implements Sink.
func (o *observedSink) Write(ctx context.Context, r *Record) error {
	err := o.s.Write(ctx, r)
	if err != nil {
		o.fail(err)
	}
	return err
}

// Close implements Sink.
func (o *observedSink) Close() error { return o.s.Close() }

// Unwrap returns the observed sink.
func (o *observedSink) Unwrap() Sink { return o.s }
