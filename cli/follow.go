package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/appmanage/appmanage/cli/gql"
)

// progressView draws an operation's progress: a live bar on a terminal,
// one line per change otherwise.
type progressView interface {
	update(progress int, step, status, message string)
	// pause clears the bar before something else is printed (a prompt).
	pause()
	done()
}

// lineView prints "[ 40%] step: STATUS message" lines, for pipes and logs.
type lineView struct {
	w    io.Writer
	last string
}

func (v *lineView) update(progress int, step, status, message string) {
	line := fmt.Sprintf("[%3d%%] %s", progress, status)
	if step != "" {
		line = fmt.Sprintf("[%3d%%] %s: %s", progress, step, status)
	}
	if message != "" {
		line += " " + message
	}
	if line == v.last {
		return
	}
	v.last = line
	fmt.Fprintln(v.w, line)
}
func (v *lineView) pause() {}
func (v *lineView) done()  {}

// barView is a progressbar/v3 bar whose description is the current step.
type barView struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newBarView(w io.Writer, title string) *barView {
	bar := progressbar.NewOptions(100,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(title),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetWidth(30),
		progressbar.OptionEnableColorCodes(false),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionSetTheme(progressbar.ThemeASCII),
	)
	return &barView{w: w, bar: bar}
}

func (v *barView) update(progress int, step, status, message string) {
	desc := status
	if step != "" {
		desc = step + " " + strings.ToLower(status)
	}
	v.bar.Describe(fmt.Sprintf("%-28.28s", desc))
	_ = v.bar.Set(progress)
}

func (v *barView) pause() { _ = v.bar.Clear() }

func (v *barView) done() {
	_ = v.bar.Finish()
	fmt.Fprintln(v.w)
}

// follower follows one operation to its end.
type follower struct {
	env    *env
	conn   *conn
	view   progressView
	opID   string
	lastSq int
	prog   int
}

// terminalStatus reports whether an operation status is final.
func terminalStatus(s gql.OperationStatus) bool {
	switch s {
	case gql.OperationStatusSucceeded, gql.OperationStatusFailed, gql.OperationStatusRolledBack, gql.OperationStatusCancelled:
		return true
	}
	return false
}

// followOperation follows op through its subscription (falling back to
// polling when the websocket cannot be used), drawing progress, and
// returns the exit error for its outcome. Ctrl-C asks whether to cancel the
// operation or detach.
func (e *env) followOperation(ctx context.Context, c *conn, op gql.OperationFields) error {
	var view progressView = &lineView{w: e.stdout}
	if e.isTerminal(e.stdout) {
		view = newBarView(e.stdout, op.Kind+" "+op.AppId)
	} else {
		fmt.Fprintf(e.stdout, "operation %s: %s %s\n", op.Id, op.Kind, op.AppId)
	}
	f := &follower{env: e, conn: c, view: view, opID: op.Id}

	ictx, stopInterrupts := context.WithCancel(ctx)
	defer stopInterrupts()
	interrupts := e.interrupts(ictx)

	final, detached, err := f.run(ctx, interrupts)
	view.done()
	if err != nil {
		return err
	}
	if detached {
		fmt.Fprintf(e.stderr, "detached: operation %s goes on; follow it with: appmanage op watch %s\n", op.Id, op.Id)
		return nil
	}
	return e.reportOutcome(final)
}

// reportOutcome prints the result of a finished operation and maps it to
// an exit status.
func (e *env) reportOutcome(op *gql.OperationFields) error {
	if op.Status == gql.OperationStatusSucceeded {
		fmt.Fprintf(e.stdout, "operation %s %s: %s %s\n", op.Id, op.Status, op.Kind, op.AppId)
		return nil
	}
	for _, s := range op.Steps {
		if s.Status == gql.StepStatusFailed || s.Status == gql.StepStatusUndoFailed {
			msg := ""
			if s.Error != nil {
				msg = *s.Error
			}
			fmt.Fprintf(e.stderr, "step %s %s: %s\n", s.Name, s.Status, msg)
		}
	}
	reason := ""
	if op.Error != nil && *op.Error != "" {
		reason = ": " + *op.Error
	}
	return failedf("operation %s %s (%s %s)%s", op.Id, op.Status, op.Kind, op.AppId, reason)
}

type eventMsg struct {
	ev  *gql.OperationEventsOperationEventsOperationEvent
	err error
	end bool
}

// run returns the finished operation, or detached, or an error.
func (f *follower) run(ctx context.Context, interrupts <-chan struct{}) (*gql.OperationFields, bool, error) {
	events := make(chan eventMsg)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go f.stream(sctx, events)
	for {
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-interrupts:
			f.view.pause()
			cancel, err := f.env.askCancel(ctx, f.opID, interrupts)
			if err != nil {
				return nil, false, err
			}
			if !cancel {
				return nil, true, nil
			}
			resp, err := gql.CancelOperation(ctx, f.conn.gql, f.opID)
			if err != nil {
				return nil, false, classify(err, "cancelOperation")
			}
			fmt.Fprintf(f.env.stderr, "cancelling operation %s (%s); completed steps are undone\n", f.opID, resp.CancelOperation.Status)
		case m := <-events:
			if m.err != nil {
				return nil, false, m.err
			}
			if m.ev != nil {
				f.show(m.ev)
			}
			if m.end {
				// The terminal event came: read the outcome with its steps.
				resp, err := gql.GetOperation(ctx, f.conn.gql, f.opID)
				if err != nil {
					return nil, false, classify(err, "operation")
				}
				if resp.Operation == nil {
					return nil, false, failedf("operation %s: not found", f.opID)
				}
				op := resp.Operation.OperationFields
				if op.Progress > f.prog {
					f.prog = op.Progress
					f.view.update(op.Progress, "", string(op.Status), "")
				}
				return &op, false, nil
			}
		}
	}
}

