package pipeline

import (
	"context"
	"time"

	"github.com/payguard/payguard/internal/reason"
)

// Stage is one of the pipeline's stages (DESIGN.md section 2). Its String
// is the name metrics and spans use: a small, fixed set.
type Stage uint8

// The stages, in the order a notification goes through them.
const (
	StageAdmit Stage = iota
	StageRead
	StageVerify
	StageFresh
	StageClaim
	StageQuery
	StageOrder
	StagePolicy
	StageForward
	StageAcknowledge

	// NumStages is the number of stages, for tables indexed by Stage.
	NumStages = int(StageAcknowledge) + 1
)

var stageNames = [NumStages]string{
	"admit", "read", "verify", "fresh", "claim",
	"query", "order", "policy", "forward", "acknowledge",
}

// String is the stage's name: admit, read, verify, fresh, claim, query,
// order, policy, forward or acknowledge.
func (s Stage) String() string {
	if int(s) < NumStages {
		return stageNames[s]
	}
	return "unknown"
}

// Stages lists every stage in pipeline order.
func Stages() []Stage {
	out := make([]Stage, NumStages)
	for i := range out {
		out[i] = Stage(i)
	}
	return out
}

// Observer watches each notification's stages: the hook that metrics and
// traces hang off (Config.Observer). It is told when each stage starts and
// ends, in order, from the goroutine running the notification; one Observer
// serves concurrent notifications, so it must be safe for concurrent use,
// and it should be cheap: it runs on the hot path.
//
// A stage that is not configured is not reported: query without a Querier,
// order without an OrderLookup, policy without policies. A passthrough
// route reports admit, read, verify, query (when configured and the
// request is pending) and forward. The audit record is built after the
// stages and is no stage here.
//
// Durations are measured on the monotonic clock, not Config.Now.
type Observer interface {
	// StageStart is called as a stage begins, with the request's context.
	// The context it returns is the one the stage's own calls (store,
	// provider query, order lookup, policies, forward) run with, and the
	// one StageDone receives: a span started here parents them. Returning
	// ctx unchanged is fine.
	StageStart(ctx context.Context, stage Stage) context.Context
	// StageDone is called as the stage ends. code is the reason the
	// notification ended with at this stage (a rejection, a failure,
	// duplicate, or forwarded at its last stage), or empty when the
	// notification went on to the next stage.
	StageDone(ctx context.Context, stage Stage, d time.Duration, code reason.Code)
}

// stageRun tracks the open stage of one notification. Without an Observer
// every method is a nil check and nothing is measured or allocated.
type stageRun struct {
	obs    Observer
	parent context.Context // the request's context
	ctx    context.Context // the open stage's context
	stage  Stage
	start  time.Time
	open   bool
}

// enter ends the open stage, which the notification passed, and starts st.
// It returns the context st runs with.
func (s *stageRun) enter(st Stage) context.Context {
	if s.obs == nil {
		return s.parent
	}
	// One clock reading ends the open stage and starts st (whose time
	// then counts its span's start, a microsecond when tracing).
	now := time.Now()
	if s.open {
		s.obs.StageDone(s.ctx, s.stage, now.Sub(s.start), "")
	}
	s.stage, s.open, s.start = st, true, now
	s.ctx = s.obs.StageStart(s.parent, st)
	if s.ctx == nil {
		s.ctx = s.parent
	}
	return s.ctx
}

// finish ends the open stage with the notification's reason code. It is
// safe to call more than once; only the first call reports.
func (s *stageRun) finish(res *Result) {
	if s.obs == nil || !s.open {
		return
	}
	s.open = false
	s.obs.StageDone(s.ctx, s.stage, time.Since(s.start), res.Code)
}