func (f *follower) show(ev *gql.OperationEventsOperationEventsOperationEvent) {
	if ev.Seq > f.lastSq {
		f.lastSq = ev.Seq
	}
	if ev.Progress > f.prog {
		f.prog = ev.Progress
	}
	step, msg := "", ""
	if ev.Step != nil {
		step = *ev.Step
	}
	if ev.Message != nil {
		msg = *ev.Message
	}
	if ev.Pull != nil {
		msg = pullLine(ev.Pull)
	}
	f.view.update(f.prog, step, ev.Status, msg)
}

// pullLine is an image pull's progress report (OperationEvent.pull), e.g.
// "pull nginx:1.27 layer 1a2b3c: Downloading 1.5 MiB/3.0 MiB (50%)".
func pullLine(p *gql.OperationEventsOperationEventsOperationEventPullPullProgress) string {
	line := "pull " + p.Image
	if p.Layer != nil && *p.Layer != "" {
		line += " layer " + *p.Layer
	}
	line += ": " + p.Status
	if p.Current != nil && p.Total != nil && *p.Total > 0 {
		line += fmt.Sprintf(" %s/%s (%d%%)", byteSize(*p.Current), byteSize(*p.Total), *p.Current*100 / *p.Total)
	}
	return line
}

// byteSize writes n bytes in binary units.
func byteSize(n int) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := unit, 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// stream sends the operation's events: over the websocket subscription
// while it works, then by polling the operation (which also covers a
// server whose websocket is closed to us by a proxy).
func (f *follower) stream(ctx context.Context, out chan<- eventMsg) {
	send := func(m eventMsg) bool {
		select {
		case out <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	ended, err := f.subscribe(ctx, send)
	if ended || ctx.Err() != nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		send(eventMsg{err: err})
		return
	}
	if err != nil {
		f.env.debugf("subscription failed (%v); polling the operation instead", err)
	}
	f.poll(ctx, send)
}

// subscribe follows operationEvents; ended reports that the terminal event
// was sent.
func (f *follower) subscribe(ctx context.Context, send func(eventMsg) bool) (ended bool, err error) {
	ws := newWSClient(ctx, f.conn.endpoint, f.conn.apiKey)
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	errc, err := ws.Start(dctx)
	cancel()
	if err != nil {
		return false, err
	}
	defer ws.Close()
	after := f.lastSq
	ch, _, err := gql.OperationEvents(ctx, ws, f.opID, &after)
	if err != nil {
		return false, err
	}
	defer func() {
		// Release the reader if it is blocked handing over an event.
		go func() {
			for range ch {
			}
		}()
	}()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case err := <-errc:
			return false, err
		case r, ok := <-ch:
			if !ok {
				return false, errors.New("subscription ended before the operation did")
			}
			if len(r.Errors) > 0 {
				return false, classify(r.Errors, "operationEvents")
			}
			if r.Data == nil {
				continue
			}
			ev := r.Data.OperationEvents
			if !send(eventMsg{ev: &ev, end: ev.Terminal}) {
				return false, ctx.Err()
			}
			if ev.Terminal {
				return true, nil
			}
		}
	}
}

// poll reads the operation every half second until it is final.
func (f *follower) poll(ctx context.Context, send func(eventMsg) bool) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		resp, err := gql.GetOperation(ctx, f.conn.gql, f.opID)
		if err != nil {
			send(eventMsg{err: classify(err, "operation")})
			return
		}
		if resp.Operation == nil {
			send(eventMsg{err: failedf("operation %s: not found", f.opID)})
			return
		}
		op := resp.Operation.OperationFields
		step := ""
		for _, s := range op.Steps {
			if s.Status == gql.StepStatusRunning || s.Status == gql.StepStatusUndoing {
				step = s.Name
			}
		}
		ev := &gql.OperationEventsOperationEventsOperationEvent{OperationId: op.Id, Status: string(op.Status), Progress: op.Progress}
		if step != "" {
			ev.Step = &step
		}
		if !send(eventMsg{ev: ev, end: terminalStatus(op.Status)}) || terminalStatus(op.Status) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// askCancel asks, after Ctrl-C, whether to cancel the operation or
// detach. A second Ctrl-C, end of input or anything but "c" detaches.
func (e *env) askCancel(ctx context.Context, opID string, interrupts <-chan struct{}) (bool, error) {
	fmt.Fprintf(e.stderr, "\nInterrupted. Cancel operation %s (completed steps are undone), or detach and let it run? [c]ancel/[d]etach (default detach): ", opID)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		answer <- strings.TrimSpace(strings.ToLower(line))
	}()
	select {
	case a := <-answer:
		return a == "c" || a == "cancel" || a == "y" || a == "yes", nil
	case <-interrupts:
		fmt.Fprintln(e.stderr)
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// osInterrupts turns SIGINT into a channel while ctx lives, so Ctrl-C
// does not kill the process during a follow.
func osInterrupts(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
